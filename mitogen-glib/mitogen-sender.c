/* mitogen-sender.c: the sending end of a handle in some context
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-context.h"
#include "mitogen-error.h"
#include "mitogen-message-private.h"
#include "mitogen-pickle.h"
#include "mitogen-sender.h"

/**
 * MitogenSender:
 *
 * Sends values to one handle in one context: the writing end of a channel
 * whose reading end is a receiver there. A sender can be passed to a child
 * as an argument (see [method@Mitogen.Sender.to_variant]), and a child can
 * pass one back.
 *
 * Thread safety: every method may be called from any thread.
 *
 * Since: 1.0
 */

struct _MitogenSender
{
  GObject parent_instance;

  MitogenContext *context;  /* (owned) read-only */
  guint32 handle;           /* read-only */
};

G_DEFINE_FINAL_TYPE (MitogenSender, mitogen_sender, G_TYPE_OBJECT)

static void
mitogen_sender_finalize (GObject *object)
{
  MitogenSender *self = MITOGEN_SENDER (object);

  g_clear_object (&self->context);

  G_OBJECT_CLASS (mitogen_sender_parent_class)->finalize (object);
}

static void
mitogen_sender_class_init (MitogenSenderClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mitogen_sender_finalize;
}

static void
mitogen_sender_init (MitogenSender *self)
{
}

/**
 * mitogen_sender_new:
 * @context: the context the receiver is in
 * @handle: the receiver's handle
 *
 * Creates a sender to @handle in @context.
 *
 * Returns: (transfer full): a new sender
 *
 * Since: 1.0
 */
MitogenSender *
mitogen_sender_new (MitogenContext *context,
                    guint32         handle)
{
  MitogenSender *self;

  g_return_val_if_fail (MITOGEN_IS_CONTEXT (context), NULL);

  self = g_object_new (MITOGEN_TYPE_SENDER, NULL);
  self->context = g_object_ref (context);
  self->handle = handle;

  return self;
}

/**
 * mitogen_sender_get_context:
 * @self: a sender
 *
 * Gets the context messages go to.
 *
 * Returns: (transfer none): the context messages go to
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_sender_get_context (MitogenSender *self)
{
  g_return_val_if_fail (MITOGEN_IS_SENDER (self), NULL);

  return self->context;
}

/**
 * mitogen_sender_get_handle:
 * @self: a sender
 *
 * Gets the handle messages go to.
 *
 * Returns: the handle messages go to
 *
 * Since: 1.0
 */
guint32
mitogen_sender_get_handle (MitogenSender *self)
{
  g_return_val_if_fail (MITOGEN_IS_SENDER (self), 0);

  return self->handle;
}

/**
 * mitogen_sender_put:
 * @self: a sender
 * @value: the value to send; a floating reference is sunk
 * @error: return location for a #GError
 *
 * Sends @value to the receiver.
 *
 * Returns: %TRUE if it was sent
 *
 * Since: 1.0
 */
gboolean
mitogen_sender_put (MitogenSender  *self,
                    GVariant       *value,
                    GError        **error)
{
  g_return_val_if_fail (MITOGEN_IS_SENDER (self), FALSE);
  g_return_val_if_fail (value != NULL, FALSE);

  return mitogen_context_send (self->context, self->handle, value, error);
}

/**
 * mitogen_sender_close:
 * @self: a sender
 * @error: return location for a #GError
 *
 * Ends the channel: the receiver gets a dead message and its next get
 * fails with %MITOGEN_ERROR_CHANNEL, `Sender was explicitly closed`.
 *
 * Returns: %TRUE if the dead message was sent
 *
 * Since: 1.0
 */
gboolean
mitogen_sender_close (MitogenSender  *self,
                      GError        **error)
{
  g_autoptr(MitogenMessage) dead = NULL;

  g_return_val_if_fail (MITOGEN_IS_SENDER (self), FALSE);

  dead = mitogen_message_new_dead (self->handle, "Sender was explicitly closed");
  return mitogen_context_send_message (self->context, dead, error);
}

/**
 * mitogen_sender_to_variant:
 * @self: a sender
 *
 * Returns the sender as a value that can be passed in a call, e.g. so that
 * a child streams results back: an object path
 * `/mitogen/sender/CONTEXT/HANDLE`, which arrives as a
 * `mitogen.core.Sender`.
 *
 * Returns: (transfer full): a new object path variant
 *
 * Since: 1.0
 */
GVariant *
mitogen_sender_to_variant (MitogenSender *self)
{
  g_autofree char *path = NULL;

  g_return_val_if_fail (MITOGEN_IS_SENDER (self), NULL);

  path = g_strdup_printf (MITOGEN_PICKLE_SENDER_PATH_PREFIX "%u/%u",
                          mitogen_context_get_context_id (self->context), self->handle);
  return g_variant_ref_sink (g_variant_new_object_path (path));
}
