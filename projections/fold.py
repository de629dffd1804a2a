"""The fold: one subject's credit file from its events, as plain data.

`fold(state, event, offset)` is a pure function. Delivery from Kafka is
at-least-once, so it is idempotent twice over: an offset at or below the last
one the subject has seen is a redelivery, and an event id it has already
accepted with the same content is a duplicate; neither changes anything. The same
id with other content is a conflict, rejected (event_id_conflict). The ids of the
timers' events (source.system TIMER_SYSTEM) are kept apart from publishers' ones, so
that no publisher can take the id of a system event still to come (a UUIDv5 anyone
can compute) and have it dropped as a duplicate.

Every event type's effect and every rule live in projections/records.py (the rule
ids and their meaning: records.RULES); the numbers the rules use come from a
`Policy` (projections/policy.py). A rejected event changes only as_of, rejected
and rejected_total. fold never mutates its input: an applied event copies only the
containers it writes (records.Draft), everything else is shared with the old state. A replay
that folds from nothing and keeps only the newest state says so (`handed_over`), and its tables
are written in place.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from projections.canonical import GENESIS_HEAD, canonical_bytes, chain_link
from projections.deadlines import pending_deadlines
from projections.grading import grade
from projections.lists import describe
from projections.state_types import State
from projections.subject_kinds import derived
from projections.policy import DEFAULT_POLICY, Policy
from projections.records import (COLLECTIONS, PENDING, RULES, Draft, apply_event, check_event,
                                 deregistration_problems, problem)
from projections.state_versions import STATE_VERSION, VERSION_KEY
from projections.validate import TIMER_SYSTEM, Problem

EVENTS_PER_SUBJECT_MAX = 100_000  # the seen-id list is bounded by this
# The timers' events are refused only this many later: publishers filling a subject never stop its deadlines.
TIMER_EVENTS_RESERVE = 10_000
TIMERS_ID_PREFIX = "timers:"  # a timer's event id in seen_event_ids (an event id is a UUID: no colon)
DIGEST_HEX_CHARS = 16  # of an event's content digest kept with its id: 64 bits
REJECTED_KEPT_MAX = 100  # the file keeps the newest rejections; all are on credit.rejected

ERROR_CHARS_MAX = 300  # of an internal error's message, as credit.rejected carries it

APPLIED, DUPLICATE, REDELIVERED, REJECTED = "applied", "duplicate", "redelivered", "rejected"
# The fold (or what the worker derives from its result: deadlines, grade) raised on a valid event: a bug.
# The event is set aside like a rejection, with the reason INTERNAL_ERROR, and the subject's state stays
# as it was before it, so one event never stops the ledger.
QUARANTINED = "quarantined"
INTERNAL_ERROR = "internal_error"

__all__ = ["APPLIED", "DUPLICATE", "INTERNAL_ERROR", "QUARANTINED", "REDELIVERED", "REJECTED", "RULES", "Outcome",
           "check_rules", "content_digest", "credit_file", "fold", "id_conflict", "internal_error", "new_state",
           "seen_id"]


def internal_error(error: BaseException) -> Problem:
    """The reason a quarantined event carries: the exception's class and message, cut to a limit.
    Events reach the fold pseudonymised, so no natural person's name or number can be in it."""
    message = f"{type(error).__name__}: {error}"
    if len(message) > ERROR_CHARS_MAX:
        message = message[:ERROR_CHARS_MAX] + "…"
    return Problem("$", INTERNAL_ERROR, message)


@dataclass(frozen=True)
class Outcome:
    kind: str
    reasons: tuple[Problem, ...] = field(default=())


def new_state(subject: dict) -> State:
    return {
        "subject": {"id": subject["id"], "kind": subject["kind"]},
        "counts": {},
        "chain": {"length": 0, "head": GENESIS_HEAD},
        "as_of": {"offset": -1, "recorded_at": None},
        "public_as_of": None,  # the newest PUBLIC event's {offset, recorded_at}: all the public may know of when
        "seen_event_ids": {},  # event id -> [offset, content digest]: a table, so a duplicate is found in O(1)
        "rejected": [],
        "rejected_total": 0,
        "records": {collection: {} for collection in COLLECTIONS},
        "objections": {},
        "repairs": {},
        "decisions": {},
        "grants": {},
        "scoped_ids": True,  # tables keyed per authority (records.key)
        VERSION_KEY: STATE_VERSION,  # older stored states are upcast when read (projections/state_versions.py)
    }


def fold(state: State | None, event: dict, offset: int, *, policy: Policy = DEFAULT_POLICY,
         handed_over: bool = False) -> tuple[State, Outcome]:
    """Apply one validated event (JSON form) found at `offset` of the ledger.

    `handed_over`: the caller never reads `state` again (records.Draft), so the fold may write its
    tables in place: a replay then costs O(1) an event instead of O(size of the file)."""
    if state is None:
        state = new_state(event["subject"])
    assert state.get(VERSION_KEY) == STATE_VERSION, "a stored state is upcast when read (state_versions.upcast)"
    if offset <= state["as_of"]["offset"]:
        return state, Outcome(REDELIVERED)
    seen = state["seen_event_ids"]
    seen_key = seen_id(event)
    known = seen.get(seen_key)
    digest = content_digest(event)
    if known is not None:
        # An id stored with its offset alone (before digests were kept) has unknown content: a duplicate.
        if isinstance(known, int) or known[1] == digest:
            return state, Outcome(DUPLICATE)
        reasons = [id_conflict(state, event)]
    else:
        reasons = check_rules(state, event, policy=policy)
    as_of = {"offset": offset, "recorded_at": event["recorded_at"]}
    if reasons:
        new = dict(state)
        new["as_of"] = as_of
        new["rejected"] = (state["rejected"] + [_rejection(event, offset, reasons)])[-REJECTED_KEPT_MAX:]
        new["rejected_total"] = state["rejected_total"] + 1
        assert new["as_of"]["offset"] > state["as_of"]["offset"], "a rejection moves the file's as_of forward"
        return new, Outcome(REJECTED, tuple(reasons))
    draft = Draft(state, handed_over)
    apply_event(draft, event, offset, policy)
    new = draft.state
    new["as_of"] = new["applied_as_of"] = as_of
    if event["classification"] == "PUBLIC":
        new["public_as_of"] = as_of
    name = event["subject"].get("name")
    if name is not None and new["subject"].get("name") != name:
        draft.at("subject")["name"] = name
    counts = draft.at("counts")
    counts[event["type"]] = counts.get(event["type"], 0) + 1
    if event["source"].get("system") != TIMER_SYSTEM:  # authority_share: the timers' events apart
        code = event["source"]["authority_code"]
        by_authority = dict(state.get("events_by_authority") or {})  # an authority or a few a subject: cheap
        by_authority[code] = by_authority.get(code, 0) + 1
        new["events_by_authority"] = by_authority
    seen_before = len(seen)
    if handed_over:
        seen[seen_key] = [offset, digest]
    else:
        new["seen_event_ids"] = {**seen, seen_key: [offset, digest]}
    assert len(new["seen_event_ids"]) == seen_before + 1, "an applied event's id is new to the file"
    new["chain"] = {"length": state["chain"]["length"] + 1, "head": chain_link(state["chain"]["head"], event)}
    return new, Outcome(APPLIED)


def id_conflict(state: State | None, event: dict) -> Problem | None:
    """The edge's early answer to a reused event id (HTTP 409): a problem when `state` (the subject's
    file as this worker holds it, None when it holds none) already applied an event with this id and
    other content. The fold decides the same (event_id_conflict) for what the edge could not see:
    an event still on its way to the log, a subject another worker folds."""
    if state is None or not isinstance(state.get("seen_event_ids"), dict):
        return None
    known = state["seen_event_ids"].get(seen_id(event))
    if known is None or isinstance(known, int) or known[1] == content_digest(event):
        return None
    return problem("event_id", "event_id_conflict",
                   f"{event['event_id']} is the id of another event, applied at offset {known[0]}")


def seen_id(event: dict) -> str:
    """An event's id as seen_event_ids keys it: the timers' events apart from publishers' ones (the edges
    refuse their source to publishers, and the fold refuses it on other types: records.TIMER_TYPES)."""
    if event["source"].get("system") == TIMER_SYSTEM:
        return TIMERS_ID_PREFIX + event["event_id"]
    return event["event_id"]


def content_digest(event: dict) -> str:
    """What makes an event the same event again: everything but what the ledger stamps or seals
    (recorded_at, a natural person's sealed subject.pii) and the names a re-publication may spell anew
    (subject.name, source.authority_name, source.system)."""
    content = {"type": event["type"], "subject": [event["subject"]["id"], event["subject"]["kind"]],
               "authority_code": event["source"]["authority_code"], "occurred_on": event["occurred_on"],
               "classification": event["classification"], "payload": event["payload"]}
    return hashlib.sha256(canonical_bytes(content)).hexdigest()[:DIGEST_HEX_CHARS]


def check_rules(state: State, event: dict, *, policy: Policy = DEFAULT_POLICY) -> list[Problem]:
    """The ledger's rules over the subject's history; empty when the event may apply."""
    problems = []
    timers = event["source"].get("system") == TIMER_SYSTEM
    if len(state["seen_event_ids"]) >= EVENTS_PER_SUBJECT_MAX + (TIMER_EVENTS_RESERVE if timers else 0):
        problems.append(problem("$", "subject_full", f"a subject holds at most {EVENTS_PER_SUBJECT_MAX} events"))
    code = event["source"]["authority_code"]
    if not timers and (state.get("events_by_authority") or {}).get(code, 0) >= policy.events_per_authority_per_subject:
        problems.append(problem("source.authority_code", "authority_share", (
            f"{code} holds {policy.events_per_authority_per_subject:,} events on this subject, the most one "
            f"authority may (policy {policy.version}, quotas.events_per_authority_per_subject)")))
    if event["subject"]["id"] != state["subject"]["id"]:
        problems.append(problem("subject.id", "same_subject", f"this is the file of {state['subject']['id']}"))
    if event["subject"]["kind"] != state["subject"]["kind"]:
        problems.append(problem("subject.kind", "same_kind",
                                f"the subject is {state['subject']['kind']}, not {event['subject']['kind']}"))
    problems += deregistration_problems(state, event)
    problems += check_event(state, event, policy)
    return problems


def _rejection(event: dict, offset: int, reasons: list[Problem]) -> dict:
    return {"event_id": event["event_id"], "type": event["type"], "offset": offset,
            "recorded_at": event["recorded_at"], "reasons": [r.as_dict() for r in reasons]}


def _by_offset(items) -> list[dict]:
    # Explicit order: a state read back from the store has its dicts in key order, not insertion order.
    return sorted(items, key=lambda item: item["offset"])


def shown_grade(state: State, policy: Policy = DEFAULT_POLICY) -> dict:
    """The grade, or when grading the stored state raises (a bug) an empty grade that says why."""
    try:
        return grade(state, policy)
    except Exception as error:  # noqa: BLE001 - one stored record never stops a read
        return {"letter": None, "score": None, "policy_version": policy.version, "reasons": [],
                "unshown": [{"part": "grade", "why": internal_error(error).message}]}


def credit_file(state: State, policy: Policy = DEFAULT_POLICY) -> dict:
    """The credit file (信用档案) as the API and the CLI show it. A part that cannot be computed from
    the stored state (a bug) is shown empty and named under `unshown`: a read never fails whole."""
    unshown: list[dict] = []

    def shown(part: str, compute, empty):
        try:
            return compute()
        except Exception as error:  # noqa: BLE001 - one stored record never stops a read
            unshown.append({"part": part, "why": internal_error(error).message})
            return empty

    def lists() -> list[dict]:
        return [{**entry, "measure_details": shown(f"records.lists.{entry_id}.measure_details",
                                                   lambda: describe(entry["measures"]), [])}
                for entry_id, entry in sorted(state["records"]["lists"].items(), key=lambda e: e[1]["offset"])]

    file = {
        "subject": {**state["subject"], **shown("subject.kinds", lambda: derived(state["subject"]), {})},
        "grade": shown("grade", lambda: grade(state, policy),
                       {"letter": None, "score": None, "policy_version": policy.version, "reasons": []}),
        "records": {**{collection: _by_offset(state["records"][collection].values()) for collection in COLLECTIONS},
                    "lists": lists()},
        "pending": {
            "objections": _by_offset(o for o in state["objections"].values() if o["status"] == PENDING),
            "repairs": _by_offset(r for r in state["repairs"].values() if r["status"] == PENDING),
            "deadlines": shown("pending.deadlines",
                               lambda: [d.as_dict() for d in pending_deadlines(state, policy)], []),
        },
        "decisions": _by_offset(state["decisions"].values()),
        "grants": _by_offset(state["grants"].values()),
        "inspections": _by_offset((state.get("inspections") or {}).values()),
        "events_by_type": dict(sorted(state["counts"].items())),
        "events_total": sum(state["counts"].values()),
        "rejected": state["rejected"],
        "rejected_total": state["rejected_total"],
        "chain": state["chain"],
        "as_of": state["as_of"],
    }
    if unshown:
        file["unshown"] = unshown
    return file
