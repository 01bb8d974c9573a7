/* mitogen-router-private.h: router internals for contexts, receivers and
 * connections
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-router.h"
#include "mitogen-stream-private.h"

G_BEGIN_DECLS

#define MITOGEN_NO_RESPONDENT G_MAXUINT32

/* Runs on the broker thread, or on whichever thread routed a local
 * message; must not block and must not call user code. */
typedef void (*MitogenInternalHandlerFunc) (MitogenRouter  *router,
                                            MitogenMessage *message,
                                            gpointer        user_data);

/* The same for a handler that takes the frame as it is: no message is
 * made for it. @frame is lent for the call. */
typedef void (*MitogenInternalFrameHandlerFunc) (MitogenRouter *router,
                                                 MitogenFrame  *frame,
                                                 gpointer       user_data);

typedef enum {
  MITOGEN_POLICY_ANY,
  /* Only from the context directly behind the stream the message came on. */
  MITOGEN_POLICY_IMMEDIATE_CHILD,
} MitogenPolicy;

guint32  _mitogen_router_add_internal_handler (MitogenRouter              *self,
                                               MitogenInternalHandlerFunc  func,
                                               gpointer                    user_data,
                                               GDestroyNotify              destroy,
                                               guint32                     handle,
                                               MitogenHandlerFlags         flags,
                                               guint32                     respondent_id,
                                               MitogenPolicy               policy);
guint32  _mitogen_router_add_internal_frame_handler (MitogenRouter                   *self,
                                                     MitogenInternalFrameHandlerFunc  func,
                                                     gpointer                         user_data,
                                                     GDestroyNotify                   destroy,
                                                     guint32                          handle,
                                                     MitogenHandlerFlags              flags,
                                                     guint32                          respondent_id,
                                                     MitogenPolicy                    policy);
/* Routes @frame as mitogen_router_route() routes a message, without
 * making one unless a handler here takes messages. */
gboolean _mitogen_router_route_frame          (MitogenRouter  *self,
                                               MitogenFrame   *frame,
                                               GError        **error);
void     _mitogen_router_send_dead            (MitogenRouter *self,
                                               guint32        dst_id,
                                               guint32        handle,
                                               const char    *reason);
/* Broker thread: a connection completed; the stream now carries frames
 * for @context_id. Returns the (new) context. */
MitogenContext *_mitogen_router_register_stream (MitogenRouter *self,
                                                 MitogenStream *stream,
                                                 guint32        context_id,
                                                 const char    *name);
/* Any thread: the stream that connects directly to @peer_id, or %NULL
 * (not a direct peer, or gone). Returns a new reference. */
MitogenStream *_mitogen_router_dup_stream     (MitogenRouter *self,
                                               guint32        peer_id);
/* 0 once the id space is exhausted. */
guint32  _mitogen_router_allocate_context_id  (MitogenRouter *self);
GMainContext *_mitogen_router_get_owner_context (MitogenRouter *self);
/* Which child runtime a context runs: %NULL for mitogen-glib's own, or
 * the directory of the upstream `mitogen` package it was booted from.
 * The module responder serves `mitogen.*` modules accordingly. */
void     _mitogen_router_set_upstream_dir     (MitogenRouter *self,
                                               guint32        context_id,
                                               const char    *package_dir);
char    *_mitogen_router_dup_upstream_dir     (MitogenRouter *self,
                                               guint32        context_id);
int      _mitogen_router_get_child_log_level  (MitogenRouter *self);
/* The runtime with its parts compiled ahead, for children on this machine
 * running @python, if the router has it yet
 * (mitogen-boot-bytecode-private.h). Any thread. */
GBytes  *_mitogen_router_lookup_bytecode      (MitogenRouter *self,
                                               const char    *python,
                                               GBytes        *runtime);
/* A child of @python, whose compiled runtime was looked up, has booted:
 * a helper may run to keep it for later programs. Any thread. */
void     _mitogen_router_bytecode_booted      (MitogenRouter *self,
                                               const char    *python);
void     _mitogen_router_set_child_log_level  (MitogenRouter *self,
                                               int            level);
/* Calls @func(@data) in @context through an idle source (never directly,
 * even if @context could be acquired here). */
void     _mitogen_invoke_in_context           (GMainContext   *context,
                                               GSourceFunc     func,
                                               gpointer        data,
                                               GDestroyNotify  destroy);

/* The synchronous form of a connection method: runs @async_func on a
 * private main context until it completes, as GSubprocess does. @arg is
 * the method's own argument (options, hops, a context). */
typedef void             (*MitogenRouterAsyncFunc)  (MitogenRouter       *router,
                                                     gpointer             arg,
                                                     GCancellable        *cancellable,
                                                     GAsyncReadyCallback  callback,
                                                     gpointer             user_data);
typedef MitogenContext * (*MitogenRouterFinishFunc) (MitogenRouter       *router,
                                                     GAsyncResult        *result,
                                                     GError             **error);

MitogenContext *_mitogen_router_run_sync (MitogenRouter           *self,
                                          gpointer                 arg,
                                          MitogenRouterAsyncFunc   async_func,
                                          MitogenRouterFinishFunc  finish_func,
                                          GCancellable            *cancellable,
                                          GError                 **error);

G_END_DECLS
