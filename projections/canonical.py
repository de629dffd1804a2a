"""Canonical bytes and time helpers shared by the fold, the chain and the edge.

Canonical JSON (sorted keys, no spaces, UTF-8) is the form that is hashed and
stored: it does not depend on the Avro schema version an event was written
with, so a chain computed today still verifies after the schema evolves.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import orjson

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


def parse_instant(text: str) -> datetime | None:
    """An instant with its offset, or a date meaning 00:00 Asia/Shanghai that day; None if neither."""
    try:
        if len(text) == 10:
            return datetime.fromisoformat(text + "T00:00:00").replace(tzinfo=SHANGHAI)
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None
