/* mitogen-error.h: the error domains of mitogen-glib
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include <glib.h>

#include "mitogen-version-macros.h"

G_BEGIN_DECLS

/**
 * MITOGEN_ERROR:
 *
 * The error domain of runtime failures: calls, channels, streams,
 * connections. Errors in this domain use the codes of [enum@Mitogen.Error].
 */
#define MITOGEN_ERROR (mitogen_error_quark ())

/**
 * MitogenError:
 * @MITOGEN_ERROR_FAILED: a failure with no more specific code.
 * @MITOGEN_ERROR_CALL: the remote function raised an exception; the message
 *   carries the remote exception type, its text and the remote traceback.
 * @MITOGEN_ERROR_CHANNEL: the channel ended: a dead message arrived (the
 *   respondent disconnected, the handle was unknown, the sender was closed),
 *   and the message carries its reason.
 * @MITOGEN_ERROR_STREAM: a stream to a peer broke or carried invalid data.
 * @MITOGEN_ERROR_TIMEOUT: a deadline passed before a result arrived.
 * @MITOGEN_ERROR_LATCH_CLOSED: the [class@Mitogen.Latch] was closed while
 *   waiting on it, or before.
 * @MITOGEN_ERROR_CONNECT: a connection could not be made: the program was
 *   not found, or it exited (or closed its end of the connection) before
 *   the child runtime started.
 * @MITOGEN_ERROR_PASSWORD_REQUIRED: a password was asked for and none was
 *   given; set the password option.
 * @MITOGEN_ERROR_BAD_PASSWORD: the password given was refused.
 * @MITOGEN_ERROR_HOST_KEY: the remote host key is unknown or changed and the
 *   host-key policy refuses it.
 * @MITOGEN_ERROR_CONNECT_TIMEOUT: the child runtime did not start within the
 *   connect timeout.
 *
 * Runtime error codes in the %MITOGEN_ERROR domain.
 *
 * Since: 1.0
 */
typedef enum {
  MITOGEN_ERROR_FAILED,
  MITOGEN_ERROR_CALL,
  MITOGEN_ERROR_CHANNEL,
  MITOGEN_ERROR_STREAM,
  MITOGEN_ERROR_TIMEOUT,
  MITOGEN_ERROR_LATCH_CLOSED,
  MITOGEN_ERROR_CONNECT,
  MITOGEN_ERROR_PASSWORD_REQUIRED,
  MITOGEN_ERROR_BAD_PASSWORD,
  MITOGEN_ERROR_HOST_KEY,
  MITOGEN_ERROR_CONNECT_TIMEOUT,
} MitogenError;

MITOGEN_AVAILABLE_IN_1_0
GQuark mitogen_error_quark (void);

/**
 * MITOGEN_CODEC_ERROR:
 *
 * The error domain of the wire codecs (framing and pickle): the reason a
 * frame or a pickle was refused. Codes are those of
 * [enum@Mitogen.CodecError].
 */
#define MITOGEN_CODEC_ERROR (mitogen_codec_error_quark ())

/**
 * MitogenCodecError:
 * @MITOGEN_CODEC_ERROR_BAD_MAGIC: a frame header does not start with the
 *   protocol magic `MI`.
 * @MITOGEN_CODEC_ERROR_TOO_LARGE: a frame announces a payload over the
 *   maximum message size.
 * @MITOGEN_CODEC_ERROR_TRUNCATED: the input ended inside a frame or a pickle.
 * @MITOGEN_CODEC_ERROR_UNKNOWN_OPCODE: the pickle uses an opcode outside the
 *   supported subset.
 * @MITOGEN_CODEC_ERROR_FORBIDDEN_GLOBAL: the pickle names a global outside
 *   the permitted set.
 * @MITOGEN_CODEC_ERROR_TOO_DEEP: the value nests deeper than
 *   %MITOGEN_PICKLE_MAX_DEPTH.
 * @MITOGEN_CODEC_ERROR_BAD_MEMO: a memo reference is out of range, or the
 *   memo grew beyond its bound.
 * @MITOGEN_CODEC_ERROR_BAD_KEY: a dictionary has keys a GVariant dictionary
 *   cannot hold (anything but all-str or all-int keys).
 * @MITOGEN_CODEC_ERROR_INTEGER_RANGE: an integer does not fit in 64 bits.
 * @MITOGEN_CODEC_ERROR_MALFORMED: the pickle is structurally invalid (stack
 *   underflow, a missing mark, bad arguments to a permitted global, invalid
 *   text, trailing data).
 * @MITOGEN_CODEC_ERROR_UNSUPPORTED_TYPE: a value has no representation on
 *   the other side (for example a string containing NUL, or a GVariant
 *   type with no Python equivalent).
 * @MITOGEN_CODEC_ERROR_TOO_BIG: decoding would produce far more data than
 *   the input holds (memo amplification).
 *
 * Reasons a frame or a pickle is refused, in the %MITOGEN_CODEC_ERROR
 * domain.
 *
 * Since: 1.0
 */
typedef enum {
  MITOGEN_CODEC_ERROR_BAD_MAGIC,
  MITOGEN_CODEC_ERROR_TOO_LARGE,
  MITOGEN_CODEC_ERROR_TRUNCATED,
  MITOGEN_CODEC_ERROR_UNKNOWN_OPCODE,
  MITOGEN_CODEC_ERROR_FORBIDDEN_GLOBAL,
  MITOGEN_CODEC_ERROR_TOO_DEEP,
  MITOGEN_CODEC_ERROR_BAD_MEMO,
  MITOGEN_CODEC_ERROR_BAD_KEY,
  MITOGEN_CODEC_ERROR_INTEGER_RANGE,
  MITOGEN_CODEC_ERROR_MALFORMED,
  MITOGEN_CODEC_ERROR_UNSUPPORTED_TYPE,
  MITOGEN_CODEC_ERROR_TOO_BIG,
} MitogenCodecError;

MITOGEN_AVAILABLE_IN_1_0
GQuark mitogen_codec_error_quark (void);

G_END_DECLS
