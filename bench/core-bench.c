/* core-bench.c: bootstrap time, call round trip and pipelined calls per
 * second for a local child, next to Mitogen 0.3.3 on the same machine in
 * the same run. A quick report for the core; bench/ has the full suite.
 *
 * Usage: core-bench [--python PATH] [--reference-python PATH] [--smoke]
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mitogen-glib.h>

#define UPSTREAM_CORE "/usr/lib/python3/dist-packages/mitogen/core.py"

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static double
median (GArray *values)
{
  g_array_sort (values, compare_doubles);
  return g_array_index (values, double, values->len / 2);
}

typedef struct
{
  GMainLoop *loop;
  guint remaining;
  gboolean failed;
} Pipeline;

static void
pipelined_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Pipeline *pipeline = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = mitogen_context_call_finish (MITOGEN_CONTEXT (source), result, &error);

  if (value == NULL)
    pipeline->failed = TRUE;
  if (--pipeline->remaining == 0)
    g_main_loop_quit (pipeline->loop);
}

static gboolean
measure (const char *label,
         const char *python,
         const char *upstream_core,
         guint       bootstraps,
         guint       round_trips,
         guint       pipelined)
{
  g_autoptr(MitogenRouter) router = mitogen_router_new (NULL);
  g_autoptr(MitogenConnectionOptions) options = mitogen_connection_options_new ();
  g_autoptr(GArray) boot_ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) rtt_us = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(MitogenContext) context = NULL;
  g_autoptr(GError) error = NULL;
  Pipeline pipeline = { 0 };
  gint64 start;
  double calls_per_s;

  mitogen_connection_options_set_python_path (options, python);
  mitogen_connection_options_set_upstream_core_path (options, upstream_core);

  for (guint i = 0; i < bootstraps; i++)
    {
      g_autoptr(MitogenContext) fresh = NULL;
      g_autoptr(GVariant) pid = NULL;
      double ms;

      start = g_get_monotonic_time ();
      fresh = mitogen_router_local (router, options, NULL, &error);
      if (fresh != NULL)
        pid = mitogen_context_call_sync (fresh, "os", NULL, "getpid", NULL, NULL, 30 * G_USEC_PER_SEC, NULL, &error);
      if (pid == NULL)
        {
          g_printerr ("%s: %s\n", label, error->message);
          return FALSE;
        }
      ms = (g_get_monotonic_time () - start) / 1000.0;
      g_array_append_val (boot_ms, ms);
      if (i + 1 < bootstraps)
        mitogen_context_shutdown (fresh);
      else
        context = g_steal_pointer (&fresh);
    }

  for (guint i = 0; i < round_trips; i++)
    {
      g_autoptr(GVariant) value = NULL;
      double us;

      start = g_get_monotonic_time ();
      value = mitogen_context_call_sync (context, "os", NULL, "getpid", NULL, NULL, 30 * G_USEC_PER_SEC, NULL, &error);
      if (value == NULL)
        {
          g_printerr ("%s: %s\n", label, error->message);
          return FALSE;
        }
      us = (double) (g_get_monotonic_time () - start);
      g_array_append_val (rtt_us, us);
    }

  pipeline.loop = g_main_loop_new (NULL, FALSE);
  pipeline.remaining = pipelined;
  start = g_get_monotonic_time ();
  for (guint i = 0; i < pipelined; i++)
    mitogen_context_call_async (context, "os", NULL, "getpid", NULL, NULL, NULL, pipelined_done, &pipeline);
  g_main_loop_run (pipeline.loop);
  calls_per_s = pipelined / ((g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC);
  g_main_loop_unref (pipeline.loop);

  g_print ("| %-28s | %8.1f | %8.1f | %9.0f |\n", label, median (boot_ms), median (rtt_us), calls_per_s);
  g_print ("{\"impl\": \"%s\", \"bootstrap_ms\": %.2f, \"call_rtt_us\": %.1f, \"calls_per_s\": %.0f}\n",
           label, median (boot_ms), median (rtt_us), calls_per_s);

  mitogen_router_shutdown (router);
  mitogen_broker_join (mitogen_router_get_broker (router), 10 * G_USEC_PER_SEC);
  return !pipeline.failed;
}

/* Mitogen 0.3.3 itself, driven by its own Python master. */
static const char reference_program[] =
  "import json, os, sys, time\n"
  "import mitogen.master\n"
  "boots, rtts, pipelined = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])\n"
  "broker = mitogen.master.Broker()\n"
  "router = mitogen.master.Router(broker)\n"
  "boot = []\n"
  "for i in range(boots):\n"
  "    t = time.perf_counter()\n"
  "    c = router.local(python_path=sys.executable)\n"
  "    c.call(os.getpid)\n"
  "    boot.append((time.perf_counter() - t) * 1e3)\n"
  "    if i + 1 < boots: c.shutdown(wait=True)\n"
  "rtt = []\n"
  "for i in range(rtts):\n"
  "    t = time.perf_counter()\n"
  "    c.call(os.getpid)\n"
  "    rtt.append((time.perf_counter() - t) * 1e6)\n"
  "t = time.perf_counter()\n"
  "recvs = [c.call_async(os.getpid) for i in range(pipelined)]\n"
  "for r in recvs: r.get().unpickle()\n"
  "cps = pipelined / (time.perf_counter() - t)\n"
  "boot.sort(); rtt.sort()\n"
  "print(json.dumps({'impl': 'mitogen 0.3.3', 'bootstrap_ms': boot[len(boot)//2],\n"
  "                  'call_rtt_us': rtt[len(rtt)//2], 'calls_per_s': cps}))\n"
  "broker.shutdown(); broker.join()\n";

static gboolean
measure_reference (const char *python,
                   guint       bootstraps,
                   guint       round_trips,
                   guint       pipelined)
{
  g_autofree char *boots_text = g_strdup_printf ("%u", bootstraps);
  g_autofree char *rtts_text = g_strdup_printf ("%u", round_trips);
  g_autofree char *pipelined_text = g_strdup_printf ("%u", pipelined);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  const char *argv[] = { python, "-c", reference_program, boots_text, rtts_text, pipelined_text, NULL };
  int status;
  double boot, rtt, cps;
  const char *json;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error) ||
      !g_spawn_check_wait_status (status, &error))
    {
      g_printerr ("mitogen 0.3.3: %s\n%s\n", error->message, err ? err : "");
      return FALSE;
    }
  json = strstr (out, "{");
  if (json == NULL ||
      sscanf (json, "{\"impl\": \"mitogen 0.3.3\", \"bootstrap_ms\": %lf, \"call_rtt_us\": %lf, \"calls_per_s\": %lf",
              &boot, &rtt, &cps) != 3)
    {
      g_printerr ("mitogen 0.3.3: unexpected output: %s\n", out);
      return FALSE;
    }
  g_print ("| %-28s | %8.1f | %8.1f | %9.0f |\n", "mitogen 0.3.3 (Python master)", boot, rtt, cps);
  g_print ("%s", json);
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autofree char *python = NULL;
  g_autofree char *reference_python = NULL;
  gboolean smoke = FALSE;
  GOptionEntry entries[] = {
    { "python", 0, 0, G_OPTION_ARG_FILENAME, &python, "Interpreter for mitogen-glib's children (default python3)", "PATH" },
    { "reference-python", 0, 0, G_OPTION_ARG_FILENAME, &reference_python, "Interpreter with python3-mitogen (default /usr/bin/python3)", "PATH" },
    { "smoke", 0, 0, G_OPTION_ARG_NONE, &smoke, "One quick pass, to check the harness", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("- core benchmark");
  g_autoptr(GError) error = NULL;
  guint bootstraps, round_trips, pipelined;
  gboolean ok = TRUE;
  gboolean have_upstream = g_file_test (UPSTREAM_CORE, G_FILE_TEST_EXISTS);

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (python == NULL)
    python = g_strdup ("python3");
  if (reference_python == NULL)
    reference_python = g_strdup ("/usr/bin/python3");
  bootstraps = smoke ? 1 : 20;
  round_trips = smoke ? 10 : 2000;
  pipelined = smoke ? 50 : 5000;

  g_print ("| implementation               | boot ms  | rtt us   | calls/s   |\n");
  g_print ("|------------------------------|----------|----------|-----------|\n");
  ok &= measure ("mitogen-glib, own child", python, NULL, bootstraps, round_trips, pipelined);
  if (have_upstream)
    {
      ok &= measure ("mitogen-glib, upstream child", reference_python, UPSTREAM_CORE,
                     bootstraps, round_trips, pipelined);
      ok &= measure_reference (reference_python, bootstraps, round_trips, pipelined);
    }
  else
    g_print ("(python3-mitogen not installed: upstream rows skipped)\n");

  return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
