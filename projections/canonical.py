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


def instant_text(moment: datetime) -> str:
    """The canonical text of an instant: ISO-8601 in +08:00."""
    if moment.tzinfo is None:
        raise ValueError("an instant needs a time zone")
    return moment.astimezone(SHANGHAI).isoformat()
