/* mitogen-broker.h: the I/O thread of mitogen-glib
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include <gio/gio.h>

#include "mitogen-version-macros.h"

G_BEGIN_DECLS

/**
 * MITOGEN_BROKER_DEFAULT_SHUTDOWN_TIMEOUT:
 *
 * How long, in seconds, [method@Mitogen.Broker.shutdown] waits for children
 * to disconnect by themselves before it closes their streams.
 */
#define MITOGEN_BROKER_DEFAULT_SHUTDOWN_TIMEOUT 5.0

/**
 * MitogenBrokerFunc:
 * @user_data: the data given to [method@Mitogen.Broker.defer]
 *
 * A function run on the broker thread. It must not block.
 *
 * Since: 1.0
 */
typedef void (*MitogenBrokerFunc) (gpointer user_data);

#define MITOGEN_TYPE_BROKER (mitogen_broker_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenBroker, mitogen_broker, MITOGEN, BROKER, GObject)

MITOGEN_AVAILABLE_IN_1_0
MitogenBroker *mitogen_broker_new                  (void) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
void           mitogen_broker_defer                (MitogenBroker      *self,
                                                    MitogenBrokerFunc   func,
                                                    gpointer            user_data,
                                                    GDestroyNotify      destroy);
MITOGEN_AVAILABLE_IN_1_0
void           mitogen_broker_shutdown             (MitogenBroker      *self);
MITOGEN_AVAILABLE_IN_1_0
gboolean       mitogen_broker_join                 (MitogenBroker      *self,
                                                    gint64              timeout_usec);
MITOGEN_AVAILABLE_IN_1_0
void           mitogen_broker_join_async           (MitogenBroker      *self,
                                                    GCancellable       *cancellable,
                                                    GAsyncReadyCallback callback,
                                                    gpointer            user_data);
MITOGEN_AVAILABLE_IN_1_0
gboolean       mitogen_broker_join_finish          (MitogenBroker      *self,
                                                    GAsyncResult       *result,
                                                    GError            **error);
MITOGEN_AVAILABLE_IN_1_0
gboolean       mitogen_broker_is_running           (MitogenBroker      *self);
MITOGEN_AVAILABLE_IN_1_0
double         mitogen_broker_get_shutdown_timeout (MitogenBroker      *self);
MITOGEN_AVAILABLE_IN_1_0
void           mitogen_broker_set_shutdown_timeout (MitogenBroker      *self,
                                                    double              seconds);

G_END_DECLS
