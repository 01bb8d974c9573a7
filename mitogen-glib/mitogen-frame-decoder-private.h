/* mitogen-frame-decoder-private.h: decoder internals for tests
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-frame-decoder.h"
#include "mitogen-frame-private.h"

G_BEGIN_DECLS

/* The bytes currently allocated for a partial payload (0 between frames).
 * Tests use it to check that a large announced length is not allocated
 * before the bytes arrive. */
gsize _mitogen_frame_decoder_get_buffer_capacity (MitogenFrameDecoder *self);

/* Sets the first allocation for a payload split over several feeds
 * (default 64 KiB), so tests and fuzzers can reach the growth steps with
 * small inputs. */
void  _mitogen_frame_decoder_set_initial_capacity (MitogenFrameDecoder *self,
                                                   gsize                initial_capacity);

/* Takes the oldest decoded frame, as mitogen_frame_decoder_pop() does but
 * without making a message: @frame is filled in (clear it with
 * _mitogen_frame_clear()). FALSE if none is queued. */
gboolean _mitogen_frame_decoder_pop_frame (MitogenFrameDecoder *self,
                                           MitogenFrame        *frame);

G_END_DECLS
