"""The worker's routes driven without a broker, in the spirit of Kafka Streams' TopologyTestDriver: a Faust
app that is never started, a Worker over a MemoryStore folded by the real LedgerProcessor, the parts'
routes installed on it as the worker does, and aiohttp's test client sending the requests."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import faust
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from projections.access import AUDITOR, SUPERVISOR, Principal
from projections.policy import DEFAULT_POLICIES
from streams import routes_files, routes_public, web_guard
from streams.codec import decode_access_record, encode_event
from streams.gate import Gate
from streams.ledger import LedgerProcessor
from streams.principals import Credential, Principals, token_sha256
from streams.store import MemoryStore
from streams.worker import Worker
from tests.unit import events as ev

SUPERVISOR_TOKEN, AUDITOR_TOKEN = "supervisor-token-" + "s" * 30, "auditor-token-" + "a" * 30


def folded_store(*events: dict) -> MemoryStore:
    store = MemoryStore()
    processor = LedgerProcessor(store, policy=DEFAULT_POLICIES)
    records = [(0, offset, event["subject"]["id"].encode(), encode_event(event)) for offset, event in enumerate(events)]
    processor.commit(processor.process(records))
    return store


@pytest.fixture
def driver():
    """(send(method, path, token) -> (status, headers, body), the access records written, the Worker)."""
    store = folded_store(ev.subject_registered(), ev.penalty_imposed("P-PUBLIC"), ev.list_entered("L-1"))
    expires_at = datetime.now(timezone.utc) + timedelta(days=1)
    principals = Principals([Credential(Principal("office", SUPERVISOR), token_sha256(SUPERVISOR_TOKEN), expires_at),
                             Credential(Principal("audit", AUDITOR), token_sha256(AUDITOR_TOKEN), expires_at)])
    access_log: list[dict] = []

    async def send_access_record(key: bytes, value: bytes) -> None:
        access_log.append(decode_access_record(value))
    worker = Worker(settings=None, kafka=None, store=store, clock=SimpleNamespace(now=lambda: ev.NOW, speed=1.0),
                    policies=DEFAULT_POLICIES, processor=None, key_store=None, pseudonym_key=ev.KEY,
                    gate=Gate(principals, send_access_record, lambda: datetime.now(timezone.utc)),
                    ledger_consumer=None, outputs=None, events_producer=None)
    app = faust.App("worker-routes-test", broker="kafka://127.0.0.1:9", web_port=1)  # never started
    routes_files.install(app, worker)
    routes_public.install(app, worker)
    web_guard.install(app.web.web_app, web_guard.our_routes(app.web.web_app))

    loop = asyncio.new_event_loop()  # one loop for the server and every request of a test
    client = TestClient(TestServer(app.web.web_app, loop=loop), loop=loop)
    loop.run_until_complete(client.start_server())

    def send(method: str, path: str, token: str | None = None, accept: str | None = None):
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **({"Accept": accept} if accept else {})}

        async def one_request():
            response = await client.request(method, path, headers=headers)
            return response.status, response.headers, await response.read()
        return loop.run_until_complete(one_request())
    yield send, access_log, worker
    loop.run_until_complete(client.close())
    loop.close()


def test_the_public_sees_a_file_unlogged_and_a_supervisor_is_logged_before_the_answer(driver):
    send, access_log, _ = driver
    status, headers, body = send("GET", f"/subjects/{ev.COMPANY}")
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    assert orjson.loads(body)["subject"]["id"] == ev.COMPANY
    assert headers["X-Frame-Options"] == "DENY"  # web_guard's headers on every answer
    assert access_log == []  # a public read is not logged
    status, _, body = send("GET", f"/subjects/{ev.COMPANY}", SUPERVISOR_TOKEN)
    assert status == 200 and "grade" in orjson.loads(body)
    assert [(record["principal"], record["endpoint"]) for record in access_log] == [("office", "GET /subjects/{id}")]


def test_unknown_subjects_bad_tokens_and_forbidden_reads_are_answered_with_their_reason(driver):
    send, access_log, _ = driver
    assert send("GET", "/subjects/914403001922038216")[0] == 404
    status, headers, body = send("GET", "/subjects/914403001922038216", accept="text/html")
    assert status == 404 and headers["Content-Type"] == "text/html; charset=utf-8" and "未找到信用主体" in body.decode()
    status, _, body = send("GET", f"/subjects/{ev.COMPANY}/history", "not-a-token")
    assert status == 401 and orjson.loads(body)["errors"][0]["rule"] == "authentication"
    status, _, body = send("GET", f"/subjects/{ev.COMPANY}/history", SUPERVISOR_TOKEN)
    assert status == 403 and orjson.loads(body)["errors"][0]["rule"] == "forbidden"
    status, _, body = send("GET", f"/subjects/{ev.COMPANY}/history", AUDITOR_TOKEN)
    assert status == 200 and [entry["event"]["type"] for entry in orjson.loads(body)["history"]] == [
        "SubjectRegistered", "PenaltyImposed", "ListEntered"]
    assert [record["endpoint"] for record in access_log] == ["GET /subjects/{id}/history"]


def test_the_grade_now_and_as_known_then(driver):
    send, _, _ = driver
    status, _, body = send("GET", f"/subjects/{ev.COMPANY}/grade", SUPERVISOR_TOKEN)
    assert status == 200 and orjson.loads(body)["letter"] in "ABCD"
    status, _, body = send("GET", f"/subjects/{ev.COMPANY}/grade?at=2019-01-01", SUPERVISOR_TOKEN)
    assert status == 200 and orjson.loads(body)["letter"] is None  # the ledger knew nothing of it then
    status, _, body = send("GET", f"/subjects/{ev.COMPANY}/grade?at=yesterday", SUPERVISOR_TOKEN)
    assert status == 400 and orjson.loads(body)["errors"][0]["field"] == "at"


def test_a_person_s_id_number_in_a_path_is_refused_and_never_logged(driver):
    send, access_log, _ = driver
    id_number = ev.person()["id_number"]
    for path, token in ((f"/subjects/{id_number}/grade", SUPERVISOR_TOKEN),
                        (f"/subjects/{id_number}/history", AUDITOR_TOKEN)):
        status, _, body = send("GET", path, token)
        assert status == 400 and orjson.loads(body)["errors"] == [{
            "field": "subject_id", "rule": "subject_id",
            "message": "a USCC or a natural person's pseudonym (np-…), never an ID number"}], path
        assert id_number not in body.decode()
    assert send("GET", f"/subjects/{id_number}/grade")[0] == 403  # who may ask is checked first
    assert access_log == []


def test_lists_readiness_and_routes_nobody_declared(driver):
    send, _, worker = driver
    status, _, body = send("GET", "/lists/ABNORMAL_OPERATION")
    assert status == 200 and [entry["subject_id"] for entry in orjson.loads(body)["entries"]] == [ev.COMPANY]
    assert send("GET", "/lists/NO_SUCH_LIST")[0] == 404
    assert send("GET", "/lists/ABNORMAL_OPERATION?limit=0")[0] == 400
    assert send("GET", "/readyz")[0] == 503
    worker.readiness.ready = True
    status, _, body = send("GET", "/readyz")
    assert status == 200 and orjson.loads(body) == {"ready": True, "applied_offsets": {"0": 2}}
    assert send("GET", "/")[0] == 404 and send("GET", "/events")[0] == 404  # not installed here: not served
