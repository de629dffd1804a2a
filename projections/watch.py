"""What the live dashboard watches for in the log, read off one event: a black-list entry entered, a list
entry ended, a deadline missed. Pure; streams/dashboard_feed.py keeps the recent ones in bounded buffers.
"""
from __future__ import annotations

from dataclasses import dataclass

from projections.deadlines import COMMITMENT

RED_LIST = "RED_LIST"  # a reward, not a black list: not watched


@dataclass(frozen=True, slots=True)
class Blacklisted:
    """A black-list entry entered (any list but the red one)."""
    entry_id: str
    authority_code: str  # the listing authority's, which alone ends it (records: not_record_authority)
    list_kind: str
    reason: str
    term_until: str | None


@dataclass(frozen=True, slots=True)
class ListingEnded:
    """A list entry exited, or its term ended."""
    entry_id: str
    authority_code: str


@dataclass(frozen=True, slots=True)
class DeadlineMissed:
    """A commitment not kept by its due date, or an objection or repair not processed in time."""
    kind: str  # projections.deadlines kind
    ref: str | None  # the commitment's or the objection's or repair's id
    due_on: str | None


WATCHED_TYPES = frozenset(("ListEntered", "ListExited", "ListTermEnded", "CommitmentOverdue", "ProcessingOverdue"))


def watched(event: dict) -> Blacklisted | ListingEnded | DeadlineMissed | None:
    """What the dashboard notes of an applied event (JSON form), or None."""
    kind, payload, authority = event["type"], event["payload"], event["source"]["authority_code"]
    if kind == "ListEntered":
        if payload["list_kind"] == RED_LIST:
            return None
        return Blacklisted(payload["entry_id"], authority, payload["list_kind"], payload.get("reason", ""),
                           payload.get("term_until"))
    if kind in ("ListExited", "ListTermEnded"):
        return ListingEnded(payload["entry_id"], authority)
    if kind in ("CommitmentOverdue", "ProcessingOverdue"):
        return DeadlineMissed(COMMITMENT if kind == "CommitmentOverdue" else payload["kind"],
                              payload.get("commitment_id") or payload.get("ref_id"), payload.get("due_on"))
    return None
