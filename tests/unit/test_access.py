"""Who sees what of a credit file and who may do what (projections/access.py), rule by rule."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from projections import access
from projections.access import (ADMIN, ANONYMOUS_PRINCIPAL, AUDITOR, OPERATOR, PUBLISHER, QUERIER, ROLES, SUPERVISOR,
                                Principal, can, publish_problems, view_file)
from projections.fold import APPLIED, credit_file, fold
from streams import codec
from tests.unit import events as ev

TODAY = "2025-06-30"
ID_NUMBER = ev.person()["id_number"]  # a resident ID number: never on credit.access-log
OTHER_BANK = ev.make_uscc("410100", 901)
BANK = Principal("zz-bank", QUERIER, ev.BANK)
SUPERVISOR_P = Principal("credit-office", SUPERVISOR)
AUDITOR_P = Principal("audit", AUDITOR)
ADMIN_P = Principal("root", ADMIN)
PUBLISHER_P = Principal("amr-cases", PUBLISHER, ev.AUTHORITY)
PUBLISHER_AUDITOR = Principal("audit-bureau", AUDITOR, ev.AUTHORITY)  # an auditor acting for an authority


def penalty(record_id: str, classification: str = "PUBLIC", **fields) -> dict:
    if classification != "PUBLIC":  # a record not public names its legal exemption (issue 29 R8)
        fields = {"exemption": "TRADE_SECRET", "exemption_basis": "《政府信息公开条例》第十五条：涉及商业秘密", **fields}
    return ev.valid("PenaltyImposed", ev.penalty_payload(record_id=record_id, decision_no=ev.decision_no(record_id),
                                                         **fields), classification=classification)


def given(*events: dict) -> dict:
    state = None
    for offset, event in enumerate([ev.subject_registered(), *events]):
        state, outcome = fold(state, event, offset)
        assert outcome.kind == APPLIED, (event["type"], outcome.reasons)
    return state


@pytest.fixture(scope="module")
def state() -> dict:
    return given(
        ev.penalty_imposed("P-PUBLIC"),  # on display
        ev.penalty_imposed("P-REVOKED"), ev.penalty_revoked("P-REVOKED"),  # ended
        ev.penalty_imposed("P-UNTIL", publicity_until="2025-04-05"),  # the authority's publicity end has passed
        penalty("P-AUTH", "AUTHORIZED"),
        penalty("P-INTERNAL", "INTERNAL"),
        ev.permit_granted("X-EXPIRED", valid_to="2025-02-28"),
        ev.permit_granted("X-LIVE"),
        ev.valid("RatingAssigned", {"rating_id": "G-AUTH", "rating_kind": "TAX", "level": "A",
                                    "valid_from": ev.DAY}, classification="AUTHORIZED"),
        ev.list_entered("L-PUBLIC"),
        ev.objection_filed("O-1", "L-PUBLIC"),  # under objection: still shown, marked by its status
        ev.query_authorized("Q-PENALTIES", grantee=ev.BANK, scope=["penalties"], valid_until="2025-12-31"),
        ev.query_authorized("Q-EXPIRED", grantee=ev.BANK, scope=["ratings"], valid_until="2025-03-31"),
        ev.query_authorized("Q-REVOKED", grantee=OTHER_BANK, scope=["ALL"], valid_until="2025-12-31"),
        ev.query_authorization_revoked("Q-REVOKED", grantee=OTHER_BANK, scope=["ALL"], valid_until="2025-12-31"),
    )


def ids(view: dict) -> set[str]:
    return {r[access.RECORD_ID_FIELD[c]] for c, records in view["records"].items() for r in records}


ALL_IDS = {"P-PUBLIC", "P-REVOKED", "P-UNTIL", "P-AUTH", "P-INTERNAL", "X-EXPIRED", "X-LIVE", "G-AUTH", "L-PUBLIC"}
PUBLIC_IDS = {"P-PUBLIC", "X-LIVE", "L-PUBLIC"}


def test_the_public_sees_public_records_in_force_only(state):
    view, decision = view_file(credit_file(state), state, ANONYMOUS_PRINCIPAL, TODAY)
    assert ids(view) == PUBLIC_IDS
    assert view["grade"] is None and view["grants"] == [] and view["decisions"] == [] and view["chain"] is None
    assert view["pending"] == {"objections": [], "repairs": [], "deadlines": []}
    assert all("history" not in r and "pending_repair" not in r for r in view["records"]["penalties"])
    assert view["records"]["lists"][0]["status"] == "UNDER_OBJECTION"  # 异议中 is public
    assert not decision.non_public and decision.record_ids == ()


def test_a_querier_with_a_live_grant_sees_the_authorized_records_in_its_scope(state):
    view, decision = view_file(credit_file(state), state, BANK, TODAY)
    # P-AUTH is in the live penalties grant; G-AUTH only in the expired ratings grant
    assert ids(view) == PUBLIC_IDS | {"P-AUTH"}
    assert decision.non_public and decision.record_ids == ("P-AUTH",)
    assert "Q-PENALTIES" in decision.reason and "Q-EXPIRED" not in decision.reason
    assert view["grade"] is None


def test_grants_by_name_scope_all_and_their_ends(state):
    by_name = Principal(ev.BANK, QUERIER)  # a grantee may name the principal instead of its USCC
    assert "P-AUTH" in ids(view_file(credit_file(state), state, by_name, TODAY)[0])
    other = Principal("other-bank", QUERIER, OTHER_BANK)  # its ALL grant is revoked
    view, decision = view_file(credit_file(state), state, other, TODAY)
    assert ids(view) == PUBLIC_IDS and not decision.non_public
    # the day after valid_until the grant is over; before it was granted it did not hold yet
    assert ids(view_file(credit_file(state), state, BANK, "2026-01-01")[0]) & {"P-AUTH"} == set()
    assert ids(view_file(credit_file(state), state, BANK, "2025-01-05")[0]) & {"P-AUTH"} == set()
    assert "P-AUTH" in ids(view_file(credit_file(state), state, BANK, "2025-12-31")[0])
    assert access.granted_collections([{"scope": ["ALL"]}]) == set(access.COLLECTIONS)
    assert access.granted_collections([{"scope": ["everything", "penalties"]}]) == {"penalties"}


def test_a_grant_never_opens_internal_records(state):
    everything = given(penalty("P-INTERNAL", "INTERNAL"),
                       ev.query_authorized("Q-ALL", grantee=ev.BANK, scope=["ALL"]))
    view, decision = view_file(credit_file(everything), everything, BANK, TODAY)
    assert ids(view) == set() and not decision.non_public


def test_anonymous_has_no_grants_even_if_one_names_anonymous():
    state = given(penalty("P-AUTH", "AUTHORIZED"),
                  ev.query_authorized("Q-1", grantee="anonymous", scope=["ALL"]))
    assert ids(view_file(credit_file(state), state, ANONYMOUS_PRINCIPAL, TODAY)[0]) == set()


def test_a_publisher_sees_the_public_view_and_its_own_grants(state):
    view, decision = view_file(credit_file(state), state, PUBLISHER_P, TODAY)
    assert ids(view) == PUBLIC_IDS and not decision.non_public


def test_a_supervisor_sees_every_record_in_force_internal_and_authorized_included(state):
    file = credit_file(state)
    view, decision = view_file(file, state, SUPERVISOR_P, TODAY)
    assert ids(view) == PUBLIC_IDS | {"P-AUTH", "P-INTERNAL", "G-AUTH"}
    assert view["grade"] == file["grade"] and view["grants"] == file["grants"] and view["pending"] == file["pending"]
    assert view["rejected"] == [] and view["rejected_total"] is None
    assert decision.non_public and set(decision.record_ids) == {"P-AUTH", "P-INTERNAL", "G-AUTH"}


@pytest.mark.parametrize("principal", [AUDITOR_P, ADMIN_P], ids=lambda p: p.role)
def test_auditors_and_admins_see_everything(state, principal):
    file = credit_file(state)
    view, decision = view_file(file, state, principal, TODAY)
    assert view == file and ids(view) == ALL_IDS
    assert decision.non_public and set(decision.record_ids) == ALL_IDS - PUBLIC_IDS


def test_in_force_follows_the_statuses_and_end_dates():
    state = given(ev.penalty_imposed("P-1"), ev.list_entered("L-1", term_until="2025-03-01"),
                  ev.rating_assigned("G-1", valid_to="2025-02-01"), ev.commitment_made("C-1"),
                  ev.commitment_fulfilled("C-1"))
    records = state["records"]
    assert access.in_force("penalties", records["penalties"][ev.key_of("P-1")], TODAY)
    # 36 months of publicity from 2025-01-06: the last day is 2028-01-05
    assert access.in_force("penalties", records["penalties"][ev.key_of("P-1")], "2028-01-05")
    assert not access.in_force("penalties", records["penalties"][ev.key_of("P-1")], "2028-01-06")
    assert access.in_force("lists", records["lists"][ev.key_of("L-1")], "2025-03-01")
    assert not access.in_force("lists", records["lists"][ev.key_of("L-1")], "2025-03-02")
    assert not access.in_force("ratings", records["ratings"][ev.key_of("G-1")], TODAY)
    assert access.in_force("commitments", records["commitments"][ev.key_of("C-1")], TODAY)  # 践诺 stays shown


@pytest.mark.parametrize("role", ROLES)
def test_can_each_action(role):
    principal = Principal("p", role, ev.AUTHORITY if role == PUBLISHER else None,
                          subject_id=ev.COMPANY if role == access.SUBJECT else None)
    allowed = {action for action in access.ACTIONS if can(principal, action) is None}
    everyone = {"read_file", "report", "read_list", "health", "metrics", "login", "static"}
    expected = {
        "anonymous": everyone, "querier": everyone, "publisher": everyone | {"publish", "measure_check"},
        "supervisor": everyone | {"grade", "timeliness", "metrics_by_authority", "dashboard", "personal_info",
                                  "stats", "measure_check"},
        "auditor": everyone | {"grade", "timeliness", "metrics_by_authority", "dashboard", "personal_info", "history",
                               "verify", "access_log", "stats", "subject_access_log", "measure_check"},
        # its own file's: known_state and the routes answer any other as absent (tests/unit/test_self_service.py)
        "subject": everyone | {"grade", "personal_info", "subject_access_log", "self_service", "publish"},
        "admin": set(access.ACTIONS) - {"self_service"},  # a page of a subject's own: an admin is no subject
    }[role]
    assert allowed == expected
    for action in set(access.ACTIONS) - allowed:
        assert role in can(principal, action) and action.split("_")[0] in can(principal, action)


def test_an_unknown_action_is_nobodys():
    assert "unknown action" in can(ADMIN_P, "drop_tables")


def test_publishers_are_bound_to_their_authority():
    own = ev.event()
    assert publish_problems(PUBLISHER_P, own) == []
    other = ev.event(source={"authority_code": ev.BANK, "authority_name": "某银行"})
    (problem,) = publish_problems(PUBLISHER_P, other)
    assert (problem.field, problem.rule) == ("source.authority_code", "publisher_authority")
    assert ev.AUTHORITY in problem.message and ev.BANK in problem.message
    for raw in ({}, {"source": "x"}, [], None, ev.event(source={"authority_code": "x" * 5000})):
        (problem,) = publish_problems(PUBLISHER_P, raw)
        assert problem.rule == "publisher_authority" and len(problem.message) < 300
    assert access.forbidden([problem])


@pytest.mark.parametrize("principal", [ANONYMOUS_PRINCIPAL, BANK, SUPERVISOR_P, AUDITOR_P], ids=lambda p: p.role)
def test_only_publishers_and_admins_publish(principal):
    (problem,) = publish_problems(principal, ev.event())
    assert problem.rule == "role_may_not_publish" and principal.role in problem.message
    assert publish_problems(ADMIN_P, ev.event(source={"authority_code": ev.BANK})) == []
    assert publish_problems(OPERATOR, ev.event()) == []


def test_a_non_public_read_becomes_an_access_record_that_round_trips(state):
    _, decision = view_file(credit_file(state), state, BANK, TODAY)
    record = access.access_record(decision, "GET /subjects/{id}", "2025-06-30T10:00:00+08:00")
    assert record["principal"] == "zz-bank" and record["subject_id"] == ev.COMPANY
    assert record["record_ids"] == ["P-AUTH"] and record["record_count"] == 1 and record["action"] == "read_file"
    assert codec.decode_access_record(codec.encode_access_record(record)) == record
    endpoint = access.endpoint_decision(AUDITOR_P, "history", ev.COMPANY)
    assert endpoint.non_public and "auditor" in endpoint.reason
    assert access.access_record(endpoint, "GET /subjects/{id}/history", record["at"])["record_ids"] == []
    with pytest.raises(AssertionError):
        access.access_record(view_file(credit_file(state), state, ANONYMOUS_PRINCIPAL, TODAY)[1], "GET /", record["at"])


def test_many_record_ids_are_capped_in_the_log_but_counted():
    decision = access.AccessDecision("a", AUDITOR, None, "s", "read_file", True, "why",
                                     tuple(f"R-{n}" for n in range(access.RECORD_IDS_LOGGED_MAX + 5)))
    record = access.access_record(decision, "GET /subjects/{id}", "2025-06-30T10:00:00+08:00")
    assert len(record["record_ids"]) == access.RECORD_IDS_LOGGED_MAX
    assert record["record_count"] == access.RECORD_IDS_LOGGED_MAX + 5


def test_a_publisher_principal_needs_an_authority():
    with pytest.raises(AssertionError):
        Principal("p", PUBLISHER)
    with pytest.raises(AssertionError):
        Principal("p", "superuser")


@pytest.mark.parametrize("principal", [ANONYMOUS_PRINCIPAL, BANK, PUBLISHER_P], ids=lambda p: p.role)
def test_every_view_renders_as_a_report_showing_only_what_it_holds(state, principal):
    from streams.report import render_report

    view, _ = view_file(credit_file(state), state, principal, TODAY)
    page = render_report(view, [], "2025-06-30T10:00:00+08:00")
    assert ALL_IDS - ids(view)  # each of these roles is kept from some record
    for record_id in ALL_IDS - ids(view):
        assert record_id not in page, record_id


@pytest.mark.parametrize("principal", [SUPERVISOR_P, AUDITOR_P], ids=lambda p: p.role)
def test_a_report_shows_every_record_of_its_view(state, principal):
    """The roles kept from nothing the page could leak: the auditor sees every record, and the supervisor's
    deadlines and decisions name records out of force (a publicity end due), by design. Each page shows
    every record of its view."""
    from streams.report import render_report

    view, _ = view_file(credit_file(state), state, principal, TODAY)
    page = render_report(view, [], "2025-06-30T10:00:00+08:00")
    assert ids(view) and {record_id for record_id in ids(view) if record_id not in page} == set()


def test_an_announced_audit_read_is_checked_field_by_field():
    from projections.access import audit_read

    def rules(read) -> list[tuple[str, str]]:
        body = None if read is None else (read if isinstance(read, bytes) else json.dumps(read).encode())
        return [(p.field, p.rule) for p in audit_read(body)[1]]

    good = {"action": "history", "subject_id": "91350100M000100Y43", "command": "credit-ledger history x --scan"}
    assert audit_read(json.dumps(good).encode()) == (good, [])
    assert rules({**good, "action": "verify", "subject_id": None}) == []
    assert rules({**good, "action": "grade"}) == [("action", "audit_read")]  # only what reads the log itself
    assert rules({**good, "principal": "admin"}) == [("$", "audit_read")]  # who reads comes from the token
    assert rules({**good, "subject_id": "x" * 65}) == [("subject_id", "audit_read")]
    assert rules({**good, "subject_id": " x"}) == [("subject_id", "audit_read")]
    # a person's ID number reaches credit.access-log neither as the subject nor inside the command
    assert rules({**good, "subject_id": ID_NUMBER}) == [("subject_id", "audit_read")]
    assert rules({**good, "command": f"credit-ledger history {ID_NUMBER}"}) == [("command", "audit_read")]
    assert rules({**good, "subject_id": "np-" + "0" * 32, "command": "credit-ledger history np-" + "0" * 32}) == []
    assert rules({**good, "command": "rm -rf /"}) == [("command", "audit_read")]
    assert rules({**good, "command": "credit-ledger history \x1b[2J"}) == [("command", "audit_read")]
    assert rules({**good, "command": "credit-ledger " + "x" * 300}) == [("command", "audit_read")]
    assert rules(None) == [("$", "audit_read")] and rules(b"[") == [("$", "json")]


def folded(*events: dict) -> dict:
    state = None
    for offset, event in enumerate(events):
        state, outcome = fold(state, event, offset)
        assert outcome.kind == APPLIED, (event["type"], outcome.reasons)
    return state


def test_the_public_view_is_as_of_the_newest_public_event_never_a_later_internal_one():
    state = given(penalty("P-PUBLIC"), penalty("P-INTERNAL", "INTERNAL"))
    assert state["as_of"]["offset"] == 2 and state["public_as_of"]["offset"] == 1
    for principal in (ANONYMOUS_PRINCIPAL, BANK, PUBLISHER_P):
        assert view_file(credit_file(state), state, principal, TODAY)[0]["as_of"] == {
            "offset": 1, "recorded_at": state["records"]["penalties"][f"{ev.AUTHORITY}/P-PUBLIC"]["recorded_at"]}
    assert view_file(credit_file(state), state, SUPERVISOR_P, TODAY)[0]["as_of"]["offset"] == 2
    # a state stored before the fold kept public_as_of: the newest public record's
    legacy = {k: v for k, v in state.items() if k != "public_as_of"}
    assert access.public_as_of(legacy)["offset"] == 1


@pytest.mark.parametrize("classification", ["INTERNAL", "AUTHORIZED", "PUBLIC"])
def test_a_correction_shows_its_text_to_the_public_only_when_decided_in_a_public_event(classification):
    state = given(penalty("P-1"), ev.objection_filed("O-1", "P-1"),
                  ev.valid("ObjectionResolved", {"objection_id": "O-1", "record_id": "P-1", "outcome": "UPHELD_CORRECTED",
                                                 "correction": "罚款金额更正为一万元"}, classification=classification))
    (public,) = view_file(credit_file(state), state, ANONYMOUS_PRINCIPAL, TODAY)[0]["records"]["penalties"]
    (supervised,) = view_file(credit_file(state), state, SUPERVISOR_P, TODAY)[0]["records"]["penalties"]
    assert supervised["correction"] == "罚款金额更正为一万元" and supervised["corrected_on"] == ev.DAY
    shown = classification == "PUBLIC"
    assert (public["correction"], public["corrected_on"]) == (
        ("罚款金额更正为一万元", ev.DAY) if shown else (None, None))
    for principal in (ANONYMOUS_PRINCIPAL, BANK):
        text = json.dumps(view_file(credit_file(state), state, principal, TODAY)[0], ensure_ascii=False)
        assert ("罚款金额更正" in text) == shown


def test_a_subject_with_no_public_event_is_not_found_below_the_supervisors():
    secret = folded(ev.valid("SubjectRegistered", {"region_code": "410105", "registered_on": "2020-01-02"},
                             "2020-01-02", classification="INTERNAL"), penalty("P-INTERNAL", "INTERNAL"))
    for principal in (ANONYMOUS_PRINCIPAL, BANK, PUBLISHER_P):
        assert access.known_state(secret, principal, TODAY) is None
    for principal in (SUPERVISOR_P, AUDITOR_P, ADMIN_P):
        assert access.known_state(secret, principal, TODAY) is secret
    # a live grant naming the reader lets it know the subject; one public event lets everyone
    granted, _ = fold(secret, ev.query_authorized("Q-1", grantee=ev.BANK, scope=["penalties"],
                                                  valid_until="2025-12-31"), 2)
    assert access.known_state(granted, BANK, TODAY) is granted
    assert access.known_state(granted, ANONYMOUS_PRINCIPAL, TODAY) is None
    public, _ = fold(granted, penalty("P-PUBLIC"), 3)
    assert access.known_state(public, ANONYMOUS_PRINCIPAL, TODAY) is public
    assert access.known_state(None, ADMIN_P, TODAY) is None


def test_the_public_view_is_exactly_these_parts(state):
    view, _ = view_file(credit_file(state), state, ANONYMOUS_PRINCIPAL, TODAY)
    assert set(view) == {"subject", "grade", "records", "pending", "decisions", "grants", "events_by_type",
                         "events_total", "rejected", "rejected_total", "chain", "as_of"}
    assert (view["events_by_type"], view["events_total"], view["rejected"], view["rejected_total"]) == ({}, None, [], None)
    supervised, _ = view_file(credit_file(state), state, SUPERVISOR_P, TODAY)
    assert (supervised["rejected"], supervised["rejected_total"]) == ([], None) and supervised["events_total"]


def test_two_grants_open_the_union_of_their_scopes_and_the_reason_names_only_those_used():
    state = given(penalty("P-AUTH", "AUTHORIZED"),
                  ev.valid("RatingAssigned", {"rating_id": "G-AUTH", "rating_kind": "TAX", "level": "A",
                                              "valid_from": ev.DAY}, classification="AUTHORIZED"),
                  ev.query_authorized("Q-P", grantee=ev.BANK, scope=["penalties"], valid_until="2025-12-31"),
                  ev.query_authorized("Q-R", grantee=ev.BANK, scope=["ratings"], valid_until="2025-12-31"),
                  ev.query_authorized("Q-X", grantee=ev.BANK, scope=["permits"], valid_until="2025-12-31"))
    view, decision = view_file(credit_file(state), state, BANK, TODAY)
    assert {"P-AUTH", "G-AUTH"} <= ids(view) and decision.authority_code == ev.BANK
    assert "grant Q-P" in decision.reason and "grant Q-R" in decision.reason and "Q-X" not in decision.reason


def test_a_grant_opens_on_its_first_day_and_closes_after_its_last():
    state = given(penalty("P-AUTH", "AUTHORIZED"),
                  ev.query_authorized("Q-1", grantee=ev.BANK, scope=["penalties"], valid_until="2025-07-31"))
    granted_on = state["grants"][next(iter(state["grants"]))]["granted_on"]
    assert [bool(access.live_grants(state, BANK, day)) for day in (
        (date.fromisoformat(granted_on) - timedelta(days=1)).isoformat(), granted_on, "2025-07-31", "2025-08-01")] \
        == [False, True, True, False]


def test_an_endpoint_decision_and_its_record_name_who_whose_and_what():
    decision = access.endpoint_decision(PUBLISHER_AUDITOR, "history", "91410100MA00000000", ("P-1", "P-2"))
    record = access.access_record(decision, "GET /subjects/{id}/history", "2025-06-30T10:00:00+08:00")
    assert (record["principal"], record["authority_code"], record["subject_id"], record["record_ids"],
            record["record_count"]) == ("audit-bureau", ev.AUTHORITY, "91410100MA00000000", ["P-1", "P-2"], 2)


def test_an_announced_read_at_its_bounds():
    from projections.access import COMMAND_CHARS_MAX, SUBJECT_ID_CHARS_MAX, audit_read

    def problems(**fields):
        read = {"action": "verify", "subject_id": None, "command": "credit-ledger verify", **fields}
        return [p.field for p in audit_read(json.dumps(read).encode())[1]]

    assert problems(subject_id="np-" + "f" * 32) == [] and problems(subject_id="91350100M000100Y43") == []
    assert problems(subject_id="x") == ["subject_id"] and problems(subject_id="") == ["subject_id"]
    assert problems(subject_id="x" * (SUBJECT_ID_CHARS_MAX + 1)) == ["subject_id"]
    command = "credit-ledger " + "v" * (COMMAND_CHARS_MAX - len("credit-ledger "))
    assert problems(command=command) == [] and problems(command=command + "v") == ["command"]
    assert all(p.message for p in audit_read(b"{}")[1] + audit_read(None)[1] + audit_read(
        json.dumps({"action": "x", "subject_id": None, "command": "credit-ledger"}).encode())[1])


def test_a_stored_state_without_public_as_of_is_as_of_its_newest_public_record():
    state = given(penalty("P-1"), penalty("P-2"), penalty("P-3", "INTERNAL"))
    legacy = {k: v for k, v in state.items() if k != "public_as_of"}
    newest = state["records"]["penalties"][f"{ev.AUTHORITY}/P-2"]
    assert access.public_as_of(legacy) == {"offset": newest["offset"], "recorded_at": newest["recorded_at"]} \
        == state["public_as_of"]


# --- the texts a reader, a publisher and an operator read, word for word (issue 34: mutation) --------------
PERSON_NUMBER = "110105198503142094"  # a valid resident ID number (and a valid USCC: test_personal_data.py)


def test_a_refused_action_says_who_what_and_who_may():
    assert can(ADMIN_P, "drop_tables") == "unknown action 'drop_tables': no role may perform it"
    assert can(ANONYMOUS_PRINCIPAL, "grade") == (
        "role anonymous may not grade (GET /subjects/{id}/grade, credit-ledger grade: derived from INTERNAL and "
        "AUTHORIZED records too (a subject: its own)); allowed: supervisor, auditor, admin, subject")
    assert can(BANK, "metrics_by_authority") == (
        "role querier may not metrics by authority (GET /metrics/authorities: 双公示 timeliness counters per "
        "authority (迟报, 漏报), as /timeliness); allowed: supervisor, auditor, admin")


def test_a_principal_that_breaks_a_rule_of_its_role_is_refused_with_the_rule():
    for fields, message in (
            (dict(name="p", role="superuser"), "superuser"),
            (dict(name="p", role=access.SUBJECT), "a subject, and only it, is bound to a file"),
            (dict(name="p", role=QUERIER, subject_id=ev.COMPANY), "a subject, and only it, is bound to a file"),
            (dict(name="p", role=AUDITOR, scope=object()), "only a supervisor carries a scope"),
            (dict(name="p", role=PUBLISHER), "a publisher is bound to an authority code"),
            (dict(name="", role=QUERIER), ""),
            (dict(name="n" * (access.PRINCIPAL_NAME_CHARS_MAX + 1), role=QUERIER),
             "n" * (access.PRINCIPAL_NAME_CHARS_MAX + 1))):
        with pytest.raises(AssertionError) as refused:
            Principal(**fields)
        assert str(refused.value) == message, fields
    assert Principal("n" * access.PRINCIPAL_NAME_CHARS_MAX, QUERIER).name == "n" * 100


def test_a_publishers_refusals_word_for_word():
    (role,) = publish_problems(BANK, ev.event())
    assert role.message == "principal zz-bank has role querier; only a publisher or an admin may publish"
    (historical,) = publish_problems(PUBLISHER_P, ev.event(payload={**ev.penalty_payload(), "historical": True}))
    assert (historical.field, historical.rule, historical.message) == (
        "payload.historical", "historical_admin_only",
        "a historical import (publish --historical) is an admin's: a publisher's records are judged for timeliness")
    bound = f"publisher amr-cases may publish only as authority {ev.AUTHORITY}, not as "
    for code, shown in ((ev.BANK, f"'{ev.BANK}'"), (None, "none"), (12, "a int"), ([1], "a list"),
                        (PERSON_NUMBER, "'…'"),  # a valid USCC that is also an ID number: no digit quoted
                        ("x" * 50, "'" + "x" * 39 + "…"),  # 40 characters of the repr, then an ellipsis
                        ("x" * 38, "'" + "x" * 38 + "'"),  # 40 exactly: whole
                        ("Q" * 18, "'" + "Q" * 18 + "'")):  # 18 characters, no USCC: quoted, no digit in it
        (problem,) = publish_problems(PUBLISHER_P, ev.event(source={"authority_code": code, "authority_name": "某局"}))
        assert problem.message == bound + shown, code
    digits = "4101001234567890123"  # 19 digits: not a code, its digits are not quoted
    (problem,) = publish_problems(PUBLISHER_P, ev.event(source={"authority_code": digits}))
    assert problem.message == bound + "'…'"


def test_a_measure_not_implemented_is_refused_naming_the_authority_the_measure_and_the_policy():
    from projections.policy import DEFAULT_POLICY

    tax = Principal("tax", PUBLISHER, ev.AUTHORITY)
    as_tax = {**ev.measure_feedback(), "source": {"authority_code": ev.AUTHORITY, "authority_name": "税务局"}}
    for measure, shown in (("BIDDING_BAN", "'BIDDING_BAN'"), (None, "none"), (7, "none")):
        event = {**as_tax, "payload": {**as_tax["payload"], "measure": measure}}
        (problem,) = publish_problems(tax, event, DEFAULT_POLICY)
        assert (problem.field, problem.rule, problem.message) == (
            "payload.measure", "measure_implementer",
            f"authority {ev.AUTHORITY} does not implement the joint measure {shown} (2024.1 policy register): only "
            "the implementing department reports on it")
    # without the policy nothing is asked; a type that is no feedback is not either
    assert publish_problems(tax, as_tax) == []
    assert publish_problems(tax, {**as_tax, "type": "PenaltyImposed"}, DEFAULT_POLICY) == []
    assert publish_problems(tax, {**as_tax, "payload": "x"}, DEFAULT_POLICY) == []


SUBJECT_P = Principal("me", access.SUBJECT, subject_id=ev.COMPANY)


def own_filing(**changes) -> dict:
    return {"type": "ObjectionFiled", "subject": {"id": ev.COMPANY, "kind": "LEGAL_PERSON"},
            "source": {"authority_code": ev.COMPANY, "authority_name": "某公司"},
            "payload": {"objection_id": "O-1", "record_id": "P-1", "grounds": "事实不清"}, **changes}


def test_a_subjects_refusals_word_for_word():
    assert publish_problems(SUBJECT_P, own_filing()) == []
    expected = [
        (own_filing(type="PenaltyImposed"), "type", "subject_event_type", "a subject files only ObjectionFiled, "
         "RepairRequested, QueryAuthorized on its own file, not 'PenaltyImposed'"),
        (own_filing(type=None), "type", "subject_event_type", "a subject files only ObjectionFiled, RepairRequested, "
         "QueryAuthorized on its own file, not none"),
        (own_filing(type=3), "type", "subject_event_type", "a subject files only ObjectionFiled, RepairRequested, "
         "QueryAuthorized on its own file, not a int"),
        (own_filing(subject={"id": ev.COMPANY, "id_number": PERSON_NUMBER}), "subject.id_number", "subject_own_file",
         "a subject names its own file by subject.id only, never by an ID number"),
        (own_filing(subject={"id": ev.COMPANY, "pii": "x"}), "subject.pii", "subject_own_file",
         "a subject names its own file by subject.id only, never by an ID number"),
        (own_filing(subject={"id": ev.BANK}), "subject.id", "subject_own_file",
         f"subject me may file only on its own file, {ev.COMPANY}"),
        (own_filing(source={"authority_code": ev.BANK}), "source.authority_code", "subject_source",
         f"a subject files as itself: source.authority_code must be {ev.COMPANY}"),
        (own_filing(payload={"historical": True}), "payload.historical", "historical_admin_only",
         "a historical import is an admin's"),
    ]
    for event, field, rule, message in expected:
        assert [(p.field, p.rule, p.message) for p in publish_problems(SUBJECT_P, event)] == [(field, rule, message)]
    # not a dict at all: the same first rule, its parts read as empty
    assert [p.rule for p in publish_problems(SUBJECT_P, [])] == ["subject_event_type"]
    assert [p.field for p in publish_problems(SUBJECT_P, own_filing(subject="x"))] == ["subject.id"]


def test_each_reader_is_told_why_it_saw_what_it_saw(state):
    file = credit_file(state)
    subject = Principal("me", access.SUBJECT, subject_id=ev.COMPANY)
    reasons = {principal.role: view_file(file, state, principal, TODAY)[1].reason
               for principal in (subject, AUDITOR_P, ADMIN_P, SUPERVISOR_P, BANK, ANONYMOUS_PRINCIPAL)}
    assert reasons == {
        "subject": "role subject: its own file, every record in force of every classification, with grade, "
                   "deadlines and pending objections and repairs (本人查询)",
        "auditor": "role auditor: the whole file, hidden records included (审计)",
        "admin": "role admin: the whole file, hidden records included (审计)",
        "supervisor": "role supervisor: every record in force, INTERNAL and AUTHORIZED included, with grade, "
                      "deadlines and pending objections and repairs (监管)",
        "querier": f"授权查询 (authorised query): grant Q-PENALTIES to {ev.BANK} for penalties until 2025-12-31",
        "anonymous": "public view: PUBLIC records in force",
    }


def test_a_subject_sees_its_own_file_in_force_and_another_subject_its_public_view(state):
    file = credit_file(state)
    own, decision = view_file(file, state, SUBJECT_P, TODAY)
    assert ids(own) == PUBLIC_IDS | {"P-AUTH", "P-INTERNAL", "G-AUTH"}
    assert (own["rejected"], own["rejected_total"], own["grade"]) == ([], None, file["grade"])
    assert decision.non_public and set(decision.record_ids) == {"P-AUTH", "P-INTERNAL", "G-AUTH"}
    other = Principal("other", access.SUBJECT, subject_id=ev.BANK)
    view, decision = view_file(file, state, other, TODAY)
    assert ids(view) == PUBLIC_IDS and not decision.non_public and view["grade"] is None


def test_an_endpoint_decision_says_the_role_and_the_action_in_words():
    decision = access.endpoint_decision(AUDITOR_P, "subject_access_log", ev.COMPANY)
    assert (decision.reason, decision.action, decision.non_public, decision.role) == (
        "role auditor may subject access log", "subject_access_log", True, AUDITOR)
    with pytest.raises(AssertionError) as refused:
        access.endpoint_decision(BANK, "history")
    assert str(refused.value) == str((BANK, "history"))
    public = access.AccessDecision("a", QUERIER, None, "s", "read_file", False, "public view")
    with pytest.raises(AssertionError, match="^only non-public reads are logged$"):
        access.access_record(public, "GET /subjects/{id}", "2025-06-30T10:00:00+08:00")


def test_an_announced_reads_refusals_word_for_word():
    from projections.access import audit_read

    def messages(body) -> list[tuple[str, str]]:
        return [(p.field, p.message) for p in audit_read(body)[1]]

    good = {"action": "history", "subject_id": None, "command": "credit-ledger history"}
    assert messages(None) == [("$", "the body is larger than 2048 bytes")]
    assert messages(b"[]") == [("$", "give exactly action, subject_id and command")]
    assert messages(json.dumps({**good, "action": "grade"}).encode()) == [("action", "one of history, verify, stats")]
    for subject_id in ("", "x" * 65, " x", "x\n", 5, ID_NUMBER):
        assert messages(json.dumps({**good, "subject_id": subject_id}).encode()) == [
            ("subject_id", "null, or a USCC or a natural person's pseudonym (np-…), never an ID number")], subject_id
    assert messages(json.dumps({**good, "command": f"credit-ledger history {ID_NUMBER} --scan"}).encode()) == [
        ("command", "holds a resident ID number: name a natural person by its pseudonym (np-…)")]
    for command in ("history", "credit-ledger x\x07", 5, "credit-ledger " + "x" * 287):
        assert messages(json.dumps({**good, "command": command}).encode()) == [
            ("command", "the command as run: 'credit-ledger ...', at most 300 printable characters")], command
    assert messages(json.dumps({**good, "command": "credit-ledger " + "x" * 286}).encode()) == []


def test_a_subject_id_is_a_credit_code_or_a_pseudonym_and_nothing_else():
    from projections.pseudonym import pseudonym

    assert access.is_subject_id(ev.COMPANY) and access.is_subject_id(pseudonym(PERSON_NUMBER, ev.KEY))
    for value in (None, 5, ["x"], "x" * 65, "np-" + "0" * 61, "91410105MADGK41F4X", PERSON_NUMBER + " "):
        assert not access.is_subject_id(value), value


def test_each_view_is_judged_in_force_under_the_policy_it_is_given(state):
    """A policy of three months of publicity at most: on TODAY every penalty of 2025-01-06 has ended (on
    2025-04-05), a permit, a list entry and a rating have not."""
    from dataclasses import replace

    from projections.policy import DEFAULT_POLICY

    short = replace(DEFAULT_POLICY, max_publicity_months=3, special_sector_min_publicity_months=3,
                    min_publicity_months_by_severity={"GENERAL": 3, "SERIOUS": 3, "SEVERE": 3})
    file = credit_file(state)
    not_penalties = {"X-LIVE", "L-PUBLIC", "G-AUTH"}
    for principal, seen in ((ANONYMOUS_PRINCIPAL, PUBLIC_IDS - {"P-PUBLIC"}), (BANK, PUBLIC_IDS - {"P-PUBLIC"}),
                            (SUBJECT_P, not_penalties), (SUPERVISOR_P, not_penalties)):
        view, decision = view_file(file, state, principal, TODAY, policy=short)
        assert ids(view) == seen, principal.role
    _, decision = view_file(file, state, BANK, TODAY, policy=short)
    assert decision.non_public is False and decision.record_ids == ()  # P-AUTH is out of force, not shown


def test_a_granted_record_out_of_force_is_not_shown():
    state = given(penalty("P-AUTH", "AUTHORIZED", publicity_until="2025-04-05"), penalty("P-AUTH-2", "AUTHORIZED"),
                  ev.query_authorized("Q-1", grantee=ev.BANK, scope=["penalties"], valid_until="2025-12-31"))
    view, decision = view_file(credit_file(state), state, BANK, TODAY)
    assert ids(view) == {"P-AUTH-2"} and decision.record_ids == ("P-AUTH-2",)


def test_a_granted_records_public_correction_is_shown_to_the_grantee():
    state = given(penalty("P-1", "AUTHORIZED"), ev.objection_filed("O-1", "P-1"),
                  ev.valid("ObjectionResolved", {"objection_id": "O-1", "record_id": "P-1", "outcome": "UPHELD_CORRECTED",
                                                 "correction": "罚款金额更正为一万元"}, classification="PUBLIC"),
                  ev.query_authorized("Q-1", grantee=ev.BANK, scope=["penalties"], valid_until="2025-12-31"))
    (record,) = view_file(credit_file(state), state, BANK, TODAY)[0]["records"]["penalties"]
    assert (record["correction"], record["corrected_on"]) == ("罚款金额更正为一万元", ev.DAY)


@pytest.mark.parametrize("principal", [SUPERVISOR_P, SUBJECT_P], ids=lambda p: p.role)
def test_rejections_are_kept_from_a_supervisor_and_a_subject(state, principal):
    file = {**credit_file(state), "rejected": [{"offset": 9, "reasons": []}], "rejected_total": 1}
    view, _ = view_file(file, state, principal, TODAY)
    assert (view["rejected"], view["rejected_total"]) == ([], None)
    assert view_file(file, state, AUDITOR_P, TODAY)[0]["rejected_total"] == 1


def test_the_reason_of_a_read_names_each_grant_used_with_its_whole_scope():
    state = given(penalty("P-AUTH", "AUTHORIZED"),
                  ev.valid("RatingAssigned", {"rating_id": "G-AUTH", "rating_kind": "TAX", "level": "A",
                                              "valid_from": ev.DAY}, classification="AUTHORIZED"),
                  ev.query_authorized("Q-P", grantee=ev.BANK, scope=["penalties", "permits"], valid_until="2025-12-31"),
                  ev.query_authorized("Q-R", grantee=ev.BANK, scope=["ratings"], valid_until="2025-11-30"))
    _, decision = view_file(credit_file(state), state, BANK, TODAY)
    assert decision.reason == (f"授权查询 (authorised query): grant Q-P to {ev.BANK} for penalties, permits until "
                               f"2025-12-31; grant Q-R to {ev.BANK} for ratings until 2025-11-30")


def test_the_public_read_is_public_and_a_refused_role_is_refused_on_the_whole_event():
    public = given(penalty("P-1"))
    _, decision = view_file(credit_file(public), public, ANONYMOUS_PRINCIPAL, TODAY)
    assert decision.non_public is False
    (problem,) = publish_problems(BANK, ev.event())
    assert (problem.field, problem.rule) == ("$", "role_may_not_publish")


def test_the_public_as_of_is_the_newest_public_event_even_when_it_is_no_record():
    """SubjectRegistered is public and no record; a state stored before public_as_of was kept has only its
    records to go by, and none of them public: no as-of at all."""
    state = given(penalty("P-INTERNAL", "INTERNAL"))
    assert access.public_as_of(state) == {"offset": 0, "recorded_at": state["public_as_of"]["recorded_at"]}
    legacy = {k: v for k, v in state.items() if k != "public_as_of"}
    assert access.public_as_of(legacy) is None
