/* mitogen-connection-private.h: starting a child and bootstrapping it
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-connection-options.h"
#include "mitogen-prompt-private.h"
#include "mitogen-router.h"

G_BEGIN_DECLS

/* What to run and what to write to it: a boot plan is built on the broker
 * thread once the new context id is known. */
typedef struct
{
  char **argv;        /* (owned) the command, e.g. python3 -c STAGE1 */
  GBytes *preamble;   /* (owned) written when the child prints MITO000 */
  char *method;       /* (owned) method name for the default context name */
  char *compiled_for; /* (owned) (nullable) the interpreter command whose
                       * compiled runtime the router looked up: told
                       * when the child has booted */
} MitogenBootPlan;

void             _mitogen_boot_plan_free          (MitogenBootPlan *plan);
/* mitogen-glib's own child runtime (see mitogen-glib/child/README.md).
 * @on_this_machine: the child runs here (local, sudo, su, doas), so the
 * runtime may go with its eager parts compiled (child/README.md,
 * "Bytecode"). */
MitogenBootPlan *_mitogen_boot_plan_new_own       (MitogenRouter            *router,
                                                   MitogenConnectionOptions *options,
                                                   guint32                   context_id,
                                                   gboolean                  on_this_machine,
                                                   GError                  **error);
/* The upstream Mitogen 0.3 child, from its core.py. */
MitogenBootPlan *_mitogen_boot_plan_new_upstream  (MitogenRouter            *router,
                                                   MitogenConnectionOptions *options,
                                                   guint32                   context_id,
                                                   GError                  **error);

/* The send buffer asked for on each end of the socket pair to a child's
 * process (the kernel doubles it and clamps it at net.core.wmem_max). */
#define MITOGEN_SOCKET_PAIR_BUFFER_BYTES (512 * 1024)

/* How the child's standard descriptors are set up. */
typedef enum {
  /* stdin/stdout: a socket pair; stderr: a pipe (local; ssh without a
   * password). */
  MITOGEN_SPAWN_PIPES,
  /* stdin/stdout: a socket pair; stderr and the controlling terminal: a
   * PTY, where prompts appear and the password is typed (sudo, doas, ssh
   * with a password). */
  MITOGEN_SPAWN_HYBRID,
  /* stdin, stdout, stderr and the controlling terminal: one PTY in raw
   * mode, which then carries the protocol (su). */
  MITOGEN_SPAWN_PTY,
} MitogenSpawnMode;

/* A connection method that runs a program in front of the boot command
 * (ssh, sudo, su, doas). Built in the caller's thread from a snapshot of
 * the options; the boot command is added on the broker thread. */
typedef struct
{
  char *method;            /* (owned) "ssh", "sudo"... */
  char *default_name;      /* (owned) context name unless one is set */
  char *where;             /* (owned) for messages: "127.0.0.1", "root (sudo)" */
  char **argv;             /* (owned) the program and its arguments, before
                            * the boot command */
  gboolean quote_boot;     /* append the boot command as one shell word
                            * (a remote shell or `su -c` runs it) */
  MitogenSpawnMode mode;
  MitogenPromptMethod prompt_method;
  char *password;          /* (owned) (nullable) wiped when freed */
  char *prompt_token;      /* (owned) (nullable) sudo's own prompt */
  char *python;            /* (owned) the Python command, for messages */
  gboolean on_this_machine; /* the child runs here, as another account */
} MitogenMethodLaunch;

void             _mitogen_method_launch_free      (MitogenMethodLaunch      *launch);
/* The boot command as one word for a POSIX shell: words joined by spaces,
 * each single-quoted unless it is plainly safe. */
char            *_mitogen_shell_join              (const char * const       *argv);

/* Starts a local child on the broker thread and completes @task (created
 * in the caller's thread) with the new MitogenContext. Takes @task. */
void             _mitogen_connection_start_local  (MitogenRouter            *router,
                                                   MitogenConnectionOptions *options,
                                                   GTask                    *task);
/* The same through @launch's program (takes @launch; NULL = local). */
void             _mitogen_connection_start        (MitogenRouter            *router,
                                                   MitogenConnectionOptions *options,
                                                   MitogenMethodLaunch      *launch,
                                                   GTask                    *task);

/* Connects from @via instead of this process: the via context's
 * mitogen.parent._proxy_connect() starts the child with the method and
 * keyword arguments of @options' class, and @task (created in the
 * caller's thread) completes with the new MitogenContext. Takes @task.
 * Any thread. */
void             _mitogen_connection_start_via    (MitogenRouter            *router,
                                                   MitogenConnectionOptions *options,
                                                   MitogenContext           *via,
                                                   GTask                    *task);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MitogenBootPlan, _mitogen_boot_plan_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MitogenMethodLaunch, _mitogen_method_launch_free)

G_END_DECLS
