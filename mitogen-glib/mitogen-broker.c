/* mitogen-broker.c: the I/O thread of mitogen-glib
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-broker-private.h"
#include "mitogen-error.h"

/**
 * MitogenBroker:
 *
 * The thread that does all of mitogen-glib's I/O.
 *
 * A broker owns a private [struct@GLib.MainContext] run by its own thread.
 * Every file descriptor, timer and child process of the library lives
 * there. The broker thread never runs user code: results and signals reach
 * the user in the thread-default main context of the thread that asked for
 * them.
 *
 * A broker starts its thread when it is created and runs until
 * [method@Mitogen.Broker.shutdown]: children are told to exit, and those
 * that have not disconnected after
 * [property@Mitogen.Broker:shutdown-timeout] seconds are disconnected.
 * [method@Mitogen.Broker.join] waits for the thread to finish.
 *
 * Thread safety: every method may be called from any thread, except that
 * [method@Mitogen.Broker.join] must not be called from the broker thread.
 *
 * Since: 1.0
 */

typedef struct
{
  MitogenBrokerFunc func;
  gpointer data;
  GDestroyNotify destroy;
} Deferred;

typedef struct
{
  MitogenBrokerHook on_shutdown;
  MitogenBrokerHook on_exit;
  gpointer user_data;
} Hook;

struct _MitogenBroker
{
  GObject parent_instance;

  GMainContext *context;       /* (owned) read-only after init */
  GMainLoop *loop;             /* (owned) read-only after init */
  GSource *queue_source;       /* (owned) read-only after init */
  GThread *thread;             /* (owned) (lock) until joined */

  GMutex lock;
  GCond exited_cond;
  GQueue queue;                /* (lock) (element-type Deferred) */
  GArray *hooks;               /* (lock) (element-type Hook) */
  GList *join_tasks;           /* (lock) (element-type GTask) */
  gboolean accepting;          /* (lock) FALSE once the thread left its loop */
  gboolean exited;             /* (lock) */
  gboolean shutdown_requested; /* (lock) */
  gint shutdown_timeout_ms;    /* (atomic) */

  /* Broker thread only. */
  gboolean shutting_down;
  guint holds;
  GSource *grace_timer;
};

enum {
  PROP_0,
  PROP_SHUTDOWN_TIMEOUT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (MitogenBroker, mitogen_broker, G_TYPE_OBJECT)

static void
deferred_free (Deferred *deferred)
{
  if (deferred->destroy != NULL)
    deferred->destroy (deferred->data);
  g_free (deferred);
}

static gboolean
queue_source_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  MitogenBroker *self = user_data;
  GQueue batch = G_QUEUE_INIT;
  Deferred *deferred;

  g_source_set_ready_time (source, -1);

  /* Take the whole batch at once: one lock round per wake-up. */
  g_mutex_lock (&self->lock);
  batch = self->queue;
  g_queue_init (&self->queue);
  g_mutex_unlock (&self->lock);

  while ((deferred = g_queue_pop_head (&batch)) != NULL)
    {
      deferred->func (deferred->data);
      deferred_free (deferred);
    }

  return G_SOURCE_CONTINUE;
}

static GSourceFuncs queue_source_funcs = {
  .dispatch = queue_source_dispatch,
};

static Hook *
copy_hooks (MitogenBroker *self,
            guint         *n_hooks)
{
  Hook *copy;

  g_mutex_lock (&self->lock);
  *n_hooks = self->hooks->len;
  copy = g_memdup2 (self->hooks->data, sizeof (Hook) * self->hooks->len);
  g_mutex_unlock (&self->lock);

  return copy;
}

static void
finish_shutdown (MitogenBroker *self)
{
  g_autofree Hook *hooks = NULL;
  guint n_hooks;

  if (self->grace_timer != NULL)
    {
      g_source_destroy (self->grace_timer);
      g_clear_pointer (&self->grace_timer, g_source_unref);
    }

  hooks = copy_hooks (self, &n_hooks);
  for (guint i = 0; i < n_hooks; i++)
    if (hooks[i].on_exit != NULL)
      hooks[i].on_exit (self, hooks[i].user_data);

  g_main_loop_quit (self->loop);
}

static gboolean
grace_timer_expired (gpointer user_data)
{
  MitogenBroker *self = user_data;

  g_debug ("Broker shutdown timeout reached with %u connection(s) left; closing them", self->holds);
  g_clear_pointer (&self->grace_timer, g_source_unref);
  finish_shutdown (self);

  return G_SOURCE_REMOVE;
}

static void
begin_shutdown (gpointer user_data)
{
  MitogenBroker *self = user_data;
  g_autofree Hook *hooks = NULL;
  guint n_hooks;
  guint timeout_ms;

  if (self->shutting_down)
    return;
  self->shutting_down = TRUE;

  /* Hold across the hooks so a hook that releases synchronously cannot
   * finish the shutdown while later hooks still have to run. */
  self->holds++;
  hooks = copy_hooks (self, &n_hooks);
  for (guint i = 0; i < n_hooks; i++)
    if (hooks[i].on_shutdown != NULL)
      hooks[i].on_shutdown (self, hooks[i].user_data);

  timeout_ms = g_atomic_int_get (&self->shutdown_timeout_ms);
  self->grace_timer = g_timeout_source_new (timeout_ms);
  g_source_set_static_name (self->grace_timer, "[mitogen] broker shutdown timeout");
  g_source_set_callback (self->grace_timer, grace_timer_expired, self, NULL);
  g_source_attach (self->grace_timer, self->context);

  _mitogen_broker_release (self);
}

static gpointer
broker_thread_main (gpointer user_data)
{
  MitogenBroker *self = user_data;
  GList *join_tasks;
  GQueue leftovers;
  Deferred *deferred;

  g_main_context_push_thread_default (self->context);
  g_main_loop_run (self->loop);

  /* Stop accepting work, then run what was posted before that moment:
   * posted work often releases resources. */
  g_mutex_lock (&self->lock);
  self->accepting = FALSE;
  leftovers = self->queue;
  g_queue_init (&self->queue);
  g_mutex_unlock (&self->lock);
  while ((deferred = g_queue_pop_head (&leftovers)) != NULL)
    {
      deferred->func (deferred->data);
      deferred_free (deferred);
    }

  /* Let sources that were destroyed during shutdown be finalized here. */
  while (g_main_context_iteration (self->context, FALSE))
    ;
  g_main_context_pop_thread_default (self->context);

  g_mutex_lock (&self->lock);
  self->exited = TRUE;
  join_tasks = g_steal_pointer (&self->join_tasks);
  g_cond_broadcast (&self->exited_cond);
  g_mutex_unlock (&self->lock);

  for (GList *l = join_tasks; l != NULL; l = l->next)
    g_task_return_boolean (l->data, TRUE);
  g_list_free_full (join_tasks, g_object_unref);

  return NULL;
}

static void
mitogen_broker_constructed (GObject *object)
{
  MitogenBroker *self = MITOGEN_BROKER (object);

  G_OBJECT_CLASS (mitogen_broker_parent_class)->constructed (object);

  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  self->queue_source = g_source_new (&queue_source_funcs, sizeof (GSource));
  g_source_set_static_name (self->queue_source, "[mitogen] broker queue");
  g_source_set_callback (self->queue_source, NULL, self, NULL);
  g_source_attach (self->queue_source, self->context);
  self->accepting = TRUE;
  self->thread = g_thread_new ("mitogen-broker", broker_thread_main, self);
}

static void
mitogen_broker_dispose (GObject *object)
{
  MitogenBroker *self = MITOGEN_BROKER (object);

  if (self->thread != NULL)
    {
      if (g_thread_self () == self->thread)
        g_error ("The last reference to a MitogenBroker was dropped on its own thread");
      mitogen_broker_shutdown (self);
      g_thread_join (g_steal_pointer (&self->thread));
    }

  G_OBJECT_CLASS (mitogen_broker_parent_class)->dispose (object);
}

static void
mitogen_broker_finalize (GObject *object)
{
  MitogenBroker *self = MITOGEN_BROKER (object);

  g_source_destroy (self->queue_source);
  g_clear_pointer (&self->queue_source, g_source_unref);
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_queue_clear_full (&self->queue, (GDestroyNotify) deferred_free);
  g_clear_pointer (&self->hooks, g_array_unref);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->exited_cond);

  G_OBJECT_CLASS (mitogen_broker_parent_class)->finalize (object);
}

static void
mitogen_broker_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  MitogenBroker *self = MITOGEN_BROKER (object);

  switch (prop_id)
    {
    case PROP_SHUTDOWN_TIMEOUT:
      g_value_set_double (value, mitogen_broker_get_shutdown_timeout (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_broker_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  MitogenBroker *self = MITOGEN_BROKER (object);

  switch (prop_id)
    {
    case PROP_SHUTDOWN_TIMEOUT:
      mitogen_broker_set_shutdown_timeout (self, g_value_get_double (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_broker_class_init (MitogenBrokerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = mitogen_broker_constructed;
  object_class->dispose = mitogen_broker_dispose;
  object_class->finalize = mitogen_broker_finalize;
  object_class->get_property = mitogen_broker_get_property;
  object_class->set_property = mitogen_broker_set_property;

  /**
   * MitogenBroker:shutdown-timeout:
   *
   * Seconds [method@Mitogen.Broker.shutdown] waits for children to
   * disconnect by themselves before closing their streams.
   *
   * Since: 1.0
   */
  properties[PROP_SHUTDOWN_TIMEOUT] =
    g_param_spec_double ("shutdown-timeout", NULL, NULL,
                         0.0, 3600.0, MITOGEN_BROKER_DEFAULT_SHUTDOWN_TIMEOUT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mitogen_broker_init (MitogenBroker *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->exited_cond);
  g_queue_init (&self->queue);
  self->hooks = g_array_new (FALSE, FALSE, sizeof (Hook));
  self->shutdown_timeout_ms = (gint) (MITOGEN_BROKER_DEFAULT_SHUTDOWN_TIMEOUT * 1000);
}

/**
 * mitogen_broker_new:
 *
 * Creates a broker and starts its thread.
 *
 * Returns: (transfer full): a new running broker
 *
 * Since: 1.0
 */
MitogenBroker *
mitogen_broker_new (void)
{
  return g_object_new (MITOGEN_TYPE_BROKER, NULL);
}

static gboolean
post_internal (MitogenBroker     *self,
               MitogenBrokerFunc  func,
               gpointer           data,
               GDestroyNotify     destroy)
{
  Deferred *deferred;
  gboolean accepted;

  deferred = g_new (Deferred, 1);
  deferred->func = func;
  deferred->data = data;
  deferred->destroy = destroy;

  g_mutex_lock (&self->lock);
  accepted = self->accepting;
  if (accepted)
    g_queue_push_tail (&self->queue, deferred);
  g_mutex_unlock (&self->lock);

  if (accepted)
    g_source_set_ready_time (self->queue_source, 0);
  else
    deferred_free (deferred);

  return accepted;
}

/**
 * mitogen_broker_defer:
 * @self: a broker
 * @func: (scope notified) (closure user_data) (destroy destroy): the function
 *   to run on the broker thread
 * @user_data: data for @func
 * @destroy: (nullable): frees @user_data after @func ran, or when the
 *   broker has exited and @func will never run
 *
 * Runs @func on the broker thread, soon, in the order calls were made.
 * @func must not block: it would stall every connection.
 *
 * Since: 1.0
 */
void
mitogen_broker_defer (MitogenBroker     *self,
                      MitogenBrokerFunc  func,
                      gpointer           user_data,
                      GDestroyNotify     destroy)
{
  g_return_if_fail (MITOGEN_IS_BROKER (self));
  g_return_if_fail (func != NULL);

  post_internal (self, func, user_data, destroy);
}

void
_mitogen_broker_post (MitogenBroker     *self,
                      MitogenBrokerFunc  func,
                      gpointer           data)
{
  if (!post_internal (self, func, data, NULL))
    g_debug ("Broker has exited; dropped a deferred call");
}

/**
 * mitogen_broker_shutdown:
 * @self: a broker
 *
 * Begins an orderly shutdown: every child is sent SHUTDOWN, the broker
 * waits up to [property@Mitogen.Broker:shutdown-timeout] seconds for them
 * to disconnect, closes what remains, fails every pending receiver with
 * %MITOGEN_ERROR_CHANNEL, and its thread exits. Returns at once; use
 * [method@Mitogen.Broker.join] to wait. Calling it again has no effect.
 *
 * Since: 1.0
 */
void
mitogen_broker_shutdown (MitogenBroker *self)
{
  gboolean first;

  g_return_if_fail (MITOGEN_IS_BROKER (self));

  g_mutex_lock (&self->lock);
  first = !self->shutdown_requested;
  self->shutdown_requested = TRUE;
  g_mutex_unlock (&self->lock);

  if (first)
    post_internal (self, begin_shutdown, self, NULL);
}

/**
 * mitogen_broker_join:
 * @self: a broker
 * @timeout_usec: how long to wait, in microseconds, or -1 for no limit
 *
 * Waits for the broker thread to exit, after [method@Mitogen.Broker.shutdown].
 * Must not be called from the broker thread.
 *
 * Returns: %TRUE if the thread exited, %FALSE on timeout
 *
 * Since: 1.0
 */
gboolean
mitogen_broker_join (MitogenBroker *self,
                     gint64         timeout_usec)
{
  GThread *thread = NULL;
  gboolean exited;
  gint64 deadline;

  g_return_val_if_fail (MITOGEN_IS_BROKER (self), FALSE);
  g_return_val_if_fail (!_mitogen_broker_in_thread (self), FALSE);

  deadline = timeout_usec < 0 ? G_MAXINT64 : g_get_monotonic_time () + timeout_usec;

  g_mutex_lock (&self->lock);
  while (!self->exited)
    if (!g_cond_wait_until (&self->exited_cond, &self->lock, deadline) && !self->exited)
      break;
  exited = self->exited;
  if (exited)
    thread = g_steal_pointer (&self->thread);
  g_mutex_unlock (&self->lock);

  if (thread != NULL)
    g_thread_join (thread);

  return exited;
}

/**
 * mitogen_broker_join_async:
 * @self: a broker
 * @cancellable: (nullable): a cancellable
 * @callback: (scope async) (closure user_data): called when the thread has
 *   exited
 * @user_data: data for @callback
 *
 * Waits for the broker thread to exit without blocking. @callback runs in
 * the thread-default main context of the caller.
 *
 * Since: 1.0
 */
void
mitogen_broker_join_async (MitogenBroker       *self,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  gboolean exited;

  g_return_if_fail (MITOGEN_IS_BROKER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_broker_join_async);

  g_mutex_lock (&self->lock);
  exited = self->exited;
  if (!exited)
    self->join_tasks = g_list_prepend (self->join_tasks, g_object_ref (task));
  g_mutex_unlock (&self->lock);

  if (exited)
    g_task_return_boolean (task, TRUE);
}

/**
 * mitogen_broker_join_finish:
 * @self: a broker
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Broker.join_async].
 *
 * Returns: %TRUE once the thread exited; %FALSE if cancelled
 *
 * Since: 1.0
 */
gboolean
mitogen_broker_join_finish (MitogenBroker  *self,
                            GAsyncResult   *result,
                            GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * mitogen_broker_is_running:
 * @self: a broker
 *
 * Tells whether the broker thread is still running.
 *
 * Returns: %TRUE until the broker thread has exited
 *
 * Since: 1.0
 */
gboolean
mitogen_broker_is_running (MitogenBroker *self)
{
  gboolean running;

  g_return_val_if_fail (MITOGEN_IS_BROKER (self), FALSE);

  g_mutex_lock (&self->lock);
  running = !self->exited;
  g_mutex_unlock (&self->lock);

  return running;
}

/**
 * mitogen_broker_get_shutdown_timeout:
 * @self: a broker
 *
 * Gets the grace period of [method@Mitogen.Broker.shutdown].
 *
 * Returns: the shutdown grace period in seconds
 *
 * Since: 1.0
 */
double
mitogen_broker_get_shutdown_timeout (MitogenBroker *self)
{
  g_return_val_if_fail (MITOGEN_IS_BROKER (self), 0.0);

  return g_atomic_int_get (&self->shutdown_timeout_ms) / 1000.0;
}

/**
 * mitogen_broker_set_shutdown_timeout:
 * @self: a broker
 * @seconds: the grace period, from 0 to 3600 seconds
 *
 * Sets how long [method@Mitogen.Broker.shutdown] waits for children to
 * disconnect by themselves.
 *
 * Since: 1.0
 */
void
mitogen_broker_set_shutdown_timeout (MitogenBroker *self,
                                     double         seconds)
{
  gint ms;

  g_return_if_fail (MITOGEN_IS_BROKER (self));
  g_return_if_fail (seconds >= 0.0 && seconds <= 3600.0);

  ms = (gint) (seconds * 1000.0);
  if (g_atomic_int_get (&self->shutdown_timeout_ms) == ms)
    return;
  g_atomic_int_set (&self->shutdown_timeout_ms, ms);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHUTDOWN_TIMEOUT]);
}

GMainContext *
_mitogen_broker_get_main_context (MitogenBroker *self)
{
  return self->context;
}

gboolean
_mitogen_broker_in_thread (MitogenBroker *self)
{
  return g_main_context_is_owner (self->context);
}

void
_mitogen_broker_add_hooks (MitogenBroker     *self,
                           MitogenBrokerHook  on_shutdown,
                           MitogenBrokerHook  on_exit,
                           gpointer           user_data)
{
  Hook hook = { on_shutdown, on_exit, user_data };

  g_mutex_lock (&self->lock);
  g_array_append_val (self->hooks, hook);
  g_mutex_unlock (&self->lock);
}

void
_mitogen_broker_remove_hooks (MitogenBroker *self,
                              gpointer       user_data)
{
  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->hooks->len; i++)
    if (g_array_index (self->hooks, Hook, i).user_data == user_data)
      {
        g_array_remove_index (self->hooks, i);
        break;
      }
  g_mutex_unlock (&self->lock);
}

void
_mitogen_broker_hold (MitogenBroker *self)
{
  g_assert (_mitogen_broker_in_thread (self));

  self->holds++;
}

void
_mitogen_broker_release (MitogenBroker *self)
{
  g_assert (_mitogen_broker_in_thread (self));
  g_assert (self->holds > 0);

  self->holds--;
  if (self->holds == 0 && self->shutting_down)
    finish_shutdown (self);
}

gboolean
_mitogen_broker_is_shutting_down (MitogenBroker *self)
{
  return self->shutting_down;
}
