"""Fuzzing the two edges where the outside world's bytes come in.

- The JSON edge (projections.validate.validate_event, behind the SDK, `publish` and POST /events):
  whatever JSON-ish value arrives, it never raises; it accepts, or refuses with problems that each
  name a field and a documented rule (EDGE_RULES) in a bounded message; everything it accepts
  encodes to Avro and back unchanged. Every text and list has a limit, named `max_length` /
  `max_items`.
- The Avro decoder (streams.codec): arbitrary and mutated bytes raise nothing but CodecError with
  a reason; and what it does decode, the worker's next step (validation, then the fold) takes
  without raising.
"""
from __future__ import annotations

import copy
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import catalogue as cat
from projections.replay import step
from projections.validate import EDGE_RULES, KEY_ID_CHARS_MAX, TYPE_CHARS_MAX, validate_event
from streams import codec
from streams.codec import CodecError
from streams.edge import accept_event
from streams.pii import MemoryKeyStore
from tests.unit import events as ev

MESSAGE_CHARS_MAX = 400  # no problem quotes a whole oversized value back
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TRICKY = ["", " ", "\n", "2025-05-06", "2025-05-06\n", "٢٠٢٥-٠٥-٠٦", "NATURAL_PERSON", "PenaltyImposed", "{{7*7}}",
          "../../etc/passwd", "<script>", "np-"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), st.sampled_from(TRICKY))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=20)


def check_outcome(raw, ctx=ev.CTX) -> dict | None:
    event, problems = validate_event(raw, ctx)
    assert (event is None) == bool(problems)
    for p in problems:
        assert p.field and isinstance(p.field, str), p
        assert p.rule in EDGE_RULES, p
        assert p.message and len(p.message) <= MESSAGE_CHARS_MAX, p
    if event is not None:  # what the edge accepts, the codec carries unchanged
        assert codec.decode_event(codec.encode_event(event)) == event
    return event


@FUZZ
@given(raw=json_values)
def test_any_json_value_is_accepted_or_refused_with_reasons(raw):
    check_outcome(raw)


def paths(value, prefix=()):
    """Every path to a value inside nested dicts and lists (the root included)."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, prefix + (index,))


def set_path(value, path, new):
    if not path:
        return new
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return value


VALID = [ev.event(), ev.event("SubjectRegistered", {"region_code": "410105", "registered_on": "2001-01-01",
                                                    "legal_representative": "李四"}),
         ev.event("ListEntered", {"entry_id": "L-1", "list_kind": "RED_LIST", "reason": "守信激励",
                                  "measures": ["A", "B"]}),
         ev.event("QueryAuthorized", {"grant_id": "Q-1", "grantee": ev.BANK, "scope": ["penalties"],
                                      "valid_until": "2025-12-31"}),
         ev.event(subject=ev.person())]


@FUZZ
@given(data=st.data())
def test_mutated_valid_events(data):
    raw = copy.deepcopy(data.draw(st.sampled_from(VALID)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(paths(raw))))
        new = data.draw(st.one_of(json_values, st.text(min_size=201, max_size=9000),
                                  st.lists(st.text(max_size=3), min_size=33, max_size=40)))
        if data.draw(st.booleans()) and path and isinstance(path[-1], str):
            parent = raw
            for key in path[:-1]:
                parent = parent[key]
            del parent[path[-1]]  # a field removed
        else:
            raw = set_path(raw, path, new)
    check_outcome(raw)
    check_outcome(raw, replace(ev.CTX, stamp_recorded_at=False, allow_system=True, accept_sealed_pii=True))


def oversized_cases():
    """(event, field path, expected rule) for every text and list of the envelope and each type."""
    long_short, long_text = "长" * (cat.SHORT_CHARS_MAX + 1), "长" * (cat.TEXT_CHARS_MAX + 1)
    base = ev.event()
    yield pytest.param(set_path(copy.deepcopy(base), ("subject", "name"), long_short), "subject.name", "max_length",
                       id="subject.name")
    person = ev.event(subject={"id": "np-" + "a" * 300, "kind": "NATURAL_PERSON"})
    yield pytest.param(person, "subject.id", "max_length", id="subject.id")
    for key in ("authority_name", "system", "authority_code"):
        yield pytest.param(set_path(copy.deepcopy(base), ("source", key), long_short), f"source.{key}",
                           "max_length", id=f"source.{key}")
    yield pytest.param({**base, "type": "T" * (TYPE_CHARS_MAX + 1)}, "type", "max_length", id="type")
    for spec in cat.EVENT_TYPES.values():
        for fld in spec.fields:
            if fld.kind == cat.STR:
                value = long_text if fld.max_chars == cat.TEXT_CHARS_MAX else long_short
                yield pytest.param({**base, "type": spec.name, "payload": {fld.name: value}}, f"payload.{fld.name}",
                                   "max_length", id=f"{spec.name}.{fld.name}")
            elif fld.kind in (cat.STR_LIST, cat.ENUM_LIST):
                yield pytest.param({**base, "type": spec.name, "payload": {fld.name: ["A"] * (cat.LIST_ITEMS_MAX + 1)}},
                                   f"payload.{fld.name}", "max_items", id=f"{spec.name}.{fld.name}[]")
                if fld.kind == cat.STR_LIST:
                    yield pytest.param({**base, "type": spec.name, "payload": {fld.name: ["A", long_short]}},
                                       f"payload.{fld.name}[1]", "max_length", id=f"{spec.name}.{fld.name}[1]")


@pytest.mark.parametrize("raw, field, rule", oversized_cases())
def test_every_text_and_list_has_a_limit_named(raw, field, rule):
    ctx = replace(ev.CTX, allow_system=True)
    _, problems = validate_event(raw, ctx)
    assert (field, rule) in {(p.field, p.rule) for p in problems}
    assert all(len(p.message) <= MESSAGE_CHARS_MAX for p in problems)


def test_sealed_pii_key_id_has_a_limit():
    store = MemoryKeyStore()
    event, _ = accept_event(ev.event(subject=ev.person()), ev.CTX, key_store=store)
    event["subject"]["pii"]["key_id"] = "k" * (KEY_ID_CHARS_MAX + 1)
    _, problems = validate_event(event, replace(ev.CTX, stamp_recorded_at=False, accept_sealed_pii=True))
    assert ("subject.pii.key_id", "max_length") in {(p.field, p.rule) for p in problems}


def test_floods_of_unknown_keys_are_summarised_not_echoed():
    raw = ev.event()
    raw["payload"].update({"k" * 500 + str(n): n for n in range(100)})
    _, problems = validate_event(raw, ev.CTX)
    unknown = [p for p in problems if p.rule == "unknown_field"]
    assert len(unknown) <= 21 and all(len(p.field) <= 8 + 64 + 1 for p in unknown)
    assert "80 more" in unknown[-1].message


def deeply_nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("raw, rule", [
    ({1: "non-text key"}, "json"),
    ({"type": "x", "payload": {"fine_fen": 2**70}}, "json"),
    ({"payload": deeply_nested(300)}, "json"),  # beyond orjson's recursion limit
    ({**ev.event(), "occurred_on": "2025-05-06\n"}, "date"),
    ({**ev.event(), "occurred_on": "٢٠٢٥-٠٥-٠٦"}, "date"),
])
def test_what_is_not_json_or_only_looks_like_a_date_is_named(raw, rule):
    _, problems = validate_event(raw, ev.CTX)
    assert rule in {p.rule for p in problems}


# --- the Avro decoder ----------------------------------------------------------------------------
DECODERS = (codec.decode_event, codec.decode_rejection, codec.decode_digest, codec.decode_grade_changed,
            codec.decode_access_record)
HEADERS = [codec.MAGIC + fp for fp in sorted(codec.published_versions())]


def decode_or_reason(data) -> None:
    for decode in DECODERS:
        try:
            decoded = decode(data)
        except CodecError as error:
            assert error.reason and len(error.reason) <= codec.MESSAGE_CHARS_MAX + 200
            continue
        assert isinstance(decoded, dict)
        if decode is codec.decode_event:  # the worker's next step takes whatever decoded
            done = step(lambda subject_id: None, decoded, 0)
            assert done.outcome in ("applied", "rejected", "invalid"), done


@settings(max_examples=500, deadline=None)
@given(header=st.sampled_from(HEADERS), body=st.binary(max_size=300))
def test_any_body_behind_any_published_header(header, body):
    decode_or_reason(header + body)


def sealed_event() -> bytes:
    event, _ = accept_event(ev.event(subject=ev.person()), ev.CTX, key_store=MemoryKeyStore())
    return codec.encode_event(event)


ENCODED = [sealed_event(), codec.encode_event(accept_event(ev.event(), ev.CTX)[0]),
           codec.encode_access_record({"principal": "audit", "role": "auditor", "subject_id": ev.COMPANY,
                                       "action": "read_file", "record_ids": ["P-1"], "record_count": 1,
                                       "reason": "role auditor", "endpoint": "GET /subjects/{id}",
                                       "at": "2025-06-30T10:00:00+08:00"})]


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_mutated_records_raise_only_codec_errors(data):
    encoded = bytearray(data.draw(st.sampled_from(ENCODED)))
    for _ in range(data.draw(st.integers(1, 4))):
        how = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        at = data.draw(st.integers(0, max(0, len(encoded) - 1)))
        if how == "flip" and encoded:
            encoded[at] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "set" and encoded:
            encoded[at] = data.draw(st.integers(0, 255))
        elif how == "insert":
            encoded[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif how == "delete" and encoded:
            del encoded[at]
        elif how == "truncate":
            del encoded[at:]
    decode_or_reason(bytes(encoded))


def test_length_prefixes_that_claim_huge_sizes_are_refused_quickly():
    # a zig-zag varint claiming a ~2**62-byte string right after the header
    huge = codec.MAGIC + codec.CREDIT_EVENT_FINGERPRINT + b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f"
    with pytest.raises(CodecError):
        codec.decode_event(huge)
