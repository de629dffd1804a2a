"""The national 双公示 CSV templates: every row becomes a valid event or names its problems."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections import catalogue as cat
from projections.ids import make_resident_id, make_uscc, uscc_problems
from projections.personal_data import masked
from projections.templates import (
    DEFAULT_SEVERITY_BY_PENALTY_KIND,
    TemplateError,
    read_penalty_csv,
    read_permit_csv,
    wan_to_fen,
)
from projections.validate import EdgeContext, require_valid, validate_event

DATA = Path(__file__).resolve().parent.parent / "data"
PERMITS = (DATA / "permits.csv").read_text(encoding="utf-8")
PENALTIES = (DATA / "penalties.csv").read_text(encoding="utf-8")
CTX = EdgeContext(now=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8))), pseudonym_key=b"x" * 32)
CODE = "行政相对人代码_1(统一社会信用代码)"
FINE = "罚款金额（万元）"


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def to_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def penalty_with(**cells: str) -> bytes:
    """The fixture's first penalty row with some cells changed (keys are column names)."""
    return to_csv([{**rows_of(PENALTIES)[0], **cells}])


def permit_with(**cells: str) -> bytes:
    return to_csv([{**rows_of(PERMITS)[0], **cells}])


def one(results):
    assert len(results) == 1, results
    return results[0]


def rules(result) -> set[tuple[str, str]]:
    return {(p.field, p.rule) for p in result.problems}


def the_event(results) -> dict:
    result = one(results)
    assert result.problems == [] and len(result.events) == 1
    return result.events[0]


# --- the fixtures: every encoding, every event valid -------------------------------------------

@pytest.mark.parametrize("text, read", [(PERMITS, read_permit_csv), (PENALTIES, read_penalty_csv)])
@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_every_encoding_reads_the_same(text, read, encoding):
    assert read(text.encode(encoding)) == read(text.encode("utf-8"))


@pytest.mark.parametrize("name, read", [("permits.csv", read_permit_csv), ("penalties.csv", read_penalty_csv)])
def test_the_files_as_exported_with_crlf(name, read):
    text = (DATA / name).read_text(encoding="utf-8")
    assert b"\r\n" in (DATA / name).read_bytes()
    assert read((DATA / name).read_bytes()) == read(text.encode("gb18030"))


@pytest.mark.parametrize("text, read, count", [(PERMITS, read_permit_csv, 5), (PENALTIES, read_penalty_csv, 6)])
def test_every_fixture_row_gives_one_event_that_the_edge_accepts(text, read, count):
    results = read(text.encode("utf-8"))
    assert [p for r in results for p in r.problems] == []
    events = [e for r in results for e in r.events]
    assert len(events) == count
    for raw in events:
        assert "event_id" not in raw and "recorded_at" not in raw
        accepted, problems = validate_event(raw, CTX)
        assert problems == [], (raw, problems)
        assert accepted["classification"] == "PUBLIC"


def test_fixture_codes_are_valid_usccs_made_by_make_uscc():
    rows = rows_of(PERMITS)
    assert rows[0][CODE] == make_uscc("410105", 11)
    assert all(uscc_problems(r["许可机关统一社会信用代码"]) == [] for r in rows)


def test_line_numbers_count_physical_lines_and_skip_blank_rows():
    # penalty row 4 has a line break inside its quoted 违法事实
    assert [r.line for r in read_penalty_csv(PENALTIES.encode())] == [2, 3, 4, 5, 7, 8]
    with_blank = PERMITS.replace("\n", "\n\n", 2)  # a blank line after the header and after row 1
    assert [r.line for r in read_permit_csv(with_blank.encode())] == [3, 5, 6, 7, 8]
    assert [r.line for r in read_permit_csv(with_blank.replace("\n", "\r\n").encode())] == [3, 5, 6, 7, 8]


def test_reimporting_gives_the_same_records_and_event_ids():
    first = [validate_event(e, CTX)[0] for r in read_penalty_csv(PENALTIES.encode()) for e in r.events]
    later = EdgeContext(now=datetime(2026, 3, 1, tzinfo=CTX.now.tzinfo), pseudonym_key=b"x" * 32)
    again = [validate_event(e, later)[0] for r in read_penalty_csv(PENALTIES.encode("gb18030")) for e in r.events]
    assert [e["event_id"] for e in first] == [e["event_id"] for e in again]
    assert first[0]["payload"]["record_id"] == "PENALTY:11410105359349989B:金市监罚〔2024〕112号"


# --- permits -------------------------------------------------------------------------------------

def test_a_permit_row_maps_to_permit_granted():
    event = read_permit_csv(PERMITS.encode())[0].events[0]
    assert event == {
        "type": "PermitGranted",
        "subject": {"id": "91410105MAQTL8NQ6P", "kind": "LEGAL_PERSON", "name": "郑州金水宏达餐饮管理有限公司"},
        "source": {"authority_code": "11410105359349989B", "authority_name": "郑州市金水区市场监督管理局"},
        "occurred_on": "2024-05-06",
        "classification": "PUBLIC",
        "payload": {"record_id": "PERMIT:11410105359349989B:金市监食许〔2024〕0456号",
                    "decision_no": "金市监食许〔2024〕0456号", "permit_kind": "普通",
                    "certificate_name": "食品经营许可证", "certificate_no": "JY24101050012345",
                    "content": "预包装食品（含冷藏冷冻食品）销售,热食类食品制售,冷食类食品制售",
                    "valid_from": "2024-05-06", "valid_to": "2029-05-05"},
    }


@pytest.mark.parametrize("code, kind", [
    (make_uscc("410105", 1), "LEGAL_PERSON"),  # 9-1 企业
    (make_uscc("410105", 2, "9", "2"), "INDIVIDUAL_BUSINESS"),  # 9-2 个体工商户
    # the Civil Code's kinds (issue 29 R7): these are legal persons, not 非法人组织
    (make_uscc("410105", 3, "9", "3"), "LEGAL_PERSON"),  # 9-3 农民专业合作社: 特别法人
    (make_uscc("410105", 4, "1", "1"), "LEGAL_PERSON"),  # 1-1 机关: 特别法人
    (make_uscc("410105", 6, "1", "2"), "LEGAL_PERSON"),  # 1-2 事业单位: 非营利法人
    (make_uscc("410105", 5, "5", "1"), "LEGAL_PERSON"),  # 5-1 社会团体: 非营利法人
    (make_uscc("410105", 7, "5", "3"), "LEGAL_PERSON"),  # 5-3 基金会: 非营利法人
])
def test_an_organisation_kind_follows_its_uscc(code, kind):
    assert the_event(read_permit_csv(permit_with(**{CODE: code})))["subject"]["kind"] == kind


def test_an_enterprise_named_as_a_branch_or_a_partnership_is_an_unincorporated_organisation():
    for name in ("郑州宏达机械有限公司金水分公司", "郑州正道会计师事务所（特殊普通合伙）"):
        event = the_event(read_permit_csv(permit_with(行政相对人名称=name)))
        assert event["subject"]["kind"] == "OTHER_ORGANIZATION"


def test_the_category_individual_business_is_taken_as_written_and_must_agree_with_the_code():
    event = the_event(read_permit_csv(permit_with(行政相对人类别="个体工商户", **{CODE: make_uscc("410105", 2, "9", "2")})))
    assert event["subject"]["kind"] == "INDIVIDUAL_BUSINESS"
    result = one(read_permit_csv(permit_with(行政相对人类别="个体工商户")))  # the sample's code is 9-1, an enterprise
    assert rules(result) == {("行政相对人类别", "kind_contradicts_code")} and result.events == []
    result = one(read_permit_csv(permit_with(行政相对人类别="非法人组织", **{CODE: make_uscc("410105", 6, "1", "2")})))
    assert rules(result) == {("行政相对人类别", "kind_contradicts_code")}  # a 事业单位 is a legal person


@pytest.mark.parametrize("valid_to", ["", "长期", "永久"])
def test_a_permit_without_end(valid_to):
    assert "valid_to" not in the_event(read_permit_csv(permit_with(有效期至=valid_to)))["payload"]


@pytest.mark.parametrize("state", ["无效", "2", "撤销", "吊销"])
def test_a_revoked_permit_imports_as_its_grant_and_its_revocation(state):
    result = one(read_permit_csv(permit_with(当前状态=state, 状态变更日期="2024/9/2")))
    assert result.problems == [] and [e["type"] for e in result.events] == ["PermitGranted", "PermitRevoked"]
    granted, revoked = result.events
    assert revoked["payload"]["record_id"] == granted["payload"]["record_id"] and revoked["occurred_on"] == "2024-09-02"
    assert state in revoked["payload"]["reason"] and revoked["source"] == granted["source"]
    for event in result.events:  # both pass the edge
        require_valid(event, CTX)


def test_a_revoked_permit_needs_the_day_it_ended_and_another_state_is_refused():
    assert rules(one(read_permit_csv(permit_with(当前状态="撤销")))) == {("状态变更日期", "required")}
    assert rules(one(read_permit_csv(permit_with(当前状态="撤销", 状态变更日期="2020/1/1")))) == {
        ("状态变更日期", "date_order")}
    result = one(read_permit_csv(permit_with(当前状态="冻结")))
    assert result.events == [] and rules(result) == {("当前状态", "state_not_supported")}


def test_a_permit_ending_before_it_starts():
    assert rules(one(read_permit_csv(permit_with(有效期至="2024-05-01")))) == {("有效期至", "date_order")}


# --- subjects --------------------------------------------------------------------------------------

def test_a_natural_person_carries_the_id_number_and_no_id():
    number = make_resident_id("410102", datetime(1986, 7, 21).date(), 135)
    event = read_penalty_csv(PENALTIES.encode())[4].events[0]
    assert event["subject"] == {"kind": "NATURAL_PERSON", "id_number": number, "name": "王建国"}
    accepted, problems = validate_event(event, CTX)
    assert problems == [] and accepted["subject"]["id"].startswith("np-")
    assert number not in str(accepted) and "王建国" not in str(accepted["subject"])


@pytest.mark.parametrize("id_type, ok", [("", True), ("居民身份证", True), ("护照", False), ("港澳居民来往内地通行证", False)])
def test_a_natural_person_needs_a_resident_id(id_type, ok):
    row = {**rows_of(PENALTIES)[4], "证件类型": id_type}
    result = one(read_penalty_csv(to_csv([row])))
    assert bool(result.events) == ok
    assert ok or rules(result) == {("证件类型", "id_type_not_supported")}


def test_a_bad_resident_id_names_its_column():
    row = {**rows_of(PENALTIES)[4]}
    row["证件号码"] = row["证件号码"][:-1] + ("0" if row["证件号码"][-1] != "0" else "1")
    assert rules(one(read_penalty_csv(to_csv([row])))) == {("证件号码", "resident_id")}


def test_an_id_number_in_a_published_column_is_refused():
    row = {**rows_of(PERMITS)[4]}
    row["许可编号"] = row["证件号码"]  # 从业资格证 numbers are often the holder's ID number
    assert rules(one(read_permit_csv(to_csv([row])))) == {("许可编号", "contains_id_number")}


def test_a_bad_uscc_names_its_column_and_carries_the_message():
    code = rows_of(PENALTIES)[0][CODE.replace("(", "（").replace(")", "）")]
    bad = code[:-1] + ("0" if code[-1] != "0" else "1")
    result = one(read_permit_csv(permit_with(**{CODE: bad})))
    assert [(p.field, p.rule) for p in result.problems] == [(CODE, "uscc")]
    assert uscc_problems(bad)[0] == result.problems[0].message
    assert rules(one(read_permit_csv(permit_with(许可机关统一社会信用代码="1141010535934998"))))\
        == {("许可机关统一社会信用代码", "uscc")}


def test_an_unknown_category_and_empty_required_cells():
    result = one(read_permit_csv(permit_with(行政相对人类别="外国企业", 许可内容="")))
    assert rules(result) == {("行政相对人类别", "subject_category"), ("许可内容", "required")}
    assert result.events == []


# --- penalties: kinds, amounts, severity -----------------------------------------------------------

@pytest.mark.parametrize("separator", ["；", ";", "、", ",", "，", " ； "])
def test_several_penalty_kinds_with_each_separator(separator):
    cell = separator.join(["警告", "罚款", "责令停产停业"])
    event = the_event(read_penalty_csv(penalty_with(处罚类别=cell)))
    assert event["payload"]["penalty_kinds"] == ["WARNING", "FINE", "SUSPENSION"]
    assert event["payload"]["severity"] == "SERIOUS"


@pytest.mark.parametrize("cell, kinds", [
    ("没收违法所得、没收非法财物", ["CONFISCATION"]),
    ("罚款、没收违法所得、没收非法财物", ["FINE", "CONFISCATION"]),
    ("没收违法所得、没收非法财物、罚款", ["CONFISCATION", "FINE"]),
    ("没收违法所得；没收非法财物", ["CONFISCATION"]),  # de-duplicated
    ("暂扣许可证件、降低资质等级、吊销许可证件", ["CERTIFICATE_DOWNGRADE", "CERTIFICATE_REVOCATION"]),
    ("责令停产停业、责令关闭", ["SUSPENSION"]),
    ("吊销营业执照", ["CERTIFICATE_REVOCATION"]),
    ("限制开展生产经营活动", ["PRODUCTION_RESTRICTION"]),
    ("其他；", ["OTHER"]),
])
def test_penalty_kind_names(cell, kinds):
    assert the_event(read_penalty_csv(penalty_with(处罚类别=cell)))["payload"]["penalty_kinds"] == kinds


def test_an_unknown_penalty_kind_is_named():
    result = one(read_penalty_csv(penalty_with(处罚类别="罚款、训诫")))
    assert rules(result) == {("处罚类别", "unknown_penalty_kind")}
    assert "'训诫'" in result.problems[0].message


@pytest.mark.parametrize("cell", ["", "；、"])
def test_no_penalty_kind(cell):
    assert rules(one(read_penalty_csv(penalty_with(处罚类别=cell)))) == {("处罚类别", "required")}


@pytest.mark.parametrize("text, fen", [
    ("0.0001", 100), ("12.345678", 12_345_678), ("0.1", 100_000), ("5", 5_000_000), ("0", 0),
    ("1,234.5", 1_234_500_000), ("１２．５", 12_500_000), ("1.2000000", 1_200_000),
])
def test_wan_yuan_to_fen_examples(text, fen):
    assert wan_to_fen(text) == fen


@given(st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False))
def test_wan_yuan_to_fen_is_exact(amount):
    assert wan_to_fen(format(amount, "f")) == amount * 1_000_000
    assert wan_to_fen(f"{amount:,f}") == amount * 1_000_000  # with thousands separators


@given(st.integers(min_value=0, max_value=10**9 - 1), st.integers(min_value=0, max_value=999_999))
def test_wan_yuan_where_floats_drift(whole, millionths):
    text = f"{whole}.{millionths:06d}"
    assert wan_to_fen(text) == whole * 1_000_000 + millionths == int(Decimal(text) * 1_000_000)


@pytest.mark.parametrize("text, rule", [
    ("0.0000001", "amount_precision"), ("-1", "amount_negative"), ("五万", "amount"), ("1e3", "amount"),
    ("1,23.4", "amount"), ("5万元", "amount"), ("2000000000", "amount_range"),
])
def test_bad_amounts(text, rule):
    with pytest.raises(ValueError) as raised:
        wan_to_fen(text)
    assert raised.value.args[0] == rule
    result = one(read_penalty_csv(penalty_with(**{FINE: text})))
    assert rules(result) == {(FINE, rule)} and result.events == []


def test_empty_amounts_are_absent():
    payload = the_event(read_penalty_csv(penalty_with(**{FINE: "", "没收违法所得、没收非法财物的金额（万元）": ""})))["payload"]
    assert "fine_fen" not in payload and "confiscation_fen" not in payload


@pytest.mark.parametrize("cell, severity", [
    ("警告", "GENERAL"), ("罚款、通报批评", "GENERAL"), ("罚款；没收违法所得", "SERIOUS"),
    ("警告、吊销许可证件、降低资质等级", "SEVERE"), ("行政拘留", "SEVERE"), ("限制从业", "SEVERE"),
])
def test_severity_is_the_most_severe_of_the_kinds(cell, severity):
    assert the_event(read_penalty_csv(penalty_with(处罚类别=cell)))["payload"]["severity"] == severity


def test_every_penalty_kind_has_a_default_severity():
    assert set(DEFAULT_SEVERITY_BY_PENALTY_KIND) == set(cat.PENALTY_KINDS)
    assert set(DEFAULT_SEVERITY_BY_PENALTY_KIND.values()) <= set(cat.SEVERITIES)


@pytest.mark.parametrize("override, severity", [
    ("一般", "GENERAL"), ("较重", "SERIOUS"), ("严重", "SEVERE"), ("特别严重", "SEVERE"),
    ("serious", "SERIOUS"), ("GENERAL", "GENERAL"),
])
def test_the_severity_column_overrides_the_map(override, severity):
    data = penalty_with(处罚类别="吊销营业执照", 失信严重程度=override)
    assert the_event(read_penalty_csv(data))["payload"]["severity"] == severity


def test_fixture_override_and_a_bad_override():
    severities = [r.events[0]["payload"]["severity"] for r in read_penalty_csv(PENALTIES.encode())]
    assert severities == ["SERIOUS", "GENERAL", "SERIOUS", "SERIOUS", "SEVERE", "SEVERE"]  # row 3: 较重
    assert rules(one(read_penalty_csv(penalty_with(失信严重程度="很重")))) == {("失信严重程度", "severity")}


def test_a_policy_supplies_its_own_severity_map():
    strict = {**DEFAULT_SEVERITY_BY_PENALTY_KIND, "FINE": "SEVERE"}
    event = the_event(read_penalty_csv(penalty_with(处罚类别="警告；罚款"), severity_by_kind=strict))
    assert event["payload"]["severity"] == "SEVERE"
    with pytest.raises(ValueError, match="DETENTION"):
        read_penalty_csv(PENALTIES.encode(), severity_by_kind={k: "GENERAL" for k in cat.PENALTY_KINDS[:-2]})


def test_duplicate_decision_numbers_with_different_content():
    first = rows_of(PENALTIES)[0]
    results = read_penalty_csv(to_csv([first, first, {**first, FINE: "6"}]))
    assert [rules(r) for r in results] == [set(), set(), {("行政处罚决定书文号", "duplicate_record")}]
    assert "line 2" in results[2].problems[0].message


# --- dates -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["2024-05-06", "2024/5/6", "2024.05.06", "20240506", "2024年5月6日",
                                  "2024/5/6 0:00", "2024-05-06 00:00:00", " 2024-05-06 "])
def test_date_forms(text):
    assert the_event(read_penalty_csv(penalty_with(处罚决定日期=text)))["occurred_on"] == "2024-05-06"


@pytest.mark.parametrize("column", ["处罚决定日期", "公示截止期"])
@pytest.mark.parametrize("text, rule", [("2024-02-30", "date"), ("20230229", "date"), ("2024/13/1", "date"),
                                        ("5/6/2024", "date_format"), ("2024-05/06", "date_format")])
def test_a_bad_date_names_its_column(column, text, rule):
    result = one(read_penalty_csv(penalty_with(**{column: text})))
    assert rules(result) == {(column, rule)} and result.events == []
    # quoted with its runs of 4 or more digits masked: a shifted column may hold a birth date (issue 28)
    assert masked(text.strip()) in result.problems[0].message and text.strip() not in result.problems[0].message


def test_publicity_cannot_end_before_the_decision():
    assert rules(one(read_penalty_csv(penalty_with(公示截止期="2024-05-01")))) == {("公示截止期", "date_order")}


# --- the file: header and encoding -----------------------------------------------------------------

def test_missing_required_columns_are_all_named():
    rows = [{k: v for k, v in row.items() if k not in ("违法事实", "处罚类别", "处罚机关")}
            for row in rows_of(PENALTIES)]
    with pytest.raises(TemplateError) as raised:
        read_penalty_csv(to_csv(rows))
    assert {(p.field, p.rule) for p in raised.value.problems} == {
        ("违法事实", "missing_column"), ("处罚类别", "missing_column"), ("处罚机关", "missing_column")}


def test_a_file_of_natural_persons_may_lack_the_uscc_column_but_not_both():
    row = {k: v for k, v in rows_of(PERMITS)[4].items() if k != CODE}
    assert the_event(read_permit_csv(to_csv([row])))["subject"]["kind"] == "NATURAL_PERSON"
    with pytest.raises(TemplateError) as raised:
        read_permit_csv(to_csv([{k: v for k, v in row.items() if k != "证件号码"}]))
    assert [(p.field, p.rule) for p in raised.value.problems] == [(CODE, "missing_column")]
    assert "证件号码" in raised.value.problems[0].message


def test_header_variants_and_unknown_columns():
    variants = {CODE: " 行政相对人代码_1（统一社会信用代码） ", FINE: "罚款金额(万元)", "处罚类别": "\u3000处罚类别\t"}
    rows = [{variants.get(k, k): v for k, v in row.items()} for row in rows_of(PENALTIES.replace("（统一", "(统一")
                                                                                 .replace("代码）", "代码)"))]
    rows = [{**row, "录入人": "张敏", "更新时间": "2024-06-10 09:00"} for row in rows]
    assert read_penalty_csv(to_csv(rows)) == read_penalty_csv(PENALTIES.encode())


def test_a_column_given_twice():
    text = PERMITS.replace("备注", "许可内容", 1)
    with pytest.raises(TemplateError) as raised:
        read_permit_csv(text.encode())
    assert [(p.field, p.rule) for p in raised.value.problems] == [("许可内容", "duplicate_column")]


def test_an_unquoted_comma_shifts_the_columns():
    row = PENALTIES.splitlines()[2].replace("警告,警告", "警告,警告,再次警告")
    result = one(read_penalty_csv((PENALTIES.splitlines()[0] + "\n" + row).encode()))
    assert rules(result) == {("$", "column_count")} and result.events == []


@pytest.mark.parametrize("data", [b"", b"\r\n"])
def test_an_empty_file(data):
    with pytest.raises(TemplateError) as raised:
        read_permit_csv(data)
    assert raised.value.problems[0].rule in ("header", "missing_column")


def test_a_header_only_file_has_no_rows():
    assert read_permit_csv(PERMITS.splitlines()[0].encode("gb18030")) == []


@pytest.mark.parametrize("data", [PERMITS.encode("utf-16"), b"\xef\xbb\xbf" + PERMITS.encode("gb18030")])
def test_an_undecodable_file(data):
    with pytest.raises(TemplateError) as raised:
        read_permit_csv(data)
    assert [(p.field, p.rule) for p in raised.value.problems] == [("$", "encoding")]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
@pytest.mark.parametrize("text, read, column, row", [
    (PENALTIES, read_penalty_csv, "违法事实", 2),  # its quoted 违法事实 spans two lines
    (PERMITS, read_permit_csv, "许可内容", 1),
])
def test_bytes_the_file_cannot_read_reject_their_row_only(text, read, column, row, encoding):
    """A file neither UTF-8 nor GB18030 reads whole: each row holding unreadable bytes is rejected naming
    its column (``encoding``); every other row imports as from the clean file."""
    rows = rows_of(text)
    clean = read(to_csv(rows).decode().encode(encoding))
    rows[row][column] = "MARK" + rows[row][column]
    broken = read(to_csv(rows).decode().encode(encoding).replace(b"MARK", b"\xff"))
    assert [r.line for r in broken] == [r.line for r in clean]
    for index, (before, after) in enumerate(zip(clean, broken)):
        if index == row:
            assert after.events == [] and rules(after) == {(column, "encoding")}
            assert "0xff" in after.problems[0].message and "UTF-8 or GB18030" in after.problems[0].message
        else:
            assert after == before
