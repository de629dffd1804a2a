"""A deterministic synthetic dataset for the demo and the tests.

`demo_events()` tells the credit stories of companies, shops and a few people in
four cities (郑州, 江门, 海东, 黄石), in the JSON form of DESIGN.md "Events" and
without `recorded_at` (the ledger's edge stamps it). The same arguments always
give the same events, ids included. Every non-system event type appears, with
coherent references and the order the rules expect.

A record's `occurred_on` is the day it reaches the ledger (the demo has no
recorded_at); its decision date is the `occurred_on` of its DecisionRegistered,
so a late or missing 双公示 shows as a gap between the two.
"""
from __future__ import annotations

import heapq
import itertools
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from projections.calendar import WorkingCalendar
from projections.catalogue import EVENT_TYPES
from projections.ids import make_resident_id, make_uscc

DEMO_NAMESPACE = uuid.UUID("5d1c8e2a-3f4b-5a6c-8d7e-9f0a1b2c3d4e")
NAME_DRAWS_MAX = 20  # random company names tried before one gets a number
MIN_SUBJECTS = 12  # one per scripted story below, so that every event type appears


@dataclass(frozen=True)
class City:
    name: str
    code: str  # the city's own division code, used by its bureaus
    abbr: str  # as in decision numbers: 郑市监罚〔2024〕12号
    province: str
    districts: tuple[tuple[str, str], ...]


CITIES = (
    City("郑州", "410100", "郑", "豫", (("410102", "中原区"), ("410105", "金水区"))),
    City("江门", "440700", "江", "粤", (("440703", "蓬江区"), ("440704", "江海区"))),
    City("海东", "630200", "海东", "青", (("630202", "乐都区"), ("630203", "平安区"))),
    City("黄石", "420200", "黄石", "鄂", (("420202", "黄石港区"), ("420205", "铁山区"))),
)
# department -> (name after the city, penalty document prefix, permit document prefix)
DEPTS = {
    "market": ("市场监督管理局", "市监罚", "市监许"),
    "tax": ("税务局", "税稽罚", "税许"),
    "env": ("生态环境局", "环罚", "环许"),
    "safety": ("应急管理局", "应急罚", "应急许"),
    "housing": ("住房和城乡建设局", "建罚", "建施许"),
    "credit": ("发展和改革委员会", "发改罚", "发改许"),  # 信用办: enters list entries
    "court": ("中级人民法院", "法罚", "法许"),
}


@dataclass(frozen=True)
class Industry:
    word: str  # as in the company name
    code: str  # GB/T 4754-2017
    permit_depts: tuple[str, ...]
    penalty_depts: tuple[str, ...]


INDUSTRIES = (
    Industry("机械制造", "C3499", ("env",), ("market", "safety", "env")),
    Industry("食品", "C1431", ("market",), ("market",)),
    Industry("化工", "C2614", ("env", "safety"), ("env", "safety")),
    Industry("建筑工程", "E4710", ("housing",), ("housing", "safety")),
    Industry("商贸", "F5212", ("market",), ("market",)),
    Industry("餐饮管理", "H6210", ("market",), ("market",)),
    Industry("物流", "G5431", (), ("safety", "market")),
    Industry("针织", "C1761", ("env",), ("env", "market")),
    Industry("大药房", "F5251", ("market",), ("market",)),
    Industry("环保科技", "N7721", ("env",), ("env",)),
)
SHOPS = (Industry("烩面馆", "H6210", ("market",), ("market",)), Industry("小吃店", "H6220", ("market",), ("market",)),
         Industry("便利店", "F5213", ("market",), ("market",)), Industry("五金店", "F5271", (), ("market",)))
BRAND_1, BRAND_2 = "宏鑫华恒瑞永金天博聚兴安润嘉盛中昌福康祥锦汇德远立众隆鸿卓佳", "达源泰信丰盛诚成远力业泽禾世正昌隆宁瑞程通航发顺祥和"
SURNAMES, GIVEN = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高", ("伟", "芳", "建国", "秀英", "志强", "丽娟", "海涛", "明", "桂兰", "俊杰", "晓燕", "国庆")

# (violation_type, facts, basis, penalty kind options, fine range in yuan, severity, sector)
VIOLATIONS = {
    "market": (
        ("生产经营不符合食品安全标准的食品", "经抽样检验，当事人生产经营的食品菌落总数项目不符合食品安全国家标准",
         "《中华人民共和国食品安全法》第一百二十四条第一款", (("FINE", "CONFISCATION"),), (50_000, 150_000), "GENERAL", None),
        ("使用未经定期检验的特种设备", "当事人使用的1台叉车超过定期检验有效期仍继续使用",
         "《中华人民共和国特种设备安全法》第八十四条第一项", (("FINE",),), (30_000, 100_000), "GENERAL", "SPECIAL_EQUIPMENT"),
        ("发布虚假广告", "当事人在其微信公众号发布含有虚假内容的商品广告",
         "《中华人民共和国广告法》第五十五条第一款", (("FINE",), ("WARNING", "FINE")), (20_000, 100_000), "GENERAL", None),
        ("销售不合格产品", "经监督抽查，当事人销售的电线电缆导体电阻项目不合格",
         "《中华人民共和国产品质量法》第四十九条", (("FINE", "CONFISCATION"),), (10_000, 80_000), "GENERAL", None),
    ),
    "tax": (
        ("未按照规定期限办理纳税申报", "当事人未按照规定期限办理增值税纳税申报",
         "《中华人民共和国税收征收管理法》第六十二条", (("FINE",),), (200, 2_000), "GENERAL", None),
        ("偷税", "当事人通过少列收入方式少缴企业所得税",
         "《中华人民共和国税收征收管理法》第六十三条第一款", (("FINE",),), (50_000, 500_000), "SERIOUS", None),
    ),
    "env": (
        ("超标排放大气污染物", "经监测，当事人废气排放口颗粒物排放浓度超过国家排放标准",
         "《中华人民共和国大气污染防治法》第九十九条第二项", (("FINE",),), (100_000, 500_000), "GENERAL", None),
        ("未依法报批环境影响评价文件擅自开工建设", "当事人扩建项目未依法报批环境影响报告表即开工建设",
         "《中华人民共和国环境影响评价法》第三十一条第一款", (("FINE",),), (50_000, 300_000), "SERIOUS", None),
    ),
    "safety": (
        ("未按规定对从业人员进行安全生产教育和培训", "当事人未对新入职的3名从业人员进行安全生产教育和培训",
         "《中华人民共和国安全生产法》第九十七条第三项", (("WARNING", "FINE"), ("FINE",)), (10_000, 100_000), "GENERAL", "WORK_SAFETY"),
        ("未对重大危险源登记建档并进行定期检测评估", "当事人未对储罐区重大危险源登记建档",
         "《中华人民共和国安全生产法》第一百零一条第二项", (("FINE", "SUSPENSION"),), (100_000, 200_000), "SERIOUS", "WORK_SAFETY"),
    ),
    "housing": (
        ("未取得施工许可证擅自施工", "当事人承建的住宅项目未取得施工许可证即开工建设",
         "《建筑工程施工许可管理办法》第十二条", (("FINE",),), (10_000, 100_000), "GENERAL", None),
        ("违法分包工程", "当事人将承包的主体结构工程分包给不具备相应资质的单位",
         "《建设工程质量管理条例》第六十二条第一款", (("FINE", "CONFISCATION"),), (50_000, 300_000), "SERIOUS", None),
    ),
}
SEVERE = {
    "market": ("生产经营添加非食品原料的食品", "当事人在生产的卤制品中添加非食用物质", "《中华人民共和国食品安全法》第一百二十三条第一款",
               (("FINE", "CONFISCATION", "CERTIFICATE_REVOCATION"),), (500_000, 2_000_000), "SEVERE", None),
    "tax": ("虚开增值税专用发票", "当事人在无真实交易的情况下为他人虚开增值税专用发票58份", "《中华人民共和国发票管理办法》第三十五条",
            (("FINE", "CONFISCATION"),), (200_000, 1_000_000), "SEVERE", None),
    "env": ("通过暗管逃避监管排放水污染物", "当事人通过暗管将生产废水直接排入市政雨水管网", "《中华人民共和国水污染防治法》第八十三条第三项",
            (("FINE", "PRODUCTION_RESTRICTION"),), (200_000, 1_000_000), "SEVERE", None),
}
PERMITS = {  # dept -> (permit_kind, certificate_name, content)
    "market": ("普通", "食品经营许可证", "预包装食品销售（含冷藏冷冻食品）、散装食品销售"),
    "env": ("普通", "排污许可证", "按证排放大气污染物、水污染物"),
    "housing": ("普通", "建筑工程施工许可证", "住宅楼1#-3#楼及地下车库施工"),
    "safety": ("普通", "危险化学品经营许可证", "危险化学品经营（不带储存）：乙醇、甲苯"),
}


_CALENDAR = WorkingCalendar()  # the fold's own calendar (official holidays, cached), so the demo agrees with it
_workday = _CALENDAR.is_working_day


def _next_workday(d: date) -> date:
    while not _workday(d):
        d += timedelta(days=1)
    return d


def _years_later(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def add_workdays(d: date, n: int) -> date:
    """The n-th working day after d (d itself is not counted)."""
    return _CALENDAR.add_working_days(d, n).due_on


@dataclass
class Subject:
    id: str | None
    kind: str
    name: str
    city: City
    region: str
    industry: Industry | None = None
    id_number: str | None = None

    def envelope(self) -> dict:
        if self.kind == "NATURAL_PERSON":  # the edge pseudonymises; no id of our own
            return {"id": None, "kind": self.kind, "name": self.name, "id_number": self.id_number}
        return {"id": self.id, "kind": self.kind, "name": self.name}


def authority(city: City, dept: str) -> dict:
    """The source of a department's events: its code (deterministic) and full name."""
    name = DEPTS[dept][0]
    full = f"国家税务总局{city.name}市{name}" if dept == "tax" else f"{city.name}市{name}"
    serial = CITIES.index(city) * 10 + list(DEPTS).index(dept)
    return {"authority_code": make_uscc(city.code, serial, "1", "1"), "authority_name": full}


def authority_codes() -> list[str]:
    """Every authority the demo publishes as (up gives each a development publisher token)."""
    return [authority(city, dept)["authority_code"] for city in CITIES for dept in DEPTS]


@dataclass
class _Demo:
    rng: random.Random
    start: date
    end: date
    rows: list = field(default_factory=list)
    counters: dict = field(default_factory=dict)

    # --- plumbing ----------------------------------------------------------
    def authority(self, city: City, dept: str) -> dict:
        return authority(city, dept)

    def next(self, key) -> int:
        self.counters[key] = self.counters.get(key, self.rng.randint(10, 60)) + self.rng.randint(1, 9)
        return self.counters[key]

    def new_id(self, prefix: str, d: date) -> str:
        return f"{prefix}{d.year}{self.next(prefix):06d}"

    def doc_no(self, s: Subject, dept: str, kind: str, d: date) -> str:
        prefix = DEPTS[dept][1 if kind == "PENALTY" else 2]
        return f"{s.city.abbr}{prefix}〔{d.year}〕{self.next((s.city.name, prefix, d.year))}号"

    def day(self, lo: float, hi: float) -> date:
        span_days = (self.end - self.start).days
        return _next_workday(self.start + timedelta(days=self.rng.randint(int(lo * span_days), int(hi * span_days))))

    def after(self, d: date, lo_days: int, hi_days: int) -> date:
        return _next_workday(d + timedelta(days=self.rng.randint(lo_days, hi_days)))

    def emit(self, s: Subject, source: dict, d: date, type_: str, **payload) -> bool:
        """Add an event; False (and nothing added) when it falls after the window."""
        if d > self.end:
            return False
        payload = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in payload.items() if v is not None}
        self.rows.append({"type": type_, "subject": s.envelope(), "source": source, "occurred_on": d.isoformat(),
                          "classification": EVENT_TYPES[type_].default_classification, "payload": payload})
        return True

    # --- stories -----------------------------------------------------------
    def register(self, s: Subject, on: date, representative: str | None) -> None:
        dept = "credit" if s.kind == "NATURAL_PERSON" else "market"
        self.emit(s, self.authority(s.city, dept), on, "SubjectRegistered", region_code=s.region,
                  industry_code=s.industry.code if s.industry else None, legal_representative=representative,
                  registered_on=on)

    def decision(self, s: Subject, dept: str, kind: str, d: date, lateness: str | None) -> tuple[str, date | None]:
        """DecisionRegistered on d; returns the number and the day its record arrives (None: never)."""
        no = self.doc_no(s, dept, kind, d)
        if not self.emit(s, self.authority(s.city, dept), d, "DecisionRegistered", decision_no=no, decision_kind=kind):
            return no, None
        lateness = lateness or self.rng.choices(("on_time", "late", "missing"), (86, 9, 5))[0]
        if lateness == "missing":
            return no, None
        return no, add_workdays(d, self.rng.randint(1, 6) if lateness == "on_time" else self.rng.randint(8, 14))

    def permit(self, s: Subject, dept: str, d: date, lateness: str | None = None) -> dict | None:
        no, arrives = self.decision(s, dept, "PERMIT", d, lateness)
        kind, certificate, content = PERMITS[dept]
        record_id = self.new_id("XK", d)
        certificate_no = {"market": f"JY1{s.region}{self.next('JY'):07d}", "env": f"{s.id}001P",
                          "housing": f"{s.region}{d:%Y%m%d}0101",
                          "safety": f"{s.city.province}{s.city.abbr}危化经字〔{d.year}〕{self.next('WH'):06d}"}[dept]
        ok = arrives and self.emit(
            s, self.authority(s.city, dept), arrives, "PermitGranted", record_id=record_id, decision_no=no,
            permit_kind=kind, certificate_name=certificate, certificate_no=certificate_no,
            content=content, valid_from=d, valid_to=None if dept == "housing" else _years_later(d, 5) - timedelta(days=1))
        return {"record_id": record_id, "day": arrives, "dept": dept, "s": s} if ok else None

    def penalty(self, s: Subject, dept: str, d: date, severe: bool = False, lateness: str | None = None,
                violation: tuple | None = None) -> dict | None:
        vtype, facts, basis, kinds, fine_range_yuan, severity, sector = (
            violation or (SEVERE[dept] if severe else self.rng.choice(VIOLATIONS[dept])))
        kinds = self.rng.choice(kinds)
        if severity == "GENERAL" and self.rng.random() < 0.1:
            severity = "SERIOUS"  # 情节较重
        no, arrives = self.decision(s, dept, "PENALTY", d, lateness)
        record_id = self.new_id("CF", d)
        fine_yuan = self.rng.randint(*fine_range_yuan) // 100 * 100  # round hundreds, as decisions are written
        inspected = d - timedelta(days=self.rng.randint(15, 60))  # the inspection precedes the decision
        ok = arrives and self.emit(
            s, self.authority(s.city, dept), arrives, "PenaltyImposed", record_id=record_id, decision_no=no,
            violation_type=vtype, basis=basis, penalty_kinds=list(kinds),
            facts=f"{inspected.year}年{inspected.month}月{inspected.day}日，执法人员依法检查。{facts}。",
            fine_fen=fine_yuan * 100 if "FINE" in kinds else None,
            confiscation_fen=self.rng.randint(1_000, 200_000) * 100 if "CONFISCATION" in kinds else None,
            severity=severity, sector=sector,
            publicity_until=_years_later(d, 3) if self.rng.random() < 0.3 else None)
        heavy = severity == "SEVERE" or sector is not None
        return {"record_id": record_id, "day": arrives, "dept": dept, "s": s, "heavy": heavy} if ok else None

    def aftermath(self, p: dict, objection: str | None = None, revoke: bool = False,
                  fulfil: bool = True, repair: str | None = None) -> None:
        """What follows a penalty: objection, revocation, fulfilment, credit repair."""
        s, source, d, rid = p["s"], self.authority(p["s"].city, p["dept"]), p["day"], p["record_id"]
        if objection:
            oid, filed = self.new_id("YY", d), self.after(d, 2, 10)
            if not self.emit(s, source, filed, "ObjectionFiled", objection_id=oid, record_id=rid,
                             grounds="认为违法事实认定不清，处罚金额明显过重，申请核查更正"):
                return
            accepted = add_workdays(filed, 1)  # 受理 first, then the decision (its period runs from here)
            if not self.emit(s, source, accepted, "ObjectionAccepted", objection_id=oid, record_id=rid):
                return
            if objection == "PENDING":  # never decided: the timers raise ProcessingOverdue
                return
            d = add_workdays(accepted, self.rng.randint(1, 4))
            correction = "经核查，罚款金额更正为原金额的60%" if objection == "UPHELD_CORRECTED" else None
            if not self.emit(s, source, d, "ObjectionResolved", objection_id=oid, record_id=rid, outcome=objection,
                             correction=correction) or objection == "UPHELD_WITHDRAWN":
                return
        if revoke:
            self.emit(s, source, self.after(d, 40, 75), "PenaltyRevoked", record_id=rid,
                      reason=f"经{s.city.name}市人民政府行政复议，以事实不清、证据不足为由撤销该行政处罚决定")
            return
        if not fulfil:
            return
        d = self.after(d, 3, 40)
        if not self.emit(s, source, d, "PenaltyFulfilled", record_id=rid) or not repair:
            return
        # Repair only after the minimum publicity: 3 months, 1 year for SEVERE and special sectors.
        asked = self.after(max(d, p["day"] + timedelta(days=372 if p["heavy"] else 100)), 1, 40)
        credit = self.authority(s.city, "credit")
        made = self.commit(s, credit, asked, "CREDIT_REPAIR", "已履行行政处罚决定并完成整改，承诺今后严格守法经营，"
                          "如再次发生同类失信行为自愿接受从严处理", related=rid, outcome="OPEN")
        repair_id = self.new_id("XF", asked)
        if made and self.emit(s, credit, asked, "RepairRequested", repair_id=repair_id, record_id=rid,
                              corrective_actions="已缴清罚款，完成整改并提交整改报告，参加信用修复培训", commitment_id=made[0]):
            reason = "符合信用修复条件，予以修复" if repair == "APPROVED" else "经现场核查，整改尚未完成，不予修复"
            accepted = add_workdays(asked, 1)
            decided = add_workdays(accepted, self.rng.randint(1, 4))
            if self.emit(s, credit, accepted, "RepairAccepted", repair_id=repair_id, record_id=rid) and self.emit(
                    s, credit, decided, "RepairDecided", repair_id=repair_id, record_id=rid, outcome=repair,
                         reason=reason) and repair == "APPROVED":
                p["repaired_on"] = decided

    def commit(self, s: Subject, source: dict, d: date, kind: str, content: str, related: str | None = None,
               due_days: int | None = None, due_workdays: int | None = None,
               outcome: str = "FULFILLED") -> tuple[str, date | None] | None:
        """CommitmentMade and its end: FULFILLED, BREACHED, FALSE (虚假承诺) or OPEN (nothing follows).

        Returns the commitment id and the day it ended (None while open), or None if out of the window.
        """
        cid = self.new_id("CN", d)
        due = d + timedelta(days=due_days) if due_days else add_workdays(d, due_workdays) if due_workdays else None
        if not self.emit(s, source, d, "CommitmentMade", commitment_id=cid, commitment_kind=kind,
                         related_record_id=related, content=content, due_working_days=due_workdays,
                         due_on=due if due_days else None):
            return None
        ends = min(self.after(d, 3, max(4, (due - d).days - 5)), due) if due else self.after(d, 20, 120)
        if outcome == "FULFILLED" and self.emit(s, source, ends, "CommitmentFulfilled", commitment_id=cid):
            return cid, ends
        if outcome in ("BREACHED", "FALSE"):
            breach = ("经核查，申请人承诺已具备的生产经营场所实际不存在，承诺内容不实" if outcome == "FALSE"
                      else "经事中核查，申请人未在承诺期限内履行承诺事项")
            if self.emit(s, source, ends, "CommitmentBreached", commitment_id=cid, breach=breach,
                         false_commitment=outcome == "FALSE"):
                return cid, ends
        return cid, None

    def listing(self, s: Subject, dept: str, d: date, kind: str, reason: str, measures: list[str],
                basis: str | None = None, term_days: int | None = None,
                exit_on: date | None = None, exit_reason: str = "") -> str | None:
        """The entry's id, None when it falls after the window."""
        source, eid = self.authority(s.city, dept), self.new_id("MD", d)
        if not self.emit(s, source, d, "ListEntered", entry_id=eid, list_kind=kind, reason=reason,
                         basis_record_id=basis, term_until=d + timedelta(days=term_days) if term_days else None,
                         measures=measures):
            return None
        if exit_on:
            self.emit(s, source, exit_on, "ListExited", entry_id=eid, exit_reason=exit_reason)
        return eid

    def feedback(self, s: Subject, dept: str, d: date, entry_id: str, measure: str, matter: str,
                 result: str, applied: bool = True) -> None:
        """An implementing department's 联合奖惩 feedback on `measure` of the entry (no draw of the rng: the
        other stories stay as they were); its case id is the entry's, numbered per measure."""
        self.emit(s, self.authority(s.city, dept), d, "MeasureApplied" if applied else "MeasureDeclined",
                  case_id=f"{entry_id}-{measure}-{matter[-4:]}", entry_id=entry_id, measure=measure,
                  matter=matter, result=result)

    def rating(self, s: Subject, dept: str, d: date, kind: str, level: str, valid_days: int | None = None) -> None:
        self.emit(s, self.authority(s.city, dept), d, "RatingAssigned", rating_id=self.new_id("PJ", d),
                  rating_kind=kind, level=level, valid_from=d,
                  valid_to=d + timedelta(days=valid_days - 1) if valid_days else None)

    def grant(self, s: Subject, d: date, grantee: str, scope: list[str], valid_days: int, revoke_after: int | None) -> None:
        # The credit office writes it on the subject's written authorisation (书面授权书), which it names.
        source, gid, until = self.authority(s.city, "credit"), self.new_id("SQ", d), d + timedelta(days=valid_days)
        if self.emit(s, source, d, "QueryAuthorized", grant_id=gid, grantee=grantee, scope=scope, valid_until=until,
                     authorisation_ref=f"{s.city.abbr}信授〔{d.year}〕{gid[-6:]}号") and revoke_after:
            self.emit(s, source, self.after(d, revoke_after, revoke_after + 10), "QueryAuthorizationRevoked",
                      grant_id=gid, grantee=grantee, scope=scope, valid_until=until)

    def tax_ratings(self, s: Subject, levels: tuple[str, ...]) -> None:
        # Tax credit levels are published every April for the year before.
        for year, level in zip(range(self.start.year, self.end.year + 1), levels):
            d = _next_workday(date(year, 4, self.rng.randint(15, 25)))
            if d >= self.start:
                self.rating(s, "tax", d, "TAX", level, 365 if self.rng.random() < 0.5 else None)


# --- the stories: scripted ones make sure every event type and rule case appears --------
UNLICENSED = ("从事无证无照经营", "当事人未依法取得营业执照，擅自从事食品销售经营活动", "《无证无照经营查处办法》第十三条",
              (("WARNING", "FINE"),), (1_000, 5_000), "GENERAL", None)
RED_MEASURES = ["GREEN_CHANNEL", "SIMPLIFIED_APPROVAL", "REDUCED_INSPECTION"]
BLACK_MEASURES = ["GOV_PROCUREMENT_BAN", "BIDDING_BAN", "HIGH_CONSUMPTION_BAN", "ENHANCED_INSPECTION"]
ABNORMAL_MEASURES = ["PUBLIC_NOTICE", "ENHANCED_INSPECTION"]


def _bank(city: City) -> str:
    return make_uscc(city.code, 900 + CITIES.index(city))  # a bank branch that may query


def _exemplary(b: _Demo, s: Subject) -> None:
    b.tax_ratings(s, ("A", "A"))
    b.listing(s, "credit", b.day(0.18, 0.22), "RED_LIST", "连续三年纳税信用A级且无不良信用记录，认定为守信激励对象",
              RED_MEASURES, term_days=365)  # the term ends inside the window: ListTermEnded
    p = b.permit(s, "env", b.day(0.05, 0.1), "on_time")
    if p:
        b.commit(s, b.authority(s.city, "env"), p["day"], "NOTIFICATION_PROMISE",
                 "申请人承诺污染防治设施已建成并正常运行，排放符合排污许可要求", related=p["record_id"], due_days=60)
    b.grant(s, b.day(0.3, 0.35), _bank(s.city), ["penalties", "commitments", "ratings"], 180, revoke_after=60)
    b.grant(s, b.day(0.7, 0.75), _bank(s.city), ["ratings"], 90, revoke_after=None)
    # a 双随机一公开 inspection, found clean (its day drawn without the rng: the other stories stay as they were)
    b.emit(s, b.authority(s.city, "market"), _next_workday(b.start + (b.end - b.start) * 7 // 10), "InspectionRecorded",
           inspection_id=b.new_id("CC", b.start), outcome="NO_PROBLEM", inspectors=[f"ZF{s.region}001", f"ZF{s.region}002"],
           findings="未发现问题")


def _severe(b: _Demo, s: Subject) -> None:
    permit = b.permit(s, "market", b.day(0.0, 0.01), "on_time")
    p = b.penalty(s, "market", b.day(0.05, 0.07), severe=True, lateness="on_time")
    if not p:
        return
    if permit:
        b.emit(s, b.authority(s.city, "market"), add_workdays(max(p["day"], permit["day"]), 1), "PermitRevoked",
               record_id=permit["record_id"], reason="因生产经营添加非食品原料的食品，依法吊销食品经营许可证")
    b.aftermath(p, fulfil=True, repair="APPROVED")  # a year later, after the SEVERE minimum
    exit_on = add_workdays(p["repaired_on"], 2) if "repaired_on" in p else None
    listed_on = b.after(p["day"], 10, 20)
    entry = b.listing(s, "credit", listed_on, "SERIOUS_DISHONESTY",
                      "因生产经营添加非食品原料的食品受到较重行政处罚，认定为严重失信主体", BLACK_MEASURES,
                      basis=p["record_id"], exit_on=exit_on, exit_reason="信用修复申请已获批准，移出严重失信主体名单")
    bid_on = add_workdays(listed_on, 5)
    if entry and (exit_on is None or bid_on < exit_on):  # the housing bureau at a tender (信用审查, 反馈)
        b.feedback(s, "housing", bid_on, entry, "BIDDING_BAN",
                   f"{s.city.abbr}建招〔{bid_on.year}〕0{CITIES.index(s.city) + 1}63号", "投标资格审查不予通过")


def _tax_fraud(b: _Demo, s: Subject) -> None:
    b.tax_ratings(s, ("B", "D"))
    p = b.penalty(s, "tax", b.day(0.25, 0.3), severe=True, lateness="on_time")
    if p:
        b.aftermath(p, objection="DISMISSED", fulfil=False)
        listed_on = b.after(p["day"], 15, 30)
        entry = b.listing(s, "tax", listed_on, "MAJOR_TAX_VIOLATION", "虚开增值税专用发票，列为重大税收违法失信主体",
                          ["GOV_PROCUREMENT_BAN", "EXIT_RESTRICTION", "INVOICE_RESTRICTION"], basis=p["record_id"])
        if entry:  # the implementing departments report back (联合奖惩 反馈): the tax bureau, the 发改委
            year = listed_on.year
            b.feedback(s, "tax", add_workdays(listed_on, 3), entry, "INVOICE_RESTRICTION",
                       f"{s.city.abbr}税票申〔{year}〕0{CITIES.index(s.city) + 1}12号",
                       "发票领用按辅导期一般纳税人管理，专用发票限量限额供应")
            b.feedback(s, "credit", add_workdays(listed_on, 8), entry, "GOV_PROCUREMENT_BAN",
                       f"{s.city.abbr}采〔{year}〕0{CITIES.index(s.city) + 1}27号", "资格审查不予通过，未进入评审")
            b.feedback(s, "credit", add_workdays(listed_on, 15), entry, "GOV_PROCUREMENT_BAN",
                       f"{s.city.abbr}采〔{year}〕0{CITIES.index(s.city) + 1}41号",
                       "该项目为单一来源采购的后续服务，供应商不可替代，经集体研究未予限制", applied=False)


def _abnormal(b: _Demo, s: Subject) -> None:
    entered = b.day(0.27, 0.3)
    b.listing(s, "market", entered, "ABNORMAL_OPERATION", "未按照规定期限公示上一年度报告", ABNORMAL_MEASURES,
              exit_on=b.after(entered, 60, 90), exit_reason="已补报并公示年度报告，申请移出经营异常名录")
    b.listing(s, "market", b.day(0.88, 0.92), "ABNORMAL_OPERATION", "通过登记的住所或者经营场所无法联系", ABNORMAL_MEASURES)
    p = b.penalty(s, "safety", b.day(0.4, 0.5))
    if p:
        b.aftermath(p)


def _false_commitment(b: _Demo, s: Subject) -> None:
    b.tax_ratings(s, ("B", "C"))
    p = b.permit(s, "market", b.day(0.1, 0.15), "on_time")
    if p:
        made = b.commit(s, b.authority(s.city, "market"), p["day"], "NOTIFICATION_PROMISE",
                        "申请人承诺已具备食品经营许可要求的经营场所和设备条件，所提交材料真实有效",
                        related=p["record_id"], due_days=60, outcome="FALSE")
        if made and made[1]:
            b.emit(s, b.authority(s.city, "market"), add_workdays(made[1], 2), "PermitRevoked", record_id=p["record_id"],
                   reason="申请人以虚假承诺取得许可，依法撤销行政许可决定")


def _overdue(b: _Demo, s: Subject) -> None:
    housing = b.authority(s.city, "housing")
    b.commit(s, housing, b.day(0.05, 0.1), "DEFERRED_DOCUMENTS", "容缺受理：承诺在10个工作日内补齐建设工程规划许可证复印件",
             due_workdays=10, outcome="OPEN")  # never kept: the timers raise CommitmentOverdue
    b.commit(s, housing, b.day(0.3, 0.35), "VOLUNTARY", "承诺在45日内完成施工现场扬尘治理整改", due_days=45, outcome="BREACHED")
    p = b.permit(s, "housing", b.day(0.4, 0.45), "on_time")
    if p:
        b.commit(s, housing, p["day"], "APPROVAL_SUBSTITUTE", "以承诺替代审批：承诺施工图设计文件符合工程建设强制性标准",
                 related=p["record_id"], due_days=90)
    b.rating(s, "housing", b.day(0.5, 0.55), "CONSTRUCTION", "AA", 365)


def _objections(b: _Demo, s: Subject) -> None:
    b.tax_ratings(s, ("B", "B"))
    for when, objection, repair in (((0.1, 0.15), "UPHELD_CORRECTED", None), ((0.45, 0.5), "DISMISSED", "APPROVED")):
        p = b.penalty(s, "env", b.day(*when), lateness="on_time")
        if p:
            b.aftermath(p, objection=objection, repair=repair)
    b.rating(s, "env", b.day(0.6, 0.65), "ENVIRONMENT", "YELLOW", 365)


def _revoked(b: _Demo, s: Subject) -> None:
    p = b.penalty(s, "safety", b.day(0.15, 0.2), lateness="on_time")
    if p:
        b.aftermath(p, revoke=True)
    p = b.penalty(s, "market", b.day(0.5, 0.55), lateness="on_time")
    if p:
        b.aftermath(p, objection="UPHELD_WITHDRAWN")


def _repairs(b: _Demo, s: Subject) -> None:
    for when, dept, repair in (((0.02, 0.05), "market", "APPROVED"), ((0.3, 0.35), "env", "REJECTED")):
        p = b.penalty(s, dept, b.day(*when), lateness="on_time")
        if p:
            b.aftermath(p, repair=repair)
    b.commit(s, b.authority(s.city, "market"), b.day(0.6, 0.7), "INDUSTRY_SELF_DISCIPLINE",
             "遵守行业自律公约，诚信经营，不生产销售假冒伪劣产品", outcome="OPEN")


def _deregistered(b: _Demo, s: Subject) -> None:
    b.permit(s, "market", b.day(0.02, 0.06), "on_time")
    b.emit(s, b.authority(s.city, "market"), b.day(0.45, 0.5), "SubjectDeregistered",
           reason="经股东会决议解散，清算完毕，准予注销登记")


def _late_reporter(b: _Demo, s: Subject) -> None:
    b.permit(s, "housing", b.day(0.1, 0.15), "on_time")
    b.permit(s, "housing", b.day(0.3, 0.35), "late")
    b.decision(s, "housing", "PERMIT", b.day(0.5, 0.55), "missing")  # 漏报: DisclosureOverdue
    p = b.penalty(s, "housing", b.day(0.6, 0.65), lateness="late")  # 迟报
    if p:
        b.aftermath(p)
    b.decision(s, "safety", "PENALTY", b.day(0.7, 0.75), "missing")


def _pending_objection(b: _Demo, s: Subject) -> None:
    b.permit(s, "market", b.day(0.05, 0.1))
    p = b.penalty(s, "market", b.day(0.55, 0.6), lateness="on_time")
    if p:
        b.aftermath(p, objection="PENDING")  # never decided: ProcessingOverdue


def _ordinary(b: _Demo, s: Subject) -> None:
    rng, industry = b.rng, s.industry
    for _ in range(rng.choice((0, 1, 1, 2)) if industry.permit_depts else 0):
        p = b.permit(s, rng.choice(industry.permit_depts), b.day(0.0, 0.85))
        if p and rng.random() < 0.4:
            b.commit(s, b.authority(s.city, p["dept"]), p["day"], rng.choice(("NOTIFICATION_PROMISE", "APPROVAL_SUBSTITUTE")),
                     "申请人承诺符合许可条件，并在承诺期限内提交相关证明材料", related=p["record_id"],
                     due_days=rng.choice((30, 60, 90)), outcome=rng.choices(("FULFILLED", "BREACHED", "OPEN"), (85, 8, 7))[0])
    penalties = 0
    for _ in range(rng.choices((0, 1, 2, 3), (40, 35, 20, 5))[0]):
        dept = rng.choice(industry.penalty_depts + ("tax",))
        p = b.penalty(s, dept, b.day(0.0, 0.9), severe=dept in SEVERE and rng.random() < 0.05)
        if p:
            penalties += 1
            b.aftermath(p, objection="DISMISSED" if rng.random() < 0.08 else None, fulfil=rng.random() < 0.8,
                        repair=rng.choice(("APPROVED", "APPROVED", "REJECTED")) if rng.random() < 0.4 else None)
    if s.kind != "INDIVIDUAL_BUSINESS":
        first = rng.choices("ABMC", (30, 60, 5, 5))[0]
        b.tax_ratings(s, (first, "C" if penalties > 1 else "B" if penalties else first))
    if "env" in industry.permit_depts and rng.random() < 0.5:
        b.rating(s, "env", b.day(0.4, 0.6), "ENVIRONMENT", rng.choices(("GREEN", "BLUE", "YELLOW", "RED"), (20, 50, 20, 10))[0])
    if "housing" in industry.permit_depts:
        b.rating(s, "housing", b.day(0.4, 0.6), "CONSTRUCTION", rng.choice(("AAA", "AA", "A", "B")), 365)
    if rng.random() < 0.15:
        b.commit(s, b.authority(s.city, "market"), b.day(0.1, 0.9), "INDUSTRY_SELF_DISCIPLINE",
                 "遵守行业自律公约，诚信经营，接受社会监督", outcome="OPEN")


_I = {industry.word: industry for industry in INDUSTRIES}
ROLES = (  # (story, subject kind, industry), one subject each
    (_exemplary, "LEGAL_PERSON", _I["机械制造"]), (_severe, "LEGAL_PERSON", _I["食品"]),
    (_tax_fraud, "LEGAL_PERSON", _I["商贸"]), (_abnormal, "OTHER_ORGANIZATION", _I["物流"]),
    (_false_commitment, "LEGAL_PERSON", _I["餐饮管理"]), (_overdue, "LEGAL_PERSON", _I["建筑工程"]),
    (_objections, "LEGAL_PERSON", _I["化工"]), (_revoked, "LEGAL_PERSON", _I["机械制造"]),
    (_repairs, "LEGAL_PERSON", _I["针织"]), (_deregistered, "LEGAL_PERSON", _I["商贸"]),
    (_late_reporter, "LEGAL_PERSON", _I["建筑工程"]), (_pending_objection, "INDIVIDUAL_BUSINESS", SHOPS[0]),
)
assert len(ROLES) == MIN_SUBJECTS


def _person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _org_name(b: _Demo, kind: str, city: City, district: str, industry: Industry, taken: set[str]) -> str:
    for draw in itertools.count():  # brands are drawn until the name is new ...
        # ... and numbered once the draws run dry (there are only a few hundred shop names)
        number = "" if draw < NAME_DRAWS_MAX else str(len(taken))
        brand = b.rng.choice(BRAND_1) + b.rng.choice(BRAND_2) + number
        if kind == "INDIVIDUAL_BUSINESS":
            name = f"{city.name}市{district}{b.rng.choice(SURNAMES)}记{industry.word}{number and f'第{number}店'}"
        elif kind == "OTHER_ORGANIZATION":
            name = f"{city.name}{brand}{industry.word}有限公司{district}分公司"
        else:
            name = f"{city.name}{district[:-1] if b.rng.random() < 0.5 else ''}{brand}{industry.word}有限公司"
        if name not in taken:
            taken.add(name)
            return name


def _ordinary_kind(rng: random.Random) -> tuple[str, None]:
    return rng.choices((("LEGAL_PERSON", None), ("INDIVIDUAL_BUSINESS", None), ("OTHER_ORGANIZATION", None)),
                       (75, 15, 10))[0]


def _tell(b: _Demo, story, kind: str, industry: Industry | None, city: City, serial: int, taken: set[str]) -> Subject:
    """A new organisation (USCC from `serial`), registered years before b.start, and its story."""
    if industry is None:
        industry = b.rng.choice(SHOPS if kind == "INDIVIDUAL_BUSINESS" else INDUSTRIES)
    region, district = b.rng.choice(city.districts)
    uscc = make_uscc(region, serial, "9", "2" if kind == "INDIVIDUAL_BUSINESS" else "1")
    s = Subject(uscc, kind, _org_name(b, kind, city, district, industry, taken), city, region, industry)
    b.register(s, _next_workday(b.start - timedelta(days=b.rng.randint(400, 6000))), _person_name(b.rng))
    story(b, s)
    return s


def demo_events(seed: int = 7, subjects: int = 40, start: date = date(2024, 1, 2), days: int = 600) -> list[dict]:
    """`subjects` organisations plus three natural persons, their events sorted by occurred_on.

    Only subjects' registrations fall before `start`; nothing falls after start + days - 1.
    """
    if subjects < MIN_SUBJECTS:
        raise ValueError(f"subjects must be at least {MIN_SUBJECTS}, so that every event type appears")
    if days < 1:
        raise ValueError("days must be at least 1")
    rng = random.Random(seed)
    b = _Demo(rng, start, start + timedelta(days=days - 1))
    taken: set[str] = set()
    for i in range(subjects):
        story, kind, industry = ROLES[i] if i < len(ROLES) else (_ordinary, *_ordinary_kind(rng))
        _tell(b, story, kind, industry, CITIES[i % len(CITIES)], 1000 + i, taken)
    for j, city in enumerate(CITIES[:3]):
        region = rng.choice(city.districts)[0]
        birth = date(rng.randint(1960, 1998), rng.randint(1, 12), rng.randint(1, 28))
        s = Subject(None, "NATURAL_PERSON", _person_name(rng), city, region,
                    id_number=make_resident_id(region, birth, rng.randint(0, 999)))
        b.register(s, _next_workday(start - timedelta(days=rng.randint(30, 300))), None)
        if j == 0:
            entered = b.day(0.2, 0.25)
            b.listing(s, "court", entered, "DISHONEST_JUDGMENT_DEBTOR",
                      f"有履行能力而拒不履行生效法律文书确定的给付义务（（{entered.year}）{city.province}{city.code[2:4]}执"
                      f"{b.next('ZX')}号）", ["HIGH_CONSUMPTION_BAN", "EXIT_RESTRICTION"],
                      exit_on=b.day(0.7, 0.75), exit_reason="已全部履行生效法律文书确定的义务")
        elif j == 1:
            p = b.penalty(s, "market", b.day(0.3, 0.4), lateness="on_time", violation=UNLICENSED)
            if p:
                b.aftermath(p)
        else:
            b.grant(s, b.day(0.1, 0.2), _bank(city), ["penalties", "lists"], 120, revoke_after=30)
            b.commit(s, b.authority(city, "market"), b.day(0.4, 0.5), "VOLUNTARY", "承诺诚信经营，按期缴纳摊位管理费用",
                     due_days=60)
    rows = sorted(b.rows, key=lambda row: row["occurred_on"])  # stable: same-day events keep causal order
    run = f"{seed}:{subjects}:{start.isoformat()}:{days}"
    return [{"event_id": str(uuid.uuid5(DEMO_NAMESPACE, f"{run}:{n}")), **row} for n, row in enumerate(rows)]


def demo_jsonl(path: str | Path, **kw) -> int:
    """Write demo_events(**kw) to `path`, one JSON object per line; returns the number of events."""
    events = demo_events(**kw)
    with open(path, "w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event, ensure_ascii=False) + "\n")
    return len(events)


# --- the live trickle: `up --demo` keeps telling new stories, so the dashboard moves ---------------
LIVE_STORY_REAL_S = 60.0  # a story unfolds over about a minute of real time, whatever the clock's speed ...
LIVE_STORY_DAYS_MAX = 120  # ... and over at most this many days of the ledger's clock
LIVE_PENDING_MAX = 2_000  # events waiting for their day; no new story starts while this many wait
LIVE_NAMES_MAX = 10_000  # company names remembered to keep new ones distinct
LIVE_ORDINARY_SHARE = 0.4  # the other stories are the scripted ones (list entries, overdue deadlines ...),
# weighted towards those whose deadlines fall due within weeks, so that the timers fire in a live demo
LIVE_ROLE_WEIGHTS = {_overdue: 3, _late_reporter: 3, _pending_objection: 3, _severe: 2, _tax_fraud: 2, _abnormal: 2,
                     _false_commitment: 2}


class LiveDemo:
    """New organisations and their stories (the same stories as demo_events), one per `new_story` call,
    whose events `due(today)` releases once the ledger's clock reaches their day.

    The span of a story follows the clock's speed: at `--speed 86400` (a day a second) a story covers
    about two months, so within a minute permits and penalties arrive on time or late, commitments are
    kept or fall overdue, list entries come and go, deadlines fire and grades move; at real speed only
    what a story puts on its first day is told. Each story has its own new subject, and events are released in
    day order, so every prefix of the stream is valid: stopping anywhere leaves a consistent ledger.
    Memory is bounded: at most LIVE_PENDING_MAX events wait."""

    def __init__(self, seed: int, speed: float = 1.0):
        self.rng = random.Random(seed)
        self.seed = seed
        self.span_days = min(LIVE_STORY_DAYS_MAX, int(speed * LIVE_STORY_REAL_S / 86_400))
        # the session's USCC serials: far from demo_events' and, with a time-based seed, from earlier sessions'
        self.serial = self.rng.randrange(1_000_000, 800_000_000)
        self.pending: list[tuple[str, int, dict]] = []  # heap of (occurred_on, sequence, event)
        self.stories = 0
        self.events = 0
        self.taken: set[str] = set()
        self._demo = _Demo(self.rng, date.today(), date.today())

    def new_story(self, today: date) -> bool:
        """Start the story of a new organisation on `today`; False if too many events wait already."""
        if len(self.pending) >= LIVE_PENDING_MAX:
            return False
        b = self._demo
        b.start, b.end, b.rows = today, today + timedelta(days=self.span_days), []
        if self.rng.random() < LIVE_ORDINARY_SHARE:
            story, kind, industry = _ordinary, *_ordinary_kind(self.rng)
        else:
            story, kind, industry = self.rng.choices(ROLES, [LIVE_ROLE_WEIGHTS.get(role[0], 1) for role in ROLES])[0]
        _tell(b, story, kind, industry, self.rng.choice(CITIES), self.serial + self.stories, self.taken)
        self.stories += 1
        if len(self.taken) > LIVE_NAMES_MAX:
            self.taken.clear()
        for row in b.rows:  # in causal order; the heap keeps it among same-day events
            event_id = str(uuid.uuid5(DEMO_NAMESPACE, f"live:{self.seed}:{self.events}"))
            heapq.heappush(self.pending, (row["occurred_on"], self.events, {"event_id": event_id, **row}))
            self.events += 1
        return True

    def due(self, today: date, limit: int) -> list[dict]:
        """Up to `limit` waiting events whose day has come, in order."""
        released = []
        while self.pending and self.pending[0][0] <= today.isoformat() and len(released) < limit:
            released.append(heapq.heappop(self.pending)[2])
        return released
