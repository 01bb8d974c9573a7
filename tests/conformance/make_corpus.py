#!/usr/bin/env python3
# make_corpus.py: the Python -> C conformance corpus of the pickle decoder
#
# SPDX-License-Identifier: BSD-3-Clause
#
# Usage: make_corpus.py [OUT]   (OUT defaults to stdout)
#        make_corpus.py --list  (print the case names and expectations)
#
# Writes one record per case: a pickle produced by CPython's pickler
# (protocols 2 to 5), by mitogen 0.3.3 itself (Message.pickled), by a
# Python 2.7-style pickler, or by hand, with the GVariant that
# mitogen_pickle_decode() must return (or the error it must raise). The
# framing is described in corpus.py.
#
# Every expectation is checked against mitogen's own restricted unpickler
# before it is written: the expected GVariant is the mapping (corpus.py
# to_variant) of what mitogen 0.3.3 reads from the same bytes, and an
# expected error is something mitogen refuses too, or a value the mapping
# has no GVariant for, so the corpus cannot drift from the reference
# implementation. The few documented departures are marked where they are
# added (mitogen_agrees=False: the decoder is stricter; expect_variant: the
# mapping leaves a choice). Exit status 77 (with a "SKIP: ..." line) when gi
# or mitogen is missing.

import os
import pickle
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import corpus  # noqa: E402

MAX_DEPTH = 40  # MITOGEN_PICKLE_MAX_DEPTH


def main():
    missing = corpus.missing_dependencies()
    if missing:
        corpus.die_missing(missing)

    import mitogen.core as mc
    builder = Builder(mc)
    build_cases(builder, mc)

    if len(sys.argv) > 1 and sys.argv[1] == "--list":
        for rec in builder.records:
            print("%-60s %s" % (rec[0], rec[3]))
        return
    if len(sys.argv) > 1:
        with open(sys.argv[1], "wb") as fp:
            corpus.write_corpus(fp, builder.records)
    else:
        corpus.write_corpus(sys.stdout.buffer, builder.records)
    sys.stderr.write("make_corpus: %d cases\n" % len(builder.records))


# --------------------------------------------------------------------------

def depth_checked_to_variant(obj):
    """corpus.to_variant plus the nesting bound: lists, tuples and dicts
    (Kwargs included) count one level each; MAX_DEPTH levels decode."""
    d = depth_of(obj)
    if d > MAX_DEPTH:
        raise corpus.CodecErrorExpected("TOO_DEEP", "depth %d" % d)
    return corpus.to_variant(obj)


def depth_of(obj):
    best = 0
    stack = [(obj, 0)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, (list, tuple, dict)):
            d += 1
            best = max(best, d)
            items = o.values() if isinstance(o, dict) else o
            stack.extend((x, d) for x in items)
    return best


def same_variant(a, b):
    a = a.get_normal_form()
    b = b.get_normal_form()
    return (a.get_type_string() == b.get_type_string() and
            a.get_data_as_bytes().get_data() == b.get_data_as_bytes().get_data())


class Builder(object):
    def __init__(self, mc):
        self.mc = mc
        self.records = []
        self.names = set()
        self.router = corpus.make_stub_router()

    def mitogen_read(self, data):
        return corpus.mitogen_read(data, self.router)

    def add(self, name, data, original=None, has_original=False,
            expect=None, mitogen_agrees=True, expect_variant=None):
        """Add a case. expect: None (derive from what mitogen reads), or
        "error:CODE" / "error:*". mitogen_agrees=False marks the documented
        places where the C decoder is stricter than mitogen.
        expect_variant: the GVariant where the mapping has no single answer
        and the decoder's documented choice is pinned."""
        assert name not in self.names, name
        assert all(c.isalnum() or c in "_.-/" for c in name), name
        self.names.add(name)

        try:
            got = self.mitogen_read(data)
            mitogen_error = None
        except Exception as e:
            got = None
            mitogen_error = "%s: %s" % (type(e).__name__, e)

        derived = None
        derived_error = None
        if mitogen_error is None:
            try:
                derived = depth_checked_to_variant(got)
            except corpus.CodecErrorExpected as e:
                derived_error = e.code

        if expect is None:
            if mitogen_error is not None:
                raise AssertionError("%s: mitogen refuses it (%s); give an "
                                     "explicit expectation" % (name, mitogen_error))
            if derived_error is not None and expect_variant is None:
                expect = "error:" + derived_error
        elif mitogen_agrees:
            assert expect.startswith("error:"), (name, expect)
            if mitogen_error is None and derived_error is None:
                raise AssertionError("%s: expected %s but mitogen reads %s" % (
                    name, expect, corpus.short(got)))
            if derived_error is not None and expect != "error:*":
                assert expect == "error:" + derived_error, (name, expect,
                                                            derived_error)
        else:
            assert mitogen_error is None, (name, mitogen_error)

        if has_original and expect is None and expect_variant is None:
            # sanity: the pickler did not change the value on the way
            want = depth_checked_to_variant(original)
            if not same_variant(want, derived):
                raise AssertionError("%s: mitogen reads %s, built from %s" % (
                    name, derived.print_(True)[:200], want.print_(True)[:200]))

        if expect_variant is not None:
            assert expect is None and mitogen_error is None, name
            exp, vdata = corpus.variant_record(expect_variant)
        elif expect is None:
            exp, vdata = corpus.variant_record(derived)
        else:
            exp, vdata = expect, b""
        self.records.append((name, "", data, exp, vdata))

    def add_protocols(self, name, value, protocols=(2, 3, 4, 5), **kw):
        for proto in protocols:
            self.add("%s/p%d" % (name, proto), pickle.dumps(value, protocol=proto),
                     original=value, has_original=True, **kw)

    def add_mitogen(self, name, value, **kw):
        # what a mitogen 0.3.3 peer puts on the wire ...
        self.add(name + "/mitogen", self.mc.Message.pickled(value).data,
                 original=value, has_original=True, **kw)
        # ... and what any other CPython 3 pickler may send
        self.add_protocols(name, value, protocols=(3, 4, 5), **kw)


# --------------------------------------------------------------------------
# Python 2.7-style pickles: no Python 2 is installed, so a pure-Python
# pickler is taught the two things cPickle 2.7 does differently at
# protocol 2: str (bytes) is SHORT_BINSTRING/BINSTRING, and a 64-bit `int`
# outside the 32-bit range is the text opcode INT ('I<decimal>\n'), see
# save_int() in Python 2.7's Modules/cPickle.c.

class Py2Pickler(pickle._Pickler):
    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj):
        n = len(obj)
        if n < 256:
            self.write(b"U" + bytes([n]) + obj)
        else:
            self.write(b"T" + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes

    def save_long(self, obj):
        if (-2 ** 31 <= obj < 2 ** 31 or
                not corpus.INT64_MIN <= obj <= corpus.INT64_MAX):
            # BININT*, or a Python 2 `long`: LONG1
            return pickle._Pickler.save_long(self, obj)
        self.write(b"I%d\n" % obj)

    dispatch[int] = save_long


def py2_dumps(value):
    import io
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(value)
    return buf.getvalue()


def make_py2_kwargs(mc):
    class Py2Kwargs(dict):
        # a Python 2 Kwargs: bytes (str) keys
        def __reduce__(self):
            return (mc.Kwargs, (dict(self),))
    return Py2Kwargs


# --------------------------------------------------------------------------
# Section 3.5 of the protocol reference, verbatim.

REFERENCE_HEX = [
    ("42", "80024b2a2e"),
    ("1000", "80024de8032e"),
    ("100000", "80024aa08601002e"),
    ("minus1", "80024affffffff2e"),
    ("2p40", "80028a060000000000012e"),
    ("none", "80024e2e"),
    ("true", "8002882e"),
    ("1.5", "8002473ff80000000000002e"),
    ("abc", "8002580300000061626371002e"),
    ("e-acute", "80025802000000c3a971002e"),
    ("bytes-abc", "8002635f636f646563730a656e636f64650a7100580300000061626371"
                  "0158060000006c6174696e3171028671035271042e"),
    ("bytes-empty", "8002635f5f6275696c74696e5f5f0a62797465730a7100295271012e"),
    ("dict-a1", "80027d710058010000006171014b01732e"),
    ("tuple2", "80024b014b028671002e"),
    ("tuple4", "8002284b014b024b034b047471002e"),
    ("tuple0", "8002292e"),
    ("list2", "80025d7100284b014b02652e"),
    ("blob-xy", "8002636d69746f67656e2e636f72650a426c6f620a7100635f636f6465"
                "63730a656e636f64650a710158020000007879710258060000006c6174"
                "696e3171038671045271058571065271072e"),
    ("secret-pw", "8002636d69746f67656e2e636f72650a5365637265740a710058020000"
                  "00707771018571025271032e"),
    ("kwargs-a1", "8002636d69746f67656e2e636f72650a4b77617267730a71007d710158"
                  "010000006171024b01738571035271042e"),
    ("kwargs-empty", "8002636d69746f67656e2e636f72650a4b77617267730a71007d710185"
                     "71025271032e"),
    ("callerror-boom", "8002636d69746f67656e2e636f72650a5f756e7069636b6c655f63616c"
                       "6c5f6572726f720a71005804000000626f6f6d71018571025271032e"),
    ("context-5-x", "8002636d69746f67656e2e636f72650a5f756e7069636b6c655f636f6e"
                    "746578740a71004b0558010000007871018671025271032e"),
    ("context-5-none", "8002636d69746f67656e2e636f72650a5f756e7069636b6c655f636f6e"
                       "746578740a71004b054e8671015271022e"),
    ("sender-5-1234", "8002636d69746f67656e2e636f72650a5f756e7069636b6c655f73656e"
                      "6465720a71004b054dd2048671015271022e"),
]
REFERENCE_SET_HEX = ("8002635f5f6275696c74696e5f5f0a7365740a71005d71014b01618571"
                     "025271032e")


def nest(kind, depth, leaf):
    v = leaf
    for i in range(depth):
        k = kind if kind != "mixed" else ("list", "dict", "tuple")[i % 3]
        if k == "list":
            v = [v]
        elif k == "dict":
            v = {"k": v}
        else:
            v = (v,)
    return v


def intname(n):
    if n < 0:
        return "m" + intname(-n)
    return "%d" % n


def build_cases(b, mc):
    rnd = random.Random(0x6d69746f)  # deterministic corpus

    # ---- scalars, every protocol ------------------------------------------
    b.add_protocols("scalar/none", None)
    b.add_protocols("scalar/true", True)
    b.add_protocols("scalar/false", False)

    ints = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31,
            2 ** 32 - 1, 2 ** 32, 2 ** 40, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1,
            -1, -128, -129, -255, -256, -257, -65535, -65536, -65537,
            -2 ** 31, -2 ** 31 - 1, -2 ** 32, -2 ** 40, -2 ** 63 + 1, -2 ** 63]
    for n in ints:
        b.add_protocols("int/" + intname(n), n)
    for n in (2 ** 64, -2 ** 63 - 1, 2 ** 100, -2 ** 100, 2 ** 2100):
        # LONG1 past 64 bits, and LONG4 (over 255 bytes)
        b.add_protocols("int-range/" + intname(n)[:12], n,
                        protocols=(2, 4), expect="error:INTEGER_RANGE")

    floats = [("0", 0.0), ("neg0", -0.0), ("1.5", 1.5), ("0.1", 0.1),
              ("m2.5", -2.5), ("1e308", 1e308), ("m1e308", -1e308),
              ("5e-324", 5e-324), ("min-normal", 2.2250738585072014e-308),
              ("pi", 3.141592653589793), ("inf", float("inf")),
              ("minf", float("-inf")), ("nan", float("nan")),
              ("2p53", 2.0 ** 53)]
    for name, x in floats:
        b.add_protocols("float/" + name, x)

    strs = [("empty", ""), ("abc", "abc"), ("latin1", "h\xe9llo \xff"),
            ("e-combining", "e\u0301 n\u0303 a\u030a\u0323"),
            ("cjk", "\u65e5\u672c\u8a9e"),
            ("astral", "\U0001d11e \U0001f600 \U0010ffff"),
            ("zwj-emoji", "\U0001f469\u200d\U0001f469\u200d\U0001f467"),
            ("rtl-bom", "\u202e\u05e9\u05dc\u05d5\u05dd \ufeff"),
            ("noncharacters", "\ufdd0\ufffe\uffff"),
            ("controls", "tab\tnl\ncr\r\x01\x1f\x7f\x80\x9f"),
            ("255", "a" * 255), ("256", "a" * 256),
            ("70000", "b" * 70000),  # over the protocol 4 frame size
            ("mixed-1MiB", ("\u00fc\u20ac\U0001f600z" * 100000)[:2 ** 20])]
    for name, s in strs:
        b.add_protocols("str/" + name, s)
    b.add_protocols("str-bad/nul", "a\0b", expect="error:UNSUPPORTED_TYPE")
    b.add_protocols("str-bad/lone-surrogate", "a\ud800b",
                    expect="error:UNSUPPORTED_TYPE")

    bytes_cases = [("empty", b""), ("nul", b"\0"), ("abc", b"abc"),
                   ("all-256", bytes(range(256))), ("255", b"\xff" * 255),
                   ("256", b"\x80" * 256), ("65536", bytes(rnd.randrange(256)
                                                          for _ in range(65536))),
                   ("random-1MiB", rnd.randbytes(2 ** 20))]
    for name, x in bytes_cases:
        b.add_protocols("bytes/" + name, x)

    # ---- containers ---------------------------------------------------------
    containers = [
        ("list-empty", []), ("tuple-empty", ()), ("dict-empty", {}),
        ("list-1", ["a"]), ("list-2", [1, 2]),
        ("list-of-empties", [[], (), {}, "", b""]),
        ("tuple-1", (1,)), ("tuple-2", (1, "b")), ("tuple-3", (1, 2.5, None)),
        ("tuple-4", (1, 2, 3, 4)), ("tuple-10", tuple(range(10))),
        ("list-1000", list(range(1000))), ("list-1001", list(range(1001))),
        ("list-2500", ["s%d" % i for i in range(2500)]),
        ("dict-1", {"a": 1}), ("dict-3-ordered", {"z": 1, "a": 2, "m": 3}),
        ("dict-1000", dict(("k%d" % i, i) for i in range(1000))),
        ("dict-2500", dict(("k%d" % i, [i]) for i in range(2500))),
        ("dict-unicode-keys", {"\u00e9": 1, "\U0001f600": 2, "": 3}),
        ("dict-int-keys", {1: "a", -5: "b", 2 ** 40: "c", 0: None}),
        ("dict-int-keys-64", {2 ** 63 - 1: 1, -2 ** 63: 2}),
        ("dict-int-keys-1001", dict((i, i * i) for i in range(1001))),
        ("nested-1", [{"a": (1, "x", [b"y", None])}, ({"k": [1.5, {"n": {}}]},)]),
        ("nested-2", {"list": [1, [2, [3, (4, {"five": 5})]]],
                      "tuple": ((), ((),), [()]),
                      "ints": {1: {2: {3: [True, False]}}}}),
        ("nested-3", [[[b"deep", "\U0001f600"]], ({}, {0: ()}), -2 ** 63]),
    ]
    for name, v in containers:
        b.add_protocols("container/" + name, v)
    bad_keys = [("mixed", {1: "a", "b": 2}), ("float", {1.5: 1}),
                ("tuple", {(1, 2): 3}), ("bytes", {b"a": 1}),
                ("none", {None: 1}), ("nested", [{"ok": {b"k": 1}}])]
    for name, v in bad_keys:
        b.add_protocols("dict-bad-key/" + name, v, protocols=(2, 4),
                        expect="error:BAD_KEY")
    # 2**63 does not fit the int64 of a{xv}: which code is the decoder's call
    b.add_protocols("dict-bad-key/int-key-2p63", {2 ** 63: 1}, protocols=(2, 4),
                    expect="error:*")
    # bool is an int subclass: the decoder takes True/False keys as 1/0
    from gi.repository import GLib
    b.add_protocols("container/dict-bool-keys", {True: "t", False: "f"},
                    protocols=(2, 4), expect_variant=GLib.Variant(
                        "a{xv}", {1: GLib.Variant("s", "t"),
                                  0: GLib.Variant("s", "f")}))
    b.add_protocols("container/dict-bool-int-keys", {True: "t", 5: "five"},
                    protocols=(2, 4), expect_variant=GLib.Variant(
                        "a{xv}", {1: GLib.Variant("s", "t"),
                                  5: GLib.Variant("s", "five")}))

    # ---- memo: objects the pickler refers back to ---------------------------
    shared_s = "shared string"
    shared_l = [1, "x"]
    shared_t = (2, "y")
    shared_d = {"k": [3]}
    memo = [
        ("str-3x", [shared_s, shared_s, shared_s]),
        ("list-2x", [shared_l, shared_l]),
        ("tuple-2x", [shared_t, {"t": shared_t}]),
        ("dict-2x", (shared_d, [shared_d])),
        ("bytes-2x", [b"same", b"same"]),
        ("300-strs-2x", ["m%d" % i for i in range(300)] * 2),  # LONG_BINGET
        ("str-100x", ["r" * 100] * 100),
    ]
    for name, v in memo:
        b.add_protocols("memo/" + name, v)

    # ---- nesting at the bound -----------------------------------------------
    for kind in ("list", "dict", "tuple", "mixed"):
        b.add_protocols("depth/%s-40" % kind, nest(kind, MAX_DEPTH, 1))
        b.add_protocols("depth/%s-41" % kind, nest(kind, MAX_DEPTH + 1, 1),
                        protocols=(2, 4), expect="error:TOO_DEEP")
    # the innermost container is empty: still 40 levels
    b.add_protocols("depth/list-40-empty", nest("list", MAX_DEPTH - 1, []))
    b.add_protocols("depth/list-41-empty", nest("list", MAX_DEPTH, []),
                    protocols=(2,), expect="error:TOO_DEEP")
    # far deeper than CPython's pickler recurses: built by hand
    b.add("depth/list-5000", b"\x80\x02" + b"]" * 5000 + b"K\x01" +
          b"a" * 5000 + b".", expect="error:TOO_DEEP")

    # ---- mitogen's own types, as mitogen 0.3.3 sends them -------------------
    Blob, Secret, Kwargs = mc.Blob, mc.Secret, mc.Kwargs
    CallError, Context, Sender = mc.CallError, mc.Context, mc.Sender
    ctx5 = Context(None, 5, "x")
    try:
        raise ValueError("caf\u00e9 \U0001f600 failed")
    except ValueError as e:
        real_error = CallError(e)  # with a formatted traceback
    mitogen_cases = [
        ("callerror", CallError("boom")),
        ("callerror-empty", CallError("")),
        ("callerror-traceback", real_error),
        ("callerror-9999", CallError("e" * 9999)),
        ("context", ctx5),
        ("context-noname", Context(None, 0)),
        ("context-big-id", Context(None, 2 ** 31 + 5, "n" * 99)),
        ("sender", Sender(ctx5, 1234)),
        ("sender-big", Sender(Context(None, 2 ** 32 - 1), 2 ** 32 - 1)),
        ("blob", Blob(b"\x00\xffblob")),
        ("blob-empty", Blob(b"")),
        ("blob-300", Blob(bytes(range(256)) + b"x" * 44)),
        ("secret", Secret("pw")),
        ("secret-empty", Secret("")),
        ("kwargs-empty", Kwargs({})),
        ("kwargs", Kwargs({"a": 1})),
        ("list-with-callerror", [1, CallError("inner"), "x"]),
        ("dict-with-blob", {"blob": Blob(b"\x00\xff" * 10), "n": 1}),
        ("kwargs-every-type", Kwargs({
            "none": None, "t": True, "f": False, "int": -7,
            "u64": 2 ** 64 - 1, "float": 1.5, "str": "\u00e9",
            "bytes": b"\0", "blob": Blob(b"x"), "secret": Secret("pw"),
            "list": [1, "a"], "tuple": (1,), "dict": {"x": 1},
            "intdict": {1: 2}, "ctx": Context(None, 3, "c"),
            "sender": Sender(Context(None, 3), 1001),
            "err": CallError("e"), "kw": Kwargs({"z": 0})})),
        ("call-getpid", (None, "posix", None, "getpid", (), Kwargs({}))),
        ("call-join", ("vm-8198-7f2c63bdb2c0-111ff2e4", "posixpath", None,
                       "join", ("/tmp", "x"), Kwargs({"b": Blob(b"b")}))),
        ("forget-chain", (None, "mitogen.core", "Dispatcher", "forget_chain",
                          ("vm-8198-7f2c63bdb2c0-111ff2e4",), Kwargs({}))),
        ("context-and-sender", (ctx5, Sender(ctx5, 1003))),
        ("context-3x", [ctx5, ctx5, {"again": ctx5}]),  # BINGET of a REDUCE
        ("callerror-2x", [real_error, real_error]),
    ]
    for name, v in mitogen_cases:
        b.add_mitogen("mitogen/" + name, v)

    # refused by mitogen's checks, so by the decoder too (reference 3.3)
    def reduce_pickle(func, *args):
        class R(object):
            def __reduce__(self):
                return (func, args)
        return pickle.dumps(R(), protocol=2)

    refused = [
        ("callerror-10000", reduce_pickle(mc._unpickle_call_error, "e" * 10000)),
        ("callerror-bytes", reduce_pickle(mc._unpickle_call_error, b"e")),
        ("context-negative", reduce_pickle(mc._unpickle_context, -1, None)),
        ("context-name-100", reduce_pickle(mc._unpickle_context, 1, "n" * 100)),
        ("context-name-int", reduce_pickle(mc._unpickle_context, 1, 7)),
        ("context-id-str", reduce_pickle(mc._unpickle_context, "1", None)),
        ("sender-handle-0", reduce_pickle(mc._unpickle_sender, 1, 0)),
        ("sender-negative", reduce_pickle(mc._unpickle_sender, -1, 5)),
    ]
    for name, data in refused:
        b.add("mitogen-refused/" + name, data, expect="error:*")

    # ---- reference section 3.5, byte for byte -------------------------------
    for name, hx in REFERENCE_HEX:
        b.add("reference/" + name, bytes.fromhex(hx))
    b.add("reference/set-refused", bytes.fromhex(REFERENCE_SET_HEX),
          expect="error:FORBIDDEN_GLOBAL")

    # ---- Python 2.7 peers ----------------------------------------------------
    Py2Kwargs = make_py2_kwargs(mc)
    py2_cases = [
        ("bytes-empty", b""), ("bytes-abc", b"abc"), ("bytes-255", b"\xfe" * 255),
        ("bytes-256", b"\x01" * 256), ("bytes-70000", rnd.randbytes(70000)),
        ("unicode", "\u00e9\U0001f600"),
        ("int-2p31", 2 ** 31), ("int-m2p31m1", -2 ** 31 - 1),
        ("int-2p40", 2 ** 40), ("int-2p63m1", 2 ** 63 - 1),
        ("int-m2p63", -2 ** 63), ("long-2p63", 2 ** 63),
        ("long-2p64m1", 2 ** 64 - 1),
        ("stat-like", {"st_size": 5 * 2 ** 32, "st_mtime": 1712345678.25,
                       "st_mode": 0o100644, "st_ino": 2 ** 50 + 3}),
        ("list-of-str", [b"a", b"b", b"a"]),
        ("tuple-mixed", ("posix", 2 ** 40, [b"x", None], {"k": (b"v",)})),
        ("kwargs-str-keys", Py2Kwargs({b"path": b"/tmp", b"mode": 420})),
        ("kwargs-empty", Py2Kwargs({})),
        ("blob", mc.Blob(b"py2 blob")),
        ("secret", mc.Secret("pw")),
        ("callerror", mc.CallError("exceptions.ValueError: x")),
        ("context", Context(None, 7, "py2")),
        ("sender", Sender(Context(None, 7), 1010)),
        ("call", (None, "posix", None, "getpid", (), Py2Kwargs({}))),
    ]
    for name, v in py2_cases:
        b.add("py2/" + name, py2_dumps(v))
    # a Python 2 dict has str keys, which Python 3 reads as bytes: refused
    b.add("py2/dict-str-keys", py2_dumps({b"a": 1}), expect="error:BAD_KEY")

    # ---- hand-built pickles ----------------------------------------------
    hand = [
        ("no-proto-header", b"K\x01."),
        ("proto-3-header-only", b"\x80\x03N."),
        ("int-text-I", b"\x80\x02I1099511627776\n."),
        ("int-text-I-negative", b"\x80\x02I-5000000000\n."),
        ("int-text-I-small", b"\x80\x02I5\n."),
        ("long1-empty-is-0", b"\x80\x02\x8a\x00."),
        ("long1-padded-1", b"\x80\x02\x8a\x0a\x01" + b"\x00" * 9 + b"."),
        ("long1-padded-minus1", b"\x80\x02\x8a\x0a" + b"\xff" * 10 + b"."),
        ("long4-small", b"\x80\x02\x8b\x02\x00\x00\x00\x01\x01."),
        ("binstring-T-short", b"\x80\x02T\x03\x00\x00\x00abc."),
        ("pop", b"\x80\x02]K\x010."),
        ("pop-mark", b"\x80\x02](K\x01K\x021."),
        ("binput-binget", b"\x80\x02](X\x01\x00\x00\x00aq\x05h\x05h\x05e."),
        # a sparse LONG_BINPUT index (the decoder bounds indices by the
        # input length, so the pickle is long enough to hold 256 PUTs)
        ("long-binput-get", b"\x80\x02](X\x2c\x01\x00\x00" + b"a" * 300 +
                            b"r\x00\x01\x00\x00j\x00\x01\x00\x00e."),
        # not from a pickler, but a peer's unpickler keeps the last value
        # at the first position
        ("dict-duplicate-key", b"\x80\x02}(X\x01\x00\x00\x00aK\x01X\x01\x00"
                               b"\x00\x00bK\x02X\x01\x00\x00\x00aK\x03u."),
        ("dict-duplicate-int-key", b"\x80\x02}(K\x01K\x01K\x02K\x02K\x01K\x03u."),
        ("kwargs-duplicate-key", b"\x80\x02cmitogen.core\nKwargs\n}(X\x01\x00\x00"
                                 b"\x00aK\x01X\x01\x00\x00\x00aK\x02u\x85R."),
        ("codecs-ignores-encoding", b"\x80\x02c_codecs\nencode\nX\x02\x00\x00"
                                    b"\x00\xc3\xa9X\x05\x00\x00\x00utf-8\x86R."),
        ("codecs-latin-1-spelling", b"\x80\x02c_codecs\nencode\nX\x01\x00\x00"
                                    b"\x00aX\x07\x00\x00\x00latin-1\x86R."),
        ("kwargs-unmemoized", b"\x80\x02cmitogen.core\nKwargs\n"
                                        b"}X\x01\x00\x00\x00aK\x01s\x85R."),
        ("setitems-empty-mark", b"\x80\x02}(u."),
        ("appends-empty-mark", b"\x80\x02](e."),
        ("tuple-mark", b"\x80\x02(K\x01K\x02K\x03K\x04K\x05t."),
        ("tuple-mark-empty", b"\x80\x02(t."),
    ]
    for name, data in hand:
        b.add("hand/" + name, data)

    bad = [
        ("memo-missing", b"\x80\x02h\x05.", "BAD_MEMO", True),
        ("truncated-str", b"\x80\x02X\x05\x00\x00\x00ab", "TRUNCATED", True),
        ("no-stop", b"\x80\x02K\x01", "*", True),
        ("empty", b"", "*", True),
        ("stack-underflow", b"\x80\x02a.", "MALFORMED", True),
        ("unknown-opcode", b"\x80\x02\xff.", "UNKNOWN_OPCODE", True),
        ("newobj", b"\x80\x02c__builtin__\nobject\n)\x81.", "*", True),
        ("global-os-system", b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00idq\x85R.",
         "FORBIDDEN_GLOBAL", True),
        ("global-builtins-eval", b"\x80\x02cbuiltins\neval\n.",
         "FORBIDDEN_GLOBAL", True),
        ("global-copyreg", b"\x80\x02ccopy_reg\n_reconstructor\n.",
         "FORBIDDEN_GLOBAL", True),
        ("stack-global-set", b"\x80\x04\x8c\x08builtins\x8c\x03set\x93)R.",
         "FORBIDDEN_GLOBAL", True),
        ("codecs-not-latin1", b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00"
                              b"\xc4\x80X\x06\x00\x00\x00latin1\x86R.", "*", True),
        ("bad-utf8", b"\x80\x02X\x02\x00\x00\x00\xc3(.", "*", True),
        # mitogen accepts these; the C decoder is stricter by design
        ("trailing-data", b"\x80\x02K\x01.K", "MALFORMED", False),
        ("builtin-bytes-int", b"\x80\x02c__builtin__\nbytes\nK\x05\x85R.",
         "*", False),
    ]
    for name, data, code, agrees in bad:
        b.add("malformed/" + name, data, expect="error:" + code,
              mitogen_agrees=agrees)


if __name__ == "__main__":
    main()
