"""One event never halts the ledger, against a real broker and worker.

The events that once passed the edge and then made every fold raise (a working-day count past the
calendar's walk, dates at the end of the date type) are refused at `POST /events` naming the field,
its bound and the value; an event whose consequences raise all the same (a bug nobody has found
yet, injected here by the worker's test hook) is quarantined: on credit.rejected with the reason
internal_error, counted, the subject's state as before it, and the ledger folds on; `rebuild
--verify` agrees with the live worker."""
from __future__ import annotations

import json
import random
import urllib.request
import uuid
from datetime import datetime

import pytest

from ops.embedded_kafka import free_port
from projections.canonical import SHANGHAI
from projections.ids import make_uscc
from streams import ledger_reader, topics
from streams.codec import decode_rejection
from tests.helpers import Worker, cli, http_json, wait_for

FAULTY_EVENT_ID = str(uuid.uuid4())  # the worker's test hook raises on this event
AUTHORITY = {"authority_code": make_uscc("320100", 62, "1", "1"), "authority_name": "南京市市场监督管理局"}


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    running = Worker(kafka.bootstrap, tmp_path_factory.mktemp("totality"), free_port(),
                     env={"CREDIT_LEDGER_TEST_FAULT_EVENT_IDS": FAULTY_EVENT_ID}).start()
    yield running
    running.stop()


def _company() -> dict:
    return {"id": make_uscc("320102", random.randint(10_000, 900_000)), "kind": "LEGAL_PERSON",
            "name": "南京玄武全函数测试有限公司"}


def _event(company: dict, type_: str, payload: dict, **envelope) -> dict:
    today = datetime.now(SHANGHAI).date().isoformat()
    return {"type": type_, "subject": company, "source": AUTHORITY, "occurred_on": today, "payload": payload,
            **envelope}


def _post(worker: Worker, event: dict) -> tuple[int, dict]:
    return http_json(worker.url + "/events", json.dumps(event, ensure_ascii=False).encode(),
                     token=worker.tokens["admin"])


COMMITMENT = {"commitment_id": "CM-1", "commitment_kind": "NOTIFICATION_PROMISE", "content": "按期补齐材料"}
HALTING = [  # (event type, payload, the field the edge must name, the bound it must quote)
    ("CommitmentMade", {**COMMITMENT, "due_working_days": 4000}, "payload.due_working_days", "1..750"),
    ("CommitmentMade", {**COMMITMENT, "due_on": "9999-12-31"}, "payload.due_on", "1949-10-01..2099-12-31"),
    ("ListEntered", {"entry_id": "L-1", "list_kind": "ABNORMAL_OPERATION", "reason": "通过登记的住所无法联系",
                     "term_until": "9999-12-31", "measures": ["M1"]}, "payload.term_until", "1949-10-01..2099-12-31"),
]


@pytest.mark.parametrize("type_, payload, field, bound", HALTING, ids=[h[2] for h in HALTING])
def test_events_that_once_halted_the_fold_are_refused_naming_field_and_bound(worker, type_, payload, field, bound):
    company = _company()
    status, body = _post(worker, _event(company, type_, payload))
    assert status == 422, body
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [(field, "range")]
    assert bound in body["errors"][0]["message"]
    # the same subject's next good event applies and shows
    status, _ = _post(worker, _event(company, "SubjectRegistered", {"region_code": "320102",
                                                                    "registered_on": "2016-03-04"}))
    assert status == 202
    wait_for(lambda: (worker.file(company["id"]) or {}).get("events_total") == 1, 60, what="the good event folded")


def test_an_event_whose_consequences_raise_is_quarantined_and_the_ledger_folds_on(worker, kafka):
    company = _company()
    registered = _event(company, "SubjectRegistered", {"region_code": "320102", "registered_on": "2016-03-04"})
    assert _post(worker, registered)[0] == 202
    wait_for(lambda: worker.file(company["id"]), 60, what="the subject registered")
    before = worker.file(company["id"])
    faulty = _event(company, "CommitmentMade", {**COMMITMENT, "due_working_days": 10}, event_id=FAULTY_EVENT_ID)
    status, accepted = _post(worker, faulty)
    assert status == 202
    after = _event(company, "CommitmentMade", {**COMMITMENT, "commitment_id": "CM-2", "due_working_days": 10})
    assert _post(worker, after)[0] == 202
    folded = wait_for(lambda: (lambda f: f if f and f["events_total"] == 2 else None)(worker.file(company["id"])),
                      60, what="the event after the quarantined one folded")
    assert [c["commitment_id"] for c in folded["records"]["commitments"]] == ["CM-2"]  # nothing of CM-1
    assert folded["chain"]["length"] == before["chain"]["length"] + 1
    assert http_json(worker.url + "/readyz")[0] == 200

    def quarantined():
        for *_, value, _ in ledger_reader.read_topic(kafka.access(), topics.REJECTED):
            rejection = decode_rejection(value)
            if rejection.get("event_id") == FAULTY_EVENT_ID:
                return rejection
        return None
    rejection = wait_for(quarantined, 30, what="the quarantined event on credit.rejected")
    assert [r["rule"] for r in rejection["reasons"]] == ["internal_error"]
    assert rejection["reasons"][0]["message"].startswith("RuntimeError: a fault injected")
    assert (rejection["partition"], rejection["offset"]) == (accepted["partition"], accepted["offset"])
    with urllib.request.urlopen(worker.url + "/metrics", timeout=5) as response:
        assert "credit_events_quarantined_total 1.0" in response.read().decode()
    # a rebuild under the same hook quarantines the same event and reaches the live worker's state
    done = cli("rebuild", "--verify", "--kafka", kafka.bootstrap, "--web-url", worker.url,
               env={"CREDIT_LEDGER_TOKEN": worker.tokens["admin"], "CREDIT_LEDGER_TEST_FAULT_EVENT_IDS": FAULTY_EVENT_ID})
    assert done.returncode == 0 and "equal" in done.stdout, done.stdout + done.stderr
