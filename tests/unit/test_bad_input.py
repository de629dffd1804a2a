"""Every bad input gets a reason, never a traceback (issue 26, part 3): the pure parts.

- the bounded JSON loader and the check of an SDK caller's dict (projections/json_input.py): nesting,
  encoding, numbers, each problem naming the field and a rule of EDGE_RULES;
- the one reading of ?at=, as_of, valid_at, --at, --as-of, --valid-at and --clock
  (projections.canonical.read_instant): outside the catalogue's dates a reasoned refusal, never an
  OverflowError;
- event text on a terminal (ops/terminal_text.py): never obeyed by the terminal or by rich.
"""
from __future__ import annotations

import enum
import io
import json
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from ops.terminal_text import literal, visible
from projections.canonical import SHANGHAI, BadInstant, parse_instant, read_instant
from projections.json_input import JSON_DEPTH_MAX, load_json, value_problems
from projections.validate import EDGE_RULES
from streams.edge import accept_event
from tests.unit import events as ev

GOOD = ev.event()
GOOD_TEXT = json.dumps(GOOD, ensure_ascii=False)


def with_payload(text: str) -> bytes:
    """The good event's JSON with `text` spliced in as payload.fine_fen."""
    return GOOD_TEXT.replace('"fine_fen": 5000000', f'"fine_fen": {text}').encode()


def nested(depth: int, inner: str = "1") -> str:
    return '{"a": ' * depth + inner + "}" * depth


def named(problems) -> list[tuple[str, str]]:
    for p in problems:  # every problem is one a publisher can read, and one Kafka can carry
        assert p.rule in EDGE_RULES and p.field and p.message and len(p.message) <= 400, p
        p.message.encode("utf-8"), p.field.encode("utf-8")
    return [(p.field, p.rule) for p in problems]


def test_a_good_event_loads_as_json_gives_it():
    assert load_json(GOOD_TEXT.encode()) == (GOOD, []) and load_json(GOOD_TEXT) == (GOOD, [])
    assert value_problems(GOOD) == []


@pytest.mark.parametrize("data, expected", [
    pytest.param(GOOD_TEXT.replace('"payload": ', '"payload": ' + nested(1000, "{}") + ', "x": ').encode(),
                 [("$", "nesting")], id="object-1000-deep"),
    pytest.param(b"[" * 1000 + b"]" * 1000, [("$", "nesting")], id="list-1000-deep"),
    pytest.param(b"[" * 100_000, [("$", "nesting")], id="list-100000-deep-unclosed"),
    pytest.param(GOOD_TEXT.replace("郑州金水宏达机械制造有限公司", "\\ud800").encode(), [("subject.name", "encoding")],
                 id="lone-surrogate-escape"),
    pytest.param(GOOD_TEXT.replace("虚假宣传", "\\udcff x").encode(), [("payload.violation_type", "encoding")],
                 id="low-surrogate-escape"),
    pytest.param(GOOD_TEXT.encode().replace("虚假宣传".encode(), b"\xff\xfe"), [("payload.violation_type", "encoding")],
                 id="invalid-utf8-bytes"),
    pytest.param(GOOD_TEXT.encode().replace("虚假宣传".encode(), "虚假宣传".encode()[:-1]),
                 [("payload.violation_type", "encoding")], id="truncated-utf8"),
    pytest.param(with_payload("9" * 5000), [("payload.fine_fen", "number")], id="5000-digit-integer"),
    pytest.param(with_payload("-" + "9" * 5000), [("payload.fine_fen", "number")], id="5000-digit-negative"),
    pytest.param(with_payload("9" * 20), [("payload.fine_fen", "number")], id="beyond-64-bits"),
    pytest.param(with_payload("NaN"), [("payload.fine_fen", "number")], id="NaN"),
    pytest.param(with_payload("Infinity"), [("payload.fine_fen", "number")], id="Infinity"),
    pytest.param(with_payload("-Infinity"), [("payload.fine_fen", "number")], id="-Infinity"),
    pytest.param(with_payload("1e400"), [("payload.fine_fen", "number")], id="float-beyond-double"),
    pytest.param(b'{"a": 1', [("$", "json")], id="not-json"),
    pytest.param(b"\xef\xbb\xbf{}", [("$", "json")], id="bom"),
])
def test_text_an_event_never_carries_is_refused_with_field_and_rule(data, expected):
    value, problems = load_json(data)
    assert value is None and named(problems) == expected


def test_nesting_is_bounded_at_the_depth_and_brackets_in_text_do_not_count():
    assert load_json(nested(JSON_DEPTH_MAX))[1] == []
    assert named(load_json(nested(JSON_DEPTH_MAX + 1))[1]) == [("$", "nesting")]
    assert load_json(json.dumps({"name": "[{" * 1000}))[1] == []
    # a dict built in Python: the walk names where (no RecursionError, however deep)
    deep = 1
    for _ in range(100_000):
        deep = {"a": deep}
    (problem,) = value_problems({**GOOD, "payload": {"x": deep}})
    assert problem.rule == "nesting" and problem.field.startswith("payload.x.a.a")


@pytest.mark.timeout(20)  # a liveness guard, not a speed goal: one pass takes milliseconds
def test_a_line_of_unclosed_strings_is_refused_in_one_pass():
    # ~128 KiB (an edge line's most) of `"\` pairs, then brackets past the depth: with the closing quote of
    # the nesting scan's strings required, each quote began a scan to the end of the text, quadratic time on
    # the worker's event loop (measured: 1.0 s at 16 KiB, 3.9 s at 32 KiB; so ~60 s at 128 KiB, all else stalled)
    text = '"\\' * 65_500 + "[]" * (JSON_DEPTH_MAX + 8)
    value, problems = load_json(text.encode())
    assert value is None and named(problems) == [("$", "json")]


@pytest.mark.parametrize("field, value, rule", [
    ("subject.name", "\ud800", "encoding"),
    ("payload.facts", "x\udcff", "encoding"),
    ("payload.fine_fen", 10**5000, "number"),
    ("payload.fine_fen", -(2**64), "number"),
    ("payload.fine_fen", float("nan"), "number"),
    ("payload.fine_fen", float("inf"), "number"),
    ("payload.fine_fen", float("-inf"), "number"),
    ("occurred_on", date(2025, 5, 6), "json"),
    ("payload.penalty_kinds", {"FINE"}, "json"),
], ids=["surrogate", "undecoded-byte", "5000-digits", "-2**64", "nan", "inf", "-inf", "date", "set"])
def test_an_sdk_dict_is_refused_at_the_edge_with_field_and_rule(field, value, rule):
    raw = json.loads(GOOD_TEXT)
    parent, key = raw, field.split(".")
    for part in key[:-1]:
        parent = parent[part]
    parent[key[-1]] = value
    assert named(value_problems(raw)) == [(field, rule)]
    event, problems = accept_event(raw, ev.CTX)
    assert event is None and named(problems) == [(field, rule)]


def test_keys_that_are_not_text_or_hold_surrogates_are_named_by_their_object():
    assert named(value_problems({**GOOD, "payload": {(1, 2): 3}})) == [("payload", "json")]
    assert named(value_problems({**GOOD, "payload": {"\udcff": 3}})) == [("payload", "encoding")]
    kind = enum.StrEnum("Kind", {"LEGAL_PERSON": "LEGAL_PERSON"}).LEGAL_PERSON  # text, as far as JSON goes
    assert value_problems({**GOOD, "subject": {**GOOD["subject"], "kind": kind}}) == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.builds(lambda cut, junk: GOOD_TEXT.encode()[:cut] + junk,
                                           st.integers(0, len(GOOD_TEXT.encode())), st.binary(max_size=20)))
def test_any_bytes_load_or_are_refused_never_raise(data):
    value, problems = load_json(data)
    assert value is None or not problems
    named(problems)


@pytest.mark.parametrize("text, rule", [
    ("0001-01-01", "range"), ("1949-09-30", "range"), ("1949-10-01T01:00:00+14:00", "range"),
    ("0001-01-01T00:00:00+14:00", "range"), ("9999-12-31", "range"), ("9999-12-31T23:59:59+14:00", "range"),
    ("9999-12-31T23:59:59-12:00", "range"), ("2099-12-31T23:59:59-12:00", "range"), ("2100-01-01", "range"),
    ("10000-01-01", "instant"), ("-1", "instant"), ("x" * 100_000, "instant"), ("2024-02-30", "instant"),
    ("2025-06-01T12:00:00", "instant"), ("", "instant"), ("2025-W01-1", "instant"),
])
def test_instants_beyond_the_calendar_are_refused_naming_the_parameter_and_the_range(text, rule):
    with pytest.raises(BadInstant) as raised:
        read_instant(text, "as_of")
    error = raised.value
    assert (error.field, error.rule) == ("as_of", rule) and "1949-10-01..2099-12-31" in error.message
    assert len(error.message) < 200 and str(error).startswith("as_of: ")
    assert parse_instant(text) is None


@pytest.mark.parametrize("text, expected", [
    ("1949-10-01", datetime(1949, 10, 1, tzinfo=SHANGHAI)), ("2099-12-31", datetime(2099, 12, 31, tzinfo=SHANGHAI)),
    ("2099-12-31T23:59:59+08:00", datetime(2099, 12, 31, 23, 59, 59, tzinfo=SHANGHAI)),
    ("2099-12-31T23:59:59+14:00", datetime(2099, 12, 31, 17, 59, 59, tzinfo=SHANGHAI)),
])
def test_the_first_and_last_days_are_read(text, expected):
    assert read_instant(text) == expected == parse_instant(text)


def test_a_valid_at_is_a_date_only():
    assert read_instant("2025-06-01", "valid_at", date_only=True) == datetime(2025, 6, 1, tzinfo=SHANGHAI)
    for text in ("2025-06-01T00:00:00+08:00", "2025-W01-1", "2025-152", "20250601"):  # compared as text: one form
        with pytest.raises(BadInstant) as raised:
            read_instant(text, "valid_at", date_only=True)
        assert (raised.value.field, raised.value.rule) == ("valid_at", "date")


HOSTILE = "[/] [bold red]x[/bold red] [link=https://example.com]y[/link] :warning: \x1b[31mred\x1b[0m " \
          "\x1b]0;title\x07 \x1b[2J \r\u202eevil \x9b \ud800"


def test_event_text_is_printed_as_it_is_by_rich_and_never_obeyed_by_the_terminal():
    buffer = io.StringIO()
    console = Console(file=buffer, width=400, emoji=False, force_terminal=False)
    console.print(f"name: {literal(HOSTILE)}")  # rich raised MarkupError on the [/]
    printed = buffer.getvalue()
    assert printed.startswith("name: [/] [bold red]x[/bold red] [link=https://example.com]y[/link] :warning: ")
    assert "\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 \\x1b[2J \\r\\u202eevil \\x9b \\ud800" in printed
    assert not any(ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in printed)
    assert visible("中文 tab\tend") == "中文 tab\\tend" and visible("plain") == "plain"
