"""The declared type of a subject's state: every field the fold writes, its type, and whether it is always there.

The fold keeps the state as plain data (dicts, lists, str, int, bool, None; dates as ISO strings), and
these TypedDicts say what that data is. They are used twice:
- The worker's store (streams/store.py) reads every stored state through `STATE_DECODER` (msgspec), which checks each field's type
  on the way in and names the path of the first wrong one (``Expected `int`, got `str` - at
  `$.chain.length` ``); a state of an older version is upcast first (projections/state_versions.py).
- `undeclared_fields` lists what a state holds that is not declared here. msgspec drops such a key
  when it decodes, so a field the fold starts to write must be declared here first: the tests fold
  every event type and assert that nothing is undeclared and that a decode gives the state back whole.

Why TypedDicts and not Structs or dataclasses (measured in docs/performance.md, "Typed state"): the typed
decode costs 1.6 µs more a state of the bench than orjson's, and the dicts it makes are cheaper to encode,
change and read by more than that; the stored bytes, the fold and the credit file stay as they are, and
no store needs a rebuild. msgspec Structs would be faster still and hold ~27% less memory, at the price
of rewriting every line of the fold that builds a record from its event's payload.

A field the fold always writes, from the first state of version 2 on, is required; a field written
only by some events, or added to the fold after version 2, is NotRequired (a state stored before it
has none). Changing the shape of the state means a new STATE_VERSION and its upcaster.
"""
import functools
from types import UnionType
from typing import (Literal, NotRequired, TypedDict, Union, get_args, get_origin, get_type_hints,
                    is_typeddict)

import msgspec

Date = str  # an ISO date, "2025-01-06": ISO dates compare as the dates do
Instant = str  # an ISO instant with its offset, "2025-01-06T10:00:00+08:00"

RecordStatus = Literal["ACTIVE", "UNDER_OBJECTION", "REVOKED", "RETRACTED", "REPAIRED", "PUBLICITY_ENDED",
                       "OPEN", "FULFILLED", "BREACHED", "OVERDUE", "EXITED", "TERM_ENDED", "SUPERSEDED", "EXPIRED"]
CaseStatus = Literal["PENDING", "APPROVED", "REJECTED", "UPHELD_CORRECTED", "UPHELD_WITHDRAWN", "DISMISSED"]
Collection = Literal["permits", "penalties", "commitments", "lists", "ratings"]


# --- the parts every record and table entry shares -------------------------------------------------
class Source(TypedDict):
    authority_code: str
    authority_name: NotRequired[str]
    system: NotRequired[str]


class Change(TypedDict):
    """One entry of a record's history: what happened to it, when, by which event (bounded)."""
    event: str
    occurred_on: Date
    event_id: str
    offset: int
    correction: NotRequired[str | None]
    false_commitment: NotRequired[bool]
    due_on: NotRequired[Date | None]
    measure: NotRequired[str]
    objection_id: NotRequired[str]
    outcome: NotRequired[str]
    reason: NotRequired[str | None]
    repair_id: NotRequired[str]
    superseded_by: NotRequired[str]
    valid_to: NotRequired[Date | None]


class Provenance(TypedDict):
    """Where a record or table entry came from: its event."""
    occurred_on: Date
    classification: str
    source: Source
    event_id: str
    offset: int
    recorded_at: Instant


class Record(Provenance):
    status: RecordStatus
    history: list[Change]
    pending_objection: NotRequired[str | None]  # objectable records: the objection pending on it
    status_before_objection: NotRequired[RecordStatus | None]  # the status it returns to once that ends
    retracted_on: NotRequired[Date]
    correction: NotRequired[str | None]
    corrected_on: NotRequired[Date]


class Exemption(TypedDict, total=False):
    """A 双公示 record's exemption from publication (payload fields of its event)."""
    exemption: str
    exemption_basis: str
    historical: bool


class Decided(TypedDict, total=False):
    """A 双公示 record's timeliness, judged once its decision and arrival are known."""
    disclosure_due_on: Date
    late: bool | None
    revoked_on: Date
    revocation_reason: str | None
    publicity_ended_on: Date
    publicity_end_reason: str | None


# --- the five collections of records -----------------------------------------------------------------
class Permit(Record, Exemption, Decided):
    record_id: str
    decision_no: str
    permit_kind: str
    content: str
    valid_from: Date
    certificate_name: NotRequired[str]
    certificate_no: NotRequired[str]
    valid_to: NotRequired[Date]


class Penalty(Record, Exemption, Decided):
    record_id: str
    decision_no: str
    violation_type: str
    facts: str
    basis: str
    penalty_kinds: list[str]
    severity: str
    fine_fen: NotRequired[int]
    confiscation_fen: NotRequired[int]
    sector: NotRequired[str]
    publicity_until: NotRequired[Date | None]
    restriction_until: NotRequired[Date]
    subject_kind: NotRequired[str]
    fulfilled: NotRequired[bool]
    fulfilled_on: NotRequired[Date | None]
    pending_repair: NotRequired[str | None]
    repaired_on: NotRequired[Date]


class Commitment(Record):
    commitment_id: str
    commitment_kind: str
    content: str
    related_record_id: NotRequired[str]
    due_on: NotRequired[Date | None]
    due_working_days: NotRequired[int | None]
    pending_repair: NotRequired[str | None]
    ended_on: NotRequired[Date | None]
    breach: NotRequired[str | None]
    false_commitment: NotRequired[bool]
    overdue_withdrawn_by: NotRequired[str]
    repaired_on: NotRequired[Date]
    publicity_ended_on: NotRequired[Date]
    publicity_end_reason: NotRequired[str | None]


class MeasureCase(TypedDict):
    """A department's feedback on a measure of a list entry (联合奖惩 反馈)."""
    case_id: str
    measure: str
    outcome: Literal["APPLIED", "DECLINED"]
    matter: str
    result: str
    authority_code: str
    occurred_on: Date
    event_id: str
    offset: int


class ListEntry(Record):
    entry_id: str
    list_kind: str
    reason: str
    measures: list[str]
    basis_record_id: NotRequired[str | None]
    term_until: NotRequired[Date | None]
    sector: NotRequired[str | None]
    ended_on: NotRequired[Date | None]
    exit_reason: NotRequired[str | None]
    escalated_to: NotRequired[str]
    feedback: NotRequired[list[MeasureCase]]
    feedback_counts: NotRequired[dict[str, dict[str, int]]]  # measure -> {APPLIED: n, DECLINED: n}


class Rating(Record):
    rating_id: str
    rating_kind: str
    level: str
    valid_from: Date
    valid_to: NotRequired[Date | None]
    superseded_by: NotRequired[str | None]
    expired_on: NotRequired[Date]


class Records(TypedDict):
    """collection -> table key (records.key: "<authority code>/<id>") -> record."""
    permits: dict[str, Permit]
    penalties: dict[str, Penalty]
    commitments: dict[str, Commitment]
    lists: dict[str, ListEntry]
    ratings: dict[str, Rating]


# --- the tables beside the records -------------------------------------------------------------------
class Accepted(TypedDict, total=False):
    """Acceptance of an objection or repair application, and its deadline (working_days)."""
    accepted_on: Date | None
    accepted_event_id: str
    acceptance_overdue: bool
    acceptance_due_on: Date


class Objection(Provenance, Accepted):
    objection_id: str
    record_id: str
    grounds: str
    record_kind: Collection
    filed_on: Date
    status: CaseStatus
    overdue: bool
    overdue_due_on: Date | None
    resolved_on: Date | None
    outcome: str | None
    correction: str | None
    resolved_event_id: NotRequired[str]
    resolution_classification: NotRequired[str]


class Repair(Provenance, Accepted):
    repair_id: str
    record_id: str
    corrective_actions: str
    record_kind: NotRequired[Collection]
    commitment_id: NotRequired[str]
    requested_on: Date
    status: CaseStatus
    overdue: bool
    overdue_due_on: Date | None
    decided_on: Date | None
    outcome: str | None
    reason: str | None
    decided_event_id: NotRequired[str]


class Decision(TypedDict):
    """A decision number of an authority (双公示): registered, arrived as a record, judged in time or not."""
    decision_no: str
    decision_kind: str
    registered: bool
    decided_on: Date | None
    authority_code: str
    source: Source
    registered_event_id: str | None
    offset: int
    arrived: bool
    record_id: str | None
    record_decided_on: Date | None
    arrived_on: Date | None
    due_on: Date | None
    due_provisional: bool | None
    late: bool | None
    overdue: bool
    historical: NotRequired[bool]
    overdue_event_id: NotRequired[str]
    overdue_withdrawn_by: NotRequired[str]


class Grant(Provenance):
    """A query authorisation the credit office wrote (who may read this file's protected records)."""
    grant_id: str
    grantee: str
    scope: list[str]
    valid_until: Date
    authorisation_ref: NotRequired[str]
    granted_on: Date
    revoked: bool
    revoked_on: Date | None
    revoked_event_id: NotRequired[str]


class Inspection(Provenance):
    inspection_id: str
    outcome: str
    inspectors: list[str]
    sample_seed: NotRequired[int]
    findings: NotRequired[str]


class FiledMeasureCase(MeasureCase):
    entry_key: str  # the list entry's table key


# --- the state ---------------------------------------------------------------------------------------
class Subject(TypedDict):
    id: str
    kind: str
    name: NotRequired[str]
    region_code: NotRequired[str]
    industry_code: NotRequired[str]
    registered_on: NotRequired[Date]
    deregistered_on: NotRequired[Date]
    personal_info_erased_on: NotRequired[Date]


class Chain(TypedDict):
    length: int
    head: str  # the hash of the newest applied event's chain link (canonical.chain_link)


class AsOf(TypedDict):
    offset: int
    recorded_at: Instant | None


class Reason(TypedDict):
    field: str
    rule: str
    message: str


class Rejection(TypedDict):
    event_id: str
    type: str
    offset: int
    recorded_at: Instant
    reasons: list[Reason]


class State(TypedDict):
    subject: Subject
    counts: dict[str, int]  # event type -> applied events of it
    chain: Chain
    as_of: AsOf  # the newest event folded, applied or rejected
    seen_event_ids: dict[str, list[int | str] | int]  # event id -> [offset, content digest] (an offset alone: older)
    rejected: list[Rejection]  # the newest REJECTED_KEPT_MAX
    rejected_total: int
    records: Records
    objections: dict[str, Objection]
    repairs: dict[str, Repair]
    decisions: dict[str, Decision]
    grants: dict[str, Grant]
    scoped_ids: bool
    state_version: int
    public_as_of: NotRequired[AsOf | None]  # the newest PUBLIC event applied (absent: stored before it was kept)
    # the newest event applied: its day's policy derived the deadlines the timer index holds for the subject
    # (projections/effects.py; absent: stored before it was kept, then as_of stands in)
    applied_as_of: NotRequired[AsOf]
    events_by_authority: NotRequired[dict[str, int]]  # authority code -> its applied events (quotas)
    inspections: NotRequired[dict[str, Inspection]]
    measure_cases: NotRequired[dict[str, FiledMeasureCase]]


STATE_DECODER = msgspec.json.Decoder(State)
UNDECLARED_SHOWN_MAX = 20  # undeclared_fields stops after this many


def undeclared_fields(state: dict) -> list[str]:
    """The paths of what `state` holds that State does not declare (at most UNDECLARED_SHOWN_MAX), e.g.
    `$.records.penalties["A/P-1"].new_field`: each would be dropped by STATE_DECODER."""
    found: list[str] = []
    _walk(state, State, "$", found)
    assert len(found) <= UNDECLARED_SHOWN_MAX, "the walk stops at its bound"
    return found


@functools.cache
def _declared(typed_dict: type) -> dict[str, object]:
    return get_type_hints(typed_dict)  # NotRequired[...] unwrapped


def _walk(value: object, hint: object, path: str, found: list[str]) -> None:
    if len(found) >= UNDECLARED_SHOWN_MAX:
        return
    if isinstance(value, dict) and is_typeddict(hint):
        declared = _declared(hint)
        for name, item in value.items():
            if name in declared:
                _walk(item, declared[name], f"{path}.{name}", found)
            elif len(found) < UNDECLARED_SHOWN_MAX:
                found.append(f"{path}.{name}")
        return
    origin, arms = get_origin(hint), get_args(hint)
    if origin is dict and isinstance(value, dict):
        for name, item in value.items():
            _walk(item, arms[1], f"{path}[{name!r}]", found)
    elif origin is list and isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, arms[0], f"{path}[{index}]", found)
    elif origin in (Union, UnionType):
        for arm in arms:  # the arm of the value's own kind: dict, list or a scalar
            if isinstance(value, dict) and (is_typeddict(arm) or get_origin(arm) is dict) \
                    or isinstance(value, list) and get_origin(arm) is list:
                _walk(value, arm, path, found)
                return
