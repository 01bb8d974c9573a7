/* mitogen-latch-private.h: latch internals for siblings and tests
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-latch.h"

G_BEGIN_DECLS

/*
 * MitogenLatchNotify:
 * @latch: the latch that became readable or was closed
 * @user_data: the data given to _mitogen_latch_set_notify()
 *
 * Called after an item was queued on @latch (not when it went straight to a
 * waiter), and once after @latch was closed. It runs with no lock held, on
 * whatever thread called mitogen_latch_put() or mitogen_latch_close(): for
 * the router that is usually the broker thread. It may call back into the
 * latch (for instance mitogen_latch_try_get()).
 */
typedef void (*MitogenLatchNotify) (MitogenLatch *latch,
                                    gpointer      user_data);

/* Installs (or, with @func %NULL, removes) the readiness hook MitogenSelect
 * uses. A notification already running on another thread may still use the
 * previous @func and @user_data after this returns, so the caller must keep
 * @user_data alive until no put or close can be in flight. */
void _mitogen_latch_set_notify (MitogenLatch       *self,
                                MitogenLatchNotify  func,
                                gpointer            user_data);

G_END_DECLS
