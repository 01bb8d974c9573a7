"""Tests of intermediate mode (mitogen-glib/child/parent.py, served as
mitogen.parent): contexts started via other contexts, routing, module
forwarding, disconnection, fork, and (with the system-test environment of
tests/system) sudo, su, doas and ssh hops."""

import ast
import os
import re
import signal
import sys
import time
import unittest

import fakemaster as fm
from fakemaster import RemoteError, ChannelError
from test_runtime import read, strip_docstrings

HERE = os.path.dirname(os.path.abspath(__file__))
STAGE1_IN = os.path.join(fm.ROOT, 'mitogen-glib', 'child', 'stage1.py.in')
GRESOURCE = os.path.join(fm.ROOT, 'mitogen-glib', 'child',
                         'mitogen-child.gresource.xml')


def alive(pid):
    """Whether pid runs (a zombie counts as gone: it may be nobody's
    child to reap here)."""
    try:
        with open('/proc/%d/stat' % pid) as fp:
            return fp.read().rpartition(')')[2].split()[0] != 'Z'
    except OSError:
        return False


def wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.02)
    return False


class SourceTest(unittest.TestCase):
    def test_parent_parses_as_python_3_6(self):
        ast.parse(read(fm.PARENT), feature_version=(3, 6))

    def test_stage1_copy_is_identical(self):
        tree = ast.parse(read(fm.PARENT))
        copies = [ast.literal_eval(node.value) for node in tree.body
                  if isinstance(node, ast.Assign) and
                  [t.id for t in node.targets] == ['STAGE1']]
        with open(STAGE1_IN, encoding='utf-8') as fp:
            template = fp.read()
        self.assertEqual(copies, [template.rstrip('\n')])

    def test_minified_parent_is_the_same_program(self):
        original = strip_docstrings(ast.parse(read(fm.PARENT)))
        minified = ast.parse(fm.parent_source())
        self.assertEqual(ast.dump(original), ast.dump(minified))
        ast.parse(fm.parent_source(), feature_version=(3, 6))
        self.assertEqual(len(read(fm.PARENT).splitlines()),
                         len(fm.parent_source().splitlines()))

    def test_runtime_names_used_exist(self):
        # parent.py reaches into the runtime as `core.NAME`: every such
        # name must be defined at the runtime's top level.
        runtime = ast.parse(read(fm.RUNTIME))
        defined = set()
        for node in runtime.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            defined.add(name.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                defined.update((a.asname or a.name).split('.')[0]
                               for a in node.names)
        defined.update(('_S', '_M', '_C', 'econtext'))  # set by STAGE1/_main
        used = {node.attr for node in ast.walk(ast.parse(read(fm.PARENT)))
                if isinstance(node, ast.Attribute) and
                isinstance(node.value, ast.Name) and node.value.id == 'core'}
        self.assertEqual(sorted(used - defined), [])

    def test_gresource_lists_parent(self):
        self.assertIn('<file alias="parent.py">parent.py</file>',
                      read(GRESOURCE))

    def test_compressed_size(self):
        size = len(fm.build_runtime())
        parent = len(__import__('zlib').compress(fm.parent_source(), 9))
        sys.stderr.write('\n  runtime %d bytes compressed; parent.py %d '
                         '(minified %d, source %d) ' % (
                             size, parent, len(fm.parent_source()),
                             len(read(fm.PARENT).encode())))
        self.assertLess(size, 10240)


class PromptTest(unittest.TestCase):
    """The prompt rules, run inside a child (parent.py needs a runtime)."""

    @classmethod
    def setUpClass(cls):
        cls.master = fm.FakeMaster(log_level=30).start()

    @classmethod
    def tearDownClass(cls):
        cls.master.close()

    def is_prompt(self, text):
        return self.master.call('mitogen.parent', 'is_password_prompt', text)

    def events(self, method, chunks, token=None, command=None):
        return [tuple(e) for e in self.master.call(
            'viafuncs', 'prompt_events', method, chunks, token, command)]

    def test_password_prompts_in_many_languages(self):
        for text in ("\rmitogen-t1@127.0.0.1's password: ",
                     '[sudo] password for mitogen-t2: ',
                     '[sudo] Mot de passe de mitogen-t2\u00a0: ',
                     'Password: ', 'Mot de passe : ',
                     '\rdoas (mitogen-t2@vm) password: ',
                     'Passwort: ', 'Contrase\u00f1a: ',
                     '\u041f\u0430\u0440\u043e\u043b\u044c: ',
                     '\u5bc6\u7801\uff1a', '\u30d1\u30b9\u30ef\u30fc\u30c9:',
                     '(user@host) Password:'):
            self.assertTrue(self.is_prompt(text), repr(text))
        for text in ('Password', 'Changing password for x.',
                     'password: typed', 'Login: ', ''):
            self.assertFalse(self.is_prompt(text), repr(text))

    def test_ssh_lines(self):
        got = self.events('ssh', [
            b'No ED25519 host key is known for [127.0.0.1]:22220 and you have '
            b'requested strict checking.\r\nHost key verification failed.\r\n',
            b'mitogen-t1@127.0.0.1: Permission denied (publickey,password).\n',
            b'Permission denied (publickey).\n',
            b'bash: line 1: python3: command not found\n',
            b'bash: python3.99: command not found\n',
            b'ssh: connect to host 127.0.0.1 port 1: Connection refused\r\n',
            b"\rmitogen-t1@127.0.0.1's pass", b'word: '],
            command='/usr/bin/python3')
        self.assertEqual([e[0] for e in got], [
            'line', 'host-key-failed', 'permission-denied',
            'permission-denied', 'command-not-found', 'line',
            'connect-failed', 'password'])
        self.assertEqual([e[2] for e in got][2:4], [True, False])

    def test_sudo_token_and_su_doas_lines(self):
        token = 'mitogen-glib-0123:'
        self.assertEqual(self.events('sudo', [token.encode()], token=token),
                         [('password', token, False)])
        self.assertEqual(self.events('sudo', [b'sudo: a password is required'
                                              b'\n']),
                         [('password-needed', 'sudo: a password is required',
                           False)])
        self.assertEqual([e[0] for e in self.events('su', [
            b'Password: ', b'\r\n', b'su: Authentication failure\r\n'])],
            ['password', 'auth-failed'])
        self.assertEqual([e[0] for e in self.events('doas', [
            b'\rdoas (mitogen-t2@vm) password: ',
            b'\r\ndoas: Authentication failed\r\n',
            b'doas: Authentication required\n'])],
            ['password', 'auth-failed', 'password-needed'])
        # Split anywhere, even inside a UTF-8 sequence (the no-break
        # space before the colon).
        text = '[sudo] Mot de passe de x\u00a0: '.encode('utf-8')
        at = text.index(b'\xa0')
        self.assertEqual(self.events('su', [text[:at], text[at:]]),
                         [('password', text.decode('utf-8'), False)])


class ChainTest(unittest.TestCase):
    """master -> 1 -> 2 -> 1002, all local, shared by the tests."""

    @classmethod
    def setUpClass(cls):
        cls.master = m = fm.FakeMaster(log_level=10,
                                       related={'relmod': ['reldep']}).start()
        python = fm.child_python()
        cls.reply2 = m.proxy_connect(1, 'local', python_path=python)
        cls.reply3 = m.proxy_connect(cls.reply2['id'], 'local',
                                     python_path=python)
        cls.mid, cls.far = cls.reply2['id'], cls.reply3['id']

    @classmethod
    def tearDownClass(cls):
        cls.master.close()

    def call(self, dst, *args, **kwargs):
        return self.master.call(*args, _dst=dst, **kwargs)

    def test_replies_and_ids(self):
        self.assertEqual((self.mid, self.far), (2, 1002))
        for reply in self.reply2, self.reply3:
            self.assertEqual(set(reply), {'id', 'name', 'msg'})
            self.assertIsNone(reply['msg'])
            self.assertTrue(re.match(r'local\.\d+$', reply['name']), reply)

    def test_identities(self):
        one = self.call(1, 'viafuncs', 'identity')
        mid = self.call(self.mid, 'viafuncs', 'identity')
        far = self.call(self.far, 'viafuncs', 'identity')
        self.assertEqual(one['pid'], self.master.proc.pid)
        self.assertEqual((mid['context_id'], mid['parent_ids']), (2, [1, 0]))
        self.assertEqual((far['context_id'], far['parent_ids']),
                         (1002, [2, 1, 0]))
        self.assertEqual(mid['ppid'], one['pid'])
        self.assertEqual(far['ppid'], mid['pid'])
        self.assertEqual(self.reply3['name'], 'local.%d' % far['pid'])

    def test_deferred_code_from_the_intermediate(self):
        # The far context's first message brings it the runtime's deferred
        # parts from its own parent, the intermediate: nobody asks the
        # master for them on its behalf.
        self.call(self.far, 'viafuncs', 'identity')
        probe = 'list(__import__("mitogen.core").core._importer._cache)'
        deadline = time.monotonic() + 10
        while 'mitogen._deferred' not in self.call(self.far, 'builtins',
                                                   'eval', probe):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertNotIn('mitogen._deferred',
                         [name for src, name in self.master.get_module_srcs
                          if src != 1])

    def test_routes_announced_to_the_master(self):
        self.assertEqual(self.master.routes_added, [
            (1, 2, self.reply2['name']), (1, 1002, self.reply3['name'])])
        self.assertEqual(self.call(1, 'viafuncs', 'routes'), [2, 1002])
        self.assertEqual(self.call(self.mid, 'viafuncs', 'routes'), [1002])

    def test_many_calls_pipelined_to_every_hop(self):
        handles = []
        for i in range(300):
            dst = (1, self.mid, self.far)[i % 3]
            handles.append((i, self.master.call_async('viafuncs', 'echo',
                                                      [i, dst], _dst=dst)))
        for i, handle in handles:
            self.assertEqual(self.master.get_value(handle),
                             [i, (1, self.mid, self.far)[i % 3]])

    def test_big_payload_both_ways(self):
        blob = os.urandom(3 * 1048576)
        self.assertEqual(self.call(self.far, 'viafuncs', 'echo', blob,
                                   _timeout=30), blob)

    def test_errors_come_back_through_the_hops(self):
        with self.assertRaises(RemoteError) as caught:
            self.call(self.far, 'childfuncs', 'boom', 'far away')
        self.assertIn('ValueError: far away', str(caught.exception))

    def test_modules_served_by_the_intermediates(self):
        # Only the first hop ever asks the master, once per module; the
        # others are answered from their parent's cache.
        self.assertEqual(self.call(self.far, 'childfuncs', 'import_package'),
                         ('servedpkg.sub', [],
                          'master:' + os.path.join(fm.DATA, 'servedpkg',
                                                   'sub.py')))
        srcs = self.master.get_module_srcs
        self.assertEqual({src for src, _ in srcs}, {1})
        names = [name for _, name in srcs]
        self.assertEqual(len(names), len(set(names)), names)
        for name in 'mitogen.parent', 'childfuncs', 'servedpkg', \
                'servedpkg.sub':
            self.assertIn(name, names)
        logs = self.master.log_frames
        self.assertTrue([r for r in logs if r[0] == self.mid and
                         'asking the parent for servedpkg.sub (for' in r[3]])

    def test_forward_module(self):
        self.master.forward_module(self.far, 'relmod')
        self.assertEqual(self.call(self.far, 'viafuncs', 'cached',
                                   'reldep'), True)
        self.assertEqual(self.call(self.far, 'childfuncs', 'import_related'),
                         'relmod+reldep')
        self.assertNotIn('reldep', [n for _, n in
                                    self.master.get_module_srcs])
        for src, name, level, text in self.master.log_frames:
            self.assertNotIn('asking the parent for relmod', text)
            self.assertNotIn('asking the parent for reldep', text)

    def test_no_route(self):
        handle = self.master.call_async('posix', 'getpid', _dst=5555)
        with self.assertRaises(ChannelError) as caught:
            self.master.get_value(handle)
        self.assertEqual(str(caught.exception), 'no route to 5555, my ID is 1')

    def test_stdout_of_the_far_context(self):
        self.assertTrue(self.call(self.far, 'viafuncs', 'say', 'from afar'))
        self.master.wait_for(lambda: (self.far, 'stdout', 20, 'from afar')
                             in self.master.log_frames, what='log record')

    def test_far_context_sends_to_the_master(self):
        handle = self.master.new_handle()
        self.assertTrue(self.call(self.far, 'childfuncs', 'send_to_master',
                                  handle, 'hello'))
        frame = self.master.get(handle)
        self.assertEqual((frame.src, frame.auth), (self.far, self.far))
        self.assertEqual(fm.loads(frame.data), 'hello')

    def test_forged_ids_are_dropped(self):
        honest, forged = self.master.new_handle(), self.master.new_handle()
        # 1002 claims to be the master (authority over everything), then to
        # be context 2 (its parent): both dropped by the first hop that
        # sees them; its honest message arrives.
        self.call(self.far, 'viafuncs', 'forge', 0, 0, 0, forged, b'x')
        self.call(self.far, 'viafuncs', 'forge', 0, 2, 2, forged, b'y')
        self.call(self.far, 'viafuncs', 'forge', 0, 1002, 0, forged, b'z')
        self.call(self.far, 'viafuncs', 'send_raw', 0, honest, b'ok')
        self.assertEqual(self.master.get(honest).data, b'ok')
        # A forged call into the middle hop with the master's authority.
        reply = self.master.new_handle()
        request = fm.dumps((None, 'posix', None, 'getpid', (), fm.Kwargs()))
        self.call(self.far, 'viafuncs', 'forge', self.mid, 0, 0,
                  fm.CALL_FUNCTION, request)
        time.sleep(0.3)
        self.assertTrue(self.master._queue(forged).empty())
        self.assertTrue(self.master._queue(reply).empty())


class FailureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.master = fm.FakeMaster(log_level=30).start()

    @classmethod
    def tearDownClass(cls):
        cls.master.close()

    def failure(self, code, **kwargs):
        reply = self.master.proxy_connect(1, 'local', **kwargs)
        self.assertEqual((reply['id'], reply['name'], reply.get('code')),
                         (None, None, code), reply)
        self.assertTrue(reply['msg'].startswith('error occurred on host %s: '
                                                % os.uname()[1]), reply)
        return reply['msg']

    def test_python_not_found(self):
        msg = self.failure('CONNECT', python_path='/nonexistent/python3')
        self.assertIn('/nonexistent/python3 not found on %s: install it or '
                      'set python-path' % os.uname()[1], msg)

    def test_exit_127_is_not_found(self):
        msg = self.failure('CONNECT', python_path=['/bin/sh', '-c',
                                                   'exit 127'])
        self.assertIn('not found on', msg)

    def test_early_exit(self):
        msg = self.failure('CONNECT', python_path=[
            '/bin/sh', '-c', 'echo went wrong >&2; exit 3'])
        self.assertIn('status 3', msg)
        self.assertIn('went wrong', msg)

    def test_connect_timeout(self):
        t0 = time.monotonic()
        msg = self.failure('CONNECT_TIMEOUT', connect_timeout=0.5,
                           python_path=['/bin/sh', '-c', 'sleep 30'])
        self.assertLess(time.monotonic() - t0, 3)
        self.assertIn('timed out', msg)

    def test_unknown_method(self):
        reply = self.master.proxy_connect(1, 'teleport')
        self.assertEqual(reply['code'], 'CONNECT')
        self.assertIn("unsupported connection method 'teleport'",
                      reply['msg'])

    def test_still_usable_after_failures(self):
        reply = self.master.proxy_connect(1, 'local',
                                          python_path=fm.child_python())
        self.assertIsNone(reply['msg'])
        self.assertEqual(self.master.call('viafuncs', 'identity',
                                          _dst=reply['id'])['parent_ids'],
                         [1, 0])


class DisconnectTest(unittest.TestCase):
    """Each test has its own master -> 1 -> 2 -> 1002 chain."""

    def setUp(self):
        self.master = m = fm.FakeMaster(log_level=30).start()
        python = fm.child_python()
        self.mid = m.connect_via(1, 'local', python_path=python)
        self.far = m.connect_via(self.mid, 'local', python_path=python)
        self.pids = [m.proc.pid] + [m.call('posix', 'getpid', _dst=i)
                                    for i in (self.mid, self.far)]

    def tearDown(self):
        self.master.close()
        for pid in self.pids[1:]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    def test_killing_the_middle_hop(self):
        pending = self.master.call_async('viafuncs', 'sleep', 30,
                                         _dst=self.far)
        time.sleep(0.2)
        t0 = time.monotonic()
        os.kill(self.pids[1], signal.SIGKILL)
        self.master.wait_for(lambda: {(1, 2), (1, 1002)} <= set(
            self.master.routes_deleted), timeout=5, what='DEL_ROUTE')
        with self.assertRaises(ChannelError) as caught:
            self.master.get_value(pending, timeout=5)
        self.assertEqual(str(caught.exception),
                         'the respondent Context has disconnected')
        self.assertLess(time.monotonic() - t0, 2)
        with self.assertRaises(ChannelError) as caught:
            self.master.call('posix', 'getpid', _dst=self.far)
        self.assertEqual(str(caught.exception),
                         'no route to 1002, my ID is 1')
        self.assertTrue(wait_gone([self.pids[2]], 3),
                        'the far context outlived its parent')
        self.assertEqual(self.master.call('viafuncs', 'routes'), [])
        self.assertEqual(self.master.call('posix', 'getpid'), self.pids[0])

    def test_queued_messages_fail_when_the_child_dies(self):
        os.kill(self.pids[1], signal.SIGSTOP)
        blob = b'x' * (2 * 1048576)
        handles = [self.master.call_async('viafuncs', 'echo', blob,
                                          _dst=self.mid) for _ in range(4)]
        time.sleep(0.5)
        os.kill(self.pids[1], signal.SIGKILL)
        reasons = []
        for handle in handles:
            with self.assertRaises(ChannelError) as caught:
                self.master.get_value(handle, timeout=5)
            reasons.append(str(caught.exception))
        self.assertIn('no route to 2, my ID is 1', reasons)

    def test_far_context_exits(self):
        self.master.send(fm.SHUTDOWN, dst=self.far)
        self.master.wait_for(lambda: (1, 1002) in self.master.routes_deleted,
                             timeout=5, what='DEL_ROUTE 1002')
        self.assertNotIn((1, 2), self.master.routes_deleted)
        self.assertEqual(self.master.call('viafuncs', 'routes',
                                          _dst=self.mid), [])
        self.assertEqual(self.master.call('posix', 'getpid', _dst=self.mid),
                         self.pids[1])

    def test_shutdown_reaches_everyone(self):
        self.master.shutdown()
        self.assertTrue(wait_gone(self.pids, 4), [alive(p) for p in
                                                  self.pids])

    def test_master_disconnect_reaches_everyone(self):
        self.master.call_async('viafuncs', 'sleep', 30, _dst=self.far,
                               _reply=False)
        self.master.call_async('viafuncs', 'sleep', 30, _reply=False)
        time.sleep(0.2)
        self.master.disconnect()
        self.assertTrue(wait_gone(self.pids, 4), [alive(p) for p in
                                                  self.pids])

    def test_intermediate_busy_in_a_call_still_routes(self):
        self.master.call_async('viafuncs', 'sleep', 5, _dst=self.mid,
                               _reply=False)
        self.master.call_async('viafuncs', 'sleep', 5, _reply=False)
        time.sleep(0.1)
        t0 = time.monotonic()
        for i in range(20):
            self.assertEqual(self.master.call('viafuncs', 'echo', i,
                                              _dst=self.far), i)
        self.assertLess(time.monotonic() - t0, 2)


class ForkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.master = m = fm.FakeMaster(log_level=20).start()
        m.call('viafuncs', 'set_value', 'before the fork')
        cls.reply = m.proxy_connect(1, 'fork')
        cls.fork = cls.reply['id']

    @classmethod
    def tearDownClass(cls):
        cls.master.close()

    def call(self, dst, *args, **kwargs):
        return self.master.call(*args, _dst=dst, **kwargs)

    def test_identity(self):
        self.assertEqual(self.reply['msg'], None)
        one = self.call(1, 'viafuncs', 'identity')
        fork = self.call(self.fork, 'viafuncs', 'identity')
        self.assertEqual(self.reply['name'], 'fork.%d' % fork['pid'])
        self.assertNotEqual(fork['pid'], one['pid'])
        self.assertEqual(fork['ppid'], one['pid'])
        self.assertEqual((fork['context_id'], fork['parent_ids']),
                         (self.fork, [1, 0]))
        self.assertEqual(one['parent_ids'], [0])
        self.assertIn((1, self.fork, self.reply['name']),
                      self.master.routes_added)

    def test_warm_modules_and_separate_globals(self):
        before = list(self.master.get_module_srcs)
        self.assertEqual(self.call(self.fork, 'viafuncs', 'loaded',
                                   ['viafuncs']), [True])
        self.assertEqual(self.call(self.fork, 'viafuncs', 'get_value'),
                         'before the fork')
        self.call(1, 'viafuncs', 'set_value', 'parent after')
        self.assertEqual(self.call(self.fork, 'viafuncs', 'get_value'),
                         'before the fork')
        self.call(self.fork, 'viafuncs', 'set_value', 'fork after')
        self.assertEqual(self.call(1, 'viafuncs', 'get_value'),
                         'parent after')
        self.assertEqual(self.call(self.fork, 'viafuncs', 'get_value'),
                         'fork after')
        self.assertEqual(self.master.get_module_srcs, before)

    def test_output_is_the_forks_own(self):
        self.assertTrue(self.call(self.fork, 'viafuncs', 'say', 'in fork'))
        self.assertTrue(self.call(1, 'viafuncs', 'say', 'in parent'))
        self.master.wait_for(lambda: (self.fork, 'stdout', 20, 'in fork')
                             in self.master.log_frames, what='fork output')
        self.master.wait_for(lambda: (1, 'stdout', 20, 'in parent')
                             in self.master.log_frames, what='own output')
        self.assertNotIn((1, 'stdout', 20, 'in fork'),
                         self.master.log_frames)

    def test_fork_of_a_fork_and_children_of_a_fork(self):
        second = self.master.connect_via(self.fork, 'fork')
        info = self.call(second, 'viafuncs', 'identity')
        self.assertEqual(info['parent_ids'], [self.fork, 1, 0])
        local = self.master.connect_via(self.fork, 'local',
                                        python_path=fm.child_python())
        self.assertEqual(self.call(local, 'viafuncs', 'identity')
                         ['parent_ids'], [self.fork, 1, 0])
        self.assertEqual(self.call(self.fork, 'viafuncs', 'routes'),
                         sorted([second, local]))
        self.assertEqual(self.call(1, 'viafuncs', 'routes'),
                         sorted([self.fork, second, local]))

    def test_fork_exit_is_announced(self):
        other = self.master.connect_via(1, 'fork')
        pid = self.call(other, 'posix', 'getpid')
        self.master.send(fm.SHUTDOWN, dst=other)
        self.master.wait_for(lambda: (1, other) in
                             self.master.routes_deleted, what='DEL_ROUTE')
        self.assertTrue(wait_gone([pid], 3))
        self.assertEqual(self.call(self.fork, 'posix', 'getpid'),
                         self.call(self.fork, 'viafuncs', 'identity')['pid'])


class SpeedTest(unittest.TestCase):
    """Measures and prints the cost of each hop; asserts nothing about
    speed.  The fake master's socket is driven from this thread only."""

    def test_round_trips_through_hops(self):
        master = fm.FakeMaster(log_level=30).start(reader=False)
        buf = bytearray(master._buf)

        def frames():
            while True:
                while len(buf) >= 26:
                    header = fm.HDR.unpack_from(buf)
                    if len(buf) < 26 + header[6]:
                        break
                    frame = fm.Frame(*(header[1:6] + (bytes(
                        buf[26:26 + header[6]]),)))
                    del buf[:26 + header[6]]
                    yield frame
                data = master.sock.recv(1 << 20)
                if not data:
                    raise EOFError('the child closed the connection')
                buf.extend(data)

        incoming = frames()

        def connect(via):
            handle = master.call_async(
                'mitogen.parent', '_proxy_connect', name=None,
                method_name='local', _dst=via,
                kwargs=fm.Kwargs(python_path=fm.child_python()))
            while master._queue(handle).empty():
                master._on_frame(next(incoming))
            return master.get_value(handle)['id']

        def measure(dst):
            payload = fm.dumps((None, 'posix', None, 'getpid', (),
                                fm.Kwargs()))
            request = fm.HDR.pack(fm.MAGIC, dst, 0, 0, fm.CALL_FUNCTION,
                                  1000, len(payload)) + payload
            for _ in range(200):
                master.sock.sendall(request)
                next(incoming)
            t0 = time.perf_counter()
            for _ in range(2000):
                master.sock.sendall(request)
                next(incoming)
            sequential = (time.perf_counter() - t0) / 2000
            t0 = time.perf_counter()
            for _ in range(8):
                master.sock.sendall(request * 500)
                for _ in range(500):
                    next(incoming)
            return sequential * 1e6, (time.perf_counter() - t0) / 4000 * 1e6

        try:
            rows = [('1 (leaf)', measure(1))]
            mid = connect(1)
            rows.append(('1 (intermediate)', measure(1)))
            rows.append(('2 via 1', measure(mid)))
            far = connect(mid)
            rows.append(('1002 via 1, 2', measure(far)))
        finally:
            master.close()
        sys.stderr.write(''.join(
            '\n  posix.getpid in %-17s %6.1f us round trip, %5.1f us/call '
            'pipelined' % (name, seq, pipe) for name, (seq, pipe) in rows)
            + ' ')


def system_env(*features):
    sys.path.insert(0, os.path.join(fm.ROOT, 'tests', 'system'))
    try:
        import systemenv
    finally:
        sys.path.pop(0)
    return systemenv.require(*features)


SYSTEM_PYTHON = '/usr/bin/python3'


class SystemTest(unittest.TestCase):
    """Real sudo, su, doas and ssh (tests/system/README.md); skipped when
    that environment is not set up."""

    @classmethod
    def setUpClass(cls):
        cls.env = system_env('sudo', 'su', 'ssh')
        import pwd
        cls.uid = {user: pwd.getpwnam(user).pw_uid
                   for user in (cls.env.t1, cls.env.t2)}
        cls.master = fm.FakeMaster(log_level=30).start()

    @classmethod
    def tearDownClass(cls):
        cls.master.close()

    def via(self, via, method, **kwargs):
        kwargs.setdefault('python_path', SYSTEM_PYTHON)
        return self.master.proxy_connect(via, method, **kwargs)

    def connect(self, via, method, **kwargs):
        reply = self.via(via, method, **kwargs)
        self.assertIsNone(reply['msg'], reply)
        return reply['id']

    def fails(self, code, via, method, **kwargs):
        reply = self.via(via, method, **kwargs)
        self.assertEqual(reply.get('code'), code, reply)
        self.assertIsNone(reply['id'])
        return reply['msg']

    def uid_of(self, context_id):
        return self.master.call('posix', 'getuid', _dst=context_id)

    def as_user(self, user):
        """A context running as user (sudo from root, no password)."""
        if not hasattr(self, '_as'):
            type(self)._as = {}
        if user not in self._as:
            self._as[user] = self.connect(1, 'sudo', username=user)
        return self._as[user]

    def test_sudo_chain(self):
        t1 = self.as_user(self.env.t1)
        self.assertEqual(self.uid_of(t1), self.uid[self.env.t1])
        t2 = self.connect(t1, 'sudo', username=self.env.t2)    # NOPASSWD
        self.assertEqual(self.uid_of(t2), self.uid[self.env.t2])
        self.assertEqual(self.master.call('viafuncs', 'identity', _dst=t2)
                         ['parent_ids'], [t1, 1, 0])
        blob = os.urandom(300000)
        self.assertEqual(self.master.call('viafuncs', 'echo', blob, _dst=t2),
                         blob)

    def test_sudo_password(self):
        t2 = self.as_user(self.env.t2)
        root = self.connect(t2, 'sudo', username='root',
                            password=self.env.password(self.env.t2))
        self.assertEqual(self.uid_of(root), 0)
        self.fails('BAD_PASSWORD', t2, 'sudo', username='root',
                   password='wrong')
        msg = self.fails('PASSWORD_REQUIRED', t2, 'sudo', username='root')
        self.assertIn('sudo.root asked for a password and none was given',
                      msg)

    def test_sudo_password_required_in_french(self):
        system_env('locale-fr')
        t2 = self.as_user(self.env.t2)
        for name in 'LANG', 'LC_ALL', 'LANGUAGE':
            self.master.call('viafuncs', 'setenv', name, 'fr_FR.UTF-8',
                             _dst=t2)
        try:
            self.fails('PASSWORD_REQUIRED', t2, 'sudo', username='root')
            self.fails('BAD_PASSWORD', t2, 'sudo', username='root',
                       password='faux')
        finally:
            for name in 'LANG', 'LC_ALL', 'LANGUAGE':
                self.master.call('viafuncs', 'setenv', name, 'C.UTF-8',
                                 _dst=t2)

    def test_su_password(self):
        t1 = self.as_user(self.env.t1)
        t2 = self.connect(t1, 'su', username=self.env.t2,
                          password=self.env.password(self.env.t2))
        self.assertEqual(self.uid_of(t2), self.uid[self.env.t2])
        # Every byte value through the raw PTY, both ways.
        blob = bytes(range(256)) * 2000
        self.assertEqual(self.master.call('viafuncs', 'echo', blob, _dst=t2,
                                          _timeout=30), blob)
        self.assertTrue(self.master.call('viafuncs', 'say', 'via su',
                                         _dst=t2))

    def test_su_wrong_or_missing_password(self):
        t1 = self.as_user(self.env.t1)
        msg = self.fails('BAD_PASSWORD', t1, 'su', username=self.env.t2,
                         password='wrong')
        self.assertIn('su.%s: the password was refused' % self.env.t2, msg)
        self.fails('PASSWORD_REQUIRED', t1, 'su', username=self.env.t2)

    def test_su_in_french(self):
        system_env('locale-fr')
        t1 = self.as_user(self.env.t1)
        for name in 'LANG', 'LC_ALL', 'LANGUAGE':
            self.master.call('viafuncs', 'setenv', name, 'fr_FR.UTF-8',
                             _dst=t1)
        try:
            t2 = self.connect(t1, 'su', username=self.env.t2,
                              password=self.env.password(self.env.t2))
            self.assertEqual(self.uid_of(t2), self.uid[self.env.t2])
            self.fails('BAD_PASSWORD', t1, 'su', username=self.env.t2,
                       password='faux')
        finally:
            for name in 'LANG', 'LC_ALL', 'LANGUAGE':
                self.master.call('viafuncs', 'setenv', name, 'C.UTF-8',
                                 _dst=t1)

    def test_doas(self):
        system_env('doas')
        t2 = self.as_user(self.env.t2)
        root = self.connect(t2, 'doas', username='root',
                            password=self.env.password(self.env.t2))
        self.assertEqual(self.uid_of(root), 0)
        self.fails('BAD_PASSWORD', t2, 'doas', username='root',
                   password='wrong')
        self.fails('PASSWORD_REQUIRED', t2, 'doas', username='root')
        t1 = self.as_user(self.env.t1)
        self.assertEqual(self.uid_of(self.connect(t1, 'doas')), 0)

    def ssh_kwargs(self, **kwargs):
        args = dict(hostname=self.env.host, port=self.env.port,
                    username=self.env.t1, identity_file=self.env.user_key,
                    known_hosts_file=self.env.known_hosts,
                    ssh_args=['-F', '/dev/null', '-o',
                              'GlobalKnownHostsFile=/dev/null'],
                    python_path='python3', connect_timeout=20)
        args.update(kwargs)
        return args

    def test_ssh_and_ssh_from_there(self):
        env = self.env
        t1 = self.connect(1, 'ssh', **self.ssh_kwargs())
        self.assertEqual(self.uid_of(t1), self.uid[env.t1])
        name = [n for s, i, n in self.master.routes_added if i == t1][0]
        self.assertEqual(name, 'ssh.%s:%d' % (env.host, env.port))
        t2 = self.connect(t1, 'ssh', **self.ssh_kwargs(
            username=env.t2, identity_file=env.t1_user_key,
            known_hosts_file=env.t1_known_hosts))
        self.assertEqual(self.uid_of(t2), self.uid[env.t2])
        self.assertEqual(self.master.call('viafuncs', 'identity', _dst=t2)
                         ['parent_ids'], [t1, 1, 0])

    def test_ssh_password(self):
        env = self.env
        t1 = self.connect(1, 'ssh', **self.ssh_kwargs(
            identity_file=env.other_key, password=env.password(env.t1)))
        self.assertEqual(self.uid_of(t1), self.uid[env.t1])
        msg = self.fails('BAD_PASSWORD', 1, 'ssh', **self.ssh_kwargs(
            identity_file=env.other_key, password='wrong'))
        self.assertIn('the password was refused', msg)
        self.fails('PASSWORD_REQUIRED', 1, 'ssh', **self.ssh_kwargs(
            identity_file=env.other_key))

    def test_ssh_host_keys(self):
        env = self.env
        self.fails('HOST_KEY', 1, 'ssh', **self.ssh_kwargs(
            known_hosts_file=env.known_hosts_changed))
        self.fails('HOST_KEY', 1, 'ssh', **self.ssh_kwargs(
            known_hosts_file='/dev/null'))
        self.assertEqual(self.uid_of(self.connect(1, 'ssh', **self.ssh_kwargs(
            known_hosts_file='/dev/null', check_host_keys='ignore'))),
            self.uid[env.t1])

    def test_ssh_through_network_namespaces(self):
        # far is reachable only from mid: the master reaches it via mid.
        sys.path.insert(0, os.path.join(fm.ROOT, 'tests', 'system'))
        try:
            import systemenv
        finally:
            sys.path.pop(0)
        net = systemenv.require_netns()
        msg = self.fails('CONNECT', 1, 'ssh', **self.ssh_kwargs(
            hostname=net.far_host, port=net.far_port, connect_timeout=5))
        self.assertIn('No route to host', msg)
        mid = self.connect(1, 'ssh', **self.ssh_kwargs(
            hostname=net.mid_host, port=net.mid_port))
        far = self.connect(mid, 'ssh', **self.ssh_kwargs(
            hostname=net.far_host, port=net.far_port,
            identity_file=net.t1_user_key, known_hosts_file=net.t1_known_hosts))
        info = self.master.call('viafuncs', 'identity', _dst=far)
        self.assertEqual((info['uid'], info['parent_ids']),
                         (self.uid[net.t1], [mid, 1, 0]))

    def test_ssh_errors(self):
        env = self.env
        msg = self.fails('CONNECT', 1, 'ssh', **self.ssh_kwargs(
            username=env.nopy))
        self.assertIn('python3 not found on %s:%d: install it or set '
                      'python-path' % (env.host, env.port), msg)
        msg = self.fails('CONNECT', 1, 'ssh', **self.ssh_kwargs(port=1))
        self.assertIn('Connection refused', msg)


if __name__ == '__main__':
    unittest.main()
