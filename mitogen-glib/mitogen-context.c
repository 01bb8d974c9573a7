/* mitogen-context.c: a Python interpreter the router can reach
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-completion-private.h"
#include "mitogen-context-private.h"
#include "mitogen-error.h"
#include "mitogen-message-private.h"
#include "mitogen-pickle-private.h"
#include "mitogen-receiver-private.h"
#include "mitogen-router-private.h"

/**
 * MitogenContext:
 *
 * A Python interpreter that the router can reach: a child started by one
 * of the router's connection methods, or a context further down a chain.
 *
 * Calls run a named function there: [method@Mitogen.Context.call_async]
 * with its [method@Mitogen.Context.call_finish], or the blocking
 * [method@Mitogen.Context.call_sync] with a timeout. Arguments and results
 * are [struct@GLib.Variant]s (see the value table in the overview). A
 * remote exception becomes a %MITOGEN_ERROR_CALL error carrying the remote
 * type, message and traceback. When the context disconnects, every
 * pending call fails at once with %MITOGEN_ERROR_CHANNEL and
 * [signal@Mitogen.Context::disconnected] is emitted.
 *
 * A context holds only a weak reference to its router: keep the router
 * alive while you use its contexts.
 *
 * Thread safety: every method may be called from any thread. Signals and
 * async callbacks run in the thread-default main context of the thread
 * that created the context (respectively, that started the operation).
 *
 * Since: 1.0
 */

struct _MitogenContext
{
  GObject parent_instance;

  GWeakRef router;             /* (MitogenRouter) */
  guint32 context_id;          /* read-only */
  GMainContext *owner_context; /* (owned) read-only */

  GMutex lock;
  char *name;                  /* (lock) (owned) (nullable) */
  gboolean disconnected;       /* (lock) */
  GList *shutdown_tasks;       /* (lock) (element-type GTask) */
};

enum {
  PROP_0,
  PROP_CONTEXT_ID,
  PROP_NAME,
  PROP_ROUTER,
  PROP_CONNECTED,
  N_PROPS
};

enum {
  SIGNAL_DISCONNECTED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (MitogenContext, mitogen_context, G_TYPE_OBJECT)

static void
mitogen_context_finalize (GObject *object)
{
  MitogenContext *self = MITOGEN_CONTEXT (object);

  g_weak_ref_clear (&self->router);
  g_clear_pointer (&self->owner_context, g_main_context_unref);
  g_free (self->name);
  g_list_free_full (self->shutdown_tasks, g_object_unref);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (mitogen_context_parent_class)->finalize (object);
}

static void
mitogen_context_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  MitogenContext *self = MITOGEN_CONTEXT (object);

  switch (prop_id)
    {
    case PROP_CONTEXT_ID:
      g_value_set_uint (value, self->context_id);
      break;
    case PROP_NAME:
      g_mutex_lock (&self->lock);
      g_value_set_string (value, self->name);
      g_mutex_unlock (&self->lock);
      break;
    case PROP_ROUTER:
      g_value_take_object (value, g_weak_ref_get (&self->router));
      break;
    case PROP_CONNECTED:
      g_value_set_boolean (value, mitogen_context_is_connected (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_context_class_init (MitogenContextClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = mitogen_context_finalize;
  object_class->get_property = mitogen_context_get_property;

  /**
   * MitogenContext:context-id:
   *
   * The context's id in the router's tree (the master is 0).
   *
   * Since: 1.0
   */
  properties[PROP_CONTEXT_ID] =
    g_param_spec_uint ("context-id", NULL, NULL, 0, G_MAXUINT32, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenContext:name:
   *
   * A name for logs, e.g. `local.1234`.
   *
   * Since: 1.0
   */
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenContext:router:
   *
   * The router that reaches this context, or %NULL once it is gone.
   *
   * Since: 1.0
   */
  properties[PROP_ROUTER] =
    g_param_spec_object ("router", NULL, NULL, MITOGEN_TYPE_ROUTER,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenContext:connected:
   *
   * %FALSE once the context has disconnected.
   *
   * Since: 1.0
   */
  properties[PROP_CONNECTED] =
    g_param_spec_boolean ("connected", NULL, NULL, TRUE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * MitogenContext::disconnected:
   * @context: the context
   *
   * Emitted once, in the main context the context object was created in,
   * when the context has gone away. Its pending calls have failed by then.
   *
   * Since: 1.0
   */
  signals[SIGNAL_DISCONNECTED] =
    g_signal_new ("disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
mitogen_context_init (MitogenContext *self)
{
  g_mutex_init (&self->lock);
  g_weak_ref_init (&self->router, NULL);
}

MitogenContext *
_mitogen_context_new (MitogenRouter *router,
                      guint32        context_id,
                      const char    *name)
{
  MitogenContext *self = g_object_new (MITOGEN_TYPE_CONTEXT, NULL);

  g_weak_ref_set (&self->router, router);
  self->context_id = context_id;
  self->name = g_strdup (name);
  /* Signals go where the router's go: the router may create a context on
   * the broker thread. */
  self->owner_context = g_main_context_ref (_mitogen_router_get_owner_context (router));

  return self;
}

void
_mitogen_context_set_name (MitogenContext *self,
                           const char     *name)
{
  g_mutex_lock (&self->lock);
  g_free (self->name);
  self->name = g_strdup (name);
  g_mutex_unlock (&self->lock);
}

static gboolean
emit_disconnected_cb (gpointer data)
{
  MitogenContext *self = data;

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECTED]);
  g_signal_emit (self, signals[SIGNAL_DISCONNECTED], 0);

  return G_SOURCE_REMOVE;
}

gboolean
_mitogen_context_mark_disconnected (MitogenContext *self)
{
  GList *tasks;

  g_mutex_lock (&self->lock);
  if (self->disconnected)
    {
      g_mutex_unlock (&self->lock);
      return FALSE;
    }
  self->disconnected = TRUE;
  tasks = g_steal_pointer (&self->shutdown_tasks);
  g_mutex_unlock (&self->lock);

  for (GList *l = tasks; l != NULL; l = l->next)
    g_task_return_boolean (l->data, TRUE);
  g_list_free_full (tasks, g_object_unref);

  _mitogen_invoke_in_context (self->owner_context, emit_disconnected_cb,
                              g_object_ref (self), g_object_unref);
  return TRUE;
}

/**
 * mitogen_context_get_context_id:
 * @self: a context
 *
 * Gets the context's id in the router's tree.
 *
 * Returns: the context's id
 *
 * Since: 1.0
 */
guint32
mitogen_context_get_context_id (MitogenContext *self)
{
  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), 0);

  return self->context_id;
}

/**
 * mitogen_context_get_name:
 * @self: a context
 *
 * Gets the context's name, used in logs.
 *
 * Returns: (nullable): the context's name
 *
 * Since: 1.0
 */
const char *
mitogen_context_get_name (MitogenContext *self)
{
  const char *name;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), NULL);

  /* The name is set once a connection completes, before the context is
   * handed out, and interned so the pointer stays valid. */
  g_mutex_lock (&self->lock);
  name = g_intern_string (self->name);
  g_mutex_unlock (&self->lock);

  return name;
}

/**
 * mitogen_context_get_router:
 * @self: a context
 *
 * Gets the router that reaches the context.
 *
 * Returns: (transfer none) (nullable): the router, or %NULL if it was
 *   finalized
 *
 * Since: 1.0
 */
MitogenRouter *
mitogen_context_get_router (MitogenContext *self)
{
  g_autoptr(MitogenRouter) router = NULL;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), NULL);

  /* Returning a borrowed pointer is safe while the caller keeps the
   * router alive, which the class documentation requires. */
  router = g_weak_ref_get (&self->router);
  return router;
}

/**
 * mitogen_context_is_connected:
 * @self: a context
 *
 * Tells whether the context is still reachable.
 *
 * Returns: %FALSE once the context has disconnected
 *
 * Since: 1.0
 */
gboolean
mitogen_context_is_connected (MitogenContext *self)
{
  gboolean connected;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), FALSE);

  g_mutex_lock (&self->lock);
  connected = !self->disconnected;
  g_mutex_unlock (&self->lock);

  return connected;
}

static MitogenRouter *
dup_router (MitogenContext  *self,
            GError         **error)
{
  MitogenRouter *router = g_weak_ref_get (&self->router);

  if (router == NULL)
    g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                 "The router of context %u has been finalized", self->context_id);
  return router;
}

/* Pickles the call tuple into @writer; on failure the writer is cleared. */
static gboolean
pickle_call (MitogenPickleWriter  *writer,
             const char           *module,
             const char           *class_name,
             const char           *function,
             GVariant             *args,
             GVariant             *kwargs,
             GError              **error)
{
  gsize args_size = (args ? g_variant_get_size (args) : 0) +
                    (kwargs ? g_variant_get_size (kwargs) : 0);

  /* Big bytes arguments are not copied (the frame is written from the
   * pieces), so they need no room. */
  _mitogen_pickle_writer_init (writer, MITOGEN_PICKLE_FLAGS_NONE,
                               128 + MIN (args_size, MITOGEN_PICKLE_SHARE_MIN_SIZE));
  writer->share_big_bytes = TRUE;
  _mitogen_pickle_writer_mark (writer);
  _mitogen_pickle_writer_none (writer);
  _mitogen_pickle_writer_str (writer, module, -1);
  if (class_name != NULL)
    _mitogen_pickle_writer_str (writer, class_name, -1);
  else
    _mitogen_pickle_writer_none (writer);
  _mitogen_pickle_writer_str (writer, function, -1);

  if (args == NULL)
    _mitogen_pickle_writer_tuple_n (writer, 0);
  else
    {
      /* Each member separately, so that a tuple that happens to look like
       * a tagged value is still an argument tuple. */
      gsize n = g_variant_n_children (args);

      _mitogen_pickle_writer_mark (writer);
      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) arg = g_variant_get_child_value (args, i);

          if (!_mitogen_pickle_writer_value (writer, arg, error))
            {
              _mitogen_pickle_writer_clear (writer);
              return FALSE;
            }
        }
      _mitogen_pickle_writer_tuple (writer);
    }

  /* No keyword arguments: a plain empty dict. Both runtimes (ours and
   * Mitogen's) take it as they take Kwargs({}), and it spares the child a
   * global lookup and a constructor call on every call (and the wire 30
   * bytes). Kwargs only exists to turn bytes keys into str. */
  if (kwargs == NULL || g_variant_n_children (kwargs) == 0)
    _mitogen_pickle_writer_empty_dict (writer);
  else if (!_mitogen_pickle_writer_kwargs (writer, kwargs, error))
    {
      _mitogen_pickle_writer_clear (writer);
      return FALSE;
    }
  _mitogen_pickle_writer_tuple (writer);

  return TRUE;
}

static gboolean
check_call_args (GVariant  *args,
                 GVariant  *kwargs,
                 GError   **error)
{
  if (args != NULL && !g_variant_is_of_type (args, G_VARIANT_TYPE_TUPLE))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "Call arguments must be a tuple, not “%s”", g_variant_get_type_string (args));
      return FALSE;
    }
  if (kwargs != NULL && !g_variant_is_of_type (kwargs, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "Call keyword arguments must be “a{sv}”, not “%s”",
                   g_variant_get_type_string (kwargs));
      return FALSE;
    }
  return TRUE;
}

/* What every call does first: checks the arguments and pickles the call
 * into @writer. Floating references are sunk (and dropped) whatever
 * happens. Returns the router to send it with, or %NULL with @error set
 * (@writer is then not initialised). */
static MitogenRouter *
prepare_call (MitogenContext      *self,
              const char          *module,
              const char          *class_name,
              const char          *function,
              GVariant            *args,
              GVariant            *kwargs,
              MitogenPickleWriter *writer,
              GError             **error)
{
  g_autoptr(MitogenRouter) router = NULL;
  gboolean pickled = FALSE;

  if (args != NULL)
    g_variant_ref_sink (args);
  if (kwargs != NULL)
    g_variant_ref_sink (kwargs);
  if (check_call_args (args, kwargs, error))
    {
      router = dup_router (self, error);
      if (router != NULL)
        pickled = pickle_call (writer, module, class_name, function, args, kwargs, error);
    }
  g_clear_pointer (&args, g_variant_unref);
  g_clear_pointer (&kwargs, g_variant_unref);

  return pickled ? g_steal_pointer (&router) : NULL;
}

/* Sends the call in @writer (cleared), its reply going to @reply_to. */
static gboolean
send_call (MitogenContext       *self,
           MitogenRouter        *router,
           MitogenPickleWriter  *writer,
           guint32               reply_to,
           GError              **error)
{
  guint32 own_id = mitogen_router_get_context_id (router);
  MitogenFrame frame;
  gboolean routed;

  _mitogen_frame_init_from_writer (&frame, self->context_id, own_id, own_id,
                                   MITOGEN_HANDLE_CALL_FUNCTION, reply_to, writer);
  routed = _mitogen_router_route_frame (router, &frame, error);
  _mitogen_frame_clear (&frame);
  return routed;
}

/* Sends a CALL_FUNCTION. With @out_receiver, a reply receiver is made
 * and returned; a request that cannot be routed still succeeds then,
 * because the router has already put a dead reply in that receiver. */
static gboolean
start_call (MitogenContext   *self,
            const char       *module,
            const char       *class_name,
            const char       *function,
            GVariant         *args,
            GVariant         *kwargs,
            MitogenReceiver **out_receiver,
            GError          **error)
{
  g_autoptr(MitogenRouter) router = NULL;
  MitogenPickleWriter writer;
  MitogenReceiver *receiver;

  router = prepare_call (self, module, class_name, function, args, kwargs, &writer, error);
  if (router == NULL)
    return FALSE;
  if (out_receiver == NULL)
    return send_call (self, router, &writer, 0, error);

  receiver = mitogen_receiver_new (router, 0, FALSE, self);
  send_call (self, router, &writer, mitogen_receiver_get_handle (receiver), NULL);
  *out_receiver = receiver;
  return TRUE;
}

/* The result a reply carries: its payload, or, for a dead message, %NULL
 * and the error that says why. */
static GBytes *
reply_from_frame (MitogenFrame  *frame,
                  GError       **error)
{
  g_autoptr(GBytes) payload = _mitogen_frame_dup_data (frame);

  if (frame->reply_to == MITOGEN_HANDLE_IS_DEAD)
    {
      g_autofree char *reason = _mitogen_dead_reason (payload);

      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, reason);
      return NULL;
    }
  return g_steal_pointer (&payload);
}

/* The asynchronous call path. The reply handle is an internal router
 * handler rather than a MitogenReceiver: the reply's payload is handed to
 * the GTask straight from the thread that routed it, so a call costs one
 * GTask and one dispatch in the caller's context, and no other GObject
 * (neither the call nor its reply is made a MitogenMessage).
 *
 * Exactly one of three things completes the task, whichever takes it from
 * PendingCall.task first: the reply (or a dead message: the respondent
 * disconnected, no route, the broker exited), the cancellable, or a
 * failure to send. */
typedef struct
{
  gatomicrefcount ref_count;
  GTask *task;                 /* (atomic) (nullable) until completed */
  MitogenRouter *router;       /* (owned) */
  guint32 handle;
} PendingCall;

static PendingCall *
pending_call_ref (PendingCall *call)
{
  g_atomic_ref_count_inc (&call->ref_count);
  return call;
}

static void
pending_call_unref (gpointer data)
{
  PendingCall *call = data;
  GTask *task;

  if (!g_atomic_ref_count_dec (&call->ref_count))
    return;
  /* Unreachable in practice (the router always delivers a reply or a
   * dead message before dropping a handler), but never leave a caller
   * waiting. */
  task = g_atomic_pointer_exchange (&call->task, NULL);
  if (task != NULL)
    {
      g_task_return_new_error (task, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                               "the call's reply handle was dropped");
      g_object_unref (task);
    }
  g_object_unref (call->router);
  g_free (call);
}

static GTask *
pending_call_take_task (PendingCall *call)
{
  return g_atomic_pointer_exchange (&call->task, NULL);
}

static void
pending_call_on_reply (MitogenRouter *router,
                       MitogenFrame  *frame,
                       gpointer       user_data)
{
  PendingCall *call = user_data;
  g_autoptr(GTask) task = pending_call_take_task (call);
  GCancellable *cancellable;
  GBytes *payload;
  GError *error = NULL;

  if (task == NULL)
    return;
  cancellable = g_task_get_cancellable (task);
  if (cancellable != NULL)
    g_cancellable_disconnect (cancellable, GPOINTER_TO_SIZE (g_task_get_task_data (task)));
  /* Decoding waits for mitogen_context_call_finish(), on the caller's
   * thread: the broker thread only moves bytes. */
  payload = reply_from_frame (frame, &error);
  _mitogen_complete_in_context (g_steal_pointer (&task), payload, error);
}

static void
pending_call_on_cancelled (GCancellable *cancellable,
                           gpointer      user_data)
{
  PendingCall *call = user_data;
  g_autoptr(GTask) task = pending_call_take_task (call);

  if (task == NULL)
    return;
  /* A late reply finds no handler and is dropped by the router. */
  mitogen_router_del_handler (call->router, call->handle);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
}

static void
start_call_async (MitogenContext *self,
                  const char     *module,
                  const char     *class_name,
                  const char     *function,
                  GVariant       *args,
                  GVariant       *kwargs,
                  GTask          *task)
{
  g_autoptr(MitogenRouter) router = NULL;
  MitogenPickleWriter writer;
  GCancellable *cancellable = g_task_get_cancellable (task);
  GError *error = NULL;
  PendingCall *call;
  gulong cancel_id = 0;

  router = prepare_call (self, module, class_name, function, args, kwargs, &writer, &error);
  if (router == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  call = g_new0 (PendingCall, 1);
  g_atomic_ref_count_init (&call->ref_count);
  call->task = task;
  call->router = g_object_ref (router);
  /* The handler holds one reference, the cancellable (if any) another. */
  call->handle = _mitogen_router_add_internal_frame_handler (router, pending_call_on_reply,
                                                             pending_call_ref (call), pending_call_unref,
                                                             0, MITOGEN_HANDLER_FLAGS_NONE,
                                                             self->context_id, MITOGEN_POLICY_ANY);
  /* Connected before the message leaves, so a reply cannot race the
   * disconnect id into the task data. Already cancelled: the callback
   * runs now and the call is never sent. */
  if (cancellable != NULL)
    {
      g_task_set_task_data (task, NULL, NULL);
      cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (pending_call_on_cancelled),
                                         pending_call_ref (call), pending_call_unref);
      g_task_set_task_data (task, GSIZE_TO_POINTER (cancel_id), NULL);
    }

  /* A failure to route comes to the handler as a dead reply. */
  if (g_atomic_pointer_get (&call->task) != NULL)
    send_call (self, router, &writer, call->handle, NULL);
  else
    _mitogen_pickle_writer_clear (&writer);
  pending_call_unref (call);
}

/**
 * mitogen_context_call_async:
 * @self: a context
 * @module: the module of the function, e.g. `os`
 * @class_name: (nullable): a class in @module whose class or static method
 *   is called, or %NULL for a module-level function
 * @function: the function's name
 * @args: (nullable): the positional arguments, a tuple; a floating
 *   reference is sunk
 * @kwargs: (nullable): the keyword arguments, an `a{sv}` dictionary; a
 *   floating reference is sunk
 * @cancellable: (nullable): a cancellable
 * @callback: (scope async) (closure user_data): called with the result
 * @user_data: data for @callback
 *
 * Calls `module.function(*args, **kwargs)` (or
 * `module.class_name.function(...)`) in the context, which imports @module
 * (from this process if it does not have it) and runs the function in its
 * main thread. @callback runs in the thread-default main context of the
 * caller. Cancelling stops waiting for the result; the call itself may
 * still run.
 *
 * Since: 1.0
 */
void
mitogen_context_call_async (MitogenContext      *self,
                            const char          *module,
                            const char          *class_name,
                            const char          *function,
                            GVariant            *args,
                            GVariant            *kwargs,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (MITOGEN_IS_CONTEXT (self));
  g_return_if_fail (module != NULL);
  g_return_if_fail (function != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_context_call_async);
  g_task_set_check_cancellable (task, FALSE);

  start_call_async (self, module, class_name, function, args, kwargs, g_steal_pointer (&task));
}

/**
 * mitogen_context_call_finish:
 * @self: a context
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Context.call_async].
 *
 * Returns: (transfer full): the function's return value, or %NULL with
 *   %MITOGEN_ERROR_CALL (the function raised), %MITOGEN_ERROR_CHANNEL (the
 *   context went away), a %MITOGEN_CODEC_ERROR (the reply could not be
 *   decoded) or %G_IO_ERROR_CANCELLED
 *
 * Since: 1.0
 */
GVariant *
mitogen_context_call_finish (MitogenContext  *self,
                             GAsyncResult    *result,
                             GError         **error)
{
  g_autoptr(GBytes) reply = NULL;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  reply = g_task_propagate_pointer (G_TASK (result), error);
  if (reply == NULL)
    return NULL;

  /* Decode on the caller's thread: the broker thread only moves bytes. */
  return _mitogen_unpickle_result (reply, error);
}

/* The blocking call path: as the asynchronous one (an internal handler
 * takes the reply frame, no receiver, latch or message is made), with the
 * reply handed to the waiting thread under a mutex. The reply, the
 * deadline and the cancellable race; whichever sets @done first wins. */
typedef struct
{
  gatomicrefcount ref_count;
  GMutex lock;
  GCond cond;
  gboolean done;               /* (lock) */
  GBytes *payload;             /* (lock) (owned) (nullable) */
  GError *error;               /* (lock) (owned) (nullable) */
} SyncCall;

static SyncCall *
sync_call_ref (SyncCall *call)
{
  g_atomic_ref_count_inc (&call->ref_count);
  return call;
}

static void
sync_call_unref (gpointer data)
{
  SyncCall *call = data;

  if (!g_atomic_ref_count_dec (&call->ref_count))
    return;
  g_clear_pointer (&call->payload, g_bytes_unref);
  g_clear_error (&call->error);
  g_mutex_clear (&call->lock);
  g_cond_clear (&call->cond);
  g_free (call);
}

/* Completes @call with @payload or @error (both transfer full), unless it
 * is done already. */
static void
sync_call_complete (SyncCall *call,
                    GBytes   *payload,
                    GError   *error)
{
  g_mutex_lock (&call->lock);
  if (!call->done)
    {
      call->done = TRUE;
      call->payload = g_steal_pointer (&payload);
      call->error = g_steal_pointer (&error);
      g_cond_signal (&call->cond);
    }
  g_mutex_unlock (&call->lock);
  g_clear_pointer (&payload, g_bytes_unref);
  g_clear_error (&error);
}

static void
sync_call_on_reply (MitogenRouter *router,
                    MitogenFrame  *frame,
                    gpointer       user_data)
{
  GError *error = NULL;
  GBytes *payload = reply_from_frame (frame, &error);

  sync_call_complete (user_data, payload, error);
}

/* Runs on the cancelling thread, or in g_cancellable_connect() itself. */
static void
sync_call_on_cancelled (GCancellable *cancellable,
                        gpointer      user_data)
{
  sync_call_complete (user_data, NULL,
                      g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled"));
}

/* Sends the call in @writer (cleared) and waits for its reply's payload:
 * %NULL with %MITOGEN_ERROR_CHANNEL (a dead reply: the context
 * disconnected, no route...), %MITOGEN_ERROR_TIMEOUT or
 * %G_IO_ERROR_CANCELLED. */
static GBytes *
sync_call (MitogenContext       *self,
           MitogenRouter        *router,
           MitogenPickleWriter  *writer,
           gint64                timeout_usec,
           GCancellable         *cancellable,
           GError              **error)
{
  SyncCall *call = g_new0 (SyncCall, 1);
  gint64 deadline = timeout_usec < 0 ? -1 : g_get_monotonic_time () + timeout_usec;
  gulong cancel_id = 0;
  GBytes *payload;
  gboolean answered;
  guint32 handle;

  g_atomic_ref_count_init (&call->ref_count);
  g_mutex_init (&call->lock);
  g_cond_init (&call->cond);
  /* The handler holds one reference, the cancellable (if any) another. */
  handle = _mitogen_router_add_internal_frame_handler (router, sync_call_on_reply,
                                                       sync_call_ref (call), sync_call_unref,
                                                       0, MITOGEN_HANDLER_FLAGS_NONE,
                                                       self->context_id, MITOGEN_POLICY_ANY);
  /* Already cancelled: the callback runs now and the call is never sent. */
  if (cancellable != NULL)
    cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (sync_call_on_cancelled),
                                       sync_call_ref (call), sync_call_unref);

  g_mutex_lock (&call->lock);
  answered = call->done;
  g_mutex_unlock (&call->lock);
  /* A failure to route comes to the handler as a dead reply. */
  if (!answered)
    send_call (self, router, writer, handle, NULL);
  else
    _mitogen_pickle_writer_clear (writer);

  g_mutex_lock (&call->lock);
  while (!call->done)
    {
      if (deadline < 0)
        g_cond_wait (&call->cond, &call->lock);
      else if (!g_cond_wait_until (&call->cond, &call->lock, deadline) && !call->done)
        {
          call->done = TRUE;
          call->error = g_error_new_literal (MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT, "Timed out");
        }
    }
  payload = g_steal_pointer (&call->payload);
  if (payload == NULL)
    g_propagate_error (error, g_steal_pointer (&call->error));
  g_mutex_unlock (&call->lock);

  if (cancel_id != 0)
    g_cancellable_disconnect (cancellable, cancel_id);
  /* Timed out or cancelled, a late reply finds no handler and is dropped
   * (after a reply, dead or not, the one-shot handler is gone already). */
  if (payload == NULL)
    mitogen_router_del_handler (router, handle);
  sync_call_unref (call);

  return payload;
}

/**
 * mitogen_context_call_sync:
 * @self: a context
 * @module: the module of the function
 * @class_name: (nullable): the class, or %NULL
 * @function: the function's name
 * @args: (nullable): the positional arguments, a tuple; a floating
 *   reference is sunk
 * @kwargs: (nullable): the keyword arguments, `a{sv}`; a floating
 *   reference is sunk
 * @timeout_usec: how long to wait for the result, in microseconds; -1 for
 *   no limit
 * @cancellable: (nullable): a cancellable
 * @error: return location for a #GError
 *
 * Calls a function as [method@Mitogen.Context.call_async] does and waits
 * for its result, blocking the calling thread (no main loop is needed).
 * Cancelling @cancellable (from another thread) or the timeout stops the
 * wait; the call itself may still run, and its result is then dropped. A
 * call whose @cancellable is already cancelled is not sent.
 *
 * Returns: (transfer full): the return value, or %NULL with @error set as
 *   for [method@Mitogen.Context.call_finish], or %MITOGEN_ERROR_TIMEOUT
 *
 * Since: 1.0
 */
GVariant *
mitogen_context_call_sync (MitogenContext  *self,
                           const char      *module,
                           const char      *class_name,
                           const char      *function,
                           GVariant        *args,
                           GVariant        *kwargs,
                           gint64           timeout_usec,
                           GCancellable    *cancellable,
                           GError         **error)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(GBytes) reply = NULL;
  MitogenPickleWriter writer;
  GError *local_error = NULL;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (module != NULL, NULL);
  g_return_val_if_fail (function != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  router = prepare_call (self, module, class_name, function, args, kwargs, &writer, error);
  if (router == NULL)
    return NULL;
  reply = sync_call (self, router, &writer, timeout_usec, cancellable, &local_error);
  if (reply == NULL)
    {
      if (g_error_matches (local_error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT))
        {
          g_clear_error (&local_error);
          g_set_error (&local_error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT,
                       "%s.%s%s%s() in context %u did not return within %.3f s",
                       module, class_name ? class_name : "", class_name ? "." : "", function,
                       self->context_id, timeout_usec / (double) G_USEC_PER_SEC);
        }
      g_propagate_error (error, local_error);
      return NULL;
    }

  return _mitogen_unpickle_result (reply, error);
}

/**
 * mitogen_context_call_receiver:
 * @self: a context
 * @module: the module of the function
 * @class_name: (nullable): the class, or %NULL
 * @function: the function's name
 * @args: (nullable): the positional arguments, a tuple; a floating
 *   reference is sunk
 * @kwargs: (nullable): the keyword arguments, `a{sv}`; a floating
 *   reference is sunk
 * @error: return location for a #GError
 *
 * Starts a call as [method@Mitogen.Context.call_async] does, and returns
 * the receiver its reply will arrive on, so that many calls can be
 * gathered with a [class@Mitogen.Select]. The reply's
 * [method@Mitogen.Message.unpickle] gives the return value, or the
 * %MITOGEN_ERROR_CALL error of a remote exception; the receiver's channel
 * ends with %MITOGEN_ERROR_CHANNEL if the context disconnects first.
 *
 * Returns: (transfer full): the reply receiver, or %NULL if the request
 *   could not be built
 *
 * Since: 1.0
 */
MitogenReceiver *
mitogen_context_call_receiver (MitogenContext  *self,
                               const char      *module,
                               const char      *class_name,
                               const char      *function,
                               GVariant        *args,
                               GVariant        *kwargs,
                               GError         **error)
{
  MitogenReceiver *receiver = NULL;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (module != NULL, NULL);
  g_return_val_if_fail (function != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!start_call (self, module, class_name, function, args, kwargs, &receiver, error))
    return NULL;
  return receiver;
}

/**
 * mitogen_context_call_no_reply:
 * @self: a context
 * @module: the module of the function
 * @class_name: (nullable): the class, or %NULL
 * @function: the function's name
 * @args: (nullable): the positional arguments, a tuple; a floating
 *   reference is sunk
 * @kwargs: (nullable): the keyword arguments, `a{sv}`; a floating
 *   reference is sunk
 * @error: return location for a #GError
 *
 * Calls a function without waiting for, or receiving, its result. If it
 * raises, the context logs the error.
 *
 * Returns: %TRUE if the request was sent
 *
 * Since: 1.0
 */
gboolean
mitogen_context_call_no_reply (MitogenContext  *self,
                               const char      *module,
                               const char      *class_name,
                               const char      *function,
                               GVariant        *args,
                               GVariant        *kwargs,
                               GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), FALSE);
  g_return_val_if_fail (module != NULL, FALSE);
  g_return_val_if_fail (function != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return start_call (self, module, class_name, function, args, kwargs, NULL, error);
}

/**
 * mitogen_context_send_message:
 * @self: a context
 * @message: the message; its destination is set to this context and its
 *   source to this process
 * @error: return location for a #GError
 *
 * Sends a prepared message to the context.
 *
 * Returns: %TRUE if it was sent
 *
 * Since: 1.0
 */
gboolean
mitogen_context_send_message (MitogenContext  *self,
                              MitogenMessage  *message,
                              GError         **error)
{
  g_autoptr(MitogenRouter) router = NULL;
  guint32 own_id;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), FALSE);
  g_return_val_if_fail (MITOGEN_IS_MESSAGE (message), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  router = dup_router (self, error);
  if (router == NULL)
    return FALSE;

  own_id = mitogen_router_get_context_id (router);
  message->dst_id = self->context_id;
  message->src_id = own_id;
  message->auth_id = own_id;

  return mitogen_router_route (router, message, error);
}

/**
 * mitogen_context_send:
 * @self: a context
 * @handle: the handle in the context
 * @value: the value to send, pickled; a floating reference is sunk
 * @error: return location for a #GError
 *
 * Sends @value to @handle in the context, wanting no reply.
 *
 * Returns: %TRUE if it was sent
 *
 * Since: 1.0
 */
gboolean
mitogen_context_send (MitogenContext  *self,
                      guint32          handle,
                      GVariant        *value,
                      GError         **error)
{
  g_autoptr(MitogenMessage) message = NULL;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), FALSE);
  g_return_val_if_fail (value != NULL, FALSE);

  message = mitogen_message_new_pickled (handle, value, error);
  if (message == NULL)
    return FALSE;

  return mitogen_context_send_message (self, message, error);
}

/**
 * mitogen_context_send_async:
 * @self: a context
 * @handle: the handle in the context
 * @value: the value to send; a floating reference is sunk
 * @error: return location for a #GError
 *
 * Sends @value to @handle in the context with a reply handle, and returns
 * the receiver the reply will arrive on. The receiver takes one message,
 * only from this context, and ends with %MITOGEN_ERROR_CHANNEL if the
 * context disconnects first.
 *
 * Returns: (transfer full): the reply receiver, or %NULL if @value could
 *   not be pickled
 *
 * Since: 1.0
 */
MitogenReceiver *
mitogen_context_send_async (MitogenContext  *self,
                            guint32          handle,
                            GVariant        *value,
                            GError         **error)
{
  g_autoptr(MitogenRouter) router = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  MitogenReceiver *receiver;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), NULL);
  g_return_val_if_fail (value != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  router = dup_router (self, error);
  if (router == NULL)
    return NULL;
  message = mitogen_message_new_pickled (handle, value, error);
  if (message == NULL)
    return NULL;

  receiver = mitogen_receiver_new (router, 0, FALSE, self);
  message->reply_to = mitogen_receiver_get_handle (receiver);
  /* An unroutable message has already put a dead reply in the receiver. */
  mitogen_context_send_message (self, message, NULL);

  return receiver;
}

/**
 * mitogen_context_send_await:
 * @self: a context
 * @handle: the handle in the context
 * @value: the value to send; a floating reference is sunk
 * @timeout_usec: how long to wait for the reply, in microseconds; -1 for
 *   no limit
 * @cancellable: (nullable): a cancellable
 * @error: return location for a #GError
 *
 * Sends @value as [method@Mitogen.Context.send_async] does and waits for
 * the reply.
 *
 * Returns: (transfer full): the unpickled reply, or %NULL with @error set
 *
 * Since: 1.0
 */
GVariant *
mitogen_context_send_await (MitogenContext  *self,
                            guint32          handle,
                            GVariant        *value,
                            gint64           timeout_usec,
                            GCancellable    *cancellable,
                            GError         **error)
{
  g_autoptr(MitogenReceiver) receiver = NULL;
  GVariant *reply;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (self), NULL);

  receiver = mitogen_context_send_async (self, handle, value, error);
  if (receiver == NULL)
    return NULL;
  reply = mitogen_receiver_get_value (receiver, timeout_usec, cancellable, error);
  mitogen_receiver_close (receiver);

  return reply;
}

/**
 * mitogen_context_shutdown:
 * @self: a context
 *
 * Asks the context to exit (a SHUTDOWN message). Returns at once; connect
 * to [signal@Mitogen.Context::disconnected] or use
 * [method@Mitogen.Context.shutdown_async] to know when it is gone.
 *
 * Since: 1.0
 */
void
mitogen_context_shutdown (MitogenContext *self)
{
  g_autoptr(MitogenMessage) message = NULL;

  g_return_if_fail (MITOGEN_IS_CONTEXT (self));

  message = mitogen_message_new (MITOGEN_HANDLE_SHUTDOWN, NULL);
  mitogen_context_send_message (self, message, NULL);
}

/**
 * mitogen_context_shutdown_async:
 * @self: a context
 * @cancellable: (nullable): a cancellable
 * @callback: (scope async) (closure user_data): called once the context
 *   has disconnected
 * @user_data: data for @callback
 *
 * Asks the context to exit and waits for it to disconnect.
 *
 * Since: 1.0
 */
void
mitogen_context_shutdown_async (MitogenContext      *self,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  gboolean gone;

  g_return_if_fail (MITOGEN_IS_CONTEXT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_context_shutdown_async);

  g_mutex_lock (&self->lock);
  gone = self->disconnected;
  if (!gone)
    self->shutdown_tasks = g_list_prepend (self->shutdown_tasks, g_object_ref (task));
  g_mutex_unlock (&self->lock);

  if (gone)
    g_task_return_boolean (task, TRUE);
  else
    mitogen_context_shutdown (self);
}

/**
 * mitogen_context_shutdown_finish:
 * @self: a context
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Context.shutdown_async].
 *
 * Returns: %TRUE once the context has disconnected
 *
 * Since: 1.0
 */
gboolean
mitogen_context_shutdown_finish (MitogenContext  *self,
                                 GAsyncResult    *result,
                                 GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
