/* mitogen-prompt-private.h: what ssh, sudo, su and doas print while a
 * connection starts
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include <glib.h>

G_BEGIN_DECLS

/* Which program's output is parsed. */
typedef enum {
  MITOGEN_PROMPT_METHOD_LOCAL,  /* only "command not found" matters */
  MITOGEN_PROMPT_METHOD_SSH,
  MITOGEN_PROMPT_METHOD_SUDO,
  MITOGEN_PROMPT_METHOD_SU,
  MITOGEN_PROMPT_METHOD_DOAS,
} MitogenPromptMethod;

typedef enum {
  /* A complete line with nothing special in it (kept for messages). */
  MITOGEN_PROMPT_EVENT_LINE,
  /* A partial line asking for a password (any language): answer it once. */
  MITOGEN_PROMPT_EVENT_PASSWORD,
  /* ssh asks for the passphrase of a key. */
  MITOGEN_PROMPT_EVENT_PASSPHRASE,
  /* ssh asks whether to accept an unknown host key (yes/no). */
  MITOGEN_PROMPT_EVENT_HOST_KEY_QUESTION,
  /* ssh: "Host key verification failed." */
  MITOGEN_PROMPT_EVENT_HOST_KEY_FAILED,
  /* ssh: "REMOTE HOST IDENTIFICATION HAS CHANGED" */
  MITOGEN_PROMPT_EVENT_HOST_KEY_CHANGED,
  /* ssh: "[user@host: ]Permission denied ..."; see offers_password. */
  MITOGEN_PROMPT_EVENT_PERMISSION_DENIED,
  /* su, sudo, doas: the password was refused. */
  MITOGEN_PROMPT_EVENT_AUTH_FAILED,
  /* sudo, doas: a password is needed and they may not ask (-n). */
  MITOGEN_PROMPT_EVENT_PASSWORD_REQUIRED,
  /* ssh could not reach the host: "ssh: connect to host ...". */
  MITOGEN_PROMPT_EVENT_CONNECT_FAILED,
  /* A shell (or sudo, or env) did not find the Python command. */
  MITOGEN_PROMPT_EVENT_COMMAND_NOT_FOUND,
} MitogenPromptEventKind;

typedef struct
{
  MitogenPromptEventKind kind;
  /* The line or prompt, valid UTF-8, without line ends; valid until the
   * next call on the parser. */
  const char *text;
  /* PERMISSION_DENIED: the server's list of methods offers a password
   * ("(publickey,password)", "keyboard-interactive"). */
  gboolean offers_password;
} MitogenPromptEvent;

typedef struct _MitogenPromptParser MitogenPromptParser;

/* @prompt_token: sudo's own prompt (`sudo -p`), matched exactly, or NULL.
 * @command: the Python command, as given (a path or a name), or NULL: its
 * base name is looked for in "command not found" lines. */
MitogenPromptParser *_mitogen_prompt_parser_new  (MitogenPromptMethod  method,
                                                  const char          *prompt_token,
                                                  const char          *command);
void                 _mitogen_prompt_parser_free (MitogenPromptParser *self);
/* Appends output of the program; any bytes, any split. No I/O. */
void                 _mitogen_prompt_parser_feed (MitogenPromptParser *self,
                                                  const guint8        *data,
                                                  gsize                len);
/* Takes the next event out of what was fed: complete lines (ended by \n
 * or \r, empty ones skipped) in order, then the trailing partial line if
 * it is a prompt (which then counts as consumed). Returns FALSE when more
 * input is needed. */
gboolean             _mitogen_prompt_parser_next (MitogenPromptParser *self,
                                                  MitogenPromptEvent  *event);
/* Whatever is buffered as an unfinished line, as an event (LINE or a
 * classified one), e.g. at EOF. Returns FALSE if nothing is buffered. */
gboolean             _mitogen_prompt_parser_flush (MitogenPromptParser *self,
                                                   MitogenPromptEvent  *event);

/* Whether @text (a partial line, any bytes) looks like a password prompt:
 * a word for "password" in one of many languages, then a colon at the end
 * (":", ": ", "：", spaces and no-break spaces allowed after it). */
gboolean             _mitogen_prompt_is_password_prompt (const char *text,
                                                         gsize       len);

/* The bootstrap markers a child prints on its own line. */
typedef enum {
  MITOGEN_BOOT_MARKER_NONE,
  MITOGEN_BOOT_MARKER_READY,     /* MITO000: send the runtime */
  MITOGEN_BOOT_MARKER_RECEIVED,  /* MITO001: the runtime arrived */
  MITOGEN_BOOT_MARKER_UP,        /* MITO002: frames from now on */
} MitogenBootMarker;

/* Which marker the line @line (@len bytes, any bytes, NULs included)
 * carries; a line holding several gives the first in the order READY, UP,
 * RECEIVED, as the connection acts on them. */
MitogenBootMarker    _mitogen_boot_marker_find (const char *line,
                                                gsize       len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MitogenPromptParser, _mitogen_prompt_parser_free)

G_END_DECLS
