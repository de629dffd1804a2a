"""One source of the brokers' settings (ops/kafka_settings.py): the compose deployment's brokers, as the
apache/kafka image renders their KAFKA_* variables, and the nodes of the embedded cluster run the same
table; beside it each sets only what is its own (where it listens, TLS, its storage)."""
from __future__ import annotations

import re

from ops import kafka_settings
from ops.embedded_kafka import EmbeddedKafka
from ops.kafka_cluster import EmbeddedKafkaCluster
from tests.deploy import broker_properties, compose

JAAS = re.compile(r"listener\.name\.[a-z]+\.[a-z0-9-]+\.sasl\.jaas\.config")  # the login modules, with passwords


def compose_brokers() -> dict[str, dict[str, str]]:
    return {name: broker_properties(service["environment"]) for name, service in compose()["services"].items()
            if service.get("image", "").startswith("apache/kafka:")}


def test_the_compose_brokers_run_the_table_and_only_their_own_beside_it():
    brokers = compose_brokers()
    assert len(brokers) == kafka_settings.REPLICATION_FACTOR
    for name, props in brokers.items():
        assert {k: props.get(k) for k in kafka_settings.CLUSTER} == kafka_settings.CLUSTER, name
        assert set(props) - set(kafka_settings.CLUSTER) <= kafka_settings.DEPLOYMENT_OWN, name
        assert not set(props) & set(kafka_settings.SMALL_MACHINE), name  # production keeps Kafka's defaults there
        assert len(props["controller.quorum.voters"].split(",")) == len(brokers)


def test_the_table_is_three_replicas_two_in_sync():
    assert kafka_settings.CLUSTER["default.replication.factor"] == "3"
    assert kafka_settings.CLUSTER["offsets.topic.replication.factor"] == "3"
    assert kafka_settings.CLUSTER["transaction.state.log.replication.factor"] == "3"
    assert kafka_settings.CLUSTER["min.insync.replicas"] == "2"
    assert kafka_settings.CLUSTER["transaction.state.log.min.isr"] == "2"


def test_each_embedded_node_runs_the_table_as_one_cluster(tmp_path):
    cluster = EmbeddedKafkaCluster(tmp_path / "cluster")  # not started: its nodes' properties
    nodes = [node.properties() for node in cluster.nodes.values()]
    assert len(nodes) == 3
    for node_id, props in enumerate(nodes, 1):
        assert {k: props.get(k) for k in kafka_settings.CLUSTER} == kafka_settings.CLUSTER
        own = {k for k in set(props) - set(kafka_settings.CLUSTER) - set(kafka_settings.SMALL_MACHINE)
               if not JAAS.fullmatch(k)}
        assert own <= kafka_settings.DEPLOYMENT_OWN, own - kafka_settings.DEPLOYMENT_OWN
        assert props["node.id"] == str(node_id)
    # one quorum of three voters, each node with its own listeners and storage, one password for the brokers
    voters = {props["controller.quorum.voters"] for props in nodes}
    assert len(voters) == 1 and len(voters.pop().split(",")) == 3
    assert len({props["listeners"] for props in nodes}) == 3 and len({props["log.dirs"] for props in nodes}) == 3
    assert len({node._broker_password() for node in cluster.nodes.values()}) == 1
    assert len({node.cluster_id for node in cluster.nodes.values()}) == 1
    # started again on the same storage: the same cluster id
    assert EmbeddedKafkaCluster(tmp_path / "cluster").nodes[1].cluster_id == cluster.nodes[1].cluster_id


def test_a_single_embedded_broker_runs_the_table_scaled_to_one(tmp_path):
    props = EmbeddedKafka(tmp_path / "one", controller_port=1).properties()
    assert {k: props[k] for k in kafka_settings.replicas(1)} == {
        "default.replication.factor": "1", "min.insync.replicas": "1", "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1", "transaction.state.log.min.isr": "1"}
    same = {k: v for k, v in kafka_settings.CLUSTER.items() if k not in kafka_settings.replicas(3)}
    assert {k: props[k] for k in same} == same
