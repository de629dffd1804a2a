"""The catalogue's field builders (projections/catalogue.py): the defaults every field of the contract takes,
and the fields every 双公示 record carries, as the publishers' reference (docs/events.md) prints them.
The catalogue is built once at import; these call the builders themselves."""
from __future__ import annotations

from pathlib import Path

from ops.event_docs import KIND_WORDS, _constraint
from projections import catalogue as cat
from projections.catalogue import Bounds, CodeFormat, Field, _exemption_fields, f, text

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_a_field_is_required_short_text_unless_it_says_otherwise():
    assert f("decision_no") == Field("decision_no", "str", True, (), 200, "", None, None)
    assert f("note", required=False, doc="备注") == Field("note", "str", False, (), 200, "备注", None, None)
    assert f("severity", "enum", values=["GENERAL", "SEVERE"]) == Field(
        "severity", "enum", True, ("GENERAL", "SEVERE"), 200, "", None, None)  # the values as a tuple
    code = CodeFormat("GB/T 2260", r"[0-9]{6}", "410105")
    assert f("region_code", code=code).code == code


def test_money_and_dates_take_the_catalogue_s_bounds_unless_given_their_own():
    assert f("fine_fen", "int") == Field("fine_fen", "int", True, (), 200, "", Bounds(0, 10**15), None)
    assert f("valid_from", "date").bounds == Bounds("1949-10-01", "2099-12-31")
    assert f("days", "int", bounds=Bounds(1, 750)).bounds == Bounds(1, 750)
    assert f("flag", "bool").bounds is None and f("kinds", "enum_list").bounds is None


def test_long_text_takes_8000_characters():
    assert text("facts") == Field("facts", "str", True, (), 8000, "", None, None)
    assert text("reason", required=False, doc="why") == Field("reason", "str", False, (), 8000, "why", None, None)


def test_every_record_of_the_double_publicity_carries_its_exemption_and_import_fields_as_documented():
    fields = _exemption_fields()
    assert [(fld.name, fld.kind, fld.required) for fld in fields] == [
        ("exemption", "enum", False), ("exemption_basis", "str", False), ("historical", "bool", False)]
    assert fields[0].values == ("STATE_SECRET", "TRADE_SECRET", "PERSONAL_PRIVACY")
    assert (fields[1].max_chars, fields[0].max_chars, fields[2].max_chars) == (8000, 200, 200)
    published = DOCS.read_text(encoding="utf-8").splitlines()
    for fld in fields:  # the row docs/events.md prints for it, word for word
        row = f"| `{fld.name}` | {KIND_WORDS[fld.kind]} | no | {_constraint(fld)} | {fld.doc} |"
        assert published.count(row) == 2, row  # PermitGranted and PenaltyImposed
    assert [fld.name for fld in cat.EVENT_TYPES["PenaltyImposed"].fields if fld in fields] == [
        "exemption", "exemption_basis", "historical"]
