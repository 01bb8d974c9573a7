/* test-time-scale.h: one factor for every time bound a test asserts.
 *
 * Under valgrind or a sanitizer the master runs 2-50 times slower, so a
 * bound such as "a dead child fails the call within 1 s" must stretch with
 * it. The test set-ups that slow the code down set MITOGEN_TEST_TIME_SCALE
 * (tests/meson.build); everywhere else it is 1.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#include <stdlib.h>
#include <glib.h>

static inline double
test_time_scale (void)
{
  const char *text = g_getenv ("MITOGEN_TEST_TIME_SCALE");
  double scale = text != NULL ? g_ascii_strtod (text, NULL) : 1.0;

  return scale >= 1.0 ? scale : 1.0;
}

/* A bound in microseconds, stretched by the scale. */
static inline gint64
test_scaled_usec (gint64 usec)
{
  return (gint64) (usec * test_time_scale ());
}
