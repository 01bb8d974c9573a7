#!/usr/bin/python3
"""bench.py runner for Mitogen 0.3.3 driven by its own Python master
(mitogen.master.Broker and Router, router.local()).

    mitogen_peer.py METRIC [--count N] [--size BYTES] [--direction m2c|c2m]
                   [--mode call|stream] [--chunk BYTES] [--window N]
                   [--children N] [--python PATH]

The trivial call is context.call(os.getpid).  Bulk and streaming use
bench/python/mitogen_bench_child.py, which the children fetch from this
process through Mitogen's module forwarding.

SPDX-License-Identifier: BSD-3-Clause
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'python'))

import mitogen.core    # noqa: E402
import mitogen.master  # noqa: E402
import mitogen.parent  # noqa: E402

import mitogen_bench_child as helper  # noqa: E402
import peer_common                    # noqa: E402

TIMEOUT = 120.0
# 64 MiB of bytes pickle to about 96 MiB in Mitogen's protocol 2 form
# (_codecs.encode of latin-1 text), under the 128 MiB default; leave room.
MAX_MESSAGE_SIZE = 256 << 20


class MitogenAdapter(peer_common.Adapter):
    def start(self, python):
        self.python = python
        self.broker = mitogen.master.Broker()
        self.router = mitogen.master.Router(
            self.broker, max_message_size=MAX_MESSAGE_SIZE)

    def stop(self):
        self.broker.shutdown()
        self.broker.join()

    def spawn(self, via=None):
        return self.router.local(python_path=self.python, via=via)

    def call(self, child):
        return child.call(os.getpid)

    def pipelined(self, child, count):
        receivers = [child.call_async(os.getpid) for _ in range(count)]
        for receiver in receivers:
            receiver.get(timeout=TIMEOUT).unpickle()

    def close(self, child):
        child.shutdown(wait=True)

    def bulk_prepare(self, child, size, direction, mode):
        # Also loads mitogen_bench_child in the child (module forwarding),
        # so that the import is not timed.
        if direction == 'm2c':
            child.call(helper.pid_rss)
            return peer_common.random_bytes(size)
        child.call(helper.make_random, size)
        return None

    def bulk_run(self, child, data, size, direction, mode, chunk, window):
        if mode == 'call':
            if direction == 'm2c':
                return child.call(helper.consume, data)
            return len(child.call(helper.produce))
        receiver = mitogen.core.Receiver(self.router)
        try:
            if direction == 'm2c':
                return self._stream_m2c(child, receiver, data, size, chunk,
                                        window)
            return self._stream_c2m(child, receiver, size, chunk, window)
        finally:
            receiver.close()

    def _stream_m2c(self, child, acks, data, size, chunk, window):
        call = child.call_async(helper.stream_sink, acks.to_sender(), size)
        sink = acks.get(timeout=TIMEOUT).unpickle()
        sent = chunks_sent = chunks_acked = 0
        while sent < size:
            while chunks_sent - chunks_acked >= window:
                acks.get(timeout=TIMEOUT).unpickle()
                chunks_acked += 1
            sink.send(data[sent:sent + chunk])
            sent += min(chunk, size - sent)
            chunks_sent += 1
        count = 0
        while chunks_acked < chunks_sent:
            count = acks.get(timeout=TIMEOUT).unpickle()
            chunks_acked += 1
        result = call.get(timeout=TIMEOUT).unpickle()
        return count if result == size else -1

    def _stream_c2m(self, child, data, size, chunk, window):
        call = child.call_async(helper.stream_source, data.to_sender(), size,
                                chunk, window)
        ack = data.get(timeout=TIMEOUT).unpickle()
        count = 0
        while count < size:
            count += len(data.get(timeout=TIMEOUT).unpickle())
            ack.send(count)
        result = call.get(timeout=TIMEOUT).unpickle()
        return count if result == size else -1

    def bootstrap_bytes(self):
        """Bytes written to the child until the result of its first trivial
        call arrives: the -c program on its command line, the preamble, and
        every frame, counted by wrapping mitogen.core.Side.write (minus the
        broker's own wake-up pipe)."""
        counted = {'argv': 0, 'stream': 0}
        waker = self.broker._waker
        waker_stream = getattr(waker, 'stream', None) or waker
        real_write = mitogen.core.Side.write
        real_boot = mitogen.parent.Connection.get_boot_command

        def write(side, s):
            n = real_write(side, s)
            if n and side.stream is not waker_stream:
                counted['stream'] += n
            return n

        def get_boot_command(conn):
            argv = real_boot(conn)
            counted['argv'] += len(argv[argv.index('-c') + 1].encode())
            return argv

        mitogen.core.Side.write = write
        mitogen.parent.Connection.get_boot_command = get_boot_command
        try:
            child = self.spawn()
            self.call(child)
        finally:
            mitogen.core.Side.write = real_write
            mitogen.parent.Connection.get_boot_command = real_boot
        self.close(child)
        peer_common.log('mitogen 0.3.3 bootstrap bytes: -c %d, stream %d'
                        % (counted['argv'], counted['stream']))
        return counted['argv'] + counted['stream']


if __name__ == '__main__':
    sys.exit(peer_common.main(MitogenAdapter()))
