"""The catalogue of joint reward and punishment measures (联合奖惩措施, projections/measures.yaml): each code
with its name, kind, implementing authority and basis, and the measures a list entry takes by default when
it names none (defaults_by_list_kind, issue 29). The fold refuses a code the catalogue lacks (unknown_measure);
the views show each code with its entry (projections/lists.py)."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import yaml

from projections.catalogue import LIST_KINDS

MEASURE_KINDS = ("REWARD", "PUNISHMENT")


@dataclass(frozen=True)
class Measure:
    code: str
    name: str
    kind: str
    authority: str
    basis: str


def parse_measures(text: str) -> dict[str, Measure]:
    return _parse(text)[0]


def _parse(text: str) -> tuple[dict[str, Measure], dict[str, tuple[str, ...]]]:
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise ValueError("measures: must map codes to measures")
    defaults = document.pop("defaults_by_list_kind", None) or {}
    catalogue = {}
    for code, fields in document.items():
        if not isinstance(fields, dict) or set(fields) != {"name", "kind", "authority", "basis"}:
            raise ValueError(f"measures.{code}: needs exactly name, kind, authority, basis")
        if fields["kind"] not in MEASURE_KINDS:
            raise ValueError(f"measures.{code}.kind: must be REWARD or PUNISHMENT")
        catalogue[code] = Measure(code, **{k: str(v) for k, v in fields.items()})
    if not isinstance(defaults, dict) or set(defaults) - set(LIST_KINDS):
        raise ValueError(f"measures.defaults_by_list_kind: maps list kinds ({', '.join(LIST_KINDS)}) to codes")
    for kind, codes in defaults.items():
        if not isinstance(codes, list) or not codes or set(codes) - set(catalogue):
            raise ValueError(f"measures.defaults_by_list_kind.{kind}: a non-empty list of the catalogue's codes")
    return catalogue, {kind: tuple(codes) for kind, codes in defaults.items()}


MEASURES, DEFAULT_MEASURES = _parse((resources.files("projections") / "measures.yaml").read_text(encoding="utf-8"))


