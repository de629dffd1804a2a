"""Kafka topic names and the settings that matter (see DESIGN.md "Topics")."""
from __future__ import annotations

import logging
import time

EVENTS = "credit.events"  # the ledger: the only source of truth
GRADES = "credit.grades"
ALERTS = "credit.alerts"
REJECTED = "credit.rejected"
DIGESTS = "credit.digests"
ACCESS_LOG = "credit.access-log"
# The red and black lists' dated, numbered releases (projections/releases.py): what was published, for good.
RELEASES = "credit.releases"
# The receipts of the upward export's batches (projections/exports.py): each destination's cursor, for good.
EXPORTS = "credit.exports"
# Natural persons' data keys, wrapped under the master key, and their erasures (streams/key_store.py): the one
# key store of every worker and command of a deployment. Only the worker's principal reads or writes it.
PII_KEYS = "credit.pii-keys"

ALL = (EVENTS, GRADES, ALERTS, REJECTED, DIGESTS, ACCESS_LOG, PII_KEYS, RELEASES, EXPORTS)
PARTITIONS_DEFAULT = 4
# One partition: every process reads the key records in one order (an erasure and a key made at the same
# moment elsewhere are then ordered, streams/key_store.py), and catches up to one high watermark.
PARTITIONS = {PII_KEYS: 1, RELEASES: 1, EXPORTS: 1}  # releases, exports: one order, the first recorded wins

# Topics that must never expire: the ledger, and the two an auditor relies on
# (what was refused, who looked at what). The others keep the broker's default.
NEVER_EXPIRE = {"retention.ms": "-1", "cleanup.policy": "delete"}
# The key topic is compacted, promptly: an erased key's tombstone makes its wrapped key go from the brokers'
# disks once its segment is rolled (segment.ms) and cleaned (max.compaction.lag.ms: at the latest then; the
# dirty ratio never holds it back): within about 20 minutes. The tombstones themselves stay an hour
# (delete.retention.ms) so that a process reading the topic meanwhile sees them; the erasure markers stay.
COMPACTED_PROMPTLY = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01", "segment.ms": "600000",
                      "max.compaction.lag.ms": "600000", "min.compaction.lag.ms": "0",
                      "delete.retention.ms": "3600000"}
CONFIGS: dict[str, dict[str, str]] = {
    EVENTS: NEVER_EXPIRE,
    REJECTED: NEVER_EXPIRE,
    ACCESS_LOG: NEVER_EXPIRE,
    RELEASES: NEVER_EXPIRE,
    EXPORTS: NEVER_EXPIRE,
    PII_KEYS: COMPACTED_PROMPTLY,
}


def partitions_of(topic: str, default: int = PARTITIONS_DEFAULT) -> int:
    return PARTITIONS.get(topic, default)


def ensure_topics(kafka, partitions: int = PARTITIONS_DEFAULT, timeout_s: float = 30) -> list[str]:
    """Create the topics above that are missing; returns the names created. Idempotent.

    `kafka`: a KafkaAccess (streams/kafka_access.py) or a bootstrap string. Its principal needs CREATE
    and DESCRIBE_CONFIGS on these topics (the worker's has them, ops/kafka_acls.py), and ALTER_CONFIGS
    only where a topic's settings must be corrected (the broker's own principal)."""
    # imported here so that reading the names above needs no Kafka client
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

    from streams.kafka_access import bootstrap_of, client_config

    bootstrap = bootstrap_of(kafka)
    admin = AdminClient(client_config(kafka, logger=logging.getLogger(__name__)))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [NewTopic(t, partitions_of(t, partitions), replication_factor=-1,  # -1: the broker's default
                        config=dict(CONFIGS.get(t, {})))
               for t in ALL if t not in existing]
    created = []
    for name, future in (admin.create_topics(missing, request_timeout=timeout_s) if missing else {}).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as e:
            if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # lost a race: fine
                raise
    # A topic that existed already (say, auto-created by an early producer with the
    # broker's 7-day default) still gets the settings that keep it from expiring; only where
    # they differ, so that a principal that may not alter them (the worker's) passes by.
    described = [ConfigResource("topic", t) for t in CONFIGS if t in existing]
    current = {resource.name: future.result(timeout_s)
               for resource, future in (admin.describe_configs(described) if described else {}).items()}
    fixes = [ConfigResource("topic", t, incremental_configs=[
                 ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in conf.items()])
             for t, conf in CONFIGS.items() if t in current
             and any(current[t].get(k) is None or current[t][k].value != v for k, v in conf.items())]
    for future in (admin.incremental_alter_configs(fixes) if fixes else {}).values():
        future.result()
    # The controller has committed; wait until the broker's metadata shows the topics with a
    # leader for every partition, so a client right after finds every partition served.
    deadline = time.monotonic() + timeout_s
    while not all_led(admin.list_topics(timeout=timeout_s).topics):
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics created on {bootstrap} but without leaders within {timeout_s} s")
        time.sleep(0.1)
    return created


def all_led(found: dict) -> bool:
    """Whether `found` (a metadata answer's topics) holds every topic above, each partition with a leader."""
    return all(t in found and found[t].error is None and found[t].partitions
               and all(p.leader >= 0 and p.error is None for p in found[t].partitions.values()) for t in ALL)
