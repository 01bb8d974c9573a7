/* mitogen-error.c: the error domains of mitogen-glib
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-error.h"

G_DEFINE_QUARK (mitogen-error-quark, mitogen_error)
G_DEFINE_QUARK (mitogen-codec-error-quark, mitogen_codec_error)
