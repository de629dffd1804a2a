"""Reading the ledger directly, with no Faust in the loop: ranges, chosen offsets, watermarks, whole topics.

confluent-kafka reads ranges (the worker fills a gap between its store and the consumer group's
position with it, `rebuild` and the audit commands re-fold the log); chosen offsets (`history`)
are read with Fetch requests of our own, many in flight (see FETCHES_IN_FLIGHT_MAX), and the
partitions' leaders (`leaders`) and the watermarks with Metadata and ListOffsets requests of our own.
Every function here blocks. Each takes where the brokers are and who this process is to them as a
KafkaAccess (streams/kafka_access.py; a bare bootstrap string is PLAINTEXT): the consumers get their
configuration from it, and the sockets of our own authenticate on it (SASL/SCRAM, in TLS for SASL_SSL).
"""
from __future__ import annotations

import bisect
import collections
import gzip
import ssl
import struct
import time
import uuid
from collections.abc import Iterator

import cramjam  # lz4 and zstd record batches, as the Kafka client libraries decompress them
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streams import kafka_access
from streams.avro_decoder import read_long  # a record's fields are zig-zag varints, as Avro's longs
from streams.kafka_access import KafkaAccess, client_config
from streams.kafka_sasl import SaslError

BATCH_MAX = 10_000  # messages per consume() call
POLL_TIMEOUT_S = 1.0
IDLE_POLLS_MAX = 30  # give up when a range stays incomplete this many polls in a row
COORDINATOR_ATTEMPTS_MAX = 40
_COORDINATOR_NOT_READY = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
                          KafkaError.COORDINATOR_LOAD_IN_PROGRESS}


def _consumer(kafka: KafkaAccess | str, **overrides) -> Consumer:
    return Consumer(client_config(
        kafka,
        **{"group.id": f"credit-ledger-reader-{uuid.uuid4()}",  # never joined nor committed (ops/kafka_acls.py)
           "enable.auto.commit": False,
           "enable.partition.eof": True,
           "auto.offset.reset": "earliest",
           "fetch.max.bytes": 64 * 1024 * 1024,
           **overrides}))


# Reading scattered offsets is one fetch per jump, and each fetch a round trip the broker answers
# in ~0.5-1 ms here. A consumer seeks and fetches one jump at a time (measured: 1.1-5 ms a jump with
# librdkafka, whose fetcher also waits on the fetch it is about to discard). read_offsets instead sends
# Fetch requests itself on one socket to the partition's leader, FETCHES_IN_FLIGHT_MAX of them
# outstanding, so the broker works on the next while this process reads the last. The wire format
# is parsed here with struct, and only up to the wanted records of a batch: with a general Kafka
# client library's request machinery and record objects, this process spent ~360 us a fetch, most
# of the read (measured: 1,000 jumps over 500,000 records, 64 KiB lz4 batches).
FETCHES_IN_FLIGHT_MAX = 32  # sent 16 at a time, in one write, as the oldest half is answered
# The broker returns at least the whole batch holding the offset, however large (KIP-74): asking for
# little gets just that batch (measured, 1,000 jumps: 64 KiB ~740 ms, 16 KiB ~620, 1 KiB ~490).
FETCH_BYTES = 1024
# ...but a run that goes on past the batch its first fetch returned is read through, so its later
# fetches ask for many batches at once (measured, a 15,000-record partition read through: 66 round
# trips of one batch each, ~2.4 ms apiece here).
READ_THROUGH_BYTES = 512 * 1024
# A wanted offset this close to the previous one is read through in the same run of fetches (one
# after another); farther ones start runs of their own, fetched side by side. A run's fetch returns
# one batch, so reading through far (measured: 256 records apart) costs round trips in a row where
# parallel fetches would have overlapped them: 1,000 offsets 250 apart took 790 ms in one run.
READ_THROUGH_MAX = 16
OFFSETS_TIMEOUT_S = 60.0
FETCH_ATTEMPTS_MAX = 5  # reconnections to a (new) leader on a retriable error, per read_offsets call
RESPONSE_BYTES_MAX = 64 * 1024 * 1024  # what a Fetch response may claim before it is taken for garbage
CLIENT_ID = b"credit-ledger-reader"


def watermarks(kafka: KafkaAccess | str, topic: str, timeout_s: float = 10.0) -> dict[int, tuple[int, int]]:
    """{partition: (low, high)} for every partition of `topic`, the high watermark as consumers see it.

    With ListOffsets requests of our own, one socket to each leader: a librdkafka client built for
    the question took ~60 ms, and the worker asks every second (readiness, the lag gauges)."""
    deadline = time.monotonic() + timeout_s
    while True:
        by_leader: dict[tuple[str, int], list[int]] = {}
        for partition, address in leaders(kafka, topic, max(0.1, deadline - time.monotonic())).items():
            by_leader.setdefault(address, []).append(partition)
        marks, last_failure = {}, ""
        for address, partitions in by_leader.items():
            try:
                answers = _ask_list_offsets(kafka, address, topic, partitions, deadline)
            except OSError as error:  # the leader went away since the Metadata answer: ask again
                last_failure = f"{address[0]}:{address[1]}: {error}"
                continue
            for partition, (error_code, low, high) in answers.items():
                if error_code in _LEADER_MOVED:  # e.g. a topic created a moment ago: retriable
                    last_failure = f"{topic}[{partition}]: {KafkaError(error_code).name()}"
                elif error_code:
                    raise KafkaException(f"{topic}[{partition}] offsets: {KafkaError(error_code).name()} ({error_code})")
                else:
                    marks[partition] = (low, high)
        if marks.keys() == {p for partitions in by_leader.values() for p in partitions}:
            return dict(sorted(marks.items()))
        if time.monotonic() > deadline:
            raise KafkaException(f"no watermarks for {topic} from {kafka}: {last_failure}")
        time.sleep(0.2)


def read_range(kafka: KafkaAccess | str, topic: str, partition: int, start: int, end: int
               ) -> Iterator[tuple[int, bytes | None, bytes | None, int]]:
    """Yield (offset, key, value, timestamp_ms) for start <= offset < end of one partition."""
    if start >= end:
        return
    consumer = _consumer(kafka)
    try:
        consumer.assign([TopicPartition(topic, partition, start)])
        idle_polls, next_offset = 0, start
        while True:
            # no more than the range still holds: consume() waits its whole timeout for a fuller batch
            messages = consumer.consume(min(BATCH_MAX, end - next_offset), timeout=POLL_TIMEOUT_S)
            idle_polls = 0 if messages else idle_polls + 1
            if idle_polls == 1:
                _raise_if_refused(consumer, topic)  # an assignment of a topic not ours to read only stays idle
            if idle_polls > IDLE_POLLS_MAX:
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
    finally:
        consumer.close()


def read_offsets(kafka: KafkaAccess | str, topic: str, partition: int, offsets,
                 timeout_s: float = OFFSETS_TIMEOUT_S) -> Iterator[tuple[int, bytes | None, bytes | None, int]]:
    """Yield (offset, key, value, timestamp_ms) for each of `offsets` in one partition, in order.
    An offset the log does not hold (beyond its end, or gone) is left out: the caller compares
    what it got with what it asked for. Records are yielded as they arrive, in order, while the
    fetches after them are in flight."""
    wanted = sorted(set(offsets))
    if wanted:
        yield from _fetch_offsets(kafka, topic, partition, wanted, time.monotonic() + timeout_s)


def _runs(wanted: list[int]) -> list[list[int]]:
    """The sorted offsets cut where the next is more than READ_THROUGH_MAX past the last."""
    runs = [[wanted[0]]]
    for offset in wanted[1:]:
        if offset - runs[-1][-1] > READ_THROUGH_MAX:
            runs.append([])
        runs[-1].append(offset)
    return runs


class _Run:
    """Wanted offsets close together, fetched one batch after another from `position`."""
    __slots__ = ("offsets", "position", "done", "fetch_bytes")

    def __init__(self, offsets: list[int]):
        self.offsets, self.position, self.done, self.fetch_bytes = offsets, offsets[0], False, FETCH_BYTES


def _fetch_offsets(kafka: KafkaAccess | str, topic: str, partition: int, wanted: list[int], deadline: float
                   ) -> Iterator[tuple[int, bytes | None, bytes | None, int]]:
    found: dict[int, tuple[bytes | None, bytes | None, int]] = {}  # read, not yet yielded
    runs = [_Run(run) for run in _runs(wanted)]
    waiting = collections.deque(runs)  # runs with no fetch in flight
    in_flight: collections.deque[_Run] = collections.deque()  # in the order their answers come
    settled, next_in_run = 0, 0  # runs[:settled] are yielded, and runs[settled].offsets[:next_in_run]
    attempts = 0
    leader = _LeaderConnection(kafka, topic, partition, deadline)
    try:
        while waiting or in_flight:
            if len(in_flight) <= FETCHES_IN_FLIGHT_MAX // 2:  # refilled by halves: one write, many requests
                fetches = []
                while waiting and len(in_flight) < FETCHES_IN_FLIGHT_MAX:
                    run = waiting.popleft()
                    fetches.append((run.position, run.fetch_bytes))
                    in_flight.append(run)
                leader.send_fetches(fetches)
            run = in_flight.popleft()
            error_code, high, records = leader.receive_fetch()
            if error_code in _LEADER_MOVED and attempts < FETCH_ATTEMPTS_MAX:
                attempts += 1  # e.g. the leader moved: every answer still due on this socket is void
                waiting.extendleft(reversed([run, *in_flight]))
                in_flight.clear()
                leader.close()
                time.sleep(0.2 * attempts)
                leader = _LeaderConnection(kafka, topic, partition, deadline)
                continue
            if error_code and error_code != _OFFSET_OUT_OF_RANGE:  # out of range: past the end, left out
                raise KafkaException(f"{topic}[{partition}] fetch at {run.position}: "
                                     f"{KafkaError(error_code).name()} ({error_code})")
            next_position = run.position if error_code else _take_wanted(records, run, found)
            if next_position > run.position and next_position < high and next_position <= run.offsets[-1]:
                run.position, run.fetch_bytes = next_position, READ_THROUGH_BYTES
                waiting.append(run)
            else:
                run.done = True
            while settled < len(runs):  # yield, in order, what no fetch still to come can change
                offsets, done = runs[settled].offsets, runs[settled].done
                while next_in_run < len(offsets) and (done or offsets[next_in_run] in found):
                    offset = offsets[next_in_run]
                    next_in_run += 1
                    if offset in found:
                        yield (offset, *found.pop(offset))
                if next_in_run < len(offsets):
                    break
                settled, next_in_run = settled + 1, 0
    finally:
        leader.close()


_OFFSET_OUT_OF_RANGE = 1
_LEADER_MOVED = {3, 5, 6}  # UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER
_FETCH_KEY, _FETCH_VERSION = 1, 4  # v4: record batches and an isolation level; served by Kafka 0.11 to 4.x


class _LeaderConnection:
    """One socket to the partition's leader, Fetch v4 requests written and answers read in order."""

    def __init__(self, kafka: KafkaAccess | str, topic: str, partition: int, deadline: float):
        self.name = f"{topic}[{partition}]"
        self.topic, self.partition, self.deadline = topic.encode(), partition, deadline
        host, port = _leader_address(kafka, topic, partition, deadline)
        self.socket = _connect(kafka, (host, port), self._remaining_s())
        self.reader = self.socket.makefile("rb", buffering=256 * 1024)
        self.sent = self.received = 0  # correlation ids: answers come in the order of the requests
        self.header = struct.pack(">hh", _FETCH_KEY, _FETCH_VERSION)
        self.client_id = struct.pack(">h", len(CLIENT_ID)) + CLIENT_ID

    def _remaining_s(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{self.name}: the offsets were not read in time")
        return remaining

    def send_fetches(self, fetches: list[tuple[int, int]]) -> None:
        """Write a Fetch request for each (position, most bytes wanted), all in one write."""
        requests = []
        for position, max_bytes in fetches:
            # replica -1 (a consumer), wait 0 ms for 0 bytes, read uncommitted; one topic, one partition
            body = self.header + struct.pack(">i", self.sent) + self.client_id \
                + struct.pack(">iiiibih", -1, 0, 0, max_bytes, 0, 1, len(self.topic)) + self.topic \
                + struct.pack(">iiqi", 1, self.partition, position, max_bytes)
            requests.append(struct.pack(">i", len(body)) + body)
            self.sent += 1
        self.socket.settimeout(self._remaining_s())
        self.socket.sendall(b"".join(requests))

    def receive_fetch(self) -> tuple[int, int, memoryview]:
        """(error code, high watermark, record batches) of the oldest answer not yet read."""
        self.socket.settimeout(self._remaining_s())
        size, = struct.unpack(">i", self._read_exactly(4))
        if not 8 <= size <= RESPONSE_BYTES_MAX:
            raise KafkaException(f"{self.name}: a Fetch response of {size} bytes is not a Kafka broker's answer")
        answer = memoryview(self._read_exactly(size))
        correlation, _, topics_count = struct.unpack_from(">iii", answer, 0)
        if correlation != self.received or topics_count != 1:
            raise KafkaException(f"{self.name}: Fetch response {correlation} for {topics_count} topics, "
                                 f"expected {self.received} for one")
        self.received += 1
        position = 14 + struct.unpack_from(">h", answer, 12)[0]  # past the topic's name
        partitions, partition, error_code, high, _ = struct.unpack_from(">iihqq", answer, position)
        position += 26
        aborted, = struct.unpack_from(">i", answer, position)
        position += 4 + 16 * max(aborted, 0)  # (producer id, first offset) of aborted transactions: unused
        length, = struct.unpack_from(">i", answer, position)
        if partitions != 1 or partition != self.partition:
            raise KafkaException(f"{self.name}: a Fetch response for partition {partition}")
        return error_code, high, answer[position + 4:position + 4 + max(length, 0)]

    def _read_exactly(self, size: int) -> bytes:
        data = self.reader.read(size)
        if data is None or len(data) != size:
            raise KafkaException(f"{self.name}: the leader closed the connection mid-answer")
        return data

    def close(self) -> None:
        self.reader.close()
        self.socket.close()


_METADATA_KEY, _METADATA_VERSION = 3, 4  # v4: served by Kafka 1.0 to 4.x
_METADATA_RETRIABLE = {3, 5}  # UNKNOWN_TOPIC_OR_PARTITION (a topic just created), LEADER_NOT_AVAILABLE
METADATA_BYTES_MAX = 1024 * 1024  # what a Metadata answer for one topic may claim


def _string(answer, position: int) -> tuple[str | None, int]:
    length, = struct.unpack_from(">h", answer, position)
    if length < 0:
        return None, position + 2
    return bytes(answer[position + 2:position + 2 + length]).decode(), position + 2 + length


# what read_range's consumer reports that no retry would mend: it raises instead of polling on
_REFUSED = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError._AUTHENTICATION}


def _raise_if_refused(consumer: Consumer, topic: str) -> None:
    try:
        error = consumer.list_topics(topic, timeout=POLL_TIMEOUT_S * 5).topics[topic].error
    except KafkaException:
        return  # the broker is away: the idle polls tell
    if error is not None and error.code() in _REFUSED:
        raise KafkaException(error)


def _connect(kafka: KafkaAccess | str, address: tuple[str, int], timeout_s: float):
    """A socket to `address`, authenticated as `kafka` says. A refusal (bad credentials, a certificate
    that does not check) raises KafkaException: asking another broker, or again, would not help."""
    try:
        return kafka_access.connect(kafka, address, timeout_s, client_id=CLIENT_ID)
    except SaslError as error:
        raise KafkaException(f"{address[0]}:{address[1]}: {error}") from None
    except ssl.SSLCertVerificationError as error:
        raise KafkaException(f"{address[0]}:{address[1]}: the broker's certificate: {error.verify_message}") from None


def _ask(kafka: KafkaAccess | str, address: tuple[str, int], bodies: list[bytes], deadline: float,
         bytes_max: int) -> list[bytes]:
    """Requests (each `body` from its api key on) one after another on a socket of our own, so one
    authentication serves them all, and their answers, each from after its size."""
    answers = []
    with _connect(kafka, address, max(0.1, deadline - time.monotonic())) as connection:
        with connection.makefile("rb") as reader:
            for body in bodies:
                connection.sendall(struct.pack(">i", len(body)) + body)
                head = reader.read(4)
                size = struct.unpack(">i", head)[0] if len(head) == 4 else -1
                if not 8 <= size <= bytes_max:
                    raise KafkaException(f"{address[0]}:{address[1]}: an answer of {size} bytes "
                                         "is not a Kafka broker's")
                answers.append(reader.read(size))
                if len(answers[-1]) != size:
                    raise KafkaException(f"{address[0]}:{address[1]} closed the connection mid-answer")
    return answers


def _ask_metadata(kafka: KafkaAccess | str, address: tuple[str, int], topic: str, deadline: float
                  ) -> tuple[int, dict[int, tuple[str, int]], dict[int, int]]:
    """(the topic's error code, {broker id: (host, port)}, {partition: leader id}) from one broker.

    A Metadata request of our own on a socket of our own: librdkafka's list_topics took ~54 ms
    here for the same answer (measured), a quarter of a 1,000-event history's read."""
    name = topic.encode()
    body = struct.pack(">hhih", _METADATA_KEY, _METADATA_VERSION, 0, len(CLIENT_ID)) + CLIENT_ID \
        + struct.pack(">ih", 1, len(name)) + name + b"\x00"  # one topic; never create it
    answer, = _ask(kafka, address, [body], deadline, METADATA_BYTES_MAX)
    try:
        return _metadata_of(answer)
    except (struct.error, UnicodeDecodeError) as error:
        raise KafkaException(f"{address[0]}:{address[1]}: a garbled Metadata response ({error})") from error


_LIST_OFFSETS_KEY, _LIST_OFFSETS_VERSION = 2, 1  # v1: served by Kafka 0.10.1 to 4.x
_EARLIEST, _LATEST = -2, -1  # the timestamps that ask for the log start and, for a consumer, the high watermark


def _ask_list_offsets(kafka: KafkaAccess | str, address: tuple[str, int], topic: str, partitions: list[int],
                      deadline: float) -> dict[int, tuple[int, int, int]]:
    """{partition: (error code, low, high)} from their leader: two ListOffsets requests (a partition
    appears once in a request), the earliest and the latest offsets, on one connection."""
    name = topic.encode()
    found: dict[int, list[int]] = {p: [0, -1, -1] for p in partitions}
    columns = ((1, _EARLIEST), (2, _LATEST))
    bodies = [struct.pack(">hhih", _LIST_OFFSETS_KEY, _LIST_OFFSETS_VERSION, 0, len(CLIENT_ID)) + CLIENT_ID
              + struct.pack(">iih", -1, 1, len(name)) + name + struct.pack(">i", len(partitions))
              + b"".join(struct.pack(">iq", p, timestamp) for p in partitions)  # replica -1: a consumer
              for _, timestamp in columns]
    for (column, _), answer in zip(columns, _ask(kafka, address, bodies, deadline, METADATA_BYTES_MAX)):
        try:
            topics_count, = struct.unpack_from(">i", answer, 4)  # past the correlation id
            _, position = _string(answer, 8)
            count, = struct.unpack_from(">i", answer, position)
            position += 4
            for _ in range(count * (topics_count == 1)):
                partition, error_code, _, offset = struct.unpack_from(">ihqq", answer, position)
                position += 22
                if partition in found:
                    found[partition][0] = found[partition][0] or error_code
                    found[partition][column] = offset
        except (struct.error, UnicodeDecodeError) as error:
            raise KafkaException(f"{address[0]}:{address[1]}: a garbled ListOffsets response ({error})") from error
    if any(low < 0 or high < 0 for error_code, low, high in found.values() if not error_code):
        raise KafkaException(f"{address[0]}:{address[1]}: a ListOffsets response without every partition asked")
    return {p: (error_code, low, high) for p, (error_code, low, high) in found.items()}


def _metadata_of(answer: bytes) -> tuple[int, dict[int, tuple[str, int]], dict[int, int]]:
    position = 8  # past the correlation id and the throttle time
    brokers: dict[int, tuple[str, int]] = {}
    count, = struct.unpack_from(">i", answer, position)
    position += 4
    for _ in range(count):
        node, = struct.unpack_from(">i", answer, position)
        host, position = _string(answer, position + 4)
        port, = struct.unpack_from(">i", answer, position)
        _, position = _string(answer, position + 4)  # the rack
        brokers[node] = (host, port)
    _, position = _string(answer, position)  # the cluster id
    position += 4  # the controller id
    topics_count, error_code = struct.unpack_from(">ih", answer, position)
    if topics_count != 1:
        raise KafkaException(f"a Metadata response for {topics_count} topics, expected one")
    _, position = _string(answer, position + 6)
    position += 1  # is_internal
    leaders: dict[int, int] = {}
    count, = struct.unpack_from(">i", answer, position)
    position += 4
    for _ in range(count):
        _, partition, leader, replicas = struct.unpack_from(">hiii", answer, position)
        position += 14 + 4 * replicas
        isr, = struct.unpack_from(">i", answer, position)
        position += 4 + 4 * isr
        leaders[partition] = leader
    return error_code, brokers, leaders


def leaders(kafka: KafkaAccess | str, topic: str, timeout_s: float = 10.0, partition: int | None = None
            ) -> dict[int, tuple[str, int] | None]:
    """{partition: its leader's (host, port), None while it has none} for every partition of `topic`.
    Waits (until `timeout_s`) for `partition` to be led, or every partition when None: a topic created
    a moment ago, or a partition whose leader moves, is served again within seconds."""
    deadline = time.monotonic() + timeout_s
    addresses = []
    for server in kafka_access.bootstrap_of(kafka).split(","):
        host, _, port = server.strip().rpartition("://")[2].rpartition(":")
        addresses.append((host.strip("[]"), int(port)))
    last_failure = ""
    while True:
        for address in addresses:
            try:
                error_code, brokers, led_by = _ask_metadata(kafka, address, topic, deadline)
            except OSError as error:  # this server is down: ask the next
                last_failure = f"{address[0]}:{address[1]}: {error}"
                continue
            if error_code and error_code not in _METADATA_RETRIABLE:
                raise KafkaException(f"{topic}: {KafkaError(error_code).name()} ({error_code})")
            found = {p: brokers.get(leader) for p, leader in sorted(led_by.items())}
            waited_for = list(found.values()) if partition is None else [found.get(partition)]
            if not error_code and found and None not in waited_for:
                return found
            last_failure = (f"{topic}: {KafkaError(error_code).name()}" if error_code
                            else f"{topic}[{partition}] has no leader" if partition is not None
                            else f"{topic} has partitions without a leader")
        if time.monotonic() > deadline:
            raise KafkaException(f"no leaders for {topic} from {kafka}: {last_failure}")
        time.sleep(0.2)


def _leader_address(kafka: KafkaAccess | str, topic: str, partition: int, deadline: float) -> tuple[str, int]:
    return leaders(kafka, topic, max(0.1, deadline - time.monotonic()), partition)[partition]


def _snappy(body) -> bytes:  # rare in a ledger (its publishers send lz4): the library's xerial framing, loaded when met
    from aiokafka.codec import snappy_decode

    return snappy_decode(bytes(body))


_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_LZ4_BLOCK_BYTES = {4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20}  # by the frame's BD byte
_LZ4_BLOCKS_MAX = 1_024  # a batch is at most RESPONSE_BYTES_MAX; this bounds the loop on garbage


def _lz4(body) -> memoryview | bytes:
    """An LZ4 frame (Kafka's lz4 batches) decompressed block by block.

    Kafka's producers write independent blocks (librdkafka's and the Java client's framing), and
    each is decompressed straight into a buffer of its frame's block size: measured on a 64 KiB
    ledger batch, 12 us against 100 us for the library's frame decoder, most of a history read's
    CPU. A frame of linked blocks goes to the frame decoder."""
    if bytes(body[:4]) != _LZ4_MAGIC or len(body) < 7:
        raise KafkaException("an lz4 batch that is not an LZ4 frame")
    flags, block_id = body[4], body[5]
    block_bytes = _LZ4_BLOCK_BYTES.get((block_id >> 4) & 0x07)
    if not flags & 0x20 or block_bytes is None:
        return bytes(cramjam.lz4.decompress(body))
    position = 7 + (8 if flags & 0x08 else 0) + (4 if flags & 0x01 else 0)  # past content size, dictionary id
    checksum_bytes = 4 if flags & 0x10 else 0  # block checksums: the batch's own CRC covers the bytes
    blocks = []
    for _ in range(_LZ4_BLOCKS_MAX):
        size, = struct.unpack_from("<I", body, position)
        position += 4
        if size == 0:
            break
        length = size & 0x7FFFFFFF
        block = body[position:position + length]
        if size & 0x80000000:  # stored uncompressed
            blocks.append(block)
        else:
            out = bytearray(block_bytes)
            blocks.append(memoryview(out)[:cramjam.lz4.decompress_block_into(block, out)])
        position += length + checksum_bytes
    else:
        raise KafkaException(f"an lz4 batch of more than {_LZ4_BLOCKS_MAX} blocks")
    return blocks[0] if len(blocks) == 1 else b"".join(blocks)


_DECOMPRESS = {1: gzip.decompress, 2: _snappy, 3: _lz4, 4: lambda body: bytes(cramjam.zstd.decompress(body))}
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")  # record batch v2 (magic 2): the 61 bytes before its records
_CONTROL_BATCH, _LOG_APPEND_TIME = 0x20, 0x08


def _take_wanted(records: memoryview, run: _Run, found: dict) -> int:
    """Put the run's wanted records found in these batches into `found`; returns the offset after
    the last whole batch (the run's next position), or its position when there was none."""
    position, next_position, size = 0, run.position, len(records)
    while position + 17 <= size:
        base, length, _, magic = struct.unpack_from(">qiib", records, position)
        end = position + 12 + length
        if end > size:
            break  # the answer ends inside a batch: what is cut off comes with the next fetch
        if magic != 2:
            raise KafkaException(f"a message set of format v{magic} at offset {base}: credit-ledger reads "
                                 "record batches (format v2) only")
        (_, _, _, _, _, attributes, last_delta, first_ms, max_ms, _, _, _, count) = \
            _BATCH_HEADER.unpack_from(records, position)
        next_position = max(next_position, base + last_delta + 1)
        lo, hi = bisect.bisect_left(run.offsets, base), bisect.bisect_right(run.offsets, base + last_delta)
        if lo < hi and not attributes & _CONTROL_BATCH:
            body = records[position + 61:end]
            codec_id = attributes & 0x07
            body = _DECOMPRESS[codec_id](body) if codec_id else bytes(body)
            timestamp = max_ms if attributes & _LOG_APPEND_TIME else None
            _records_of(body, base, count == last_delta + 1, count, first_ms, timestamp, run.offsets[lo:hi], found)
        position = end
    return next_position


def _records_of(body: bytes, base: int, consecutive: bool, count: int, first_ms: int,
                log_append_ms: int | None, wanted: list[int], found: dict) -> None:
    """The wanted offsets' (key, value, timestamp) from a batch's records. In a batch of consecutive
    offsets (every batch but a compacted topic's) the records before a wanted one are stepped over by
    their length alone: nothing else of them is read."""
    position, index = 0, 0
    for offset in wanted:
        if consecutive and index < offset - base:
            position = _stepped_over(body, position, offset - base - index)
            index = offset - base
        while index < count:
            length, at = read_long(body, position)
            record_end = at + length
            delta_ms, at = read_long(body, at + 1)  # past the record's attributes byte
            delta, at = read_long(body, at)
            if base + delta > offset:
                break  # compacted away; this record may be the next one wanted
            index, position = index + 1, record_end
            if base + delta == offset:
                key_length, at = read_long(body, at)
                key = bytes(body[at:at + key_length]) if key_length >= 0 else None
                at += max(key_length, 0)
                value_length, at = read_long(body, at)
                value = bytes(body[at:at + value_length]) if value_length >= 0 else None
                found[offset] = (key, value, first_ms + delta_ms if log_append_ms is None else log_append_ms)
                break


def _stepped_over(body, position: int, records: int) -> int:
    """The position after `records` records from `position`, each stepped over by its length: one or
    two bytes of zig-zag varint, inlined (most of a history read's own CPU is this loop: a wanted
    record lies ~100 records into its batch)."""
    for _ in range(records):
        byte = body[position]
        if byte < 0x80:
            position += 1 + (byte >> 1)
        else:
            second = body[position + 1]
            if second < 0x80:
                position += 2 + (((byte & 0x7F) | (second << 7)) >> 1)
            else:
                length, position = read_long(body, position)
                position += length
    return position


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
