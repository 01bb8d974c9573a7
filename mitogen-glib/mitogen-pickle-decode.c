/* mitogen-pickle-decode.c: pickle -> GVariant (Mitogen 0.3 subset)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 *
 * The input comes from untrusted peers. Decoding runs in two passes:
 *
 * 1. The opcodes run on a small machine whose objects are nodes in one
 *    array (no allocation per object). Python's semantics are kept where a
 *    pickle can observe them: the memo holds references, so a list fetched
 *    from the memo and appended to is the same list. A container becomes
 *    immutable ("sealed") once it is placed inside another; since every
 *    descendant of a container is sealed, a container can never end up
 *    inside itself, and the nesting depth of a sealed node is final.
 * 2. The graph is measured (exact serialised size, with a budget against
 *    memo amplification) and written straight into GVariant's serialised
 *    form, one buffer for the whole value; GVariantBuilder and per-child
 *    GVariants would cost more than the whole decode. Large bytes are the
 *    exception: they stay slices of the input (zero-copy), and only the
 *    containers on their path are built as GVariant trees.
 *
 * Nothing is allocated from an untrusted length before the bytes it
 * describes are known to be present; all loops over input are iterative,
 * and recursion (pass 2 only) is bounded by MITOGEN_PICKLE_MAX_DEPTH.
 */

#include "config.h"

#include <string.h>

#include "mitogen-error.h"
#include "mitogen-pickle.h"
#include "mitogen-pickle-private.h"

#define NO_NODE G_MAXUINT32

/* A memo index above this (or above the input length: every PUT costs at
 * least two bytes, so a real pickle never gets there) is refused. */
#define MEMO_LIMIT (1 << 20)

/* Bytes of this size or more are not copied into their container's
 * serialised form. */
#define BIG_BYTES (64 * 1024)

/* The decoded value may take this many times the input size, counted as
 * its exact serialised size (which includes per-element padding, offsets
 * and type strings, hence a factor above the 16 a rougher count would
 * use), or BUDGET_MIN if that is larger. */
#define BUDGET_FACTOR 32
#define BUDGET_MIN (1024 * 1024)

/* Dictionaries up to this size look for duplicate keys pairwise; larger
 * ones sort. */
#define SMALL_DICT 16

#define CALL_ERROR_MAX_CHARS 10000
#define CONTEXT_NAME_MAX_CHARS 100

typedef enum
{
  NODE_NONE,
  NODE_BOOL,
  NODE_INT,
  NODE_UINT,
  NODE_FLOAT,
  NODE_STR,
  NODE_BYTES,
  NODE_CONTEXT,
  NODE_SENDER,
  NODE_CALL_ERROR,
  NODE_LIST,
  NODE_TUPLE,
  NODE_DICT,
  NODE_KWARGS,
  NODE_GLOBAL,
} NodeKind;

enum
{
  FLAG_SEALED = 1 << 0,    /* placed in a container: immutable from now */
  FLAG_BIG = 1 << 1,       /* is or holds bytes of BIG_BYTES or more */
  FLAG_SIZED = 1 << 2,     /* size is valid */
  FLAG_DEDUPED = 1 << 3,   /* dict: duplicate keys removed */
  FLAG_KWARGS_OK = 1 << 4, /* dict: its bytes keys are valid UTF-8 */
  FLAG_UNCHECKED = 1 << 5, /* str: UTF-8 not validated yet */
  FLAG_NUL = 1 << 6,       /* str: contains U+0000 */
};

/* The kinds of key a dict has seen. */
enum
{
  KEY_STR = 1 << 0,
  KEY_BYTES = 1 << 1,
  KEY_INT = 1 << 2,
  KEY_OTHER = 1 << 3,
};

typedef enum
{
  GLOBAL_CALL_ERROR,
  GLOBAL_SENDER,
  GLOBAL_CONTEXT,
  GLOBAL_BLOB,
  GLOBAL_SECRET,
  GLOBAL_KWARGS,
  GLOBAL_CODECS_ENCODE,
  GLOBAL_BYTES,
  N_GLOBALS
} GlobalId;

static const char * const global_names[N_GLOBALS] = {
  "mitogen.core._unpickle_call_error",
  "mitogen.core._unpickle_sender",
  "mitogen.core._unpickle_context",
  "mitogen.core.Blob",
  "mitogen.core.Secret",
  "mitogen.core.Kwargs",
  "_codecs.encode",
  "builtins.bytes",
};

/* Elements of the decoder's first arrays (see InlineArrays). */
#define INLINE_NODES 64
#define INLINE_LINKS 64
#define INLINE_STACK 64
#define INLINE_MARKS 16
#define INLINE_MEMO 32

typedef struct
{
  guint8 kind;
  guint8 flags;
  guint8 depth;    /* containers: levels of containers, itself included */
  guint8 keys;     /* dict: KEY_* seen */
  guint32 aux;     /* str/bytes: owner (0: the input, n: owned[n - 1]);
                    * list, tuple, dict: number of live children */
  gsize size;      /* serialised size, once FLAG_SIZED */
  union
  {
    gint64 i;                                          /* INT, BOOL */
    guint64 u;                                         /* UINT */
    double d;                                          /* FLOAT */
    struct { const guint8 *data; gsize len; } s;       /* STR, BYTES */
    struct { guint32 ctx; guint32 handle; } path;      /* CONTEXT, SENDER */
    struct { guint32 first; guint32 last; gsize bad_key_at; } c;
    guint32 ref;  /* KWARGS: the dict; CALL_ERROR: the text; GLOBAL: id */
  } v;
} Node;

/* A child of a list or tuple (value unused) or an entry of a dict; a
 * duplicate dict entry is dead (node == NO_NODE). */
typedef struct
{
  guint32 node;
  guint32 value;
  guint32 next;
} Link;

/* Nodes every decode starts with: immutable objects worth sharing. */
enum
{
  N_NONE,
  N_TRUE,
  N_FALSE,
  N_EMPTY_TUPLE,
  N_GLOBAL_FIRST,
  N_FIRST_FREE = N_GLOBAL_FIRST + N_GLOBALS
};

/* First storage of the decoder's arrays, on the stack of
 * mitogen_pickle_decode() and left uninitialised: a call's reply fits, so
 * decoding one allocates no scratch memory (heap blocks of these sizes
 * made and freed per call cost a malloc consolidation each time). */
typedef struct
{
  Node nodes[INLINE_NODES];
  Link links[INLINE_LINKS];
  guint32 stack[INLINE_STACK];
  gsize marks[INLINE_MARKS];
  guint32 memo[INLINE_MEMO];
} InlineArrays;

typedef struct
{
  GBytes *input;
  const guint8 *base;
  gsize len;
  gsize pos;
  gsize op_at;           /* offset of the opcode being run */

  Node *nodes;
  guint32 n_nodes;
  guint32 cap_nodes;

  Link *links;
  guint32 n_links;
  guint32 cap_links;

  guint32 *stack;
  gsize n_stack;
  gsize cap_stack;

  gsize *marks;
  gsize n_marks;
  gsize cap_marks;

  guint32 *memo;
  gsize memo_alloc;
  gsize memo_used;

  GPtrArray *owned;      /* GBytes made while decoding, or NULL */
  gsize budget;          /* bytes the value may take */

  GError **error;

  InlineArrays *inline_arrays;
} Decoder;

/* Grows @array (holding @used elements of @size bytes) to @capacity
 * elements, moving it off the decoder's inline storage if it is there. */
static gpointer
grow_array (gpointer      array,
            gconstpointer inline_storage,
            gsize         used,
            gsize         capacity,
            gsize         size)
{
  gpointer grown;

  if (array != inline_storage)
    return g_realloc_n (array, capacity, size);
  grown = g_malloc_n (capacity, size);
  memcpy (grown, array, used * size);
  return grown;
}

static void
free_array (gpointer      array,
            gconstpointer inline_storage)
{
  if (array != inline_storage)
    g_free (array);
}

static gboolean fail (Decoder            *d,
                      MitogenCodecError   code,
                      const char         *format,
                      ...) G_GNUC_PRINTF (3, 4);

static gboolean
fail (Decoder           *d,
      MitogenCodecError  code,
      const char        *format,
      ...)
{
  va_list args;

  if (d->error == NULL || *d->error != NULL)
    return FALSE;

  va_start (args, format);
  *d->error = g_error_new_valist (MITOGEN_CODEC_ERROR, code, format, args);
  va_end (args);
  return FALSE;
}

/* ------------------------------------------------------------------ */
/* Pass 1: the opcode machine                                          */

static guint32
new_node (Decoder  *d,
          NodeKind  kind)
{
  Node *n;

  if (G_UNLIKELY (d->n_nodes == d->cap_nodes))
    {
      d->nodes = grow_array (d->nodes, d->inline_arrays->nodes, d->n_nodes, (gsize) d->cap_nodes * 2, sizeof (Node));
      d->cap_nodes *= 2;
    }
  n = &d->nodes[d->n_nodes];
  memset (n, 0, sizeof *n);
  n->kind = kind;
  return d->n_nodes++;
}

static guint32
new_container (Decoder  *d,
               NodeKind  kind)
{
  guint32 idx = new_node (d, kind);
  Node *n = &d->nodes[idx];

  n->depth = 1;
  n->v.c.first = NO_NODE;
  n->v.c.last = NO_NODE;
  n->v.c.bad_key_at = G_MAXSIZE;
  return idx;
}

static inline void
push (Decoder *d,
      guint32  idx)
{
  if (G_UNLIKELY (d->n_stack == d->cap_stack))
    {
      d->stack = grow_array (d->stack, d->inline_arrays->stack, d->n_stack, d->cap_stack * 2, sizeof (guint32));
      d->cap_stack *= 2;
    }
  d->stack[d->n_stack++] = idx;
}

/* Where the objects above the innermost mark start. */
static inline gsize
fence (Decoder *d)
{
  return d->n_marks > 0 ? d->marks[d->n_marks - 1] : 0;
}

static gboolean
underflow (Decoder *d)
{
  return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
               "Pickle stack underflow at offset %" G_GSIZE_FORMAT
               " (opcode 0x%02x)", d->op_at, d->base[d->op_at]);
}

/* Checks @n objects are above the innermost mark. */
static inline gboolean
need_stack (Decoder *d,
            gsize    n)
{
  if (G_UNLIKELY (d->n_stack - fence (d) < n))
    return underflow (d);
  return TRUE;
}

static gboolean
pop_mark (Decoder *d,
          gsize   *mark)
{
  if (d->n_marks == 0)
    return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                 "Pickle opcode 0x%02x at offset %" G_GSIZE_FORMAT
                 " has no MARK", d->base[d->op_at], d->op_at);
  *mark = d->marks[--d->n_marks];
  return TRUE;
}

/* Checks @n more bytes of argument are present. */
static inline gboolean
need (Decoder *d,
      gsize    n)
{
  if (G_UNLIKELY (d->len - d->pos < n))
    return fail (d, MITOGEN_CODEC_ERROR_TRUNCATED,
                 "Pickle is truncated: opcode 0x%02x at offset %" G_GSIZE_FORMAT
                 " needs %" G_GSIZE_FORMAT " more bytes, %" G_GSIZE_FORMAT
                 " remain", d->base[d->op_at], d->op_at, n, d->len - d->pos);
  return TRUE;
}

static inline guint64
le (const guint8 *p,
    guint         n)
{
  guint64 v = 0;

  while (n-- > 0)
    v = (v << 8) | p[n];
  return v;
}

static const char *
node_kind_name (const Node *n)
{
  switch ((NodeKind) n->kind)
    {
    case NODE_NONE: return "None";
    case NODE_BOOL: return "bool";
    case NODE_INT:
    case NODE_UINT: return "int";
    case NODE_FLOAT: return "float";
    case NODE_STR: return "str";
    case NODE_BYTES: return "bytes";
    case NODE_CONTEXT: return "Context";
    case NODE_SENDER: return "Sender";
    case NODE_CALL_ERROR: return "CallError";
    case NODE_LIST: return "list";
    case NODE_TUPLE: return "tuple";
    case NODE_DICT:
    case NODE_KWARGS: return "dict";
    case NODE_GLOBAL: return "global";
    default: return "object";
    }
}

/* A global is only ever the callable of REDUCE. */
static gboolean
check_value (Decoder *d,
             guint32  idx)
{
  const Node *n = &d->nodes[idx];

  if (G_UNLIKELY (n->kind == NODE_GLOBAL))
    return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                 "Pickle uses the global %s as a value at offset %" G_GSIZE_FORMAT,
                 global_names[n->v.ref], d->op_at);
  return TRUE;
}

/* Seals @child into @parent's accounting (depth, big bytes). */
static gboolean
adopt (Decoder *d,
       guint32  parent,
       guint32  child)
{
  Node *c = &d->nodes[child];
  Node *p = &d->nodes[parent];

  if (!check_value (d, child))
    return FALSE;
  if (G_UNLIKELY (child == parent))
    return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                 "Pickle builds a %s that contains itself at offset %" G_GSIZE_FORMAT,
                 node_kind_name (p), d->op_at);

  c->flags |= FLAG_SEALED;
  p->flags |= c->flags & FLAG_BIG;
  if (c->depth + 1 > p->depth)
    {
      if (G_UNLIKELY (c->depth + 1 > MITOGEN_PICKLE_MAX_DEPTH))
        return fail (d, MITOGEN_CODEC_ERROR_TOO_DEEP,
                     "Pickle nests containers deeper than %d at offset %" G_GSIZE_FORMAT,
                     MITOGEN_PICKLE_MAX_DEPTH, d->op_at);
      p->depth = c->depth + 1;
    }
  return TRUE;
}

static void
link_child (Decoder *d,
            guint32  parent,
            guint32  child,
            guint32  value)
{
  Link *l;
  Node *p;

  if (G_UNLIKELY (d->n_links == d->cap_links))
    {
      d->links = grow_array (d->links, d->inline_arrays->links, d->n_links, (gsize) d->cap_links * 2, sizeof (Link));
      d->cap_links *= 2;
    }
  l = &d->links[d->n_links];
  l->node = child;
  l->value = value;
  l->next = NO_NODE;

  p = &d->nodes[parent];
  if (p->v.c.last == NO_NODE)
    p->v.c.first = d->n_links;
  else
    d->links[p->v.c.last].next = d->n_links;
  p->v.c.last = d->n_links;
  p->aux++;
  d->n_links++;
}

/* The target of APPEND(S)/SETITEM(S): a list or dict still open. */
static gboolean
check_target (Decoder  *d,
              guint32   idx,
              NodeKind  kind)
{
  const Node *n = &d->nodes[idx];

  if (G_UNLIKELY (n->kind != kind))
    return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                 "Pickle opcode 0x%02x at offset %" G_GSIZE_FORMAT
                 " adds items to a %s, not a %s", d->base[d->op_at], d->op_at,
                 node_kind_name (n), kind == NODE_LIST ? "list" : "dict");
  if (G_UNLIKELY (n->flags & FLAG_SEALED))
    return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                 "Pickle modifies a %s at offset %" G_GSIZE_FORMAT
                 " after placing it in a container (recursive structure)",
                 node_kind_name (n), d->op_at);
  return TRUE;
}

static gboolean
append_items (Decoder *d,
              gsize    list_at)
{
  guint32 list = d->stack[list_at];
  gsize i;

  if (!check_target (d, list, NODE_LIST))
    return FALSE;
  for (i = list_at + 1; i < d->n_stack; i++)
    {
      if (!adopt (d, list, d->stack[i]))
        return FALSE;
      link_child (d, list, d->stack[i], NO_NODE);
    }
  d->n_stack = list_at + 1;
  return TRUE;
}

static guint
key_kind (const Node *n)
{
  switch ((NodeKind) n->kind)
    {
    case NODE_STR:
      return KEY_STR;
    case NODE_BYTES:
      return KEY_BYTES;
    case NODE_INT:
    case NODE_BOOL:
      return KEY_INT;
    case NODE_NONE:
    case NODE_UINT:
    case NODE_FLOAT:
    case NODE_CONTEXT:
    case NODE_SENDER:
    case NODE_CALL_ERROR:
    case NODE_LIST:
    case NODE_TUPLE:
    case NODE_DICT:
    case NODE_KWARGS:
    case NODE_GLOBAL:
    default:
      return KEY_OTHER;
    }
}

static gboolean
set_items (Decoder *d,
           gsize    dict_at)
{
  guint32 dict = d->stack[dict_at];
  gsize i;

  if (!check_target (d, dict, NODE_DICT))
    return FALSE;
  if ((d->n_stack - dict_at - 1) % 2 != 0)
    return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                 "Pickle SETITEMS at offset %" G_GSIZE_FORMAT
                 " has an odd number of items", d->op_at);

  for (i = dict_at + 1; i < d->n_stack; i += 2)
    {
      guint32 key = d->stack[i];
      guint32 value = d->stack[i + 1];
      Node *n;
      guint keys;

      if (!adopt (d, dict, key) || !adopt (d, dict, value))
        return FALSE;

      /* Whether the keys suit a GVariant dictionary can only be decided
       * at the end: bytes keys are fine if the dict becomes a Kwargs. */
      n = &d->nodes[dict];
      keys = n->keys | key_kind (&d->nodes[key]);
      if (keys != KEY_STR && keys != KEY_INT && n->v.c.bad_key_at == G_MAXSIZE)
        n->v.c.bad_key_at = d->op_at;
      n->keys = keys;

      link_child (d, dict, key, value);
    }
  d->n_stack = dict_at + 1;
  return TRUE;
}

static gboolean
make_tuple (Decoder *d,
            gsize    from)
{
  guint32 tuple;
  gsize i;

  if (from == d->n_stack)
    {
      push (d, N_EMPTY_TUPLE);
      return TRUE;
    }

  tuple = new_container (d, NODE_TUPLE);
  for (i = from; i < d->n_stack; i++)
    {
      if (!adopt (d, tuple, d->stack[i]))
        return FALSE;
      link_child (d, tuple, d->stack[i], NO_NODE);
    }
  d->n_stack = from;
  push (d, tuple);
  return TRUE;
}

static inline gboolean
has_zero_byte (guint64 word)
{
  return ((word - G_GUINT64_CONSTANT (0x0101010101010101)) & ~word &
          G_GUINT64_CONSTANT (0x8080808080808080)) != 0;
}

/* Length of the longest valid UTF-8 prefix of @p (NUL counts as valid and
 * is reported in @has_nul). GLib's validator goes a byte at a time, which
 * would dominate decoding the _codecs form of bytes that Python peers
 * send. */
static gsize
utf8_valid_prefix (const guint8 *p,
                   gsize         n,
                   gboolean     *has_nul)
{
  gsize i = 0;

  *has_nul = FALSE;
  while (i < n)
    {
      guint8 b = p[i];
      guint8 c1;

      if (b < 0x80)
        {
          guint64 word;

          if (i + 8 <= n &&
              (memcpy (&word, p + i, 8),
               (word & G_GUINT64_CONSTANT (0x8080808080808080)) == 0))
            {
              *has_nul |= has_zero_byte (word);
              i += 8;
            }
          else
            {
              *has_nul |= b == 0;
              i++;
            }
          continue;
        }

      if (b < 0xc2 || b > 0xf4 || i + 1 >= n)
        return i;
      c1 = p[i + 1];
      if ((c1 & 0xc0) != 0x80)
        return i;
      if (b < 0xe0)
        {
          i += 2;
          continue;
        }
      if (i + 2 >= n || (p[i + 2] & 0xc0) != 0x80)
        return i;
      if (b < 0xf0)
        {
          /* overlong, surrogate */
          if ((b == 0xe0 && c1 < 0xa0) || (b == 0xed && c1 >= 0xa0))
            return i;
          i += 3;
          continue;
        }
      if (i + 3 >= n || (p[i + 3] & 0xc0) != 0x80 ||
          (b == 0xf0 && c1 < 0x90) || (b == 0xf4 && c1 >= 0x90))
        return i;
      i += 4;
    }
  return n;
}

/* A str is validated when something reads it: as a value, a key, or an
 * argument (the text of _codecs.encode() is checked by its own conversion
 * loop, so the bytes Python peers send are read once). A str the pickle
 * drops unread is not checked. Python writes lone surrogates
 * (surrogatepass), a real str that GVariant cannot hold; any other invalid
 * byte means the pickle is broken. NUL is valid UTF-8, but not in a
 * GVariant string: see check_str_value(). */
static gboolean
check_text (Decoder *d,
            guint32  idx)
{
  Node *n = &d->nodes[idx];
  const guint8 *p = n->v.s.data;
  gsize len = n->v.s.len;
  gboolean has_nul;
  gsize bad;

  if (G_LIKELY (!(n->flags & FLAG_UNCHECKED)))
    return TRUE;

  bad = utf8_valid_prefix (p, len, &has_nul);
  if (G_UNLIKELY (bad != len))
    {
      if (p[bad] == 0xed && bad + 1 < len && (p[bad + 1] & 0xe0) == 0xa0)
        return fail (d, MITOGEN_CODEC_ERROR_UNSUPPORTED_TYPE,
                     "Pickle string at offset %" G_GSIZE_FORMAT " contains a lone "
                     "surrogate, which a GVariant string cannot hold",
                     (gsize) (p - d->base));
      return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                   "Pickle string at offset %" G_GSIZE_FORMAT " is not valid UTF-8",
                   (gsize) (p - d->base));
    }

  n->flags &= ~FLAG_UNCHECKED;
  if (has_nul)
    n->flags |= FLAG_NUL;
  return TRUE;
}

/* A str becomes a GVariant string: no NUL. */
static gboolean
check_str_value (Decoder *d,
                 guint32  idx)
{
  const Node *n = &d->nodes[idx];

  if (!check_text (d, idx))
    return FALSE;
  if (G_UNLIKELY (n->flags & FLAG_NUL))
    return fail (d, MITOGEN_CODEC_ERROR_UNSUPPORTED_TYPE,
                 "Pickle string at offset %" G_GSIZE_FORMAT " contains a NUL "
                 "character, which a GVariant string cannot hold",
                 (gsize) (n->v.s.data - d->base));
  return TRUE;
}

static void
push_text (Decoder      *d,
           NodeKind      kind,
           const guint8 *p,
           gsize         n)
{
  guint32 idx = new_node (d, kind);
  Node *node = &d->nodes[idx];

  node->v.s.data = p;
  node->v.s.len = n;
  if (kind == NODE_BYTES && n >= BIG_BYTES)
    node->flags |= FLAG_BIG;
  push (d, idx);
}

static gboolean
load_text (Decoder  *d,
           NodeKind  kind,
           guint     len_size,
           gboolean  len_signed)
{
  guint64 n;
  const guint8 *p;

  if (!need (d, len_size))
    return FALSE;
  n = le (d->base + d->pos, len_size);
  if (len_signed && (n & 0x80000000))
    return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                 "Pickle BINSTRING at offset %" G_GSIZE_FORMAT
                 " has a negative length", d->op_at);
  d->pos += len_size;
  if (n > d->len - d->pos)
    return need (d, (gsize) MIN (n, (guint64) G_MAXSIZE));
  p = d->base + d->pos;
  d->pos += n;

  push_text (d, kind, p, n);
  if (kind == NODE_STR)
    d->nodes[d->stack[d->n_stack - 1]].flags |= FLAG_UNCHECKED;
  return TRUE;
}

static void
push_int (Decoder *d,
          gint64   v)
{
  guint32 idx = new_node (d, NODE_INT);

  d->nodes[idx].v.i = v;
  push (d, idx);
}

/* LONG1/LONG4: little-endian two's complement of any length. */
static gboolean
load_long (Decoder *d,
           guint    len_size)
{
  guint64 n;
  const guint8 *p;
  guint64 v;

  if (!need (d, len_size))
    return FALSE;
  n = le (d->base + d->pos, len_size);
  if (len_size == 4 && (n & 0x80000000))
    return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                 "Pickle LONG4 at offset %" G_GSIZE_FORMAT
                 " has a negative length", d->op_at);
  d->pos += len_size;
  if (!need (d, n))
    return FALSE;
  p = d->base + d->pos;
  d->pos += n;

  /* Drop redundant sign bytes so the length says what range it needs. */
  while (n > 1 &&
         ((p[n - 1] == 0x00 && (p[n - 2] & 0x80) == 0) ||
          (p[n - 1] == 0xff && (p[n - 2] & 0x80) != 0)))
    n--;

  if (n == 0)
    {
      push_int (d, 0);
      return TRUE;
    }
  if (n <= 8)
    {
      v = le (p, n);
      if (n < 8 && (p[n - 1] & 0x80))
        v |= ~G_GUINT64_CONSTANT (0) << (8 * n);
      push_int (d, (gint64) v);
      return TRUE;
    }
  if (n == 9 && p[8] == 0x00)
    {
      guint32 idx = new_node (d, NODE_UINT);

      d->nodes[idx].v.u = le (p, 8);
      push (d, idx);
      return TRUE;
    }

  return fail (d, MITOGEN_CODEC_ERROR_INTEGER_RANGE,
               "Pickle integer at offset %" G_GSIZE_FORMAT
               " does not fit in 64 bits", d->op_at);
}

/* INT: a decimal line. Python 2.7's cPickle writes it even at protocol 2
 * for an int outside 32 bits (and "01"/"00" for booleans at protocol 0). */
static gboolean
load_text_int (Decoder *d)
{
  const guint8 *start = d->base + d->pos;
  const guint8 *end = memchr (start, '\n', d->len - d->pos);
  char text[32];
  gsize len;
  const char *digits;
  gboolean negative;
  guint64 magnitude = 0;

  if (end == NULL)
    return need (d, d->len - d->pos + 1);
  len = end - start;
  d->pos += len + 1;
  if (len == 0 || len >= sizeof text)
    return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                 "Pickle INT at offset %" G_GSIZE_FORMAT " is not a 64-bit decimal", d->op_at);
  memcpy (text, start, len);
  text[len] = '\0';

  if (g_str_equal (text, "01") || g_str_equal (text, "00"))
    {
      push (d, text[1] == '1' ? N_TRUE : N_FALSE);
      return TRUE;
    }

  negative = text[0] == '-';
  digits = negative || text[0] == '+' ? text + 1 : text;
  if (*digits == '\0')
    return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                 "Pickle INT at offset %" G_GSIZE_FORMAT " has no digits", d->op_at);
  for (const char *c = digits; *c != '\0'; c++)
    {
      if (!g_ascii_isdigit (*c))
        return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                     "Pickle INT at offset %" G_GSIZE_FORMAT " is not a decimal", d->op_at);
      if (magnitude > (G_MAXUINT64 - (guint64) (*c - '0')) / 10)
        return fail (d, MITOGEN_CODEC_ERROR_INTEGER_RANGE,
                     "Pickle integer at offset %" G_GSIZE_FORMAT " does not fit in 64 bits", d->op_at);
      magnitude = magnitude * 10 + (guint64) (*c - '0');
    }

  if (negative)
    {
      if (magnitude > (guint64) G_MAXINT64 + 1)
        return fail (d, MITOGEN_CODEC_ERROR_INTEGER_RANGE,
                     "Pickle integer at offset %" G_GSIZE_FORMAT " does not fit in 64 bits", d->op_at);
      push_int (d, magnitude == (guint64) G_MAXINT64 + 1 ? G_MININT64 : -(gint64) magnitude);
    }
  else if (magnitude <= G_MAXINT64)
    push_int (d, (gint64) magnitude);
  else
    {
      guint32 idx = new_node (d, NODE_UINT);

      d->nodes[idx].v.u = magnitude;
      push (d, idx);
    }
  return TRUE;
}

static int
lookup_global (const char *module,
               gsize       module_len,
               const char *name,
               gsize       name_len)
{
#define IS(s, l, lit) ((l) == sizeof lit - 1 && memcmp ((s), lit, sizeof lit - 1) == 0)
  if (IS (module, module_len, "mitogen.core"))
    {
      if (IS (name, name_len, "_unpickle_call_error") || IS (name, name_len, "CallError"))
        return GLOBAL_CALL_ERROR;
      if (IS (name, name_len, "_unpickle_sender"))
        return GLOBAL_SENDER;
      if (IS (name, name_len, "_unpickle_context"))
        return GLOBAL_CONTEXT;
      if (IS (name, name_len, "Blob"))
        return GLOBAL_BLOB;
      if (IS (name, name_len, "Secret"))
        return GLOBAL_SECRET;
      if (IS (name, name_len, "Kwargs"))
        return GLOBAL_KWARGS;
    }
  else if (IS (module, module_len, "_codecs"))
    {
      if (IS (name, name_len, "encode"))
        return GLOBAL_CODECS_ENCODE;
    }
  else if (IS (module, module_len, "__builtin__") || IS (module, module_len, "builtins"))
    {
      if (IS (name, name_len, "bytes"))
        return GLOBAL_BYTES;
    }
  return -1;
#undef IS
}

static gboolean
push_global (Decoder    *d,
             const char *module,
             gsize       module_len,
             const char *name,
             gsize       name_len)
{
  int id = lookup_global (module, module_len, name, name_len);

  if (id < 0)
    {
      /* Peer-chosen text: escape it and keep it short. */
      g_autofree char *m = g_strndup (module, MIN (module_len, 64));
      g_autofree char *n = g_strndup (name, MIN (name_len, 64));
      g_autofree char *em = g_strescape (m, NULL);
      g_autofree char *en = g_strescape (n, NULL);

      return fail (d, MITOGEN_CODEC_ERROR_FORBIDDEN_GLOBAL,
                   "Pickle refers to forbidden global %s.%s at offset %" G_GSIZE_FORMAT,
                   em, en, d->op_at);
    }

  push (d, N_GLOBAL_FIRST + id);
  return TRUE;
}

static gboolean
load_global (Decoder *d)
{
  const guint8 *module = d->base + d->pos;
  const guint8 *module_end;
  const guint8 *name;
  const guint8 *name_end;

  module_end = memchr (module, '\n', d->len - d->pos);
  if (module_end == NULL)
    return need (d, d->len - d->pos + 1);
  name = module_end + 1;
  name_end = memchr (name, '\n', d->base + d->len - name);
  if (name_end == NULL)
    return need (d, d->len - d->pos + 1);
  d->pos = name_end + 1 - d->base;

  return push_global (d, (const char *) module, module_end - module,
                      (const char *) name, name_end - name);
}

static gboolean
load_stack_global (Decoder *d)
{
  const Node *module;
  const Node *name;

  if (!need_stack (d, 2))
    return FALSE;
  module = &d->nodes[d->stack[d->n_stack - 2]];
  name = &d->nodes[d->stack[d->n_stack - 1]];
  if (module->kind != NODE_STR || name->kind != NODE_STR)
    return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                 "Pickle STACK_GLOBAL at offset %" G_GSIZE_FORMAT
                 " needs two str, got %s and %s", d->op_at,
                 node_kind_name (module), node_kind_name (name));
  d->n_stack -= 2;
  return push_global (d, (const char *) module->v.s.data, module->v.s.len,
                      (const char *) name->v.s.data, name->v.s.len);
}

static gboolean
load_put (Decoder *d,
          gsize    idx)
{
  if (!need_stack (d, 1))
    return FALSE;
  if (idx > MEMO_LIMIT || idx > d->len)
    return fail (d, MITOGEN_CODEC_ERROR_BAD_MEMO,
                 "Pickle memo index %" G_GSIZE_FORMAT " at offset %" G_GSIZE_FORMAT
                 " is out of range", idx, d->op_at);

  if (idx >= d->memo_alloc)
    {
      gsize n = MAX (MAX (d->memo_alloc * 2, idx + 1), 64);

      d->memo = grow_array (d->memo, d->inline_arrays->memo, d->memo_alloc, n, sizeof (guint32));
      memset (d->memo + d->memo_alloc, 0xff, (n - d->memo_alloc) * sizeof (guint32));
      d->memo_alloc = n;
    }
  if (d->memo[idx] == NO_NODE)
    d->memo_used++;
  d->memo[idx] = d->stack[d->n_stack - 1];
  return TRUE;
}

static gboolean
load_get (Decoder *d,
          gsize    idx)
{
  if (idx >= d->memo_alloc || d->memo[idx] == NO_NODE)
    return fail (d, MITOGEN_CODEC_ERROR_BAD_MEMO,
                 "Pickle memo index %" G_GSIZE_FORMAT " at offset %" G_GSIZE_FORMAT
                 " %s", idx, d->op_at,
                 idx >= d->memo_alloc ? "is out of range" : "is not set");
  push (d, d->memo[idx]);
  return TRUE;
}

/* Characters in valid UTF-8. */
static gsize
utf8_chars (const guint8 *p,
            gsize         n)
{
  gsize chars = 0;
  gsize i;

  for (i = 0; i < n; i++)
    chars += (p[i] & 0xc0) != 0x80;
  return chars;
}

static gboolean
bad_args (Decoder    *d,
          GlobalId    id,
          const char *why)
{
  return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
               "Pickle calls %s with bad arguments at offset %" G_GSIZE_FORMAT ": %s",
               global_names[id], d->op_at, why);
}

static gboolean
is_u32 (const Node *n,
        gint64      min)
{
  return n->kind == NODE_INT && n->v.i >= min && n->v.i <= G_MAXUINT32;
}

/* Kwargs(d): d's keys must all be str, or bytes that decode as UTF-8. */
static gboolean
check_kwargs (Decoder *d,
              guint32  dict)
{
  Node *n = &d->nodes[dict];
  guint32 l;

  if (n->flags & FLAG_KWARGS_OK)
    return TRUE;
  if ((n->keys & ~(KEY_STR | KEY_BYTES)) != 0)
    return fail (d, MITOGEN_CODEC_ERROR_BAD_KEY,
                 "Pickle Kwargs at offset %" G_GSIZE_FORMAT
                 " has a key that is not a str", d->op_at);

  if (n->keys & KEY_BYTES)
    for (l = n->v.c.first; l != NO_NODE; l = d->links[l].next)
      {
        const Node *k = &d->nodes[d->links[l].node];
        gboolean has_nul;

        if (k->kind == NODE_BYTES &&
            (utf8_valid_prefix (k->v.s.data, k->v.s.len, &has_nul) != k->v.s.len || has_nul))
          return fail (d, MITOGEN_CODEC_ERROR_BAD_KEY,
                       "Pickle Kwargs at offset %" G_GSIZE_FORMAT
                       " has a bytes key that is not UTF-8 text", d->op_at);
      }

  n->flags |= FLAG_KWARGS_OK;
  return TRUE;
}

/* _codecs.encode(text, encoding): latin-1, as peers do whatever the
 * encoding says. */
static gboolean
codecs_encode (Decoder *d,
               guint32  text)
{
  const Node *t = &d->nodes[text];
  const guint8 *p = t->v.s.data;
  gsize n = t->v.s.len;
  guint32 aux = t->aux;
  guint8 *out;
  gsize i;
  gsize o;
  guint bad = 0;
  guint prev_lead = 0;

  for (i = 0; i < n && p[i] < 0x80; i++)
    ;
  if (i == n)
    {
      /* ASCII is its own latin-1: share the text's bytes. */
      push_text (d, NODE_BYTES, p, n);
      d->nodes[d->stack[d->n_stack - 1]].aux = aux;
      return TRUE;
    }

  /* Text of U+0000..U+00FF only is ASCII and two-byte sequences led by
   * 0xc2 or 0xc3. One pass checks that and converts, without branching on
   * the data: every byte writes an output byte, and the write position
   * only moves past bytes that start a character (a continuation byte's
   * write is overwritten by the next character). The buffer has room:
   * the text has at least one continuation byte. */
  out = g_malloc (n);
  memcpy (out, p, i);
  o = i;
  for (; i < n; i++)
    {
      guint b = p[i];
      guint next = i + 1 < n ? p[i + 1] : 0;
      guint cont = (b & 0xc0) == 0x80;
      guint lead = (b & 0xfe) == 0xc2;
      guint high = 0u - (b >> 7);  /* all ones for a byte >= 0x80 */

      out[o] = (b & ~high) | ((((b & 0x03) << 6) | (next & 0x3f)) & high);
      o += cont ^ 1;
      /* a continuation exactly after each lead; no other high byte */
      bad |= (cont ^ prev_lead) | ((b >= 0xc0) & (lead ^ 1));
      prev_lead = lead;
    }
  bad |= prev_lead;

  if (bad)
    {
      gboolean has_nul;
      gsize valid;

      g_free (out);
      valid = utf8_valid_prefix (p, n, &has_nul);
      if (valid != n)
        {
          d->nodes[text].flags |= FLAG_UNCHECKED;
          return check_text (d, text);
        }
      return bad_args (d, GLOBAL_CODECS_ENCODE,
                       "text has a character above U+00FF, not latin-1");
    }

  if (d->owned == NULL)
    d->owned = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_ptr_array_add (d->owned, g_bytes_new_take (out, o));
  push_text (d, NODE_BYTES, out, o);
  d->nodes[d->stack[d->n_stack - 1]].aux = d->owned->len;
  return TRUE;
}

static gboolean
load_reduce (Decoder *d)
{
  guint32 callable;
  guint32 args;
  const Node *a;
  guint32 argv[2] = { NO_NODE, NO_NODE };
  guint argc = 0;
  guint32 l;
  GlobalId id;
  guint32 idx;

  if (!need_stack (d, 2))
    return FALSE;
  callable = d->stack[d->n_stack - 2];
  args = d->stack[d->n_stack - 1];
  if (d->nodes[callable].kind != NODE_GLOBAL)
    return fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                 "Pickle REDUCE at offset %" G_GSIZE_FORMAT
                 " calls a %s, not a permitted global", d->op_at,
                 node_kind_name (&d->nodes[callable]));
  id = d->nodes[callable].v.ref;
  a = &d->nodes[args];
  if (a->kind != NODE_TUPLE)
    return bad_args (d, id, "the arguments are not a tuple");
  if (a->aux > 2)
    return bad_args (d, id, "too many arguments");
  for (l = a->v.c.first; l != NO_NODE; l = d->links[l].next)
    argv[argc++] = d->links[l].node;
  d->n_stack -= 2;

#define ARG(i) (&d->nodes[argv[i]])
  switch (id)
    {
    case GLOBAL_CALL_ERROR:
      if (argc != 1 || ARG (0)->kind != NODE_STR)
        return bad_args (d, id, "expected one str");
      if (!check_str_value (d, argv[0]))
        return FALSE;
      if (utf8_chars (ARG (0)->v.s.data, ARG (0)->v.s.len) >= CALL_ERROR_MAX_CHARS)
        return bad_args (d, id, "the text is too long");
      /* Like the encoder, a CallError counts as a scalar for the depth. */
      idx = new_node (d, NODE_CALL_ERROR);
      d->nodes[idx].v.ref = argv[0];
      push (d, idx);
      return TRUE;

    case GLOBAL_CONTEXT:
      if (argc != 2 || !is_u32 (ARG (0), 0) ||
          (ARG (1)->kind != NODE_NONE && ARG (1)->kind != NODE_STR))
        return bad_args (d, id, "expected a context id and a name");
      /* The name is not kept, but Python would have read it. */
      if (ARG (1)->kind == NODE_STR)
        {
          if (!check_text (d, argv[1]))
            return FALSE;
          if (utf8_chars (ARG (1)->v.s.data, ARG (1)->v.s.len) >= CONTEXT_NAME_MAX_CHARS)
            return bad_args (d, id, "the name is too long");
        }
      idx = new_node (d, NODE_CONTEXT);
      d->nodes[idx].v.path.ctx = d->nodes[argv[0]].v.i;
      push (d, idx);
      return TRUE;

    case GLOBAL_SENDER:
      if (argc != 2 || !is_u32 (ARG (0), 0) || !is_u32 (ARG (1), 1))
        return bad_args (d, id, "expected a context id and a handle");
      idx = new_node (d, NODE_SENDER);
      d->nodes[idx].v.path.ctx = d->nodes[argv[0]].v.i;
      d->nodes[idx].v.path.handle = d->nodes[argv[1]].v.i;
      push (d, idx);
      return TRUE;

    case GLOBAL_BLOB:
      if (argc != 1 || ARG (0)->kind != NODE_BYTES)
        return bad_args (d, id, "expected one bytes");
      push (d, argv[0]);
      return TRUE;

    case GLOBAL_SECRET:
      if (argc != 1 || ARG (0)->kind != NODE_STR)
        return bad_args (d, id, "expected one str");
      if (!check_str_value (d, argv[0]))
        return FALSE;
      push (d, argv[0]);
      return TRUE;

    case GLOBAL_KWARGS:
      if (argc != 1 || ARG (0)->kind != NODE_DICT)
        return bad_args (d, id, "expected one dict");
      if (!check_kwargs (d, argv[0]))
        return FALSE;
      idx = new_node (d, NODE_KWARGS);
      d->nodes[idx].v.ref = argv[0];
      d->nodes[idx].depth = d->nodes[argv[0]].depth;
      d->nodes[idx].flags = d->nodes[argv[0]].flags & FLAG_BIG;
      push (d, idx);
      return TRUE;

    case GLOBAL_CODECS_ENCODE:
      if (argc != 2 || ARG (0)->kind != NODE_STR || ARG (1)->kind != NODE_STR)
        return bad_args (d, id, "expected a str and an encoding");
      if (!check_text (d, argv[1]))
        return FALSE;
      return codecs_encode (d, argv[0]);

    case GLOBAL_BYTES:
      /* bytes(n) would allocate n bytes: only bytes() is accepted. */
      if (argc != 0)
        return bad_args (d, id, "only bytes() without arguments is accepted");
      push_text (d, NODE_BYTES, (const guint8 *) "", 0);
      return TRUE;

    case N_GLOBALS:
    default:
      g_assert_not_reached ();
    }
#undef ARG
}

/* Runs opcodes up to STOP; returns the result node or NO_NODE. */
static guint32
run (Decoder *d)
{
  gsize mark = 0;
  guint32 top;

  for (;;)
    {
      guint8 op;

      if (G_UNLIKELY (d->pos >= d->len))
        {
          fail (d, MITOGEN_CODEC_ERROR_TRUNCATED,
                "Pickle ends at offset %" G_GSIZE_FORMAT " without STOP", d->len);
          return NO_NODE;
        }
      d->op_at = d->pos;
      op = d->base[d->pos++];

      switch (op)
        {
        case MITOGEN_PICKLE_OP_PROTO:
          if (!need (d, 1))
            return NO_NODE;
          if (d->base[d->pos] < 2 || d->base[d->pos] > 5)
            {
              fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                    "Pickle protocol %u at offset %" G_GSIZE_FORMAT " is not supported",
                    d->base[d->pos], d->op_at);
              return NO_NODE;
            }
          d->pos++;
          break;

        case MITOGEN_PICKLE_OP_FRAME:
          /* Framing only helps readers of files; check it and go on. */
          {
            guint64 frame;

            if (!need (d, 8))
              return NO_NODE;
            frame = le (d->base + d->pos, 8);
            d->pos += 8;
            if (frame > d->len - d->pos)
              {
                need (d, (gsize) MIN (frame, (guint64) G_MAXSIZE));
                return NO_NODE;
              }
          }
          break;

        case MITOGEN_PICKLE_OP_STOP:
          if (d->n_marks != 0 || d->n_stack != 1)
            {
              fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                    "Pickle STOP at offset %" G_GSIZE_FORMAT " leaves %" G_GSIZE_FORMAT
                    " objects and %" G_GSIZE_FORMAT " marks on the stack",
                    d->op_at, d->n_stack, d->n_marks);
              return NO_NODE;
            }
          if (d->pos != d->len)
            {
              fail (d, MITOGEN_CODEC_ERROR_MALFORMED,
                    "Pickle has %" G_GSIZE_FORMAT " bytes after STOP at offset %"
                    G_GSIZE_FORMAT, d->len - d->pos, d->op_at);
              return NO_NODE;
            }
          top = d->stack[0];
          if (!check_value (d, top))
            return NO_NODE;
          return top;

        case MITOGEN_PICKLE_OP_NONE:
          push (d, N_NONE);
          break;

        case MITOGEN_PICKLE_OP_NEWTRUE:
          push (d, N_TRUE);
          break;

        case MITOGEN_PICKLE_OP_NEWFALSE:
          push (d, N_FALSE);
          break;

        case MITOGEN_PICKLE_OP_BININT1:
          if (!need (d, 1))
            return NO_NODE;
          push_int (d, d->base[d->pos]);
          d->pos += 1;
          break;

        case MITOGEN_PICKLE_OP_BININT2:
          if (!need (d, 2))
            return NO_NODE;
          push_int (d, le (d->base + d->pos, 2));
          d->pos += 2;
          break;

        case MITOGEN_PICKLE_OP_BININT:
          if (!need (d, 4))
            return NO_NODE;
          push_int (d, (gint32) (guint32) le (d->base + d->pos, 4));
          d->pos += 4;
          break;

        case MITOGEN_PICKLE_OP_INT:
          if (!load_text_int (d))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_LONG1:
          if (!load_long (d, 1))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_LONG4:
          if (!load_long (d, 4))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_BINFLOAT:
          {
            guint64 bits = 0;
            guint32 idx;
            guint i;

            if (!need (d, 8))
              return NO_NODE;
            for (i = 0; i < 8; i++)
              bits = (bits << 8) | d->base[d->pos + i];
            d->pos += 8;
            idx = new_node (d, NODE_FLOAT);
            memcpy (&d->nodes[idx].v.d, &bits, 8);
            push (d, idx);
          }
          break;

        case MITOGEN_PICKLE_OP_BINUNICODE:
          if (!load_text (d, NODE_STR, 4, FALSE))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_SHORT_BINUNICODE:
          if (!load_text (d, NODE_STR, 1, FALSE))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_BINUNICODE8:
          if (!load_text (d, NODE_STR, 8, FALSE))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_BINBYTES:
          if (!load_text (d, NODE_BYTES, 4, FALSE))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_SHORT_BINBYTES:
        case MITOGEN_PICKLE_OP_SHORT_BINSTRING:
          if (!load_text (d, NODE_BYTES, 1, FALSE))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_BINBYTES8:
          if (!load_text (d, NODE_BYTES, 8, FALSE))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_BINSTRING:
          if (!load_text (d, NODE_BYTES, 4, TRUE))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_EMPTY_TUPLE:
          push (d, N_EMPTY_TUPLE);
          break;

        case MITOGEN_PICKLE_OP_TUPLE1:
        case MITOGEN_PICKLE_OP_TUPLE2:
        case MITOGEN_PICKLE_OP_TUPLE3:
          {
            gsize n = op - MITOGEN_PICKLE_OP_TUPLE1 + 1;

            if (!need_stack (d, n) || !make_tuple (d, d->n_stack - n))
              return NO_NODE;
          }
          break;

        case MITOGEN_PICKLE_OP_MARK:
          if (G_UNLIKELY (d->n_marks == d->cap_marks))
            {
              d->marks = grow_array (d->marks, d->inline_arrays->marks, d->n_marks, d->cap_marks * 2, sizeof (gsize));
              d->cap_marks *= 2;
            }
          d->marks[d->n_marks++] = d->n_stack;
          break;

        case MITOGEN_PICKLE_OP_TUPLE:
          if (!pop_mark (d, &mark) || !make_tuple (d, mark))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_EMPTY_LIST:
          push (d, new_container (d, NODE_LIST));
          break;

        case MITOGEN_PICKLE_OP_EMPTY_DICT:
          push (d, new_container (d, NODE_DICT));
          break;

        case MITOGEN_PICKLE_OP_APPEND:
          if (!need_stack (d, 2) || !append_items (d, d->n_stack - 2))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_APPENDS:
          if (!pop_mark (d, &mark))
            return NO_NODE;
          if (mark == 0 || mark - 1 < fence (d))
            {
              underflow (d);
              return NO_NODE;
            }
          if (!append_items (d, mark - 1))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_SETITEM:
          if (!need_stack (d, 3) || !set_items (d, d->n_stack - 3))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_SETITEMS:
          if (!pop_mark (d, &mark))
            return NO_NODE;
          if (mark == 0 || mark - 1 < fence (d))
            {
              underflow (d);
              return NO_NODE;
            }
          if (!set_items (d, mark - 1))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_GLOBAL:
          if (!load_global (d))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_STACK_GLOBAL:
          if (!load_stack_global (d))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_REDUCE:
          if (!load_reduce (d))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_BINPUT:
          if (!need (d, 1) || !load_put (d, d->base[d->pos]))
            return NO_NODE;
          d->pos += 1;
          break;

        case MITOGEN_PICKLE_OP_LONG_BINPUT:
          if (!need (d, 4) || !load_put (d, le (d->base + d->pos, 4)))
            return NO_NODE;
          d->pos += 4;
          break;

        case MITOGEN_PICKLE_OP_MEMOIZE:
          if (!load_put (d, d->memo_used))
            return NO_NODE;
          break;

        case MITOGEN_PICKLE_OP_BINGET:
          if (!need (d, 1) || !load_get (d, d->base[d->pos]))
            return NO_NODE;
          d->pos += 1;
          break;

        case MITOGEN_PICKLE_OP_LONG_BINGET:
          if (!need (d, 4) || !load_get (d, le (d->base + d->pos, 4)))
            return NO_NODE;
          d->pos += 4;
          break;

        case MITOGEN_PICKLE_OP_DUP:
          if (!need_stack (d, 1))
            return NO_NODE;
          push (d, d->stack[d->n_stack - 1]);
          break;

        case MITOGEN_PICKLE_OP_POP:
          /* At a mark, POP drops the mark (marks live on their own
           * stack here). */
          if (d->n_marks > 0 && d->marks[d->n_marks - 1] == d->n_stack)
            d->n_marks--;
          else if (!need_stack (d, 1))
            return NO_NODE;
          else
            d->n_stack--;
          break;

        case MITOGEN_PICKLE_OP_POP_MARK:
          if (!pop_mark (d, &mark))
            return NO_NODE;
          d->n_stack = mark;
          break;

        default:
          fail (d, MITOGEN_CODEC_ERROR_UNKNOWN_OPCODE,
                "Pickle opcode 0x%02x at offset %" G_GSIZE_FORMAT " is not supported",
                op, d->op_at);
          return NO_NODE;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Pass 2: measure and write the serialised form                       */

static const char call_error_tag[] = MITOGEN_PICKLE_TAG_CALL_ERROR;
static const char context_prefix[] = MITOGEN_PICKLE_CONTEXT_PATH_PREFIX;
static const char sender_prefix[] = MITOGEN_PICKLE_SENDER_PATH_PREFIX;

static inline gsize
align8 (gsize n)
{
  return (n + 7) & ~(gsize) 7;
}

/* Size of a container of @body bytes with @n framing offsets, whose width
 * depends on the total. */
static inline gsize
with_offsets (gsize body,
              gsize n)
{
  if (body + n <= G_MAXUINT8)
    return body + n;
  if (body + 2 * n <= G_MAXUINT16)
    return body + 2 * n;
  if (body + 4 * n <= G_MAXUINT32)
    return body + 4 * n;
  return body + 8 * n;
}

static inline guint
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

static inline void
put_offset (guint8 *p,
            gsize   v,
            guint   size)
{
  guint i;

  for (i = 0; i < size; i++)
    p[i] = (v >> (8 * i)) & 0xff;
}

static guint
decimal_len (guint32 v)
{
  guint n = 1;

  while (v >= 10)
    {
      v /= 10;
      n++;
    }
  return n;
}

static guint8 *
put_decimal (guint8  *p,
             guint32  v)
{
  guint n = decimal_len (v);
  guint i;

  for (i = n; i > 0; i--)
    {
      p[i - 1] = '0' + v % 10;
      v /= 10;
    }
  return p + n;
}

static inline gboolean
is_int_dict (const Node *n)
{
  return n->kind == NODE_DICT && n->keys == KEY_INT;
}

/* Length of the node's type string. */
static gsize
type_len (const Node *n)
{
  switch ((NodeKind) n->kind)
    {
    case NODE_NONE:
    case NODE_BYTES:
    case NODE_LIST:
      return 2;
    case NODE_TUPLE:
      return n->aux + 2;
    case NODE_CALL_ERROR:
      return 4;
    case NODE_DICT:
    case NODE_KWARGS:
      return 5;
    case NODE_BOOL:
    case NODE_INT:
    case NODE_UINT:
    case NODE_FLOAT:
    case NODE_STR:
    case NODE_CONTEXT:
    case NODE_SENDER:
      return 1;
    case NODE_GLOBAL:
    default:
      g_assert_not_reached ();
    }
}

static guint8 *
put_type (guint8     *p,
          const Node *n)
{
  switch ((NodeKind) n->kind)
    {
    case NODE_NONE: memcpy (p, "mv", 2); return p + 2;
    case NODE_BYTES: memcpy (p, "ay", 2); return p + 2;
    case NODE_LIST: memcpy (p, "av", 2); return p + 2;
    case NODE_CALL_ERROR: memcpy (p, "(sv)", 4); return p + 4;
    case NODE_DICT:
    case NODE_KWARGS:
      memcpy (p, is_int_dict (n) ? "a{xv}" : "a{sv}", 5);
      return p + 5;
    case NODE_TUPLE:
      *p++ = '(';
      memset (p, 'v', n->aux);
      p += n->aux;
      *p++ = ')';
      return p;
    case NODE_BOOL: *p = 'b'; return p + 1;
    case NODE_INT: *p = 'x'; return p + 1;
    case NODE_UINT: *p = 't'; return p + 1;
    case NODE_FLOAT: *p = 'd'; return p + 1;
    case NODE_STR: *p = 's'; return p + 1;
    case NODE_CONTEXT:
    case NODE_SENDER: *p = 'o'; return p + 1;
    case NODE_GLOBAL:
    default:
      g_assert_not_reached ();
    }
}

static gboolean
over_budget (Decoder *d)
{
  return fail (d, MITOGEN_CODEC_ERROR_TOO_BIG,
               "Pickle of %" G_GSIZE_FORMAT " bytes expands to more than %"
               G_GSIZE_FORMAT " bytes (memo amplification)", d->len, d->budget);
}

/* Keys compare as Python's would: str and bytes (a Kwargs may hold both)
 * by content, ints (and bools) by value. */
static int
key_compare (const Decoder *d,
             guint32        a,
             guint32        b)
{
  const Node *x = &d->nodes[a];
  const Node *y = &d->nodes[b];

  if (a == b)
    return 0;
  if (x->kind == NODE_STR || x->kind == NODE_BYTES)
    {
      int r;

      if (x->v.s.len != y->v.s.len)
        return x->v.s.len < y->v.s.len ? -1 : 1;
      r = x->v.s.len ? memcmp (x->v.s.data, y->v.s.data, x->v.s.len) : 0;
      return r;
    }
  return x->v.i < y->v.i ? -1 : x->v.i > y->v.i;
}

static gint
link_compare (gconstpointer a,
              gconstpointer b,
              gpointer      user_data)
{
  const Decoder *d = user_data;
  guint32 la = *(const guint32 *) a;
  guint32 lb = *(const guint32 *) b;
  int r = key_compare (d, d->links[la].node, d->links[lb].node);

  /* Ties in insertion order, so a run starts with the first insertion. */
  if (r == 0)
    r = la < lb ? -1 : la > lb;
  return r;
}

/* Python keeps the first key (and its position) and the last value.
 * Real pickles never repeat a key, so the keys' bytes before removing
 * duplicates are part of the value's size and within the budget; a hostile
 * pickle repeating long keys through the memo (two bytes a reference) is
 * refused before any comparison. Comparisons between references to the
 * same key object cost nothing. */
static gboolean
dedupe (Decoder *d,
        guint32  dict)
{
  Node *n = &d->nodes[dict];
  guint32 count = n->aux;
  guint32 removed = 0;
  gsize key_bytes = 0;
  guint32 l;

  if (n->flags & FLAG_DEDUPED)
    return TRUE;
  n->flags |= FLAG_DEDUPED;
  if (count < 2)
    return TRUE;

  for (l = n->v.c.first; l != NO_NODE; l = d->links[l].next)
    {
      const Node *key = &d->nodes[d->links[l].node];

      key_bytes += 8 + ((key->kind == NODE_STR || key->kind == NODE_BYTES) ? key->v.s.len : 0);
    }
  if (key_bytes > d->budget)
    return over_budget (d);

  if (count <= SMALL_DICT)
    {
      guint32 i;

      for (i = n->v.c.first; i != NO_NODE; i = d->links[i].next)
        {
          guint32 j;

          for (j = n->v.c.first; j != i; j = d->links[j].next)
            if (d->links[j].node != NO_NODE &&
                key_compare (d, d->links[j].node, d->links[i].node) == 0)
              {
                d->links[j].value = d->links[i].value;
                d->links[i].node = NO_NODE;
                removed++;
                break;
              }
        }
    }
  else
    {
      g_autofree guint32 *order = g_new (guint32, count);
      guint32 i = 0;
      guint32 run;

      for (l = n->v.c.first; l != NO_NODE; l = d->links[l].next)
        order[i++] = l;
      g_qsort_with_data (order, count, sizeof (guint32), link_compare, d);

      for (run = 0; run < count; )
        {
          guint32 end = run + 1;

          while (end < count &&
                 key_compare (d, d->links[order[run]].node, d->links[order[end]].node) == 0)
            end++;
          if (end - run > 1)
            {
              d->links[order[run]].value = d->links[order[end - 1]].value;
              for (i = run + 1; i < end; i++)
                d->links[order[i]].node = NO_NODE;
              removed += end - run - 1;
            }
          run = end;
        }
    }

  n->aux -= removed;
  return TRUE;
}

static gboolean measure (Decoder *d,
                         guint32  idx);


/* Size of @idx wrapped in a variant. */
static inline gsize
variant_size (const Decoder *d,
              guint32        idx)
{
  const Node *n = &d->nodes[idx];

  return n->size + 1 + type_len (n);
}

/* Checks a plain dict's keys suit a GVariant dictionary. */
static gboolean
check_dict_keys (Decoder *d,
                 guint32  idx)
{
  const Node *n = &d->nodes[idx];
  const char *why;

  if (n->keys == 0 || n->keys == KEY_STR || n->keys == KEY_INT)
    return TRUE;

  if (n->keys & KEY_OTHER)
    why = "a key that is neither a str nor an int within 64 bits";
  else if (n->keys & KEY_BYTES)
    why = "bytes keys (only a Kwargs converts them to str)";
  else
    why = "both str and int keys";

  return fail (d, MITOGEN_CODEC_ERROR_BAD_KEY,
               "Pickle dict has %s (at offset %" G_GSIZE_FORMAT "); a GVariant "
               "dictionary needs all str or all int keys", why, n->v.c.bad_key_at);
}

static gboolean
measure_entries (Decoder *d,
                 guint32  dict,
                 gboolean int_keys,
                 gsize   *out)
{
  const Node *n = &d->nodes[dict];
  gsize body = 0;
  guint32 l;

  for (l = n->v.c.first; l != NO_NODE; l = d->links[l].next)
    {
      const Link *link = &d->links[l];
      gsize entry;

      if (link->node == NO_NODE)
        continue;
      if (!measure (d, link->value) || (!int_keys && !check_str_value (d, link->node)))
        return FALSE;
      if (int_keys)
        entry = 8 + variant_size (d, link->value);
      else
        entry = with_offsets (align8 (d->nodes[link->node].v.s.len + 1) +
                              variant_size (d, link->value), 1);
      body = align8 (body) + entry;
      if (body > d->budget)
        return over_budget (d);
    }

  *out = with_offsets (body, n->aux);
  return TRUE;
}

/* Computes the serialised size of @idx (and of everything under it),
 * checking keys and the budget. Recursion is bounded by the depth limit. */
static gboolean
measure (Decoder *d,
         guint32  idx)
{
  Node *n = &d->nodes[idx];
  gsize size = 0;

  if (n->flags & FLAG_SIZED)
    return TRUE;

  switch ((NodeKind) n->kind)
    {
    case NODE_NONE:
      size = 0;
      break;
    case NODE_BOOL:
      size = 1;
      break;
    case NODE_INT:
    case NODE_UINT:
    case NODE_FLOAT:
      size = 8;
      break;
    case NODE_STR:
      if (!check_str_value (d, idx))
        return FALSE;
      size = n->v.s.len + 1;
      break;
    case NODE_BYTES:
      size = n->v.s.len;
      break;
    case NODE_CONTEXT:
      size = sizeof context_prefix - 1 + decimal_len (n->v.path.ctx) + 1;
      break;
    case NODE_SENDER:
      size = sizeof sender_prefix - 1 + decimal_len (n->v.path.ctx) + 1 +
             decimal_len (n->v.path.handle) + 1;
      break;
    case NODE_CALL_ERROR:
      if (!check_str_value (d, n->v.ref))
        return FALSE;
      size = with_offsets (align8 (sizeof call_error_tag) +
                           d->nodes[n->v.ref].v.s.len + 1 + 2, 1);
      break;
    case NODE_LIST:
    case NODE_TUPLE:
      {
        gsize body = 0;
        guint32 l;

        if (n->kind == NODE_TUPLE && n->aux == 0)
          {
            size = 1;
            break;
          }
        for (l = n->v.c.first; l != NO_NODE; l = d->links[l].next)
          {
            if (!measure (d, d->links[l].node))
              return FALSE;
            body = align8 (body) + variant_size (d, d->links[l].node);
            if (body > d->budget)
              return over_budget (d);
          }
        n = &d->nodes[idx];
        size = with_offsets (body, n->kind == NODE_TUPLE ? n->aux - 1 : n->aux);
      }
      break;
    case NODE_DICT:
      if (!check_dict_keys (d, idx) || !dedupe (d, idx))
        return FALSE;
      if (!measure_entries (d, idx, d->nodes[idx].keys == KEY_INT, &size))
        return FALSE;
      break;
    case NODE_KWARGS:
      if (!dedupe (d, n->v.ref))
        return FALSE;
      if (!measure_entries (d, n->v.ref, FALSE, &size))
        return FALSE;
      break;
    case NODE_GLOBAL:
    default:
      g_assert_not_reached ();
    }

  if (size > d->budget)
    return over_budget (d);
  n = &d->nodes[idx];
  n->size = size;
  n->flags |= FLAG_SIZED;
  return TRUE;
}

static void write_node (const Decoder *d,
                        guint32        idx,
                        guint8        *out);

/* Writes @idx as a variant at @out; returns its size. */
static gsize
write_variant (const Decoder *d,
               guint32        idx,
               guint8        *out)
{
  const Node *n = &d->nodes[idx];
  guint8 *p = out + n->size;

  write_node (d, idx, out);
  *p++ = '\0';
  p = put_type (p, n);
  return p - out;
}

static inline gsize
pad8 (guint8 *out,
      gsize   pos)
{
  while (pos & 7)
    out[pos++] = '\0';
  return pos;
}

static void
write_entries (const Decoder *d,
               const Node    *n,
               gboolean       int_keys,
               gsize          size,
               guint8        *out)
{
  guint osize;
  guint8 *offsets;
  gsize pos = 0;
  guint32 l;

  /* An empty dictionary serialises to nothing, and may have no buffer. */
  if (n->aux == 0)
    return;
  osize = offset_size_for (size);
  offsets = out + size - (gsize) n->aux * osize;

  for (l = n->v.c.first; l != NO_NODE; l = d->links[l].next)
    {
      const Link *link = &d->links[l];
      const Node *key;
      guint8 *entry;
      gsize epos;

      if (link->node == NO_NODE)
        continue;
      key = &d->nodes[link->node];
      pos = pad8 (out, pos);
      entry = out + pos;

      if (int_keys)
        {
          gint64 v = key->v.i;

          memcpy (entry, &v, 8);
          epos = 8 + write_variant (d, link->value, entry + 8);
        }
      else
        {
          gsize klen = key->v.s.len;
          gsize esize;
          guint eosize;

          memcpy (entry, key->v.s.data, klen);
          entry[klen] = '\0';
          epos = pad8 (entry, klen + 1);
          epos += write_variant (d, link->value, entry + epos);
          /* The key's end is the entry's one framing offset. */
          esize = with_offsets (epos, 1);
          eosize = offset_size_for (esize);
          put_offset (entry + epos, klen + 1, eosize);
          epos = esize;
        }

      pos += epos;
      put_offset (offsets, pos, osize);
      offsets += osize;
    }
}

/* Writes the n->size bytes of @idx's serialised form at @out, which is
 * aligned as the type needs. */
static void
write_node (const Decoder *d,
            guint32        idx,
            guint8        *out)
{
  const Node *n = &d->nodes[idx];

  switch ((NodeKind) n->kind)
    {
    case NODE_NONE:
      break;
    case NODE_BOOL:
      out[0] = n->v.i != 0;
      break;
    case NODE_INT:
    case NODE_UINT:
    case NODE_FLOAT:
      memcpy (out, &n->v, 8);
      break;
    case NODE_STR:
      memcpy (out, n->v.s.data, n->v.s.len);
      out[n->v.s.len] = '\0';
      break;
    case NODE_BYTES:
      if (n->v.s.len > 0)
        memcpy (out, n->v.s.data, n->v.s.len);
      break;
    case NODE_CONTEXT:
      memcpy (out, context_prefix, sizeof context_prefix - 1);
      *put_decimal (out + sizeof context_prefix - 1, n->v.path.ctx) = '\0';
      break;
    case NODE_SENDER:
      {
        guint8 *p = out + sizeof sender_prefix - 1;

        memcpy (out, sender_prefix, sizeof sender_prefix - 1);
        p = put_decimal (p, n->v.path.ctx);
        *p++ = '/';
        *put_decimal (p, n->v.path.handle) = '\0';
      }
      break;
    case NODE_CALL_ERROR:
      {
        const Node *text = &d->nodes[n->v.ref];
        gsize pos;

        memcpy (out, call_error_tag, sizeof call_error_tag);
        pos = pad8 (out, sizeof call_error_tag);
        memcpy (out + pos, text->v.s.data, text->v.s.len);
        pos += text->v.s.len;
        memcpy (out + pos, "\0\0s", 3);
        put_offset (out + pos + 3, sizeof call_error_tag, offset_size_for (n->size));
      }
      break;
    case NODE_LIST:
    case NODE_TUPLE:
      {
        guint osize = offset_size_for (n->size);
        gsize pos = 0;
        guint32 l;

        if (n->kind == NODE_TUPLE && n->aux == 0)
          {
            out[0] = '\0';
            break;
          }

        if (n->kind == NODE_LIST && n->aux == 0)
          break;  /* an empty array serialises to nothing */
        if (n->kind == NODE_LIST)
          {
            guint8 *offsets = out + n->size - (gsize) n->aux * osize;

            for (l = n->v.c.first; l != NO_NODE; l = d->links[l].next)
              {
                pos = pad8 (out, pos);
                pos += write_variant (d, d->links[l].node, out + pos);
                put_offset (offsets, pos, osize);
                offsets += osize;
              }
          }
        else
          {
            /* A tuple's offsets run backwards from its end, one per member
             * but the last. */
            guint8 *offset = out + n->size;

            for (l = n->v.c.first; l != NO_NODE; l = d->links[l].next)
              {
                pos = pad8 (out, pos);
                pos += write_variant (d, d->links[l].node, out + pos);
                if (d->links[l].next != NO_NODE)
                  {
                    offset -= osize;
                    put_offset (offset, pos, osize);
                  }
              }
          }
      }
      break;
    case NODE_DICT:
      write_entries (d, n, is_int_dict (n), n->size, out);
      break;
    case NODE_KWARGS:
      write_entries (d, &d->nodes[n->v.ref], FALSE, n->size, out);
      break;
    case NODE_GLOBAL:
    default:
      g_assert_not_reached ();
    }
}

static GBytes *
owner_of (const Decoder *d,
          const Node    *n)
{
  return n->aux == 0 ? d->input : g_ptr_array_index (d->owned, n->aux - 1);
}

static GVariant *build (const Decoder *d,
                        guint32        idx);

static GVariant *
build_key (const Decoder *d,
           const Node    *key,
           gboolean       int_keys)
{
  if (int_keys)
    return g_variant_new_int64 (key->v.i);
  return g_variant_new_take_string (g_strndup ((const char *) key->v.s.data, key->v.s.len));
}

/* A tree of GVariants for containers that hold big bytes, so the bytes
 * stay slices of the input; everything else is one serialised buffer. */
static GVariant *
build (const Decoder *d,
       guint32        idx)
{
  const Node *n = &d->nodes[idx];
  g_autofree GVariant **children = NULL;
  gsize i = 0;
  guint32 l;

  if (n->kind == NODE_BYTES)
    {
      GBytes *owner = owner_of (d, n);
      gsize offset = n->v.s.len ? n->v.s.data - (const guint8 *) g_bytes_get_data (owner, NULL) : 0;
      g_autoptr(GBytes) slice = g_bytes_new_from_bytes (owner, offset, n->v.s.len);

      return g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, slice, TRUE);
    }

  if (!(n->flags & FLAG_BIG))
    {
      guint8 *data = g_malloc (n->size);
      g_autoptr(GBytes) bytes = NULL;
      g_autofree char *type = g_malloc (type_len (n) + 1);

      write_node (d, idx, data);
      bytes = g_bytes_new_take (data, n->size);
      *put_type ((guint8 *) type, n) = '\0';
      return g_variant_new_from_bytes ((const GVariantType *) type, bytes, TRUE);
    }

  switch ((NodeKind) n->kind)
    {
    case NODE_LIST:
    case NODE_TUPLE:
      children = g_new (GVariant *, n->aux);
      for (l = n->v.c.first; l != NO_NODE; l = d->links[l].next)
        children[i++] = g_variant_new_variant (build (d, d->links[l].node));
      if (n->kind == NODE_LIST)
        return g_variant_new_array (G_VARIANT_TYPE_VARIANT, children, i);
      return g_variant_new_tuple (children, i);

    case NODE_DICT:
    case NODE_KWARGS:
      {
        const Node *dict = n->kind == NODE_DICT ? n : &d->nodes[n->v.ref];
        gboolean int_keys = is_int_dict (n);

        children = g_new (GVariant *, dict->aux);
        for (l = dict->v.c.first; l != NO_NODE; l = d->links[l].next)
          {
            const Link *link = &d->links[l];

            if (link->node == NO_NODE)
              continue;
            children[i++] = g_variant_new_dict_entry (
                build_key (d, &d->nodes[link->node], int_keys),
                g_variant_new_variant (build (d, link->value)));
          }
        return g_variant_new_array (G_VARIANT_TYPE (int_keys ? "{xv}" : "{sv}"),
                                    children, i);
      }

    case NODE_NONE:
    case NODE_BOOL:
    case NODE_INT:
    case NODE_UINT:
    case NODE_FLOAT:
    case NODE_STR:
    case NODE_BYTES:
    case NODE_CONTEXT:
    case NODE_SENDER:
    case NODE_CALL_ERROR:
    case NODE_GLOBAL:
    default:
      g_assert_not_reached ();
    }
}

/**
 * mitogen_pickle_decode:
 * @pickle: a pickle, as Mitogen 0.3 peers write them
 * @error: return location for a #GError
 *
 * Decodes a pickle from an untrusted peer into a [struct@GLib.Variant].
 *
 * Python values map to GVariant as follows:
 *
 * - None is a `mv` Nothing; bool is `b`; int is `x` (`t` when it only fits
 *   an unsigned 64-bit integer); float is `d`;
 * - str is `s`; bytes (and `mitogen.core.Blob`) is `ay`, sharing @pickle's
 *   memory where possible; `mitogen.core.Secret` is `s`;
 * - list is `av`; tuple is a tuple of variants (`()` when empty); dict is
 *   `a{sv}` when every key is a str (or it is empty), `a{xv}` when every
 *   key is an int (or a bool) that fits `x`; any other dict fails with
 *   %MITOGEN_CODEC_ERROR_BAD_KEY. Duplicate keys, which only a forged
 *   pickle holds, keep the last value as in Python.
 *   `mitogen.core.Kwargs` is always `a{sv}` (bytes keys become str);
 * - `mitogen.core.Context` is an object path,
 *   %MITOGEN_PICKLE_CONTEXT_PATH_PREFIX followed by the context id;
 *   `mitogen.core.Sender` is %MITOGEN_PICKLE_SENDER_PATH_PREFIX followed by
 *   the context id, a slash and the handle;
 * - `mitogen.core.CallError` is a `(sv)` tuple of
 *   %MITOGEN_PICKLE_TAG_CALL_ERROR and the error text, wherever it appears.
 *
 * Only the globals Mitogen's own unpickler permits are accepted, and only
 * as functions to call with the arguments they expect. The decoder is
 * bounded: containers may nest %MITOGEN_PICKLE_MAX_DEPTH deep, and the
 * decoded value may not be much larger than @pickle (memo references can
 * repeat an object). Errors are in the %MITOGEN_CODEC_ERROR domain and
 * name the offset of the offending opcode.
 *
 * Returns: (transfer full): the value (never floating), or %NULL with
 *   @error set
 *
 * Since: 1.0
 */
GVariant *
mitogen_pickle_decode (GBytes  *pickle,
                       GError **error)
{
  InlineArrays inline_arrays;
  Decoder d = { .inline_arrays = &inline_arrays, };
  guint32 idx;
  guint32 top;
  GVariant *result = NULL;
  guint i;

  g_return_val_if_fail (pickle != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  d.input = pickle;
  d.base = g_bytes_get_data (pickle, &d.len);
  if (d.base == NULL)
    d.base = (const guint8 *) "";
  d.error = error;

  /* Node and link indices are 32-bit; each needs a byte of input. */
  if (d.len >= G_MAXUINT32 - N_FIRST_FREE)
    {
      fail (&d, MITOGEN_CODEC_ERROR_TOO_BIG,
            "Pickle of %" G_GSIZE_FORMAT " bytes is too large to decode", d.len);
      return NULL;
    }
  d.budget = MAX ((gsize) BUDGET_MIN, d.len * BUDGET_FACTOR);

  /* Typical pickles need about a node and a link per 8 bytes; reserving
   * that up front spares the copies of repeated doubling (untouched pages
   * cost nothing), within a cap for inputs that are mostly bytes. */
  d.cap_nodes = CLAMP (d.len / 6, INLINE_NODES, 1 << 20);
  d.nodes = d.cap_nodes > INLINE_NODES ? g_new (Node, d.cap_nodes) : inline_arrays.nodes;
  d.cap_links = CLAMP (d.len / 6, INLINE_LINKS, 1 << 20);
  d.links = d.cap_links > INLINE_LINKS ? g_new (Link, d.cap_links) : inline_arrays.links;
  d.cap_stack = INLINE_STACK;
  d.stack = inline_arrays.stack;
  d.cap_marks = INLINE_MARKS;
  d.marks = inline_arrays.marks;
  d.memo_alloc = INLINE_MEMO;
  d.memo = inline_arrays.memo;
  memset (inline_arrays.memo, 0xff, sizeof inline_arrays.memo);

  /* The shared nodes, at the indices the N_* names give them. */
  new_node (&d, NODE_NONE);
  idx = new_node (&d, NODE_BOOL);
  d.nodes[idx].v.i = TRUE;
  idx = new_node (&d, NODE_BOOL);
  d.nodes[idx].v.i = FALSE;
  new_container (&d, NODE_TUPLE);
  for (i = 0; i < N_GLOBALS; i++)
    {
      idx = new_node (&d, NODE_GLOBAL);
      d.nodes[idx].v.ref = i;
    }

  top = run (&d);
  if (top != NO_NODE && measure (&d, top))
    result = g_variant_take_ref (build (&d, top));

  free_array (d.nodes, inline_arrays.nodes);
  free_array (d.links, inline_arrays.links);
  free_array (d.stack, inline_arrays.stack);
  free_array (d.marks, inline_arrays.marks);
  free_array (d.memo, inline_arrays.memo);
  g_clear_pointer (&d.owned, g_ptr_array_unref);

  return result;
}
