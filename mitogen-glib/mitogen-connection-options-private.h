/* mitogen-connection-options-private.h: helpers the options classes share
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-connection-options.h"

G_BEGIN_DECLS

/* Replaces *field by a copy of @value; FALSE (and nothing done) if they
 * are equal, so setters notify only on a real change. */
gboolean _mitogen_options_replace_string (char       **field,
                                          const char  *value);

G_END_DECLS
