/* mitogen-channel.h: a two-way channel to one context on one handle
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

#define MITOGEN_TYPE_CHANNEL (mitogen_channel_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenChannel, mitogen_channel, MITOGEN, CHANNEL, GObject)

MITOGEN_AVAILABLE_IN_1_0
MitogenChannel  *mitogen_channel_new          (MitogenRouter        *router,
                                               MitogenContext       *context,
                                               guint32               handle) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
guint32          mitogen_channel_get_handle   (MitogenChannel       *self);
MITOGEN_AVAILABLE_IN_1_0
MitogenContext  *mitogen_channel_get_context  (MitogenChannel       *self);
MITOGEN_AVAILABLE_IN_1_0
MitogenReceiver *mitogen_channel_get_receiver (MitogenChannel       *self);
MITOGEN_AVAILABLE_IN_1_0
MitogenSender   *mitogen_channel_get_sender   (MitogenChannel       *self);
MITOGEN_AVAILABLE_IN_1_0
gboolean         mitogen_channel_put          (MitogenChannel       *self,
                                               GVariant             *value,
                                               GError              **error);
MITOGEN_AVAILABLE_IN_1_0
GVariant        *mitogen_channel_get          (MitogenChannel       *self,
                                               gint64                timeout_usec,
                                               GCancellable         *cancellable,
                                               GError              **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void             mitogen_channel_get_async    (MitogenChannel       *self,
                                               GCancellable         *cancellable,
                                               GAsyncReadyCallback   callback,
                                               gpointer              user_data);
MITOGEN_AVAILABLE_IN_1_0
GVariant        *mitogen_channel_get_finish   (MitogenChannel       *self,
                                               GAsyncResult         *result,
                                               GError              **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void             mitogen_channel_close        (MitogenChannel       *self);

G_END_DECLS
