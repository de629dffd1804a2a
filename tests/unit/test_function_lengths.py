"""The worker stays a house of small rooms (issue 30): no function of streams/ is longer than
FUNCTION_LINES_MAX lines, counted from its `def` to its last line."""
from __future__ import annotations

import ast

from tests.helpers import REPO

FUNCTION_LINES_MAX = 80


def test_no_function_of_streams_is_over_the_limit():
    too_long = []
    for path in sorted((REPO / "streams").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > FUNCTION_LINES_MAX:
                    too_long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {lines} lines")
    assert too_long == [], too_long
