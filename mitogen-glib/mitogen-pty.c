/* mitogen-pty.c: pseudo-terminals for children that prompt
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mitogen-error.h"
#include "mitogen-pty-private.h"

gboolean
_mitogen_pty_open (int     *out_master,
                   int     *out_slave,
                   GError **error)
{
  struct termios attrs;
  char name[128];
  int master;
  int slave;
  int saved;

  master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    goto fail;
  if (grantpt (master) != 0 || unlockpt (master) != 0 ||
      ptsname_r (master, name, sizeof name) != 0)
    {
      saved = errno;
      close (master);
      errno = saved;
      goto fail;
    }
  /* O_NOCTTY: the child claims it with TIOCSCTTY, never this process. */
  slave = open (name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0)
    {
      saved = errno;
      close (master);
      errno = saved;
      goto fail;
    }

  if (tcgetattr (slave, &attrs) == 0)
    {
      cfmakeraw (&attrs);
      /* cfmakeraw() already clears these; spelled out because a password
       * must never be echoed back. */
      attrs.c_lflag &= ~(ECHO | ECHONL | ECHOE | ECHOK);
      attrs.c_cc[VMIN] = 1;
      attrs.c_cc[VTIME] = 0;
      tcsetattr (slave, TCSANOW, &attrs);
    }

  g_unix_set_fd_nonblocking (master, TRUE, NULL);
  *out_master = master;
  *out_slave = slave;
  return TRUE;

fail:
  saved = errno;
  g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_CONNECT,
               "Could not create a pseudo-terminal: %s", g_strerror (saved));
  return FALSE;
}

gboolean
_mitogen_pty_child_setup (int fd)
{
  if (setsid () < 0)
    return FALSE;
  return ioctl (fd, TIOCSCTTY, 0) == 0;
}

void
_mitogen_pty_child_detach (void)
{
  setsid ();
}
