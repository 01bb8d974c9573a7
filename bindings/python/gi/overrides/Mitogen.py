"""PyGObject overrides for Mitogen: Python values in and out of calls,
receivers that iterate, and awaitable calls for asyncio.

The C API takes and returns GLib.Variant; these helpers convert Python
values with the same mapping the child uses (see the overview in the
reference manual), so that

    router = Mitogen.Router()
    context = router.local(python_path="python3")
    context.call(os.getpid)
    context.call("os.path.join", "a", "b")

work as they do with upstream Mitogen.
"""

import asyncio
import functools
import threading

from gi.repository import GLib

from ..overrides import override
from ..module import get_introspection_module

Mitogen = get_introspection_module("Mitogen")

__all__ = []

_INT64_MIN = -(2 ** 63)
_INT64_MAX = 2 ** 63 - 1
_UINT64_MAX = 2 ** 64 - 1


def to_variant(value):
    """Converts a Python value to the GLib.Variant mitogen-glib pickles."""
    if isinstance(value, GLib.Variant):
        return value
    if value is None:
        return GLib.Variant("mv", None)
    if isinstance(value, bool):
        return GLib.Variant("b", value)
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return GLib.Variant("x", value)
        if 0 <= value <= _UINT64_MAX:
            return GLib.Variant("t", value)
        raise OverflowError("%d does not fit in 64 bits" % (value,))
    if isinstance(value, float):
        return GLib.Variant("d", value)
    if isinstance(value, str):
        return GLib.Variant("s", value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return GLib.Variant("ay", bytes(value))
    if isinstance(value, Mitogen.Context):
        return GLib.Variant("o", "/mitogen/context/%d" % (value.get_context_id(),))
    if isinstance(value, Mitogen.Sender):
        return value.to_variant()
    if isinstance(value, list):
        return GLib.Variant("av", [to_variant(item) for item in value])
    if isinstance(value, tuple):
        return GLib.Variant("(" + "v" * len(value) + ")",
                            tuple(to_variant(item) for item in value))
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return GLib.Variant("a{sv}", {key: to_variant(item) for key, item in value.items()})
        if all(isinstance(key, int) and not isinstance(key, bool) for key in value):
            return GLib.Variant("a{xv}", {key: to_variant(item) for key, item in value.items()})
        raise TypeError("dictionary keys must be all str or all int")
    raise TypeError("cannot send %r to a context" % (type(value).__name__,))


def from_variant(variant):
    """Converts a received GLib.Variant to the Python value it stands for."""
    if variant is None:
        return None
    type_string = variant.get_type_string()
    if type_string == "v":
        return from_variant(variant.get_variant())
    if type_string.startswith("m"):
        inner = variant.get_maybe()
        return None if inner is None else from_variant(inner)
    if type_string == "ay":
        return bytes(variant.get_data_as_bytes().get_data())
    if type_string.startswith("a{"):
        result = {}
        for i in range(variant.n_children()):
            entry = variant.get_child_value(i)
            result[from_variant(entry.get_child_value(0))] = from_variant(entry.get_child_value(1))
        return result
    if type_string.startswith("a"):
        return [from_variant(variant.get_child_value(i)) for i in range(variant.n_children())]
    if type_string.startswith("("):
        return tuple(from_variant(variant.get_child_value(i)) for i in range(variant.n_children()))
    return variant.unpack()


def _split_callable(fn):
    """(module, class or None, function) for a callable or 'mod.func' string."""
    if isinstance(fn, str):
        module, _, name = fn.rpartition(".")
        if not module:
            raise ValueError("%r is not of the form module.function" % (fn,))
        return module, None, name
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", getattr(fn, "__name__", None))
    if module is None or qualname is None or "<" in qualname:
        raise TypeError("%r cannot be called remotely: closures, lambdas and "
                        "bound methods have no importable name" % (fn,))
    parts = qualname.split(".")
    if len(parts) == 1:
        return module, None, parts[0]
    if len(parts) == 2:
        return module, parts[0], parts[1]
    raise TypeError("%r is nested too deeply to be called remotely" % (fn,))


def _call_arguments(args, kwargs):
    return (to_variant(tuple(args)) if args else None,
            to_variant(dict(kwargs)) if kwargs else None)


class _Bridge(object):
    """A thread running a private GLib main context, where async calls for
    asyncio are started so that their callbacks have a loop to run in."""

    _instance = None
    _lock = threading.Lock()

    def __init__(self):
        self.context = GLib.MainContext.new()
        self.loop = GLib.MainLoop.new(self.context, False)
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,),
                                       name="mitogen-asyncio-bridge", daemon=True)
        self.thread.start()
        ready.wait()

    def _run(self, ready):
        self.context.push_thread_default()
        ready.set()
        self.loop.run()

    @classmethod
    def get(cls):
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def run_soon(self, func):
        source = GLib.idle_source_new()
        source.set_callback(lambda *unused: func() and False)
        source.attach(self.context)


def _await_gasync(start, finish):
    """Runs start(callback) in the bridge thread and returns an asyncio
    future resolved with finish(result)."""
    loop = asyncio.get_event_loop()
    future = loop.create_future()

    def done(source, result, *unused):
        try:
            value = finish(result)
        except Exception as exc:  # delivered to the awaiting task
            loop.call_soon_threadsafe(_set_exception, future, exc)
        else:
            loop.call_soon_threadsafe(_set_result, future, value)

    _Bridge.get().run_soon(lambda: start(done))
    return future


def _set_result(future, value):
    if not future.done():
        future.set_result(value)


def _set_exception(future, exc):
    if not future.done():
        future.set_exception(exc)


class Router(Mitogen.Router):
    def __new__(cls, broker=None, **properties):
        """A router on broker (a new one if None); keyword arguments set
        its properties (cache_directory)."""
        router = Mitogen.Router.new(broker)
        for name, value in properties.items():
            router.set_property(name.replace("_", "-"), value)
        return router

    def __init__(self, broker=None, **properties):
        pass

    def local(self, options=None, cancellable=None, **properties):
        """Starts a local child; keyword arguments set ConnectionOptions
        properties (python_path, connect_timeout, upstream_core_path...)."""
        if options is None:
            options = Mitogen.ConnectionOptions.new()
        for name, value in properties.items():
            options.set_property(name.replace("_", "-"), value)
        return Mitogen.Router.local(self, options, cancellable)

    def _connect(self, method, options_type, options, cancellable, properties):
        if options is None:
            options = options_type(**properties)
        else:
            for name, value in properties.items():
                options.set_property(name.replace("_", "-"), value)
        return method(self, options, cancellable)

    def ssh(self, options=None, cancellable=None, **properties):
        """Starts a child over ssh; keyword arguments set SshOptions
        properties (hostname, username, port, identity_file, password...)."""
        return self._connect(Mitogen.Router.ssh, Mitogen.SshOptions, options, cancellable, properties)

    def sudo(self, options=None, cancellable=None, **properties):
        """Starts a child through sudo; keyword arguments set SudoOptions
        properties (username, password, via...)."""
        return self._connect(Mitogen.Router.sudo, Mitogen.SudoOptions, options, cancellable, properties)

    def su(self, options=None, cancellable=None, **properties):
        return self._connect(Mitogen.Router.su, Mitogen.SuOptions, options, cancellable, properties)

    def doas(self, options=None, cancellable=None, **properties):
        return self._connect(Mitogen.Router.doas, Mitogen.DoasOptions, options, cancellable, properties)

    def connect_target(self, target, defaults=None, cancellable=None, **properties):
        """Connects a target string such as 'ssh:web1/sudo:root'. defaults
        (ConnectionOptions), or keyword arguments naming its properties,
        set the shared settings of every hop."""
        if defaults is None and properties:
            defaults = Mitogen.ConnectionOptions(**properties)
        elif properties:
            for name, value in properties.items():
                defaults.set_property(name.replace("_", "-"), value)
        return Mitogen.Router.connect_target(self, target, defaults, cancellable)

    async def local_aio(self, options=None, **properties):
        """Awaitable local(): starts a child without blocking the event loop."""
        if options is None:
            options = Mitogen.ConnectionOptions.new()
        for name, value in properties.items():
            options.set_property(name.replace("_", "-"), value)
        return await _await_gasync(
            lambda done: self.local_async(options, None, done),
            lambda result: self.local_finish(result))


Router = override(Router)
__all__.append("Router")


class Context(Mitogen.Context):
    def call(self, fn, *args, **kwargs):
        """Calls fn(*args, **kwargs) in the context and returns its result as
        a Python value. fn is a module-level function or class/static
        method, or a "module.function" string. A remote exception raises
        GLib.Error in the Mitogen.Error domain (code CALL)."""
        module, class_name, function = _split_callable(fn)
        args_variant, kwargs_variant = _call_arguments(args, kwargs)
        return from_variant(self.call_sync(module, class_name, function,
                                           args_variant, kwargs_variant, -1, None))

    def call_with_deadline(self, seconds, fn, *args, **kwargs):
        """As call(), failing with Mitogen.Error.TIMEOUT after seconds."""
        module, class_name, function = _split_callable(fn)
        args_variant, kwargs_variant = _call_arguments(args, kwargs)
        return from_variant(self.call_sync(module, class_name, function,
                                           args_variant, kwargs_variant,
                                           int(seconds * 1e6), None))

    def call_no_reply(self, fn, *args, **kwargs):
        if isinstance(fn, str) and "." not in fn:
            raise ValueError("%r is not of the form module.function" % (fn,))
        module, class_name, function = _split_callable(fn)
        args_variant, kwargs_variant = _call_arguments(args, kwargs)
        return Mitogen.Context.call_no_reply(self, module, class_name, function,
                                             args_variant, kwargs_variant)

    async def call_aio(self, fn, *args, **kwargs):
        """Awaitable call(): the event loop keeps running while the child
        works, and the result arrives as a Python value."""
        module, class_name, function = _split_callable(fn)
        args_variant, kwargs_variant = _call_arguments(args, kwargs)
        return await _await_gasync(
            lambda done: self.call_async(module, class_name, function,
                                         args_variant, kwargs_variant, None, done),
            lambda result: from_variant(self.call_finish(result)))

    def send(self, handle, value):
        return Mitogen.Context.send(self, handle, to_variant(value))


Context = override(Context)
__all__.append("Context")


class Receiver(Mitogen.Receiver):
    def __iter__(self):
        """Yields each message's value until the channel ends."""
        while True:
            try:
                message = self.get(-1, None)
            except GLib.Error as error:
                if error.matches(Mitogen.error_quark(), Mitogen.Error.CHANNEL):
                    return
                raise
            yield from_variant(message.unpickle())

    def get_value(self, timeout=None, cancellable=None):
        usec = -1 if timeout is None else int(timeout * 1e6)
        return from_variant(Mitogen.Receiver.get_value(self, usec, cancellable))


Receiver = override(Receiver)
__all__.append("Receiver")


class Sender(Mitogen.Sender):
    def send(self, value):
        return self.put(to_variant(value))

    def put(self, value):
        return Mitogen.Sender.put(self, to_variant(value))


Sender = override(Sender)
__all__.append("Sender")


class Message(Mitogen.Message):
    def unpickle_value(self):
        """The payload as a Python value."""
        return from_variant(self.unpickle())


Message = override(Message)
__all__.append("Message")

__all__ += ["to_variant", "from_variant"]
