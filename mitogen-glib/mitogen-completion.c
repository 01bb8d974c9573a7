/* mitogen-completion.c: completing GTasks in their main context in batches
 *
 * One GSource per GMainContext that has ever waited for a call, found
 * through a registry. The broker thread appends (task, reply) pairs and
 * wakes the context only when the batch was empty; the source's dispatch
 * returns them all. GTask then invokes each callback at once: the source
 * runs in the task's context, in a later iteration than the one that
 * created the task.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-completion-private.h"

typedef struct
{
  GSource source;
  GMainContext *context;     /* (unowned) the context it is attached to */
  GMutex lock;
  GPtrArray *pending;        /* (lock) task, message, task, message, ... */
  GPtrArray *dispatching;    /* dispatch only */
  gint n_pending;            /* (atomic) pending->len, for prepare/check */
} CompletionSource;

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

  g_mutex_lock (&self->lock);
  batch = self->pending;
  self->pending = self->dispatching;
  self->dispatching = batch;
  g_atomic_int_set (&self->n_pending, 0);
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < batch->len; i += 2)
    {
      GTask *task = batch->pdata[i];

      g_task_return_pointer (task, batch->pdata[i + 1], g_object_unref);
      g_object_unref (task);
    }
  g_ptr_array_set_size (batch, 0);

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
  g_clear_pointer (&self->dispatching, g_ptr_array_unref);
  g_mutex_unlock (&self->lock);
  g_mutex_clear (&self->lock);
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
      self->dispatching = g_ptr_array_new ();
      self->context = context;
      g_hash_table_insert (registry, context, self);
      /* The context owns it from now on; we keep the reference we return. */
      g_source_attach (&self->source, context);
    }
  g_mutex_unlock (&registry_lock);

  return &self->source;
}

void
_mitogen_complete_in_context (GTask          *task,
                              MitogenMessage *message)
{
  GMainContext *context = g_task_get_context (task);
  GSource *source = completion_source_for (context);
  CompletionSource *self = (CompletionSource *) source;
  gboolean was_empty;

  g_mutex_lock (&self->lock);
  was_empty = self->pending->len == 0;
  g_ptr_array_add (self->pending, task);
  g_ptr_array_add (self->pending, message);
  g_atomic_int_set (&self->n_pending, self->pending->len);
  g_mutex_unlock (&self->lock);

  if (was_empty)
    g_main_context_wakeup (context);
  g_source_unref (source);
}
