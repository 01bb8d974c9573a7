#!/usr/bin/python3
"""Run a command on a fresh pseudo-terminal and answer its prompts.

A tiny "expect" for the mitogen-glib system tests (no sshpass/expect needed):

    ptyrun.py [--timeout S] [--expect REGEX --send TEXT]... -- COMMAND ARGS...

The command becomes a session leader whose controlling terminal is the pty,
so ssh, sudo, su and doas prompt on it as they would for a person. Each
--expect/--send pair is used in order: once REGEX (Python syntax, searched in
the output received since the previous answer) matches, TEXT plus a newline
is typed. TEXT "@env:NAME" types the value of environment variable NAME, so
passwords never appear in argv.

Everything the command wrote to the terminal (prompts included, with the
terminal's \\r\\n line ends) is copied to stdout. Exit status: the command's,
128+N if killed by signal N, 124 if it ran past --timeout (it is then
killed), 125 if an --expect pattern was still waiting when the output ended.
"""
import argparse
import os
import pty
import re
import select
import signal
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--timeout', type=float, default=20.0)
    ap.add_argument('--expect', action='append', default=[])
    ap.add_argument('--send', action='append', default=[])
    ap.add_argument('command', nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command
    if cmd and cmd[0] == '--':
        cmd = cmd[1:]
    if not cmd:
        ap.error('no command')
    if len(args.expect) != len(args.send):
        ap.error('--expect and --send must come in pairs')
    steps = []
    for pattern, text in zip(args.expect, args.send):
        if text.startswith('@env:'):
            text = os.environ[text[5:]]
        steps.append((re.compile(pattern), text))

    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        except OSError as e:
            os.write(2, ('ptyrun: %s: %s\n' % (cmd[0], e.strerror)).encode())
        os._exit(127)

    out = bytearray()
    since = 0
    deadline = time.monotonic() + args.timeout
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: every writer closed the terminal
            data = b''
        if not data:
            break
        out += data
        if steps:
            text = out[since:].decode('utf-8', 'replace')
            if steps[0][0].search(text):
                os.write(fd, steps[0][1].encode() + b'\n')
                steps.pop(0)
                since = len(out)
    if timed_out:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    sys.stdout.buffer.write(bytes(out))
    sys.stdout.flush()
    if timed_out:
        sys.stderr.write('ptyrun: timed out after %gs\n' % args.timeout)
        return 124
    if steps:
        sys.stderr.write('ptyrun: never saw %r\n' % steps[0][0].pattern)
        return 125
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == '__main__':
    sys.exit(main())
