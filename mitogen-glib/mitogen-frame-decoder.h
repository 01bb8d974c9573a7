/* mitogen-frame-decoder.h: incremental decoder of framed messages
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#if !defined(MITOGEN_INSIDE) && !defined(MITOGEN_COMPILATION)
# error "Only <mitogen-glib.h> can be included directly."
#endif

#include <glib-object.h>

#include "mitogen-version-macros.h"
#include "mitogen-message.h"

G_BEGIN_DECLS

/* See the class documentation in mitogen-frame-decoder.c. A decoder is
 * not thread-safe: the reader of one stream owns it. */

#define MITOGEN_TYPE_FRAME_DECODER (mitogen_frame_decoder_get_type ())

MITOGEN_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (MitogenFrameDecoder, mitogen_frame_decoder, MITOGEN, FRAME_DECODER, GObject)

MITOGEN_AVAILABLE_IN_1_0
MitogenFrameDecoder *mitogen_frame_decoder_new   (guint64              max_message_size) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
guint64         mitogen_frame_decoder_get_max_message_size (MitogenFrameDecoder *self);
MITOGEN_AVAILABLE_IN_1_0
gboolean        mitogen_frame_decoder_feed       (MitogenFrameDecoder *self,
                                                  const guint8        *data,
                                                  gsize                len,
                                                  GError             **error);
MITOGEN_AVAILABLE_IN_1_0
MitogenMessage *mitogen_frame_decoder_pop        (MitogenFrameDecoder *self) G_GNUC_WARN_UNUSED_RESULT;
MITOGEN_AVAILABLE_IN_1_0
guint           mitogen_frame_decoder_get_n_pending (MitogenFrameDecoder *self);
MITOGEN_AVAILABLE_IN_1_0
gboolean        mitogen_frame_decoder_finish     (MitogenFrameDecoder *self,
                                                  GError             **error);

G_END_DECLS
