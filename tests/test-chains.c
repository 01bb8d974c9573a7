/* test-chains.c: multi-hop connections (via=) against the real programs of
 * tests/system: ssh -> sudo -> ssh with both runtimes as the first hop,
 * the same chain as a target string, a middle hop killed mid-call,
 * passwords typed by an intermediate, su and doas as later hops, a far
 * host only the middle host of two network namespaces can reach, and
 * forks of a warm context.
 *
 * Everything runs on this machine, so the test (root) checks what the hops
 * report against /proc: which process owns the TCP connection a far hop
 * came in on, and who its ancestors are.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <mitogen-glib.h>

#include "test-time-scale.h"

#define UPSTREAM_CORE "/usr/lib/python3/dist-packages/mitogen/core.py"
#define HELPERS "mitogen_chain_helpers"
#define CALL_TIMEOUT (20 * G_USEC_PER_SEC)
#define CONNECT_TIMEOUT 20.0
/* The master's own bound on one connection, via= hops included (their
 * connect timeout runs in the intermediate). */
#define CONNECT_WAIT_SECONDS 45
#define JOIN_TIMEOUT (20 * G_USEC_PER_SEC)

/* The system environment (tests/system/README.md), as test-connect.c
 * reads it. */

typedef struct
{
  GHashTable *values;      /* NAME -> value, STATE/env */
  GHashTable *passwords;   /* user -> password */
  char *skip_reason;
  GHashTable *netns;       /* NAME -> value, STATE/netns-env */
  char *netns_skip_reason;
} SystemEnv;

static SystemEnv system_env;

static const char *
env_get (const char *name)
{
  return system_env.values ? g_hash_table_lookup (system_env.values, name) : NULL;
}

static const char *
netns_get (const char *name)
{
  return system_env.netns ? g_hash_table_lookup (system_env.netns, name) : NULL;
}

static guint
env_port (void)
{
  return (guint) g_ascii_strtoull (env_get ("SSHD_PORT"), NULL, 10);
}

static const char *
password_of (const char *user)
{
  return g_hash_table_lookup (system_env.passwords, user);
}

static GHashTable *
parse_key_values (const char *text,
                  char        separator,
                  gboolean    shell_quoted)
{
  GHashTable *values = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

  for (gsize i = 0; lines[i] != NULL; i++)
    {
      char *sep = strchr (lines[i], separator);
      char *value;

      if (lines[i][0] == '#' || sep == NULL)
        continue;
      *sep = '\0';
      value = shell_quoted ? g_shell_unquote (sep + 1, NULL) : g_strdup (sep + 1);
      if (value != NULL)
        g_hash_table_insert (values, g_strdup (g_strstrip (lines[i])), value);
    }
  return values;
}

static gboolean
port_open (const char *host,
           guint       port,
           GError    **error)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;

  g_socket_client_set_timeout (client, 2);
  connection = g_socket_client_connect_to_host (client, host, port, NULL, error);
  return connection != NULL;
}

static void
load_netns_env (const char *state)
{
  g_autofree char *path = g_build_filename (state, "netns-env", NULL);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;

  if (!g_file_get_contents (path, &text, NULL, &error))
    {
      system_env.netns_skip_reason =
        g_strdup_printf ("network namespaces unavailable: %s missing (run tests/system/netns-setup as root)", path);
      return;
    }
  system_env.netns = parse_key_values (text, '=', TRUE);
  if (netns_get ("NETNS_SKIPPED") != NULL)
    {
      system_env.netns_skip_reason =
        g_strdup_printf ("network namespaces unavailable: %s", netns_get ("NETNS_SKIPPED"));
      return;
    }
  if (netns_get ("MID_HOST") == NULL || netns_get ("FAR_HOST") == NULL || netns_get ("MID_PORT") == NULL ||
      netns_get ("FAR_PORT") == NULL || netns_get ("MID_FAR_ADDR") == NULL || netns_get ("ROOT_ADDR") == NULL)
    {
      system_env.netns_skip_reason = g_strdup_printf ("network namespaces: %s is incomplete (rerun "
                                                      "tests/system/netns-setup)", path);
      return;
    }
  if (!port_open (netns_get ("MID_HOST"), (guint) g_ascii_strtoull (netns_get ("MID_PORT"), NULL, 10), &error))
    {
      system_env.netns_skip_reason = g_strdup_printf ("network namespaces: the middle host's sshd does not "
                                                      "answer on %s (rerun tests/system/netns-setup): %s",
                                                      netns_get ("MID_HOST"), error->message);
      return;
    }
}

static void
load_system_env (void)
{
  const char *path = g_getenv ("MITOGEN_SYSTEM_ENV");
  g_autofree char *default_path = NULL;
  g_autofree char *text = NULL;
  g_autofree char *passwords = NULL;
  g_autofree char *state = NULL;
  g_autoptr(GError) error = NULL;

  if (path == NULL || *path == '\0')
    path = default_path = g_build_filename (g_getenv ("MITOGEN_SYSTEM_STATE") ? g_getenv ("MITOGEN_SYSTEM_STATE")
                                                                           : "/tmp/mitogen-glib-system",
                                            "env", NULL);
  if (geteuid () != 0)
    {
      system_env.skip_reason = g_strdup ("system tests must run as root (tests/system/README.md)");
      system_env.netns_skip_reason = g_strdup (system_env.skip_reason);
      return;
    }
  if (!g_file_get_contents (path, &text, NULL, &error))
    {
      system_env.skip_reason = g_strdup_printf ("system environment unavailable: %s missing: run "
                                                "tests/system/setup-all as root (%s)", path, error->message);
      system_env.netns_skip_reason = g_strdup (system_env.skip_reason);
      return;
    }
  system_env.values = parse_key_values (text, '=', TRUE);
  state = env_get ("MITOGEN_SYSTEM_STATE") ? g_strdup (env_get ("MITOGEN_SYSTEM_STATE")) : g_path_get_dirname (path);
  load_netns_env (state);

  for (const char *const *name = (const char *const[]) { "SSHD_HOST", "SSHD_PORT", "SSHD_PIDFILE", "PASSWORDS",
                                                         "USER_KEY", "KNOWN_HOSTS", "T1_USER_KEY",
                                                         "T1_KNOWN_HOSTS", NULL };
       *name != NULL; name++)
    if (env_get (*name) == NULL)
      {
        system_env.skip_reason = g_strdup_printf ("system environment %s is incomplete: no %s (rerun "
                                                  "tests/system/start-sshd)", path, *name);
        return;
      }
  if (!g_file_get_contents (env_get ("PASSWORDS"), &passwords, NULL, &error))
    {
      system_env.skip_reason = g_strdup_printf ("password file unreadable: %s", error->message);
      return;
    }
  system_env.passwords = parse_key_values (passwords, ':', FALSE);
  for (const char *const *user = (const char *const[]) { "mitogen-t1", "mitogen-t2", NULL }; *user != NULL; user++)
    if (getpwnam (*user) == NULL || password_of (*user) == NULL)
      {
        system_env.skip_reason = g_strdup_printf ("account %s missing (run tests/system/setup-accounts)", *user);
        return;
      }
  if (!port_open (env_get ("SSHD_HOST"), env_port (), &error))
    {
      system_env.skip_reason = g_strdup_printf ("sshd does not accept connections on %s:%u (run "
                                                "tests/system/start-sshd): %s",
                                                env_get ("SSHD_HOST"), env_port (), error->message);
      return;
    }
}

static gboolean
skip_without_system (void)
{
  if (system_env.skip_reason != NULL)
    {
      g_test_skip (system_env.skip_reason);
      return TRUE;
    }
  return FALSE;
}

static gboolean
skip_without_program (const char *program)
{
  g_autofree char *path = g_find_program_in_path (program);
  g_autofree char *sbin = g_strconcat ("/usr/sbin/", program, NULL);

  if (path == NULL && !g_file_test (sbin, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_autofree char *message = g_strdup_printf ("%s is not installed", program);

      g_test_skip (message);
      return TRUE;
    }
  return FALSE;
}

/* Runtimes of the first hop. */

typedef struct
{
  gboolean upstream;
} Mode;

static const Mode own_mode = { FALSE };
static const Mode upstream_mode = { TRUE };

static gboolean
skip_without_mode (const Mode *mode)
{
  if (mode != NULL && mode->upstream && !g_file_test (UPSTREAM_CORE, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("python3-mitogen is not installed (" UPSTREAM_CORE " missing)");
      return TRUE;
    }
  return FALSE;
}

static const char *
test_python (void)
{
  const char *python = g_getenv ("MITOGEN_TEST_PYTHON");

  return python && *python ? python : "python3";
}

/* Passwords the master typed (mitogen-connection.c logs each one). */

static guint passwords_typed;

static GLogWriterOutput
count_typed_writer (GLogLevelFlags   log_level,
                    const GLogField *fields,
                    gsize            n_fields,
                    gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "MESSAGE") && fields[i].length < 0 &&
        strstr (fields[i].value, "typed the password") != NULL)
      g_atomic_int_inc (&passwords_typed);
  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

/* A router per test, with the helper module on its search path; shut down
 * and joined, bounded. */

typedef struct
{
  MitogenRouter *router;
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  g_autofree char *helpers = g_test_build_filename (G_TEST_DIST, "data", "python", NULL);

  fixture->router = mitogen_router_new (NULL);
  mitogen_router_add_python_path (fixture->router, helpers);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  MitogenBroker *broker = mitogen_router_get_broker (fixture->router);

  mitogen_router_shutdown (fixture->router);
  g_assert_true (mitogen_broker_join (broker, JOIN_TIMEOUT));
  /* Deliver what the shutdown queued (disconnected signals) now, not
   * during the next test. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (&fixture->router);
}

/* Bounded waits on the default main context (where the router emits its
 * signals and where the async callbacks below run). */

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates until *done or @seconds passed; FALSE on time out. */
static gboolean
iterate_until (const gboolean *done,
               guint           seconds)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add_seconds (seconds, set_flag, &expired);

  while (!*done && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return *done;
}

static void
store_result (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

/* Waits for an operation started with @cancellable; at @seconds cancels
 * it, and fails the test if even that does not end it. */
static void
wait_result (GAsyncResult **result,
             GCancellable  *cancellable,
             guint          seconds,
             const char    *what)
{
  gboolean done = FALSE;
  gboolean expired = FALSE;
  guint id = g_timeout_add_seconds (seconds, set_flag, &expired);

  while (*result == NULL && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (*result != NULL)
    {
      if (!expired)
        g_source_remove (id);
      return;
    }
  g_test_message ("%s: no result after %u s: cancelling", what, seconds);
  g_cancellable_cancel (cancellable);
  id = g_timeout_add_seconds (10, set_flag, &done);
  while (*result == NULL && !done)
    g_main_context_iteration (NULL, TRUE);
  if (*result == NULL)
    g_error ("%s: still no result 10 s after cancelling it", what);
  if (!done)
    g_source_remove (id);
}

static void
start_connect (MitogenRouter            *router,
               MitogenConnectionOptions *options,
               GCancellable             *cancellable,
               GAsyncResult            **result)
{
  if (MITOGEN_IS_SSH_OPTIONS (options))
    mitogen_router_ssh_async (router, MITOGEN_SSH_OPTIONS (options), cancellable, store_result, result);
  else if (MITOGEN_IS_SUDO_OPTIONS (options))
    mitogen_router_sudo_async (router, MITOGEN_SUDO_OPTIONS (options), cancellable, store_result, result);
  else if (MITOGEN_IS_SU_OPTIONS (options))
    mitogen_router_su_async (router, MITOGEN_SU_OPTIONS (options), cancellable, store_result, result);
  else if (MITOGEN_IS_DOAS_OPTIONS (options))
    mitogen_router_doas_async (router, MITOGEN_DOAS_OPTIONS (options), cancellable, store_result, result);
  else
    mitogen_router_local_async (router, options, cancellable, store_result, result);
}

static MitogenContext *
finish_connect (MitogenRouter            *router,
                MitogenConnectionOptions *options,
                GAsyncResult             *result,
                GError                  **error)
{
  if (MITOGEN_IS_SSH_OPTIONS (options))
    return mitogen_router_ssh_finish (router, result, error);
  if (MITOGEN_IS_SUDO_OPTIONS (options))
    return mitogen_router_sudo_finish (router, result, error);
  if (MITOGEN_IS_SU_OPTIONS (options))
    return mitogen_router_su_finish (router, result, error);
  if (MITOGEN_IS_DOAS_OPTIONS (options))
    return mitogen_router_doas_finish (router, result, error);
  return mitogen_router_local_finish (router, result, error);
}

/* One hop, from this process or from the options' via context. */
static MitogenContext *
connect_hop (MitogenRouter  *router,
             gpointer        options,
             GError        **error)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;

  start_connect (router, options, cancellable, &result);
  wait_result (&result, cancellable, CONNECT_WAIT_SECONDS, "connecting");
  return finish_connect (router, options, result, error);
}

static MitogenContext *
connect_hops (MitogenRouter  *router,
              GList          *hops,
              GError        **error)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;

  mitogen_router_connect_hops_async (router, hops, cancellable, store_result, &result);
  wait_result (&result, cancellable, 2 * CONNECT_WAIT_SECONDS, "connecting hops");
  return mitogen_router_connect_hops_finish (router, result, error);
}

/* Options. */

static void
set_common (gpointer        options,
            MitogenContext *via)
{
  mitogen_connection_options_set_python_path (options, test_python ());
  mitogen_connection_options_set_connect_timeout (options, CONNECT_TIMEOUT);
  mitogen_connection_options_set_via (options, via);
}

/* Strict host key checking against @known_hosts, no ssh_config. */
static MitogenSshOptions *
ssh_options (const char     *host,
             guint           port,
             const char     *user,
             const char     *identity_file,
             const char     *known_hosts,
             MitogenContext *via)
{
  MitogenSshOptions *options = mitogen_ssh_options_new (host);
  const char *const args[] = { "-F", "/dev/null", "-o", "GlobalKnownHostsFile=/dev/null", NULL };

  mitogen_ssh_options_set_port (options, port);
  mitogen_ssh_options_set_username (options, user);
  mitogen_ssh_options_set_ssh_args (options, args);
  mitogen_ssh_options_set_known_hosts_file (options, known_hosts);
  mitogen_ssh_options_set_identity_file (options, identity_file);
  set_common (options, via);
  return options;
}

/* To the loopback sshd with the root-owned key. */
static MitogenSshOptions *
loopback_ssh (const char     *user,
              MitogenContext *via)
{
  return ssh_options (env_get ("SSHD_HOST"), env_port (), user, env_get ("USER_KEY"), env_get ("KNOWN_HOSTS"), via);
}

/* Calls. */

static GVariant *
call_helper (MitogenContext  *context,
             const char      *function,
             GVariant        *args,
             GError         **error)
{
  return mitogen_context_call_sync (context, HELPERS, NULL, function, args, NULL, CALL_TIMEOUT, NULL, error);
}

static gint64
lookup_int (GVariant   *dict,
            const char *key)
{
  gint64 value = -1;

  g_assert_true (g_variant_lookup (dict, key, "x", &value));
  return value;
}

static const char *
lookup_str (GVariant   *dict,
            const char *key)
{
  const char *value = NULL;

  g_assert_true (g_variant_lookup (dict, key, "&s", &value));
  return value;
}

/* The context's account is @user (getpass.getuser and os.getuid);
 * returns whoami()'s dictionary. */
static GVariant *
assert_user (MitogenContext *context,
             const char     *user)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) name = NULL;
  GVariant *facts;
  struct passwd *pw = getpwnam (user);

  g_assert_nonnull (pw);
  facts = call_helper (context, "whoami", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (facts, G_VARIANT_TYPE_VARDICT));
  g_assert_cmpstr (lookup_str (facts, "user"), ==, user);
  g_assert_cmpint (lookup_int (facts, "uid"), ==, pw->pw_uid);
  /* The standard library directly, without the helper module. */
  name = mitogen_context_call_sync (context, "getpass", NULL, "getuser", NULL, NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (name, NULL), ==, user);
  g_test_message ("%s: %s, pid %" G_GINT64_FORMAT ", ppid %" G_GINT64_FORMAT ", SSH_CLIENT '%s', %s runtime",
                  mitogen_context_get_name (context), user, lookup_int (facts, "pid"), lookup_int (facts, "ppid"),
                  lookup_str (facts, "ssh_client"), lookup_str (facts, "runtime"));
  return facts;
}

/* Processes, from /proc (all hops run on this machine). */

typedef struct
{
  gint64 pid;
  gint64 ppid;
  gint64 uid;
  char *name;
} ProcEntry;

static void
proc_entry_clear (gpointer data)
{
  g_free (((ProcEntry *) data)->name);
}

/* A context's own view of its ancestry (process_chain()), self first. */
static GArray *
remote_chain (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) list = call_helper (context, "process_chain", NULL, &error);
  GArray *chain = g_array_new (FALSE, TRUE, sizeof (ProcEntry));
  GVariantIter iter;
  GVariant *item;

  g_assert_no_error (error);
  g_array_set_clear_func (chain, proc_entry_clear);
  g_variant_iter_init (&iter, list);
  while ((item = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr(GVariant) dict = g_variant_get_variant (item);
      ProcEntry entry = { 0 };

      entry.pid = lookup_int (dict, "pid");
      entry.ppid = lookup_int (dict, "ppid");
      entry.uid = lookup_int (dict, "uid");
      entry.name = g_strdup (lookup_str (dict, "name"));
      g_array_append_val (chain, entry);
      g_variant_unref (item);
    }
  g_assert_cmpuint (chain->len, >, 1);
  return chain;
}

static char *
describe_chain (GArray *chain)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < chain->len; i++)
    {
      ProcEntry *entry = &g_array_index (chain, ProcEntry, i);

      g_string_append_printf (text, "%s%s[%" G_GINT64_FORMAT ", uid %" G_GINT64_FORMAT "]", i ? " <- " : "",
                              entry->name, entry->pid, entry->uid);
    }
  return g_string_free (text, FALSE);
}

/* Index of @pid in @chain, or -1. */
static int
chain_find (GArray *chain,
            gint64  pid)
{
  for (guint i = 0; i < chain->len; i++)
    if (g_array_index (chain, ProcEntry, i).pid == pid)
      return (int) i;
  return -1;
}

static gboolean
name_matches (const char        *name,
              const char *const *patterns)
{
  for (gsize i = 0; patterns[i] != NULL; i++)
    if (g_pattern_match_simple (patterns[i], name))
      return TRUE;
  return FALSE;
}

/* @chain reaches @ancestor, and every process strictly between has a name
 * matching one of the glob @between. */
static void
assert_chain_reaches (GArray            *chain,
                      gint64             ancestor,
                      const char *const *between)
{
  g_autofree char *text = describe_chain (chain);
  int at = chain_find (chain, ancestor);

  if (at < 1)
    g_error ("process %" G_GINT64_FORMAT " is not an ancestor in %s", ancestor, text);
  for (int i = 1; i < at; i++)
    if (!name_matches (g_array_index (chain, ProcEntry, i).name, between))
      g_error ("unexpected process between %" G_GINT64_FORMAT " and its ancestor %" G_GINT64_FORMAT ": %s",
               g_array_index (chain, ProcEntry, 0).pid, ancestor, text);
}

static gint64
proc_parent (gint64 pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%" G_GINT64_FORMAT "/status", pid);
  g_autofree char *text = NULL;
  const char *line;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (line = strstr (text, "\nPPid:")) == NULL)
    return -1;
  return g_ascii_strtoll (line + strlen ("\nPPid:"), NULL, 10);
}

static char *
proc_name (gint64 pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%" G_GINT64_FORMAT "/comm", pid);
  char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_strdup ("?");
  return g_strstrip (text);
}

static gboolean
proc_is_ancestor (gint64 ancestor,
                  gint64 pid)
{
  for (int depth = 0; pid > 1 && depth < 64; depth++)
    {
      pid = proc_parent (pid);
      if (pid == ancestor)
        return TRUE;
    }
  return FALSE;
}

static gint64
read_pidfile (const char *path)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  return g_ascii_strtoll (text, NULL, 10);
}

/* The inode of this network namespace's IPv4 TCP socket from local port
 * @local_port to remote port @remote_port, or 0. */
static guint64
tcp_socket_inode (guint local_port,
                  guint remote_port)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  g_assert_true (g_file_get_contents ("/proc/net/tcp", &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  for (gsize i = 1; lines[i] != NULL; i++)
    {
      unsigned int local = 0;
      unsigned int remote = 0;
      guint64 inode = 0;

      /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
      if (sscanf (lines[i], " %*u: %*x:%x %*x:%x %*x %*x:%*x %*x:%*x %*x %*u %*u %" G_GUINT64_FORMAT,
                  &local, &remote, &inode) == 3 &&
          local == local_port && remote == remote_port && inode != 0)
        return inode;
    }
  return 0;
}

/* The process holding socket @inode, or -1. */
static gint64
socket_owner (guint64 inode)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  g_autofree char *target = g_strdup_printf ("socket:[%" G_GUINT64_FORMAT "]", inode);
  const char *entry;

  g_assert_nonnull (proc);
  while ((entry = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *fd_path = NULL;
      g_autoptr(GDir) fds = NULL;
      const char *fd;

      if (!g_ascii_isdigit (entry[0]))
        continue;
      fd_path = g_build_filename ("/proc", entry, "fd", NULL);
      fds = g_dir_open (fd_path, 0, NULL);
      if (fds == NULL)
        continue;
      while ((fd = g_dir_read_name (fds)) != NULL)
        {
          g_autofree char *link_path = g_build_filename (fd_path, fd, NULL);
          g_autofree char *link = g_file_read_link (link_path, NULL);

          if (link != NULL && g_str_equal (link, target))
            return g_ascii_strtoll (entry, NULL, 10);
        }
    }
  return -1;
}

/* An ssh hop's SSH_CLIENT ("ADDRESS PORT SERVER-PORT") names its TCP
 * connection: the client end must belong to an ssh process that
 * descends from @spawner. */
static void
assert_ssh_spawned_by (GVariant *facts,
                       gint64    spawner)
{
  g_auto(GStrv) words = g_strsplit (lookup_str (facts, "ssh_client"), " ", -1);
  guint64 inode;
  gint64 owner;
  g_autofree char *name = NULL;

  g_assert_cmpuint (g_strv_length (words), ==, 3);
  g_assert_cmpstr (words[0], ==, env_get ("SSHD_HOST"));
  g_assert_cmpuint ((guint) g_ascii_strtoull (words[2], NULL, 10), ==, env_port ());
  inode = tcp_socket_inode ((guint) g_ascii_strtoull (words[1], NULL, 10), env_port ());
  g_assert_cmpuint (inode, !=, 0);
  owner = socket_owner (inode);
  g_assert_cmpint (owner, >, 0);
  name = proc_name (owner);
  g_assert_cmpstr (name, ==, "ssh");
  if (!proc_is_ancestor (spawner, owner))
    g_error ("the ssh client %" G_GINT64_FORMAT " of the connection %s does not descend from %" G_GINT64_FORMAT,
             owner, lookup_str (facts, "ssh_client"), spawner);
}

static gboolean
process_gone (gint64 pid)
{
  return kill ((pid_t) pid, 0) != 0 && errno == ESRCH;
}

/* Waits, bounded, for @pid to end (or only a zombie to remain). */
static gboolean
wait_process_gone (gint64 pid,
                   guint  seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%" G_GINT64_FORMAT "/stat", pid);
      g_autofree char *text = NULL;
      const char *paren;

      if (process_gone (pid))
        return TRUE;
      if (g_file_get_contents (path, &text, NULL, NULL) && (paren = strrchr (text, ')')) != NULL &&
          paren[1] == ' ' && paren[2] == 'Z')
        return TRUE;
      g_usleep (50000);
    }
  return FALSE;
}

/* 1. ssh -> sudo -> ssh */

typedef struct
{
  MitogenContext *hop[3];
  GVariant *facts[3];
} Chain;

static void
chain_clear (Chain *chain)
{
  for (guint i = 0; i < 3; i++)
    {
      g_clear_object (&chain->hop[i]);
      g_clear_pointer (&chain->facts[i], g_variant_unref);
    }
}

/* ssh mitogen-t1@127.0.0.1 (key) -> sudo root (NOPASSWD) -> ssh
 * mitogen-t2@127.0.0.1 (root's key and known_hosts); the runtime of the
 * first hop per @mode, later hops are booted by their intermediate. */
static void
connect_chain (MitogenRouter *router,
               const Mode    *mode,
               Chain         *chain)
{
  g_autoptr(MitogenSshOptions) first = loopback_ssh ("mitogen-t1", NULL);
  g_autoptr(MitogenSudoOptions) second = mitogen_sudo_options_new ("root");
  g_autoptr(MitogenSshOptions) third = NULL;
  g_autoptr(GError) error = NULL;

  if (mode->upstream)
    mitogen_connection_options_set_upstream_core_path (MITOGEN_CONNECTION_OPTIONS (first), UPSTREAM_CORE);
  chain->hop[0] = connect_hop (router, first, &error);
  g_assert_no_error (error);
  chain->facts[0] = assert_user (chain->hop[0], "mitogen-t1");

  set_common (second, chain->hop[0]);
  chain->hop[1] = connect_hop (router, second, &error);
  g_assert_no_error (error);
  chain->facts[1] = assert_user (chain->hop[1], "root");

  third = loopback_ssh ("mitogen-t2", chain->hop[1]);
  chain->hop[2] = connect_hop (router, third, &error);
  g_assert_no_error (error);
  chain->facts[2] = assert_user (chain->hop[2], "mitogen-t2");

  /* An intermediate boots children of its own kind. */
  for (guint i = 0; i < 3; i++)
    g_assert_cmpstr (lookup_str (chain->facts[i], "runtime"), ==, mode->upstream ? "upstream" : "own");
}

static void
assert_chain_shape (Chain *chain)
{
  static const char *const sshd_names[] = { "sshd", "bash", "sh", NULL };
  static const char *const sudo_names[] = { "sudo", NULL };
  gint64 sshd = read_pidfile (env_get ("SSHD_PIDFILE"));
  gint64 pid[3];
  g_autoptr(GArray) first = NULL;
  g_autoptr(GArray) second = NULL;
  g_autoptr(GArray) third = NULL;

  g_assert_cmpint (sshd, >, 0);
  for (guint i = 0; i < 3; i++)
    pid[i] = lookup_int (chain->facts[i], "pid");

  /* Hop 1: a session of the loopback sshd, over a connection of an ssh
   * this process started. */
  first = remote_chain (chain->hop[0]);
  g_assert_cmpint (g_array_index (first, ProcEntry, 0).pid, ==, pid[0]);
  assert_chain_reaches (first, sshd, sshd_names);
  assert_ssh_spawned_by (chain->facts[0], getpid ());

  /* Hop 2: root, run by sudo from hop 1. */
  second = remote_chain (chain->hop[1]);
  g_assert_cmpint (g_array_index (second, ProcEntry, 0).uid, ==, 0);
  assert_chain_reaches (second, pid[0], sudo_names);

  /* Hop 3: mitogen-t2 in a new session of the same sshd, not beneath
   * hop 1 or 2 but over a connection of an ssh that hop 2 started. */
  third = remote_chain (chain->hop[2]);
  g_assert_cmpint (g_array_index (third, ProcEntry, 0).uid, ==, getpwnam ("mitogen-t2")->pw_uid);
  assert_chain_reaches (third, sshd, sshd_names);
  g_assert_cmpint (chain_find (third, pid[0]), ==, -1);
  g_assert_cmpint (chain_find (third, pid[1]), ==, -1);
  assert_ssh_spawned_by (chain->facts[2], pid[1]);
  {
    g_autofree char *text = describe_chain (third);

    g_test_message ("far end: %s", text);
  }

  /* Names say the path; ids differ. */
  g_assert_true (g_str_has_prefix (mitogen_context_get_name (chain->hop[1]), mitogen_context_get_name (chain->hop[0])));
  g_assert_true (g_str_has_prefix (mitogen_context_get_name (chain->hop[2]), mitogen_context_get_name (chain->hop[1])));
  g_assert_cmpuint (mitogen_context_get_context_id (chain->hop[0]), !=, mitogen_context_get_context_id (chain->hop[1]));
  g_assert_cmpuint (mitogen_context_get_context_id (chain->hop[1]), !=, mitogen_context_get_context_id (chain->hop[2]));
}

static void
test_ssh_sudo_ssh (Fixture       *fixture,
                   gconstpointer  data)
{
  const Mode *mode = data;
  Chain chain = { 0 };

  g_test_summary ("ssh mitogen-t1 -> sudo root -> ssh mitogen-t2: each hop is the expected account, "
                  "the far end descends from the sshd over a connection of hop 2's ssh");
  if (skip_without_system () || skip_without_program ("sudo") || skip_without_mode (mode))
    return;
  connect_chain (fixture->router, mode, &chain);
  assert_chain_shape (&chain);
  chain_clear (&chain);
}

/* 2. The chain as a target string. */

static void
test_target_string (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(MitogenConnectionOptions) defaults = mitogen_connection_options_new ();
  g_autofree char *target = NULL;
  g_autolist(MitogenConnectionOptions) hops = NULL;
  g_autolist(MitogenContext) contexts = NULL;
  g_autoptr(MitogenContext) last = NULL;
  g_autoptr(GVariant) facts = NULL;
  g_autoptr(GError) error = NULL;
  const char *const args[] = { "-F", "/dev/null", "-o", "GlobalKnownHostsFile=/dev/null", NULL };
  g_autoptr(GHashTable) users = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint hop_index = 0;

  g_test_summary ("ssh:mitogen-t1@127.0.0.1:PORT/sudo:root/ssh:mitogen-t2@127.0.0.1:PORT: parsed with "
                  "defaults, adjusted, connected hop by hop; connect_target names the hop that failed, and "
                  "connects local/sudo:mitogen-t1/sudo:root from the defaults alone");
  if (skip_without_system () || skip_without_program ("sudo"))
    return;

  target = g_strdup_printf ("ssh:mitogen-t1@%s:%u/sudo:root/ssh:mitogen-t2@%s:%u", env_get ("SSHD_HOST"),
                            env_port (), env_get ("SSHD_HOST"), env_port ());
  mitogen_connection_options_set_python_path (defaults, test_python ());
  mitogen_connection_options_set_connect_timeout (defaults, CONNECT_TIMEOUT);

  /* The defaults carry only the shared settings: the identity file and
   * known_hosts are set on the parsed ssh hops. */
  hops = mitogen_target_parse (target, defaults, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_length (hops), ==, 3);
  for (GList *l = hops; l != NULL; l = l->next, hop_index++)
    {
      g_assert_cmpstr (mitogen_connection_options_get_python_path (l->data), ==, test_python ());
      g_assert_cmpfloat (mitogen_connection_options_get_connect_timeout (l->data), ==, CONNECT_TIMEOUT);
      g_assert_null (mitogen_connection_options_get_via (l->data));
      if (hop_index == 1)
        {
          g_assert_true (MITOGEN_IS_SUDO_OPTIONS (l->data));
          g_assert_cmpstr (mitogen_sudo_options_get_username (l->data), ==, "root");
          continue;
        }
      g_assert_true (MITOGEN_IS_SSH_OPTIONS (l->data));
      g_assert_cmpuint (mitogen_ssh_options_get_port (l->data), ==, env_port ());
      g_assert_cmpstr (mitogen_ssh_options_get_username (l->data), ==, hop_index ? "mitogen-t2" : "mitogen-t1");
      mitogen_ssh_options_set_identity_file (l->data, env_get ("USER_KEY"));
      mitogen_ssh_options_set_known_hosts_file (l->data, env_get ("KNOWN_HOSTS"));
      mitogen_ssh_options_set_ssh_args (l->data, args);
    }
  last = connect_hops (fixture->router, hops, &error);
  g_assert_no_error (error);
  facts = assert_user (last, "mitogen-t2");

  /* Every hop is a context of the router: one per account. */
  contexts = mitogen_router_list_contexts (fixture->router);
  g_assert_cmpuint (g_list_length (contexts), ==, 3);
  for (GList *l = contexts; l != NULL; l = l->next)
    {
      g_autoptr(GVariant) name = mitogen_context_call_sync (l->data, "getpass", NULL, "getuser", NULL, NULL,
                                                            CALL_TIMEOUT, NULL, &error);

      g_assert_no_error (error);
      g_hash_table_add (users, g_strdup (g_variant_get_string (name, NULL)));
    }
  g_assert_cmpuint (g_hash_table_size (users), ==, 3);
  g_assert_true (g_hash_table_contains (users, "mitogen-t1"));
  g_assert_true (g_hash_table_contains (users, "root"));
  g_assert_true (g_hash_table_contains (users, "mitogen-t2"));

  /* connect_target itself. The ssh hops of a bare target string use
   * root's own ssh settings: a first hop to a closed port fails the same
   * anywhere, and the error names the hop. */
  {
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(MitogenContext) none = NULL;
    g_autoptr(GSocket) socket = NULL;
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
    g_autoptr(GSocketAddress) bound = NULL;
    g_autofree char *closed_target = NULL;

    /* A port that was just free: bind, learn it, close. */
    socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
    g_assert_no_error (error);
    g_assert_true (g_socket_bind (socket, address, TRUE, &error));
    bound = g_socket_get_local_address (socket, &error);
    g_assert_no_error (error);
    g_socket_close (socket, NULL);
    closed_target = g_strdup_printf ("ssh:mitogen-t1@127.0.0.1:%u/sudo:root/ssh:mitogen-t2@%s:%u",
                                     g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)),
                                     env_get ("SSHD_HOST"), env_port ());

    mitogen_router_connect_target_async (fixture->router, closed_target, defaults, cancellable, store_result,
                                         &result);
    wait_result (&result, cancellable, CONNECT_WAIT_SECONDS, "connect_target");
    none = mitogen_router_connect_target_finish (fixture->router, result, &error);
    g_assert_null (none);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT);
    g_assert_true (g_str_has_prefix (error->message, "Hop 1 of 3 (ssh): "));
    g_assert_nonnull (strstr (error->message, "Connection refused"));
    g_clear_error (&error);

    /* A bad target fails before connecting anything. */
    g_clear_object (&result);
    mitogen_router_connect_target_async (fixture->router, "ssh:mitogen-t1@127.0.0.1/nosuch:root", defaults,
                                         cancellable, store_result, &result);
    wait_result (&result, cancellable, 5, "connect_target");
    none = mitogen_router_connect_target_finish (fixture->router, result, &error);
    g_assert_null (none);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
    g_assert_cmpuint (g_list_length (contexts), ==, 3);
  }

  /* ...and a whole chain without ssh: local (root) -> sudo mitogen-t1 ->
   * sudo root, from the defaults alone. */
  {
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(MitogenContext) root = NULL;
    g_autoptr(GVariant) root_facts = NULL;
    g_autoptr(GArray) chain = NULL;
    const char *const local_names[] = { "sudo", "python*", NULL };
    gboolean through_t1 = FALSE;

    mitogen_router_connect_target_async (fixture->router, "local/sudo:mitogen-t1/sudo:root", defaults,
                                         cancellable, store_result, &result);
    wait_result (&result, cancellable, 2 * CONNECT_WAIT_SECONDS, "connect_target");
    root = mitogen_router_connect_target_finish (fixture->router, result, &error);
    g_assert_no_error (error);
    root_facts = assert_user (root, "root");
    chain = remote_chain (root);
    assert_chain_reaches (chain, getpid (), local_names);
    for (guint i = 1; i < chain->len; i++)
      through_t1 = through_t1 || g_array_index (chain, ProcEntry, i).uid == getpwnam ("mitogen-t1")->pw_uid;
    g_assert_true (through_t1);
  }
  g_assert_true (mitogen_context_is_connected (last));
}

/* 3. The middle hop killed mid-call. */

typedef struct
{
  GError *error;
  GVariant *result;
  gboolean done;
  gint64 done_at;
} CallState;

static void
call_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  CallState *state = user_data;

  state->result = mitogen_context_call_finish (MITOGEN_CONTEXT (source), result, &state->error);
  state->done_at = g_get_monotonic_time ();
  state->done = TRUE;
}

static void
on_disconnected (MitogenContext *context,
                 gpointer        user_data)
{
  gboolean *flag = user_data;

  g_assert_false (mitogen_context_is_connected (context));
  *flag = TRUE;
}

static void
test_kill_middle (Fixture       *fixture,
                  gconstpointer  data)
{
  const Mode *mode = data;
  Chain chain = { 0 };
  CallState state = { 0 };
  gboolean gone[3] = { FALSE, FALSE, FALSE };
  gboolean pause = FALSE;
  gint64 killed_at;
  gint64 middle_pid;
  gint64 far_pid;
  g_autoptr(GVariant) facts = NULL;

  g_test_summary ("SIGKILL of the middle (sudo) hop while the far end runs a call: the call fails with "
                  "CHANNEL within 2 s, hops 2 and 3 disconnect, hop 1 still answers");
  if (skip_without_system () || skip_without_program ("sudo") || skip_without_mode (mode))
    return;
  connect_chain (fixture->router, mode, &chain);
  middle_pid = lookup_int (chain.facts[1], "pid");
  far_pid = lookup_int (chain.facts[2], "pid");
  for (guint i = 0; i < 3; i++)
    g_signal_connect (chain.hop[i], "disconnected", G_CALLBACK (on_disconnected), &gone[i]);

  mitogen_context_call_async (chain.hop[2], "time", NULL, "sleep", g_variant_new ("(d)", 30.0), NULL, NULL,
                              call_done, &state);
  /* Let the call reach the far end and start sleeping. */
  g_timeout_add (500, set_flag, &pause);
  iterate_until (&pause, 5);
  g_assert_false (state.done);

  g_assert_cmpint (kill ((pid_t) middle_pid, SIGKILL), ==, 0);
  killed_at = g_get_monotonic_time ();
  if (!iterate_until (&state.done, (guint) (10 * test_time_scale ())))
    g_error ("the far call did not fail within %.0f s of killing its intermediate", 10 * test_time_scale ());
  g_assert_error (state.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_null (state.result);
  g_assert_cmpint (state.done_at - killed_at, <, test_scaled_usec (2 * G_USEC_PER_SEC));
  g_clear_error (&state.error);

  /* Everything beneath the killed context is gone, in its own time. */
  if (!iterate_until (&gone[2], 10) || !iterate_until (&gone[1], 10))
    g_error ("no disconnected signal within 10 s: hop 2 %d, hop 3 %d", gone[1], gone[2]);
  g_assert_false (mitogen_context_is_connected (chain.hop[1]));
  g_assert_false (mitogen_context_is_connected (chain.hop[2]));
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) none = mitogen_context_call_sync (chain.hop[2], "os", NULL, "getpid", NULL, NULL,
                                                          CALL_TIMEOUT, NULL, &error);

    g_assert_null (none);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  }

  /* Hop 1 lives on and still answers. */
  g_assert_false (gone[0]);
  g_assert_true (mitogen_context_is_connected (chain.hop[0]));
  facts = assert_user (chain.hop[0], "mitogen-t1");
  g_assert_cmpint (lookup_int (facts, "pid"), ==, lookup_int (chain.facts[0], "pid"));

  /* The far end loses its ssh and ends: nothing stays behind. */
  if (!wait_process_gone (far_pid, 10))
    g_error ("the far end (pid %" G_GINT64_FORMAT ") still runs 10 s after its intermediate was killed", far_pid);

  /* The router's shutdown emits hop 1's signal later: not into this
   * frame. */
  for (guint i = 0; i < 3; i++)
    g_signal_handlers_disconnect_by_data (chain.hop[i], &gone[i]);
  chain_clear (&chain);
}

/* 4. Passwords typed at two hops. */

static gsize
file_size (const char *path)
{
  GStatBuf buf;

  return path != NULL && g_stat (path, &buf) == 0 ? (gsize) buf.st_size : 0;
}

/* Lines of sshd's log from @offset on that contain @needle. */
static guint
count_log_lines (gsize       offset,
                 const char *needle)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  guint count = 0;

  if (!g_file_get_contents (env_get ("SSHD_LOG"), &text, &len, NULL) || offset > len)
    return 0;
  for (const char *p = text + offset; (p = strstr (p, needle)) != NULL; p += strlen (needle))
    count++;
  return count;
}

static void
test_password_hops (Fixture       *fixture,
                    gconstpointer  data)
{
  const Mode *mode = data;
  g_autoptr(MitogenSshOptions) first = NULL;
  g_autoptr(MitogenSudoOptions) wrong = NULL;
  g_autoptr(MitogenSudoOptions) right = NULL;
  g_autoptr(MitogenContext) hop1 = NULL;
  g_autoptr(MitogenContext) failed = NULL;
  g_autoptr(MitogenContext) hop2 = NULL;
  g_autoptr(GVariant) facts1 = NULL;
  g_autoptr(GVariant) facts1_again = NULL;
  g_autoptr(GVariant) facts2 = NULL;
  g_autoptr(GArray) chain2 = NULL;
  g_autoptr(GError) error = NULL;
  const char *const sudo_names[] = { "sudo", NULL };
  const char *wrong_password = "wrong-password-5678";
  guint typed_before = g_atomic_int_get (&passwords_typed);
  gsize log_offset = file_size (env_get ("SSHD_LOG"));

  g_test_summary ("ssh as mitogen-t2 with its password, then sudo to root with it from there: each typed once; "
                  "a wrong sudo password is BAD_PASSWORD from the intermediate (own runtime: its 'code'; "
                  "upstream: its text), and hop 1 keeps working");
  if (skip_without_system () || skip_without_program ("sudo") || skip_without_mode (mode))
    return;

  /* Password login: no key given. */
  first = loopback_ssh ("mitogen-t2", NULL);
  mitogen_ssh_options_set_identity_file (first, NULL);
  if (mode->upstream)
    mitogen_connection_options_set_upstream_core_path (MITOGEN_CONNECTION_OPTIONS (first), UPSTREAM_CORE);
  mitogen_ssh_options_set_password (first, password_of ("mitogen-t2"));
  hop1 = connect_hop (fixture->router, first, &error);
  g_assert_no_error (error);
  facts1 = assert_user (hop1, "mitogen-t2");
  g_assert_cmpuint (g_atomic_int_get (&passwords_typed) - typed_before, ==, 1);
  /* sshd saw exactly that one password on this connection. */
  if (env_get ("SSHD_LOG") != NULL)
    {
      g_auto(GStrv) words = g_strsplit (lookup_str (facts1, "ssh_client"), " ", -1);
      g_autofree char *accepted = NULL;
      g_autofree char *failed_login = NULL;

      g_assert_cmpuint (g_strv_length (words), ==, 3);
      accepted = g_strdup_printf ("Accepted password for mitogen-t2 from %s port %s ", words[0], words[1]);
      failed_login = g_strdup_printf ("Failed password for mitogen-t2 from %s port %s ", words[0], words[1]);
      g_assert_cmpuint (count_log_lines (log_offset, accepted), ==, 1);
      g_assert_cmpuint (count_log_lines (log_offset, failed_login), ==, 0);
    }

  /* mitogen-t2's sudo asks for its password, every time. */
  wrong = mitogen_sudo_options_new ("root");
  set_common (wrong, hop1);
  mitogen_sudo_options_set_password (wrong, wrong_password);
  failed = connect_hop (fixture->router, wrong, &error);
  g_assert_null (failed);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_BAD_PASSWORD);
  g_test_message ("wrong sudo password: %s", error->message);
  g_assert_null (strstr (error->message, wrong_password));
  /* The own runtime says which failure it was ('code'): its text alone
   * would not map to BAD_PASSWORD. Upstream's text does. */
  if (!mode->upstream)
    g_assert_null (strstr (error->message, "password is incorrect"));
  g_clear_error (&error);
  facts1_again = assert_user (hop1, "mitogen-t2");
  g_assert_cmpint (lookup_int (facts1_again, "pid"), ==, lookup_int (facts1, "pid"));

  right = mitogen_sudo_options_new ("root");
  set_common (right, hop1);
  mitogen_sudo_options_set_password (right, password_of ("mitogen-t2"));
  hop2 = connect_hop (fixture->router, right, &error);
  g_assert_no_error (error);
  facts2 = assert_user (hop2, "root");
  chain2 = remote_chain (hop2);
  assert_chain_reaches (chain2, lookup_int (facts1, "pid"), sudo_names);
  /* The intermediate typed the sudo passwords, not this process. */
  g_assert_cmpuint (g_atomic_int_get (&passwords_typed) - typed_before, ==, 1);
  g_assert_true (mitogen_context_is_connected (hop1));
}

/* 5. su and doas as later hops. */

static void
test_su_chain (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(MitogenSuOptions) first = mitogen_su_options_new ("mitogen-t1");
  g_autoptr(MitogenSuOptions) nopass = mitogen_su_options_new ("mitogen-t2");
  g_autoptr(MitogenSuOptions) second = mitogen_su_options_new ("mitogen-t2");
  g_autoptr(MitogenContext) hop1 = NULL;
  g_autoptr(MitogenContext) failed = NULL;
  g_autoptr(MitogenContext) hop2 = NULL;
  g_autoptr(GVariant) facts1 = NULL;
  g_autoptr(GVariant) facts2 = NULL;
  g_autoptr(GArray) chain2 = NULL;
  g_autoptr(GError) error = NULL;
  const char *const su_names[] = { "su", NULL };

  g_test_summary ("su mitogen-t1 from root (no password), then su mitogen-t2 from there with its password; "
                  "without one, PASSWORD_REQUIRED from the intermediate");
  if (skip_without_system () || skip_without_program ("su"))
    return;

  set_common (first, NULL);
  hop1 = connect_hop (fixture->router, first, &error);
  g_assert_no_error (error);
  facts1 = assert_user (hop1, "mitogen-t1");

  set_common (nopass, hop1);
  failed = connect_hop (fixture->router, nopass, &error);
  g_assert_null (failed);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD_REQUIRED);
  g_clear_error (&error);

  set_common (second, hop1);
  mitogen_su_options_set_password (second, password_of ("mitogen-t2"));
  hop2 = connect_hop (fixture->router, second, &error);
  g_assert_no_error (error);
  facts2 = assert_user (hop2, "mitogen-t2");
  chain2 = remote_chain (hop2);
  assert_chain_reaches (chain2, lookup_int (facts1, "pid"), su_names);
}

static void
test_doas_chain (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(MitogenDoasOptions) first = mitogen_doas_options_new ("mitogen-t2");
  g_autoptr(MitogenDoasOptions) second = mitogen_doas_options_new ("root");
  g_autoptr(MitogenContext) hop1 = NULL;
  g_autoptr(MitogenContext) hop2 = NULL;
  g_autoptr(GVariant) facts1 = NULL;
  g_autoptr(GVariant) facts2 = NULL;
  g_autoptr(GArray) chain2 = NULL;
  g_autoptr(GError) error = NULL;
  const char *const doas_names[] = { "doas", NULL };

  g_test_summary ("doas mitogen-t2 from root (no password), then doas root from there with mitogen-t2's password");
  if (skip_without_system () || skip_without_program ("doas"))
    return;

  set_common (first, NULL);
  hop1 = connect_hop (fixture->router, first, &error);
  g_assert_no_error (error);
  facts1 = assert_user (hop1, "mitogen-t2");

  set_common (second, hop1);
  mitogen_doas_options_set_password (second, password_of ("mitogen-t2"));
  hop2 = connect_hop (fixture->router, second, &error);
  g_assert_no_error (error);
  facts2 = assert_user (hop2, "root");
  chain2 = remote_chain (hop2);
  assert_chain_reaches (chain2, lookup_int (facts1, "pid"), doas_names);
}

/* 6. A far host only the middle one reaches. */

static gboolean
strv_has (GVariant   *list,
          const char *text)
{
  GVariantIter iter;
  GVariant *item;

  g_variant_iter_init (&iter, list);
  while ((item = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr(GVariant) inner = g_variant_get_variant (item);
      gboolean match = g_str_equal (g_variant_get_string (inner, NULL), text);

      g_variant_unref (item);
      if (match)
        return TRUE;
    }
  return FALSE;
}

static GVariant *
helper_list (MitogenContext *context,
             const char     *function)
{
  g_autoptr(GError) error = NULL;
  GVariant *list = call_helper (context, function, NULL, &error);

  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (list, G_VARIANT_TYPE ("av")));
  {
    g_autofree char *text = g_variant_print (list, FALSE);

    g_test_message ("%s %s: %s", mitogen_context_get_name (context), function, text);
  }
  return list;
}

static void
test_netns (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(MitogenSshOptions) direct = NULL;
  g_autoptr(MitogenSshOptions) to_mid = NULL;
  g_autoptr(MitogenSshOptions) to_far = NULL;
  g_autoptr(MitogenContext) none = NULL;
  g_autoptr(MitogenContext) mid = NULL;
  g_autoptr(MitogenContext) far = NULL;
  g_autoptr(GVariant) mid_facts = NULL;
  g_autoptr(GVariant) far_facts = NULL;
  g_autoptr(GVariant) mid_addresses = NULL;
  g_autoptr(GVariant) far_addresses = NULL;
  g_autoptr(GVariant) mid_interfaces = NULL;
  g_autoptr(GVariant) far_interfaces = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *mid_client = NULL;
  g_autofree char *far_client = NULL;
  const char *known_hosts;
  guint mid_port;
  guint far_port;
  gint64 start;

  g_test_summary ("Two network namespaces: the far host is unreachable from here (CONNECT), reachable "
                  "through the middle one, and sees its own address 10.254.77.2");
  if (skip_without_system ())
    return;
  if (system_env.netns_skip_reason != NULL)
    {
      g_test_skip (system_env.netns_skip_reason);
      return;
    }
  mid_port = (guint) g_ascii_strtoull (netns_get ("MID_PORT"), NULL, 10);
  far_port = (guint) g_ascii_strtoull (netns_get ("FAR_PORT"), NULL, 10);
  known_hosts = netns_get ("NETNS_KNOWN_HOSTS") ? netns_get ("NETNS_KNOWN_HOSTS") : env_get ("KNOWN_HOSTS");

  /* Directly: no route, at once. */
  direct = ssh_options (netns_get ("FAR_HOST"), far_port, "mitogen-t2", env_get ("USER_KEY"), known_hosts, NULL);
  mitogen_connection_options_set_connect_timeout (MITOGEN_CONNECTION_OPTIONS (direct), 10.0);
  start = g_get_monotonic_time ();
  none = connect_hop (fixture->router, direct, &error);
  g_assert_null (none);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT);
  g_test_message ("direct: %s", error->message);
  g_assert_nonnull (strstr (error->message, "No route to host"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, test_scaled_usec (10 * G_USEC_PER_SEC));
  g_clear_error (&error);

  /* Through the middle host: ssh there as mitogen-t1, and from there as
   * mitogen-t2 with mitogen-t1's copies of the key and known_hosts. */
  to_mid = ssh_options (netns_get ("MID_HOST"), mid_port, "mitogen-t1", env_get ("USER_KEY"), known_hosts, NULL);
  mid = connect_hop (fixture->router, to_mid, &error);
  g_assert_no_error (error);
  mid_facts = assert_user (mid, "mitogen-t1");
  to_far = ssh_options (netns_get ("FAR_HOST"), far_port, "mitogen-t2", env_get ("T1_USER_KEY"),
                        env_get ("T1_KNOWN_HOSTS"), mid);
  far = connect_hop (fixture->router, to_far, &error);
  g_assert_no_error (error);
  far_facts = assert_user (far, "mitogen-t2");

  /* Each came from the address of the namespace before it. */
  mid_client = g_strconcat (netns_get ("ROOT_ADDR"), " ", NULL);
  far_client = g_strconcat (netns_get ("MID_FAR_ADDR"), " ", NULL);
  g_assert_true (g_str_has_prefix (lookup_str (mid_facts, "ssh_client"), mid_client));
  g_assert_true (g_str_has_prefix (lookup_str (far_facts, "ssh_client"), far_client));

  /* Each sees its own interfaces. */
  mid_addresses = helper_list (mid, "local_addresses");
  far_addresses = helper_list (far, "local_addresses");
  g_assert_true (strv_has (mid_addresses, netns_get ("MID_HOST")));
  g_assert_true (strv_has (mid_addresses, netns_get ("MID_FAR_ADDR")));
  g_assert_false (strv_has (mid_addresses, netns_get ("FAR_HOST")));
  g_assert_true (strv_has (far_addresses, netns_get ("FAR_HOST")));
  g_assert_false (strv_has (far_addresses, netns_get ("MID_HOST")));
  g_assert_false (strv_has (far_addresses, netns_get ("ROOT_ADDR")));
  mid_interfaces = helper_list (mid, "interface_names");
  far_interfaces = helper_list (far, "interface_names");
  g_assert_true (strv_has (mid_interfaces, "mitogen-m0"));
  g_assert_true (strv_has (mid_interfaces, "mitogen-m1"));
  g_assert_true (strv_has (far_interfaces, "mitogen-f0"));
  g_assert_false (strv_has (far_interfaces, "mitogen-m1"));
  g_assert_false (strv_has (far_interfaces, "mitogen-r0"));
}

/* 7. Forks of a warm context. */

static MitogenContext *
fork_bounded (MitogenRouter   *router,
              MitogenContext  *from,
              GError         **error)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;

  mitogen_router_fork_async (router, from, cancellable, store_result, &result);
  wait_result (&result, cancellable, CONNECT_WAIT_SECONDS, "forking");
  return mitogen_router_fork_finish (router, result, error);
}

static gint64
get_value (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = call_helper (context, "get_value", NULL, &error);

  g_assert_no_error (error);
  return g_variant_get_int64 (value);
}

static void
set_value (MitogenContext *context,
           gint64          value)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = call_helper (context, "set_value", g_variant_new ("(x)", value), &error);

  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (result), ==, value);
}

static gint64
pid_of (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) facts = call_helper (context, "whoami", NULL, &error);

  g_assert_no_error (error);
  return lookup_int (facts, "pid");
}

static gint64
ppid_of (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) facts = call_helper (context, "whoami", NULL, &error);

  g_assert_no_error (error);
  return lookup_int (facts, "ppid");
}

static void
test_fork (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(MitogenConnectionOptions) options = mitogen_connection_options_new ();
  g_autoptr(MitogenContext) parent = NULL;
  g_autoptr(MitogenContext) child = NULL;
  g_autoptr(MitogenContext) grandchild = NULL;
  g_autoptr(GError) error = NULL;
  gint64 parent_pid;
  gint64 child_pid;
  gint64 grandchild_pid;
  gboolean grandchild_gone = FALSE;

  g_test_summary ("Forks of a warm own-runtime context: inherited state, then separate globals; own pids "
                  "with the forked-from context as parent; a fork of a fork; clean disconnection");

  set_common (options, NULL);
  parent = connect_hop (fixture->router, options, &error);
  g_assert_no_error (error);
  /* Warm: the helper module imported, a global set. */
  set_value (parent, 1);
  parent_pid = pid_of (parent);

  child = fork_bounded (fixture->router, parent, &error);
  g_assert_no_error (error);
  g_assert_true (mitogen_context_is_connected (child));
  g_assert_cmpuint (mitogen_context_get_context_id (child), !=, mitogen_context_get_context_id (parent));
  child_pid = pid_of (child);
  g_assert_cmpint (child_pid, !=, parent_pid);
  g_assert_cmpint (ppid_of (child), ==, parent_pid);
  g_assert_cmpint (get_value (child), ==, 1);

  /* Separate memory both ways. */
  set_value (parent, 2);
  g_assert_cmpint (get_value (child), ==, 1);
  set_value (child, 3);
  g_assert_cmpint (get_value (parent), ==, 2);
  g_assert_cmpint (get_value (child), ==, 3);

  /* A fork of the fork. */
  grandchild = fork_bounded (fixture->router, child, &error);
  g_assert_no_error (error);
  grandchild_pid = pid_of (grandchild);
  g_assert_cmpint (grandchild_pid, !=, child_pid);
  g_assert_cmpint (grandchild_pid, !=, parent_pid);
  g_assert_cmpint (ppid_of (grandchild), ==, child_pid);
  g_assert_cmpint (get_value (grandchild), ==, 3);
  set_value (grandchild, 4);
  g_assert_cmpint (get_value (child), ==, 3);
  g_assert_cmpint (get_value (parent), ==, 2);

  /* Shutting the innermost down: it disconnects and ends; the others
   * answer. */
  g_signal_connect (grandchild, "disconnected", G_CALLBACK (on_disconnected), &grandchild_gone);
  mitogen_context_shutdown (grandchild);
  if (!iterate_until (&grandchild_gone, 10))
    g_error ("the fork of a fork did not disconnect within 10 s of its shutdown");
  g_assert_true (wait_process_gone (grandchild_pid, 10));
  g_signal_handlers_disconnect_by_data (grandchild, &grandchild_gone);
  g_assert_cmpint (get_value (child), ==, 3);
  g_assert_cmpint (get_value (parent), ==, 2);

  /* The first fork, with shutdown_async: done once it disconnected. */
  {
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    g_autoptr(GAsyncResult) result = NULL;

    mitogen_context_shutdown_async (child, cancellable, store_result, &result);
    wait_result (&result, cancellable, 10, "shutting the fork down");
    g_assert_true (mitogen_context_shutdown_finish (child, result, &error));
    g_assert_no_error (error);
    g_assert_false (mitogen_context_is_connected (child));
    g_assert_true (wait_process_gone (child_pid, 10));
  }
  g_assert_true (mitogen_context_is_connected (parent));
  g_assert_cmpint (get_value (parent), ==, 2);

  /* The router's shutdown ends the original (checked after the join). */
  mitogen_router_shutdown (fixture->router);
  g_assert_true (mitogen_broker_join (mitogen_router_get_broker (fixture->router), JOIN_TIMEOUT));
  g_assert_true (wait_process_gone (parent_pid, 10));
}

static void
test_fork_remote (Fixture       *fixture,
                  gconstpointer  data)
{
  const Mode *mode = data;
  g_autoptr(MitogenSshOptions) options = NULL;
  g_autoptr(MitogenContext) hop = NULL;
  g_autoptr(MitogenContext) fork = NULL;
  g_autoptr(GVariant) hop_facts = NULL;
  g_autoptr(GVariant) fork_facts = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A fork of an ssh hop: the same account and runtime, a child of the hop's process, its own "
                  "memory; both end at the router's shutdown");
  if (skip_without_system () || skip_without_mode (mode))
    return;
  options = loopback_ssh ("mitogen-t1", NULL);
  if (mode->upstream)
    mitogen_connection_options_set_upstream_core_path (MITOGEN_CONNECTION_OPTIONS (options), UPSTREAM_CORE);
  hop = connect_hop (fixture->router, options, &error);
  g_assert_no_error (error);
  hop_facts = assert_user (hop, "mitogen-t1");
  set_value (hop, 10);

  fork = fork_bounded (fixture->router, hop, &error);
  g_assert_no_error (error);
  fork_facts = assert_user (fork, "mitogen-t1");
  g_assert_cmpint (lookup_int (fork_facts, "ppid"), ==, lookup_int (hop_facts, "pid"));
  g_assert_cmpstr (lookup_str (fork_facts, "runtime"), ==, mode->upstream ? "upstream" : "own");
  g_assert_cmpint (get_value (fork), ==, 10);
  set_value (fork, 11);
  g_assert_cmpint (get_value (hop), ==, 10);

  /* The router's shutdown ends both processes. */
  mitogen_router_shutdown (fixture->router);
  g_assert_true (mitogen_broker_join (mitogen_router_get_broker (fixture->router), JOIN_TIMEOUT));
  g_assert_true (wait_process_gone (lookup_int (fork_facts, "pid"), 10));
  g_assert_true (wait_process_gone (lookup_int (hop_facts, "pid"), 10));
}

static void
test_fork_target (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(MitogenConnectionOptions) defaults = mitogen_connection_options_new ();
  g_autolist(MitogenConnectionOptions) hops = NULL;
  g_autoptr(MitogenContext) fork = NULL;
  g_autolist(MitogenContext) contexts = NULL;
  g_autoptr(GError) error = NULL;
  MitogenContext *local = NULL;
  gint64 fork_pid;

  g_test_summary ("The target string local/fork: a fork of a new local context");

  set_common (defaults, NULL);
  hops = mitogen_target_parse ("local/fork", defaults, &error);
  if (hops == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
    {
      g_autofree char *message = g_strdup_printf ("target strings cannot fork: %s", error->message);

      g_test_skip (message);
      return;
    }
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_length (hops), ==, 2);
  fork = connect_hops (fixture->router, hops, &error);
  g_assert_no_error (error);

  contexts = mitogen_router_list_contexts (fixture->router);
  g_assert_cmpuint (g_list_length (contexts), ==, 2);
  for (GList *l = contexts; l != NULL; l = l->next)
    if (l->data != fork)
      local = l->data;
  g_assert_nonnull (local);
  fork_pid = pid_of (fork);
  g_assert_cmpint (fork_pid, !=, pid_of (local));
  g_assert_cmpint (ppid_of (fork), ==, pid_of (local));
  g_assert_cmpint (ppid_of (local), ==, getpid ());
}

int
main (int    argc,
      char **argv)
{
  g_log_set_writer_func (count_typed_writer, NULL, NULL);
  g_test_init (&argc, &argv, NULL);
  load_system_env ();

#define ADD(path, data, func) \
  g_test_add (path, Fixture, data, fixture_setup, func, fixture_teardown)

  ADD ("/chains/ssh-sudo-ssh/own", &own_mode, test_ssh_sudo_ssh);
  ADD ("/chains/ssh-sudo-ssh/upstream", &upstream_mode, test_ssh_sudo_ssh);
  ADD ("/chains/target-string", NULL, test_target_string);
  ADD ("/chains/kill-middle/own", &own_mode, test_kill_middle);
  ADD ("/chains/kill-middle/upstream", &upstream_mode, test_kill_middle);
  ADD ("/chains/password-hops/own", &own_mode, test_password_hops);
  ADD ("/chains/password-hops/upstream", &upstream_mode, test_password_hops);
  ADD ("/chains/su-su", NULL, test_su_chain);
  ADD ("/chains/doas-doas", NULL, test_doas_chain);
  ADD ("/chains/netns", NULL, test_netns);
  ADD ("/chains/fork", NULL, test_fork);
  ADD ("/chains/fork-target", NULL, test_fork_target);
  ADD ("/chains/fork-remote/own", &own_mode, test_fork_remote);
  ADD ("/chains/fork-remote/upstream", &upstream_mode, test_fork_remote);

  return g_test_run ();
}
