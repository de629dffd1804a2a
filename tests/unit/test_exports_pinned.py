"""Upward export (projections/exports.py), answers pinned whole: each row written out cell by cell in the
national templates' column order (docs/export.md), the manifest byte for byte with its SHA-256 computed here,
every refusal's field, rule and words, and each limit at its bound and one past it."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import replace

import pytest

from projections import exports as x
from projections.ids import make_uscc
from projections.policy import DEFAULT_POLICY
from projections.validate import Problem
from tests.unit import events as ev

COMPANY, COMPANY_NAME = "91410105MADGK41F4E", "郑州金水宏达机械制造有限公司"  # ev.COMPANY, spelled out
AUTHORITY, AUTHORITY_NAME = "1141010087525218XA", "郑州市市场监督管理局"  # ev.AUTHORITY
ORGANISATION = "法人及非法人组织"
SUBJECT_CELLS = [COMPANY_NAME, ORGANISATION, COMPANY, "", "", ""]  # 名称, 类别, 代码, 法定代表人, 证件类型, 证件号码


def entries(log) -> list[tuple[int, int, dict]]:
    return [(0, offset, event) for offset, event in enumerate(log)]


def test_the_codes_spelled_out_are_the_test_events_codes():
    assert (ev.COMPANY, ev.AUTHORITY) == (COMPANY, AUTHORITY)


# --- rows, cell by cell ---------------------------------------------------------------------------
def test_a_permit_row_whole():
    (row,) = x.collect(entries([ev.permit_granted("X-1")]), {}).permits
    assert row == [*SUBJECT_CELLS, "", "郑市监许〔2025〕X-1号", "普通", "", "", "预包装食品销售", "2025-01-06",
                   "2025-01-06", "2029-12-31", AUTHORITY_NAME, AUTHORITY, "有效", AUTHORITY_NAME, AUTHORITY, ""]
    assert len(row) == len(x.PERMIT_COLUMNS) == 21


def test_a_permit_row_with_its_certificate():
    event = ev.permit_granted("X-2", certificate_name="食品经营许可证", certificate_no="JY14101050012345")
    (row,) = x.collect(entries([event]), {}).permits
    assert row[9:11] == ["食品经营许可证", "JY14101050012345"]


def test_a_penalty_row_whole():
    (row,) = x.collect(entries([ev.penalty_imposed("P-1")]), {}).penalties
    assert row == [*SUBJECT_CELLS, "郑市监罚〔2025〕P-1号", "虚假宣传", "在经营场所发布虚假广告",
                   "《中华人民共和国广告法》第五十五条", "罚款", "", "5", "", "", "2025-01-06", "", "",
                   AUTHORITY_NAME, AUTHORITY, AUTHORITY_NAME, AUTHORITY, "", "一般"]
    assert len(row) == len(x.PENALTY_COLUMNS) == 24


def test_a_penalty_row_with_its_publicity_end():
    (row,) = x.collect(entries([ev.penalty_imposed("P-1", publicity_until="2026-01-06")]), {}).penalties
    assert row[16:18] == ["", "2026-01-06"]  # 处罚有效期, 公示截止期


def test_an_individual_business_is_named_so():
    shop = {"id": make_uscc("410105", 79, "9", "2"), "kind": "INDIVIDUAL_BUSINESS", "name": "郑州金水李记烩面馆"}
    assert x.subject_category(shop) == "个体工商户"


def resolved_in_public(outcome: str, **fields) -> dict:
    """An objection upheld by a PUBLIC decision (its reason is then shown; an INTERNAL one's is kept back)."""
    return ev.valid("ObjectionResolved", {"objection_id": "O-1", "record_id": "P-2", "outcome": outcome, **fields},
                    "2025-01-09", classification="PUBLIC")


def changes() -> list[dict]:
    return [ev.permit_granted("X-1"), ev.penalty_imposed("P-1"), ev.penalty_imposed("P-2"), ev.list_entered("L-1"),
            ev.objection_filed("O-1", "P-2", "2025-01-08"),
            resolved_in_public("UPHELD_CORRECTED"),  # public, but no correction said: no reason
            ev.penalty_revoked("P-1", "2025-01-08")]


def test_withdrawal_rows_whole():
    log = changes()
    rows = x.collect(entries(log), {}).withdrawals
    tail = [COMPANY_NAME, COMPANY, AUTHORITY_NAME, AUTHORITY]
    assert rows == [
        ["列入名单", "LIST_ENTERED", "2025-01-06", "名单", "", "L-1", "ABNORMAL_OPERATION", *tail,
         "未按照规定期限公示年度报告", "", log[3]["event_id"], "2025-01-06T10:00:00+08:00"],  # no term
        ["异议成立更正", "OBJECTION_CORRECTED", "2025-01-09", "行政处罚", "郑市监罚〔2025〕P-2号", "P-2", "", *tail,
         "", "", log[5]["event_id"], "2025-01-09T10:00:00+08:00"],
        ["撤销处罚", "PENALTY_REVOKED", "2025-01-08", "行政处罚", "郑市监罚〔2025〕P-1号", "P-1", "", *tail,
         "经行政复议撤销", "", log[6]["event_id"], "2025-01-08T10:00:00+08:00"]]


def test_a_correction_says_what_was_corrected():
    log = [ev.penalty_imposed("P-2"), ev.objection_filed("O-1", "P-2", "2025-01-08"),
           resolved_in_public("UPHELD_CORRECTED", correction="违法事实更正为发布虚假广告一次")]
    (row,) = x.collect(entries(log), {}).withdrawals
    assert row[1] == "OBJECTION_CORRECTED" and row[11] == "违法事实更正为发布虚假广告一次"


def test_change_codes():
    def code(type_: str, outcome: str | None = None) -> str | None:
        return x.change_code({"type": type_, "payload": {} if outcome is None else {"outcome": outcome}})
    assert [code("RepairDecided", "APPROVED"), code("RepairDecided", "REJECTED"),
            code("ObjectionResolved", "UPHELD_WITHDRAWN"), code("ObjectionResolved", "UPHELD_CORRECTED"),
            code("ObjectionResolved", "DISMISSED"), code("ListExited"), code("PermitGranted")] == [
        "REPAIR_APPROVED", None, "OBJECTION_WITHDRAWN", "OBJECTION_CORRECTED", None, "LIST_EXITED", None]


def test_the_batch_folds_under_the_policy_it_is_given():
    """An entry without term_until ends after the policy's term for its kind: 36 months by default, 12 here."""
    log = [ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["PUBLIC_NOTICE"])]
    shorter = replace(DEFAULT_POLICY, term_months_by_kind={"SERIOUS_DISHONESTY": 12})
    assert x.collect(entries(log), {}).withdrawals[0][12] == "2028-01-05"
    assert x.collect(entries(log), {}, shorter).withdrawals[0][12] == "2026-01-05"


# --- the manifest, byte for byte ------------------------------------------------------------------------
def test_the_manifest_whole():
    batch = x.Batch(permits=[["p"]], penalties=[], withdrawals=[["a"], ["b"]],
                    withheld=Counter({"not_public": 2, "natural_person": 1}))
    files = {"permits.csv": b"permit row\r\n", "penalties.csv": b"", "withdrawals.csv": b"ab"}
    digest = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    expected = (
        '{\n'
        '  "batch": "city-000012",\n'
        '  "destination": "city",\n'
        '  "events": 9,\n'
        '  "files": {\n'
        '    "penalties.csv": {\n'
        '      "bytes": 0,\n'
        '      "rows": 0,\n'
        f'      "sha256": "{digest["penalties.csv"]}"\n'
        '    },\n'
        '    "permits.csv": {\n'
        '      "bytes": 12,\n'
        '      "rows": 1,\n'
        f'      "sha256": "{digest["permits.csv"]}"\n'
        '    },\n'
        '    "withdrawals.csv": {\n'
        '      "bytes": 2,\n'
        '      "rows": 2,\n'
        f'      "sha256": "{digest["withdrawals.csv"]}"\n'
        '    }\n'
        '  },\n'
        '  "format": "credit-ledger-export/1",\n'
        '  "from": "0:3",\n'
        '  "sequence": 12,\n'
        '  "to": "0:10,1:2",\n'
        '  "withheld": {\n'
        '    "natural_person": 1,\n'
        '    "not_public": 2\n'
        '  }\n'
        '}\n').encode("ascii")
    assert digest["penalties.csv"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert x.manifest("city", 12, {0: 3}, {0: 10, 1: 2}, batch, files) == expected


# --- cursors and the batch's end ---------------------------------------------------------------------
BAD_PART = "is not partition:offset (e.g. 0:120,1:98, or start)"


def test_a_bad_part_is_named_by_its_place():
    for text, number in (("x", 1), ("0:1,x", 2), ("0:1,1:2,2:", 3)):
        with pytest.raises(x.CursorError) as raised:
            x.parse_cursor(text)
        assert str(raised.value) == f"part {number} {BAD_PART}"


def test_a_cursor_at_its_length_limit_reads_one_past_is_refused():
    assert x.parse_cursor(" " * (30_000 - 3) + "0:7") == {0: 7}
    with pytest.raises(x.CursorError) as raised:
        x.parse_cursor(" " * (30_000 - 2) + "0:7")
    assert str(raised.value) == "a cursor is text of at most 30000 characters"


def test_an_offset_at_its_limit_reads_one_past_is_refused():
    assert x.parse_cursor("0:9223372036854775807") == {0: 2**63 - 1}
    with pytest.raises(x.CursorError) as raised:
        x.parse_cursor("0:9223372036854775808")
    assert str(raised.value) == "partition 0: partitions 0..999, offsets 0..9223372036854775807"


def test_events_max_at_its_bounds():
    marks = {0: (0, 10), 1: (0, 3)}
    assert x.batch_end({}, marks, 1) == {0: 1, 1: 0}
    assert x.batch_end({}, marks, 1_000_000) == {0: 10, 1: 3}
    for events_max in (0, 1_000_001):
        with pytest.raises(ValueError) as raised:
            x.batch_end({}, marks, events_max)
        assert str(raised.value) == "events_max: 1..1000000"


def test_a_range_with_nothing_in_it_has_size_zero():
    assert x.range_size({0: 5, 1: 3}, {0: 5, 1: 3}) == 0
    assert x.range_size({}, {0: 0, 1: 4}) == 4


# --- receipts ----------------------------------------------------------------------------------------------
def body(**fields) -> dict:
    return {"destination": "province", "sequence": 1, "batch": "province-000001", "from_cursor": "start",
            "to_cursor": "0:15", "manifest_sha256": "a" * 64, "event_count": 15, "permit_rows": 2,
            "penalty_rows": 3, "withdrawal_rows": 7, **fields}


def refusal(field: str, message: str) -> tuple[None, list[Problem]]:
    return None, [Problem(field, "export_receipt", message)]


def read(fields: dict) -> tuple[dict | None, list[Problem]]:
    return x.receipt_request(json.dumps(fields).encode())


def test_receipt_refusals_whole():
    assert x.receipt_request(None) == refusal("$", "the body is larger than 65536 bytes")
    assert read({"destination": "province"}) == refusal(
        "$", "give exactly destination, sequence, batch, from_cursor, to_cursor, manifest_sha256, event_count, "
             "permit_rows, penalty_rows, withdrawal_rows")
    assert read(body(destination="Province")) == refusal(
        "destination", "1 to 40 of a-z, 0-9, - and _, starting with a letter or digit")
    assert read(body(to_cursor="0:1,0=1")) == refusal("to_cursor", f"part 2 {BAD_PART}")
    assert read(body(batch="province-1")) == refusal("batch", "destination-sequence, the sequence in 6 digits")
    assert read(body(manifest_sha256="A" * 64)) == refusal(
        "manifest_sha256", "the SHA-256 of manifest.json: 64 lowercase hex digits")


def test_receipt_numbers_at_their_bounds():
    last = body(sequence=999_999, batch="province-999999")
    assert read(last) == (last, [])
    assert read(body(sequence=1_000_000, batch="province-1000000")) == refusal("sequence",
                                                                                "a whole number in 1..999,999")
    for name in ("event_count", "permit_rows", "penalty_rows", "withdrawal_rows"):
        for value in (0, 2_000_000):
            assert read(body(**{name: value})) == (body(**{name: value}), [])
        assert read(body(**{name: 2_000_001})) == refusal(name, "a whole number in 0..2,000,000")
        assert read(body(**{name: -1})) == refusal(name, "a whole number in 0..2,000,000")


def test_a_late_receipt_is_told_to_run_again():
    table = x.receipt_table([body()])
    assert x.receipt_admission(table, body(manifest_sha256="b" * 64)) == (409, {
        "error": "province's next batch is 2, not 1: another export was recorded meanwhile; run the command again",
        "receipt": body()})


# --- a batch when the fold raises: a bug planted in the fold, as tests/unit/test_fold_totality.py does --------
@pytest.fixture()
def broken_commitments(monkeypatch):
    """Applying a CommitmentMade writes half of it, then raises: the event is quarantined and the subject
    folded anew from its events before it."""
    from projections import records
    check, apply = records.HANDLERS["CommitmentMade"]

    def half_then_raise(draft, event, offset, policy):
        apply(draft, event, offset, policy)
        raise ZeroDivisionError("a bug planted by the test")
    monkeypatch.setitem(records.HANDLERS, "CommitmentMade", (check, half_then_raise))


def test_a_subject_folded_anew_after_a_quarantine_keeps_the_batch_policy(broken_commitments):
    shorter = replace(DEFAULT_POLICY, term_months_by_kind={"SERIOUS_DISHONESTY": 12})
    made = ev.valid("CommitmentMade", {"commitment_id": "C-1", "commitment_kind": "VOLUNTARY", "content": "整改",
                                       "due_working_days": 5})
    log = [ev.list_entered("L-1", list_kind="SERIOUS_DISHONESTY", measures=["PUBLIC_NOTICE"]),
           ev.permit_granted("X-1"), made, ev.list_exited("L-1", "2025-01-10")]
    batch = x.collect(entries(log), {}, shorter)
    assert [(row[1], row[12]) for row in batch.withdrawals] == [("LIST_ENTERED", "2026-01-05"),
                                                               ("LIST_EXITED", "2026-01-05")]
    assert len(batch.permits) == 1


def test_an_event_whose_deadlines_raise_is_not_sent_up(monkeypatch):
    from projections import replay
    derive = replay.pending_deadlines

    def raising_for_p9(state, policy):
        if any(record.get("record_id") == "P-9" for record in state["records"]["penalties"].values()):
            raise ZeroDivisionError("a bug planted by the test")
        return derive(state, policy)
    monkeypatch.setattr(replay, "pending_deadlines", raising_for_p9)
    batch = x.collect(entries([ev.penalty_imposed("P-1"), ev.penalty_imposed("P-9")]), {})
    assert [row[6] for row in batch.penalties] == ["郑市监罚〔2025〕P-1号"]
