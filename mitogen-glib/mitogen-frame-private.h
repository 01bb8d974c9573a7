/* mitogen-frame-private.h: a message's header and payload without the
 * GObject, as the router moves it
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-message-private.h"

G_BEGIN_DECLS

/* What a frame says, held by value (on the stack of whoever routes it,
 * or in a frame decoder's queue): frames go from stream to stream, and
 * replies to the calls waiting for them, without a MitogenMessage (making
 * and freeing a GObject costs ~300 ns on GLib 2.74, and a call made two).
 * One is made only for a handler that takes messages, once, by
 * _mitogen_frame_get_message().
 *
 * Owned by one thread; clear it with _mitogen_frame_clear(). */
typedef struct
{
  guint32 dst_id;
  guint32 src_id;
  guint32 auth_id;
  guint32 handle;
  guint32 reply_to;
  GBytes *data;              /* (owned) (nullable) if @pieces is set */
  GPtrArray *pieces;         /* (owned) (nullable) (element-type GBytes) */
  gsize size;                /* payload bytes */
  MitogenMessage *message;   /* (owned) (nullable) made or given */
} MitogenFrame;

/* Takes @data (transfer full; %NULL: an empty payload). */
void            _mitogen_frame_init          (MitogenFrame        *frame,
                                              guint32              dst_id,
                                              guint32              src_id,
                                              guint32              auth_id,
                                              guint32              handle,
                                              guint32              reply_to,
                                              GBytes              *data);
/* Finishes @writer's pickle (it is cleared) as the payload. */
void            _mitogen_frame_init_from_writer (MitogenFrame        *frame,
                                                 guint32              dst_id,
                                                 guint32              src_id,
                                                 guint32              auth_id,
                                                 guint32              handle,
                                                 guint32              reply_to,
                                                 MitogenPickleWriter *writer);
/* The frame of @message, which it keeps a reference on. */
void            _mitogen_frame_init_from_message (MitogenFrame   *frame,
                                                  MitogenMessage *message);
void            _mitogen_frame_clear         (MitogenFrame        *frame);

/* The frame as a message, made on first use. (transfer none) */
MitogenMessage *_mitogen_frame_get_message   (MitogenFrame        *frame);
/* The payload in one buffer (joined if it is in pieces). (transfer full) */
GBytes         *_mitogen_frame_dup_data      (MitogenFrame        *frame);
void            _mitogen_frame_pack_header   (const MitogenFrame  *frame,
                                              guint8              *header);

G_END_DECLS
