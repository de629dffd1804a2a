"""Browser sessions (streams/sessions.py) and the gate's use of them: expiry, bounds, cross-site checks."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.access import ANONYMOUS, SUPERVISOR
from streams.gate import Gate
from streams.principals import AuthenticationError, Credential, Principals, new_token, token_sha256
from streams.sessions import (SESSION_COOKIE, SESSION_MAX_AGE_S, Sessions, cookie_is_secure, cross_site_problem)
from projections.access import Principal


class Clock:
    def __init__(self, now_s: float = 1_800_000_000.0):
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def test_a_session_names_its_principal_until_it_expires():
    clock = Clock()
    sessions = Sessions(now_s=clock, max_age_s=3600)
    session_id, max_age_s = sessions.open("dev-supervisor")
    assert max_age_s == 3600 and len(session_id) >= 43
    assert sessions.principal_name(session_id) == "dev-supervisor"
    clock.now_s += 3599
    assert sessions.principal_name(session_id) == "dev-supervisor"
    clock.now_s += 1
    assert sessions.principal_name(session_id) is None
    assert len(sessions) == 0  # an expired session is forgotten


def test_a_session_never_outlives_its_token():
    clock = Clock()
    sessions = Sessions(now_s=clock)
    session_id, max_age_s = sessions.open("dev-supervisor", token_expires_at_s=clock.now_s + 60)
    assert max_age_s == 60
    clock.now_s += 60
    assert sessions.principal_name(session_id) is None


def test_sessions_are_bounded_the_oldest_going_first():
    sessions = Sessions(now_s=Clock(), max_sessions=3)
    ids = [sessions.open(f"p{n}")[0] for n in range(5)]
    assert len(sessions) == 3
    assert [sessions.principal_name(i) for i in ids] == [None, None, "p2", "p3", "p4"]


@given(st.text(max_size=200))
def test_no_made_up_session_id_names_anyone(guess):
    sessions = Sessions(now_s=Clock())
    sessions.open("dev-admin")
    assert sessions.principal_name(guess) is None


def test_a_closed_session_is_gone_and_ids_are_not_kept_in_clear():
    sessions = Sessions(now_s=Clock())
    session_id, _ = sessions.open("dev-admin")
    assert session_id.encode() not in repr(sessions._table).encode()
    sessions.close(session_id)
    assert sessions.principal_name(session_id) is None


HOST = "ledger.example.gov.cn:6066"


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "get"])
def test_safe_methods_are_never_refused(method):
    assert cross_site_problem(method, None, HOST, None) is None


@pytest.mark.parametrize("origin, content_type, says", [
    (None, "application/json", "needs an Origin"),
    ("null", "application/json", "needs an Origin"),
    ("https://evil.example.com", "application/json", "not this site"),
    ("https://ledger.example.gov.cn", "application/json", "not this site"),  # another port: another origin
    ("https://ledger.example.gov.cn:6066.evil.com", "application/json", "not this site"),
    ("ftp://ledger.example.gov.cn:6066", "application/json", "not this site"),
    (f"http://{HOST}", "application/x-www-form-urlencoded", "must send"),  # what a form can send cross-site
    (f"http://{HOST}", "text/plain", "must send"),
    (f"http://{HOST}", "multipart/form-data; boundary=x", "must send"),
    (f"http://{HOST}", None, "no Content-Type"),
])
def test_a_state_changing_request_with_the_cookie_must_come_from_this_site(origin, content_type, says):
    assert says in cross_site_problem("POST", origin, HOST, content_type)


@pytest.mark.parametrize("origin, content_type", [
    (f"http://{HOST}", "application/json"), (f"https://{HOST.upper()}", "application/json; charset=utf-8"),
    (f"http://{HOST}", "application/x-ndjson"),
])
def test_a_same_site_json_post_passes(origin, content_type):
    assert cross_site_problem("POST", origin, HOST, content_type) is None


@given(st.text(max_size=80), st.text(max_size=40))
def test_no_origin_of_another_host_passes(origin, host):
    from urllib.parse import urlsplit

    try:
        netloc = urlsplit(origin).netloc.lower()
    except ValueError:
        netloc = None
    if netloc != host.strip().lower() or not host:
        assert cross_site_problem("POST", origin, host, "application/json") is not None


def test_the_cookie_is_secure_over_tls_or_behind_a_tls_proxy():
    assert cookie_is_secure("https", None) and cookie_is_secure("http", "https")
    assert cookie_is_secure("http", "HTTPS, http")
    assert not cookie_is_secure("http", None) and not cookie_is_secure("http", "http")


# --- the gate ---------------------------------------------------------------------------------------
class Request:
    def __init__(self, method="GET", headers=None, cookies=None):
        self.method, self.headers, self.cookies = method, headers or {}, cookies or {}


@pytest.fixture
def gate():
    token = new_token()
    expires_at = datetime.now(timezone.utc) + timedelta(days=1)
    principals = Principals([Credential(Principal("dev-supervisor", SUPERVISOR), token_sha256(token), expires_at)])
    sent = []

    async def send(key, value):
        sent.append((key, value))
    made = Gate(principals, send, lambda: datetime.now(timezone.utc), Sessions())
    made.token = token
    return made


def test_login_gives_a_session_for_a_valid_token_only(gate):
    principal, session_id, max_age_s = gate.login(gate.token)
    assert principal.name == "dev-supervisor" and 0 < max_age_s <= SESSION_MAX_AGE_S and session_id != gate.token
    for bad in ("", "x" * 43, gate.token[:-1] + ("A" if gate.token[-1] != "A" else "B")):
        with pytest.raises(AuthenticationError):
            gate.login(bad)
    assert len(gate.sessions) == 1


def test_the_cookie_reads_but_does_not_post_cross_site(gate):
    _, session_id, _ = gate.login(gate.token)
    cookies = {SESSION_COOKIE: session_id}
    principal, refusal = gate.check(Request(cookies=cookies), "dashboard")
    assert refusal is None and principal.name == "dev-supervisor"
    _, refusal = gate.check(Request("POST", {"Origin": "https://evil.example", "Host": HOST,
                                             "Content-Type": "application/json"}, cookies), "history")
    assert refusal[1] == 403 and refusal[0]["errors"][0]["rule"] == "cross_site"
    _, refusal = gate.check(Request("POST", {"Origin": f"http://{HOST}", "Host": HOST,
                                             "Content-Type": "application/json"}, cookies), "history")
    assert refusal[1] == 403 and refusal[0]["errors"][0]["rule"] == "forbidden"  # past the check: a supervisor
    # a bearer request carries no ambient credential: no Origin needed
    principal, refusal = gate.check(Request("POST", {"Authorization": f"Bearer {gate.token}"}), "dashboard")
    assert refusal is None


def test_an_unknown_session_is_401_and_no_cookie_is_the_public(gate):
    principal, refusal = gate.check(Request(cookies={SESSION_COOKIE: "forged"}), "read_file")
    assert principal is None and refusal[1] == 401 and "log in again" in refusal[0]["errors"][0]["message"]
    principal, refusal = gate.check(Request(), "read_file")
    assert principal.role == ANONYMOUS and refusal is None
