/* mitogen-message.c: one message of the Mitogen wire protocol
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <string.h>

#include "mitogen-error.h"
#include "mitogen-frame-private.h"
#include "mitogen-message-private.h"
#include "mitogen-pickle.h"

/**
 * MitogenMessage:
 *
 * One message of the Mitogen 0.3 wire protocol: a header naming the
 * destination context and handle, the sender and the handle a reply should
 * go to, and a payload of bytes.
 *
 * The payload is usually a pickle, made from a [struct@GLib.Variant] by
 * [ctor@Mitogen.Message.new_pickled] and read back by
 * [method@Mitogen.Message.unpickle]. A *dead* message
 * ([ctor@Mitogen.Message.new_dead]) has `reply_to` set to
 * %MITOGEN_HANDLE_IS_DEAD and carries the reason a channel ended as plain
 * UTF-8 text.
 *
 * Thread safety: a message is not locked. It belongs to the thread that
 * made it until it is sent or queued; after that it must not be changed,
 * and may then be read from any thread.
 *
 * Since: 1.0
 */

enum {
  PROP_0,
  PROP_DST_ID,
  PROP_SRC_ID,
  PROP_AUTH_ID,
  PROP_HANDLE,
  PROP_REPLY_TO,
  PROP_DATA,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (MitogenMessage, mitogen_message, G_TYPE_OBJECT)

static void
mitogen_message_finalize (GObject *object)
{
  MitogenMessage *self = MITOGEN_MESSAGE (object);

  g_clear_pointer (&self->data, g_bytes_unref);
  g_clear_pointer (&self->pieces, g_ptr_array_unref);

  G_OBJECT_CLASS (mitogen_message_parent_class)->finalize (object);
}

static void
mitogen_message_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  MitogenMessage *self = MITOGEN_MESSAGE (object);

  switch (prop_id)
    {
    case PROP_DST_ID:
      g_value_set_uint (value, self->dst_id);
      break;
    case PROP_SRC_ID:
      g_value_set_uint (value, self->src_id);
      break;
    case PROP_AUTH_ID:
      g_value_set_uint (value, self->auth_id);
      break;
    case PROP_HANDLE:
      g_value_set_uint (value, self->handle);
      break;
    case PROP_REPLY_TO:
      g_value_set_uint (value, self->reply_to);
      break;
    case PROP_DATA:
      g_value_set_boxed (value, _mitogen_message_get_data (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_message_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  MitogenMessage *self = MITOGEN_MESSAGE (object);

  switch (prop_id)
    {
    case PROP_DST_ID:
      mitogen_message_set_dst_id (self, g_value_get_uint (value));
      break;
    case PROP_SRC_ID:
      mitogen_message_set_src_id (self, g_value_get_uint (value));
      break;
    case PROP_AUTH_ID:
      mitogen_message_set_auth_id (self, g_value_get_uint (value));
      break;
    case PROP_HANDLE:
      mitogen_message_set_handle (self, g_value_get_uint (value));
      break;
    case PROP_REPLY_TO:
      mitogen_message_set_reply_to (self, g_value_get_uint (value));
      break;
    case PROP_DATA:
      {
        GBytes *data = g_value_get_boxed (value);

        g_clear_pointer (&self->data, g_bytes_unref);
        self->data = data ? g_bytes_ref (data) : g_bytes_new_static ("", 0);
      }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_message_class_init (MitogenMessageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mitogen_message_finalize;
  object_class->get_property = mitogen_message_get_property;
  object_class->set_property = mitogen_message_set_property;

  /**
   * MitogenMessage:dst-id:
   *
   * The id of the context the message is addressed to.
   *
   * Since: 1.0
   */
  properties[PROP_DST_ID] =
    g_param_spec_uint ("dst-id", NULL, NULL, 0, G_MAXUINT32, 0,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenMessage:src-id:
   *
   * The id of the context the message came from.
   *
   * Since: 1.0
   */
  properties[PROP_SRC_ID] =
    g_param_spec_uint ("src-id", NULL, NULL, 0, G_MAXUINT32, 0,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenMessage:auth-id:
   *
   * The id of the context whose authority the message carries; normally
   * the same as [property@Mitogen.Message:src-id].
   *
   * Since: 1.0
   */
  properties[PROP_AUTH_ID] =
    g_param_spec_uint ("auth-id", NULL, NULL, 0, G_MAXUINT32, 0,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenMessage:handle:
   *
   * The handle (receiver) in the destination context.
   *
   * Since: 1.0
   */
  properties[PROP_HANDLE] =
    g_param_spec_uint ("handle", NULL, NULL, 0, G_MAXUINT32, 0,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenMessage:reply-to:
   *
   * The handle in the source context a reply goes to; 0 when no reply is
   * wanted, %MITOGEN_HANDLE_IS_DEAD for a dead message.
   *
   * Since: 1.0
   */
  properties[PROP_REPLY_TO] =
    g_param_spec_uint ("reply-to", NULL, NULL, 0, G_MAXUINT32, 0,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenMessage:data:
   *
   * The payload.
   *
   * Since: 1.0
   */
  properties[PROP_DATA] =
    g_param_spec_boxed ("data", NULL, NULL, G_TYPE_BYTES,
                        G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mitogen_message_init (MitogenMessage *self)
{
}

MitogenMessage *
_mitogen_message_new_full (guint32  dst_id,
                           guint32  src_id,
                           guint32  auth_id,
                           guint32  handle,
                           guint32  reply_to,
                           GBytes  *data)
{
  MitogenMessage *self = g_object_new (MITOGEN_TYPE_MESSAGE, NULL);

  self->dst_id = dst_id;
  self->src_id = src_id;
  self->auth_id = auth_id;
  self->handle = handle;
  self->reply_to = reply_to;
  g_clear_pointer (&self->data, g_bytes_unref);
  self->data = data ? g_bytes_ref (data) : g_bytes_new_static ("", 0);

  return self;
}

void
_mitogen_message_set_pieces (MitogenMessage *self,
                             GPtrArray      *pieces,
                             gsize           size)
{
  g_clear_pointer (&self->data, g_bytes_unref);
  g_clear_pointer (&self->pieces, g_ptr_array_unref);
  self->pieces = g_ptr_array_ref (pieces);
  self->pieces_size = size;
}

gsize
_mitogen_message_get_size (MitogenMessage *self)
{
  return self->pieces != NULL ? self->pieces_size : g_bytes_get_size (self->data);
}

GBytes *
_mitogen_message_get_data (MitogenMessage *self)
{
  GBytes *data = g_atomic_pointer_get (&self->data);

  if (G_LIKELY (data != NULL))
    return data;

  /* Two threads may join at once; one result is kept. */
  data = _mitogen_pickle_join_pieces (self->pieces);
  if (!g_atomic_pointer_compare_and_exchange (&self->data, NULL, data))
    {
      g_bytes_unref (data);
      data = g_atomic_pointer_get (&self->data);
    }

  return data;
}

/**
 * mitogen_message_new:
 * @handle: the handle in the destination context
 * @data: (nullable): the payload, or %NULL for none
 *
 * Creates a message with the given payload. The other header fields are 0;
 * a router fills in the destination and source when it sends the message.
 *
 * Returns: (transfer full): a new message
 *
 * Since: 1.0
 */
MitogenMessage *
mitogen_message_new (guint32  handle,
                     GBytes  *data)
{
  return _mitogen_message_new_full (0, 0, 0, handle, 0, data);
}

/* Finishes @writer's pickle (it is cleared) and takes it as the payload:
 * in one buffer, or in the pieces a sharing writer made. */
static MitogenMessage *
new_from_writer (guint32              handle,
                 MitogenPickleWriter *writer)
{
  MitogenFrame frame;
  MitogenMessage *self;

  _mitogen_frame_init_from_writer (&frame, 0, 0, 0, handle, 0, writer);
  self = g_object_ref (_mitogen_frame_get_message (&frame));
  _mitogen_frame_clear (&frame);

  return self;
}

/**
 * mitogen_message_new_pickled:
 * @handle: the handle in the destination context
 * @value: the value to pickle; a floating reference is sunk
 * @error: return location for a #GError
 *
 * Creates a message whose payload is @value pickled as
 * [func@Mitogen.pickle_encode] does with default flags.
 *
 * Returns: (transfer full): a new message, or %NULL if @value cannot be
 *   pickled
 *
 * Since: 1.0
 */
MitogenMessage *
mitogen_message_new_pickled (guint32    handle,
                             GVariant  *value,
                             GError   **error)
{
  MitogenPickleWriter writer;

  g_return_val_if_fail (value != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* As mitogen_pickle_encode(), but big bytes are not copied: the frame is
   * written from the pieces. */
  _mitogen_pickle_writer_init (&writer, MITOGEN_PICKLE_FLAGS_NONE, 0);
  writer.share_big_bytes = TRUE;
  if (!_mitogen_pickle_writer_value (&writer, value, error))
    {
      _mitogen_pickle_writer_clear (&writer);
      return NULL;
    }

  return new_from_writer (handle, &writer);
}

/**
 * mitogen_message_new_dead:
 * @handle: the handle of the receiver being told its channel ended
 * @reason: (nullable): why the channel ended, in UTF-8
 *
 * Creates a dead message: `reply_to` is %MITOGEN_HANDLE_IS_DEAD and the
 * payload is @reason as plain text (not a pickle), as Mitogen 0.3 sends it.
 *
 * Returns: (transfer full): a new dead message
 *
 * Since: 1.0
 */
MitogenMessage *
mitogen_message_new_dead (guint32     handle,
                          const char *reason)
{
  g_autoptr(GBytes) data = NULL;

  if (reason == NULL)
    reason = "";
  data = g_bytes_new (reason, strlen (reason));

  return _mitogen_message_new_full (0, 0, 0, handle, MITOGEN_HANDLE_IS_DEAD, data);
}

static inline guint16
read_be16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static inline guint32
read_be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static inline void
write_be32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

/**
 * mitogen_message_new_from_frame:
 * @frame: (array length=frame_len): exactly one frame: header and payload
 * @frame_len: the length of @frame
 * @error: return location for a #GError
 *
 * Parses one complete frame. Use [class@Mitogen.FrameDecoder] to cut frames
 * out of a byte stream.
 *
 * Returns: (transfer full): the message, or %NULL with
 *   %MITOGEN_CODEC_ERROR_BAD_MAGIC or %MITOGEN_CODEC_ERROR_TRUNCATED when
 *   @frame is not exactly one frame
 *
 * Since: 1.0
 */
MitogenMessage *
mitogen_message_new_from_frame (const guint8  *frame,
                                gsize          frame_len,
                                GError       **error)
{
  g_autoptr(GBytes) data = NULL;
  guint32 length;

  g_return_val_if_fail (frame != NULL || frame_len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (frame_len < MITOGEN_MESSAGE_HEADER_SIZE)
    {
      g_set_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED,
                   "Frame of %" G_GSIZE_FORMAT " bytes is shorter than a header",
                   frame_len);
      return NULL;
    }
  if (read_be16 (frame) != MITOGEN_MESSAGE_HEADER_MAGIC)
    {
      g_set_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_BAD_MAGIC,
                   "Frame signature is 0x%04x, not 0x%04x",
                   read_be16 (frame), MITOGEN_MESSAGE_HEADER_MAGIC);
      return NULL;
    }
  length = read_be32 (frame + 22);
  if ((guint64) length != (guint64) frame_len - MITOGEN_MESSAGE_HEADER_SIZE)
    {
      g_set_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TRUNCATED,
                   "Frame header announces %u payload bytes, but %" G_GSIZE_FORMAT " follow",
                   length, frame_len - MITOGEN_MESSAGE_HEADER_SIZE);
      return NULL;
    }

  data = g_bytes_new (frame + MITOGEN_MESSAGE_HEADER_SIZE, length);
  return _mitogen_message_new_full (read_be32 (frame + 2),
                                    read_be32 (frame + 6),
                                    read_be32 (frame + 10),
                                    read_be32 (frame + 14),
                                    read_be32 (frame + 18),
                                    data);
}

#define DEFINE_FIELD_ACCESSORS(field, PROP)                             \
  guint32                                                               \
  mitogen_message_get_##field (MitogenMessage *self)                    \
  {                                                                     \
    g_return_val_if_fail (MITOGEN_IS_MESSAGE (self), 0);                \
    return self->field;                                                 \
  }                                                                     \
  void                                                                  \
  mitogen_message_set_##field (MitogenMessage *self,                    \
                               guint32         field)                   \
  {                                                                     \
    g_return_if_fail (MITOGEN_IS_MESSAGE (self));                       \
    if (self->field == field)                                           \
      return;                                                           \
    self->field = field;                                                \
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP]);       \
  }

/**
 * mitogen_message_get_dst_id:
 * @self: a message
 *
 * Gets the destination context id.
 *
 * Returns: the destination context id
 *
 * Since: 1.0
 */
/**
 * mitogen_message_set_dst_id:
 * @self: a message
 * @dst_id: the destination context id
 *
 * Sets the destination context id.
 *
 * Since: 1.0
 */
DEFINE_FIELD_ACCESSORS (dst_id, PROP_DST_ID)

/**
 * mitogen_message_get_src_id:
 * @self: a message
 *
 * Gets the source context id.
 *
 * Returns: the source context id
 *
 * Since: 1.0
 */
/**
 * mitogen_message_set_src_id:
 * @self: a message
 * @src_id: the source context id
 *
 * Sets the source context id.
 *
 * Since: 1.0
 */
DEFINE_FIELD_ACCESSORS (src_id, PROP_SRC_ID)

/**
 * mitogen_message_get_auth_id:
 * @self: a message
 *
 * Gets the id of the context whose authority the message carries.
 *
 * Returns: the id of the context whose authority the message carries
 *
 * Since: 1.0
 */
/**
 * mitogen_message_set_auth_id:
 * @self: a message
 * @auth_id: the id of the context whose authority the message carries
 *
 * Sets the authority context id.
 *
 * Since: 1.0
 */
DEFINE_FIELD_ACCESSORS (auth_id, PROP_AUTH_ID)

/**
 * mitogen_message_get_handle:
 * @self: a message
 *
 * Gets the handle in the destination context.
 *
 * Returns: the handle in the destination context
 *
 * Since: 1.0
 */
/**
 * mitogen_message_set_handle:
 * @self: a message
 * @handle: the handle in the destination context
 *
 * Sets the destination handle.
 *
 * Since: 1.0
 */
DEFINE_FIELD_ACCESSORS (handle, PROP_HANDLE)

/**
 * mitogen_message_get_reply_to:
 * @self: a message
 *
 * Gets the handle a reply goes to.
 *
 * Returns: the handle a reply goes to, 0 for none, or
 *   %MITOGEN_HANDLE_IS_DEAD for a dead message
 *
 * Since: 1.0
 */
/**
 * mitogen_message_set_reply_to:
 * @self: a message
 * @reply_to: the handle a reply goes to, or 0
 *
 * Sets the reply handle.
 *
 * Since: 1.0
 */
DEFINE_FIELD_ACCESSORS (reply_to, PROP_REPLY_TO)

/**
 * mitogen_message_get_data:
 * @self: a message
 *
 * Gets the payload.
 *
 * Returns: (transfer none): the payload
 *
 * Since: 1.0
 */
GBytes *
mitogen_message_get_data (MitogenMessage *self)
{
  g_return_val_if_fail (MITOGEN_IS_MESSAGE (self), NULL);

  return _mitogen_message_get_data (self);
}

/**
 * mitogen_message_is_dead:
 * @self: a message
 *
 * Tells whether the message is a dead message.
 *
 * Returns: whether @self is a dead message (its channel ended)
 *
 * Since: 1.0
 */
gboolean
mitogen_message_is_dead (MitogenMessage *self)
{
  g_return_val_if_fail (MITOGEN_IS_MESSAGE (self), FALSE);

  return self->reply_to == MITOGEN_HANDLE_IS_DEAD;
}

/**
 * mitogen_message_dup_dead_reason:
 * @self: a dead message
 *
 * Returns the reason a dead message carries, made valid UTF-8. An empty
 * reason becomes "Channel closed by remote end.", as peers report it.
 *
 * Returns: (transfer full) (nullable): the reason, or %NULL if @self is not
 *   dead
 *
 * Since: 1.0
 */
char *
mitogen_message_dup_dead_reason (MitogenMessage *self)
{
  g_return_val_if_fail (MITOGEN_IS_MESSAGE (self), NULL);

  if (self->reply_to != MITOGEN_HANDLE_IS_DEAD)
    return NULL;

  return _mitogen_dead_reason (_mitogen_message_get_data (self));
}

char *
_mitogen_dead_reason (GBytes *data)
{
  gsize len;
  const char *text = g_bytes_get_data (data, &len);

  if (len == 0)
    return g_strdup ("Channel closed by remote end.");

  return g_utf8_make_valid (text, len);
}

/**
 * mitogen_message_unpickle:
 * @self: a message
 * @error: return location for a #GError
 *
 * Decodes the payload as [func@Mitogen.pickle_decode] does.
 *
 * A dead message gives a %MITOGEN_ERROR_CHANNEL error carrying its reason,
 * and a payload that is a `CallError` gives a %MITOGEN_ERROR_CALL error
 * carrying the remote exception text and traceback.
 *
 * Returns: (transfer full): the value, or %NULL with @error set
 *
 * Since: 1.0
 */
GVariant *
mitogen_message_unpickle (MitogenMessage  *self,
                          GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_MESSAGE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (self->reply_to == MITOGEN_HANDLE_IS_DEAD)
    {
      g_autofree char *reason = mitogen_message_dup_dead_reason (self);

      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, reason);
      return NULL;
    }

  return _mitogen_unpickle_result (_mitogen_message_get_data (self), error);
}

GVariant *
_mitogen_unpickle_result (GBytes  *data,
                          GError **error)
{
  g_autoptr(GVariant) value = mitogen_pickle_decode (data, error);

  if (value == NULL)
    return NULL;

  if (g_variant_is_of_type (value, G_VARIANT_TYPE ("(sv)")))
    {
      const char *tag;
      g_autoptr(GVariant) inner = NULL;

      g_variant_get (value, "(&sv)", &tag, &inner);
      if (g_str_equal (tag, MITOGEN_PICKLE_TAG_CALL_ERROR) &&
          g_variant_is_of_type (inner, G_VARIANT_TYPE_STRING))
        {
          g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL,
                               g_variant_get_string (inner, NULL));
          return NULL;
        }
    }

  return g_steal_pointer (&value);
}

/**
 * mitogen_message_pack_header:
 * @self: a message
 * @header: (out caller-allocates) (array fixed-size=26): where to write the
 *   %MITOGEN_MESSAGE_HEADER_SIZE bytes of the frame header
 *
 * Writes the frame header of @self. A writer sends the header and then the
 * payload from [method@Mitogen.Message.get_data], without copying it.
 *
 * Since: 1.0
 */
void
mitogen_message_pack_header (MitogenMessage *self,
                             guint8         *header)
{
  g_return_if_fail (MITOGEN_IS_MESSAGE (self));
  g_return_if_fail (header != NULL);
  g_return_if_fail (_mitogen_message_get_size (self) <= G_MAXUINT32);

  _mitogen_pack_header (header, self->dst_id, self->src_id, self->auth_id, self->handle,
                        self->reply_to, _mitogen_message_get_size (self));
}

void
_mitogen_pack_header (guint8  *header,
                      guint32  dst_id,
                      guint32  src_id,
                      guint32  auth_id,
                      guint32  handle,
                      guint32  reply_to,
                      gsize    size)
{
  g_assert (size <= G_MAXUINT32);

  header[0] = MITOGEN_MESSAGE_HEADER_MAGIC >> 8;
  header[1] = MITOGEN_MESSAGE_HEADER_MAGIC & 0xff;
  write_be32 (header + 2, dst_id);
  write_be32 (header + 6, src_id);
  write_be32 (header + 10, auth_id);
  write_be32 (header + 14, handle);
  write_be32 (header + 18, reply_to);
  write_be32 (header + 22, (guint32) size);
}

/**
 * mitogen_message_encode:
 * @self: a message
 *
 * Encodes @self as one frame: header and payload in one buffer.
 *
 * Returns: (transfer full): the frame
 *
 * Since: 1.0
 */
GBytes *
mitogen_message_encode (MitogenMessage *self)
{
  gsize len;
  const guint8 *payload;
  guint8 *frame;

  g_return_val_if_fail (MITOGEN_IS_MESSAGE (self), NULL);

  payload = g_bytes_get_data (_mitogen_message_get_data (self), &len);
  frame = g_malloc (MITOGEN_MESSAGE_HEADER_SIZE + len);
  mitogen_message_pack_header (self, frame);
  if (len > 0)
    memcpy (frame + MITOGEN_MESSAGE_HEADER_SIZE, payload, len);

  return g_bytes_new_take (frame, MITOGEN_MESSAGE_HEADER_SIZE + len);
}
