"""The web surface hardened, against a real worker on the real broker: the session cookie a login gives,
the cross-site checks of state-changing requests made with it, tokens that expire, principals revoked by
editing the principals file while the worker runs; quotas per principal (429 with Retry-After) and the
fold's per-authority bound on a subject. The worker runs a policy with small quotas."""
from __future__ import annotations

import http.client
import json
from pathlib import Path
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

import projections
from ops.embedded_kafka import free_port
from projections.access import SUPERVISOR, Principal
from projections.canonical import SHANGHAI
from projections.ids import make_uscc
from projections.personal_data import rejection_digest
from streams import ledger_reader, topics
from streams.codec import decode_rejection
from streams.principals import PRINCIPALS_FILE, Credential, Principals, new_token, token_sha256, write_principals
from tests.helpers import Worker, deployment_pseudonym_key, wait_for

A = {"authority_code": make_uscc("530100", 61, "1", "1"), "authority_name": "昆明市市场监督管理局"}
B = {"authority_code": make_uscc("530100", 62, "1", "1"), "authority_name": "昆明市生态环境局"}


PACKAGED_POLICY = Path(projections.__file__).parent / "policies" / "2024.1.yaml"
PER_MINUTE, PER_SUBJECT_DAY, AUTHORITY_SHARE = 30, 3, 5  # the small quotas of this module's worker


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("credentials")
    policy_dir = data_dir / "policies"
    policy_dir.mkdir()
    text = PACKAGED_POLICY.read_text(encoding="utf-8").replace('version: "2024.1"', 'version: "2021.q"')
    text = text.replace("effective_from: 2020-01-01", "effective_from: 2021-01-01")
    for old, new in (("events_per_minute: {publisher: 6000,", f"events_per_minute: {{publisher: {PER_MINUTE},"),
                     ("events_per_subject_per_day: {publisher: 2000,",
                      f"events_per_subject_per_day: {{publisher: {PER_SUBJECT_DAY},"),
                     ("events_per_authority_per_subject: 10000", f"events_per_authority_per_subject: {AUTHORITY_SHARE}")):
        assert old in text
        text = text.replace(old, new)
    (policy_dir / "2021.q.yaml").write_text(text, encoding="utf-8")
    running = Worker(kafka.bootstrap, data_dir, free_port(), env={"CREDIT_LEDGER_POLICY_DIR": str(policy_dir)},
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


def post_batch(worker, lines: list[bytes], token: str) -> tuple[int, http.client.HTTPMessage, list[dict]]:
    status, headers, body = call(worker, "POST", "/events:batch", b"\n".join(lines) + b"\n",
                                 {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})
    return status, headers, [json.loads(line) for line in body.splitlines() if line.strip()]


def test_a_publisher_over_its_minute_quota_gets_429_another_publisher_gets_through(worker, kafka):
    lines = [json.dumps(registered(100 + n), ensure_ascii=False).encode() for n in range(PER_MINUTE + 10)]
    status, headers, results = post_batch(worker, lines, worker.tokens["publishers"][A["authority_code"]])
    statuses = [r["status"] for r in results]
    assert status == 200 and statuses.count(202) >= PER_MINUTE and 429 in statuses  # the burst, then the rate
    assert statuses == sorted(statuses)  # in order: the first lines passed, the rest were refused
    refused = [r for r in results if r["status"] == 429]
    assert {r["errors"][0]["rule"] for r in refused} == {"events_per_minute"}
    assert int(headers["Retry-After"]) == max(r["retry_after_s"] for r in refused) >= 1
    # every line over the quota: the whole answer is 429 (asked again should a token have come back since the
    # last refusal, as it does every 60 / PER_MINUTE s: a slow answer on a loaded machine)
    status, headers, results = wait_for(lambda: (lambda answer: answer if answer[0] == 429 else None)(
        post_batch(worker, lines[:5], worker.tokens["publishers"][A["authority_code"]])), 30, what="a whole 429")
    assert status == 429 and int(headers["Retry-After"]) >= 1 and {r["status"] for r in results} == {429}
    # another publisher, and the same one's own bearer on one event: B is not held back by A
    event = json.dumps(registered(200, B), ensure_ascii=False).encode()
    status, _, body = call(worker, "POST", "/events", event,
                           {"Authorization": f"Bearer {worker.tokens['publishers'][B['authority_code']]}"})
    assert status == 202, body
    # counted by rule, and never written to credit.rejected
    status, _, metrics = call(worker, "GET", "/metrics", headers={"Authorization": f"Bearer {worker.tokens['admin']}"})
    counted = [line for line in metrics.decode().splitlines()
               if line.startswith('credit_quota_refusals_total{rule="events_per_minute"}')]
    assert counted and float(counted[0].split()[-1]) >= 10 + 5
    digests = {rejection_digest(deployment_pseudonym_key(), line) for line in lines}
    on_topic = {decode_rejection(v)["raw_digest"] for *_, v, _ in
                ledger_reader.read_topic(kafka.access(), topics.REJECTED)}
    assert not digests & on_topic


def test_a_publisher_over_its_subject_quota_waits_for_the_next_day(worker):
    token = worker.tokens["publishers"][B["authority_code"]]
    subject = registered(300, B)
    answers = []
    for n in range(PER_SUBJECT_DAY + 1):
        event = {**subject, "type": "PermitGranted", "payload": permit(f"Q-{n}")} if n else subject
        answers.append(call(worker, "POST", "/events", json.dumps(event, ensure_ascii=False).encode(),
                            {"Authorization": f"Bearer {token}"}))
    assert [status for status, _, _ in answers] == [202] * PER_SUBJECT_DAY + [429]
    status, headers, body = answers[-1]
    refusal = json.loads(body)
    assert refusal["errors"][0]["rule"] == "events_per_subject_per_day"
    assert int(headers["Retry-After"]) == refusal["retry_after_s"] and 1 <= refusal["retry_after_s"] <= 86_400
    # another subject, the same day: fine
    status, _, _ = call(worker, "POST", "/events", json.dumps(registered(301, B), ensure_ascii=False).encode(),
                        {"Authorization": f"Bearer {token}"})
    assert status == 202


def permit(record_id: str) -> dict:
    return {"record_id": record_id, "decision_no": f"昆市监许〔2026〕{record_id}号", "permit_kind": "普通",
            "content": "食品经营许可", "valid_from": datetime.now(SHANGHAI).date().isoformat()}


def test_one_authority_cannot_fill_a_subject_the_fold_bounds_its_share(worker):
    subject = registered(400)
    events = [subject] + [{**subject, "type": "PermitGranted", "payload": permit(f"S-{n}")}
                          for n in range(AUTHORITY_SHARE)]  # one more than A's share, through the admin's quota
    status, _, results = post_batch(worker, [json.dumps(e, ensure_ascii=False).encode() for e in events],
                                    worker.tokens["admin"])
    assert status == 200 and {r["status"] for r in results} == {202}  # the edge takes them: the fold decides
    subject_id = subject["subject"]["id"]
    file = wait_for(lambda: (lambda s, f: f if s == 200 and f["rejected_total"] == 1 else None)(
        *call_json(worker, f"/subjects/{subject_id}")), 60, what="the sixth event of A rejected by the fold")
    assert file["events_total"] == AUTHORITY_SHARE
    (rejected,) = file["rejected"]
    assert rejected["reasons"][0]["rule"] == "authority_share"
    assert A["authority_code"] in rejected["reasons"][0]["message"]
    # another authority still reaches the subject
    other = {**subject, "source": B, "type": "PermitGranted", "payload": permit("S-B")}
    status, _, results = post_batch(worker, [json.dumps(other, ensure_ascii=False).encode()], worker.tokens["admin"])
    assert results[0]["status"] == 202
    wait_for(lambda: call_json(worker, f"/subjects/{subject_id}")[1]["events_total"] == AUTHORITY_SHARE + 1, 60,
             what="B's event applied")


def call_json(worker, path: str) -> tuple[int, dict]:
    status, _, body = call(worker, "GET", path, headers={"Authorization": f"Bearer {worker.tokens['admin']}"})
    return status, json.loads(body)
