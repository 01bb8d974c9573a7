/* mitogen-receiver.c: messages arriving on one handle
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-context.h"
#include "mitogen-error.h"
#include "mitogen-latch-private.h"
#include "mitogen-message-private.h"
#include "mitogen-receiver-private.h"
#include "mitogen-router-private.h"
#include "mitogen-sender.h"

/**
 * MitogenReceiver:
 *
 * Receives the messages sent to one handle of this process.
 *
 * Messages queue up until taken with [method@Mitogen.Receiver.get] or
 * [method@Mitogen.Receiver.get_async]. A program that prefers to be told
 * can connect to [signal@Mitogen.Receiver::message] instead: while a
 * handler is connected, messages are emitted rather than queued.
 *
 * A receiver made with a respondent context accepts messages only from
 * that context, and its channel ends (with a %MITOGEN_ERROR_CHANNEL error
 * on the next get) when that context disconnects. A dead message ends the
 * channel the same way; so does [method@Mitogen.Receiver.close].
 *
 * Thread safety: every method may be called from any thread. The
 * ::message signal and the callbacks of get_async run in the
 * thread-default main context of the thread that created the receiver
 * (respectively, that called get_async).
 *
 * Since: 1.0
 */

struct _MitogenReceiver
{
  GObject parent_instance;

  MitogenRouter *router;       /* (owned) read-only */
  guint32 handle;              /* read-only */
  guint32 respondent_id;       /* read-only */
  gboolean persist;            /* read-only */
  MitogenLatch *latch;         /* (owned) read-only */
  GMainContext *owner_context; /* (owned) read-only */
  gint registered;             /* (atomic) still in the router's table */
};

enum {
  PROP_0,
  PROP_ROUTER,
  PROP_HANDLE,
  PROP_PERSIST,
  PROP_RESPONDENT,
  N_PROPS
};

enum {
  SIGNAL_MESSAGE,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (MitogenReceiver, mitogen_receiver, G_TYPE_OBJECT)

static gboolean
unref_in_owner_cb (gpointer data)
{
  g_object_unref (data);
  return G_SOURCE_REMOVE;
}

/* The router drops its reference from whichever thread removed the
 * handler; the last reference must go in the owner's context, where
 * signal handlers' destroy notifies may run. */
static void
release_from_router (gpointer data)
{
  MitogenReceiver *self = data;

  g_atomic_int_set (&self->registered, FALSE);
  if (g_atomic_int_get (&G_OBJECT (self)->ref_count) > 1)
    g_object_unref (self);
  else
    _mitogen_invoke_in_context (self->owner_context, unref_in_owner_cb, self, NULL);
}

typedef struct
{
  MitogenReceiver *receiver;
  MitogenMessage *message;
} Emission;

static void
emission_free (Emission *emission)
{
  g_object_unref (emission->receiver);
  g_object_unref (emission->message);
  g_free (emission);
}

static gboolean
emit_message_cb (gpointer data)
{
  Emission *emission = data;

  if (g_signal_has_handler_pending (emission->receiver, signals[SIGNAL_MESSAGE], 0, TRUE))
    g_signal_emit (emission->receiver, signals[SIGNAL_MESSAGE], 0, emission->message);
  else
    mitogen_latch_put (emission->receiver->latch, emission->message, NULL);

  return G_SOURCE_REMOVE;
}

static void
on_message (MitogenRouter  *router,
            MitogenMessage *message,
            gpointer        user_data)
{
  MitogenReceiver *self = user_data;

  if (g_signal_has_handler_pending (self, signals[SIGNAL_MESSAGE], 0, TRUE))
    {
      Emission *emission = g_new (Emission, 1);

      emission->receiver = g_object_ref (self);
      emission->message = g_object_ref (message);
      _mitogen_invoke_in_context (self->owner_context, emit_message_cb, emission,
                                  (GDestroyNotify) emission_free);
      return;
    }

  mitogen_latch_put (self->latch, message, NULL);
}

static void
mitogen_receiver_constructed (GObject *object)
{
  MitogenReceiver *self = MITOGEN_RECEIVER (object);

  G_OBJECT_CLASS (mitogen_receiver_parent_class)->constructed (object);

  g_atomic_int_set (&self->registered, TRUE);
  self->handle = _mitogen_router_add_internal_handler (self->router, on_message,
                                                       g_object_ref (self), release_from_router,
                                                       self->handle,
                                                       self->persist ? MITOGEN_HANDLER_FLAGS_PERSIST
                                                                     : MITOGEN_HANDLER_FLAGS_NONE,
                                                       self->respondent_id, MITOGEN_POLICY_ANY);
}

static void
mitogen_receiver_finalize (GObject *object)
{
  MitogenReceiver *self = MITOGEN_RECEIVER (object);

  g_clear_object (&self->latch);
  g_clear_object (&self->router);
  g_clear_pointer (&self->owner_context, g_main_context_unref);

  G_OBJECT_CLASS (mitogen_receiver_parent_class)->finalize (object);
}

static void
mitogen_receiver_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  MitogenReceiver *self = MITOGEN_RECEIVER (object);

  switch (prop_id)
    {
    case PROP_ROUTER:
      g_value_set_object (value, self->router);
      break;
    case PROP_HANDLE:
      g_value_set_uint (value, self->handle);
      break;
    case PROP_PERSIST:
      g_value_set_boolean (value, self->persist);
      break;
    case PROP_RESPONDENT:
      if (self->respondent_id == MITOGEN_NO_RESPONDENT)
        g_value_set_object (value, NULL);
      else
        g_value_take_object (value, mitogen_router_context_by_id (self->router, self->respondent_id));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_receiver_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  MitogenReceiver *self = MITOGEN_RECEIVER (object);

  switch (prop_id)
    {
    case PROP_ROUTER:
      self->router = g_value_dup_object (value);
      break;
    case PROP_HANDLE:
      self->handle = g_value_get_uint (value);
      break;
    case PROP_PERSIST:
      self->persist = g_value_get_boolean (value);
      break;
    case PROP_RESPONDENT:
      {
        MitogenContext *respondent = g_value_get_object (value);

        self->respondent_id = respondent ? mitogen_context_get_context_id (respondent)
                                         : MITOGEN_NO_RESPONDENT;
      }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_receiver_class_init (MitogenReceiverClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = mitogen_receiver_constructed;
  object_class->finalize = mitogen_receiver_finalize;
  object_class->get_property = mitogen_receiver_get_property;
  object_class->set_property = mitogen_receiver_set_property;

  /**
   * MitogenReceiver:router:
   *
   * The router the receiver is registered with.
   *
   * Since: 1.0
   */
  properties[PROP_ROUTER] =
    g_param_spec_object ("router", NULL, NULL, MITOGEN_TYPE_ROUTER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenReceiver:handle:
   *
   * The handle messages arrive on.
   *
   * Since: 1.0
   */
  properties[PROP_HANDLE] =
    g_param_spec_uint ("handle", NULL, NULL, 0, G_MAXUINT32, 0,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenReceiver:persist:
   *
   * Whether the receiver keeps listening after its first message.
   *
   * Since: 1.0
   */
  properties[PROP_PERSIST] =
    g_param_spec_boolean ("persist", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenReceiver:respondent:
   *
   * The only context messages are accepted from, if set; the channel ends
   * when it disconnects.
   *
   * Since: 1.0
   */
  properties[PROP_RESPONDENT] =
    g_param_spec_object ("respondent", NULL, NULL, MITOGEN_TYPE_CONTEXT,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * MitogenReceiver::message:
   * @receiver: the receiver
   * @message: the message that arrived
   *
   * Emitted for each message, in the main context the receiver was created
   * in, while at least one handler is connected; messages are then not
   * queued for [method@Mitogen.Receiver.get].
   *
   * Since: 1.0
   */
  signals[SIGNAL_MESSAGE] =
    g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, MITOGEN_TYPE_MESSAGE);
}

static void
mitogen_receiver_init (MitogenReceiver *self)
{
  self->latch = mitogen_latch_new ();
  self->owner_context = g_main_context_ref_thread_default ();
  self->respondent_id = MITOGEN_NO_RESPONDENT;
  self->persist = TRUE;
}

/**
 * mitogen_receiver_new:
 * @router: the router to register with
 * @handle: the handle to listen on, or 0 to allocate one
 * @persist: %FALSE to stop listening after the first message
 * @respondent: (nullable): accept messages only from this context, and end
 *   the channel when it disconnects
 *
 * Creates a receiver for messages to @handle in this process.
 *
 * Returns: (transfer full): a new receiver
 *
 * Since: 1.0
 */
MitogenReceiver *
mitogen_receiver_new (MitogenRouter  *router,
                      guint32         handle,
                      gboolean        persist,
                      MitogenContext *respondent)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (router), NULL);
  g_return_val_if_fail (respondent == NULL || MITOGEN_IS_CONTEXT (respondent), NULL);

  return g_object_new (MITOGEN_TYPE_RECEIVER,
                       "router", router,
                       "handle", handle,
                       "persist", persist,
                       "respondent", respondent,
                       NULL);
}

/**
 * mitogen_receiver_get_handle:
 * @self: a receiver
 *
 * Gets the handle the receiver listens on.
 *
 * Returns: the handle messages arrive on
 *
 * Since: 1.0
 */
guint32
mitogen_receiver_get_handle (MitogenReceiver *self)
{
  g_return_val_if_fail (MITOGEN_IS_RECEIVER (self), 0);

  return self->handle;
}

/**
 * mitogen_receiver_get_router:
 * @self: a receiver
 *
 * Gets the router the receiver is registered with.
 *
 * Returns: (transfer none): the router the receiver is registered with
 *
 * Since: 1.0
 */
MitogenRouter *
mitogen_receiver_get_router (MitogenReceiver *self)
{
  g_return_val_if_fail (MITOGEN_IS_RECEIVER (self), NULL);

  return self->router;
}

MitogenLatch *
_mitogen_receiver_get_latch (MitogenReceiver *self)
{
  return self->latch;
}

void
_mitogen_receiver_translate_error (GError **error)
{
  if (error != NULL && *error != NULL &&
      g_error_matches (*error, MITOGEN_ERROR, MITOGEN_ERROR_LATCH_CLOSED))
    {
      g_clear_error (error);
      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL,
                           "Channel closed by local end.");
    }
}

MitogenMessage *
_mitogen_receiver_check_message (MitogenReceiver *self,
                                 MitogenMessage  *message,
                                 GError         **error)
{
  if (message != NULL && mitogen_message_is_dead (message))
    {
      g_autofree char *reason = mitogen_message_dup_dead_reason (message);

      g_set_error_literal (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, reason);
      g_object_unref (message);
      /* The channel is over: later gets fail at once. */
      mitogen_receiver_close (self);
      return NULL;
    }

  return message;
}

/**
 * mitogen_receiver_get:
 * @self: a receiver
 * @timeout_usec: how long to wait, in microseconds; -1 for no limit
 * @cancellable: (nullable): a cancellable
 * @error: return location for a #GError
 *
 * Takes the next message, waiting for one if none is queued.
 *
 * Returns: (transfer full): the message, or %NULL with
 *   %MITOGEN_ERROR_TIMEOUT, %MITOGEN_ERROR_CHANNEL when the channel ended
 *   (a dead message, the respondent disconnected, or the receiver was
 *   closed), or %G_IO_ERROR_CANCELLED
 *
 * Since: 1.0
 */
MitogenMessage *
mitogen_receiver_get (MitogenReceiver  *self,
                      gint64            timeout_usec,
                      GCancellable     *cancellable,
                      GError          **error)
{
  MitogenMessage *message;
  GError *local_error = NULL;

  g_return_val_if_fail (MITOGEN_IS_RECEIVER (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  message = mitogen_latch_get (self->latch, timeout_usec, cancellable, &local_error);
  if (message == NULL)
    {
      _mitogen_receiver_translate_error (&local_error);
      g_propagate_error (error, local_error);
      return NULL;
    }

  return _mitogen_receiver_check_message (self, message, error);
}

/**
 * mitogen_receiver_get_value:
 * @self: a receiver
 * @timeout_usec: how long to wait, in microseconds; -1 for no limit
 * @cancellable: (nullable): a cancellable
 * @error: return location for a #GError
 *
 * Takes the next message and unpickles it, as
 * [method@Mitogen.Message.unpickle] does.
 *
 * Returns: (transfer full): the value, or %NULL with @error set
 *
 * Since: 1.0
 */
GVariant *
mitogen_receiver_get_value (MitogenReceiver  *self,
                            gint64            timeout_usec,
                            GCancellable     *cancellable,
                            GError          **error)
{
  g_autoptr(MitogenMessage) message = mitogen_receiver_get (self, timeout_usec, cancellable, error);

  if (message == NULL)
    return NULL;

  return mitogen_message_unpickle (message, error);
}

static void
get_async_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  MitogenReceiver *self = g_task_get_source_object (task);
  GError *error = NULL;
  MitogenMessage *message;

  message = mitogen_latch_get_finish (MITOGEN_LATCH (source), result, &error);
  if (message == NULL)
    {
      _mitogen_receiver_translate_error (&error);
      g_task_return_error (task, error);
      return;
    }
  message = _mitogen_receiver_check_message (self, message, &error);
  if (message == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, message, g_object_unref);
}

/**
 * mitogen_receiver_get_async:
 * @self: a receiver
 * @cancellable: (nullable): a cancellable
 * @callback: (scope async) (closure user_data): called with the message
 * @user_data: data for @callback
 *
 * Takes the next message without blocking. @callback runs in the
 * thread-default main context of the caller. Cancelling never loses a
 * message: one taken before the cancellation is still returned.
 *
 * Since: 1.0
 */
void
mitogen_receiver_get_async (MitogenReceiver     *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (MITOGEN_IS_RECEIVER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_receiver_get_async);
  /* The latch decides between the message and the cancellation. */
  g_task_set_check_cancellable (task, FALSE);
  mitogen_latch_get_async (self->latch, cancellable, get_async_cb, task);
}

/**
 * mitogen_receiver_get_finish:
 * @self: a receiver
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Receiver.get_async].
 *
 * Returns: (transfer full): the message, or %NULL with @error set as for
 *   [method@Mitogen.Receiver.get]
 *
 * Since: 1.0
 */
MitogenMessage *
mitogen_receiver_get_finish (MitogenReceiver  *self,
                             GAsyncResult     *result,
                             GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * mitogen_receiver_to_sender:
 * @self: a receiver
 *
 * Returns a sender that any context can use to reach this receiver (pass
 * it to a child as an argument, as [method@Mitogen.Sender.to_variant]
 * gives it).
 *
 * Returns: (transfer full): a sender for this process and handle
 *
 * Since: 1.0
 */
MitogenSender *
mitogen_receiver_to_sender (MitogenReceiver *self)
{
  g_autoptr(MitogenContext) self_context = NULL;

  g_return_val_if_fail (MITOGEN_IS_RECEIVER (self), NULL);

  self_context = mitogen_router_context_by_id (self->router,
                                               mitogen_router_get_context_id (self->router));
  return mitogen_sender_new (self_context, self->handle);
}

/**
 * mitogen_receiver_is_empty:
 * @self: a receiver
 *
 * Tells whether no message is queued.
 *
 * Returns: %TRUE if no message is queued
 *
 * Since: 1.0
 */
gboolean
mitogen_receiver_is_empty (MitogenReceiver *self)
{
  g_return_val_if_fail (MITOGEN_IS_RECEIVER (self), TRUE);

  return mitogen_latch_get_size (self->latch) == 0;
}

/**
 * mitogen_receiver_close:
 * @self: a receiver
 *
 * Stops listening: the handle is unregistered, and waiting and later gets
 * fail with %MITOGEN_ERROR_CHANNEL. Messages still queued are dropped.
 *
 * Since: 1.0
 */
void
mitogen_receiver_close (MitogenReceiver *self)
{
  g_return_if_fail (MITOGEN_IS_RECEIVER (self));

  if (g_atomic_int_get (&self->registered))
    mitogen_router_del_handler (self->router, self->handle);
  mitogen_latch_close (self->latch);
}
