/* mitogen-router.h: routes messages between this process and its contexts
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
#include "mitogen-doas-options.h"
#include "mitogen-ssh-options.h"
#include "mitogen-su-options.h"
#include "mitogen-sudo-options.h"

G_BEGIN_DECLS

/**
 * MitogenHandlerFlags:
 * @MITOGEN_HANDLER_FLAGS_NONE: the handler is removed after its first
 *   message.
 * @MITOGEN_HANDLER_FLAGS_PERSIST: the handler stays registered until
 *   [method@Mitogen.Router.del_handler].
 *
 * Options of [method@Mitogen.Router.add_handler].
 *
 * Since: 1.0
 */
typedef enum /*< flags >*/ {
  MITOGEN_HANDLER_FLAGS_NONE = 0,
  MITOGEN_HANDLER_FLAGS_PERSIST = 1 << 0,
} MitogenHandlerFlags;

/**
 * MitogenHandlerFunc:
 * @router: the router
 * @message: the message that arrived
 * @user_data: the data given to [method@Mitogen.Router.add_handler]
 *
 * Handles a message that arrived for a handle. Runs in the thread-default
 * main context of the thread that added the handler.
 *
 * Since: 1.0
 */
typedef void (*MitogenHandlerFunc) (MitogenRouter  *router,
                                    MitogenMessage *message,
                                    gpointer        user_data);

#define MITOGEN_TYPE_ROUTER (mitogen_router_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenRouter, mitogen_router, MITOGEN, ROUTER, GObject)

MITOGEN_AVAILABLE_IN_1_0
MitogenRouter  *mitogen_router_new               (MitogenBroker       *broker) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
MitogenBroker  *mitogen_router_get_broker        (MitogenRouter       *self);
MITOGEN_AVAILABLE_IN_1_0
guint32         mitogen_router_get_context_id    (MitogenRouter       *self);
MITOGEN_AVAILABLE_IN_1_0
guint64         mitogen_router_get_max_message_size (MitogenRouter    *self);
MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_set_max_message_size (MitogenRouter    *self,
                                                     guint64           max_message_size);
MITOGEN_AVAILABLE_IN_1_0
char           *mitogen_router_dup_cache_directory (MitogenRouter     *self) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_set_cache_directory (MitogenRouter     *self,
                                                    const char        *directory);
MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_context_by_id     (MitogenRouter       *self,
                                                  guint32              context_id) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
GList          *mitogen_router_list_contexts     (MitogenRouter       *self) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
guint32         mitogen_router_add_handler       (MitogenRouter       *self,
                                                  MitogenHandlerFunc   func,
                                                  gpointer             user_data,
                                                  GDestroyNotify       destroy,
                                                  guint32              handle,
                                                  MitogenHandlerFlags  flags,
                                                  MitogenContext      *respondent);
MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_del_handler       (MitogenRouter       *self,
                                                  guint32              handle);
MITOGEN_AVAILABLE_IN_1_0
guint32         mitogen_router_allocate_handle   (MitogenRouter       *self);
MITOGEN_AVAILABLE_IN_1_0
gboolean        mitogen_router_route             (MitogenRouter       *self,
                                                  MitogenMessage      *message,
                                                  GError             **error);

MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_add_python_path   (MitogenRouter       *self,
                                                  const char          *path);
MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_add_resource_path (MitogenRouter       *self,
                                                  const char          *resource_path);

MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_local             (MitogenRouter            *self,
                                                  MitogenConnectionOptions *options,
                                                  GCancellable             *cancellable,
                                                  GError                  **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_local_async       (MitogenRouter            *self,
                                                  MitogenConnectionOptions *options,
                                                  GCancellable             *cancellable,
                                                  GAsyncReadyCallback       callback,
                                                  gpointer                  user_data);
MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_local_finish      (MitogenRouter            *self,
                                                  GAsyncResult             *result,
                                                  GError                  **error) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_ssh               (MitogenRouter            *self,
                                                  MitogenSshOptions        *options,
                                                  GCancellable             *cancellable,
                                                  GError                  **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_ssh_async         (MitogenRouter            *self,
                                                  MitogenSshOptions        *options,
                                                  GCancellable             *cancellable,
                                                  GAsyncReadyCallback       callback,
                                                  gpointer                  user_data);
MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_ssh_finish        (MitogenRouter            *self,
                                                  GAsyncResult             *result,
                                                  GError                  **error) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_sudo              (MitogenRouter            *self,
                                                  MitogenSudoOptions       *options,
                                                  GCancellable             *cancellable,
                                                  GError                  **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_sudo_async        (MitogenRouter            *self,
                                                  MitogenSudoOptions       *options,
                                                  GCancellable             *cancellable,
                                                  GAsyncReadyCallback       callback,
                                                  gpointer                  user_data);
MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_sudo_finish       (MitogenRouter            *self,
                                                  GAsyncResult             *result,
                                                  GError                  **error) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_su                (MitogenRouter            *self,
                                                  MitogenSuOptions         *options,
                                                  GCancellable             *cancellable,
                                                  GError                  **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_su_async          (MitogenRouter            *self,
                                                  MitogenSuOptions         *options,
                                                  GCancellable             *cancellable,
                                                  GAsyncReadyCallback       callback,
                                                  gpointer                  user_data);
MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_su_finish         (MitogenRouter            *self,
                                                  GAsyncResult             *result,
                                                  GError                  **error) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_doas              (MitogenRouter            *self,
                                                  MitogenDoasOptions       *options,
                                                  GCancellable             *cancellable,
                                                  GError                  **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_doas_async        (MitogenRouter            *self,
                                                  MitogenDoasOptions       *options,
                                                  GCancellable             *cancellable,
                                                  GAsyncReadyCallback       callback,
                                                  gpointer                  user_data);
MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_doas_finish       (MitogenRouter            *self,
                                                  GAsyncResult             *result,
                                                  GError                  **error) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_fork              (MitogenRouter       *self,
                                                  MitogenContext      *from,
                                                  GCancellable        *cancellable,
                                                  GError             **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_fork_async        (MitogenRouter       *self,
                                                  MitogenContext      *from,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
MITOGEN_AVAILABLE_IN_1_0
MitogenContext *mitogen_router_fork_finish       (MitogenRouter       *self,
                                                  GAsyncResult        *result,
                                                  GError             **error) G_GNUC_WARN_UNUSED_RESULT;

MITOGEN_AVAILABLE_IN_1_0
void            mitogen_router_shutdown          (MitogenRouter       *self);

G_END_DECLS
