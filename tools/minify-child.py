#!/usr/bin/env python3
"""Shrink the Python child runtime before it is embedded in the library.

Removes comments, docstrings and other string-only statements, blank lines'
content and indentation width (one space per level), and joins each logical
line onto one physical line.  Line numbers are preserved (removed lines
become empty lines, which cost almost nothing once compressed), so a
traceback from the minified runtime points at the right line of the source.

Usage: minify-child.py INPUT --output OUT [--compress]

With --compress, OUT holds the zlib (level 9) compression of the minified
text instead of the text.  With --split BYTES, a form feed (a line's
whitespace to Python) starts a new part at a top-level statement once the
current part holds BYTES characters, and after the string statement
'--split--' (the runtime's loader compiles one part at a time).  Runs on
any Python 3.6 or newer.
"""

import argparse
import io
import sys
import tokenize
import zlib

_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
         tokenize.DEDENT, tokenize.ENDMARKER,
         getattr(tokenize, 'ENCODING', -1)}
_FSTRING_START = getattr(tokenize, 'FSTRING_START', None)
_FSTRING_END = getattr(tokenize, 'FSTRING_END', None)


def _is_word(ch):
    return ch.isalnum() or ch == '_'


def _source_span(lines, start, end):
    """Text of the source between two (row, col) token positions."""
    (srow, scol), (erow, ecol) = start, end
    if srow == erow:
        return lines[srow - 1][scol:ecol]
    parts = [lines[srow - 1][scol:]]
    parts.extend(lines[srow:erow - 1])
    parts.append(lines[erow - 1][:ecol])
    return ''.join(parts)


def _logical_lines(source):
    """Yield (row, depth, [(type, text)]) for every logical line."""
    lines = source.splitlines(True)
    depth = 0
    toks = []
    row = None
    fstring_depth = 0
    fstring_start = None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        ttype = tok[0]
        if fstring_depth:
            # Python 3.12+ tokenizes f-strings piecewise: copy them verbatim.
            if ttype == _FSTRING_START:
                fstring_depth += 1
            elif ttype == _FSTRING_END:
                fstring_depth -= 1
                if not fstring_depth:
                    toks.append((tokenize.STRING,
                                 _source_span(lines, fstring_start, tok[3])))
            continue
        if ttype == tokenize.INDENT:
            depth += 1
        elif ttype == tokenize.DEDENT:
            depth -= 1
        elif ttype == tokenize.NEWLINE or ttype == tokenize.ENDMARKER:
            if toks:
                yield row, depth, toks
            toks = []
            row = None
        elif ttype == _FSTRING_START:
            if row is None:
                row = tok[2][0]
            fstring_depth = 1
            fstring_start = tok[2]
        elif ttype == tokenize.ERRORTOKEN and not tok[1].strip():
            continue
        elif ttype not in _SKIP:
            if ttype == tokenize.ERRORTOKEN:
                raise SyntaxError('cannot tokenize %r at line %d'
                                  % (tok[1], tok[2][0]))
            if row is None:
                row = tok[2][0]
            toks.append((ttype, tok[1]))


def _render(toks):
    out = []
    prev_type = prev_text = None
    for ttype, text in toks:
        if prev_text is not None:
            a, b = prev_text[-1], text[0]
            if (_is_word(a) and (_is_word(b) or b in '\'"')) or \
                    (prev_type == tokenize.NUMBER and b == '.') or \
                    (prev_type == tokenize.STRING and ttype == tokenize.STRING):
                out.append(' ')
        out.append(text)
        prev_type, prev_text = ttype, text
    return ''.join(out)


SPLIT_MARKER = "'--split--'"
_CONTINUATIONS = ('else', 'elif', 'except', 'finally')


def minify(source, split=0):
    kept = []
    for row, depth, toks in _logical_lines(source):
        if all(ttype == tokenize.STRING for ttype, _ in toks):
            if split and depth == 0 and _render(toks) == SPLIT_MARKER:
                kept.append((row, depth, None))
            continue    # docstring or other string-only statement
        kept.append((row, depth, _render(toks)))

    out = []
    cur = 1
    part = 0            # characters in the current part
    force = False
    for i, (row, depth, text) in enumerate(kept):
        if text is None:
            force = True
            continue
        if text.endswith(':') and (i + 1 == len(kept) or
                                   kept[i + 1][1] <= depth):
            text += 'pass'     # a block emptied by a removed docstring
        out.append('\n' * (row - cur))
        if split and depth == 0 and (force or part >= split) and \
                not text.startswith(_CONTINUATIONS) and \
                not (out and _last_line(out).startswith('@')):
            out.append('\f')
            part = force = 0
        out.append(' ' * depth + text + '\n')
        part += len(text) + depth + 1
        cur = row + 1 + text.count('\n')
    return ''.join(out)


def _last_line(out):
    for chunk in reversed(out):
        if chunk.strip('\n'):
            return chunk.rstrip('\n').rsplit('\n', 1)[-1].lstrip('\f')
    return ''


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('input')
    parser.add_argument('--output', '-o', required=True)
    parser.add_argument('--compress', action='store_true',
                        help='write zlib-compressed (level 9) output')
    parser.add_argument('--split', type=int, default=0, metavar='BYTES',
                        help='split into parts of about BYTES characters')
    args = parser.parse_args(argv)
    with open(args.input, encoding='utf-8') as fp:
        source = fp.read()
    text = minify(source, args.split)
    compile(text, args.input, 'exec')     # never ship something broken
    line = 1
    for part in text.split('\f'):        # nor a part that does not compile
        compile('\n' * (line - 1) + part, args.input, 'exec')
        line += part.count('\n')
    data = text.encode('utf-8')
    if args.compress:
        data = zlib.compress(data, 9)
    with open(args.output, 'wb') as fp:
        fp.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
