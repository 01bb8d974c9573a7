/* bench-floors.c: what no library on this machine can beat, measured in the
 * same run as the libraries (bench/bench.py): a pipe round trip between two
 * processes, pipe bandwidth, and what a bare python3 costs to start and to
 * keep. Same runner contract and JSON lines as mitogen-glib-bench.
 *
 * Usage: bench-floors METRIC [--count N] [--children N] [--size BYTES]
 *        [--python PATH]
 *   METRIC: pipe-rtt, design-rtt, design-via3-rtt, pipe-bandwidth, spawn,
 *           spawn-parallel, bare-rss
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#define _GNU_SOURCE  /* pipe2 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#define WRITE_SIZE (64 * 1024)

extern char **environ;

static int count = 2000;
static int children = 50;
static gint64 size = 256 * 1024 * 1024;
static char *python = NULL;

static G_NORETURN void
die (const char *what)
{
  g_printerr ("bench-floors: %s: %s\n", what, g_strerror (errno));
  exit (EXIT_FAILURE);
}

static void
read_exactly (int    fd,
              void  *buffer,
              gsize  length)
{
  gsize done = 0;

  while (done < length)
    {
      ssize_t n = read (fd, (char *) buffer + done, length - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        die ("read");
      done += n;
    }
}

static void
write_exactly (int         fd,
               const void *buffer,
               gsize       length)
{
  gsize done = 0;

  while (done < length)
    {
      ssize_t n = write (fd, (const char *) buffer + done, length - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        die ("write");
      done += n;
    }
}

/* Nanoseconds: the pinned pipe round trip is a few microseconds. */
static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
print_samples (const char *metric,
               GArray     *samples)
{
  g_autoptr(GString) line = g_string_new (NULL);

  g_string_append_printf (line, "{\"metric\": \"%s\", \"samples\": [", metric);
  for (guint i = 0; i < samples->len; i++)
    g_string_append_printf (line, "%s%.3f", i ? ", " : "", g_array_index (samples, double, i));
  g_string_append (line, "]}\n");
  g_print ("%s", line->str);
}

/* One byte there and back between two processes: two wake-ups, the least
 * any master/child call can cost. */
static void
measure_pipe_rtt (void)
{
  g_autoptr(GArray) samples = g_array_new (FALSE, FALSE, sizeof (double));
  int there[2], back[2];
  char byte = 'x';
  pid_t pid;

  if (pipe (there) < 0 || pipe (back) < 0)
    die ("pipe");
  pid = fork ();
  if (pid < 0)
    die ("fork");
  if (pid == 0)
    {
      close (there[1]);
      close (back[0]);
      while (read (there[0], &byte, 1) == 1)
        write_exactly (back[1], &byte, 1);
      _exit (0);
    }
  close (there[0]);
  close (back[1]);
  for (int i = 0; i < count + 100; i++)
    {
      gint64 start = now_ns ();
      double us;

      write_exactly (there[1], &byte, 1);
      read_exactly (back[0], &byte, 1);
      us = (now_ns () - start) / 1e3;
      if (i >= 100)
        g_array_append_val (samples, us);
    }
  close (there[1]);
  waitpid (pid, NULL, 0);
  print_samples ("pipe_rtt_us", samples);
}

/* The floor of mitogen-glib's fixed thread design (DESIGN.md: every fd
 * lives in the broker's thread): the calling thread writes a call-sized
 * frame itself and sleeps; a second thread, the broker's part, polls the
 * socket, reads the reply and wakes the caller; the child is python3
 * echoing what it reads, the least any Python child does. Three wake-ups
 * a round trip where pipe-rtt has two, and nothing else: no framing,
 * no pickling, no main loop. design-via3-rtt puts two python3 relays in
 * front of the echo (local -> local -> local): each polls both its sockets
 * and copies what it reads to the other side, the least a Python hop
 * does. */
/* The size of a call to os.getpid() as mitogen-glib frames it. */
#define DESIGN_FRAME_SIZE 53

typedef struct
{
  int fd;
  GMutex lock;
  GCond cond;
  gboolean replied;
  gboolean gone;    /* the socket hit EOF or an error */
} DesignFloor;

static gpointer
design_floor_poller (gpointer data)
{
  DesignFloor *floor = data;
  char reply[256];
  gsize received = 0;

  for (;;)
    {
      struct pollfd pfd = { .fd = floor->fd, .events = POLLIN };
      ssize_t n;

      if (poll (&pfd, 1, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          die ("poll");
        }
      n = read (floor->fd, reply, sizeof reply);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          /* Done (measure_design_rtt shut the socket), or the child died. */
          g_mutex_lock (&floor->lock);
          floor->gone = TRUE;
          g_cond_signal (&floor->cond);
          g_mutex_unlock (&floor->lock);
          return NULL;
        }
      /* A reply is whole once all its bytes are in, however they came. */
      received += n;
      if (received < DESIGN_FRAME_SIZE)
        continue;
      received -= DESIGN_FRAME_SIZE;
      g_mutex_lock (&floor->lock);
      floor->replied = TRUE;
      g_cond_signal (&floor->cond);
      g_mutex_unlock (&floor->lock);
    }
}

/* python3 running @program with @up as its fds 0 and 1 and, if not -1,
 * @down as its fd 3. */
static pid_t
spawn_hop (const char *program,
           int         up,
           int         down)
{
  char *argv[] = { python, (char *) "-c", (char *) program, NULL };
  posix_spawn_file_actions_t actions;
  pid_t pid;

  posix_spawn_file_actions_init (&actions);
  posix_spawn_file_actions_adddup2 (&actions, up, 0);
  posix_spawn_file_actions_adddup2 (&actions, up, 1);
  if (down >= 0)
    posix_spawn_file_actions_adddup2 (&actions, down, 3);
  errno = posix_spawnp (&pid, python, &actions, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&actions);
  if (errno != 0)
    die (python);
  return pid;
}

/* With @direct, no second thread: the caller reads the reply itself, as
 * a single-threaded master would (python-echo-rtt: what the Python child
 * alone costs beyond pipe-rtt). */
static void
measure_design_rtt (const char *metric,
                    int         relays,
                    gboolean    direct)
{
  static const char echo[] =
    "import os\n"
    "while 1:\n"
    " d=os.read(0,65536)\n"
    " if not d:break\n"
    " os.write(1,d)\n";
  static const char relay[] =
    "import os,select\n"
    "p=select.poll()\n"
    "p.register(0,select.POLLIN)\n"
    "p.register(3,select.POLLIN)\n"
    "o={0:3,3:1}\n"
    "while 1:\n"
    " for f,e in p.poll():\n"
    "  d=os.read(f,65536)\n"
    "  if not d:raise SystemExit\n"
    "  os.write(o[f],d)\n";
  static const char frame[DESIGN_FRAME_SIZE] = "MI";
  g_autoptr(GArray) samples = g_array_new (FALSE, FALSE, sizeof (double));
  g_autofree pid_t *pids = g_new (pid_t, relays + 1);
  DesignFloor floor = { 0 };
  GThread *poller;
  int up = -1;

  /* Each hop gets the far end of the pair before it; the master keeps
   * the near end of the first. */
  for (int hop = 0; hop <= relays; hop++)
    {
      int pair[2];

      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        die ("socketpair");
      if (hop == 0)
        floor.fd = pair[0];
      else
        {
          pids[hop - 1] = spawn_hop (relay, up, pair[0]);
          close (up);
          close (pair[0]);
        }
      up = pair[1];
    }
  pids[relays] = spawn_hop (echo, up, -1);
  close (up);
  g_mutex_init (&floor.lock);
  g_cond_init (&floor.cond);
  poller = direct ? NULL : g_thread_new ("design-floor", design_floor_poller, &floor);

  for (int i = 0; i < count + 100; i++)
    {
      gint64 start = now_ns ();
      double us;

      if (direct)
        {
          char reply[DESIGN_FRAME_SIZE];

          if (send (floor.fd, frame, sizeof frame, 0) != sizeof frame)
            die ("send");
          read_exactly (floor.fd, reply, sizeof reply);
          us = (now_ns () - start) / 1e3;
          if (i >= 100)
            g_array_append_val (samples, us);
          continue;
        }
      g_mutex_lock (&floor.lock);
      floor.replied = FALSE;
      g_mutex_unlock (&floor.lock);
      if (send (floor.fd, frame, sizeof frame, 0) != sizeof frame)
        die ("send");
      g_mutex_lock (&floor.lock);
      while (!floor.replied && !floor.gone)
        g_cond_wait (&floor.cond, &floor.lock);
      g_mutex_unlock (&floor.lock);
      if (!floor.replied)
        {
          errno = EPIPE;
          die ("the python3 echo is gone");
        }
      us = (now_ns () - start) / 1e3;
      if (i >= 100)
        g_array_append_val (samples, us);
    }
  shutdown (floor.fd, SHUT_WR);
  if (poller != NULL)
    g_thread_join (poller);
  close (floor.fd);
  for (int hop = 0; hop <= relays; hop++)
    waitpid (pids[hop], NULL, 0);
  g_mutex_clear (&floor.lock);
  g_cond_clear (&floor.cond);
  print_samples (metric, samples);
}

/* Writes of 64 KiB into a pipe that another process drains. */
static void
measure_pipe_bandwidth (void)
{
  g_autofree char *buffer = g_malloc0 (WRITE_SIZE);
  int data[2], done[2];
  char byte;
  pid_t pid;
  gint64 start;
  double seconds;

  if (pipe (data) < 0 || pipe (done) < 0)
    die ("pipe");
  pid = fork ();
  if (pid < 0)
    die ("fork");
  if (pid == 0)
    {
      gint64 left = size;

      close (data[1]);
      while (left > 0)
        {
          ssize_t n = read (data[0], buffer, WRITE_SIZE);

          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            _exit (1);
          left -= n;
        }
      write_exactly (done[1], "d", 1);
      _exit (0);
    }
  close (data[0]);
  close (done[1]);
  start = g_get_monotonic_time ();
  for (gint64 sent = 0; sent < size; sent += WRITE_SIZE)
    write_exactly (data[1], buffer, MIN (WRITE_SIZE, size - sent));
  read_exactly (done[0], &byte, 1);
  seconds = (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;
  waitpid (pid, NULL, 0);
  g_print ("{\"metric\": \"pipe_mb_per_s\", \"value\": %.1f, \"write_size\": %d}\n",
           size / seconds / 1e6, WRITE_SIZE);
}

typedef struct
{
  pid_t pid;
  int out;      /* the child's stdout */
  int in;       /* the child's stdin (bare-rss keeps it open) */
} Bare;

/* python3 that writes one byte as soon as it runs user code, then waits
 * for its stdin to close: the least a child interpreter costs. */
static Bare
spawn_bare (void)
{
  static const char program[] = "import os;os.write(1,b'x');os.read(0,1)";
  char *argv[] = { python, (char *) "-c", (char *) program, NULL };
  posix_spawn_file_actions_t actions;
  int out[2], in[2];
  Bare bare;

  if (pipe2 (out, O_CLOEXEC) < 0 || pipe2 (in, O_CLOEXEC) < 0)
    die ("pipe");
  posix_spawn_file_actions_init (&actions);
  posix_spawn_file_actions_adddup2 (&actions, in[0], 0);
  posix_spawn_file_actions_adddup2 (&actions, out[1], 1);
  errno = posix_spawnp (&bare.pid, python, &actions, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&actions);
  if (errno != 0)
    die (python);
  close (out[1]);
  close (in[0]);
  bare.out = out[0];
  bare.in = in[1];
  return bare;
}

static void
finish_bare (Bare *bare)
{
  close (bare->in);
  close (bare->out);
  waitpid (bare->pid, NULL, 0);
}

static void
measure_spawn (void)
{
  g_autoptr(GArray) samples = g_array_new (FALSE, FALSE, sizeof (double));

  for (int i = 0; i < count; i++)
    {
      gint64 start = g_get_monotonic_time ();
      Bare bare = spawn_bare ();
      char byte;
      double ms;

      read_exactly (bare.out, &byte, 1);
      ms = (g_get_monotonic_time () - start) / 1000.0;
      g_array_append_val (samples, ms);
      finish_bare (&bare);
    }
  print_samples ("spawn_ms", samples);
}

/* N bare interpreters started at once, until each has written its byte. */
static void
measure_spawn_parallel (void)
{
  g_autofree Bare *bares = g_new (Bare, children);
  g_autofree struct pollfd *fds = g_new (struct pollfd, children);
  gint64 start = g_get_monotonic_time ();
  int remaining = children;
  double ms;

  for (int i = 0; i < children; i++)
    {
      bares[i] = spawn_bare ();
      fds[i].fd = bares[i].out;
      fds[i].events = POLLIN;
    }
  while (remaining > 0)
    {
      if (poll (fds, children, -1) < 0 && errno != EINTR)
        die ("poll");
      for (int i = 0; i < children; i++)
        if (fds[i].fd >= 0 && fds[i].revents != 0)
          {
            char byte;

            read_exactly (fds[i].fd, &byte, 1);
            fds[i].fd = -1;
            remaining--;
          }
    }
  ms = (g_get_monotonic_time () - start) / 1000.0;
  for (int i = 0; i < children; i++)
    finish_bare (&bares[i]);
  g_print ("{\"metric\": \"spawn_parallel_ms\", \"value\": %.2f, \"children\": %d}\n", ms, children);
}

static void
measure_bare_rss (void)
{
  Bare bare = spawn_bare ();
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) bare.pid);
  g_autofree char *status = NULL;
  const char *line;
  char byte;

  read_exactly (bare.out, &byte, 1);
  g_usleep (G_USEC_PER_SEC / 2);
  if (!g_file_get_contents (path, &status, NULL, NULL) || (line = strstr (status, "\nVmRSS:")) == NULL)
    die ("reading the child's VmRSS");
  g_print ("{\"metric\": \"bare_rss_kib\", \"value\": %" G_GINT64_FORMAT "}\n",
           g_ascii_strtoll (line + strlen ("\nVmRSS:"), NULL, 10));
  finish_bare (&bare);
}

int
main (int    argc,
      char **argv)
{
  GOptionEntry entries[] = {
    { "count", 0, 0, G_OPTION_ARG_INT, &count, "Samples", "N" },
    { "children", 0, 0, G_OPTION_ARG_INT, &children, "Interpreters at once (spawn-parallel)", "N" },
    { "size", 0, 0, G_OPTION_ARG_INT64, &size, "Bytes (pipe-bandwidth)", "BYTES" },
    { "python", 0, 0, G_OPTION_ARG_FILENAME, &python, "Interpreter (default /usr/bin/python3)", "PATH" },
    { NULL }
  };
  g_autoptr(GOptionContext) parser = g_option_context_new ("METRIC - the floors of bench/bench.py");
  g_autoptr(GError) error = NULL;

  g_option_context_add_main_entries (parser, entries, NULL);
  if (!g_option_context_parse (parser, &argc, &argv, &error) || argc != 2)
    {
      g_printerr ("%s\n", error ? error->message : "usage: bench-floors METRIC [OPTION...]");
      return 2;
    }
  if (python == NULL)
    python = g_strdup ("/usr/bin/python3");
  if (count < 1 || children < 1 || size < 1)
    {
      g_printerr ("bench-floors: counts and sizes must be positive\n");
      return 2;
    }
  /* A child that exits early must not kill us with SIGPIPE. */
  signal (SIGPIPE, SIG_IGN);

  if (g_str_equal (argv[1], "pipe-rtt"))
    measure_pipe_rtt ();
  else if (g_str_equal (argv[1], "design-rtt"))
    measure_design_rtt ("design_rtt_us", 0, FALSE);
  else if (g_str_equal (argv[1], "python-echo-rtt"))
    measure_design_rtt ("python_echo_rtt_us", 0, TRUE);
  else if (g_str_equal (argv[1], "design-via3-rtt"))
    measure_design_rtt ("design_via3_rtt_us", 2, FALSE);
  else if (g_str_equal (argv[1], "pipe-bandwidth"))
    measure_pipe_bandwidth ();
  else if (g_str_equal (argv[1], "spawn"))
    measure_spawn ();
  else if (g_str_equal (argv[1], "spawn-parallel"))
    measure_spawn_parallel ();
  else if (g_str_equal (argv[1], "bare-rss"))
    measure_bare_rss ();
  else
    {
      g_printerr ("bench-floors: unknown metric %s\n", argv[1]);
      return 2;
    }
  return EXIT_SUCCESS;
}
