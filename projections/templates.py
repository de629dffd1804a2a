"""The national 双公示 CSV templates (行政许可, 行政处罚) read into events in JSON form.

Pure: bytes in, events and problems out. Every problem names the row's line, the
Chinese column and a rule, so a department can fix its export without our code.
The events still go through ``validate_event`` at the edge, which pseudonymises
natural persons and derives a stable event id from the content.

Decisions where DESIGN is silent:
- A row's ``line`` is the physical line its record starts on (the header is line 1);
  blank rows are skipped; a row with any problem yields no event (never half a record);
  a row with more non-empty fields than the header (an unquoted comma) is ``column_count``.
- record_id is ``PERMIT:<authority code>:<decision no>`` (``PENALTY:`` ...): the decision
  number is unique per authority and does not change when a certificate is renewed
  or corrected, so re-importing a file gives the same records and the same event ids.
- 行政相对人类别 法人及非法人组织 takes the kind the USCC's registration category (positions 1-2)
  admits under the Civil Code (projections/subject_kinds.py): 9-2 个体工商户 -> INDIVIDUAL_BUSINESS;
  1-1 机关, 1-2 事业单位, 5-1 社会团体, 5-3 基金会, 9-3 农民专业合作社 -> LEGAL_PERSON (特别法人 or
  非营利法人); 9-1 企业 -> LEGAL_PERSON, or OTHER_ORGANIZATION where the name says 分公司, 合伙, 个人独资 ...
  A row whose 类别 (法人, 非法人组织, 个体工商户) contradicts its code is ``kind_contradicts_code``.
- Only 居民身份证 numbers identify a natural person: the edge pseudonymises only those;
  a published column holding that number (从业资格证 许可编号 often do) is ``contains_id_number``.
- Encoding: UTF-8 (a BOM is allowed) or GB18030, whichever reads the whole file. A file that neither
  reads whole is read as the one that reads more of its lines; each row holding bytes that one
  cannot read is ``encoding`` (naming the column), the other rows are imported. A header that
  cannot be read rejects the file: without it no row can be.
- Dates: 2024-05-06, 2024/5/6, 2024.05.06, 20240506, 2024年5月6日; a trailing time is dropped.
- The same decision number twice in a file with different content is ``duplicate_record``
  (an identical repeated row is harmless: the edge gives it the same event id).
- 当前状态: a valid permit (empty, 有效, 正常, 1) is a PermitGranted; a revoked or invalid one (无效, 2,
  撤销, 撤回, 吊销, 注销) is a PermitGranted and a PermitRevoked dated by the column 状态变更日期 (issue 29:
  the revoked-permit rows import). The national template has no such date, so this reader asks for
  one (``required``); any other state is ``state_not_supported``.
- 有效期至 empty or 长期 (永久, 长期有效, 无固定期限) means no end.
- 万元 amounts: plain decimals, optionally with well-formed thousands separators
  (1,234.5); exact to the fen, so more than 6 significant decimals is a problem.
- 失信严重程度 一般/较重/严重 map to GENERAL/SERIOUS/SEVERE: 严重失信 is the national
  class with a 1-year minimum publicity, which DESIGN gives to SEVERE; 特别严重 -> SEVERE.
- Not imported (no payload field): 法定代表人, 文书名称, 处罚内容, 暂扣或吊销证照名称及编号,
  处罚有效期, 备注, 数据来源单位 (an organisation, not the sending ``source.system``, which
  the caller may set). ``sector`` is not inferred.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, localcontext
from types import MappingProxyType

from projections import catalogue as cat
from projections.policy import DEFAULT_POLICY
from projections.canonical import canonical_bytes
from projections.ids import resident_id_problems, uscc_problems
from projections.personal_data import masked
from projections.subject_kinds import kind_problem, wire_kind_for
from projections.validate import Problem

TEMPLATE_BYTES_MAX = 256 * 1024 * 1024  # one file: ~500,000 rows of a department's historical import
TEMPLATE_ROWS_MAX = 1_000_000
QUOTED_CHARS_MAX = 40  # of a cell, in a problem's message
# The csv module refuses a field over 128 KiB (process-wide, for the whole file); a cell within the file's
# bound is read, and its column's own limit names it on its row (max_length) instead.
csv.field_size_limit(max(csv.field_size_limit(), TEMPLATE_BYTES_MAX))

# Column names as DESIGN spells them; problems name columns this way.
NAME, CATEGORY, CODE = "行政相对人名称", "行政相对人类别", "行政相对人代码_1(统一社会信用代码)"
ID_TYPE, ID_NUMBER, STATE, STATE_DATE = "证件类型", "证件号码", "当前状态", "状态变更日期"
PERMIT_NO, PERMIT_KIND, CERT_NAME, CERT_NO = "行政许可决定文书号", "许可类别", "许可证书名称", "许可编号"
PERMIT_CONTENT, PERMIT_DATE, VALID_FROM, VALID_TO = "许可内容", "许可决定日期", "有效期自", "有效期至"
PERMIT_AUTHORITY, PERMIT_AUTHORITY_CODE = "许可机关", "许可机关统一社会信用代码"
PENALTY_NO, VIOLATION, FACTS, BASIS, KINDS = "行政处罚决定书文号", "违法行为类型", "违法事实", "处罚依据", "处罚类别"
FINE, CONFISCATED = "罚款金额（万元）", "没收违法所得、没收非法财物的金额（万元）"
PENALTY_DATE, PUBLICITY_UNTIL, SEVERITY = "处罚决定日期", "公示截止期", "失信严重程度"
PENALTY_AUTHORITY, PENALTY_AUTHORITY_CODE = "处罚机关", "处罚机关统一社会信用代码"

_SUBJECT_REQUIRED = (NAME, CATEGORY, (CODE, ID_NUMBER))  # a tuple: one of them is enough
PERMIT_REQUIRED = (*_SUBJECT_REQUIRED, PERMIT_NO, PERMIT_KIND, PERMIT_CONTENT, PERMIT_DATE, VALID_FROM,
                   PERMIT_AUTHORITY, PERMIT_AUTHORITY_CODE)
PERMIT_OPTIONAL = (ID_TYPE, ID_NUMBER, CODE, CERT_NAME, CERT_NO, VALID_TO, STATE, STATE_DATE)
PENALTY_REQUIRED = (*_SUBJECT_REQUIRED, PENALTY_NO, VIOLATION, FACTS, BASIS, KINDS, PENALTY_DATE,
                    PENALTY_AUTHORITY, PENALTY_AUTHORITY_CODE)
PENALTY_OPTIONAL = (ID_TYPE, ID_NUMBER, CODE, FINE, CONFISCATED, PUBLICITY_UNTIL, SEVERITY)

# The template carries no severity. Defaults by the weight of the sanction in the
# 行政处罚法 (§9): reprimands and fines are 一般; taking property or restricting business
# is 较重; taking the licence or the person's liberty or trade is 严重 (seed 002 §8 asks
# for supervision "按照失信行为造成后果的严重程度"). A policy file may replace this map.
# The template has no severity column: the policy maps penalty kinds to one (policies/*.yaml).
DEFAULT_SEVERITY_BY_PENALTY_KIND: Mapping[str, str] = DEFAULT_POLICY.severity_by_penalty_kind
PENALTY_KIND_BY_NAME: Mapping[str, str] = MappingProxyType({
    "警告": "WARNING", "通报批评": "NOTICE_OF_CRITICISM", "罚款": "FINE",
    "没收违法所得、没收非法财物": "CONFISCATION", "没收违法所得": "CONFISCATION", "没收非法财物": "CONFISCATION",
    "暂扣许可证件、降低资质等级": "CERTIFICATE_DOWNGRADE", "暂扣许可证件": "CERTIFICATE_DOWNGRADE",
    "降低资质等级": "CERTIFICATE_DOWNGRADE", "暂扣许可证": "CERTIFICATE_DOWNGRADE", "暂扣执照": "CERTIFICATE_DOWNGRADE",
    "吊销许可证件": "CERTIFICATE_REVOCATION", "吊销营业执照": "CERTIFICATE_REVOCATION",
    "吊销许可证": "CERTIFICATE_REVOCATION", "吊销执照": "CERTIFICATE_REVOCATION",
    "限制开展生产经营活动": "PRODUCTION_RESTRICTION",
    "责令停产停业、责令关闭": "SUSPENSION", "责令停产停业": "SUSPENSION", "责令关闭": "SUSPENSION",
    "限制从业": "EMPLOYMENT_RESTRICTION", "行政拘留": "DETENTION", "其他": "OTHER", "其他行政处罚": "OTHER",
})
# Names that contain the separator 、 are protected before splitting, longest first.
_MULTI_PART = sorted((n for n in PENALTY_KIND_BY_NAME if "、" in n), key=len, reverse=True)
_KIND_SEPARATORS = re.compile(r"[；;、,，]")
_SEVERITY_BY_NAME = {"一般": "GENERAL", "一般失信": "GENERAL", "较重": "SERIOUS", "较重失信": "SERIOUS",
                     "严重": "SEVERE", "严重失信": "SEVERE", "特别严重": "SEVERE",
                     **{s: s for s in cat.SEVERITIES}}
_ORGANISATION = "ORGANISATION"  # the kind its USCC admits: subject_kinds.wire_kind_for
_CATEGORIES = {"法人及非法人组织": _ORGANISATION, "法人和非法人组织": _ORGANISATION, "法人": "LEGAL_PERSON",
               "非法人组织": "OTHER_ORGANIZATION", "法人及其他组织": _ORGANISATION,
               "个体工商户": "INDIVIDUAL_BUSINESS", "自然人": "NATURAL_PERSON"}
_RESIDENT_ID_TYPES = ("", "身份证", "居民身份证", "中华人民共和国居民身份证")
_VALID_STATES = ("", "有效", "正常", "1")
_ENDED_STATES = ("无效", "2", "撤销", "撤回", "吊销", "注销")  # the permit ended on 状态变更日期
_NO_END = ("长期", "永久", "长期有效", "无固定期限")
_DATE_FORMS = tuple(re.compile(p, re.ASCII) for p in (
    r"(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})",
    r"(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})日",
    r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})",
))
def _quoted(cell: str) -> str:
    """A cell as a problem quotes it: its first QUOTED_CHARS_MAX characters, its runs of 4 or more digits
    masked (a shifted column may put an ID number or a birth date where an amount or a date belongs: issue 28)."""
    return masked(repr(cell if len(cell) <= QUOTED_CHARS_MAX else cell[:QUOTED_CHARS_MAX] + "…"))


_TIME_SUFFIX = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2})?$", re.ASCII)  # spreadsheets add 0:00
_AMOUNT = re.compile(r"\d+(\.\d+)?", re.ASCII)
_GROUPED = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?", re.ASCII)
_FEN_PER_WAN_YUAN_EXP = 6  # 1 万元 = 10,000 yuan = 1,000,000 fen
_UNDECODED = re.compile("[\udc80-\udcff]")  # a byte the file's encoding could not read (surrogateescape)


@dataclass
class RowResult:
    line: int  # 1-based physical line the record starts on; the header is line 1
    events: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class TemplateError(ValueError):
    """The file as a whole cannot be read: encoding, header. Carries every problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def wan_to_fen(text: str) -> int:
    """万元 text to integer fen, exactly. Raises ValueError(rule, message)."""
    clean = unicodedata.normalize("NFKC", text).strip()  # full-width digits and commas
    if _GROUPED.fullmatch(clean.lstrip("-")):
        clean = clean.replace(",", "")
    if not _AMOUNT.fullmatch(clean.lstrip("-")):
        raise ValueError("amount", f"{_quoted(text)} is not an amount in 万元 like 0.5 or 1,234.56")
    if clean.startswith("-"):
        raise ValueError("amount_negative", f"{_quoted(text)} is negative")
    with localcontext() as ctx:
        ctx.prec = len(clean) + _FEN_PER_WAN_YUAN_EXP  # enough digits: scaleb only moves the point
        fen = Decimal(clean).scaleb(_FEN_PER_WAN_YUAN_EXP)
        if fen != fen.to_integral_value():
            raise ValueError("amount_precision", f"{_quoted(text)} has more than 6 decimals: 万元 to the fen "
                                                 "is 0.000001")
    if fen > cat.FEN_MAX:
        raise ValueError("amount_range", f"{_quoted(text)} 万元 is more than {cat.FEN_MAX} fen")
    return int(fen)


def parse_date(text: str) -> date:
    """2024-05-06, 2024/5/6, 2024.05.06, 20240506 or 2024年5月6日. Raises ValueError(rule, message)."""
    clean = _TIME_SUFFIX.sub("", unicodedata.normalize("NFKC", text).strip())
    for form in _DATE_FORMS:
        if match := form.fullmatch(clean):
            try:
                return date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError:
                raise ValueError("date", f"{_quoted(text)} does not exist in the calendar") from None
    raise ValueError("date_format", f"{_quoted(text)} is not a date like 2024-05-06, 2024/5/6 or 2024年5月6日")


class _Row:
    """One record's cells by column, and the problems found in it."""

    def __init__(self, cells: dict[str, str]):
        self.cells = cells
        self.problems: list[Problem] = []

    def add(self, column: str, rule: str, message: str) -> None:
        self.problems.append(Problem(column, rule, message))

    def text(self, column: str, required: bool = True, max_chars: int = cat.SHORT_CHARS_MAX) -> str | None:
        value = self.cells.get(column, "")
        if not value:
            if required:
                self.add(column, "required", "empty or absent: this column must be filled in")
            return None
        if len(value) > max_chars:
            self.add(column, "max_length", f"{len(value)} characters, the limit is {max_chars}")
            return None
        return value

    def date(self, column: str, required: bool = True, not_before: str | None = None) -> str | None:
        value = self.text(column, required)
        if value is None:
            return None
        try:
            iso = parse_date(value).isoformat()
        except ValueError as error:
            self.add(column, *error.args)
            return None
        if not_before is not None and iso < not_before:
            self.add(column, "date_order", f"{iso} is before {not_before}")
        return iso

    def amount_fen(self, column: str) -> int | None:
        value = self.text(column, required=False)
        try:
            return None if value is None else wan_to_fen(value)
        except ValueError as error:
            self.add(column, *error.args)
            return None

    def uscc(self, column: str) -> str | None:
        code = self.text(column)
        messages = uscc_problems(code) if code is not None else []
        for message in messages:
            self.add(column, "uscc", message)
        return None if messages else code




def _subject(row: _Row) -> dict | None:
    name, category = row.text(NAME), row.text(CATEGORY)
    kind = _CATEGORIES.get(category) if category else None
    if kind is None:
        if category:
            row.add(CATEGORY, "subject_category", f"{_quoted(category)} is not 法人及非法人组织, 个体工商户 or 自然人")
        return None
    if kind != "NATURAL_PERSON":
        code = row.uscc(CODE)
        if code is None:
            return None
        if kind == _ORGANISATION:  # the kind its code admits (issue 29 R7)
            kind = wire_kind_for(code, name)
        contradiction = kind_problem(kind, code)
        if contradiction is not None:
            row.add(CATEGORY, "kind_contradicts_code", contradiction)
            return None
        return {"id": code, "kind": kind, "name": name}
    # No subject.id: the edge derives a keyed pseudonym from the number and drops the name.
    id_type = row.cells.get(ID_TYPE, "")
    if id_type not in _RESIDENT_ID_TYPES:
        row.add(ID_TYPE, "id_type_not_supported", f"{_quoted(id_type)}: a natural person is identified only "
                                                  "by a 居民身份证 number")
        return None
    number = row.text(ID_NUMBER)
    for message in resident_id_problems(number) if number else []:
        row.add(ID_NUMBER, "resident_id", message)
    return {"kind": kind, "id_number": number, "name": name}


def _event(row: _Row, type_: str, occurred_on: str | None, authority: tuple[str, str], payload: dict) -> dict | None:
    """The envelope around `payload`, or None if the row has any problem."""
    subject = _subject(row)
    name, code = row.text(authority[0]), row.uscc(authority[1])
    number = subject.get("id_number") if subject else None
    published = {v for v in payload.values() if isinstance(v, str)}
    for column, value in row.cells.items():  # a 许可编号 is often the holder's ID number
        if number and column != ID_NUMBER and value in published and number in value:
            row.add(column, "contains_id_number", "contains the person's ID number, which is never published")
    if row.problems:
        return None
    record_id = f"{'PERMIT' if type_ == 'PermitGranted' else 'PENALTY'}:{code}:{payload['decision_no']}"
    return {"type": type_, "subject": subject, "source": {"authority_code": code, "authority_name": name},
            "occurred_on": occurred_on, "classification": "PUBLIC",
            "payload": {"record_id": record_id, **{k: v for k, v in payload.items() if v is not None}}}


def _permit(row: _Row) -> list[dict] | None:
    state = row.cells.get(STATE, "")
    if state not in _VALID_STATES + _ENDED_STATES:
        row.add(STATE, "state_not_supported", f"{_quoted(state)}: a permit is 有效 (1) or 无效 (2, 撤销, 吊销, 注销)")
    valid_from, no_end = row.date(VALID_FROM), row.cells.get(VALID_TO, "") in _NO_END
    payload = {"decision_no": row.text(PERMIT_NO), "permit_kind": row.text(PERMIT_KIND),
               "certificate_name": row.text(CERT_NAME, False), "certificate_no": row.text(CERT_NO, False),
               "content": row.text(PERMIT_CONTENT, max_chars=cat.TEXT_CHARS_MAX), "valid_from": valid_from,
               "valid_to": None if no_end else row.date(VALID_TO, False, not_before=valid_from)}
    decided_on = row.date(PERMIT_DATE)
    ended_on = row.date(STATE_DATE, not_before=decided_on) if state in _ENDED_STATES else None
    granted = _event(row, "PermitGranted", decided_on, (PERMIT_AUTHORITY, PERMIT_AUTHORITY_CODE), payload)
    if granted is None or state not in _ENDED_STATES:
        return [granted] if granted else None
    revoked = {**granted, "type": "PermitRevoked", "occurred_on": ended_on,
               "payload": {"record_id": granted["payload"]["record_id"], "reason": f"当前状态：{state}（{ended_on}）"}}
    return [granted, revoked]


def _penalty_kinds(row: _Row) -> list[str]:
    cell = row.text(KINDS) or ""
    for name in _MULTI_PART:
        cell = cell.replace(name, name.replace("、", "\0"))
    kinds: list[str] = []
    names = [n for n in (part.replace("\0", "、").strip() for part in _KIND_SEPARATORS.split(cell)) if n]
    for name in names:
        kind = PENALTY_KIND_BY_NAME.get(name)
        if kind is None:
            row.add(KINDS, "unknown_penalty_kind", f"{_quoted(name)} is not a kind of penalty of the 行政处罚法 "
                                                   f"(known: {'、'.join(PENALTY_KIND_BY_NAME)})")
        elif kind not in kinds:
            kinds.append(kind)
    if cell and not names:
        row.add(KINDS, "required", f"{_quoted(cell)} names no kind of penalty")
    return kinds


def _severity(row: _Row, kinds: list[str], severity_by_kind: Mapping[str, str]) -> str | None:
    override = row.cells.get(SEVERITY, "")
    if override:
        severity = _SEVERITY_BY_NAME.get(override.upper() if override.isascii() else override)
        if severity is None:
            row.add(SEVERITY, "severity", f"{_quoted(override)} is not 一般, 较重, 严重 or 特别严重")
        return severity
    # Several kinds: the most severe one decides, like the longest publicity does.
    return max((severity_by_kind[k] for k in kinds), key=cat.SEVERITIES.index, default=None)


def _penalty(row: _Row, severity_by_kind: Mapping[str, str]) -> dict | None:
    decided_on, kinds = row.date(PENALTY_DATE), _penalty_kinds(row)
    payload = {"decision_no": row.text(PENALTY_NO), "violation_type": row.text(VIOLATION),
               "facts": row.text(FACTS, max_chars=cat.TEXT_CHARS_MAX),
               "basis": row.text(BASIS, max_chars=cat.TEXT_CHARS_MAX), "penalty_kinds": kinds,
               "fine_fen": row.amount_fen(FINE), "confiscation_fen": row.amount_fen(CONFISCATED),
               "severity": _severity(row, kinds, severity_by_kind),
               "publicity_until": row.date(PUBLICITY_UNTIL, False, not_before=decided_on)}
    return _event(row, "PenaltyImposed", decided_on, (PENALTY_AUTHORITY, PENALTY_AUTHORITY_CODE), payload)


def _decode(data: bytes) -> tuple[str, str]:
    """(the text, its encoding). Bytes the encoding cannot read stay in the text as lone surrogates
    (surrogateescape: byte 0xff is U+DCFF), for the rows holding them to be rejected one by one."""
    if data.startswith(b"\xef\xbb\xbf"):
        data, encodings = data[3:], ("utf-8",)
    else:
        encodings = ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    lines = data.split(b"\n")
    encoding = max(encodings, key=lambda e: sum(_reads(line, e) for line in lines))  # a tie: UTF-8
    return data.decode(encoding, "surrogateescape"), encoding


def _reads(line: bytes, encoding: str) -> bool:
    try:
        line.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def _unreadable(cell: str, encoding: str) -> str | None:
    """Why a cell holds bytes `encoding` cannot read (the first of them), or None."""
    match = _UNDECODED.search(cell)
    if match is None:
        return None
    return (f"byte 0x{ord(match.group()) - 0xDC00:02x} cannot be read as {encoding.upper()}, the file's encoding: "
            "save the file as UTF-8 or GB18030")


def _column_key(name: str) -> str:
    # tolerant of surrounding and inner spaces, （） vs (), full-width underscore
    return "".join(unicodedata.normalize("NFKC", name).split())


def _alternatives(group: str | tuple[str, ...]) -> tuple[str, ...]:
    return group if isinstance(group, tuple) else (group,)


def _read(data: bytes, required: tuple, optional: tuple, build: Callable[[_Row], dict | None]) -> list[RowResult]:
    if len(data) > TEMPLATE_BYTES_MAX:
        raise TemplateError([Problem("$", "size_limit", f"the file is {len(data):,} bytes, the limit is "
                                                        f"{TEMPLATE_BYTES_MAX:,}: split it")])
    text, encoding = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise TemplateError([Problem("$", "header", "the file is empty: the first line must name the columns")])
    except csv.Error as error:
        raise TemplateError([Problem("$", "csv", f"line 1: {error}")]) from None
    if any(_unreadable(name, encoding) for name in header):
        raise TemplateError([Problem("$", "encoding", "the header is not UTF-8 or GB18030: "
                                                      "save the file as UTF-8 or GB18030")])
    known = {_column_key(c): c for group in (*required, *optional) for c in _alternatives(group)}
    index: dict[str, int] = {}
    problems = []
    for i, name in enumerate(header):
        column = known.get(_column_key(name))
        if column in index:
            problems.append(Problem(column, "duplicate_column", f"in columns {index[column] + 1} and {i + 1}"))
        elif column is not None:
            index[column] = i
    for group in required:
        alternatives = _alternatives(group)
        if not any(c in index for c in alternatives):
            also = f" (or {' or '.join(alternatives[1:])})" if len(alternatives) > 1 else ""
            problems.append(Problem(alternatives[0], "missing_column", f"the header has no {alternatives[0]}{also}"))
    if problems:
        raise TemplateError(problems)

    results: list[RowResult] = []
    first_line_of: dict[str, tuple[int, bytes]] = {}  # record_id -> where and what it was first
    names = {i: column for column, i in index.items()}  # a column's name as problems spell it
    line = reader.line_num + 1
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if len(results) >= TEMPLATE_ROWS_MAX:
                raise TemplateError([Problem("$", "size_limit", f"more than {TEMPLATE_ROWS_MAX:,} rows: split it")])
            result = RowResult(start)
            results.append(result)
            if any(c.strip() for c in cells[len(header):]):
                result.problems.append(Problem("$", "column_count", f"{len(cells)} fields but the header has "
                                               f"{len(header)}: is a comma in a text not quoted?"))
                continue
            result.problems = [Problem(names.get(i) or header[i], "encoding", why) for i, cell in enumerate(cells)
                               if (why := _unreadable(cell, encoding))]
            if result.problems:
                continue
            row = _Row({column: cells[i].strip() if i < len(cells) else "" for column, i in index.items()})
            built = build(row)  # a list: a revoked permit is its grant and its revocation
            events = built if isinstance(built, list) else [built] if built else []
            event = events[0] if events else None
            record_id = event["payload"]["record_id"] if event else ""
            # all its events: a permit's revocation (状态, 状态变更日期) is in the second
            earlier = first_line_of.setdefault(record_id, (start, canonical_bytes(events))) if event else None
            if earlier and earlier[1] != canonical_bytes(events):  # the same row twice is harmless
                row.add(PERMIT_NO if event["type"] == "PermitGranted" else PENALTY_NO, "duplicate_record",
                        f"line {earlier[0]} has the same decision number with different content")
            result.problems = row.problems
            result.events = events if event and not row.problems else []
    except csv.Error as error:
        raise TemplateError([Problem("$", "csv", f"line {reader.line_num}: {error}")]) from None
    return results


def read_permit_csv(data: bytes) -> list[RowResult]:
    """The national 行政许可 template: one PermitGranted event per valid row, and its PermitRevoked for a
    revoked one."""
    return _read(data, PERMIT_REQUIRED, PERMIT_OPTIONAL, _permit)


def read_penalty_csv(data: bytes,
                     severity_by_kind: Mapping[str, str] = DEFAULT_SEVERITY_BY_PENALTY_KIND) -> list[RowResult]:
    """The national 行政处罚 template: one PenaltyImposed event per valid row."""
    unmapped = [k for k in cat.PENALTY_KINDS if severity_by_kind.get(k) not in cat.SEVERITIES]
    if unmapped:  # a policy error, not a data error: fail loudly
        raise ValueError(f"severity_by_kind maps no valid severity for {', '.join(unmapped)}")
    return _read(data, PENALTY_REQUIRED, PENALTY_OPTIONAL, lambda row: _penalty(row, severity_by_kind))
