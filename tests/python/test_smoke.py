"""PyGObject smoke test: the typelib loads from the build tree and the codec
round-trips values between Python and the C library."""

import unittest

import gi

gi.require_version("Mitogen", "1.0")
from gi.repository import GLib, Mitogen  # noqa: E402


class CodecTest(unittest.TestCase):
    def round_trip(self, variant):
        data = Mitogen.pickle_encode(variant, Mitogen.PickleFlags.NONE)
        return Mitogen.pickle_decode(data)

    def test_round_trip_nested_value(self):
        value = GLib.Variant(
            "a{sv}",
            {
                "name": GLib.Variant("s", "caf\u00e9 \U0001F600"),
                "count": GLib.Variant("x", -(2**63)),
                "blob": GLib.Variant("ay", b"\x00\xffdata"),
                "items": GLib.Variant("av", [GLib.Variant("d", 1.5), GLib.Variant("b", True)]),
            },
        )
        back = self.round_trip(value)
        self.assertTrue(back.equal(value), back.print_(True))
        # PyGObject's unpack() gives a list of ints for "ay"; the override's
        # from_variant() gives bytes.
        self.assertEqual(Mitogen.from_variant(back)["blob"], b"\x00\xffdata")

    def test_python_pickle_decodes(self):
        import pickle

        data = pickle.dumps({"a": [1, (2, "x")], "b": b"raw"}, protocol=2)
        back = Mitogen.from_variant(Mitogen.pickle_decode(GLib.Bytes.new(data)))
        self.assertEqual(back, {"a": [1, (2, "x")], "b": b"raw"})

    def test_forbidden_global_raises_codec_error(self):
        hostile = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R."
        with self.assertRaises(GLib.Error) as caught:
            Mitogen.pickle_decode(GLib.Bytes.new(hostile))
        self.assertTrue(caught.exception.matches(Mitogen.codec_error_quark(),
                                                 Mitogen.CodecError.FORBIDDEN_GLOBAL))

    def test_message_and_frame_decoder(self):
        msg = Mitogen.Message.new_pickled(1000, GLib.Variant("s", "hello"))
        msg.set_dst_id(3)
        frame = msg.encode().get_data()
        decoder = Mitogen.FrameDecoder.new(0)
        # Split the frame in two arbitrary places.
        for chunk in (frame[:7], frame[7:30], frame[30:]):
            decoder.feed(chunk)
        got = decoder.pop()
        self.assertIsNotNone(got)
        self.assertEqual(got.get_dst_id(), 3)
        self.assertEqual(got.props.handle, 1000)
        self.assertEqual(got.unpickle_value(), "hello")
        self.assertTrue(decoder.finish())

    def test_dead_message_raises_channel_error(self):
        msg = Mitogen.Message.new_dead(1000, "gone")
        self.assertTrue(msg.is_dead())
        with self.assertRaises(GLib.Error) as caught:
            msg.unpickle()
        self.assertTrue(caught.exception.matches(Mitogen.error_quark(), Mitogen.Error.CHANNEL))
        self.assertEqual(caught.exception.message, "gone")


if __name__ == "__main__":
    unittest.main()
