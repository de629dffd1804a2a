"""The lists' releases (streams/routes_releases.py) driven without a broker: the routes served as the worker
serves them (tests/unit/served.py), credit.releases an in-memory log of the reader's interface
(tests/driver.MemoryTopics) that streams/release_log.ReleaseLog reads and writes as it would the topic. The
numbers expected are worked out here by hand from projections/releases.py's rule (per list and year, in the
order recorded, first recorded wins). The command and the real topic: tests/integration/test_releases.py."""
from __future__ import annotations

import hashlib
import logging

import orjson
import pytest

from projections.ids import make_resident_id
from projections.releases import REQUEST_BYTES_MAX
from streams import routes_releases, topics
from streams.codec import decode_release_record, encode_release_record
from streams.routes_releases import RELEASES_SHOWN_MAX
from tests.unit import events as ev
from tests.unit.served import serve

TODAY = ev.NOW.date().isoformat()  # 2025-06-30 on the ledger's clock
KIND = "PROCUREMENT_BAN"
PERSON_ID = make_resident_id("410105", ev.NOW.date().replace(year=1985), 7)  # a person's ID number, never echoed


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def wanted(day: str = "2025-06-28", kind: str = KIND, of: str = "csv-1", entry_count: int = 3) -> dict:
    return {"list_kind": kind, "as_of": day, "digest": digest(of), "entry_count": entry_count}


@pytest.fixture
def served():
    running = serve([routes_releases])
    yield running
    running.close()


def recorded(served) -> list[dict]:
    """What credit.releases holds, decoded, in log order."""
    return [decode_release_record(value) for _, value in served.log.logs[topics.RELEASES][0]]


def test_a_release_is_numbered_per_list_and_year_recorded_once_and_shown_newest_first(served):
    status, _, body = served.send("POST", "/releases", "admin", wanted())
    assert status == 201
    first = orjson.loads(body)["release"]
    assert (first["number"], first["href"], first["principal"]) == (
        f"{KIND}-2025-001", f"/releases/{KIND}-2025-001", "admin")
    assert [(r["number"], r["digest"], r["entry_count"]) for r in recorded(served)] == [
        (f"{KIND}-2025-001", digest("csv-1"), 3)]
    assert [(r["principal"], r["endpoint"]) for r in served.access_log()] == [("admin", "POST /releases")]
    # the same list and day with the same digest is the same release: 200, its number, nothing written
    status, _, body = served.send("POST", "/releases", "admin", wanted())
    assert status == 200 and orjson.loads(body)["release"]["number"] == f"{KIND}-2025-001"
    assert len(recorded(served)) == 1
    # the next day is the list's second of 2025; another list starts at 001
    assert orjson.loads(served.send("POST", "/releases", "admin", wanted("2025-06-29"))[2])["release"]["number"] == (
        f"{KIND}-2025-002")
    assert orjson.loads(served.send("POST", "/releases", "admin", wanted(kind="RED_LIST"))[2])["release"][
        "number"] == "RED_LIST-2025-001"
    status, _, body = served.send("GET", "/releases")  # the public's
    assert status == 200 and orjson.loads(body)["today"] == TODAY
    assert [r["number"] for r in orjson.loads(body)["releases"]] == [
        "RED_LIST-2025-001", f"{KIND}-2025-002", f"{KIND}-2025-001"]
    assert all("offset" not in r for r in orjson.loads(body)["releases"])
    status, _, body = served.send("GET", f"/releases?list_kind={KIND}")
    assert [r["number"] for r in orjson.loads(body)["releases"]] == [f"{KIND}-2025-002", f"{KIND}-2025-001"]
    status, _, body = served.send("GET", f"/releases/{KIND}-2025-002")
    assert status == 200 and orjson.loads(body)["as_of"] == "2025-06-29"
    reads = [(start, end) for topic, _, start, end in served.log.ranges_read if topic == topics.RELEASES]
    assert all(later[0] >= earlier[1] for earlier, later in zip(reads, reads[1:]))  # each record read once


def test_each_refusal_says_why_and_records_nothing(served):
    assert served.send("POST", "/releases", None, wanted())[0] in (401, 403)
    status, _, body = served.send("POST", "/releases", "office", wanted())  # a supervisor does not release
    assert status == 403 and orjson.loads(body)["errors"][0]["rule"] == "forbidden"
    for field, bad in (("list_kind", "GREY_LIST"), ("as_of", "2025-02-30"), ("digest", "ABC"), ("entry_count", -1)):
        status, _, body = served.send("POST", "/releases", "admin", {**wanted(), field: bad})
        assert status == 400 and orjson.loads(body)["errors"][0] | {"message": ""} == {
            "field": field, "rule": "release", "message": ""}, (field, body)
    status, _, body = served.send("POST", "/releases", "admin", {**wanted(), "extra": 1})
    assert status == 400 and orjson.loads(body)["errors"][0]["field"] == "$"
    status, _, body = served.send("POST", "/releases", "admin", wanted(day=TODAY))  # the day is not over
    assert status == 409 and TODAY in orjson.loads(body)["error"]
    assert recorded(served) == [] and served.access_log() == []
    served.send("POST", "/releases", "admin", wanted())
    status, _, body = served.send("POST", "/releases", "admin", wanted(of="csv-2"))  # that day, another digest
    assert status == 409 and orjson.loads(body)["release"]["number"] == f"{KIND}-2025-001"
    assert len(recorded(served)) == 1
    assert served.send("GET", "/releases?list_kind=GREY_LIST")[0] == 404
    assert served.send("GET", f"/releases/{KIND}-2025-009")[0] == 404


def test_a_body_beyond_its_bound_is_refused_unread(served):
    big = orjson.dumps({**wanted(), "padding": "x" * REQUEST_BYTES_MAX})
    status, _, body = served.send("POST", "/releases", "admin", big)
    assert status == 400 and orjson.loads(body)["errors"][0]["field"] == "$"
    assert str(REQUEST_BYTES_MAX) in orjson.loads(body)["errors"][0]["message"]
    assert recorded(served) == []


def test_the_page_shows_at_most_its_bound_newest_first(served):
    # RELEASES_SHOWN_MAX + 1 valid releases already on the log: two lists, one a day (the 1st to the 28th)
    records = [(kind, f"{kind}-{year}-{n + 1:03d}", day) for kind in ("RED_LIST", KIND) for year in (2023, 2024)
               for n, day in enumerate(f"{year}-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29))]
    records = records[:RELEASES_SHOWN_MAX + 1]
    for kind, number, day in records:
        served.log.append(topics.RELEASES, kind.encode(), encode_release_record({
            "number": number, "list_kind": kind, "as_of": day, "digest": digest(number), "entry_count": 1,
            "principal": "admin", "at": "2025-06-01T10:00:00+08:00"}), partition=0)
    shown = orjson.loads(served.send("GET", "/releases")[2])["releases"]
    assert len(shown) == RELEASES_SHOWN_MAX and shown[0]["number"] == records[-1][1]
    assert shown[-1]["number"] == records[1][1]  # the first recorded is past the bound


def test_a_record_another_worker_wrote_first_wins_and_ours_is_refused(served):
    send_ours = served.log.sender(topics.RELEASES)

    async def theirs_first(key: bytes, value: bytes):
        record = decode_release_record(value)  # the other worker's: the same number, another digest
        served.log.append(topics.RELEASES, key, encode_release_record(
            {**record, "digest": digest("theirs"), "principal": "admin-2"}), partition=0)
        return await send_ours(key, value)
    served.worker.releases._send = theirs_first
    status, _, body = served.send("POST", "/releases", "admin", wanted())
    assert status == 409 and orjson.loads(body)["release"]["principal"] == "admin-2"
    assert [r["principal"] for r in recorded(served)] == ["admin-2", "admin"]  # both written, the first counts


def test_a_broker_away_is_a_503_for_a_recording_and_the_last_table_for_the_page(served, caplog):
    served.send("POST", "/releases", "admin", wanted())
    served.log.away = True
    status, _, body = served.send("POST", "/releases", "admin", wanted("2025-06-29"))
    assert status == 503 and topics.RELEASES in orjson.loads(body)["error"]
    with caplog.at_level(logging.WARNING):
        served.worker.releases._read_at_s = float("-inf")  # due for a re-read: it fails, the last table is shown
        status, _, body = served.send("GET", "/releases")
    assert status == 200 and [r["number"] for r in orjson.loads(body)["releases"]] == [f"{KIND}-2025-001"]
    assert "unreadable" in caplog.text


def test_no_input_is_echoed_in_a_refusal_nor_logged(served, caplog):
    with caplog.at_level(logging.DEBUG):
        answers = [served.send("POST", "/releases", "admin", {**wanted(), "list_kind": PERSON_ID}),
                   served.send("POST", "/releases", "admin", {**wanted(), "digest": PERSON_ID}),
                   served.send("GET", f"/releases?list_kind={PERSON_ID}"),
                   served.send("GET", f"/releases/{PERSON_ID}")]
    assert [status for status, _, _ in answers] == [400, 400, 404, 404]
    assert all(PERSON_ID not in body.decode() for _, _, body in answers)
    # aiohttp's own access log (INFO, under the worker's default level, warn) writes the request's line
    assert all(PERSON_ID not in r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert served.access_log() == []
