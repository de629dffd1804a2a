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
