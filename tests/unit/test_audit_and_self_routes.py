"""The auditors' routes (streams/routes_audit.py) and a subject's own (streams/routes_self.py) driven
without a broker, as tests/unit/test_worker_routes.py drives the files': what they answer before any
topic is read. Reading credit.access-log itself is tested against the real broker
(tests/integration/test_self_service.py)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import faust
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from projections.access import ADMIN, AUDITOR, SUBJECT, SUPERVISOR, Principal
from projections.ids import make_uscc
from projections.policy import DEFAULT_POLICIES
from projections.pseudonym import PSEUDONYM_HEX_CHARS, PSEUDONYM_PREFIX
from streams import routes_audit, routes_self, web_guard
from streams.codec import decode_access_record
from streams.gate import Gate
from streams.outputs import DeliveryError
from streams.principals import Credential, Principals, token_sha256
from streams.routes_self import ACCESS_ROWS_ON_PAGE, self_section
from streams.worker import Worker
from tests.unit import events as ev
from tests.unit.test_worker_routes import folded_store

NOT_YET_FILED = make_uscc("410105", 77)  # a subject with a token and no record in the ledger yet
PERSON = PSEUDONYM_PREFIX + "0" * PSEUDONYM_HEX_CHARS  # a natural person's subject id
TOKENS = {"audit": "auditor-token-" + "a" * 30, "admin": "admin-token-" + "d" * 30,
          "office": "supervisor-token-" + "s" * 30, "company": "subject-token-" + "b" * 30,
          "newcomer": "subject-token-" + "n" * 30}


@pytest.fixture
def send(request):
    """send(method, path, who=None, body=None, accept=None) -> (status, headers, body); .access_log: records.
    Indirectly parametrized, a dict of the worker's key_store and events_producer (default: None each)."""
    parts = {"key_store": None, "events_producer": None, **getattr(request, "param", {})}
    expires_at = datetime.now(timezone.utc) + timedelta(days=1)
    principals = Principals([Credential(principal, token_sha256(TOKENS[principal.name]), expires_at) for principal in (
        Principal("audit", AUDITOR), Principal("admin", ADMIN), Principal("office", SUPERVISOR),
        Principal("company", SUBJECT, subject_id=ev.COMPANY), Principal("newcomer", SUBJECT, subject_id=NOT_YET_FILED))])
    access_log: list[dict] = []

    async def send_access_record(key: bytes, value: bytes) -> None:
        access_log.append(decode_access_record(value))
    worker = Worker(settings=None, kafka=None, store=folded_store(ev.subject_registered(), ev.penalty_imposed("P-1")),
                    clock=SimpleNamespace(now=lambda: ev.NOW, speed=1.0), policies=DEFAULT_POLICIES, processor=None,
                    pseudonym_key=ev.KEY, ledger_consumer=None, outputs=None, **parts,
                    gate=Gate(principals, send_access_record, lambda: datetime.now(timezone.utc)))
    app = faust.App("audit-self-routes-test", broker="kafka://127.0.0.1:9", web_port=1)  # never started
    routes_audit.install(app, worker)
    routes_self.install(app, worker)
    web_guard.install(app.web.web_app, web_guard.our_routes(app.web.web_app))
    loop = asyncio.new_event_loop()
    client = TestClient(TestServer(app.web.web_app, loop=loop), loop=loop)
    loop.run_until_complete(client.start_server())

    def one(method: str, path: str, who: str | None = None, body: dict | None = None, accept: str | None = None):
        headers = {**({"Authorization": f"Bearer {TOKENS[who]}"} if who else {}), **({"Accept": accept} if accept else {})}

        async def request():
            response = await client.request(method, path, headers=headers, allow_redirects=False,
                                            data=None if body is None else orjson.dumps(body))
            return response.status, response.headers, await response.read()
        return loop.run_until_complete(request())
    one.access_log = access_log
    one.store = worker.store
    yield one
    loop.run_until_complete(client.close())
    loop.close()


def test_the_state_digest_is_the_auditors_and_its_reading_is_logged(send):
    status, _, body = send("GET", "/state/digest", "audit")
    assert status == 200 and orjson.loads(body) == orjson.loads(
        orjson.dumps(send.store.state_digest(), option=orjson.OPT_NON_STR_KEYS))
    assert [(r["principal"], r["endpoint"]) for r in send.access_log] == [("audit", "GET /state/digest")]
    assert send("GET", "/state/digest", "office")[0] == 403
    assert len(send.access_log) == 1  # a refusal reads nothing


def test_a_commands_read_is_recorded_before_it_reads_and_a_bad_announcement_is_refused(send):
    read = {"action": "history", "subject_id": ev.COMPANY, "command": "credit-ledger history " + ev.COMPANY}
    status, _, body = send("POST", "/access-log", "audit", read)
    assert status == 201 and orjson.loads(body) == {"recorded": True, "principal": "audit"}
    assert [(r["principal"], r["endpoint"], r["subject_id"]) for r in send.access_log] == [
        ("audit", read["command"], ev.COMPANY)]
    status, _, body = send("POST", "/access-log", "audit", {**read, "action": "erase"})
    assert status == 400 and orjson.loads(body)["errors"][0]["field"] == "action"
    assert send("POST", "/access-log", "office", read)[0] == 403
    assert len(send.access_log) == 1


def test_an_erasure_is_the_admins_of_a_natural_person_and_needs_a_key_store(send):
    path = f"/subjects/{PERSON}/personal-info/erase"
    assert send("POST", path, "audit", {"reason": "本人申请"})[0] == 403
    status, _, body = send("POST", f"/subjects/{ev.COMPANY}/personal-info/erase", "admin", {"reason": "本人申请"})
    assert status == 400 and orjson.loads(body)["errors"][0]["rule"] == "pseudonym"  # an organisation has none
    status, _, body = send("POST", path, "admin", {})
    assert status == 400 and orjson.loads(body)["errors"][0]["field"] == "reason"
    status, _, body = send("POST", path, "admin", {"reason": "本人申请"})
    assert status == 503 and orjson.loads(body)["errors"][0]["rule"] == "unavailable"  # sealing is off here


class ErasingKeyStore:
    """A key store that knows one person and erases them (streams.key_store.KafkaKeyStore's calls)."""

    def __init__(self, subject_id: str):
        self.subject_id, self.erased = subject_id, False

    def known(self, subject_id: str) -> bool:
        return subject_id == self.subject_id

    def erase(self, subject_id: str, reason: str, requested_by: str) -> bool:
        newly, self.erased = not self.erased, True
        return newly

    def erasure(self, subject_id: str) -> dict:
        return {"erased_at": "2025-06-30T10:00:00+08:00", "reason": "本人申请", "requested_by": "admin", "keys_erased": 1}


class TimingOutProducer:
    """credit.events' producer with the broker away: every record's delivery fails, as librdkafka's timeout."""

    def produce(self, topic: str, key: bytes, value: bytes) -> asyncio.Future:
        delivery = asyncio.get_running_loop().create_future()
        delivery.set_exception(DeliveryError("_MSG_TIMED_OUT: Local: Message timed out"))
        return delivery


@pytest.mark.parametrize("send", [{"key_store": ErasingKeyStore(PERSON), "events_producer": TimingOutProducer()}],
                         indirect=True)
def test_an_erasure_whose_event_the_broker_does_not_take_is_a_503_to_send_again(send):
    status, _, body = send("POST", f"/subjects/{PERSON}/personal-info/erase", "admin", {"reason": "本人申请"})
    assert status == 503
    (error,) = orjson.loads(body)["errors"]
    assert error["rule"] == "unavailable" and "send the request again" in error["message"]
    assert [r["endpoint"] for r in send.access_log] == ["POST /subjects/{id}/personal-info/erase"]


def test_a_subject_reaches_only_its_own_page_and_access_log(send):
    status, headers, _ = send("GET", "/self", accept="text/html")  # a browser with no session
    assert status == 303 and headers["Location"] == "/dashboard/login"
    assert send("GET", "/self")[0] in (401, 403)  # a script is answered, not redirected
    status, headers, body = send("GET", "/self", "newcomer")
    assert status == 404 and headers["Content-Type"].startswith("text/html") and NOT_YET_FILED in body.decode()
    status, _, body = send("GET", f"/subjects/{ev.COMPANY}/access-log", "newcomer")  # another's file
    assert status == 404 and send.access_log == []
    assert send("GET", "/self", "office")[0] == 403  # a supervisor has no page of its own


def test_the_pages_access_section_shows_the_newest_reads_escaped_and_says_when_it_is_partial():
    reads = [{"at": f"2025-06-30T10:{n // 60:02d}:{n % 60:02d}+08:00", "principal": f"<b>{n}</b>", "role": "querier",
              "endpoint": "GET /subjects/{id}", "record_count": n, "reason": "授权查询"}
             for n in range(ACCESS_ROWS_ON_PAGE + 10)]
    whole = self_section(ev.COMPANY, {"reads": reads, "complete": True})
    assert whole.count("<tr><td>") == ACCESS_ROWS_ON_PAGE and "<b>" not in whole and "&lt;b&gt;0&lt;/b&gt;" in whole
    assert "授权查询机构" in whole and "仅检索" not in whole
    partial = self_section(ev.COMPANY, {"reads": [], "complete": False})
    assert "暂无非公开查询记录" in partial and "仅检索" in partial


def test_the_page_tells_a_person_to_file_as_itself_under_the_name_benren_and_an_organisation_as_its_code():
    person = "np-" + "0123456789abcdef" * 2
    for_person = self_section(person, {"reads": [], "complete": True})
    assert f"本人代码 <code>{person}</code>，<code>source.authority_name</code> 为「本人」" in for_person
    assert "authority_name" not in self_section(ev.COMPANY, {"reads": [], "complete": True})
