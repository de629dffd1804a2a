"""Reading the ledger directly, with no Faust in the loop: ranges, chosen offsets, watermarks, whole topics.

confluent-kafka reads ranges (the worker fills a gap between its store and the consumer group's
position with it, `rebuild` and the audit commands re-fold the log); chosen offsets (`history`)
are read with Fetch requests of our own, many in flight (see FETCHES_IN_FLIGHT_MAX). Every
function here blocks; read_offsets runs an event loop of its own, so it cannot be called from one.
"""
from __future__ import annotations

import asyncio
import bisect
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


# Reading scattered offsets is one fetch per jump, and each fetch a round trip the broker answers
# in ~0.5-1 ms here. A consumer seeks and fetches one jump at a time (measured: 1.1-5 ms a jump with
# librdkafka, whose fetcher also waits on the fetch it is about to discard). read_offsets instead sends
# the Fetch requests itself, FETCHES_IN_FLIGHT_MAX of them outstanding on the leader's connection, so
# the broker works on the next while this process parses the last (1,000 jumps over a million records: ~5 s -> ~0.5 s).
FETCHES_IN_FLIGHT_MAX = 16
# The broker returns at least the whole batch holding the offset, however large (KIP-74): asking for
# little gets just that batch (measured, 1,000 jumps: 64 KiB ~740 ms, 16 KiB ~620, 1 KiB ~490).
FETCH_BYTES = 1024
# A wanted offset this close to the previous one is read through in the same run of fetches (one
# after another); farther ones start runs of their own, fetched side by side. A run's fetch returns
# one batch, so reading through far (measured: 256 records apart) costs round trips in a row where
# parallel fetches would have overlapped them: 1,000 offsets 250 apart took 790 ms in one run.
READ_THROUGH_MAX = 16
OFFSETS_TIMEOUT_S = 60.0
FETCH_ATTEMPTS_MAX = 5  # per fetch, on a retriable error (a leader moving), with fresh metadata between


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
        idle_polls, next_offset = 0, start
        while True:
            # no more than the range still holds: consume() waits its whole timeout for a fuller batch
            messages = consumer.consume(min(BATCH_MAX, end - next_offset), timeout=POLL_TIMEOUT_S)
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
                next_offset = offset + 1
    finally:
        consumer.close()


def read_offsets(bootstrap: str, topic: str, partition: int, offsets,
                 timeout_s: float = OFFSETS_TIMEOUT_S) -> Iterator[tuple[int, bytes | None, bytes | None, int]]:
    """Yield (offset, key, value, timestamp_ms) for each of `offsets` in one partition, in order.
    An offset the log does not hold (beyond its end, or gone) is left out: the caller compares
    what it got with what it asked for."""
    wanted = sorted(set(offsets))
    if not wanted:
        return
    try:
        found = asyncio.run(asyncio.wait_for(_fetch_offsets(bootstrap, topic, partition, wanted), timeout_s))
    except asyncio.TimeoutError:
        raise TimeoutError(f"{topic}[{partition}]: {len(wanted)} offsets not read within {timeout_s} s") from None
    for offset in wanted:
        if offset in found:
            yield (offset, *found[offset])


def _runs(wanted: list[int]) -> list[list[int]]:
    """The sorted offsets cut where the next is more than READ_THROUGH_MAX past the last."""
    runs = [[wanted[0]]]
    for offset in wanted[1:]:
        if offset - runs[-1][-1] > READ_THROUGH_MAX:
            runs.append([])
        runs[-1].append(offset)
    return runs


async def _fetch_offsets(bootstrap: str, topic: str, partition: int, wanted: list[int]
                         ) -> dict[int, tuple[bytes | None, bytes | None, int]]:
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(bootstrap_servers=bootstrap.split(","), client_id="credit-ledger-reader")
    await client.bootstrap()
    try:
        return await _fetch_with(client, topic, partition, wanted)
    finally:
        await client.close()


async def _fetch_with(client, topic: str, partition: int, wanted: list[int]
                      ) -> dict[int, tuple[bytes | None, bytes | None, int]]:
    from aiokafka import TopicPartition as Partition
    from aiokafka.errors import for_code
    from aiokafka.protocol.fetch import FetchRequest
    from aiokafka.record.memory_records import MemoryRecords

    found: dict[int, tuple[bytes | None, bytes | None, int]] = {}
    in_flight = asyncio.Semaphore(FETCHES_IN_FLIGHT_MAX)

    async def find_leader() -> int:
        for _ in range(FETCH_ATTEMPTS_MAX):
            node = client.cluster.leader_for_partition(Partition(topic, partition))
            if node is not None and node >= 0:
                return node
            await client.force_metadata_update()
        raise KafkaException(f"{topic}[{partition}] has no leader")

    await client.add_topic(topic)
    leader = [await find_leader()]

    async def fetch(position: int):
        """The partition's answer to one Fetch at `position`: (error code, high watermark, records)."""
        for attempt in range(FETCH_ATTEMPTS_MAX):
            request = FetchRequest(0, 1, FETCH_BYTES, 0, [(topic, [(partition, position, FETCH_BYTES)])])
            async with in_flight:
                response = await client.send(leader[0], request)
            answer = response.topics[0][1][0]  # (partition, error_code, high watermark, ..., records)
            error = for_code(answer[1]) if answer[1] else None
            if error is None or not error.retriable or attempt == FETCH_ATTEMPTS_MAX - 1:
                return answer[1], answer[2], answer[-1]
            await client.force_metadata_update()  # e.g. the leader moved
            leader[0] = await find_leader()

    async def read_run(run: list[int]) -> None:
        position, wanted_here = run[0], set(run)
        while position <= run[-1]:
            error_code, high, data = await fetch(position)
            if error_code == 1:  # OFFSET_OUT_OF_RANGE: past the end (or before the start): left out
                return
            if error_code:
                raise KafkaException(f"{topic}[{partition}] fetch at {position}: {for_code(error_code).__name__}")
            next_position = position
            records = MemoryRecords(data) if data else None
            while records is not None and (batch := records.next_batch()) is not None:
                if batch.base_offset > run[-1]:
                    break
                # only a batch holding a wanted offset is decompressed and read record by record
                i = bisect.bisect_left(run, max(position, batch.base_offset))
                if i < len(run) and run[i] < batch.next_offset:
                    for record in batch:
                        if record.offset in wanted_here:
                            found[record.offset] = (record.key, record.value, record.timestamp)
                next_position = max(next_position, batch.next_offset)
            if next_position <= position:
                return  # nothing more at or after `position`: the log ends (or holds no such records)
            position = next_position
            if position >= high:
                return

    await asyncio.gather(*(read_run(run) for run in _runs(wanted)))
    return found


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
