# mitogen-glib intermediate mode: the module the master serves as
# `mitogen.parent` to contexts that run mitogen-glib's child runtime.
#
# A context X imports it when the master calls
# mitogen.parent._proxy_connect(name, method_name, kwargs) in X, to start a
# new context "via" X.  From then on X is an intermediate:
#
# - a routing thread (the "hub") becomes X's permanent transport reader: it
#   polls the parent stream and every child stream, routes frames between
#   them (source-verified: a child may only speak for the ids behind it),
#   and hands frames for X itself to the runtime's handlers; X's main thread
#   keeps running calls, woken only when something is for it;
# - children are started with the same runtime X runs (its compressed
#   source is mitogen.core._S) by local spawn, ssh, sudo, su, doas, or by
#   forking X itself;
# - routes are announced upward with ADD_ROUTE/DEL_ROUTE, GET_MODULE from
#   children is answered from X's importer cache (asking X's parent first
#   when needed), FORWARD_MODULE is relayed;
# - when X exits it sends SHUTDOWN to its children and gives them a moment.
#
# The runtime stays a leaf until this module is imported: the hooks it
# offers are Router._forward (frames from the parent for other contexts),
# instance overrides of Router.route/_invoke, and module globals (_exit_now,
# the transport state) that this module replaces.  See README.md.
#
# Python 3.6+, standard library only; the minifier (tools/minify-child.py)
# may be applied to this file.

import codecs
import fcntl
import os
import select
import socket
import subprocess
import sys
import termios
import time
import _thread
from _collections import deque
from itertools import islice

import mitogen.core as core

# The first stage (a copy of stage1.py.in, which a test compares with it).
STAGE1 = "import os,sys,zlib;os.write(1,b'MITO000\\n');n=@N@;b=bytearray();[b.extend(os.read(0,n-len(b))or sys.exit('mitogen-glib: EOF'))for _ in iter(lambda:len(b)<n,0)];m=type(os)('mitogen.core');m._C=@CONFIG@;m._S=bytes(b);m._M=m;exec(zlib.decompress(b).split(b'\\f')[0],vars(m))"

_HDR = core._HDR
_MAGIC = core.HEADER_MAGIC
_HLEN = core.HEADER_LEN
_get_ident = _thread.get_ident
_monotonic = time.monotonic
_IN = select.POLLIN
_OUT = select.POLLOUT
_GRACE = 1.0            # seconds children get to exit after SHUTDOWN
# Send buffer asked for on each end of the socket pair to a child's
# process, as the C master does (MITOGEN_SOCKET_PAIR_BUFFER_BYTES): big
# frames then cross with fewer stops and wake-ups.  The kernel doubles it
# and may clamp it.
_SOCKET_BUFFER = 512 * 1024

# Failure codes of _proxy_connect (the master maps them to GError codes).
BAD_PASSWORD = 'BAD_PASSWORD'
PASSWORD_REQUIRED = 'PASSWORD_REQUIRED'
HOST_KEY = 'HOST_KEY'
CONNECT_TIMEOUT = 'CONNECT_TIMEOUT'
CONNECT = 'CONNECT'


class ConnectError(core.StreamError):
    """Starting a child failed; code is one of the constants above."""
    def __init__(self, code, text):
        core.StreamError.__init__(self, '%s', text)
        self.code = code


def _socketpair():
    pair = socket.socketpair()
    for sock in pair:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                            _SOCKET_BUFFER)
        except OSError:
            pass        # a smaller buffer only costs speed
    return pair


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return value


# ----------------------------------------------------------------- prompts
# What ssh, sudo, su and doas print while a connection starts.  The same
# rules as the C master's (mitogen-glib/mitogen-prompt.c): prompts are
# partial lines, everything else is judged a line at a time, on case-folded
# text, whatever the language.

_PASSWORD_WORDS = tuple(w.casefold() for w in (
    'password', 'passwort', 'passwuert', 'wachtwoord', 'wagwoord',
    'mot de passe', 'contrase\u00f1a', 'contrasena', 'contrasenya', 'senha',
    'palavra-passe', 'palavra passe', 'parola', 'parol\u0103', 'parole',
    'parol', 'l\u00f6senord', 'losenord', 'adgangskode', 'passord',
    'lykilor\u00f0', 'salasana', 'salas\u00f5na', 'slapta\u017eodis',
    'has\u0142o', 'haslo', 'heslo', 'jelsz\u00f3', 'jelszo', 'geslo',
    'lozinka', '\u0161ifra', 'sifra', '\u015fifre', 'sifre', 'pasahitza',
    'pasvorto', 'kata sandi', 'kata laluan', 'm\u1eadt kh\u1ea9u', 'mat khau',
    '\u043f\u0430\u0440\u043e\u043b\u044c',
    '\u043b\u043e\u0437\u0438\u043d\u043a\u0430',
    '\u03ba\u03c9\u03b4\u03b9\u03ba\u03cc\u03c2',
    '\u03c3\u03c5\u03bd\u03b8\u03b7\u03bc\u03b1\u03c4\u03b9\u03ba\u03cc',
    '\u5bc6\u7801', '\u5bc6\u78bc', '\u53e3\u4ee4',
    '\u30d1\u30b9\u30ef\u30fc\u30c9', '\uc554\ud638', '\ube44\ubc00\ubc88\ud638',
    '\u05e1\u05d9\u05e1\u05de\u05d4', '\u05e1\u05d9\u05e1\u05de\u05d0',
    '\u0643\u0644\u0645\u0629 \u0627\u0644\u0633\u0631',
    '\u0643\u0644\u0645\u0629 \u0627\u0644\u0645\u0631\u0648\u0631',
    '\u0631\u0645\u0632 \u0639\u0628\u0648\u0631',
    '\u06af\u0630\u0631\u0648\u0627\u0698\u0647',
    '\u092a\u093e\u0938\u0935\u0930\u094d\u0921',
    '\u0917\u0941\u092a\u094d\u0924\u0936\u092c\u094d\u0926',
    '\u0b95\u0b9f\u0bb5\u0bc1\u0b9a\u0bcd\u0b9a\u0bca\u0bb2\u0bcd',
    '\u0c2a\u0c3e\u0c38\u0c4d\u200c\u0c35\u0c30\u0c4d\u0c21\u0c4d',
    '\u0c97\u0cc1\u0caa\u0ccd\u0ca4\u0caa\u0ca6',
    '\u0e23\u0e2b\u0e31\u0e2a\u0e1c\u0e48\u0e32\u0e19',
    '\u1796\u17b6\u1780\u17d2\u1799\u179f\u1798\u17d2\u1784\u17b6\u178f\u17cb',
    '\u10de\u10d0\u10e0\u10dd\u10da\u10d8',
    '\u0563\u0561\u0572\u057f\u0576\u0561\u0562\u0561\u057c',
))

# "No such command" from shells, sudo and env; exit status 127 also counts.
_NOT_FOUND_WORDS = (
    'command not found', 'not found', 'no such file or directory',
    'commande introuvable', 'introuvable',
    'aucun fichier ou dossier de ce type', 'befehl nicht gefunden',
    'nicht gefunden', 'orden no encontrada', 'no se encontr\u00f3',
    'comando non trovato',
    '\u043a\u043e\u043c\u0430\u043d\u0434\u0430 \u043d\u0435 '
    '\u043d\u0430\u0439\u0434\u0435\u043d\u0430',
    '\u043d\u0435 \u043d\u0430\u0439\u0434\u0435\u043d',
)

_TRAILING_SPACE = ' \t\u00a0\u202f\u2009\u3000'

# Event kinds.
LINE = 'line'
PASSWORD = 'password'
PASSPHRASE = 'passphrase'
HOST_KEY_QUESTION = 'host-key-question'
HOST_KEY_FAILED = 'host-key-failed'
HOST_KEY_CHANGED = 'host-key-changed'
PERMISSION_DENIED = 'permission-denied'
AUTH_FAILED = 'auth-failed'
PASSWORD_NEEDED = 'password-needed'
CONNECT_FAILED = 'connect-failed'
COMMAND_NOT_FOUND = 'command-not-found'


def _ends_with_colon(folded):
    return folded.rstrip(_TRAILING_SPACE).endswith((':', '\uff1a'))


def _is_prompt_folded(folded):
    return _ends_with_colon(folded) and _names_password(folded)


def _names_password(folded):
    for word in _PASSWORD_WORDS:
        if word in folded:
            return True
    return False


def is_password_prompt(text):
    """Whether text (a partial line) asks for a password: a word for
    "password" in one of many languages, then a colon at the end."""
    return _is_prompt_folded(text.casefold())


def _permission_denied(folded):
    # "[user@host: ]Permission denied ..." at the start of the line.
    if folded.startswith('permission denied'):
        return True
    at = folded.find(': permission denied')
    if at < 0:
        return False
    prefix = folded[:at]
    return '@' in prefix and ':' not in prefix and ' ' not in prefix


class PromptParser(object):
    """Bytes out of a connecting program in, events (kind, text, offers)
    out: complete lines (ended by \\n or \\r, empty ones skipped), then the
    trailing partial line when it is a prompt."""
    MAX_LINE = 4096

    def __init__(self, method, token=None, command=None):
        self.method = method
        self.token = token
        self.command = None
        if command:
            self.command = os.path.basename(command).casefold()
        self._decode = codecs.getincrementaldecoder('utf-8')('replace').decode
        self._buf = ''

    def feed(self, data):
        self._buf += self._decode(data)

    def next(self):
        """The next event, or None when more input is needed."""
        while True:
            buf = self._buf
            ends = [i for i in (buf.find('\n'), buf.find('\r')) if i >= 0]
            if ends:
                end = min(ends)
                self._buf = buf[end + 1:]
                if end:
                    return self._line(buf[:end])
                continue        # "\r\n", or doas's "\r" before its prompt
            if not buf:
                return None
            if self.token and self.token in buf:
                self._buf = ''
                return PASSWORD, buf, False
            kind = self._partial(buf.casefold())
            if kind:
                self._buf = ''
                return kind, buf, False
            if len(buf) > self.MAX_LINE:
                self._buf = ''
                return self._line(buf)
            return None

    def flush(self):
        """What is left as an unfinished line (at EOF), or None."""
        buf, self._buf = self._buf, ''
        return self._line(buf) if buf else None

    def _not_found(self, folded):
        if not self.command:
            return False
        at = folded.find(self.command)
        if at < 0:
            return False
        after = folded[at + len(self.command):at + len(self.command) + 1]
        if after and (after.isalnum() or after in '.-_'):
            return False    # "python3" is not "python3.11"
        for word in _NOT_FOUND_WORDS:
            if word in folded:
                return True
        return False

    def _line(self, line):
        folded = line.casefold()
        offers = False
        kind = LINE
        method = self.method
        if self._not_found(folded):
            kind = COMMAND_NOT_FOUND
        elif method == 'ssh':
            if 'host key verification failed' in folded:
                kind = HOST_KEY_FAILED
            elif 'remote host identification has changed' in folded:
                kind = HOST_KEY_CHANGED
            elif _permission_denied(folded):
                kind = PERMISSION_DENIED
                tail = folded[folded.rfind('('):] if '(' in folded else ''
                offers = 'password' in tail or 'keyboard-interactive' in tail
            elif folded.startswith((
                    'ssh: ', 'kex_exchange_identification:',
                    'connection closed by ', 'connection reset by ',
                    'connection timed out during banner exchange')):
                kind = CONNECT_FAILED
        elif method == 'sudo':
            if 'incorrect password attempt' in folded or \
                    'mots de passe incorrect' in folded:
                kind = AUTH_FAILED
            elif 'a password is required' in folded:
                kind = PASSWORD_NEEDED
        elif method == 'su':
            if folded.startswith('su:') and (
                    'authenti' in folded or 'autenti' in folded or
                    'sorry' in folded or 'incorrect' in folded):
                kind = AUTH_FAILED
        elif method == 'doas':
            if 'doas: authentication required' in folded:
                kind = PASSWORD_NEEDED
            elif 'doas: authentication failed' in folded or \
                    'doas: authorization failed' in folded:
                kind = AUTH_FAILED
        return kind, line, offers

    def _partial(self, folded):
        if self.method == 'local':
            return None
        if self.method == 'ssh':
            if 'are you sure you want to continue connecting' in folded and \
                    folded.rstrip(' \t').endswith('?'):
                return HOST_KEY_QUESTION
            if 'enter passphrase for' in folded and _ends_with_colon(folded):
                return PASSPHRASE
        if _is_prompt_folded(folded):
            return PASSWORD
        return None


# ------------------------------------------------------- connection methods
_SAFE = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
                  '0123456789@%+=:,./-_')


def _quote(word):
    """Quote word for a POSIX shell (ssh and su hand commands to one)."""
    if word == '&&' or (word and all(c in _SAFE for c in word)):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


class _Plan(object):
    """How to start one child: argv, terminal arrangement, password."""
    pty = None          # None, 'hybrid' (stderr + tty) or 'full' (all stdio)
    password = None
    token = None
    where = None        # for messages: the host, or whose account

    def __init__(self, method, argv, name, python):
        self.method = method
        self.argv = argv
        self.name = name
        self.python = python


def _python_argv(kw, default):
    python = kw.get('python_path') or default
    if isinstance(python, (list, tuple)):
        return [_text(p) for p in python]
    return [_text(python)]


def stage1(config):
    """The -c program that boots this runtime with config."""
    return STAGE1.replace('@N@', str(len(core._S))).replace(
        '@CONFIG@', ascii(config))


def _child_config(context_id, name, kw):
    config = {
        'context_id': context_id,
        'parent_ids': [core._my_id] + list(core._parent_ids),
        'log_level': core._log_level,
        'max_message_size': core._router.max_message_size,
        'debug': bool(kw.get('debug', core._debug)),
        'name': name,
    }
    own = getattr(core.econtext, 'config', {})
    for key in 'blacklist', 'version':
        if key in own:
            config[key] = own[key]
    return config


def _plan(method, kw, context_id, name):
    """The _Plan for method with upstream's keyword arguments kw."""
    kw = dict((k, _text(v)) for k, v in kw.items())
    password = kw.get('password')
    if password is not None:
        password = str(password)
    username = kw.get('username')
    default_python = 'python3' if method == 'ssh' else sys.executable
    python = _python_argv(kw, default_python)
    boot = python + ['-c', stage1(_child_config(context_id, name, kw))]
    if method == 'local':
        return _Plan(method, boot, name or 'local', python[0])

    if method == 'ssh':
        hostname = kw.get('hostname')
        if not hostname:
            raise ConnectError(CONNECT, 'ssh needs a hostname')
        port = int(kw.get('port') or 0)
        argv = [kw.get('ssh_path') or 'ssh']
        extra = kw.get('ssh_args') or []
        if isinstance(extra, str):
            extra = extra.split()
        argv += [_text(a) for a in extra]   # first: ssh keeps first values
        argv += ['-o', 'LogLevel=ERROR']
        if password is None:
            argv += ['-o', 'BatchMode=yes']     # nobody would answer
        else:
            argv += ['-o', 'NumberOfPasswordPrompts=1']
        timeout = float(kw.get('connect_timeout') or 30)
        argv += ['-o', 'ConnectTimeout=%d' % max(1, int(timeout + 0.999))]
        policy = kw.get('check_host_keys') or 'enforce'
        if policy == 'enforce':
            argv += ['-o', 'StrictHostKeyChecking=yes']
        elif policy in ('accept', 'accept-new'):
            # Upstream's "accept" answers yes for unknown keys only.
            argv += ['-o', 'StrictHostKeyChecking=accept-new']
        elif policy == 'ignore':
            argv += ['-o', 'StrictHostKeyChecking=no',
                     '-o', 'UserKnownHostsFile=/dev/null',
                     '-o', 'GlobalKnownHostsFile=/dev/null']
        else:
            raise ConnectError(CONNECT, 'check_host_keys must be enforce, '
                               'accept, accept-new or ignore, not %r'
                               % (policy,))
        if kw.get('known_hosts_file') and policy != 'ignore':
            argv += ['-o', 'UserKnownHostsFile=' + kw['known_hosts_file']]
        if kw.get('identity_file'):
            # That key only: not the agent's, not ~/.ssh/id_*.
            argv += ['-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none',
                     '-i', kw['identity_file']]
        if kw.get('compression', True):
            argv.append('-C')
        if kw.get('keepalive_enabled', True):
            argv += ['-o', 'ServerAliveInterval=%d'
                     % int(kw.get('keepalive_interval') or 15),
                     '-o', 'ServerAliveCountMax=%d'
                     % int(kw.get('keepalive_count') or 3)]
        if username:
            argv += ['-l', username]
        if port:
            argv += ['-p', str(port)]
        argv += ['--', hostname, ' '.join(_quote(w) for w in boot)]
        where = hostname
        if port:
            where = ('[%s]:%d' if ':' in hostname else '%s:%d') % (hostname,
                                                                    port)
        plan = _Plan(method, argv, name or 'ssh.%s%s' % (
            hostname, ':%d' % port if port else ''), python[0])
        plan.where = where
        if password is not None:
            plan.pty = 'hybrid'     # ssh reads passwords from /dev/tty
            plan.password = password
        return plan

    username = username or 'root'
    if method == 'sudo':
        # Our own prompt: recognised exactly, whatever sudo's language.
        token = 'mitogen-glib-password-%s:' % os.urandom(16).hex()
        argv = [kw.get('sudo_path') or 'sudo']
        argv += [_text(a) for a in kw.get('sudo_args') or ()]
        argv += ['-u', username]
        for key, flag in (('preserve_env', '-E'), ('set_home', '-H'),
                          ('login', '-i')):
            if kw.get(key):
                argv.append(flag)
        if kw.get('selinux_role'):
            argv += ['-r', kw['selinux_role']]
        if kw.get('selinux_type'):
            argv += ['-t', kw['selinux_type']]
        argv += ['-p', token]
        plan = _Plan(method, argv + ['--'] + boot,
                     name or 'sudo.' + username, python[0])
        plan.token = token
    elif method == 'doas':
        argv = [kw.get('doas_path') or 'doas', '-u', username, '--']
        plan = _Plan(method, argv + boot, name or 'doas.' + username,
                     python[0])
    elif method == 'su':
        argv = [kw.get('su_path') or 'su']
        if kw.get('login'):
            argv.append('-l')
        argv += [username, '-c', ' '.join(_quote(w) for w in boot)]
        plan = _Plan(method, argv, name or 'su.' + username, python[0])
    else:
        raise ConnectError(CONNECT, 'unsupported connection method %r'
                           % (method,))
    # sudo and doas read passwords from /dev/tty: a PTY on stderr and as
    # the controlling terminal, data on a socket; su gets nothing but a
    # PTY (the runtime and then frames pass through it, in raw mode).
    plan.pty = 'full' if method == 'su' else 'hybrid'
    plan.password = password
    plan.where = 'this machine for %s (%s)' % (username, method)
    return plan


def _make_raw(fd):
    # cfmakeraw(), echo off: the runtime and then frames pass unchanged.
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    t = termios
    iflag &= ~(t.IGNBRK | t.BRKINT | t.PARMRK | t.ISTRIP | t.INLCR |
               t.IGNCR | t.ICRNL | t.IXON)
    oflag &= ~t.OPOST
    lflag &= ~(t.ECHO | t.ECHONL | t.ECHOE | t.ECHOK | t.ICANON | t.ISIG |
               t.IEXTEN)
    cflag = (cflag & ~(t.CSIZE | t.PARENB)) | t.CS8
    cc[t.VMIN] = 1
    cc[t.VTIME] = 0
    termios.tcsetattr(fd, t.TCSANOW,
                      [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])


def _take_tty():
    # In the new child, before exec: a new session whose controlling
    # terminal is the PTY on fd 2 (so that /dev/tty prompts land there).
    os.setsid()
    fcntl.ioctl(2, termios.TIOCSCTTY, 0)


def _close(*fds):
    """Close each fd (None and duplicates allowed: pass a set)."""
    for fd in fds:
        if fd is not None and fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def _read(fd, size=65536):
    """Bytes, b'' at EOF (EIO on a PTY counts), None if nothing is there."""
    try:
        return os.read(fd, size)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b''


class _Boot(object):
    """Spawns one child and runs its bootstrap on the calling thread:
    prompts, the runtime after MITO000, and MITO002."""

    def __init__(self, plan, timeout):
        self.plan = plan
        self.timeout = timeout
        self.lines = deque(maxlen=100)
        self.parser = PromptParser(plan.method, plan.token, plan.python)
        self.password_sent = False
        self.host_key_changed = False
        self.started = False        # MITO000 seen: the runtime is booting
        self.where = plan.where or socket.gethostname()
        self.proc = self.data = self.diag = self.tty = None

    def fail(self, code, text):
        raise ConnectError(code, text)

    def _tail(self):
        if not self.lines:
            return ''
        return '; last lines received:\n' + '\n'.join(self.lines)

    def run(self):
        """Start the child; returns (proc, data fd, diag fd or None, tty fd
        or None, bytes already read after MITO002)."""
        plan = self.plan
        child = []
        try:
            if plan.pty:
                master, slave = os.openpty()
                child.append(slave)
                self.tty = master
                _make_raw(slave)
            if plan.pty == 'full':
                self.data = self.diag = master
                stdio = stderr = slave
            else:
                ours, theirs = _socketpair()
                self.data = ours.detach()
                stdio = theirs.detach()
                child.append(stdio)
                if plan.pty:
                    self.diag, stderr = master, slave
                else:
                    self.diag, stderr = os.pipe()
                    child.append(stderr)
            try:
                kwargs = {'preexec_fn': _take_tty} if plan.pty else \
                    {'start_new_session': True}
                self.proc = subprocess.Popen(
                    plan.argv, stdin=stdio, stdout=stdio, stderr=stderr,
                    close_fds=True, **kwargs)
            except OSError as e:
                if plan.method == 'local':
                    self.fail(CONNECT, '%s not found on %s: install it or set '
                              'python-path (%s)' % (plan.python, self.where,
                                                    e.strerror))
                self.fail(CONNECT, 'cannot run %s: %s' % (plan.argv[0], e))
        except BaseException:
            _close(*child)
            self._abandon()
            raise
        _close(*child)
        os.set_blocking(self.data, False)
        if self.diag is not None:
            os.set_blocking(self.diag, False)
        try:
            rest = self._talk()
        except BaseException:
            self._abandon()
            raise
        diag = None if self.diag == self.data else self.diag
        return self.proc, self.data, diag, self.tty, rest

    def _abandon(self):
        _close(*{self.data, self.diag, self.tty})
        self.data = self.diag = self.tty = None
        if self.proc is not None:
            _reap_later(self.proc)

    def _events(self, final=False):
        parser = self.parser
        while True:
            event = parser.next()
            if event is None and final:
                event = parser.flush()
            if event is None:
                return
            self._event(*event)

    def _event(self, kind, text, offers):
        # The same decisions as the C master's (mitogen-connection.c).
        plan = self.plan
        name = plan.name
        text = text.strip('\r\n')
        if kind != PASSWORD:
            self.lines.append(text)
        if kind == PASSWORD:
            if self.started:
                return      # the runtime is starting: not a prompt of ours
            if plan.password is None:
                self.fail(PASSWORD_REQUIRED, '%s asked for a password and '
                          'none was given: set the password option%s' % (
                              name, '' if plan.token else
                              ' (prompt: "%s")' % text.strip()))
            if self.password_sent:
                self.fail(BAD_PASSWORD, '%s: the password was refused '
                          '(asked again; not retried, to avoid locking the '
                          'account)' % (name,))
            self.password_sent = True
            self._write_all(self.tty, (plan.password + '\n').encode('utf-8'),
                            _monotonic() + 5)
        elif kind == PASSPHRASE:
            self.fail(CONNECT, '%s: ssh asks for the passphrase of a key '
                      '("%s"): mitogen-glib does not type passphrases; use a '
                      'key without one, or an ssh-agent' % (name, text.strip()))
        elif kind == HOST_KEY_QUESTION:
            self.fail(HOST_KEY, '%s: ssh asks whether to accept the unknown '
                      'host key of %s: add the key to known_hosts, or choose '
                      'the accept-new host key policy' % (name, self.where))
        elif kind == HOST_KEY_CHANGED:
            self.host_key_changed = True
        elif kind == HOST_KEY_FAILED:
            if self.host_key_changed:
                self.fail(HOST_KEY, 'The host key of %s has CHANGED and ssh '
                          'refused it: someone may be intercepting the '
                          'connection, or the host was reinstalled. If the '
                          'change is expected, remove the old key from '
                          'known_hosts (ssh-keygen -R HOST) and connect again'
                          % (self.where,))
            self.fail(HOST_KEY, 'The host key of %s is not known and the host '
                      'key policy is enforce: add it to known_hosts (after '
                      'checking its fingerprint), or choose the accept-new '
                      'policy' % (self.where,))
        elif kind == PERMISSION_DENIED:
            if self.password_sent:
                self.fail(BAD_PASSWORD, '%s: the password was refused (%s)'
                          % (name, text))
            if offers and plan.password is None:
                self.fail(PASSWORD_REQUIRED, '%s: no key was accepted and the '
                          'server wants a password, but none was given: set '
                          'the password option or the identity file (%s)'
                          % (name, text))
            self.fail(CONNECT, '%s: authentication failed (%s)'
                      % (name, text))
        elif kind == AUTH_FAILED:
            if self.password_sent:
                self.fail(BAD_PASSWORD, '%s: the password was refused (%s)'
                          % (name, text))
            self.fail(CONNECT, '%s: authentication failed (%s)'
                      % (name, text))
        elif kind == PASSWORD_NEEDED:
            self.fail(PASSWORD_REQUIRED, '%s: a password is required and none '
                      'was given (%s)' % (name, text))
        elif kind == CONNECT_FAILED:
            self.fail(CONNECT, 'Could not connect to %s: %s'
                      % (self.where, text))
        elif kind == COMMAND_NOT_FOUND and not self.started:
            self.fail(CONNECT, '%s not found on %s: install it or set '
                      'python-path (%s)' % (plan.python, self.where, text))

    def _write_all(self, fd, data, deadline):
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
                continue
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                self.fail(CONNECT, 'cannot write to %s: %s'
                          % (self.plan.argv[0], e))
            remaining = deadline - _monotonic()
            if remaining <= 0:
                self._timeout()
            poller = select.poll()
            poller.register(fd, _OUT)
            poller.poll(remaining * 1000)

    def _timeout(self):
        self.fail(CONNECT_TIMEOUT, 'Connection timed out after %g s%s'
                  % (self.timeout, self._tail()))

    def _talk(self):
        deadline = _monotonic() + self.timeout
        data = self.data
        diag = None if self.diag == data else self.diag
        full = self.plan.pty == 'full'
        poller = select.poll()
        poller.register(data, _IN)
        if diag is not None:
            poller.register(diag, _IN)
        buf = bytearray()
        marker = b'MITO000\n'
        while True:
            remaining = deadline - _monotonic()
            if remaining <= 0:
                self._timeout()
            for fd, ev in poller.poll(remaining * 1000):
                chunk = _read(fd)
                if chunk is None:
                    continue
                if fd == diag:
                    if chunk:
                        self.parser.feed(chunk)
                        self._events()
                    else:
                        poller.unregister(diag)
                        diag = None
                    continue
                if not chunk:
                    self._eof(deadline, diag)
                buf += chunk
                if full and marker == b'MITO000\n':
                    # su: the prompts come on the same PTY.
                    self.parser.feed(chunk)
                    self._events()
                at = buf.find(marker)
                if at >= 0 and marker == b'MITO000\n':
                    del buf[:at + 8]
                    marker = b'MITO002\n'
                    self.started = True
                    self._write_all(data, core._S, deadline)
                    at = buf.find(marker)
                if at >= 0:
                    return bytes(buf[at + 8:])
                if len(buf) > 65536:
                    del buf[:-16]

    def _eof(self, deadline, diag):
        # The child closed stdout before MITO002: gather its last words and
        # its exit status, then say why.
        end = min(deadline, _monotonic() + 1.0)
        poller = select.poll()
        if diag is not None:
            poller.register(diag, _IN)
        while diag is not None and _monotonic() < end:
            if poller.poll(max(0, end - _monotonic()) * 1000):
                chunk = _read(diag)
                if chunk:
                    self.parser.feed(chunk)
                    self._events()
                elif chunk is not None:
                    diag = None
        status = None
        while _monotonic() < end:
            status = self.proc.poll()
            if status is not None:
                break
            time.sleep(0.01)
        self._events(final=True)
        tail = self._tail()
        if status == 127 and not self.started:
            # The shell (or env) found no such command.
            self.fail(CONNECT, '%s not found on %s: install it or set '
                      'python-path%s' % (self.plan.python, self.where, tail))
        if self.password_sent and status == 1 and not self.started and \
                self.plan.method == 'su':
            # su says "Authentication failure" in the target's language,
            # which may not be one we know: after the password, status 1.
            self.fail(BAD_PASSWORD, '%s: the password was refused%s'
                      % (self.plan.name, tail))
        if status is None:
            self.fail(CONNECT, '%s (%s) ended before its child runtime '
                      'started%s' % (self.plan.name, self.plan.argv[0], tail))
        self.fail(CONNECT, '%s (%s) %s before its child runtime started%s' % (
            self.plan.name, self.plan.argv[0],
            'exited with status %d' % status if status >= 0 else
            'was killed by signal %d' % -status, tail))


# ------------------------------------------------------------ child streams
class _ForkProc(object):
    """Popen's poll/terminate/kill for a forked child."""
    returncode = None

    def __init__(self, pid):
        self.pid = pid

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 0
            if pid:
                self.returncode = status
        return self.returncode

    def terminate(self):
        self._signal(15)

    def kill(self):
        self._signal(9)

    def _signal(self, signum):
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except OSError:
                pass


_reaping = []            # [process, start time]; the hub polls them
_reap_lock = _thread.allocate_lock()


def _reap_later(proc):
    with _reap_lock:
        _reaping.append([proc, _monotonic()])
    hub = _hub
    if hub is not None:
        hub.wake()


def _reap():
    # Upstream-like: SIGTERM 50 ms after the stream closed, SIGKILL after
    # 1 s, give up after 10 s.  Returns whether any remain.
    now = _monotonic()
    with _reap_lock:
        for entry in list(_reaping):
            proc, since = entry
            age = now - since
            try:
                if proc.poll() is not None or age > 10:
                    _reaping.remove(entry)
                elif age > 1.0:
                    proc.kill()
                elif age > 0.05:
                    proc.terminate()
            except OSError:
                pass        # sudo's process is root's
        return bool(_reaping)


class _Stream(object):
    """A directly connected child: its fds, process, output queue and the
    context ids routed through it."""
    closed = False

    def __init__(self, hub, fd, context_id, name, proc, diag=None, tty=None):
        self.hub = hub
        self.fd = fd
        self.diag = diag            # stderr pipe or PTY of a hybrid child
        self.tty = tty              # the PTY master, kept open for its life
        self.remote_id = context_id
        self.name = name
        self.proc = proc
        self.ids = {context_id}     # routes through this stream
        self.egress = set()         # ids this stream has sent to
        self.sent = set()           # modules sent on this stream
        self.heard = False          # a frame came (it gets the deferred code)
        self.rbuf = bytearray()
        self.outq = deque()         # whole frames; the first maybe partly sent
        self.off = 0
        self.need = 0               # bytes missing from a partial frame
        self.lock = _thread.allocate_lock()
        self.registered = False

    def __repr__(self):
        return '_Stream(%s, %d)' % (self.name, self.remote_id)

    def send(self, frame):
        """Queue one frame; callable from any thread, never blocks."""
        hub = self.hub
        with self.lock:
            if not self.closed:
                q = self.outq
                q.append(frame)
                if len(q) > 1:
                    return          # someone already owes a flush
                if _get_ident() == hub.ident:
                    hub.dirty.append(self)      # flushed after the batch
                    return
                self.flush_locked()
                if not q:
                    return
        if self.closed:
            hub.fail_frames([frame])
        else:
            hub.want_out(self)

    def flush_locked(self):
        q = self.outq
        if len(q) == 1 and not self.off:
            # The usual case: one whole frame, one write().
            try:
                n = os.write(self.fd, q[0])
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return      # the hub sees the hang-up and disconnects
            if n == len(q[0]):
                q.clear()
            else:
                self.off = n
            return
        while q:
            chunk = list(islice(q, 0, 256))
            if self.off:
                chunk[0] = memoryview(chunk[0])[self.off:]
            try:
                n = os.writev(self.fd, chunk) + self.off
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return      # the hub sees the hang-up and disconnects
            while q and n >= len(q[0]):
                n -= len(q.popleft())
            self.off = n
            if q and n:
                return      # short write: the socket is full


# --------------------------------------------------------------------- hub
class _Hub(object):
    """Everything that makes this context an intermediate."""
    ident = None

    def __init__(self):
        self.pid = os.getpid()
        self.routes = {}            # context id -> _Stream
        self.streams = {}           # direct child id -> _Stream
        self.fds = {}               # fd -> handler(events)
        self.waiting = {}           # module name -> [_Stream]
        self.dirty = []             # streams to flush (hub thread only)
        self.lock = _thread.allocate_lock()
        self.new = []               # streams to register (under lock)
        self.pending_out = set()    # streams wanting POLLOUT (under lock)
        self.delivered = False
        self.id_lock = _thread.allocate_lock()
        self.next_id = self.end_id = 0
        self.poller = None

    # -- installation into the runtime
    def install(self):
        router = core._router
        router.route = self.route
        router._forward = self.forward
        router._invoke = self.invoke
        add = router.add_handler
        add(self.on_add_route, core.ADD_ROUTE, overwrite=True)
        add(self.on_del_route, core.DEL_ROUTE, overwrite=True)
        add(self.on_get_module, core.GET_MODULE, overwrite=True)
        add(self.on_forward_module, core.FORWARD_MODULE, overwrite=True,
            policy=core.has_parent_authority)
        add(self.on_load_module, core.LOAD_MODULE, overwrite=True,
            policy=core.has_parent_authority)
        core._exit_now = _exit_now

    def uninstall(self):
        router = core._router
        for name in 'route', '_forward', '_invoke':
            vars(router).pop(name, None)
        for handle in core.ADD_ROUTE, core.GET_MODULE, core.FORWARD_MODULE:
            try:
                router.del_handler(handle)
            except KeyError:
                pass
        router.add_handler(core._on_del_route, core.DEL_ROUTE, overwrite=True)
        router.add_handler(core._importer._on_load_module, core.LOAD_MODULE,
                           policy=core.has_parent_authority, overwrite=True)
        core._exit_now = _base_exit_now

    def start(self):
        _thread.start_new_thread(self._main, ())

    def wake(self):
        if _get_ident() != self.ident:
            try:
                os.write(core._wake_w, b'\0')
            except OSError:
                pass

    # -- the routing thread
    def _claim(self):
        if core._reader is None:
            core._reader = self.ident
            return True

    def _main(self):
        try:
            self.ident = _get_ident()
            # Become the one transport reader for good: no other thread may
            # take the role any more (they wait to be notified, the
            # runtime's _wait protocol); the current reader, if any, is
            # woken to hand it over.
            with core._mutex:
                core._router_thread = self.ident
                core._notify_locked()
            core._wait(self._claim)
            self._loop()
        except BaseException as e:
            if os.getpid() == self.pid:
                core._log(50, 'routing thread crashed: %s'
                          % core._format_exc(e))
                core._exit_now(1)

    def _loop(self):
        poller = self.poller = select.poll()
        rfd, wake = core._rfd, core._wake_r
        poller.register(rfd, _IN)
        poller.register(wake, _IN)
        fds = self.fds
        reaping = False
        while True:
            if self.new or self.pending_out:
                self._apply()
            events = poller.poll(50 if reaping else None)
            for fd, ev in events:
                if fd == rfd:
                    self._read_parent()
                elif fd == wake:
                    _read(wake, 4096)
                else:
                    handler = fds.get(fd)
                    if handler is not None:
                        try:
                            handler(ev)
                        except Exception as e:
                            # One child's trouble must not stop the others.
                            self._failed(fd, e)
            while self.dirty:
                self._flush(self.dirty.pop())
            # Unlocked peek: _reap_later() wakes us after adding anyway.
            if _reaping:
                reaping = _reap()
            if self.delivered:
                self.delivered = False
                core._notify()

    def _failed(self, fd, e):
        core._log(40, 'routing thread: %s' % core._format_exc(e))
        for s in list(self.streams.values()):
            if fd in (s.fd, s.diag):
                self.disconnect(s, 'error')

    def _apply(self):
        with self.lock:
            new, self.new = self.new, []
            out, self.pending_out = self.pending_out, set()
        for s in new:
            if s.closed:
                continue
            self.fds[s.fd] = lambda ev, s=s: self._on_data(s, ev)
            self.poller.register(s.fd, _IN | (_OUT if s.outq else 0))
            if s.diag is not None:
                self.fds[s.diag] = lambda ev, s=s: self._on_diag(s, ev)
                self.poller.register(s.diag, _IN)
            s.registered = True
            if s.rbuf:
                self._parse(s)
        for s in out:
            if s.registered and not s.closed:
                self.poller.modify(s.fd, _IN | _OUT)

    def want_out(self, s):
        with self.lock:
            self.pending_out.add(s)
        self.wake()

    def _flush(self, s):
        with s.lock:
            s.flush_locked()
            left = bool(s.outq) and not s.closed
        if left and s.registered:
            self.poller.modify(s.fd, _IN | _OUT)

    def _read_parent(self):
        data = _read(core._rfd, min(max(core.CHUNK_SIZE, core._need),
                                    1048576))
        if data is None:
            return
        if not data:
            core._log(10, 'parent stream is gone, exiting')
            core._exit_now()
        if not core._rbuf and core._big is None:
            # The usual frame is for a child: relay it as read, without a
            # Message and a new header (core._process does the rest).
            pos = self._relay(data)
            if pos == len(data):
                core._need = 0
                return
            data = data[pos:]
        core._rbuf.extend(data)
        core._need = core._process()

    def _relay(self, data):
        """Send each complete frame at the start of data that is for an id
        behind a child stream, and that passes forward()'s checks, to that
        stream; return the offset of the first frame left to _process."""
        routes = self.routes
        limit = core._router.max_message_size
        pos = 0
        have = len(data)
        while have - pos >= _HLEN:
            magic, dst, src, auth, _, _, size = _HDR.unpack_from(data, pos)
            end = pos + _HLEN + size
            out = routes.get(dst)
            if end > have or out is None or magic != _MAGIC or \
                    size > limit or auth in routes or \
                    (src != auth and src in routes):
                break
            out.send(data if end == have and not pos else data[pos:end])
            pos = end
        return pos

    def _on_data(self, s, ev):
        if ev & _OUT:
            with s.lock:
                s.flush_locked()
                empty = not s.outq
            if empty and not s.closed:
                self.poller.modify(s.fd, _IN)
        if ev & ~_OUT:
            # 64 KiB unless a big frame is missing more: a bigger read
            # buffer is mmap()ed and unmapped on every read, and unmapping
            # in a threaded process costs a TLB shoot-down (~100 us here).
            data = _read(s.fd, min(max(core.CHUNK_SIZE, s.need), 1048576))
            if data is None:
                return
            if not data:
                return self.disconnect(s, 'EOF')
            if s.rbuf:
                s.rbuf.extend(data)
                self._parse(s)
            else:
                # Nothing buffered: parse the bytes read (a frame that is
                # all of them goes on without a copy); keep what is left.
                pos = self._parse(s, data)
                if pos < len(data) and not s.closed:
                    s.rbuf.extend(memoryview(data)[pos:])

    def _on_diag(self, s, ev):
        data = _read(s.diag)
        if data is None:
            return
        if not data:
            self.poller.unregister(s.diag)
            del self.fds[s.diag]
            with self.lock:
                if s.diag != s.tty:
                    _close(s.diag)
                s.diag = None
            return
        for line in data.decode('utf-8', 'replace').splitlines():
            if line.strip():
                core._log(10, '%s: %s' % (s.name, line), 'mitogen.stderr')

    def _parse(self, s, data=None):
        """Route every complete frame a child sent, in s.rbuf (consumed
        frames are removed) or in data (returns the bytes consumed)."""
        buf = s.rbuf if data is None else data
        me = core._my_id
        routes = self.routes
        limit = core._router.max_message_size
        up = []
        pos = 0
        s.need = 0
        try:
            while len(buf) - pos >= _HLEN:
                magic, dst, src, auth, handle, reply_to, size = \
                    _HDR.unpack_from(buf, pos)
                if magic != _MAGIC or size > limit:
                    core._log(40, '%s: %s' % (s.name, 'corrupt frame' if
                              magic != _MAGIC else 'message too large'))
                    self.disconnect(s, 'bad frame')
                    return pos
                end = pos + _HLEN + size
                if len(buf) < end:
                    s.need = end - len(buf)
                    break
                start, pos = pos, end
                if routes.get(auth) is not s or (
                        src != auth and routes.get(src) is not s):
                    core._log(30, '%s: dropping a message claiming to be '
                              'from %d (auth %d)' % (s.name, src, auth))
                    continue
                if dst == me:
                    if up:
                        self._up_frames(up)
                        up = []
                    msg = core._new_message(dst, src, auth, handle, reply_to,
                                            bytes(buf[start + _HLEN:end]))
                    msg.stream = s
                    self.invoke(msg)
                    if s.closed:
                        return pos
                    continue
                s.egress.add(dst)
                frame = data if end == len(buf) and not start and \
                    data is not None else bytes(buf[start:end])
                out = routes.get(dst)
                if out is None:
                    up.append(frame)
                else:
                    out.send(frame)
        finally:
            if pos and data is None:
                del buf[:pos]
            if up:
                self._up_frames(up)
        if pos and not s.heard:
            # The deferred code, kept off the child's first call's path.
            s.heard = True
            self._serve(s, core._DEFERRED)
        return pos

    def _up_frames(self, up):
        # Frames going up from one read: one write (a single frame is not
        # copied).
        core._write(up[0] if len(up) == 1 else b''.join(up), b'')

    def disconnect(self, s, why):
        """A child stream is gone (hub thread): fail what was queued for it,
        drop its routes, tell the parent and the others."""
        if s.closed:
            return
        core._log(10, 'stream %s disconnected (%s)' % (s.name, why))
        with s.lock:
            s.closed = True
            pending = list(s.outq)
            s.outq.clear()
        for fd in s.fd, s.diag:
            if fd is not None and self.fds.pop(fd, None) is not None:
                try:
                    self.poller.unregister(fd)
                except (KeyError, ValueError):
                    pass
        with self.lock:     # (a fork copies self.streams' fds as open)
            self.streams.pop(s.remote_id, None)
            _close(*{s.fd, s.diag, s.tty})
        self.fail_frames(pending)
        gone = [i for i in s.ids if self.routes.get(i) is s]
        for i in gone:
            del self.routes[i]
        for i in sorted(gone, reverse=True):
            self._gone(i, s)
        if s.proc is not None:
            _reap_later(s.proc)

    def fail_frames(self, frames):
        for frame in frames:
            dst, src, _, _, reply_to = _HDR.unpack_from(frame)[1:6]
            if reply_to and reply_to != core.IS_DEAD:
                self.route(core.Message.dead(
                    'no route to %r, my ID is %r' % (dst, core._my_id),
                    dst_id=src, handle=reply_to))

    def _up(self, handle, data):
        self.route(core.Message(dst_id=core._parent_ids[0], handle=handle,
                                data=data))

    def _gone(self, context_id, via):
        # context_id is unreachable: upward, to children that talked to it,
        # and to local receivers waiting on it.
        self._up(core.DEL_ROUTE, str(context_id).encode())
        self._down(context_id, via)
        core._router._on_disconnect(context_id)

    def _down(self, context_id, via):
        me = core._my_id
        for t in list(self.streams.values()):
            if t is not via and context_id in t.egress and not t.closed:
                t.egress.discard(context_id)
                data = str(context_id).encode()
                t.send(_HDR.pack(_MAGIC, t.remote_id, me, me, core.DEL_ROUTE,
                                 0, len(data)) + data)

    # -- routing hooks of the runtime
    def route(self, msg):
        """Router.route: to a child stream if the id is behind one."""
        out = self.routes.get(msg.dst_id)
        data = msg.data
        if out is None or len(data) > core._router.max_message_size:
            return core.Router.route(core._router, msg)
        out.send(_HDR.pack(_MAGIC, msg.dst_id, msg.src_id, msg.auth_id,
                           msg.handle, msg.reply_to or 0, len(data)) + data)

    def forward(self, msg):
        """Router._forward: a frame from the parent for someone else."""
        out = self.routes.get(msg.dst_id)
        if out is None:
            return core._dead(msg, 'no route to %r, my ID is %r'
                              % (msg.dst_id, core._my_id))
        if msg.auth_id in self.routes or (
                msg.src_id != msg.auth_id and msg.src_id in self.routes):
            core._log(30, 'dropping a message from the parent claiming to be '
                      'from %d (auth %d)' % (msg.src_id, msg.auth_id))
            return
        data = msg.data
        out.send(_HDR.pack(_MAGIC, msg.dst_id, msg.src_id, msg.auth_id,
                           msg.handle, msg.reply_to, len(data)) + data)

    def invoke(self, msg):
        """Router._invoke, noting that a local handler ran (the hub then
        wakes threads waiting for something)."""
        self.delivered = True
        core.Router._invoke(core._router, msg)

    # -- handlers
    def on_add_route(self, msg):
        s = getattr(msg, 'stream', None)
        if msg.is_dead or s is None or msg.src_id != s.remote_id:
            return
        head, _, name = msg.data.partition(b':')
        try:
            target = int(head)
        except ValueError:
            return
        current = self.routes.get(target)
        if current is not None and current is not s:
            core._log(40, 'cannot add route to %d via %s: already via %s'
                      % (target, s.name, current.name))
            return
        self.routes[target] = s
        s.ids.add(target)
        ctx = core._router.context_by_id(target, create=False)
        if ctx is not None and name:
            ctx.name = name.decode('utf-8', 'replace')
        self._up(core.ADD_ROUTE, msg.data)

    def on_del_route(self, msg):
        if msg.is_dead:
            return
        try:
            target = int(msg.data)
        except ValueError:
            return
        s = getattr(msg, 'stream', None)
        if s is None:
            # From above: somebody elsewhere is gone.
            if target not in self.routes:
                self._down(target, None)
                core._router._on_disconnect(target)
            return
        if msg.src_id != s.remote_id or self.routes.get(target) is not s:
            return
        del self.routes[target]
        s.ids.discard(target)
        self._gone(target, s)

    def on_get_module(self, msg):
        s = getattr(msg, 'stream', None)
        if msg.is_dead or s is None or msg.src_id != s.remote_id:
            return core._dead(msg, 'refused by policy')
        self._serve(s, msg.data.decode('utf-8', 'replace'))

    def _serve(self, s, name):
        # Send s the module name, asking the parent for it first if need be.
        importer = core._importer
        if name in importer._cache:
            return self._send_module(s, name)
        self.waiting.setdefault(name, []).append(s)
        with core._mutex:
            first = name not in importer._inflight
            importer._inflight.add(name)
        if first:
            core._log(10, 'asking the parent for %s (for %s)' % (name, s.name))
            self._up(core.GET_MODULE, name.encode('utf-8'))

    def on_load_module(self, msg):
        core._importer._on_load_module(msg)
        if not msg.is_dead:
            name = msg.unpickle()[0]
            for s in self.waiting.pop(name, ()):
                if not s.closed:
                    self._send_module(s, name)

    def on_forward_module(self, msg):
        if msg.is_dead:
            return
        head, _, name = msg.data.partition(b'\0')
        try:
            target = int(head)
        except ValueError:
            return
        name = name.decode('utf-8', 'replace')
        s = self.routes.get(target)
        if s is None or name not in core._importer._cache:
            core._log(30, 'dropping FORWARD_MODULE(%d, %r): %s' % (
                target, name, 'no route' if s is None else 'not cached'))
            return
        self._send_module(s, name)
        if s.remote_id != target:
            self.route(core.Message(dst_id=s.remote_id,
                                    handle=core.FORWARD_MODULE,
                                    data=msg.data))

    def _send_module(self, s, name):
        cache = core._importer._cache
        tup = cache[name]
        for related in tup[4] or ():
            rtup = cache.get(related)
            if rtup is not None and related not in s.sent:
                self._send_tuple(s, rtup)
        if name not in s.sent:
            self._send_tuple(s, tup)

    def _send_tuple(self, s, tup):
        s.sent.add(tup[0])
        self.route(core.Message.pickled(tup, dst_id=s.remote_id,
                                        handle=core.LOAD_MODULE))

    # -- new children (the calling thread: the main thread, in a call)
    def allocate_id(self, timeout):
        with self.id_lock:
            if self.next_id >= self.end_id:
                try:
                    first, end = core._router.context_by_id(0).send_await(
                        core.Message(handle=core.ALLOCATE_ID), timeout)
                except (core.Error, TypeError, ValueError) as e:
                    raise ConnectError(CONNECT, 'could not allocate a '
                                       'context id: %s' % (e,))
                self.next_id, self.end_id = int(first), int(end)
            self.next_id += 1
            return self.next_id - 1

    def attach(self, s):
        """Route to the new child s, tell the parent, start reading it."""
        self.routes[s.remote_id] = s
        self._up(core.ADD_ROUTE, ('%d:%s' % (s.remote_id, s.name))
                 .encode('utf-8'))
        with self.lock:
            self.streams[s.remote_id] = s
            self.new.append(s)
        self.wake()

    def stop_children(self):
        """On exit (any thread, no logging: _wlock may be held): SHUTDOWN
        to every child, then up to _GRACE seconds for them to go."""
        me = core._my_id
        streams = list(self.streams.values())
        for s in streams:
            if s.lock.acquire(True, 0.2):
                try:
                    if not s.closed and not s.outq:
                        os.write(s.fd, _HDR.pack(_MAGIC, s.remote_id, me, me,
                                                 core.SHUTDOWN, 0, 0))
                except OSError:
                    pass
                finally:
                    s.lock.release()
        deadline = _monotonic() + _GRACE
        while _monotonic() < deadline:
            try:
                if all(s.proc is None or s.proc.poll() is not None
                       for s in streams):
                    return
            except OSError:
                return
            time.sleep(0.01)

    # -- fork
    def fork(self, name):
        """Fork this process into a new child context."""
        import warnings
        context_id = self.allocate_id(30.0)
        ours, theirs = _socketpair()
        for fp in sys.stdout, sys.stderr:
            try:
                fp.flush()
            except Exception:
                pass
        # No other thread may hold these while the process is copied.
        held = [core._cap_lock, core._mutex, core._wlock, self.lock]
        for lock in held:
            lock.acquire()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', DeprecationWarning)
                pid = os.fork()
        finally:
            for lock in held:
                lock.release()
        if pid == 0:
            ours.close()
            self._become_fork(context_id, name, theirs.detach())
        theirs.close()
        s = _Stream(self, ours.detach(), context_id,
                    name or 'fork.%d' % pid, _ForkProc(pid))
        os.set_blocking(s.fd, False)
        self.attach(s)
        return context_id, s.name

    def _become_fork(self, context_id, name, fd):
        # In the new process, on the only thread: stop being this hub's
        # process, become a leaf context whose parent is the forker, and
        # run its main loop here (never returning into the forker's call).
        global _hub, _hub_lock, _reap_lock
        try:
            fds = {core._rfd, core._wfd, core._wake_r, core._wake_w,
                   core._hold_r, core._hold_w}
            for s in self.streams.values():
                fds.update((s.fd, s.diag, s.tty))
            fds.update(core._capture)
            fds.discard(None)
            fds.discard(fd)
            _close(*fds)
            # The routing thread may have held these when the process was
            # copied; it does not exist here.
            _hub_lock = _thread.allocate_lock()
            _reap_lock = _thread.allocate_lock()
            del _reaping[:]
            _hub = None
            self.uninstall()

            parent = core._my_id
            core._parent_ids[:] = [parent] + list(core._parent_ids)
            core._my_id = context_id
            pkg = sys.modules['mitogen']
            pkg.context_id = context_id
            pkg.parent_id = parent
            econtext = core.econtext
            econtext.context_id = context_id
            econtext.parent = core._router.context_by_id(parent)
            econtext.context = core._router.myself()
            econtext.name = name

            core._rfd = core._wfd = fd
            core._wake_r, core._wake_w = os.pipe()
            os.set_blocking(core._wake_w, False)
            core._hold_r, core._hold_w = os.pipe()
            os.set_blocking(core._hold_w, False)
            del core._held[:]
            core._watched = False
            core._rpoll = select.poll()
            core._rpoll.register(fd, _IN)
            core._rpoll.register(core._wake_r, _IN)
            del core._rbuf[:]
            core._need = core._nesting = 0
            core._reader = core._router_thread = None
            del core._waiters[:]
            core._forked = False
            core._calls.clear()
            core._dispatcher._error_by_chain_id.clear()
            core._importer._inflight.clear()

            core._capture.clear()
            if econtext.config.get('setup_stdio', True):
                core._setup_stdio()
            _thread.start_new_thread(core._watch, ())
            if core._debug:
                core._log(10, 'fork of context %d: context %d, pid %d'
                          % (parent, context_id, os.getpid()))
            core._serve()
        except SystemExit as e:
            core._shutdown(e.code if isinstance(e.code, int) else 1)
        except BaseException as e:
            core._log(50, 'fork main loop crashed: %s' % core._format_exc(e))
            core._shutdown(1)
        os._exit(1)


_hub = None
_hub_lock = _thread.allocate_lock()
_base_exit_now = core._exit_now


def _exit_now(status=0):
    # Replaces mitogen.core._exit_now while this context has children.
    hub = _hub
    try:
        if hub is not None and hub.pid == os.getpid():
            hub.stop_children()
    finally:
        os._exit(status)


def upgrade():
    """Make this context an intermediate (once); returns its hub."""
    global _hub
    with _hub_lock:
        if _hub is None:
            _hub = _Hub()
            _hub.install()
            _hub.start()
        return _hub


def connect(method_name, name=None, **kwargs):
    """Start a child of this context; returns (id, name).  Raises
    ConnectError."""
    hub = upgrade()
    method = _text(method_name)
    name = _text(name)
    if method == 'fork':
        return hub.fork(name)
    timeout = float(kwargs.get('connect_timeout') or 30.0)
    context_id = hub.allocate_id(timeout)
    plan = _plan(method, kwargs, context_id, name)
    proc, fd, diag, tty, rest = _Boot(plan, timeout).run()
    if plan.method == 'local' and not name:
        plan.name = 'local.%d' % proc.pid
    s = _Stream(hub, fd, context_id, plan.name, proc, diag, tty)
    s.rbuf.extend(rest)
    hub.attach(s)
    return context_id, s.name


@core.takes_econtext
def _proxy_connect(name, method_name, kwargs, econtext=None):
    """What the master calls in a context to start a child of it: returns
    {'id': id, 'name': name, 'msg': None}, or on failure {'id': None,
    'name': None, 'msg': 'error occurred on host H: text', 'code': CODE}."""
    try:
        context_id, name = connect(method_name, name, **dict(kwargs or {}))
    except ConnectError as e:
        return {'id': None, 'name': None, 'code': e.code,
                'msg': 'error occurred on host %s: %s'
                % (socket.gethostname(), e)}
    return {'id': context_id, 'name': name, 'msg': None}
