"""The policy: every number the fold, the timers and the grading apply, from versioned YAML files.

The files ship in the package (projections/policies/*.yaml), each with a `version` and an
`effective_from` date; `parse_policy` checks one and names the key of any problem. A
`PolicyBook` holds them all and says which is in force on a day: the fold applies the
policy in force on the day an event was recorded, the grade at instant T the one in
force at T. `DEFAULT_POLICY` is the newest packaged file; nothing of its numbers is
written in code.

Periods are counted in calendar months from the decision date; a day that does not
exist in the target month clamps to its last day (2024-11-30 + 3 months = 2025-02-28).
"""
from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from importlib import resources
from types import MappingProxyType

import yaml

from projections.calendar import WorkingCalendar, add_months
from projections.catalogue import (INSPECTION_OUTCOMES, LIST_ITEMS_MAX, LIST_KINDS, PENALTY_KINDS, RATING_KINDS,
                                   SEVERITIES)
from projections.ids import uscc_problems
from projections.measures import MEASURES
from projections.quotas import QUOTA_MAX, QUOTA_ROLES, SELF_SERVICE_LIMITS, Limits
from projections.subject_kinds import CATEGORIES, category

GRADES = ("A", "B", "C", "D")
POLICY_FILE_BYTES_MAX = 256 * 1024
POINTS_MAX = 1000  # no single rule moves a score further than its whole range
CREDIT_OFFICES_MAX = 100  # authority codes named as the credit office (one a city or county of a province)
# The event types that act on an existing record (DESIGN "Who may act on a record"). Each is accepted
# from the authority that issued the record (its source.authority_code), and from the credit office
# for the types `authorities.credit_office_acts_on` names (projections/records.py, not_record_authority).
ACTIONS_ON_A_RECORD = ("PermitRevoked", "PenaltyFulfilled", "PenaltyRevoked", "CommitmentFulfilled",
                       "CommitmentBreached", "ListExited", "ObjectionFiled", "ObjectionAccepted", "ObjectionResolved",
                       "RepairRequested", "RepairAccepted", "RepairDecided")
# The register (目录) of the authorities that must report (authorities.register): what each one reports.
# PERMIT and PENALTY are the 双公示 matters judged for timeliness (projections/stats.py).
MATTERS = ("PERMIT", "PENALTY", "COMMITMENT", "LIST", "RATING", "INSPECTION")
REGISTER_MAX = 2_000  # authorities in one register (a province's departments and its cities' and counties')
AUTHORITY_NAME_CHARS_MAX = 100
INDUSTRY_CHARS_MAX = 40
REGISTER_KEYS = ("code", "name", "region", "industry", "matters")
# A register entry may also name the joint measures (联合奖惩措施, projections/measures.yaml) the authority
# implements: it alone files their feedback (MeasureApplied, MeasureDeclined) and reads them at the point of
# action (信用审查, GET /subjects/{id}/measures). Optional: an authority naming none implements none.
REGISTER_OPTIONAL_KEYS = ("measures",)


@dataclass(frozen=True)
class AuthorityEntry:
    """One authority of the register: its code (USCC), name, region (a 6-digit division code), industry
    (the sector it supervises, free text) and the matters it must report (of MATTERS)."""
    code: str
    name: str
    region: str
    industry: str
    matters: tuple[str, ...]
    measures: tuple[str, ...] = ()  # the joint measures it implements (codes of projections/measures.yaml)


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType({k: _frozen(v) if isinstance(v, Mapping) else v for k, v in mapping.items()})


def _thawed(value):
    return {k: _thawed(v) for k, v in value.items()} if isinstance(value, Mapping) else value


@dataclass(frozen=True)
class Policy:
    version: str
    effective_from: str  # ISO date: in force from this day until a later file's effective_from
    # Penalty publicity (行政处罚信息公示期): repair is possible only after the minimum.
    min_publicity_months_by_severity: Mapping[str, int] = field(hash=False)
    special_sectors: frozenset[str]  # special equipment, work safety, fire safety keep the longer minimum
    special_sector_min_publicity_months: int
    min_publicity_months_by_penalty_kind: Mapping[str, int] = field(hash=False)  # several kinds: the longest
    max_publicity_months: int  # after it the timers write PublicityEnded
    max_publicity_months_by_penalty_kind: Mapping[str, int] = field(hash=False)  # several kinds: the longest (R11)
    small_penalty_months: int  # only 通报批评 and/or a fine of at most small_fine_max_fen: publicity this long
    small_fine_max_fen: Mapping[str, int] = field(hash=False)  # NATURAL_PERSON, ORGANISATION
    restriction_kinds: frozenset[str]  # their publicity lasts the restriction where that is longer (restriction_until)
    nothing_to_fulfil_kinds: frozenset[str]  # a penalty of only these is repairable without PenaltyFulfilled (R12)
    commitment_breach_months: tuple[int, int]  # (min, max) of a breach's period of effect (R5)
    false_commitment_months: tuple[int, int]  # (min, max) of a false commitment's
    disclosure_working_days: int  # 双公示: a decision's record is due within these working days
    public_unless_exempt: bool  # a permit or penalty not PUBLIC must name its legal exemption (R8)
    objection_acceptance_working_days: int  # R13: 受理 within these, from filing
    objection_decision_working_days: int  # from acceptance
    repair_acceptance_working_days: int
    repair_decision_working_days: int
    abnormal_operation_escalation_months: int  # ABNORMAL_OPERATION still active this long → SERIOUS_DISHONESTY
    escalation_measures: tuple[str, ...]
    term_months_by_kind: Mapping[str, int] = field(hash=False)  # an entry without term_until ends after these
    admitted_subjects: Mapping[str, tuple[str, ...]] = field(hash=False)  # list kind -> registers it admits
    escalated_subjects: frozenset[str]  # registers whose ABNORMAL_OPERATION entry escalates
    red_list_blocked_by: frozenset[str]  # an active entry of these lists refuses (and ends) a RED_LIST entry
    red_list_severe_penalty_months: int  # ... as does a SEVERE penalty on display decided within these months
    severity_by_penalty_kind: Mapping[str, str] = field(hash=False)  # for the CSV templates
    # Grading (信用分级分类监管): signed points per record, thresholds, hard rules, sampling.
    start_score: int
    penalty_points: Mapping[str, int] = field(hash=False)
    commitment_breached_points: int
    false_commitment_points: int
    list_points: Mapping[str, int] = field(hash=False)
    rating_points: Mapping[str, Mapping[str, int]] = field(hash=False)
    hard_d_lists: frozenset[str]
    grade_thresholds: Mapping[str, int] = field(hash=False)  # A, B, C: the least score of each
    inspection_ratios: Mapping[str, float] = field(hash=False)
    individual_business_drawn: bool  # 个体工商户 among the 双随机 candidates (R9)
    inspectors_per_subject: int
    inspection_points: Mapping[str, int] = field(hash=False)  # the latest InspectionRecorded, by outcome
    # Who may act on a record beside its issuing authority: the credit office (信用办), by authority code.
    credit_office: frozenset[str]  # also the only writer of query authorisations (授权查询)
    credit_office_acts_on: frozenset[str]  # of ACTIONS_ON_A_RECORD
    # Quotas per principal at the edge, by role (projections/quotas.py), and the fold's bound per authority.
    quota_events_per_minute: Mapping[str, int] = field(hash=False)
    quota_events_per_subject_per_day: Mapping[str, int] = field(hash=False)
    quota_rejections_recorded_per_minute: Mapping[str, int] = field(hash=False)
    events_per_authority_per_subject: int  # the fold refuses an authority's events on a subject beyond it
    # The register of the authorities that must report (目录): statistics show each one, a gap when it reported nothing.
    authority_register: tuple[AuthorityEntry, ...]
    # The working-day calendar deadlines are counted on (official schedule + operator overrides).
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar, hash=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("min_publicity_months_by_severity", "min_publicity_months_by_penalty_kind",
                     "severity_by_penalty_kind", "penalty_points", "list_points", "rating_points",
                     "grade_thresholds", "inspection_ratios", "term_months_by_kind",
                     "max_publicity_months_by_penalty_kind", "small_fine_max_fen", "inspection_points",
                     "quota_events_per_minute", "quota_events_per_subject_per_day",
                     "quota_rejections_recorded_per_minute"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "special_sectors", frozenset(self.special_sectors))
        object.__setattr__(self, "hard_d_lists", frozenset(self.hard_d_lists))
        object.__setattr__(self, "escalation_measures", tuple(self.escalation_measures))
        object.__setattr__(self, "commitment_breach_months", tuple(self.commitment_breach_months))
        object.__setattr__(self, "false_commitment_months", tuple(self.false_commitment_months))
        object.__setattr__(self, "admitted_subjects", MappingProxyType(
            {kind: tuple(v) if isinstance(v, (list, tuple)) else v for kind, v in self.admitted_subjects.items()}
            if isinstance(self.admitted_subjects, Mapping) else self.admitted_subjects))
        object.__setattr__(self, "escalated_subjects", frozenset(self.escalated_subjects))
        object.__setattr__(self, "red_list_blocked_by", frozenset(self.red_list_blocked_by))
        object.__setattr__(self, "restriction_kinds", frozenset(self.restriction_kinds))
        object.__setattr__(self, "nothing_to_fulfil_kinds", frozenset(self.nothing_to_fulfil_kinds))
        object.__setattr__(self, "credit_office", frozenset(self.credit_office))
        object.__setattr__(self, "credit_office_acts_on", frozenset(self.credit_office_acts_on))
        object.__setattr__(self, "authority_register", _register_entries(self.authority_register))
        problems = policy_problems(self)
        if problems:
            raise ValueError(f"policy {self.version}: " + "; ".join(problems))

    def quota_limits(self, role: str) -> Limits:
        """The edge's quotas for a principal of `role` (one that may publish: QUOTA_ROLES, or a subject filing
        its own: SELF_SERVICE_LIMITS)."""
        if role == "subject":
            return SELF_SERVICE_LIMITS
        return Limits(self.quota_events_per_minute[role], self.quota_events_per_subject_per_day[role],
                      self.quota_rejections_recorded_per_minute[role])

    def __reduce__(self):
        # read-only mappings do not pickle; `rebuild` sends its policies to the processes it folds in
        return Policy, tuple(_thawed(getattr(self, f.name)) for f in fields(self))


def policy_problems(p: Policy) -> list[str]:
    """Every inconsistency of a policy, each naming its key."""
    problems = []

    def need(ok: bool, key: str, message: str) -> None:
        if not ok:
            problems.append(f"{key}: {message}")
    need(_is_day(p.effective_from), "effective_from", "must be a date like 2024-01-01")
    need(isinstance(p.public_unless_exempt, bool), "disclosure.public_unless_exempt", "true or false")
    _check_publicity(p, need)
    _check_periods(p, need)
    _check_lists(p, need)
    need(set(p.severity_by_penalty_kind) == set(PENALTY_KINDS)
         and set(p.severity_by_penalty_kind.values()) <= set(SEVERITIES), "severity_by_penalty_kind",
         f"maps every penalty kind ({', '.join(PENALTY_KINDS)}) to one of {', '.join(SEVERITIES)}")
    _check_grading(p, need)
    _check_inspection(p, need)
    _check_credit_office(p, need)
    problems += register_problems(p.authority_register)
    _check_quotas(p, need)
    return problems


def _check_publicity(p: Policy, need) -> None:
    """The publicity section: penalty kinds known, minimums and maximums whole months within their bounds."""
    max_months_ok = _whole(p.max_publicity_months) and 1 <= p.max_publicity_months <= 120
    need(max_months_ok, "publicity.max_months", "a whole number of months in 1..120")
    max_months = p.max_publicity_months if max_months_ok else 120  # the others are judged against a valid one
    need(set(p.min_publicity_months_by_severity) == set(SEVERITIES), "publicity.min_months_by_severity",
         f"needs exactly {', '.join(SEVERITIES)}")
    need(set(p.min_publicity_months_by_penalty_kind) <= set(PENALTY_KINDS), "publicity.min_months_by_penalty_kind",
         "unknown penalty kind")
    need(set(p.max_publicity_months_by_penalty_kind) <= set(PENALTY_KINDS)
         and all(_whole(m) and 1 <= m <= 120 for m in p.max_publicity_months_by_penalty_kind.values()),
         "publicity.max_months_by_penalty_kind", "penalty kinds, each a whole number of months in 1..120")
    need(_whole(p.small_penalty_months) and 1 <= p.small_penalty_months <= max_months,
         "publicity.small_penalty_months", "whole months in 1..max_months")
    need(set(p.small_fine_max_fen) == {"NATURAL_PERSON", "ORGANISATION"}
         and all(_whole(v) and v >= 0 for v in p.small_fine_max_fen.values()),
         "publicity.small_fine_max_fen", "NATURAL_PERSON and ORGANISATION, each a whole number of fen")
    need(p.restriction_kinds <= set(PENALTY_KINDS), "publicity.restriction_kinds", "unknown penalty kind")
    need(p.nothing_to_fulfil_kinds <= set(PENALTY_KINDS), "publicity.nothing_to_fulfil_kinds", "unknown penalty kind")
    min_months = [*p.min_publicity_months_by_severity.values(), p.special_sector_min_publicity_months,
                  *p.min_publicity_months_by_penalty_kind.values()]
    need(all(_whole(m) and 0 < m <= max_months for m in min_months), "publicity",
         "minimums are whole months in 1..max_months")


def _check_periods(p: Policy, need) -> None:
    """The breach periods (months) and the deadlines (working days, months): whole numbers in 1..120."""
    for key, (low, high) in (("publicity.commitment_breach_min_months/max_months", p.commitment_breach_months),
                             ("publicity.false_commitment_min_months/max_months", p.false_commitment_months)):
        need(_whole(low) and _whole(high) and 1 <= low <= high <= 120, key, "whole months, 1 <= min <= max <= 120")
    for key, value in (("working_days.disclosure", p.disclosure_working_days),
                       ("working_days.objection_decision", p.objection_decision_working_days),
                       ("working_days.objection_acceptance", p.objection_acceptance_working_days),
                       ("working_days.repair_acceptance", p.repair_acceptance_working_days),
                       ("working_days.repair_decision", p.repair_decision_working_days),
                       ("lists.abnormal_operation_escalation_months", p.abnormal_operation_escalation_months),
                       ("lists.red_list_severe_penalty_months", p.red_list_severe_penalty_months)):
        need(_whole(value) and 1 <= value <= 120, key, "a whole number in 1..120")


def _check_lists(p: Policy, need) -> None:
    """The lists section: terms, the registers each list admits or escalates, what blocks a red list entry."""
    need(set(p.term_months_by_kind) <= set(LIST_KINDS)
         and all(_whole(m) and 1 <= m <= 120 for m in p.term_months_by_kind.values()),
         "lists.term_months_by_kind", "list kinds, each a whole number of months in 1..120")
    need(isinstance(p.admitted_subjects, Mapping) and set(p.admitted_subjects) <= set(LIST_KINDS)
         and all(isinstance(v, tuple) and v and set(v) <= set(CATEGORIES) for v in p.admitted_subjects.values()),
         "lists.admitted_subjects", f"list kinds, each a list of registers among {', '.join(CATEGORIES)}")
    need(p.red_list_blocked_by <= set(LIST_KINDS) - {"RED_LIST"}, "lists.red_list_blocked_by",
         "list kinds other than RED_LIST")
    need(p.escalated_subjects <= set(CATEGORIES), "lists.escalated_subjects",
         f"registers among {', '.join(CATEGORIES)}")
    # the escalation's system event carries them (projections/deadlines.py): a code the catalogue lacks, or
    # more than an event's list holds, would have every escalation refused by the fold
    need(len(p.escalation_measures) <= LIST_ITEMS_MAX
         and all(isinstance(code, str) and code in MEASURES for code in p.escalation_measures),
         "lists.escalation_measures", f"at most {LIST_ITEMS_MAX} codes of the catalogue of joint measures "
                                      "(projections/measures.yaml)")


def _check_grading(p: Policy, need) -> None:
    """The grading section: points per record within ±POINTS_MAX, hard rules, thresholds, the start score."""
    need(set(p.penalty_points) == set(SEVERITIES), "grading.penalty_points", f"needs exactly {', '.join(SEVERITIES)}")
    need(set(p.list_points) == set(LIST_KINDS), "grading.list_points", f"needs exactly {', '.join(LIST_KINDS)}")
    need(set(p.rating_points) <= set(RATING_KINDS), "grading.rating_points", "unknown rating kind")
    need(all(isinstance(levels, Mapping) for levels in p.rating_points.values()), "grading.rating_points",
         "each rating kind a mapping of levels to points")
    points = [*p.penalty_points.values(), *p.list_points.values(), p.commitment_breached_points,
              p.false_commitment_points, *(v for levels in p.rating_points.values() if isinstance(levels, Mapping)
                                           for v in levels.values())]
    need(all(_whole(v) and abs(v) <= POINTS_MAX for v in points), "grading", f"points are whole numbers within ±{POINTS_MAX}")
    need(p.hard_d_lists <= set(LIST_KINDS), "grading.hard_rules.D", "unknown list kind")
    thresholds = p.grade_thresholds
    need(set(thresholds) == {"A", "B", "C"} and all(_whole(v) for v in thresholds.values())
         and thresholds["A"] > thresholds["B"] > thresholds["C"] > 0,
         "grading.thresholds", "A > B > C > 0, whole numbers")
    need(_whole(p.start_score) and 0 < p.start_score <= 10 * POINTS_MAX, "grading.start_score", "a positive whole number")


def _check_inspection(p: Policy, need) -> None:
    """The 双随机 inspections: who is drawn, by how many inspectors, the points of outcomes, the ratios by grade."""
    need(isinstance(p.individual_business_drawn, bool), "inspection.individual_business_drawn", "true or false")
    need(_whole(p.inspectors_per_subject) and 1 <= p.inspectors_per_subject <= 10, "inspection.inspectors_per_subject",
         "a whole number in 1..10")
    need(set(p.inspection_points) <= set(INSPECTION_OUTCOMES)
         and all(_whole(v) and abs(v) <= POINTS_MAX for v in p.inspection_points.values()),
         "grading.inspection_points", f"outcomes among {', '.join(INSPECTION_OUTCOMES)}, whole points")
    need(set(p.inspection_ratios) == set(GRADES)
         and all(_number(v) and 0 <= v <= 1 for v in p.inspection_ratios.values()),
         "inspection_ratios", "a ratio in 0..1 for each of A, B, C, D")


def _check_credit_office(p: Policy, need) -> None:
    """The credit office: its authority codes, and the actions on a record it may take."""
    need(len(p.credit_office) <= CREDIT_OFFICES_MAX
         and all(isinstance(code, str) and not uscc_problems(code) for code in p.credit_office),
         "authorities.credit_office", f"at most {CREDIT_OFFICES_MAX} unified social credit codes (GB 32100-2015)")
    need(p.credit_office_acts_on <= set(ACTIONS_ON_A_RECORD), "authorities.credit_office_acts_on",
         f"types among {', '.join(ACTIONS_ON_A_RECORD)}")


def _check_quotas(p: Policy, need) -> None:
    """The quotas section: the edge's limits for each role, the fold's bound per authority and subject."""
    for key in ("events_per_minute", "events_per_subject_per_day", "rejections_recorded_per_minute"):
        quota = getattr(p, f"quota_{key}")
        need(set(quota) == set(QUOTA_ROLES) and all(_whole(v) and 1 <= v <= QUOTA_MAX for v in quota.values()),
             f"quotas.{key}", f"a whole number in 1..{QUOTA_MAX:,} for each of {', '.join(QUOTA_ROLES)}")
    # the fold's bound on all events of a subject is 100,000 (projections/fold.py: EVENTS_PER_SUBJECT_MAX)
    need(_whole(p.events_per_authority_per_subject) and 1 <= p.events_per_authority_per_subject <= 100_000,
         "quotas.events_per_authority_per_subject", "a whole number in 1..100,000")


def _register_entries(raw) -> tuple:
    """The register as AuthorityEntry items; an item that is not a mapping of exactly REGISTER_KEYS is kept
    as it is, for register_problems to name. Not a list: kept too (the same)."""
    if not isinstance(raw, (list, tuple)):
        return raw
    entries = []
    for item in raw:
        if isinstance(item, Mapping) and set(REGISTER_KEYS) <= set(item) <= {*REGISTER_KEYS, *REGISTER_OPTIONAL_KEYS}:
            matters, measures = item["matters"], item.get("measures", ())
            entries.append(AuthorityEntry(item["code"], item["name"], item["region"], item["industry"],
                                          tuple(matters) if isinstance(matters, (list, tuple)) else matters,
                                          tuple(measures) if isinstance(measures, (list, tuple)) else measures))
        else:
            entries.append(item)
    return tuple(entries)


def register_problems(register) -> list[str]:
    """Every problem of authorities.register, each naming the entry (by position) and its key."""
    key = "authorities.register"
    if not isinstance(register, tuple):
        return [f"{key}: a list of authorities ({', '.join(REGISTER_KEYS)})"]
    if len(register) > REGISTER_MAX:
        return [f"{key}: at most {REGISTER_MAX:,} authorities, not {len(register):,}"]
    problems, seen = [], set()
    for index, entry in enumerate(register):
        at = f"{key}[{index}]"
        if not isinstance(entry, AuthorityEntry):
            problems.append(f"{at}: a mapping of exactly {', '.join(REGISTER_KEYS)} (and optionally measures)")
            continue
        if not isinstance(entry.code, str) or uscc_problems(entry.code):
            problems.append(f"{at}.code: a unified social credit code (GB 32100-2015), quoted")
        elif entry.code in seen:
            problems.append(f"{at}.code: {entry.code} is listed twice")
        seen.add(entry.code)
        if not (isinstance(entry.name, str) and 0 < len(entry.name) <= AUTHORITY_NAME_CHARS_MAX
                and entry.name.isprintable() and entry.name.strip() == entry.name):
            problems.append(f"{at}.name: 1 to {AUTHORITY_NAME_CHARS_MAX} printable characters")
        if not (isinstance(entry.region, str) and len(entry.region) == 6 and entry.region.isascii()
                and entry.region.isdigit()):
            problems.append(f"{at}.region: a 6-digit administrative division code (GB/T 2260), quoted")
        if not (isinstance(entry.industry, str) and 0 < len(entry.industry) <= INDUSTRY_CHARS_MAX
                and entry.industry.isprintable() and entry.industry.strip() == entry.industry):
            problems.append(f"{at}.industry: 1 to {INDUSTRY_CHARS_MAX} printable characters")
        matters = entry.matters
        if not (isinstance(matters, tuple) and matters and all(isinstance(m, str) for m in matters)
                and set(matters) <= set(MATTERS) and len(set(matters)) == len(matters)):
            problems.append(f"{at}.matters: a list of distinct matters among {', '.join(MATTERS)}")
        measures = entry.measures
        if not (isinstance(measures, tuple) and all(isinstance(m, str) and m in MEASURES for m in measures)
                and len(set(measures)) == len(measures)):
            problems.append(f"{at}.measures: a list of distinct codes of the catalogue of joint measures "
                            f"(projections/measures.yaml)")
    return problems


def implementer(policy: Policy, authority_code: str) -> AuthorityEntry | None:
    """The register entry of `authority_code`, None when the register lacks it."""
    for entry in policy.authority_register:
        if entry.code == authority_code:
            return entry
    return None


def implemented_measures(policy: Policy, authority_code: str) -> tuple[str, ...]:
    """The joint measures `authority_code` implements (its register entry's measures; none if unregistered)."""
    entry = implementer(policy, authority_code)
    return () if entry is None else entry.measures


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_day(text) -> bool:
    try:
        date.fromisoformat(text)
        return len(text) == 10
    except (TypeError, ValueError):
        return False


# The YAML layout: file key -> Policy field (sections flattened).
_LAYOUT = {
    "version": "version", "effective_from": "effective_from",
    "publicity.min_months_by_severity": "min_publicity_months_by_severity",
    "publicity.special_sectors": "special_sectors",
    "publicity.special_sector_min_months": "special_sector_min_publicity_months",
    "publicity.min_months_by_penalty_kind": "min_publicity_months_by_penalty_kind",
    "publicity.max_months": "max_publicity_months",
    "publicity.max_months_by_penalty_kind": "max_publicity_months_by_penalty_kind",
    "publicity.small_penalty_months": "small_penalty_months",
    "publicity.small_fine_max_fen": "small_fine_max_fen",
    "publicity.restriction_kinds": "restriction_kinds",
    "publicity.nothing_to_fulfil_kinds": "nothing_to_fulfil_kinds",
    "publicity.commitment_breach_min_months": "commitment_breach_months.0",
    "publicity.commitment_breach_max_months": "commitment_breach_months.1",
    "publicity.false_commitment_min_months": "false_commitment_months.0",
    "publicity.false_commitment_max_months": "false_commitment_months.1",
    "working_days.disclosure": "disclosure_working_days",
    "disclosure.public_unless_exempt": "public_unless_exempt",
    "working_days.objection_decision": "objection_decision_working_days",
    "working_days.objection_acceptance": "objection_acceptance_working_days",
    "working_days.repair_acceptance": "repair_acceptance_working_days",
    "working_days.repair_decision": "repair_decision_working_days",
    "lists.abnormal_operation_escalation_months": "abnormal_operation_escalation_months",
    "lists.escalation_measures": "escalation_measures",
    "lists.term_months_by_kind": "term_months_by_kind",
    "lists.admitted_subjects": "admitted_subjects", "lists.escalated_subjects": "escalated_subjects",
    "lists.red_list_blocked_by": "red_list_blocked_by",
    "lists.red_list_severe_penalty_months": "red_list_severe_penalty_months",
    "severity_by_penalty_kind": "severity_by_penalty_kind",
    "grading.start_score": "start_score", "grading.penalty_points": "penalty_points",
    "grading.commitment_breached_points": "commitment_breached_points",
    "grading.false_commitment_points": "false_commitment_points",
    "grading.list_points": "list_points", "grading.rating_points": "rating_points",
    "grading.hard_rules.D": "hard_d_lists", "grading.thresholds": "grade_thresholds",
    "inspection_ratios": "inspection_ratios",
    "inspection.individual_business_drawn": "individual_business_drawn",
    "inspection.inspectors_per_subject": "inspectors_per_subject",
    "grading.inspection_points": "inspection_points",
    "authorities.credit_office": "credit_office", "authorities.credit_office_acts_on": "credit_office_acts_on",
    "authorities.register": "authority_register",
    "quotas.events_per_minute": "quota_events_per_minute",
    "quotas.events_per_subject_per_day": "quota_events_per_subject_per_day",
    "quotas.rejections_recorded_per_minute": "quota_rejections_recorded_per_minute",
    "quotas.events_per_authority_per_subject": "events_per_authority_per_subject",
}
_SECTIONS = {"publicity", "disclosure", "inspection", "working_days", "lists", "grading", "grading.hard_rules", "authorities",
             "quotas"}


def parse_policy(text: str, source: str = "policy") -> Policy:
    """One policy file's YAML text as a Policy; ValueError naming the file and key otherwise."""
    if len(text.encode()) > POLICY_FILE_BYTES_MAX:
        raise ValueError(f"{source}: larger than {POLICY_FILE_BYTES_MAX} bytes")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{source}: must be a mapping of keys")
    flat: dict[str, object] = {}
    problems: list[str] = []
    _flatten(document, "", flat, problems)
    problems += [f"{key}: missing" for key in _LAYOUT if key not in flat]
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems))
    values = {_LAYOUT[key]: value for key, value in flat.items() if "." not in _LAYOUT[key]}
    for key, value in flat.items():  # pairs of keys that make one field: name.0, name.1
        name, dot, index = _LAYOUT[key].partition(".")
        if dot:
            values.setdefault(name, [None, None])[int(index)] = value
    if isinstance(values["effective_from"], date):
        values["effective_from"] = values["effective_from"].isoformat()
    values["version"] = str(values["version"])
    try:
        return Policy(**values)
    except (TypeError, AttributeError) as error:
        raise ValueError(f"{source}: {error}") from None
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def _flatten(node: dict, prefix: str, flat: dict, problems: list[str]) -> None:
    for key, value in node.items():
        path = f"{prefix}{key}"
        if path in _LAYOUT:
            flat[path] = value
        elif path in _SECTIONS and isinstance(value, dict):
            _flatten(value, path + ".", flat, problems)
        else:
            problems.append(f"{path}: unknown key")


@dataclass(frozen=True)
class PolicyBook:
    """Every policy, by effective date: which one is in force on a given day."""
    policies: tuple[Policy, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.policies, key=lambda p: p.effective_from))
        if not ordered:
            raise ValueError("a policy book needs at least one policy")
        days = [p.effective_from for p in ordered]
        if len(set(days)) != len(days):
            raise ValueError(f"two policies take effect on the same day: {days}")
        object.__setattr__(self, "policies", ordered)
        object.__setattr__(self, "_days", tuple(days))  # asked twice an event: not rebuilt each time

    def in_force(self, day: str) -> Policy:
        """The policy in force on `day` (ISO); the earliest one also before its own date."""
        index = bisect.bisect_right(self._days, day[:10]) - 1
        return self.policies[max(index, 0)]

    @property
    def latest(self) -> Policy:
        return self.policies[-1]

    def with_calendar(self, calendar: WorkingCalendar) -> PolicyBook:
        return PolicyBook(tuple(replace(p, calendar=calendar) for p in self.policies))


def policy_for(policy: Policy | PolicyBook, day: str) -> Policy:
    """The policy to apply on `day`: a single policy always, a book the one in force."""
    return policy.in_force(day) if isinstance(policy, PolicyBook) else policy


def packaged_policies() -> PolicyBook:
    """The policy files shipped in projections/policies/."""
    folder = resources.files("projections") / "policies"
    return PolicyBook(tuple(parse_policy(entry.read_text(encoding="utf-8"), entry.name)
                            for entry in sorted(folder.iterdir(), key=lambda e: e.name)
                            if entry.name.endswith(".yaml")))


DEFAULT_POLICIES = packaged_policies()
DEFAULT_POLICY = DEFAULT_POLICIES.latest


def list_term_until(list_kind: str, entered_on: str, policy: Policy) -> str | None:
    """The last day (ISO) of a list entry that names no term: entry day + the policy's months for its
    kind, less a day (the period starts on the day of entry); None where the policy sets none."""
    months = policy.term_months_by_kind.get(list_kind)
    if months is None:
        return None
    return (add_months(date.fromisoformat(entered_on), months) - timedelta(days=1)).isoformat()


def admits(list_kind: str, subject: dict, policy: Policy) -> bool:
    """Whether a list kind takes this subject (lists.admitted_subjects; a kind not named takes every subject)."""
    admitted = policy.admitted_subjects.get(list_kind)
    return admitted is None or category(subject) in admitted


def red_list_blockers(records: dict, on: str, policy: Policy) -> list[tuple[str, str, dict]]:
    """(collection, key, record) of what refuses a red list entry on day `on` (ISO), or ends an active one
    (R3): an active entry of a list in red_list_blocked_by, or a SEVERE penalty still on display decided
    within red_list_severe_penalty_months before `on`. `records` is a state's records; earliest first."""
    def active(record: dict) -> bool:
        status = record["status_before_objection"] if record.get("pending_objection") else record["status"]
        return status == "ACTIVE"
    since = add_months(date.fromisoformat(on), -policy.red_list_severe_penalty_months).isoformat()
    found = [("lists", k, e) for k, e in records["lists"].items()
             if e["list_kind"] in policy.red_list_blocked_by and active(e)]
    found += [("penalties", k, p) for k, p in records["penalties"].items()
              if p["severity"] == "SEVERE" and active(p) and p["occurred_on"] >= since]
    return sorted(found, key=lambda item: (item[2]["recorded_at"], item[1]))


def breach_months(commitment: dict, policy: Policy) -> tuple[int, int]:
    """(min, max) months a breached or overdue commitment is 失信 information, from its breach (R5)."""
    return policy.false_commitment_months if commitment.get("false_commitment") else policy.commitment_breach_months


def breach_period(commitment: dict, policy: Policy) -> tuple[str, str]:
    """(the first day it may be repaired, its last day on display), ISO, from the day it was breached."""
    low, high = breach_months(commitment, policy)
    breached = date.fromisoformat(commitment["ended_on"])
    return add_months(breached, low).isoformat(), (add_months(breached, high) - timedelta(days=1)).isoformat()


SMALL_PENALTY_KINDS = frozenset(("NOTICE_OF_CRITICISM", "FINE"))


def is_small_penalty(penalty: dict, policy: Policy) -> bool:
    """仅受到通报批评或者较低数额罚款 (R11): a GENERAL penalty of only a criticism and/or a fine within the policy's
    small-fine limit for the subject's kind (the penalty's subject_kind; one recorded before it was kept: an organisation)."""
    kinds = set(penalty["penalty_kinds"])
    # a SERIOUS or SEVERE 失信 is never a small penalty, whatever its fine
    if not kinds <= SMALL_PENALTY_KINDS or penalty.get("confiscation_fen") or penalty.get("severity") != "GENERAL":
        return False
    limit = policy.small_fine_max_fen["NATURAL_PERSON" if penalty.get("subject_kind") == "NATURAL_PERSON"
                                      else "ORGANISATION"]
    return "FINE" not in kinds or (penalty.get("fine_fen") or 0) <= limit


def nothing_to_fulfil(penalty: dict, policy: Policy) -> bool:
    """Whether a penalty leaves nothing to fulfil (R12: only 警告 and/or 通报批评, by the policy)."""
    return set(penalty["penalty_kinds"]) <= policy.nothing_to_fulfil_kinds


def max_publicity_months(penalty: dict, policy: Policy) -> int:
    """How long a penalty stays on display at most, from its decision (R11): a small penalty's months, else the
    longest of its kinds' maximums (the policy's max_months for a kind without one). A restriction longer than
    this extends it (deadlines.publicity_end)."""
    if is_small_penalty(penalty, policy):
        return policy.small_penalty_months
    return max(policy.max_publicity_months_by_penalty_kind.get(kind, policy.max_publicity_months)
               for kind in penalty["penalty_kinds"])


def min_publicity_months(penalty: dict, policy: Policy) -> int:
    """The longest minimum that applies to a penalty: by severity, special sector, penalty kinds; never longer
    than the penalty's own maximum (a small penalty is repairable when its 3 months are over)."""
    months = [policy.min_publicity_months_by_severity[penalty["severity"]]]
    if penalty.get("sector") in policy.special_sectors:
        months.append(policy.special_sector_min_publicity_months)
    months.extend(policy.min_publicity_months_by_penalty_kind.get(kind, 0) for kind in penalty["penalty_kinds"])
    return min(max(months), max_publicity_months(penalty, policy))


def repairable_from(penalty: dict, policy: Policy) -> str:
    """The first day (ISO) a repair may be requested or approved: decision date + minimum publicity."""
    return add_months(date.fromisoformat(penalty["occurred_on"]), min_publicity_months(penalty, policy)).isoformat()
