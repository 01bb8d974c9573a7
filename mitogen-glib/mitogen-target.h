/* mitogen-target.h: target strings such as "ssh:web1/sudo:root"
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include <gio/gio.h>

#include "mitogen-connection-options.h"
#include "mitogen-router.h"

G_BEGIN_DECLS

MITOGEN_AVAILABLE_IN_1_0
GList          *mitogen_target_parse                  (const char               *target,
                                                       MitogenConnectionOptions *defaults,
                                                       GError                  **error) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_connect_hops_async     (MitogenRouter            *self,
                                                       GList                    *hops,
                                                       GCancellable             *cancellable,
                                                       GAsyncReadyCallback       callback,
                                                       gpointer                  user_data);
MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_connect_hops_finish    (MitogenRouter            *self,
                                                       GAsyncResult             *result,
                                                       GError                  **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_connect_hops           (MitogenRouter            *self,
                                                       GList                    *hops,
                                                       GCancellable             *cancellable,
                                                       GError                  **error) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_connect_target_async   (MitogenRouter            *self,
                                                       const char               *target,
                                                       MitogenConnectionOptions *defaults,
                                                       GCancellable             *cancellable,
                                                       GAsyncReadyCallback       callback,
                                                       gpointer                  user_data);
MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_connect_target_finish  (MitogenRouter            *self,
                                                       GAsyncResult             *result,
                                                       GError                  **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_connect_target         (MitogenRouter            *self,
                                                       const char               *target,
                                                       MitogenConnectionOptions *defaults,
                                                       GCancellable             *cancellable,
                                                       GError                  **error) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
