/* mitogen-glib.h: the umbrella header of mitogen-glib
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#ifndef MITOGEN_GLIB_H
#define MITOGEN_GLIB_H

#define MITOGEN_INSIDE

#include <gio/gio.h>

#include "mitogen-version.h"
#include "mitogen-version-macros.h"
#include "mitogen-enum-types.h"
#include "mitogen-error.h"
#include "mitogen-message.h"
#include "mitogen-frame-decoder.h"
#include "mitogen-pickle.h"
#include "mitogen-latch.h"
#include "mitogen-types.h"
#include "mitogen-broker.h"
#include "mitogen-connection-options.h"
#include "mitogen-ssh-options.h"
#include "mitogen-sudo-options.h"
#include "mitogen-su-options.h"
#include "mitogen-doas-options.h"
#include "mitogen-context.h"
#include "mitogen-fork-options.h"
#include "mitogen-log.h"
#include "mitogen-receiver.h"
#include "mitogen-router.h"
#include "mitogen-target.h"
#include "mitogen-sender.h"
#include "mitogen-select.h"
#include "mitogen-channel.h"

#undef MITOGEN_INSIDE

#endif /* MITOGEN_GLIB_H */
