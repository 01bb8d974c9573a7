# mitogen-glib bytecode helper: the C master runs it as
# `PYTHON -S -X no_debug_ranges -c <this file>` with the compressed runtime
# (runtime.py.z) on stdin, once per interpreter it boots children with on
# its own machine.  It compiles the runtime's eager parts exactly as the
# runtime's loader would (same split, file name and line offsets) and
# writes this interpreter's magic number, then the code objects, marshalled
# and zlib-compressed.  The master appends that to the runtime it sends
# (README.md, "Bytecode"); a child whose magic differs compiles the source.
# Python 3.6+, standard library only.
import marshal
import sys
import zlib

parts = zlib.decompress(sys.stdin.buffer.read()).split(b'\f')
codes = []
line = 0
for part in parts:
    if line:
        codes.append(compile(b'\n' * line + part, '<mitogen-glib>', 'exec',
                             dont_inherit=True))
    line += part.count(b'\n')
sys.stdout.buffer.write(__import__('_frozen_importlib_external').MAGIC_NUMBER +
                        zlib.compress(marshal.dumps(codes), 9))
