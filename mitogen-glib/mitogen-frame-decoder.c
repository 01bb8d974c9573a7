/* STUB: replaced by the frame decoder. */
#include "config.h"
#include "mitogen-error.h"
#include "mitogen-frame-decoder.h"

struct _MitogenFrameDecoder { GObject parent_instance; };
G_DEFINE_FINAL_TYPE (MitogenFrameDecoder, mitogen_frame_decoder, G_TYPE_OBJECT)
static void mitogen_frame_decoder_class_init (MitogenFrameDecoderClass *klass) {}
static void mitogen_frame_decoder_init (MitogenFrameDecoder *self) {}
MitogenFrameDecoder *mitogen_frame_decoder_new (guint64 max) { return g_object_new (MITOGEN_TYPE_FRAME_DECODER, NULL); }
guint64 mitogen_frame_decoder_get_max_message_size (MitogenFrameDecoder *self) { return 0; }
gboolean mitogen_frame_decoder_feed (MitogenFrameDecoder *self, const guint8 *data, gsize len, GError **error) { return FALSE; }
MitogenMessage *mitogen_frame_decoder_pop (MitogenFrameDecoder *self) { return NULL; }
guint mitogen_frame_decoder_get_n_pending (MitogenFrameDecoder *self) { return 0; }
gboolean mitogen_frame_decoder_finish (MitogenFrameDecoder *self, GError **error) { return TRUE; }
