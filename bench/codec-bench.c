/* codec-bench.c: pickle codec throughput, next to CPython's C pickle
 *
 * SPDX-License-Identifier: BSD-3-Clause
 *
 * Builds two values (random bytes, and a list of small dicts), times
 * mitogen_pickle_encode() and mitogen_pickle_decode() on them (median of
 * --reps runs), then runs bench/codec_bench.py under --python, which times
 * pickle.dumps/pickle.loads and mitogen's restricted unpickler on the same
 * data, and prints one markdown table plus JSON lines. See bench/README.md.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib/gstdio.h>
#include <mitogen-glib.h>

#ifndef CODEC_BENCH_SCRIPT
# define CODEC_BENCH_SCRIPT "codec_bench.py"
#endif

typedef struct
{
  char   *impl;
  char   *kase;
  char   *op;
  char   *method;
  double  ms;
  gint64  payload_bytes;  /* -1: not applicable */
  gint64  pickle_bytes;
  int     reps;
} Result;

static void
result_free (gpointer p)
{
  Result *r = p;

  g_free (r->impl);
  g_free (r->kase);
  g_free (r->op);
  g_free (r->method);
  g_free (r);
}

static GPtrArray *results;  /* (element-type Result) */
static guint failures;      /* codec calls that failed or decoded wrongly */

static void
add_result (const char *impl,
            const char *kase,
            const char *op,
            const char *method,
            double      ms,
            gint64      payload_bytes,
            gint64      pickle_bytes,
            int         reps)
{
  Result *r;

  if (ms < 0)  /* the measurement failed, already reported */
    return;
  r = g_new0 (Result, 1);
  r->impl = g_strdup (impl);
  r->kase = g_strdup (kase);
  r->op = g_strdup (op);
  r->method = g_strdup (method);
  r->ms = ms;
  r->payload_bytes = payload_bytes;
  r->pickle_bytes = pickle_bytes;
  r->reps = reps;
  g_ptr_array_add (results, r);
}

static const Result *
find_result (const char *impl,
             const char *kase,
             const char *method)
{
  for (guint i = 0; i < results->len; i++)
    {
      const Result *r = g_ptr_array_index (results, i);

      if (g_str_equal (r->impl, impl) && g_str_equal (r->kase, kase) &&
          g_str_equal (r->method, method))
        return r;
    }
  return NULL;
}

/* --------------------------------------------------------------------------
 * Timing
 */

static double
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
compare_doubles (const void *a,
                 const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static double
median (double *v,
        int     n)
{
  qsort (v, n, sizeof *v, compare_doubles);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef GVariant *(*BuildFunc) (guint n);

/* Encodes @reps times; returns the median in ms and the last pickle. With
 * @rebuild, every run gets a fresh value from rebuild (@n), built outside
 * the timed region: GVariant serialises a tree-form value in place the
 * first time its data is asked for, and the median would hide that cost,
 * which a value built once and sent once pays in full. */
static double
time_encode (GVariant            *value,
             BuildFunc            rebuild,
             guint                n,
             MitogenPickleFlags   flags,
             int                  reps,
             GBytes             **pickle_out)
{
  g_autofree double *t = g_new (double, reps);
  g_autoptr(GError) error = NULL;

  for (int i = 0; i < reps; i++)
    {
      g_autoptr(GVariant) fresh = rebuild != NULL ? rebuild (n) : g_variant_ref (value);
      double t0 = now_ms ();
      GBytes *pickle = mitogen_pickle_encode (fresh, flags, &error);

      t[i] = now_ms () - t0;
      if (pickle == NULL)
        {
          g_printerr ("codec-bench: mitogen_pickle_encode (%s, flags %d) failed: %s\n",
                      g_variant_get_type_string (fresh), flags, error->message);
          failures++;
          g_clear_pointer (pickle_out, g_bytes_unref);
          return -1;
        }
      /* freed outside the timed region and before the next run, as
       * codec_bench.py does: the allocator gets the same chance to reuse
       * memory on both sides */
      g_clear_pointer (pickle_out, g_bytes_unref);
      *pickle_out = pickle;
      if (i < reps - 1)
        g_clear_pointer (pickle_out, g_bytes_unref);
    }
  return median (t, reps);
}

static double
time_decode (const char *what,
             GBytes     *pickle,
             GVariant   *expected,
             int         reps)
{
  g_autofree double *t = g_new (double, reps);
  g_autoptr(GError) error = NULL;

  for (int i = 0; i < reps; i++)
    {
      double t0 = now_ms ();
      GVariant *value = mitogen_pickle_decode (pickle, &error);

      t[i] = now_ms () - t0;
      if (value == NULL)
        {
          g_printerr ("codec-bench: mitogen_pickle_decode (%s) failed: %s\n",
                      what, error->message);
          failures++;
          return -1;
        }
      g_variant_take_ref (value);  /* (transfer full), never floating */
      /* a fast wrong answer is no answer */
      if (i == 0 && !g_variant_equal (value, expected))
        {
          g_printerr ("codec-bench: mitogen_pickle_decode (%s) returned a different "
                      "value (type %s, expected %s)\n", what,
                      g_variant_get_type_string (value),
                      g_variant_get_type_string (expected));
          g_variant_unref (value);
          failures++;
          return -1;
        }
      g_variant_unref (value);
    }
  return median (t, reps);
}

static GBytes *
bench_encode (const char         *kase,
              const char         *method,
              GVariant           *value,
              BuildFunc           rebuild,
              guint               n,
              MitogenPickleFlags  flags,
              gint64              payload_bytes,
              int                 reps)
{
  GBytes *pickle = NULL;
  double ms = time_encode (value, rebuild, n, flags, reps, &pickle);

  if (ms >= 0)
    add_result ("mitogen-glib", kase, "encode", method, ms, payload_bytes,
                g_bytes_get_size (pickle), reps);
  return pickle;
}

static void
bench_decode (const char *kase,
              const char *method,
              GBytes     *pickle,
              GVariant   *expected,
              gint64      payload_bytes,
              int         reps)
{
  double ms;

  if (pickle == NULL)  /* its encode failed */
    return;
  {
    g_autofree char *what = g_strdup_printf ("%s %s", kase, method);

    ms = time_decode (what, pickle, expected, reps);
  }
  add_result ("mitogen-glib", kase, "decode", method, ms, payload_bytes,
              g_bytes_get_size (pickle), reps);
}

/* --------------------------------------------------------------------------
 * Data
 */

static GVariant *
build_bytes (gsize size)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (0x6d69746f);
  guint8 *buf = g_malloc (size);

  for (gsize i = 0; i < size; i += 4)
    {
      guint32 r = g_rand_int (rand);

      memcpy (buf + i, &r, MIN (4, size - i));
    }
  return g_variant_ref_sink (g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING,
                                                      buf, size, TRUE, g_free, buf));
}

/* Must match make_dicts() in codec_bench.py. */
static GVariant *
build_dicts (guint n)
{
  GVariantBuilder list;

  g_variant_builder_init (&list, G_VARIANT_TYPE ("av"));
  for (guint i = 0; i < n; i++)
    {
      GVariantBuilder dict;
      g_autofree char *name = g_strdup_printf ("item%u", i);

      g_variant_builder_init (&dict, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&dict, "{sv}", "id", g_variant_new_int64 (i));
      g_variant_builder_add (&dict, "{sv}", "name", g_variant_new_string (name));
      g_variant_builder_add (&dict, "{sv}", "ok", g_variant_new_boolean (TRUE));
      g_variant_builder_add (&dict, "{sv}", "score", g_variant_new_double (i * 0.5));
      g_variant_builder_add (&list, "v", g_variant_builder_end (&dict));
    }
  return g_variant_ref_sink (g_variant_builder_end (&list));
}

static void
write_file (const char *dir,
            const char *name,
            GBytes     *bytes)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  if (!g_file_set_contents (path, data != NULL ? data : "", len, &error))
    g_error ("%s", error->message);
}

static GBytes *
read_file (const char *dir,
           const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;
  char *data;
  gsize len;

  if (!g_file_get_contents (path, &data, &len, &error))
    g_error ("%s", error->message);
  return g_bytes_new_take (data, len);
}

/* --------------------------------------------------------------------------
 * The Python side
 */

static char *python_info;
static char *python_skip;   /* what the Python side could not measure */

/* Parses the flat JSON objects codec_bench.py prints. */
static void
parse_python_line (const char *line)
{
  g_autoptr(GRegex) re = NULL;
  g_autoptr(GMatchInfo) match = NULL;
  g_autoptr(GHashTable) fields = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  const char *v;

  re = g_regex_new ("\"(\\w+)\": (?:\"((?:[^\"\\\\]|\\\\.)*)\"|([-+0-9.eE]+|null))",
                    0, 0, NULL);
  g_regex_match (re, line, 0, &match);
  while (g_match_info_matches (match))
    {
      char *key = g_match_info_fetch (match, 1);
      char *str = g_match_info_fetch (match, 2);
      char *num = g_match_info_fetch (match, 3);

      g_hash_table_insert (fields, key, *str != '\0' || num == NULL || *num == '\0'
                                        ? g_steal_pointer (&str) : g_steal_pointer (&num));
      g_free (str);
      g_free (num);
      g_match_info_next (match, NULL);
    }

  if ((v = g_hash_table_lookup (fields, "info")) != NULL)
    {
      g_free (python_info);
      python_info = g_strdup (v);
      return;
    }
  if ((v = g_hash_table_lookup (fields, "skip")) != NULL)
    {
      g_printerr ("codec_bench.py: %s\n", v);
      g_free (python_skip);
      python_skip = g_strdup (v);
      return;
    }
  if (g_hash_table_lookup (fields, "ms") == NULL)
    return;
  v = g_hash_table_lookup (fields, "payload_bytes");
  add_result ("python",
              g_hash_table_lookup (fields, "case"),
              g_hash_table_lookup (fields, "op"),
              g_hash_table_lookup (fields, "method"),
              g_ascii_strtod (g_hash_table_lookup (fields, "ms"), NULL),
              v == NULL || g_str_equal (v, "null") ? -1 : g_ascii_strtoll (v, NULL, 10),
              g_ascii_strtoll (g_hash_table_lookup (fields, "pickle_bytes"), NULL, 10),
              atoi (g_hash_table_lookup (fields, "reps")));
}

/* Returns the exit status of the script, 127 if it could not start. */
static int
run_python (const char *python,
            const char *script,
            const char *dir,
            guint       n_dicts,
            int         reps)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GBytes) out = NULL;
  g_autofree char *n_s = g_strdup_printf ("%u", n_dicts);
  g_autofree char *reps_s = g_strdup_printf ("%d", reps);
  g_auto(GStrv) lines = NULL;
  const char *argv[] = { python, script, "--dir", dir, "--dicts", n_s, "--reps", reps_s, NULL };
  gsize len;
  const char *data;

  /* stderr is inherited: a traceback goes straight to the user */
  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  if (proc == NULL || !g_subprocess_communicate (proc, NULL, NULL, &out, NULL, &error))
    {
      g_printerr ("codec-bench: cannot run %s %s: %s\n", python, script, error->message);
      return 127;
    }
  data = g_bytes_get_data (out, &len);
  {
    g_autofree char *text = g_strndup (data != NULL ? data : "", len);

    lines = g_strsplit (text, "\n", -1);
  }
  for (guint i = 0; lines[i] != NULL; i++)
    if (lines[i][0] == '{')
      parse_python_line (lines[i]);
  return g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : 1;
}

/* --------------------------------------------------------------------------
 * Report
 */

typedef struct
{
  const char *kase;
  const char *op;
  const char *glib_method;
  const char *glib_label;
  const char *python_method;  /* NULL: no Python counterpart */
  const char *python_label;
} Row;

static const Row rows[] = {
  { "bytes", "encode", "encode", "BINBYTES (flags NONE)",
    "dumps-p4", "pickle.dumps(protocol=4): BINBYTES" },
  { "bytes", "encode", "encode-codecs", "_codecs.encode (BYTES_VIA_CODECS)",
    "dumps-p2", "pickle.dumps(protocol=2): _codecs.encode" },
  { "bytes", "encode", "encode-binstring", "BINSTRING (BYTES_AS_STRING)", NULL, NULL },
  { "bytes", "decode", "decode-own", "own BINBYTES pickle",
    "loads-p4", "pickle.loads, protocol 4 pickle" },
  { "bytes", "decode", "decode-own", "own BINBYTES pickle",
    "mitogen-glib", "mitogen Message.unpickle, same pickle" },
  { "bytes", "decode", "decode-python-p2", "Python's protocol 2 pickle",
    "loads-p2", "pickle.loads, same pickle" },
  { "bytes", "decode", "decode-python-p2", "Python's protocol 2 pickle",
    "mitogen-p2", "mitogen Message.unpickle, same pickle" },
  { "dicts", "encode", "encode", "flags NONE",
    "dumps-p2", "pickle.dumps(protocol=2)" },
  { "dicts", "encode", "encode", "flags NONE",
    "dumps-p4", "pickle.dumps(protocol=4)" },
  { "dicts", "encode", "encode-serialised", "flags NONE, serialised input",
    "dumps-p2", "pickle.dumps(protocol=2)" },
  { "dicts", "decode", "decode-own", "own pickle",
    "mitogen-glib", "mitogen Message.unpickle, same pickle" },
  { "dicts", "decode", "decode-python-p2", "Python's protocol 2 pickle",
    "loads-p2", "pickle.loads, same pickle" },
  { "dicts", "decode", "decode-python-p2", "Python's protocol 2 pickle",
    "mitogen-p2", "mitogen Message.unpickle, same pickle" },
  { "dicts", "decode", "decode-python-p4", "Python's protocol 4 pickle",
    "loads-p4", "pickle.loads, same pickle" },
};

/* MB/s (10^6 bytes): of the payload for raw bytes, of the pickle read or
 * written for structured data (its pickle is all there is to measure). */
static double
mb_per_s (const Result *r)
{
  gint64 size = r->payload_bytes >= 0 ? r->payload_bytes : r->pickle_bytes;

  return r->ms > 0 ? size / (r->ms * 1e3) : 0;
}

static void
print_result_json (const Result *r)
{
  char ms[G_ASCII_DTOSTR_BUF_SIZE];
  g_autofree char *payload = r->payload_bytes >= 0
                             ? g_strdup_printf ("%" G_GINT64_FORMAT, r->payload_bytes)
                             : g_strdup ("null");

  g_ascii_formatd (ms, sizeof ms, "%.4f", r->ms);
  g_print ("{\"impl\": \"%s\", \"case\": \"%s\", \"op\": \"%s\", \"method\": \"%s\", "
           "\"ms\": %s, \"payload_bytes\": %s, \"pickle_bytes\": %" G_GINT64_FORMAT ", "
           "\"mb_per_s\": %.1f, \"reps\": %d}\n",
           r->impl, r->kase, r->op, r->method, ms, payload, r->pickle_bytes,
           mb_per_s (r), r->reps);
}

static void
print_report (gsize  bytes_size,
              guint  n_dicts,
              int    reps)
{
  g_print ("## mitogen-glib pickle codec vs CPython pickle\n\n");
  g_print ("GLib %u.%u.%u; %s; bytes: %" G_GSIZE_FORMAT " random bytes; dicts: a list of %u "
           "{'id': i, 'name': 'item%%d' %% i, 'ok': True, 'score': i * 0.5}; "
           "median of %d runs. MB/s = 10^6 bytes/s of payload (bytes) or of "
           "pickle (dicts); speed-up = python ms / mitogen-glib ms.\n\n",
           glib_major_version, glib_minor_version, glib_micro_version,
           python_info != NULL ? python_info : "python: not run",
           bytes_size, n_dicts, reps);
  g_print ("| case | op | mitogen-glib | MB/s | ms | python | MB/s | ms | speed-up |\n");
  g_print ("|---|---|---|---:|---:|---|---:|---:|---:|\n");
  for (gsize i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      const Row *row = &rows[i];
      const Result *g = find_result ("mitogen-glib", row->kase, row->glib_method);
      const Result *p = row->python_method != NULL
                        ? find_result ("python", row->kase, row->python_method) : NULL;

      if (g == NULL)
        continue;
      /* a zero-copy decode takes microseconds whatever the size: a
       * throughput figure would be noise */
      if (mb_per_s (g) > 1e6)
        g_print ("| %s | %s | %s | > 10^6 | %.3f |", row->kase, row->op, row->glib_label,
                 g->ms);
      else
        g_print ("| %s | %s | %s | %.0f | %.3f |", row->kase, row->op, row->glib_label,
                 mb_per_s (g), g->ms);
      if (p != NULL)
        g_print (" %s | %.0f | %.3f | %.2fx |\n", row->python_label, mb_per_s (p), p->ms,
                 g->ms > 0 ? p->ms / g->ms : 0);
      else
        g_print (" %s | | | |\n", row->python_label != NULL ? row->python_label : "-");
    }

  {
    const Result *enc = find_result ("mitogen-glib", "bytes", "encode");
    const Result *dec = find_result ("mitogen-glib", "bytes", "decode-own");
    const Result *denc = find_result ("mitogen-glib", "dicts", "encode");
    const Result *ddec = find_result ("mitogen-glib", "dicts", "decode-python-p2");
    const Result *pdumps = find_result ("python", "dicts", "dumps-p2");
    const Result *ploads = find_result ("python", "dicts", "loads-p2");

    g_print ("\nTargets%s:\n", reps == 1 ? " (one run on tiny data: meaningless)" : "");
    if (enc != NULL && dec != NULL)
      g_print ("- bytes >= 2 GB/s both ways: encode %.0f MB/s, decode %.0f MB/s: %s\n",
               mb_per_s (enc), mb_per_s (dec),
               mb_per_s (enc) >= 2000 && mb_per_s (dec) >= 2000 ? "met" : "NOT met");
    if (denc != NULL && pdumps != NULL)
      g_print ("- dicts encode no slower than pickle.dumps(protocol=2): %.2f ms vs %.2f ms: %s\n",
               denc->ms, pdumps->ms, denc->ms <= pdumps->ms ? "met" : "NOT met");
    if (ddec != NULL && ploads != NULL)
      g_print ("- dicts decode no slower than pickle.loads (same protocol 2 pickle): "
               "%.2f ms vs %.2f ms: %s\n",
               ddec->ms, ploads->ms, ddec->ms <= ploads->ms ? "met" : "NOT met");
  }

  g_print ("\nJSON lines:\n\n");
  for (guint i = 0; i < results->len; i++)
    print_result_json (g_ptr_array_index (results, i));
}

/* --------------------------------------------------------------------------
 */

int
main (int    argc,
      char **argv)
{
  gboolean smoke = FALSE;
  char *python = NULL;
  char *script = NULL;
  int reps = 7;
  int bytes_mib = 16;
  int n_dicts = 100000;
  GOptionEntry entries[] = {
    { "smoke", 0, 0, G_OPTION_ARG_NONE, &smoke, "One run on tiny data: check that everything runs", NULL },
    { "python", 0, 0, G_OPTION_ARG_FILENAME, &python, "Python interpreter (default /usr/bin/python3)", "PATH" },
    { "script", 0, 0, G_OPTION_ARG_FILENAME, &script, "codec_bench.py to run (default: the source tree's)", "PATH" },
    { "reps", 0, 0, G_OPTION_ARG_INT, &reps, "Runs per measurement; the median is reported (default 7)", "N" },
    { "bytes-mib", 0, 0, G_OPTION_ARG_INT, &bytes_mib, "Size of the random bytes in MiB (default 16)", "N" },
    { "dicts", 0, 0, G_OPTION_ARG_INT, &n_dicts, "Length of the list of dicts (default 100000)", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- pickle codec throughput vs CPython");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) bytes_value = NULL;
  g_autoptr(GVariant) dicts_value = NULL;
  g_autoptr(GBytes) bytes_pickle = NULL;
  g_autoptr(GBytes) bytes_codecs = NULL;
  g_autoptr(GBytes) bytes_binstring = NULL;
  g_autoptr(GBytes) dicts_pickle = NULL;
  g_autofree char *dir = NULL;
  gsize bytes_size;
  int status;
  int ret = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("codec-bench: %s\n", error->message);
      return 2;
    }
  if (smoke)
    {
      reps = 1;
      bytes_mib = 0;  /* 64 KiB below */
      n_dicts = 100;
    }
  if (reps < 1 || bytes_mib < 0 || n_dicts < 0)
    {
      g_printerr ("codec-bench: --reps must be >= 1, sizes >= 0\n");
      return 2;
    }
  if (python == NULL)
    python = g_strdup ("/usr/bin/python3");
  if (script == NULL)
    script = g_strdup (CODEC_BENCH_SCRIPT);
  bytes_size = smoke ? 64 * 1024 : (gsize) bytes_mib * 1024 * 1024;

  results = g_ptr_array_new_with_free_func (result_free);
  dir = g_dir_make_tmp ("mitogen-codec-bench-XXXXXX", &error);
  if (dir == NULL)
    g_error ("%s", error->message);

  bytes_value = build_bytes (bytes_size);
  dicts_value = build_dicts (n_dicts);

  /* Encode first: the pickles go to codec_bench.py, which times mitogen's
   * unpickler on them. */
  bytes_pickle = bench_encode ("bytes", "encode", bytes_value, NULL, 0,
                               MITOGEN_PICKLE_FLAGS_NONE, bytes_size, reps);
  bytes_codecs = bench_encode ("bytes", "encode-codecs", bytes_value, NULL, 0,
                               MITOGEN_PICKLE_FLAGS_BYTES_VIA_CODECS, bytes_size, reps);
  bytes_binstring = bench_encode ("bytes", "encode-binstring", bytes_value, NULL, 0,
                                  MITOGEN_PICKLE_FLAGS_BYTES_AS_STRING, bytes_size, reps);
  dicts_pickle = bench_encode ("dicts", "encode", NULL, build_dicts, n_dicts,
                               MITOGEN_PICKLE_FLAGS_NONE, -1, reps);
  {
    /* The same value in serialised form, as a decoded or received value
     * is (GVariantBuilder makes a tree of GVariants instead). */
    g_autoptr(GBytes) data = g_variant_get_data_as_bytes (dicts_value);
    g_autoptr(GVariant) serialised = g_variant_ref_sink (
      g_variant_new_from_bytes (g_variant_get_type (dicts_value), data, TRUE));
    g_autoptr(GBytes) pickle = bench_encode ("dicts", "encode-serialised", serialised,
                                             NULL, 0, MITOGEN_PICKLE_FLAGS_NONE, -1, reps);
  }

  {
    g_autoptr(GBytes) payload = g_variant_get_data_as_bytes (bytes_value);

    write_file (dir, "bytes.bin", payload);
  }
  if (bytes_pickle != NULL)
    write_file (dir, "glib-bytes.pickle", bytes_pickle);
  if (dicts_pickle != NULL)
    write_file (dir, "glib-dicts.pickle", dicts_pickle);

  status = run_python (python, script, dir, n_dicts, reps);

  bench_decode ("bytes", "decode-own", bytes_pickle, bytes_value, bytes_size, reps);
  bench_decode ("dicts", "decode-own", dicts_pickle, dicts_value, -1, reps);
  if (status == 0)
    {
      static const struct { const char *kase; const char *file; const char *method; } py[] = {
        { "bytes", "python-bytes-p2.pickle", "decode-python-p2" },
        { "bytes", "python-bytes-p4.pickle", "decode-python-p4" },
        { "dicts", "python-dicts-p2.pickle", "decode-python-p2" },
        { "dicts", "python-dicts-p4.pickle", "decode-python-p4" },
      };

      for (gsize i = 0; i < G_N_ELEMENTS (py); i++)
        {
          g_autoptr(GBytes) pickle = read_file (dir, py[i].file);
          gboolean is_bytes = g_str_equal (py[i].kase, "bytes");

          bench_decode (py[i].kase, py[i].method, pickle,
                        is_bytes ? bytes_value : dicts_value,
                        is_bytes ? (gint64) bytes_size : -1, reps);
        }
    }

  print_report (bytes_size, n_dicts, reps);

  {
    static const char *files[] = {
      "bytes.bin", "glib-bytes.pickle", "glib-dicts.pickle",
      "python-bytes-p2.pickle", "python-bytes-p4.pickle",
      "python-dicts-p2.pickle", "python-dicts-p4.pickle",
    };

    for (gsize i = 0; i < G_N_ELEMENTS (files); i++)
      {
        g_autofree char *path = g_build_filename (dir, files[i], NULL);

        g_unlink (path);
      }
    g_rmdir (dir);
  }
  if (failures > 0)
    {
      g_printerr ("codec-bench: %u codec calls failed\n", failures);
      ret = 1;
    }
  else if (status == 127)
    {
      /* no interpreter: the smoke test is skipped, not failed */
      g_printerr ("codec-bench: the Python side did not run\n");
      ret = smoke ? 77 : 1;
    }
  else if (status != 0)
    {
      g_printerr ("codec-bench: %s exited with status %d\n", script, status);
      ret = 1;
    }
  else if (smoke && python_skip != NULL)
    {
      /* like the conformance test: an incomplete test interpreter skips */
      g_printerr ("codec-bench: skipped: %s\n", python_skip);
      ret = 77;
    }
  else if (smoke)
    {
      /* "everything ran": every comparison of the table has both sides */
      for (gsize i = 0; i < G_N_ELEMENTS (rows); i++)
        if (find_result ("mitogen-glib", rows[i].kase, rows[i].glib_method) == NULL ||
            (rows[i].python_method != NULL &&
             find_result ("python", rows[i].kase, rows[i].python_method) == NULL))
          {
            g_printerr ("codec-bench: no result for %s %s (%s / %s)\n", rows[i].kase,
                        rows[i].op, rows[i].glib_method,
                        rows[i].python_method != NULL ? rows[i].python_method : "-");
            ret = 1;
          }
    }

  g_ptr_array_unref (results);
  g_free (python_info);
  g_free (python_skip);
  g_free (python);
  g_free (script);
  return ret;
}
