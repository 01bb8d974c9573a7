/* test-hostile.c: a compromised child attacks the master
 *
 * SPDX-License-Identifier: BSD-3-Clause
 *
 * Each test connects a well-behaved child (mitogen-glib's own runtime on a
 * real interpreter) and a hostile one: tests/hostile/hostile_child.py,
 * started where the master expects a Python interpreter. The hostile child
 * fakes the bootstrap and then, told by calls to its `hostile` module,
 * sends malformed frames, forbidden pickles, forged headers, route
 * changes it has no right to, module requests that try to leave the search
 * path, and floods. Every test checks that the attack was refused with the
 * documented error or log line, that nothing ran on the master (a canary
 * file the payloads would create stays absent), that no file outside the
 * search path was read, and that the well-behaved child still answers.
 *
 * doc/security.md names these tests as the evidence of each point of the
 * trust model.
 */

#include "config.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <mitogen-glib.h>

#include "test-time-scale.h"

/* ASan keeps freed memory in quarantine, so RSS bounds measure it, not
 * us: those checks are skipped in sanitizer builds. */
#if defined(__SANITIZE_ADDRESS__)
# define UNDER_ASAN 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
#  define UNDER_ASAN 1
# endif
#endif

#define TMPDIR_ENV "MITOGEN_HOSTILE_TMPDIR"
#define VERDICT_ENV "MITOGEN_HOSTILE_VERDICT"

#define WAIT_SECONDS 10.0
#define CALL_SECONDS 20.0
#define MIB (1024 * 1024)

/* Messages of the Mitogen log domain, captured for assertions. */

static GMutex log_lock;
static GPtrArray *log_lines;    /* (lock) (element-type utf8) */
static gboolean log_verbose;

static GLogWriterOutput
capture_writer (GLogLevelFlags   log_level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  const char *domain = NULL;
  const char *message = NULL;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
        domain = fields[i].value;
      else if (g_str_equal (fields[i].key, "MESSAGE"))
        message = fields[i].value;
    }

  if (g_strcmp0 (domain, "Mitogen") == 0 && message != NULL)
    {
      g_mutex_lock (&log_lock);
      g_ptr_array_add (log_lines, g_strdup (message));
      g_mutex_unlock (&log_lock);
      if (log_verbose)
        fprintf (stderr, "# [log] %s\n", message);
      /* The test's own failures share the domain: let them through. */
      if ((log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) == 0)
        return G_LOG_WRITER_HANDLED;
    }

  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

static void
log_clear (void)
{
  g_mutex_lock (&log_lock);
  g_ptr_array_set_size (log_lines, 0);
  g_mutex_unlock (&log_lock);
}

static gboolean
log_contains (const char *text)
{
  gboolean found = FALSE;

  g_mutex_lock (&log_lock);
  for (guint i = 0; i < log_lines->len && !found; i++)
    found = strstr (g_ptr_array_index (log_lines, i), text) != NULL;
  g_mutex_unlock (&log_lock);

  return found;
}

/* To stderr: the subprocess's stdout is not shown. */
static void
log_dump (void)
{
  g_mutex_lock (&log_lock);
  for (guint i = 0; i < log_lines->len; i++)
    fprintf (stderr, "# log: %s\n", (const char *) g_ptr_array_index (log_lines, i));
  g_mutex_unlock (&log_lock);
}

/* Waiting, always bounded, with the main context running: signals of the
 * router and its contexts are emitted there. */

typedef gboolean (*Predicate) (gpointer data);

static gboolean
wait_until (Predicate pred,
            gpointer  data,
            double    seconds)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);

  while (!pred (data))
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (5000);
    }
  return TRUE;
}

static void
spin (double seconds)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);

  while (g_get_monotonic_time () < deadline)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (5000);
    }
}

static gboolean
log_contains_pred (gpointer data)
{
  return log_contains (data);
}

static void
assert_logged (const char *text)
{
  if (!wait_until (log_contains_pred, (gpointer) text, WAIT_SECONDS))
    {
      log_dump ();
      g_error ("Nothing logged contains “%s”", text);
    }
}

static gboolean
context_gone_pred (gpointer data)
{
  return !mitogen_context_is_connected (MITOGEN_CONTEXT (data));
}

static void
assert_disconnects (MitogenContext *context)
{
  if (!wait_until (context_gone_pred, context, WAIT_SECONDS))
    {
      log_dump ();
      g_error ("Context %u is still connected", mitogen_context_get_context_id (context));
    }
}

/* Resident memory of this process, in bytes. */
static gsize
rss_bytes (void)
{
  g_autofree char *text = NULL;
  unsigned long size = 0;
  unsigned long resident = 0;

  g_assert_true (g_file_get_contents ("/proc/self/statm", &text, NULL, NULL));
  g_assert_cmpint (sscanf (text, "%lu %lu", &size, &resident), ==, 2);
  return (gsize) resident * (gsize) sysconf (_SC_PAGESIZE);
}

/* The same, after handing free heap pages back to the system: earlier
 * tests' garbage must not hide (by being reused) what a test allocates. */
static gsize
rss_baseline (void)
{
#ifdef __GLIBC__
  malloc_trim (0);
#endif
  return rss_bytes ();
}

/* Calls, bounded, with the main context running (a ::find-module handler
 * is called there). */

typedef struct
{
  GVariant *result;
  GError *error;
  gboolean done;
} CallResult;

static void
call_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  CallResult *call = user_data;

  call->result = mitogen_context_call_finish (MITOGEN_CONTEXT (source), result, &call->error);
  call->done = TRUE;
}

static gboolean
call_done_pred (gpointer data)
{
  return ((CallResult *) data)->done;
}

static GVariant *
call_in_within (MitogenContext  *context,
                const char      *module,
                const char      *function,
                GVariant        *args,
                double           seconds,
                GError         **error)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  CallResult call = { NULL, NULL, FALSE };

  mitogen_context_call_async (context, module, NULL, function, args, NULL,
                              cancellable, call_done, &call);
  if (!wait_until (call_done_pred, &call, seconds))
    {
      g_cancellable_cancel (cancellable);
      if (!wait_until (call_done_pred, &call, WAIT_SECONDS))
        g_error ("%s.%s() neither returned nor cancelled", module, function);
    }
  if (call.error != NULL)
    g_propagate_error (error, call.error);
  return call.result;
}

static GVariant *
call_in (MitogenContext  *context,
         const char      *module,
         const char      *function,
         GVariant        *args,
         GError         **error)
{
  return call_in_within (context, module, function, args, CALL_SECONDS, error);
}

/* The fixture: a router, a well-behaved child, and room for hostile ones. */

typedef struct
{
  MitogenRouter *router;
  MitogenContext *good;
  gint64 good_pid;
  char *tmpdir;
  char *canary;       /* a path that the payloads would create */
  char *report;       /* the report file of the last hostile child */
  guint n_hostile;
} Fixture;

static const char *
test_python (void)
{
  const char *python = g_getenv ("MITOGEN_TEST_PYTHON");

  return python && *python ? python : "python3";
}

static gint64
good_pid (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) pid = call_in (fixture->good, "os", "getpid", NULL, &error);

  g_assert_no_error (error);
  return g_variant_get_int64 (pid);
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(MitogenConnectionOptions) options = mitogen_connection_options_new ();
  g_autofree char *helpers = g_test_build_filename (G_TEST_DIST, "data", "python", NULL);
  g_autoptr(GError) error = NULL;

  log_clear ();
  /* Made by the parent process, which removes it even if we crash. */
  fixture->tmpdir = g_strdup (g_getenv (TMPDIR_ENV));
  if (fixture->tmpdir == NULL)
    fixture->tmpdir = g_dir_make_tmp ("mitogen-hostile-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->canary = g_strdup_printf ("%s/canary-%08x", fixture->tmpdir, g_test_rand_int ());

  fixture->router = mitogen_router_new (NULL);
  mitogen_router_add_python_path (fixture->router, helpers);
  mitogen_connection_options_set_python_path (options, test_python ());
  mitogen_connection_options_set_connect_timeout (options, 30.0);
  mitogen_connection_options_set_name (options, "good");
  fixture->good = mitogen_router_local (fixture->router, options, NULL, &error);
  g_assert_no_error (error);
  fixture->good_pid = good_pid (fixture);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;

  if (!g_file_test (path, G_FILE_TEST_IS_SYMLINK) && g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      dir = g_dir_open (path, 0, NULL);
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          remove_tree (child);
        }
    }
  g_remove (path);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  MitogenBroker *broker = mitogen_router_get_broker (fixture->router);

  /* Whatever the test did, no payload ran here. */
  g_assert_false (g_file_test (fixture->canary, G_FILE_TEST_EXISTS));

  mitogen_router_shutdown (fixture->router);
  g_assert_true (mitogen_broker_join (broker, 10 * G_USEC_PER_SEC));
  g_clear_object (&fixture->good);
  g_clear_object (&fixture->router);
  remove_tree (fixture->tmpdir);
  g_free (fixture->tmpdir);
  g_free (fixture->canary);
  g_free (fixture->report);
}

/* The well-behaved child is still connected, still the same process, and
 * still answers. */
static void
assert_good_alive (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) sum = NULL;

  g_assert_true (mitogen_context_is_connected (fixture->good));
  sum = call_in (fixture->good, "mitogen_test_helpers", "add",
                 g_variant_new ("(xx)", (gint64) 2, (gint64) 3), &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (sum), ==, 5);
  g_assert_cmpint (good_pid (fixture), ==, fixture->good_pid);
}

/* Starts hostile_child.py in @scenario: the python-path names a wrapper
 * that sets the scenario and the report file, then runs the script. */
static MitogenContext *
start_hostile (Fixture     *fixture,
               const char  *scenario,
               const char  *marker,
               double       timeout,
               GError     **error)
{
  g_autoptr(MitogenConnectionOptions) options = mitogen_connection_options_new ();
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "hostile", "hostile_child.py", NULL);
  g_autofree char *wrapper = NULL;
  g_autofree char *text = NULL;
  g_autofree char *q_scenario = g_shell_quote (scenario);
  g_autofree char *q_report = NULL;
  g_autofree char *q_marker = g_shell_quote (marker ? marker : "hostile-marker");
  g_autofree char *q_python = g_shell_quote (test_python ());
  g_autofree char *q_script = g_shell_quote (script);
  g_autofree char *name = NULL;
  g_autoptr(GError) local_error = NULL;

  fixture->n_hostile++;
  name = g_strdup_printf ("hostile-%u", fixture->n_hostile);
  wrapper = g_strdup_printf ("%s/%s.sh", fixture->tmpdir, name);
  g_free (fixture->report);
  fixture->report = g_strdup_printf ("%s/%s.jsonl", fixture->tmpdir, name);
  q_report = g_shell_quote (fixture->report);
  text = g_strdup_printf ("#!/bin/sh\n"
                          "MITOGEN_HOSTILE_SCENARIO=%s\n"
                          "MITOGEN_HOSTILE_REPORT=%s\n"
                          "MITOGEN_HOSTILE_MARKER=%s\n"
                          "export MITOGEN_HOSTILE_SCENARIO MITOGEN_HOSTILE_REPORT MITOGEN_HOSTILE_MARKER\n"
                          "exec %s %s \"$@\"\n",
                          q_scenario, q_report, q_marker, q_python, q_script);
  g_file_set_contents (wrapper, text, -1, &local_error);
  g_assert_no_error (local_error);
  g_assert_no_errno (g_chmod (wrapper, 0755));

  mitogen_connection_options_set_python_path (options, wrapper);
  mitogen_connection_options_set_connect_timeout (options, timeout);
  mitogen_connection_options_set_name (options, name);

  return mitogen_router_local (fixture->router, options, NULL, error);
}

static MitogenContext *
start_rpc_hostile (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  MitogenContext *hostile = start_hostile (fixture, "rpc", NULL, 30.0, &error);

  g_assert_no_error (error);
  g_assert_nonnull (hostile);
  return hostile;
}

static GVariant *
hostile_call (MitogenContext  *hostile,
              const char      *action,
              GVariant        *args,
              GError         **error)
{
  return call_in (hostile, "hostile", action, args, error);
}

static gboolean
report_contains_pred (gpointer data)
{
  const char **args = data;
  g_autofree char *text = NULL;

  return g_file_get_contents (args[0], &text, NULL, NULL) && strstr (text, args[1]) != NULL;
}

/* Waits until the hostile child's report file contains @text. */
static gboolean
report_has (Fixture    *fixture,
            const char *text)
{
  const char *args[] = { fixture->report, text };

  return wait_until (report_contains_pred, args, WAIT_SECONDS);
}

static GVariant *
pickled (GVariant *value)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;

  g_variant_ref_sink (value);
  bytes = mitogen_pickle_encode (value, MITOGEN_PICKLE_FLAGS_NONE, &error);
  g_assert_no_error (error);
  g_variant_unref (value);
  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, g_bytes_get_data (bytes, NULL),
                                    g_bytes_get_size (bytes), 1);
}

static GVariant *
text_bytes (const char *text,
            gssize      len)
{
  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, text,
                                    len < 0 ? strlen (text) : (gsize) len, 1);
}

/* A string literal that may hold NULs. */
#define LIT(s) text_bytes ((s), sizeof (s) - 1)

/* A CALL_FUNCTION payload for posix.system("touch CANARY"). */
static GVariant *
system_call_payload (Fixture *fixture)
{
  g_autofree char *command = g_strdup_printf ("touch %s", fixture->canary);
  GVariantBuilder kwargs;

  g_variant_builder_init (&kwargs, G_VARIANT_TYPE_VARDICT);
  return pickled (g_variant_new ("(@mvs@mvs(s)(sv))",
                                 g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL),
                                 "posix",
                                 g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL),
                                 "system", command,
                                 MITOGEN_PICKLE_TAG_KWARGS,
                                 g_variant_builder_end (&kwargs)));
}

/* Frames for send_frames: (dst, src, auth, handle, reply_to, payload);
 * src or auth -1 means the hostile child's own id. */
static void
add_frame (GVariantBuilder *frames,
           gint64           dst,
           gint64           src,
           gint64           auth,
           gint64           handle,
           gint64           reply_to,
           GVariant        *payload)
{
  g_variant_builder_add (frames, "(xxxxx@ay)", dst, src, auth, handle, reply_to,
                         payload ? payload : text_bytes ("", 0));
}

/* Sends the frames and returns what came back: an array of a{sv}. */
static GVariant *
send_frames (MitogenContext  *hostile,
             GVariantBuilder *frames,
             const gint64    *wait_handles,
             gsize            n_wait,
             double           wait_seconds)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = NULL;
  gboolean barrier = FALSE;
  GVariant *received;
  static const gint64 no_handles[1] = { 0 };

  if (wait_handles == NULL)
    {
      wait_handles = no_handles;
      n_wait = 0;
    }
  result = hostile_call (hostile, "send_frames",
                         g_variant_new ("(@a(xxxxxay)@axd)",
                                        g_variant_builder_end (frames),
                                        g_variant_new_fixed_array (G_VARIANT_TYPE_INT64, wait_handles,
                                                                   n_wait, sizeof (gint64)),
                                        wait_seconds),
                         &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (result, "barrier", "b", &barrier));
  g_assert_true (barrier);
  received = g_variant_lookup_value (result, "received", G_VARIANT_TYPE ("av"));
  g_assert_nonnull (received);
  return received;
}

/* The dead reason received for @handle, or NULL. */
static char *
dead_reason_for (GVariant *received,
                 gint64    handle)
{
  for (gsize i = 0; i < g_variant_n_children (received); i++)
    {
      g_autoptr(GVariant) boxed = g_variant_get_child_value (received, i);
      g_autoptr(GVariant) item = g_variant_get_variant (boxed);
      gint64 h = 0;
      gboolean dead = FALSE;
      const char *text = NULL;

      if (g_variant_lookup (item, "handle", "x", &h) && h == handle &&
          g_variant_lookup (item, "dead", "b", &dead) && dead &&
          g_variant_lookup (item, "text", "&s", &text))
        return g_strdup (text);
    }
  return NULL;
}

static gboolean
anything_for (GVariant *received,
              gint64    handle)
{
  for (gsize i = 0; i < g_variant_n_children (received); i++)
    {
      g_autoptr(GVariant) boxed = g_variant_get_child_value (received, i);
      g_autoptr(GVariant) item = g_variant_get_variant (boxed);
      gint64 h = 0;

      if (g_variant_lookup (item, "handle", "x", &h) && h == handle)
        return TRUE;
    }
  return FALSE;
}

static gboolean
router_knows (MitogenRouter *router,
              guint32        id)
{
  GList *contexts = mitogen_router_list_contexts (router);
  gboolean found = FALSE;

  for (GList *l = contexts; l != NULL; l = l->next)
    if (mitogen_context_get_context_id (l->data) == id)
      found = TRUE;
  g_list_free_full (contexts, g_object_unref);
  return found;
}

/* Every test runs in a subprocess of its own: a master that crashes
 * takes only that test down, and memory measurements start from a fresh
 * heap. A known library bug is reported with incomplete(): the test is
 * then a TODO instead of a failure, until the library is fixed. */

static void
incomplete (const char *reason)
{
  const char *verdict = g_getenv (VERDICT_ENV);

  if (verdict != NULL)
    g_file_set_contents (verdict, reason, -1, NULL);
  g_test_incomplete (reason);
}

/* 1. Bad magic. */

static void
count_signal (MitogenContext *context,
              gpointer        user_data)
{
  (*(guint *) user_data)++;
}

static void
count_context_signal (MitogenRouter  *router,
                      MitogenContext *context,
                      gpointer        user_data)
{
  const char *name = mitogen_context_get_name (context);

  if (name != NULL && g_str_has_prefix (name, "hostile"))
    (*(guint *) user_data)++;
}

static gboolean
count_is_one (gpointer data)
{
  return *(guint *) data == 1;
}

static void
test_bad_magic (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(MitogenContext) hostile = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GVariant) after = NULL;
  g_autoptr(GError) error = NULL;
  guint disconnected = 0;
  guint router_disconnected = 0;

  hostile = start_rpc_hostile (fixture);
  g_signal_connect (hostile, "disconnected", G_CALLBACK (count_signal), &disconnected);
  g_signal_connect (fixture->router, "context-disconnected", G_CALLBACK (count_context_signal),
                    &router_disconnected);
  result = hostile_call (hostile, "bad_magic", g_variant_new ("(b)", TRUE), &error);
  g_assert_no_error (error);

  assert_disconnects (hostile);
  g_assert_true (wait_until (count_is_one, &disconnected, WAIT_SECONDS));
  g_assert_true (wait_until (count_is_one, &router_disconnected, WAIT_SECONDS));
  g_signal_handlers_disconnect_by_func (fixture->router, count_context_signal, &router_disconnected);
  assert_logged ("Corruption detected: frame signature");
  /* The valid FORWARD_LOG frame in the same read came first. */
  assert_logged ("before-bad-magic hostile-marker");
  /* The child sees its stream closed. */
  g_assert_true (report_has (fixture, "\"eof\": true"));

  after = hostile_call (hostile, "ping", NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_null (after);
  assert_good_alive (fixture);
}

/* 2. Oversized length headers. */

static void
test_oversized (Fixture       *fixture,
                gconstpointer  data)
{
  const guint32 lengths[] = { G_MAXUINT32, 1 * MIB + 1 };
  gsize before = rss_baseline ();

  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++)
    {
      g_autoptr(MitogenContext) hostile = NULL;
      g_autoptr(GVariant) result = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *expected = NULL;

      /* The second round with a lowered limit: the stream takes the
       * router's limit when it is created. */
      if (i == 1)
        mitogen_router_set_max_message_size (fixture->router, 1 * MIB);
      log_clear ();
      hostile = start_rpc_hostile (fixture);
      result = hostile_call (hostile, "oversized", g_variant_new ("(x)", (gint64) lengths[i]), &error);
      g_assert_no_error (error);
      assert_disconnects (hostile);
      expected = g_strdup_printf ("announces %u payload bytes", lengths[i]);
      assert_logged ("Maximum message size exceeded");
      assert_logged (expected);
      g_assert_true (report_has (fixture, "\"eof\": true"));
    }

  g_assert_cmpuint (rss_bytes (), <, before + 16 * MIB);
  assert_good_alive (fixture);
}

/* A header announcing a large (permitted) payload, followed by far fewer
 * bytes: memory follows what arrived, and the stream stays open. */
static void
test_lying_length (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(MitogenContext) hostile = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  gsize before;

  hostile = start_rpc_hostile (fixture);
  before = rss_baseline ();
  result = hostile_call (hostile, "lying_length",
                         g_variant_new ("(xx)", (gint64) 128 * MIB, (gint64) MIB), &error);
  g_assert_no_error (error);
  g_assert_true (report_has (fixture, "lying-length-sent"));
  spin (0.2);
  g_assert_cmpuint (rss_bytes (), <, before + 16 * MIB);

  /* The master can still talk to it, and everyone else works. */
  g_assert_true (mitogen_context_is_connected (hostile));
  assert_good_alive (fixture);

  mitogen_context_shutdown (hostile);
  assert_disconnects (hostile);
  assert_logged ("Stream ended inside a frame payload");
  assert_good_alive (fixture);
}

/* 3. Forbidden globals in a reply, and 4. decoder bounds. */

typedef struct
{
  const char *kind;
  int code;   /* MitogenCodecError */
} PickleAttack;

static void
run_pickle_attacks (Fixture            *fixture,
                    const PickleAttack *attacks,
                    gsize               n_attacks)
{
  g_autoptr(MitogenContext) hostile = start_rpc_hostile (fixture);

  for (gsize i = 0; i < n_attacks; i++)
    {
      g_autoptr(GVariant) result = NULL;
      g_autoptr(GVariant) ping = NULL;
      g_autoptr(GError) error = NULL;
      gsize before = rss_baseline ();
      gint64 start = g_get_monotonic_time ();

      g_test_message ("pickle attack: %s", attacks[i].kind);
      result = hostile_call (hostile, "reply_pickle",
                             g_variant_new ("(ss)", attacks[i].kind, fixture->canary), &error);
      g_assert_null (result);
      if (!g_error_matches (error, MITOGEN_CODEC_ERROR, attacks[i].code))
        g_error ("%s: expected codec error %d, got %s %d: %s", attacks[i].kind, attacks[i].code,
                 g_quark_to_string (error->domain), error->code, error->message);
      /* Refused quickly, without a large allocation. */
      g_assert_cmpint (g_get_monotonic_time () - start, <, test_scaled_usec (5 * G_USEC_PER_SEC));
      g_assert_cmpuint (rss_bytes (), <, before + 32 * MIB);
      g_assert_false (g_file_test (fixture->canary, G_FILE_TEST_EXISTS));

      /* A bad reply fails that call only: the stream carries on. */
      g_clear_error (&error);
      ping = hostile_call (hostile, "ping", NULL, &error);
      g_assert_no_error (error);
    }

  assert_good_alive (fixture);
}

static void
test_forbidden_globals (Fixture       *fixture,
                        gconstpointer  data)
{
  const PickleAttack attacks[] = {
    { "global", MITOGEN_CODEC_ERROR_FORBIDDEN_GLOBAL },
    { "global-posix", MITOGEN_CODEC_ERROR_FORBIDDEN_GLOBAL },
    { "stack-global", MITOGEN_CODEC_ERROR_FORBIDDEN_GLOBAL },
    { "stack-global-posix", MITOGEN_CODEC_ERROR_FORBIDDEN_GLOBAL },
    { "global-nested", MITOGEN_CODEC_ERROR_FORBIDDEN_GLOBAL },
    { "builtins-eval", MITOGEN_CODEC_ERROR_FORBIDDEN_GLOBAL },
    { "builtin-getattr", MITOGEN_CODEC_ERROR_FORBIDDEN_GLOBAL },
    { "obj", MITOGEN_CODEC_ERROR_FORBIDDEN_GLOBAL },
    { "inst", MITOGEN_CODEC_ERROR_UNKNOWN_OPCODE },
    { "newobj", MITOGEN_CODEC_ERROR_UNKNOWN_OPCODE },
    { "build", MITOGEN_CODEC_ERROR_UNKNOWN_OPCODE },
    { "ext1", MITOGEN_CODEC_ERROR_UNKNOWN_OPCODE },
    { "persid", MITOGEN_CODEC_ERROR_UNKNOWN_OPCODE },
    { "binpersid", MITOGEN_CODEC_ERROR_UNKNOWN_OPCODE },
    { "bytes-huge", MITOGEN_CODEC_ERROR_MALFORMED },
  };
  run_pickle_attacks (fixture, attacks, G_N_ELEMENTS (attacks));
}

static void
test_pickle_bounds (Fixture       *fixture,
                    gconstpointer  data)
{
  const PickleAttack attacks[] = {
    { "deep-lists", MITOGEN_CODEC_ERROR_TOO_DEEP },
    { "deep-tuples", MITOGEN_CODEC_ERROR_TOO_DEEP },
    { "memo-bomb", MITOGEN_CODEC_ERROR_TOO_BIG },
    { "memo-index", MITOGEN_CODEC_ERROR_BAD_MEMO },
    { "huge-string", MITOGEN_CODEC_ERROR_TRUNCATED },
    { "huge-long", MITOGEN_CODEC_ERROR_TRUNCATED },
    { "marks", MITOGEN_CODEC_ERROR_MALFORMED },
  };
  run_pickle_attacks (fixture, attacks, G_N_ELEMENTS (attacks));
}

/* 5. Forged source and authority. */

static void
test_spoofing (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(MitogenContext) hostile = start_rpc_hostile (fixture);
  g_autoptr(MitogenReceiver) pending = NULL;
  g_autoptr(MitogenMessage) reply = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariant) received = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *reason = NULL;
  g_autofree char *refused = NULL;
  GVariantBuilder frames;
  gint64 good = mitogen_context_get_context_id (fixture->good);
  gint64 self = mitogen_context_get_context_id (hostile);
  gint64 handle;
  const gint64 wait[] = { 7701, 7702 };

  /* The sibling's call is pending for a second; its reply handle is
   * what an attacker would guess (handles are allocated in sequence). */
  pending = mitogen_context_call_receiver (fixture->good, "mitogen_test_helpers", NULL, "sleep",
                                           g_variant_new ("(d)", 1.0), NULL, &error);
  g_assert_no_error (error);
  handle = mitogen_receiver_get_handle (pending);

  g_variant_builder_init (&frames, G_VARIANT_TYPE ("a(xxxxxay)"));
  /* Replies to the pending call: as the sibling with own authority, as
   * the sibling outright, as the master, and honestly as itself. */
  add_frame (&frames, 0, good, -1, handle, 7710, pickled (g_variant_new_string ("FORGED src")));
  add_frame (&frames, 0, good, good, handle, 7711, pickled (g_variant_new_string ("FORGED auth")));
  add_frame (&frames, 0, 0, 0, handle, 7712, pickled (g_variant_new_string ("FORGED master")));
  add_frame (&frames, 0, -1, -1, handle, 7701, pickled (g_variant_new_string ("FORGED self")));
  /* Guessing nearby handles with a forged source. */
  for (gint64 h = handle - 5; h <= handle + 5; h++)
    add_frame (&frames, 0, good, good, h, 0, pickled (g_variant_new_string ("FORGED guess")));
  /* Calls into the sibling with the master's authority, which would run
   * `touch CANARY` there. */
  add_frame (&frames, good, 0, 0, MITOGEN_HANDLE_CALL_FUNCTION, 7713, system_call_payload (fixture));
  add_frame (&frames, good, -1, 0, MITOGEN_HANDLE_CALL_FUNCTION, 7714, system_call_payload (fixture));
  add_frame (&frames, good, 0, -1, MITOGEN_HANDLE_CALL_FUNCTION, 7715, system_call_payload (fixture));
  /* ... and with its own authority: the sibling refuses it. */
  add_frame (&frames, good, -1, -1, MITOGEN_HANDLE_CALL_FUNCTION, 7702, system_call_payload (fixture));
  received = send_frames (hostile, &frames, wait, G_N_ELEMENTS (wait), 5.0);

  assert_logged ("bad src_id");
  assert_logged ("bad auth_id");
  {
    g_autofree char *expected = g_strdup_printf ("from context %" G_GINT64_FORMAT ", expected %"
                                                 G_GINT64_FORMAT "; refused", self, good);

    assert_logged (expected);
  }
  reason = dead_reason_for (received, 7701);
  g_assert_cmpstr (reason, ==, "reply from unexpected context");
  refused = dead_reason_for (received, 7702);
  g_assert_cmpstr (refused, ==, "refused by policy");
  /* Messages that fail source verification are dropped without an
   * answer: a dead reply would itself go to a forged address. */
  for (gint64 h = 7710; h <= 7715; h++)
    g_assert_false (anything_for (received, h));

  /* The real reply wins. */
  reply = mitogen_receiver_get (pending, 10 * G_USEC_PER_SEC, NULL, &error);
  g_assert_no_error (error);
  value = mitogen_message_unpickle (reply, &error);
  g_assert_no_error (error);
  g_assert_cmpint (mitogen_message_get_src_id (reply), ==, good);
  g_assert_true (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE));
  g_assert_cmpfloat (g_variant_get_double (value), ==, 1.0);
  g_assert_false (g_file_test (fixture->canary, G_FILE_TEST_EXISTS));
  assert_good_alive (fixture);
}

/* A dead message is a reply too: a forged one must not end a sibling's
 * pending call. */
static void
test_spoofed_dead_reply (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(MitogenContext) hostile = start_rpc_hostile (fixture);
  g_autoptr(MitogenReceiver) pending = NULL;
  g_autoptr(MitogenMessage) reply = NULL;
  g_autoptr(GVariant) received = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder frames;
  gint64 handle;

  pending = mitogen_context_call_receiver (fixture->good, "mitogen_test_helpers", NULL, "sleep",
                                           g_variant_new ("(d)", 1.0), NULL, &error);
  g_assert_no_error (error);
  handle = mitogen_receiver_get_handle (pending);

  g_variant_builder_init (&frames, G_VARIANT_TYPE ("a(xxxxxay)"));
  add_frame (&frames, 0, -1, -1, handle, MITOGEN_HANDLE_IS_DEAD, text_bytes ("forged death", -1));
  received = send_frames (hostile, &frames, NULL, 0, 0.0);

  reply = mitogen_receiver_get (pending, 10 * G_USEC_PER_SEC, NULL, &error);
  if (reply == NULL && g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL) &&
      strstr (error->message, "forged death") != NULL)
    {
      /* Library bug, reported: deliver_local() skips the respondent check
       * for dead messages, whoever sends them. */
      incomplete ("a dead message from another child ended the pending call: "
                         "the router does not check the source of dead replies");
      return;
    }
  g_assert_no_error (error);
  g_assert_cmpint (mitogen_message_get_src_id (reply), ==, mitogen_context_get_context_id (fixture->good));
  assert_good_alive (fixture);
}

/* 6. Calls and other parent-only messages towards the master. */

static void
test_call_master (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(MitogenContext) hostile = start_rpc_hostile (fixture);
  g_autoptr(GVariant) received = NULL;
  g_autoptr(GVariant) ping = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder frames;
  const struct { gint64 handle; gint64 reply_to; } attempts[] = {
    { MITOGEN_HANDLE_CALL_FUNCTION, 7801 },
    { MITOGEN_HANDLE_SHUTDOWN, 7802 },
    { MITOGEN_HANDLE_LOAD_MODULE, 7803 },
    { MITOGEN_HANDLE_FORWARD_MODULE, 7804 },
    { MITOGEN_HANDLE_CALL_SERVICE, 7805 },
    { MITOGEN_HANDLE_DETACHING, 7806 },
  };
  gint64 wait[G_N_ELEMENTS (attempts)];

  g_variant_builder_init (&frames, G_VARIANT_TYPE ("a(xxxxxay)"));
  for (guint i = 0; i < G_N_ELEMENTS (attempts); i++)
    {
      add_frame (&frames, 0, -1, -1, attempts[i].handle, attempts[i].reply_to,
                 system_call_payload (fixture));
      wait[i] = attempts[i].reply_to;
    }
  /* Without a reply handle it is dropped silently. */
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_CALL_FUNCTION, 0, system_call_payload (fixture));
  received = send_frames (hostile, &frames, wait, G_N_ELEMENTS (wait), 5.0);

  for (guint i = 0; i < G_N_ELEMENTS (attempts); i++)
    {
      g_autofree char *reason = dead_reason_for (received, attempts[i].reply_to);

      g_test_message ("handle %" G_GINT64_FORMAT ": %s", attempts[i].handle, reason);
      g_assert_cmpstr (reason, ==, "invalid handle");
    }

  g_assert_false (g_file_test (fixture->canary, G_FILE_TEST_EXISTS));
  /* SHUTDOWN did not shut the master down. */
  ping = hostile_call (hostile, "ping", NULL, &error);
  g_assert_no_error (error);
  assert_good_alive (fixture);
}

/* 7. Route changes. */

static void
test_routes (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(MitogenContext) hostile = start_rpc_hostile (fixture);
  g_autoptr(GVariant) received = NULL;
  g_autofree char *good_route = NULL;
  g_autofree char *good_text = NULL;
  g_autofree char *self_text = NULL;
  g_autofree char *long_id = g_strnfill (300, '1');
  GVariantBuilder frames;
  gint64 good = mitogen_context_get_context_id (fixture->good);
  gint64 self = mitogen_context_get_context_id (hostile);
  /* The empty payload is /hostile/empty-payload/add-route. */
  const char *bad_payloads[] = { "0", "0:master", "abc", "-5", "4294967296", "1x", ":" };

  good_route = g_strdup_printf ("%" G_GINT64_FORMAT ":evil", good);
  good_text = g_strdup_printf ("%" G_GINT64_FORMAT, good);
  self_text = g_strdup_printf ("%" G_GINT64_FORMAT, self);

  g_variant_builder_init (&frames, G_VARIANT_TYPE ("a(xxxxxay)"));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_ADD_ROUTE, 0, text_bytes (good_route, -1));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_ADD_ROUTE, 0, text_bytes (self_text, -1));
  for (guint i = 0; i < G_N_ELEMENTS (bad_payloads); i++)
    add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_ADD_ROUTE, 0, text_bytes (bad_payloads[i], -1));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_ADD_ROUTE, 0, text_bytes (long_id, -1));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_ADD_ROUTE, 0, LIT ("77\0:x"));
  /* Claiming to be the sibling announcing a route. */
  add_frame (&frames, 0, good, -1, MITOGEN_HANDLE_ADD_ROUTE, 0, text_bytes ("88:x", -1));
  /* DEL_ROUTE for the sibling, for itself, and malformed. */
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_DEL_ROUTE, 0, text_bytes (good_text, -1));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_DEL_ROUTE, 0, text_bytes (self_text, -1));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_DEL_ROUTE, 0, text_bytes ("0", -1));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_DEL_ROUTE, 0, text_bytes ("junk", -1));
  /* Telling the sibling itself that the master, or it, is gone: the
   * master forwards it (children may talk to each other), and the
   * sibling only fires its local disconnect signal. */
  add_frame (&frames, good, -1, -1, MITOGEN_HANDLE_DEL_ROUTE, 0, text_bytes ("0", -1));
  add_frame (&frames, good, -1, -1, MITOGEN_HANDLE_DEL_ROUTE, 0, text_bytes (good_text, -1));
  received = send_frames (hostile, &frames, NULL, 0, 0.0);

  {
    /* Its id was never allocated to this child, so that is the reason. */
    g_autofree char *duplicate = g_strdup_printf ("refused ADD_ROUTE for context %"
                                                  G_GINT64_FORMAT " from context %" G_GINT64_FORMAT
                                                  ": that id was not allocated to it", good, self);
    g_autofree char *refused_add = g_strdup_printf ("refused ADD_ROUTE from context %"
                                                    G_GINT64_FORMAT, self);
    g_autofree char *refused_del = g_strdup_printf ("refused DEL_ROUTE for context %"
                                                    G_GINT64_FORMAT, good);

    assert_logged (duplicate);
    assert_logged (refused_add);
    assert_logged (refused_del);
    assert_logged ("bad src_id");
  }
  g_assert_false (router_knows (fixture->router, 77));
  g_assert_false (router_knows (fixture->router, 88));
  g_assert_true (mitogen_context_is_connected (hostile));
  /* Messages for the sibling still reach the same process. */
  assert_good_alive (fixture);
}

/* ADD_ROUTE for an id this child was never given. */
static void
test_routes_unowned (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(MitogenContext) hostile = start_rpc_hostile (fixture);
  g_autoptr(MitogenConnectionOptions) options = mitogen_connection_options_new ();
  g_autoptr(MitogenContext) later = NULL;
  g_autoptr(GVariant) received = NULL;
  g_autoptr(GVariant) pid = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *squat = NULL;
  g_autofree char *squat_del = NULL;
  GVariantBuilder frames;
  gint64 self = mitogen_context_get_context_id (hostile);
  gint64 next = MAX (self, mitogen_context_get_context_id (fixture->good)) + 1;
  gboolean squatted;
  gboolean later_ok;

  squat = g_strdup_printf ("%" G_GINT64_FORMAT ":squat", next);
  squat_del = g_strdup_printf ("%" G_GINT64_FORMAT, next);
  g_variant_builder_init (&frames, G_VARIANT_TYPE ("a(xxxxxay)"));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_ADD_ROUTE, 0, text_bytes (squat, -1));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_ADD_ROUTE, 0, text_bytes ("4000000:far", -1));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_DEL_ROUTE, 0, text_bytes (squat_del, -1));
  received = send_frames (hostile, &frames, NULL, 0, 0.0);
  spin (0.1);

  squatted = router_knows (fixture->router, next) || router_knows (fixture->router, 4000000);

  /* The next context the application starts gets that id. */
  mitogen_connection_options_set_python_path (options, test_python ());
  mitogen_connection_options_set_connect_timeout (options, 30.0);
  later = mitogen_router_local (fixture->router, options, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("squatted id %" G_GINT64_FORMAT ", new context %u, connected %d",
                  next, mitogen_context_get_context_id (later), mitogen_context_is_connected (later));
  pid = call_in (later, "os", "getpid", NULL, &error);
  later_ok = mitogen_context_is_connected (later) && pid != NULL;
  g_clear_error (&error);
  assert_good_alive (fixture);

  if (squatted || !later_ok)
    {
      /* Library bug, reported: on_add_route() accepts any id not yet
       * routed, from any immediate child. */
      incomplete ("ADD_ROUTE for an id never allocated to the child was accepted; "
                         "with DEL_ROUTE it left the next context disconnected from birth");
      return;
    }
  assert_logged ("refused ADD_ROUTE");
}

/* 8. Module requests. */

typedef struct
{
  GMutex lock;
  GPtrArray *asked;
} FinderLog;

static char *
on_find_module (MitogenRouter *router,
                const char    *fullname,
                gpointer       user_data)
{
  FinderLog *finder = user_data;

  g_mutex_lock (&finder->lock);
  g_ptr_array_add (finder->asked, g_strdup (fullname));
  g_mutex_unlock (&finder->lock);
  return NULL;
}

static void
write_file (const char *path,
            const char *text)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static void
make_symlink (const char *target,
              const char *path)
{
  g_assert_no_errno (symlink (target, path));
}

static gboolean
is_dotted_identifier (const char *name)
{
  return g_regex_match_simple ("^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$", name, 0, 0);
}

static void
test_get_module (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(MitogenContext) hostile = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GVariant) results = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *search = g_build_filename (fixture->tmpdir, "search", NULL);
  g_autofree char *outside = g_build_filename (fixture->tmpdir, "outside", NULL);
  g_autofree char *canary_text = g_strdup_printf ("CANARY_%08x", g_test_rand_int ());
  g_autofree char *hidden_text = g_strdup_printf ("HIDDEN_%08x", g_test_rand_int ());
  g_autofree char *secret = NULL;
  g_autofree char *report = NULL;
  g_autofree char *long_name = g_strnfill (300, 'a');
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  FinderLog finder;
  GVariantBuilder requests;
  gboolean leaked = TRUE;
  gboolean ok_served = FALSE;
  const char *hostile_names[] = {
    "../../etc/passwd", "/etc/passwd", "os/../..", "mitogen_test_helpers/../../x",
    "..", ".", "...", ".hidden", "a..b", "x.__init__", "__init__", "okmod.", ".okmod",
    "okmod/", "okmod\\x", "ok mod", "okmod\n", "\xc3\xa9vil", "\xff\xfe", "evil", "canary",
    "evilpkg", "evilpkg.mod", "evilpkg.__init__", "pkg2.leak", "outside.secret",
    "search.okmod", "mitogen", "mitogen.core", "mitogen.secret",
  };

  g_mutex_init (&finder.lock);
  finder.asked = g_ptr_array_new_with_free_func (g_free);

  /* outside/: files with a unique content that must never be served. */
  g_assert_no_errno (g_mkdir (outside, 0700));
  g_assert_no_errno (g_mkdir (search, 0700));
  secret = g_build_filename (outside, "secret.py", NULL);
  {
    g_autofree char *content = g_strdup_printf ("SECRET = '%s'\n", canary_text);
    g_autofree char *pkg = g_build_filename (outside, "pkg", NULL);
    g_autofree char *pkg_init = g_build_filename (pkg, "__init__.py", NULL);
    g_autofree char *pkg_mod = g_build_filename (pkg, "mod.py", NULL);
    g_autofree char *x = g_build_filename (fixture->tmpdir, "x.py", NULL);

    write_file (secret, content);
    g_assert_no_errno (g_mkdir (pkg, 0700));
    write_file (pkg_init, content);
    write_file (pkg_mod, content);
    write_file (x, content);
  }
  /* search/: one good module and package, and traps. */
  {
    g_autofree char *okmod = g_build_filename (search, "okmod.py", NULL);
    g_autofree char *pkg2 = g_build_filename (search, "pkg2", NULL);
    g_autofree char *pkg2_init = g_build_filename (pkg2, "__init__.py", NULL);
    g_autofree char *pkg2_leak = g_build_filename (pkg2, "leak.py", NULL);
    g_autofree char *hidden = g_build_filename (search, ".hidden.py", NULL);
    g_autofree char *hidden_content = g_strdup_printf ("H = '%s'\n", hidden_text);
    g_autofree char *evil = g_build_filename (search, "evil.py", NULL);
    g_autofree char *canary_link = g_build_filename (search, "canary.py", NULL);
    g_autofree char *evilpkg = g_build_filename (search, "evilpkg", NULL);

    write_file (okmod, "OK_MARKER = 'served from the search path'\n");
    g_assert_no_errno (g_mkdir (pkg2, 0700));
    write_file (pkg2_init, "PKG2 = 1\n");
    make_symlink ("../../outside/secret.py", pkg2_leak);
    write_file (hidden, hidden_content);
    make_symlink ("/etc/passwd", evil);
    make_symlink (secret, canary_link);
    make_symlink ("../outside/pkg", evilpkg);
  }

  mitogen_router_add_python_path (fixture->router, search);
  g_signal_connect (fixture->router, "find-module", G_CALLBACK (on_find_module), &finder);

  g_variant_builder_init (&requests, G_VARIANT_TYPE ("aay"));
  for (guint i = 0; i < G_N_ELEMENTS (hostile_names); i++)
    g_variant_builder_add_value (&requests, text_bytes (hostile_names[i], -1));
  g_variant_builder_add_value (&requests, LIT ("okmod\0../../outside/secret"));
  g_variant_builder_add_value (&requests, LIT ("evil\0"));
  g_variant_builder_add_value (&requests, text_bytes (long_name, -1));
  /* The positive control comes last. */
  g_variant_builder_add_value (&requests, text_bytes ("okmod", -1));

  hostile = start_rpc_hostile (fixture);
  result = hostile_call (hostile, "get_modules",
                         g_variant_new ("(@aays)", g_variant_builder_end (&requests), canary_text),
                         &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (result, "leaked", "b", &leaked));
  g_assert_false (leaked);
  results = g_variant_lookup_value (result, "results", G_VARIANT_TYPE ("av"));
  g_assert_nonnull (results);
  g_assert_cmpuint (g_variant_n_children (results), ==, G_N_ELEMENTS (hostile_names) + 4);

  for (gsize i = 0; i < g_variant_n_children (results); i++)
    {
      g_autoptr(GVariant) boxed = g_variant_get_child_value (results, i);
      g_autoptr(GVariant) item = g_variant_get_variant (boxed);
      g_autoptr(GVariant) paths = NULL;
      const char *request = NULL;
      gint64 n_replies = 0;
      gboolean last = i + 1 == g_variant_n_children (results);

      g_assert_true (g_variant_lookup (item, "request", "&s", &request));
      g_assert_true (g_variant_lookup (item, "n_replies", "x", &n_replies));
      paths = g_variant_lookup_value (item, "paths", G_VARIANT_TYPE ("av"));
      /* Every request is answered, so no import in the child hangs. */
      g_assert_cmpint (n_replies, >=, 1);
      for (gsize j = 0; j < g_variant_n_children (paths); j++)
        {
          g_autoptr(GVariant) path_box = g_variant_get_child_value (paths, j);
          g_autoptr(GVariant) path = g_variant_get_variant (path_box);
          const char *text = g_variant_get_string (path, NULL);

          if (last)
            {
              ok_served = g_str_has_suffix (text, "/search/okmod.py");
              continue;
            }
          if (*text != '\0')
            g_error ("request %zu (%s) was answered with %s", i, request, text);
        }
    }
  g_assert_true (ok_served);

  /* Everything the child received, sources included, is in its report. */
  g_assert_true (g_file_get_contents (fixture->report, &report, NULL, NULL));
  g_assert_null (strstr (report, canary_text));
  g_assert_null (strstr (report, hidden_text));
  g_assert_null (strstr (report, "root:x:0:0"));
  g_assert_nonnull (strstr (report, "served from the search path"));

  assert_logged ("refused invalid module name");
  assert_logged ("resolves outside");

  /* The application was never asked about a name that is not a dotted
   * identifier. */
  g_mutex_lock (&finder.lock);
  for (guint i = 0; i < finder.asked->len; i++)
    {
      const char *asked = g_ptr_array_index (finder.asked, i);

      g_test_message ("find-module asked for %s", asked);
      g_assert_true (is_dotted_identifier (asked));
    }
  g_mutex_unlock (&finder.lock);
  g_signal_handlers_disconnect_by_func (fixture->router, on_find_module, &finder);
  g_ptr_array_unref (finder.asked);
  g_mutex_clear (&finder.lock);

  assert_good_alive (fixture);
}

/* Empty payloads. The handlers must not assume a payload is there: for
 * an empty frame, the payload's data pointer is NULL. */
static void
test_empty_payload (Fixture       *fixture,
                    gconstpointer  data)
{
  guint32 handle = GPOINTER_TO_UINT (data);
  g_autoptr(MitogenContext) hostile = start_rpc_hostile (fixture);
  g_autoptr(GVariant) received = NULL;
  g_autoptr(GVariant) ping = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder frames;

  g_variant_builder_init (&frames, G_VARIANT_TYPE ("a(xxxxxay)"));
  add_frame (&frames, 0, -1, -1, handle, 0, NULL);
  received = send_frames (hostile, &frames, NULL, 0, 0.0);
  ping = hostile_call (hostile, "ping", NULL, &error);
  g_assert_no_error (error);
  assert_good_alive (fixture);
}

static void
test_get_module_deferred_once (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(MitogenContext) hostile = start_rpc_hostile (fixture);
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;

  /* Sent once, after the child's first message; asking again gets
   * nothing more: a child cannot make the master send it over and over. */
  result = hostile_call (hostile, "module_replies", g_variant_new ("(si)", "mitogen._deferred", 5),
                         &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (result), ==, 1);
  assert_good_alive (fixture);
}

/* 9. Floods and malformed log records. */

static void
test_allocate_id_flood (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(MitogenContext) hostile = start_rpc_hostile (fixture);
  g_autoptr(MitogenConnectionOptions) options = mitogen_connection_options_new ();
  g_autoptr(MitogenContext) later = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GVariant) pid = NULL;
  g_autoptr(GError) error = NULL;
  gint64 count = 0, first = 0, last = 0;
  gboolean sizes_ok = FALSE, disjoint = FALSE;
  const gint64 requests = 20000;

  result = hostile_call (hostile, "allocate_ids", g_variant_new ("(x)", requests), &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (result, "count", "x", &count));
  g_assert_true (g_variant_lookup (result, "sizes_ok", "b", &sizes_ok));
  g_assert_true (g_variant_lookup (result, "disjoint", "b", &disjoint));
  g_assert_true (g_variant_lookup (result, "first", "x", &first));
  g_assert_true (g_variant_lookup (result, "last", "x", &last));
  g_assert_cmpint (count, ==, requests);
  g_assert_true (sizes_ok);
  g_assert_true (disjoint);
  g_assert_cmpint (first, >, mitogen_context_get_context_id (hostile));
  assert_good_alive (fixture);

  mitogen_connection_options_set_python_path (options, test_python ());
  later = mitogen_router_local (fixture->router, options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (mitogen_context_get_context_id (later), >=, last);
  pid = call_in (later, "os", "getpid", NULL, &error);
  g_assert_no_error (error);
}

/* The master hands out ids from a 32-bit counter: a child that asks for
 * blocks until it runs out must not make it wrap around into ids that
 * live contexts hold. */
static void
test_allocate_id_exhaustion (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autoptr(MitogenContext) hostile = start_rpc_hostile (fixture);
  g_autoptr(MitogenConnectionOptions) options = mitogen_connection_options_new ();
  g_autoptr(MitogenContext) later = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  gint64 count = 0;
  gboolean wrapped = TRUE;
  gboolean over = TRUE;
  const char *refused = NULL;
  guint32 later_id = 0;

  /* 2^32 / 1000 blocks, and a few more. */
  result = call_in_within (hostile, "hostile", "allocate_until_wrap",
                           g_variant_new ("(x)", (gint64) 4300000), 120.0, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (result, "count", "x", &count));
  g_assert_true (g_variant_lookup (result, "wrapped", "b", &wrapped));
  g_assert_true (g_variant_lookup (result, "over_32_bits", "b", &over));
  g_assert_true (g_variant_lookup (result, "refused", "&s", &refused));
  g_test_message ("%" G_GINT64_FORMAT " blocks, wrapped %d, beyond 32 bits %d, refused “%s”",
                  count, wrapped, over, refused);
  assert_good_alive (fixture);

  mitogen_connection_options_set_python_path (options, test_python ());
  later = mitogen_router_local (fixture->router, options, NULL, &error);
  if (later != NULL)
    later_id = mitogen_context_get_context_id (later);
  g_test_message ("next context: %u (%s)", later_id, error ? error->message : "connected");
  g_clear_error (&error);

  if (wrapped || over || later_id == mitogen_context_get_context_id (fixture->good) ||
      later_id == mitogen_context_get_context_id (hostile))
    {
      /* Library bug, reported: on_allocate_id() adds 1000 to a guint32
       * without a check. */
      incomplete ("the context id counter wrapped around: blocks and new contexts "
                         "reuse ids of live contexts");
      return;
    }
  /* The master may refuse with a dead reply or stop answering: either way
   * it handed out no more than the id space. */
  g_assert_cmpint (count, <=, G_MAXUINT32 / 1000);
  assert_good_alive (fixture);
}

static void
test_flood_unread (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(MitogenContext) hostile = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  gsize before;
  gsize peak;
  gint64 deadline;
  const gint64 requests = 1000000;

  hostile = start_rpc_hostile (fixture);
  before = rss_baseline ();
  peak = before;

  result = hostile_call (hostile, "flood_unread", g_variant_new ("(xd)", requests, 4.0), &error);
  g_assert_no_error (error);

  /* Meanwhile the others are served. */
  assert_good_alive (fixture);
  deadline = g_get_monotonic_time () + 4 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      peak = MAX (peak, rss_bytes ());
      spin (0.05);
    }
  /* A master that stops reading from a stream it cannot write to leaves
   * the child blocked in write(): that is fine, so its report is not
   * required. */
  if (!report_has (fixture, "flood-drained"))
    g_test_message ("the hostile child did not finish its flood");
  assert_good_alive (fixture);
  g_test_message ("RSS before %zu KiB, peak %zu KiB", before / 1024, peak / 1024);

  if (peak > before + 32 * MIB)
    {
      /* Library bug, reported: MitogenStream queues writes without limit
       * and the router keeps reading from a peer it cannot write to. */
      incomplete ("the master buffered the unread replies without bound");
      return;
    }
}

static void
test_forward_log (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(MitogenContext) hostile = start_rpc_hostile (fixture);
  g_autoptr(GVariant) received = NULL;
  GVariantBuilder frames;
  gint64 good = mitogen_context_get_context_id (fixture->good);

  g_variant_builder_init (&frames, G_VARIANT_TYPE ("a(xxxxxay)"));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_FORWARD_LOG, 0,
             LIT ("ev\xffil\0" "30\0bad \xfe\xff utf8 MARK_UTF8"));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_FORWARD_LOG, 0,
             text_bytes ("no nul at all MARK_NONUL", -1));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_FORWARD_LOG, 0,
             LIT ("one\0" "30 MARK_ONENUL"));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_FORWARD_LOG, 0,
             LIT ("lvl\0" "99999999999999999999999\0MARK_LEVEL"));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_FORWARD_LOG, 0,
             LIT ("neg\0" "-7\0MARK_NEGATIVE"));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_FORWARD_LOG, 0, text_bytes ("", 0));
  add_frame (&frames, 0, -1, -1, MITOGEN_HANDLE_FORWARD_LOG, 0, LIT ("\0\0"));
  /* A record claiming to come from the sibling. */
  add_frame (&frames, 0, good, -1, MITOGEN_HANDLE_FORWARD_LOG, 0,
             LIT ("spoof\0" "30\0MARK_SPOOF"));
  received = send_frames (hostile, &frames, NULL, 0, 0.0);

  assert_logged ("MARK_UTF8");
  assert_logged ("MARK_LEVEL");
  assert_logged ("bad src_id");
  spin (0.2);
  g_assert_false (log_contains ("MARK_NONUL"));
  g_assert_false (log_contains ("MARK_ONENUL"));
  g_assert_false (log_contains ("MARK_SPOOF"));

  /* Every record that came out is valid UTF-8. */
  g_mutex_lock (&log_lock);
  for (guint i = 0; i < log_lines->len; i++)
    g_assert_true (g_utf8_validate (g_ptr_array_index (log_lines, i), -1, NULL));
  g_mutex_unlock (&log_lock);

  g_assert_true (mitogen_context_is_connected (hostile));
  assert_good_alive (fixture);
}

/* 10. Bootstrap. */

/* The start of @text, escaped, for test messages. */
static const char *
short_text (const char *text)
{
  static char *shown;
  g_autofree char *head = g_strndup (text, 160);

  g_free (shown);
  shown = g_strescape (head, NULL);
  return shown;
}

static void
test_bootstrap_garbage (Fixture       *fixture,
                        gconstpointer  data)
{
  const struct { const char *scenario; int code; double timeout; } cases[] = {
    { "garbage-exit", MITOGEN_ERROR_CONNECT, 30.0 },
    { "garbage-hang", MITOGEN_ERROR_CONNECT_TIMEOUT, 1.0 },
    { "no-mito002", MITOGEN_ERROR_CONNECT_TIMEOUT, 1.0 },
    { "huge-line", MITOGEN_ERROR_CONNECT, 30.0 },
  };
  gsize before = rss_baseline ();

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *marker = g_strdup_printf ("MARK_%s_%08x", cases[i].scenario, g_test_rand_int ());

      context = start_hostile (fixture, cases[i].scenario, marker, cases[i].timeout, &error);
      g_test_message ("%s: %s", cases[i].scenario, error ? short_text (error->message) : "connected");
      g_assert_null (context);
      g_assert_error (error, MITOGEN_ERROR, cases[i].code);
      g_assert_nonnull (strstr (error->message, marker));
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      g_assert_cmpuint (strlen (error->message), <, 8192);
    }

  g_assert_cmpuint (rss_bytes (), <, before + 32 * MIB);
  assert_good_alive (fixture);
}

/* Garbage, MITO002 without ever reading the runtime, then bytes that are
 * not a frame. Either the master does not see the marker (the garbage
 * may hold a NUL) and the connection fails, or it registers the context
 * and the first "frame" kills the stream: both are safe. */
static void
test_bootstrap_garbage_mito002 (Fixture       *fixture,
                                gconstpointer  data)
{
  const char *scenarios[] = { "garbage-mito002", "text-mito002" };

  for (guint i = 0; i < G_N_ELEMENTS (scenarios); i++)
    {
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GError) error = NULL;

      log_clear ();
      context = start_hostile (fixture, scenarios[i], NULL, 2.0, &error);
      if (context != NULL)
        {
          g_test_message ("%s: connected, then:", scenarios[i]);
          assert_disconnects (context);
          assert_logged ("frame signature");
        }
      else
        {
          g_test_message ("%s: %s", scenarios[i], short_text (error->message));
          g_assert_true (g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT) ||
                         g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT_TIMEOUT));
          g_assert_nonnull (strstr (error->message, "MITO002"));
        }
    }
  assert_good_alive (fixture);
}

typedef struct
{
  const char *path;
  const char *summary;
  void (*func) (Fixture *fixture, gconstpointer data);
  gconstpointer data;
  const char *crash_bug;  /* a crash of the subprocess is this known bug */
} HostileTest;

/* Library bug, reported: the handlers read the payload with g_strndup(),
 * which returns NULL for the NULL data of an empty GBytes, and then call
 * strlen() on it. */
#define EMPTY_PAYLOAD_BUG "the master crashed on a frame with an empty payload"

static void
run_test (gconstpointer data)
{
  const HostileTest *test = data;
  g_autofree char *tmpdir = NULL;
  g_autofree char *verdict = NULL;
  g_autofree char *reason = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary (test->summary);

#ifdef UNDER_ASAN
  if (test->func == test_flood_unread)
    {
      g_test_skip ("RSS bounds are meaningless under AddressSanitizer's quarantine");
      return;
    }
#endif

  if (g_test_subprocess ())
    {
      Fixture fixture = { 0, };

      fixture_setup (&fixture, test->data);
      test->func (&fixture, test->data);
      fixture_teardown (&fixture, test->data);
      return;
    }

  tmpdir = g_dir_make_tmp ("mitogen-hostile-XXXXXX", &error);
  g_assert_no_error (error);
  verdict = g_strdup_printf ("%s.verdict", tmpdir);
  g_setenv (TMPDIR_ENV, tmpdir, TRUE);
  g_setenv (VERDICT_ENV, verdict, TRUE);
  g_test_trap_subprocess (NULL, 150 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_unsetenv (TMPDIR_ENV);
  g_unsetenv (VERDICT_ENV);
  remove_tree (tmpdir);

  if (g_file_get_contents (verdict, &reason, NULL, NULL))
    {
      g_remove (verdict);
      g_test_incomplete (reason);
      return;
    }
  if (!g_test_trap_has_passed () && test->crash_bug != NULL)
    {
      g_test_incomplete (test->crash_bug);
      return;
    }
  /* Not g_test_trap_assert_passed(): one failure must not stop the run.
   * The subprocess's own message is already on stderr. */
  if (!g_test_trap_has_passed ())
    g_test_fail_printf ("%s failed in its subprocess", test->path);
}

int
main (int argc, char **argv)
{
  static const HostileTest tests[] = {
    { "/hostile/frame/bad-magic",
      "A frame with bad magic closes the child's stream at once, with the reason "
      "logged; frames before it are still delivered; other contexts carry on",
      test_bad_magic, NULL, NULL },
    { "/hostile/frame/oversized",
      "A header announcing more than the maximum message size closes the stream "
      "before any payload is buffered, with the reason logged",
      test_oversized, NULL, NULL },
    { "/hostile/frame/lying-length",
      "A header announcing 128 MiB followed by 1 MiB costs about 1 MiB; the "
      "stream ends with a truncation error when the child leaves",
      test_lying_length, NULL, NULL },
    { "/hostile/pickle/forbidden-globals",
      "Replies whose pickle would run os.system through GLOBAL, STACK_GLOBAL, "
      "INST, OBJ or REDUCE fail the call with a codec error; the command never runs",
      test_forbidden_globals, NULL, NULL },
    { "/hostile/pickle/bounds",
      "Replies nested 10000 deep, memo bombs and lying lengths fail the call with "
      "TOO_DEEP, TOO_BIG, BAD_MEMO or TRUNCATED, quickly and without large allocations",
      test_pickle_bounds, NULL, NULL },
    { "/hostile/spoof/src-auth",
      "Messages whose src_id or auth_id claim another context (the master, or a "
      "sibling) are dropped with “bad auth_id”/“bad src_id”; a forged reply to "
      "the sibling's pending call is refused and the real reply wins",
      test_spoofing, NULL, NULL },
    { "/hostile/spoof/dead-reply",
      "A dead message forged by one child for another child's pending reply "
      "handle does not end that call",
      test_spoofed_dead_reply, NULL, NULL },
    { "/hostile/call-master",
      "CALL_FUNCTION, SHUTDOWN, LOAD_MODULE and other parent-only messages sent "
      "to the master get a dead “invalid handle” reply; nothing runs and the "
      "master keeps working",
      test_call_master, NULL, NULL },
    { "/hostile/routes/refused",
      "ADD_ROUTE for an id routed elsewhere or for the master, malformed route "
      "messages, and DEL_ROUTE for a sibling are refused and logged; the sibling "
      "stays reachable, also after being told that it or the master is gone",
      test_routes, NULL, NULL },
    { "/hostile/routes/unowned",
      "ADD_ROUTE for an id that was never allocated to the child is refused, so "
      "a child cannot claim (or kill in advance) the id of a future context",
      test_routes_unowned, NULL, NULL },
    { "/hostile/get-module",
      "GET_MODULE for names with '..', '/', absolute paths, NUL, 300 characters, "
      "__init__ tricks and symlinks leading out of the search path all get a "
      "negative answer; no file outside the search path is ever read",
      test_get_module, NULL, NULL },
    { "/hostile/runtime-part-once",
      "The child runtime's deferred part goes to a child once, after its first "
      "message, however often the child asks for it",
      test_get_module_deferred_once, NULL, NULL },
    { "/hostile/empty-payload/get-module",
      "A message with an empty payload to a master handler (GET_MODULE, "
      "ADD_ROUTE, DEL_ROUTE, FORWARD_LOG, ALLOCATE_ID) is refused or ignored; the "
      "master does not crash",
      test_empty_payload, GUINT_TO_POINTER (MITOGEN_HANDLE_GET_MODULE), EMPTY_PAYLOAD_BUG },
    { "/hostile/empty-payload/add-route",
      "A message with an empty payload to a master handler (GET_MODULE, "
      "ADD_ROUTE, DEL_ROUTE, FORWARD_LOG, ALLOCATE_ID) is refused or ignored; the "
      "master does not crash",
      test_empty_payload, GUINT_TO_POINTER (MITOGEN_HANDLE_ADD_ROUTE), EMPTY_PAYLOAD_BUG },
    { "/hostile/empty-payload/del-route",
      "A message with an empty payload to a master handler (GET_MODULE, "
      "ADD_ROUTE, DEL_ROUTE, FORWARD_LOG, ALLOCATE_ID) is refused or ignored; the "
      "master does not crash",
      test_empty_payload, GUINT_TO_POINTER (MITOGEN_HANDLE_DEL_ROUTE), EMPTY_PAYLOAD_BUG },
    { "/hostile/empty-payload/forward-log",
      "A message with an empty payload to a master handler (GET_MODULE, "
      "ADD_ROUTE, DEL_ROUTE, FORWARD_LOG, ALLOCATE_ID) is refused or ignored; the "
      "master does not crash",
      test_empty_payload, GUINT_TO_POINTER (MITOGEN_HANDLE_FORWARD_LOG), NULL },
    { "/hostile/empty-payload/allocate-id",
      "A message with an empty payload to a master handler (GET_MODULE, "
      "ADD_ROUTE, DEL_ROUTE, FORWARD_LOG, ALLOCATE_ID) is refused or ignored; the "
      "master does not crash",
      test_empty_payload, GUINT_TO_POINTER (MITOGEN_HANDLE_ALLOCATE_ID), NULL },
    { "/hostile/flood/allocate-id",
      "20000 ALLOCATE_ID requests in a row get disjoint blocks above every "
      "existing id; the master stays responsive and later contexts get fresh ids",
      test_allocate_id_flood, NULL, NULL },
    { "/hostile/flood/allocate-id-exhaustion",
      "ALLOCATE_ID until the 32-bit id space is exhausted never wraps around to "
      "ids in use: the master refuses instead, and later contexts get unique ids",
      test_allocate_id_exhaustion, NULL, NULL },
    { "/hostile/flood/unread-replies",
      "A child that sends requests earning replies and never reads them does not "
      "make the master buffer replies without bound",
      test_flood_unread, NULL, NULL },
    { "/hostile/forward-log",
      "FORWARD_LOG records with invalid UTF-8, without NULs, with absurd levels or "
      "a forged source are sanitised or dropped; nothing crashes",
      test_forward_log, NULL, NULL },
    { "/hostile/bootstrap/garbage",
      "Garbage, an endless line or a missing MITO002 during the bootstrap fails "
      "the connection with CONNECT or CONNECT_TIMEOUT, the child's last output in "
      "the message, in bounded memory",
      test_bootstrap_garbage, NULL, NULL },
    { "/hostile/bootstrap/garbage-mito002",
      "Garbage, MITO002 without the runtime being read, then bytes that are not a "
      "frame: the connection fails, or the stream closes at the first frame with "
      "its reason logged",
      test_bootstrap_garbage_mito002, NULL, NULL },
  };

  g_test_init (&argc, &argv, NULL);
  g_mutex_init (&log_lock);
  log_lines = g_ptr_array_new_with_free_func (g_free);
  log_verbose = g_getenv ("MITOGEN_HOSTILE_VERBOSE") != NULL;
  g_log_set_writer_func (capture_writer, NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (tests); i++)
    g_test_add_data_func (tests[i].path, &tests[i], run_test);

  return g_test_run ();
}
