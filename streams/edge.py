"""The ledger's edge, one function for every way in: POST /events, POST /events:batch (the SDK's and
`credit-ledger publish`'s path) and nothing else; the worker serves both (streams/routes_publishing.py).

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
included: `rejection_record` (every credit.rejected record, the worker's too) keeps the event id
when it is a UUID, where the input was, the reasons (which quote no digits of an identifier and no
name: projections/validate.py) and a keyed digest of the input, never the input itself. A publisher
holding its input can have it matched to its rejection (`rejection_digest(key, its bytes)`, by
whoever holds the deployment's pseudonym key); without the key nobody can test guesses of an ID
number against the digest, as they could against a plain hash.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from projections import access
from projections.access import OPERATOR, Principal, publish_problems
from projections.canonical import instant_text
from projections.catalogue import EVENT_BYTES_MAX
from projections.json_input import load_json, value_problems
from projections.personal_data import rejection_digest, without_resident_ids
from projections.policy import Policy
from projections.validate import EdgeContext, Problem, validate_event
from streams import topics
from streams.codec import encode_rejection
from streams.pii import KeyStore, KeyStoreError, seal_personal_info

LINE_BYTES_MAX = 2 * EVENT_BYTES_MAX  # an event's JSON with room for whitespace and \u escapes

ACCEPTED, NOT_JSON, FORBIDDEN, CONFLICT, TOO_LARGE, INVALID, RETRY_LATER = 202, 400, 403, 409, 413, 422, 503


def accept_event(raw, ctx: EdgeContext, *, principal: Principal = OPERATOR, key_store: KeyStore | None = None,
                 policy: Policy | None = None) -> tuple[dict | None, list[Problem]]:
    """(the event to write, []) or (None, every problem). Raises streams.pii.KeyStoreError when
    the key store fails: the event is valid, the ledger cannot take it now (HTTP 503)."""
    refused = publish_problems(principal, raw, policy)
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
          reused_id: Callable[[dict], Problem | None] = lambda event: None, policy: Policy | None = None) -> Verdict:
    """`reused_id(event)`: a problem when the ledger already applied this event id with other content
    (409; streams/routes_publishing.py asks the worker's store: projections.fold.id_conflict). `policy`: the
    one in force, for the rules of who may write what that it holds (access.publish_problems)."""
    if len(text) > LINE_BYTES_MAX:
        return Verdict(TOO_LARGE, problems=[Problem("$", "size_limit", (
            f"the event's JSON is {len(text)} bytes, the limit is {LINE_BYTES_MAX} (one event is at most "
            f"{EVENT_BYTES_MAX} bytes in its JSON form)"))])
    raw, problems = load_json(text)  # bounded: nesting, encoding, numbers (projections/json_input.py)
    if problems:
        return Verdict(NOT_JSON, problems=problems, rejection=edge_rejection(text, None, problems, ctx))
    try:
        event, problems = accept_event(raw, ctx, principal=principal, key_store=key_store, policy=policy)
    except KeyStoreError as error:  # valid, but it cannot be sealed now: the publisher sends it again
        return Verdict(RETRY_LATER, problems=[Problem("subject", "key_store", error.reason)])
    if problems:
        return Verdict(FORBIDDEN if access.forbidden(problems) else INVALID, problems=problems,
                       rejection=edge_rejection(text, raw, problems, ctx))
    conflict = reused_id(event)
    if conflict is not None:
        return Verdict(CONFLICT, problems=[conflict], rejection=edge_rejection(text, raw, [conflict], ctx))
    return Verdict(ACCEPTED, event=event)


def edge_rejection(text, raw, problems: list[Problem], ctx: EdgeContext) -> bytes:
    """The credit.rejected record of an event refused at the edge (it never reached the log): `text` is the
    event's JSON as received (bytes, or an SDK caller's dict), `raw` what it parsed into (None if nothing)."""
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    return rejection_record(_raw_bytes(text), problems, ctx.pseudonym_key, ctx.now, event_id=event_id)


def rejection_record(raw: bytes, problems: list[Problem], pseudonym_key: bytes, now: datetime, *,
                     event_id=None, topic: str = topics.EVENTS, partition: int = -1, offset: int = -1) -> bytes:
    """A credit.rejected record: the event id when it is a UUID, where the input was (-1: never in the log),
    the reasons (an ID number in them masked, the last guard) and the keyed digest of `raw`, not `raw`."""
    return encode_rejection({
        "event_id": _uuid_or_none(event_id), "topic": topic, "partition": partition, "offset": offset,
        "reasons": [{"field": without_resident_ids(p.field), "rule": p.rule, "message": without_resident_ids(p.message)}
                    for p in problems],
        "raw_digest": rejection_digest(pseudonym_key, raw), "rejected_at": instant_text(now)})


def _uuid_or_none(event_id) -> str | None:
    if not isinstance(event_id, str) or len(event_id) > 64:
        return None
    try:
        return str(uuid.UUID(event_id))
    except ValueError:
        return None


def _raw_bytes(item) -> bytes:
    """What a refused item was, as bytes to digest: lone surrogates kept as escapes; nothing for a value json
    cannot write (a 5,000-digit integer, nesting 1,000 deep): its reasons say what it was."""
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    if not isinstance(item, str):
        try:
            item = json.dumps(item, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):  # a key json cannot write, too many digits, too deep
            return b""
    return item.encode("utf-8", "backslashreplace")
