/* mitogen-fork-options.h: a context forked from a warm one
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include "mitogen-connection-options.h"

G_BEGIN_DECLS

#define MITOGEN_TYPE_FORK_OPTIONS (mitogen_fork_options_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenForkOptions, mitogen_fork_options, MITOGEN, FORK_OPTIONS,
                      MitogenConnectionOptions)

MITOGEN_AVAILABLE_IN_1_0
MitogenForkOptions *mitogen_fork_options_new (MitogenContext *from) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
