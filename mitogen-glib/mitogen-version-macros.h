/* mitogen-version-macros.h: symbol export and availability macros
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include <glib.h>

#include "mitogen-version.h"

/* The library is built with hidden visibility; only symbols carrying
 * _MITOGEN_EXTERN (through the MITOGEN_AVAILABLE_IN_* macros) are exported. */
#ifndef _MITOGEN_EXTERN
# if defined(MITOGEN_COMPILATION) && defined(__GNUC__)
#  define _MITOGEN_EXTERN __attribute__((visibility ("default"))) extern
# else
#  define _MITOGEN_EXTERN extern
# endif
#endif

#define MITOGEN_VERSION_CUR_STABLE (G_ENCODE_VERSION (MITOGEN_MAJOR_VERSION, MITOGEN_MINOR_VERSION))

/**
 * MITOGEN_VERSION_1_0:
 *
 * The encoded version of the first API generation, for use with
 * %MITOGEN_VERSION_MIN_REQUIRED and %MITOGEN_VERSION_MAX_ALLOWED.
 */
#define MITOGEN_VERSION_1_0 (G_ENCODE_VERSION (1, 0))

#ifndef MITOGEN_VERSION_MIN_REQUIRED
# define MITOGEN_VERSION_MIN_REQUIRED MITOGEN_VERSION_1_0
#endif

#ifndef MITOGEN_VERSION_MAX_ALLOWED
# define MITOGEN_VERSION_MAX_ALLOWED MITOGEN_VERSION_1_0
#endif

#if MITOGEN_VERSION_MAX_ALLOWED < MITOGEN_VERSION_MIN_REQUIRED
# error "MITOGEN_VERSION_MAX_ALLOWED must be >= MITOGEN_VERSION_MIN_REQUIRED"
#endif

#define MITOGEN_AVAILABLE_IN_ALL _MITOGEN_EXTERN

#if MITOGEN_VERSION_MAX_ALLOWED < MITOGEN_VERSION_1_0
# define MITOGEN_AVAILABLE_IN_1_0 G_UNAVAILABLE (1, 0) _MITOGEN_EXTERN
#else
# define MITOGEN_AVAILABLE_IN_1_0 _MITOGEN_EXTERN
#endif
