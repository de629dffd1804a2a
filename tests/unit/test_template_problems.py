"""What the 双公示 CSV readers (projections/templates.py) tell a department, word for word: each problem's
column, rule and message, at the bounds of a cell. The messages are written out from the rules (a quoted
cell has its runs of 4 or more digits masked; 1 万元 = 1,000,000 fen; the catalogue's text limits)."""
from __future__ import annotations

import pytest

from projections.templates import TemplateError, read_penalty_csv, read_permit_csv
from tests.unit.test_templates import PENALTIES, one, penalty_with, permit_with, rows_of, to_csv


def said(result) -> list[tuple[str, str, str]]:
    return [(p.field, p.rule, p.message) for p in result.problems]


FINE, CONFISCATED = "罚款金额（万元）", "没收违法所得、没收非法财物的金额（万元）"


@pytest.mark.parametrize("cells, problem", [
    ({FINE: "abc"}, (FINE, "amount", "'abc' is not an amount in 万元 like 0.5 or 1,234.56")),
    ({FINE: "-1"}, (FINE, "amount_negative", "'-1' is negative")),
    ({CONFISCATED: "-1,000"}, (CONFISCATED, "amount_negative", "'-1,000' is negative")),
    ({FINE: "0.1234567"}, (FINE, "amount_precision", "'0.…' has more than 6 decimals: 万元 to the fen is 0.000001")),
    ({FINE: "1000000000.000001"}, (FINE, "amount_range", "'….…' 万元 is more than 1000000000000000 fen")),
    ({"失信严重程度": "很重"}, ("失信严重程度", "severity", "'很重' is not 一般, 较重, 严重 or 特别严重")),
    ({"处罚类别": "；"}, ("处罚类别", "required", "'；' names no kind of penalty")),
    ({"违法事实": "x" * 8001}, ("违法事实", "max_length", "8001 characters, the limit is 8000")),
    ({"处罚依据": "x" * 8001}, ("处罚依据", "max_length", "8001 characters, the limit is 8000")),
    ({"违法行为类型": "x" * 201}, ("违法行为类型", "max_length", "201 characters, the limit is 200")),
    ({"行政相对人类别": "外国企业"},
     ("行政相对人类别", "subject_category", "'外国企业' is not 法人及非法人组织, 个体工商户 or 自然人")),
    ({"公示截止期": "2024/5/19"}, ("公示截止期", "date_order", "2024-05-19 is before 2024-05-20")),
])
def test_a_penalty_row_s_problem_names_its_column_rule_and_words(cells, problem):
    result = one(read_penalty_csv(penalty_with(**cells)))
    assert said(result) == [problem] and result.events == []


def test_a_penalty_s_cells_at_their_limits_are_taken():
    event = one(read_penalty_csv(penalty_with(违法事实="x" * 8000, 违法行为类型="x" * 200, 公示截止期="2024/5/20",
                                              **{CONFISCATED: "1,000.5"}))).events[0]
    payload = event["payload"]
    assert (len(payload["facts"]), len(payload["violation_type"]), payload["publicity_until"]) == (
        8000, 200, "2024-05-20")  # publicity ending on the day of the decision is not before it
    assert payload["confiscation_fen"] == 1_000_500_000  # 1,000.5 万元 in fen


def test_an_unknown_penalty_kind_lists_the_known_names():
    (problem,) = one(read_penalty_csv(penalty_with(处罚类别="罚金"))).problems
    assert (problem.field, problem.rule) == ("处罚类别", "unknown_penalty_kind")
    assert "(known: 警告、通报批评、罚款、没收违法所得、没收非法财物、没收违法所得、" in problem.message


@pytest.mark.parametrize("cells, problem", [
    ({"当前状态": "冻结"}, ("当前状态", "state_not_supported", "'冻结': a permit is 有效 (1) or 无效 (2, 撤销, 吊销, 注销)")),
    ({"许可内容": ""}, ("许可内容", "required", "empty or absent: this column must be filled in")),
    ({"许可证书名称": "x" * 201}, ("许可证书名称", "max_length", "201 characters, the limit is 200")),
    ({"许可编号": "x" * 201}, ("许可编号", "max_length", "201 characters, the limit is 200")),
    ({"许可内容": "x" * 8001}, ("许可内容", "max_length", "8001 characters, the limit is 8000")),
    ({"有效期至": "2024/5/5"}, ("有效期至", "date_order", "2024-05-05 is before 2024-05-06")),
])
def test_a_permit_row_s_problem_names_its_column_rule_and_words(cells, problem):
    result = one(read_permit_csv(permit_with(**cells)))
    assert said(result) == [problem] and result.events == []


def test_a_permit_without_a_certificate_or_an_end_is_taken():
    payload = one(read_permit_csv(permit_with(许可证书名称="", 许可编号="", 有效期至="", 许可内容="x" * 8000))).events[0][
        "payload"]
    assert "certificate_name" not in payload and "certificate_no" not in payload and "valid_to" not in payload
    assert len(payload["content"]) == 8000
    payload = one(read_permit_csv(permit_with(有效期至="2024/5/6"))).events[0]["payload"]
    assert payload["valid_to"] == "2024-05-06"  # ending on the day it starts: not before it


def test_a_natural_person_without_a_resident_id_is_told_why():
    row = {**rows_of(PENALTIES)[4], "证件类型": "护照"}
    assert said(one(read_penalty_csv(to_csv([row])))) == [
        ("证件类型", "id_type_not_supported", "'护照': a natural person is identified only by a 居民身份证 number")]


def test_a_row_with_more_fields_than_the_header_is_refused_whole():
    text = PENALTIES.splitlines()[0] + "\n" + PENALTIES.splitlines()[1] + ",多余\n"
    result = one(read_penalty_csv(text.encode()))
    assert said(result) == [("$", "column_count", "26 fields but the header has 25: is a comma in a text not quoted?")]


@pytest.mark.parametrize("data, problem", [
    (b"", ("$", "header", "the file is empty: the first line must name the columns")),
    (b"\x80\x80,\x81\n", ("$", "encoding", "the header is not UTF-8 or GB18030: save the file as UTF-8 or GB18030")),
])
def test_a_file_that_cannot_be_read_is_refused_whole_with_its_reason(data, problem):
    with pytest.raises(TemplateError) as error:
        read_permit_csv(data)
    assert [(p.field, p.rule, p.message) for p in error.value.problems] == [problem]
    assert str(error.value) == f"{problem[0]}: {problem[2]} [{problem[1]}]"


def test_a_cell_beyond_the_csv_module_s_limit_is_refused_on_its_row_alone():
    # the csv module's own limit is 131,072 characters a field: past it, it would stop the whole file
    good, long = rows_of(PENALTIES)[0], {**rows_of(PENALTIES)[1], "违法事实": "x" * 140_000}
    first, second = read_penalty_csv(to_csv([good, long]))
    assert first.problems == [] and len(first.events) == 1
    assert said(second) == [("违法事实", "max_length", "140000 characters, the limit is 8000")] and second.events == []


def test_a_cell_is_quoted_in_a_problem_by_its_first_characters_only():
    (problem,) = one(read_permit_csv(permit_with(当前状态="无" * 130_000))).problems
    assert problem.message == "'" + "无" * 40 + "…': a permit is 有效 (1) or 无效 (2, 撤销, 吊销, 注销)"


def test_a_file_or_a_row_count_past_its_bound_is_refused_whole(monkeypatch):
    from projections import templates

    data = penalty_with()
    monkeypatch.setattr(templates, "TEMPLATE_BYTES_MAX", len(data) - 1)
    with pytest.raises(TemplateError) as error:
        read_penalty_csv(data)
    assert [(p.field, p.rule) for p in error.value.problems] == [("$", "size_limit")]
    monkeypatch.setattr(templates, "TEMPLATE_BYTES_MAX", len(data))
    assert len(read_penalty_csv(data)) == 1
    monkeypatch.setattr(templates, "TEMPLATE_BYTES_MAX", 10 * len(data))
    monkeypatch.setattr(templates, "TEMPLATE_ROWS_MAX", 1)
    with pytest.raises(TemplateError) as error:
        read_penalty_csv(to_csv(rows_of(PENALTIES)[:2]))
    assert [(p.field, p.rule, p.message) for p in error.value.problems] == [
        ("$", "size_limit", "more than 1 rows: split it")]


def test_a_column_named_twice_is_named_with_both_places():
    header = PENALTIES.splitlines()[0]
    text = header + ",行政相对人名称\n"
    with pytest.raises(TemplateError) as error:
        read_penalty_csv(text.encode())
    assert ("行政相对人名称", "duplicate_column", "in columns 1 and 26") in {
        (p.field, p.rule, p.message) for p in error.value.problems}


def only(row: dict[str, str], columns: tuple) -> bytes:
    """The row with only these columns (a column tuple: its first name the fixture has)."""
    names = [c if isinstance(c, str) else next(n for n in c if n in row) for c in columns]
    return to_csv([{name: row[name] for name in names}])


def test_a_file_of_the_required_columns_only_reads_with_the_optional_ones_empty():
    from projections.templates import PENALTY_REQUIRED, PERMIT_REQUIRED
    from tests.unit.test_templates import PERMITS
    permit = rows_of(PERMITS)[0]
    (event,) = one(read_permit_csv(only(permit, PERMIT_REQUIRED))).events  # no 当前状态: a valid permit
    assert event["type"] == "PermitGranted" and "valid_to" not in event["payload"]
    assert "certificate_name" not in event["payload"] and "certificate_no" not in event["payload"]
    person = {**rows_of(PENALTIES)[4]}
    columns = tuple(c if c != ("行政相对人代码_1(统一社会信用代码)", "证件号码") else "证件号码" for c in PENALTY_REQUIRED)
    (event,) = one(read_penalty_csv(only(person, columns))).events  # no 证件类型: a resident ID number
    # 罚款，吊销许可证件: FINE is GENERAL, CERTIFICATE_REVOCATION SEVERE (policies/2024.1.yaml): the graver
    assert event["subject"]["kind"] == "NATURAL_PERSON" and event["payload"]["severity"] == "SEVERE"


def test_missing_columns_are_each_named_and_an_identifier_s_alternative_too():
    header = [c for c in PENALTIES.splitlines()[0].split(",")
              if c not in ("行政相对人代码_1（统一社会信用代码）", "证件号码", "违法事实")]
    with pytest.raises(TemplateError) as error:
        read_penalty_csv((",".join(header) + "\n").encode())
    assert [(p.field, p.rule, p.message) for p in error.value.problems] == [
        ("行政相对人代码_1(统一社会信用代码)", "missing_column",
         "the header has no 行政相对人代码_1(统一社会信用代码) (or 证件号码)"),
        ("违法事实", "missing_column", "the header has no 违法事实")]
    assert str(error.value) == ("行政相对人代码_1(统一社会信用代码): the header has no 行政相对人代码_1(统一社会信用代码) "
                                "(or 证件号码) [missing_column]; 违法事实: the header has no 违法事实 [missing_column]")


def test_an_id_number_in_a_published_column_is_refused_in_words():
    from tests.unit.test_templates import PERMITS
    row = {**rows_of(PERMITS)[4]}
    row["许可编号"] = row["证件号码"]
    assert said(one(read_permit_csv(to_csv([row])))) == [
        ("许可编号", "contains_id_number", "contains the person's ID number, which is never published")]
