#!/usr/bin/env python3
"""Shrink the Python child runtime before it is embedded in the library.

Removes comments, docstrings and other string-only statements, blank lines'
content and indentation width (one space per level), and joins each logical
line onto one physical line.  Line numbers are preserved (removed lines
become empty lines, which cost almost nothing once compressed), so a
traceback from the minified runtime points at the right line of the source.

Usage: minify-child.py INPUT --output OUT [--compress]

With --compress, every output holds the zlib (level 9) compression of its
minified text instead of the text.  With --split BYTES, a form feed (a line's
whitespace to Python) starts a new part at a top-level statement once the
current part holds BYTES characters, and after the string statement
'--split--' (the runtime's loader compiles one part at a time).  With
--lazy OUT and --defer OUT, the statements between '--lazy--' (or
'--defer--') and '--eager--' go to OUT instead, at their own line numbers
(the parent sends them later: child/README.md).  Runs on any Python 3.6 or
newer.
"""

import argparse
import ast
import io
import keyword
import subprocess
import sys
import tempfile
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


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _idents(node):
    """Every identifier written anywhere in node, whatever its role."""
    out = set()
    for n in ast.walk(node):
        for field in ('id', 'arg', 'name', 'asname', 'attr', 'module'):
            value = getattr(n, field, None)
            if isinstance(value, str):
                out.update(value.split('.'))
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            out.update(n.names)
    return out


def _function_renames(func):
    """{old: new} for the locals of one function that are safe to rename:
    bound by plain assignment (not parameters, imports, def/class, global or
    nonlocal), never mentioned in a nested scope (lambda, comprehension,
    def), in a function without f-strings or locals()/vars()/exec/eval."""
    stored, barred, nested = set(), set(), set()
    args = func.args
    for a in args.args + args.kwonlyargs + [args.vararg, args.kwarg] + \
            getattr(args, 'posonlyargs', []):
        if a is not None:
            barred.add(a.arg)
    todo = list(ast.iter_child_nodes(func))
    while todo:
        n = todo.pop()
        if isinstance(n, _SCOPES):
            nested |= _idents(n)
            continue
        if isinstance(n, ast.JoinedStr):
            return {}
        if isinstance(n, ast.Name):
            if n.id in ('locals', 'vars', 'exec', 'eval'):
                return {}
            if not isinstance(n.ctx, ast.Load):
                stored.add(n.id)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            stored.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom, ast.Global,
                            ast.Nonlocal)):
            barred |= _idents(n)
        todo.extend(ast.iter_child_nodes(n))
    names = stored - barred - nested
    if not names:
        return {}
    taken = _idents(func) | set(keyword.kwlist) | {'_', 'self', 'cls'}
    pool = (a + b for a in ['', 'abcdefghijklmnopqrstuvwxyz']
            for b in 'abcdefghijklmnopqrstuvwxyz' for a in a or [''])
    pool = list(pool)
    out = {}
    # Longest names first get the shortest replacements, preferably their
    # own first letter (the same in every function: it compresses better).
    # Sorted by name too: a set's order changes with the hash seed, and the
    # build must not.
    for old in sorted(names, key=lambda n: (-len(n), n)):
        if len(old) > 1:
            new = next(n for n in [old.lstrip('_')[:1].lower()] + pool
                       if n.isidentifier() and n not in taken)
            taken.add(new)
            out[old] = new
    return out


def _renames(source):
    """{(row, col): new text} for the NAME tokens of renamed locals."""
    tree = ast.parse(source)
    if not hasattr(tree.body[0] if tree.body else tree, 'end_lineno'):
        return {}       # Python < 3.8: no spans, no renaming
    funcs = [n for n in ast.walk(tree)
             if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    spans = []
    for func in funcs:
        table = _function_renames(func)
        if table:
            spans.append(((func.lineno, func.col_offset),
                          (func.end_lineno, func.end_col_offset), table))
    out = {}
    toks = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t[0] not in _SKIP]
    for start, end, table in spans:
        depth = 0
        for i, tok in enumerate(toks):
            if tok[2] < start or tok[2] >= end:
                continue
            if tok[0] == tokenize.OP:
                depth += tok[1] in '([{'
                depth -= tok[1] in ')]}'
            elif tok[0] == tokenize.NAME and tok[1] in table:
                prev = toks[i - 1][1]
                nxt = toks[i + 1][1] if i + 1 < len(toks) else ''
                if prev == '.' or (depth and nxt == '='):
                    continue    # an attribute, or a keyword argument
                out[tok[2]] = table[tok[1]]
    return out


def _logical_lines(source, renames=None):
    """Yield (row, depth, [(type, text)]) for every logical line."""
    renames = renames or {}
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
            toks.append((ttype, renames.get(tok[2], tok[1])))


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
# Which part a top-level statement goes to, switched by marker strings.
EAGER, LAZY, DEFERRED = 0, 1, 2
PART_MARKERS = {"'--eager--'": EAGER, "'--lazy--'": LAZY,
                "'--defer--'": DEFERRED}
_CONTINUATIONS = ('else', 'elif', 'except', 'finally')


def minify(source, split=0, rename=False, lazy=None, defer=None):
    """The minified text.  With lazy a list, the top-level statements
    between the string statements '--lazy--' and '--eager--' are left out
    and the list gets their minified text instead (at the same line
    numbers, blank lines elsewhere).  With defer a list, the same for those
    between '--defer--' and '--eager--'."""
    kept = []
    renames = _renames(source) if rename else None
    kind = EAGER
    for row, depth, toks in _logical_lines(source, renames):
        if all(ttype == tokenize.STRING for ttype, _ in toks):
            text = _render(toks)
            if depth == 0 and text in PART_MARKERS:
                kind = PART_MARKERS[text]
                # A part not asked for stays with the eager code.
                if kind == LAZY and lazy is None or \
                        kind == DEFERRED and defer is None:
                    kind = EAGER
            elif split and depth == 0 and text == SPLIT_MARKER:
                kept.append((row, depth, None, EAGER))
            continue    # docstring or other string-only statement
        kept.append((row, depth, _render(toks), kind))
    for i, (row, depth, text, part) in enumerate(kept):
        if text and text.endswith(':') and (i + 1 == len(kept) or
                                            kept[i + 1][1] <= depth):
            # a block emptied by a removed docstring
            kept[i] = (row, depth, text + 'pass', part)
    for apart, part in (lazy, LAZY), (defer, DEFERRED):
        if apart is not None:
            apart.append(_join([k[:3] for k in kept if k[3] == part], 0))
    return _join([k[:3] for k in kept if k[3] == EAGER], split)


def _join(kept, split):
    out = []
    cur = 1
    part = 0            # characters in the current part
    force = False
    for row, depth, text in kept:
        if text is None:
            force = True
            continue
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
                        help='write every output zlib-compressed (level 9)')
    parser.add_argument('--zopfli', metavar='PATH',
                        help='compress with this zopfli program instead '
                        '(the same zlib format, ~3%% smaller)')
    parser.add_argument('--split', type=int, default=0, metavar='BYTES',
                        help='split into parts of about BYTES characters')
    parser.add_argument('--rename-locals', action='store_true',
                        help='shorten the names of function locals')
    parser.add_argument('--lazy', metavar='OUT',
                        help="write the '--lazy--' parts to OUT (minified), "
                        'leaving them out of the output')
    parser.add_argument('--defer', metavar='OUT',
                        help="write the '--defer--' parts to OUT (minified), "
                        'leaving them out of the output')
    args = parser.parse_args(argv)
    with open(args.input, encoding='utf-8') as fp:
        source = fp.read()
    lazy = [] if args.lazy else None
    defer = [] if args.defer else None
    text = minify(source, args.split, args.rename_locals, lazy, defer)
    compile(text, args.input, 'exec')    # never ship something broken
    line = 1
    for part in text.split('\f'):        # nor a part that does not compile
        compile('\n' * (line - 1) + part, args.input, 'exec')
        line += part.count('\n')
    outputs = [(text, args.output)]
    for apart, path in (lazy, args.lazy), (defer, args.defer):
        if apart is not None:
            compile(apart[0], args.input, 'exec')
            outputs.append((apart[0], path))
    for out, path in outputs:
        data = out.encode('utf-8')
        if args.compress:
            data = _compress(data, args.zopfli)
        with open(path, 'wb') as fp:
            fp.write(data)
    return 0


def _compress(data, zopfli):
    if not zopfli:
        return zlib.compress(data, 9)
    # zopfli searches harder for the same deflate format: the runtime is
    # sent to every child, so bytes off it are worth build time.  (It
    # reads a regular file only, not a pipe.)
    with tempfile.NamedTemporaryFile(suffix='.py') as fp:
        fp.write(data)
        fp.flush()
        packed = subprocess.run([zopfli, '--zlib', '-c', fp.name],
                                stdout=subprocess.PIPE, check=True).stdout
    if zlib.decompress(packed) != data:
        raise SystemExit('minify-child: zopfli output does not round-trip')
    return packed


if __name__ == '__main__':
    sys.exit(main())
