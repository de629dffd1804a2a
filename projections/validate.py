"""Validation of events in their JSON form, at every edge (SDK, HTTP, files).

Every problem names the field and the rule, so a publisher can fix its data
without reading our code. A problem never quotes what may be personal: a value it shows has its
runs of digits masked (an ID number, a birth date), an unusual key is not spelled out, the natural
person's name is never repeated, and an ID number or that name anywhere but in subject.id_number and
subject.name refuses the event (`personal_identifier`, projections/personal_data.py). Validation
collects all problems, never just the first, and the accepted event comes back canonical: defaults
filled in, instants in +08:00, a natural person pseudonymised.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime

from projections import catalogue as cat
from projections.canonical import SHANGHAI, canonical_bytes, instant_text
from projections import personal_data
from projections.ids import resident_id_problems, uscc_problems
from projections.measures import MEASURES
from projections.pseudonym import (MIN_PSEUDONYM_KEY_BYTES, PSEUDONYM_HEX_CHARS, PSEUDONYM_PREFIX, is_pseudonym,
                                   pseudonym)
from projections.subject_kinds import kind_problem

ENVELOPE_KEYS = frozenset(
    ("event_id", "type", "subject", "source", "occurred_on", "recorded_at", "classification", "payload")
)
SUBJECT_KEYS = frozenset(("id", "kind", "name", "id_number", "pii"))
SOURCE_KEYS = frozenset(("authority_code", "authority_name", "system"))
SEALED_PII_KEYS = frozenset(("key_id", "nonce", "ciphertext"))
# ASCII digits only, the whole text (re's \d takes any script's digits, and $ a trailing newline)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
# str(uuid.UUID(x)) is x itself for text of this form: no need to parse it (the ids in the log are all so)
CANONICAL_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
_INSTANT_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})", re.ASCII)

# Limits of what a problem quotes back, so that a 64 KiB value or key is not echoed in full
# into every rejection (and into credit.rejected).
SHOWN_CHARS_MAX = 40  # of an offending value
FIELD_NAME_CHARS_MAX = 64  # of an unknown key in a problem's field path
UNKNOWN_FIELDS_REPORTED_MAX = 20  # per object; then one problem says how many more
TYPE_CHARS_MAX = 64  # the longest catalogue type name is 25 characters
# Sealed personal information (streams/pii.py): AES-256-GCM with a 96-bit nonce.
SEALED_NONCE_BYTES = 12
SEALED_CIPHERTEXT_BYTES_MAX = 4 * 1024  # a name of 200 characters and an ID number, plus the tag, fit easily
KEY_ID_CHARS_MAX = 64
# Event ids a publisher left out are derived from the event itself, so that
# publishing the same file twice is idempotent.
EVENT_ID_NAMESPACE = uuid.UUID("0b9f6a4e-6c1e-5d0a-9f51-6c6564676572")
# source.system of every event the ledger's timers write (projections/deadlines.py); an edge that is not
# the timers' refuses it, and the fold keeps the ids of the timers' events apart from publishers' ones.
TIMER_SYSTEM = "credit-ledger timers"


@dataclass(frozen=True)
class Problem:
    field: str
    rule: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.field}: {self.message} [{self.rule}]"


# Every rule validation names: rule id -> what it means. A Problem's `rule` is one of these keys.
EDGE_RULES: dict[str, str] = {
    "object": "must be a JSON object",
    "json": "the value is not JSON (a key that is not text, nesting too deep, an integer beyond 64 bits)",
    "size_limit": "the event is larger than EVENT_BYTES_MAX in its JSON form",
    "nesting": "objects and arrays nested deeper than JSON_DEPTH_MAX (projections/json_input.py)",
    "encoding": "bytes that are not UTF-8, or a lone surrogate (an escape like \\ud800): no character",
    "number": "NaN, Infinity, or a number beyond 64 bits (an integer) or a double (a float)",
    "unknown_field": "a key the envelope, subject, source or payload does not have",
    "required": "a required field is missing",
    "unknown_type": "the type is not in the catalogue",
    "system_type": "a system type, written only by the ledger's timers",
    "system_source": "source.system names the ledger's timers (TIMER_SYSTEM): no publisher writes as them",
    "uuid": "event_id is not a UUID",
    "max_length": "text longer than the field's limit (characters)",
    "text": "must be non-empty text",
    "enum": "not one of the allowed values",
    "uscc": "not a valid unified social credit code (GB 32100-2015)",
    "self_source": "a source naming a natural person (source.authority_code a pseudonym, np- and 32 lower-case hex "
                   "digits) is that person's own filing: one of SELF_FILED_TYPES, on its own file (subject.id the "
                   "same pseudonym), source.authority_name 本人 (SELF_SOURCE_NAME, never a name) and no source.system",
    "kind_contradicts_code": "subject.kind contradicts the kind of subject the USCC's registration category "
                             "(positions 1-2) admits under the Civil Code, e.g. a 事业单位 (1-2) or a 农民专业合作社 "
                             "(9-3) sent as OTHER_ORGANIZATION (projections/subject_kinds.py); judged of a "
                             "publisher's new event only, so the records already in the log still read",
    "resident_id": "not a valid resident ID number (GB 11643-1999)",
    "pseudonym_key": "no pseudonym key configured to replace the ID number with",
    "natural_person_only": "only a NATURAL_PERSON carries id_number or sealed personal information",
    "sealed_pii": "sealed personal information is malformed, or sent by a publisher (only the ledger's edge seals)",
    "date": "not an ISO-8601 calendar date",
    "instant": "not an ISO-8601 instant with a zone",
    "not_in_future": "a date or instant after the edge's clock",
    "integer": "must be an integer",
    "range": "a number or a date outside the field's bounds (the catalogue's: dates 1949-10-01..2099-12-31)",
    "code_format": "a national code field without its standard's form: region_code six digits of GB/T 2260 "
                   "(a province-level prefix 11..82), industry_code a GB/T 4754 section letter and its digits",
    "boolean": "must be true or false",
    "list": "must be a non-empty list",
    "max_items": "a list longer than LIST_ITEMS_MAX",
    "item": "a list item that is not allowed",
    "one_of": "two fields of which only one may be given",
    "measure_code": "a measure code (MeasureApplied, MeasureDeclined) the catalogue of joint measures lacks "
                    "(projections/measures.yaml)",
    personal_data.RULE: personal_data.RULE_MEANING,
}


class InvalidEvent(ValueError):
    """Raised by the SDK and the edges; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class EdgeContext:
    """What the edge adds to an event: the time it accepts it, the pseudonym key."""

    now: datetime
    pseudonym_key: bytes
    stamp_recorded_at: bool = True  # False only for --from-file reads of an exported log
    allow_system: bool = False  # only the ledger's own timers write system events
    # subject.pii is sealed by the ledger's edge (streams/pii.py) after validation; a publisher
    # never sends it, and the log (read back by the worker, replay, audit) carries it.
    accept_sealed_pii: bool = False


def validate_event(raw, ctx: EdgeContext) -> tuple[dict | None, list[Problem]]:
    """Check one event in JSON form. Returns (canonical event, []) or (None, problems)."""
    problems: list[Problem] = []
    add = _problem_adder(problems, _person_name(raw))
    if not _check_json_object(raw, add):
        return None, problems
    _unknown_keys(raw, ENVELOPE_KEYS, "", "the CreditEvent envelope", add)

    event_type = raw.get("type")
    spec = _check_type(event_type, ctx, add)
    event_id = _check_event_id(raw.get("event_id"), add)
    subject = _check_subject(raw.get("subject"), ctx, add)
    source = _check_source(raw.get("source"), add)
    if source is not None:
        _check_self_source(event_type, subject, source, add)
        _check_not_timers(source, ctx, add)
    today = ctx.now.astimezone(SHANGHAI).date()  # valid time is a date in China, not in UTC
    occurred_on = _check_occurred_on(raw.get("occurred_on"), today, add)
    recorded_at = _check_recorded_at(raw.get("recorded_at"), ctx, add)
    classification = _check_classification(raw.get("classification"), spec, add)
    if ctx.stamp_recorded_at:  # a publisher's new event; the records already in the log still read
        for field, message in personal_data.personal_identifier_problems(raw, today):
            add(field, personal_data.RULE, message)
    payload = _check_payload_object(raw.get("payload"), spec, add)

    if problems:
        return None, problems
    event = {
        "type": event_type,
        "subject": subject,
        "source": source,
        "occurred_on": occurred_on.isoformat(),
        "recorded_at": instant_text(ctx.now if ctx.stamp_recorded_at else recorded_at),
        "classification": classification,
        "payload": payload,
    }
    if event_id is None:  # derived without recorded_at, so a re-publish gives the same id
        event_id = str(uuid.uuid5(EVENT_ID_NAMESPACE, canonical_bytes({**event, "recorded_at": None}).decode()))
    event["event_id"] = event_id
    return event, []


def _problem_adder(problems: list[Problem], person_name: str | None):
    """The `add(field, rule, message)` the checks report with: it appends a Problem to `problems`."""
    if person_name is None:
        return lambda field, rule, message: problems.append(Problem(field, rule, message))
    # a problem never repeats the natural person's name, wherever the publisher put it
    return lambda field, rule, message: problems.append(
        Problem(field.replace(person_name, "…"), rule, message.replace(person_name, "…")))


def _check_json_object(raw, add) -> bool:
    """Whether the event is a JSON object within EVENT_BYTES_MAX; adds the problem when not."""
    if not isinstance(raw, dict):
        add("$", "object", "an event must be a JSON object")
        return False
    try:
        size_bytes = len(canonical_bytes(raw))
    except TypeError as error:  # orjson's JSONEncodeError: a non-text key, nesting too deep, a huge int
        add("$", "json", f"not JSON-serialisable: {_shown(str(error), 120)}")
        return False
    if size_bytes > cat.EVENT_BYTES_MAX:
        add("$", "size_limit", f"event is {size_bytes} bytes, the limit is {cat.EVENT_BYTES_MAX}")
        return False
    return True


def _check_type(event_type, ctx: EdgeContext, add) -> cat.EventType | None:
    """The catalogue's spec of the event's type, None when the type is none of the catalogue's."""
    spec = cat.EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if event_type is None:
        add("type", "required", "missing")
    elif isinstance(event_type, str) and len(event_type) > TYPE_CHARS_MAX:
        add("type", "max_length", f"{len(event_type)} characters, the limit is {TYPE_CHARS_MAX}")
    elif spec is None:
        add("type", "unknown_type", f"{_shown(event_type)} is not an event type of the catalogue")
    elif spec.system and not ctx.allow_system:
        add("type", "system_type", f"{event_type} is written only by the ledger's timers")
    return spec


def _check_event_id(event_id, add) -> str | None:
    """event_id as a canonical UUID text, None when left out (or not a UUID: the problem is added)."""
    if event_id is not None and not (isinstance(event_id, str) and CANONICAL_UUID_RE.fullmatch(event_id)):
        try:
            event_id = str(uuid.UUID(event_id)) if isinstance(event_id, str) else None
        except ValueError:
            event_id = None
        if event_id is None:
            add("event_id", "uuid", "must be a UUID, e.g. 7d0c5c1e-4b0e-4a8e-9b9e-2f3d1a0c9e11")
    return event_id


def _check_not_timers(source: dict, ctx: EdgeContext, add) -> None:
    """Refuses a source.system naming the ledger's timers, except at the timers' own edge (rule system_source)."""
    if source.get("system") == TIMER_SYSTEM and not ctx.allow_system:
        add("source.system", "system_source",
            f"{TIMER_SYSTEM!r} is the ledger's timers; a publisher names a system of its own")


def _check_occurred_on(value, today: date, add) -> date | None:
    """occurred_on as a date, required, within the envelope's bounds and not after `today`."""
    occurred_on = _check_date(value, "occurred_on", True, add, cat.ENVELOPE_DATE_BOUNDS)
    if occurred_on is not None and occurred_on > today:
        add("occurred_on", "not_in_future", f"{occurred_on} is after today ({today}, Asia/Shanghai)")
    return occurred_on


def _check_recorded_at(recorded_at, ctx: EdgeContext, add) -> datetime | None:
    """recorded_at as an instant (required when the edge does not stamp it), not after the edge's clock."""
    moment = _check_instant(recorded_at, "recorded_at", not ctx.stamp_recorded_at, add)
    if moment is not None and moment > ctx.now:
        add("recorded_at", "not_in_future", f"{recorded_at} is after now ({instant_text(ctx.now)})")
    return moment


def _check_classification(classification, spec: cat.EventType | None, add) -> str | None:
    """The event's classification: the one given, else its type's default."""
    if classification is None:
        classification = spec.default_classification if spec is not None else None
    elif classification not in cat.CLASSIFICATIONS:
        add("classification", "enum", f"must be one of {', '.join(cat.CLASSIFICATIONS)}")
    return classification


def _check_payload_object(payload, spec: cat.EventType | None, add) -> dict | None:
    """The payload, checked against its type's fields when the type is known; None when it is no object."""
    if not isinstance(payload, dict):
        add("payload", "object", "must be a JSON object" if payload is not None else "missing")
        return None
    if spec is not None:
        return _check_payload(spec, payload, add)
    return payload


def require_valid(raw, ctx: EdgeContext) -> dict:
    event, problems = validate_event(raw, ctx)
    if problems:
        raise InvalidEvent(problems)
    return event


def _shown(value, limit_chars: int = SHOWN_CHARS_MAX) -> str:
    """A value as a problem quotes it: repr with its runs of 4 or more digits masked (it may be an ID
    number, or hold one), cut to a limit."""
    text = personal_data.masked(repr(value))
    return text if len(text) <= limit_chars else text[:limit_chars] + "…"


def _person_name(raw) -> str | None:
    """subject.name when it may be a natural person's (any kind: a lower-case one is a natural person
    too), for problems never to repeat it."""
    subject = raw.get("subject") if isinstance(raw, dict) else None
    name = subject.get("name") if isinstance(subject, dict) else None
    kind = subject.get("kind") if isinstance(subject, dict) else None
    if not isinstance(name, str) or not name.strip() or kind in cat.SUBJECT_KINDS and kind != "NATURAL_PERSON":
        return None
    return name


def _field_name(key: str) -> str:
    """An unknown key as a field path shows it: quoted when it is empty, has a dot or is not
    printable (so the path stays readable and unambiguous), its runs of digits masked, cut to a limit."""
    if not key or "." in key or not key.isprintable():
        key = json.dumps(key, ensure_ascii=True)
    key = personal_data.masked(key)
    return key if len(key) <= FIELD_NAME_CHARS_MAX else key[:FIELD_NAME_CHARS_MAX] + "…"


def _unknown_keys(obj: dict, known: frozenset[str], prefix: str, what: str, add) -> None:
    if obj.keys() <= known:  # the usual case, four times an event: no set to build
        return
    unknown = sorted(set(obj) - known)
    for key in unknown[:UNKNOWN_FIELDS_REPORTED_MAX]:
        add(prefix + _field_name(key), "unknown_field", f"not a field of {what}")
    if len(unknown) > UNKNOWN_FIELDS_REPORTED_MAX:
        add(prefix.rstrip(".") or "$", "unknown_field",
            f"and {len(unknown) - UNKNOWN_FIELDS_REPORTED_MAX} more keys that are not fields of {what}")


def _short_text(value, field: str, add, limit_chars: int = cat.SHORT_CHARS_MAX) -> bool:
    """Whether `value` is non-empty text within the limit; adds the problem when not."""
    if not isinstance(value, str) or not value:
        add(field, "text", f"must be text of 1 to {limit_chars} characters")
        return False
    if len(value) > limit_chars:
        add(field, "max_length", f"{len(value)} characters, the limit is {limit_chars}")
        return False
    return True


def _check_subject(subject, ctx: EdgeContext, add) -> dict | None:
    if not isinstance(subject, dict):
        add("subject", "object", "must be an object with id, kind and name" if subject is not None else "missing")
        return None
    _unknown_keys(subject, SUBJECT_KEYS, "subject.", "subject", add)
    kind = subject.get("kind")
    if kind not in cat.SUBJECT_KINDS:
        add("subject.kind", "enum", f"must be one of {', '.join(cat.SUBJECT_KINDS)}")
        return None
    name = subject.get("name")
    if name is not None:
        _short_text(name, "subject.name", add)
    subject_id, id_number, sealed = subject.get("id"), subject.get("id_number"), subject.get("pii")
    if subject_id is not None and not _short_text(subject_id, "subject.id", add):
        return None
    if kind == "NATURAL_PERSON":
        # The edge replaces the ID number by a keyed pseudonym; name and number never reach Kafka
        # in plaintext (streams/pii.py seals them into subject.pii after validation).
        if sealed is not None and (not ctx.accept_sealed_pii or id_number is not None):
            add("subject.pii", "sealed_pii", "personal information is sealed only by the ledger's edge; "
                                             "send name and id_number instead")
            return None
        if id_number is not None:
            if not isinstance(id_number, str):
                add("subject.id_number", "resident_id", "must be the 18-character resident ID number as text")
                return None
            messages = resident_id_problems(id_number, today=ctx.now.astimezone(SHANGHAI).date())
            for message in messages:
                add("subject.id_number", "resident_id", message)
            if messages:
                return None
            if len(ctx.pseudonym_key) < MIN_PSEUDONYM_KEY_BYTES:  # e.g. a replay with no key configured
                add("subject.id_number", "pseudonym_key", "no pseudonym key to replace the ID number with")
                return None
            return {"id": pseudonym(id_number, ctx.pseudonym_key), "kind": kind}
        if isinstance(subject_id, str) and subject_id.startswith(PSEUDONYM_PREFIX) and name is None:
            result = {"id": subject_id, "kind": kind}  # already pseudonymised (the log, an exported log)
            if sealed is not None:
                checked = _check_sealed_pii(sealed, add)
                if checked is None:
                    return None
                result["pii"] = checked
            return result
        add("subject.id_number", "required", "a natural person needs id_number (居民身份证号)")
        return None
    if id_number is not None:
        add("subject.id_number", "natural_person_only", "only a NATURAL_PERSON carries id_number")
    if sealed is not None:
        add("subject.pii", "natural_person_only", "only a NATURAL_PERSON carries sealed personal information")
    if not isinstance(subject_id, str):
        add("subject.id", "required", "missing: the unified social credit code (统一社会信用代码)")
        return None
    messages = _uscc_messages(subject_id)
    for message in messages:
        add("subject.id", "uscc", message)
    contradiction = kind_problem(kind, subject_id) if not messages and ctx.stamp_recorded_at else None
    if contradiction is not None:
        add("subject.kind", "kind_contradicts_code", contradiction)
    result = {"id": subject_id, "kind": kind}
    if name is not None:
        result["name"] = name
    return result


def _uscc_messages(code: str) -> list[str]:
    """uscc_problems, but for a resident ID number sent as a code: its characters are not quoted (the
    `personal_identifier` problem names it too)."""
    if len(code) == 18 and personal_data.is_resident_id(code):
        return ["not a unified social credit code (GB 32100-2015): it is a resident ID number"]
    return uscc_problems(code)


def _check_sealed_pii(sealed, add) -> dict | None:
    """The JSON form of sealed personal information: key_id, and nonce and ciphertext in
    canonical base64 (so that the JSON -> Avro -> JSON round trip is the identity)."""
    if not isinstance(sealed, dict):
        add("subject.pii", "sealed_pii", "must be an object with key_id, nonce and ciphertext")
        return None
    _unknown_keys(sealed, SEALED_PII_KEYS, "subject.pii.", "sealed personal information", add)
    ok = set(sealed) <= SEALED_PII_KEYS
    ok = _short_text(sealed.get("key_id"), "subject.pii.key_id", add, KEY_ID_CHARS_MAX) and ok
    for name, low, high in (("nonce", SEALED_NONCE_BYTES, SEALED_NONCE_BYTES),
                            ("ciphertext", 17, SEALED_CIPHERTEXT_BYTES_MAX)):  # GCM: the 16-byte tag and a byte
        value, field = sealed.get(name), f"subject.pii.{name}"
        if not isinstance(value, str) or len(value) > 2 * high:
            add(field, "sealed_pii", f"must be base64 text of {low} to {high} bytes")
            ok = False
            continue
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = None
        if raw is None or base64.b64encode(raw).decode() != value or not low <= len(raw) <= high:
            add(field, "sealed_pii", f"must be canonical base64 of {low} to {high} bytes")
            ok = False
    return dict(sealed) if ok else None


def _check_source(source, add) -> dict | None:
    if not isinstance(source, dict):
        add("source", "object", "must be an object with authority_code and authority_name" if source is not None else "missing")
        return None
    _unknown_keys(source, SOURCE_KEYS, "source.", "source", add)
    code = source.get("authority_code")
    if not isinstance(code, str):
        add("source.authority_code", "required", "missing: the authority's unified social credit code")
    elif len(code) > cat.SHORT_CHARS_MAX:
        add("source.authority_code", "max_length", f"{len(code)} characters, the limit is {cat.SHORT_CHARS_MAX}")
    elif not code.startswith(PSEUDONYM_PREFIX):  # a pseudonym: a person's own filing (_check_self_source)
        for message in _uscc_messages(code):
            add("source.authority_code", "uscc", message)
    result = {"authority_code": code}
    for key, required in (("authority_name", True), ("system", False)):
        value = source.get(key)
        if value is None:
            if required:
                add(f"source.{key}", "required", "missing")
            continue
        _short_text(value, f"source.{key}", add)
        result[key] = value
    return result


def _check_self_source(event_type, subject: dict | None, source: dict, add) -> None:
    """A natural person files as itself (issue 31 part 5): its pseudonym as source.authority_code, only
    SELF_FILED_TYPES, only on its own file, under the fixed name 本人 and no system (rule self_source)."""
    code = source["authority_code"]
    if not isinstance(code, str) or not code.startswith(PSEUDONYM_PREFIX):
        return  # an authority's USCC (checked in _check_source)
    if not is_pseudonym(code):
        add("source.authority_code", "self_source",
            f"a natural person is named by {PSEUDONYM_PREFIX} and {PSEUDONYM_HEX_CHARS} lower-case hex digits")
    elif subject is not None and subject["id"] != code:
        add("source.authority_code", "self_source",
            "a natural person files only on its own file: source.authority_code must be subject.id")
    if event_type not in cat.SELF_FILED_TYPES:
        add("type", "self_source", f"a natural person files only {', '.join(cat.SELF_FILED_TYPES)} itself")
    if source.get("authority_name") != cat.SELF_SOURCE_NAME:
        add("source.authority_name", "self_source",
            f"a natural person's own filing is named {cat.SELF_SOURCE_NAME}, never by the person's name")
    if source.get("system") is not None:
        add("source.system", "self_source", "a natural person's own filing names no system")


def _check_date(value, field: str, required: bool, add, bounds: cat.Bounds = cat.DATE_BOUNDS) -> date | None:
    if value is None:
        if required:
            add(field, "required", "missing")
        return None
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        add(field, "date", f"{_shown(value)} is not an ISO-8601 date like 2024-05-06")
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        add(field, "date", f"{value} does not exist in the calendar")  # dashes: no birth date's YYYYMMDD
        return None
    if value not in bounds:  # ISO dates compare as text
        add(field, "range", f"{value} is outside {bounds}")
        return None
    return day


def _check_instant(value, field: str, required: bool, add) -> datetime | None:
    if value is None:
        if required:
            add(field, "required", "missing")
        return None
    if not isinstance(value, str) or not _INSTANT_RE.fullmatch(value):
        add(field, "instant", f"{_shown(value)} is not an ISO-8601 instant with a zone like 2024-05-07T09:30:00+08:00")
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        add(field, "instant", f"{value} does not exist in the calendar")
        return None
    # the text's own day first: within the bounds, the conversion to +08:00 cannot overflow
    bounds = cat.ENVELOPE_DATE_BOUNDS
    if value[:10] not in bounds or moment.astimezone(SHANGHAI).date().isoformat() not in bounds:
        add(field, "range", f"{value} is outside {bounds} (Asia/Shanghai)")
        return None
    return moment


_PAYLOAD_KEYS = {name: frozenset(fld.name for fld in spec.fields) for name, spec in cat.EVENT_TYPES.items()}


def _check_payload(spec: cat.EventType, payload: dict, add) -> dict:
    _unknown_keys(payload, _PAYLOAD_KEYS[spec.name], "payload.", spec.name, add)
    result = {}
    for fld in spec.fields:
        path = f"payload.{fld.name}"
        value = payload.get(fld.name)
        if value is None:
            if fld.required:
                add(path, "required", "missing")
            continue
        checked = _check_value(fld, value, path, add)
        if checked is not None:
            result[fld.name] = checked
    if spec.name == "CommitmentMade" and "due_on" in result and "due_working_days" in result:
        add("payload.due_working_days", "one_of", "give due_on or due_working_days, not both")
    if spec.name in cat.MEASURE_FEEDBACK_TYPES and "measure" in result and result["measure"] not in MEASURES:
        add("payload.measure", "measure_code", f"{_shown(result['measure'])} is not a code of the catalogue of "
                                               f"joint measures")
    return result


def _check_value(fld: cat.Field, value, path: str, add):
    kind = fld.kind
    if kind == cat.STR:
        if not isinstance(value, str) or not value.strip():
            add(path, "text", "must be non-empty text")
        elif len(value) > fld.max_chars:
            add(path, "max_length", f"{len(value)} characters, the limit is {fld.max_chars}")
        elif fld.code is not None and not re.fullmatch(fld.code.pattern, value):
            add(path, "code_format", f"not a {fld.code.standard} code (e.g. {fld.code.example})")
        else:
            return value
    elif kind == cat.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            add(path, "integer", "must be an integer (money is in fen, 1 yuan = 100 fen)")
        elif value not in fld.bounds:
            add(path, "range", f"{_shown(value)} is outside {fld.bounds}")
        else:
            return value
    elif kind == cat.BOOL:
        if not isinstance(value, bool):
            add(path, "boolean", "must be true or false")
        else:
            return value
    elif kind == cat.DATE:
        parsed = _check_date(value, path, True, add, fld.bounds)
        return parsed.isoformat() if parsed else None
    elif kind == cat.ENUM:
        if value not in fld.values:
            add(path, "enum", f"{_shown(value)} is not one of {', '.join(fld.values)}")
        else:
            return value
    elif kind in (cat.STR_LIST, cat.ENUM_LIST):
        if not isinstance(value, list) or not value:
            add(path, "list", "must be a non-empty list")
        elif len(value) > cat.LIST_ITEMS_MAX:
            add(path, "max_items", f"{len(value)} items, the limit is {cat.LIST_ITEMS_MAX}")
        else:
            too_long = [i for i, v in enumerate(value) if isinstance(v, str) and len(v) > cat.SHORT_CHARS_MAX]
            bad = [v for v in value if not isinstance(v, str) or not v]
            if kind == cat.ENUM_LIST:
                bad, too_long = [v for v in value if v not in fld.values], []
            if too_long:
                add(f"{path}[{too_long[0]}]", "max_length",
                    f"{len(value[too_long[0]])} characters, the limit is {cat.SHORT_CHARS_MAX}")
            if bad:
                allowed = f"one of {', '.join(fld.values)}" if kind == cat.ENUM_LIST else "non-empty text"
                add(path, "item", f"{_shown(bad[0])} is not {allowed}")
            if not bad and not too_long:
                return list(value)
    return None


def problems_as_dicts(problems: list[Problem]) -> list[dict]:
    return [p.as_dict() for p in problems]
