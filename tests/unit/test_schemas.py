"""The Avro contract agrees with the event catalogue, and every published version stays readable."""
from __future__ import annotations

import json
import uuid
from io import BytesIO

import fastavro
import pytest
from fastavro.schema import parse_schema

from projections import catalogue as cat
from ops import avro_gen
import avro_schemas.codecs as generated_codecs
from streams import codec

SCHEMA_DIR = codec.SCHEMA_DIR
SOURCES = {p.stem: json.loads(p.read_text("utf-8")) for p in SCHEMA_DIR.glob("*.avsc")}
ENVELOPE = ("CreditEvent", "Subject", "SealedPersonalInfo", "Source", "Rejection", "Reason", "Digest", "GradeChanged",
            "AccessRecord", "ReleaseRecord", "ExportReceipt")


def resolve(avro_type):
    """A type as written in an .avsc, with a reference to another file replaced by its definition."""
    if isinstance(avro_type, str) and avro_type in SOURCES:
        return SOURCES[avro_type]
    return avro_type


def expected_type(fld: cat.Field):
    """The Avro type a catalogue field kind maps to (enums compared by symbols, see below)."""
    base = {
        cat.STR: "string",
        cat.INT: "long",
        cat.BOOL: "boolean",
        cat.DATE: {"type": "int", "logicalType": "date"},
        cat.INSTANT: {"type": "long", "logicalType": "timestamp-micros"},
        cat.STR_LIST: {"type": "array", "items": "string"},
        cat.ENUM: {"type": "enum", "symbols": list(fld.values)},
        cat.ENUM_LIST: {"type": "array", "items": {"type": "enum", "symbols": list(fld.values)}},
    }[fld.kind]
    return base if fld.required else ["null", base]


def comparable(avro_type):
    """The written type with enum references resolved to {type, symbols} (names checked apart)."""
    avro_type = resolve(avro_type)
    if isinstance(avro_type, list):
        return [comparable(t) for t in avro_type]
    if isinstance(avro_type, dict) and avro_type.get("type") == "enum":
        return {"type": "enum", "symbols": avro_type["symbols"]}
    if isinstance(avro_type, dict) and avro_type.get("type") == "array":
        return {"type": "array", "items": comparable(avro_type["items"])}
    return avro_type


@pytest.mark.parametrize("type_name", list(cat.EVENT_TYPES))
def test_every_catalogue_type_has_its_record(type_name):
    event_type = cat.EVENT_TYPES[type_name]
    schema = SOURCES.get(type_name)
    assert schema is not None, f"missing avro_schemas/{type_name}.avsc"
    assert schema["type"] == "record" and schema["name"] == type_name and "namespace" not in schema
    assert schema.get("doc")
    assert [f["name"] for f in schema["fields"]] == [f.name for f in event_type.fields]
    for avro_field, fld in zip(schema["fields"], event_type.fields):
        assert comparable(avro_field["type"]) == expected_type(fld), fld.name
        assert ("default" in avro_field) == (not fld.required), fld.name  # optional: default null
        if not fld.required:
            assert avro_field["default"] is None


def test_enums_are_named_once_and_shared():
    # the same catalogue tuple is the same Avro enum in every record, so it evolves in one place
    names_by_values: dict[tuple, set[str]] = {}
    for event_type in cat.EVENT_TYPES.values():
        schema = SOURCES[event_type.name]
        for avro_field, fld in zip(schema["fields"], event_type.fields):
            if fld.kind in (cat.ENUM, cat.ENUM_LIST):
                t = avro_field["type"]
                t = t[1] if isinstance(t, list) else t
                t = t["items"] if isinstance(t, dict) else t
                assert isinstance(t, str), f"{event_type.name}.{fld.name}: enum defined inline"
                names_by_values.setdefault(fld.values, set()).add(t)
    assert all(len(names) == 1 for names in names_by_values.values()), names_by_values


def test_envelope_records():
    event = {f["name"]: f["type"] for f in SOURCES["CreditEvent"]["fields"]}
    assert event["event_id"] == {"type": "string", "logicalType": "uuid"}
    assert event["type"] == "string"
    assert event["occurred_on"] == {"type": "int", "logicalType": "date"}
    assert event["recorded_at"] == {"type": "long", "logicalType": "timestamp-micros"}
    assert resolve(event["classification"])["symbols"] == list(cat.CLASSIFICATIONS)
    assert event["payload"] == list(cat.EVENT_TYPES), "the payload union is every catalogue type"
    subject = {f["name"]: f["type"] for f in SOURCES["Subject"]["fields"]}
    assert resolve(subject["kind"])["symbols"] == list(cat.SUBJECT_KINDS)
    assert subject["name"] == ["null", "string"]
    assert subject["pii"] == ["null", "SealedPersonalInfo"]  # optional, so every older record still reads
    sealed = {f["name"]: f["type"] for f in SOURCES["SealedPersonalInfo"]["fields"]}
    assert sealed == {"key_id": "string", "nonce": "bytes", "ciphertext": "bytes"}
    rejection = {f["name"]: f["type"] for f in SOURCES["Rejection"]["fields"]}
    assert rejection["event_id"] == ["null", "string"] and rejection["offset"] == "long"
    assert rejection["raw_digest"] == ["null", "bytes"] and "raw" not in rejection  # never the input (issue 28)
    assert [f["name"] for f in SOURCES["Reason"]["fields"]] == ["field", "rule", "message"]


def test_no_stray_schema_files():
    enums = {n for n, s in SOURCES.items() if s["type"] == "enum"}
    assert set(SOURCES) == set(cat.EVENT_TYPES) | set(ENVELOPE) | enums
    for name, schema in SOURCES.items():
        assert schema["name"] == name and "namespace" not in schema, name


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_field_and_type_has_a_doc(name):
    schema = SOURCES[name]
    assert schema.get("doc"), f"{name} has no doc"
    for field in schema.get("fields", []):
        assert field.get("doc"), f"{name}.{field['name']} has no doc"


@pytest.mark.parametrize("schema", codec.PUBLISHED_RECORDS, ids=lambda s: s["name"])
def test_current_schema_is_published(schema):
    fp = codec.fingerprint(schema)
    path = codec.PUBLISHED_DIR / f"{schema['name']}.{fp.hex()}.avsc"
    assert path.exists(), f"{schema['name']} changed: publish it with `python -m ops.avro_gen` and check in {path.name}"
    assert codec.fingerprint(json.loads(path.read_text("utf-8"))) == fp


def test_published_file_names_match_their_content():
    versions = codec.published_versions()
    assert codec.CREDIT_EVENT_FINGERPRINT in versions and codec.REJECTION_FINGERPRINT in versions
    for fp, path in versions.items():
        name, hex_fp = path.stem.split(".")
        assert hex_fp == fp.hex() and json.loads(path.read_text("utf-8"))["name"] == name


# -- every published version decodes into the current reader -------------------------------

def sample(schema, named: dict):
    """A small valid datum of a parsed schema: every optional present, every list one long."""
    if isinstance(schema, str):
        if schema in named:
            return sample(named[schema], named)
        return {"null": None, "boolean": True, "int": 7, "long": 7, "string": "样例", "bytes": b"\x00"}[schema]
    if isinstance(schema, list):
        return sample(schema[-1], named)  # the non-null branch of ["null", T]
    kind, logical = schema["type"], schema.get("logicalType")
    if logical == "uuid":
        return str(uuid.uuid4())
    if logical in ("date", "timestamp-micros"):
        return 20_000  # a day in 2024, or an instant in 1970: both in range
    if kind == "record":
        return {f["name"]: sample(f["type"], named) for f in schema["fields"]}
    if kind == "enum":
        return schema["symbols"][-1]
    if kind == "array":
        return [sample(schema["items"], named)]
    return sample(kind, named)


def published_cases():
    for fp, path in codec.published_versions().items():
        schema = json.loads(path.read_text("utf-8"))
        if schema["name"] == "CreditEvent":
            (payload,) = [f for f in schema["fields"] if f["name"] == "payload"]
            branches = [b["name"] if isinstance(b, dict) else b for b in payload["type"]]
            yield from (pytest.param(fp, path, b, id=f"{path.stem}-{b}") for b in branches)
        else:
            yield pytest.param(fp, path, None, id=path.stem)


@pytest.mark.parametrize("fp, path, branch", published_cases())
def test_published_version_reads_into_current_schema(fp, path, branch):
    named: dict = {}
    writer = parse_schema(json.loads(path.read_text("utf-8")), named)
    datum = sample(writer, named)
    if branch is not None:
        datum["type"] = branch
        datum["payload"] = (branch, sample(named[branch], named))
    body = BytesIO()
    fastavro.schemaless_writer(body, writer, datum)
    data = codec.MAGIC + fp + body.getvalue()
    if path.name.startswith("GradeChanged."):
        decoded = codec.decode_grade_changed(data)
        assert decoded["subject_id"] == "样例" and decoded["added"][0]["points"] == 7
    elif path.name.startswith("ReleaseRecord."):
        decoded = codec.decode_release_record(data)
        assert decoded["number"] == "样例" and decoded["entry_count"] == 7
    elif path.name.startswith("ExportReceipt."):
        decoded = codec.decode_export_receipt(data)
        assert decoded["destination"] == "样例" and decoded["sequence"] == 7
    elif path.name.startswith("AccessRecord."):
        decoded = codec.decode_access_record(data)
        assert decoded["principal"] == "样例" and decoded["record_ids"] == ["样例"]
    elif branch is None:
        decode = codec.decode_digest if path.name.startswith("Digest.") else codec.decode_rejection
        assert decode(data)["topic"] == "样例"
    else:
        decoded = codec.decode_event(data)
        assert decoded["type"] == branch and decoded["payload"]


def test_the_generated_codecs_are_what_the_schemas_give_now():
    """avro_schemas/codecs.py is checked in: after a schema change, `python -m ops.avro_gen` rewrites it."""
    written = avro_gen.GENERATED_MODULE.read_text(encoding="utf-8")
    assert written == avro_gen.generated_module(), "run `python -m ops.avro_gen` and check in avro_schemas/codecs.py"


def test_every_current_schema_is_read_and_written_by_its_generated_code():
    """No fallback to fastavro for a current record: the generated functions are fresh (their fingerprints)."""
    assert set(codec.CURRENT_NAMES) == {name for name in codec.CURRENT_NAMES if codec.generated_writer(name)}
    assert codec._READ_CURRENT_EVENT is not None


def test_generated_code_of_another_schema_version_is_not_used(monkeypatch):
    """Between a schema change and `python -m ops.avro_gen`, the stale functions would write the old
    schema's bytes under the new fingerprint: they are left out, and fastavro does the work."""
    monkeypatch.setattr(generated_codecs, "FINGERPRINTS", {**generated_codecs.FINGERPRINTS, "Digest": "00" * 8})
    fresh = codec._fresh(generated_codecs.WRITERS)
    assert "Digest" not in fresh and set(fresh) == set(codec.CURRENT_NAMES) - {"Digest"}
