/* mitogen-stream.c: one framed byte stream to a peer
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mitogen-broker-private.h"
#include "mitogen-completion-private.h"
#include "mitogen-error.h"
#include "mitogen-frame-decoder-private.h"
#include "mitogen-message-private.h"
#include "mitogen-stream-private.h"

/* The peer reads in chunks of this size too (protocol reference 1.4). */
#define READ_CHUNK_SIZE (128 * 1024)
#define MAX_IOV 64
/* A frame sent this soon after the last direct write, with nothing read
 * since, is left to the broker to write with whatever follows it: a burst
 * (pipelined calls, a sender's loop) costs a write per batch instead of
 * a system call per frame. A frame that follows a read (a request after
 * its reply) or a pause is written at once, and so is whatever is queued
 * once this long has passed since the last direct write: a busy sender
 * can keep the broker it woke off their shared CPU for milliseconds (seen
 * at the start of 5,000 pipelined calls: ~4 ms while the child idled). */
#define COALESCE_USEC 50
/* Frames up to this size (header included) are copied into a block of
 * the queue rather than queued by reference: the payload is freed by the
 * thread that made it (the broker thread freeing what callers allocated
 * kept both threads on malloc's slow paths), and a burst of calls costs
 * one allocation per block, not one per frame. A block made for a frame
 * that is likely written at once (nothing queued) is small enough for
 * malloc's per-thread cache; one made behind queued frames holds many. */
#define COPY_LIMIT 4096
#define COPY_BLOCK_SMALL (1024 - sizeof (PendingWrite))
#define COPY_BLOCK_LARGE 16384

typedef struct
{
  guint8 header[MITOGEN_MESSAGE_HEADER_SIZE];
  GBytes *payload;    /* (owned) (nullable) */
  GPtrArray *pieces;  /* (owned) (nullable) the payload in pieces instead */
  guint8 *block;      /* (nullable) whole frames copied, instead of the
                       * three above: in the same allocation, after this */
  gsize capacity;     /* bytes at @block */
  gsize size;         /* header + payload, or the bytes in @block */
  gsize offset;       /* bytes of header + payload already written */
} PendingWrite;

struct _MitogenStream
{
  gatomicrefcount ref_count;

  MitogenBroker *broker;      /* (owned) read-only */
  int fd;                     /* (lock) -1 once closed */
  gboolean is_socket;         /* read-only */
  char *name;                 /* (owned) (lock) */

  /* Broker thread only. */
  MitogenFrameDecoder *decoder;
  GSource *read_source;
  gboolean framing;
  guint8 *read_buffer;
  MitogenStreamRawFunc on_raw;
  MitogenStreamMessageFunc on_message;
  MitogenStreamClosedFunc on_closed;
  gpointer user_data;
  MitogenStreamClosedFunc close_notify;
  gpointer close_notify_data;
  GDestroyNotify close_notify_destroy;
  MitogenStreamFunc on_first_frame;
  gpointer first_frame_data;

  GMutex lock;
  GQueue pending;             /* (lock) (element-type PendingWrite) */
  gsize queued_bytes;         /* (lock) */
  guint64 bytes_written;      /* (lock) since the stream opened */
  guint64 bytes_before_frame; /* (lock) bytes_written when the first frame came */
  gboolean seen_frame;        /* (lock) written by the broker thread only */
  gint64 last_direct_write;   /* (lock) monotonic time */
  guint reads_at_direct_write; /* (lock) `reads` then */
  guint reads;                /* (atomic) reads that returned data */
  GSource *write_source;      /* (lock) (nullable) */
  gboolean closed;            /* (lock) */
};

static void
pending_write_free (PendingWrite *pending)
{
  g_clear_pointer (&pending->payload, g_bytes_unref);
  g_clear_pointer (&pending->pieces, g_ptr_array_unref);
  g_free (pending);
}


MitogenStream *
_mitogen_stream_new (MitogenBroker *broker,
                     int            fd,
                     const char    *name,
                     guint64        max_message_size)
{
  MitogenStream *self = g_new0 (MitogenStream, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->broker = g_object_ref (broker);
  self->fd = fd;
  self->name = g_strdup (name);
  self->decoder = mitogen_frame_decoder_new (max_message_size);
  self->read_buffer = g_malloc (READ_CHUNK_SIZE);
  g_mutex_init (&self->lock);
  g_queue_init (&self->pending);

  g_unix_set_fd_nonblocking (fd, TRUE, NULL);
  fcntl (fd, F_SETFD, FD_CLOEXEC);
  {
    struct stat st;

    self->is_socket = fstat (fd, &st) == 0 && S_ISSOCK (st.st_mode);
  }

  return self;
}

MitogenStream *
_mitogen_stream_ref (MitogenStream *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
_mitogen_stream_unref (MitogenStream *self)
{
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  g_assert (self->read_source == NULL);
  g_assert (self->write_source == NULL);
  if (self->close_notify_destroy != NULL)
    self->close_notify_destroy (self->close_notify_data);
  if (self->fd >= 0)
    close (self->fd);
  g_queue_clear_full (&self->pending, (GDestroyNotify) pending_write_free);
  g_clear_object (&self->decoder);
  g_clear_object (&self->broker);
  g_free (self->read_buffer);
  g_free (self->name);
  g_mutex_clear (&self->lock);
  g_free (self);
}

const char *
_mitogen_stream_get_name (MitogenStream *self)
{
  return self->name;
}

void
_mitogen_stream_set_name (MitogenStream *self,
                          const char    *name)
{
  /* Only before the stream is shared: the name is read without a lock. */
  g_free (self->name);
  self->name = g_strdup (name);
}

int
_mitogen_stream_get_fd (MitogenStream *self)
{
  return self->fd;
}

void
_mitogen_stream_set_callbacks (MitogenStream            *self,
                               MitogenStreamRawFunc      on_raw,
                               MitogenStreamMessageFunc  on_message,
                               MitogenStreamClosedFunc   on_closed,
                               gpointer                  user_data)
{
  self->on_raw = on_raw;
  self->on_message = on_message;
  self->on_closed = on_closed;
  self->user_data = user_data;
}

void
_mitogen_stream_set_first_frame_func (MitogenStream     *self,
                                      MitogenStreamFunc  func,
                                      gpointer           user_data)
{
  self->on_first_frame = func;
  self->first_frame_data = user_data;
}

void
_mitogen_stream_set_close_notify (MitogenStream           *self,
                                  MitogenStreamClosedFunc  func,
                                  gpointer                 user_data,
                                  GDestroyNotify           destroy)
{
  if (self->close_notify_destroy != NULL)
    self->close_notify_destroy (self->close_notify_data);
  self->close_notify = func;
  self->close_notify_data = user_data;
  self->close_notify_destroy = destroy;
}

gboolean
_mitogen_stream_is_closed (MitogenStream *self)
{
  gboolean closed;

  g_mutex_lock (&self->lock);
  closed = self->closed;
  g_mutex_unlock (&self->lock);

  return closed;
}

gsize
_mitogen_stream_get_queued_bytes (MitogenStream *self)
{
  gsize queued;

  g_mutex_lock (&self->lock);
  queued = self->queued_bytes;
  g_mutex_unlock (&self->lock);

  return queued;
}

guint64
_mitogen_stream_get_bytes_written (MitogenStream *self)
{
  guint64 written;

  g_mutex_lock (&self->lock);
  written = self->bytes_written;
  g_mutex_unlock (&self->lock);

  return written;
}

guint64
_mitogen_stream_get_bytes_before_first_frame (MitogenStream *self)
{
  guint64 written;

  g_mutex_lock (&self->lock);
  written = self->seen_frame ? self->bytes_before_frame : self->bytes_written;
  g_mutex_unlock (&self->lock);

  return written;
}

static void
deliver_frames (MitogenStream *self)
{
  MitogenFrame frame;

  while (!self->closed && _mitogen_frame_decoder_pop_frame (self->decoder, &frame))
    {
      gboolean first = !self->seen_frame;

      if (first)
        {
          g_mutex_lock (&self->lock);
          self->bytes_before_frame = self->bytes_written;
          self->seen_frame = TRUE;
          g_mutex_unlock (&self->lock);
        }
      /* Before the delivery: what it sends goes ahead of anything sent
       * in answer to the frame. */
      if (first && self->on_first_frame != NULL)
        self->on_first_frame (self, self->first_frame_data);
      if (self->on_message != NULL && !self->closed)
        self->on_message (self, &frame, self->user_data);
      _mitogen_frame_clear (&frame);
    }
}

static gboolean
feed (MitogenStream *self,
      const guint8  *data,
      gsize          len)
{
  g_autoptr(GError) error = NULL;

  while (len > 0 && !self->framing)
    {
      gsize consumed;

      if (self->on_raw == NULL)
        return TRUE;
      consumed = self->on_raw (self, data, len, self->user_data);
      if (consumed == 0 && !self->framing)
        return TRUE;
      data += consumed;
      len -= consumed;
      if (_mitogen_stream_is_closed (self))
        return FALSE;
    }
  if (len == 0)
    return TRUE;

  if (!mitogen_frame_decoder_feed (self->decoder, data, len, &error))
    {
      /* Frames decoded before the bad one are still delivered. */
      deliver_frames (self);
      g_prefix_error (&error, "Stream %s: ", self->name);
      _mitogen_stream_close (self, error);
      return FALSE;
    }
  deliver_frames (self);

  return TRUE;
}

/* Returns FALSE once the stream is closed. */
static gboolean
read_and_deliver (MitogenStream *self)
{
  /* Bounded work per wake-up, so one busy stream cannot starve others. */
  guint rounds = 4;

  while (rounds-- > 0)
    {
      gssize n = read (self->fd, self->read_buffer, READ_CHUNK_SIZE);

      if (n > 0)
        {
          /* Before delivery: a caller woken by it sees the read. */
          g_atomic_int_inc (&self->reads);
          if (!feed (self, self->read_buffer, n))
            return FALSE;
          if (n < READ_CHUNK_SIZE)
            break;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;

      /* A PTY master reads EIO once the other side has gone: that is
       * its EOF; so is ECONNRESET on a socket whose peer exited with
       * bytes of ours unread (a child told to shut down, say). */
      if (n == 0 || (n < 0 && (errno == EIO || errno == ECONNRESET)))
        {
          g_autoptr(GError) error = NULL;

          if (self->framing && !mitogen_frame_decoder_finish (self->decoder, &error))
            g_prefix_error (&error, "Stream %s: ", self->name);
          _mitogen_stream_close (self, error);
        }
      else
        {
          int saved = errno;
          g_autoptr(GError) error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                                 "Stream %s: read failed: %s",
                                                 self->name, g_strerror (saved));
          _mitogen_stream_close (self, error);
        }
      return FALSE;
    }

  return TRUE;
}

static gboolean
on_readable (gint         fd,
             GIOCondition condition,
             gpointer     user_data)
{
  MitogenStream *self = user_data;
  g_autoptr(MitogenStream) hold = _mitogen_stream_ref (self);
  gboolean keep;

  /* Replies among the frames of this wake-up wake each waiting main
   * context once, after the last of them. */
  _mitogen_completion_batch_begin ();
  keep = read_and_deliver (self);
  _mitogen_completion_batch_end ();

  return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

void
_mitogen_stream_start (MitogenStream *self)
{
  g_assert (_mitogen_broker_in_thread (self->broker));
  g_return_if_fail (self->read_source == NULL);

  self->read_source = g_unix_fd_source_new (self->fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_static_name (self->read_source, "[mitogen] stream read");
  /* GLib takes a dispatched source's fds out of the poll set and puts
   * them back afterwards, waking the context each time (two eventfd
   * writes and a spare poll per read). The broker never iterates its
   * context recursively, so let the source recurse and keep its fds. */
  g_source_set_can_recurse (self->read_source, TRUE);
  g_source_set_callback (self->read_source, G_SOURCE_FUNC (on_readable), self, NULL);
  g_source_attach (self->read_source, _mitogen_broker_get_main_context (self->broker));
}

void
_mitogen_stream_start_framing (MitogenStream *self)
{
  self->framing = TRUE;
}

/* Adds what is left of @len bytes at @data to @iov, after skipping
 * @skip bytes (already written) across calls. */
static inline void
add_iov (struct iovec  *iov,
         int           *n_iov,
         gconstpointer  data,
         gsize          len,
         gsize         *skip)
{
  if (*skip >= len)
    {
      *skip -= len;
      return;
    }
  if (*n_iov == MAX_IOV)
    return;
  iov[*n_iov].iov_base = (guint8 *) data + *skip;
  iov[*n_iov].iov_len = len - *skip;
  (*n_iov)++;
  *skip = 0;
}

/* Writes as much of the queue as the socket takes. Called with the lock
 * held. Returns FALSE on a write error (errno set). */
static gboolean
flush_locked (MitogenStream *self)
{
  while (!g_queue_is_empty (&self->pending))
    {
      struct iovec iov[MAX_IOV];
      int n_iov = 0;
      gssize written;

      /* Running out of iovecs mid-frame is fine: the write is a prefix
       * of the queue either way. */
      for (GList *l = self->pending.head; l != NULL && n_iov < MAX_IOV; l = l->next)
        {
          PendingWrite *pending = l->data;
          gsize skip = pending->offset;

          if (pending->block != NULL)
            {
              add_iov (iov, &n_iov, pending->block, pending->size, &skip);
              continue;
            }
          add_iov (iov, &n_iov, pending->header, MITOGEN_MESSAGE_HEADER_SIZE, &skip);
          if (pending->payload != NULL)
            add_iov (iov, &n_iov, g_bytes_get_data (pending->payload, NULL),
                     g_bytes_get_size (pending->payload), &skip);
          for (guint i = 0; pending->pieces != NULL && i < pending->pieces->len && n_iov < MAX_IOV; i++)
            {
              GBytes *piece = g_ptr_array_index (pending->pieces, i);

              add_iov (iov, &n_iov, g_bytes_get_data (piece, NULL), g_bytes_get_size (piece), &skip);
            }
        }

      /* A peer that just died must give EPIPE, not a SIGPIPE that kills
       * the whole process: sockets take MSG_NOSIGNAL (a PTY reports EIO
       * instead). */
      do
        {
          if (self->is_socket)
            {
              struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n_iov };

              written = sendmsg (self->fd, &msg, MSG_NOSIGNAL);
            }
          else
            written = writev (self->fd, iov, n_iov);
        }
      while (written < 0 && errno == EINTR);

      if (written < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK;

      self->queued_bytes -= written;
      self->bytes_written += written;
      while (written > 0)
        {
          PendingWrite *pending = g_queue_peek_head (&self->pending);
          gsize left = pending->size - pending->offset;

          if ((gsize) written >= left)
            {
              written -= left;
              pending_write_free (g_queue_pop_head (&self->pending));
            }
          else
            {
              pending->offset += written;
              written = 0;
            }
        }
    }

  return TRUE;
}

static gboolean on_writable (gint fd, GIOCondition condition, gpointer user_data);

static void
watch_writable_locked (MitogenStream *self)
{
  if (self->write_source != NULL || self->closed)
    return;

  /* g_source_attach is thread-safe: a sender on a user thread arms the
   * watch itself instead of waking the broker to do it. */
  self->write_source = g_unix_fd_source_new (self->fd, G_IO_OUT | G_IO_ERR | G_IO_HUP);
  g_source_set_static_name (self->write_source, "[mitogen] stream write");
  g_source_set_can_recurse (self->write_source, TRUE);  /* see _mitogen_stream_start */
  g_source_set_callback (self->write_source, G_SOURCE_FUNC (on_writable),
                         _mitogen_stream_ref (self), (GDestroyNotify) _mitogen_stream_unref);
  g_source_attach (self->write_source, _mitogen_broker_get_main_context (self->broker));
}

static void
fail_write (gpointer user_data)
{
  MitogenStream *self = user_data;
  g_autoptr(GError) error = g_error_new (MITOGEN_ERROR, MITOGEN_ERROR_STREAM,
                                         "Stream %s: write failed", self->name);

  _mitogen_stream_close (self, error);
  _mitogen_stream_unref (self);
}

static gboolean
on_writable (gint         fd,
             GIOCondition condition,
             gpointer     user_data)
{
  MitogenStream *self = user_data;
  gboolean ok;
  gboolean done;

  g_mutex_lock (&self->lock);
  ok = flush_locked (self);
  done = !ok || g_queue_is_empty (&self->pending);
  if (done)
    g_clear_pointer (&self->write_source, g_source_unref);
  g_mutex_unlock (&self->lock);

  if (!ok)
    fail_write (_mitogen_stream_ref (self));

  return done ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

/* After something was queued (the queue was empty before if
 * @was_empty): writes at once from the calling thread when nothing was
 * queued ahead (no wake-up of the broker on the common path), unless the
 * frame is part of a burst; and writes the whole queue once a burst has
 * waited COALESCE_USEC. Else arms the broker's write watch. Called with
 * the lock held; FALSE on a write error. */
static gboolean
write_or_watch_locked (MitogenStream *self,
                       gboolean       was_empty)
{
  gint64 now = g_get_monotonic_time ();
  guint reads = (guint) g_atomic_int_get (&self->reads);
  gboolean ok = TRUE;

  if (now - self->last_direct_write >= COALESCE_USEC ||
      (was_empty && reads != self->reads_at_direct_write))
    {
      ok = flush_locked (self);
      self->last_direct_write = now;
      self->reads_at_direct_write = reads;
    }
  if (ok && !g_queue_is_empty (&self->pending))
    watch_writable_locked (self);
  return ok;
}

static gboolean
enqueue (MitogenStream *self,
         PendingWrite  *pending)
{
  gboolean ok;
  gboolean was_empty;

  g_mutex_lock (&self->lock);
  if (self->closed)
    {
      g_mutex_unlock (&self->lock);
      pending_write_free (pending);
      return FALSE;
    }

  was_empty = g_queue_is_empty (&self->pending);
  g_queue_push_tail (&self->pending, pending);
  self->queued_bytes += pending->size - pending->offset;
  ok = write_or_watch_locked (self, was_empty);
  g_mutex_unlock (&self->lock);

  if (!ok)
    _mitogen_broker_post (self->broker, fail_write, _mitogen_stream_ref (self));

  return TRUE;
}

/* Queues a copy of @frame (at most COPY_LIMIT bytes, no pieces) at the
 * end of the last copy block, or of a new one. */
static gboolean
enqueue_copy (MitogenStream      *self,
              const MitogenFrame *frame)
{
  gsize size = MITOGEN_MESSAGE_HEADER_SIZE + frame->size;
  PendingWrite *tail;
  gboolean was_empty;
  gboolean ok;

  g_mutex_lock (&self->lock);
  if (self->closed)
    {
      g_mutex_unlock (&self->lock);
      return FALSE;
    }

  was_empty = g_queue_is_empty (&self->pending);
  tail = g_queue_peek_tail (&self->pending);
  if (tail == NULL || tail->block == NULL || tail->size + size > tail->capacity)
    {
      gsize capacity = MAX (size, was_empty ? COPY_BLOCK_SMALL : COPY_BLOCK_LARGE);

      tail = g_malloc (sizeof (PendingWrite) + capacity);
      memset (tail, 0, sizeof (PendingWrite));
      tail->capacity = capacity;
      tail->block = (guint8 *) (tail + 1);
      g_queue_push_tail (&self->pending, tail);
    }
  _mitogen_frame_pack_header (frame, tail->block + tail->size);
  if (frame->size > 0)
    memcpy (tail->block + tail->size + MITOGEN_MESSAGE_HEADER_SIZE,
            g_bytes_get_data (frame->data, NULL), frame->size);
  tail->size += size;
  self->queued_bytes += size;
  ok = write_or_watch_locked (self, was_empty);
  g_mutex_unlock (&self->lock);

  if (!ok)
    _mitogen_broker_post (self->broker, fail_write, _mitogen_stream_ref (self));

  return TRUE;
}

gboolean
_mitogen_stream_send (MitogenStream  *self,
                      MitogenMessage *message)
{
  MitogenFrame frame;
  gboolean sent;

  _mitogen_frame_init_from_message (&frame, message);
  sent = _mitogen_stream_send_frame (self, &frame);
  _mitogen_frame_clear (&frame);
  return sent;
}

gboolean
_mitogen_stream_send_frame (MitogenStream      *self,
                            const MitogenFrame *frame)
{
  PendingWrite *pending;

  if (frame->pieces == NULL && frame->size <= COPY_LIMIT - MITOGEN_MESSAGE_HEADER_SIZE)
    return enqueue_copy (self, frame);

  pending = g_new0 (PendingWrite, 1);
  _mitogen_frame_pack_header (frame, pending->header);
  if (frame->pieces != NULL)
    pending->pieces = g_ptr_array_ref (frame->pieces);
  else if (frame->size > 0)
    pending->payload = g_bytes_ref (frame->data);
  pending->size = MITOGEN_MESSAGE_HEADER_SIZE + frame->size;

  return enqueue (self, pending);
}

gboolean
_mitogen_stream_write_raw (MitogenStream *self,
                           GBytes        *data)
{
  PendingWrite *pending = g_new0 (PendingWrite, 1);

  /* A raw write is a "frame" whose header is already consumed. */
  pending->payload = g_bytes_ref (data);
  pending->offset = MITOGEN_MESSAGE_HEADER_SIZE;
  pending->size = MITOGEN_MESSAGE_HEADER_SIZE + g_bytes_get_size (data);

  return enqueue (self, pending);
}

void
_mitogen_stream_close (MitogenStream *self,
                       const GError  *error)
{
  GSource *write_source;
  g_autoptr(MitogenStream) hold = _mitogen_stream_ref (self);

  g_assert (_mitogen_broker_in_thread (self->broker));

  g_mutex_lock (&self->lock);
  if (self->closed)
    {
      g_mutex_unlock (&self->lock);
      return;
    }
  /* What a burst left for the broker to write (a SHUTDOWN, last
   * replies) goes out before the end, if the peer takes it. */
  if (self->fd >= 0)
    flush_locked (self);
  self->closed = TRUE;
  write_source = g_steal_pointer (&self->write_source);
  g_mutex_unlock (&self->lock);

  if (write_source != NULL)
    {
      g_source_destroy (write_source);
      g_source_unref (write_source);
    }
  if (self->read_source != NULL)
    {
      g_source_destroy (self->read_source);
      g_clear_pointer (&self->read_source, g_source_unref);
    }
  /* Close now, so the peer sees EOF (or, on a PTY, a hang-up) at once.
   * Writers check `closed` under the lock before touching the fd, and
   * both watches are gone, so nothing uses the number afterwards. */
  g_mutex_lock (&self->lock);
  if (self->fd >= 0)
    {
      close (self->fd);
      self->fd = -1;
    }
  g_mutex_unlock (&self->lock);

  if (self->on_closed != NULL)
    self->on_closed (self, error, self->user_data);
  if (self->close_notify != NULL)
    {
      self->close_notify (self, error, self->close_notify_data);
      /* It fires once; drop its data now, which may hold the stream's
       * owner alive. */
      _mitogen_stream_set_close_notify (self, NULL, NULL, NULL);
    }
}
