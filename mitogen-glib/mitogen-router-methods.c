/* mitogen-router-methods.c: the ssh, sudo, su and doas connection methods
 *
 * Each method snapshots its options into a MitogenMethodLaunch in the
 * caller's thread (the program, its arguments and how to talk to it), and
 * mitogen-connection.c runs it with the boot command appended.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "mitogen-connection-private.h"
#include "mitogen-context.h"
#include "mitogen-doas-options.h"
#include "mitogen-error.h"
#include "mitogen-log.h"
#include "mitogen-router-private.h"
#include "mitogen-ssh-options.h"
#include "mitogen-su-options.h"
#include "mitogen-sudo-options.h"

/* Names end up on other programs' command lines: nothing that could be
 * read as an option or split into words. */
static gboolean
check_word (const char  *what,
            const char  *value,
            GError     **error)
{
  if (value == NULL || *value == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "The %s is not set", what);
      return FALSE;
    }
  if (value[0] == '-')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "The %s “%s” must not start with '-'", what, value);
      return FALSE;
    }
  for (const char *p = value; *p != '\0'; p++)
    if ((guchar) *p <= ' ' || *p == 0x7f)
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                     "The %s “%s” contains white space or a control character", what, value);
        return FALSE;
      }
  return TRUE;
}

/* The password is typed followed by a newline: one line only. */
static gboolean
check_password (const char  *password,
                GError     **error)
{
  if (password != NULL && strpbrk (password, "\r\n") != NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "The password contains a line break");
      return FALSE;
    }
  return TRUE;
}

static void
add (GPtrArray  *argv,
     const char *arg)
{
  g_ptr_array_add (argv, g_strdup (arg));
}

static void
add_option (GPtrArray  *argv,
            const char *format,
            ...) G_GNUC_PRINTF (2, 3);

/* One `-o Name=value` pair. */
static void
add_option (GPtrArray  *argv,
            const char *format,
            ...)
{
  va_list args;

  va_start (args, format);
  add (argv, "-o");
  g_ptr_array_add (argv, g_strdup_vprintf (format, args));
  va_end (args);
}

static void
add_all (GPtrArray          *argv,
         const char * const *args)
{
  for (gsize i = 0; args != NULL && args[i] != NULL; i++)
    add (argv, args[i]);
}

static char **
finish_argv (GPtrArray *argv)
{
  g_ptr_array_add (argv, NULL);
  return (char **) g_ptr_array_free (argv, FALSE);
}

/* A file name as an ssh_config value: quoted if it has spaces. */
static char *
ssh_config_value (const char *value)
{
  if (strpbrk (value, " \t") == NULL)
    return g_strdup (value);
  return g_strdup_printf ("\"%s\"", value);
}

static MitogenMethodLaunch *
launch_new (const char               *method,
            MitogenConnectionOptions *options,
            const char               *password)
{
  MitogenMethodLaunch *launch = g_new0 (MitogenMethodLaunch, 1);

  launch->method = g_strdup (method);
  launch->password = g_strdup (password);
  launch->python = g_strdup (mitogen_connection_options_get_python_path (options));
  return launch;
}

/* ssh [USER'S ARGS] [OUR -o OPTIONS] [-l USER] [-p PORT] -- HOST 'PYTHON -c STAGE1'
 *
 * OpenSSH keeps the first value it sees for an option, from the command
 * line first, then ssh_config files: the user's arguments go first, and
 * we pass only what we must set or what was set through properties. */
static MitogenMethodLaunch *
ssh_launch_new (MitogenSshOptions  *options,
                GError            **error)
{
  MitogenConnectionOptions *base = MITOGEN_CONNECTION_OPTIONS (options);
  const char *hostname = mitogen_ssh_options_get_hostname (options);
  const char *username = mitogen_ssh_options_get_username (options);
  const char *identity = mitogen_ssh_options_get_identity_file (options);
  const char *password = mitogen_ssh_options_get_password (options);
  const char *known_hosts = mitogen_ssh_options_get_known_hosts_file (options);
  guint port = mitogen_ssh_options_get_port (options);
  MitogenHostKeyPolicy policy = mitogen_ssh_options_get_host_key_policy (options);
  double timeout = mitogen_connection_options_get_connect_timeout (base);
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  MitogenMethodLaunch *launch;

  if (!check_word ("host name", hostname, error) ||
      (username != NULL && !check_word ("user name", username, error)) ||
      !check_password (password, error))
    return NULL;

  add (argv, mitogen_ssh_options_get_ssh_path (options));
  add_all (argv, mitogen_ssh_options_get_ssh_args (options));

  /* Login banners and warnings stay out of the diagnostics; errors stay
   * in. */
  if (mitogen_connection_options_get_debug (base) || mitogen_get_debug ())
    add (argv, "-v");
  else
    add_option (argv, "LogLevel=ERROR");
  /* Without a password nobody answers prompts: ssh must not ask. With
   * one, a single attempt (a second prompt fails the connection anyway). */
  if (password == NULL)
    add_option (argv, "BatchMode=yes");
  else
    add_option (argv, "NumberOfPasswordPrompts=1");
  add_option (argv, "ConnectTimeout=%d", (int) MAX (1.0, ceil (timeout)));
  switch (policy)
    {
    case MITOGEN_HOST_KEY_POLICY_IGNORE:
      add_option (argv, "StrictHostKeyChecking=no");
      add_option (argv, "UserKnownHostsFile=/dev/null");
      add_option (argv, "GlobalKnownHostsFile=/dev/null");
      break;
    case MITOGEN_HOST_KEY_POLICY_ACCEPT_NEW:
      add_option (argv, "StrictHostKeyChecking=accept-new");
      break;
    case MITOGEN_HOST_KEY_POLICY_ENFORCE:
    default:
      add_option (argv, "StrictHostKeyChecking=yes");
      break;
    }
  if (known_hosts != NULL && policy != MITOGEN_HOST_KEY_POLICY_IGNORE)
    {
      g_autofree char *value = ssh_config_value (known_hosts);

      add_option (argv, "UserKnownHostsFile=%s", value);
    }
  if (identity != NULL)
    {
      /* That key only: not the agent's, not ~/.ssh/id_*. */
      add_option (argv, "IdentitiesOnly=yes");
      add_option (argv, "IdentityAgent=none");
      add (argv, "-i");
      add (argv, identity);
    }
  if (mitogen_ssh_options_get_compression (options))
    add (argv, "-C");
  if (mitogen_ssh_options_get_keepalive_interval (options) >= 0)
    add_option (argv, "ServerAliveInterval=%d", mitogen_ssh_options_get_keepalive_interval (options));
  if (mitogen_ssh_options_get_keepalive_count (options) >= 0)
    add_option (argv, "ServerAliveCountMax=%d", mitogen_ssh_options_get_keepalive_count (options));
  if (username != NULL)
    {
      add (argv, "-l");
      add (argv, username);
    }
  if (port != 0)
    {
      add (argv, "-p");
      g_ptr_array_add (argv, g_strdup_printf ("%u", port));
    }
  add (argv, "--");
  add (argv, hostname);

  launch = launch_new ("ssh", base, password);
  launch->argv = finish_argv (g_steal_pointer (&argv));
  launch->quote_boot = TRUE;
  /* A PTY only when someone may have to type: ssh reads passwords from
   * /dev/tty, never from its stdin. */
  launch->mode = password != NULL ? MITOGEN_SPAWN_HYBRID : MITOGEN_SPAWN_PIPES;
  launch->prompt_method = MITOGEN_PROMPT_METHOD_SSH;
  launch->default_name = port ? g_strdup_printf ("ssh.%s:%u", hostname, port)
                              : g_strdup_printf ("ssh.%s", hostname);
  if (port == 0)
    launch->where = g_strdup (hostname);
  else if (strchr (hostname, ':') != NULL)
    launch->where = g_strdup_printf ("[%s]:%u", hostname, port);  /* IPv6 */
  else
    launch->where = g_strdup_printf ("%s:%u", hostname, port);
  return launch;
}

/* A prompt no program prints by accident, in any language. */
static char *
random_prompt (void)
{
  return g_strdup_printf ("mitogen-glib-password-%08x%08x%08x%08x:",
                          g_random_int (), g_random_int (), g_random_int (), g_random_int ());
}

/* sudo [USER'S ARGS] -u USER [-E] [-H] [-i] [-r ROLE] [-t TYPE] -p TOKEN -- PYTHON -c STAGE1 */
static MitogenMethodLaunch *
sudo_launch_new (MitogenSudoOptions  *options,
                 GError             **error)
{
  MitogenConnectionOptions *base = MITOGEN_CONNECTION_OPTIONS (options);
  const char *username = mitogen_sudo_options_get_username (options);
  const char *password = mitogen_sudo_options_get_password (options);
  const char *role = mitogen_sudo_options_get_selinux_role (options);
  const char *type = mitogen_sudo_options_get_selinux_type (options);
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  MitogenMethodLaunch *launch;

  if (!check_word ("user name", username, error) ||
      (role != NULL && !check_word ("SELinux role", role, error)) ||
      (type != NULL && !check_word ("SELinux type", type, error)) ||
      !check_password (password, error))
    return NULL;

  launch = launch_new ("sudo", base, password);
  launch->prompt_token = random_prompt ();

  add (argv, mitogen_sudo_options_get_sudo_path (options));
  add_all (argv, mitogen_sudo_options_get_sudo_args (options));
  add (argv, "-u");
  add (argv, username);
  if (mitogen_sudo_options_get_preserve_env (options))
    add (argv, "-E");
  if (mitogen_sudo_options_get_set_home (options))
    add (argv, "-H");
  if (mitogen_sudo_options_get_login (options))
    add (argv, "-i");
  if (role != NULL)
    {
      add (argv, "-r");
      add (argv, role);
    }
  if (type != NULL)
    {
      add (argv, "-t");
      add (argv, type);
    }
  add (argv, "-p");
  add (argv, launch->prompt_token);
  add (argv, "--");

  launch->argv = finish_argv (g_steal_pointer (&argv));
  launch->mode = MITOGEN_SPAWN_HYBRID;
  launch->prompt_method = MITOGEN_PROMPT_METHOD_SUDO;
  launch->default_name = g_strdup_printf ("sudo.%s", username);
  launch->where = g_strdup_printf ("this machine for %s (sudo)", username);
  launch->on_this_machine = TRUE;
  return launch;
}

/* su [-l] -c 'PYTHON -c STAGE1' USER, all on one PTY: su wants a
 * terminal for the password, and the protocol then shares it. */
static MitogenMethodLaunch *
su_launch_new (MitogenSuOptions  *options,
               GError           **error)
{
  MitogenConnectionOptions *base = MITOGEN_CONNECTION_OPTIONS (options);
  const char *username = mitogen_su_options_get_username (options);
  const char *password = mitogen_su_options_get_password (options);
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  MitogenMethodLaunch *launch;

  if (!check_word ("user name", username, error) || !check_password (password, error))
    return NULL;

  add (argv, mitogen_su_options_get_su_path (options));
  if (mitogen_su_options_get_login (options))
    add (argv, "-l");
  add (argv, username);
  add (argv, "-c");

  launch = launch_new ("su", base, password);
  launch->argv = finish_argv (g_steal_pointer (&argv));
  launch->quote_boot = TRUE;
  launch->mode = MITOGEN_SPAWN_PTY;
  launch->prompt_method = MITOGEN_PROMPT_METHOD_SU;
  launch->default_name = g_strdup_printf ("su.%s", username);
  launch->where = g_strdup_printf ("this machine for %s (su)", username);
  launch->on_this_machine = TRUE;
  return launch;
}

/* doas -u USER -- PYTHON -c STAGE1 */
static MitogenMethodLaunch *
doas_launch_new (MitogenDoasOptions  *options,
                 GError             **error)
{
  MitogenConnectionOptions *base = MITOGEN_CONNECTION_OPTIONS (options);
  const char *username = mitogen_doas_options_get_username (options);
  const char *password = mitogen_doas_options_get_password (options);
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  MitogenMethodLaunch *launch;

  if (!check_word ("user name", username, error) || !check_password (password, error))
    return NULL;

  add (argv, mitogen_doas_options_get_doas_path (options));
  add (argv, "-u");
  add (argv, username);
  add (argv, "--");

  launch = launch_new ("doas", base, password);
  launch->argv = finish_argv (g_steal_pointer (&argv));
  launch->mode = MITOGEN_SPAWN_HYBRID;
  launch->prompt_method = MITOGEN_PROMPT_METHOD_DOAS;
  launch->default_name = g_strdup_printf ("doas.%s", username);
  launch->where = g_strdup_printf ("this machine for %s (doas)", username);
  launch->on_this_machine = TRUE;
  return launch;
}

typedef MitogenMethodLaunch *(*LaunchFunc) (MitogenConnectionOptions *options,
                                            GError                  **error);

static void
start_method (MitogenRouter            *self,
              MitogenConnectionOptions *options,
              LaunchFunc                launch_func,
              gpointer                  source_tag,
              GCancellable             *cancellable,
              GAsyncReadyCallback       callback,
              gpointer                  user_data)
{
  g_autoptr(MitogenContext) via = mitogen_connection_options_get_via (options);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  MitogenMethodLaunch *launch;
  GError *error = NULL;

  g_task_set_source_tag (task, source_tag);

  /* Checked here in both cases: a bad name fails the same way, whoever
   * would have run the program. */
  launch = launch_func (options, &error);
  if (launch == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  if (via != NULL)
    {
      _mitogen_method_launch_free (launch);
      _mitogen_connection_start_via (self, options, via, task);
      return;
    }
  _mitogen_connection_start (self, options, launch, task);
}

static MitogenContext *
finish_method (MitogenRouter  *self,
               GAsyncResult   *result,
               gpointer        source_tag,
               GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* The sync forms run the async ones on a private main context. */
#define run_sync(self, options, async_func, finish_func, cancellable, error) \
  _mitogen_router_run_sync ((self), (options), (MitogenRouterAsyncFunc) (async_func), \
                            (MitogenRouterFinishFunc) (finish_func), (cancellable), (error))

/* ssh */

/**
 * mitogen_router_ssh_async:
 * @self: a router
 * @options: where and how to connect
 * @cancellable: (nullable): a cancellable
 * @callback: (scope async) (closure user_data): called when the child is up
 *   or the connection failed
 * @user_data: data for @callback
 *
 * Connects to a host with the OpenSSH client and boots the child runtime
 * in its Python (see [class@Mitogen.SshOptions]). If
 * [property@Mitogen.ConnectionOptions:via] is set, that context runs ssh.
 * @callback runs in the thread-default main context of the caller.
 *
 * Since: 1.0
 */
void
mitogen_router_ssh_async (MitogenRouter       *self,
                          MitogenSshOptions   *options,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (MITOGEN_IS_SSH_OPTIONS (options));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  start_method (self, MITOGEN_CONNECTION_OPTIONS (options), (LaunchFunc) ssh_launch_new,
                mitogen_router_ssh_async, cancellable, callback, user_data);
}

/**
 * mitogen_router_ssh_finish:
 * @self: a router
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Router.ssh_async].
 *
 * Returns: (transfer full): the new context, or %NULL with
 *   %MITOGEN_ERROR_CONNECT (host unreachable, Python not found on the
 *   host, authentication failed for another reason), %MITOGEN_ERROR_HOST_KEY
 *   (unknown or changed host key under the policy),
 *   %MITOGEN_ERROR_PASSWORD_REQUIRED (the server wants a password and none
 *   was given), %MITOGEN_ERROR_BAD_PASSWORD, %MITOGEN_ERROR_CONNECT_TIMEOUT,
 *   %G_IO_ERROR_INVALID_ARGUMENT (bad options) or %G_IO_ERROR_CANCELLED
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_ssh_finish (MitogenRouter  *self,
                           GAsyncResult   *result,
                           GError        **error)
{
  return finish_method (self, result, mitogen_router_ssh_async, error);
}

/**
 * mitogen_router_ssh:
 * @self: a router
 * @options: where and how to connect
 * @cancellable: (nullable): a cancellable
 * @error: return location for a #GError
 *
 * Connects as [method@Mitogen.Router.ssh_async] does and waits for it,
 * blocking the calling thread; the connect timeout of @options bounds the
 * wait.
 *
 * Returns: (transfer full): the new context, or %NULL with @error set (see
 *   [method@Mitogen.Router.ssh_finish])
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_ssh (MitogenRouter      *self,
                    MitogenSshOptions  *options,
                    GCancellable       *cancellable,
                    GError            **error)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);
  g_return_val_if_fail (MITOGEN_IS_SSH_OPTIONS (options), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return run_sync (self, options, mitogen_router_ssh_async,
                   mitogen_router_ssh_finish, cancellable, error);
}

/* sudo */

/**
 * mitogen_router_sudo_async:
 * @self: a router
 * @options: (nullable): whom to become, or %NULL for root without a
 *   password
 * @cancellable: (nullable): a cancellable
 * @callback: (scope async) (closure user_data): called when the child is up
 *   or the connection failed
 * @user_data: data for @callback
 *
 * Starts Python as another account through sudo and boots the child
 * runtime in it (see [class@Mitogen.SudoOptions]). If
 * [property@Mitogen.ConnectionOptions:via] is set, that context runs sudo.
 * @callback runs in the thread-default main context of the caller.
 *
 * Since: 1.0
 */
void
mitogen_router_sudo_async (MitogenRouter       *self,
                           MitogenSudoOptions  *options,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(MitogenSudoOptions) defaults = NULL;

  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (options == NULL || MITOGEN_IS_SUDO_OPTIONS (options));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  if (options == NULL)
    options = defaults = mitogen_sudo_options_new (NULL);
  start_method (self, MITOGEN_CONNECTION_OPTIONS (options), (LaunchFunc) sudo_launch_new,
                mitogen_router_sudo_async, cancellable, callback, user_data);
}

/**
 * mitogen_router_sudo_finish:
 * @self: a router
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Router.sudo_async].
 *
 * Returns: (transfer full): the new context, or %NULL with
 *   %MITOGEN_ERROR_PASSWORD_REQUIRED, %MITOGEN_ERROR_BAD_PASSWORD,
 *   %MITOGEN_ERROR_CONNECT (sudo or Python not found, sudo refused the
 *   command: the message carries sudo's words),
 *   %MITOGEN_ERROR_CONNECT_TIMEOUT, %G_IO_ERROR_INVALID_ARGUMENT or
 *   %G_IO_ERROR_CANCELLED
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_sudo_finish (MitogenRouter  *self,
                            GAsyncResult   *result,
                            GError        **error)
{
  return finish_method (self, result, mitogen_router_sudo_async, error);
}

/**
 * mitogen_router_sudo:
 * @self: a router
 * @options: (nullable): whom to become, or %NULL for root without a
 *   password
 * @cancellable: (nullable): a cancellable
 * @error: return location for a #GError
 *
 * Connects as [method@Mitogen.Router.sudo_async] does and waits for it,
 * blocking the calling thread.
 *
 * Returns: (transfer full): the new context, or %NULL with @error set (see
 *   [method@Mitogen.Router.sudo_finish])
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_sudo (MitogenRouter       *self,
                     MitogenSudoOptions  *options,
                     GCancellable        *cancellable,
                     GError             **error)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);
  g_return_val_if_fail (options == NULL || MITOGEN_IS_SUDO_OPTIONS (options), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return run_sync (self, options, mitogen_router_sudo_async,
                   mitogen_router_sudo_finish, cancellable, error);
}

/* su */

/**
 * mitogen_router_su_async:
 * @self: a router
 * @options: (nullable): whom to become, or %NULL for root without a
 *   password
 * @cancellable: (nullable): a cancellable
 * @callback: (scope async) (closure user_data): called when the child is up
 *   or the connection failed
 * @user_data: data for @callback
 *
 * Starts Python as another account through su and boots the child runtime
 * in it (see [class@Mitogen.SuOptions]). If
 * [property@Mitogen.ConnectionOptions:via] is set, that context runs su.
 * @callback runs in the thread-default main context of the caller.
 *
 * Since: 1.0
 */
void
mitogen_router_su_async (MitogenRouter       *self,
                         MitogenSuOptions    *options,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(MitogenSuOptions) defaults = NULL;

  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (options == NULL || MITOGEN_IS_SU_OPTIONS (options));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  if (options == NULL)
    options = defaults = mitogen_su_options_new (NULL);
  start_method (self, MITOGEN_CONNECTION_OPTIONS (options), (LaunchFunc) su_launch_new,
                mitogen_router_su_async, cancellable, callback, user_data);
}

/**
 * mitogen_router_su_finish:
 * @self: a router
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Router.su_async].
 *
 * Returns: (transfer full): the new context, or %NULL with
 *   %MITOGEN_ERROR_PASSWORD_REQUIRED, %MITOGEN_ERROR_BAD_PASSWORD,
 *   %MITOGEN_ERROR_CONNECT, %MITOGEN_ERROR_CONNECT_TIMEOUT,
 *   %G_IO_ERROR_INVALID_ARGUMENT or %G_IO_ERROR_CANCELLED
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_su_finish (MitogenRouter  *self,
                          GAsyncResult   *result,
                          GError        **error)
{
  return finish_method (self, result, mitogen_router_su_async, error);
}

/**
 * mitogen_router_su:
 * @self: a router
 * @options: (nullable): whom to become, or %NULL for root without a
 *   password
 * @cancellable: (nullable): a cancellable
 * @error: return location for a #GError
 *
 * Connects as [method@Mitogen.Router.su_async] does and waits for it,
 * blocking the calling thread.
 *
 * Returns: (transfer full): the new context, or %NULL with @error set (see
 *   [method@Mitogen.Router.su_finish])
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_su (MitogenRouter     *self,
                   MitogenSuOptions  *options,
                   GCancellable      *cancellable,
                   GError           **error)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);
  g_return_val_if_fail (options == NULL || MITOGEN_IS_SU_OPTIONS (options), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return run_sync (self, options, mitogen_router_su_async,
                   mitogen_router_su_finish, cancellable, error);
}

/* doas */

/**
 * mitogen_router_doas_async:
 * @self: a router
 * @options: (nullable): whom to become, or %NULL for root without a
 *   password
 * @cancellable: (nullable): a cancellable
 * @callback: (scope async) (closure user_data): called when the child is up
 *   or the connection failed
 * @user_data: data for @callback
 *
 * Starts Python as another account through doas and boots the child
 * runtime in it (see [class@Mitogen.DoasOptions]). If
 * [property@Mitogen.ConnectionOptions:via] is set, that context runs doas.
 * @callback runs in the thread-default main context of the caller.
 *
 * Since: 1.0
 */
void
mitogen_router_doas_async (MitogenRouter       *self,
                           MitogenDoasOptions  *options,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(MitogenDoasOptions) defaults = NULL;

  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (options == NULL || MITOGEN_IS_DOAS_OPTIONS (options));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  if (options == NULL)
    options = defaults = mitogen_doas_options_new (NULL);
  start_method (self, MITOGEN_CONNECTION_OPTIONS (options), (LaunchFunc) doas_launch_new,
                mitogen_router_doas_async, cancellable, callback, user_data);
}

/**
 * mitogen_router_doas_finish:
 * @self: a router
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Router.doas_async].
 *
 * Returns: (transfer full): the new context, or %NULL with
 *   %MITOGEN_ERROR_PASSWORD_REQUIRED, %MITOGEN_ERROR_BAD_PASSWORD,
 *   %MITOGEN_ERROR_CONNECT, %MITOGEN_ERROR_CONNECT_TIMEOUT,
 *   %G_IO_ERROR_INVALID_ARGUMENT or %G_IO_ERROR_CANCELLED
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_doas_finish (MitogenRouter  *self,
                            GAsyncResult   *result,
                            GError        **error)
{
  return finish_method (self, result, mitogen_router_doas_async, error);
}

/**
 * mitogen_router_doas:
 * @self: a router
 * @options: (nullable): whom to become, or %NULL for root without a
 *   password
 * @cancellable: (nullable): a cancellable
 * @error: return location for a #GError
 *
 * Connects as [method@Mitogen.Router.doas_async] does and waits for it,
 * blocking the calling thread.
 *
 * Returns: (transfer full): the new context, or %NULL with @error set (see
 *   [method@Mitogen.Router.doas_finish])
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_doas (MitogenRouter       *self,
                     MitogenDoasOptions  *options,
                     GCancellable        *cancellable,
                     GError             **error)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);
  g_return_val_if_fail (options == NULL || MITOGEN_IS_DOAS_OPTIONS (options), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return run_sync (self, options, mitogen_router_doas_async,
                   mitogen_router_doas_finish, cancellable, error);
}
