"""The ledger's broker and topic settings: one table for the compose deployment (ops/deploy/docker-compose.yml,
as KAFKA_* variables) and the embedded broker or cluster (ops/embedded_kafka.py, ops/kafka_cluster.py).

tests/unit/test_kafka_settings.py checks that the compose file's brokers run with exactly CLUSTER (and,
beside it, only what DEPLOYMENT_OWN names: where a deployment's brokers listen and how TLS is set up), and
that a node of the embedded cluster of three writes CLUSTER into its server.properties. A single embedded
broker runs the same table scaled down to one node (replicas(1)): one copy, nothing to be in sync with.
"""
from __future__ import annotations

from ops.kafka_acls import BROKER_USER
from streams import topics

REPLICATION_FACTOR = 3  # every topic has three copies...
MIN_IN_SYNC = 2  # ...and a write counts (acks=all) once two of them have it: one broker may be down

# The brokers' security (DESIGN "The broker"; ops/kafka_acls.py): KRaft nodes that are broker and controller,
# SCRAM-SHA-512 for the clients, PLAIN for the brokers' own principal to the controllers, an authorizer that
# refuses what no ACL allows, `broker` the only super user.
SECURITY = {
    "process.roles": "broker,controller",
    "controller.listener.names": "CONTROLLER",
    "listener.name.client.sasl.enabled.mechanisms": "SCRAM-SHA-512",
    "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
    "sasl.mechanism.controller.protocol": "PLAIN",
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "super.users": f"User:{BROKER_USER}",
    "allow.everyone.if.no.acl.found": "false",
}


def replicas(brokers: int) -> dict[str, str]:
    """Replication and in-sync minimums for a cluster of `brokers` nodes: REPLICATION_FACTOR and MIN_IN_SYNC,
    or as many as there are brokers."""
    if not 1 <= brokers <= 100:
        raise ValueError(f"brokers must be 1..100, not {brokers}")
    factor, in_sync = str(min(REPLICATION_FACTOR, brokers)), str(min(MIN_IN_SYNC, brokers))
    return {
        "default.replication.factor": factor,
        "min.insync.replicas": in_sync,
        "offsets.topic.replication.factor": factor,
        "transaction.state.log.replication.factor": factor,
        "transaction.state.log.min.isr": in_sync,
    }


def cluster(brokers: int = REPLICATION_FACTOR) -> dict[str, str]:
    """Every broker's settings in a cluster of `brokers` nodes, as server.properties names them."""
    return {**SECURITY, **replicas(brokers),
            "num.partitions": str(topics.PARTITIONS_DEFAULT)}  # Faust's own topics; the ledger's: streams/topics.py


CLUSTER = cluster()

# What a deployment sets for itself and the embedded brokers set otherwise: where each node listens, whom it
# advertises, its storage and heap, the voters, and (between hosts) TLS and a listener of the brokers' own.
DEPLOYMENT_OWN = frozenset({
    "node.id", "listeners", "advertised.listeners", "listener.security.protocol.map", "inter.broker.listener.name",
    "listener.name.internal.sasl.enabled.mechanisms", "sasl.mechanism.inter.broker.protocol",
    "controller.quorum.voters", "log.dirs", "heap.opts", "config.providers", "config.providers.file.class",
    "ssl.keystore.type", "ssl.keystore.password", "ssl.key.password", "ssl.keystore.location",
    "ssl.truststore.type", "ssl.truststore.location",
})

# The embedded brokers' own, for a small machine and short lives (a demo, a test, a bench); production keeps
# Kafka's defaults for these.
SMALL_MACHINE = {
    "offsets.topic.num.partitions": "4",  # default 50: a slow first consumer group
    "transaction.state.log.num.partitions": "4",
    "group.initial.rebalance.delay.ms": "0",
    "log.cleaner.dedupe.buffer.size": str(32 << 20),  # default 128 MiB; small heap
    "auto.create.topics.enable": "true",  # Kafka's default, said: the broker's own topics
}
