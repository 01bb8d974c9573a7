/* mitogen-receiver-private.h: receiver internals for Select and Context
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-latch.h"
#include "mitogen-receiver.h"

G_BEGIN_DECLS

MitogenLatch *_mitogen_receiver_get_latch (MitogenReceiver *self);
/* Turns a message taken from the receiver's latch into the result of a
 * get: a dead message becomes a CHANNEL error and closes the receiver. */
MitogenMessage *_mitogen_receiver_check_message (MitogenReceiver *self,
                                                 MitogenMessage  *message,
                                                 GError         **error);
/* Maps latch errors (closed) to the receiver's CHANNEL error. */
void _mitogen_receiver_translate_error (GError **error);

G_END_DECLS
