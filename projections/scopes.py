"""A supervisor's scope (DESIGN "Access", issue 31 part 6): which subjects and authorities it supervises.

A principal of the principals file may carry a `scope` (streams/principals.py parses and bounds it):

    "scope": {"authority_codes": ["11440300MB2C92050G"], "region_prefix": "4403", "industry_sections": ["C", "F"]}

Each of the three is optional; a scope names at least one. A scope bounds a supervisor only (a district's
market-supervision bureau sees its district, a sector's regulator its sector); the other roles carry none.

A subject is in scope when it meets every dimension the scope names (AND across dimensions, OR within one):
- authority_codes: one of these authorities has published an event on the subject (events_by_authority,
  or a record's source for a file stored before that count was kept);
- region_prefix (GB/T 2260, 2 to 6 digits): the subject's region_code (SubjectRegistered) starts with it; a
  subject with no region_code is placed by the division code of its USCC (positions 3-8) when its id is one;
  a natural person with neither is in no region;
- industry_sections (GB/T 4754 section letters A..T): the subject's industry_code begins with one of them; a
  subject with no industry_code is in no section.

An authority (a row of 双公示 timeliness) is in scope when it is one of authority_codes (if named) and the
division code of its USCC starts with region_prefix (if named). Industry sections say nothing of an
authority: they do not filter the timeliness rows.

A file outside the scope is answered as if it were absent (404), so a scoped supervisor learns nothing of it,
not even that it exists. The access record of each of its reads carries the scope (AccessRecord.scope).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from projections.catalogue import REGION_CODE
from projections.ids import uscc_problems
from projections.state_types import State

SCOPE_AUTHORITIES_MAX = 200
INDUSTRY_SECTIONS = "ABCDEFGHIJKLMNOPQRST"  # GB/T 4754-2017 sections
REGION_PREFIX_CHARS = (2, 6)  # a province (2), a city (4) or a district (6)
SCOPE_FIELDS = ("authority_codes", "region_prefix", "industry_sections")


@dataclass(frozen=True)
class Scope:
    """What a scoped supervisor supervises; an empty dimension does not bound (see the module doc)."""

    authority_codes: tuple[str, ...] = ()
    region_prefix: str | None = None
    industry_sections: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        assert self.authority_codes or self.region_prefix or self.industry_sections, "a scope names something"
        assert not scope_problems(self.named()), scope_problems(self.named())

    def as_dict(self) -> dict:
        """The scope as the access record writes it: every field, empty where it does not bound."""
        return {"authority_codes": list(self.authority_codes), "region_prefix": self.region_prefix,
                "industry_sections": list(self.industry_sections)}

    def named(self) -> dict:
        """The scope as the principals file writes it: the fields that bound."""
        return {k: v for k, v in self.as_dict().items() if v}


def scope_problems(value) -> list[tuple[str, str]]:
    """(field, message) for each rule `value` (the principals file's `scope`) breaks; empty when it is a scope."""
    if not isinstance(value, dict) or not value or set(value) - set(SCOPE_FIELDS):
        return [("", f"an object of one or more of {', '.join(SCOPE_FIELDS)}; nothing else")]
    problems = []
    codes = value.get("authority_codes")
    if codes is not None and not (isinstance(codes, list) and 0 < len(codes) <= SCOPE_AUTHORITIES_MAX
                                  and len(set(map(repr, codes))) == len(codes)):
        problems.append(("authority_codes", f"a list of 1 to {SCOPE_AUTHORITIES_MAX} distinct unified social "
                                            "credit codes"))
    elif codes is not None:
        problems += [(f"authority_codes[{n}]", "not a unified social credit code") for n, code in enumerate(codes)
                     if not isinstance(code, str) or uscc_problems(code)]
    region = value.get("region_prefix")
    low, high = REGION_PREFIX_CHARS
    if region is not None and not (isinstance(region, str) and low <= len(region) <= high and region.isascii()
                                   and region.isdigit() and re.fullmatch(REGION_CODE.pattern, region.ljust(6, "0"))):
        problems.append(("region_prefix", f"{low} to {high} digits of a GB/T 2260 division code, from its "
                                          "province (e.g. 44, 4403, 440305)"))
    sections = value.get("industry_sections")
    if sections is not None and not (isinstance(sections, list) and 0 < len(sections) <= len(INDUSTRY_SECTIONS)
                                     and all(isinstance(s, str) and len(s) == 1 and s in INDUSTRY_SECTIONS
                                             for s in sections) and len(set(sections)) == len(sections)):
        problems.append(("industry_sections", "a list of distinct GB/T 4754 section letters A to T"))
    if not problems and codes is None and region is None and sections is None:
        problems.append(("", f"name at least one of {', '.join(SCOPE_FIELDS)}"))
    return problems


def scope_of(value) -> Scope:
    """The Scope of a checked `value` (scope_problems(value) is empty)."""
    return Scope(tuple(value.get("authority_codes") or ()), value.get("region_prefix"),
                 tuple(value.get("industry_sections") or ()))


def subject_region(subject: dict) -> str | None:
    """The subject's GB/T 2260 region: its registered region_code, else its USCC's division code."""
    if subject.get("region_code"):
        return subject["region_code"]
    subject_id = subject.get("id")
    if subject.get("kind") != "NATURAL_PERSON" and isinstance(subject_id, str) and not uscc_problems(subject_id):
        return subject_id[2:8]
    return None


def state_authorities(state: State) -> set[str]:
    """The authorities that have published on the subject (the fold's events_by_authority, and the records'
    sources for a state stored before that count was kept)."""
    codes = set(state.get("events_by_authority") or {})
    for records in state.get("records", {}).values():
        for record in records.values():
            code = (record.get("source") or {}).get("authority_code")
            if isinstance(code, str):
                codes.add(code)
    return codes


def in_scope(scope: Scope | None, state: State | None) -> bool:
    """Whether a subject's state (projections.fold.new_state) is in `scope`; None bounds nothing."""
    if scope is None:
        return True
    if state is None:
        return False
    subject = state["subject"]
    if scope.authority_codes and not state_authorities(state) & set(scope.authority_codes):
        return False
    if scope.region_prefix is not None and not (subject_region(subject) or "").startswith(scope.region_prefix):
        return False
    industry = subject.get("industry_code")
    return not scope.industry_sections or (isinstance(industry, str) and industry[:1] in scope.industry_sections)


def authority_in_scope(scope: Scope | None, authority_code: str) -> bool:
    """Whether an authority's rows (双公示 timeliness) are in `scope`: see the module doc."""
    if scope is None:
        return True
    if scope.authority_codes and authority_code not in scope.authority_codes:
        return False
    return scope.region_prefix is None or (len(authority_code) == 18 and
                                           authority_code[2:8].startswith(scope.region_prefix))


def states_in_scope(scope: Scope | None, states: Iterable[dict]) -> list[dict]:
    """The subjects' states in `scope` (the inspection sample's pool of a scoped supervisor)."""
    return [state for state in states if in_scope(scope, state)]
