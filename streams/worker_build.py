"""The Worker the parts share (streams/worker.py), built from the settings: the store and its fold,
the gate, the keys, the producers and the ledger's consumer. Nothing is reached on the network here."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import faust

from projections.exports import receipt_table
from streams import ledger_reader, topics
from streams.codec import decode_export_receipt
from streams.faust_app import HEARTBEAT_INTERVAL_S, SESSION_TIMEOUT_S
from streams.gate import Gate
from streams.kafka_access import KafkaAccess
from streams.fold_pool import FoldPool, PooledProcessor
from streams.ledger import LedgerProcessor
from streams.ledger_consumer import LedgerConsumer
from streams.outputs import BatchProducer, EdgeProducer
from streams.principals import PrincipalsFile
from streams.release_log import ReleaseLog
from projections.state_versions import STATE_VERSION
from streams.store import StoreError, SubjectStore
from streams.worker import Worker, policy_in_force

log = logging.getLogger(__name__)


def build_worker(app: faust.App, settings, kafka: KafkaAccess) -> Worker:
    """What the parts share, over a SubjectStore in the data dir."""
    store = SubjectStore(Path(settings.data_dir) / "subjects")
    reader = ledger_reader.TopicReader(kafka)
    policies, clock = settings.policies(), settings.clock()

    def policy_now():
        return policy_in_force(policies, clock)

    def gap_reader(partition: int, start: int, end: int):
        return ((partition, offset, key, value) for offset, key, value, _ in
                ledger_reader.read_range(kafka, topics.EVENTS, partition, start, end))
    # each event folds under the policy of the day it was recorded; grades use the policy in force now
    processor = (LedgerProcessor(store, gap_reader, policies, grading_policy=policy_now)
                 if settings.fold_processes <= 1 else
                 PooledProcessor(store, FoldPool(settings.fold_processes, policies), gap_reader, policy_now))
    notice = state_version_notice(store)
    if notice is not None:
        log.warning(notice)
    mark_fresh_store_graded(store, policy_now().version)
    access_log_topic, releases_topic, exports_topic = (
        app.topic(name, key_serializer="raw", value_serializer="raw")
        for name in (topics.ACCESS_LOG, topics.RELEASES, topics.EXPORTS))

    async def send_release(key: bytes, value: bytes):
        return await (await releases_topic.send(key=key, value=value))  # on the broker before the answer

    async def send_receipt(key: bytes, value: bytes):
        return await (await exports_topic.send(key=key, value=value))  # an export's receipt, likewise

    async def send_access_record(key: bytes, value: bytes) -> None:
        await (await access_log_topic.send(key=key, value=value))  # on record before the data leaves
    # the principals file is re-read when it changes (a removed principal is refused within a second);
    # who read what is stamped with the wall clock, even when the ledger's clock runs fast (the demo)
    gate = Gate(PrincipalsFile(settings.principals_path, settings.principals()), send_access_record,
                lambda: datetime.now(timezone.utc))
    return Worker(settings=settings, kafka=kafka, store=store, clock=clock, policies=policies, processor=processor,
                  gate=gate, key_store=settings.key_store(), pseudonym_key=settings.pseudonym_key_bytes,
                  events_producer=EdgeProducer(kafka), outputs=BatchProducer(kafka), reader=reader,
                  releases=ReleaseLog(reader, send_release),
                  exports=ReleaseLog(reader, send_receipt, topics.EXPORTS, decode_export_receipt, receipt_table),
                  ledger_consumer=LedgerConsumer(kafka, store, session_timeout_ms=int(SESSION_TIMEOUT_S * 1000),
                                                 heartbeat_interval_ms=int(HEARTBEAT_INTERVAL_S * 1000)))


def mark_fresh_store_graded(store, policy_version) -> bool:
    """A store folded from nothing grades every subject under the policy in force as it folds, so it needs
    no regrade once caught up unless that policy changes (measured: a fresh worker of the bench's 100,000
    subjects spent its first 5 s ready regrading them, for no change). True when the store was fresh."""
    if store.applied_offsets() or store.meta("graded_with") is not None:
        return False
    store.write({}, {}, meta={"graded_with": policy_version})
    return True


def state_version_notice(store) -> str | None:
    """What start-up says of the version of the states in the store (projections/state_versions.py), None
    when they are all of this code's. A fresh store is marked with the current version. A store marked
    with an older one (or with none: written before the mark) may hold states of that version: they are
    upcast as they are read, and are all written in the current version only by a re-fold from the log.
    A store marked with a newer version was written by newer code: StoreError, nothing is read."""
    marked = store.meta("state_version")
    if marked is None and not store.applied_offsets():
        store.write({}, {}, meta={"state_version": str(STATE_VERSION)})
        return None
    if marked is not None and int(marked) == STATE_VERSION:
        return None
    if marked is not None and int(marked) > STATE_VERSION:
        raise StoreError(f"the store {store.path} holds states of version {marked}, written by newer code; this "
                         f"code reads up to version {STATE_VERSION}: run the newer code, or start on an empty data "
                         "dir to re-fold the log")
    held = (f"holds states of version {marked}" if marked is not None
            else "was written before stores noted the version of their states")
    return (f"the store {store.path} {held} (this code writes version {STATE_VERSION}): each older state is "
            f"upcast as it is read; to write them all in version {STATE_VERSION}, stop the worker and start it "
            "on an empty data dir, which re-folds the log")
