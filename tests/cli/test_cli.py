"""Tests of the mitogen-glib command-line tool and the fanout example.

Environment:
  MITOGEN_CLI          the built tools/mitogen-glib (the tests skip without it)
  MITOGEN_FANOUT       the built examples/fanout (default: next to the tool,
                       ../examples/fanout)
  MITOGEN_TEST_PYTHON  the children's interpreter (default: python3)

Run: MITOGEN_CLI=build/tools/mitogen-glib python3 tests/cli/test_cli.py -v
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

CLI = os.environ.get("MITOGEN_CLI")
PYTHON = os.environ.get("MITOGEN_TEST_PYTHON") or "python3"
UPSTREAM_CORE = "/usr/lib/python3/dist-packages/mitogen/core.py"
TIMEOUT = 120


def fanout_path():
    path = os.environ.get("MITOGEN_FANOUT")
    if path:
        return path
    if CLI:
        guess = os.path.join(os.path.dirname(os.path.abspath(CLI)), os.pardir, "examples", "fanout")
        if os.path.exists(guess):
            return guess
    return None


class Result:
    def __init__(self, process):
        self.returncode = process.returncode
        self.stdout = process.stdout.decode("utf-8")
        self.stderr = process.stderr.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.stdout)

    def __repr__(self):
        return "rc=%d stdout=%r stderr=%r" % (self.returncode, self.stdout, self.stderr)


def run(*args, python=True):
    argv = [CLI] + list(args)
    if python and args and args[0] == "call":
        # First, so that it stays an option even after "--".
        argv[2:2] = ["--python", PYTHON]
    env = dict(os.environ, LC_ALL="C.UTF-8")
    process = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env, timeout=TIMEOUT)
    return Result(process)


@unittest.skipUnless(CLI, "MITOGEN_CLI is not set: point it at the built tools/mitogen-glib")
class CliTestCase(unittest.TestCase):
    def call(self, *args, **kwargs):
        """Runs `mitogen-glib call ARGS`, expects success, returns the JSON."""
        result = run("call", *args, **kwargs)
        self.assertEqual(result.returncode, 0, result)
        self.assertTrue(result.stdout.endswith("\n"), result)
        self.assertEqual(result.stdout.count("\n"), 1, result)
        return result.json()

    def call_fails(self, code, *args):
        result = run("call", *args)
        self.assertEqual(result.returncode, code, result)
        self.assertEqual(result.stdout, "", result)
        return result


class CallTests(CliTestCase):
    def test_getpid(self):
        pid = self.call("os.getpid")
        self.assertIsInstance(pid, int)
        self.assertGreater(pid, 0)
        self.assertNotEqual(pid, os.getpid())

    def test_local_target(self):
        self.assertIsInstance(self.call("local", "os.getpid"), int)

    def test_module_split_at_last_dot(self):
        self.assertEqual(self.call("os.path.join", "a", "b"), "a/b")

    def test_json_arguments(self):
        self.assertEqual(self.call("builtins.sorted", "[3,1,2]"), [1, 2, 3])

    def test_kwargs(self):
        self.assertEqual(self.call("builtins.sorted", "[3,1,2]", "--kwargs", '{"reverse": true}'),
                         [3, 2, 1])
        self.assertIsNone(self.call("builtins.max", "[]", "--kwargs", '{"default": null}'))

    def test_options_anywhere(self):
        self.assertEqual(self.call("--pretty", "builtins.max", "3", "--timeout", "30", "4"), 4)

    def test_negative_numbers_and_separator(self):
        self.assertEqual(self.call("builtins.min", "-5", "-2.5e1", "-7"), -25.0)
        self.assertEqual(self.call("builtins.str", "--", "--not-an-option"), "--not-an-option")

    def test_plain_strings(self):
        # Not JSON, so plain strings: "5 x" (trailing text) and "0123" (a
        # leading zero) included.
        self.assertEqual(self.call("builtins.repr", "hello world"), "'hello world'")
        self.assertEqual(self.call("builtins.repr", "5 x"), "'5 x'")
        self.assertEqual(self.call("builtins.repr", "0123"), "'0123'")
        self.assertEqual(self.call("builtins.repr", ""), "''")

    def test_types_round_trip(self):
        value = [1, 2.5, None, True, False, "x", "caf\u00e9 \U0001F600", {"k": [1, {}]}, [],
                 9223372036854775807, 9223372036854775808, 18446744073709551615,
                 -9223372036854775808, 0.1, -0.0, 1e300]
        self.assertEqual(self.call("builtins.list", json.dumps(value)), value)

    def test_arguments_arrive_as_python_types(self):
        text = self.call("builtins.repr", '[1, 2.0, null, true, "s", {"a": [1]}, 18446744073709551615]')
        self.assertEqual(text, "[1, 2.0, None, True, 's', {'a': [1]}, 18446744073709551615]")

    def test_unicode_escapes(self):
        result = run("call", "builtins.str", '"\\u00e9\\ud83d\\ude00\\n\\"\\\\\\/"')
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(result.json(), "\u00e9\U0001F600\n\"\\/")
        # Non-ASCII stays UTF-8 in the output; control characters are escaped.
        self.assertEqual(result.stdout, '"\u00e9\U0001F600\\n\\"\\\\/"\n')

    def test_control_characters_escaped(self):
        result = run("call", "builtins.chr", "1")
        self.assertEqual(result.stdout, '"\\u0001"\n', result)
        result = run("call", "builtins.chr", "127")
        self.assertEqual(result.stdout, '"\\u007f"\n', result)

    def test_floats(self):
        result = run("call", "builtins.float", "1")
        self.assertEqual(result.stdout, "1.0\n", result)
        result = run("call", "builtins.float", '"0.1"')
        self.assertEqual(result.stdout, "0.1\n", result)
        self.assertEqual(self.call("builtins.float", '"inf"'), "inf")
        self.assertEqual(self.call("builtins.float", '"-inf"'), "-inf")
        self.assertEqual(self.call("builtins.float", '"nan"'), "nan")

    def test_tuples_and_int_keys(self):
        self.assertEqual(self.call("builtins.divmod", "7", "2"), [3, 1])
        self.assertEqual(self.call("builtins.dict", '[[1, "one"], [-2, "minus two"]]'),
                         {"1": "one", "-2": "minus two"})

    def test_bytes(self):
        self.assertEqual(self.call("builtins.bytes", "[104, 105]"), "hi")
        self.assertEqual(self.call("builtins.bytes", "[0, 255, 1]"), {"base64": "AP8B"})
        random = self.call("os.urandom", "4")
        if isinstance(random, dict):
            import base64
            self.assertEqual(len(base64.b64decode(random["base64"])), 4)
        else:
            self.assertEqual(len(random.encode("utf-8")), 4)

    def test_pretty(self):
        result = run("call", "--pretty", "builtins.dict", "--kwargs", '{"a": [1, 2], "b": {}}')
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(result.stdout, '{\n  "a": [\n    1,\n    2\n  ],\n  "b": {}\n}\n')

    def test_class_method(self):
        self.assertEqual(self.call("--class", "dict", "builtins.fromkeys", '["a", "b"]', "0"),
                         {"a": 0, "b": 0})

    def test_user_module_on_path(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        with open(os.path.join(directory, "cli_test_module.py"), "w") as f:
            f.write(textwrap.dedent("""\
                import os

                def describe(name, punct="!"):
                    return {"greeting": "hello " + name + punct, "pid": os.getpid(),
                            "here": os.path.dirname(os.path.abspath(__file__))}

                class Tools:
                    @staticmethod
                    def double(x):
                        return x * 2
                """))
        result = self.call("--path", directory, "cli_test_module.describe", "bob",
                           "--kwargs", '{"punct": "?"}')
        self.assertEqual(result["greeting"], "hello bob?")
        self.assertNotEqual(result["pid"], os.getpid())
        # The child has no such directory: the module came from us.
        self.assertNotEqual(result["here"], directory)
        self.assertEqual(self.call("--path", directory, "--class", "Tools",
                                   "cli_test_module.double", "21"), 42)


class ErrorTests(CliTestCase):
    def test_remote_exception(self):
        result = self.call_fails(1, "builtins.int", "not a number")
        self.assertIn("ValueError", result.stderr)
        self.assertIn("not a number", result.stderr)

    def test_missing_module(self):
        result = self.call_fails(1, "no_such_module_for_cli_tests.f")
        self.assertRegex(result.stderr, r"(ImportError|ModuleNotFoundError)")
        self.assertIn("no_such_module_for_cli_tests", result.stderr)

    def test_missing_function(self):
        result = self.call_fails(1, "os.no_such_function")
        self.assertIn("AttributeError", result.stderr)

    def test_result_out_of_range(self):
        result = self.call_fails(1, "builtins.pow", "2", "70")
        self.assertIn("64 bits", result.stderr)

    def test_timeout(self):
        start = time.monotonic()
        result = self.call_fails(1, "time.sleep", "30", "--timeout", "1")
        self.assertIn("did not return", result.stderr)
        self.assertLess(time.monotonic() - start, 20)

    def test_bad_python(self):
        result = run("call", "--python", "/nonexistent/python3", "os.getpid", python=False)
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("/nonexistent/python3", result.stderr)

    def test_targets(self):
        result = self.call_fails(2, "fork", "os.getpid")
        self.assertIn("needs a context to fork", result.stderr)
        result = self.call_fails(2, "ssh", "os.getpid")
        self.assertIn("needs a host", result.stderr)
        # Loopback only: a closed port is refused at once.
        result = self.call_fails(1, "--connect-timeout", "10", "ssh:127.0.0.1:1", "os.getpid")
        self.assertIn("Connection refused", result.stderr)
        # A fork of a local child, and a chain of local hops, run through
        # the via= machinery.
        result = subprocess.run([CLI, "call", "--python", PYTHON, "local/fork", "os.getppid"],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertGreater(int(result.stdout), 0)
        result = subprocess.run([CLI, "call", "--python", PYTHON, "local/local", "os.getppid"],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertGreater(int(result.stdout), 0)

    def test_malformed_targets(self):
        for target in ["bogus:x", "sudo:", "ssh:-oProxyCommand=x", "ssh:h:99999", "ssh:a:b:c",
                       "local:x", "fork:1", "local//local", "ssh:host/", "telnet:h", "ssh:user@"]:
            with self.subTest(target=target):
                result = self.call_fails(2, target, "os.getpid")
                self.assertIn("mitogen-glib:", result.stderr)
                self.assertNotIn("not supported yet", result.stderr)

    def test_usage_errors(self):
        cases = [
            [],                                     # no function
            ["os"],                                 # no dot
            ["os."],
            [".getpid"],
            ["os..getpid"],
            ["local"],                              # a target, no function
            ["os.getpid", "--no-such-option"],
            ["os.getpid", "--timeout", "-1"],
            ["os.getpid", "--kwargs", "[1]"],
            ["os.getpid", "--kwargs", "{"],
            ["os.getpid", "--class", ""],
            ["os.getpid", "--path", "/nonexistent/dir"],
            ["os.getpid", "--upstream-core", "/nonexistent/core.py"],
        ]
        for args in cases:
            with self.subTest(args=args):
                result = self.call_fails(2, *args)
                self.assertIn("Usage", result.stderr)

    def test_invalid_json_arguments(self):
        cases = {
            "[1,": "expected",
            "[1] x": "unexpected text",
            "{\"a\": 1, \"a\": 2}": "duplicate key",
            "\"\\ud800\"": "surrogate",
            "\"\\udc00\"": "surrogate",
            "\"\\u0000\"": "U+0000",
            "\"\\x\"": "invalid escape",
            "\"tab\there\"": "control character",
            "[01]": "expected",
            "[1.]": "digit",
            "{\"a\" 1}": "':'",
            "[" * 65 + "]" * 65: "nested deeper than 64",
            "18446744073709551616": "64 bits",
            "-9223372036854775809": "64 bits",
            "1e400": "out of the range",
        }
        for text, message in cases.items():
            with self.subTest(text=text):
                result = self.call_fails(2, "builtins.repr", text)
                self.assertIn(message, result.stderr)

    def test_nesting_within_limit(self):
        text = "[" * 30 + "]" * 30
        self.assertEqual(self.call("builtins.list", text), json.loads(text))


class CommandTests(CliTestCase):
    def test_version(self):
        result = run("--version")
        self.assertEqual(result.returncode, 0, result)
        self.assertRegex(result.stdout, r"^mitogen-glib \d+\.\d+\.\d+\n$")

    def test_help(self):
        for args in (["help"], ["--help"]):
            result = run(*args)
            self.assertEqual(result.returncode, 0, result)
            self.assertIn("mitogen-glib call", result.stdout)
        result = run("help", "call")
        self.assertEqual(result.returncode, 0, result)
        self.assertIn("--kwargs", result.stdout)
        self.assertIn("--upstream-core", result.stdout)

    def test_unknown_command(self):
        for args in ([], ["frobnicate"], ["help", "frobnicate"]):
            result = run(*args)
            self.assertEqual(result.returncode, 2, result)
            self.assertIn("Usage", result.stderr)


@unittest.skipUnless(os.path.exists(UPSTREAM_CORE), "python3-mitogen is not installed")
class UpstreamTests(CliTestCase):
    def test_getpid(self):
        pid = self.call("--upstream-core", UPSTREAM_CORE, "os.getpid")
        self.assertIsInstance(pid, int)
        self.assertNotEqual(pid, os.getpid())

    def test_values(self):
        value = [1, 2.5, None, True, "caf\u00e9", {"k": []}, 18446744073709551615]
        self.assertEqual(self.call("--upstream-core", UPSTREAM_CORE, "builtins.list",
                                   json.dumps(value)), value)
        self.assertEqual(self.call("--upstream-core", UPSTREAM_CORE, "builtins.sorted", "[3,1,2]",
                                   "--kwargs", '{"reverse": true}'), [3, 2, 1])

    def test_remote_exception(self):
        result = self.call_fails(1, "--upstream-core", UPSTREAM_CORE, "builtins.int", "nope")
        self.assertIn("ValueError", result.stderr)


@unittest.skipUnless(CLI and fanout_path(), "the fanout example was not found (set MITOGEN_FANOUT)")
class FanoutTests(unittest.TestCase):
    def test_three_children(self):
        process = subprocess.run([fanout_path(), "--children", "3", "--rounds", "20000",
                                  "--python", PYTHON],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
        stdout = process.stdout.decode("utf-8")
        self.assertEqual(process.returncode, 0, (stdout, process.stderr))
        answers = re.findall(r"^child (\S+) \(pid (\d+)\) answered in \d+ ms: (.*)$", stdout, re.M)
        self.assertEqual(len(answers), 3, stdout)
        self.assertEqual(sorted(name for name, _, _ in answers), ["worker-1", "worker-2", "worker-3"])
        pids = {int(pid) for _, pid, _ in answers}
        self.assertEqual(len(pids), 3)
        self.assertNotIn(os.getpid(), pids)


if __name__ == "__main__":
    unittest.main()
