"""What the ledger agent writes for a batch (GradeChanged records, rejections), through librdkafka.

Faust's Topic.send costs about 150 µs of the event loop per record (its channel and future
machinery, then aiokafka's sender in Python): with a grade change for most events, that was a
fifth of the worker's time. confluent-kafka takes a record in a few µs and sends it from its own
threads; the agent then waits, off the event loop, until the broker has every record of the batch
(acks=all, idempotent), before the store moves past the batch's offsets.
"""
from __future__ import annotations

import asyncio

from confluent_kafka import KafkaError, Producer

DELIVERY_TIMEOUT_MS = 120_000  # librdkafka retries this long (a broker restart) before a record fails
QUEUE_RECORDS_MAX = 100_000  # records awaiting delivery; a batch holds at most a few thousand
FLUSH_TIMEOUT_S = DELIVERY_TIMEOUT_MS / 1000 + 10


# Every producer of the ledger's records: acknowledged by every in-sync replica, never duplicated by a
# retry, and partitioned as the Java client and Faust do, so one key lands on one partition whoever writes it.
IDEMPOTENT_PRODUCER = {"acks": "all", "enable.idempotence": True, "partitioner": "murmur2_random"}


class DeliveryError(RuntimeError):
    """A record of the batch was not acknowledged: the batch must not be committed."""


class BatchProducer:
    def __init__(self, bootstrap: str):
        self._producer = Producer({
            "bootstrap.servers": bootstrap, **IDEMPOTENT_PRODUCER, "delivery.timeout.ms": DELIVERY_TIMEOUT_MS,
            "linger.ms": 2, "queue.buffering.max.messages": QUEUE_RECORDS_MAX,
        })
        self._failures: list[str] = []

    def produce(self, topic: str, key: bytes | None, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=self._delivered)
                return
            except BufferError:  # the queue is full: let deliveries drain it
                self._producer.poll(0.05)

    def _delivered(self, error: KafkaError | None, _message) -> None:
        if error is not None:
            self._failures.append(f"{error.name()}: {error.str()}")

    async def delivered(self) -> None:
        """Wait until the broker has acknowledged every record produced so far; raises DeliveryError."""
        remaining = await asyncio.get_running_loop().run_in_executor(None, self._producer.flush, FLUSH_TIMEOUT_S)
        failures, self._failures = self._failures, []
        if remaining or failures:
            raise DeliveryError(f"{remaining} records unconfirmed, {len(failures)} failed"
                                + (f": {failures[0]}" if failures else ""))

    def close(self) -> None:
        self._producer.flush(FLUSH_TIMEOUT_S)
