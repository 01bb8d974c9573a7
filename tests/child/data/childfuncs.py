"""Functions the tests call in the child.  The fake master serves this
module: it is not on the child's sys.path."""

import hashlib
import logging
import os
import sys
import threading
import time

import mitogen.core

RECORDED = []


def echo(value):
    return value


def types_of(*args, **kwargs):
    return ([type(a).__name__ for a in args],
            sorted((k, type(v).__name__) for k, v in kwargs.items()))


def boom(text='boom'):
    raise ValueError(text)


def record(value):
    RECORDED.append(value)
    return value


def recorded():
    return list(RECORDED)


class Klass(object):
    factor = 3

    @classmethod
    def scaled(cls, value):
        return value * cls.factor

    @staticmethod
    def plus_one(value):
        return value + 1


@mitogen.core.takes_econtext
def econtext_info(econtext):
    return {
        'context_id': econtext.context_id,
        'parent_ids': list(econtext.parent_ids),
        'parent': econtext.parent,
        'mitogen.context_id': mitogen.context_id,
        'mitogen.parent_id': mitogen.parent_id,
        'is_master': mitogen.is_master,
        'core_module': mitogen.core.__name__,
    }


@mitogen.core.takes_router
def new_receiver_handle(router):
    recv = mitogen.core.Receiver(router)
    handle = recv.handle
    recv.close()
    return handle


def stream_to(sender, count):
    for i in range(count):
        sender.send(i * i)
    sender.close()
    return 'done'


@mitogen.core.takes_router
def sum_from_master(sender, count, router):
    """Send the master a Sender for a new Receiver, then add up what it
    sends there."""
    recv = mitogen.core.Receiver(router)
    sender.send(recv.to_sender())
    total = 0
    for _ in range(count):
        total += recv.get(timeout=10).unpickle()
    recv.close()
    return total


@mitogen.core.takes_router
def big_digests_from_master(sender, count, router):
    """Send the master a Sender for a new Receiver, then take count big
    messages from it, holding each before unpickling any (the frames they
    were read into must not be reused meanwhile), then count more, each
    unpickled and dropped as it comes (their frames may be: the master sends
    them once told the first ones are done with).  Returns the
    SHA-256 of every payload, in order."""
    recv = mitogen.core.Receiver(router)
    sender.send(recv.to_sender())
    held = [recv.get(timeout=10) for _ in range(count)]
    digests = [hashlib.sha256(msg.unpickle()).hexdigest() for msg in held]
    del held
    sender.send(len(digests))    # the master sends the rest now
    for _ in range(count):
        data = recv.get(timeout=10).unpickle()
        digests.append(hashlib.sha256(data).hexdigest())
    recv.close()
    return digests


@mitogen.core.takes_router
def receiver_timeout(router):
    recv = mitogen.core.Receiver(router)
    t0 = time.monotonic()
    try:
        recv.get(timeout=0.2)
    except mitogen.core.TimeoutError:
        return 'timeout after %.1f' % (time.monotonic() - t0)
    return 'no timeout'


@mitogen.core.takes_econtext
def send_to_master(handle, value, econtext):
    econtext.master.send(mitogen.core.Message.pickled(value, handle=handle))
    return True


@mitogen.core.takes_router
def wait_respondent_gone(sender, context_id, router):
    ctx = router.context_by_id(context_id)
    recv = mitogen.core.Receiver(router, respondent=ctx)
    sender.send('ready')
    try:
        recv.get(timeout=10)
    except mitogen.core.ChannelError as e:
        return str(e)
    return 'no ChannelError'


def say(text):
    print(text)
    sys.stderr.write('err: %s\n' % text)
    return len(text)


def log_warning(text):
    logging.getLogger('childfuncs').warning('%s', text)
    return True


def give_lock():
    return threading.Lock()


def give_set():
    return {1, 2}


def sleep(seconds):
    time.sleep(seconds)
    return seconds


def import_package():
    import servedpkg.sub
    return servedpkg.sub.value(), servedpkg.__path__, servedpkg.sub.__file__


def import_related():
    import relmod
    return relmod.value()


def import_missing():
    import no_such_module_for_mitogen_tests
    return no_such_module_for_mitogen_tests


def module_file():
    return __file__


def in_thread_import():
    """Import a served module from a second thread while the main thread
    waits for it."""
    result = []
    thread = threading.Thread(target=lambda: result.append(
        __import__('threadmod').VALUE))
    thread.start()
    thread.join(20)
    return result


def fork_and_log():
    """A forked copy of the child logs and prints: none of it may reach the
    transport (it would interleave with the parent's frames)."""
    if not hasattr(os, 'register_at_fork'):
        return 'skip'       # Python 3.6: no fork hook
    pid = os.fork()
    if pid == 0:
        try:
            logging.getLogger('childfuncs').warning('from the fork')
            try:
                mitogen.core.Receiver(mitogen.core.econtext.router).get(
                    timeout=0.1)
            except mitogen.core.StreamError:
                pass
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return 'forked'


def memo_indices_after(count):
    """Parse count payloads with memo opcodes (protocol 4 as Python peers
    write it: MEMOIZE) and count without, alternately, through the
    runtime's _loads; then one more memoizing payload through each
    unpickler kept for reuse.  Returns the memo indices that last payload
    was stored at."""
    import pickle
    memoizing = pickle.dumps(('a', 'b'), 4)
    plain = b'\x80\x04K\x07.'
    for _ in range(count):
        assert mitogen.core._loads(memoizing) == ('a', 'b')
        assert mitogen.core._loads(plain) == 7
    indices = []
    idle = mitogen.core._idle[:]
    for pair in idle:
        mitogen.core._idle[:] = [pair]     # the one _loads() takes next
        assert mitogen.core._loads(memoizing) == ('a', 'b')
        indices.extend(pair[0].memo.copy())
    del mitogen.core._idle[:]
    return sorted(indices)


def watched_after_64th_hold():
    """Hold a 64th reply (an empty frame) while 63 are held and the watcher
    has just stopped watching, as it leaves things after its 2 ms; that
    reply writes them all.  Returns whether a next held reply would find
    the watcher watching (it must not: nothing is held)."""
    core = mitogen.core
    with core._wlock:
        core._held[:] = [b''] * 63
        core._watched = False
    core._hold(b'')
    assert not core._held
    return core._watched
