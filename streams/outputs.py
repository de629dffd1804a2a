"""What the ledger fold writes for a batch (GradeChanged records, rejections), through librdkafka.

Faust's Topic.send costs about 150 µs of the event loop per record (its channel and future
machinery, then aiokafka's sender in Python): with a grade change for most events, that was a
fifth of the worker's time. confluent-kafka takes a record in a few µs and sends it from its own
threads; the fold then waits, off the event loop, until the broker has every record of the batch
(acks=all, idempotent), before the store moves past the batch's offsets.

A batch whose records are not all acknowledged in time is sent again, whole, by a new producer:
after a broker restart a librdkafka producer was seen to hold its records until they timed out
although the broker was back (seen in 2 of about a dozen broker-restart test runs, both with the
CPU loaded). A record sent twice is what at-least-once allows on these topics; a fold that waited
for ever would not be.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import threading

from confluent_kafka import KafkaError, KafkaException, Producer

from streams.kafka_access import KafkaAccess, client_config

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_MS = 30_000  # librdkafka retries this long (a broker restart) before a record fails
DELIVERY_ATTEMPTS_MAX = 4  # producers that try a batch before the worker gives up (2 minutes)
QUEUE_RECORDS_MAX = 100_000  # records awaiting delivery; a batch holds at most a few thousand
FLUSH_GRACE_S = 10.0  # a flush waits this much longer than a record's delivery timeout


# Every producer of the ledger's records: acknowledged by every in-sync replica, never duplicated by a
# retry, and partitioned as the Java client and Faust do, so one key lands on one partition whoever writes it.
IDEMPOTENT_PRODUCER = {"acks": "all", "enable.idempotence": True, "partitioner": "murmur2_random"}


class DeliveryError(RuntimeError):
    """A record of the batch was not acknowledged: the batch must not be committed."""


class BatchProducer:
    def __init__(self, kafka: KafkaAccess | str, delivery_timeout_ms: int = DELIVERY_TIMEOUT_MS,
                 attempts_max: int = DELIVERY_ATTEMPTS_MAX):
        self._config = client_config(kafka, **IDEMPOTENT_PRODUCER, **{
            "delivery.timeout.ms": delivery_timeout_ms, "linger.ms": 2,
            "queue.buffering.max.messages": QUEUE_RECORDS_MAX})
        self._flush_timeout_s = delivery_timeout_ms / 1000 + FLUSH_GRACE_S
        self._attempts_max = attempts_max
        self._producer = Producer(self._config)
        self._failures: list[str] = []
        self._batch: list[tuple[str, bytes | None, bytes]] = []  # produced since the last delivered()

    def produce(self, topic: str, key: bytes | None, value: bytes) -> None:
        self._batch.append((topic, key, value))
        self._send(topic, key, value)

    def _send(self, topic: str, key: bytes | None, value: bytes) -> None:
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
        """Wait until the broker has acknowledged every record produced since the last call; raises
        DeliveryError when `attempts_max` producers in a row could not deliver them."""
        for attempt in range(1, self._attempts_max + 1):
            try:
                remaining = await asyncio.get_running_loop().run_in_executor(None, self._producer.flush,
                                                                             self._flush_timeout_s)
            except KafkaException as error:  # a fatal error (e.g. refused before the broker's ACLs were
                remaining = len(self._batch)  # in place): this producer is done, the next one sends again
                self._failures.append(str(error))
            failures, self._failures = self._failures, []
            if not remaining and not failures:
                self._batch = []
                return
            problem = (f"{remaining} records unconfirmed, {len(failures)} failed"
                       + (f": {failures[0]}" if failures else ""))
            if attempt == self._attempts_max:
                raise DeliveryError(problem)
            log.warning("outputs of a batch: %s; a new producer sends all %d again (attempt %d of %d)",
                        problem, len(self._batch), attempt + 1, self._attempts_max)
            try:
                self._producer.purge()  # what it still holds fails at once instead of arriving late, twice
                self._producer.flush(0)
            except KafkaException:  # a producer in a fatal state refuses these too: it is dropped anyway
                pass
            self._failures = []
            self._producer = Producer(self._config)
            for record in self._batch:
                self._send(*record)

    def close(self) -> None:
        self._producer.flush(self._flush_timeout_s)


EDGE_DELIVERY_TIMEOUT_MS = 60_000  # a broker restarting on a loaded host was away 25-35 s
EDGE_POLL_S = 0.05  # how long the delivery thread waits in librdkafka's poll at a time
EDGE_CLOSE_TIMEOUT_S = 10.0


class EdgeProducer:
    """The worker's writes to credit.events (the edge's events, the timers' and the erasure's system events)
    and the edge's to credit.rejected for what it refuses: librdkafka, acks=all and idempotent like every
    producer of the ledger's records, each record's delivery an asyncio future, so that a request answers
    once the broker has every record it wrote. (The timers' events through Faust's producer cost the main
    process ~650 µs of CPU each, fired and folded, against ~300 through this one: docs/performance.md.)

        future = edge.produce(topic, key, value)      # on the event loop; BufferError when full
        partition, offset = await future              # DeliveryError when not acknowledged in time

    A thread serves librdkafka's delivery reports and hands them to the loop that produced them. A
    record not acknowledged within delivery_timeout_ms fails with DeliveryError: the edge answers
    503 for it and the publisher sends it again (same event id: the fold applies it once)."""

    def __init__(self, kafka: KafkaAccess | str, delivery_timeout_ms: int = EDGE_DELIVERY_TIMEOUT_MS):
        self._producer = Producer(client_config(kafka, **IDEMPOTENT_PRODUCER, **{
            "delivery.timeout.ms": delivery_timeout_ms, "linger.ms": 2,
            "queue.buffering.max.messages": QUEUE_RECORDS_MAX}))
        self._settled: list[tuple[asyncio.Future, object]] = []  # delivery reports not yet handed to the loop
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve_deliveries, name="edge-deliveries", daemon=True)
        self._thread.start()

    def produce(self, topic: str, key: bytes | None, value: bytes) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._producer.produce(topic, value=value, key=key, on_delivery=functools.partial(self._delivered, future))
        return future

    def _delivered(self, future: asyncio.Future, error: KafkaError | None, message) -> None:
        """In the delivery thread, inside poll(): noted, handed to the loop once the poll is done."""
        outcome = (DeliveryError(f"{error.name()}: {error.str()}") if error is not None
                   else (message.partition(), message.offset()))
        self._settled.append((future, outcome))

    def _serve_deliveries(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(EDGE_POLL_S)
            if self._settled:  # one wake-up of the loop for all the reports of a poll, not one each
                settled, self._settled = self._settled, []
                try:
                    settled[0][0].get_loop().call_soon_threadsafe(_settle, settled)
                except RuntimeError:  # the loop is closed: the worker is stopping, nobody waits any more
                    pass

    def close(self) -> None:
        self._closing.set()
        self._thread.join(EDGE_CLOSE_TIMEOUT_S)
        self._producer.flush(EDGE_CLOSE_TIMEOUT_S)


def _settle(settled: list[tuple[asyncio.Future, object]]) -> None:
    for future, outcome in settled:
        if future.done():  # its request went away (the client disconnected)
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
