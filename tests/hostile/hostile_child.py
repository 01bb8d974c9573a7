#!/usr/bin/env python3
# hostile_child.py: a child context that attacks its master.
#
# SPDX-License-Identifier: BSD-3-Clause
#
# tests/test-hostile.c starts this program where the master expects a
# Python interpreter (the python-path option points at a small wrapper that
# runs it).  The master runs `PYTHON -c STAGE1`; this program reads the
# runtime size N and the connection config out of STAGE1, then, depending
# on MITOGEN_HOSTILE_SCENARIO:
#
#   rpc (default)     says MITO000, swallows the N bytes of runtime, says
#                     MITO002, and from then on obeys calls to the module
#                     `hostile` (see the act_* functions): each makes it
#                     misbehave in one particular way;
#   garbage-exit      prints binary garbage and a marker line, exits 7;
#   garbage-hang      prints garbage and a marker line, then hangs;
#   no-mito002        reads the runtime, prints a marker line, hangs;
#   huge-line         prints 8 MiB without a newline, a marker, exits 5;
#   garbage-mito002   garbage, then MITO002 without ever reading the
#                     runtime, then bytes that are not a frame;
#   text-mito002      the same with printable garbage.
#
# Whatever it receives that the test wants to inspect is appended, one JSON
# object per line, to the file named by MITOGEN_HOSTILE_REPORT.
#
# Standard library only; every frame is built by hand.

import ast
import collections
import io
import json
import os
import pickle
import random
import re
import select
import struct
import sys
import time
import zlib

HEADER = struct.Struct('>HLLLLLL')
MAGIC = 0x4d49

GET_MODULE = 100
CALL_FUNCTION = 101
FORWARD_LOG = 102
ADD_ROUTE = 103
DEL_ROUTE = 104
ALLOCATE_ID = 105
SHUTDOWN = 106
LOAD_MODULE = 107
IS_DEAD = 999

# A handle no master ever registers: messages to it that want a reply get
# a dead `invalid handle` back, in order with everything sent before.
BARRIER_HANDLE = 4000000000

VALID_NAME = re.compile(
    br'\A[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z')

REPORT = os.environ.get('MITOGEN_HOSTILE_REPORT')
MARKER = os.environ.get('MITOGEN_HOSTILE_MARKER', 'hostile-marker')


def report(**record):
    if not REPORT:
        return
    with open(REPORT, 'a') as f:
        f.write(json.dumps(record) + '\n')


def le32(n):
    return struct.pack('<I', n)


class Message(object):
    __slots__ = ('dst', 'src', 'auth', 'handle', 'reply_to', 'data')

    def __init__(self, dst, src, auth, handle, reply_to, data):
        self.dst = dst
        self.src = src
        self.auth = auth
        self.handle = handle
        self.reply_to = reply_to
        self.data = data

    @property
    def dead(self):
        return self.reply_to == IS_DEAD

    def describe(self):
        return {
            'src': self.src,
            'auth': self.auth,
            'handle': self.handle,
            'reply_to': self.reply_to,
            'dead': self.dead,
            'text': self.data.decode('utf-8', 'replace') if self.dead else '',
            'size': len(self.data),
        }


class Unpickler(pickle.Unpickler):
    """Reads what the master sends: plain values, Kwargs and Blob only."""

    def find_class(self, module, name):
        if module == 'mitogen.core' and name == 'Kwargs':
            return dict
        if module == 'mitogen.core' and name == 'Blob':
            return bytes
        if module in ('__builtin__', 'builtins') and name == 'bytes':
            return bytes
        if module == '_codecs' and name == 'encode':
            return lambda text, encoding: text.encode('latin-1')
        raise pickle.UnpicklingError('refused %s.%s' % (module, name))


def unpickle(data):
    return Unpickler(io.BytesIO(data)).load()


def as_bytes(value):
    if isinstance(value, str):
        return value.encode('utf-8')
    return bytes(value)


class Peer(object):
    def __init__(self, config):
        self.context_id = config.get('context_id', 1)
        self.parent_ids = config.get('parent_ids', [0])
        self.parent_id = self.parent_ids[0]
        self.buf = bytearray()
        self.backlog = collections.deque()
        self.eof = False
        self.next_handle = 7000

    # Transport.

    def write(self, data):
        view = memoryview(data)
        while view:
            n = os.write(1, view)
            view = view[n:]

    def frame(self, dst, handle, data=b'', reply_to=0, src=None, auth=None,
              magic=MAGIC, length=None):
        src = self.context_id if src is None else src
        auth = self.context_id if auth is None else auth
        length = len(data) if length is None else length
        return HEADER.pack(magic, dst, src, auth, handle, reply_to,
                           length) + data

    def send(self, dst, handle, data=b'', reply_to=0, src=None, auth=None):
        self.write(self.frame(dst, handle, data, reply_to, src, auth))

    def read_some(self, timeout):
        if timeout is not None and timeout < 0:
            timeout = 0
        readable, _, _ = select.select([0], [], [], timeout)
        if not readable:
            return False
        try:
            data = os.read(0, 1 << 16)
        except OSError:
            data = b''
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def pop_frame(self):
        if len(self.buf) < HEADER.size:
            return None
        magic, dst, src, auth, handle, reply_to, length = \
            HEADER.unpack_from(self.buf)
        if magic != MAGIC:
            report(event='bad-frame-from-master')
            sys.exit(3)
        if len(self.buf) < HEADER.size + length:
            return None
        data = bytes(self.buf[HEADER.size:HEADER.size + length])
        del self.buf[:HEADER.size + length]
        return Message(dst, src, auth, handle, reply_to, data)

    def recv(self, pred=None, timeout=10.0):
        """The first message that satisfies pred; others wait in the
        backlog. None on timeout or EOF."""
        for msg in list(self.backlog):
            if pred is None or pred(msg):
                self.backlog.remove(msg)
                return msg
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            msg = self.pop_frame()
            if msg is not None:
                if pred is None or pred(msg):
                    return msg
                self.backlog.append(msg)
                continue
            if self.eof:
                return None
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            self.read_some(left)

    def wait_eof(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self.read_some(deadline - time.monotonic())
        return self.eof

    def new_handle(self):
        self.next_handle += 1
        return self.next_handle

    def barrier(self):
        """Returns once the master has handled everything sent before."""
        handle = self.new_handle()
        self.send(0, BARRIER_HANDLE, b'', reply_to=handle)
        msg = self.recv(lambda m: m.handle == handle, timeout=10.0)
        return msg is not None

    def reply(self, call, data):
        if call.reply_to:
            self.send(call.src, call.reply_to, data)

    def reply_value(self, call, value):
        self.reply(call, pickle.dumps(value, protocol=2))


# Malicious pickles, by name: each would run `touch CANARY` (or otherwise
# do harm) in a process that unpickled it with Python's own unpickler.

def shell_touch(canary):
    return ('touch ' + canary).encode('utf-8')


def pickle_global(module, name, arg):
    return (b'\x80\x02c' + module + b'\n' + name + b'\nX' + le32(len(arg)) +
            arg + b'\x85R.')


def pickle_stack_global(module, name, arg):
    body = (b'\x8c' + bytes([len(module)]) + module + b'\x94' +
            b'\x8c' + bytes([len(name)]) + name + b'\x94\x93\x94' +
            b'\x8c' + bytes([len(arg)]) + arg + b'\x94\x85\x94R\x94.')
    return b'\x80\x04\x95' + struct.pack('<Q', len(body)) + body


class Evil(object):
    def __init__(self, canary):
        self.canary = canary

    def __reduce__(self):
        return (os.system, ('touch ' + self.canary,))


def nested_lists(depth):
    return b'\x80\x02' + b']' * depth + b'a' * (depth - 1) + b'.'


def nested_tuples(depth):
    return b'\x80\x02' + b'(' * depth + b't' * depth + b'.'


def memo_bomb():
    # 1000 characters, referenced 1000 times, that list 1000 times, and
    # that list 1000 times: 7 KB that would expand to 10^12 characters.
    p = b'\x80\x02X' + le32(1000) + b'A' * 1000 + b'q\x000'
    for level in range(3):
        p += b']q' + bytes([level + 1]) + b'(' + \
            (b'h' + bytes([level])) * 1000 + b'e'
        if level < 2:
            p += b'0'
    return p + b'.'


def attack_pickle(kind, canary):
    cmd = shell_touch(canary)
    if kind == 'global':
        return pickle_global(b'os', b'system', cmd)
    if kind == 'global-posix':
        return pickle.dumps(Evil(canary), protocol=2)
    if kind == 'stack-global':
        return pickle_stack_global(b'os', b'system', cmd)
    if kind == 'stack-global-posix':
        return pickle.dumps(Evil(canary), protocol=4)
    if kind == 'global-nested':
        # The forbidden call deep inside an otherwise valid value.
        inner = pickle_global(b'posix', b'system', cmd)[2:-1]
        return b'\x80\x02]q\x00(K\x01]q\x01(' + inner + b'ee.'
    if kind == 'builtins-eval':
        code = ("__import__('os').system('touch %s')" % canary).encode()
        return pickle_global(b'builtins', b'eval', code)
    if kind == 'builtin-getattr':
        return (b'\x80\x02c__builtin__\ngetattr\nc__builtin__\nbytes\n'
                b'X\x04\x00\x00\x00join\x86R.')
    if kind == 'bytes-huge':
        # A permitted global with an argument that would allocate 2 GiB.
        return b'\x80\x02c__builtin__\nbytes\nJ\xff\xff\xff\x7f\x85R.'
    if kind == 'newobj':
        return b'\x80\x02cmitogen.core\nKwargs\n)\x81.'
    if kind == 'inst':
        return b'(X' + le32(len(cmd)) + cmd + b'ios\nsystem\n.'
    if kind == 'obj':
        return b'\x80\x02(cos\nsystem\nX' + le32(len(cmd)) + cmd + b'o.'
    if kind == 'build':
        return b'\x80\x02}q\x00}q\x01b.'
    if kind == 'ext1':
        return b'\x80\x02\x82\x01.'
    if kind == 'persid':
        return b'\x80\x02P' + cmd + b'\n.'
    if kind == 'binpersid':
        return b'\x80\x02X' + le32(len(cmd)) + cmd + b'Q.'
    if kind == 'deep-lists':
        return nested_lists(10000)
    if kind == 'deep-tuples':
        return nested_tuples(10000)
    if kind == 'memo-bomb':
        return memo_bomb()
    if kind == 'memo-index':
        return b'\x80\x02Nr\xff\xff\xff\xff.'
    if kind == 'huge-string':
        return b'\x80\x02X\xf0\xff\xff\xff' + b'x' * 100 + b'.'
    if kind == 'huge-long':
        return b'\x80\x02\x8b\xff\xff\xff\x7f' + b'\x01' * 100 + b'.'
    if kind == 'marks':
        return b'\x80\x02' + b'(' * 200000 + b'.'
    raise ValueError('unknown pickle kind %r' % kind)


# Actions: hostile.NAME(*args) called by the master.  An action returns
# the value to reply with, or NO_REPLY when it answered (or will never
# answer) itself.

NO_REPLY = object()


def act_ping(peer, call):
    return {'context_id': peer.context_id, 'pid': os.getpid(),
            'parent_ids': list(peer.parent_ids)}


def act_bad_magic(peer, call, after_valid):
    peer.reply_value(call, 'sending')
    data = b''
    if after_valid:
        # A good frame first, in the same write: it is still delivered.
        data += peer.frame(0, FORWARD_LOG,
                           b'hostile\x0030\x00before-bad-magic ' +
                           MARKER.encode())
    bad = peer.frame(0, 107, b'x' * 16, magic=0x4d4a)
    peer.write(data + bad + b'trailing junk' * 10)
    report(event='bad-magic-sent', eof=peer.wait_eof())
    sys.exit(0)


def act_oversized(peer, call, length):
    peer.reply_value(call, 'sending')
    peer.write(peer.frame(0, 0, b'y' * 100, length=length))
    report(event='oversized-sent', eof=peer.wait_eof())
    sys.exit(0)


def act_lying_length(peer, call, length, nbytes):
    # The header claims `length` payload bytes but only `nbytes` follow;
    # then this context goes on listening (it can no longer speak).
    peer.reply_value(call, 'sending')
    peer.write(peer.frame(0, BARRIER_HANDLE, b'', length=length))
    chunk = b'z' * 65536
    left = nbytes
    while left > 0:
        peer.write(chunk[:min(left, len(chunk))])
        left -= min(left, len(chunk))
    report(event='lying-length-sent')
    return NO_REPLY


def act_reply_pickle(peer, call, kind, canary):
    peer.reply(call, attack_pickle(kind, canary))
    return NO_REPLY


def act_send_frames(peer, call, frames, wait_handles, wait_seconds):
    """Sends frames (dst, src, auth, handle, reply_to, payload); -1 as src
    or auth means this context's id.  After a barrier, returns what came
    back, waiting up to wait_seconds for each handle in wait_handles."""
    for dst, src, auth, handle, reply_to, payload in frames:
        peer.send(dst, handle, as_bytes(payload), reply_to,
                  None if src < 0 else src, None if auth < 0 else auth)
    barrier_ok = peer.barrier()
    got = []
    for handle in wait_handles:
        msg = peer.recv(lambda m: m.handle == handle, timeout=wait_seconds)
        if msg is not None:
            got.append(msg.describe())
    while True:
        msg = peer.recv(lambda m: m.handle != CALL_FUNCTION, timeout=0)
        if msg is None:
            break
        got.append(msg.describe())
    report(event='send-frames', received=got)
    return {'barrier': barrier_ok, 'received': got}


def act_get_modules(peer, call, names, canary_text):
    """GET_MODULE for each name; reports every LOAD_MODULE received, with
    the decompressed sources."""
    results = []
    leaked = False
    for raw in names:
        name = as_bytes(raw)
        peer.send(0, GET_MODULE, name)
        peer.barrier()
        # A name the master looks up itself is answered before the barrier;
        # one it asks the application about (::find-module) a bit later.
        wanted = name.decode('latin-1') if VALID_NAME.match(name) else None
        replies = []
        while True:
            msg = peer.recv(lambda m: m.handle == LOAD_MODULE, timeout=0)
            if msg is None and wanted is not None and \
                    not any(r['name'] == wanted for r in replies):
                msg = peer.recv(lambda m: m.handle == LOAD_MODULE, timeout=5.0)
            if msg is None:
                break
            fullname, pkg_present, path, blob, related = unpickle(msg.data)
            if fullname == 'mitogen._deferred' and wanted != fullname:
                continue    # the runtime's part every child gets once
            source = zlib.decompress(blob) if blob is not None else b''
            if as_bytes(canary_text) in msg.data or \
                    as_bytes(canary_text) in source:
                leaked = True
            replies.append({'name': fullname, 'path': path,
                            'source': source.decode('latin-1'),
                            'related': list(related or ())})
        shown = name.decode('latin-1').encode('unicode_escape').decode()
        report(event='get-module', request=shown, replies=replies)
        results.append({'request': shown,
                        'n_replies': len(replies),
                        'paths': [r['path'] or '' for r in replies]})
    return {'results': results, 'leaked': leaked}


def act_module_replies(peer, call, name, times):
    """GET_MODULE name, times over; how many LOAD_MODULE of it came back,
    counting any that came earlier."""
    for _ in range(times):
        peer.send(0, GET_MODULE, as_bytes(name))
    peer.barrier()
    count = 0
    deadline = time.monotonic() + 1.0
    while peer.recv(lambda m: m.handle == LOAD_MODULE and
                    unpickle(m.data)[0] == name,
                    timeout=max(0.0, deadline - time.monotonic())):
        count += 1
    return count


def act_allocate_ids(peer, call, count):
    """count ALLOCATE_ID requests in a row; checks the blocks."""
    handle = peer.new_handle()
    request = peer.frame(0, ALLOCATE_ID, b'', reply_to=handle)
    batch = 1000
    sent = 0
    blocks = []
    while sent < count:
        n = min(batch, count - sent)
        peer.write(request * n)
        sent += n
        for _ in range(n):
            msg = peer.recv(lambda m: m.handle == handle, timeout=10.0)
            if msg is None:
                break
            blocks.append(tuple(unpickle(msg.data)))
    ok = all(end - first == 1000 for first, end in blocks)
    ordered = sorted(blocks)
    disjoint = all(a[1] <= b[0] for a, b in zip(ordered, ordered[1:]))
    return {'count': len(blocks), 'sizes_ok': ok, 'disjoint': disjoint,
            'first': ordered[0][0] if ordered else 0,
            'last': ordered[-1][1] if ordered else 0}


def act_allocate_until_wrap(peer, call, limit):
    """ALLOCATE_ID until the master refuses, its counter wraps around,
    or `limit` requests. Fast: a batch of requests, then its replies read
    in bulk; only the last reply of a batch is unpickled unless the batch
    holds the wrap."""
    handle = peer.new_handle()
    request = peer.frame(0, ALLOCATE_ID, b'', reply_to=handle)
    batch = 20000
    sent = 0
    previous = 0
    result = {'count': 0, 'wrapped': False, 'refused': '',
              'first': 0, 'last': 0, 'over_32_bits': False, 'wrapped_to': 0}
    while sent < limit:
        n = min(batch, limit - sent)
        peer.write(request * n)
        sent += n
        payloads = []
        while len(payloads) < n:
            buf = peer.buf
            offset = 0
            while len(payloads) < n and len(buf) - offset >= HEADER.size:
                _, _, _, _, h, reply_to, length = \
                    HEADER.unpack_from(buf, offset)
                if len(buf) - offset < HEADER.size + length:
                    break
                data = bytes(buf[offset + HEADER.size:
                                 offset + HEADER.size + length])
                offset += HEADER.size + length
                if h != handle:
                    continue
                if reply_to == IS_DEAD:
                    result['refused'] = data.decode('utf-8', 'replace')
                    return result
                payloads.append(data)
            del buf[:offset]
            if len(payloads) < n and not peer.read_some(10.0):
                return result
        result['count'] += len(payloads)
        if result['first'] == 0:
            result['first'] = unpickle(payloads[0])[0]
        first, end = unpickle(payloads[-1])
        result['last'] = end
        if first < previous or end > 1 << 32:
            for data in payloads:
                first, end = unpickle(data)
                if end > 1 << 32:
                    result['over_32_bits'] = True
                if first < previous:
                    result['wrapped'] = True
                    result['wrapped_to'] = first
                    return result
                previous = first
        previous = first
    return result


def act_flood_unread(peer, call, count, hold_seconds):
    """Sends count requests that each earn a reply, and reads nothing for
    hold_seconds."""
    peer.reply_value(call, 'flooding')
    request = peer.frame(0, BARRIER_HANDLE, b'', reply_to=peer.new_handle())
    batch = request * 10000
    sent = 0
    while sent < count:
        n = min(10000, count - sent)
        peer.write(batch if n == 10000 else request * n)
        sent += n
    time.sleep(hold_seconds)
    drained = 0
    while peer.read_some(0.5):
        drained += len(peer.buf)
        peer.buf.clear()
    report(event='flood-drained', bytes=drained)
    return NO_REPLY


def act_exit(peer, call, status):
    os._exit(status)


ACTIONS = {
    'ping': act_ping,
    'bad_magic': act_bad_magic,
    'oversized': act_oversized,
    'lying_length': act_lying_length,
    'reply_pickle': act_reply_pickle,
    'send_frames': act_send_frames,
    'get_modules': act_get_modules,
    'module_replies': act_module_replies,
    'allocate_ids': act_allocate_ids,
    'allocate_until_wrap': act_allocate_until_wrap,
    'flood_unread': act_flood_unread,
    'exit': act_exit,
}


def dispatch(peer, msg):
    if msg.handle == SHUTDOWN and msg.auth == peer.parent_id:
        report(event='shutdown')
        sys.exit(0)
    if msg.handle != CALL_FUNCTION or msg.dead:
        return
    try:
        chain, module, klass, function, args, kwargs = unpickle(msg.data)
        if module != 'hostile' or function not in ACTIONS:
            raise ValueError('no such action %s.%s' % (module, function))
        value = ACTIONS[function](peer, msg, *args, **(kwargs or {}))
    except SystemExit:
        raise
    except Exception as exc:
        text = 'builtins.%s: %s' % (type(exc).__name__, exc)
        peer.reply(msg, b'\x80\x02cmitogen.core\n_unpickle_call_error\nX' +
                   le32(len(text.encode())) + text.encode() + b'\x85R.')
        return
    if value is not NO_REPLY:
        peer.reply_value(msg, value)


def garbage(rng, size):
    # Binary noise that cannot contain a marker (no 'M') nor end a line.
    return bytes(b for b in (rng.randrange(256) for _ in range(size))
                 if b not in (ord('M'), ord('\n')))


def bootstrap(scenario, n):
    rng = random.Random(1234)
    marker_line = ('GARBAGE %s\n' % MARKER).encode()
    if scenario in ('garbage-exit', 'garbage-hang'):
        os.write(1, garbage(rng, 512) + b'\n' + marker_line)
        os.write(2, garbage(rng, 64) + b'\n')
        if scenario == 'garbage-exit':
            os._exit(7)
        time.sleep(120)
        os._exit(0)
    if scenario == 'huge-line':
        block = b'A' * 65536
        for _ in range(128):
            os.write(1, block)
        os.write(1, marker_line)
        os._exit(5)

    os.write(1, b'MITO000\n')
    if scenario in ('garbage-mito002', 'text-mito002'):
        noise = garbage(rng, 300)
        if scenario == 'text-mito002':
            noise = bytes(b for b in noise if 0x20 <= b < 0x7f)
        os.write(1, noise + b'MITO002\n' +
                 b'this is not a frame header at all ' * 4)
        Peer({}).wait_eof(30)
        os._exit(0)

    left = n
    while left > 0:
        chunk = os.read(0, left)
        if not chunk:
            sys.exit('hostile: EOF while reading the runtime')
        left -= len(chunk)
    report(event='runtime-read', size=n)

    if scenario == 'no-mito002':
        os.write(1, marker_line)
        time.sleep(120)
        os._exit(0)

    os.write(1, b'MITO002\n')


def main(argv):
    if len(argv) < 3 or argv[1] != '-c':
        sys.exit('usage: hostile_child.py -c STAGE1')
    stage1 = argv[2]
    n = int(re.search(r'\bn=(\d+);', stage1).group(1))
    match = re.search(r'm\._C=(\{.*?\});m\._S=', stage1)
    config = ast.literal_eval(match.group(1)) if match else {}
    scenario = os.environ.get('MITOGEN_HOSTILE_SCENARIO', 'rpc')

    bootstrap(scenario, n)

    peer = Peer(config)
    report(event='up', context_id=peer.context_id)
    while True:
        msg = peer.recv(timeout=None)
        if msg is None:
            report(event='eof')
            return 0
        dispatch(peer, msg)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
