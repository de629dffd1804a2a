"""The Avro codec: JSON form -> single-object Avro -> JSON form is identity, for every event type;
the bytes are plain Avro (the Apache library reads them); evolution and garbage are handled."""
from __future__ import annotations

import copy
import io
import json
import uuid
from datetime import date, datetime, timedelta, timezone

import avro.io
import avro.schema
import fastavro
import pytest
from fastavro.schema import parse_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import catalogue as cat
from streams import codec
from streams.codec import CodecError

CST = timezone(timedelta(hours=8))

# -- strategies built from the catalogue ---------------------------------------------------

chars = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),  # CJK unified ideographs
    st.sampled_from("，。、；：（）〔〕《》“”　"),  # Chinese punctuation and the full-width space
    st.characters(codec="utf-8"),  # anything else UTF-8 can carry (no lone surrogates)
)
texts = st.text(chars, max_size=40)
longs = st.integers(-(2**63), 2**63 - 1)
iso_dates = st.dates(date(1990, 1, 1), date(2035, 12, 31)).map(date.isoformat)
iso_instants = st.datetimes(datetime(1990, 1, 1), datetime(2035, 12, 31), timezones=st.just(CST)).map(
    datetime.isoformat
)


def field_values(fld: cat.Field) -> st.SearchStrategy:
    return {
        cat.STR: texts,
        cat.INT: longs,
        cat.BOOL: st.booleans(),
        cat.DATE: iso_dates,
        cat.INSTANT: iso_instants,
        cat.ENUM: st.sampled_from(fld.values),
        cat.STR_LIST: st.lists(texts, max_size=4),
        cat.ENUM_LIST: st.lists(st.sampled_from(fld.values), max_size=4),
    }[fld.kind]


@st.composite
def optional_fields(draw, required: dict, optional: dict) -> dict:
    """The required fields, and each optional one present or absent (never null: canonical JSON)."""
    out = {name: draw(strategy) for name, strategy in required.items()}
    for name, strategy in optional.items():
        if draw(st.booleans()):
            out[name] = draw(strategy)
    return out


def events(type_name: str) -> st.SearchStrategy:
    fields = cat.EVENT_TYPES[type_name].fields
    payload = optional_fields(
        {f.name: field_values(f) for f in fields if f.required},
        {f.name: field_values(f) for f in fields if not f.required},
    )
    return st.fixed_dictionaries({
        "event_id": st.uuids().map(str),
        "type": st.just(type_name),
        "subject": optional_fields({"id": texts, "kind": st.sampled_from(cat.SUBJECT_KINDS)}, {"name": texts}),
        "source": optional_fields({"authority_code": texts, "authority_name": texts}, {"system": texts}),
        "occurred_on": iso_dates,
        "recorded_at": iso_instants,
        "classification": st.sampled_from(cat.CLASSIFICATIONS),
        "payload": payload,
    })


any_event = st.sampled_from(list(cat.EVENT_TYPES)).flatmap(events)

PENALTY = {
    "event_id": "7d0c5c1e-4b0e-4a8e-9b9e-2f3d1a0c9e11",
    "type": "PenaltyImposed",
    "subject": {"id": "914403001922038216", "kind": "LEGAL_PERSON", "name": "华为技术有限公司"},
    "source": {"authority_code": "11440300MB2C92050G", "authority_name": "深圳市市场监督管理局"},
    "occurred_on": "2024-05-06",
    "recorded_at": "2024-05-07T09:30:00+08:00",
    "classification": "PUBLIC",
    "payload": {"record_id": "P-2024-123", "decision_no": "深市监罚〔2024〕123号", "severity": "GENERAL",
                "penalty_kinds": ["FINE"], "fine_fen": 5000000, "violation_type": "虚假宣传",
                "facts": "在经营场所发布虚假广告", "basis": "《中华人民共和国广告法》第五十五条"},
}

# -- round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", list(cat.EVENT_TYPES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_json_avro_json_is_identity_for_every_type(type_name, data):
    event = data.draw(events(type_name))
    encoded = codec.encode_event(event)
    assert codec.decode_event(encoded) == event


def test_example_of_the_design():
    data = codec.encode_event(PENALTY)
    assert codec.decode_event(data) == PENALTY
    assert codec.decode_event(bytearray(data)) == PENALTY and codec.decode_event(memoryview(data)) == PENALTY


def test_instants_come_back_in_shanghai_time():
    event = {**PENALTY, "recorded_at": "2024-05-07T01:30:00.250000+00:00"}
    assert codec.decode_event(codec.encode_event(event))["recorded_at"] == "2024-05-07T09:30:00.250000+08:00"
    event = {**PENALTY, "recorded_at": "2024-05-07T01:30:00Z"}
    assert codec.decode_event(codec.encode_event(event))["recorded_at"] == "2024-05-07T09:30:00+08:00"


def test_explicit_nulls_are_omitted():
    event = copy.deepcopy(PENALTY)
    event["subject"]["name"] = None
    event["payload"]["sector"] = None
    decoded = codec.decode_event(codec.encode_event(event))
    assert "name" not in decoded["subject"] and "sector" not in decoded["payload"]


def test_same_shaped_records_are_told_apart_by_type():
    # PermitRevoked and PenaltyRevoked (and the two Query* records) have identical fields
    for type_name in ("PermitRevoked", "PenaltyRevoked"):
        event = {**PENALTY, "type": type_name, "payload": {"record_id": "R-1", "reason": "复议撤销"}}
        assert codec.decode_event(codec.encode_event(event))["type"] == type_name


@pytest.mark.parametrize("change, reason", [
    (lambda e: e.update(type="PenaltyInvented"), "unknown event type"),
    (lambda e: e.update(colour="red"), "unknown field"),
    (lambda e: e["payload"].update(colour="red"), "more fields than the schema"),
    (lambda e: e["payload"].pop("decision_no"), "decision_no"),
    (lambda e: e.pop("classification"), "classification"),
    (lambda e: e.update(recorded_at="2024-05-07T09:30:00"), "no zone offset"),
    (lambda e: e.update(occurred_on="2024-02-30"), "cannot encode"),
    (lambda e: e.update(event_id="not-a-uuid"), "cannot encode"),
    (lambda e: e["subject"].update(kind="ALIEN"), "ALIEN"),
    (lambda e: e["payload"].update(fine_fen=2**63), "fine_fen"),
    (lambda e: e["payload"].update(fine_fen="5000000"), "fine_fen"),
    (lambda e: e.update(payload=["not", "an", "object"]), "payload must be an object"),
])
def test_invalid_events_do_not_encode(change, reason):
    event = copy.deepcopy(PENALTY)
    change(event)
    with pytest.raises(CodecError) as error:
        codec.encode_event(event)
    assert reason in error.value.reason


def test_rejection_round_trip():
    rejection = {"event_id": PENALTY["event_id"], "topic": "credit.events", "partition": 3, "offset": 1234,
                 "reasons": [{"field": "payload.fine_fen", "rule": "range", "message": "罚款金额不能为负数"}],
                 "raw_digest": bytes(range(32)), "rejected_at": "2024-05-07T09:30:00.123456+08:00"}
    assert codec.decode_rejection(codec.encode_rejection(rejection)) == rejection
    at_the_edge = {**rejection, "partition": -1, "offset": -1, "reasons": []}
    del at_the_edge["event_id"]
    assert codec.decode_rejection(codec.encode_rejection(at_the_edge)) == at_the_edge
    with pytest.raises(CodecError, match="is a Rejection schema"):
        codec.decode_event(codec.encode_rejection(rejection))
    with pytest.raises(CodecError, match="is a CreditEvent schema"):
        codec.decode_rejection(codec.encode_event(PENALTY))
    with pytest.raises(CodecError, match="unknown field"):  # the raw input is no field any more (issue 28)
        codec.encode_rejection({**rejection, "raw": b"{}"})


def test_a_rejection_written_with_the_raw_bytes_decodes_without_them():
    old = json.loads((codec.PUBLISHED_DIR / "Rejection.963d29c267680321.avsc").read_text("utf-8"))
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parse_schema(old), {
        "event_id": None, "topic": "credit.events", "partition": -1, "offset": -1,
        "reasons": [{"field": "subject.kind", "rule": "enum", "message": "must be one of ..."}],
        "raw": b'{"subject": {"id_number": "110105194912310029"}}', "rejected_at": 1_700_000_000_000_000})
    decoded = codec.decode_rejection(codec.MAGIC + codec.fingerprint(old) + body.getvalue())
    assert decoded == {"topic": "credit.events", "partition": -1, "offset": -1, "reasons": [
        {"field": "subject.kind", "rule": "enum", "message": "must be one of ..."}],
        "rejected_at": "2023-11-15T06:13:20+08:00"}  # no raw, and no digest: it predates them


# -- the bytes are plain Avro: the Apache library agrees -----------------------------------

def without_logical_types(schema):
    if isinstance(schema, dict):
        return {k: without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [without_logical_types(s) for s in schema]
    return schema


APACHE_EVENT = avro.schema.parse(json.dumps(codec.CREDIT_EVENT_SCHEMA))
FASTAVRO_EVENT = parse_schema(codec.CREDIT_EVENT_SCHEMA)  # with its logical types, unlike the codec's


def normalised(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v) for v in value]
    return value


@settings(max_examples=150, deadline=None)
@given(event=any_event)
def test_apache_avro_reads_our_bodies_like_fastavro(event):
    body = codec.encode_event(event)[codec.HEADER_BYTES:]
    apache = avro.io.DatumReader(APACHE_EVENT).read(avro.io.BinaryDecoder(io.BytesIO(body)))
    fast = fastavro.schemaless_reader(io.BytesIO(body), FASTAVRO_EVENT)
    assert normalised(apache) == normalised(fast)
    assert apache["occurred_on"].isoformat() == event["occurred_on"]
    assert apache["recorded_at"] == datetime.fromisoformat(event["recorded_at"])
    assert {k: v for k, v in apache["payload"].items() if v is not None}.keys() == event["payload"].keys()


EMPTY64 = 0xC15D213AA4D7A795  # the spec's CRC-64-AVRO, written out independently of both libraries
TABLE64 = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (EMPTY64 & -(_fp & 1))
    TABLE64.append(_fp)


def crc64_avro(data: bytes) -> bytes:
    fp = EMPTY64
    for byte in data:
        fp = (fp >> 8) ^ TABLE64[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


@pytest.mark.parametrize("schema, encoded", [
    (codec.CREDIT_EVENT_SCHEMA, lambda: codec.encode_event(PENALTY)),
    (codec.REJECTION_SCHEMA, lambda: codec.encode_rejection({
        "topic": "credit.events", "partition": 0, "offset": -1, "reasons": [], "raw_digest": b"",
        "rejected_at": "2024-05-07T09:30:00+08:00"})),
], ids=["CreditEvent", "Rejection"])
def test_single_object_header(schema, encoded):
    data = encoded()
    assert data[:2] == b"\xc3\x01"
    # Parsing Canonical Form drops logicalType; avro-python 1.12 keeps logical-typed primitives as
    # {"type":"int"} (the spec, Java and fastavro say "int"), so ask it about the schema without them.
    apache = avro.schema.parse(json.dumps(without_logical_types(schema)))
    assert data[2:10] == apache.fingerprint("CRC-64-AVRO") == crc64_avro(apache.canonical_form.encode())
    assert data[2:10] == codec.fingerprint(schema)


# -- schema evolution: an old writer version is read with the current schema ---------------

def find_named(schema, name):
    """The definition of a named type inside an expanded schema."""
    if isinstance(schema, dict):
        if schema.get("name") == name and schema.get("type") in ("record", "enum"):
            return schema
        children = [schema.get("type"), schema.get("items"), *schema.get("fields", [])]
    elif isinstance(schema, list):
        children = schema
    else:
        return None
    return next((found for c in children if (found := find_named(c, name)) is not None), None)


def test_records_of_an_older_schema_version_stay_readable():
    # version "n-1": PenaltyImposed had no `sector`, and PenaltyKind lacked DETENTION
    old = copy.deepcopy(codec.CREDIT_EVENT_SCHEMA)
    penalty = find_named(old, "PenaltyImposed")
    penalty["fields"] = [f for f in penalty["fields"] if f["name"] != "sector"]
    kinds = find_named(old, "PenaltyKind")
    kinds["symbols"].remove("DETENTION")
    old_fp = codec.fingerprint(old)
    assert old_fp != codec.CREDIT_EVENT_FINGERPRINT

    datum = {**PENALTY, "event_id": PENALTY["event_id"], "occurred_on": date(2024, 5, 6),
             "recorded_at": datetime(2024, 5, 7, 9, 30, tzinfo=CST),
             "payload": ("PenaltyImposed", {**PENALTY["payload"], "penalty_kinds": ["WARNING", "FINE"]})}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parse_schema(old), datum)
    data = codec.MAGIC + old_fp + body.getvalue()

    with pytest.raises(CodecError, match="unknown writer schema fingerprint"):
        codec.decode_event(data)
    assert codec.register_writer_schema(old) == old_fp
    decoded = codec.decode_event(data)
    assert decoded == {**PENALTY, "payload": {**PENALTY["payload"], "penalty_kinds": ["WARNING", "FINE"]}}
    assert "sector" not in decoded["payload"]  # the reader's default (null) is omitted like any null


def test_register_rejects_what_is_not_a_writer_schema():
    with pytest.raises(CodecError):
        codec.register_writer_schema({"type": "record", "name": "Other", "fields": []})
    with pytest.raises(CodecError):
        codec.register_writer_schema({"type": "record", "name": "CreditEvent", "fields": [{"name": "x"}]})


# -- garbage never escapes as anything but CodecError ----------------------------------------

def decodes_or_codec_error(data) -> None:
    for decode in (codec.decode_event, codec.decode_rejection):
        try:
            result = decode(data)
        except CodecError as error:
            assert error.reason and isinstance(error, ValueError)
        else:
            assert isinstance(result, dict)


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_raise_codec_error(data):
    with pytest.raises(CodecError):
        codec.decode_event(data)
    decodes_or_codec_error(data)


@settings(max_examples=500, deadline=None)
@given(body=st.binary(max_size=400), header=st.sampled_from([codec.CREDIT_EVENT_FINGERPRINT, codec.REJECTION_FINGERPRINT]))
def test_arbitrary_bodies_behind_a_valid_header(body, header):
    decodes_or_codec_error(codec.MAGIC + header + body)


@settings(max_examples=300, deadline=None)
@given(event=any_event, data=st.data())
def test_truncations_and_bit_flips(event, data):
    encoded = codec.encode_event(event)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(CodecError):  # a strict prefix never holds a whole record
        codec.decode_event(encoded[:cut])
    flipped = bytearray(encoded)
    for bit in data.draw(st.lists(st.integers(0, len(encoded) * 8 - 1), min_size=1, max_size=3)):
        flipped[bit // 8] ^= 1 << (bit % 8)
    decodes_or_codec_error(bytes(flipped))


@pytest.mark.parametrize("data", [None, "c301", 42, b"", b"\xc3\x01", b"\xc3\x01" + b"\x00" * 8,
                                  b"\xc3\x01" + codec.CREDIT_EVENT_FINGERPRINT + b"\xff" * 20,
                                  b"\xc3\x01" + codec.CREDIT_EVENT_FINGERPRINT + b"\x01" * (codec.RECORD_BYTES_MAX)])
def test_garbage(data):
    with pytest.raises(CodecError):
        codec.decode_event(data)


@settings(max_examples=500)
@given(micros=st.one_of(st.integers(-(6 * 10**16), 25 * 10**16), st.integers(-(2**63), 2**63 - 1)))  # years 1..9999, any long
def test_an_instant_reads_as_the_datetime_of_its_microseconds_in_shanghai_time(micros):
    try:
        expected = (datetime(1970, 1, 1, tzinfo=timezone.utc).astimezone(CST) + timedelta(microseconds=micros)).isoformat()
    except OverflowError:
        with pytest.raises((OverflowError, ValueError)):
            codec.iso_instant(micros)
        return
    assert codec.iso_instant(micros) == expected
