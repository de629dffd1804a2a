"""The writers generated from the schemas (streams/avro_encoder.py), against fastavro.

fastavro is the oracle: for any datum of each current schema (drawn from the schema itself) the
generated writer gives fastavro's bytes; for a datum broken anywhere it refuses (Unwritable), and
the codec's write then ends as fastavro alone ends it: the same bytes, or an error."""
from __future__ import annotations

from io import BytesIO

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams import avro_encoder, codec
from streams.avro_encoder import INT_MAX, INT_MIN, LONG_MAX, LONG_MIN, Unwritable

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


def datums(schema, named: dict) -> st.SearchStrategy:
    """Any datum of `schema` in the form the codec hands to the writer (fastavro's)."""
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        branches = [named.get(b, b) if isinstance(b, str) else b for b in schema]
        if branches[0] == "null":
            return st.none() | datums(branches[1], named)
        return st.one_of([datums(b, named).map(lambda d, b=b: (b["name"], d)) for b in branches])
    kind = schema["type"] if isinstance(schema, dict) else schema
    if kind == "record":
        named.setdefault(schema["name"], schema)
        fields = {f["name"]: datums(f["type"], named) for f in schema["fields"]}
        optional = [f["name"] for f in schema["fields"] if "default" in f]
        return st.fixed_dictionaries(fields).flatmap(lambda d: st.sets(st.sampled_from(optional) if optional else st.nothing())
                                                     .map(lambda left_out: {k: v for k, v in d.items() if k not in left_out}))
    if kind == "enum":
        named.setdefault(schema["name"], schema)
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(datums(schema["items"], named), max_size=3)
    return {"string": texts, "bytes": st.binary(max_size=30), "boolean": st.booleans(), "null": st.none(),
            "int": st.integers(INT_MIN, INT_MAX), "long": st.integers(LONG_MIN, LONG_MAX)}[kind]


def by_fastavro(name: str, datum):
    schema, header = codec._CURRENT[name]
    out = BytesIO()
    out.write(header)
    try:
        fastavro.schemaless_writer(out, schema, datum, strict_allow_default=True)
    except Exception:  # noqa: BLE001 - any refusal: the codec turns it into a CodecError
        return Exception
    return out.getvalue()


def by_codec(name: str, datum):
    try:
        return codec._write(name, datum)
    except Exception:  # noqa: BLE001
        return Exception


def datum_of(name: str) -> st.SearchStrategy:
    return datums(codec._CURRENT[name][0], {})


@pytest.mark.parametrize("name", sorted(codec._CURRENT))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_generated_writer_gives_fastavros_bytes(name, data):
    datum = data.draw(datum_of(name))
    _, header = codec._CURRENT[name]
    assert header + codec.generated_writer(name)(datum) == by_fastavro(name, datum)


BREAKAGES = [
    ("a key the record lacks", lambda d: {**d, "colour": "red"}),
    ("a field missing", lambda d: dict(list(d.items())[1:])),
    ("text where a number goes", lambda d: {k: str(v) if isinstance(v, int) else v for k, v in d.items()}),
    ("a number where text goes", lambda d: {k: 5 if isinstance(v, str) else v for k, v in d.items()}),
    ("True for every number", lambda d: {k: True if type(v) is int else v for k, v in d.items()}),
    ("a number beyond 64 bits", lambda d: {k: 2**64 if type(v) is int else v for k, v in d.items()}),
    ("a number beyond 32 bits", lambda d: {k: 2**31 if type(v) is int else v for k, v in d.items()}),
    ("a float for every number", lambda d: {k: float(v) if type(v) is int else v for k, v in d.items()}),
    ("a list given as a set", lambda d: {k: set() if isinstance(v, list) else v for k, v in d.items()}),
    ("not a record", lambda d: list(d.items())),
]


@pytest.mark.parametrize("name", sorted(codec._CURRENT))
@pytest.mark.parametrize("what, breaking", BREAKAGES, ids=[b[0] for b in BREAKAGES])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_broken_datum_ends_as_fastavro_alone_ends_it(name, what, breaking, data):
    datum = breaking(data.draw(datum_of(name)))
    assert by_codec(name, datum) == by_fastavro(name, datum)


def test_what_it_cannot_write_exactly_it_refuses():
    write = codec.generated_writer("Digest")
    digest = {"topic": "credit.events", "partition": 0, "offset": 7, "root": "ab" * 32, "at": 1}
    assert codec._write("Digest", digest) == by_fastavro("Digest", digest)
    for wrong in ({**digest, "colour": "red"}, {**digest, "offset": True}, {**digest, "offset": 2**63},
                  {**digest, "root": b"ab"}, {k: v for k, v in digest.items() if k != "root"}, [digest]):
        with pytest.raises(Unwritable):
            write(wrong)


@pytest.mark.parametrize("value", [0, 1, -1, 63, -64, 64, 2**31 - 1, -(2**31), 2**62, LONG_MAX, LONG_MIN])
def test_longs_are_zigzag_varints_as_fastavros(value):
    out = bytearray()
    avro_encoder.write_long(out, value)
    expected = BytesIO()
    fastavro.schemaless_writer(expected, "long", value)
    assert bytes(out) == expected.getvalue()
