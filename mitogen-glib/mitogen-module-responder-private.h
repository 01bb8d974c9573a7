/* mitogen-module-responder-private.h: answers GET_MODULE from children
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-router.h"

G_BEGIN_DECLS

typedef struct _MitogenModuleResponder MitogenModuleResponder;

/* Asks the application for a module nobody else has: the router emits
 * ::find-module; returns the file or NULL. Runs in the owner's main
 * context, and only when @has_finder (any thread) says someone listens. */
typedef char *(*MitogenFindModuleFunc) (MitogenRouter *router,
                                        const char    *fullname);
typedef gboolean (*MitogenHasFinderFunc) (MitogenRouter *router);

MitogenModuleResponder *_mitogen_module_responder_new  (MitogenRouter          *router,
                                                        MitogenHasFinderFunc    has_finder,
                                                        MitogenFindModuleFunc   find_module);
void                    _mitogen_module_responder_free (MitogenModuleResponder *self);
void                    _mitogen_module_responder_add_path          (MitogenModuleResponder *self,
                                                                     const char             *path);
void                    _mitogen_module_responder_add_resource_path (MitogenModuleResponder *self,
                                                                     const char             *resource_path);
/* Broker thread: sends the child runtime's deferred parts to
 * @context_id unless they were sent already (its first message calls
 * this; child/README.md, "Deferred parts"). Nothing for an upstream
 * child. */
void                    _mitogen_module_responder_send_deferred     (MitogenModuleResponder *self,
                                                                     guint32                 context_id);
/* Forget what was sent to a context (it disconnected). */
void                    _mitogen_module_responder_forget_context    (MitogenModuleResponder *self,
                                                                     guint32                 context_id);
/* Whether @fullname is a well-formed dotted module name. */
gboolean                _mitogen_module_name_is_valid (const char *fullname);

G_END_DECLS
