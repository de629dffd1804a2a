"""One step of the ledger (validate, then fold) and whole replays, as pure functions.

The live worker, `rebuild`, `replay --from-file` and the audit commands all
take this one path, so they cannot disagree about what the log means.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from projections.fold import APPLIED, fold
from projections.validate import EdgeContext, Problem, validate_event

INVALID = "invalid"  # the record is no valid event at all (before any rule of the fold)
NO_KEY = b""  # the key is unused here: events in the log are already pseudonymised


@dataclass(frozen=True)
class Step:
    outcome: str  # APPLIED, DUPLICATE, REDELIVERED, REJECTED or INVALID
    subject_id: str | None
    state: dict | None  # the subject's state after the step (None when INVALID)
    event: dict | None  # the canonical event (None when INVALID)
    problems: tuple[Problem, ...] = ()

    def history_entry(self, offset: int) -> dict:
        """What /subjects/{id}/history lists for an applied event."""
        return {"offset": offset, "chain_hash": self.state["chain"]["head"], "event": self.event}


def log_context(decoded: dict, pseudonym_key: bytes = NO_KEY) -> EdgeContext:
    """Events in the log are checked against their own recorded_at, never the wall
    clock, so a replay in ten years reaches the same verdicts."""
    try:
        now = datetime.fromisoformat(decoded["recorded_at"])
    except (KeyError, TypeError, ValueError):
        now = datetime.fromisoformat("1970-01-01T00:00:00+00:00")  # validation reports the field
    return EdgeContext(now=now, pseudonym_key=pseudonym_key, stamp_recorded_at=False, allow_system=True)


def step(get_state: Callable[[str], dict | None], decoded, offset: int, pseudonym_key: bytes = NO_KEY) -> Step:
    event, problems = validate_event(decoded, log_context(decoded if isinstance(decoded, dict) else {}, pseudonym_key))
    if problems:
        subject = decoded.get("subject") if isinstance(decoded, dict) else None
        subject_id = subject.get("id") if isinstance(subject, dict) else None
        return Step(INVALID, subject_id if isinstance(subject_id, str) else None, None, None, tuple(problems))
    subject_id = event["subject"]["id"]
    state, outcome = fold(get_state(subject_id), event, offset)
    return Step(outcome.kind, subject_id, state, event, outcome.reasons)


@dataclass
class Replay:
    states: dict[str, dict] = field(default_factory=dict)
    history: dict[str, list[dict]] = field(default_factory=dict)
    rejected: list[dict] = field(default_factory=list)  # {offset, subject_id, reasons}


def replay(entries: Iterable[tuple[int, dict]], pseudonym_key: bytes = NO_KEY) -> Replay:
    """Fold (offset, event in JSON form) pairs, in order, from nothing.

    `pseudonym_key` is needed only for files that still carry natural persons' ID numbers."""
    result = Replay()
    for offset, decoded in entries:
        done = step(result.states.get, decoded, offset, pseudonym_key)
        if done.state is not None:
            result.states[done.subject_id] = done.state
        if done.outcome == APPLIED:
            result.history.setdefault(done.subject_id, []).append(done.history_entry(offset))
        elif done.problems:
            result.rejected.append({"offset": offset, "subject_id": done.subject_id,
                                    "reasons": [p.as_dict() for p in done.problems]})
    return result
