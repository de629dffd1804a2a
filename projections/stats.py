"""Statistics for assessment (考核) and circulars (通报): per authority, region or industry, what was
published on time, late or not at all, what was exempt, which objections and repairs were decided late,
and which events were rejected by which rule. Pure: plain data in, rows out.

The figures are computed from the log alone, as the ledger folds it (projections/replay.py), so a rebuild
gives the same numbers, and they are bitemporal: a period is a range of valid-time days, and the figures
are those known at the report instant `as_of` (only events and rejections recorded by then count).

What falls in a period [from_day, to_day] (both included):
- a permit or penalty decision whose decision date (its DecisionRegistered's occurred_on, else its record's)
  is in the period, under the authority that made it. Each decision counts once, in one outcome:
  historical (an import, R10) > exempt (not public, R8) > late (迟报) > on time, once its record arrived;
  missing (漏报) when it has not arrived and its 7 working days ended by `as_of` (whether the timers wrote
  its DisclosureOverdue yet or not); pending while they run;
- an objection or a repair filed (requested) in the period, under the authority of the record it is about.
  Decided late: decided after its deadline (acceptance within its working days of the filing, then the
  decision within its working days of the acceptance; with no acceptance, both in a row), or marked overdue
  by the timers. Overdue open: undecided at `as_of`, its deadline past;
- a rejection whose rejected_at (Asia/Shanghai) is in the period, by rule. It is the authority's whose event
  the log holds at its partition and offset; one the edge refused never reached the log and names no
  authority: its row is UNATTRIBUTED. A rejection published twice (at-least-once) counts once. The
  rejection of a timers' event counts for nobody: the ledger wrote it, and refuses it only when what fell
  due was met while it was on its way (a decision's record folded first), a race of the worker's timing;
- `reported`: the authority's accepted events (the timers' excluded) whose occurred_on is in the period;
  `silent_matters`: the matters of its register entry none of which it reported (MATTER_OF_TYPE);
- a case of joint measures' feedback (MeasureApplied, MeasureDeclined) whose occurred_on is in the period,
  under the implementing authority: measures_applied, measures_declined, and measures_by_code
  ({code: {applied, declined}}), the periodic case report of seeds 003 §45.

Every authority of the register (the policy's authorities.register in force on the day of `as_of`) has
a row; one that reported nothing in the period is a row of zeros flagged `gap`. An authority that is not
in the register but appears in the log has a row flagged registered=false.

A scoped supervisor's figures (projections/scopes.py) count only what its scope holds: the decisions,
objections, repairs and reported events of subjects in its scope, the rejections of events on those subjects
(one the edge refused, or whose subject the ledger does not hold, is in no scope), and only the rows of
authorities in its scope (the register's rows too: a gap it does not supervise is not its gap).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from projections.calendar import deadline_instant
from projections.canonical import SHANGHAI
from projections.catalogue import EARLIEST_DATE, LATEST_DATE
from projections.policy import AuthorityEntry, Policy, PolicyBook, policy_for
from projections.records import PENDING, key, key_authority, recorded_day
from projections.replay import replay
from projections.scopes import Scope, authority_in_scope, in_scope
from projections.state_types import State
from projections.validate import TIMER_SYSTEM

BY = ("authority", "region", "industry")
PERIOD_DAYS_MAX = 3_700  # ten years and some: a period longer than this is no assessment period
RULES_SHOWN_MAX = 200  # distinct rules kept per row (the catalogue names fewer): a bound on the output
UNATTRIBUTED = "UNATTRIBUTED"  # the row of rejections that name no authority (refused at the edge)
UNREGISTERED = "UNREGISTERED"  # the region or industry of an authority not in the register
DISCLOSURE_OUTCOMES = ("on_time", "late", "missing", "pending", "exempt", "historical")
PROCESSING_OUTCOMES = ("filed", "decided", "decided_late", "overdue_open")
# The matter of the register (policy.MATTERS) an event reports; a DecisionRegistered's is its decision_kind.
MATTER_OF_TYPE = {"PermitGranted": "PERMIT", "PermitRevoked": "PERMIT", "PenaltyImposed": "PENALTY",
                  "PenaltyFulfilled": "PENALTY", "PenaltyRevoked": "PENALTY", "CommitmentMade": "COMMITMENT",
                  "CommitmentFulfilled": "COMMITMENT", "CommitmentBreached": "COMMITMENT", "ListEntered": "LIST",
                  "ListExited": "LIST", "RatingAssigned": "RATING", "InspectionRecorded": "INSPECTION"}
# 联合奖惩 案例 (seeds 003 §45: the departments report their joint punishment cases periodically): the
# implementing authority's accepted feedback whose occurred_on is in the period, by outcome and by measure.
MEASURE_OUTCOMES = {"MeasureApplied": "applied", "MeasureDeclined": "declined"}
COUNTS = ("reported", *(f"{kind}_{o}" for kind in ("permits", "penalties") for o in DISCLOSURE_OUTCOMES),
          *(f"{kind}_{o}" for kind in ("objections", "repairs") for o in PROCESSING_OUTCOMES),
          *(f"measures_{o}" for o in MEASURE_OUTCOMES.values()), "rejected")


class StatsError(ValueError):
    """A parameter of the statistics that is out of its bounds: its name and why."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")

    def as_dict(self) -> dict:
        return {"field": self.field, "rule": "stats", "message": self.message}


@dataclass(frozen=True)
class Period:
    from_day: str  # ISO date, included
    to_day: str  # ISO date, included

    def __contains__(self, day) -> bool:
        return isinstance(day, str) and self.from_day <= day[:10] <= self.to_day


def period(from_day, to_day) -> Period:
    """The period [from_day, to_day], checked: ISO dates in the catalogue's range, in order, at most
    PERIOD_DAYS_MAX days; StatsError naming the parameter otherwise."""
    days = []
    for name, text in (("from", from_day), ("to", to_day)):
        try:
            if not (isinstance(text, str) and len(text) == 10):
                raise ValueError
            days.append(date.fromisoformat(text))
        except ValueError:
            raise StatsError(name, "a date like 2024-01-01") from None  # the text is not repeated: it may be anything
        if not EARLIEST_DATE <= text <= LATEST_DATE:
            raise StatsError(name, f"a date from {EARLIEST_DATE} to {LATEST_DATE}")
    if days[0] > days[1]:
        raise StatsError("to", f"{to_day} is before from {from_day}")
    if (days[1] - days[0]).days + 1 > PERIOD_DAYS_MAX:
        raise StatsError("to", f"a period of at most {PERIOD_DAYS_MAX:,} days")
    return Period(from_day, to_day)


def _known(moment_text, as_of: datetime) -> bool:
    try:
        return datetime.fromisoformat(moment_text) <= as_of
    except (TypeError, ValueError):
        return False


def _zeros() -> dict:
    return {**{name: 0 for name in COUNTS}, "rejected_by_rule": {}, "measures_by_code": {}}


class _Tally:
    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}
        self.matters: dict[str, set[str]] = {}  # authority -> the matters it reported in the period

    def add(self, authority: str, name: str, by: int = 1) -> None:
        self.rows.setdefault(authority, _zeros())[name] += by

    def measure(self, authority: str, code: str, outcome: str) -> None:
        """One case of feedback; the codes are the catalogue's (the edge refuses others), a bounded set."""
        self.add(authority, f"measures_{outcome}")
        by_code = self.rows[authority]["measures_by_code"]
        by_code.setdefault(code, {name: 0 for name in MEASURE_OUTCOMES.values()})[outcome] += 1

    def rule(self, authority: str, rule: str) -> None:
        rules = self.rows.setdefault(authority, _zeros())["rejected_by_rule"]
        if rule in rules or len(rules) < RULES_SHOWN_MAX:
            rules[rule] = rules.get(rule, 0) + 1


def _disclosure_outcome(state: State, decision_key: str, decision: dict, as_of: datetime) -> str:
    if decision["arrived"]:
        if decision.get("historical"):
            return "historical"
        collection = "permits" if decision["decision_kind"] == "PERMIT" else "penalties"
        record = state["records"][collection].get(key(key_authority(decision_key), decision["record_id"]), {})
        if record.get("exemption"):
            return "exempt"
        return "late" if decision.get("late") else "on_time"
    due_on = decision.get("due_on")
    if decision.get("overdue") or (due_on and deadline_instant(date.fromisoformat(due_on)) <= as_of):
        return "missing"
    return "pending"


def _decision_due(item: dict, filed_on: str, accept_days: int, decide_days: int, policy: Policy) -> date:
    """The last day an objection or repair may be decided in time (R13): from its acceptance, if it has one,
    else the acceptance's last day and then the decision's working days."""
    calendar = policy.calendar
    accepted_on = item.get("accepted_on")
    if accepted_on:
        return calendar.add_working_days(date.fromisoformat(accepted_on), decide_days).due_on
    accept_by = calendar.add_working_days(date.fromisoformat(filed_on), accept_days).due_on
    return calendar.add_working_days(accept_by, decide_days).due_on


def _processing(tally: _Tally, state: State, the_period: Period, as_of: datetime,
                policy: Policy | PolicyBook) -> None:
    for table, noun, filed, decided in (("objections", "objections", "filed_on", "resolved_on"),
                                        ("repairs", "repairs", "requested_on", "decided_on")):
        for item_key, item in state.get(table, {}).items():
            if item.get(filed) not in the_period:
                continue
            authority = key_authority(item_key)
            in_force = policy_for(policy, recorded_day(item) if item.get("recorded_at") else item[filed])
            days = ((in_force.objection_acceptance_working_days, in_force.objection_decision_working_days)
                    if table == "objections" else
                    (in_force.repair_acceptance_working_days, in_force.repair_decision_working_days))
            due = _decision_due(item, item[filed], *days, in_force)
            tally.add(authority, f"{noun}_filed")
            if item["status"] != PENDING:
                tally.add(authority, f"{noun}_decided")
                if item.get("overdue") or (item.get(decided) or "") > due.isoformat():
                    tally.add(authority, f"{noun}_decided_late")
            elif item.get("overdue") or deadline_instant(due) <= as_of:
                tally.add(authority, f"{noun}_overdue_open")


def _rejections(tally: _Tally, rejections: Iterable[dict], authority_at: dict[tuple[int, int], str],
                the_period: Period, as_of: datetime, events_topic: str, counts_place=lambda place: True) -> None:
    """Each rejected event once, on the day of its first rejection known at `as_of`: a worker that folds the log
    again (a restart before its commit, a new store) publishes the same event's rejection again."""
    first: dict[tuple[int, int], tuple[datetime, dict]] = {}
    counted: list[tuple[str, dict]] = []
    for rejection in rejections:
        at = rejection.get("rejected_at")
        if not _known(at, as_of):
            continue
        place = (rejection.get("partition", -1), rejection.get("offset", -1))
        if rejection.get("topic") == events_topic and place[1] >= 0:
            moment = datetime.fromisoformat(at)
            if place not in first or moment < first[place][0]:
                first[place] = (moment, rejection)
        elif counts_place(None):
            counted.append((UNATTRIBUTED, rejection))  # refused at the edge: it never reached the log
    counted += [(authority_at.get(place, UNATTRIBUTED), rejection) for place, (_, rejection) in first.items()
                if counts_place(place)]
    for authority, rejection in counted:
        day = datetime.fromisoformat(rejection["rejected_at"]).astimezone(SHANGHAI).date().isoformat()
        if day not in the_period:
            continue
        tally.add(authority, "rejected")
        for rule in sorted({reason.get("rule", "?") for reason in rejection.get("reasons", ())}):
            tally.rule(authority, rule)


def _is_timers(event) -> bool:
    source = event.get("source") if isinstance(event, dict) else None
    return isinstance(source, dict) and source.get("system") == TIMER_SYSTEM


def _authority_of(event) -> str | None:
    source = event.get("source") if isinstance(event, dict) else None
    code = source.get("authority_code") if isinstance(source, dict) else None
    return code if isinstance(code, str) else None


def disclosure_stats(events: Iterable[tuple[int, int, dict]], rejections: Iterable[dict], the_period: Period,
                     as_of: datetime, policy: Policy | PolicyBook, by: str = "authority",
                     events_topic: str = "credit.events", scope: Scope | None = None) -> dict:
    """The statistics of `the_period` as known at `as_of` (an aware instant), grouped `by` one of BY, of what
    `scope` holds (None: everything; see the module doc).

    `events`: (partition, offset, event in JSON form, as decoded from the log, with its recorded_at), in
    log order within each partition; `rejections`: the records of credit.rejected, decoded."""
    if by not in BY:
        raise StatsError("by", f"one of {', '.join(BY)}")
    if as_of.tzinfo is None:
        raise StatsError("as_of", "an instant with its offset")
    authority_at: dict[tuple[int, int], str] = {}
    subject_at: dict[tuple[int, int], str] = {}
    timers_at: set[tuple[int, int]] = set()  # the places of the timers' own events
    known: list[tuple[int, int, dict]] = []
    for partition, offset, event in events:
        code = _authority_of(event)
        if code is not None:
            authority_at[partition, offset] = code
        if _is_timers(event):
            timers_at.add((partition, offset))
        subject = event.get("subject") if isinstance(event, dict) else None
        if isinstance(subject, dict) and isinstance(subject.get("id"), str):
            subject_at[partition, offset] = subject["id"]
        if isinstance(event, dict) and _known(event.get("recorded_at"), as_of):
            known.append((partition, offset, event))
    known.sort(key=lambda item: (item[0], item[1]))
    folded = replay(((offset, event) for _, offset, event in known), policy=policy, deadlines=False)
    held = {subject_id for subject_id, state in folded.states.items() if in_scope(scope, state)}
    tally = _Tally()
    _tally_subjects(tally, folded, held, the_period, as_of, policy)

    def counts_place(place: tuple[int, int] | None) -> bool:
        return place not in timers_at and (scope is None or subject_at.get(place) in held)
    _rejections(tally, rejections, authority_at, the_period, as_of, events_topic, counts_place)
    in_force = policy_for(policy, as_of.astimezone(SHANGHAI).date().isoformat())
    rows = [row for row in _authority_rows(tally.rows, tally.matters, in_force.authority_register)
            if scope is None or authority_in_scope(scope, row["authority_code"])]
    result = {"from": the_period.from_day, "to": the_period.to_day, "as_of": as_of.astimezone(SHANGHAI).isoformat(),
              "by": by, "policy_version": in_force.version,
              "rows": rows if by == "authority" else _grouped(rows, by), "totals": _sum(rows)}
    return result if scope is None else {**result, "scope": scope.as_dict()}


def _tally_subjects(tally: _Tally, folded, held: set[str], the_period: Period, as_of: datetime,
                    policy: Policy | PolicyBook) -> None:
    """The decisions, objections, repairs and reported events of the subjects `held` (the scope's)."""
    for subject_id, state in folded.states.items():
        if subject_id not in held:
            continue
        for decision_key, decision in state["decisions"].items():
            if (decision.get("decided_on") or decision.get("record_decided_on")) in the_period:
                kind = "permits" if decision["decision_kind"] == "PERMIT" else "penalties"
                tally.add(key_authority(decision_key), f"{kind}_{_disclosure_outcome(state, decision_key, decision, as_of)}")
        _processing(tally, state, the_period, as_of, policy)
    for subject_id, entries in folded.history.items():
        if subject_id not in held:
            continue
        for entry in entries:
            event = entry["event"]
            if not _is_timers(event) and event["occurred_on"] in the_period:
                code = event["source"]["authority_code"]
                tally.add(code, "reported")
                matter = (event["payload"]["decision_kind"] if event["type"] == "DecisionRegistered"
                          else MATTER_OF_TYPE.get(event["type"]))
                if matter is not None:
                    tally.matters.setdefault(code, set()).add(matter)
                if event["type"] in MEASURE_OUTCOMES:
                    tally.measure(code, event["payload"]["measure"], MEASURE_OUTCOMES[event["type"]])


def _authority_rows(counts: dict[str, dict], reported: dict[str, set[str]],
                    register: tuple[AuthorityEntry, ...]) -> list[dict]:
    """A row per authority of the register, then per other authority the log names. `silent_matters`: the
    matters of its register entry of which it reported nothing in the period (all of them: a gap)."""
    rows = []
    listed = {entry.code for entry in register}
    for entry in register:
        row = counts.get(entry.code) or _zeros()
        silent = [matter for matter in entry.matters if matter not in reported.get(entry.code, ())]
        rows.append({"authority_code": entry.code, "authority_name": entry.name, "region": entry.region,
                     "industry": entry.industry, "matters": list(entry.matters), "registered": True,
                     "gap": row["reported"] == 0, "silent_matters": silent, **row})
    for code in sorted(counts.keys() - listed):
        rows.append({"authority_code": code, "authority_name": None, "region": UNREGISTERED,
                     "industry": UNREGISTERED, "matters": [], "registered": False, "gap": False,
                     "silent_matters": [], **counts[code]})
    for row in rows:
        row["rejected_by_rule"] = dict(sorted(row["rejected_by_rule"].items()))
        row["measures_by_code"] = dict(sorted(row["measures_by_code"].items()))
    return rows


def _sum(rows: list[dict]) -> dict:
    total = _zeros()
    for row in rows:
        for name in COUNTS:
            total[name] += row[name]
        for rule, count in row["rejected_by_rule"].items():
            total["rejected_by_rule"][rule] = total["rejected_by_rule"].get(rule, 0) + count
        for code, outcomes in row["measures_by_code"].items():
            into = total["measures_by_code"].setdefault(code, {name: 0 for name in MEASURE_OUTCOMES.values()})
            for name, count in outcomes.items():
                into[name] += count
    total["authorities"] = len(rows)
    total["gaps"] = sum(1 for row in rows if row["gap"])
    total["rejected_by_rule"] = dict(sorted(total["rejected_by_rule"].items()))
    total["measures_by_code"] = dict(sorted(total["measures_by_code"].items()))
    return total


def _grouped(rows: list[dict], by: str) -> list[dict]:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[by], []).append(row)
    rows = []
    for name, members in sorted(groups.items()):
        total = _sum(members)
        rows.append({by: name, "authorities": total.pop("authorities"), "gaps": total.pop("gaps"), **total})
    return rows


def stats_request(from_day, to_day, by, as_of, now: datetime) -> tuple[Period, str, datetime]:
    """The parameters of a request for statistics (GET /stats/disclosure, `credit-ledger stats`), checked:
    (the period, the grouping, the report instant: `as_of`, a date meaning 00:00 Asia/Shanghai, else `now`).
    StatsError or canonical.BadInstant (both ValueError with as_dict) naming the parameter otherwise."""
    from projections.canonical import read_instant

    the_period = period(from_day, to_day)
    by = "authority" if by is None else by
    if by not in BY:
        raise StatsError("by", f"one of {', '.join(BY)}")
    return the_period, by, now if as_of is None else read_instant(as_of, "as_of")


def flat_row(row: dict) -> dict:
    """A row as CSV cells: lists joined by ";", the rejections by rule as "rule=count;..."."""
    flat = {}
    for name, value in row.items():
        if name == "rejected_by_rule":
            value = ";".join(f"{rule}={count}" for rule, count in value.items())
        elif name == "measures_by_code":  # code=applied/declined
            value = ";".join(f"{code}={o['applied']}/{o['declined']}" for code, o in value.items())
        elif isinstance(value, list):
            value = ";".join(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        flat[name] = "" if value is None else value
    return flat
