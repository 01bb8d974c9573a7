/* mitogen-boot-bytecode-private.h: the child runtime, compiled ahead
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

/* Compiling the runtime is most of what a new child spends beyond
 * python3's own start-up. For children on this machine, a router keeps
 * the runtime's eager parts compiled once per interpreter command by a
 * helper process (child/compile.py) and appends them to the runtime it
 * sends; the child runs them when its interpreter's magic number matches
 * and compiles the source otherwise (child/README.md, "Bytecode").
 *
 * The helper runs in its own thread, started by the second lookup of an
 * interpreter (a program that starts one child never pays for it); until
 * it is done, children boot from source. A helper that fails, or takes
 * longer than its deadline, is not run again for that interpreter.
 *
 * With a cache directory, what the helper printed is also kept there
 * (mitogen-boot-bytecode-store-private.h): the first lookup of an
 * interpreter reads it, and if nothing is kept yet, the helper starts as
 * soon as a child of that interpreter has booted (_booted()), its output
 * being for every later program too; the helper writes the file itself
 * and, the interpreter having booted a child, is not killed when the
 * router shuts down, so a program that exits right after its first
 * child still leaves it for the next. The directory applies to
 * interpreters not looked up yet.
 *
 * Thread safety: every function may be called from any thread. */
typedef struct _MitogenBytecodeCache MitogenBytecodeCache;

MitogenBytecodeCache *_mitogen_bytecode_cache_new    (void);
/* Returns (transfer full) (nullable): what to send a child running
 * @python instead of @runtime (the runtime, then its compiled parts; one
 * buffer shared by all of them), or NULL to send the runtime alone. */
GBytes               *_mitogen_bytecode_cache_lookup (MitogenBytecodeCache *cache,
                                                      const char           *python,
                                                      GBytes               *runtime);
/* A child of @python (after a lookup) has booted. */
void                  _mitogen_bytecode_cache_booted (MitogenBytecodeCache *cache,
                                                      const char           *python);
/* (nullable): no directory, nothing kept across processes (the default). */
void                  _mitogen_bytecode_cache_set_directory (MitogenBytecodeCache *cache,
                                                             const char           *directory);
char                 *_mitogen_bytecode_cache_dup_directory (MitogenBytecodeCache *cache);
/* Stops running helpers (killing their processes, except those filling
 * the cache directory) and starts no more. */
void                  _mitogen_bytecode_cache_close  (MitogenBytecodeCache *cache);
/* Closes @cache and drops the caller's hold on it; a helper thread still
 * running (killing its process) holds it until it ends. */
void                  _mitogen_bytecode_cache_free   (MitogenBytecodeCache *cache);

G_END_DECLS
