/* fuzz-frame-decoder.c: libFuzzer target for MitogenFrameDecoder
 *
 * SPDX-License-Identifier: BSD-3-Clause
 *
 * Input layout (make-seeds.py writes seeds in this form):
 *
 *   byte 0      the maximum message size: if the top bit is clear, the
 *               default; otherwise (byte & 0x7f) * 8, 0 again meaning the
 *               default, so small limits and TOO_LARGE are easy to reach
 *   byte 1      the first allocation for a split payload: 0 for the
 *               default (64 KiB), otherwise that many bytes, so inputs of
 *               a few KiB reach every step of the buffer growth
 *   bytes 2-5   chunk sizes, used in turn: 1..255 bytes, 0 = all the rest
 *   the rest    the byte stream, fed to the decoder in those chunks
 *
 * Besides "no crash, no leak", the target checks the decoder against an
 * oracle: re-encoding the popped messages must reproduce the stream byte
 * for byte up to the point where it stopped, and where and why it stopped
 * must agree with the header found there.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mitogen-glib.h>

#include "mitogen-frame-decoder-private.h"

#define PREFIX_LEN 6

#define CHECK(cond)                                                     \
  G_STMT_START {                                                        \
    if (G_UNLIKELY (!(cond)))                                           \
      {                                                                 \
        fprintf (stderr, "%s:%d: check failed: %s\n",                   \
                 __FILE__, __LINE__, #cond);                            \
        abort ();                                                       \
      }                                                                 \
  } G_STMT_END

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  /* A critical from the library is a bug the fuzzer should report. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

static guint32
read_be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* Pops every queued message and checks that its encoding is the next piece
 * of the stream. */
static void
drain (MitogenFrameDecoder *decoder,
       const guint8        *stream,
       gsize                stream_len,
       gsize               *checked)
{
  guint n_pending = mitogen_frame_decoder_get_n_pending (decoder);
  guint n_popped = 0;
  MitogenMessage *message;

  while ((message = mitogen_frame_decoder_pop (decoder)) != NULL)
    {
      GBytes *frame = mitogen_message_encode (message);
      gsize frame_len = g_bytes_get_size (frame);

      CHECK (frame_len <= stream_len - *checked);
      CHECK (memcmp (g_bytes_get_data (frame, NULL), stream + *checked, frame_len) == 0);
      *checked += frame_len;
      n_popped++;

      g_bytes_unref (frame);
      g_object_unref (message);
    }

  CHECK (n_popped == n_pending);
  CHECK (mitogen_frame_decoder_get_n_pending (decoder) == 0);
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  MitogenFrameDecoder *decoder;
  GError *error = NULL;
  const guint8 *stream;
  gsize stream_len, pos = 0, checked = 0;
  guint64 max;
  gsize initial_cap = 64 * 1024;
  guint chunk_index = 0;
  int failed_code = -1;

  if (size < PREFIX_LEN)
    return 0;

  max = (guint64) (data[0] & 0x7f) * 8;
  if (!(data[0] & 0x80) || max == 0)
    max = MITOGEN_MESSAGE_DEFAULT_MAX_SIZE;
  stream = data + PREFIX_LEN;
  stream_len = size - PREFIX_LEN;

  decoder = mitogen_frame_decoder_new (data[0] & 0x80 ? max : 0);
  CHECK (mitogen_frame_decoder_get_max_message_size (decoder) == max);
  if (data[1] != 0)
    {
      initial_cap = data[1];
      _mitogen_frame_decoder_set_initial_capacity (decoder, initial_cap);
    }

  while (pos < stream_len)
    {
      guint8 c = data[2 + chunk_index++ % 4];
      gsize n = c == 0 ? stream_len - pos : MIN ((gsize) c, stream_len - pos);

      if (!mitogen_frame_decoder_feed (decoder, stream + pos, n, &error))
        {
          CHECK (error != NULL);
          CHECK (error->domain == MITOGEN_CODEC_ERROR);
          CHECK (error->code == MITOGEN_CODEC_ERROR_BAD_MAGIC ||
                 error->code == MITOGEN_CODEC_ERROR_TOO_LARGE);
          failed_code = error->code;
          g_clear_error (&error);
          pos += n;
          break;
        }
      CHECK (error == NULL);
      pos += n;

      /* Memory follows the bytes received, not the announced length. */
      CHECK (_mitogen_frame_decoder_get_buffer_capacity (decoder) <=
             MAX (initial_cap, 2 * pos + 1));

      drain (decoder, stream, stream_len, &checked);
    }

  drain (decoder, stream, stream_len, &checked);

  if (failed_code >= 0)
    {
      const guint8 *header = stream + checked;

      /* The bad header starts right after the last good frame and lies
       * wholly within the bytes fed. */
      CHECK (checked + MITOGEN_MESSAGE_HEADER_SIZE <= pos);
      if (failed_code == MITOGEN_CODEC_ERROR_BAD_MAGIC)
        CHECK (header[0] != 'M' || header[1] != 'I');
      else
        CHECK (header[0] == 'M' && header[1] == 'I' && read_be32 (header + 22) > max);

      /* The stream stays dead. */
      CHECK (!mitogen_frame_decoder_feed (decoder, stream, stream_len, &error));
      CHECK (error != NULL && error->code == failed_code);
      g_clear_error (&error);
      CHECK (mitogen_frame_decoder_get_n_pending (decoder) == 0);
      CHECK (!mitogen_frame_decoder_finish (decoder, &error));
      CHECK (error != NULL && error->code == failed_code);
      g_clear_error (&error);
    }
  else if (mitogen_frame_decoder_finish (decoder, &error))
    {
      CHECK (checked == stream_len);
    }
  else
    {
      CHECK (error != NULL);
      CHECK (error->domain == MITOGEN_CODEC_ERROR);
      CHECK (error->code == MITOGEN_CODEC_ERROR_TRUNCATED);
      g_clear_error (&error);

      /* Truncated: what is left is a partial header, or a good header with
       * a short payload. */
      CHECK (checked < stream_len);
      if (stream_len - checked >= MITOGEN_MESSAGE_HEADER_SIZE)
        {
          const guint8 *header = stream + checked;

          CHECK (header[0] == 'M' && header[1] == 'I');
          CHECK (read_be32 (header + 22) <= max);
          CHECK (read_be32 (header + 22) > stream_len - checked - MITOGEN_MESSAGE_HEADER_SIZE);
        }
    }

  /* The single-frame parser agrees with the decoder. */
  {
    MitogenMessage *message = mitogen_message_new_from_frame (stream, stream_len, &error);

    if (message != NULL)
      {
        guint32 length = read_be32 (stream + 22);

        if (length <= max)
          CHECK (failed_code < 0 && checked == stream_len);
        g_object_unref (message);
      }
    else
      {
        CHECK (error != NULL && error->domain == MITOGEN_CODEC_ERROR);
        g_clear_error (&error);
      }
  }

  g_object_unref (decoder);
  return 0;
}
