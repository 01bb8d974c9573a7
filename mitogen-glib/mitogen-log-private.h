/* mitogen-log-private.h: the FORWARD_LOG sink
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-log.h"
#include "mitogen-router.h"

G_BEGIN_DECLS

void _mitogen_log_forwarder_install (MitogenRouter *router);

G_END_DECLS
