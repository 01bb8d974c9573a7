/* tsan-glib-sync.c: the synchronisation GLib does where ThreadSanitizer
 * cannot see it, made visible: GMutex and GCond over pthreads; hand-offs
 * through a main context, a thread pool and the last g_object_unref()
 * stated with __tsan_release() and __tsan_acquire(); gatomicrefcount in
 * instrumented code. Linked into the test programs of the TSan build only
 * (tests/meson.build); what remains is in tests/tsan.supp.
 *
 * Debian's GLib is not built with TSan, and on Linux its GMutex and GCond
 * are futexes driven by atomics inside libglib, which TSan cannot see: to
 * TSan every g_mutex_lock() our code takes is no lock at all, and it
 * reports a race on each field the lock protects. These definitions replace
 * GLib's for every caller that binds them through the dynamic symbol
 * table: the library under test (linked statically into each test), the
 * tests themselves, libgobject and libgio (their G_LOCKs, GTask's and
 * GCancellable's locks). TSan's interceptors then see pthread mutexes and
 * condition variables, and with them the happens-before edges they carry.
 *
 * libglib's own calls stay on its futex versions: it is linked with
 * -Bsymbolic-functions, so they never go through the symbol table. That is
 * safe because no GMutex or GCond is shared between libglib's internals
 * and its callers (GMainContext, GAsyncQueue, GThreadPool and g_once keep
 * theirs private, and GLib frees none of its callers'); the only public API taking a caller's GMutex into
 * libglib, g_main_context_wait(), is deprecated and unused here. Both
 * versions treat an all-zero GMutex or GCond as unlocked and unused, so
 * statically allocated ones (G_LOCK_DEFINE) work with either.
 *
 * GRecMutex, GRWLock, GPrivate and GThread need nothing: GLib builds them
 * on pthreads, which TSan intercepts wherever they are called from.
 *
 * gatomicrefcount is the same story: unless G_DISABLE_CHECKS is defined,
 * g_atomic_ref_count_inc() and _dec() are functions in libglib, so the
 * acquire and release of our own reference counts happen where TSan cannot
 * see them. The copies below do the same atomic operations in instrumented
 * code.
 *
 * A GMainContext keeps its sources under its own (libglib-internal) lock,
 * so "everything a thread did before g_source_attach() happens before the
 * source's callback runs in the context's thread" is invisible to TSan as
 * well. GTask relies on it to complete a task from another thread (an idle
 * source), and so do our own idle and timeout sources. The wrappers of
 * g_source_attach() and g_source_set_callback() below state that edge with
 * __tsan_release() and __tsan_acquire() on the source, for idle and timeout
 * sources (whose callbacks are plain GSourceFuncs) and child watches (GIO's
 * GSubprocess, in GLib's worker thread), set up by callers outside
 * libglib. Sources libglib sets up itself (g_idle_add(),
 * g_main_context_invoke()) stay invisible.
 *
 * The same holds for work handed to a GThreadPool (GIO's GTask threads):
 * the pool's queue is internal to libglib. The wrappers of
 * g_thread_pool_new() and g_thread_pool_push() release on the item pushed
 * and acquire on it in the worker before the pool's function runs.
 *
 * GObject's reference count is an atomic inside libgobject: the thread that
 * drops the last reference and finalizes an object is ordered after every
 * other thread's last use of it (each g_object_unref() is a full-barrier
 * read-modify-write of the count), and TSan cannot see that either. The
 * g_object_unref() wrapper below does the decrements that cannot finalize
 * itself, with the same compare-and-exchange libgobject does, in
 * instrumented code; the call that finds the count at 1, and so will
 * finalize, reads it with an acquire that TSan sees, then lets libgobject
 * do the rest.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sanitizer/tsan_interface.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>
#include <glib-object.h>

/* Not g_error(): its logging may take a GMutex itself. */
G_GNUC_NORETURN static void
fail (const char *what,
      int         status)
{
  fprintf (stderr, "tsan-glib-sync: %s failed: %s\n", what, strerror (status));
  abort ();
}

static void
check (const char *what,
       int         status)
{
  if (G_UNLIKELY (status != 0))
    fail (what, status);
}

/* The pthread object lives on the heap; the GMutex or GCond holds its
 * address in ->p, set on first use when the caller did not init it. */
static pthread_mutex_t *
mutex_new (void)
{
  pthread_mutex_t *impl = malloc (sizeof *impl);

  if (impl == NULL)
    fail ("malloc", ENOMEM);
  check ("pthread_mutex_init", pthread_mutex_init (impl, NULL));
  return impl;
}

static pthread_mutex_t *
mutex_get (GMutex *mutex)
{
  pthread_mutex_t *impl = __atomic_load_n ((pthread_mutex_t **) &mutex->p, __ATOMIC_ACQUIRE);

  if (G_UNLIKELY (impl == NULL))
    {
      pthread_mutex_t *fresh = mutex_new ();

      if (__atomic_compare_exchange_n ((pthread_mutex_t **) &mutex->p, &impl, fresh, FALSE,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        impl = fresh;
      else
        {
          pthread_mutex_destroy (fresh);
          free (fresh);
        }
    }
  return impl;
}

void
g_mutex_init (GMutex *mutex)
{
  mutex->p = mutex_new ();
}

void
g_mutex_clear (GMutex *mutex)
{
  pthread_mutex_t *impl = mutex->p;

  mutex->p = NULL;
  if (impl != NULL)
    {
      check ("pthread_mutex_destroy", pthread_mutex_destroy (impl));
      free (impl);
    }
}

void
g_mutex_lock (GMutex *mutex)
{
  check ("pthread_mutex_lock", pthread_mutex_lock (mutex_get (mutex)));
}

gboolean
g_mutex_trylock (GMutex *mutex)
{
  int status = pthread_mutex_trylock (mutex_get (mutex));

  if (status == EBUSY)
    return FALSE;
  check ("pthread_mutex_trylock", status);
  return TRUE;
}

void
g_mutex_unlock (GMutex *mutex)
{
  check ("pthread_mutex_unlock", pthread_mutex_unlock (mutex_get (mutex)));
}

/* g_cond_wait_until() deadlines are g_get_monotonic_time() values. */
static pthread_cond_t *
cond_new (void)
{
  pthread_cond_t *impl = malloc (sizeof *impl);
  pthread_condattr_t attr;

  if (impl == NULL)
    fail ("malloc", ENOMEM);
  check ("pthread_condattr_init", pthread_condattr_init (&attr));
  check ("pthread_condattr_setclock", pthread_condattr_setclock (&attr, CLOCK_MONOTONIC));
  check ("pthread_cond_init", pthread_cond_init (impl, &attr));
  pthread_condattr_destroy (&attr);
  return impl;
}

static pthread_cond_t *
cond_get (GCond *cond)
{
  pthread_cond_t *impl = __atomic_load_n ((pthread_cond_t **) &cond->p, __ATOMIC_ACQUIRE);

  if (G_UNLIKELY (impl == NULL))
    {
      pthread_cond_t *fresh = cond_new ();

      if (__atomic_compare_exchange_n ((pthread_cond_t **) &cond->p, &impl, fresh, FALSE,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        impl = fresh;
      else
        {
          pthread_cond_destroy (fresh);
          free (fresh);
        }
    }
  return impl;
}

void
g_cond_init (GCond *cond)
{
  cond->p = cond_new ();
}

void
g_cond_clear (GCond *cond)
{
  pthread_cond_t *impl = cond->p;

  cond->p = NULL;
  if (impl != NULL)
    {
      check ("pthread_cond_destroy", pthread_cond_destroy (impl));
      free (impl);
    }
}

void
g_cond_wait (GCond  *cond,
             GMutex *mutex)
{
  check ("pthread_cond_wait", pthread_cond_wait (cond_get (cond), mutex_get (mutex)));
}

gboolean
g_cond_wait_until (GCond  *cond,
                   GMutex *mutex,
                   gint64  end_time)
{
  struct timespec deadline;
  int status;

  deadline.tv_sec = end_time / G_USEC_PER_SEC;
  deadline.tv_nsec = (end_time % G_USEC_PER_SEC) * 1000;
  status = pthread_cond_timedwait (cond_get (cond), mutex_get (mutex), &deadline);
  if (status == ETIMEDOUT)
    return FALSE;
  check ("pthread_cond_timedwait", status);
  return TRUE;
}

void
g_cond_signal (GCond *cond)
{
  check ("pthread_cond_signal", pthread_cond_signal (cond_get (cond)));
}

void
g_cond_broadcast (GCond *cond)
{
  check ("pthread_cond_broadcast", pthread_cond_broadcast (cond_get (cond)));
}

/* GSource hand-off ---------------------------------------------------------- */

typedef guint (*SourceAttachFunc) (GSource *, GMainContext *);
typedef void (*SetCallbackFunc) (GSource *, GSourceFunc, gpointer, GDestroyNotify);

/* libglib's own definition of @name, the next one after this program's;
 * looked up once into *@cache. */
static gpointer
next_symbol (gpointer   *cache,
             const char *name)
{
  gpointer symbol = __atomic_load_n (cache, __ATOMIC_ACQUIRE);

  if (G_UNLIKELY (symbol == NULL))
    {
      symbol = dlsym (RTLD_NEXT, name);
      if (symbol == NULL)
        {
          fprintf (stderr, "tsan-glib-sync: %s not found: %s\n", name, dlerror ());
          abort ();
        }
      __atomic_store_n (cache, symbol, __ATOMIC_RELEASE);
    }
  return symbol;
}

guint
g_source_attach (GSource      *source,
                 GMainContext *context)
{
  static gpointer next;

  __tsan_release (source);
  return ((SourceAttachFunc) next_symbol (&next, "g_source_attach")) (source, context);
}

typedef struct
{
  GSourceFunc func;   /* a GChildWatchFunc for a child watch source */
  gpointer data;
  GDestroyNotify notify;
} Trampoline;

/* The source is found without reading the trampoline, which another
 * thread wrote: its fields are only safe to read after the acquire. */
static gboolean
trampoline_dispatch (gpointer user_data)
{
  Trampoline *trampoline = user_data;

  __tsan_acquire (g_main_current_source ());
  return trampoline->func (trampoline->data);
}

static void
trampoline_child_watch (GPid     pid,
                        gint     wait_status,
                        gpointer user_data)
{
  Trampoline *trampoline = user_data;

  __tsan_acquire (g_main_current_source ());
  ((GChildWatchFunc) (void (*) (void)) trampoline->func) (pid, wait_status, trampoline->data);
}

static void
trampoline_free (gpointer user_data)
{
  Trampoline *trampoline = user_data;

  if (trampoline->notify != NULL)
    trampoline->notify (trampoline->data);
  free (trampoline);
}

void
g_source_set_callback (GSource        *source,
                       GSourceFunc     func,
                       gpointer        data,
                       GDestroyNotify  notify)
{
  static gpointer next_cache;
  SetCallbackFunc next = (SetCallbackFunc) next_symbol (&next_cache, "g_source_set_callback");
  gboolean child_watch = source->source_funcs == &g_child_watch_funcs;
  Trampoline *trampoline;

  /* Other sources call their callbacks with arguments of their own. */
  if (func == NULL ||
      (source->source_funcs != &g_idle_funcs && source->source_funcs != &g_timeout_funcs && !child_watch))
    {
      next (source, func, data, notify);
      return;
    }

  trampoline = malloc (sizeof *trampoline);
  if (trampoline == NULL)
    fail ("malloc", ENOMEM);
  trampoline->func = func;
  trampoline->data = data;
  trampoline->notify = notify;
  next (source,
        child_watch ? (GSourceFunc) (void (*) (void)) trampoline_child_watch : trampoline_dispatch,
        trampoline, trampoline_free);
  /* For a callback set after the source was attached. */
  __tsan_release (source);
}

/* GThreadPool hand-off -------------------------------------------------------- */

typedef GThreadPool *(*ThreadPoolNewFunc) (GFunc, gpointer, gint, gboolean, GError **);
typedef gboolean (*ThreadPoolPushFunc) (GThreadPool *, gpointer, GError **);

/* Lives as long as its pool; GIO's pools are never freed, and a test
 * freeing its own loses only this. */
typedef struct
{
  GFunc func;
  gpointer user_data;
} PoolTrampoline;

static void
pool_trampoline_run (gpointer data,
                     gpointer user_data)
{
  PoolTrampoline *trampoline = user_data;

  __tsan_acquire (data);
  trampoline->func (data, trampoline->user_data);
}

GThreadPool *
g_thread_pool_new (GFunc     func,
                   gpointer  user_data,
                   gint      max_threads,
                   gboolean  exclusive,
                   GError  **error)
{
  static gpointer next;
  PoolTrampoline *trampoline = malloc (sizeof *trampoline);

  if (trampoline == NULL)
    fail ("malloc", ENOMEM);
  trampoline->func = func;
  trampoline->user_data = user_data;
  return ((ThreadPoolNewFunc) next_symbol (&next, "g_thread_pool_new")) (pool_trampoline_run, trampoline,
                                                                         max_threads, exclusive, error);
}

gboolean
g_thread_pool_push (GThreadPool  *pool,
                    gpointer      data,
                    GError      **error)
{
  static gpointer next;

  __tsan_release (data);
  return ((ThreadPoolPushFunc) next_symbol (&next, "g_thread_pool_push")) (pool, data, error);
}

/* GObject finalization -------------------------------------------------------- */

typedef void (*ObjectUnrefFunc) (gpointer);

/* gobject.c's OBJECT_HAS_TOGGLE_REF_FLAG, in the object's qdata flags: a
 * decrement from 2 to 1 must then notify the toggle reference, which only
 * libgobject can do. */
#define TOGGLE_REF_FLAG 0x1

void
g_object_unref (gpointer object)
{
  static gpointer next;
  GObject *self = object;
  gint *ref_count = (gint *) &self->ref_count;
  gint old_ref;

  g_return_if_fail (G_IS_OBJECT (self));

  for (;;)
    {
      old_ref = g_atomic_int_get (ref_count);
      if (old_ref < 2 ||
          (old_ref == 2 && (g_datalist_get_flags (&self->qdata) & TOGGLE_REF_FLAG) != 0))
        break;
      if (g_atomic_int_compare_and_exchange (ref_count, old_ref, old_ref - 1))
        return;
    }

  /* The last reference, or a toggle reference to notify: libgobject's
   * decrement is invisible, so publish this thread's uses before it. */
  __tsan_release (ref_count);
  ((ObjectUnrefFunc) next_symbol (&next, "g_object_unref")) (object);
}

/* gatomicrefcount ------------------------------------------------------------- */

/* As libglib's, checks included. */
void
g_atomic_ref_count_init (gatomicrefcount *arc)
{
  g_return_if_fail (arc != NULL);
  g_atomic_int_set (arc, 1);
}

void
g_atomic_ref_count_inc (gatomicrefcount *arc)
{
  gint old_value;

  g_return_if_fail (arc != NULL);
  old_value = g_atomic_int_add (arc, 1);
  g_return_if_fail (old_value > 0);
  if (old_value == G_MAXINT)
    g_critical ("Reference count has reached saturation");
}

gboolean
g_atomic_ref_count_dec (gatomicrefcount *arc)
{
  gint old_value;

  g_return_val_if_fail (arc != NULL, FALSE);
  old_value = g_atomic_int_add (arc, -1);
  g_return_val_if_fail (old_value > 0, FALSE);
  return old_value == 1;
}

gboolean
g_atomic_ref_count_compare (gatomicrefcount *arc,
                            gint             val)
{
  g_return_val_if_fail (arc != NULL, FALSE);
  g_return_val_if_fail (val >= 0, FALSE);
  return g_atomic_int_get (arc) == val;
}
