/* mitogen-message-private.h: message internals for siblings and tests
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-message.h"

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

  GBytes *data;  /* (owned) (not nullable) */
};

MitogenMessage *_mitogen_message_new_full (guint32  dst_id,
                                           guint32  src_id,
                                           guint32  auth_id,
                                           guint32  handle,
                                           guint32  reply_to,
                                           GBytes  *data);

G_END_DECLS
