"""The core scenarios through PyGObject: real python3 children, with
mitogen-glib's own runtime and with the upstream Mitogen child."""

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import gi

gi.require_version("Mitogen", "1.0")
from gi.repository import Gio, GLib, Mitogen  # noqa: E402

UPSTREAM_CORE = "/usr/lib/python3/dist-packages/mitogen/core.py"
HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "python")
PYTHON = os.environ.get("MITOGEN_TEST_PYTHON") or sys.executable


def child_options(upstream):
    options = Mitogen.ConnectionOptions.new()
    options.props.python_path = PYTHON
    if upstream:
        options.props.upstream_core_path = UPSTREAM_CORE
    return options


class CoreMixin(object):
    upstream = False

    def setUp(self):
        if self.upstream and not os.path.exists(UPSTREAM_CORE):
            self.skipTest("python3-mitogen is not installed (%s missing)" % UPSTREAM_CORE)
        self.router = Mitogen.Router()
        self.router.add_python_path(HELPERS)
        self.context = self.router.local(child_options(self.upstream))

    def tearDown(self):
        self.router.shutdown()
        self.assertTrue(self.router.get_broker().join(10 * 1000000))

    def test_call_pid(self):
        pid = self.context.call(os.getpid)
        self.assertIsInstance(pid, int)
        self.assertNotEqual(pid, os.getpid())
        self.assertEqual(self.context.call("mitogen_test_helpers.pid"), pid)

    def test_values_round_trip(self):
        values = [
            None, True, False, 0, -1, 2 ** 63 - 1, -(2 ** 63), 2 ** 64 - 1, 1.5,
            "caf\u00e9 \U0001F600", b"", b"\x00\xffbytes", [], [1, "two", [3.0]],
            (1, "x"), (), {"a": {"b": [None, True]}}, {1: "one", -2: "two"},
        ]
        for value in values:
            with self.subTest(value=value):
                self.assertEqual(self.context.call("mitogen_test_helpers.echo", value), value)

    def test_kwargs_and_class_methods(self):
        self.assertEqual(self.context.call("mitogen_test_helpers.echo_args", 1, flag=True),
                         [[1], {"flag": True}])
        self.assertEqual(self.context.call(sorted, [3, 1, 2], reverse=True), [3, 2, 1])
        double = Mitogen.Context.call_sync(self.context, "mitogen_test_helpers", "Calculator",
                                           "double", GLib.Variant("(x)", (21,)), None, -1, None)
        self.assertEqual(double.unpack(), 42)

    def test_remote_exception(self):
        with self.assertRaises(GLib.Error) as caught:
            self.context.call("mitogen_test_helpers.fail", "boom")
        error = caught.exception
        self.assertTrue(error.matches(Mitogen.error_quark(), Mitogen.Error.CALL))
        self.assertTrue(error.message.startswith("builtins.ValueError: boom"))
        self.assertIn("in fail", error.message)

    def test_package_from_master(self):
        self.assertEqual(self.context.call("mitogen_testpkg.area", 6), 36)

    def test_missing_module(self):
        start = time.monotonic()
        with self.assertRaises(GLib.Error) as caught:
            self.context.call("no_such_module_anywhere.f")
        self.assertTrue(caught.exception.matches(Mitogen.error_quark(), Mitogen.Error.CALL))
        self.assertIn("no_such_module_anywhere", caught.exception.message)
        self.assertLess(time.monotonic() - start, 10)

    def test_find_module_signal(self):
        """A module only this Python process knows is served through the
        find-module signal."""
        directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), "signal_modules")
        asked = []

        def find_module(router, fullname):
            asked.append((fullname, threading.current_thread() is threading.main_thread()))
            path = os.path.join(directory, fullname + ".py")
            return path if os.path.exists(path) else None

        self.router.connect("find-module", find_module)
        loop = GLib.MainLoop()
        results = []

        def done(context, result):
            try:
                results.append(Mitogen.from_variant(context.call_finish(result)))
            except GLib.Error as error:
                results.append(error)
            loop.quit()

        self.context.call_async("signal_served_module", None, "answer", None, None, None, done)
        GLib.timeout_add_seconds(20, loop.quit)
        loop.run()
        self.assertEqual(results, [42])
        self.assertIn(("signal_served_module", True), asked)

    def test_call_async_in_main_context(self):
        loop = GLib.MainLoop()
        seen = []

        def done(context, result):
            seen.append((threading.current_thread() is threading.main_thread(),
                         Mitogen.from_variant(context.call_finish(result))))
            if len(seen) == 5:
                loop.quit()

        for i in range(5):
            self.context.call_async("mitogen_test_helpers", None, "echo",
                                    GLib.Variant("(x)", (i,)), None, None, done)
        GLib.timeout_add_seconds(20, loop.quit)
        loop.run()
        self.assertEqual(sorted(seen), [(True, i) for i in range(5)])

    def test_asyncio_await(self):
        async def main():
            pids = await asyncio.gather(*[self.context.call_aio(os.getpid) for _ in range(10)])
            other = await self.router.local_aio(python_path=PYTHON,
                                                upstream_core_path=UPSTREAM_CORE if self.upstream else None)
            return pids, await other.call_aio(os.getpid)

        pids, other_pid = asyncio.run(main())
        self.assertEqual(len(set(pids)), 1)
        self.assertNotEqual(other_pid, pids[0])

    def test_cancel_pending_call(self):
        loop = GLib.MainLoop()
        cancellable = Gio.Cancellable()
        outcome = []

        def done(context, result):
            try:
                context.call_finish(result)
                outcome.append("finished")
            except GLib.Error as error:
                outcome.append(error)
            loop.quit()

        self.context.call_async("mitogen_test_helpers", None, "sleep",
                                GLib.Variant("(d)", (0.5,)), None, cancellable, done)
        cancellable.cancel()
        GLib.timeout_add_seconds(20, loop.quit)
        loop.run()
        self.assertTrue(outcome[0].matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED))
        self.assertEqual(self.context.call("mitogen_test_helpers.add", 1, 2), 3)

    def test_child_killed_mid_call(self):
        pid = self.context.call(os.getpid)
        threading.Timer(0.2, os.kill, (pid, signal.SIGKILL)).start()
        start = time.monotonic()
        with self.assertRaises(GLib.Error) as caught:
            self.context.call("mitogen_test_helpers.sleep", 30.0)
        elapsed = time.monotonic() - start - 0.2
        self.assertTrue(caught.exception.matches(Mitogen.error_quark(), Mitogen.Error.CHANNEL))
        self.assertLess(elapsed, 1.0)
        self.assertFalse(self.context.is_connected())

    def test_stream_from_child_through_sender(self):
        receiver = Mitogen.Receiver.new(self.router, 0, True, self.context)
        sender = receiver.to_sender()
        count = self.context.call("mitogen_test_helpers.stream_to", sender, 5)
        self.assertEqual(count, 5)
        self.assertEqual(list(receiver), [0, 1, 2, 3, 4])

    def test_fanout_with_select(self):
        """20 children started in parallel answer once each through a
        oneshot Select, in whatever order they finish."""
        loop = GLib.MainLoop()
        contexts = []

        def connected(router, result):
            contexts.append(router.local_finish(result))
            if len(contexts) == 20:
                loop.quit()

        for _ in range(20):
            self.router.local_async(child_options(self.upstream), None, connected)
        GLib.timeout_add_seconds(60, loop.quit)
        loop.run()
        self.assertEqual(len(contexts), 20)

        select = Mitogen.Select.new(True)
        for context in contexts:
            select.add_receiver(context.call_receiver("os", None, "getpid", None, None))
        pids = set()
        for _ in range(20):
            message, receiver = select.get(20 * 1000000, None)
            self.assertIsNotNone(receiver)
            pids.add(message.unpickle_value())
        self.assertEqual(len(pids), 20)
        self.assertEqual(select.get_size(), 0)

    def test_logs_are_forwarded(self):
        self.assertTrue(self.context.call("mitogen_test_helpers.log_and_print", "hello"))


class OwnChildTest(CoreMixin, unittest.TestCase):
    upstream = False


class CacheDirectoryTest(unittest.TestCase):
    """MitogenRouter:cache-directory through GI: a router keeps the runtime
    compiled for later programs, and one set to None keeps nothing."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mitogen-test-py-cache-")
        self.directory = os.path.join(self.tmp.name, "cache")

    def tearDown(self):
        self.tmp.cleanup()

    def first_boot_kind(self, directory):
        router = Mitogen.Router(cache_directory=directory)
        try:
            self.assertEqual(router.props.cache_directory, directory)
            router.add_python_path(HELPERS)
            context = router.local(child_options(False))
            return context.call("mitogen_test_helpers.boot_kind")
        finally:
            router.shutdown()
            self.assertTrue(router.get_broker().join(10 * 1000000))

    def test_kept_for_the_next_router(self):
        self.assertEqual(self.first_boot_kind(self.directory), "source")
        deadline = time.monotonic() + 30
        while not [n for n in os.listdir(self.directory) if n.endswith(".bytecode")]:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        self.assertEqual(self.first_boot_kind(self.directory), "bytecode")

    def test_none_keeps_nothing(self):
        router = Mitogen.Router()
        self.assertTrue(router.props.cache_directory.endswith("mitogen-glib"))
        router.props.cache_directory = None
        self.assertIsNone(router.dup_cache_directory())
        router.shutdown()
        self.assertTrue(router.get_broker().join(10 * 1000000))
        self.assertEqual(self.first_boot_kind(None), "source")


class UpstreamChildTest(CoreMixin, unittest.TestCase):
    upstream = True


MASTER_HELPER = r"""
import os, sys, time
import gi
gi.require_version("Mitogen", "1.0")
from gi.repository import Mitogen
router = Mitogen.Router()
options = Mitogen.ConnectionOptions.new()
options.props.python_path = sys.argv[1]
if sys.argv[2] == "upstream":
    options.props.upstream_core_path = sys.argv[3]
context = router.local(options)
pid = context.call(os.getpid)
context.call_no_reply("time.sleep", 60.0)
print(pid, flush=True)
time.sleep(60)
"""


class MasterKilledTest(unittest.TestCase):
    def check(self, mode):
        if mode == "upstream" and not os.path.exists(UPSTREAM_CORE):
            self.skipTest("python3-mitogen is not installed")
        helper = subprocess.Popen([sys.executable, "-c", MASTER_HELPER, PYTHON, mode, UPSTREAM_CORE],
                                  stdout=subprocess.PIPE, env=os.environ)
        try:
            child_pid = int(helper.stdout.readline())
            os.kill(child_pid, 0)
        finally:
            helper.kill()
            helper.wait()
            helper.stdout.close()
        # 5 s for a loaded CI machine: it takes milliseconds.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                os.kill(child_pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        self.fail("child %d outlived its SIGKILLed master by 5 s" % child_pid)

    def test_own(self):
        self.check("own")

    def test_upstream(self):
        self.check("upstream")


if __name__ == "__main__":
    unittest.main()
