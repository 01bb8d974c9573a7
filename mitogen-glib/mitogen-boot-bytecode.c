/* mitogen-boot-bytecode.c: the child runtime, compiled ahead
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mitogen-boot-bytecode-private.h"
#include "child/mitogen-child-resources.h"

#define COMPILER_RESOURCE "/org/mitogen-glib/child/compile.py"
/* A helper compiles ~25 kB of source: well under a second, even on a
 * loaded machine. Past this, children keep booting from source. */
#define HELPER_TIMEOUT_SECONDS 30
/* The code objects are ~60 kB marshalled (~20 kB compressed). */
#define MAX_BYTECODE_SIZE (4 * 1024 * 1024)

typedef enum {
  HELPER_NOT_STARTED,
  HELPER_RUNNING,
  HELPER_DONE,      /* bytecode set */
  HELPER_FAILED,
} HelperState;

typedef struct
{
  MitogenBytecodeCache *cache;  /* (unowned) the entries' owner */
  char *python;                 /* (owned) read-only */
  GBytes *runtime;              /* (owned) read-only: what the helper compiles */
  guint lookups;                /* (cache lock) */
  HelperState state;            /* (cache lock) */
  GBytes *bytecode;             /* (cache lock) (owned) (nullable) once HELPER_DONE */
  GCancellable *cancellable;    /* (cache lock) (owned) (nullable) while running */
} Entry;

/* Owned by its router and by each running helper thread: the threads are
 * detached, so a router going away never waits for one. */
struct _MitogenBytecodeCache
{
  gatomicrefcount ref_count;
  GMutex lock;
  GHashTable *entries;          /* (lock) python command -> (owned) Entry */
  gboolean closed;              /* (lock) */
};

static void
entry_free (Entry *entry)
{
  g_free (entry->python);
  g_bytes_unref (entry->runtime);
  g_clear_pointer (&entry->bytecode, g_bytes_unref);
  g_clear_object (&entry->cancellable);
  g_free (entry);
}

MitogenBytecodeCache *
_mitogen_bytecode_cache_new (void)
{
  MitogenBytecodeCache *cache = g_new0 (MitogenBytecodeCache, 1);

  g_atomic_ref_count_init (&cache->ref_count);
  g_mutex_init (&cache->lock);
  cache->entries = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) entry_free);
  return cache;
}

typedef struct
{
  gboolean done;
  gboolean timed_out;
  GCancellable *cancellable;    /* (unowned) */
  GBytes *out;                  /* (owned) (nullable) */
  GBytes *err;                  /* (owned) (nullable) */
  GError *error;                /* (owned) (nullable) */
} Outcome;

static void
on_communicated (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Outcome *outcome = user_data;

  g_subprocess_communicate_finish (G_SUBPROCESS (source), result,
                                   &outcome->out, &outcome->err, &outcome->error);
  outcome->done = TRUE;
}

static gboolean
on_deadline (gpointer user_data)
{
  Outcome *outcome = user_data;

  outcome->timed_out = TRUE;
  g_cancellable_cancel (outcome->cancellable);
  return G_SOURCE_REMOVE;
}

/* The helper's last line on stderr, for the message (a Python traceback
 * ends with the exception). */
static char *
last_line (GBytes *err)
{
  g_autofree char *text = NULL;
  char *line;

  if (err == NULL || g_bytes_get_size (err) == 0)
    return g_strdup ("");
  text = g_utf8_make_valid (g_bytes_get_data (err, NULL), MIN (g_bytes_get_size (err), 64 * 1024));
  g_strchomp (text);
  line = strrchr (text, '\n');
  return g_strdup_printf (": %s", line ? line + 1 : text);
}

/* Starts the helper with @runtime waiting on its stdin. A socket, not a
 * pipe: written with MSG_NOSIGNAL, a helper that exits without reading
 * cannot raise SIGPIPE in the program that links us. The runtime (~9 kB)
 * fits in the socket's buffer, so writing it never waits. */
static GSubprocess *
spawn_helper (const char  *python,
              const char  *program,
              GBytes      *runtime,
              GError     **error)
{
  /* -S: no site packages, nothing of the user's runs; no_debug_ranges
   * (3.11+; ignored before): no column tables, a third less to send. */
  const char *argv[] = { python, "-S", "-X", "no_debug_ranges", "-c", program, NULL };
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  GSubprocess *process;
  const guint8 *data;
  gsize size, written = 0;
  int sv[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "Could not create the helper's stdin: %s", g_strerror (saved));
      return NULL;
    }
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_take_stdin_fd (launcher, sv[1]);
  process = g_subprocess_launcher_spawnv (launcher, argv, error);
  if (process != NULL)
    {
      data = g_bytes_get_data (runtime, &size);
      while (written < size)
        {
          ssize_t n = send (sv[0], data + written, size - written, MSG_NOSIGNAL | MSG_DONTWAIT);

          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            break;   /* the helper is gone, or the buffer full: it fails on its own */
          written += n;
        }
    }
  close (sv[0]);   /* the helper's EOF */
  return process;
}

/* Runs the helper with @python and returns what it printed: the magic
 * number and the compressed code objects. */
static GBytes *
run_helper (const char    *python,
            GBytes        *runtime,
            GCancellable  *cancellable,
            GError       **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GBytes) program_bytes = NULL;
  g_autofree char *program = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GSource) deadline = NULL;
  g_autofree char *detail = NULL;
  Outcome outcome = { FALSE, FALSE, cancellable, NULL, NULL, NULL };
  GBytes *result = NULL;
  const guint8 *data;
  gsize size;

  program_bytes = g_resource_lookup_data (_mitogen_child_get_resource (), COMPILER_RESOURCE, 0, error);
  if (program_bytes == NULL)
    return NULL;
  program = g_strndup (g_bytes_get_data (program_bytes, NULL), g_bytes_get_size (program_bytes));

  g_main_context_push_thread_default (context);
  process = spawn_helper (python, program, runtime, error);
  if (process != NULL)
    {
      g_subprocess_communicate_async (process, NULL, cancellable, on_communicated, &outcome);
      deadline = g_timeout_source_new_seconds (HELPER_TIMEOUT_SECONDS);
      g_source_set_callback (deadline, on_deadline, &outcome, NULL);
      g_source_attach (deadline, context);
      while (!outcome.done)
        g_main_context_iteration (context, TRUE);
      g_source_destroy (deadline);
      if (outcome.error != NULL)
        g_subprocess_force_exit (process);
      /* Reaped either way; after force_exit this is a kill's wait. */
      g_subprocess_wait (process, NULL, NULL);
    }
  g_main_context_pop_thread_default (context);
  if (process == NULL)
    return NULL;

  detail = last_line (outcome.err);
  if (outcome.timed_out)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "%s did not compile the runtime within %d s", python, HELPER_TIMEOUT_SECONDS);
  else if (outcome.error != NULL)
    g_propagate_error (error, g_steal_pointer (&outcome.error));
  else if (!g_subprocess_get_if_exited (process) || g_subprocess_get_exit_status (process) != 0)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                 "%s failed to compile the runtime%s", python, detail);
  else
    {
      data = g_bytes_get_data (outcome.out, &size);
      /* A magic number is two bytes and "\r\n". */
      if (size > 4 && size <= MAX_BYTECODE_SIZE && data[2] == '\r' && data[3] == '\n')
        result = g_bytes_ref (outcome.out);
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     "%s printed no compiled runtime (%" G_GSIZE_FORMAT " bytes)", python, size);
    }
  g_clear_error (&outcome.error);
  g_clear_pointer (&outcome.out, g_bytes_unref);
  g_clear_pointer (&outcome.err, g_bytes_unref);
  return result;
}

static void
cache_unref (MitogenBytecodeCache *cache)
{
  if (!g_atomic_ref_count_dec (&cache->ref_count))
    return;
  g_hash_table_unref (cache->entries);
  g_mutex_clear (&cache->lock);
  g_free (cache);
}

static gpointer
helper_thread (gpointer data)
{
  Entry *entry = data;
  MitogenBytecodeCache *cache = entry->cache;
  g_autoptr(GCancellable) cancellable = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytecode = NULL;

  g_mutex_lock (&cache->lock);
  cancellable = g_object_ref (entry->cancellable);
  g_mutex_unlock (&cache->lock);

  bytecode = run_helper (entry->python, entry->runtime, cancellable, &error);
  if (bytecode != NULL)
    g_debug ("Bytecode: %s compiled the runtime (%" G_GSIZE_FORMAT " bytes)",
             entry->python, g_bytes_get_size (bytecode));
  else
    g_debug ("Bytecode: children of %s boot from source: %s", entry->python, error->message);

  g_mutex_lock (&cache->lock);
  entry->bytecode = g_steal_pointer (&bytecode);
  entry->state = entry->bytecode != NULL ? HELPER_DONE : HELPER_FAILED;
  g_clear_object (&entry->cancellable);
  g_mutex_unlock (&cache->lock);
  cache_unref (cache);
  return NULL;
}

GBytes *
_mitogen_bytecode_cache_lookup (MitogenBytecodeCache *cache,
                                const char           *python,
                                GBytes               *runtime)
{
  g_autoptr(GError) error = NULL;
  GBytes *bytecode = NULL;
  GThread *thread;
  Entry *entry;

  g_return_val_if_fail (cache != NULL, NULL);
  g_return_val_if_fail (python != NULL, NULL);
  g_return_val_if_fail (runtime != NULL, NULL);

  g_mutex_lock (&cache->lock);
  entry = g_hash_table_lookup (cache->entries, python);
  if (entry == NULL)
    {
      entry = g_new0 (Entry, 1);
      entry->cache = cache;
      entry->python = g_strdup (python);
      entry->runtime = g_bytes_ref (runtime);
      g_hash_table_insert (cache->entries, entry->python, entry);
    }
  entry->lookups++;
  if (entry->state == HELPER_DONE && g_bytes_equal (entry->runtime, runtime))
    bytecode = g_bytes_ref (entry->bytecode);
  else if (entry->state == HELPER_NOT_STARTED && entry->lookups >= 2 && !cache->closed)
    {
      entry->cancellable = g_cancellable_new ();
      g_atomic_ref_count_inc (&cache->ref_count);
      thread = g_thread_try_new ("mitogen-bytecode", helper_thread, entry, &error);
      if (thread != NULL)
        {
          entry->state = HELPER_RUNNING;
          g_thread_unref (thread);   /* detached */
        }
      else
        {
          entry->state = HELPER_FAILED;
          g_clear_object (&entry->cancellable);
          g_atomic_ref_count_dec (&cache->ref_count);   /* never the last: the caller has one */
          g_debug ("Bytecode: children of %s boot from source: %s", python, error->message);
        }
    }
  g_mutex_unlock (&cache->lock);
  return bytecode;
}

void
_mitogen_bytecode_cache_close (MitogenBytecodeCache *cache)
{
  g_autoptr(GPtrArray) running = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  Entry *entry;

  g_return_if_fail (cache != NULL);

  g_mutex_lock (&cache->lock);
  cache->closed = TRUE;
  g_hash_table_iter_init (&iter, cache->entries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &entry))
    if (entry->cancellable != NULL)
      g_ptr_array_add (running, g_object_ref (entry->cancellable));
  g_mutex_unlock (&cache->lock);

  /* Outside the lock: cancelling runs handlers in this thread. */
  for (guint i = 0; i < running->len; i++)
    g_cancellable_cancel (g_ptr_array_index (running, i));
}

void
_mitogen_bytecode_cache_free (MitogenBytecodeCache *cache)
{
  if (cache == NULL)
    return;
  /* A running helper is killed; its thread lets the cache go when done. */
  _mitogen_bytecode_cache_close (cache);
  cache_unref (cache);
}
