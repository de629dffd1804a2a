"""The records of a credit file and the rules over them: one check and one effect per event type.

A check reads the state and returns every Problem it finds; an effect writes through a
`Draft` (copy on write), so a rejected event never touches the state and an applied one
copies only the containers on the paths it changes. All state is plain data: dicts,
lists, str, int, bool, None; dates are ISO strings, which compare like dates.

Records are identified per issuing authority (DESIGN "Who may act on a record"): every table below
is keyed `key(authority code, id)`, "<authority code>/<id>", so that no authority can occupy another's
record ids or decision numbers. An event names a record by its id alone: it means its own authority's
record of that id if there is one, else the one record of another authority with that id (`_resolve`;
several: ambiguous_record). Who may then act on it: `_authority_problems` (not_record_authority).
A state stored before the keys were scoped (no "scoped_ids") is rekeyed by `scope_ids`.

State shape (see fold.new_state):
  records: {permits|penalties|commitments|lists|ratings: {key: record}}
      each record: its event's payload fields, status, occurred_on, classification,
      source, event_id, offset, recorded_at, history (bounded: what happened, when, by which event)
      objectable records (permits, penalties, commitments, lists, ratings) also carry pending_objection
      and status_before_objection (the status the record returns to when the objection ends)
  objections / repairs: {key(the record's issuing authority, id): {..., status PENDING or the outcome, overdue}}
  decisions: {key(authority, decision_no): {decision_kind, registered, decided_on, arrived, record_id, ...}}
  grants: {key(the credit office that wrote it, grant_id): {grantee, scope, valid_until, revoked, ...}}
  inspections: {key(authority, inspection_id): {outcome, inspectors, findings, occurred_on, ...}} (issue 29 R9;
      absent from a state stored before the first one)
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial

from projections.canonical import SHANGHAI
from projections.catalogue import SELF_FILED_TYPES, SYSTEM_TYPES
from projections.pseudonym import PSEUDONYM_PREFIX
from projections.policy import (ACTIONS_ON_A_RECORD, Policy, admits, breach_period, implemented_measures,
                                list_term_until, nothing_to_fulfil, red_list_blockers, repairable_from)
from projections.measures import DEFAULT_MEASURES, MEASURES
from projections.state_types import State
from projections.subject_kinds import CATEGORY_LABELS_ZH, category
from projections.validate import TIMER_SYSTEM, Problem

# --- statuses ---------------------------------------------------------------------------------
ACTIVE, UNDER_OBJECTION, REVOKED, RETRACTED = "ACTIVE", "UNDER_OBJECTION", "REVOKED", "RETRACTED"
REPAIRED, PUBLICITY_ENDED = "REPAIRED", "PUBLICITY_ENDED"  # penalties
OPEN, FULFILLED, BREACHED, OVERDUE = "OPEN", "FULFILLED", "BREACHED", "OVERDUE"  # commitments
EXITED, TERM_ENDED = "EXITED", "TERM_ENDED"  # list entries
SUPERSEDED, EXPIRED = "SUPERSEDED", "EXPIRED"  # ratings
PENDING = "PENDING"  # objections and repairs; once decided they carry the outcome instead

COLLECTIONS = ("permits", "penalties", "commitments", "lists", "ratings")
OBJECTABLE = ("permits", "penalties", "commitments", "lists", "ratings")  # an objection may name these
REPAIRABLE = ("penalties", "commitments")  # a repair may name these (a commitment: its breach, issue 29 R5)
NOUN = {"permits": "permit", "penalties": "penalty", "commitments": "commitment", "lists": "list entry",
        "ratings": "rating"}
ID_FIELD = {"permits": "record_id", "penalties": "record_id", "commitments": "commitment_id", "lists": "entry_id",
            "ratings": "rating_id"}  # the payload field that holds a record's own id
HISTORY_PER_RECORD_MAX = 32  # newest kept; the ledger itself keeps everything

# Types a deregistered subject can no longer take part in after its deregistration date: new
# business of its own. Sanctions, objections, repairs, revocations and system events go on.
# What the timers write (source.system TIMER_SYSTEM): the system types, and the escalation of an
# ABNORMAL_OPERATION entry to SERIOUS_DISHONESTY (projections/deadlines.py).
# and, beside a record that blocks it, the end of a RED_LIST entry (a ListExited, issue 29 R3).
TIMER_TYPES = SYSTEM_TYPES | {"ListEntered", "ListExited"}
NEW_BUSINESS_TYPES = frozenset(("SubjectRegistered", "PermitGranted", "CommitmentMade", "RatingAssigned",
                                "QueryAuthorized"))

# Every rule the fold enforces: rule id -> what it means. A Problem's `rule` is one of these keys.
RULES: dict[str, str] = {
    # envelope and subject
    "unknown_type": "the event type is not in the catalogue",
    "subject_full": "a subject holds at most EVENTS_PER_SUBJECT_MAX accepted events (the timers' events "
                    "TIMER_EVENTS_RESERVE more)",
    "authority_share": "one authority's events on a subject are at most the policy's "
                       "quotas.events_per_authority_per_subject (the timers' events apart): no authority can fill "
                       "a subject to lock the others out",
    "same_subject": "the event is about another subject than this state",
    "same_kind": "the event's subject kind differs from the subject's",
    "subject_deregistered": "after deregistration: no second deregistration, and no new business "
                            "(registration, permit and PERMIT decision, commitment, rating, query grant) dated later",
    "event_id_conflict": "the event id was taken by an applied event of other content (the same id with the same "
                         "content is a duplicate, ignored); the timers' events have ids of their own, apart",
    "erasure_natural_person": "PersonalInfoErased is about a natural person: only they have personal information sealed",
    "self_source": "an event whose source is a natural person (source.authority_code a pseudonym, np-...) that is "
                   "not one of SELF_FILED_TYPES on that person's own file: a person acts only as itself, on itself",
    "system_source": "a system type not written by the ledger's timers (source.system), or an event claiming the "
                     "timers' source that is of a type they never write",
    # who may act (DESIGN "Who may act on a record")
    "not_record_authority": "an event acting on an existing record (revoke, fulfil, breach, exit a list, file or "
                            "decide an objection or a repair) from an authority that neither issued the record nor "
                            "is named for that action by the policy (authorities.credit_office_acts_on), nor is the "
                            "subject itself filing its own objection or repair request (SELF_FILED_TYPES)",
    "not_credit_office": "a query authorisation written or revoked by an authority that is not the credit office "
                         "(policy authorities.credit_office), nor, for a grant, the subject itself (SELF_FILED_TYPES)",
    "grant_to_self": "a query authorisation naming as grantee the authority that writes it",
    "no_written_authorisation": "a query authorisation without the reference of the subject's written "
                                "authorisation (authorisation_ref)",
    # identity and references
    "duplicate_id": "an id the same authority already used: record ids (across permits, penalties, commitments, "
                    "list entries and ratings), a registered decision_no, grant_id, inspection_id; objection_id and "
                    "repair_id "
                    "among those on the records of the record's issuing authority",
    "ambiguous_record": "an id naming no record (objection, repair, grant) of the event's own authority, and "
                        "records of several others: which one is meant cannot be told",
    "unknown_record": "record_id / related_record_id / basis_record_id names no record of this subject",
    "unknown_commitment": "commitment_id names no commitment of this subject",
    "unknown_list_entry": "entry_id names no list entry of this subject",
    "unknown_objection": "objection_id (or ProcessingOverdue ref_id) names no objection",
    "unknown_repair": "repair_id (or ProcessingOverdue ref_id) names no repair application",
    "unknown_grant": "grant_id names no query authorisation",
    "unknown_decision": "DisclosureOverdue names no registered decision",
    "wrong_record_kind": "the record exists but is of another kind than the event acts on",
    "record_mismatch": "the record_id differs from the one the objection or repair was filed for",
    "grant_mismatch": "a revocation's grantee, scope or valid_until differ from the grant's",
    # decisions (双公示)
    "decision_kind_mismatch": "a permit for a PENALTY decision, a penalty for a PERMIT decision, or the reverse",
    "decision_arrived": "the decision's record has already arrived (a second record, or a stale DisclosureOverdue)",
    "historical_registered": "a historical import (payload.historical) of a decision this ledger registered: it "
                             "arrived after the ledger knew of it, so its timeliness is judged like any other's",
    "not_public": "a permit or a penalty not PUBLIC that names no legal exemption (exemption: 国家秘密, 商业秘密, "
                  "个人隐私; 双公示 应示尽示, policy disclosure.public_unless_exempt)",
    "restriction_without_kind": "a penalty with restriction_until that imposes none of the restrictions whose "
                                "publicity follows it (policy publicity.restriction_kinds)",
    "publicity_minimum": "a penalty whose publicity_until ends its display before its decision date, or (unless a "
                         "historical import) before its minimum publicity is over (policy publicity.min_months_*): "
                         "only a repair or a revocation ends it sooner",
    "exemption_basis": "an exemption without the text of its legal basis (exemption_basis), or named on a PUBLIC "
                       "record",
    # transitions
    "record_retracted": "the record was retracted (objection upheld, withdrawn): nothing can act on it",
    "record_revoked": "the penalty was revoked: it cannot be fulfilled, repaired or used as a listing basis",
    "already_revoked": "revoking a revoked permit, penalty or query grant",
    "already_fulfilled": "fulfilling a penalty twice",
    "already_repaired": "repairing a penalty that is already repaired",
    "already_overdue": "a second overdue notice for a decision, objection or repair already overdue",
    "commitment_not_open": "fulfilling, breaching or marking overdue a commitment that is not OPEN (but for an "
                           "in-time fulfilment reported after the overdue notice: fulfilled_after_due)",
    "fulfilled_after_due": "fulfilling an OVERDUE commitment on a day after its due date; one fulfilled by then "
                           "(occurred_on <= due_on) is accepted however late it is reported, and withdraws the "
                           "overdue notice",
    "nothing_to_repair": "a repair of a commitment that is not breached or overdue",
    "entry_not_active": "exiting or ending the term of a list entry that is not ACTIVE",
    "no_term": "ListTermEnded for an entry that has no term_until",
    "rating_not_current": "RatingExpired for a rating that is not current (superseded, expired), or before its "
                          "valid_to has passed",
    "subject_not_admitted": "a list entry for a subject the list kind does not admit (lists.admitted_subjects, by "
                            "register from the USCC: 经营异常名录 takes enterprises, 农民专业合作社 and, as "
                            "经营异常状态, 个体工商户; never a natural person, 机关, 事业单位 or 社会组织)",
    "red_list_blocked": "a RED_LIST entry while the subject has an active entry on a list of "
                        "lists.red_list_blocked_by or a SEVERE penalty on display decided within "
                        "lists.red_list_severe_penalty_months (36); the timers' ListExited ends a red entry only "
                        "beside such a record",
    "unknown_measure": "a list entry naming a measure code the catalogue of joint measures lacks "
                       "(projections/measures.yaml); an entry naming none takes its list kind's defaults",
    "entry_not_in_force": "feedback on a joint measure (MeasureApplied, MeasureDeclined) of a list entry that is not "
                          "ACTIVE, or whose term ended before the day the measure was decided (occurred_on)",
    "measure_not_on_entry": "feedback on a measure the list entry does not carry (its measures, or its kind's defaults)",
    "not_measure_implementer": "feedback on a joint measure from an authority whose register entry (policy "
                               "authorities.register, measures) does not name that measure: only the implementing "
                               "department reports what it did with it (联合奖惩 反馈)",
    "term_beyond_policy": "a list entry whose term_until lies beyond the term the policy sets for its kind "
                          "(lists.term_months_by_kind: 严重违法失信名单 36 months)",
    "not_on_display": "PublicityEnded or a repair for a penalty no longer on public display "
                      "(publicity ended, repaired, revoked)",
    "objection_pending": "an objection is pending on the record: no second one, no repair approval meanwhile",
    "objection_not_pending": "resolving (or marking overdue) an objection that is already resolved",
    "repair_pending": "a second repair application for a penalty while one is pending",
    "repair_not_pending": "deciding (or marking overdue) a repair that is already decided",
    "already_accepted": "accepting (受理) an objection or a repair twice, or marking its acceptance overdue once "
                        "accepted (issue 29 R13: working_days.objection_acceptance, repair_acceptance)",
    # credit repair (信用修复)
    "not_fulfilled": "a repair requested or approved before the penalty is fulfilled; a penalty that leaves "
                     "nothing to fulfil (publicity.nothing_to_fulfil_kinds: 警告, 通报批评) needs no PenaltyFulfilled",
    "min_publicity_not_reached": "a repair requested or approved before the minimum publicity period has passed",
}


def problem(field: str, rule: str, message: str) -> Problem:
    assert rule in RULES, rule  # every rule id is documented in RULES
    return Problem(field, rule, message)


# --- copy on write ----------------------------------------------------------------------------
class Draft:
    """A new state sharing everything with the old one but the dicts written through `at`.

    `handed_over`: the caller gives the old state up and never reads it again (a replay folding
    from nothing), so its tables are written in place; the records in them are still copied before
    a write, as they may share values with the events that made them."""

    __slots__ = ("state", "_owned")

    def __init__(self, state: State, handed_over: bool = False):
        self.state = dict(state)
        self._owned = {id(self.state): self.state}  # keeps copies alive, so ids stay unique
        if handed_over:  # the tables grow with the file (a permit, a decision each): copied, n events cost n^2
            records = state["records"]
            for table in (records, *records.values(), state["decisions"], state["objections"], state["repairs"],
                          state["grants"], state["counts"], state["subject"]):
                self._owned[id(table)] = table

    def at(self, *path: str) -> dict:
        """The dict at `path`, copied (with its parents) the first time this event writes it."""
        node = self.state
        for key in path:
            child = node[key]
            if id(child) not in self._owned:
                child = dict(child)
                node[key] = child
                self._owned[id(child)] = child
            node = child
        return node


# --- keys: records are identified per issuing authority -------------------------------------------
def key(authority_code: str, local_id: str) -> str:
    """The table key of an authority's record (decision, objection, repair, grant) `local_id`."""
    return f"{authority_code}/{local_id}"


def key_authority(table_key: str) -> str:
    """The authority a key belongs to (a unified social credit code holds no "/", an id may)."""
    return table_key.partition("/")[0]


def own_key(state: State, authority_code: str, local_id: str) -> str:
    """The key of `authority_code`'s `local_id` in this state, stored before the keys were scoped or after."""
    return key(authority_code, local_id) if state.get("scoped_ids") else local_id


def scope_ids(state: State) -> dict:
    """A state stored before records were identified per authority, with its tables keyed as they are
    now. Until then an id was unique in a credit file, so each table entry keeps its place: a record
    under its source's authority, an objection or repair under the authority of the record it is about,
    a decision under the authority it was known as, a grant under its writer."""
    records = state["records"]

    def issuer(item: dict, collection: str) -> str:
        record = records[collection].get(item["record_id"])
        return (record or item)["source"]["authority_code"]
    return {
        **state,
        "records": {collection: {key(r["source"]["authority_code"], local): r for local, r in table.items()}
                    for collection, table in records.items()},
        "objections": {key(issuer(o, o["record_kind"]), local): o for local, o in state["objections"].items()},
        "repairs": {key(issuer(r, "penalties"), local): r for local, r in state["repairs"].items()},
        "decisions": {key(d["authority_code"], no): d for no, d in state["decisions"].items()},
        "grants": {key(g["source"]["authority_code"], local): g for local, g in state["grants"].items()},
        "scoped_ids": True,
    }


# --- reading helpers --------------------------------------------------------------------------
def find_record(state: State, record_key: str) -> tuple[str | None, dict | None]:
    """The collection and record under this key; an authority's record ids are unique across collections."""
    for collection in COLLECTIONS:
        record = state["records"][collection].get(record_key)
        if record is not None:
            return collection, record
    return None, None


def base_status(record: dict) -> str:
    """The status beneath a pending objection (the one the record returns to)."""
    return record["status_before_objection"] if record.get("pending_objection") else record["status"]


def _named(tables: dict[str, dict], event: dict, local_id: str, fits=None) -> list[tuple[str, str]]:
    """(table name, key) of what an event names by `local_id` in `tables`: its own authority's if it has
    one, else every other authority's (several: the event is ambiguous). `fits` narrows the others (an
    objection about the record the event names), and keeps its own only if it fits."""
    own = key(event["source"]["authority_code"], local_id)
    mine = [(name, own) for name, table in tables.items() if own in table]
    if mine and (fits is None or fits(tables[mine[0][0]][own])):
        return mine
    found = [(name, k) for name, table in tables.items() for k in table if k.partition("/")[2] == local_id]
    if fits is not None:
        return [(name, k) for name, k in found if fits(tables[name][k])] or found
    return found


def _one(table: dict, event: dict, local_id: str, field: str, unknown: str, noun: str, problems: list[Problem],
         fits=None) -> str | None:
    """The key of the one objection, repair or grant an event names, or None with the problem why not."""
    found = _named({"": table}, event, local_id, fits)
    if not found:
        problems.append(problem(field, unknown, f"no {noun} {local_id}"))
        return None
    if len(found) > 1:
        problems.append(_ambiguous(field, local_id, [k for _, k in found]))
        return None
    return found[0][1]


def _ambiguous(field: str, local_id: str, keys: list[str]) -> Problem:
    return problem(field, "ambiguous_record", f"{local_id} names no record of this authority, and records of "
                                              f"{', '.join(sorted(key_authority(k) for k in keys))}")


def _target(state: State, event: dict, record_id: str, field: str, kinds: tuple[str, ...], problems: list[Problem],
            live: bool = True) -> tuple[str, str, dict] | None:
    """The record an event names by `record_id`, as (collection, key, record), or None with the problem why not."""
    records = state["records"]
    found = _named(records, event, record_id)
    wanted = " or ".join(NOUN[k] for k in kinds)
    if not found:
        rule = {("commitments",): "unknown_commitment", ("lists",): "unknown_list_entry"}.get(kinds, "unknown_record")
        problems.append(problem(field, rule, f"no {wanted} {record_id!r} in this credit file"))
        return None
    of_kind = [(collection, k) for collection, k in found if collection in kinds]
    if not of_kind:
        problems.append(problem(field, "wrong_record_kind", f"{record_id} is a {NOUN[found[0][0]]}, not a {wanted}"))
        return None
    if len(of_kind) > 1:
        problems.append(_ambiguous(field, record_id, [k for _, k in of_kind]))
        return None
    collection, record_key = of_kind[0]
    record = records[collection][record_key]
    if live and record["status"] == RETRACTED:
        problems.append(problem(field, "record_retracted", f"{NOUN[collection]} {record_id} was retracted"))
        return None
    return collection, record_key, record


def _authority_problems(event: dict, owner: str, field: str, policy: Policy) -> list[Problem]:
    """Why the event's authority may not act on a record (objection, repair) of authority `owner`.

    Only the issuing authority acts on its records, or the credit office where the policy names the
    action. Who files an objection or a repair request (seeds 004 §67 §71, 000 §56): the subject, who
    has no publisher of its own, applies to the authority that issued the record (each 行业主管部门
    handles the objections and the repair of its own information, 按照职责分工) or to the credit office's
    platform (信用网站, 异议受理; "异议数据谁来办" is the credit office's to organise, 003 §4(1)). Either
    writes the event; another department has neither the duty nor the file, and is refused. System types
    act for the record's authority: the timers write them under its source."""
    actor = event["source"]["authority_code"]
    if actor == owner or event["type"] not in ACTIONS_ON_A_RECORD:
        return []
    if actor == event["subject"]["id"] and event["type"] in SELF_FILED_TYPES:
        return []  # the subject files its own objection or repair request (SELF_FILED_TYPES)
    if actor in policy.credit_office and event["type"] in policy.credit_office_acts_on:
        return []
    return [problem(field, "not_record_authority",
                    f"the record is {owner}'s; {actor} may not write {event['type']} on it (only the issuing "
                    f"authority{', or the credit office' if event['type'] in policy.credit_office_acts_on else ''})")]


def _new_id(state: State, event: dict, record_id: str, field: str, problems: list[Problem]) -> None:
    collection, _ = find_record(state, key(event["source"]["authority_code"], record_id))
    if collection is not None:
        problems.append(problem(field, "duplicate_id", f"{record_id} is already a {NOUN[collection]} "
                                                       f"of this authority on this subject"))


def _acted_on(state: State, event: dict, record_id: str, field: str, kinds: tuple[str, ...], problems: list[Problem],
             policy: Policy, live: bool = True) -> tuple[str, str, dict] | None:
    """The record an event acts on, as _target finds it, if its authority may act on it; else None with
    the problem why not."""
    found = _target(state, event, record_id, field, kinds, problems, live)
    if found is None:
        return None
    refused = _authority_problems(event, key_authority(found[1]), field, policy)
    problems += refused
    return None if refused else found


def _own(event: dict, local_id: str) -> str:
    """The key of the event's own authority's `local_id`: where a new record goes."""
    return key(event["source"]["authority_code"], local_id)


def _at(draft: Draft, event: dict, record_id: str, kinds: tuple[str, ...]) -> str:
    """The key of the record of `kinds` a checked event names (found as its check found it)."""
    found = _target(draft.state, event, record_id, "", kinds, [], live=False)
    assert found is not None, record_id
    return found[1]


def _source_problems(event: dict) -> list[Problem]:
    """System types come from the ledger's timers only, and the timers write nothing else but the
    escalation of an ABNORMAL_OPERATION entry (a ListEntered). A natural person (its pseudonym as the
    source) files only SELF_FILED_TYPES on its own file (self_source)."""
    by_timers = event["source"].get("system") == TIMER_SYSTEM
    if event["type"] in SYSTEM_TYPES and not by_timers:
        return [problem("source.system", "system_source", f"{event['type']} is written only by the ledger's timers")]
    if by_timers and event["type"] not in TIMER_TYPES:
        return [problem("source.system", "system_source", f"the timers never write {event['type']}")]
    actor = event["source"]["authority_code"]
    if actor.startswith(PSEUDONYM_PREFIX) and (actor != event["subject"]["id"] or event["type"] not in SELF_FILED_TYPES):
        return [problem("source.authority_code", "self_source", f"a natural person files only "
                                                                f"{', '.join(SELF_FILED_TYPES)}, on its own file")]
    return []


# --- writing helpers --------------------------------------------------------------------------
def _plain(payload: dict) -> dict:
    # Lists copied so the state never shares a mutable value with the caller's event.
    return {k: list(v) if isinstance(v, list) else v for k, v in payload.items()}


def _provenance(event: dict, offset: int) -> dict:
    return {"occurred_on": event["occurred_on"], "classification": event["classification"],
            "source": dict(event["source"]), "event_id": event["event_id"], "offset": offset,
            "recorded_at": event["recorded_at"]}


def _record(event: dict, offset: int, status: str, objectable: bool = True, **fields) -> dict:
    record = {**_plain(event["payload"]), **_provenance(event, offset), "status": status, "history": [], **fields}
    if objectable:
        record.update(pending_objection=None, status_before_objection=None)
    return record


def _log(record: dict, event: dict, offset: int, **details) -> None:
    entry = {"event": event["type"], "occurred_on": event["occurred_on"], "event_id": event["event_id"],
             "offset": offset, **details}
    record["history"] = [*record["history"][-(HISTORY_PER_RECORD_MAX - 1):], entry]


def _set_status(record: dict, status: str) -> None:
    # Under objection the record keeps showing 异议中; the change lands beneath, where
    # the objection's end returns it to.
    if record.get("pending_objection"):
        record["status_before_objection"] = status
    else:
        record["status"] = status


def _edit(draft: Draft, event: dict, collection: str, record_key: str, offset: int, **details) -> dict:
    record = draft.at("records", collection, record_key)
    _log(record, event, offset, **details)
    return record


# --- subject ----------------------------------------------------------------------------------
def _apply_subject_registered(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload = event["payload"]
    draft.at("subject").update({k: payload[k] for k in ("region_code", "industry_code", "registered_on")
                                if k in payload})


def legal_representative(history: list[dict]) -> str | None:
    """The legal representative named by the latest SubjectRegistered of a subject's history entries
    ({offset, event}): the file does not keep it."""
    found = None
    for entry in history:
        event = entry.get("event") or {}
        if event.get("type") == "SubjectRegistered":
            found = (event.get("payload") or {}).get("legal_representative") or found
    return found


def _apply_subject_deregistered(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    draft.at("subject")["deregistered_on"] = event["occurred_on"]


def deregistration_problems(state: State, event: dict) -> list[Problem]:
    gone_on = state["subject"].get("deregistered_on")
    if gone_on is None:
        return []
    if event["type"] == "SubjectDeregistered":
        return [problem("type", "subject_deregistered", f"the subject was already deregistered on {gone_on}")]
    new_business = event["type"] in NEW_BUSINESS_TYPES or (
        event["type"] == "DecisionRegistered" and event["payload"]["decision_kind"] == "PERMIT")
    if new_business and event["occurred_on"] > gone_on:
        return [problem("occurred_on", "subject_deregistered",
                        f"the subject was deregistered on {gone_on}; no {event['type']} after that")]
    return []


# --- decisions (双公示) -------------------------------------------------------------------------
def _disclosure_due(decided_on: str, policy: Policy) -> tuple[str, bool]:
    due = policy.calendar.add_working_days(date.fromisoformat(decided_on), policy.disclosure_working_days)
    return due.due_on.isoformat(), due.provisional


def _judge_timeliness(draft: Draft, no: str, policy: Policy) -> None:
    """Set the decision's due date and, once its record is here, whether it came late (迟报).

    `no` is the decision's key. The period runs from the registered decision date, else from the
    record's own occurred_on (its decision date); arrival is the day the ledger recorded the record."""
    decision = draft.at("decisions", no)
    decided_on = decision["decided_on"] or decision["record_decided_on"]
    if decided_on is None:
        return
    decision["due_on"], decision["due_provisional"] = _disclosure_due(decided_on, policy)
    if decision["arrived"]:
        # R10: a historical import's record is not judged (None): it is counted apart
        decision["late"] = None if decision.get("historical") else decision["arrived_on"] > decision["due_on"]
        collection = "permits" if decision["decision_kind"] == "PERMIT" else "penalties"
        draft.at("records", collection, key(key_authority(no), decision["record_id"])).update(
            disclosure_due_on=decision["due_on"], late=decision["late"])


def _decision_key(event: dict) -> str:
    """Decision numbers are the authority's own: its events name its decisions only."""
    return key(event["source"]["authority_code"], event["payload"]["decision_no"])


def _check_decision_registered(state: State, event: dict, policy: Policy) -> list[Problem]:
    payload, problems = event["payload"], []
    known = state["decisions"].get(_decision_key(event))
    if known is not None and known["registered"]:
        problems.append(problem("payload.decision_no", "duplicate_id", f"decision {payload['decision_no']} is already registered"))
    elif known is not None and known["decision_kind"] != payload["decision_kind"]:
        problems.append(problem("payload.decision_kind", "decision_kind_mismatch",
                                f"{payload['decision_no']} arrived as a {known['decision_kind']} record"))
    return problems


def _apply_decision_registered(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload, decisions = event["payload"], draft.at("decisions")
    no = _decision_key(event)
    decision = dict(decisions.get(no) or _decision(payload["decision_no"], payload["decision_kind"], event, offset))
    decision.update(registered=True, decided_on=event["occurred_on"], authority_code=event["source"]["authority_code"],
                    source=dict(event["source"]), registered_event_id=event["event_id"])
    decisions[no] = decision
    _judge_timeliness(draft, no, policy)


def _decision(no: str, kind: str, event: dict, offset: int) -> dict:
    return {"decision_no": no, "decision_kind": kind, "registered": False, "decided_on": None,
            "authority_code": event["source"]["authority_code"], "source": dict(event["source"]),
            "registered_event_id": None, "offset": offset, "arrived": False, "record_id": None,
            "record_decided_on": None, "arrived_on": None, "due_on": None, "due_provisional": None, "late": None,
            "overdue": False}


def recorded_day(event: dict) -> str:
    """The day (Asia/Shanghai) the ledger recorded an event: when a record arrived."""
    recorded_at = event["recorded_at"]
    if recorded_at.endswith("+08:00"):  # the canonical form (canonical.instant_text): the date is its start
        return recorded_at[:10]
    return datetime.fromisoformat(recorded_at).astimezone(SHANGHAI).date().isoformat()


def _decision_problems(state: State, event: dict, kind: str) -> list[Problem]:
    no = event["payload"]["decision_no"]
    known = state["decisions"].get(_decision_key(event))
    if known is None:
        return []
    if known["registered"] and event["payload"].get("historical") is True:
        return [problem("payload.historical", "historical_registered",
                        f"{no} was registered on {known['decided_on']}: not a historical record")]
    if known["arrived"]:
        return [problem("payload.decision_no", "decision_arrived", f"{no} already arrived as record {known['record_id']}")]
    if known["decision_kind"] != kind:
        return [problem("payload.decision_no", "decision_kind_mismatch", f"{no} is a {known['decision_kind']} decision")]
    return []


def _mark_arrived(draft: Draft, event: dict, offset: int, kind: str, policy: Policy) -> None:
    no, decisions = _decision_key(event), draft.at("decisions")
    # A record may arrive with no registered decision: it is known from now on, so a later
    # registration or a second record with the same number can be recognised.
    decision = dict(decisions.get(no) or _decision(event["payload"]["decision_no"], kind, event, offset))
    decision.update(arrived=True, record_id=event["payload"]["record_id"], arrived_on=recorded_day(event),
                    record_decided_on=event["occurred_on"], historical=event["payload"].get("historical") is True)
    decisions[no] = decision
    _judge_timeliness(draft, no, policy)
    if decision["overdue"] and draft.state["decisions"][no]["late"] is False:
        # Recorded in time but folded after the timer fired (it was in flight at 24:00): not 漏报 after all.
        draft.at("decisions", no).update(overdue=False, overdue_withdrawn_by=event["event_id"])


def _check_disclosure_overdue(state: State, event: dict, policy: Policy) -> list[Problem]:
    no = event["payload"]["decision_no"]
    known = state["decisions"].get(_decision_key(event))  # the timers write it under the decision's authority
    if known is None or not known["registered"]:
        return [problem("payload.decision_no", "unknown_decision", f"no registered decision {no}")]
    if known["decision_kind"] != event["payload"]["decision_kind"]:
        return [problem("payload.decision_kind", "decision_kind_mismatch", f"{no} is a {known['decision_kind']} decision")]
    if known["arrived"]:
        return [problem("payload.decision_no", "decision_arrived", f"{no} arrived on {known['arrived_on']}")]
    if known["overdue"]:
        return [problem("payload.decision_no", "already_overdue", f"{no} is already overdue")]
    return []


def _apply_disclosure_overdue(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    decision = draft.at("decisions", _decision_key(event))
    decision.update(overdue=True, due_on=event["payload"]["due_on"], overdue_event_id=event["event_id"])


# --- permits and penalties --------------------------------------------------------------------
def _disclosure_problems(event: dict, policy: Policy) -> list[Problem]:
    """R8: a permit or a penalty is PUBLIC unless it names a legal exemption, with its basis."""
    payload, classification = event["payload"], event["classification"]
    if not policy.public_unless_exempt:
        return []
    if "exemption" not in payload:
        if classification != "PUBLIC":
            return [problem("classification", "not_public", f"a {event['type']} is PUBLIC unless it names its legal "
                                                            f"exemption (exemption, exemption_basis)")]
        return []
    if classification == "PUBLIC":
        return [problem("payload.exemption", "exemption_basis", "an exempt record is not PUBLIC")]
    if not payload.get("exemption_basis"):
        return [problem("payload.exemption_basis", "exemption_basis", f"{payload['exemption']} needs its legal basis")]
    return []


def _check_permit_granted(state: State, event: dict, policy: Policy) -> list[Problem]:
    problems: list[Problem] = _disclosure_problems(event, policy)
    _new_id(state, event, event["payload"]["record_id"], "payload.record_id", problems)
    return problems + _decision_problems(state, event, "PERMIT")


def _apply_permit_granted(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    draft.at("records", "permits")[_own(event, event["payload"]["record_id"])] = _record(event, offset, ACTIVE)
    _mark_arrived(draft, event, offset, "PERMIT", policy)


def _check_penalty_imposed(state: State, event: dict, policy: Policy) -> list[Problem]:
    problems: list[Problem] = _disclosure_problems(event, policy)
    payload = event["payload"]
    if "restriction_until" in payload and not set(payload["penalty_kinds"]) & policy.restriction_kinds:
        problems.append(problem("payload.restriction_until", "restriction_without_kind",
                                f"none of {', '.join(payload['penalty_kinds'])} restricts anything "
                                f"({policy.version} policy: {', '.join(sorted(policy.restriction_kinds))})"))
    problems += _publicity_until_problems(event, policy)
    _new_id(state, event, event["payload"]["record_id"], "payload.record_id", problems)
    return problems + _decision_problems(state, event, "PENALTY")


def _publicity_until_problems(event: dict, policy: Policy) -> list[Problem]:
    """The authority's publicity_until ends the display no sooner than the penalty's minimum publicity (its last
    day: the day before repairable_from), and never before the decision; a historical import, decided under
    earlier rules, only the latter."""
    payload, decided_on = event["payload"], event["occurred_on"]
    until = payload.get("publicity_until")
    if until is None:
        return []
    if until < decided_on:
        return [problem("payload.publicity_until", "publicity_minimum",
                        f"{until} is before the decision ({decided_on})")]
    penalty = {**payload, "occurred_on": decided_on, "subject_kind": event["subject"]["kind"]}
    last_minimum_day = (date.fromisoformat(repairable_from(penalty, policy)) - timedelta(days=1)).isoformat()
    if until < last_minimum_day and payload.get("historical") is not True:
        return [problem("payload.publicity_until", "publicity_minimum",
                        f"{until} ends the display before its minimum publicity is over ({last_minimum_day}, "
                        f"{policy.version} policy); only a repair or a revocation ends it sooner")]
    return []


def _apply_penalty_imposed(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    # the subject's kind is kept with the penalty: its small-fine limit depends on it (R11)
    record = _record(event, offset, ACTIVE, fulfilled=False, fulfilled_on=None, pending_repair=None,
                     subject_kind=event["subject"]["kind"])
    draft.at("records", "penalties")[_own(event, event["payload"]["record_id"])] = record
    _mark_arrived(draft, event, offset, "PENALTY", policy)


def _check_revoked(collection: str, state: State, event: dict, policy: Policy) -> list[Problem]:
    """PermitRevoked and PenaltyRevoked (bound to their collection in HANDLERS)."""
    problems: list[Problem] = []
    found = _acted_on(state, event, event["payload"]["record_id"], "payload.record_id", (collection,), problems,
                       policy)
    record = found[2] if found is not None else None
    if record is not None and base_status(record) == REVOKED:
        problems.append(problem("payload.record_id", "already_revoked", f"revoked on {record['revoked_on']}"))
    return problems


def _apply_revoked(collection: str, draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    reason = event["payload"]["reason"]
    record = _edit(draft, event, collection, _at(draft, event, event["payload"]["record_id"], (collection,)),
                   offset, reason=reason)
    _set_status(record, REVOKED)
    record.update(revoked_on=event["occurred_on"], revocation_reason=reason)


def _check_penalty_fulfilled(state: State, event: dict, policy: Policy) -> list[Problem]:
    problems: list[Problem] = []
    found = _acted_on(state, event, event["payload"]["record_id"], "payload.record_id", ("penalties",), problems,
                       policy)
    record = found[2] if found is not None else None
    if record is not None and record["fulfilled"]:
        problems.append(problem("payload.record_id", "already_fulfilled", f"fulfilled on {record['fulfilled_on']}"))
    if record is not None and base_status(record) == REVOKED:
        problems.append(problem("payload.record_id", "record_revoked", "a revoked penalty has nothing to fulfil"))
    return problems


def _apply_penalty_fulfilled(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    record = _edit(draft, event, "penalties", _at(draft, event, event["payload"]["record_id"], ("penalties",)), offset)
    record.update(fulfilled=True, fulfilled_on=event["occurred_on"])


def _check_publicity_ended(state: State, event: dict, policy: Policy) -> list[Problem]:
    problems: list[Problem] = []
    found = _acted_on(state, event, event["payload"]["record_id"], "payload.record_id", ("penalties", "commitments"),
                      problems, policy)
    record = found[2] if found is not None else None
    if record is not None and found[0] == "commitments":  # R5: a breach's period of effect ends
        if base_status(record) not in (BREACHED, OVERDUE):
            problems.append(problem("payload.record_id", "not_on_display", f"the commitment is {base_status(record)}"))
    elif record is not None and base_status(record) != ACTIVE:
        problems.append(problem("payload.record_id", "not_on_display", f"the penalty is {base_status(record)}"))
    return problems


def _apply_publicity_ended(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    reason = event["payload"]["reason"]
    record_key = _at(draft, event, event["payload"]["record_id"], ("penalties", "commitments"))
    collection = "penalties" if record_key in draft.state["records"]["penalties"] else "commitments"
    record = _edit(draft, event, collection, record_key, offset, reason=reason)
    _set_status(record, PUBLICITY_ENDED)
    record.update(publicity_ended_on=event["occurred_on"], publicity_end_reason=reason)


# --- credit repair (信用修复) -------------------------------------------------------------------
def _repairable_problems(penalty: dict, on: str, policy: Policy, collection: str = "penalties") -> list[Problem]:
    """Why the penalty (or a commitment's breach) cannot be repaired on `on` (the request's or the approval's
    occurred_on)."""
    if collection == "commitments":
        return _breach_repairable_problems(penalty, on, policy)
    field, status = "payload.record_id", base_status(penalty)
    if status == REVOKED:
        return [problem(field, "record_revoked", "a revoked penalty has nothing to repair")]
    if status == REPAIRED:
        return [problem(field, "already_repaired", f"repaired on {penalty['repaired_on']}")]
    if status == PUBLICITY_ENDED:
        return [problem(field, "not_on_display", "its publicity has ended: there is nothing left to repair")]
    problems = []
    if not penalty["fulfilled"] and not nothing_to_fulfil(penalty, policy):  # R12: a warning has nothing to fulfil
        problems.append(problem(field, "not_fulfilled", "a penalty can be repaired only once it is fulfilled"))
    first_day = repairable_from(penalty, policy)
    if on < first_day:
        problems.append(problem("occurred_on", "min_publicity_not_reached",
                                f"the minimum publicity of the penalty of {penalty['occurred_on']} runs until "
                                f"{first_day} ({policy.version} policy); {on} is too early"))
    return problems


def _breach_repairable_problems(commitment: dict, on: str, policy: Policy) -> list[Problem]:
    """Why a commitment's breach cannot be repaired on `on` (R5): it must be breached or overdue, and still in
    its period of effect past the minimum (publicity.commitment_breach_*, false_commitment_*)."""
    field, status = "payload.record_id", base_status(commitment)
    if status == REPAIRED:
        return [problem(field, "already_repaired", f"repaired on {commitment['repaired_on']}")]
    if status == PUBLICITY_ENDED:
        return [problem(field, "not_on_display", "its period of effect has ended: there is nothing left to repair")]
    if status not in (BREACHED, OVERDUE):
        return [problem(field, "nothing_to_repair", f"the commitment is {status}, not breached")]
    first_day = breach_period(commitment, policy)[0]
    if on < first_day:
        return [problem("occurred_on", "min_publicity_not_reached",
                        f"the breach of {commitment['ended_on']} is repairable from {first_day} "
                        f"({policy.version} policy); {on} is too early")]
    return []


def _check_repair_requested(state: State, event: dict, policy: Policy) -> list[Problem]:
    payload, problems = event["payload"], []
    found = _acted_on(state, event, payload["record_id"], "payload.record_id", REPAIRABLE, problems, policy)
    if found is not None:
        collection, record_key, penalty = found
        if key(key_authority(record_key), payload["repair_id"]) in state["repairs"]:
            problems.append(problem("payload.repair_id", "duplicate_id",
                                    f"repair {payload['repair_id']} already exists"))
        if penalty.get("pending_repair"):
            problems.append(problem("payload.record_id", "repair_pending", f"repair {penalty['pending_repair']} is pending"))
        problems += _repairable_problems(penalty, event["occurred_on"], policy, collection)
    if "commitment_id" in payload:
        _target(state, event, payload["commitment_id"], "payload.commitment_id", ("commitments",), problems,
                live=False)
    return problems


def _apply_repair_requested(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload = event["payload"]
    collection, record_key, _ = _target(draft.state, event, payload["record_id"], "", REPAIRABLE, [], live=False)
    draft.at("repairs")[key(key_authority(record_key), payload["repair_id"])] = {
        **_plain(payload), **_provenance(event, offset), "requested_on": event["occurred_on"], "status": PENDING,
        "overdue": False, "overdue_due_on": None, "decided_on": None, "outcome": None, "reason": None,
        "record_kind": collection, "accepted_on": None, "acceptance_overdue": False}
    record = _edit(draft, event, collection, record_key, offset, repair_id=payload["repair_id"])
    record["pending_repair"] = payload["repair_id"]


def _repair_key(state: State, event: dict, problems: list[Problem]) -> str | None:
    """The repair application a decision names: under the authority of the penalty it is about."""
    payload = event["payload"]
    return _one(state["repairs"], event, payload["repair_id"], "payload.repair_id", "unknown_repair",
                "repair application", problems, fits=lambda repair: repair["record_id"] == payload["record_id"])


def _check_repair_decided(state: State, event: dict, policy: Policy) -> list[Problem]:
    payload, problems = event["payload"], []
    repair_key = _repair_key(state, event, problems)
    if repair_key is None:
        return problems
    owner = key_authority(repair_key)
    refused = _authority_problems(event, owner, "payload.record_id", policy)
    if refused:
        return refused
    repair = state["repairs"][repair_key]
    if repair["status"] != PENDING:
        return [problem("payload.repair_id", "repair_not_pending", f"decided {repair['status']} on {repair['decided_on']}")]
    if repair["record_id"] != payload["record_id"]:
        return [problem("payload.record_id", "record_mismatch", f"repair {payload['repair_id']} is for {repair['record_id']}")]
    if payload["outcome"] != "APPROVED":
        return []  # a rejection only closes the application, whatever became of the penalty
    collection = repair.get("record_kind", "penalties")
    penalty = state["records"][collection][key(owner, payload["record_id"])]
    if penalty["status"] == RETRACTED:
        return [problem("payload.record_id", "record_retracted", f"{NOUN[collection]} {payload['record_id']} was retracted")]
    if penalty.get("pending_objection"):
        problems.append(problem("payload.record_id", "objection_pending",
                                f"objection {penalty['pending_objection']} must be resolved first"))
    return problems + _repairable_problems(penalty, event["occurred_on"], policy, collection)


def _apply_repair_decided(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload = event["payload"]
    repair_key = _repair_key(draft.state, event, [])
    draft.at("repairs", repair_key).update(
        status=payload["outcome"], outcome=payload["outcome"], decided_on=event["occurred_on"],
        reason=payload.get("reason"), decided_event_id=event["event_id"])
    collection = draft.state["repairs"][repair_key].get("record_kind", "penalties")
    record = _edit(draft, event, collection, key(key_authority(repair_key), payload["record_id"]), offset,
                   repair_id=payload["repair_id"], outcome=payload["outcome"])
    record["pending_repair"] = None
    if payload["outcome"] == "APPROVED":
        # Public display and the grading effect stop; the record stays for auditors.
        record.update(status=REPAIRED, repaired_on=event["occurred_on"])


# --- objections (异议) --------------------------------------------------------------------------
def _check_objection_filed(state: State, event: dict, policy: Policy) -> list[Problem]:
    payload, problems = event["payload"], []
    found = _acted_on(state, event, payload["record_id"], "payload.record_id", OBJECTABLE, problems, policy)
    if found is None:
        return problems
    _, record_key, record = found
    if key(key_authority(record_key), payload["objection_id"]) in state["objections"]:
        problems.append(problem("payload.objection_id", "duplicate_id", f"objection {payload['objection_id']} "
                                                                         f"already exists"))
    if record.get("pending_objection"):
        problems.append(problem("payload.record_id", "objection_pending", f"objection {record['pending_objection']} is pending"))
    return problems


def _apply_objection_filed(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload = event["payload"]
    collection, record_key, _ = _target(draft.state, event, payload["record_id"], "", OBJECTABLE, [], live=False)
    draft.at("objections")[key(key_authority(record_key), payload["objection_id"])] = {
        **_plain(payload), **_provenance(event, offset), "record_kind": collection, "filed_on": event["occurred_on"],
        "status": PENDING, "overdue": False, "overdue_due_on": None, "resolved_on": None, "outcome": None,
        "correction": None, "accepted_on": None, "acceptance_overdue": False}
    record = _edit(draft, event, collection, record_key, offset, objection_id=payload["objection_id"])
    record.update(status_before_objection=record["status"], status=UNDER_OBJECTION,
                  pending_objection=payload["objection_id"])


def _objection_key(state: State, event: dict, problems: list[Problem]) -> str | None:
    """The objection a decision names: under the authority of the record it is about."""
    payload = event["payload"]
    return _one(state["objections"], event, payload["objection_id"], "payload.objection_id", "unknown_objection",
                "objection", problems, fits=lambda objection: objection["record_id"] == payload["record_id"])


def _check_objection_resolved(state: State, event: dict, policy: Policy) -> list[Problem]:
    payload, problems = event["payload"], []
    objection_key = _objection_key(state, event, problems)
    if objection_key is None:
        return problems
    refused = _authority_problems(event, key_authority(objection_key), "payload.record_id", policy)
    if refused:
        return refused
    objection = state["objections"][objection_key]
    if objection["status"] != PENDING:
        return [problem("payload.objection_id", "objection_not_pending",
                        f"resolved {objection['status']} on {objection['resolved_on']}")]
    if objection["record_id"] != payload["record_id"]:
        return [problem("payload.record_id", "record_mismatch",
                        f"objection {payload['objection_id']} is about {objection['record_id']}")]
    return []


def _apply_objection_resolved(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload, on = event["payload"], event["occurred_on"]
    outcome, correction = payload["outcome"], payload.get("correction")
    objection_key = _objection_key(draft.state, event, [])
    objection = draft.at("objections", objection_key)
    objection.update(status=outcome, outcome=outcome, resolved_on=on, correction=correction,
                     resolved_event_id=event["event_id"], resolution_classification=event["classification"])
    record = _edit(draft, event, objection["record_kind"], key(key_authority(objection_key), payload["record_id"]),
                   offset, objection_id=payload["objection_id"], outcome=outcome, correction=correction)
    status = record["status_before_objection"]
    record.update(pending_objection=None, status_before_objection=None)
    if outcome == "UPHELD_WITHDRAWN":  # wrong from the start: retracted in valid time
        record.update(status=RETRACTED, retracted_on=on)
        return
    # DISMISSED, and UPHELD_CORRECTED: the record stands, amended by the correction it keeps.
    record["status"] = status
    if outcome == "UPHELD_CORRECTED":
        record.update(correction=correction, corrected_on=on)


# --- commitments (信用承诺) ---------------------------------------------------------------------
def _check_commitment_made(state: State, event: dict, policy: Policy) -> list[Problem]:
    payload, problems = event["payload"], []
    _new_id(state, event, payload["commitment_id"], "payload.commitment_id", problems)
    if "related_record_id" in payload:  # a reference, not an act: any authority's permit or penalty
        _target(state, event, payload["related_record_id"], "payload.related_record_id", ("permits", "penalties"),
                problems, live=False)
    return problems


def _apply_commitment_made(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload = event["payload"]
    # due_working_days is kept as given: the working-day calendar (another module) turns it into
    # a date; a CommitmentOverdue brings the due date its timer computed.
    record = _record(event, offset, OPEN, due_on=payload.get("due_on"), pending_repair=None,
                     due_working_days=payload.get("due_working_days"), ended_on=None,
                     false_commitment=False, breach=None)
    draft.at("records", "commitments")[_own(event, payload["commitment_id"])] = record


def _check_commitment_open(state: State, event: dict, policy: Policy) -> list[Problem]:
    problems: list[Problem] = []
    found = _acted_on(state, event, event["payload"]["commitment_id"], "payload.commitment_id", ("commitments",),
                      problems, policy)
    if found is None:
        return problems
    commitment, status = found[2], base_status(found[2])
    if status == OVERDUE and event["type"] == "CommitmentFulfilled":
        # R5: fulfilled by its due date, reported after the timers marked it overdue: accepted, as a record
        # arriving in time withdraws its DisclosureOverdue
        if event["occurred_on"] > commitment["due_on"]:
            problems.append(problem("occurred_on", "fulfilled_after_due",
                                    f"due on {commitment['due_on']}, fulfilled on {event['occurred_on']}"))
    elif status != OPEN:
        problems.append(problem("payload.commitment_id", "commitment_not_open",
                                f"the commitment is {status} since {commitment['ended_on']}"))
    return problems


def _commitment(draft: Draft, event: dict, offset: int, **details) -> dict:
    return _edit(draft, event, "commitments", _at(draft, event, event["payload"]["commitment_id"], ("commitments",)),
                 offset, **details)


def _apply_commitment_fulfilled(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    record = _commitment(draft, event, offset)
    if base_status(record) == OVERDUE:
        record["overdue_withdrawn_by"] = event["event_id"]  # kept in time after all (R5)
    _set_status(record, FULFILLED)
    record["ended_on"] = event["occurred_on"]


def _apply_commitment_breached(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload = event["payload"]
    record = _commitment(draft, event, offset, false_commitment=payload["false_commitment"])
    _set_status(record, BREACHED)
    record.update(ended_on=event["occurred_on"], breach=payload["breach"], false_commitment=payload["false_commitment"])


def _apply_commitment_overdue(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload = event["payload"]
    record = _commitment(draft, event, offset, due_on=payload["due_on"])
    _set_status(record, OVERDUE)
    record.update(ended_on=event["occurred_on"], due_on=record["due_on"] or payload["due_on"])


# --- red and black lists (名单) -----------------------------------------------------------------
def _check_list_entered(state: State, event: dict, policy: Policy) -> list[Problem]:
    payload, problems = event["payload"], []
    _new_id(state, event, payload["entry_id"], "payload.entry_id", problems)
    if "basis_record_id" in payload:  # a reference, not an act: 联合惩戒 lists on other authorities' records
        basis = _target(state, event, payload["basis_record_id"], "payload.basis_record_id", COLLECTIONS, problems)
        if basis is not None and base_status(basis[2]) == REVOKED:
            problems.append(problem("payload.basis_record_id", "record_revoked", "a revoked record is no basis"))
    unknown = [code for code in payload.get("measures", ()) if code not in MEASURES]
    if unknown:
        problems.append(problem("payload.measures", "unknown_measure",
                                f"not in the catalogue of joint measures: {', '.join(unknown)}"))
    if not admits(payload["list_kind"], state["subject"], policy):
        problems.append(problem("payload.list_kind", "subject_not_admitted",
                                f"a {CATEGORY_LABELS_ZH[category(state['subject'])]} is not admitted on "
                                f"{payload['list_kind']} ({policy.version} policy: "
                                f"{', '.join(policy.admitted_subjects[payload['list_kind']])})"))
    if payload["list_kind"] == "RED_LIST":
        blockers = red_list_blockers(state["records"], event["occurred_on"], policy)
        if blockers:
            problems.append(problem("payload.list_kind", "red_list_blocked",
                                    f"no red list beside {blocker_label(blockers[0])} ({policy.version} policy)"))
    longest = list_term_until(payload["list_kind"], event["occurred_on"], policy)
    if longest is not None and payload.get("term_until", "") > longest:
        problems.append(problem("payload.term_until", "term_beyond_policy",
                                f"a {payload['list_kind']} entry of {event['occurred_on']} ends by {longest} "
                                f"({policy.version} policy)"))
    return problems


def _replaced_entry(state: State, event: dict) -> str | None:
    """The key of the active ABNORMAL_OPERATION entry a SERIOUS_DISHONESTY entry escalates (its basis), if any."""
    payload = event["payload"]
    if payload["list_kind"] != "SERIOUS_DISHONESTY" or "basis_record_id" not in payload:
        return None
    found = _target(state, event, payload["basis_record_id"], "", COLLECTIONS, [], live=False)
    # only the entry's own authority ends it (as a ListExited would be: not_record_authority); another's
    # SERIOUS_DISHONESTY entry naming it as its basis is an entry of its own, the basis left as it is
    if found is None or found[0] != "lists" or key_authority(found[1]) != event["source"]["authority_code"]:
        return None
    entry = found[2]
    return found[1] if entry["list_kind"] == "ABNORMAL_OPERATION" and base_status(entry) == ACTIVE else None


def _apply_list_entered(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload = event["payload"]
    # R1: an entry that names no term takes the policy's for its kind (严重违法失信名单: removed after 3 years).
    term_until = payload.get("term_until") or list_term_until(payload["list_kind"], event["occurred_on"], policy)
    # an entry naming no measures takes its kind's defaults (projections/measures.yaml)
    measures = list(payload.get("measures") or DEFAULT_MEASURES.get(payload["list_kind"], ()))
    record = _record(event, offset, ACTIVE, ended_on=None, exit_reason=None, term_until=term_until,
                     measures=measures, sector=payload.get("sector"))
    replaced = _replaced_entry(draft.state, event)
    draft.at("records", "lists")[_own(event, payload["entry_id"])] = record
    if replaced is not None:
        # R1: the 经营异常名录 entry it escalates ends with it (转入严重违法失信名单): one listing, not two.
        reason = f"转入严重违法失信名单（{payload['entry_id']}）"
        old = _edit(draft, event, "lists", replaced, offset, reason=reason)
        _set_status(old, EXITED)
        old.update(ended_on=event["occurred_on"], exit_reason=reason, escalated_to=payload["entry_id"])


def _check_list_ends(state: State, event: dict, policy: Policy) -> list[Problem]:
    problems: list[Problem] = []
    found = _acted_on(state, event, event["payload"]["entry_id"], "payload.entry_id", ("lists",), problems, policy)
    entry = found[2] if found is not None else None
    if entry is not None and base_status(entry) != ACTIVE:
        problems.append(problem("payload.entry_id", "entry_not_active",
                                f"the entry is {base_status(entry)} since {entry['ended_on']}"))
    if entry is not None and event["type"] == "ListTermEnded" and entry.get("term_until") is None:
        problems.append(problem("payload.entry_id", "no_term", "the entry has no term_until"))
    if (entry is not None and event["source"].get("system") == TIMER_SYSTEM and event["type"] == "ListExited"
            and (entry["list_kind"] != "RED_LIST" or not red_list_blockers(state["records"], entry["occurred_on"], policy))):
        problems.append(problem("payload.entry_id", "red_list_blocked",
                                "the timers end only a red list entry, and only beside a record that blocks it"))
    return problems


def blocker_label(blocker: tuple[str, str, dict]) -> str:
    """How a record that blocks a red list entry is named in a reason (R3)."""
    collection, _, record = blocker
    if collection == "lists":
        return f"{record['list_kind']} 名单 {record['entry_id']}"
    return f"SEVERE 行政处罚 {record['record_id']}（{record['decision_no']}）"


def _apply_list_exited(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload = event["payload"]
    record = _edit(draft, event, "lists", _at(draft, event, payload["entry_id"], ("lists",)), offset,
                   reason=payload["exit_reason"])
    _set_status(record, EXITED)
    record.update(ended_on=event["occurred_on"], exit_reason=payload["exit_reason"])


def _apply_list_term_ended(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    record = _edit(draft, event, "lists", _at(draft, event, event["payload"]["entry_id"], ("lists",)), offset)
    _set_status(record, TERM_ENDED)
    record["ended_on"] = event["occurred_on"]


# --- sector ratings (行业信用评价) ---------------------------------------------------------------
def _check_rating_assigned(state: State, event: dict, policy: Policy) -> list[Problem]:
    problems: list[Problem] = []
    _new_id(state, event, event["payload"]["rating_id"], "payload.rating_id", problems)
    return problems


def _apply_rating_assigned(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload, ratings = event["payload"], draft.state["records"]["ratings"]
    authority = event["source"]["authority_code"]
    new_key, record = _own(event, payload["rating_id"]), _record(event, offset, ACTIVE, superseded_by=None)
    if payload.get("valid_to") is not None and payload["valid_to"] < recorded_day(event):
        # R4: a rating whose validity ended before it reached the ledger (an old rating loaded late) never
        # counts, and replaces nothing current: it is on file as history.
        record.update(status=EXPIRED, expired_on=recorded_day(event))
        draft.at("records", "ratings")[new_key] = record
        return
    # One current rating per kind and rating authority: the one valid from the latest day (a late-published
    # older rating is superseded at once by the newer one already on file). Another authority's rating of
    # the same kind is its own to replace: no authority supersedes another's record.
    for rating_key, rating in list(ratings.items()):
        if (rating["rating_kind"] != payload["rating_kind"] or base_status(rating) != ACTIVE
                or key_authority(rating_key) != authority):
            continue
        if rating["valid_from"] <= payload["valid_from"]:
            old = _edit(draft, event, "ratings", rating_key, offset, superseded_by=payload["rating_id"])
            _set_status(old, SUPERSEDED)
            old["superseded_by"] = payload["rating_id"]
        else:
            record.update(status=SUPERSEDED, superseded_by=rating["rating_id"])
    draft.at("records", "ratings")[new_key] = record


def _check_rating_expired(state: State, event: dict, policy: Policy) -> list[Problem]:
    payload, problems = event["payload"], []
    found = _acted_on(state, event, payload["rating_id"], "payload.rating_id", ("ratings",), problems, policy)
    if found is None:
        return problems
    rating = found[2]
    if base_status(rating) != ACTIVE:
        return [problem("payload.rating_id", "rating_not_current", f"the rating is {base_status(rating)}")]
    if rating.get("valid_to") is None or not rating["valid_to"] < event["occurred_on"]:
        return [problem("payload.rating_id", "rating_not_current",
                        f"the rating is valid until {rating.get('valid_to') or 'further notice'}")]
    return []


def _apply_rating_expired(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    record = _edit(draft, event, "ratings", _at(draft, event, event["payload"]["rating_id"], ("ratings",)), offset,
                   valid_to=event["payload"]["valid_to"])
    _set_status(record, EXPIRED)
    record["expired_on"] = event["occurred_on"]


# --- query authorisations (授权查询) -------------------------------------------------------------
def _grant_writer_problems(event: dict, policy: Policy) -> list[Problem]:
    """A grant never comes from the querier it names (DESIGN "Who may act on a record"): the credit office
    writes it, acting on the subject's written authorisation (seeds 003 §4(2): 线下实名认证, 授权查询 under
    the credit office), and revokes it when the subject withdraws. A subject principal filing its own
    grants (DESIGN "Access") is the second writer: a grant whose source is the subject itself is its own
    authorisation (SELF_FILED_TYPES), on its own file only (the fold keys it under the subject)."""
    actor = event["source"]["authority_code"]
    if actor == event["subject"]["id"] and event["type"] in SELF_FILED_TYPES:
        return []
    if actor not in policy.credit_office:
        return [problem("source.authority_code", "not_credit_office",
                        f"{actor} is not the credit office: only it writes {event['type']} ({policy.version} policy)")]
    return []


def _check_query_authorized(state: State, event: dict, policy: Policy) -> list[Problem]:
    payload = event["payload"]
    problems = _grant_writer_problems(event, policy)
    if problems:
        return problems
    if payload["grantee"] == event["source"]["authority_code"]:
        problems.append(problem("payload.grantee", "grant_to_self", "no authority grants a query to itself"))
    if not payload.get("authorisation_ref"):
        problems.append(problem("payload.authorisation_ref", "no_written_authorisation",
                                "a grant names the subject's written authorisation (书面授权) it rests on"))
    if _own(event, payload["grant_id"]) in state["grants"]:
        problems.append(problem("payload.grant_id", "duplicate_id", f"grant {payload['grant_id']} already exists"))
    return problems


def _apply_query_authorized(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload = event["payload"]
    draft.at("grants")[_own(event, payload["grant_id"])] = {
        **_plain(payload), **_provenance(event, offset), "granted_on": event["occurred_on"],
        "revoked": False, "revoked_on": None}


def _check_query_revoked(state: State, event: dict, policy: Policy) -> list[Problem]:
    payload = event["payload"]
    problems = _grant_writer_problems(event, policy)
    grant_key = None if problems else _one(state["grants"], event, payload["grant_id"], "payload.grant_id",
                                           "unknown_grant", "query authorisation", problems)
    if grant_key is None:
        return problems
    grant = state["grants"][grant_key]
    if grant["revoked"]:
        return [problem("payload.grant_id", "already_revoked", f"revoked on {grant['revoked_on']}")]
    return [problem(f"payload.{name}", "grant_mismatch", f"the grant has {name} {grant[name]!r}")
            for name in ("grantee", "scope", "valid_until") if grant[name] != payload[name]]


def _apply_query_revoked(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    grant_key = _one(draft.state["grants"], event, event["payload"]["grant_id"], "", "unknown_grant", "", [])
    draft.at("grants", grant_key).update(
        revoked=True, revoked_on=event["occurred_on"], revoked_event_id=event["event_id"])


# --- deadlines the timers report ---------------------------------------------------------------
def _processing_table(kind: str) -> tuple[str, str]:
    return ("repairs", "repair") if kind.startswith("REPAIR") else ("objections", "objection")


def _processing_key(state: State, event: dict, problems: list[Problem]) -> str | None:
    payload = event["payload"]
    table, noun = _processing_table(payload["kind"])
    return _one(state[table], event, payload["ref_id"], "payload.ref_id", f"unknown_{noun}", noun, problems)


def _check_processing_overdue(state: State, event: dict, policy: Policy) -> list[Problem]:
    payload, problems = event["payload"], []
    table, noun = _processing_table(payload["kind"])
    item_key = _processing_key(state, event, problems)
    if item_key is None:
        return problems
    item = state[table][item_key]
    if item["status"] != PENDING:
        return [problem("payload.ref_id", f"{noun}_not_pending", f"the {noun} was decided {item['status']}")]
    if payload["kind"].endswith("_ACCEPTANCE"):  # R13: not accepted in time
        if item.get("accepted_on"):
            return [problem("payload.ref_id", "already_accepted", f"the {noun} was accepted on {item['accepted_on']}")]
        if item.get("acceptance_overdue"):
            return [problem("payload.ref_id", "already_overdue",
                            f"the {noun}'s acceptance is overdue since {item['acceptance_due_on']}")]
        return []
    if item["overdue"]:
        return [problem("payload.ref_id", "already_overdue", f"the {noun} is overdue since {item['overdue_due_on']}")]
    return []


def _apply_processing_overdue(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload = event["payload"]
    item = draft.at(_processing_table(payload["kind"])[0], _processing_key(draft.state, event, []))
    if payload["kind"].endswith("_ACCEPTANCE"):
        item.update(acceptance_overdue=True, acceptance_due_on=payload["due_on"])
    else:
        item.update(overdue=True, overdue_due_on=payload["due_on"])


# --- acceptance (受理) of an objection or a repair application (issue 29 R13) ---------------------------
def _accepted_key(state: State, event: dict, problems: list[Problem], policy: Policy) -> tuple[str, str] | None:
    """(table, key) of the objection or repair an acceptance names, if its authority may accept it."""
    if event["type"] == "ObjectionAccepted":
        table, item_key = "objections", _objection_key(state, event, problems)
    else:
        table, item_key = "repairs", _repair_key(state, event, problems)
    if item_key is None:
        return None
    refused = _authority_problems(event, key_authority(item_key), "payload.record_id", policy)
    problems += refused
    return None if refused else (table, item_key)


def _check_accepted(state: State, event: dict, policy: Policy) -> list[Problem]:
    problems: list[Problem] = []
    found = _accepted_key(state, event, problems, policy)
    if found is None:
        return problems
    table, item_key = found
    item, noun = state[table][item_key], "objection" if table == "objections" else "repair"
    if item["status"] != PENDING:
        return [problem(f"payload.{noun}_id", f"{noun}_not_pending",
                        f"the {noun} was decided {item['status']}")]
    if item.get("accepted_on"):
        return [problem(f"payload.{noun}_id", "already_accepted", f"accepted on {item['accepted_on']}")]
    if item["record_id"] != event["payload"]["record_id"]:  # as the decision's check (record_mismatch)
        about = "about" if noun == "objection" else "for"  # as the decision's message says it
        return [problem("payload.record_id", "record_mismatch",
                        f"{noun} {event['payload'][f'{noun}_id']} is {about} {item['record_id']}")]
    return []


def _apply_accepted(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    table = "objections" if event["type"] == "ObjectionAccepted" else "repairs"
    item_key = (_objection_key if table == "objections" else _repair_key)(draft.state, event, [])
    draft.at(table, item_key).update(accepted_on=event["occurred_on"], accepted_event_id=event["event_id"])


# --- joint measures' feedback (联合奖惩 反馈, issue 31 part 3) ---------------------------------------
FEEDBACK_PER_ENTRY_MAX = 64  # newest kept on the entry; feedback_counts and the ledger keep every one
FEEDBACK_OUTCOME = {"MeasureApplied": "APPLIED", "MeasureDeclined": "DECLINED"}


def _check_measure_feedback(state: State, event: dict, policy: Policy) -> list[Problem]:
    """An implementing department's feedback: on an active entry of this subject, for a measure the entry
    carries and the department implements (its register entry), under a case id it has not used."""
    payload, problems = event["payload"], []
    authority, measure = event["source"]["authority_code"], payload["measure"]
    if _own(event, payload["case_id"]) in state.get("measure_cases", {}):
        problems.append(problem("payload.case_id", "duplicate_id", f"case {payload['case_id']} already reported"))
    if measure not in implemented_measures(policy, authority):
        problems.append(problem("payload.measure", "not_measure_implementer",
                                f"{authority} does not implement {measure} ({policy.version} policy register)"))
    found = _target(state, event, payload["entry_id"], "payload.entry_id", ("lists",), problems)
    if found is None:
        return problems
    entry = found[2]
    if base_status(entry) != ACTIVE or (entry.get("term_until") or "9999") < event["occurred_on"]:
        problems.append(problem("payload.entry_id", "entry_not_in_force",
                                f"the entry is {base_status(entry)}, its term until {entry.get('term_until')}"))
    if measure not in entry["measures"]:
        problems.append(problem("payload.measure", "measure_not_on_entry",
                                f"entry {payload['entry_id']} carries {', '.join(entry['measures']) or 'no measure'}"))
    return problems


def _apply_measure_feedback(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    payload, outcome = event["payload"], FEEDBACK_OUTCOME[event["type"]]
    entry_key = _at(draft, event, payload["entry_id"], ("lists",))
    case = {"case_id": payload["case_id"], "measure": payload["measure"], "outcome": outcome,
            "matter": payload["matter"], "result": payload["result"],
            "authority_code": event["source"]["authority_code"], "occurred_on": event["occurred_on"],
            "event_id": event["event_id"], "offset": offset}
    entry = _edit(draft, event, "lists", entry_key, offset, measure=payload["measure"], outcome=outcome)
    entry["feedback"] = [*entry.get("feedback", [])[-(FEEDBACK_PER_ENTRY_MAX - 1):], case]
    counts = dict(entry.get("feedback_counts") or {})
    counts[payload["measure"]] = {**counts.get(payload["measure"], {"APPLIED": 0, "DECLINED": 0})}
    counts[payload["measure"]][outcome] += 1
    entry["feedback_counts"] = counts
    if "measure_cases" not in draft.state:  # a state stored before the first feedback
        draft.state["measure_cases"] = {}
    draft.at("measure_cases")[_own(event, payload["case_id"])] = {"entry_key": entry_key, **case}


# --- 双随机一公开 inspections (issue 29 R9) -------------------------------------------------------
def _check_inspection_recorded(state: State, event: dict, policy: Policy) -> list[Problem]:
    inspection_id = event["payload"]["inspection_id"]
    if _own(event, inspection_id) in state.get("inspections", {}):
        return [problem("payload.inspection_id", "duplicate_id", f"inspection {inspection_id} already exists")]
    return []


def _apply_inspection_recorded(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    if "inspections" not in draft.state:  # a state stored before the first inspection
        draft.state["inspections"] = {}
    draft.at("inspections")[_own(event, event["payload"]["inspection_id"])] = {
        **_plain(event["payload"]), **_provenance(event, offset)}


def _no_problems(state: State, event: dict, policy: Policy) -> list[Problem]:
    return []


# --- personal information erased (issue 28) ------------------------------------------------------
def _check_personal_info_erased(state: State, event: dict, policy: Policy) -> list[Problem]:
    if event["subject"]["kind"] != "NATURAL_PERSON":
        return [problem("subject.kind", "erasure_natural_person",
                        f"{event['subject']['id']} is a {event['subject']['kind']}, not a natural person")]
    return []


def _apply_personal_info_erased(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    """Marks the file: its sealed name and ID number can no longer be read. Nothing else changes (no record,
    no deadline, no grade: the erasure is of the person's data, not of the credit records)."""
    draft.at("subject")["personal_info_erased_on"] = event["occurred_on"]


Check = Callable[[dict, dict, Policy], list[Problem]]
Apply = Callable[[Draft, dict, int, Policy], None]

HANDLERS: dict[str, tuple[Check, Apply]] = {
    "SubjectRegistered": (_no_problems, _apply_subject_registered),
    "SubjectDeregistered": (_no_problems, _apply_subject_deregistered),
    "DecisionRegistered": (_check_decision_registered, _apply_decision_registered),
    "PermitGranted": (_check_permit_granted, _apply_permit_granted),
    "PermitRevoked": (partial(_check_revoked, "permits"), partial(_apply_revoked, "permits")),
    "PenaltyImposed": (_check_penalty_imposed, _apply_penalty_imposed),
    "PenaltyFulfilled": (_check_penalty_fulfilled, _apply_penalty_fulfilled),
    "PenaltyRevoked": (partial(_check_revoked, "penalties"), partial(_apply_revoked, "penalties")),
    "CommitmentMade": (_check_commitment_made, _apply_commitment_made),
    "CommitmentFulfilled": (_check_commitment_open, _apply_commitment_fulfilled),
    "CommitmentBreached": (_check_commitment_open, _apply_commitment_breached),
    "RepairRequested": (_check_repair_requested, _apply_repair_requested),
    "RepairDecided": (_check_repair_decided, _apply_repair_decided),
    "ObjectionFiled": (_check_objection_filed, _apply_objection_filed),
    "ObjectionResolved": (_check_objection_resolved, _apply_objection_resolved),
    "ListEntered": (_check_list_entered, _apply_list_entered),
    "ListExited": (_check_list_ends, _apply_list_exited),
    "RatingAssigned": (_check_rating_assigned, _apply_rating_assigned),
    "QueryAuthorized": (_check_query_authorized, _apply_query_authorized),
    "QueryAuthorizationRevoked": (_check_query_revoked, _apply_query_revoked),
    "DisclosureOverdue": (_check_disclosure_overdue, _apply_disclosure_overdue),
    "CommitmentOverdue": (_check_commitment_open, _apply_commitment_overdue),
    "PublicityEnded": (_check_publicity_ended, _apply_publicity_ended),
    "ListTermEnded": (_check_list_ends, _apply_list_term_ended),
    "ProcessingOverdue": (_check_processing_overdue, _apply_processing_overdue),
    "RatingExpired": (_check_rating_expired, _apply_rating_expired),
    "ObjectionAccepted": (_check_accepted, _apply_accepted),
    "RepairAccepted": (_check_accepted, _apply_accepted),
    "InspectionRecorded": (_check_inspection_recorded, _apply_inspection_recorded),
    "PersonalInfoErased": (_check_personal_info_erased, _apply_personal_info_erased),
    "MeasureApplied": (_check_measure_feedback, _apply_measure_feedback),
    "MeasureDeclined": (_check_measure_feedback, _apply_measure_feedback),
}


def check_event(state: State, event: dict, policy: Policy) -> list[Problem]:
    handler = HANDLERS.get(event["type"])
    if handler is None:
        return [problem("type", "unknown_type", f"{event['type']!r} is not an event type of the catalogue")]
    return _source_problems(event) or handler[0](state, event, policy)


def apply_event(draft: Draft, event: dict, offset: int, policy: Policy) -> None:
    HANDLERS[event["type"]][1](draft, event, offset, policy)
