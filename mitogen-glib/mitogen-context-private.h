/* mitogen-context-private.h: context internals for the router
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-context.h"

G_BEGIN_DECLS

MitogenContext *_mitogen_context_new              (MitogenRouter *router,
                                                   guint32        context_id,
                                                   const char    *name);
void            _mitogen_context_set_name         (MitogenContext *self,
                                                   const char     *name);
/* Any thread: marks the context gone and emits ::disconnected in the
 * owner's main context. Returns FALSE if it already was. */
gboolean        _mitogen_context_mark_disconnected (MitogenContext *self);

G_END_DECLS
