"""POST /events and POST /events:batch (streams/routes_publishing.py) served without a broker: the routes as
the worker installs them (tests/unit/served.py), over the edge's producer interface stood in for by the list
of tests/unit/test_publishing_edge.py (each record acknowledged with the next offset, or not at all). What
test_publishing_edge.py holds of the edge itself is not repeated; here: the HTTP layer, its bounds, its
framing of a batch, its refusals. The real producer and broker: tests/integration/test_edge_batch.py."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import orjson
import pytest

from projections.ids import make_resident_id
from streams import routes_publishing, topics
from streams.codec import decode_event
from streams.routes_publishing import (BATCH_LINES_MAX, BATCHES_IN_FLIGHT_MAX, NDJSON, POST_BODY_BYTES_MAX,
                                       PublishingEdge)
from tests.unit import events as ev
from tests.unit.served import serve
from tests.unit.test_publishing_edge import ListProducer, line

SUBJECT_PER_DAY_MAX = 2_000  # the packaged policy's events_per_subject_per_day of a publisher, read by hand


@dataclass
class PublishingPart:
    """routes_publishing installed as the worker installs it, over a ListProducer."""
    producer: ListProducer
    edge: PublishingEdge | None = None

    def install(self, app, worker) -> None:
        self.edge = routes_publishing.install(app, worker, producer=self.producer)


@pytest.fixture
def served():
    part = PublishingPart(ListProducer())
    running = serve([part])
    running.part = part
    yield running
    running.close()


def written(served, topic: str = topics.EVENTS) -> list[bytes]:
    return [value for written_topic, _, value in served.part.producer.records if written_topic == topic]


def batch(served, *lines: bytes, who: str = "market") -> tuple[int, dict, list[dict]]:
    status, headers, body = served.send("POST", "/events:batch", who, b"\n".join(lines) + b"\n")
    return status, headers, [orjson.loads(part) for part in body.splitlines()] if status in (200, 429) else body


def test_one_event_is_answered_once_written_with_where_it_is(served):
    event = ev.event()
    status, _, body = served.send("POST", "/events", "market", line(event))
    answer = orjson.loads(body)
    assert status == 202 and "status" not in answer and "line" not in answer  # one event: no line, the HTTP status
    assert (answer["event_id"], answer["subject_id"], answer["partition"], answer["offset"]) == (
        event["event_id"], ev.COMPANY, 0, 0)
    assert [decode_event(value)["event_id"] for value in written(served)] == [event["event_id"]]
    status, _, body = served.send("POST", "/events", "market", line(ev.event(payload={"record_id": "P-9"})))
    assert status == 422 and orjson.loads(body)["errors"] and written(served, topics.REJECTED)


def test_a_batch_answers_each_non_blank_line_by_its_number_in_order(served):
    first, second = ev.event(), ev.event(payload=ev.penalty_payload(record_id="P-2", decision_no="郑市监罚〔2025〕2号"))
    status, headers, results = batch(served, line(first), b"", b"   ", line(second), b"{not json")
    assert status == 200 and headers["Content-Type"] == f"{NDJSON}; charset=utf-8"
    assert [(r["line"], r["status"]) for r in results] == [(1, 202), (4, 202), (5, 400)]
    assert [(r["partition"], r["offset"]) for r in results[:2]] == [(0, 0), (0, 1)]
    assert [decode_event(value)["event_id"] for value in written(served)] == [first["event_id"], second["event_id"]]


def test_each_refusal_of_the_http_layer_says_why_and_writes_nothing(served):
    assert served.send("POST", "/events", None, line(ev.event()))[0] in (401, 403)
    status, _, body = served.send("POST", "/events", "office", line(ev.event()))  # a supervisor publishes nothing
    assert status == 403 and orjson.loads(body)["errors"][0]["rule"] == "forbidden"
    status, _, body = served.send("POST", "/events", "market", b"x" * (POST_BODY_BYTES_MAX + 1))
    assert status == 413 and orjson.loads(body)["errors"][0]["rule"] == "size_limit"
    status, _, body = batch(served, *[b"{}"] * (BATCH_LINES_MAX + 1))
    assert status == 413 and orjson.loads(body)["errors"][0]["rule"] == "line_limit"
    assert f"{BATCH_LINES_MAX:,}" in orjson.loads(body)["errors"][0]["message"]
    served.part.edge.batches_in_flight = BATCHES_IN_FLIGHT_MAX  # as many batches as it takes at once
    status, _, body = batch(served, line(ev.event()))
    assert status == 503 and orjson.loads(body)["errors"][0]["rule"] == "busy"
    served.part.edge.batches_in_flight = 0
    served.worker.stop_error = OSError("No space left on device")  # the worker is stopping
    status, _, body = served.send("POST", "/events", "market", line(ev.event()))
    assert status == 503 and orjson.loads(body)["errors"][0]["rule"] == "unavailable"
    assert served.part.producer.records == []


def test_a_batch_of_the_most_lines_is_judged_line_by_line(served):
    status, _, results = batch(served, *[b"{}"] * BATCH_LINES_MAX)  # the trailing newline adds no line
    assert status == 200 and [r["line"] for r in results] == list(range(1, BATCH_LINES_MAX + 1))
    alone = served.send("POST", "/events", "market", b"{}")[0]  # what the one line gets on its own
    assert 400 <= alone < 500 and {r["status"] for r in results} == {alone} and written(served) == []


def test_a_subjects_daily_quota_is_a_429_with_retry_after(served):
    lines = [line(ev.event()) for _ in range(SUBJECT_PER_DAY_MAX + 1)]
    status, headers, results = batch(served, *lines)
    assert status == 200 and [r["status"] for r in results].count(202) == SUBJECT_PER_DAY_MAX
    assert results[-1]["status"] == 429 and int(headers["Retry-After"]) == results[-1]["retry_after_s"] >= 1
    status, headers, body = served.send("POST", "/events", "market", line(ev.event()))  # the one line: 429
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert len(written(served)) == SUBJECT_PER_DAY_MAX


def test_a_persons_number_and_name_are_in_no_answer_nor_log(served, caplog):
    person = ev.person(make_resident_id("410105", ev.NOW.date().replace(year=1990), 3))
    good = ev.event(subject=person)
    bad = ev.event(subject=person, payload={"record_id": "P-9", "fine_fen": -5})
    with caplog.at_level(logging.DEBUG):
        answers = [served.send("POST", "/events", "market", line(good)),
                   served.send("POST", "/events", "market", line(bad)),
                   served.send("POST", "/events:batch", "market", line(good | {"event_id": None}) + b"\n")]
    assert [status for status, _, _ in answers][:2] == [202, 422]
    assert orjson.loads(answers[0][2])["subject_id"].startswith("np-")  # the pseudonym, made at the edge
    texts = [body.decode() for _, _, body in answers] + [r.getMessage() for r in caplog.records
                                                          if r.name != "aiohttp.access"]
    for secret in (person["id_number"], person["name"], json.dumps(person["name"])[1:-1]):
        assert not [text for text in texts if secret in text]
    assert not [value for _, _, value in served.part.producer.records if person["id_number"].encode() in value]
