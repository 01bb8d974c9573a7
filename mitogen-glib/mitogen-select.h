/* mitogen-select.h: wait for messages on many receivers at once
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

#define MITOGEN_TYPE_SELECT (mitogen_select_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenSelect, mitogen_select, MITOGEN, SELECT, GObject)

MITOGEN_AVAILABLE_IN_1_0
MitogenSelect  *mitogen_select_new             (gboolean              oneshot) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
gboolean        mitogen_select_get_oneshot     (MitogenSelect        *self);

MITOGEN_AVAILABLE_IN_1_0
gboolean        mitogen_select_add_receiver    (MitogenSelect        *self,
                                                MitogenReceiver      *receiver,
                                                GError              **error);
MITOGEN_AVAILABLE_IN_1_0
gboolean        mitogen_select_add_select      (MitogenSelect        *self,
                                                MitogenSelect        *child,
                                                GError              **error);
MITOGEN_AVAILABLE_IN_1_0
gboolean        mitogen_select_remove_receiver (MitogenSelect        *self,
                                                MitogenReceiver      *receiver);
MITOGEN_AVAILABLE_IN_1_0
gboolean        mitogen_select_remove_select   (MitogenSelect        *self,
                                                MitogenSelect        *child);
MITOGEN_AVAILABLE_IN_1_0
guint           mitogen_select_get_size        (MitogenSelect        *self);
MITOGEN_AVAILABLE_IN_1_0
gboolean        mitogen_select_is_empty        (MitogenSelect        *self);

MITOGEN_AVAILABLE_IN_1_0
MitogenMessage *mitogen_select_get             (MitogenSelect        *self,
                                                gint64                timeout_usec,
                                                GCancellable         *cancellable,
                                                MitogenReceiver     **out_receiver,
                                                GError              **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void            mitogen_select_next_async      (MitogenSelect        *self,
                                                GCancellable         *cancellable,
                                                GAsyncReadyCallback   callback,
                                                gpointer              user_data);
MITOGEN_AVAILABLE_IN_1_0
MitogenMessage *mitogen_select_next_finish     (MitogenSelect        *self,
                                                GAsyncResult         *result,
                                                MitogenReceiver     **out_receiver,
                                                GError              **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void            mitogen_select_all_async       (MitogenSelect        *self,
                                                GCancellable         *cancellable,
                                                GAsyncReadyCallback   callback,
                                                gpointer              user_data);
MITOGEN_AVAILABLE_IN_1_0
GPtrArray      *mitogen_select_all_finish      (MitogenSelect        *self,
                                                GAsyncResult         *result,
                                                GError              **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
GPtrArray      *mitogen_select_all             (MitogenSelect        *self,
                                                gint64                timeout_usec,
                                                GCancellable         *cancellable,
                                                GError              **error) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
void            mitogen_select_close           (MitogenSelect        *self);

G_END_DECLS
