/* fuzz-pickle-decode.c: libFuzzer target for mitogen_pickle_decode()
 *
 * SPDX-License-Identifier: BSD-3-Clause
 *
 * The input is a pickle. Besides "no crash, no leak", whatever decodes must
 * survive a round trip through the encoder, with each set of encoder flags:
 *
 *   v1 = decode (input)
 *   p1 = encode (v1, flags)    must succeed
 *   v2 = decode (p1)           must succeed and equal v1
 *   p2 = encode (v2, flags)    must equal p1 byte for byte
 *
 * Equality of values treats any two NaNs as equal (their payload bits need
 * not survive), and is otherwise exact, down to the bits of each double.
 */

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mitogen-glib.h>

#define CHECK(cond)                                                     \
  G_STMT_START {                                                        \
    if (G_UNLIKELY (!(cond)))                                           \
      {                                                                 \
        fprintf (stderr, "%s:%d: check failed: %s\n",                   \
                 __FILE__, __LINE__, #cond);                            \
        abort ();                                                       \
      }                                                                 \
  } G_STMT_END

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  /* A critical from the library is a bug the fuzzer should report. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

static gboolean
variant_equal_nan (GVariant *a,
                   GVariant *b)
{
  if (!g_variant_type_equal (g_variant_get_type (a), g_variant_get_type (b)))
    return FALSE;

  if (g_variant_is_of_type (a, G_VARIANT_TYPE_DOUBLE))
    {
      double x = g_variant_get_double (a);
      double y = g_variant_get_double (b);

      return (isnan (x) && isnan (y)) || memcmp (&x, &y, sizeof x) == 0;
    }

  if (g_variant_is_container (a))
    {
      gsize n = g_variant_n_children (a);

      if (n != g_variant_n_children (b))
        return FALSE;
      for (gsize i = 0; i < n; i++)
        {
          GVariant *ca = g_variant_get_child_value (a, i);
          GVariant *cb = g_variant_get_child_value (b, i);
          gboolean equal = variant_equal_nan (ca, cb);

          g_variant_unref (ca);
          g_variant_unref (cb);
          if (!equal)
            return FALSE;
        }
      return TRUE;
    }

  return g_variant_equal (a, b);
}

static void
dump_variant (const char *what,
              GVariant   *value)
{
  char *text = g_variant_print (value, TRUE);

  fprintf (stderr, "%s: %s\n", what, text);
  g_free (text);
}

static void
dump_bytes (const char *what,
            GBytes     *bytes)
{
  gsize len;
  const guint8 *p = g_bytes_get_data (bytes, &len);

  fprintf (stderr, "%s (%zu bytes):", what, len);
  for (gsize i = 0; i < len; i++)
    fprintf (stderr, " %02x", p[i]);
  fprintf (stderr, "\n");
}

static void
round_trip (GVariant           *v1,
            MitogenPickleFlags  flags)
{
  GError *error = NULL;
  GBytes *p1, *p2;
  GVariant *v2;

  p1 = mitogen_pickle_encode (v1, flags, &error);
  if (p1 == NULL)
    {
      dump_variant ("decoded value", v1);
      fprintf (stderr, "re-encoding with flags 0x%x failed: %s\n",
               (guint) flags, error->message);
      abort ();
    }
  CHECK (error == NULL);

  v2 = mitogen_pickle_decode (p1, &error);
  if (v2 == NULL)
    {
      dump_variant ("decoded value", v1);
      dump_bytes ("re-encoded", p1);
      fprintf (stderr, "decoding the re-encoded value failed: %s\n", error->message);
      abort ();
    }
  CHECK (error == NULL);
  v2 = g_variant_take_ref (v2);

  if (!variant_equal_nan (v1, v2))
    {
      dump_variant ("decoded value", v1);
      dump_bytes ("re-encoded", p1);
      dump_variant ("decoded again", v2);
      fprintf (stderr, "round trip with flags 0x%x changed the value\n", (guint) flags);
      abort ();
    }

  p2 = mitogen_pickle_encode (v2, flags, &error);
  CHECK (p2 != NULL && error == NULL);
  if (!g_bytes_equal (p1, p2))
    {
      dump_variant ("decoded value", v1);
      dump_bytes ("first encoding", p1);
      dump_bytes ("second encoding", p2);
      abort ();
    }

  g_bytes_unref (p2);
  g_variant_unref (v2);
  g_bytes_unref (p1);
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  static const MitogenPickleFlags flags[] = {
    MITOGEN_PICKLE_FLAGS_NONE,
    MITOGEN_PICKLE_FLAGS_BYTES_AS_STRING,
    MITOGEN_PICKLE_FLAGS_BYTES_VIA_CODECS,
  };
  GError *error = NULL;
  GBytes *input;
  GVariant *value;

  /* A copy of exactly @size bytes, so ASan catches any read past the end. */
  input = g_bytes_new (data, size);
  value = mitogen_pickle_decode (input, &error);
  g_bytes_unref (input);

  if (value == NULL)
    {
      CHECK (error != NULL);
      CHECK (error->message != NULL);
      g_clear_error (&error);
      return 0;
    }
  CHECK (error == NULL);
  value = g_variant_take_ref (value);

  for (gsize i = 0; i < G_N_ELEMENTS (flags); i++)
    round_trip (value, flags[i]);

  g_variant_unref (value);
  return 0;
}
