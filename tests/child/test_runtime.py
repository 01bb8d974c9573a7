"""Tests of the Python child runtime (mitogen-glib/child/runtime.py), driven
by fakemaster.FakeMaster exactly as the C master will drive it."""

import ast
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import unittest
import zlib

import fakemaster as fm
from fakemaster import RemoteError, ChannelError


def read(path):
    with open(path, encoding='utf-8') as fp:
        return fp.read()


def strip_docstrings(tree):
    """The AST without string-only expression statements (the minifier drops
    them) and with an empty body filled by `pass`, as the minifier does."""
    for node in ast.walk(tree):
        for field in ('body', 'orelse', 'finalbody'):
            body = getattr(node, field, None)
            if not isinstance(body, list):
                continue
            kept = [n for n in body if not (
                isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
                and isinstance(n.value.value, str))]
            if body and not kept:
                kept = [ast.Pass()]
            setattr(node, field, kept)
    return tree


class SourceTest(unittest.TestCase):
    def test_runtime_parses_as_python_3_6(self):
        ast.parse(read(fm.RUNTIME), feature_version=(3, 6))

    def test_minified_runtime_parses_as_python_3_6(self):
        ast.parse(fm.build_runtime(compress=False).decode('utf-8'),
                  feature_version=(3, 6))

    def test_minified_runtime_is_the_same_program(self):
        original = strip_docstrings(ast.parse(read(fm.RUNTIME)))
        minified = ast.parse(fm.build_runtime(compress=False))
        self.assertEqual(ast.dump(original), ast.dump(minified))

    def test_built_runtime_is_the_same_program(self):
        # As the build makes it: locals renamed, the lazy and deferred
        # parts apart.
        minify = fm.load_minifier()
        source = read(fm.RUNTIME)
        lazy, deferred = [], []
        eager = minify.minify(source, 2048, True, lazy, deferred)
        eager = eager.replace('\f', '').split('\n')
        deferred = deferred[0]
        lines = list(eager)
        for other in lazy[0].split('\n'), deferred.split('\n'):
            lines += [''] * (len(other) - len(lines))
            for number, line in enumerate(other):
                if line:
                    self.assertEqual(lines[number], '')
                    lines[number] = line
        self.assertIn('class Receiver(', lazy[0])
        self.assertNotIn('class Receiver(', '\n'.join(eager))
        self.assertIn('def _fetch(', deferred)
        self.assertNotIn('def _fetch(', '\n'.join(eager))
        self.assertSameUpToLocals(strip_docstrings(ast.parse(source)),
                                  ast.parse('\n'.join(lines)))

    def assertSameUpToLocals(self, a, b):
        """The same tree, statements on the same lines, but for names of
        locals: renamed one-to-one within a function and never used by a
        scope nested in it."""
        renames = {}    # function -> {old: new}

        def walk(x, y, func):
            self.assertIs(type(x), type(y))
            if isinstance(x, list):
                self.assertEqual(len(x), len(y))
                for i, j in zip(x, y):
                    walk(i, j, func)
            elif not isinstance(x, ast.AST):
                self.assertEqual(x, y)
            else:
                if isinstance(x, ast.stmt):
                    self.assertEqual(x.lineno, y.lineno)
                if isinstance(x, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    func = x
                for field in x._fields:
                    i, j = getattr(x, field), getattr(y, field)
                    if isinstance(x, (ast.Name, ast.ExceptHandler)) and \
                            field in ('id', 'name') and func is not None:
                        table = renames.setdefault(func, {})
                        self.assertEqual(table.setdefault(i, j), j, i)
                    else:
                        walk(i, j, func)

        walk(a, b, None)
        self.assertTrue(any(old != new for table in renames.values()
                            for old, new in table.items()))
        for func, table in renames.items():
            changed = {old for old, new in table.items() if old != new}
            self.assertEqual(len(set(table.values())), len(table))
            for node in ast.walk(func):
                if node is not func and isinstance(node, (
                        ast.FunctionDef, ast.Lambda, ast.ListComp,
                        ast.GeneratorExp, ast.DictComp, ast.SetComp)):
                    used = {n.id for n in ast.walk(node)
                            if isinstance(n, ast.Name)}
                    self.assertEqual(used & changed, set(), func.name)

    def test_minified_runtime_keeps_line_numbers(self):
        source = read(fm.RUNTIME).splitlines()
        minified = fm.build_runtime(compress=False).decode().splitlines()
        self.assertEqual(len(source), len(minified))
        for number, line in enumerate(minified):
            words = re.findall(r'[A-Za-z_]\w*', line)
            if words:
                self.assertIn(words[0], source[number],
                              'line %d moved' % (number + 1))

    def test_minifier_handles_tricky_tokens(self):
        import importlib.util
        spec = importlib.util.spec_from_file_location('minify', fm.MINIFY)
        minify = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(minify)
        source = (
            'def f():\n'
            '    """only a docstring"""\n'
            'class C:\n'
            '    "doc"\n'
            '    x = 1 .real  # comment\n'
            '    y = (1 if x else\n'
            '         2)\n'
            '    z = "a" "b" \'\' \\\n'
            '        "c"\n'
            '    w = r"\\d" + b"x" + rb"y" if x in"ab" else"c"\n'
            '    s = """multi\n'
            'line"""\n'
            'if True:\n'
            '    pass\n'
            'else:\n'
            '    "doc"\n'
            'from . import x\n')
        out = minify.minify(source)
        self.assertEqual(len(out.splitlines()), len(source.splitlines()))
        self.assertEqual(ast.dump(strip_docstrings(ast.parse(source))),
                         ast.dump(ast.parse(out)))

    def test_renaming_keeps_keywords_attributes_and_closures(self):
        minify = fm.load_minifier()
        source = ('def f(arg, kw=1):\n'
                  '    value = arg.value\n'
                  '    other = g(value=value, other=kw)\n'
                  '    shared = 2\n'
                  '    import traceback\n'
                  '    for item in range(3):\n'
                  '        other += item\n'
                  '    return lambda: shared + traceback + other, value\n')
        out = minify.minify(source, rename=True)
        # (a local gets its first letter when free)
        self.assertIn('v=arg.value', out.replace(' ', ''))
        self.assertIn('g(value=v,other=kw)', out)
        self.assertIn('shared=2', out)
        self.assertIn('for i in range(3)', out)
        self.assertIn('lambda:shared+traceback+other,v', out)
        # Not the first letter when that is taken.
        out = minify.minify('def f(a):\n    abc = a\n    return abc\n',
                            rename=True)
        self.assertIn('b=a', out.replace(' ', ''))

    def test_stage1_is_small_and_one_line(self):
        config = {'context_id': 12345, 'parent_ids': [0],
                  'log_level': 30, 'max_message_size': 134217728,
                  'debug': False, 'name': 'ssh.example.com:22'}
        program = fm.stage1(99999, config)
        self.assertNotIn('\n', program)
        self.assertLess(len(program), 1024)
        ast.parse(program, feature_version=(3, 6))

    def test_compressed_size(self):
        size = len(fm.build_runtime())
        sys.stderr.write('\n  compressed runtime: %d bytes (minified %d, '
                         'source %d) ' % (size, len(fm.build_runtime(False)),
                                          len(read(fm.RUNTIME).encode())))
        self.assertLess(size, 10240)


class ChildTest(unittest.TestCase):
    """One child serves the functional tests."""

    @classmethod
    def setUpClass(cls):
        cls.master = fm.FakeMaster(related={'relmod': ['reldep']}).start()

    @classmethod
    def tearDownClass(cls):
        cls.master.close()

    def call(self, *args, **kwargs):
        return self.master.call(*args, **kwargs)

    def test_markers_and_nothing_else(self):
        self.assertEqual(self.master.preamble_lines, [])
        self.assertEqual(self.master.errors, [])

    def test_getpid_is_the_spawned_process(self):
        self.assertEqual(self.call('posix', 'getpid'), self.master.proc.pid)

    def test_builtins(self):
        self.assertEqual(self.call('builtins', 'max', 3, 9, 4), 9)
        self.assertEqual(self.call('builtins', 'len', 'abc'), 3)
        self.assertEqual(self.call('posixpath', 'join', 'a', 'b'), 'a/b')

    def test_classmethod_and_staticmethod(self):
        self.assertEqual(self.call('childfuncs', 'scaled', 5,
                                   _klass='Klass'), 15)
        self.assertEqual(self.call('childfuncs', 'plus_one', 5,
                                   _klass='Klass'), 6)

    def test_value_round_trip(self):
        values = [
            None, True, False, 0, 1, -1, 255, 256, 65535, 65536,
            2 ** 31 - 1, 2 ** 31, -2 ** 31, -2 ** 31 - 1, 2 ** 64, -(2 ** 100) + 7, 1.5, -0.0, 1e300,
            float('inf'), '', 'abc', 'caf\xe9', '\u20ac', '\U0001F600',
            b'', b'abc', b'\x00\xff' * 300, [], [1, [2, [3]]], (), (1,),
            (1, 2), (1, 2, 3), (1, 2, 3, 4), {}, {'a': 1}, {1: 'x', 2: None},
            {'nested': [{'k': (b'v', 1.25, None)}], 'list': list(range(1500))},
            'x' * 100000,
        ]
        for value in values:
            got = self.call('childfuncs', 'echo', value)
            self.assertEqual(got, value)
            self.assertIs(type(got), type(value))

    def test_nan(self):
        got = self.call('childfuncs', 'echo', float('nan'))
        self.assertNotEqual(got, got)

    def test_mitogen_types_round_trip(self):
        blob = self.call('childfuncs', 'echo', fm.Blob(b'\x01\x02'))
        self.assertIsInstance(blob, fm.Blob)
        self.assertEqual(blob, b'\x01\x02')
        secret = self.call('childfuncs', 'echo', fm.Secret('pw'))
        self.assertIsInstance(secret, fm.Secret)
        kwargs = self.call('childfuncs', 'echo', fm.Kwargs({'a': 1}))
        self.assertIsInstance(kwargs, fm.Kwargs)
        self.assertEqual(kwargs, {'a': 1})
        ctx = self.call('childfuncs', 'echo', fm.Context(7, 'seven'))
        self.assertEqual(ctx, fm.Context(7, 'seven'))
        self.assertEqual(self.call('childfuncs', 'types_of', b'x', u'y',
                                   z=fm.Blob(b'')),
                         (['bytes', 'str'], [('z', 'Blob')]))

    def test_python2_string_opcodes_are_bytes(self):
        # SHORT_BINSTRING ('U') as a Python 2 master would write str.
        handle = self.master.new_handle()
        request = (b'\x80\x02(NX\n\x00\x00\x00childfuncsNX\x04\x00\x00\x00echo'
                   b'U\x03abc\x85cmitogen.core\nKwargs\n}\x85Rt.')
        self.master.send(fm.CALL_FUNCTION, request, reply_to=handle)
        self.assertEqual(self.master.get_value(handle), b'abc')

    def test_remote_exception(self):
        with self.assertRaises(RemoteError) as caught:
            self.call('childfuncs', 'boom', 'kaput')
        text = str(caught.exception)
        self.assertTrue(text.startswith('builtins.ValueError: kaput\n'), text)
        self.assertIn('childfuncs.py", line', text)
        self.assertIn('in boom', text)
        self.assertIn('raise ValueError(text)', text)

    def test_missing_function(self):
        with self.assertRaises(RemoteError) as caught:
            self.call('posix', 'no_such_function')
        self.assertIn("builtins.AttributeError: module 'posix' has no "
                      "attribute 'no_such_function'", str(caught.exception))

    def test_module_served_by_master(self):
        path = self.call('childfuncs', 'module_file')
        self.assertEqual(path, 'master:' + os.path.join(fm.DATA,
                                                        'childfuncs.py'))
        self.assertIn('childfuncs', self.master.get_module_requests)
        for name in self.master.get_module_requests:
            # The runtime's own parts: mitogen._extra (other tests use
            # Receiver...), mitogen._deferred if one needed it early.
            self.assertFalse(name == 'mitogen' or name.startswith('mitogen.')
                             and name not in fm.PARTS,
                             self.master.get_module_requests)

    def test_package_with_submodule(self):
        value, path, subfile = self.call('childfuncs', 'import_package')
        self.assertEqual(value, 'servedpkg.sub')
        self.assertEqual(path, [])
        self.assertTrue(subfile.endswith('servedpkg/sub.py'), subfile)
        self.assertIn('servedpkg', self.master.get_module_requests)
        self.assertIn('servedpkg.sub', self.master.get_module_requests)

    def test_related_module_sent_ahead(self):
        self.assertEqual(self.call('childfuncs', 'import_related'),
                         'relmod+reldep')
        self.assertIn('relmod', self.master.get_module_requests)
        self.assertNotIn('reldep', self.master.get_module_requests)

    def test_import_from_second_thread(self):
        self.assertEqual(self.call('childfuncs', 'in_thread_import'),
                         ['from a thread'])

    def test_missing_module(self):
        t0 = time.monotonic()
        with self.assertRaises(RemoteError) as caught:
            self.call('childfuncs', 'import_missing')
        self.assertLess(time.monotonic() - t0, 5)
        text = str(caught.exception)
        self.assertTrue(text.startswith('builtins.ModuleNotFoundError: '),
                        text)
        self.assertIn('no_such_module_for_mitogen_tests', text)
        self.assertIn('parent', text)
        # The negative answer is cached: no second request.
        with self.assertRaises(RemoteError):
            self.call('childfuncs', 'import_missing')
        self.assertEqual(self.master.get_module_requests.count(
            'no_such_module_for_mitogen_tests'), 1)

    def test_blacklisted_module_is_not_asked_for(self):
        master = fm.FakeMaster(blacklist=['childfuncs']).start()
        try:
            with self.assertRaises(RemoteError) as caught:
                master.call('childfuncs', 'echo', 1)
            self.assertIn("No module named 'childfuncs' (blacklisted)",
                          str(caught.exception))
            # (the error is deferred code: it asks for that alone)
            self.assertEqual(master.get_module_requests, ['mitogen._deferred'])
        finally:
            master.close()

    def test_missing_module_of_call(self):
        with self.assertRaises(RemoteError) as caught:
            self.call('no_such_call_module', 'f')
        self.assertIn('ModuleNotFoundError', str(caught.exception))

    def test_takes_econtext(self):
        info = self.call('childfuncs', 'econtext_info')
        self.assertEqual(info['context_id'], 1)
        self.assertEqual(info['parent_ids'], [0])
        self.assertEqual(info['parent'], fm.Context(0, None))
        self.assertEqual(info['mitogen.context_id'], 1)
        self.assertEqual(info['mitogen.parent_id'], 0)
        self.assertIs(info['is_master'], False)
        self.assertEqual(info['core_module'], 'mitogen.core')

    def test_takes_router(self):
        self.assertGreaterEqual(self.call('childfuncs', 'new_receiver_handle'),
                                1000)

    def test_call_chain(self):
        chain = 'test-chain-1'
        self.master.call_async('childfuncs', 'boom', 'first', _chain=chain,
                               _reply=False)
        self.master.call_async('childfuncs', 'record', 'skipped-1',
                               _chain=chain, _reply=False)
        with self.assertRaises(RemoteError) as caught:
            self.call('childfuncs', 'record', 'skipped-2', _chain=chain)
        self.assertIn('ValueError: first', str(caught.exception))
        recorded = self.call('childfuncs', 'recorded')
        self.assertNotIn('skipped-1', recorded)
        self.assertNotIn('skipped-2', recorded)
        # A chain failure is not logged as a no-reply failure.
        self.assertFalse([r for r in self.master.logs if 'first' in r[2]])
        self.master.call_async('mitogen.core', 'forget_chain', chain,
                               _klass='Dispatcher', _reply=False)
        self.assertEqual(self.call('childfuncs', 'record', 'ran',
                                   _chain=chain), 'ran')
        self.assertIn('ran', self.call('childfuncs', 'recorded'))

    def _send_calls_at_once(self, calls):
        # Calls in one write, so that the child reads them together and
        # queues them (pipelined calls); returns their reply handles.
        m = self.master
        handles, frames = [], []
        for module, func, args in calls:
            handle = m.new_handle()
            m.pending[handle] = m.context_id
            data = fm.dumps((None, module, None, func, args, fm.Kwargs({})))
            frames.append(fm.HDR.pack(fm.MAGIC, m.context_id, 0, 0,
                                      fm.CALL_FUNCTION, handle, len(data)))
            frames.append(data)
            handles.append(handle)
        m.send_raw(b''.join(frames))
        return handles

    def test_pipelined_calls_all_answered(self):
        # Replies made while more calls are queued are held and written
        # together: none may be lost, duplicated or mixed up.
        handles = self._send_calls_at_once(
            [('builtins', 'abs', (-i,)) for i in range(300)])
        self.assertEqual([self.master.get_value(h) for h in handles],
                         list(range(300)))

    def test_held_replies_never_wait_for_a_long_call(self):
        # The watcher is woken by the first reply held, not by every one,
        # and stops watching once it wrote them. First 70 quick calls: the
        # first 64 replies are written together, the next 6 are held while
        # the watcher is still watching (it is not woken again); the next
        # call sleeps: the watcher writes those 6 within a few ms. Then a
        # second burst after the first is over: the watcher is woken again.
        pid = self.master.proc.pid
        for quick in 70, 1:
            start = time.monotonic()
            handles = self._send_calls_at_once(
                [('posix', 'getpid', ())] * quick +
                [('time', 'sleep', (1.5,)), ('posix', 'getpid', ())])
            self.assertEqual(self.master.get_value(handles[quick - 1]), pid)
            self.assertLess(time.monotonic() - start, 1.0)
            self.assertEqual([self.master.get_value(h)
                              for h in handles[:quick - 1]],
                             [pid] * (quick - 1))
            self.assertIsNone(self.master.get_value(handles[quick]))
            self.assertEqual(self.master.get_value(handles[-1]), pid)

    def test_reply_written_at_once_leaves_nothing_watched(self):
        # A reply that fills the batch writes it at once: the watcher must
        # then be woken by the next reply held, not think it is watching.
        self.assertIs(self.master.call('childfuncs',
                                       'watched_after_64th_hold'), False)

    def test_no_reply_failure_is_logged(self):
        self.master.call_async('childfuncs', 'boom', 'unheard', _reply=False)
        name, level, text = self.master.wait_log(lambda r: 'unheard' in r[2])
        self.assertEqual(level, 40)
        self.assertIn('No-reply function call failed', text)

    def test_sender_streams_to_master(self):
        handle = self.master.new_handle()
        reply = self.master.call_async('childfuncs', 'stream_to',
                                       fm.Sender(0, handle), 5)
        self.assertEqual(self.master.get_value(reply), 'done')
        got = [self.master.get_value(handle) for _ in range(5)]
        self.assertEqual(got, [0, 1, 4, 9, 16])
        with self.assertRaises(ChannelError) as caught:
            self.master.get_value(handle)
        self.assertEqual(str(caught.exception), 'Sender was explicitly closed')

    def test_child_reads_a_receiver(self):
        handle = self.master.new_handle()
        reply = self.master.call_async('childfuncs', 'sum_from_master',
                                       fm.Sender(0, handle), 4)
        sender = self.master.get_value(handle)
        self.assertIsInstance(sender, fm.Sender)
        self.assertEqual(sender.context_id, 1)
        for value in (1, 2, 3, 10):
            self.master.send(sender.handle, fm.dumps(value))
        self.assertEqual(self.master.get_value(reply), 16)

    def test_big_frames_held_and_dropped(self):
        # Big frames are read into buffers that are reused once nothing
        # refers to them: held messages keep theirs, and a reused buffer
        # bigger than the frame yields only the frame.
        handle = self.master.new_handle()
        reply = self.master.call_async('childfuncs', 'big_digests_from_master',
                                       fm.Sender(0, handle), 3)
        sender = self.master.get_value(handle)
        payloads = [os.urandom(size) for size in
                    (300000, 200000, 100000, 300000, 200000, 100000)]
        for data in payloads[:3]:
            self.master.send(sender.handle, fm.dumps(data))
        self.assertEqual(self.master.get_value(handle), 3)
        for data in payloads[3:]:
            self.master.send(sender.handle, fm.dumps(data))
        self.assertEqual(self.master.get_value(reply),
                         [hashlib.sha256(d).hexdigest() for d in payloads])

    def test_receiver_timeout(self):
        self.assertTrue(self.call('childfuncs', 'receiver_timeout')
                        .startswith('timeout after 0.'))

    def test_context_send(self):
        handle = self.master.new_handle()
        self.assertTrue(self.call('childfuncs', 'send_to_master', handle,
                                  [1, 'x']))
        self.assertEqual(self.master.get_value(handle), [1, 'x'])

    def test_del_route_disconnects_respondent(self):
        handle = self.master.new_handle()
        reply = self.master.call_async('childfuncs', 'wait_respondent_gone',
                                       fm.Sender(0, handle), 5)
        self.assertEqual(self.master.get_value(handle), 'ready')
        self.master.send(fm.DEL_ROUTE, b'5')
        self.assertEqual(self.master.get_value(reply),
                         'the respondent Context has disconnected')

    def test_print_becomes_log_record(self):
        self.assertEqual(self.call('childfuncs', 'say', 'hello there'), 11)
        self.master.wait_log(lambda r: r == ('stdout', 20, 'hello there'))
        self.master.wait_log(lambda r: r == ('stderr', 20,
                                             'err: hello there'))
        self.assertEqual(self.master.errors, [])

    def test_logging_is_forwarded(self):
        self.assertTrue(self.call('childfuncs', 'log_warning', 'careful'))
        self.master.wait_log(lambda r: r == ('childfuncs', 30, 'careful'))

    def test_fork_does_not_touch_the_transport(self):
        if self.call('childfuncs', 'fork_and_log') == 'skip':
            self.skipTest('child Python has no os.register_at_fork')
        self.assertEqual(self.call('posix', 'getpid'), self.master.proc.pid)
        self.assertFalse([r for r in self.master.logs
                          if r[2] == 'from the fork'])
        self.assertEqual(self.master.errors, [])

    def test_forbidden_global_in_args(self):
        with self.assertRaises(RemoteError) as caught:
            self.call('childfuncs', 'echo', {1, 2})
        self.assertIn("mitogen.core.StreamError: cannot unpickle "
                      "'__builtin__'/'set'", str(caught.exception))
        with self.assertRaises(RemoteError) as caught:
            self.call('childfuncs', 'echo', fm.Forbidden('os', 'system'))
        self.assertIn("cannot unpickle 'os'/'system'", str(caught.exception))
        self.assertEqual(self.call('posix', 'getpid'), self.master.proc.pid)

    def test_unpicklable_results(self):
        for func in 'give_lock', 'give_set':
            with self.assertRaises(RemoteError) as caught:
                self.call('childfuncs', func)
            self.assertIn('cannot serialize', str(caught.exception))
        self.assertEqual(self.call('posix', 'getpid'), self.master.proc.pid)

    def test_garbage_request(self):
        handle = self.master.new_handle()
        self.master.send(fm.CALL_FUNCTION, b'\x80\x02K\x01.', reply_to=handle)
        with self.assertRaises(RemoteError):
            self.master.get_value(handle)
        self.master.send(fm.CALL_FUNCTION, b'not a pickle', reply_to=handle)
        with self.assertRaises(RemoteError) as caught:
            self.master.get_value(handle)
        self.assertIn('StreamError: invalid message', str(caught.exception))

    def test_reused_unpicklers_never_memoized(self):
        # CPython's memo clear() does not rewind the index MEMOIZE stores
        # at: an unpickler reused after memoizing would store each payload's
        # objects further on, its memo growing without end.
        indices = self.call('childfuncs', 'memo_indices_after', 500)
        self.assertTrue(indices)
        self.assertEqual(set(indices), {0, 1, 2})

    def test_payloads_are_parsed_alone(self):
        # The child may reuse an unpickler: nothing of one payload may
        # reach the next, neither its memo nor bytes after its STOP.
        def request(value):
            return fm.dumps((None, 'childfuncs', None, 'echo', (value,),
                             fm.Kwargs()))
        self.assertEqual(self.call('childfuncs', 'echo', 'loaded'), 'loaded')
        first = request('first')
        memo_0 = b'X\n\x00\x00\x00childfuncsq\x00'
        self.assertIn(memo_0, first)
        handles = [self.master.new_handle() for _ in range(4)]
        self.master.send(fm.CALL_FUNCTION, first, reply_to=handles[0])
        # The module name as memo entry 0 of the payload before: refused.
        self.master.send(fm.CALL_FUNCTION, first.replace(memo_0, b'h\x00'),
                         reply_to=handles[1])
        # A second request after the STOP of the first: ignored.
        self.master.send(fm.CALL_FUNCTION, request('a') + request('evil'),
                         reply_to=handles[2])
        self.master.send(fm.CALL_FUNCTION, request('b'), reply_to=handles[3])
        self.assertEqual(self.master.get_value(handles[0]), 'first')
        with self.assertRaises(RemoteError) as caught:
            self.master.get_value(handles[1])
        self.assertIn('StreamError: invalid message', str(caught.exception))
        self.assertEqual(self.master.get_value(handles[2]), 'a')
        self.assertEqual(self.master.get_value(handles[3]), 'b')

    def test_unknown_handle(self):
        handle = self.master.new_handle()
        self.master.send(5000, fm.dumps(1), reply_to=handle)
        frame = self.master.get(handle)
        self.assertEqual(frame.reply_to, fm.IS_DEAD)
        self.assertEqual(frame.data, b'invalid handle')
        self.assertEqual((frame.dst, frame.src, frame.auth), (0, 1, 1))

    def test_call_without_parent_authority(self):
        handle = self.master.call_async('posix', 'getpid', _auth=77)
        frame = self.master.get(handle)
        self.assertEqual(frame.reply_to, fm.IS_DEAD)
        self.assertEqual(frame.data, b'refused by policy')

    def test_message_for_another_context(self):
        handle = self.master.new_handle()
        self.master.send(5000, b'', dst=9, reply_to=handle)
        frame = self.master.get(handle)
        self.assertEqual(frame.data, b'no route to 9, my ID is 1')

    def test_call_service_is_refused(self):
        handle = self.master.new_handle()
        self.master.send(fm.CALL_SERVICE, fm.dumps(('a.B', 'm', fm.Kwargs())),
                         reply_to=handle)
        with self.assertRaises(RemoteError) as caught:
            self.master.get_value(handle)
        self.assertIn('services are not supported', str(caught.exception))


class BytecodeTest(unittest.TestCase):
    """The runtime's eager parts compiled ahead by child/compile.py and sent
    after the runtime, as the C master does for children on its machine."""

    # What the runtime defined, where: its boot kind, the size of _S, and
    # each of its functions' and classes' first line.
    PROBE = ("(lambda m: ['bytecode' if vars(m).get('_code') else 'source', len(m._S), sorted("
             "(k, v.__code__.co_firstlineno) for k, v in vars(m).items() "
             "if getattr(getattr(v, '__code__', None), 'co_filename', '') "
             "== '<mitogen-glib>')])(__import__('sys').modules['mitogen.core'])")

    def boot(self, bytecode):
        master = fm.FakeMaster().start(bytecode=bytecode)
        self.addCleanup(master.close)
        return master

    def test_compiler_parses_as_python_3_6(self):
        ast.parse(read(fm.COMPILER), feature_version=(3, 6))

    def test_compiled_boot_runs_the_same_code(self):
        runtime = fm.build_runtime()
        bytecode = fm.compile_runtime(fm.child_python(), runtime)
        self.assertGreater(len(bytecode), 4)
        source = self.boot(b'')
        compiled = self.boot(bytecode)
        kind, size, lines = compiled.call('builtins', 'eval', self.PROBE)
        self.assertEqual(kind, 'bytecode')
        # The runtime forwards _S to its own children: the bytecode is not
        # part of it.
        self.assertEqual(size, len(runtime))
        self.assertEqual([source.call('builtins', 'eval', self.PROBE)],
                         [['source', len(runtime), lines]])
        self.assertGreater(len(lines), 20)
        self.assertEqual(compiled.call('posix', 'getpid'), compiled.proc.pid)
        with self.assertRaises(RemoteError) as caught:
            compiled.call('childfuncs', 'no_such_function')
        self.assertIn('no_such_function', str(caught.exception))
        self.assertEqual(compiled.errors, [])

    def test_foreign_magic_boots_from_source(self):
        # Another interpreter's output: the child compiles the source.
        runtime = fm.build_runtime()
        foreign = b'\x00\x00\r\n' + zlib.compress(b'not a marshalled list')
        master = self.boot(foreign)
        kind, size, lines = master.call('builtins', 'eval', self.PROBE)
        self.assertEqual((kind, size), ('source', len(runtime)))
        self.assertEqual(master.call('builtins', 'max', 3, 9), 9)


try:
    import mitogen.core as upstream
except ImportError:     # only Debian's /usr/bin/python3 has python3-mitogen
    upstream = None


@unittest.skipIf(upstream is None, 'python3-mitogen is not installed')
class UpstreamPickleTest(unittest.TestCase):
    """Pickles written by upstream Mitogen are read by the child, and the
    child's replies pass upstream's unpickler whitelist."""

    @classmethod
    def setUpClass(cls):
        cls.master = fm.FakeMaster().start()

    @classmethod
    def tearDownClass(cls):
        cls.master.close()

    def upstream_call(self, func, *args, **kwargs):
        msg = upstream.Message.pickled(
            (None, 'childfuncs', None, func, args, upstream.Kwargs(kwargs)))
        handle = self.master.new_handle()
        self.master.send(fm.CALL_FUNCTION, msg.data, reply_to=handle)
        frame = self.master.get(handle)
        self.assertNotEqual(frame.reply_to, fm.IS_DEAD, frame.data)
        reply = upstream.Message(data=frame.data)
        reply.router = object.__new__(upstream.Router)   # for Sender
        return reply.unpickle(throw=False)

    def test_values(self):
        values = [None, True, False, 7, -7, 2 ** 31 - 1, -2 ** 31, 2 ** 31,
                  2 ** 80, -1.5, 'caf\xe9 \U0001F600', b'',
                  b'\x00\xff', [1, (2, [3])], {'k': {'n': None}}, (), {}]
        for value in values:
            self.assertEqual(self.upstream_call('echo', value), value)

    def test_mitogen_types(self):
        blob = self.upstream_call('echo', upstream.Blob(b'\x01\x02'))
        self.assertIsInstance(blob, upstream.Blob)
        secret = self.upstream_call('echo', upstream.Secret('pw'))
        self.assertIsInstance(secret, upstream.Secret)
        kwargs = self.upstream_call('echo', upstream.Kwargs({'a': b'b'}))
        self.assertIsInstance(kwargs, upstream.Kwargs)
        self.assertEqual(kwargs, {'a': b'b'})
        sender = self.upstream_call(
            'echo', upstream.Sender(upstream.Context(None, 0), 1234))
        self.assertIsInstance(sender, upstream.Sender)
        self.assertEqual((sender.context.context_id, sender.dst_handle),
                         (0, 1234))
        err = self.upstream_call('echo', upstream.CallError('remote text'))
        self.assertIsInstance(err, upstream.CallError)
        self.assertEqual(str(err), 'remote text')
        self.assertEqual(self.upstream_call('types_of', b'x',
                                            k=upstream.Blob(b'')),
                         (['bytes'], [('k', 'Blob')]))

    def test_context(self):
        msg = upstream.Message.pickled(
            (None, 'childfuncs', None, 'echo',
             (upstream.Context(None, 7, 'seven'),), upstream.Kwargs({})))
        handle = self.master.new_handle()
        self.master.send(fm.CALL_FUNCTION, msg.data, reply_to=handle)
        ctx = upstream.Message(data=self.master.get(handle).data).unpickle()
        self.assertIsInstance(ctx, upstream.Context)
        self.assertEqual((ctx.context_id, ctx.name), (7, 'seven'))

    def test_call_error(self):
        err = self.upstream_call('boom', 'upstream sees this')
        self.assertIsInstance(err, upstream.CallError)
        self.assertIn('builtins.ValueError: upstream sees this', str(err))


class LazyTest(unittest.TestCase):
    """The runtime's lazy parts (mitogen._extra) are fetched only when user
    code first asks mitogen.core for a name it lacks, then run in it."""

    def test_plain_call_fetches_nothing_then_user_api_once(self):
        m = fm.FakeMaster().start()
        try:
            self.assertEqual(m.call('os', 'getpid'), m.proc.pid)
            self.assertEqual(m.get_module_requests, [])
            self.assertEqual(m.call('builtins', 'eval', (
                '(lambda c: [c.Receiver.__module__, c.Channel.__mro__[1]'
                '.__name__, hasattr(c, "no_such_name"), c.fire is c.fire, '
                'c.Sender in c._SAFE_BASES])(__import__("mitogen.core").core)'
            ), {}), ['mitogen.core', 'Sender', False, True, True])
            self.assertEqual(m.get_module_requests, ['mitogen._extra'])
            self.assertFalse(m.call('builtins', 'eval', 'hasattr(__import__('
                                    '"mitogen.core").core, "nor_this")', {}))
            self.assertEqual(m.get_module_requests, ['mitogen._extra'])
        finally:
            m.close()

    def test_deferred_code_comes_after_the_first_message(self):
        # The importer's remote path, _plain...: not sent at bootstrap, but
        # right after the child's first message, and compiled only when
        # first used: not by a plain call.
        m = fm.FakeMaster().start()
        try:
            self.assertEqual(m.call('os', 'getpid'), m.proc.pid)
            # Nor by the watcher, which looks at a waiting frame 50 ms on.
            time.sleep(0.2)
            core = '__import__("mitogen.core").core'
            self.assertEqual(m.call('builtins', 'eval', (
                '(list(%s._importer._cache), "_fetch" in vars(%s))'
                % (core, core)), {}), (['mitogen._deferred'], False))
            self.assertEqual(m.call('builtins', 'eval', (
                '(%s._plain((1, True)), "_fetch" in vars(%s))' % (core, core)
            ), {}), ((1, True), True))
            self.assertEqual(m.get_module_requests, [])
            self.assertEqual(m.deferred_sent, {1})
        finally:
            m.close()

    def test_deferred_code_asked_for_before_the_first_message(self):
        # A first call that fails needs the deferred code for its error:
        # the child asks, and gets it once (its request is its first
        # message, which brings it anyway).
        m = fm.FakeMaster().start()
        try:
            with self.assertRaises(RemoteError) as caught:
                m.call('posix', 'no_such_function')
            self.assertIn("has no attribute 'no_such_function'",
                          str(caught.exception))
            self.assertEqual(m.get_module_requests, ['mitogen._deferred'])
            self.assertEqual(m.call('posix', 'getpid'), m.proc.pid)
            self.assertEqual(m.deferred_sent, {1})
        finally:
            m.close()

    def test_first_import_is_one_round_trip(self):
        # The module is asked for before the deferred code is waited for:
        # the child's request is its first message, which brings that too.
        m = fm.FakeMaster(related={'relmod': ['reldep']}).start()
        try:
            self.assertEqual(m.call('relmod', 'value'), 'relmod+reldep')
            self.assertEqual(m.get_module_requests, ['relmod'])
            self.assertEqual(m.deferred_sent, {1})
        finally:
            m.close()

    def test_parent_that_never_sends_it(self):
        # Asked for when first needed, once.
        m = fm.FakeMaster(push_deferred=False).start()
        try:
            self.assertEqual(m.call('os', 'getpid'), m.proc.pid)
            core = '__import__("mitogen.core").core'
            for _ in range(2):
                self.assertEqual(m.call('builtins', 'eval', (
                    '%s._plain((1, True))' % core), {}), (1, True))
            self.assertEqual(m.get_module_requests, ['mitogen._deferred'])
        finally:
            m.close()

    def test_big_frames_before_the_deferred_code(self):
        # A big frame is read into a buffer of its own by deferred code;
        # in front of that code it is read as any other frame.
        m = fm.FakeMaster(push_deferred=False).start()
        try:
            blob = os.urandom(3 * 1048576)
            for _ in range(2):
                self.assertEqual(m.call('builtins', 'len', blob,
                                        _timeout=30), len(blob))
            self.assertEqual(m.get_module_requests, [])
        finally:
            m.close()

    def test_lazy_and_deferred_code_keep_runtime_line_numbers(self):
        runtime = read(fm.RUNTIME).splitlines()
        for name in fm.PARTS:
            part = zlib.decompress(fm.runtime_part(name)).decode()
            self.assertLessEqual(len(part.splitlines()), len(runtime))
            for number, line in enumerate(part.splitlines()):
                # (renamed locals are 1-2 letters: look at longer words)
                words = [w for w in re.findall(r'[A-Za-z_]\w*', line)
                         if len(w) > 2]
                if words:
                    self.assertIn(words[0], runtime[number],
                                  '%s: line %d moved' % (name, number + 1))


class LifeTest(unittest.TestCase):
    """Each test has its own child."""

    def setUp(self):
        self.master = fm.FakeMaster().start()

    def tearDown(self):
        self.master.close()

    def assertExits(self, within):
        t0 = time.monotonic()
        status = self.master.wait_exit(within)
        self.assertIsNotNone(status, 'child still running after %ss' % within)
        return time.monotonic() - t0

    def test_frames_right_behind_the_runtime(self):
        # STAGE1 must read exactly the runtime, leaving what follows (here a
        # call sent before MITO002) to the runtime.
        self.master.close()
        self.master = fm.FakeMaster()
        request = fm.dumps((None, 'builtins', None, 'len', ('abcd',),
                            fm.Kwargs()))
        self.master.start(extra=fm.HDR.pack(fm.MAGIC, 1, 0, 0,
                                            fm.CALL_FUNCTION, 1234,
                                            len(request)) + request)
        self.assertEqual(self.master.get_value(1234), 4)

    def test_shutdown(self):
        self.master.call('posix', 'getpid')
        self.master.shutdown()
        self.assertExits(1)
        self.assertEqual(self.master.proc.returncode, 0)

    def test_shutdown_flushes_output(self):
        # No newline: the text sits in sys.stdout's buffer until shutdown.
        self.master.call('builtins', 'print', 'last words', end='')
        self.master.shutdown()
        self.assertExits(1)
        self.master.wait_log(lambda r: r == ('stdout', 20, 'last words'), 2)

    def test_shutdown_during_long_call(self):
        self.master.call_async('time', 'sleep', 30, _reply=False)
        time.sleep(0.2)
        self.master.shutdown()
        self.assertExits(1)

    def test_master_closes(self):
        self.master.call('posix', 'getpid')
        self.master.disconnect()
        self.assertExits(1)

    def test_master_closes_during_long_call(self):
        self.master.call_async('time', 'sleep', 30, _reply=False)
        time.sleep(0.2)
        self.master.disconnect()
        self.assertExits(2)

    def test_shutdown_from_foreign_authority_is_refused(self):
        self.master.send(fm.SHUTDOWN, auth=77)
        time.sleep(0.3)
        self.assertIsNone(self.master.proc.poll())
        self.assertEqual(self.master.call('builtins', 'len', 'ab'), 2)

    def test_bad_magic_kills_the_child(self):
        self.master.send_raw(b'XY' + b'\0' * 40)
        self.assertExits(1)
        self.master.wait_log(lambda r: 'Corruption detected' in r[2], 2)

    def test_oversized_frame_kills_the_child(self):
        self.master.send_raw(fm.HDR.pack(fm.MAGIC, 1, 0, 0, 101, 0,
                                         200 * 1048576))
        self.assertExits(1)
        self.master.wait_log(lambda r: 'Maximum message size' in r[2], 2)

    def test_sys_exit_in_call_ends_the_child(self):
        self.master.call_async('sys', 'exit', 3, _reply=False)
        self.assertExits(2)
        self.assertEqual(self.master.proc.returncode, 3)


class MasterKilledTest(unittest.TestCase):
    def test_master_sigkilled_during_long_call(self):
        helper = subprocess.Popen([sys.executable, fm.__file__,
                                   'sleeping-child'], stdout=subprocess.PIPE)
        try:
            pid = int(helper.stdout.readline())
            time.sleep(0.3)
            os.kill(helper.pid, signal.SIGKILL)
            helper.wait()
            # (5 s: under a loaded CI machine; it takes milliseconds.)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                # The child is not ours to reap: it was the helper's.
                time.sleep(0.02)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    return      # it ended just as the deadline passed
                self.fail('child %d still alive 5 s after its master died'
                          % pid)
        finally:
            if helper.poll() is None:
                helper.kill()
            helper.stdout.close()


class LogLevelTest(unittest.TestCase):
    def test_stdout_not_forwarded_at_warning(self):
        master = fm.FakeMaster(log_level=30).start()
        try:
            master.call('childfuncs', 'say', 'quiet')
            master.call('childfuncs', 'log_warning', 'loud')
            master.wait_log(lambda r: r[2] == 'loud')
            self.assertFalse([r for r in master.logs if 'quiet' in r[2]])
        finally:
            master.close()

    def test_debug_records_are_sent_after_mito002(self):
        master = fm.FakeMaster(log_level=10, debug=True).start()
        try:
            master.wait_log(lambda r: r[0] == 'mitogen' and
                            r[2].startswith('child 1 of [0]: pid '))
            master.call('posix', 'getpid')
            master.wait_log(lambda r: 'dispatching' in r[2])
            self.assertEqual(master.errors, [])
        finally:
            master.close()


class SpeedTest(unittest.TestCase):
    """Measures and prints; asserts nothing about speed."""

    def test_bootstrap_and_round_trip(self):
        python = fm.child_python()
        runs = 7
        bare = []
        for _ in range(runs):
            t0 = time.monotonic()
            subprocess.check_call([python, '-c', 'pass'])
            bare.append(time.monotonic() - t0)
        boots = []
        for _ in range(runs):
            master = fm.FakeMaster(log_level=30).start(reader=False)
            boots.append(master.boot_time)
            if len(boots) < runs:
                master.close()
        try:
            sequential, pipelined = self.round_trips(master)
        finally:
            master.close()
        sys.stderr.write(
            '\n  %s: python -c pass %.1f ms, spawn to MITO002 %.1f ms '
            '(medians of %d)\n  posix.getpid call: %.1f us round trip, '
            '%.1f us/call pipelined ' % (
                python, sorted(bare)[runs // 2] * 1e3,
                sorted(boots)[runs // 2] * 1e3, runs, sequential * 1e6,
                pipelined * 1e6))

    def round_trips(self, master):
        # A tight single-threaded loop on the raw socket, so that the
        # figure is mostly the child's.
        payload = fm.dumps((None, 'posix', None, 'getpid', (), fm.Kwargs()))
        request = fm.HDR.pack(fm.MAGIC, 1, 0, 0, fm.CALL_FUNCTION, 1000,
                              len(payload)) + payload
        sock = master.sock
        buf = bytearray(master._buf)

        def replies(count):
            while True:
                while len(buf) >= 26:
                    size = fm.HDR.unpack_from(buf)[6]
                    if len(buf) < 26 + size:
                        break
                    del buf[:26 + size]
                    count -= 1
                    if not count:
                        return
                data = sock.recv(1 << 20)
                if not data:
                    raise EOFError('child closed the connection')
                buf.extend(data)

        for _ in range(200):
            sock.sendall(request)
            replies(1)
        n = 3000
        t0 = time.perf_counter()
        for _ in range(n):
            sock.sendall(request)
            replies(1)
        sequential = (time.perf_counter() - t0) / n
        batch, batches = 500, 10
        t0 = time.perf_counter()
        for _ in range(batches):
            sock.sendall(request * batch)
            replies(batch)
        pipelined = (time.perf_counter() - t0) / (batch * batches)
        return sequential, pipelined


if __name__ == '__main__':
    unittest.main()
