"""The upward export's receipts (streams/routes_exports.py) driven without a broker: the routes served as the
worker serves them (tests/unit/served.py), credit.exports an in-memory log of the reader's interface
(tests/driver.MemoryTopics) read and written by streams/release_log.ReleaseLog as the topic would be. What
each answer should be is worked out here from projections/exports.py's rule (a destination's batches are
1, 2, 3, ... in the order recorded). The command and the real topic: tests/integration/test_exports.py."""
from __future__ import annotations

import hashlib
import logging

import orjson
import pytest

from projections.exports import REQUEST_BYTES_MAX, batch_name
from projections.ids import make_resident_id
from streams import routes_exports, topics
from streams.codec import decode_export_receipt, encode_export_receipt
from streams.routes_exports import RECEIPTS_SHOWN_MAX
from tests.unit import events as ev
from tests.unit.served import serve

PERSON_ID = make_resident_id("410105", ev.NOW.date().replace(year=1985), 7)  # a person's ID number, never echoed


def receipt(sequence: int, destination: str = "province", manifest: str = "m", from_offset: int | None = None) -> dict:
    """Batch `sequence` of `destination`: 10 events of partition 0 a batch."""
    start = 10 * (sequence - 1) if from_offset is None else from_offset
    return {"destination": destination, "sequence": sequence, "batch": batch_name(destination, sequence),
            "from_cursor": f"0:{start}" if start else "start", "to_cursor": f"0:{start + 10}",
            "manifest_sha256": hashlib.sha256(f"{manifest}{sequence}".encode()).hexdigest(),
            "event_count": 10, "permit_rows": 4, "penalty_rows": 5, "withdrawal_rows": 1}


@pytest.fixture
def served():
    running = serve([routes_exports])
    yield running
    running.close()


def recorded(served) -> list[dict]:
    return [decode_export_receipt(value) for _, value in served.log.logs[topics.EXPORTS][0]]


def test_a_destination_starts_at_the_logs_start_and_moves_on_with_each_receipt(served):
    status, _, body = served.send("GET", "/exports?destination=province", "admin")
    assert status == 200 and orjson.loads(body) == {"destination": "province", "cursor": "start",
                                                    "next_sequence": 1, "receipts": []}
    status, _, body = served.send("POST", "/exports", "admin", receipt(1))
    assert status == 201 and orjson.loads(body)["receipt"] | {"at": ""} == {**receipt(1), "principal": "admin",
                                                                            "at": ""}
    assert [r["batch"] for r in recorded(served)] == ["province-000001"]
    served.send("POST", "/exports", "admin", receipt(2))
    served.send("POST", "/exports", "admin", receipt(1, "city"))  # another destination counts its own
    status, _, body = served.send("GET", "/exports?destination=province", "admin")
    answer = orjson.loads(body)
    assert (answer["cursor"], answer["next_sequence"]) == ("0:20", 3)
    assert [r["sequence"] for r in answer["receipts"]] == [2, 1] and all("offset" not in r for r in answer["receipts"])
    assert [(r["principal"], r["endpoint"]) for r in served.access_log()] == [
        ("admin", "GET /exports?destination=province"), ("admin", "POST /exports"), ("admin", "POST /exports"),
        ("admin", "POST /exports"), ("admin", "GET /exports?destination=province")]


def test_a_batch_recorded_again_is_the_same_and_a_batch_out_of_turn_is_refused(served):
    served.send("POST", "/exports", "admin", receipt(1))
    status, _, body = served.send("POST", "/exports", "admin", receipt(1))  # the same manifest: the same batch
    assert status == 200 and orjson.loads(body)["receipt"]["sequence"] == 1
    status, _, body = served.send("POST", "/exports", "admin", receipt(1, manifest="other"))
    assert status == 409 and "next batch is 2" in orjson.loads(body)["error"]
    status, _, body = served.send("POST", "/exports", "admin", receipt(3))
    assert status == 409 and "next batch is 2, not 3" in orjson.loads(body)["error"]
    assert len(recorded(served)) == 1


def test_each_refusal_names_its_field_and_rule_and_reads_nothing(served):
    assert served.send("GET", "/exports?destination=province", None)[0] in (401, 403)
    status, _, body = served.send("GET", "/exports?destination=province", "office")
    assert status == 403 and orjson.loads(body)["errors"][0]["rule"] == "forbidden"
    assert served.send("POST", "/exports", "audit", receipt(1))[0] == 403
    status, _, body = served.send("GET", "/exports?destination=Province!", "admin")
    assert status == 400 and orjson.loads(body)["errors"][0]["field"] == "destination"
    for field, bad in (("destination", "-x"), ("sequence", 0), ("from_cursor", "0:1,0:2"), ("batch", "province-1"),
                       ("manifest_sha256", "F" * 64), ("event_count", True)):
        status, _, body = served.send("POST", "/exports", "admin", {**receipt(1), field: bad})
        assert status == 400 and orjson.loads(body)["errors"][0] | {"message": ""} == {
            "field": field, "rule": "export_receipt", "message": ""}, (field, body)
    big = orjson.dumps({**receipt(1), "padding": "x" * REQUEST_BYTES_MAX})
    status, _, body = served.send("POST", "/exports", "admin", big)
    assert status == 400 and orjson.loads(body)["errors"][0]["field"] == "$"
    assert recorded(served) == [] and served.log.ranges_read == [] and served.access_log() == []


def test_the_receipts_shown_are_bounded_newest_first_and_the_cursor_is_the_newests(served):
    for sequence in range(1, RECEIPTS_SHOWN_MAX + 2):
        served.log.append(topics.EXPORTS, b"province", encode_export_receipt(
            {**receipt(sequence), "principal": "admin", "at": "2025-06-01T10:00:00+08:00"}), partition=0)
    answer = orjson.loads(served.send("GET", "/exports?destination=province", "admin")[2])
    assert len(answer["receipts"]) == RECEIPTS_SHOWN_MAX
    assert [answer["receipts"][0]["sequence"], answer["receipts"][-1]["sequence"]] == [RECEIPTS_SHOWN_MAX + 1, 2]
    assert (answer["cursor"], answer["next_sequence"]) == (f"0:{10 * (RECEIPTS_SHOWN_MAX + 1)}", RECEIPTS_SHOWN_MAX + 2)


def test_a_receipt_another_run_wrote_first_wins(served):
    send_ours = served.log.sender(topics.EXPORTS)

    async def theirs_first(key: bytes, value: bytes):
        served.log.append(topics.EXPORTS, key, encode_export_receipt(
            {**decode_export_receipt(value), "manifest_sha256": "0" * 64, "principal": "admin-2"}), partition=0)
        return await send_ours(key, value)
    served.worker.exports._send = theirs_first
    status, _, body = served.send("POST", "/exports", "admin", receipt(1))
    assert status == 409 and orjson.loads(body)["receipt"]["principal"] == "admin-2"


def test_a_broker_away_is_a_503_naming_the_topic(served):
    served.log.away = True
    status, _, body = served.send("GET", "/exports?destination=province", "admin")
    assert status == 503 and topics.EXPORTS in orjson.loads(body)["error"]
    status, _, body = served.send("POST", "/exports", "admin", receipt(1))
    assert status == 503 and topics.EXPORTS in orjson.loads(body)["error"]
    assert served.access_log() == []  # nothing was read nor recorded: no read to log


def test_no_input_is_echoed_in_a_refusal_nor_logged(served, caplog):
    with caplog.at_level(logging.DEBUG):
        answers = [served.send("GET", f"/exports?destination={PERSON_ID}X", "admin"),
                   served.send("POST", "/exports", "admin", {**receipt(1), "destination": PERSON_ID + "X"}),
                   served.send("POST", "/exports", "admin", {**receipt(1), "from_cursor": PERSON_ID}),
                   served.send("POST", "/exports", "admin", {**receipt(1), "manifest_sha256": PERSON_ID})]
    assert [status for status, _, _ in answers] == [400, 400, 400, 400]
    assert all(PERSON_ID not in body.decode() for _, _, body in answers)
    assert all(PERSON_ID not in r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
