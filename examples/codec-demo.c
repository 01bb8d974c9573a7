/* codec-demo.c: a value goes to a local python3 child as a pickle, the
 * child adds to it and sends it back, and the reply is decoded.
 *
 * Usage: codec-demo [--python PATH]
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include <stdlib.h>

#include <mitogen-glib.h>

/* The child uses only the standard library: this shows the codec speaks
 * real pickle both ways, before any Mitogen machinery exists. */
static const char child_program[] =
  "import pickle, sys\n"
  "value = pickle.loads(sys.stdin.buffer.read())\n"
  "value['seen_by'] = 'python %d.%d' % sys.version_info[:2]\n"
  "value['total'] = sum(value['numbers'])\n"
  "value['upper'] = value['greeting'].upper()\n"
  "sys.stdout.buffer.write(pickle.dumps(value, protocol=2))\n";

int
main (int argc, char **argv)
{
  g_autofree char *python = NULL;
  GOptionEntry entries[] = {
    { "python", 0, 0, G_OPTION_ARG_FILENAME, &python, "Python interpreter for the child", "PATH" },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("- round-trip a value through a python3 child");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GBytes) pickle = NULL;
  g_autoptr(GBytes) child_output = NULL;
  g_autoptr(GSubprocess) child = NULL;
  g_autofree char *shown = NULL;
  GVariantBuilder builder;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return EXIT_FAILURE;
    }

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&builder, "{sv}", "greeting", g_variant_new_string ("héllo wörld 🌍"));
  g_variant_builder_add (&builder, "{sv}", "numbers",
                         g_variant_new_parsed ("[<int64 1>, <int64 2>, <int64 40>, <int64 -1>]"));
  g_variant_builder_add (&builder, "{sv}", "raw",
                         g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "\x00\x01\xfe\xff", 4, 1));
  g_variant_builder_add (&builder, "{sv}", "pair", g_variant_new_parsed ("(<3.5>, <'x'>)"));
  value = g_variant_ref_sink (g_variant_builder_end (&builder));

  shown = g_variant_print (value, FALSE);
  g_print ("sent:     %s\n", shown);
  g_clear_pointer (&shown, g_free);

  pickle = mitogen_pickle_encode (value, MITOGEN_PICKLE_FLAGS_NONE, &error);
  if (pickle == NULL)
    {
      g_printerr ("encode: %s\n", error->message);
      return EXIT_FAILURE;
    }
  g_print ("pickle:   %" G_GSIZE_FORMAT " bytes\n", g_bytes_get_size (pickle));

  child = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                            &error, python ? python : "python3", "-c", child_program, NULL);
  if (child == NULL)
    {
      g_printerr ("could not start the child: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (!g_subprocess_communicate (child, pickle, NULL, &child_output, NULL, &error))
    {
      g_printerr ("child I/O: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (!g_subprocess_get_successful (child))
    {
      g_printerr ("the child failed\n");
      return EXIT_FAILURE;
    }

  reply = mitogen_pickle_decode (child_output, &error);
  if (reply == NULL)
    {
      g_printerr ("decode: %s\n", error->message);
      return EXIT_FAILURE;
    }
  shown = g_variant_print (reply, FALSE);
  g_print ("received: %s\n", shown);

  return EXIT_SUCCESS;
}
