"""The SDK's own parts against a small HTTP server in this process that answers as the edge would
(POST /events:batch, a result a line): batching, the retry policy, reading the results, what is refused
before it is sent. That the SDK publishes is tested against a real worker (tests/integration)."""
from __future__ import annotations

import http.server
import inspect
import json
import threading
import time
from collections.abc import Callable

import pytest

import streams.sdk
from ops.embedded_kafka import free_port
from streams.sdk import DeliveryError, InvalidEvent, Publisher, PublishError, ndjson_line
from tests.unit import events as ev

TOKEN = "t" * 43


class Edge:
    """A stand-in for the worker's edge: each request's lines are recorded; `answer(lines, request_no)`
    gives (status, body bytes) or None to drop the connection without answering."""

    def __init__(self, answer: Callable[[list[dict], int], tuple[int, bytes] | None]):
        self.requests: list[dict] = []
        edge = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                lines = [_json_or_bytes(line) for line in body.splitlines()]
                edge.requests.append({"path": self.path, "headers": dict(self.headers), "body": body, "lines": lines})
                answered = answer(lines, len(edge.requests))
                if answered is None:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status, data = answered
                self.send_response(status)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _json_or_bytes(line: bytes):
    try:
        return json.loads(line)
    except ValueError:
        return line


def results(statuses: list[int]) -> bytes:
    """An edge's answer: a result a line with the given statuses."""
    out = []
    for n, status in enumerate(statuses, start=1):
        if status == 202:
            out.append({"line": n, "status": 202, "event_id": f"id-{n}", "subject_id": ev.COMPANY, "partition": 1,
                        "offset": 100 + n})
        else:
            out.append({"line": n, "status": status, "errors": [{"field": "payload.x", "rule": f"rule-{status}",
                                                                 "message": f"refused {status}"}]})
    return b"".join(json.dumps(r).encode() + b"\n" for r in out)


@pytest.fixture()
def edge_of():
    edges: list[Edge] = []

    def make(answer):
        edges.append(Edge(answer))
        return edges[-1]
    yield make
    for edge in edges:
        edge.close()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(streams.sdk, "RETRY_BACKOFF_S", 0.01)


def test_events_go_in_batches_of_ndjson_with_the_token_and_no_clock(edge_of):
    edge = edge_of(lambda lines, n: (200, results([202] * len(lines))))
    events = [ev.event() for _ in range(25)]
    progress = []
    with Publisher(edge.url, token=TOKEN, batch_lines=10) as publisher:
        report = publisher.publish_many(events, on_progress=progress.append)
    assert report.ok and len(report.delivered) == 25 and progress == list(range(1, 26))
    assert [len(r["lines"]) for r in edge.requests] == [10, 10, 5]
    assert [line for r in edge.requests for line in r["lines"]] == events  # as given: nothing stamped
    first = edge.requests[0]
    assert first["path"] == "/events:batch" and first["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert first["headers"]["Content-Type"] == "application/x-ndjson"
    assert "clock" not in inspect.signature(Publisher).parameters  # no caller's clock reaches recorded_at


def test_a_batch_is_also_bounded_in_bytes(edge_of, monkeypatch):
    monkeypatch.setattr(streams.sdk, "BATCH_BYTES_MAX", 10_000)
    edge = edge_of(lambda lines, n: (200, results([202] * len(lines))))
    big = [ev.event(payload=ev.penalty_payload(facts="事" * 1000)) for _ in range(8)]  # ~3.5 KB a line
    assert Publisher(edge.url, token=TOKEN).publish_many(big).ok
    assert [len(r["lines"]) for r in edge.requests] == [2, 2, 2, 2]


def test_each_line_has_its_outcome_by_position(edge_of):
    edge = edge_of(lambda lines, n: (200, results([202, 403, 422, 400, 413])))
    report = Publisher(edge.url, token=TOKEN).publish_many([ev.event() for _ in range(5)])
    assert [r.offset for r in report.delivered] == [101] and report.delivered[0].subject_id == ev.COMPANY
    assert report.statuses == {2: 403, 3: 422, 4: 400, 5: 413} and report.rejected == [2, 3, 4, 5]
    assert report.invalid[3][0].rule == "rule-422" and not report.failed and not report.ok


def test_publish_raises_invalid_event_with_the_problems_and_the_status(edge_of):
    edge = edge_of(lambda lines, n: (200, results([403])))
    with pytest.raises(InvalidEvent) as raised:
        Publisher(edge.url, token=TOKEN).publish(ev.event())
    assert raised.value.status == 403 and raised.value.problems[0].rule == "rule-403"


def test_lines_answered_503_are_sent_again_alone(edge_of):
    edge = edge_of(lambda lines, n: (200, results([202, 503, 202] if n == 1 else [202])))
    events = [ev.event() for _ in range(3)]
    report = Publisher(edge.url, token=TOKEN).publish_many(events)
    assert report.ok and len(report.delivered) == 3
    assert edge.requests[1]["lines"] == [events[1]]


def over_quota(n: int, retry_after_s: int, rule: str = "events_per_minute") -> dict:
    return {"line": n, "status": 429, "retry_after_s": retry_after_s,
            "errors": [{"field": "$", "rule": rule, "message": "over the quota"}]}


def test_lines_over_a_minute_quota_are_sent_again_once_it_allows_them(edge_of):
    def answer(lines, n):
        if n == 1:  # the first line passes, the second is over the quota; then every line over it
            first = json.loads(results([202]))
            return 200, (json.dumps(first).encode() + b"\n" + json.dumps(over_quota(2, 0)).encode() + b"\n")
        if n == 2:
            return 429, json.dumps(over_quota(1, 0)).encode() + b"\n"
        return 200, results([202] * len(lines))
    edge = edge_of(answer)
    events = [ev.event(), ev.event()]
    report = Publisher(edge.url, token=TOKEN).publish_many(events)
    assert report.ok and len(report.delivered) == 2 and len(edge.requests) == 3
    assert edge.requests[1]["lines"] == edge.requests[2]["lines"] == [events[1]]


def test_a_line_over_a_daily_quota_is_refused_not_waited_for(edge_of):
    edge = edge_of(lambda lines, n: (200, json.dumps(over_quota(1, 36_000, "events_per_subject_per_day")).encode()
                                     + b"\n"))
    report = Publisher(edge.url, token=TOKEN, retry_within_s=5).publish_many([ev.event()])
    assert report.statuses == {1: 429} and report.invalid[1][0].rule == "events_per_subject_per_day"
    assert len(edge.requests) == 1


@pytest.mark.parametrize("failure", [(503, b'{"errors": [{"message": "stopping"}]}'), (500, b"oops"),
                                     (502, b""), None], ids=["503", "500", "502", "dropped"])
def test_a_failed_request_is_sent_again_whole(edge_of, failure):
    edge = edge_of(lambda lines, n: failure if n <= 2 else (200, results([202] * len(lines))))
    report = Publisher(edge.url, token=TOKEN).publish_many([ev.event(), ev.event()])
    assert report.ok and len(edge.requests) == 3 and edge.requests[0]["body"] == edge.requests[2]["body"]


def test_retries_end_once_their_time_is_spent(edge_of):
    edge = edge_of(lambda lines, n: (200, results([202, 503] if n == 1 else [503] * len(lines))))
    began = time.monotonic()
    report = Publisher(edge.url, token=TOKEN, retry_within_s=0.5).publish_many([ev.event(), ev.event()])
    assert 0.5 <= time.monotonic() - began < 5
    assert len(report.delivered) == 1 and list(report.failed) == [2] and "503: refused 503" in report.failed[2]
    with pytest.raises(DeliveryError):
        Publisher(edge.url, token=TOKEN, retry_within_s=0.2).publish(ev.event())  # its only line: 503


def test_a_worker_that_does_not_answer_is_reported_once_the_retries_are_spent():
    began = time.monotonic()
    with Publisher(f"http://127.0.0.1:{free_port()}", token=TOKEN, retry_within_s=0.5) as publisher:
        report = publisher.publish_many([ev.event(), "{"])
    assert 0.5 <= time.monotonic() - began < 5 and not report.delivered
    assert set(report.failed) == {1, 2} and "ConnectionRefusedError" in report.failed[1]


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_a_refused_request_is_not_sent_again(edge_of, status):
    edge = edge_of(lambda lines, n: (status, json.dumps({"errors": [{"rule": "r", "message": "no"}]}).encode()))
    with pytest.raises(PublishError) as raised:
        Publisher(edge.url, token=TOKEN).publish_many([ev.event()])
    assert raised.value.status == status and len(edge.requests) == 1 and "no" in str(raised.value)


def test_an_answer_that_does_not_match_the_lines_is_an_error(edge_of):
    edge = edge_of(lambda lines, n: (200, results([202])))
    with pytest.raises(PublishError, match="1 results for 2 lines"):
        Publisher(edge.url, token=TOKEN).publish_many([ev.event(), ev.event()])


def test_what_json_cannot_carry_is_refused_before_it_is_sent_and_text_goes_as_it_is(edge_of):
    edge = edge_of(lambda lines, n: (200, results([202] * len(lines))))
    nan, huge, deep = ev.event(), ev.event(), ev.event()
    nan["payload"]["fine_fen"] = float("nan")
    huge["payload"]["fine_fen"] = 10**5000
    deep["payload"]["x"] = json.loads("[" * 40 + "]" * 40)
    pretty = json.dumps(ev.event(), ensure_ascii=False, indent=2)
    raw_line = json.dumps(ev.event(), ensure_ascii=False).encode().replace("虚假宣传".encode(), b"\xff")
    progress = []
    report = Publisher(edge.url, token=TOKEN).publish_many([nan, huge, deep, pretty, raw_line, "{\n"],
                                                           on_progress=progress.append)
    assert {n: [(p.field, p.rule) for p in ps] for n, ps in report.invalid.items()} == {
        1: [("payload.fine_fen", "number")], 2: [("payload.fine_fen", "number")],
        3: [("payload.x" + "[0]" * 30, "nesting")], 6: [("$", "json")]}
    assert report.statuses == {1: 0, 2: 0, 3: 0, 6: 0} and progress == [1, 2, 3, 4, 5, 6]
    (request,) = edge.requests
    assert request["lines"][0] == json.loads(pretty) and request["body"].split(b"\n")[1] == raw_line


def test_ndjson_lines_hold_no_line_break():
    line, problems = ndjson_line({"type": "x", "facts": "第一行\n第二行"})
    assert not problems and b"\n" not in line and json.loads(line)["facts"] == "第一行\n第二行"


def test_the_url_must_be_a_web_address():
    with pytest.raises(ValueError, match="http://host:port"):
        Publisher("127.0.0.1:9092")
