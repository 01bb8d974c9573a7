"""A small pure-Python master for testing the child runtime.

It starts the runtime exactly as the C master will (socketpair on the
child's stdin and stdout, `python -c STAGE1` with the compressed size and
the config substituted, the compressed runtime written after MITO000),
speaks the framing and protocol-2 pickles, answers GET_MODULE from a
directory of modules and collects FORWARD_LOG records.

Requests are pickled with the standard library's pure-Python pickler at
protocol 2; mitogen types are written as GLOBAL references to the
whitelisted `mitogen.core` names (see Ref).  Replies are read with an
unpickler that accepts nothing but the whitelist.

It serves the runtime's lazy parts for GET_MODULE 'mitogen._extra', and,
as the C master does, sends its deferred parts ('mitogen._deferred') after
the child's first message, or when asked before that.
For intermediate mode (parent.py) it also answers ALLOCATE_ID with blocks
of 1000 ids, records ADD_ROUTE/DEL_ROUTE, serves parent.py (minified, as
it would be shipped) for GET_MODULE 'mitogen.parent', addresses calls to
any context id, and, like a real master's respondent receivers, fails
pending calls to a context when a DEL_ROUTE for it arrives (or the
connection ends).

Environment: MITOGEN_TEST_CHILD_PYTHON picks the child's interpreter
(default: the one running the tests); MITOGEN_TEST_RUNTIME_Z names a
compressed runtime to boot instead of minifying runtime.py here (its
extra.py.z and deferred.py.z beside it);
MITOGEN_TEST_PARENT_PY names the parent.py to serve as mitogen.parent
instead of minifying mitogen-glib/child/parent.py here.
"""

import collections
import io
import os
import pickle
import queue
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUNTIME = os.path.join(ROOT, 'mitogen-glib', 'child', 'runtime.py')
PARENT = os.path.join(ROOT, 'mitogen-glib', 'child', 'parent.py')
STAGE1 = os.path.join(ROOT, 'mitogen-glib', 'child', 'stage1.py.in')
STAGE1_COMPILED = os.path.join(ROOT, 'mitogen-glib', 'child',
                               'stage1-compiled.py.in')
COMPILER = os.path.join(ROOT, 'mitogen-glib', 'child', 'compile.py')
MINIFY = os.path.join(ROOT, 'tools', 'minify-child.py')
DATA = os.path.join(HERE, 'data')

HDR = struct.Struct('>HLLLLLL')
MAGIC = 0x4d49
GET_MODULE, CALL_FUNCTION, FORWARD_LOG = 100, 101, 102
ADD_ROUTE, DEL_ROUTE, ALLOCATE_ID, SHUTDOWN = 103, 104, 105, 106
LOAD_MODULE, FORWARD_MODULE, CALL_SERVICE = 107, 108, 110
IS_DEAD = 999

_built = {}


def child_python():
    return os.environ.get('MITOGEN_TEST_CHILD_PYTHON') or sys.executable


def build_runtime(compress=True):
    """The runtime as the build embeds it (minified, locals renamed, the
    lazy and deferred parts left out, zlib level 9): the file named by
    MITOGEN_TEST_RUNTIME_Z (the build's runtime.py.z), or made here with
    tools/minify-child.py.  compress=False: only minified, the whole file."""
    built = os.environ.get('MITOGEN_TEST_RUNTIME_Z')
    if compress and built:
        with open(built, 'rb') as fp:
            return fp.read()
    if compress not in _built:
        fd, out = tempfile.mkstemp(prefix='mitogen-child-')
        os.close(fd)
        try:
            args = [sys.executable, MINIFY, RUNTIME, '--output', out]
            if compress:
                # As the build makes it (mitogen-glib/child/meson.build).
                args += ['--compress', '--split', '2048', '--rename-locals',
                         '--lazy', out + '.extra', '--defer', out + '.deferred']
            subprocess.check_call(args)
            with open(out, 'rb') as fp:
                _built[compress] = fp.read()
            for part in PARTS.values() if compress else ():
                with open(out + '.' + part, 'rb') as fp:
                    _built[part] = fp.read()
                os.unlink(out + '.' + part)
        finally:
            os.unlink(out)
    return _built[compress]


# The runtime's parts sent apart: module name -> the build's file stem.
PARTS = {'mitogen._extra': 'extra', 'mitogen._deferred': 'deferred'}


def runtime_part(name):
    """A part of the runtime sent apart (PARTS), zlib-compressed as the
    build makes it: the build's file beside MITOGEN_TEST_RUNTIME_Z, or
    made here with the runtime."""
    built = os.environ.get('MITOGEN_TEST_RUNTIME_Z')
    if built:
        path = os.path.join(os.path.dirname(built), PARTS[name] + '.py.z')
        with open(path, 'rb') as fp:
            return fp.read()
    build_runtime()
    return _built[PARTS[name]]


def load_minifier():
    import importlib.util
    spec = importlib.util.spec_from_file_location('minify', MINIFY)
    minify = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(minify)
    return minify


def parent_source():
    """parent.py as served to children: MITOGEN_TEST_PARENT_PY, else
    minified here (what the build should ship)."""
    if 'parent' not in _built:
        path = os.environ.get('MITOGEN_TEST_PARENT_PY')
        if path:
            with open(path, 'rb') as fp:
                _built['parent'] = fp.read()
        else:
            with open(PARENT, encoding='utf-8') as fp:
                text = load_minifier().minify(fp.read())
            compile(text, PARENT, 'exec')
            _built['parent'] = text.encode('utf-8')
    return _built['parent']


def compile_runtime(python, runtime):
    """What the C master appends to the runtime for a child on its own
    machine: child/compile.py's output for @python."""
    with open(COMPILER, encoding='utf-8') as fp:
        program = fp.read()
    return subprocess.run([python, '-S', '-X', 'no_debug_ranges', '-c', program],
                          input=runtime, stdout=subprocess.PIPE, check=True,
                          timeout=60).stdout


def stage1(size, config, runtime_size=None):
    """The first stage for a runtime of size bytes; runtime_size: that many
    of them are the runtime, compiled parts follow (the C master's
    compiled boot)."""
    with open(STAGE1 if runtime_size is None else STAGE1_COMPILED) as fp:
        template = fp.read().strip()
    return template.replace('@N@', str(size)).replace(
        '@R@', str(runtime_size)).replace('@CONFIG@', repr(config))


# ------------------------------------------------------------- pickling
class Ref(object):
    """A GLOBAL reference written by RequestPickler as `c<module>\\n<name>`."""
    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):
        raise TypeError('only a marker')


class RequestPickler(pickle._Pickler):
    dispatch = dict(pickle._Pickler.dispatch)

    def _save_ref(self, obj):
        self.write(pickle.GLOBAL + ('%s\n%s\n' % (obj.module, obj.name))
                   .encode('ascii'))

    dispatch[Ref] = _save_ref


class Kwargs(dict):
    def __reduce__(self):
        return Ref('mitogen.core', 'Kwargs'), (dict(self),)


class Blob(bytes):
    def __reduce__(self):
        return Ref('mitogen.core', 'Blob'), (bytes(self),)


class Secret(str):
    def __reduce__(self):
        return Ref('mitogen.core', 'Secret'), (str(self),)


class Context(object):
    def __init__(self, context_id, name=None):
        self.context_id, self.name = context_id, name

    def __reduce__(self):
        return Ref('mitogen.core', '_unpickle_context'), (self.context_id,
                                                          self.name)

    def __eq__(self, other):
        return isinstance(other, Context) and \
            (self.context_id, self.name) == (other.context_id, other.name)

    def __repr__(self):
        return 'Context(%r, %r)' % (self.context_id, self.name)


class Sender(object):
    def __init__(self, context_id, handle):
        self.context_id, self.handle = context_id, handle

    def __reduce__(self):
        return Ref('mitogen.core', '_unpickle_sender'), (self.context_id,
                                                         self.handle)


class Forbidden(object):
    """Pickles as a call of a non-whitelisted global."""
    def __init__(self, module, name):
        self.ref = Ref(module, name)

    def __reduce__(self):
        return self.ref, ('true',)


class RemoteError(Exception):
    """A CallError sent by the child."""


class ChannelError(Exception):
    """A dead message."""


def dumps(obj):
    fp = io.BytesIO()
    RequestPickler(fp, 2).dump(obj)
    return fp.getvalue()


class ReplyUnpickler(pickle.Unpickler):
    TABLE = {
        ('mitogen.core', '_unpickle_call_error'): RemoteError,
        ('mitogen.core', 'CallError'): RemoteError,
        ('mitogen.core', '_unpickle_context'): Context,
        ('mitogen.core', '_unpickle_sender'): Sender,
        ('mitogen.core', 'Blob'): Blob,
        ('mitogen.core', 'Secret'): Secret,
        ('mitogen.core', 'Kwargs'): Kwargs,
    }

    def find_class(self, module, name):
        try:
            return self.TABLE[module, name]
        except KeyError:
            raise pickle.UnpicklingError('refused global %s.%s'
                                         % (module, name))


def loads(data):
    return ReplyUnpickler(io.BytesIO(data)).load()


Frame = collections.namedtuple('Frame', 'dst src auth handle reply_to data')


# ------------------------------------------------------------- the master
class FakeMaster(object):
    def __init__(self, context_id=1, parent_ids=(0,), log_level=20,
                 modules=DATA, related=None, python=None, push_deferred=True,
                 **config):
        self.context_id = context_id
        self.config = {
            'context_id': context_id,
            'parent_ids': list(parent_ids),
            'log_level': log_level,
            'max_message_size': 128 * 1048576,
            'debug': False,
            'name': 'test.%d' % context_id,
        }
        self.config.update(config)
        self.modules = modules
        # As the C master: the lazy parts go ahead of mitogen.parent.
        self.related = dict(related or {})
        self.related.setdefault('mitogen.parent', ['mitogen._extra'])
        self.python = python or child_python()
        self.queues = {}        # handle -> queue.Queue; see _queue()
        self.logs = []
        self.get_module_requests = []
        self.sent_modules = set()
        # Whether the child's first message brings mitogen._deferred, and
        # the ids it went to (once each, as the C master).
        self.push_deferred = push_deferred
        self.deferred_sent = set()
        self.heard = False
        self.errors = []
        self.eof = threading.Event()
        self.cond = threading.Condition()
        self._next_handle = 1000
        self._wlock = threading.Lock()
        self.preamble_lines = []
        self.env = None
        self.next_id = context_id + 1
        self.routes_added = []      # (src, id, name)
        self.routes_deleted = []    # (src, id)
        self.get_module_srcs = []   # (src, name)
        self.log_frames = []        # (src, name, level, text)
        self.pending = {}           # reply handle -> context id called

    # -- process
    def start(self, stderr=subprocess.PIPE, reader=True, extra=b'',
              bytecode=b''):
        """bytecode: appended to the runtime and counted in its size, as
        the C master sends compile_runtime()'s output."""
        runtime = build_runtime()
        program = stage1(len(runtime) + len(bytecode), self.config,
                         len(runtime) if bytecode else None)
        runtime += bytecode
        self.sock, child = socket.socketpair()
        self.cwd = tempfile.mkdtemp(prefix='mitogen-child-cwd-')
        env = dict(self.env or os.environ)
        env.pop('PYTHONPATH', None)
        t0 = time.monotonic()
        self.proc = subprocess.Popen([self.python, '-c', program],
                                     stdin=child, stdout=child, stderr=stderr,
                                     cwd=self.cwd, env=env, close_fds=True)
        child.close()
        self.stderr_lines = []
        if self.proc.stderr is not None:
            threading.Thread(target=self._collect_stderr, daemon=True).start()
        buf = self._read_line(buf=b'', marker=b'MITO000\n')
        self.sock.sendall(runtime + extra)
        buf = self._read_line(buf, marker=b'MITO002\n')
        self.boot_time = time.monotonic() - t0
        self._buf = buf
        if reader:
            threading.Thread(target=self._reader, daemon=True).start()
        return self

    def _collect_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode('utf-8', 'replace'))

    def _read_line(self, buf, marker):
        self.sock.settimeout(30)
        while marker not in buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError('EOF before %r; got %r; stderr %r' % (
                    marker, buf, getattr(self, 'stderr_lines', None)))
            buf += data
        before, _, after = buf.partition(marker)
        if before:
            self.preamble_lines.append(before)
        self.sock.settimeout(None)
        return after

    def _reader(self):
        buf = bytearray(self._buf)
        try:
            while True:
                while len(buf) >= 26:
                    magic, dst, src, auth, handle, reply_to, size = \
                        HDR.unpack_from(buf)
                    if magic != MAGIC:
                        self.errors.append('bad magic: %r' % buf[:64])
                        return
                    if len(buf) < 26 + size:
                        break
                    frame = Frame(dst, src, auth, handle, reply_to,
                                  bytes(buf[26:26 + size]))
                    del buf[:26 + size]
                    self._on_frame(frame)
                data = self.sock.recv(1048576)
                if not data:
                    return
                buf.extend(data)
        except OSError:
            pass
        finally:
            self.eof.set()
            for handle in list(self.pending):
                self._fail_pending(handle, 'the connection to the child '
                                   'ended')
            with self.cond:
                self.cond.notify_all()

    def _fail_pending(self, handle, reason):
        if self.pending.pop(handle, None) is not None:
            self._queue(handle).put(Frame(0, 0, 0, handle, IS_DEAD,
                                          reason.encode('utf-8')))

    def _on_frame(self, frame):
        # As the C master: ahead of anything sent in answer to the frame;
        # a child already gone (its first frame a fatal log record) still
        # has that frame delivered.
        if not self.heard and self.push_deferred:
            try:
                self.send_deferred(self.context_id)
            except OSError:
                pass
        self.heard = True
        self._dispatch(frame)

    def _dispatch(self, frame):
        if frame.handle == FORWARD_LOG:
            name, level, text = frame.data.decode('utf-8').split('\0', 2)
            with self.cond:
                self.logs.append((name, int(level), text))
                self.log_frames.append((frame.src, name, int(level), text))
                self.cond.notify_all()
        elif frame.handle == GET_MODULE:
            name = frame.data.decode('utf-8')
            self.get_module_requests.append(name)
            self.get_module_srcs.append((frame.src, name))
            if name == 'mitogen._deferred':
                self.send_deferred(frame.src)
            else:
                self.serve_module(name, dst=frame.src)
        elif frame.handle == ALLOCATE_ID:
            first, self.next_id = self.next_id, self.next_id + 1000
            self.send(frame.reply_to, dumps((first, first + 1000)),
                      dst=frame.src)
        elif frame.handle in (ADD_ROUTE, DEL_ROUTE):
            head, _, name = frame.data.decode('utf-8').partition(':')
            with self.cond:
                if frame.handle == ADD_ROUTE:
                    self.routes_added.append((frame.src, int(head), name))
                else:
                    self.routes_deleted.append((frame.src, int(head)))
                    for handle, dst in list(self.pending.items()):
                        if dst == int(head):
                            self._fail_pending(handle, 'the respondent '
                                               'Context has disconnected')
                self.cond.notify_all()
        else:
            self.pending.pop(frame.handle, None)
            self._queue(frame.handle).put(frame)

    # -- module responder
    def _find(self, name):
        base = os.path.join(self.modules, *name.split('.'))
        if os.path.isfile(os.path.join(base, '__init__.py')):
            present = sorted(
                entry[:-3] if entry.endswith('.py') else entry
                for entry in os.listdir(base)
                if (entry.endswith('.py') and entry != '__init__.py') or
                os.path.isfile(os.path.join(base, entry, '__init__.py')))
            return os.path.join(base, '__init__.py'), present
        if os.path.isfile(base + '.py'):
            return base + '.py', None
        return None, None

    def _load_module_tuple(self, name):
        if name == 'mitogen.parent':
            return (name, None, PARENT, Blob(zlib.compress(parent_source(),
                                                           9)), [])
        if name in PARTS:
            return (name, None, RUNTIME, Blob(runtime_part(name)), [])
        path, present = self._find(name)
        if path is None:
            return (name, None, None, None, ())
        with open(path, 'rb') as fp:
            source = fp.read()
        return (name, present, path, Blob(zlib.compress(source, 9)),
                list(self.related.get(name, ())))

    def serve_module(self, name, dst=None):
        for rel in self.related.get(name, ()):
            if rel not in self.sent_modules:
                self.sent_modules.add(rel)
                self.send(LOAD_MODULE, dumps(self._load_module_tuple(rel)),
                          dst=dst)
        self.sent_modules.add(name)
        self.send(LOAD_MODULE, dumps(self._load_module_tuple(name)), dst=dst)

    def send_deferred(self, dst):
        with self.cond:
            first = dst not in self.deferred_sent
            self.deferred_sent.add(dst)
        if first:
            self.send(LOAD_MODULE, dumps(self._load_module_tuple(
                'mitogen._deferred')), dst=dst)

    def forward_module(self, target, name):
        """As a master's forward_modules(): LOAD_MODULE to the first hop,
        then FORWARD_MODULE naming the target."""
        self.serve_module(name)
        self.send(FORWARD_MODULE, ('%d\0%s' % (target, name)).encode())

    # -- messages
    def new_handle(self):
        self._next_handle += 1
        return self._next_handle

    def send(self, handle, data=b'', dst=None, src=0, auth=0, reply_to=0):
        frame = HDR.pack(MAGIC, self.context_id if dst is None else dst,
                         src, auth, handle, reply_to, len(data)) + data
        self.send_raw(frame)

    def send_raw(self, data):
        with self._wlock:
            self.sock.sendall(data)

    def _queue(self, handle):
        # The reader thread and a test may both make a handle's queue first:
        # dict.setdefault keeps one (a defaultdict could hand each its own,
        # and a reply would wait in the one nobody reads).
        q = self.queues.get(handle)
        return q if q is not None else self.queues.setdefault(handle,
                                                              queue.Queue())

    def get(self, handle, timeout=10):
        try:
            return self._queue(handle).get(timeout=timeout)
        except queue.Empty:
            raise AssertionError('no message on handle %d within %ss; '
                                 'logs %r; stderr %r' % (
                                     handle, timeout, self.logs,
                                     self.stderr_lines))

    def get_value(self, handle, timeout=10):
        frame = self.get(handle, timeout)
        if frame.reply_to == IS_DEAD:
            raise ChannelError(frame.data.decode('utf-8'))
        value = loads(frame.data)
        if isinstance(value, RemoteError):
            raise value
        return value

    def call_async(self, module, func, *args, **kwargs):
        klass = kwargs.pop('_klass', None)
        chain_id = kwargs.pop('_chain', None)
        reply = kwargs.pop('_reply', True)
        auth = kwargs.pop('_auth', 0)
        dst = kwargs.pop('_dst', self.context_id)
        handle = self.new_handle() if reply else 0
        if reply:
            self.pending[handle] = dst
        self.send(CALL_FUNCTION, dumps((chain_id, module, klass, func, args,
                                        Kwargs(kwargs))),
                  reply_to=handle, auth=auth, dst=dst)
        return handle

    def call(self, module, func, *args, **kwargs):
        timeout = kwargs.pop('_timeout', 10)
        return self.get_value(self.call_async(module, func, *args, **kwargs),
                              timeout)

    def proxy_connect(self, via, method, name=None, _timeout=60, **kwargs):
        """mitogen.parent._proxy_connect in context via, as upstream's
        master calls it; returns the reply dict."""
        return self.call('mitogen.parent', '_proxy_connect', name=name,
                         method_name=method, kwargs=Kwargs(kwargs),
                         _dst=via, _timeout=_timeout)

    def connect_via(self, via, method, **kwargs):
        """proxy_connect that must succeed: returns the new id."""
        reply = self.proxy_connect(via, method, **kwargs)
        if reply.get('msg') is not None or reply.get('id') is None:
            raise AssertionError('connect via %d failed: %r' % (via, reply))
        return reply['id']

    def wait_for(self, pred, timeout=10, what='condition'):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError('timed out waiting for %s; routes '
                                         '+%r -%r' % (what, self.routes_added,
                                                      self.routes_deleted))
                self.cond.wait(min(remaining, 0.1))

    def wait_log(self, pred, timeout=10):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for rec in self.logs:
                    if pred(rec):
                        return rec
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError('no such log record; got %r'
                                         % (self.logs,))
                self.cond.wait(remaining)

    def shutdown(self):
        self.send(SHUTDOWN)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def disconnect(self):
        """Close the master's end as a process exiting would (shutting the
        socket down first: a plain close() from this thread would not end a
        recv() that the reader thread is blocked in, so no EOF would reach
        the child)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        try:
            os.rmdir(self.cwd)
        except OSError:
            pass


def _sigkill_helper():
    """`fakemaster.py sleeping-child`: start a child, make it sleep in a call,
    print its pid and wait to be killed."""
    master = FakeMaster(log_level=30).start(stderr=subprocess.DEVNULL)
    master.call_async('time', 'sleep', 30, _reply=False)
    sys.stdout.write('%d\n' % master.proc.pid)
    sys.stdout.flush()
    time.sleep(60)


if __name__ == '__main__':
    if sys.argv[1:] == ['sleeping-child']:
        _sigkill_helper()
