# mitogen-glib bytecode helper: the C master runs it as
# `PYTHON -S -X no_debug_ranges -c <this file> [FILE]` with the compressed
# runtime (runtime.py.z) on stdin, once per interpreter it boots children
# with on its own machine.  It compiles the runtime's eager parts exactly as
# the runtime's loader would (same split, file name and line offsets) and
# writes this interpreter's magic number, then the code objects, marshalled
# and zlib-compressed.  The master appends that to the runtime it sends
# (README.md, "Bytecode"); a child whose magic differs compiles the source.
# With FILE (in the master's cache directory), the output is first kept
# there for later programs: b'MGLBC1\n\0', its SHA-256, then itself, mode
# 0600, written aside and renamed over.  The helper writes it, not the
# master, which may have exited by then (a program done after one child).
# Python 3.6+, standard library only.
import marshal
import os
import sys
import zlib

try:
    import signal
    signal.alarm(60)    # never lingers, even orphaned
except (ImportError, AttributeError):
    pass

parts = zlib.decompress(sys.stdin.buffer.read()).split(b'\f')
codes = []
line = 0
for part in parts:
    if line:
        codes.append(compile(b'\n' * line + part, '<mitogen-glib>', 'exec',
                             dont_inherit=True))
    line += part.count(b'\n')
out = (__import__('_frozen_importlib_external').MAGIC_NUMBER +
       zlib.compress(marshal.dumps(codes), 9))
if len(sys.argv) > 1:
    tmp = '%s.%d.tmp' % (sys.argv[1], os.getpid())
    try:
        import hashlib
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'wb') as f:
            f.write(b'MGLBC1\n\0' + hashlib.sha256(out).digest() + out)
        os.replace(tmp, sys.argv[1])
    except Exception:
        try:
            os.unlink(tmp)
        except OSError:
            pass
sys.stdout.buffer.write(out)
