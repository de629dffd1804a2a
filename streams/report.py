"""The credit report (信用报告): one subject's credit file as a printable HTML page in Simplified Chinese.

`render_report(file, history, generated_at, source)` is pure: `file` is the credit file
(projections.fold.credit_file), `history` the subject's accepted events with their chain
hashes ({offset, chain_hash, event}, as /subjects/{id}/history lists them). The page is
self-contained: inline CSS (with an @media print section), no script, no font, image or
link outside it, so it opens and prints on an offline intranet. Every value is escaped.

It lives in streams/ (standard library and projections/ only) so that the web server can
serve it and the `credit-ledger report` command can write it, from the same code.
"""
from __future__ import annotations

import re
from decimal import Decimal
from html import escape

from projections.catalogue import EVENT_TYPES_ZH
from projections.deadlines import KIND_LABELS_ZH
from projections.grading import GRADING_RULES
from projections.subject_kinds import CATEGORY_LABELS_ZH, CIVIL_CODE_LABELS_ZH
from projections.records import (ACTIVE, BREACHED, EXITED, EXPIRED, FULFILLED, OPEN, OVERDUE, PUBLICITY_ENDED, REPAIRED,
                                 RETRACTED, REVOKED, SUPERSEDED, TERM_ENDED, UNDER_OBJECTION, legal_representative,
                                 recorded_day)

__all__ = ["STATUS_LABELS_ZH", "render_report"]

# --- labels -------------------------------------------------------------------------------------
# Every record status, in Chinese. ACTIVE reads 有效 on a permit, list entry or rating and 公示中 on
# a penalty (on public display): the one place that depends on the record's kind.
STATUS_LABELS_ZH = {
    ACTIVE: "有效", UNDER_OBJECTION: "异议中", REPAIRED: "已修复", PUBLICITY_ENDED: "公示期满",
    RETRACTED: "已撤回", REVOKED: "已撤销", OPEN: "履行中", FULFILLED: "已履行", BREACHED: "已违诺",
    OVERDUE: "逾期未履行", EXITED: "已移出", TERM_ENDED: "期满", SUPERSEDED: "已更新", EXPIRED: "有效期届满",
}
ACTIVE_PENALTY_LABEL = "公示中"

SUBJECT_KINDS_ZH = {"LEGAL_PERSON": "法人", "OTHER_ORGANIZATION": "非法人组织", "INDIVIDUAL_BUSINESS": "个体工商户",
                    "NATURAL_PERSON": "自然人"}
CLASSIFICATIONS_ZH = {"INTERNAL": "内部", "AUTHORIZED": "授权"}  # PUBLIC records carry no mark
GRADE_LABELS_ZH = {"A": "信用风险低", "B": "信用风险一般", "C": "信用风险较高", "D": "信用风险高"}
GRADING_RULES_ZH = {
    "penalty_on_display": "行政处罚公示中", "commitment_breached": "违背信用承诺",
    "commitment_overdue": "承诺逾期未履行", "false_commitment": "虚假承诺", "list_entry": "列入名单",
    "rating": "行业信用评价", "hard_rule": "名单直接定级", "inspection": "双随机抽查结果",
}
SEVERITIES_ZH = {"GENERAL": "一般失信", "SERIOUS": "较重失信", "SEVERE": "严重失信"}
PENALTY_KINDS_ZH = {
    "WARNING": "警告", "NOTICE_OF_CRITICISM": "通报批评", "FINE": "罚款", "CONFISCATION": "没收违法所得、没收非法财物",
    "CERTIFICATE_DOWNGRADE": "暂扣许可证件、降低资质等级", "CERTIFICATE_REVOCATION": "吊销许可证件",
    "PRODUCTION_RESTRICTION": "限制开展生产经营活动", "SUSPENSION": "责令停产停业、责令关闭",
    "EMPLOYMENT_RESTRICTION": "限制从业", "DETENTION": "行政拘留", "OTHER": "其他",
}
COMMITMENT_KINDS_ZH = {
    "APPROVAL_SUBSTITUTE": "审批替代型承诺", "NOTIFICATION_PROMISE": "告知承诺", "DEFERRED_DOCUMENTS": "容缺受理承诺",
    "INDUSTRY_SELF_DISCIPLINE": "行业自律承诺", "VOLUNTARY": "主动型承诺", "CREDIT_REPAIR": "信用修复承诺",
}
LIST_KINDS_ZH = {
    "RED_LIST": "守信激励名单（红名单）", "SERIOUS_DISHONESTY": "严重失信主体名单", "ABNORMAL_OPERATION": "经营异常名录",
    "DISHONEST_JUDGMENT_DEBTOR": "失信被执行人名单", "MAJOR_TAX_VIOLATION": "重大税收违法失信主体名单",
    "PROCUREMENT_BAN": "政府采购严重违法失信行为记录名单", "OTHER_BLACKLIST": "其他失信名单",
}
RATING_KINDS_ZH = {"TAX": "纳税信用", "ENVIRONMENT": "环保信用", "CUSTOMS": "海关信用", "WORK_SAFETY": "安全生产信用",
                   "CONSTRUCTION": "建筑市场信用", "OTHER": "其他行业信用"}
MEASURE_KINDS_ZH = {"REWARD": "激励", "PUNISHMENT": "惩戒"}
OUTCOMES_ZH = {"APPROVED": "准予修复", "REJECTED": "不予修复", "UPHELD_CORRECTED": "异议成立，予以更正",
               "UPHELD_WITHDRAWN": "异议成立，予以撤回", "DISMISSED": "异议不成立"}
assert set(GRADING_RULES_ZH) == set(GRADING_RULES), "every grading rule needs its Chinese label"

# The codes a grading reason's detail may contain, read out in Chinese.
_CODES_ZH = {**SEVERITIES_ZH, **LIST_KINDS_ZH, **RATING_KINDS_ZH}
_CODE = re.compile(r"\b[A-Z][A-Z_]+\b")
HISTORY_ROWS_MAX = 1000  # the event chain appendix lists at most the newest this many
EMPTY = "—"

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#eef0f3;color:#1f2328;font:14px/1.6 "PingFang SC","Hiragino Sans GB","Microsoft YaHei",
"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei",SimSun,sans-serif}
main{max-width:920px;margin:24px auto;background:#fff;padding:32px 40px;box-shadow:0 1px 4px rgba(0,0,0,.15)}
header.title{text-align:center;border-bottom:3px double #8b0000;padding-bottom:12px;margin-bottom:8px}
header.title h1{margin:0;font-size:28px;letter-spacing:.5em;color:#8b0000}
header.title .who{font-size:18px;margin-top:6px}
header.title .meta{color:#57606a;font-size:12px}
h2{font-size:18px;color:#8b0000;border-left:5px solid #8b0000;padding-left:8px;margin:28px 0 10px}
h3{font-size:15px;margin:18px 0 6px}
table{width:100%;border-collapse:collapse;margin:6px 0 12px}
th,td{border:1px solid #c9ced6;padding:4px 8px;text-align:left;vertical-align:top;word-break:break-word}
th{background:#f3f4f6;font-weight:600;white-space:nowrap}
table.kv th{width:9em}
table.record{margin-bottom:14px}
table.record caption{text-align:left;font-weight:600;padding:4px 0;caption-side:top}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.mono,code{font-family:"SFMono-Regular",Consolas,"Liberation Mono",monospace;font-size:12px;word-break:break-all}
.badge{display:inline-block;border:1px solid currentColor;border-radius:3px;padding:0 5px;margin-left:4px;
font-size:12px;line-height:1.5;white-space:nowrap}
.status{color:#0a5d2c}
.status.bad{color:#a40e26}
.status.off{color:#57606a}
.cls{color:#7a4b00;background:#fff4d6}
.late{color:#fff;background:#a40e26;border-color:#a40e26}
.prov{color:#7a4b00}
.grade{display:flex;align-items:center;gap:24px;margin:8px 0}
.letter{font-size:56px;font-weight:700;width:88px;height:88px;line-height:88px;text-align:center;border:4px solid;
border-radius:8px}
.g-A{color:#0a5d2c}.g-B{color:#1f5fa8}.g-C{color:#b35900}.g-D{color:#a40e26}
.note{color:#57606a;font-size:12px}
.notice{border:1px solid #e3b341;background:#fff8e1;padding:6px 10px;margin:10px 0;font-size:13px}
.none{color:#57606a}
footer{margin-top:32px;border-top:1px solid #c9ced6;padding-top:8px;color:#57606a;font-size:12px}
@media print{
@page{size:A4;margin:15mm 12mm}
body{background:#fff;font-size:11pt;-webkit-print-color-adjust:exact;print-color-adjust:exact}
main{max-width:none;margin:0;padding:0;box-shadow:none}
h2{break-after:avoid;page-break-after:avoid}
h3{break-after:avoid;page-break-after:avoid}
table.record,tr,.grade{break-inside:avoid;page-break-inside:avoid}
thead{display:table-header-group}
section.appendix{break-before:page;page-break-before:always}
}
"""


# --- small helpers ------------------------------------------------------------------------------
def _e(value) -> str:
    """A value as escaped text; None and "" as a dash."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "是" if value else "否"
    return escape(str(value))


def _zh(labels: dict, code) -> str:
    """A code in Chinese (escaped); an unknown code as itself."""
    if code is None:
        return EMPTY
    return escape(labels.get(code, str(code)))


def yuan(fen) -> str:
    """Integer fen as 元 with two decimals and thousands separators; from 1 万元 on, also in 万元."""
    if fen is None:
        return EMPTY
    fen = int(fen)
    sign, fen_abs = ("-" if fen < 0 else ""), abs(fen)
    text = f"{sign}{fen_abs // 100:,}.{fen_abs % 100:02d} 元"
    if fen_abs >= 1_000_000:
        wan = (Decimal(fen_abs) / Decimal(1_000_000)).normalize()
        text += f"（{sign}{wan:f} 万元）"
    return text


def _badge(text: str, cls: str) -> str:
    return f'<span class="badge {cls}">{escape(text)}</span>'


def _classification(item: dict) -> str:
    """The mark of a record that is not PUBLIC: 内部 or 授权 (an unknown class as itself)."""
    classification = item.get("classification") or "PUBLIC"
    if classification == "PUBLIC":
        return ""
    return _badge(CLASSIFICATIONS_ZH.get(classification, str(classification)), "cls")


_BAD = {UNDER_OBJECTION, BREACHED, OVERDUE}
_OFF = {REPAIRED, PUBLICITY_ENDED, RETRACTED, REVOKED, EXITED, TERM_ENDED, SUPERSEDED, EXPIRED, FULFILLED}


def status_label(collection: str, status: str | None) -> str:
    if status == ACTIVE and collection == "penalties":
        return ACTIVE_PENALTY_LABEL
    return STATUS_LABELS_ZH.get(status, str(status))


def _status(collection: str, record: dict) -> str:
    status = record.get("status")
    adverse = status == ACTIVE and (collection == "penalties"
                                    or (collection == "lists" and record.get("list_kind") != "RED_LIST"))
    cls = "status bad" if status in _BAD or adverse else "status off" if status in _OFF else "status"
    text = _badge(status_label(collection, status), cls)
    before = record.get("status_before_objection")
    if status == UNDER_OBJECTION and before:
        text += f'<span class="note">（异议处理前：{escape(status_label(collection, before))}）</span>'
    return text


def _kv_table(caption: str, rows: list[tuple[str, str]]) -> str:
    """A two-column table (label, value); the caption and the values are already escaped HTML."""
    body = "".join(f"<tr><th>{escape(label)}</th><td>{value}</td></tr>" for label, value in rows)
    caption = f"<caption>{caption}</caption>" if caption else ""
    return f'<table class="kv record">{caption}<tbody>{body}</tbody></table>'


def _table(headers: list[str], rows: list[list[str]], empty: str = "无", num: tuple[int, ...] = ()) -> str:
    """A table; cells are already escaped HTML. `num`: indexes of right-aligned columns."""
    if not rows:
        return f'<p class="none">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _period(start, end, open_end: str = "长期") -> str:
    return f"{_e(start)} 至 {_e(end) if end else escape(open_end)}"


def _authority(record: dict) -> str:
    source = record.get("source") or {}
    name, code = source.get("authority_name"), source.get("authority_code")
    if not name and not code:
        return EMPTY
    return f'{_e(name)}<br><span class="mono">{_e(code)}</span>' if code else _e(name)


def _disclosure(record: dict) -> str:
    """双公示 timeliness of a permit or penalty: 按时 or 迟报, with its due date."""
    late, due = record.get("late"), record.get("disclosure_due_on")
    due_text = f"（应于 {escape(due)} 前报送）" if due else ""
    if late is True:
        return _badge("迟报", "late") + f" 于 {_e(_arrived_on(record))} 报送{due_text}"
    if late is False:
        return "按时报送" + due_text
    return EMPTY


def _arrived_on(record: dict) -> str | None:
    """The day (Asia/Shanghai) the record reached the ledger."""
    try:
        return recorded_day(record)
    except (KeyError, TypeError, ValueError):
        return None


def _record_caption(title: str, record_id, collection: str, record: dict, extra: str = "") -> str:
    return (f'{escape(title)} <span class="mono">{_e(record_id)}</span> {_status(collection, record)}'
            f"{_classification(record)}{extra}")


def _detail(detail) -> str:
    """A grading reason's detail with the codes in it read out in Chinese."""
    if detail is None:
        return EMPTY
    text = _CODE.sub(lambda m: _CODES_ZH.get(m.group(), m.group()), str(detail))
    return escape(text.replace("名单 名单", "名单").replace("名录 名单", "名录"))


def _is_person(subject: dict) -> bool:
    return str(subject.get("id", "")).startswith("np-") or subject.get("kind") == "NATURAL_PERSON"


def _subject_kind(subject: dict) -> str:
    """The Civil Code kind derived from the code (issue 29 R7) and the register, else the kind as sent."""
    kind, register = subject.get("civil_code_kind"), subject.get("category")
    if kind in CIVIL_CODE_LABELS_ZH and register in CATEGORY_LABELS_ZH and register != "NATURAL_PERSON":
        return _e(f"{CIVIL_CODE_LABELS_ZH[kind]}（{CATEGORY_LABELS_ZH[register]}）")
    return _zh(SUBJECT_KINDS_ZH, subject.get("kind"))


# --- sections -----------------------------------------------------------------------------------
def _subject_section(subject: dict, history: list[dict]) -> str:
    person = _is_person(subject)
    name = "（自然人，依法不显示姓名）" if person else _e(subject.get("name"))
    rows = [("主体名称", name),
            ("主体标识", f'<span class="mono">{_e(subject.get("id"))}</span>'
                        + ('<span class="note">（经密钥化处理的假名，不含身份证件号码）</span>' if person else "")),
            ("主体类别", _subject_kind(subject)),
            ("所在地区（行政区划代码）", _e(subject.get("region_code"))),
            ("所属行业（国民经济行业代码）", _e(subject.get("industry_code"))),
            ("成立（登记）日期", _e(subject.get("registered_on")))]
    if not person:
        representative = legal_representative(history)
        if representative:
            rows.insert(3, ("法定代表人（负责人）", _e(representative)))
    if subject.get("deregistered_on"):
        rows.append(("注销日期", _e(subject["deregistered_on"]) + _badge("已注销", "status off")))
    return "<section><h2>一、主体信息</h2>" + _kv_table("", rows) + "</section>"


def _points(points) -> str:
    return escape(f"{points:+d}" if points else "0") if isinstance(points, int) else _e(points)


def _grade_section(grade: dict | None) -> str:
    if grade is None:  # a view without the grade: it is derived from non-public records as well
        return '<section><h2>二、信用等级</h2><p class="none">信用等级依据含非公开信息，仅向监管人员提供。</p></section>'
    letter = grade.get("letter")
    if letter is None:
        return '<section><h2>二、信用等级</h2><p class="none">尚无已受理的事件，未评定等级。</p></section>'
    def rule_label(rule) -> str:
        return f'{_zh(GRADING_RULES_ZH, rule)}<br><span class="mono note">{_e(rule)}</span>'

    rows = [[f'<span class="mono">{_e(r.get("record_id"))}</span>', rule_label(r.get("rule")),
             _points(r.get("points")),
             _detail(r.get("detail"))] for r in grade.get("reasons", [])]
    start, score = grade.get("start_score"), grade.get("score")
    effective = grade.get("policy_effective_from")
    return (
        "<section><h2>二、信用等级</h2>"
        f'<div class="grade"><div class="letter g-{escape(str(letter))}">{_e(letter)}</div><div>'
        f"<div>信用等级：<strong>{_e(letter)} 级</strong>（{_zh(GRADE_LABELS_ZH, letter)}）</div>"
        f"<div>信用分：<strong>{_e(score)}</strong>（起评分 {_e(start)}）</div>"
        f"<div>评价标准：信用分级分类监管政策 {_e(grade.get('policy_version'))}"
        + (f"（自 {_e(effective)} 起施行）" if effective else "") + "</div></div></div>"
        "<h3>评分依据</h3>"
        + _table(["记录", "规则", "分值", "说明"], rows, empty="无加减分记录：信用分即起评分。", num=(2,))
        + '<p class="note">每项加减分均对应一条记录和一条评分规则，各项分值之和等于信用分与起评分之差；'
          "列入规定名单的，不论分数直接评为 D 级。</p></section>")


def _permit(record: dict) -> str:
    caption = _record_caption("行政许可", record.get("record_id"), "permits", record,
                              _badge("迟报", "late") if record.get("late") else "")
    certificate = " ".join(x for x in (record.get("certificate_name"), record.get("certificate_no")) if x)
    rows = [("许可决定文书号", _e(record.get("decision_no"))), ("许可类别", _e(record.get("permit_kind"))),
            ("许可内容", _e(record.get("content")))]
    if certificate:
        rows.append(("许可证书名称及编号", _e(certificate)))
    rows += [("有效期", _period(record.get("valid_from"), record.get("valid_to"))),
             ("许可决定日期", _e(record.get("occurred_on"))), ("许可机关", _authority(record)),
             ("双公示", _disclosure(record))]
    if record.get("revoked_on"):
        rows.append(("撤销", f"{_e(record['revoked_on'])}：{_e(record.get('revocation_reason'))}"))
    rows += _objection_rows(record)
    return _kv_table(caption, rows)


def _penalty(record: dict) -> str:
    caption = _record_caption("行政处罚", record.get("record_id"), "penalties", record,
                              _badge("迟报", "late") if record.get("late") else "")
    kinds = "、".join(PENALTY_KINDS_ZH.get(k, str(k)) for k in record.get("penalty_kinds") or [])
    rows = [("处罚决定书文号", _e(record.get("decision_no"))), ("违法行为类型", _e(record.get("violation_type"))),
            ("违法事实", _e(record.get("facts"))), ("处罚依据", _e(record.get("basis"))),
            ("处罚类别", _e(kinds)), ("失信严重程度", _zh(SEVERITIES_ZH, record.get("severity")))]
    if record.get("fine_fen") is not None:
        rows.append(("罚款金额", escape(yuan(record["fine_fen"]))))
    if record.get("confiscation_fen") is not None:
        rows.append(("没收违法所得、没收非法财物的金额", escape(yuan(record["confiscation_fen"]))))
    rows += [("处罚决定日期", _e(record.get("occurred_on"))), ("处罚机关", _authority(record))]
    if record.get("publicity_until"):
        rows.append(("公示截止期", _e(record["publicity_until"])))
    rows += [("双公示", _disclosure(record)),
             ("履行情况", f"已于 {_e(record.get('fulfilled_on'))} 履行完毕" if record.get("fulfilled") else "尚未履行完毕")]
    if record.get("pending_repair"):
        rows.append(("信用修复", f'修复申请 <span class="mono">{_e(record["pending_repair"])}</span> 办理中'))
    if record.get("repaired_on"):
        rows.append(("信用修复", f"已于 {_e(record['repaired_on'])} 修复，停止公示，不再计入信用评价"))
    if record.get("publicity_ended_on"):
        rows.append(("公示期满", f"{_e(record['publicity_ended_on'])}：{_e(record.get('publicity_end_reason'))}"))
    if record.get("revoked_on"):
        rows.append(("撤销", f"{_e(record['revoked_on'])}：{_e(record.get('revocation_reason'))}"))
    rows += _objection_rows(record)
    return _kv_table(caption, rows)


def _objection_rows(record: dict) -> list[tuple[str, str]]:
    rows = []
    if record.get("pending_objection"):
        rows.append(("异议", f'异议 <span class="mono">{_e(record["pending_objection"])}</span> 处理中'))
    if record.get("corrected_on"):
        rows.append(("异议更正", f"{_e(record['corrected_on'])}：{_e(record.get('correction'))}"))
    if record.get("retracted_on"):
        rows.append(("撤回", f"异议成立，已于 {_e(record['retracted_on'])} 撤回"))
    return rows


def _commitment(record: dict) -> str:
    extra = _badge("虚假承诺", "late") if record.get("false_commitment") else ""
    caption = _record_caption("信用承诺", record.get("commitment_id"), "commitments", record, extra)
    if record.get("due_on"):
        due = _e(record["due_on"])
    elif record.get("due_working_days"):
        due = f"作出承诺后 {_e(record['due_working_days'])} 个工作日内"
    else:
        due = "未设期限"
    rows = [("承诺类型", _zh(COMMITMENT_KINDS_ZH, record.get("commitment_kind"))),
            ("承诺内容", _e(record.get("content"))), ("作出日期", _e(record.get("occurred_on"))),
            ("履行期限", due), ("受理机关", _authority(record))]
    if record.get("related_record_id"):
        rows.append(("关联记录", f'<span class="mono">{_e(record["related_record_id"])}</span>'))
    if record.get("ended_on"):
        rows.append(("结束日期", _e(record["ended_on"])))
    if record.get("breach"):
        rows.append(("违诺情况", _e(record["breach"])))
    return _kv_table(caption, rows)


def _list_entry(record: dict) -> str:
    caption = _record_caption("名单", record.get("entry_id"), "lists", record)
    rows = [("名单类别", _zh(LIST_KINDS_ZH, record.get("list_kind"))), ("列入原因", _e(record.get("reason"))),
            ("列入日期", _e(record.get("occurred_on"))), ("期限至", _e(record.get("term_until") or "未设期限")),
            ("认定机关", _authority(record))]
    if record.get("basis_record_id"):
        rows.append(("认定依据记录", f'<span class="mono">{_e(record["basis_record_id"])}</span>'))
    if record.get("ended_on"):
        ended = _e(record["ended_on"]) + (f"：{_e(record['exit_reason'])}" if record.get("exit_reason") else "")
        rows.append(("移出（期满）", ended))
    rows += _objection_rows(record)
    measures = [[_e(m.get("name")) if m.get("known", True) else f"未登记的措施（代码 {_e(m.get('code'))}）",
                 _zh(MEASURE_KINDS_ZH, m.get("kind")), _e(m.get("authority")), _e(m.get("basis"))]
                for m in record.get("measure_details") or []]
    rows.append(("联合奖惩措施", _table(["措施", "类型", "实施部门", "依据"], measures, empty="无")))
    if record.get("feedback_counts"):  # the departments' feedback (联合奖惩 反馈): shown to whom the view keeps it
        counts = [[_e(code), str(c.get("APPLIED", 0)), str(c.get("DECLINED", 0))]
                  for code, c in sorted(record["feedback_counts"].items())]
        rows.append(("实施反馈", _table(["措施代码", "已实施", "未实施"], counts, empty="无")))
    return _kv_table(caption, rows)


def _rating(record: dict) -> str:
    caption = _record_caption("行业信用评价", record.get("rating_id"), "ratings", record)
    rows = [("评价类别", _zh(RATING_KINDS_ZH, record.get("rating_kind"))), ("评价等级", _e(record.get("level"))),
            ("有效期", _period(record.get("valid_from"), record.get("valid_to"), "下次评价")),
            ("评价机关", _authority(record))]
    if record.get("superseded_by"):
        rows.append(("更新为", f'<span class="mono">{_e(record["superseded_by"])}</span>'))
    rows += _objection_rows(record)
    return _kv_table(caption, rows)


RECORD_KINDS = (("permits", "行政许可", _permit), ("penalties", "行政处罚", _penalty),
                ("commitments", "信用承诺", _commitment), ("lists", "红黑名单及联合奖惩措施", _list_entry),
                ("ratings", "行业信用评价", _rating))


def _records_section(records: dict) -> str:
    parts = ["<section><h2>三、信用记录</h2>"]
    for number, (collection, title, render) in enumerate(RECORD_KINDS, start=1):
        items = records.get(collection) or []
        parts.append(f"<h3>（{number}）{escape(title)}（{len(items)} 条）</h3>")
        parts.append("".join(render(item) for item in items) if items else '<p class="none">无</p>')
    parts.append("</section>")
    return "".join(parts)


def _deadlines_section(deadlines: list[dict]) -> str:
    rows = [[_zh(KIND_LABELS_ZH, d.get("kind")) if d.get("kind") in KIND_LABELS_ZH else _e(d.get("label")),
             f'<span class="mono">{_e(d.get("ref"))}</span>', _e(d.get("due_on")),
             _badge("暂定", "prov") if d.get("provisional") else "确定"] for d in deadlines]
    return ("<section><h2>四、待办期限</h2>"
            + _table(["事项", "关联编号", "到期日（当日 24:00 止）", "期限"], rows, empty="无待办期限")
            + '<p class="note">期限按国家法定节假日及调休安排的工作日计算；“暂定”表示该年度的节假日安排尚未发布，'
              "暂按周末和固定节日推算，发布后可能调整。</p></section>")


def _pending_section(pending: dict) -> str:
    def overdue(item: dict) -> str:
        return (_badge("逾期未办结", "late") + f"（应于 {_e(item.get('overdue_due_on'))} 前办结）"
                if item.get("overdue") else "办理中")

    objections = [[f'<span class="mono">{_e(o.get("objection_id"))}</span>{_classification(o)}',
                   f'<span class="mono">{_e(o.get("record_id"))}</span>', _e(o.get("filed_on")), _e(o.get("grounds")),
                   overdue(o)] for o in pending.get("objections") or []]
    repairs = [[f'<span class="mono">{_e(r.get("repair_id"))}</span>{_classification(r)}',
                f'<span class="mono">{_e(r.get("record_id"))}</span>', _e(r.get("requested_on")),
                _e(r.get("corrective_actions")), overdue(r)] for r in pending.get("repairs") or []]
    return ("<section><h2>五、异议与修复（办理中）</h2><h3>异议申请</h3>"
            + _table(["异议编号", "异议记录", "提出日期", "异议理由", "办理情况"], objections, empty="无办理中的异议")
            + "<h3>信用修复申请</h3>"
            + _table(["修复申请编号", "修复记录", "申请日期", "整改情况", "办理情况"], repairs,
                     empty="无办理中的信用修复申请")
            + "</section>")


def _verification_section(file: dict, history: list[dict], source: str | None) -> str:
    chain, as_of = file.get("chain") or {}, file.get("as_of") or {}
    length, head = chain.get("length"), chain.get("head")
    rows = [("数据来源", escape(source))] if source else []
    rows += [("哈希链长度（已受理事件数）", _e(length)),
             ("哈希链末端（SHA-256）", f'<span class="mono">{_e(head)}</span>'),
             ("数据截至（日志偏移量）", _e(as_of.get("offset"))),
             ("数据截至（记录时间）", _e(as_of.get("recorded_at")))]
    if file.get("rejected_total"):
        rows.append(("未受理事件", f"{_e(file['rejected_total'])} 条（违反账本规则，未改变档案内容）"))
    if history:
        last = history[-1].get("chain_hash")
        if len(history) == length and last == head:
            check = f"随附事件链共 {len(history)} 条，末端哈希与档案一致。"
        elif isinstance(length, int) and len(history) < length:
            check = f"随附事件链仅含前 {len(history)} 条（共 {length} 条）。"
        else:
            check = "注意：随附事件链与档案的哈希链不一致，请立即核验。"
        rows.append(("事件链", escape(check)))
    subject_id = (file.get("subject") or {}).get("id", "")
    command = f"credit-ledger verify --subject {subject_id}"
    return ("<section><h2>六、校验信息</h2>" + _kv_table("", rows)
            + "<p>本档案的每一条已受理事件都串入该主体的哈希链：每一环是前一环与该事件规范字节的 SHA-256 摘要。"
              f"核验时，可运行 <code>{escape(command)}</code> 由账本重新计算哈希链，"
              "其长度与末端哈希应与上表一致；任何记录被篡改、删除或插入都会使核验失败，并指出第一条被改动的事件。</p>"
              "</section>")


def _history_appendix(history: list[dict]) -> str:
    if not history:
        return ""
    shown = history[-HISTORY_ROWS_MAX:]
    rows = []
    for entry in shown:
        event = entry.get("event") or {}
        source = event.get("source") or {}
        chain_hash = str(entry.get("chain_hash") or "")
        rows.append([_e(entry.get("offset")), _zh(EVENT_TYPES_ZH, event.get("type")) + _classification(event),
                     _e(event.get("occurred_on")), _e(event.get("recorded_at")), _e(source.get("authority_name")),
                     f'<span class="mono" title="{escape(chain_hash)}">{escape(chain_hash[:16])}…</span>'
                     if chain_hash else EMPTY])
    note = (f'<p class="note">共 {len(history)} 条，仅列出最近 {len(shown)} 条。</p>' if len(shown) < len(history)
            else "")
    return ('<section class="appendix"><h2>附：事件链</h2>' + note
            + _table(["偏移量", "事件", "发生日期", "记录时间", "来源机关", "链哈希（前 16 位）"], rows, num=(0,))
            + "</section>")


def _has_restricted(file: dict, history: list[dict]) -> bool:
    items = [r for collection in (file.get("records") or {}).values() for r in collection or []]
    items += list((file.get("pending") or {}).get("objections") or [])
    items += list((file.get("pending") or {}).get("repairs") or [])
    items += [entry.get("event") or {} for entry in history]
    return any((item.get("classification") or "PUBLIC") != "PUBLIC" for item in items)


def _as_of_file(file: dict, history: list[dict]) -> list[dict]:
    """The history up to the file's own chain head: read a moment after the file, it may hold newer events."""
    chain = file.get("chain") or {}
    length = chain.get("length")
    if isinstance(length, int) and 0 < length < len(history) and history[length - 1].get("chain_hash") == chain.get("head"):
        return history[:length]
    return history


# --- the page -----------------------------------------------------------------------------------
def render_report(file: dict, history: list[dict], generated_at: str, source: str | None = None) -> str:
    """The credit report of one credit file, as one self-contained HTML5 page; `source` says in
    Chinese what it was built from (the log read by the index, a scan, a file, the worker's state)."""
    history = _as_of_file(file, history)
    subject = file.get("subject") or {}
    person = _is_person(subject)
    who = "自然人" if person else (subject.get("name") or "")
    subject_id = subject.get("id", "")
    as_of = file.get("as_of") or {}
    restricted = _has_restricted(file, history)
    notice = ('<div class="notice">本报告含非公开信息：标注“内部”的记录仅供监管部门内部使用，标注“授权”的记录须经'
              "信用主体授权方可查询。请按公共信用信息分级管理的规定妥善保管，不得擅自公开。</div>" if restricted else "")
    title = f"信用报告 — {who} {subject_id}".strip()
    return "".join([
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>",
        '<header class="title"><h1>信用报告</h1>',
        f'<div class="who">{escape(who)} <span class="mono">{escape(subject_id)}</span></div>',
        f'<div class="meta">数据截至 {_e(as_of.get("recorded_at"))}（日志偏移量 {_e(as_of.get("offset"))}）'
        f" · 生成时间 {_e(generated_at)}</div></header>",
        notice,
        _subject_section(subject, history),
        _grade_section(file.get("grade")),
        _records_section(file.get("records") or {}),
        _deadlines_section((file.get("pending") or {}).get("deadlines") or []),
        _pending_section(file.get("pending") or {}),
        _verification_section(file, history, source),
        _history_appendix(history),
        f"<footer>本报告由 credit-ledger 公共信用信息账本根据已受理的事件自动生成，生成时间 {_e(generated_at)}。"
        "报告内容以账本记录为准；对记录有异议的，可向认定机关提出异议申请。</footer>",
        "</main></body></html>\n",
    ])
