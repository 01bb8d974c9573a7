/* test-select.c: MitogenSelect and MitogenChannel
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <mitogen-glib.h>

#include "mitogen-receiver-private.h"
#include "test-time-scale.h"

/* Every wait in this file is bounded by one of these, so a bug fails the
 * test instead of hanging it. */
#define WATCHDOG_SECONDS 20
#define LONG_WAIT_USEC   (20 * G_USEC_PER_SEC)

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

/* Waits, iterating the default context, until a weak pointer is cleared:
 * some last references are dropped from an idle there. */
static void
assert_finalized (gpointer *weak)
{
  gint64 deadline = g_get_monotonic_time () + WATCHDOG_SECONDS * G_USEC_PER_SEC;

  while (*weak != NULL && g_get_monotonic_time () < deadline)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
  g_assert_null (*weak);
}

static void
track (gpointer  object,
       gpointer *weak)
{
  *weak = object;
  g_object_add_weak_pointer (G_OBJECT (object), weak);
}

static MitogenRouter *
router_new (void)
{
  return mitogen_router_new (NULL);
}

/* Stops the broker and checks that the router goes away. */
static void
router_free (MitogenRouter *router)
{
  MitogenBroker *broker = g_object_ref (mitogen_router_get_broker (router));
  gpointer weak;

  mitogen_router_shutdown (router);
  g_assert_true (mitogen_broker_join (broker, 5 * G_USEC_PER_SEC));
  track (router, &weak);
  g_object_unref (router);
  assert_finalized (&weak);
  g_object_unref (broker);
}

static MitogenReceiver *
receiver_new (MitogenRouter *router)
{
  return mitogen_receiver_new (router, 0, TRUE, NULL);
}

/* Closes @receiver, drops the caller's reference, and checks it is gone. */
static void
receiver_free (MitogenReceiver *receiver)
{
  gpointer weak;

  track (receiver, &weak);
  mitogen_receiver_close (receiver);
  g_object_unref (receiver);
  assert_finalized (&weak);
}

static void
select_free (MitogenSelect *select)
{
  gpointer weak;

  track (select, &weak);
  g_object_unref (select);
  assert_finalized (&weak);
}

/* Delivers the integer @value to @receiver through the router, on the
 * calling thread, as a message from a child would be. */
static void
send_value (MitogenRouter   *router,
            MitogenReceiver *receiver,
            gint64           value)
{
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = mitogen_message_new_pickled (mitogen_receiver_get_handle (receiver),
                                         g_variant_new_int64 (value), &error);
  g_assert_no_error (error);
  mitogen_message_set_dst_id (message, mitogen_router_get_context_id (router));
  g_assert_true (mitogen_router_route (router, message, &error));
  g_assert_no_error (error);
}

static void
send_dead (MitogenRouter   *router,
           MitogenReceiver *receiver,
           const char      *reason)
{
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = mitogen_message_new_dead (mitogen_receiver_get_handle (receiver), reason);
  mitogen_message_set_dst_id (message, mitogen_router_get_context_id (router));
  g_assert_true (mitogen_router_route (router, message, &error));
  g_assert_no_error (error);
}

static gint64
message_value (MitogenMessage *message)
{
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (message);
  value = mitogen_message_unpickle (message, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64));
  return g_variant_get_int64 (value);
}

/* Gets one message that must be there already and checks its source. */
static void
assert_get (MitogenSelect   *select,
            MitogenReceiver *expected_receiver,
            gint64           expected_value)
{
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(GError) error = NULL;

  message = mitogen_select_get (select, LONG_WAIT_USEC, NULL, &receiver, &error);
  g_assert_no_error (error);
  g_assert_true (receiver == expected_receiver);
  g_assert_cmpint (message_value (message), ==, expected_value);
}

static void
assert_get_error (MitogenSelect *select,
                  gint64         timeout_usec,
                  GQuark         domain,
                  gint           code)
{
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(GError) error = NULL;

  message = mitogen_select_get (select, timeout_usec, NULL, &receiver, &error);
  g_assert_error (error, domain, code);
  g_assert_null (message);
  g_assert_null (receiver);
}

/* The result of an async call, filled in by its callback. */
typedef struct
{
  gint done;
  MitogenMessage *message;
  MitogenReceiver *receiver;
  GPtrArray *messages;
  GError *error;
} Outcome;

static void
outcome_clear (Outcome *outcome)
{
  g_clear_object (&outcome->message);
  g_clear_object (&outcome->receiver);
  g_clear_pointer (&outcome->messages, g_ptr_array_unref);
  g_clear_error (&outcome->error);
  outcome->done = FALSE;
}

static void
next_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Outcome *outcome = user_data;

  outcome->message = mitogen_select_next_finish (MITOGEN_SELECT (source), result,
                                                 &outcome->receiver, &outcome->error);
  g_assert_true ((outcome->message == NULL) == (outcome->error != NULL));
  g_assert_true ((outcome->message == NULL) == (outcome->receiver == NULL));
  g_atomic_int_set (&outcome->done, TRUE);
}

static void
all_cb (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  Outcome *outcome = user_data;

  outcome->messages = mitogen_select_all_finish (MITOGEN_SELECT (source), result,
                                                 &outcome->error);
  g_assert_true ((outcome->messages == NULL) == (outcome->error != NULL));
  g_atomic_int_set (&outcome->done, TRUE);
}

/* ---- tests ---- */

static void
test_order (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *a = receiver_new (router);
  MitogenReceiver *b = receiver_new (router);
  MitogenSelect *select = mitogen_select_new (FALSE);
  g_autoptr(GError) error = NULL;
  Outcome outcome = { 0 };

  g_test_summary ("Messages from two receivers come out in arrival order, each with its receiver");

  g_assert_true (mitogen_select_add_receiver (select, a, &error));
  g_assert_true (mitogen_select_add_receiver (select, b, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 2);
  g_assert_false (mitogen_select_get_oneshot (select));
  g_assert_true (mitogen_select_is_empty (select));

  send_value (router, a, 1);
  send_value (router, b, 2);
  send_value (router, b, 3);
  send_value (router, a, 4);
  g_assert_false (mitogen_select_is_empty (select));

  assert_get (select, a, 1);
  assert_get (select, b, 2);
  assert_get (select, b, 3);
  assert_get (select, a, 4);
  g_assert_true (mitogen_select_is_empty (select));

  /* The same through next_async, with the message arriving later. */
  mitogen_select_next_async (select, NULL, next_cb, &outcome);
  g_assert_false (outcome.done);
  send_value (router, b, 5);
  /* Never called back from inside the put. */
  g_assert_false (outcome.done);
  run_until (NULL, &outcome.done);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.receiver == b);
  g_assert_cmpint (message_value (outcome.message), ==, 5);
  outcome_clear (&outcome);

  /* And with the message already there: still a later iteration. */
  send_value (router, a, 6);
  mitogen_select_next_async (select, NULL, next_cb, &outcome);
  g_assert_false (outcome.done);
  run_until (NULL, &outcome.done);
  g_assert_true (outcome.receiver == a);
  g_assert_cmpint (message_value (outcome.message), ==, 6);
  outcome_clear (&outcome);

  g_assert_cmpuint (mitogen_select_get_size (select), ==, 2);

  select_free (select);
  receiver_free (a);
  receiver_free (b);
  router_free (router);
}

static void
test_queued_before_add (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *a = receiver_new (router);
  MitogenReceiver *b = receiver_new (router);
  MitogenReceiver *closed = receiver_new (router);
  MitogenSelect *select = mitogen_select_new (FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  Outcome outcome = { 0 };

  g_test_summary ("Messages queued before a receiver was added, and a receiver closed before, are seen");

  send_value (router, a, 1);
  send_value (router, a, 2);
  mitogen_receiver_close (closed);

  /* A waiter queued before the add is served by it. */
  g_assert_true (mitogen_select_add_receiver (select, b, &error));
  mitogen_select_next_async (select, NULL, next_cb, &outcome);
  g_assert_true (mitogen_select_add_receiver (select, a, &error));
  g_assert_no_error (error);
  run_until (NULL, &outcome.done);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.receiver == a);
  g_assert_cmpint (message_value (outcome.message), ==, 1);
  outcome_clear (&outcome);

  assert_get (select, a, 2);

  /* A closed receiver reports its end once, then is removed. */
  g_assert_true (mitogen_select_add_receiver (select, closed, &error));
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 3);
  g_assert_false (mitogen_select_is_empty (select));
  assert_get_error (select, 0, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 2);
  assert_get_error (select, 0, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);

  /* Adding a receiver to a second select is refused. */
  {
    MitogenSelect *other = mitogen_select_new (TRUE);

    g_assert_false (mitogen_select_add_receiver (other, a, &error));
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_FAILED);
    g_clear_error (&error);
    g_assert_false (mitogen_select_add_receiver (select, a, &error));
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_FAILED);
    g_clear_error (&error);

    /* Once removed it can move. */
    send_value (router, a, 3);
    g_assert_true (mitogen_select_remove_receiver (select, a));
    g_assert_false (mitogen_select_remove_receiver (select, a));
    assert_get_error (select, 0, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
    g_assert_true (mitogen_select_add_receiver (other, a, &error));
    g_assert_no_error (error);
    assert_get (other, a, 3);
    g_assert_cmpuint (mitogen_select_get_size (other), ==, 0);
    select_free (other);
  }

  /* A message left in a removed receiver stays there. */
  send_value (router, b, 4);
  g_assert_true (mitogen_select_remove_receiver (select, b));
  message = mitogen_receiver_get (b, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (message_value (message), ==, 4);

  select_free (select);
  receiver_free (a);
  receiver_free (b);
  receiver_free (closed);
  router_free (router);
}

static void
test_nested (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *a = receiver_new (router);
  MitogenReceiver *b = receiver_new (router);
  MitogenReceiver *c = receiver_new (router);
  MitogenSelect *parent = mitogen_select_new (FALSE);
  MitogenSelect *child = mitogen_select_new (FALSE);
  MitogenSelect *grandchild = mitogen_select_new (FALSE);
  g_autoptr(GError) error = NULL;
  Outcome outcome = { 0 };

  g_test_summary ("Nested selects yield the innermost receiver, in arrival order; cycles are refused");

  g_assert_true (mitogen_select_add_receiver (parent, a, &error));
  g_assert_true (mitogen_select_add_receiver (child, b, &error));
  g_assert_true (mitogen_select_add_receiver (grandchild, c, &error));
  g_assert_no_error (error);

  /* Queued in the grandchild before it is nested. */
  send_value (router, c, 1);
  g_assert_true (mitogen_select_add_select (child, grandchild, &error));
  g_assert_true (mitogen_select_add_select (parent, child, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mitogen_select_get_size (parent), ==, 2);
  g_assert_false (mitogen_select_is_empty (parent));

  send_value (router, b, 2);
  send_value (router, a, 3);
  send_value (router, c, 4);

  assert_get (parent, c, 1);
  assert_get (parent, b, 2);
  assert_get (parent, a, 3);
  assert_get (parent, c, 4);
  g_assert_true (mitogen_select_is_empty (parent));

  /* A waiter on the parent is woken by the grandchild. */
  mitogen_select_next_async (parent, NULL, next_cb, &outcome);
  send_value (router, c, 5);
  run_until (NULL, &outcome.done);
  g_assert_no_error (outcome.error);
  g_assert_true (outcome.receiver == c);
  g_assert_cmpint (message_value (outcome.message), ==, 5);
  outcome_clear (&outcome);

  /* Cycles and double nesting. */
  g_assert_false (mitogen_select_add_select (parent, parent, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_false (mitogen_select_add_select (grandchild, parent, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_false (mitogen_select_add_select (child, parent, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_false (mitogen_select_add_select (parent, grandchild, &error));
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_FAILED);
  g_clear_error (&error);

  /* Removed, the child keeps its members and its messages. */
  send_value (router, b, 6);
  g_assert_true (mitogen_select_remove_select (parent, child));
  g_assert_false (mitogen_select_remove_select (parent, child));
  assert_get_error (parent, 0, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  assert_get (child, b, 6);

  /* A oneshot parent drops the child after one result. */
  {
    MitogenSelect *oneshot = mitogen_select_new (TRUE);

    g_assert_true (mitogen_select_add_select (oneshot, child, &error));
    g_assert_no_error (error);
    send_value (router, b, 7);
    send_value (router, c, 8);
    assert_get (oneshot, b, 7);
    g_assert_cmpuint (mitogen_select_get_size (oneshot), ==, 0);
    assert_get_error (oneshot, 0, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
    assert_get (child, c, 8);
    /* No longer nested: it can go elsewhere. */
    g_assert_true (mitogen_select_add_select (parent, child, &error));
    g_assert_no_error (error);
    select_free (oneshot);
  }

  /* The parent holds the child: closing the parent releases it. */
  {
    gpointer weak_child, weak_grandchild;

    track (child, &weak_child);
    track (grandchild, &weak_grandchild);
    g_object_unref (child);
    g_object_unref (grandchild);
    g_assert_nonnull (weak_child);
    mitogen_select_close (parent);
    assert_finalized (&weak_child);
    assert_finalized (&weak_grandchild);
  }

  select_free (parent);
  receiver_free (a);
  receiver_free (b);
  receiver_free (c);
  router_free (router);
}

static void
test_oneshot (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *receivers[3];
  MitogenSelect *select = mitogen_select_new (TRUE);
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = NULL;

  g_test_summary ("A oneshot select removes each member after it yields once");

  g_assert_true (mitogen_select_get_oneshot (select));
  for (guint i = 0; i < G_N_ELEMENTS (receivers); i++)
    {
      receivers[i] = receiver_new (router);
      g_assert_true (mitogen_select_add_receiver (select, receivers[i], &error));
      g_assert_no_error (error);
    }

  send_value (router, receivers[1], 10);
  send_value (router, receivers[1], 11);
  send_value (router, receivers[0], 12);

  assert_get (select, receivers[1], 10);
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 2);
  /* 11 stays in its receiver: the member is gone. */
  assert_get (select, receivers[0], 12);
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 1);
  assert_get_error (select, 0, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  message = mitogen_receiver_get (receivers[1], 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (message_value (message), ==, 11);

  send_value (router, receivers[2], 13);
  assert_get (select, receivers[2], 13);
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 0);
  assert_get_error (select, 0, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);

  select_free (select);
  for (guint i = 0; i < G_N_ELEMENTS (receivers); i++)
    receiver_free (receivers[i]);
  router_free (router);
}

static void
test_timeout (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *a = receiver_new (router);
  MitogenSelect *select = mitogen_select_new (FALSE);
  g_autoptr(GError) error = NULL;
  gint64 start, elapsed;

  g_test_summary ("get on a select with nothing ready times out");

  g_assert_true (mitogen_select_add_receiver (select, a, &error));
  g_assert_no_error (error);

  assert_get_error (select, 0, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);

  start = g_get_monotonic_time ();
  assert_get_error (select, 50 * 1000, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  elapsed = g_get_monotonic_time () - start;
  g_assert_cmpint (elapsed, >=, 50 * 1000);
  g_assert_cmpint (elapsed, <, test_scaled_usec (10 * G_USEC_PER_SEC));

  /* Still usable afterwards. */
  send_value (router, a, 1);
  assert_get (select, a, 1);

  select_free (select);
  receiver_free (a);
  router_free (router);
}

static gpointer
cancel_later_thread (gpointer data)
{
  g_usleep (50 * 1000);
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_cancel_get (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *a = receiver_new (router);
  MitogenSelect *select = mitogen_select_new (FALSE);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  GThread *thread;
  Outcome outcome = { 0 };

  g_test_summary ("A blocking get is cancelled from another thread; a cancelled next_async fails");

  g_assert_true (mitogen_select_add_receiver (select, a, &error));
  g_assert_no_error (error);

  thread = g_thread_new ("canceller", cancel_later_thread, cancellable);
  message = mitogen_select_get (select, LONG_WAIT_USEC, cancellable, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (message);
  g_clear_error (&error);
  g_thread_join (thread);

  /* Already cancelled: fails at once, even with a message ready, which
   * stays. */
  send_value (router, a, 1);
  message = mitogen_select_get (select, LONG_WAIT_USEC, cancellable, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  /* next_async, cancelled while waiting. */
  assert_get (select, a, 1);
  g_cancellable_reset (cancellable);
  mitogen_select_next_async (select, cancellable, next_cb, &outcome);
  g_cancellable_cancel (cancellable);
  run_until (NULL, &outcome.done);
  g_assert_error (outcome.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  outcome_clear (&outcome);

  /* A message handed over before the cancel wins over it. */
  g_cancellable_reset (cancellable);
  mitogen_select_next_async (select, cancellable, next_cb, &outcome);
  send_value (router, a, 2);
  g_cancellable_cancel (cancellable);
  run_until (NULL, &outcome.done);
  g_assert_no_error (outcome.error);
  g_assert_cmpint (message_value (outcome.message), ==, 2);
  outcome_clear (&outcome);

  select_free (select);
  receiver_free (a);
  router_free (router);
}

/* ---- callbacks in the caller's context ---- */

typedef struct
{
  MitogenSelect *select;
  GMainContext *context;
  GThread *thread;
  gint started;
  Outcome outcome;
  gint checked;
} ContextData;

static void
context_next_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  ContextData *data = user_data;

  g_assert_true (g_main_context_get_thread_default () == data->context);
  g_assert_true (g_thread_self () == data->thread);
  g_atomic_int_set (&data->checked, TRUE);
  next_cb (source, result, &data->outcome);
}

static gpointer
context_thread (gpointer user_data)
{
  ContextData *data = user_data;

  data->thread = g_thread_self ();
  data->context = g_main_context_new ();
  g_main_context_push_thread_default (data->context);

  mitogen_select_next_async (data->select, NULL, context_next_cb, data);
  g_atomic_int_set (&data->started, TRUE);
  run_until (data->context, &data->outcome.done);

  g_main_context_pop_thread_default (data->context);
  g_main_context_unref (data->context);
  return NULL;
}

static void
test_context (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *a = receiver_new (router);
  MitogenSelect *select = mitogen_select_new (FALSE);
  g_autoptr(GError) error = NULL;
  ContextData data = { 0 };
  GThread *thread;
  gint64 deadline;

  g_test_summary ("next_async calls back in the thread-default context of the calling thread");

  g_assert_true (mitogen_select_add_receiver (select, a, &error));
  g_assert_no_error (error);
  data.select = select;

  thread = g_thread_new ("private-context", context_thread, &data);
  deadline = g_get_monotonic_time () + LONG_WAIT_USEC;
  while (!g_atomic_int_get (&data.started) && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_true (g_atomic_int_get (&data.started));

  /* Delivered from this thread, completed in the other one's context. */
  send_value (router, a, 42);
  g_thread_join (thread);

  g_assert_true (data.checked);
  g_assert_no_error (data.outcome.error);
  g_assert_true (data.outcome.receiver == a);
  g_assert_cmpint (message_value (data.outcome.message), ==, 42);
  outcome_clear (&data.outcome);

  select_free (select);
  receiver_free (a);
  router_free (router);
}

/* ---- cancel loses nothing ---- */

typedef struct
{
  MitogenRouter *router;
  MitogenReceiver **receivers;
  guint n_receivers;
  GAsyncQueue *requests;  /* value + 1, or GINT_TO_POINTER (-1) to stop */
  GAsyncQueue *acks;
} Producer;

static void
spin (guint max_usec)
{
  gint64 until = g_get_monotonic_time () + g_random_int_range (0, (gint32) max_usec + 1);

  while (g_get_monotonic_time () < until)
    ;
}

static gpointer
producer_thread (gpointer user_data)
{
  Producer *producer = user_data;

  for (;;)
    {
      gint request = GPOINTER_TO_INT (g_async_queue_pop (producer->requests));

      if (request < 0)
        break;
      spin (60);
      send_value (producer->router,
                  producer->receivers[(request - 1) % producer->n_receivers],
                  request - 1);
      g_async_queue_push (producer->acks, GINT_TO_POINTER (1));
    }

  return NULL;
}

static void
record (guint  *seen,
        guint   n,
        gint64  value)
{
  g_assert_cmpint (value, >=, 0);
  g_assert_cmpint (value, <, n);
  seen[value]++;
}

static void
test_cancel_loses_nothing (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *receivers[2];
  MitogenSelect *select = mitogen_select_new (FALSE);
  g_autoptr(GError) error = NULL;
  guint n = g_test_thorough () ? 20000 : 2000;
  g_autofree guint *seen = g_new0 (guint, n);
  guint n_cancelled = 0, n_completed = 0;
  Producer producer;
  GThread *thread;

  g_test_summary ("next_async cancelled at random moments against a put from another thread "
                  "never loses or duplicates a message");

  for (guint i = 0; i < G_N_ELEMENTS (receivers); i++)
    {
      receivers[i] = receiver_new (router);
      g_assert_true (mitogen_select_add_receiver (select, receivers[i], &error));
      g_assert_no_error (error);
    }

  producer.router = router;
  producer.receivers = receivers;
  producer.n_receivers = G_N_ELEMENTS (receivers);
  producer.requests = g_async_queue_new ();
  producer.acks = g_async_queue_new ();
  thread = g_thread_new ("producer", producer_thread, &producer);

  for (guint i = 0; i < n; i++)
    {
      GCancellable *cancellable = g_cancellable_new ();
      Outcome outcome = { 0 };

      mitogen_select_next_async (select, cancellable, next_cb, &outcome);
      g_async_queue_push (producer.requests, GINT_TO_POINTER ((gint) i + 1));
      spin (60);
      g_cancellable_cancel (cancellable);
      run_until (NULL, &outcome.done);
      g_assert_nonnull (g_async_queue_timeout_pop (producer.acks, LONG_WAIT_USEC));

      if (outcome.message != NULL)
        {
          record (seen, n, message_value (outcome.message));
          n_completed++;
        }
      else
        {
          g_autoptr(MitogenMessage) left = NULL;

          g_assert_error (outcome.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          n_cancelled++;
          /* The message was sent (acked): it must still be there. Taking
           * it now also starts the next round with an empty select, so
           * every round races a cancel against a fresh put. */
          left = mitogen_select_get (select, 0, NULL, NULL, &error);
          g_assert_no_error (error);
          record (seen, n, message_value (left));
        }
      outcome_clear (&outcome);
      g_object_unref (cancellable);
    }

  g_async_queue_push (producer.requests, GINT_TO_POINTER (-1));
  g_thread_join (thread);

  /* Nothing else is left in the select. */
  for (;;)
    {
      g_autoptr(MitogenMessage) message = mitogen_select_get (select, 0, NULL, NULL, &error);

      if (message == NULL)
        {
          g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
          g_clear_error (&error);
          break;
        }
      record (seen, n, message_value (message));
    }

  for (guint i = 0; i < n; i++)
    g_assert_cmpuint (seen[i], ==, 1);
  g_test_message ("%u completed, %u cancelled", n_completed, n_cancelled);

  g_async_queue_unref (producer.requests);
  g_async_queue_unref (producer.acks);
  select_free (select);
  for (guint i = 0; i < G_N_ELEMENTS (receivers); i++)
    receiver_free (receivers[i]);
  router_free (router);
}

static void
test_cancel_all_loses_nothing (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *receivers[2];
  MitogenSelect *select = mitogen_select_new (FALSE);
  g_autoptr(GError) error = NULL;
  guint rounds = g_test_thorough () ? 10000 : 1000;
  guint n = rounds * G_N_ELEMENTS (receivers);
  g_autofree guint *seen = g_new0 (guint, n);
  guint n_cancelled = 0, n_completed = 0;
  Producer producer;
  GThread *thread;

  g_test_summary ("all_async cancelled at random moments while its members are fed from another "
                  "thread puts back what it gathered: nothing is lost or duplicated");

  for (guint i = 0; i < G_N_ELEMENTS (receivers); i++)
    {
      receivers[i] = receiver_new (router);
      g_assert_true (mitogen_select_add_receiver (select, receivers[i], &error));
      g_assert_no_error (error);
    }

  producer.router = router;
  producer.receivers = receivers;
  producer.n_receivers = G_N_ELEMENTS (receivers);
  producer.requests = g_async_queue_new ();
  producer.acks = g_async_queue_new ();
  thread = g_thread_new ("producer", producer_thread, &producer);

  for (guint r = 0; r < rounds; r++)
    {
      GCancellable *cancellable = g_cancellable_new ();
      Outcome outcome = { 0 };

      mitogen_select_all_async (select, cancellable, all_cb, &outcome);
      /* One message for each receiver. */
      for (guint i = 0; i < G_N_ELEMENTS (receivers); i++)
        g_async_queue_push (producer.requests,
                            GINT_TO_POINTER ((gint) (r * G_N_ELEMENTS (receivers) + i) + 1));
      spin (120);
      g_cancellable_cancel (cancellable);
      run_until (NULL, &outcome.done);
      for (guint i = 0; i < G_N_ELEMENTS (receivers); i++)
        g_assert_nonnull (g_async_queue_timeout_pop (producer.acks, LONG_WAIT_USEC));

      if (outcome.messages != NULL)
        {
          g_assert_cmpuint (outcome.messages->len, ==, G_N_ELEMENTS (receivers));
          for (guint i = 0; i < outcome.messages->len; i++)
            record (seen, n, message_value (g_ptr_array_index (outcome.messages, i)));
          n_completed++;
        }
      else
        {
          g_assert_error (outcome.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          n_cancelled++;
        }
      outcome_clear (&outcome);
      g_object_unref (cancellable);

      /* Whatever the cancelled call had gathered, or had not reached. */
      for (;;)
        {
          g_autoptr(MitogenMessage) message = mitogen_select_get (select, 0, NULL, NULL, &error);

          if (message == NULL)
            {
              g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
              g_clear_error (&error);
              break;
            }
          record (seen, n, message_value (message));
        }
    }

  g_async_queue_push (producer.requests, GINT_TO_POINTER (-1));
  g_thread_join (thread);

  for (guint i = 0; i < n; i++)
    g_assert_cmpuint (seen[i], ==, 1);
  g_test_message ("%u completed, %u cancelled", n_completed, n_cancelled);

  g_async_queue_unref (producer.requests);
  g_async_queue_unref (producer.acks);
  select_free (select);
  for (guint i = 0; i < G_N_ELEMENTS (receivers); i++)
    receiver_free (receivers[i]);
  router_free (router);
}

/* ---- many consumers and producers ---- */

#define STRESS_PRODUCERS 4
#define STRESS_CONSUMERS 4
#define STRESS_PER_PRODUCER 2000

typedef struct
{
  MitogenRouter *router;
  MitogenSelect *select;
  MitogenReceiver *receivers[STRESS_PRODUCERS];
  guint seen[STRESS_PRODUCERS * STRESS_PER_PRODUCER];  /* (atomic) */
  gint received;                                       /* (atomic) */
} Stress;

typedef struct
{
  Stress *stress;
  guint index;
} StressArg;

static gpointer
stress_producer (gpointer user_data)
{
  StressArg *arg = user_data;

  for (guint i = 0; i < STRESS_PER_PRODUCER; i++)
    send_value (arg->stress->router, arg->stress->receivers[arg->index],
                arg->index * STRESS_PER_PRODUCER + i);
  return NULL;
}

static gpointer
stress_consumer (gpointer user_data)
{
  Stress *stress = user_data;
  gint64 last[STRESS_PRODUCERS];

  for (guint i = 0; i < STRESS_PRODUCERS; i++)
    last[i] = -1;

  for (;;)
    {
      g_autoptr(MitogenMessage) message = NULL;
      g_autoptr(MitogenReceiver) receiver = NULL;
      g_autoptr(GError) error = NULL;
      gint64 value;
      guint producer;

      message = mitogen_select_get (stress->select, LONG_WAIT_USEC, NULL, &receiver, &error);
      if (message == NULL)
        {
          /* Closed by the main thread when everything arrived. */
          g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
          break;
        }
      value = message_value (message);
      producer = value / STRESS_PER_PRODUCER;
      g_assert_true (receiver == stress->receivers[producer]);
      /* One receiver's messages keep their order for any one consumer. */
      g_assert_cmpint (value, >, last[producer]);
      last[producer] = value;
      g_atomic_int_inc ((gint *) &stress->seen[value]);
      g_atomic_int_inc (&stress->received);
    }

  return NULL;
}

static void
test_stress (void)
{
  Stress *stress = g_new0 (Stress, 1);
  StressArg args[STRESS_PRODUCERS];
  GThread *producers[STRESS_PRODUCERS];
  GThread *consumers[STRESS_CONSUMERS];
  MitogenSelect *child;
  g_autoptr(GError) error = NULL;
  gint64 deadline;

  g_test_summary ("Several threads put to several receivers while several threads get from one select: "
                  "every message arrives exactly once");

  stress->router = router_new ();
  stress->select = mitogen_select_new (FALSE);
  child = mitogen_select_new (FALSE);
  /* Half the receivers sit in a nested select, to exercise its locking. */
  for (guint i = 0; i < STRESS_PRODUCERS; i++)
    {
      stress->receivers[i] = receiver_new (stress->router);
      g_assert_true (mitogen_select_add_receiver (i % 2 ? child : stress->select,
                                                  stress->receivers[i], &error));
      g_assert_no_error (error);
    }
  g_assert_true (mitogen_select_add_select (stress->select, child, &error));
  g_assert_no_error (error);

  for (guint i = 0; i < STRESS_CONSUMERS; i++)
    consumers[i] = g_thread_new ("consumer", stress_consumer, stress);
  for (guint i = 0; i < STRESS_PRODUCERS; i++)
    {
      args[i].stress = stress;
      args[i].index = i;
      producers[i] = g_thread_new ("producer", stress_producer, &args[i]);
    }
  for (guint i = 0; i < STRESS_PRODUCERS; i++)
    g_thread_join (producers[i]);

  deadline = g_get_monotonic_time () + LONG_WAIT_USEC;
  while (g_atomic_int_get (&stress->received) < STRESS_PRODUCERS * STRESS_PER_PRODUCER &&
         g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_cmpint (g_atomic_int_get (&stress->received), ==, STRESS_PRODUCERS * STRESS_PER_PRODUCER);

  /* Close wakes every consumer still waiting. */
  mitogen_select_close (stress->select);
  for (guint i = 0; i < STRESS_CONSUMERS; i++)
    g_thread_join (consumers[i]);

  for (guint i = 0; i < G_N_ELEMENTS (stress->seen); i++)
    g_assert_cmpuint (stress->seen[i], ==, 1);

  select_free (stress->select);
  select_free (child);
  for (guint i = 0; i < STRESS_PRODUCERS; i++)
    receiver_free (stress->receivers[i]);
  router_free (stress->router);
  g_free (stress);
}

/* ---- all ---- */

#define ALL_RECEIVERS 20
#define ALL_THREADS 4

typedef struct
{
  MitogenRouter *router;
  MitogenReceiver **receivers;
  guint first;
} AllFeeder;

static gpointer
all_feeder_thread (gpointer user_data)
{
  AllFeeder *feeder = user_data;

  for (guint i = feeder->first; i < ALL_RECEIVERS; i += ALL_THREADS)
    {
      spin (200);
      send_value (feeder->router, feeder->receivers[i], i);
    }
  return NULL;
}

static void
test_all (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *receivers[ALL_RECEIVERS];
  MitogenSelect *select = mitogen_select_new (TRUE);
  AllFeeder feeders[ALL_THREADS];
  GThread *threads[ALL_THREADS];
  g_autoptr(GError) error = NULL;
  guint seen[ALL_RECEIVERS] = { 0 };
  Outcome outcome = { 0 };

  g_test_summary ("all_async over 20 oneshot receivers fed from several threads returns 20 messages");

  for (guint i = 0; i < ALL_RECEIVERS; i++)
    {
      receivers[i] = mitogen_receiver_new (router, 0, FALSE, NULL);
      g_assert_true (mitogen_select_add_receiver (select, receivers[i], &error));
      g_assert_no_error (error);
    }
  /* One answered before the call. */
  send_value (router, receivers[0], 0);

  mitogen_select_all_async (select, NULL, all_cb, &outcome);
  for (guint t = 0; t < ALL_THREADS; t++)
    {
      feeders[t].router = router;
      feeders[t].receivers = receivers;
      feeders[t].first = t == 0 ? ALL_THREADS : t;
      threads[t] = g_thread_new ("feeder", all_feeder_thread, &feeders[t]);
    }
  run_until (NULL, &outcome.done);
  for (guint t = 0; t < ALL_THREADS; t++)
    g_thread_join (threads[t]);

  g_assert_no_error (outcome.error);
  g_assert_cmpuint (outcome.messages->len, ==, ALL_RECEIVERS);
  g_assert_cmpint (message_value (g_ptr_array_index (outcome.messages, 0)), ==, 0);
  for (guint i = 0; i < outcome.messages->len; i++)
    record (seen, ALL_RECEIVERS, message_value (g_ptr_array_index (outcome.messages, i)));
  for (guint i = 0; i < ALL_RECEIVERS; i++)
    g_assert_cmpuint (seen[i], ==, 1);
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 0);
  outcome_clear (&outcome);

  /* Now empty: fails rather than waiting forever. */
  mitogen_select_all_async (select, NULL, all_cb, &outcome);
  run_until (NULL, &outcome.done);
  g_assert_error (outcome.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  outcome_clear (&outcome);

  select_free (select);
  for (guint i = 0; i < ALL_RECEIVERS; i++)
    receiver_free (receivers[i]);
  router_free (router);
}

static void
test_all_semantics (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *a = receiver_new (router);
  MitogenReceiver *b = receiver_new (router);
  MitogenReceiver *c = receiver_new (router);
  MitogenReceiver *late = receiver_new (router);
  MitogenSelect *select = mitogen_select_new (FALSE);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GVariant) value = NULL;
  Outcome outcome = { 0 };

  g_test_summary ("all_async takes one message per member present at call time, reports a dead "
                  "member as its dead message, and puts back what it gathered when cancelled");

  g_assert_true (mitogen_select_add_receiver (select, a, &error));
  g_assert_true (mitogen_select_add_receiver (select, b, &error));
  g_assert_true (mitogen_select_add_receiver (select, c, &error));
  g_assert_no_error (error);

  /* Not oneshot: a's second message is not taken in place of b's. */
  send_value (router, a, 1);
  send_value (router, a, 2);
  mitogen_select_all_async (select, cancellable, all_cb, &outcome);
  g_assert_true (mitogen_select_add_receiver (select, late, &error));
  send_value (router, late, 3);
  send_value (router, b, 4);
  /* Cancelled with c missing: 1 and 4 go back, in order, before 2. */
  g_cancellable_cancel (cancellable);
  run_until (NULL, &outcome.done);
  g_assert_error (outcome.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  outcome_clear (&outcome);
  g_assert_false (mitogen_select_is_empty (select));
  assert_get (select, a, 1);
  assert_get (select, b, 4);
  assert_get (select, a, 2);
  assert_get (select, late, 3);
  g_assert_true (mitogen_select_is_empty (select));
  g_assert_true (mitogen_select_remove_receiver (select, late));

  /* A dead member is a result, not a failure; unpickling it fails. */
  send_value (router, c, 5);
  send_dead (router, b, "the other end is gone");
  send_value (router, a, 6);
  messages = mitogen_select_all (select, LONG_WAIT_USEC, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (messages->len, ==, 3);
  g_assert_cmpint (message_value (g_ptr_array_index (messages, 0)), ==, 5);
  g_assert_true (mitogen_message_is_dead (g_ptr_array_index (messages, 1)));
  value = mitogen_message_unpickle (g_ptr_array_index (messages, 1), &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_cmpstr (error->message, ==, "the other end is gone");
  g_clear_error (&error);
  g_assert_cmpint (message_value (g_ptr_array_index (messages, 2)), ==, 6);
  /* The dead member left; its receiver is closed, as a get would do. */
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 2);
  {
    g_autoptr(MitogenMessage) message = mitogen_receiver_get (b, 0, NULL, &error);

    g_assert_null (message);
    g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
    g_clear_error (&error);
  }

  /* The blocking form times out, and puts back what it had. */
  send_value (router, c, 7);
  g_clear_pointer (&messages, g_ptr_array_unref);
  messages = mitogen_select_all (select, 50 * 1000, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_assert_null (messages);
  g_clear_error (&error);
  assert_get (select, c, 7);

  /* A member removed while awaited is no longer awaited. */
  send_value (router, c, 8);
  mitogen_select_all_async (select, NULL, all_cb, &outcome);
  g_assert_true (mitogen_select_remove_receiver (select, a));
  run_until (NULL, &outcome.done);
  g_assert_no_error (outcome.error);
  g_assert_cmpuint (outcome.messages->len, ==, 1);
  g_assert_cmpint (message_value (g_ptr_array_index (outcome.messages, 0)), ==, 8);
  outcome_clear (&outcome);

  select_free (select);
  receiver_free (a);
  receiver_free (b);
  receiver_free (c);
  receiver_free (late);
  router_free (router);
}

static void
test_dead (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *a = receiver_new (router);
  MitogenReceiver *b = receiver_new (router);
  MitogenSelect *select = mitogen_select_new (FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(MitogenReceiver) receiver = NULL;
  Outcome outcome = { 0 };

  g_test_summary ("A dead message on a member gives a CHANNEL error once and removes the member");

  g_assert_true (mitogen_select_add_receiver (select, a, &error));
  g_assert_true (mitogen_select_add_receiver (select, b, &error));
  g_assert_no_error (error);

  send_dead (router, a, "Sender was explicitly closed");
  send_value (router, b, 1);

  message = mitogen_select_get (select, LONG_WAIT_USEC, NULL, &receiver, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_assert_cmpstr (error->message, ==, "Sender was explicitly closed");
  g_assert_null (receiver);
  g_clear_error (&error);
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 1);

  /* The receiver is closed, as its own get would have left it. */
  message = mitogen_receiver_get (a, 0, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_clear_error (&error);

  assert_get (select, b, 1);

  /* A receiver closed while in the select ends the same way, async. */
  mitogen_select_next_async (select, NULL, next_cb, &outcome);
  mitogen_receiver_close (b);
  run_until (NULL, &outcome.done);
  g_assert_error (outcome.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  outcome_clear (&outcome);
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 0);

  select_free (select);
  receiver_free (a);
  receiver_free (b);
  router_free (router);
}

typedef struct
{
  MitogenSelect *select;
  GError *error;
  gint waiting;
} BlockingGet;

static gpointer
blocking_get_thread (gpointer user_data)
{
  BlockingGet *get = user_data;
  MitogenMessage *message;

  g_atomic_int_set (&get->waiting, TRUE);
  message = mitogen_select_get (get->select, LONG_WAIT_USEC, NULL, NULL, &get->error);
  g_assert_null (message);
  return NULL;
}

static void
test_close (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *a = receiver_new (router);
  MitogenSelect *select = mitogen_select_new (FALSE);
  g_autoptr(GError) error = NULL;
  BlockingGet get = { select, NULL, 0 };
  Outcome outcome = { 0 };
  GThread *thread;
  gint64 start;

  g_test_summary ("close fails pending next_async and get promptly and removes every member");

  g_assert_true (mitogen_select_add_receiver (select, a, &error));
  g_assert_no_error (error);

  mitogen_select_next_async (select, NULL, next_cb, &outcome);
  thread = g_thread_new ("blocking-get", blocking_get_thread, &get);
  while (!g_atomic_int_get (&get.waiting))
    g_usleep (1000);
  g_usleep (20 * 1000);

  start = g_get_monotonic_time ();
  mitogen_select_close (select);
  g_thread_join (thread);
  run_until (NULL, &outcome.done);
  g_assert_cmpint (g_get_monotonic_time () - start, <, test_scaled_usec (5 * G_USEC_PER_SEC));

  g_assert_error (get.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_clear_error (&get.error);
  g_assert_error (outcome.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  outcome_clear (&outcome);
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 0);

  /* The receiver was only removed: it still works, and can be re-added. */
  send_value (router, a, 1);
  g_assert_true (mitogen_select_add_receiver (select, a, &error));
  g_assert_no_error (error);
  assert_get (select, a, 1);

  select_free (select);
  receiver_free (a);
  router_free (router);
}

static void
test_empty (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *a = receiver_new (router);
  MitogenSelect *select = mitogen_select_new (TRUE);
  g_autoptr(GError) error = NULL;
  Outcome outcome = { 0 };

  g_test_summary ("A select with no members fails at once, and pending gets fail when the last member goes");

  g_assert_true (mitogen_select_is_empty (select));
  g_assert_cmpuint (mitogen_select_get_size (select), ==, 0);
  assert_get_error (select, LONG_WAIT_USEC, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);

  mitogen_select_next_async (select, NULL, next_cb, &outcome);
  run_until (NULL, &outcome.done);
  g_assert_error (outcome.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  outcome_clear (&outcome);

  g_assert_true (mitogen_select_add_receiver (select, a, &error));
  g_assert_no_error (error);
  mitogen_select_next_async (select, NULL, next_cb, &outcome);
  g_assert_true (mitogen_select_remove_receiver (select, a));
  run_until (NULL, &outcome.done);
  g_assert_error (outcome.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  outcome_clear (&outcome);

  /* Two waiters on a oneshot select with one member: one gets the
   * message, the other is told nothing more can come. */
  {
    Outcome second = { 0 };

    g_assert_true (mitogen_select_add_receiver (select, a, &error));
    mitogen_select_next_async (select, NULL, next_cb, &outcome);
    mitogen_select_next_async (select, NULL, next_cb, &second);
    send_value (router, a, 1);
    run_until (NULL, &outcome.done);
    run_until (NULL, &second.done);
    g_assert_no_error (outcome.error);
    g_assert_cmpint (message_value (outcome.message), ==, 1);
    g_assert_error (second.error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
    outcome_clear (&outcome);
    outcome_clear (&second);
  }

  select_free (select);
  receiver_free (a);
  router_free (router);
}

static void
test_finalize (void)
{
  MitogenRouter *router = router_new ();
  MitogenReceiver *a = receiver_new (router);
  MitogenSelect *select = mitogen_select_new (FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  gpointer weak;

  g_test_summary ("Dropping a select releases its members, whose messages stay queued");

  g_assert_true (mitogen_select_add_receiver (select, a, &error));
  g_assert_no_error (error);
  send_value (router, a, 1);

  track (select, &weak);
  g_object_unref (select);
  assert_finalized (&weak);

  /* No hook left behind: the receiver works alone and joins a new select. */
  send_value (router, a, 2);
  message = mitogen_receiver_get (a, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (message_value (message), ==, 1);
  select = mitogen_select_new (FALSE);
  g_assert_true (mitogen_select_add_receiver (select, a, &error));
  g_assert_no_error (error);
  assert_get (select, a, 2);

  select_free (select);
  receiver_free (a);
  router_free (router);
}

/* ---- channel ---- */

static void
channel_get_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Outcome *outcome = user_data;
  g_autoptr(GVariant) value = NULL;

  value = mitogen_channel_get_finish (MITOGEN_CHANNEL (source), result, &outcome->error);
  if (value != NULL)
    {
      g_autoptr(MitogenMessage) message = NULL;

      /* Carried in a message so the Outcome type can hold it. */
      message = mitogen_message_new_pickled (0, value, NULL);
      outcome->message = g_steal_pointer (&message);
    }
  g_atomic_int_set (&outcome->done, TRUE);
}

static void
test_channel (void)
{
  MitogenRouter *router = router_new ();
  g_autoptr(MitogenContext) self_context = mitogen_router_context_by_id (router, 0);
  MitogenChannel *channel;
  MitogenSelect *select = mitogen_select_new (FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  Outcome outcome = { 0 };
  gpointer weak_channel, weak_receiver;

  g_test_summary ("A channel to this process itself: put and get round trip through the router, "
                  "select over it, close");

  channel = mitogen_channel_new (router, self_context, 0);
  g_assert_cmpuint (mitogen_channel_get_handle (channel), >=, MITOGEN_HANDLE_FIRST_DYNAMIC);
  g_assert_true (mitogen_channel_get_context (channel) == self_context);
  g_assert_cmpuint (mitogen_receiver_get_handle (mitogen_channel_get_receiver (channel)), ==,
                    mitogen_channel_get_handle (channel));
  g_assert_cmpuint (mitogen_sender_get_handle (mitogen_channel_get_sender (channel)), ==,
                    mitogen_channel_get_handle (channel));

  g_assert_true (mitogen_channel_put (channel, g_variant_new_string ("hello"), &error));
  g_assert_no_error (error);
  value = mitogen_channel_get (channel, LONG_WAIT_USEC, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "hello");

  mitogen_channel_get_async (channel, NULL, channel_get_cb, &outcome);
  g_assert_true (mitogen_channel_put (channel, g_variant_new_int64 (7), &error));
  run_until (NULL, &outcome.done);
  g_assert_no_error (outcome.error);
  g_assert_cmpint (message_value (outcome.message), ==, 7);
  outcome_clear (&outcome);

  /* Its receiver is an ordinary select member. */
  g_assert_true (mitogen_select_add_receiver (select, mitogen_channel_get_receiver (channel), &error));
  g_assert_no_error (error);
  g_assert_true (mitogen_channel_put (channel, g_variant_new_int64 (8), &error));
  assert_get (select, mitogen_channel_get_receiver (channel), 8);
  mitogen_select_close (select);

  /* Timeout, then close. */
  g_clear_pointer (&value, g_variant_unref);
  value = mitogen_channel_get (channel, 0, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_TIMEOUT);
  g_clear_error (&error);
  mitogen_channel_close (channel);
  mitogen_channel_close (channel);
  value = mitogen_channel_get (channel, LONG_WAIT_USEC, NULL, &error);
  g_assert_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CHANNEL);
  g_clear_error (&error);

  track (channel, &weak_channel);
  track (mitogen_channel_get_receiver (channel), &weak_receiver);
  g_object_unref (channel);
  assert_finalized (&weak_channel);
  assert_finalized (&weak_receiver);

  /* Dropped unclosed, a channel still unregisters its receiver. */
  channel = mitogen_channel_new (router, self_context, 0);
  track (mitogen_channel_get_receiver (channel), &weak_receiver);
  g_object_unref (channel);
  assert_finalized (&weak_receiver);

  select_free (select);
  g_clear_object (&self_context);
  router_free (router);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/select/order", test_order);
  g_test_add_func ("/select/queued-before-add", test_queued_before_add);
  g_test_add_func ("/select/nested", test_nested);
  g_test_add_func ("/select/oneshot", test_oneshot);
  g_test_add_func ("/select/timeout", test_timeout);
  g_test_add_func ("/select/cancel-get", test_cancel_get);
  g_test_add_func ("/select/context", test_context);
  g_test_add_func ("/select/cancel-loses-nothing", test_cancel_loses_nothing);
  g_test_add_func ("/select/cancel-all-loses-nothing", test_cancel_all_loses_nothing);
  g_test_add_func ("/select/stress", test_stress);
  g_test_add_func ("/select/all", test_all);
  g_test_add_func ("/select/all-semantics", test_all_semantics);
  g_test_add_func ("/select/dead", test_dead);
  g_test_add_func ("/select/close", test_close);
  g_test_add_func ("/select/empty", test_empty);
  g_test_add_func ("/select/finalize", test_finalize);
  g_test_add_func ("/select/channel", test_channel);

  return g_test_run ();
}
