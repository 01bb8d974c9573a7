"""Functions test-chains calls at the hops of its chains. This module exists
only on the master's search path: importing it at a far hop proves that
modules travel down the chain. Standard library only; it runs under both
mitogen-glib's own runtime and the upstream Mitogen child."""

import getpass
import os
import time

value = 0


def whoami():
    """Where this context runs: account, ids, host facts."""
    return {
        'user': getpass.getuser(),
        'uid': os.getuid(),
        'pid': os.getpid(),
        'ppid': os.getppid(),
        'nodename': os.uname().nodename,
        'ssh_client': os.environ.get('SSH_CLIENT', ''),
        'runtime': runtime(),
    }


def runtime():
    """Which child runtime this context runs: 'upstream' (Mitogen's own
    mitogen.core, which has a Broker class) or 'own' (mitogen-glib's)."""
    import mitogen.core
    return 'upstream' if hasattr(mitogen.core, 'Broker') else 'own'


def _status(pid):
    fields = {}
    with open('/proc/%d/status' % (pid,)) as fp:
        for line in fp:
            key, _, rest = line.partition(':')
            fields[key] = rest.strip()
    return fields


def process_chain():
    """This process and its ancestors up to pid 1: a list of dicts with
    pid, ppid, uid (real) and name (/proc/PID/status)."""
    chain = []
    pid = os.getpid()
    while pid > 0 and len(chain) < 64:
        try:
            st = _status(pid)
        except OSError:
            break
        ppid = int(st.get('PPid', '0'))
        chain.append({
            'pid': pid,
            'ppid': ppid,
            'uid': int(st.get('Uid', '-1').split()[0]),
            'name': st.get('Name', ''),
        })
        pid = ppid
    return chain


def local_addresses():
    """The IPv4 addresses of this network namespace's interfaces (the
    LOCAL host routes of /proc/net/fib_trie), sorted."""
    found = set()
    last = None
    with open('/proc/net/fib_trie') as fp:
        for line in fp:
            text = line.strip()
            if text.startswith('|--') or text.startswith('+--'):
                last = text[3:].strip().split('/')[0]
            elif '/32 host LOCAL' in text and last is not None:
                found.add(last)
    return sorted(found)


def interface_names():
    """The network interfaces of this namespace (/proc/net/dev), sorted."""
    names = []
    with open('/proc/net/dev') as fp:
        for line in fp.readlines()[2:]:
            name = line.split(':', 1)[0].strip()
            if name:
                names.append(name)
    return sorted(names)


def set_value(new):
    global value
    value = new
    return value


def get_value():
    return value


def sleep(seconds):
    time.sleep(seconds)
    return seconds
