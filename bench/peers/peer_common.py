"""What the Python runners of bench/bench.py share: the command line of the
runner contract, /proc readings, and every metric written once on top of a
small per-library adapter (bench/peers/mitogen_peer.py, execnet_peer.py).

Runner contract: RUNNER METRIC [options]; one JSON object per line on
stdout, diagnostics on stderr, exit status 0 on success.  See
bench/README.md, "bench.py: the side-by-side run".

SPDX-License-Identifier: BSD-3-Clause
"""

import argparse
import gc
import json
import os
import sys
import threading
import time

WARMUP_CALLS = 100
IDLE_SECONDS = 0.5
METRICS = ('bootstrap', 'rtt', 'pipelined', 'bulk', 'fanout', 'via3',
           'master-memory', 'idle-rss', 'bootstrap-bytes')


def random_bytes(size):
    """size random bytes, read once from user space so that the timed part
    does not pay for the first touch of each page (see make_random() in
    bench/python/mitogen_bench_child.py)."""
    data = os.urandom(size)
    data.count(0)
    return data


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='bench.py runner')
    p.add_argument('metric', choices=METRICS)
    p.add_argument('--count', type=int, default=20)
    p.add_argument('--size', type=int, default=16 << 20)
    p.add_argument('--direction', choices=('m2c', 'c2m'), default='m2c')
    p.add_argument('--mode', choices=('call', 'stream'), default='call')
    p.add_argument('--chunk', type=int, default=262144)
    p.add_argument('--window', type=int, default=4)
    p.add_argument('--children', type=int, default=20)
    p.add_argument('--python', default=sys.executable,
                   help='interpreter the children run (default: this one)')
    return p.parse_args(argv)


def proc_status(pid='self'):
    """The numeric fields of /proc/PID/status (kB fields in KiB)."""
    fields = {}
    with open('/proc/%s/status' % (pid,)) as fp:
        for line in fp:
            name, _, rest = line.partition(':')
            words = rest.split()
            if words and words[0].isdigit():
                fields[name] = int(words[0])
    return fields


def reset_peak_rss():
    """Reset VmHWM to the current VmRSS (Linux >= 4.0)."""
    with open('/proc/self/clear_refs', 'w') as fp:
        fp.write('5')


def emit(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def log(text):
    sys.stderr.write(text + '\n')
    sys.stderr.flush()


def now():
    return time.perf_counter()


class Adapter(object):
    """What one library has to provide.  A child is whatever spawn()
    returns; it is bootstrapped but has not run anything yet."""

    def start(self, python):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    def spawn(self, via=None):
        raise NotImplementedError

    def call(self, child):
        """The trivial call; returns the child's pid."""
        raise NotImplementedError

    def pipelined(self, child, count):
        """Start count trivial calls at once, then gather them all."""
        raise NotImplementedError

    def close(self, child):
        raise NotImplementedError

    def bulk_prepare(self, child, size, direction, mode):
        """Set-up, not timed: random data on the sending side.  Returns
        whatever bulk_run() needs."""
        raise NotImplementedError

    def bulk_run(self, child, state, size, direction, mode, chunk, window):
        """The timed transfer; returns the number of bytes the receiving
        side saw."""
        raise NotImplementedError

    def bootstrap_bytes(self):
        raise NotImplementedError


def _rtt_samples(adapter, child, count):
    for _ in range(WARMUP_CALLS):
        adapter.call(child)
    samples = []
    for _ in range(count):
        t = now()
        adapter.call(child)
        samples.append((now() - t) * 1e6)
    return samples


def m_bootstrap(adapter, args):
    samples = []
    for _ in range(args.count):
        t = now()
        child = adapter.spawn()
        adapter.call(child)
        samples.append((now() - t) * 1e3)
        adapter.close(child)
    emit({'metric': 'bootstrap_ms', 'samples': samples})


def m_rtt(adapter, args):
    child = adapter.spawn()
    samples = _rtt_samples(adapter, child, args.count)
    adapter.close(child)
    emit({'metric': 'call_rtt_us', 'samples': samples})


def m_pipelined(adapter, args):
    child = adapter.spawn()
    for _ in range(WARMUP_CALLS):
        adapter.call(child)
    t = now()
    adapter.pipelined(child, args.count)
    elapsed = now() - t
    adapter.close(child)
    emit({'metric': 'calls_per_s', 'value': args.count / elapsed})


def m_bulk(adapter, args):
    child = adapter.spawn()
    adapter.call(child)
    state = adapter.bulk_prepare(child, args.size, args.direction, args.mode)
    if args.mode == 'stream':
        # One window of chunks first, as mitogen-glib-bench does: what a
        # first stream loads (code, receive buffers) is set-up, as the
        # helper module's import is.
        first = min(args.chunk * args.window, args.size)
        adapter.bulk_run(child, state[:first] if args.direction == 'm2c'
                         else state, first, args.direction, args.mode,
                         args.chunk, args.window)
    gc.collect()
    reset_peak_rss()
    before = proc_status()['VmRSS']
    t = now()
    got = adapter.bulk_run(child, state, args.size, args.direction,
                           args.mode, args.chunk, args.window)
    elapsed = now() - t
    peak = proc_status()['VmHWM']
    if got != args.size:
        raise RuntimeError('transferred %r bytes, expected %r'
                           % (got, args.size))
    del state
    adapter.close(child)
    emit({'metric': 'bulk_mb_per_s', 'value': args.size / elapsed / 1e6,
          'peak_rss_kib': peak, 'rss_growth_kib': peak - before,
          'seconds': elapsed})


def m_fanout(adapter, args):
    n = args.children
    go = threading.Event()
    children = [None] * n
    errors = []

    def one(i):
        go.wait()
        try:
            child = adapter.spawn()
            children[i] = child
            adapter.call(child)
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    t = now()
    go.set()
    for thread in threads:
        thread.join()
    elapsed = now() - t
    for child in children:
        if child is not None:
            adapter.close(child)
    if errors:
        raise errors[0]
    emit({'metric': 'fanout_ms', 'value': elapsed * 1e3})


def m_via3(adapter, args):
    first = adapter.spawn()
    second = adapter.spawn(via=first)
    third = adapter.spawn(via=second)
    samples = _rtt_samples(adapter, third, args.count)
    for child in (third, second, first):
        adapter.close(child)
    emit({'metric': 'via3_rtt_us', 'samples': samples})


def m_master_memory(adapter, args):
    # One child first, so that what the first connection loads once
    # (imports, compressed bootstrap, ...) is not charged per child.
    warm = adapter.spawn()
    adapter.call(warm)
    gc.collect()
    before = proc_status()
    children = []
    for _ in range(args.children):
        child = adapter.spawn()
        adapter.call(child)
        children.append(child)
    gc.collect()
    after = proc_status()
    for child in children + [warm]:
        adapter.close(child)
    n = float(args.children)
    emit({'metric': 'master_kib_per_child',
          'value': (after['VmRSS'] - before['VmRSS']) / n,
          'threads_per_child': (after['Threads'] - before['Threads']) / n})


def m_idle_rss(adapter, args):
    child = adapter.spawn()
    pid = adapter.call(child)
    time.sleep(IDLE_SECONDS)
    rss = proc_status(pid)['VmRSS']
    adapter.close(child)
    emit({'metric': 'idle_child_rss_kib', 'value': rss, 'pid': pid})


def m_bootstrap_bytes(adapter, args):
    emit({'metric': 'bootstrap_bytes', 'value': adapter.bootstrap_bytes()})


def main(adapter, argv=None):
    args = parse_args(argv)
    adapter.start(args.python)
    try:
        globals()['m_' + args.metric.replace('-', '_')](adapter, args)
    finally:
        adapter.stop()
    return 0
