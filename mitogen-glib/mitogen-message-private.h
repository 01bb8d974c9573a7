/* mitogen-message-private.h: message internals for siblings and tests
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-message.h"
#include "mitogen-pickle-private.h"

G_BEGIN_DECLS

/* The router reads and writes these fields directly on its hot path. A
 * message is not locked: until it is handed to a router or a latch it
 * belongs to one thread, afterwards nobody changes it. */
struct _MitogenMessage
{
  GObject parent_instance;

  guint32 dst_id;
  guint32 src_id;
  guint32 auth_id;
  guint32 handle;
  guint32 reply_to;

  /* The payload: one buffer, or (a pickle made with big bytes in it) the
   * pieces it was made in, big bytes referenced where they were, written
   * with one writev and joined into @data only if someone asks for it.
   * Read both through the functions below. */
  GBytes *data;       /* (owned) (atomic) (nullable while @pieces is set) */
  GPtrArray *pieces;  /* (owned) (nullable) (element-type GBytes) read-only */
  gsize pieces_size;  /* bytes in @pieces */
};

MitogenMessage *_mitogen_message_new_full (guint32  dst_id,
                                           guint32  src_id,
                                           guint32  auth_id,
                                           guint32  handle,
                                           guint32  reply_to,
                                           GBytes  *data);

/* Makes @pieces (a new reference is taken), @size bytes in all, the
 * payload, in place of the one buffer. */
void            _mitogen_message_set_pieces (MitogenMessage *self,
                                             GPtrArray      *pieces,
                                             gsize           size);

/* Writes the %MITOGEN_MESSAGE_HEADER_SIZE bytes of a frame header. */
void            _mitogen_pack_header        (guint8  *header,
                                             guint32  dst_id,
                                             guint32  src_id,
                                             guint32  auth_id,
                                             guint32  handle,
                                             guint32  reply_to,
                                             gsize    size);

/* What mitogen_message_dup_dead_reason() says for a dead message whose
 * payload is @data. */
char           *_mitogen_dead_reason        (GBytes   *data);
/* What mitogen_message_unpickle() gives for a message (not dead) whose
 * payload is @data: a CallError becomes a %MITOGEN_ERROR_CALL error. */
GVariant       *_mitogen_unpickle_result    (GBytes   *data,
                                             GError  **error);

/* The payload's size, without joining pieces. */
gsize           _mitogen_message_get_size   (MitogenMessage *self);

/* The payload in one buffer: joined from the pieces on first use. Any
 * thread. (transfer none) */
GBytes         *_mitogen_message_get_data   (MitogenMessage *self);

/* The pieces, or %NULL for a payload in one buffer. (transfer none) */
static inline GPtrArray *
_mitogen_message_get_pieces (MitogenMessage *self)
{
  return self->pieces;
}

G_END_DECLS
