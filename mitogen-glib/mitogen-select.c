/* mitogen-select.c: wait for messages on many receivers at once
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-error.h"
#include "mitogen-latch-private.h"
#include "mitogen-message.h"
#include "mitogen-receiver-private.h"
#include "mitogen-router-private.h"
#include "mitogen-select.h"

/**
 * MitogenSelect:
 *
 * Waits on many [class@Mitogen.Receiver]s, and on other selects nested in
 * it, at once, and returns messages from all of them in the order they
 * arrived, each with the receiver it came from. A typical use gathers the
 * replies of calls made in parallel:
 *
 * ```c
 * MitogenSelect *select = mitogen_select_new (TRUE);
 *
 * for (guint i = 0; i < n_contexts; i++)
 *   mitogen_select_add_receiver (select, call_receivers[i], NULL);
 * mitogen_select_all_async (select, NULL, on_all_replies, data);
 * ```
 *
 * Messages are taken by readiness, never by racing consumers: a receiver
 * tells its select when a message was queued on it, and a consumer then
 * takes one message from a ready member without blocking, in the same
 * locked step that completes the consumer. So a message is returned to
 * exactly one caller, and cancelling a pending
 * [method@Mitogen.Select.next_async], [method@Mitogen.Select.get] or
 * [method@Mitogen.Select.all_async] never loses one: either the message was
 * handed over before the cancellation took effect and the operation
 * succeeds with it, or it stays available to the next caller.
 *
 * A select made with [property@Mitogen.Select:oneshot] %TRUE (the usual
 * mode, as for gathering replies) removes each member after it has yielded
 * one result. In either mode, a member whose channel ended (a dead message arrived, or the
 * receiver was closed) reports that once, as a %MITOGEN_ERROR_CHANNEL
 * error, and is then removed, since it can never yield again.
 *
 * A receiver can belong to one select at a time, and a select can be
 * nested in one other select. A receiver with a handler connected to
 * [signal@Mitogen.Receiver::message] queues no messages, so a select never
 * sees them. Consume each member through its select only: taking messages
 * from a member receiver directly works, but makes the arrival order and
 * [method@Mitogen.Select.is_empty] approximate.
 *
 * Thread safety: every method may be called from any thread, concurrently.
 * The callbacks of [method@Mitogen.Select.next_async] and
 * [method@Mitogen.Select.all_async] run in the thread-default main context
 * of the thread that called them, in a later iteration of that context.
 *
 * Since: 1.0
 */

/* How it works. Every member has a Member record. A receiver member hooks
 * the readiness notification of the receiver's latch; a nested select
 * member is told by its child whenever the child has something nobody
 * there is waiting for. A notification either hands a message straight to
 * the first waiter that accepts that member, or leaves a "token" (the
 * Member pointer) in the select's ready queue, in arrival order. Consumers
 * take tokens in order and try_get from the member: a token whose message
 * someone else took is simply skipped, so tokens are hints and extra ones
 * are harmless; a missing one would lose a wake-up, so every queued
 * message gets one (at add time too).
 *
 * Lock order: topology_lock, then a select's lock, then the lock of a
 * select nested in it (and so on down), then a Slot's lock, then a latch's
 * lock. Under a select's lock we only call into latches (try_get, size,
 * set_notify: leaf locks that never call out); everything that may call
 * out (completing tasks, closing receivers, dropping references) is
 * collected in a Deferred and run after unlocking. */

typedef struct _Member Member;

struct _Member
{
  gatomicrefcount  ref_count;
  GWeakRef         select;    /* the select it belongs or belonged to */
  MitogenReceiver *receiver;  /* (owned) (nullable): a receiver member */
  MitogenLatch    *latch;     /* (unowned): the receiver's, kept by it */
  MitogenSelect   *child;     /* (owned) (nullable): a nested select */
  gboolean         removed;   /* (guarded by the select's lock) */
};

/* One result taken from a member. */
typedef struct
{
  Member          *member;    /* (owned): the direct member that yielded */
  MitogenReceiver *receiver;  /* (owned): the innermost receiver */
  MitogenMessage  *message;   /* (owned): maybe a dead message */
} Item;

typedef enum {
  WAITER_PENDING,    /* set up, not yet queued */
  WAITER_QUEUED,     /* in select->waiters */
  WAITER_DONE,
  WAITER_FAILED,
  WAITER_CANCELLED,
  WAITER_TIMED_OUT,
} WaiterState;

typedef enum {
  WAITER_NEXT,       /* next_async or get: one item from any member */
  WAITER_ALL,        /* all_async: one item from each member in pending */
} WaiterKind;

/* A consumer. A blocking get keeps it on its stack; an async one is the
 * task data of its GTask. All fields but link/select/kind/cond are
 * (guarded by select->lock) until the state leaves QUEUED, and then
 * belong to whoever completes the waiter. */
typedef struct
{
  GList          link;        /* in select->waiters while QUEUED */
  MitogenSelect *select;      /* (unowned): the caller or the task holds a ref */
  WaiterKind     kind;
  WaiterState    state;
  Item          *item;        /* (owned) (nullable): NEXT, DONE */
  GHashTable    *pending;     /* (owned): ALL: set of Member* not yet heard */
  GPtrArray     *items;       /* (owned) (element-type Item): ALL */
  GError        *error;       /* (owned) (nullable): FAILED */
  GCond         *cond;        /* (nullable): blocking only */
  GTask         *task;        /* (owned) (nullable): async, until returned */
  GCancellable  *cancellable; /* (owned) (nullable): async only */
  gulong         handler_id;
} Waiter;

/* Hangs off a receiver's latch as qdata and lives as long as the latch,
 * so the latch's notify hook can use it without any lifetime contract:
 * the hook's user_data is unused and the Slot is found from the latch. */
typedef struct
{
  GMutex  lock;
  Member *member;             /* (owned) (nullable) (guarded by lock) */
} Slot;

/* Work collected under a lock and done after unlocking it. */
typedef struct
{
  GQueue   complete;          /* Waiter*: async waiters to return */
  GQueue   close_receivers;   /* (owned) MitogenReceiver*: channel ended */
  GQueue   members;           /* (owned) Member*: references to drop */
  GQueue   items;             /* (owned) Item*: results to drop */
  Member  *parent;            /* (owned) (nullable): parent to notify */
  guint    n_parent_notify;
} Deferred;

struct _MitogenSelect
{
  GObject parent_instance;

  gboolean      oneshot;        /* read-only after construction */
  GMainContext *owner_context;  /* (owned) read-only */

  GMutex lock;
  GPtrArray *members;           /* (lock) (owned) Member*, no free func */
  GQueue ready;                 /* (lock) Member* tokens, unowned: a
                                 * member's tokens go when it is removed */
  GQueue stash;                 /* (lock) (owned) Item*: taken, not yet
                                 * returned (a cancelled all_async's) */
  GQueue waiters;               /* (lock) Waiter, through Waiter.link */
  Member *parent_member;        /* (lock) (owned) (nullable): our record
                                 * in the select we are nested in */
};

enum {
  PROP_0,
  PROP_ONESHOT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (MitogenSelect, mitogen_select, G_TYPE_OBJECT)

/* Serializes changes to the nesting graph, so the cycle check holds. */
static GMutex topology_lock;
/* Serializes the creation of Slots. */
static GMutex slot_create_lock;

#define CLOSED_REASON "Channel closed by local end."

static void member_ready (Member *m);

/* Objects ----------------------------------------------------------------- */

static gboolean
unref_in_owner_cb (gpointer data)
{
  g_object_unref (data);
  return G_SOURCE_REMOVE;
}

/* Drops a reference taken on a foreign thread (a notification from the
 * broker): a last reference goes back to @context, where user code tied
 * to the object (signal handlers, finalizers) expects to run. The check is
 * a heuristic, as in the receiver: only a race makes it miss. */
static void
release_in_context (gpointer      object,
                    GMainContext *context)
{
  if (g_atomic_int_get (&G_OBJECT (object)->ref_count) > 1)
    g_object_unref (object);
  else
    _mitogen_invoke_in_context (context, unref_in_owner_cb, object, NULL);
}

static Member *
member_new (MitogenSelect   *select_,
            MitogenReceiver *receiver,
            MitogenSelect   *child)
{
  Member *m = g_new0 (Member, 1);

  g_atomic_ref_count_init (&m->ref_count);
  g_weak_ref_init (&m->select, select_);
  if (receiver != NULL)
    {
      m->receiver = g_object_ref (receiver);
      m->latch = _mitogen_receiver_get_latch (receiver);
    }
  else
    m->child = g_object_ref (child);

  return m;
}

static Member *
member_ref (Member *m)
{
  g_atomic_ref_count_inc (&m->ref_count);
  return m;
}

static void
member_unref (Member *m)
{
  if (!g_atomic_ref_count_dec (&m->ref_count))
    return;

  g_weak_ref_clear (&m->select);
  g_clear_object (&m->receiver);
  g_clear_object (&m->child);
  g_free (m);
}

static void
item_free (gpointer data)
{
  Item *item = data;

  g_clear_pointer (&item->member, member_unref);
  g_clear_object (&item->receiver);
  g_clear_object (&item->message);
  g_free (item);
}

static Item *
item_dup (const Item *item)
{
  return g_memdup2 (item, sizeof *item);
}

/* Deferred work ----------------------------------------------------------- */

static void
deferred_init (Deferred *d)
{
  memset (d, 0, sizeof *d);
}

static void waiter_return (Waiter *w);

/* Runs with no lock held, on whatever thread did the locked step. */
static void
deferred_run (Deferred *d)
{
  gpointer p;

  while ((p = g_queue_pop_head (&d->complete)) != NULL)
    waiter_return (p);

  /* Closing a receiver whose dead message we took ends its channel, as
   * Receiver.get does; its latch's close notification then finds the
   * member already gone. */
  while ((p = g_queue_pop_head (&d->close_receivers)) != NULL)
    {
      mitogen_receiver_close (p);
      g_object_unref (p);
    }

  while ((p = g_queue_pop_head (&d->items)) != NULL)
    item_free (p);
  while ((p = g_queue_pop_head (&d->members)) != NULL)
    member_unref (p);

  if (d->parent != NULL)
    {
      for (guint i = 0; i < d->n_parent_notify; i++)
        member_ready (d->parent);
      g_clear_pointer (&d->parent, member_unref);
    }
}

/* Under self->lock: the parent must hear of @n new tokens or stash items,
 * after unlocking. */
static void
deferred_notify_parent (MitogenSelect *self,
                        Deferred      *d,
                        guint          n)
{
  if (n == 0 || self->parent_member == NULL)
    return;

  if (d->parent == NULL)
    d->parent = member_ref (self->parent_member);
  if (d->parent == self->parent_member)
    d->n_parent_notify += n;
}

/* Slots ------------------------------------------------------------------- */

static GQuark
slot_quark (void)
{
  static gsize quark;

  if (g_once_init_enter (&quark))
    g_once_init_leave (&quark, g_quark_from_static_string ("mitogen-select-slot"));
  return (GQuark) quark;
}

static void
slot_free (gpointer data)
{
  Slot *slot = data;

  /* A member keeps its receiver, and so the latch, alive. */
  g_warn_if_fail (slot->member == NULL);
  g_mutex_clear (&slot->lock);
  g_free (slot);
}

static Slot *
slot_get (MitogenLatch *latch)
{
  return g_object_get_qdata (G_OBJECT (latch), slot_quark ());
}

static Slot *
slot_ensure (MitogenLatch *latch)
{
  Slot *slot;

  g_mutex_lock (&slot_create_lock);
  slot = slot_get (latch);
  if (slot == NULL)
    {
      slot = g_new0 (Slot, 1);
      g_mutex_init (&slot->lock);
      g_object_set_qdata_full (G_OBJECT (latch), slot_quark (), slot, slot_free);
    }
  g_mutex_unlock (&slot_create_lock);

  return slot;
}

/* The latch's readiness hook: runs on the thread that queued a message or
 * closed the receiver, with no lock held. */
static void
latch_notify_cb (MitogenLatch *latch,
                 gpointer      user_data)
{
  Slot *slot = slot_get (latch);
  Member *m = NULL;

  if (slot == NULL)
    return;

  g_mutex_lock (&slot->lock);
  if (slot->member != NULL)
    m = member_ref (slot->member);
  g_mutex_unlock (&slot->lock);

  if (m != NULL)
    {
      member_ready (m);
      member_unref (m);
    }
}

/* Waiters ------------------------------------------------------------------ */

static Waiter *
waiter_new (MitogenSelect *self,
            WaiterKind     kind)
{
  Waiter *w = g_new0 (Waiter, 1);

  w->link.data = w;
  w->select = self;
  w->kind = kind;
  w->state = WAITER_PENDING;
  if (kind == WAITER_ALL)
    {
      w->pending = g_hash_table_new (NULL, NULL);
      w->items = g_ptr_array_new_with_free_func (item_free);
    }

  return w;
}

static void
waiter_clear (Waiter *w)
{
  g_clear_pointer (&w->item, item_free);
  g_clear_pointer (&w->pending, g_hash_table_unref);
  g_clear_pointer (&w->items, g_ptr_array_unref);
  g_clear_error (&w->error);
}

/* The task data of an async waiter: freed with the task, in the caller's
 * context after the callback, never inside our cancelled handler (GTask
 * completes a cancelled task from an idle). */
static void
waiter_free (gpointer data)
{
  Waiter *w = data;

  g_assert (w->task == NULL);
  g_assert (w->state != WAITER_QUEUED);

  if (w->handler_id != 0)
    g_cancellable_disconnect (w->cancellable, w->handler_id);
  g_clear_object (&w->cancellable);
  waiter_clear (w);
  g_free (w);
}

/* Under self->lock: @w has its outcome. Whoever moves a waiter out of
 * PENDING or QUEUED completes it, exactly once. */
static void
waiter_finish (MitogenSelect *self,
               Waiter        *w,
               WaiterState    state,
               Deferred      *d)
{
  g_assert (w->state == WAITER_PENDING || w->state == WAITER_QUEUED);

  if (w->state == WAITER_QUEUED)
    g_queue_unlink (&self->waiters, &w->link);
  w->state = state;

  if (w->cond != NULL)
    g_cond_signal (w->cond);
  else
    g_queue_push_tail (&d->complete, w);
}

static void
waiter_fail (MitogenSelect *self,
             Waiter        *w,
             const char    *reason,
             Deferred      *d)
{
  g_set_error_literal (&w->error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, reason);
  waiter_finish (self, w, WAITER_FAILED, d);
}

/* Returns an async waiter's task, outside any lock. */
static void
waiter_return (Waiter *w)
{
  GTask *task = g_steal_pointer (&w->task);

  switch (w->state)
    {
    case WAITER_DONE:
      if (w->kind == WAITER_NEXT)
        g_task_return_pointer (task, g_steal_pointer (&w->item), item_free);
      else
        g_task_return_pointer (task, g_steal_pointer (&w->items),
                               (GDestroyNotify) g_ptr_array_unref);
      break;
    case WAITER_FAILED:
      g_task_return_error (task, g_steal_pointer (&w->error));
      break;
    case WAITER_CANCELLED:
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "Operation was cancelled");
      break;
    case WAITER_PENDING:
    case WAITER_QUEUED:
    case WAITER_TIMED_OUT:
    default:
      g_assert_not_reached ();
    }

  g_object_unref (task);
}

static gboolean
waiter_accepts (Waiter *w,
                Member *m)
{
  return w == NULL || w->kind == WAITER_NEXT || g_hash_table_contains (w->pending, m);
}

/* Taking messages (all under self->lock) --------------------------------- */

static gboolean take_any (MitogenSelect  *self,
                          Waiter         *filter,
                          Item           *out,
                          Member        **detach,
                          Deferred       *d);
static void select_detach (MitogenSelect *self,
                           Member        *m,
                           Deferred      *d);

/* Takes one result from @m without blocking. Sets *@ended when @m can
 * never yield again. FALSE means the token was stale. */
static gboolean
take_from_member (MitogenSelect *self,
                  Member        *m,
                  Item          *out,
                  gboolean      *ended,
                  Deferred      *d)
{
  *ended = FALSE;

  if (m->receiver != NULL)
    {
      GError *error = NULL;
      MitogenMessage *message = mitogen_latch_try_get (m->latch, &error);

      if (message == NULL && error == NULL)
        return FALSE;

      if (message == NULL)
        {
          /* The receiver was closed: say so once, as its get would. */
          g_clear_error (&error);
          message = mitogen_message_new_dead (mitogen_receiver_get_handle (m->receiver),
                                              CLOSED_REASON);
          *ended = TRUE;
        }
      else if (mitogen_message_is_dead (message))
        {
          *ended = TRUE;
          g_queue_push_tail (&d->close_receivers, g_object_ref (m->receiver));
        }

      out->member = member_ref (m);
      out->receiver = g_object_ref (m->receiver);
      out->message = message;
      return TRUE;
    }
  else
    {
      MitogenSelect *child = m->child;
      Member *detach = NULL;
      gboolean got;

      g_mutex_lock (&child->lock);
      got = take_any (child, NULL, out, &detach, d);
      if (detach != NULL)
        select_detach (child, detach, d);
      g_mutex_unlock (&child->lock);

      if (!got)
        return FALSE;

      /* To us the item came from the child select, whatever its source. */
      g_queue_push_tail (&d->members, out->member);
      out->member = member_ref (m);
      return TRUE;
    }
}

/* Takes the oldest result that @filter accepts (any, for NULL): from the
 * stash first, then by tokens. *@detach is the member to remove once the
 * item has been handed over (oneshot, or its channel ended). */
static gboolean
take_any (MitogenSelect  *self,
          Waiter         *filter,
          Item           *out,
          Member        **detach,
          Deferred       *d)
{
  GList *l, *next;

  *detach = NULL;

  for (l = self->stash.head; l != NULL; l = l->next)
    {
      Item *item = l->data;

      if (waiter_accepts (filter, item->member))
        {
          *out = *item;
          g_free (item);
          g_queue_delete_link (&self->stash, l);
          return TRUE;
        }
    }

  for (l = self->ready.head; l != NULL; l = next)
    {
      Member *m = l->data;
      gboolean ended;

      next = l->next;
      if (!waiter_accepts (filter, m))
        continue;

      g_queue_delete_link (&self->ready, l);
      if (take_from_member (self, m, out, &ended, d))
        {
          if (ended || self->oneshot)
            *detach = m;
          return TRUE;
        }
    }

  return FALSE;
}

static void
check_empty (MitogenSelect *self,
             Deferred      *d)
{
  /* Nothing can arrive any more: fail the waiters rather than let them
   * wait forever. */
  if (self->members->len > 0 || !g_queue_is_empty (&self->stash))
    return;

  while (!g_queue_is_empty (&self->waiters))
    waiter_fail (self, g_queue_peek_head (&self->waiters),
                 "Select has no members", d);
}

/* Removes @m from the select: its hook, its tokens, its place in pending
 * all_async operations. Items already taken from it stay in the stash. */
static void
select_detach (MitogenSelect *self,
               Member        *m,
               Deferred      *d)
{
  GList *l, *next;

  if (m->removed)
    return;
  m->removed = TRUE;

  g_ptr_array_remove (self->members, m);

  for (l = self->ready.head; l != NULL; l = next)
    {
      next = l->next;
      if (l->data == m)
        g_queue_delete_link (&self->ready, l);
    }

  if (m->receiver != NULL)
    {
      Slot *slot = slot_get (m->latch);

      g_mutex_lock (&slot->lock);
      if (slot->member == m)
        {
          slot->member = NULL;
          _mitogen_latch_set_notify (m->latch, NULL, NULL);
          g_queue_push_tail (&d->members, m);
        }
      g_mutex_unlock (&slot->lock);
    }
  else
    {
      g_mutex_lock (&m->child->lock);
      if (m->child->parent_member == m)
        g_queue_push_tail (&d->members, g_steal_pointer (&m->child->parent_member));
      g_mutex_unlock (&m->child->lock);
    }

  /* A member that left before yielding is no longer awaited. */
  for (l = self->waiters.head; l != NULL; l = next)
    {
      Waiter *w = l->data;

      next = l->next;
      if (w->kind == WAITER_ALL && g_hash_table_remove (w->pending, m) &&
          g_hash_table_size (w->pending) == 0)
        waiter_finish (self, w, WAITER_DONE, d);
    }

  /* The reference the members array held. */
  g_queue_push_tail (&d->members, m);

  check_empty (self, d);
}

/* Hands @item to @w, then removes @detach. The order matters: removing
 * the last member fails the waiters still queued. */
static void
deliver (MitogenSelect *self,
         Waiter        *w,
         Item          *item,
         Member        *detach,
         Deferred      *d)
{
  if (w->kind == WAITER_NEXT)
    {
      w->item = item_dup (item);
      waiter_finish (self, w, WAITER_DONE, d);
    }
  else
    {
      g_hash_table_remove (w->pending, item->member);
      g_ptr_array_add (w->items, item_dup (item));
      if (g_hash_table_size (w->pending) == 0)
        waiter_finish (self, w, WAITER_DONE, d);
    }

  if (detach != NULL)
    select_detach (self, detach, d);
}

/* Serves queued waiters from the tokens and stash until none of them can
 * take anything, after something made new results available to them. */
static void
pump (MitogenSelect *self,
      Deferred      *d)
{
  gboolean progress = TRUE;

  while (progress)
    {
      progress = FALSE;

      /* Restart after each delivery: it may have changed the queue. */
      for (GList *l = self->waiters.head; l != NULL; l = l->next)
        {
          Waiter *w = l->data;
          Member *detach;
          Item item;

          if (take_any (self, w, &item, &detach, d))
            {
              deliver (self, w, &item, detach, d);
              progress = TRUE;
              break;
            }
        }
    }
}

/* Counts what a parent must hear about when this select is added to it. */
static guint
count_available (MitogenSelect *self)
{
  return self->ready.length + self->stash.length;
}

/* Readiness --------------------------------------------------------------- */

/* @m has (probably) a new message, or its channel ended. */
static void
select_on_ready (MitogenSelect *self,
                 Member        *m)
{
  Deferred d;

  deferred_init (&d);
  g_mutex_lock (&self->lock);

  if (!m->removed)
    {
      Waiter *w = NULL;

      for (GList *l = self->waiters.head; l != NULL; l = l->next)
        {
          if (waiter_accepts (l->data, m))
            {
              w = l->data;
              break;
            }
        }

      if (w != NULL)
        {
          Item item;
          gboolean ended;

          /* Claim and completion in one locked step: see the class doc. */
          if (take_from_member (self, m, &item, &ended, &d))
            deliver (self, w, &item, (ended || self->oneshot) ? m : NULL, &d);
        }
      else
        {
          g_queue_push_tail (&self->ready, m);
          deferred_notify_parent (self, &d, 1);
        }
    }

  g_mutex_unlock (&self->lock);
  deferred_run (&d);
}

/* Runs with no lock held, on the notifying thread. */
static void
member_ready (Member *m)
{
  MitogenSelect *self = g_weak_ref_get (&m->select);

  if (self == NULL)
    return;

  select_on_ready (self, m);
  release_in_context (self, self->owner_context);
}

/* GObject ----------------------------------------------------------------- */

/* Under self->lock: drops every member and stashed item. */
static void
select_clear (MitogenSelect *self,
              Deferred      *d)
{
  while (self->members->len > 0)
    select_detach (self, g_ptr_array_index (self->members, 0), d);

  while (!g_queue_is_empty (&self->stash))
    g_queue_push_tail (&d->items, g_queue_pop_head (&self->stash));
}

static void
mitogen_select_dispose (GObject *object)
{
  MitogenSelect *self = MITOGEN_SELECT (object);
  Deferred d;

  deferred_init (&d);
  g_mutex_lock (&self->lock);
  select_clear (self, &d);
  g_mutex_unlock (&self->lock);
  deferred_run (&d);

  G_OBJECT_CLASS (mitogen_select_parent_class)->dispose (object);
}

static void
mitogen_select_finalize (GObject *object)
{
  MitogenSelect *self = MITOGEN_SELECT (object);

  /* Every waiter holds a reference on us, and a parent holds one on its
   * children, so neither can be left. */
  g_warn_if_fail (g_queue_is_empty (&self->waiters));
  g_warn_if_fail (self->parent_member == NULL);

  g_ptr_array_unref (self->members);
  g_queue_clear_full (&self->stash, item_free);
  g_queue_clear (&self->ready);
  g_clear_pointer (&self->owner_context, g_main_context_unref);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (mitogen_select_parent_class)->finalize (object);
}

static void
mitogen_select_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  MitogenSelect *self = MITOGEN_SELECT (object);

  switch (prop_id)
    {
    case PROP_ONESHOT:
      g_value_set_boolean (value, self->oneshot);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_select_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  MitogenSelect *self = MITOGEN_SELECT (object);

  switch (prop_id)
    {
    case PROP_ONESHOT:
      self->oneshot = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_select_class_init (MitogenSelectClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = mitogen_select_dispose;
  object_class->finalize = mitogen_select_finalize;
  object_class->get_property = mitogen_select_get_property;
  object_class->set_property = mitogen_select_set_property;

  /**
   * MitogenSelect:oneshot:
   *
   * Whether each member is removed after it has yielded one result, as
   * when gathering one reply from each of many calls.
   *
   * Since: 1.0
   */
  properties[PROP_ONESHOT] =
    g_param_spec_boolean ("oneshot", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mitogen_select_init (MitogenSelect *self)
{
  g_mutex_init (&self->lock);
  self->members = g_ptr_array_new ();
  g_queue_init (&self->ready);
  g_queue_init (&self->stash);
  g_queue_init (&self->waiters);
  self->owner_context = g_main_context_ref_thread_default ();
  self->oneshot = TRUE;
}

/**
 * mitogen_select_new:
 * @oneshot: %TRUE to remove each member after it has yielded one result
 *
 * Creates an empty select.
 *
 * Returns: (transfer full): a new select
 *
 * Since: 1.0
 */
MitogenSelect *
mitogen_select_new (gboolean oneshot)
{
  return g_object_new (MITOGEN_TYPE_SELECT, "oneshot", oneshot, NULL);
}

/**
 * mitogen_select_get_oneshot:
 * @self: a select
 *
 * Tells whether the select removes each member after it has yielded one
 * result: the [property@Mitogen.Select:oneshot] property.
 *
 * Returns: whether members are removed after yielding one result
 *
 * Since: 1.0
 */
gboolean
mitogen_select_get_oneshot (MitogenSelect *self)
{
  g_return_val_if_fail (MITOGEN_IS_SELECT (self), FALSE);

  return self->oneshot;
}

/* Members ----------------------------------------------------------------- */

/* Under self->lock: makes @m a member that already has @n results waiting
 * (queued before it was added), and serves queued waiters from them. */
static void
select_attach (MitogenSelect *self,
               Member        *m,
               guint          n,
               Deferred      *d)
{
  g_ptr_array_add (self->members, m);
  for (guint i = 0; i < n; i++)
    g_queue_push_tail (&self->ready, m);

  pump (self, d);
  /* Tell the parent about what the waiters here did not take: at most
   * the @n new tokens, and no more than is left. */
  deferred_notify_parent (self, d, MIN (n, count_available (self)));
}

/**
 * mitogen_select_add_receiver:
 * @self: a select
 * @receiver: the receiver to wait on
 * @error: return location for a #GError
 *
 * Adds @receiver to the select. Messages it had queued before are seen
 * too, in the order they arrived.
 *
 * A receiver belongs to at most one select: adding one that is already a
 * member of a select (this one or another) fails with
 * %MITOGEN_ERROR_FAILED.
 *
 * Returns: %TRUE if @receiver was added
 *
 * Since: 1.0
 */
gboolean
mitogen_select_add_receiver (MitogenSelect    *self,
                             MitogenReceiver  *receiver,
                             GError          **error)
{
  MitogenLatch *latch;
  Slot *slot;
  Member *m;
  guint n;
  Deferred d;

  g_return_val_if_fail (MITOGEN_IS_SELECT (self), FALSE);
  g_return_val_if_fail (MITOGEN_IS_RECEIVER (receiver), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  latch = _mitogen_receiver_get_latch (receiver);
  slot = slot_ensure (latch);
  m = member_new (self, receiver, NULL);
  deferred_init (&d);

  g_mutex_lock (&self->lock);

  g_mutex_lock (&slot->lock);
  if (slot->member != NULL)
    {
      g_mutex_unlock (&slot->lock);
      g_mutex_unlock (&self->lock);
      member_unref (m);
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_FAILED,
                           "The receiver already belongs to a select");
      return FALSE;
    }
  slot->member = member_ref (m);
  _mitogen_latch_set_notify (latch, latch_notify_cb, NULL);
  g_mutex_unlock (&slot->lock);

  /* Counted after the hook is in, so nothing falls between the two: a
   * message queued meanwhile is counted and notified, which only makes a
   * stale token. Its notification waits for our lock. */
  n = mitogen_latch_get_size (latch);
  if (mitogen_latch_is_closed (latch))
    n++;

  select_attach (self, m, n, &d);

  g_mutex_unlock (&self->lock);
  deferred_run (&d);

  return TRUE;
}

/**
 * mitogen_select_add_select:
 * @self: a select
 * @child: the select to nest in @self
 * @error: return location for a #GError
 *
 * Nests @child in @self: a message arriving on any member of @child is a
 * result of @self too, returned with the receiver it arrived on. The
 * [property@Mitogen.Select:oneshot] setting of each select applies to its
 * own members: a oneshot
 * @self removes @child after it has yielded one result.
 *
 * A select can be nested in at most one other select, and nesting must not
 * make a cycle: adding @self to itself, adding a select already nested
 * somewhere, or adding an ancestor of @self fails with
 * %MITOGEN_ERROR_FAILED.
 *
 * Returns: %TRUE if @child was added
 *
 * Since: 1.0
 */
gboolean
mitogen_select_add_select (MitogenSelect  *self,
                           MitogenSelect  *child,
                           GError        **error)
{
  g_autoptr(GPtrArray) release = NULL;
  MitogenSelect *cur;
  Member *m = NULL;
  const char *problem = NULL;
  guint n = 0;
  Deferred d;

  g_return_val_if_fail (MITOGEN_IS_SELECT (self), FALSE);
  g_return_val_if_fail (MITOGEN_IS_SELECT (child), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  release = g_ptr_array_new_with_free_func (g_object_unref);
  deferred_init (&d);

  g_mutex_lock (&topology_lock);

  /* Only add_select makes links, and only under topology_lock, so links
   * seen while walking up can vanish but never appear. */
  for (cur = self; cur != NULL && problem == NULL; )
    {
      Member *pm = NULL;

      if (cur == child)
        {
          problem = "Nesting the select would create a cycle";
          break;
        }

      g_mutex_lock (&cur->lock);
      if (cur->parent_member != NULL)
        pm = member_ref (cur->parent_member);
      g_mutex_unlock (&cur->lock);

      cur = NULL;
      if (pm != NULL)
        {
          cur = g_weak_ref_get (&pm->select);
          if (cur != NULL)
            g_ptr_array_add (release, cur);
          g_queue_push_tail (&d.members, pm);
        }
    }

  if (problem == NULL)
    {
      g_mutex_lock (&self->lock);
      g_mutex_lock (&child->lock);
      if (child->parent_member != NULL)
        problem = "The select is already nested in a select";
      else
        {
          m = member_new (self, NULL, child);
          child->parent_member = member_ref (m);
          n = count_available (child);
        }
      g_mutex_unlock (&child->lock);

      if (m != NULL)
        select_attach (self, m, n, &d);
      g_mutex_unlock (&self->lock);
    }

  g_mutex_unlock (&topology_lock);
  deferred_run (&d);

  if (problem != NULL)
    {
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_FAILED, problem);
      return FALSE;
    }

  return TRUE;
}

static gboolean
remove_member (MitogenSelect   *self,
               MitogenReceiver *receiver,
               MitogenSelect   *child)
{
  gboolean found = FALSE;
  Deferred d;

  deferred_init (&d);
  g_mutex_lock (&self->lock);

  for (guint i = 0; i < self->members->len; i++)
    {
      Member *m = g_ptr_array_index (self->members, i);

      if ((receiver != NULL && m->receiver == receiver) ||
          (child != NULL && m->child == child))
        {
          select_detach (self, m, &d);
          found = TRUE;
          break;
        }
    }

  g_mutex_unlock (&self->lock);
  deferred_run (&d);

  return found;
}

/**
 * mitogen_select_remove_receiver:
 * @self: a select
 * @receiver: a member receiver
 *
 * Removes @receiver from the select. Messages still queued on it stay
 * there, for [method@Mitogen.Receiver.get] or another select; unlike in
 * Mitogen, a select never returns a message from a receiver after it was
 * removed. A pending [method@Mitogen.Select.all_async] stops waiting for
 * it. Removing the last member makes pending gets fail, as
 * [method@Mitogen.Select.next_async] explains.
 *
 * Returns: %TRUE if @receiver was a member
 *
 * Since: 1.0
 */
gboolean
mitogen_select_remove_receiver (MitogenSelect   *self,
                                MitogenReceiver *receiver)
{
  g_return_val_if_fail (MITOGEN_IS_SELECT (self), FALSE);
  g_return_val_if_fail (MITOGEN_IS_RECEIVER (receiver), FALSE);

  return remove_member (self, receiver, NULL);
}

/**
 * mitogen_select_remove_select:
 * @self: a select
 * @child: a select nested in @self
 *
 * Removes @child from the select, as
 * [method@Mitogen.Select.remove_receiver] removes a receiver. @child
 * keeps its own members.
 *
 * Returns: %TRUE if @child was a member
 *
 * Since: 1.0
 */
gboolean
mitogen_select_remove_select (MitogenSelect *self,
                              MitogenSelect *child)
{
  g_return_val_if_fail (MITOGEN_IS_SELECT (self), FALSE);
  g_return_val_if_fail (MITOGEN_IS_SELECT (child), FALSE);

  return remove_member (self, NULL, child);
}

/**
 * mitogen_select_get_size:
 * @self: a select
 *
 * Counts the members: receivers and nested selects, not what is inside
 * the nested ones. In a oneshot select the count drops as members yield.
 *
 * Returns: the number of members
 *
 * Since: 1.0
 */
guint
mitogen_select_get_size (MitogenSelect *self)
{
  guint size;

  g_return_val_if_fail (MITOGEN_IS_SELECT (self), 0);

  g_mutex_lock (&self->lock);
  size = self->members->len;
  g_mutex_unlock (&self->lock);

  return size;
}

/* Under self->lock. */
static gboolean
select_is_empty_locked (MitogenSelect *self)
{
  if (!g_queue_is_empty (&self->stash))
    return FALSE;

  for (guint i = 0; i < self->members->len; i++)
    {
      Member *m = g_ptr_array_index (self->members, i);
      gboolean empty;

      if (m->receiver != NULL)
        empty = mitogen_latch_get_size (m->latch) == 0 &&
                !mitogen_latch_is_closed (m->latch);
      else
        {
          g_mutex_lock (&m->child->lock);
          empty = select_is_empty_locked (m->child);
          g_mutex_unlock (&m->child->lock);
        }

      if (!empty)
        return FALSE;
    }

  return TRUE;
}

/**
 * mitogen_select_is_empty:
 * @self: a select
 *
 * Tells whether no member has anything to return: no queued message, and
 * no ended channel still to report. A get on an empty select would wait
 * (or fail at once, if the select has no members).
 *
 * The answer is a snapshot: a message may arrive, or another thread take
 * one, at any moment after it.
 *
 * Returns: %TRUE if nothing is ready
 *
 * Since: 1.0
 */
gboolean
mitogen_select_is_empty (MitogenSelect *self)
{
  gboolean empty;

  g_return_val_if_fail (MITOGEN_IS_SELECT (self), TRUE);

  g_mutex_lock (&self->lock);
  empty = select_is_empty_locked (self);
  g_mutex_unlock (&self->lock);

  return empty;
}

/* Getting ----------------------------------------------------------------- */

/* Runs on the cancelling thread, or inside g_cancellable_connect() if the
 * cancellable was already cancelled, so never with self->lock held.
 * Whoever moves the waiter out of QUEUED decides its outcome; a result
 * handed over first wins over the cancellation. */
static void
waiter_cancelled_cb (GCancellable *cancellable,
                     gpointer      user_data)
{
  Waiter *w = user_data;
  MitogenSelect *self = w->select;
  Deferred d;

  deferred_init (&d);
  g_mutex_lock (&self->lock);

  switch (w->state)
    {
    case WAITER_PENDING:
      /* Not queued yet: the caller sees this before it would queue. */
      w->state = WAITER_CANCELLED;
      break;

    case WAITER_QUEUED:
      if (w->kind == WAITER_ALL && w->items->len > 0)
        {
          guint n = w->items->len;

          /* What this all_async gathered goes back, in arrival order,
           * ahead of anything else: nothing taken is lost. */
          for (guint i = n; i > 0; i--)
            g_queue_push_head (&self->stash, g_ptr_array_steal_index (w->items, i - 1));
          waiter_finish (self, w, WAITER_CANCELLED, &d);
          pump (self, &d);
          deferred_notify_parent (self, &d, MIN (n, self->stash.length));
        }
      else
        waiter_finish (self, w, WAITER_CANCELLED, &d);
      break;

    case WAITER_DONE:
    case WAITER_FAILED:
    case WAITER_CANCELLED:
    case WAITER_TIMED_OUT:
    default:
      break;
    }

  g_mutex_unlock (&self->lock);
  deferred_run (&d);
}

/* Turns a taken item into the result of a get: a dead message becomes the
 * CHANNEL error Receiver.get would give. */
static MitogenMessage *
item_resolve (Item             *item,
              MitogenReceiver **out_receiver,
              GError          **error)
{
  MitogenMessage *message;

  message = _mitogen_receiver_check_message (item->receiver,
                                             g_steal_pointer (&item->message),
                                             error);
  if (message != NULL && out_receiver != NULL)
    *out_receiver = g_steal_pointer (&item->receiver);

  item_free (item);
  return message;
}

/* Under self->lock: tries to complete a waiter that is just arriving. */
static void
waiter_arrive (MitogenSelect *self,
               Waiter        *w,
               Deferred      *d)
{
  Member *detach;
  Item item;

  if (w->state == WAITER_CANCELLED)
    {
      /* Cancelled before arriving: still returned through the task. */
      if (w->cond == NULL)
        g_queue_push_tail (&d->complete, w);
      return;
    }

  if (self->members->len == 0 && g_queue_is_empty (&self->stash))
    {
      waiter_fail (self, w, "Select has no members", d);
      return;
    }

  if (w->kind == WAITER_ALL)
    {
      for (guint i = 0; i < self->members->len; i++)
        g_hash_table_add (w->pending, g_ptr_array_index (self->members, i));
    }

  while (w->state == WAITER_PENDING && take_any (self, w, &item, &detach, d))
    deliver (self, w, &item, detach, d);
}

/**
 * mitogen_select_get:
 * @self: a select
 * @timeout_usec: how long to wait, in microseconds: negative to wait
 *   without limit, 0 not to wait at all
 * @cancellable: (nullable): a #GCancellable, or %NULL
 * @out_receiver: (out) (optional) (transfer full) (nullable): where to
 *   store the receiver the message arrived on (for a nested select, the
 *   receiver inside it), or %NULL
 * @error: return location for a #GError
 *
 * Takes the next message from any member, waiting for one if none is
 * ready. The calling thread blocks; use
 * [method@Mitogen.Select.next_async] from a thread that runs a main loop.
 *
 * Fails as [method@Mitogen.Select.next_async] does, and also with
 * %MITOGEN_ERROR_TIMEOUT when @timeout_usec passes first. If a message
 * was handed over just as the wait timed out or was cancelled, it is
 * returned rather than lost.
 *
 * Returns: (transfer full): the message, or %NULL with @error set
 *
 * Since: 1.0
 */
MitogenMessage *
mitogen_select_get (MitogenSelect    *self,
                    gint64            timeout_usec,
                    GCancellable     *cancellable,
                    MitogenReceiver **out_receiver,
                    GError          **error)
{
  Waiter w;
  GCond cond;
  gint64 deadline = 0;
  MitogenMessage *message = NULL;
  Deferred d;

  g_return_val_if_fail (MITOGEN_IS_SELECT (self), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (out_receiver != NULL)
    *out_receiver = NULL;

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  if (timeout_usec > 0)
    {
      gint64 now = g_get_monotonic_time ();

      /* A deadline beyond the clock's range is no deadline. */
      if (timeout_usec > G_MAXINT64 - now)
        timeout_usec = -1;
      else
        deadline = now + timeout_usec;
    }

  /* Another thread may drop the last outside reference while we sleep. */
  g_object_ref (self);

  memset (&w, 0, sizeof w);
  w.link.data = &w;
  w.select = self;
  w.kind = WAITER_NEXT;
  w.state = WAITER_PENDING;
  w.cond = &cond;
  g_cond_init (&cond);
  deferred_init (&d);

  /* The handler takes our lock and may run at once: connect unlocked. */
  if (cancellable != NULL)
    w.handler_id = g_cancellable_connect (cancellable, G_CALLBACK (waiter_cancelled_cb),
                                          &w, NULL);

  g_mutex_lock (&self->lock);

  waiter_arrive (self, &w, &d);

  if (w.state == WAITER_PENDING)
    {
      if (timeout_usec == 0)
        w.state = WAITER_TIMED_OUT;
      else
        {
          w.state = WAITER_QUEUED;
          g_queue_push_tail_link (&self->waiters, &w.link);

          /* Whoever completes us unlinks us under the lock; the loop
           * absorbs spurious wake-ups. */
          while (w.state == WAITER_QUEUED)
            {
              if (timeout_usec < 0)
                g_cond_wait (&cond, &self->lock);
              else if (!g_cond_wait_until (&cond, &self->lock, deadline) &&
                       w.state == WAITER_QUEUED)
                {
                  g_queue_unlink (&self->waiters, &w.link);
                  w.state = WAITER_TIMED_OUT;
                }
            }
        }
    }

  g_mutex_unlock (&self->lock);

  /* Unlocked: disconnecting waits for a handler running on another
   * thread, which needs the lock. Afterwards nobody touches @w. */
  if (w.handler_id != 0)
    g_cancellable_disconnect (cancellable, w.handler_id);
  g_cond_clear (&cond);
  deferred_run (&d);

  switch (w.state)
    {
    case WAITER_DONE:
      message = item_resolve (g_steal_pointer (&w.item), out_receiver, error);
      break;
    case WAITER_FAILED:
      g_propagate_error (error, g_steal_pointer (&w.error));
      break;
    case WAITER_CANCELLED:
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
      break;
    case WAITER_TIMED_OUT:
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                           "Timed out waiting for a message on the select");
      break;
    case WAITER_PENDING:
    case WAITER_QUEUED:
    default:
      g_assert_not_reached ();
    }

  waiter_clear (&w);
  g_object_unref (self);

  return message;
}

/* Starts an async waiter of @kind for @task. */
static void
start_async (MitogenSelect *self,
             GTask         *task,
             WaiterKind     kind,
             GCancellable  *cancellable)
{
  Waiter *w = waiter_new (self, kind);
  Deferred d;

  /* The default would make _finish report CANCELLED even when we
   * returned a message, and that message would be lost: we decide. */
  g_task_set_check_cancellable (task, FALSE);
  g_task_set_task_data (task, w, waiter_free);

  /* Owned by the waiter until whoever completes it returns it. */
  w->task = g_object_ref (task);

  if (cancellable != NULL)
    {
      /* Connected unlocked and before queueing: see mitogen_select_get(). */
      w->cancellable = g_object_ref (cancellable);
      w->handler_id = g_cancellable_connect (cancellable, G_CALLBACK (waiter_cancelled_cb),
                                             w, NULL);
    }

  deferred_init (&d);
  g_mutex_lock (&self->lock);

  waiter_arrive (self, w, &d);
  if (w->state == WAITER_PENDING)
    {
      w->state = WAITER_QUEUED;
      g_queue_push_tail_link (&self->waiters, &w->link);
    }

  g_mutex_unlock (&self->lock);
  deferred_run (&d);
}

/**
 * mitogen_select_next_async:
 * @self: a select
 * @cancellable: (nullable): a #GCancellable, or %NULL
 * @callback: (scope async) (closure user_data): called with the message
 * @user_data: data for @callback
 *
 * Takes the next message from any member, as soon as one is ready. Results
 * come in the order the messages arrived, across members, as far as
 * threads allow. Pending calls are served first come, first served,
 * together with blocking [method@Mitogen.Select.get] callers.
 *
 * @callback runs in the thread-default main context of the calling
 * thread, always in a later iteration, even if a message was ready. Call
 * [method@Mitogen.Select.next_finish] from it.
 *
 * The call fails with %MITOGEN_ERROR_CHANNEL when the member it would
 * return from ended its channel (the reason of the dead message, or
 * `Channel closed by local end.` for a closed receiver; the member is
 * then removed); when the select has no members (`Select has no
 * members`), at once or when the last member is removed while it waits;
 * and when [method@Mitogen.Select.close] is called while it waits
 * (`Select was closed`). It fails with %G_IO_ERROR_CANCELLED when
 * @cancellable is cancelled while it still waits; a message handed over
 * before the cancellation took effect is returned instead, never lost.
 *
 * Since: 1.0
 */
void
mitogen_select_next_async (MitogenSelect       *self,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MITOGEN_IS_SELECT (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_select_next_async);
  start_async (self, task, WAITER_NEXT, cancellable);
}

/**
 * mitogen_select_next_finish:
 * @self: a select
 * @result: the result passed to the callback
 * @out_receiver: (out) (optional) (transfer full) (nullable): where to
 *   store the receiver the message arrived on (for a nested select, the
 *   receiver inside it), or %NULL; set to %NULL on error
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Select.next_async].
 *
 * Returns: (transfer full): the message, or %NULL with @error set
 *
 * Since: 1.0
 */
MitogenMessage *
mitogen_select_next_finish (MitogenSelect    *self,
                            GAsyncResult     *result,
                            MitogenReceiver **out_receiver,
                            GError          **error)
{
  Item *item;

  g_return_val_if_fail (MITOGEN_IS_SELECT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, mitogen_select_next_async), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (out_receiver != NULL)
    *out_receiver = NULL;

  item = g_task_propagate_pointer (G_TASK (result), error);
  if (item == NULL)
    return NULL;

  return item_resolve (item, out_receiver, error);
}

/**
 * mitogen_select_all_async:
 * @self: a select
 * @cancellable: (nullable): a #GCancellable, or %NULL
 * @callback: (scope async) (closure user_data): called with the messages
 * @user_data: data for @callback
 *
 * Takes exactly one message from each member present when it is called,
 * in the order they arrive, and completes when every one of them has
 * yielded: the scatter/gather of Mitogen's `Select.all()`. Members added
 * meanwhile are not waited for, and a member removed before it yielded is
 * no longer waited for. In a oneshot select each member is removed as it
 * yields, so the select is empty afterwards; without it, later messages
 * stay queued for later calls.
 *
 * A member whose channel ended does not make the operation fail: its
 * result is its dead message (a receiver closed locally gives one with the
 * reason `Channel closed by local end.`), found with
 * [method@Mitogen.Message.is_dead], and
 * [method@Mitogen.Message.unpickle] turns it into %MITOGEN_ERROR_CHANNEL,
 * as it turns a remote exception into %MITOGEN_ERROR_CALL. Unpickling the
 * results in order therefore fails on the first error in arrival order,
 * as `Select.all()` raises, while no other result is lost.
 *
 * The operation fails with %MITOGEN_ERROR_CHANNEL if the select has no
 * members, or is closed while it waits, and with %G_IO_ERROR_CANCELLED if
 * @cancellable is cancelled before every result arrived. The messages
 * already gathered are then not lost: they are put back, in order, and
 * returned by the next gets on the select. (Close drops them.)
 *
 * @callback runs in the thread-default main context of the calling
 * thread, in a later iteration. Call [method@Mitogen.Select.all_finish]
 * from it.
 *
 * Since: 1.0
 */
void
mitogen_select_all_async (MitogenSelect       *self,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MITOGEN_IS_SELECT (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_select_all_async);
  start_async (self, task, WAITER_ALL, cancellable);
}

/**
 * mitogen_select_all_finish:
 * @self: a select
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Select.all_async].
 *
 * Returns: (transfer full) (element-type MitogenMessage): one message per
 *   member, in arrival order, or %NULL with @error set
 *
 * Since: 1.0
 */
GPtrArray *
mitogen_select_all_finish (MitogenSelect  *self,
                           GAsyncResult   *result,
                           GError        **error)
{
  g_autoptr(GPtrArray) items = NULL;
  GPtrArray *messages;

  g_return_val_if_fail (MITOGEN_IS_SELECT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, mitogen_select_all_async), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  items = g_task_propagate_pointer (G_TASK (result), error);
  if (items == NULL)
    return NULL;

  messages = g_ptr_array_new_full (items->len, g_object_unref);
  for (guint i = 0; i < items->len; i++)
    {
      Item *item = g_ptr_array_index (items, i);

      g_ptr_array_add (messages, g_steal_pointer (&item->message));
    }

  return messages;
}

typedef struct
{
  GAsyncResult *result;
} SyncAll;

static void
all_sync_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  SyncAll *data = user_data;

  data->result = g_object_ref (result);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
forward_cancel_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  g_cancellable_cancel (user_data);
}

/**
 * mitogen_select_all:
 * @self: a select
 * @timeout_usec: how long to wait for every result, in microseconds:
 *   negative to wait without limit
 * @cancellable: (nullable): a #GCancellable, or %NULL
 * @error: return location for a #GError
 *
 * The blocking form of [method@Mitogen.Select.all_async], with the same
 * results and errors, and %MITOGEN_ERROR_TIMEOUT when @timeout_usec
 * passes first (the messages gathered so far are then put back, as on
 * cancellation). The calling thread blocks; it iterates a private main
 * context meanwhile, never the caller's.
 *
 * Returns: (transfer full) (element-type MitogenMessage): one message per
 *   member, in arrival order, or %NULL with @error set
 *
 * Since: 1.0
 */
GPtrArray *
mitogen_select_all (MitogenSelect  *self,
                    gint64          timeout_usec,
                    GCancellable   *cancellable,
                    GError        **error)
{
  g_autoptr(GMainContext) context = NULL;
  g_autoptr(GCancellable) inner = NULL;
  GSource *timeout = NULL;
  gulong handler_id = 0;
  gboolean timed_out = FALSE;
  SyncAll data = { NULL };
  GPtrArray *messages;
  GError *local_error = NULL;

  g_return_val_if_fail (MITOGEN_IS_SELECT (self), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  /* As GSubprocess does: run the async form on a private context. One
   * inner cancellable carries both the caller's cancellation and the
   * timeout, so the operation settles once, whichever comes first. */
  context = g_main_context_new ();
  inner = g_cancellable_new ();
  if (cancellable != NULL)
    handler_id = g_cancellable_connect (cancellable, G_CALLBACK (forward_cancel_cb),
                                        g_object_ref (inner), g_object_unref);

  g_main_context_push_thread_default (context);

  if (timeout_usec >= 0)
    {
      timeout = g_timeout_source_new ((guint) MIN (timeout_usec / 1000, G_MAXUINT));
      g_source_set_callback (timeout, cancel_cb, inner, NULL);
      g_source_attach (timeout, context);
    }

  mitogen_select_all_async (self, inner, all_sync_cb, &data);
  while (data.result == NULL)
    g_main_context_iteration (context, TRUE);

  if (timeout != NULL)
    {
      /* Only our timeout cancels @inner without the caller's cancelling. */
      timed_out = g_cancellable_is_cancelled (inner) &&
                  (cancellable == NULL || !g_cancellable_is_cancelled (cancellable));
      g_source_destroy (timeout);
      g_source_unref (timeout);
    }

  g_main_context_pop_thread_default (context);

  if (handler_id != 0)
    g_cancellable_disconnect (cancellable, handler_id);

  messages = mitogen_select_all_finish (self, data.result, &local_error);
  g_object_unref (data.result);

  /* Let the task and its data go while the context is still ours. */
  while (g_main_context_iteration (context, FALSE))
    ;

  if (messages == NULL)
    {
      if (timed_out && g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_clear_error (&local_error);
          g_set_error_literal (&local_error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                               "Timed out waiting for every member of the select");
        }
      g_propagate_error (error, local_error);
    }

  return messages;
}

/**
 * mitogen_select_close:
 * @self: a select
 *
 * Removes every member, as [method@Mitogen.Select.remove_receiver] and
 * [method@Mitogen.Select.remove_select] do, and makes every pending get
 * fail at once with %MITOGEN_ERROR_CHANNEL, `Select was closed`. Messages
 * put back by a cancelled [method@Mitogen.Select.all_async] are dropped;
 * messages still queued on the member receivers stay there.
 *
 * The select can be used again afterwards. A select is also emptied when
 * it is finalized, so closing it is needed only to stop pending gets, or
 * to release the members early.
 *
 * Since: 1.0
 */
void
mitogen_select_close (MitogenSelect *self)
{
  Deferred d;

  g_return_if_fail (MITOGEN_IS_SELECT (self));

  deferred_init (&d);
  g_mutex_lock (&self->lock);

  while (!g_queue_is_empty (&self->waiters))
    waiter_fail (self, g_queue_peek_head (&self->waiters), "Select was closed", &d);
  select_clear (self, &d);

  g_mutex_unlock (&self->lock);
  deferred_run (&d);
}
