"""Red and black lists (名单): the catalogue of joint reward and punishment measures (联合奖惩措施,
projections/measures.yaml) and the public view of a list.

A list entry names its measures by code; the credit file and the public list views show each
with its name, kind and implementing authority. A code not in the catalogue is shown as such,
never dropped: the log keeps what the authority published.
"""
from __future__ import annotations

from dataclasses import asdict

from projections.records import ACTIVE, base_status
from projections.state_types import State
from projections.subject_kinds import derived

from projections.measures import DEFAULT_MEASURES, MEASURE_KINDS, MEASURES, Measure, parse_measures  # noqa: F401


def describe(codes: list[str]) -> list[dict]:
    """Each code with its catalogue entry; `known: false` for a code the catalogue lacks."""
    return [{**asdict(MEASURES[code]), "known": True} if code in MEASURES else
            {"code": code, "known": False} for code in codes]


def active_entries(state: State) -> dict[str, str]:
    """{entry key: list_kind} of the subject's active entries that are public (for the list index); the key
    is the state's (records.key: the listing authority's code and the entry_id)."""
    return {entry_id: entry["list_kind"] for entry_id, entry in state["records"]["lists"].items()
            if base_status(entry) == ACTIVE and entry["classification"] == "PUBLIC"}


def listed_on(state: State, entry_key: str, today: str) -> bool:
    """Whether a public list shows the entry on `today` (ISO date): active, and its term not ended. The
    timers end a term with ListTermEnded; until that event is folded the date alone takes it off."""
    entry = state["records"]["lists"][entry_key]
    return base_status(entry) == ACTIVE and (entry.get("term_until") is None or entry["term_until"] >= today)


def public_entry(state: State, entry_key: str) -> dict:
    """One entry (by its key, as active_entries gives it) as a public list shows it: who, why, since when,
    until when, with which measures. A natural person appears by pseudonym only (the ledger never holds
    the name). The subject's register and Civil Code kind are derived from its code (subject_kinds.derived)."""
    entry, subject = state["records"]["lists"][entry_key], state["subject"]
    return {"subject_id": subject["id"], "subject_kind": subject["kind"], **derived(subject), "name": subject.get("name"),
            "entry_id": entry["entry_id"], "list_kind": entry["list_kind"], "reason": entry["reason"],
            "entered_on": entry["occurred_on"], "term_until": entry.get("term_until"),
            "authority": entry["source"]["authority_name"], "status": entry["status"], "sector": entry.get("sector"),
            "measures": describe(entry["measures"])}
