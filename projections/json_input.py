"""JSON from outside, read within bounds: one loader for every way in (POST /events, the SDK's text
lines, `publish` and `replay --from-file`), one check for values built in Python (an SDK caller's dict).

What JSON can say but an event never carries is refused with the field and the rule, never raised:
- `nesting`: deeper than JSON_DEPTH_MAX (an event nests 3 deep; a parser walking 1,000 levels
  runs out of stack);
- `encoding`: bytes that are not UTF-8, or a lone surrogate (the escape "\\ud800"): no character,
  nothing Kafka, Avro or a terminal can carry;
- `number`: NaN, Infinity, a float beyond a double, an integer beyond 64 bits (a 5,000-digit
  integer is refused by its length, never converted).
"""
from __future__ import annotations

import json
import math
import re

import orjson

from projections.personal_data import masked
from projections.validate import Problem

JSON_DEPTH_MAX = 32  # objects and arrays inside one another; an event's deepest value is subject.pii.key_id
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # Avro's long
INT_CHARS_MAX = len(str(INT_MIN))  # longer digit strings are refused before int() sees them
PROBLEMS_MAX = 20  # per value; then one problem says there are more
PATH_CHARS_MAX = 80
NUMBER_SHOWN_MAX = 24

# datetimes and dataclasses raise instead of being written as JSON (no field takes them: refused either way)
_ORJSON_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# Strings are skipped whole. An unclosed one runs to the end of the text in one match (the closing quote is
# optional): a required quote made each later quote of it start a scan to the end again, quadratic time,
# ~60 s for a 128 KiB line of `"\\` pairs. Brackets after an unclosed quote are text: json.loads refuses it.
_CONTAINER_OPENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[{\]}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")
_NINETEEN_DIGITS = re.compile(rb"\d{19}")  # INT_MAX has 19; a float is written with at most 17


class _Refused:
    """A JSON number the loader would not convert; reported with its path by `value_problems`."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


def load_json(data: bytes | str) -> tuple[object, list[Problem]]:
    """(the value of one JSON text, []) or (None, every problem). Bytes that are not UTF-8 are kept
    (as lone surrogates) while parsing, so that the problem names the field they are in."""
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, (bytes, bytearray)) else data
    deep_at = _nesting_beyond(text, JSON_DEPTH_MAX)
    if deep_at is not None:
        return None, [Problem("$", "nesting", f"nested deeper than {JSON_DEPTH_MAX} levels "
                                              f"(at character {deep_at + 1})")]
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as error:
        return None, [Problem("$", "json", f"not JSON: {error.msg} at line {error.lineno} column {error.colno}")]
    # what the parse let through for the walk to name (a refused number, a lone surrogate) makes orjson
    # refuse the value: the usual event is settled in a few us, not walked (~30 us, the edge's biggest cost)
    problems = value_problems(value)
    return (None, problems) if problems else (value, [])


def value_problems(value) -> list[Problem]:
    """What in `value` (an SDK caller's dict) JSON cannot carry, each named by its field path: nesting,
    encoding, number, and `json` for a key that is not text or a value of no JSON type (a datetime, a
    set ...). The usual event is settled by orjson writing it (it refuses lone surrogates, keys that
    are not text, integers beyond 64 bits, other types) and a count of its brackets: ~3 us, against
    ~12 us for the walk (measured), which only a value orjson refuses, or one holding null (NaN is
    written as null), many brackets or a run of 19 digits (orjson writes an unsigned 64-bit integer,
    2**63 and beyond, which Avro's signed long cannot hold), needs."""
    try:
        text = orjson.dumps(value, option=_ORJSON_STRICT)
    except TypeError as error:  # orjson.JSONEncodeError
        return _walk(value) or [Problem("$", "json", f"not JSON: {error}")]
    if (b"null" not in text and text.count(b"[") + text.count(b"{") <= JSON_DEPTH_MAX
            and not _NINETEEN_DIGITS.search(text)):  # orjson writes 2**63..2**64-1, which no long holds
        return []
    return _walk(value)


def _walk(value) -> list[Problem]:
    problems: list[Problem] = []
    pending = [(value, "", 0)]
    while pending and len(problems) <= PROBLEMS_MAX:
        item, path, depth = pending.pop()
        where = path or "$"
        if isinstance(item, str):
            if _SURROGATE.search(item):
                problems.append(Problem(where, "encoding", _surrogate_message(item)))
        elif isinstance(item, (bool, type(None))):
            continue
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                problems.append(Problem(where, "number", f"an integer beyond 64 bits: a long is {INT_MIN}..{INT_MAX}"))
        elif isinstance(item, float):
            if not math.isfinite(item):
                problems.append(Problem(where, "number", f"{item!r} is not a number JSON carries"))
        elif isinstance(item, _Refused):
            problems.append(Problem(where, "number", item.message))
        elif isinstance(item, (dict, list, tuple)):
            if depth == JSON_DEPTH_MAX:
                problems.append(Problem(where, "nesting", f"nested deeper than {JSON_DEPTH_MAX} levels"))
                continue
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        problems.append(Problem(where, "json", f"a key of type {type(key).__name__}: keys are text"))
                        continue
                    if _SURROGATE.search(key):
                        problems.append(Problem(where, "encoding", "a key: " + _surrogate_message(key)))
                        continue
                    pending.append((child, _joined(path, key), depth + 1))
            else:
                pending.extend((child, f"{path or '$'}[{i}]", depth + 1) for i, child in enumerate(item))
        else:
            problems.append(Problem(where, "json", f"a {type(item).__name__} is not a JSON value"))
    if len(problems) > PROBLEMS_MAX:
        problems[PROBLEMS_MAX:] = [Problem("$", "json", "and more problems of the same kind")]
    return problems


def _nesting_beyond(text: str, limit: int) -> int | None:
    """Where `text` first nests deeper than `limit`, or None; strings are skipped, so brackets in
    text do not count. A count of the brackets settles almost every event without the scan."""
    if text.count("[") + text.count("{") <= limit:
        return None
    depth = 0
    for match in _CONTAINER_OPENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return match.start()
        elif token in "]}":
            depth -= 1
    return None


def _int(digits: str):
    if len(digits) > INT_CHARS_MAX:
        return _Refused(f"an integer of {len(digits.lstrip('-'))} digits: at most 64 bits ({INT_MAX})")
    value = int(digits)
    return value if INT_MIN <= value <= INT_MAX else _Refused(f"an integer of {len(digits.lstrip('-'))} digits is "
                                                              f"beyond 64 bits ({INT_MAX})")


def _float(digits: str):
    value = float(digits)
    return value if math.isfinite(value) else _Refused(f"{masked(_cut(digits))} is beyond a double")


def _constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a JSON number")


def _surrogate_message(text: str) -> str:
    """Where the first undecodable byte or lone surrogate is: surrogateescape turned byte 0xff into
    U+DCFF; any other surrogate came from an escape like \\ud800."""
    match = _SURROGATE.search(text)
    code, position = ord(match.group()), match.start() + 1
    if 0xDC80 <= code <= 0xDCFF:
        return f"byte 0x{code - 0xDC00:02x} at character {position} is not UTF-8"
    return f"a lone surrogate \\u{code:04x} at character {position} is no character"


def _joined(path: str, key: str) -> str:
    """A field path as problems spell it (payload.fine_fen), cut to a limit; odd keys are quoted."""
    if not key or "." in key or not key.isprintable():
        key = json.dumps(key, ensure_ascii=True)
    key = masked(key)  # a key may be an ID number: its digits are not quoted back
    joined = f"{path}.{key}" if path else key
    return joined if len(joined) <= PATH_CHARS_MAX else joined[:PATH_CHARS_MAX] + "…"


def _cut(text: str) -> str:
    return text if len(text) <= NUMBER_SHOWN_MAX else text[:NUMBER_SHOWN_MAX] + "…"
