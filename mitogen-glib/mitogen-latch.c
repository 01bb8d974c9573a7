/* mitogen-latch.c: a thread-safe queue whose waiters can be woken
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-error.h"
#include "mitogen-latch-private.h"

/**
 * MitogenLatch:
 *
 * A first-in, first-out queue of objects that any number of threads can
 * fill and drain, and whose waiters can always be woken.
 *
 * [method@Mitogen.Latch.put] adds an item. A consumer takes the oldest one
 * with [method@Mitogen.Latch.get] (blocking, with a timeout and a
 * [class@Gio.Cancellable]), [method@Mitogen.Latch.try_get] (never blocks) or
 * [method@Mitogen.Latch.get_async]. When consumers are already waiting, a
 * new item goes straight to the one that has waited longest, blocking and
 * asynchronous waiters alike, so an item is handed to exactly one consumer
 * and is never lost.
 *
 * [method@Mitogen.Latch.close] ends the latch: queued items are released,
 * every waiter fails with %MITOGEN_ERROR_LATCH_CLOSED, and so does every
 * later put or get.
 *
 * Thread safety: every method may be called from any thread, concurrently.
 * The callback of [method@Mitogen.Latch.get_async] runs in the
 * thread-default [struct@GLib.MainContext] of the thread that called it, in
 * a later iteration of that context, whichever thread made the item
 * available; that context must be iterated until the callback has run.
 *
 * Since: 1.0
 */

typedef enum {
  WAITER_PENDING,    /* set up, not yet queued */
  WAITER_QUEUED,     /* in self->waiters */
  WAITER_GOT_ITEM,
  WAITER_CLOSED,
  WAITER_CANCELLED,
  WAITER_TIMED_OUT,
} WaiterState;

/* What a blocking get sleeps on: one per thread (a thread waits in one get
 * at a time), reference counted so that put can signal it after dropping
 * the latch's lock, which the woken thread then finds free instead of
 * going back to sleep on it. A late signal is a spurious wake-up of that
 * thread's next wait, which the wait loop absorbs. */
typedef struct
{
  gatomicrefcount ref_count;
  GCond cond;
} Wake;

static Wake *
wake_ref (Wake *wake)
{
  g_atomic_ref_count_inc (&wake->ref_count);
  return wake;
}

static void
wake_unref (gpointer data)
{
  Wake *wake = data;

  if (g_atomic_ref_count_dec (&wake->ref_count))
    {
      g_cond_clear (&wake->cond);
      g_free (wake);
    }
}

static GPrivate thread_wake = G_PRIVATE_INIT (wake_unref);

static Wake *
wake_for_this_thread (void)
{
  Wake *wake = g_private_get (&thread_wake);

  if (wake == NULL)
    {
      wake = g_new0 (Wake, 1);
      g_atomic_ref_count_init (&wake->ref_count);
      g_cond_init (&wake->cond);
      g_private_set (&thread_wake, wake);
    }
  return wake;
}

/* One consumer waiting for an item. A blocking get keeps it on its stack and
 * sleeps on @wake; an async get keeps it as the task data of its GTask, so
 * it lives exactly as long as the task. */
typedef struct
{
  GList         link;        /* in latch->waiters while QUEUED; data = self */
  MitogenLatch *latch;       /* (unowned): the blocking caller or the task
                              * holds a ref for the waiter's whole life */
  WaiterState   state;       /* (guarded by latch->lock) */
  gpointer      item;        /* (owned) (nullable): blocking only, GOT_ITEM */
  Wake         *wake;        /* (unowned) (nullable): blocking only; the
                              * thread's own, alive while it waits */
  GTask        *task;        /* (owned) (nullable): async only, while QUEUED */
  GCancellable *cancellable; /* (owned) (nullable): async only */
  gulong        handler_id;  /* async only: cancelled handler, or 0 */
} Waiter;

struct _MitogenLatch
{
  GObject parent_instance;

  GMutex lock;

  /* All (guarded by lock). Invariant: items and waiters are never both
   * non-empty, because put hands over to a waiter and a get only waits on
   * an empty queue. */
  GQueue items;        /* (element-type GObject) (owned) */
  GQueue waiters;      /* of Waiter, linked through Waiter.link */
  gboolean closed;

  MitogenLatchNotify notify;
  gpointer notify_data;
};

G_DEFINE_FINAL_TYPE (MitogenLatch, mitogen_latch, G_TYPE_OBJECT)

static void
mitogen_latch_finalize (GObject *object)
{
  MitogenLatch *self = MITOGEN_LATCH (object);

  /* Every waiter holds a ref on us, so none can be left. */
  g_warn_if_fail (g_queue_is_empty (&self->waiters));

  g_queue_clear_full (&self->items, g_object_unref);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (mitogen_latch_parent_class)->finalize (object);
}

static void
mitogen_latch_class_init (MitogenLatchClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mitogen_latch_finalize;
}

static void
mitogen_latch_init (MitogenLatch *self)
{
  g_mutex_init (&self->lock);
  g_queue_init (&self->items);
  g_queue_init (&self->waiters);
}

/**
 * mitogen_latch_new:
 *
 * Creates an empty, open latch.
 *
 * Returns: (transfer full): a new latch
 *
 * Since: 1.0
 */
MitogenLatch *
mitogen_latch_new (void)
{
  return g_object_new (MITOGEN_TYPE_LATCH, NULL);
}

static void
set_closed_error (GError **error)
{
  g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_LATCH_CLOSED,
                       "The latch is closed");
}

static void
set_timeout_error (GError **error)
{
  g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                       "Timed out waiting for an item on the latch");
}

static void
set_cancelled_error (GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                       "Operation was cancelled");
}

/* Runs on the cancelling thread, or inside g_cancellable_connect() when the
 * cancellable was already cancelled, so it must not be entered with
 * latch->lock held. Removing the waiter under the lock decides the race
 * with put and close: whoever takes it out of the queue completes it. */
static void
waiter_cancelled_cb (GCancellable *cancellable,
                     gpointer      user_data)
{
  Waiter *w = user_data;
  MitogenLatch *self = w->latch;
  GTask *task = NULL;

  g_mutex_lock (&self->lock);
  switch (w->state)
    {
    case WAITER_PENDING:
      /* The get has not queued yet; it sees this before it does. */
      w->state = WAITER_CANCELLED;
      break;

    case WAITER_QUEUED:
      g_queue_unlink (&self->waiters, &w->link);
      w->state = WAITER_CANCELLED;
      if (w->wake != NULL)
        g_cond_signal (&w->wake->cond);
      else
        task = g_steal_pointer (&w->task);
      break;

    case WAITER_GOT_ITEM:
    case WAITER_CLOSED:
    case WAITER_CANCELLED:
    case WAITER_TIMED_OUT:
    default:
      /* Already completed: an item handed over wins over the cancel. */
      break;
    }
  g_mutex_unlock (&self->lock);

  if (task != NULL)
    {
      /* GTask defers this to the caller's context, never calling back from
       * inside this signal handler. */
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "Operation was cancelled");
      g_object_unref (task);
    }
}

/**
 * mitogen_latch_put:
 * @self: a latch
 * @item: (type GObject.Object) (transfer none): the object to queue
 * @error: return location for a #GError
 *
 * Adds @item at the tail of the latch, taking a new reference on it.
 *
 * If consumers are waiting, @item goes to the one that has waited longest
 * instead of being queued: a blocking [method@Mitogen.Latch.get] wakes up,
 * or a pending [method@Mitogen.Latch.get_async] completes in its caller's
 * main context.
 *
 * Fails with %MITOGEN_ERROR_LATCH_CLOSED if the latch was closed, in which
 * case no reference on @item is kept.
 *
 * Returns: %TRUE if @item was queued or handed to a waiter, %FALSE with
 *   @error set if the latch is closed
 *
 * Since: 1.0
 */
gboolean
mitogen_latch_put (MitogenLatch  *self,
                   gpointer       item,
                   GError       **error)
{
  GList *link;
  GTask *task = NULL;
  Wake *wake = NULL;
  MitogenLatchNotify notify = NULL;
  gpointer notify_data = NULL;

  g_return_val_if_fail (MITOGEN_IS_LATCH (self), FALSE);
  g_return_val_if_fail (G_IS_OBJECT (item), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_mutex_lock (&self->lock);

  if (self->closed)
    {
      g_mutex_unlock (&self->lock);
      set_closed_error (error);
      return FALSE;
    }

  link = g_queue_pop_head_link (&self->waiters);
  if (link != NULL)
    {
      Waiter *w = link->data;

      w->state = WAITER_GOT_ITEM;
      if (w->wake != NULL)
        {
          w->item = g_object_ref (item);
          wake = wake_ref (w->wake);
        }
      else
        {
          task = g_steal_pointer (&w->task);
        }
    }
  else
    {
      g_queue_push_tail (&self->items, g_object_ref (item));
      notify = self->notify;
      notify_data = self->notify_data;
    }

  g_mutex_unlock (&self->lock);

  if (wake != NULL)
    {
      g_cond_signal (&wake->cond);
      wake_unref (wake);
    }

  if (task != NULL)
    {
      g_task_return_pointer (task, g_object_ref (item), g_object_unref);
      g_object_unref (task);
    }

  if (notify != NULL)
    notify (self, notify_data);

  return TRUE;
}

/**
 * mitogen_latch_get:
 * @self: a latch
 * @timeout_usec: how long to wait for an item, in microseconds: negative to
 *   wait without limit, 0 not to wait at all
 * @cancellable: (nullable): a #GCancellable, or %NULL
 * @error: return location for a #GError
 *
 * Removes and returns the oldest item, waiting for one if the latch is
 * empty. The calling thread blocks; use [method@Mitogen.Latch.get_async]
 * from a thread that runs a main loop.
 *
 * Fails with %MITOGEN_ERROR_TIMEOUT when @timeout_usec passes with no item
 * (at once if it is 0 and the latch is empty), with
 * %MITOGEN_ERROR_LATCH_CLOSED when the latch is closed before or during the
 * wait, and with %G_IO_ERROR_CANCELLED when @cancellable is cancelled before
 * or during the wait. If an item was handed over just as the wait was
 * cancelled or timed out, the item is returned rather than lost.
 *
 * Returns: (type GObject.Object) (transfer full): the item, or %NULL with
 *   @error set
 *
 * Since: 1.0
 */
gpointer
mitogen_latch_get (MitogenLatch  *self,
                   gint64         timeout_usec,
                   GCancellable  *cancellable,
                   GError       **error)
{
  Waiter w = { { NULL, NULL, NULL }, NULL, WAITER_PENDING, NULL, NULL, NULL, NULL, 0 };
  gint64 deadline = 0;
  gulong handler_id = 0;
  gpointer item = NULL;

  g_return_val_if_fail (MITOGEN_IS_LATCH (self), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  if (timeout_usec > 0)
    {
      gint64 now = g_get_monotonic_time ();

      /* A deadline beyond the range of the clock is no deadline. */
      if (timeout_usec > G_MAXINT64 - now)
        timeout_usec = -1;
      else
        deadline = now + timeout_usec;
    }

  /* Another thread may drop the last outside reference while we sleep. */
  g_object_ref (self);

  w.link.data = &w;
  w.latch = self;
  w.wake = wake_for_this_thread ();

  g_mutex_lock (&self->lock);

  if (cancellable != NULL && !self->closed &&
      g_queue_is_empty (&self->items) && timeout_usec != 0)
    {
      /* We are going to wait. The handler takes the lock and may run at
       * once inside g_cancellable_connect(), so connect unlocked; a cancel
       * that lands before we queue leaves state CANCELLED. */
      g_mutex_unlock (&self->lock);
      handler_id = g_cancellable_connect (cancellable,
                                          G_CALLBACK (waiter_cancelled_cb),
                                          &w, NULL);
      g_mutex_lock (&self->lock);
    }

  if (w.state == WAITER_CANCELLED)
    ;
  else if (self->closed)
    w.state = WAITER_CLOSED;
  else if (!g_queue_is_empty (&self->items))
    {
      w.item = g_queue_pop_head (&self->items);
      w.state = WAITER_GOT_ITEM;
    }
  else if (timeout_usec == 0)
    w.state = WAITER_TIMED_OUT;
  else
    {
      g_queue_push_tail_link (&self->waiters, &w.link);
      w.state = WAITER_QUEUED;

      /* Whoever completes us (put, close, the cancel handler) unlinks us
       * and changes the state under the lock; the loop absorbs spurious
       * wake-ups. */
      while (w.state == WAITER_QUEUED)
        {
          if (timeout_usec < 0)
            g_cond_wait (&w.wake->cond, &self->lock);
          else if (!g_cond_wait_until (&w.wake->cond, &self->lock, deadline) &&
                   w.state == WAITER_QUEUED)
            {
              g_queue_unlink (&self->waiters, &w.link);
              w.state = WAITER_TIMED_OUT;
            }
        }
    }

  g_mutex_unlock (&self->lock);

  /* Unlocked: disconnecting waits for a handler running on another thread,
   * and that handler needs the lock. Afterwards nobody can touch @w. */
  if (handler_id != 0)
    g_cancellable_disconnect (cancellable, handler_id);

  switch (w.state)
    {
    case WAITER_GOT_ITEM:
      item = g_steal_pointer (&w.item);
      break;
    case WAITER_CLOSED:
      set_closed_error (error);
      break;
    case WAITER_CANCELLED:
      set_cancelled_error (error);
      break;
    case WAITER_TIMED_OUT:
      set_timeout_error (error);
      break;
    case WAITER_PENDING:
    case WAITER_QUEUED:
    default:
      g_assert_not_reached ();
    }

  g_object_unref (self);

  return item;
}

/**
 * mitogen_latch_try_get:
 * @self: a latch
 * @error: return location for a #GError
 *
 * Removes and returns the oldest item if there is one, without waiting.
 *
 * An empty latch is not an error: the result is %NULL and @error is left
 * unset. A closed latch fails with %MITOGEN_ERROR_LATCH_CLOSED.
 *
 * Returns: (type GObject.Object) (transfer full) (nullable): the item, or
 *   %NULL if the latch is empty or (with @error set) closed
 *
 * Since: 1.0
 */
gpointer
mitogen_latch_try_get (MitogenLatch  *self,
                       GError       **error)
{
  gpointer item = NULL;
  gboolean closed;

  g_return_val_if_fail (MITOGEN_IS_LATCH (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_mutex_lock (&self->lock);
  closed = self->closed;
  if (!closed)
    item = g_queue_pop_head (&self->items);
  g_mutex_unlock (&self->lock);

  if (closed)
    set_closed_error (error);

  return item;
}

/* The task data of an async get. Runs when the task is finalized, which is
 * after its callback in the caller's context, never inside our cancelled
 * handler (GTask completes cancelled tasks from an idle). */
static void
async_waiter_free (gpointer data)
{
  Waiter *w = data;

  g_assert (w->task == NULL);
  g_assert (w->state != WAITER_QUEUED);

  if (w->handler_id != 0)
    g_cancellable_disconnect (w->cancellable, w->handler_id);
  g_clear_object (&w->cancellable);
  g_free (w);
}

/**
 * mitogen_latch_get_async:
 * @self: a latch
 * @cancellable: (nullable): a #GCancellable, or %NULL
 * @callback: (scope async): the function to call when an item is ready or
 *   the get failed
 * @user_data: the data to pass to @callback
 *
 * Asynchronously removes the oldest item, waiting for one if the latch is
 * empty. The pending get queues among blocking [method@Mitogen.Latch.get]
 * callers in arrival order.
 *
 * @callback runs in the thread-default main context of the calling thread,
 * always in a later iteration, even if an item was already queued. Call
 * [method@Mitogen.Latch.get_finish] from it to obtain the item.
 *
 * Cancelling @cancellable while the get is still waiting makes it fail with
 * %G_IO_ERROR_CANCELLED and leaves later items in the latch. If an item was
 * handed over before the cancellation took effect, the get succeeds with
 * that item instead, so it is never lost.
 *
 * Since: 1.0
 */
void
mitogen_latch_get_async (MitogenLatch        *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  GTask *task;
  Waiter *w;
  WaiterState state;
  gpointer item = NULL;

  g_return_if_fail (MITOGEN_IS_LATCH (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_latch_get_async);
  /* The default would report CANCELLED from _finish even when we returned
   * an item, and that item would be lost: we decide the outcome ourselves. */
  g_task_set_check_cancellable (task, FALSE);

  w = g_new0 (Waiter, 1);
  w->link.data = w;
  w->latch = self;
  w->state = WAITER_PENDING;
  g_task_set_task_data (task, w, async_waiter_free);

  if (cancellable != NULL)
    {
      /* Connected unlocked, before queueing: see mitogen_latch_get(). */
      w->cancellable = g_object_ref (cancellable);
      w->handler_id = g_cancellable_connect (cancellable,
                                             G_CALLBACK (waiter_cancelled_cb),
                                             w, NULL);
    }

  g_mutex_lock (&self->lock);

  if (w->state == WAITER_CANCELLED)
    ;
  else if (self->closed)
    w->state = WAITER_CLOSED;
  else if (!g_queue_is_empty (&self->items))
    {
      item = g_queue_pop_head (&self->items);
      w->state = WAITER_GOT_ITEM;
    }
  else
    {
      /* The queue owns a ref on the task until someone completes it. */
      w->task = g_object_ref (task);
      w->state = WAITER_QUEUED;
      g_queue_push_tail_link (&self->waiters, &w->link);
    }
  state = w->state;

  g_mutex_unlock (&self->lock);

  switch (state)
    {
    case WAITER_QUEUED:
      break;
    case WAITER_GOT_ITEM:
      g_task_return_pointer (task, item, g_object_unref);
      break;
    case WAITER_CLOSED:
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_LATCH_CLOSED,
                               "The latch is closed");
      break;
    case WAITER_CANCELLED:
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "Operation was cancelled");
      break;
    case WAITER_PENDING:
    case WAITER_TIMED_OUT:
    default:
      g_assert_not_reached ();
    }

  g_object_unref (task);
}

/**
 * mitogen_latch_get_finish:
 * @self: a latch
 * @result: the result passed to the callback of
 *   [method@Mitogen.Latch.get_async]
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Latch.get_async].
 *
 * Fails with %MITOGEN_ERROR_LATCH_CLOSED if the latch was closed before an
 * item arrived, or with %G_IO_ERROR_CANCELLED if the get was cancelled
 * while still waiting.
 *
 * Returns: (type GObject.Object) (transfer full): the item, or %NULL with
 *   @error set
 *
 * Since: 1.0
 */
gpointer
mitogen_latch_get_finish (MitogenLatch  *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (MITOGEN_IS_LATCH (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, mitogen_latch_get_async), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * mitogen_latch_close:
 * @self: a latch
 *
 * Closes the latch: releases the items still queued, and wakes every
 * waiter, blocking or asynchronous, with %MITOGEN_ERROR_LATCH_CLOSED. Every
 * later put or get fails the same way.
 *
 * Closing a closed latch does nothing.
 *
 * Since: 1.0
 */
void
mitogen_latch_close (MitogenLatch *self)
{
  GQueue dropped;
  GQueue tasks = G_QUEUE_INIT;
  GList *link;
  MitogenLatchNotify notify;
  gpointer notify_data;

  g_return_if_fail (MITOGEN_IS_LATCH (self));

  g_mutex_lock (&self->lock);

  if (self->closed)
    {
      g_mutex_unlock (&self->lock);
      return;
    }
  self->closed = TRUE;

  /* Items are released after unlocking: a finalizer may run user code. */
  dropped = self->items;
  g_queue_init (&self->items);

  while ((link = g_queue_pop_head_link (&self->waiters)) != NULL)
    {
      Waiter *w = link->data;

      w->state = WAITER_CLOSED;
      if (w->wake != NULL)
        g_cond_signal (&w->wake->cond);
      else
        g_queue_push_tail (&tasks, g_steal_pointer (&w->task));
    }

  notify = self->notify;
  notify_data = self->notify_data;

  g_mutex_unlock (&self->lock);

  while ((link = g_queue_pop_head_link (&tasks)) != NULL)
    {
      GTask *task = link->data;

      g_list_free_1 (link);
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_LATCH_CLOSED,
                               "The latch is closed");
      g_object_unref (task);
    }

  g_queue_clear_full (&dropped, g_object_unref);

  if (notify != NULL)
    notify (self, notify_data);
}

/**
 * mitogen_latch_is_closed:
 * @self: a latch
 *
 * Tells whether [method@Mitogen.Latch.close] was called.
 *
 * Returns: %TRUE if the latch is closed
 *
 * Since: 1.0
 */
gboolean
mitogen_latch_is_closed (MitogenLatch *self)
{
  gboolean closed;

  g_return_val_if_fail (MITOGEN_IS_LATCH (self), FALSE);

  g_mutex_lock (&self->lock);
  closed = self->closed;
  g_mutex_unlock (&self->lock);

  return closed;
}

/**
 * mitogen_latch_get_size:
 * @self: a latch
 *
 * Counts the items queued and not yet taken. Other threads may change the
 * count at any moment, so the answer is only a snapshot: a get after a
 * non-zero answer may still have to wait.
 *
 * Returns: the number of queued items
 *
 * Since: 1.0
 */
guint
mitogen_latch_get_size (MitogenLatch *self)
{
  guint size;

  g_return_val_if_fail (MITOGEN_IS_LATCH (self), 0);

  g_mutex_lock (&self->lock);
  size = self->items.length;
  g_mutex_unlock (&self->lock);

  return size;
}

/* See mitogen-latch-private.h. */
void
_mitogen_latch_set_notify (MitogenLatch       *self,
                           MitogenLatchNotify  func,
                           gpointer            user_data)
{
  g_return_if_fail (MITOGEN_IS_LATCH (self));

  g_mutex_lock (&self->lock);
  self->notify = func;
  self->notify_data = user_data;
  g_mutex_unlock (&self->lock);
}
