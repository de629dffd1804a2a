"""Access control from the outside: a real worker, HTTP calls with each role (DESIGN "Access").

What each role sees of one credit file, who may publish as whom, the endpoints for supervisors and
auditors, every non-public read on credit.access-log, and a natural person's personal information:
shown to a supervisor, never in plaintext on any topic, unreadable everywhere once its key is erased."""
from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta

import pytest

from ops.embedded_kafka import free_port
from projections.canonical import SHANGHAI
from projections.ids import make_resident_id, make_uscc
from projections.policy import DEFAULT_POLICY
from projections.pseudonym import pseudonym
from streams import ledger_reader, topics
from streams.codec import decode_access_record
from streams.sdk import Publisher
from tests.helpers import Worker, cli, http_json, test_key_store, wait_for

KEY = b"access-test-pseudonym-key-0123456789"
A = {"authority_code": make_uscc("330100", 41, "1", "1"), "authority_name": "杭州市市场监督管理局"}
B = {"authority_code": make_uscc("330100", 42, "1", "1"), "authority_name": "杭州市生态环境局"}
CREDIT_OFFICE = {"authority_code": sorted(DEFAULT_POLICY.credit_office)[0], "authority_name": "信用办"}


@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory):
    """A worker with development principals (publishers for A and B), one company with a record of
    each classification and a grant to A, and one natural person."""
    data_dir = tmp_path_factory.mktemp("access")
    worker = Worker(kafka.bootstrap, data_dir, free_port(), env={"CREDIT_LEDGER_PSEUDONYM_KEY": KEY.decode()},
                    authority_codes=[A["authority_code"], B["authority_code"]]).start()
    today = datetime.now(SHANGHAI).date()
    rng = random.Random()
    company = {"id": make_uscc("330106", rng.randint(10_000, 900_000)), "kind": "LEGAL_PERSON",
               "name": "杭州西湖访问控制测试有限公司"}
    person_name = "司马" + "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(2))
    id_number = make_resident_id("330106", date(1980, 1, 1) + timedelta(days=rng.randint(0, 9000)),
                                 rng.randint(0, 999))

    def event(type_, payload, on=today, subject=company, source=A, **envelope):
        return {"type": type_, "subject": subject, "source": source, "occurred_on": on.isoformat(),
                "payload": payload, **envelope}

    def penalty(record_id, **envelope):
        return event("PenaltyImposed", {"record_id": record_id, "decision_no": f"杭市监罚〔2026〕{record_id}号",
                                        "violation_type": "虚假宣传", "facts": "夸大功效", "basis": "《广告法》第二十八条",
                                        "penalty_kinds": ["FINE"], "fine_fen": 1_000_000, "severity": "GENERAL",
                                        **(EXEMPT if envelope.get("classification", "PUBLIC") != "PUBLIC" else {})},
                     on=today - timedelta(days=2), **envelope)
    registered = {"region_code": "330106", "registered_on": "2010-05-01"}
    # a permit or a penalty not PUBLIC names its legal exemption (issue 29 R8)
    EXEMPT = {"exemption": "TRADE_SECRET", "exemption_basis": "《政府信息公开条例》第十五条：涉及商业秘密"}
    story = [
        event("SubjectRegistered", registered),
        penalty("P-PUB"),
        penalty("P-INT", classification="INTERNAL"),
        event("PermitGranted", {"record_id": "PM-AUTH", "decision_no": "杭市监许〔2026〕7号", "permit_kind": "普通",
                                "content": "食品经营许可", "valid_from": (today - timedelta(days=2)).isoformat(),
                                **EXEMPT}, classification="AUTHORIZED"),
        # the credit office grants A, on the subject's written authorisation (A may not grant itself)
        event("QueryAuthorized", {"grant_id": "G-1", "grantee": A["authority_code"], "scope": ["permits"],
                                  "valid_until": (today + timedelta(days=30)).isoformat(),
                                  "authorisation_ref": "杭信授〔2026〕1号"}, source=CREDIT_OFFICE),
        event("SubjectRegistered", registered,
              subject={"kind": "NATURAL_PERSON", "name": person_name, "id_number": id_number}),
    ]
    key_store = test_key_store(kafka.bootstrap)  # the deployment's, as another process holds it
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:  # its edge seals the person
        report = publisher.publish_many(story)
    assert report.ok, report.invalid or report.failed
    person_id = pseudonym(id_number, KEY)
    wait_for(lambda: (worker.file(company["id"]) or {}).get("events_total") == 5 and worker.file(person_id),
             60, what="the story folded")
    yield {"worker": worker, "company": company, "person_id": person_id, "person_name": person_name,
           "id_number": id_number, "key_store": key_store, "kafka": kafka}
    worker.stop()


def ids(file: dict, collection: str) -> list[str]:
    return sorted(r["record_id"] for r in file["records"][collection])


def test_each_role_sees_what_it_may_of_a_credit_file(world):
    worker, company = world["worker"], world["company"]["id"]
    publishers = worker.tokens["publishers"]

    status, public = http_json(f"{worker.url}/subjects/{company}")  # no credentials: the public
    assert status == 200 and ids(public, "penalties") == ["P-PUB"] and ids(public, "permits") == []
    assert public["grade"] is None and public["chain"] is None and public["pending"]["deadlines"] == []

    status, granted = http_json(f"{worker.url}/subjects/{company}", token=publishers[A["authority_code"]])
    assert status == 200 and ids(granted, "permits") == ["PM-AUTH"]  # the subject's grant to A
    assert ids(granted, "penalties") == ["P-PUB"]  # a grant opens AUTHORIZED records, never INTERNAL
    _, other = http_json(f"{worker.url}/subjects/{company}", token=publishers[B["authority_code"]])
    assert ids(other, "permits") == []

    status, supervised = worker.get(f"/subjects/{company}", role="supervisor")
    assert status == 200 and ids(supervised, "penalties") == ["P-INT", "P-PUB"]
    assert ids(supervised, "permits") == ["PM-AUTH"] and supervised["grade"]["letter"]
    status, audited = worker.get(f"/subjects/{company}", role="auditor")
    assert status == 200 and audited["chain"]["length"] == 5

    status, body = http_json(f"{worker.url}/subjects/{company}", token="x" * 43)
    assert status == 401 and body["errors"][0]["rule"] == "authentication"


def test_endpoints_for_supervisors_and_auditors_refuse_the_others(world):
    worker, company = world["worker"], world["company"]["id"]
    for path, allowed in ((f"/subjects/{company}/grade", "supervisor"), ("/timeliness", "supervisor"),
                          (f"/subjects/{company}/history", "auditor"), ("/state/digest", "auditor")):
        status, body = http_json(worker.url + path)
        assert status == 403 and "role anonymous may not" in body["errors"][0]["message"], path
        assert worker.get(path, role=allowed)[0] == 200, path
    status, body = worker.get(f"/subjects/{company}/history", role="supervisor")
    assert status == 403 and "allowed: auditor, admin" in body["errors"][0]["message"]
    assert http_json(f"{worker.url}/lists/RED_LIST")[0] == 200  # public lists stay public


def test_a_publisher_publishes_only_as_its_own_authority(world):
    worker, company = world["worker"], world["company"]
    own = worker.tokens["publishers"][A["authority_code"]]
    event = {"type": "PenaltyImposed", "subject": company, "source": A,
             "occurred_on": datetime.now(SHANGHAI).date().isoformat(),
             "payload": {"record_id": "P-HTTP", "decision_no": "杭市监罚〔2026〕99号", "violation_type": "无照经营",
                         "facts": "无照经营", "basis": "《无证无照经营查处办法》", "penalty_kinds": ["WARNING"],
                         "severity": "GENERAL"}}
    status, body = http_json(worker.url + "/events", json.dumps(event, ensure_ascii=False).encode(), token=own)
    assert status == 202 and body["subject_id"] == company["id"]
    # folded before the next test reads the file: the module's tests share it
    wait_for(lambda: "P-HTTP" in ids(worker.file(company["id"]) or {"records": {"penalties": []}}, "penalties"),
             30, what="P-HTTP folded")
    foreign = dict(event, source=B)
    status, body = http_json(worker.url + "/events", json.dumps(foreign, ensure_ascii=False).encode(), token=own)
    assert status == 403 and body["errors"][0]["field"] == "source.authority_code"
    assert body["errors"][0]["rule"] == "publisher_authority"
    for token in (None, worker.tokens["supervisor"]):  # the public and supervisors read, they do not write
        status, body = http_json(worker.url + "/events", json.dumps(event, ensure_ascii=False).encode(), token=token)
        assert status == 403 and body["errors"][0]["rule"] == "forbidden"
        assert "may not publish" in body["errors"][0]["message"]


def test_non_public_reads_are_on_the_access_log(world):
    worker, company, kafka = world["worker"], world["company"]["id"], world["kafka"]
    worker.get(f"/subjects/{company}", role="supervisor")
    http_json(f"{worker.url}/subjects/{company}")  # public: not logged
    http_json(f"{worker.url}/subjects/{company}", token=worker.tokens["publishers"][A["authority_code"]])

    def reads():
        records = [decode_access_record(v) for *_, v, _ in ledger_reader.read_topic(kafka.access(), topics.ACCESS_LOG)]
        return [r for r in records if r["subject_id"] == company]
    logged = wait_for(lambda: (lambda rs: rs if {"dev-supervisor", f"dev-publisher-{A['authority_code']}"}
                               <= {r["principal"] for r in rs} else None)(reads()), 30, what="the access records")
    assert {r["principal"] for r in logged} <= {"dev-supervisor", "dev-auditor", "dev-admin",
                                                f"dev-publisher-{A['authority_code']}"}  # never the public
    by_grant = next(r for r in logged if r["principal"] == f"dev-publisher-{A['authority_code']}")
    assert by_grant["record_ids"] == ["PM-AUTH"] and "G-1" in by_grant["reason"]
    done = cli("access-log", "--subject", company, "--json", env={"CREDIT_LEDGER_KAFKA": kafka.bootstrap})
    assert done.returncode == 0, done.stderr
    assert {"dev-supervisor", f"dev-publisher-{A['authority_code']}"} <= {r["principal"] for r in json.loads(done.stdout)}


def test_personal_information_is_sealed_shown_to_supervisors_and_shredded(world):
    worker, person, kafka = world["worker"], world["person_id"], world["kafka"]
    status, seen = worker.get(f"/subjects/{person}", role="supervisor")
    assert status == 200 and seen["subject"]["personal_info"]["status"] == "AVAILABLE"
    assert seen["subject"]["personal_info"]["name"] == world["person_name"]
    _, public = http_json(f"{worker.url}/subjects/{person}")
    assert "personal_info" not in public["subject"] and world["person_name"] not in json.dumps(public, ensure_ascii=False)
    everything = b"".join((k or b"") + (v or b"") for topic in topics.ALL
                          for *_, k, v, _ in ledger_reader.read_topic(kafka.access(), topic))
    for secret in (world["person_name"], world["id_number"]):
        assert secret.encode() not in everything and secret.encode("gb18030") not in everything

    # crypto-shredding, in another process of the deployment: the log stays, the key goes, for the worker too
    assert world["key_store"].erase(person, reason="本人申请删除（个人信息保护法第四十七条）")
    status, after = worker.get(f"/subjects/{person}", role="supervisor")
    assert status == 200 and after["subject"]["personal_info"]["status"] == "ERASED"
    assert after["records"] == seen["records"] and after["subject"]["id"] == person  # the skeleton still folds
    status, audited = worker.get(f"/subjects/{person}", role="auditor")
    assert audited["chain"]["length"] == 1 and world["person_name"] not in json.dumps(audited, ensure_ascii=False)


def post_huge(url: str, token: str, size: int, chunked: bool) -> tuple[int, dict, int]:
    """POST a body of `size` bytes (with its Content-Length, or chunked), sending until the worker answers:
    (status, JSON body, bytes sent by then)."""
    import http.client
    import select
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(url)
    sock = socket.create_connection((where.hostname, where.port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    sock.sendall(f"POST /events HTTP/1.1\r\nHost: {where.netloc}\r\nAuthorization: Bearer {token}\r\n"
                 f"Content-Type: application/json\r\n{framing}\r\n\r\n".encode())
    piece, sent = b"[" * 256 * 1024, 0
    try:
        while sent < size and not select.select([sock], [], [], 0)[0]:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
    except OSError:  # the worker answered and closed: the answer is still there to read
        pass
    response = http.client.HTTPResponse(sock)
    response.begin()
    try:
        return response.status, json.loads(response.read()), sent
    finally:
        sock.close()


def test_bad_input_gets_a_reasoned_4xx_and_the_ledger_goes_on(world):
    """Issue 26, part 3, over HTTP: JSON 1,000 deep, surrogates, a 5,000-digit integer, NaN and Infinity, bodies
    beyond EVENT_BYTES_MAX up to 50 MB, and dates beyond the calendar each get a 400/413/422 naming the field
    and the rule (before: 500s and OverflowErrors); then a good event for the same subject applies."""
    from projections.catalogue import EVENT_BYTES_MAX

    worker = world["worker"]
    admin = worker.tokens["admin"]
    company = {"id": make_uscc("330106", random.randint(10_000, 900_000)), "kind": "LEGAL_PERSON",
               "name": "杭州西湖坏输入测试有限公司"}
    good = json.dumps({"type": "SubjectRegistered", "subject": company, "source": A, "occurred_on": "2015-06-01",
                       "payload": {"region_code": "330106", "registered_on": "2015-06-01"}}, ensure_ascii=False)

    def name(raw: bytes) -> bytes:
        return good.encode().replace(company["name"].encode(), raw)

    def region(raw: str) -> bytes:
        return good.replace('"region_code": "330106"', f'"region_code": {raw}').encode()
    cases = [
        (good.replace('"payload": {', '"payload": {"x": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + ", ").encode(),
         400, "$", "nesting"),
        (b"[" * 1000 + b"]" * 1000, 400, "$", "nesting"),
        (name(b"\\ud800"), 400, "subject.name", "encoding"),
        (name(b"\xff\xfe"), 400, "subject.name", "encoding"),
        (region("9" * 5000), 400, "payload.region_code", "number"),
        (region("NaN"), 400, "payload.region_code", "number"),
        (region("Infinity"), 400, "payload.region_code", "number"),
        (region("-Infinity"), 400, "payload.region_code", "number"),
        (name(b"x" * (EVENT_BYTES_MAX + 1)), 422, "$", "size_limit"),  # beyond an event, within a body
        (name(b"x" * (2 * EVENT_BYTES_MAX + 1)), 413, "$", "size_limit"),
    ]
    for body, status, field, rule in cases:
        answered, answer = http_json(worker.url + "/events", body, token=admin)
        assert (answered, [(e["field"], e["rule"]) for e in answer["errors"]]) == (status, [(field, rule)]), body[:80]
    for chunked in (False, True):  # 50 MB: refused after a few MB at most, never read whole
        status, answer, sent = post_huge(worker.url, admin, 50_000_000, chunked)
        assert status == 413 and answer["errors"][0]["rule"] == "size_limit" and sent < 10_000_000
        assert str(2 * EVENT_BYTES_MAX) in answer["errors"][0]["message"]

    known = world["company"]["id"]
    for query, field, rule in [("grade?at=0001-01-01", "at", "range"), ("grade?at=9999-12-31", "at", "range"),
                               ("grade?at=9999-12-31T23%3A59%3A59%2B14%3A00", "at", "range"),
                               ("grade?at=10000-01-01", "at", "instant"), ("grade?at=-1", "at", "instant"),
                               ("history?as_of=0001-01-01T00%3A00%3A00%2B14%3A00", "as_of", "range"),
                               ("history?as_of=9999-12-31T23%3A59%3A59-12%3A00", "as_of", "range"),
                               ("history?as_of=" + "9" * 5000, "as_of", "instant"),
                               ("history?valid_at=9999-12-31", "valid_at", "range"),
                               ("history?valid_at=2025-06-01T00%3A00%3A00%2B08%3A00", "valid_at", "date")]:
        status, answer = worker.get(f"/subjects/{known}/{query}")
        (error,) = answer["errors"]
        assert (status, error["field"], error["rule"]) == (400, field, rule), query
        assert "1949-10-01..2099-12-31" in error["message"] and len(error["message"]) < 200
    assert worker.get(f"/subjects/{known}/grade?at=2099-12-31")[0] == 200

    status, body = http_json(worker.url + "/events", good.encode(), token=admin)
    assert status == 202 and body["subject_id"] == company["id"]
    file = wait_for(lambda: worker.file(company["id"]), 30, what="the good event folded")
    assert file["subject"]["name"] == company["name"] and http_json(worker.url + "/readyz")[0] == 200


def test_the_public_view_shows_nothing_of_non_public_events_not_even_their_time_or_existence(world):
    worker, company = world["worker"], world["company"]["id"]
    _, public = http_json(f"{worker.url}/subjects/{company}")
    _, supervised = worker.get(f"/subjects/{company}", role="supervisor")
    _, audited = worker.get(f"/subjects/{company}/history", role="auditor")
    newest_public = [h for h in audited["history"] if h["event"]["classification"] == "PUBLIC"][-1]
    assert public["as_of"] == {"offset": newest_public["offset"], "recorded_at": newest_public["event"]["recorded_at"]}
    assert supervised["as_of"]["offset"] >= newest_public["offset"]

    secret = {"id": make_uscc("330106", random.randint(10_000, 900_000)), "kind": "LEGAL_PERSON",
              "name": "杭州西湖仅内部记录测试有限公司"}
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
        publisher.publish({"type": "SubjectRegistered", "subject": secret, "source": A, "classification": "INTERNAL",
                           "occurred_on": datetime.now(SHANGHAI).date().isoformat(),
                           "payload": {"region_code": "330106", "registered_on": "2012-03-04"}})
    wait_for(lambda: worker.get(f"/subjects/{secret['id']}", role="supervisor")[0] == 200, 30, what="folded")
    for path in (f"/subjects/{secret['id']}", f"/subjects/{secret['id']}/report"):
        status, body = http_json(worker.url + path)  # as for a subject the ledger never heard of
        assert status == 404 and body == {"error": f"no subject {secret['id']} in the ledger"}, path
        assert http_json(worker.url + path, token=worker.tokens["publishers"][A["authority_code"]])[0] == 404

    # one public event makes the subject known; a later INTERNAL one moves only the supervisors' as_of
    def penalty(record_id: str, classification: str) -> dict:
        exempt = {} if classification == "PUBLIC" else {"exemption": "TRADE_SECRET",
                                                        "exemption_basis": "《政府信息公开条例》第十五条：涉及商业秘密"}
        return {"type": "PenaltyImposed", "subject": secret, "source": A, "classification": classification,
                "occurred_on": datetime.now(SHANGHAI).date().isoformat(),
                "payload": {"record_id": record_id, "decision_no": f"杭市监罚〔2026〕{record_id}号", "violation_type": "虚假宣传",
                            "facts": "夸大功效", "basis": "《广告法》第二十八条", "penalty_kinds": ["FINE"],
                            "fine_fen": 500_000, "severity": "GENERAL", **exempt}}
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
        shown = publisher.publish(penalty("S-PUB", "PUBLIC"))
        hidden = publisher.publish(penalty("S-INT", "INTERNAL"))
    wait_for(lambda: worker.get(f"/subjects/{secret['id']}", role="supervisor")[1]["as_of"]["offset"] == hidden.offset,
             30, what="both folded")
    status, public = http_json(f"{worker.url}/subjects/{secret['id']}")
    assert status == 200 and public["as_of"]["offset"] == shown.offset < hidden.offset
    assert [r["record_id"] for r in public["records"]["penalties"]] == ["S-PUB"]


def test_only_the_ledger_s_routes_are_served_each_with_the_security_headers(world):
    worker, company = world["worker"], world["company"]["id"]
    for path in ("/", "/router/", "/router/topics", "/table/", "/graph/", "/stats/", "/performance/", "/nothing"):
        assert http_json(worker.url + path)[0] == 404, path  # Faust's own web apps are off
    for path, accept in ((f"/subjects/{company}", "text/html"), (f"/subjects/{company}", "application/json"),
                         ("/dashboard", "text/html"), ("/lists/RED_LIST", "application/json")):
        request = urllib.request.Request(worker.url + path, headers={"Accept": accept})
        try:
            response = urllib.request.urlopen(request, timeout=5)
        except urllib.error.HTTPError as refused:  # the dashboard without a token: its refusal page
            response = refused
        headers = response.headers
        policy = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";")[0], path
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer", path
        if accept == "text/html":
            assert "<script>" not in response.read().decode(), path  # no inline script to allow
