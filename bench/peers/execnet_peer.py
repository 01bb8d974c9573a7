#!/usr/bin/python3
"""bench.py runner for execnet 1.9 (execnet.Group().makegateway('popen//...')).

    execnet_peer.py METRIC [--count N] [--size BYTES] [--direction m2c|c2m]
                   [--mode call|stream] [--chunk BYTES] [--window N]
                   [--children N] [--python PATH]

execnet has no function-call RPC: it executes source in the child
(remote_exec) and gives both sides a channel.  The closest thing to a
trivial call is one message round trip on a channel to a loop running in
the child, `for x in channel: channel.send(os.getpid())`: the master sends
None and waits for the pid.  The loop is started (remote_exec) by the first
call on a gateway, so "bootstrap" is makegateway() + remote_exec() + one
round trip.

Bulk, on a second channel to a command loop in the child (BULK_SOURCE):
"call" mode is one message carrying the whole bytes and one reply (its
length) for master->child, one request and one reply carrying the whole
bytes for child->master; "stream" mode sends the bytes in chunks on the
channel with the same window and acknowledgements (running byte counts) as
mitogen_bench_child.stream_sink/stream_source.

SPDX-License-Identifier: BSD-3-Clause
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import execnet                # noqa: E402
import execnet.gateway_base   # noqa: E402
import execnet.gateway_io     # noqa: E402

import peer_common            # noqa: E402

JOIN_TIMEOUT = 30.0
TIMEOUT = 120.0

LOOP_SOURCE = '''
import os
for _ in channel:
    channel.send(os.getpid())
'''

BULK_SOURCE = '''
import os
data = b''

def chunk_at(offset, size):
    start = offset % len(data)
    parts = []
    while size > 0:
        piece = data[start:start + size]
        parts.append(piece)
        size -= len(piece)
        start = 0
    return parts[0] if len(parts) == 1 else b''.join(parts)

for cmd in channel:
    op = cmd[0]
    if op == 'make_random':
        data = b''
        data = os.urandom(cmd[1])
        data.count(0)   # first touch in set-up, as in mitogen_bench_child
        channel.send(len(data))
    elif op == 'consume':
        channel.send(len(cmd[1]))
    elif op == 'produce':
        channel.send(data)
    elif op == 'sink':
        total = cmd[1]
        count = 0
        while count < total:
            count += len(channel.receive())
            channel.send(count)
    elif op == 'source':
        total, chunk, window = cmd[1:]
        sent = chunks_sent = chunks_acked = 0
        while sent < total:
            while chunks_sent - chunks_acked >= window:
                channel.receive()
                chunks_acked += 1
            size = min(chunk, total - sent)
            channel.send(chunk_at(sent, size))
            sent += size
            chunks_sent += 1
        while chunks_acked < chunks_sent:
            acked = channel.receive()
            chunks_acked += 1
        channel.send(('done', acked))
'''


class Child(object):
    def __init__(self, gateway):
        self.gateway = gateway
        self.channel = None
        self.bulk = None


class ExecnetAdapter(peer_common.Adapter):
    def start(self, python):
        self.python = python
        self.group = execnet.Group()

    def stop(self):
        self.group.terminate(timeout=JOIN_TIMEOUT)

    def spawn(self, via=None):
        spec = 'popen//python=%s' % (self.python,)
        if via is not None:
            spec += '//via=%s' % (via.gateway.id,)
        return Child(self.group.makegateway(spec))

    def _channel(self, child):
        if child.channel is None:
            child.channel = child.gateway.remote_exec(LOOP_SOURCE)
        return child.channel

    def call(self, child):
        channel = self._channel(child)
        channel.send(None)
        return channel.receive(TIMEOUT)

    def pipelined(self, child, count):
        channel = self._channel(child)
        for _ in range(count):
            channel.send(None)
        for _ in range(count):
            channel.receive(TIMEOUT)

    def close(self, child):
        for channel in (child.channel, child.bulk):
            if channel is not None:
                channel.close()
        child.gateway.exit()
        child.gateway.join(JOIN_TIMEOUT)
        # Reap the process (popen gateways; a via gateway's io asks its
        # forwarder).
        child.gateway._io.wait()

    def bulk_prepare(self, child, size, direction, mode):
        child.bulk = child.gateway.remote_exec(BULK_SOURCE)
        if direction == 'm2c':
            return peer_common.random_bytes(size)
        child.bulk.send(('make_random', size))
        child.bulk.receive(TIMEOUT)
        return None

    def bulk_run(self, child, data, size, direction, mode, chunk, window):
        channel = child.bulk
        if mode == 'call':
            if direction == 'm2c':
                channel.send(('consume', data))
                return channel.receive(TIMEOUT)
            channel.send(('produce',))
            return len(channel.receive(TIMEOUT))
        if direction == 'm2c':
            channel.send(('sink', size))
            sent = chunks_sent = chunks_acked = count = 0
            while sent < size:
                while chunks_sent - chunks_acked >= window:
                    channel.receive(TIMEOUT)
                    chunks_acked += 1
                channel.send(data[sent:sent + chunk])
                sent += min(chunk, size - sent)
                chunks_sent += 1
            while chunks_acked < chunks_sent:
                count = channel.receive(TIMEOUT)
                chunks_acked += 1
            return count
        channel.send(('source', size, chunk, window))
        count = 0
        while count < size:
            count += len(channel.receive(TIMEOUT))
            channel.send(count)
        done = channel.receive(TIMEOUT)
        return count if done == ('done', size) else -1

    def bootstrap_bytes(self):
        """Bytes written to the child until the result of its first trivial
        call (see the module docstring) arrives: the -c program on its
        command line plus everything written through
        execnet.gateway_base.Popen2IO.write (the gateway_base source sent by
        sendexec, then the messages)."""
        counted = {'stream': 0}
        io_class = execnet.gateway_base.Popen2IO
        real_write = io_class.write

        def write(io, data):
            counted['stream'] += len(data)
            return real_write(io, data)

        io_class.write = write
        try:
            child = self.spawn()
            self.call(child)
        finally:
            io_class.write = real_write
        self.close(child)
        argv = len(execnet.gateway_io.popen_bootstrapline.encode())
        peer_common.log('execnet 1.9 bootstrap bytes: -c %d, stream %d'
                        % (argv, counted['stream']))
        return argv + counted['stream']


if __name__ == '__main__':
    sys.exit(peer_common.main(ExecnetAdapter()))
