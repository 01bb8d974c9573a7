/* mitogen-router-local.c: the local connection method
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-connection-private.h"
#include "mitogen-context.h"
#include "mitogen-router-private.h"

/**
 * mitogen_router_local_async:
 * @self: a router
 * @options: (nullable): connection options, or %NULL for the defaults
 * @cancellable: (nullable): a cancellable
 * @callback: (scope async) (closure user_data): called when the child is up
 *   or the connection failed
 * @user_data: data for @callback
 *
 * Starts a Python interpreter on this machine
 * ([property@Mitogen.ConnectionOptions:python-path], `python3` by default)
 * and boots the child runtime in it. @callback runs in the thread-default
 * main context of the caller.
 *
 * Since: 1.0
 */
void
mitogen_router_local_async (MitogenRouter            *self,
                            MitogenConnectionOptions *options,
                            GCancellable             *cancellable,
                            GAsyncReadyCallback       callback,
                            gpointer                  user_data)
{
  GTask *task;

  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (options == NULL || MITOGEN_IS_CONNECTION_OPTIONS (options));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_router_local_async);
  if (options != NULL)
    {
      g_autoptr(MitogenContext) via = mitogen_connection_options_get_via (options);

      if (via != NULL)
        {
          _mitogen_connection_start_via (self, options, via, task);
          return;
        }
    }
  _mitogen_connection_start_local (self, options, task);
}

/**
 * mitogen_router_local_finish:
 * @self: a router
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Router.local_async].
 *
 * Returns: (transfer full): the new context, or %NULL with
 *   %MITOGEN_ERROR_CONNECT (the interpreter was not found, or exited before
 *   the runtime started: the message carries its status and last output),
 *   %MITOGEN_ERROR_CONNECT_TIMEOUT or %G_IO_ERROR_CANCELLED
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_local_finish (MitogenRouter  *self,
                             GAsyncResult   *result,
                             GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
sync_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

MitogenContext *
_mitogen_router_run_sync (MitogenRouter           *self,
                          gpointer                 arg,
                          MitogenRouterAsyncFunc   async_func,
                          MitogenRouterFinishFunc  finish_func,
                          GCancellable            *cancellable,
                          GError                 **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GAsyncResult) result = NULL;

  g_main_context_push_thread_default (context);
  async_func (self, arg, cancellable, sync_done, &result);
  while (result == NULL)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);

  return finish_func (self, result, error);
}

/**
 * mitogen_router_local:
 * @self: a router
 * @options: (nullable): connection options, or %NULL for the defaults
 * @cancellable: (nullable): a cancellable
 * @error: return location for a #GError
 *
 * Starts a local child as [method@Mitogen.Router.local_async] does and
 * waits for it, blocking the calling thread; the connect timeout of
 * @options bounds the wait.
 *
 * Returns: (transfer full): the new context, or %NULL with @error set
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_local (MitogenRouter             *self,
                      MitogenConnectionOptions  *options,
                      GCancellable              *cancellable,
                      GError                   **error)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return _mitogen_router_run_sync (self, options,
                                   (MitogenRouterAsyncFunc) mitogen_router_local_async,
                                   mitogen_router_local_finish, cancellable, error);
}
