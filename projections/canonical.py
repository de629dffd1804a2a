"""Canonical bytes and time helpers shared by the fold, the chain and the edge.

Canonical JSON (sorted keys, no spaces, UTF-8) is the form that is hashed and
stored: it does not depend on the Avro schema version an event was written
with, so a chain computed today still verifies after the schema evolves.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone

import orjson

from projections.catalogue import DATE_BOUNDS

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
GENESIS_HEAD = "0" * 64  # the chain head of a subject with no accepted event


def canonical_bytes(value) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def chain_link(previous_head: str, event: dict) -> str:
    """SHA-256 over the previous link and the event's canonical bytes."""
    digest = hashlib.sha256(bytes.fromhex(previous_head))
    digest.update(canonical_bytes(event))
    return digest.hexdigest()


def log_link(previous_root: str, offset: int, key: bytes | None, value: bytes | None) -> str:
    """The next root of a partition: SHA-256 over the previous root and the record as stored.

    Over the raw bytes, not the decoded event: it proves the log itself unaltered,
    whatever the fold later makes of a record (rejected and undecodable ones too)."""
    digest = hashlib.sha256(bytes.fromhex(previous_root))
    digest.update(offset.to_bytes(8, "big"))
    for part in (key or b"", value or b""):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return digest.hexdigest()


def instant_text(moment: datetime) -> str:
    """The canonical text of an instant: ISO-8601 in +08:00."""
    if moment.tzinfo is None:
        raise ValueError("an instant needs a time zone")
    return moment.astimezone(SHANGHAI).isoformat()


INSTANT_CHARS_MAX = 40  # 2025-06-01T12:00:00.000000+08:00 is 32: longer text is no instant, never parsed
INSTANT_FORM = "a date (2025-06-01) or an instant with its offset (2025-06-01T12:00:00+08:00)"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)  # a date is this form only (not 2025-W01-1)


class BadInstant(ValueError):
    """A parameter that is no date or instant within the catalogue's dates: its name, the rule, why."""

    def __init__(self, field: str, rule: str, message: str):
        self.field, self.rule, self.message = field, rule, message
        super().__init__(f"{field}: {message}")

    def as_dict(self) -> dict:
        return {"field": self.field, "rule": self.rule, "message": self.message}


def read_instant(text, field: str = "instant", *, date_only: bool = False) -> datetime:
    """An instant with its offset, or a date meaning 00:00 Asia/Shanghai that day (`date_only`: only a
    date), on a day of DATE_BOUNDS both in its own offset and in Asia/Shanghai; else BadInstant naming
    `field`, the rule (date, instant or range) and the range. Every ?at=, as_of, valid_at, --at,
    --as-of, --valid-at and --clock is read here: within the bounds nothing computed from it (its day
    in +08:00, the policy then, deadlines) leaves the date type."""
    form = f"{'a date (2025-06-01)' if date_only else INSTANT_FORM} in {DATE_BOUNDS} (Asia/Shanghai)"
    if not isinstance(text, str):
        raise BadInstant(field, "date" if date_only else "instant", f"must be text: {form}")
    shown = repr(text) if len(text) <= INSTANT_CHARS_MAX else repr(text[:INSTANT_CHARS_MAX]) + "…"
    day, moment = _DAY.fullmatch(text) is not None, None
    if day or (not date_only and len(text) <= INSTANT_CHARS_MAX):
        try:
            moment = datetime.fromisoformat(f"{text}T00:00:00+08:00" if day else text)
        except ValueError:
            pass
    if moment is None:
        raise BadInstant(field, "date" if date_only else "instant", f"{shown} is not {form}")
    if moment.tzinfo is None:
        raise BadInstant(field, "instant", f"{shown} has no offset: {form}")
    # its own day first: within the bounds, the conversion to +08:00 cannot overflow
    if moment.date().isoformat() not in DATE_BOUNDS or moment.astimezone(SHANGHAI).date().isoformat() not in DATE_BOUNDS:
        raise BadInstant(field, "range", f"{shown} is outside {DATE_BOUNDS} (Asia/Shanghai)")
    return moment.replace(tzinfo=SHANGHAI) if day else moment


def parse_instant(text) -> datetime | None:
    """read_instant's instant, or None when `text` is none within the bounds."""
    try:
        return read_instant(text)
    except BadInstant:
        return None
