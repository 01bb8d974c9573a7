/* mitogen-router.c: routes messages between this process and its contexts
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <string.h>

#include "mitogen-boot-bytecode-private.h"
#include "mitogen-broker-private.h"
#include "mitogen-context-private.h"
#include "mitogen-enum-types.h"
#include "mitogen-error.h"
#include "mitogen-log-private.h"
#include "mitogen-message-private.h"
#include "mitogen-module-responder-private.h"
#include "mitogen-pickle-private.h"
#include "mitogen-router-private.h"

/**
 * MitogenRouter:
 *
 * Routes messages between this process (context 0, the master) and the
 * contexts it reaches, and creates those contexts.
 *
 * Every message that arrives on a stream is checked before it goes
 * anywhere: its source and authority ids must belong to the stream it came
 * on, or it is dropped with a log line. A message for this process goes to
 * the handler registered for its handle; one for an unknown handle that
 * wants a reply gets a dead reply, `invalid handle`. A master registers no
 * handler for `CALL_FUNCTION`, so no child can run code here.
 *
 * Signals are emitted in the thread-default main context of the thread
 * that created the router.
 *
 * Thread safety: every method may be called from any thread.
 *
 * Since: 1.0
 */

typedef struct
{
  gatomicrefcount ref_count;
  guint32 handle;
  MitogenHandlerFlags flags;
  guint32 respondent_id;
  MitogenPolicy policy;
  MitogenInternalHandlerFunc func;         /* (nullable) if frame_func */
  MitogenInternalFrameHandlerFunc frame_func;  /* (nullable) */
  gpointer user_data;
  GDestroyNotify destroy;
} Handler;

struct _MitogenRouter
{
  GObject parent_instance;

  MitogenBroker *broker;        /* (owned) read-only after init */
  GMainContext *owner_context;  /* (owned) read-only after init */
  guint32 context_id;           /* read-only */

  GMutex lock;
  GHashTable *routes;           /* (lock) id -> (owned) MitogenStream */
  GHashTable *streams;          /* (lock) (owned) MitogenStream -> peer id */
  GHashTable *handlers;         /* (lock) handle -> (owned) Handler */
  GHashTable *contexts;         /* (lock) id -> (owned) MitogenContext */
  GHashTable *egress;           /* (lock) stream -> set of ids it sent to */
  GHashTable *upstream_dirs;    /* (lock) id -> (owned) package dir */
  guint64 next_context_id;      /* (lock) never wraps: ids are not reused */
  GHashTable *allocations;      /* (lock) stream -> GArray of id blocks */
  guint64 max_message_size;     /* (lock) */
  gboolean exited;              /* (lock) the broker has exited */

  guint next_handle;            /* (atomic) */
  int child_log_level;          /* (atomic) */
  guint notices_dropped;        /* (atomic) */

  MitogenModuleResponder *responder; /* (owned) read-only after init */
  MitogenBytecodeCache *bytecode;    /* (owned) read-only after init */
};

enum {
  PROP_0,
  PROP_BROKER,
  PROP_CACHE_DIRECTORY,
  N_PROPS
};

enum {
  SIGNAL_CONTEXT_ADDED,
  SIGNAL_CONTEXT_DISCONNECTED,
  SIGNAL_FIND_MODULE,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (MitogenRouter, mitogen_router, G_TYPE_OBJECT)

static Handler *
handler_ref (Handler *handler)
{
  g_atomic_ref_count_inc (&handler->ref_count);
  return handler;
}

/* Handlers are refcounted so that del_handler on one thread cannot free a
 * handler another thread is running. */
static void
handler_unref (Handler *handler)
{
  if (!g_atomic_ref_count_dec (&handler->ref_count))
    return;
  if (handler->destroy != NULL)
    handler->destroy (handler->user_data);
  g_free (handler);
}

typedef struct
{
  GSourceFunc func;
  gpointer data;
  GDestroyNotify destroy;
} Invocation;

void
_mitogen_invoke_in_context (GMainContext   *context,
                            GSourceFunc     func,
                            gpointer        data,
                            GDestroyNotify  destroy)
{
  GSource *source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_static_name (source, "[mitogen] deliver");
  g_source_set_callback (source, func, data, destroy);
  g_source_attach (source, context);
  g_source_unref (source);
}

/* Signal emission in the owner's context. */

typedef struct
{
  MitogenRouter *router;
  MitogenContext *context;
  guint signal_id;
} Emission;

static void
emission_free (Emission *emission)
{
  g_object_unref (emission->router);
  g_object_unref (emission->context);
  g_free (emission);
}

static gboolean
emit_in_owner_cb (gpointer data)
{
  Emission *emission = data;

  g_signal_emit (emission->router, signals[emission->signal_id], 0, emission->context);

  return G_SOURCE_REMOVE;
}

static void
emit_in_owner (MitogenRouter  *self,
               guint           signal_id,
               MitogenContext *context)
{
  Emission *emission = g_new (Emission, 1);

  emission->router = g_object_ref (self);
  emission->context = g_object_ref (context);
  emission->signal_id = signal_id;
  _mitogen_invoke_in_context (self->owner_context, emit_in_owner_cb, emission,
                              (GDestroyNotify) emission_free);
}

/* Routing. */

/* Hands @frame to @handler: as it is, or as a message. */
static void
handler_deliver (MitogenRouter *self,
                 Handler       *handler,
                 MitogenFrame  *frame)
{
  if (handler->frame_func != NULL)
    handler->frame_func (self, frame, handler->user_data);
  else
    handler->func (self, _mitogen_frame_get_message (frame), handler->user_data);
}

static void
deliver_local (MitogenRouter  *self,
               MitogenFrame   *frame,
               MitogenStream  *in_stream)
{
  Handler *handler;
  gboolean dead = frame->reply_to == MITOGEN_HANDLE_IS_DEAD;
  guint32 in_peer = G_MAXUINT32;

  g_mutex_lock (&self->lock);
  handler = g_hash_table_lookup (self->handlers, GUINT_TO_POINTER (frame->handle));
  if (in_stream != NULL)
    in_peer = GPOINTER_TO_UINT (g_hash_table_lookup (self->streams, in_stream));
  if (handler != NULL)
    {
      /* A dead message that ends a respondent-bound channel is believed
       * only from this process or from the direction of the respondent
       * (it, or an intermediate on the way to it): a sibling must not be
       * able to fail someone else's call. */
      if (dead && handler->respondent_id != MITOGEN_NO_RESPONDENT && in_stream != NULL &&
          g_hash_table_lookup (self->routes, GUINT_TO_POINTER (handler->respondent_id)) != in_stream)
        {
          g_mutex_unlock (&self->lock);
          g_message ("Router: dead message for handle %u from context %u refused: "
                     "it does not come from the direction of context %u",
                     frame->handle, frame->src_id, handler->respondent_id);
          return;
        }
      if (!dead && handler->respondent_id != MITOGEN_NO_RESPONDENT &&
          frame->src_id != handler->respondent_id)
        {
          g_mutex_unlock (&self->lock);
          g_message ("Router: reply for handle %u from context %u, expected %u; refused",
                     frame->handle, frame->src_id, handler->respondent_id);
          if (frame->reply_to != 0)
            _mitogen_router_send_dead (self, frame->src_id, frame->reply_to,
                                       "reply from unexpected context");
          return;
        }
      /* Dead messages are notices to the handler itself (e.g. the broker
       * exiting), not requests: no policy applies to them. */
      if (!dead && handler->policy == MITOGEN_POLICY_IMMEDIATE_CHILD &&
          (in_stream == NULL || frame->src_id != in_peer))
        {
          g_mutex_unlock (&self->lock);
          g_message ("Router: message for handle %u from context %u refused by policy",
                     frame->handle, frame->src_id);
          if (frame->reply_to != 0 && !dead)
            _mitogen_router_send_dead (self, frame->src_id, frame->reply_to,
                                       "refused by policy");
          return;
        }
      if (!(handler->flags & MITOGEN_HANDLER_FLAGS_PERSIST))
        g_hash_table_steal (self->handlers, GUINT_TO_POINTER (frame->handle));
      else
        handler_ref (handler);
    }
  g_mutex_unlock (&self->lock);

  if (handler == NULL)
    {
      if (frame->reply_to != 0 && !dead)
        _mitogen_router_send_dead (self, frame->src_id, frame->reply_to, "invalid handle");
      else if (!dead)
        g_debug ("Router: dropped message for unknown handle %u from context %u",
                 frame->handle, frame->src_id);
      return;
    }

  /* We own one reference: the table's for a one-shot handler (stolen),
   * our own for a persistent one. */
  handler_deliver (self, handler, frame);
  handler_unref (handler);
}

/* Router-generated notices (dead replies) are dropped rather than queued
 * behind this much unsent data: a peer that floods requests and reads
 * nothing must not make us buffer its answers without bound. */
#define NOTICE_QUEUE_LIMIT (1024 * 1024)

static gboolean
route_frame (MitogenRouter   *self,
             MitogenFrame    *frame,
             MitogenStream   *in_stream,
             gboolean         is_notice,
             GError         **error)
{
  g_autoptr(MitogenStream) out = NULL;
  gsize size = frame->size;
  guint64 max_size;

  g_mutex_lock (&self->lock);
  max_size = self->max_message_size;

  if (in_stream != NULL)
    {
      MitogenStream *auth_stream = g_hash_table_lookup (self->routes, GUINT_TO_POINTER (frame->auth_id));

      /* Like reverse path filtering: the claimed authority and source must
       * both be reachable through the stream the message came on. */
      if (auth_stream != in_stream)
        {
          g_mutex_unlock (&self->lock);
          g_message ("Router: dropped message from stream %s: bad auth_id %u (dst %u, handle %u)",
                     _mitogen_stream_get_name (in_stream), frame->auth_id,
                     frame->dst_id, frame->handle);
          return FALSE;
        }
      if (frame->src_id != frame->auth_id &&
          g_hash_table_lookup (self->routes, GUINT_TO_POINTER (frame->src_id)) != in_stream)
        {
          g_mutex_unlock (&self->lock);
          g_message ("Router: dropped message from stream %s: bad src_id %u (dst %u, handle %u)",
                     _mitogen_stream_get_name (in_stream), frame->src_id,
                     frame->dst_id, frame->handle);
          return FALSE;
        }
    }

  if (frame->dst_id != self->context_id)
    {
      out = g_hash_table_lookup (self->routes, GUINT_TO_POINTER (frame->dst_id));
      if (out != NULL)
        _mitogen_stream_ref (out);
      /* Remember who talks to whom beyond us: they hear of its death. */
      if (in_stream != NULL)
        {
          GHashTable *ids = g_hash_table_lookup (self->egress, in_stream);

          if (ids == NULL)
            {
              ids = g_hash_table_new (NULL, NULL);
              g_hash_table_insert (self->egress, in_stream, ids);
            }
          g_hash_table_add (ids, GUINT_TO_POINTER (frame->dst_id));
        }
    }
  g_mutex_unlock (&self->lock);

  if (size > max_size)
    {
      g_autofree char *reason = g_strdup_printf ("message too large (max %" G_GUINT64_FORMAT " bytes)", max_size);

      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                   "Message of %" G_GSIZE_FORMAT " bytes is over the maximum of %" G_GUINT64_FORMAT,
                   size, max_size);
      if (frame->reply_to != 0 && frame->reply_to != MITOGEN_HANDLE_IS_DEAD)
        _mitogen_router_send_dead (self, frame->src_id, frame->reply_to, reason);
      else if (frame->reply_to != MITOGEN_HANDLE_IS_DEAD)
        _mitogen_router_send_dead (self, frame->dst_id, frame->handle, reason);
      return FALSE;
    }

  if (frame->dst_id == self->context_id)
    {
      deliver_local (self, frame, in_stream);
      return TRUE;
    }

  if (is_notice && out != NULL && _mitogen_stream_get_queued_bytes (out) > NOTICE_QUEUE_LIMIT)
    {
      guint dropped = (guint) g_atomic_int_add ((gint *) &self->notices_dropped, 1) + 1;

      /* A flood would flood the log too: say it at 1, 2, 4, 8... */
      if ((dropped & (dropped - 1)) == 0)
        g_message ("Router: %u dead replies dropped so far; the latest for context %u, "
                   "whose stream is not draining", dropped, frame->dst_id);
      return FALSE;
    }

  if (out == NULL || out == in_stream || !_mitogen_stream_send_frame (out, frame))
    {
      g_autofree char *reason = g_strdup_printf ("no route to %u, my ID is %u",
                                                 frame->dst_id, self->context_id);

      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL, "%s", reason);
      if (frame->reply_to != 0 && frame->reply_to != MITOGEN_HANDLE_IS_DEAD)
        _mitogen_router_send_dead (self, frame->src_id, frame->reply_to, reason);
      return FALSE;
    }

  return TRUE;
}

/**
 * mitogen_router_route:
 * @self: a router
 * @message: the message to send; its destination and handle must be set
 * @error: return location for a #GError
 *
 * Sends @message towards its destination context. A message for this
 * process (destination 0) goes straight to its handler.
 *
 * Returns: %TRUE if the message was sent or delivered; %FALSE with
 *   %MITOGEN_ERROR_CHANNEL when there is no route to the destination, or
 *   %MITOGEN_ERROR_STREAM when it is over the maximum message size (a dead
 *   reply then also goes to its reply handle)
 *
 * Since: 1.0
 */
gboolean
mitogen_router_route (MitogenRouter   *self,
                      MitogenMessage  *message,
                      GError         **error)
{
  MitogenFrame frame;
  gboolean routed;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), FALSE);
  g_return_val_if_fail (MITOGEN_IS_MESSAGE (message), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  _mitogen_frame_init_from_message (&frame, message);
  routed = route_frame (self, &frame, NULL, FALSE, error);
  _mitogen_frame_clear (&frame);
  return routed;
}

gboolean
_mitogen_router_route_frame (MitogenRouter  *self,
                             MitogenFrame   *frame,
                             GError        **error)
{
  return route_frame (self, frame, NULL, FALSE, error);
}

void
_mitogen_router_send_dead (MitogenRouter *self,
                           guint32        dst_id,
                           guint32        handle,
                           const char    *reason)
{
  MitogenFrame dead;

  _mitogen_frame_init (&dead, dst_id, self->context_id, self->context_id, handle,
                       MITOGEN_HANDLE_IS_DEAD, g_bytes_new (reason, reason ? strlen (reason) : 0));
  route_frame (self, &dead, NULL, TRUE, NULL);
  _mitogen_frame_clear (&dead);
}

/* Streams. */

static void
on_stream_message (MitogenStream *stream,
                   MitogenFrame  *frame,
                   gpointer       user_data)
{
  route_frame (MITOGEN_ROUTER (user_data), frame, stream, FALSE, NULL);
}

static void
send_del_route (MitogenRouter *self,
                MitogenStream *stream,
                guint32        peer_id,
                guint32        gone_id)
{
  g_autofree char *text = g_strdup_printf ("%u", gone_id);
  g_autoptr(GBytes) payload = g_bytes_new (text, strlen (text));
  g_autoptr(MitogenMessage) message =
    _mitogen_message_new_full (peer_id, self->context_id, self->context_id,
                               MITOGEN_HANDLE_DEL_ROUTE, 0, payload);

  _mitogen_stream_send (stream, message);
}

/* The contexts in @ids are gone (their stream closed, or a DEL_ROUTE
 * said so): fail what waits on them, tell the streams that talked to
 * them, and emit the signals. Routes must already be removed. */
static void
contexts_gone (MitogenRouter *self,
               GArray        *ids)
{
  g_autoptr(GPtrArray) dead_handlers = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key, value;

  for (guint i = 0; i < ids->len; i++)
    {
      guint32 id = g_array_index (ids, guint32, i);
      g_autoptr(MitogenContext) context = NULL;
      g_autoptr(GPtrArray) listeners = g_ptr_array_new_with_free_func ((GDestroyNotify) _mitogen_stream_unref);
      g_autoptr(GArray) listener_peers = g_array_new (FALSE, FALSE, sizeof (guint32));
      gboolean newly_gone = FALSE;

      g_mutex_lock (&self->lock);
      context = g_hash_table_lookup (self->contexts, GUINT_TO_POINTER (id));
      if (context != NULL)
        g_object_ref (context);
      g_hash_table_iter_init (&iter, self->egress);
      while (g_hash_table_iter_next (&iter, &key, &value))
        if (g_hash_table_remove (value, GUINT_TO_POINTER (id)) && g_hash_table_contains (self->streams, key))
          {
            guint32 peer = GPOINTER_TO_UINT (g_hash_table_lookup (self->streams, key));

            g_ptr_array_add (listeners, _mitogen_stream_ref (key));
            g_array_append_val (listener_peers, peer);
          }
      g_mutex_unlock (&self->lock);

      /* Mark it first: a caller woken by the dead reply below must
       * already see the context as disconnected. */
      if (context != NULL)
        newly_gone = _mitogen_context_mark_disconnected (context);

      /* Every receiver waiting on this context hears about it now: a
       * pending call fails at once instead of waiting for a timeout. */
      g_ptr_array_set_size (dead_handlers, 0);
      g_mutex_lock (&self->lock);
      g_hash_table_iter_init (&iter, self->handlers);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          Handler *handler = value;

          if (handler->respondent_id == id)
            g_ptr_array_add (dead_handlers, GUINT_TO_POINTER (handler->handle));
        }
      g_mutex_unlock (&self->lock);

      for (guint j = 0; j < dead_handlers->len; j++)
        _mitogen_router_send_dead (self, self->context_id,
                                   GPOINTER_TO_UINT (g_ptr_array_index (dead_handlers, j)),
                                   "the respondent Context has disconnected");
      for (guint j = 0; j < listeners->len; j++)
        send_del_route (self, g_ptr_array_index (listeners, j),
                        g_array_index (listener_peers, guint32, j), id);

      _mitogen_module_responder_forget_context (self->responder, id);
      if (newly_gone)
        emit_in_owner (self, SIGNAL_CONTEXT_DISCONNECTED, context);
    }
}

static void
on_stream_closed (MitogenStream *stream,
                  const GError  *error,
                  gpointer       user_data)
{
  MitogenRouter *self = user_data;
  g_autoptr(GArray) gone = g_array_new (FALSE, FALSE, sizeof (guint32));
  GHashTableIter iter;
  gpointer key, value;
  gboolean was_registered;

  if (error != NULL)
    g_message ("Router: stream %s closed: %s", _mitogen_stream_get_name (stream), error->message);
  else
    g_debug ("Router: stream %s disconnected", _mitogen_stream_get_name (stream));

  /* The context on the stream and everything routed behind it. */
  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->routes);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      guint32 id = GPOINTER_TO_UINT (key);

      if (value != stream)
        continue;
      g_array_append_val (gone, id);
      g_hash_table_iter_remove (&iter);
    }
  was_registered = g_hash_table_remove (self->streams, stream);
  g_hash_table_remove (self->egress, stream);
  g_hash_table_remove (self->allocations, stream);
  g_mutex_unlock (&self->lock);

  contexts_gone (self, gone);

  if (was_registered)
    _mitogen_broker_release (self->broker);
}

#define ID_BLOCK_SIZE 1000

typedef struct
{
  guint32 first;
  guint32 count;
} IdBlock;

/* Whether @id was allocated to a context behind @via. Called locked. */
static gboolean
id_allocated_via (MitogenRouter *self,
                  MitogenStream *via,
                  guint32        id)
{
  GArray *blocks = g_hash_table_lookup (self->allocations, via);

  for (guint i = 0; blocks != NULL && i < blocks->len; i++)
    {
      IdBlock *block = &g_array_index (blocks, IdBlock, i);

      if (id >= block->first && id - block->first < block->count)
        return TRUE;
    }
  return FALSE;
}

/* Route monitoring (protocol reference 7.4): an intermediate child tells
 * us about contexts it started (ADD_ROUTE) and lost (DEL_ROUTE), and asks
 * for blocks of context ids (ALLOCATE_ID). */

static gboolean
parse_route_payload (MitogenMessage  *message,
                     guint32         *id,
                     char           **name)
{
  gsize len;
  const char *data = g_bytes_get_data (_mitogen_message_get_data (message), &len);
  g_autofree char *text = NULL;
  char *colon;
  char *end = NULL;
  guint64 value;

  /* An empty payload may come with no buffer at all. */
  if (data == NULL || len == 0 || len > 256)
    return FALSE;
  text = g_strndup (data, len);
  if (strlen (text) != len)
    return FALSE;
  colon = strchr (text, ':');
  if (colon != NULL)
    *colon = '\0';
  value = g_ascii_strtoull (text, &end, 10);
  if (end == text || *end != '\0' || value == 0 || value > G_MAXUINT32)
    return FALSE;
  *id = (guint32) value;
  if (name != NULL)
    *name = colon != NULL && g_utf8_validate (colon + 1, -1, NULL) ? g_strdup (colon + 1) : NULL;
  return TRUE;
}

static MitogenStream *
stream_for_peer (MitogenRouter *self,
                 guint32        peer_id)
{
  MitogenStream *stream;

  g_mutex_lock (&self->lock);
  stream = g_hash_table_lookup (self->routes, GUINT_TO_POINTER (peer_id));
  if (stream != NULL && GPOINTER_TO_UINT (g_hash_table_lookup (self->streams, stream)) == peer_id)
    _mitogen_stream_ref (stream);
  else
    stream = NULL;
  g_mutex_unlock (&self->lock);

  return stream;
}

MitogenStream *
_mitogen_router_dup_stream (MitogenRouter *self,
                            guint32        peer_id)
{
  return stream_for_peer (self, peer_id);
}

static void
on_add_route (MitogenRouter  *self,
              MitogenMessage *message,
              gpointer        user_data)
{
  g_autoptr(MitogenStream) via = NULL;
  g_autofree char *name = NULL;
  guint32 id;
  gboolean added = FALSE;
  MitogenContext *context = NULL;

  if (mitogen_message_is_dead (message))
    return;
  via = stream_for_peer (self, message->src_id);
  if (via == NULL || !parse_route_payload (message, &id, &name) || id == self->context_id)
    {
      g_message ("Router: refused ADD_ROUTE from context %u", message->src_id);
      return;
    }

  g_mutex_lock (&self->lock);
  if (!id_allocated_via (self, via, id))
    {
      g_mutex_unlock (&self->lock);
      g_message ("Router: refused ADD_ROUTE for context %u from context %u: "
                 "that id was not allocated to it", id, message->src_id);
      return;
    }
  if (!g_hash_table_contains (self->routes, GUINT_TO_POINTER (id)))
    {
      g_hash_table_insert (self->routes, GUINT_TO_POINTER (id), _mitogen_stream_ref (via));
      context = g_hash_table_lookup (self->contexts, GUINT_TO_POINTER (id));
      if (context == NULL)
        {
          context = _mitogen_context_new (self, id, name);
          g_hash_table_insert (self->contexts, GUINT_TO_POINTER (id), context);
        }
      g_object_ref (context);
      added = TRUE;
    }
  g_mutex_unlock (&self->lock);

  if (!added)
    {
      g_message ("Router: ignored duplicate ADD_ROUTE for context %u from context %u", id, message->src_id);
      return;
    }
  g_debug ("Router: context %u (%s) is reachable through context %u", id,
           name ? name : "?", message->src_id);
  emit_in_owner (self, SIGNAL_CONTEXT_ADDED, context);
  g_object_unref (context);
}

static void
on_del_route (MitogenRouter  *self,
              MitogenMessage *message,
              gpointer        user_data)
{
  g_autoptr(MitogenStream) via = NULL;
  g_autoptr(GArray) gone = g_array_new (FALSE, FALSE, sizeof (guint32));
  guint32 id;
  gboolean removed = FALSE;

  if (mitogen_message_is_dead (message))
    return;
  via = stream_for_peer (self, message->src_id);
  if (via == NULL || !parse_route_payload (message, &id, NULL))
    {
      g_message ("Router: refused DEL_ROUTE from context %u", message->src_id);
      return;
    }

  /* Only the stream the route points through may withdraw it, and never
   * for the peer on that stream itself (its EOF says that). */
  g_mutex_lock (&self->lock);
  if (id != message->src_id &&
      g_hash_table_lookup (self->routes, GUINT_TO_POINTER (id)) == via)
    removed = g_hash_table_remove (self->routes, GUINT_TO_POINTER (id));
  g_mutex_unlock (&self->lock);

  if (!removed)
    {
      g_message ("Router: refused DEL_ROUTE for context %u from context %u", id, message->src_id);
      return;
    }
  g_array_append_val (gone, id);
  contexts_gone (self, gone);
}

static void
on_allocate_id (MitogenRouter  *self,
                MitogenMessage *message,
                gpointer        user_data)
{
  MitogenPickleWriter writer;
  MitogenFrame reply;
  MitogenStream *via;
  gboolean exhausted;
  guint32 first = 0;

  if (mitogen_message_is_dead (message) || message->reply_to == 0)
    return;

  g_mutex_lock (&self->lock);
  via = g_hash_table_lookup (self->routes, GUINT_TO_POINTER (message->src_id));
  exhausted = self->next_context_id + ID_BLOCK_SIZE > (guint64) G_MAXUINT32 + 1;
  if (via != NULL && !exhausted)
    {
      IdBlock block = { (guint32) self->next_context_id, ID_BLOCK_SIZE };
      GArray *blocks = g_hash_table_lookup (self->allocations, via);

      first = block.first;
      self->next_context_id += ID_BLOCK_SIZE;
      /* Remember which stream got the block: only contexts behind it may
       * announce these ids with ADD_ROUTE. */
      if (blocks == NULL)
        {
          blocks = g_array_new (FALSE, FALSE, sizeof (IdBlock));
          g_hash_table_insert (self->allocations, via, blocks);
        }
      g_array_append_val (blocks, block);
    }
  g_mutex_unlock (&self->lock);

  if (via == NULL || exhausted)
    {
      g_message ("Router: refused ALLOCATE_ID from context %u: %s", message->src_id,
                 exhausted ? "context ids exhausted" : "no route to it");
      _mitogen_router_send_dead (self, message->src_id, message->reply_to,
                                 exhausted ? "context ids exhausted" : "refused by policy");
      return;
    }

  _mitogen_pickle_writer_init (&writer, MITOGEN_PICKLE_FLAGS_NONE, 32);
  _mitogen_pickle_writer_int64 (&writer, first);
  _mitogen_pickle_writer_int64 (&writer, (gint64) first + ID_BLOCK_SIZE);
  _mitogen_pickle_writer_tuple_n (&writer, 2);
  _mitogen_frame_init_from_writer (&reply, message->src_id, self->context_id, self->context_id,
                                   message->reply_to, 0, &writer);
  route_frame (self, &reply, NULL, FALSE, NULL);
  _mitogen_frame_clear (&reply);
  g_debug ("Router: context %u got ids %u to %u", message->src_id, first, first + ID_BLOCK_SIZE - 1);
}

/* A child of ours gets the runtime's deferred parts once it has said
 * something: they are not on its first call's path (child/README.md,
 * "Deferred parts"). */
static void
on_first_frame (MitogenStream *stream,
                gpointer       user_data)
{
  MitogenRouter *self = user_data;
  guint32 id;

  g_mutex_lock (&self->lock);
  id = GPOINTER_TO_UINT (g_hash_table_lookup (self->streams, stream));
  g_mutex_unlock (&self->lock);
  if (id != 0)
    _mitogen_module_responder_send_deferred (self->responder, id);
}

MitogenContext *
_mitogen_router_register_stream (MitogenRouter *self,
                                 MitogenStream *stream,
                                 guint32        context_id,
                                 const char    *name)
{
  MitogenContext *context;

  g_assert (_mitogen_broker_in_thread (self->broker));

  g_mutex_lock (&self->lock);
  context = g_hash_table_lookup (self->contexts, GUINT_TO_POINTER (context_id));
  if (context == NULL)
    {
      context = _mitogen_context_new (self, context_id, name);
      g_hash_table_insert (self->contexts, GUINT_TO_POINTER (context_id), context);
    }
  else
    _mitogen_context_set_name (context, name);
  g_hash_table_insert (self->routes, GUINT_TO_POINTER (context_id), _mitogen_stream_ref (stream));
  g_hash_table_insert (self->streams, _mitogen_stream_ref (stream), GUINT_TO_POINTER (context_id));
  g_object_ref (context);
  g_mutex_unlock (&self->lock);

  _mitogen_broker_hold (self->broker);
  _mitogen_stream_set_callbacks (stream, NULL, on_stream_message, on_stream_closed, self);
  _mitogen_stream_set_first_frame_func (stream, on_first_frame, self);
  emit_in_owner (self, SIGNAL_CONTEXT_ADDED, context);

  return context;
}

/* Broker life cycle. */

static void
on_broker_shutdown (MitogenBroker *broker,
                    gpointer       user_data)
{
  MitogenRouter *self = user_data;
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func ((GDestroyNotify) _mitogen_stream_unref);
  GHashTableIter iter;
  gpointer key, value;

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_ptr_array_add (streams, _mitogen_stream_ref (key));
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < streams->len; i++)
    {
      MitogenStream *stream = g_ptr_array_index (streams, i);
      g_autoptr(MitogenMessage) shutdown = NULL;
      guint32 peer;

      g_mutex_lock (&self->lock);
      peer = GPOINTER_TO_UINT (g_hash_table_lookup (self->streams, stream));
      g_mutex_unlock (&self->lock);

      shutdown = _mitogen_message_new_full (peer, self->context_id, self->context_id,
                                            MITOGEN_HANDLE_SHUTDOWN, 0, NULL);
      _mitogen_stream_send (stream, shutdown);
    }
  _mitogen_bytecode_cache_close (self->bytecode);
}

static void
on_broker_exit (MitogenBroker *broker,
                gpointer       user_data)
{
  MitogenRouter *self = user_data;
  g_autoptr(GPtrArray) streams = g_ptr_array_new_with_free_func ((GDestroyNotify) _mitogen_stream_unref);
  g_autoptr(GList) handles = NULL;
  GHashTableIter iter;
  gpointer key, value;

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_ptr_array_add (streams, _mitogen_stream_ref (key));
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < streams->len; i++)
    _mitogen_stream_close (g_ptr_array_index (streams, i), NULL);

  g_mutex_lock (&self->lock);
  self->exited = TRUE;
  handles = g_hash_table_get_keys (self->handlers);
  g_mutex_unlock (&self->lock);

  for (GList *l = handles; l != NULL; l = l->next)
    _mitogen_router_send_dead (self, self->context_id, GPOINTER_TO_UINT (l->data),
                               "Broker has exitted");

  /* Persistent handlers that survived the dead message are dropped. */
  g_mutex_lock (&self->lock);
  g_hash_table_remove_all (self->handlers);
  g_mutex_unlock (&self->lock);
}

/* GObject. */

static gboolean
has_module_finder (MitogenRouter *self)
{
  return g_signal_has_handler_pending (self, signals[SIGNAL_FIND_MODULE], 0, TRUE);
}

static char *
find_module_by_signal (MitogenRouter *self,
                       const char    *fullname)
{
  char *path = NULL;

  g_signal_emit (self, signals[SIGNAL_FIND_MODULE], 0, fullname, &path);
  return path;
}

static void
mitogen_router_constructed (GObject *object)
{
  MitogenRouter *self = MITOGEN_ROUTER (object);

  G_OBJECT_CLASS (mitogen_router_parent_class)->constructed (object);

  if (self->broker == NULL)
    self->broker = mitogen_broker_new ();
  _mitogen_broker_add_hooks (self->broker, on_broker_shutdown, on_broker_exit, self);
  self->responder = _mitogen_module_responder_new (self, has_module_finder, find_module_by_signal);
  self->bytecode = _mitogen_bytecode_cache_new ();
  {
    g_autofree char *cache_directory = g_build_filename (g_get_user_cache_dir (), "mitogen-glib", NULL);

    _mitogen_bytecode_cache_set_directory (self->bytecode, cache_directory);
  }
  _mitogen_router_add_internal_handler (self, on_add_route, NULL, NULL, MITOGEN_HANDLE_ADD_ROUTE,
                                        MITOGEN_HANDLER_FLAGS_PERSIST, MITOGEN_NO_RESPONDENT,
                                        MITOGEN_POLICY_IMMEDIATE_CHILD);
  _mitogen_router_add_internal_handler (self, on_del_route, NULL, NULL, MITOGEN_HANDLE_DEL_ROUTE,
                                        MITOGEN_HANDLER_FLAGS_PERSIST, MITOGEN_NO_RESPONDENT,
                                        MITOGEN_POLICY_IMMEDIATE_CHILD);
  _mitogen_router_add_internal_handler (self, on_allocate_id, NULL, NULL, MITOGEN_HANDLE_ALLOCATE_ID,
                                        MITOGEN_HANDLER_FLAGS_PERSIST, MITOGEN_NO_RESPONDENT,
                                        MITOGEN_POLICY_ANY);
  _mitogen_log_forwarder_install (self);
  if (mitogen_get_debug ())
    self->child_log_level = 10;
}

static void
mitogen_router_dispose (GObject *object)
{
  MitogenRouter *self = MITOGEN_ROUTER (object);

  if (self->broker != NULL)
    _mitogen_broker_remove_hooks (self->broker, self);

  G_OBJECT_CLASS (mitogen_router_parent_class)->dispose (object);
}

static void
mitogen_router_finalize (GObject *object)
{
  MitogenRouter *self = MITOGEN_ROUTER (object);

  g_clear_pointer (&self->handlers, g_hash_table_unref);
  g_clear_pointer (&self->responder, _mitogen_module_responder_free);
  g_clear_pointer (&self->bytecode, _mitogen_bytecode_cache_free);
  g_clear_pointer (&self->routes, g_hash_table_unref);
  g_clear_pointer (&self->streams, g_hash_table_unref);
  g_clear_pointer (&self->contexts, g_hash_table_unref);
  g_clear_pointer (&self->egress, g_hash_table_unref);
  g_clear_pointer (&self->upstream_dirs, g_hash_table_unref);
  g_clear_pointer (&self->allocations, g_hash_table_unref);
  g_clear_pointer (&self->owner_context, g_main_context_unref);
  g_clear_object (&self->broker);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (mitogen_router_parent_class)->finalize (object);
}

static void
mitogen_router_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  MitogenRouter *self = MITOGEN_ROUTER (object);

  switch (prop_id)
    {
    case PROP_BROKER:
      g_value_set_object (value, self->broker);
      break;
    case PROP_CACHE_DIRECTORY:
      g_value_take_string (value, mitogen_router_dup_cache_directory (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_router_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  MitogenRouter *self = MITOGEN_ROUTER (object);

  switch (prop_id)
    {
    case PROP_BROKER:
      self->broker = g_value_dup_object (value);
      break;
    case PROP_CACHE_DIRECTORY:
      mitogen_router_set_cache_directory (self, g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_router_class_init (MitogenRouterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = mitogen_router_constructed;
  object_class->dispose = mitogen_router_dispose;
  object_class->finalize = mitogen_router_finalize;
  object_class->get_property = mitogen_router_get_property;
  object_class->set_property = mitogen_router_set_property;

  /**
   * MitogenRouter:broker:
   *
   * The broker whose thread does this router's I/O. A router made without
   * one creates its own.
   *
   * Since: 1.0
   */
  properties[PROP_BROKER] =
    g_param_spec_object ("broker", NULL, NULL, MITOGEN_TYPE_BROKER,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * MitogenRouter:cache-directory: (type filename)
   *
   * Where the router keeps, across programs, the child runtime compiled
   * for each interpreter it starts children of on this machine, or %NULL
   * to keep nothing. See mitogen_router_set_cache_directory().
   *
   * Since: 1.0
   */
  properties[PROP_CACHE_DIRECTORY] =
    g_param_spec_string ("cache-directory", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * MitogenRouter::context-added:
   * @router: the router
   * @context: the context that became reachable
   *
   * Emitted when a connection completes, in the main context the router
   * was created in.
   *
   * Since: 1.0
   */
  signals[SIGNAL_CONTEXT_ADDED] =
    g_signal_new ("context-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, MITOGEN_TYPE_CONTEXT);

  /**
   * MitogenRouter::context-disconnected:
   * @router: the router
   * @context: the context that went away
   *
   * Emitted when a context disconnects, in the main context the router
   * was created in. Its pending calls have failed by then.
   *
   * Since: 1.0
   */
  signals[SIGNAL_CONTEXT_DISCONNECTED] =
    g_signal_new ("context-disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, MITOGEN_TYPE_CONTEXT);

  /**
   * MitogenRouter::find-module:
   * @router: the router
   * @fullname: the dotted name of the module a child asked for
   *
   * Emitted, in the main context the router was created in, when a child
   * asks for a Python module that is neither in the search path
   * ([method@Mitogen.Router.add_python_path]) nor in a resource path. A
   * handler that knows the module returns the path of its source file
   * (`__init__.py` for a package), e.g. from
   * `importlib.util.find_spec (fullname).origin` in Python; the first
   * non-%NULL answer wins, and with none the child gets a negative
   * answer and raises ImportError.
   *
   * Returns: (transfer full) (nullable) (type filename): the source file,
   *   or %NULL
   *
   * Since: 1.0
   */
  signals[SIGNAL_FIND_MODULE] =
    g_signal_new ("find-module", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, g_signal_accumulator_first_wins, NULL, NULL,
                  G_TYPE_STRING, 1, G_TYPE_STRING);
}

static void
mitogen_router_init (MitogenRouter *self)
{
  g_mutex_init (&self->lock);
  self->owner_context = g_main_context_ref_thread_default ();
  self->routes = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) _mitogen_stream_unref);
  self->streams = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) _mitogen_stream_unref, NULL);
  self->handlers = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) handler_unref);
  self->contexts = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->egress = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_hash_table_unref);
  self->upstream_dirs = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  self->next_context_id = 1;
  self->allocations = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_array_unref);
  self->next_handle = MITOGEN_HANDLE_FIRST_DYNAMIC;
  self->max_message_size = MITOGEN_MESSAGE_DEFAULT_MAX_SIZE;
  self->child_log_level = 30;
}

/**
 * mitogen_router_new:
 * @broker: (nullable): the broker to use, or %NULL to create one
 *
 * Creates the router of this process, the master (context 0). Signals
 * are emitted in the calling thread's thread-default main context.
 *
 * Returns: (transfer full): a new router
 *
 * Since: 1.0
 */
MitogenRouter *
mitogen_router_new (MitogenBroker *broker)
{
  g_return_val_if_fail (broker == NULL || MITOGEN_IS_BROKER (broker), NULL);

  return g_object_new (MITOGEN_TYPE_ROUTER, "broker", broker, NULL);
}

/**
 * mitogen_router_get_broker:
 * @self: a router
 *
 * Gets the broker whose thread does the router's I/O.
 *
 * Returns: (transfer none): the router's broker
 *
 * Since: 1.0
 */
MitogenBroker *
mitogen_router_get_broker (MitogenRouter *self)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);

  return self->broker;
}

/**
 * mitogen_router_get_context_id:
 * @self: a router
 *
 * Gets the id of this process's context.
 *
 * Returns: the id of this process's context (0 for a master)
 *
 * Since: 1.0
 */
guint32
mitogen_router_get_context_id (MitogenRouter *self)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), 0);

  return self->context_id;
}

/**
 * mitogen_router_get_max_message_size:
 * @self: a router
 *
 * Gets the largest payload the router sends or accepts.
 *
 * Returns: the largest payload, in bytes, the router sends or accepts
 *
 * Since: 1.0
 */
guint64
mitogen_router_get_max_message_size (MitogenRouter *self)
{
  guint64 size;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), 0);

  g_mutex_lock (&self->lock);
  size = self->max_message_size;
  g_mutex_unlock (&self->lock);

  return size;
}

/**
 * mitogen_router_set_max_message_size:
 * @self: a router
 * @max_message_size: the largest payload in bytes
 *
 * Sets the largest payload the router sends or accepts. Contexts created
 * afterwards get the same limit. The default is
 * %MITOGEN_MESSAGE_DEFAULT_MAX_SIZE.
 *
 * Since: 1.0
 */
void
mitogen_router_set_max_message_size (MitogenRouter *self,
                                     guint64        max_message_size)
{
  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (max_message_size > 0 && max_message_size <= G_MAXUINT32);

  g_mutex_lock (&self->lock);
  self->max_message_size = max_message_size;
  g_mutex_unlock (&self->lock);
}

/**
 * mitogen_router_dup_cache_directory:
 * @self: a router
 *
 * Gets the directory where the router keeps compiled child runtimes
 * across programs. May be called from any thread.
 *
 * Returns: (transfer full) (nullable) (type filename): the directory, or
 *   %NULL if the router keeps nothing across programs
 *
 * Since: 1.0
 */
char *
mitogen_router_dup_cache_directory (MitogenRouter *self)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);

  return _mitogen_bytecode_cache_dup_directory (self->bytecode);
}

/**
 * mitogen_router_set_cache_directory:
 * @self: a router
 * @directory: (type filename) (nullable): an absolute path, or %NULL
 *
 * Sets where the router keeps, across programs, the child runtime
 * compiled for each interpreter: a child started on this machine (local,
 * sudo, su, doas; never ssh) boots several milliseconds sooner when the
 * runtime comes compiled, and with a cache directory a program gets it
 * compiled from its first child on, the interpreter having compiled it
 * once for the user (a helper process, run as soon as a first child of
 * an interpreter has booted when nothing is kept for it yet, which
 * writes the file itself: it is left to finish when the router shuts
 * down, so a program that exits right after its first child still
 * leaves it for the next).
 * Without one, a router compiles the runtime at its second child of an
 * interpreter, for itself.
 *
 * The default is `mitogen-glib` in the user's cache directory
 * (g_get_user_cache_dir(), `$XDG_CACHE_HOME`). The directory is made if
 * it is missing and its nearest existing parent is this user's. Since
 * children run what is kept there, possibly in other accounts, nothing
 * is used unless this process's effective user owns the directory and
 * the file and nobody else may write either; a file whose contents do
 * not match their digest is compiled again. Files are named for the
 * runtime and the interpreter's file, so an upgrade of either starts
 * new ones; nothing removes old files.
 *
 * Applies to interpreters the router has not started a child of yet.
 * The router reads and writes the directory in its broker thread and
 * in the helper's thread (a few system calls and ~20 kB).
 *
 * May be called from any thread; #GObject::notify is emitted in the
 * calling thread.
 *
 * Since: 1.0
 */
void
mitogen_router_set_cache_directory (MitogenRouter *self,
                                    const char    *directory)
{
  g_autofree char *old = NULL;

  g_return_if_fail (MITOGEN_IS_ROUTER (self));

  old = _mitogen_bytecode_cache_dup_directory (self->bytecode);
  if (g_strcmp0 (old, directory) == 0)
    return;
  _mitogen_bytecode_cache_set_directory (self->bytecode, directory);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CACHE_DIRECTORY]);
}

/**
 * mitogen_router_context_by_id:
 * @self: a router
 * @context_id: a context id
 *
 * Returns the context object for @context_id, creating one if this
 * router has not seen that id yet (it may be reachable later).
 *
 * Returns: (transfer full): the context
 *
 * Since: 1.0
 */
MitogenContext *
mitogen_router_context_by_id (MitogenRouter *self,
                              guint32        context_id)
{
  MitogenContext *context;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);

  g_mutex_lock (&self->lock);
  context = g_hash_table_lookup (self->contexts, GUINT_TO_POINTER (context_id));
  if (context == NULL)
    {
      context = _mitogen_context_new (self, context_id, NULL);
      g_hash_table_insert (self->contexts, GUINT_TO_POINTER (context_id), context);
    }
  g_object_ref (context);
  g_mutex_unlock (&self->lock);

  return context;
}

/**
 * mitogen_router_list_contexts:
 * @self: a router
 *
 * Lists the contexts the router knows.
 *
 * Returns: (transfer full) (element-type MitogenContext): every context
 *   the router knows
 *
 * Since: 1.0
 */
GList *
mitogen_router_list_contexts (MitogenRouter *self)
{
  GList *contexts;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), NULL);

  g_mutex_lock (&self->lock);
  contexts = g_hash_table_get_values (self->contexts);
  g_list_foreach (contexts, (GFunc) (void (*)(void)) g_object_ref, NULL);
  g_mutex_unlock (&self->lock);

  return contexts;
}

static guint32
add_handler (MitogenRouter                   *self,
             MitogenInternalHandlerFunc       func,
             MitogenInternalFrameHandlerFunc  frame_func,
             gpointer                         user_data,
             GDestroyNotify                   destroy,
             guint32                          handle,
             MitogenHandlerFlags              flags,
             guint32                          respondent_id,
             MitogenPolicy                    policy)
{
  Handler *handler = g_new (Handler, 1);
  gboolean exited;

  g_atomic_ref_count_init (&handler->ref_count);

  if (handle == 0)
    handle = mitogen_router_allocate_handle (self);

  handler->handle = handle;
  handler->flags = flags;
  handler->respondent_id = respondent_id;
  handler->policy = policy;
  handler->func = func;
  handler->frame_func = frame_func;
  handler->user_data = user_data;
  handler->destroy = destroy;

  g_mutex_lock (&self->lock);
  exited = self->exited;
  if (!exited)
    g_hash_table_replace (self->handlers, GUINT_TO_POINTER (handle), handler);
  g_mutex_unlock (&self->lock);

  /* After the broker exited, nothing will ever arrive: tell the handler
   * at once, as a dead message, so a waiter never hangs. */
  if (exited)
    {
      MitogenFrame dead;
      const char *reason = "Broker has exitted";

      _mitogen_frame_init (&dead, self->context_id, self->context_id, self->context_id, handle,
                           MITOGEN_HANDLE_IS_DEAD, g_bytes_new (reason, strlen (reason)));
      handler_deliver (self, handler, &dead);
      _mitogen_frame_clear (&dead);
      handler_unref (handler);
    }

  return handle;
}

guint32
_mitogen_router_add_internal_handler (MitogenRouter              *self,
                                      MitogenInternalHandlerFunc  func,
                                      gpointer                    user_data,
                                      GDestroyNotify              destroy,
                                      guint32                     handle,
                                      MitogenHandlerFlags         flags,
                                      guint32                     respondent_id,
                                      MitogenPolicy               policy)
{
  return add_handler (self, func, NULL, user_data, destroy, handle, flags, respondent_id, policy);
}

guint32
_mitogen_router_add_internal_frame_handler (MitogenRouter                   *self,
                                            MitogenInternalFrameHandlerFunc  func,
                                            gpointer                         user_data,
                                            GDestroyNotify                   destroy,
                                            guint32                          handle,
                                            MitogenHandlerFlags              flags,
                                            guint32                          respondent_id,
                                            MitogenPolicy                    policy)
{
  return add_handler (self, NULL, func, user_data, destroy, handle, flags, respondent_id, policy);
}

/* Public handlers run in the context of the thread that added them. */

typedef struct
{
  gatomicrefcount ref_count;
  MitogenRouter *router;       /* (owned) */
  MitogenHandlerFunc func;
  gpointer user_data;
  GDestroyNotify destroy;
  GMainContext *context;       /* (owned) */
} PublicHandler;

typedef struct
{
  PublicHandler *handler;
  MitogenMessage *message;
} PublicDelivery;

static gboolean
public_handler_destroy_cb (gpointer data)
{
  PublicHandler *handler = data;

  if (handler->destroy != NULL)
    handler->destroy (handler->user_data);
  g_object_unref (handler->router);
  g_main_context_unref (handler->context);
  g_free (handler);

  return G_SOURCE_REMOVE;
}

static void
public_handler_unref (gpointer data)
{
  PublicHandler *handler = data;

  if (!g_atomic_ref_count_dec (&handler->ref_count))
    return;
  /* The destroy notify is user code: run it in the user's context. */
  _mitogen_invoke_in_context (handler->context, public_handler_destroy_cb, handler, NULL);
}

static void
public_delivery_free (PublicDelivery *delivery)
{
  public_handler_unref (delivery->handler);
  g_object_unref (delivery->message);
  g_free (delivery);
}

static gboolean
public_delivery_cb (gpointer data)
{
  PublicDelivery *delivery = data;

  delivery->handler->func (delivery->handler->router, delivery->message,
                           delivery->handler->user_data);

  return G_SOURCE_REMOVE;
}

static void
public_handler_dispatch (MitogenRouter  *router,
                         MitogenMessage *message,
                         gpointer        user_data)
{
  PublicHandler *handler = user_data;
  PublicDelivery *delivery = g_new (PublicDelivery, 1);

  g_atomic_ref_count_inc (&handler->ref_count);
  delivery->handler = handler;
  delivery->message = g_object_ref (message);
  _mitogen_invoke_in_context (handler->context, public_delivery_cb, delivery,
                              (GDestroyNotify) public_delivery_free);
}

/**
 * mitogen_router_add_handler:
 * @self: a router
 * @func: (scope notified) (closure user_data) (destroy destroy): called for
 *   each message to the handle
 * @user_data: data for @func
 * @destroy: (nullable): frees @user_data when the handler is removed
 * @handle: the handle to listen on, or 0 to allocate a new one
 * @flags: whether the handler persists after its first message
 * @respondent: (nullable): if set, only messages from this context are
 *   accepted, and a dead message arrives if it disconnects
 *
 * Registers @func for messages addressed to @handle in this process. @func
 * and @destroy run in the thread-default main context of the caller. Most
 * programs use a [class@Mitogen.Receiver] instead.
 *
 * Returns: the handle
 *
 * Since: 1.0
 */
guint32
mitogen_router_add_handler (MitogenRouter       *self,
                            MitogenHandlerFunc   func,
                            gpointer             user_data,
                            GDestroyNotify       destroy,
                            guint32              handle,
                            MitogenHandlerFlags  flags,
                            MitogenContext      *respondent)
{
  PublicHandler *handler;

  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), 0);
  g_return_val_if_fail (func != NULL, 0);
  g_return_val_if_fail (respondent == NULL || MITOGEN_IS_CONTEXT (respondent), 0);

  handler = g_new (PublicHandler, 1);
  g_atomic_ref_count_init (&handler->ref_count);
  handler->router = g_object_ref (self);
  handler->func = func;
  handler->user_data = user_data;
  handler->destroy = destroy;
  handler->context = g_main_context_ref_thread_default ();

  return _mitogen_router_add_internal_handler (self, public_handler_dispatch, handler,
                                               public_handler_unref, handle, flags,
                                               respondent ? mitogen_context_get_context_id (respondent)
                                                          : MITOGEN_NO_RESPONDENT,
                                               MITOGEN_POLICY_ANY);
}

/**
 * mitogen_router_del_handler:
 * @self: a router
 * @handle: a handle
 *
 * Removes the handler of @handle, if any. Messages that arrive afterwards
 * get a dead reply, `invalid handle`, when they want a reply.
 *
 * Since: 1.0
 */
void
mitogen_router_del_handler (MitogenRouter *self,
                            guint32        handle)
{
  Handler *handler;

  g_return_if_fail (MITOGEN_IS_ROUTER (self));

  g_mutex_lock (&self->lock);
  handler = g_hash_table_lookup (self->handlers, GUINT_TO_POINTER (handle));
  if (handler != NULL)
    g_hash_table_steal (self->handlers, GUINT_TO_POINTER (handle));
  g_mutex_unlock (&self->lock);

  if (handler != NULL)
    handler_unref (handler);
}

/**
 * mitogen_router_allocate_handle:
 * @self: a router
 *
 * Allocates a handle for a new receiver.
 *
 * Returns: a handle number never used before in this process
 *
 * Since: 1.0
 */
guint32
mitogen_router_allocate_handle (MitogenRouter *self)
{
  g_return_val_if_fail (MITOGEN_IS_ROUTER (self), 0);

  return (guint32) g_atomic_int_add ((gint *) &self->next_handle, 1);
}

guint32
_mitogen_router_allocate_context_id (MitogenRouter *self)
{
  guint32 id;

  g_mutex_lock (&self->lock);
  if (self->next_context_id > G_MAXUINT32)
    id = 0;  /* exhausted: ids are never reused */
  else
    id = (guint32) self->next_context_id++;
  g_mutex_unlock (&self->lock);

  return id;
}

void
_mitogen_router_set_upstream_dir (MitogenRouter *self,
                                  guint32        context_id,
                                  const char    *package_dir)
{
  g_mutex_lock (&self->lock);
  if (package_dir != NULL)
    g_hash_table_replace (self->upstream_dirs, GUINT_TO_POINTER (context_id), g_strdup (package_dir));
  else
    g_hash_table_remove (self->upstream_dirs, GUINT_TO_POINTER (context_id));
  g_mutex_unlock (&self->lock);
}

char *
_mitogen_router_dup_upstream_dir (MitogenRouter *self,
                                  guint32        context_id)
{
  char *dir;

  g_mutex_lock (&self->lock);
  dir = g_strdup (g_hash_table_lookup (self->upstream_dirs, GUINT_TO_POINTER (context_id)));
  g_mutex_unlock (&self->lock);

  return dir;
}

GMainContext *
_mitogen_router_get_owner_context (MitogenRouter *self)
{
  return self->owner_context;
}

int
_mitogen_router_get_child_log_level (MitogenRouter *self)
{
  return g_atomic_int_get (&self->child_log_level);
}

GBytes *
_mitogen_router_lookup_bytecode (MitogenRouter *self,
                                 const char    *python,
                                 GBytes        *runtime)
{
  return _mitogen_bytecode_cache_lookup (self->bytecode, python, runtime);
}

void
_mitogen_router_bytecode_booted (MitogenRouter *self,
                                 const char    *python)
{
  _mitogen_bytecode_cache_booted (self->bytecode, python);
}

/**
 * mitogen_router_add_python_path:
 * @self: a router
 * @path: (type filename): a directory of Python modules and packages
 *
 * Adds a directory that children may import modules from: a child that
 * cannot find a module locally asks this process, which serves it from
 * the first search path that has it. Only files inside the directory (after
 * resolving symbolic links) are ever served.
 *
 * Since: 1.0
 */
void
mitogen_router_add_python_path (MitogenRouter *self,
                                const char    *path)
{
  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (path != NULL);

  _mitogen_module_responder_add_path (self->responder, path);
}

/**
 * mitogen_router_add_resource_path:
 * @self: a router
 * @resource_path: a path in the process's registered GResources, e.g.
 *   `/org/example/app/python`
 *
 * Serves Python modules to children from GResources under @resource_path,
 * after the search paths: a module `a.b` is `@resource_path/a/b.py` or
 * `@resource_path/a/b/__init__.py`.
 *
 * Since: 1.0
 */
void
mitogen_router_add_resource_path (MitogenRouter *self,
                                  const char    *resource_path)
{
  g_return_if_fail (MITOGEN_IS_ROUTER (self));
  g_return_if_fail (resource_path != NULL && resource_path[0] == '/');

  _mitogen_module_responder_add_resource_path (self->responder, resource_path);
}

void
_mitogen_router_set_child_log_level (MitogenRouter *self,
                                     int            level)
{
  g_atomic_int_set (&self->child_log_level, level);
}

/**
 * mitogen_router_shutdown:
 * @self: a router
 *
 * Shuts down the router's broker: see [method@Mitogen.Broker.shutdown].
 *
 * Since: 1.0
 */
void
mitogen_router_shutdown (MitogenRouter *self)
{
  g_return_if_fail (MITOGEN_IS_ROUTER (self));

  mitogen_broker_shutdown (self->broker);
}
