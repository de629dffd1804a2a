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
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from numbers import Real

from projections.policy import GRADES

MAX_SAMPLE_SIZE = 100_000  # subjects in one draw
ROW_FIELDS = ("subject_id", "name", "grade", "score", "region_code", "industry_code")

__all__ = ["GRADES", "MAX_SAMPLE_SIZE", "ROW_FIELDS", "Candidate", "allocate", "candidates", "draw_sample",
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
                                industry_code=subject.get("industry_code"), authorities=authorities))
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
    by_grade: dict[str, list[Candidate]] = {g: [] for g in GRADES}
    seen: set[str] = set()
    for c in cands:
        if c.grade not in by_grade:
            raise ValueError(f"cands: {c.subject_id} has grade {c.grade!r}, not one of {', '.join(GRADES)}")
        if c.subject_id in seen:
            raise ValueError(f"cands: subject {c.subject_id} appears twice")
        seen.add(c.subject_id)
        by_grade[c.grade].append(c)
    counts = allocate({g: len(members) for g, members in by_grade.items()}, size, ratios)
    sample = []
    for g in GRADES:
        pool = sorted(by_grade[g], key=lambda c: c.subject_id)
        sample += sorted(random.Random(f"{seed}:{g}").sample(pool, counts[g]), key=lambda c: c.subject_id)
    return sample


def sample_rows(sample: Iterable[Candidate]) -> list[dict]:
    """The sample as plain rows (ROW_FIELDS, in that order) for JSON or CSV."""
    return [{name: getattr(c, name) for name in ROW_FIELDS} for c in sample]


def _exact(ratio) -> Fraction:
    # 0.1 as the decimal it was written as, not its binary neighbour: equal remainders stay equal
    return Fraction(repr(ratio)) if isinstance(ratio, float) else Fraction(ratio)


def _check_size(size) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SAMPLE_SIZE:
        raise ValueError(f"size: must be a whole number in 1..{MAX_SAMPLE_SIZE}, got {size!r}")


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
