/* mitogen-pickle-encode.c: GVariant -> pickle (protocol 2, Mitogen subset)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 *
 * A GVariant is either a tree of GVariants (as its constructors build it)
 * or one serialised buffer (as decoded or received). Trees are walked with
 * g_variant_get_child_value(), which there only takes a reference; for
 * serialised data that call allocates a GVariant per child, so the
 * serialised form is read directly instead, following the GVariant
 * specification's layout rules. Those hold for the normal form, which the
 * value is brought to first; every offset is still checked, so that a bug
 * can only produce an error, never a read out of bounds.
 */

#include "config.h"

#include <string.h>

#include "mitogen-error.h"
#include "mitogen-pickle.h"
#include "mitogen-pickle-private.h"

/* Python's pickler appends and sets items in batches of this size. */
#define BATCH_SIZE 1000

/* Levels of recursion (into variants, maybes, dictionary entries and
 * containers) the walk takes before giving up, which bounds the C stack a
 * value can use even when it has no containers (a variant of a variant of
 * ...). A value within MITOGEN_PICKLE_MAX_DEPTH Python containers takes
 * four per container (array, entry, key or value, variant), plus maybes. */
#define MAX_LEVELS (6 * MITOGEN_PICKLE_MAX_DEPTH + 16)

/* ------------------------------------------------------------------ */
/* Writer                                                              */

static void
writer_grow (MitogenPickleWriter *w,
             gsize                need)
{
  gsize want = w->len + need;
  gsize n;

  if (want < w->len)
    g_error ("%s: overflow allocating %" G_GSIZE_FORMAT " bytes", G_STRLOC, need);

  n = MAX (w->allocated * 2, 256);
  if (n < want)
    n = want;
  w->data = g_realloc (w->data, n);
  w->allocated = n;
}

/* Returns where to write @need bytes; the caller then advances w->len. */
static inline guint8 *
writer_reserve (MitogenPickleWriter *w,
                gsize                need)
{
  if (G_UNLIKELY (w->allocated - w->len < need))
    writer_grow (w, need);
  return w->data + w->len;
}

static inline void
put_op (MitogenPickleWriter *w,
        guint8               op)
{
  *writer_reserve (w, 1) = op;
  w->len++;
}

static inline void
put_le32 (guint8  *p,
          guint32  v)
{
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
  p[2] = (v >> 16) & 0xff;
  p[3] = (v >> 24) & 0xff;
}

void
_mitogen_pickle_writer_init (MitogenPickleWriter *w,
                             MitogenPickleFlags   flags,
                             gsize                size_hint)
{
  g_return_if_fail (w != NULL);

  w->allocated = MAX (size_hint, 64);
  w->data = g_malloc (w->allocated);
  w->len = 0;
  w->flags = flags;
  w->share_big_bytes = FALSE;
  w->pieces = NULL;
  w->owner = NULL;
  w->owner_bytes = NULL;
  w->data[w->len++] = MITOGEN_PICKLE_OP_PROTO;
  w->data[w->len++] = 2;
}

void
_mitogen_pickle_writer_clear (MitogenPickleWriter *w)
{
  g_return_if_fail (w != NULL);

  g_clear_pointer (&w->data, g_free);
  g_clear_pointer (&w->pieces, g_ptr_array_unref);
  g_clear_pointer (&w->owner_bytes, g_bytes_unref);
  w->owner = NULL;
  w->len = 0;
  w->allocated = 0;
}

/* Ends the current piece, so that the next one can be @shared. */
static void
writer_cut (MitogenPickleWriter *w,
            GBytes              *shared)
{
  if (w->pieces == NULL)
    w->pieces = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_ptr_array_add (w->pieces, g_bytes_new_take (g_steal_pointer (&w->data), w->len));
  g_ptr_array_add (w->pieces, shared);
  w->allocated = 256;
  w->data = g_malloc (w->allocated);
  w->len = 0;
}

GBytes *
_mitogen_pickle_join_pieces (GPtrArray *pieces)
{
  gsize len = 0;
  gsize offset = 0;
  guint8 *data;

  if (pieces->len == 1)
    return g_bytes_ref (g_ptr_array_index (pieces, 0));

  for (guint i = 0; i < pieces->len; i++)
    len += g_bytes_get_size (g_ptr_array_index (pieces, i));
  data = g_malloc (len);
  for (guint i = 0; i < pieces->len; i++)
    {
      gsize piece_len;
      gconstpointer piece = g_bytes_get_data (g_ptr_array_index (pieces, i), &piece_len);

      memcpy (data + offset, piece, piece_len);
      offset += piece_len;
    }

  return g_bytes_new_take (data, len);
}

GPtrArray *
_mitogen_pickle_writer_finish_pieces (MitogenPickleWriter *w)
{
  GPtrArray *pieces;

  g_return_val_if_fail (w != NULL && w->data != NULL, NULL);

  pieces = g_steal_pointer (&w->pieces);
  if (pieces == NULL)
    pieces = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_ptr_array_add (pieces, _mitogen_pickle_writer_finish (w));

  return pieces;
}

GBytes *
_mitogen_pickle_writer_finish (MitogenPickleWriter *w)
{
  guint8 *data;
  gsize len;

  g_return_val_if_fail (w != NULL && w->data != NULL, NULL);

  if (w->pieces != NULL)
    {
      /* Pieces asked for as one buffer. */
      g_autoptr(GPtrArray) pieces = _mitogen_pickle_writer_finish_pieces (w);

      return _mitogen_pickle_join_pieces (pieces);
    }
  put_op (w, MITOGEN_PICKLE_OP_STOP);
  len = w->len;
  data = g_steal_pointer (&w->data);
  /* Give back a large unused tail; small slack is not worth a copy. */
  if (w->allocated - len > 4096 && w->allocated - len > len / 8)
    data = g_realloc (data, len);
  _mitogen_pickle_writer_clear (w);

  return g_bytes_new_take (data, len);
}

void
_mitogen_pickle_writer_none (MitogenPickleWriter *w)
{
  put_op (w, MITOGEN_PICKLE_OP_NONE);
}

void
_mitogen_pickle_writer_bool (MitogenPickleWriter *w,
                             gboolean             value)
{
  put_op (w, value ? MITOGEN_PICKLE_OP_NEWTRUE : MITOGEN_PICKLE_OP_NEWFALSE);
}

/* LONG1 with the shortest little-endian two's complement form, as Python
 * writes it. @ninth_zero: @bits is an unsigned value above G_MAXINT64,
 * which needs a ninth, zero, byte. */
static void
write_long1 (MitogenPickleWriter *w,
             guint64              bits,
             gboolean             ninth_zero)
{
  guint8 *p = writer_reserve (w, 11);
  guint8 b[9];
  guint n;

  for (n = 0; n < 8; n++)
    b[n] = (bits >> (8 * n)) & 0xff;

  if (ninth_zero)
    {
      b[8] = 0;
      n = 9;
    }
  else
    {
      n = 8;
      while (n > 1 &&
             ((b[n - 1] == 0x00 && (b[n - 2] & 0x80) == 0) ||
              (b[n - 1] == 0xff && (b[n - 2] & 0x80) != 0)))
        n--;
    }

  p[0] = MITOGEN_PICKLE_OP_LONG1;
  p[1] = n;
  memcpy (p + 2, b, n);
  w->len += 2 + n;
}

void
_mitogen_pickle_writer_int64 (MitogenPickleWriter *w,
                              gint64               value)
{
  guint8 *p = writer_reserve (w, 5);

  if (value >= 0 && value <= 0xff)
    {
      p[0] = MITOGEN_PICKLE_OP_BININT1;
      p[1] = value;
      w->len += 2;
    }
  else if (value >= 0 && value <= 0xffff)
    {
      p[0] = MITOGEN_PICKLE_OP_BININT2;
      p[1] = value & 0xff;
      p[2] = value >> 8;
      w->len += 3;
    }
  else if (value >= G_MININT32 && value <= G_MAXINT32)
    {
      p[0] = MITOGEN_PICKLE_OP_BININT;
      put_le32 (p + 1, (guint32) value);
      w->len += 5;
    }
  else
    write_long1 (w, (guint64) value, FALSE);
}

void
_mitogen_pickle_writer_uint64 (MitogenPickleWriter *w,
                               guint64              value)
{
  if (value <= G_MAXINT64)
    _mitogen_pickle_writer_int64 (w, (gint64) value);
  else
    write_long1 (w, value, TRUE);
}

void
_mitogen_pickle_writer_double (MitogenPickleWriter *w,
                               double               value)
{
  guint8 *p = writer_reserve (w, 9);
  guint64 bits;
  guint i;

  memcpy (&bits, &value, sizeof bits);
  p[0] = MITOGEN_PICKLE_OP_BINFLOAT;
  for (i = 0; i < 8; i++)
    p[1 + i] = (bits >> (56 - 8 * i)) & 0xff;
  w->len += 9;
}

/* BINUNICODE of @len (<= G_MAXUINT32) bytes of UTF-8. */
static void
write_binunicode (MitogenPickleWriter *w,
                  const char          *str,
                  gsize                len)
{
  guint8 *p = writer_reserve (w, 5 + len);

  p[0] = MITOGEN_PICKLE_OP_BINUNICODE;
  put_le32 (p + 1, (guint32) len);
  memcpy (p + 5, str, len);
  w->len += 5 + len;
}

void
_mitogen_pickle_writer_str (MitogenPickleWriter *w,
                            const char          *str,
                            gssize               len)
{
  gsize ulen;

  if (str == NULL)
    {
      _mitogen_pickle_writer_none (w);
      return;
    }

  ulen = len < 0 ? strlen (str) : (gsize) len;
  g_return_if_fail (ulen <= G_MAXUINT32);
  g_return_if_fail (g_utf8_validate_len (str, ulen, NULL));

  write_binunicode (w, str, ulen);
}

static void
write_global (MitogenPickleWriter *w,
              const char          *module,
              gsize                module_len,
              const char          *name,
              gsize                name_len)
{
  guint8 *p = writer_reserve (w, 3 + module_len + name_len);

  *p++ = MITOGEN_PICKLE_OP_GLOBAL;
  memcpy (p, module, module_len);
  p += module_len;
  *p++ = '\n';
  memcpy (p, name, name_len);
  p += name_len;
  *p++ = '\n';
  w->len += 3 + module_len + name_len;
}

#define WRITE_GLOBAL(w, module, name) \
  write_global ((w), module, sizeof module - 1, name, sizeof name - 1)

void
_mitogen_pickle_writer_global (MitogenPickleWriter *w,
                               const char          *module,
                               const char          *name)
{
  g_return_if_fail (module != NULL && strchr (module, '\n') == NULL);
  g_return_if_fail (name != NULL && strchr (name, '\n') == NULL);

  write_global (w, module, strlen (module), name, strlen (name));
}

/* How many bytes of UTF-8 the latin-1 text of @data takes. */
static gsize
latin1_utf8_len (const guint8 *data,
                 gsize         len)
{
  gsize n = len;
  gsize i = 0;

  /* Eight bytes at a time: text of the high half only costs a byte more. */
  for (; i + 8 <= len; i += 8)
    {
      guint64 word;

      memcpy (&word, data + i, 8);
      word &= G_GUINT64_CONSTANT (0x8080808080808080);
      if (word != 0)
        n += __builtin_popcountll (word);
    }
  for (; i < len; i++)
    n += data[i] >> 7;

  return n;
}

/* The size limits of each bytes encoding; checked before writing so that
 * an error leaves nothing half-written. */
static gboolean
check_bytes_size (MitogenPickleFlags   flags,
                  const guint8        *data,
                  gsize                len,
                  GError             **error)
{
  gsize limit;
  gsize encoded = len;

  if (flags & MITOGEN_PICKLE_FLAGS_BYTES_VIA_CODECS)
    {
      limit = G_MAXUINT32;
      if (len <= G_MAXUINT32)
        encoded = latin1_utf8_len (data, len);
    }
  else if (flags & MITOGEN_PICKLE_FLAGS_BYTES_AS_STRING)
    limit = G_MAXINT32;
  else
    limit = G_MAXUINT32;

  if (encoded > limit)
    {
      g_set_error (error, MITOGEN_CODEC_ERROR,
                   MITOGEN_CODEC_ERROR_UNSUPPORTED_TYPE,
                   "Bytes of %" G_GSIZE_FORMAT " bytes are too long for a "
                   "protocol 2 pickle", len);
      return FALSE;
    }

  return TRUE;
}

/* A reference to @len bytes at @bytes if the writer shares them: they are
 * big and inside the serialised leaf being written. */
static GBytes *
shared_bytes (MitogenPickleWriter *w,
              const guint8        *bytes,
              gsize                len)
{
  const guint8 *base;
  gsize size;

  if (!w->share_big_bytes || w->owner == NULL || len < MITOGEN_PICKLE_SHARE_MIN_SIZE)
    return NULL;
  if (w->owner_bytes == NULL)
    w->owner_bytes = g_variant_get_data_as_bytes (w->owner);
  base = g_bytes_get_data (w->owner_bytes, &size);
  if (base == NULL || len > size || (guintptr) bytes < (guintptr) base ||
      (guintptr) bytes - (guintptr) base > size - len)
    return NULL;

  return g_bytes_new_from_bytes (w->owner_bytes, bytes - base, len);
}

void
_mitogen_pickle_writer_bytes (MitogenPickleWriter *w,
                              gconstpointer        data,
                              gsize                len)
{
  const guint8 *bytes = data;
  GBytes *shared;
  guint8 *p;

  g_return_if_fail (data != NULL || len == 0);

  if (w->flags & MITOGEN_PICKLE_FLAGS_BYTES_VIA_CODECS)
    {
      gsize ulen;
      gsize i;

      if (len == 0)
        {
          WRITE_GLOBAL (w, "__builtin__", "bytes");
          put_op (w, MITOGEN_PICKLE_OP_EMPTY_TUPLE);
          put_op (w, MITOGEN_PICKLE_OP_REDUCE);
          return;
        }

      ulen = latin1_utf8_len (bytes, len);
      g_return_if_fail (ulen <= G_MAXUINT32);

      WRITE_GLOBAL (w, "_codecs", "encode");
      p = writer_reserve (w, 5 + ulen + 1);
      p[0] = MITOGEN_PICKLE_OP_BINUNICODE;
      put_le32 (p + 1, (guint32) ulen);
      p += 5;
      if (ulen == len)
        memcpy (p, bytes, len);
      else
        {
          /* Two bytes written per byte, the second kept only for the high
           * half: no branch on the data (the reserve above has the byte of
           * slack the last write may need). */
          for (i = 0; i < len; i++)
            {
              guint8 b = bytes[i];
              guint hi = b >> 7;

              p[0] = hi ? (0xc0 | (b >> 6)) : b;
              p[1] = 0x80 | (b & 0x3f);
              p += 1 + hi;
            }
        }
      w->len += 5 + ulen;
      write_binunicode (w, "latin1", 6);
      put_op (w, MITOGEN_PICKLE_OP_TUPLE2);
      put_op (w, MITOGEN_PICKLE_OP_REDUCE);
      return;
    }

  shared = shared_bytes (w, bytes, len);
  p = writer_reserve (w, 5 + (shared ? 0 : len));
  if (len < 256)
    {
      p[0] = (w->flags & MITOGEN_PICKLE_FLAGS_BYTES_AS_STRING) ?
        MITOGEN_PICKLE_OP_SHORT_BINSTRING : MITOGEN_PICKLE_OP_SHORT_BINBYTES;
      p[1] = len;
      p += 2;
      w->len += 2;
    }
  else
    {
      if (w->flags & MITOGEN_PICKLE_FLAGS_BYTES_AS_STRING)
        {
          g_return_if_fail (len <= G_MAXINT32);
          p[0] = MITOGEN_PICKLE_OP_BINSTRING;
        }
      else
        {
          g_return_if_fail (len <= G_MAXUINT32);
          p[0] = MITOGEN_PICKLE_OP_BINBYTES;
        }
      put_le32 (p + 1, (guint32) len);
      p += 5;
      w->len += 5;
    }
  if (shared != NULL)
    writer_cut (w, shared);
  else
    {
      if (len > 0)
        memcpy (p, bytes, len);
      w->len += len;
    }
}

void
_mitogen_pickle_writer_mark (MitogenPickleWriter *w)
{
  put_op (w, MITOGEN_PICKLE_OP_MARK);
}

void
_mitogen_pickle_writer_tuple (MitogenPickleWriter *w)
{
  put_op (w, MITOGEN_PICKLE_OP_TUPLE);
}

void
_mitogen_pickle_writer_tuple_n (MitogenPickleWriter *w,
                                guint                n)
{
  static const guint8 ops[] = {
    MITOGEN_PICKLE_OP_EMPTY_TUPLE, MITOGEN_PICKLE_OP_TUPLE1,
    MITOGEN_PICKLE_OP_TUPLE2, MITOGEN_PICKLE_OP_TUPLE3,
  };

  g_return_if_fail (n <= 3);
  put_op (w, ops[n]);
}

void
_mitogen_pickle_writer_empty_list (MitogenPickleWriter *w)
{
  put_op (w, MITOGEN_PICKLE_OP_EMPTY_LIST);
}

void
_mitogen_pickle_writer_append (MitogenPickleWriter *w)
{
  put_op (w, MITOGEN_PICKLE_OP_APPEND);
}

void
_mitogen_pickle_writer_appends (MitogenPickleWriter *w)
{
  put_op (w, MITOGEN_PICKLE_OP_APPENDS);
}

void
_mitogen_pickle_writer_empty_dict (MitogenPickleWriter *w)
{
  put_op (w, MITOGEN_PICKLE_OP_EMPTY_DICT);
}

void
_mitogen_pickle_writer_setitem (MitogenPickleWriter *w)
{
  put_op (w, MITOGEN_PICKLE_OP_SETITEM);
}

void
_mitogen_pickle_writer_setitems (MitogenPickleWriter *w)
{
  put_op (w, MITOGEN_PICKLE_OP_SETITEMS);
}

void
_mitogen_pickle_writer_reduce (MitogenPickleWriter *w)
{
  put_op (w, MITOGEN_PICKLE_OP_REDUCE);
}

void
_mitogen_pickle_writer_context (MitogenPickleWriter *w,
                                guint32              context_id,
                                const char          *name)
{
  WRITE_GLOBAL (w, "mitogen.core", "_unpickle_context");
  _mitogen_pickle_writer_int64 (w, context_id);
  _mitogen_pickle_writer_str (w, name, -1);
  put_op (w, MITOGEN_PICKLE_OP_TUPLE2);
  put_op (w, MITOGEN_PICKLE_OP_REDUCE);
}

void
_mitogen_pickle_writer_sender (MitogenPickleWriter *w,
                               guint32              context_id,
                               guint32              handle)
{
  WRITE_GLOBAL (w, "mitogen.core", "_unpickle_sender");
  _mitogen_pickle_writer_int64 (w, context_id);
  _mitogen_pickle_writer_int64 (w, handle);
  put_op (w, MITOGEN_PICKLE_OP_TUPLE2);
  put_op (w, MITOGEN_PICKLE_OP_REDUCE);
}

/* ------------------------------------------------------------------ */
/* Serialised GVariant reader                                          */

/* Past one complete type in a valid type string. */
static const char *
type_skip (const char *t)
{
  int depth = 0;

  for (;;)
    {
      switch (*t++)
        {
        case 'a':
        case 'm':
          continue;
        case '(':
        case '{':
          depth++;
          continue;
        case ')':
        case '}':
          depth--;
          break;
        default:
          break;
        }
      if (depth == 0)
        return t;
    }
}

/* Alignment (as a mask: 0, 1, 3 or 7) and fixed size (0: variable) of the
 * type at @t. Recursion follows the type's nesting, which GVariant bounds. */
static void
type_info (const char *t,
           guint      *alignment,
           gsize      *fixed_size)
{
  switch (*t)
    {
    case 'b':
    case 'y':
      *alignment = 0;
      *fixed_size = 1;
      return;
    case 'n':
    case 'q':
      *alignment = 1;
      *fixed_size = 2;
      return;
    case 'i':
    case 'u':
    case 'h':
      *alignment = 3;
      *fixed_size = 4;
      return;
    case 'x':
    case 't':
    case 'd':
      *alignment = 7;
      *fixed_size = 8;
      return;
    case 's':
    case 'o':
    case 'g':
      *alignment = 0;
      *fixed_size = 0;
      return;
    case 'v':
      *alignment = 7;
      *fixed_size = 0;
      return;
    case 'a':
    case 'm':
      type_info (t + 1, alignment, fixed_size);
      *fixed_size = 0;
      return;
    case '(':
    case '{':
      {
        guint align = 0;
        gsize offset = 0;
        gboolean fixed = TRUE;

        t++;
        if (*t == ')')
          {
            /* The unit type is one zero byte. */
            *alignment = 0;
            *fixed_size = 1;
            return;
          }
        while (*t != ')' && *t != '}')
          {
            guint ma;
            gsize mf;

            type_info (t, &ma, &mf);
            align |= ma;
            if (mf == 0)
              fixed = FALSE;
            else if (fixed)
              offset = ((offset + ma) & ~(gsize) ma) + mf;
            t = type_skip (t);
          }
        *alignment = align;
        *fixed_size = fixed ? ((offset + align) & ~(gsize) align) : 0;
        return;
      }
    default:
      g_assert_not_reached ();
    }
}

static inline gsize
offset_size_for (gsize size)
{
  if (size > G_MAXUINT32)
    return 8;
  if (size > G_MAXUINT16)
    return 4;
  if (size > G_MAXUINT8)
    return 2;
  if (size > 0)
    return 1;
  return 0;
}

static inline gsize
read_offset (const guint8 *p,
             gsize         offset_size)
{
  gsize v = 0;
  gsize i;

  for (i = offset_size; i > 0; i--)
    v = (v << 8) | p[i - 1];
  return v;
}

static gboolean
not_normal (GError **error)
{
  g_set_error_literal (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_MALFORMED,
                       "GVariant data is not in normal form");
  return FALSE;
}

/* Members of a tuple or dictionary entry, in order. */
typedef struct
{
  const char *type;          /* the next member's type */
  const guint8 *data;
  gsize offset;              /* where the next member may start */
  gsize frame_end;           /* start of the framing offsets not yet read */
  gsize offset_size;
} MemberIter;

static void
member_iter_init (MemberIter   *it,
                  const char   *type,
                  const guint8 *data,
                  gsize         size)
{
  it->type = type + 1;
  it->data = data;
  it->offset = 0;
  it->frame_end = size;
  it->offset_size = offset_size_for (size);
}

/* 1: a member; 0: no more; -1: error. */
static int
member_iter_next (MemberIter    *it,
                  const char   **type,
                  const guint8 **data,
                  gsize         *size,
                  GError       **error)
{
  guint align;
  gsize fixed;
  gsize start;
  gsize end;
  const char *next;

  if (*it->type == ')' || *it->type == '}')
    return 0;

  type_info (it->type, &align, &fixed);
  next = type_skip (it->type);
  start = (it->offset + align) & ~(gsize) align;

  if (fixed != 0)
    end = start + fixed;
  else if (*next == ')' || *next == '}')
    end = it->frame_end;
  else
    {
      if (it->frame_end < it->offset_size)
        {
          not_normal (error);
          return -1;
        }
      it->frame_end -= it->offset_size;
      end = read_offset (it->data + it->frame_end, it->offset_size);
    }

  if (start > end || end > it->frame_end)
    {
      not_normal (error);
      return -1;
    }

  *type = it->type;
  *data = it->data + start;
  *size = end - start;
  it->type = next;
  it->offset = end;
  return 1;
}

/* Elements of an array. */
typedef struct
{
  const guint8 *data;
  gsize n;
  gsize i;
  gsize fixed;
  guint align;
  gsize offset_size;
  const guint8 *offsets;
  gsize offsets_start;
  gsize prev_end;
} ArrayIter;

static gboolean
array_iter_init (ArrayIter     *it,
                 const char    *elem_type,
                 const guint8  *data,
                 gsize          size,
                 GError       **error)
{
  memset (it, 0, sizeof *it);
  it->data = data;
  type_info (elem_type, &it->align, &it->fixed);

  if (it->fixed != 0)
    {
      if (size % it->fixed != 0)
        return not_normal (error);
      it->n = size / it->fixed;
      return TRUE;
    }

  if (size == 0)
    return TRUE;

  it->offset_size = offset_size_for (size);
  it->offsets_start = read_offset (data + size - it->offset_size, it->offset_size);
  if (it->offsets_start > size ||
      (size - it->offsets_start) % it->offset_size != 0 ||
      size == it->offsets_start)
    return not_normal (error);
  it->offsets = data + it->offsets_start;
  it->n = (size - it->offsets_start) / it->offset_size;
  return TRUE;
}

static int
array_iter_next (ArrayIter     *it,
                 const guint8 **data,
                 gsize         *size,
                 GError       **error)
{
  gsize start;
  gsize end;

  if (it->i == it->n)
    return 0;

  if (it->fixed != 0)
    {
      *data = it->data + it->i * it->fixed;
      *size = it->fixed;
      it->i++;
      return 1;
    }

  start = (it->prev_end + it->align) & ~(gsize) it->align;
  end = read_offset (it->offsets + it->i * it->offset_size, it->offset_size);
  if (start > end || end > it->offsets_start)
    {
      not_normal (error);
      return -1;
    }

  *data = it->data + start;
  *size = end - start;
  it->prev_end = end;
  it->i++;
  return 1;
}

static gint64
read_signed (const guint8 *p,
             gsize         n)
{
  guint64 v = read_offset (p, n);

  if (n < 8 && (v & (G_GUINT64_CONSTANT (1) << (8 * n - 1))))
    v |= ~G_GUINT64_CONSTANT (0) << (8 * n);
  return (gint64) v;
}

/* A canonical decimal guint32 (no sign, no leading zero). */
static gboolean
parse_u32 (const char *s,
           gsize       len,
           guint32    *out)
{
  guint64 v = 0;
  gsize i;

  if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
    return FALSE;
  for (i = 0; i < len; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return FALSE;
      v = v * 10 + (s[i] - '0');
    }
  if (v > G_MAXUINT32)
    return FALSE;
  *out = (guint32) v;
  return TRUE;
}

static void
write_object_path (MitogenPickleWriter *w,
                   const char          *path,
                   gsize                len)
{
  static const char ctx_prefix[] = MITOGEN_PICKLE_CONTEXT_PATH_PREFIX;
  static const char sender_prefix[] = MITOGEN_PICKLE_SENDER_PATH_PREFIX;
  guint32 a;
  guint32 b;

  if (len > sizeof ctx_prefix - 1 &&
      memcmp (path, ctx_prefix, sizeof ctx_prefix - 1) == 0 &&
      parse_u32 (path + sizeof ctx_prefix - 1, len - (sizeof ctx_prefix - 1), &a))
    {
      _mitogen_pickle_writer_context (w, a, NULL);
      return;
    }

  if (len > sizeof sender_prefix - 1 &&
      memcmp (path, sender_prefix, sizeof sender_prefix - 1) == 0)
    {
      const char *ids = path + sizeof sender_prefix - 1;
      gsize ids_len = len - (sizeof sender_prefix - 1);
      const char *slash = memchr (ids, '/', ids_len);

      /* Peers refuse handle 0, so such a path stays a string. */
      if (slash != NULL &&
          parse_u32 (ids, slash - ids, &a) &&
          parse_u32 (slash + 1, ids_len - (slash - ids) - 1, &b) &&
          b > 0)
        {
          _mitogen_pickle_writer_sender (w, a, b);
          return;
        }
    }

  write_binunicode (w, path, len);
}

static gboolean write_serialised (MitogenPickleWriter  *w,
                                  const char           *type,
                                  const guint8         *data,
                                  gsize                 size,
                                  guint                 depth,
                                  guint                 level,
                                  GError              **error);

static gboolean
too_deep (GError **error)
{
  g_set_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_TOO_DEEP,
               "Value nests deeper than %d containers",
               MITOGEN_PICKLE_MAX_DEPTH);
  return FALSE;
}

/* A string of a serialised `s`, `o` or `g`: @size includes the NUL. */
static gboolean
string_of (const guint8  *data,
           gsize          size,
           gsize         *len,
           GError       **error)
{
  if (size == 0 || data[size - 1] != '\0')
    return not_normal (error);
  if (size - 1 > G_MAXUINT32)
    {
      g_set_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_UNSUPPORTED_TYPE,
                   "A string of %" G_GSIZE_FORMAT " bytes is too long for a "
                   "protocol 2 pickle", size - 1);
      return FALSE;
    }
  *len = size - 1;
  return TRUE;
}

/* The inner value of a serialised variant. */
static gboolean
variant_of (const guint8  *data,
            gsize          size,
            const char   **type,
            gsize         *inner_size,
            GError       **error)
{
  gsize i = size;
  const char *end;

  while (i > 0 && data[i - 1] != '\0')
    i--;
  if (i == 0 ||
      !g_variant_type_string_scan ((const char *) data + i,
                                   (const char *) data + size, &end) ||
      end != (const char *) data + size)
    return not_normal (error);

  *type = (const char *) data + i;
  *inner_size = i - 1;
  return TRUE;
}

/* Python appends and sets items in batches of BATCH_SIZE: MARK ... APPENDS
 * (or SETITEMS), except that a batch of one is a plain APPEND (SETITEM).
 * @remaining counts the items after the current one. */
static inline void
batch_before (MitogenPickleWriter *w,
              gsize                in_batch,
              gsize                remaining)
{
  if (in_batch == 0 && remaining > 0)
    put_op (w, MITOGEN_PICKLE_OP_MARK);
}

static inline void
batch_after (MitogenPickleWriter *w,
             gsize               *in_batch,
             gsize                remaining,
             guint8               single,
             guint8               many)
{
  if (remaining == 0 && *in_batch == 0)
    put_op (w, single);
  else if (++*in_batch == BATCH_SIZE || remaining == 0)
    {
      put_op (w, many);
      *in_batch = 0;
    }
}

static gboolean
write_dict (MitogenPickleWriter  *w,
            const char           *type,
            const guint8         *data,
            gsize                 size,
            guint                 depth,
            guint                 level,
            GError              **error)
{
  ArrayIter it;
  const guint8 *edata;
  gsize esize;
  gsize in_batch = 0;
  int r;

  if (depth + 1 > MITOGEN_PICKLE_MAX_DEPTH)
    return too_deep (error);
  if (!array_iter_init (&it, type + 1, data, size, error))
    return FALSE;

  put_op (w, MITOGEN_PICKLE_OP_EMPTY_DICT);
  while ((r = array_iter_next (&it, &edata, &esize, error)) == 1)
    {
      MemberIter members;
      const char *mtype;
      const guint8 *mdata;
      gsize msize;
      guint i;

      batch_before (w, in_batch, it.n - it.i);
      member_iter_init (&members, type + 1, edata, esize);
      for (i = 0; i < 2; i++)
        {
          r = member_iter_next (&members, &mtype, &mdata, &msize, error);
          if (r == 0)
            return not_normal (error);
          if (r < 0)
            return FALSE;
          if (!write_serialised (w, mtype, mdata, msize, depth + 1, level + 2, error))
            return FALSE;
        }

      batch_after (w, &in_batch, it.n - it.i,
                   MITOGEN_PICKLE_OP_SETITEM, MITOGEN_PICKLE_OP_SETITEMS);
    }

  return r == 0;
}

static gboolean
write_list (MitogenPickleWriter  *w,
            const char           *type,
            const guint8         *data,
            gsize                 size,
            guint                 depth,
            guint                 level,
            GError              **error)
{
  ArrayIter it;
  const guint8 *edata;
  gsize esize;
  gsize in_batch = 0;
  int r;

  if (depth + 1 > MITOGEN_PICKLE_MAX_DEPTH)
    return too_deep (error);
  if (!array_iter_init (&it, type + 1, data, size, error))
    return FALSE;

  put_op (w, MITOGEN_PICKLE_OP_EMPTY_LIST);
  while ((r = array_iter_next (&it, &edata, &esize, error)) == 1)
    {
      batch_before (w, in_batch, it.n - it.i);

      if (!write_serialised (w, type + 1, edata, esize, depth + 1, level + 1, error))
        return FALSE;

      batch_after (w, &in_batch, it.n - it.i,
                   MITOGEN_PICKLE_OP_APPEND, MITOGEN_PICKLE_OP_APPENDS);
    }

  return r == 0;
}

/* Whether the type of @len bytes at @t is exactly @want. */
static inline gboolean
type_is (const char *t,
         gsize       len,
         const char *want)
{
  return strlen (want) == len && memcmp (t, want, len) == 0;
}

/* A `(sv)` carrying one of the MITOGEN_PICKLE_TAG_* tags becomes the
 * mitogen.core object it stands for. 1: written; 0: an ordinary tuple,
 * nothing written; -1: error. */
static int
write_tagged (MitogenPickleWriter  *w,
              const guint8         *data,
              gsize                 size,
              guint                 depth,
              guint                 level,
              GError              **error)
{
  MemberIter members;
  const char *mtype;
  const guint8 *tag;
  gsize tag_size;
  const guint8 *vdata;
  gsize vsize;
  const char *itype;
  gsize isize;
  gsize itype_len;
  gsize len;

  member_iter_init (&members, "(sv)", data, size);
  if (member_iter_next (&members, &mtype, &tag, &tag_size, error) != 1 ||
      member_iter_next (&members, &mtype, &vdata, &vsize, error) != 1 ||
      !variant_of (vdata, vsize, &itype, &isize, error))
    {
      /* Either iterator result other than 1 is an error here: a (sv) has
       * two members. */
      if (error != NULL && *error == NULL)
        not_normal (error);
      return -1;
    }
  itype_len = vsize - isize - 1;

#define IS_TAG(t) (tag_size == sizeof t && memcmp (tag, t, sizeof t) == 0)
  if (IS_TAG (MITOGEN_PICKLE_TAG_CALL_ERROR) && type_is (itype, itype_len, "s"))
    {
      if (!string_of (vdata, isize, &len, error))
        return -1;
      WRITE_GLOBAL (w, "mitogen.core", "_unpickle_call_error");
      write_binunicode (w, (const char *) vdata, len);
    }
  else if (IS_TAG (MITOGEN_PICKLE_TAG_SECRET) && type_is (itype, itype_len, "s"))
    {
      if (!string_of (vdata, isize, &len, error))
        return -1;
      WRITE_GLOBAL (w, "mitogen.core", "Secret");
      write_binunicode (w, (const char *) vdata, len);
    }
  else if (IS_TAG (MITOGEN_PICKLE_TAG_BLOB) && type_is (itype, itype_len, "ay"))
    {
      if (!check_bytes_size (w->flags, vdata, isize, error))
        return -1;
      WRITE_GLOBAL (w, "mitogen.core", "Blob");
      _mitogen_pickle_writer_bytes (w, vdata, isize);
    }
  else if (IS_TAG (MITOGEN_PICKLE_TAG_KWARGS) && itype_len > 3 &&
           memcmp (itype, "a{s", 3) == 0)
    {
      WRITE_GLOBAL (w, "mitogen.core", "Kwargs");
      if (!write_dict (w, itype, vdata, isize, depth, level + 2, error))
        return -1;
    }
  else
    return 0;
#undef IS_TAG

  put_op (w, MITOGEN_PICKLE_OP_TUPLE1);
  put_op (w, MITOGEN_PICKLE_OP_REDUCE);
  return 1;
}

static gboolean
write_tuple (MitogenPickleWriter  *w,
             const char           *type,
             const guint8         *data,
             gsize                 size,
             guint                 depth,
             guint                 level,
             GError              **error)
{
  MemberIter members;
  const char *mtype;
  const guint8 *mdata;
  gsize msize;
  guint n = 0;
  int r;

  if (type[1] == ')')
    {
      put_op (w, MITOGEN_PICKLE_OP_EMPTY_TUPLE);
      return TRUE;
    }

  /* "(sv)" is a complete type, so a prefix match is an exact one. */
  if (strncmp (type, "(sv)", 4) == 0)
    {
      r = write_tagged (w, data, size, depth, level, error);
      if (r != 0)
        return r > 0;
    }

  if (depth + 1 > MITOGEN_PICKLE_MAX_DEPTH)
    return too_deep (error);

  /* Counting first decides between TUPLE1..3 and MARK ... TUPLE. */
  for (const char *t = type + 1; *t != ')' && *t != '}'; t = type_skip (t))
    n++;

  if (n > 3)
    put_op (w, MITOGEN_PICKLE_OP_MARK);

  member_iter_init (&members, type, data, size);
  while ((r = member_iter_next (&members, &mtype, &mdata, &msize, error)) == 1)
    if (!write_serialised (w, mtype, mdata, msize, depth + 1, level + 1, error))
      return FALSE;
  if (r < 0)
    return FALSE;

  if (n > 3)
    put_op (w, MITOGEN_PICKLE_OP_TUPLE);
  else
    _mitogen_pickle_writer_tuple_n (w, n);
  return TRUE;
}

static gboolean
write_serialised (MitogenPickleWriter  *w,
                  const char           *type,
                  const guint8         *data,
                  gsize                 size,
                  guint                 depth,
                  guint                 level,
                  GError              **error)
{
  gsize len;

  if (level > MAX_LEVELS)
    return too_deep (error);

  switch (type[0])
    {
    case 'b':
      if (size != 1)
        return not_normal (error);
      _mitogen_pickle_writer_bool (w, data[0] != 0);
      return TRUE;
    case 'y':
      if (size != 1)
        return not_normal (error);
      _mitogen_pickle_writer_int64 (w, data[0]);
      return TRUE;
    case 'n':
    case 'q':
      if (size != 2)
        return not_normal (error);
      _mitogen_pickle_writer_int64 (w, type[0] == 'n' ? read_signed (data, 2) :
                                    (gint64) read_offset (data, 2));
      return TRUE;
    case 'i':
    case 'h':
    case 'u':
      if (size != 4)
        return not_normal (error);
      _mitogen_pickle_writer_int64 (w, type[0] == 'u' ? (gint64) read_offset (data, 4) :
                                    read_signed (data, 4));
      return TRUE;
    case 'x':
      if (size != 8)
        return not_normal (error);
      _mitogen_pickle_writer_int64 (w, read_signed (data, 8));
      return TRUE;
    case 't':
      if (size != 8)
        return not_normal (error);
      _mitogen_pickle_writer_uint64 (w, read_offset (data, 8));
      return TRUE;
    case 'd':
      {
        double d;

        if (size != 8)
          return not_normal (error);
        memcpy (&d, data, 8);
        _mitogen_pickle_writer_double (w, d);
        return TRUE;
      }
    case 's':
    case 'g':
      if (!string_of (data, size, &len, error))
        return FALSE;
      write_binunicode (w, (const char *) data, len);
      return TRUE;
    case 'o':
      if (!string_of (data, size, &len, error))
        return FALSE;
      write_object_path (w, (const char *) data, len);
      return TRUE;
    case 'v':
      {
        const char *itype;
        gsize isize;

        if (!variant_of (data, size, &itype, &isize, error))
          return FALSE;
        return write_serialised (w, itype, data, isize, depth, level + 1, error);
      }
    case 'm':
      {
        guint align;
        gsize fixed;

        if (size == 0)
          {
            _mitogen_pickle_writer_none (w);
            return TRUE;
          }
        type_info (type + 1, &align, &fixed);
        if (fixed != 0)
          {
            if (size != fixed)
              return not_normal (error);
          }
        else
          {
            if (data[size - 1] != '\0')
              return not_normal (error);
            size--;
          }
        return write_serialised (w, type + 1, data, size, depth, level + 1, error);
      }
    case 'a':
      if (type[1] == 'y')
        {
          if (!check_bytes_size (w->flags, data, size, error))
            return FALSE;
          _mitogen_pickle_writer_bytes (w, data, size);
          return TRUE;
        }
      if (type[1] == '{')
        return write_dict (w, type, data, size, depth, level + 1, error);
      return write_list (w, type, data, size, depth, level + 1, error);
    case '(':
    case '{':
      return write_tuple (w, type, data, size, depth, level + 1, error);
    default:
      g_set_error (error, MITOGEN_CODEC_ERROR, MITOGEN_CODEC_ERROR_UNSUPPORTED_TYPE,
                   "GVariant type '%c' has no pickle form", type[0]);
      return FALSE;
    }
}

/* ------------------------------------------------------------------ */
/* GVariant trees                                                      */

/* A value built by GVariant constructors holds its children as GVariants
 * until something serialises it, which for a large value costs GLib far
 * more than the whole encode. Such "tree form" containers are walked with
 * g_variant_get_child_value(), which there only takes a reference; the
 * serialised parts (every leaf, and anything decoded) are read directly.
 * There is no public test for the form: a tree hands out the same child
 * twice, serialised data makes a new GVariant each time. Either walk is
 * correct for either form, so a wrong guess would only cost time. */
static gboolean
is_tree_form (GVariant *value)
{
  g_autoptr(GVariant) a = g_variant_get_child_value (value, 0);
  g_autoptr(GVariant) b = g_variant_get_child_value (value, 0);

  return a == b;
}

static gboolean
write_leaf (MitogenPickleWriter  *w,
            GVariant             *value,
            guint                 depth,
            guint                 level,
            GError              **error)
{
  g_autoptr(GVariant) normal = NULL;
  GVariant *outer_owner;
  GBytes *outer_bytes;
  const char *type;
  const guint8 *data;
  gsize size;
  gboolean ok;

  /* The reader relies on the normal form's layout. Values from GVariant
   * constructors, or decoded by mitogen_pickle_decode(), already are in
   * it (and say so without a check); only untrusted serialised data pays
   * for a copy. */
  if (g_variant_is_normal_form (value))
    normal = g_variant_ref (value);
  else
    normal = g_variant_get_normal_form (value);

  /* Every GVariant call takes a lock: on a walked tree of small values
   * they are most of the cost, so the size of a basic value is known
   * from its type, or (a string in normal form) from its one NUL. */
  type = g_variant_get_type_string (normal);
  data = g_variant_get_data (normal);
  switch (type[0])
    {
    case 'b':
    case 'y':
      size = 1;
      break;
    case 'n':
    case 'q':
      size = 2;
      break;
    case 'i':
    case 'u':
    case 'h':
      size = 4;
      break;
    case 'x':
    case 't':
    case 'd':
      size = 8;
      break;
    case 's':
    case 'o':
    case 'g':
      size = strlen ((const char *) data) + 1;
      break;
    default:
      size = g_variant_get_size (normal);
      if (data == NULL)
        data = (const guint8 *) "";
      break;
    }
  /* Bytes the writer will share take no room. */
  writer_reserve (w, (w->share_big_bytes && size >= MITOGEN_PICKLE_SHARE_MIN_SIZE &&
                      strcmp (type, "ay") == 0 ? 0 : size) + 16);

  outer_owner = w->owner;
  outer_bytes = g_steal_pointer (&w->owner_bytes);
  w->owner = normal;
  ok = write_serialised (w, type, data, size, depth, level, error);
  g_clear_pointer (&w->owner_bytes, g_bytes_unref);
  w->owner = outer_owner;
  w->owner_bytes = outer_bytes;

  return ok;
}

static gboolean write_value (MitogenPickleWriter  *w,
                             GVariant             *value,
                             guint                 depth,
                             guint                 level,
                             GError              **error);

static gboolean
write_child (MitogenPickleWriter  *w,
             GVariant             *value,
             gsize                 i,
             guint                 depth,
             guint                 level,
             GError              **error)
{
  g_autoptr(GVariant) child = g_variant_get_child_value (value, i);

  return write_value (w, child, depth, level, error);
}

/* 1: a tag written; 0: an ordinary tuple; -1: error. */
static int
write_tagged_tree (MitogenPickleWriter  *w,
                   GVariant             *value,
                   guint                 depth,
                   guint                 level,
                   GError              **error)
{
  g_autoptr(GVariant) tag = g_variant_get_child_value (value, 0);
  g_autoptr(GVariant) boxed = g_variant_get_child_value (value, 1);
  g_autoptr(GVariant) inner = g_variant_get_variant (boxed);
  const char *name = g_variant_get_string (tag, NULL);
  const char *itype = g_variant_get_type_string (inner);

  if (strcmp (name, MITOGEN_PICKLE_TAG_CALL_ERROR) == 0 && strcmp (itype, "s") == 0)
    WRITE_GLOBAL (w, "mitogen.core", "_unpickle_call_error");
  else if (strcmp (name, MITOGEN_PICKLE_TAG_SECRET) == 0 && strcmp (itype, "s") == 0)
    WRITE_GLOBAL (w, "mitogen.core", "Secret");
  else if (strcmp (name, MITOGEN_PICKLE_TAG_BLOB) == 0 && strcmp (itype, "ay") == 0)
    WRITE_GLOBAL (w, "mitogen.core", "Blob");
  else if (strcmp (name, MITOGEN_PICKLE_TAG_KWARGS) == 0 && g_str_has_prefix (itype, "a{s"))
    WRITE_GLOBAL (w, "mitogen.core", "Kwargs");
  else
    return 0;

  /* On error the writer holds a partial object, as with any value. */
  if (!write_value (w, inner, depth, level + 2, error))
    return -1;
  put_op (w, MITOGEN_PICKLE_OP_TUPLE1);
  put_op (w, MITOGEN_PICKLE_OP_REDUCE);
  return 1;
}

static gboolean
write_value (MitogenPickleWriter  *w,
             GVariant             *value,
             guint                 depth,
             guint                 level,
             GError              **error)
{
  const char *type = g_variant_get_type_string (value);
  gsize n;
  gsize i;
  gsize in_batch = 0;

  if (level > MAX_LEVELS)
    return too_deep (error);

  switch (type[0])
    {
    case 'v':
    case 'm':
    case '(':
    case '{':
      break;
    case 'a':
      if (type[1] != 'y')
        break;
      G_GNUC_FALLTHROUGH;
    default:
      return write_leaf (w, value, depth, level, error);
    }

  /* Untrusted serialised data must not reach g_variant_get_child_value()
   * (some GLib versions abort on it); the leaf path normalises it. A
   * value from GVariant constructors is trusted: the check is free. */
  if (!g_variant_is_normal_form (value))
    return write_leaf (w, value, depth, level, error);

  n = g_variant_n_children (value);
  if (n == 0 || !is_tree_form (value))
    return write_leaf (w, value, depth, level, error);

  switch (type[0])
    {
    case 'v':
    case 'm':
      return write_child (w, value, 0, depth, level + 1, error);

    case 'a':
      if (depth + 1 > MITOGEN_PICKLE_MAX_DEPTH)
        return too_deep (error);
      if (type[1] == '{')
        {
          put_op (w, MITOGEN_PICKLE_OP_EMPTY_DICT);
          for (i = 0; i < n; i++)
            {
              g_autoptr(GVariant) entry = g_variant_get_child_value (value, i);

              batch_before (w, in_batch, n - i - 1);
              if (!write_child (w, entry, 0, depth + 1, level + 2, error) ||
                  !write_child (w, entry, 1, depth + 1, level + 2, error))
                return FALSE;
              batch_after (w, &in_batch, n - i - 1,
                           MITOGEN_PICKLE_OP_SETITEM, MITOGEN_PICKLE_OP_SETITEMS);
            }
        }
      else
        {
          put_op (w, MITOGEN_PICKLE_OP_EMPTY_LIST);
          for (i = 0; i < n; i++)
            {
              batch_before (w, in_batch, n - i - 1);
              if (!write_child (w, value, i, depth + 1, level + 1, error))
                return FALSE;
              batch_after (w, &in_batch, n - i - 1,
                           MITOGEN_PICKLE_OP_APPEND, MITOGEN_PICKLE_OP_APPENDS);
            }
        }
      return TRUE;

    case '(':
    case '{':
      if (strcmp (type, "(sv)") == 0)
        {
          int r = write_tagged_tree (w, value, depth, level, error);

          if (r != 0)
            return r > 0;
        }
      if (depth + 1 > MITOGEN_PICKLE_MAX_DEPTH)
        return too_deep (error);
      if (n > 3)
        put_op (w, MITOGEN_PICKLE_OP_MARK);
      for (i = 0; i < n; i++)
        if (!write_child (w, value, i, depth + 1, level + 1, error))
          return FALSE;
      if (n > 3)
        put_op (w, MITOGEN_PICKLE_OP_TUPLE);
      else
        _mitogen_pickle_writer_tuple_n (w, n);
      return TRUE;

    default:
      g_assert_not_reached ();
    }
}

gboolean
_mitogen_pickle_writer_value (MitogenPickleWriter  *w,
                              GVariant             *value,
                              GError              **error)
{
  g_autoptr(GVariant) owned = NULL;

  g_return_val_if_fail (w != NULL && w->data != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  owned = g_variant_ref_sink (value);
  return write_value (w, owned, 0, 0, error);
}

gboolean
_mitogen_pickle_writer_kwargs (MitogenPickleWriter  *w,
                               GVariant             *dict,
                               GError              **error)
{
  g_autoptr(GVariant) owned = NULL;

  g_return_val_if_fail (w != NULL && w->data != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (dict != NULL)
    {
      owned = g_variant_ref_sink (dict);
      g_return_val_if_fail (g_str_has_prefix (g_variant_get_type_string (owned), "a{s"), FALSE);
    }

  WRITE_GLOBAL (w, "mitogen.core", "Kwargs");
  if (owned == NULL)
    put_op (w, MITOGEN_PICKLE_OP_EMPTY_DICT);
  else if (!write_value (w, owned, 0, 1, error))
    return FALSE;
  put_op (w, MITOGEN_PICKLE_OP_TUPLE1);
  put_op (w, MITOGEN_PICKLE_OP_REDUCE);
  return TRUE;
}

/**
 * mitogen_pickle_encode:
 * @value: the value to pickle; a floating reference is sunk
 * @flags: how to write bytes
 * @error: return location for a #GError
 *
 * Pickles @value in the form Mitogen 0.3 peers read: protocol 2 opcodes
 * (bytes excepted, see [flags@Mitogen.PickleFlags]), no memo.
 *
 * The mapping is the inverse of [func@Mitogen.pickle_decode]'s:
 *
 * - `b` is a bool; `y`, `n`, `q`, `i`, `u`, `x`, `t` and `h` are ints; `d`
 *   is a float;
 * - `s` and `g` are str; `o` is a `mitogen.core.Context` when it is
 *   %MITOGEN_PICKLE_CONTEXT_PATH_PREFIX followed by a decimal context id, a
 *   `mitogen.core.Sender` when it is %MITOGEN_PICKLE_SENDER_PATH_PREFIX
 *   followed by a context id, a slash and a non-zero handle, a str
 *   otherwise;
 * - a variant is its content; a maybe is None or its content;
 * - `ay` is bytes, any other dictionary type is a dict (keys converted by
 *   the same rules), any other array a list;
 * - a tuple or dictionary entry is a tuple, except a `(sv)` whose string is
 *   a tag: %MITOGEN_PICKLE_TAG_CALL_ERROR with a string,
 *   %MITOGEN_PICKLE_TAG_SECRET with a string, %MITOGEN_PICKLE_TAG_BLOB
 *   with bytes and %MITOGEN_PICKLE_TAG_KWARGS with a dictionary of string
 *   keys become the `mitogen.core` object they name.
 *
 * Fails with %MITOGEN_CODEC_ERROR_TOO_DEEP when containers nest deeper than
 * %MITOGEN_PICKLE_MAX_DEPTH, and %MITOGEN_CODEC_ERROR_UNSUPPORTED_TYPE for
 * a string or bytes too long for the chosen opcodes.
 *
 * Returns: (transfer full): the pickle, or %NULL with @error set
 *
 * Since: 1.0
 */
GBytes *
mitogen_pickle_encode (GVariant            *value,
                       MitogenPickleFlags   flags,
                       GError             **error)
{
  g_autoptr(GVariant) owned = NULL;
  MitogenPickleWriter w;

  g_return_val_if_fail (value != NULL, NULL);
  g_return_val_if_fail ((flags & ~(MITOGEN_PICKLE_FLAGS_BYTES_AS_STRING |
                                   MITOGEN_PICKLE_FLAGS_BYTES_VIA_CODECS)) == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  owned = g_variant_ref_sink (value);
  /* No size hint: g_variant_get_size() of a large tree costs as much as
   * serialising it. The leaves reserve their own size. */
  _mitogen_pickle_writer_init (&w, flags, 0);
  if (!_mitogen_pickle_writer_value (&w, owned, error))
    {
      _mitogen_pickle_writer_clear (&w);
      return NULL;
    }

  return _mitogen_pickle_writer_finish (&w);
}
