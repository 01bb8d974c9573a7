/* mitogen-connection-via.c: starting a child from another context
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <string.h>

#include "mitogen-connection-private.h"
#include "mitogen-context-private.h"
#include "mitogen-error.h"
#include "mitogen-pickle.h"
#include "mitogen-router.h"

/* The via context runs mitogen.parent._proxy_connect(name, method_name,
 * kwargs), as Mitogen's own master asks it (protocol reference 7.4). It
 * allocates an id from us, starts the child, announces it with ADD_ROUTE
 * (which reaches us before the reply, on the same stream), and answers
 * {'id': ..., 'name': ..., 'msg': None} or {'id': None, 'msg': TEXT}.
 * mitogen-glib's own runtime adds 'code', naming the failure; for the
 * upstream child the text is all there is. */

typedef struct
{
  MitogenRouter *router;    /* (owned) */
  MitogenContext *via;      /* (owned) */
  GTask *task;              /* (owned) */
  char *method;             /* (owned) */
} ViaConnect;

static void
via_connect_free (ViaConnect *connect)
{
  g_clear_object (&connect->router);
  g_clear_object (&connect->via);
  g_clear_object (&connect->task);
  g_free (connect->method);
  g_free (connect);
}

static MitogenError
code_from_reply (const char *code,
                 const char *text)
{
  static const struct { const char *name; MitogenError code; } names[] = {
    { "BAD_PASSWORD", MITOGEN_ERROR_BAD_PASSWORD },
    { "PASSWORD_REQUIRED", MITOGEN_ERROR_PASSWORD_REQUIRED },
    { "HOST_KEY", MITOGEN_ERROR_HOST_KEY },
    { "CONNECT_TIMEOUT", MITOGEN_ERROR_CONNECT_TIMEOUT },
    { "CONNECT", MITOGEN_ERROR_CONNECT },
  };
  g_autofree char *lower = NULL;

  for (guint i = 0; code != NULL && i < G_N_ELEMENTS (names); i++)
    if (g_str_equal (code, names[i].name))
      return names[i].code;

  /* Upstream's texts (protocol reference 5.7 and 5.9-5.10). */
  lower = g_ascii_strdown (text, -1);
  if (strstr (lower, "password is incorrect") != NULL)
    return MITOGEN_ERROR_BAD_PASSWORD;
  if (strstr (lower, "password is required") != NULL ||
      strstr (lower, "password was requested, but none specified") != NULL)
    return MITOGEN_ERROR_PASSWORD_REQUIRED;
  if (strstr (lower, "host key") != NULL)
    return MITOGEN_ERROR_HOST_KEY;
  if (strstr (lower, "timed out") != NULL)
    return MITOGEN_ERROR_CONNECT_TIMEOUT;
  return MITOGEN_ERROR_CONNECT;
}

static void
proxy_connect_done (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  ViaConnect *connect = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) id = NULL;
  g_autoptr(GVariant) name = NULL;
  g_autoptr(MitogenContext) context = NULL;
  g_autofree char *full_name = NULL;
  GError *error = NULL;
  const char *message = NULL;
  const char *code = NULL;

  reply = mitogen_context_call_finish (MITOGEN_CONTEXT (source), result, &error);
  if (reply == NULL)
    {
      g_prefix_error (&error, "Could not connect via %s: ",
                      mitogen_context_get_name (connect->via) ? mitogen_context_get_name (connect->via) : "?");
      g_task_return_error (connect->task, error);
      via_connect_free (connect);
      return;
    }

  if (!g_variant_is_of_type (reply, G_VARIANT_TYPE_VARDICT))
    {
      g_task_return_new_error (connect->task, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                               "Context %s answered the connect request with %s",
                               mitogen_context_get_name (connect->via), g_variant_get_type_string (reply));
      via_connect_free (connect);
      return;
    }

  g_variant_lookup (reply, "msg", "&s", &message);
  g_variant_lookup (reply, "code", "&s", &code);
  id = g_variant_lookup_value (reply, "id", G_VARIANT_TYPE_INT64);
  name = g_variant_lookup_value (reply, "name", G_VARIANT_TYPE_STRING);
  if (message != NULL || id == NULL)
    {
      g_task_return_new_error (connect->task, MITOGEN_ERROR,
                               code_from_reply (code, message ? message : ""),
                               "%s", message ? message : "the intermediate context gave no id");
      via_connect_free (connect);
      return;
    }

  if (g_variant_get_int64 (id) <= 0 || g_variant_get_int64 (id) > G_MAXUINT32)
    {
      g_task_return_new_error (connect->task, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                               "Context %s announced an invalid context id", mitogen_context_get_name (connect->via));
      via_connect_free (connect);
      return;
    }

  context = mitogen_router_context_by_id (connect->router, (guint32) g_variant_get_int64 (id));
  full_name = g_strdup_printf ("%s.%s",
                               mitogen_context_get_name (connect->via) ? mitogen_context_get_name (connect->via) : "?",
                               name ? g_variant_get_string (name, NULL) : connect->method);
  _mitogen_context_set_name (context, full_name);
  if (!mitogen_context_is_connected (context))
    g_task_return_new_error (connect->task, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                             "%s disconnected as soon as it was started", full_name);
  else
    g_task_return_pointer (connect->task, g_steal_pointer (&context), g_object_unref);
  via_connect_free (connect);
}

void
_mitogen_connection_start_via (MitogenRouter            *router,
                               MitogenConnectionOptions *options,
                               MitogenContext           *via,
                               GTask                    *task)
{
  MitogenConnectionOptionsClass *klass = MITOGEN_CONNECTION_OPTIONS_GET_CLASS (options);
  ViaConnect *connect = g_new0 (ViaConnect, 1);
  GVariantDict method_kwargs;
  GVariantDict kwargs;
  const char *name = mitogen_connection_options_get_name (options);

  connect->router = g_object_ref (router);
  connect->via = g_object_ref (via);
  connect->task = task;
  connect->method = g_strdup (klass->method_name);

  g_variant_dict_init (&method_kwargs, NULL);
  klass->add_proxy_kwargs (options, &method_kwargs);

  g_variant_dict_init (&kwargs, NULL);
  g_variant_dict_insert_value (&kwargs, "name",
                               name ? g_variant_new_string (name)
                                    : g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL));
  g_variant_dict_insert (&kwargs, "method_name", "s", klass->method_name);
  g_variant_dict_insert_value (&kwargs, "kwargs",
                               g_variant_new ("(sv)", MITOGEN_PICKLE_TAG_KWARGS,
                                              g_variant_dict_end (&method_kwargs)));

  mitogen_context_call_async (via, "mitogen.parent", NULL, "_proxy_connect",
                              NULL, g_variant_dict_end (&kwargs),
                              g_task_get_cancellable (task), proxy_connect_done, connect);
}
