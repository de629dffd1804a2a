"""A read whose access record cannot be written is refused, every route alike (streams/gate.py): the worker's
parts served without a broker (tests/unit/served.py), credit.access-log an in-memory topic
(tests/driver.MemoryTopics) that stops acknowledging its sends, on its own (`unwritable`: the access log's
leader away, the other topics up) or with the rest of the broker (`away`). Every non-public read is logged
before it is served (docs/operations.md), so each such route answers one clear 503 (JSON, rule
`unavailable`, naming credit.access-log), never a bare 5xx, never the data, never a subject in the answer or
the worker's log. The same against a real broker stopped mid-run: tests/integration/test_access_log_away.py."""
from __future__ import annotations

import asyncio
import logging
import urllib.parse
from datetime import datetime, timezone

import orjson
import pytest

from projections import access
from projections.access import ACTIONS, ROUTES
from streams import (dashboard_routes, routes_audit, routes_exports, routes_files, routes_public, routes_releases,
                     routes_self, routes_stats, topics)
from streams.gate import AccessLogUnavailable, Gate
from streams.pii import MemoryKeyStore
from tests.unit import events as ev
from tests.unit.served import serve
from tests.unit.test_routes_exports import receipt
from tests.unit.test_routes_releases import wanted
from tests.unit.test_routes_stats import QUERY, person_penalty
from tests.unit.test_worker_routes import folded_store

PARTS = (routes_files, routes_self, routes_audit, routes_public, routes_stats, routes_releases, routes_exports,
         dashboard_routes)
PERSON_EVENT = person_penalty()  # a natural person's penalty: the file is the person's pseudonym's
PERSON_ID = PERSON_EVENT["subject"]["id"]
PERSON = ev.person()  # the person's name and ID number, sealed or pseudonymised at the edge: never in an answer
MEASURES_QUERY = {"authority": ev.AUTHORITY, "purpose": "招标资格审查", "matter": "2025-ZB-001"}
# streams/gate.py's refusal: what no other 503 of the worker says
GATE_MESSAGE = f"{topics.ACCESS_LOG} cannot be written"


class KnownKeys(MemoryKeyStore):
    """The in-memory key store with the question the erasure asks first (KafkaKeyStore.known)."""

    def known(self, subject_id: str) -> bool:
        return subject_id in self._keys


# Every route that logs a read, as (who, body, query) of one request the gate admits and logs: a supervisor's
# read of a natural person's file, a subject's of its own, an auditor's, an admin's.
LOGGED_READS = {
    "GET /subjects/{subject_id}": ("office", None, None),
    "GET /subjects/{subject_id}/report": ("office", None, None),
    "GET /subjects/{subject_id}/grade": ("office", None, None),
    "GET /subjects/{subject_id}/history": ("audit", None, None),
    "GET /subjects/{subject_id}/access-log": ("company", None, None),
    "GET /subjects/{subject_id}/measures": ("office", None, MEASURES_QUERY),
    "GET /self": ("company", None, None),
    "POST /subjects/{subject_id}/personal-info/erase": ("admin", {"reason": "本人申请删除（个人信息保护法第四十七条）"},
                                                        None),
    "POST /access-log": ("audit", {"action": "history", "subject_id": PERSON_ID,
                                   "command": f"credit-ledger history {PERSON_ID}"}, None),
    "POST /releases": ("admin", wanted(), None),
    "GET /exports": ("admin", None, {"destination": "province"}),
    "POST /exports": ("admin", receipt(1), None),
    "GET /timeliness": ("office", None, None),
    "GET /stats/disclosure": ("office", None, QUERY),
    "GET /state/digest": ("audit", None, None),
    "GET /dashboard": ("office", None, None),
    "GET /dashboard/snapshot": ("office", None, None),
    "GET /dashboard/stream": ("office", None, None),
}
# the routes that read their own topic before the access record is written: with the broker away that read
# fails first, and the route's own 503 names its topic
TOPIC_READ_FIRST = {"POST /releases": topics.RELEASES, "GET /exports": topics.EXPORTS, "POST /exports": topics.EXPORTS}
FILE_READS = {"read_file", "report", "self_service"}  # public to some, logged for the rest (view_file decides)


@pytest.fixture
def served():
    keys = KnownKeys()
    keys.sealing_key(PERSON_ID)  # the person's key, which a refused erasure must leave in place
    running = serve(PARTS, store=folded_store(ev.subject_registered(), ev.penalty_imposed("P-1"), PERSON_EVENT),
                    key_store=keys)
    yield running
    running.close()


def request(served, route: str) -> tuple[int, dict, bytes]:
    method, pattern = route.split(" ", 1)
    who, body, query = LOGGED_READS[route]
    subject_id = ev.COMPANY if who == "company" else PERSON_ID
    path = pattern.replace("{subject_id}", subject_id) + (f"?{urllib.parse.urlencode(query)}" if query else "")
    return served.send(method, path, who, body)


def test_every_route_that_logs_a_read_is_here():
    logged = {route for route, actions in ROUTES.items()
              if any(ACTIONS[action].non_public or action in FILE_READS for action in actions)}
    assert set(LOGGED_READS) == logged  # a new logged route: add its request above


@pytest.mark.parametrize("route", sorted(LOGGED_READS))
def test_a_read_whose_access_record_is_not_taken_is_a_clear_503(served, route, caplog):
    served.log.unwritable = {topics.ACCESS_LOG}  # the other topics are up: the gate alone fails
    with caplog.at_level(logging.DEBUG):
        status, headers, body = request(served, route)
    assert status == 503, body[:300]
    assert headers["Content-Type"].startswith("application/json")
    (error,) = orjson.loads(body)["errors"]
    assert (error["field"], error["rule"]) == ("$", "unavailable") and GATE_MESSAGE in error["message"]
    assert served.access_log() == []
    # the worker's own lines (aiohttp's request line names the path, as for every request, pseudonym and all)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    for text in (PERSON_ID, ev.COMPANY, PERSON["name"], PERSON["id_number"]):  # nobody's file, nobody's data
        assert text not in body.decode() and text not in logged
    assert f"{topics.ACCESS_LOG} did not take the access record" in logged  # the operator is told


@pytest.mark.parametrize("route", sorted(LOGGED_READS))
def test_with_the_broker_away_no_logged_read_is_served_and_none_is_a_bare_5xx(served, route):
    served.log.away = True
    status, headers, body = request(served, route)
    assert status == 503 and headers["Content-Type"].startswith("application/json"), body[:300]
    answer = orjson.loads(body)
    if route in TOPIC_READ_FIRST:
        assert answer["error"].startswith(f"{TOPIC_READ_FIRST[route]} cannot be read")
    else:  # the access record first: the gate's refusal
        (error,) = answer["errors"]
        assert error["rule"] == "unavailable" and GATE_MESSAGE in error["message"]
    assert served.access_log() == [] and PERSON_ID not in body.decode()


def test_a_refused_erasure_erases_nothing_and_a_refused_statistics_read_reads_nothing(served):
    served.log.unwritable = {topics.ACCESS_LOG}
    key_id, _ = served.worker.key_store.sealing_key(PERSON_ID)
    assert request(served, "POST /subjects/{subject_id}/personal-info/erase")[0] == 503
    assert served.worker.key_store.unsealing_key(PERSON_ID, key_id)  # the key is still there
    assert request(served, "GET /stats/disclosure")[0] == 503
    assert served.log.ranges_read == []  # credit.events was not read for a read that was not logged


def test_public_reads_are_served_with_the_broker_away_and_logged_reads_once_it_is_back(served):
    served.log.away = True
    status, _, body = served.send("GET", f"/subjects/{ev.COMPANY}")  # the public's read: not logged
    assert status == 200 and orjson.loads(body)["subject"]["id"] == ev.COMPANY
    assert request(served, "GET /subjects/{subject_id}/history")[0] == 503
    served.log.away = False
    status, _, body = request(served, "GET /subjects/{subject_id}/history")
    assert status == 200 and orjson.loads(body)["subject_id"] == PERSON_ID
    assert [(r["principal"], r["endpoint"]) for r in served.access_log()] == [("audit", "GET /subjects/{id}/history")]


def test_a_send_never_acknowledged_is_given_up_after_the_gates_timeout():
    async def never_acknowledged(key: bytes, value: bytes) -> None:
        await asyncio.Event().wait()  # a broker gone with Faust's 20-minute request timeout: it would wait so
    gate = Gate(None, never_acknowledged, lambda: datetime.now(timezone.utc), send_timeout_ms=50)
    decision = access.endpoint_decision(access.Principal("audit", access.AUDITOR), "history", ev.COMPANY)
    with pytest.raises(AccessLogUnavailable) as raised:
        asyncio.run(gate.log(decision, "GET /subjects/{id}/history"))
    assert raised.value.cause_name == "TimeoutError" and ev.COMPANY not in str(raised.value)


@pytest.mark.parametrize("timeout_ms", [0, -1, 120_001])
def test_the_gates_timeout_is_bounded(timeout_ms):
    with pytest.raises(ValueError, match="send_timeout_ms must be 1..120000"):
        Gate(None, None, lambda: datetime.now(timezone.utc), send_timeout_ms=timeout_ms)
