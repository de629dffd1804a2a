"""The ledger's edge, one function for every way in: POST /events, POST /events:batch (the SDK's and
`credit-ledger publish`'s path) and nothing else; the worker serves both (streams/app.py).

    verdict = judge(line, ctx, principal=principal, key_store=key_store)   # one event's JSON text
    event, problems = accept_event(raw, ctx, principal=principal, key_store=key_store)

1. access: may `principal` publish this event (projections.access.publish_problems)? A
   publisher is bound to its authority. Refused events get only these problems: someone not
   allowed to publish learns nothing about the data. `access.forbidden(problems)` tells a
   refusal (HTTP 403) from invalid data (HTTP 422).
2. JSON's own bounds (projections.json_input): nesting, lone surrogates, NaN, Infinity, integers
   beyond 64 bits; text comes in through load_json, which checks the same (HTTP 400);
3. validation (projections.validate.validate_event): canonical form, recorded_at stamped from
   the edge's clock (`ctx.now`, never from the publisher), natural persons pseudonymised, system
   events refused;
4. sealing (streams.pii.seal_personal_info): with a key store, a natural person's name and
   ID number go into subject.pii, encrypted; without one they are dropped.

Nothing of a natural person reaches Kafka in plaintext on any of these paths, a rejection record
(`edge_rejection`) included.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from projections import access
from projections.access import OPERATOR, Principal, publish_problems
from projections.canonical import instant_text
from projections.catalogue import MAX_EVENT_BYTES
from projections.json_input import load_json, value_problems
from projections.validate import EdgeContext, Problem, validate_event
from streams import topics
from streams.codec import encode_rejection
from streams.pii import KeyStore, KeyStoreError, seal_personal_info

LINE_BYTES_MAX = 2 * MAX_EVENT_BYTES  # an event's JSON with room for whitespace and \u escapes
REJECTED_RAW_BYTES_MAX = 64 * 1024

ACCEPTED, NOT_JSON, FORBIDDEN, CONFLICT, TOO_LARGE, INVALID, RETRY_LATER = 202, 400, 403, 409, 413, 422, 503


def accept_event(raw, ctx: EdgeContext, *, principal: Principal = OPERATOR,
                 key_store: KeyStore | None = None) -> tuple[dict | None, list[Problem]]:
    """(the event to write, []) or (None, every problem). Raises streams.pii.KeyStoreError when
    the key store fails: the event is valid, the ledger cannot take it now (HTTP 503)."""
    refused = publish_problems(principal, raw)
    if refused:
        return None, refused
    problems = value_problems(raw)
    if problems:
        return None, problems
    event, problems = validate_event(raw, ctx)
    if problems:
        return None, problems
    return seal_personal_info(raw, event, key_store), []


@dataclass(frozen=True)
class Verdict:
    """What the edge makes of one event's JSON text: `status` is the HTTP status of POST /events
    for it (a line's status in POST /events:batch). 202: `event` is what to write to credit.events;
    400/403/409/422: `problems` say why, and `rejection` is its credit.rejected record; 413 (a line over
    LINE_BYTES_MAX) and 503 (the key store failed: send it again later) leave no rejection record."""

    status: int
    event: dict | None = None
    problems: list[Problem] = field(default_factory=list)
    rejection: bytes | None = None


def judge(text: bytes, ctx: EdgeContext, *, principal: Principal, key_store: KeyStore | None = None,
          reused_id: Callable[[dict], Problem | None] = lambda event: None) -> Verdict:
    """`reused_id(event)`: a problem when the ledger already applied this event id with other content
    (409; streams/app.py asks the worker's store: projections.fold.id_conflict)."""
    if len(text) > LINE_BYTES_MAX:
        return Verdict(TOO_LARGE, problems=[Problem("$", "size_limit", (
            f"the event's JSON is {len(text)} bytes, the limit is {LINE_BYTES_MAX} (one event is at most "
            f"{MAX_EVENT_BYTES} bytes in its JSON form)"))])
    raw, problems = load_json(text)  # bounded: nesting, encoding, numbers (projections/json_input.py)
    if problems:
        return Verdict(NOT_JSON, problems=problems,
                       rejection=edge_rejection(text, problems, topics.EVENTS, ctx.now))
    try:
        event, problems = accept_event(raw, ctx, principal=principal, key_store=key_store)
    except KeyStoreError as error:  # valid, but it cannot be sealed now: the publisher sends it again
        return Verdict(RETRY_LATER, problems=[Problem("subject", "key_store", error.reason)])
    if problems:
        return Verdict(FORBIDDEN if access.forbidden(problems) else INVALID, problems=problems,
                       rejection=edge_rejection(raw, problems, topics.EVENTS, ctx.now))
    conflict = reused_id(event)
    if conflict is not None:
        return Verdict(CONFLICT, problems=[conflict],
                       rejection=edge_rejection(raw, [conflict], topics.EVENTS, ctx.now))
    return Verdict(ACCEPTED, event=event)


def edge_rejection(item, problems: list[Problem], topic: str, now: datetime) -> bytes:
    """The credit.rejected record of an event refused at the edge (it never reached the log)."""
    raw = _raw_bytes(item)
    if b"id_number" in raw or b"NATURAL_PERSON" in raw:
        raw = b""  # it may carry a natural person's ID number and name: those never reach Kafka
    return encode_rejection({"event_id": None, "topic": topic, "partition": -1, "offset": -1,
                             "reasons": [p.as_dict() for p in problems], "raw": raw[:REJECTED_RAW_BYTES_MAX],
                             "rejected_at": instant_text(now)})


def _raw_bytes(item) -> bytes:
    """What a refused item was, as bytes for credit.rejected: lone surrogates kept as escapes; nothing for
    a value json cannot write (a 5,000-digit integer, nesting 1,000 deep): its reasons say what it was."""
    if isinstance(item, bytes):
        return item
    if not isinstance(item, str):
        try:
            item = json.dumps(item, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):  # a key json cannot write, too many digits, too deep
            return b""
    return item.encode("utf-8", "backslashreplace")
