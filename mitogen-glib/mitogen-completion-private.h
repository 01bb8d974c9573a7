/* mitogen-completion-private.h: completing GTasks in their main context
 * in batches
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include <gio/gio.h>


G_BEGIN_DECLS

/* Any thread: completes @task (transfer full) with @error (transfer
 * full) if set, else with @payload (transfer full) as its pointer result,
 * from the task's own main context. Replies that arrive together cost one
 * wake-up of that context, not one idle source each as
 * g_task_return_pointer() from a foreign thread would. */
void _mitogen_complete_in_context (GTask  *task,
                                   GBytes *payload,
                                   GError *error);

/* Around delivering a batch of replies (the frames of one read): the
 * contexts to wake are woken once, at the outermost end. Same thread. */
void _mitogen_completion_batch_begin (void);
void _mitogen_completion_batch_end   (void);

G_END_DECLS
