/* mitogen-pty-private.h: pseudo-terminals for children that prompt
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include <glib.h>

G_BEGIN_DECLS

/* Opens a new PTY pair, both ends close-on-exec, the master non-blocking.
 * The line discipline is put in raw mode with echo off: nothing we write
 * is echoed back (a password would otherwise come back in the output),
 * and binary data passes unchanged in both directions (su carries the
 * whole protocol over it). */
gboolean _mitogen_pty_open          (int     *out_master,
                                     int     *out_slave,
                                     GError **error);

/* In a forked child, before exec: starts a new session and makes @fd (a
 * PTY slave already dup'ed onto one of fds 0-2) its controlling terminal,
 * so that /dev/tty is our PTY, never the master's own terminal.
 * Async-signal-safe. Returns FALSE on failure (errno set). */
gboolean _mitogen_pty_child_setup   (int      fd);

/* Same, without a terminal: a new session with no controlling terminal,
 * so a child that opens /dev/tty fails instead of prompting on the
 * master's terminal. Async-signal-safe. */
void     _mitogen_pty_child_detach  (void);

G_END_DECLS
