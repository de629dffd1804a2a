"""A subject's access log (streams/routes_self.py) read from credit.access-log without a broker: the routes
of the files and of the subject served as the worker serves them (tests/unit/served.py), the gate writing
every non-public read to an in-memory log (tests/driver.MemoryTopics) and the route reading it back with the
same reader interface the worker's TopicReader has. tests/unit/test_audit_and_self_routes.py holds the
refusals made before any read; tests/integration/test_self_service.py the same against a real broker."""
from __future__ import annotations

import logging

import orjson
import pytest

from projections.access import AUDITOR, Principal, access_record, endpoint_decision
from streams import routes_files, routes_self, topics
from streams.codec import encode_access_record
from streams.routes_self import own_access_records
from tests.driver import MemoryTopics
from tests.unit import events as ev
from tests.unit.served import serve
from tests.unit.test_worker_routes import folded_store

OTHER = "91410105MA44NXXX0B"  # not in the ledger: a read of it is nobody's here


@pytest.fixture
def served():
    running = serve([routes_files, routes_self], store=folded_store(ev.subject_registered(), ev.penalty_imposed("P-1")))
    yield running
    running.close()


def reads_of(served, who: str, subject_id: str = ev.COMPANY) -> tuple[int, dict]:
    status, _, body = served.send("GET", f"/subjects/{subject_id}/access-log", who)
    return status, orjson.loads(body)


def test_a_subject_sees_who_read_its_file_newest_first_and_nobody_elses_reads(served):
    assert served.send("GET", f"/subjects/{ev.COMPANY}", "office")[0] == 200  # a supervisor's read: logged
    assert served.send("GET", f"/subjects/{ev.COMPANY}/history", "audit")[0] == 200  # an auditor's
    served.log.append(topics.ACCESS_LOG, b"office", encode_access_record(access_record(  # another file's read
        endpoint_decision(Principal("office", AUDITOR), "history", OTHER), "GET /subjects/{id}/history",
        "2025-06-30T10:00:00+08:00")))
    status, answer = reads_of(served, "company")
    assert status == 200 and answer["complete"] is True and answer["subject_id"] == ev.COMPANY
    # its own reading of the log is a read of its file too, recorded before the log is read: the newest
    assert [(r["principal"], r["endpoint"]) for r in answer["reads"]] == [
        ("company", "GET /subjects/{id}/access-log"), ("audit", "GET /subjects/{id}/history"),
        ("office", "GET /subjects/{id}")]
    status, answer = reads_of(served, "audit")  # an auditor may read any file's
    assert status == 200 and [r["principal"] for r in answer["reads"]] == ["audit", "company", "audit", "office"]
    status, _, page = served.send("GET", "/self", "company", accept="text/html")
    assert status == 200 and "<td>office</td>" in page.decode() and "<td>audit</td>" in page.decode()


def test_the_scan_reads_a_bounded_tail_of_each_partition_and_says_when_it_is_partial():
    log = MemoryTopics()
    for minute in range(10):
        log.append(topics.ACCESS_LOG, b"office", encode_access_record(access_record(
            endpoint_decision(Principal("office", AUDITOR), "history", ev.COMPANY), "GET /subjects/{id}/history",
            f"2025-06-30T10:{minute:02d}:00+08:00")), partition=minute % 2)
    newest, complete = own_access_records(log, ev.COMPANY, limit=3, scan_max=2)  # the last 2 of each partition
    assert [r["at"][14:16] for r in newest] == ["09", "08", "07"] and complete is False
    assert {(topic, end - start) for topic, _, start, end in log.ranges_read} == {(topics.ACCESS_LOG, 2)}
    newest, complete = own_access_records(log, ev.COMPANY, limit=100, scan_max=5)
    assert len(newest) == 10 and complete is True


def test_a_log_that_cannot_be_read_is_a_503_and_the_page_still_shows_the_file(served, caplog):
    served.log.refused = {topics.ACCESS_LOG}  # written by the gate, not readable by this principal
    status, answer = reads_of(served, "company")
    assert status == 503 and answer["errors"][0]["rule"] == "unavailable"
    with caplog.at_level(logging.WARNING):
        status, _, page = served.send("GET", "/self", "company", accept="text/html")
    assert status == 200 and "访问日志暂时无法读取" in page.decode() and ev.COMPANY in page.decode()
    assert "cannot be read" in caplog.text
