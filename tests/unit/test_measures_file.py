"""The measures catalogue's file format (projections/measures.yaml): what a well-formed file reads as, and
the key each refusal names. The packaged file is read once at import; these read texts of their own."""
from __future__ import annotations

import re

import pytest

from projections.measures import Measure, _parse, parse_measures

TWO_CODES = """
defaults_by_list_kind:
  RED_LIST: [GREEN_CHANNEL]
  PROCUREMENT_BAN: [BAN, GREEN_CHANNEL]
GREEN_CHANNEL: {name: 绿色通道, kind: REWARD, authority: 审批部门, basis: 守信激励}
BAN: {name: 限制参加政府采购活动, kind: PUNISHMENT, authority: 财政部门, basis: 2021}
"""


def test_a_well_formed_catalogue_reads_as_its_codes_and_defaults():
    expected = {"GREEN_CHANNEL": Measure("GREEN_CHANNEL", "绿色通道", "REWARD", "审批部门", "守信激励"),
                "BAN": Measure("BAN", "限制参加政府采购活动", "PUNISHMENT", "财政部门", "2021")}  # a number as text
    assert parse_measures(TWO_CODES) == expected
    assert _parse(TWO_CODES) == (expected, {"RED_LIST": ("GREEN_CHANNEL",), "PROCUREMENT_BAN": ("BAN", "GREEN_CHANNEL")})


def test_a_catalogue_without_defaults_has_none():
    text = "BAN: {name: 限制, kind: PUNISHMENT, authority: 财政部门, basis: 备忘录}"
    assert _parse(text) == ({"BAN": Measure("BAN", "限制", "PUNISHMENT", "财政部门", "备忘录")}, {})
    assert _parse("defaults_by_list_kind:\n" + text) == ({"BAN": Measure("BAN", "限制", "PUNISHMENT", "财政部门", "备忘录")},
                                                         {})  # an empty defaults key: none either


ONE = "BAN: {name: 限制, kind: PUNISHMENT, authority: 财政部门, basis: 备忘录}\n"
KINDS = ("RED_LIST, SERIOUS_DISHONESTY, ABNORMAL_OPERATION, DISHONEST_JUDGMENT_DEBTOR, MAJOR_TAX_VIOLATION, "
         "PROCUREMENT_BAN, OTHER_BLACKLIST")


@pytest.mark.parametrize("text, message", [
    ("- a list", "measures: must map codes to measures"),
    ("defaults_by_list_kind: [BAN]\n" + ONE,
     f"measures.defaults_by_list_kind: maps list kinds ({KINDS}) to codes"),
    ("defaults_by_list_kind: {BLUE_LIST: [BAN]}\n" + ONE,
     f"measures.defaults_by_list_kind: maps list kinds ({KINDS}) to codes"),
    ("defaults_by_list_kind: {RED_LIST: BAN}\n" + ONE,
     "measures.defaults_by_list_kind.RED_LIST: a non-empty list of the catalogue's codes"),
    ("defaults_by_list_kind: {RED_LIST: 5}\n" + ONE,
     "measures.defaults_by_list_kind.RED_LIST: a non-empty list of the catalogue's codes"),
    ("defaults_by_list_kind: {RED_LIST: []}\n" + ONE,
     "measures.defaults_by_list_kind.RED_LIST: a non-empty list of the catalogue's codes"),
    ("defaults_by_list_kind: {RED_LIST: [BAN, GREEN_CHANNEL]}\n" + ONE,
     "measures.defaults_by_list_kind.RED_LIST: a non-empty list of the catalogue's codes"),
])
def test_a_bad_catalogue_is_refused_with_its_key_and_rule(text, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_measures(text)
