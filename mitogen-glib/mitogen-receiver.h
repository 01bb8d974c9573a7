/* mitogen-receiver.h: messages arriving on one handle
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

#define MITOGEN_TYPE_RECEIVER (mitogen_receiver_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenReceiver, mitogen_receiver, MITOGEN, RECEIVER, GObject)

MITOGEN_AVAILABLE_IN_1_0
MitogenReceiver *mitogen_receiver_new         (MitogenRouter       *router,
                                               guint32              handle,
                                               gboolean             persist,
                                               MitogenContext      *respondent) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
guint32          mitogen_receiver_get_handle  (MitogenReceiver     *self);
MITOGEN_AVAILABLE_IN_1_0
MitogenRouter   *mitogen_receiver_get_router  (MitogenReceiver     *self);
MITOGEN_AVAILABLE_IN_1_0
MitogenMessage  *mitogen_receiver_get         (MitogenReceiver     *self,
                                               gint64               timeout_usec,
                                               GCancellable        *cancellable,
                                               GError             **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
GVariant        *mitogen_receiver_get_value   (MitogenReceiver     *self,
                                               gint64               timeout_usec,
                                               GCancellable        *cancellable,
                                               GError             **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void             mitogen_receiver_get_async   (MitogenReceiver     *self,
                                               GCancellable        *cancellable,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);
MITOGEN_AVAILABLE_IN_1_0
MitogenMessage  *mitogen_receiver_get_finish  (MitogenReceiver     *self,
                                               GAsyncResult        *result,
                                               GError             **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
MitogenSender   *mitogen_receiver_to_sender   (MitogenReceiver     *self) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
gboolean         mitogen_receiver_is_empty    (MitogenReceiver     *self);
MITOGEN_AVAILABLE_IN_1_0
void             mitogen_receiver_close       (MitogenReceiver     *self);

G_END_DECLS
