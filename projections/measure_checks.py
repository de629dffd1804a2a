"""The credit check at the point of action (信用审查, issue 31 part 3): which joint measures (联合奖惩措施) bind
an implementing department on a subject now. Pure: the worker answers GET /subjects/{id}/measures with it.

A department about to decide a matter (a bid, a grant, a permit application) asks, naming itself
(`authority`), why (`purpose`) and in which matter (`matter`). The answer is every measure of the subject's
list entries in force today (ACTIVE, term not ended: projections/access.in_force) that the department
implements (its register entry's `measures` in the policy in force), each with the measure's name, kind and
basis and the entry's list kind, issuing authority and end. A publisher may ask only as its own authority
(`measure_check_authority`, 403); a supervisor, an auditor or an admin as any. Every check is written to
credit.access-log with its purpose and matter, whatever it found: the subject learns who checked it and why.

What comes back after the measure is decided is the department's feedback, MeasureApplied or MeasureDeclined
(docs/measures.md), folded onto the entry (projections/records.py).
"""
from __future__ import annotations

from collections.abc import Mapping

from projections.access import PUBLISHER, SUPERVISOR_UP, AccessDecision, Principal, in_force
from projections.ids import uscc_problems
from projections.measures import MEASURES
from projections.personal_data import holds_resident_id, without_resident_ids
from projections.policy import Policy, implemented_measures
from projections.state_types import State
from projections.validate import Problem

ACTION = "measure_check"
PURPOSE_CHARS_MAX = 200  # why the department checks: 政府采购资格审查, 财政补助审核 ...
MATTER_CHARS_MAX = 100  # the matter's number: a bid, grant or application number
QUERY_KEYS = ("authority", "purpose", "matter")
ROLES = (PUBLISHER, *SUPERVISOR_UP)
FORBIDDEN_RULE = "measure_check_authority"


def check_request(query: Mapping, principal: Principal) -> tuple[dict | None, list[Problem]]:
    """The checked query ({"authority", "purpose", "matter"}) or (None, every problem, each naming the
    parameter and the rule). A problem of rule FORBIDDEN_RULE answers 403, any other 400."""
    problems: list[Problem] = []
    unknown = sorted(set(query) - set(QUERY_KEYS))
    if unknown:
        problems.append(Problem(unknown[0][:40], "unknown_field", f"the parameters are {', '.join(QUERY_KEYS)}"))
    code = query.get("authority")
    if not isinstance(code, str) or not code:
        problems.append(Problem("authority", "required", "the implementing authority's unified social credit code"))
    elif uscc_problems(code):
        problems.append(Problem("authority", "uscc", "not a unified social credit code (GB 32100-2015)"))
    for name, limit in (("purpose", PURPOSE_CHARS_MAX), ("matter", MATTER_CHARS_MAX)):
        value = query.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(name, "required", f"say the {name} of the check (1 to {limit} characters)"))
        elif len(value) > limit or not value.isprintable():
            problems.append(Problem(name, "max_length", f"1 to {limit} printable characters"))
        elif holds_resident_id(value):
            problems.append(Problem(name, "personal_identifier", "no resident ID number: the check is logged"))
    if problems:
        return None, problems
    if principal.role == PUBLISHER and code != principal.authority_code:
        return None, [Problem("authority", FORBIDDEN_RULE, f"publisher {principal.name} checks only the measures "
                                                           f"its own authority {principal.authority_code} implements")]
    return {name: query[name] for name in QUERY_KEYS}, []


def binding_measures(state: State | None, authority_code: str, today: str, policy: Policy) -> list[dict]:
    """Every (entry, measure) binding `authority_code` on the subject today: the measures it implements of the
    list entries in force, oldest entry first. None (a subject the ledger does not hold): none bind."""
    implemented = implemented_measures(policy, authority_code)
    if state is None or not implemented:
        return []
    found = []
    entries = sorted(state["records"]["lists"].values(), key=lambda entry: entry["offset"])
    for entry in entries:
        if not in_force("lists", entry, today, policy):
            continue
        for code in entry["measures"]:
            if code in implemented and code in MEASURES:
                measure = MEASURES[code]
                found.append({"entry_id": entry["entry_id"], "list_kind": entry["list_kind"],
                              "entry_authority_code": entry["source"]["authority_code"],
                              "entered_on": entry["occurred_on"], "term_until": entry.get("term_until"),
                              "measure": code, "name": measure.name, "kind": measure.kind, "basis": measure.basis})
    return found


def decision(principal: Principal, subject_id: str, request: dict, found: list[dict]) -> AccessDecision:
    """The access-log decision of a check: its purpose and matter in the reason (a resident ID number never)."""
    reason = without_resident_ids(
        f"信用审查 (credit check at the point of action) by authority {request['authority']}: "
        f"purpose: {request['purpose']}; matter: {request['matter']}; {len(found)} measure(s) binding")
    entry_ids = tuple(dict.fromkeys(item["entry_id"] for item in found))
    return AccessDecision(principal.name, principal.role, principal.authority_code, subject_id, ACTION, True,
                          reason, entry_ids, principal.scope)
