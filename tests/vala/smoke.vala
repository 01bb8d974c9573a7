/* smoke.vala: the generated VAPI compiles and the codec works from Vala. */

int main (string[] args) {
    int64 minus_seven = -7;
    var value = new Variant ("(sx)", "vala", minus_seven);
    try {
        var pickle = Mitogen.pickle_encode (value, Mitogen.PickleFlags.NONE);
        var back = Mitogen.pickle_decode (pickle);
        string s = back.get_child_value (0).get_variant ().get_string ();
        int64 n = back.get_child_value (1).get_variant ().get_int64 ();
        if (s != "vala" || n != -7) {
            stderr.printf ("round trip gave %s\n", back.print (true));
            return 1;
        }

        var decoder = new Mitogen.FrameDecoder (0);
        var msg = new Mitogen.Message.pickled (1000, new Variant.string ("hi"));
        msg.dst_id = 4;
        decoder.feed (msg.encode ().get_data ());
        var got = decoder.pop ();
        if (got == null || got.dst_id != 4 || got.unpickle ().get_string () != "hi") {
            stderr.printf ("frame decoder lost the message\n");
            return 1;
        }
    } catch (Error e) {
        stderr.printf ("error: %s\n", e.message);
        return 1;
    }

    var latch = new Mitogen.Latch ();
    try {
        latch.put (new Object ());
        if (latch.get_size () != 1) {
            return 1;
        }
        latch.close ();
        latch.put (new Object ());
        stderr.printf ("put on a closed latch succeeded\n");
        return 1;
    } catch (Error e) {
        if (!(e is Mitogen.Error.LATCH_CLOSED)) {
            stderr.printf ("unexpected error: %s\n", e.message);
            return 1;
        }
    }
    print ("ok\n");
    return 0;
}
