"""The measures catalogue and the public view of a list entry."""
from __future__ import annotations

import pytest

from ops.demo import demo_events
from projections.fold import credit_file
from projections.lists import MEASURES, active_entries, describe, listed_on, parse_measures, public_entry
from tests.unit import events as ev
from tests.unit.test_fold_rules import given


def test_every_measure_the_demo_uses_is_in_the_catalogue_with_its_authority():
    used = {m for e in demo_events() if e["type"] == "ListEntered" for m in e["payload"]["measures"]}
    assert used <= set(MEASURES)
    assert all(m.name and m.authority and m.kind in ("REWARD", "PUNISHMENT") for m in MEASURES.values())
    assert {"GOV_PROCUREMENT_BAN", "HIGH_CONSUMPTION_BAN", "BIDDING_BAN", "GREEN_CHANNEL", "DEFERRED_DOCUMENTS"} <= set(MEASURES)


def test_an_unknown_code_is_shown_not_dropped():
    assert describe(["GREEN_CHANNEL", "LOCAL_CODE_9"])[1] == {"code": "LOCAL_CODE_9", "known": False}
    assert describe(["GREEN_CHANNEL"])[0]["kind"] == "REWARD"


@pytest.mark.parametrize("text, key", [
    ("X: {name: a, kind: BONUS, authority: b, basis: c}", "measures.X.kind"),
    ("X: {name: a, kind: REWARD}", "measures.X"),
    ("- just a list", "measures"),
])
def test_a_bad_catalogue_names_the_code(text, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        parse_measures(text)


def test_the_credit_file_shows_each_entry_s_measures():
    state = given(ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["HIGH_CONSUMPTION_BAN"]))
    (entry,) = credit_file(state)["records"]["lists"]
    assert entry["measures"] == ["HIGH_CONSUMPTION_BAN"]
    assert entry["measure_details"][0]["name"] == "限制高消费及非生活和工作必需的消费"


def test_only_active_public_entries_are_on_a_public_list():
    state = given(ev.list_entered("L-1", list_kind="RED_LIST"), ev.list_entered("L-2", list_kind="OTHER_BLACKLIST"),
                  ev.list_exited("L-2"),
                  ev.valid("ListEntered", {"entry_id": "L-3", "list_kind": "OTHER_BLACKLIST", "reason": "内部名单",
                                           "measures": ["ENHANCED_INSPECTION"]}, ev.DAY, classification="INTERNAL"))
    assert active_entries(state) == {ev.key_of("L-1"): "RED_LIST"}  # by key: the listing authority's, its id
    view = public_entry(state, ev.key_of("L-1"))
    assert view["entry_id"] == "L-1"
    assert (view["subject_id"], view["list_kind"], view["entered_on"], view["status"]) == (ev.COMPANY, "RED_LIST",
                                                                                          ev.DAY, "ACTIVE")
    assert view["authority"] == "郑州市市场监督管理局" and view["measures"][0]["code"] == "PUBLIC_NOTICE"


def test_a_public_list_shows_an_entry_until_its_term_ends_timer_or_not():
    state = given(ev.list_entered("L-T", list_kind="OTHER_BLACKLIST", term_until="2025-03-31"),
                  ev.list_entered("L-OPEN", list_kind="OTHER_BLACKLIST"),
                  ev.list_entered("L-OUT", list_kind="OTHER_BLACKLIST"),
                  ev.list_exited("L-OUT"))
    term = ev.key_of("L-T")
    assert listed_on(state, term, "2025-03-31") and not listed_on(state, term, "2025-04-01")  # before ListTermEnded
    assert listed_on(state, ev.key_of("L-OPEN"), "2099-12-31")  # no term: until it is exited
    assert not listed_on(state, ev.key_of("L-OUT"), ev.DAY)


def test_a_public_list_entry_is_exactly_what_the_public_may_read():
    state = given(ev.list_entered("L-1", list_kind="OTHER_BLACKLIST", term_until="2026-03-31"))
    view = public_entry(state, ev.key_of("L-1"))
    assert {k: v for k, v in view.items() if k != "measures"} == {
        "subject_id": ev.COMPANY, "subject_kind": "LEGAL_PERSON", "category": "ENTERPRISE",
        "civil_code_kind": "FOR_PROFIT_LEGAL_PERSON", "name": "郑州金水宏达机械制造有限公司", "entry_id": "L-1",
        "list_kind": "OTHER_BLACKLIST", "reason": "未按照规定期限公示年度报告", "entered_on": ev.DAY,
        "term_until": "2026-03-31", "authority": "郑州市市场监督管理局", "status": "ACTIVE", "sector": None}
    assert [m["code"] for m in view["measures"]] == ["PUBLIC_NOTICE"] and view["measures"][0]["known"]
