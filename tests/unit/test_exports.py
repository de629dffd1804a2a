"""Upward export (projections/exports.py): which applied events go into a batch, the national templates'
rows read back by `publish`'s reader into the same records, the withdrawals, cursors, manifest, receipts."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops.demo import demo_events
from projections import catalogue as cat
from projections import exports as x
from projections.ids import make_uscc
from projections.templates import read_penalty_csv, read_permit_csv, wan_to_fen
from projections.validate import EdgeContext, validate_event
from tests.unit import events as ev

# the payload fields the templates carry (record_id is the reader's own: PERMIT:<authority>:<decision no>)
PERMIT_FIELDS = ("decision_no", "permit_kind", "certificate_name", "certificate_no", "content", "valid_from",
                 "valid_to")
PENALTY_FIELDS = ("decision_no", "violation_type", "facts", "basis", "penalty_kinds", "fine_fen", "confiscation_fen",
                  "severity", "publicity_until")


@cache
def demo_log() -> tuple[dict, ...]:
    """The demo's events as the edge accepts them (stamped on the day they occurred, persons pseudonymised)."""
    log = []
    for raw in demo_events(seed=7, subjects=60):
        now = datetime.fromisoformat(f"{raw['occurred_on']}T10:00:00+08:00")
        event, problems = validate_event(raw, EdgeContext(now=now, pseudonym_key=ev.KEY, allow_system=True))
        assert not problems, problems
        log.append(event)
    return tuple(log)


def entries(log, partition: int = 0) -> list[tuple[int, int, dict]]:
    return [(partition, offset, event) for offset, event in enumerate(log)]


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def sent_up(log, type_: str) -> list[dict]:
    return [e for e in log if e["type"] == type_ and e["classification"] == "PUBLIC"
            and e["subject"]["kind"] != "NATURAL_PERSON"]


def same_record(read: dict, original: dict, fields: tuple[str, ...]) -> None:
    assert read["type"] == original["type"] and read["occurred_on"] == original["occurred_on"]
    assert read["subject"] == {k: original["subject"][k] for k in ("id", "kind", "name")}
    assert read["source"] == {k: original["source"][k] for k in ("authority_code", "authority_name")}
    assert read["classification"] == original["classification"] == "PUBLIC"
    expected = {k: original["payload"][k] for k in fields if k in original["payload"]}
    assert {k: v for k, v in read["payload"].items() if k != "record_id"} == expected
    source, number = original["source"]["authority_code"], original["payload"]["decision_no"]
    assert read["payload"]["record_id"].endswith(f":{source}:{number}")


def test_the_demo_round_trips_through_the_templates_reader():
    log = demo_log()
    files = x.batch_files(x.collect(entries(log), {}))
    for name, reader, type_, fields in ((x.PERMITS_FILE, read_permit_csv, "PermitGranted", PERMIT_FIELDS),
                                        (x.PENALTIES_FILE, read_penalty_csv, "PenaltyImposed", PENALTY_FIELDS)):
        results = reader(files[name])
        assert [r.problems for r in results if r.problems] == []
        read = [e for r in results for e in r.events]
        originals = sent_up(log, type_)
        assert len(read) == len(originals) > 10
        for got, original in zip(read, originals):
            same_record(got, original, fields)


def test_every_kind_of_penalty_amounts_and_subject_categories_round_trip():
    branch = {"id": make_uscc("410105", 77), "kind": "LEGAL_PERSON", "name": "郑州宏达机械有限公司金水分公司"}
    unincorporated = {"id": make_uscc("410105", 78), "kind": "OTHER_ORGANIZATION", "name": "郑州宏达贸易有限公司"}
    shop = {"id": make_uscc("410105", 79, "9", "2"), "kind": "INDIVIDUAL_BUSINESS", "name": "郑州金水李记烩面馆"}
    log = [ev.valid("PenaltyImposed", ev.penalty_payload(record_id=f"P-{n}", decision_no=f"郑市监罚〔2025〕{n}号",
                                                         penalty_kinds=list(kinds), fine_fen=fine, confiscation_fen=n,
                                                         severity=severity, publicity_until="2026-01-06"),
                    subject=subject)
           for n, (kinds, fine, severity, subject) in enumerate((
               (cat.PENALTY_KINDS, 1, "SEVERE", branch), (("FINE",), 123_456_789, "SERIOUS", unincorporated),
               (("WARNING",), 0, "GENERAL", shop), (("OTHER", "FINE"), cat.FEN_MAX, "GENERAL", branch)))]
    read = [e for r in read_penalty_csv(x.batch_files(x.collect(entries(log), {}))[x.PENALTIES_FILE]) for e in r.events]
    assert len(read) == 4
    for got, original in zip(read, log):
        same_record(got, original, PENALTY_FIELDS)


def test_a_permit_without_an_end_or_certificate_reads_back_without_them():
    log = [ev.valid("PermitGranted", {"record_id": "X-1", "decision_no": "郑市监许〔2025〕1号", "permit_kind": "登记",
                                      "content": "道路普通货物运输", "valid_from": ev.DAY}, ev.DAY)]
    files = x.batch_files(x.collect(entries(log), {}))
    (row,) = csv_rows(files[x.PERMITS_FILE])
    assert row["有效期至"] == "长期" and row["许可证书名称"] == "" and row["当前状态"] == "有效"
    (result,) = read_permit_csv(files[x.PERMITS_FILE])
    same_record(result.events[0], log[0], PERMIT_FIELDS)


@given(st.integers(min_value=0, max_value=cat.FEN_MAX))
def test_fen_to_wan_is_exact_both_ways(fen):
    assert wan_to_fen(x.fen_to_wan(fen)) == fen


def test_fen_to_wan_spelled():
    assert [x.fen_to_wan(f) for f in (0, 1, 6_000, 5_000_000, 12_345_678)] == [
        "0", "0.000001", "0.006", "5", "12.345678"]


def the_changes() -> list[dict]:
    """One subject's permits, penalties and list entries, and everything that changes them upward."""
    return [
        ev.permit_granted("X-1"), ev.permit_granted("X-2"), ev.penalty_imposed("P-1"), ev.penalty_imposed("P-2"),
        ev.penalty_imposed("P-3"), ev.list_entered("L-1", term_until="2026-01-05"),
        ev.list_entered("L-2", term_until="2026-01-05"),
        ev.permit_revoked("X-1", "2025-01-07"),
        ev.penalty_revoked("P-1", "2025-01-08"),
        ev.objection_filed("O-1", "P-2", "2025-01-08"),
        ev.objection_resolved("O-1", "P-2", "UPHELD_WITHDRAWN", "2025-01-09"),
        ev.objection_filed("O-2", "X-2", "2025-01-08"), ev.objection_resolved("O-2", "X-2", "DISMISSED", "2025-01-09"),
        ev.list_exited("L-1", "2025-01-10"),
        ev.list_term_ended("L-2", "2026-01-06"),
    ]


def test_withdrawals_name_the_record_they_change():
    files = x.batch_files(x.collect(entries(the_changes()), {}))
    rows = csv_rows(files[x.WITHDRAWALS_FILE])
    assert [(r["序号"], r["变更代码"], r["记录编号"], r["决定文书号"], r["记录类别"]) for r in rows] == [
        ("1", "LIST_ENTERED", "L-1", "", "名单"), ("2", "LIST_ENTERED", "L-2", "", "名单"),
        ("3", "PERMIT_REVOKED", "X-1", ev.decision_no("X-1", "PERMIT"), "行政许可"),
        ("4", "PENALTY_REVOKED", "P-1", ev.decision_no("P-1"), "行政处罚"),
        ("5", "OBJECTION_WITHDRAWN", "P-2", ev.decision_no("P-2"), "行政处罚"),  # the dismissed one: nothing
        ("6", "LIST_EXITED", "L-1", "", "名单"), ("7", "LIST_TERM_ENDED", "L-2", "", "名单")]
    first, exited = rows[0], rows[5]
    assert (first["名单类别"], first["名单有效期至"], first["原因"]) == ("ABNORMAL_OPERATION", "2026-01-05",
                                                                  "未按照规定期限公示年度报告")
    assert exited["原因"] == "已补报并公示年度报告" and exited["生效日期"] == "2025-01-10"
    assert rows[2]["原因"] == "以虚假承诺取得许可，依法撤销" and rows[2]["记录机关统一社会信用代码"] == ev.AUTHORITY
    assert {r["行政相对人代码_1(统一社会信用代码)"] for r in rows} == {ev.COMPANY}
    assert list(rows[0]) == list(x.WITHDRAWAL_COLUMNS)


def test_an_approved_repair_is_a_withdrawal_a_rejected_one_is_not():
    log = [ev.penalty_imposed("P-1", "2024-01-08"), ev.penalty_fulfilled("P-1", "2024-02-01"),
           ev.repair_requested("R-1", "P-1", "2025-03-03"),
           ev.repair_decided("R-1", "P-1", "REJECTED", "2025-03-04"),
           ev.repair_requested("R-2", "P-1", "2025-03-05"), ev.repair_decided("R-2", "P-1", "APPROVED", "2025-03-06")]
    batch = x.collect(entries(log), {})
    assert [(row[1], row[5]) for row in batch.withdrawals] == [("REPAIR_APPROVED", "P-1")]
    assert batch.withheld == {x.NOT_A_CHANGE: 1}


def test_what_is_not_sent_up_is_counted():
    person = ev.person()
    internal = {**ev.penalty_payload(record_id="P-9", decision_no="郑市监罚〔2025〕9号"),
                "exemption": "PERSONAL_PRIVACY", "exemption_basis": "涉及个人隐私"}
    log = [ev.valid("PenaltyImposed", ev.penalty_payload(record_id="P-7"), subject=person),
           ev.valid("PenaltyImposed", internal, classification="INTERNAL"),
           ev.valid("PenaltyRevoked", {"record_id": "P-9", "reason": "经行政复议撤销"}),  # a record not public
           ev.penalty_imposed("P-1"),
           ev.penalty_revoked("P-404"),  # the fold rejects it: no such penalty
           ev.penalty_imposed("P-1")]  # the same event again (its id): a duplicate, applied once
    batch = x.collect(entries(log), {})
    assert (len(batch.penalties), batch.withdrawals) == (1, [])
    assert batch.withheld == {x.NATURAL_PERSON: 1, x.NOT_PUBLIC: 2}
    assert b"np-" not in b"".join(x.batch_files(batch).values())


def test_a_withdrawal_by_an_event_not_public_keeps_its_reason_back():
    log = [ev.penalty_imposed("P-1"),
           ev.valid("PenaltyRevoked", {"record_id": "P-1", "reason": "复议机关内部意见"}, classification="INTERNAL")]
    (row,) = x.collect(entries(log), {}).withdrawals
    assert row[1] == "PENALTY_REVOKED" and row[11] == ""


def test_a_batch_takes_only_what_follows_its_start_and_batches_add_up():
    log = list(demo_log())
    whole = x.batch_files(x.collect(entries(log), {}))
    cut = len(log) // 2
    first, second = (x.batch_files(x.collect(entries(log[:end]), {0: start}))
                     for start, end in ((0, cut), (cut, len(log))))
    for name in x.DATA_FILES:
        rows = [r for part in (first, second) for r in csv_rows(part[name])]
        assert [{k: v for k, v in r.items() if k != "序号"} for r in rows] == [
            {k: v for k, v in r.items() if k != "序号"} for r in csv_rows(whole[name])]
        assert csv_rows(first[name]) and csv_rows(second[name])
    again = x.batch_files(x.collect(entries(log), {0: cut}))
    assert again == second  # the same cursors: the same bytes


def test_subjects_on_several_partitions_each_keep_their_order():
    log = the_changes()
    other = [ev.valid(e["type"], e["payload"], e["occurred_on"], subject={**e["subject"], "id": make_uscc("410105", 2)})
             for e in log]
    mixed = entries(log, 0) + entries(other, 1)
    batch = x.collect(mixed, {0: 0, 1: 7})  # partition 1 from offset 7: its revocations onwards only
    assert len(batch.withdrawals) == 7 + 5 and len(batch.permits) == 2 and len(batch.penalties) == 3


def test_the_manifest_counts_and_hashes():
    batch = x.collect(entries(the_changes()), {})
    files = x.batch_files(batch)
    body = json.loads(x.manifest("province", 3, {0: 0}, {0: 15, 1: 4}, batch, files))
    assert body["batch"] == "province-000003" and (body["from"], body["to"], body["events"]) == ("0:0", "0:15,1:4", 19)
    assert {name: (f["rows"], f["sha256"], f["bytes"]) for name, f in body["files"].items()} == {
        name: (len(csv_rows(data)), x.sha256(data), len(data)) for name, data in files.items()}
    assert x.manifest("province", 3, {0: 0}, {0: 15, 1: 4}, batch, files) == x.manifest(
        "province", 3, {0: 0}, {0: 15, 1: 4}, x.collect(entries(the_changes()), {}), files)


@pytest.mark.parametrize("text, cursor", [("start", {}), ("", {}), ("0:120,1:98", {0: 120, 1: 98}),
                                          (" 3:0 , 1:5", {3: 0, 1: 5})])
def test_cursors_read(text, cursor):
    assert x.parse_cursor(text) == cursor
    assert x.parse_cursor(x.cursor_text(cursor)) == cursor


@pytest.mark.parametrize("text, words", [("0=12", "not partition:offset"), ("0:1,0:2", "named twice"),
                                         ("1000:0", "partitions 0..999"), ("0:-1", "not partition:offset"),
                                         ("0:99999999999999999999", "not partition:offset"), ("x" * 30_001, "at most")])
def test_bad_cursors_are_named(text, words):
    with pytest.raises(x.CursorError, match=words):
        x.parse_cursor(text)


def test_a_batch_ends_at_the_watermarks_or_at_its_limit():
    marks = {0: (0, 10), 1: (5, 8), 2: (0, 0)}
    assert x.batch_end({}, marks, 100) == {0: 10, 1: 8, 2: 0}
    assert x.batch_end({0: 4, 1: 2}, marks, 100) == {0: 10, 1: 8, 2: 0}  # 1 from its low watermark
    assert x.batch_end({0: 4}, marks, 7) == {0: 10, 1: 6, 2: 0}
    assert x.batch_end({0: 12}, marks, 5) == {0: 12, 1: 8, 2: 0}  # past its end: stays
    assert x.range_size({0: 4}, {0: 10, 1: 6}) == 12
    with pytest.raises(ValueError):
        x.batch_end({}, marks, 0)


def request(**fields) -> dict:
    body = {"destination": "province", "sequence": 1, "batch": "province-000001", "from_cursor": "start",
            "to_cursor": "0:15", "manifest_sha256": "a" * 64, "event_count": 15, "permit_rows": 2, "penalty_rows": 3,
            "withdrawal_rows": 7}
    return {**body, **fields}


def test_receipts_run_per_destination_first_recorded_wins():
    records = [request(), request(manifest_sha256="b" * 64), request(destination="city", batch="city-000001"),
               request(sequence=3, batch="province-000003"), request(sequence=2, batch="province-000002")]
    table = x.receipt_table(records)
    assert [(r["destination"], r["sequence"], r["manifest_sha256"][0]) for r in table] == [
        ("province", 1, "a"), ("city", 1, "a"), ("province", 2, "a")]
    assert x.last_receipt(table, "province")["sequence"] == 2 and x.last_receipt(table, "county") is None


def test_a_receipt_is_admitted_once():
    table = x.receipt_table([request()])
    assert x.receipt_admission(table, request()) == (200, table[0])  # the same batch again
    status, body = x.receipt_admission(table, request(manifest_sha256="b" * 64))  # another batch 1
    assert status == 409 and "next batch is 2" in body["error"]
    status, record = x.receipt_admission(table, request(sequence=2, batch="province-000002", from_cursor="0:15"))
    assert status == 201 and record["sequence"] == 2 and set(record) == set(x.RECEIPT_FIELDS)


@pytest.mark.parametrize("change, field", [({"destination": "Province"}, "destination"), ({"sequence": 0}, "sequence"),
                                           ({"sequence": True}, "sequence"), ({"batch": "province-1"}, "batch"),
                                           ({"to_cursor": "0=1"}, "to_cursor"), ({"manifest_sha256": "A" * 64},
                                                                                 "manifest_sha256"),
                                           ({"event_count": -1}, "event_count")])
def test_bad_receipt_requests_name_the_field(change, field):
    wanted, problems = x.receipt_request(json.dumps(request(**change)).encode())
    assert wanted is None and [p.field for p in problems] == [field]


def test_a_receipt_request_reads():
    wanted, problems = x.receipt_request(json.dumps(request()).encode())
    assert problems == [] and wanted == request()
    assert x.receipt_request(None)[1][0].field == "$"
    assert x.receipt_request(b'{"destination": "province"}')[1][0].rule == "export_receipt"


def test_an_escalation_sends_up_the_entry_it_made_and_the_exit_of_the_one_it_escalates():
    log = [ev.subject_registered(), ev.list_entered("L-1"),
           ev.list_entered("L-2", list_kind="SERIOUS_DISHONESTY", basis_record_id="L-1")]
    batch = x.collect(entries(log), {0: 2})  # the escalation alone
    # (变更代码, 记录编号, 名单类别): L-2 entered, and L-1, which it replaces, exited
    assert [(row[1], row[5], row[6]) for row in batch.withdrawals] == [
        ("LIST_ENTERED", "L-2", "SERIOUS_DISHONESTY"), ("LIST_EXITED", "L-1", "ABNORMAL_OPERATION")]
