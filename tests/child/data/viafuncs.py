"""Functions the intermediate-mode tests call in children (served by the
fake master, and by intermediates from their caches)."""

import os
import sys
import time

import mitogen.core

VALUE = 'initial'


def set_value(value):
    global VALUE
    VALUE = value
    return VALUE


def get_value():
    return VALUE


def identity():
    return {'pid': os.getpid(), 'ppid': os.getppid(), 'uid': os.getuid(),
            'context_id': mitogen.context_id,
            'parent_ids': list(mitogen.parent_ids)}


def setenv(name, value):
    os.environ[name] = value
    return True


def loaded(names):
    return [name in sys.modules for name in names]


def cached(name):
    """Whether this context's importer holds name (it was sent here)."""
    return name in mitogen.core._importer._cache


def routes():
    parent = sys.modules.get('mitogen.parent')
    hub = parent and parent._hub
    return sorted(hub.routes) if hub else []


def say(text):
    print(text)
    return True


def echo(value):
    return value


def sleep(seconds):
    time.sleep(seconds)
    return seconds


def import_and_use(name, attr):
    module = __import__(name, fromlist=['x'])
    return getattr(module, attr)


def forge(dst, src, auth, handle, data):
    """Write a frame with made-up ids straight onto the transport."""
    core = mitogen.core
    core._write(core._HDR.pack(core.HEADER_MAGIC, dst, src, auth, handle, 0,
                               len(data)), data)
    return True


def send_raw(dst, handle, data):
    mitogen.core._router.route(mitogen.core.Message(dst_id=dst, handle=handle,
                                                    data=data))
    return True


def prompt_events(method, chunks, token=None, command=None):
    """mitogen.parent.PromptParser's events for chunks of bytes."""
    import mitogen.parent
    parser = mitogen.parent.PromptParser(method, token, command)
    events = []
    for chunk in chunks:
        parser.feed(chunk)
        while True:
            event = parser.next()
            if event is None:
                break
            events.append(list(event))
    event = parser.flush()
    if event is not None:
        events.append(list(event))
    return events
