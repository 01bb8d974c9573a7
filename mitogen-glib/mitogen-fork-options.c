/* mitogen-fork-options.c: a context forked from a warm one
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-connection-private.h"
#include "mitogen-context.h"
#include "mitogen-error.h"
#include "mitogen-fork-options.h"
#include "mitogen-router-private.h"

/**
 * MitogenForkOptions:
 *
 * A new context made by forking an existing Python context (its
 * [property@Mitogen.ConnectionOptions:via]): the fork starts with every
 * module the original has imported, so its first call is cheap, gets its
 * own context id and route, and shares no state with the original
 * afterwards. The other shared settings do not apply to a fork.
 *
 * Since: 1.0
 */

struct _MitogenForkOptions
{
  MitogenConnectionOptions parent_instance;
};

G_DEFINE_FINAL_TYPE (MitogenForkOptions, mitogen_fork_options, MITOGEN_TYPE_CONNECTION_OPTIONS)

/* A fork inherits everything from its original: no keyword arguments
 * (upstream's fork method refuses python_path and the like). */
static void
mitogen_fork_options_add_proxy_kwargs (MitogenConnectionOptions *options,
                                       GVariantDict             *kwargs)
{
}

static void
mitogen_fork_options_class_init (MitogenForkOptionsClass *klass)
{
  MitogenConnectionOptionsClass *options_class = MITOGEN_CONNECTION_OPTIONS_CLASS (klass);

  options_class->method_name = "fork";
  options_class->add_proxy_kwargs = mitogen_fork_options_add_proxy_kwargs;
}

static void
mitogen_fork_options_init (MitogenForkOptions *self)
{
}

/**
 * mitogen_fork_options_new:
 * @from: (nullable): the context to fork, or %NULL to set
 *   [property@Mitogen.ConnectionOptions:via] later
 *
 * Creates options for a fork of @from.
 *
 * Returns: (transfer full): new options
 *
 * Since: 1.0
 */
MitogenForkOptions *
mitogen_fork_options_new (MitogenContext *from)
{
  g_return_val_if_fail (from == NULL || MITOGEN_IS_CONTEXT (from), NULL);

  return g_object_new (MITOGEN_TYPE_FORK_OPTIONS, "via", from, NULL);
}

/**
 * mitogen_router_fork_async:
 * @self: a router
 * @from: the Python context to fork
 * @cancellable: (nullable): a cancellable
 * @callback: (scope async) (closure user_data): called when the fork is up
 * @user_data: data for @callback
 *
 * Forks @from: see [class@Mitogen.ForkOptions]. @callback runs in the
 * thread-default main context of the caller.
 *
 * Since: 1.0
 */
void
mitogen_router_fork_async (MitogenRouter       *self,
                           MitogenContext      *from,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(MitogenForkOptions) options = NULL;
  GTask *task;

  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (MITOGEN_IS_CONTEXT (from));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_router_fork_async);
  options = mitogen_fork_options_new (from);
  _mitogen_connection_start_via (self, MITOGEN_CONNECTION_OPTIONS (options), from, task);
}

/**
 * mitogen_router_fork_finish:
 * @self: a router
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Router.fork_async].
 *
 * Returns: (transfer full): the fork, or %NULL with @error set
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_fork_finish (MitogenRouter  *self,
                            GAsyncResult   *result,
                            GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * mitogen_router_fork:
 * @self: a router
 * @from: the Python context to fork
 * @cancellable: (nullable): a cancellable
 * @error: return location for a #GError
 *
 * Forks @from and waits for the fork, blocking the calling thread.
 *
 * Returns: (transfer full): the fork, or %NULL with @error set
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_fork (MitogenRouter   *self,
                     MitogenContext  *from,
                     GCancellable    *cancellable,
                     GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);
  g_return_val_if_fail (MITOGEN_IS_CONTEXT (from), NULL);

  return _mitogen_router_run_sync (self, from,
                                   (MitogenRouterAsyncFunc) mitogen_router_fork_async,
                                   mitogen_router_fork_finish, cancellable, error);
}
