"""The Avro codec of the ledger's records (DESIGN "Encoding").

Wire format, the Avro spec's single-object encoding:

    C3 01 | CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form,
            8 bytes little-endian | Avro binary body

The current schemas come from the ``.avsc`` files in ``avro_schemas/`` (the source);
every version ever written is kept, fully expanded, in ``avro_schemas/published/``.
A reader looks the writer schema up by fingerprint and resolves it against the
current schema, so records written years ago stay readable. fastavro writes every record and
reads the older writers'; a CreditEvent of the current schema, the bulk of what the fold and the
audit paths read, is read by a reader generated from that schema (streams/avro_decoder.py).

In and out of this module, records are in their JSON form (dates as ISO strings,
instants as ISO strings in +08:00, absent optionals omitted). All failures are
``CodecError``, whatever the input.
"""
from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path
from typing import Any, Union

import fastavro
from fastavro.schema import fingerprint as _fingerprint_hex
from fastavro.schema import load_schema, parse_schema, to_parsing_canonical_form

import avro_schemas
import avro_schemas.codecs as generated_codecs
from projections.validate import CANONICAL_UUID_RE
from streams import avro_decoder, avro_encoder
from streams.avro_time import EPOCH_ORDINAL, iso_date, iso_instant

Schema = Union[dict, list, str]

SCHEMA_DIR = Path(avro_schemas.__file__).parent
PUBLISHED_DIR = SCHEMA_DIR / "published"
MAGIC = b"\xc3\x01"
HEADER_BYTES = 10  # magic + fingerprint
RECORD_BYTES_MAX = 1024 * 1024  # Kafka's default message.max.bytes; nothing legitimate is larger
MESSAGE_CHARS_MAX = 300  # library error texts can quote whole schemas

CST = timezone(timedelta(hours=8), "Asia/Shanghai")  # fixed offset: China has no DST
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)


class CodecError(ValueError):
    """Bytes or a dict that are not a valid record; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def fingerprint(schema: Schema) -> bytes:
    """CRC-64-AVRO (Rabin) fingerprint of the schema's Parsing Canonical Form, little-endian."""
    return bytes.fromhex(_fingerprint_hex(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


# -- value conversions JSON form <-> Avro ------------------------------------------------

def _days(text: str) -> int:
    return date.fromisoformat(text).toordinal() - EPOCH_ORDINAL


def _micros(text: str) -> int:
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise CodecError(f"instant {text!r} has no zone offset")
    return (instant - _EPOCH_UTC) // _ONE_US


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MESSAGE_CHARS_MAX else text[:MESSAGE_CHARS_MAX] + "…"


def _check_keys(record: Mapping, allowed: frozenset[str], what: str) -> None:
    if not isinstance(record, Mapping):
        raise CodecError(f"{what} must be an object, not {type(record).__name__}")
    if not record.keys() <= allowed:  # dropping them silently would lose data
        raise CodecError(f"unknown field(s) in {what}: {', '.join(sorted(record.keys() - allowed))}")


def _without_nulls(record: dict) -> dict:
    return {k: v for k, v in record.items() if v is not None}


def _clean(schema: Any) -> Any:
    """The schema as plain Avro JSON: fastavro's private ``__`` keys removed."""
    if isinstance(schema, dict):
        return {k: _clean(v) for k, v in schema.items() if not k.startswith("__")}
    if isinstance(schema, list):
        return [_clean(s) for s in schema]
    return schema


def _without_logical_types(schema: Any) -> Any:
    # fastavro reads and writes the raw ints and strings; we convert dates and instants
    # ourselves: cheaper (no datetime/UUID objects), and independent of whether an old
    # writer schema carried the logicalType (fastavro converts by the writer's).
    if isinstance(schema, dict):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(s) for s in schema]
    return schema


# The current schemas, fully expanded (each named type defined once, at first use):
# what gets published, and what readers resolve every old version against.
CREDIT_EVENT_SCHEMA: dict = _clean(load_schema(str(SCHEMA_DIR / "CreditEvent.avsc")))
REJECTION_SCHEMA: dict = _clean(load_schema(str(SCHEMA_DIR / "Rejection.avsc")))
CREDIT_EVENT_FINGERPRINT: bytes = fingerprint(CREDIT_EVENT_SCHEMA)
REJECTION_FINGERPRINT: bytes = fingerprint(REJECTION_SCHEMA)
DIGEST_SCHEMA: dict = _clean(load_schema(str(SCHEMA_DIR / "Digest.avsc")))
DIGEST_FINGERPRINT: bytes = fingerprint(DIGEST_SCHEMA)
GRADE_CHANGED_SCHEMA: dict = _clean(load_schema(str(SCHEMA_DIR / "GradeChanged.avsc")))
GRADE_CHANGED_FINGERPRINT: bytes = fingerprint(GRADE_CHANGED_SCHEMA)
ACCESS_RECORD_SCHEMA: dict = _clean(load_schema(str(SCHEMA_DIR / "AccessRecord.avsc")))
ACCESS_RECORD_FINGERPRINT: bytes = fingerprint(ACCESS_RECORD_SCHEMA)
RELEASE_RECORD_SCHEMA: dict = _clean(load_schema(str(SCHEMA_DIR / "ReleaseRecord.avsc")))
RELEASE_RECORD_FINGERPRINT: bytes = fingerprint(RELEASE_RECORD_SCHEMA)
EXPORT_RECEIPT_SCHEMA: dict = _clean(load_schema(str(SCHEMA_DIR / "ExportReceipt.avsc")))
EXPORT_RECEIPT_FINGERPRINT: bytes = fingerprint(EXPORT_RECEIPT_SCHEMA)

_CURRENT = {  # record name -> (parsed raw schema, single-object header)
    "CreditEvent": (parse_schema(_without_logical_types(CREDIT_EVENT_SCHEMA)), MAGIC + CREDIT_EVENT_FINGERPRINT),
    "Rejection": (parse_schema(_without_logical_types(REJECTION_SCHEMA)), MAGIC + REJECTION_FINGERPRINT),
    "Digest": (parse_schema(_without_logical_types(DIGEST_SCHEMA)), MAGIC + DIGEST_FINGERPRINT),
    "GradeChanged": (parse_schema(_without_logical_types(GRADE_CHANGED_SCHEMA)), MAGIC + GRADE_CHANGED_FINGERPRINT),
    "AccessRecord": (parse_schema(_without_logical_types(ACCESS_RECORD_SCHEMA)), MAGIC + ACCESS_RECORD_FINGERPRINT),
    "ReleaseRecord": (parse_schema(_without_logical_types(RELEASE_RECORD_SCHEMA)), MAGIC + RELEASE_RECORD_FINGERPRINT),
    "ExportReceipt": (parse_schema(_without_logical_types(EXPORT_RECEIPT_SCHEMA)), MAGIC + EXPORT_RECEIPT_FINGERPRINT),
}
PUBLISHED_RECORDS = (CREDIT_EVENT_SCHEMA, REJECTION_SCHEMA, DIGEST_SCHEMA, GRADE_CHANGED_SCHEMA, ACCESS_RECORD_SCHEMA,
                     RELEASE_RECORD_SCHEMA, EXPORT_RECEIPT_SCHEMA)


@dataclass(frozen=True)
class _Writer:
    name: str  # a key of _CURRENT
    schema: dict  # parsed, logical types removed
    reader: dict | None  # the current schema to resolve against; None when it is the current one


_WRITERS: dict[bytes, _Writer] = {}


def register_writer_schema(schema: Mapping | str) -> bytes:
    """Make records written with this (fully expanded) schema readable; returns its fingerprint."""
    try:
        schema = dict(json.loads(schema) if isinstance(schema, str) else schema)
        name = schema.get("name")
        if name not in _CURRENT:
            raise CodecError(f"a writer schema must be one of {', '.join(_CURRENT)}, not {name!r}")
        current, header = _CURRENT[name]
        fp = fingerprint(schema)
        is_current = fp == header[2:]
        parsed = current if is_current else parse_schema(_without_logical_types(schema))
    except CodecError:
        raise
    except Exception as exc:
        raise CodecError(f"invalid writer schema: {_short(exc)}") from exc
    _WRITERS[fp] = _Writer(name, parsed, None if is_current else current)
    return fp


def published_versions() -> dict[bytes, Path]:
    """Every published schema version in ``avro_schemas/published/``, by fingerprint."""
    return {fingerprint(json.loads(p.read_text("utf-8"))): p for p in sorted(PUBLISHED_DIR.glob("*.avsc"))}


for _path in sorted(PUBLISHED_DIR.glob("*.avsc")):
    register_writer_schema(_path.read_text("utf-8"))
register_writer_schema(CREDIT_EVENT_SCHEMA)  # always readable, published or not (a test demands it is)
register_writer_schema(REJECTION_SCHEMA)
register_writer_schema(DIGEST_SCHEMA)
register_writer_schema(GRADE_CHANGED_SCHEMA)
register_writer_schema(ACCESS_RECORD_SCHEMA)
register_writer_schema(RELEASE_RECORD_SCHEMA)
register_writer_schema(EXPORT_RECEIPT_SCHEMA)


def _logical_type(field: dict) -> str | None:
    for t in field["type"] if isinstance(field["type"], list) else [field["type"]]:
        if isinstance(t, dict) and "logicalType" in t:
            return t["logicalType"]
    return None


def _payload_records() -> dict[str, dict]:
    (payload,) = [f for f in CREDIT_EVENT_SCHEMA["fields"] if f["name"] == "payload"]
    return {r["name"]: r for r in payload["type"]}


_EVENT_KEYS = frozenset(f["name"] for f in CREDIT_EVENT_SCHEMA["fields"])
_REJECTION_KEYS = frozenset(f["name"] for f in REJECTION_SCHEMA["fields"])


_CONVERTERS = {  # logicalType -> (JSON form to Avro, Avro to JSON form)
    "date": (_days, iso_date),
    "timestamp-micros": (_micros, iso_instant),
}
# per payload type, its fields that need converting: the loops below stay small
_PAYLOAD_CONVERSIONS: dict[str, dict[str, tuple[Callable, Callable]]] = {
    name: {f["name"]: _CONVERTERS[lt] for f in record["fields"] if (lt := _logical_type(f)) in _CONVERTERS}
    for name, record in _payload_records().items()
}


# -- single-object framing -----------------------------------------------------------------

CURRENT_NAMES = tuple(_CURRENT)


def current_schema(name: str) -> dict:
    """The current schema `name` (a key of _CURRENT), parsed, logical types removed for a writer."""
    return _CURRENT[name][0] if name != "CreditEvent" else CREDIT_EVENT_SCHEMA


def current_fingerprint(name: str) -> bytes:
    return _CURRENT[name][1][2:]


def _fresh(generated: dict[str, Callable]) -> dict[str, Callable]:
    """The generated functions whose schema is the current one: after a schema change and before
    `python -m ops.avro_gen`, fastavro reads and writes that record (and a test fails)."""
    return {name: function for name, function in generated.items()
            if generated_codecs.FINGERPRINTS.get(name) == current_fingerprint(name).hex()}


# Each current schema's own writer (avro_schemas/codecs.py): fastavro's bytes, a fraction of its time.
_WRITE_CURRENT = {name: avro_encoder.writing(write) for name, write in _fresh(generated_codecs.WRITERS).items()}


def generated_writer(name: str) -> Callable[[dict], bytes] | None:
    """The writer generated from the current schema `name`, or None when it is stale or there is none."""
    return _WRITE_CURRENT.get(name)


def _write(name: str, record: dict) -> bytes:
    schema, header = _CURRENT[name]
    write = _WRITE_CURRENT.get(name)
    if write is not None:
        try:
            return header + write(record)
        except avro_encoder.Unwritable:
            pass  # not plainly writable: fastavro writes it, or says what is wrong with it
    out = BytesIO()
    out.write(header)
    # strict_allow_default: unknown keys and missing required fields are errors, in nested records too
    fastavro.schemaless_writer(out, schema, record, strict_allow_default=True)
    return out.getvalue()


_BODY_ERRORS = {  # what fastavro's bare exceptions mean here
    EOFError: "truncated, the body ends early; ",
    IndexError: "a union branch or enum symbol index is out of range; ",
    UnicodeDecodeError: "a string is not UTF-8; ",
}


def _writer_of(name: str, data: bytes) -> _Writer:
    """The writer schema named by the single-object header, after the framing's checks."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError(f"expected bytes, got {type(data).__name__}")
    size = len(data)
    if size > RECORD_BYTES_MAX:
        raise CodecError(f"record of {size} bytes exceeds the limit of {RECORD_BYTES_MAX}")
    if size < HEADER_BYTES:
        raise CodecError(f"truncated: {size} bytes, a single-object header alone is {HEADER_BYTES}")
    if data[:2] != MAGIC:
        raise CodecError(f"wrong magic {bytes(data[:2]).hex()}, expected c301 (Avro single-object encoding)")
    fp = bytes(data[2:HEADER_BYTES])
    writer = _WRITERS.get(fp)
    if writer is None:
        raise CodecError(f"unknown writer schema fingerprint {fp.hex()}: not in avro_schemas/published/")
    if writer.name != name:
        raise CodecError(f"fingerprint {fp.hex()} is a {writer.name} schema, expected {name}")
    return writer


def _read(name: str, data: bytes, writer: _Writer | None = None) -> dict:
    writer = writer or _writer_of(name, data)
    size = len(data)
    body = BytesIO(data)
    body.seek(HEADER_BYTES)
    try:
        # record names for the payload union only; an optional record (["null", R]) comes back plain
        record = fastavro.schemaless_reader(body, writer.schema, writer.reader, return_record_name=True,
                                            return_record_name_override=True)
    except Exception as exc:  # whatever fastavro raises on garbage
        hint = _BODY_ERRORS.get(type(exc), "")
        raise CodecError(f"undecodable {name} body: {hint}{_short(exc)}") from exc
    if body.tell() != size:
        raise CodecError(f"{size - body.tell()} trailing bytes after the {name} body")
    return record


# -- CreditEvent -----------------------------------------------------------------------------

_SEALED_KEYS = frozenset(("key_id", "nonce", "ciphertext"))
_SEALED_BYTES = ("nonce", "ciphertext")  # bytes in Avro, base64 text in the JSON form


def _subject_to_avro(subject: Any) -> Any:
    if not isinstance(subject, Mapping) or subject.get("pii") is None:
        return subject  # fastavro names whatever else is wrong
    sealed = subject["pii"]
    _check_keys(sealed, _SEALED_KEYS, "subject.pii")
    converted = dict(sealed)
    for name in _SEALED_BYTES:
        try:
            converted[name] = base64.b64decode(sealed[name], validate=True)
        except KeyError:
            raise CodecError(f"cannot encode event: missing field 'subject.pii.{name}'") from None
        except (binascii.Error, TypeError, ValueError) as exc:
            raise CodecError(f"subject.pii.{name} is not base64: {_short(exc)}") from exc
    return {**subject, "pii": converted}


def _subject_to_json(subject: dict) -> dict:
    subject = _without_nulls(subject)
    if "pii" in subject:
        subject["pii"] = {**subject["pii"], **{name: base64.b64encode(subject["pii"][name]).decode("ascii")
                                               for name in _SEALED_BYTES}}
    return subject


def encode_event(event: Mapping[str, Any]) -> bytes:
    """The JSON form of an event (DESIGN "Events") as single-object Avro."""
    try:
        _check_keys(event, _EVENT_KEYS, "event")
        type_name = event["type"]
        conversions = _PAYLOAD_CONVERSIONS.get(type_name) if isinstance(type_name, str) else None
        if conversions is None:
            raise CodecError(f"unknown event type {type_name!r}")
        payload = event["payload"]
        if not isinstance(payload, Mapping):
            raise CodecError(f"payload must be an object, not {type(payload).__name__}")
        if conversions:
            payload = dict(payload)
            for field, (to_avro, _) in conversions.items():
                if payload.get(field) is not None:
                    payload[field] = to_avro(payload[field])
        return _write("CreditEvent", {
            "event_id": str(uuid.UUID(event["event_id"])),  # canonical lower-case form
            "type": type_name,
            "subject": _subject_to_avro(event["subject"]),
            "source": event["source"],
            "occurred_on": _days(event["occurred_on"]),
            "recorded_at": _micros(event["recorded_at"]),
            "classification": event["classification"],
            "payload": (type_name, payload),  # the branch by name: same-shaped records never mix
        })
    except CodecError:
        raise
    except KeyError as exc:
        raise CodecError(f"cannot encode event: missing field {exc.args[0]!r}") from exc
    except Exception as exc:
        raise CodecError(f"cannot encode event: {_short(exc)}") from exc


# The current CreditEvent schema's own reader (avro_schemas/codecs.py): straight to the JSON form.
_READ_CURRENT_EVENT = {name: avro_decoder.reading(read) for name, read in _fresh(generated_codecs.READERS).items()
                       }.get("CreditEvent")


def decode_event(data: bytes) -> dict:
    """Single-object Avro bytes back to the event's JSON form."""
    writer = _writer_of("CreditEvent", data)
    if writer.reader is not None or _READ_CURRENT_EVENT is None:
        return _decode_event_resolved(data, writer)
    try:
        event, end = _READ_CURRENT_EVENT(bytes(data), HEADER_BYTES)
    except Exception as exc:  # whatever garbage makes the reader raise
        raise CodecError(f"undecodable CreditEvent body: {_BODY_ERRORS.get(type(exc), '')}{_short(exc)}") from exc
    if end != len(data):
        raise CodecError(f"{len(data) - end} trailing bytes after the CreditEvent body")
    type_name, event["payload"] = event["payload"]
    if type_name != event["type"]:
        raise CodecError(f"type {event['type']!r} does not match the payload record {type_name}")
    _check_event_id(event["event_id"])
    return event


def _check_event_id(event_id: str) -> None:
    if not CANONICAL_UUID_RE.fullmatch(event_id):
        try:  # the writer guaranteed a UUID; garbage did not
            uuid.UUID(event_id)
        except ValueError:
            raise CodecError(f"event_id {event_id[:40]!r} is not a UUID") from None


def _decode_event_resolved(data: bytes, writer: _Writer | None = None) -> dict:
    """decode_event through fastavro, resolving the writer's schema against the current one:
    records of older schemas (and the tests' oracle for the generated reader)."""
    record = _read("CreditEvent", data, writer)
    try:
        type_name, payload = record["payload"]
        if type_name != record["type"]:
            raise CodecError(f"type {record['type']!r} does not match the payload record {type_name}")
        payload = _without_nulls(payload)
        for field, (_, to_json) in _PAYLOAD_CONVERSIONS[type_name].items():
            if field in payload:
                payload[field] = to_json(payload[field])
        _check_event_id(record["event_id"])
        return {
            "event_id": record["event_id"],
            "type": type_name,
            "subject": _subject_to_json(record["subject"]),
            "source": _without_nulls(record["source"]),
            "occurred_on": iso_date(record["occurred_on"]),
            "recorded_at": iso_instant(record["recorded_at"]),
            "classification": record["classification"],
            "payload": payload,
        }
    except CodecError:
        raise
    except Exception as exc:  # e.g. a date or instant out of range
        raise CodecError(f"undecodable CreditEvent: {_short(exc)}") from exc


# -- Rejection -------------------------------------------------------------------------------

def encode_rejection(rejection: Mapping[str, Any]) -> bytes:
    """A rejection {event_id?, topic, partition, offset, reasons[{field, rule, message}],
    raw_digest (bytes: streams.edge.rejection_record computes it), rejected_at (ISO instant)} as
    single-object Avro. Records written with the raw bytes still decode, without them."""
    try:
        _check_keys(rejection, _REJECTION_KEYS, "rejection")
        return _write("Rejection", {**rejection, "rejected_at": _micros(rejection["rejected_at"])})
    except CodecError:
        raise
    except KeyError as exc:
        raise CodecError(f"cannot encode rejection: missing field {exc.args[0]!r}") from exc
    except Exception as exc:
        raise CodecError(f"cannot encode rejection: {_short(exc)}") from exc


def decode_rejection(data: bytes) -> dict:
    """Single-object Avro bytes back to the rejection dict (event_id and raw_digest omitted when null)."""
    record = _read("Rejection", data)
    try:
        record["rejected_at"] = iso_instant(record["rejected_at"])
    except Exception as exc:
        raise CodecError(f"undecodable Rejection: {_short(exc)}") from exc
    return _without_nulls(record)


# -- Digest and GradeChanged: records with an `at` instant ------------------------------------

def _encode_at(name: str, record: Mapping[str, Any]) -> bytes:
    try:
        return _write(name, {**record, "at": _micros(record["at"])})
    except CodecError:
        raise
    except Exception as exc:
        raise CodecError(f"cannot encode {name}: {_short(exc)}") from exc


def _decode_at(name: str, data: bytes) -> dict:
    record = _read(name, data)
    try:
        return {**record, "at": iso_instant(record["at"])}
    except Exception as exc:
        raise CodecError(f"undecodable {name}: {_short(exc)}") from exc


def encode_digest(digest: Mapping[str, Any]) -> bytes:
    """A partition digest {topic, partition, offset, root, at (ISO instant)} as single-object Avro."""
    return _encode_at("Digest", digest)


def decode_digest(data: bytes) -> dict:
    return _decode_at("Digest", data)


def encode_grade_changed(change: Mapping[str, Any]) -> bytes:
    """A GradeChanged {subject_id, from_/to_letter, from_/to_score, policy_version, cause, cause_event_id,
    offset, added, removed, at (ISO instant)} as single-object Avro."""
    return _encode_at("GradeChanged", change)


def decode_grade_changed(data: bytes) -> dict:
    return _decode_at("GradeChanged", data)


# -- AccessRecord: who read which non-public records (credit.access-log) ---------------------

def encode_access_record(record: Mapping[str, Any]) -> bytes:
    """An AccessRecord {principal, role, authority_code?, subject_id?, action, record_ids[], record_count, reason,
    endpoint, at (ISO instant)} (projections.access.access_record) as single-object Avro."""
    return _encode_at("AccessRecord", record)


def decode_access_record(data: bytes) -> dict:
    return _decode_at("AccessRecord", data)


# -- ReleaseRecord: a dated, numbered release of a red or black list (credit.releases) ----------

def encode_release_record(record: Mapping[str, Any]) -> bytes:
    """A ReleaseRecord {number, list_kind, as_of, digest, entry_count, principal, at (ISO instant)}
    (projections/releases.py) as single-object Avro."""
    return _encode_at("ReleaseRecord", record)


def decode_release_record(data: bytes) -> dict:
    return _decode_at("ReleaseRecord", data)


# -- ExportReceipt: a batch of the upward export, recorded (credit.exports) ------------------------

def encode_export_receipt(record: Mapping[str, Any]) -> bytes:
    """An ExportReceipt (projections/exports.py RECEIPT_FIELDS, principal, at (ISO instant)) as single-object
    Avro."""
    return _encode_at("ExportReceipt", record)


def decode_export_receipt(data: bytes) -> dict:
    return _decode_at("ExportReceipt", data)
