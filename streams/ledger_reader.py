"""Reading the ledger directly, with no Faust in the loop: ranges, chosen offsets, watermarks, whole topics.

Everything here is confluent-kafka (librdkafka): ranges and chosen offsets with a consumer that is
assigned the partition and seeks (`read_range`, `read_offsets`: the worker fills a gap between its
store and the consumer group's position, `rebuild` and the audit commands re-fold the log, `history
--scan` reads a subject's partition), the partitions' leaders with the client's metadata
(`leaders`), the log's start and end with its watermark query (`watermarks`) and a group's position
with `committed`. librdkafka checks each record batch's CRC (check.crcs) and decompresses every
codec a publisher may choose. Every function here blocks. Each takes where the brokers are and who
this process is to them as a KafkaAccess (streams/kafka_access.py; a bare bootstrap string is
PLAINTEXT), so the consumers authenticate (SASL/SCRAM, in TLS for SASL_SSL) and are held to their
principal's ACLs. A refusal no retry would mend (bad credentials, a certificate that does not
check, a topic the principal may not read) raises KafkaException at once.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streams.kafka_access import KafkaAccess, client_config, kafka_access

BATCH_MAX = 10_000  # messages per consume() call
POLL_TIMEOUT_S = 1.0
IDLE_POLLS_MAX = 30  # give up when a range stays incomplete this many polls in a row
COORDINATOR_ATTEMPTS_MAX = 40
METADATA_POLL_S = 0.5  # one metadata request's wait; asked again until the caller's timeout
OFFSETS_TIMEOUT_S = 60.0
# A wanted offset this close to the previous one is read through (the records between are consumed
# and dropped); farther ones are a seek each. A seek costs a fetch round trip and librdkafka's
# restart of its fetcher (~1-5 ms, docs/performance.md); reading through costs ~3 us a record.
READ_THROUGH_MAX = 256
# What one fetch asks for: the broker answers at least the batch holding the offset (KIP-74), so a
# seek's fetch is that batch and little more; a run read through fetches again as it goes.
FETCH_BYTES = 64 * 1024
# librdkafka's first backoff before a connection to a broker (100 ms by default) also holds back, for
# half of it, the connection to the broker the bootstrap's metadata names: a fresh client's first answer
# took ~64 ms (p50, loopback, SASL/SCRAM) with the default, ~22-29 ms with 10 ms. Later backoffs still
# double up to librdkafka's reconnect.backoff.max.ms (10 s), so a broker away is not hammered.
RECONNECT_BACKOFF_MS = 10
# How long the broker holds a fetch that finds nothing new (500 ms by default): a client that read to a
# partition's end and is moved to read again (`Session`) waits that long for the held fetch first.
SESSION_FETCH_WAIT_MS = 10
_COORDINATOR_NOT_READY = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
                          KafkaError.COORDINATOR_LOAD_IN_PROGRESS}
# what a client reports that no retry would mend: raised at once instead of polling on
_REFUSED = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError._AUTHENTICATION, KafkaError._SSL,
            KafkaError.SASL_AUTHENTICATION_FAILED}
_RETRIABLE_TOPIC = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.LEADER_NOT_AVAILABLE}  # e.g. a topic just created


class _Client:
    """A consumer never joined to its group, and the errors its background threads reported
    (librdkafka reports a refused login or certificate only to the error callback)."""

    def __init__(self, kafka: KafkaAccess | str, **overrides):
        self.access = kafka_access(kafka)
        self.errors: list[KafkaError] = []
        self.lock = threading.Lock()
        self.consumer = _consumer(kafka, error_cb=self._on_error, **overrides)

    def _on_error(self, error: KafkaError) -> None:
        with self.lock:
            self.errors.append(error)

    def raise_if_refused(self) -> None:
        with self.lock:
            refused = next((e for e in self.errors if e.code() in _REFUSED), None)
        if refused is None:
            return
        if refused.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
            raise KafkaException(KafkaError(refused.code(), f"SASL authentication of {self.access.username!r} "
                                                            f"failed: {refused.str()}"))
        raise KafkaException(refused)

    def last_error(self) -> str:
        """The last failure reported, a connection's own rather than the "all brokers are down" it led to."""
        with self.lock:
            errors = [e for e in self.errors if e.code() != KafkaError._ALL_BROKERS_DOWN] or self.errors
            return errors[-1].str() if errors else ""

    def close(self) -> None:
        self.consumer.close()


def _consumer(kafka: KafkaAccess | str, **overrides) -> Consumer:
    return Consumer(client_config(
        kafka,
        **{"group.id": f"credit-ledger-reader-{uuid.uuid4()}",  # never joined nor committed (ops/kafka_acls.py)
           "enable.auto.commit": False,
           "enable.partition.eof": True,
           "auto.offset.reset": "earliest",
           "fetch.max.bytes": 64 * 1024 * 1024,
           "check.crcs": True,  # a batch altered on the broker's disk or the wire raises, never decodes
           "reconnect.backoff.ms": RECONNECT_BACKOFF_MS,
           **overrides}))


def _partitions(client: _Client, topic: str, deadline: float, partition: int | None = None) -> dict:
    """{partition: its PartitionMetadata} of `topic` once it (or `partition`, when given) has a leader;
    raises KafkaException naming the topic and the last failure at `deadline`."""
    last_failure = ""
    while True:
        client.consumer.poll(0)  # serves the error callback: a refused login is reported there only
        client.raise_if_refused()
        try:
            metadata = client.consumer.list_topics(topic, timeout=min(METADATA_POLL_S, max(0.05, deadline - time.monotonic())))
        except KafkaException as error:  # no broker answered in time: why, as the error callback says it
            client.consumer.poll(0)
            metadata, last_failure = None, client.last_error() or str(error.args[0])
        if metadata is not None:
            found = metadata.topics.get(topic)
            error = found.error if found is not None else KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)
            if error is not None and error.code() not in _RETRIABLE_TOPIC:
                raise KafkaException(KafkaError(error.code(), f"{topic}: {error.name()} ({error.str()})"))
            partitions = found.partitions if error is None else {}
            waited_for = list(partitions.values()) if partition is None else [partitions.get(partition)]
            if partitions and all(p is not None and p.leader >= 0 for p in waited_for):
                return dict(sorted(partitions.items()))
            last_failure = (f"{topic}: {error.name()}" if error is not None
                            else f"{topic}[{partition}] has no leader" if partition is not None
                            else f"{topic} has partitions without a leader")
        if time.monotonic() > deadline:
            client.raise_if_refused()
            raise KafkaException(f"no leaders for {topic} from {client.access}: {last_failure}")
        time.sleep(0.1)


def leaders(kafka: KafkaAccess | str, topic: str, timeout_s: float = 10.0, partition: int | None = None
            ) -> dict[int, tuple[str, int] | None]:
    """{partition: its leader's (host, port), None while it has none} for every partition of `topic`.
    Waits (until `timeout_s`) for `partition` to be led, or every partition when None: a topic created
    a moment ago, or a partition whose leader moves, is served again within seconds."""
    client = _Client(kafka)
    try:
        partitions = _partitions(client, topic, time.monotonic() + timeout_s, partition)
        brokers = client.consumer.list_topics(topic, timeout=timeout_s).brokers
        return {p: ((brokers[m.leader].host, brokers[m.leader].port) if m.leader in brokers else None)
                for p, m in partitions.items()}
    finally:
        client.close()


def watermarks(kafka: KafkaAccess | str, topic: str, timeout_s: float = 10.0) -> dict[int, tuple[int, int]]:
    """{partition: (low, high)} for every partition of `topic`, the high watermark as consumers see it."""
    deadline = time.monotonic() + timeout_s
    client = _Client(kafka)
    try:
        return _watermarks(client, topic, deadline)
    finally:
        client.close()


def _watermarks(client: _Client, topic: str, deadline: float) -> dict[int, tuple[int, int]]:
    marks: dict[int, tuple[int, int]] = {}
    for partition in _partitions(client, topic, deadline):
        while partition not in marks:
            try:
                marks[partition] = client.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=max(0.1, deadline - time.monotonic()))
            except KafkaException as error:  # e.g. the leader moved since the metadata: asked again
                client.raise_if_refused()
                if time.monotonic() > deadline:
                    raise KafkaException(f"no watermarks for {topic}[{partition}] from {client.access}: "
                                         f"{error.args[0]}") from None
                time.sleep(0.1)
    return marks


def read_range(kafka: KafkaAccess | str, topic: str, partition: int, start: int, end: int,
               idle_polls_max: int = IDLE_POLLS_MAX) -> Iterator[tuple[int, bytes | None, bytes | None, int]]:
    """Yield (offset, key, value, timestamp_ms) for start <= offset < end of one partition; TimeoutError
    after `idle_polls_max` polls of POLL_TIMEOUT_S in a row that brought nothing (a broker away)."""
    if start >= end:
        return
    client = _Client(kafka)
    try:
        yield from _consume_range(client, topic, partition, start, end, idle_polls_max)
    finally:
        client.close()


class TopicReader:
    """The two reads the worker's parts make of a topic (its partitions' watermarks, a range of one
    partition), bound to who this process is to the brokers. A part is handed one (Worker.reader) rather
    than reaching for the brokers itself, so that its logic runs on an in-memory log in the unit tests
    (tests/driver.py, MemoryTopics) as on the real one. Blocking, as the functions it calls."""

    def __init__(self, kafka: KafkaAccess | str):
        self.kafka = kafka

    def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        return watermarks(self.kafka, topic)

    def read_range(self, topic: str, partition: int, start: int, end: int, idle_polls_max: int = IDLE_POLLS_MAX
                   ) -> Iterator[tuple[int, bytes | None, bytes | None, int]]:
        return read_range(self.kafka, topic, partition, start, end, idle_polls_max)


class Session:
    """Several questions on one client, which costs its connections and logins once (a fresh client logs
    in twice, to the bootstrap and to the broker it names, ~25-35 ms to its first answer here): `history`
    asks for the partitions of two topics and the newest digests so. A context manager; blocking."""

    def __init__(self, kafka: KafkaAccess | str, timeout_s: float = 10.0):
        self.client, self.timeout_s = _Client(kafka, **{"fetch.wait.max.ms": SESSION_FETCH_WAIT_MS}), timeout_s
        self._led: dict[str, dict] = {}  # topic -> its partitions, once each was led: one metadata request a topic

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()

    def partition_count(self, topic: str) -> int:
        """How many partitions `topic` has (waiting, as `leaders`, until each is led)."""
        return len(self._partitions(topic, time.monotonic() + self.timeout_s))

    def _partitions(self, topic: str, deadline: float) -> dict:
        if topic not in self._led:  # a leader that moves later is librdkafka's to follow
            self._led[topic] = _partitions(self.client, topic, deadline)
        return self._led[topic]

    def read_last(self, topic: str, partition: int, count: int) -> list[tuple[int, bytes | None, bytes | None, int]]:
        """The last `count` records of one partition (fewer when it holds fewer), oldest first."""
        if not 1 <= count <= BATCH_MAX * 100:
            raise ValueError(f"count must be 1..{BATCH_MAX * 100}")
        deadline = time.monotonic() + self.timeout_s
        if partition not in self._partitions(topic, deadline):
            raise ValueError(f"{topic} has no partition {partition}")
        low, high = self.client.consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=max(0.1, deadline - time.monotonic()))
        try:
            return list(_consume_range(self.client, topic, partition, max(low, high - count), high))
        finally:  # no fetches at the partition's end while the session waits for its next question
            self.client.consumer.unassign()


def _consume_range(client: _Client, topic: str, partition: int, start: int, end: int,
                   idle_polls_max: int = IDLE_POLLS_MAX) -> Iterator[tuple[int, bytes | None, bytes | None, int]]:
    if start >= end:
        return
    client.consumer.assign([TopicPartition(topic, partition, start)])
    idle_polls, next_offset = 0, start
    while True:
        # no more than the range still holds: consume() waits its whole timeout for a fuller batch
        messages = client.consumer.consume(min(BATCH_MAX, end - next_offset), timeout=POLL_TIMEOUT_S)
        idle_polls = 0 if messages else idle_polls + 1
        if idle_polls == 1:
            _raise_if_refused(client, topic)  # an assignment of a topic not ours to read only stays idle
        if idle_polls > idle_polls_max:
            raise TimeoutError(f"{topic}[{partition}] stopped before offset {end}")
        for message in messages:
            if message.error() is not None:
                if message.error().code() in _REFUSED:  # no retry makes it readable
                    raise KafkaException(message.error())
                continue  # partition EOF; keep polling until `end`
            offset = message.offset()
            if offset >= end:
                return
            yield offset, message.key(), message.value(), message.timestamp()[1]
            if offset == end - 1:
                return
            next_offset = offset + 1


def _raise_if_refused(client: _Client, topic: str) -> None:
    client.raise_if_refused()
    try:
        error = client.consumer.list_topics(topic, timeout=POLL_TIMEOUT_S * 5).topics[topic].error
    except KafkaException:
        return  # the broker is away: the idle polls tell
    if error is not None and error.code() in _REFUSED:
        raise KafkaException(error)


def read_offsets(kafka: KafkaAccess | str, topic: str, partition: int, offsets,
                 timeout_s: float = OFFSETS_TIMEOUT_S) -> Iterator[tuple[int, bytes | None, bytes | None, int]]:
    """Yield (offset, key, value, timestamp_ms) for each of `offsets` in one partition, in order.
    An offset the log does not hold (beyond its end, or gone) is left out: the caller compares
    what it got with what it asked for. Records are yielded as they arrive."""
    wanted = sorted(set(offsets))
    if not wanted:
        return
    deadline = time.monotonic() + timeout_s
    client = _Client(kafka, **{"max.partition.fetch.bytes": FETCH_BYTES, "fetch.wait.max.ms": 10})
    try:
        _partitions(client, topic, deadline, partition)
        low, high = client.consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=max(0.1, deadline - time.monotonic()))
        held = [offset for offset in wanted if low <= offset < high]
        if held:
            client.consumer.assign([TopicPartition(topic, partition, held[0])])
        for number, run in enumerate(_runs(held) if held else []):
            yield from _read_run(client, topic, partition, run, deadline, seek=number > 0)
    finally:
        client.close()


def _runs(wanted: list[int]) -> list[list[int]]:
    """The sorted offsets cut where the next is more than READ_THROUGH_MAX past the last."""
    runs = [[wanted[0]]]
    for offset in wanted[1:]:
        if offset - runs[-1][-1] > READ_THROUGH_MAX:
            runs.append([])
        runs[-1].append(offset)
    return runs


def _read_run(client: _Client, topic: str, partition: int, run: list[int], deadline: float, seek: bool
              ) -> Iterator[tuple[int, bytes | None, bytes | None, int]]:
    """The records of `run` (offsets close together, all below the high watermark): the consumer
    moved to its first (`seek`: it was assigned elsewhere), then consumed through its last."""
    if seek:
        client.consumer.seek(TopicPartition(topic, partition, run[0]))
    wanted, position, last = set(run), run[0], run[-1]
    while position <= last:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic}[{partition}]: the offsets were not read in time")
        messages = client.consumer.consume(min(BATCH_MAX, last - position + 1), timeout=POLL_TIMEOUT_S)
        if not messages:
            _raise_if_refused(client, topic)
        for message in messages:
            if message.error() is not None:
                if message.error().code() == KafkaError._PARTITION_EOF:
                    return  # the log ends before the run does (truncated meanwhile): the rest is left out
                if message.error().code() in _REFUSED:
                    raise KafkaException(message.error())
                continue
            offset = message.offset()
            position = offset + 1
            if offset in wanted:
                yield offset, message.key(), message.value(), message.timestamp()[1]
            if offset >= last:
                return


def read_topic(kafka: KafkaAccess | str, topic: str) -> Iterator[tuple[int, int, bytes | None, bytes | None, int]]:
    """Yield (partition, offset, key, value, timestamp_ms) of everything in `topic` now."""
    for partition, (low, high) in watermarks(kafka, topic).items():
        for offset, key, value, ts in read_range(kafka, topic, partition, low, high):
            yield partition, offset, key, value, ts


def committed_offsets(kafka: KafkaAccess | str, group_id: str, topic: str, timeout_s: float = 10.0) -> dict[int, int]:
    """{partition: next offset} the consumer group has committed (partitions with none are left out)."""
    consumer = Consumer(client_config(kafka, **{"group.id": group_id, "enable.auto.commit": False}))
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
