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
