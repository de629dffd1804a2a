"""One step of the ledger (validate, then fold) and whole replays, as pure functions.

The live worker, `rebuild`, `replay --from-file` and the audit commands all
take this one path, so they cannot disagree about what the log means.
"""
from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from projections.canonical import SHANGHAI, instant_text, parse_instant, read_instant
from projections.deadlines import Deadline, pending_deadlines, system_event
from projections.fold import APPLIED, QUARANTINED, REJECTED, credit_file, fold, internal_error
from projections.policy import DEFAULT_POLICY, Policy, PolicyBook, policy_for
from projections.records import RETRACTED, REVOKED, base_status, recorded_day
from projections.state_types import State
from projections.validate import EdgeContext, Problem, validate_event

INVALID = "invalid"  # the record is no valid event at all (before any rule of the fold)
NO_KEY = b""  # the key is unused here: events in the log are already pseudonymised


@dataclass(frozen=True)
class Step:
    outcome: str  # APPLIED, DUPLICATE, REDELIVERED, REJECTED, QUARANTINED or INVALID
    subject_id: str | None
    state: State | None  # the subject's state after the step (None when INVALID)
    event: dict | None  # the canonical event (None when INVALID)
    problems: tuple[Problem, ...] = ()
    deadlines: tuple[Deadline, ...] = ()  # pending after an applied event, when the step was asked for them

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
    return EdgeContext(now=now, pseudonym_key=pseudonym_key, stamp_recorded_at=False, allow_system=True,
                       accept_sealed_pii=True)  # the edge sealed it; the log carries it


def step(get_state: Callable[[str], dict | None], decoded, offset: int, pseudonym_key: bytes = NO_KEY,
         policy: Policy | PolicyBook = DEFAULT_POLICY, handed_over: bool = False, deadlines: bool = False) -> Step:
    """Validate and fold one event; with a PolicyBook, under the policy in force the day it was recorded.
    `handed_over`: the state `get_state` gives is never read again but through the step (fold).
    `deadlines`: also derive the subject's pending deadlines (the timers' work), so that an event whose
    deadlines cannot be computed is quarantined like one the fold raised on."""
    event, problems = validate_event(decoded, log_context(decoded if isinstance(decoded, dict) else {}, pseudonym_key))
    if problems:
        subject = decoded.get("subject") if isinstance(decoded, dict) else None
        subject_id = subject.get("id") if isinstance(subject, dict) else None
        return Step(INVALID, subject_id if isinstance(subject_id, str) else None, None, None, tuple(problems))
    subject_id = event["subject"]["id"]
    before = get_state(subject_id)
    in_force = policy_for(policy, recorded_day(event))
    try:
        state, outcome = fold(before, event, offset, policy=in_force, handed_over=handed_over)
        pending = tuple(pending_deadlines(state, in_force)) if deadlines and outcome.kind == APPLIED else ()
    except Exception as error:  # noqa: BLE001 - a bug in the fold must not stop the ledger: set the event aside
        # `before` as it was, unless the fold wrote it in place (handed_over): Replay then folds the subject anew
        return Step(QUARANTINED, subject_id, before, event, (internal_error(error),))
    return Step(outcome.kind, subject_id, state, event, outcome.reasons, pending)


def quarantined(done: Step, before: dict | None, error: BaseException) -> Step:
    """The step of an event whose consequences (its deadlines, its grade) could not be derived: set aside
    like one the fold raised on, the subject's state as before it."""
    return Step(QUARANTINED, done.subject_id, before, done.event, (internal_error(error),))


TIMER_FIRINGS_MAX = 1_000_000  # per replay: a bound on what `--clock` can add


@dataclass
class Replay:
    states: dict[str, dict] = field(default_factory=dict)
    history: dict[str, list[dict]] = field(default_factory=dict)
    rejected: list[dict] = field(default_factory=list)  # {offset, subject_id, reasons}
    fired: int = 0  # system events the timers wrote (only with `clock`)
    quarantined: int = 0  # events the fold raised on (reason internal_error, also in `rejected`)
    # subject -> (offset, event) of its events the rules rejected: with its history, all that made its state
    rejected_events: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)
    policy: Policy | PolicyBook = DEFAULT_POLICY

    def record(self, done: Step, offset: int) -> None:
        if done.state is not None:
            self.states[done.subject_id] = done.state
        if done.outcome == APPLIED:
            self.history.setdefault(done.subject_id, []).append(done.history_entry(offset))
        elif done.problems:
            self.rejected.append({"offset": offset, "subject_id": done.subject_id,
                                  "reasons": [p.as_dict() for p in done.problems]})
        if done.outcome == REJECTED:
            self.rejected_events.setdefault(done.subject_id, []).append((offset, done.event))
        elif done.outcome == QUARANTINED:
            self.quarantined += 1
            self.states[done.subject_id] = self._folded_anew(done.subject_id)

    def _folded_anew(self, subject_id: str) -> dict | None:
        """The subject's state from its applied and rejected events, folded copy-on-write: a replay folds
        in place (handed_over), so a fold that raised may have left the state half written."""
        entries = [(h["offset"], h["event"]) for h in self.history.get(subject_id, ())]
        state = None
        for offset, event in sorted(entries + self.rejected_events.get(subject_id, []), key=lambda e: e[0]):
            state, _ = fold(state, event, offset, policy=policy_for(self.policy, recorded_day(event)))
        return state


def replay(entries: Iterable[tuple[int, dict]], pseudonym_key: bytes = NO_KEY, *,
           policy: Policy | PolicyBook = DEFAULT_POLICY,
           clock: datetime | None = None, deadlines: bool = True) -> Replay:
    """Fold (offset, event in JSON form) pairs, in order, from nothing.

    With `clock` (an aware instant) the timers run too, as the live worker's would: before
    each event, every deadline that fell due by its recorded_at fires, and after the last
    one every deadline due by `clock`. The events are then renumbered 0, 1, 2 ... in the
    order folded, system events included, as they would stand in the log.

    `pseudonym_key` is needed only for files that still carry natural persons' ID numbers.
    `deadlines`: derive each applied event's pending deadlines, as the live worker does, so that an
    event whose deadlines raise is set aside here too (False only to measure the fold alone)."""
    result = Replay(policy=policy)
    if clock is None:
        for offset, decoded in entries:
            result.record(step(result.states.get, decoded, offset, pseudonym_key, policy, handed_over=True,
                               deadlines=deadlines), offset)
        return result
    timers = _Timers(policy)
    offset = 0
    for _, decoded in entries:
        moment = parse_instant(decoded.get("recorded_at")) if isinstance(decoded, dict) else None
        if moment is not None:
            offset = timers.fire(result, min(moment, clock), offset, pseudonym_key)
        done = step(result.states.get, decoded, offset, pseudonym_key, policy, handed_over=True, deadlines=True)
        result.record(done, offset)
        timers.track(done)
        offset += 1
    timers.fire(result, clock, offset, pseudonym_key)
    return result


class _Timers:
    """The offline timers: every subject's pending deadlines in one heap, checked lazily."""

    def __init__(self, policy: Policy | PolicyBook):
        self.policy = policy
        self.heap: list[Deadline] = []
        self.pending: dict[str, set[Deadline]] = {}

    def track(self, done: Step) -> None:
        if done.state is None or done.outcome != APPLIED:
            return
        self.pending[done.subject_id] = set(done.deadlines)
        for deadline in done.deadlines:
            heapq.heappush(self.heap, deadline)

    def fire(self, result: Replay, until: datetime, offset: int, pseudonym_key: bytes) -> int:
        """Fire, earliest first, every deadline due by `until`; returns the next free offset."""
        while self.heap and datetime.fromisoformat(self.heap[0].fires_at) <= until:
            deadline = heapq.heappop(self.heap)
            if deadline not in self.pending.get(deadline.subject_id, ()):
                continue  # met or changed since it was pushed
            if result.fired >= TIMER_FIRINGS_MAX:
                raise RuntimeError(f"more than {TIMER_FIRINGS_MAX} timer firings in one replay")
            state = result.states[deadline.subject_id]
            event = system_event(state, deadline, deadline.fires_at, policy_for(self.policy, deadline.fires_at))
            done = step(result.states.get, event, offset, pseudonym_key, self.policy, handed_over=True,
                        deadlines=True)
            result.record(done, offset)
            result.fired += 1
            self.pending[deadline.subject_id].discard(deadline)  # a rejected firing is not retried
            self.track(done)
            offset += 1
        return offset


def fold_entries(entries: list[dict], policy: Policy | PolicyBook = DEFAULT_POLICY) -> tuple[dict | None, list[int]]:
    """Fold history entries ({offset, event}) from nothing: the state, and the offsets of the entries
    left out because folding them raised (a bug; the live worker quarantined them, or the fold changed
    since). In place, as a replay folds; after a raise, once more copy-on-write, so that an entry that
    raises leaves the state as it was before it."""
    state = None
    try:
        for entry in entries:
            state, _ = fold(state, entry["event"], entry["offset"],
                            policy=policy_for(policy, recorded_day(entry["event"])), handed_over=True)
        return state, []
    except Exception:  # noqa: BLE001 - one stored record never stops a read
        pass
    state, left_out = None, []
    for entry in entries:
        try:
            state, _ = fold(state, entry["event"], entry["offset"],
                            policy=policy_for(policy, recorded_day(entry["event"])))
        except Exception:  # noqa: BLE001
            left_out.append(entry["offset"])
    return state, left_out


def _known_at(history: Iterable[dict], moment: datetime) -> list[dict]:
    known = []
    for entry in history:
        if datetime.fromisoformat(entry["event"]["recorded_at"]) > moment:
            break  # the history is in log order, and a subject's recorded_at only grows along it
        known.append(entry)
    return known


def state_as_of(history: Iterable[dict], moment: datetime, policy: Policy | PolicyBook = DEFAULT_POLICY) -> dict | None:
    """One subject's state as the ledger knew it at `moment`: its accepted events (history entries
    {offset, event}) recorded at or before then, folded again. None if it had none yet."""
    return fold_entries(_known_at(history, moment), policy)[0]


def state_valid_at(history: list[dict], day: str, policy: Policy | PolicyBook = DEFAULT_POLICY) -> dict | None:
    """What was legally true on `day` (valid time), given everything known now.

    The events whose occurred_on is on or before `day` are folded in log order; records that
    were later found never to have been valid (retracted after an upheld objection, revoked on
    review or by a court) are taken out, and corrections made since apply, as they correct what
    was true all along."""
    known_now = state_as_of(history, datetime.max.replace(tzinfo=SHANGHAI), policy)
    if known_now is None:
        return None
    state, _ = fold_entries([entry for entry in history if entry["event"]["occurred_on"] <= day], policy)
    if state is None:
        return None
    records = {}
    for collection, now_records in known_now["records"].items():
        kept = {}
        for record_id, record in state["records"][collection].items():
            final = now_records.get(record_id, record)
            if base_status(final) in (RETRACTED, REVOKED):
                continue
            kept[record_id] = {**record, "correction": final["correction"]} if final.get("correction") else record
        records[collection] = kept
    return {**state, "records": records}


def bitemporal_view(history: list[dict], as_of: str | None, valid_at: str | None,
                    policy: Policy | PolicyBook = DEFAULT_POLICY, *, today: str) -> dict:
    """The credit file and history of one subject as known at transaction time `as_of` (an instant,
    or a date meaning 00:00 Asia/Shanghai) and/or as true on valid date `valid_at`; BadInstant (a
    ValueError "<field>: <why>") for a bad parameter or one outside the catalogue's dates. The file is
    graded under the policy in force then: on `valid_at`, else on the day of `as_of`, else `today`
    (Asia/Shanghai), as the live API grades now; never under a version published but not yet in force."""
    moment = read_instant(as_of, "as_of") if as_of is not None else None
    if valid_at is not None:
        read_instant(valid_at, "valid_at", date_only=True)
    known = [h for h in history if moment is None or datetime.fromisoformat(h["event"]["recorded_at"]) <= moment]
    if valid_at is not None:
        state = state_valid_at(known, valid_at, policy)
        known = [h for h in known if h["event"]["occurred_on"] <= valid_at]
        left_out = []
    else:
        state, left_out = fold_entries(known, policy)
    day = valid_at or (moment.astimezone(SHANGHAI).date().isoformat() if moment else today)
    graded_under = policy_for(policy, day)
    view = {"as_of": instant_text(moment) if moment else None, "valid_at": valid_at,
            "file": credit_file(state, graded_under) if state is not None else None, "history": known}
    if left_out:  # said, never a failed read
        view["unshown"] = [{"offset": offset, "why": "folding this event raised; the file is shown without it"}
                           for offset in left_out]
    return view
