/* mitogen-message.h: one message of the Mitogen wire protocol
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include <glib-object.h>

#include "mitogen-version-macros.h"

G_BEGIN_DECLS

/**
 * MITOGEN_MESSAGE_HEADER_SIZE:
 *
 * The size in bytes of a frame header on the wire.
 */
#define MITOGEN_MESSAGE_HEADER_SIZE 26

/**
 * MITOGEN_MESSAGE_HEADER_MAGIC:
 *
 * The magic number that starts every frame header (`"MI"`).
 */
#define MITOGEN_MESSAGE_HEADER_MAGIC 0x4d49

/**
 * MITOGEN_MESSAGE_DEFAULT_MAX_SIZE:
 *
 * The default limit on a message payload, in bytes (128 MiB, as in
 * Mitogen 0.3).
 */
#define MITOGEN_MESSAGE_DEFAULT_MAX_SIZE (128u * 1024u * 1024u)

/**
 * MitogenHandle:
 * @MITOGEN_HANDLE_NONE: no handle; as a `reply_to`, no reply is wanted.
 * @MITOGEN_HANDLE_GET_MODULE: a child asks its parent for a Python module.
 * @MITOGEN_HANDLE_CALL_FUNCTION: a parent asks a child to run a function.
 * @MITOGEN_HANDLE_FORWARD_LOG: a log record travelling to the master.
 * @MITOGEN_HANDLE_ADD_ROUTE: a new context became reachable through a child.
 * @MITOGEN_HANDLE_DEL_ROUTE: a context behind a child went away.
 * @MITOGEN_HANDLE_ALLOCATE_ID: a child asks the master for a block of
 *   context ids.
 * @MITOGEN_HANDLE_SHUTDOWN: a parent asks a child to exit.
 * @MITOGEN_HANDLE_LOAD_MODULE: a parent sends a Python module to a child.
 * @MITOGEN_HANDLE_FORWARD_MODULE: the master asks an intermediate to pass a
 *   module on to one of its children.
 * @MITOGEN_HANDLE_DETACHING: a child announces it will outlive its parent.
 * @MITOGEN_HANDLE_CALL_SERVICE: a call to a service pool.
 * @MITOGEN_HANDLE_FIRST_DYNAMIC: the first handle a router allocates for
 *   receivers.
 * @MITOGEN_HANDLE_IS_DEAD: used as `reply_to`, marks a dead message: the
 *   payload is the reason a channel ended.
 *
 * The reserved handles of the Mitogen 0.3 protocol.
 *
 * Since: 1.0
 */
typedef enum {
  MITOGEN_HANDLE_NONE = 0,
  MITOGEN_HANDLE_GET_MODULE = 100,
  MITOGEN_HANDLE_CALL_FUNCTION = 101,
  MITOGEN_HANDLE_FORWARD_LOG = 102,
  MITOGEN_HANDLE_ADD_ROUTE = 103,
  MITOGEN_HANDLE_DEL_ROUTE = 104,
  MITOGEN_HANDLE_ALLOCATE_ID = 105,
  MITOGEN_HANDLE_SHUTDOWN = 106,
  MITOGEN_HANDLE_LOAD_MODULE = 107,
  MITOGEN_HANDLE_FORWARD_MODULE = 108,
  MITOGEN_HANDLE_DETACHING = 109,
  MITOGEN_HANDLE_CALL_SERVICE = 110,
  MITOGEN_HANDLE_IS_DEAD = 999,
  MITOGEN_HANDLE_FIRST_DYNAMIC = 1000,
} MitogenHandle;

#define MITOGEN_TYPE_MESSAGE (mitogen_message_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenMessage, mitogen_message, MITOGEN, MESSAGE, GObject)

MITOGEN_AVAILABLE_IN_1_0
MitogenMessage *mitogen_message_new            (guint32      handle,
                                                GBytes      *data) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
MitogenMessage *mitogen_message_new_pickled    (guint32      handle,
                                                GVariant    *value,
                                                GError     **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
MitogenMessage *mitogen_message_new_dead       (guint32      handle,
                                                const char  *reason) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
MitogenMessage *mitogen_message_new_from_frame (const guint8 *frame,
                                                gsize         frame_len,
                                                GError      **error) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
guint32   mitogen_message_get_dst_id   (MitogenMessage *self);
MITOGEN_AVAILABLE_IN_1_0
void      mitogen_message_set_dst_id   (MitogenMessage *self,
                                        guint32         dst_id);
MITOGEN_AVAILABLE_IN_1_0
guint32   mitogen_message_get_src_id   (MitogenMessage *self);
MITOGEN_AVAILABLE_IN_1_0
void      mitogen_message_set_src_id   (MitogenMessage *self,
                                        guint32         src_id);
MITOGEN_AVAILABLE_IN_1_0
guint32   mitogen_message_get_auth_id  (MitogenMessage *self);
MITOGEN_AVAILABLE_IN_1_0
void      mitogen_message_set_auth_id  (MitogenMessage *self,
                                        guint32         auth_id);
MITOGEN_AVAILABLE_IN_1_0
guint32   mitogen_message_get_handle   (MitogenMessage *self);
MITOGEN_AVAILABLE_IN_1_0
void      mitogen_message_set_handle   (MitogenMessage *self,
                                        guint32         handle);
MITOGEN_AVAILABLE_IN_1_0
guint32   mitogen_message_get_reply_to (MitogenMessage *self);
MITOGEN_AVAILABLE_IN_1_0
void      mitogen_message_set_reply_to (MitogenMessage *self,
                                        guint32         reply_to);
MITOGEN_AVAILABLE_IN_1_0
GBytes   *mitogen_message_get_data     (MitogenMessage *self);
MITOGEN_AVAILABLE_IN_1_0
gboolean  mitogen_message_is_dead      (MitogenMessage *self);
MITOGEN_AVAILABLE_IN_1_0
char     *mitogen_message_dup_dead_reason (MitogenMessage *self) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
GVariant *mitogen_message_unpickle     (MitogenMessage *self,
                                        GError        **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void      mitogen_message_pack_header  (MitogenMessage *self,
                                        guint8         *header);
MITOGEN_AVAILABLE_IN_1_0
GBytes   *mitogen_message_encode       (MitogenMessage *self) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
