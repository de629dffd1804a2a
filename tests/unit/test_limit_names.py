"""One naming for limits (issue 30): a limit is `<WHAT>_MAX` (`EVENT_BYTES_MAX`), never `MAX_<WHAT>`."""
from __future__ import annotations

import ast
import re

from tests.helpers import REPO

PREFIXED = re.compile(r"_?MAX_[A-Z0-9_]+")


def _names(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, ast.alias):
            yield node.lineno, node.asname or node.name


def test_every_limit_is_named_with_max_last():
    prefixed = []
    for folder in ("projections", "streams", "ops", "tests"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for line, name in _names(ast.parse(path.read_text(encoding="utf-8"))):
                if PREFIXED.fullmatch(name):
                    prefixed.append(f"{path.relative_to(REPO)}:{line} {name}")
    assert prefixed == [], prefixed
