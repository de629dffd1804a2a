"""The event catalogue: every event type, its payload fields and their rules.

This is the one description of the contract that validation, the Avro schemas'
consistency test, the demo generator and the CSV importers all read. The Avro
files in ``avro_schemas/`` must agree with it field for field (a test checks).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MEASURE_FEEDBACK_TYPES = ("MeasureApplied", "MeasureDeclined")  # 联合奖惩 反馈 (issue 31 part 3)
# Field kinds. Dates are ISO-8601 calendar dates, instants carry a zone,
# money is integer fen.
STR = "str"
INT = "int"
BOOL = "bool"
DATE = "date"
INSTANT = "instant"
ENUM = "enum"
STR_LIST = "str_list"
ENUM_LIST = "enum_list"

SUBJECT_KINDS = ("LEGAL_PERSON", "OTHER_ORGANIZATION", "INDIVIDUAL_BUSINESS", "NATURAL_PERSON")
CLASSIFICATIONS = ("PUBLIC", "AUTHORIZED", "INTERNAL")
DECISION_KINDS = ("PERMIT", "PENALTY")
SEVERITIES = ("GENERAL", "SERIOUS", "SEVERE")
PENALTY_KINDS = (
    "WARNING",  # 警告
    "NOTICE_OF_CRITICISM",  # 通报批评
    "FINE",  # 罚款
    "CONFISCATION",  # 没收违法所得、没收非法财物
    "CERTIFICATE_DOWNGRADE",  # 暂扣许可证件、降低资质等级
    "CERTIFICATE_REVOCATION",  # 吊销许可证件
    "PRODUCTION_RESTRICTION",  # 限制开展生产经营活动
    "SUSPENSION",  # 责令停产停业、责令关闭
    "EMPLOYMENT_RESTRICTION",  # 限制从业
    "DETENTION",  # 行政拘留
    "OTHER",  # 其他
)
COMMITMENT_KINDS = (
    "APPROVAL_SUBSTITUTE",
    "NOTIFICATION_PROMISE",
    "DEFERRED_DOCUMENTS",
    "INDUSTRY_SELF_DISCIPLINE",
    "VOLUNTARY",
    "CREDIT_REPAIR",
)
REPAIR_OUTCOMES = ("APPROVED", "REJECTED")
OBJECTION_OUTCOMES = ("UPHELD_CORRECTED", "UPHELD_WITHDRAWN", "DISMISSED")
LIST_KINDS = (
    "RED_LIST",
    "SERIOUS_DISHONESTY",
    "ABNORMAL_OPERATION",
    "DISHONEST_JUDGMENT_DEBTOR",
    "MAJOR_TAX_VIOLATION",
    "PROCUREMENT_BAN",
    "OTHER_BLACKLIST",
)
RATING_KINDS = ("TAX", "ENVIRONMENT", "CUSTOMS", "WORK_SAFETY", "CONSTRUCTION", "OTHER")
# 双随机一公开 inspection results (抽查检查结果, issue 29 R9)
INSPECTION_OUTCOMES = (
    "NO_PROBLEM",  # 未发现问题
    "PROBLEM_CORRECTED",  # 发现问题已责令改正
    "PROBLEM_FOUND",  # 发现问题待后续处理
    "NO_ACTIVITY",  # 未发现开展本次抽查涉及的经营活动
    "UNREACHABLE",  # 通过登记的住所（经营场所）无法联系
)
# what awaits a step: a decision, or (issue 29 R13) the acceptance (受理) before it
PROCESSING_KINDS = ("REPAIR", "OBJECTION", "REPAIR_ACCEPTANCE", "OBJECTION_ACCEPTANCE")
# The legal grounds on which a permit or a penalty is not published (双公示 is 应示尽示): 《政府信息公开条例》
# (2019) 第十四条 国家秘密, 第十五条 商业秘密、个人隐私 (issue 29 R8).
EXEMPTIONS = ("STATE_SECRET", "TRADE_SECRET", "PERSONAL_PRIVACY")

# Limits (TIGER_STYLE: a limit on everything that can grow).
EVENT_BYTES_MAX = 64 * 1024  # one event in its JSON form
TEXT_CHARS_MAX = 8_000  # facts, content, grounds ...
SHORT_CHARS_MAX = 200  # names, numbers, codes
LIST_ITEMS_MAX = 32  # penalty_kinds, measures, scope
FEN_MAX = 10**15  # ten trillion yuan: anything larger is a typo
# Dates: nothing in this ledger predates the People's Republic (its registries, permits and
# penalties all start after 1949-10-01), and nothing is scheduled past 2099: the official
# working-day calendar and every deadline computed from a date stay far inside the date type.
EARLIEST_DATE = "1949-10-01"
LATEST_DATE = "2099-12-31"
# A commitment's period in working days: 告知承诺 and 容缺受理 periods are counted in days to
# months (seeds 002 §7, 004 §20); three years of working days is far above any of them and
# keeps the working-day walk short.
DUE_WORKING_DAYS_MAX = 750


@dataclass(frozen=True)
class Bounds:
    """The least and the greatest value a field takes: integers, or ISO dates (which compare as text)."""
    low: int | str
    high: int | str

    def __contains__(self, value) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.low}..{self.high}"


FEN_BOUNDS = Bounds(0, FEN_MAX)
DATE_BOUNDS = Bounds(EARLIEST_DATE, LATEST_DATE)
# occurred_on and recorded_at (whose day is the edge's today for a publisher's event) go a year further:
# a deadline on the last payload date fires the next day, and the timers' event occurs then.
ENVELOPE_DATE_BOUNDS = Bounds(EARLIEST_DATE, "2100-12-31")


@dataclass(frozen=True)
class CodeFormat:
    """The form of a national code (rule `code_format` at the edge): `pattern` must match the whole value."""
    standard: str
    pattern: str
    example: str

    def __post_init__(self) -> None:
        assert re.fullmatch(self.pattern, self.example), self


# GB/T 2260: six digits, the first two a province-level division (11 北京 ... 65 新疆, 71 台湾, 81 香港, 82 澳门)
REGION_CODE = CodeFormat("GB/T 2260", r"(?:1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[12])[0-9]{4}", "410105")
# GB/T 4754-2017: a section letter A..T, then the division, group or class (2, 3 or 4 digits), or nothing
INDUSTRY_CODE = CodeFormat("GB/T 4754", r"[A-T](?:[0-9]{2}|[0-9]{3}|[0-9]{4})?", "C1761")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    required: bool = True
    values: tuple[str, ...] = ()  # for ENUM and ENUM_LIST
    max_chars: int = SHORT_CHARS_MAX
    doc: str = ""
    bounds: Bounds | None = None  # for INT and DATE: the range the value must lie in
    code: CodeFormat | None = None  # for STR: a national code's form the value must have


def f(name, kind=STR, required=True, values=(), max_chars=SHORT_CHARS_MAX, doc="", bounds=None, code=None):
    if bounds is None:
        bounds = {INT: FEN_BOUNDS, DATE: DATE_BOUNDS}.get(kind)
    return Field(name, kind, required, tuple(values), max_chars, doc, bounds, code)


def text(name, required=True, doc=""):
    return Field(name, STR, required, (), TEXT_CHARS_MAX, doc)


@dataclass(frozen=True)
class EventType:
    name: str
    fields: tuple[Field, ...]
    default_classification: str = "PUBLIC"
    system: bool = False  # written by the ledger's timers, never by a publisher
    doc: str = ""

    def field(self, name: str) -> Field | None:
        for fld in self.fields:
            if fld.name == name:
                return fld
        return None


def _exemption_fields() -> tuple[Field, ...]:
    """The fields every 双公示 record has beside its own: its legal exemption (R8), and whether it came in by
    a historical import (R10)."""
    return (f("exemption", ENUM, required=False, values=EXEMPTIONS,
              doc="不予公开的法定事由 (政府信息公开条例 第十四条 国家秘密, 第十五条 商业秘密、个人隐私); absent: the "
                  "record is PUBLIC (双公示 应示尽示), and a record not PUBLIC must name one"),
            text("exemption_basis", required=False,
                 doc="the legal basis of the exemption as the authority states it (条文及理由); required with it"),
            f("historical", BOOL, required=False,
              doc="true: loaded by an admin's historical import (publish --historical) when the department joined the "
                  "ledger; not judged for timeliness, counted apart"))


_TYPES = (
    EventType("SubjectRegistered", (
        f("region_code", doc="6-digit administrative division code (GB/T 2260), e.g. 410105", code=REGION_CODE),
        f("industry_code", required=False, doc="national economic industry code (GB/T 4754), e.g. C1761",
          code=INDUSTRY_CODE),
        f("legal_representative", required=False, doc="name of the legal representative (organisations only)"),
        f("registered_on", DATE, doc="date of establishment or registration"),
    ), doc="A subject enters the ledger (主体登记)."),
    EventType("SubjectDeregistered", (
        text("reason", doc="why the subject was deregistered (注销、吊销)"),
    ), doc="A subject is deregistered."),
    EventType("DecisionRegistered", (
        f("decision_no", doc="number of the decision document (决定文书号)"),
        f("decision_kind", ENUM, values=DECISION_KINDS, doc="PERMIT or PENALTY"),
    ), default_classification="INTERNAL",
        doc="A permit or penalty decision exists; its publication (双公示) is due within 7 working days."),
    EventType("PermitGranted", (
        f("record_id", doc="the publisher's stable id of this permit record"),
        f("decision_no", doc="行政许可决定文书号"),
        f("permit_kind", doc="许可类别 (普通、特许、认可、核准、登记、其他)"),
        f("certificate_name", required=False, doc="许可证书名称"),
        f("certificate_no", required=False, doc="许可编号"),
        text("content", doc="许可内容"),
        f("valid_from", DATE, doc="有效期自"),
        f("valid_to", DATE, required=False, doc="有效期至; absent means no end"),
        *_exemption_fields(),
    ), doc="An administrative permit (行政许可)."),
    EventType("PermitRevoked", (
        f("record_id", doc="the permit's record_id"),
        text("reason", doc="why it was revoked"),
    ), doc="A permit is revoked (撤销、吊销)."),
    EventType("PenaltyImposed", (
        f("record_id", doc="the publisher's stable id of this penalty record"),
        f("decision_no", doc="行政处罚决定书文号"),
        f("violation_type", doc="违法行为类型"),
        text("facts", doc="违法事实"),
        text("basis", doc="处罚依据"),
        f("penalty_kinds", ENUM_LIST, values=PENALTY_KINDS, doc="处罚类别, one or more"),
        f("fine_fen", INT, required=False, doc="罚款金额 in fen"),
        f("confiscation_fen", INT, required=False, doc="没收违法所得、没收非法财物的金额 in fen"),
        f("severity", ENUM, values=SEVERITIES, doc="GENERAL, SERIOUS or SEVERE (失信严重程度)"),
        f("sector", required=False, doc="special sector that lengthens publicity: SPECIAL_EQUIPMENT, WORK_SAFETY, FIRE_SAFETY"),
        f("publicity_until", DATE, required=False, doc="公示截止期 set by the authority, if any"),
        *_exemption_fields(),
        f("restriction_until", DATE, required=False,
          doc="the last day of the restriction a 限制开展生产经营活动、限制从业、降低资质等级、吊销许可证件 penalty imposes; "
              "its publicity lasts as long where that is longer than the maximum"),
    ), doc="An administrative penalty (行政处罚)."),
    EventType("PenaltyFulfilled", (
        f("record_id", doc="the penalty's record_id"),
    ), doc="The penalty's obligations are fulfilled (fine paid, rectification done)."),
    EventType("PenaltyRevoked", (
        f("record_id", doc="the penalty's record_id"),
        text("reason", doc="administrative review or court judgment that revoked it"),
    ), doc="A penalty is revoked by review or court."),
    EventType("CommitmentMade", (
        f("commitment_id", doc="the publisher's stable id of this commitment"),
        f("commitment_kind", ENUM, values=COMMITMENT_KINDS, doc="what kind of credit commitment (信用承诺)"),
        f("related_record_id", required=False, doc="the permit or penalty the commitment is about"),
        text("content", doc="what was promised"),
        f("due_on", DATE, required=False, doc="the date by which it must be fulfilled"),
        f("due_working_days", INT, required=False, bounds=Bounds(1, DUE_WORKING_DAYS_MAX),
          doc="or: working days after occurred_on"),
    ), doc="A credit commitment is made (承诺)."),
    EventType("CommitmentFulfilled", (
        f("commitment_id", doc="the commitment's id"),
    ), doc="A commitment is fulfilled (践诺)."),
    EventType("CommitmentBreached", (
        f("commitment_id", doc="the commitment's id"),
        text("breach", doc="what was not kept"),
        f("false_commitment", BOOL, doc="true for a false commitment (虚假承诺), a SEVERE mark"),
    ), doc="A commitment is breached (违诺)."),
    EventType("RepairRequested", (
        f("repair_id", doc="id of this repair application"),
        f("record_id", doc="the penalty to repair, or a breached or overdue commitment (its breach)"),
        text("corrective_actions", doc="what the subject did to correct the breach"),
        f("commitment_id", required=False, doc="the CREDIT_REPAIR commitment that goes with it"),
    ), default_classification="INTERNAL", doc="A subject applies for credit repair (信用修复申请)."),
    EventType("RepairDecided", (
        f("repair_id", doc="the application's id"),
        f("record_id", doc="the penalty concerned"),
        f("outcome", ENUM, values=REPAIR_OUTCOMES, doc="APPROVED or REJECTED"),
        text("reason", required=False, doc="why"),
    ), default_classification="INTERNAL", doc="A repair application is decided."),
    EventType("ObjectionFiled", (
        f("objection_id", doc="id of this objection"),
        f("record_id", doc="the record objected to"),
        text("grounds", doc="why the subject objects (异议理由)"),
    ), default_classification="INTERNAL", doc="A subject objects to a record (异议申请)."),
    EventType("ObjectionResolved", (
        f("objection_id", doc="the objection's id"),
        f("record_id", doc="the record objected to"),
        f("outcome", ENUM, values=OBJECTION_OUTCOMES, doc="UPHELD_CORRECTED, UPHELD_WITHDRAWN or DISMISSED"),
        text("correction", required=False, doc="what was corrected"),
    ), default_classification="INTERNAL", doc="An objection is decided."),
    EventType("ListEntered", (
        f("entry_id", doc="id of this list entry"),
        f("list_kind", ENUM, values=LIST_KINDS, doc="which red or black list"),
        text("reason", doc="why the subject was listed"),
        f("basis_record_id", required=False, doc="the record the listing rests on"),
        f("term_until", DATE, required=False, doc="when the listing term ends"),
        f("measures", STR_LIST, required=False,
          doc="codes of the joint reward or punishment measures (projections/measures.yaml); absent: the "
              "catalogue's default measures for the list kind"),
        f("sector", required=False,
          doc="the sector or sub-kind of the list (e.g. WORK_SAFETY, FOOD_SAFETY for an OTHER_BLACKLIST entry): "
              "GET /lists/<kind>?sector=<sector> lists its entries"),
    ), doc="A subject enters a red or black list (名单认定)."),
    EventType("ListExited", (
        f("entry_id", doc="the entry's id"),
        text("exit_reason", doc="why it ends (移出)"),
    ), doc="A list entry ends."),
    EventType("RatingAssigned", (
        f("rating_id", doc="id of this rating"),
        f("rating_kind", ENUM, values=RATING_KINDS, doc="which sector's credit rating"),
        f("level", doc="the rating level as the sector defines it, e.g. A, B, M, C, D"),
        f("valid_from", DATE, doc="first day it applies"),
        f("valid_to", DATE, required=False, doc="last day it applies"),
    ), doc="A sector credit rating (行业信用评价)."),
    EventType("QueryAuthorized", (
        f("grant_id", doc="id of this authorisation"),
        f("grantee", doc="who may query (a principal or an organisation's USCC)"),
        f("scope", STR_LIST, doc="which classes of records may be read"),
        f("valid_until", DATE, doc="last day the grant holds"),
        f("authorisation_ref", required=False,
          doc="reference of the subject's written authorisation (书面授权书) the credit office acts on; "
              "the fold requires it of every new grant (optional only so that older records still read)"),
    ), default_classification="INTERNAL", doc="The subject authorises a query of non-public records (授权查询)."),
    EventType("QueryAuthorizationRevoked", (
        f("grant_id", doc="the grant's id"),
        f("grantee", doc="who may no longer query"),
        f("scope", STR_LIST, doc="which classes of records it covered"),
        f("valid_until", DATE, doc="the grant's original end"),
    ), default_classification="INTERNAL", doc="The subject withdraws an authorisation."),
    EventType("DisclosureOverdue", (
        f("decision_no", doc="the decision whose record did not arrive"),
        f("decision_kind", ENUM, values=DECISION_KINDS, doc="PERMIT or PENALTY"),
        f("due_on", DATE, doc="the last working day it was due"),
    ), default_classification="INTERNAL", system=True, doc="A registered decision was not published in time (漏报)."),
    EventType("CommitmentOverdue", (
        f("commitment_id", doc="the commitment that was not kept in time"),
        f("due_on", DATE, doc="its due date"),
    ), system=True, doc="A commitment passed its due date unfulfilled; counts as a breach."),
    EventType("PublicityEnded", (
        f("record_id", doc="the record whose publicity ended"),
        text("reason", doc="why (maximum period reached, term over)"),
    ), system=True, doc="A record leaves public display."),
    EventType("ListTermEnded", (
        f("entry_id", doc="the entry whose term ended"),
    ), system=True, doc="A list entry's term is over."),
    EventType("ProcessingOverdue", (
        f("kind", ENUM, values=PROCESSING_KINDS,
          doc="REPAIR or OBJECTION: not decided in time; REPAIR_ACCEPTANCE or OBJECTION_ACCEPTANCE: not accepted"),
        f("ref_id", doc="the repair_id or objection_id"),
        f("due_on", DATE, doc="when the decision (or the acceptance) was due"),
    ), default_classification="INTERNAL", system=True,
        doc="An objection or repair was not accepted, or not decided, in time."),
    EventType("RatingExpired", (
        f("rating_id", doc="the rating whose validity ended"),
        f("valid_to", DATE, doc="its last day of validity"),
    ), system=True, doc="A sector rating's validity ended (valid_to passed): it no longer counts in the grade."),
    EventType("ObjectionAccepted", (
        f("objection_id", doc="the objection's id"),
        f("record_id", doc="the record objected to"),
    ), default_classification="INTERNAL",
        doc="An objection is accepted for processing (异议受理); its decision is due from this day."),
    EventType("RepairAccepted", (
        f("repair_id", doc="the application's id"),
        f("record_id", doc="the penalty (or commitment) concerned"),
    ), default_classification="INTERNAL",
        doc="A repair application is accepted for processing (信用修复受理); its decision is due from this day."),
    EventType("InspectionRecorded", (
        f("inspection_id", doc="id of this inspection"),
        f("outcome", ENUM, values=INSPECTION_OUTCOMES, doc="the 抽查检查结果"),
        f("inspectors", STR_LIST, doc="ids of the inspectors who inspected (双随机: drawn with the subject)"),
        f("sample_seed", INT, required=False, bounds=Bounds(0, 2**53), doc="the seed of the published draw"),
        text("findings", required=False, doc="what was found"),
    ), doc="A 双随机一公开 inspection's result (抽查检查结果), published (一公开)."),
    EventType("PersonalInfoErased", (
        text("reason", doc="why: the legal ground and the request, as the credit office gave it "
                           "(`credit-ledger erase --reason`, at most 500 characters there)"),
        f("requested_by", doc="the principal who ordered the erasure"),
        f("keys_erased", INT, bounds=Bounds(0, 16), doc="how many of the person's data keys were destroyed"),
    ), default_classification="INTERNAL", system=True,
        doc="A natural person's personal information was erased (个人信息删除, crypto-shredding): the keys of "
            "its sealed name and ID number are destroyed in the deployment's key store, so that no process can "
            "read them any more. Written by the worker for `credit-ledger erase`; it carries none of the data, "
            "and the file still folds, its grade unchanged."),
    *(EventType(name, (
        f("case_id", doc="the implementing department's own id of this case (案例编号), unique for it"),
        f("entry_id", doc="the list entry whose measure this is (an active entry of this subject)"),
        f("measure", doc="the measure's code (projections/measures.yaml), one the entry carries and the source "
                         "implements (its register entry's measures in the policy)"),
        f("matter", doc="the matter it was decided in: a bid, grant, permit application or procurement number "
                        "(事项编号)"),
        text("result", doc=result),
    ), default_classification="INTERNAL", doc=doc) for name, result, doc in (
        ("MeasureApplied", "what was done (e.g. 不予通过资格审查, 取消中标候选人资格, 列为重点监管对象)",
         "An implementing department applied a joint measure of a list entry (联合奖惩 反馈: 已实施). The "
         "implementing authority is the source (source.authority_code); the date, occurred_on."),
        ("MeasureDeclined", "why it was not applied (e.g. the matter lies outside the measure's scope)",
         "An implementing department did not apply a joint measure of a list entry in a matter (联合奖惩 反馈: "
         "未实施, with the reason). The implementing authority is the source; the date, occurred_on."))),
)

EVENT_TYPES: dict[str, EventType] = {t.name: t for t in _TYPES}
SYSTEM_TYPES = frozenset(t.name for t in _TYPES if t.system)
PERSONAL_INFO_ERASED = "PersonalInfoErased"  # written by the worker for `credit-ledger erase`
# What a subject files itself (issue 31 part 5): an event of these types whose source.authority_code is
# its own subject's id is the subject's own act on its own file (projections/access.py: the edge lets a
# subject principal publish these only). Every other act on a record stays its authority's.
SELF_FILED_TYPES = ("ObjectionFiled", "RepairRequested", "QueryAuthorized")
# source.authority_name of a natural person's own filing (its source.authority_code is its pseudonym):
# fixed, so that no person's name ever stands in a source (projections/validate.py, rule self_source).
SELF_SOURCE_NAME = "本人"
# Each type's name on the credit report and the dashboard.
EVENT_TYPES_ZH = {
    "SubjectRegistered": "主体登记", "SubjectDeregistered": "主体注销", "DecisionRegistered": "决定登记",
    "PermitGranted": "行政许可", "PermitRevoked": "许可撤销", "PenaltyImposed": "行政处罚",
    "PenaltyFulfilled": "处罚履行完毕", "PenaltyRevoked": "处罚撤销", "CommitmentMade": "作出信用承诺",
    "CommitmentFulfilled": "承诺已履行", "CommitmentBreached": "违背承诺", "RepairRequested": "信用修复申请",
    "RepairDecided": "信用修复决定", "ObjectionFiled": "异议申请", "ObjectionResolved": "异议处理结果",
    "ListEntered": "列入名单", "ListExited": "移出名单", "RatingAssigned": "行业信用评价",
    "QueryAuthorized": "授权查询", "QueryAuthorizationRevoked": "撤回查询授权",
    "DisclosureOverdue": "双公示逾期（漏报）", "CommitmentOverdue": "承诺逾期", "PublicityEnded": "公示期满",
    "ListTermEnded": "名单期满", "ProcessingOverdue": "办理逾期", "RatingExpired": "信用评价有效期届满",
    "ObjectionAccepted": "异议受理", "RepairAccepted": "信用修复受理", "InspectionRecorded": "双随机抽查结果",
    "PersonalInfoErased": "个人信息删除", "MeasureApplied": "联合奖惩措施已实施", "MeasureDeclined": "联合奖惩措施未实施",
}
assert set(EVENT_TYPES_ZH) == set(EVENT_TYPES), "every event type needs its Chinese label"
