"""Joint measures' feedback and the credit check at the point of action (issue 31 part 3), in the pure parts:
the edge's validation of MeasureApplied and MeasureDeclined, the policy register that says who implements
which measure, GET /subjects/{id}/measures' request, answer and access-log decision, what a reader below the
supervisors sees of the feedback, and the per-department case counts of the statistics. The fold's rules
have their tests in test_fold_rules.py."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from projections import access, measure_checks
from projections.access import Principal
from projections.canonical import SHANGHAI
from projections.fold import credit_file, fold
from projections.ids import make_resident_id, make_uscc
from projections.policy import DEFAULT_POLICY, implemented_measures, parse_policy
from projections.stats import disclosure_stats, flat_row, period
from projections.validate import validate_event
from tests.unit import events as ev

COURT = make_uscc("410100", 6, "1", "1")  # 郑州市中级人民法院 (ops/demo.py serial 6)
TODAY = "2025-02-10"


def state_of(*events: dict) -> dict:
    state = None
    for offset, event in enumerate([ev.subject_registered(), *events]):
        state, outcome = fold(state, event, offset)
        assert outcome.kind == "applied", outcome.reasons
    return state


def blacklisted(*events: dict) -> dict:
    return state_of(ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["BIDDING_BAN", "PUBLIC_NOTICE"]),
                    ev.list_entered("L-2", list_kind="DISHONEST_JUDGMENT_DEBTOR",
                                    measures=["HIGH_CONSUMPTION_BAN", "BIDDING_BAN"]), *events)


# --- the edge -------------------------------------------------------------------------------------
def test_feedback_validates_and_names_each_bad_field():
    good = ev.event("MeasureApplied", {"case_id": "K-1", "entry_id": "L-1", "measure": "BIDDING_BAN",
                                       "matter": "ZB-2025-7", "result": "不予通过资格审查"})
    event, problems = validate_event(good, ev.CTX)
    assert problems == [] and event["classification"] == "INTERNAL"  # a case report is internal unless said
    bad = ev.event("MeasureDeclined", {"case_id": "K-1", "entry_id": "L-1", "measure": "NO_SUCH_MEASURE",
                                       "result": "x" * 8_001})
    _, problems = validate_event(bad, ev.CTX)
    assert {(p.field, p.rule) for p in problems} == {
        ("payload.measure", "measure_code"), ("payload.matter", "required"), ("payload.result", "max_length")}


def test_the_policy_register_names_who_implements_which_measure():
    assert implemented_measures(DEFAULT_POLICY, ev.HOUSING) == ("BIDDING_BAN", "ENHANCED_INSPECTION",
                                                                "REDUCED_INSPECTION")
    assert implemented_measures(DEFAULT_POLICY, COURT) == ("HIGH_CONSUMPTION_BAN", "EXIT_RESTRICTION")
    assert implemented_measures(DEFAULT_POLICY, make_uscc("410100", 99, "1", "1")) == ()  # not registered


def test_a_register_naming_an_unknown_measure_is_refused_with_its_key():
    first = DEFAULT_POLICY.authority_register[0]
    with pytest.raises(ValueError, match=r"authorities\.register\[0\]\.measures"):
        replace(DEFAULT_POLICY, authority_register=(replace(first, measures=("NO_SUCH",)),
                                                    *DEFAULT_POLICY.authority_register[1:]))
    with pytest.raises(ValueError, match=r"authorities\.register\[0\]\.measures"):
        replace(DEFAULT_POLICY, authority_register=(replace(first, measures=("BIDDING_BAN", "BIDDING_BAN")),
                                                    *DEFAULT_POLICY.authority_register[1:]))


# --- the request of GET /subjects/{id}/measures -----------------------------------------------------
HOUSING_PUBLISHER = Principal("housing", access.PUBLISHER, ev.HOUSING)
SUPERVISOR = Principal("sup", access.SUPERVISOR)
QUERY = {"authority": ev.HOUSING, "purpose": "工程建设项目招标投标资格审查", "matter": "郑建招〔2025〕7号"}


def test_a_department_checks_as_itself():
    assert measure_checks.check_request(QUERY, HOUSING_PUBLISHER) == (QUERY, [])
    _, problems = measure_checks.check_request({**QUERY, "authority": COURT}, HOUSING_PUBLISHER)
    assert [(p.field, p.rule) for p in problems] == [("authority", measure_checks.FORBIDDEN_RULE)]
    assert measure_checks.check_request({**QUERY, "authority": COURT}, SUPERVISOR)[1] == []  # a supervisor: any


@pytest.mark.parametrize("query, field, rule", [
    ({"purpose": "审查", "matter": "M-1"}, "authority", "required"),
    ({**QUERY, "authority": "91440300192203821X"}, "authority", "uscc"),
    ({**QUERY, "purpose": ""}, "purpose", "required"),
    ({**QUERY, "purpose": "审" * (measure_checks.PURPOSE_CHARS_MAX + 1)}, "purpose", "max_length"),
    ({k: v for k, v in QUERY.items() if k != "matter"}, "matter", "required"),
    ({**QUERY, "matter": "M" * (measure_checks.MATTER_CHARS_MAX + 1)}, "matter", "max_length"),
    ({**QUERY, "matter": "投标人" + make_resident_id("410105", datetime(1985, 3, 14).date(), 7)},
     "matter", "personal_identifier"),
    ({**QUERY, "as_of": "2025-01-01"}, "as_of", "unknown_field"),
])
def test_a_bad_request_names_the_parameter_and_the_rule(query, field, rule):
    request, problems = measure_checks.check_request(query, SUPERVISOR)
    assert request is None and (field, rule) in {(p.field, p.rule) for p in problems}
    assert not any(p.rule == measure_checks.FORBIDDEN_RULE for p in problems)


# --- the answer -------------------------------------------------------------------------------------
def test_the_measures_binding_a_department_are_those_it_implements_of_the_entries_in_force():
    state = blacklisted()
    found = measure_checks.binding_measures(state, ev.HOUSING, TODAY, DEFAULT_POLICY)
    assert [(m["entry_id"], m["measure"]) for m in found] == [("L-1", "BIDDING_BAN"), ("L-2", "BIDDING_BAN")]
    first = found[0]
    assert (first["list_kind"], first["kind"], first["entry_authority_code"]) == (
        "SERIOUS_DISHONESTY", "PUNISHMENT", ev.AUTHORITY)
    assert first["name"] == "限制参与工程建设项目招标投标" and first["basis"] and first["term_until"] == "2028-01-05"  # 36 months (R1)
    court = measure_checks.binding_measures(state, COURT, TODAY, DEFAULT_POLICY)
    assert [(m["entry_id"], m["measure"]) for m in court] == [("L-2", "HIGH_CONSUMPTION_BAN")]


def test_an_entry_no_longer_in_force_binds_nobody():
    exited = blacklisted(ev.list_exited("L-1", on="2025-01-20"))
    assert [m["entry_id"] for m in measure_checks.binding_measures(exited, ev.HOUSING, TODAY, DEFAULT_POLICY)] == ["L-2"]
    ended = state_of(ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["BIDDING_BAN"],
                                     term_until="2025-02-09"))  # before the timers' ListTermEnded arrives
    assert measure_checks.binding_measures(ended, ev.HOUSING, TODAY, DEFAULT_POLICY) == []
    assert measure_checks.binding_measures(ended, ev.HOUSING, "2025-02-09", DEFAULT_POLICY) != []


def test_an_unknown_subject_or_an_unregistered_authority_is_bound_by_nothing():
    assert measure_checks.binding_measures(None, ev.HOUSING, TODAY, DEFAULT_POLICY) == []
    assert measure_checks.binding_measures(blacklisted(), make_uscc("410100", 99, "1", "1"), TODAY,
                                           DEFAULT_POLICY) == []


def test_the_check_is_logged_with_its_purpose_and_matter():
    found = measure_checks.binding_measures(blacklisted(), ev.HOUSING, TODAY, DEFAULT_POLICY)
    decision = measure_checks.decision(HOUSING_PUBLISHER, ev.COMPANY, QUERY, found)
    record = access.access_record(decision, "GET /subjects/{id}/measures", "2025-02-10T09:00:00+08:00")
    assert (record["action"], record["authority_code"], record["subject_id"]) == ("measure_check", ev.HOUSING,
                                                                                   ev.COMPANY)
    assert record["record_ids"] == ["L-1", "L-2"] and record["record_count"] == 2
    assert "purpose: 工程建设项目招标投标资格审查" in record["reason"] and "matter: 郑建招〔2025〕7号" in record["reason"]
    nothing = measure_checks.decision(HOUSING_PUBLISHER, ev.COMPANY, QUERY, [])  # a check that found nothing
    assert nothing.non_public and nothing.record_ids == () and "0 measure(s)" in nothing.reason


def test_feedback_is_shown_to_supervisors_not_to_the_public():
    state = state_of(ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["BIDDING_BAN"]),
                     ev.measure_feedback(on="2025-01-07"))
    file = credit_file(state)
    public, _ = access.view_file(file, state, access.ANONYMOUS_PRINCIPAL, TODAY)
    (entry,) = public["records"]["lists"]
    assert "feedback" not in entry and "feedback_counts" not in entry
    supervised, _ = access.view_file(file, state, SUPERVISOR, TODAY)
    assert supervised["records"]["lists"][0]["feedback_counts"] == {"BIDDING_BAN": {"APPLIED": 1, "DECLINED": 0}}


# --- the statistics: 联合奖惩 cases per department ------------------------------------------------------
def test_case_counts_per_department_and_measure():
    court_source = {"authority_code": COURT, "authority_name": "郑州市中级人民法院"}
    events = [ev.subject_registered(),
              ev.list_entered("L-2", "2025-02-03", list_kind="DISHONEST_JUDGMENT_DEBTOR",
                              measures=["HIGH_CONSUMPTION_BAN", "BIDDING_BAN"]),
              ev.measure_feedback(case_id="K-1", entry_id="L-2", on="2025-03-03"),
              ev.measure_feedback("MeasureDeclined", case_id="K-2", entry_id="L-2", on="2025-03-04"),
              ev.measure_feedback(case_id="K-3", entry_id="L-2", on="2025-03-05"),
              ev.measure_feedback(case_id="K-4", entry_id="L-2", on="2025-04-01"),  # April's
              ev.measure_feedback(case_id="K-1", entry_id="L-2", measure="HIGH_CONSUMPTION_BAN", on="2025-03-10",
                                  source=court_source),
              ev.measure_feedback(case_id="K-9", entry_id="L-2", measure="PUBLIC_NOTICE", on="2025-03-11")]  # rejected
    logged = [(0, offset, event) for offset, event in enumerate(events)]
    result = disclosure_stats(logged, [], period("2025-03-01", "2025-03-31"),
                              datetime(2025, 4, 30, tzinfo=SHANGHAI), DEFAULT_POLICY)
    rows = {row["authority_code"]: row for row in result["rows"]}
    housing, court = rows[ev.HOUSING], rows[COURT]
    assert (housing["measures_applied"], housing["measures_declined"]) == (2, 1)
    assert housing["measures_by_code"] == {"BIDDING_BAN": {"applied": 2, "declined": 1}}
    assert court["measures_by_code"] == {"HIGH_CONSUMPTION_BAN": {"applied": 1, "declined": 0}}
    assert result["totals"]["measures_applied"] == 3 and result["totals"]["measures_declined"] == 1
    assert result["totals"]["measures_by_code"] == {"BIDDING_BAN": {"applied": 2, "declined": 1},
                                                    "HIGH_CONSUMPTION_BAN": {"applied": 1, "declined": 0}}
    assert flat_row(housing)["measures_by_code"] == "BIDDING_BAN=2/1"
    region = disclosure_stats(logged, [], period("2025-03-01", "2025-03-31"),
                              datetime(2025, 4, 30, tzinfo=SHANGHAI), DEFAULT_POLICY, by="region")
    (zhengzhou,) = [row for row in region["rows"] if row["region"] == "410100"]
    assert zhengzhou["measures_by_code"] == result["totals"]["measures_by_code"]


def test_one_measure_of_two_departments_is_summed_by_code_and_each_code_is_a_cell_of_its_own():
    """The housing bureau and the 发展和改革委员会 both implement BIDDING_BAN (the packaged register), both in
    郑州 (410100): the region's row and the totals add their cases code by code, in the order of the codes, and
    a row with cases of several measures is written as cells joined by ";"."""
    court_source = {"authority_code": COURT, "authority_name": "郑州市中级人民法院"}
    events = [ev.subject_registered(),
              ev.list_entered("L-2", "2025-02-03", list_kind="DISHONEST_JUDGMENT_DEBTOR",
                              measures=["HIGH_CONSUMPTION_BAN", "BIDDING_BAN", "INVOICE_RESTRICTION"]),
              ev.measure_feedback(case_id="K-1", entry_id="L-2", on="2025-03-03"),
              ev.measure_feedback("MeasureDeclined", case_id="K-2", entry_id="L-2", on="2025-03-04"),
              ev.measure_feedback(case_id="K-3", entry_id="L-2", on="2025-03-05", source=ev.CREDIT_OFFICE_SOURCE),
              # the tax bureau, before the housing bureau in the register: its code comes first, and sorts last
              ev.measure_feedback(case_id="K-6", entry_id="L-2", measure="INVOICE_RESTRICTION", on="2025-03-07",
                                  source={"authority_code": ev.AUTHORITY, "authority_name": "国家税务总局郑州市税务局"}),
              ev.measure_feedback("MeasureDeclined", case_id="K-4", entry_id="L-2", on="2025-03-06",
                                  source=ev.CREDIT_OFFICE_SOURCE),
              ev.measure_feedback(case_id="K-5", entry_id="L-2", measure="HIGH_CONSUMPTION_BAN", on="2025-03-10",
                                  source=court_source)]
    logged = [(0, offset, event) for offset, event in enumerate(events)]
    march, report = period("2025-03-01", "2025-03-31"), datetime(2025, 4, 30, tzinfo=SHANGHAI)
    by_authority = disclosure_stats(logged, [], march, report, DEFAULT_POLICY)
    assert by_authority["totals"]["measures_by_code"] == {"BIDDING_BAN": {"applied": 2, "declined": 2},
                                                          "HIGH_CONSUMPTION_BAN": {"applied": 1, "declined": 0},
                                                          "INVOICE_RESTRICTION": {"applied": 1, "declined": 0}}
    assert list(by_authority["totals"]["measures_by_code"]) == ["BIDDING_BAN", "HIGH_CONSUMPTION_BAN",
                                                                "INVOICE_RESTRICTION"]
    region = disclosure_stats(logged, [], march, report, DEFAULT_POLICY, by="region")
    (zhengzhou,) = [row for row in region["rows"] if row["region"] == "410100"]
    assert zhengzhou["measures_by_code"] == by_authority["totals"]["measures_by_code"]
    assert flat_row(zhengzhou)["measures_by_code"] == "BIDDING_BAN=2/2;HIGH_CONSUMPTION_BAN=1/0;INVOICE_RESTRICTION=1/0"


def test_a_policy_file_without_measures_still_reads():
    text = (__import__("importlib").resources.files("projections") / "policies" / "2024.1.yaml").read_text("utf-8")
    stripped = "\n".join(line for line in text.splitlines() if not line.strip().startswith("measures: ["))
    stripped = stripped.replace("INSPECTION],\n", "INSPECTION]}\n").replace("LIST],\n", "LIST]}\n") \
        .replace("RATING],\n", "RATING]}\n").replace("COMMITMENT],\n", "COMMITMENT]}\n")
    policy = parse_policy(stripped)
    assert all(entry.measures == () for entry in policy.authority_register)


# --- who may write it: the edge (403) ---------------------------------------------------------------
def test_a_department_files_feedback_only_on_a_measure_it_implements():
    from projections.access import forbidden, publish_problems
    housing = ev.measure_feedback()  # the housing bureau's bidding ban
    assert publish_problems(HOUSING_PUBLISHER, housing, DEFAULT_POLICY) == []
    tax_publisher = Principal("tax", access.PUBLISHER, ev.AUTHORITY)
    as_tax = ev.measure_feedback(source={"authority_code": ev.AUTHORITY, "authority_name": "国家税务总局郑州市税务局"})
    problems = publish_problems(tax_publisher, as_tax, DEFAULT_POLICY)
    assert [(p.field, p.rule) for p in problems] == [("payload.measure", "measure_implementer")] and forbidden(problems)
    assert publish_problems(tax_publisher, {**as_tax, "payload": {**as_tax["payload"], "measure": "INVOICE_RESTRICTION"}},
                            DEFAULT_POLICY) == []
    # in another's name it is the publisher_authority rule, whatever the measure
    assert [p.rule for p in publish_problems(tax_publisher, housing, DEFAULT_POLICY)] == ["publisher_authority"]
    # an admin (the operator's import) is not asked; the fold still is (test_fold_rules.py)
    assert publish_problems(access.OPERATOR, as_tax, DEFAULT_POLICY) == []


def test_the_report_shows_the_feedback_to_whom_the_view_keeps_it():
    from streams.report import render_report
    state = state_of(ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["BIDDING_BAN"]),
                     ev.measure_feedback(on="2025-01-07"),
                     ev.measure_feedback("MeasureDeclined", "K-2", on="2025-01-08", result="不属于工程建设项目"))
    file = credit_file(state)
    supervised, _ = access.view_file(file, state, SUPERVISOR, TODAY)
    page = render_report(supervised, [], "2025-02-10T09:00:00+08:00")
    assert "实施反馈" in page and "<td>BIDDING_BAN</td><td>1</td><td>1</td>" in page.replace("\n", "")
    public, _ = access.view_file(file, state, access.ANONYMOUS_PRINCIPAL, TODAY)
    assert "实施反馈" not in render_report(public, [], "2025-02-10T09:00:00+08:00")
