# mitogen-glib child runtime.
#
# Sent by the C master at bootstrap and executed by STAGE1 (stage1.py.in) as
# the body of a module object named 'mitogen.core', whose namespace already
# holds _C (the connection config dict), _S (this file, zlib-compressed, as
# received) and _M (the module object itself).  It speaks the Mitogen 0.3
# wire protocol with its parent over fds 0 (in) and 1 (out); see README.md
# beside this file for the contract.
#
# Threads: the main thread reads the transport and runs calls itself (no
# thread hop on the hot path).  Whoever needs a message (the idle main loop,
# Receiver.get() in any thread, an import waiting for LOAD_MODULE) becomes
# the single "reader" and dispatches every frame it reads; others wait to be
# notified.  A watcher thread forwards captured stdout/stderr, exits the
# process as soon as the parent hangs up, and reads the transport only when
# a call has kept the main thread busy for a while (so SHUTDOWN still works).
#
# Must stay valid Python 3.6 syntax, standard library only, small and quick
# to start: avoid module imports on the startup path beyond the ones below.

# STAGE1 runs only the part up to '--split--': this loop compiles and runs
# the rest one part at a time (the build separates parts of ~2 kB with form
# feeds; tools/minify-child.py --split).  Compiled at once, the runtime
# leaves the compiler's ~3 MB peak in the child's RSS for good.  Unsplit
# (as tests may build it) there is no second part and STAGE1 ran it all.
# A python3 on the master's own machine may get the other parts compiled
# instead, with a first stage of their own that skips this one (README.md,
# "Bytecode").
_line = 0
for _part in __import__('zlib').decompress(_S).split(b'\f'):
    if _line:
        exec(compile(b'\n' * _line + _part, '<mitogen-glib>', 'exec'), _M.__dict__)
    _line += _part.count(b'\n')
'--split--'

import sys
# _pickle imports functools for functools.partial alone, and functools
# brings collections, operator, reprlib... (~400 KiB of RSS): lend it the
# same partial from _functools; user code importing functools gets the real
# module.
_modules = sys.modules
_f = type(sys)('functools')
_f.partial = __import__('_functools').partial
_f = _modules.setdefault('functools', _f) is _f
import _pickle
if _f:
    del _modules['functools']
import _io
import _struct
import _thread
import itertools
import os
import select
import time
import zlib
from _collections import deque as _deque
from _functools import partial as _partial

GET_MODULE = 100
CALL_FUNCTION = 101
FORWARD_LOG = 102
ADD_ROUTE = 103
DEL_ROUTE = 104
ALLOCATE_ID = 105
SHUTDOWN = 106
LOAD_MODULE = 107
FORWARD_MODULE = 108
DETACHING = 109
CALL_SERVICE = 110
STUB_CALL_SERVICE = 111
IS_DEAD = 999
HEADER_MAGIC = 0x4d49
HEADER_LEN = 26
CHUNK_SIZE = 65536
PY3 = True
BytesType = bytes
UnicodeType = str

_HDR = _struct.Struct('>HLLLLLL')
_INT = _struct.Struct('<3sic').pack      # a pickled int (BININT)
_OWN_FILE = sys._getframe().f_code.co_filename
_ModuleSpec = sys.modules['_frozen_importlib'].ModuleSpec
_get_ident = _thread.get_ident
_monotonic = time.monotonic
_RDHUP = getattr(select, 'POLLRDHUP', 0x2000)
_HUP = select.POLLHUP | select.POLLERR | select.POLLNVAL | _RDHUP
_NOTSET = object()
_new = object.__new__
_getrefcount = getattr(sys, 'getrefcount', lambda obj: 99)  # 99: never reuse

# Identity and settings, filled in by _main() from the config.
_my_id = 0
_parent_ids = []
_log_level = 30
_debug = False
_router = None
_importer = None
_dispatcher = None
_lazy_lock = _thread.RLock()
# The parts of this runtime not sent at bootstrap (README.md, sections 9
# and 10): the name each defines last, and the module it comes as.
_DEFERRED = 'mitogen._deferred'
_PARTS = (('_deferred_here', _DEFERRED), ('_extra_here', 'mitogen._extra'))


class _Core(type(sys)):
    """The class of mitogen.core (PEP 562's module __getattr__ is 3.7+).
    Asking for a name this module lacks first runs the deferred code
    (mitogen._deferred: the '--defer--' parts, which the parent sends
    after this context's first message, or when asked), then, if still
    missing, what only user code needs (mitogen._extra: Sender, Receiver,
    listen..., the '--lazy--' parts, sent only when asked), each once, in
    this namespace."""
    def __getattr__(self, name):
        d = vars(self)
        if name[:2] != '__':
            for mark, part in _PARTS:
                if name in d:
                    break
                if mark not in d:
                    # Not under the lock: the part may arrive only when
                    # another thread reads it.
                    code = _wait(_ask(part), 60)[3]
                    if code is None:
                        raise AttributeError('%s: the parent has no %s'
                                             % (name, part))
                    code = zlib.decompress(code)
                    with _lazy_lock:
                        if mark not in d:
                            exec(compile(code, _OWN_FILE, 'exec'), d)
            if name in d:
                return d[name]
        raise AttributeError(name)


_M.__class__ = _Core


class Error(Exception):
    """Base of every exception this runtime raises."""
    def __init__(self, fmt=None, *args):
        if args:
            fmt = fmt % args
        Exception.__init__(self, fmt)


class ChannelError(Error):
    """A channel was closed, by the remote end or locally."""
    remote_msg = 'Channel closed by remote end.'
    local_msg = 'Channel closed by local end.'


class StreamError(Error):
    pass


class TimeoutError(Error):
    pass


class CallError(Error):
    """A remote call failed; carries the text '<module>.<Class>: <message>'
    followed by the formatted traceback."""
    def __init__(self, fmt=None, *args):
        if isinstance(fmt, BaseException):
            fmt, args = _M._format_exc(fmt), ()
        Error.__init__(self, fmt, *args)

    def __reduce__(self):
        return _M._unpickle_call_error, (self.args[0],)


'--defer--'


def _format_exc(e):
    cls = type(e)
    text = '%s.%s: %s' % (cls.__module__, cls.__name__, e)
    tb = e.__traceback__
    # Leading frames of this runtime (the dispatcher) are noise for the caller.
    while tb is not None and tb.tb_next is not None and \
            tb.tb_frame.f_code.co_filename == _OWN_FILE:
        tb = tb.tb_next
    if tb is not None:
        import traceback
        text += '\n' + ''.join(traceback.format_tb(tb))
    if len(text) >= 10000:
        # Peers refuse longer CallError texts: keep the head and the tail.
        text = text[:4000] + '\n[...]\n' + text[-5000:]
    return text


'--eager--'


class Blob(bytes):
    """Bytes that repr() as their size only."""
    def __repr__(self):
        return '[blob: %d bytes]' % len(self)

    def __reduce__(self):
        return Blob, (bytes(self),)


class Secret(str):
    """A string that never shows in repr()."""
    def __repr__(self):
        return '[secret]'

    def __reduce__(self):
        return Secret, (str(self),)


class Kwargs(dict):
    """Keyword arguments of a call; bytes keys (Python 2 peers) become str."""
    def __init__(self, dct=()):
        dict.__init__(self)
        for k, v in dict(dct).items():
            if type(k) is bytes:
                k = k.decode('utf-8')
            self[k] = v

    def __repr__(self):
        return 'Kwargs(%s)' % dict.__repr__(self)

    def __reduce__(self):
        return Kwargs, (dict(self),)


# Objects _Pickler may refer to by name (+ the _unpickle_* functions below).
_SAFE_IDS = {id(Blob), id(Secret), id(Kwargs)}
'--defer--'


def _unpickle_call_error(s):
    if type(s) is not str or len(s) >= 10000:
        raise TypeError('bad CallError')
    return CallError(s)


def _unpickle_context(context_id, name, router=None):
    if type(context_id) is not int or context_id < 0 or not (
            name is None or (type(name) is str and len(name) < 100)):
        raise TypeError('bad Context')
    router = router or _router
    if router is None:
        return Context(None, context_id, name)
    return router.context_by_id(context_id, name=name)


def _unpickle_sender(context_id, dst_handle):
    if type(context_id) is not int or context_id < 0 or \
            type(dst_handle) is not int or dst_handle <= 0 or _router is None:
        raise TypeError('bad Sender')
    return _M.Sender(_router.context_by_id(context_id), dst_handle)


_SAFE_IDS.update(map(id, (_unpickle_call_error, _unpickle_context,
                          _unpickle_sender)))
'--eager--'


# Eager: how a protocol 2 pickler writes bytes, as in the LOAD_MODULE that
# brings the deferred code.
def _latin1_bytes(text, encoding=None):
    # _codecs.encode for bytes: latin-1 only.
    if type(text) is not str:
        raise TypeError('bad bytes')
    return text.encode('latin-1')


# What each allowed global is, by name in this module (the unpickling
# functions are deferred code) or itself.
_WHITELIST = {
    ('mitogen.core', '_unpickle_call_error'): '_unpickle_call_error',
    ('mitogen.core', 'CallError'): '_unpickle_call_error',
    ('mitogen.core', '_unpickle_sender'): '_unpickle_sender',
    ('mitogen.core', '_unpickle_context'): '_unpickle_context',
    ('mitogen.core', 'Blob'): Blob,
    ('mitogen.core', 'Secret'): Secret,
    ('mitogen.core', 'Kwargs'): Kwargs,
    ('_codecs', 'encode'): '_latin1_bytes',
    ('__builtin__', 'bytes'): bytes,
    ('builtins', 'bytes'): bytes,
}


class _Unpickler(_pickle.Unpickler):
    def find_class(self, module, name):
        fn = _WHITELIST.get((module, name))
        if fn is None:
            raise StreamError('cannot unpickle %r/%r', module, name)
        return getattr(_M, fn) if type(fn) is str else fn


class _Input(object):
    # The unpickler's file, all C callables (no Python call per parse):
    # the first peek() pops the payload put in d, to be parsed in place as
    # pickle.loads does (no read() per opcode, big bytes copied once); a
    # second one (a truncated payload) gives an int, which fails the parse.
    # The unpickler reports what it parsed with read(n) at the end: n goes
    # to used.
    readline = bytes

    def __init__(self):
        self.d = {}
        self.used = []
        self.peek = _partial(self.d.pop, 0)
        self.read = self.used.append


_idle = []           # (unpickler, input) pairs that parsed a small payload whole


def _loads(data):
    # Making an unpickler costs more than parsing a call: one is reused when
    # it parsed the whole of a small bytes payload (it keeps a view of the
    # last one) and put nothing in its memo (the master's pickles have no
    # memo opcodes).  One that did is dropped: emptying its memo would not
    # rewind the index MEMOIZE writes at (CPython), which would then grow
    # with every payload; and no payload may refer to an earlier one's
    # objects.  After an error or bytes left over, it is dropped too.
    try:
        u, inp = _idle.pop()
    except IndexError:
        inp = _Input()
        u = _Unpickler(inp, encoding='bytes')
    inp.d[0] = data
    try:
        obj = u.load()
    except Error:
        raise
    except Exception as e:
        raise StreamError('invalid message: %s', e)
    if inp.used.pop() == len(data) <= 4096 and type(data) is bytes and \
            not u.memo.copy() and len(_idle) < 4:
        _idle.append((u, inp))
    return obj


class _Pickler(_pickle.Pickler):
    # Refuses, at the source, anything a peer's whitelist would refuse.
    def persistent_id(self, obj):
        if type(obj) in _SAFE_TYPES or isinstance(obj, _SAFE_BASES) or \
                id(obj) in _SAFE_IDS:
            return None
        raise TypeError('cannot serialize %r objects' % type(obj).__name__)


_SIMPLE_TYPES = {type(None), bool, int, float, str, bytes}
'--defer--'


def _plain(obj, depth=0):
    # Subclasses of the plain types (namedtuples such as os.stat_result or
    # platform.uname_result, OrderedDict...) travel as their base type.
    if depth > 60 or type(obj) in _SIMPLE_TYPES or isinstance(obj, _SAFE_BASES):
        return obj
    if isinstance(obj, tuple):
        return tuple(_plain(x, depth + 1) for x in obj)
    if isinstance(obj, list):
        return [_plain(x, depth + 1) for x in obj]
    if isinstance(obj, dict):
        return dict((_plain(k, depth + 1), _plain(v, depth + 1))
                    for k, v in obj.items())
    for base in (bool, int, float, str, bytes):
        if isinstance(obj, base):
            return base(obj)
    return obj


'--eager--'


def _dump(obj):
    fp = _io.BytesIO()
    _Pickler(fp, 4).dump(obj)
    return fp.getvalue()


def _dumps(obj):
    # None and small ints, the commonest results, are encoded here: the 4 KiB
    # output buffer of _pickle.dumps is a large malloc per reply, which makes
    # malloc consolidate its fast bins each time.  Big bytes come as parts
    # (not copied into the pickle): the same bytes as pickle.dumps gives, to
    # be written as they are.
    if obj is None:
        return b'\x80\x04N.'
    if type(obj) is int and -1 << 31 <= obj < 1 << 31:
        return _INT(b'\x80\x04J', obj, b'.')
    if type(obj) is bytes and CHUNK_SIZE < len(obj) < 1 << 31:
        return b'\x80\x04B' + len(obj).to_bytes(4, 'little'), obj, b'\x94.'
    try:
        if type(obj) in _SIMPLE_TYPES:
            return _pickle.dumps(obj, 4)
        try:
            return _dump(obj)
        except TypeError:
            return _dump(_M._plain(obj))
    except Exception as e:
        cls = type(e)
        return _pickle.dumps(CallError('%s.%s: %s' % (
            cls.__module__, cls.__name__, e)), 4)


def takes_econtext(func):
    """Mark func to receive econtext= when invoked by CALL_FUNCTION."""
    func.mitogen_takes_econtext = True
    return func


def takes_router(func):
    """Mark func to receive router= when invoked by CALL_FUNCTION."""
    func.mitogen_takes_router = True
    return func


def has_parent_authority(msg, stream=None):
    return msg.auth_id == _my_id or msg.auth_id in _parent_ids


'--lazy--'


def listen(obj, name, func):
    vars(obj).setdefault('_signals', {}).setdefault(name, []).append(func)


def unlisten(obj, name, func):
    try:
        obj._signals[name].remove(func)
    except (AttributeError, KeyError, ValueError):
        pass


def fire(obj, name, *args, **kwargs):
    for func in list(vars(obj).get('_signals', {}).get(name, ())):
        func(*args, **kwargs)


'--eager--'


class Message(object):
    """One frame: header fields plus the raw payload in data."""
    dst_id = src_id = auth_id = handle = router = receiver = _parts = None
    reply_to = 0
    data = b''
    _unpickled = _NOTSET

    def __init__(self, **kwargs):
        self.src_id = self.auth_id = _my_id
        vars(self).update(kwargs)

    @property
    def is_dead(self):
        return self.reply_to == IS_DEAD

    @classmethod
    def dead(cls, reason=None, **kwargs):
        kwargs['data'] = (reason or '').encode('utf-8')
        return cls(reply_to=IS_DEAD, **kwargs)

    @classmethod
    def pickled(cls, obj, **kwargs):
        data = _dumps(obj)
        if type(data) is tuple:
            if cls is Message:
                return _M._BigMessage(_parts=data, **kwargs)
            data = b''.join(data)
        kwargs['data'] = data
        return cls(**kwargs)

    def reply(self, msg, router=None, **kwargs):
        if not isinstance(msg, Message):
            msg = Message.pickled(msg)
        msg.dst_id = self.src_id
        msg.handle = self.reply_to
        vars(msg).update(kwargs)
        if msg.handle:
            (self.router or router or _router).route(msg)

    def _throw_dead(self):
        if self.data:
            raise ChannelError(self.data.decode('utf-8', 'replace'))
        if self.src_id == _my_id:
            raise ChannelError(ChannelError.local_msg)
        raise ChannelError(ChannelError.remote_msg)

    def unpickle(self, throw=True, throw_dead=True):
        if throw_dead and self.reply_to == IS_DEAD:
            self._throw_dead()
        obj = self._unpickled
        parts = self._parts
        if obj is _NOTSET:
            obj = self._unpickled = _loads(
                parts[0] if parts and len(parts) == 1 else self.data)
        if throw and isinstance(obj, CallError):
            raise obj
        return obj

    def __repr__(self):
        return 'Message(%r, %r, %r, %r, %r, %r..%d)' % (
            self.dst_id, self.src_id, self.auth_id, self.handle,
            self.reply_to, self.data[:50], len(self.data))


'--defer--'


class _BigMessage(Message):
    """A big payload in _parts, joined into data only when asked for: a frame
    read straight into a buffer of its own, or a pickle in pieces."""
    def _data(self):
        self._parts = b''.join(self._parts),
        return self._parts[0]

    data = property(_data, lambda self, data: setattr(self, '_parts', (data,)))


def _new_message(dst_id, src_id, auth_id, handle, reply_to, data):
    # Message() without __init__: the receive path's fast constructor.
    msg = _new(Message)
    msg.dst_id, msg.src_id, msg.auth_id, msg.handle, msg.reply_to, \
        msg.data = dst_id, src_id, auth_id, handle, reply_to, data
    return msg


'--lazy--'


class Sender(object):
    """Sends pickled objects to a handle in another (or this) context."""
    def __init__(self, context, dst_handle):
        self.context = context
        self.dst_handle = dst_handle

    def send(self, data):
        self.context.send(Message.pickled(data, handle=self.dst_handle))

    def close(self):
        self.context.send(Message.dead('Sender was explicitly closed',
                                       handle=self.dst_handle))

    def __repr__(self):
        return 'Sender(%r, %r)' % (self.context, self.dst_handle)

    def __reduce__(self):
        return _M._unpickle_sender, (self.context.context_id, self.dst_handle)


class Receiver(object):
    """A queue of the messages sent to one handle of this context."""
    notify = None
    raise_channelerror = True

    def __init__(self, router, handle=None, persist=True, respondent=None,
                 policy=None, overwrite=False):
        self.router = router
        self._queue = _deque()
        self._closed = False
        self.handle = None
        self.handle = router.add_handler(self._on_receive, handle, persist,
                                         policy, respondent, overwrite)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def to_sender(self):
        return Sender(self.router.myself(), self.handle)

    def _on_receive(self, msg):
        msg.receiver = self
        self._queue.append(msg)
        if self.notify:
            self.notify(self)

    def close(self):
        if self.handle:
            try:
                self.router.del_handler(self.handle)
            except KeyError:
                pass
            self.handle = None
        self._closed = True
        _notify()

    def size(self):
        return len(self._queue)

    def empty(self):
        return self.size() == 0

    def _poll(self):
        if self._queue:
            return self._queue.popleft()
        if self._closed:
            return _CLOSED

    def get(self, timeout=None, block=True, throw_dead=True):
        msg = _wait(self._poll, timeout if block else 0)
        if msg is _CLOSED:
            raise ChannelError('the Receiver has been closed')
        if throw_dead and msg.reply_to == IS_DEAD:
            msg._throw_dead()
        return msg

    def __iter__(self):
        while True:
            try:
                yield self.get()
            except ChannelError:
                return


class Channel(Sender, Receiver):
    """A Sender and a Receiver in one object."""
    def __init__(self, router, context, dst_handle, handle=None):
        Sender.__init__(self, context, dst_handle)
        Receiver.__init__(self, router, handle)

    def close(self):
        Receiver.close(self)
        Sender.close(self)


'--eager--'


class Context(object):
    """A handle on a context by id; messages to it go through the router."""
    name = None
    remote_name = None
    via = None

    def __init__(self, router, context_id, name=None):
        self.router = router
        self.context_id = context_id
        if name:
            self.name = name

    def __reduce__(self):
        return _M._unpickle_context, (self.context_id, self.name)

    def __repr__(self):
        return 'Context(%s, %r)' % (self.context_id, self.name)

    def on_disconnect(self):
        if '_signals' in vars(self):    # listen() was called
            fire(self, 'disconnect')

    def send(self, msg):
        msg.dst_id = self.context_id
        self.router.route(msg)

    def send_async(self, msg, persist=False):
        recv = _M.Receiver(self.router, persist=persist, respondent=self)
        msg.reply_to = recv.handle
        self.send(msg)
        return recv

    def send_await(self, msg, deadline=None):
        return self.send_async(msg).get(deadline).unpickle()


class Router(object):
    """Handle table and routing.  A leaf child has one stream, its parent:
    everything not addressed to this context goes up.  mitogen.parent
    (parent.py), once imported, adds child streams: it overrides route,
    _invoke and _forward on this instance."""
    max_message_size = 128 * 1048576
    unidirectional = False
    broker = None

    def __init__(self):
        self._handlers = {}
        self._by_respondent = {}
        self._contexts = {}
        self._next_handle = itertools.count(1000).__next__

    def myself(self):
        return Context(self, _my_id, 'self')

    def context_by_id(self, context_id, via_id=None, create=True, name=None):
        ctx = self._contexts.get(context_id)
        if ctx is None and create:
            ctx = self._contexts.setdefault(context_id,
                                            Context(self, context_id, name))
        return ctx

    def add_handler(self, fn, handle=None, persist=True, policy=None,
                    respondent=None, overwrite=False):
        handle = handle or self._next_handle()
        if handle in self._handlers and not overwrite:
            raise Error('cannot register a handle that is already in use')
        self._handlers[handle] = (fn, persist, policy, respondent)
        if respondent is not None:
            self._by_respondent.setdefault(respondent.context_id,
                                           set()).add(handle)
        return handle

    def del_handler(self, handle):
        respondent = self._handlers.pop(handle)[3]
        if respondent is not None:
            self._by_respondent.get(respondent.context_id, set()).discard(
                handle)

    def route(self, msg):
        """Send or deliver msg; callable from any thread."""
        if sum(map(len, msg._parts or (msg.data,))) > self.max_message_size:
            _M._dead(msg, 'message too large (max %d bytes)' %
                     self.max_message_size, False)
        elif msg.dst_id == _my_id:
            self._invoke(msg)
            _notify()
        else:
            _send(msg)

    def _forward(self, msg):
        # A frame from the parent for another context: a leaf has no route.
        _M._dead(msg, 'no route to %r, my ID is %r' % (msg.dst_id, _my_id))

    def _invoke(self, msg):
        entry = self._handlers.get(msg.handle)
        if entry is None:
            return _M._dead(msg, 'invalid handle')
        fn, persist, policy, respondent = entry
        if respondent is not None and msg.reply_to != IS_DEAD and \
                msg.src_id != respondent.context_id:
            return _M._dead(msg, 'reply from unexpected context')
        if policy is not None and not policy(msg, None):
            _log(30, 'refused by policy: %r' % (msg,))
            return _M._dead(msg, 'refused by policy')
        if not persist:
            try:
                self.del_handler(msg.handle)
            except KeyError:
                pass
        msg.router = self
        try:
            fn(msg)
        except Exception as e:
            _log(40, 'handler %r failed on %r: %s' % (fn, msg,
                                                      _M._format_exc(e)))


'--defer--'


def _on_disconnect(self, context_id):
    # Router._on_disconnect: context_id is gone (DEL_ROUTE, mitogen.parent).
    for handle in self._by_respondent.pop(context_id, ()):
        entry = self._handlers.pop(handle, None)
        if entry is not None:
            entry[0](Message.dead('the respondent Context has '
                                  'disconnected', handle=handle))
    ctx = self._contexts.get(context_id)
    if ctx is not None:
        ctx.on_disconnect()
    _notify()


Router._on_disconnect = _on_disconnect


def _on_del_route(msg):
    try:
        _router._on_disconnect(int(msg.data))
    except ValueError:
        pass


def _dead(msg, reason, unreachable=True):
    # Tell the sender (if it wants replies) or else the addressee that msg
    # could not be delivered.
    if msg.reply_to and msg.reply_to != IS_DEAD:
        _router.route(Message.dead(reason, dst_id=msg.src_id,
                                   handle=msg.reply_to))
    elif not unreachable:
        _router.route(Message.dead(reason, dst_id=msg.dst_id,
                                   handle=msg.handle))


'--eager--'


_SAFE_TYPES = {type(None), bool, int, float, str, bytes, tuple, list, dict}
_SAFE_BASES = (Blob, Secret, Kwargs, CallError, Context)     # + Sender


# ---------------------------------------------------------------- transport
_rfd = 0
_wfd = 1
_rbuf = bytearray()
_need = 0            # bytes still missing from the frame being received
_big = None          # [bytearray, bytes in it, frame end]: a big frame being
                     # received into a buffer of its own (_pump reads there)
_nesting = 0         # depth of _process() calls (handlers may read again)
_wlock = _thread.allocate_lock()
_corked = []         # frames written before MITO002; None once uncorked
_mutex = _thread.allocate_lock()
_waiters = []        # locks of threads waiting for something to change
_reader = None       # ident of the thread currently reading the transport
_router_thread = None  # mitogen.parent's routing thread: then the only reader
_seq = 0             # number of calls started (read by the watcher)
_rpoll = None
_wake_r = _wake_w = -1
_forked = False
_held = []           # replies held back while more calls wait (_wlock)
_watched = False     # the watcher writes them within a few ms (_wlock)
_hold_r = _hold_w = -1  # the watcher's pipe: replies are being held


def _write(*parts):
    # A frame: in one piece (one write), or in parts written as they are
    # (writev: a big payload is not copied).  Held replies go first, so
    # frames leave in the order they were made; _write() only flushes them.
    if _forked:
        return
    with _wlock:
        if _held:
            parts = tuple(_held) + parts
            del _held[:]
        elif not parts:
            return
        if _corked is not None:
            _corked.append(b''.join(parts))
            return
        try:
            if len(parts) == 1:
                n = os.write(_wfd, parts[0]) - len(parts[0])
            else:
                n = os.writev(_wfd, parts) - sum(map(len, parts))
            if n:
                _write_all(b''.join(parts)[n:])
        except OSError:
            _exit_now()


def _hold(frame):
    """A reply made while more calls are queued (pipelined calls): held for
    the next write, so that a burst of calls costs one write, not one each.
    The main thread writes the held replies once the queue runs short or
    before it waits for anything; the watcher writes them within a few ms
    if a call runs long meanwhile.  It is woken only if it is not watching
    already: a burst of calls wakes it every few ms, not for every write."""
    global _watched
    if _forked:
        return
    with _wlock:
        _held.append(frame)
        n = len(_held)
        # The 64th is written at once, with the rest: nothing left to watch.
        wake = n < 64 and not _watched
        _watched |= wake
    if n >= 64:
        _write()
    elif wake:
        try:
            os.write(_hold_w, b'\0')
        except OSError:
            pass


def _write_all(data):
    while data:
        data = data[os.write(_wfd, data):]


def _uncork():
    # MITO002, then the frames queued before it, before any other frame.
    global _corked
    with _wlock:
        _write_all(b''.join([b'MITO002\n'] + _corked))
        _corked = None


def _send(msg):
    parts = msg._parts or (msg.data,)
    _write(_HDR.pack(HEADER_MAGIC, msg.dst_id, msg.src_id, msg.auth_id,
                     msg.handle, msg.reply_to or 0, sum(map(len, parts))),
           *parts)


def _forward_log(name, level, text):
    data = ('%s\0%d\0%s' % (name, level, text)).encode('utf-8', 'replace')
    _write(_HDR.pack(HEADER_MAGIC, 0, _my_id, _my_id, FORWARD_LOG, 0,
                     len(data)), data)


def _log(level, text, name='mitogen'):
    if level >= _log_level:
        _forward_log(name, level, text)


def _exit_now(status=0):
    os._exit(status)


def _fatal(text):
    _log(50, text)
    _exit_now(1)


def _process():
    """Dispatch every complete frame in _rbuf; return the bytes missing, or
    -1 after a big frame: read only the next header, so that a next big
    frame is read straight into its own buffer, not copied there."""
    global _nesting, _big
    buf = _rbuf
    after_big = 0
    _nesting += 1
    try:
        while True:
            big = _big
            if big and buf:     # mitogen.parent's routing thread took over
                buf[:0] = big[0][:big[1]]
                big = _big = None
            raw, have = big[:2] if big else (buf, len(buf))
            if have < HEADER_LEN:
                return after_big if not have else 0
            magic, dst, src, auth, handle, reply_to, size = \
                _HDR.unpack_from(raw)
            if magic != HEADER_MAGIC:
                _fatal('Corruption detected: frame signature incorrect: %r'
                       % bytes(buf[:2048]))
            if size > _router.max_message_size:
                _fatal('Maximum message size exceeded (got %d, max %d)' % (
                    size, _router.max_message_size))
            end = HEADER_LEN + size
            if have < end:
                if not big and size > CHUNK_SIZE and _router_thread is None \
                        and '_big_buffer' in _M.__dict__:
                    # Big: _pump reads the rest into a buffer of its own
                    # (once the deferred code is here: this frame may be
                    # in front of it).
                    _big = [_M._big_buffer(end), have, end]
                    _big[0][:have] = buf
                    del buf[:]
                return end - have
            if big:
                _big = None
                after_big = -1
                msg = _new(_M._BigMessage)
                msg._parts = memoryview(raw)[HEADER_LEN:end],
            else:
                msg = _new(Message)
                msg.data = bytes(buf[HEADER_LEN:end])
                del buf[:end]
            msg.dst_id, msg.src_id, msg.auth_id, msg.handle, msg.reply_to = \
                dst, src, auth, handle, reply_to
            if dst == _my_id:
                _router._invoke(msg)
            else:
                _router._forward(msg)
    finally:
        _nesting -= 1


'--defer--'


_spares = []         # earlier big frames' buffers, reused once no view holds them


def _big_buffer(size):
    # Streams send frame after frame of the same size, a few in flight: the
    # buffers of earlier ones are reused once nothing refers to them any more
    # (their messages are gone, or were unpickled): no zeroing, no page
    # faults, no heap growing and shrinking per frame.  Up to 8 buffers of
    # up to 1 MiB each are kept for this.
    for buf in _spares:
        if len(buf) >= size and _getrefcount(buf) <= 3:
            return buf
    buf = bytearray(size)
    if size <= 1 << 20:
        if len(_spares) >= 8:
            del _spares[0]
        _spares.append(buf)
    return buf


'--eager--'


def _pump(timeout):
    """One reader step: wait up to timeout seconds (None: forever) for the
    transport, read once and dispatch what arrived."""
    global _need
    if _nesting and len(_rbuf) >= HEADER_LEN and \
            len(_rbuf) >= HEADER_LEN + _HDR.unpack_from(_rbuf)[6]:
        # A handler is reading again while frames are still buffered.
        _need = _process()
        return
    events = _rpoll.poll(None if timeout is None else
                         max(0, int(timeout * 1000) + 1))
    readable = False
    for fd, ev in events:
        if fd == _wake_r:
            try:
                os.read(_wake_r, 4096)
            except OSError:
                pass
        else:
            readable = True
    if readable:
        try:
            if _big:
                n = os.readv(_rfd, [memoryview(_big[0])[_big[1]:_big[2]]])
                _big[1] += n
            else:
                data = os.read(_rfd, HEADER_LEN if _need < 0 else
                               min(max(CHUNK_SIZE, _need), 1048576))
                _rbuf.extend(data)
                n = len(data)
        except OSError:
            n = 0
        if not n:
            _log(10, 'parent stream is gone, exiting')
            _exit_now()
        _need = _process()


def _notify_locked():
    if _waiters:
        for lock in _waiters:
            lock.release()
        del _waiters[:]
    if _reader is not None and _reader != _get_ident():
        try:
            os.write(_wake_w, b'\0')
        except OSError:
            pass


def _notify():
    """Something changed (local delivery, close): wake waiting threads."""
    if not _forked:
        with _mutex:
            _notify_locked()


def _after_fork():
    # A fork of this process (multiprocessing, os.fork) shares the transport
    # fds: it must neither write frames nor read the parent's messages.
    global _forked, _big
    _forked = True
    _big = None
    _calls.clear()


def _wait(pred, timeout=None):
    """Return pred()'s first true value, reading the transport meanwhile if
    no other thread does; TimeoutError after timeout seconds."""
    global _reader
    if _forked:
        raise StreamError('only the process the master started may read '
                          'its connection, not a fork of it')
    if _held:   # nobody waits with replies held: they may be what unblocks it
        _write()
    me = _get_ident()
    deadline = None if timeout is None else _monotonic() + timeout
    tried = False
    _mutex.acquire()
    try:
        while True:
            result = pred()
            if result:
                return result
            remaining = None
            if deadline is not None:
                remaining = deadline - _monotonic()
                if remaining <= 0 and tried:
                    raise TimeoutError('timed out')
            if _reader == me or _reader is None and \
                    _router_thread in (None, me):
                outer, _reader = _reader, me
                _mutex.release()
                try:
                    _pump(remaining)
                finally:
                    _mutex.acquire()
                    _reader = outer
                    _notify_locked()
            else:
                lock = _thread.allocate_lock()
                lock.acquire()
                _waiters.append(lock)
                _mutex.release()
                try:
                    lock.acquire(True, -1 if remaining is None else
                                 max(0, remaining))
                finally:
                    _mutex.acquire()
                    if lock in _waiters:
                        _waiters.remove(lock)
            tried = True
    finally:
        _mutex.release()


# ------------------------------------------------- stdout/stderr, watcher
_capture = {}        # read end of the stdout/stderr pipe -> [name, partial]
_cap_lock = _thread.allocate_lock()


# Eager: the watcher thread drains; the exit path too, maybe with the
# parent gone.
def _drain(fd):
    """Read once from a capture pipe and log complete lines; False at EOF."""
    with _cap_lock:
        state = _capture.get(fd)
        if state is None:
            return False
        try:
            data = os.read(fd, CHUNK_SIZE)
        except BlockingIOError:
            return True
        except OSError:
            data = b''
        lines = (state[1] + data).split(b'\n')
        state[1] = lines.pop()
        if not data:
            if state[1]:
                lines.append(state[1])
            del _capture[fd]
        if _log_level <= 20:
            for line in lines:
                _forward_log(state[0], 20, line.decode('utf-8', 'replace'))
        return bool(data)


# The exit path is eager: a SHUTDOWN runs no deferred code.
def _flush_output():
    for fp in sys.stdout, sys.stderr:
        try:
            fp.flush()
        except Exception:
            pass
    poller = select.poll()
    for fd in list(_capture):
        poller.register(fd, select.POLLIN)
    while True:
        events = poller.poll(0)
        if not events:
            break
        for fd, ev in events:
            if not _drain(fd):
                poller.unregister(fd)
    with _cap_lock:
        for name, partial in _capture.values():
            if partial and _log_level <= 20:
                _forward_log(name, 20, partial.decode('utf-8', 'replace'))


def _shutdown(status=0):
    _write()                    # replies held back, if any
    _flush_output()
    _wlock.acquire(True, 2)     # let a frame being written finish
    _exit_now(status)


def _try_pump(token):
    # Watcher: read for the main thread if it has been in the same call since
    # the watcher last saw data waiting.
    global _reader
    with _mutex:
        if _reader is not None or _seq != token:
            return
        _reader = _get_ident()
    try:
        _pump(0)
    finally:
        with _mutex:
            _reader = None
            _notify_locked()


def _watch():
    global _watched
    poller = select.poll()
    armed = select.POLLIN | _RDHUP
    poller.register(_rfd, armed)
    if _wfd != _rfd:
        poller.register(_wfd, 0)
    poller.register(_hold_r, select.POLLIN)
    for fd in _capture:
        poller.register(fd, select.POLLIN)
    help_at = flush_at = token = None
    while True:
        try:
            due = list(filter(None, (help_at, flush_at)))
            events = poller.poll(max(0, int((min(due) - _monotonic()) * 1000)
                                     + 1) if due else None)
            now = _monotonic()
            if flush_at and now >= flush_at:
                # Replies still held behind a long call, whichever batch.
                flush_at = None
                with _wlock:
                    _watched = False
                _write()
            if help_at and now >= help_at:
                help_at = None
                _try_pump(token)
                poller.modify(_rfd, armed)
            for fd, ev in events:
                if fd == _hold_r:
                    os.read(_hold_r, 4096)
                    flush_at = flush_at or now + 0.002
                elif fd in _capture:
                    if not _drain(fd):
                        poller.unregister(fd)
                elif ev & _HUP:
                    _exit_now()
                elif help_at is None:
                    # Data is waiting; give its reader 50 ms before helping.
                    token = _seq
                    poller.modify(_rfd, _RDHUP)
                    help_at = now + 0.05
        except Exception as e:
            _log(40, 'watcher: %s' % _M._format_exc(e))
            time.sleep(0.1)


# ------------------------------------------------------------ module import
'--lazy--'


class _LoggingLoader(object):
    # Wraps the real loader of 'logging' to hook our handler in once loaded.
    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def create_module(self, spec):
        return self._real.create_module(spec)

    def exec_module(self, module):
        self._real.exec_module(module)
        _hook_logging(module)


_emitting = set()


def _hook_logging(logging):
    class ForwardHandler(logging.Handler):
        def emit(self, rec):
            me = _get_ident()
            if me in _emitting or rec.name == 'mitogen.io':
                return
            _emitting.add(me)
            try:
                _forward_log(rec.name, rec.levelno, self.format(rec))
            except Exception:
                pass
            finally:
                _emitting.discard(me)

    root = logging.getLogger()
    root.setLevel(_log_level)
    root.addHandler(ForwardHandler())


_SAFE_BASES += (Sender,)
_extra_here = 1
'--eager--'


class Importer(object):
    """sys.meta_path finder and loader: modules not found locally are asked
    from the parent with GET_MODULE (_ask, _fetch; the rest of the finder
    and the loader's methods are deferred code)."""
    ALWAYS_BLACKLIST = ['builtins', '__builtin__', 'msvcrt', 'thread', 'org',
                        'cStringIO']
    timeout = 60.0

    def __init__(self, blacklist=()):
        self.blacklist = list(blacklist) + self.ALWAYS_BLACKLIST
        self._cache = {}     # fullname -> LOAD_MODULE tuple
        self._present = {}   # package name -> submodule names
        self._inflight = set()

    def _is_ours(self, module):
        return getattr(getattr(module, '__spec__', None), 'loader', None) \
            is self or getattr(module, '__loader__', None) is self

    def find_spec(self, fullname, path=None, target=None):
        if fullname.endswith('.'):
            return None
        pkg, _, leaf = fullname.rpartition('.')
        if pkg:
            # Submodules of local packages are Python's business.
            if not self._is_ours(sys.modules.get(pkg)):
                return None
            present = self._present.get(pkg)
            if present is not None and leaf not in present:
                return None
        elif fullname != '__main__':
            for finder in sys.meta_path:
                if finder is self:
                    continue
                find = getattr(finder, 'find_spec', None)
                spec = find and find(fullname, path, target)
                if spec is not None:
                    if fullname == 'logging' and spec.loader is not None:
                        spec.loader = _M._LoggingLoader(spec.loader)
                    return spec
        if not _under(fullname, self.blacklist):
            _ask(fullname)  # first: the deferred code may be on its way too
        return _M._remote_spec(self, fullname)

    def _on_load_module(self, msg):
        if msg.is_dead:
            return
        tup = msg.unpickle()
        if type(tup) is not tuple or len(tup) != 5 or type(tup[0]) is not str:
            raise StreamError('bad LOAD_MODULE message: %r' % (tup,))
        self._cache[tup[0]] = tup
        self._inflight.discard(tup[0])


def _under(name, prefixes):
    # Is name one of the modules listed, or inside one?  Whole dotted
    # components only: 'thread' does not cover 'threading'.
    for p in prefixes:
        if name == p or name.startswith(p + '.'):
            return True
    return False


def _ask(name):
    # GET_MODULE name unless it is here or asked for already; returns a
    # function giving its LOAD_MODULE tuple once it is here.
    cache = _importer._cache
    with _mutex:
        first = name not in cache and name not in _importer._inflight
        if first:
            # A first message makes the parent send the deferred code.
            _importer._inflight.update((name, _DEFERRED))
    if first:
        _router.route(Message(dst_id=_parent_ids[0], handle=GET_MODULE,
                              data=name.encode('utf-8')))
    return lambda: cache.get(name)


'--defer--'


def _fetch(fullname):
    # The LOAD_MODULE tuple of fullname, asked from the parent if need be.
    if fullname not in _importer._cache and \
            _under(fullname, _importer.blacklist):
        raise ModuleNotFoundError('No module named %r (blacklisted)'
                                  % fullname, name=fullname)
    try:
        tup = _wait(_ask(fullname), _importer.timeout)
    except TimeoutError:
        raise ImportError('parent did not serve %r in time'
                          % fullname, name=fullname)
    if tup[2] is None:
        raise ModuleNotFoundError('No module named %r (not found here nor '
                                  'by the parent)' % fullname, name=fullname)
    return tup


def _remote_spec(self, fullname):
    tup = _fetch(fullname)
    spec = _ModuleSpec(fullname, self, origin='master:' + tup[2],
                       is_package=tup[1] is not None)
    spec.has_location = True
    return spec


def _create_module(self, spec):
    return None


def _exec_module(self, module):
    name = module.__spec__.name
    tup = self._cache[name]
    if tup[1] is not None:
        self._present[name] = tup[1]
    code = compile(self.get_source(name), 'master:' + tup[2], 'exec',
                   dont_inherit=True)
    exec(code, module.__dict__)


def _get_source(self, fullname):
    tup = self._cache.get(fullname)
    if tup is not None and tup[3] is not None:
        return zlib.decompress(tup[3]).decode('utf-8')


Importer.create_module = _create_module
Importer.exec_module = _exec_module
Importer.get_source = _get_source
'--eager--'


# ------------------------------------------------------------------- calls
class Dispatcher(object):
    """Runs CALL_FUNCTION requests on the main thread, one at a time, with
    Mitogen's call chain semantics."""
    def __init__(self, econtext):
        self.econtext = econtext
        self._error_by_chain_id = {}

    @classmethod
    @takes_econtext
    def forget_chain(cls, chain_id, econtext):
        econtext.dispatcher._error_by_chain_id.pop(chain_id, None)

    def _handle(self, msg):
        try:
            if msg.reply_to == IS_DEAD:
                msg._throw_dead()
            chain_id, modname, klass, func, args, kwargs = _loads(
                msg._parts[0] if msg._parts else msg.data)
            if _debug:
                _log(10, 'dispatching %r' % ((chain_id, modname, klass, func,
                                              args, kwargs),))
            obj = _modules.get(modname)
            if obj is None:
                __import__(modname)
                obj = _modules[modname]
            if klass:
                obj = getattr(obj, klass)
            fn = getattr(obj, func)
            if getattr(fn, 'mitogen_takes_econtext', False):
                kwargs.setdefault('econtext', self.econtext)
            if getattr(fn, 'mitogen_takes_router', False):
                kwargs.setdefault('router', self.econtext.router)
            result = self._error_by_chain_id.get(chain_id)
        except Exception as e:
            chain_id, result = None, CallError(e)
        else:
            if result is None:
                try:
                    result = fn(*args, **kwargs)
                except Exception as e:
                    result = CallError(e)
                    if chain_id is not None:
                        self._error_by_chain_id[chain_id] = result
        if msg.reply_to:
            data = _dumps(result)
            if type(data) is tuple or msg.src_id == _my_id or len(data) >= \
                    4096 or len(data) > _router.max_message_size:
                # route() writes big ones as they are, or refuses them.
                msg.reply(Message.pickled(result) if type(data) is tuple
                          else Message(data=data))
            else:   # the usual case, without building a Message
                (_hold if len(_calls) > 1 else _write)(
                    _HDR.pack(HEADER_MAGIC, msg.src_id, _my_id, _my_id,
                              msg.reply_to, 0, len(data)) + data)
        elif chain_id is None and isinstance(result, CallError):
            _log(40, 'No-reply function call failed: %s' % (result,))


class ExternalContext(object):
    """What econtext= gives a called function."""
    def __init__(self, config):
        self.config = config
        self.router = _router
        self.importer = _importer
        self.context_id = _my_id
        self.parent_ids = _parent_ids
        self.name = config.get('name')
        self.parent = _router.context_by_id(_parent_ids[0])
        self.master = _router.context_by_id(0)
        self.context = _router.myself()
        self.dispatcher = Dispatcher(self)


_calls = _deque()
_CLOSED = object()


def _next_call():
    return _calls and _calls.popleft()


'--defer--'


def _on_call_service(msg):
    msg.reply(CallError('services are not supported by this child'))


_deferred_here = 1
'--eager--'


def _on_shutdown(msg):
    if not msg.is_dead:
        _log(10, 'shutdown requested by context %d' % msg.src_id)
        _shutdown()


def _serve():
    global _seq
    handle = _dispatcher._handle
    calls = _calls
    while True:
        # Only this thread takes calls (a fork of it has none: _after_fork).
        msg = calls.popleft() if calls else _wait(_next_call)
        _seq += 1
        handle(msg)


def _setup_stdio():
    # fd 0 -> /dev/null; fds 1 and 2 -> pipes whose lines become log records.
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.close(null)
    if os.isatty(2):
        # Keep the TTY open, else its loss may SIGHUP us (sudo, su).
        _M._tty_fd = os.dup(2)
    for fd, name in (1, 'stdout'), (2, 'stderr'):
        r, w = os.pipe()
        os.dup2(w, fd)
        os.close(w)
        os.set_blocking(r, False)
        _capture[r] = [name, b'']
        setattr(sys, name, open(fd, 'w', 1, encoding='utf-8',
                                errors='backslashreplace', closefd=False))


def _main(config):
    global _my_id, _log_level, _debug, _router, _importer, _dispatcher, \
        _rfd, _wfd, _rpoll, _wake_r, _wake_w, _hold_r, _hold_w
    _my_id = config.get('context_id', 1)
    _parent_ids[:] = config.get('parent_ids') or [0]
    _log_level = config.get('log_level', 30)
    _debug = bool(config.get('debug'))

    _rfd = os.dup(0)
    _wfd = os.dup(1)
    _wake_r, _wake_w = os.pipe()
    os.set_blocking(_wake_w, False)
    _hold_r, _hold_w = os.pipe()
    os.set_blocking(_hold_w, False)
    _rpoll = select.poll()
    for fd in _rfd, _wake_r:
        _rpoll.register(fd, select.POLLIN)

    _router = Router()
    _router.max_message_size = config.get('max_message_size',
                                          Router.max_message_size)
    _importer = Importer(config.get('blacklist', ()))
    econtext = ExternalContext(config)
    _dispatcher = econtext.dispatcher
    _M.econtext = econtext

    pkg = type(sys)('mitogen')
    pkg.__path__ = []
    pkg.__package__ = 'mitogen'
    pkg.__loader__ = _importer
    pkg.core = _M
    pkg.is_master = False
    pkg.context_id = _my_id
    pkg.parent_ids = _parent_ids
    pkg.parent_id = _parent_ids[0]
    pkg.__version__ = tuple(config.get('version', (0, 3, 3)))
    sys.modules['mitogen'] = pkg
    sys.modules['mitogen.core'] = _M
    # Calls to __main__ functions fetch the master's __main__.
    sys.modules.pop('__main__', None)
    sys.meta_path.insert(0, _importer)

    add = _router.add_handler
    add(_calls.append, CALL_FUNCTION, policy=has_parent_authority)
    add(_on_shutdown, SHUTDOWN, policy=has_parent_authority)
    add(_importer._on_load_module, LOAD_MODULE, policy=has_parent_authority)
    add(lambda msg: _M._on_call_service(msg), CALL_SERVICE,
        policy=has_parent_authority)
    add(lambda msg: _M._on_del_route(msg), DEL_ROUTE)     # (deferred)

    if config.get('setup_stdio', True):
        _setup_stdio()
    if hasattr(os, 'register_at_fork'):
        os.register_at_fork(after_in_child=_after_fork)
    _thread.start_new_thread(_watch, ())
    if _debug:
        _log(10, 'child %d of %r: pid %d, Python %s' % (
            _my_id, _parent_ids, os.getpid(), sys.version.split()[0]))
    try:
        _uncork()
        if 'logging' in sys.modules:    # (the hook's code is fetched)
            _M._hook_logging(sys.modules['logging'])
        _serve()
    except SystemExit as e:
        _M._shutdown(e.code if isinstance(e.code, int) else 1)
    except BaseException as e:
        _log(50, 'child main loop crashed: %s' % _M._format_exc(e))
        _M._shutdown(1)


_main(_C)
