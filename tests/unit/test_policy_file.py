"""A policy file's refusals, whole: the file, the key and the words an operator reads, for each rule of
projections/policy.py, and each bound at the bound and one past it. Every case changes the packaged
file in one place; the expected texts are written from the rules, not read back from a run."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from projections import policy as module
from projections.ids import make_uscc
from projections.policy import (DEFAULT_POLICY, POLICY_FILE_BYTES_MAX, AuthorityEntry, PolicyBook, parse_policy,
                                register_problems)

TEXT = (Path(module.__file__).parent / "policies" / "2024.1.yaml").read_text(encoding="utf-8")
PREFIX = "bad.yaml: policy 2024.1: "
CATEGORIES = ("ENTERPRISE, INDIVIDUAL_BUSINESS, FARMER_COOPERATIVE, ORGAN, PUBLIC_INSTITUTION, SOCIAL_ORGANIZATION, "
              "SELF_GOVERNING, RURAL_COLLECTIVE, OTHER_ORGANIZATION, NATURAL_PERSON")
PENALTY_KINDS = ("WARNING, NOTICE_OF_CRITICISM, FINE, CONFISCATION, CERTIFICATE_DOWNGRADE, CERTIFICATE_REVOCATION, "
                 "PRODUCTION_RESTRICTION, SUSPENSION, EMPLOYMENT_RESTRICTION, DETENTION, OTHER")
LIST_KINDS = ("RED_LIST, SERIOUS_DISHONESTY, ABNORMAL_OPERATION, DISHONEST_JUDGMENT_DEBTOR, MAJOR_TAX_VIOLATION, "
              "PROCUREMENT_BAN, OTHER_BLACKLIST")
ACTIONS = ("PermitRevoked, PenaltyFulfilled, PenaltyRevoked, CommitmentFulfilled, CommitmentBreached, ListExited, "
           "ObjectionFiled, ObjectionAccepted, ObjectionResolved, RepairRequested, RepairAccepted, RepairDecided")
REGISTER_KEYS = "code, name, region, industry, matters"


def changed(old: str, new: str) -> str:
    """The packaged file with `old` (which it holds exactly once) replaced by `new`."""
    assert TEXT.count(old) == 1, old
    return TEXT.replace(old, new)


def refusal(text: str, source: str = "bad.yaml") -> str:
    with pytest.raises(ValueError) as caught:
        parse_policy(text, source)
    return str(caught.value)


D = DEFAULT_POLICY
SEVERITY_OF = dict(D.severity_by_penalty_kind)
LIST_POINTS = dict(D.list_points)
QUOTAS = {"publisher": 6000, "admin": 6000000}
OUTCOMES = "NO_PROBLEM, PROBLEM_CORRECTED, PROBLEM_FOUND, NO_ACTIVITY, UNREACHABLE"

# (the fields changed from the packaged policy, the key and words of the one problem)
REFUSED = [
    ({"effective_from": "someday"}, "effective_from: must be a date like 2024-01-01"),
    ({"effective_from": "20200101"}, "effective_from: must be a date like 2024-01-01"),
    ({"public_unless_exempt": 1}, "disclosure.public_unless_exempt: true or false"),
    ({"min_publicity_months_by_severity": {"GENERAL": 3, "SERIOUS": 3}},
     "publicity.min_months_by_severity: needs exactly GENERAL, SERIOUS, SEVERE"),
    ({"min_publicity_months_by_penalty_kind": {"FLOGGING": 3}},
     "publicity.min_months_by_penalty_kind: unknown penalty kind"),
    ({"max_publicity_months": 121}, "publicity.max_months: a whole number of months in 1..120"),
    ({"max_publicity_months": 0}, "publicity.max_months: a whole number of months in 1..120"),
    ({"max_publicity_months": "36"}, "publicity.max_months: a whole number of months in 1..120"),
    ({"escalation_measures": ("GOV_PROCUREMENT_BAN", "NO_SUCH_MEASURE")},
     "lists.escalation_measures: at most 32 codes of the catalogue of joint measures (projections/measures.yaml)"),
    ({"escalation_measures": ("GOV_PROCUREMENT_BAN",) * 33},
     "lists.escalation_measures: at most 32 codes of the catalogue of joint measures (projections/measures.yaml)"),
    ({"rating_points": {"TAX": 30}}, "grading.rating_points: each rating kind a mapping of levels to points"),
    ({"inspection_ratios": {"A": "0.1", "B": 0.05, "C": 0.10, "D": 1}},
     "inspection_ratios: a ratio in 0..1 for each of A, B, C, D"),
    ({"max_publicity_months_by_penalty_kind": {"FINE": 121}},
     "publicity.max_months_by_penalty_kind: penalty kinds, each a whole number of months in 1..120"),
    ({"max_publicity_months_by_penalty_kind": {"FINE": 0}},
     "publicity.max_months_by_penalty_kind: penalty kinds, each a whole number of months in 1..120"),
    ({"max_publicity_months_by_penalty_kind": {"FLOGGING": 12}},
     "publicity.max_months_by_penalty_kind: penalty kinds, each a whole number of months in 1..120"),
    ({"small_penalty_months": 0}, "publicity.small_penalty_months: whole months in 1..max_months"),
    ({"small_penalty_months": 37}, "publicity.small_penalty_months: whole months in 1..max_months"),
    ({"small_fine_max_fen": {"NATURAL_PERSON": -1, "ORGANISATION": 300000}},
     "publicity.small_fine_max_fen: NATURAL_PERSON and ORGANISATION, each a whole number of fen"),
    ({"small_fine_max_fen": {"NATURAL_PERSON": 20000}},
     "publicity.small_fine_max_fen: NATURAL_PERSON and ORGANISATION, each a whole number of fen"),
    ({"restriction_kinds": {"FLOGGING", "FINE"}}, "publicity.restriction_kinds: unknown penalty kind"),
    ({"nothing_to_fulfil_kinds": {"FLOGGING", "WARNING"}}, "publicity.nothing_to_fulfil_kinds: unknown penalty kind"),
    ({"special_sector_min_publicity_months": 37}, "publicity: minimums are whole months in 1..max_months"),
    ({"min_publicity_months_by_severity": {"GENERAL": 0, "SERIOUS": 3, "SEVERE": 12}},
     "publicity: minimums are whole months in 1..max_months"),
    ({"min_publicity_months_by_penalty_kind": {"FINE": 37}}, "publicity: minimums are whole months in 1..max_months"),
    ({"commitment_breach_months": (13, 12)},
     "publicity.commitment_breach_min_months/max_months: whole months, 1 <= min <= max <= 120"),
    ({"commitment_breach_months": (0, 12)},
     "publicity.commitment_breach_min_months/max_months: whole months, 1 <= min <= max <= 120"),
    ({"false_commitment_months": (12, 121)},
     "publicity.false_commitment_min_months/max_months: whole months, 1 <= min <= max <= 120"),
    ({"disclosure_working_days": 0}, "working_days.disclosure: a whole number in 1..120"),
    ({"disclosure_working_days": 121}, "working_days.disclosure: a whole number in 1..120"),
    ({"objection_decision_working_days": 0}, "working_days.objection_decision: a whole number in 1..120"),
    ({"objection_acceptance_working_days": 0}, "working_days.objection_acceptance: a whole number in 1..120"),
    ({"repair_acceptance_working_days": 0}, "working_days.repair_acceptance: a whole number in 1..120"),
    ({"repair_decision_working_days": 0}, "working_days.repair_decision: a whole number in 1..120"),
    ({"abnormal_operation_escalation_months": 121},
     "lists.abnormal_operation_escalation_months: a whole number in 1..120"),
    ({"red_list_severe_penalty_months": 0}, "lists.red_list_severe_penalty_months: a whole number in 1..120"),
    ({"term_months_by_kind": {"SERIOUS_DISHONESTY": 121}},
     "lists.term_months_by_kind: list kinds, each a whole number of months in 1..120"),
    ({"term_months_by_kind": {"SERIOUS_DISHONESTY": 36, "GOLD_LIST": 12}},
     "lists.term_months_by_kind: list kinds, each a whole number of months in 1..120"),
    ({"admitted_subjects": {"ABNORMAL_OPERATION": []}},
     f"lists.admitted_subjects: list kinds, each a list of registers among {CATEGORIES}"),
    ({"admitted_subjects": {"ABNORMAL_OPERATION": ["NOBODY"]}},
     f"lists.admitted_subjects: list kinds, each a list of registers among {CATEGORIES}"),
    ({"admitted_subjects": {"GOLD_LIST": ["ENTERPRISE"]}},
     f"lists.admitted_subjects: list kinds, each a list of registers among {CATEGORIES}"),
    ({"red_list_blocked_by": {"RED_LIST", "SERIOUS_DISHONESTY"}},
     "lists.red_list_blocked_by: list kinds other than RED_LIST"),
    ({"escalated_subjects": {"NOBODY", "ENTERPRISE"}}, f"lists.escalated_subjects: registers among {CATEGORIES}"),
    ({"severity_by_penalty_kind": {**SEVERITY_OF, "FINE": "HARSH"}},
     f"severity_by_penalty_kind: maps every penalty kind ({PENALTY_KINDS}) to one of GENERAL, SERIOUS, SEVERE"),
    ({"severity_by_penalty_kind": {k: v for k, v in SEVERITY_OF.items() if k != "FINE"}},
     f"severity_by_penalty_kind: maps every penalty kind ({PENALTY_KINDS}) to one of GENERAL, SERIOUS, SEVERE"),
    ({"penalty_points": {"GENERAL": -20, "SERIOUS": -60}},
     "grading.penalty_points: needs exactly GENERAL, SERIOUS, SEVERE"),
    ({"list_points": {k: v for k, v in LIST_POINTS.items() if k != "RED_LIST"}},
     f"grading.list_points: needs exactly {LIST_KINDS}"),
    ({"rating_points": {"GOLD": {"A": 1}}}, "grading.rating_points: unknown rating kind"),
    ({"penalty_points": {"GENERAL": -20, "SERIOUS": -60, "SEVERE": -1001}},
     "grading: points are whole numbers within ±1000"),
    ({"list_points": {**LIST_POINTS, "RED_LIST": 1001}}, "grading: points are whole numbers within ±1000"),
    ({"commitment_breached_points": 1001}, "grading: points are whole numbers within ±1000"),
    ({"false_commitment_points": -1001}, "grading: points are whole numbers within ±1000"),
    ({"rating_points": {"TAX": {"A": 1001}}}, "grading: points are whole numbers within ±1000"),
    ({"hard_d_lists": {"GOLD_LIST"}}, "grading.hard_rules.D: unknown list kind"),
    ({"grade_thresholds": {"A": 950, "B": 850, "C": 0}}, "grading.thresholds: A > B > C > 0, whole numbers"),
    ({"grade_thresholds": {"A": 850, "B": 850, "C": 700}}, "grading.thresholds: A > B > C > 0, whole numbers"),
    ({"grade_thresholds": {"A": 950, "B": 700, "C": 700}}, "grading.thresholds: A > B > C > 0, whole numbers"),
    ({"grade_thresholds": {"A": 950, "B": 850}}, "grading.thresholds: A > B > C > 0, whole numbers"),
    ({"grade_thresholds": {"A": 950.5, "B": 850, "C": 700}}, "grading.thresholds: A > B > C > 0, whole numbers"),
    ({"start_score": 0}, "grading.start_score: a positive whole number"),
    ({"start_score": 10001}, "grading.start_score: a positive whole number"),
    ({"individual_business_drawn": 1}, "inspection.individual_business_drawn: true or false"),
    ({"inspectors_per_subject": 0}, "inspection.inspectors_per_subject: a whole number in 1..10"),
    ({"inspectors_per_subject": 11}, "inspection.inspectors_per_subject: a whole number in 1..10"),
    ({"inspection_points": {"PROBLEM_FOUND": -20, "LOST": -50}},
     f"grading.inspection_points: outcomes among {OUTCOMES}, whole points"),
    ({"inspection_points": {"PROBLEM_FOUND": -20, "UNREACHABLE": -1001}},
     f"grading.inspection_points: outcomes among {OUTCOMES}, whole points"),
    ({"inspection_ratios": {"A": 0.02, "B": 0.05, "C": 0.10, "D": 1.01}},
     "inspection_ratios: a ratio in 0..1 for each of A, B, C, D"),
    ({"inspection_ratios": {"A": -0.01, "B": 0.05, "C": 0.10, "D": 0.30}},
     "inspection_ratios: a ratio in 0..1 for each of A, B, C, D"),
    ({"inspection_ratios": {"A": 0.02, "B": 0.05, "C": 0.10}},
     "inspection_ratios: a ratio in 0..1 for each of A, B, C, D"),
    ({"credit_office": {"1141010037207174X1"}},
     "authorities.credit_office: at most 100 unified social credit codes (GB 32100-2015)"),
    ({"credit_office": {1141010037207}},
     "authorities.credit_office: at most 100 unified social credit codes (GB 32100-2015)"),
    ({"credit_office_acts_on": {"PenaltyImposed", "ObjectionFiled"}},
     f"authorities.credit_office_acts_on: types among {ACTIONS}"),
    ({"quota_events_per_minute": {"publisher": 0, "admin": 6000000}},
     "quotas.events_per_minute: a whole number in 1..100,000,000 for each of publisher, admin"),
    ({"quota_events_per_minute": {"publisher": 6000}},
     "quotas.events_per_minute: a whole number in 1..100,000,000 for each of publisher, admin"),
    ({"quota_events_per_subject_per_day": {"publisher": 2000, "admin": 100_000_001}},
     "quotas.events_per_subject_per_day: a whole number in 1..100,000,000 for each of publisher, admin"),
    ({"quota_rejections_recorded_per_minute": {"publisher": 600, "admin": 0}},
     "quotas.rejections_recorded_per_minute: a whole number in 1..100,000,000 for each of publisher, admin"),
    ({"events_per_authority_per_subject": 0}, "quotas.events_per_authority_per_subject: a whole number in 1..100,000"),
    ({"events_per_authority_per_subject": 100_001},
     "quotas.events_per_authority_per_subject: a whole number in 1..100,000"),
]


@pytest.mark.parametrize(("fields", "problem"), REFUSED, ids=[case[1].split(":")[0] for case in REFUSED])
def test_each_rule_of_a_policy_is_refused_in_its_words(fields, problem):
    with pytest.raises(ValueError) as caught:
        replace(D, **fields)
    assert str(caught.value) == "policy 2024.1: " + problem


# The same rules at their bounds: each of these is still a policy.
TAKEN = [
    {"effective_from": "2020-01-01"},
    {"max_publicity_months_by_penalty_kind": {"FINE": 120, "WARNING": 1}},
    {"max_publicity_months": 120},
    {"escalation_measures": ()}, {"escalation_measures": ("GOV_PROCUREMENT_BAN",) * 32},
    {"min_publicity_months_by_penalty_kind": {"FINE": 36}},
    {"small_penalty_months": 36}, {"small_penalty_months": 1},
    {"small_fine_max_fen": {"NATURAL_PERSON": 0, "ORGANISATION": 0}},
    {"special_sector_min_publicity_months": 36},
    {"commitment_breach_months": (12, 12)}, {"commitment_breach_months": (1, 12)},
    {"false_commitment_months": (12, 120)},
    {"disclosure_working_days": 120}, {"disclosure_working_days": 1},
    {"term_months_by_kind": {"SERIOUS_DISHONESTY": 120, "RED_LIST": 1}},
    {"penalty_points": {"GENERAL": 1000, "SERIOUS": -60, "SEVERE": -1000}},
    {"grade_thresholds": {"A": 3, "B": 2, "C": 1}},
    {"start_score": 10000}, {"start_score": 1},
    {"inspectors_per_subject": 10}, {"inspectors_per_subject": 1},
    {"inspection_points": {"PROBLEM_FOUND": -1000, "UNREACHABLE": 1000}},
    {"inspection_ratios": {"A": 0, "B": 0.05, "C": 0.10, "D": 1}},
    {"quota_events_per_minute": {"publisher": 1, "admin": 100_000_000}},
    {"events_per_authority_per_subject": 100_000}, {"events_per_authority_per_subject": 1},
    # every kind a set may name, at once: each set is "among" the kinds, not fewer than all of them
    {"restriction_kinds": frozenset(module.PENALTY_KINDS)}, {"nothing_to_fulfil_kinds": frozenset(module.PENALTY_KINDS)},
    {"min_publicity_months_by_penalty_kind": dict.fromkeys(module.PENALTY_KINDS, 6)},
    {"max_publicity_months_by_penalty_kind": dict.fromkeys(module.PENALTY_KINDS, 36)},
    {"term_months_by_kind": dict.fromkeys(module.LIST_KINDS, 36)},
    {"admitted_subjects": dict.fromkeys(module.LIST_KINDS, tuple(module.CATEGORIES))},
    {"escalated_subjects": frozenset(module.CATEGORIES)}, {"hard_d_lists": frozenset(module.LIST_KINDS)},
    {"inspection_points": dict.fromkeys(module.INSPECTION_OUTCOMES, -10)},
    {"credit_office_acts_on": frozenset(module.ACTIONS_ON_A_RECORD)},
]


@pytest.mark.parametrize("fields", TAKEN)
def test_each_rule_at_its_bound_is_still_a_policy(fields):
    policy = replace(D, **fields)
    name, value = next(iter(fields.items()))
    assert getattr(policy, name) == value


def test_a_hundred_credit_offices_and_not_one_more():
    codes = [make_uscc("410100", n, "1", "1") for n in range(1, 102)]
    assert len(replace(D, credit_office=codes[:100]).credit_office) == 100
    with pytest.raises(ValueError) as caught:
        replace(D, credit_office=codes)
    assert str(caught.value) == ("policy 2024.1: authorities.credit_office: at most 100 unified social credit codes "
                                 "(GB 32100-2015)")


def test_every_problem_of_a_policy_is_named_at_once():
    text = changed("disclosure: 7 ", "disclosure: 0 ").replace("start_score: 1000", "start_score: 0")
    assert refusal(text) == (PREFIX + "working_days.disclosure: a whole number in 1..120; "
                                      "grading.start_score: a positive whole number")


# --- the file itself ----------------------------------------------------------------------------
def test_a_file_of_the_largest_size_is_read_and_one_byte_more_refused():
    padding = POLICY_FILE_BYTES_MAX - len(TEXT.encode()) - 3  # "# " and the newline
    largest = TEXT + "# " + "x" * padding + "\n"
    assert len(largest.encode()) == POLICY_FILE_BYTES_MAX
    assert parse_policy(largest, "big.yaml").version == "2024.1"
    assert refusal(largest + "\n", "big.yaml") == "big.yaml: larger than 262144 bytes"
    # bytes are counted, not characters: a comment of 中 is three bytes a character
    wide = TEXT + "# " + "中" * ((POLICY_FILE_BYTES_MAX - len(TEXT.encode())) // 3) + "\n"
    assert len(wide) <= POLICY_FILE_BYTES_MAX < len(wide.encode())
    assert refusal(wide, "big.yaml") == "big.yaml: larger than 262144 bytes"


def test_a_file_that_is_not_a_mapping_of_keys():
    assert refusal("- 1\n- 2\n", "list.yaml") == "list.yaml: must be a mapping of keys"
    assert refusal("", "empty.yaml") == "empty.yaml: must be a mapping of keys"


def test_a_file_is_named_policy_when_no_name_is_given():
    with pytest.raises(ValueError) as caught:
        parse_policy("- 1\n")
    assert str(caught.value) == "policy: must be a mapping of keys"


def test_a_file_that_is_not_yaml_names_the_place():
    message = refusal("version: [\n", "broken.yaml")
    assert message.startswith("broken.yaml: not valid YAML: ")
    assert "line 2, column 1" in message


def test_unknown_keys_and_missing_keys_are_named_together():
    text = changed("  max_months: 36\n", "") + "surprise: 1\n"
    assert refusal(text) == "bad.yaml: surprise: unknown key; publicity.max_months: missing"


def test_an_unknown_key_is_refused_whatever_its_value():
    assert refusal(TEXT + "surprise: {max_months: 1}\n") == "bad.yaml: surprise: unknown key"
    assert refusal(changed("  max_months: 36\n", "  max_months: 36\n  surprise: {a: 1}\n")) == (
        "bad.yaml: publicity.surprise: unknown key")


def test_a_section_that_is_not_a_mapping_is_an_unknown_key():
    inspection = "inspection:\n  individual_business_drawn: true\n  inspectors_per_subject: 2\n"
    assert refusal(changed(inspection, "inspection: 2\n")) == (
        "bad.yaml: inspection: unknown key; inspection.individual_business_drawn: missing; "
        "inspection.inspectors_per_subject: missing")


def test_a_value_of_the_wrong_shape_names_the_file():
    text = changed("{GENERAL: 3, SERIOUS: 3, SEVERE: 12}", "3")
    assert refusal(text) == "bad.yaml: 'int' object has no attribute 'items'"


def test_the_version_is_text_and_the_day_an_iso_date():
    policy = parse_policy(changed('version: "2024.1"', "version: 2024.2"), "v.yaml")
    assert policy.version == "2024.2" and policy.effective_from == "2020-01-01"
    assert (policy.commitment_breach_months, policy.false_commitment_months) == ((3, 12), (12, 36))


# --- the register of authorities ----------------------------------------------------------------
def entry(n: int, **fields) -> AuthorityEntry:
    values = {"code": make_uscc("410100", n, "1", "1"), "name": "郑州市市场监督管理局", "region": "410100",
              "industry": "市场监管", "matters": ("PERMIT",), **fields}
    return AuthorityEntry(**values)


def test_a_register_that_is_not_a_list():
    first = "  register:\n"
    start = TEXT.index(first) + len(first)
    end = TEXT.index("\nquotas:")
    text = TEXT[:start - 1] + " {}\n" + TEXT[end:]
    assert refusal(text) == PREFIX + f"authorities.register: a list of authorities ({REGISTER_KEYS})"
    assert register_problems({}) == [f"authorities.register: a list of authorities ({REGISTER_KEYS})"]


def test_a_register_of_two_thousand_authorities_and_not_one_more():
    register = tuple(entry(n) for n in range(1, 2002))
    assert register_problems(register[:2000]) == []
    assert register_problems(register) == ["authorities.register: at most 2,000 authorities, not 2,001"]


@pytest.mark.parametrize(("fields", "problem"), [
    ({"industry": ""}, "authorities.register[0].industry: 1 to 40 printable characters"),
    ({"industry": "业" * 41}, "authorities.register[0].industry: 1 to 40 printable characters"),
    ({"industry": " 市场监管"}, "authorities.register[0].industry: 1 to 40 printable characters"),
    ({"industry": "市场\n监管"}, "authorities.register[0].industry: 1 to 40 printable characters"),
    ({"name": "局" * 101}, "authorities.register[0].name: 1 to 100 printable characters"),
    ({"name": "郑州市 "}, "authorities.register[0].name: 1 to 100 printable characters"),
    ({"region": "41010"}, "authorities.register[0].region: a 6-digit administrative division code (GB/T 2260), quoted"),
    ({"region": "４１０１００"},
     "authorities.register[0].region: a 6-digit administrative division code (GB/T 2260), quoted"),
    ({"matters": ()}, "authorities.register[0].matters: a list of distinct matters among PERMIT, PENALTY, COMMITMENT, "
                      "LIST, RATING, INSPECTION"),
    ({"matters": ("PERMIT", "TAXES")}, "authorities.register[0].matters: a list of distinct matters among PERMIT, "
                                       "PENALTY, COMMITMENT, LIST, RATING, INSPECTION"),
    ({"measures": ("BIDDING_BAN", "BIDDING_BAN")},
     "authorities.register[0].measures: a list of distinct codes of the catalogue of joint measures "
     "(projections/measures.yaml)"),
    ({"measures": ("NO_SUCH_MEASURE",)},
     "authorities.register[0].measures: a list of distinct codes of the catalogue of joint measures "
     "(projections/measures.yaml)"),
])
def test_each_problem_of_a_register_entry(fields, problem):
    assert register_problems((entry(1, **fields),)) == [problem]


def test_a_register_entry_at_its_bounds():
    assert register_problems((entry(1, industry="业" * 40, name="局" * 100, measures=("BIDDING_BAN",)),)) == []
    assert register_problems((entry(1, industry="业", name="局", matters=tuple(module.MATTERS)),)) == []


def test_a_register_names_each_entry_by_its_place():
    register = (entry(1), "x", entry(2, industry=""), entry(1))
    code = entry(1).code
    assert register_problems(register) == [
        f"authorities.register[1]: a mapping of exactly {REGISTER_KEYS} (and optionally measures)",
        "authorities.register[2].industry: 1 to 40 printable characters",
        f"authorities.register[3].code: {code} is listed twice"]


# --- the book of policies -----------------------------------------------------------------------
def test_a_book_needs_a_policy_and_one_a_day():
    with pytest.raises(ValueError) as caught:
        PolicyBook(())
    assert str(caught.value) == "a policy book needs at least one policy"
    with pytest.raises(ValueError) as caught:
        PolicyBook((DEFAULT_POLICY, replace(DEFAULT_POLICY, version="copy")))
    assert str(caught.value) == "two policies take effect on the same day: ['2020-01-01', '2020-01-01']"


def test_the_policy_in_force_from_its_first_day():
    later = replace(DEFAULT_POLICY, version="2025.1", effective_from="2025-01-01")
    book = PolicyBook((later, DEFAULT_POLICY))
    assert [p.version for p in book.policies] == ["2024.1", "2025.1"] and book.latest is later
    assert book.in_force("2024-12-31").version == "2024.1"
    assert book.in_force("2025-01-01").version == "2025.1"
    assert book.in_force("2025-01-01T00:00:00+08:00").version == "2025.1"
    assert book.in_force("2019-01-01").version == "2024.1"  # the earliest, also before its own day


def test_the_packaged_policies_are_every_yaml_file_of_the_folder_and_a_broken_one_is_named(tmp_path, monkeypatch):
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "2024.1.yaml").write_text(TEXT, encoding="utf-8")
    (folder / "2025.1.yaml").write_text(changed('version: "2024.1"', 'version: "2025.1"').replace(
        "effective_from: 2020-01-01", "effective_from: 2025-01-01"), encoding="utf-8")
    (folder / "README.md").write_text("not a policy", encoding="utf-8")
    monkeypatch.setattr(module, "resources", SimpleNamespace(files=lambda package: tmp_path))
    book = module.packaged_policies()
    assert [p.version for p in book.policies] == ["2024.1", "2025.1"]
    (folder / "2026.1.yaml").write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        module.packaged_policies()
    assert str(caught.value) == "2026.1.yaml: must be a mapping of keys"


# --- R11: a small penalty (仅受到通报批评或者较低数额罚款), at the packaged limits ------------------------
def penalty(**fields) -> dict:
    return {"penalty_kinds": ["FINE"], "fine_fen": 300_000, "severity": "GENERAL", **fields}


@pytest.mark.parametrize(("fields", "small"), [
    ({}, True),  # an organisation's fine at its limit of 3,000 yuan
    ({"fine_fen": 300_001}, False),
    ({"subject_kind": "NATURAL_PERSON", "fine_fen": 20_000}, True),  # a person's limit: 200 yuan
    ({"subject_kind": "NATURAL_PERSON", "fine_fen": 20_001}, False),
    ({"confiscation_fen": 1}, False),  # a confiscation beside the fine is more than a fine
    ({"confiscation_fen": 0}, True),
    ({"severity": "SERIOUS"}, False),
    ({"penalty_kinds": ["NOTICE_OF_CRITICISM"], "fine_fen": None}, True),
    ({"penalty_kinds": ["NOTICE_OF_CRITICISM", "FINE"]}, True),
    ({"penalty_kinds": ["WARNING"], "fine_fen": None}, False),
])
def test_a_small_penalty_is_on_display_three_months(fields, small):
    record = penalty(**fields)
    assert module.is_small_penalty(record, D) is small
    assert module.max_publicity_months(record, D) == (3 if small else 36)


def test_a_severe_penalty_blocks_a_red_list_entry_for_36_months_from_its_decision():
    def records(occurred_on: str) -> dict:
        severe = {"severity": "SEVERE", "status": "ACTIVE", "occurred_on": occurred_on,
                  "recorded_at": "2022-07-01T10:00:00+08:00"}
        return {"lists": {}, "penalties": {"k": severe}}
    # 2025-06-30 less 36 months is 2022-06-30: a decision on that day is within them, the day before is not
    [(collection, key, _)] = module.red_list_blockers(records("2022-06-30"), "2025-06-30", D)
    assert (collection, key) == ("penalties", "k")
    assert module.red_list_blockers(records("2022-06-29"), "2025-06-30", D) == []


def _blocker(severity_or_kind: str, status: str, recorded_at: str, **fields) -> dict:
    record = {"status": status, "recorded_at": recorded_at, "pending_objection": None, **fields}
    if severity_or_kind == "SEVERE":
        return {**record, "severity": "SEVERE", "occurred_on": "2025-01-06"}
    return {**record, "list_kind": severity_or_kind}


def test_a_record_under_objection_blocks_a_red_list_entry_by_its_status_before_the_objection():
    records = {"penalties": {"P": _blocker("SEVERE", "UNDER_OBJECTION", "2025-01-06T10:00:00+08:00",
                                           pending_objection="O-1", status_before_objection="ACTIVE")},
               "lists": {"L": _blocker("OTHER_BLACKLIST", "UNDER_OBJECTION", "2025-01-07T10:00:00+08:00",
                                       pending_objection="O-2", status_before_objection="EXITED")}}
    assert [key for _, key, _ in module.red_list_blockers(records, "2025-06-30", D)] == ["P"]
    # and the status itself once no objection is pending, whatever the status before an earlier one was
    records["penalties"]["P"].update(pending_objection=None, status="REVOKED")
    records["lists"]["L"].update(pending_objection=None, status="ACTIVE")
    assert [key for _, key, _ in module.red_list_blockers(records, "2025-06-30", D)] == ["L"]


def test_blockers_come_earliest_recorded_first_and_by_key_at_one_instant():
    at, later = "2025-01-06T10:00:00+08:00", "2025-01-06T10:00:01+08:00"
    records = {"penalties": {"b": _blocker("SEVERE", "ACTIVE", at), "a": _blocker("SEVERE", "ACTIVE", later)},
               "lists": {"c": _blocker("OTHER_BLACKLIST", "ACTIVE", at)}}
    assert [(collection, key) for collection, key, _ in module.red_list_blockers(records, "2025-06-30", D)] == [
        ("penalties", "b"), ("lists", "c"), ("penalties", "a")]
