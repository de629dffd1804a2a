"""What kind of subject a credit file is about, derived from its unified social credit code.

Two views of one subject, both pure functions of (subject kind, subject id):

- `category`: the register it is entered in, from the code's first two characters (GB 32100-2015:
  登记管理部门码 + 机构类别码): ENTERPRISE (9-1), INDIVIDUAL_BUSINESS (9-2), FARMER_COOPERATIVE (9-3),
  ORGAN (1-1 机关), PUBLIC_INSTITUTION (1-2 事业单位, A-1 军队事业单位), SOCIAL_ORGANIZATION (1-3 群众团体,
  5-1 社会团体, 5-2 民办非企业单位, 5-3 基金会, 8-1 基层工会), SELF_GOVERNING (5-4/5-5 村民/居民委员会),
  RURAL_COLLECTIVE (N-1..N-3 农村集体经济组织), OTHER_ORGANIZATION (every other code), NATURAL_PERSON.
  The policy says which categories a list admits (lists.admitted_subjects).
- `civil_code_kind`: the Civil Code's kind of subject (民法典 第一编 第二章至第四章): 营利法人 (第七十六条),
  非营利法人 (第八十七条: 事业单位、社会团体、基金会、社会服务机构), 特别法人 (第九十六条: 机关法人、农村集体经济
  组织法人、城镇农村的合作经济组织法人、基层群众性自治组织法人), 非法人组织 (第一百零二条: 个人独资企业、合伙
  企业、不具有法人资格的专业服务机构), 个体工商户 (第五十四条), 自然人.

The event's `subject.kind` (LEGAL_PERSON, OTHER_ORGANIZATION, INDIVIDUAL_BUSINESS, NATURAL_PERSON) is the
Civil Code's first cut (法人, 非法人组织, 个体工商户, 自然人); it stays as it is on the wire, so every record
already in the log reads unchanged. The finer kind is derived, never claimed: where the code admits one
Civil Code kind only, a claimed subject.kind of another cut contradicts it and the edge rejects the event
(validate rule kind_contradicts_code). Where the code admits two (9-1 企业: a company is 营利法人, a
partnership, a sole proprietorship or a branch 非法人组织; 5-2 民办非企业单位, 3-1 律师事务所 likewise), the
claimed kind chooses between them.

Sources. The category codes are GB 32100-2015 Appendix A as widened in projections/ids.py; which Civil Code
kind each register holds is from the Civil Code's articles above and the registers' own rules (工会法 第十四条:
基层工会 社会团体法人; 农民专业合作社法 第五条: 法人), from knowledge of the national texts, not from a seed.
5-4/5-5 (村民/居民委员会) is the national code centre's later addition (ids.USCC_CATEGORIES), as we know it.
"""
from __future__ import annotations

LEGAL_PERSON, OTHER_ORGANIZATION = "LEGAL_PERSON", "OTHER_ORGANIZATION"
INDIVIDUAL_BUSINESS, NATURAL_PERSON = "INDIVIDUAL_BUSINESS", "NATURAL_PERSON"

# --- registers (categories) ---------------------------------------------------------------------
ENTERPRISE, FARMER_COOPERATIVE, ORGAN = "ENTERPRISE", "FARMER_COOPERATIVE", "ORGAN"
PUBLIC_INSTITUTION, SOCIAL_ORGANIZATION = "PUBLIC_INSTITUTION", "SOCIAL_ORGANIZATION"
SELF_GOVERNING, RURAL_COLLECTIVE = "SELF_GOVERNING", "RURAL_COLLECTIVE"
CATEGORIES = (ENTERPRISE, INDIVIDUAL_BUSINESS, FARMER_COOPERATIVE, ORGAN, PUBLIC_INSTITUTION, SOCIAL_ORGANIZATION,
              SELF_GOVERNING, RURAL_COLLECTIVE, OTHER_ORGANIZATION, NATURAL_PERSON)
CATEGORY_LABELS_ZH = {ENTERPRISE: "企业", INDIVIDUAL_BUSINESS: "个体工商户", FARMER_COOPERATIVE: "农民专业合作社",
                      ORGAN: "机关", PUBLIC_INSTITUTION: "事业单位", SOCIAL_ORGANIZATION: "社会组织",
                      SELF_GOVERNING: "基层群众性自治组织", RURAL_COLLECTIVE: "农村集体经济组织",
                      OTHER_ORGANIZATION: "其他组织", NATURAL_PERSON: "自然人"}

# --- the Civil Code's kinds -----------------------------------------------------------------------
FOR_PROFIT, NON_PROFIT, SPECIAL = "FOR_PROFIT_LEGAL_PERSON", "NON_PROFIT_LEGAL_PERSON", "SPECIAL_LEGAL_PERSON"
UNINCORPORATED = "UNINCORPORATED_ORGANIZATION"
CIVIL_CODE_KINDS = (FOR_PROFIT, NON_PROFIT, SPECIAL, UNINCORPORATED, INDIVIDUAL_BUSINESS, NATURAL_PERSON)
CIVIL_CODE_LABELS_ZH = {FOR_PROFIT: "营利法人", NON_PROFIT: "非营利法人", SPECIAL: "特别法人", UNINCORPORATED: "非法人组织",
                        INDIVIDUAL_BUSINESS: "个体工商户", NATURAL_PERSON: "自然人"}
# The wire's subject.kind each Civil Code kind falls under (its first cut).
WIRE_KIND = {FOR_PROFIT: LEGAL_PERSON, NON_PROFIT: LEGAL_PERSON, SPECIAL: LEGAL_PERSON,
             UNINCORPORATED: OTHER_ORGANIZATION, INDIVIDUAL_BUSINESS: INDIVIDUAL_BUSINESS,
             NATURAL_PERSON: NATURAL_PERSON}

# Code positions 1-2 -> (register, the Civil Code kinds its subjects may be), first match; "1?" any category
# of authority 1 not named before it. Several kinds: the claimed subject.kind picks one.
_BY_CODE: dict[str, tuple[str, tuple[str, ...]]] = {
    "11": (ORGAN, (SPECIAL,)),  # 机关 → 机关法人
    "12": (PUBLIC_INSTITUTION, (NON_PROFIT,)),  # 事业单位 → 事业单位法人
    "13": (SOCIAL_ORGANIZATION, (NON_PROFIT,)),  # 中央编办管理的群众团体 → 社会团体法人
    "A1": (PUBLIC_INSTITUTION, (NON_PROFIT,)),  # 军队事业单位
    "51": (SOCIAL_ORGANIZATION, (NON_PROFIT,)),  # 社会团体 → 社会团体法人
    "52": (SOCIAL_ORGANIZATION, (NON_PROFIT, UNINCORPORATED)),  # 民办非企业单位(法人) / (合伙、个体)
    "53": (SOCIAL_ORGANIZATION, (NON_PROFIT,)),  # 基金会 → 捐助法人
    "54": (SELF_GOVERNING, (SPECIAL,)),  # 村民委员会 → 基层群众性自治组织法人
    "55": (SELF_GOVERNING, (SPECIAL,)),  # 居民委员会
    "81": (SOCIAL_ORGANIZATION, (NON_PROFIT,)),  # 基层工会 → 社会团体法人
    "91": (ENTERPRISE, (FOR_PROFIT, UNINCORPORATED)),  # 公司 / 合伙企业、个人独资企业、分支机构
    "92": (INDIVIDUAL_BUSINESS, (INDIVIDUAL_BUSINESS,)),
    "93": (FARMER_COOPERATIVE, (SPECIAL,)),  # 农民专业合作社 → 城镇农村的合作经济组织法人
    "N1": (RURAL_COLLECTIVE, (SPECIAL,)),  # 组级、村级、乡镇级集体经济组织 → 农村集体经济组织法人
    "N2": (RURAL_COLLECTIVE, (SPECIAL,)),
    "N3": (RURAL_COLLECTIVE, (SPECIAL,)),
}
# Every other code: a register this module does not tell apart, whose subject may be any organisation.
_ANY_ORGANISATION = (OTHER_ORGANIZATION, (FOR_PROFIT, NON_PROFIT, SPECIAL, UNINCORPORATED))


def _by_code(kind: str, subject_id: str) -> tuple[str, tuple[str, ...]]:
    if kind == NATURAL_PERSON:
        return NATURAL_PERSON, (NATURAL_PERSON,)
    return _BY_CODE.get(subject_id[:2], _ANY_ORGANISATION)


def category(subject: dict) -> str:
    """The register the subject is entered in (CATEGORIES), from its code."""
    return _by_code(subject["kind"], subject["id"])[0]


def civil_code_kinds(subject_id: str) -> tuple[str, ...]:
    """The Civil Code kinds an organisation of this code may be (one, or two the claimed kind chooses from)."""
    return _by_code(OTHER_ORGANIZATION, subject_id)[1]


def civil_code_kind(subject: dict) -> str | None:
    """The subject's Civil Code kind: the one its code admits under its claimed subject.kind; None where the
    claim contradicts the code (the edge refuses such an event, a record from before may still carry one)
    or the code admits several of the claimed cut (an unknown register claimed LEGAL_PERSON)."""
    kinds = [k for k in _by_code(subject["kind"], subject["id"])[1] if WIRE_KIND[k] == subject["kind"]]
    return kinds[0] if len(kinds) == 1 else None


def kind_problem(kind: str, subject_id: str) -> str | None:
    """Why the claimed subject.kind contradicts an organisation's code, or None."""
    if kind == NATURAL_PERSON:
        return None
    register, kinds = _by_code(kind, subject_id)
    wire = sorted({WIRE_KIND[k] for k in kinds})
    if kind in wire:
        return None
    labels = "、".join(CIVIL_CODE_LABELS_ZH[k] for k in kinds)
    return (f"the code's registration category {subject_id[:2]} ({CATEGORY_LABELS_ZH[register]}) is {labels} "
            f"under the Civil Code: subject.kind {' or '.join(wire)}, not {kind} (GB 32100-2015)")


# Names that tell an enterprise (9-1) is not a legal person: a branch, a partnership, a sole proprietorship,
# a representative office (民法典 第七十四条 分支机构, 第一百零二条 非法人组织).
_UNINCORPORATED_NAMES = ("分公司", "分店", "分厂", "分行", "支行", "营业部", "办事处", "合伙", "个人独资")


def wire_kind_for(subject_id: str, name: str | None = None) -> str:
    """The subject.kind an organisation of this code is sent as, where the sender only knows it is an
    organisation (the 双公示 templates' 法人及非法人组织): the code's one kind, else by the name (a branch or a
    partnership is 非法人组织), else LEGAL_PERSON."""
    wires = sorted({WIRE_KIND[k] for k in civil_code_kinds(subject_id)})
    if len(wires) == 1:
        return wires[0]
    if name and any(word in name for word in _UNINCORPORATED_NAMES):
        return OTHER_ORGANIZATION
    return LEGAL_PERSON


def derived(subject: dict) -> dict:
    """What the credit file, the report and the lists show of a subject's kind: its register and Civil Code kind."""
    return {"category": category(subject), "civil_code_kind": civil_code_kind(subject)}
