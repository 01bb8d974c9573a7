/* test-frame-decoder.c: tests of MitogenFrameDecoder and single-frame parsing
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <string.h>

#include <mitogen-glib.h>

#include "mitogen-frame-decoder-private.h"

/* A message with every header field distinct and a payload whose bytes
 * depend on @seed, so a payload shifted by one byte or taken from the wrong
 * frame shows up. */
static MitogenMessage *
make_message (guint   seed,
              gsize   payload_size)
{
  g_autoptr(GBytes) data = NULL;
  MitogenMessage *message;
  guint8 *buf = g_malloc (payload_size + 1);

  for (gsize i = 0; i < payload_size; i++)
    buf[i] = (guint8) (i * 31 + seed * 7 + (i >> 8));
  data = g_bytes_new_take (buf, payload_size);

  message = mitogen_message_new (1000 + seed, data);
  mitogen_message_set_dst_id (message, seed + 1);
  mitogen_message_set_src_id (message, seed * 3);
  mitogen_message_set_auth_id (message, G_MAXUINT32 - seed);
  /* Cover reply_to 0, a dynamic handle and IS_DEAD. */
  mitogen_message_set_reply_to (message,
                                seed % 3 == 0 ? 0 :
                                seed % 3 == 1 ? 0x80000000u + seed :
                                MITOGEN_HANDLE_IS_DEAD);
  return message;
}

static void
assert_message_equal (MitogenMessage *got,
                      MitogenMessage *want)
{
  g_assert_nonnull (got);
  g_assert_true (MITOGEN_IS_MESSAGE (got));
  g_assert_cmpuint (mitogen_message_get_dst_id (got), ==, mitogen_message_get_dst_id (want));
  g_assert_cmpuint (mitogen_message_get_src_id (got), ==, mitogen_message_get_src_id (want));
  g_assert_cmpuint (mitogen_message_get_auth_id (got), ==, mitogen_message_get_auth_id (want));
  g_assert_cmpuint (mitogen_message_get_handle (got), ==, mitogen_message_get_handle (want));
  g_assert_cmpuint (mitogen_message_get_reply_to (got), ==, mitogen_message_get_reply_to (want));
  g_assert_cmpuint (g_bytes_get_size (mitogen_message_get_data (got)), ==,
                    g_bytes_get_size (mitogen_message_get_data (want)));
  g_assert_true (g_bytes_equal (mitogen_message_get_data (got),
                                mitogen_message_get_data (want)));
}

/* Encodes and concatenates @messages. */
static GByteArray *
encode_all (GPtrArray *messages)
{
  GByteArray *stream = g_byte_array_new ();

  for (guint i = 0; i < messages->len; i++)
    {
      g_autoptr(GBytes) frame = mitogen_message_encode (messages->pdata[i]);

      g_byte_array_append (stream, g_bytes_get_data (frame, NULL),
                           g_bytes_get_size (frame));
    }
  return stream;
}

static GPtrArray *
make_messages (const gsize *sizes,
               gsize        n_sizes)
{
  GPtrArray *messages = g_ptr_array_new_with_free_func (g_object_unref);

  for (gsize i = 0; i < n_sizes; i++)
    g_ptr_array_add (messages, make_message (i, sizes[i]));
  return messages;
}

/* Pops everything and checks it against @want, starting at *next. */
static void
pop_and_check (MitogenFrameDecoder *decoder,
               GPtrArray           *want,
               guint               *next)
{
  MitogenMessage *got;

  while ((got = mitogen_frame_decoder_pop (decoder)) != NULL)
    {
      g_assert_cmpuint (*next, <, want->len);
      assert_message_equal (got, want->pdata[*next]);
      g_object_unref (got);
      (*next)++;
    }
  g_assert_cmpuint (mitogen_frame_decoder_get_n_pending (decoder), ==, 0);
}

static void
feed_ok (MitogenFrameDecoder *decoder,
         const guint8        *data,
         gsize                len)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mitogen_frame_decoder_feed (decoder, data, len, &error));
  g_assert_no_error (error);
}

static void
finish_ok (MitogenFrameDecoder *decoder)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mitogen_frame_decoder_finish (decoder, &error));
  g_assert_no_error (error);
}

static const gsize small_sizes[] = { 0, 1, 25, 26, 27, 0, 3 };

static void
test_split_every_byte (void)
{
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GByteArray) stream = NULL;

  g_test_summary ("A stream of small frames split in two at every byte "
                  "position, and in three at every pair of positions, "
                  "decodes to the same messages");

  messages = make_messages (small_sizes, G_N_ELEMENTS (small_sizes));
  stream = encode_all (messages);

  for (gsize i = 0; i <= stream->len; i++)
    {
      g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
      guint next = 0;

      feed_ok (decoder, stream->data, i);
      pop_and_check (decoder, messages, &next);
      feed_ok (decoder, stream->data + i, stream->len - i);
      pop_and_check (decoder, messages, &next);
      finish_ok (decoder);
      g_assert_cmpuint (next, ==, messages->len);
    }

  for (gsize i = 0; i <= stream->len; i++)
    for (gsize j = i; j <= stream->len; j++)
      {
        g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
        guint next = 0;

        feed_ok (decoder, stream->data, i);
        feed_ok (decoder, stream->data + i, j - i);
        feed_ok (decoder, stream->data + j, stream->len - j);
        pop_and_check (decoder, messages, &next);
        finish_ok (decoder);
        g_assert_cmpuint (next, ==, messages->len);
      }
}

static void
test_byte_at_a_time (void)
{
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GByteArray) stream = NULL;
  g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
  guint next = 0;

  g_test_summary ("Feeding one byte at a time yields each message as soon "
                  "as its last byte arrives");

  messages = make_messages (small_sizes, G_N_ELEMENTS (small_sizes));
  stream = encode_all (messages);

  for (gsize i = 0, frame_end = 0, k = 0; i < stream->len; i++)
    {
      if (i == frame_end)
        {
          frame_end += MITOGEN_MESSAGE_HEADER_SIZE + small_sizes[k];
          k++;
        }
      feed_ok (decoder, stream->data + i, 1);
      g_assert_cmpuint (mitogen_frame_decoder_get_n_pending (decoder), ==,
                        i + 1 == frame_end ? 1 : 0);
      pop_and_check (decoder, messages, &next);
    }
  g_assert_cmpuint (next, ==, messages->len);
  finish_ok (decoder);
}

static void
test_random_chunks (void)
{
  static const gsize big_sizes[] = { 0, 1, 25, 26, 27, 4096, 1024 * 1024, 7, 4096, 0, 1024 * 1024 + 3, 1 };
  static const gsize max_chunk[] = { 7, 300, 4096, 65536, 300000, 4 * 1024 * 1024 };
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GByteArray) stream = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (0x4d49);

  g_test_summary ("A stream with payloads up to 1 MiB, fed in chunks of "
                  "random sizes (fixed seed), decodes to the same messages");

  messages = make_messages (big_sizes, G_N_ELEMENTS (big_sizes));
  stream = encode_all (messages);

  for (gsize m = 0; m < G_N_ELEMENTS (max_chunk); m++)
    {
      g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
      guint next = 0;
      gsize pos = 0;

      while (pos < stream->len)
        {
          gsize n = g_rand_int_range (rand, 1, (gint32) max_chunk[m] + 1);

          n = MIN (n, stream->len - pos);
          feed_ok (decoder, stream->data + pos, n);
          pos += n;
          pop_and_check (decoder, messages, &next);
        }
      finish_ok (decoder);
      g_assert_cmpuint (next, ==, messages->len);
      g_assert_cmpuint (_mitogen_frame_decoder_get_buffer_capacity (decoder), ==, 0);
    }
}

static void
test_one_chunk (void)
{
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GByteArray) stream = NULL;
  g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
  guint next = 0;

  g_test_summary ("Many frames in a single chunk all become messages, in "
                  "order, from one feed call");

  for (guint i = 0; i < 2000; i++)
    g_ptr_array_add (messages, make_message (i, i % 61));
  stream = encode_all (messages);

  feed_ok (decoder, stream->data, stream->len);
  g_assert_cmpuint (mitogen_frame_decoder_get_n_pending (decoder), ==, 2000);
  pop_and_check (decoder, messages, &next);
  g_assert_cmpuint (next, ==, 2000);
  g_assert_null (mitogen_frame_decoder_pop (decoder));
  finish_ok (decoder);
}

static void
test_bad_magic (void)
{
  static const gsize sizes[] = { 5, 0, 40 };
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GByteArray) stream = NULL;
  g_autoptr(GError) error = NULL;
  gsize bad;

  g_test_summary ("A header with the wrong magic fails with BAD_MAGIC as "
                  "soon as the header is complete, names the bytes seen, "
                  "keeps the messages before it and kills the stream");

  messages = make_messages (sizes, G_N_ELEMENTS (sizes));
  stream = encode_all (messages);
  bad = stream->len - (MITOGEN_MESSAGE_HEADER_SIZE + 40);
  stream->data[bad] = 0x12;
  stream->data[bad + 1] = 0x34;

  /* All in one chunk. */
  {
    g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
    guint next = 0;

    g_assert_false (mitogen_frame_decoder_feed (decoder, stream->data, stream->len, &error));
    g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_BAD_MAGIC);
    g_assert_nonnull (strstr (error->message, "0x12 0x34"));
    g_test_message ("%s", error->message);
    g_clear_error (&error);

    g_assert_cmpuint (mitogen_frame_decoder_get_n_pending (decoder), ==, 2);
    pop_and_check (decoder, messages, &next);
    g_assert_cmpuint (next, ==, 2);

    /* The stream is dead. */
    g_assert_false (mitogen_frame_decoder_feed (decoder, stream->data, MITOGEN_MESSAGE_HEADER_SIZE, &error));
    g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_BAD_MAGIC);
    g_clear_error (&error);
    g_assert_false (mitogen_frame_decoder_feed (decoder, NULL, 0, &error));
    g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_BAD_MAGIC);
    g_clear_error (&error);
    g_assert_cmpuint (mitogen_frame_decoder_get_n_pending (decoder), ==, 0);

    g_assert_false (mitogen_frame_decoder_finish (decoder, &error));
    g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_BAD_MAGIC);
    g_clear_error (&error);
  }

  /* Split inside the bad header: the error comes with its last byte, not
   * with the payload. */
  {
    g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
    guint next = 0;

    feed_ok (decoder, stream->data, bad + 1);
    feed_ok (decoder, stream->data + bad + 1, MITOGEN_MESSAGE_HEADER_SIZE - 2);
    g_assert_false (mitogen_frame_decoder_feed (decoder, stream->data + bad + MITOGEN_MESSAGE_HEADER_SIZE - 1, 1, &error));
    g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_BAD_MAGIC);
    g_clear_error (&error);
    pop_and_check (decoder, messages, &next);
    g_assert_cmpuint (next, ==, 2);
  }
}

static void
test_too_large (void)
{
  g_autoptr(MitogenMessage) fits = make_message (1, 1024);
  g_autoptr(MitogenMessage) too_big = make_message (2, 1025);
  g_autoptr(GBytes) fits_frame = mitogen_message_encode (fits);
  g_autoptr(GBytes) big_frame = mitogen_message_encode (too_big);
  g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (1024);
  g_autoptr(MitogenMessage) got = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A header announcing more than max-message-size fails "
                  "with TOO_LARGE before any payload arrives; exactly the "
                  "maximum is fine");

  g_assert_cmpuint (mitogen_frame_decoder_get_max_message_size (decoder), ==, 1024);

  feed_ok (decoder, g_bytes_get_data (fits_frame, NULL), g_bytes_get_size (fits_frame));
  got = mitogen_frame_decoder_pop (decoder);
  assert_message_equal (got, fits);

  /* The header alone is enough. */
  g_assert_false (mitogen_frame_decoder_feed (decoder, g_bytes_get_data (big_frame, NULL),
                                              MITOGEN_MESSAGE_HEADER_SIZE, &error));
  g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TOO_LARGE);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "1025"));
  g_assert_nonnull (strstr (error->message, "1024"));
  g_clear_error (&error);

  g_assert_false (mitogen_frame_decoder_feed (decoder, g_bytes_get_data (fits_frame, NULL),
                                              g_bytes_get_size (fits_frame), &error));
  g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TOO_LARGE);
  g_clear_error (&error);
  g_assert_cmpuint (mitogen_frame_decoder_get_n_pending (decoder), ==, 0);
}

static void
put_be32 (guint8  *p,
          guint32  v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

static void
make_header (guint8  *header,
             guint32  length)
{
  memset (header, 0, MITOGEN_MESSAGE_HEADER_SIZE);
  header[0] = 'M';
  header[1] = 'I';
  put_be32 (header + 14, MITOGEN_HANDLE_CALL_FUNCTION);
  put_be32 (header + 22, length);
}

static void
test_huge_announced (void)
{
  g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
  g_autoptr(GError) error = NULL;
  guint8 header[MITOGEN_MESSAGE_HEADER_SIZE];
  guint8 ten[10] = { 0 };

  g_test_summary ("A header announcing 128 MiB followed by 10 bytes does "
                  "not make the decoder allocate 128 MiB; EOF then reports "
                  "how much was missing");

  make_header (header, MITOGEN_MESSAGE_DEFAULT_MAX_SIZE);
  feed_ok (decoder, header, sizeof header);
  g_assert_cmpuint (_mitogen_frame_decoder_get_buffer_capacity (decoder), <, 1024 * 1024);
  feed_ok (decoder, ten, sizeof ten);
  g_assert_cmpuint (_mitogen_frame_decoder_get_buffer_capacity (decoder), <, 1024 * 1024);
  g_assert_cmpuint (_mitogen_frame_decoder_get_buffer_capacity (decoder), >=, 10);
  g_assert_cmpuint (mitogen_frame_decoder_get_n_pending (decoder), ==, 0);

  g_assert_false (mitogen_frame_decoder_finish (decoder, &error));
  g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "10 of 134217728"));
  g_assert_nonnull (strstr (error->message, "134217718 missing"));
  /* A dead stream releases its buffer. */
  g_assert_cmpuint (_mitogen_frame_decoder_get_buffer_capacity (decoder), ==, 0);
}

static void
test_buffer_growth (void)
{
  const gsize size = 3 * 1024 * 1024 + 17;
  g_autoptr(MitogenMessage) message = make_message (9, size);
  g_autoptr(GBytes) frame = mitogen_message_encode (message);
  g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
  g_autoptr(MitogenMessage) got = NULL;
  const guint8 *data = g_bytes_get_data (frame, NULL);
  gsize pos = 0, last_cap = 0;
  guint n_grows = 0;

  g_test_summary ("The payload buffer grows geometrically with the bytes "
                  "received, never far ahead of them, and ends exactly the "
                  "size of the payload");

  while (pos < g_bytes_get_size (frame))
    {
      gsize n = MIN (1000, g_bytes_get_size (frame) - pos);
      gsize cap;

      feed_ok (decoder, data + pos, n);
      pos += n;
      cap = _mitogen_frame_decoder_get_buffer_capacity (decoder);
      if (pos == g_bytes_get_size (frame))
        break;
      if (pos > MITOGEN_MESSAGE_HEADER_SIZE)
        {
          gsize received = pos - MITOGEN_MESSAGE_HEADER_SIZE;

          g_assert_cmpuint (cap, >=, received);
          g_assert_cmpuint (cap, <=, MAX (64 * 1024, 2 * received));
          g_assert_cmpuint (cap, <=, size);
        }
      if (cap != last_cap)
        n_grows++;
      last_cap = cap;
    }

  /* 64K doubling to 2M, then straight to the full size. */
  g_assert_cmpuint (n_grows, <=, 8);
  g_assert_cmpuint (last_cap, ==, size);
  got = mitogen_frame_decoder_pop (decoder);
  assert_message_equal (got, message);
  g_assert_cmpuint (_mitogen_frame_decoder_get_buffer_capacity (decoder), ==, 0);
  finish_ok (decoder);
}

static void
test_small_initial_capacity (void)
{
  const gsize size = 1000;
  g_autoptr(MitogenMessage) message = make_message (5, size);
  g_autoptr(GBytes) frame = mitogen_message_encode (message);
  g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
  g_autoptr(MitogenMessage) got = NULL;
  const guint8 *data = g_bytes_get_data (frame, NULL);
  gsize last_cap = 0;
  guint n_grows = 0;

  g_test_summary ("With a 16-byte first allocation, a payload fed one byte "
                  "at a time doubles its buffer, then jumps to the full "
                  "size once half has arrived");

  _mitogen_frame_decoder_set_initial_capacity (decoder, 16);
  feed_ok (decoder, data, MITOGEN_MESSAGE_HEADER_SIZE);
  for (gsize received = 1; received < size; received++)
    {
      gsize cap;

      feed_ok (decoder, data + MITOGEN_MESSAGE_HEADER_SIZE + received - 1, 1);
      cap = _mitogen_frame_decoder_get_buffer_capacity (decoder);
      g_assert_cmpuint (cap, >=, received);
      g_assert_cmpuint (cap, <=, MAX (16, 2 * received));
      if (cap != last_cap)
        {
          g_test_message ("%" G_GSIZE_FORMAT " bytes in: capacity %" G_GSIZE_FORMAT,
                          received, cap);
          n_grows++;
        }
      last_cap = cap;
    }

  /* 16, 32, 64, 128, 256, 512, then 1000 once 513 (over half) are in. */
  g_assert_cmpuint (n_grows, ==, 7);
  g_assert_cmpuint (last_cap, ==, size);
  g_assert_cmpuint (mitogen_frame_decoder_get_n_pending (decoder), ==, 0);
  feed_ok (decoder, data + g_bytes_get_size (frame) - 1, 1);
  got = mitogen_frame_decoder_pop (decoder);
  assert_message_equal (got, message);
  finish_ok (decoder);
}

static void
test_truncated (void)
{
  g_autoptr(MitogenMessage) message = make_message (4, 100);
  g_autoptr(GBytes) frame = mitogen_message_encode (message);
  const guint8 *data = g_bytes_get_data (frame, NULL);

  g_test_summary ("EOF inside a header or a payload fails with TRUNCATED "
                  "saying how many bytes were missing; EOF at a frame "
                  "boundary succeeds");

  /* Inside the header. */
  {
    g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
    g_autoptr(GError) error = NULL;

    feed_ok (decoder, data, MITOGEN_MESSAGE_HEADER_SIZE + 100);
    feed_ok (decoder, data, 10);
    g_assert_false (mitogen_frame_decoder_finish (decoder, &error));
    g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "header"));
    g_assert_nonnull (strstr (error->message, "10 of 26"));
    g_assert_nonnull (strstr (error->message, "16 missing"));
    /* The message before it is still there. */
    g_assert_cmpuint (mitogen_frame_decoder_get_n_pending (decoder), ==, 1);
    g_clear_error (&error);

    /* finish is idempotent. */
    g_assert_false (mitogen_frame_decoder_finish (decoder, &error));
    g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED);
  }

  /* Inside the payload, header complete. */
  {
    g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
    g_autoptr(GError) error = NULL;

    feed_ok (decoder, data, MITOGEN_MESSAGE_HEADER_SIZE + 58);
    g_assert_false (mitogen_frame_decoder_finish (decoder, &error));
    g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "payload"));
    g_assert_nonnull (strstr (error->message, "58 of 100"));
    g_assert_nonnull (strstr (error->message, "42 missing"));
    g_assert_cmpuint (mitogen_frame_decoder_get_n_pending (decoder), ==, 0);
  }

  /* Header complete, no payload byte yet. */
  {
    g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
    g_autoptr(GError) error = NULL;

    feed_ok (decoder, data, MITOGEN_MESSAGE_HEADER_SIZE);
    g_assert_false (mitogen_frame_decoder_finish (decoder, &error));
    g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED);
    g_assert_nonnull (strstr (error->message, "0 of 100"));
  }

  /* At boundaries. */
  {
    g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
    g_autoptr(MitogenFrameDecoder) empty = mitogen_frame_decoder_new (0);

    feed_ok (decoder, data, g_bytes_get_size (frame));
    feed_ok (decoder, data, g_bytes_get_size (frame));
    finish_ok (decoder);
    finish_ok (decoder);
    g_assert_cmpuint (mitogen_frame_decoder_get_n_pending (decoder), ==, 2);
    finish_ok (empty);
  }
}

static void
test_feed_after_finish (void)
{
  g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
  guint8 byte = 'M';

  g_test_summary ("Feeding after finish is a programmer error");

  finish_ok (decoder);
  g_test_expect_message ("Mitogen", G_LOG_LEVEL_CRITICAL, "*!self->eof*");
  g_assert_false (mitogen_frame_decoder_feed (decoder, &byte, 1, NULL));
  g_test_assert_expected_messages ();
}

static void
test_default_max (void)
{
  g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
  g_autoptr(MitogenFrameDecoder) small = mitogen_frame_decoder_new (7);
  g_autoptr(GError) error = NULL;
  guint64 prop = 0;
  guint8 header[MITOGEN_MESSAGE_HEADER_SIZE];

  g_test_summary ("A decoder made with max 0 uses the default limit of "
                  "128 MiB: exactly 128 MiB is accepted, one byte more is "
                  "TOO_LARGE");

  g_assert_cmpuint (mitogen_frame_decoder_get_max_message_size (decoder), ==,
                    MITOGEN_MESSAGE_DEFAULT_MAX_SIZE);
  g_object_get (decoder, "max-message-size", &prop, NULL);
  g_assert_cmpuint (prop, ==, MITOGEN_MESSAGE_DEFAULT_MAX_SIZE);
  g_object_get (small, "max-message-size", &prop, NULL);
  g_assert_cmpuint (prop, ==, 7);

  make_header (header, MITOGEN_MESSAGE_DEFAULT_MAX_SIZE);
  feed_ok (decoder, header, sizeof header);
  g_clear_object (&decoder);

  decoder = mitogen_frame_decoder_new (0);
  make_header (header, MITOGEN_MESSAGE_DEFAULT_MAX_SIZE + 1);
  g_assert_false (mitogen_frame_decoder_feed (decoder, header, sizeof header, &error));
  g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TOO_LARGE);
  g_assert_nonnull (strstr (error->message, "134217729"));
  g_assert_nonnull (strstr (error->message, "134217728"));
  g_clear_error (&error);

  /* A limit over 4 GiB means no limit: every 32-bit length is accepted. */
  g_clear_object (&decoder);
  decoder = mitogen_frame_decoder_new (G_MAXUINT64);
  make_header (header, G_MAXUINT32);
  feed_ok (decoder, header, sizeof header);
  g_assert_cmpuint (_mitogen_frame_decoder_get_buffer_capacity (decoder), ==, 0);
}

/* Example frames from the Mitogen 0.3 protocol reference, section 1.5. */
static GBytes *
unhex (const char *hex)
{
  GByteArray *out = g_byte_array_new ();

  for (const char *p = hex; *p != '\0';)
    {
      guint8 b;

      if (*p == ' ')
        {
          p++;
          continue;
        }
      g_assert_true (g_ascii_isxdigit (p[0]) && g_ascii_isxdigit (p[1]));
      b = (guint8) (g_ascii_xdigit_value (p[0]) << 4 | g_ascii_xdigit_value (p[1]));
      g_byte_array_append (out, &b, 1);
      p += 2;
    }
  return g_byte_array_free_to_bytes (out);
}

static void
test_reference_frames (void)
{
  static const struct {
    const char *hex;
    guint32 dst_id, src_id, auth_id, handle, reply_to;
    gsize length;
  } frames[] = {
    { "4d49 00000001 00000000 00000000 00000065 000003e8 00000043"
      " 8002284e5805000000706f73697871004e5806000000676574706964710129636d69746f"
      "67656e2e636f72650a4b77617267730a71027d71038571045271057471062e",
      1, 0, 0, 101, 1000, 0x43 },
    { "4d49 00000000 00000001 00000001 000003e8 00000000 00000006  80024d0b202e",
      0, 1, 1, 1000, 0, 6 },
    { "4d49 00000001 00000000 00000000 0000006a 00000000 00000000",
      1, 0, 0, 106, 0, 0 },
    { "4d49 00000000 00000001 00000001 00000064 00000000 0000000e  6d69746f67656e2e706172656e74",
      0, 1, 1, 100, 0, 14 },
  };
  g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (0);
  g_autoptr(GByteArray) stream = g_byte_array_new ();
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func (g_object_unref);
  guint next = 0;

  g_test_summary ("The example frames of the protocol reference decode to "
                  "the documented header fields, alone and concatenated");

  for (gsize i = 0; i < G_N_ELEMENTS (frames); i++)
    {
      g_autoptr(GBytes) frame = unhex (frames[i].hex);
      g_autoptr(MitogenMessage) message = NULL;
      g_autoptr(MitogenMessage) popped = NULL;
      g_autoptr(GBytes) again = NULL;
      g_autoptr(GError) error = NULL;

      message = mitogen_message_new_from_frame (g_bytes_get_data (frame, NULL),
                                                g_bytes_get_size (frame), &error);
      g_assert_no_error (error);
      g_assert_cmpuint (mitogen_message_get_dst_id (message), ==, frames[i].dst_id);
      g_assert_cmpuint (mitogen_message_get_src_id (message), ==, frames[i].src_id);
      g_assert_cmpuint (mitogen_message_get_auth_id (message), ==, frames[i].auth_id);
      g_assert_cmpuint (mitogen_message_get_handle (message), ==, frames[i].handle);
      g_assert_cmpuint (mitogen_message_get_reply_to (message), ==, frames[i].reply_to);
      g_assert_cmpuint (g_bytes_get_size (mitogen_message_get_data (message)), ==, frames[i].length);

      again = mitogen_message_encode (message);
      g_assert_true (g_bytes_equal (again, frame));

      g_byte_array_append (stream, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
      feed_ok (decoder, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
      popped = mitogen_frame_decoder_pop (decoder);
      assert_message_equal (popped, message);
      g_ptr_array_add (messages, g_steal_pointer (&message));
    }
  finish_ok (decoder);

  g_clear_object (&decoder);
  decoder = mitogen_frame_decoder_new (0);
  feed_ok (decoder, stream->data, stream->len);
  g_assert_cmpuint (mitogen_frame_decoder_get_n_pending (decoder), ==, G_N_ELEMENTS (frames));
  pop_and_check (decoder, messages, &next);
  g_assert_cmpuint (next, ==, G_N_ELEMENTS (frames));
  finish_ok (decoder);
}

static void
test_from_frame (void)
{
  static const gsize sizes[] = { 0, 1, 25, 26, 27, 4096 };
  g_autoptr(GError) error = NULL;

  g_test_summary ("mitogen_message_new_from_frame() round-trips encoded "
                  "messages and refuses short, long and bad-magic frames");

  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr(MitogenMessage) message = make_message (i, sizes[i]);
      g_autoptr(GBytes) frame = mitogen_message_encode (message);
      g_autoptr(MitogenMessage) parsed = NULL;
      const guint8 *data = g_bytes_get_data (frame, NULL);
      gsize len = g_bytes_get_size (frame);
      g_autofree guint8 *longer = NULL;
      g_autofree guint8 *bad = NULL;
      MitogenMessage *none;

      g_assert_cmpuint (len, ==, MITOGEN_MESSAGE_HEADER_SIZE + sizes[i]);
      parsed = mitogen_message_new_from_frame (data, len, &error);
      g_assert_no_error (error);
      assert_message_equal (parsed, message);

      /* One byte short. */
      none = mitogen_message_new_from_frame (data, len - 1, &error);
      g_assert_null (none);
      g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED);
      g_clear_error (&error);

      /* One byte of trailing garbage. */
      longer = g_malloc (len + 1);
      memcpy (longer, data, len);
      longer[len] = 0;
      none = mitogen_message_new_from_frame (longer, len + 1, &error);
      g_assert_null (none);
      g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED);
      g_clear_error (&error);

      bad = g_memdup2 (data, len);
      bad[1] = 'J';
      none = mitogen_message_new_from_frame (bad, len, &error);
      g_assert_null (none);
      g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_BAD_MAGIC);
      g_clear_error (&error);
    }

  g_assert_null (mitogen_message_new_from_frame (NULL, 0, &error));
  g_assert_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/frame-decoder/split-every-byte", test_split_every_byte);
  g_test_add_func ("/frame-decoder/byte-at-a-time", test_byte_at_a_time);
  g_test_add_func ("/frame-decoder/random-chunks", test_random_chunks);
  g_test_add_func ("/frame-decoder/one-chunk", test_one_chunk);
  g_test_add_func ("/frame-decoder/bad-magic", test_bad_magic);
  g_test_add_func ("/frame-decoder/too-large", test_too_large);
  g_test_add_func ("/frame-decoder/huge-announced", test_huge_announced);
  g_test_add_func ("/frame-decoder/buffer-growth", test_buffer_growth);
  g_test_add_func ("/frame-decoder/small-initial-capacity", test_small_initial_capacity);
  g_test_add_func ("/frame-decoder/truncated", test_truncated);
  g_test_add_func ("/frame-decoder/feed-after-finish", test_feed_after_finish);
  g_test_add_func ("/frame-decoder/default-max", test_default_max);
  g_test_add_func ("/frame-decoder/reference-frames", test_reference_frames);
  g_test_add_func ("/frame-decoder/from-frame", test_from_frame);

  return g_test_run ();
}
