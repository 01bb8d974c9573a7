#!/usr/bin/env python3
# check_encoded.py: does mitogen 0.3.3 read what mitogen_pickle_encode wrote?
#
# SPDX-License-Identifier: BSD-3-Clause
#
# Usage: check_encoded.py CORPUS
#
# CORPUS (framing in corpus.py) is written by tests/test-pickle-conformance.c:
# per case the GVariant that was encoded (type string + serialized data),
# the MitogenPickleFlags used, and the pickle. For each case this script
#
#  - rebuilds the GVariant with PyGObject and maps it to the Python value a
#    peer must see (corpus.from_variant: an independent statement of the
#    encoder's mapping);
#  - loads the pickle with mitogen's own restricted unpickler
#    (Message.unpickle, with a stub router so Context and Sender resolve);
#  - compares strictly: bytes vs str, tuple vs list, bool vs int, Blob,
#    Secret, Kwargs by type; CallError by text; Context by id; Sender by
#    (context id, handle); floats bitwise;
#  - checks the opcodes: protocol 2 only, but for the bytes opcodes of the
#    flag mode (BINBYTES by default, BINSTRING with BYTES_AS_STRING,
#    _codecs.encode with BYTES_VIA_CODECS, which wins over the other flag);
#    one STOP, at the very end.
#
# Prints one line per case ("ok NAME" or "FAIL NAME: why") and exits 1 if
# any case failed, 77 if gi or mitogen is missing.

import os
import pickletools
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import corpus  # noqa: E402

FLAGS_BYTES_AS_STRING = 1 << 0
FLAGS_BYTES_VIA_CODECS = 1 << 1

BYTES_OPCODES = {"SHORT_BINBYTES", "BINBYTES", "BINBYTES8", "BYTEARRAY8"}
PY2_STRING_OPCODES = {"SHORT_BINSTRING", "BINSTRING", "STRING"}


def check_opcodes(data, flags):
    """Return a list of problems with the opcode stream. Documented
    (MitogenPickleFlags): everything but bytes is protocol 2 in every mode;
    bytes are BINBYTES (protocol 3) by default, BINSTRING with
    BYTES_AS_STRING, _codecs.encode with BYTES_VIA_CODECS, which wins when
    both are given."""
    problems = []
    if flags & FLAGS_BYTES_VIA_CODECS:
        mode, allowed_bytes_ops = "BYTES_VIA_CODECS", set()
    elif flags & FLAGS_BYTES_AS_STRING:
        mode, allowed_bytes_ops = "BYTES_AS_STRING", PY2_STRING_OPCODES
    else:
        mode, allowed_bytes_ops = "NONE", BYTES_OPCODES - {"BINBYTES8", "BYTEARRAY8"}
    stop_at = None
    globals_seen = []
    try:
        for op, arg, pos in pickletools.genops(data):
            if op.name in BYTES_OPCODES | PY2_STRING_OPCODES:
                if op.name not in allowed_bytes_ops:
                    problems.append("%s at %d in mode %s" % (op.name, pos, mode))
            elif op.proto > 2:
                problems.append("opcode %s (protocol %d) at %d" % (
                    op.name, op.proto, pos))
            if op.name == "PROTO" and arg > (3 if mode == "NONE" else 2):
                problems.append("PROTO %d header in mode %s" % (arg, mode))
            if op.name == "GLOBAL":
                globals_seen.append(arg)
            if op.name == "STOP":
                stop_at = pos
    except Exception as e:
        problems.append("pickletools cannot parse it: %s" % (e,))
        return problems
    if stop_at is None or stop_at != len(data) - 1:
        problems.append("STOP at %r, pickle is %d bytes" % (stop_at, len(data)))
    if mode != "BYTES_VIA_CODECS" and "_codecs encode" in globals_seen:
        problems.append("_codecs.encode in mode %s" % mode)
    return problems


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: check_encoded.py CORPUS\n")
        return 2
    missing = corpus.missing_dependencies()
    if missing:
        corpus.die_missing(missing)

    router = corpus.make_stub_router()
    with open(sys.argv[1], "rb") as fp:
        records = corpus.read_corpus(fp)

    failed = 0
    for name, flags, data, expect, vdata in records:
        name = name.decode("ascii")
        flags = int(flags or b"0")
        expect = expect.decode("ascii")
        problems = []
        try:
            assert expect.startswith("ok:"), expect
            variant = corpus.load_variant(expect[3:], vdata)
            want = corpus.from_variant(variant, router)
        except Exception as e:
            problems.append("cannot rebuild the expected value: %s: %s" % (
                type(e).__name__, e))
        else:
            try:
                got = corpus.mitogen_read(data, router)
            except Exception as e:
                problems.append("mitogen refuses it: %s: %s" % (
                    type(e).__name__, e))
            else:
                diff = corpus.same_value(want, got)
                if diff:
                    problems.append(diff)
        problems.extend(check_opcodes(data, flags))

        if problems:
            failed += 1
            print("FAIL %s (flags %d): %s; pickle %s%s" % (
                name, flags, "; ".join(problems), data[:64].hex(),
                "..." if len(data) > 64 else ""))
        else:
            print("ok %s (flags %d)" % (name, flags))

    print("# %d cases, %d failed" % (len(records), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
