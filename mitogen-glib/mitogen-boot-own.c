/* mitogen-boot-own.c: booting mitogen-glib's own child runtime
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <string.h>
#include <unistd.h>

#include "mitogen-connection-private.h"
#include "mitogen-error.h"
#include "mitogen-log.h"
#include "mitogen-router-private.h"
#include "child/mitogen-child-resources.h"

/* The runtime is embedded minified and zlib-compressed at build time
 * (mitogen-glib/child/meson.build). The first stage, small enough for the
 * command line, reads exactly that many bytes from the transport: see
 * mitogen-glib/child/README.md for the contract. */
#define RUNTIME_RESOURCE "/org/mitogen-glib/child/runtime.py.z"
#define STAGE1_RESOURCE "/org/mitogen-glib/child/stage1.py"
/* The first stage of a boot with the runtime's parts compiled
 * (child/README.md, "Bytecode"): it runs them itself. */
#define STAGE1_COMPILED_RESOURCE "/org/mitogen-glib/child/stage1-compiled.py"
/* The runtime's defaults (child/README.md, "Config keys"). */
#define RUNTIME_MAX_MESSAGE_SIZE G_GUINT64_CONSTANT (134217728)

static char *
substitute (const char *text,
            const char *placeholder,
            const char *value)
{
  g_auto(GStrv) parts = g_strsplit (text, placeholder, -1);

  return g_strjoinv (value, parts);
}

/* A Python string literal in plain ASCII: the first stage travels on a
 * command line, perhaps through a remote shell. */
static char *
python_str_literal (const char *text)
{
  GString *out = g_string_new ("'");

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c == '\\' || c == '\'')
        g_string_append_printf (out, "\\%c", (char) c);
      else if (c >= 0x20 && c < 0x7f)
        g_string_append_c (out, (char) c);
      else if (c <= 0xffff)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_printf (out, "\\U%08x", c);
    }
  g_string_append_c (out, '\'');
  return g_string_free (out, FALSE);
}

MitogenBootPlan *
_mitogen_boot_plan_new_own (MitogenRouter            *router,
                            MitogenConnectionOptions *options,
                            guint32                   context_id,
                            gboolean                  on_this_machine,
                            GError                  **error)
{
  g_autoptr(GBytes) runtime = NULL;
  g_autoptr(GBytes) compiled = NULL;
  g_autoptr(GBytes) stage1_template = NULL;
  g_autofree char *template_text = NULL;
  g_autofree char *size_text = NULL;
  g_autofree char *config = NULL;
  g_autoptr(GString) config_text = NULL;
  g_autofree char *name_literal = NULL;
  g_autofree char *with_size = NULL;
  g_autofree char *runtime_size_text = NULL;
  g_autofree char *with_runtime_size = NULL;
  g_autofree char *stage1 = NULL;
  const char *name = mitogen_connection_options_get_name (options);
  MitogenBootPlan *plan;
  gboolean is_compiled;
  int log_level;

  /* Through the bundle itself: referencing it also makes a static link
   * keep the resource object. */
  runtime = g_resource_lookup_data (_mitogen_child_get_resource (), RUNTIME_RESOURCE, 0, error);
  if (runtime == NULL)
    return NULL;
  if (on_this_machine)
    compiled = _mitogen_router_lookup_bytecode (router, mitogen_connection_options_get_python_path (options),
                                                runtime);
  is_compiled = compiled != NULL;
  /* The compiled boot's first stage splits what it reads there. */
  runtime_size_text = g_strdup_printf ("%" G_GSIZE_FORMAT, g_bytes_get_size (runtime));
  if (compiled != NULL)
    {
      g_bytes_unref (runtime);
      runtime = g_steal_pointer (&compiled);
    }
  stage1_template = g_resource_lookup_data (_mitogen_child_get_resource (),
                                            is_compiled ? STAGE1_COMPILED_RESOURCE : STAGE1_RESOURCE,
                                            0, error);
  if (stage1_template == NULL)
    return NULL;

  template_text = g_strndup (g_bytes_get_data (stage1_template, NULL), g_bytes_get_size (stage1_template));
  g_strchomp (template_text);

  log_level = (mitogen_connection_options_get_debug (options) || mitogen_get_debug ())
              ? 10 : _mitogen_router_get_child_log_level (router);
  if (name != NULL && !g_utf8_validate (name, -1, NULL))
    name = NULL;
  name_literal = python_str_literal (name ? name : "local");
  /* Keys left at the runtime's defaults are left out: the command line
   * counts in every bootstrap. */
  config_text = g_string_new (NULL);
  g_string_append_printf (config_text, "{'context_id':%u,'name':%s", context_id, name_literal);
  if (mitogen_router_get_context_id (router) != 0)
    g_string_append_printf (config_text, ",'parent_ids':[%u]", mitogen_router_get_context_id (router));
  if (log_level != 30)
    g_string_append_printf (config_text, ",'log_level':%d", log_level);
  if (log_level <= 10)
    g_string_append (config_text, ",'debug':True");
  if (mitogen_router_get_max_message_size (router) != RUNTIME_MAX_MESSAGE_SIZE)
    g_string_append_printf (config_text, ",'max_message_size':%" G_GUINT64_FORMAT,
                            mitogen_router_get_max_message_size (router));
  g_string_append_c (config_text, '}');
  config = g_string_free (g_steal_pointer (&config_text), FALSE);
  size_text = g_strdup_printf ("%" G_GSIZE_FORMAT, g_bytes_get_size (runtime));
  with_size = substitute (template_text, "@N@", size_text);
  with_runtime_size = substitute (with_size, "@R@", runtime_size_text);
  stage1 = substitute (with_runtime_size, "@CONFIG@", config);

  plan = g_new0 (MitogenBootPlan, 1);
  plan->argv = g_new0 (char *, 4);
  plan->argv[0] = g_strdup (mitogen_connection_options_get_python_path (options));
  plan->argv[1] = g_strdup ("-c");
  plan->argv[2] = g_steal_pointer (&stage1);
  plan->preamble = g_steal_pointer (&runtime);
  plan->method = g_strdup ("local");
  if (on_this_machine)
    plan->compiled_for = g_strdup (mitogen_connection_options_get_python_path (options));

  return plan;
}
