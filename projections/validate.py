"""Validation of events in their JSON form, at every edge (SDK, HTTP, files).

Every problem names the field and the rule, so a publisher can fix its data
without reading our code. Validation collects all problems, never just the
first, and the accepted event comes back canonical: defaults filled in,
instants in +08:00, a natural person pseudonymised.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime

from projections import catalogue as cat
from projections.canonical import SHANGHAI, canonical_bytes, instant_text
from projections.ids import resident_id_problems, uscc_problems
from projections.pseudonym import MIN_PSEUDONYM_KEY_BYTES, PSEUDONYM_PREFIX, pseudonym

ENVELOPE_KEYS = frozenset(
    ("event_id", "type", "subject", "source", "occurred_on", "recorded_at", "classification", "payload")
)
SUBJECT_KEYS = frozenset(("id", "kind", "name", "id_number"))
SOURCE_KEYS = frozenset(("authority_code", "authority_name", "system"))
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INSTANT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
# Event ids a publisher left out are derived from the event itself, so that
# publishing the same file twice is idempotent.
EVENT_ID_NAMESPACE = uuid.UUID("0b9f6a4e-6c1e-5d0a-9f51-6c6564676572")


@dataclass(frozen=True)
class Problem:
    field: str
    rule: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.field}: {self.message} [{self.rule}]"


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


def validate_event(raw, ctx: EdgeContext) -> tuple[dict | None, list[Problem]]:
    """Check one event in JSON form. Returns (canonical event, []) or (None, problems)."""
    problems: list[Problem] = []
    add = lambda field, rule, message: problems.append(Problem(field, rule, message))  # noqa: E731

    if not isinstance(raw, dict):
        add("$", "object", "an event must be a JSON object")
        return None, problems
    size_bytes = len(canonical_bytes(raw)) if _json_safe(raw) else cat.MAX_EVENT_BYTES + 1
    if size_bytes > cat.MAX_EVENT_BYTES:
        add("$", "size_limit", f"event is {size_bytes} bytes, the limit is {cat.MAX_EVENT_BYTES}")
        return None, problems
    for key in sorted(set(raw) - ENVELOPE_KEYS):
        add(key, "unknown_field", "not a field of the CreditEvent envelope")

    event_type = raw.get("type")
    spec = cat.EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if event_type is None:
        add("type", "required", "missing")
    elif spec is None:
        add("type", "unknown_type", f"{event_type!r} is not an event type of the catalogue")
    elif spec.system and not ctx.allow_system:
        add("type", "system_type", f"{event_type} is written only by the ledger's timers")

    event_id = raw.get("event_id")
    if event_id is not None:
        try:
            event_id = str(uuid.UUID(event_id)) if isinstance(event_id, str) else None
        except ValueError:
            event_id = None
        if event_id is None:
            add("event_id", "uuid", "must be a UUID, e.g. 7d0c5c1e-4b0e-4a8e-9b9e-2f3d1a0c9e11")

    subject = _check_subject(raw.get("subject"), ctx, add)
    source = _check_source(raw.get("source"), add)
    occurred_on = _check_date(raw.get("occurred_on"), "occurred_on", True, add)
    today = ctx.now.astimezone(SHANGHAI).date()  # valid time is a date in China, not in UTC
    if occurred_on is not None and occurred_on > today:
        add("occurred_on", "not_in_future", f"{occurred_on} is after today ({today}, Asia/Shanghai)")

    recorded_at = raw.get("recorded_at")
    moment = _check_instant(recorded_at, "recorded_at", not ctx.stamp_recorded_at, add)
    if moment is not None and moment > ctx.now:
        add("recorded_at", "not_in_future", f"{recorded_at} is after now ({instant_text(ctx.now)})")

    classification = raw.get("classification")
    if classification is None:
        classification = spec.default_classification if spec is not None else None
    elif classification not in cat.CLASSIFICATIONS:
        add("classification", "enum", f"must be one of {', '.join(cat.CLASSIFICATIONS)}")

    payload = raw.get("payload")
    if not isinstance(payload, dict):
        add("payload", "object", "must be a JSON object" if payload is not None else "missing")
        payload = None
    elif spec is not None:
        payload = _check_payload(spec, payload, ctx, add)

    if problems:
        return None, problems
    event = {
        "type": event_type,
        "subject": subject,
        "source": source,
        "occurred_on": occurred_on.isoformat(),
        "recorded_at": instant_text(ctx.now if ctx.stamp_recorded_at else moment),
        "classification": classification,
        "payload": payload,
    }
    if event_id is None:  # derived without recorded_at, so a re-publish gives the same id
        event_id = str(uuid.uuid5(EVENT_ID_NAMESPACE, canonical_bytes({**event, "recorded_at": None}).decode()))
    event["event_id"] = event_id
    return event, []


def require_valid(raw, ctx: EdgeContext) -> dict:
    event, problems = validate_event(raw, ctx)
    if problems:
        raise InvalidEvent(problems)
    return event


def _json_safe(value) -> bool:
    try:
        canonical_bytes(value)
        return True
    except TypeError:
        return False


def _check_subject(subject, ctx: EdgeContext, add) -> dict | None:
    if not isinstance(subject, dict):
        add("subject", "object", "must be an object with id, kind and name" if subject is not None else "missing")
        return None
    for key in sorted(set(subject) - SUBJECT_KEYS):
        add(f"subject.{key}", "unknown_field", "not a field of subject")
    kind = subject.get("kind")
    if kind not in cat.SUBJECT_KINDS:
        add("subject.kind", "enum", f"must be one of {', '.join(cat.SUBJECT_KINDS)}")
        return None
    name = subject.get("name")
    if name is not None and not (isinstance(name, str) and 0 < len(name) <= cat.MAX_SHORT_CHARS):
        add("subject.name", "text", f"must be text of 1 to {cat.MAX_SHORT_CHARS} characters")
    subject_id, id_number = subject.get("id"), subject.get("id_number")
    if kind == "NATURAL_PERSON":
        # The edge replaces the ID number by a keyed pseudonym; name and number never reach Kafka.
        if id_number is not None:
            if not isinstance(id_number, str):
                add("subject.id_number", "resident_id", "must be the 18-character resident ID number as text")
                return None
            messages = resident_id_problems(id_number, today=ctx.now.date())
            for message in messages:
                add("subject.id_number", "resident_id", message)
            if messages:
                return None
            if len(ctx.pseudonym_key) < MIN_PSEUDONYM_KEY_BYTES:  # e.g. a replay with no key configured
                add("subject.id_number", "pseudonym_key", "no pseudonym key to replace the ID number with")
                return None
            return {"id": pseudonym(id_number, ctx.pseudonym_key), "kind": kind}
        if isinstance(subject_id, str) and subject_id.startswith(PSEUDONYM_PREFIX) and name is None:
            return {"id": subject_id, "kind": kind}  # already pseudonymised (an exported log)
        add("subject.id_number", "required", "a natural person needs id_number (居民身份证号)")
        return None
    if id_number is not None:
        add("subject.id_number", "natural_person_only", "only a NATURAL_PERSON carries id_number")
    if not isinstance(subject_id, str):
        add("subject.id", "required", "missing: the unified social credit code (统一社会信用代码)")
        return None
    for message in uscc_problems(subject_id):
        add("subject.id", "uscc", message)
    result = {"id": subject_id, "kind": kind}
    if name is not None:
        result["name"] = name
    return result


def _check_source(source, add) -> dict | None:
    if not isinstance(source, dict):
        add("source", "object", "must be an object with authority_code and authority_name" if source is not None else "missing")
        return None
    for key in sorted(set(source) - SOURCE_KEYS):
        add(f"source.{key}", "unknown_field", "not a field of source")
    code = source.get("authority_code")
    if not isinstance(code, str):
        add("source.authority_code", "required", "missing: the authority's unified social credit code")
    else:
        for message in uscc_problems(code):
            add("source.authority_code", "uscc", message)
    result = {"authority_code": code}
    for key, required in (("authority_name", True), ("system", False)):
        value = source.get(key)
        if value is None:
            if required:
                add(f"source.{key}", "required", "missing")
            continue
        if not (isinstance(value, str) and 0 < len(value) <= cat.MAX_SHORT_CHARS):
            add(f"source.{key}", "text", f"must be text of 1 to {cat.MAX_SHORT_CHARS} characters")
        result[key] = value
    return result


def _check_date(value, field: str, required: bool, add) -> date | None:
    if value is None:
        if required:
            add(field, "required", "missing")
        return None
    if not isinstance(value, str) or not _DATE_RE.match(value):
        add(field, "date", f"{value!r} is not an ISO-8601 date like 2024-05-06")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        add(field, "date", f"{value} does not exist in the calendar")
        return None


def _check_instant(value, field: str, required: bool, add) -> datetime | None:
    if value is None:
        if required:
            add(field, "required", "missing")
        return None
    if not isinstance(value, str) or not _INSTANT_RE.match(value):
        add(field, "instant", f"{value!r} is not an ISO-8601 instant with a zone like 2024-05-07T09:30:00+08:00")
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        add(field, "instant", f"{value} does not exist in the calendar")
        return None


def _check_payload(spec: cat.EventType, payload: dict, ctx: EdgeContext, add) -> dict:
    known = {fld.name for fld in spec.fields}
    for key in sorted(set(payload) - known):
        add(f"payload.{key}", "unknown_field", f"not a field of {spec.name}")
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
    return result


def _check_value(fld: cat.Field, value, path: str, add):
    kind = fld.kind
    if kind == cat.STR:
        if not isinstance(value, str) or not value.strip():
            add(path, "text", "must be non-empty text")
        elif len(value) > fld.max_chars:
            add(path, "max_chars", f"{len(value)} characters, the limit is {fld.max_chars}")
        else:
            return value
    elif kind == cat.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            add(path, "integer", "must be an integer (money is in fen, 1 yuan = 100 fen)")
        elif not 0 <= value <= cat.MAX_FEN:
            add(path, "range", f"must be between 0 and {cat.MAX_FEN}")
        else:
            return value
    elif kind == cat.BOOL:
        if not isinstance(value, bool):
            add(path, "boolean", "must be true or false")
        else:
            return value
    elif kind == cat.DATE:
        parsed = _check_date(value, path, True, add)
        return parsed.isoformat() if parsed else None
    elif kind == cat.ENUM:
        if value not in fld.values:
            add(path, "enum", f"{value!r} is not one of {', '.join(fld.values)}")
        else:
            return value
    elif kind in (cat.STR_LIST, cat.ENUM_LIST):
        if not isinstance(value, list) or not value:
            add(path, "list", "must be a non-empty list")
        elif len(value) > cat.MAX_LIST_ITEMS:
            add(path, "max_items", f"{len(value)} items, the limit is {cat.MAX_LIST_ITEMS}")
        else:
            bad = [v for v in value if not isinstance(v, str) or not v or len(v) > cat.MAX_SHORT_CHARS]
            if kind == cat.ENUM_LIST:
                bad = [v for v in value if v not in fld.values]
            if bad:
                allowed = f"one of {', '.join(fld.values)}" if kind == cat.ENUM_LIST else "non-empty short text"
                add(path, "item", f"{bad[0]!r} is not {allowed}")
            else:
                return list(value)
    return None


def problems_as_dicts(problems: list[Problem]) -> list[dict]:
    return [p.as_dict() for p in problems]
