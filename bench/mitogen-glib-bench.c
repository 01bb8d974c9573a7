/* mitogen-glib-bench.c: the mitogen-glib runner of bench/bench.py.
 *
 * One metric per run, printed as JSON lines; the runner contract (metric
 * names, options, output) is in bench/README.md and is the same for the
 * Mitogen and execnet peers in bench/peers/. Children are local, booted
 * with our own runtime or, with --runtime upstream, with Mitogen 0.3's
 * core.py from python3-mitogen.
 *
 * Usage: mitogen-glib-bench METRIC [--runtime own|upstream] [--python PATH]
 *        [--count N] [--children N] [--size BYTES] [--direction m2c|c2m]
 *        [--mode call|stream] [--chunk BYTES] [--window N]
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <glib-unix.h>
#include <mitogen-glib.h>

#include "mitogen-connection-private.h"
#include "mitogen-router-private.h"
#include "mitogen-stream-private.h"

#define UPSTREAM_CORE "/usr/lib/python3/dist-packages/mitogen/core.py"
#define CALL_TIMEOUT (120 * G_USEC_PER_SEC)
#define HELPER_MODULE "mitogen_bench_child"

typedef struct
{
  char *runtime;
  char *python;
  int count;
  int children;
  gint64 size;
  char *direction;
  char *mode;
  gint64 chunk;
  int window;
  char *cache_directory;        /* NULL: the router's default; "none": no cache */
} Settings;

static Settings settings = {
  .count = 20,
  .children = 20,
  .size = 16 * 1024 * 1024,
  .chunk = 256 * 1024,
  .window = 4,
};

static G_NORETURN void
die (const char *what,
     GError     *error)
{
  g_printerr ("mitogen-glib-bench: %s: %s\n", what, error ? error->message : "failed");
  exit (EXIT_FAILURE);
}

/* ---- /proc/self/status and friends ---------------------------------- */

static gint64
status_field (const char *path,
              const char *field)
{
  g_autofree char *text = NULL;
  const char *line;
  gsize field_len = strlen (field);

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  for (line = text; line != NULL && *line != '\0'; line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL)
    if (strncmp (line, field, field_len) == 0 && line[field_len] == ':')
      return g_ascii_strtoll (line + field_len + 1, NULL, 10);
  return -1;
}

/* Restarts VmHWM from the current RSS (Linux >= 4.0), so that the next
 * read gives the peak of what follows. */
static void
reset_peak_rss (void)
{
  g_file_set_contents ("/proc/self/clear_refs", "5", 1, NULL);
}

/* ---- children ------------------------------------------------------- */

static MitogenRouter *
new_router (void)
{
  MitogenRouter *router = mitogen_router_new (NULL);

  /* Where mitogen_bench_child.py lives: served to children on import. */
  mitogen_router_add_python_path (router, BENCH_PYTHON_DIR);
  if (g_strcmp0 (settings.cache_directory, "none") == 0)
    mitogen_router_set_cache_directory (router, NULL);
  else if (settings.cache_directory != NULL)
    mitogen_router_set_cache_directory (router, settings.cache_directory);
  return router;
}

static MitogenConnectionOptions *
new_options (MitogenContext *via)
{
  MitogenConnectionOptions *options = mitogen_connection_options_new ();

  mitogen_connection_options_set_python_path (options, settings.python);
  if (g_str_equal (settings.runtime, "upstream"))
    mitogen_connection_options_set_upstream_core_path (options, UPSTREAM_CORE);
  if (via != NULL)
    mitogen_connection_options_set_via (options, via);
  return options;
}

static MitogenContext *
start_child (MitogenRouter  *router,
             MitogenContext *via)
{
  g_autoptr(MitogenConnectionOptions) options = new_options (via);
  g_autoptr(GError) error = NULL;
  MitogenContext *context = mitogen_router_local (router, options, NULL, &error);

  if (context == NULL)
    die ("starting a child", error);
  return context;
}

static gint64
trivial_call (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) pid = mitogen_context_call_sync (context, "os", NULL, "getpid", NULL, NULL,
                                                       CALL_TIMEOUT, NULL, &error);

  if (pid == NULL)
    die ("os.getpid()", error);
  return g_variant_get_int64 (pid);
}

static GVariant *
helper_call (MitogenContext *context,
             const char     *function,
             GVariant       *args)
{
  g_autoptr(GError) error = NULL;
  GVariant *result = mitogen_context_call_sync (context, HELPER_MODULE, NULL, function, args, NULL,
                                                CALL_TIMEOUT, NULL, &error);

  if (result == NULL)
    die (function, error);
  return result;
}

static void
shutdown_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  guint *pending = user_data;

  mitogen_context_shutdown_finish (MITOGEN_CONTEXT (source), result, NULL);
  (*pending)--;
  g_main_context_wakeup (NULL);
}

/* Shuts the contexts down and waits, so that the next measurement does not
 * share the CPUs with exiting children. */
static void
shutdown_all (GPtrArray *contexts)
{
  guint pending = contexts->len;

  for (guint i = 0; i < contexts->len; i++)
    mitogen_context_shutdown_async (contexts->pdata[i], NULL, shutdown_done, &pending);
  while (pending > 0)
    g_main_context_iteration (NULL, TRUE);
}

static void
finish_router (MitogenRouter *router)
{
  mitogen_router_shutdown (router);
  mitogen_broker_join (mitogen_router_get_broker (router), 30 * G_USEC_PER_SEC);
}

/* ---- output --------------------------------------------------------- */

static void
print_samples (const char *metric,
               GArray     *samples)
{
  g_autoptr(GString) line = g_string_new (NULL);

  g_string_append_printf (line, "{\"metric\": \"%s\", \"samples\": [", metric);
  for (guint i = 0; i < samples->len; i++)
    g_string_append_printf (line, "%s%.3f", i ? ", " : "", g_array_index (samples, double, i));
  g_string_append (line, "]}\n");
  g_print ("%s", line->str);
}

/* Nanoseconds: a pinned round trip is a few microseconds, and
 * g_get_monotonic_time() would round it to a whole one. */
static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Elapsed time since @start (from now_ns()) in units of @unit ns. */
static double
elapsed_since (gint64 start,
               double unit)
{
  return (now_ns () - start) / unit;
}

/* ---- metrics -------------------------------------------------------- */

static void
measure_bootstrap (MitogenRouter *router)
{
  g_autoptr(GArray) samples = g_array_new (FALSE, FALSE, sizeof (double));

  for (int i = 0; i < settings.count; i++)
    {
      g_autoptr(GPtrArray) contexts = g_ptr_array_new_with_free_func (g_object_unref);
      gint64 start = now_ns ();
      MitogenContext *context = start_child (router, NULL);
      double ms;

      trivial_call (context);
      ms = elapsed_since (start, 1e6);
      g_array_append_val (samples, ms);
      g_ptr_array_add (contexts, context);
      shutdown_all (contexts);
    }
  print_samples ("bootstrap_ms", samples);
}

static void
measure_round_trips (MitogenContext *context,
                     const char     *metric)
{
  g_autoptr(GArray) samples = g_array_new (FALSE, FALSE, sizeof (double));

  for (int i = 0; i < 100; i++)
    trivial_call (context);
  for (int i = 0; i < settings.count; i++)
    {
      gint64 start = now_ns ();
      double us;

      trivial_call (context);
      us = elapsed_since (start, 1e3);
      g_array_append_val (samples, us);
    }
  print_samples (metric, samples);
}

typedef struct
{
  guint remaining;
  gboolean failed;
} Gather;

static void
gathered (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Gather *gather = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = mitogen_context_call_finish (MITOGEN_CONTEXT (source), result, &error);

  if (value == NULL)
    {
      g_printerr ("mitogen-glib-bench: call failed: %s\n", error->message);
      gather->failed = TRUE;
    }
  gather->remaining--;
}

/* Seconds the threads of process @pid have run, and have waited runnable
 * for a CPU, so far (nanosecond counts, /proc/PID/task/TID/schedstat). */
static void
sched_seconds (const char *pid,
               double     *run,
               double     *wait)
{
  g_autofree char *tasks = g_strdup_printf ("/proc/%s/task", pid);
  g_autoptr(GDir) dir = g_dir_open (tasks, 0, NULL);
  const char *tid;

  *run = *wait = 0;
  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (tasks, tid, "schedstat", NULL);
      g_autofree char *text = NULL;
      guint64 run_ns, wait_ns;

      if (g_file_get_contents (path, &text, NULL, NULL) &&
          sscanf (text, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, &run_ns, &wait_ns) == 2)
        {
          *run += run_ns / 1e9;
          *wait += wait_ns / 1e9;
        }
    }
}

/* Page faults of this process (every thread) so far: on a VM each costs
 * several microseconds, and memory a burst touches first faults. Also its
 * CPU seconds in the kernel (system calls, faults, wake-ups). */
static long
minor_faults (double *system_seconds)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  *system_seconds = usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
  return usage.ru_minflt;
}

/* Page faults of process @pid so far (/proc/PID/stat, field 10). */
static long
process_minor_faults (const char *pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/stat", pid);
  g_autofree char *text = NULL;
  const char *after_name;
  long faults = 0;

  /* The name (field 2) may hold spaces; the fields after it do not. */
  if (g_file_get_contents (path, &text, NULL, NULL) && (after_name = strrchr (text, ')')) != NULL)
    sscanf (after_name + 1, " %*c %*d %*d %*d %*d %*d %*u %ld", &faults);
  return faults;
}

static void
measure_pipelined (MitogenContext *context)
{
  Gather gather = { .remaining = settings.count };
  g_autofree char *child_pid = NULL;
  double master_cpu, child_cpu, master_wait, child_wait, run, wait;
  long master_faults, child_faults;
  double master_system, system;
  gint64 start;
  double seconds;

  for (int i = 0; i < 100; i++)
    child_pid = g_strdup_printf ("%" G_GINT64_FORMAT, trivial_call (context));
  sched_seconds ("self", &master_cpu, &master_wait);
  sched_seconds (child_pid, &child_cpu, &child_wait);
  master_faults = minor_faults (&master_system);
  child_faults = process_minor_faults (child_pid);
  start = now_ns ();
  for (int i = 0; i < settings.count; i++)
    mitogen_context_call_async (context, "os", NULL, "getpid", NULL, NULL, NULL, gathered, &gather);
  while (gather.remaining > 0)
    g_main_context_iteration (NULL, TRUE);
  seconds = elapsed_since (start, 1e9);
  if (gather.failed)
    exit (EXIT_FAILURE);
  /* Where the time goes, per call: CPU on each side (every thread), the
   * time their threads waited runnable for a CPU (three busy threads on
   * two CPUs wait), and the master's page faults. */
  sched_seconds ("self", &run, &wait);
  master_cpu = run - master_cpu;
  master_wait = wait - master_wait;
  sched_seconds (child_pid, &run, &wait);
  child_cpu = run - child_cpu;
  child_wait = wait - child_wait;
  master_faults = minor_faults (&system) - master_faults;
  master_system = system - master_system;
  child_faults = process_minor_faults (child_pid) - child_faults;
  g_print ("{\"metric\": \"calls_per_s\", \"value\": %.1f, \"master_cpu_us_per_call\": %.2f, "
           "\"master_system_cpu_us_per_call\": %.2f, "
           "\"child_cpu_us_per_call\": %.2f, \"master_runnable_wait_us_per_call\": %.2f, "
           "\"child_runnable_wait_us_per_call\": %.2f, \"master_page_faults_per_call\": %.3f, "
           "\"child_page_faults_per_call\": %.3f}\n",
           settings.count / seconds, master_cpu * 1e6 / settings.count,
           master_system * 1e6 / settings.count, child_cpu * 1e6 / settings.count,
           master_wait * 1e6 / settings.count, child_wait * 1e6 / settings.count,
           (double) master_faults / settings.count, (double) child_faults / settings.count);
}

/* Has the kernel read every page of @data once, through a pipe we drain
 * ourselves. On VMs with shadow page tables the kernel's first read of a
 * user page costs several microseconds (~7 us here: a 64 MiB stream ran
 * at 370-550 MB/s cold, 1.3-1.7 GB/s warm); the pipe floor reuses one hot
 * buffer and never pays it, so set-up pays it instead. */
static void
warm_for_kernel (const guint8 *data,
                 gsize         size)
{
  guint8 sink[65536];
  int fds[2];

  if (!g_unix_open_pipe (fds, FD_CLOEXEC, NULL))
    die ("a pipe", NULL);
  for (gsize offset = 0; offset < size;)
    {
      gssize n = write (fds[1], data + offset, MIN (sizeof sink, size - offset));

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        die ("writing to a pipe", NULL);
      offset += n;
      while (n > 0)
        {
          gssize r = read (fds[0], sink, n);

          if (r < 0 && errno == EINTR)
            continue;
          if (r <= 0)
            die ("reading from a pipe", NULL);
          n -= r;
        }
    }
  close (fds[0]);
  close (fds[1]);
}

static GBytes *
random_bytes (gsize size)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (4);
  guint32 *words = g_malloc (size + 4);

  for (gsize i = 0; i < size / 4 + 1; i++)
    words[i] = g_rand_int (rand);
  warm_for_kernel ((const guint8 *) words, size);
  return g_bytes_new_take (words, size);
}

static MitogenSender *
sender_from_message (MitogenRouter  *router,
                     MitogenMessage *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) path = mitogen_message_unpickle (message, &error);
  g_autoptr(MitogenContext) context = NULL;
  guint context_id, handle;

  if (path == NULL)
    die ("the child's first stream message", error);
  if (!g_variant_is_of_type (path, G_VARIANT_TYPE_OBJECT_PATH) ||
      sscanf (g_variant_get_string (path, NULL), "/mitogen/sender/%u/%u", &context_id, &handle) != 2)
    die ("the child's first stream message is not a sender", NULL);
  context = mitogen_router_context_by_id (router, context_id);
  if (context == NULL)
    die ("the sender's context is unknown", NULL);
  return mitogen_sender_new (context, handle);
}

static GVariant *
bytes_value (GBytes *data,
             gsize   offset,
             gsize   length)
{
  g_autoptr(GBytes) slice = g_bytes_new_from_bytes (data, offset, length);

  return g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, slice, TRUE);
}

static gint64
receive_int (MitogenReceiver *receiver)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = mitogen_receiver_get_value (receiver, CALL_TIMEOUT, NULL, &error);

  if (value == NULL)
    die ("an acknowledgement", error);
  return g_variant_get_int64 (value);
}

/* Master to child with at most settings.window chunks unacknowledged: the
 * child (mitogen_bench_child.stream_sink) acknowledges every chunk with the
 * running byte count. */
static void
stream_to_child (MitogenRouter  *router,
                 MitogenContext *context,
                 GBytes         *data,
                 Gather         *call)
{
  g_autoptr(MitogenReceiver) acks = mitogen_receiver_new (router, 0, TRUE, context);
  g_autoptr(MitogenSender) ack_sender = mitogen_receiver_to_sender (acks);
  g_autoptr(MitogenMessage) first = NULL;
  g_autoptr(MitogenSender) data_sender = NULL;
  g_autoptr(GError) error = NULL;
  gsize total = g_bytes_get_size (data);
  gsize sent = 0, acked = 0;

  mitogen_context_call_async (context, HELPER_MODULE, NULL, "stream_sink",
                              g_variant_new ("(@ox)", mitogen_sender_to_variant (ack_sender), (gint64) total),
                              NULL, NULL, gathered, call);
  first = mitogen_receiver_get (acks, CALL_TIMEOUT, NULL, &error);
  if (first == NULL)
    die ("stream_sink's data sender", error);
  data_sender = sender_from_message (router, first);

  while (acked < total)
    {
      while (sent < total && (sent - acked) < (gsize) settings.window * settings.chunk)
        {
          gsize length = MIN ((gsize) settings.chunk, total - sent);

          if (!mitogen_sender_put (data_sender, bytes_value (data, sent, length), &error))
            die ("sending a chunk", error);
          sent += length;
        }
      acked = receive_int (acks);
    }
  mitogen_receiver_close (acks);
}

/* Child to master: mitogen_bench_child.stream_source sends chunks and
 * waits for our running byte count, never more than window ahead. */
static void
stream_from_child (MitogenRouter  *router,
                   MitogenContext *context,
                   gsize           total,
                   Gather         *call)
{
  g_autoptr(MitogenReceiver) chunks = mitogen_receiver_new (router, 0, TRUE, context);
  g_autoptr(MitogenSender) chunk_sender = mitogen_receiver_to_sender (chunks);
  g_autoptr(MitogenMessage) first = NULL;
  g_autoptr(MitogenSender) ack_sender = NULL;
  g_autoptr(GError) error = NULL;
  gsize received = 0;

  mitogen_context_call_async (context, HELPER_MODULE, NULL, "stream_source",
                              g_variant_new ("(@oxxx)", mitogen_sender_to_variant (chunk_sender), (gint64) total,
                                             (gint64) settings.chunk, (gint64) settings.window),
                              NULL, NULL, gathered, call);
  first = mitogen_receiver_get (chunks, CALL_TIMEOUT, NULL, &error);
  if (first == NULL)
    die ("stream_source's acknowledgement sender", error);
  ack_sender = sender_from_message (router, first);

  while (received < total)
    {
      g_autoptr(GVariant) chunk = mitogen_receiver_get_value (chunks, CALL_TIMEOUT, NULL, &error);

      if (chunk == NULL)
        die ("a chunk", error);
      received += g_variant_get_size (chunk);
      if (!mitogen_sender_put (ack_sender, g_variant_new_int64 (received), &error))
        die ("an acknowledgement", error);
    }
  mitogen_receiver_close (chunks);
}

static void
measure_bulk (MitogenRouter  *router,
              MitogenContext *context)
{
  gboolean to_child = g_str_equal (settings.direction, "m2c");
  gboolean streaming = g_str_equal (settings.mode, "stream");
  g_autoptr(GBytes) data = NULL;
  gint64 rss_before, peak, start;
  double seconds;
  gsize moved = 0;

  if (!to_child && !g_str_equal (settings.direction, "c2m"))
    die ("--direction must be m2c or c2m", NULL);
  if (!streaming && !g_str_equal (settings.mode, "call"))
    die ("--mode must be call or stream", NULL);

  /* The helper module is imported, and the data made on the sending
   * side, before the clock starts. */
  g_variant_unref (helper_call (context, "pid_rss", NULL));
  if (to_child)
    data = random_bytes (settings.size);
  else
    g_variant_unref (helper_call (context, "make_random", g_variant_new ("(x)", settings.size)));
  trivial_call (context);
  if (streaming)
    {
      /* One window of chunks first: what a first stream loads (the child's
       * Receiver and Sender code, its receive buffers) is set-up, as the
       * helper module's import is. */
      gsize first_size = MIN ((gsize) settings.chunk * settings.window, (gsize) settings.size);
      Gather call = { .remaining = 1 };

      if (to_child)
        {
          g_autoptr(GBytes) first = g_bytes_new_from_bytes (data, 0, first_size);

          stream_to_child (router, context, first, &call);
        }
      else
        stream_from_child (router, context, first_size, &call);
      while (call.remaining > 0)
        g_main_context_iteration (NULL, TRUE);
      if (call.failed)
        exit (EXIT_FAILURE);
    }

  reset_peak_rss ();
  rss_before = status_field ("/proc/self/status", "VmRSS");
  start = now_ns ();
  if (streaming)
    {
      Gather call = { .remaining = 1 };

      if (to_child)
        stream_to_child (router, context, data, &call);
      else
        stream_from_child (router, context, settings.size, &call);
      while (call.remaining > 0)
        g_main_context_iteration (NULL, TRUE);
      if (call.failed)
        exit (EXIT_FAILURE);
      moved = settings.size;
    }
  else if (to_child)
    {
      g_autoptr(GVariant) length = helper_call (context, "consume",
                                                g_variant_new ("(@ay)", bytes_value (data, 0, settings.size)));

      moved = g_variant_get_int64 (length);
    }
  else
    {
      g_autoptr(GVariant) produced = helper_call (context, "produce", NULL);

      moved = g_variant_get_size (produced);
    }
  seconds = elapsed_since (start, 1e9);
  peak = status_field ("/proc/self/status", "VmHWM");

  if (moved != (gsize) settings.size)
    die ("the transfer moved the wrong number of bytes", NULL);
  g_print ("{\"metric\": \"bulk_mb_per_s\", \"value\": %.1f, \"peak_rss_kib\": %" G_GINT64_FORMAT
           ", \"rss_growth_kib\": %" G_GINT64_FORMAT "}\n",
           settings.size / seconds / 1e6, peak, peak - rss_before);
}

typedef struct
{
  GPtrArray *contexts;
  guint remaining;
} Fanout;

static void
fanout_called (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Fanout *fanout = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = mitogen_context_call_finish (MITOGEN_CONTEXT (source), result, &error);

  if (value == NULL)
    die ("a fan-out call", error);
  fanout->remaining--;
}

static void
fanout_started (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Fanout *fanout = user_data;
  g_autoptr(GError) error = NULL;
  MitogenContext *context = mitogen_router_local_finish (MITOGEN_ROUTER (source), result, &error);

  if (context == NULL)
    die ("a fan-out child", error);
  g_ptr_array_add (fanout->contexts, context);
  mitogen_context_call_async (context, "os", NULL, "getpid", NULL, NULL, NULL, fanout_called, fanout);
}

static void
measure_fanout (MitogenRouter *router)
{
  g_autoptr(MitogenConnectionOptions) options = new_options (NULL);
  g_autoptr(GPtrArray) contexts = g_ptr_array_new_with_free_func (g_object_unref);
  Fanout fanout = { contexts, settings.children };
  gint64 start = now_ns ();
  double ms;

  for (int i = 0; i < settings.children; i++)
    mitogen_router_local_async (router, options, NULL, fanout_started, &fanout);
  while (fanout.remaining > 0)
    g_main_context_iteration (NULL, TRUE);
  ms = elapsed_since (start, 1e6);
  g_print ("{\"metric\": \"fanout_ms\", \"value\": %.2f, \"children\": %d}\n", ms, settings.children);
  shutdown_all (contexts);
}

static gboolean
booted_compiled (MitogenContext *context)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) compiled = NULL;

  compiled = mitogen_context_call_sync (context, "builtins", NULL, "eval",
                                        g_variant_new ("(s)", "bool(vars(__import__('sys').modules['mitogen.core']).get('_code'))"),
                                        NULL, CALL_TIMEOUT, NULL, &error);
  if (compiled == NULL)
    die ("asking how the child booted", error);
  return g_variant_get_boolean (compiled);
}

static void
measure_master_memory (MitogenRouter *router)
{
  g_autoptr(GPtrArray) contexts = g_ptr_array_new_with_free_func (g_object_unref);
  gint64 rss_before, threads_before, rss_after, threads_after;

  /* The first children pay the fixed costs (broker thread, child watch,
   * the runtime resource; with mitogen-glib's own runtime and nothing
   * kept in the cache directory, the router's one run of its bytecode
   * helper, 220-290 KiB, until a child boots from the compiled runtime):
   * they are not per child. */
  for (int i = 0; i < 100; i++)
    {
      MitogenContext *context = start_child (router, NULL);

      trivial_call (context);
      g_ptr_array_add (contexts, context);
      if (!g_str_equal (settings.runtime, "own") || booted_compiled (context))
        break;
      g_usleep (G_USEC_PER_SEC / 20);
    }
  rss_before = status_field ("/proc/self/status", "VmRSS");
  threads_before = status_field ("/proc/self/status", "Threads");
  for (int i = 0; i < settings.children; i++)
    {
      MitogenContext *context = start_child (router, NULL);

      trivial_call (context);
      g_ptr_array_add (contexts, context);
    }
  rss_after = status_field ("/proc/self/status", "VmRSS");
  threads_after = status_field ("/proc/self/status", "Threads");
  g_print ("{\"metric\": \"master_kib_per_child\", \"value\": %.2f, \"threads_per_child\": %.3f, \"children\": %d}\n",
           (double) (rss_after - rss_before) / settings.children,
           (double) (threads_after - threads_before) / settings.children, settings.children);
  shutdown_all (contexts);
}

static void
measure_idle_rss (MitogenRouter *router)
{
  g_autoptr(MitogenContext) context = start_child (router, NULL);
  gint64 pid = trivial_call (context);
  g_autofree char *path = g_strdup_printf ("/proc/%" G_GINT64_FORMAT "/status", pid);

  g_usleep (G_USEC_PER_SEC / 2);
  g_print ("{\"metric\": \"idle_child_rss_kib\", \"value\": %" G_GINT64_FORMAT "}\n",
           status_field (path, "VmRSS"));
}

/* The bootstrap program of @context's connection, rebuilt by the same
 * code the connection used: the bytes of its command line after argv[0]. */
static guint64
command_line_bytes (MitogenRouter *router,
                    guint32        id,
                    gboolean       compiled)
{
  g_autoptr(MitogenConnectionOptions) options = new_options (NULL);
  g_autoptr(MitogenBootPlan) plan = NULL;
  g_autoptr(GError) error = NULL;
  guint64 bytes = 0;

  plan = g_str_equal (settings.runtime, "upstream")
         ? _mitogen_boot_plan_new_upstream (router, options, id, &error)
         : _mitogen_boot_plan_new_own (router, options, id, compiled, &error);
  if (plan == NULL)
    die ("rebuilding the boot plan", error);
  for (gsize i = 1; plan->argv[i] != NULL; i++)
    bytes += strlen (plan->argv[i]);
  return bytes;
}

/* Bytes written to @context's stream before the child's first message
 * came, or (@total) until now. */
static guint64
stream_bytes (MitogenRouter  *router,
              MitogenContext *context,
              gboolean        total)
{
  g_autoptr(MitogenStream) stream = _mitogen_router_dup_stream (router, mitogen_context_get_context_id (context));

  if (stream == NULL)
    die ("the child's stream is gone", NULL);
  return total ? _mitogen_stream_get_bytes_written (stream)
               : _mitogen_stream_get_bytes_before_first_frame (stream);
}

/* What the child was sent before its first reply: the command line's
 * bootstrap program and every byte written to the child's stream before
 * the child's first message came (the first call's reply). Measured on
 * the source boot, what every ssh child gets: the router keeps no
 * compiled runtime across programs here, so its first child gets the
 * runtime's source; with mitogen-glib's own runtime, later children on
 * this machine get it compiled as well, once the router's helper is done
 * (mitogen-glib/child/README.md, section 11): compiled_boot_bytes. Also reported: what the stream carried until the
 * reply reached the caller (the runtime's deferred parts follow the
 * child's first message: section 10). */
static void
measure_bootstrap_bytes (MitogenRouter *router)
{
  g_autoptr(MitogenContext) context = NULL;
  guint32 id;
  guint64 command_bytes, first_stream_bytes;

  mitogen_router_set_cache_directory (router, NULL);
  context = start_child (router, NULL);
  id = mitogen_context_get_context_id (context);

  trivial_call (context);
  first_stream_bytes = stream_bytes (router, context, FALSE);
  command_bytes = command_line_bytes (router, id, FALSE);

  g_print ("{\"metric\": \"bootstrap_bytes\", \"value\": %" G_GUINT64_FORMAT
           ", \"command_line_bytes\": %" G_GUINT64_FORMAT ", \"stream_bytes\": %" G_GUINT64_FORMAT
           ", \"at_reply_bytes\": %" G_GUINT64_FORMAT,
           command_bytes + first_stream_bytes, command_bytes, first_stream_bytes,
           command_bytes + stream_bytes (router, context, TRUE));
  if (g_str_equal (settings.runtime, "own"))
    {
      /* The helper starts with the second child and takes ~50 ms. */
      for (int i = 0; i < 100; i++)
        {
          g_autoptr(MitogenContext) later = start_child (router, NULL);
          guint64 later_stream_bytes;

          trivial_call (later);
          later_stream_bytes = stream_bytes (router, later, FALSE);
          if (booted_compiled (later))
            {
              g_print (", \"compiled_boot_bytes\": %" G_GUINT64_FORMAT,
                       command_line_bytes (router, mitogen_context_get_context_id (later), TRUE) +
                       later_stream_bytes);
              break;
            }
          mitogen_context_shutdown (later);
          g_usleep (G_USEC_PER_SEC / 20);
        }
    }
  g_print ("}\n");
}

int
main (int    argc,
      char **argv)
{
  GOptionEntry entries[] = {
    { "runtime", 0, 0, G_OPTION_ARG_STRING, &settings.runtime, "Child runtime: own (default) or upstream", "NAME" },
    { "python", 0, 0, G_OPTION_ARG_FILENAME, &settings.python, "Interpreter for children (default /usr/bin/python3)", "PATH" },
    { "count", 0, 0, G_OPTION_ARG_INT, &settings.count, "Samples or calls", "N" },
    { "children", 0, 0, G_OPTION_ARG_INT, &settings.children, "Children (fanout, master-memory)", "N" },
    { "size", 0, 0, G_OPTION_ARG_INT64, &settings.size, "Bulk bytes", "BYTES" },
    { "direction", 0, 0, G_OPTION_ARG_STRING, &settings.direction, "Bulk direction: m2c or c2m", "DIR" },
    { "mode", 0, 0, G_OPTION_ARG_STRING, &settings.mode, "Bulk mode: call or stream", "MODE" },
    { "chunk", 0, 0, G_OPTION_ARG_INT64, &settings.chunk, "Stream chunk bytes", "BYTES" },
    { "window", 0, 0, G_OPTION_ARG_INT, &settings.window, "Stream chunks in flight", "N" },
    { "cache-directory", 0, 0, G_OPTION_ARG_FILENAME, &settings.cache_directory,
      "Where compiled child runtimes are kept (default: the router's; none: nowhere)", "DIR" },
    { NULL }
  };
  g_autoptr(GOptionContext) parser = g_option_context_new ("METRIC - one mitogen-glib benchmark");
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenRouter) router = NULL;
  const char *metric;

  g_option_context_add_main_entries (parser, entries, NULL);
  if (!g_option_context_parse (parser, &argc, &argv, &error) || argc != 2)
    {
      g_printerr ("%s\n", error ? error->message : "usage: mitogen-glib-bench METRIC [OPTION...]");
      return 2;
    }
  metric = argv[1];
  if (settings.runtime == NULL)
    settings.runtime = g_strdup ("own");
  if (settings.python == NULL)
    settings.python = g_strdup ("/usr/bin/python3");
  if (settings.direction == NULL)
    settings.direction = g_strdup ("m2c");
  if (settings.mode == NULL)
    settings.mode = g_strdup ("call");
  if (settings.count < 1 || settings.children < 1 || settings.size < 1 || settings.chunk < 1 || settings.window < 1)
    die ("counts and sizes must be positive", NULL);
  if (g_str_equal (settings.runtime, "upstream") && !g_file_test (UPSTREAM_CORE, G_FILE_TEST_EXISTS))
    {
      g_printerr ("mitogen-glib-bench: %s is missing (install python3-mitogen)\n", UPSTREAM_CORE);
      return 77;
    }
  if (!g_str_equal (settings.runtime, "own") && !g_str_equal (settings.runtime, "upstream"))
    die ("--runtime must be own or upstream", NULL);

  router = new_router ();
  if (g_str_equal (metric, "bootstrap"))
    measure_bootstrap (router);
  else if (g_str_equal (metric, "rtt") || g_str_equal (metric, "pipelined") || g_str_equal (metric, "bulk"))
    {
      g_autoptr(MitogenContext) context = start_child (router, NULL);

      if (g_str_equal (metric, "rtt"))
        measure_round_trips (context, "call_rtt_us");
      else if (g_str_equal (metric, "pipelined"))
        measure_pipelined (context);
      else
        measure_bulk (router, context);
    }
  else if (g_str_equal (metric, "via3"))
    {
      g_autoptr(MitogenContext) first = start_child (router, NULL);
      g_autoptr(MitogenContext) second = start_child (router, first);
      g_autoptr(MitogenContext) third = start_child (router, second);

      measure_round_trips (third, "via3_rtt_us");
    }
  else if (g_str_equal (metric, "fanout"))
    measure_fanout (router);
  else if (g_str_equal (metric, "master-memory"))
    measure_master_memory (router);
  else if (g_str_equal (metric, "idle-rss"))
    measure_idle_rss (router);
  else if (g_str_equal (metric, "bootstrap-bytes"))
    measure_bootstrap_bytes (router);
  else
    {
      g_printerr ("mitogen-glib-bench: unknown metric %s\n", metric);
      return 2;
    }

  finish_router (router);
  return EXIT_SUCCESS;
}
