/* mitogen-pickle.h: GVariant <-> pickle (the Mitogen 0.3 subset)
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include <glib-object.h>

#include "mitogen-version-macros.h"

G_BEGIN_DECLS

/**
 * MITOGEN_PICKLE_MAX_DEPTH:
 *
 * How deeply containers may nest in a pickle the decoder accepts, and in a
 * value the encoder writes. Deep enough for any real call; shallow enough
 * that the GVariant of a value stays within GLib's own nesting limit.
 *
 * Lists, tuples and dicts count (an empty list is one level, a list in a
 * list two); variants, maybes and scalars do not. A value nested exactly
 * this deep is accepted, one level more fails with
 * %MITOGEN_CODEC_ERROR_TOO_DEEP.
 */
#define MITOGEN_PICKLE_MAX_DEPTH 40

/**
 * MitogenPickleFlags:
 * @MITOGEN_PICKLE_FLAGS_NONE: the default: bytes are written with the
 *   protocol 3 `BINBYTES` opcodes, which every Python 3 peer (the upstream
 *   child included) reads without the latin-1 detour.
 * @MITOGEN_PICKLE_FLAGS_BYTES_AS_STRING: write bytes as Python 2 strings
 *   (`SHORT_BINSTRING`/`BINSTRING`), for peers running Python 2; a Mitogen
 *   peer on Python 3 reads them as bytes too.
 * @MITOGEN_PICKLE_FLAGS_BYTES_VIA_CODECS: write bytes exactly as Python's
 *   protocol 2 pickler does (`_codecs.encode(text, 'latin1')`), for peers
 *   that accept nothing but protocol 2.
 *
 * Options of [func@Mitogen.pickle_encode]. When both bytes flags are
 * given, %MITOGEN_PICKLE_FLAGS_BYTES_VIA_CODECS wins. Everything but bytes
 * is written with protocol 2 opcodes in every mode.
 *
 * Since: 1.0
 */
typedef enum /*< flags >*/ {
  MITOGEN_PICKLE_FLAGS_NONE = 0,
  MITOGEN_PICKLE_FLAGS_BYTES_AS_STRING = 1 << 0,
  MITOGEN_PICKLE_FLAGS_BYTES_VIA_CODECS = 1 << 1,
} MitogenPickleFlags;

/**
 * MITOGEN_PICKLE_TAG_CALL_ERROR:
 *
 * The tag of a `(sv)` tuple that stands for a `mitogen.core.CallError`; the
 * value is the error text (`s`).
 */
#define MITOGEN_PICKLE_TAG_CALL_ERROR "mitogen.core.CallError"

/**
 * MITOGEN_PICKLE_TAG_KWARGS:
 *
 * The tag of a `(sv)` tuple that stands for a `mitogen.core.Kwargs`; the
 * value is an `a{sv}` dictionary.
 */
#define MITOGEN_PICKLE_TAG_KWARGS "mitogen.core.Kwargs"

/**
 * MITOGEN_PICKLE_TAG_SECRET:
 *
 * The tag of a `(sv)` tuple that stands for a `mitogen.core.Secret` (a
 * string peers never log); the value is the string (`s`).
 */
#define MITOGEN_PICKLE_TAG_SECRET "mitogen.core.Secret"

/**
 * MITOGEN_PICKLE_TAG_BLOB:
 *
 * The tag of a `(sv)` tuple that stands for a `mitogen.core.Blob` (bytes
 * peers never log in full); the value is the bytes (`ay`).
 */
#define MITOGEN_PICKLE_TAG_BLOB "mitogen.core.Blob"

/**
 * MITOGEN_PICKLE_CONTEXT_PATH_PREFIX:
 *
 * A `mitogen.core.Context` is an object path of this prefix followed by the
 * decimal context id, e.g. `/mitogen/context/5`.
 */
#define MITOGEN_PICKLE_CONTEXT_PATH_PREFIX "/mitogen/context/"

/**
 * MITOGEN_PICKLE_SENDER_PATH_PREFIX:
 *
 * A `mitogen.core.Sender` is an object path of this prefix followed by the
 * decimal context id and handle, e.g. `/mitogen/sender/5/1003`.
 */
#define MITOGEN_PICKLE_SENDER_PATH_PREFIX "/mitogen/sender/"

MITOGEN_AVAILABLE_IN_1_0
GBytes   *mitogen_pickle_encode (GVariant            *value,
                                 MitogenPickleFlags   flags,
                                 GError             **error) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
GVariant *mitogen_pickle_decode (GBytes              *pickle,
                                 GError             **error) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
