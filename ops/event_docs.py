"""docs/events.md, written from the event catalogue: `python -m ops.event_docs > docs/events.md`.

A unit test compares the file with what this writes, so the publishers' reference cannot drift
from what the edge checks."""
from __future__ import annotations

from projections import catalogue as cat
from projections.fold import INTERNAL_ERROR
from projections.records import RULES
from projections.validate import EDGE_RULES

KIND_WORDS = {cat.STR: "text", cat.INT: "integer", cat.BOOL: "true/false", cat.DATE: "date",
              cat.INSTANT: "instant", cat.ENUM: "one of", cat.ENUM_LIST: "list of", cat.STR_LIST: "list of text"}

HEADER = f"""# Events: the publishers' reference

<!-- Written by `python -m ops.event_docs > docs/events.md` from projections/catalogue.py; a test
     checks it is current. Edit the catalogue, not this file. -->

An event is one JSON object (at most {cat.EVENT_BYTES_MAX:,} bytes):

| field | what |
|---|---|
| `event_id` | a UUID, the idempotency key; left out, one is derived from the event's content |
| `type` | one of the types below |
| `subject` | `id` (the unified social credit code), `kind` ({", ".join(cat.SUBJECT_KINDS)}), `name`; a natural person sends `id_number` (居民身份证号) and `name` instead of `id`, and the edge replaces them by a keyed pseudonym |
| `source` | `authority_code` (the authority's unified social credit code), `authority_name`, `system` (optional); a subject's own filing ({", ".join(cat.SELF_FILED_TYPES)}) names the subject itself: its USCC, or a natural person's pseudonym with `authority_name` {cat.SELF_SOURCE_NAME} and no `system` |
| `occurred_on` | the legal date of the fact (valid time), not after today |
| `recorded_at` | never sent: the ledger's edge stamps it when it accepts the event |
| `classification` | {", ".join(cat.CLASSIFICATIONS)}; by default the type's own |
| `payload` | the type's fields, below |

## Bounds

Every value is checked at the edge, and a refusal names the field, the rule and the bound:

- dates (and the day of an instant) lie in {cat.DATE_BOUNDS}: nothing in this ledger predates the
  People's Republic, and nothing is scheduled past 2099, so every deadline computed from a date
  stays within the working-day calendar;
- money is integer fen from 0 to {cat.FEN_MAX:,} (1 yuan = 100 fen);
- `due_working_days` of a commitment lies in 1..{cat.DUE_WORKING_DAYS_MAX} (three years of working days);
- short text (names, numbers, codes) has at most {cat.SHORT_CHARS_MAX} characters, long text (facts,
  content, grounds, reasons) at most {cat.TEXT_CHARS_MAX:,}, a list at most {cat.LIST_ITEMS_MAX} items.

## The rules a refusal names

| rule | meaning |
|---|---|
"""


def _constraint(fld: cat.Field) -> str:
    if fld.kind in (cat.ENUM, cat.ENUM_LIST):
        return ", ".join(fld.values)
    if fld.bounds is not None:
        return str(fld.bounds)
    if fld.kind in (cat.STR, cat.STR_LIST):
        return f"≤ {fld.max_chars:,} characters"
    return ""


def event_docs() -> str:
    lines = [HEADER.rstrip("\n")]
    lines += [f"| `{rule}` | {meaning} |" for rule, meaning in EDGE_RULES.items()]
    lines += ["", "## The ledger's rules", "",
              "An event the edge accepted can still break a rule over the subject's history (a repair for an",
              "unknown record, a commitment fulfilled twice). It then changes nothing, and its reasons are in the",
              "subject's file (`rejected`) and on `credit.rejected`:", "", "| rule | meaning |", "|---|---|"]
    lines += [f"| `{rule}` | {meaning} |" for rule, meaning in RULES.items()]
    lines += [f"| `{INTERNAL_ERROR}` | the fold raised on the event (a bug in the ledger, not in the event): it is "
              "set aside, the subject's file stays as before it, and the operators are alerted |"]
    lines += ["", "## Types", ""]
    for spec in cat.EVENT_TYPES.values():
        written_by = "the ledger itself only (its timers; the worker, for an erasure), never a publisher" \
            if spec.system else "publishers"
        lines += [f"### {spec.name}", "", f"{spec.doc} Written by {written_by}; "
                  f"classification {spec.default_classification} by default.", "",
                  "| field | kind | required | values | what |", "|---|---|---|---|---|"]
        lines += [f"| `{fld.name}` | {KIND_WORDS[fld.kind]} | {'yes' if fld.required else 'no'} | "
                  f"{_constraint(fld)} | {fld.doc} |" for fld in spec.fields]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(event_docs(), end="")
