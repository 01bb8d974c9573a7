"""The mitogen-glib system-test environment, for Python tests.

tests/system/start-sshd writes an env file describing the private sshd on
127.0.0.1 and the test accounts; tests/system/netns-setup adds a second one
for the network-namespace hosts. This module finds and checks them:

    import systemenv
    env = systemenv.require()                  # unittest.SkipTest if absent
    argv = ['ssh'] + env.ssh_args() + [env.t1 + '@' + env.host, 'true']
    env.password(env.t2)

    env = systemenv.require('doas', 'locale-fr')
    net = systemenv.require_netns()            # also the netns hosts

Where the env file is: $MITOGEN_SYSTEM_ENV, else $MITOGEN_SYSTEM_STATE/env,
else /tmp/mitogen-glib-system/env (start-sshd's default).
"""
import os
import shlex
import shutil
import socket
import subprocess
import unittest

DEFAULT_STATE = '/tmp/mitogen-glib-system'

# Texts observed on Debian 12 (sudo 1.9.13p3, util-linux su + Linux-PAM
# 1.5.2, opendoas 6.8.2, OpenSSH 9.2p1); check-system verifies them. "%s"
# stands for the user name (doas: "user@hostname").
SUDO_PROMPT_C = '[sudo] password for %s: '
SUDO_PROMPT_FR = '[sudo] Mot de passe de %s\u00a0: '   # NBSP before ':'
SU_PROMPT_C = 'Password: '
SU_PROMPT_FR = 'Mot de passe : '                      # plain space
DOAS_PROMPT = 'doas (%s) password: '                  # never translated
SSH_PASSWORD_PROMPT = "%s's password: "               # "user@host"


def env_path():
    path = os.environ.get('MITOGEN_SYSTEM_ENV')
    if path:
        return path
    state = os.environ.get('MITOGEN_SYSTEM_STATE') or DEFAULT_STATE
    return os.path.join(state, 'env')


def parse_env_file(path):
    """NAME='value' lines (shell syntax, as common.sh's write_var writes)."""
    values = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            for word in shlex.split(line):
                name, sep, value = word.partition('=')
                if sep:
                    values[name] = value
    return values


def _port_open(host, port, timeout=2.0):
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pidfile, pattern):
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            cmdline = f.read().replace(b'\0', b' ').decode('utf-8', 'replace')
    except (OSError, ValueError):
        return False
    return pattern in cmdline


class SystemEnv:
    """The values of the env file, as attributes:

    host, port              the sshd (127.0.0.1 and its port)
    user_key, other_key     a key every test account authorizes / none does
    known_hosts             the sshd's host keys ([127.0.0.1]:port)
    known_hosts_changed     a wrong key for it ("host key has changed")
    t1, t2, nopy            account names
    t1_user_key, t1_known_hosts, t2_...   copies owned by t1/t2 (for hops
                            that run ssh as those accounts)
    state, sshd_log, raw    state directory, sshd log, all values (dict)
    """

    def __init__(self, values, path):
        self.raw = values
        self.path = path
        get = values.get
        self.state = get('MITOGEN_SYSTEM_STATE')
        self.host = get('SSHD_HOST', '127.0.0.1')
        self.port = int(get('SSHD_PORT', '0'))
        self.sshd_pidfile = get('SSHD_PIDFILE')
        self.sshd_config = get('SSHD_CONFIG')
        self.sshd_log = get('SSHD_LOG')
        self.user_key = get('USER_KEY')
        self.other_key = get('OTHER_KEY')
        self.known_hosts = get('KNOWN_HOSTS')
        self.known_hosts_changed = get('KNOWN_HOSTS_CHANGED')
        self.host_key_fingerprint = get('HOST_KEY_ED25519_FINGERPRINT')
        self.t1 = get('T1', 'mitogen-t1')
        self.t2 = get('T2', 'mitogen-t2')
        self.nopy = get('NOPY', 'mitogen-nopy')
        self.passwords_file = get('PASSWORDS')
        self.t1_user_key = get('T1_USER_KEY')
        self.t1_known_hosts = get('T1_KNOWN_HOSTS')
        self.t2_user_key = get('T2_USER_KEY')
        self.t2_known_hosts = get('T2_KNOWN_HOSTS')
        self._passwords = None

    def password(self, user):
        if self._passwords is None:
            self._passwords = {}
            with open(self.passwords_file, encoding='utf-8') as f:
                for line in f:
                    name, sep, pw = line.rstrip('\n').partition(':')
                    if sep:
                        self._passwords[name] = pw
        return self._passwords[user]

    def ssh_args(self, port=None, key=None, known_hosts=None, batch=True):
        """ssh options for this sshd: no user/system ssh_config, strict host
        key checking against known_hosts, only the given key."""
        args = ['-F', '/dev/null',
                '-p', str(self.port if port is None else port),
                '-o', 'IdentitiesOnly=yes',
                '-o', 'UserKnownHostsFile=' + (known_hosts or self.known_hosts),
                '-o', 'GlobalKnownHostsFile=/dev/null',
                '-o', 'StrictHostKeyChecking=yes',
                '-o', 'ConnectTimeout=10']
        if key is not False:
            args += ['-i', key or self.user_key]
        if batch:
            args += ['-o', 'BatchMode=yes']
        return args


class NetnsEnv(SystemEnv):
    """SystemEnv plus netns-setup's values: mid_host, mid_port (reachable
    from here), far_host, far_port (reachable only from mid), mid_netns,
    far_netns, root_addr (this namespace's end of the link to mid)."""

    def __init__(self, values, path, netns_values, netns_path):
        super().__init__(values, path)
        self.netns_path = netns_path
        self.raw_netns = netns_values
        get = netns_values.get
        self.mid_netns = get('NETNS_MID')
        self.far_netns = get('NETNS_FAR')
        self.root_addr = get('ROOT_ADDR')
        self.mid_host = get('MID_HOST')
        self.mid_port = int(get('MID_PORT', '22'))
        self.far_host = get('FAR_HOST')
        self.far_port = int(get('FAR_PORT', '22'))
        self.far_addr_from_mid = get('MID_FAR_ADDR')


def _skip(why):
    raise unittest.SkipTest('system environment unavailable: %s' % why)


def _check_feature(feature):
    if feature == 'root':
        if os.geteuid() != 0:
            _skip('tests must run as root')
    elif feature in ('sudo', 'su', 'doas', 'ssh'):
        if not shutil.which(feature, path='/usr/sbin:/usr/bin:/sbin:/bin'):
            _skip('%s is not installed' % feature)
    elif feature.startswith('locale-'):
        lang = feature[len('locale-'):]
        out = subprocess.run(['locale', '-a'], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL,
                             universal_newlines=True).stdout.lower()
        if not any(l.startswith(lang + '_') and 'utf' in l
                   for l in out.split()):
            _skip('no %s UTF-8 locale (run tests/system/setup-accounts)'
                  % lang)
    else:
        raise ValueError('unknown feature %r' % feature)


def load(path=None):
    """The SystemEnv, or SkipTest naming what is missing."""
    path = path or env_path()
    if not os.path.exists(path):
        _skip('%s missing: run tests/system/setup-accounts and '
              'tests/system/start-sshd as root (or set MITOGEN_SYSTEM_ENV)'
              % path)
    try:
        values = parse_env_file(path)
    except (OSError, ValueError) as e:
        _skip('cannot read %s: %s' % (path, e))
    return SystemEnv(values, path)


def require(*features):
    """Checks the environment is usable and returns its SystemEnv; raises
    unittest.SkipTest otherwise. Always checked: the env file, the sshd (pid
    and port), the test accounts, readable key and password files (root, in
    practice). features: 'root', 'sudo', 'su', 'doas', 'locale-fr', ..."""
    if os.geteuid() != 0 and 'root' not in features:
        # The key and password files are root's: say so rather than fail
        # on a permission error below.
        features = ('root',) + features
    env = load()
    if not env.port or not env.user_key:
        _skip('%s is incomplete (rerun tests/system/start-sshd)' % env.path)
    for feature in features:
        _check_feature(feature)
    import pwd
    for user in (env.t1, env.t2, env.nopy):
        try:
            pwd.getpwnam(user)
        except KeyError:
            _skip('user %s missing (run tests/system/setup-accounts)' % user)
    for what, path in (('user key', env.user_key),
                       ('password file', env.passwords_file),
                       ('known_hosts', env.known_hosts)):
        if not path or not os.access(path, os.R_OK):
            _skip('%s %s not readable' % (what, path))
    if env.sshd_pidfile and not _pid_alive(env.sshd_pidfile, env.sshd_config):
        _skip('sshd from %s is not running (run tests/system/start-sshd)'
              % env.sshd_pidfile)
    if not _port_open(env.host, env.port):
        _skip('sshd does not accept connections on %s:%d'
              % (env.host, env.port))
    return env


def require_netns(*features):
    """Like require(), plus the namespace hosts of tests/system/netns-setup
    (env file STATE/netns-env): returns a NetnsEnv."""
    env = require(*features)
    path = os.path.join(os.path.dirname(env.path), 'netns-env')
    if not os.path.exists(path):
        _skip('%s missing: run tests/system/netns-setup as root' % path)
    values = parse_env_file(path)
    if values.get('NETNS_SKIPPED'):
        _skip('network namespaces: %s' % values['NETNS_SKIPPED'])
    net = NetnsEnv(env.raw, env.path, values, path)
    for name in (net.mid_netns, net.far_netns):
        if not os.path.exists(os.path.join('/run/netns', name or '-')):
            _skip('network namespace %s missing (run tests/system/netns-setup)'
                  % name)
    if not _port_open(net.mid_host, net.mid_port):
        _skip('sshd in %s does not accept connections on %s:%d'
              % (net.mid_netns, net.mid_host, net.mid_port))
    return net
