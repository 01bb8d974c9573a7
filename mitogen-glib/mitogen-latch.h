/* mitogen-latch.h: a thread-safe queue whose waiters can be woken
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include <gio/gio.h>

#include "mitogen-version-macros.h"

G_BEGIN_DECLS

#define MITOGEN_TYPE_LATCH (mitogen_latch_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenLatch, mitogen_latch, MITOGEN, LATCH, GObject)

MITOGEN_AVAILABLE_IN_1_0
MitogenLatch *mitogen_latch_new        (void) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
gboolean      mitogen_latch_put        (MitogenLatch        *self,
                                        gpointer             item,
                                        GError             **error);
MITOGEN_AVAILABLE_IN_1_0
gpointer      mitogen_latch_get        (MitogenLatch        *self,
                                        gint64               timeout_usec,
                                        GCancellable        *cancellable,
                                        GError             **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
gpointer      mitogen_latch_try_get    (MitogenLatch        *self,
                                        GError             **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void          mitogen_latch_get_async  (MitogenLatch        *self,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data);
MITOGEN_AVAILABLE_IN_1_0
gpointer      mitogen_latch_get_finish (MitogenLatch        *self,
                                        GAsyncResult        *result,
                                        GError             **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void          mitogen_latch_close      (MitogenLatch        *self);
MITOGEN_AVAILABLE_IN_1_0
gboolean      mitogen_latch_is_closed  (MitogenLatch        *self);
MITOGEN_AVAILABLE_IN_1_0
guint         mitogen_latch_get_size   (MitogenLatch        *self);

G_END_DECLS
