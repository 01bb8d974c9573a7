/* mitogen-boot-bytecode-store.c: compiled runtimes kept on disk
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "mitogen-boot-bytecode-store-private.h"

/* A file: this tag, the SHA-256 of the rest, then what the helper
 * printed (the magic number, then the compressed code objects). The
 * helper writes it (child/compile.py). */
#define FILE_TAG "MGLBC1\n"
#define FILE_TAG_SIZE (sizeof FILE_TAG)   /* with its NUL */
#define DIGEST_SIZE 32
#define HEADER_SIZE (FILE_TAG_SIZE + DIGEST_SIZE)
/* Named for what goes into the key: a new layout gets new names. */
#define KEY_TAG "mitogen-glib bytecode 1"

/* Whether @st, a file or directory, can be trusted with code we send:
 * ours, and nobody else may write it. */
static gboolean
is_private (const struct stat *st)
{
  return st->st_uid == geteuid () && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* The nearest ancestor of @path (absolute) that exists, if @path does not. */
static char *
nearest_existing_ancestor (const char  *path,
                           struct stat *st)
{
  g_autofree char *current = g_strdup (path);

  for (;;)
    {
      char *parent = g_path_get_dirname (current);

      g_free (current);
      current = parent;
      if (g_stat (current, st) == 0)
        return g_steal_pointer (&current);
      if (errno != ENOENT || g_str_equal (current, "/"))
        return NULL;
    }
}

/* Makes @directory if it is missing, where this user may (a program run
 * as root with another user's $XDG_CACHE_HOME makes nothing in their
 * home), then checks it is private. */
static gboolean
ensure_private_directory (const char  *directory,
                          GError     **error)
{
  struct stat st;

  if (!g_path_is_absolute (directory))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_FILENAME,
                   "The cache directory %s is not an absolute path", directory);
      return FALSE;
    }
  if (g_stat (directory, &st) != 0)
    {
      int saved = errno;
      g_autofree char *ancestor = NULL;

      if (saved == ENOENT)
        ancestor = nearest_existing_ancestor (directory, &st);
      if (ancestor == NULL)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       "Could not use the cache directory %s: %s", directory, g_strerror (saved));
          return FALSE;
        }
      if (!S_ISDIR (st.st_mode) || st.st_uid != geteuid ())
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                       "Not making the cache directory %s: %s is not this user's directory",
                       directory, ancestor);
          return FALSE;
        }
      if (g_mkdir_with_parents (directory, 0700) != 0 || g_stat (directory, &st) != 0)
        {
          saved = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       "Could not make the cache directory %s: %s", directory, g_strerror (saved));
          return FALSE;
        }
    }
  if (!S_ISDIR (st.st_mode) || !is_private (&st))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "The cache directory %s is not a directory of this user's that only it may write",
                   directory);
      return FALSE;
    }
  /* A read-only one (a read-only mount): no helper run for a file that
   * could not be written. */
  if (access (directory, W_OK) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "Could not write to the cache directory %s: %s", directory, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

char *
_mitogen_bytecode_store_path (const char  *directory,
                              const char  *python,
                              GBytes      *runtime,
                              GError     **error)
{
  g_autoptr(GChecksum) key = NULL;
  g_autofree char *resolved = NULL;
  g_autofree char *identity = NULL;
  g_autofree char *name = NULL;
  struct stat st;

  g_return_val_if_fail (directory != NULL, NULL);
  g_return_val_if_fail (python != NULL, NULL);
  g_return_val_if_fail (runtime != NULL, NULL);

  if (!ensure_private_directory (directory, error))
    return NULL;
  resolved = g_find_program_in_path (python);
  if (resolved == NULL || g_stat (resolved, &st) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "The interpreter %s was not found", python);
      return NULL;
    }
  /* The file the path resolves to: an upgrade replaces it (new inode,
   * size or time), and with it, perhaps, the magic number. */
  identity = g_strdup_printf ("%ju:%ju:%jd:%jd.%09ld", (uintmax_t) st.st_dev, (uintmax_t) st.st_ino,
                              (intmax_t) st.st_size, (intmax_t) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);

  key = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (key, (const guchar *) KEY_TAG, sizeof KEY_TAG);
  g_checksum_update (key, g_bytes_get_data (runtime, NULL), g_bytes_get_size (runtime));
  g_checksum_update (key, (const guchar *) "", 1);
  g_checksum_update (key, (const guchar *) python, strlen (python) + 1);
  g_checksum_update (key, (const guchar *) resolved, strlen (resolved) + 1);
  g_checksum_update (key, (const guchar *) identity, strlen (identity) + 1);
  name = g_strconcat (g_checksum_get_string (key), ".bytecode", NULL);
  return g_build_filename (directory, name, NULL);
}

static void
digest_of (const guint8 *data,
           gsize         size,
           guint8        digest[DIGEST_SIZE])
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize length = DIGEST_SIZE;

  g_checksum_update (checksum, data, size);
  g_checksum_get_digest (checksum, digest, &length);
}

GBytes *
_mitogen_bytecode_store_read (const char  *path,
                              gsize        max_size,
                              GError     **error)
{
  g_autofree guint8 *contents = NULL;
  guint8 digest[DIGEST_SIZE];
  const guint8 *payload;
  struct stat st;
  gsize size, got = 0;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);

  /* No symbolic link followed; O_NONBLOCK: a FIFO put there cannot make
   * the open wait (it fails the regular-file check below). */
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "Could not open %s: %s", path, g_strerror (saved));
      return NULL;
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || !is_private (&st))
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "%s is not a file of this user's that only it may write", path);
      return NULL;
    }
  if (st.st_size <= (off_t) HEADER_SIZE || (guint64) st.st_size > HEADER_SIZE + (guint64) max_size)
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s has an unlikely size (%jd bytes)", path, (intmax_t) st.st_size);
      return NULL;
    }
  size = st.st_size;
  contents = g_malloc (size);
  while (got < size)
    {
      ssize_t n = read (fd, contents + got, size - got);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += n;
    }
  close (fd);

  payload = contents + HEADER_SIZE;
  if (got == size)
    digest_of (payload, size - HEADER_SIZE, digest);
  /* The helper's output starts with a magic number: two bytes, "\r\n". */
  if (got != size || memcmp (contents, FILE_TAG, FILE_TAG_SIZE) != 0 ||
      memcmp (contents + FILE_TAG_SIZE, digest, DIGEST_SIZE) != 0 ||
      size - HEADER_SIZE <= 4 || payload[2] != '\r' || payload[3] != '\n')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s is not a whole compiled runtime", path);
      return NULL;
    }
  return g_bytes_new (payload, size - HEADER_SIZE);
}
