/* test-latch.c: MitogenLatch
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <mitogen-glib.h>

#include "mitogen-latch-private.h"
#include "test-time-scale.h"

/* Every wait in this file is bounded by one of these, so a bug fails the
 * test instead of hanging it. */
#define WATCHDOG_SECONDS 20
#define LONG_WAIT_USEC   (20 * G_USEC_PER_SEC)

/* ---- a tiny item type carrying an integer ---- */

#define TEST_TYPE_ITEM (test_item_get_type ())
G_DECLARE_FINAL_TYPE (TestItem, test_item, TEST, ITEM, GObject)

struct _TestItem
{
  GObject parent_instance;
  guint value;
};

G_DEFINE_FINAL_TYPE (TestItem, test_item, G_TYPE_OBJECT)

static void
test_item_class_init (TestItemClass *klass)
{
}

static void
test_item_init (TestItem *self)
{
}

static TestItem *
test_item_new (guint value)
{
  TestItem *item = g_object_new (TEST_TYPE_ITEM, NULL);

  item->value = value;
  return item;
}

static guint
item_value (gpointer item)
{
  g_assert_true (TEST_IS_ITEM (item));
  return TEST_ITEM (item)->value;
}

/* ---- helpers ---- */

static gboolean
watchdog_cb (gpointer user_data)
{
  gboolean *fired = user_data;

  *fired = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates @context until *@done is set, failing after WATCHDOG_SECONDS. */
static void
run_until (GMainContext *context,
           const gint   *done)
{
  gboolean fired = FALSE;
  GSource *watchdog = g_timeout_source_new_seconds (WATCHDOG_SECONDS);

  g_source_set_callback (watchdog, watchdog_cb, &fired, NULL);
  g_source_attach (watchdog, context);

  while (!g_atomic_int_get (done) && !fired)
    g_main_context_iteration (context, TRUE);

  g_source_destroy (watchdog);
  g_source_unref (watchdog);

  g_assert_false (fired);
}

/* Iterates @context without blocking until nothing is pending. */
static void
drain_context (GMainContext *context)
{
  while (g_main_context_iteration (context, FALSE))
    ;
}

/* A count of threads still running, which the main thread can await with a
 * deadline (g_thread_join() has none). */
typedef struct
{
  GMutex mutex;
  GCond cond;
  guint count;
} Countdown;

static void
countdown_init (Countdown *cd,
                guint      count)
{
  g_mutex_init (&cd->mutex);
  g_cond_init (&cd->cond);
  cd->count = count;
}

static void
countdown_clear (Countdown *cd)
{
  g_mutex_clear (&cd->mutex);
  g_cond_clear (&cd->cond);
}

static void
countdown_done (Countdown *cd)
{
  g_mutex_lock (&cd->mutex);
  g_assert_cmpuint (cd->count, >, 0);
  if (--cd->count == 0)
    g_cond_broadcast (&cd->cond);
  g_mutex_unlock (&cd->mutex);
}

static gboolean
countdown_wait (Countdown *cd,
                gint64     timeout_usec)
{
  gint64 deadline = g_get_monotonic_time () + timeout_usec;
  gboolean ok = TRUE;

  g_mutex_lock (&cd->mutex);
  while (cd->count > 0 && ok)
    ok = g_cond_wait_until (&cd->cond, &cd->mutex, deadline);
  ok = cd->count == 0;
  g_mutex_unlock (&cd->mutex);

  return ok;
}

static void
put_or_fail (MitogenLatch *latch,
             gpointer      item)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mitogen_latch_put (latch, item, &error));
  g_assert_no_error (error);
}

/* Adds a weak pointer to each object so the end of a test can prove they
 * were all finalized. */
static gpointer *
track_objects (gpointer *objects,
               guint     n)
{
  gpointer *weak = g_new0 (gpointer, n);

  for (guint i = 0; i < n; i++)
    {
      weak[i] = objects[i];
      g_object_add_weak_pointer (objects[i], &weak[i]);
    }
  return weak;
}

static void
assert_all_finalized (gpointer *weak,
                      guint     n)
{
  for (guint i = 0; i < n; i++)
    g_assert_null (weak[i]);
}

/* Unrefs @latch and asserts that was its last reference. */
static void
assert_finalize_latch (MitogenLatch *latch)
{
  gpointer weak = latch;

  g_object_add_weak_pointer (G_OBJECT (latch), &weak);
  g_object_unref (latch);
  g_assert_null (weak);
}

/* ---- basic queue behaviour ---- */

static void
test_fifo (void)
{
  MitogenLatch *latch;
  const guint n = 100;

  g_test_summary ("Items come out in the order they were put, and the "
                  "size counts what is queued");

  latch = mitogen_latch_new ();
  g_assert_false (mitogen_latch_is_closed (latch));
  g_assert_cmpuint (mitogen_latch_get_size (latch), ==, 0);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(TestItem) item = test_item_new (i);

      put_or_fail (latch, item);
    }
  g_assert_cmpuint (mitogen_latch_get_size (latch), ==, n);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GObject) item = NULL;

      /* Alternate the three ways of waiting, all FIFO. */
      item = mitogen_latch_get (latch, (i % 3 == 0) ? -1 : (i % 3 == 1) ? 0 : LONG_WAIT_USEC,
                                NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (item_value (item), ==, i);
      /* The latch gave its reference away. */
      g_assert_cmpuint (item->ref_count, ==, 1);
    }
  g_assert_cmpuint (mitogen_latch_get_size (latch), ==, 0);

  assert_finalize_latch (latch);
}

static void
test_try_get (void)
{
  MitogenLatch *latch;
  g_autoptr(GError) error = NULL;
  g_autoptr(TestItem) a = test_item_new (1);
  g_autoptr(TestItem) b = test_item_new (2);
  gpointer got;

  g_test_summary ("try_get returns NULL without an error on an empty latch, "
                  "the head item otherwise, and LATCH_CLOSED once closed");

  latch = mitogen_latch_new ();

  got = mitogen_latch_try_get (latch, &error);
  g_assert_no_error (error);
  g_assert_null (got);

  put_or_fail (latch, a);
  put_or_fail (latch, b);

  got = mitogen_latch_try_get (latch, &error);
  g_assert_no_error (error);
  g_assert_true (got == (gpointer) a);
  g_object_unref (got);
  g_assert_cmpuint (mitogen_latch_get_size (latch), ==, 1);

  mitogen_latch_close (latch);
  got = mitogen_latch_try_get (latch, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_LATCH_CLOSED);
  g_assert_null (got);

  assert_finalize_latch (latch);
  /* Close dropped b's latch reference; only ours is left. */
  g_assert_cmpuint (G_OBJECT (b)->ref_count, ==, 1);
  g_assert_cmpuint (G_OBJECT (a)->ref_count, ==, 1);
}

static void
test_get_timeout (void)
{
  MitogenLatch *latch;
  g_autoptr(GError) error = NULL;
  const gint64 timeout = 200 * 1000;
  gint64 start, elapsed;
  gpointer got;

  g_test_summary ("A get on an empty latch fails with TIMEOUT after about "
                  "its timeout (not before, and not much later)");

  latch = mitogen_latch_new ();

  start = g_get_monotonic_time ();
  got = mitogen_latch_get (latch, timeout, NULL, &error);
  elapsed = g_get_monotonic_time () - start;

  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_assert_null (got);
  g_assert_cmpint (elapsed, >=, timeout);
  g_assert_cmpint (elapsed, <, timeout + test_scaled_usec (2 * G_USEC_PER_SEC));

  /* A timed-out waiter leaves nothing behind: a later put is queued. */
  {
    g_autoptr(TestItem) item = test_item_new (7);

    put_or_fail (latch, item);
    g_assert_cmpuint (mitogen_latch_get_size (latch), ==, 1);
  }

  /* A timeout too large for a deadline waits without one. */
  {
    g_autoptr(GError) error2 = NULL;
    g_autoptr(GObject) item = mitogen_latch_get (latch, G_MAXINT64, NULL, &error2);

    g_assert_no_error (error2);
    g_assert_cmpuint (item_value (item), ==, 7);
    put_or_fail (latch, item);
  }

  /* Same with a cancellable that never fires. */
  {
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    g_autoptr(GError) error2 = NULL;
    g_autoptr(GObject) item = NULL;

    item = mitogen_latch_get (latch, timeout, cancellable, &error2);
    g_assert_no_error (error2);
    g_assert_cmpuint (item_value (item), ==, 7);

    start = g_get_monotonic_time ();
    got = mitogen_latch_get (latch, timeout, cancellable, &error2);
    elapsed = g_get_monotonic_time () - start;
    g_assert_error (error2, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
    g_assert_null (got);
    g_assert_cmpint (elapsed, >=, timeout);
    g_assert_cmpint (elapsed, <, timeout + test_scaled_usec (2 * G_USEC_PER_SEC));
  }

  assert_finalize_latch (latch);
}

static void
test_get_timeout_zero (void)
{
  MitogenLatch *latch;
  g_autoptr(GError) error = NULL;
  g_autoptr(TestItem) item = test_item_new (3);
  gint64 start;
  gpointer got;

  g_test_summary ("A get with timeout 0 never waits: TIMEOUT when empty, "
                  "the item otherwise");

  latch = mitogen_latch_new ();

  start = g_get_monotonic_time ();
  got = mitogen_latch_get (latch, 0, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_assert_null (got);
  g_assert_cmpint (g_get_monotonic_time () - start, <, test_scaled_usec (2 * G_USEC_PER_SEC));
  g_clear_error (&error);

  put_or_fail (latch, item);
  got = mitogen_latch_get (latch, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (got == (gpointer) item);
  g_object_unref (got);

  assert_finalize_latch (latch);
}

/* ---- many producers and consumers ---- */

#define N_PRODUCERS 8
#define N_CONSUMERS 8
#define N_PER_PRODUCER 10000
#define N_TOTAL (N_PRODUCERS * N_PER_PRODUCER)

typedef struct
{
  MitogenLatch *latch;
  gint *seen;           /* (array N_TOTAL): times each value was received */
  gint received;        /* (atomic) */
  gint order_errors;    /* (atomic) */
  Countdown consumers;
} StressData;

typedef struct
{
  StressData *data;
  guint index;
} StressThread;

static gpointer
producer_thread (gpointer user_data)
{
  StressThread *t = user_data;

  for (guint i = 0; i < N_PER_PRODUCER; i++)
    {
      TestItem *item = test_item_new (t->index * N_PER_PRODUCER + i);

      put_or_fail (t->data->latch, item);
      g_object_unref (item);
    }

  return NULL;
}

static gpointer
consumer_thread (gpointer user_data)
{
  StressThread *t = user_data;
  StressData *data = t->data;
  gint last[N_PRODUCERS];

  for (guint p = 0; p < N_PRODUCERS; p++)
    last[p] = -1;

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      gpointer item = mitogen_latch_get (data->latch, LONG_WAIT_USEC, NULL, &error);
      guint value, producer;
      gint seq;

      if (item == NULL)
        {
          /* The only way out is the close after everything arrived. */
          g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_LATCH_CLOSED);
          break;
        }

      value = item_value (item);
      g_object_unref (item);
      g_assert_cmpuint (value, <, N_TOTAL);

      g_atomic_int_inc (&data->seen[value]);

      /* One consumer sees each producer's items in the order they were
       * put: FIFO holds across the hand-over to waiters too. */
      producer = value / N_PER_PRODUCER;
      seq = value % N_PER_PRODUCER;
      if (seq <= last[producer])
        g_atomic_int_inc (&data->order_errors);
      last[producer] = seq;

      g_atomic_int_inc (&data->received);
    }

  countdown_done (&data->consumers);
  return NULL;
}

static void
test_threads (void)
{
  StressData data = { 0, };
  StressThread producers[N_PRODUCERS], consumers[N_CONSUMERS];
  GThread *producer_threads[N_PRODUCERS], *consumer_threads[N_CONSUMERS];
  gint64 deadline;

  g_test_summary ("8 producers x 10000 items and 8 blocking consumers: every "
                  "item is received exactly once, in per-producer order");

  data.latch = mitogen_latch_new ();
  data.seen = g_new0 (gint, N_TOTAL);
  countdown_init (&data.consumers, N_CONSUMERS);

  for (guint i = 0; i < N_CONSUMERS; i++)
    {
      consumers[i].data = &data;
      consumers[i].index = i;
      consumer_threads[i] = g_thread_new ("consumer", consumer_thread, &consumers[i]);
    }
  for (guint i = 0; i < N_PRODUCERS; i++)
    {
      producers[i].data = &data;
      producers[i].index = i;
      producer_threads[i] = g_thread_new ("producer", producer_thread, &producers[i]);
    }

  /* Producers never block, so these joins are bounded by their work. */
  for (guint i = 0; i < N_PRODUCERS; i++)
    g_thread_join (producer_threads[i]);

  deadline = g_get_monotonic_time () + 3 * WATCHDOG_SECONDS * G_USEC_PER_SEC;
  while (g_atomic_int_get (&data.received) < N_TOTAL &&
         g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_cmpint (g_atomic_int_get (&data.received), ==, N_TOTAL);

  mitogen_latch_close (data.latch);
  g_assert_true (countdown_wait (&data.consumers, WATCHDOG_SECONDS * G_USEC_PER_SEC));
  for (guint i = 0; i < N_CONSUMERS; i++)
    g_thread_join (consumer_threads[i]);

  for (guint v = 0; v < N_TOTAL; v++)
    {
      if (data.seen[v] != 1)
        g_error ("item %u received %d times", v, data.seen[v]);
    }
  g_assert_cmpint (data.order_errors, ==, 0);
  g_assert_cmpuint (mitogen_latch_get_size (data.latch), ==, 0);

  assert_finalize_latch (data.latch);
  countdown_clear (&data.consumers);
  g_free (data.seen);
}

/* ---- close ---- */

#define N_BLOCKED 8

typedef struct
{
  MitogenLatch *latch;
  Countdown started;
  Countdown finished;
  gint closed_errors;   /* (atomic) */
} CloseData;

static gpointer
blocked_get_thread (gpointer user_data)
{
  CloseData *data = user_data;
  g_autoptr(GError) error = NULL;
  gpointer item;

  countdown_done (&data->started);
  item = mitogen_latch_get (data->latch, LONG_WAIT_USEC, NULL, &error);
  g_assert_null (item);
  if (g_error_matches (error, MITOGEN_ERROR, MITOGEN_ERROR_LATCH_CLOSED))
    g_atomic_int_inc (&data->closed_errors);
  countdown_done (&data->finished);

  return NULL;
}

typedef struct
{
  gint done;
  GError *error;
  gpointer item;
  GMainContext *context;
  GThread *thread;
} AsyncResult;

static void
async_result_clear (AsyncResult *r)
{
  g_clear_error (&r->error);
  g_clear_object (&r->item);
  r->done = FALSE;
}

/* Records the outcome, and that it arrived where it was asked for. */
static void
get_cb (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  AsyncResult *r = user_data;

  g_assert_true (MITOGEN_IS_LATCH (source));
  g_assert_false (g_atomic_int_get (&r->done));
  if (r->context != NULL)
    {
      GMainContext *current = g_main_context_ref_thread_default ();

      g_assert_true (current == r->context);
      g_main_context_unref (current);
    }
  if (r->thread != NULL)
    g_assert_true (g_thread_self () == r->thread);

  r->item = mitogen_latch_get_finish (MITOGEN_LATCH (source), result, &r->error);
  g_assert_true ((r->item == NULL) != (r->error == NULL));
  g_atomic_int_set (&r->done, TRUE);
}

static void
test_close_wakes_all (void)
{
  CloseData data;
  GThread *threads[N_BLOCKED];
  AsyncResult async[2] = { { 0, }, };
  gint64 start;

  g_test_summary ("close wakes every blocked and async waiter with "
                  "LATCH_CLOSED, promptly");

  data.latch = mitogen_latch_new ();
  data.closed_errors = 0;
  countdown_init (&data.started, N_BLOCKED);
  countdown_init (&data.finished, N_BLOCKED);

  for (guint i = 0; i < N_BLOCKED; i++)
    threads[i] = g_thread_new ("blocked-get", blocked_get_thread, &data);
  for (guint i = 0; i < G_N_ELEMENTS (async); i++)
    mitogen_latch_get_async (data.latch, NULL, get_cb, &async[i]);

  g_assert_true (countdown_wait (&data.started, WATCHDOG_SECONDS * G_USEC_PER_SEC));
  /* Give them time to really sleep; close must work either way. */
  g_usleep (100 * 1000);

  start = g_get_monotonic_time ();
  mitogen_latch_close (data.latch);
  g_assert_true (mitogen_latch_is_closed (data.latch));

  g_assert_true (countdown_wait (&data.finished, test_scaled_usec (5 * G_USEC_PER_SEC)));
  g_assert_cmpint (g_get_monotonic_time () - start, <, test_scaled_usec (5 * G_USEC_PER_SEC));
  for (guint i = 0; i < N_BLOCKED; i++)
    g_thread_join (threads[i]);
  g_assert_cmpint (data.closed_errors, ==, N_BLOCKED);

  for (guint i = 0; i < G_N_ELEMENTS (async); i++)
    {
      run_until (NULL, &async[i].done);
      g_assert_error (async[i].error, MITOGEN_ERROR, MITOGEN_ERROR_LATCH_CLOSED);
      async_result_clear (&async[i]);
    }
  drain_context (NULL);

  countdown_clear (&data.started);
  countdown_clear (&data.finished);
  assert_finalize_latch (data.latch);
}

static void
test_put_after_close (void)
{
  MitogenLatch *latch;
  g_autoptr(GError) error = NULL;
  g_autoptr(TestItem) item = test_item_new (1);
  AsyncResult r = { 0, };
  gpointer got;

  g_test_summary ("After close, put, get and get_async fail with "
                  "LATCH_CLOSED, and close again is harmless");

  latch = mitogen_latch_new ();
  mitogen_latch_close (latch);
  mitogen_latch_close (latch);
  g_assert_true (mitogen_latch_is_closed (latch));

  g_assert_false (mitogen_latch_put (latch, item, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_LATCH_CLOSED);
  g_clear_error (&error);
  /* A refused put keeps no reference. */
  g_assert_cmpuint (G_OBJECT (item)->ref_count, ==, 1);

  got = mitogen_latch_get (latch, -1, NULL, &error);
  g_assert_null (got);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_LATCH_CLOSED);
  g_clear_error (&error);

  got = mitogen_latch_get (latch, 0, NULL, &error);
  g_assert_null (got);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_LATCH_CLOSED);
  g_clear_error (&error);

  mitogen_latch_get_async (latch, NULL, get_cb, &r);
  /* Even an immediate failure is delivered from the main loop. */
  g_assert_false (r.done);
  run_until (NULL, &r.done);
  g_assert_error (r.error, MITOGEN_ERROR, MITOGEN_ERROR_LATCH_CLOSED);
  async_result_clear (&r);
  drain_context (NULL);

  g_assert_cmpuint (mitogen_latch_get_size (latch), ==, 0);
  assert_finalize_latch (latch);
}

static void
test_close_drops_items (void)
{
  MitogenLatch *latch;
  gpointer items[10];
  gpointer *weak;

  g_test_summary ("close releases the queued items");

  latch = mitogen_latch_new ();
  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    items[i] = test_item_new (i);
  weak = track_objects (items, G_N_ELEMENTS (items));

  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    {
      put_or_fail (latch, items[i]);
      g_object_unref (items[i]);
    }
  g_assert_cmpuint (mitogen_latch_get_size (latch), ==, G_N_ELEMENTS (items));
  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    g_assert_nonnull (weak[i]);

  mitogen_latch_close (latch);
  g_assert_cmpuint (mitogen_latch_get_size (latch), ==, 0);
  assert_all_finalized (weak, G_N_ELEMENTS (items));

  assert_finalize_latch (latch);
  g_free (weak);
}

static void
test_finalize_drops_items (void)
{
  MitogenLatch *latch;
  gpointer items[5];
  gpointer *weak;

  g_test_summary ("Finalizing a latch with queued items releases them");

  latch = mitogen_latch_new ();
  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    items[i] = test_item_new (i);
  weak = track_objects (items, G_N_ELEMENTS (items));
  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    {
      put_or_fail (latch, items[i]);
      g_object_unref (items[i]);
    }

  assert_finalize_latch (latch);
  assert_all_finalized (weak, G_N_ELEMENTS (items));
  g_free (weak);
}

/* ---- cancellation of blocking gets ---- */

typedef struct
{
  MitogenLatch *latch;
  GCancellable *cancellable;
  gint64 timeout;
  Countdown started;
  Countdown finished;
  gpointer item;
  GError *error;
} BlockingGet;

static gpointer
blocking_get_thread (gpointer user_data)
{
  BlockingGet *b = user_data;

  countdown_done (&b->started);
  b->item = mitogen_latch_get (b->latch, b->timeout, b->cancellable, &b->error);
  countdown_done (&b->finished);

  return NULL;
}

static void
test_cancel_blocking (void)
{
  BlockingGet b = { 0, };
  GThread *thread;
  g_autoptr(TestItem) item = test_item_new (42);
  gint64 start;

  g_test_summary ("Cancelling from another thread wakes a blocked get "
                  "(even one with no timeout) with CANCELLED; the latch "
                  "stays usable and later items stay queued");

  b.latch = mitogen_latch_new ();
  b.cancellable = g_cancellable_new ();
  b.timeout = -1;
  countdown_init (&b.started, 1);
  countdown_init (&b.finished, 1);

  thread = g_thread_new ("cancel-me", blocking_get_thread, &b);
  g_assert_true (countdown_wait (&b.started, WATCHDOG_SECONDS * G_USEC_PER_SEC));
  g_usleep (100 * 1000);

  start = g_get_monotonic_time ();
  g_cancellable_cancel (b.cancellable);
  if (!countdown_wait (&b.finished, test_scaled_usec (5 * G_USEC_PER_SEC)))
    {
      /* Unblock the thread so the failure is reported, not hung. */
      mitogen_latch_close (b.latch);
      g_error ("cancel did not wake the blocked get");
    }
  g_assert_cmpint (g_get_monotonic_time () - start, <, test_scaled_usec (5 * G_USEC_PER_SEC));
  g_thread_join (thread);

  g_assert_null (b.item);
  g_assert_error (b.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* The cancelled waiter is gone: this item is queued, not swallowed. */
  put_or_fail (b.latch, item);
  g_assert_cmpuint (mitogen_latch_get_size (b.latch), ==, 1);

  g_clear_error (&b.error);
  g_clear_object (&b.cancellable);
  countdown_clear (&b.started);
  countdown_clear (&b.finished);
  assert_finalize_latch (b.latch);
}

static void
test_cancel_already (void)
{
  MitogenLatch *latch;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(TestItem) item = test_item_new (5);
  AsyncResult r = { 0, };
  gint64 start;
  gpointer got;

  g_test_summary ("A get with an already-cancelled cancellable fails at once "
                  "with CANCELLED, blocking or async, and takes nothing");

  latch = mitogen_latch_new ();
  g_cancellable_cancel (cancellable);

  start = g_get_monotonic_time ();
  got = mitogen_latch_get (latch, LONG_WAIT_USEC, cancellable, &error);
  g_assert_null (got);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, test_scaled_usec (2 * G_USEC_PER_SEC));
  g_clear_error (&error);

  mitogen_latch_get_async (latch, cancellable, get_cb, &r);
  g_assert_false (r.done);
  run_until (NULL, &r.done);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  async_result_clear (&r);

  /* With an item queued, cancellation still wins and the item stays. */
  put_or_fail (latch, item);
  got = mitogen_latch_get (latch, -1, cancellable, &error);
  g_assert_null (got);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  r = (AsyncResult) { 0, };
  mitogen_latch_get_async (latch, cancellable, get_cb, &r);
  run_until (NULL, &r.done);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  async_result_clear (&r);

  g_assert_cmpuint (mitogen_latch_get_size (latch), ==, 1);
  drain_context (NULL);
  assert_finalize_latch (latch);
  g_assert_cmpuint (G_OBJECT (item)->ref_count, ==, 1);
}

/* ---- async gets and main contexts ---- */

typedef struct
{
  MitogenLatch *latch;
  gboolean put_from_other_thread;
  gboolean item_already_queued;
} ContextTest;

static gpointer
put_thread (gpointer user_data)
{
  MitogenLatch *latch = user_data;
  TestItem *item = test_item_new (99);

  put_or_fail (latch, item);
  g_object_unref (item);

  return NULL;
}

static gpointer
context_thread (gpointer user_data)
{
  ContextTest *ct = user_data;
  GMainContext *context = g_main_context_new ();
  AsyncResult r = { 0, };

  g_main_context_push_thread_default (context);
  r.context = context;
  r.thread = g_thread_self ();

  if (ct->item_already_queued)
    {
      TestItem *item = test_item_new (99);

      put_or_fail (ct->latch, item);
      g_object_unref (item);
    }

  mitogen_latch_get_async (ct->latch, NULL, get_cb, &r);
  /* Never synchronously, even with an item ready. */
  g_assert_false (r.done);

  if (ct->item_already_queued)
    ;
  else if (ct->put_from_other_thread)
    g_thread_join (g_thread_new ("putter", put_thread, ct->latch));
  else
    put_thread (ct->latch);

  run_until (context, &r.done);
  g_assert_no_error (r.error);
  g_assert_cmpuint (item_value (r.item), ==, 99);
  async_result_clear (&r);
  drain_context (context);

  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);

  return NULL;
}

static void
test_async_context (void)
{
  g_test_summary ("get_async completes in the thread-default main context "
                  "of the calling thread, whichever thread puts the item");

  for (guint mode = 0; mode < 3; mode++)
    {
      ContextTest ct = { 0, };

      ct.latch = mitogen_latch_new ();
      ct.put_from_other_thread = mode == 1;
      ct.item_already_queued = mode == 2;

      /* The thread iterates only its private context: a completion
       * posted anywhere else would trip its watchdog. */
      g_thread_join (g_thread_new ("context-thread", context_thread, &ct));

      assert_finalize_latch (ct.latch);
    }
}

typedef struct
{
  MitogenLatch *latch;
  gpointer *items;
  guint n_items;
} PutMany;

static gpointer
put_many_thread (gpointer user_data)
{
  PutMany *pm = user_data;

  for (guint i = 0; i < pm->n_items; i++)
    put_or_fail (pm->latch, pm->items[i]);

  return NULL;
}

static void
test_async_main (void)
{
  MitogenLatch *latch;
  AsyncResult r = { 0, };
  AsyncResult r2 = { 0, };
  gpointer items[2];
  gpointer *weak;

  g_test_summary ("Async gets on the main thread are served in FIFO order "
                  "by puts from other threads, and each item goes to one "
                  "waiter only");

  latch = mitogen_latch_new ();
  r.context = g_main_context_default ();
  r.thread = g_thread_self ();
  r2.context = r.context;
  r2.thread = r.thread;

  mitogen_latch_get_async (latch, NULL, get_cb, &r);
  mitogen_latch_get_async (latch, NULL, get_cb, &r2);

  items[0] = test_item_new (1);
  items[1] = test_item_new (2);
  weak = track_objects (items, 2);

  {
    PutMany pm = { latch, items, 2 };

    g_thread_join (g_thread_new ("putter", put_many_thread, &pm));
  }
  for (guint i = 0; i < 2; i++)
    g_object_unref (items[i]);
  /* Both were handed to waiters, none queued. */
  g_assert_cmpuint (mitogen_latch_get_size (latch), ==, 0);

  run_until (NULL, &r.done);
  run_until (NULL, &r2.done);
  g_assert_no_error (r.error);
  g_assert_no_error (r2.error);
  g_assert_cmpuint (item_value (r.item), ==, 1);
  g_assert_cmpuint (item_value (r2.item), ==, 2);

  async_result_clear (&r);
  async_result_clear (&r2);
  drain_context (NULL);
  assert_all_finalized (weak, 2);
  g_free (weak);
  assert_finalize_latch (latch);
}

static void
test_async_unawaited (void)
{
  MitogenLatch *latch;
  gpointer item = test_item_new (1);
  gpointer weak = item;
  gpointer weak_latch;

  g_test_summary ("An item handed to an async get whose caller never "
                  "finishes it is released with the task");

  latch = mitogen_latch_new ();
  weak_latch = latch;
  g_object_add_weak_pointer (G_OBJECT (latch), &weak_latch);
  g_object_add_weak_pointer (item, &weak);

  mitogen_latch_get_async (latch, NULL, NULL, NULL);
  put_or_fail (latch, item);
  g_object_unref (item);
  g_assert_nonnull (weak);

  /* The task holds the latch; it goes once the task has completed. */
  g_object_unref (latch);
  drain_context (NULL);

  g_assert_null (weak);
  g_assert_null (weak_latch);
}

static void
test_async_cancel_then_put (void)
{
  MitogenLatch *latch;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(TestItem) item = test_item_new (8);
  AsyncResult r = { 0, };
  AsyncResult r2 = { 0, };
  gpointer got;
  g_autoptr(GError) error = NULL;

  g_test_summary ("Cancelling a pending async get removes it at once: an "
                  "item put afterwards stays in the latch");

  latch = mitogen_latch_new ();
  mitogen_latch_get_async (latch, cancellable, get_cb, &r);
  g_cancellable_cancel (cancellable);

  put_or_fail (latch, item);
  g_assert_cmpuint (mitogen_latch_get_size (latch), ==, 1);

  run_until (NULL, &r.done);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (mitogen_latch_get_size (latch), ==, 1);

  /* A later waiter gets it. */
  mitogen_latch_get_async (latch, NULL, get_cb, &r2);
  run_until (NULL, &r2.done);
  g_assert_no_error (r2.error);
  g_assert_true (r2.item == (gpointer) item);

  /* And cancelling after the hand-over does not lose the item. */
  async_result_clear (&r);
  async_result_clear (&r2);
  g_cancellable_reset (cancellable);
  mitogen_latch_get_async (latch, cancellable, get_cb, &r);
  put_or_fail (latch, item);
  g_cancellable_cancel (cancellable);
  run_until (NULL, &r.done);
  g_assert_no_error (r.error);
  g_assert_true (r.item == (gpointer) item);
  async_result_clear (&r);

  got = mitogen_latch_try_get (latch, &error);
  g_assert_no_error (error);
  g_assert_null (got);

  drain_context (NULL);
  assert_finalize_latch (latch);
  g_assert_cmpuint (G_OBJECT (item)->ref_count, ==, 1);
}

/* ---- races: cancel against put ---- */

typedef struct
{
  MitogenLatch *latch;
  GCancellable *cancellable;
  gpointer item;
  Countdown gate;   /* opened (reaches 0) to start both racers at once */
} RaceData;

static void
race_data_init (RaceData     *rd,
                MitogenLatch *latch,
                gpointer      item,
                gboolean      gated)
{
  rd->latch = latch;
  rd->cancellable = g_cancellable_new ();
  rd->item = item;
  countdown_init (&rd->gate, gated ? 1 : 0);
}

static void
race_data_clear (RaceData *rd)
{
  g_clear_object (&rd->cancellable);
  countdown_clear (&rd->gate);
}

static gpointer
race_cancel_thread (gpointer user_data)
{
  RaceData *rd = user_data;

  g_assert_true (countdown_wait (&rd->gate, WATCHDOG_SECONDS * G_USEC_PER_SEC));
  g_cancellable_cancel (rd->cancellable);
  return NULL;
}

static gpointer
race_put_thread (gpointer user_data)
{
  RaceData *rd = user_data;

  g_assert_true (countdown_wait (&rd->gate, WATCHDOG_SECONDS * G_USEC_PER_SEC));
  put_or_fail (rd->latch, rd->item);
  return NULL;
}

/* Takes what is left, checking it continues the FIFO sequence. */
static guint
drain_in_order (MitogenLatch *latch,
                guint        *next_expected)
{
  guint count = 0;

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      gpointer got = mitogen_latch_try_get (latch, &error);

      g_assert_no_error (error);
      if (got == NULL)
        break;
      g_assert_cmpuint (item_value (got), ==, *next_expected);
      (*next_expected)++;
      count++;
      g_object_unref (got);
    }

  return count;
}

static guint
race_iterations (void)
{
  return g_test_thorough () ? 20000 : 1000;
}

static void
test_async_race (void)
{
  MitogenLatch *latch;
  guint n = race_iterations ();
  guint returned = 0, cancelled = 0, remaining = 0, next_expected = 0;
  gpointer *items = g_new0 (gpointer, n);
  gpointer *weak;

  g_test_summary ("async get + cancel + put on three threads, many times: "
                  "every item is either returned by the get or left in the "
                  "latch, never lost or duplicated");

  latch = mitogen_latch_new ();
  for (guint i = 0; i < n; i++)
    items[i] = test_item_new (i);
  weak = track_objects (items, n);

  for (guint i = 0; i < n; i++)
    {
      RaceData rd;
      AsyncResult r = { 0, };
      GThread *a, *b;

      race_data_init (&rd, latch, items[i], TRUE);
      mitogen_latch_get_async (latch, rd.cancellable, get_cb, &r);
      /* Both racers wait at the gate, then go together; who queued at
       * the gate first tends to win, so alternate that too. */
      if (i % 2 == 0)
        {
          a = g_thread_new ("race-cancel", race_cancel_thread, &rd);
          b = g_thread_new ("race-put", race_put_thread, &rd);
        }
      else
        {
          b = g_thread_new ("race-put", race_put_thread, &rd);
          a = g_thread_new ("race-cancel", race_cancel_thread, &rd);
        }
      countdown_done (&rd.gate);
      g_thread_join (a);
      g_thread_join (b);

      run_until (NULL, &r.done);
      if (r.item != NULL)
        {
          /* This round's item: earlier leftovers were drained. */
          g_assert_cmpuint (item_value (r.item), ==, next_expected);
          next_expected++;
          returned++;
        }
      else
        {
          g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          cancelled++;
        }
      async_result_clear (&r);
      race_data_clear (&rd);
      g_object_unref (items[i]);

      /* A lost race leaves the item queued; take it so the next round
       * starts on an empty latch and races again. */
      remaining += drain_in_order (latch, &next_expected);
    }

  g_assert_cmpuint (returned + cancelled, ==, n);
  g_assert_cmpuint (remaining, ==, cancelled);
  /* Every item was taken exactly once, in the order it was put. */
  g_assert_cmpuint (next_expected, ==, n);
  g_test_message ("%u returned, %u cancelled and left in the latch",
                  returned, cancelled);

  drain_context (NULL);
  assert_all_finalized (weak, n);
  assert_finalize_latch (latch);
  g_free (weak);
  g_free (items);
}

static void
test_blocking_race (void)
{
  MitogenLatch *latch;
  guint n = race_iterations ();
  guint returned = 0, cancelled = 0, remaining = 0, next_expected = 0;
  gpointer *items = g_new0 (gpointer, n);
  gpointer *weak;

  g_test_summary ("blocking get + cancel + put on three threads, many "
                  "times: no item is lost or duplicated");

  latch = mitogen_latch_new ();
  for (guint i = 0; i < n; i++)
    items[i] = test_item_new (i);
  weak = track_objects (items, n);

  for (guint i = 0; i < n; i++)
    {
      RaceData rd;
      BlockingGet b = { 0, };
      GThread *getter, *a;

      race_data_init (&rd, latch, items[i], FALSE);
      b.latch = latch;
      b.cancellable = rd.cancellable;
      b.timeout = LONG_WAIT_USEC;
      countdown_init (&b.started, 1);
      countdown_init (&b.finished, 1);

      getter = g_thread_new ("race-get", blocking_get_thread, &b);
      switch (i % 3)
        {
        case 0:
          /* All three start together. */
          a = g_thread_new ("race-cancel", race_cancel_thread, &rd);
          race_put_thread (&rd);
          break;
        case 1:
          /* The getter is (about to be) waiting; put before cancel. */
          g_assert_true (countdown_wait (&b.started, WATCHDOG_SECONDS * G_USEC_PER_SEC));
          race_put_thread (&rd);
          a = g_thread_new ("race-cancel", race_cancel_thread, &rd);
          break;
        default:
          /* The getter is (about to be) waiting; cancel races a put
           * from another thread. */
          g_assert_true (countdown_wait (&b.started, WATCHDOG_SECONDS * G_USEC_PER_SEC));
          a = g_thread_new ("race-put", race_put_thread, &rd);
          race_cancel_thread (&rd);
          break;
        }
      g_thread_join (a);
      g_thread_join (getter);

      if (b.item != NULL)
        {
          g_assert_cmpuint (item_value (b.item), ==, next_expected);
          next_expected++;
          returned++;
          g_object_unref (b.item);
        }
      else
        {
          g_assert_error (b.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          cancelled++;
          g_clear_error (&b.error);
        }
      countdown_clear (&b.started);
      countdown_clear (&b.finished);
      race_data_clear (&rd);
      g_object_unref (items[i]);

      remaining += drain_in_order (latch, &next_expected);
    }

  g_assert_cmpuint (returned + cancelled, ==, n);
  g_assert_cmpuint (remaining, ==, cancelled);
  g_assert_cmpuint (next_expected, ==, n);
  g_test_message ("%u returned, %u cancelled and left in the latch",
                  returned, cancelled);

  assert_finalize_latch (latch);
  assert_all_finalized (weak, n);
  g_free (weak);
  g_free (items);
}

/* ---- the notify hook for Select ---- */

typedef struct
{
  gint count;          /* (atomic) */
  MitogenLatch *expected_latch;
  GThread *thread;     /* the thread of the last notification */
  guint size_seen;     /* size as seen from inside the hook */
} NotifyData;

static void
notify_cb (MitogenLatch *latch,
           gpointer      user_data)
{
  NotifyData *nd = user_data;

  g_assert_true (latch == nd->expected_latch);
  nd->thread = g_thread_self ();
  /* No lock is held: calling back into the latch is allowed. */
  nd->size_seen = mitogen_latch_get_size (latch);
  g_atomic_int_inc (&nd->count);
}

static void
test_notify (void)
{
  MitogenLatch *latch;
  NotifyData nd = { 0, };
  AsyncResult r = { 0, };
  g_autoptr(TestItem) item = test_item_new (1);
  GThread *putter;

  g_test_summary ("The private notify hook fires, on the putting thread, "
                  "when an item is queued (not when it goes straight to a "
                  "waiter), and once on close");

  latch = mitogen_latch_new ();
  nd.expected_latch = latch;
  _mitogen_latch_set_notify (latch, notify_cb, &nd);

  put_or_fail (latch, item);
  g_assert_cmpint (nd.count, ==, 1);
  g_assert_cmpuint (nd.size_seen, ==, 1);
  g_assert_true (nd.thread == g_thread_self ());

  /* From another thread, the hook runs on that thread. */
  putter = g_thread_new ("putter", put_thread, latch);
  g_thread_join (putter);
  g_assert_cmpint (nd.count, ==, 2);
  g_assert_true (nd.thread == putter);

  /* Drain, then a put that goes straight to a waiter: no notification. */
  g_object_unref (mitogen_latch_try_get (latch, NULL));
  g_object_unref (mitogen_latch_try_get (latch, NULL));
  mitogen_latch_get_async (latch, NULL, get_cb, &r);
  put_or_fail (latch, item);
  g_assert_cmpint (nd.count, ==, 2);
  run_until (NULL, &r.done);
  g_assert_no_error (r.error);
  async_result_clear (&r);

  mitogen_latch_close (latch);
  g_assert_cmpint (nd.count, ==, 3);
  g_assert_cmpuint (nd.size_seen, ==, 0);
  mitogen_latch_close (latch);
  g_assert_cmpint (nd.count, ==, 3);

  /* Removing the hook stops notifications. */
  {
    MitogenLatch *other = mitogen_latch_new ();

    nd.expected_latch = other;
    _mitogen_latch_set_notify (other, notify_cb, &nd);
    _mitogen_latch_set_notify (other, NULL, NULL);
    put_or_fail (other, item);
    mitogen_latch_close (other);
    g_assert_cmpint (nd.count, ==, 3);
    assert_finalize_latch (other);
  }

  drain_context (NULL);
  assert_finalize_latch (latch);
}

/* ---- reference counting ---- */

static void
test_refcounts (void)
{
  MitogenLatch *latch;
  gpointer items[20];
  gpointer *weak;
  AsyncResult r[5] = { { 0, }, };
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();

  g_test_summary ("put, get, try_get, get_async and cancelled gets keep no "
                  "stray references on items or on the latch");

  latch = mitogen_latch_new ();
  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    items[i] = test_item_new (i);
  weak = track_objects (items, G_N_ELEMENTS (items));

  /* Async waiters first: 4 get items, 1 is cancelled. */
  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    mitogen_latch_get_async (latch, i == 2 ? cancellable : NULL, get_cb, &r[i]);
  g_cancellable_cancel (cancellable);

  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    {
      put_or_fail (latch, items[i]);
      g_object_unref (items[i]);
    }
  g_assert_cmpuint (mitogen_latch_get_size (latch), ==, G_N_ELEMENTS (items) - 4);

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    {
      run_until (NULL, &r[i].done);
      if (i == 2)
        g_assert_error (r[i].error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      else
        g_assert_no_error (r[i].error);
      async_result_clear (&r[i]);
    }

  /* Some by blocking get, some by try_get, the rest left to finalize. */
  for (guint i = 0; i < 5; i++)
    {
      g_autoptr(GError) error = NULL;
      gpointer got = mitogen_latch_get (latch, LONG_WAIT_USEC, NULL, &error);

      g_assert_no_error (error);
      g_object_unref (got);
    }
  for (guint i = 0; i < 5; i++)
    g_object_unref (mitogen_latch_try_get (latch, NULL));
  g_assert_cmpuint (mitogen_latch_get_size (latch), ==, 6);

  drain_context (NULL);
  assert_finalize_latch (latch);
  assert_all_finalized (weak, G_N_ELEMENTS (items));
  g_free (weak);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/latch/fifo", test_fifo);
  g_test_add_func ("/latch/try-get", test_try_get);
  g_test_add_func ("/latch/get-timeout", test_get_timeout);
  g_test_add_func ("/latch/get-timeout-zero", test_get_timeout_zero);
  g_test_add_func ("/latch/threads", test_threads);
  g_test_add_func ("/latch/close-wakes-all", test_close_wakes_all);
  g_test_add_func ("/latch/put-after-close", test_put_after_close);
  g_test_add_func ("/latch/close-drops-items", test_close_drops_items);
  g_test_add_func ("/latch/finalize-drops-items", test_finalize_drops_items);
  g_test_add_func ("/latch/cancel-blocking", test_cancel_blocking);
  g_test_add_func ("/latch/cancel-already", test_cancel_already);
  g_test_add_func ("/latch/async-context", test_async_context);
  g_test_add_func ("/latch/async-main", test_async_main);
  g_test_add_func ("/latch/async-unawaited", test_async_unawaited);
  g_test_add_func ("/latch/async-cancel-then-put", test_async_cancel_then_put);
  g_test_add_func ("/latch/async-race", test_async_race);
  g_test_add_func ("/latch/blocking-race", test_blocking_race);
  g_test_add_func ("/latch/notify", test_notify);
  g_test_add_func ("/latch/refcounts", test_refcounts);

  return g_test_run ();
}
