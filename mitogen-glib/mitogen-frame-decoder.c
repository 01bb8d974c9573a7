/* mitogen-frame-decoder.c: incremental decoder of framed messages
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <string.h>

#include "mitogen-error.h"
#include "mitogen-frame-decoder-private.h"
#include "mitogen-message-private.h"

/**
 * MitogenFrameDecoder:
 *
 * Cuts the byte stream of one Mitogen link into messages.
 *
 * Bytes read from the stream are handed to
 * [method@Mitogen.FrameDecoder.feed] in chunks of any size: a frame may be
 * split at any byte, and one chunk may hold many frames. Each complete frame
 * becomes a [class@Mitogen.Message] queued inside the decoder; take them out
 * with [method@Mitogen.FrameDecoder.pop]. At end of stream, call
 * [method@Mitogen.FrameDecoder.finish] to learn whether the stream stopped
 * between frames or inside one.
 *
 * As a Mitogen 0.3 peer does, the decoder gives up on the whole stream at the
 * first frame whose header has the wrong magic
 * (%MITOGEN_CODEC_ERROR_BAD_MAGIC) or announces a payload larger than
 * [property@Mitogen.FrameDecoder:max-message-size]
 * (%MITOGEN_CODEC_ERROR_TOO_LARGE): there is no way to find the next frame
 * boundary, so the stream must be disconnected. Both are reported as soon as
 * the 26 header bytes are in, without waiting for the payload. Messages
 * decoded before the bad frame stay queued.
 *
 * Memory follows the bytes that actually arrived, not the length a header
 * announces: a peer that announces a 128 MiB payload and sends 10 bytes
 * costs a small buffer, not 128 MiB.
 *
 * Thread safety: a decoder is not locked. It belongs to the reader of one
 * stream (normally the broker thread), which is the only one to call it.
 *
 * Since: 1.0
 */

/* The default first buffer for a payload that arrives in pieces; it then
 * doubles as bytes come in, so a lying header cannot make us allocate far
 * ahead of the data. */
#define DEFAULT_INITIAL_CAPACITY (64 * 1024)

struct _MitogenFrameDecoder
{
  GObject parent_instance;

  guint64 max_message_size;  /* read-only after construction, never 0 */

  /* Decoded, not yet popped; a MitogenMessage is made only for
   * mitogen_frame_decoder_pop(), not for the stream's own reads. */
  GQueue pending;            /* (element-type MitogenFrame) (owned) */

  /* Bytes consumed from the stream so far, for error messages. */
  guint64 offset;

  /* The header being collected, or the header of the frame whose payload
   * is being collected (then header_len == MITOGEN_MESSAGE_HEADER_SIZE). */
  guint8 header[MITOGEN_MESSAGE_HEADER_SIZE];
  guint header_len;

  gboolean in_payload;
  guint32 length;            /* payload length of the current frame */
  guint8 *payload;           /* (owned) (nullable) */
  gsize payload_len;         /* bytes of the payload received */
  gsize payload_cap;         /* bytes allocated at @payload */
  gsize initial_cap;         /* first allocation for a split payload */

  GError *failure;           /* (owned) (nullable): set once the stream is dead */
  guint eof : 1;             /* finish() was called */
};

enum {
  PROP_0,
  PROP_MAX_MESSAGE_SIZE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (MitogenFrameDecoder, mitogen_frame_decoder, G_TYPE_OBJECT)

static void
frame_free (gpointer data)
{
  _mitogen_frame_clear (data);
  g_free (data);
}

static void
mitogen_frame_decoder_finalize (GObject *object)
{
  MitogenFrameDecoder *self = MITOGEN_FRAME_DECODER (object);

  g_queue_clear_full (&self->pending, frame_free);
  g_clear_pointer (&self->payload, g_free);
  g_clear_error (&self->failure);

  G_OBJECT_CLASS (mitogen_frame_decoder_parent_class)->finalize (object);
}

static void
mitogen_frame_decoder_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  MitogenFrameDecoder *self = MITOGEN_FRAME_DECODER (object);

  switch (prop_id)
    {
    case PROP_MAX_MESSAGE_SIZE:
      g_value_set_uint64 (value, self->max_message_size);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_frame_decoder_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  MitogenFrameDecoder *self = MITOGEN_FRAME_DECODER (object);

  switch (prop_id)
    {
    case PROP_MAX_MESSAGE_SIZE:
      self->max_message_size = g_value_get_uint64 (value);
      if (self->max_message_size == 0)
        self->max_message_size = MITOGEN_MESSAGE_DEFAULT_MAX_SIZE;
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_frame_decoder_class_init (MitogenFrameDecoderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mitogen_frame_decoder_finalize;
  object_class->get_property = mitogen_frame_decoder_get_property;
  object_class->set_property = mitogen_frame_decoder_set_property;

  /**
   * MitogenFrameDecoder:max-message-size:
   *
   * The largest payload, in bytes, a frame may announce; a larger one kills
   * the stream with %MITOGEN_CODEC_ERROR_TOO_LARGE.
   *
   * Setting 0 selects %MITOGEN_MESSAGE_DEFAULT_MAX_SIZE, and reading the
   * property then gives that value.
   *
   * Since: 1.0
   */
  properties[PROP_MAX_MESSAGE_SIZE] =
    g_param_spec_uint64 ("max-message-size", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mitogen_frame_decoder_init (MitogenFrameDecoder *self)
{
  self->max_message_size = MITOGEN_MESSAGE_DEFAULT_MAX_SIZE;
  self->initial_cap = DEFAULT_INITIAL_CAPACITY;
  g_queue_init (&self->pending);
}

/**
 * mitogen_frame_decoder_new:
 * @max_message_size: the largest payload a frame may announce, in bytes, or
 *   0 for %MITOGEN_MESSAGE_DEFAULT_MAX_SIZE
 *
 * Creates a decoder for one stream.
 *
 * Returns: (transfer full): a new decoder
 *
 * Since: 1.0
 */
MitogenFrameDecoder *
mitogen_frame_decoder_new (guint64 max_message_size)
{
  return g_object_new (MITOGEN_TYPE_FRAME_DECODER,
                       "max-message-size", max_message_size,
                       NULL);
}

/**
 * mitogen_frame_decoder_get_max_message_size:
 * @self: a decoder
 *
 * Gets the limit on announced payload sizes.
 *
 * Returns: the largest payload a frame may announce, in bytes; never 0
 *
 * Since: 1.0
 */
guint64
mitogen_frame_decoder_get_max_message_size (MitogenFrameDecoder *self)
{
  g_return_val_if_fail (MITOGEN_IS_FRAME_DECODER (self), 0);

  return self->max_message_size;
}

static inline guint32
read_be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* Records why the stream died and reports it. The payload buffer goes at
 * once: a dead stream should not keep up to max-message-size alive. */
static void
fail (MitogenFrameDecoder  *self,
      GError               *failure,
      GError              **error)
{
  g_assert (self->failure == NULL);

  self->failure = failure;
  g_clear_pointer (&self->payload, g_free);
  self->payload_len = 0;
  self->payload_cap = 0;

  if (error != NULL)
    *error = g_error_copy (failure);
}

/* Checks a complete header; on success sets self->length. */
static gboolean
check_header (MitogenFrameDecoder  *self,
              const guint8         *header,
              guint64               frame_offset,
              GError              **error)
{
  guint32 length;

  if (header[0] != (MITOGEN_MESSAGE_HEADER_MAGIC >> 8) ||
      header[1] != (MITOGEN_MESSAGE_HEADER_MAGIC & 0xff))
    {
      g_autofree char *hex = g_malloc (2 * MITOGEN_MESSAGE_HEADER_SIZE + 1);

      for (guint i = 0; i < MITOGEN_MESSAGE_HEADER_SIZE; i++)
        g_snprintf (hex + 2 * i, 3, "%02x", header[i]);

      fail (self,
            g_error_new (MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_BAD_MAGIC,
                         "Corruption detected: frame signature at stream offset %"
                         G_GUINT64_FORMAT " is 0x%02x 0x%02x, not 0x%02x 0x%02x (\"MI\"); "
                         "header bytes: %s",
                         frame_offset, header[0], header[1],
                         MITOGEN_MESSAGE_HEADER_MAGIC >> 8,
                         MITOGEN_MESSAGE_HEADER_MAGIC & 0xff,
                         hex),
            error);
      return FALSE;
    }

  length = read_be32 (header + 22);
  if ((guint64) length > self->max_message_size)
    {
      fail (self,
            g_error_new (MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TOO_LARGE,
                         "Maximum message size exceeded: frame at stream offset %"
                         G_GUINT64_FORMAT " announces %u payload bytes, the maximum is %"
                         G_GUINT64_FORMAT,
                         frame_offset, length, self->max_message_size),
            error);
      return FALSE;
    }

  self->length = length;
  return TRUE;
}

/* Queues the message of @header with @payload (owned). */
/* Never a NULL buffer, even for an empty payload: consumers may treat
 * the data as a string. */
static GBytes *
payload_bytes (const guint8 *data,
               gsize         length)
{
  return length > 0 ? g_bytes_new (data, length) : g_bytes_new_static ("", 0);
}

static void
emit (MitogenFrameDecoder *self,
      const guint8        *header,
      GBytes              *payload)
{
  MitogenFrame *frame = g_new (MitogenFrame, 1);

  _mitogen_frame_init (frame,
                       read_be32 (header + 2),
                       read_be32 (header + 6),
                       read_be32 (header + 10),
                       read_be32 (header + 14),
                       read_be32 (header + 18),
                       payload);
  g_queue_push_tail (&self->pending, frame);
}

/* Makes room for @needed payload bytes. The buffer doubles (starting at
 * initial_cap) while less than half the payload is in; from then on it is
 * sized to the whole payload in one step. So memory never runs far ahead
 * of the bytes received, each byte is moved by realloc less than once on
 * average, and the finished buffer is exactly @length long, ready to be
 * handed to a GBytes without another copy. */
static void
reserve_payload (MitogenFrameDecoder *self,
                 gsize                needed)
{
  gsize cap;

  if (needed <= self->payload_cap)
    return;

  if (self->length - needed <= needed)
    cap = self->length;
  else
    {
      cap = MAX (self->payload_cap * 2, self->initial_cap);
      cap = MAX (cap, needed);
      cap = MIN (cap, self->length);
    }

  self->payload = g_realloc (self->payload, cap);
  self->payload_cap = cap;
}

/**
 * mitogen_frame_decoder_feed:
 * @self: a decoder
 * @data: (array length=len) (element-type guint8): bytes read from the
 *   stream
 * @len: the length of @data
 * @error: return location for a #GError
 *
 * Adds bytes read from the stream. Every frame that becomes complete is
 * queued as a message for [method@Mitogen.FrameDecoder.pop]; a partial frame
 * at the end is kept until more bytes come.
 *
 * On %MITOGEN_CODEC_ERROR_BAD_MAGIC or %MITOGEN_CODEC_ERROR_TOO_LARGE the
 * stream is dead: the messages of the frames before the bad one are still
 * queued, the bytes after it are ignored, and every later call fails again
 * with the same error code.
 *
 * It is a programmer error to call this after
 * [method@Mitogen.FrameDecoder.finish].
 *
 * Returns: %TRUE if @data was consumed; %FALSE with @error set if the stream
 *   is corrupt
 *
 * Since: 1.0
 */
gboolean
mitogen_frame_decoder_feed (MitogenFrameDecoder  *self,
                            const guint8         *data,
                            gsize                 len,
                            GError              **error)
{
  g_return_val_if_fail (MITOGEN_IS_FRAME_DECODER (self), FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_return_val_if_fail (!self->eof, FALSE);

  if (self->failure != NULL)
    {
      g_set_error (error, self->failure->domain, self->failure->code,
                   "Stream already failed: %s", self->failure->message);
      return FALSE;
    }

  while (len > 0)
    {
      if (!self->in_payload)
        {
          const guint8 *header;

          if (self->header_len == 0 && len >= MITOGEN_MESSAGE_HEADER_SIZE)
            {
              /* Common case: the whole header is in this chunk; read it
               * where it is. */
              header = data;
              data += MITOGEN_MESSAGE_HEADER_SIZE;
              len -= MITOGEN_MESSAGE_HEADER_SIZE;
              self->offset += MITOGEN_MESSAGE_HEADER_SIZE;
            }
          else
            {
              gsize n = MIN (MITOGEN_MESSAGE_HEADER_SIZE - self->header_len, len);

              memcpy (self->header + self->header_len, data, n);
              self->header_len += n;
              self->offset += n;
              data += n;
              len -= n;
              if (self->header_len < MITOGEN_MESSAGE_HEADER_SIZE)
                break;
              header = self->header;
            }

          if (!check_header (self, header, self->offset - MITOGEN_MESSAGE_HEADER_SIZE, error))
            return FALSE;

          if (self->length <= len)
            {
              /* The whole payload is here too: copy it once, straight into
               * the message's GBytes. */
              emit (self, header, payload_bytes (data, self->length));
              data += self->length;
              len -= self->length;
              self->offset += self->length;
              self->header_len = 0;
              continue;
            }

          if (header != self->header)
            memcpy (self->header, header, MITOGEN_MESSAGE_HEADER_SIZE);
          self->header_len = MITOGEN_MESSAGE_HEADER_SIZE;
          self->in_payload = TRUE;
          self->payload_len = 0;
        }
      else
        {
          gsize n;

          if (self->payload_len == 0 && len >= self->length)
            {
              /* The header came in an earlier chunk, the whole payload in
               * this one: still a single copy. */
              emit (self, self->header, payload_bytes (data, self->length));
              n = self->length;
            }
          else
            {
              n = MIN (len, self->length - self->payload_len);
              reserve_payload (self, self->payload_len + n);
              memcpy (self->payload + self->payload_len, data, n);
              self->payload_len += n;
              if (self->payload_len < self->length)
                {
                  self->offset += n;
                  break;
                }

              /* reserve_payload() sized the buffer to the payload exactly. */
              g_assert (self->payload_cap == self->length);
              emit (self, self->header,
                    g_bytes_new_take (g_steal_pointer (&self->payload), self->length));
            }

          data += n;
          len -= n;
          self->offset += n;
          self->payload_len = 0;
          self->payload_cap = 0;
          self->in_payload = FALSE;
          self->header_len = 0;
        }
    }

  return TRUE;
}

/**
 * mitogen_frame_decoder_pop:
 * @self: a decoder
 *
 * Takes the oldest decoded message out of the queue.
 *
 * Returns: (transfer full) (nullable): the message, or %NULL if no
 *   complete frame is queued
 *
 * Since: 1.0
 */
MitogenMessage *
mitogen_frame_decoder_pop (MitogenFrameDecoder *self)
{
  MitogenFrame frame;
  MitogenMessage *message;

  g_return_val_if_fail (MITOGEN_IS_FRAME_DECODER (self), NULL);

  if (!_mitogen_frame_decoder_pop_frame (self, &frame))
    return NULL;
  message = g_object_ref (_mitogen_frame_get_message (&frame));
  _mitogen_frame_clear (&frame);
  return message;
}

gboolean
_mitogen_frame_decoder_pop_frame (MitogenFrameDecoder *self,
                                  MitogenFrame        *frame)
{
  MitogenFrame *head = g_queue_pop_head (&self->pending);

  if (head == NULL)
    return FALSE;
  *frame = *head;
  g_free (head);
  return TRUE;
}

/**
 * mitogen_frame_decoder_get_n_pending:
 * @self: a decoder
 *
 * Counts the decoded messages not yet taken with
 * [method@Mitogen.FrameDecoder.pop].
 *
 * Returns: the number of queued messages
 *
 * Since: 1.0
 */
guint
mitogen_frame_decoder_get_n_pending (MitogenFrameDecoder *self)
{
  g_return_val_if_fail (MITOGEN_IS_FRAME_DECODER (self), 0);

  return g_queue_get_length (&self->pending);
}

/**
 * mitogen_frame_decoder_finish:
 * @self: a decoder
 * @error: return location for a #GError
 *
 * Tells the decoder the stream ended. If it ended inside a frame (a partial
 * header or a partial payload), fails with %MITOGEN_CODEC_ERROR_TRUNCATED,
 * saying how many bytes were missing; the messages decoded before stay
 * queued either way. If the stream had already failed, fails again with
 * that error's code.
 *
 * No more bytes may be fed afterwards. Calling this again gives the same
 * result.
 *
 * Returns: %TRUE if the stream ended cleanly between two frames
 *
 * Since: 1.0
 */
gboolean
mitogen_frame_decoder_finish (MitogenFrameDecoder  *self,
                              GError              **error)
{
  g_return_val_if_fail (MITOGEN_IS_FRAME_DECODER (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  self->eof = TRUE;

  if (self->failure != NULL)
    {
      g_set_error (error, self->failure->domain, self->failure->code,
                   "Stream already failed: %s", self->failure->message);
      return FALSE;
    }

  if (self->in_payload)
    {
      fail (self,
            g_error_new (MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED,
                         "Stream ended inside a frame payload: %" G_GSIZE_FORMAT
                         " of %u payload bytes received, %" G_GSIZE_FORMAT " missing",
                         self->payload_len, self->length,
                         (gsize) self->length - self->payload_len),
            error);
      return FALSE;
    }

  if (self->header_len > 0)
    {
      fail (self,
            g_error_new (MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED,
                         "Stream ended inside a frame header: %u of %u header bytes "
                         "received, %u missing",
                         self->header_len, (guint) MITOGEN_MESSAGE_HEADER_SIZE,
                         (guint) MITOGEN_MESSAGE_HEADER_SIZE - self->header_len),
            error);
      return FALSE;
    }

  return TRUE;
}

gsize
_mitogen_frame_decoder_get_buffer_capacity (MitogenFrameDecoder *self)
{
  g_return_val_if_fail (MITOGEN_IS_FRAME_DECODER (self), 0);

  return self->payload_cap;
}

void
_mitogen_frame_decoder_set_initial_capacity (MitogenFrameDecoder *self,
                                             gsize                initial_capacity)
{
  g_return_if_fail (MITOGEN_IS_FRAME_DECODER (self));
  g_return_if_fail (initial_capacity > 0);

  self->initial_cap = initial_capacity;
}
