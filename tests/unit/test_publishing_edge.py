"""The publishers' edge (streams/routes_publishing.py, PublishingEdge) without a broker: the worker's own
producer interface (produce -> a future of (partition, offset), DeliveryError when not acknowledged)
stood in for by a list, as tests/driver.py stands in for the fold's. The real producer against the
real broker: tests/integration/test_edge_batch.py."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from types import SimpleNamespace

from projections.access import PUBLISHER, Principal
from projections.policy import DEFAULT_POLICIES
from streams import topics
from streams.codec import decode_event
from streams.edge import ACCEPTED, CONFLICT, INVALID, RETRY_LATER
from streams.gate import Gate
from streams.outputs import DeliveryError
from streams.principals import Principals
from streams.routes_publishing import PublishingEdge
from streams.store import MemoryStore
from streams.worker import Worker
from tests.unit import events as ev

PUBLISHER_OF_AUTHORITY = Principal("market-office", PUBLISHER, authority_code=ev.AUTHORITY)


class ListProducer:
    """Each record produced, in order; delivered at `partition` with the next offset, or not at all for
    the topics in `failing`."""

    def __init__(self, failing: tuple[str, ...] = ()):
        self.records: list[tuple[str, bytes | None, bytes]] = []
        self.failing = failing

    def produce(self, topic: str, key: bytes | None, value: bytes) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        if topic in self.failing:
            future.set_exception(DeliveryError("_MSG_TIMED_OUT: not acknowledged"))
        else:
            future.set_result((0, len(self.records)))
        self.records.append((topic, key, value))
        return future


def edge_over(producer: ListProducer) -> PublishingEdge:
    async def unused(key: bytes, value: bytes) -> None:
        raise AssertionError("publishing reads nothing to log")
    worker = Worker(settings=None, kafka=None, store=MemoryStore(), clock=SimpleNamespace(now=lambda: ev.NOW),
                    policies=DEFAULT_POLICIES, processor=None, key_store=None, pseudonym_key=ev.KEY,
                    gate=Gate(Principals([]), unused, lambda: datetime.now(timezone.utc)),
                    ledger_consumer=None, outputs=None, events_producer=None)
    return PublishingEdge(worker, producer)


def line(event: dict) -> bytes:
    return json.dumps({k: v for k, v in event.items() if k != "recorded_at"}, ensure_ascii=False).encode()


def accept(producer: ListProducer, *lines: bytes) -> list[dict]:
    edge = edge_over(producer)
    return asyncio.run(edge.accept_lines(PUBLISHER_OF_AUTHORITY, list(enumerate(lines, start=1))))


def test_an_accepted_event_is_on_the_ledger_keyed_by_its_subject_with_the_edges_clock():
    producer = ListProducer()
    event = ev.event()
    (result,) = accept(producer, line(event))
    assert result["status"] == ACCEPTED and (result["partition"], result["offset"]) == (0, 0)
    ((topic, key, value),) = producer.records
    assert topic == topics.EVENTS and key == ev.COMPANY.encode() == result["subject_id"].encode()
    written = decode_event(value)
    assert written["event_id"] == event["event_id"] == result["event_id"]
    assert datetime.fromisoformat(written["recorded_at"]) == ev.NOW  # stamped at the edge, not by the publisher


def test_an_invalid_event_is_answered_and_recorded_without_its_content():
    producer = ListProducer()
    bad = ev.event(payload={"record_id": "P-9", "fine_fen": -5})
    (result,) = accept(producer, line(bad))
    assert result["status"] == INVALID and result["errors"] and "partition" not in result
    ((topic, key, value),) = producer.records
    assert topic == topics.REJECTED and key is None
    assert "P-9".encode() not in value and ev.COMPANY.encode() not in value  # a digest, never the input


def test_one_id_for_two_contents_in_one_request_is_a_conflict():
    producer = ListProducer()
    first = ev.event()
    other = {**first, "payload": {**first["payload"], "record_id": "P-OTHER"}}
    results = accept(producer, line(first), line(other))
    assert [r["status"] for r in results] == [ACCEPTED, CONFLICT]
    assert [topic for topic, _, _ in producer.records] == [topics.EVENTS, topics.REJECTED]


def test_an_unacknowledged_write_is_answered_send_it_again():
    producer = ListProducer(failing=(topics.EVENTS,))
    (result,) = accept(producer, line(ev.event()))
    assert result["status"] == RETRY_LATER and result["errors"][0]["rule"] == "delivery"
