/* test-connect.c: the ssh, sudo, su and doas connection methods against
 * the real programs of tests/system (a private sshd on 127.0.0.1, test
 * accounts with passwords, sudoers and doas rules, a French locale).
 *
 * Password prompts of sudo, su and doas only appear for a caller that is
 * not root, so those cases re-run this binary as mitogen-t1 or mitogen-t2
 * (runuser) in a helper mode that connects once and prints the outcome.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <mitogen-glib.h>

#include "mitogen-connection-private.h"
#include "mitogen-prompt-private.h"
#include "test-time-scale.h"

#define CALL_TIMEOUT (20 * G_USEC_PER_SEC)
#define CONNECT_TIMEOUT 20.0
#define HELPER_TIMEOUT_SECONDS "60"

/* The system environment (tests/system/README.md). */

typedef struct
{
  GHashTable *values;   /* NAME -> value */
  GHashTable *passwords;
  char *skip_reason;
} SystemEnv;

static SystemEnv system_env;

static const char *
env_get (const char *name)
{
  return system_env.values ? g_hash_table_lookup (system_env.values, name) : NULL;
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

static void
load_system_env (void)
{
  const char *path = g_getenv ("MITOGEN_SYSTEM_ENV");
  g_autofree char *default_path = NULL;
  g_autofree char *text = NULL;
  g_autofree char *passwords = NULL;
  g_autoptr(GError) error = NULL;

  if (path == NULL || *path == '\0')
    path = default_path = g_build_filename (g_getenv ("MITOGEN_SYSTEM_STATE") ? g_getenv ("MITOGEN_SYSTEM_STATE")
                                                                           : "/tmp/mitogen-glib-system",
                                            "env", NULL);
  if (geteuid () != 0)
    {
      system_env.skip_reason = g_strdup ("system tests must run as root (tests/system/README.md)");
      return;
    }
  if (!g_file_get_contents (path, &text, NULL, &error))
    {
      system_env.skip_reason = g_strdup_printf ("system environment unavailable: %s missing: run "
                                                "tests/system/setup-all as root (%s)", path, error->message);
      return;
    }
  system_env.values = parse_key_values (text, '=', TRUE);
  if (env_get ("SSHD_PORT") == NULL || env_get ("PASSWORDS") == NULL || env_get ("USER_KEY") == NULL)
    {
      system_env.skip_reason = g_strdup_printf ("system environment %s is incomplete (rerun tests/system/start-sshd)", path);
      return;
    }
  if (!g_file_get_contents (env_get ("PASSWORDS"), &passwords, NULL, &error))
    {
      system_env.skip_reason = g_strdup_printf ("password file unreadable: %s", error->message);
      return;
    }
  system_env.passwords = parse_key_values (passwords, ':', FALSE);
  for (const char *const *user = (const char *const[]) { "mitogen-t1", "mitogen-t2", "mitogen-nopy", NULL };
       *user != NULL; user++)
    if (getpwnam (*user) == NULL || password_of (*user) == NULL)
      {
        system_env.skip_reason = g_strdup_printf ("account %s missing (run tests/system/setup-accounts)", *user);
        return;
      }
  {
    g_autoptr(GSocketClient) client = g_socket_client_new ();
    g_autoptr(GSocketConnection) connection = NULL;

    g_socket_client_set_timeout (client, 2);
    connection = g_socket_client_connect_to_host (client, env_get ("SSHD_HOST"), env_port (), NULL, &error);
    if (connection == NULL)
      {
        system_env.skip_reason = g_strdup_printf ("sshd does not accept connections on %s:%u (run "
                                                  "tests/system/start-sshd): %s",
                                                  env_get ("SSHD_HOST"), env_port (), error->message);
        return;
      }
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

  if (path == NULL && !g_file_test (g_strconcat ("/usr/sbin/", program, NULL), G_FILE_TEST_IS_EXECUTABLE))
    {
      g_autofree char *message = g_strdup_printf ("%s is not installed", program);

      g_test_skip (message);
      return TRUE;
    }
  return FALSE;
}

/* A router per test; shut down and joined, bounded. */

typedef struct
{
  MitogenRouter *router;
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  fixture->router = mitogen_router_new (NULL);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  MitogenBroker *broker = mitogen_router_get_broker (fixture->router);

  mitogen_router_shutdown (fixture->router);
  g_assert_true (mitogen_broker_join (broker, 15 * G_USEC_PER_SEC));
  g_clear_object (&fixture->router);
}

static const char *
test_python (void)
{
  const char *python = g_getenv ("MITOGEN_TEST_PYTHON");

  return python && *python ? python : "python3";
}

/* Key login to the private sshd, strict host key checking against the
 * environment's known_hosts, no ssh_config. */
static MitogenSshOptions *
ssh_options (const char *user)
{
  MitogenSshOptions *options = mitogen_ssh_options_new (env_get ("SSHD_HOST"));
  const char *const args[] = { "-F", "/dev/null", "-o", "GlobalKnownHostsFile=/dev/null", NULL };

  mitogen_ssh_options_set_port (options, env_port ());
  mitogen_ssh_options_set_username (options, user);
  mitogen_ssh_options_set_ssh_args (options, args);
  mitogen_ssh_options_set_known_hosts_file (options, env_get ("KNOWN_HOSTS"));
  mitogen_connection_options_set_connect_timeout (MITOGEN_CONNECTION_OPTIONS (options), CONNECT_TIMEOUT);
  return options;
}

static void
assert_account (MitogenContext *context,
                const char     *user)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) uid = NULL;
  g_autoptr(GVariant) name = NULL;
  struct passwd *pw = getpwnam (user);

  g_assert_nonnull (pw);
  uid = mitogen_context_call_sync (context, "os", NULL, "getuid", NULL, NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (uid), ==, pw->pw_uid);
  name = mitogen_context_call_sync (context, "getpass", NULL, "getuser", NULL, NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (name, NULL), ==, user);
}

/* Pure parts: the prompt parser, shell quoting, target strings. */

typedef struct
{
  MitogenPromptMethod method;
  const char *input;
  MitogenPromptEventKind expected;   /* of the last event */
} PromptCase;

static void
test_prompt_parser (void)
{
  static const PromptCase cases[] = {
    { MITOGEN_PROMPT_METHOD_SSH, "\rmitogen-t1@127.0.0.1's password: ", MITOGEN_PROMPT_EVENT_PASSWORD },
    { MITOGEN_PROMPT_METHOD_SSH, "mitogen-t1@127.0.0.1: Permission denied (publickey,password).\r\n",
      MITOGEN_PROMPT_EVENT_PERMISSION_DENIED },
    { MITOGEN_PROMPT_METHOD_SSH, "Permission denied, please try again.\r\r\n", MITOGEN_PROMPT_EVENT_PERMISSION_DENIED },
    { MITOGEN_PROMPT_METHOD_SSH, "No ED25519 host key is known for [127.0.0.1]:22220 and you have requested "
      "strict checking.\r\nHost key verification failed.\r\n", MITOGEN_PROMPT_EVENT_HOST_KEY_FAILED },
    { MITOGEN_PROMPT_METHOD_SSH, "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n",
      MITOGEN_PROMPT_EVENT_HOST_KEY_CHANGED },
    { MITOGEN_PROMPT_METHOD_SSH, "\rThe authenticity of host '[127.0.0.1]:22220 ([127.0.0.1]:22220)' can't be "
      "established.\r\nAre you sure you want to continue connecting (yes/no/[fingerprint])? ",
      MITOGEN_PROMPT_EVENT_HOST_KEY_QUESTION },
    { MITOGEN_PROMPT_METHOD_SSH, "ssh: connect to host 127.0.0.1 port 22219: Connection refused\r\n",
      MITOGEN_PROMPT_EVENT_CONNECT_FAILED },
    { MITOGEN_PROMPT_METHOD_SSH, "bash: line 1: python3: command not found\n", MITOGEN_PROMPT_EVENT_COMMAND_NOT_FOUND },
    { MITOGEN_PROMPT_METHOD_SSH, "bash: python3.99: command not found\n", MITOGEN_PROMPT_EVENT_LINE },
    { MITOGEN_PROMPT_METHOD_SSH, "/usr/bin/env: 'python3': No such file or directory\n",
      MITOGEN_PROMPT_EVENT_COMMAND_NOT_FOUND },
    { MITOGEN_PROMPT_METHOD_SSH, "Enter passphrase for key '/root/.ssh/id_ed25519': ", MITOGEN_PROMPT_EVENT_PASSPHRASE },
    { MITOGEN_PROMPT_METHOD_SUDO, "[sudo] password for mitogen-t2: ", MITOGEN_PROMPT_EVENT_PASSWORD },
    { MITOGEN_PROMPT_METHOD_SUDO, "[sudo] Mot de passe de mitogen-t2\xc2\xa0: ", MITOGEN_PROMPT_EVENT_PASSWORD },
    { MITOGEN_PROMPT_METHOD_SUDO, "sudo: 3 incorrect password attempts\n", MITOGEN_PROMPT_EVENT_AUTH_FAILED },
    { MITOGEN_PROMPT_METHOD_SUDO, "sudo: a password is required\n", MITOGEN_PROMPT_EVENT_PASSWORD_REQUIRED },
    { MITOGEN_PROMPT_METHOD_SU, "Password: ", MITOGEN_PROMPT_EVENT_PASSWORD },
    { MITOGEN_PROMPT_METHOD_SU, "Mot de passe : ", MITOGEN_PROMPT_EVENT_PASSWORD },
    { MITOGEN_PROMPT_METHOD_SU, "Passwort: ", MITOGEN_PROMPT_EVENT_PASSWORD },
    { MITOGEN_PROMPT_METHOD_SU, "Contraseña: ", MITOGEN_PROMPT_EVENT_PASSWORD },
    { MITOGEN_PROMPT_METHOD_SU, "Пароль: ", MITOGEN_PROMPT_EVENT_PASSWORD },
    { MITOGEN_PROMPT_METHOD_SU, "密码：", MITOGEN_PROMPT_EVENT_PASSWORD },
    { MITOGEN_PROMPT_METHOD_SU, "パスワード:", MITOGEN_PROMPT_EVENT_PASSWORD },
    { MITOGEN_PROMPT_METHOD_SU, "su: Authentication failure\n", MITOGEN_PROMPT_EVENT_AUTH_FAILED },
    { MITOGEN_PROMPT_METHOD_SU, "su: \xc3\x89" "chec de l\xe2\x80\x99" "authentification\n", MITOGEN_PROMPT_EVENT_AUTH_FAILED },
    { MITOGEN_PROMPT_METHOD_SU, "Password changed on Monday\n", MITOGEN_PROMPT_EVENT_LINE },
    { MITOGEN_PROMPT_METHOD_DOAS, "\rdoas (mitogen-t2@vm) password: ", MITOGEN_PROMPT_EVENT_PASSWORD },
    { MITOGEN_PROMPT_METHOD_DOAS, "doas: Authentication failed\n", MITOGEN_PROMPT_EVENT_AUTH_FAILED },
    { MITOGEN_PROMPT_METHOD_DOAS, "doas: Authentication required\n", MITOGEN_PROMPT_EVENT_PASSWORD_REQUIRED },
  };

  g_test_summary ("Prompts and messages observed on this machine are recognised, fed whole and byte by byte");
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    for (int bytewise = 0; bytewise < 2; bytewise++)
      {
        g_autoptr(MitogenPromptParser) parser = _mitogen_prompt_parser_new (cases[i].method, NULL, "python3");
        MitogenPromptEvent event;
        gboolean seen = FALSE;
        guint prompts = 0;
        gsize len = strlen (cases[i].input);

        for (gsize at = 0; at < len; at += bytewise ? 1 : len)
          {
            _mitogen_prompt_parser_feed (parser, (const guint8 *) cases[i].input + at, bytewise ? 1 : len);
            while (_mitogen_prompt_parser_next (parser, &event))
              {
                seen = seen || event.kind == cases[i].expected;
                prompts += event.kind == MITOGEN_PROMPT_EVENT_PASSWORD;
              }
          }
        if (_mitogen_prompt_parser_flush (parser, &event))
          {
            seen = seen || event.kind == cases[i].expected;
            prompts += event.kind == MITOGEN_PROMPT_EVENT_PASSWORD;
          }
        /* A prompt is reported once, however it was split. */
        if (!seen || prompts > 1)
          g_error ("case %" G_GSIZE_FORMAT " (%s) %s: expected event %d not seen, or %u prompts", i,
                   bytewise ? "bytewise" : "whole", cases[i].input, (int) cases[i].expected, prompts);
      }

  /* ssh offers a password, or not. */
  {
    g_autoptr(MitogenPromptParser) parser = _mitogen_prompt_parser_new (MITOGEN_PROMPT_METHOD_SSH, NULL, NULL);
    MitogenPromptEvent event;
    const char *text = "u@h: Permission denied (publickey,password).\nu@h: Permission denied (publickey).\n";

    _mitogen_prompt_parser_feed (parser, (const guint8 *) text, strlen (text));
    g_assert_true (_mitogen_prompt_parser_next (parser, &event));
    g_assert_true (event.offers_password);
    g_assert_true (_mitogen_prompt_parser_next (parser, &event));
    g_assert_false (event.offers_password);
  }

  /* sudo's own token matches exactly; other text with a colon does not. */
  {
    g_autoptr(MitogenPromptParser) parser =
      _mitogen_prompt_parser_new (MITOGEN_PROMPT_METHOD_SUDO, "mitogen-glib-password-0123:", NULL);
    MitogenPromptEvent event;
    const char *text = "note: hello\nmitogen-glib-password-0123:";

    _mitogen_prompt_parser_feed (parser, (const guint8 *) text, strlen (text));
    g_assert_true (_mitogen_prompt_parser_next (parser, &event));
    g_assert_cmpint (event.kind, ==, MITOGEN_PROMPT_EVENT_LINE);
    g_assert_true (_mitogen_prompt_parser_next (parser, &event));
    g_assert_cmpint (event.kind, ==, MITOGEN_PROMPT_EVENT_PASSWORD);
    g_assert_false (_mitogen_prompt_parser_next (parser, &event));
  }

  /* Binary junk and overlong lines stay bounded and never crash. */
  {
    g_autoptr(MitogenPromptParser) parser = _mitogen_prompt_parser_new (MITOGEN_PROMPT_METHOD_SU, NULL, NULL);
    MitogenPromptEvent event;
    guint8 junk[10000];

    for (gsize i = 0; i < sizeof junk; i++)
      junk[i] = (guint8) (i * 7 + 3) == '\n' ? 0 : (guint8) (i * 7 + 3);
    _mitogen_prompt_parser_feed (parser, junk, sizeof junk);
    while (_mitogen_prompt_parser_next (parser, &event))
      g_assert_true (g_utf8_validate (event.text, -1, NULL));
  }
  g_assert_false (_mitogen_prompt_is_password_prompt ("password", 8));
  g_assert_true (_mitogen_prompt_is_password_prompt ("PASSWORD:  ", 11));
}

static void
test_shell_join (void)
{
  const char *const argv[] = { "python3", "-c", "print('it''s')", "a b", "", NULL };
  g_autofree char *joined = _mitogen_shell_join (argv);
  g_auto(GStrv) parsed = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("The boot command survives a POSIX shell");
  g_assert_cmpstr (joined, ==, "python3 -c 'print('\\''it'\\'''\\''s'\\'')' 'a b' ''");
  g_assert_true (g_shell_parse_argv (joined, NULL, &parsed, &error));
  g_assert_no_error (error);
  g_assert_cmpstrv (parsed, argv);
}

static void
test_target_parse (void)
{
  g_autoptr(MitogenConnectionOptions) defaults = mitogen_connection_options_new ();
  g_autolist(MitogenConnectionOptions) hops = NULL;
  g_autoptr(GError) error = NULL;
  gpointer hop[6];
  static const char *const bad[] = {
    "bogus:x", "sudo:", "ssh:-oProxyCommand=x", "ssh:h:99999", "ssh:a:b:c", "local:x", "local//local",
    "ssh:host/", "telnet:h", "ssh:user@", "ssh", "sudo:a b", "",
  };

  g_test_summary ("Target strings become one options object per hop");
  mitogen_connection_options_set_python_path (defaults, "/opt/python3");
  hops = mitogen_target_parse ("ssh:admin@web1:2222/sudo:postgres/su/doas:x/local/ssh:[::1]", defaults, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_length (hops), ==, 6);
  for (guint i = 0; i < 6; i++)
    hop[i] = g_list_nth_data (hops, i);
  g_assert_true (MITOGEN_IS_SSH_OPTIONS (hop[0]));
  g_assert_cmpstr (mitogen_ssh_options_get_hostname (hop[0]), ==, "web1");
  g_assert_cmpstr (mitogen_ssh_options_get_username (hop[0]), ==, "admin");
  g_assert_cmpuint (mitogen_ssh_options_get_port (hop[0]), ==, 2222);
  g_assert_cmpstr (mitogen_connection_options_get_python_path (hop[0]), ==, "/opt/python3");
  g_assert_true (MITOGEN_IS_SUDO_OPTIONS (hop[1]));
  g_assert_cmpstr (mitogen_sudo_options_get_username (hop[1]), ==, "postgres");
  g_assert_true (MITOGEN_IS_SU_OPTIONS (hop[2]));
  g_assert_cmpstr (mitogen_su_options_get_username (hop[2]), ==, "root");
  g_assert_true (MITOGEN_IS_DOAS_OPTIONS (hop[3]));
  g_assert_cmpstr (mitogen_doas_options_get_username (hop[3]), ==, "x");
  g_assert_true (G_OBJECT_TYPE (hop[4]) == MITOGEN_TYPE_CONNECTION_OPTIONS);
  g_assert_cmpstr (mitogen_ssh_options_get_hostname (hop[5]), ==, "::1");
  g_assert_cmpuint (mitogen_ssh_options_get_port (hop[5]), ==, 0);

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      GList *none = mitogen_target_parse (bad[i], NULL, &error);

      g_assert_null (none);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
    }
  {
    GList *none = mitogen_target_parse ("fork", NULL, &error);
    g_autolist(MitogenConnectionOptions) forked = NULL;

    /* A fork needs something to fork. */
    g_assert_null (none);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);

    forked = mitogen_target_parse ("local/fork", NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_list_length (forked), ==, 2);
    g_assert_true (MITOGEN_IS_FORK_OPTIONS (g_list_nth_data (forked, 1)));
  }
}

static void
test_proxy_kwargs (void)
{
  g_autoptr(MitogenSshOptions) ssh = mitogen_ssh_options_new ("web1");
  g_autoptr(MitogenSudoOptions) sudo = mitogen_sudo_options_new ("postgres");
  GVariantDict dict;
  g_autoptr(GVariant) kwargs = NULL;
  const char *text;
  gboolean flag;

  g_test_summary ("Options become the keyword arguments of upstream's connection classes");
  mitogen_ssh_options_set_host_key_policy (ssh, MITOGEN_HOST_KEY_POLICY_ACCEPT_NEW);
  mitogen_ssh_options_set_port (ssh, 2222);
  g_variant_dict_init (&dict, NULL);
  MITOGEN_CONNECTION_OPTIONS_GET_CLASS (ssh)->add_proxy_kwargs (MITOGEN_CONNECTION_OPTIONS (ssh), &dict);
  kwargs = g_variant_ref_sink (g_variant_dict_end (&dict));
  g_assert_cmpstr (MITOGEN_CONNECTION_OPTIONS_GET_CLASS (ssh)->method_name, ==, "ssh");
  g_assert_true (g_variant_lookup (kwargs, "hostname", "&s", &text));
  g_assert_cmpstr (text, ==, "web1");
  g_assert_true (g_variant_lookup (kwargs, "check_host_keys", "&s", &text));
  g_assert_cmpstr (text, ==, "accept");
  g_assert_true (g_variant_lookup (kwargs, "compression", "b", &flag));
  g_assert_false (flag);
  g_assert_true (g_variant_lookup (kwargs, "python_path", "&s", &text));
  g_clear_pointer (&kwargs, g_variant_unref);

  mitogen_sudo_options_set_login (sudo, TRUE);
  g_variant_dict_init (&dict, NULL);
  MITOGEN_CONNECTION_OPTIONS_GET_CLASS (sudo)->add_proxy_kwargs (MITOGEN_CONNECTION_OPTIONS (sudo), &dict);
  kwargs = g_variant_ref_sink (g_variant_dict_end (&dict));
  g_assert_cmpstr (MITOGEN_CONNECTION_OPTIONS_GET_CLASS (sudo)->method_name, ==, "sudo");
  g_assert_true (g_variant_lookup (kwargs, "username", "&s", &text));
  g_assert_cmpstr (text, ==, "postgres");
  g_assert_true (g_variant_lookup (kwargs, "login", "b", &flag));
  g_assert_true (flag);
}

/* ssh */

static void
test_ssh_key (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(MitogenSshOptions) options = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("Key login with only the given identity file, host key checked against known_hosts");
  if (skip_without_system ())
    return;
  options = ssh_options ("mitogen-t1");
  mitogen_ssh_options_set_identity_file (options, env_get ("USER_KEY"));
  mitogen_connection_options_set_python_path (MITOGEN_CONNECTION_OPTIONS (options), "python3");
  context = mitogen_router_ssh (fixture->router, options, NULL, &error);
  g_assert_no_error (error);
  assert_account (context, "mitogen-t1");
  g_assert_true (g_str_has_prefix (mitogen_context_get_name (context), "ssh."));
}

static void
test_ssh_wrong_key (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(MitogenSshOptions) options = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A refused key and no password: the server wants a password");
  if (skip_without_system ())
    return;
  options = ssh_options ("mitogen-t1");
  mitogen_ssh_options_set_identity_file (options, env_get ("OTHER_KEY"));
  context = mitogen_router_ssh (fixture->router, options, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD_REQUIRED);
}

/* sshd's log from @offset on: failed password attempts per client port
 * (other tests may log attempts at the same time, from other ports). */
static GHashTable *
failures_since (const char *path,
                gsize       offset,
                const char *user)
{
  GHashTable *ports = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *text = NULL;
  g_autofree char *needle = g_strdup_printf ("Failed password for %s from ", user);
  gsize len = 0;

  if (!g_file_get_contents (path, &text, &len, NULL) || offset > len)
    return ports;
  for (const char *p = text + offset; (p = strstr (p, needle)) != NULL; p += strlen (needle))
    {
      const char *port = strstr (p, " port ");
      const char *eol = strchr (p, '\n');
      g_autofree char *key = NULL;

      if (port == NULL || (eol != NULL && port > eol))
        continue;
      port += strlen (" port ");
      key = g_strndup (port, strspn (port, "0123456789"));
      g_hash_table_insert (ports, g_strdup (key),
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (ports, key)) + 1));
    }
  return ports;
}

static gsize
file_size (const char *path)
{
  GStatBuf buf;

  return g_stat (path, &buf) == 0 ? (gsize) buf.st_size : 0;
}

static void
test_ssh_password (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(MitogenSshOptions) options = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("Password login: typed once at ssh's prompt on a private PTY");
  if (skip_without_system ())
    return;
  options = ssh_options ("mitogen-t2");
  mitogen_ssh_options_set_password (options, password_of ("mitogen-t2"));
  context = mitogen_router_ssh (fixture->router, options, NULL, &error);
  g_assert_no_error (error);
  assert_account (context, "mitogen-t2");
}

static void
test_ssh_bad_password (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(MitogenSshOptions) options = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) failures = NULL;
  GHashTableIter iter;
  gpointer port;
  gpointer count;
  gsize offset;

  g_test_summary ("A wrong password fails with BAD_PASSWORD after exactly one attempt (sshd's log)");
  if (skip_without_system ())
    return;
  offset = file_size (env_get ("SSHD_LOG"));
  options = ssh_options ("mitogen-t2");
  mitogen_ssh_options_set_password (options, "not-the-password");
  context = mitogen_router_ssh (fixture->router, options, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_BAD_PASSWORD);

  /* sshd writes its log asynchronously: wait for it, bounded. */
  for (int i = 0; i < 50; i++)
    {
      g_clear_pointer (&failures, g_hash_table_unref);
      failures = failures_since (env_get ("SSHD_LOG"), offset, "mitogen-t2");
      if (g_hash_table_size (failures) > 0)
        break;
      g_usleep (100000);
    }
  g_usleep (500000);
  g_clear_pointer (&failures, g_hash_table_unref);
  failures = failures_since (env_get ("SSHD_LOG"), offset, "mitogen-t2");
  g_assert_cmpuint (g_hash_table_size (failures), >=, 1);
  /* One attempt per connection, ours and any other test's. */
  g_hash_table_iter_init (&iter, failures);
  while (g_hash_table_iter_next (&iter, &port, &count))
    if (GPOINTER_TO_UINT (count) != 1)
      g_error ("connection from port %s tried %u passwords", (char *) port, GPOINTER_TO_UINT (count));
}

static void
test_ssh_password_required (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autoptr(MitogenSshOptions) options = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("No key and no password for an account that needs one: PASSWORD_REQUIRED, quickly");
  if (skip_without_system ())
    return;
  options = ssh_options ("mitogen-t2");
  context = mitogen_router_ssh (fixture->router, options, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_PASSWORD_REQUIRED);
}

typedef struct
{
  MitogenHostKeyPolicy policy;
  const char *known_hosts;   /* env name, or "EMPTY" for a new empty file */
  int expected_code;         /* -1: connects */
} HostKeyCase;

static const HostKeyCase unknown_enforce = { MITOGEN_HOST_KEY_POLICY_ENFORCE, "EMPTY", MITOGEN_ERROR_HOST_KEY };
static const HostKeyCase unknown_accept_new = { MITOGEN_HOST_KEY_POLICY_ACCEPT_NEW, "EMPTY", -1 };
static const HostKeyCase unknown_ignore = { MITOGEN_HOST_KEY_POLICY_IGNORE, "EMPTY", -1 };
static const HostKeyCase changed_enforce = { MITOGEN_HOST_KEY_POLICY_ENFORCE, "KNOWN_HOSTS_CHANGED", MITOGEN_ERROR_HOST_KEY };
static const HostKeyCase changed_accept_new = { MITOGEN_HOST_KEY_POLICY_ACCEPT_NEW, "KNOWN_HOSTS_CHANGED", MITOGEN_ERROR_HOST_KEY };

static void
test_ssh_host_key (Fixture       *fixture,
                   gconstpointer  data)
{
  const HostKeyCase *test = data;
  g_autoptr(MitogenSshOptions) options = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *known_hosts = NULL;

  g_test_summary ("Unknown and changed host keys under each policy");
  if (skip_without_system ())
    return;

  if (g_str_equal (test->known_hosts, "EMPTY"))
    {
      dir = g_dir_make_tmp ("mitogen-test-XXXXXX", &error);
      g_assert_no_error (error);
      known_hosts = g_build_filename (dir, "known_hosts", NULL);
      g_assert_true (g_file_set_contents (known_hosts, "", 0, NULL));
    }
  else
    known_hosts = g_strdup (env_get (test->known_hosts));

  options = ssh_options ("mitogen-t1");
  mitogen_ssh_options_set_identity_file (options, env_get ("USER_KEY"));
  mitogen_ssh_options_set_known_hosts_file (options, known_hosts);
  mitogen_ssh_options_set_host_key_policy (options, test->policy);
  context = mitogen_router_ssh (fixture->router, options, NULL, &error);

  if (test->expected_code < 0)
    {
      g_autofree char *recorded = NULL;
      g_autofree char *expected_host = g_strdup_printf ("[%s]:%u", env_get ("SSHD_HOST"), env_port ());

      g_assert_no_error (error);
      assert_account (context, "mitogen-t1");
      g_assert_true (g_file_get_contents (known_hosts, &recorded, NULL, NULL));
      if (test->policy == MITOGEN_HOST_KEY_POLICY_ACCEPT_NEW)
        g_assert_nonnull (strstr (recorded, expected_host));
      else
        g_assert_cmpstr (recorded, ==, "");  /* ignore records nothing */
    }
  else
    {
      g_assert_null (context);
      g_assert_error (error, MITOGEN_ERROR, test->expected_code);
      g_assert_nonnull (strstr (error->message, "known_hosts"));
    }

  if (dir != NULL)
    {
      g_remove (known_hosts);
      g_rmdir (dir);
    }
}

static void
test_ssh_refused (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(MitogenSshOptions) options = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_test_summary ("A closed port: CONNECT with ssh's Connection refused");
  if (skip_without_system ())
    return;
  /* A port that was just free: bind, learn it, close. */
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, address, TRUE, &error));
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  g_socket_close (socket, NULL);

  options = ssh_options ("mitogen-t1");
  mitogen_ssh_options_set_identity_file (options, env_get ("USER_KEY"));
  mitogen_ssh_options_set_port (options, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  context = mitogen_router_ssh (fixture->router, options, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT);
  g_assert_nonnull (strstr (error->message, "Connection refused"));
}

static void
test_ssh_timeout (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(MitogenSshOptions) options = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  guint16 port;
  gint64 start;

  g_test_summary ("A server that never answers: CONNECT_TIMEOUT at the connect timeout");
  if (skip_without_system ())
    return;
  /* The kernel accepts the TCP connection; nobody ever speaks. */
  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);

  options = ssh_options ("mitogen-t1");
  mitogen_ssh_options_set_hostname (options, "127.0.0.1");
  mitogen_ssh_options_set_identity_file (options, env_get ("USER_KEY"));
  mitogen_ssh_options_set_port (options, port);
  mitogen_connection_options_set_connect_timeout (MITOGEN_CONNECTION_OPTIONS (options), 1.5);
  start = g_get_monotonic_time ();
  context = mitogen_router_ssh (fixture->router, options, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT_TIMEOUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, test_scaled_usec (10 * G_USEC_PER_SEC));
}

static void
test_ssh_no_python (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(MitogenSshOptions) options = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *expected = NULL;

  g_test_summary ("No python3 on the far side (mitogen-nopy's shell): CONNECT naming the fix");
  if (skip_without_system ())
    return;
  options = ssh_options ("mitogen-nopy");
  mitogen_ssh_options_set_identity_file (options, env_get ("USER_KEY"));
  context = mitogen_router_ssh (fixture->router, options, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT);
  expected = g_strdup_printf ("python3 not found on %s", env_get ("SSHD_HOST"));
  g_assert_true (g_str_has_prefix (error->message, expected));
  g_assert_nonnull (strstr (error->message, "python-path"));
}

static void
test_ssh_target_string (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autofree char *target = NULL;
  g_autolist(MitogenConnectionOptions) hops = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  const char *const args[] = { "-F", "/dev/null", NULL };

  g_test_summary ("A one-hop target string, adjusted, connected with connect_hops");
  if (skip_without_system ())
    return;
  target = g_strdup_printf ("ssh:mitogen-t1@%s:%u", env_get ("SSHD_HOST"), env_port ());
  hops = mitogen_target_parse (target, NULL, &error);
  g_assert_no_error (error);
  mitogen_ssh_options_set_identity_file (hops->data, env_get ("USER_KEY"));
  mitogen_ssh_options_set_known_hosts_file (hops->data, env_get ("KNOWN_HOSTS"));
  mitogen_ssh_options_set_ssh_args (hops->data, args);
  context = mitogen_router_connect_hops (fixture->router, hops, NULL, &error);
  g_assert_no_error (error);
  assert_account (context, "mitogen-t1");
}

static void
test_ssh_user_args_win (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(MitogenSshOptions) options = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *option = g_strdup_printf ("UserKnownHostsFile=%s", env_get ("KNOWN_HOSTS"));
  const char *args[] = { "-F", "/dev/null", "-o", option, NULL };

  g_test_summary ("The user's ssh arguments come first: they win over the properties");
  if (skip_without_system ())
    return;
  options = ssh_options ("mitogen-t1");
  mitogen_ssh_options_set_ssh_args (options, args);
  /* Would fail (unknown key under enforce) if ours came first. */
  mitogen_ssh_options_set_known_hosts_file (options, "/dev/null");
  mitogen_ssh_options_set_identity_file (options, env_get ("USER_KEY"));
  context = mitogen_router_ssh (fixture->router, options, NULL, &error);
  g_assert_no_error (error);
  assert_account (context, "mitogen-t1");
}

static gpointer
cancel_later (gpointer data)
{
  g_usleep (300000);
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_ssh_async_cancel (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(MitogenSshOptions) options = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  GThread *thread;
  guint16 port;

  g_test_summary ("Cancelling a connection that hangs ends it with G_IO_ERROR_CANCELLED");
  if (skip_without_system ())
    return;
  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  options = ssh_options ("mitogen-t1");
  mitogen_ssh_options_set_hostname (options, "127.0.0.1");
  mitogen_ssh_options_set_port (options, port);
  /* The sync form iterates a private context: cancel from a thread. */
  thread = g_thread_new ("canceller", cancel_later, cancellable);
  context = mitogen_router_ssh (fixture->router, options, cancellable, &error);
  g_assert_null (context);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_thread_join (thread);
}

/* sudo, su, doas from root: no password asked. */

typedef enum {
  METHOD_SUDO,
  METHOD_SU,
  METHOD_DOAS,
} Method;

static const char *const method_names[] = { "sudo", "su", "doas" };

static MitogenContext *
connect_method (MitogenRouter  *router,
                Method          method,
                const char     *user,
                const char     *password,
                GError        **error)
{
  switch (method)
    {
    case METHOD_SUDO:
      {
        g_autoptr(MitogenSudoOptions) options = mitogen_sudo_options_new (user);

        mitogen_sudo_options_set_password (options, password);
        mitogen_connection_options_set_python_path (MITOGEN_CONNECTION_OPTIONS (options), test_python ());
        mitogen_connection_options_set_connect_timeout (MITOGEN_CONNECTION_OPTIONS (options), CONNECT_TIMEOUT);
        return mitogen_router_sudo (router, options, NULL, error);
      }
    case METHOD_SU:
      {
        g_autoptr(MitogenSuOptions) options = mitogen_su_options_new (user);

        mitogen_su_options_set_password (options, password);
        mitogen_connection_options_set_connect_timeout (MITOGEN_CONNECTION_OPTIONS (options), CONNECT_TIMEOUT);
        return mitogen_router_su (router, options, NULL, error);
      }
    case METHOD_DOAS:
    default:
      {
        g_autoptr(MitogenDoasOptions) options = mitogen_doas_options_new (user);

        mitogen_doas_options_set_password (options, password);
        mitogen_connection_options_set_python_path (MITOGEN_CONNECTION_OPTIONS (options), test_python ());
        mitogen_connection_options_set_connect_timeout (MITOGEN_CONNECTION_OPTIONS (options), CONNECT_TIMEOUT);
        return mitogen_router_doas (router, options, NULL, error);
      }
    }
}

static const Method sudo_method = METHOD_SUDO;
static const Method su_method = METHOD_SU;
static const Method doas_method = METHOD_DOAS;

/* zlib's CRC-32, bit by bit: slow, but only for the test's megabyte. */
static guint32
crc32_of (const guint8 *data,
          gsize         len)
{
  guint32 crc = 0xffffffff;

  for (gsize i = 0; i < len; i++)
    {
      crc ^= data[i];
      for (int bit = 0; bit < 8; bit++)
        crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
    }
  return crc ^ 0xffffffff;
}

static void
test_as_root (Fixture       *fixture,
              gconstpointer  data)
{
  Method method = *(const Method *) data;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("root becomes mitogen-t1 without a password");
  if (skip_without_system () || skip_without_program (method_names[method]))
    return;
  context = connect_method (fixture->router, method, "mitogen-t1", NULL, &error);
  g_assert_no_error (error);
  assert_account (context, "mitogen-t1");

  /* Binary data both ways, through su's raw PTY too. */
  {
    g_autofree guint8 *blob = g_malloc (1 << 20);
    g_autoptr(GVariant) crc = NULL;
    g_autoptr(GVariant) back = NULL;
    GVariant *args;

    for (gsize i = 0; i < (1 << 20); i++)
      blob[i] = (guint8) (i * 131 + (i >> 8));
    args = g_variant_new ("(@ay)", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, blob, 1 << 20, 1));
    crc = mitogen_context_call_sync (context, "zlib", NULL, "crc32", args, NULL, CALL_TIMEOUT, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpint (g_variant_get_int64 (crc), ==, (gint64) crc32_of (blob, 1 << 20));
    back = mitogen_context_call_sync (context, "os", NULL, "urandom", g_variant_new ("(x)", (gint64) 300000),
                                      NULL, CALL_TIMEOUT, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_variant_get_size (back), ==, 300000);
  }
}

static gboolean
booted_compiled (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) compiled = NULL;

  compiled = mitogen_context_call_sync (context, "builtins", NULL, "eval",
                                        g_variant_new ("(s)", "bool(vars(__import__('sys').modules['mitogen.core']).get('_code'))"),
                                        NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  return g_variant_get_boolean (compiled);
}

static void
test_compiled_boot (Fixture       *fixture,
                    gconstpointer  data)
{
  Method method = *(const Method *) data;
  gboolean compiled = FALSE;

  g_test_summary ("Later children in another account get the runtime compiled, through su's raw PTY too");
  if (skip_without_system () || skip_without_program (method_names[method]))
    return;
  /* The router's helper runs at its second child of an interpreter. */
  for (int i = 0; i < 20 && !compiled; i++)
    {
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GError) error = NULL;

      context = connect_method (fixture->router, method, "mitogen-t1", NULL, &error);
      g_assert_no_error (error);
      assert_account (context, "mitogen-t1");
      compiled = booted_compiled (context);
      mitogen_context_shutdown (context);
      if (!compiled)
        g_usleep (G_USEC_PER_SEC / 10);
    }
  g_assert_true (compiled);
}

static void
test_sudo_options (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(MitogenSudoOptions) options = mitogen_sudo_options_new ("mitogen-t1");
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) home = NULL;
  g_autoptr(GVariant) args = g_variant_ref_sink (g_variant_new_parsed ("('HOME',)"));

  g_test_summary ("sudo -H -i: the target's login environment");
  if (skip_without_system () || skip_without_program ("sudo"))
    return;
  mitogen_sudo_options_set_set_home (options, TRUE);
  mitogen_sudo_options_set_login (options, TRUE);
  mitogen_connection_options_set_connect_timeout (MITOGEN_CONNECTION_OPTIONS (options), CONNECT_TIMEOUT);
  context = mitogen_router_sudo (fixture->router, options, NULL, &error);
  g_assert_no_error (error);
  assert_account (context, "mitogen-t1");
  home = mitogen_context_call_sync (context, "os", NULL, "getenv", args, NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (home, NULL), ==, getpwnam ("mitogen-t1")->pw_dir);
}

/* Password cases: this binary, run as another account, connects once and
 * reports "RESULT <code or -1> <uid> <passwords typed>". */

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
      passwords_typed++;
  if (log_level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

static int
helper_main (int    argc,
             char **argv)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  const char *password = g_getenv ("MITOGEN_TEST_HELPER_PASSWORD");
  Method method;
  gint64 uid = -1;

  /* --helper METHOD USER */
  if (argc != 4)
    return 2;
  for (method = METHOD_SUDO; method <= METHOD_DOAS; method++)
    if (g_str_equal (argv[2], method_names[method]))
      break;
  if (method > METHOD_DOAS)
    return 2;

  g_log_set_writer_func (count_typed_writer, NULL, NULL);
  router = mitogen_router_new (NULL);
  context = connect_method (router, method, argv[3], password && *password ? password : NULL, &error);
  if (context != NULL)
    {
      g_autoptr(GVariant) value = mitogen_context_call_sync (context, "os", NULL, "getuid", NULL, NULL,
                                                             CALL_TIMEOUT, NULL, &error);
      if (value != NULL)
        uid = g_variant_get_int64 (value);
    }
  printf ("RESULT %d %" G_GINT64_FORMAT " %u\n",
          error ? (error->domain == MITOGEN_ERROR ? error->code : 1000) : -1, uid, passwords_typed);
  if (error != NULL)
    printf ("MESSAGE %s\n", error->message);
  fflush (stdout);
  mitogen_router_shutdown (router);
  mitogen_broker_join (mitogen_router_get_broker (router), 10 * G_USEC_PER_SEC);
  return 0;
}

typedef struct
{
  Method method;
  const char *as_user;      /* runs the master */
  const char *target;       /* account to become */
  const char *password_of;  /* whose password to give, or NULL for none */
  gboolean wrong;           /* give a wrong one */
  gboolean french;
  int expected_code;        /* -1: connects */
} PasswordCase;

static char *self_copy;     /* this binary, where other accounts can run it */

static const char *
helper_binary (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *contents = NULL;
  gsize len;

  if (self_copy != NULL)
    return self_copy;
  /* The build tree may be private to root: copy the (statically linked)
   * test binary into a world-readable directory. */
  dir = g_dir_make_tmp ("mitogen-test-connect-XXXXXX", &error);
  g_assert_no_error (error);
  g_chmod (dir, 0755);
  g_assert_true (g_file_get_contents ("/proc/self/exe", &contents, &len, &error));
  self_copy = g_build_filename (dir, "test-connect", NULL);
  g_assert_true (g_file_set_contents (self_copy, contents, len, &error));
  g_chmod (self_copy, 0755);
  return self_copy;
}

static void
remove_helper_binary (void)
{
  if (self_copy != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (self_copy);

      g_remove (self_copy);
      g_rmdir (dir);
      g_clear_pointer (&self_copy, g_free);
    }
}

static void
test_password_case (gconstpointer data)
{
  const PasswordCase *test = data;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *helper_dir = NULL;
  g_autofree char *password = NULL;
  const char *result;
  int code = -2;
  gint64 uid = -2;
  guint typed = 99;

  g_test_summary ("A non-root master gives the password once: right, wrong, missing, in English and French");
  if (skip_without_system () || skip_without_program (method_names[test->method]) ||
      skip_without_program ("runuser"))
    return;
  if (test->french && !g_file_test ("/usr/lib/locale/fr_FR.utf8", G_FILE_TEST_EXISTS) &&
      !g_file_test ("/usr/lib/locale/locale-archive", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("no fr_FR.UTF-8 locale (run tests/system/setup-accounts)");
      return;
    }

  if (test->password_of != NULL)
    password = test->wrong ? g_strdup ("wrong-password-1234") : g_strdup (password_of (test->password_of));

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  helper_dir = g_path_get_dirname (helper_binary ());
  g_subprocess_launcher_set_cwd (launcher, helper_dir);
  g_subprocess_launcher_setenv (launcher, "MITOGEN_TEST_HELPER_PASSWORD", password ? password : "", TRUE);
  g_subprocess_launcher_setenv (launcher, "MITOGEN_TEST_PYTHON", test_python (), TRUE);
  if (test->french)
    {
      g_subprocess_launcher_setenv (launcher, "LANG", "fr_FR.UTF-8", TRUE);
      g_subprocess_launcher_setenv (launcher, "LANGUAGE", "fr", TRUE);
      g_subprocess_launcher_setenv (launcher, "LC_ALL", "fr_FR.UTF-8", TRUE);
    }
  else
    {
      g_subprocess_launcher_setenv (launcher, "LANG", "C.UTF-8", TRUE);
      g_subprocess_launcher_unsetenv (launcher, "LANGUAGE");
      g_subprocess_launcher_unsetenv (launcher, "LC_ALL");
    }
  /* Every wait is bounded: timeout(1) ends a helper that hangs. */
  process = g_subprocess_launcher_spawn (launcher, &error, "timeout", HELPER_TIMEOUT_SECONDS,
                                         "runuser", "-u", test->as_user, "--",
                                         helper_binary (), "--helper", method_names[test->method],
                                         test->target, NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error));
  g_assert_no_error (error);
  g_test_message ("helper as %s: stdout %s stderr %s", test->as_user, out, err);

  result = strstr (out, "RESULT ");
  if (result == NULL)
    g_error ("helper printed no result (exit %d): %s%s", g_subprocess_get_exit_status (process), out, err);
  g_assert_cmpint (sscanf (result, "RESULT %d %" G_GINT64_FORMAT " %u", &code, &uid, &typed), ==, 3);

  if (test->expected_code < 0)
    {
      if (code != -1)
        g_error ("expected a connection, got error %d: %s", code, out);
      g_assert_cmpint (uid, ==, getpwnam (test->target)->pw_uid);
    }
  else
    {
      if (code != test->expected_code)
        g_error ("expected error %d, got %d: %s", test->expected_code, code, out);
    }
  /* Never more than one attempt per connection (PAM lockouts). */
  g_assert_cmpuint (typed, ==, test->password_of ? 1 : 0);
}

static const PasswordCase password_cases[] = {
  /* sudo: mitogen-t2 needs its password to become root. */
  { METHOD_SUDO, "mitogen-t2", "root", "mitogen-t2", FALSE, FALSE, -1 },
  { METHOD_SUDO, "mitogen-t2", "root", "mitogen-t2", TRUE, FALSE, MITOGEN_ERROR_BAD_PASSWORD },
  { METHOD_SUDO, "mitogen-t2", "root", NULL, FALSE, FALSE, MITOGEN_ERROR_PASSWORD_REQUIRED },
  { METHOD_SUDO, "mitogen-t2", "root", "mitogen-t2", FALSE, TRUE, -1 },
  { METHOD_SUDO, "mitogen-t2", "root", "mitogen-t2", TRUE, TRUE, MITOGEN_ERROR_BAD_PASSWORD },
  { METHOD_SUDO, "mitogen-t2", "root", NULL, FALSE, TRUE, MITOGEN_ERROR_PASSWORD_REQUIRED },
  /* ...and mitogen-t1 does not. */
  { METHOD_SUDO, "mitogen-t1", "mitogen-t2", NULL, FALSE, FALSE, -1 },
  /* su: the target's password. */
  { METHOD_SU, "mitogen-t1", "mitogen-t2", "mitogen-t2", FALSE, FALSE, -1 },
  { METHOD_SU, "mitogen-t1", "mitogen-t2", "mitogen-t2", TRUE, FALSE, MITOGEN_ERROR_BAD_PASSWORD },
  { METHOD_SU, "mitogen-t1", "mitogen-t2", NULL, FALSE, FALSE, MITOGEN_ERROR_PASSWORD_REQUIRED },
  { METHOD_SU, "mitogen-t1", "mitogen-t2", "mitogen-t2", FALSE, TRUE, -1 },
  { METHOD_SU, "mitogen-t1", "mitogen-t2", "mitogen-t2", TRUE, TRUE, MITOGEN_ERROR_BAD_PASSWORD },
  { METHOD_SU, "mitogen-t1", "mitogen-t2", NULL, FALSE, TRUE, MITOGEN_ERROR_PASSWORD_REQUIRED },
  /* doas: mitogen-t2 with its password, mitogen-t1 without. */
  { METHOD_DOAS, "mitogen-t2", "root", "mitogen-t2", FALSE, FALSE, -1 },
  { METHOD_DOAS, "mitogen-t2", "root", "mitogen-t2", TRUE, FALSE, MITOGEN_ERROR_BAD_PASSWORD },
  { METHOD_DOAS, "mitogen-t2", "root", NULL, FALSE, FALSE, MITOGEN_ERROR_PASSWORD_REQUIRED },
  { METHOD_DOAS, "mitogen-t1", "root", NULL, FALSE, FALSE, -1 },
};

static void
add_password_tests (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (password_cases); i++)
    {
      const PasswordCase *test = &password_cases[i];
      g_autofree char *path =
        g_strdup_printf ("/connect/%s/as-%s/to-%s/%s%s", method_names[test->method], test->as_user,
                         test->target,
                         test->password_of == NULL ? "no-password" : test->wrong ? "wrong-password" : "password",
                         test->french ? "-fr" : "");

      g_test_add_data_func (path, test, test_password_case);
    }
}

int
main (int    argc,
      char **argv)
{
  int status;

  if (argc > 1 && g_str_equal (argv[1], "--helper"))
    return helper_main (argc, argv);

  g_test_init (&argc, &argv, NULL);
  load_system_env ();

  g_test_add_func ("/connect/prompt/parser", test_prompt_parser);
  g_test_add_func ("/connect/shell-join", test_shell_join);
  g_test_add_func ("/connect/target/parse", test_target_parse);
  g_test_add_func ("/connect/proxy-kwargs", test_proxy_kwargs);

#define ADD(path, data, func) \
  g_test_add (path, Fixture, data, fixture_setup, func, fixture_teardown)

  ADD ("/connect/ssh/key", NULL, test_ssh_key);
  ADD ("/connect/ssh/wrong-key", NULL, test_ssh_wrong_key);
  ADD ("/connect/ssh/password", NULL, test_ssh_password);
  ADD ("/connect/ssh/bad-password", NULL, test_ssh_bad_password);
  ADD ("/connect/ssh/password-required", NULL, test_ssh_password_required);
  ADD ("/connect/ssh/host-key/unknown-enforce", &unknown_enforce, test_ssh_host_key);
  ADD ("/connect/ssh/host-key/unknown-accept-new", &unknown_accept_new, test_ssh_host_key);
  ADD ("/connect/ssh/host-key/unknown-ignore", &unknown_ignore, test_ssh_host_key);
  ADD ("/connect/ssh/host-key/changed-enforce", &changed_enforce, test_ssh_host_key);
  ADD ("/connect/ssh/host-key/changed-accept-new", &changed_accept_new, test_ssh_host_key);
  ADD ("/connect/ssh/refused", NULL, test_ssh_refused);
  ADD ("/connect/ssh/timeout", NULL, test_ssh_timeout);
  ADD ("/connect/ssh/no-python", NULL, test_ssh_no_python);
  ADD ("/connect/ssh/target-string", NULL, test_ssh_target_string);
  ADD ("/connect/ssh/user-args-win", NULL, test_ssh_user_args_win);
  ADD ("/connect/ssh/cancel", NULL, test_ssh_async_cancel);
  ADD ("/connect/sudo/as-root", &sudo_method, test_as_root);
  ADD ("/connect/sudo/login-home", NULL, test_sudo_options);
  ADD ("/connect/su/as-root", &su_method, test_as_root);
  ADD ("/connect/doas/as-root", &doas_method, test_as_root);
  ADD ("/connect/sudo/compiled", &sudo_method, test_compiled_boot);
  ADD ("/connect/su/compiled", &su_method, test_compiled_boot);
  ADD ("/connect/doas/compiled", &doas_method, test_compiled_boot);
  add_password_tests ();

  status = g_test_run ();
  remove_helper_binary ();
  return status;
}
