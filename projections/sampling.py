"""The 双随机一公开 inspection sample: random subjects for on-site inspection, drawn by grade.

Random inspection (双随机: random subjects, random inspectors) is weighted by credit: each
grade has an inspection ratio (a policy number, e.g. A 2%, B 5%, C 10%, D 30%), so the share of
the sample drawn from grade g is proportional to ratios[g] * (candidates of grade g). With the
default ratios a D subject is 15 times as likely to be drawn as an A subject.

Pure and deterministic: the same candidates, size, seed and ratios give the same sample on
every machine and every run (random.Random seeded with a string hashes it with SHA-512, not
with Python's per-process hash). So a published sample (一公开) can be re-drawn and checked.

  1. allocation: integer counts per grade by the largest-remainder method over the quotas
     total * w_g / sum(w), w_g = ratios[g] * n_g (exact fractions; equal remainders go to the
     earlier grade letter). A grade whose quota exceeds its candidates gets all of them and the
     rest is shared among the other grades by the same rule. When only grades with ratio 0 are
     left and subjects are still owed (size > what the others hold), those grades share the rest
     in proportion to their candidates: the total is always min(size, number of candidates).
  2. the draw: inside each grade, random.Random(f"{seed}:{grade}").sample over the grade's
     candidates sorted by subject_id.

The ratios as the policy means them (issue 29 R9, `draw_by_ratio`): ⌈ratio × count⌉ subjects of
each grade, the 双随机一公开 抽查比例 applied to each grade's own count; a cap (`--size`) scales
these draws down in proportion (largest remainder again) and the result says so. Deregistered
subjects and natural persons are never drawn; the policy says whether 个体工商户 are
(`eligible`). Inspectors are drawn too (`assign_inspectors`): per subject, that many distinct
inspectors, none of an authority with a record on the subject, random.Random(f"{seed}:inspectors:
{subject_id}") over the eligible ones sorted by id: the same seed, the same inspectors.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from numbers import Real

from projections.policy import GRADES

SAMPLE_SIZE_MAX = 100_000  # subjects in one draw
ROW_FIELDS = ("subject_id", "name", "grade", "score", "region_code", "industry_code")
INSPECTORS_PER_SUBJECT_MAX = 10
INSPECTORS_MAX = 100_000
# A spreadsheet runs a cell that begins with one of these as a formula (CSV injection): such text is
# written with a leading apostrophe, which Excel and LibreOffice show as text and do not display.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value):
    """`value` as a CSV cell a spreadsheet cannot run: text beginning like a formula gets a leading "'";
    numbers and everything else are unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value

__all__ = ["GRADES", "SAMPLE_SIZE_MAX", "ROW_FIELDS", "Candidate", "Draw", "Inspector", "allocate", "spreadsheet_cell",
           "assign_inspectors", "by_ratio", "candidates", "draw_by_ratio", "draw_sample", "eligible",
           "filter_candidates", "sample_rows"]


@dataclass(frozen=True)
class Candidate:
    subject_id: str
    name: str | None
    grade: str  # "A", "B", "C" or "D"
    score: int
    region_code: str | None  # GB/T 2260, e.g. "420202"
    industry_code: str | None  # GB/T 4754, e.g. "C1761"
    authorities: frozenset[str]  # codes of the authorities with any record on the subject
    subject_kind: str = "LEGAL_PERSON"  # the event's subject.kind
    deregistered: bool = False  # a SubjectDeregistered was folded


def candidates(states: Iterable[dict], grade_of: Callable[[dict], dict],
               left_out: list[str] | None = None) -> list[Candidate]:
    """One Candidate per subject state (see fold.new_state), sorted by subject_id.

    `grade_of(state)` gives at least {"letter": "A".."D", "score": int} (projections.grading.grade
    with the policy bound). With `left_out`, a subject whose grading raises (a bug) is left out of the
    pool and its id appended there, so that one stored file never stops a draw."""
    result = []
    for state in states:
        subject = state["subject"]
        try:
            graded = grade_of(state)
        except Exception:  # noqa: BLE001
            if left_out is None:
                raise
            left_out.append(subject["id"])
            continue
        letter = graded["letter"]
        if letter not in GRADES:
            raise ValueError(f"grade: {subject['id']} was graded {letter!r}, not one of {', '.join(GRADES)}")
        authorities = frozenset(
            code for records in state["records"].values() for record in records.values()
            if isinstance(code := (record.get("source") or {}).get("authority_code"), str) and code)
        result.append(Candidate(subject_id=subject["id"], name=subject.get("name"), grade=letter,
                                score=graded["score"], region_code=subject.get("region_code"),
                                industry_code=subject.get("industry_code"), authorities=authorities,
                                subject_kind=subject["kind"], deregistered=bool(subject.get("deregistered_on"))))
    return sorted(result, key=lambda c: c.subject_id)


def filter_candidates(cands: Iterable[Candidate], authority: str | None = None, region: str | None = None,
                      industry: str | None = None) -> list[Candidate]:
    """Candidates with a record of `authority` (exact code), in `region` and `industry` (by prefix:
    region "4202" matches "420202", industry "C17" matches "C1761"). None means any; a subject
    without a region (industry) code never matches a region (industry) filter."""
    return [c for c in cands
            if (authority is None or authority in c.authorities)
            and (region is None or (c.region_code is not None and c.region_code.startswith(region)))
            and (industry is None or (c.industry_code is not None and c.industry_code.startswith(industry)))]


def allocate(population: Mapping[str, int], size: int, ratios: Mapping[str, float]) -> dict[str, int]:
    """Subjects to draw per grade (every grade of GRADES a key): see the module docstring, step 1."""
    _check_size(size)
    _check_ratios(ratios)
    drawn = {g: 0 for g in GRADES}
    open_ = [g for g in GRADES if population.get(g, 0) > 0]
    owed = min(size, sum(population.get(g, 0) for g in GRADES))
    while owed > 0:
        weights = {g: _exact(ratios[g]) * population[g] for g in open_}
        if not any(weights.values()):  # only grades with ratio 0 left: by their candidates
            weights = {g: Fraction(population[g]) for g in open_}
        total = sum(weights.values())
        quotas = {g: owed * w / total for g, w in weights.items()}
        full = [g for g in open_ if quotas[g] >= population[g]]
        if full:  # these take everyone; the rest is shared among the others by the same rule
            for g in full:
                drawn[g] = population[g]
                owed -= population[g]
            open_ = [g for g in open_ if g not in full]
            continue
        counts = {g: math.floor(q) for g, q in quotas.items()}
        by_remainder = sorted(open_, key=lambda g: (-(quotas[g] - counts[g]), g))
        for g in by_remainder[:owed - sum(counts.values())]:
            counts[g] += 1
        drawn.update(counts)
        break
    return drawn


def draw_sample(cands: Iterable[Candidate], size: int, seed: int, ratios: Mapping[str, float]) -> list[Candidate]:
    """min(size, len(cands)) candidates, allocated per grade by `ratios` and drawn at random with
    `seed`; the same arguments always give the same sample. Sorted by (grade, subject_id).

    Raises ValueError naming the field (size, seed, ratios, cands) for bad arguments."""
    _check_size(size)
    _check_ratios(ratios)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: must be a whole number, got {seed!r}")
    by_grade = _by_grade(cands)
    counts = allocate({g: len(members) for g, members in by_grade.items()}, size, ratios)
    sample = []
    for g in GRADES:
        pool = sorted(by_grade[g], key=lambda c: c.subject_id)
        sample += sorted(random.Random(f"{seed}:{g}").sample(pool, counts[g]), key=lambda c: c.subject_id)
    return sample


def eligible(cands: Iterable[Candidate], individual_business: bool) -> list[Candidate]:
    """Who may be drawn (R9): never a deregistered subject or a natural person; 个体工商户 as the policy says
    (inspection.individual_business_drawn)."""
    return [c for c in cands if not c.deregistered and c.subject_kind != "NATURAL_PERSON"
            and (individual_business or c.subject_kind != "INDIVIDUAL_BUSINESS")]


def by_ratio(population: Mapping[str, int], ratios: Mapping[str, float]) -> dict[str, int]:
    """⌈ratio × count⌉ per grade (exact: 0.1 × 30 is 3, not 4)."""
    _check_ratios(ratios)
    return {g: math.ceil(_exact(ratios[g]) * population.get(g, 0)) for g in GRADES}


@dataclass(frozen=True)
class Draw:
    sample: list[Candidate]
    population: dict[str, int]  # eligible candidates per grade
    by_ratio: dict[str, int]  # ⌈ratio × count⌉ per grade
    drawn: dict[str, int]  # what was drawn per grade: by_ratio, or scaled down to the cap
    capped: bool  # the cap scaled the draws down


def draw_by_ratio(cands: Iterable[Candidate], seed: int, ratios: Mapping[str, float],
                  cap: int | None = None) -> Draw:
    """⌈ratio × count⌉ candidates of each grade, or, when that is more than `cap`, `cap` of them shared in
    proportion to those draws (largest remainder, ties to the earlier letter); drawn at random with `seed`,
    each grade with its own stream. Sorted by (grade, subject_id)."""
    if cap is not None:
        _check_size(cap)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: must be a whole number, got {seed!r}")
    by_grade = _by_grade(cands)
    population = {g: len(members) for g, members in by_grade.items()}
    wanted = by_ratio(population, ratios)
    capped = cap is not None and sum(wanted.values()) > cap
    counts = _shares(wanted, cap) if capped else dict(wanted)
    sample = []
    for g in GRADES:
        pool = sorted(by_grade[g], key=lambda c: c.subject_id)
        sample += sorted(random.Random(f"{seed}:{g}").sample(pool, counts[g]), key=lambda c: c.subject_id)
    return Draw(sample, population, wanted, counts, capped)


def _shares(wanted: Mapping[str, int], cap: int) -> dict[str, int]:
    total = sum(wanted.values())
    quotas = {g: Fraction(cap * wanted[g], total) for g in GRADES}
    counts = {g: math.floor(q) for g, q in quotas.items()}
    for g in sorted(GRADES, key=lambda g: (-(quotas[g] - counts[g]), g))[:cap - sum(counts.values())]:
        counts[g] += 1
    return counts


def _by_grade(cands: Iterable[Candidate]) -> dict[str, list[Candidate]]:
    by_grade: dict[str, list[Candidate]] = {g: [] for g in GRADES}
    seen: set[str] = set()
    for c in cands:
        if c.grade not in by_grade:
            raise ValueError(f"cands: {c.subject_id} has grade {c.grade!r}, not one of {', '.join(GRADES)}")
        if c.subject_id in seen:
            raise ValueError(f"cands: subject {c.subject_id} appears twice")
        seen.add(c.subject_id)
        by_grade[c.grade].append(c)
    return by_grade


@dataclass(frozen=True)
class Inspector:
    inspector_id: str  # 执法人员 certificate number or staff id
    name: str
    authority_code: str  # the authority the inspector works for


def assign_inspectors(sample: Iterable[Candidate], inspectors: Iterable[Inspector], seed: int,
                      per_subject: int = 2) -> dict[str, list[Inspector]]:
    """subject_id -> `per_subject` distinct inspectors (双随机: random inspectors too), none of an authority
    with a record on the subject (nobody inspects their own authority's records); deterministic for a seed.
    ValueError naming `inspectors` when a subject has too few eligible inspectors."""
    if isinstance(per_subject, bool) or not isinstance(per_subject, int) or not 1 <= per_subject <= INSPECTORS_PER_SUBJECT_MAX:
        raise ValueError(f"per_subject: must be a whole number in 1..{INSPECTORS_PER_SUBJECT_MAX}, got {per_subject!r}")
    roster = sorted(inspectors, key=lambda i: i.inspector_id)
    if len(roster) > INSPECTORS_MAX:
        raise ValueError(f"inspectors: at most {INSPECTORS_MAX}")
    if len({i.inspector_id for i in roster}) != len(roster):
        raise ValueError("inspectors: an inspector_id appears twice")
    assigned = {}
    for c in sample:
        pool = [i for i in roster if i.authority_code not in c.authorities]
        if len(pool) < per_subject:
            raise ValueError(f"inspectors: {c.subject_id} needs {per_subject} inspectors of authorities without a "
                             f"record on it; {len(pool)} are")
        assigned[c.subject_id] = random.Random(f"{seed}:inspectors:{c.subject_id}").sample(pool, per_subject)
    return assigned


def sample_rows(sample: Iterable[Candidate]) -> list[dict]:
    """The sample as plain rows (ROW_FIELDS, in that order) for JSON or CSV."""
    return [{name: getattr(c, name) for name in ROW_FIELDS} for c in sample]


def _exact(ratio) -> Fraction:
    # 0.1 as the decimal it was written as, not its binary neighbour: equal remainders stay equal
    return Fraction(repr(ratio)) if isinstance(ratio, float) else Fraction(ratio)


def _check_size(size) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= SAMPLE_SIZE_MAX:
        raise ValueError(f"size: must be a whole number in 1..{SAMPLE_SIZE_MAX}, got {size!r}")


def _check_ratios(ratios) -> None:
    if not isinstance(ratios, Mapping):
        raise ValueError(f"ratios: must map each grade {', '.join(GRADES)} to a ratio, got {ratios!r}")
    missing = [g for g in GRADES if g not in ratios]
    if missing:
        raise ValueError(f"ratios: no ratio for grade {', '.join(missing)}")
    unknown = sorted(str(g) for g in ratios if g not in GRADES)
    if unknown:
        raise ValueError(f"ratios: unknown grade {', '.join(unknown)} (grades are {', '.join(GRADES)})")
    for g in GRADES:
        value = ratios[g]
        if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value <= 1:  # NaN fails too
            raise ValueError(f"ratios: the ratio of grade {g} must be a number in [0, 1], got {value!r}")
