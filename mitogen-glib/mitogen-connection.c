/* mitogen-connection.c: starting a child and bootstrapping it
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mitogen-broker-private.h"
#include "mitogen-connection-private.h"
#include "mitogen-context.h"
#include "mitogen-error.h"
#include "mitogen-router-private.h"
#include "mitogen-stream-private.h"

/* Diagnostics kept for error messages: the tail of what the child printed
 * before its runtime started. */
#define MAX_DIAGNOSTIC_BYTES 4096
#define MAX_MARKER_LINE 4096

typedef enum {
  STATE_CONNECTING,
  STATE_CONNECTED,
  STATE_FAILED,
} ConnectionState;

typedef struct
{
  gatomicrefcount ref_count;

  MitogenRouter *router;        /* (owned) */
  MitogenBroker *broker;        /* (owned) */
  MitogenConnectionOptions *options; /* (owned) */
  MitogenBootPlan *plan;        /* (owned) (nullable) */
  GTask *task;                  /* (owned) (nullable) until completed */
  GCancellable *cancellable;    /* (owned) (nullable) */
  gulong cancelled_id;

  /* Broker thread only. */
  ConnectionState state;
  guint32 context_id;
  char *name;
  GPid pid;
  gboolean exited;
  int wait_status;
  MitogenStream *stream;        /* (owned) (nullable) */
  int stderr_fd;
  GSource *stderr_source;
  GSource *timeout_source;
  GSource *child_watch;
  GSource *reap_timer;
  guint reap_step;
  GString *line;                /* partial marker line */
  GString *diagnostics;         /* tail of stdout/stderr before boot */
  gboolean preamble_written;
  gboolean stdout_eof;
  gboolean holding_broker;      /* the broker waits for this child to exit */
} Connection;

static Connection *
connection_ref (Connection *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

static void
destroy_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
connection_unref (gpointer data)
{
  Connection *self = data;

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  g_assert (self->task == NULL);
  g_assert (!self->holding_broker);
  if (self->pid > 0)
    _mitogen_broker_remove_hooks (self->broker, self);
  destroy_source (&self->stderr_source);
  destroy_source (&self->timeout_source);
  destroy_source (&self->child_watch);
  destroy_source (&self->reap_timer);
  if (self->stderr_fd >= 0)
    close (self->stderr_fd);
  if (self->pid > 0)
    g_spawn_close_pid (self->pid);
  g_clear_pointer (&self->stream, _mitogen_stream_unref);
  g_clear_pointer (&self->plan, _mitogen_boot_plan_free);
  g_clear_object (&self->options);
  g_clear_object (&self->router);
  g_clear_object (&self->broker);
  g_clear_object (&self->cancellable);
  g_string_free (self->line, TRUE);
  g_string_free (self->diagnostics, TRUE);
  g_free (self->name);
  g_free (self);
}

static void
keep_diagnostic (Connection  *self,
                 const char  *text,
                 gsize        len)
{
  g_string_append_len (self->diagnostics, text, len);
  if (self->diagnostics->len > MAX_DIAGNOSTIC_BYTES)
    g_string_erase (self->diagnostics, 0, self->diagnostics->len - MAX_DIAGNOSTIC_BYTES);
}

static char *
diagnostics_text (Connection *self)
{
  g_autofree char *valid = g_utf8_make_valid (self->diagnostics->str, self->diagnostics->len);

  g_strstrip (valid);
  if (*valid == '\0')
    return g_strdup ("");
  return g_strdup_printf (": %s", valid);
}

/* Completes the caller's task once; later failures of a connected stream
 * are the router's business. */
static void
finish (Connection     *self,
        MitogenContext *context,
        GError         *error)
{
  GTask *task = g_steal_pointer (&self->task);

  destroy_source (&self->timeout_source);
  if (self->cancellable != NULL && self->cancelled_id != 0)
    {
      /* Disconnecting from inside the cancelled handler would deadlock;
       * the handler only posts to the broker, so this is never it. */
      g_cancellable_disconnect (self->cancellable, self->cancelled_id);
      self->cancelled_id = 0;
    }

  if (task == NULL)
    {
      g_clear_error (&error);
      return;
    }

  if (error != NULL)
    {
      self->state = STATE_FAILED;
      if (self->stream != NULL)
        _mitogen_stream_close (self->stream, NULL);
      if (self->pid > 0 && !self->exited)
        kill (self->pid, SIGKILL);
      g_task_return_error (task, error);
    }
  else
    {
      self->state = STATE_CONNECTED;
      g_task_return_pointer (task, g_object_ref (context), g_object_unref);
    }
  g_object_unref (task);
}

static void
fail_with_exit_status (Connection *self)
{
  g_autofree char *detail = diagnostics_text (self);
  const char *python = self->plan->argv[0];

  if (WIFEXITED (self->wait_status))
    finish (self, NULL,
            g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                         "%s (%s) exited with status %d before its child runtime started%s",
                         self->name, python, WEXITSTATUS (self->wait_status), detail));
  else if (WIFSIGNALED (self->wait_status))
    finish (self, NULL,
            g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                         "%s (%s) was killed by signal %d before its child runtime started%s",
                         self->name, python, WTERMSIG (self->wait_status), detail));
  else
    finish (self, NULL,
            g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                         "%s (%s) ended before its child runtime started%s",
                         self->name, python, detail));
}

static gboolean
on_reap_timer (gpointer user_data)
{
  Connection *self = user_data;

  /* After the stream closed, give the child a moment to exit on its own,
   * then SIGTERM, then SIGKILL (about 1 s in all). */
  self->reap_step++;
  if (self->exited)
    {
      g_clear_pointer (&self->reap_timer, g_source_unref);
      return G_SOURCE_REMOVE;
    }
  if (self->reap_step == 2)
    kill (self->pid, SIGTERM);
  else if (self->reap_step >= 6)
    {
      kill (self->pid, SIGKILL);
      g_clear_pointer (&self->reap_timer, g_source_unref);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
on_child_exited (GPid     pid,
                 gint     wait_status,
                 gpointer user_data)
{
  Connection *self = user_data;
  g_autoptr(GError) error = NULL;

  self->exited = TRUE;
  self->wait_status = wait_status;
  g_clear_pointer (&self->child_watch, g_source_unref);
  destroy_source (&self->reap_timer);
  if (self->holding_broker)
    {
      self->holding_broker = FALSE;
      _mitogen_broker_release (self->broker);
    }

  /* Before the runtime started, wait for the stream's EOF too: the
   * child's last output explains the failure. */
  if (self->state == STATE_CONNECTING && (self->stdout_eof || self->stream == NULL))
    fail_with_exit_status (self);
  else if (self->state == STATE_CONNECTED && !g_spawn_check_wait_status (wait_status, &error))
    g_debug ("Connection %s: child ended: %s", self->name, error->message);
}

static void
on_stream_close_notify (MitogenStream *stream,
                        const GError  *error,
                        gpointer       user_data)
{
  Connection *self = user_data;

  if (self->state == STATE_CONNECTING)
    {
      self->stdout_eof = TRUE;
      /* The exit status explains more than the EOF does: wait for it, the
       * child watch finishes the connection. */
      if (self->exited)
        fail_with_exit_status (self);
      return;
    }
  if (self->state == STATE_FAILED)
    return;

  if (!self->exited && self->reap_timer == NULL)
    {
      self->reap_timer = g_timeout_source_new (200);
      g_source_set_static_name (self->reap_timer, "[mitogen] reaper");
      g_source_set_callback (self->reap_timer, on_reap_timer, self, NULL);
      g_source_attach (self->reap_timer, _mitogen_broker_get_main_context (self->broker));
    }
}

static gsize
on_raw (MitogenStream *stream,
        const guint8  *data,
        gsize          len,
        gpointer       user_data)
{
  Connection *self = user_data;
  gsize consumed = 0;

  if (self->state != STATE_CONNECTING)
    return len;

  while (consumed < len)
    {
      const guint8 *nl = memchr (data + consumed, '\n', len - consumed);
      gsize take = nl ? (gsize) (nl - (data + consumed)) + 1 : len - consumed;

      g_string_append_len (self->line, (const char *) data + consumed, take);
      consumed += take;
      if (nl == NULL)
        {
          if (self->line->len > MAX_MARKER_LINE)
            {
              keep_diagnostic (self, self->line->str, self->line->len);
              g_string_truncate (self->line, 0);
            }
          break;
        }

      if (strstr (self->line->str, "MITO000") != NULL)
        {
          if (!self->preamble_written)
            {
              self->preamble_written = TRUE;
              _mitogen_stream_write_raw (stream, self->plan->preamble);
            }
        }
      else if (strstr (self->line->str, "MITO002") != NULL)
        {
          g_autoptr(MitogenContext) context = NULL;

          g_string_truncate (self->line, 0);
          /* The rest of this read is already framed. */
          _mitogen_stream_start_framing (stream);
          context = _mitogen_router_register_stream (self->router, stream, self->context_id, self->name);
          g_debug ("Connection %s: context %u is up", self->name, self->context_id);
          finish (self, context, NULL);
          return consumed;
        }
      else if (strstr (self->line->str, "MITO001") == NULL)
        keep_diagnostic (self, self->line->str, self->line->len);
      g_string_truncate (self->line, 0);
    }

  return consumed;
}

static gboolean
on_stderr (gint         fd,
           GIOCondition condition,
           gpointer     user_data)
{
  Connection *self = user_data;
  char buffer[4096];
  gssize n;

  n = read (fd, buffer, sizeof buffer);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    {
      close (self->stderr_fd);
      self->stderr_fd = -1;
      g_clear_pointer (&self->stderr_source, g_source_unref);
      return G_SOURCE_REMOVE;
    }

  if (self->state == STATE_CONNECTING)
    keep_diagnostic (self, buffer, n);
  else
    {
      /* Once the runtime runs, its own stderr is captured and forwarded
       * as log records; what reaches here comes from the interpreter
       * itself (e.g. a crash), so it is worth a warning. */
      g_autofree char *text = g_utf8_make_valid (buffer, n);

      g_strchomp (text);
      if (*text != '\0')
        g_warning ("%s: %s", self->name, text);
    }

  return G_SOURCE_CONTINUE;
}

static gboolean
on_connect_timeout (gpointer user_data)
{
  Connection *self = user_data;
  g_autofree char *detail = diagnostics_text (self);

  g_clear_pointer (&self->timeout_source, g_source_unref);
  finish (self, NULL,
          g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT_TIMEOUT,
                       "%s did not start its child runtime within %.1f s%s",
                       self->name,
                       mitogen_connection_options_get_connect_timeout (self->options),
                       detail));
  return G_SOURCE_REMOVE;
}

static void
cancel_on_broker (gpointer user_data)
{
  Connection *self = user_data;

  if (self->state == STATE_CONNECTING)
    finish (self, NULL, g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                     "Connection to %s was cancelled", self->name));
  connection_unref (self);
}

static void
on_cancelled (GCancellable *cancellable,
              gpointer      user_data)
{
  Connection *self = user_data;

  /* Runs on the cancelling thread: hand over to the broker. */
  _mitogen_broker_post (self->broker, cancel_on_broker, connection_ref (self));
}

/* The broker is exiting and this child has not: its grace period is over.
 * Kill and reap it now, so that no zombie or orphan outlives the broker. */
static void
on_broker_exit (MitogenBroker *broker,
                gpointer       user_data)
{
  Connection *self = connection_ref (user_data);
  int status;

  if (self->exited || self->pid <= 0)
    {
      connection_unref (self);
      return;
    }
  /* Reap it ourselves: GLib's child watch must not race us for it. */
  destroy_source (&self->child_watch);
  kill (self->pid, SIGKILL);
  if (waitpid (self->pid, &status, 0) == self->pid)
    {
      self->exited = TRUE;
      self->wait_status = status;
    }
  if (self->holding_broker)
    self->holding_broker = FALSE;  /* the broker no longer counts */
  connection_unref (self);
}

static void
child_setup (gpointer user_data)
{
  /* A child whose master vanished without closing the stream (it always
   * closes, but belt and braces) is told too. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static void
start_on_broker (gpointer user_data)
{
  Connection *self = user_data;
  GMainContext *broker_context = _mitogen_broker_get_main_context (self->broker);
  g_autoptr(GError) error = NULL;
  int sv[2] = { -1, -1 };
  int err_pipe[2] = { -1, -1 };
  const char *explicit_name;

  if (g_task_return_error_if_cancelled (self->task))
    {
      g_clear_object (&self->task);
      connection_unref (self);
      return;
    }
  /* Each source below holds its own reference; this one is the post's. */

  self->context_id = _mitogen_router_allocate_context_id (self->router);
  if (mitogen_connection_options_get_upstream_core_path (self->options) != NULL)
    self->plan = _mitogen_boot_plan_new_upstream (self->router, self->options, self->context_id, &error);
  else
    self->plan = _mitogen_boot_plan_new_own (self->router, self->options, self->context_id, &error);
  if (self->plan == NULL)
    {
      finish (self, NULL, g_steal_pointer (&error));
      connection_unref (self);
      return;
    }

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
      pipe2 (err_pipe, O_CLOEXEC) != 0)
    {
      int saved = errno;

      for (int i = 0; i < 2; i++)
        {
          if (sv[i] >= 0)
            close (sv[i]);
          if (err_pipe[i] >= 0)
            close (err_pipe[i]);
        }
      finish (self, NULL, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                                       "Could not create the child's pipes: %s", g_strerror (saved)));
      connection_unref (self);
      return;
    }

  if (!g_spawn_async_with_pipes_and_fds (NULL, (const char * const *) self->plan->argv, NULL,
                                         G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                         child_setup, NULL,
                                         sv[1], sv[1], err_pipe[1],
                                         NULL, NULL, 0,
                                         &self->pid, NULL, NULL, NULL, &error))
    {
      close (sv[0]);
      close (sv[1]);
      close (err_pipe[0]);
      close (err_pipe[1]);
      if (g_error_matches (error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT))
        finish (self, NULL, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                                         "Python interpreter “%s” not found: install it or set the python-path option",
                                         self->plan->argv[0]));
      else
        finish (self, NULL, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                                         "Could not start “%s”: %s",
                                         self->plan->argv[0], error->message));
      connection_unref (self);
      return;
    }
  close (sv[1]);
  close (err_pipe[1]);

  /* Shutdown waits for the child to exit, up to the grace period. */
  _mitogen_broker_hold (self->broker);
  self->holding_broker = TRUE;
  _mitogen_broker_add_hooks (self->broker, NULL, on_broker_exit, self);

  explicit_name = mitogen_connection_options_get_name (self->options);
  self->name = explicit_name ? g_strdup (explicit_name)
                             : g_strdup_printf ("%s.%d", self->plan->method, (int) self->pid);

  /* From here the connection lives until the child has exited and its
   * stderr is drained: the child watch and the stderr source hold it. */
  self->child_watch = g_child_watch_source_new (self->pid);
  g_source_set_callback (self->child_watch, G_SOURCE_FUNC (on_child_exited),
                         connection_ref (self), connection_unref);
  g_source_attach (self->child_watch, broker_context);

  self->stderr_fd = err_pipe[0];
  g_unix_set_fd_nonblocking (self->stderr_fd, TRUE, NULL);
  self->stderr_source = g_unix_fd_source_new (self->stderr_fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_static_name (self->stderr_source, "[mitogen] child stderr");
  g_source_set_callback (self->stderr_source, G_SOURCE_FUNC (on_stderr),
                         connection_ref (self), connection_unref);
  g_source_attach (self->stderr_source, broker_context);

  self->timeout_source =
    g_timeout_source_new ((guint) (mitogen_connection_options_get_connect_timeout (self->options) * 1000));
  g_source_set_static_name (self->timeout_source, "[mitogen] connect timeout");
  g_source_set_callback (self->timeout_source, on_connect_timeout, self, NULL);
  g_source_attach (self->timeout_source, broker_context);

  self->stream = _mitogen_stream_new (self->broker, sv[0], self->name,
                                      mitogen_router_get_max_message_size (self->router));
  _mitogen_stream_set_callbacks (self->stream, on_raw, NULL, NULL, self);
  _mitogen_stream_set_close_notify (self->stream, on_stream_close_notify,
                                    connection_ref (self), connection_unref);
  _mitogen_stream_start (self->stream);

  if (self->cancellable != NULL)
    self->cancelled_id = g_cancellable_connect (self->cancellable, G_CALLBACK (on_cancelled),
                                                self, NULL);
  connection_unref (self);
}

void
_mitogen_connection_start_local (MitogenRouter            *router,
                                 MitogenConnectionOptions *options,
                                 GTask                    *task)
{
  Connection *self = g_new0 (Connection, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->router = g_object_ref (router);
  self->broker = g_object_ref (mitogen_router_get_broker (router));
  self->options = options ? g_object_ref (options) : mitogen_connection_options_new ();
  self->task = task;
  self->cancellable = g_task_get_cancellable (task) ? g_object_ref (g_task_get_cancellable (task)) : NULL;
  self->stderr_fd = -1;
  self->line = g_string_new (NULL);
  self->diagnostics = g_string_new (NULL);
  self->state = STATE_CONNECTING;

  _mitogen_broker_post (self->broker, start_on_broker, self);
}
