/* test-core.c: broker, router, contexts and calls against real children:
 * mitogen-glib's own child runtime, and the upstream Mitogen 0.3 child
 * (python3-mitogen) as the interop referee.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <mitogen-glib.h>

#include "mitogen-connection-private.h"
#include "mitogen-router-private.h"
#include "mitogen-stream-private.h"
#include "test-time-scale.h"

#define UPSTREAM_CORE "/usr/lib/python3/dist-packages/mitogen/core.py"
#define CALL_TIMEOUT (20 * G_USEC_PER_SEC)

typedef struct
{
  gboolean upstream;
} Mode;

static const Mode own_mode = { FALSE };
static const Mode upstream_mode = { TRUE };

typedef struct
{
  MitogenRouter *router;
  MitogenContext *context;
  GThread *main_thread;
} Fixture;

static const char *
test_python (void)
{
  const char *python = g_getenv ("MITOGEN_TEST_PYTHON");

  return python && *python ? python : "python3";
}

static MitogenConnectionOptions *
make_options (const Mode *mode)
{
  MitogenConnectionOptions *options = mitogen_connection_options_new ();

  mitogen_connection_options_set_python_path (options, test_python ());
  mitogen_connection_options_set_connect_timeout (options, 30.0);
  if (mode->upstream)
    mitogen_connection_options_set_upstream_core_path (options, UPSTREAM_CORE);
  return options;
}

static gboolean
skip_if_unavailable (const Mode *mode)
{
  if (mode->upstream && !g_file_test (UPSTREAM_CORE, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("python3-mitogen is not installed (" UPSTREAM_CORE " missing)");
      return TRUE;
    }
  return FALSE;
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  const Mode *mode = data;
  g_autoptr(MitogenConnectionOptions) options = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *helpers = g_test_build_filename (G_TEST_DIST, "data", "python", NULL);

  fixture->main_thread = g_thread_self ();
  if (skip_if_unavailable (mode))
    return;

  fixture->router = mitogen_router_new (NULL);
  mitogen_router_add_python_path (fixture->router, helpers);
  options = make_options (mode);
  fixture->context = mitogen_router_local (fixture->router, options, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fixture->context);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  if (fixture->router != NULL)
    {
      MitogenBroker *broker = mitogen_router_get_broker (fixture->router);

      mitogen_router_shutdown (fixture->router);
      g_assert_true (mitogen_broker_join (broker, 10 * G_USEC_PER_SEC));
    }
  g_clear_object (&fixture->context);
  g_clear_object (&fixture->router);
}

static GVariant *
call (Fixture     *fixture,
      const char  *function,
      GVariant    *args,
      GError     **error)
{
  return mitogen_context_call_sync (fixture->context, "mitogen_test_helpers", NULL, function,
                                    args, NULL, CALL_TIMEOUT, NULL, error);
}

static void
test_call_pid (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) pid = NULL;
  g_autoptr(GVariant) module_pid = NULL;

  g_test_summary ("A local child runs os.getpid and a function served from the master's search path");
  if (fixture->router == NULL)
    return;

  pid = mitogen_context_call_sync (fixture->context, "os", NULL, "getpid", NULL, NULL,
                                   CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (pid, G_VARIANT_TYPE_INT64));
  g_assert_cmpint (g_variant_get_int64 (pid), !=, getpid ());
  g_assert_cmpint (g_variant_get_int64 (pid), >, 0);

  module_pid = call (fixture, "pid", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (module_pid), ==, g_variant_get_int64 (pid));
}

static GVariant *
pattern_bytes (gsize       size,
               guint8      seed,
               GPtrArray  *digests)
{
  guint8 *data = g_malloc (size);

  for (gsize i = 0; i < size; i++)
    data[i] = (guint8) (i * 131 + seed + i / 4093);
  g_ptr_array_add (digests, g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, size));
  return g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, data, size, TRUE, g_free, data);
}

static void
test_call_big_bytes (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(GPtrArray) expected = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) got = NULL;
  GVariant *first, *small, *nested, *last;
  GVariant *args;

  g_test_summary ("Big bytes arguments (sent from where they are, not copied into the "
                  "pickle) arrive intact, between small ones and in containers, in frames "
                  "larger than the socket buffer");
  if (fixture->router == NULL)
    return;

  /* One at a time: the digests must be in argument order. */
  first = pattern_bytes (1024 * 1024 + 3, 1, expected);
  small = pattern_bytes (100, 2, expected);
  nested = g_variant_new_variant (pattern_bytes (80 * 1024, 3, expected));
  last = pattern_bytes (6 * 1024 * 1024, 4, expected);
  args = g_variant_new ("(@ays@ay@av@ay)", first, "between", small,
                        g_variant_new_array (G_VARIANT_TYPE_VARIANT, (GVariant *[]) {
                          nested, g_variant_new_variant (g_variant_new_int64 (5)),
                        }, 2),
                        last);
  result = call (fixture, "digests", args, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (result, G_VARIANT_TYPE ("av")));
  got = g_new0 (char *, g_variant_n_children (result) + 1);
  for (gsize i = 0; i < g_variant_n_children (result); i++)
    {
      g_autoptr(GVariant) item = g_variant_get_child_value (result, i);
      g_autoptr(GVariant) text = g_variant_get_variant (item);

      got[i] = g_variant_dup_string (text, NULL);
    }
  g_assert_cmpuint (g_strv_length (got), ==, expected->len);
  for (guint i = 0; i < expected->len; i++)
    g_assert_cmpstr (got[i], ==, g_ptr_array_index (expected, i));
}

static void
test_call_values (Fixture       *fixture,
                  gconstpointer  data)
{
  const char *values[] = {
    "@mv nothing",
    "true",
    "int64 0",
    "int64 -9223372036854775808",
    "int64 9223372036854775807",
    "uint64 18446744073709551615",
    "1.5",
    "'caf\u00e9 \U0001F600'",
    "@ay []",
    "b'\\x00\\xffbytes'",
    "@av [<int64 1>, <'two'>, <@av []>]",
    "(<int64 1>, <'x'>)",
    "@a{sv} {'k': <@a{sv} {'nested': <true>}>}",
    "@a{xv} {1: <'one'>, -2: <'minus two'>}",
    "@o '/mitogen/context/0'",
  };
  g_autoptr(GError) error = NULL;

  g_test_summary ("Every value type survives a round trip through a child's echo()");
  if (fixture->router == NULL)
    return;

  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      /* g_variant_parse() returns a non-floating reference already. */
      g_autoptr(GVariant) value = g_variant_parse (NULL, values[i], NULL, NULL, &error);
      g_autoptr(GVariant) back = NULL;

      g_assert_no_error (error);
      back = call (fixture, "echo", g_variant_new ("(@*)", value), &error);
      g_assert_no_error (error);
      if (!g_variant_equal (value, back))
        {
          g_autofree char *sent = g_variant_print (value, TRUE);
          g_autofree char *got = g_variant_print (back, TRUE);

          g_error ("echo(%s) returned %s", sent, got);
        }
    }
}

static void
test_call_types_from_child (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GVariant) item = NULL;
  gint64 big;

  g_test_summary ("Values built in the child decode to the documented GVariant types");
  if (fixture->router == NULL)
    return;

  result = call (fixture, "types", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (result, G_VARIANT_TYPE ("a{sv}")));
  g_assert_true (g_variant_lookup (result, "big", "x", &big));
  g_assert_cmpint (big, ==, G_MAXINT64);
  item = g_variant_lookup_value (result, "bytes", G_VARIANT_TYPE_BYTESTRING);
  g_assert_nonnull (item);
  g_clear_pointer (&item, g_variant_unref);
  item = g_variant_lookup_value (result, "intkeys", G_VARIANT_TYPE ("a{xv}"));
  g_assert_nonnull (item);
  g_clear_pointer (&item, g_variant_unref);
  item = g_variant_lookup_value (result, "none", G_VARIANT_TYPE ("mv"));
  g_assert_nonnull (item);
  g_assert_null (g_variant_get_maybe (item));

  /* The own runtime sends namedtuples (os.stat_result...) as tuples; the
   * upstream child pickles their class, which the codec refuses. */
  if (!((const Mode *) data)->upstream)
    {
      g_autoptr(GVariant) uname = mitogen_context_call_sync (fixture->context, "platform", NULL, "uname",
                                                             NULL, NULL, CALL_TIMEOUT, NULL, &error);

      g_assert_no_error (error);
      g_assert_true (g_variant_is_of_type (uname, G_VARIANT_TYPE_TUPLE));
      g_assert_cmpuint (g_variant_n_children (uname), >=, 5);
    }
}

static void
test_call_kwargs_and_classes (Fixture       *fixture,
                              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GVariant) doubled = NULL;
  g_autoptr(GVariant) tripled = NULL;
  GVariantDict kwargs;

  g_test_summary ("Keyword arguments, classmethods, staticmethods and takes_econtext functions work in the child");
  if (fixture->router == NULL)
    return;

  g_variant_dict_init (&kwargs, NULL);
  g_variant_dict_insert (&kwargs, "flag", "b", TRUE);
  result = mitogen_context_call_sync (fixture->context, "mitogen_test_helpers", NULL, "echo_args",
                                      g_variant_new ("(xs)", (gint64) 7, "seven"),
                                      g_variant_dict_end (&kwargs), CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  {
    g_autofree char *text = g_variant_print (result, FALSE);
    g_assert_cmpstr (text, ==, "[<[<int64 7>, <'seven'>]>, <{'flag': <true>}>]");
  }

  doubled = mitogen_context_call_sync (fixture->context, "mitogen_test_helpers", "Calculator", "double",
                                       g_variant_new ("(x)", (gint64) 21), NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (doubled), ==, 42);
  tripled = mitogen_context_call_sync (fixture->context, "mitogen_test_helpers", "Calculator", "triple",
                                       g_variant_new ("(x)", (gint64) 5), NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (tripled), ==, 15);

  /* takes_econtext: the child passes its own context objects in. */
  {
    g_autoptr(GVariant) id = call (fixture, "context_id", NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpint (g_variant_get_int64 (id), ==, mitogen_context_get_context_id (fixture->context));
  }
}

static void
test_call_error (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = NULL;

  g_test_summary ("A remote exception becomes a CALL error with the type, message and traceback");
  if (fixture->router == NULL)
    return;

  result = call (fixture, "fail", g_variant_new ("(s)", "boom"), &error);
  g_assert_null (result);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_true (g_str_has_prefix (error->message, "builtins.ValueError: boom"));
  g_assert_nonnull (strstr (error->message, "mitogen_test_helpers.py"));
  g_assert_nonnull (strstr (error->message, "in fail"));
}

static void
test_call_package (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) area = NULL;

  g_test_summary ("A package and its submodules are imported from the master");
  if (fixture->router == NULL)
    return;

  area = mitogen_context_call_sync (fixture->context, "mitogen_testpkg", NULL, "area",
                                    g_variant_new ("(x)", (gint64) 7), NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (area), ==, 49);
}

static void
test_call_missing_module (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = NULL;
  gint64 start = g_get_monotonic_time ();

  g_test_summary ("A module nobody has gives a clear ImportError at once, not a hang");
  if (fixture->router == NULL)
    return;

  result = mitogen_context_call_sync (fixture->context, "no_such_module_anywhere", NULL, "f",
                                      NULL, NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_nonnull (strstr (error->message, "no_such_module_anywhere"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, test_scaled_usec (10 * G_USEC_PER_SEC));
}

typedef struct
{
  GMainLoop *loop;
  GMainContext *expected_context;
  GThread *expected_thread;
  GVariant *result;
  GError *error;
  guint pending;
} AsyncState;

static void
call_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  AsyncState *state = user_data;

  /* Never on the broker thread: always the caller's thread and context. */
  g_assert_true (g_thread_self () == state->expected_thread);
  g_assert_true (g_main_context_get_thread_default () == state->expected_context ||
                 (state->expected_context == g_main_context_default () &&
                  g_main_context_get_thread_default () == NULL));
  g_clear_pointer (&state->result, g_variant_unref);
  g_clear_error (&state->error);
  state->result = mitogen_context_call_finish (MITOGEN_CONTEXT (source), result, &state->error);
  if (--state->pending == 0)
    g_main_loop_quit (state->loop);
}

static gboolean
watchdog (gpointer data)
{
  g_error ("test timed out");
  return G_SOURCE_REMOVE;
}

static void
test_call_async (Fixture       *fixture,
                 gconstpointer  data)
{
  AsyncState state = { 0 };
  guint watchdog_id;

  g_test_summary ("call_async completes in the caller's thread-default main context");
  if (fixture->router == NULL)
    return;

  state.loop = g_main_loop_new (NULL, FALSE);
  state.expected_context = g_main_context_default ();
  state.expected_thread = g_thread_self ();
  state.pending = 1;
  watchdog_id = g_timeout_add_seconds (30, watchdog, NULL);
  mitogen_context_call_async (fixture->context, "mitogen_test_helpers", NULL, "add",
                              g_variant_new ("(xx)", (gint64) 2, (gint64) 3), NULL,
                              NULL, call_done, &state);
  g_main_loop_run (state.loop);
  g_source_remove (watchdog_id);
  g_assert_no_error (state.error);
  g_assert_cmpint (g_variant_get_int64 (state.result), ==, 5);
  g_clear_pointer (&state.result, g_variant_unref);
  g_main_loop_unref (state.loop);
}

typedef struct
{
  Fixture *fixture;
  gboolean ok;
} ThreadArgs;

static gpointer
async_in_thread (gpointer data)
{
  ThreadArgs *args = data;
  g_autoptr(GMainContext) context = g_main_context_new ();
  AsyncState state = { 0 };

  g_main_context_push_thread_default (context);
  state.loop = g_main_loop_new (context, FALSE);
  state.expected_context = context;
  state.expected_thread = g_thread_self ();
  state.pending = 10;
  for (gint64 i = 0; i < 10; i++)
    mitogen_context_call_async (args->fixture->context, "mitogen_test_helpers", NULL, "echo",
                                g_variant_new ("(x)", i), NULL, NULL, call_done, &state);
  g_main_loop_run (state.loop);
  args->ok = state.error == NULL && state.result != NULL;
  g_clear_pointer (&state.result, g_variant_unref);
  g_clear_error (&state.error);
  g_main_loop_unref (state.loop);
  g_main_context_pop_thread_default (context);
  return NULL;
}

static void
test_call_async_other_thread (Fixture       *fixture,
                              gconstpointer  data)
{
  ThreadArgs args = { fixture, FALSE };
  GThread *thread;

  g_test_summary ("Calls started on a thread with its own main context complete there");
  if (fixture->router == NULL)
    return;

  thread = g_thread_new ("caller", async_in_thread, &args);
  g_thread_join (thread);
  g_assert_true (args.ok);
}

static void
test_cancel_call (Fixture       *fixture,
                  gconstpointer  data)
{
  AsyncState state = { 0 };
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) after = NULL;

  g_test_summary ("Cancelling a pending call fails it with CANCELLED and the context keeps working");
  if (fixture->router == NULL)
    return;

  state.loop = g_main_loop_new (NULL, FALSE);
  state.expected_context = g_main_context_default ();
  state.expected_thread = g_thread_self ();
  state.pending = 1;
  mitogen_context_call_async (fixture->context, "mitogen_test_helpers", NULL, "sleep",
                              g_variant_new ("(d)", 0.5), NULL, cancellable, call_done, &state);
  g_cancellable_cancel (cancellable);
  g_main_loop_run (state.loop);
  g_assert_error (state.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&state.error);
  g_main_loop_unref (state.loop);

  /* The child still answers, and nothing stale is delivered. */
  after = call (fixture, "add", g_variant_new ("(xx)", (gint64) 1, (gint64) 1), &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (after), ==, 2);
}

static void
test_call_timeout (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = NULL;

  g_test_summary ("A call with a deadline times out with TIMEOUT");
  if (fixture->router == NULL)
    return;

  result = mitogen_context_call_sync (fixture->context, "mitogen_test_helpers", NULL, "sleep",
                                      g_variant_new ("(d)", 2.0), NULL, G_USEC_PER_SEC / 5, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
}

static gpointer
cancel_soon (gpointer data)
{
  g_usleep (G_USEC_PER_SEC / 5);
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_call_sync_cancel (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GVariant) after = NULL;
  GThread *canceller;

  g_test_summary ("A blocking call cancelled from another thread fails with CANCELLED; "
                  "its late reply is dropped and the next call gets its own result");
  if (fixture->router == NULL)
    return;

  canceller = g_thread_new ("canceller", cancel_soon, cancellable);
  result = mitogen_context_call_sync (fixture->context, "mitogen_test_helpers", NULL, "sleep",
                                      g_variant_new ("(d)", 0.5), NULL, CALL_TIMEOUT, cancellable, &error);
  g_thread_join (canceller);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  /* Sent before the sleep's reply (0.5) comes: that reply must not be
   * taken for this one. */
  after = call (fixture, "add", g_variant_new ("(xx)", (gint64) 2, (gint64) 3), &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (after), ==, 5);
}

static void
test_call_sync_cancelled_before (Fixture       *fixture,
                                 gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) first = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GVariant) second = NULL;

  g_test_summary ("A blocking call with a cancellable already cancelled fails with "
                  "CANCELLED and is never sent");
  if (fixture->router == NULL)
    return;

  first = call (fixture, "increment", NULL, &error);
  g_assert_no_error (error);
  g_cancellable_cancel (cancellable);
  result = mitogen_context_call_sync (fixture->context, "mitogen_test_helpers", NULL, "increment",
                                      NULL, NULL, CALL_TIMEOUT, cancellable, &error);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  second = call (fixture, "increment", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (second), ==, g_variant_get_int64 (first) + 1);
}

static void
on_disconnected (MitogenContext *context,
                 gpointer        user_data)
{
  gboolean *flag = user_data;

  g_assert_true (g_main_context_get_thread_default () == NULL ||
                 g_main_context_get_thread_default () == g_main_context_default ());
  *flag = TRUE;
}

typedef struct
{
  AsyncState *state;
  GPid pid;
  gint64 killed_at;
} Killer;

static gboolean
kill_child (gpointer data)
{
  Killer *killer = data;

  killer->killed_at = g_get_monotonic_time ();
  kill (killer->pid, SIGKILL);
  return G_SOURCE_REMOVE;
}

static void
test_child_killed_mid_call (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) pid = NULL;
  AsyncState state = { 0 };
  Killer killer = { &state, 0, 0 };
  gboolean disconnected = FALSE;
  gint64 elapsed;
  guint watchdog_id;

  g_test_summary ("A child SIGKILLed mid-call fails the call with CHANNEL in under a second");
  if (fixture->router == NULL)
    return;

  g_signal_connect (fixture->context, "disconnected", G_CALLBACK (on_disconnected), &disconnected);
  pid = call (fixture, "pid", NULL, &error);
  g_assert_no_error (error);
  killer.pid = (GPid) g_variant_get_int64 (pid);

  state.loop = g_main_loop_new (NULL, FALSE);
  state.expected_context = g_main_context_default ();
  state.expected_thread = g_thread_self ();
  state.pending = 1;
  watchdog_id = g_timeout_add_seconds (30, watchdog, NULL);
  mitogen_context_call_async (fixture->context, "mitogen_test_helpers", NULL, "sleep",
                              g_variant_new ("(d)", 30.0), NULL, NULL, call_done, &state);
  g_timeout_add (200, kill_child, &killer);
  g_main_loop_run (state.loop);
  elapsed = g_get_monotonic_time () - killer.killed_at;
  g_source_remove (watchdog_id);

  g_assert_cmpint (killer.killed_at, >, 0);
  g_assert_error (state.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_cmpint (elapsed, <, test_scaled_usec (G_USEC_PER_SEC));
  g_clear_error (&state.error);

  /* The signal follows in the same main context. */
  while (!disconnected)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (mitogen_context_is_connected (fixture->context));

  /* A new call on the dead context fails at once. */
  g_clear_pointer (&pid, g_variant_unref);
  pid = call (fixture, "pid", NULL, &error);
  g_assert_null (pid);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_main_loop_unref (state.loop);
}

static void
test_connect_errors (void)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new (NULL);
  g_autoptr(MitogenConnectionOptions) options = mitogen_connection_options_new ();
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("Connection failures say what happened: not found, exit status with stderr, timeout");

  mitogen_connection_options_set_python_path (options, "/nonexistent/python3");
  context = mitogen_router_local (router, options, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT);
  g_assert_nonnull (strstr (error->message, "not found"));
  g_clear_error (&error);

  /* An "interpreter" that complains and exits 3. */
  g_clear_object (&options);
  options = mitogen_connection_options_new ();
  mitogen_connection_options_set_python_path (options, g_test_get_filename (G_TEST_DIST, "data", "fake-python-exit3.sh", NULL));
  context = mitogen_router_local (router, options, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT);
  g_assert_nonnull (strstr (error->message, "status 3"));
  g_assert_nonnull (strstr (error->message, "no python here"));
  g_clear_error (&error);

  g_clear_object (&options);
  options = mitogen_connection_options_new ();
  mitogen_connection_options_set_python_path (options, g_test_get_filename (G_TEST_DIST, "data", "fake-python-hang.sh", NULL));
  mitogen_connection_options_set_connect_timeout (options, 0.5);
  context = mitogen_router_local (router, options, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT_TIMEOUT);
  g_clear_error (&error);

  mitogen_router_shutdown (router);
  g_assert_true (mitogen_broker_join (mitogen_router_get_broker (router), 10 * G_USEC_PER_SEC));
}

typedef struct
{
  GMutex lock;
  GPtrArray *lines;  /* "logger|message" of Mitogen-domain child records */
} LogCapture;

static LogCapture log_capture;

static GLogWriterOutput
capture_writer (GLogLevelFlags   log_level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  const char *logger = NULL;
  const char *message = NULL;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "MITOGEN_LOGGER"))
        logger = fields[i].value;
      else if (g_str_equal (fields[i].key, "MESSAGE"))
        message = fields[i].value;
    }
  if (logger != NULL && message != NULL)
    {
      g_mutex_lock (&log_capture.lock);
      g_ptr_array_add (log_capture.lines, g_strdup_printf ("%s|%s", logger, message));
      g_mutex_unlock (&log_capture.lock);
      return G_LOG_WRITER_HANDLED;
    }
  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

static gboolean
wait_for_log (const char *logger,
              const char *text)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  g_autofree char *prefix = g_strdup_printf ("%s|", logger);

  while (g_get_monotonic_time () < deadline)
    {
      gboolean found = FALSE;

      g_mutex_lock (&log_capture.lock);
      for (guint i = 0; i < log_capture.lines->len && !found; i++)
        {
          const char *line = g_ptr_array_index (log_capture.lines, i);

          found = g_str_has_prefix (line, prefix) && strstr (line, text) != NULL;
        }
      g_mutex_unlock (&log_capture.lock);
      if (found)
        return TRUE;
      g_usleep (10000);
    }
  return FALSE;
}

static void
test_logs_forwarded (Fixture       *fixture,
                     gconstpointer  data)
{
  const Mode *mode = data;
  g_autoptr(MitogenConnectionOptions) options = NULL;
  g_autoptr(MitogenContext) debug_context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autofree char *marker = NULL;

  g_test_summary ("Child log records and, at INFO, its stdout arrive as GLib log records naming the logger");
  if (fixture->router == NULL)
    return;

  marker = g_strdup_printf ("marker-%d", g_test_rand_int_range (0, 1000000));
  result = call (fixture, "log_and_print", g_variant_new ("(s)", marker), &error);
  g_assert_no_error (error);
  g_assert_true (wait_for_log ("mitogen_test_helpers", marker));

  /* At debug level, stdout lines are forwarded too. */
  options = make_options (mode);
  mitogen_connection_options_set_debug (options, TRUE);
  debug_context = mitogen_router_local (fixture->router, options, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&result, g_variant_unref);
  result = mitogen_context_call_sync (debug_context, "mitogen_test_helpers", NULL, "print_lines",
                                      g_variant_new ("(x)", (gint64) 3), NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (wait_for_log ("stdout", "line 2"));
}

static void
shutdown_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (mitogen_context_shutdown_finish (MITOGEN_CONTEXT (source), result, &error));
  g_assert_no_error (error);
  *done = TRUE;
}

static void
test_context_shutdown (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) pid = NULL;
  gboolean done = FALSE;
  gint64 deadline;
  guint watchdog_id;

  g_test_summary ("Context shutdown makes the child exit and completes when it disconnected");
  if (fixture->router == NULL)
    return;

  pid = call (fixture, "pid", NULL, &error);
  g_assert_no_error (error);
  watchdog_id = g_timeout_add_seconds (20, watchdog, NULL);
  mitogen_context_shutdown_async (fixture->context, NULL, shutdown_done, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (watchdog_id);
  g_assert_false (mitogen_context_is_connected (fixture->context));

  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (kill ((pid_t) g_variant_get_int64 (pid), 0) == 0 && g_get_monotonic_time () < deadline)
    g_usleep (10000);
  g_assert_cmpint (kill ((pid_t) g_variant_get_int64 (pid), 0), !=, 0);
}

static void
test_broker_shutdown_with_children (gconstpointer data)
{
  const Mode *mode = data;
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenConnectionOptions) options = NULL;
  g_autoptr(GError) error = NULL;
  GPid pids[3];
  gint64 start;

  g_test_summary ("Broker shutdown tells every child to exit and the thread ends well within the grace period");
  if (skip_if_unavailable (mode))
    return;

  router = mitogen_router_new (NULL);
  options = make_options (mode);
  for (guint i = 0; i < G_N_ELEMENTS (pids); i++)
    {
      g_autoptr(MitogenContext) context = mitogen_router_local (router, options, NULL, &error);
      g_autoptr(GVariant) pid = NULL;

      g_assert_no_error (error);
      pid = mitogen_context_call_sync (context, "os", NULL, "getpid", NULL, NULL, CALL_TIMEOUT, NULL, &error);
      g_assert_no_error (error);
      pids[i] = (GPid) g_variant_get_int64 (pid);
    }

  start = g_get_monotonic_time ();
  mitogen_router_shutdown (router);
  g_assert_true (mitogen_broker_join (mitogen_router_get_broker (router), test_scaled_usec (10 * G_USEC_PER_SEC)));
  g_assert_cmpint (g_get_monotonic_time () - start, <, test_scaled_usec (4 * G_USEC_PER_SEC));
  for (guint i = 0; i < G_N_ELEMENTS (pids); i++)
    {
      gint64 deadline = g_get_monotonic_time () + test_scaled_usec (3 * G_USEC_PER_SEC);

      while (kill (pids[i], 0) == 0 && g_get_monotonic_time () < deadline)
        g_usleep (10000);
      g_assert_cmpint (kill (pids[i], 0), !=, 0);
    }
}

static void
test_channel_both_ways (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenReceiver) from_child = NULL;
  g_autoptr(MitogenSender) back = NULL;
  g_autoptr(GVariant) back_path = NULL;
  g_autoptr(MitogenMessage) sender_message = NULL;
  g_autoptr(GVariant) sender_path = NULL;
  g_autoptr(MitogenContext) child_context = NULL;
  g_autoptr(MitogenSender) to_child = NULL;
  g_autoptr(GVariant) gathered = NULL;
  g_autofree char *text = NULL;
  AsyncState state = { 0 };
  guint ctx_id, handle;

  g_test_summary ("Messages flow master to child through a child's receiver, and child to master through a sender");
  if (fixture->router == NULL)
    return;

  /* The child makes a receiver and sends us its sender. */
  from_child = mitogen_receiver_new (fixture->router, 0, TRUE, fixture->context);
  back = mitogen_receiver_to_sender (from_child);
  /* A full reference: "@" in g_variant_new() takes a ref of its own. */
  back_path = mitogen_sender_to_variant (back);
  state.loop = g_main_loop_new (NULL, FALSE);
  state.expected_context = g_main_context_default ();
  state.expected_thread = g_thread_self ();
  state.pending = 1;
  mitogen_context_call_async (fixture->context, "mitogen_test_helpers", NULL, "gather_from_master",
                              g_variant_new ("(@ox)", back_path, (gint64) 3),
                              NULL, NULL, call_done, &state);

  sender_message = mitogen_receiver_get (from_child, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  sender_path = mitogen_message_unpickle (sender_message, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (sender_path, G_VARIANT_TYPE_OBJECT_PATH));
  g_assert_cmpint (sscanf (g_variant_get_string (sender_path, NULL), "/mitogen/sender/%u/%u", &ctx_id, &handle), ==, 2);
  g_assert_cmpuint (ctx_id, ==, mitogen_context_get_context_id (fixture->context));

  child_context = mitogen_router_context_by_id (fixture->router, ctx_id);
  to_child = mitogen_sender_new (child_context, handle);
  for (gint64 i = 10; i < 13; i++)
    {
      g_assert_true (mitogen_sender_put (to_child, g_variant_new_int64 (i), &error));
      g_assert_no_error (error);
    }

  g_main_loop_run (state.loop);
  g_assert_no_error (state.error);
  text = g_variant_print (state.result, FALSE);
  g_assert_cmpstr (text, ==, "[<int64 10>, <int64 11>, <int64 12>]");
  g_clear_pointer (&state.result, g_variant_unref);
  g_main_loop_unref (state.loop);
  mitogen_receiver_close (from_child);
}

typedef struct
{
  GPtrArray *contexts;
  guint pending;
  GError *error;
} FanoutStart;

static void
fanout_connected (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  FanoutStart *start = user_data;
  GError *error = NULL;
  MitogenContext *context = mitogen_router_local_finish (MITOGEN_ROUTER (source), result, &error);

  /* Completions arrive in the thread that started them. */
  g_assert_true (g_main_context_get_thread_default () == NULL);
  if (context != NULL)
    g_ptr_array_add (start->contexts, context);
  else if (start->error == NULL)
    start->error = error;
  else
    g_error_free (error);
  start->pending--;
}

static void
test_fanout_select (gconstpointer data)
{
  const Mode *mode = data;
  const guint n_children = 20;
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenConnectionOptions) options = NULL;
  g_autoptr(MitogenSelect) select = NULL;
  g_autoptr(GHashTable) pids = g_hash_table_new (NULL, NULL);
  g_autoptr(GError) error = NULL;
  FanoutStart start = { g_ptr_array_new_with_free_func (g_object_unref), n_children, NULL };
  guint watchdog_id;

  g_test_summary ("20 children started in parallel each answer once through a oneshot Select");
  if (skip_if_unavailable (mode))
    return;

  router = mitogen_router_new (NULL);
  options = make_options (mode);
  watchdog_id = g_timeout_add_seconds (60, watchdog, NULL);
  for (guint i = 0; i < n_children; i++)
    mitogen_router_local_async (router, options, NULL, fanout_connected, &start);
  while (start.pending > 0)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (watchdog_id);
  g_assert_no_error (start.error);
  g_assert_cmpuint (start.contexts->len, ==, n_children);

  select = mitogen_select_new (TRUE);
  for (guint i = 0; i < n_children; i++)
    {
      g_autoptr(MitogenReceiver) receiver =
        mitogen_context_call_receiver (g_ptr_array_index (start.contexts, i), "os", NULL, "getpid",
                                       NULL, NULL, &error);

      g_assert_no_error (error);
      g_assert_true (mitogen_select_add_receiver (select, receiver, &error));
      g_assert_no_error (error);
    }

  for (guint i = 0; i < n_children; i++)
    {
      g_autoptr(MitogenReceiver) from = NULL;
      g_autoptr(MitogenMessage) message = mitogen_select_get (select, CALL_TIMEOUT, NULL, &from, &error);
      g_autoptr(GVariant) pid = NULL;

      g_assert_no_error (error);
      g_assert_nonnull (from);
      pid = mitogen_message_unpickle (message, &error);
      g_assert_no_error (error);
      g_assert_true (g_hash_table_add (pids, GINT_TO_POINTER ((gint) g_variant_get_int64 (pid))));
    }
  g_assert_cmpuint (g_hash_table_size (pids), ==, n_children);
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 0);

  g_ptr_array_unref (start.contexts);
  mitogen_router_shutdown (router);
  g_assert_true (mitogen_broker_join (mitogen_router_get_broker (router), 20 * G_USEC_PER_SEC));
}

static MitogenContext *
connect_via (Fixture         *fixture,
             const Mode      *mode,
             MitogenContext  *via,
             GError         **error)
{
  g_autoptr(MitogenConnectionOptions) options = make_options (mode);

  /* The intermediate boots its own kind of child. */
  mitogen_connection_options_set_upstream_core_path (options, NULL);
  mitogen_connection_options_set_via (options, via);
  return mitogen_router_local (fixture->router, options, NULL, error);
}

/* Asserts that @context's process has a Unix stream socket with @expected
 * bytes of send buffer, and (own runtime) no other socket. */
static void
assert_child_send_buffer (MitogenContext *context,
                          const Mode     *mode,
                          int             expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) sizes = NULL;
  guint n_expected = 0;

  sizes = mitogen_context_call_sync (context, "mitogen_test_helpers", NULL, "socket_send_buffers",
                                     NULL, NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  /* A list arrives as av. Our runtime has one socket; the upstream child
   * makes more of its own (latches, output capture), with the default. */
  g_assert_cmpstr (g_variant_get_type_string (sizes), ==, "av");
  if (!mode->upstream)
    g_assert_cmpuint (g_variant_n_children (sizes), ==, 1);
  for (gsize i = 0; i < g_variant_n_children (sizes); i++)
    {
      g_autoptr(GVariant) item = g_variant_get_child_value (sizes, i);
      g_autoptr(GVariant) item_size = g_variant_get_variant (item);

      if (g_variant_get_int64 (item_size) == expected)
        n_expected++;
    }
  g_assert_cmpuint (n_expected, ==, 1);
}

static void
test_socket_buffers (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenStream) stream = NULL;
  g_autoptr(MitogenContext) second = NULL;
  g_autofree char *wmem_max_text = NULL;
  const Mode *mode = data;
  guint64 wmem_max;
  int expected, size;
  socklen_t length = sizeof size;

  g_test_summary ("Both ends of a local child's socket take the larger send buffer "
                  "(the kernel's doubled figure, within net.core.wmem_max), "
                  "and so does a child's own local child with our runtime");
  if (fixture->router == NULL)
    return;
  if (!g_file_get_contents ("/proc/sys/net/core/wmem_max", &wmem_max_text, NULL, NULL))
    {
      g_test_skip ("/proc/sys/net/core/wmem_max cannot be read here");
      return;
    }
  wmem_max = g_ascii_strtoull (wmem_max_text, NULL, 10);
  expected = 2 * (int) MIN ((guint64) MITOGEN_SOCKET_PAIR_BUFFER_BYTES, wmem_max);

  stream = _mitogen_router_dup_stream (fixture->router, mitogen_context_get_context_id (fixture->context));
  g_assert_nonnull (stream);
  g_assert_cmpint (getsockopt (_mitogen_stream_get_fd (stream), SOL_SOCKET, SO_SNDBUF, &size, &length), ==, 0);
  g_assert_cmpint (size, ==, expected);
  assert_child_send_buffer (fixture->context, mode, expected);

  /* Upstream's mitogen.parent makes the next hop's socket: not ours. */
  if (mode->upstream)
    return;
  second = connect_via (fixture, mode, fixture->context, &error);
  g_assert_no_error (error);
  assert_child_send_buffer (second, mode, expected);
}

static void
test_via_chain (Fixture       *fixture,
                gconstpointer  data)
{
  const Mode *mode = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenContext) second = NULL;
  g_autoptr(MitogenContext) third = NULL;
  g_autoptr(GVariant) pid1 = NULL;
  g_autoptr(GVariant) ppid2 = NULL;
  g_autoptr(GVariant) pid2 = NULL;
  g_autoptr(GVariant) ppid3 = NULL;
  g_autoptr(GVariant) area = NULL;
  AsyncState state = { 0 };
  Killer killer = { &state, 0, 0 };
  gboolean disconnected = FALSE;
  guint watchdog_id;

  g_test_summary ("local -> local -> local: calls and module forwarding reach the far end; "
                  "killing the middle hop fails pending calls beneath it promptly");
  if (fixture->router == NULL)
    return;

  second = connect_via (fixture, mode, fixture->context, &error);
  g_assert_no_error (error);
  third = connect_via (fixture, mode, second, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mitogen_context_get_context_id (third), !=, mitogen_context_get_context_id (second));

  pid1 = call (fixture, "pid", NULL, &error);
  g_assert_no_error (error);
  ppid2 = mitogen_context_call_sync (second, "os", NULL, "getppid", NULL, NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (ppid2), ==, g_variant_get_int64 (pid1));
  pid2 = mitogen_context_call_sync (second, "os", NULL, "getpid", NULL, NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  ppid3 = mitogen_context_call_sync (third, "os", NULL, "getppid", NULL, NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (ppid3), ==, g_variant_get_int64 (pid2));

  /* A package only this process has travels down two hops. */
  area = mitogen_context_call_sync (third, "mitogen_testpkg", NULL, "area",
                                    g_variant_new ("(x)", (gint64) 5), NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (area), ==, 25);

  /* Kill the middle while the far end is busy. */
  g_signal_connect (third, "disconnected", G_CALLBACK (on_disconnected), &disconnected);
  killer.pid = (GPid) g_variant_get_int64 (pid2);
  state.loop = g_main_loop_new (NULL, FALSE);
  state.expected_context = g_main_context_default ();
  state.expected_thread = g_thread_self ();
  state.pending = 1;
  watchdog_id = g_timeout_add_seconds (30, watchdog, NULL);
  mitogen_context_call_async (third, "time", NULL, "sleep", g_variant_new ("(d)", 30.0), NULL,
                              NULL, call_done, &state);
  g_timeout_add (200, kill_child, &killer);
  g_main_loop_run (state.loop);
  g_source_remove (watchdog_id);
  g_assert_error (state.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_cmpint (g_get_monotonic_time () - killer.killed_at, <, test_scaled_usec (2 * G_USEC_PER_SEC));
  g_clear_error (&state.error);
  /* The intermediate reports the middle and the far end gone; each
   * DEL_ROUTE arrives in its own time. */
  watchdog_id = g_timeout_add_seconds (10, watchdog, NULL);
  while (!disconnected || mitogen_context_is_connected (second))
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (watchdog_id);
  g_assert_true (mitogen_context_is_connected (fixture->context));
  g_main_loop_unref (state.loop);
}

static void
test_module_from_resource (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) answer = NULL;

  g_test_summary ("A package registered as a GResource is served to children");
  if (fixture->router == NULL)
    return;

  /* test_python_modules is linked in and registers itself. */
  mitogen_router_add_resource_path (fixture->router, "/org/mitogen-glib/tests/python");
  answer = mitogen_context_call_sync (fixture->context, "mitogen_respkg", NULL, "answer",
                                      NULL, NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (answer, NULL), ==, "from a resource");
}

static void
test_log_to_file (void)
{
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  int fd;

  g_test_summary ("log_to_file appends this process's and children's records to a file");

  if (g_test_subprocess ())
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MitogenRouter) router = NULL;
      g_autoptr(MitogenConnectionOptions) options = make_options (&own_mode);
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GVariant) result = NULL;
      g_autofree char *helpers = g_test_build_filename (G_TEST_DIST, "data", "python", NULL);

      g_assert_true (mitogen_log_to_file (g_getenv ("MITOGEN_TEST_LOG_FILE"), &error));
      router = mitogen_router_new (NULL);
      mitogen_router_add_python_path (router, helpers);
      context = mitogen_router_local (router, options, NULL, &error);
      g_assert_no_error (error);
      result = mitogen_context_call_sync (context, "mitogen_test_helpers", NULL, "log_and_print",
                                          g_variant_new ("(s)", "to-the-file"), NULL, CALL_TIMEOUT, NULL, &error);
      g_assert_no_error (error);
      mitogen_router_shutdown (router);
      g_assert_true (mitogen_broker_join (mitogen_router_get_broker (router), 10 * G_USEC_PER_SEC));
      return;
    }

  fd = g_file_open_tmp ("mitogen-log-XXXXXX", &path, NULL);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
  g_setenv ("MITOGEN_TEST_LOG_FILE", path, TRUE);
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_nonnull (strstr (contents, "mitogen_test_helpers: warning: to-the-file"));
  g_unlink (path);
}

/* The master-killed test: this binary, started with --master-helper,
 * becomes a master with one child, prints the child's pid and waits to be
 * SIGKILLed. */
static int
run_master_helper (const char *mode_name)
{
  const Mode *mode = g_str_equal (mode_name, "upstream") ? &upstream_mode : &own_mode;
  g_autoptr(MitogenRouter) router = mitogen_router_new (NULL);
  g_autoptr(MitogenConnectionOptions) options = make_options (mode);
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GVariant) pid = NULL;
  g_autoptr(GError) error = NULL;

  context = mitogen_router_local (router, options, NULL, &error);
  if (context == NULL)
    {
      g_printerr ("helper: %s\n", error->message);
      return 1;
    }
  pid = mitogen_context_call_sync (context, "os", NULL, "getpid", NULL, NULL, CALL_TIMEOUT, NULL, &error);
  if (pid == NULL)
    {
      g_printerr ("helper: %s\n", error->message);
      return 1;
    }
  /* Keep the child busy, so that it must notice the master's death while
   * running user code. */
  mitogen_context_call_no_reply (context, "time", NULL, "sleep", g_variant_new ("(d)", 60.0), NULL, NULL);
  g_print ("%" G_GINT64_FORMAT "\n", g_variant_get_int64 (pid));
  fflush (stdout);
  g_usleep (60 * G_USEC_PER_SEC);
  return 0;
}

/* The master's own descriptors and blocked signals are not the child's:
 * a descriptor opened without O_CLOEXEC stays out, and a signal blocked in
 * the thread that starts children is not blocked in them. */
static void
test_spawn_hygiene (gconstpointer data)
{
  const Mode *mode = data;
  g_autoptr(MitogenConnectionOptions) options = NULL;
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GVariant) state = NULL;
  g_autoptr(GVariant) targets = NULL;
  g_autoptr(GVariant) blocked = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *helpers = g_test_build_filename (G_TEST_DIST, "data", "python", NULL);
  g_autofree char *canary = NULL;
  sigset_t block, saved;
  int fd;

  g_test_summary ("A local child inherits no master descriptor beyond 0-2 and no blocked signal");
  if (skip_if_unavailable (mode))
    return;

  fd = g_file_open_tmp ("mitogen-spawn-canary-XXXXXX", &canary, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fcntl (fd, F_SETFD, 0), ==, 0);   /* inheritable */

  /* The broker thread, started by the router, takes this thread's mask. */
  sigemptyset (&block);
  sigaddset (&block, SIGUSR2);
  g_assert_cmpint (pthread_sigmask (SIG_BLOCK, &block, &saved), ==, 0);
  router = mitogen_router_new (NULL);
  g_assert_cmpint (pthread_sigmask (SIG_SETMASK, &saved, NULL), ==, 0);

  mitogen_router_add_python_path (router, helpers);
  options = make_options (mode);
  context = mitogen_router_local (router, options, NULL, &error);
  g_assert_no_error (error);
  state = mitogen_context_call_sync (context, "mitogen_test_helpers", NULL, "process_state", NULL,
                                     NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (state, "(vv)", &targets, &blocked);

  for (gsize i = 0; i < g_variant_n_children (targets); i++)
    {
      g_autoptr(GVariant) boxed = g_variant_get_child_value (targets, i);
      g_autoptr(GVariant) value = g_variant_get_variant (boxed);

      g_assert_null (strstr (g_variant_get_string (value, NULL), "mitogen-spawn-canary"));
    }
  g_assert_cmpuint (g_variant_n_children (targets), >, 3);
  g_assert_cmpuint (g_variant_n_children (blocked), ==, 0);

  mitogen_router_shutdown (router);
  g_assert_true (mitogen_broker_join (mitogen_router_get_broker (router), 10 * G_USEC_PER_SEC));
  close (fd);
  g_unlink (canary);
}

static void
test_master_killed (gconstpointer data)
{
  const Mode *mode = data;
  const char *argv[] = { NULL, "--master-helper", mode->upstream ? "upstream" : "own", NULL };
  g_autoptr(GError) error = NULL;
  GPid helper;
  int out_fd;
  char buffer[64] = { 0 };
  gssize n;
  gint64 child_pid;
  gint64 deadline;
  int status;

  g_test_summary ("A master SIGKILLed leaves no child alive after 2 s");
  if (skip_if_unavailable (mode))
    return;

  argv[0] = g_test_get_filename (G_TEST_BUILT, "test-core", NULL);
  g_assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                           NULL, NULL, &helper, NULL, &out_fd, NULL, &error));
  g_assert_no_error (error);
  n = read (out_fd, buffer, sizeof buffer - 1);
  close (out_fd);
  g_assert_cmpint (n, >, 0);
  child_pid = g_ascii_strtoll (buffer, NULL, 10);
  g_assert_cmpint (child_pid, >, 0);
  g_assert_cmpint (kill ((pid_t) child_pid, 0), ==, 0);

  kill (helper, SIGKILL);
  waitpid (helper, &status, 0);
  g_spawn_close_pid (helper);

  deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  while (kill ((pid_t) child_pid, 0) == 0 && g_get_monotonic_time () < deadline)
    g_usleep (20000);
  /* The child was the helper's; once orphaned, init reaps it. */
  g_assert_cmpint (kill ((pid_t) child_pid, 0), !=, 0);
}

/* ---- the runtime compiled ahead (child/README.md, "Bytecode") ---------- */

static MitogenContext *
start_own_child (MitogenRouter *router,
                 const char    *python)
{
  g_autoptr(MitogenConnectionOptions) options = make_options (&own_mode);
  g_autoptr(GError) error = NULL;
  MitogenContext *context;

  mitogen_connection_options_set_python_path (options, python);
  context = mitogen_router_local (router, options, NULL, &error);
  g_assert_no_error (error);
  return context;
}

static char *
boot_kind (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) kind = mitogen_context_call_sync (context, "mitogen_test_helpers", NULL,
                                                        "boot_kind", NULL, NULL, CALL_TIMEOUT,
                                                        NULL, &error);

  g_assert_no_error (error);
  return g_variant_dup_string (kind, NULL);
}

/* Starts children of @python on @router until one boots from bytecode or
 * @attempts have booted from source; returns that one's kind. */
static char *
boot_until_bytecode (MitogenRouter *router,
                     const char    *python,
                     guint          attempts)
{
  char *kind = NULL;

  for (guint i = 0; i < attempts; i++)
    {
      g_autoptr(MitogenContext) context = start_own_child (router, python);
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) sum = NULL;

      g_free (kind);
      kind = boot_kind (context);
      /* Whatever the boot, the child works: modules from the master. */
      sum = mitogen_context_call_sync (context, "mitogen_test_helpers", NULL, "add",
                                       g_variant_new ("(ii)", 2, 3), NULL, CALL_TIMEOUT, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (g_variant_get_int64 (sum), ==, 5);
      mitogen_context_shutdown (context);
      if (g_str_equal (kind, "bytecode"))
        break;
      g_usleep (G_USEC_PER_SEC / 10);
    }
  return kind;
}

static MitogenRouter *
bytecode_router (void)
{
  g_autofree char *helpers = g_test_build_filename (G_TEST_DIST, "data", "python", NULL);
  MitogenRouter *router = mitogen_router_new (NULL);

  mitogen_router_add_python_path (router, helpers);
  /* Nothing kept across routers: each test starts from source. */
  mitogen_router_set_cache_directory (router, NULL);
  return router;
}

static void
finish_router (MitogenRouter *router)
{
  mitogen_router_shutdown (router);
  g_assert_true (mitogen_broker_join (mitogen_router_get_broker (router), 10 * G_USEC_PER_SEC));
  g_object_unref (router);
}

static void
test_boot_bytecode (void)
{
  MitogenRouter *router;
  g_autoptr(MitogenContext) first = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autofree char *kind = NULL;
  g_autofree char *later = NULL;

  g_test_summary ("Once a router has started a second local child of one interpreter, its "
                  "later children run the runtime compiled ahead, and behave the same");
  router = bytecode_router ();
  first = start_own_child (router, test_python ());
  kind = boot_kind (first);
  g_assert_cmpstr (kind, ==, "source");

  later = boot_until_bytecode (router, test_python (), 100);
  g_assert_cmpstr (later, ==, "bytecode");

  context = start_own_child (router, test_python ());
  g_clear_pointer (&kind, g_free);
  kind = boot_kind (context);
  g_assert_cmpstr (kind, ==, "bytecode");
  result = mitogen_context_call_sync (context, "mitogen_test_helpers", NULL, "fail",
                                      g_variant_new ("(s)", "compiled"), NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_nonnull (strstr (error->message, "compiled"));

  /* The first child still works beside the others. */
  g_clear_error (&error);
  result = mitogen_context_call_sync (first, "os", NULL, "getpid", NULL, NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&result, g_variant_unref);
  finish_router (router);
}

/* @expression, evaluated in @context's mitogen.core namespace. */
static gboolean
eval_in_core (MitogenContext *context,
              const char     *expression)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *code = g_strdup_printf ("bool(eval(%s, vars(__import__('sys').modules['mitogen.core'])))",
                                           expression);
  g_autoptr(GVariant) result = mitogen_context_call_sync (context, "builtins", NULL, "eval",
                                                          g_variant_new ("(s)", code), NULL,
                                                          CALL_TIMEOUT, NULL, &error);

  g_assert_no_error (error);
  return g_variant_get_boolean (result);
}

static void
test_deferred_parts (void)
{
  MitogenRouter *router;
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(MitogenContext) failing = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = NULL;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  g_test_summary ("A child gets the runtime's deferred parts after its first message, unasked, "
                  "and compiles them when first used; one that needs them earlier asks");
  router = bytecode_router ();
  context = start_own_child (router, test_python ());
  result = mitogen_context_call_sync (context, "os", NULL, "getpid", NULL, NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  while (!eval_in_core (context, "\"'mitogen._deferred' in _importer._cache\""))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (G_USEC_PER_SEC / 50);
    }
  /* Here, but nothing needed it: it came unasked. */
  g_assert_false (eval_in_core (context, "\"'_fetch' in vars()\""));
  g_clear_pointer (&result, g_variant_unref);
  result = mitogen_context_call_sync (context, "mitogen_test_helpers", NULL, "fail",
                                      g_variant_new ("(s)", "after"), NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_nonnull (strstr (error->message, "mitogen_test_helpers.py"));
  g_clear_error (&error);
  g_assert_true (eval_in_core (context, "\"'_fetch' in vars()\""));

  /* A first call that fails needs the deferred code for its error. */
  failing = start_own_child (router, test_python ());
  g_clear_pointer (&result, g_variant_unref);
  result = mitogen_context_call_sync (failing, "os", NULL, "no_such_function", NULL, NULL,
                                      CALL_TIMEOUT, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CALL);
  g_assert_nonnull (strstr (error->message, "no_such_function"));
  g_clear_error (&error);
  result = mitogen_context_call_sync (failing, "os", NULL, "getpid", NULL, NULL, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  finish_router (router);
}

/* A python3 for children whose bytecode helper (the only run with -S)
 * does what @helper says instead. */
static char *
write_wrapper (const char *dir,
               const char *helper)
{
  g_autofree char *text = g_strdup_printf ("#!/bin/sh\n"
                                           "if [ \"$1\" = -S ]; then %s; fi\n"
                                           "exec %s \"$@\"\n", helper, test_python ());
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (dir, "python3-wrapper", NULL);

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, 0755), ==, 0);
  return path;
}

static void
test_boot_bytecode_helper_fails (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("mitogen-test-bytecode-XXXXXX", &error);
  g_autofree char *python = NULL;
  g_autofree char *kind = NULL;
  MitogenRouter *router;

  g_test_summary ("A failing bytecode helper leaves children booting from source");
  g_assert_no_error (error);
  python = write_wrapper (dir, "echo broken >&2; exit 3");
  router = bytecode_router ();
  /* The helper runs from the second child on: ten children leave it
   * ample time to have failed. */
  kind = boot_until_bytecode (router, python, 10);
  g_assert_cmpstr (kind, ==, "source");
  finish_router (router);
  g_unlink (python);
  g_rmdir (dir);
}

/* ---- compiled runtimes kept across programs (MitogenRouter:cache-directory) */

/* A router whose compiled runtimes are kept in @directory. */
static MitogenRouter *
cached_router (const char *directory)
{
  MitogenRouter *router = bytecode_router ();

  mitogen_router_set_cache_directory (router, directory);
  return router;
}

/* The first child of @python of a new router keeping compiled runtimes
 * in @directory booted as @expected says ("source" or "bytecode"; the
 * child works either way). */
static void
assert_first_boot (const char *directory,
                   const char *python,
                   const char *expected)
{
  MitogenRouter *router = cached_router (directory);
  g_autofree char *kind = boot_until_bytecode (router, python, 1);

  g_assert_cmpstr (kind, ==, expected);
  finish_router (router);
}

/* How many files helpers have written in @directory; @last (optional):
 * the last one listed. */
static guint
count_kept_files (const char  *directory,
                  char       **last)
{
  g_autoptr(GDir) dir = g_dir_open (directory, 0, NULL);
  const char *name;
  guint found = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".bytecode"))
      {
        found++;
        if (last != NULL)
          {
            g_free (*last);
            *last = g_build_filename (directory, name, NULL);
          }
      }
  return found;
}

/* Waits until helpers have written @count files in @directory; returns
 * the last one listed. */
static char *
wait_for_kept_files (const char *directory,
                     guint       count)
{
  gint64 deadline = g_get_monotonic_time () + test_scaled_usec (30 * G_USEC_PER_SEC);

  for (;;)
    {
      g_autofree char *last = NULL;
      guint found = count_kept_files (directory, &last);

      g_assert_cmpuint (found, <=, count);
      if (found == count)
        return g_steal_pointer (&last);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (G_USEC_PER_SEC / 50);
    }
}

/* A cache directory for one test: @parent/cache, not made yet. */
static char *
new_cache_directory (char **parent)
{
  g_autoptr(GError) error = NULL;

  *parent = g_dir_make_tmp ("mitogen-test-cache-XXXXXX", &error);
  g_assert_no_error (error);
  return g_build_filename (*parent, "cache", NULL);
}

/* Fills @directory (a router's first child of @python starts the
 * helper) and returns the file it wrote. */
static char *
fill_cache (const char *directory,
            const char *python)
{
  MitogenRouter *router = cached_router (directory);
  g_autoptr(MitogenContext) context = start_own_child (router, python);
  g_autofree char *kind = boot_kind (context);
  char *path;

  g_assert_cmpstr (kind, ==, "source");
  path = wait_for_kept_files (directory, 1);
  finish_router (router);
  return path;
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_assert_cmpint (g_unlink (child), ==, 0);
    }
  g_assert_cmpint (g_rmdir (path), ==, 0);
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              gpointer    user_data)
{
  (*(guint *) user_data)++;
}

static void
test_cache_directory_property (void)
{
  MitogenRouter *router = mitogen_router_new (NULL);
  g_autofree char *expected = g_build_filename (g_get_user_cache_dir (), "mitogen-glib", NULL);
  g_autofree char *directory = NULL;
  g_autofree char *through_property = NULL;
  guint notified = 0;

  g_test_summary ("A router keeps compiled runtimes in the user's cache by default; "
                  "the property sets another directory or none");
  directory = mitogen_router_dup_cache_directory (router);
  g_assert_cmpstr (directory, ==, expected);
  g_signal_connect (router, "notify::cache-directory", G_CALLBACK (count_notify), &notified);
  g_object_set (router, "cache-directory", "/elsewhere", NULL);
  g_object_get (router, "cache-directory", &through_property, NULL);
  g_assert_cmpstr (through_property, ==, "/elsewhere");
  mitogen_router_set_cache_directory (router, "/elsewhere");
  g_assert_cmpuint (notified, ==, 1);
  mitogen_router_set_cache_directory (router, NULL);
  g_clear_pointer (&directory, g_free);
  directory = mitogen_router_dup_cache_directory (router);
  g_assert_null (directory);
  g_assert_cmpuint (notified, ==, 2);
  finish_router (router);
}

static void
test_cache_across_routers (void)
{
  g_autofree char *parent = NULL;
  g_autofree char *directory = new_cache_directory (&parent);
  g_autofree char *path = NULL;
  GStatBuf st;

  g_test_summary ("With nothing kept, the helper runs once a router's first child has booted; "
                  "the next router's first child boots compiled, from the file");
  path = fill_cache (directory, test_python ());
  g_assert_cmpint (g_stat (directory, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  assert_first_boot (directory, test_python (), "bytecode");
  remove_tree (parent);
}

/* Overwrites one byte of @path, @offset from its end. */
static void
damage (const char *path,
        gsize       offset)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize size;

  g_file_get_contents (path, &contents, &size, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (size, >, offset);
  contents[size - 1 - offset] ^= 0x55;
  g_file_set_contents_full (path, contents, size, G_FILE_SET_CONTENTS_NONE, 0600, &error);
  g_assert_no_error (error);
}

static void
test_cache_damaged (void)
{
  g_autofree char *parent = NULL;
  g_autofree char *directory = new_cache_directory (&parent);
  g_autofree char *path = NULL;
  g_autofree char *kind = NULL;
  g_autofree char *again = NULL;
  g_autofree char *contents = NULL;
  MitogenRouter *router;

  g_test_summary ("A kept file whose contents do not match their digest is never sent: "
                  "the child boots from source and the helper writes the file again");
  path = fill_cache (directory, test_python ());
  damage (path, 100);
  assert_first_boot (directory, test_python (), "source");

  /* Cut short, as by a full disk. */
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_true (g_file_set_contents (path, contents, 60, NULL));
  router = cached_router (directory);
  kind = boot_until_bytecode (router, test_python (), 1);
  g_assert_cmpstr (kind, ==, "source");
  /* That first child started the helper, which writes it whole again. */
  again = boot_until_bytecode (router, test_python (), 100);
  g_assert_cmpstr (again, ==, "bytecode");
  finish_router (router);
  assert_first_boot (directory, test_python (), "bytecode");
  remove_tree (parent);
}

static void
test_cache_not_private (void)
{
  g_autofree char *parent = NULL;
  g_autofree char *directory = new_cache_directory (&parent);
  g_autofree char *path = NULL;
  g_autofree char *moved = NULL;

  g_test_summary ("Compiled runtimes are used only from a directory and a file of this user's "
                  "that nobody else may write, never through a symbolic link");
  path = fill_cache (directory, test_python ());

  g_assert_cmpint (g_chmod (directory, 0777), ==, 0);
  assert_first_boot (directory, test_python (), "source");
  g_assert_cmpint (g_chmod (directory, 0700), ==, 0);

  g_assert_cmpint (g_chmod (path, 0662), ==, 0);
  assert_first_boot (directory, test_python (), "source");
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);

  moved = g_build_filename (parent, "elsewhere", NULL);
  g_assert_cmpint (g_rename (path, moved), ==, 0);
  g_assert_cmpint (symlink (moved, path), ==, 0);
  assert_first_boot (directory, test_python (), "source");
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_rename (moved, path), ==, 0);

  assert_first_boot (directory, test_python (), "bytecode");

  if (geteuid () == 0)
    {
      /* Root's program, a file of another user's (nobody). */
      g_assert_cmpint (chown (path, 65534, 65534), ==, 0);
      assert_first_boot (directory, test_python (), "source");
    }
  else
    g_test_message ("not root: the file of another user is not checked");
  remove_tree (parent);
}

static void
test_cache_new_interpreter (void)
{
  g_autofree char *parent = NULL;
  g_autofree char *directory = new_cache_directory (&parent);
  g_autofree char *python = NULL;
  g_autofree char *path = NULL;
  g_autofree char *newer = NULL;
  g_autofree char *python_again = NULL;

  g_test_summary ("A kept file is for one interpreter file: a python3 replaced in place "
                  "gets its runtime compiled again");
  python = write_wrapper (parent, "true");
  path = fill_cache (directory, python);
  assert_first_boot (directory, python, "bytecode");

  /* Replaced: another file at the same path. */
  g_assert_cmpint (g_unlink (python), ==, 0);
  python_again = write_wrapper (parent, "true; true");
  g_assert_cmpstr (python_again, ==, python);
  assert_first_boot (directory, python, "source");
  /* Kept beside the first: nothing removes old files. */
  newer = wait_for_kept_files (directory, 2);
  remove_tree (parent);
}

static void
test_cache_shutdown_early (void)
{
  g_autofree char *parent = NULL;
  g_autofree char *directory = new_cache_directory (&parent);
  g_autofree char *python = NULL;
  g_autofree char *kind = NULL;
  g_autofree char *path = NULL;
  MitogenRouter *router;
  MitogenContext *context;
  gint64 start;

  g_test_summary ("A program that shuts its router down before the helper is done still leaves "
                  "the compiled runtime for the next, without waiting for it");
  /* A helper that takes 2 s before compiling. */
  python = write_wrapper (parent, "sleep 2");
  router = cached_router (directory);
  context = start_own_child (router, python);
  kind = boot_kind (context);
  g_assert_cmpstr (kind, ==, "source");
  g_object_unref (context);
  start = g_get_monotonic_time ();
  finish_router (router);
  g_assert_cmpint (g_get_monotonic_time () - start, <, test_scaled_usec (G_USEC_PER_SEC));
  /* Not waited for: the helper is still asleep. */
  g_assert_cmpuint (count_kept_files (directory, NULL), ==, 0);

  path = wait_for_kept_files (directory, 1);
  assert_first_boot (directory, python, "bytecode");
  remove_tree (parent);
}

static void
test_cache_never_booted (void)
{
  g_autofree char *parent = NULL;
  g_autofree char *directory = new_cache_directory (&parent);
  g_autofree char *pid_file = NULL;
  g_autofree char *python = NULL;
  g_autofree char *script = NULL;
  g_autofree char *pid_text = NULL;
  MitogenRouter *router;
  gint64 deadline;
  pid_t pid;

  g_test_summary ("A helper for an interpreter that never booted a child is killed when the "
                  "router shuts down, cache directory or not");
  pid_file = g_build_filename (parent, "helper.pid", NULL);
  python = g_build_filename (parent, "broken-python", NULL);
  /* Fails every boot; as a helper, hangs. */
  script = g_strdup_printf ("#!/bin/sh\n"
                            "if [ \"$1\" = -S ]; then echo $$ > '%s'; exec sleep 600; fi\n"
                            "exit 1\n", pid_file);
  g_assert_true (g_file_set_contents (python, script, -1, NULL));
  g_assert_cmpint (g_chmod (python, 0755), ==, 0);
  router = cached_router (directory);
  for (int i = 0; i < 2; i++)
    {
      g_autoptr(MitogenConnectionOptions) options = make_options (&own_mode);
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GError) error = NULL;

      mitogen_connection_options_set_python_path (options, python);
      context = mitogen_router_local (router, options, NULL, &error);
      g_assert_null (context);
      g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT);
    }
  /* The helper started at the second lookup, as without a directory. */
  deadline = g_get_monotonic_time () + test_scaled_usec (20 * G_USEC_PER_SEC);
  while (!g_file_get_contents (pid_file, &pid_text, NULL, NULL) || strchr (pid_text, '\n') == NULL)
    {
      g_clear_pointer (&pid_text, g_free);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (G_USEC_PER_SEC / 50);
    }
  pid = (pid_t) g_ascii_strtoll (pid_text, NULL, 10);
  g_assert_cmpint (pid, >, 0);

  deadline = g_get_monotonic_time () + test_scaled_usec (10 * G_USEC_PER_SEC);
  finish_router (router);
  while (kill (pid, 0) == 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (G_USEC_PER_SEC / 100);
    }
  g_assert_cmpuint (count_kept_files (directory, NULL), ==, 0);
  remove_tree (parent);
}

static void
test_cache_unusable (void)
{
  g_autofree char *parent = NULL;
  g_autofree char *directory = new_cache_directory (&parent);
  g_autofree char *not_made = NULL;
  g_autofree char *kind = NULL;
  MitogenRouter *router;

  g_test_summary ("A cache directory that cannot be made or used leaves the router "
                  "compiling for itself, from its second child");
  /* A file where the directory should be. */
  g_assert_true (g_file_set_contents (directory, "", 0, NULL));
  router = cached_router (directory);
  kind = boot_until_bytecode (router, test_python (), 100);
  g_assert_cmpstr (kind, ==, "bytecode");
  finish_router (router);
  g_assert_true (g_file_test (directory, G_FILE_TEST_IS_REGULAR));

  /* Relative: not used, not made. */
  assert_first_boot ("relative-cache", test_python (), "source");
  g_assert_false (g_file_test ("relative-cache", G_FILE_TEST_EXISTS));

  /* Under a directory this user does not own: not made. */
  if (geteuid () == 0)
    {
      g_autofree char *foreign = g_build_filename (parent, "foreign", NULL);

      g_assert_cmpint (g_mkdir (foreign, 0755), ==, 0);
      g_assert_cmpint (chown (foreign, 65534, 65534), ==, 0);
      not_made = g_build_filename (foreign, "cache", NULL);
      assert_first_boot (not_made, test_python (), "source");
      g_assert_false (g_file_test (not_made, G_FILE_TEST_EXISTS));
    }
  else
    g_test_message ("not root: a directory of another user's is not checked");
  remove_tree (parent);
}

/* How a helper hangs: holding its output open, or with its output closed
 * (then only its exit is awaited). %s: the file to write its pid to. */
static const char hang_reading[] = "echo $$ > '%s'; exec sleep 600";
static const char hang_closed[] = "echo $$ > '%s'; exec sleep 600 >/dev/null 2>&1";

static void
test_boot_bytecode_shutdown (gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("mitogen-test-bytecode-XXXXXX", &error);
  g_autofree char *pid_file = NULL;
  g_autofree char *hang = NULL;
  g_autofree char *python = NULL;
  g_autofree char *pid_text = NULL;
  MitogenRouter *router;
  gint64 deadline;
  pid_t pid;

  g_test_summary ("Shutting a router down stops a bytecode helper that hangs, promptly");
  g_assert_no_error (error);
  pid_file = g_build_filename (dir, "helper.pid", NULL);
  hang = g_strdup_printf (data, pid_file);
  python = write_wrapper (dir, hang);
  router = bytecode_router ();
  for (int i = 0; i < 2; i++)
    {
      g_autoptr(MitogenContext) context = start_own_child (router, python);
      g_autofree char *kind = boot_kind (context);

      g_assert_cmpstr (kind, ==, "source");
    }
  deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  while (!g_file_get_contents (pid_file, &pid_text, NULL, NULL) || strchr (pid_text, '\n') == NULL)
    {
      g_clear_pointer (&pid_text, g_free);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (G_USEC_PER_SEC / 50);
    }
  pid = (pid_t) g_ascii_strtoll (pid_text, NULL, 10);
  g_assert_cmpint (pid, >, 0);
  g_assert_cmpint (kill (pid, 0), ==, 0);

  /* The broker's shutdown cancels the helper, whose thread kills and
   * reaps it. */
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  finish_router (router);
  while (kill (pid, 0) == 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (G_USEC_PER_SEC / 100);
    }
  g_unlink (pid_file);
  g_unlink (python);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  const struct { const char *name; const Mode *mode; } modes[] = {
    { "own", &own_mode },
    { "upstream", &upstream_mode },
  };

  if (argc == 3 && g_str_equal (argv[1], "--master-helper"))
    return run_master_helper (argv[2]);

  g_test_init (&argc, &argv, NULL);
  g_mutex_init (&log_capture.lock);
  log_capture.lines = g_ptr_array_new_with_free_func (g_free);
  /* GLib takes one writer per process: a subprocess test installs its own. */
  if (!g_test_subprocess ())
    g_log_set_writer_func (capture_writer, NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (modes); i++)
    {
#define ADD(path, func)                                                        \
      G_STMT_START {                                                           \
        g_autofree char *name = g_strdup_printf ("/core/%s/%s", modes[i].name, path); \
        g_test_add (name, Fixture, modes[i].mode, fixture_setup, func, fixture_teardown); \
      } G_STMT_END
      ADD ("call/pid", test_call_pid);
      ADD ("socket-buffers", test_socket_buffers);
      ADD ("call/values", test_call_values);
      ADD ("call/big-bytes", test_call_big_bytes);
      ADD ("call/types-from-child", test_call_types_from_child);
      ADD ("call/kwargs-and-classes", test_call_kwargs_and_classes);
      ADD ("call/error", test_call_error);
      ADD ("call/package", test_call_package);
      ADD ("call/missing-module", test_call_missing_module);
      ADD ("call/async", test_call_async);
      ADD ("call/async-other-thread", test_call_async_other_thread);
      ADD ("call/cancel", test_cancel_call);
      ADD ("call/timeout", test_call_timeout);
      ADD ("call/sync-cancel", test_call_sync_cancel);
      ADD ("call/sync-cancelled-before", test_call_sync_cancelled_before);
      ADD ("child-killed-mid-call", test_child_killed_mid_call);
      ADD ("logs-forwarded", test_logs_forwarded);
      ADD ("context-shutdown", test_context_shutdown);
      ADD ("channel-both-ways", test_channel_both_ways);
      ADD ("module-from-resource", test_module_from_resource);
      ADD ("via-chain", test_via_chain);
#undef ADD
      {
        g_autofree char *name = g_strdup_printf ("/core/%s/master-killed", modes[i].name);
        g_test_add_data_func (name, modes[i].mode, test_master_killed);
      }
      {
        g_autofree char *name = g_strdup_printf ("/core/%s/spawn-hygiene", modes[i].name);
        g_test_add_data_func (name, modes[i].mode, test_spawn_hygiene);
      }
      {
        g_autofree char *name = g_strdup_printf ("/core/%s/fanout-select", modes[i].name);
        g_test_add_data_func (name, modes[i].mode, test_fanout_select);
      }
      {
        g_autofree char *name = g_strdup_printf ("/core/%s/broker-shutdown", modes[i].name);
        g_test_add_data_func (name, modes[i].mode, test_broker_shutdown_with_children);
      }
    }
  g_test_add_func ("/core/own/deferred-parts", test_deferred_parts);
  g_test_add_func ("/core/own/boot-bytecode", test_boot_bytecode);
  g_test_add_func ("/core/own/boot-bytecode/helper-fails", test_boot_bytecode_helper_fails);
  g_test_add_data_func ("/core/own/boot-bytecode/shutdown", hang_reading, test_boot_bytecode_shutdown);
  g_test_add_data_func ("/core/own/boot-bytecode/shutdown-output-closed", hang_closed,
                        test_boot_bytecode_shutdown);
  g_test_add_func ("/core/own/cache-directory/property", test_cache_directory_property);
  g_test_add_func ("/core/own/cache-directory/across-routers", test_cache_across_routers);
  g_test_add_func ("/core/own/cache-directory/damaged", test_cache_damaged);
  g_test_add_func ("/core/own/cache-directory/not-private", test_cache_not_private);
  g_test_add_func ("/core/own/cache-directory/new-interpreter", test_cache_new_interpreter);
  g_test_add_func ("/core/own/cache-directory/unusable", test_cache_unusable);
  g_test_add_func ("/core/own/cache-directory/shutdown-early", test_cache_shutdown_early);
  g_test_add_func ("/core/own/cache-directory/never-booted", test_cache_never_booted);
  g_test_add_func ("/core/connect-errors", test_connect_errors);
  g_test_add_func ("/core/log-to-file", test_log_to_file);

  return g_test_run ();
}
