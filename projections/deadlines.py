"""Deadlines: what falls due when in one credit file, and the system event each one produces.

Pure. The fold never asks the time: the timers (streams/timers.py, and `replay --clock`)
ask `pending_deadlines(state)` what is pending, wait until a deadline's `fires_at`, and
publish `system_event(...)` to the ledger. The event's id is a UUIDv5 of what fired, so
a timer that fires twice (a restart, a rebalance) is a duplicate the fold ignores; once
the event is folded the deadline is no longer pending.

A deadline's `due_on` is the last day of its period (DESIGN "Rules": periods start the
day after the event; deadlines end at 24:00 Asia/Shanghai), so it fires at 00:00 +08:00
of the next day, and the system event occurs on that next day.

| kind        | pending while                                   | due_on                                   | fires          |
|-------------|-------------------------------------------------|------------------------------------------|----------------|
| DISCLOSURE  | a registered decision's record has not arrived  | decision + 7 working days                | DisclosureOverdue |
| COMMITMENT  | a commitment with a due date is OPEN            | due_on, or made + due_working_days       | CommitmentOverdue |
| PUBLICITY   | a penalty is on public display, or a commitment's breach in its period of effect (R5: breach + 12 or 36 months) | the day before decision + 36 months (or publicity_until if earlier) | PublicityEnded |
| LIST_TERM   | a list entry with term_until is ACTIVE          | term_until                               | ListTermEnded  |
| OBJECTION_ACCEPTANCE | an objection is pending, not yet accepted (R13) | filed + 2 working days          | ProcessingOverdue |
| OBJECTION   | an accepted objection is pending, not overdue   | accepted + 5 working days                | ProcessingOverdue |
| REPAIR_ACCEPTANCE | a repair is pending, not yet accepted      | requested + 2 working days               | ProcessingOverdue |
| REPAIR      | an accepted repair is pending, not overdue      | accepted + 5 working days                | ProcessingOverdue |
| RATING      | a current rating with a valid_to                 | valid_to                                 | RatingExpired  |
| RED_LIST_END | an active RED_LIST entry beside a record that blocks it (R3) | the day before that record arrived | ListExited of the red entry |
| ESCALATION  | an ABNORMAL_OPERATION entry is ACTIVE (an enterprise's or a cooperative's) | the day before entry + 36 months         | ListEntered SERIOUS_DISHONESTY, with its term; the abnormal entry ends |
"""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from projections.calendar import Due, add_months, deadline_instant
from projections.catalogue import EVENT_TYPES
from projections.policy import Policy, breach_months, is_small_penalty, max_publicity_months, breach_period, list_term_until, red_list_blockers
from projections.state_types import State
from projections.subject_kinds import category
from projections.records import (ACTIVE, BREACHED, COLLECTIONS, OPEN, OVERDUE, PENDING, base_status, blocker_label, key, key_authority,
                                 recorded_day)
from projections.validate import TIMER_SYSTEM  # source.system of every event a timer writes

DISCLOSURE, COMMITMENT, PUBLICITY, LIST_TERM = "DISCLOSURE", "COMMITMENT", "PUBLICITY", "LIST_TERM"
OBJECTION, REPAIR, ESCALATION, RATING = "OBJECTION", "REPAIR", "ESCALATION", "RATING"
RED_LIST_END = "RED_LIST_END"
OBJECTION_ACCEPTANCE, REPAIR_ACCEPTANCE = "OBJECTION_ACCEPTANCE", "REPAIR_ACCEPTANCE"
KINDS = (DISCLOSURE, COMMITMENT, PUBLICITY, LIST_TERM, OBJECTION, REPAIR, ESCALATION, RATING, RED_LIST_END,
         OBJECTION_ACCEPTANCE, REPAIR_ACCEPTANCE)
KIND_LABELS_ZH = {DISCLOSURE: "双公示报送", COMMITMENT: "承诺履行", PUBLICITY: "公示期届满", LIST_TERM: "名单期限届满",
                  OBJECTION: "异议处理", REPAIR: "信用修复办理", ESCALATION: "经营异常名录满3年",
                  RATING: "信用评价有效期届满", RED_LIST_END: "失信记录终止红名单",
                  OBJECTION_ACCEPTANCE: "异议受理", REPAIR_ACCEPTANCE: "信用修复受理"}
DEADLINE_NAMESPACE = uuid.UUID("8f4e2b1a-7c3d-5e6f-9a0b-1c2d3e4f5a6b")
ESCALATED_SUFFIX = "-SD"  # the entry_id of the SERIOUS_DISHONESTY entry an escalation creates


@dataclass(frozen=True, order=True)
class Deadline:
    fires_at: str  # ISO instant, +08:00 (compares like instants: one offset throughout)
    subject_id: str
    kind: str
    ref: str  # the key (records.key) of the decision, commitment, penalty, list entry, objection or repair
    due_on: str  # the last day of the period
    provisional: bool  # counted on a year the official calendar does not cover yet

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.ref}"

    def event_id(self) -> str:
        return str(uuid.uuid5(DEADLINE_NAMESPACE, f"{self.subject_id}|{self.kind}|{self.ref}|{self.due_on}"))

    def as_dict(self) -> dict:
        return {"kind": self.kind, "label": KIND_LABELS_ZH[self.kind], "ref": self.ref, "due_on": self.due_on,
                "provisional": self.provisional, "fires_at": self.fires_at}


def disclosure_due(decided_on: str, policy: Policy) -> Due:
    """When a decision's permit or penalty must have reached the ledger (双公示)."""
    return policy.calendar.add_working_days(date.fromisoformat(decided_on), policy.disclosure_working_days)


@functools.lru_cache(maxsize=16_384)  # a few decades of days; each fold asks for the same few again and again
def _fires_at(due_on: date) -> tuple[str, str]:
    """(fires_at, due_on) as the Deadline holds them: ISO text."""
    return deadline_instant(due_on).isoformat(), due_on.isoformat()


def _deadline(state: State, kind: str, ref: str, due: Due) -> Deadline:
    fires_at, due_on = _fires_at(due.due_on)
    return Deadline(fires_at, state["subject"]["id"], kind, ref, due_on, due.provisional)


def _working(state: State, kind: str, ref: str, start: str, working_days: int, policy: Policy) -> Deadline:
    return _deadline(state, kind, ref, policy.calendar.add_working_days(date.fromisoformat(start), working_days))


def _last_day_before(start: str, months: int) -> Due:
    return Due(add_months(date.fromisoformat(start), months) - timedelta(days=1), provisional=False)


def publicity_end(penalty: dict, policy: Policy) -> tuple[Due, str]:
    """The last day a penalty is on display, and why it ends then: its maximum (R11: by kind, 3 months for a
    small penalty), or the end of a restriction that lasts longer, or the authority's earlier publicity_until."""
    months = max_publicity_months(penalty, policy)
    due = _last_day_before(penalty["occurred_on"], months)
    reason = (f"公示期届满：仅受到通报批评或者较低数额罚款，公示 {months} 个月" if is_small_penalty(penalty, policy)
              else f"公示期届满：最长公示期 {months} 个月")
    restriction = penalty.get("restriction_until")
    if (restriction is not None and restriction > due.due_on.isoformat()
            and set(penalty["penalty_kinds"]) & policy.restriction_kinds):
        due, reason = Due(date.fromisoformat(restriction), False), f"公示期届满：按照实际限制期限执行至 {restriction}"
    until = penalty.get("publicity_until")
    if until is not None and until < due.due_on.isoformat():
        return Due(date.fromisoformat(until), False), f"公示期届满：处罚决定确定的公示截止日期 {until}"
    return due, reason


def pending_deadlines(state: State, policy: Policy) -> list[Deadline]:
    """Every deadline pending in this credit file, earliest first."""
    pending: list[Deadline] = []
    for no, decision in state["decisions"].items():
        if decision["registered"] and not decision["arrived"] and not decision["overdue"]:
            pending.append(_deadline(state, DISCLOSURE, no, disclosure_due(decision["decided_on"], policy)))
    records = state["records"]
    for commitment_id, commitment in records["commitments"].items():
        if base_status(commitment) in (BREACHED, OVERDUE):  # R5: a breach's period of effect
            last = breach_period(commitment, policy)[1]
            pending.append(_deadline(state, PUBLICITY, commitment_id, Due(date.fromisoformat(last), False)))
        if base_status(commitment) != OPEN:
            continue
        if commitment.get("due_on"):
            pending.append(_deadline(state, COMMITMENT, commitment_id,
                                     Due(date.fromisoformat(commitment["due_on"]), False)))
        elif commitment.get("due_working_days"):
            pending.append(_working(state, COMMITMENT, commitment_id, commitment["occurred_on"],
                                    commitment["due_working_days"], policy))
    for record_id, penalty in records["penalties"].items():
        if base_status(penalty) == ACTIVE:
            pending.append(_deadline(state, PUBLICITY, record_id, publicity_end(penalty, policy)[0]))
    # R2: only the registers the policy names escalate (a 个体工商户's 经营异常状态 never does)
    escalates = category(state["subject"]) in policy.escalated_subjects
    for entry_id, entry in records["lists"].items():
        if base_status(entry) != ACTIVE:
            continue
        if entry.get("term_until"):
            pending.append(_deadline(state, LIST_TERM, entry_id, Due(date.fromisoformat(entry["term_until"]), False)))
        # the escalation's entry is the same authority's, so its key is this one's with the suffix. An entry a
        # publisher's own SERIOUS_DISHONESTY entry rests on has ended (R1: the fold replaces it), so it is not ACTIVE.
        if (entry["list_kind"] == "ABNORMAL_OPERATION" and escalates
                and not any(entry_id + ESCALATED_SUFFIX in records[c] for c in COLLECTIONS)):
            pending.append(_deadline(state, ESCALATION, entry_id, _last_day_before(
                entry["occurred_on"], policy.abnormal_operation_escalation_months)))
        if entry["list_kind"] == "RED_LIST":  # R3: ended as soon as a record that blocks it arrives
            blockers = red_list_blockers(records, entry["occurred_on"], policy)
            if blockers:
                arrived = max(recorded_day_of(blockers[0][2]), recorded_day_of(entry))
                pending.append(_deadline(state, RED_LIST_END, entry_id,
                                         Due(date.fromisoformat(arrived) - timedelta(days=1), False)))
    for rating_id, rating in records["ratings"].items():  # R4: a rating counts until its valid_to
        if base_status(rating) == ACTIVE and rating.get("valid_to"):
            pending.append(_deadline(state, RATING, rating_id, Due(date.fromisoformat(rating["valid_to"]), False)))
    # R13: an objection or a repair is accepted (受理) first, then decided, each step in its own period; the
    # decision's runs from the day of acceptance. One decided without an acceptance (allowed: older logs have
    # none) simply ends both.
    for table, filed, steps in (("objections", "filed_on", ((OBJECTION_ACCEPTANCE, policy.objection_acceptance_working_days),
                                                            (OBJECTION, policy.objection_decision_working_days))),
                                ("repairs", "requested_on", ((REPAIR_ACCEPTANCE, policy.repair_acceptance_working_days),
                                                             (REPAIR, policy.repair_decision_working_days)))):
        (accept_kind, accept_days), (decide_kind, decide_days) = steps
        for item_key, item in state[table].items():
            if item["status"] != PENDING:
                continue
            accepted_on = item.get("accepted_on")
            if accepted_on is None and not item.get("acceptance_overdue") and not item["overdue"]:
                pending.append(_working(state, accept_kind, item_key, item[filed], accept_days, policy))
            if accepted_on is not None and not item["overdue"]:
                pending.append(_working(state, decide_kind, item_key, accepted_on, decide_days, policy))
    return sorted(pending)


def due_by(deadlines: list[Deadline], moment: datetime) -> list[Deadline]:
    """The deadlines that have fallen due at `moment` (an aware datetime)."""
    return [d for d in deadlines if datetime.fromisoformat(d.fires_at) <= moment]


def recorded_day_of(record: dict) -> str:
    """The day (Asia/Shanghai) the ledger recorded the event that made a record."""
    return recorded_day({"recorded_at": record["recorded_at"]})


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def system_event(state: State, deadline: Deadline, recorded_at: str, policy: Policy) -> dict:
    """The event (JSON form) a deadline produces when it fires at `recorded_at`.

    `deadline.ref` is the key of what fell due in its table (records.key: the authority's code and the
    id); the event names it by its id, under the source of the authority it belongs to, so the fold
    finds it as that authority's own."""
    ref, due_on = deadline.ref, deadline.due_on
    if deadline.kind == DISCLOSURE:
        decision = state["decisions"][ref]
        event_type, source = "DisclosureOverdue", decision["source"]
        payload = {"decision_no": decision["decision_no"], "decision_kind": decision["decision_kind"], "due_on": due_on}
    elif deadline.kind == COMMITMENT:
        commitment = state["records"]["commitments"][ref]
        event_type, source = "CommitmentOverdue", commitment["source"]
        payload = {"commitment_id": commitment["commitment_id"], "due_on": due_on}
    elif deadline.kind == PUBLICITY and ref in state["records"]["commitments"]:
        commitment = state["records"]["commitments"][ref]
        event_type, source = "PublicityEnded", commitment["source"]
        months = breach_months(commitment, policy)[1]
        payload = {"record_id": commitment["commitment_id"],
                   "reason": f"失信信息公示期届满：{'虚假承诺' if commitment.get('false_commitment') else '违背承诺'}"
                             f"最长 {months} 个月"}
    elif deadline.kind == PUBLICITY:
        penalty = state["records"]["penalties"][ref]
        event_type, source = "PublicityEnded", penalty["source"]
        payload = {"record_id": penalty["record_id"], "reason": publicity_end(penalty, policy)[1]}
    elif deadline.kind == LIST_TERM:
        entry = state["records"]["lists"][ref]
        event_type, source = "ListTermEnded", entry["source"]
        payload = {"entry_id": entry["entry_id"]}
    elif deadline.kind in (OBJECTION, REPAIR, OBJECTION_ACCEPTANCE, REPAIR_ACCEPTANCE):
        table = "objections" if deadline.kind in (OBJECTION, OBJECTION_ACCEPTANCE) else "repairs"
        item = state[table][ref]
        # Under the authority of the record it is about, which has it to decide (or the credit office):
        # its filer may be the credit office, under whose code the fold would not find it.
        record = (state["records"][item.get("record_kind", "penalties")].get(key(key_authority(ref), item["record_id"]))
                  if state.get("scoped_ids") else None)
        event_type, source = "ProcessingOverdue", (record or item)["source"]
        payload = {"kind": deadline.kind, "ref_id": item["objection_id" if table == "objections" else "repair_id"],
                   "due_on": due_on}
    elif deadline.kind == RATING:
        rating = state["records"]["ratings"][ref]
        event_type, source = "RatingExpired", rating["source"]
        payload = {"rating_id": rating["rating_id"], "valid_to": due_on}
    elif deadline.kind == RED_LIST_END:
        entry = state["records"]["lists"][ref]
        event_type, source = "ListExited", entry["source"]
        blocker = red_list_blockers(state["records"], entry["occurred_on"], policy)[0]
        payload = {"entry_id": entry["entry_id"], "exit_reason": f"存在失信记录（{blocker_label(blocker)}），终止守信激励"}
    elif deadline.kind == ESCALATION:
        entry = state["records"]["lists"][ref]
        local = entry["entry_id"]
        event_type, source = "ListEntered", entry["source"]
        payload = {"entry_id": local + ESCALATED_SUFFIX, "list_kind": "SERIOUS_DISHONESTY",
                   "reason": f"列入经营异常名录（{local}）届满 {policy.abnormal_operation_escalation_months} 个月仍未移出",
                   "basis_record_id": local, "measures": list(policy.escalation_measures)}
        # R1: the escalated entry carries its term (lists.term_months_by_kind), so it ends in the log
        term_until = list_term_until("SERIOUS_DISHONESTY", _next_day(due_on), policy)
        if term_until is not None:
            payload["term_until"] = term_until
    else:
        raise ValueError(f"unknown deadline kind {deadline.kind}")
    occurred_on = _next_day(due_on)
    return {"event_id": deadline.event_id(), "type": event_type,
            "subject": {"id": state["subject"]["id"], "kind": state["subject"]["kind"]},
            "source": {"authority_code": source["authority_code"], "authority_name": source["authority_name"],
                       "system": TIMER_SYSTEM},
            "occurred_on": occurred_on, "recorded_at": recorded_at,
            "classification": EVENT_TYPES[event_type].default_classification, "payload": payload}
