#!/usr/bin/python3
"""The side-by-side benchmark: every metric, for every implementation, in
one run, alternating the implementations, with repetitions and medians,
next to the floors the machine itself sets.

    /usr/bin/python3 bench/bench.py [--build-dir build] [--reps N] [--smoke]
        [--only IMPL,...] [--metrics M,...] [--json FILE] [--markdown FILE]
        [--python PATH]

Implementations (rows of the JSON, columns of the table):

    mitogen-glib                 BUILD/bench/mitogen-glib-bench --runtime own
    mitogen-glib+upstream child  BUILD/bench/mitogen-glib-bench --runtime upstream
    mitogen 0.3.3                PYTHON bench/peers/mitogen_peer.py
    execnet 1.9                  PYTHON bench/peers/execnet_peer.py
    floor                        BUILD/bench/bench-floors

Every runner follows one contract: `RUNNER METRIC [options]`, one JSON
object per line on stdout ({"metric": ..., "samples": [...]} or
{"metric": ..., "value": x, ...}), exit status 0.  bench/README.md explains
each metric, how each implementation measures it, and the targets.

SPDX-License-Identifier: BSD-3-Clause
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import tempfile
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MIB = 1 << 20
KIB = 1 << 10

OWN = 'mitogen-glib'
UPSTREAM = 'mitogen-glib+upstream child'
MITOGEN = 'mitogen 0.3.3'
EXECNET = 'execnet 1.9'
FLOOR = 'floor'
IMPLS = (OWN, UPSTREAM, MITOGEN, EXECNET)
FLOOR_IMPLS = (FLOOR,)
ALIASES = {
    'own': OWN, 'glib': OWN, 'mitogen-glib': OWN,
    'upstream': UPSTREAM, '+upstream child': UPSTREAM,
    'mitogen': MITOGEN, 'mitogen-0.3.3': MITOGEN,
    'execnet': EXECNET,
}
SHORT = {OWN: 'mitogen-glib', UPSTREAM: '+upstream child',
         MITOGEN: 'mitogen 0.3.3', EXECNET: 'execnet 1.9'}

# Counts and sizes: (full run, --smoke).
COUNTS = {
    'bootstrap': (20, 2),
    'rtt': (2000, 20),
    'pipelined': (5000, 50),
    'via3': (1000, 20),
    'master-memory': (50, 3),
    'pipe-rtt': (10000, 20),
    'design-rtt': (2000, 20),
    'design-via3-rtt': (1000, 20),
    'spawn': (20, 2),
}
FANOUT = ((20, 50), (3,))
BULK_SIZES = ((16 * MIB, 64 * MIB), (256 * KIB,))
BULK_SMOKE_CHUNK = 32 * KIB      # several chunks, more than the window
PIPE_BANDWIDTH_SIZE = (256 * MIB, 256 * KIB)
DEADLINE = (300, 60)             # seconds, per runner invocation

RSS_GROWTH_LIMIT_KIB = 8 * 1024  # 8 MiB
MASTER_KB_PER_CHILD = 16         # kB = 1000 bytes
BOOTSTRAP_BYTES_LIMIT = 8192


class Step(object):
    """One runner invocation per implementation per repetition.

    key: the metric key of its main result; impls: who runs it (IMPLS or
    (FLOOR,)); args: the runner arguments after METRIC; extract: the
    fields of the JSON object to keep, as {field: metric key}; optional:
    those of the extra fields that only some implementations report;
    first_key: also keep the first of the samples, as this metric key."""

    def __init__(self, key, runner_metric, args, unit, impls=IMPLS,
                 pinned=False, extra=None, group=None, optional=(),
                 first_key=None):
        self.key = key
        self.runner_metric = runner_metric
        self.args = [str(a) for a in args]
        self.unit = unit
        self.impls = impls
        self.pinned = pinned
        self.extra = extra or {}
        self.group = group or runner_metric
        self.optional = frozenset(optional)
        self.first_key = first_key

    def keys(self):
        return [self.key] + self.extra_keys()

    def extra_keys(self):
        return [k for k, _ in self.extra.values()] + \
            ([self.first_key] if self.first_key else [])


def size_label(size):
    if size % MIB == 0:
        return '%dmib' % (size // MIB)
    return '%dkib' % (size // KIB)


def make_steps(smoke, python):
    s = 1 if smoke else 0
    count = dict((k, v[s]) for k, v in COUNTS.items())
    py = ['--python', python]
    steps = []
    add = steps.append

    def floor(key, metric, args, unit, pinned=False):
        add(Step(key, metric, args, unit, impls=FLOOR_IMPLS, pinned=pinned,
                 group='floor'))

    floor('spawn_ms', 'spawn', ['--count', count['spawn']] + py, 'ms')
    # bootstrap_first_ms: the first child of a fresh master (one-off costs;
    # mitogen-glib sends it the runtime's source, see README).
    add(Step('bootstrap_ms', 'bootstrap', ['--count', count['bootstrap']],
             'ms', first_key='bootstrap_first_ms'))
    floor('pipe_rtt_us', 'pipe-rtt', ['--count', count['pipe-rtt']], 'us')
    add(Step('call_rtt_us', 'rtt', ['--count', count['rtt']], 'us'))
    floor('pipe_rtt_pinned_us', 'pipe-rtt', ['--count', count['pipe-rtt']],
          'us', pinned=True)
    floor('design_rtt_us', 'design-rtt',
          ['--count', count['design-rtt']] + py, 'us')
    floor('design_rtt_pinned_us', 'design-rtt',
          ['--count', count['design-rtt']] + py, 'us', pinned=True)
    floor('python_echo_rtt_us', 'python-echo-rtt',
          ['--count', count['design-rtt']] + py, 'us')
    floor('python_echo_rtt_pinned_us', 'python-echo-rtt',
          ['--count', count['design-rtt']] + py, 'us', pinned=True)
    add(Step('call_rtt_pinned_us', 'rtt', ['--count', count['rtt']], 'us',
             pinned=True))
    add(Step('calls_per_s', 'pipelined', ['--count', count['pipelined']],
             'calls/s'))
    floor('pipe_mb_per_s', 'pipe-bandwidth',
          ['--size', PIPE_BANDWIDTH_SIZE[s]], 'MB/s')
    for size in BULK_SIZES[s]:
        for mode in ('stream', 'call'):
            for direction in ('m2c', 'c2m'):
                key = 'bulk_%s_%s_%s' % (mode, direction, size_label(size))
                args = ['--size', size, '--direction', direction,
                        '--mode', mode]
                if smoke:
                    args += ['--chunk', BULK_SMOKE_CHUNK]
                add(Step(key, 'bulk', args, 'MB/s', extra={
                    'rss_growth_kib': (key + '_rss_growth_kib', 'KiB'),
                    'peak_rss_kib': (key + '_peak_rss_kib', 'KiB'),
                }))
    for n in FANOUT[s]:
        floor('spawn_parallel%d_ms' % n, 'spawn-parallel',
              ['--children', n] + py, 'ms')
        add(Step('fanout%d_ms' % n, 'fanout', ['--children', n], 'ms'))
    add(Step('via3_rtt_us', 'via3', ['--count', count['via3']], 'us'))
    add(Step('via3_rtt_pinned_us', 'via3', ['--count', count['via3']], 'us',
             pinned=True))
    floor('design_via3_rtt_us', 'design-via3-rtt',
          ['--count', count['design-via3-rtt']] + py, 'us')
    floor('design_via3_rtt_pinned_us', 'design-via3-rtt',
          ['--count', count['design-via3-rtt']] + py, 'us', pinned=True)
    add(Step('master_kib_per_child', 'master-memory',
             ['--children', count['master-memory']], 'KiB',
             extra={'threads_per_child': ('threads_per_child', 'threads')}))
    floor('bare_rss_kib', 'bare-rss', py, 'KiB')
    add(Step('idle_child_rss_kib', 'idle-rss', [], 'KiB'))
    # compiled_boot_bytes: mitogen-glib's later children on this machine,
    # which get the runtime compiled (mitogen-glib/child/README.md, 11);
    # at_reply_bytes: what it had written when the reply reached the
    # caller (its runtime's deferred parts follow the child's first
    # message: README.md there, 10).
    add(Step('bootstrap_bytes', 'bootstrap-bytes', [], 'bytes', extra={
        'compiled_boot_bytes': ('bootstrap_bytes_compiled', 'bytes'),
        'at_reply_bytes': ('bootstrap_bytes_at_reply', 'bytes'),
    }, optional=('compiled_boot_bytes', 'at_reply_bytes')))
    for step in steps:
        if step.impls != FLOOR_IMPLS:
            step.args += py
    return steps


# What bounds the round-trip rows from below, the most basic first: a
# python3 echo answering a C caller that reads the reply itself (no master
# can do less with a Python child), then the floor of the fixed thread
# design (bench-floors design-rtt). Where one misses a target, nothing
# built on it can meet the target on this machine.
BOUNDS = {
    'call_rtt_us': [('python_echo_rtt_us', 'python echo',
                     'a bare python3 echo'),
                    ('design_rtt_us', 'design', 'the design floor')],
    'call_rtt_pinned_us': [('python_echo_rtt_pinned_us', 'python echo',
                            'a bare python3 echo'),
                           ('design_rtt_pinned_us', 'design',
                            'the design floor')],
    'via3_rtt_us': [('design_via3_rtt_us', 'design', 'the design floor')],
    'via3_rtt_pinned_us': [('design_via3_rtt_pinned_us', 'design',
                            'the design floor')],
}


# -- What each table row compares with, and the targets ----------------------

class Row(object):
    """How one metric is shown: the floor it is set against, what the
    ratios in its cells are relative to ('floor' or EXECNET), and the target
    for mitogen-glib (own child), if any: (op, factor, relative to) or
    (op, absolute limit, None)."""

    def __init__(self, key, floor=None, ratio=None, target=None, note=''):
        self.key = key
        self.floor = floor
        self.ratio = ratio
        self.target = target
        self.note = note
        self.bounds = BOUNDS.get(key, [])


def make_rows(steps):
    keys = []
    for step in steps:
        if step.impls != FLOOR_IMPLS:
            keys += [step.key] + [k for k in step.extra_keys()
                                  if not k.endswith('_peak_rss_kib')]
    fanouts = sorted(int(k[6:-3]) for k in keys
                     if k.startswith('fanout') and k.endswith('_ms'))
    rows = []
    for key in keys:
        if key == 'bootstrap_ms':
            row = Row(key, 'spawn_ms', 'floor', ('<=', 1.6, 'floor'))
        elif key == 'bootstrap_first_ms':
            row = Row(key, 'spawn_ms', 'floor')
        elif key == 'call_rtt_us':
            row = Row(key, 'pipe_rtt_us', 'floor', ('<=', 1.2, 'floor'))
        elif key == 'call_rtt_pinned_us':
            row = Row(key, 'pipe_rtt_pinned_us', EXECNET,
                      ('<=', 0.4, EXECNET))
        elif key == 'calls_per_s':
            row = Row(key, None, EXECNET, ('>=', 2.0, EXECNET))
        elif key.startswith('bulk_') and key.endswith('_rss_growth_kib'):
            stream = key.startswith('bulk_stream_')
            row = Row(key, None, None,
                      ('<', RSS_GROWTH_LIMIT_KIB, None) if stream else None)
        elif key.startswith('bulk_stream_'):
            row = Row(key, 'pipe_mb_per_s', 'floor', ('>=', 0.75, 'floor'))
        elif key.startswith('bulk_call_'):
            row = Row(key, 'pipe_mb_per_s', 'floor')
        elif key.startswith('fanout'):
            n = int(key[6:-3])
            row = Row(key, 'spawn_parallel%d_ms' % n, 'floor',
                      ('<=', 1.5, 'floor') if n == fanouts[-1] else None)
        elif key == 'via3_rtt_us':
            row = Row(key, None, EXECNET)
        elif key == 'via3_rtt_pinned_us':
            row = Row(key, None, EXECNET, ('<=', 0.3, EXECNET))
        elif key == 'master_kib_per_child':
            # Target in kB (1000 bytes); the value is in KiB (what /proc
            # calls kB), so the limit is 16000 / 1024 = 15.6 KiB.
            row = Row(key, None, None,
                      ('<=', MASTER_KB_PER_CHILD * 1000.0 / 1024, None),
                      note='%d kB' % MASTER_KB_PER_CHILD)
        elif key == 'threads_per_child':
            row = Row(key, None, None, ('<', 1, None))
        elif key == 'idle_child_rss_kib':
            row = Row(key, 'bare_rss_kib', 'floor', ('<=', 1.25, 'floor'))
        elif key == 'bootstrap_bytes':
            row = Row(key, None, None, ('<=', BOOTSTRAP_BYTES_LIMIT, None))
        else:
            row = Row(key)
        rows.append(row)
    return rows


# -- Running one runner ------------------------------------------------------

class Outcome(object):
    def __init__(self, values=None, error=None, skipped=None):
        self.values = values or {}     # metric key -> number
        self.error = error             # why it failed
        self.skipped = skipped         # why it was not run


def runner_argv(impl, build_dir, python, cache_dir=None):
    bench = os.path.join(build_dir, 'bench')
    if impl == OWN:
        return [os.path.join(bench, 'mitogen-glib-bench'), '--runtime', 'own'] + \
            (['--cache-directory', cache_dir] if cache_dir else [])
    if impl == UPSTREAM:
        return [os.path.join(bench, 'mitogen-glib-bench'),
                '--runtime', 'upstream']
    if impl == MITOGEN:
        return [python, os.path.join(HERE, 'peers', 'mitogen_peer.py')]
    if impl == EXECNET:
        return [python, os.path.join(HERE, 'peers', 'execnet_peer.py')]
    return [os.path.join(bench, 'bench-floors')]


def pick(objects, metric):
    """The object for metric, else the first one with samples or value."""
    for obj in objects:
        if obj.get('metric') == metric:
            return obj
    for obj in objects:
        if 'samples' in obj or 'value' in obj:
            return obj
    return None


def number(obj):
    if 'samples' in obj:
        samples = [float(x) for x in obj['samples']]
        return statistics.median(samples) if samples else None
    value = obj.get('value')
    return None if value is None else float(value)


def run_one(argv, step, deadline, prefix=()):
    """Run a runner (under prefix, e.g. taskset); never raises, never
    waits longer than deadline."""
    if not os.path.exists(argv[0]):
        return Outcome(error='missing: %s' % (argv[0],)), ''
    argv = list(prefix) + argv
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE,
                                start_new_session=True)
    except OSError as e:
        return Outcome(error='cannot run: %s' % (e,)), ''
    try:
        out, err = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = proc.communicate()
        return (Outcome(error='timeout after %d s' % deadline),
                err.decode('utf-8', 'replace'))
    err = err.decode('utf-8', 'replace')
    # The runner's process group: kill whatever it left behind.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    if proc.returncode == 77:
        reason = (err.strip().splitlines() or ['exit status 77'])[-1]
        return Outcome(skipped='skipped: %s' % reason[:120]), err
    if proc.returncode != 0:
        return Outcome(error='exit status %d' % proc.returncode), err
    objects = []
    for line in out.decode('utf-8', 'replace').splitlines():
        line = line.strip()
        if line.startswith('{'):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                objects.append(obj)
    obj = pick(objects, expected_metric(step))
    if obj is None:
        return Outcome(error='no result on stdout'), err
    values = {}
    try:
        main = number(obj)
    except (TypeError, ValueError):
        main = None
    if main is None:
        return Outcome(error='no value in %s' % json.dumps(obj)[:200]), err
    values[step.key] = main
    if step.first_key and obj.get('samples'):
        values[step.first_key] = float(obj['samples'][0])
    for field, (key, _) in step.extra.items():
        if obj.get(field) is None:
            if field in step.optional:
                continue
            return Outcome(error='no %s in its result' % field), err
        values[key] = float(obj[field])
    return Outcome(values), err


def expected_metric(step):
    if step.impls == FLOOR_IMPLS:
        return step.key
    return {
        'bootstrap': 'bootstrap_ms', 'rtt': 'call_rtt_us',
        'pipelined': 'calls_per_s', 'bulk': 'bulk_mb_per_s',
        'fanout': 'fanout_ms', 'via3': 'via3_rtt_us',
        'master-memory': 'master_kib_per_child',
        'idle-rss': 'idle_child_rss_kib', 'bootstrap-bytes': 'bootstrap_bytes',
    }[step.runner_metric]


# -- The run -----------------------------------------------------------------

def python_info(python):
    """Versions of python, mitogen and execnet in the children's interpreter."""
    code = ('import json, sys\n'
            'info = {"python": sys.version.split()[0]}\n'
            'try:\n'
            '    import mitogen\n'
            '    info["mitogen"] = ".".join(map(str, mitogen.__version__))\n'
            'except Exception:\n'
            '    pass\n'
            'try:\n'
            '    import execnet\n'
            '    info["execnet"] = execnet.__version__\n'
            'except Exception:\n'
            '    pass\n'
            'print(json.dumps(info))\n')
    try:
        out = subprocess.run([python, '-c', code], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=60,
                             check=True).stdout
        return json.loads(out.decode())
    except (OSError, ValueError, subprocess.SubprocessError):
        return {}


def select_impls(only):
    if not only:
        return list(IMPLS)
    chosen = []
    for name in only.split(','):
        name = name.strip()
        if not name:
            continue
        impl = name if name in IMPLS else ALIASES.get(name.lower())
        if impl is None:
            raise SystemExit('bench.py: unknown implementation %r (one of: %s;'
                             ' or own, upstream, mitogen, execnet)'
                             % (name, ', '.join(IMPLS)))
        if impl not in chosen:
            chosen.append(impl)
    return [i for i in IMPLS if i in chosen]


def select_steps(steps, metrics):
    if not metrics:
        return steps
    wanted = [m.strip() for m in metrics.split(',') if m.strip()]

    def matches(step):
        return any(w == step.runner_metric or w == step.group or
                   step.key.startswith(w) for w in wanted)

    chosen = [s for s in steps if s.impls != FLOOR_IMPLS and matches(s)]
    needed = set(k for r in make_rows(chosen)
                 for k in [r.floor] + [b[0] for b in r.bounds] if k)
    result = [s for s in steps
              if (s in chosen) or (s.impls == FLOOR_IMPLS and
                                   (s.key in needed or matches(s)))]
    if not result:
        raise SystemExit('bench.py: --metrics %r selects nothing' % metrics)
    return result


def fmt(value):
    if value is None:
        return '-'
    a = abs(value)
    if a >= 100:
        return '{:,.0f}'.format(value)
    if a >= 10:
        return '%.1f' % value
    return '%.2f' % value


def fmt_ratio(value, ref):
    if value is None or not ref:
        return ''
    r = value / ref
    return ('%.2fx' % r) if r < 10 else ('%.1fx' % r)


class Run(object):
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.reps = 1 if args.smoke else args.reps
        self.deadline = DEADLINE[1 if args.smoke else 0]
        self.build_dir = os.path.abspath(args.build_dir)
        self.python = args.python
        self.taskset = shutil.which('taskset')
        self.info = python_info(self.python)
        self.notes = []
        impls = select_impls(args.only)
        self.floors = not args.no_floors
        self.impls = []
        self.skipped = {}          # impl -> why
        for impl in impls:
            why = self.missing_requirement(impl)
            if why:
                self.skipped[impl] = why
                self.notes.append('%s: skipped, %s' % (impl, why))
            else:
                self.impls.append(impl)
        if not self.taskset:
            self.notes.append('taskset not found: pinned rows skipped')
        self.steps = select_steps(make_steps(self.smoke, self.python),
                                  args.metrics)
        self.rows = make_rows(self.steps)
        self.units = {}
        self.optional_keys = set()   # extras only some implementations have
        for step in self.steps:
            self.units[step.key] = step.unit
            if step.first_key:
                self.units[step.first_key] = step.unit
            for field, (key, unit) in step.extra.items():
                self.units[key] = unit
                if field in step.optional:
                    self.optional_keys.add(key)
        # (impl, key) -> per-repetition values; (impl, key) -> errors
        self.values = {}
        self.errors = {}
        self.failed = 0
        self.succeeded = 0
        self.ran = 0

    def missing_requirement(self, impl):
        if not self.info:
            return 'cannot run %s' % (self.python,)
        if impl in (MITOGEN, UPSTREAM) and 'mitogen' not in self.info:
            return '%s has no mitogen (python3-mitogen)' % (self.python,)
        if impl == EXECNET and 'execnet' not in self.info:
            return '%s has no execnet (python3-execnet)' % (self.python,)
        return None

    def participants(self, step, rep):
        if step.impls == FLOOR_IMPLS:
            return [FLOOR] if self.floors else []
        impls = list(self.impls)
        if impls:
            k = rep % len(impls)
            impls = impls[k:] + impls[:k]
        return impls

    def fill_cache(self):
        """mitogen-glib keeps its runtime compiled per interpreter across
        programs (MitogenRouter:cache-directory; every program of a user
        after the first gets it): a directory of this run's, filled once
        before the first repetition, not the user's cache."""
        self.cache_root = tempfile.mkdtemp(prefix='mitogen-glib-bench-')
        self.cache_dir = os.path.join(self.cache_root, 'cache')
        argv = runner_argv(OWN, self.build_dir, self.python, self.cache_dir)
        try:
            subprocess.run(argv + ['bootstrap', '--count', '2', '--python',
                                   self.python],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=self.deadline)
            # The helper writes the file a little after the boots.
            deadline = time.monotonic() + 30
            while not (os.path.isdir(self.cache_dir) and
                       os.listdir(self.cache_dir)):
                if time.monotonic() > deadline:
                    raise OSError('no file written in %s' % self.cache_dir)
                time.sleep(0.05)
        except (OSError, subprocess.SubprocessError) as e:
            self.notes.append('filling the cache directory failed: %s' % (e,))
        else:
            self.notes.append('mitogen-glib: compiled runtimes kept in a '
                              'cache directory of the run, filled before '
                              'the first repetition (bootstrap_bytes is '
                              'measured without it)')

    def execute(self):
        start = time.monotonic()
        self.cache_dir = None
        if OWN in self.impls:
            self.fill_cache()
        try:
            self.execute_reps()
        finally:
            if self.cache_dir:
                shutil.rmtree(self.cache_root, ignore_errors=True)
        self.elapsed = time.monotonic() - start

    def execute_reps(self):
        for rep in range(self.reps):
            for step in self.steps:
                for impl in self.participants(step, rep):
                    self.execute_one(rep, step, impl)

    def execute_one(self, rep, step, impl):
        keys = step.keys()
        if step.pinned and not self.taskset:
            for key in keys:
                self.errors.setdefault((impl, key), []).append(
                    'skipped: no taskset')
            return
        argv = runner_argv(impl, self.build_dir, self.python, self.cache_dir)
        argv = argv + [step.runner_metric] + step.args
        prefix = [self.taskset, '-c', '0'] if step.pinned else []
        t = time.monotonic()
        outcome, err = run_one(argv, step, self.deadline, prefix)
        took = time.monotonic() - t
        self.ran += 1
        label = '%s %s' % (step.key, impl)
        if outcome.skipped:
            for key in keys:
                self.errors.setdefault((impl, key), []).append(
                    outcome.skipped)
            log('[%d/%d] %s: %s' % (rep + 1, self.reps, label,
                                    outcome.skipped))
            return
        if outcome.error:
            self.failed += 1
            for key in keys:
                self.errors.setdefault((impl, key), []).append(outcome.error)
            log('[%d/%d] %s: FAILED (%s, %.1f s)' % (
                rep + 1, self.reps, label, outcome.error, took))
            tail = err.strip().splitlines()[-15:]
            if tail:
                log('    ' + '\n    '.join(tail))
            return
        self.succeeded += 1
        for key in keys:
            if key in outcome.values:   # optional extras may be missing
                self.values.setdefault((impl, key), []).append(
                    outcome.values[key])
        log('[%d/%d] %s: %s %s (%.1f s)' % (
            rep + 1, self.reps, label, fmt(outcome.values[step.key]),
            step.unit, took))

    # -- results -------------------------------------------------------------

    def median(self, impl, key):
        values = self.values.get((impl, key))
        return statistics.median(values) if values else None

    def cell(self, impl, row):
        if impl in self.skipped:
            return 'skipped'
        value = self.median(impl, row.key)
        if value is None:
            errors = self.errors.get((impl, row.key))
            if not errors:
                return 'n/a' if row.key in self.optional_keys else 'not run'
            if all(e.startswith('skipped') for e in errors):
                return 'skipped'
            if errors[0].startswith('missing'):
                return 'missing'
            return 'FAILED (%s)' % errors[0]
        text = fmt(value)
        ref = None
        if row.ratio == 'floor' and row.floor:
            ref, what = self.median(FLOOR, row.floor), 'floor'
        elif row.ratio == EXECNET and impl != EXECNET:
            ref, what = self.median(EXECNET, row.key), 'execnet'
        if ref:
            text += ' (%s %s)' % (fmt_ratio(value, ref), what)
        failures = len([e for e in self.errors.get((impl, row.key), ())
                        if not e.startswith('skipped')])
        if failures:
            text += ' [%d failed]' % failures
        return text

    def target(self, row):
        """(text, verdict)"""
        if not row.target:
            return '', ''
        op, amount, rel = row.target
        value = self.median(OWN, row.key)
        if rel is None:
            text = '%s %s' % (op, row.note or fmt(amount))
            limit = amount
        else:
            if rel == 'floor':
                ref = self.median(FLOOR, row.floor)
                text = '%s %gx floor' % (op, amount)
            else:
                ref = self.median(EXECNET, row.key)
                text = '%s %gx execnet' % (op, amount)
            limit = None if ref is None else amount * ref
        if value is None or limit is None:
            return text, 'n/a'

        def meets(x):
            return {'<=': x <= limit, '<': x < limit,
                    '>=': x >= limit, '>': x > limit}[op]

        if meets(value):
            return text, 'met'
        for key, _, name in row.bounds:
            bound = self.median(FLOOR, key)
            if bound is not None and not meets(bound):
                return text, 'NOT met (%s misses it too)' % name
        return text, 'NOT met'

    def table(self):
        cols = [SHORT[i] for i in IMPLS]
        lines = ['| metric | %s | floor | target (mitogen-glib) | met? |'
                 % ' | '.join(cols),
                 '|---|' + '---:|' * len(cols) + '---:|---|---|']
        for row in self.rows:
            unit = self.units.get(row.key, '')
            cells = [self.cell(impl, row) if (impl in self.impls or
                                              impl in self.skipped)
                     else 'not run' for impl in IMPLS]
            floor = ''
            if row.floor:
                value = self.median(FLOOR, row.floor)
                floor = '%s %s' % (fmt(value), row.floor) if value is not None \
                    else '%s: %s' % (row.floor, self.floor_state(row.floor))
            text, verdict = self.target(row)
            for key, label, _ in row.bounds:
                value = self.median(FLOOR, key)
                if value is not None:
                    floor += '%s%s %s' % ('; ' if floor else '', label,
                                          fmt(value))
            if verdict.startswith('NOT met'):
                verdict = '**NOT met**' + verdict[7:]
            lines.append('| %s (%s) | %s | %s | %s | %s |' % (
                row.key, unit, ' | '.join(cells), floor, text, verdict))
        return '\n'.join(lines)

    def floor_state(self, key):
        errors = self.errors.get((FLOOR, key))
        if not self.floors:
            return 'not run'
        if not errors:
            return 'not run'
        if errors[0].startswith('missing'):
            return 'missing'
        if errors[0].startswith('skipped'):
            return 'skipped'
        return 'FAILED'

    def floor_table(self):
        lines = ['| floor | value | how |', '|---|---:|---|']
        how = {
            'pipe_rtt_us': 'C pipe ping-pong round trip, 1 byte, unpinned',
            'pipe_rtt_pinned_us': 'the same under taskset -c 0',
            'design_rtt_us': 'the fixed thread design at its least: the '
                             'caller writes a call-sized frame and sleeps, a '
                             'second thread polls, reads the reply and wakes '
                             'it; the child is a python3 echo loop',
            'design_rtt_pinned_us': 'the same under taskset -c 0',
            'python_echo_rtt_us': 'a python3 echo loop answering a C caller '
                                  'that writes a call-sized frame and reads '
                                  'the reply itself (one thread): what the '
                                  'Python child alone costs',
            'python_echo_rtt_pinned_us': 'the same under taskset -c 0',
            'design_via3_rtt_us': 'the same through two python3 relays '
                                  '(poll both sockets, copy what is read)',
            'design_via3_rtt_pinned_us': 'the same under taskset -c 0',
            'pipe_mb_per_s': 'C pipe bandwidth, 64 KiB writes',
            'spawn_ms': 'bare python3 spawn to first byte',
            'bare_rss_kib': 'RSS of an idle bare python3',
        }
        for step in self.steps:
            if step.impls != FLOOR_IMPLS:
                continue
            value = self.median(FLOOR, step.key)
            shown = ('%s %s' % (fmt(value), step.unit) if value is not None
                     else self.floor_state(step.key))
            text = how.get(step.key, '')
            if step.key.startswith('spawn_parallel'):
                text = ('%s bare python3 started at once, until each wrote '
                        'its first byte' % step.key[14:-3])
            lines.append('| %s | %s | %s |' % (step.key, shown, text))
        return '\n'.join(lines)

    def json_lines(self):
        lines = []
        owners = self.impls + ([FLOOR] if self.floors else [])
        for step in self.steps:
            impls = [FLOOR] if step.impls == FLOOR_IMPLS else self.impls
            for impl in impls:
                if impl not in owners:
                    continue
                for key in step.keys():
                    values = self.values.get((impl, key), [])
                    lines.append(json.dumps({
                        'impl': impl, 'metric': key,
                        'median': self.median(impl, key),
                        'reps': values, 'unit': self.units[key],
                        'failures': self.errors.get((impl, key), []),
                    }))
        return lines

    def header(self):
        cpu = ''
        try:
            with open('/proc/cpuinfo') as fp:
                for line in fp:
                    if line.startswith('model name'):
                        cpu = line.split(':', 1)[1].strip()
                        break
        except OSError:
            pass
        version = '?'
        try:
            with open(os.path.join(self.build_dir, 'meson-info',
                                   'intro-projectinfo.json')) as fp:
                version = json.load(fp).get('version', '?')
        except (OSError, ValueError):
            pass
        commit = ''
        try:
            commit = subprocess.run(
                ['git', '-C', ROOT, 'describe', '--always', '--dirty'],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                timeout=10).stdout.decode().strip()
        except (OSError, subprocess.SubprocessError):
            pass
        ncpu = os.cpu_count()
        lines = [
            '# bench.py results',
            '',
            '- date: %s' % datetime.datetime.now(datetime.timezone.utc)
            .strftime('%Y-%m-%d %H:%M UTC'),
            '- machine: %s CPU (nproc), %s, Linux %s' % (
                ncpu, cpu or 'unknown CPU', platform.release()),
            '- python (children and Python masters): %s %s' % (
                self.python, self.info.get('python', '?')),
            '- libraries: mitogen-glib %s%s, mitogen %s, execnet %s' % (
                version, ' (%s)' % commit if commit else '',
                self.info.get('mitogen', 'missing'),
                self.info.get('execnet', 'missing')),
            '- run: %d repetition(s)%s, implementations alternated (order '
            'rotated each repetition), medians; %.0f s in all' % (
                self.reps, ', --smoke (figures meaningless)' if self.smoke
                else '', getattr(self, 'elapsed', 0)),
            '- units: ms, us; MB/s = 10^6 bytes/s; KiB = 1024 bytes (what '
            '/proc calls kB); the master-memory target is in kB = 1000 '
            'bytes (16 kB = 15.6 KiB)',
            '- cells: median (ratio to the floor or to execnet, as the '
            'target of that row compares)',
        ]
        return '\n'.join(lines)

    def report(self):
        parts = [self.table()]
        if self.floors:
            parts += ['', '### Floors', '', self.floor_table()]
        if self.notes:
            parts += [''] + ['Note: %s' % n for n in self.notes]
        return '\n'.join(parts)


def log(text):
    sys.stderr.write(text + '\n')
    sys.stderr.flush()


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='The side-by-side benchmark (bench/README.md).')
    p.add_argument('--build-dir', default=os.path.join(ROOT, 'build'),
                   help='meson build directory (default: build)')
    p.add_argument('--reps', type=int, default=5,
                   help='repetitions (default 5; --smoke: 1)')
    p.add_argument('--smoke', action='store_true',
                   help='one repetition on tiny counts and sizes')
    p.add_argument('--only', default='',
                   help='comma-separated implementations (%s; or own, '
                        'upstream, mitogen, execnet); the floors run unless '
                        '--no-floors' % ', '.join(IMPLS))
    p.add_argument('--no-floors', action='store_true',
                   help='do not run BUILD/bench/bench-floors')
    p.add_argument('--metrics', default='',
                   help='comma-separated metric keys, key prefixes or runner '
                        'metrics (bootstrap, rtt, pipelined, bulk, fanout, '
                        'via3, master-memory, idle-rss, bootstrap-bytes)')
    p.add_argument('--python', default='/usr/bin/python3',
                   help='interpreter of the Python masters and of every '
                        'child (default /usr/bin/python3)')
    p.add_argument('--json', metavar='FILE', help='also write the JSON lines')
    p.add_argument('--markdown', metavar='FILE',
                   help='also write the table, with a header on the machine')
    args = p.parse_args(argv)
    if args.reps < 1:
        p.error('--reps must be at least 1')
    return args


def main(argv=None):
    args = parse_args(argv)
    run = Run(args)
    for note in run.notes:
        print('Note: %s' % note)
    if not run.impls and not (run.floors and
                              os.path.exists(runner_argv(FLOOR, run.build_dir,
                                                         run.python)[0])):
        print('bench.py: nothing can run')
        return 77 if args.smoke else 1
    run.execute()
    report = run.report()
    print(run.header())
    print()
    print(report)
    print()
    lines = run.json_lines()
    for line in lines:
        print(line)
    if args.json:
        with open(args.json, 'w') as fp:
            fp.write('\n'.join(lines) + '\n')
    if args.markdown:
        with open(args.markdown, 'w') as fp:
            fp.write(run.header() + '\n\n' + report + '\n')
    if run.failed:
        print('bench.py: %d runner invocation(s) failed' % run.failed)
        return 1
    if not run.succeeded:
        print('bench.py: nothing could run')
        return 77 if args.smoke else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
