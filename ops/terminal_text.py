"""Text from events on a terminal: shown as it is, never obeyed by the terminal or by rich.

Any text of an event (a name, a decision number, the facts, a rejection's message quoting them) is
a department's, or anyone's: it may hold ANSI escapes (\\x1b[31m recolours, \\x1b]0;...\\x07 retitles
the window, \\x1b[2J clears it), a carriage return that overwrites the line, bidi controls that
reorder it, or rich markup ([bold], [link=...]; on a stray [/] rich raises MarkupError).

- `visible(text)`: every control character as its escape (\\x1b, \\r, \\u202e): seen, and inert;
- `literal(text)`: visible, with rich's markup escaped: for text inside a console.print string.
"""
from __future__ import annotations

import re

from rich.markup import escape

# C0 and C1 controls and DEL; the bidi marks, embeddings, overrides and isolates; lone surrogates
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def visible(text) -> str:
    """`text` with every control character written out as its escape."""
    return _CONTROL.sub(_escaped, str(text))


def literal(text) -> str:
    """`text` as rich prints it literally: controls visible, markup escaped."""
    return escape(visible(text))
