/* test-stream.c: MitogenStream's writes, seen from the peer's end of a
 * socket pair: frames of a burst arrive whole and in order, go out while
 * the broker thread is busy, and what a burst left queued still goes out
 * when the stream closes.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <mitogen-glib.h>

#include "mitogen-broker-private.h"
#include "mitogen-stream-private.h"

#define MAX_SIZE (1 << 20)

typedef struct
{
  MitogenBroker *broker;
  MitogenStream *stream;
  int fd;
  int peer;
} Fixture;

typedef struct
{
  MitogenBrokerFunc func;
  gpointer data;
  gboolean done;
  GMutex lock;
  GCond cond;
} BrokerCall;

static void
broker_call_run (gpointer user_data)
{
  BrokerCall *call = user_data;

  call->func (call->data);
  g_mutex_lock (&call->lock);
  call->done = TRUE;
  g_cond_signal (&call->cond);
  g_mutex_unlock (&call->lock);
}

/* Runs @func on the broker thread and waits for it (at most 10 s). */
static void
run_on_broker (MitogenBroker     *broker,
               MitogenBrokerFunc  func,
               gpointer           data)
{
  BrokerCall call = { .func = func, .data = data };
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  g_mutex_init (&call.lock);
  g_cond_init (&call.cond);
  _mitogen_broker_post (broker, broker_call_run, &call);
  g_mutex_lock (&call.lock);
  while (!call.done)
    g_assert_true (g_cond_wait_until (&call.cond, &call.lock, deadline));
  g_mutex_unlock (&call.lock);
  g_mutex_clear (&call.lock);
  g_cond_clear (&call.cond);
}

static void
create_stream (gpointer user_data)
{
  Fixture *fixture = user_data;

  /* As the library does: a stream is made on the broker thread. */
  fixture->stream = _mitogen_stream_new (fixture->broker, fixture->fd, "test", MAX_SIZE);
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  int fds[2];

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
  g_assert_true (g_unix_set_fd_nonblocking (fds[0], TRUE, NULL));
  fixture->broker = mitogen_broker_new ();
  fixture->fd = fds[0];
  fixture->peer = fds[1];
  run_on_broker (fixture->broker, create_stream, fixture);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  g_clear_pointer (&fixture->stream, _mitogen_stream_unref);
  mitogen_broker_shutdown (fixture->broker);
  g_assert_true (mitogen_broker_join (fixture->broker, 10 * G_USEC_PER_SEC));
  g_clear_object (&fixture->broker);
  close (fixture->peer);
}

static MitogenMessage *
numbered_message (guint32 n)
{
  g_autoptr(GBytes) data = g_bytes_new (&n, sizeof n);

  return mitogen_message_new (1000 + n, data);
}

/* Reads frames from @fd until @expected arrived (or EOF when @until_eof),
 * checking that frame i has handle 1000 + i; at most 10 s. */
static guint
read_numbered (int      fd,
               guint    expected,
               gboolean until_eof)
{
  g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (MAX_SIZE);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  guint seen = 0;

  while (until_eof || seen < expected)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      guint8 buffer[4096];
      gssize n;
      MitogenMessage *message;
      int ready;

      ready = poll (&pfd, 1, (int) MAX (0, (deadline - g_get_monotonic_time ()) / 1000));
      if (ready < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (ready, ==, 1);   /* else: timed out */
      n = read (fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >=, 0);
      if (n == 0)
        break;
      g_assert_true (mitogen_frame_decoder_feed (decoder, buffer, n, NULL));
      while ((message = mitogen_frame_decoder_pop (decoder)) != NULL)
        {
          guint32 number;

          g_assert_cmpuint (mitogen_message_get_handle (message), ==, 1000 + seen);
          g_assert_cmpuint (g_bytes_get_size (mitogen_message_get_data (message)), ==, sizeof number);
          memcpy (&number, g_bytes_get_data (mitogen_message_get_data (message), NULL), sizeof number);
          g_assert_cmpuint (number, ==, seen);
          g_object_unref (message);
          seen++;
        }
    }

  return seen;
}

static void
test_stream_burst_in_order (Fixture       *fixture,
                            gconstpointer  data)
{
  const guint count = 5000;

  g_test_summary ("Frames sent back to back from another thread arrive whole and in order, "
                  "also those left to the broker thread to write as a batch");

  for (guint i = 0; i < count; i++)
    {
      g_autoptr(MitogenMessage) message = numbered_message (i);

      g_assert_true (_mitogen_stream_send (fixture->stream, message));
    }
  g_assert_cmpuint (read_numbered (fixture->peer, count, FALSE), ==, count);
  g_assert_cmpuint (_mitogen_stream_get_queued_bytes (fixture->stream), ==, 0);
}

/* Payload sizes around the stream's copy limit (4096 bytes with the
 * 26-byte header: frames up to it are copied into shared blocks, larger
 * ones queued as they are), and bigger than a socket's buffer. */
static gsize
mixed_size (guint i)
{
  static const gsize sizes[] = { 4, 100, 4070, 4071, 9000, 70000, 0 };

  return sizes[i % G_N_ELEMENTS (sizes)];
}

static guint8
mixed_byte (guint i,
            gsize offset)
{
  return (guint8) (i * 7 + offset);
}

static void
test_stream_mixed_sizes_in_order (Fixture       *fixture,
                                  gconstpointer  data)
{
  const guint count = 700;
  g_autoptr(MitogenFrameDecoder) decoder = mitogen_frame_decoder_new (MAX_SIZE);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  guint seen = 0;

  g_test_summary ("Small frames (copied into the stream's blocks) and large ones (queued as "
                  "they are) sent in a burst the peer does not read yet arrive whole, "
                  "byte for byte and in order");

  for (guint i = 0; i < count; i++)
    {
      gsize size = mixed_size (i);
      guint8 *payload = g_malloc (size + 1);
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(MitogenMessage) message = NULL;

      for (gsize j = 0; j < size; j++)
        payload[j] = mixed_byte (i, j);
      bytes = g_bytes_new_take (payload, size);
      message = mitogen_message_new (1000 + i, bytes);
      g_assert_true (_mitogen_stream_send (fixture->stream, message));
    }
  /* Most of it is queued: the socket's buffer holds a fraction. */
  g_assert_cmpuint (_mitogen_stream_get_queued_bytes (fixture->stream), >, 0);

  while (seen < count)
    {
      struct pollfd pfd = { .fd = fixture->peer, .events = POLLIN };
      guint8 buffer[16384];
      MitogenMessage *message;
      gssize n;
      int ready;

      ready = poll (&pfd, 1, (int) MAX (0, (deadline - g_get_monotonic_time ()) / 1000));
      if (ready < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (ready, ==, 1);   /* else: timed out */
      n = read (fixture->peer, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >, 0);
      g_assert_true (mitogen_frame_decoder_feed (decoder, buffer, n, NULL));
      while ((message = mitogen_frame_decoder_pop (decoder)) != NULL)
        {
          gsize size;
          const guint8 *got = g_bytes_get_data (mitogen_message_get_data (message), &size);

          g_assert_cmpuint (mitogen_message_get_handle (message), ==, 1000 + seen);
          g_assert_cmpuint (size, ==, mixed_size (seen));
          for (gsize j = 0; j < size; j++)
            if (got[j] != mixed_byte (seen, j))
              g_error ("frame %u: byte %" G_GSIZE_FORMAT " is %u, not %u",
                       seen, j, got[j], mixed_byte (seen, j));
          g_object_unref (message);
          seen++;
        }
    }
  g_assert_cmpuint (_mitogen_stream_get_queued_bytes (fixture->stream), ==, 0);
}

/* Keeps the broker thread busy until released (at most 20 s). */
typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean busy;
  gboolean released;
} BrokerBlock;

static void
block_broker (gpointer user_data)
{
  BrokerBlock *block = user_data;
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  g_mutex_lock (&block->lock);
  block->busy = TRUE;
  g_cond_broadcast (&block->cond);
  while (!block->released && g_cond_wait_until (&block->cond, &block->lock, deadline))
    ;
  g_mutex_unlock (&block->lock);
}

static void
do_nothing (gpointer user_data)
{
}

static void
test_stream_burst_written_by_sender (Fixture       *fixture,
                                     gconstpointer  data)
{
  BrokerBlock block = { 0 };
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  gint64 start;
  guint count = 0;

  g_test_summary ("While the broker thread is kept busy, a burst's frames still go out: "
                  "the sending thread writes what is queued once the burst has lasted "
                  "a while (a busy sender can keep the broker off its CPU)");

  g_mutex_init (&block.lock);
  g_cond_init (&block.cond);
  _mitogen_broker_post (fixture->broker, block_broker, &block);
  g_mutex_lock (&block.lock);
  while (!block.busy)
    g_assert_true (g_cond_wait_until (&block.cond, &block.lock, deadline));
  g_mutex_unlock (&block.lock);

  /* Back to back for a millisecond (at most 2,000 frames of 30 bytes: the
   * socket takes them all), then one more after a pause. */
  start = g_get_monotonic_time ();
  while (count < 2000 && (count < 10 || g_get_monotonic_time () - start < 1000))
    {
      g_autoptr(MitogenMessage) message = numbered_message (count++);

      g_assert_true (_mitogen_stream_send (fixture->stream, message));
    }
  g_usleep (200);
  {
    g_autoptr(MitogenMessage) message = numbered_message (count++);

    g_assert_true (_mitogen_stream_send (fixture->stream, message));
  }
  g_assert_cmpuint (_mitogen_stream_get_queued_bytes (fixture->stream), ==, 0);
  g_assert_cmpuint (read_numbered (fixture->peer, count, FALSE), ==, count);

  g_mutex_lock (&block.lock);
  block.released = TRUE;
  g_cond_broadcast (&block.cond);
  g_mutex_unlock (&block.lock);
  /* Jobs run in order: once this one ran, block is no longer used. */
  run_on_broker (fixture->broker, do_nothing, NULL);
  g_mutex_clear (&block.lock);
  g_cond_clear (&block.cond);
}

typedef struct
{
  MitogenStream *stream;
  guint count;
} BurstThenClose;

static void
burst_then_close (gpointer user_data)
{
  BurstThenClose *job = user_data;

  /* On the broker thread: its write watch cannot run before the close,
   * so whatever the burst left queued is written by the close or lost. */
  for (guint i = 0; i < job->count; i++)
    {
      g_autoptr(MitogenMessage) message = numbered_message (i);

      g_assert_true (_mitogen_stream_send (job->stream, message));
    }
  _mitogen_stream_close (job->stream, NULL);
}

static void
test_stream_close_writes_queued (Fixture       *fixture,
                                 gconstpointer  data)
{
  BurstThenClose job = { .stream = fixture->stream, .count = 200 };

  g_test_summary ("Closing a stream right after a burst of frames still writes them all, "
                  "then the peer reads EOF");

  run_on_broker (fixture->broker, burst_then_close, &job);
  g_assert_cmpuint (read_numbered (fixture->peer, job.count, TRUE), ==, job.count);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/stream/burst-in-order", Fixture, NULL,
              fixture_setup, test_stream_burst_in_order, fixture_teardown);
  g_test_add ("/stream/mixed-sizes-in-order", Fixture, NULL,
              fixture_setup, test_stream_mixed_sizes_in_order, fixture_teardown);
  g_test_add ("/stream/burst-written-by-sender", Fixture, NULL,
              fixture_setup, test_stream_burst_written_by_sender, fixture_teardown);
  g_test_add ("/stream/close-writes-queued", Fixture, NULL,
              fixture_setup, test_stream_close_writes_queued, fixture_teardown);

  return g_test_run ();
}
