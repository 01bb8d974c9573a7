/* mitogen-channel.c: a two-way channel to one context on one handle
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-channel.h"
#include "mitogen-context.h"
#include "mitogen-error.h"
#include "mitogen-message.h"
#include "mitogen-receiver.h"
#include "mitogen-router.h"
#include "mitogen-sender.h"

/**
 * MitogenChannel:
 *
 * A two-way channel with one context, on one handle number used at both
 * ends: values put on the channel go to that handle in the context, and
 * values the context sends to that handle here are read from the channel.
 * It pairs a persistent [class@Mitogen.Receiver], which accepts messages
 * only from the context and ends when the context disconnects, with a
 * [class@Mitogen.Sender].
 *
 * Both ends must agree on the handle: create one end with handle 0, which
 * allocates a new handle, pass [method@Mitogen.Channel.get_handle] to the
 * other end (for instance as a call argument), and make the other end's
 * channel with it.
 *
 * The receiver can be added to a [class@Mitogen.Select] like any other,
 * through [method@Mitogen.Channel.get_receiver].
 *
 * Thread safety: every method may be called from any thread. The
 * callback of [method@Mitogen.Channel.get_async] runs in the
 * thread-default main context of the thread that called it.
 *
 * Since: 1.0
 */

struct _MitogenChannel
{
  GObject parent_instance;

  MitogenRouter *router;      /* (owned) read-only after construction */
  MitogenContext *context;    /* (owned) read-only after construction */
  guint32 handle;             /* read-only after construction */
  MitogenReceiver *receiver;  /* (owned) read-only after construction */
  MitogenSender *sender;      /* (owned) read-only after construction */
  gint closed;                /* (atomic) */
};

enum {
  PROP_0,
  PROP_ROUTER,
  PROP_CONTEXT,
  PROP_HANDLE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (MitogenChannel, mitogen_channel, G_TYPE_OBJECT)

static void
mitogen_channel_constructed (GObject *object)
{
  MitogenChannel *self = MITOGEN_CHANNEL (object);

  G_OBJECT_CLASS (mitogen_channel_parent_class)->constructed (object);

  g_return_if_fail (MITOGEN_IS_ROUTER (self->router));
  g_return_if_fail (MITOGEN_IS_CONTEXT (self->context));

  /* The receiver allocates the handle when given 0; the sender then uses
   * the same number, which is what makes it one channel. */
  self->receiver = mitogen_receiver_new (self->router, self->handle, TRUE, self->context);
  self->handle = mitogen_receiver_get_handle (self->receiver);
  self->sender = mitogen_sender_new (self->context, self->handle);
}

static void
mitogen_channel_dispose (GObject *object)
{
  MitogenChannel *self = MITOGEN_CHANNEL (object);

  /* The router keeps the receiver registered, and so alive, until it is
   * closed: a channel dropped without closing would listen forever. */
  if (self->receiver != NULL)
    mitogen_receiver_close (self->receiver);

  G_OBJECT_CLASS (mitogen_channel_parent_class)->dispose (object);
}

static void
mitogen_channel_finalize (GObject *object)
{
  MitogenChannel *self = MITOGEN_CHANNEL (object);

  g_clear_object (&self->receiver);
  g_clear_object (&self->sender);
  g_clear_object (&self->context);
  g_clear_object (&self->router);

  G_OBJECT_CLASS (mitogen_channel_parent_class)->finalize (object);
}

static void
mitogen_channel_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  MitogenChannel *self = MITOGEN_CHANNEL (object);

  switch (prop_id)
    {
    case PROP_ROUTER:
      g_value_set_object (value, self->router);
      break;
    case PROP_CONTEXT:
      g_value_set_object (value, self->context);
      break;
    case PROP_HANDLE:
      g_value_set_uint (value, self->handle);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_channel_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  MitogenChannel *self = MITOGEN_CHANNEL (object);

  switch (prop_id)
    {
    case PROP_ROUTER:
      self->router = g_value_dup_object (value);
      break;
    case PROP_CONTEXT:
      self->context = g_value_dup_object (value);
      break;
    case PROP_HANDLE:
      self->handle = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_channel_class_init (MitogenChannelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = mitogen_channel_constructed;
  object_class->dispose = mitogen_channel_dispose;
  object_class->finalize = mitogen_channel_finalize;
  object_class->get_property = mitogen_channel_get_property;
  object_class->set_property = mitogen_channel_set_property;

  /**
   * MitogenChannel:router:
   *
   * The router the channel's receiver is registered with.
   *
   * Since: 1.0
   */
  properties[PROP_ROUTER] =
    g_param_spec_object ("router", NULL, NULL, MITOGEN_TYPE_ROUTER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenChannel:context:
   *
   * The context at the other end.
   *
   * Since: 1.0
   */
  properties[PROP_CONTEXT] =
    g_param_spec_object ("context", NULL, NULL, MITOGEN_TYPE_CONTEXT,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenChannel:handle:
   *
   * The handle used at both ends; 0 at construction allocates one.
   *
   * Since: 1.0
   */
  properties[PROP_HANDLE] =
    g_param_spec_uint ("handle", NULL, NULL, 0, G_MAXUINT32, 0,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
mitogen_channel_init (MitogenChannel *self)
{
}

/**
 * mitogen_channel_new:
 * @router: the router to receive through
 * @context: the context at the other end
 * @handle: the handle used at both ends, or 0 to allocate one
 *
 * Creates a channel with @context: a receiver for @handle in this process
 * that accepts messages only from @context, and a sender to @handle in
 * @context.
 *
 * Returns: (transfer full): a new channel
 *
 * Since: 1.0
 */
MitogenChannel *
mitogen_channel_new (MitogenRouter  *router,
                     MitogenContext *context,
                     guint32         handle)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (router), NULL);
  g_return_val_if_fail (MITOGEN_IS_CONTEXT (context), NULL);

  return g_object_new (MITOGEN_TYPE_CHANNEL,
                       "router", router,
                       "context", context,
                       "handle", handle,
                       NULL);
}

/**
 * mitogen_channel_get_handle:
 * @self: a channel
 *
 * Gets the handle the channel uses at both ends.
 *
 * Returns: the handle used at both ends
 *
 * Since: 1.0
 */
guint32
mitogen_channel_get_handle (MitogenChannel *self)
{
  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), 0);

  return self->handle;
}

/**
 * mitogen_channel_get_context:
 * @self: a channel
 *
 * Gets the context at the other end of the channel.
 *
 * Returns: (transfer none): the context at the other end
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_channel_get_context (MitogenChannel *self)
{
  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), NULL);

  return self->context;
}

/**
 * mitogen_channel_get_receiver:
 * @self: a channel
 *
 * Gets the receiver that values from the other end arrive on.
 *
 * Returns: (transfer none): the receiving end, for instance to add it to
 *   a [class@Mitogen.Select]
 *
 * Since: 1.0
 */
MitogenReceiver *
mitogen_channel_get_receiver (MitogenChannel *self)
{
  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), NULL);

  return self->receiver;
}

/**
 * mitogen_channel_get_sender:
 * @self: a channel
 *
 * Gets the sender that [method@Mitogen.Channel.put] uses.
 *
 * Returns: (transfer none): the sending end
 *
 * Since: 1.0
 */
MitogenSender *
mitogen_channel_get_sender (MitogenChannel *self)
{
  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), NULL);

  return self->sender;
}

/**
 * mitogen_channel_put:
 * @self: a channel
 * @value: the value to send; a floating reference is sunk
 * @error: return location for a #GError
 *
 * Sends @value to the other end, as [method@Mitogen.Sender.put] does.
 *
 * Returns: %TRUE if it was sent
 *
 * Since: 1.0
 */
gboolean
mitogen_channel_put (MitogenChannel  *self,
                     GVariant        *value,
                     GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return mitogen_sender_put (self->sender, value, error);
}

/**
 * mitogen_channel_get:
 * @self: a channel
 * @timeout_usec: how long to wait, in microseconds; negative for no limit
 * @cancellable: (nullable): a #GCancellable, or %NULL
 * @error: return location for a #GError
 *
 * Takes the next value the other end sent, unpickled, waiting for one if
 * none is queued, as [method@Mitogen.Receiver.get_value] does.
 *
 * Returns: (transfer full): the value, or %NULL with @error set:
 *   %MITOGEN_ERROR_TIMEOUT, %MITOGEN_ERROR_CHANNEL when the channel ended
 *   (the other end closed it, the context disconnected, or this end was
 *   closed), %MITOGEN_ERROR_CALL when the other end sent an exception, or
 *   %G_IO_ERROR_CANCELLED
 *
 * Since: 1.0
 */
GVariant *
mitogen_channel_get (MitogenChannel  *self,
                     gint64           timeout_usec,
                     GCancellable    *cancellable,
                     GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return mitogen_receiver_get_value (self->receiver, timeout_usec, cancellable, error);
}

static void
get_async_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(MitogenMessage) message = NULL;
  GVariant *value;
  GError *error = NULL;

  message = mitogen_receiver_get_finish (MITOGEN_RECEIVER (source), result, &error);
  if (message == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  value = mitogen_message_unpickle (message, &error);
  if (value == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, value, (GDestroyNotify) g_variant_unref);
}

/**
 * mitogen_channel_get_async:
 * @self: a channel
 * @cancellable: (nullable): a #GCancellable, or %NULL
 * @callback: (scope async) (closure user_data): called with the value
 * @user_data: data for @callback
 *
 * Takes the next value the other end sent, without blocking. @callback
 * runs in the thread-default main context of the caller; call
 * [method@Mitogen.Channel.get_finish] from it. Cancelling never loses a
 * message, as with [method@Mitogen.Receiver.get_async].
 *
 * Since: 1.0
 */
void
mitogen_channel_get_async (MitogenChannel      *self,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (MITOGEN_IS_CHANNEL (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, mitogen_channel_get_async);
  /* The receiver decides between a message and the cancellation. */
  g_task_set_check_cancellable (task, FALSE);
  mitogen_receiver_get_async (self->receiver, cancellable, get_async_cb, task);
}

/**
 * mitogen_channel_get_finish:
 * @self: a channel
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@Mitogen.Channel.get_async].
 *
 * Returns: (transfer full): the value, or %NULL with @error set as for
 *   [method@Mitogen.Channel.get]
 *
 * Since: 1.0
 */
GVariant *
mitogen_channel_get_finish (MitogenChannel  *self,
                            GAsyncResult    *result,
                            GError         **error)
{
  g_return_val_if_fail (MITOGEN_IS_CHANNEL (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, mitogen_channel_get_async), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * mitogen_channel_close:
 * @self: a channel
 *
 * Ends the channel at both ends: closes the receiver here (pending and
 * later gets fail with %MITOGEN_ERROR_CHANNEL) and sends the other end a
 * dead message, as [method@Mitogen.Sender.close] does. Sending is best
 * effort: if the context is already gone, there is nobody to tell.
 *
 * Closing twice is harmless. When the last reference to the channel goes,
 * its receiver is closed (the other end is not told).
 *
 * Since: 1.0
 */
void
mitogen_channel_close (MitogenChannel *self)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (MITOGEN_IS_CHANNEL (self));

  mitogen_receiver_close (self->receiver);
  /* One dead message is enough for the other end. */
  if (!g_atomic_int_compare_and_exchange (&self->closed, FALSE, TRUE))
    return;
  if (!mitogen_sender_close (self->sender, &error))
    g_debug ("Channel: could not tell context %u that handle %u closed: %s",
             mitogen_context_get_context_id (self->context), self->handle, error->message);
}
