# corpus.py: shared helpers of the pickle conformance scripts
#
# SPDX-License-Identifier: BSD-3-Clause
#
# The corpus file framing (read by tests/test-pickle-conformance.c too):
#
#   b"MGPCORPUS1\n"
#   u32 record count (little-endian)
#   records, each five length-prefixed fields (u32 LE length + bytes):
#     name    ASCII, '/'-separated, [A-Za-z0-9_./-]
#     flags   ASCII decimal MitogenPickleFlags (C -> Python), empty otherwise
#     pickle  the pickle bytes
#     expect  "ok:<GVariant type string>", or "error:<MitogenCodecError nick
#             without prefix, e.g. TOO_DEEP>", or "error:*" (any error)
#     data    the serialized expected GVariant (g_variant_get_data of the
#             normal form, host byte order); empty for errors
#
# Length-prefixed binary records keep the 1 MiB cases cheap and need no
# parser on the C side.
#
# The value mapping (DESIGN.md "Value model", mitogen-pickle.h) is written
# out twice here, independently of the C codec: to_variant() is what the
# decoder must produce from a Python value, and from_variant() is what a
# peer must read back from a GVariant the encoder wrote.

import logging
import re
import struct
import sys

MAGIC = b"MGPCORPUS1\n"

TAG_CALL_ERROR = "mitogen.core.CallError"
TAG_KWARGS = "mitogen.core.Kwargs"
TAG_SECRET = "mitogen.core.Secret"
TAG_BLOB = "mitogen.core.Blob"

CONTEXT_PREFIX = "/mitogen/context/"
SENDER_PREFIX = "/mitogen/sender/"

INT64_MIN = -2 ** 63
INT64_MAX = 2 ** 63 - 1
UINT64_MAX = 2 ** 64 - 1
UINT32_MAX = 2 ** 32 - 1


def missing_dependencies():
    """Return a list of what this interpreter lacks to run the checks."""
    missing = []
    try:
        import gi
        gi.require_version("GLib", "2.0")
        from gi.repository import GLib  # noqa: F401
    except (ImportError, ValueError) as e:
        missing.append("PyGObject (gi, GLib 2.0): %s" % (e,))
    try:
        import mitogen.core  # noqa: F401
    except ImportError as e:
        missing.append("mitogen (python3-mitogen 0.3): %s" % (e,))
    return missing


def write_corpus(fp, records):
    fp.write(MAGIC)
    fp.write(struct.pack("<I", len(records)))
    for rec in records:
        assert len(rec) == 5, rec
        for field in rec:
            if isinstance(field, str):
                field = field.encode("ascii")
            fp.write(struct.pack("<I", len(field)))
            fp.write(field)


def read_corpus(fp):
    data = fp.read()
    if not data.startswith(MAGIC):
        raise ValueError("not a corpus file (bad magic)")
    pos = len(MAGIC)
    (count,) = struct.unpack_from("<I", data, pos)
    pos += 4
    records = []
    for _ in range(count):
        rec = []
        for _ in range(5):
            (n,) = struct.unpack_from("<I", data, pos)
            pos += 4
            if pos + n > len(data):
                raise ValueError("truncated corpus file")
            rec.append(data[pos:pos + n])
            pos += n
        records.append(rec)
    if pos != len(data):
        raise ValueError("trailing bytes after %d records" % count)
    return records


def make_stub_router():
    """A mitogen.core.Router that never starts a broker: _unpickle_sender
    insists on a Router instance, _unpickle_context asks it for the
    canonical Context."""
    import mitogen.core as mc

    class StubRouter(mc.Router):
        def __init__(self):
            pass

        def context_by_id(self, context_id, via_id=None, create=True,
                          name=None):
            return mc.Context(self, context_id, name)

    # Message.unpickle() logs every pickle it refuses, at ERROR
    logging.getLogger("mitogen").setLevel(logging.CRITICAL + 1)
    return StubRouter()


def mitogen_read(data, router):
    """What a mitogen 0.3.3 peer reads from a pickle (its restricted
    unpickler, with the router a received message carries)."""
    import mitogen.core as mc
    msg = mc.Message(data=data)
    msg.router = router
    return msg.unpickle(throw=False, throw_dead=False)


class CodecErrorExpected(Exception):
    """to_variant() found a value the decoder must refuse."""

    def __init__(self, code, why):
        Exception.__init__(self, "%s: %s" % (code, why))
        self.code = code


# --------------------------------------------------------------------------
# Python -> GVariant (what mitogen_pickle_decode must produce)

def _glib():
    from gi.repository import GLib
    return GLib


def bytes_variant(b):
    # GLib.Variant('ay', b) would box every byte: go through GBytes.
    GLib = _glib()
    return GLib.Variant.new_from_bytes(GLib.VariantType("ay"),
                                       GLib.Bytes(bytes(b)), True)


def to_variant(obj):
    """Map a value as mitogen 0.3 unpickles it to the GVariant the decoder
    must return. Raises CodecErrorExpected for values with no mapping."""
    import mitogen.core as mc
    GLib = _glib()
    V = GLib.Variant

    if obj is None:
        return V("mv", None)
    if isinstance(obj, mc.CallError):
        return V("(sv)", (TAG_CALL_ERROR, V("s", str(obj))))
    if isinstance(obj, mc.Context):
        return V("o", "%s%d" % (CONTEXT_PREFIX, obj.context_id))
    if isinstance(obj, mc.Sender):
        return V("o", "%s%d/%d" % (SENDER_PREFIX, obj.context.context_id,
                                   obj.dst_handle))
    if isinstance(obj, bool):
        return V("b", obj)
    if isinstance(obj, int):
        if INT64_MIN <= obj <= INT64_MAX:
            return V("x", obj)
        if 0 <= obj <= UINT64_MAX:
            return V("t", obj)
        raise CodecErrorExpected("INTEGER_RANGE", "int %d" % obj)
    if isinstance(obj, float):
        return V("d", obj)
    if isinstance(obj, str):  # Secret too
        if "\0" in obj:
            raise CodecErrorExpected("UNSUPPORTED_TYPE", "str with NUL")
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            # a real str (surrogatepass) GVariant cannot hold
            raise CodecErrorExpected("UNSUPPORTED_TYPE", "lone surrogate")
        return V("s", obj)
    if isinstance(obj, bytes):  # Blob too
        return bytes_variant(obj)
    if isinstance(obj, list):
        return V("av", [to_variant(x) for x in obj])
    if isinstance(obj, tuple):
        return V("(" + "v" * len(obj) + ")", tuple(to_variant(x) for x in obj))
    if isinstance(obj, dict):  # Kwargs too
        keys = list(obj)
        if all(type(k) is str for k in keys):
            return V("a{sv}", dict((k, to_variant(v)) for k, v in obj.items()))
        if all(type(k) is int for k in keys):
            for k in keys:
                if not INT64_MIN <= k <= INT64_MAX:
                    raise CodecErrorExpected("BAD_KEY", "int key %d" % k)
            return V("a{xv}", dict((k, to_variant(v)) for k, v in obj.items()))
        raise CodecErrorExpected("BAD_KEY", "key types %r" % sorted(
            set(type(k).__name__ for k in keys)))
    raise CodecErrorExpected("FORBIDDEN_GLOBAL", "type %s" % type(obj).__name__)


def variant_record(v):
    """(expect, data) fields of a GVariant."""
    v = v.get_normal_form()
    return "ok:" + v.get_type_string(), v.get_data_as_bytes().get_data()


def load_variant(type_string, data):
    GLib = _glib()
    return GLib.Variant.new_from_bytes(GLib.VariantType(type_string),
                                       GLib.Bytes(data), False)


# --------------------------------------------------------------------------
# GVariant -> Python (what a mitogen peer must read from the encoder)

_INT_TYPES = frozenset("ynqiuxth")


def from_variant(v, router=None):
    import mitogen.core as mc
    t = v.get_type_string()
    if t == "b":
        return v.get_boolean()
    if t in _INT_TYPES:
        return v.unpack() if t != "h" else v.get_handle()
    if t == "d":
        return v.get_double()
    if t == "s" or t == "g":
        return v.get_string()
    if t == "o":
        # a canonical decimal guint32 context id (and a non-zero handle);
        # any other path is a plain str (mitogen_pickle_encode docs)
        path = v.get_string()
        m = re.match(r"^/mitogen/context/(0|[1-9][0-9]*)$", path)
        if m and int(m.group(1)) <= UINT32_MAX:
            return mc.Context(router, int(m.group(1)))
        m = re.match(r"^/mitogen/sender/(0|[1-9][0-9]*)/([1-9][0-9]*)$", path)
        if m and max(int(m.group(1)), int(m.group(2))) <= UINT32_MAX:
            return mc.Sender(mc.Context(router, int(m.group(1))),
                             int(m.group(2)))
        return path
    if t == "v":
        return from_variant(v.get_variant(), router)
    if t.startswith("m"):
        inner = v.get_maybe()
        return None if inner is None else from_variant(inner, router)
    if t == "ay":
        return v.get_data_as_bytes().get_data()
    if t.startswith("a{"):
        out = {}
        for i in range(v.n_children()):
            entry = v.get_child_value(i)
            out[from_variant(entry.get_child_value(0), router)] = \
                from_variant(entry.get_child_value(1), router)
        return out
    if t.startswith("a"):
        return [from_variant(v.get_child_value(i), router)
                for i in range(v.n_children())]
    if t.startswith("("):
        if t == "(sv)":
            # a tag stands for the object only with the value type it
            # documents; otherwise the tuple is a plain tuple
            tag = v.get_child_value(0).get_string()
            inner = v.get_child_value(1).get_variant()
            it = inner.get_type_string()
            if tag == TAG_CALL_ERROR and it == "s":
                return mc.CallError(inner.get_string())
            if tag == TAG_SECRET and it == "s":
                return mc.Secret(inner.get_string())
            if tag == TAG_BLOB and it == "ay":
                return mc.Blob(from_variant(inner, router))
            if tag == TAG_KWARGS and it.startswith("a{s"):
                return mc.Kwargs(from_variant(inner, router))
        return tuple(from_variant(v.get_child_value(i), router)
                     for i in range(v.n_children()))
    raise ValueError("no Python mapping for GVariant type %r" % t)


# --------------------------------------------------------------------------
# Strict comparison of Python values (types matter)

def same_value(a, b, path="value"):
    """Return None if a and b are the same value of the same type, else a
    message naming the first difference."""
    import mitogen.core as mc
    if type(a) is not type(b):
        return "%s: type %s, expected %s" % (path, type(b).__name__,
                                              type(a).__name__)
    if isinstance(a, mc.CallError):
        if str(a) != str(b):
            return "%s: CallError %r, expected %r" % (path, str(b), str(a))
        return None
    if isinstance(a, mc.Context):
        if a.context_id != b.context_id:
            return "%s: Context id %r, expected %r" % (path, b.context_id,
                                                       a.context_id)
        return None
    if isinstance(a, mc.Sender):
        if (a.context.context_id, a.dst_handle) != (b.context.context_id,
                                                    b.dst_handle):
            return "%s: Sender (%r, %r), expected (%r, %r)" % (
                path, b.context.context_id, b.dst_handle,
                a.context.context_id, a.dst_handle)
        return None
    if isinstance(a, float):
        # bitwise: NaN equals itself, -0.0 differs from 0.0
        if struct.pack("<d", a) != struct.pack("<d", b):
            return "%s: %r, expected %r" % (path, b, a)
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return "%s: length %d, expected %d" % (path, len(b), len(a))
        for i, (x, y) in enumerate(zip(a, b)):
            err = same_value(x, y, "%s[%d]" % (path, i))
            if err:
                return err
        return None
    if isinstance(a, dict):
        if list(a) != list(b):
            # key order matters too: GVariant dicts are ordered arrays
            return "%s: keys %s, expected %s" % (path, short(list(b)),
                                                 short(list(a)))
        for (ka, va), (kb, vb) in zip(a.items(), b.items()):
            err = (same_value(ka, kb, "%s key" % path) or
                   same_value(va, vb, "%s[%r]" % (path, ka)))
            if err:
                return err
        return None
    if a != b:
        return "%s: %s, expected %s" % (path, short(b), short(a))
    return None


def short(x, n=120):
    r = repr(x)
    return r if len(r) <= n else r[:n] + "...(%d chars)" % len(r)


def die_missing(missing):
    sys.stdout.write("SKIP: %s\n" % "; ".join(missing))
    sys.stdout.flush()
    sys.exit(77)
