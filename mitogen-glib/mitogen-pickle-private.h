/* mitogen-pickle-private.h: pickle internals for siblings and tests
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-pickle.h"

G_BEGIN_DECLS

/* Opcodes of the pickle subset, named as in the pickle format description.
 * Only the encoder's protocol 2 set, the decoder's accepted set and the few
 * the tests need to build hostile input are listed. */
enum
{
  MITOGEN_PICKLE_OP_MARK = '(',
  MITOGEN_PICKLE_OP_STOP = '.',
  MITOGEN_PICKLE_OP_POP = '0',
  MITOGEN_PICKLE_OP_POP_MARK = '1',
  MITOGEN_PICKLE_OP_DUP = '2',
  MITOGEN_PICKLE_OP_INT = 'I',
  MITOGEN_PICKLE_OP_BININT = 'J',
  MITOGEN_PICKLE_OP_BININT1 = 'K',
  MITOGEN_PICKLE_OP_BININT2 = 'M',
  MITOGEN_PICKLE_OP_NONE = 'N',
  MITOGEN_PICKLE_OP_REDUCE = 'R',
  MITOGEN_PICKLE_OP_BINSTRING = 'T',
  MITOGEN_PICKLE_OP_SHORT_BINSTRING = 'U',
  MITOGEN_PICKLE_OP_BINUNICODE = 'X',
  MITOGEN_PICKLE_OP_APPEND = 'a',
  MITOGEN_PICKLE_OP_BUILD = 'b',
  MITOGEN_PICKLE_OP_GLOBAL = 'c',
  MITOGEN_PICKLE_OP_APPENDS = 'e',
  MITOGEN_PICKLE_OP_BINGET = 'h',
  MITOGEN_PICKLE_OP_LONG_BINGET = 'j',
  MITOGEN_PICKLE_OP_EMPTY_LIST = ']',
  MITOGEN_PICKLE_OP_BINPUT = 'q',
  MITOGEN_PICKLE_OP_LONG_BINPUT = 'r',
  MITOGEN_PICKLE_OP_SETITEM = 's',
  MITOGEN_PICKLE_OP_TUPLE = 't',
  MITOGEN_PICKLE_OP_SETITEMS = 'u',
  MITOGEN_PICKLE_OP_EMPTY_DICT = '}',
  MITOGEN_PICKLE_OP_EMPTY_TUPLE = ')',
  MITOGEN_PICKLE_OP_BINFLOAT = 'G',
  MITOGEN_PICKLE_OP_PROTO = 0x80,
  MITOGEN_PICKLE_OP_NEWOBJ = 0x81,
  MITOGEN_PICKLE_OP_TUPLE1 = 0x85,
  MITOGEN_PICKLE_OP_TUPLE2 = 0x86,
  MITOGEN_PICKLE_OP_TUPLE3 = 0x87,
  MITOGEN_PICKLE_OP_NEWTRUE = 0x88,
  MITOGEN_PICKLE_OP_NEWFALSE = 0x89,
  MITOGEN_PICKLE_OP_LONG1 = 0x8a,
  MITOGEN_PICKLE_OP_LONG4 = 0x8b,
  /* protocol 3 */
  MITOGEN_PICKLE_OP_BINBYTES = 'B',
  MITOGEN_PICKLE_OP_SHORT_BINBYTES = 'C',
  /* protocol 4 */
  MITOGEN_PICKLE_OP_SHORT_BINUNICODE = 0x8c,
  MITOGEN_PICKLE_OP_BINUNICODE8 = 0x8d,
  MITOGEN_PICKLE_OP_BINBYTES8 = 0x8e,
  MITOGEN_PICKLE_OP_EMPTY_SET = 0x8f,
  MITOGEN_PICKLE_OP_STACK_GLOBAL = 0x93,
  MITOGEN_PICKLE_OP_MEMOIZE = 0x94,
  MITOGEN_PICKLE_OP_FRAME = 0x95,
};

/* An incremental pickle writer: the router builds call tuples with it
 * without first building a GVariant of the whole tuple. Every function
 * appends the opcodes of one Python object (or one structural opcode) to
 * the buffer; composing them into a valid pickle is the caller's job. The
 * struct is public so it can live on the stack; treat the fields as
 * private. */
typedef struct
{
  guint8 *data;              /* (owned) */
  gsize len;
  gsize allocated;
  MitogenPickleFlags flags;
  /* Set share_big_bytes (after init) to have big bytes of a serialised
   * GVariant referenced, not copied: the pickle then comes in pieces
   * (_mitogen_pickle_writer_finish_pieces()). */
  gboolean share_big_bytes;
  GPtrArray *pieces;         /* (owned) (nullable) finished pieces before data */
  GVariant *owner;           /* (nullable) the leaf being written */
  GBytes *owner_bytes;       /* (owned) (nullable) its data, once needed */
} MitogenPickleWriter;

/* Bytes at least this long are referenced by a writer that shares. */
#define MITOGEN_PICKLE_SHARE_MIN_SIZE (64 * 1024)

/* Starts a pickle: writes PROTO 2. @size_hint pre-sizes the buffer (0 for
 * a small default). */
void     _mitogen_pickle_writer_init        (MitogenPickleWriter *w,
                                             MitogenPickleFlags   flags,
                                             gsize                size_hint);
/* Frees the buffer; the writer may be cleared twice. */
void     _mitogen_pickle_writer_clear       (MitogenPickleWriter *w);
/* Writes STOP and hands the pickle over; the writer is cleared. */
GBytes  *_mitogen_pickle_writer_finish      (MitogenPickleWriter *w);
/* The same, as the pieces the pickle was made in (one unless the writer
 * shared big bytes), for _mitogen_message_new_pieces(). */
GPtrArray *_mitogen_pickle_writer_finish_pieces (MitogenPickleWriter *w);
/* The pieces in one buffer (a reference when there is one piece). */
GBytes  *_mitogen_pickle_join_pieces        (GPtrArray           *pieces);

void     _mitogen_pickle_writer_none        (MitogenPickleWriter *w);
void     _mitogen_pickle_writer_bool        (MitogenPickleWriter *w,
                                             gboolean             value);
void     _mitogen_pickle_writer_int64       (MitogenPickleWriter *w,
                                             gint64               value);
void     _mitogen_pickle_writer_uint64      (MitogenPickleWriter *w,
                                             guint64              value);
void     _mitogen_pickle_writer_double      (MitogenPickleWriter *w,
                                             double               value);
/* @str must be valid UTF-8 (checked with g_return_if_fail); @len -1 means
 * NUL-terminated. None when @str is %NULL. */
void     _mitogen_pickle_writer_str         (MitogenPickleWriter *w,
                                             const char          *str,
                                             gssize               len);
/* Bytes as the writer's flags ask. */
void     _mitogen_pickle_writer_bytes       (MitogenPickleWriter *w,
                                             gconstpointer        data,
                                             gsize                len);
void     _mitogen_pickle_writer_mark        (MitogenPickleWriter *w);
/* TUPLE: a tuple of everything since the last mark. */
void     _mitogen_pickle_writer_tuple       (MitogenPickleWriter *w);
/* EMPTY_TUPLE or TUPLE1..3 of the @n (<= 3) objects last written. */
void     _mitogen_pickle_writer_tuple_n     (MitogenPickleWriter *w,
                                             guint                n);
void     _mitogen_pickle_writer_empty_list  (MitogenPickleWriter *w);
void     _mitogen_pickle_writer_append      (MitogenPickleWriter *w);
void     _mitogen_pickle_writer_appends     (MitogenPickleWriter *w);
void     _mitogen_pickle_writer_empty_dict  (MitogenPickleWriter *w);
void     _mitogen_pickle_writer_setitem     (MitogenPickleWriter *w);
void     _mitogen_pickle_writer_setitems    (MitogenPickleWriter *w);
/* GLOBAL module name: @module and @name must not contain a newline. */
void     _mitogen_pickle_writer_global      (MitogenPickleWriter *w,
                                             const char          *module,
                                             const char          *name);
void     _mitogen_pickle_writer_reduce      (MitogenPickleWriter *w);
/* mitogen.core._unpickle_context(id, name); @name may be %NULL. */
void     _mitogen_pickle_writer_context     (MitogenPickleWriter *w,
                                             guint32              context_id,
                                             const char          *name);
/* mitogen.core._unpickle_sender(context_id, handle). */
void     _mitogen_pickle_writer_sender      (MitogenPickleWriter *w,
                                             guint32              context_id,
                                             guint32              handle);
/* Any value, with the mapping of mitogen_pickle_encode(); a floating
 * @value is sunk. On error the buffer holds a partial object: clear the
 * writer. */
gboolean _mitogen_pickle_writer_value       (MitogenPickleWriter *w,
                                             GVariant            *value,
                                             GError             **error);
/* mitogen.core.Kwargs(dict): @dict is a dictionary with string keys
 * (`a{s*}`), or %NULL for Kwargs({}). A floating @dict is sunk. */
gboolean _mitogen_pickle_writer_kwargs      (MitogenPickleWriter *w,
                                             GVariant            *dict,
                                             GError             **error);

G_END_DECLS
