"""The CreditEvent reader generated from the schema (streams/avro_decoder.py), against fastavro.

fastavro's resolving reader (codec._decode_event_resolved) stays the reader of older writers'
records; here it is the oracle: on every event both give the same JSON form, and on bytes
damaged anywhere the generated reader is never more lenient than it."""
from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams import avro_decoder, codec
from streams.codec import CodecError, decode_event, encode_event
from tests.unit.test_codec import PENALTY, any_event, texts

sealed = st.fixed_dictionaries({"key_id": texts, "nonce": st.binary(max_size=24).map(lambda b: base64.b64encode(b).decode()),
                                "ciphertext": st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode())})
events = st.tuples(any_event, st.none() | sealed).map(
    lambda pair: pair[0] if pair[1] is None else {**pair[0], "subject": {**pair[0]["subject"], "pii": pair[1]}})


def outcome(read, data: bytes):
    try:
        return read(data)
    except CodecError:
        return CodecError


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events)
def test_the_generated_reader_gives_fastavros_json_form_for_every_event(event):
    data = encode_event(event)
    assert decode_event(data) == codec._decode_event_resolved(data) == decode_event(encode_event(decode_event(data)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events, data=st.data())
def test_damaged_bytes_are_refused_or_read_as_fastavro_reads_them(event, data):
    body = bytearray(encode_event(event))
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        at = data.draw(st.integers(codec.HEADER_BYTES, len(body) - 1), label="at")
        body[at] = data.draw(st.integers(0, 255), label="byte")
    cut = data.draw(st.integers(codec.HEADER_BYTES, len(body)), label="cut at")
    for damaged in (bytes(body), bytes(body[:cut])):
        mine = outcome(decode_event, damaged)
        assert mine is CodecError or mine == outcome(codec._decode_event_resolved, damaged)


def test_every_cut_of_a_record_is_refused_as_truncated():
    data = encode_event(PENALTY)
    for cut in range(codec.HEADER_BYTES, len(data)):
        with pytest.raises(CodecError, match="undecodable CreditEvent body|trailing"):
            decode_event(data[:cut])
    with pytest.raises(CodecError, match="truncated"):
        decode_event(data[:codec.HEADER_BYTES + 3])


def _zigzag(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def test_an_array_written_in_blocks_with_their_sizes_reads_as_one():
    """Avro lets a writer (the Java one, with a block size set) give a block's count as negative,
    followed by its size in bytes: the items are the same."""
    event = {**PENALTY, "payload": {**PENALTY["payload"], "penalty_kinds": ["FINE", "WARNING"]}}
    data = encode_event(event)
    plain = _zigzag(2) + _zigzag(codec_symbol("FINE")) + _zigzag(codec_symbol("WARNING")) + _zigzag(0)
    blocked = (_zigzag(-1) + _zigzag(1) + _zigzag(codec_symbol("FINE"))
               + _zigzag(-1) + _zigzag(1) + _zigzag(codec_symbol("WARNING")) + _zigzag(0))
    assert data.count(plain) == 1
    rewritten = data.replace(plain, blocked)
    assert decode_event(rewritten) == codec._decode_event_resolved(rewritten) == decode_event(data)


def codec_symbol(name: str) -> int:
    (penalty,) = [r for r in codec._payload_records().values() if r["name"] == "PenaltyImposed"]
    (kinds,) = [f for f in penalty["fields"] if f["name"] == "penalty_kinds"]
    return kinds["type"]["items"]["symbols"].index(name)


def test_a_varint_longer_than_a_long_is_refused():
    data = encode_event(PENALTY)
    overlong = data[:codec.HEADER_BYTES] + b"\xff" * 11 + data[codec.HEADER_BYTES + 1:]
    with pytest.raises(CodecError, match="longer than 10 bytes"):
        decode_event(overlong)


@pytest.mark.parametrize("field_type", [{"type": "map", "values": "string"}, "double", "float",
                                        {"type": "fixed", "name": "F", "size": 4}])
def test_a_schema_with_a_type_it_has_no_reader_for_is_refused_when_generated(field_type):
    schema = {"type": "record", "name": "R", "fields": [{"name": "f", "type": field_type}]}
    with pytest.raises(NotImplementedError, match="fastavro"):
        avro_decoder.source(schema, {})


def test_a_negative_length_is_refused():
    data = encode_event(PENALTY)
    assert data[codec.HEADER_BYTES] == 72  # the event id's length, 36, zig-zag
    with pytest.raises(CodecError, match="a length below 0"):
        decode_event(data[:codec.HEADER_BYTES] + _zigzag(-3) + data[codec.HEADER_BYTES + 1:])
