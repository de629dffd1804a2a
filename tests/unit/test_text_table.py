"""ops.text_table: many rows as plain aligned columns."""
from __future__ import annotations

import io

from rich.cells import cell_len
from rich.console import Console

from ops.text_table import print_rows


def printed(headers, rows, title=None) -> list[str]:
    buffer = io.StringIO()
    print_rows(Console(file=buffer, width=40), headers, rows, title)
    return buffer.getvalue().splitlines()


def test_columns_line_up_by_terminal_cells_with_chinese_text():
    lines = printed(("subject", "name", "events"), [("91440300MA5X164Q6G", "深圳测试有限公司", "12"),
                                                    ("np-1", "x", "7")], title="2 subjects")
    assert lines[0] == "2 subjects"
    header, rule, *rows = lines[1:]
    assert rule == "------------------  ----------------  ------"
    starts = [row.index(cell) for row, cell in zip([header, *rows], ("events", "12", "7"))]
    assert {cell_len(row[:start]) for row, start in zip([header, *rows], starts)} == {len("------------------  ----------------  ")}
    assert rows == ["91440300MA5X164Q6G  深圳测试有限公司  12", "np-1                x                 7"]


def test_cells_are_printed_as_they_are_never_as_markup_cut_or_wrapped():
    long = "一个很长的理由" * 20
    lines = printed(("rule", "problem"), [("[red]x[/red]", long), ("two\nlines", "")])
    assert lines[2] == f"[red]x[/red]  {long}" and lines[3].rstrip() == "two lines"
    assert len(lines) == 4  # a console 40 cells wide wraps nothing


def test_no_rows_still_shows_the_headers():
    assert printed(("a", "bb"), []) == ["a  bb", "-  --"]


def test_control_characters_in_cells_are_shown_never_sent_to_the_terminal():
    lines = printed(("name", "facts"), [("\x1b[31mred\x1b[0m", "\x1b]0;title\x07\r\u202eevil"), ("[/]", "x")],
                    title="file \x1b[2J.jsonl")
    assert lines[0] == "file \\x1b[2J.jsonl"
    assert lines[3] == "\\x1b[31mred\\x1b[0m  \\x1b]0;title\\x07\\r\\u202eevil" and lines[4].startswith("[/] ")
    assert not any(c in "".join(lines) for c in "\x1b\x07\r\u202e")
