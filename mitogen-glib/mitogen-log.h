/* mitogen-log.h: logs from children, and where they go
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include <glib.h>

#include "mitogen-version-macros.h"

G_BEGIN_DECLS

/**
 * MITOGEN_LOG_DOMAIN:
 *
 * The GLib log domain of mitogen-glib and of the records its children
 * forward.
 */
#define MITOGEN_LOG_DOMAIN "Mitogen"

MITOGEN_AVAILABLE_IN_1_0
gboolean mitogen_log_to_file (const char  *path,
                              GError     **error);
MITOGEN_AVAILABLE_IN_1_0
void     mitogen_set_debug   (gboolean     enabled);
MITOGEN_AVAILABLE_IN_1_0
gboolean mitogen_get_debug   (void);

G_END_DECLS
