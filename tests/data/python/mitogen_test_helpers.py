"""Functions the core tests call in children. This module exists only on
the master's search path, so calling it proves module forwarding."""

import logging
import os
import sys
import time

import mitogen.core

LOG = logging.getLogger("mitogen_test_helpers")

counter = 0


def echo(value):
    return value


def echo_args(*args, **kwargs):
    return [list(args), kwargs]


def digests(*values):
    """sha256 hex digests of bytes, found anywhere in lists and tuples."""
    import hashlib
    out = []
    for value in values:
        if isinstance(value, (list, tuple)):
            out.extend(digests(*value))
        elif isinstance(value, bytes):
            out.append(hashlib.sha256(value).hexdigest())
    return out


def add(a, b):
    return a + b


def pid():
    return os.getpid()


def python_version():
    return list(sys.version_info[:3])


def fail(message):
    raise ValueError(message)


def sleep(seconds):
    time.sleep(seconds)
    return seconds


def log_and_print(text):
    LOG.warning("warning: %s", text)
    print("stdout: %s" % (text,))
    return True


def increment():
    global counter
    counter += 1
    return counter


def stream_to(sender, count):
    """Sends count integers to a Sender given by the master."""
    for i in range(count):
        sender.send(i)
    sender.close()
    return count


def types():
    return {
        "none": None,
        "true": True,
        "int": -42,
        "big": 2 ** 63 - 1,
        "float": 1.5,
        "str": "caf\u00e9 \U0001F600",
        "bytes": b"\x00\xff",
        "list": [1, "two", 3.0],
        "tuple": (1, 2),
        "dict": {"nested": {"k": [None]}},
        "intkeys": {1: "one", 2: "two"},
    }


@mitogen.core.takes_econtext
def context_id(econtext):
    return mitogen.context_id


class Calculator(object):
    @classmethod
    def double(cls, x):
        return 2 * x

    @staticmethod
    def triple(x):
        return 3 * x


@mitogen.core.takes_router
def gather_from_master(reply_to, count, router):
    """Makes a receiver here, hands its sender to the master through
    reply_to, and returns the count values the master then sends."""
    receiver = mitogen.core.Receiver(router)
    reply_to.send(receiver.to_sender())
    values = []
    for _ in range(count):
        values.append(receiver.get().unpickle())
    receiver.close()
    return values


def print_lines(count):
    for i in range(count):
        print("line %d" % (i,))
    sys.stdout.flush()
    return count


def process_state():
    """What the child inherited from the master's spawn: the targets of its
    descriptors beyond 0-2 and its blocked signals."""
    import signal
    targets = []
    for name in os.listdir('/proc/self/fd'):
        try:
            targets.append(os.readlink('/proc/self/fd/' + name))
        except OSError:
            pass
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    return sorted(targets), sorted(int(s) for s in blocked)


def boot_kind():
    """How mitogen-glib's own runtime started: 'source' or 'bytecode' (its
    eager parts compiled ahead by the master's helper)."""
    return 'bytecode' if vars(sys.modules['mitogen.core']).get('_code') else 'source'


def socket_send_buffers():
    """SO_SNDBUF of every Unix stream socket this process has descriptors
    of (a local child has one, its stream to the parent, maybe under two
    descriptors)."""
    import socket
    import stat
    sizes = []
    seen = set()
    for name in os.listdir('/proc/self/fd'):
        fd = int(name)
        try:
            st = os.fstat(fd)
            if not stat.S_ISSOCK(st.st_mode) or st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if sock.family == socket.AF_UNIX and \
                    sock.type == socket.SOCK_STREAM:
                sizes.append(sock.getsockopt(socket.SOL_SOCKET,
                                             socket.SO_SNDBUF))
        finally:
            sock.close()
    return sizes
