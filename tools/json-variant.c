/* json-variant.c: JSON text <-> GVariant, private to the mitogen-glib tool
 *
 * Parsing follows RFC 8259 strictly and maps onto the GVariant types the
 * library pickles as the matching Python values:
 *
 *   null -> mv (nothing)    true/false -> b    integer -> x, or t above
 *   G_MAXINT64              other numbers -> d     string -> s
 *   array -> av             object -> a{sv}
 *
 * Printing accepts any GVariant; see json_variant_print().
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include <math.h>
#include <string.h>

#include "json-variant.h"

G_DEFINE_QUARK (json-variant-error-quark, json_variant_error)

typedef struct
{
  const char *start;
  const char *pos;
  const char *end;
  guint depth;
} Parser;

static GVariant *parse_value (Parser  *parser,
                              GError **error);

static gboolean G_GNUC_PRINTF (3, 4)
parser_fail (Parser      *parser,
             GError     **error,
             const char  *format,
             ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, JSON_VARIANT_ERROR, JSON_VARIANT_ERROR_SYNTAX,
               "invalid JSON at byte %" G_GSIZE_FORMAT ": %s",
               (gsize) (parser->pos - parser->start), text);
  return FALSE;
}

/* Names the character at the cursor for an error message. */
static char *
describe_here (Parser *parser)
{
  guchar c;

  if (parser->pos >= parser->end)
    return g_strdup ("end of input");
  c = (guchar) *parser->pos;
  if (c >= 0x20 && c < 0x7f)
    return g_strdup_printf ("'%c'", c);
  return g_strdup_printf ("byte 0x%02x", c);
}

static gboolean
unexpected (Parser     *parser,
            const char *wanted,
            GError    **error)
{
  g_autofree char *here = describe_here (parser);

  return parser_fail (parser, error, "expected %s, found %s", wanted, here);
}

static void
skip_whitespace (Parser *parser)
{
  while (parser->pos < parser->end &&
         (*parser->pos == ' ' || *parser->pos == '\t' ||
          *parser->pos == '\n' || *parser->pos == '\r'))
    parser->pos++;
}

static gboolean
at (Parser *parser,
    char    c)
{
  return parser->pos < parser->end && *parser->pos == c;
}

static gboolean
is_digit (Parser *parser)
{
  return parser->pos < parser->end && g_ascii_isdigit (*parser->pos);
}

static GVariant *
parse_literal (Parser      *parser,
               const char  *word,
               GVariant    *value,
               GError     **error)
{
  gsize len = strlen (word);

  if ((gsize) (parser->end - parser->pos) < len ||
      memcmp (parser->pos, word, len) != 0)
    {
      g_variant_unref (g_variant_ref_sink (value));
      unexpected (parser, "a JSON value", error);
      return NULL;
    }
  parser->pos += len;
  return value;
}

static GVariant *
parse_number (Parser  *parser,
              GError **error)
{
  const char *begin = parser->pos;
  gboolean is_integer = TRUE;
  g_autofree char *text = NULL;

  if (at (parser, '-'))
    parser->pos++;
  if (at (parser, '0'))
    parser->pos++;
  else if (is_digit (parser))
    while (is_digit (parser))
      parser->pos++;
  else
    {
      unexpected (parser, "a digit", error);
      return NULL;
    }

  if (at (parser, '.'))
    {
      is_integer = FALSE;
      parser->pos++;
      if (!is_digit (parser))
        {
          unexpected (parser, "a digit after '.'", error);
          return NULL;
        }
      while (is_digit (parser))
        parser->pos++;
    }
  if (at (parser, 'e') || at (parser, 'E'))
    {
      is_integer = FALSE;
      parser->pos++;
      if (at (parser, '+') || at (parser, '-'))
        parser->pos++;
      if (!is_digit (parser))
        {
          unexpected (parser, "a digit in the exponent", error);
          return NULL;
        }
      while (is_digit (parser))
        parser->pos++;
    }

  text = g_strndup (begin, parser->pos - begin);

  if (is_integer)
    {
      gint64 signed_value;
      guint64 unsigned_value;

      if (text[0] == '-')
        {
          if (g_ascii_string_to_signed (text, 10, G_MININT64, 0, &signed_value, NULL))
            return g_variant_new_int64 (signed_value);
        }
      else if (g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, &unsigned_value, NULL))
        {
          /* Python has one int type: t only where x cannot hold it. */
          if (unsigned_value <= G_MAXINT64)
            return g_variant_new_int64 ((gint64) unsigned_value);
          return g_variant_new_uint64 (unsigned_value);
        }
      g_set_error (error, JSON_VARIANT_ERROR, JSON_VARIANT_ERROR_RANGE,
                   "integer %s does not fit in 64 bits", text);
      return NULL;
    }
  else
    {
      double d = g_ascii_strtod (text, NULL);

      /* Underflow to zero is harmless; overflow would change the value. */
      if (isinf (d))
        {
          g_set_error (error, JSON_VARIANT_ERROR, JSON_VARIANT_ERROR_RANGE,
                       "number %s is out of the range of a double", text);
          return NULL;
        }
      return g_variant_new_double (d);
    }
}

static gboolean
parse_hex4 (Parser   *parser,
            gunichar *out,
            GError  **error)
{
  gunichar value = 0;

  for (int i = 0; i < 4; i++)
    {
      int digit = parser->pos < parser->end ? g_ascii_xdigit_value (*parser->pos) : -1;

      if (digit < 0)
        return unexpected (parser, "four hexadecimal digits after \\u", error);
      value = value * 16 + (gunichar) digit;
      parser->pos++;
    }
  *out = value;
  return TRUE;
}

/* Appends the character of a \uXXXX escape (with its low surrogate, if it
 * starts a pair); the cursor is on the 'u'. */
static gboolean
parse_unicode_escape (Parser   *parser,
                      GString  *out,
                      GError  **error)
{
  const char *escape = parser->pos - 1;
  gunichar c;

  parser->pos++;
  if (!parse_hex4 (parser, &c, error))
    return FALSE;

  if (c >= 0xdc00 && c <= 0xdfff)
    {
      parser->pos = escape;
      return parser_fail (parser, error, "lone low surrogate \\u%04X", c);
    }
  if (c >= 0xd800 && c <= 0xdbff)
    {
      gunichar low;

      if (parser->end - parser->pos < 2 || parser->pos[0] != '\\' || parser->pos[1] != 'u')
        {
          parser->pos = escape;
          return parser_fail (parser, error, "high surrogate \\u%04X is not followed by a low surrogate", c);
        }
      parser->pos += 2;
      if (!parse_hex4 (parser, &low, error))
        return FALSE;
      if (low < 0xdc00 || low > 0xdfff)
        {
          parser->pos = escape;
          return parser_fail (parser, error, "high surrogate \\u%04X is followed by \\u%04X, not a low surrogate",
                              c, low);
        }
      c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
    }
  if (c == 0)
    {
      parser->pos = escape;
      g_set_error (error, JSON_VARIANT_ERROR, JSON_VARIANT_ERROR_UNSUPPORTED,
                   "invalid JSON at byte %" G_GSIZE_FORMAT ": strings cannot contain U+0000",
                   (gsize) (parser->pos - parser->start));
      return FALSE;
    }
  g_string_append_unichar (out, c);
  return TRUE;
}

/* Returns the string's contents, valid UTF-8: the whole input was
 * validated up front and escapes only produce valid characters. */
static char *
parse_string (Parser  *parser,
              GError **error)
{
  g_autoptr(GString) out = g_string_new (NULL);

  if (!at (parser, '"'))
    {
      unexpected (parser, "'\"'", error);
      return NULL;
    }
  parser->pos++;

  for (;;)
    {
      const char *run = parser->pos;
      guchar c;

      /* Copy plain bytes in one go. */
      while (parser->pos < parser->end && *parser->pos != '"' && *parser->pos != '\\' &&
             (guchar) *parser->pos >= 0x20)
        parser->pos++;
      g_string_append_len (out, run, parser->pos - run);

      if (parser->pos >= parser->end)
        {
          parser_fail (parser, error, "unterminated string");
          return NULL;
        }
      c = (guchar) *parser->pos;
      if (c == '"')
        {
          parser->pos++;
          return g_string_free (g_steal_pointer (&out), FALSE);
        }
      if (c < 0x20)
        {
          parser_fail (parser, error, "control character 0x%02x must be escaped in a string", c);
          return NULL;
        }

      /* A backslash. */
      parser->pos++;
      if (parser->pos >= parser->end)
        {
          parser_fail (parser, error, "unterminated string");
          return NULL;
        }
      switch (*parser->pos)
        {
        case '"': g_string_append_c (out, '"'); break;
        case '\\': g_string_append_c (out, '\\'); break;
        case '/': g_string_append_c (out, '/'); break;
        case 'b': g_string_append_c (out, '\b'); break;
        case 'f': g_string_append_c (out, '\f'); break;
        case 'n': g_string_append_c (out, '\n'); break;
        case 'r': g_string_append_c (out, '\r'); break;
        case 't': g_string_append_c (out, '\t'); break;
        case 'u':
          if (!parse_unicode_escape (parser, out, error))
            return NULL;
          continue;
        default:
          {
            g_autofree char *here = describe_here (parser);

            parser_fail (parser, error, "invalid escape \\ followed by %s", here);
            return NULL;
          }
        }
      parser->pos++;
    }
}

static gboolean
enter (Parser  *parser,
       GError **error)
{
  if (++parser->depth > JSON_VARIANT_MAX_DEPTH)
    {
      g_set_error (error, JSON_VARIANT_ERROR, JSON_VARIANT_ERROR_DEPTH,
                   "invalid JSON at byte %" G_GSIZE_FORMAT ": nested deeper than %d levels",
                   (gsize) (parser->pos - parser->start), JSON_VARIANT_MAX_DEPTH);
      return FALSE;
    }
  parser->pos++;
  return TRUE;
}

static GVariant *
parse_array (Parser  *parser,
             GError **error)
{
  GVariantBuilder builder;

  if (!enter (parser, error))
    return NULL;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("av"));

  skip_whitespace (parser);
  if (at (parser, ']'))
    goto done;

  for (;;)
    {
      GVariant *item = parse_value (parser, error);

      if (item == NULL)
        {
          g_variant_builder_clear (&builder);
          return NULL;
        }
      g_variant_builder_add_value (&builder, g_variant_new_variant (item));

      skip_whitespace (parser);
      if (at (parser, ']'))
        break;
      if (!at (parser, ','))
        {
          unexpected (parser, "',' or ']'", error);
          g_variant_builder_clear (&builder);
          return NULL;
        }
      parser->pos++;
    }

done:
  parser->pos++;
  parser->depth--;
  return g_variant_builder_end (&builder);
}

static GVariant *
parse_object (Parser  *parser,
              GError **error)
{
  GVariantBuilder builder;
  g_autoptr(GHashTable) seen = NULL;

  if (!enter (parser, error))
    return NULL;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  skip_whitespace (parser);
  if (at (parser, '}'))
    goto done;

  for (;;)
    {
      const char *key_pos;
      g_autofree char *key = NULL;
      GVariant *item;

      skip_whitespace (parser);
      key_pos = parser->pos;
      if (!at (parser, '"'))
        {
          unexpected (parser, "a string key", error);
          goto fail;
        }
      key = parse_string (parser, error);
      if (key == NULL)
        goto fail;
      /* a{sv} could hold both, but which one Python keeps is an accident
       * of encoding order: refuse rather than guess. */
      if (g_hash_table_contains (seen, key))
        {
          parser->pos = key_pos;
          parser_fail (parser, error, "duplicate key \"%s\"", key);
          goto fail;
        }
      g_hash_table_add (seen, g_strdup (key));

      skip_whitespace (parser);
      if (!at (parser, ':'))
        {
          unexpected (parser, "':'", error);
          goto fail;
        }
      parser->pos++;

      item = parse_value (parser, error);
      if (item == NULL)
        goto fail;
      g_variant_builder_add (&builder, "{sv}", key, item);

      skip_whitespace (parser);
      if (at (parser, '}'))
        break;
      if (!at (parser, ','))
        {
          unexpected (parser, "',' or '}'", error);
          goto fail;
        }
      parser->pos++;
    }

done:
  parser->pos++;
  parser->depth--;
  return g_variant_builder_end (&builder);

fail:
  g_variant_builder_clear (&builder);
  return NULL;
}

/* Returns a floating reference. */
static GVariant *
parse_value (Parser  *parser,
             GError **error)
{
  skip_whitespace (parser);
  if (parser->pos >= parser->end)
    {
      unexpected (parser, "a JSON value", error);
      return NULL;
    }

  switch (*parser->pos)
    {
    case '{':
      return parse_object (parser, error);
    case '[':
      return parse_array (parser, error);
    case '"':
      {
        g_autofree char *text = parse_string (parser, error);

        return text ? g_variant_new_take_string (g_steal_pointer (&text)) : NULL;
      }
    case 't':
      return parse_literal (parser, "true", g_variant_new_boolean (TRUE), error);
    case 'f':
      return parse_literal (parser, "false", g_variant_new_boolean (FALSE), error);
    case 'n':
      return parse_literal (parser, "null", g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL), error);
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
      return parse_number (parser, error);
    default:
      unexpected (parser, "a JSON value", error);
      return NULL;
    }
}

/**
 * json_variant_parse:
 * @text: JSON text, UTF-8
 * @length: the length of @text in bytes
 * @error: return location for a %JSON_VARIANT_ERROR
 *
 * Parses exactly one JSON value (surrounding whitespace allowed, nothing
 * else).
 *
 * Returns: (transfer full): the value, not floating, or %NULL
 */
GVariant *
json_variant_parse (const char  *text,
                    gsize        length,
                    GError     **error)
{
  Parser parser = { text, text, text + length, 0 };
  const char *invalid;
  GVariant *value;

  g_return_val_if_fail (text != NULL || length == 0, NULL);

  /* Validating once here keeps string parsing a plain byte copy; this
   * also refuses raw NUL bytes. */
  if (!g_utf8_validate_len (text, length, &invalid))
    {
      parser.pos = invalid;
      parser_fail (&parser, error, "the text is not valid UTF-8");
      return NULL;
    }

  value = parse_value (&parser, error);
  if (value == NULL)
    return NULL;
  g_variant_ref_sink (value);

  skip_whitespace (&parser);
  if (parser.pos != parser.end)
    {
      g_variant_unref (value);
      parser_fail (&parser, error, "unexpected text after the JSON value");
      return NULL;
    }
  return value;
}

/* Printing. */

static void
print_string (GString    *out,
              const char *text,
              gsize       length)
{
  g_string_append_c (out, '"');
  for (gsize i = 0; i < length; i++)
    {
      guchar c = (guchar) text[i];

      switch (c)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        default:
          /* DEL is legal JSON, but escaping it keeps terminals sane. */
          if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\u%04x", c);
          else
            g_string_append_c (out, (char) c);
        }
    }
  g_string_append_c (out, '"');
}

/* The shortest text that reads back as the same double, always with a
 * fraction or an exponent so that it reads back as a float, not an int.
 * JSON has no infinities or NaN: they print as the strings "inf", "-inf"
 * and "nan", the spellings Python's float() accepts. */
static void
print_double (GString *out,
              double   d)
{
  static const char *const formats[] = { "%.15g", "%.16g", "%.17g" };
  char buffer[G_ASCII_DTOSTR_BUF_SIZE + 2];

  if (isnan (d))
    {
      g_string_append (out, "\"nan\"");
      return;
    }
  if (isinf (d))
    {
      g_string_append (out, d > 0 ? "\"inf\"" : "\"-inf\"");
      return;
    }

  for (gsize i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_ascii_formatd (buffer, G_ASCII_DTOSTR_BUF_SIZE, formats[i], d);
      if (g_ascii_strtod (buffer, NULL) == d)
        break;
    }
  if (strpbrk (buffer, ".eE") == NULL)
    strcat (buffer, ".0");
  g_string_append (out, buffer);
}

static void
newline (GString *out,
         gboolean pretty,
         guint    indent)
{
  if (!pretty)
    return;
  g_string_append_c (out, '\n');
  for (guint i = 0; i < indent; i++)
    g_string_append (out, "  ");
}

static void print_value (GString  *out,
                         GVariant *value,
                         gboolean  pretty,
                         guint     indent);

/* JSON keys are strings: other keys print as their JSON text, quoted. */
static void
print_key (GString  *out,
           GVariant *key)
{
  if (g_variant_is_of_type (key, G_VARIANT_TYPE_STRING) ||
      g_variant_is_of_type (key, G_VARIANT_TYPE_OBJECT_PATH) ||
      g_variant_is_of_type (key, G_VARIANT_TYPE_SIGNATURE))
    {
      gsize length;
      const char *text = g_variant_get_string (key, &length);

      print_string (out, text, length);
    }
  else
    {
      g_autoptr(GString) text = g_string_new (NULL);

      print_value (text, key, FALSE, 0);
      print_string (out, text->str, text->len);
    }
}

static void
print_object (GString  *out,
              GVariant *dict,
              gboolean  pretty,
              guint     indent)
{
  gsize n = g_variant_n_children (dict);

  if (n == 0)
    {
      g_string_append (out, "{}");
      return;
    }
  g_string_append_c (out, '{');
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) entry = g_variant_get_child_value (dict, i);
      g_autoptr(GVariant) key = g_variant_get_child_value (entry, 0);
      g_autoptr(GVariant) item = g_variant_get_child_value (entry, 1);

      if (i > 0)
        g_string_append_c (out, ',');
      newline (out, pretty, indent + 1);
      print_key (out, key);
      g_string_append (out, pretty ? ": " : ":");
      print_value (out, item, pretty, indent + 1);
    }
  newline (out, pretty, indent);
  g_string_append_c (out, '}');
}

/* Arrays, tuples, and dictionary entries found outside a dictionary. */
static void
print_array (GString  *out,
             GVariant *container,
             gboolean  pretty,
             guint     indent)
{
  gsize n = g_variant_n_children (container);

  if (n == 0)
    {
      g_string_append (out, "[]");
      return;
    }
  g_string_append_c (out, '[');
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) item = g_variant_get_child_value (container, i);

      if (i > 0)
        g_string_append_c (out, ',');
      newline (out, pretty, indent + 1);
      print_value (out, item, pretty, indent + 1);
    }
  newline (out, pretty, indent);
  g_string_append_c (out, ']');
}

/* Python bytes: text when it is text, else tagged base64, so that binary
 * data survives and cannot be mistaken for a string. */
static void
print_bytes (GString  *out,
             GVariant *bytes,
             gboolean  pretty,
             guint     indent)
{
  gsize length;
  const char *data = g_variant_get_fixed_array (bytes, &length, 1);
  g_autofree char *encoded = NULL;

  if (g_utf8_validate_len (data, length, NULL))
    {
      print_string (out, data, length);
      return;
    }
  encoded = g_base64_encode ((const guchar *) data, length);
  g_string_append_c (out, '{');
  newline (out, pretty, indent + 1);
  g_string_append (out, pretty ? "\"base64\": " : "\"base64\":");
  print_string (out, encoded, strlen (encoded));
  newline (out, pretty, indent);
  g_string_append_c (out, '}');
}

static void
print_value (GString  *out,
             GVariant *value,
             gboolean  pretty,
             guint     indent)
{
  switch (g_variant_classify (value))
    {
    case G_VARIANT_CLASS_BOOLEAN:
      g_string_append (out, g_variant_get_boolean (value) ? "true" : "false");
      break;
    case G_VARIANT_CLASS_BYTE:
      g_string_append_printf (out, "%u", (guint) g_variant_get_byte (value));
      break;
    case G_VARIANT_CLASS_INT16:
      g_string_append_printf (out, "%d", (int) g_variant_get_int16 (value));
      break;
    case G_VARIANT_CLASS_UINT16:
      g_string_append_printf (out, "%u", (guint) g_variant_get_uint16 (value));
      break;
    case G_VARIANT_CLASS_INT32:
      g_string_append_printf (out, "%" G_GINT32_FORMAT, g_variant_get_int32 (value));
      break;
    case G_VARIANT_CLASS_UINT32:
      g_string_append_printf (out, "%" G_GUINT32_FORMAT, g_variant_get_uint32 (value));
      break;
    case G_VARIANT_CLASS_HANDLE:
      g_string_append_printf (out, "%" G_GINT32_FORMAT, g_variant_get_handle (value));
      break;
    case G_VARIANT_CLASS_INT64:
      g_string_append_printf (out, "%" G_GINT64_FORMAT, g_variant_get_int64 (value));
      break;
    case G_VARIANT_CLASS_UINT64:
      g_string_append_printf (out, "%" G_GUINT64_FORMAT, g_variant_get_uint64 (value));
      break;
    case G_VARIANT_CLASS_DOUBLE:
      print_double (out, g_variant_get_double (value));
      break;
    case G_VARIANT_CLASS_STRING:
    case G_VARIANT_CLASS_OBJECT_PATH:
    case G_VARIANT_CLASS_SIGNATURE:
      {
        gsize length;
        const char *text = g_variant_get_string (value, &length);

        print_string (out, text, length);
      }
      break;
    case G_VARIANT_CLASS_VARIANT:
      {
        g_autoptr(GVariant) inner = g_variant_get_variant (value);

        print_value (out, inner, pretty, indent);
      }
      break;
    case G_VARIANT_CLASS_MAYBE:
      {
        g_autoptr(GVariant) inner = g_variant_get_maybe (value);

        if (inner == NULL)
          g_string_append (out, "null");
        else
          print_value (out, inner, pretty, indent);
      }
      break;
    case G_VARIANT_CLASS_ARRAY:
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_BYTESTRING))
        print_bytes (out, value, pretty, indent);
      else if (g_variant_type_is_dict_entry (g_variant_type_element (g_variant_get_type (value))))
        print_object (out, value, pretty, indent);
      else
        print_array (out, value, pretty, indent);
      break;
    case G_VARIANT_CLASS_TUPLE:
    case G_VARIANT_CLASS_DICT_ENTRY:
      print_array (out, value, pretty, indent);
      break;
    default:
      g_assert_not_reached ();
    }
}

/**
 * json_variant_print:
 * @value: any GVariant
 * @pretty: indent by two spaces per level, one member a line
 *
 * Formats @value as JSON: booleans and all integer types as themselves,
 * doubles as numbers (non-finite ones as the strings "inf", "-inf",
 * "nan"), strings, object paths and signatures as strings, `ay` as a
 * string when it is UTF-8 without NUL and as {"base64": "..."} otherwise,
 * maybes as null or their value, variants as their value, dictionaries as
 * objects (non-string keys as their JSON text), other arrays and tuples as
 * arrays. Non-ASCII text is written as UTF-8, not escaped.
 *
 * Returns: (transfer full): the JSON text, without a trailing newline
 */
char *
json_variant_print (GVariant *value,
                    gboolean  pretty)
{
  GString *out = g_string_new (NULL);

  g_return_val_if_fail (value != NULL, NULL);

  print_value (out, value, pretty, 0);
  return g_string_free (out, FALSE);
}
