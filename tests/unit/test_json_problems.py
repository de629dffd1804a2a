"""What the JSON loader and the check of an SDK caller's dict (projections/json_input.py) tell a publisher:
each problem's field, rule and words, at the bounds of what JSON can carry. The expected texts are written
out from the rules (a byte 0xNN as U+DCNN under surrogateescape, characters counted from 1, 64-bit bounds)."""
from __future__ import annotations

import pytest

from projections.json_input import INT_MAX, INT_MIN, JSON_DEPTH_MAX, PROBLEMS_MAX, load_json, value_problems


def said(problems) -> list[tuple[str, str, str]]:
    return [(p.field, p.rule, p.message) for p in problems]


@pytest.mark.parametrize("data, message", [
    (b'{"a": "xy\xff"}', "byte 0xff at character 3 is not UTF-8"),
    (b'{"a": "\x80"}', "byte 0x80 at character 1 is not UTF-8"),  # the lowest byte surrogateescape keeps
    (b'{"a": "ab\\ud800"}', "a lone surrogate \\ud800 at character 3 is no character"),
    (b'{"a": "\\udd00"}', "a lone surrogate \\udd00 at character 1 is no character"),  # just above the bytes' range
    (b'{"a": "\\udc7f"}', "a lone surrogate \\udc7f at character 1 is no character"),  # just below it
])
def test_an_undecodable_byte_and_a_lone_surrogate_are_told_apart_and_placed(data, message):
    assert said(load_json(data)[1]) == [("a", "encoding", message)]


def test_a_key_that_is_not_utf8_is_named_by_its_object_and_the_walk_goes_on():
    problems = value_problems({"payload": {"\udcff": 1, "x": float("nan")}})
    assert said(problems) == [("payload", "encoding", "a key: byte 0xff at character 1 is not UTF-8"),
                              ("payload.x", "number", "nan is not a number JSON carries")]


def test_a_key_that_is_not_text_is_named_with_its_type_and_the_walk_goes_on():
    problems = value_problems({"payload": {(1, 2): 3, "x": float("inf")}})
    assert said(problems) == [("payload", "json", "a key of type tuple: keys are text"),
                              ("payload.x", "number", "inf is not a number JSON carries")]


def test_a_value_at_the_top_is_named_as_the_document():
    assert said(value_problems(float("nan"))) == [("$", "number", "nan is not a number JSON carries")]
    assert said(value_problems([float("-inf")])) == [("$[0]", "number", "-inf is not a number JSON carries")]
    assert said(load_json(b"[1, NaN]")[1]) == [("$[1]", "number", "NaN is not a JSON number")]


def test_null_and_booleans_are_passed_over_not_the_end_of_the_walk():
    assert said(value_problems([float("nan"), None, True])) == [("$[0]", "number", "nan is not a number JSON carries")]


def test_the_64_bit_integers_are_carried_and_one_beyond_is_refused():
    # null in the value makes the check walk it (orjson writes NaN as null)
    assert value_problems({"low": INT_MIN, "high": INT_MAX, "none": None}) == []
    assert (INT_MIN, INT_MAX) == (-9223372036854775808, 9223372036854775807)
    beyond = "an integer beyond 64 bits: a long is -9223372036854775808..9223372036854775807"
    assert said(value_problems({"n": 2**63, "none": None})) == [("n", "number", beyond)]
    assert said(value_problems({"n": -(2**63) - 1, "none": None})) == [("n", "number", beyond)]


@pytest.mark.parametrize("number", [2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30])
def test_an_integer_no_signed_long_holds_is_refused_without_a_null_to_force_the_walk(number):
    # orjson writes 2**63 .. 2**64-1 (unsigned 64 bits) without complaint: the check must not trust it there
    assert said(value_problems({"a": {"n": number}})) == [
        ("a.n", "number", "an integer beyond 64 bits: a long is -9223372036854775808..9223372036854775807")]


def test_the_longs_at_their_bounds_and_nineteen_digits_in_text_are_no_problem():
    assert value_problems({"low": -9223372036854775808, "high": 9223372036854775807}) == []
    assert value_problems({"t": "1234567890123456789012", "f": 1.2345678901234567e19}) == []


def test_too_deep_a_branch_is_named_and_the_others_still_walked():
    deep: object = 1
    for _ in range(JSON_DEPTH_MAX + 1):
        deep = [deep]
    problems = value_problems({"b": float("nan"), "deep": deep})
    assert said(problems) == [("deep" + "[0]" * (JSON_DEPTH_MAX - 1), "nesting", "nested deeper than 32 levels"),
                              ("b", "number", "nan is not a number JSON carries")]


def test_at_most_max_problems_are_listed_then_one_says_there_are_more():
    def with_bad(count: int) -> dict:
        return {f"k{i:02d}": float("nan") for i in range(count)}
    assert PROBLEMS_MAX == 20
    assert len(value_problems(with_bad(20))) == 20
    for count in (21, 30):
        problems = value_problems(with_bad(count))
        assert len(problems) == 21 and problems[-1].as_dict() == {
            "field": "$", "rule": "json", "message": "and more problems of the same kind"}


@pytest.mark.parametrize("number, shown", [
    ("1e400", "1e400"),
    ("1." + "0" * 18 + "e400", "1.…e400"),  # 24 characters: shown whole (its run of digits masked)
    ("1." + "0" * 19 + "e400", "1.…e40…"),  # 25: cut after 24 (the last 0 goes), then masked
])
def test_a_float_beyond_a_double_is_quoted_cut_and_masked(number, shown):
    assert said(load_json(f'{{"x": {number}}}')[1]) == [("x", "number", f"{shown} is beyond a double")]


def test_the_64_bit_integers_load_and_the_next_are_refused_by_their_length_or_value():
    assert load_json(b'{"n": -9223372036854775808, "m": 9223372036854775807}') == (
        {"n": -(2**63), "m": 2**63 - 1}, [])  # 20 characters: the longest read
    assert said(load_json(b'{"n": 9223372036854775808}')[1]) == [
        ("n", "number", "an integer of 19 digits is beyond 64 bits (9223372036854775807)")]
    assert said(load_json(b'{"n": -9223372036854775809}')[1]) == [
        ("n", "number", "an integer of 19 digits is beyond 64 bits (9223372036854775807)")]
    assert said(load_json(b'{"n": 100000000000000000000}')[1]) == [  # 21 digits: refused unread
        ("n", "number", "an integer of 21 digits: at most 64 bits (9223372036854775807)")]


@pytest.mark.parametrize("key, field", [
    ("a.b", '"a.b"'),  # a dot would read as a path
    ("", '""'),
    ("\t", '"\\t"'),
    ("a.名", '"a.\\u540d"'),  # quoted in ASCII
    ("名称", "名称"),  # printable, no dot: as it is
])
def test_an_odd_key_is_quoted_in_the_field_path(key, field):
    assert said(value_problems({key: float("nan")})) == [(field, "number", "nan is not a number JSON carries")]


def test_a_field_path_is_cut_after_80_characters():
    assert [p.field for p in value_problems({"a" * 80: float("nan")})] == ["a" * 80]
    assert [p.field for p in value_problems({"a" * 81: float("nan")})] == ["a" * 80 + "…"]
    assert [p.field for p in value_problems({"a" * 40: {"b" * 39: float("nan")}})] == ["a" * 40 + "." + "b" * 39]
    assert [p.field for p in value_problems({"a" * 40: {"b" * 40: float("nan")}})] == ["a" * 40 + "." + "b" * 39 + "…"]


def test_a_value_of_no_json_type_is_named_with_its_type():
    assert said(value_problems({"x": {1}})) == [("x", "json", "a set is not a JSON value")]


def test_a_dict_deeper_than_the_limit_is_refused_though_it_has_no_bracket_of_a_list():
    deep: object = 1
    for _ in range(JSON_DEPTH_MAX + 1):
        deep = {"a": deep}
    assert said(value_problems(deep)) == [(".".join(["a"] * JSON_DEPTH_MAX), "nesting", "nested deeper than 32 levels")]
    shallow: object = 1
    for _ in range(JSON_DEPTH_MAX):
        shallow = {"a": shallow}
    assert value_problems(shallow) == []


@pytest.mark.parametrize("text", [
    '{"x": ' + "[" * 31 + "]" * 31 + ', "y": []}',  # 32 deep and one more bracket: scanned, and read
    "[" + "[], " * 40 + "[]]",  # many brackets side by side: 2 deep
])
def test_brackets_side_by_side_are_not_nesting(text):
    assert load_json(text)[1] == []


@pytest.mark.parametrize("text, at", [
    ("[" * 40, 33),  # the 33rd bracket is one too deep
    ("[[], " + "[" * 32 + "]" * 32 + "]", 37),  # a closed list then 32 more: 1 + 32
    ("[[[]" + "[" * 31 + "]" * 31 + "]]", 35),  # 2 open after the close, then 31
])
def test_nesting_is_counted_as_brackets_open_and_close(text, at):
    assert said(load_json(text)[1]) == [("$", "nesting", f"nested deeper than 32 levels (at character {at})")]


def test_a_key_orjson_will_not_write_is_refused_with_its_reason_though_the_walk_finds_none():
    import enum
    key = enum.StrEnum("Key", {"FINE_FEN": "fine_fen"}).FINE_FEN  # text to the walk, not a str to orjson
    assert said(value_problems({"payload": {key: 1}})) == [("$", "json", "not JSON: Dict key must be str")]
