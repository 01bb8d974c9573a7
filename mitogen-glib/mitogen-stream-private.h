/* mitogen-stream-private.h: one framed byte stream to a peer
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#pragma once

#ifndef PACKAGE_VERSION
# error "config.h must be included before private headers"
#endif

#include "mitogen-broker.h"
#include "mitogen-frame-private.h"

G_BEGIN_DECLS

typedef struct _MitogenStream MitogenStream;

/* Called on the broker thread for every complete frame, lent for the
 * call. */
typedef void (*MitogenStreamMessageFunc) (MitogenStream  *stream,
                                          MitogenFrame   *frame,
                                          gpointer        user_data);
typedef void (*MitogenStreamFunc)        (MitogenStream *stream,
                                          gpointer       user_data);
/* Called on the broker thread once, when the stream closes; @error says
 * why (NULL for a clean EOF or a local close). */
typedef void (*MitogenStreamClosedFunc)  (MitogenStream *stream,
                                          const GError  *error,
                                          gpointer       user_data);
/* Called on the broker thread with raw bytes while the stream is in
 * bootstrap mode; returns how many bytes it consumed. A callee that
 * switches the stream to framed mode (_mitogen_stream_start_framing)
 * leaves the unconsumed rest to the frame decoder. */
typedef gsize (*MitogenStreamRawFunc)    (MitogenStream *stream,
                                          const guint8  *data,
                                          gsize          len,
                                          gpointer       user_data);

MitogenStream *_mitogen_stream_new            (MitogenBroker *broker,
                                               int            fd,
                                               const char    *name,
                                               guint64        max_message_size);
MitogenStream *_mitogen_stream_ref            (MitogenStream *self);
void           _mitogen_stream_unref          (MitogenStream *self);
const char    *_mitogen_stream_get_name       (MitogenStream *self);
void           _mitogen_stream_set_name       (MitogenStream *self,
                                               const char    *name);
int            _mitogen_stream_get_fd         (MitogenStream *self);
void           _mitogen_stream_set_callbacks  (MitogenStream            *self,
                                               MitogenStreamRawFunc      on_raw,
                                               MitogenStreamMessageFunc  on_message,
                                               MitogenStreamClosedFunc   on_closed,
                                               gpointer                  user_data);
/* Broker thread: @func runs once, on the broker thread, when the first
 * frame from the peer has come, just before it is delivered. */
void           _mitogen_stream_set_first_frame_func (MitogenStream     *self,
                                                     MitogenStreamFunc  func,
                                                     gpointer           user_data);
/* A second observer of the close, independent of the callbacks above
 * (the connection that spawned the peer uses it to reap the process). */
void           _mitogen_stream_set_close_notify (MitogenStream           *self,
                                                 MitogenStreamClosedFunc  func,
                                                 gpointer                 user_data,
                                                 GDestroyNotify           destroy);
/* Broker thread: begin reading (raw mode until start_framing). */
void           _mitogen_stream_start          (MitogenStream *self);
void           _mitogen_stream_start_framing  (MitogenStream *self);
/* Any thread: queue a frame; writes at once when the queue is empty,
 * unless the frame follows another by a few microseconds with nothing read
 * in between (a burst: the broker writes the batch, or the sender does
 * once 50 us passed since its last write). Returns FALSE if the stream is
 * closed. */
gboolean       _mitogen_stream_send           (MitogenStream  *self,
                                               MitogenMessage *message);
/* The same for a frame (its payload is referenced, not copied). */
gboolean       _mitogen_stream_send_frame     (MitogenStream      *self,
                                               const MitogenFrame *frame);
/* Any thread: write raw bytes (bootstrap). */
gboolean       _mitogen_stream_write_raw      (MitogenStream *self,
                                               GBytes        *data);
/* Broker thread: close now; on_closed runs with @error. */
void           _mitogen_stream_close          (MitogenStream *self,
                                               const GError  *error);
gboolean       _mitogen_stream_is_closed      (MitogenStream *self);
gsize          _mitogen_stream_get_queued_bytes (MitogenStream *self);
/* Any thread: bytes written to the peer so far, raw and framed (what the
 * benchmarks report as a bootstrap's cost). */
guint64        _mitogen_stream_get_bytes_written (MitogenStream *self);
/* Any thread: what _get_bytes_written said when the peer's first frame
 * came (what it was sent before its first message); the same as it
 * until then. */
guint64        _mitogen_stream_get_bytes_before_first_frame (MitogenStream *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MitogenStream, _mitogen_stream_unref)

G_END_DECLS
