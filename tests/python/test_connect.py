"""The ssh and sudo connection methods through PyGObject, against the
real sshd and accounts of tests/system (skipped when that environment is
absent or the tests do not run as root)."""

import os
import subprocess
import sys
import threading
import unittest

import gi

gi.require_version("Mitogen", "1.0")
from gi.repository import GLib, Mitogen  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))
import systemenv  # noqa: E402

PYTHON = os.environ.get("MITOGEN_TEST_PYTHON") or "python3"
SYSTEM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system")


def cli_path():
    """The command-line tool of the same build tree as the typelib."""
    typelib_dir = os.environ.get("GI_TYPELIB_PATH", "").split(os.pathsep)[0]
    path = os.path.join(os.path.dirname(typelib_dir), "tools", "mitogen-glib")
    return path if typelib_dir and os.access(path, os.X_OK) else None


class ConnectTest(unittest.TestCase):
    def setUp(self):
        self.env = systemenv.require()
        self.router = Mitogen.Router()

    def tearDown(self):
        self.router.shutdown()
        self.assertTrue(self.router.get_broker().join(15 * 1000000))

    def ssh_options(self, user, **properties):
        options = Mitogen.SshOptions.new(self.env.host)
        options.props.port = self.env.port
        options.props.username = user
        options.props.ssh_args = ["-F", "/dev/null", "-o", "GlobalKnownHostsFile=/dev/null"]
        options.props.known_hosts_file = self.env.known_hosts
        options.props.connect_timeout = 20.0
        for name, value in properties.items():
            setattr(options.props, name, value)
        return options

    def assert_account(self, context, user):
        import pwd
        self.assertEqual(context.call(os.getuid), pwd.getpwnam(user).pw_uid)
        self.assertEqual(context.call("getpass.getuser"), user)

    def assert_error(self, caught, code):
        error = caught.exception
        self.assertTrue(error.matches(Mitogen.error_quark(), code),
                        "expected %s, got %s: %s" % (code, error.code, error.message))

    def test_key_login(self):
        options = self.ssh_options(self.env.t1, identity_file=self.env.user_key)
        context = self.router.ssh(options, None)
        self.assert_account(context, self.env.t1)

    def test_password_login(self):
        options = self.ssh_options(self.env.t2, password=self.env.password(self.env.t2))
        context = self.router.ssh(options, None)
        self.assert_account(context, self.env.t2)

    def test_wrong_password(self):
        options = self.ssh_options(self.env.t2, password="not-the-password")
        with self.assertRaises(GLib.Error) as caught:
            self.router.ssh(options, None)
        self.assert_error(caught, Mitogen.Error.BAD_PASSWORD)

    def test_password_required(self):
        with self.assertRaises(GLib.Error) as caught:
            self.router.ssh(self.ssh_options(self.env.t2), None)
        self.assert_error(caught, Mitogen.Error.PASSWORD_REQUIRED)

    def test_unknown_host_key(self):
        options = self.ssh_options(self.env.t1, identity_file=self.env.user_key,
                                   known_hosts_file="/dev/null",
                                   host_key_policy=Mitogen.HostKeyPolicy.ENFORCE)
        with self.assertRaises(GLib.Error) as caught:
            self.router.ssh(options, None)
        self.assert_error(caught, Mitogen.Error.HOST_KEY)

    def test_ssh_async_in_main_loop(self):
        loop = GLib.MainLoop()
        results = []

        def done(router, result):
            results.append((threading.current_thread() is threading.main_thread(),
                            router.ssh_finish(result)))
            loop.quit()

        options = self.ssh_options(self.env.t1, identity_file=self.env.user_key)
        self.router.ssh_async(options, None, done)
        GLib.timeout_add_seconds(30, loop.quit)
        loop.run()
        self.assertEqual(len(results), 1)
        on_main_thread, context = results[0]
        self.assertTrue(on_main_thread)
        self.assert_account(context, self.env.t1)

    def test_sudo(self):
        options = Mitogen.SudoOptions.new(self.env.t1)
        options.props.python_path = PYTHON
        context = self.router.sudo(options, None)
        self.assert_account(context, self.env.t1)

    def test_target_string(self):
        defaults = Mitogen.ConnectionOptions.new()
        defaults.props.python_path = PYTHON
        context = self.router.connect_target("sudo:" + self.env.t1, defaults, None)
        self.assert_account(context, self.env.t1)
        hops = Mitogen.target_parse("ssh:%s@%s:%d" % (self.env.t1, self.env.host, self.env.port), None)
        self.assertEqual(len(hops), 1)
        self.assertIsInstance(hops[0], Mitogen.SshOptions)
        self.assertEqual(hops[0].props.port, self.env.port)


class CliConnectTest(unittest.TestCase):
    """mitogen-glib call with ssh and sudo targets."""

    def setUp(self):
        self.env = systemenv.require()
        self.cli = cli_path()
        if self.cli is None:
            self.skipTest("tools/mitogen-glib is not built next to the typelib")

    def run_cli(self, *args, env=None, timeout=90):
        full_env = dict(os.environ)
        full_env.pop("MITOGEN_PASSWORD", None)
        full_env.update(env or {})
        return subprocess.run([self.cli, "call", "--python", PYTHON] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=full_env, timeout=timeout)

    def ssh_target(self, user):
        return "ssh:%s@%s:%d" % (user, self.env.host, self.env.port)

    def ssh_flags(self):
        return ["--ssh-arg=-F", "--ssh-arg=/dev/null", "--known-hosts", self.env.known_hosts,
                "-o", "GlobalKnownHostsFile=/dev/null"]

    def test_ssh_key(self):
        result = self.run_cli(self.ssh_target(self.env.t1), *self.ssh_flags(),
                              "--identity-file", self.env.user_key, "getpass.getuser")
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(result.stdout.strip(), '"%s"' % self.env.t1)

    def test_ssh_password_from_environment(self):
        result = self.run_cli(self.ssh_target(self.env.t2), *self.ssh_flags(), "getpass.getuser",
                              env={"MITOGEN_PASSWORD": self.env.password(self.env.t2)})
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(result.stdout.strip(), '"%s"' % self.env.t2)

    def test_ssh_password_missing(self):
        result = self.run_cli(self.ssh_target(self.env.t2), *self.ssh_flags(), "getpass.getuser")
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("password", result.stderr)

    def test_ssh_ask_password(self):
        # On a terminal of its own, as a person would type it.
        result = subprocess.run(
            [sys.executable, os.path.join(SYSTEM_DIR, "ptyrun.py"), "--timeout", "60",
             "--expect", "Password: ", "--send", "@env:MITOGEN_TEST_PW", "--",
             self.cli, "call", "--python", PYTHON, "--ask-password", self.ssh_target(self.env.t2)]
            + self.ssh_flags() + ["getpass.getuser"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=90,
            env=dict(os.environ, MITOGEN_TEST_PW=self.env.password(self.env.t2)))
        self.assertEqual(result.returncode, 0, result)
        self.assertIn('"%s"' % self.env.t2, result.stdout)
        self.assertNotIn(self.env.password(self.env.t2), result.stdout)

    def test_sudo(self):
        result = self.run_cli("sudo:" + self.env.t1, "getpass.getuser")
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(result.stdout.strip(), '"%s"' % self.env.t1)

    def test_bad_host_key_policy(self):
        result = self.run_cli("--host-key-policy", "trust-me", self.ssh_target(self.env.t1), "os.getpid")
        self.assertEqual(result.returncode, 2, result)


if __name__ == "__main__":
    unittest.main()
