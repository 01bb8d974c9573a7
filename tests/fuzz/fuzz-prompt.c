/* fuzz-prompt.c: libFuzzer target for the bootstrap prompt parser and the
 * bootstrap marker finder (mitogen-prompt.c)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 *
 * Input layout (make-seeds.py writes seeds in this form):
 *
 *   byte 0      the parser's set-up:
 *                 bits 0-2  method: (value % 5) in the order of
 *                           MitogenPromptMethod (local, ssh, sudo, su, doas)
 *                 bit 3     sudo's own prompt token "MITOGEN-PW:" (else NULL)
 *                 bits 4-5  command: NULL, "python3", "/usr/bin/python3", ""
 *                 bit 6     drain events only at the end, not after each chunk
 *                 bit 7     skip the flush at the end (free with data buffered)
 *   bytes 1-4   chunk sizes, used in turn: 1..255 bytes, 0 = all the rest
 *   the rest    the program's output, fed to the parser in those chunks
 *
 * Besides "no crash, no leak", every event is checked: a known kind, text
 * that is valid UTF-8 without line ends, kinds that only the method can
 * produce, and untokened PASSWORD prompts that
 * _mitogen_prompt_is_password_prompt() agrees with. The whole output is also
 * given to _mitogen_prompt_is_password_prompt() as a NUL-terminated copy.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mitogen-glib.h>

#include "mitogen-prompt-private.h"

#define PREFIX_LEN 5
#define TOKEN "MITOGEN-PW:"

#define CHECK(cond)                                                     \
  G_STMT_START {                                                        \
    if (G_UNLIKELY (!(cond)))                                           \
      {                                                                 \
        fprintf (stderr, "%s:%d: check failed: %s\n",                   \
                 __FILE__, __LINE__, #cond);                            \
        abort ();                                                       \
      }                                                                 \
  } G_STMT_END

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  /* A critical from the library is a bug the fuzzer should report. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

static void
check_event (MitogenPromptMethod       method,
             const char               *token,
             const MitogenPromptEvent *event)
{
  gsize len;

  CHECK (event->kind >= MITOGEN_PROMPT_EVENT_LINE &&
         event->kind <= MITOGEN_PROMPT_EVENT_COMMAND_NOT_FOUND);
  CHECK (event->text != NULL);
  len = strlen (event->text);
  CHECK (len > 0);
  CHECK (g_utf8_validate (event->text, len, NULL));
  CHECK (strchr (event->text, '\n') == NULL);
  CHECK (strchr (event->text, '\r') == NULL);
  CHECK (!event->offers_password || event->kind == MITOGEN_PROMPT_EVENT_PERMISSION_DENIED);

  switch (event->kind)
    {
    case MITOGEN_PROMPT_EVENT_PASSPHRASE:
    case MITOGEN_PROMPT_EVENT_HOST_KEY_QUESTION:
    case MITOGEN_PROMPT_EVENT_HOST_KEY_FAILED:
    case MITOGEN_PROMPT_EVENT_HOST_KEY_CHANGED:
    case MITOGEN_PROMPT_EVENT_PERMISSION_DENIED:
    case MITOGEN_PROMPT_EVENT_CONNECT_FAILED:
      CHECK (method == MITOGEN_PROMPT_METHOD_SSH);
      break;
    case MITOGEN_PROMPT_EVENT_AUTH_FAILED:
      CHECK (method == MITOGEN_PROMPT_METHOD_SUDO ||
             method == MITOGEN_PROMPT_METHOD_SU ||
             method == MITOGEN_PROMPT_METHOD_DOAS);
      break;
    case MITOGEN_PROMPT_EVENT_PASSWORD_REQUIRED:
      CHECK (method == MITOGEN_PROMPT_METHOD_SUDO ||
             method == MITOGEN_PROMPT_METHOD_DOAS);
      break;
    case MITOGEN_PROMPT_EVENT_PASSWORD:
      /* The token is matched on raw bytes; anything else is a prompt in
       * some language, which the public predicate must also see. */
      if (token == NULL)
        {
          CHECK (method != MITOGEN_PROMPT_METHOD_LOCAL);
          CHECK (_mitogen_prompt_is_password_prompt (event->text, len));
        }
      break;
    case MITOGEN_PROMPT_EVENT_LINE:
    case MITOGEN_PROMPT_EVENT_COMMAND_NOT_FOUND:
    default:
      break;
    }
}

static guint
drain (MitogenPromptParser *parser,
       MitogenPromptMethod  method,
       const char          *token)
{
  MitogenPromptEvent event;
  guint n = 0;

  memset (&event, 0, sizeof event);
  while (_mitogen_prompt_parser_next (parser, &event))
    {
      check_event (method, token, &event);
      n++;
    }
  return n;
}

/* Does @line hold @marker, byte by byte (the reference the library's
 * memmem-based finder is checked against)? */
static gboolean
holds (const guint8 *line,
       gsize         len,
       const char   *marker)
{
  for (gsize i = 0; i + 7 <= len; i++)
    if (memcmp (line + i, marker, 7) == 0)
      return TRUE;
  return FALSE;
}

/* The bootstrap marker finder on every line of the output, as the
 * connection cuts it, each line in an exact-size copy (ASan guards the end). */
static void
check_markers (const guint8 *stream,
               gsize         len)
{
  gsize start = 0;

  while (start < len)
    {
      const guint8 *nl = memchr (stream + start, '\n', len - start);
      gsize line_len = nl ? (gsize) (nl - (stream + start)) + 1 : len - start;
      char *line = g_memdup2 (stream + start, line_len);
      MitogenBootMarker found = _mitogen_boot_marker_find (line, line_len);
      MitogenBootMarker expected = MITOGEN_BOOT_MARKER_NONE;

      if (holds (stream + start, line_len, "MITO000"))
        expected = MITOGEN_BOOT_MARKER_READY;
      else if (holds (stream + start, line_len, "MITO002"))
        expected = MITOGEN_BOOT_MARKER_UP;
      else if (holds (stream + start, line_len, "MITO001"))
        expected = MITOGEN_BOOT_MARKER_RECEIVED;
      CHECK (found == expected);
      g_free (line);
      start += line_len;
    }
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  static const char *const commands[] = { NULL, "python3", "/usr/bin/python3", "" };
  MitogenPromptParser *parser;
  MitogenPromptMethod method;
  MitogenPromptEvent event;
  const char *token;
  const guint8 *stream;
  gsize stream_len, pos = 0;
  guint chunk_index = 0;
  gboolean drain_each;
  char *copy;

  if (size < PREFIX_LEN)
    return 0;

  method = (MitogenPromptMethod) ((data[0] & 0x07) % 5);
  token = (data[0] & 0x08) ? TOKEN : NULL;
  drain_each = !(data[0] & 0x40);
  stream = data + PREFIX_LEN;
  stream_len = size - PREFIX_LEN;

  parser = _mitogen_prompt_parser_new (method, token, commands[(data[0] >> 4) & 0x03]);

  while (pos < stream_len)
    {
      guint8 c = data[1 + chunk_index++ % 4];
      gsize n = c == 0 ? stream_len - pos : MIN ((gsize) c, stream_len - pos);

      _mitogen_prompt_parser_feed (parser, stream + pos, n);
      pos += n;
      if (drain_each)
        drain (parser, method, token);
    }
  /* Feeding nothing is allowed too. */
  _mitogen_prompt_parser_feed (parser, stream, 0);
  drain (parser, method, token);

  if (!(data[0] & 0x80))
    {
      memset (&event, 0, sizeof event);
      if (_mitogen_prompt_parser_flush (parser, &event))
        {
          CHECK (event.text != NULL);
          CHECK (g_utf8_validate (event.text, -1, NULL));
          CHECK (strchr (event.text, '\n') == NULL);
          CHECK (strchr (event.text, '\r') == NULL);
        }
      /* Nothing is left. */
      CHECK (!_mitogen_prompt_parser_flush (parser, &event));
      CHECK (!_mitogen_prompt_parser_next (parser, &event));
    }

  _mitogen_prompt_parser_free (parser);

  /* The predicate on the whole output, any bytes; the copy ends with a NUL
   * outside @len, as for a C string, and ASan guards the rest. */
  copy = g_malloc (stream_len + 1);
  memcpy (copy, stream, stream_len);
  copy[stream_len] = '\0';
  (void) _mitogen_prompt_is_password_prompt (copy, stream_len);
  g_free (copy);

  /* And on an exact-size copy without a terminator: the length is all the
   * function may rely on. */
  copy = g_memdup2 (stream, stream_len);
  (void) _mitogen_prompt_is_password_prompt (copy != NULL ? copy : "", stream_len);
  g_free (copy);

  check_markers (stream, stream_len);

  return 0;
}
