/* mitogen-broker-private.h: what the router and streams need of the broker
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-broker.h"

G_BEGIN_DECLS

/* Called on the broker thread when shutdown begins; the callee starts
 * closing what it owns (e.g. sends SHUTDOWN to children). */
typedef void (*MitogenBrokerHook) (MitogenBroker *broker,
                                   gpointer       user_data);

GMainContext *_mitogen_broker_get_main_context (MitogenBroker *self);
gboolean      _mitogen_broker_in_thread        (MitogenBroker *self);
void          _mitogen_broker_post             (MitogenBroker     *self,
                                                MitogenBrokerFunc  func,
                                                gpointer           data);
void          _mitogen_broker_add_hooks        (MitogenBroker     *self,
                                                MitogenBrokerHook  on_shutdown,
                                                MitogenBrokerHook  on_exit,
                                                gpointer           user_data);
void          _mitogen_broker_remove_hooks     (MitogenBroker     *self,
                                                gpointer           user_data);
/* Keep-alive accounting during shutdown: the broker waits (up to its
 * shutdown timeout) until every hold is released. Broker thread only. */
void          _mitogen_broker_hold             (MitogenBroker *self);
void          _mitogen_broker_release          (MitogenBroker *self);
gboolean      _mitogen_broker_is_shutting_down (MitogenBroker *self);

G_END_DECLS
