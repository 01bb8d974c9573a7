/* STUB: replaced by the latch. */
#include "config.h"
#include "mitogen-error.h"
#include "mitogen-latch.h"

struct _MitogenLatch { GObject parent_instance; };
G_DEFINE_FINAL_TYPE (MitogenLatch, mitogen_latch, G_TYPE_OBJECT)
static void mitogen_latch_class_init (MitogenLatchClass *klass) {}
static void mitogen_latch_init (MitogenLatch *self) {}
MitogenLatch *mitogen_latch_new (void) { return g_object_new (MITOGEN_TYPE_LATCH, NULL); }
gboolean mitogen_latch_put (MitogenLatch *self, gpointer item, GError **error) { return FALSE; }
gpointer mitogen_latch_get (MitogenLatch *self, gint64 t, GCancellable *c, GError **error) { return NULL; }
gpointer mitogen_latch_try_get (MitogenLatch *self, GError **error) { return NULL; }
void mitogen_latch_get_async (MitogenLatch *self, GCancellable *c, GAsyncReadyCallback cb, gpointer d) {}
gpointer mitogen_latch_get_finish (MitogenLatch *self, GAsyncResult *r, GError **error) { return NULL; }
void mitogen_latch_close (MitogenLatch *self) {}
gboolean mitogen_latch_is_closed (MitogenLatch *self) { return FALSE; }
guint mitogen_latch_get_size (MitogenLatch *self) { return 0; }
