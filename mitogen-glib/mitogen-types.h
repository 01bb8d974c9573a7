/* mitogen-types.h: forward declarations shared by the public headers
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

typedef struct _MitogenBroker            MitogenBroker;
typedef struct _MitogenConnectionOptions MitogenConnectionOptions;
typedef struct _MitogenContext           MitogenContext;
typedef struct _MitogenMessage           MitogenMessage;
typedef struct _MitogenReceiver          MitogenReceiver;
typedef struct _MitogenRouter            MitogenRouter;
typedef struct _MitogenSender            MitogenSender;

G_END_DECLS
