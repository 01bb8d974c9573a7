"""Child-side helpers of the side-by-side benchmark (bench/bench.py).

Children import this module from their master through module forwarding:
mitogen-glib's own child runtime, the upstream Mitogen 0.3.3 child driven by
mitogen-glib, and Mitogen 0.3.3's child driven by its own Python master
(bench/peers/mitogen_peer.py) all load this same file.  It must therefore
parse as Python 3.6 and use only the mitogen.core API both runtimes have:
takes_router, Receiver(router), Receiver.to_sender(), Receiver.get(timeout=)
.unpickle(), Receiver.close(), Sender.send() and Sender.close().

SPDX-License-Identifier: BSD-3-Clause
"""

import os

import mitogen.core

# Every wait for a message from the master gives up after this many seconds,
# so that a broken master cannot leave a child blocked forever.
TIMEOUT = 120.0

# The random bytes make_random() built (set-up, not timed).
_DATA = b''


def pid_rss():
    """Return (pid, VmRSS in KiB) of this process."""
    rss = None
    with open('/proc/self/status') as fp:
        for line in fp:
            if line.startswith('VmRSS:'):
                rss = int(line.split()[1])
                break
    return os.getpid(), rss


def make_random(n):
    """Build n random bytes once and keep them for produce() and
    stream_source().  Returns n."""
    global _DATA
    if len(_DATA) != n:
        _DATA = b''
        _DATA = os.urandom(n)
        # Read it once now: the kernel wrote these pages, and on some VMs
        # (shadow page tables) the first user-space touch of each page costs
        # ~10 us, which would otherwise land in the timed part.
        _DATA.count(0)
    return n


def consume(data):
    """Bulk master->child as one call argument."""
    return len(data)


def produce():
    """Bulk child->master as one call result: the bytes of make_random()."""
    return _DATA


def _chunk_at(offset, size):
    """size bytes of _DATA starting at offset, wrapping round if the
    cached data is shorter than the stream."""
    n = len(_DATA)
    start = offset % n
    if start + size <= n:
        return _DATA[start:start + size]
    parts = []
    while size > 0:
        piece = _DATA[start:start + size]
        parts.append(piece)
        size -= len(piece)
        start = 0
    return b''.join(parts)


@mitogen.core.takes_router
def stream_sink(ack_sender, total, router=None):
    """Master->child streaming.

    Sends the master a Sender for a new Receiver as the first message on
    ack_sender, then receives bytes chunks there and, after each one, sends
    back the running byte count.  Returns total once it has it all."""
    receiver = mitogen.core.Receiver(router)
    try:
        ack_sender.send(receiver.to_sender())
        count = 0
        while count < total:
            chunk = receiver.get(timeout=TIMEOUT).unpickle()
            count += len(chunk)
            ack_sender.send(count)
    finally:
        receiver.close()
    return total


@mitogen.core.takes_router
def stream_source(data_sender, total, chunk, window, router=None):
    """Child->master streaming.

    Sends the master a Sender for a new (acknowledgement) Receiver as the
    first message on data_sender, then total bytes in chunks of chunk bytes
    (slices of the make_random() data), with never more than window chunks
    the master has not acknowledged.  The master answers each chunk with the
    running byte count it has received.  Returns total once every chunk is
    acknowledged."""
    if not _DATA:
        make_random(min(total, 64 << 20) or 1)
    acks = mitogen.core.Receiver(router)
    try:
        data_sender.send(acks.to_sender())
        sent = 0
        chunks_sent = 0
        chunks_acked = 0
        acked = 0
        while sent < total:
            while chunks_sent - chunks_acked >= window:
                acked = acks.get(timeout=TIMEOUT).unpickle()
                chunks_acked += 1
            size = min(chunk, total - sent)
            data_sender.send(_chunk_at(sent, size))
            sent += size
            chunks_sent += 1
        while chunks_acked < chunks_sent:
            acked = acks.get(timeout=TIMEOUT).unpickle()
            chunks_acked += 1
        if acked != total:
            raise ValueError('master acknowledged %r bytes of %r'
                             % (acked, total))
    finally:
        acks.close()
    return total
