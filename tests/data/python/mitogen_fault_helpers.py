"""Functions the fault tests (tests/test-faults.c) call in children. Like
mitogen_test_helpers, this module exists only on the master's search path.
Every function works in mitogen-glib's own child runtime and in the
upstream Mitogen child."""

import os
import time

import mitogen.core

# Not a frame: the first two bytes are not the "MI" magic, and there are
# more than a header's worth (26 bytes), so the master sees it at once.
GARBAGE = b"\xde\xad\xbe\xef this is not a Mitogen frame header \xff\x00" * 4


def pid():
    return os.getpid()


def size_of(data):
    """The master sends a large argument; the reply is small."""
    return len(data)


def big_result(size):
    """A large reply: the master receives `size` bytes."""
    return b"x" * size


def close_stdio(pause):
    """Closes fds 0, 1 and 2. The runtime moved its connection off them
    at start-up, so the context must keep working."""
    for fd in (0, 1, 2):
        os.close(fd)
    time.sleep(pause)
    return True


def _transport_fd(econtext):
    # mitogen-glib's runtime keeps its write end in mitogen.core._wfd;
    # the upstream child in its parent stream's transmit side.
    fd = getattr(mitogen.core, "_wfd", None)
    if fd is None:
        fd = econtext.stream.transmit_side.fd
    return fd


@mitogen.core.takes_econtext
def write_garbage_to_transport(pause, econtext):
    """Writes bytes that are no frame straight onto the connection to the
    master, then sleeps: the reply never comes, the master must close the
    stream."""
    os.write(_transport_fd(econtext), GARBAGE)
    time.sleep(pause)
    return True


def write_garbage_to_stdio(marker):
    """Raw bytes on fds 1 and 2 (after start-up: the runtime's log pipes):
    invalid UTF-8, a NUL, control bytes, a line without its newline."""
    junk = b"\xff\xfe\x00\x1b[2J\xc3\x28 " + marker.encode() + b" \xed\xa0\x80"
    os.write(1, junk + b"\n" + junk)
    os.write(2, junk + b"\r\n" + b"\x00" * 64 + b"\n")
    return True
