/* test-load.c: many children, many calls from many threads, memory that
 * stays flat, a timed soak, and faults under load (a stopped child, a
 * shutdown while every child is busy).
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mitogen-glib.h>

#include "test-time-scale.h"

#if defined(__SANITIZE_ADDRESS__)
# define LOAD_ASAN 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
#  define LOAD_ASAN 1
# endif
#endif
#ifndef LOAD_ASAN
# define LOAD_ASAN 0
#endif

/* Under valgrind and ThreadSanitizer RSS counts their shadow memory (and
 * memcheck's queue of freed blocks), not ours: those bounds are skipped
 * there too. */
#if defined(__SANITIZE_THREAD__)
# define LOAD_TSAN 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define LOAD_TSAN 1
# endif
#endif
#ifndef LOAD_TSAN
# define LOAD_TSAN 0
#endif
#if defined(__has_include)
# if __has_include(<valgrind/valgrind.h>)
#  include <valgrind/valgrind.h>
#  define LOAD_VALGRIND (RUNNING_ON_VALGRIND != 0)
# endif
#endif
#ifndef LOAD_VALGRIND
# define LOAD_VALGRIND 0
#endif

#define CALL_TIMEOUT (30 * G_USEC_PER_SEC)
#define START_TIMEOUT_SEC 180
#define RSS_SLACK_KIB (8 * 1024)
#define SOAK_RSS_SLACK_KIB (16 * 1024)

/* The heavy cases run 1/MITOGEN_TEST_LOAD_SCALE of their calls and of
 * their soak time: the memcheck set-up sets it, as the master handles some
 * 25 times fewer calls per second there (tests/meson.build). */
static guint
load_scale (void)
{
  const char *text = g_getenv ("MITOGEN_TEST_LOAD_SCALE");
  guint64 scale = text != NULL ? g_ascii_strtoull (text, NULL, 10) : 1;

  return scale >= 1 ? (guint) MIN (scale, G_MAXUINT) : 1;
}

static const char *
test_python (void)
{
  const char *python = g_getenv ("MITOGEN_TEST_PYTHON");

  return python && *python ? python : "python3";
}

static MitogenConnectionOptions *
make_options (void)
{
  MitogenConnectionOptions *options = mitogen_connection_options_new ();

  mitogen_connection_options_set_python_path (options, test_python ());
  /* Dozens of interpreters start at once on a small machine. */
  mitogen_connection_options_set_connect_timeout (options, 120.0);
  return options;
}

static MitogenRouter *
make_router (void)
{
  MitogenRouter *router = mitogen_router_new (NULL);
  g_autofree char *helpers = g_test_build_filename (G_TEST_DIST, "data", "python", NULL);

  mitogen_router_add_python_path (router, helpers);
  return router;
}

static void
finish_router (MitogenRouter *router)
{
  mitogen_router_shutdown (router);
  g_assert_true (mitogen_broker_join (mitogen_router_get_broker (router), 20 * G_USEC_PER_SEC));
}

/* Resident set size of this process, KiB. */
static gsize
read_rss_kib (void)
{
  g_autofree char *text = NULL;
  unsigned long size = 0, resident = 0;

  g_assert_true (g_file_get_contents ("/proc/self/statm", &text, NULL, NULL));
  g_assert_cmpint (sscanf (text, "%lu %lu", &size, &resident), ==, 2);
  return (gsize) resident * (gsize) sysconf (_SC_PAGESIZE) / 1024;
}

/* A write to a child that just died must not raise SIGPIPE, which by
 * default kills the application (the library writes to sockets with
 * MSG_NOSIGNAL). The tests count the signal instead of dying of it, and
 * fail if any was raised. */
static gint sigpipe_count;

static void
on_sigpipe (int signum)
{
  g_atomic_int_inc (&sigpipe_count);
}

static void
install_sigpipe_counter (void)
{
  struct sigaction action;

  memset (&action, 0, sizeof action);
  action.sa_handler = on_sigpipe;
  sigemptyset (&action.sa_mask);
  g_assert_cmpint (sigaction (SIGPIPE, &action, NULL), ==, 0);
}

static void
reset_sigpipe (void)
{
  g_atomic_int_set (&sigpipe_count, 0);
}

static void
check_sigpipe (void)
{
  gint count = g_atomic_int_get (&sigpipe_count);

  g_assert_cmpint (count, ==, 0);
}

static double
seconds_since (gint64 start)
{
  return (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC;
}

/* Starting children in parallel. */

typedef struct
{
  GPtrArray *contexts;
  guint pending;
  GError *error;
} StartState;

static void
child_started (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  StartState *state = user_data;
  GError *error = NULL;
  MitogenContext *context = mitogen_router_local_finish (MITOGEN_ROUTER (source), result, &error);

  if (context != NULL)
    g_ptr_array_add (state->contexts, context);
  else if (state->error == NULL)
    state->error = error;
  else
    g_error_free (error);
  state->pending--;
}

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Returns (transfer full) an array of @n connected contexts. */
static GPtrArray *
start_children (MitogenRouter *router,
                guint          n)
{
  g_autoptr(MitogenConnectionOptions) options = make_options ();
  StartState state = { g_ptr_array_new_with_free_func (g_object_unref), n, NULL };
  gboolean timed_out = FALSE;
  guint timer;
  gint64 start = g_get_monotonic_time ();

  timer = g_timeout_add_seconds (START_TIMEOUT_SEC, set_flag, &timed_out);
  for (guint i = 0; i < n; i++)
    mitogen_router_local_async (router, options, NULL, child_started, &state);
  while (state.pending > 0 && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (timer);
  g_assert_no_error (state.error);
  g_assert_cmpuint (state.contexts->len, ==, n);
  g_test_message ("started %u children in %.2f s", n, seconds_since (start));
  return state.contexts;
}

static GPid
child_pid (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) pid = mitogen_context_call_sync (context, "os", NULL, "getpid", NULL, NULL,
                                                       CALL_TIMEOUT, NULL, &error);

  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (pid, G_VARIANT_TYPE_INT64));
  return (GPid) g_variant_get_int64 (pid);
}

static gboolean
wait_gone (GPid    pid,
           gint64  timeout_usec)
{
  gint64 deadline = g_get_monotonic_time () + timeout_usec;

  while (kill (pid, 0) == 0 && g_get_monotonic_time () < deadline)
    g_usleep (10000);
  return kill (pid, 0) != 0;
}

/* Pipelined echo calls: @n_calls calls of echo(base + i) spread over
 * @contexts in batches of @batch, gathered through a oneshot Select per
 * batch. Asserts every reply arrives exactly once, from the receiver of
 * its call, carrying the value sent. Safe to run from any thread. */
static void
run_echo_calls (GPtrArray *contexts,
                gint64     base,
                guint      n_calls,
                guint      batch)
{
  g_autofree guint8 *seen = g_malloc0 (n_calls);

  for (guint done = 0; done < n_calls; )
    {
      guint this_batch = MIN (batch, n_calls - done);
      g_autoptr(MitogenSelect) select = mitogen_select_new (TRUE);
      g_autoptr(GHashTable) expected = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
      g_autoptr(GPtrArray) receivers = g_ptr_array_new_with_free_func (g_object_unref);

      for (guint j = 0; j < this_batch; j++)
        {
          guint index = done + j;
          MitogenContext *context = g_ptr_array_index (contexts, index % contexts->len);
          g_autoptr(GError) error = NULL;
          MitogenReceiver *receiver =
            mitogen_context_call_receiver (context, "mitogen_test_helpers", NULL, "echo",
                                           g_variant_new ("(x)", base + (gint64) index), NULL, &error);

          g_assert_no_error (error);
          g_assert_nonnull (receiver);
          g_assert_true (mitogen_select_add_receiver (select, receiver, &error));
          g_assert_no_error (error);
          g_ptr_array_add (receivers, g_object_ref (receiver));
          g_hash_table_insert (expected, receiver, GUINT_TO_POINTER (index));
        }

      for (guint j = 0; j < this_batch; j++)
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(MitogenReceiver) from = NULL;
          g_autoptr(MitogenMessage) message = mitogen_select_get (select, CALL_TIMEOUT, NULL, &from, &error);
          g_autoptr(GVariant) value = NULL;
          gpointer index_ptr;
          guint index;

          g_assert_no_error (error);
          g_assert_nonnull (message);
          g_assert_nonnull (from);
          /* A reply for a receiver not (or no longer) waiting is a duplicate. */
          g_assert_true (g_hash_table_lookup_extended (expected, from, NULL, &index_ptr));
          index = GPOINTER_TO_UINT (index_ptr);
          g_assert_true (g_hash_table_remove (expected, from));
          value = mitogen_message_unpickle (message, &error);
          g_assert_no_error (error);
          g_assert_true (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64));
          g_assert_cmpint (g_variant_get_int64 (value), ==, base + (gint64) index);
          g_assert_cmpuint (seen[index], ==, 0);
          seen[index] = 1;
        }
      g_assert_cmpuint (g_hash_table_size (expected), ==, 0);
      g_assert_cmpuint (mitogen_select_get_size (select), ==, 0);
      /* Nothing more waits in any receiver: no second reply. */
      for (guint j = 0; j < receivers->len; j++)
        g_assert_true (mitogen_receiver_is_empty (g_ptr_array_index (receivers, j)));
      done += this_batch;
    }
  for (guint i = 0; i < n_calls; i++)
    g_assert_cmpuint (seen[i], ==, 1);
}

/* /load/calls-from-threads */

#define CFT_CHILDREN 50
#define CFT_THREADS 4
#define CFT_CALLS_PER_CHILD 2000
#define CFT_CALLS_PER_THREAD (CFT_CHILDREN * CFT_CALLS_PER_CHILD / CFT_THREADS)
#define CFT_BATCH 100

typedef struct
{
  GPtrArray *contexts;
  guint thread_index;
  guint n_calls;
} CallerData;

static gpointer
caller_thread (gpointer data)
{
  CallerData *caller = data;

  run_echo_calls (caller->contexts, (gint64) caller->thread_index * 1000000000,
                  caller->n_calls, CFT_BATCH);
  return NULL;
}

static void
test_calls_from_threads (void)
{
  g_autoptr(MitogenRouter) router = make_router ();
  g_autoptr(GPtrArray) contexts = NULL;
  CallerData callers[CFT_THREADS];
  GThread *threads[CFT_THREADS];
  guint n_calls = CFT_CALLS_PER_THREAD / load_scale ();
  gint64 start;
  double elapsed;

  g_test_summary ("50 children x 2000 echo calls, pipelined from 4 threads through their own Selects: "
                  "every reply arrives exactly once with the value sent");
  reset_sigpipe ();

  contexts = start_children (router, CFT_CHILDREN);
  start = g_get_monotonic_time ();
  for (guint i = 0; i < CFT_THREADS; i++)
    {
      g_autofree char *name = g_strdup_printf ("caller-%u", i);

      callers[i].contexts = contexts;
      callers[i].thread_index = i + 1;
      callers[i].n_calls = n_calls;
      threads[i] = g_thread_new (name, caller_thread, &callers[i]);
    }
  for (guint i = 0; i < CFT_THREADS; i++)
    g_thread_join (threads[i]);
  elapsed = seconds_since (start);
  g_test_message ("%u calls from %u threads over %u children took %.2f s (%.0f calls/s)",
                  CFT_THREADS * n_calls, CFT_THREADS, CFT_CHILDREN,
                  elapsed, CFT_THREADS * n_calls / elapsed);

  g_clear_pointer (&contexts, g_ptr_array_unref);
  finish_router (router);
  check_sigpipe ();
}

/* /load/rss-flat */

static void
test_rss_flat (void)
{
  const guint n_rounds = 5, n_calls = 5000 / load_scale ();
  g_autoptr(MitogenRouter) router = make_router ();
  g_autoptr(GPtrArray) contexts = NULL;
  gsize first = 0, last = 0;

  g_test_summary ("Five rounds of 5000 calls over 10 children leave the master's RSS where the first round left it");
  reset_sigpipe ();

  contexts = start_children (router, 10);
  for (guint round = 0; round < n_rounds; round++)
    {
      gint64 start = g_get_monotonic_time ();
      gsize rss;

      run_echo_calls (contexts, (gint64) round * 1000000, n_calls, 100);
      rss = read_rss_kib ();
      g_test_message ("round %u: %u calls in %.2f s, RSS %" G_GSIZE_FORMAT " KiB",
                      round + 1, n_calls, seconds_since (start), rss);
      if (round == 0)
        first = rss;
      last = rss;
    }

  g_clear_pointer (&contexts, g_ptr_array_unref);
  finish_router (router);
  check_sigpipe ();

  g_test_message ("RSS after first round %" G_GSIZE_FORMAT " KiB, after last %" G_GSIZE_FORMAT
                  " KiB (growth %" G_GSSIZE_FORMAT " KiB, bound %d KiB)",
                  first, last, (gssize) last - (gssize) first, RSS_SLACK_KIB);
  if (LOAD_ASAN)
    {
      g_test_skip ("RSS is not meaningful under AddressSanitizer (quarantine keeps freed memory)");
      return;
    }
  if (LOAD_VALGRIND || LOAD_TSAN)
    {
      g_test_skip ("RSS is not meaningful under valgrind or ThreadSanitizer (it counts their shadow memory)");
      return;
    }
  g_assert_cmpuint (last, <=, first + RSS_SLACK_KIB);
}

/* /load/soak */

#define SOAK_CHILDREN 8
#define SOAK_STREAM_COUNT 50

static void
soak_stream (MitogenRouter  *router,
             MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenReceiver) stream = mitogen_receiver_new (router, 0, TRUE, context);
  g_autoptr(MitogenSender) sender = mitogen_receiver_to_sender (stream);
  /* A full reference: "@" in g_variant_new() takes a ref of its own. */
  g_autoptr(GVariant) sender_path = mitogen_sender_to_variant (sender);
  g_autoptr(MitogenReceiver) call = NULL;
  g_autoptr(GVariant) count = NULL;

  call = mitogen_context_call_receiver (context, "mitogen_test_helpers", NULL, "stream_to",
                                        g_variant_new ("(@ox)", sender_path,
                                                       (gint64) SOAK_STREAM_COUNT),
                                        NULL, &error);
  g_assert_no_error (error);
  for (gint64 i = 0; i < SOAK_STREAM_COUNT; i++)
    {
      g_autoptr(GVariant) value = mitogen_receiver_get_value (stream, CALL_TIMEOUT, NULL, &error);

      g_assert_no_error (error);
      g_assert_cmpint (g_variant_get_int64 (value), ==, i);
    }
  count = mitogen_receiver_get_value (call, CALL_TIMEOUT, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (count), ==, SOAK_STREAM_COUNT);
  mitogen_receiver_close (stream);
}

static void
test_soak (void)
{
  const char *env = g_getenv ("MITOGEN_SOAK_SECONDS");
  guint64 seconds = 30;
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenConnectionOptions) options = NULL;
  g_autoptr(GPtrArray) contexts = NULL;
  gint64 deadline;
  guint rounds = 0, kills = 0, streams = 0;
  guint64 calls = 0;
  gsize first = 0, last = 0, peak = 0;

  g_test_summary ("For MITOGEN_SOAK_SECONDS (30): calls, channel streams and children killed and replaced; "
                  "nothing lost, RSS bounded");
  reset_sigpipe ();

  if (env != NULL && *env != '\0')
    seconds = g_ascii_strtoull (env, NULL, 10);
  if (seconds == 0)
    {
      g_test_skip ("MITOGEN_SOAK_SECONDS=0");
      return;
    }
  seconds = MAX (seconds / load_scale (), 1);

  router = make_router ();
  options = make_options ();
  contexts = start_children (router, SOAK_CHILDREN);
  deadline = g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      gsize rss;

      run_echo_calls (contexts, (gint64) rounds * 1000000, 500, 100);
      calls += 500;
      soak_stream (router, g_ptr_array_index (contexts, rounds % contexts->len));
      streams++;

      if (rounds % 4 == 3)
        {
          /* Kill one child and put a fresh one in its place. */
          guint victim = g_test_rand_int_range (0, contexts->len);
          MitogenContext *old = g_ptr_array_index (contexts, victim);
          GPid pid = child_pid (old);
          g_autoptr(GError) error = NULL;
          g_autoptr(GVariant) result = NULL;
          MitogenContext *fresh;

          g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
          g_assert_true (wait_gone (pid, 5 * G_USEC_PER_SEC));
          /* A call to the dead child fails rather than hangs. */
          result = mitogen_context_call_sync (old, "mitogen_test_helpers", NULL, "echo",
                                              g_variant_new ("(x)", (gint64) 1), NULL,
                                              10 * G_USEC_PER_SEC, NULL, &error);
          g_assert_null (result);
          g_assert_nonnull (error);
          g_assert_false (g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT));
          g_clear_error (&error);
          fresh = mitogen_router_local (router, options, NULL, &error);
          g_assert_no_error (error);
          g_ptr_array_index (contexts, victim) = fresh;
          g_object_unref (old);
          kills++;
        }

      rss = read_rss_kib ();
      if (rounds == 0)
        first = rss;
      last = rss;
      peak = MAX (peak, rss);
      rounds++;
    }

  g_clear_pointer (&contexts, g_ptr_array_unref);
  finish_router (router);
  check_sigpipe ();

  g_test_message ("soak %" G_GUINT64_FORMAT " s: %u rounds, %" G_GUINT64_FORMAT " calls, %u streams, "
                  "%u children replaced; RSS first %" G_GSIZE_FORMAT " KiB, last %" G_GSIZE_FORMAT
                  " KiB, peak %" G_GSIZE_FORMAT " KiB",
                  seconds, rounds, calls, streams, kills, first, last, peak);
  g_assert_cmpuint (rounds, >, 0);
  if (LOAD_ASAN)
    {
      g_test_skip ("RSS is not meaningful under AddressSanitizer (quarantine keeps freed memory)");
      return;
    }
  if (LOAD_VALGRIND || LOAD_TSAN)
    {
      g_test_skip ("RSS is not meaningful under valgrind or ThreadSanitizer (it counts their shadow memory)");
      return;
    }
  g_assert_cmpuint (last, <=, first + SOAK_RSS_SLACK_KIB);
}

/* /load/fault/sigstop */

static void
test_fault_sigstop (void)
{
  g_autoptr(MitogenRouter) router = make_router ();
  g_autoptr(GPtrArray) contexts = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GVariant) other = NULL;
  g_autoptr(GVariant) again = NULL;
  g_autoptr(MitogenReceiver) meanwhile = NULL;
  MitogenContext *stopped, *live;
  GPid pid;
  gint64 start;
  double elapsed;

  g_test_summary ("A SIGSTOPped child's call times out within about its deadline while another child "
                  "answers, and it answers again after SIGCONT");
  reset_sigpipe ();

  contexts = start_children (router, 2);
  stopped = g_ptr_array_index (contexts, 0);
  live = g_ptr_array_index (contexts, 1);
  pid = child_pid (stopped);

  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  /* In flight to the live child while the stopped one is being waited on. */
  meanwhile = mitogen_context_call_receiver (live, "mitogen_test_helpers", NULL, "echo",
                                             g_variant_new ("(x)", (gint64) 42), NULL, &error);
  g_assert_no_error (error);

  start = g_get_monotonic_time ();
  result = mitogen_context_call_sync (stopped, "mitogen_test_helpers", NULL, "echo",
                                      g_variant_new ("(x)", (gint64) 7), NULL,
                                      G_USEC_PER_SEC / 2, NULL, &error);
  elapsed = seconds_since (start);
  g_test_message ("call to the stopped child failed after %.3f s", elapsed);
  g_assert_null (result);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_clear_error (&error);
  g_assert_cmpfloat (elapsed, >=, 0.45);
  g_assert_cmpfloat (elapsed, <, 3.0 * test_time_scale ());

  other = mitogen_receiver_get_value (meanwhile, 5 * G_USEC_PER_SEC, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (other), ==, 42);
  g_clear_pointer (&other, g_variant_unref);
  other = mitogen_context_call_sync (live, "mitogen_test_helpers", NULL, "echo",
                                     g_variant_new ("(x)", (gint64) 43), NULL, 5 * G_USEC_PER_SEC, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (other), ==, 43);

  g_assert_cmpint (kill (pid, SIGCONT), ==, 0);
  again = mitogen_context_call_sync (stopped, "mitogen_test_helpers", NULL, "echo",
                                     g_variant_new ("(x)", (gint64) 8), NULL, 10 * G_USEC_PER_SEC, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_variant_get_int64 (again), ==, 8);

  g_clear_pointer (&contexts, g_ptr_array_unref);
  finish_router (router);
  check_sigpipe ();
}

/* /load/fault/shutdown-busy */

#define BUSY_CHILDREN 100
#define BUSY_GRACE 3.0

typedef struct
{
  guint pending;
  guint channel_errors;
  guint other_outcomes;
} BusyState;

static void
busy_call_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  BusyState *state = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = mitogen_context_call_finish (MITOGEN_CONTEXT (source), result, &error);

  if (value == NULL && g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL))
    state->channel_errors++;
  else
    {
      g_test_message ("busy call ended otherwise: %s", error ? error->message : "a value");
      state->other_outcomes++;
    }
  state->pending--;
}

static void
test_fault_shutdown_busy (void)
{
  g_autoptr(MitogenRouter) router = make_router ();
  g_autoptr(GPtrArray) contexts = NULL;
  g_autoptr(MitogenSelect) select = NULL;
  g_autoptr(GHashTable) pid_set = g_hash_table_new (NULL, NULL);
  MitogenBroker *broker;
  BusyState state = { BUSY_CHILDREN, 0, 0 };
  GPid pids[BUSY_CHILDREN];
  gboolean timed_out = FALSE, joined;
  guint timer;
  gint64 start;
  double join_time;

  g_test_summary ("Shutdown with 100 children each busy in a 60 s call: the broker joins within the grace "
                  "period, every call fails with CHANNEL and no child remains");
  reset_sigpipe ();

  contexts = start_children (router, BUSY_CHILDREN);
  broker = mitogen_router_get_broker (router);
  mitogen_broker_set_shutdown_timeout (broker, BUSY_GRACE);
  g_assert_cmpfloat (mitogen_broker_get_shutdown_timeout (broker), ==, BUSY_GRACE);

  /* Every child's pid, gathered in parallel. */
  select = mitogen_select_new (TRUE);
  for (guint i = 0; i < BUSY_CHILDREN; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MitogenReceiver) receiver =
        mitogen_context_call_receiver (g_ptr_array_index (contexts, i), "os", NULL, "getpid",
                                       NULL, NULL, &error);

      g_assert_no_error (error);
      g_assert_true (mitogen_select_add_receiver (select, receiver, &error));
      g_assert_no_error (error);
    }
  for (guint i = 0; i < BUSY_CHILDREN; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(MitogenMessage) message = mitogen_select_get (select, CALL_TIMEOUT, NULL, NULL, &error);
      g_autoptr(GVariant) pid = NULL;

      g_assert_no_error (error);
      pid = mitogen_message_unpickle (message, &error);
      g_assert_no_error (error);
      pids[i] = (GPid) g_variant_get_int64 (pid);
      g_assert_true (g_hash_table_add (pid_set, GINT_TO_POINTER (pids[i])));
    }

  for (guint i = 0; i < BUSY_CHILDREN; i++)
    mitogen_context_call_async (g_ptr_array_index (contexts, i), "mitogen_test_helpers", NULL, "sleep",
                                g_variant_new ("(d)", 60.0), NULL, NULL, busy_call_done, &state);
  /* Let the calls reach the children and start sleeping. */
  timer = g_timeout_add (1000, set_flag, &timed_out);
  while (!timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (state.pending, ==, BUSY_CHILDREN);

  start = g_get_monotonic_time ();
  mitogen_router_shutdown (router);
  joined = mitogen_broker_join (broker, (gint64) (BUSY_GRACE * G_USEC_PER_SEC) + test_scaled_usec (2 * G_USEC_PER_SEC));
  join_time = seconds_since (start);
  g_test_message ("broker joined (%d) %.3f s after shutdown (grace %.1f s)", joined, join_time, BUSY_GRACE);
  g_assert_true (joined);
  g_assert_cmpfloat (join_time, <, BUSY_GRACE + 2.0 * test_time_scale ());

  /* Completions come to this thread's main context. */
  timed_out = FALSE;
  timer = g_timeout_add_seconds ((guint) (5 * test_time_scale ()), set_flag, &timed_out);
  while (state.pending > 0 && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timer);
  g_test_message ("busy calls: %u CHANNEL, %u other, %u pending", state.channel_errors,
                  state.other_outcomes, state.pending);
  g_assert_cmpuint (state.pending, ==, 0);
  g_assert_cmpuint (state.channel_errors, ==, BUSY_CHILDREN);

  for (guint i = 0; i < BUSY_CHILDREN; i++)
    {
      if (!wait_gone (pids[i], test_scaled_usec (3 * G_USEC_PER_SEC)))
        g_error ("child %d still exists %.0f s after the broker joined", (int) pids[i], 3 * test_time_scale ());
    }

  g_clear_pointer (&contexts, g_ptr_array_unref);
  check_sigpipe ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  install_sigpipe_counter ();

  g_test_add_func ("/load/calls-from-threads", test_calls_from_threads);
  g_test_add_func ("/load/rss-flat", test_rss_flat);
  g_test_add_func ("/load/soak", test_soak);
  g_test_add_func ("/load/fault/sigstop", test_fault_sigstop);
  g_test_add_func ("/load/fault/shutdown-busy", test_fault_shutdown_busy);

  return g_test_run ();
}
