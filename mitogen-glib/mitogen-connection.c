/* mitogen-connection.c: starting a child and bootstrapping it
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
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
#include "mitogen-prompt-private.h"
#include "mitogen-pty-private.h"
#include "mitogen-router-private.h"
#include "mitogen-stream-private.h"

/* Diagnostics kept for error messages: the tail of what the child printed
 * before its runtime started. */
#define MAX_DIAGNOSTIC_BYTES 4096
#define MAX_MARKER_LINE 4096
/* How long a child that closed its end of the connection before the
 * runtime started may take to exit (its status explains the failure
 * best) before the connection fails without it. */
#define EOF_GRACE_MS 500

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
  MitogenMethodLaunch *launch;  /* (owned) (nullable) NULL for local */
  char **argv;                  /* (owned) (nullable) what was run */
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
  int stderr_fd;                /* a pipe, or the PTY master (HYBRID) */
  GSource *stderr_source;
  MitogenPromptParser *prompts; /* (owned) (nullable) methods only */
  gboolean password_sent;
  gboolean saw_mito000;
  gboolean host_key_changed;
  GSource *timeout_source;
  GSource *child_watch;
  GSource *reap_timer;
  GSource *eof_timer;           /* after an early EOF, for the exit status */
  guint reap_step;
  GString *line;                /* partial marker line */
  GString *diagnostics;         /* tail of stdout/stderr before boot */
  gboolean preamble_written;
  gboolean stdout_eof;
  gboolean holding_broker;      /* the broker waits for this child to exit */
} Connection;

static void connection_unref (gpointer data);

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
  destroy_source (&self->eof_timer);
  if (self->stderr_fd >= 0)
    close (self->stderr_fd);
  if (self->pid > 0)
    g_spawn_close_pid (self->pid);
  g_clear_pointer (&self->stream, _mitogen_stream_unref);
  g_clear_pointer (&self->plan, _mitogen_boot_plan_free);
  g_clear_pointer (&self->launch, _mitogen_method_launch_free);
  g_clear_pointer (&self->argv, g_strfreev);
  g_clear_pointer (&self->prompts, _mitogen_prompt_parser_free);
  g_clear_object (&self->options);
  g_clear_object (&self->router);
  g_clear_object (&self->broker);
  g_clear_object (&self->cancellable);
  g_string_free (self->line, TRUE);
  g_string_free (self->diagnostics, TRUE);
  g_free (self->name);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Connection, connection_unref)

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

static void
close_stderr (Connection *self)
{
  destroy_source (&self->stderr_source);
  if (self->stderr_fd >= 0)
    {
      close (self->stderr_fd);
      self->stderr_fd = -1;
    }
}

static void
hang_up (Connection *self)
{
  if (self->launch == NULL)
    return;
  if (self->launch->mode == MITOGEN_SPAWN_HYBRID)
    close_stderr (self);
  else if (self->launch->mode == MITOGEN_SPAWN_PTY && self->stream != NULL)
    {
      _mitogen_stream_close (self->stream, NULL);
      g_clear_pointer (&self->stream, _mitogen_stream_unref);
    }
}

/* Completes the caller's task once; later failures of a connected stream
 * are the router's business. */
static void
finish (Connection     *self,
        MitogenContext *context,
        GError         *error)
{
  GTask *task = g_steal_pointer (&self->task);

  /* Closing the stream below may drop what were the last references
   * (its close notification's). */
  connection_ref (self);
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
      connection_unref (self);
      return;
    }

  if (error != NULL)
    {
      self->state = STATE_FAILED;
      if (self->stream != NULL)
        _mitogen_stream_close (self->stream, NULL);
      if (self->pid > 0 && !self->exited)
        kill (self->pid, SIGKILL);
      /* A setuid sudo, su or doas may refuse the signal: hanging up its
       * terminal ends it anyway (and a PTY stream's fd is only closed
       * with its last reference). */
      hang_up (self);
      g_task_return_error (task, error);
    }
  else
    {
      self->state = STATE_CONNECTED;
      if (self->plan != NULL && self->plan->compiled_for != NULL)
        _mitogen_router_bytecode_booted (self->router, self->plan->compiled_for);
      g_task_return_pointer (task, g_object_ref (context), g_object_unref);
    }
  g_object_unref (task);
  connection_unref (self);
}

static void handle_prompt_events (Connection *self);
static void handle_prompt_event (Connection *self, MitogenPromptEvent *event);

/* What the method's program printed last is the best explanation: read
 * what is left of it before composing an error. */
static void
drain_stderr (Connection *self)
{
  char buffer[4096];

  while (self->stderr_fd >= 0)
    {
      gssize n = read (self->stderr_fd, buffer, sizeof buffer);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      if (self->prompts != NULL)
        {
          _mitogen_prompt_parser_feed (self->prompts, (const guint8 *) buffer, n);
          handle_prompt_events (self);
        }
      else
        keep_diagnostic (self, buffer, n);
    }
}

static void
flush_prompts (Connection *self)
{
  MitogenPromptEvent event;

  if (self->prompts == NULL || self->task == NULL)
    return;
  handle_prompt_events (self);
  if (self->task != NULL && _mitogen_prompt_parser_flush (self->prompts, &event))
    handle_prompt_event (self, &event);
}

static void
fail_with_exit_status (Connection *self)
{
  g_autofree char *detail = NULL;
  const char *program = self->argv ? self->argv[0] : self->plan->argv[0];

  drain_stderr (self);
  flush_prompts (self);
  if (self->task == NULL)
    return;  /* a late line explained it */
  detail = diagnostics_text (self);

  if (self->launch != NULL && WIFEXITED (self->wait_status) && !self->saw_mito000)
    {
      int status = WEXITSTATUS (self->wait_status);

      /* 127: the shell (or env) found no such command. */
      if (status == 127)
        {
          finish (self, NULL,
                  g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                               "%s not found on %s: install it or set python-path%s",
                               self->launch->python, self->launch->where, detail));
          return;
        }
      /* su says "Authentication failure" in the target's language, which
       * may not be one we know: after the password, status 1 is that. */
      if (self->password_sent && status == 1 &&
          self->launch->prompt_method == MITOGEN_PROMPT_METHOD_SU)
        {
          finish (self, NULL,
                  g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_BAD_PASSWORD,
                               "%s: the password was refused%s", self->name, detail));
          return;
        }
    }

  if (WIFEXITED (self->wait_status))
    finish (self, NULL,
            g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                         "%s (%s) exited with status %d before its child runtime started%s",
                         self->name, program, WEXITSTATUS (self->wait_status), detail));
  else if (WIFSIGNALED (self->wait_status))
    finish (self, NULL,
            g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                         "%s (%s) was killed by signal %d before its child runtime started%s",
                         self->name, program, WTERMSIG (self->wait_status), detail));
  else
    finish (self, NULL,
            g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                         "%s (%s) ended before its child runtime started%s",
                         self->name, program, detail));
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

/* The child closed its end of the connection before the runtime started
 * and has not exited since: no runtime can ever start on it, so fail now
 * rather than at the connect timeout. */
static gboolean
on_eof_grace (gpointer user_data)
{
  g_autoptr(Connection) self = connection_ref (user_data);
  g_autofree char *detail = NULL;

  g_clear_pointer (&self->eof_timer, g_source_unref);
  if (self->task == NULL || self->exited)
    return G_SOURCE_REMOVE;
  drain_stderr (self);
  flush_prompts (self);
  if (self->task == NULL)
    return G_SOURCE_REMOVE;
  detail = diagnostics_text (self);
  finish (self, NULL,
          g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                       "%s (%s) closed its end of the connection before its child runtime started%s",
                       self->name, self->argv ? self->argv[0] : self->plan->argv[0], detail));
  return G_SOURCE_REMOVE;
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
       * child watch finishes the connection; but not for ever, a child
       * that closed stdin and stdout may live on. */
      if (self->exited)
        fail_with_exit_status (self);
      else if (self->eof_timer == NULL)
        {
          self->eof_timer = g_timeout_source_new (EOF_GRACE_MS);
          g_source_set_static_name (self->eof_timer, "[mitogen] early EOF");
          g_source_set_callback (self->eof_timer, on_eof_grace, self, NULL);
          g_source_attach (self->eof_timer, _mitogen_broker_get_main_context (self->broker));
        }
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

static void
send_password (Connection *self)
{
  const char *password = self->launch->password;
  gsize len = strlen (password);
  g_autofree char *line = g_malloc (len + 1);

  memcpy (line, password, len);
  line[len] = '\n';
  self->password_sent = TRUE;
  g_debug ("Connection %s: typed the password", self->name);

  if (self->launch->mode == MITOGEN_SPAWN_PTY)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (line, len + 1);

      _mitogen_stream_write_raw (self->stream, bytes);
    }
  else
    {
      gsize done = 0;

      /* A few bytes into an empty terminal: this does not block for long,
       * and a short write is retried. */
      while (done < len + 1)
        {
          gssize n = write (self->stderr_fd, line + done, len + 1 - done);

          if (n < 0 && (errno == EINTR || errno == EAGAIN))
            {
              g_usleep (1000);
              continue;
            }
          if (n < 0)
            break;
          done += n;
        }
    }
  explicit_bzero (line, len + 1);
}

static void
fail_code (Connection *self,
           MitogenError code,
           const char  *format,
           ...) G_GNUC_PRINTF (3, 4);

static void
fail_code (Connection   *self,
           MitogenError  code,
           const char   *format,
           ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  finish (self, NULL, g_error_new_literal (MITOGEN_ERROR, code, message));
}

/* Acts on what ssh, sudo, su or doas printed, until the connection is
 * decided. Never answers a password prompt twice: a second prompt means
 * the first answer was wrong, and trying again risks locking the account
 * (PAM's faillock, sshd's MaxAuthTries). */
static void
handle_prompt_event (Connection         *self,
                     MitogenPromptEvent *event_)
{
  MitogenPromptEvent event = *event_;
  MitogenMethodLaunch *launch = self->launch;

  switch (event.kind)
    {
    case MITOGEN_PROMPT_EVENT_PASSWORD:
      g_debug ("Connection %s: password prompt: %s", self->name, event.text);
      if (self->saw_mito000)
        break;  /* the child runtime is starting: not a prompt of ours */
      if (launch->password == NULL && launch->prompt_token != NULL)
        fail_code (self, MITOGEN_ERROR_PASSWORD_REQUIRED,
                   "%s asked for a password and none was given: set the password option",
                   self->name);
      else if (launch->password == NULL)
        fail_code (self, MITOGEN_ERROR_PASSWORD_REQUIRED,
                   "%s asked for a password and none was given: set the password option (prompt: “%s”)",
                   self->name, g_strstrip ((char *) event.text));
      else if (self->password_sent)
        fail_code (self, MITOGEN_ERROR_BAD_PASSWORD,
                   "%s: the password was refused (asked again; not retried, to avoid locking the account)",
                   self->name);
      else
        send_password (self);
      break;

    case MITOGEN_PROMPT_EVENT_PASSPHRASE:
      fail_code (self, MITOGEN_ERROR_CONNECT,
                 "%s: ssh asks for the passphrase of a key (“%s”): mitogen-glib does not type "
                 "passphrases; use a key without one, or an ssh-agent",
                 self->name, g_strstrip ((char *) event.text));
      break;

    case MITOGEN_PROMPT_EVENT_HOST_KEY_QUESTION:
      fail_code (self, MITOGEN_ERROR_HOST_KEY,
                 "%s: ssh asks whether to accept the unknown host key of %s: add the key to "
                 "known_hosts, or choose the accept-new host key policy",
                 self->name, launch->where);
      break;

    case MITOGEN_PROMPT_EVENT_HOST_KEY_CHANGED:
      self->host_key_changed = TRUE;
      keep_diagnostic (self, event.text, strlen (event.text));
      keep_diagnostic (self, "\n", 1);
      break;

    case MITOGEN_PROMPT_EVENT_HOST_KEY_FAILED:
      if (self->host_key_changed)
        fail_code (self, MITOGEN_ERROR_HOST_KEY,
                   "The host key of %s has CHANGED and ssh refused it: someone may be intercepting "
                   "the connection, or the host was reinstalled. If the change is expected, remove "
                   "the old key from known_hosts (ssh-keygen -R HOST) and connect again",
                   launch->where);
      else
        fail_code (self, MITOGEN_ERROR_HOST_KEY,
                   "The host key of %s is not known and the host key policy is enforce: add it to "
                   "known_hosts (after checking its fingerprint), or choose the accept-new policy",
                   launch->where);
      break;

    case MITOGEN_PROMPT_EVENT_PERMISSION_DENIED:
      if (self->password_sent)
        fail_code (self, MITOGEN_ERROR_BAD_PASSWORD,
                   "%s: the password was refused (%s)", self->name, event.text);
      else if (event.offers_password && launch->password == NULL)
        fail_code (self, MITOGEN_ERROR_PASSWORD_REQUIRED,
                   "%s: no key was accepted and the server wants a password, but none was given: "
                   "set the password option or the identity file (%s)", self->name, event.text);
      else
        fail_code (self, MITOGEN_ERROR_CONNECT,
                   "%s: authentication failed (%s)", self->name, event.text);
      break;

    case MITOGEN_PROMPT_EVENT_AUTH_FAILED:
      if (self->password_sent)
        fail_code (self, MITOGEN_ERROR_BAD_PASSWORD,
                   "%s: the password was refused (%s)", self->name, event.text);
      else
        fail_code (self, MITOGEN_ERROR_CONNECT,
                   "%s: authentication failed (%s)", self->name, event.text);
      break;

    case MITOGEN_PROMPT_EVENT_PASSWORD_REQUIRED:
      fail_code (self, MITOGEN_ERROR_PASSWORD_REQUIRED,
                 "%s: a password is required and none was given (%s)", self->name, event.text);
      break;

    case MITOGEN_PROMPT_EVENT_CONNECT_FAILED:
      fail_code (self, MITOGEN_ERROR_CONNECT,
                 "Could not connect to %s: %s", launch->where, event.text);
      break;

    case MITOGEN_PROMPT_EVENT_COMMAND_NOT_FOUND:
      if (!self->saw_mito000)
        fail_code (self, MITOGEN_ERROR_CONNECT,
                   "%s not found on %s: install it or set python-path (%s)",
                   launch->python, launch->where, event.text);
      break;

    case MITOGEN_PROMPT_EVENT_LINE:
    default:
      if (g_str_has_prefix (event.text, "debug"))
        g_debug ("Connection %s: %s", self->name, event.text);
      else if (strstr (event.text, "MITO00") == NULL)
        {
          keep_diagnostic (self, event.text, strlen (event.text));
          keep_diagnostic (self, "\n", 1);
        }
      break;
    }
}

static void
handle_prompt_events (Connection *self)
{
  MitogenPromptEvent event;

  while (self->task != NULL && _mitogen_prompt_parser_next (self->prompts, &event))
    handle_prompt_event (self, &event);
}

static gsize on_raw_held (Connection *self, MitogenStream *stream, const guint8 *data, gsize len);

static gsize
on_raw (MitogenStream *stream,
        const guint8  *data,
        gsize          len,
        gpointer       user_data)
{
  /* A failure inside may close the stream and drop the references it
   * held on us: keep one for the duration. */
  Connection *self = connection_ref (user_data);
  gsize consumed = on_raw_held (self, stream, data, len);

  connection_unref (self);
  return consumed;
}

static gsize
on_raw_held (Connection    *self,
             MitogenStream *stream,
             const guint8  *data,
             gsize          len)
{
  gsize consumed = 0;

  if (self->state != STATE_CONNECTING)
    return len;

  while (consumed < len)
    {
      const guint8 *nl = memchr (data + consumed, '\n', len - consumed);
      gsize take = nl ? (gsize) (nl - (data + consumed)) + 1 : len - consumed;
      MitogenBootMarker marker;

      g_string_append_len (self->line, (const char *) data + consumed, take);
      /* su: prompts and messages share the PTY with the markers. */
      if (self->prompts != NULL && self->launch->mode == MITOGEN_SPAWN_PTY)
        {
          _mitogen_prompt_parser_feed (self->prompts, data + consumed, take);
          handle_prompt_events (self);
          if (self->task == NULL)
            return len;
        }
      consumed += take;
      if (nl == NULL)
        {
          if (self->line->len > MAX_MARKER_LINE)
            {
              if (self->launch == NULL || self->launch->mode != MITOGEN_SPAWN_PTY)
                keep_diagnostic (self, self->line->str, self->line->len);
              g_string_truncate (self->line, 0);
            }
          break;
        }

      marker = _mitogen_boot_marker_find (self->line->str, self->line->len);
      if (marker == MITOGEN_BOOT_MARKER_READY)
        {
          self->saw_mito000 = TRUE;
          if (!self->preamble_written)
            {
              self->preamble_written = TRUE;
              _mitogen_stream_write_raw (stream, self->plan->preamble);
            }
        }
      else if (marker == MITOGEN_BOOT_MARKER_UP)
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
      else if (marker == MITOGEN_BOOT_MARKER_NONE &&
               (self->launch == NULL || self->launch->mode != MITOGEN_SPAWN_PTY))
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

  if (self->state == STATE_CONNECTING && self->prompts != NULL)
    {
      _mitogen_prompt_parser_feed (self->prompts, (const guint8 *) buffer, n);
      handle_prompt_events (self);
    }
  else if (self->state == STATE_CONNECTING)
    keep_diagnostic (self, buffer, n);
  else
    {
      /* Once the runtime runs, its own stderr is captured and forwarded
       * as log records; what reaches here comes from the interpreter
       * itself (e.g. a crash) or from ssh/sudo, so it is worth a
       * message. */
      g_autofree char *text = g_utf8_make_valid (buffer, n);

      g_strchomp (text);
      /* Once the stream is gone, it is the program's goodbye
       * ("Terminated"): not worth more than a debug line. */
      if (*text == '\0')
        ;
      else if (self->stream == NULL || _mitogen_stream_is_closed (self->stream))
        g_debug ("%s: %s", self->name, text);
      else
        g_message ("%s: %s", self->name, text);
    }

  return G_SOURCE_CONTINUE;
}

static gboolean
on_connect_timeout (gpointer user_data)
{
  g_autoptr(Connection) self = connection_ref (user_data);
  g_autofree char *detail = NULL;

  g_clear_pointer (&self->timeout_source, g_source_unref);
  /* An unanswered question (a prompt we do not know, e.g. a one-time
   * code) is the likely cause: show it. */
  drain_stderr (self);
  flush_prompts (self);
  if (self->task == NULL)
    return G_SOURCE_REMOVE;
  detail = diagnostics_text (self);
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
  if (kill (self->pid, SIGKILL) == 0)
    {
      if (waitpid (self->pid, &status, 0) == self->pid)
        {
          self->exited = TRUE;
          self->wait_status = status;
        }
    }
  else
    {
      /* A setuid sudo/su/doas refuses our signal: hang up its terminal
       * and its stream, and wait a bounded while (never block the
       * broker's exit on it). */
      hang_up (self);
      if (self->stream != NULL)
        _mitogen_stream_close (self->stream, NULL);
      for (int i = 0; i < 200 && !self->exited; i++)
        {
          if (waitpid (self->pid, &status, WNOHANG) == self->pid)
            {
              self->exited = TRUE;
              self->wait_status = status;
            }
          else
            g_usleep (10000);
        }
    }
  if (self->holding_broker)
    self->holding_broker = FALSE;  /* the broker no longer counts */
  connection_unref (self);
}

typedef struct
{
  MitogenSpawnMode mode;
  gboolean detach;
} ChildSetup;

static void
child_setup (gpointer user_data)
{
  const ChildSetup *setup = user_data;

  /* A child whose master vanished without closing the stream (it always
   * closes, but belt and braces) is told too. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);

  /* Runs after the descriptors were moved to 0-2: the PTY slave is fd 2
   * (HYBRID) or fds 0-2 (PTY). */
  if (setup->mode == MITOGEN_SPAWN_HYBRID)
    {
      if (!_mitogen_pty_child_setup (2))
        _exit (126);
    }
  else if (setup->mode == MITOGEN_SPAWN_PTY)
    {
      if (!_mitogen_pty_child_setup (0))
        _exit (126);
    }
  else if (setup->detach)
    _mitogen_pty_child_detach ();
}

/* The child of a plain (socket and pipe) connection is started with
 * posix_spawn, a vfork underneath: fork copies the master's page tables and
 * so costs more the bigger the master (a GTK program, a long-lived service),
 * and runs on the broker thread, where every other stream waits meanwhile.
 * The child gets 0-2 and nothing else, a clear signal mask and default
 * signal dispositions; a new session when it is a launcher (sudo, su, ssh),
 * as child_setup() does. Without child_setup's PR_SET_PDEATHSIG: the
 * runtime exits by itself when its stream hangs up, before and after it
 * has booted. */
static gboolean
spawn_plain (char      **argv,
             int         stdio_fd,
             int         stderr_fd,
             gboolean    new_session,
             GPid       *pid_out,
             GError    **error)
{
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  sigset_t signals;
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  g_autofree char *program = g_find_program_in_path (argv[0]);
  pid_t pid = -1;
  int status;

  /* Looked up here, not by posix_spawnp: a missing program is reported
   * the same way wherever the spawn runs (under valgrind, vfork is a fork
   * and posix_spawn cannot report the exec's failure). */
  if (program == NULL)
    status = strchr (argv[0], '/') != NULL && access (argv[0], F_OK) == 0 ? EACCES : ENOENT;
  else
    {
      if (new_session)
        flags |= POSIX_SPAWN_SETSID;
      posix_spawn_file_actions_init (&actions);
      posix_spawn_file_actions_adddup2 (&actions, stdio_fd, 0);
      posix_spawn_file_actions_adddup2 (&actions, stdio_fd, 1);
      posix_spawn_file_actions_adddup2 (&actions, stderr_fd, 2);
      posix_spawn_file_actions_addclosefrom_np (&actions, 3);
      posix_spawnattr_init (&attributes);
      posix_spawnattr_setflags (&attributes, flags);
      sigemptyset (&signals);
      posix_spawnattr_setsigmask (&attributes, &signals);
      sigfillset (&signals);
      posix_spawnattr_setsigdefault (&attributes, &signals);

      status = posix_spawn (&pid, program, &actions, &attributes, argv, environ);

      posix_spawnattr_destroy (&attributes);
      posix_spawn_file_actions_destroy (&actions);
    }
  if (status != 0)
    {
      g_set_error (error, G_SPAWN_ERROR,
                   status == ENOENT ? G_SPAWN_ERROR_NOENT :
                   status == EACCES ? G_SPAWN_ERROR_ACCES : G_SPAWN_ERROR_FAILED,
                   "%s", g_strerror (status));
      return FALSE;
    }
  *pid_out = pid;
  return TRUE;
}

static char **
build_argv (Connection *self)
{
  GPtrArray *argv = g_ptr_array_new ();

  if (self->launch == NULL)
    {
      for (gsize i = 0; self->plan->argv[i] != NULL; i++)
        g_ptr_array_add (argv, g_strdup (self->plan->argv[i]));
    }
  else
    {
      for (gsize i = 0; self->launch->argv[i] != NULL; i++)
        g_ptr_array_add (argv, g_strdup (self->launch->argv[i]));
      if (self->launch->quote_boot)
        g_ptr_array_add (argv, _mitogen_shell_join ((const char * const *) self->plan->argv));
      else
        for (gsize i = 0; self->plan->argv[i] != NULL; i++)
          g_ptr_array_add (argv, g_strdup (self->plan->argv[i]));
    }
  g_ptr_array_add (argv, NULL);
  return (char **) g_ptr_array_free (argv, FALSE);
}

static void
close_pair (int fds[2])
{
  for (int i = 0; i < 2; i++)
    if (fds[i] >= 0)
      {
        close (fds[i]);
        fds[i] = -1;
      }
}

/* The socket pair between the master and a child's process (the child
 * itself, or ssh, sudo or doas in front of it), each end able to hold
 * MITOGEN_SOCKET_PAIR_BUFFER_BYTES: with the default (~208 KiB) a stream
 * of big frames stops and wakes the other side several times a frame, and
 * on virtual machines each wake-up of an idle CPU is dear
 * (bulk_stream_m2c_16mib went from ~1.75 to ~2.15 GB/s here, and a burst
 * of pipelined calls blocks less). The kernel charges only bytes in
 * flight. */
static gboolean
open_socket_pair (int fds[2])
{
  int size = MITOGEN_SOCKET_PAIR_BUFFER_BYTES;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    return FALSE;
  /* Best effort: a smaller buffer only costs speed. */
  for (int i = 0; i < 2; i++)
    (void) setsockopt (fds[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  return TRUE;
}

static void
start_on_broker (gpointer user_data)
{
  Connection *self = user_data;
  GMainContext *broker_context = _mitogen_broker_get_main_context (self->broker);
  g_autoptr(GError) error = NULL;
  MitogenSpawnMode mode = self->launch ? self->launch->mode : MITOGEN_SPAWN_PIPES;
  ChildSetup setup = { mode, self->launch != NULL };
  int sv[2] = { -1, -1 };
  int err_pipe[2] = { -1, -1 };
  int pty[2] = { -1, -1 };
  int child_stdio = -1;
  int child_stderr = -1;
  int stream_fd = -1;
  const char *explicit_name;
  gboolean ok = TRUE;
  gboolean spawned;
  int saved = 0;

  if (g_task_return_error_if_cancelled (self->task))
    {
      g_clear_object (&self->task);
      connection_unref (self);
      return;
    }
  /* Each source below holds its own reference; this one is the post's. */

  self->context_id = _mitogen_router_allocate_context_id (self->router);
  if (self->context_id == 0)
    {
      finish (self, NULL, g_error_new_literal (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                                               "This router has used up its context ids"));
      connection_unref (self);
      return;
    }
  if (mitogen_connection_options_get_upstream_core_path (self->options) != NULL)
    self->plan = _mitogen_boot_plan_new_upstream (self->router, self->options, self->context_id, &error);
  else
    self->plan = _mitogen_boot_plan_new_own (self->router, self->options, self->context_id,
                                             self->launch == NULL || self->launch->on_this_machine,
                                             &error);
  if (self->plan == NULL)
    {
      finish (self, NULL, g_steal_pointer (&error));
      connection_unref (self);
      return;
    }
  self->argv = build_argv (self);

  switch (mode)
    {
    case MITOGEN_SPAWN_PIPES:
      ok = open_socket_pair (sv) &&
           pipe2 (err_pipe, O_CLOEXEC) == 0;
      saved = errno;
      child_stdio = sv[1];
      child_stderr = err_pipe[1];
      stream_fd = sv[0];
      self->stderr_fd = err_pipe[0];
      break;
    case MITOGEN_SPAWN_HYBRID:
      ok = open_socket_pair (sv);
      saved = errno;
      if (ok && !_mitogen_pty_open (&pty[0], &pty[1], &error))
        {
          close_pair (sv);
          finish (self, NULL, g_steal_pointer (&error));
          connection_unref (self);
          return;
        }
      child_stdio = sv[1];
      child_stderr = pty[1];
      stream_fd = sv[0];
      self->stderr_fd = pty[0];
      break;
    case MITOGEN_SPAWN_PTY:
    default:
      if (!_mitogen_pty_open (&pty[0], &pty[1], &error))
        {
          finish (self, NULL, g_steal_pointer (&error));
          connection_unref (self);
          return;
        }
      child_stdio = pty[1];
      child_stderr = pty[1];
      stream_fd = pty[0];
      break;
    }
  if (!ok)
    {
      close_pair (sv);
      close_pair (err_pipe);
      self->stderr_fd = -1;
      finish (self, NULL, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                                       "Could not create the child's pipes: %s", g_strerror (saved)));
      connection_unref (self);
      return;
    }

  /* posix_spawn's actions would clobber a descriptor among 0-2 before
   * copying it (a master started with its stdio closed): GLib sorts that. */
  if (mode == MITOGEN_SPAWN_PIPES && child_stdio > 2 && child_stderr > 2)
    spawned = spawn_plain (self->argv, child_stdio, child_stderr, setup.detach, &self->pid, &error);
  else
    spawned = g_spawn_async_with_pipes_and_fds (NULL, (const char * const *) self->argv, NULL,
                                                G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                                child_setup, &setup,
                                                child_stdio, child_stdio, child_stderr,
                                                NULL, NULL, 0,
                                                &self->pid, NULL, NULL, NULL, &error);
  if (!spawned)
    {
      close_pair (sv);
      close_pair (err_pipe);
      close_pair (pty);
      self->stderr_fd = -1;
      if (g_error_matches (error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT) && self->launch == NULL)
        finish (self, NULL, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                                         "Python interpreter “%s” not found: install it or set the python-path option",
                                         self->argv[0]));
      else if (g_error_matches (error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT))
        finish (self, NULL, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                                         "“%s” not found: install it or set the %s-path option",
                                         self->argv[0], self->launch->method));
      else
        finish (self, NULL, g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
                                         "Could not start “%s”: %s",
                                         self->argv[0], error->message));
      connection_unref (self);
      return;
    }
  /* Our copies of the child's ends. */
  if (sv[1] >= 0)
    close (sv[1]);
  if (err_pipe[1] >= 0)
    close (err_pipe[1]);
  if (pty[1] >= 0)
    close (pty[1]);

  /* Shutdown waits for the child to exit, up to the grace period. */
  _mitogen_broker_hold (self->broker);
  self->holding_broker = TRUE;
  _mitogen_broker_add_hooks (self->broker, NULL, on_broker_exit, self);

  explicit_name = mitogen_connection_options_get_name (self->options);
  if (explicit_name != NULL)
    self->name = g_strdup (explicit_name);
  else if (self->launch != NULL)
    self->name = g_strdup (self->launch->default_name);
  else
    self->name = g_strdup_printf ("%s.%d", self->plan->method, (int) self->pid);
  if (self->launch != NULL)
    {
      g_debug ("Connection %s: started %s (pid %d)", self->name, self->argv[0], (int) self->pid);
      self->prompts = _mitogen_prompt_parser_new (self->launch->prompt_method,
                                                  self->launch->prompt_token,
                                                  self->launch->python);
    }

  /* From here the connection lives until the child has exited and its
   * stderr is drained: the child watch and the stderr source hold it. */
  self->child_watch = g_child_watch_source_new (self->pid);
  g_source_set_callback (self->child_watch, G_SOURCE_FUNC (on_child_exited),
                         connection_ref (self), connection_unref);
  g_source_attach (self->child_watch, broker_context);

  if (self->stderr_fd >= 0)
    {
      g_unix_set_fd_nonblocking (self->stderr_fd, TRUE, NULL);
      self->stderr_source = g_unix_fd_source_new (self->stderr_fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
      g_source_set_static_name (self->stderr_source, "[mitogen] child stderr");
      g_source_set_callback (self->stderr_source, G_SOURCE_FUNC (on_stderr),
                             connection_ref (self), connection_unref);
      g_source_attach (self->stderr_source, broker_context);
    }

  self->timeout_source =
    g_timeout_source_new ((guint) (mitogen_connection_options_get_connect_timeout (self->options) * 1000));
  g_source_set_static_name (self->timeout_source, "[mitogen] connect timeout");
  g_source_set_callback (self->timeout_source, on_connect_timeout, self, NULL);
  g_source_attach (self->timeout_source, broker_context);

  self->stream = _mitogen_stream_new (self->broker, stream_fd, self->name,
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
_mitogen_connection_start (MitogenRouter            *router,
                           MitogenConnectionOptions *options,
                           MitogenMethodLaunch      *launch,
                           GTask                    *task)
{
  Connection *self = g_new0 (Connection, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->router = g_object_ref (router);
  self->broker = g_object_ref (mitogen_router_get_broker (router));
  self->options = options ? g_object_ref (options) : mitogen_connection_options_new ();
  self->launch = launch;
  self->task = task;
  self->cancellable = g_task_get_cancellable (task) ? g_object_ref (g_task_get_cancellable (task)) : NULL;
  self->stderr_fd = -1;
  self->line = g_string_new (NULL);
  self->diagnostics = g_string_new (NULL);
  self->state = STATE_CONNECTING;

  _mitogen_broker_post (self->broker, start_on_broker, self);
}

void
_mitogen_connection_start_local (MitogenRouter            *router,
                                 MitogenConnectionOptions *options,
                                 GTask                    *task)
{
  _mitogen_connection_start (router, options, NULL, task);
}

void
_mitogen_method_launch_free (MitogenMethodLaunch *launch)
{
  if (launch == NULL)
    return;
  if (launch->password != NULL)
    explicit_bzero (launch->password, strlen (launch->password));
  g_free (launch->password);
  g_free (launch->method);
  g_free (launch->default_name);
  g_free (launch->where);
  g_strfreev (launch->argv);
  g_free (launch->prompt_token);
  g_free (launch->python);
  g_free (launch);
}

/* Characters a POSIX shell never treats specially inside a word. */
static gboolean
is_shell_safe (const char *word)
{
  if (*word == '\0')
    return FALSE;
  for (const char *p = word; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("@%+=:,./_-", *p) == NULL)
      return FALSE;
  return TRUE;
}

char *
_mitogen_shell_join (const char * const *argv)
{
  GString *out = g_string_new (NULL);

  for (gsize i = 0; argv[i] != NULL; i++)
    {
      if (i > 0)
        g_string_append_c (out, ' ');
      if (is_shell_safe (argv[i]))
        {
          g_string_append (out, argv[i]);
          continue;
        }
      /* 'it'\''s': close the quote, an escaped quote, reopen. */
      g_string_append_c (out, '\'');
      for (const char *p = argv[i]; *p != '\0'; p++)
        {
          if (*p == '\'')
            g_string_append (out, "'\\''");
          else
            g_string_append_c (out, *p);
        }
      g_string_append_c (out, '\'');
    }
  return g_string_free (out, FALSE);
}
