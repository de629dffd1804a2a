"""Reading the ledger directly with confluent-kafka: ranges, watermarks, whole topics.

This is the fast path with no Faust in the loop: the worker uses it to fill a
gap between its store and the consumer group's position, `rebuild` and the
audit commands use it to re-fold the log.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

BATCH_MAX = 10_000  # messages per consume() call
POLL_TIMEOUT_S = 1.0
IDLE_POLLS_MAX = 30
COORDINATOR_ATTEMPTS_MAX = 40
_COORDINATOR_NOT_READY = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
                          KafkaError.COORDINATOR_LOAD_IN_PROGRESS}
_LEADER_NOT_READY = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                     KafkaError.UNKNOWN_TOPIC_OR_PART}  # give up when a range stays incomplete this many polls in a row


def _consumer(bootstrap: str, **overrides) -> Consumer:
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"credit-ledger-reader-{uuid.uuid4()}",  # never committed
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "fetch.max.bytes": 64 * 1024 * 1024,
        **overrides,
    })


# Reading scattered offsets is one fetch per jump: answer each at once rather than after the
# broker's default 500 ms wait for more data, re-fetch at once after a seek, fetch about one batch,
# not a megabyte of records to throw away (a lone record in 10-30 ms, not 120-250), and do not
# prefetch past what is queued, so a seek never waits for a fetch it will discard (measured:
# ~0.8 ms a seek instead of ~1.1).
SEEKING = {"fetch.wait.max.ms": 5, "fetch.queue.backoff.ms": 0, "max.partition.fetch.bytes": 64 * 1024,
           "queued.min.messages": 1}
# A wanted offset this close to the last one read is read through, not sought: reading a record
# costs ~4 us, a seek ~1-3 ms (one more round trip and a batch to decompress).
READ_THROUGH_MAX = 256
OFFSETS_TIMEOUT_S = 60.0


def watermarks(bootstrap: str, topic: str, timeout_s: float = 10.0) -> dict[int, tuple[int, int]]:
    """{partition: (low, high)} for every partition of `topic`."""
    consumer = _consumer(bootstrap)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                metadata = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
                if metadata.error is not None:
                    raise KafkaException(metadata.error)
                return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
                        for p in sorted(metadata.partitions)}
            except KafkaException as error:
                # a topic created a moment ago may not be served by its leader yet: retriable
                if error.args[0].code() not in _LEADER_NOT_READY or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()


def read_range(bootstrap: str, topic: str, partition: int, start: int, end: int
               ) -> Iterator[tuple[int, bytes | None, bytes | None, int]]:
    """Yield (offset, key, value, timestamp_ms) for start <= offset < end of one partition."""
    if start >= end:
        return
    consumer = _consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(topic, partition, start)])
        idle_polls = 0
        while True:
            messages = consumer.consume(BATCH_MAX, timeout=POLL_TIMEOUT_S)
            idle_polls = 0 if messages else idle_polls + 1
            if idle_polls > IDLE_POLLS_MAX:
                raise TimeoutError(f"{topic}[{partition}] stopped before offset {end}")
            for message in messages:
                if message.error() is not None:
                    continue  # partition EOF; keep polling until `end`
                offset = message.offset()
                if offset >= end:
                    return
                yield offset, message.key(), message.value(), message.timestamp()[1]
                if offset == end - 1:
                    return
    finally:
        consumer.close()


def read_offsets(bootstrap: str, topic: str, partition: int, offsets,
                 timeout_s: float = OFFSETS_TIMEOUT_S) -> Iterator[tuple[int, bytes | None, bytes | None, int]]:
    """Yield (offset, key, value, timestamp_ms) for each of `offsets` in one partition, in order,
    with one consumer that seeks from one to the next. An offset the log does not hold (beyond its
    end, or gone) is left out: the caller compares what it got with what it asked for."""
    wanted = sorted(set(offsets))
    if not wanted:
        return
    consumer = _consumer(bootstrap, **SEEKING)
    deadline = time.monotonic() + timeout_s
    try:
        consumer.assign([TopicPartition(topic, partition, wanted[0])])
        i, last_read = 0, wanted[0] - 1
        while i < len(wanted):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}[{partition}]: offset {wanted[i]} not read within {timeout_s} s")
            message = consumer.poll(POLL_TIMEOUT_S)
            if message is None:
                continue
            if message.error() is not None:
                if message.error().code() == KafkaError._PARTITION_EOF and message.offset() <= wanted[i]:
                    return  # the log ends before the offsets still wanted
                continue
            offset = message.offset()
            if offset < last_read + 1 or offset < wanted[i]:
                continue  # read through to the next wanted offset (or a stale fetch from before a seek)
            while i < len(wanted) and wanted[i] < offset:
                i += 1  # the log skipped it (never written, or removed): left out
            if i < len(wanted) and wanted[i] == offset:
                yield offset, message.key(), message.value(), message.timestamp()[1]
                i += 1
            last_read = offset
            if i < len(wanted) and wanted[i] - offset > READ_THROUGH_MAX:
                _seek(consumer, TopicPartition(topic, partition, wanted[i]))
    finally:
        consumer.close()


def _seek(consumer: Consumer, position: TopicPartition) -> None:
    try:
        consumer.seek(position)
    except KafkaException:
        consumer.assign([position])  # not fetching yet (seek needs an active fetcher): start there


def read_topic(bootstrap: str, topic: str) -> Iterator[tuple[int, int, bytes | None, bytes | None, int]]:
    """Yield (partition, offset, key, value, timestamp_ms) of everything in `topic` now."""
    for partition, (low, high) in watermarks(bootstrap, topic).items():
        for offset, key, value, ts in read_range(bootstrap, topic, partition, low, high):
            yield partition, offset, key, value, ts



def committed_offsets(bootstrap: str, group_id: str, topic: str, timeout_s: float = 10.0) -> dict[int, int]:
    """{partition: next offset} the consumer group has committed (partitions with none are left out)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id, "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions
        for attempt in range(COORDINATOR_ATTEMPTS_MAX):
            try:
                committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=timeout_s)
                return {tp.partition: tp.offset for tp in committed if tp.offset >= 0}
            except KafkaException as error:
                # a young broker is still electing the group coordinator: retriable
                code = error.args[0].code()
                if code not in _COORDINATOR_NOT_READY or attempt == COORDINATOR_ATTEMPTS_MAX - 1:
                    raise
                time.sleep(0.5)
        raise AssertionError("unreachable")
    finally:
        consumer.close()
