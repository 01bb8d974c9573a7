/* mitogen-connection-private.h: starting a child and bootstrapping it
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-connection-options.h"
#include "mitogen-router.h"

G_BEGIN_DECLS

/* What to run and what to write to it: a boot plan is built on the broker
 * thread once the new context id is known. */
typedef struct
{
  char **argv;        /* (owned) the command, e.g. python3 -c STAGE1 */
  GBytes *preamble;   /* (owned) written when the child prints MITO000 */
  char *method;       /* (owned) method name for the default context name */
} MitogenBootPlan;

void             _mitogen_boot_plan_free          (MitogenBootPlan *plan);
/* mitogen-glib's own child runtime (see mitogen-glib/child/README.md). */
MitogenBootPlan *_mitogen_boot_plan_new_own       (MitogenRouter            *router,
                                                   MitogenConnectionOptions *options,
                                                   guint32                   context_id,
                                                   GError                  **error);
/* The upstream Mitogen 0.3 child, from its core.py. */
MitogenBootPlan *_mitogen_boot_plan_new_upstream  (MitogenRouter            *router,
                                                   MitogenConnectionOptions *options,
                                                   guint32                   context_id,
                                                   GError                  **error);

/* Starts a local child on the broker thread and completes @task (created
 * in the caller's thread) with the new MitogenContext. Takes @task. */
void             _mitogen_connection_start_local  (MitogenRouter            *router,
                                                   MitogenConnectionOptions *options,
                                                   GTask                    *task);

/* Connects from @via instead of this process: the via context's
 * mitogen.parent._proxy_connect() starts the child with the method and
 * keyword arguments of @options' class, and @task (created in the
 * caller's thread) completes with the new MitogenContext. Takes @task.
 * Any thread. */
void             _mitogen_connection_start_via    (MitogenRouter            *router,
                                                   MitogenConnectionOptions *options,
                                                   MitogenContext           *via,
                                                   GTask                    *task);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MitogenBootPlan, _mitogen_boot_plan_free)

G_END_DECLS
