/* test-pickle-conformance.c: the pickle codec against mitogen 0.3.3 itself
 *
 * SPDX-License-Identifier: BSD-3-Clause
 *
 * Python -> C: tests/conformance/make_corpus.py (run with
 * $MITOGEN_TEST_PYTHON) writes pickles made by CPython (protocols 2-5), by
 * mitogen 0.3.3 (Message.pickled), by a Python 2.7-style pickler and by
 * hand, each with the GVariant mitogen_pickle_decode() must return, or the
 * error it must raise. One test per case: /pickle-conformance/decode/NAME.
 *
 * C -> Python: every value of that corpus, plus values only GVariant can
 * express, is encoded under each MitogenPickleFlags mode and handed to
 * tests/conformance/check_encoded.py, which reads the pickles with mitogen's
 * restricted unpickler and compares them with the values it rebuilds from
 * the GVariants. One test per mode: /pickle-conformance/encode/MODE.
 *
 * The corpus framing is described in tests/conformance/corpus.py.
 */

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>
#include <mitogen-glib.h>

#define CORPUS_MAGIC "MGPCORPUS1\n"
#define SCRIPT_TIMEOUT_SECONDS 60

typedef struct
{
  char   *name;
  char   *flags;
  GBytes *pickle;
  char   *expect;
  GBytes *data;
} CorpusRecord;

static void
corpus_record_free (gpointer p)
{
  CorpusRecord *rec = p;

  g_free (rec->name);
  g_free (rec->flags);
  g_clear_pointer (&rec->pickle, g_bytes_unref);
  g_free (rec->expect);
  g_clear_pointer (&rec->data, g_bytes_unref);
  g_free (rec);
}

/* Set up in main(), before the tests are registered. */
static char *tmp_dir;
static GPtrArray *corpus;       /* (element-type CorpusRecord) */
static char *setup_skip_reason;
static char *setup_failure;

static const char *
test_python (void)
{
  const char *python = g_getenv ("MITOGEN_TEST_PYTHON");

  return python != NULL && *python != '\0' ? python : "/usr/bin/python3";
}

/* --------------------------------------------------------------------------
 * Running the Python scripts
 */

typedef struct
{
  GBytes   *output;
  GError   *error;
  gboolean  done;
  gboolean  timed_out;
} RunState;

static void
run_communicate_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  RunState *state = user_data;

  g_subprocess_communicate_finish (G_SUBPROCESS (source), result,
                                   &state->output, NULL, &state->error);
  state->done = TRUE;
}

static gboolean
run_timeout_cb (gpointer user_data)
{
  GSubprocess *proc = user_data;

  /* communicate() completes once the killed process closes its pipe */
  g_subprocess_force_exit (proc);
  return G_SOURCE_REMOVE;
}

/* Run argv with stdout and stderr merged into *output; a script that does
 * not finish within the timeout is killed. Returns FALSE if it could not
 * run at all. *exit_status is -1 when it did not exit normally. */
static gboolean
run_script (const char * const  *argv,
            char               **output,
            int                 *exit_status,
            GError             **error)
{
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GSource) timeout = NULL;
  RunState state = { NULL, NULL, FALSE, FALSE };
  gsize len = 0;
  const char *out;

  proc = g_subprocess_newv (argv,
                            G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                            G_SUBPROCESS_FLAGS_STDERR_MERGE,
                            error);
  if (proc == NULL)
    return FALSE;

  g_main_context_push_thread_default (context);
  timeout = g_timeout_source_new_seconds (SCRIPT_TIMEOUT_SECONDS);
  g_source_set_callback (timeout, run_timeout_cb, proc, NULL);
  g_source_attach (timeout, context);
  g_subprocess_communicate_async (proc, NULL, NULL, run_communicate_cb, &state);
  while (!state.done)
    g_main_context_iteration (context, TRUE);
  state.timed_out = g_source_is_destroyed (timeout);
  g_source_destroy (timeout);
  g_main_context_pop_thread_default (context);

  if (state.error != NULL)
    {
      g_propagate_error (error, state.error);
      g_clear_pointer (&state.output, g_bytes_unref);
      return FALSE;
    }

  g_subprocess_wait (proc, NULL, NULL);
  out = g_bytes_get_data (state.output, &len);
  *output = g_strndup (out != NULL ? out : "", len);
  g_bytes_unref (state.output);
  if (state.timed_out)
    {
      *exit_status = -1;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                   "%s did not finish within %d s; output:\n%s",
                   argv[1], SCRIPT_TIMEOUT_SECONDS, *output);
      g_clear_pointer (output, g_free);
      return FALSE;
    }
  *exit_status = g_subprocess_get_if_exited (proc)
                 ? g_subprocess_get_exit_status (proc) : -1;
  return TRUE;
}

/* --------------------------------------------------------------------------
 * Corpus files
 */

static gboolean
read_field (const guint8 **p,
            const guint8  *end,
            GBytes        *file,
            GBytes       **field)
{
  guint32 n;

  if ((gsize) (end - *p) < 4)
    return FALSE;
  memcpy (&n, *p, 4);
  n = GUINT32_FROM_LE (n);
  *p += 4;
  if ((gsize) (end - *p) < n)
    return FALSE;
  *field = g_bytes_new_from_bytes (file,
                                   *p - (const guint8 *) g_bytes_get_data (file, NULL),
                                   n);
  *p += n;
  return TRUE;
}

static char *
field_to_string (GBytes *field)
{
  gsize len;
  const char *s = g_bytes_get_data (field, &len);

  return g_strndup (s != NULL ? s : "", len);
}

static GPtrArray *
read_corpus (const char  *path,
             GError     **error)
{
  g_autoptr(GMappedFile) mapped = NULL;
  g_autoptr(GBytes) file = NULL;
  g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func (corpus_record_free);
  const guint8 *p, *end;
  guint32 count;

  mapped = g_mapped_file_new (path, FALSE, error);
  if (mapped == NULL)
    return NULL;
  file = g_mapped_file_get_bytes (mapped);
  p = g_bytes_get_data (file, NULL);
  end = p + g_bytes_get_size (file);

  if ((gsize) (end - p) < strlen (CORPUS_MAGIC) + 4 ||
      memcmp (p, CORPUS_MAGIC, strlen (CORPUS_MAGIC)) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s: not a corpus file", path);
      return NULL;
    }
  p += strlen (CORPUS_MAGIC);
  memcpy (&count, p, 4);
  count = GUINT32_FROM_LE (count);
  p += 4;

  for (guint32 i = 0; i < count; i++)
    {
      g_autoptr(GBytes) name = NULL;
      g_autoptr(GBytes) flags = NULL;
      g_autoptr(GBytes) expect = NULL;
      CorpusRecord *rec;

      rec = g_new0 (CorpusRecord, 1);
      g_ptr_array_add (records, rec);
      if (!read_field (&p, end, file, &name) ||
          !read_field (&p, end, file, &flags) ||
          !read_field (&p, end, file, &rec->pickle) ||
          !read_field (&p, end, file, &expect) ||
          !read_field (&p, end, file, &rec->data))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "%s: truncated at record %u of %u", path, i, count);
          return NULL;
        }
      rec->name = field_to_string (name);
      rec->flags = field_to_string (flags);
      rec->expect = field_to_string (expect);
    }
  if (p != end)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s: trailing bytes after %u records", path, count);
      return NULL;
    }
  return g_steal_pointer (&records);
}

static void
write_field (GByteArray    *out,
             gconstpointer  data,
             gsize          len)
{
  guint32 n = GUINT32_TO_LE ((guint32) len);

  g_byte_array_append (out, (const guint8 *) &n, 4);
  g_byte_array_append (out, data, len);
}

/* --------------------------------------------------------------------------
 * Helpers
 */

static char *
print_short (GVariant *v)
{
  g_autofree char *s = g_variant_print (v, TRUE);

  if (strlen (s) > 300)
    return g_strdup_printf ("%.300s...(%zu chars)", s, strlen (s));
  return g_steal_pointer (&s);
}

static char *
hex_short (GBytes *bytes)
{
  gsize len, n;
  const guint8 *p = g_bytes_get_data (bytes, &len);
  GString *s = g_string_new (NULL);

  n = MIN (len, 96);
  for (gsize i = 0; i < n; i++)
    g_string_append_printf (s, "%02x", p[i]);
  if (n < len)
    g_string_append_printf (s, "...(%zu bytes)", len);
  return g_string_free (s, FALSE);
}

static GVariant *
record_variant (const CorpusRecord *rec)
{
  const char *type = rec->expect + strlen ("ok:");

  g_assert_true (g_variant_type_string_is_valid (type));
  return g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (type),
                                                       rec->data, FALSE));
}

/* Byte-exact comparison of the normal forms: unlike g_variant_equal() on
 * untrusted values (which compares printed text), it tells NaN payloads and
 * -0.0 from 0.0 apart. */
static gboolean
same_variant (GVariant *a,
              GVariant *b)
{
  g_autoptr(GVariant) na = g_variant_get_normal_form (a);
  g_autoptr(GVariant) nb = g_variant_get_normal_form (b);
  gsize size = g_variant_get_size (na);

  return g_variant_type_equal (g_variant_get_type (na), g_variant_get_type (nb)) &&
         size == g_variant_get_size (nb) &&
         (size == 0 || memcmp (g_variant_get_data (na), g_variant_get_data (nb), size) == 0);
}

static gint
codec_error_code (const char *nick)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (MITOGEN_TYPE_CODEC_ERROR);
  g_autofree char *name = g_strconcat ("MITOGEN_CODEC_ERROR_", nick, NULL);
  GEnumValue *value = g_enum_get_value_by_name (klass, name);

  if (value == NULL)
    g_error ("corpus names an unknown MitogenCodecError: %s", name);
  return value->value;
}

/* --------------------------------------------------------------------------
 * Python -> C
 */

static void
test_setup (void)
{
  if (setup_skip_reason != NULL)
    g_test_skip (setup_skip_reason);
  else
    g_test_fail_printf ("%s", setup_failure);
}

static void
test_decode_case (gconstpointer user_data)
{
  const CorpusRecord *rec = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) got = NULL;
  g_autofree char *hex = hex_short (rec->pickle);

  got = mitogen_pickle_decode (rec->pickle, &error);
  if (got != NULL)
    g_variant_take_ref (got);  /* (transfer full), never floating */
  else if (error == NULL)
    {
      g_test_fail_printf ("%s: decode returned NULL without an error; pickle %s",
                          rec->name, hex);
      return;
    }

  if (g_str_has_prefix (rec->expect, "ok:"))
    {
      g_autoptr(GVariant) want = record_variant (rec);

      if (got == NULL)
        {
          g_test_fail_printf ("%s: decode failed (%s, code %d): %s; pickle %s",
                              rec->name, g_quark_to_string (error->domain),
                              error->code, error->message, hex);
          return;
        }
      if (!same_variant (want, got))
        {
          g_autofree char *want_s = print_short (want);
          g_autofree char *got_s = print_short (got);

          g_test_fail_printf ("%s: got %s (type %s), expected %s (type %s); pickle %s",
                              rec->name, got_s, g_variant_get_type_string (got),
                              want_s, g_variant_get_type_string (want), hex);
        }
    }
  else
    {
      const char *code = rec->expect + strlen ("error:");

      g_assert_true (g_str_has_prefix (rec->expect, "error:"));
      if (got != NULL)
        {
          g_autofree char *got_s = print_short (got);

          g_test_fail_printf ("%s: decoded to %s, expected error %s; pickle %s",
                              rec->name, got_s, code, hex);
          return;
        }
      g_assert_nonnull (error);
      if (strcmp (code, "*") != 0 &&
          !g_error_matches (error, MITOGEN_CODEC_ERROR, codec_error_code (code)))
        g_test_fail_printf ("%s: error (%s, code %d) \"%s\", expected MITOGEN_CODEC_ERROR_%s; pickle %s",
                            rec->name, g_quark_to_string (error->domain),
                            error->code, error->message, code, hex);
    }
}

/* --------------------------------------------------------------------------
 * C -> Python
 */

typedef struct
{
  const char         *mode;
  MitogenPickleFlags  flags;
} EncodeMode;

static const EncodeMode encode_modes[] = {
  { "none", MITOGEN_PICKLE_FLAGS_NONE },
  { "bytes-as-string", MITOGEN_PICKLE_FLAGS_BYTES_AS_STRING },
  { "bytes-via-codecs", MITOGEN_PICKLE_FLAGS_BYTES_VIA_CODECS },
  /* documented: BYTES_VIA_CODECS wins */
  { "both-bytes-flags", MITOGEN_PICKLE_FLAGS_BYTES_AS_STRING | MITOGEN_PICKLE_FLAGS_BYTES_VIA_CODECS },
};

/* Values a GVariant can hold that no decoded pickle produces: other integer
 * widths, typed containers, maybes, nested variants, and the (sv) tags. */
static const struct
{
  const char *name;
  const char *text;
} gvariant_only[] = {
  { "byte", "byte 0xff" },
  { "int16-min", "int16 -32768" },
  { "uint16-max", "uint16 65535" },
  { "int32-min", "int32 -2147483648" },
  { "int32-max", "int32 2147483647" },
  { "uint32-max", "uint32 4294967295" },
  { "int64-min", "int64 -9223372036854775808" },
  { "uint64-2p63", "uint64 9223372036854775808" },
  { "uint64-max", "uint64 18446744073709551615" },
  { "handle", "handle 3" },
  { "as", "['a', 'b', '\U0001F600']" },
  { "as-empty", "@as []" },
  { "ai", "[1, -2, 2147483647]" },
  { "ay-empty", "@ay []" },
  { "aay", "[b'a', b'', b'\\x00\\xff']" },
  { "ab", "[true, false]" },
  { "ad", "[1.5, -0.0, 1e308]" },
  { "at", "@at [0, 18446744073709551615]" },
  { "a(is)", "[(1, 'a'), (2, 'b')]" },
  { "(ius)", "(1, uint32 2, 'x')" },
  { "(sas)", "('k', ['v'])" },
  { "a{ss}", "{'k': 'v', 'k2': ''}" },
  { "a{ss}-empty", "@a{ss} {}" },
  { "a{is}", "{1: 'a', -2: 'b'}" },
  { "a{us}", "{uint32 4294967295: 'max'}" },
  { "a{xv}", "{int64 -9223372036854775808: <'min'>}" },
  { "a{sas}", "{'list': ['x', 'y']}" },
  { "a{sa{sv}}", "{'outer': {'inner': <1>}}" },
  { "aav", "[[<1>], @av []]" },
  { "ms-just", "@ms 'x'" },
  { "ms-nothing", "@ms nothing" },
  { "mv-just", "@mv <int64 5>" },
  { "mi-just", "@mi 7" },
  { "ams", "[@ms 'a', nothing]" },
  { "v-nested", "<<<int64 5>>>" },
  { "v-in-list", "[<<'deep'>>, <@mv nothing>]" },
  { "context-0", "objectpath '/mitogen/context/0'" },
  { "context-5", "objectpath '/mitogen/context/5'" },
  { "context-u32-max", "objectpath '/mitogen/context/4294967295'" },
  { "sender", "objectpath '/mitogen/sender/5/1234'" },
  { "sender-u32-max", "objectpath '/mitogen/sender/4294967295/4294967295'" },
  /* documented: anything but a canonical guint32 id (and a non-zero
   * handle) stays a str */
  { "path-context-2p32", "objectpath '/mitogen/context/4294967296'" },
  { "path-context-leading-zero", "objectpath '/mitogen/context/05'" },
  { "path-context-empty", "objectpath '/mitogen/context'" },
  { "path-sender-handle-0", "objectpath '/mitogen/sender/1/0'" },
  { "path-sender-no-handle", "objectpath '/mitogen/sender/1'" },
  { "path-other", "objectpath '/org/gnome/Mitogen'" },
  { "signature", "signature 'a{sv}'" },
  { "ao-contexts", "[objectpath '/mitogen/context/1', '/mitogen/sender/1/1001']" },
  { "tag-callerror", "('mitogen.core.CallError', <'builtins.ValueError: boom\\n  File \"x\", line 1'>)" },
  { "tag-callerror-empty", "('mitogen.core.CallError', <''>)" },
  { "tag-kwargs-empty", "('mitogen.core.Kwargs', <@a{sv} {}>)" },
  { "tag-kwargs", "('mitogen.core.Kwargs', <{'a': <1>, 'b': <b'x'>, 'c': <('mitogen.core.Secret', <'pw'>)>}>)" },
  { "tag-secret", "('mitogen.core.Secret', <'pw'>)" },
  { "tag-secret-empty", "('mitogen.core.Secret', <''>)" },
  { "tag-blob", "('mitogen.core.Blob', <b'\\x00\\xffxy'>)" },
  { "tag-blob-empty", "('mitogen.core.Blob', <@ay []>)" },
  { "tags-nested", "[<('mitogen.core.Blob', <b'b'>)>, <{'e': <('mitogen.core.CallError', <'e'>)>}>]" },
  { "tag-unknown", "('some.other.Tag', <1>)" },
  /* documented: a tag with another value type is a plain tuple */
  { "tag-blob-of-string", "('mitogen.core.Blob', <'not bytes'>)" },
  { "tag-secret-of-int", "('mitogen.core.Secret', <1>)" },
  { "tag-callerror-of-bytes", "('mitogen.core.CallError', <b'x'>)" },
  { "tag-kwargs-int-keys", "('mitogen.core.Kwargs', <{1: <'a'>}>)" },
  { "tag-kwargs-a{ss}", "('mitogen.core.Kwargs', <{'k': 'v'}>)" },
  { "call-getpid", "(@mv nothing, 'posix', @mv nothing, 'getpid', (), ('mitogen.core.Kwargs', <@a{sv} {}>))" },
  { "call-typed", "(@ms 'chain-1', 'posixpath', @ms nothing, 'join', ('/tmp', 'x'), ('mitogen.core.Kwargs', <{'b': <('mitogen.core.Blob', <b'b'>)>}>))" },
};

static GVariant *
nested_list (guint depth)
{
  GVariant *v = g_variant_new_int64 (1);

  /* depth levels of av */
  for (guint i = 0; i < depth; i++)
    v = g_variant_new_array (G_VARIANT_TYPE_VARIANT,
                             (GVariant *[]) { g_variant_new_variant (v) }, 1);
  return g_variant_ref_sink (v);
}

static GVariant *
nested_typed_list (guint depth)
{
  g_autoptr(GString) type = g_string_new ("x");
  GVariant *v = g_variant_new_int64 (1);

  /* depth levels of a typed array: aa...ax */
  for (guint i = 0; i < depth; i++)
    {
      v = g_variant_new_array (NULL, &v, 1);
      g_string_prepend_c (type, 'a');
    }
  g_assert_cmpstr (g_variant_get_type_string (v), ==, type->str);
  return g_variant_ref_sink (v);
}

static void
encode_add (GByteArray *out,
            GString    *failures,
            guint      *n_cases,
            const char *name,
            GVariant   *value,
            MitogenPickleFlags flags)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) pickle = NULL;
  g_autoptr(GVariant) normal = g_variant_get_normal_form (value);
  g_autofree char *flags_s = g_strdup_printf ("%d", (int) flags);
  g_autofree char *expect = g_strconcat ("ok:", g_variant_get_type_string (normal), NULL);
  gsize len;
  gconstpointer pdata;

  pickle = mitogen_pickle_encode (value, flags, &error);
  if (pickle == NULL)
    {
      g_autofree char *v = print_short (value);

      g_string_append_printf (failures, "encode %s (flags %d) failed: %s; value %s\n",
                              name, (int) flags, error->message, v);
      return;
    }
  pdata = g_bytes_get_data (pickle, &len);
  write_field (out, name, strlen (name));
  write_field (out, flags_s, strlen (flags_s));
  write_field (out, pdata, len);
  write_field (out, expect, strlen (expect));
  write_field (out, g_variant_get_data (normal), g_variant_get_size (normal));
  (*n_cases)++;
}

static void
test_encode_mode (gconstpointer user_data)
{
  const EncodeMode *mode = user_data;
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GString) failures = g_string_new (NULL);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_bytes_hash, g_bytes_equal,
                                                       (GDestroyNotify) g_bytes_unref, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *script = NULL;
  g_autofree char *output = NULL;
  guint n_cases = 0;
  guint32 count;
  int status;

  g_test_summary ("Values encoded by mitogen_pickle_encode() read back by "
                  "mitogen 0.3.3's restricted unpickler, per flag mode");

  /* Room for the record count, patched in at the end. */
  g_byte_array_append (out, (const guint8 *) CORPUS_MAGIC, strlen (CORPUS_MAGIC));
  g_byte_array_append (out, (const guint8 *) "\0\0\0\0", 4);

  /* Every value the decoder must produce, once each. */
  for (guint i = 0; i < corpus->len; i++)
    {
      const CorpusRecord *rec = g_ptr_array_index (corpus, i);
      g_autoptr(GVariant) value = NULL;
      g_autoptr(GByteArray) key = NULL;
      g_autofree char *name = NULL;

      if (!g_str_has_prefix (rec->expect, "ok:"))
        continue;
      key = g_byte_array_new ();
      g_byte_array_append (key, (const guint8 *) rec->expect, strlen (rec->expect) + 1);
      g_byte_array_append (key, g_bytes_get_data (rec->data, NULL), g_bytes_get_size (rec->data));
      if (!g_hash_table_add (seen, g_byte_array_free_to_bytes (g_steal_pointer (&key))))
        continue;
      value = record_variant (rec);
      name = g_strconcat ("decoded/", rec->name, NULL);
      encode_add (out, failures, &n_cases, name, value, mode->flags);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (gvariant_only); i++)
    {
      g_autoptr(GError) parse_error = NULL;
      g_autoptr(GVariant) value = NULL;
      g_autofree char *name = g_strconcat ("gvariant/", gvariant_only[i].name, NULL);

      value = g_variant_parse (NULL, gvariant_only[i].text, NULL, NULL, &parse_error);
      g_assert_no_error (parse_error);
      encode_add (out, failures, &n_cases, name, value, mode->flags);
    }

  {
    g_autoptr(GVariant) list40 = nested_list (MITOGEN_PICKLE_MAX_DEPTH);
    g_autoptr(GVariant) typed40 = nested_typed_list (MITOGEN_PICKLE_MAX_DEPTH);

    encode_add (out, failures, &n_cases, "gvariant/depth-av-40", list40, mode->flags);
    encode_add (out, failures, &n_cases, "gvariant/depth-typed-40", typed40, mode->flags);
  }

  /* One level more is refused, not written. */
  {
    g_autoptr(GVariant) list41 = nested_list (MITOGEN_PICKLE_MAX_DEPTH + 1);
    g_autoptr(GVariant) typed41 = nested_typed_list (MITOGEN_PICKLE_MAX_DEPTH + 1);
    GVariant *too_deep[] = { list41, typed41 };

    for (gsize i = 0; i < G_N_ELEMENTS (too_deep); i++)
      {
        g_autoptr(GError) deep_error = NULL;
        g_autoptr(GBytes) pickle = mitogen_pickle_encode (too_deep[i], mode->flags, &deep_error);

        if (pickle != NULL)
          g_string_append_printf (failures, "encode depth-41 %s (flags %d): "
                                  "wrote %zu bytes, expected MITOGEN_CODEC_ERROR_TOO_DEEP\n",
                                  g_variant_get_type_string (too_deep[i]),
                                  (int) mode->flags, g_bytes_get_size (pickle));
        else if (!g_error_matches (deep_error, MITOGEN_CODEC_ERROR,
                                   MITOGEN_CODEC_ERROR_TOO_DEEP))
          g_string_append_printf (failures, "encode depth-41 %s (flags %d): "
                                  "error \"%s\" (code %d), expected TOO_DEEP\n",
                                  g_variant_get_type_string (too_deep[i]),
                                  (int) mode->flags, deep_error->message,
                                  deep_error->code);
      }
  }

  count = GUINT32_TO_LE (n_cases);
  memcpy (out->data + strlen (CORPUS_MAGIC), &count, 4);
  path = g_build_filename (tmp_dir, "encoded.bin", NULL);
  g_file_set_contents (path, (const char *) out->data, out->len, &error);
  g_assert_no_error (error);

  script = g_test_build_filename (G_TEST_DIST, "conformance", "check_encoded.py", NULL);
  {
    const char *argv[] = { test_python (), script, path, NULL };

    if (!run_script (argv, &output, &status, &error))
      {
        g_test_fail_printf ("cannot run %s %s: %s", argv[0], script, error->message);
        return;
      }
  }
  g_unlink (path);

  if (status == 77)
    {
      g_test_skip (output);
      return;
    }
  if (status != 0)
    {
      g_auto(GStrv) lines = g_strsplit (output, "\n", -1);

      /* only the failures, not hundreds of "ok" lines */
      for (guint i = 0; lines[i] != NULL; i++)
        if (!g_str_has_prefix (lines[i], "ok "))
          g_string_append_printf (failures, "%s\n", lines[i]);
      g_string_append_printf (failures, "check_encoded.py exited with status %d\n", status);
    }
  else
    g_test_message ("%u values encoded and read back by mitogen", n_cases);

  if (failures->len > 0)
    g_test_fail_printf ("mode %s:\n%s", mode->mode, failures->str);
}

/* --------------------------------------------------------------------------
 */

static void
make_corpus (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *script = NULL;
  g_autofree char *path = NULL;
  g_autofree char *output = NULL;
  int status;

  script = g_test_build_filename (G_TEST_DIST, "conformance", "make_corpus.py", NULL);
  path = g_build_filename (tmp_dir, "corpus.bin", NULL);
  {
    const char *argv[] = { test_python (), script, path, NULL };

    if (!run_script (argv, &output, &status, &error))
      {
        if (g_error_matches (error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT))
          setup_skip_reason = g_strdup_printf ("no test interpreter (MITOGEN_TEST_PYTHON=%s): %s",
                                               argv[0], error->message);
        else
          setup_failure = g_strdup_printf ("cannot run %s %s: %s", argv[0], script, error->message);
        return;
      }
    if (status == 77)
      {
        setup_skip_reason = g_strdup_printf ("%s lacks what the conformance tests need: %s",
                                             argv[0], g_strstrip (output));
        return;
      }
    if (status != 0)
      {
        setup_failure = g_strdup_printf ("%s %s exited with status %d:\n%s",
                                         argv[0], script, status, output);
        return;
      }
  }

  corpus = read_corpus (path, &error);
  if (corpus == NULL)
    setup_failure = g_strdup (error->message);
  g_unlink (path);
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  int ret;

  /* Hundreds of independent cases: one failure must not hide the others,
   * so keep going past a failed case (meson passes only --tap). */
  for (int i = 0; i < argc; i++)
    g_ptr_array_add (args, argv[i]);
  g_ptr_array_insert (args, 1, (gpointer) "--keep-going");
  argc++;
  g_ptr_array_add (args, NULL);
  argv = (char **) args->pdata;

  g_test_init (&argc, &argv, NULL);

  tmp_dir = g_dir_make_tmp ("mitogen-pickle-conformance-XXXXXX", &error);
  g_assert_no_error (error);

  make_corpus ();
  if (corpus == NULL)
    {
      g_test_add_func ("/pickle-conformance/setup", test_setup);
    }
  else
    {
      for (guint i = 0; i < corpus->len; i++)
        {
          const CorpusRecord *rec = g_ptr_array_index (corpus, i);
          g_autofree char *path = g_strconcat ("/pickle-conformance/decode/", rec->name, NULL);

          g_test_add_data_func (path, rec, test_decode_case);
        }
      for (gsize i = 0; i < G_N_ELEMENTS (encode_modes); i++)
        {
          g_autofree char *path = g_strconcat ("/pickle-conformance/encode/",
                                               encode_modes[i].mode, NULL);

          g_test_add_data_func (path, &encode_modes[i], test_encode_mode);
        }
    }

  ret = g_test_run ();

  g_clear_pointer (&corpus, g_ptr_array_unref);
  g_rmdir (tmp_dir);
  g_free (tmp_dir);
  g_free (setup_skip_reason);
  g_free (setup_failure);
  return ret;
}
