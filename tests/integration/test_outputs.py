"""The worker's outputs (GradeChanged records, rejections): a batch the broker did not acknowledge
in time is sent again, whole, by a new producer, and lands once the broker is there; after its
last attempt the producer gives up with DeliveryError, which stops the worker before its store
moves past the batch."""
from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from ops.embedded_kafka import free_port
from streams import ledger_reader, topics
from streams.outputs import BatchProducer, DeliveryError
from streams.topics import ensure_topics
from tests.helpers import kafka_access, test_broker

pytestmark = pytest.mark.kafka


def test_a_batch_not_acknowledged_in_time_is_sent_again_and_lands_once_the_broker_is_up(tmp_path, caplog):
    broker = test_broker(tmp_path / "kafka", port=free_port())  # not started yet
    outputs = BatchProducer(kafka_access(broker.bootstrap), delivery_timeout_ms=2_000, attempts_max=60)
    values = [f"grade change {i}".encode() for i in range(5)]

    for value in values:
        outputs.produce(topics.GRADES, b"91440300MA5FXXXX0X", value)
    outcome: list = []
    # delivered() waits on a thread of its own; the broker is started from this one (it dies with
    # the thread that started it)
    delivering = threading.Thread(target=lambda: outcome.append(asyncio.run(outputs.delivered())))
    try:
        with caplog.at_level(logging.WARNING, logger="streams.outputs"):
            delivering.start()
            time.sleep(3.0)  # the first producer's records have timed out by now
            assert delivering.is_alive()
            broker.start()
            delivering.join(120)
        assert outcome == [None], "delivered() did not return"
        ensure_topics(broker.admin_access)
        landed = [value for *_, value, _ in ledger_reader.read_topic(kafka_access(broker.bootstrap), topics.GRADES)]
    finally:
        broker.stop()
    assert set(landed) == set(values)  # every record, perhaps more than once (at-least-once)
    assert any("a new producer sends all 5 again" in r.getMessage() for r in caplog.records)


def test_a_batch_that_cannot_be_delivered_fails_after_the_last_attempt(tmp_path):
    nowhere = f"127.0.0.1:{free_port()}"  # no broker listens there
    outputs = BatchProducer(nowhere, delivery_timeout_ms=1_000, attempts_max=2)
    outputs.produce(topics.GRADES, b"subject", b"a grade change")
    began = time.monotonic()
    with pytest.raises(DeliveryError, match="1 failed"):
        asyncio.run(outputs.delivered())
    assert time.monotonic() - began < 30  # two short attempts, not the default two minutes
