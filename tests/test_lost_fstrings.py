"""No string literal in the package looks like an f-string that lost its ``f``.

Issue 19 item 15: a message continued on a second line without the ``f`` printed
``({', '.join(ALL_TOY_MODELS)})`` to the user. The scan reads the tokens (so it sees each literal as
written) and flags a plain (non-f) literal holding ``{expr}`` where ``expr`` parses as Python and
every name in it is bound in the module, when

* the literal is implicitly concatenated with an f-string (the classic continuation-line slip), or
* ``expr`` is more than a bare name (a call, attribute, index or ``!r``): ``{', '.join(x)}`` is
  never a ``str.format`` template, while ``{category}`` often is (prompts, URL routes).

Docstrings are skipped.
"""
from __future__ import annotations

import ast
import builtins
import io
import re
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "layerdream"
_PLACEHOLDER = re.compile(r"(?<!\{)\{([^{}\n]+)\}(?!\})")
_SKIP = {tokenize.NL, tokenize.COMMENT}
# what may follow the ':' of a placeholder (format-spec mini-language); "{name: word, ...}" is prose
_SPEC = re.compile(r"(?:.?[<>=^])?[+\- ]?z?#?0?\d*[_,]?(?:\.\d+)?[bcdeEfFgGnosxX%]?")


def _bound_names(tree: ast.AST) -> set[str]:
    names = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines.add(first.value.lineno)
    return lines


def _string_groups(source: str) -> list[list[tuple[bool, str, int]]]:
    """Implicitly concatenated literals as groups of (is_f, token text, line)."""
    groups: list[list[tuple[bool, str, int]]] = []
    current: list[tuple[bool, str, int]] = []
    fstring_depth, fstring_start = 0, 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        kind = tok.type
        if kind == getattr(tokenize, "FSTRING_START", -1):  # Python >= 3.12 splits f-strings into tokens
            fstring_depth += 1
            fstring_start = fstring_start or tok.start[0]
            continue
        if fstring_depth:
            if kind == getattr(tokenize, "FSTRING_END", -1):
                fstring_depth -= 1
                if not fstring_depth:
                    current.append((True, "", fstring_start))
                    fstring_start = 0
            continue
        if kind == tokenize.STRING:
            prefix = re.match(r"[A-Za-z]*", tok.string).group(0).lower()
            current.append(("f" in prefix, tok.string, tok.start[0]))
        elif kind not in _SKIP:
            if current:
                groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def lost_fstrings(source: str) -> list[tuple[int, str]]:
    """(line, placeholder) for each suspicious ``{expr}`` in a plain literal (rules in the module doc)."""
    tree = ast.parse(source)
    names, docstrings = _bound_names(tree), _docstring_lines(tree)
    found = []
    for group in _string_groups(source):
        if group[0][2] in docstrings:
            continue
        with_f = any(is_f for is_f, _, _ in group)
        for is_f, text, line in group:
            if is_f:
                continue
            for match in _PLACEHOLDER.finditer(text):
                inner = match.group(1)
                parts = re.split(r"(![rsa](?=$|:)|:(?![^\[(]*[\])]))", inner, maxsplit=1)
                expr = parts[0].strip()
                spec = inner[len(parts[0]):].removeprefix("!r").removeprefix("!s").removeprefix("!a")
                if spec.startswith(":") and not _SPEC.fullmatch(spec[1:]):
                    continue  # not a format spec: braces in prose, e.g. "{name: word, synonyms: [..]}"
                try:
                    parsed = ast.parse(expr, mode="eval").body
                except SyntaxError:
                    continue
                used = {n.id for n in ast.walk(parsed) if isinstance(n, ast.Name)}
                if not used or not used <= names:
                    continue
                if with_f or not isinstance(parsed, ast.Name) or re.search(r"![rsa]", inner):
                    found.append((line, match.group(0)))
    return found


def test_the_scan_finds_the_bug_it_was_written_for():
    bug = ("from x import ALL\nname = 'a'\n"
           "msg = (f'cannot load {name!r}; '\n       'or a toy model ({\", \".join(ALL)})')\n"
           "other = 'model {name!r} not found'\n")
    assert [p for _, p in lost_fstrings(bug)] == ['{", ".join(ALL)}', "{name!r}"]
    fine = ("name = 'a'\nmsg = f'{name}' 'literal {{braces}}'\nt = '{name}'.format(name=name)\n"
            "route = '/image/{name:str}'\nv = '{\"json\": 1}'\nw = '{unbound.attr}'\n"
            "x = f'{{category: [concepts]}}'\n"
            "y = (f'{name!r}: give words, or '\n     '{name: word, synonyms: [..]} entries')\n"
            "def f(k, n):\n    \"\"\"-> {k, n} over the queries.\"\"\"\n")
    assert lost_fstrings(fine) == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_lost_fstrings_in_the_package(path):
    assert lost_fstrings(path.read_text()) == []
