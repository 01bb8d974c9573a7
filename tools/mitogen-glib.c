/* mitogen-glib.c: the command-line tool
 *
 *   mitogen-glib call [OPTIONS] [TARGET] MODULE.FUNCTION [JSON-ARG...]
 *
 * TARGET is a chain of hops (local, ssh:[USER@]HOST[:PORT], sudo[:USER],
 * su[:USER], doas[:USER]); the password for hops that prompt comes from
 * --ask-password or the environment variable MITOGEN_PASSWORD.
 *   mitogen-glib help [COMMAND]
 *   mitogen-glib --version
 *
 * Exit status: 0 on success, 1 when the call or the connection failed, 2 on
 * a usage error (including targets that cannot run yet, such as fork).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>

#include <mitogen-glib.h>

#include "json-variant.h"

#define EXIT_CALL_FAILED 1
#define EXIT_USAGE 2

#define DEFAULT_PYTHON "python3"
#define DEFAULT_CALL_TIMEOUT 60.0
/* How long the broker may take to disconnect children after the call. */
#define SHUTDOWN_JOIN_TIMEOUT (10 * G_USEC_PER_SEC)

static const char general_usage[] =
  "Usage:\n"
  "  mitogen-glib call [OPTION...] [TARGET] MODULE.FUNCTION [JSON-ARG...]\n"
  "  mitogen-glib help [COMMAND]\n"
  "  mitogen-glib --version\n"
  "\n"
  "Commands:\n"
  "  call     Run MODULE.FUNCTION(*ARGS) in a new Python child and print\n"
  "           the result as JSON\n"
  "  help     Show this text, or the options of COMMAND\n"
  "\n"
  "Run 'mitogen-glib help call' for the call options.\n";

static const char call_summary[] =
  "Starts a Python child, runs MODULE.FUNCTION(*ARGS, **KWARGS) there and\n"
  "prints its return value as JSON on stdout. MODULE.FUNCTION is split at\n"
  "the last dot (os.path.join: module os.path, function join). Modules the\n"
  "child lacks are sent to it from this machine's Python search path and\n"
  "the --path directories.";

static const char call_description[] =
  "Arguments:\n"
  "  Each JSON-ARG is parsed as JSON: null, true, 5, 2.5, \"text\", [1,2],\n"
  "  {\"a\":1}. An argument that is not JSON is passed as a plain string\n"
  "  (so `call os.path.join a b` works), unless it starts with [, { or \",\n"
  "  which makes it a JSON error. Integers become Python int, other numbers\n"
  "  float, arrays list, objects dict.\n"
  "\n"
  "  Options may come before, between or after the positional arguments.\n"
  "  Negative numbers (-5, -2.5) are arguments, not options; any other\n"
  "  argument that starts with '-' must follow '--', after which everything\n"
  "  is positional.\n"
  "\n"
  "Result:\n"
  "  None is null; bytes print as a string when they are UTF-8 without NUL,\n"
  "  else as {\"base64\": \"...\"}; tuples print as arrays; dictionary keys\n"
  "  that are not strings print as strings; infinite and NaN floats print\n"
  "  as the strings \"inf\", \"-inf\" and \"nan\".\n"
  "\n"
  "Targets:\n"
  "  local                    a new python on this machine (the default)\n"
  "  ssh:[USER@]HOST[:PORT]   over SSH (the OpenSSH client and your ssh_config)\n"
  "  sudo[:USER], su[:USER], doas[:USER]   as another account (root by default)\n"
  "  fork                     a fork of the previous hop (e.g. local/fork)\n"
  "  Hops chain with '/', e.g. ssh:web1/sudo:root: each hop starts from the\n"
  "  previous one.\n"
  "\n"
  "Passwords:\n"
  "  ssh runs with BatchMode unless a password is given: keys (your agent, or\n"
  "  --identity-file) only. A password comes from --ask-password (asked once\n"
  "  on the terminal, without echo) or from the environment variable\n"
  "  MITOGEN_PASSWORD; it is offered to every hop that prompts (ssh, sudo,\n"
  "  su, doas), once per hop: a wrong password is never retried.\n"
  "\n"
  "Exit status:\n"
  "  0 success; 1 the function raised (the remote traceback is printed on\n"
  "  stderr), or the connection or the call failed; 2 usage error.";

/* Connection targets: parsed by mitogen_target_parse(). */

static const char *const method_names[] = { "local", "ssh", "sudo", "su", "doas", "fork" };

/* A module path never holds ':' or '/', and a method name has no dot, so
 * the first positional argument is unambiguous. */
static gboolean
looks_like_target (const char *arg)
{
  if (strchr (arg, ':') != NULL || strchr (arg, '/') != NULL)
    return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (method_names); i++)
    if (g_str_equal (arg, method_names[i]))
      return TRUE;
  return FALSE;
}

/* Command line. */

typedef struct
{
  char *python;
  char *upstream_core;
  char *identity_file;
  char *known_hosts;
  char *host_key_policy;
  char **ssh_options;
  char **ssh_args;
  gboolean ask_password;
  char **paths;
  double timeout;
  double connect_timeout;
  gboolean debug;
  char *class_name;
  char *kwargs;
  gboolean pretty;
} CallOptions;

static void
call_options_clear (CallOptions *options)
{
  g_clear_pointer (&options->python, g_free);
  g_clear_pointer (&options->upstream_core, g_free);
  g_clear_pointer (&options->identity_file, g_free);
  g_clear_pointer (&options->known_hosts, g_free);
  g_clear_pointer (&options->host_key_policy, g_free);
  g_clear_pointer (&options->ssh_options, g_strfreev);
  g_clear_pointer (&options->ssh_args, g_strfreev);
  g_clear_pointer (&options->paths, g_strfreev);
  g_clear_pointer (&options->class_name, g_free);
  g_clear_pointer (&options->kwargs, g_free);
}

static GOptionContext *
call_option_context_new (CallOptions *options)
{
  const GOptionEntry entries[] = {
    { "python", 0, 0, G_OPTION_ARG_FILENAME, &options->python,
      "Python interpreter of the child (default: " DEFAULT_PYTHON ")", "PATH" },
    { "upstream-core", 0, 0, G_OPTION_ARG_FILENAME, &options->upstream_core,
      "Boot the upstream Mitogen child from this mitogen/core.py", "PATH" },
    { "path", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &options->paths,
      "Serve the child Python modules from DIR too (repeatable)", "DIR" },
    { "class", 0, 0, G_OPTION_ARG_STRING, &options->class_name,
      "Call MODULE.NAME.FUNCTION, a class or static method", "NAME" },
    { "kwargs", 0, 0, G_OPTION_ARG_STRING, &options->kwargs,
      "Keyword arguments, as a JSON object", "JSON-OBJECT" },
    { "timeout", 0, 0, G_OPTION_ARG_DOUBLE, &options->timeout,
      "Seconds the call may take; 0 for no limit (default: 60)", "SECONDS" },
    { "connect-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &options->connect_timeout,
      "Seconds the child may take to start (default: 30)", "SECONDS" },
    { "pretty", 0, 0, G_OPTION_ARG_NONE, &options->pretty,
      "Indent the JSON result", NULL },
    { "debug", 0, 0, G_OPTION_ARG_NONE, &options->debug,
      "Log debug messages, the child's included, on stderr", NULL },
    { "identity-file", 'i', 0, G_OPTION_ARG_FILENAME, &options->identity_file,
      "ssh: authenticate with this private key only (no agent, no default keys)", "FILE" },
    { "known-hosts", 0, 0, G_OPTION_ARG_FILENAME, &options->known_hosts,
      "ssh: known hosts file instead of ~/.ssh/known_hosts", "FILE" },
    { "host-key-policy", 0, 0, G_OPTION_ARG_STRING, &options->host_key_policy,
      "ssh: what to do with unknown host keys: enforce (default), accept-new, ignore", "POLICY" },
    { "ssh-option", 'o', 0, G_OPTION_ARG_STRING_ARRAY, &options->ssh_options,
      "ssh: an ssh_config option, as ssh -o takes it (repeatable; wins over the above)", "NAME=VALUE" },
    { "ssh-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &options->ssh_args,
      "ssh: one extra argument for ssh, e.g. --ssh-arg=-F --ssh-arg=/dev/null (repeatable)", "ARG" },
    { "ask-password", 0, 0, G_OPTION_ARG_NONE, &options->ask_password,
      "Ask for a password on the terminal (no echo) for the hops that prompt", NULL },
    G_OPTION_ENTRY_NULL
  };
  GOptionContext *context = g_option_context_new ("[TARGET] MODULE.FUNCTION [JSON-ARG...]");

  g_option_context_set_summary (context, call_summary);
  g_option_context_set_description (context, call_description);
  g_option_context_add_main_entries (context, entries, NULL);
  /* Unknown "options" are kept so that negative numbers survive; the
   * real unknown ones are refused afterwards. */
  g_option_context_set_ignore_unknown_options (context, TRUE);
  return context;
}

/* Numbers out of range count: parse_argument() reports them better than
 * "unknown option" would. */
static gboolean
is_json_number (const char *arg)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = json_variant_parse (arg, strlen (arg), &error);

  if (value == NULL)
    return g_error_matches (error, JSON_VARIANT_ERROR, JSON_VARIANT_ERROR_RANGE);
  return g_variant_is_of_type (value, G_VARIANT_TYPE_INT64) ||
         g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64) ||
         g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE);
}

/* Turns what g_option_context_parse() left into the positional
 * arguments: drops the first "--", and refuses options it did not know. */
static GPtrArray *
collect_positionals (int      argc,
                     char   **argv,
                     GError **error)
{
  g_autoptr(GPtrArray) positionals = g_ptr_array_new ();
  gboolean options_ended = FALSE;

  for (int i = 1; i < argc; i++)
    {
      const char *arg = argv[i];

      if (!options_ended && g_str_equal (arg, "--"))
        {
          options_ended = TRUE;
          continue;
        }
      if (!options_ended && arg[0] == '-' && arg[1] != '\0' && !is_json_number (arg))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION,
                       "unknown option %s (arguments starting with '-' go after '--')", arg);
          return NULL;
        }
      g_ptr_array_add (positionals, argv[i]);
    }
  return g_steal_pointer (&positionals);
}

static gboolean
is_dotted_name (const char *name)
{
  g_auto(GStrv) parts = g_strsplit (name, ".", -1);

  if (parts[0] == NULL)
    return FALSE;
  for (gsize i = 0; parts[i] != NULL; i++)
    if (parts[i][0] == '\0')
      return FALSE;
  return TRUE;
}

/* "os.path.join" -> "os.path", "join". */
static gboolean
split_function (const char  *spec,
                char       **out_module,
                char       **out_function,
                GError     **error)
{
  const char *dot = strrchr (spec, '.');

  if (dot == NULL || !is_dotted_name (spec))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "expected MODULE.FUNCTION, got '%s'", spec);
      return FALSE;
    }
  *out_module = g_strndup (spec, dot - spec);
  *out_function = g_strdup (dot + 1);
  return TRUE;
}

/* Text that is not JSON is a plain string, except text that starts like
 * a JSON string, array or object: that is a mistyped value, and passing
 * it on as a string would hide the mistake. */
static GVariant *
parse_argument (const char  *arg,
                guint        index,
                GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  GVariant *value = json_variant_parse (arg, strlen (arg), &local_error);
  const char *first = arg + strspn (arg, " \t\n\r");

  if (value != NULL)
    return value;
  if (*first != '\0' && strchr ("[{\"", *first) != NULL)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "argument %u: %s", index, local_error->message);
      return NULL;
    }
  /* Numbers out of range are JSON too: refuse them rather than pass the
   * digits on as a string. */
  if (g_error_matches (local_error, JSON_VARIANT_ERROR, JSON_VARIANT_ERROR_RANGE))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "argument %u: %s", index, local_error->message);
      return NULL;
    }
  if (!g_utf8_validate (arg, -1, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "argument %u is not valid UTF-8", index);
      return NULL;
    }
  return g_variant_ref_sink (g_variant_new_string (arg));
}

/* stderr gets UTF-8 as is, like stdout: g_printerr() would turn remote
 * text into '?' under a C locale. */
static void
print_error (const char *message)
{
  fprintf (stderr, "mitogen-glib: %s\n", message);
}

static int
usage_error (GOptionContext *context,
             const char     *message)
{
  print_error (message);
  if (context != NULL)
    fprintf (stderr, "Usage: mitogen-glib call [OPTION...] [TARGET] MODULE.FUNCTION [JSON-ARG...]\n"
             "Run 'mitogen-glib help call' for more.\n");
  else
    fprintf (stderr, "%s", general_usage);
  return EXIT_USAGE;
}

static gboolean
write_stdout (const char *text)
{
  return fputs (text, stdout) >= 0 && fflush (stdout) == 0;
}

/* Shuts the router down, bounded: a child that does not go away must not
 * keep the tool alive. */
static void
shutdown_router (MitogenRouter *router)
{
  MitogenBroker *broker = mitogen_router_get_broker (router);

  mitogen_router_shutdown (router);
  if (!mitogen_broker_join (broker, SHUTDOWN_JOIN_TIMEOUT))
    print_error ("warning: the broker did not stop within 10 s");
}

static int
run_call (CallOptions *options,
          GList       *hops,
          const char  *module,
          const char  *function,
          GVariant    *args,
          GVariant    *kwargs)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;
  gint64 timeout_usec;
  int status = EXIT_SUCCESS;

  router = mitogen_router_new (NULL);
  for (gsize i = 0; options->paths != NULL && options->paths[i] != NULL; i++)
    mitogen_router_add_python_path (router, options->paths[i]);

  context = mitogen_router_connect_hops (router, hops, NULL, &error);
  if (context == NULL)
    {
      print_error (error->message);
      shutdown_router (router);
      return EXIT_CALL_FAILED;
    }

  timeout_usec = options->timeout > 0 ? (gint64) (options->timeout * G_USEC_PER_SEC) : -1;
  result = mitogen_context_call_sync (context, module, options->class_name, function,
                                      args, kwargs, timeout_usec, NULL, &error);
  if (result == NULL)
    {
      /* The remote traceback, as Python would show it. */
      if (g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL))
        fprintf (stderr, "%s%s", error->message, g_str_has_suffix (error->message, "\n") ? "" : "\n");
      else
        print_error (error->message);
      status = EXIT_CALL_FAILED;
    }
  else
    {
      json = json_variant_print (result, options->pretty);
      if (!write_stdout (json) || !write_stdout ("\n"))
        {
          g_autofree char *message = g_strdup_printf ("cannot write the result: %s", g_strerror (errno));

          print_error (message);
          status = EXIT_CALL_FAILED;
        }
    }

  shutdown_router (router);
  return status;
}

/* Reads a line from the terminal with echo off. */
static char *
ask_password (GError **error)
{
  struct termios saved;
  struct termios quiet;
  char line[1024];
  FILE *tty = fopen ("/dev/tty", "r+e");
  char *result;

  if (tty == NULL)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                   "--ask-password: no terminal to ask on (%s); set MITOGEN_PASSWORD instead",
                   g_strerror (errno));
      return NULL;
    }
  if (tcgetattr (fileno (tty), &saved) != 0)
    {
      fclose (tty);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "--ask-password: not a terminal");
      return NULL;
    }
  quiet = saved;
  quiet.c_lflag &= ~(ECHO | ECHONL);
  quiet.c_lflag |= ICANON;
  /* Echo off before the prompt: whoever answers it as soon as it shows
   * must not see the password echoed, nor have it flushed away. */
  tcsetattr (fileno (tty), TCSAFLUSH, &quiet);
  fputs ("Password: ", tty);
  fflush (tty);
  result = fgets (line, sizeof line, tty);
  tcsetattr (fileno (tty), TCSADRAIN, &saved);
  fputs ("\n", tty);
  fclose (tty);
  if (result == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "--ask-password: no password read");
      return NULL;
    }
  line[strcspn (line, "\r\n")] = '\0';
  result = g_strdup (line);
  explicit_bzero (line, sizeof line);
  return result;
}

/* The target's hops, with the command line's settings applied. */
static GList *
build_hops (CallOptions  *options,
            const char   *target,
            const char   *password,
            GError      **error)
{
  g_autoptr(MitogenConnectionOptions) defaults = mitogen_connection_options_new ();
  g_autoptr(GPtrArray) ssh_args = g_ptr_array_new ();
  MitogenHostKeyPolicy policy = MITOGEN_HOST_KEY_POLICY_ENFORCE;
  GList *hops;

  mitogen_connection_options_set_python_path (defaults, options->python ? options->python : DEFAULT_PYTHON);
  mitogen_connection_options_set_connect_timeout (defaults, options->connect_timeout);
  mitogen_connection_options_set_debug (defaults, options->debug);
  mitogen_connection_options_set_upstream_core_path (defaults, options->upstream_core);

  if (options->host_key_policy != NULL)
    {
      GEnumClass *enum_class = g_type_class_ref (MITOGEN_TYPE_HOST_KEY_POLICY);
      GEnumValue *value = g_enum_get_value_by_nick (enum_class, options->host_key_policy);

      if (value == NULL)
        {
          g_type_class_unref (enum_class);
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "--host-key-policy: '%s' is not one of enforce, accept-new, ignore",
                       options->host_key_policy);
          return NULL;
        }
      policy = value->value;
      g_type_class_unref (enum_class);
    }
  for (gsize i = 0; options->ssh_args != NULL && options->ssh_args[i] != NULL; i++)
    g_ptr_array_add (ssh_args, options->ssh_args[i]);
  for (gsize i = 0; options->ssh_options != NULL && options->ssh_options[i] != NULL; i++)
    {
      g_ptr_array_add (ssh_args, "-o");
      g_ptr_array_add (ssh_args, options->ssh_options[i]);
    }
  g_ptr_array_add (ssh_args, NULL);

  hops = mitogen_target_parse (target, defaults, error);
  for (GList *l = hops; l != NULL; l = l->next)
    {
      if (MITOGEN_IS_SSH_OPTIONS (l->data))
        {
          MitogenSshOptions *ssh = l->data;

          mitogen_ssh_options_set_identity_file (ssh, options->identity_file);
          mitogen_ssh_options_set_known_hosts_file (ssh, options->known_hosts);
          mitogen_ssh_options_set_host_key_policy (ssh, policy);
          mitogen_ssh_options_set_ssh_args (ssh, ssh_args->len > 1 ? (const char * const *) ssh_args->pdata : NULL);
          mitogen_ssh_options_set_password (ssh, password);
        }
      else if (MITOGEN_IS_SUDO_OPTIONS (l->data))
        mitogen_sudo_options_set_password (l->data, password);
      else if (MITOGEN_IS_SU_OPTIONS (l->data))
        mitogen_su_options_set_password (l->data, password);
      else if (MITOGEN_IS_DOAS_OPTIONS (l->data))
        mitogen_doas_options_set_password (l->data, password);
    }
  return hops;
}

static gboolean
check_seconds (const char  *option,
               double       value,
               gboolean     zero_allowed,
               GError     **error)
{
  if (!isfinite (value) || value < 0 || (value == 0 && !zero_allowed) ||
      value > (double) (G_MAXINT64 / G_USEC_PER_SEC))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "invalid value %g for %s", value, option);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_options (CallOptions  *options,
               GError      **error)
{
  if (!check_seconds ("--timeout", options->timeout, TRUE, error) ||
      !check_seconds ("--connect-timeout", options->connect_timeout, FALSE, error))
    return FALSE;
  if (options->class_name != NULL && !is_dotted_name (options->class_name))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "invalid class name '%s'", options->class_name);
      return FALSE;
    }
  if (options->upstream_core != NULL &&
      !g_file_test (options->upstream_core, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--upstream-core: '%s' is not a file", options->upstream_core);
      return FALSE;
    }
  for (gsize i = 0; options->paths != NULL && options->paths[i] != NULL; i++)
    {
      char *absolute;

      if (!g_file_test (options->paths[i], G_FILE_TEST_IS_DIR))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "--path: '%s' is not a directory", options->paths[i]);
          return FALSE;
        }
      /* Absolute, so that a debug log names the directory exactly. */
      absolute = g_canonicalize_filename (options->paths[i], NULL);
      g_free (options->paths[i]);
      options->paths[i] = absolute;
    }
  return TRUE;
}

static int
command_call (int    argc,
              char **argv)
{
  CallOptions options = { .timeout = DEFAULT_CALL_TIMEOUT,
                          .connect_timeout = MITOGEN_DEFAULT_CONNECT_TIMEOUT };
  g_autoptr(GOptionContext) option_context = call_option_context_new (&options);
  g_autoptr(GPtrArray) positionals = NULL;
  g_autoptr(GError) error = NULL;
  g_autolist(MitogenConnectionOptions) hops = NULL;
  g_autofree char *password = NULL;
  g_autoptr(GPtrArray) arg_values = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  g_autoptr(GVariant) args = NULL;
  g_autoptr(GVariant) kwargs = NULL;
  g_autofree char *module = NULL;
  g_autofree char *function = NULL;
  const char *target = "local";
  guint first = 0;
  int status;

  if (!g_option_context_parse (option_context, &argc, &argv, &error) ||
      (positionals = collect_positionals (argc, argv, &error)) == NULL ||
      !check_options (&options, &error))
    {
      status = usage_error (option_context, error->message);
      goto out;
    }

  if (positionals->len > 0 && looks_like_target (positionals->pdata[0]))
    target = positionals->pdata[first++];
  if (first >= positionals->len)
    {
      status = usage_error (option_context, "missing MODULE.FUNCTION");
      goto out;
    }

  hops = build_hops (&options, target, NULL, &error);
  if (hops == NULL || !split_function (positionals->pdata[first], &module, &function, &error))
    {
      status = usage_error (option_context, error->message);
      goto out;
    }

  for (guint i = first + 1; i < positionals->len; i++)
    {
      GVariant *value = parse_argument (positionals->pdata[i], i - first, &error);

      if (value == NULL)
        {
          status = usage_error (option_context, error->message);
          goto out;
        }
      g_ptr_array_add (arg_values, value);
    }
  args = g_variant_ref_sink (g_variant_new_tuple ((GVariant **) arg_values->pdata, arg_values->len));

  if (options.kwargs != NULL)
    {
      g_autoptr(GError) json_error = NULL;

      kwargs = json_variant_parse (options.kwargs, strlen (options.kwargs), &json_error);
      if (kwargs == NULL || !g_variant_is_of_type (kwargs, G_VARIANT_TYPE_VARDICT))
        {
          g_autofree char *message = g_strdup_printf ("--kwargs needs a JSON object%s%s",
                                                      json_error ? ": " : "",
                                                      json_error ? json_error->message : "");

          status = usage_error (option_context, message);
          goto out;
        }
    }

  if (options.debug)
    mitogen_set_debug (TRUE);

  /* Asked only once the command line is known to be good. */
  if (options.ask_password)
    password = ask_password (&error);
  else if (g_getenv ("MITOGEN_PASSWORD") != NULL)
    password = g_strdup (g_getenv ("MITOGEN_PASSWORD"));
  if (options.ask_password && password == NULL)
    {
      print_error (error->message);
      status = EXIT_CALL_FAILED;
      goto out;
    }
  if (password != NULL)
    {
      g_list_free_full (g_steal_pointer (&hops), g_object_unref);
      hops = build_hops (&options, target, password, &error);
      g_assert (hops != NULL);
    }

  status = run_call (&options, hops, module, function, args, kwargs);
  if (password != NULL)
    explicit_bzero (password, strlen (password));

out:
  call_options_clear (&options);
  return status;
}

static int
command_help (int    argc,
              char **argv)
{
  if (argc < 3)
    {
      g_print ("%s", general_usage);
      return EXIT_SUCCESS;
    }
  if (g_str_equal (argv[2], "call"))
    {
      CallOptions options = { 0 };
      g_autoptr(GOptionContext) context = call_option_context_new (&options);
      g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

      g_print ("%s", help);
      return EXIT_SUCCESS;
    }
  if (g_str_equal (argv[2], "help"))
    {
      g_print ("%s", general_usage);
      return EXIT_SUCCESS;
    }
  {
    g_autofree char *message = g_strdup_printf ("unknown command '%s'", argv[2]);

    return usage_error (NULL, message);
  }
}

int
main (int    argc,
      char **argv)
{
  const char *command = argc > 1 ? argv[1] : NULL;

  /* GOption writes "Usage: <prgname> [OPTION...] ..." */
  g_set_prgname ("mitogen-glib call");

  if (command == NULL)
    return usage_error (NULL, "missing command");
  if (g_str_equal (command, "--version") || g_str_equal (command, "version"))
    {
      g_print ("mitogen-glib %s\n", MITOGEN_VERSION_S);
      return EXIT_SUCCESS;
    }
  if (g_str_equal (command, "help") || g_str_equal (command, "--help") || g_str_equal (command, "-h"))
    return command_help (argc, argv);
  if (g_str_equal (command, "call"))
    return command_call (argc - 1, argv + 1);

  {
    g_autofree char *message = g_strdup_printf ("unknown command '%s'", command);

    return usage_error (NULL, message);
  }
}
