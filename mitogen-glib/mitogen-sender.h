/* mitogen-sender.h: the sending end of a handle in some context
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

#define MITOGEN_TYPE_SENDER (mitogen_sender_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenSender, mitogen_sender, MITOGEN, SENDER, GObject)

MITOGEN_AVAILABLE_IN_1_0
MitogenSender  *mitogen_sender_new         (MitogenContext *context,
                                            guint32         handle) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_sender_get_context (MitogenSender  *self);
MITOGEN_AVAILABLE_IN_1_0
guint32         mitogen_sender_get_handle  (MitogenSender  *self);
MITOGEN_AVAILABLE_IN_1_0
gboolean        mitogen_sender_put         (MitogenSender  *self,
                                            GVariant       *value,
                                            GError        **error);
MITOGEN_AVAILABLE_IN_1_0
gboolean        mitogen_sender_close       (MitogenSender  *self,
                                            GError        **error);
MITOGEN_AVAILABLE_IN_1_0
GVariant       *mitogen_sender_to_variant  (MitogenSender  *self) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
