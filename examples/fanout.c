/* fanout.c: start several local Python children in parallel, give each a
 * job, and gather the answers with a MitogenSelect as they arrive.
 *
 * Usage: fanout [--children N] [--rounds N] [--python PATH]
 *
 * Every child runs hashlib.pbkdf2_hmac('sha256', ...) with a different
 * number of rounds, so the answers come back out of order; the select
 * hands each one over together with the receiver it arrived on, which
 * tells whose answer it is. Only python3 is needed on the machine.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include <mitogen-glib.h>

#define MAX_CHILDREN 64
/* Gives up on answers after this long, so that a stuck child cannot hang
 * the example. */
#define DEADLINE_SECONDS 120

typedef struct
{
  guint index;
  MitogenContext *context;      /* (owned) (nullable) until connected */
  gint64 pid;
  gint64 rounds;
  MitogenReceiver *reply;       /* (owned) (nullable): the job's reply */
  gint64 sent_at;               /* monotonic, microseconds */
} Child;

typedef struct
{
  GMainLoop *loop;
  MitogenRouter *router;
  MitogenSelect *select;
  GCancellable *cancellable;    /* cancelled at the deadline */
  Child *children;
  guint n_children;
  guint pending;                /* connections, then answers, still due */
  guint failures;
  gint64 started_at;
} Fanout;

static void
quit_if_done (Fanout *fanout)
{
  if (fanout->pending == 0)
    g_main_loop_quit (fanout->loop);
}

/* The reply receiver of a call, so that a Select can gather many. */
static MitogenReceiver *
call_with_receiver (MitogenContext  *context,
                    const char      *module,
                    const char      *function,
                    GVariant        *args,
                    GError         **error)
{
  return mitogen_context_call_receiver (context, module, NULL, function, args, NULL, error);
}

/* Python bytes: g_variant_new_bytestring() would add the C string's NUL. */
static GVariant *
new_bytes (const char *text)
{
  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, text, strlen (text), 1);
}

static Child *
child_for_receiver (Fanout          *fanout,
                    MitogenReceiver *receiver)
{
  for (guint i = 0; i < fanout->n_children; i++)
    if (fanout->children[i].reply == receiver)
      return &fanout->children[i];
  return NULL;
}

static void answer_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data);

static void
wait_for_next_answer (Fanout *fanout)
{
  mitogen_select_next_async (fanout->select, fanout->cancellable, answer_cb, fanout);
}

static void
answer_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Fanout *fanout = user_data;
  g_autoptr(MitogenReceiver) receiver = NULL;
  g_autoptr(MitogenMessage) message = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  Child *child;

  message = mitogen_select_next_finish (fanout->select, result, &receiver, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_printerr ("gave up after %d s: %u answers missing\n", DEADLINE_SECONDS, fanout->pending);
      fanout->failures += fanout->pending;
      fanout->pending = 0;
      quit_if_done (fanout);
      return;
    }
  if (message != NULL)
    value = mitogen_message_unpickle (message, &error);

  fanout->pending--;
  child = receiver ? child_for_receiver (fanout, receiver) : NULL;
  if (value != NULL && child != NULL && g_variant_is_of_type (value, G_VARIANT_TYPE_BYTESTRING))
    {
      gsize length;
      const guint8 *key = g_variant_get_fixed_array (value, &length, 1);
      g_autoptr(GString) hex = g_string_new (NULL);

      for (gsize i = 0; i < length; i++)
        g_string_append_printf (hex, "%02x", key[i]);
      g_print ("child %s (pid %" G_GINT64_FORMAT ") answered in %" G_GINT64_FORMAT " ms: "
               "pbkdf2_hmac(sha256, %" G_GINT64_FORMAT " rounds) = %.16s...\n",
               mitogen_context_get_name (child->context), child->pid,
               (g_get_monotonic_time () - child->sent_at) / 1000, child->rounds, hex->str);
    }
  else
    {
      /* On a dead channel the select reports no receiver: name the child
       * when we can. */
      g_printerr ("child %s failed: %s\n",
                  child ? mitogen_context_get_name (child->context) : "?",
                  error ? error->message : "unexpected reply type");
      fanout->failures++;
    }

  if (child != NULL)
    mitogen_receiver_close (child->reply);

  if (fanout->pending > 0)
    wait_for_next_answer (fanout);
  else
    quit_if_done (fanout);
}

/* Every child is up: give each its job, all at once, and gather. */
static void
start_jobs (Fanout *fanout)
{
  g_autoptr(GError) error = NULL;

  fanout->select = mitogen_select_new (TRUE);
  for (guint i = 0; i < fanout->n_children; i++)
    {
      Child *child = &fanout->children[i];

      if (child->context == NULL)
        continue;
      /* More rounds for earlier children: answers arrive in reverse. */
      child->sent_at = g_get_monotonic_time ();
      child->reply = call_with_receiver (child->context, "hashlib", "pbkdf2_hmac",
                                         g_variant_new ("(s@ay@ayx)", "sha256",
                                                        new_bytes ("mitogen"),
                                                        new_bytes ("fanout salt"),
                                                        child->rounds),
                                         &error);
      if (child->reply == NULL || !mitogen_select_add_receiver (fanout->select, child->reply, &error))
        {
          g_printerr ("child %s: could not send the job: %s\n",
                      mitogen_context_get_name (child->context), error->message);
          g_clear_error (&error);
          fanout->failures++;
          continue;
        }
      fanout->pending++;
    }

  if (fanout->pending > 0)
    wait_for_next_answer (fanout);
  else
    quit_if_done (fanout);
}

static void
connection_ready (Fanout *fanout)
{
  if (--fanout->pending > 0)
    return;
  g_print ("%u of %u children ready after %" G_GINT64_FORMAT " ms, started in parallel\n",
           fanout->n_children - fanout->failures, fanout->n_children,
           (g_get_monotonic_time () - fanout->started_at) / 1000);
  start_jobs (fanout);
}

static void
pid_cb (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  Child *child = user_data;
  Fanout *fanout = g_object_get_data (source, "fanout");
  g_autoptr(GVariant) pid = NULL;
  g_autoptr(GError) error = NULL;

  pid = mitogen_context_call_finish (MITOGEN_CONTEXT (source), result, &error);
  if (pid == NULL)
    {
      g_printerr ("child %s: os.getpid() failed: %s\n",
                  mitogen_context_get_name (child->context), error->message);
      g_clear_object (&child->context);
      fanout->failures++;
    }
  else
    child->pid = g_variant_get_int64 (pid);
  connection_ready (fanout);
}

static void
connected_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Child *child = user_data;
  MitogenRouter *router = MITOGEN_ROUTER (source);
  Fanout *fanout = g_object_get_data (source, "fanout");
  g_autoptr(GError) error = NULL;

  child->context = mitogen_router_local_finish (router, result, &error);
  if (child->context == NULL)
    {
      g_printerr ("child %u: could not start: %s\n", child->index, error->message);
      fanout->failures++;
      connection_ready (fanout);
      return;
    }
  /* A plain call_async, for contrast: one call, one callback. */
  g_object_set_data (G_OBJECT (child->context), "fanout", fanout);
  mitogen_context_call_async (child->context, "os", NULL, "getpid", NULL, NULL, NULL, pid_cb, child);
}

static gboolean
deadline_cb (gpointer user_data)
{
  Fanout *fanout = user_data;

  g_cancellable_cancel (fanout->cancellable);
  return G_SOURCE_REMOVE;
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *python = NULL;
  int n_children = 4;
  int rounds = 100000;
  GOptionEntry entries[] = {
    { "children", 0, 0, G_OPTION_ARG_INT, &n_children, "How many children to start (default: 4)", "N" },
    { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "PBKDF2 rounds of the last child (default: 100000)", "N" },
    { "python", 0, 0, G_OPTION_ARG_FILENAME, &python, "Python interpreter of the children (default: python3)", "PATH" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) option_context = g_option_context_new ("- fan a job out to local children and gather the answers");
  g_autoptr(GError) error = NULL;
  Fanout fanout = { 0 };
  guint deadline_id;
  int status;

  setlocale (LC_ALL, "");
  g_option_context_add_main_entries (option_context, entries, NULL);
  if (!g_option_context_parse (option_context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (n_children < 1 || n_children > MAX_CHILDREN || rounds < 1 || rounds > 10000000)
    {
      g_printerr ("--children must be 1 to %d, --rounds 1 to 10000000\n", MAX_CHILDREN);
      return 2;
    }

  fanout.loop = g_main_loop_new (NULL, FALSE);
  fanout.cancellable = g_cancellable_new ();
  fanout.router = mitogen_router_new (NULL);
  g_object_set_data (G_OBJECT (fanout.router), "fanout", &fanout);
  fanout.n_children = (guint) n_children;
  fanout.children = g_new0 (Child, fanout.n_children);
  fanout.pending = fanout.n_children;
  fanout.started_at = g_get_monotonic_time ();

  for (guint i = 0; i < fanout.n_children; i++)
    {
      g_autoptr(MitogenConnectionOptions) options = mitogen_connection_options_new ();
      g_autofree char *name = g_strdup_printf ("worker-%u", i + 1);

      fanout.children[i].index = i + 1;
      fanout.children[i].rounds = (gint64) rounds * (fanout.n_children - i);
      mitogen_connection_options_set_name (options, name);
      mitogen_connection_options_set_python_path (options, python ? python : "python3");
      mitogen_router_local_async (fanout.router, options, NULL, connected_cb, &fanout.children[i]);
    }

  deadline_id = g_timeout_add_seconds (DEADLINE_SECONDS, deadline_cb, &fanout);
  g_main_loop_run (fanout.loop);
  g_source_remove (deadline_id);

  mitogen_router_shutdown (fanout.router);
  if (!mitogen_broker_join (mitogen_router_get_broker (fanout.router), 10 * G_USEC_PER_SEC))
    g_printerr ("warning: the broker did not stop within 10 s\n");

  status = fanout.failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
  g_print ("%u answers, %u failures, %" G_GINT64_FORMAT " ms in all\n",
           fanout.n_children - fanout.failures, fanout.failures,
           (g_get_monotonic_time () - fanout.started_at) / 1000);

  for (guint i = 0; i < fanout.n_children; i++)
    {
      g_clear_object (&fanout.children[i].reply);
      g_clear_object (&fanout.children[i].context);
    }
  g_free (fanout.children);
  g_clear_object (&fanout.select);
  g_object_unref (fanout.cancellable);
  g_object_unref (fanout.router);
  g_main_loop_unref (fanout.loop);
  return status;
}
