"""How the 双公示 CSV readers (projections/templates.py) read a file's rows, and the words of the problems
not pinned elsewhere: a short row, a header spelled with inner spaces, a line break inside a quoted cell,
bytes the file's encoding cannot read, a decision number given twice in a permit file, a policy's
severity map that leaves a kind out. Every expected value is written from the rule the module's
docstring states (GB 11643 and GB 32100 name the check character and the registration category)."""
from __future__ import annotations

import pytest

from projections import catalogue as cat
from projections.templates import read_penalty_csv, read_permit_csv
from tests.unit.test_templates import PENALTIES, PERMITS, one, penalty_with, permit_with, rows_of, to_csv


def said(result) -> list[tuple[str, str, str]]:
    return [(p.field, p.rule, p.message) for p in result.problems]


def test_a_resident_id_number_s_broken_check_character_is_told_in_the_standard_s_words():
    row = {**rows_of(PENALTIES)[4]}
    number = row["证件号码"]
    row["证件号码"] = number[:-1] + ("0" if number[-1] != "0" else "1")
    result = one(read_penalty_csv(to_csv([row])))
    assert said(result) == [("证件号码", "resident_id",
                             "character 18: the check character does not match characters 1-17 (GB 11643-1999)")]
    assert result.events == []


def test_a_category_its_code_contradicts_is_told_with_the_kinds_the_code_admits():
    # the sample's code starts 91: an enterprise (企业), which the Civil Code makes a 营利法人 or a 非法人组织
    result = one(read_permit_csv(permit_with(行政相对人类别="个体工商户")))
    assert said(result) == [("行政相对人类别", "kind_contradicts_code",
                             "the code's registration category 91 (企业) is 营利法人、非法人组织 under the Civil Code: "
                             "subject.kind LEGAL_PERSON or OTHER_ORGANIZATION, not INDIVIDUAL_BUSINESS (GB 32100-2015)")]


def test_a_severity_map_that_leaves_kinds_out_names_them_in_the_catalogue_s_order():
    leaves_out_two = {kind: "GENERAL" for kind in cat.PENALTY_KINDS[:-2]}  # no DETENTION, no OTHER
    with pytest.raises(ValueError) as error:
        read_penalty_csv(PENALTIES.encode(), severity_by_kind=leaves_out_two)
    assert str(error.value) == "severity_by_kind maps no valid severity for DETENTION, OTHER"
    with pytest.raises(ValueError) as error:
        read_penalty_csv(PENALTIES.encode(), severity_by_kind={**leaves_out_two, "DETENTION": "SEVERE",
                                                               "OTHER": "HEAVY", "WARNING": "LIGHT"})
    assert str(error.value) == "severity_by_kind maps no valid severity for WARNING, OTHER"


@pytest.mark.parametrize("encoding, name", [("utf-8", "UTF-8"), ("gb18030", "GB18030")])
@pytest.mark.parametrize("byte", [b"\xff", b"\x80"])
def test_an_unreadable_byte_is_named_with_the_file_s_encoding_and_the_advice(encoding, name, byte):
    rows = rows_of(PERMITS)
    rows[1]["许可内容"] = "MARK" + rows[1]["许可内容"]
    data = to_csv(rows).decode().encode(encoding).replace(b"MARK", byte)
    results = read_permit_csv(data)
    assert said(results[1]) == [("许可内容", "encoding", f"byte 0x{byte[0]:02x} cannot be read as {name}, the file's "
                                                        "encoding: save the file as UTF-8 or GB18030")]
    assert results[1].events == [] and all(r.problems == [] and r.events for i, r in enumerate(results) if i != 1)


def test_an_unreadable_cell_is_named_by_the_column_as_problems_spell_it_or_as_the_header_does():
    header, first = PENALTIES.splitlines()[:2]
    header = header.replace("罚款金额（万元）", "罚款金额(万元)")  # a variant spelling of a known column
    cells = first.split(",")
    cells[12] = "MARK5"  # 罚款金额
    cells[22] = "MARK"  # 备注: not imported, named as the header has it
    data = (header + "\n" + ",".join(cells) + "\n").encode().replace(b"MARK", b"\xff")
    result = one(read_penalty_csv(data))
    reason = "byte 0xff cannot be read as UTF-8, the file's encoding: save the file as UTF-8 or GB18030"
    assert said(result) == [("罚款金额（万元）", "encoding", reason), ("备注", "encoding", reason)]


def test_a_header_with_spaces_inside_its_names_reads_as_the_template():
    header, *rest = PENALTIES.split("\n", 1)
    spaced = header.replace("罚款金额（万元）", "罚款金额 （万元）").replace("处罚类别", "处罚\u3000类别")
    assert read_penalty_csv((spaced + "\n" + rest[0]).encode()) == read_penalty_csv(PENALTIES.encode())


def test_a_row_that_stops_before_the_last_columns_reads_them_as_empty():
    header = PERMITS.splitlines()[0]
    columns = header.split(",")
    kept = columns.index("许可机关统一社会信用代码") + 1  # no 当前状态 (a valid permit), 数据来源单位, 备注, 地方编码
    short_row = to_csv([{c: rows_of(PERMITS)[0][c] for c in columns[:kept]}]).decode().splitlines()[1]
    result = one(read_permit_csv((header + "\n" + short_row + "\n").encode()))
    assert result.problems == [] and [e["type"] for e in result.events] == ["PermitGranted"]
    assert result.events == one(read_permit_csv(permit_with())).events


def test_a_line_break_inside_a_quoted_cell_is_kept_as_written():
    for line_end in ("\r\n", "\n"):
        facts = f"经查，当事人销售过期酸奶。{line_end}违法所得60元。"
        event = one(read_penalty_csv(penalty_with(违法事实=facts))).events[0]
        assert event["payload"]["facts"] == facts


def test_a_decision_number_given_twice_in_a_permit_file_is_refused_on_the_later_row_with_no_event():
    first = rows_of(PERMITS)[0]
    results = read_permit_csv(to_csv([first, {**first, "许可内容": "热食类食品制售"}]))
    assert [r.line for r in results] == [2, 3]
    assert results[0].problems == [] and len(results[0].events) == 1
    assert said(results[1]) == [("行政许可决定文书号", "duplicate_record",
                                 "line 2 has the same decision number with different content")]
    assert results[1].events == []


def test_a_permit_given_twice_with_another_state_or_state_date_is_refused_on_the_later_row():
    first = rows_of(PERMITS)[0]
    revoked = {**first, "当前状态": "撤销", "状态变更日期": "2024/6/1"}
    results = read_permit_csv(to_csv([revoked, {**revoked, "状态变更日期": "2024/7/1"}, {**first, "当前状态": "有效"}]))
    assert [len(r.events) for r in results] == [2, 0, 0]  # a grant and its revocation; then the contradictions
    assert [said(r) for r in results[1:]] == [[("行政许可决定文书号", "duplicate_record",
                                                "line 2 has the same decision number with different content")]] * 2


def test_a_penalty_given_twice_with_other_content_keeps_no_event_of_the_later_row():
    first = rows_of(PENALTIES)[0]
    results = read_penalty_csv(to_csv([first, {**first, "罚款金额（万元）": "6"}, first]))
    assert [len(r.events) for r in results] == [1, 0, 1]  # the same row again is harmless
    assert said(results[1]) == [("行政处罚决定书文号", "duplicate_record",
                                 "line 2 has the same decision number with different content")]


def _lines_read(data: bytes, encoding: str) -> int:
    count = 0
    for line in data.split(b"\n"):
        try:
            line.decode(encoding)
            count += 1
        except UnicodeDecodeError:
            pass
    return count


def test_a_file_neither_encoding_reads_whole_is_read_as_the_one_that_reads_more_of_its_lines():
    """A UTF-8 file with one cell pasted in GB18030, of many words: GB18030 reads more of the file's
    space-separated words, UTF-8 more of its lines, and lines decide; only the pasted row is refused."""
    rows = rows_of(PERMITS)
    rows[1]["许可内容"] = "MARK"
    data = to_csv(rows).replace(b"MARK", " ".join(["热食类食品制售"] * 12).encode("gb18030"))
    assert (_lines_read(data, "utf-8"), _lines_read(data, "gb18030")) == (6, 1)  # of 7, the last one empty
    results = read_permit_csv(data)
    assert [r.line for r in results] == [2, 3, 4, 5, 6]
    assert [p.message for p in results[1].problems] == [
        "byte 0xc8 cannot be read as UTF-8, the file's encoding: save the file as UTF-8 or GB18030"]  # 热 is C8C8
    assert [len(r.events) for r in results] == [1, 0, 1, 1, 1]


def test_a_row_with_more_fields_than_the_header_leaves_the_rows_after_it_read():
    header, first, second = PENALTIES.splitlines()[:3]
    results = read_penalty_csv((header + "\n" + first + ",多余\n" + second + "\n").encode())
    assert [(r.line, [p.rule for p in r.problems], len(r.events)) for r in results] == [
        (2, ["column_count"], 0), (3, [], 1)]
