#!/usr/bin/env python3
# codec_bench.py: CPython's side of bench/codec-bench.c
#
# SPDX-License-Identifier: BSD-3-Clause
#
# Run by codec-bench (see bench/README.md), on the same data in the same
# run: DIR/bytes.bin holds the random payload, and the dicts are rebuilt
# here exactly as codec-bench.c builds its GVariant. Times CPython's C
# pickle (pickle.dumps protocol 2 and 4, pickle.loads) and mitogen 0.3.3's
# restricted unpickler (Message.unpickle) on them, plus mitogen's unpickler
# on the pickles mitogen-glib wrote (DIR/glib-*.pickle). Writes its own
# pickles to DIR/python-*.pickle for codec-bench to decode.
#
# Prints one JSON object per line:
#   {"impl": "python", "case": ..., "op": ..., "method": ..., "ms": median,
#    "payload_bytes": ..., "pickle_bytes": ..., "reps": ...}
# plus {"impl": "python", "info": ...} and {"impl": "python", "skip": ...}.

import argparse
import gc
import json
import os
import pickle
import statistics
import sys
import time


def make_dicts(n):
    # must match build_dicts() in codec-bench.c
    return [{"id": i, "name": "item%d" % i, "ok": True, "score": i * 0.5}
            for i in range(n)]


def median_ms(fn, reps):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        result = fn()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        del result  # freed outside the timed region, as in codec-bench.c
    return statistics.median(times) * 1e3


def emit(**kw):
    kw = dict(impl="python", **kw)
    print(json.dumps(kw), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--dicts", type=int, required=True)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()

    def path(name):
        return os.path.join(args.dir, name)

    with open(path("bytes.bin"), "rb") as fp:
        payload = fp.read()
    dicts = make_dicts(args.dicts)

    try:
        import mitogen.core

        def mitogen_unpickle(data):
            return mitogen.core.Message(data=data).unpickle()
        emit(info="python %s, mitogen %s, gc %s" % (
            sys.version.split()[0],
            ".".join(map(str, mitogen.__version__)),
            "enabled" if gc.isenabled() else "disabled"))
    except ImportError as e:
        mitogen_unpickle = None
        emit(info="python %s" % sys.version.split()[0])
        emit(skip="mitogen unavailable: %s" % (e,))

    cases = (("bytes", payload, len(payload)), ("dicts", dicts, None))
    for case, value, payload_bytes in cases:
        pickles = {}
        for proto in (2, 4):
            data = pickle.dumps(value, protocol=proto)
            pickles[proto] = data
            with open(path("python-%s-p%d.pickle" % (case, proto)), "wb") as fp:
                fp.write(data)
            ms = median_ms(lambda: pickle.dumps(value, protocol=proto), args.reps)
            emit(case=case, op="encode", method="dumps-p%d" % proto, ms=ms,
                 payload_bytes=payload_bytes, pickle_bytes=len(data),
                 reps=args.reps)

        for proto in (2, 4):
            data = pickles[proto]
            if pickle.loads(data) != value:
                raise SystemExit("pickle.loads round trip of %s differs" % case)
            ms = median_ms(lambda: pickle.loads(data), args.reps)
            emit(case=case, op="decode", method="loads-p%d" % proto, ms=ms,
                 payload_bytes=payload_bytes, pickle_bytes=len(data),
                 reps=args.reps)

        if mitogen_unpickle is None:
            continue
        data = pickles[2]
        ms = median_ms(lambda: mitogen_unpickle(data), args.reps)
        emit(case=case, op="decode", method="mitogen-p2", ms=ms,
             payload_bytes=payload_bytes, pickle_bytes=len(data),
             reps=args.reps)

        # what a mitogen peer pays to read mitogen-glib's own pickle
        glib_path = path("glib-%s.pickle" % case)
        if os.path.exists(glib_path):
            with open(glib_path, "rb") as fp:
                data = fp.read()
            if mitogen_unpickle(data) != value:
                raise SystemExit("mitogen reads glib-%s.pickle differently" % case)
            ms = median_ms(lambda: mitogen_unpickle(data), args.reps)
            emit(case=case, op="decode", method="mitogen-glib", ms=ms,
                 payload_bytes=payload_bytes, pickle_bytes=len(data),
                 reps=args.reps)


if __name__ == "__main__":
    main()
