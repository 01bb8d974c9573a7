/* test-faults.c: the fault matrix cases that test-core, test-load and
 * test-hostile leave out, against real children of both runtimes
 * (mitogen-glib's own and the upstream Mitogen child):
 *
 *  - a child SIGKILLed in the middle of a 32 MiB transfer, either way;
 *  - a child SIGKILLed in the middle of importing a module from the master;
 *  - a child that closes its stdio after start-up, and one that closes
 *    stdin/stdout before it (a fake interpreter);
 *  - a child that writes garbage onto its connection, or raw bytes to its
 *    stdout/stderr, after start-up;
 *  - an interpreter that never finishes the bootstrap.
 *
 * Each case asserts the error (domain and code) or the answer, and a time
 * bound scaled by test_scaled_usec() (slow set-ups stretch it). Each runs
 * next to an unrelated "bystander" child: a thread keeps calling it for
 * the whole test, one of its calls is in flight when the fault begins, it
 * answers while the fault is under way where there is such a moment, and
 * afterwards. The faulty child must be gone (killed and reaped), and once
 * the router is shut down no child process of ours may remain.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <mitogen-glib.h>

#include "test-time-scale.h"

/* ASan keeps freed memory in quarantine: RSS bounds would measure it. */
#if defined(__SANITIZE_ADDRESS__)
# define UNDER_ASAN 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
#  define UNDER_ASAN 1
# endif
#endif
#ifndef UNDER_ASAN
# define UNDER_ASAN 0
#endif
/* Memcheck slows the master so much that RSS and the race to stop a
 * transfer midway mean nothing there. */
#if defined(__has_include)
# if __has_include(<valgrind/valgrind.h>)
#  include <valgrind/valgrind.h>
#  define UNDER_VALGRIND (RUNNING_ON_VALGRIND != 0)
# endif
#endif
#ifndef UNDER_VALGRIND
# define UNDER_VALGRIND 0
#endif

#define UPSTREAM_CORE "/usr/lib/python3/dist-packages/mitogen/core.py"
#define HELPERS "mitogen_fault_helpers"
#define MIB (1024 * 1024)
#define KIB 1024
#define BULK_SIZE (32 * MIB)
/* Bytes of random data in the large module (twice that in hex text). */
#define LARGE_MODULE_RANDOM_BYTES (2 * MIB)
/* Bounds of steps that are not under test: generous, only so that a
 * broken library fails the test instead of hanging it. */
#define SETUP_TIMEOUT (20 * G_USEC_PER_SEC)
/* The bound every fault is held to: a pending call fails within it. */
#define FAULT_BOUND G_USEC_PER_SEC

typedef struct
{
  gboolean upstream;
} Mode;

static const Mode own_mode = { FALSE };
static const Mode upstream_mode = { TRUE };

static const char *
test_python (void)
{
  const char *python = g_getenv ("MITOGEN_TEST_PYTHON");

  return python && *python ? python : "python3";
}

static double
seconds (gint64 usec)
{
  return (double) usec / G_USEC_PER_SEC;
}

/* Log capture: the library reports protocol violations and closed streams
 * with g_message() in the Mitogen domain; tests assert on those lines. */

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

  if (g_strcmp0 (domain, MITOGEN_LOG_DOMAIN) == 0 && message != NULL)
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

/* The first captured line containing every one of @texts (NULL-terminated),
 * or NULL. */
static char *
log_find (const char * const *texts)
{
  char *found = NULL;

  g_mutex_lock (&log_lock);
  for (guint i = 0; i < log_lines->len && found == NULL; i++)
    {
      const char *line = g_ptr_array_index (log_lines, i);
      gboolean all = TRUE;

      for (guint j = 0; texts[j] != NULL && all; j++)
        all = strstr (line, texts[j]) != NULL;
      if (all)
        found = g_strdup (line);
    }
  g_mutex_unlock (&log_lock);

  return found;
}

static void
log_dump (void)
{
  g_mutex_lock (&log_lock);
  for (guint i = 0; i < log_lines->len; i++)
    fprintf (stderr, "# log: %s\n", (const char *) g_ptr_array_index (log_lines, i));
  g_mutex_unlock (&log_lock);
}

/* Waiting, always bounded, with the default main context running: the
 * completions of calls and connections started here are dispatched there. */

static void
spin_once (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static gboolean
wait_flag (const gboolean *flag,
           gint64          timeout_usec)
{
  gint64 deadline = g_get_monotonic_time () + timeout_usec;

  for (;;)
    {
      spin_once ();
      if (*flag)
        return TRUE;
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (1000);
    }
}

static void
spin_for (gint64 usec)
{
  gint64 deadline = g_get_monotonic_time () + usec;

  while (g_get_monotonic_time () < deadline)
    {
      spin_once ();
      g_usleep (2000);
    }
}

/* Processes, through /proc. */

/* A counter of /proc/PID/io (rchar: bytes read by any read(2)), or of
 * this process's for @pid 0. */
static guint64
proc_io (GPid        pid,
         const char *field)
{
  g_autofree char *path = pid > 0 ? g_strdup_printf ("/proc/%d/io", (int) pid) : g_strdup ("/proc/self/io");
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  gsize field_len = strlen (field);

  if (!g_file_get_contents (path, &text, NULL, NULL))
    g_error ("Cannot read %s", path);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (strncmp (lines[i], field, field_len) == 0 && lines[i][field_len] == ':')
      return g_ascii_strtoull (lines[i] + field_len + 1, NULL, 10);
  g_error ("No %s in %s", field, path);
  return 0;
}

/* The fields of /proc/PID/stat after the command name: "S PPID ...". */
static char *
proc_stat_tail (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *text = NULL;
  const char *paren;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  paren = strrchr (text, ')');
  if (paren == NULL || paren[1] != ' ')
    return NULL;
  return g_strdup (paren + 2);
}

static char
proc_state (GPid pid)
{
  g_autofree char *tail = proc_stat_tail (pid);

  return tail != NULL ? tail[0] : '?';
}

/* CPU time (user + system) of @pid, in clock ticks; G_MAXUINT64 once it
 * is gone. */
static guint64
proc_cpu_ticks (GPid pid)
{
  g_autofree char *tail = proc_stat_tail (pid);
  g_auto(GStrv) fields = NULL;

  if (tail == NULL)
    return G_MAXUINT64;
  fields = g_strsplit (tail, " ", -1);
  /* state(0) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
   * cmajflt utime(11) stime(12) */
  g_assert_cmpuint (g_strv_length (fields), >, 12);
  return g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10);
}

/* Stopped by a signal: SIGSTOP takes effect asynchronously. */
static gboolean
wait_stopped (GPid   pid,
              gint64 timeout_usec)
{
  gint64 deadline = g_get_monotonic_time () + timeout_usec;

  while (proc_state (pid) != 'T')
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (200);
    }
  return TRUE;
}

/* Gone means reaped, not a zombie: kill(pid, 0) succeeds on a zombie. */
static gboolean
wait_gone (GPid   pid,
           gint64 timeout_usec)
{
  gint64 deadline = g_get_monotonic_time () + timeout_usec;

  while (kill (pid, 0) == 0 || errno != ESRCH)
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      spin_once ();
      g_usleep (2000);
    }
  return TRUE;
}

/* Every process whose parent is this one, zombies included. */
static GArray *
list_children (void)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (GPid));
  g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;
  pid_t self = getpid ();

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      char *end = NULL;
      guint64 number = g_ascii_strtoull (name, &end, 10);
      g_autofree char *tail = NULL;
      g_auto(GStrv) fields = NULL;
      GPid pid;

      if (end == name || *end != '\0')
        continue;
      pid = (GPid) number;
      tail = proc_stat_tail (pid);
      if (tail == NULL)
        continue;
      fields = g_strsplit (tail, " ", 3);
      if (g_strv_length (fields) >= 2 && g_ascii_strtoll (fields[1], NULL, 10) == self)
        g_array_append_val (pids, pid);
    }
  return pids;
}

static void
assert_no_children (gint64 timeout_usec)
{
  gint64 deadline = g_get_monotonic_time () + timeout_usec;
  g_autoptr(GArray) pids = NULL;

  for (;;)
    {
      g_clear_pointer (&pids, g_array_unref);
      pids = list_children ();
      if (pids->len == 0)
        return;
      if (g_get_monotonic_time () > deadline)
        break;
      g_usleep (10000);
    }
  for (guint i = 0; i < pids->len; i++)
    {
      GPid pid = g_array_index (pids, GPid, i);

      g_test_message ("left behind: pid %d, state %c", (int) pid, proc_state (pid));
    }
  g_error ("%u child process(es) remain after the router was shut down", pids->len);
}

/* Resident memory of this process in KiB, after handing free heap pages
 * back to the system. */
static gsize
rss_kib (void)
{
  g_autofree char *text = NULL;
  unsigned long size = 0, resident = 0;

#ifdef __GLIBC__
  malloc_trim (0);
#endif
  g_assert_true (g_file_get_contents ("/proc/self/statm", &text, NULL, NULL));
  g_assert_cmpint (sscanf (text, "%lu %lu", &size, &resident), ==, 2);
  return (gsize) resident * (gsize) sysconf (_SC_PAGESIZE) / 1024;
}

/* Asynchronous calls, with the time their completion was dispatched. */

typedef struct
{
  GVariant *result;
  GError *error;
  gboolean done;
  gint64 done_at;
} CallState;

static void
call_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  CallState *call = user_data;

  call->result = mitogen_context_call_finish (MITOGEN_CONTEXT (source), result, &call->error);
  call->done_at = g_get_monotonic_time ();
  call->done = TRUE;
}

static void
call_state_clear (CallState *call)
{
  g_clear_pointer (&call->result, g_variant_unref);
  g_clear_error (&call->error);
}

typedef struct
{
  MitogenContext *context;
  GError *error;
  gboolean done;
  gint64 done_at;
} ConnectState;

static void
connect_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  ConnectState *connect = user_data;

  connect->context = mitogen_router_local_finish (MITOGEN_ROUTER (source), result, &connect->error);
  connect->done_at = g_get_monotonic_time ();
  connect->done = TRUE;
}

static void
on_flag (gpointer  instance,
         gboolean *flag)
{
  *flag = TRUE;
}

/* The bystander's prober: a thread calling echo() on it every 20 ms for the
 * whole test, from before the fault until after it. Every call must be
 * answered, with the value sent, and none may take long (2 s): a fault on
 * another child must neither break nor stall this one. */

typedef struct
{
  MitogenContext *context;      /* (owned) */
  GThread *thread;
  gint stop;                    /* (atomic) */
  gint quiet;                   /* (atomic) latencies are not measured */
  gint epoch;                   /* (atomic) changes with quiet */
  GMutex lock;
  guint answered;               /* (lock) */
  GArray *answered_at;          /* (lock) (element-type gint64) */
  guint failed;                 /* (lock) */
  char *first_failure;          /* (lock) (owned) (nullable) */
  gint64 max_latency;           /* (lock) */
} Prober;

static gpointer
prober_thread (gpointer data)
{
  Prober *prober = data;

  for (gint64 i = 0; !g_atomic_int_get (&prober->stop); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = NULL;
      gint64 start = g_get_monotonic_time ();
      gint epoch = g_atomic_int_get (&prober->epoch);
      gboolean measured;
      gint64 latency;

      value = mitogen_context_call_sync (prober->context, "mitogen_test_helpers", NULL, "echo",
                                         g_variant_new ("(x)", i), NULL,
                                         test_scaled_usec (5 * G_USEC_PER_SEC), NULL, &error);
      latency = g_get_monotonic_time () - start;
      measured = !g_atomic_int_get (&prober->quiet) && g_atomic_int_get (&prober->epoch) == epoch;
      g_mutex_lock (&prober->lock);
      if (value != NULL && g_variant_is_of_type (value, G_VARIANT_TYPE_INT64) &&
          g_variant_get_int64 (value) == i)
        {
          gint64 now = start + latency;

          prober->answered++;
          g_array_append_val (prober->answered_at, now);
          if (measured)
            prober->max_latency = MAX (prober->max_latency, latency);
        }
      else
        {
          prober->failed++;
          if (prober->first_failure == NULL)
            prober->first_failure = g_strdup (error != NULL ? error->message : "a wrong value");
        }
      g_mutex_unlock (&prober->lock);
      g_usleep (20000);
    }
  return NULL;
}

static void
prober_start (Prober         *prober,
              MitogenContext *context)
{
  prober->context = g_object_ref (context);
  prober->answered_at = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_mutex_init (&prober->lock);
  g_atomic_int_set (&prober->stop, 0);
  prober->thread = g_thread_new ("prober", prober_thread, prober);
}

/* How many prober calls were answered between @start and @end. */
static guint
prober_answered_between (Prober *prober,
                         gint64  start,
                         gint64  end)
{
  guint count = 0;

  g_mutex_lock (&prober->lock);
  for (guint i = 0; i < prober->answered_at->len; i++)
    {
      gint64 at = g_array_index (prober->answered_at, gint64, i);

      if (at >= start && at <= end)
        count++;
    }
  g_mutex_unlock (&prober->lock);

  return count;
}

/* Latencies of calls overlapping a quiet period are not held to the
 * bound (answers still are): for steps of the test that are not the
 * fault, but load the master's broker thread by design. */
static void
prober_set_quiet (Prober   *prober,
                  gboolean  quiet)
{
  g_atomic_int_set (&prober->quiet, quiet);
  g_atomic_int_inc (&prober->epoch);
}

static void
prober_stop_and_check (Prober *prober)
{
  g_atomic_int_set (&prober->stop, 1);
  g_thread_join (prober->thread);
  prober->thread = NULL;
  g_test_message ("bystander prober: %u calls answered, %u failed, slowest %.3f s",
                  prober->answered, prober->failed, seconds (prober->max_latency));
  if (prober->failed > 0)
    g_error ("a call to the bystander failed: %s", prober->first_failure);
  g_assert_cmpuint (prober->answered, >, 0);
  /* Not stalled: twice the fault bound leaves room for a loaded machine. */
  g_assert_cmpint (prober->max_latency, <, test_scaled_usec (2 * FAULT_BOUND));
  g_clear_pointer (&prober->first_failure, g_free);
  g_clear_pointer (&prober->answered_at, g_array_unref);
  g_clear_object (&prober->context);
  g_mutex_clear (&prober->lock);
}

/* The fixture: a router, the bystander child (same runtime as the faulty
 * one) and its prober. */

typedef struct
{
  const Mode *mode;
  MitogenRouter *router;
  MitogenContext *bystander;
  Prober prober;
  CallState span;               /* a bystander call in flight across the fault */
  char *tmpdir;                 /* (nullable) generated modules */
} Fixture;

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

static GPid
call_pid (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) pid = mitogen_context_call_sync (context, HELPERS, NULL, "pid", NULL, NULL,
                                                       test_scaled_usec (SETUP_TIMEOUT), NULL, &error);

  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (pid, G_VARIANT_TYPE_INT64));
  return (GPid) g_variant_get_int64 (pid);
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(MitogenConnectionOptions) options = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) echoed = NULL;
  g_autofree char *helpers = g_test_build_filename (G_TEST_DIST, "data", "python", NULL);

  fixture->mode = data;
  if (skip_if_unavailable (fixture->mode))
    return;

  g_mutex_lock (&log_lock);
  g_ptr_array_set_size (log_lines, 0);
  g_mutex_unlock (&log_lock);

  fixture->router = mitogen_router_new (NULL);
  mitogen_router_add_python_path (fixture->router, helpers);
  options = make_options (fixture->mode);
  mitogen_connection_options_set_name (options, "bystander");
  fixture->bystander = mitogen_router_local (fixture->router, options, NULL, &error);
  g_assert_no_error (error);
  /* Its modules are loaded before the prober measures latencies. */
  echoed = mitogen_context_call_sync (fixture->bystander, "mitogen_test_helpers", NULL, "echo",
                                      g_variant_new ("(x)", (gint64) -1), NULL,
                                      test_scaled_usec (SETUP_TIMEOUT), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (echoed), ==, -1);
  prober_start (&fixture->prober, fixture->bystander);
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
  if (fixture->router != NULL)
    {
      MitogenBroker *broker = mitogen_router_get_broker (fixture->router);

      prober_stop_and_check (&fixture->prober);
      call_state_clear (&fixture->span);
      mitogen_router_shutdown (fixture->router);
      g_assert_true (mitogen_broker_join (broker, test_scaled_usec (10 * G_USEC_PER_SEC)));
      /* Every child, faulty or not, was killed and reaped. */
      assert_no_children (test_scaled_usec (3 * G_USEC_PER_SEC));
    }
  g_clear_object (&fixture->bystander);
  g_clear_object (&fixture->router);
  if (fixture->tmpdir != NULL)
    remove_tree (fixture->tmpdir);
  g_clear_pointer (&fixture->tmpdir, g_free);
}

/* The bystander answers now, promptly. */
static void
assert_bystander_answers (Fixture    *fixture,
                          const char *when)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 elapsed;
  gint64 token = g_test_rand_int ();

  value = mitogen_context_call_sync (fixture->bystander, "mitogen_test_helpers", NULL, "echo",
                                     g_variant_new ("(x)", token), NULL,
                                     test_scaled_usec (5 * G_USEC_PER_SEC), NULL, &error);
  elapsed = g_get_monotonic_time () - start;
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (value), ==, token);
  g_test_message ("bystander answered %s in %.3f s", when, seconds (elapsed));
  g_assert_cmpint (elapsed, <, test_scaled_usec (FAULT_BOUND));
}

/* A bystander call that is in flight when the fault begins. */
static void
span_start (Fixture *fixture,
            double   duration)
{
  call_state_clear (&fixture->span);
  memset (&fixture->span, 0, sizeof fixture->span);
  mitogen_context_call_async (fixture->bystander, "mitogen_test_helpers", NULL, "sleep",
                              g_variant_new ("(d)", duration), NULL, NULL, call_done, &fixture->span);
}

/* ...and is answered after the fault began (at @fault_at), correctly. */
static void
span_finish (Fixture *fixture,
             gint64   fault_at)
{
  g_assert_true (wait_flag (&fixture->span.done, test_scaled_usec (10 * G_USEC_PER_SEC)));
  g_assert_no_error (fixture->span.error);
  g_assert_true (g_variant_is_of_type (fixture->span.result, G_VARIANT_TYPE_DOUBLE));
  g_assert_cmpint (fixture->span.done_at, >, fault_at);
}

static MitogenContext *
start_victim (Fixture  *fixture,
              gboolean  debug,
              GPid     *pid)
{
  g_autoptr(MitogenConnectionOptions) options = make_options (fixture->mode);
  g_autoptr(GError) error = NULL;
  MitogenContext *victim;

  mitogen_connection_options_set_debug (options, debug);
  victim = mitogen_router_local (fixture->router, options, NULL, &error);
  g_assert_no_error (error);
  /* Also imports the helpers, so that no module request is under way
   * when the fault comes. */
  *pid = call_pid (victim);
  return victim;
}

/* The faulty child is disconnected (signal and state) and reaped. */
static void
assert_victim_gone (MitogenContext *victim,
                    GPid            pid,
                    const gboolean *disconnected)
{
  g_assert_true (wait_flag (disconnected, test_scaled_usec (5 * G_USEC_PER_SEC)));
  g_assert_false (mitogen_context_is_connected (victim));
  /* The router outlives this test's stack, and so does @victim. */
  g_signal_handlers_disconnect_by_data (victim, (gpointer) disconnected);
  if (!wait_gone (pid, test_scaled_usec (5 * G_USEC_PER_SEC)))
    g_error ("child %d still exists (state %c)", (int) pid, proc_state (pid));
}

/* 1. A child SIGKILLed in the middle of a bulk transfer. */

/* Keeps the main context running while waiting for @count (a /proc/PID/io
 * counter, of this process for @pid 0) to grow by @delta. */
static gboolean
wait_io_progress (GPid             pid,
                  const char      *field,
                  guint64          base,
                  guint64          delta,
                  const CallState *call)
{
  gint64 deadline = g_get_monotonic_time () + test_scaled_usec (SETUP_TIMEOUT);

  while (g_get_monotonic_time () < deadline)
    {
      spin_once ();
      if (call->done)
        return FALSE;
      if (proc_io (pid, field) - base >= delta)
        return TRUE;
      g_usleep (100);
    }
  g_error ("no progress of %s of pid %d", field, (int) pid);
  return FALSE;
}

static void
run_bulk (Fixture  *fixture,
          gboolean  big_argument)
{
  const guint max_attempts = 5;

  if (fixture->router == NULL)
    return;

  /* The transfer is caught by stopping the child once some of it went
   * through, then proving from the byte counters that it was not done; a
   * transfer that beat the stop (rare) is tried again with a new child. */
  for (guint attempt = 1; attempt <= max_attempts; attempt++)
    {
      g_autoptr(MitogenContext) victim = NULL;
      CallState call = { 0 };
      gboolean disconnected = FALSE;
      /* Reads of the child (argument) or of this process (result). */
      const char *counter = "rchar";
      GPid counter_pid;
      GPid pid;
      guint64 base, moved;
      gsize rss_before, rss_after;
      gint64 killed_at, elapsed;

      victim = start_victim (fixture, FALSE, &pid);
      g_signal_connect (victim, "disconnected", G_CALLBACK (on_flag), &disconnected);
      counter_pid = big_argument ? pid : 0;
      rss_before = rss_kib ();
      base = proc_io (counter_pid, counter);

      if (big_argument)
        {
          guint8 *bytes = g_malloc (BULK_SIZE);
          GVariant *arg;

          memset (bytes, 'a', BULK_SIZE);
          arg = g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, bytes, BULK_SIZE, TRUE, g_free, bytes);
          mitogen_context_call_async (victim, HELPERS, NULL, "size_of", g_variant_new ("(@ay)", arg),
                                      NULL, NULL, call_done, &call);
        }
      else
        mitogen_context_call_async (victim, HELPERS, NULL, "big_result",
                                    g_variant_new ("(x)", (gint64) BULK_SIZE),
                                    NULL, NULL, call_done, &call);

      if (wait_io_progress (counter_pid, counter, base, 256 * KIB, &call))
        {
          g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
          g_assert_true (wait_stopped (pid, test_scaled_usec (2 * G_USEC_PER_SEC)));
          /* What the socket still held reaches its reader. */
          spin_for (50 * 1000);
        }
      moved = proc_io (counter_pid, counter) - base;

      /* Some 4 MiB is more than any socket buffers: the writer was still
       * writing. */
      if (call.done || moved > BULK_SIZE - 4 * MIB)
        {
          g_test_message ("attempt %u: the transfer finished before the stop (%" G_GUINT64_FORMAT
                          " bytes), again", attempt, moved);
          kill (pid, SIGKILL);
          g_assert_true (wait_flag (&call.done, test_scaled_usec (SETUP_TIMEOUT)));
          call_state_clear (&call);
          assert_victim_gone (victim, pid, &disconnected);
          continue;
        }
      g_test_message ("attempt %u: child stopped after %" G_GUINT64_FORMAT " KiB of %d KiB; "
                      "RSS %" G_GSIZE_FORMAT " KiB", attempt, moved / KIB, BULK_SIZE / KIB, rss_kib ());

      /* During the fault: the transfer is stuck, the bystander is not. */
      assert_bystander_answers (fixture, "while the transfer was stuck");

      span_start (fixture, 0.1);
      killed_at = g_get_monotonic_time ();
      g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
      g_assert_true (wait_flag (&call.done, test_scaled_usec (10 * G_USEC_PER_SEC)));
      elapsed = call.done_at - killed_at;
      g_test_message ("the %s call failed %.3f s after the kill: %s",
                      big_argument ? "32 MiB argument" : "32 MiB result", seconds (elapsed),
                      call.error ? call.error->message : "(no error)");
      g_assert_null (call.result);
      g_assert_error (call.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
      g_assert_cmpint (elapsed, <, test_scaled_usec (FAULT_BOUND));
      call_state_clear (&call);

      assert_victim_gone (victim, pid, &disconnected);
      span_finish (fixture, killed_at);
      assert_bystander_answers (fixture, "after the fault");

      /* The half-transferred 32 MiB is not kept. */
      g_clear_object (&victim);
      spin_for (100 * 1000);
      rss_after = rss_kib ();
      g_test_message ("RSS before the call %" G_GSIZE_FORMAT " KiB, after the child was reaped %"
                      G_GSIZE_FORMAT " KiB", rss_before, rss_after);
      if (!UNDER_ASAN && !UNDER_VALGRIND)
        g_assert_cmpuint (rss_after, <, rss_before + 8 * KIB);
      return;
    }
  if (UNDER_VALGRIND)
    {
      g_test_skip ("under valgrind the transfer always finished before the child could be stopped");
      return;
    }
  g_error ("%u attempts never caught the transfer in the middle", max_attempts);
}

static void
test_bulk_argument (Fixture       *fixture,
                    gconstpointer  data)
{
  g_test_summary ("A child SIGKILLed while the master is still writing a call's 32 MiB argument: "
                  "the call fails with CHANNEL within 1 s, the context disconnects, the child is "
                  "reaped, the buffer is freed, the bystander child keeps answering");
  run_bulk (fixture, TRUE);
}

static void
test_bulk_result (Fixture       *fixture,
                  gconstpointer  data)
{
  g_test_summary ("A child SIGKILLed while its 32 MiB result is streaming back: the call fails "
                  "with CHANNEL within 1 s, the context disconnects, the child is reaped, the "
                  "partial frame is freed, the bystander child keeps answering");
  run_bulk (fixture, FALSE);
}

/* 2. A child SIGKILLed in the middle of a module import. */

/* Writes @name.py into the fixture's module directory (made on first use
 * and put on the router's search path). Importing it sleeps 30 s while a
 * "hold" file exists, after creating "importing.PID"; @blob_bytes random
 * bytes, as hex text, make it large. */
static void
write_module (Fixture    *fixture,
              const char *name,
              gsize       blob_bytes)
{
  g_autoptr(GString) source = g_string_new (NULL);
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  static const char hex[] = "0123456789abcdef";

  if (fixture->tmpdir == NULL)
    {
      fixture->tmpdir = g_dir_make_tmp ("mitogen-faults-XXXXXX", &error);
      g_assert_no_error (error);
      mitogen_router_add_python_path (fixture->router, fixture->tmpdir);
    }

  g_string_append (source, "# Generated by test-faults.c\nimport os\nimport time\n\nBLOB = b'");
  for (gsize i = 0; i < blob_bytes; i += 4)
    {
      guint32 r = (guint32) g_test_rand_int ();

      for (guint j = 0; j < 4 && i + j < blob_bytes; j++, r >>= 8)
        {
          g_string_append_c (source, hex[(r >> 4) & 0xf]);
          g_string_append_c (source, hex[r & 0xf]);
        }
    }
  /* The temporary directory's name is plain ASCII: fine in a literal. */
  g_string_append_printf (source,
                          "'\n\n"
                          "HOLD = '%s/hold'\n"
                          "MARK = '%s/importing'\n\n"
                          "if os.path.exists(HOLD):\n"
                          "    open('%%s.%%d' %% (MARK, os.getpid()), 'w').close()\n"
                          "    time.sleep(30)\n\n\n"
                          "def blob_size():\n"
                          "    return len(BLOB)\n",
                          fixture->tmpdir, fixture->tmpdir);
  path = g_strdup_printf ("%s/%s.py", fixture->tmpdir, name);
  g_assert_true (g_file_set_contents (path, source->str, source->len, &error));
  g_assert_no_error (error);
}

static void
set_hold (Fixture  *fixture,
          gboolean  hold)
{
  g_autofree char *path = g_build_filename (fixture->tmpdir, "hold", NULL);
  g_autoptr(GError) error = NULL;

  if (hold)
    g_assert_true (g_file_set_contents (path, "", 0, &error));
  else
    g_assert_cmpint (g_remove (path), ==, 0);
  g_assert_no_error (error);
}

static gboolean
import_marked (Fixture *fixture,
               GPid     pid)
{
  g_autofree char *path = g_strdup_printf ("%s/importing.%d", fixture->tmpdir, (int) pid);

  return g_file_test (path, G_FILE_TEST_EXISTS);
}

static void
run_module_kill (Fixture  *fixture,
                 gboolean  large)
{
  const char *module = large ? "mitogen_fault_large" : "mitogen_fault_slow";
  gsize blob_bytes = large ? LARGE_MODULE_RANDOM_BYTES : 16;
  g_autoptr(MitogenContext) victim = NULL;
  g_autoptr(MitogenContext) fresh = NULL;
  g_autoptr(GVariant) size = NULL;
  g_autoptr(GError) error = NULL;
  CallState call = { 0 };
  gboolean disconnected = FALSE;
  GPid pid;
  guint64 base;
  gint64 killed_at, elapsed, deadline;

  if (fixture->router == NULL)
    return;

  write_module (fixture, module, blob_bytes);
  set_hold (fixture, TRUE);
  victim = start_victim (fixture, FALSE, &pid);
  g_signal_connect (victim, "disconnected", G_CALLBACK (on_flag), &disconnected);
  base = proc_io (pid, "rchar");

  /* The master compresses a module on its broker thread: serving a large
   * one holds up every context for a moment (0.1 s for this one, more on
   * a loaded machine or under ASan). That is no part of the fault. */
  prober_set_quiet (&fixture->prober, large);
  mitogen_context_call_async (victim, module, NULL, "blob_size", NULL, NULL, NULL, call_done, &call);
  if (large)
    {
      /* Kill while the module is on its way: as soon as the child has
       * read 256 KiB of it (about 2 MiB, compressed, are coming). */
      g_assert_true (wait_io_progress (pid, "rchar", base, 256 * KIB, &call));
      g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
      g_assert_true (wait_stopped (pid, test_scaled_usec (2 * G_USEC_PER_SEC)));
      prober_set_quiet (&fixture->prober, FALSE);
      g_test_message ("child stopped after reading %" G_GUINT64_FORMAT " KiB, %s",
                      (proc_io (pid, "rchar") - base) / KIB,
                      import_marked (fixture, pid) ? "in the module's top-level code"
                                                   : "before the module's top-level code");
    }
  else
    {
      /* Kill while the module's top-level code runs. */
      deadline = g_get_monotonic_time () + test_scaled_usec (SETUP_TIMEOUT);
      while (!import_marked (fixture, pid) && !call.done && g_get_monotonic_time () < deadline)
        spin_for (2000);
      g_assert_true (import_marked (fixture, pid));
    }
  g_assert_false (call.done);

  /* During the fault: the import is in progress. */
  assert_bystander_answers (fixture, "while the import was in progress");

  span_start (fixture, 0.1);
  killed_at = g_get_monotonic_time ();
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  g_assert_true (wait_flag (&call.done, test_scaled_usec (10 * G_USEC_PER_SEC)));
  elapsed = call.done_at - killed_at;
  g_test_message ("the call into %s failed %.3f s after the kill: %s", module, seconds (elapsed),
                  call.error ? call.error->message : "(no error)");
  g_assert_null (call.result);
  g_assert_error (call.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_cmpint (elapsed, <, test_scaled_usec (FAULT_BOUND));
  call_state_clear (&call);
  assert_victim_gone (victim, pid, &disconnected);
  span_finish (fixture, killed_at);

  /* Nothing of the interrupted import is stuck in the master: a new
   * child imports the same module. */
  set_hold (fixture, FALSE);
  prober_set_quiet (&fixture->prober, large);
  fresh = start_victim (fixture, FALSE, &pid);
  {
    gint64 start = g_get_monotonic_time ();

    size = mitogen_context_call_sync (fresh, module, NULL, "blob_size", NULL, NULL,
                                      test_scaled_usec (SETUP_TIMEOUT), NULL, &error);
    g_test_message ("a new child imported %s in %.3f s", module, seconds (g_get_monotonic_time () - start));
  }
  prober_set_quiet (&fixture->prober, FALSE);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (size), ==, (gint64) blob_bytes * 2);
  assert_bystander_answers (fixture, "after the fault");
}

static void
test_module_killed_slow (Fixture       *fixture,
                         gconstpointer  data)
{
  g_test_summary ("A child SIGKILLed while a module from the master's search path runs its "
                  "top-level code: the call fails with CHANNEL within 1 s, and a new child "
                  "imports the same module");
  run_module_kill (fixture, FALSE);
}

static void
test_module_killed_large (Fixture       *fixture,
                          gconstpointer  data)
{
  g_test_summary ("A child SIGKILLed while a 4 MiB module from the master's search path is on its "
                  "way: the call fails with CHANNEL within 1 s, and a new child imports the same module");
  run_module_kill (fixture, TRUE);
}

/* 3. A child that closes its stdio. */

/* Upstream's child asserts that every descriptor it makes is above 2
 * (mitogen.core.set_cloexec): once fds 0-2 are free, the next socketpair
 * one of its latches makes takes fd 0 and its main loop dies of
 * "AssertionError: fd 0 <= 2". Whether a new socketpair is needed depends
 * on its threads' timing. That is the child's choice, not a fault of the
 * master, whose part is then to fail the calls promptly. */
#define UPSTREAM_LOW_FD_ASSERTION "AssertionError: fd "

/* One call after the child closed its stdio: it answers within the bound,
 * or (upstream's child only, see above) fails with CHANNEL within it.
 * FALSE if the child is gone. */
static gboolean
call_after_close (Fixture        *fixture,
                  MitogenContext *victim,
                  GPid            pid,
                  guint           n)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 elapsed;

  value = mitogen_context_call_sync (victim, HELPERS, NULL, "pid", NULL, NULL,
                                     test_scaled_usec (SETUP_TIMEOUT), NULL, &error);
  elapsed = g_get_monotonic_time () - start;
  g_test_message ("call %u after closing stdio: %s in %.3f s", n,
                  error ? error->message : "answered", seconds (elapsed));
  g_assert_cmpint (elapsed, <, test_scaled_usec (FAULT_BOUND));
  if (error == NULL)
    {
      g_assert_cmpint (g_variant_get_int64 (value), ==, pid);
      return TRUE;
    }
  if (!fixture->mode->upstream)
    g_assert_no_error (error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  return FALSE;
}

static void
test_stdio_closed_after_bootstrap (Fixture       *fixture,
                                   gconstpointer  data)
{
  g_autoptr(MitogenContext) victim = NULL;
  g_autoptr(GVariant) closed = NULL;
  g_autoptr(GError) error = NULL;
  gboolean disconnected = FALSE;
  gboolean alive = TRUE;
  GPid pid;
  gint64 start;
  long ticks_per_second = sysconf (_SC_CLK_TCK);

  g_test_summary ("A called function closes fds 0, 1 and 2: the runtime moved its connection "
                  "off them, so the call returns, the next calls answer within 1 s each, and the "
                  "child does not spin on the closed descriptors (upstream's child may instead die "
                  "of its own fd check: then its calls fail with CHANNEL within 1 s)");
  if (fixture->router == NULL)
    return;

  victim = start_victim (fixture, FALSE, &pid);
  g_signal_connect (victim, "disconnected", G_CALLBACK (on_flag), &disconnected);
  span_start (fixture, 0.1);
  start = g_get_monotonic_time ();
  closed = mitogen_context_call_sync (victim, HELPERS, NULL, "close_stdio", g_variant_new ("(d)", 0.2),
                                      NULL, test_scaled_usec (SETUP_TIMEOUT), NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_get_boolean (closed));
  /* The bystander's call was in flight all along. */
  span_finish (fixture, start);

  for (guint i = 1; i <= 3 && alive; i++)
    alive = call_after_close (fixture, victim, pid, i);

  if (alive)
    {
      /* Idle with its log pipes gone: no busy loop on an fd at EOF. */
      guint64 ticks_before = proc_cpu_ticks (pid);
      guint64 ticks_after;

      spin_for (500 * 1000);
      ticks_after = proc_cpu_ticks (pid);
      if (ticks_before != G_MAXUINT64 && ticks_after != G_MAXUINT64)
        {
          g_test_message ("the child used %" G_GUINT64_FORMAT " ticks (%ld/s) in 0.5 s idle",
                          ticks_after - ticks_before, ticks_per_second);
          g_assert_cmpuint (ticks_after - ticks_before, <, (guint64) ticks_per_second / 5);
        }
      alive = call_after_close (fixture, victim, pid, 4);
    }

  /* Upstream's child may also die right after answering. */
  if (!mitogen_context_is_connected (victim))
    alive = FALSE;
  if (!alive)
    {
      const char *wanted[] = { UPSTREAM_LOW_FD_ASSERTION, NULL };
      gint64 deadline = g_get_monotonic_time () + test_scaled_usec (FAULT_BOUND);
      g_autofree char *line = NULL;

      g_assert_true (fixture->mode->upstream);
      while ((line = log_find (wanted)) == NULL && g_get_monotonic_time () < deadline)
        spin_for (5000);
      if (line == NULL)
        {
          log_dump ();
          g_error ("the upstream child went away, but not of its own fd check");
        }
      g_test_message ("the upstream child died of its fd check (" UPSTREAM_LOW_FD_ASSERTION "0 <= 2)");
      assert_victim_gone (victim, pid, &disconnected);
    }
  else
    {
      /* It disconnects when the router shuts down, after this test. */
      g_signal_handlers_disconnect_by_data (victim, &disconnected);
    }
  assert_bystander_answers (fixture, "after the fault");
}

/* The prober's calls were answered while the connection was failing (it
 * takes 0.5 s or more, a dozen prober rounds): the broker kept serving the
 * bystander while it waited on the faulty child. Slowed-down set-ups may
 * not fit a round in, so they only report. */
static void
assert_answered_during (Fixture *fixture,
                        gint64   started_at,
                        gint64   elapsed)
{
  guint during = prober_answered_between (&fixture->prober, started_at, started_at + elapsed);

  g_test_message ("the bystander answered %u prober calls while the connection was failing", during);
  if (test_time_scale () == 1.0)
    g_assert_cmpuint (during, >, 0);
}

/* The pid a fake interpreter printed on its stderr, which the error
 * message quotes. */
static GPid
fake_pid (const GError *error)
{
  const char *at = strstr (error->message, "fake-python pid ");
  gint64 pid;

  if (at == NULL)
    g_error ("the error does not quote the child's stderr: %s", error->message);
  pid = g_ascii_strtoll (at + strlen ("fake-python pid "), NULL, 10);
  g_assert_cmpint (pid, >, 1);
  return (GPid) pid;
}

/* Connects with @fake as the interpreter; returns the error and the time
 * it took. */
static GError *
connect_fake (Fixture    *fixture,
              const char *fake,
              double      connect_timeout,
              gint64     *started_at,
              gint64     *elapsed)
{
  g_autoptr(MitogenConnectionOptions) options = make_options (fixture->mode);
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", fake, NULL);
  ConnectState connect = { 0 };

  mitogen_connection_options_set_python_path (options, path);
  mitogen_connection_options_set_connect_timeout (options, connect_timeout);
  span_start (fixture, 0.1);
  *started_at = g_get_monotonic_time ();
  mitogen_router_local_async (fixture->router, options, NULL, connect_done, &connect);
  g_assert_true (wait_flag (&connect.done, test_scaled_usec ((gint64) (connect_timeout + 10) * G_USEC_PER_SEC)));
  *elapsed = connect.done_at - *started_at;
  g_assert_null (connect.context);
  g_assert_nonnull (connect.error);
  return connect.error;
}

static void
test_stdio_closed_before_bootstrap (Fixture       *fixture,
                                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  gint64 started_at, elapsed;
  GPid pid;

  g_test_summary ("An interpreter that closes stdin and stdout before the bootstrap and lingers: "
                  "the connection fails with CONNECT within 2 s (not at the 20 s connect timeout), "
                  "its stderr quoted, and the process is killed and reaped");
  if (fixture->router == NULL)
    return;

  error = connect_fake (fixture, "fake-python-close-stdio.sh", 20.0, &started_at, &elapsed);
  g_test_message ("connect failed after %.3f s: %s", seconds (elapsed), error->message);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT);
  g_assert_cmpint (elapsed, <, test_scaled_usec (2 * G_USEC_PER_SEC));
  span_finish (fixture, started_at);
  assert_answered_during (fixture, started_at, elapsed);

  pid = fake_pid (error);
  if (!wait_gone (pid, test_scaled_usec (2 * G_USEC_PER_SEC)))
    g_error ("the fake interpreter %d still exists (state %c)", (int) pid, proc_state (pid));
  assert_bystander_answers (fixture, "after the fault");
}

/* 4. Garbage after the bootstrap. */

static void
test_garbage_on_transport (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(MitogenContext) victim = NULL;
  g_autofree char *name = NULL;
  g_autofree char *line = NULL;
  CallState garbage = { 0 };
  CallState queued = { 0 };
  gboolean disconnected = FALSE;
  GPid pid;
  gint64 start;

  g_test_summary ("A called function writes bytes that are no frame onto the child's connection: "
                  "the master closes that stream with the reason logged, the pending calls on it "
                  "fail with CHANNEL within 1 s, the child goes away, the bystander is unaffected");
  if (fixture->router == NULL)
    return;

  victim = start_victim (fixture, FALSE, &pid);
  g_signal_connect (victim, "disconnected", G_CALLBACK (on_flag), &disconnected);
  name = g_strdup_printf ("local.%d", (int) pid);

  span_start (fixture, 0.1);
  start = g_get_monotonic_time ();
  /* The first writes the garbage and sleeps; the second waits behind it. */
  mitogen_context_call_async (victim, HELPERS, NULL, "write_garbage_to_transport",
                              g_variant_new ("(d)", 30.0), NULL, NULL, call_done, &garbage);
  mitogen_context_call_async (victim, "mitogen_test_helpers", NULL, "sleep",
                              g_variant_new ("(d)", 30.0), NULL, NULL, call_done, &queued);
  g_assert_true (wait_flag (&garbage.done, test_scaled_usec (10 * G_USEC_PER_SEC)));
  g_assert_true (wait_flag (&queued.done, test_scaled_usec (10 * G_USEC_PER_SEC)));
  g_test_message ("the calls failed %.3f s and %.3f s after they were made: %s",
                  seconds (garbage.done_at - start), seconds (queued.done_at - start),
                  garbage.error ? garbage.error->message : "(no error)");
  g_assert_error (garbage.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_error (queued.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_cmpint (garbage.done_at - start, <, test_scaled_usec (FAULT_BOUND));
  g_assert_cmpint (queued.done_at - start, <, test_scaled_usec (FAULT_BOUND));
  call_state_clear (&garbage);
  call_state_clear (&queued);

  /* The reason, naming the stream. */
  {
    const char *wanted[] = { "stream", name, "closed", "Corruption detected", NULL };

    line = log_find (wanted);
    if (line == NULL)
      {
        log_dump ();
        g_error ("the closed stream %s was not logged with its reason", name);
      }
    g_test_message ("logged: %s", line);
  }

  assert_victim_gone (victim, pid, &disconnected);
  span_finish (fixture, start);
  assert_bystander_answers (fixture, "after the fault");
}

static void
test_garbage_on_stdio (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(MitogenContext) victim = NULL;
  g_autoptr(GVariant) done = NULL;
  g_autoptr(GVariant) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *marker = g_strdup_printf ("MARK%08x", g_test_rand_int ());
  gint64 start, deadline;
  GPid pid;

  g_test_summary ("A called function writes raw bytes (invalid UTF-8, NULs, escapes, no final "
                  "newline) to fds 1 and 2 after the bootstrap: they arrive as valid UTF-8 log "
                  "records within 1 s, and the child answers the next call within 1 s");
  if (fixture->router == NULL)
    return;

  /* Debug: the children forward stdout and stderr lines only at INFO. */
  victim = start_victim (fixture, TRUE, &pid);
  span_start (fixture, 0.1);
  start = g_get_monotonic_time ();
  done = mitogen_context_call_sync (victim, HELPERS, NULL, "write_garbage_to_stdio",
                                    g_variant_new ("(s)", marker), NULL,
                                    test_scaled_usec (SETUP_TIMEOUT), NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_get_boolean (done));

  deadline = start + test_scaled_usec (FAULT_BOUND);
  for (;;)
    {
      const char *out[] = { "stdout", marker, NULL };
      const char *err[] = { "stderr", marker, NULL };
      g_autofree char *out_line = log_find (out);
      g_autofree char *err_line = log_find (err);

      if (out_line != NULL && err_line != NULL)
        {
          g_test_message ("logged after %.3f s: %s", seconds (g_get_monotonic_time () - start), out_line);
          g_assert_true (g_utf8_validate (out_line, -1, NULL));
          g_assert_true (g_utf8_validate (err_line, -1, NULL));
          break;
        }
      if (g_get_monotonic_time () > deadline)
        {
          log_dump ();
          g_error ("the garbage on stdout/stderr was not logged within the bound");
        }
      spin_for (5000);
    }
  span_finish (fixture, start);

  start = g_get_monotonic_time ();
  again = mitogen_context_call_sync (victim, HELPERS, NULL, "pid", NULL, NULL,
                                     test_scaled_usec (SETUP_TIMEOUT), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (again), ==, pid);
  g_assert_cmpint (g_get_monotonic_time () - start, <, test_scaled_usec (FAULT_BOUND));
  g_assert_true (mitogen_context_is_connected (victim));
  assert_bystander_answers (fixture, "after the fault");
}

/* 5. An interpreter that never finishes the bootstrap. */

static void
test_bootstrap_never_finishes (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  gint64 started_at, elapsed;
  GPid pid;

  g_test_summary ("A real interpreter that says MITO000, takes the runtime and then only reads: "
                  "with a 1 s connect timeout the connection fails with CONNECT_TIMEOUT between "
                  "1 s and 3 s, and the process is killed and reaped");
  if (fixture->router == NULL)
    return;

  error = connect_fake (fixture, "fake-python-no-boot.sh", 1.0, &started_at, &elapsed);
  g_test_message ("connect failed after %.3f s: %s", seconds (elapsed), error->message);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT_TIMEOUT);
  /* Not before the timeout (a little timer slack aside), not much after. */
  g_assert_cmpint (elapsed, >=, G_USEC_PER_SEC - 50 * 1000);
  g_assert_cmpint (elapsed, <, test_scaled_usec (G_USEC_PER_SEC + 2 * G_USEC_PER_SEC));
  span_finish (fixture, started_at);
  assert_answered_during (fixture, started_at, elapsed);

  pid = fake_pid (error);
  if (!wait_gone (pid, test_scaled_usec (2 * G_USEC_PER_SEC)))
    g_error ("the fake interpreter %d still exists (state %c)", (int) pid, proc_state (pid));
  assert_bystander_answers (fixture, "after the fault");
}

int
main (int argc, char **argv)
{
  const struct { const char *name; const Mode *mode; } modes[] = {
    { "own", &own_mode },
    { "upstream", &upstream_mode },
  };

  g_test_init (&argc, &argv, NULL);
  g_mutex_init (&log_lock);
  log_lines = g_ptr_array_new_with_free_func (g_free);
  log_verbose = g_getenv ("MITOGEN_FAULTS_VERBOSE") != NULL;
  g_log_set_writer_func (capture_writer, NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (modes); i++)
    {
#define ADD(path, func)                                                        \
      G_STMT_START {                                                           \
        g_autofree char *name = g_strdup_printf ("/faults/%s/%s", modes[i].name, path); \
        g_test_add (name, Fixture, modes[i].mode, fixture_setup, func, fixture_teardown); \
      } G_STMT_END
      ADD ("killed-mid-transfer/argument", test_bulk_argument);
      ADD ("killed-mid-transfer/result", test_bulk_result);
      ADD ("killed-mid-import/top-level", test_module_killed_slow);
      ADD ("killed-mid-import/large", test_module_killed_large);
      ADD ("stdio-closed/after-bootstrap", test_stdio_closed_after_bootstrap);
      ADD ("stdio-closed/before-bootstrap", test_stdio_closed_before_bootstrap);
      ADD ("garbage/transport-after-bootstrap", test_garbage_on_transport);
      ADD ("garbage/stdio-after-bootstrap", test_garbage_on_stdio);
      ADD ("bootstrap-never-finishes", test_bootstrap_never_finishes);
#undef ADD
    }

  return g_test_run ();
}
