"""Kafka is authenticated and authorised, the embedded broker included (issue 27, DESIGN "The broker"):
SASL/SCRAM-SHA-512 on its listener, StandardAuthorizer with ACLs (ops/kafka_acls.py). Whoever holds no
credentials, or the wrong ones, or the auditor's, cannot write the ledger; the auditor reads
credit.events, credit.digests and credit.access-log and nothing else; the worker's principal writes.
The ledger reader's consumers (streams/ledger_reader.py) authenticate too, and name a refusal at once."""
from __future__ import annotations

import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ops.embedded_kafka import _cluster_id, _require, ensure_kafka_jars, ensure_topics, free_port
from streams import ledger_reader, topics
from streams.kafka_access import KafkaAccess
from tests.helpers import kafka_access, kafka_config, test_broker

pytestmark = pytest.mark.kafka
DELIVERY_TIMEOUT_MS = 3_000


def try_to_produce(config: dict, topic: str = topics.EVENTS, idempotent: bool = True
                   ) -> tuple[KafkaError | None, list[KafkaError]]:
    """(the delivery report's error, None when the broker took the record; the client's errors meanwhile)."""
    errors: list[KafkaError] = []
    reports: list[KafkaError | None] = []
    producer = Producer({**config, "acks": "all", "enable.idempotence": idempotent,
                         "message.timeout.ms": DELIVERY_TIMEOUT_MS, "error_cb": errors.append})
    producer.produce(topic, key=b"91440300MA5XXXXX0X", value=b"not even an event",
                     on_delivery=lambda error, message: reports.append(error))
    producer.flush(DELIVERY_TIMEOUT_MS / 1000 + 10)
    assert len(reports) == 1, "no delivery report"
    return reports[0], errors


def ledger_end(kafka) -> int:
    return sum(high for _, high in ledger_reader.watermarks(kafka.access("auditor"), topics.EVENTS).values())


def read_one(config: dict, topic: str) -> list[KafkaError]:
    """The errors of a consumer reading `topic` from its start by assignment (as the ledger reader does)."""
    consumer = Consumer({**config, "group.id": f"credit-ledger-reader-{uuid.uuid4()}", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    try:
        refused = consumer.list_topics(topic, timeout=10).topics[topic].error  # an assignment alone just waits
        if refused is not None:
            return [refused]
        consumer.assign([TopicPartition(topic, p, 0) for p in range(topics.PARTITIONS_DEFAULT)])
        errors, eofs, deadline = [], set(), time.monotonic() + 20
        while len(eofs) < topics.PARTITIONS_DEFAULT and not errors and time.monotonic() < deadline:
            for message in consumer.consume(100, timeout=1.0):
                if message.error() is None:
                    continue
                if message.error().code() == KafkaError._PARTITION_EOF:
                    eofs.add(message.partition())
                else:
                    errors.append(message.error())
        assert errors or len(eofs) == topics.PARTITIONS_DEFAULT, "neither read to the end nor refused"
        return errors
    finally:
        consumer.close()


def test_no_credentials_wrong_ones_or_the_auditors_cannot_write_the_ledger(kafka):
    before = ledger_end(kafka)

    # no credentials: the SASL listener answers nothing but the handshake, and drops the connection
    error, client_errors = try_to_produce(kafka_config(kafka.bootstrap, "none"))
    assert error is not None and error.code() == KafkaError._MSG_TIMED_OUT
    assert client_errors and {e.code() for e in client_errors} <= {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}

    # a real user name with a wrong password: the broker refuses the SCRAM proof
    error, client_errors = try_to_produce(kafka_config(kafka.bootstrap, "worker", **{"sasl.password": "guessed"}))
    assert error is not None and error.code() == KafkaError._MSG_TIMED_OUT
    assert KafkaError._AUTHENTICATION in {e.code() for e in client_errors}
    assert any("invalid credentials" in e.str() for e in client_errors)

    # the auditor, authenticated: the authorizer refuses the write, on every topic of the ledger's ...
    for topic in (topics.EVENTS, topics.DIGESTS, topics.ACCESS_LOG, topics.GRADES, topics.REJECTED, topics.PII_KEYS,
                  topics.RELEASES, topics.EXPORTS):  # recorded by the worker, never by `release` or `export` itself
        error, _ = try_to_produce(kafka_config(kafka.bootstrap, "auditor"), topic, idempotent=False)
        assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, topic
    # ... and an idempotent producer (as every producer of the ledger is) gets no producer id at all:
    # a principal that may write no topic may not ask for one (KIP-679); librdkafka takes that as fatal
    with pytest.raises(KafkaException) as fatal:
        try_to_produce(kafka_config(kafka.bootstrap, "auditor"))
    assert fatal.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED and fatal.value.args[0].fatal()

    assert ledger_end(kafka) == before  # nothing of theirs reached the ledger


def test_the_workers_principal_writes_the_ledger(kafka):
    before = ledger_end(kafka)
    error, _ = try_to_produce(kafka_config(kafka.bootstrap, "worker"))
    assert error is None
    assert ledger_end(kafka) == before + 1


def test_the_auditor_reads_the_ledger_its_digests_and_the_access_log_and_nothing_else(kafka):
    auditor = kafka_config(kafka.bootstrap, "auditor")
    for topic in (topics.EVENTS, topics.DIGESTS, topics.ACCESS_LOG):
        assert read_one(auditor, topic) == [], topic
    # ... and never natural persons' keys (credit.pii-keys): even wrapped, they are the worker's alone
    for topic in (topics.REJECTED, topics.GRADES, topics.ALERTS, topics.PII_KEYS, topics.RELEASES,  # GET /releases
                  topics.EXPORTS):  # the export's cursor: GET /exports
        assert [e.code() for e in read_one(auditor, topic)][:1] == [KafkaError.TOPIC_AUTHORIZATION_FAILED], topic

    # neither may it join the worker's consumer group, nor create topics
    consumer = Consumer({**auditor, "group.id": "credit-ledger", "enable.auto.commit": False})
    try:
        consumer.subscribe([topics.EVENTS])
        deadline, codes = time.monotonic() + 20, set()
        while KafkaError.GROUP_AUTHORIZATION_FAILED not in codes and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is not None:
                codes.add(message.error().code())
        assert KafkaError.GROUP_AUTHORIZATION_FAILED in codes
    finally:
        consumer.close()
    admin = AdminClient(auditor)  # held: a collected client never answers
    [future] = admin.create_topics([NewTopic(f"credit.audit-{uuid.uuid4().hex[:8]}", 1)]).values()
    with pytest.raises(KafkaException) as refused:
        future.result(30)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_the_ledger_reader_authenticates_and_names_a_refusal(kafka):
    auditor = kafka.access("auditor")
    error, _ = try_to_produce(kafka_config(kafka.bootstrap, "worker"))  # at least one record to read back
    assert error is None
    marks = ledger_reader.watermarks(auditor, topics.EVENTS)  # metadata and the watermark query, after SCRAM
    partition, (low, high) = next((p, m) for p, m in marks.items() if m[1] > m[0])
    read = list(ledger_reader.read_offsets(auditor, topics.EVENTS, partition, [high - 1]))  # assigned, fetched
    assert [offset for offset, *_ in read] == [high - 1]

    wrong = KafkaAccess(kafka.bootstrap, "SASL_PLAINTEXT", "SCRAM-SHA-512", auditor.username, "guessed")
    with pytest.raises(KafkaException, match="SASL authentication of 'credit-ledger-auditor' failed"):
        ledger_reader.watermarks(wrong, topics.EVENTS)
    nobody = KafkaAccess(kafka.bootstrap)  # PLAINTEXT: the broker hangs up on a request before SASL
    with pytest.raises(KafkaException, match="closed|not a Kafka broker's|no leaders"):
        ledger_reader.watermarks(nobody, topics.EVENTS, timeout_s=3)
    with pytest.raises(KafkaException, match="TOPIC_AUTHORIZATION_FAILED"):
        ledger_reader.watermarks(auditor, topics.REJECTED)
    with pytest.raises(KafkaException, match="TOPIC_AUTHORIZATION_FAILED"):
        list(ledger_reader.read_range(auditor, topics.REJECTED, 0, 0, 1))


@pytest.mark.slow
def test_a_storage_formatted_before_sasl_gets_its_users_and_acls(tmp_path):
    """A data dir of the embedded broker from before it had SASL (`make run` on an older version) holds
    its ledger but no SCRAM user: the broker adds them once, and then serves as any other."""
    props = tmp_path / "old.properties"
    controller = free_port()
    props.write_text("process.roles=broker,controller\nnode.id=1\n"
                     f"controller.quorum.voters=1@127.0.0.1:{controller}\n"
                     f"listeners=PLAINTEXT://127.0.0.1:{free_port()},CONTROLLER://127.0.0.1:{controller}\n"
                     "controller.listener.names=CONTROLLER\n"
                     "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
                     f"log.dirs={tmp_path / 'kafka-logs'}\n")
    subprocess.run([_require("java"), "-cp", f"{ensure_kafka_jars()}/*", "kafka.tools.StorageTool", "format",
                    "-t", _cluster_id(), "-c", str(props)], check=True, capture_output=True)
    with test_broker(tmp_path, port=free_port()) as broker:
        ensure_topics(broker.admin_access)
        error, _ = try_to_produce(kafka_config(broker.bootstrap, "worker"))
        assert error is None
        error, _ = try_to_produce(kafka_config(broker.bootstrap, "auditor"), idempotent=False)
        assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
        assert sum(h for _, h in ledger_reader.watermarks(kafka_access(broker.bootstrap, "auditor"),
                                                          topics.EVENTS).values()) == 1
