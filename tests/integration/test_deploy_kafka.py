"""The compose deployment's Kafka security run for real, without Docker: a broker started with kafka-1's
settings as the apache/kafka image renders them (SASL_SSL listeners, JAAS file, FileConfigProvider,
PKCS12 keystore and PEM truststore from ops/deploy/make-secrets.sh), as one node; then the kafka-setup
service's command with its environment, and a worker with the workers'. The paths under /run/secrets
are the secrets' files here, the hosts localhost (the certificates name it too)."""
from __future__ import annotations

import base64
import functools
import os
import secrets as secrets_module
import signal
import subprocess
import sys

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from ops.embedded_kafka import _require, ensure_kafka_jars, free_port, prepare_child
from projections.ids import make_uscc
from streams import ledger_reader, topics
from streams.kafka_access import KafkaAccess, client_config
from streams.sdk import Publisher
from tests.deploy import REPO, broker_properties, compose, interpolated, make_secrets, on_host
from tests.helpers import Worker, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
KEY = b"deploy-test-pseudonym-key-0000001"


def single_node(props: dict, ports: dict[int, int], data_dir) -> dict:
    """kafka-1's properties as a cluster of one here: localhost and free ports, replication 1."""
    def moved(value: str) -> str:
        value = value.replace("kafka-1:", "localhost:")
        for port, here in ports.items():
            value = value.replace(f":{port}", f":{here}")
        return value.replace("://:", "://localhost:")
    props = {**props, "listeners": moved(props["listeners"]), "advertised.listeners": moved(props["advertised.listeners"]),
             "controller.quorum.voters": f"1@localhost:{ports[9093]}", "log.dirs": str(data_dir / "kafka-logs")}
    for name in ("default.replication.factor", "offsets.topic.replication.factor",
                 "transaction.state.log.replication.factor", "min.insync.replicas", "transaction.state.log.min.isr"):
        props[name] = "1"
    props.pop("heap.opts", None)  # KAFKA_HEAP_OPTS, rendered by the image too (its exclusion list says HEAP_OPT)
    return props


def service_env(service: str, secrets, bootstrap: str) -> dict[str, str]:
    env = {name: on_host(interpolated(value), secrets) for name, value in compose()["services"][service]["environment"].items()}
    return {**env, "CREDIT_LEDGER_KAFKA": bootstrap, "CREDIT_LEDGER_CONFIG": os.devnull}


@pytest.fixture
def deployed_broker(tmp_path):
    secrets = make_secrets(tmp_path / "secrets")
    kafka_1 = compose()["services"]["kafka-1"]
    ports = {9092: free_port(), 9093: free_port(), 9094: free_port()}
    props = single_node({k: on_host(v, secrets) for k, v in broker_properties(kafka_1["environment"]).items()},
                        ports, tmp_path)
    path = tmp_path / "server.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    java, libs = _require("java"), ensure_kafka_jars()
    cp = [f"-Dlog4j.configuration=file:{REPO / 'ops' / 'kafka' / 'log4j.properties'}", "-cp", f"{libs}/*"]
    cluster_id = interpolated(kafka_1["environment"]["CLUSTER_ID"])
    subprocess.run([java, *cp, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(path)],
                   check=True, capture_output=True, timeout=120)
    log = (tmp_path / "kafka.log").open("ab")
    jaas = on_host(kafka_1["environment"]["KAFKA_OPTS"], secrets)
    broker = subprocess.Popen([java, "-Xmx512m", "-XX:TieredStopAtLevel=1", jaas, *cp, "kafka.Kafka", str(path)],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                              preexec_fn=functools.partial(prepare_child, os.getpid()))
    setup_env = service_env("kafka-setup", secrets, f"localhost:{ports[9094]}")
    try:
        admin = AdminClient(client_config(KafkaAccess(
            setup_env["CREDIT_LEDGER_KAFKA"], "SASL_SSL", "PLAIN", "broker",
            (secrets / "broker-password").read_text().strip(), str(secrets / "ca.pem"))))
        wait_for(lambda: broker.poll() is None and _answers(admin), 90, interval_s=0.5, what="the broker up")
        yield {"secrets": secrets, "ports": ports, "setup_env": setup_env, "tmp": tmp_path}
    finally:
        os.killpg(broker.pid, signal.SIGTERM)
        try:
            broker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(broker.pid, signal.SIGKILL)
            broker.wait()


def _answers(admin: AdminClient) -> bool:
    try:
        return bool(admin.list_topics(timeout=2).brokers)
    except KafkaException:
        return False


def test_the_compose_settings_run_a_sasl_ssl_broker_that_the_setup_and_a_worker_use(deployed_broker):
    secrets, ports, tmp = deployed_broker["secrets"], deployed_broker["ports"], deployed_broker["tmp"]
    done = subprocess.run([sys.executable, *compose()["services"]["kafka-setup"]["command"][1:]], cwd=REPO,
                          env={**os.environ, **deployed_broker["setup_env"]}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "topics and ACLs in place" in done.stdout

    client = f"localhost:{ports[9092]}"
    worker_env = service_env("worker-1", secrets, client)
    worker_env.pop("CREDIT_LEDGER_DATA_DIR")  # the container's /data: the test's own instead
    worker_env.pop("CREDIT_LEDGER_WEB_PORT")
    worker_env.pop("CREDIT_LEDGER_WEB_HOST")
    worker_env["CREDIT_LEDGER_PSEUDONYM_KEY"] = KEY.decode()  # compose requires it set; the test's
    worker_env["CREDIT_LEDGER_MASTER_KEY"] = base64.b64encode(secrets_module.token_bytes(32)).decode()  # likewise
    worker = Worker(client, tmp / "worker", free_port(), env=worker_env).start()
    try:
        as_auditor = KafkaAccess(client, "SASL_SSL", "SCRAM-SHA-512", "credit-ledger-auditor",
                                 (secrets / "kafka-auditor-password").read_text().strip(), str(secrets / "ca.pem"))
        company = {"id": make_uscc("440305", 77), "kind": "LEGAL_PERSON", "name": "深圳测试部署有限公司"}
        source = {"authority_code": make_uscc("440300", 7, "1", "1"), "authority_name": "深圳市市场监督管理局"}
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:  # through the worker's edge
            receipt = publisher.publish({"type": "SubjectRegistered", "subject": company, "source": source,
                                         "occurred_on": "2020-01-02",
                                         "payload": {"region_code": "440305", "registered_on": "2020-01-02"}})
        wait_for(lambda: worker.file(company["id"]), 60, what="the worker folding over SASL_SSL")
        # the auditor reads it back on the ledger reader's own TLS sockets (SCRAM), and may not write
        [(offset, key, _, _)] = ledger_reader.read_offsets(as_auditor, topics.EVENTS, receipt.partition, [receipt.offset])
        assert (offset, key) == (receipt.offset, company["id"].encode())
        reports = []
        producer = Producer(client_config(as_auditor, **{"message.timeout.ms": 5000}))
        producer.produce(topics.EVENTS, b"not an event", company["id"].encode(),
                         on_delivery=lambda error, message: reports.append(error))
        producer.flush(20)
        assert [r.code() for r in reports] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
        # a client that does not know the deployment's CA does not even reach the SASL handshake
        with pytest.raises(KafkaException, match="certificate"):
            ledger_reader.watermarks(KafkaAccess(client, "SASL_SSL", "SCRAM-SHA-512", "x", "y"), topics.EVENTS)
    finally:
        worker.stop()
