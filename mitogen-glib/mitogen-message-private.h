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

/* Finishes @writer's pickle (it is cleared) and takes it as the payload:
 * in one buffer, or in the pieces a sharing writer made. */
MitogenMessage *_mitogen_message_new_from_writer (guint32              dst_id,
                                                  guint32              src_id,
                                                  guint32              auth_id,
                                                  guint32              handle,
                                                  guint32              reply_to,
                                                  MitogenPickleWriter *writer);

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
