"""Releases of a red or black list (projections/releases.py): who is on it on a day as known at the end of that
day, the canonical CSV and its digest, the numbers derived from credit.releases' records. Answers worked by hand."""
from __future__ import annotations

import hashlib

import pytest

from projections.ids import make_uscc
from projections.releases import (admission, digest_of, known_on, known_until, release_csv, release_html,
                                  release_request, release_rows, release_table)
from projections.replay import replay
from tests.unit import events as ev

DAY = "2025-03-10"
S = {n: make_uscc("410105", 500 + n) for n in range(1, 10)}


def company(n: int) -> dict:
    return {"id": S[n], "kind": "LEGAL_PERSON", "name": f"郑州测试{n}号商贸有限公司"}


def entered(n: int, entry_id: str, on: str = "2025-03-01", recorded_at: str | None = None, classification=None,
            subject: dict | None = None, **payload) -> dict:
    envelope = {"subject": subject or company(n)}
    if recorded_at:
        envelope["recorded_at"] = recorded_at
    if classification:
        envelope["classification"] = classification
    return ev.valid("ListEntered", {"entry_id": entry_id, "list_kind": "SERIOUS_DISHONESTY", "reason": f"测试理由{n}",
                                    **payload}, on, **envelope)


def exited(n: int, entry_id: str, on: str) -> dict:
    return ev.valid("ListExited", {"entry_id": entry_id, "exit_reason": "信用修复"}, on, subject=company(n))


def the_log() -> list[dict]:
    return [
        entered(1, "L-1"), exited(1, "L-1", "2025-03-09"),  # exited the day before: off
        entered(2, "L-2"), exited(2, "L-2", "2025-03-10"),  # exited on the day itself: off that day
        entered(3, "L-3"), exited(3, "L-3", "2025-03-11"),  # exited the day after: on
        entered(4, "L-4", term_until="2025-03-09"),  # its term ended the day before (no ListTermEnded yet): off
        entered(5, "L-5", term_until="2025-03-10"),  # the term's last day: on
        entered(6, "L-6", classification="INTERNAL"),  # not public: never in a release
        # occurred on the day, but recorded the next morning: not known at the end of the day
        entered(7, "L-7", on="2025-03-10", recorded_at="2025-03-11T09:00:00+08:00"),
        ev.valid("PenaltyImposed", ev.penalty_payload(record_id="P-8", decision_no="郑市监罚〔2025〕88号",
                                                      severity="SEVERE"), "2025-02-01", subject=company(8)),
        entered(8, "L-8", on="2025-02-03", basis_record_id="P-8"),
        entered(9, "L-9", list_kind="RED_LIST", reason="纳税信用A级"),  # another list
    ]


def rows_as_of(day: str, list_kind: str = "SERIOUS_DISHONESTY", log=None) -> list[dict]:
    entries = list(enumerate(log if log is not None else the_log()))
    return release_rows(replay(known_on(entries, day), deadlines=False).states, list_kind, day)


def test_the_end_of_the_day_is_the_next_midnight_in_shanghai():
    assert known_until(DAY).isoformat() == "2025-03-11T00:00:00+08:00"


def test_who_is_on_the_list_on_a_day_as_known_at_its_end():
    rows = rows_as_of(DAY)
    # entered 02-03 first, then the 03-01 entries by subject id; 1, 2, 4, 6 and 7 are off, 9 is another list
    assert [r["subject_id"] for r in rows] == [S[8], *sorted([S[3], S[5]])]
    by_entry = {r["entry_id"]: r for r in rows}
    assert by_entry["L-8"]["basis"] == "郑市监罚〔2025〕88号（郑州市市场监督管理局）"
    assert by_entry["L-8"]["entered_on"] == "2025-02-03" and by_entry["L-3"]["basis"] == ""
    assert by_entry["L-5"]["term_until"] == "2025-03-10" and by_entry["L-8"]["authority"] == "郑州市市场监督管理局"
    assert by_entry["L-3"]["name"] == "郑州测试3号商贸有限公司" and by_entry["L-3"]["reason"] == "测试理由3"


def test_the_next_day_knows_the_late_entry_and_the_exit():
    assert [r["entry_id"] for r in rows_as_of("2025-03-11")] == ["L-8", "L-7"]  # 3 exited, 5's term is over
    assert [r["entry_id"] for r in rows_as_of("2025-02-28")] == ["L-8"]
    assert [r["entry_id"] for r in rows_as_of(DAY, "RED_LIST")] == ["L-9"]


@pytest.mark.parametrize("classification, basis", [("PUBLIC", "记录 C-8（郑州市市场监督管理局）"), ("INTERNAL", "")])
def test_a_basis_is_shown_only_when_public(classification, basis):
    log = [ev.valid("CommitmentMade", {"commitment_id": "C-8", "commitment_kind": "NOTIFICATION_PROMISE",
                                       "content": "承诺十日内整改", "due_on": "2025-06-01"}, "2025-02-01",
                    subject=company(8), classification=classification),
           entered(8, "L-8", on="2025-02-03", basis_record_id="C-8")]
    (row,) = rows_as_of(DAY, log=log)
    assert row["basis"] == basis and row["term_until"] == "2028-02-02"  # the policy's 3 years, to the day before


def test_a_natural_person_appears_by_pseudonym_only():
    person = ev.person()
    log = [entered(1, "L-P", subject=person, list_kind="DISHONEST_JUDGMENT_DEBTOR")]
    (row,) = rows_as_of(DAY, "DISHONEST_JUDGMENT_DEBTOR", log)
    text = release_csv([row], "DISHONEST_JUDGMENT_DEBTOR", DAY).decode("utf-8")
    assert row["subject_id"].startswith("np-") and row["subject_id"] in text
    assert person["id_number"] not in text and "张三" not in text


def test_the_csv_is_the_canonical_form_byte_for_byte():
    row = {"subject_id": S[1], "name": "甲公司", "list_kind": "RED_LIST", "authority": "某局", "authority_code": ev.AUTHORITY,
           "basis": "", "reason": "=HYPERLINK(\"x\")", "entered_on": "2025-03-01", "term_until": None,
           "under_objection": False, "entry_id": "L-1"}
    expected = ("\ufeff名单,守信激励名单（红名单）（RED_LIST）,数据日期,2025-03-10,在列条目数,1\r\n"
                "序号,主体标识,主体名称,认定机关,认定机关代码,认定依据,认定理由,列入日期,有效期至,状态,名单条目编号\r\n"
                f"1,{S[1]},甲公司,某局,{ev.AUTHORITY},,\"'=HYPERLINK(\"\"x\"\")\",2025-03-01,未设期限,在列,L-1\r\n")
    assert release_csv([row], "RED_LIST", DAY) == expected.encode("utf-8")
    # the digest is SHA-256 of those bytes; "abc" pins the function to the standard's test vector
    assert digest_of(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert digest_of(release_csv([row], "RED_LIST", DAY)) == hashlib.sha256(expected.encode("utf-8")).hexdigest()


def test_the_same_day_twice_gives_the_same_bytes_and_no_two_releases_share_them():
    kind = "SERIOUS_DISHONESTY"
    assert release_csv(rows_as_of(DAY), kind, DAY) == release_csv(rows_as_of(DAY), kind, DAY)
    assert release_csv(rows_as_of(DAY), kind, DAY) != release_csv(rows_as_of("2025-03-11"), kind, "2025-03-11")
    # nobody on two lists, or on one list two days: still two releases, told apart by their bytes
    empty = {release_csv([], k, d) for k in ("RED_LIST", "PROCUREMENT_BAN") for d in (DAY, "2025-03-11")}
    assert len(empty) == 4


def record(number: str, kind: str, day: str, digest: str = "a" * 64) -> dict:
    return {"number": number, "list_kind": kind, "as_of": day, "digest": digest, "entry_count": 1,
            "principal": "admin", "at": "2025-03-11T09:00:00+08:00"}


def test_numbers_run_per_list_and_year_and_the_first_recorded_wins():
    records = [record("RED_LIST-2025-001", "RED_LIST", "2025-03-10"),
               record("RED_LIST-2025-001", "RED_LIST", "2025-03-11"),  # a number taken: void
               record("RED_LIST-2025-002", "RED_LIST", "2025-03-10", "b" * 64),  # a day released: void
               record("SERIOUS_DISHONESTY-2025-001", "SERIOUS_DISHONESTY", "2025-03-10"),
               record("RED_LIST-2025-002", "RED_LIST", "2025-03-09"),  # out of date order: the next number
               record("RED_LIST-2024-001", "RED_LIST", "2024-12-31"),
               record("RED_LIST-2025-004", "RED_LIST", "2025-03-12"),  # a gap: void
               record("GREY-2025-001", "GREY", "2025-03-12"), record("RED_LIST-2025-003", "RED_LIST", "soon")]
    assert [(r["number"], r["as_of"]) for r in release_table(records)] == [
        ("RED_LIST-2025-001", "2025-03-10"), ("SERIOUS_DISHONESTY-2025-001", "2025-03-10"),
        ("RED_LIST-2025-002", "2025-03-09"), ("RED_LIST-2024-001", "2024-12-31")]


def test_admission_same_release_another_digest_a_day_not_over_and_the_next_number():
    table = release_table([record("RED_LIST-2025-001", "RED_LIST", "2025-03-10")])
    ask = {"list_kind": "RED_LIST", "as_of": "2025-03-10", "digest": "a" * 64, "entry_count": 1}
    assert admission(table, ask, "2025-03-12") == (200, table[0])
    status, body = admission(table, {**ask, "digest": "b" * 64}, "2025-03-12")
    assert status == 409 and "RED_LIST-2025-001" in body["error"] and "b" * 64 in body["error"]
    assert admission(table, {**ask, "as_of": "2025-03-12"}, "2025-03-12")[0] == 409
    assert admission(table, {**ask, "as_of": "2025-03-11"}, "2025-03-12") == (201, {
        "number": "RED_LIST-2025-002", "list_kind": "RED_LIST", "as_of": "2025-03-11", "digest": "a" * 64,
        "entry_count": 1})
    assert admission(table, {**ask, "as_of": "2026-01-01"}, "2026-01-02")[1]["number"] == "RED_LIST-2026-001"


@pytest.mark.parametrize("body, field", [
    (b'{"list_kind": "RED_LIST", "as_of": "2025-03-10", "digest": "' + b"a" * 64 + b'"}', "$"),
    (b'{"list_kind": "GREY", "as_of": "2025-03-10", "digest": "' + b"a" * 64 + b'", "entry_count": 1}', "list_kind"),
    (b'{"list_kind": "RED_LIST", "as_of": "2025-3-10", "digest": "' + b"a" * 64 + b'", "entry_count": 1}', "as_of"),
    (b'{"list_kind": "RED_LIST", "as_of": "2025-03-10", "digest": "' + b"A" * 64 + b'", "entry_count": 1}', "digest"),
    (b'{"list_kind": "RED_LIST", "as_of": "2025-03-10", "digest": "' + b"a" * 64 + b'", "entry_count": true}',
     "entry_count"),
    (None, "$"),
])
def test_a_bad_request_names_its_field(body, field):
    request, problems = release_request(body)
    assert request is None and problems[0].field == field


def test_a_good_request_is_taken_as_it_is():
    body = b'{"list_kind": "RED_LIST", "as_of": "2025-03-10", "digest": "' + b"a" * 64 + b'", "entry_count": 0}'
    assert release_request(body) == ({"list_kind": "RED_LIST", "as_of": "2025-03-10", "digest": "a" * 64,
                                      "entry_count": 0}, [])


def test_the_page_is_self_contained_and_escapes_what_it_shows():
    rows = rows_as_of(DAY)
    rows[0] = {**rows[0], "reason": "<script>alert(1)</script>"}
    page = release_html({**record("SERIOUS_DISHONESTY-2025-001", "SERIOUS_DISHONESTY", DAY), "digest": "c" * 64}, rows)
    assert "严重失信主体名单公布" in page and "SERIOUS_DISHONESTY-2025-001" in page and "c" * 64 in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http" not in page and "<link" not in page and "src=" not in page  # nothing fetched: it reads offline
    assert page.count("<tr>") == 1 + len(rows) and "郑市监罚〔2025〕88号" in page


# --- each refusal word for word, the bounds, the page's table (what a caller and a reader see) ------------
def body_with(**fields) -> bytes:
    import json
    request = {"list_kind": "RED_LIST", "as_of": "2025-03-10", "digest": "a" * 64, "entry_count": 1, **fields}
    return json.dumps({k: v for k, v in request.items() if v is not ...}).encode()


@pytest.mark.parametrize("body, field, message", [
    (None, "$", "the body is larger than 1024 bytes"),
    (body_with(entry_count=...), "$", "give exactly list_kind, as_of, digest and entry_count"),
    (body_with(extra=1), "$", "give exactly list_kind, as_of, digest and entry_count"),
    (body_with(list_kind="GREY"), "list_kind", "one of RED_LIST, SERIOUS_DISHONESTY, ABNORMAL_OPERATION, "
     "DISHONEST_JUDGMENT_DEBTOR, MAJOR_TAX_VIOLATION, PROCUREMENT_BAN, OTHER_BLACKLIST"),
    (body_with(as_of="2025-03-10T00:00:00+08:00"), "as_of",  # a release is of a day, not of an instant
     "as_of: '2025-03-10T00:00:00+08:00' is not a date (2025-06-01) in 1949-10-01..2099-12-31 (Asia/Shanghai)"),
    (body_with(as_of=20250310), "as_of", "as_of: must be text: a date (2025-06-01) in 1949-10-01..2099-12-31 "
                                         "(Asia/Shanghai)"),
    (body_with(digest="A" * 64), "digest", "the SHA-256 of the release's CSV: 64 lowercase hex digits"),
    (body_with(entry_count=-1), "entry_count", "a whole number in 0..10,000,000"),
    (body_with(entry_count=10_000_001), "entry_count", "a whole number in 0..10,000,000"),
    (body_with(entry_count="1"), "entry_count", "a whole number in 0..10,000,000"),
])
def test_each_refusal_names_its_field_the_rule_and_why(body, field, message):
    request, problems = release_request(body)
    assert request is None
    assert [p.as_dict() for p in problems] == [{"field": field, "rule": "release", "message": message}]


def test_an_entry_count_at_its_bounds_is_taken():
    for count in (0, 10_000_000):
        request, problems = release_request(body_with(entry_count=count))
        assert problems == [] and request["entry_count"] == count


def test_a_refused_admission_says_why_in_its_error():
    table = release_table([record("RED_LIST-2025-001", "RED_LIST", "2025-03-10")])
    ask = {"list_kind": "RED_LIST", "as_of": "2025-03-12", "digest": "b" * 64, "entry_count": 1}
    assert admission(table, ask, "2025-03-12") == (409, {
        "error": "2025-03-12 is not over on the ledger's clock (2025-03-12): a release shows a day as known at its "
                 "end, so it can be made from the next day on"})
    assert admission(table, {**ask, "as_of": "2025-03-10"}, "2025-03-12") == (409, {
        "error": f"RED_LIST-2025-001 released RED_LIST as of 2025-03-10 with digest {'a' * 64}; the ledger now gives "
                 f"{'b' * 64}", "release": table[0]})


def test_the_999th_release_of_a_year_is_numbered_and_the_1000th_refused():
    # admission counts the table's releases of the list in the year: 998 recorded (their days do not matter here)
    table = [record(f"RED_LIST-2025-{n:03d}", "RED_LIST", "2025-01-01") for n in range(1, 999)]
    ask = {"list_kind": "RED_LIST", "as_of": "2025-12-31", "digest": "c" * 64, "entry_count": 0}
    assert admission(table, ask, "2026-01-01")[1]["number"] == "RED_LIST-2025-999"
    table.append(record("RED_LIST-2025-999", "RED_LIST", "2025-12-30"))
    assert admission(table, ask, "2026-01-01") == (409, {"error": "RED_LIST has 999 releases in 2025 already"})
    assert admission(table, {**ask, "as_of": "2026-01-01"}, "2026-01-02")[1]["number"] == "RED_LIST-2026-001"


def test_a_void_record_does_not_end_the_table():
    records = [record("GREY-2025-001", "GREY", "2025-03-09"), record("RED_LIST-2025-001", "RED_LIST", "soon"),
               record("RED_LIST-2025-001", "RED_LIST", "2025-03-10")]
    assert [r["number"] for r in release_table(records)] == ["RED_LIST-2025-001"]


def test_the_page_lists_the_rows_in_a_table_numbered_from_one():
    row = {"subject_id": S[1], "name": None, "list_kind": "RED_LIST", "authority": "某局", "authority_code": "C",
           "basis": "", "reason": "守信", "entered_on": "2025-03-01", "term_until": None, "under_objection": True,
           "entry_id": "L-1"}
    page = release_html({**record("RED_LIST-2025-001", "RED_LIST", DAY)}, [row, {**row, "entry_id": "L-2"}])
    head = "".join(f"<th>{c}</th>" for c in ("序号", "主体标识", "主体名称", "认定机关", "认定机关代码", "认定依据",
                                                   "认定理由", "列入日期", "有效期至", "状态", "名单条目编号"))
    assert (f"<table><thead><tr>{head}</tr></thead><tbody>\n"
            f"<tr><td>1</td><td>{S[1]}</td><td></td><td>某局</td><td>C</td><td></td><td>守信</td><td>2025-03-01</td>"
            "<td>未设期限</td><td>异议中</td><td>L-1</td></tr>\n"
            f"<tr><td>2</td><td>{S[1]}</td><td></td><td>某局</td><td>C</td><td></td><td>守信</td><td>2025-03-01</td>"
            "<td>未设期限</td><td>异议中</td><td>L-2</td></tr>\n</tbody></table>") in page
    assert "<dt>在列条目数</dt><dd>2</dd>" in page


def test_the_page_of_an_empty_release_says_so():
    page = release_html(record("RED_LIST-2025-001", "RED_LIST", DAY), [])
    assert "\n<p>当日该名单无公开在列主体。</p>\n<footer>" in page and "<table>" not in page


def listed(status: str = "ACTIVE", occurred_on: str = "2025-03-01", **fields) -> dict:
    return {"status": status, "occurred_on": occurred_on, **fields}


@pytest.mark.parametrize("entry, on_the_day", [
    (listed(occurred_on=DAY), True),  # entered on the day itself
    (listed(occurred_on="2025-03-11"), False),  # entered the day after
    (listed("RETRACTED"), False), (listed("REVOKED"), False),  # withdrawn: never on the list
    (listed("EXITED", ended_on="2025-03-11"), True), (listed("EXITED", ended_on=DAY), False),
    (listed("TERM_ENDED", ended_on="2025-03-11"), True), (listed("TERM_ENDED"), False),  # no end day: ended
    (listed(term_until=DAY), True), (listed(term_until="2025-03-09"), False),
    # under objection: judged by the status beneath it
    (listed("UNDER_OBJECTION", pending_objection="O-1", status_before_objection="ACTIVE"), True),
    (listed("UNDER_OBJECTION", pending_objection="O-1", status_before_objection="RETRACTED"), False),
])
def test_an_entry_is_on_the_list_by_its_days_and_status(entry, on_the_day):
    from projections.releases import on_list
    assert on_list(entry, DAY) is on_the_day


def test_what_is_known_ends_at_the_next_midnight_and_an_unreadable_stamp_is_passed_on():
    log = [(0, {"recorded_at": "not a time"}), (1, {"recorded_at": "2025-03-10T23:59:59.999999+08:00"}),
           (2, {"recorded_at": "2025-03-11T00:00:00+08:00"}), (3, {}), (4, {"recorded_at": "2025-03-10T12:00:00"}),
           (5, {"recorded_at": "2025-03-10T15:59:59+00:00"}), (6, {"recorded_at": "2025-03-10T16:00:00+00:00"})]
    assert [offset for offset, _ in known_on(log, DAY)] == [0, 1, 3, 5]  # 4 has no offset: no instant


@pytest.mark.parametrize("lister", ["mine", "other"])
def test_the_basis_is_the_entry_s_own_authority_s_record_when_two_share_its_id(lister):
    other = {"authority_code": ev.OTHER_AUTHORITY, "authority_name": "郑州市税务局"}
    mine = {"authority_code": ev.AUTHORITY, "authority_name": "郑州市市场监督管理局"}
    log = [ev.valid("PenaltyImposed", ev.penalty_payload(record_id="P-8", decision_no="郑市监罚〔2025〕88号"),
                    "2025-02-01", subject=company(8)),
           ev.valid("PenaltyImposed", ev.penalty_payload(record_id="P-8", decision_no="郑税罚〔2025〕8号"),
                    "2025-02-01", subject=company(8), source=other),
           ev.valid("ListEntered", {"entry_id": "L-8", "list_kind": "SERIOUS_DISHONESTY", "reason": "理由",
                                    "basis_record_id": "P-8"}, "2025-02-03", subject=company(8),
                    source=mine if lister == "mine" else other)]
    (row,) = rows_as_of(DAY, log=log)
    assert row["basis"] == {"mine": "郑市监罚〔2025〕88号（郑州市市场监督管理局）",
                            "other": "郑税罚〔2025〕8号（郑州市税务局）"}[lister]


def test_a_row_whole_and_every_subject_and_entry_looked_at():
    log = [entered(2, "L-R", list_kind="RED_LIST", reason="纳税信用A级"), entered(2, "L-2"), entered(3, "L-3")]
    states = replay(known_on(list(enumerate(log)), DAY), deadlines=False).states
    rows = release_rows({"nobody": None, **states}, "SERIOUS_DISHONESTY", DAY)
    assert [r["entry_id"] for r in rows] == [e for _, e in sorted([(S[2], "L-2"), (S[3], "L-3")])]
    assert rows[[r["entry_id"] for r in rows].index("L-2")] == {
        "subject_id": S[2], "name": "郑州测试2号商贸有限公司", "list_kind": "SERIOUS_DISHONESTY",
        "authority": "郑州市市场监督管理局", "authority_code": ev.AUTHORITY, "basis": "", "reason": "测试理由2",
        "entered_on": "2025-03-01", "term_until": "2028-02-29", "under_objection": False, "entry_id": "L-2"}


def test_an_entry_under_objection_is_shown_so():
    log = [entered(2, "L-2"), ev.valid("ObjectionFiled", {"objection_id": "O-1", "record_id": "L-2",
                                                          "grounds": "认定依据不足"}, "2025-03-05", subject=company(2))]
    (row,) = rows_as_of(DAY, log=log)
    assert row["under_objection"] is True
    assert "异议中" in release_csv([row], "SERIOUS_DISHONESTY", DAY).decode("utf-8")
