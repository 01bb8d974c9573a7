/* mitogen-completion.c: completing GTasks in their main context in batches
 *
 * One GSource per GMainContext that has ever waited for a call, found
 * through a registry. The broker thread appends (task, reply) pairs and
 * wakes the context only when the batch was empty; the source's dispatch
 * returns them all. GTask then invokes each callback at once: the source
 * runs in the task's context, in a later iteration than the one that
 * created the task.
 *
 * The wake-up is a byte on a pipe the source polls, not
 * g_main_context_wakeup(), which takes the context's lock and so often
 * contends with the thread iterating it. Inside a delivery batch
 * (_mitogen_completion_batch_begin/end around the frames of one read),
 * wake-ups wait for the batch's end: one per context per read.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mitogen-completion-private.h"

typedef struct
{
  GSource source;
  GMainContext *context;     /* (unowned) the context it is attached to */
  GMutex lock;
  GPtrArray *pending;        /* (lock) task, payload, error, task, ... */
  GPtrArray *spare;          /* (lock) (nullable) an empty array to reuse */
  gint n_pending;            /* (atomic) pending->len, for prepare/check */
  int wake_fds[2];           /* read end polled by the source, write end */
} CompletionSource;

/* Sources whose wake-up waits for the end of this thread's batch. */
typedef struct
{
  guint depth;
  GPtrArray *to_wake;        /* (element-type CompletionSource) (owned) */
} Batch;

static void
batch_free (gpointer data)
{
  Batch *batch = data;

  g_ptr_array_unref (batch->to_wake);
  g_free (batch);
}

static GPrivate thread_batch = G_PRIVATE_INIT (batch_free);

static GMutex registry_lock;
static GHashTable *registry;  /* (lock) GMainContext -> CompletionSource (unowned) */

static gboolean
completion_prepare (GSource *source,
                    gint    *timeout)
{
  CompletionSource *self = (CompletionSource *) source;

  *timeout = -1;
  return g_atomic_int_get (&self->n_pending) > 0;
}

static gboolean
completion_check (GSource *source)
{
  CompletionSource *self = (CompletionSource *) source;

  return g_atomic_int_get (&self->n_pending) > 0;
}

static gboolean
completion_dispatch (GSource     *source,
                     GSourceFunc  callback,
                     gpointer     user_data)
{
  CompletionSource *self = (CompletionSource *) source;
  GPtrArray *batch;
  char drain[64];

  /* Drained before taking the batch: a wake-up written after this is
   * for items this dispatch does not take, and stays for the next. */
  if (self->wake_fds[0] >= 0)
    {
      gssize n;

      while ((n = read (self->wake_fds[0], drain, sizeof drain)) > 0 || (n < 0 && errno == EINTR))
        ;
    }
  /* The batch is taken whole, so a callback that iterates this context
   * again (the source may recurse) dispatches only newer replies. */
  g_mutex_lock (&self->lock);
  batch = self->pending;
  self->pending = self->spare != NULL ? g_steal_pointer (&self->spare) : g_ptr_array_new ();
  g_atomic_int_set (&self->n_pending, 0);
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < batch->len; i += 3)
    {
      GTask *task = batch->pdata[i];

      if (batch->pdata[i + 2] != NULL)
        g_task_return_error (task, batch->pdata[i + 2]);
      else
        g_task_return_pointer (task, batch->pdata[i + 1], (GDestroyNotify) g_bytes_unref);
      g_object_unref (task);
    }
  g_ptr_array_set_size (batch, 0);
  g_mutex_lock (&self->lock);
  if (self->spare == NULL)
    self->spare = g_steal_pointer (&batch);
  g_mutex_unlock (&self->lock);
  g_clear_pointer (&batch, g_ptr_array_unref);

  return G_SOURCE_CONTINUE;
}

static void
completion_finalize (GSource *source)
{
  CompletionSource *self = (CompletionSource *) source;

  g_mutex_lock (&registry_lock);
  if (registry != NULL && g_hash_table_lookup (registry, self->context) == self)
    g_hash_table_remove (registry, self->context);
  g_mutex_unlock (&registry_lock);

  /* Every task holds a reference on its context, so a context (and this
   * source with it) only goes once nothing is pending. The lock orders
   * this after the last push, whichever thread that was (GSource's own
   * reference count does too, but out of ThreadSanitizer's sight). */
  g_mutex_lock (&self->lock);
  g_assert (self->pending->len == 0);
  g_clear_pointer (&self->pending, g_ptr_array_unref);
  g_clear_pointer (&self->spare, g_ptr_array_unref);
  g_mutex_unlock (&self->lock);
  g_mutex_clear (&self->lock);
  close (self->wake_fds[0]);
  close (self->wake_fds[1]);
}

static GSourceFuncs completion_funcs = {
  .prepare = completion_prepare,
  .check = completion_check,
  .dispatch = completion_dispatch,
  .finalize = completion_finalize,
};

/* Returns a new reference on the context's source, made on first use. */
static GSource *
completion_source_for (GMainContext *context)
{
  CompletionSource *self;

  g_mutex_lock (&registry_lock);
  if (registry == NULL)
    registry = g_hash_table_new (NULL, NULL);
  self = g_hash_table_lookup (registry, context);
  if (self != NULL)
    g_source_ref (&self->source);
  else
    {
      self = (CompletionSource *) g_source_new (&completion_funcs, sizeof (CompletionSource));
      g_source_set_static_name (&self->source, "[mitogen] call completions");
      g_source_set_priority (&self->source, G_PRIORITY_DEFAULT);
      g_mutex_init (&self->lock);
      self->pending = g_ptr_array_new ();
      self->context = context;
      /* Without a pipe (out of fds) the context is woken the usual way. */
      self->wake_fds[0] = self->wake_fds[1] = -1;
      if (g_unix_open_pipe (self->wake_fds, FD_CLOEXEC, NULL))
        {
          g_unix_set_fd_nonblocking (self->wake_fds[0], TRUE, NULL);
          g_unix_set_fd_nonblocking (self->wake_fds[1], TRUE, NULL);
          g_source_add_unix_fd (&self->source, self->wake_fds[0], G_IO_IN);
          /* Else GLib takes the fd out of the poll set around every
           * dispatch and puts it back, waking the context twice. */
          g_source_set_can_recurse (&self->source, TRUE);
        }
      g_hash_table_insert (registry, context, self);
      /* The context owns it from now on; we keep the reference we return. */
      g_source_attach (&self->source, context);
    }
  g_mutex_unlock (&registry_lock);

  return &self->source;
}

/* Called with self->lock held when the source has a pipe: the lock then
 * orders the write before the pipe's close in completion_finalize() for
 * ThreadSanitizer too (GSource's reference count, which already does, is
 * out of its sight); the reader drains the pipe before it takes the lock,
 * so a writer holding it never waits on the reader. */
static void
wake_pipe_locked (CompletionSource *self)
{
  /* EAGAIN: the pipe is full of wake-ups already. */
  while (write (self->wake_fds[1], "", 1) < 0 && errno == EINTR)
    ;
}

static void
wake (CompletionSource *self)
{
  if (self->wake_fds[1] < 0)
    {
      g_main_context_wakeup (self->context);
      return;
    }
  g_mutex_lock (&self->lock);
  wake_pipe_locked (self);
  g_mutex_unlock (&self->lock);
}

void
_mitogen_complete_in_context (GTask  *task,
                              GBytes *payload,
                              GError *error)
{
  GMainContext *context = g_task_get_context (task);
  GSource *source = completion_source_for (context);
  CompletionSource *self = (CompletionSource *) source;
  Batch *batch = g_private_get (&thread_batch);
  gboolean wake_context = FALSE;

  g_mutex_lock (&self->lock);
  if (self->pending->len == 0)
    {
      /* The first of a batch: wake the context now, or at the end of
       * this thread's delivery batch. */
      if (batch != NULL && batch->depth > 0)
        g_ptr_array_add (batch->to_wake, g_source_ref (source));
      else if (self->wake_fds[1] >= 0)
        wake_pipe_locked (self);
      else
        wake_context = TRUE;
    }
  g_ptr_array_add (self->pending, task);
  g_ptr_array_add (self->pending, payload);
  g_ptr_array_add (self->pending, error);
  g_atomic_int_set (&self->n_pending, self->pending->len);
  g_mutex_unlock (&self->lock);

  if (wake_context)
    g_main_context_wakeup (context);
  g_source_unref (source);
}

void
_mitogen_completion_batch_begin (void)
{
  Batch *batch = g_private_get (&thread_batch);

  if (batch == NULL)
    {
      batch = g_new0 (Batch, 1);
      batch->to_wake = g_ptr_array_new_with_free_func ((GDestroyNotify) g_source_unref);
      g_private_set (&thread_batch, batch);
    }
  batch->depth++;
}

void
_mitogen_completion_batch_end (void)
{
  Batch *batch = g_private_get (&thread_batch);

  g_return_if_fail (batch != NULL && batch->depth > 0);
  if (--batch->depth > 0)
    return;
  for (guint i = 0; i < batch->to_wake->len; i++)
    wake (batch->to_wake->pdata[i]);
  g_ptr_array_set_size (batch->to_wake, 0);
}
