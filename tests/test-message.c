/* test-message.c: MitogenMessage construction, header packing, dead messages
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <string.h>

#include <mitogen-glib.h>

#include "mitogen-message-private.h"
#include "mitogen-pickle-private.h"

static void
test_message_new (void)
{
  g_autoptr(GBytes) data = g_bytes_new_static ("abc", 3);
  g_autoptr(MitogenMessage) msg = mitogen_message_new (MITOGEN_HANDLE_GET_MODULE, data);
  g_autoptr(MitogenMessage) empty = mitogen_message_new (1234, NULL);

  g_test_summary ("A new message carries its handle and payload, other fields zero");

  g_assert_cmpuint (mitogen_message_get_handle (msg), ==, 100);
  g_assert_cmpuint (mitogen_message_get_dst_id (msg), ==, 0);
  g_assert_cmpuint (mitogen_message_get_src_id (msg), ==, 0);
  g_assert_cmpuint (mitogen_message_get_auth_id (msg), ==, 0);
  g_assert_cmpuint (mitogen_message_get_reply_to (msg), ==, 0);
  g_assert_true (g_bytes_equal (mitogen_message_get_data (msg), data));
  g_assert_false (mitogen_message_is_dead (msg));
  g_assert_null (mitogen_message_dup_dead_reason (msg));

  g_assert_nonnull (mitogen_message_get_data (empty));
  g_assert_cmpuint (g_bytes_get_size (mitogen_message_get_data (empty)), ==, 0);
}

static guint notify_count;

static void
on_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  notify_count++;
}

static void
test_message_properties (void)
{
  g_autoptr(MitogenMessage) msg = mitogen_message_new (1, NULL);
  guint dst, src, auth, handle, reply_to;

  g_test_summary ("Setters notify once per real change and properties mirror the fields");

  g_signal_connect (msg, "notify", G_CALLBACK (on_notify), NULL);
  notify_count = 0;
  mitogen_message_set_dst_id (msg, 5);
  mitogen_message_set_dst_id (msg, 5);
  mitogen_message_set_src_id (msg, 6);
  mitogen_message_set_auth_id (msg, 7);
  mitogen_message_set_handle (msg, 1001);
  mitogen_message_set_reply_to (msg, 1002);
  g_assert_cmpuint (notify_count, ==, 5);

  g_object_get (msg, "dst-id", &dst, "src-id", &src, "auth-id", &auth,
                "handle", &handle, "reply-to", &reply_to, NULL);
  g_assert_cmpuint (dst, ==, 5);
  g_assert_cmpuint (src, ==, 6);
  g_assert_cmpuint (auth, ==, 7);
  g_assert_cmpuint (handle, ==, 1001);
  g_assert_cmpuint (reply_to, ==, 1002);
}

static void
test_message_header_bytes (void)
{
  /* SHUTDOWN from the master to context 1, as captured from Mitogen 0.3.3. */
  static const guint8 expected[] = {
    0x4d, 0x49, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x6a, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  };
  g_autoptr(MitogenMessage) msg = mitogen_message_new (MITOGEN_HANDLE_SHUTDOWN, NULL);
  g_autoptr(GBytes) frame = NULL;
  guint8 header[MITOGEN_MESSAGE_HEADER_SIZE];

  g_test_summary ("The packed header is byte-identical to Mitogen 0.3.3's");

  mitogen_message_set_dst_id (msg, 1);
  mitogen_message_pack_header (msg, header);
  g_assert_cmpmem (header, sizeof header, expected, sizeof expected);

  frame = mitogen_message_encode (msg);
  g_assert_cmpmem (g_bytes_get_data (frame, NULL), g_bytes_get_size (frame),
                   expected, sizeof expected);
}

static void
test_message_frame_round_trip (void)
{
  g_autoptr(GBytes) data = g_bytes_new_static ("\x80\x02M\x0b \x2e", 6);
  g_autoptr(MitogenMessage) msg = _mitogen_message_new_full (0, 1, 1, 1000, 0, data);
  g_autoptr(MitogenMessage) back = NULL;
  g_autoptr(GBytes) frame = mitogen_message_encode (msg);
  g_autoptr(GError) error = NULL;
  gsize len;
  const guint8 *bytes = g_bytes_get_data (frame, &len);

  g_test_summary ("A frame parses back into the same header and payload");

  g_assert_cmpuint (len, ==, MITOGEN_MESSAGE_HEADER_SIZE + 6);
  back = mitogen_message_new_from_frame (bytes, len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mitogen_message_get_dst_id (back), ==, 0);
  g_assert_cmpuint (mitogen_message_get_src_id (back), ==, 1);
  g_assert_cmpuint (mitogen_message_get_auth_id (back), ==, 1);
  g_assert_cmpuint (mitogen_message_get_handle (back), ==, 1000);
  g_assert_cmpuint (mitogen_message_get_reply_to (back), ==, 0);
  g_assert_true (g_bytes_equal (mitogen_message_get_data (back), data));
}

static void
test_message_frame_errors (void)
{
  g_autoptr(GBytes) payload = g_bytes_new_static ("xy", 2);
  g_autoptr(MitogenMessage) msg = mitogen_message_new (5, payload);
  g_autoptr(GBytes) frame = mitogen_message_encode (msg);
  g_autofree guint8 *copy = g_memdup2 (g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
  gsize len = g_bytes_get_size (frame);
  GError *error = NULL;

  g_test_summary ("Short frames, length mismatches and bad magic are refused with a code");

  g_assert_null (mitogen_message_new_from_frame (copy, 10, &error));
  g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED);
  g_clear_error (&error);

  g_assert_null (mitogen_message_new_from_frame (copy, len - 1, &error));
  g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED);
  g_clear_error (&error);

  copy[0] = 'X';
  g_assert_null (mitogen_message_new_from_frame (copy, len, &error));
  g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_BAD_MAGIC);
  g_clear_error (&error);
}

static void
test_message_dead (void)
{
  g_autoptr(MitogenMessage) msg = mitogen_message_new_dead (1000, "the respondent Context has disconnected");
  g_autoptr(MitogenMessage) empty = mitogen_message_new_dead (1000, NULL);
  g_autofree char *reason = NULL;
  g_autofree char *empty_reason = NULL;
  GVariant *value;
  GError *error = NULL;

  g_test_summary ("Dead messages carry a plain-text reason and unpickle to a CHANNEL error");

  g_assert_true (mitogen_message_is_dead (msg));
  g_assert_cmpuint (mitogen_message_get_reply_to (msg), ==, MITOGEN_HANDLE_IS_DEAD);
  g_assert_cmpmem (g_bytes_get_data (mitogen_message_get_data (msg), NULL),
                   g_bytes_get_size (mitogen_message_get_data (msg)),
                   "the respondent Context has disconnected", 39);
  reason = mitogen_message_dup_dead_reason (msg);
  g_assert_cmpstr (reason, ==, "the respondent Context has disconnected");

  value = mitogen_message_unpickle (msg, &error);
  g_assert_null (value);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_cmpstr (error->message, ==, "the respondent Context has disconnected");
  g_clear_error (&error);

  empty_reason = mitogen_message_dup_dead_reason (empty);
  g_assert_cmpstr (empty_reason, ==, "Channel closed by remote end.");
}

static void
test_message_pickled (void)
{
  g_autoptr(MitogenMessage) msg = NULL;
  g_autoptr(GVariant) back = NULL;
  g_autoptr(GError) error = NULL;
  GVariant *value = g_variant_new_parsed ("(<int64 42>, <'text'>, <@ay [1, 2, 3]>)");

  g_test_summary ("A pickled message unpickles to an equal value");

  g_variant_ref_sink (value);
  msg = mitogen_message_new_pickled (1000, value, &error);
  g_assert_no_error (error);
  back = mitogen_message_unpickle (msg, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_equal (value, back));
  g_variant_unref (value);
}

static GBytes *
pattern_bytes (gsize  size,
               guint8 seed)
{
  guint8 *data = g_malloc (size);

  for (gsize i = 0; i < size; i++)
    data[i] = (guint8) (i * 31 + seed);
  return g_bytes_new_take (data, size);
}

/* Whether one of @msg's pieces is @len bytes at @where (not a copy). */
static gboolean
has_piece_at (MitogenMessage *msg,
              gconstpointer   where,
              gsize           len)
{
  GPtrArray *pieces = _mitogen_message_get_pieces (msg);

  for (guint i = 0; pieces != NULL && i < pieces->len; i++)
    {
      gsize piece_len;
      gconstpointer piece = g_bytes_get_data (g_ptr_array_index (pieces, i), &piece_len);

      if (piece == where && piece_len == len)
        return TRUE;
    }
  return FALSE;
}

static void
check_pieced (GVariant *value,
              guint     min_pieces)
{
  g_autoptr(MitogenMessage) msg = NULL;
  g_autoptr(GBytes) expected = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GVariant) back = NULL;
  g_autoptr(GError) error = NULL;
  guint8 header[MITOGEN_MESSAGE_HEADER_SIZE];
  guint32 size_be;
  GPtrArray *pieces;
  gsize total = 0;

  g_variant_ref_sink (value);
  expected = mitogen_pickle_encode (value, MITOGEN_PICKLE_FLAGS_NONE, &error);
  g_assert_no_error (error);
  msg = mitogen_message_new_pickled (7, value, &error);
  g_assert_no_error (error);

  pieces = _mitogen_message_get_pieces (msg);
  g_assert_nonnull (pieces);
  g_assert_cmpuint (pieces->len, >=, min_pieces);
  for (guint i = 0; i < pieces->len; i++)
    total += g_bytes_get_size (g_ptr_array_index (pieces, i));
  g_assert_cmpuint (total, ==, g_bytes_get_size (expected));
  g_assert_cmpuint (_mitogen_message_get_size (msg), ==, total);

  /* The header counts the pieces; the joined payload is the pickle
   * mitogen_pickle_encode() makes, and the same buffer every time. */
  mitogen_message_pack_header (msg, header);
  memcpy (&size_be, header + 22, sizeof size_be);
  g_assert_cmpuint (GUINT32_FROM_BE (size_be), ==, total);
  g_assert_true (g_bytes_equal (mitogen_message_get_data (msg), expected));
  g_assert_true (mitogen_message_get_data (msg) == mitogen_message_get_data (msg));
  frame = mitogen_message_encode (msg);
  g_assert_cmpmem ((const guint8 *) g_bytes_get_data (frame, NULL) + MITOGEN_MESSAGE_HEADER_SIZE,
                   g_bytes_get_size (frame) - MITOGEN_MESSAGE_HEADER_SIZE,
                   g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));

  /* A sharing writer asked for one buffer joins its pieces. */
  {
    MitogenPickleWriter writer;
    g_autoptr(GBytes) joined = NULL;

    _mitogen_pickle_writer_init (&writer, MITOGEN_PICKLE_FLAGS_NONE, 0);
    writer.share_big_bytes = TRUE;
    g_assert_true (_mitogen_pickle_writer_value (&writer, value, &error));
    g_assert_no_error (error);
    g_assert_nonnull (writer.pieces);
    joined = _mitogen_pickle_writer_finish (&writer);
    g_assert_true (g_bytes_equal (joined, expected));
  }

  back = mitogen_message_unpickle (msg, &error);
  g_assert_no_error (error);
  {
    g_autoptr(GVariant) decoded = mitogen_pickle_decode (expected, &error);

    g_assert_no_error (error);
    g_assert_true (g_variant_equal (back, decoded));
  }
  g_variant_unref (value);
}

static void
test_message_pickled_big_bytes (void)
{
  g_autoptr(GBytes) big = pattern_bytes (MITOGEN_PICKLE_SHARE_MIN_SIZE + 3, 1);
  g_autoptr(GBytes) other = pattern_bytes (3 * MITOGEN_PICKLE_SHARE_MIN_SIZE, 2);
  g_autoptr(GBytes) small = pattern_bytes (MITOGEN_PICKLE_SHARE_MIN_SIZE - 1, 3);
  g_autoptr(GBytes) tuple_data = NULL;
  g_autoptr(MitogenMessage) small_msg = NULL;
  g_autoptr(GVariant) serialised = NULL;
  g_autoptr(GError) error = NULL;
  GVariant *tree;
  GVariant *blob;

  g_test_summary ("Big bytes in a pickled message are referenced, not copied: the "
                  "pieces make the same pickle, frame and value");

  /* A tree of GVariants with two big leaves and a small one. */
  tree = g_variant_new ("(@ays@ay@ay)",
                        g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, big, TRUE),
                        "between",
                        g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, small, TRUE),
                        g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, other, TRUE));
  {
    g_autoptr(MitogenMessage) msg = NULL;

    g_variant_ref_sink (tree);
    msg = mitogen_message_new_pickled (7, tree, &error);
    g_assert_no_error (error);
    g_assert_true (has_piece_at (msg, g_bytes_get_data (big, NULL), g_bytes_get_size (big)));
    g_assert_true (has_piece_at (msg, g_bytes_get_data (other, NULL), g_bytes_get_size (other)));
    g_assert_false (has_piece_at (msg, g_bytes_get_data (small, NULL), g_bytes_get_size (small)));
  }
  check_pieced (tree, 5);
  g_variant_unref (tree);

  /* Serialised data (as a decoded or received value is): the bytes are
   * referenced inside the one buffer. */
  {
    g_autoptr(GVariant) built = g_variant_ref_sink (
      g_variant_new ("(s@ay)", "name",
                     g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, other, TRUE)));

    tuple_data = g_variant_get_data_as_bytes (built);
  }
  serialised = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("(say)"), tuple_data, TRUE));
  {
    g_autoptr(MitogenMessage) msg = mitogen_message_new_pickled (7, serialised, &error);
    const guint8 *inside = (const guint8 *) g_bytes_get_data (tuple_data, NULL) + 5;

    /* "(say)": the string "name\0", then the bytes (byte-aligned). */
    g_assert_no_error (error);
    g_assert_true (has_piece_at (msg, inside, g_bytes_get_size (other)));
  }
  check_pieced (serialised, 3);

  /* A Blob tag holding big bytes. */
  blob = g_variant_new ("(sv)", MITOGEN_PICKLE_TAG_BLOB,
                        g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, big, TRUE));
  check_pieced (blob, 3);

  /* Below the size, one buffer as before. */
  small_msg = mitogen_message_new_pickled (7, g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, small, TRUE),
                                           &error);
  g_assert_no_error (error);
  g_assert_null (_mitogen_message_get_pieces (small_msg));
}

static void
test_message_call_error (void)
{
  g_autoptr(MitogenMessage) msg = NULL;
  g_autoptr(GError) error = NULL;
  GVariant *value;

  g_test_summary ("A top-level CallError unpickles to a CALL error with the remote text");

  value = g_variant_new ("(sv)", MITOGEN_PICKLE_TAG_CALL_ERROR,
                         g_variant_new_string ("builtins.ValueError: boom\n  File \"x\", line 1"));
  msg = mitogen_message_new_pickled (1000, value, &error);
  g_assert_no_error (error);
  g_assert_null (mitogen_message_unpickle (msg, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_true (g_str_has_prefix (error->message, "builtins.ValueError: boom"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/message/new", test_message_new);
  g_test_add_func ("/message/properties", test_message_properties);
  g_test_add_func ("/message/header-bytes", test_message_header_bytes);
  g_test_add_func ("/message/frame-round-trip", test_message_frame_round_trip);
  g_test_add_func ("/message/frame-errors", test_message_frame_errors);
  g_test_add_func ("/message/dead", test_message_dead);
  g_test_add_func ("/message/pickled", test_message_pickled);
  g_test_add_func ("/message/pickled-big-bytes", test_message_pickled_big_bytes);
  g_test_add_func ("/message/call-error", test_message_call_error);

  return g_test_run ();
}
