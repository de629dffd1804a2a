"""The numbers the fold's rules apply: publicity periods, special sectors, deadlines.

One frozen value, so every rule check is a pure function of (state, event, policy).
A later issue loads versioned YAML files (each with an effective date) into `Policy`;
the defaults here are DESIGN.md "Rules". Nothing of these numbers is written in the fold.

Periods are counted in calendar months from the decision date; a day that does not
exist in the target month clamps to its last day (2024-11-30 + 3 months = 2025-02-28).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from projections.calendar import WorkingCalendar, add_months
from projections.catalogue import PENALTY_KINDS, SEVERITIES


def _frozen(mapping: dict[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Policy:
    version: str = "default"
    # Penalty publicity (行政处罚信息公示期): repair is possible only after the minimum.
    min_publicity_months_by_severity: Mapping[str, int] = field(
        default_factory=lambda: _frozen({"GENERAL": 3, "SERIOUS": 3, "SEVERE": 12}), hash=False)
    # Special-equipment, work-safety and fire-safety penalties keep the longer minimum.
    special_sectors: frozenset[str] = frozenset({"SPECIAL_EQUIPMENT", "WORK_SAFETY", "FIRE_SAFETY"})
    special_sector_min_publicity_months: int = 12
    # "With several penalty kinds the longest applies": a kind may carry its own minimum (none by default).
    min_publicity_months_by_penalty_kind: Mapping[str, int] = field(default_factory=lambda: _frozen({}), hash=False)
    max_publicity_months: int = 36  # after it the timers write PublicityEnded
    # Deadlines in working days; the timers and the calendar module apply them, the fold only stores.
    disclosure_working_days: int = 7  # 双公示: a decision's record is due within 7 working days
    objection_decision_working_days: int = 5
    repair_decision_working_days: int = 5
    # An ABNORMAL_OPERATION entry still active this long is escalated to SERIOUS_DISHONESTY
    # (企业信息公示暂行条例 第十七条: 届满3年仍未履行 → 严重违法失信企业名单).
    abnormal_operation_escalation_months: int = 36
    escalation_measures: tuple[str, ...] = ("GOV_PROCUREMENT_BAN", "BIDDING_BAN")
    # The working-day calendar the deadlines are counted on (official schedule + operator overrides).
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar, hash=False, compare=False)

    def __post_init__(self) -> None:
        # Freeze mappings given as plain dicts (e.g. from YAML), and check them once, here.
        for name in ("min_publicity_months_by_severity", "min_publicity_months_by_penalty_kind"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "special_sectors", frozenset(self.special_sectors))
        missing = set(SEVERITIES) - set(self.min_publicity_months_by_severity)
        assert not missing, f"a minimum publicity period is needed for {sorted(missing)}"
        unknown = set(self.min_publicity_months_by_penalty_kind) - set(PENALTY_KINDS)
        assert not unknown, f"unknown penalty kinds {sorted(unknown)}"
        months = [*self.min_publicity_months_by_severity.values(), self.special_sector_min_publicity_months,
                  *self.min_publicity_months_by_penalty_kind.values()]
        assert all(0 < m <= self.max_publicity_months for m in months), "minimums lie in 1..max_publicity_months"


DEFAULT_POLICY = Policy()


def min_publicity_months(penalty: dict, policy: Policy) -> int:
    """The longest minimum that applies to a penalty: by severity, special sector, penalty kinds."""
    months = [policy.min_publicity_months_by_severity[penalty["severity"]]]
    if penalty.get("sector") in policy.special_sectors:
        months.append(policy.special_sector_min_publicity_months)
    months.extend(policy.min_publicity_months_by_penalty_kind.get(kind, 0) for kind in penalty["penalty_kinds"])
    return max(months)


def repairable_from(penalty: dict, policy: Policy) -> str:
    """The first day (ISO) a repair may be requested or approved: decision date + minimum publicity."""
    return add_months(date.fromisoformat(penalty["occurred_on"]), min_publicity_months(penalty, policy)).isoformat()
