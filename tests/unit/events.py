"""Small builders of valid events in JSON form, shared by the unit tests."""
from __future__ import annotations

import itertools
import uuid
from datetime import datetime

from projections.canonical import SHANGHAI
from projections.ids import make_resident_id, make_uscc
from projections.validate import EdgeContext

COMPANY = make_uscc("410105", 1)
AUTHORITY = make_uscc("410100", 1, "1", "1")
OTHER_AUTHORITY = make_uscc("410100", 2, "1", "1")  # another department of the same city
CREDIT_OFFICE = make_uscc("410100", 5, "1", "1")  # 郑州's 信用办, named by the packaged policy


def key_of(local_id: str, authority: str = AUTHORITY) -> str:
    """The key of an authority's record (decision, objection, repair) in a state's tables."""
    from projections.records import key
    return key(authority, local_id)
NOW = datetime(2025, 6, 30, 10, 0, tzinfo=SHANGHAI)
KEY = b"unit-test-pseudonym-key-0123456789"
CTX = EdgeContext(now=NOW, pseudonym_key=KEY)
_ids = itertools.count(1)


def event(type_: str = "PenaltyImposed", payload: dict | None = None, **envelope) -> dict:
    base = {
        "event_id": str(uuid.UUID(int=next(_ids))),
        "type": type_,
        "subject": {"id": COMPANY, "kind": "LEGAL_PERSON", "name": "郑州金水宏达机械制造有限公司"},
        "source": {"authority_code": AUTHORITY, "authority_name": "郑州市市场监督管理局"},
        "occurred_on": "2025-05-06",
        "payload": payload if payload is not None else penalty_payload(),
    }
    base.update(envelope)
    return base


def penalty_payload(**fields) -> dict:
    return {"record_id": "P-1", "decision_no": "郑市监罚〔2025〕12号", "violation_type": "虚假宣传",
            "facts": "在经营场所发布虚假广告", "basis": "《中华人民共和国广告法》第五十五条",
            "penalty_kinds": ["FINE"], "fine_fen": 5_000_000, "severity": "GENERAL", **fields}


def person(id_number: str | None = None) -> dict:
    from datetime import date
    return {"kind": "NATURAL_PERSON", "name": "张三",
            "id_number": id_number or make_resident_id("410105", date(1985, 3, 14), 7)}


# --- validated events of every type, for the fold's tests ---------------------------------------
# Each builder returns an event as the edge accepts it (validated, stamped); system types allowed.
# `on` is the event's occurred_on; payload fields can be overridden by keyword.
from projections.catalogue import SYSTEM_TYPES  # noqa: E402
from projections.validate import TIMER_SYSTEM, require_valid  # noqa: E402

CTX_SYSTEM = EdgeContext(now=NOW, pseudonym_key=KEY, allow_system=True)
DAY = "2025-01-06"


def valid(type_: str, payload: dict, on: str = DAY, **envelope) -> dict:
    """Recorded at 10:00 on the day it occurred, unless `recorded_at` says otherwise (a late arrival).
    A system type comes from the timers (source.system), as the fold requires."""
    if type_ in SYSTEM_TYPES and "source" not in envelope:
        envelope["source"] = {"authority_code": AUTHORITY, "authority_name": "郑州市市场监督管理局",
                              "system": TIMER_SYSTEM}
    if "recorded_at" in envelope:
        now = datetime.fromisoformat(envelope["recorded_at"])
    else:
        now = datetime.fromisoformat(f"{on}T10:00:00+08:00")
    return require_valid(event(type_, payload, occurred_on=on, **envelope),
                         EdgeContext(now=now, pseudonym_key=KEY, allow_system=True))


def decision_no(record_id: str, kind: str = "PENALTY") -> str:
    return f"郑市监{'罚' if kind == 'PENALTY' else '许'}〔2025〕{record_id}号"


def subject_registered(on: str = "2020-01-02", **fields) -> dict:
    return valid("SubjectRegistered", {"region_code": "410105", "registered_on": on, **fields}, on)


def subject_deregistered(on: str = DAY) -> dict:
    return valid("SubjectDeregistered", {"reason": "经股东会决议解散，准予注销登记"}, on)


def decision_registered(number: str, kind: str = "PENALTY", on: str = DAY) -> dict:
    return valid("DecisionRegistered", {"decision_no": number, "decision_kind": kind}, on)


def permit_granted(record_id: str = "X-1", on: str = DAY, **fields) -> dict:
    return valid("PermitGranted", {"record_id": record_id, "decision_no": decision_no(record_id, "PERMIT"),
                                   "permit_kind": "普通", "content": "预包装食品销售", "valid_from": on,
                                   "valid_to": "2029-12-31", **fields}, on)


def permit_revoked(record_id: str = "X-1", on: str = DAY) -> dict:
    return valid("PermitRevoked", {"record_id": record_id, "reason": "以虚假承诺取得许可，依法撤销"}, on)


def penalty_imposed(record_id: str = "P-1", on: str = DAY, recorded_at: str | None = None, **fields) -> dict:
    envelope = {"recorded_at": recorded_at} if recorded_at else {}
    return valid("PenaltyImposed", penalty_payload(**{"record_id": record_id, "decision_no": decision_no(record_id),
                                                      **fields}), on, **envelope)


def penalty_fulfilled(record_id: str = "P-1", on: str = DAY) -> dict:
    return valid("PenaltyFulfilled", {"record_id": record_id}, on)


def penalty_revoked(record_id: str = "P-1", on: str = DAY) -> dict:
    return valid("PenaltyRevoked", {"record_id": record_id, "reason": "经行政复议撤销"}, on)


def commitment_made(commitment_id: str = "C-1", on: str = DAY, **fields) -> dict:
    return valid("CommitmentMade", {"commitment_id": commitment_id, "commitment_kind": "NOTIFICATION_PROMISE",
                                    "content": "承诺符合许可条件", **fields}, on)


def commitment_fulfilled(commitment_id: str = "C-1", on: str = DAY) -> dict:
    return valid("CommitmentFulfilled", {"commitment_id": commitment_id}, on)


def commitment_breached(commitment_id: str = "C-1", on: str = DAY, false_commitment: bool = False) -> dict:
    return valid("CommitmentBreached", {"commitment_id": commitment_id, "breach": "未在承诺期限内履行承诺事项",
                                        "false_commitment": false_commitment}, on)


def commitment_overdue(commitment_id: str = "C-1", due_on: str = DAY, on: str = DAY) -> dict:
    return valid("CommitmentOverdue", {"commitment_id": commitment_id, "due_on": due_on}, on)


def repair_requested(repair_id: str = "R-1", record_id: str = "P-1", on: str = DAY, **fields) -> dict:
    return valid("RepairRequested", {"repair_id": repair_id, "record_id": record_id,
                                     "corrective_actions": "已缴清罚款并完成整改", **fields}, on)


def repair_decided(repair_id: str = "R-1", record_id: str = "P-1", outcome: str = "APPROVED", on: str = DAY) -> dict:
    return valid("RepairDecided", {"repair_id": repair_id, "record_id": record_id, "outcome": outcome,
                                   "reason": "符合信用修复条件"}, on)


def objection_filed(objection_id: str = "O-1", record_id: str = "P-1", on: str = DAY) -> dict:
    return valid("ObjectionFiled", {"objection_id": objection_id, "record_id": record_id,
                                    "grounds": "违法事实认定不清"}, on)


def objection_resolved(objection_id: str = "O-1", record_id: str = "P-1", outcome: str = "DISMISSED",
                       on: str = DAY, **fields) -> dict:
    return valid("ObjectionResolved", {"objection_id": objection_id, "record_id": record_id, "outcome": outcome,
                                       **fields}, on)


def list_entered(entry_id: str = "L-1", on: str = DAY, **fields) -> dict:
    return valid("ListEntered", {"entry_id": entry_id, "list_kind": "ABNORMAL_OPERATION",
                                 "reason": "未按照规定期限公示年度报告", "measures": ["PUBLIC_NOTICE"], **fields}, on)


# 郑州's 住房和城乡建设局 (serial 4 of ops/demo.py): the packaged policy's register has it implement BIDDING_BAN
HOUSING = make_uscc("410100", 4, "1", "1")
HOUSING_SOURCE = {"authority_code": HOUSING, "authority_name": "郑州市住房和城乡建设局"}


def measure_feedback(type_: str = "MeasureApplied", case_id: str = "K-1", entry_id: str = "L-1",
                     measure: str = "BIDDING_BAN", on: str = "2025-02-03", source: dict | None = None,
                     **fields) -> dict:
    """An implementing department's feedback on a joint measure (by default the housing bureau's BIDDING_BAN)."""
    payload = {"case_id": case_id, "entry_id": entry_id, "measure": measure, "matter": "郑建招〔2025〕7号标段",
               "result": "不予通过投标资格审查", **fields}
    return valid(type_, payload, on, source=source or HOUSING_SOURCE)


def list_exited(entry_id: str = "L-1", on: str = DAY) -> dict:
    return valid("ListExited", {"entry_id": entry_id, "exit_reason": "已补报并公示年度报告"}, on)


def list_term_ended(entry_id: str = "L-1", on: str = DAY) -> dict:
    return valid("ListTermEnded", {"entry_id": entry_id}, on)


def rating_assigned(rating_id: str = "G-1", on: str = DAY, **fields) -> dict:
    return valid("RatingAssigned", {"rating_id": rating_id, "rating_kind": "TAX", "level": "A", "valid_from": on,
                                    **fields}, on)


def grant_payload(grant_id: str = "Q-1", **fields) -> dict:
    return {"grant_id": grant_id, "grantee": BANK, "scope": ["penalties"], "valid_until": "2025-12-31", **fields}


CREDIT_OFFICE_SOURCE = {"authority_code": CREDIT_OFFICE, "authority_name": "郑州市发展和改革委员会"}


def query_authorized(grant_id: str = "Q-1", on: str = DAY, source: dict = CREDIT_OFFICE_SOURCE, **fields) -> dict:
    """Written by the credit office on the subject's written authorisation, as the fold requires."""
    return valid("QueryAuthorized", {"authorisation_ref": f"授权书-{grant_id}", **grant_payload(grant_id, **fields)},
                 on, source=source)


def query_authorization_revoked(grant_id: str = "Q-1", on: str = DAY, source: dict = CREDIT_OFFICE_SOURCE,
                                **fields) -> dict:
    return valid("QueryAuthorizationRevoked", grant_payload(grant_id, **fields), on, source=source)


def disclosure_overdue(number: str, kind: str = "PENALTY", due_on: str = DAY, on: str = DAY) -> dict:
    return valid("DisclosureOverdue", {"decision_no": number, "decision_kind": kind, "due_on": due_on}, on)


def publicity_ended(record_id: str = "P-1", on: str = DAY) -> dict:
    return valid("PublicityEnded", {"record_id": record_id, "reason": "公示期满"}, on)


def rating_expired(rating_id: str = "G-1", valid_to: str = DAY, on: str = DAY) -> dict:
    return valid("RatingExpired", {"rating_id": rating_id, "valid_to": valid_to}, on)


def processing_overdue(kind: str, ref_id: str, due_on: str = DAY, on: str = DAY) -> dict:
    return valid("ProcessingOverdue", {"kind": kind, "ref_id": ref_id, "due_on": due_on}, on)


BANK = make_uscc("410100", 900)


def objection_accepted(objection_id: str = "O-1", record_id: str = "P-1", on: str = DAY) -> dict:
    return valid("ObjectionAccepted", {"objection_id": objection_id, "record_id": record_id}, on)


def repair_accepted(repair_id: str = "R-1", record_id: str = "P-1", on: str = DAY) -> dict:
    return valid("RepairAccepted", {"repair_id": repair_id, "record_id": record_id}, on)


def inspection_recorded(inspection_id: str = "CC-1", outcome: str = "NO_PROBLEM", on: str = DAY, **fields) -> dict:
    return valid("InspectionRecorded", {"inspection_id": inspection_id, "outcome": outcome,
                                        "inspectors": ["ZF001", "ZF002"], **fields}, on)
