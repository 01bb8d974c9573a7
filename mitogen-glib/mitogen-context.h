/* mitogen-context.h: a Python interpreter the router can reach
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include <gio/gio.h>

#include "mitogen-types.h"
#include "mitogen-version-macros.h"

G_BEGIN_DECLS

#define MITOGEN_TYPE_CONTEXT (mitogen_context_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenContext, mitogen_context, MITOGEN, CONTEXT, GObject)

MITOGEN_AVAILABLE_IN_1_0
guint32          mitogen_context_get_context_id (MitogenContext      *self);
MITOGEN_AVAILABLE_IN_1_0
const char      *mitogen_context_get_name       (MitogenContext      *self);
MITOGEN_AVAILABLE_IN_1_0
MitogenRouter   *mitogen_context_get_router     (MitogenContext      *self);
MITOGEN_AVAILABLE_IN_1_0
gboolean         mitogen_context_is_connected   (MitogenContext      *self);

MITOGEN_AVAILABLE_IN_1_0
void             mitogen_context_call_async     (MitogenContext      *self,
                                                 const char          *module,
                                                 const char          *class_name,
                                                 const char          *function,
                                                 GVariant            *args,
                                                 GVariant            *kwargs,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
MITOGEN_AVAILABLE_IN_1_0
GVariant        *mitogen_context_call_finish    (MitogenContext      *self,
                                                 GAsyncResult        *result,
                                                 GError             **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
GVariant        *mitogen_context_call_sync      (MitogenContext      *self,
                                                 const char          *module,
                                                 const char          *class_name,
                                                 const char          *function,
                                                 GVariant            *args,
                                                 GVariant            *kwargs,
                                                 gint64               timeout_usec,
                                                 GCancellable        *cancellable,
                                                 GError             **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
MitogenReceiver *mitogen_context_call_receiver  (MitogenContext      *self,
                                                 const char          *module,
                                                 const char          *class_name,
                                                 const char          *function,
                                                 GVariant            *args,
                                                 GVariant            *kwargs,
                                                 GError             **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
gboolean         mitogen_context_call_no_reply  (MitogenContext      *self,
                                                 const char          *module,
                                                 const char          *class_name,
                                                 const char          *function,
                                                 GVariant            *args,
                                                 GVariant            *kwargs,
                                                 GError             **error);

MITOGEN_AVAILABLE_IN_1_0
gboolean         mitogen_context_send           (MitogenContext      *self,
                                                 guint32              handle,
                                                 GVariant            *value,
                                                 GError             **error);
MITOGEN_AVAILABLE_IN_1_0
gboolean         mitogen_context_send_message   (MitogenContext      *self,
                                                 MitogenMessage      *message,
                                                 GError             **error);
MITOGEN_AVAILABLE_IN_1_0
MitogenReceiver *mitogen_context_send_async     (MitogenContext      *self,
                                                 guint32              handle,
                                                 GVariant            *value,
                                                 GError             **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
GVariant        *mitogen_context_send_await     (MitogenContext      *self,
                                                 guint32              handle,
                                                 GVariant            *value,
                                                 gint64               timeout_usec,
                                                 GCancellable        *cancellable,
                                                 GError             **error) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
void             mitogen_context_shutdown       (MitogenContext      *self);
MITOGEN_AVAILABLE_IN_1_0
void             mitogen_context_shutdown_async (MitogenContext      *self,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
MITOGEN_AVAILABLE_IN_1_0
gboolean         mitogen_context_shutdown_finish (MitogenContext     *self,
                                                  GAsyncResult       *result,
                                                  GError            **error);

G_END_DECLS
