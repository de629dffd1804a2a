"""Reading chosen offsets of a partition with the library consumer: seeks, read-through, gaps, the end."""
from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from ops.embedded_kafka import free_port
from streams import ledger_reader
from tests.driver import MemoryTopics


def _topic_with(kafka, count: int, compression: str = "lz4") -> str:
    topic = f"credit-ledger-test.reader.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(kafka.config())
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    # small batches, as a live ledger has: a wanted record sits inside a batch, not at its start
    producer = Producer(kafka.config(**{"linger.ms": 5, "batch.size": 16 * 1024,
                                        "compression.type": compression, "enable.idempotence": True}))
    for n in range(count):
        producer.produce(topic, value=b"record %d " % n + bytes(200), key=b"k%d" % (n % 7) if n % 5 else None,
                         partition=0)
        if n % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    ledger_reader.watermarks(kafka.access(), topic)  # waits until the new topic's leader answers
    return topic


def test_read_offsets_returns_exactly_the_records_asked_for_in_order(kafka):
    count = 30_000
    topic = _topic_with(kafka, count)
    near = [5, 6, 7, 20, 21, 30]  # read through: closer than READ_THROUGH_MAX to each other
    assert ledger_reader._runs(near + [300]) == [near, [300]]
    far = [2_000, 9_999, 10_000, 22_222, count - 1]  # each one a seek
    wanted = sorted(set(near + far))
    got = list(ledger_reader.read_offsets(kafka.access(), topic, 0, reversed(wanted + [7, 20])))
    assert [offset for offset, *_ in got] == wanted  # duplicates asked once, in log order
    for offset, key, value, timestamp_ms in got:
        assert value.startswith(b"record %d " % offset) and timestamp_ms > 0
        assert key == (b"k%d" % (offset % 7) if offset % 5 else None)

    # beyond the log's end: what exists is returned, the rest left out (the caller compares)
    got = list(ledger_reader.read_offsets(kafka.access(), topic, 0, [count - 2, count + 5, count + 500]))
    assert [offset for offset, *_ in got] == [count - 2]
    assert list(ledger_reader.read_offsets(kafka.access(), topic, 0, [])) == []

    # the same records a range read gives
    by_range = {o: v for o, _, v, _ in ledger_reader.read_range(kafka.access(), topic, 0, 9_990, 10_010)}
    by_offsets = {o: v for o, _, v, _ in ledger_reader.read_offsets(kafka.access(), topic, 0, range(9_990, 10_010, 3))}
    assert by_offsets == {o: by_range[o] for o in range(9_990, 10_010, 3)}


@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "zstd"])
def test_read_offsets_reads_the_batches_of_every_codec_a_publisher_may_choose(kafka, compression):
    count = 3_000  # lz4, the SDK's codec, is the test above
    topic = _topic_with(kafka, count, compression)
    wanted = [0, 1, 17, 500, 501, 1_234, count - 1]
    by_range = {o: (k, v) for o, k, v, _ in ledger_reader.read_range(kafka.access(), topic, 0, 0, count)}
    got = {o: (k, v) for o, k, v, _ in ledger_reader.read_offsets(kafka.access(), topic, 0, wanted)}
    assert got == {o: by_range[o] for o in wanted}


def test_leaders_come_from_the_first_server_that_answers_and_a_missing_topic_is_named(kafka):
    topic = f"credit-ledger-test.reader.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(kafka.config())
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(timeout=30)
    led = ledger_reader.leaders(kafka.access(), topic, timeout_s=30)  # waits for a topic just created
    broker_port = int(kafka.bootstrap.rpartition(":")[2])
    assert sorted(led) == [0, 1, 2] and {port for _, port in led.values()} == {broker_port}
    first_down = replace(kafka.access(), bootstrap=f"127.0.0.1:{free_port()}, {kafka.bootstrap}")
    assert ledger_reader.leaders(first_down, topic) == led  # the first is down
    with pytest.raises(KafkaException, match=r"no leaders for credit-ledger-test\.reader\.none.*UNKNOWN_TOPIC"):
        ledger_reader.leaders(kafka.access(), "credit-ledger-test.reader.none", timeout_s=1.0)
    with pytest.raises(KafkaException, match=r"no leaders .* from 127\.0\.0\.1:\d+: .*refused"):
        ledger_reader.leaders(f"127.0.0.1:{free_port()}", topic, timeout_s=0.5)


def test_read_offsets_names_a_partition_the_topic_does_not_have(kafka):
    topic = _topic_with(kafka, 10)
    with pytest.raises(KafkaException, match=r"\[3\] has no leader"):
        list(ledger_reader.read_offsets(kafka.access(), topic, 3, [0], timeout_s=2.0))


def test_watermarks_are_the_log_start_and_the_high_watermark_of_every_partition(kafka):
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    topic = f"credit-ledger-test.reader.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(kafka.config("admin"))  # the broker's principal: only it may delete records
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(timeout=30)
    assert ledger_reader.watermarks(kafka.access(), topic, timeout_s=30) == {0: (0, 0), 1: (0, 0), 2: (0, 0)}
    producer = Producer(kafka.config(**{"enable.idempotence": True}))
    for n in range(50):
        producer.produce(topic, value=b"%d" % n, partition=0 if n < 30 else 2)
    assert producer.flush(30) == 0
    # the log's start moves when records are deleted: the low watermark follows it
    admin.delete_records([TopicPartition(topic, 2, 7)])[TopicPartition(topic, 2, 7)].result(timeout=30)
    marks = ledger_reader.watermarks(kafka.access(), topic)
    assert marks == {0: (0, 30), 1: (0, 0), 2: (7, 20)}
    consumer = ledger_reader._consumer(kafka.access())  # what librdkafka says of the same partitions
    try:
        assert marks == {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in range(3)}
    finally:
        consumer.close()
    with pytest.raises(KafkaException, match=r"credit-ledger-test\.reader\.none.*UNKNOWN_TOPIC"):
        ledger_reader.watermarks(kafka.access(), "credit-ledger-test.reader.none", timeout_s=1.0)
    with ledger_reader.Session(kafka.access()) as session:  # several questions, one client
        assert session.partition_count(topic) == 3
        assert [o for o, *_ in session.read_last(topic, 2, 5)] == [15, 16, 17, 18, 19]
        assert [v for _, _, v, _ in session.read_last(topic, 0, 100)] == [b"%d" % n for n in range(30)]
        assert session.read_last(topic, 1, 10) == []
        with pytest.raises(ValueError):
            session.read_last(topic, 0, 0)


def test_the_unit_tests_in_memory_log_reads_as_the_topic_reader_reads_the_broker(kafka):
    """tests/driver.MemoryTopics stands in for ledger_reader.TopicReader in the unit tests of the parts: over the
    same records, both answer the same watermarks and ranges, and fail the same way."""
    from confluent_kafka import TopicPartition

    topic = f"credit-ledger-test.reader.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(kafka.config("admin"))  # the broker's principal: only it may delete records
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(timeout=30)
    memory, real = MemoryTopics(), ledger_reader.TopicReader(kafka.access())
    memory.create(topic, 3)
    producer = Producer(kafka.config(**{"enable.idempotence": True}))
    for n in range(40):
        key, partition = (b"k%d" % (n % 3) if n % 4 else None), n % 3
        producer.produce(topic, value=b"record %d" % n, key=key, partition=partition)
        memory.append(topic, key, b"record %d" % n, partition=partition)
    assert producer.flush(30) == 0
    admin.delete_records([TopicPartition(topic, 2, 4)])[TopicPartition(topic, 2, 4)].result(timeout=30)
    memory.delete_before(topic, 2, 4)
    marks = real.watermarks(topic)
    assert memory.watermarks(topic) == marks == {0: (0, 14), 1: (0, 13), 2: (4, 13)}

    def records(reader, partition: int, start: int, end: int) -> list[tuple]:
        return [(offset, key, value) for offset, key, value, _ in reader.read_range(topic, partition, start, end)]
    for partition, (low, high) in marks.items():
        for start, end in ((low, high), (low + 1, high - 1), (0, high), (high, high)):
            assert records(memory, partition, start, end) == records(real, partition, start, end), (partition, start)
    for reader in (memory, real):  # a range past the end: the records there, then TimeoutError
        got = []
        with pytest.raises(TimeoutError):
            for offset, *_ in reader.read_range(topic, 0, 12, 16, idle_polls_max=1):
                got.append(offset)
        assert got == [12, 13]
    with pytest.raises(KafkaException, match="UNKNOWN_TOPIC"):  # a topic that is not there
        memory.watermarks("credit-ledger-test.reader.none")
    with pytest.raises(KafkaException, match="UNKNOWN_TOPIC"):
        ledger_reader.watermarks(kafka.access(), "credit-ledger-test.reader.none", timeout_s=1.0)
