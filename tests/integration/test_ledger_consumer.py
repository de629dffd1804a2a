"""The worker's reader against the real broker: a take hands over what is queued at once."""
from __future__ import annotations

import asyncio
import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streams import ledger_reader
from streams.ledger_consumer import LedgerConsumer
from streams.store import MemoryStore

WINDOW_S = 120.0  # far longer than a join and a fetch take: a take that waited for a full batch would show


def test_a_take_hands_over_the_records_queued_without_waiting_for_a_full_batch(kafka):
    topic = f"credit-ledger-test.consumer.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(kafka.config())
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=30)
    producer = Producer(kafka.config())
    for n in range(3):
        producer.produce(topic, value=b"record %d" % n, key=b"k", partition=n % 2)
    assert producer.flush(30) == 0
    ledger_reader.watermarks(kafka.access(), topic)
    store = MemoryStore()
    store.write({}, {1: 0})  # the store holds partition 1's first record: its take starts after it
    consumer = LedgerConsumer(kafka.access(), store, session_timeout_ms=10_000, heartbeat_interval_ms=1_000,
                              topic=topic, group_id=f"credit-ledger-test-consumer-{uuid.uuid4().hex[:8]}")

    async def take_all() -> list:
        records: list = []
        try:
            while len(records) < 2:
                records += await consumer.take(500, WINDOW_S)
        finally:
            await consumer.close()
        return records
    began = time.monotonic()
    records = asyncio.run(asyncio.wait_for(take_all(), 2 * WINDOW_S))
    assert time.monotonic() - began < WINDOW_S / 2  # not one window waited for 500 records
    assert sorted(records) == [(0, 0, b"k", b"record 0"), (0, 1, b"k", b"record 2")]  # partition 1 from the store on


def test_a_small_take_lingers_for_more_records_and_no_longer_than_its_bound(kafka):
    topic = f"credit-ledger-test.consumer.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(kafka.config())
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    producer = Producer(kafka.config())

    def write(n: int) -> None:
        producer.produce(topic, value=b"record %d" % n, key=b"k")
        assert producer.flush(30) == 0
    write(0)
    consumer = LedgerConsumer(kafka.access(), MemoryStore(), session_timeout_ms=10_000, heartbeat_interval_ms=1_000,
                              topic=topic, group_id=f"credit-ledger-test-consumer-{uuid.uuid4().hex[:8]}")

    async def takes() -> tuple[list, list, list]:
        try:
            joined: list = []
            while not joined:  # joins the group and takes record 0
                joined = await consumer.take(500, WINDOW_S)
            write(1)
            # record 2 comes while the take holds record 1 alone: lingering for a second record, it takes both
            later = asyncio.get_running_loop().call_later(0.5, write, 2)
            lingered = await consumer.take(500, WINDOW_S, linger_s=WINDOW_S, linger_until_records=2)
            later.cancel()
            write(3)
            # nothing more comes: the take hands record 3 over once its linger is up, short of 10 records
            bounded = await consumer.take(500, WINDOW_S, linger_s=0.2, linger_until_records=10)
        finally:
            await consumer.close()
        return joined, lingered, bounded
    joined, lingered, bounded = asyncio.run(asyncio.wait_for(takes(), 4 * WINDOW_S))
    assert [r[3] for r in joined] == [b"record 0"]
    assert [r[3] for r in lingered] == [b"record 1", b"record 2"]
    assert [r[3] for r in bounded] == [b"record 3"]
