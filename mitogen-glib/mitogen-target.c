/* mitogen-target.c: target strings such as "ssh:web1/sudo:root"
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <string.h>

#include "mitogen-context.h"
#include "mitogen-doas-options.h"
#include "mitogen-fork-options.h"
#include "mitogen-ssh-options.h"
#include "mitogen-su-options.h"
#include "mitogen-sudo-options.h"
#include "mitogen-router-private.h"
#include "mitogen-target.h"

typedef enum {
  ARG_NONE,       /* `local`, `fork` */
  ARG_USER,       /* `sudo[:user]`... */
  ARG_HOST,       /* `ssh:[user@]host[:port]`, required */
} HopArgument;

static const struct
{
  const char *name;
  HopArgument argument;
} hop_methods[] = {
  { "local", ARG_NONE },
  { "ssh", ARG_HOST },
  { "sudo", ARG_USER },
  { "su", ARG_USER },
  { "doas", ARG_USER },
  { "fork", ARG_NONE },
};

/* User and host names end up on other programs' command lines: refuse
 * anything that could be read as an option or split into words. */
static gboolean
check_name (const char  *what,
            const char  *name,
            const char  *hop_text,
            GError     **error)
{
  if (*name == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "empty %s in target hop '%s'", what, hop_text);
      return FALSE;
    }
  if (name[0] == '-')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "%s '%s' in target hop '%s' must not start with '-'", what, name, hop_text);
      return FALSE;
    }
  for (const char *p = name; *p; p++)
    if ((guchar) *p <= ' ' || *p == 0x7f || *p == '@')
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                     "invalid character in %s '%s' of target hop '%s'", what, name, hop_text);
        return FALSE;
      }
  return TRUE;
}

/* "[user@]host[:port]", IPv6 addresses in brackets. */
static MitogenConnectionOptions *
parse_ssh_argument (const char  *argument,
                    const char  *hop_text,
                    GError     **error)
{
  const char *at = strrchr (argument, '@');
  const char *hostport = argument;
  const char *port_text = NULL;
  g_autofree char *user = NULL;
  g_autofree char *host = NULL;
  g_autoptr(MitogenSshOptions) options = NULL;

  if (at != NULL)
    {
      user = g_strndup (argument, at - argument);
      if (!check_name ("user", user, hop_text, error))
        return NULL;
      hostport = at + 1;
    }

  if (hostport[0] == '[')
    {
      const char *close = strchr (hostport, ']');

      if (close == NULL || (close[1] != '\0' && close[1] != ':'))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "malformed bracketed host in target hop '%s'", hop_text);
          return NULL;
        }
      host = g_strndup (hostport + 1, close - hostport - 1);
      if (close[1] == ':')
        port_text = close + 2;
    }
  else
    {
      const char *colon = strchr (hostport, ':');

      if (colon != NULL && strchr (colon + 1, ':') != NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "too many ':' in target hop '%s' (write IPv6 addresses as [ADDRESS])",
                       hop_text);
          return NULL;
        }
      host = colon ? g_strndup (hostport, colon - hostport) : g_strdup (hostport);
      if (colon != NULL)
        port_text = colon + 1;
    }

  if (!check_name ("host", host, hop_text, error))
    return NULL;

  options = mitogen_ssh_options_new (host);
  if (user != NULL)
    mitogen_ssh_options_set_username (options, user);
  if (port_text != NULL)
    {
      guint64 port;

      if (!g_ascii_string_to_unsigned (port_text, 10, 1, G_MAXUINT16, &port, NULL))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "invalid port '%s' in target hop '%s' (1 to 65535)", port_text, hop_text);
          return NULL;
        }
      mitogen_ssh_options_set_port (options, (guint) port);
    }
  return MITOGEN_CONNECTION_OPTIONS (g_steal_pointer (&options));
}

static MitogenConnectionOptions *
options_for_user (const char *method,
                  const char *user)
{
  if (g_str_equal (method, "sudo"))
    return MITOGEN_CONNECTION_OPTIONS (mitogen_sudo_options_new (user));
  if (g_str_equal (method, "su"))
    return MITOGEN_CONNECTION_OPTIONS (mitogen_su_options_new (user));
  return MITOGEN_CONNECTION_OPTIONS (mitogen_doas_options_new (user));
}

static MitogenConnectionOptions *
parse_hop (const char  *text,
           GError     **error)
{
  const char *colon = strchr (text, ':');
  g_autofree char *name = colon ? g_strndup (text, colon - text) : g_strdup (text);
  const char *argument = colon ? colon + 1 : NULL;

  if (*text == '\0')
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "empty hop in target (two '/' in a row, or one at an end)");
      return NULL;
    }

  for (gsize i = 0; i < G_N_ELEMENTS (hop_methods); i++)
    {
      if (!g_str_equal (name, hop_methods[i].name))
        continue;

      switch (hop_methods[i].argument)
        {
        case ARG_NONE:
          if (argument != NULL)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "connection method '%s' takes no argument, got '%s'", name, text);
              return NULL;
            }
          if (g_str_equal (name, "fork"))
            return MITOGEN_CONNECTION_OPTIONS (mitogen_fork_options_new (NULL));
          return mitogen_connection_options_new ();
        case ARG_USER:
          if (argument == NULL)
            return options_for_user (name, NULL);
          if (strchr (argument, ':') != NULL)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "target hop '%s' has too many ':' (%s[:USER])", text, name);
              return NULL;
            }
          if (!check_name ("user", argument, text, error))
            return NULL;
          return options_for_user (name, argument);
        case ARG_HOST:
        default:
          if (argument == NULL || *argument == '\0')
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "connection method '%s' needs a host: %s:[USER@]HOST[:PORT]", name, name);
              return NULL;
            }
          return parse_ssh_argument (argument, text, error);
        }
    }

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "unknown connection method '%s' (known: local, ssh, sudo, su, doas, fork)", name);
  return NULL;
}

static void
copy_defaults (MitogenConnectionOptions *hop,
               MitogenConnectionOptions *defaults)
{
  mitogen_connection_options_set_python_path (hop, mitogen_connection_options_get_python_path (defaults));
  mitogen_connection_options_set_connect_timeout (hop, mitogen_connection_options_get_connect_timeout (defaults));
  mitogen_connection_options_set_debug (hop, mitogen_connection_options_get_debug (defaults));
  mitogen_connection_options_set_upstream_core_path (hop, mitogen_connection_options_get_upstream_core_path (defaults));

  /* ssh defaults (keys, host-key policy, arguments) apply to every ssh
   * hop; a target string has no room for them. */
  if (MITOGEN_IS_SSH_OPTIONS (defaults) && MITOGEN_IS_SSH_OPTIONS (hop))
    {
      MitogenSshOptions *from = MITOGEN_SSH_OPTIONS (defaults);
      MitogenSshOptions *to = MITOGEN_SSH_OPTIONS (hop);

      if (mitogen_ssh_options_get_identity_file (from) != NULL)
        mitogen_ssh_options_set_identity_file (to, mitogen_ssh_options_get_identity_file (from));
      if (mitogen_ssh_options_get_known_hosts_file (from) != NULL)
        mitogen_ssh_options_set_known_hosts_file (to, mitogen_ssh_options_get_known_hosts_file (from));
      if (mitogen_ssh_options_get_ssh_path (from) != NULL)
        mitogen_ssh_options_set_ssh_path (to, mitogen_ssh_options_get_ssh_path (from));
      if (mitogen_ssh_options_get_ssh_args (from) != NULL)
        mitogen_ssh_options_set_ssh_args (to, mitogen_ssh_options_get_ssh_args (from));
      mitogen_ssh_options_set_host_key_policy (to, mitogen_ssh_options_get_host_key_policy (from));
      mitogen_ssh_options_set_compression (to, mitogen_ssh_options_get_compression (from));
      mitogen_ssh_options_set_keepalive_interval (to, mitogen_ssh_options_get_keepalive_interval (from));
      mitogen_ssh_options_set_keepalive_count (to, mitogen_ssh_options_get_keepalive_count (from));
    }
}

/**
 * mitogen_target_parse:
 * @target: a target: hops separated by `/`
 * @defaults: (nullable): options whose shared settings (Python path,
 *   connect timeout, debug, upstream core) every hop starts from; when
 *   they are [class@Mitogen.SshOptions], their identity file, known-hosts
 *   file, host-key policy, ssh path and arguments, compression and
 *   keepalive settings apply to every ssh hop as well
 * @error: return location for a #GError
 *
 * Parses a target string into connection options, one per hop, first hop
 * first. The hops are:
 *
 * - `local`: a new Python on the machine of the previous hop
 *   ([class@Mitogen.ConnectionOptions]);
 * - `ssh:[USER@]HOST[:PORT]` ([class@Mitogen.SshOptions]; IPv6 addresses
 *   in brackets: `ssh:[::1]:2222`);
 * - `sudo[:USER]`, `su[:USER]`, `doas[:USER]`
 *   ([class@Mitogen.SudoOptions], [class@Mitogen.SuOptions],
 *   [class@Mitogen.DoasOptions]; root by default);
 * - `fork`: a fork of the previous hop's context
 *   ([class@Mitogen.ForkOptions]); not valid as the first hop.
 *
 * For example `ssh:admin@web1/sudo:postgres`. User and host names must not
 * start with `-` nor contain white space. The options returned can be
 * adjusted (passwords, identity files...) before
 * [method@Mitogen.Router.connect_hops].
 *
 * In C, free the list with `g_list_free_full (hops, g_object_unref)`, or
 * declare it `g_autolist(MitogenConnectionOptions)`.
 *
 * Returns: (transfer full) (element-type MitogenConnectionOptions): the
 *   hops, or %NULL with %G_IO_ERROR_INVALID_ARGUMENT or
 *   %G_IO_ERROR_NOT_SUPPORTED
 *
 * Since: 1.0
 */
GList *
mitogen_target_parse (const char                *target,
                      MitogenConnectionOptions  *defaults,
                      GError                   **error)
{
  GList *hops = NULL;
  g_auto(GStrv) parts = NULL;

  g_return_val_if_fail (target != NULL, NULL);
  g_return_val_if_fail (defaults == NULL || MITOGEN_IS_CONNECTION_OPTIONS (defaults), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  parts = g_strsplit (target, "/", -1);
  for (gsize i = 0; parts[i] != NULL; i++)
    {
      MitogenConnectionOptions *hop = parse_hop (parts[i], error);

      if (hop == NULL)
        {
          g_list_free_full (hops, g_object_unref);
          return NULL;
        }
      if (i == 0 && MITOGEN_IS_FORK_OPTIONS (hop))
        {
          g_object_unref (hop);
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "a fork needs a context to fork: 'fork' cannot be the first hop (try local/fork)");
          return NULL;
        }
      if (defaults != NULL)
        copy_defaults (hop, defaults);
      hops = g_list_prepend (hops, hop);
    }
  if (hops == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "empty target");
      return NULL;
    }
  return g_list_reverse (hops);
}

/* Connecting hop by hop. */

typedef struct
{
  GPtrArray *hops;            /* (owned) (element-type MitogenConnectionOptions) */
  guint index;
  MitogenContext *previous;   /* (owned) (nullable) */
} ConnectState;

static void
connect_state_free (gpointer data)
{
  ConnectState *state = data;

  g_ptr_array_unref (state->hops);
  g_clear_object (&state->previous);
  g_free (state);
}

static void connect_next (GTask *task);

static void
hop_done (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  GTask *task = user_data;
  ConnectState *state = g_task_get_task_data (task);
  MitogenRouter *router = MITOGEN_ROUTER (source);
  MitogenConnectionOptions *hop = state->hops->pdata[state->index];
  GError *error = NULL;
  MitogenContext *context;

  if (MITOGEN_IS_SSH_OPTIONS (hop))
    context = mitogen_router_ssh_finish (router, result, &error);
  else if (MITOGEN_IS_SUDO_OPTIONS (hop))
    context = mitogen_router_sudo_finish (router, result, &error);
  else if (MITOGEN_IS_SU_OPTIONS (hop))
    context = mitogen_router_su_finish (router, result, &error);
  else if (MITOGEN_IS_DOAS_OPTIONS (hop))
    context = mitogen_router_doas_finish (router, result, &error);
  else
    context = mitogen_router_local_finish (router, result, &error);

  if (context == NULL)
    {
      if (state->hops->len > 1)
        g_prefix_error (&error, "Hop %u of %u (%s): ", state->index + 1, state->hops->len,
                        MITOGEN_CONNECTION_OPTIONS_GET_CLASS (hop)->method_name);
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  g_clear_object (&state->previous);
  state->previous = context;
  state->index++;
  connect_next (task);
}

static void
connect_next (GTask *task)
{
  ConnectState *state = g_task_get_task_data (task);
  MitogenRouter *router = g_task_get_source_object (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  MitogenConnectionOptions *hop;

  if (state->index == state->hops->len)
    {
      g_task_return_pointer (task, g_steal_pointer (&state->previous), g_object_unref);
      g_object_unref (task);
      return;
    }

  hop = state->hops->pdata[state->index];
  /* Each hop starts from the context the previous one made. */
  if (state->previous != NULL)
    mitogen_connection_options_set_via (hop, state->previous);

  if (MITOGEN_IS_FORK_OPTIONS (hop))
    {
      g_autoptr(MitogenContext) from = mitogen_connection_options_get_via (hop);

      if (from == NULL)
        {
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                   "a fork needs a context to fork: it cannot be the first hop");
          g_object_unref (task);
          return;
        }
      mitogen_router_fork_async (router, from, cancellable, hop_done, task);
    }
  else if (MITOGEN_IS_SSH_OPTIONS (hop))
    mitogen_router_ssh_async (router, MITOGEN_SSH_OPTIONS (hop), cancellable, hop_done, task);
  else if (MITOGEN_IS_SUDO_OPTIONS (hop))
    mitogen_router_sudo_async (router, MITOGEN_SUDO_OPTIONS (hop), cancellable, hop_done, task);
  else if (MITOGEN_IS_SU_OPTIONS (hop))
    mitogen_router_su_async (router, MITOGEN_SU_OPTIONS (hop), cancellable, hop_done, task);
  else if (MITOGEN_IS_DOAS_OPTIONS (hop))
    mitogen_router_doas_async (router, MITOGEN_DOAS_OPTIONS (hop), cancellable, hop_done, task);
  else
    mitogen_router_local_async (router, hop, cancellable, hop_done, task);
}

/**
 * mitogen_router_connect_hops_async:
 * @self: a router
 * @hops: (element-type MitogenConnectionOptions): the hops, first first,
 *   e.g. from [func@Mitogen.target_parse]
 * @cancellable: (nullable): a cancellable
 * @callback: (scope async) (closure user_data): called when the last hop is
 *   up or one failed
 * @user_data: data for @callback
 *
 * Connects hop by hop: the first hop from this process, each later one
 * from the context the previous hop made (its
 * [property@Mitogen.ConnectionOptions:via] is set to that context). The
 * kind of each element picks the method: [class@Mitogen.SshOptions] for
 * ssh, [class@Mitogen.SudoOptions] for sudo, [class@Mitogen.SuOptions]
 * for su, [class@Mitogen.DoasOptions] for doas, plain
 * [class@Mitogen.ConnectionOptions] for local. @callback runs in the
 * thread-default main context of the caller.
 *
 * Since: 1.0
 */
void
mitogen_router_connect_hops_async (MitogenRouter       *self,
                                   GList               *hops,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  GTask *task;
  ConnectState *state;

  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_router_connect_hops_async);
  if (hops == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "No hops to connect");
      g_object_unref (task);
      return;
    }

  state = g_new0 (ConnectState, 1);
  state->hops = g_ptr_array_new_with_free_func (g_object_unref);
  g_task_set_task_data (task, state, connect_state_free);
  for (GList *l = hops; l != NULL; l = l->next)
    {
      if (!MITOGEN_IS_CONNECTION_OPTIONS (l->data))
        {
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                   "Hop %u is not a MitogenConnectionOptions", state->hops->len + 1);
          g_object_unref (task);
          return;
        }
      g_ptr_array_add (state->hops, g_object_ref (l->data));
    }
  connect_next (task);
}

/**
 * mitogen_router_connect_hops_finish:
 * @self: a router
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Router.connect_hops_async].
 *
 * Returns: (transfer full): the context of the last hop, or %NULL with the
 *   error of the hop that failed (its message names the hop)
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_connect_hops_finish (MitogenRouter  *self,
                                    GAsyncResult   *result,
                                    GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * mitogen_router_connect_hops:
 * @self: a router
 * @hops: (element-type MitogenConnectionOptions): the hops, first first
 * @cancellable: (nullable): a cancellable
 * @error: return location for a #GError
 *
 * Connects as [method@Mitogen.Router.connect_hops_async] does and waits,
 * blocking the calling thread.
 *
 * Returns: (transfer full): the context of the last hop, or %NULL with
 *   @error set
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_connect_hops (MitogenRouter  *self,
                             GList          *hops,
                             GCancellable   *cancellable,
                             GError        **error)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return _mitogen_router_run_sync (self, hops,
                                   (MitogenRouterAsyncFunc) mitogen_router_connect_hops_async,
                                   mitogen_router_connect_hops_finish, cancellable, error);
}

/**
 * mitogen_router_connect_target_async:
 * @self: a router
 * @target: a target string, see [func@Mitogen.target_parse]
 * @defaults: (nullable): options every hop starts from
 * @cancellable: (nullable): a cancellable
 * @callback: (scope async) (closure user_data): called when the last hop is
 *   up or one failed
 * @user_data: data for @callback
 *
 * Parses @target and connects its hops as
 * [method@Mitogen.Router.connect_hops_async] does, e.g.
 * `ssh:admin@web1/sudo:postgres`.
 *
 * Since: 1.0
 */
void
mitogen_router_connect_target_async (MitogenRouter            *self,
                                     const char               *target,
                                     MitogenConnectionOptions *defaults,
                                     GCancellable             *cancellable,
                                     GAsyncReadyCallback       callback,
                                     gpointer                  user_data)
{
  GList *hops;
  GError *error = NULL;

  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (target != NULL);
  g_return_if_fail (defaults == NULL || MITOGEN_IS_CONNECTION_OPTIONS (defaults));

  hops = mitogen_target_parse (target, defaults, &error);
  if (hops == NULL)
    {
      GTask *task = g_task_new (self, cancellable, callback, user_data);

      g_task_set_source_tag (task, mitogen_router_connect_hops_async);
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  mitogen_router_connect_hops_async (self, hops, cancellable, callback, user_data);
  g_list_free_full (hops, g_object_unref);
}

/**
 * mitogen_router_connect_target_finish:
 * @self: a router
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Router.connect_target_async].
 *
 * Returns: (transfer full): the context of the last hop, or %NULL with
 *   @error set: %G_IO_ERROR_INVALID_ARGUMENT or %G_IO_ERROR_NOT_SUPPORTED
 *   for a bad target, else the error of the hop that failed
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_connect_target_finish (MitogenRouter  *self,
                                      GAsyncResult   *result,
                                      GError        **error)
{
  return mitogen_router_connect_hops_finish (self, result, error);
}

/**
 * mitogen_router_connect_target:
 * @self: a router
 * @target: a target string, see [func@Mitogen.target_parse]
 * @defaults: (nullable): options every hop starts from
 * @cancellable: (nullable): a cancellable
 * @error: return location for a #GError
 *
 * Connects as [method@Mitogen.Router.connect_target_async] does and waits,
 * blocking the calling thread.
 *
 * Returns: (transfer full): the context of the last hop, or %NULL with
 *   @error set
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_connect_target (MitogenRouter             *self,
                               const char                *target,
                               MitogenConnectionOptions  *defaults,
                               GCancellable              *cancellable,
                               GError                   **error)
{
  g_autolist(MitogenConnectionOptions) hops = NULL;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);
  g_return_val_if_fail (target != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  hops = mitogen_target_parse (target, defaults, error);
  if (hops == NULL)
    return NULL;
  return mitogen_router_connect_hops (self, hops, cancellable, error);
}
