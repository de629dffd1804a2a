"""The dashboard's routes driven without a broker: a Faust app never started, the dashboard's parts
installed on it as the worker does, aiohttp's test client sending the requests. The login (a token for
a session cookie), the page and its data for a supervisor only, the stream's cap and its events."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import faust
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from projections.access import SUBJECT, SUPERVISOR, Principal
from projections.policy import DEFAULT_POLICIES
from streams import dashboard_routes, web_guard
from streams.dashboard_login import LOGIN_BODY_BYTES_MAX, posted_token, same_site_problem
from streams.gate import Gate
from streams.principals import Credential, Principals, token_sha256
from streams.sessions import SESSION_COOKIE
from streams.worker import Worker
from tests.unit import events as ev
from tests.unit.test_worker_routes import folded_store

STREAM_WAIT_S = 30  # a bound on a hang, not a timing assert: the first event is sent at once
SUPERVISOR_TOKEN, SUBJECT_TOKEN = "supervisor-token-" + "s" * 30, "subject-token-" + "b" * 30


@pytest.fixture
def dashboard_client():
    """(loop, client, worker) with the dashboard's routes and the web guard installed."""
    expires_at = datetime.now(timezone.utc) + timedelta(days=1)
    principals = Principals([
        Credential(Principal("office", SUPERVISOR), token_sha256(SUPERVISOR_TOKEN), expires_at),
        Credential(Principal("company", SUBJECT, subject_id=ev.COMPANY), token_sha256(SUBJECT_TOKEN), expires_at)])
    access_log: list[tuple[bytes, bytes]] = []

    async def send_access_record(key: bytes, value: bytes) -> None:
        access_log.append((key, value))
    worker = Worker(settings=None, kafka=None, store=folded_store(ev.subject_registered(), ev.list_entered("L-1")),
                    clock=SimpleNamespace(now=lambda: ev.NOW, speed=1.0), policies=DEFAULT_POLICIES,
                    processor=None, key_store=None, pseudonym_key=ev.KEY,
                    gate=Gate(principals, send_access_record, lambda: datetime.now(timezone.utc)),
                    ledger_consumer=None, outputs=None, events_producer=None)
    app = faust.App("dashboard-routes-test", broker="kafka://127.0.0.1:9", web_port=1)  # never started
    dashboard_routes.install(app, worker)
    web_guard.install(app.web.web_app, web_guard.our_routes(app.web.web_app))
    loop = asyncio.new_event_loop()
    client = TestClient(TestServer(app.web.web_app, loop=loop), loop=loop)
    loop.run_until_complete(client.start_server())
    yield loop, client, worker
    loop.run_until_complete(client.close())
    loop.close()


def login(loop, client, token: str, **headers):
    async def post():
        response = await client.post("/dashboard/login", data={"token": token}, allow_redirects=False,
                                     headers=headers)
        return response.status, response.headers, response.cookies
    return loop.run_until_complete(post())


def get(loop, client, path: str, **headers):
    async def one():
        response = await client.get(path, allow_redirects=False, headers=headers)
        return response.status, response.headers, await response.read()
    return loop.run_until_complete(one())


def test_a_browser_without_a_session_is_sent_to_the_login_form(dashboard_client):
    loop, client, _ = dashboard_client
    status, headers, _ = get(loop, client, "/dashboard")
    assert status == 303 and headers["Location"] == "/dashboard/login"
    status, headers, _ = get(loop, client, f"/dashboard?token={SUPERVISOR_TOKEN}")  # never taken from a URL
    assert status == 303 and headers["Location"] == "/dashboard/login"
    status, _, body = get(loop, client, "/dashboard/snapshot")
    assert status == 403 and orjson.loads(body)["errors"][0]["rule"] == "forbidden"  # the public may not
    status, headers, body = get(loop, client, "/dashboard/login")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b'name="token"' in body


def test_a_supervisor_logs_in_and_reads_the_snapshot_with_the_cookie_alone(dashboard_client):
    loop, client, _ = dashboard_client
    status, headers, cookies = login(loop, client, SUPERVISOR_TOKEN)
    assert status == 303 and headers["Location"] == "/dashboard"
    cookie = cookies[SESSION_COOKIE]
    assert cookie["httponly"] and SUPERVISOR_TOKEN not in cookie.value
    status, headers, body = get(loop, client, "/dashboard")
    assert status == 200 and b"<html" in body.lower()
    status, _, body = get(loop, client, "/dashboard/snapshot")
    snapshot = orjson.loads(body)
    assert status == 200 and snapshot["ledger"]["subjects"] == 1
    assert [item["subject_id"] for item in snapshot["blacklist"]] == []  # the feed saw no batch here


def test_a_subject_goes_to_its_own_page_and_may_not_see_the_dashboard(dashboard_client):
    loop, client, _ = dashboard_client
    status, headers, _ = login(loop, client, SUBJECT_TOKEN)
    assert status == 303 and headers["Location"] == "/self"
    status, headers, body = get(loop, client, "/dashboard")
    assert status == 403 and headers["Content-Type"].startswith("text/html") and "需要授权" in body.decode()


def test_a_login_from_another_site_or_with_a_wrong_token_is_refused(dashboard_client):
    loop, client, _ = dashboard_client
    status, _, cookies = login(loop, client, SUPERVISOR_TOKEN, **{"Sec-Fetch-Site": "cross-site"})
    assert status == 401 and SESSION_COOKIE not in cookies
    status, _, cookies = login(loop, client, "not-a-token")
    assert status == 401 and SESSION_COOKIE not in cookies


def test_the_stream_sends_snapshots_and_refuses_beyond_its_cap(dashboard_client):
    loop, client, worker = dashboard_client
    login(loop, client, SUPERVISOR_TOKEN)

    async def first_event(response) -> bytes:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        received = b""
        while b"data: " not in received or not received.endswith(b"\n\n"):
            received += await response.content.readany()
        return received

    async def open_streams_and_one_more():
        streams = [await client.get("/dashboard/stream") for _ in range(dashboard_routes.STREAMS_MAX)]
        firsts = [await first_event(response) for response in streams]
        one_more = await client.get("/dashboard/stream")
        refused = (one_more.status, one_more.headers.get("Retry-After"), worker.dashboard.streams)
        for response in streams:
            response.close()
        return firsts, refused
    firsts, refused = loop.run_until_complete(asyncio.wait_for(open_streams_and_one_more(), STREAM_WAIT_S))
    assert all(first.startswith(b"retry: %d\n\n" % dashboard_routes.STREAM_RETRY_MS) for first in firsts)
    assert orjson.loads(firsts[0].split(b"data: ", 1)[1].strip())["ledger"]["subjects"] == 1
    assert refused == (503, "10", dashboard_routes.STREAMS_MAX)


class Body:
    def __init__(self, data: bytes):
        self.data = data

    async def read(self, count: int) -> bytes:
        return self.data[:count]


def posted(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> str | None:
    request = SimpleNamespace(content_length=len(body), content=Body(body), headers={"Content-Type": content_type})
    return asyncio.run(posted_token(request))


def test_the_token_is_read_from_a_form_or_json_and_nothing_else():
    assert posted(b"token=%20abc%20") == "abc"
    assert posted(b'{"token": "abc"}', "application/json") == "abc"
    assert posted(b'["abc"]', "application/json") is None
    assert posted(b"{not json", "application/json") is None
    assert posted(b"token=" + b"a" * LOGIN_BODY_BYTES_MAX) is None  # over the limit: not read
    assert posted(b"a=1&b=2&c=3&d=4&e=5&token=abc") is None  # more fields than a login form has


@pytest.mark.parametrize("headers, refused", [
    ({}, False),  # curl, a script
    ({"Sec-Fetch-Site": "same-origin"}, False),
    ({"Sec-Fetch-Site": "none"}, False),  # typed into the address bar
    ({"Sec-Fetch-Site": "cross-site"}, True),
    ({"Sec-Fetch-Site": "same-site"}, True),
    ({"Origin": "null"}, False),
    ({"Origin": "http://ledger.example:6066", "Host": "ledger.example:6066"}, False),
    ({"Origin": "http://evil.example", "Host": "ledger.example:6066"}, True),
])
def test_a_login_posted_from_another_site_is_told_apart(headers, refused):
    assert (same_site_problem(SimpleNamespace(headers=headers)) is not None) is refused
