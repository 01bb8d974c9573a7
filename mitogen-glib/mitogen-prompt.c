/* mitogen-prompt.c: what ssh, sudo, su and doas print while a connection
 * starts
 *
 * A pure parser: bytes in, events out, no I/O, so that the connection code
 * stays small and a fuzzer can drive it. Prompts are partial lines (the
 * program waits for input right after them); everything else is judged a
 * line at a time. Matching is on case-folded UTF-8, so that prompts and
 * messages are recognised whatever the target's language.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <string.h>

#include "mitogen-prompt-private.h"

/* Longer unfinished lines are passed on as they are: no prompt is this
 * long, and the buffer must stay bounded. */
#define MAX_LINE 4096

struct _MitogenPromptParser
{
  MitogenPromptMethod method;
  char *token;          /* (owned) (nullable) sudo's prompt, exact */
  char *command;        /* (owned) (nullable) case-folded base name */
  GString *buffer;      /* unparsed input */
  char *text;           /* (owned) text of the last event */
};

/* Words for "password" in the languages Linux-PAM, sudo and OpenSSH are
 * translated into (and a few more), lower case; case-folded once. */
static const char *const password_words[] = {
  "password", "passwort", "passwuert", "wachtwoord", "wagwoord",
  "mot de passe", "contraseña", "contrasena", "contrasenya", "senha",
  "palavra-passe", "palavra passe", "parola", "parolă", "parole", "parol",
  "lösenord", "losenord", "adgangskode", "passord", "lykilorð",
  "salasana", "salasõna", "slaptažodis", "hasło", "haslo", "heslo",
  "jelszó", "jelszo", "geslo", "lozinka", "šifra", "sifra", "şifre",
  "sifre", "pasahitza", "pasvorto", "kata sandi", "kata laluan",
  "mật khẩu", "mat khau",
  "пароль", "лозинка", "κωδικός", "συνθηματικό",
  "密码", "密碼", "口令", "パスワード", "암호", "비밀번호",
  "סיסמה", "סיסמא", "كلمة السر", "كلمة المرور", "رمز عبور", "گذرواژه",
  "पासवर्ड", "गुप्तशब्द", "கடவுச்சொல்", "పాస్‌వర్డ్", "ಗುಪ್ತಪದ",
  "รหัสผ่าน", "ពាក្យសម្ងាត់", "პაროლი", "գաղտնաբառ",
};

/* "No such command" in shells, sudo and env, a few languages; the
 * caller also looks at exit status 127. */
static const char *const not_found_words[] = {
  "command not found", "not found", "no such file or directory",
  "commande introuvable", "introuvable", "aucun fichier ou dossier de ce type",
  "befehl nicht gefunden", "nicht gefunden", "orden no encontrada",
  "no se encontró", "comando non trovato", "команда не найдена", "не найден",
};

static char **folded_password_words;

static void
fold_words_once (void)
{
  if (g_once_init_enter (&folded_password_words))
    {
      char **words = g_new0 (char *, G_N_ELEMENTS (password_words) + 1);

      for (gsize i = 0; i < G_N_ELEMENTS (password_words); i++)
        words[i] = g_utf8_casefold (password_words[i], -1);
      g_once_init_leave (&folded_password_words, words);
    }
}

static char *
fold (const char *text,
      gsize       len)
{
  g_autofree char *valid = g_utf8_make_valid (text, len);

  return g_utf8_casefold (valid, -1);
}

static gboolean
contains_any (const char        *folded,
              const char *const *words,
              gsize              n_words)
{
  for (gsize i = 0; i < n_words; i++)
    if (strstr (folded, words[i]) != NULL)
      return TRUE;
  return FALSE;
}

static gboolean
is_trailing_space (gunichar c)
{
  return c == ' ' || c == '\t' || c == 0x00a0 || c == 0x202f || c == 0x2009 || c == 0x3000;
}

/* Whether @folded ends, after white space, with a colon. */
static gboolean
ends_with_colon (const char *folded)
{
  const char *end = folded + strlen (folded);

  while (end > folded)
    {
      const char *prev = g_utf8_find_prev_char (folded, end);
      gunichar c;

      if (prev == NULL)
        return FALSE;
      c = g_utf8_get_char (prev);
      if (is_trailing_space (c))
        {
          end = prev;
          continue;
        }
      return c == ':' || c == 0xff1a;
    }
  return FALSE;
}

static gboolean
ends_with_question (const char *folded)
{
  gsize len = strlen (folded);

  while (len > 0 && (folded[len - 1] == ' ' || folded[len - 1] == '\t'))
    len--;
  return len > 0 && folded[len - 1] == '?';
}

static gboolean
is_password_prompt_folded (const char *folded)
{
  fold_words_once ();
  if (!ends_with_colon (folded))
    return FALSE;
  for (gsize i = 0; folded_password_words[i] != NULL; i++)
    if (strstr (folded, folded_password_words[i]) != NULL)
      return TRUE;
  return FALSE;
}

gboolean
_mitogen_prompt_is_password_prompt (const char *text,
                                    gsize       len)
{
  g_autofree char *folded = fold (text, len);

  return is_password_prompt_folded (folded);
}

MitogenPromptParser *
_mitogen_prompt_parser_new (MitogenPromptMethod  method,
                            const char          *prompt_token,
                            const char          *command)
{
  MitogenPromptParser *self = g_new0 (MitogenPromptParser, 1);

  self->method = method;
  self->token = g_strdup (prompt_token);
  if (command != NULL && *command != '\0')
    {
      g_autofree char *base = g_path_get_basename (command);

      self->command = g_utf8_casefold (base, -1);
    }
  self->buffer = g_string_new (NULL);
  return self;
}

void
_mitogen_prompt_parser_free (MitogenPromptParser *self)
{
  if (self == NULL)
    return;
  g_free (self->token);
  g_free (self->command);
  g_string_free (self->buffer, TRUE);
  g_free (self->text);
  g_free (self);
}

void
_mitogen_prompt_parser_feed (MitogenPromptParser *self,
                             const guint8        *data,
                             gsize                len)
{
  g_string_append_len (self->buffer, (const char *) data, len);
}

/* "[user@host: ]Permission denied ..." at the start of the line. */
static gboolean
is_permission_denied (const char *folded)
{
  const char *colon;

  if (g_str_has_prefix (folded, "permission denied"))
    return TRUE;
  colon = strstr (folded, ": permission denied");
  if (colon == NULL)
    return FALSE;
  /* The prefix is "user@host": one '@', no ':' and no space. */
  for (const char *p = folded; p < colon; p++)
    if (*p == ':' || *p == ' ')
      return FALSE;
  return memchr (folded, '@', colon - folded) != NULL;
}

static gboolean
offers_password (const char *folded)
{
  const char *open = strrchr (folded, '(');

  return open != NULL && (strstr (open, "password") != NULL ||
                          strstr (open, "keyboard-interactive") != NULL);
}

static gboolean
is_command_not_found (MitogenPromptParser *self,
                      const char          *folded)
{
  const char *at;

  if (self->command == NULL || (at = strstr (folded, self->command)) == NULL)
    return FALSE;
  /* "python3" must be a word of its own: not "python3.11". */
  at += strlen (self->command);
  if (g_ascii_isalnum (*at) || *at == '.' || *at == '-' || *at == '_')
    return FALSE;
  return contains_any (folded, not_found_words, G_N_ELEMENTS (not_found_words));
}

static MitogenPromptEventKind
classify_line (MitogenPromptParser *self,
               const char          *folded,
               gboolean            *out_offers_password)
{
  *out_offers_password = FALSE;

  if (is_command_not_found (self, folded))
    return MITOGEN_PROMPT_EVENT_COMMAND_NOT_FOUND;

  switch (self->method)
    {
    case MITOGEN_PROMPT_METHOD_SSH:
      if (strstr (folded, "host key verification failed") != NULL)
        return MITOGEN_PROMPT_EVENT_HOST_KEY_FAILED;
      if (strstr (folded, "remote host identification has changed") != NULL)
        return MITOGEN_PROMPT_EVENT_HOST_KEY_CHANGED;
      if (is_permission_denied (folded))
        {
          *out_offers_password = offers_password (folded);
          return MITOGEN_PROMPT_EVENT_PERMISSION_DENIED;
        }
      if (g_str_has_prefix (folded, "ssh: ") ||
          g_str_has_prefix (folded, "kex_exchange_identification:") ||
          g_str_has_prefix (folded, "connection closed by ") ||
          g_str_has_prefix (folded, "connection reset by ") ||
          g_str_has_prefix (folded, "connection timed out during banner exchange"))
        return MITOGEN_PROMPT_EVENT_CONNECT_FAILED;
      break;

    case MITOGEN_PROMPT_METHOD_SUDO:
      if (strstr (folded, "incorrect password attempt") != NULL ||
          strstr (folded, "mots de passe incorrect") != NULL)
        return MITOGEN_PROMPT_EVENT_AUTH_FAILED;
      if (strstr (folded, "a password is required") != NULL)
        return MITOGEN_PROMPT_EVENT_PASSWORD_REQUIRED;
      break;

    case MITOGEN_PROMPT_METHOD_SU:
      /* "su: Authentication failure", "su: Échec de l’authentification",
       * "su: Sorry", "su: incorrect password"... */
      if (g_str_has_prefix (folded, "su:") &&
          (strstr (folded, "authenti") != NULL || strstr (folded, "autenti") != NULL ||
           strstr (folded, "sorry") != NULL || strstr (folded, "incorrect") != NULL))
        return MITOGEN_PROMPT_EVENT_AUTH_FAILED;
      break;

    case MITOGEN_PROMPT_METHOD_DOAS:
      if (strstr (folded, "doas: authentication required") != NULL)
        return MITOGEN_PROMPT_EVENT_PASSWORD_REQUIRED;
      if (strstr (folded, "doas: authentication failed") != NULL ||
          strstr (folded, "doas: authorization failed") != NULL)
        return MITOGEN_PROMPT_EVENT_AUTH_FAILED;
      break;

    case MITOGEN_PROMPT_METHOD_LOCAL:
    default:
      break;
    }

  return MITOGEN_PROMPT_EVENT_LINE;
}

/* The trailing partial line as a prompt, or FALSE. */
static gboolean
classify_partial (MitogenPromptParser    *self,
                  const char             *folded,
                  MitogenPromptEventKind *out_kind)
{
  if (self->method == MITOGEN_PROMPT_METHOD_LOCAL)
    return FALSE;
  if (self->method == MITOGEN_PROMPT_METHOD_SSH)
    {
      if (strstr (folded, "are you sure you want to continue connecting") != NULL &&
          ends_with_question (folded))
        {
          *out_kind = MITOGEN_PROMPT_EVENT_HOST_KEY_QUESTION;
          return TRUE;
        }
      if (strstr (folded, "enter passphrase for") != NULL && ends_with_colon (folded))
        {
          *out_kind = MITOGEN_PROMPT_EVENT_PASSPHRASE;
          return TRUE;
        }
    }
  if (is_password_prompt_folded (folded))
    {
      *out_kind = MITOGEN_PROMPT_EVENT_PASSWORD;
      return TRUE;
    }
  return FALSE;
}

/* A copy of @len bytes that may hold NULs, NUL-terminated. */
static char *
dup_bytes (const char *data,
           gsize       len)
{
  char *copy = g_malloc (len + 1);

  memcpy (copy, data, len);
  copy[len] = '\0';
  return copy;
}

static void
set_event (MitogenPromptParser    *self,
           MitogenPromptEvent     *event,
           MitogenPromptEventKind  kind,
           const char             *text,
           gsize                   len,
           gboolean                offers)
{
  g_free (self->text);
  self->text = g_utf8_make_valid (text, len);
  event->kind = kind;
  event->text = self->text;
  event->offers_password = offers;
}

static gboolean
line_event (MitogenPromptParser *self,
            const char          *line,
            gsize                len,
            MitogenPromptEvent  *event)
{
  g_autofree char *folded = fold (line, len);
  gboolean offers;
  MitogenPromptEventKind kind = classify_line (self, folded, &offers);

  set_event (self, event, kind, line, len, offers);
  return TRUE;
}

gboolean
_mitogen_prompt_parser_next (MitogenPromptParser *self,
                             MitogenPromptEvent  *event)
{
  for (;;)
    {
      const char *data = self->buffer->str;
      gsize len = self->buffer->len;
      gsize end = 0;

      while (end < len && data[end] != '\n' && data[end] != '\r')
        end++;

      if (end < len)
        {
          g_autofree char *line = dup_bytes (data, end);

          g_string_erase (self->buffer, 0, end + 1);
          if (end == 0)
            continue;  /* "\r\n", or doas's "\r" before its prompt */
          return line_event (self, line, end, event);
        }

      if (len == 0)
        return FALSE;

      /* The sudo token is ours and exact: no need to fold. */
      if (self->token != NULL && g_strstr_len (data, len, self->token) != NULL)
        {
          set_event (self, event, MITOGEN_PROMPT_EVENT_PASSWORD, data, len, FALSE);
          g_string_truncate (self->buffer, 0);
          return TRUE;
        }

      {
        g_autofree char *folded = fold (data, len);
        MitogenPromptEventKind kind;

        if (classify_partial (self, folded, &kind))
          {
            set_event (self, event, kind, data, len, FALSE);
            g_string_truncate (self->buffer, 0);
            return TRUE;
          }
      }

      if (len > MAX_LINE)
        {
          g_autofree char *line = dup_bytes (data, len);

          g_string_truncate (self->buffer, 0);
          return line_event (self, line, len, event);
        }
      return FALSE;
    }
}

gboolean
_mitogen_prompt_parser_flush (MitogenPromptParser *self,
                              MitogenPromptEvent  *event)
{
  g_autofree char *line = NULL;
  gsize len = self->buffer->len;

  if (len == 0)
    return FALSE;
  line = dup_bytes (self->buffer->str, len);
  g_string_truncate (self->buffer, 0);
  return line_event (self, line, len, event);
}

MitogenBootMarker
_mitogen_boot_marker_find (const char *line,
                           gsize       len)
{
  /* memmem, not strstr: the line is raw output and may hold NULs. */
  if (memmem (line, len, "MITO000", 7) != NULL)
    return MITOGEN_BOOT_MARKER_READY;
  if (memmem (line, len, "MITO002", 7) != NULL)
    return MITOGEN_BOOT_MARKER_UP;
  if (memmem (line, len, "MITO001", 7) != NULL)
    return MITOGEN_BOOT_MARKER_RECEIVED;
  return MITOGEN_BOOT_MARKER_NONE;
}
