"""The fold: one subject's credit file from its events, as plain data.

`fold(state, event, offset)` is a pure function. Delivery from Kafka is
at-least-once, so it is idempotent twice over: an offset at or below the last
one the subject has seen is a redelivery, and an event id it has already
accepted is a duplicate; neither changes anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from projections.canonical import GENESIS_HEAD, chain_link
from projections.validate import Problem

MAX_EVENTS_PER_SUBJECT = 100_000  # the seen-id list is bounded by this
MAX_REJECTED_KEPT = 100  # the file keeps the newest rejections; all are on credit.rejected

APPLIED, DUPLICATE, REDELIVERED, REJECTED = "applied", "duplicate", "redelivered", "rejected"


@dataclass(frozen=True)
class Outcome:
    kind: str
    reasons: tuple[Problem, ...] = field(default=())


def new_state(subject: dict) -> dict:
    return {
        "subject": {"id": subject["id"], "kind": subject["kind"]},
        "counts": {},
        "chain": {"length": 0, "head": GENESIS_HEAD},
        "as_of": {"offset": -1, "recorded_at": None},
        "seen_event_ids": [],
        "rejected": [],
        "rejected_total": 0,
    }


def fold(state: dict | None, event: dict, offset: int) -> tuple[dict, Outcome]:
    """Apply one validated event (JSON form) found at `offset` of the ledger."""
    if state is None:
        state = new_state(event["subject"])
    if offset <= state["as_of"]["offset"]:
        return state, Outcome(REDELIVERED)
    if event["event_id"] in state["seen_event_ids"]:
        return state, Outcome(DUPLICATE)
    reasons = check_rules(state, event)
    new = _copy(state)
    new["as_of"] = {"offset": offset, "recorded_at": event["recorded_at"]}
    if reasons:
        new["rejected"] = (new["rejected"] + [_rejection(event, offset, reasons)])[-MAX_REJECTED_KEPT:]
        new["rejected_total"] += 1
        return new, Outcome(REJECTED, tuple(reasons))
    _apply(new, event)
    new["counts"][event["type"]] = new["counts"].get(event["type"], 0) + 1
    new["seen_event_ids"] = new["seen_event_ids"] + [event["event_id"]]
    new["chain"] = {"length": new["chain"]["length"] + 1, "head": chain_link(new["chain"]["head"], event)}
    return new, Outcome(APPLIED)


def check_rules(state: dict, event: dict) -> list[Problem]:
    """The ledger's rules over the subject's history; empty when the event may apply."""
    problems = []
    if len(state["seen_event_ids"]) >= MAX_EVENTS_PER_SUBJECT:
        problems.append(Problem("$", "subject_full", f"a subject holds at most {MAX_EVENTS_PER_SUBJECT} events"))
    if event["subject"]["kind"] != state["subject"]["kind"]:
        problems.append(Problem("subject.kind", "same_kind",
                                f"the subject is {state['subject']['kind']}, not {event['subject']['kind']}"))
    return problems


def _apply(state: dict, event: dict) -> None:
    payload, subject = event["payload"], state["subject"]
    if event["type"] == "SubjectRegistered":
        subject.update({k: payload[k] for k in ("region_code", "industry_code", "registered_on") if k in payload})
    elif event["type"] == "SubjectDeregistered":
        subject["deregistered_on"] = event["occurred_on"]
    if "name" in event["subject"]:
        subject["name"] = event["subject"]["name"]


def _copy(state: dict) -> dict:
    # Shallow copies of what _apply and fold change; the rest is shared, never mutated.
    new = dict(state)
    new["subject"] = dict(state["subject"])
    new["counts"] = dict(state["counts"])
    return new


def _rejection(event: dict, offset: int, reasons: list[Problem]) -> dict:
    return {"event_id": event["event_id"], "type": event["type"], "offset": offset,
            "recorded_at": event["recorded_at"], "reasons": [r.as_dict() for r in reasons]}


def credit_file(state: dict) -> dict:
    """The credit file (信用档案) as the API and the CLI show it."""
    return {
        "subject": state["subject"],
        "events_by_type": dict(sorted(state["counts"].items())),
        "events_total": sum(state["counts"].values()),
        "rejected": state["rejected"],
        "rejected_total": state["rejected_total"],
        "chain": state["chain"],
        "as_of": state["as_of"],
    }
