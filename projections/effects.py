"""Everything one event causes, as data: the pure core at the event boundary (issue 30).

`effects_of(before, event, offset, policy, grading)` validates and folds one event of the log
(projections.replay.step) and derives what the worker must then write and publish:
- the subject's new state and its history entry;
- the deadlines added to and removed from the timer index (projections/deadlines.py);
- the public list entries added to and removed from the list index (projections/lists.py);
- the new grade when what grading reads changed (projections/grading.py), and from it, against the
  grade last stored, the grade change (`Effects.grade_change`);
- the statistics deltas, typed: 双公示 timeliness per authority, pending deadlines by kind, subjects
  by grade. Their counter keys are the store's business (streams/store.py formats and parses them).
The worker (streams/ledger.py) only moves these effects to the store and the topics.

Two memos of the worker are explicit inputs, so that the function stays pure and the worker fast:
`pending_memo`, the deadlines it last put in the timer index for this subject (as_of offset, deadlines), and
`graded_memo`, the basis of the grade it last stored for it. Both are checked here against `before`; a
stale memo is ignored. A deadline's index entry stays as its event derived it, under the policy of that
event's day, until the subject's next applied event replaces it: a new policy (another disclosure period,
say) moves a subject's deadlines at its next event, and the entries to replace are the ones indexed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from projections.deadlines import Deadline, pending_deadlines
from projections.fold import APPLIED, QUARANTINED, internal_error
from projections.grading import grade, grade_change, grade_inputs_unchanged
from projections.lists import active_entries
from projections.policy import Policy, PolicyBook, policy_for
from projections.records import own_key, recorded_day
from projections.replay import Step, step
from projections.state_types import State
from projections.validate import Problem

# 双公示 timeliness outcomes (issue 29 R6, R8, R10)
ON_TIME, LATE, OVERDUE, EXEMPT, HISTORICAL = "on_time", "late", "overdue", "exempt", "historical"
TIMELINESS_JUDGED = (ON_TIME, LATE, OVERDUE)  # each decision once, in its final outcome
# counted apart, never in a timely ratio: exempt records (R8), historical imports (R10)
TIMELINESS_OUTCOMES = (*TIMELINESS_JUDGED, EXEMPT, HISTORICAL)
# what moves a 双公示 decision's outcome: its record arriving (a permit, a penalty), its registration, and
# the timers' DisclosureOverdue (漏报: its record not in by its due day)
DECISION_TYPES = frozenset(("PermitGranted", "PenaltyImposed", "DecisionRegistered", "DisclosureOverdue"))


# --- the statistics: which running count, and by how much ---------------------------------------
@dataclass(frozen=True, slots=True)
class TimelinessCounter:
    """Decisions of one authority in one timeliness outcome."""
    authority_code: str
    outcome: str


@dataclass(frozen=True, slots=True)
class DeadlineCounter:
    """Pending deadlines of one kind (projections.deadlines.KINDS)."""
    kind: str


@dataclass(frozen=True, slots=True)
class GradeCounter:
    """Subjects whose stored grade has this letter."""
    letter: str


Counter = TimelinessCounter | DeadlineCounter | GradeCounter
COUNTER_TYPES = (TimelinessCounter, DeadlineCounter, GradeCounter)


@dataclass(frozen=True, slots=True)
class TimelinessDelta:
    authority_code: str
    outcome: str
    delta: int

    @property
    def counter(self) -> TimelinessCounter:
        return TimelinessCounter(self.authority_code, self.outcome)


@dataclass(frozen=True, slots=True)
class DeadlineDelta:
    kind: str
    delta: int

    @property
    def counter(self) -> DeadlineCounter:
        return DeadlineCounter(self.kind)


@dataclass(frozen=True, slots=True)
class GradeDelta:
    letter: str
    delta: int

    @property
    def counter(self) -> GradeCounter:
        return GradeCounter(self.letter)


# --- the effects ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ListEntry:
    """A public active list entry, as the list index holds it."""
    list_kind: str
    subject_id: str
    entry_id: str  # the entry's key in the state (records.key)


@dataclass(frozen=True, slots=True)
class GradeChange:
    """A stored grade that moved: the GradeChanged record to publish (without its "at") and the counts."""
    record: dict
    deltas: tuple[GradeDelta, ...]


@dataclass(frozen=True, slots=True)
class Regrade:
    """A new grade to store for a subject; what it changes depends on the grade stored before it."""
    subject_id: str
    grade: dict
    policy: Policy  # graded under
    cause: dict  # {cause, cause_event_id, offset}
    basis: tuple[int, str]  # (as_of offset, policy version) it was computed from: the worker's graded memo
    ungraded_before: bool  # the subject had no state, so no stored grade: no need to read one

    def change(self, stored: dict | None) -> GradeChange | None:
        """The change from the grade stored before (None: none), or None if neither letter nor score moved."""
        return grade_change_of(self.subject_id, stored, self.grade, self.cause)


def grade_change_of(subject_id: str, stored: dict | None, new: dict, cause: dict) -> GradeChange | None:
    change = grade_change(stored, new)
    if change is None:
        return None
    return GradeChange({"subject_id": subject_id, **change, **cause}, grade_deltas(stored, new))


def grade_deltas(stored: dict | None, new: dict) -> tuple[GradeDelta, ...]:
    """The counts' moves when `new` replaces the grade `stored` (None: none); () if neither letter nor
    score moved, as grade_change has it. Without the GradeChanged record: what a rebuild, which publishes
    nothing, needs."""
    if stored is not None and (stored["letter"], stored["score"]) == (new["letter"], new["score"]):
        return ()
    return ((GradeDelta(stored["letter"], -1),) if stored is not None else ()) + (GradeDelta(new["letter"], 1),)


def regrade_of(subject_id: str, state: State, policy: Policy, cause: dict) -> Regrade:
    """A subject's grade under `policy` whatever graded it before (a policy sweep)."""
    return Regrade(subject_id, grade(state, policy), policy, cause, (state["as_of"]["offset"], policy.version), False)


@dataclass(frozen=True, slots=True)
class Effects:
    outcome: str  # as the fold's: APPLIED, DUPLICATE, REDELIVERED, REJECTED, QUARANTINED, or replay.INVALID
    subject_id: str | None
    state: State | None  # the subject's state after the event (as before it when QUARANTINED; None when INVALID)
    event: dict | None  # the canonical event (None when INVALID)
    problems: tuple[Problem, ...] = ()  # why it was rejected, invalid or quarantined
    history_entry: dict | None = None  # APPLIED: what /subjects/{id}/history lists
    deadlines_added: frozenset[Deadline] = frozenset()
    deadlines_removed: frozenset[Deadline] = frozenset()
    lists_added: tuple[ListEntry, ...] = ()
    lists_removed: tuple[ListEntry, ...] = ()
    regrade: Regrade | None = None  # None: the grade stored stands (nothing grading reads changed)
    timeliness: tuple[TimelinessDelta, ...] = ()
    # the worker's memo of this subject's deadlines indexed after it: (as_of offset, deadlines)
    pending_memo: tuple[int, frozenset[Deadline]] | None = None
    graded_memo: tuple[int, str] | None = None  # the basis of the grade stored after it
    deltas: tuple[TimelinessDelta | DeadlineDelta, ...] = field(default=())  # every statistic it moves but grades

    @property
    def writes_state(self) -> bool:
        """Whether the state is to be stored: not for an invalid record, nor one set aside."""
        return self.state is not None and self.outcome != QUARANTINED

    def quarantined(self, before: dict | None, error: BaseException) -> Effects:
        """This event set aside (an error while deriving its consequences): nothing of it is written."""
        return Effects(QUARANTINED, self.subject_id, before, self.event, (internal_error(error),))


def effects_of(before: dict | None, event, offset: int, policy: Policy | PolicyBook, grading: Policy | None = None,
               *, pending_memo: tuple[int, frozenset[Deadline]] | None = None,
               graded_memo: tuple[int, str] | None = None) -> Effects:
    """What one record of the log (`event`, decoded, at `offset`) causes, given its subject's state `before`.

    `policy`: the fold's (a PolicyBook: each event under the policy of the day it was recorded);
    `grading`: the published grade's, the policy in force at the worker's instant (None: the fold's).
    `pending_memo`, `graded_memo`: the caller's memos of its last results for this subject (module doc).
    Never raises for one event: a consequence that cannot be derived quarantines it, nothing of it written."""
    done = step(lambda _: before, event, offset, policy=policy, deadlines=True)
    if done.outcome != APPLIED:
        return Effects(done.outcome, done.subject_id, done.state, done.event, done.problems)
    try:
        return _applied(done, before, offset, policy_for(policy, recorded_day(done.event)), grading,
                        _indexed_deadlines(before, policy, pending_memo), graded_memo)
    except Exception as error:  # noqa: BLE001 - one event's bug never stops the ledger
        return Effects(QUARANTINED, done.subject_id, before, done.event, (internal_error(error),))


def _indexed_deadlines(before: dict | None, policy: Policy | PolicyBook,
                       pending_memo: tuple[int, frozenset[Deadline]] | None) -> frozenset[Deadline]:
    """The deadlines the timer index holds for the subject of `before`: what its last applied event left
    there, derived under the policy of that event's day (not the policy in force now). The memo says so
    for its offset; without it they are derived again under that policy."""
    if before is None:
        return frozenset()
    if pending_memo is not None and pending_memo[0] == before["as_of"]["offset"]:
        return pending_memo[1]
    last_applied = before.get("applied_as_of") or before["as_of"]  # a rejection moves as_of, not the index
    return frozenset(pending_deadlines(before, policy_for(policy, recorded_day(last_applied))))


def _applied(done: Step, before: dict | None, offset: int, policy: Policy, grading: Policy | None,
             old: frozenset[Deadline], graded_memo) -> Effects:
    """The effects of an applied event, its deadlines diffed against `old`, those the index holds."""
    subject_id, after, event = done.subject_id, done.state, done.event
    grading = grading or policy
    new = frozenset(done.deadlines)
    added, removed = new - old, old - new
    if before is not None and before["records"]["lists"] is after["records"]["lists"]:
        lists_added = lists_removed = ()  # the fold copies what it writes (records.Draft): the lists are as they were
    else:
        lists_before = active_entries(before) if before is not None else {}
        lists_after = active_entries(after)
        lists_added = tuple(ListEntry(kind, subject_id, entry_id) for entry_id, kind in lists_after.items()
                            if entry_id not in lists_before)
        lists_removed = tuple(ListEntry(kind, subject_id, entry_id) for entry_id, kind in lists_before.items()
                              if entry_id not in lists_after)
    unchanged = (before is not None and grade_inputs_unchanged(before, after)
                 and graded_memo == (before["as_of"]["offset"], grading.version))
    regrade = None if unchanged else Regrade(
        subject_id, grade(after, grading), grading,
        {"cause": event["type"], "cause_event_id": event["event_id"], "offset": offset},
        (after["as_of"]["offset"], grading.version), before is None)
    timeliness = timeliness_deltas(event, before, after)
    deltas = list(timeliness)
    for deadline in removed:
        deltas.append(DeadlineDelta(deadline.kind, -1))
    for deadline in added:
        deltas.append(DeadlineDelta(deadline.kind, 1))
    return Effects(APPLIED, subject_id, after, event, done.problems, done.history_entry(offset), added, removed,
                   lists_added, lists_removed, regrade, timeliness, (after["as_of"]["offset"], new),
                   (after["as_of"]["offset"], grading.version), tuple(deltas))


def timeliness_deltas(event: dict, before: dict | None, after: dict) -> tuple[TimelinessDelta, ...]:
    """双公示 timeliness per authority: records on time or late (迟报), decisions overdue (漏报).

    Each decision counts once, in its final outcome (issue 29 R6): what the event changed of its decision's
    outcome moves the counts. A record arriving for a decision marked overdue takes it out of the overdue
    count, whether it came in time after all (on time) or late (迟报, not 漏报 as well); the
    DisclosureOverdue stays in the log. A decision registered after its record arrived judges the record
    again, from the registered date. An exempt record (R8) and a historical import (R10) are counted
    apart: not judged on time or late, so that 瞒报 risk shows."""
    if event["type"] not in DECISION_TYPES:
        return ()
    authority, no = event["source"]["authority_code"], event["payload"]["decision_no"]
    old, new = _decision_outcome(before, authority, no), _decision_outcome(after, authority, no)
    if old == new:
        return ()
    return (((TimelinessDelta(*new, 1),) if new else ())
            + ((TimelinessDelta(*old, -1),) if old else ()))


def _decision_outcome(state: State | None, authority: str, no: str) -> tuple[str, str] | None:
    """(authority code, timeliness outcome) of a decision as `state` has it; None while it has none."""
    # the tables are keyed per authority (records.own_key; `before` may be a state stored before that)
    decision = state["decisions"].get(own_key(state, authority, no)) if state is not None else None
    if decision is None:
        return None
    if decision["arrived"]:
        table = "permits" if decision["decision_kind"] == "PERMIT" else "penalties"
        record = state["records"][table][own_key(state, authority, decision["record_id"])]
        outcome = (HISTORICAL if record.get("historical") else EXEMPT if record.get("exemption")
                   else LATE if record.get("late") else ON_TIME)
        return decision["authority_code"], outcome
    return (decision["authority_code"], OVERDUE) if decision["overdue"] else None
