/* mitogen-boot-bytecode-store-private.h: compiled runtimes kept on disk
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

/* What the bytecode helper printed for one interpreter is kept in a file
 * of a cache directory, so that the next program on this machine sends
 * it from its first child on (child/README.md, "Bytecode"). The helper
 * writes the file (child/compile.py); here, where it goes and reading it.
 *
 * These files are run by children, possibly in other accounts (sudo), so
 * one is used only if this process's effective user owns it and nobody
 * else may write it, nor the directory; a file is named by a digest of
 * the runtime and of the interpreter (its path and the identity of the
 * file it resolves to: a new python3 gets a new name) and carries a
 * digest of its contents, so a torn or damaged file is never sent.
 *
 * Each function does blocking file I/O (a few system calls, a ~20 kB
 * read) and may be called from any thread. */

char    *_mitogen_bytecode_store_path  (const char  *directory,
                                        const char  *python,
                                        GBytes      *runtime,
                                        GError     **error);
GBytes  *_mitogen_bytecode_store_read  (const char  *path,
                                        gsize        max_size,
                                        GError     **error);

G_END_DECLS
