/* mitogen-boot-bytecode.c: the child runtime, compiled ahead
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mitogen-boot-bytecode-private.h"
#include "mitogen-boot-bytecode-store-private.h"
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
  HELPER_DONE,      /* preamble set */
  HELPER_FAILED,
} HelperState;

typedef struct
{
  MitogenBytecodeCache *cache;  /* (unowned) the entries' owner */
  char *python;                 /* (owned) read-only */
  GBytes *runtime;              /* (owned) read-only: what the helper compiles */
  char *store_path;             /* (owned) (nullable) read-only: where the helper's
                                 * output is kept for later programs */
  guint lookups;                /* (cache lock) */
  gboolean booted;              /* (cache lock) a child of it has booted */
  HelperState state;            /* (cache lock) */
  GBytes *preamble;             /* (cache lock) (owned) (nullable) once HELPER_DONE:
                                 * the runtime, then the helper's output */
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
  char *directory;              /* (lock) (owned) (nullable) where compiled runtimes
                                 * are kept across processes */
};

static void
entry_free (Entry *entry)
{
  g_free (entry->python);
  g_bytes_unref (entry->runtime);
  g_free (entry->store_path);
  g_clear_pointer (&entry->preamble, g_bytes_unref);
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

/* The helper's last line on stderr, for the message (a Python traceback
 * ends with the exception). */
static char *
last_line (GByteArray *err)
{
  g_autofree char *text = NULL;
  char *line;

  if (err->len == 0)
    return g_strdup ("");
  text = g_utf8_make_valid ((const char *) err->data, err->len);
  g_strchomp (text);
  line = strrchr (text, '\n');
  return g_strdup_printf (": %s", line ? line + 1 : text);
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

/* Reads what is there on *@fd into @into, closing it at EOF. */
static void
read_some (int        *fd,
           GByteArray *into)
{
  guint8 chunk[16384];
  ssize_t n;

  do
    n = read (*fd, chunk, sizeof chunk);
  while (n < 0 && errno == EINTR);
  if (n > 0)
    g_byte_array_append (into, chunk, n);
  else
    close_fd (fd);
}

/* Waits for @pid to exit until @deadline or @cancellable, then kills it;
 * returns its wait status. A helper that closed its output need not have
 * exited: nothing here waits without a bound. */
static int
reap (GPid          pid,
      gint64        deadline,
      GCancellable *cancellable,
      gboolean     *timed_out)
{
  int status = 0;

  for (;;)
    {
      pid_t done = waitpid (pid, &status, WNOHANG);

      if (done == pid || (done < 0 && errno != EINTR))
        return status;
      if (g_get_monotonic_time () >= deadline)
        {
          *timed_out = TRUE;
          break;
        }
      if (g_cancellable_is_cancelled (cancellable))
        break;
      g_usleep (1000);
    }
  kill (pid, SIGKILL);
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  return status;
}

/* Runs the helper with @python and returns what it printed: the magic
 * number and the compressed code objects. A plain child process, its
 * pipes polled here: this thread is the helper's only (no GIO worker
 * threads, no main context). Its stdin is a socket, not a pipe: written
 * with MSG_NOSIGNAL, a helper that exits without reading cannot raise
 * SIGPIPE in the program that links us; the runtime (~9 kB) fits in the
 * socket's buffer, so writing it never waits.
 *
 * With a store path, the helper also keeps its output in that file, and
 * @cancellable (the router shutting down) does not kill it once a child
 * of the interpreter has booted (a working python3): it is left to
 * finish and write the file for later programs, reaped here until the
 * deadline (it ends on its own within 60 s even if this process exits
 * first). */
static GBytes *
run_helper (Entry         *entry,
            GCancellable  *cancellable,
            GError       **error)
{
  const char *python = entry->python;
  const char *store_path = entry->store_path;
  GBytes *runtime = entry->runtime;
  g_autoptr(GBytes) program_bytes = NULL;
  g_autofree char *program = NULL;
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GByteArray) err = g_byte_array_new ();
  g_autofree char *detail = NULL;
  gint64 deadline = g_get_monotonic_time () + HELPER_TIMEOUT_SECONDS * G_USEC_PER_SEC;
  gboolean timed_out = FALSE;
  gboolean left_to_finish;
  const guint8 *data;
  GPollFD polls[3];
  GPid pid;
  int out_fd = -1, err_fd = -1;
  int status = 0;
  int sv[2];
  gsize size, written = 0;

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  program_bytes = g_resource_lookup_data (_mitogen_child_get_resource (), COMPILER_RESOURCE, 0, error);
  if (program_bytes == NULL)
    return NULL;
  program = g_strndup (g_bytes_get_data (program_bytes, NULL), g_bytes_get_size (program_bytes));

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "Could not create the helper's stdin: %s", g_strerror (saved));
      return NULL;
    }
  {
    /* -S: no site packages, nothing of the user's runs; no_debug_ranges
     * (3.11+; ignored before): no column tables, a third less to send. */
    const char *argv[] = { python, "-S", "-X", "no_debug_ranges", "-c", program, store_path, NULL };
    gboolean spawned;

    spawned = g_spawn_async_with_pipes_and_fds (NULL, argv, NULL,
                                                G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                                G_SPAWN_CLOEXEC_PIPES,
                                                NULL, NULL, sv[1], -1, -1, NULL, NULL, 0,
                                                &pid, NULL, &out_fd, &err_fd, error);
    close (sv[1]);
    if (!spawned)
      {
        close (sv[0]);
        return NULL;
      }
  }
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
  close (sv[0]);   /* the helper's EOF */

  g_cancellable_make_pollfd (cancellable, &polls[2]);
  while (out_fd >= 0 || err_fd >= 0)
    {
      gint64 left = deadline - g_get_monotonic_time ();

      if (left <= 0)
        {
          timed_out = TRUE;
          break;
        }
      polls[0] = (GPollFD) { out_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, 0 };
      polls[1] = (GPollFD) { err_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, 0 };
      polls[2].revents = 0;
      if (g_poll (polls, 3, (int) MIN (left / 1000 + 1, G_MAXINT)) < 0 && errno != EINTR)
        break;
      if (g_cancellable_is_cancelled (cancellable))
        break;
      if (polls[0].revents != 0)
        read_some (&out_fd, out);
      if (polls[1].revents != 0)
        read_some (&err_fd, err);
      if (out->len > MAX_BYTECODE_SIZE || err->len > MAX_BYTECODE_SIZE)
        break;
    }
  g_cancellable_release_fd (cancellable);
  g_mutex_lock (&entry->cache->lock);
  left_to_finish = store_path != NULL && entry->booted && !timed_out &&
                   g_cancellable_is_cancelled (cancellable) &&
                   out->len <= MAX_BYTECODE_SIZE && err->len <= MAX_BYTECODE_SIZE;
  g_mutex_unlock (&entry->cache->lock);
  if (out_fd >= 0 || err_fd >= 0)
    {
      /* Stopped early: cancelled, timed out, or too much output. */
      close_fd (&out_fd);
      close_fd (&err_fd);
      if (!left_to_finish)
        kill (pid, SIGKILL);
    }
  status = reap (pid, deadline, left_to_finish ? NULL : cancellable, &timed_out);
  g_spawn_close_pid (pid);

  detail = last_line (err);
  data = out->data;
  size = out->len;
  if (timed_out)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "%s did not compile the runtime within %d s", python, HELPER_TIMEOUT_SECONDS);
  else if (g_cancellable_set_error_if_cancelled (cancellable, error))
    ;
  else if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                 "%s failed to compile the runtime%s", python, detail);
  /* A magic number is two bytes and "\r\n". */
  else if (size > 4 && size <= MAX_BYTECODE_SIZE && data[2] == '\r' && data[3] == '\n')
    return g_byte_array_free_to_bytes (g_steal_pointer (&out));
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "%s printed no compiled runtime (%" G_GSIZE_FORMAT " bytes)", python, size);
  return NULL;
}

static void
cache_unref (MitogenBytecodeCache *cache)
{
  if (!g_atomic_ref_count_dec (&cache->ref_count))
    return;
  g_hash_table_unref (cache->entries);
  g_free (cache->directory);
  g_mutex_clear (&cache->lock);
  g_free (cache);
}

/* What a child is sent: the runtime, then its compiled parts. Joined once,
 * shared by every child's boot plan. */
static GBytes *
join_preamble (GBytes *runtime,
               GBytes *bytecode)
{
  GByteArray *joined = g_byte_array_sized_new (g_bytes_get_size (runtime) + g_bytes_get_size (bytecode));

  g_byte_array_append (joined, g_bytes_get_data (runtime, NULL), g_bytes_get_size (runtime));
  g_byte_array_append (joined, g_bytes_get_data (bytecode, NULL), g_bytes_get_size (bytecode));
  return g_byte_array_free_to_bytes (joined);
}

static gpointer
helper_thread (gpointer data)
{
  Entry *entry = data;
  MitogenBytecodeCache *cache = entry->cache;
  g_autoptr(GCancellable) cancellable = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytecode = NULL;
  GBytes *preamble = NULL;

  g_mutex_lock (&cache->lock);
  cancellable = g_object_ref (entry->cancellable);
  g_mutex_unlock (&cache->lock);

  bytecode = run_helper (entry, cancellable, &error);
  if (bytecode != NULL)
    {
      preamble = join_preamble (entry->runtime, bytecode);
      g_debug ("Bytecode: %s compiled the runtime (%" G_GSIZE_FORMAT " bytes)",
               entry->python, g_bytes_get_size (bytecode));
    }
  else
    g_debug ("Bytecode: children of %s boot from source: %s", entry->python, error->message);

  g_mutex_lock (&cache->lock);
  entry->preamble = preamble;
  entry->state = preamble != NULL ? HELPER_DONE : HELPER_FAILED;
  g_clear_object (&entry->cancellable);
  g_mutex_unlock (&cache->lock);
  cache_unref (cache);
  return NULL;
}

/* Starts the helper for @entry unless it has run, runs or cannot. */
static void
start_helper_locked (MitogenBytecodeCache *cache,
                     Entry                *entry)
{
  g_autoptr(GError) error = NULL;
  GThread *thread;

  if (entry->state != HELPER_NOT_STARTED || cache->closed)
    return;
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
      g_debug ("Bytecode: children of %s boot from source: %s", entry->python, error->message);
    }
}

/* A new entry for @python, with what an earlier program kept in
 * @directory if it is there. Blocking I/O: called without the lock. */
static Entry *
entry_new (MitogenBytecodeCache *cache,
           const char           *python,
           GBytes               *runtime,
           const char           *directory)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytecode = NULL;
  Entry *entry = g_new0 (Entry, 1);

  entry->cache = cache;
  entry->python = g_strdup (python);
  entry->runtime = g_bytes_ref (runtime);
  if (directory == NULL)
    return entry;

  entry->store_path = _mitogen_bytecode_store_path (directory, python, runtime, &error);
  if (entry->store_path == NULL)
    {
      g_debug ("Bytecode: nothing kept across programs for %s: %s", python, error->message);
      return entry;
    }
  bytecode = _mitogen_bytecode_store_read (entry->store_path, MAX_BYTECODE_SIZE, &error);
  if (bytecode != NULL)
    {
      entry->preamble = join_preamble (runtime, bytecode);
      entry->state = HELPER_DONE;
    }
  else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    g_debug ("Bytecode: compiling again for %s: %s", python, error->message);
  return entry;
}

GBytes *
_mitogen_bytecode_cache_lookup (MitogenBytecodeCache *cache,
                                const char           *python,
                                GBytes               *runtime)
{
  GBytes *preamble = NULL;
  Entry *entry;

  g_return_val_if_fail (cache != NULL, NULL);
  g_return_val_if_fail (python != NULL, NULL);
  g_return_val_if_fail (runtime != NULL, NULL);

  g_mutex_lock (&cache->lock);
  entry = g_hash_table_lookup (cache->entries, python);
  if (entry == NULL)
    {
      g_autofree char *directory = g_strdup (cache->directory);
      Entry *made;

      g_mutex_unlock (&cache->lock);
      made = entry_new (cache, python, runtime, directory);
      g_mutex_lock (&cache->lock);
      /* Another thread may have looked it up meanwhile. */
      entry = g_hash_table_lookup (cache->entries, python);
      if (entry == NULL)
        {
          entry = made;
          g_hash_table_insert (cache->entries, entry->python, entry);
        }
      else
        entry_free (made);
    }
  entry->lookups++;
  if (entry->state == HELPER_DONE && g_bytes_equal (entry->runtime, runtime))
    preamble = g_bytes_ref (entry->preamble);
  else if (entry->lookups >= 2)
    start_helper_locked (cache, entry);
  g_mutex_unlock (&cache->lock);
  return preamble;
}

void
_mitogen_bytecode_cache_booted (MitogenBytecodeCache *cache,
                                const char           *python)
{
  Entry *entry;

  g_return_if_fail (cache != NULL);
  g_return_if_fail (python != NULL);

  g_mutex_lock (&cache->lock);
  entry = g_hash_table_lookup (cache->entries, python);
  if (entry != NULL)
    {
      entry->booted = TRUE;
      /* With a file to fill for later programs, the helper runs once the
       * first child has shown the interpreter works: its work is then
       * paid once per interpreter, not once per program. */
      if (entry->store_path != NULL)
        start_helper_locked (cache, entry);
    }
  g_mutex_unlock (&cache->lock);
}

void
_mitogen_bytecode_cache_set_directory (MitogenBytecodeCache *cache,
                                       const char           *directory)
{
  g_return_if_fail (cache != NULL);

  g_mutex_lock (&cache->lock);
  g_free (cache->directory);
  cache->directory = g_strdup (directory);
  g_mutex_unlock (&cache->lock);
}

char *
_mitogen_bytecode_cache_dup_directory (MitogenBytecodeCache *cache)
{
  char *directory;

  g_return_val_if_fail (cache != NULL, NULL);

  g_mutex_lock (&cache->lock);
  directory = g_strdup (cache->directory);
  g_mutex_unlock (&cache->lock);
  return directory;
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
