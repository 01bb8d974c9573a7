/* mitogen-log.c: logs from children, and where they go
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mitogen-context.h"
#include "mitogen-log-private.h"
#include "mitogen-message-private.h"
#include "mitogen-router-private.h"

/* Children send log records to the master as "logger\0level\0message".
 * They become GLib structured log records in the Mitogen domain, with
 * fields naming the context, so a journal or a custom writer can tell
 * children apart. Levels map without making anything fatal: a child's
 * ERROR is a record to read, not a bug in this process. */

static gint debug_enabled;        /* (atomic) */
static FILE *log_file;            /* (lock log_file_lock) */
static GMutex log_file_lock;
static gsize writer_installed;

static GLogLevelFlags
glib_level (int python_level)
{
  if (python_level >= 30)
    return G_LOG_LEVEL_MESSAGE;
  if (python_level >= 20)
    return G_LOG_LEVEL_INFO;
  return G_LOG_LEVEL_DEBUG;
}

static void
on_forward_log (MitogenRouter  *router,
                MitogenMessage *message,
                gpointer        user_data)
{
  gsize len;
  const char *data = g_bytes_get_data (_mitogen_message_get_data (message), &len);
  const char *first_nul, *second_nul;
  g_autofree char *logger = NULL;
  g_autofree char *level_text = NULL;
  g_autofree char *text = NULL;
  g_autofree char *context_id = NULL;
  g_autoptr(MitogenContext) context = NULL;
  const char *context_name;
  int level;

  if (mitogen_message_is_dead (message) || len == 0)
    return;
  first_nul = memchr (data, '\0', len);
  second_nul = first_nul ? memchr (first_nul + 1, '\0', len - (first_nul + 1 - data)) : NULL;
  if (second_nul == NULL)
    {
      g_debug ("Dropped a malformed log record from context %u", message->src_id);
      return;
    }

  logger = g_utf8_make_valid (data, first_nul - data);
  level_text = g_strndup (first_nul + 1, second_nul - first_nul - 1);
  text = g_utf8_make_valid (second_nul + 1, len - (second_nul + 1 - data));
  level = (int) g_ascii_strtoll (level_text, NULL, 10);

  context = mitogen_router_context_by_id (router, message->src_id);
  context_name = mitogen_context_get_name (context);
  if (context_name == NULL)
    context_name = "?";
  context_id = g_strdup_printf ("%u", message->src_id);

  {
    g_autofree char *line = g_strdup_printf ("[%s] %s: %s", context_name, logger, text);
    const GLogField fields[] = {
      { "GLIB_DOMAIN", MITOGEN_LOG_DOMAIN, -1 },
      { "MESSAGE", line, -1 },
      { "MITOGEN_CONTEXT", context_name, -1 },
      { "MITOGEN_CONTEXT_ID", context_id, -1 },
      { "MITOGEN_LOGGER", logger, -1 },
      { "MITOGEN_PYTHON_LEVEL", level_text, -1 },
    };

    g_log_structured_array (glib_level (level), fields, G_N_ELEMENTS (fields));
  }
}

void
_mitogen_log_forwarder_install (MitogenRouter *router)
{
  _mitogen_router_add_internal_handler (router, on_forward_log, NULL, NULL,
                                        MITOGEN_HANDLE_FORWARD_LOG, MITOGEN_HANDLER_FLAGS_PERSIST,
                                        MITOGEN_NO_RESPONDENT, MITOGEN_POLICY_ANY);
}

static GLogWriterOutput
file_writer (GLogLevelFlags   log_level,
             const GLogField *fields,
             gsize            n_fields,
             gpointer         user_data)
{
  const char *domain = NULL;
  const char *text = NULL;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
        domain = fields[i].value;
      else if (g_str_equal (fields[i].key, "MESSAGE"))
        text = fields[i].value;
    }

  if (g_strcmp0 (domain, MITOGEN_LOG_DOMAIN) == 0 && text != NULL &&
      ((log_level & G_LOG_LEVEL_DEBUG) == 0 || mitogen_get_debug ()))
    {
      g_mutex_lock (&log_file_lock);
      if (log_file != NULL)
        {
          g_autoptr(GDateTime) now = g_date_time_new_now_local ();
          g_autofree char *stamp = g_date_time_format (now, "%H:%M:%S.%f");

          fprintf (log_file, "%s %s\n", stamp, text);
          fflush (log_file);
        }
      g_mutex_unlock (&log_file_lock);
    }

  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

/**
 * mitogen_log_to_file:
 * @path: (type filename): the file to append to
 * @error: return location for a #GError
 *
 * Appends every record of the `Mitogen` log domain, this process's and
 * its children's, to @path, one line each, besides the usual output.
 * Debug records are written only while [func@Mitogen.set_debug] is on.
 *
 * The first call installs a GLib log writer function: call it before
 * anything else calls g_log_set_writer_func(), which GLib allows only once
 * per process. Later calls switch to a new file.
 *
 * Returns: %TRUE if the file could be opened
 *
 * Since: 1.0
 */
gboolean
mitogen_log_to_file (const char  *path,
                     GError     **error)
{
  FILE *file;

  g_return_val_if_fail (path != NULL, FALSE);

  file = fopen (path, "ae");
  if (file == NULL)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "Could not open log file %s: %s", path, g_strerror (saved));
      return FALSE;
    }

  g_mutex_lock (&log_file_lock);
  if (log_file != NULL)
    fclose (log_file);
  log_file = file;
  g_mutex_unlock (&log_file_lock);

  if (g_once_init_enter (&writer_installed))
    {
      g_log_set_writer_func (file_writer, NULL, NULL);
      g_once_init_leave (&writer_installed, 1);
    }
  return TRUE;
}

/**
 * mitogen_set_debug:
 * @enabled: whether to debug
 *
 * Turns on (or off) debug records of the `Mitogen` domain, in this process
 * and in children started afterwards, which then forward their debug
 * records too. Meant for troubleshooting: it is verbose. Turning it on
 * sets `G_MESSAGES_DEBUG`, so call it early, before other threads run.
 *
 * Since: 1.0
 */
void
mitogen_set_debug (gboolean enabled)
{
  g_atomic_int_set (&debug_enabled, !!enabled);
  if (enabled)
    {
      const char *current = g_getenv ("G_MESSAGES_DEBUG");

      if (current == NULL || strstr (current, MITOGEN_LOG_DOMAIN) == NULL)
        {
          g_autofree char *value = current && *current
                                   ? g_strconcat (current, " " MITOGEN_LOG_DOMAIN, NULL)
                                   : g_strdup (MITOGEN_LOG_DOMAIN);

          g_setenv ("G_MESSAGES_DEBUG", value, TRUE);
        }
    }
}

/**
 * mitogen_get_debug:
 *
 * Tells whether debugging is on.
 *
 * Returns: whether [func@Mitogen.set_debug] is on
 *
 * Since: 1.0
 */
gboolean
mitogen_get_debug (void)
{
  return g_atomic_int_get (&debug_enabled);
}
