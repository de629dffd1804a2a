"""Grading (信用分级分类监管): a credit file's letter A-D, its score and every reason for it.

`grade(state, policy)` is pure. The score starts at the policy's start_score; each record
that counts adds its signed points (a penalty on display, a breached or overdue commitment,
a false commitment, an active list entry, a current sector rating), so the reasons' points
always sum to score - start_score. The hard rules come first: an active entry on a list the
policy names (by default SERIOUS_DISHONESTY, DISHONEST_JUDGMENT_DEBTOR, MAJOR_TAX_VIOLATION)
makes the grade D whatever the score. Then the thresholds decide.

What no longer counts: a repaired penalty (修复 stops its effect on grading), one whose
publicity ended, a revoked or retracted one; an exited or ended list entry; a superseded
rating, or one whose validity ended (RatingExpired, or expired before it arrived); a fulfilled commitment.
"""
from __future__ import annotations

from collections import Counter

from projections.policy import GRADES, Policy
from projections.records import ACTIVE, BREACHED, OVERDUE, base_status
from projections.state_types import State

# Every grading rule: rule id -> what it means. Each reason names one.
GRADING_RULES = {
    "penalty_on_display": "a penalty still on public display (ACTIVE, or under objection): points by severity",
    "commitment_breached": "a breached commitment, within its period of effect (publicity.commitment_breach_*: "
                           "until PublicityEnded, or repaired, or retracted on objection)",
    "commitment_overdue": "a commitment not kept by its due date (counts as a breach, for the same period; an "
                          "in-time fulfilment reported late withdraws it)",
    "false_commitment": "a false commitment (虚假承诺): a SEVERE mark, instead of the breach's points",
    "list_entry": "an active red or black list entry: points by list kind (RED_LIST adds)",
    "rating": "a current sector credit rating within its validity (valid_from..valid_to; once valid_to has "
              "passed the timers write RatingExpired and it no longer counts): points by kind and level",
    "inspection": "the subject's latest 双随机一公开 inspection result (InspectionRecorded; a newer one replaces it): "
                  "points by outcome (grading.inspection_points)",
    "hard_rule": "an active entry on a list that makes the grade D whatever the score; only while it is active: "
                 "an escalated 严重违法失信名单 entry ends with its term (lists.term_months_by_kind), and the "
                 "经营异常名录 entry it replaces ends when it is entered",
}


# What grade() reads of a credit file: nothing else of the state moves a grade.
GRADED_COLLECTIONS = ("penalties", "commitments", "lists", "ratings")


def grade_inputs_unchanged(before: dict, after: dict) -> bool:
    """Whether `after` grades as `before` does under any one policy, checked in O(1): the fold
    copies every dict it writes (records.Draft), so a collection it left alone is the same object."""
    old, new = before["records"], after["records"]
    # spelled out, not all() over GRADED_COLLECTIONS: once an event, a generator cost 2.6% of a rebuild
    return (old["penalties"] is new["penalties"] and old["commitments"] is new["commitments"]
            and old["lists"] is new["lists"] and old["ratings"] is new["ratings"]
            and before.get("inspections") is after.get("inspections"))


def _reason(record_id: str, rule: str, points: int, detail: str) -> dict:
    assert rule in GRADING_RULES, rule
    return {"record_id": record_id, "rule": rule, "points": points, "detail": detail}


def grade(state: State, policy: Policy) -> dict:
    records, reasons, hard = state["records"], [], []
    # A reason names a record by its own id (two authorities' records may share one: records.key).
    for penalty in records["penalties"].values():
        if base_status(penalty) == ACTIVE:
            reasons.append(_reason(penalty["record_id"], "penalty_on_display",
                                   policy.penalty_points[penalty["severity"]],
                                   f"{penalty['severity']} 行政处罚 {penalty['decision_no']}"))
    for commitment in records["commitments"].values():
        if base_status(commitment) not in (BREACHED, OVERDUE):
            continue
        record_id = commitment["commitment_id"]
        if commitment.get("false_commitment"):
            reasons.append(_reason(record_id, "false_commitment", policy.false_commitment_points, "虚假承诺"))
        elif base_status(commitment) == BREACHED:
            reasons.append(_reason(record_id, "commitment_breached", policy.commitment_breached_points, "违背承诺"))
        else:
            reasons.append(_reason(record_id, "commitment_overdue", policy.commitment_breached_points,
                                   f"承诺逾期未履行（{commitment.get('due_on')}）"))
    for entry in records["lists"].values():
        if base_status(entry) != ACTIVE:
            continue
        entry_id = entry["entry_id"]
        reasons.append(_reason(entry_id, "list_entry", policy.list_points[entry["list_kind"]], entry["list_kind"]))
        if entry["list_kind"] in policy.hard_d_lists:
            hard.append(_reason(entry_id, "hard_rule", 0, f"{entry['list_kind']} 名单：直接评为 D"))
    for rating in records["ratings"].values():
        points = policy.rating_points.get(rating["rating_kind"], {}).get(rating["level"], 0)
        if base_status(rating) == ACTIVE and points:
            validity = f"{rating['valid_from']} 至 {rating.get('valid_to') or '长期'}"
            reasons.append(_reason(rating["rating_id"], "rating", points,
                                   f"{rating['rating_kind']} {rating['level']} 级（有效期 {validity}）"))
    inspections = state.get("inspections") or {}
    if inspections:  # the latest by its day, then by its place in the log
        latest = max(inspections.values(), key=lambda i: (i["occurred_on"], i["offset"]))
        points = policy.inspection_points.get(latest["outcome"], 0)
        if points:
            reasons.append(_reason(latest["inspection_id"], "inspection", points,
                                   f"双随机抽查 {latest['occurred_on']}：{latest['outcome']}"))
    score = policy.start_score + sum(r["points"] for r in reasons)
    thresholds = policy.grade_thresholds
    letter = "D" if hard else next((g for g in GRADES[:3] if score >= thresholds[g]), "D")
    return {"letter": letter, "score": score, "start_score": policy.start_score,
            "policy_version": policy.version, "policy_effective_from": policy.effective_from,
            # in a fixed order: a state read back from the store iterates its records in key order
            # (and two authorities' records of one id apart by their details: equal reasons are interchangeable)
            "reasons": sorted(hard, key=lambda r: (r["record_id"], r["detail"]))
            + sorted(reasons, key=lambda r: (r["points"], r["record_id"], r["rule"], r["detail"]))}


def _key(reason: dict) -> tuple:
    return reason["record_id"], reason["rule"], reason["points"], reason["detail"]


def _beyond(reasons: list[dict], others: list[dict]) -> list[dict]:
    """The reasons of `reasons` that `others` lacks, counted as a multiset: two authorities' records of one
    id give two reasons, told apart by their details, and each is one."""
    unmatched = Counter(_key(r) for r in others)
    beyond = []
    for reason in reasons:
        if unmatched[_key(reason)] > 0:
            unmatched[_key(reason)] -= 1
        else:
            beyond.append(reason)
    return beyond


def grade_change(old: dict | None, new: dict) -> dict | None:
    """What moved a subject's grade from `old` (None: never graded) to `new`, or None if neither
    the letter nor the score moved. The reasons added and removed are what moved it."""
    if old is not None and (old["letter"], old["score"]) == (new["letter"], new["score"]):
        return None
    before = (old or {}).get("reasons", [])
    return {"from_letter": old["letter"] if old else None, "to_letter": new["letter"],
            "from_score": old["score"] if old else None, "to_score": new["score"],
            "policy_version": new["policy_version"],
            "added": _beyond(new["reasons"], before), "removed": _beyond(before, new["reasons"])}
