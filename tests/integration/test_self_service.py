"""A subject's self-service against a real worker and broker (projections/access.py, role subject): it reads
its own file whole, its grade, its access log and its page, files its own objection and grant, and can
neither read nor act on any other file: 404 at the routes, 403 at the edge, and the fold's rejection on
credit.rejected for what reaches the log in another's name. The same for a natural person, bound to its
pseudonym: it files as itself (source its pseudonym, named 本人), and a filing in its name on any other
file is refused (self_source) with no trace of an ID number on credit.rejected."""
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
from projections.pseudonym import pseudonym
from streams import ledger_reader, topics
from streams.codec import decode_rejection
from streams.sdk import Publisher
from tests.helpers import Worker, deployment_pseudonym_key, http_json, wait_for

AUTHORITY = {"authority_code": make_uscc("320500", 41, "1", "1"), "authority_name": "苏州市市场监督管理局"}
EXEMPT = {"exemption": "TRADE_SECRET", "exemption_basis": "《政府信息公开条例》第十五条：涉及商业秘密"}


@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory):
    """Two companies and two natural persons with a PUBLIC and an INTERNAL penalty each; a subject principal
    for the first company and for the first person (bound to its pseudonym, as after the real-name check)."""
    rng = random.Random()
    mine, theirs = (make_uscc("320508", rng.randint(10_000, 900_000)) for _ in range(2))
    numbers = [make_resident_id("320508", date(rng.randint(1950, 2000), rng.randint(1, 12), rng.randint(1, 28)),
                                rng.randint(0, 999)) for _ in range(2)]
    me, them = (pseudonym(number, deployment_pseudonym_key()) for number in numbers)  # the worker's key
    worker = Worker(kafka.bootstrap, tmp_path_factory.mktemp("self"), free_port(),
                    authority_codes=[AUTHORITY["authority_code"]], subject_ids=[mine, me]).start()
    today = datetime.now(SHANGHAI).date()
    story = []
    subjects = [{"id": mine, "kind": "LEGAL_PERSON", "name": "苏州姑苏本人测试有限公司"},
                {"id": theirs, "kind": "LEGAL_PERSON", "name": "苏州姑苏他人测试有限公司"},
                *({"kind": "NATURAL_PERSON", "name": name, "id_number": number}
                  for name, number in zip(("张本人", "李他人"), numbers))]
    for subject in subjects:
        for record_id, classification in (("P-PUB", "PUBLIC"), ("P-INT", "INTERNAL")):
            story.append({"type": "PenaltyImposed", "subject": subject, "source": AUTHORITY,
                          "occurred_on": (today - timedelta(days=2)).isoformat(), "classification": classification,
                          "payload": {"record_id": record_id, "decision_no": f"苏市监罚〔2026〕{record_id}号",
                                      "violation_type": "虚假宣传", "facts": "夸大功效", "basis": "《广告法》第二十八条",
                                      "penalty_kinds": ["FINE"], "fine_fen": 500_000, "severity": "GENERAL",
                                      **(EXEMPT if classification != "PUBLIC" else {})}})
    with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:
        report = publisher.publish_many(story)
    assert report.ok, report.invalid or report.failed
    wait_for(lambda: all((worker.file(s) or {}).get("events_total") == 2 for s in (mine, theirs, me, them)), 60,
             what="the story folded")
    yield {"worker": worker, "mine": mine, "theirs": theirs, "token": worker.tokens["subjects"][mine],
           "kafka": kafka, "today": today, "me": me, "them": them, "numbers": numbers}
    worker.stop()


def get(world, path: str, accept: str = "application/json") -> tuple[int, bytes]:
    request = urllib.request.Request(world["worker"].url + path, headers={
        "Authorization": f"Bearer {world['token']}", "Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post(world, event: dict) -> tuple[int, object]:
    return http_json(world["worker"].url + "/events", json.dumps(event, ensure_ascii=False).encode(),
                     token=world["token"])


def filing(world, type_: str, payload: dict, subject_id: str | None = None, source_code: str | None = None) -> dict:
    return {"type": type_, "subject": {"id": subject_id or world["mine"], "kind": "LEGAL_PERSON"},
            "source": {"authority_code": source_code or world["mine"], "authority_name": "苏州姑苏本人测试有限公司"},
            "occurred_on": world["today"].isoformat(), "payload": payload}


def test_a_subject_reads_its_own_file_whole_and_nothing_of_another(world):
    mine, theirs = world["mine"], world["theirs"]
    status, body = get(world, f"/subjects/{mine}")
    file = json.loads(body)
    assert status == 200 and sorted(r["record_id"] for r in file["records"]["penalties"]) == ["P-INT", "P-PUB"]
    assert file["grade"]["letter"] and file["grade"]["reasons"]
    assert get(world, f"/subjects/{mine}/grade")[0] == 200
    for path in (f"/subjects/{theirs}", f"/subjects/{theirs}/report", f"/subjects/{theirs}/grade",
                 f"/subjects/{theirs}/access-log"):
        status, body = get(world, path)
        assert status == 404 and json.loads(body) == {"error": f"no subject {theirs} in the ledger"}, path
    for path in ("/dashboard/snapshot", "/timeliness", f"/subjects/{mine}/history", "/state/digest"):
        assert get(world, path)[0] == 403, path


def test_a_subject_sees_who_read_its_file_on_its_page(world):
    worker, mine = world["worker"], world["mine"]
    assert worker.get(f"/subjects/{mine}", role="supervisor")[0] == 200

    def supervisor_read():
        status, body = get(world, f"/subjects/{mine}/access-log")
        reads = json.loads(body)["reads"] if status == 200 else []
        return reads if any(r["principal"] == "dev-supervisor" for r in reads) else None
    reads = wait_for(supervisor_read, 30, what="the supervisor's read on the access log")
    assert {r["subject_id"] for r in reads} == {mine}
    status, page = get(world, "/self", accept="text/html")
    text = page.decode()
    assert status == 200 and "本人信用信息" in text and mine in text and "dev-supervisor" in text
    assert "P-INT" in text and world["theirs"] not in text
    assert http_json(worker.url + "/self")[0] == 403  # the public has no page of its own


def test_a_subject_files_its_objection_and_grant_on_its_own_file(world):
    worker, mine = world["worker"], world["mine"]
    status, body = post(world, filing(world, "ObjectionFiled", {"objection_id": "O-SELF", "record_id": "P-INT",
                                                                 "grounds": "违法事实认定不清"}))
    assert status == 202, body
    bank = make_uscc("320500", 900)
    status, body = post(world, filing(world, "QueryAuthorized", {
        "grant_id": "Q-SELF", "grantee": bank, "scope": ["penalties"], "authorisation_ref": "本人授权书-1",
        "valid_until": (world["today"] + timedelta(days=30)).isoformat()}))
    assert status == 202, body
    folded = wait_for(lambda: (lambda f: f if f and f["events_total"] == 4 else None)(worker.file(mine)), 30,
                      what="the filings folded")
    assert [o["objection_id"] for o in folded["pending"]["objections"]] == ["O-SELF"]
    assert [g["grant_id"] for g in folded["grants"]] == ["Q-SELF"]


@pytest.mark.parametrize("change, rule", [
    ({"subject_id": "theirs"}, "subject_own_file"),
    ({"source_code": "theirs"}, "subject_source"),
    ({"type": "PenaltyRevoked"}, "subject_event_type"),
])
def test_a_subject_may_not_act_on_another_file_or_by_another_type(world, change, rule):
    kind = change.get("type", "ObjectionFiled")
    payload = ({"record_id": "P-PUB", "reason": "本人认为不应处罚"} if kind == "PenaltyRevoked"
               else {"objection_id": f"O-{rule}", "record_id": "P-PUB", "grounds": "违法事实认定不清"})
    event = filing(world, kind, payload, subject_id=world[change["subject_id"]] if "subject_id" in change else None,
                   source_code=world[change["source_code"]] if "source_code" in change else None)
    status, body = post(world, event)
    assert status == 403 and [e["rule"] for e in body["errors"]] == [rule], body


def test_the_fold_rejects_a_filing_in_a_subjects_name_on_another_file(world):
    """An admin may publish as anyone: what the edge lets through, the fold judges, and its rejection
    goes to credit.rejected naming the rule."""
    worker, kafka = world["worker"], world["kafka"]
    event = filing(world, "ObjectionFiled", {"objection_id": "O-FOREIGN", "record_id": "P-PUB",
                                             "grounds": "违法事实认定不清"}, subject_id=world["theirs"])
    status, body = http_json(worker.url + "/events", json.dumps(event, ensure_ascii=False).encode(),
                             token=worker.tokens["admin"])
    assert status == 202, body

    def rejected():
        found = [decode_rejection(v) for *_, v, _ in ledger_reader.read_topic(kafka.access(), topics.REJECTED)]
        return [r for r in found if r.get("event_id") == body["event_id"]]
    [rejection] = wait_for(rejected, 30, what="the rejection on credit.rejected")
    assert [reason["rule"] for reason in rejection["reasons"]] == ["not_record_authority"]
    assert worker.file(world["theirs"])["pending"]["objections"] == []


# --- a natural person (bound to its pseudonym) ---------------------------------------------------------
def as_person(world) -> dict:
    return {**world, "token": world["worker"].tokens["subjects"][world["me"]]}


def person_filing(world, type_: str, payload: dict, subject: dict | None = None, source_code: str | None = None) -> dict:
    """What a person sends: its file by its pseudonym, no name, no ID number; as itself, named 本人."""
    return {"type": type_, "subject": subject or {"id": world["me"], "kind": "NATURAL_PERSON"},
            "source": {"authority_code": source_code or world["me"], "authority_name": "本人"},
            "occurred_on": world["today"].isoformat(), "payload": payload}


def rejections_of(world, event_id: str) -> list[dict]:
    found = [decode_rejection(v) for *_, v, _ in ledger_reader.read_topic(world["kafka"].access(), topics.REJECTED)]
    return [r for r in found if r.get("event_id") == event_id]


def test_a_person_reads_its_own_file_and_nothing_of_another(world):
    person, me, them = as_person(world), world["me"], world["them"]
    status, body = get(person, f"/subjects/{me}")
    assert status == 200 and sorted(r["record_id"] for r in json.loads(body)["records"]["penalties"]) == [
        "P-INT", "P-PUB"]
    for path in (f"/subjects/{them}", f"/subjects/{world['mine']}", f"/subjects/{them}/access-log"):
        assert get(person, path)[0] == 404, path
    status, page = get(person, "/self", accept="text/html")
    assert status == 200 and me in page.decode() and "「本人」" in page.decode() and them not in page.decode()


def test_a_person_files_its_objection_repair_and_grant_as_itself(world):
    person, worker, me = as_person(world), world["worker"], world["me"]
    accepted = []
    for type_, payload in (
            ("ObjectionFiled", {"objection_id": "O-NP", "record_id": "P-INT", "grounds": "处罚对象认定错误"}),
            ("RepairRequested", {"repair_id": "R-NP", "record_id": "P-PUB", "corrective_actions": "已缴清罚款"}),
            ("QueryAuthorized", {"grant_id": "Q-NP", "grantee": make_uscc("320500", 901), "scope": ["penalties"],
                                 "authorisation_ref": "本人授权书-NP",
                                 "valid_until": (world["today"] + timedelta(days=30)).isoformat()})):
        status, body = post(person, person_filing(person, type_, payload))
        assert status == 202, body
        accepted.append(body["event_id"])

    def folded():  # the objection and the grant applied; the repair applied or judged (too early, maybe)
        file = worker.file(me)
        repair_judged = file and (file["pending"]["repairs"] or rejections_of(world, accepted[1]))
        return file if file and file["grants"] and file["pending"]["objections"] and repair_judged else None
    file = wait_for(folded, 30, what="the filings folded")
    [objection] = file["pending"]["objections"]
    assert objection["objection_id"] == "O-NP" and objection["source"] == {"authority_code": me,
                                                                            "authority_name": "本人"}
    assert [(g["grant_id"], g["source"]["authority_code"]) for g in file["grants"]] == [("Q-NP", me)]
    # the repair request is the person's own: judged as its authority's would be, never refused as another's
    repair_rules = {r["rule"] for rejection in rejections_of(world, accepted[1]) for r in rejection["reasons"]}
    assert [r["repair_id"] for r in file["pending"]["repairs"]] == ["R-NP"] or (
        repair_rules and "not_record_authority" not in repair_rules), (file["pending"]["repairs"], repair_rules)


@pytest.mark.parametrize("change, rule", [
    ({"subject": "them"}, "subject_own_file"),
    ({"subject": "mine"}, "subject_own_file"),
    ({"source_code": "them"}, "subject_source"),
    ({"id_number": 1}, "subject_own_file"),  # its own id beside another's ID number
    ({"type": "PenaltyRevoked"}, "subject_event_type"),
])
def test_a_person_may_not_act_on_another_file_or_by_another_type(world, change, rule):
    person = as_person(world)
    kind = change.get("type", "ObjectionFiled")
    payload = ({"record_id": "P-PUB", "reason": "本人认为不应处罚"} if kind == "PenaltyRevoked"
               else {"objection_id": f"O-NP-{rule}", "record_id": "P-PUB", "grounds": "处罚对象认定错误"})
    subject = {"id": world["me"], "kind": "NATURAL_PERSON"}
    if "subject" in change:
        other = world[change["subject"]]
        subject = {"id": other, "kind": "NATURAL_PERSON" if other.startswith("np-") else "LEGAL_PERSON"}
    if "id_number" in change:
        subject["id_number"] = world["numbers"][change["id_number"]]
    event = person_filing(person, kind, payload, subject=subject,
                          source_code=world[change["source_code"]] if "source_code" in change else None)
    status, body = post(person, event)
    assert status == 403 and [e["rule"] for e in body["errors"]] == [rule], body
    assert world["numbers"][1] not in json.dumps(body)


def test_a_filing_in_a_persons_name_on_another_file_is_refused_and_leaves_no_id_number(world):
    """An admin may publish as anyone: a person's source on another person's file, or on a type a person never
    files, is refused (self_source) and the refusal on credit.rejected names the rule and no ID number."""
    worker = world["worker"]
    forged = {**person_filing(world, "ObjectionFiled", {"objection_id": "O-NP-FORGED", "record_id": "P-PUB",
                                                        "grounds": "处罚对象认定错误"}),
              "event_id": "6f1f0e2a-7c1b-4c55-9d0e-%012d" % random.randrange(10**12),
              "subject": {"kind": "NATURAL_PERSON", "name": "李他人", "id_number": world["numbers"][1]}}
    status, body = http_json(worker.url + "/events", json.dumps(forged, ensure_ascii=False).encode(),
                             token=worker.tokens["admin"])
    assert status == 422 and ("source.authority_code", "self_source") in {(e["field"], e["rule"])
                                                                          for e in body["errors"]}, body
    [rejection] = wait_for(lambda: rejections_of(world, forged["event_id"]), 30, what="the refusal on credit.rejected")
    assert "self_source" in {r["rule"] for r in rejection["reasons"]}
    assert world["numbers"][1] not in repr(rejection) and "李他人" not in repr(rejection)
    assert worker.file(world["them"])["pending"]["objections"] == []
