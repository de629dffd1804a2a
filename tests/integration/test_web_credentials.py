"""Browser credentials against a real worker on the real broker: the session cookie a login gives, the
cross-site checks of state-changing requests made with it, tokens that expire, and principals revoked by
editing the principals file while the worker runs."""
from __future__ import annotations

import http.client
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

from ops.embedded_kafka import free_port
from projections.access import SUPERVISOR, Principal
from projections.canonical import SHANGHAI
from projections.ids import make_uscc
from streams.principals import PRINCIPALS_FILE, Credential, Principals, new_token, token_sha256, write_principals
from tests.helpers import Worker, wait_for

A = {"authority_code": make_uscc("530100", 61, "1", "1"), "authority_name": "昆明市市场监督管理局"}
B = {"authority_code": make_uscc("530100", 62, "1", "1"), "authority_name": "昆明市生态环境局"}


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    running = Worker(kafka.bootstrap, tmp_path_factory.mktemp("credentials"), free_port(),
                     authority_codes=[A["authority_code"], B["authority_code"]]).start()
    yield running
    running.stop()


def call(worker, method: str, path: str, body: bytes | None = None, headers: dict | None = None
         ) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request, redirects not followed: (status, headers, body)."""
    url = urlsplit(worker.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def login(worker, token: str, **headers) -> tuple[int, http.client.HTTPMessage, bytes]:
    return call(worker, "POST", "/dashboard/login", json.dumps({"token": token}).encode(),
                {"Content-Type": "application/json", **headers})


def session_cookie(headers: http.client.HTTPMessage) -> str:
    (cookie,) = [c for c in headers.get_all("Set-Cookie") or [] if c.startswith("credit_ledger_session=")]
    return cookie.split(";")[0]


def registered(number: int, source: dict = A) -> dict:
    return {"type": "SubjectRegistered", "source": source,
            "subject": {"id": make_uscc("530102", 600_000 + number), "kind": "LEGAL_PERSON",
                        "name": f"昆明五华会话测试{number}号有限公司"},
            "occurred_on": datetime.now(SHANGHAI).date().isoformat(),
            "payload": {"region_code": "530102", "registered_on": "2012-03-01"}}


def test_a_valid_token_gets_a_session_cookie_an_invalid_one_none(worker):
    token = worker.tokens["supervisor"]
    status, headers, body = login(worker, token)
    assert status == 200 and json.loads(body)["principal"] == "dev-supervisor"
    (set_cookie,) = headers.get_all("Set-Cookie")
    flags = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= flags and "secure" not in flags  # plain HTTP here
    assert "SameSite=Strict" in set_cookie and token not in set_cookie
    cookie = session_cookie(headers)
    status, _, body = call(worker, "GET", "/dashboard/snapshot", headers={"Cookie": cookie})
    assert status == 200 and "grades" in json.loads(body)
    assert call(worker, "GET", "/dashboard", headers={"Cookie": cookie})[0] == 200

    # behind a proxy that ends TLS, the cookie is Secure
    _, headers, _ = login(worker, token, **{"X-Forwarded-Proto": "https"})
    assert "secure" in {part.strip().lower() for part in headers.get("Set-Cookie").split(";")}

    # the login form (a browser): 303 to the dashboard with the cookie
    status, headers, _ = call(worker, "POST", "/dashboard/login", f"token={token}".encode(),
                              {"Content-Type": "application/x-www-form-urlencoded", "Origin": worker.url})
    assert status == 303 and headers["Location"] == "/dashboard" and session_cookie(headers)

    # an invalid token, a token in the URL, a forged cookie, a login posted by another site: no session
    for bad in ("x" * 43, token[:-2], ""):
        status, headers, _ = login(worker, bad)
        assert status == 401 and not headers.get_all("Set-Cookie")
    for other_site in ({"Origin": "https://evil.example.com"}, {"Sec-Fetch-Site": "cross-site", "Origin": "null"}):
        status, headers, _ = login(worker, token, **other_site)
        assert status == 401 and not headers.get_all("Set-Cookie")
    status, headers, _ = call(worker, "GET", f"/dashboard?token={token}")
    assert status == 303 and headers["Location"] == "/dashboard/login" and not headers.get_all("Set-Cookie")
    status, headers, _ = call(worker, "GET", "/dashboard", headers={"Cookie": "credit_ledger_session=forged"})
    assert status == 303 and headers["Location"] == "/dashboard/login"
    assert call(worker, "GET", "/dashboard/snapshot", headers={"Cookie": f"credit_ledger_token={token}"})[0] == 403
    # the login page itself asks for the token in a form, and nothing sets a cookie from a GET
    status, headers, body = call(worker, "GET", "/dashboard/login")
    assert status == 200 and b'name="token"' in body and not headers.get_all("Set-Cookie")


def test_a_cross_site_post_with_the_cookie_is_refused_a_bearer_post_passes(worker):
    cookie = session_cookie(login(worker, worker.tokens["admin"])[1])
    event = json.dumps(registered(1), ensure_ascii=False).encode()
    host = urlsplit(worker.url).netloc
    for headers in ({"Origin": "https://evil.example.com", "Content-Type": "application/json"},
                    {"Content-Type": "application/json"},  # no Origin at all
                    {"Origin": worker.url, "Content-Type": "text/plain"},  # what a cross-site form may send
                    {"Origin": worker.url, "Content-Type": "application/x-www-form-urlencoded"}):
        for path, body in (("/events", event), ("/events:batch", event),
                           ("/access-log", b'{"action": "verify", "subject_id": null, "command": "credit-ledger verify"}')):
            status, _, answer = call(worker, "POST", path, body, {"Cookie": cookie, "Host": host, **headers})
            assert status == 403, (path, headers, answer)
            assert json.loads(answer)["errors"][0]["rule"] == "cross_site"
    # the dashboard's own page may: same origin, JSON
    status, _, answer = call(worker, "POST", "/events", event,
                             {"Cookie": cookie, "Origin": worker.url, "Content-Type": "application/json"})
    assert status == 202, answer
    # a bearer token is no ambient credential: no Origin needed
    status, _, answer = call(worker, "POST", "/events", json.dumps(registered(2), ensure_ascii=False).encode(),
                             {"Authorization": f"Bearer {worker.tokens['admin']}"})
    assert status == 202, answer


def write_extra_principals(worker, *extra: Credential) -> None:
    """The worker's principals file: the development ones, and `extra` (replacing any of the same name)."""
    path = worker.data_dir / PRINCIPALS_FILE
    kept = [c for c in Principals.load(path).credentials if c.principal.name not in {e.principal.name for e in extra}]
    write_principals(path, kept + list(extra))


def test_tokens_expire_and_a_principal_removed_from_the_file_is_refused_without_a_restart(worker):
    token, later = new_token(), datetime.now(timezone.utc) + timedelta(days=1)
    officer = Credential(Principal("kunming-credit-office", SUPERVISOR), token_sha256(token), later)
    bearer = {"Authorization": f"Bearer {token}"}
    pid = worker.process.pid
    write_extra_principals(worker, officer)
    wait_for(lambda: call(worker, "GET", "/timeliness", headers=bearer)[0] == 200, 30,
             what="the new principal taken up from the file")
    cookie = session_cookie(login(worker, token)[1])
    assert call(worker, "GET", "/dashboard/snapshot", headers={"Cookie": cookie})[0] == 200

    # its expiry moved into the past: refused, with the reason
    write_extra_principals(worker, Credential(officer.principal, officer.token_sha256,
                                              datetime.now(timezone.utc) - timedelta(seconds=1)))
    status, _, body = wait_for(lambda: (lambda answer: answer if answer[0] == 401 else None)(
        call(worker, "GET", "/timeliness", headers=bearer)), 30, what="the expired token refused")
    assert "expired" in json.loads(body)["errors"][0]["message"]
    assert call(worker, "GET", "/dashboard/snapshot", headers={"Cookie": cookie})[0] == 401  # its session too
    assert login(worker, token)[0] == 401

    # renewed, then removed from the file: its bearer token and its browser session are refused
    write_extra_principals(worker, officer)
    wait_for(lambda: call(worker, "GET", "/timeliness", headers=bearer)[0] == 200, 30, what="the token renewed")
    cookie = session_cookie(login(worker, token)[1])
    path = worker.data_dir / PRINCIPALS_FILE
    write_principals(path, [c for c in Principals.load(path).credentials if c.principal != officer.principal])
    wait_for(lambda: call(worker, "GET", "/timeliness", headers=bearer)[0] == 401, 30, what="the removed principal")
    status, _, body = call(worker, "GET", "/dashboard/snapshot", headers={"Cookie": cookie})
    assert status == 401 and "no longer a principal" in json.loads(body)["errors"][0]["message"]
    assert worker.process.pid == pid and worker.alive()  # no restart
    assert call(worker, "GET", "/timeliness", headers={"Authorization": f"Bearer {worker.tokens['supervisor']}"}
                )[0] == 200  # the others unaffected

    # no token of anyone reached the worker's log
    log = worker.log_path.read_text()
    assert not [t for t in (token, worker.tokens["supervisor"], worker.tokens["admin"]) if t in log]
    assert "read" in log and PRINCIPALS_FILE in log  # it said it re-read the file
