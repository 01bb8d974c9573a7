/* mitogen-error.c: the error domains of mitogen-glib
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-error.h"

/**
 * mitogen_error_quark:
 *
 * Gets the error domain of runtime failures.
 *
 * Returns: the %MITOGEN_ERROR quark
 *
 * Since: 1.0
 */
G_DEFINE_QUARK (mitogen-error-quark, mitogen_error)

/**
 * mitogen_codec_error_quark:
 *
 * Gets the error domain of refused frames and pickles.
 *
 * Returns: the %MITOGEN_CODEC_ERROR quark
 *
 * Since: 1.0
 */
G_DEFINE_QUARK (mitogen-codec-error-quark, mitogen_codec_error)
