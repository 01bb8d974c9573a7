/* mitogen-frame.c: a message's header and payload without the GObject
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include "mitogen-frame-private.h"

static gsize
pieces_size (GPtrArray *pieces)
{
  gsize size = 0;

  for (guint i = 0; i < pieces->len; i++)
    size += g_bytes_get_size (g_ptr_array_index (pieces, i));
  return size;
}

static void
init_header (MitogenFrame *frame,
             guint32       dst_id,
             guint32       src_id,
             guint32       auth_id,
             guint32       handle,
             guint32       reply_to)
{
  frame->dst_id = dst_id;
  frame->src_id = src_id;
  frame->auth_id = auth_id;
  frame->handle = handle;
  frame->reply_to = reply_to;
  frame->message = NULL;
}

void
_mitogen_frame_init (MitogenFrame *frame,
                     guint32       dst_id,
                     guint32       src_id,
                     guint32       auth_id,
                     guint32       handle,
                     guint32       reply_to,
                     GBytes       *data)
{
  init_header (frame, dst_id, src_id, auth_id, handle, reply_to);
  /* Never a NULL buffer: consumers may treat the payload as a string. */
  frame->data = data != NULL ? data : g_bytes_new_static ("", 0);
  frame->pieces = NULL;
  frame->size = g_bytes_get_size (frame->data);
}

void
_mitogen_frame_init_from_writer (MitogenFrame        *frame,
                                 guint32              dst_id,
                                 guint32              src_id,
                                 guint32              auth_id,
                                 guint32              handle,
                                 guint32              reply_to,
                                 MitogenPickleWriter *writer)
{
  if (writer->pieces == NULL)
    {
      _mitogen_frame_init (frame, dst_id, src_id, auth_id, handle, reply_to,
                           _mitogen_pickle_writer_finish (writer));
      return;
    }
  init_header (frame, dst_id, src_id, auth_id, handle, reply_to);
  frame->data = NULL;
  frame->pieces = _mitogen_pickle_writer_finish_pieces (writer);
  frame->size = pieces_size (frame->pieces);
}

void
_mitogen_frame_init_from_message (MitogenFrame   *frame,
                                  MitogenMessage *message)
{
  GPtrArray *pieces = _mitogen_message_get_pieces (message);

  init_header (frame, message->dst_id, message->src_id, message->auth_id,
               message->handle, message->reply_to);
  frame->data = pieces == NULL ? g_bytes_ref (_mitogen_message_get_data (message)) : NULL;
  frame->pieces = pieces != NULL ? g_ptr_array_ref (pieces) : NULL;
  frame->size = _mitogen_message_get_size (message);
  frame->message = g_object_ref (message);
}

void
_mitogen_frame_clear (MitogenFrame *frame)
{
  g_clear_pointer (&frame->data, g_bytes_unref);
  g_clear_pointer (&frame->pieces, g_ptr_array_unref);
  g_clear_object (&frame->message);
}

MitogenMessage *
_mitogen_frame_get_message (MitogenFrame *frame)
{
  if (frame->message != NULL)
    return frame->message;

  frame->message = _mitogen_message_new_full (frame->dst_id, frame->src_id, frame->auth_id,
                                              frame->handle, frame->reply_to, frame->data);
  if (frame->pieces != NULL)
    _mitogen_message_set_pieces (frame->message, frame->pieces, frame->size);
  return frame->message;
}

GBytes *
_mitogen_frame_dup_data (MitogenFrame *frame)
{
  if (frame->data == NULL)
    frame->data = _mitogen_pickle_join_pieces (frame->pieces);
  return g_bytes_ref (frame->data);
}

void
_mitogen_frame_pack_header (const MitogenFrame *frame,
                            guint8             *header)
{
  _mitogen_pack_header (header, frame->dst_id, frame->src_id, frame->auth_id,
                        frame->handle, frame->reply_to, frame->size);
}
