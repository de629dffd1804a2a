"""The worker's timers: the deadlines, the digests of the log, stray keys, the regrade sweep and readiness.

Each is a Faust timer over the shared Worker (streams/worker.py); none of them raises out of its
tick, since a timer that raised would stop the app. Each tick is a function of its own (`..._once`,
`deadlines_tick`) that reads topics only through `worker.reader` and writes only through what it is
handed, so that the unit tests run it without a broker (tests/unit/test_worker_loops.py).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from confluent_kafka import KafkaException
from faust.exceptions import NotReady

from projections.canonical import instant_text
from projections.effects import GradeCounter, TimelinessCounter
from streams import metrics, topics
from streams.codec import encode_digest
from streams.key_store import STRAYS_EVERY_S
from streams.outputs import DeliveryError
from streams.proofs import PartitionTree, TreeError, catch_up
from streams.pii import KeyStoreError
from streams.store import StoreError
from streams.timers import TICK_S, Timers
from streams.worker import Worker
from streams.worker_fold import drain, forget_unwritten, publish_outputs, stop_worker

log = logging.getLogger(__name__)

READY_POLL_S = 0.2  # how often a worker not yet ready looks whether it is: a start is ready this much sooner
READY_CHECK_S = 1.0  # once ready: how often the lag gauges are refreshed (each look reads the watermarks)
DIGEST_INTERVAL_S = 5.0
TREE_IDLE_POLLS_MAX = 3  # empty polls of a second before the Merkle tree's read gives up until the next tick
REGRADE_CHECK_S = 1.0  # how soon a policy taking effect starts the regrade sweep


def install(app, worker: Worker) -> Timers:
    """Every timer of the worker; returns the deadline timers."""
    install_digests(app, worker)
    timers = install_deadlines(app, worker)
    install_stray_keys(app, worker)
    install_regrade(app, worker)
    install_readiness(app, worker)
    return timers


Send = Callable[[bytes, bytes], Awaitable[None]]  # (key, value), returned once the broker has it


@dataclass
class Digests:
    """What the digests timer keeps between ticks: per partition, the (offset, tree size) it published last.
    (The partitions' trees are the worker's: the fold grows them too.)"""
    published: dict[int, tuple[int, int]] = field(default_factory=dict)


def install_digests(app, worker: Worker) -> None:
    digests_topic = app.topic(topics.DIGESTS, key_serializer="raw", value_serializer="raw")
    digests = Digests()

    async def send_digest(key: bytes, value: bytes) -> None:
        await (await digests_topic.send(key=key, value=value))

    @app.timer(DIGEST_INTERVAL_S)
    async def publish_digests():
        await publish_digests_once(worker, digests, send_digest)


async def publish_digests_once(worker: Worker, digests: Digests, send: Send) -> None:
    """The newest root of each partition this worker folds, and its Merkle tree's, when either moved. Every
    (offset, root) pair is read before the first await: the fold commits on this loop, so during an await
    a partition's root could move past the offset read before it (a digest naming one offset with a later
    offset's root, which `verify` rightly calls a discrepancy). The tree is extended up to that offset."""
    store = worker.store
    roots = [(p, offset, store.log_root(p)) for p, offset in store.applied_offsets().items()]
    for p, offset, log_root in roots:
        tree = worker.tree(p)
        await extend_tree(worker, tree, offset)
        if digests.published.get(p) == (offset, tree.size):
            continue
        size, tree_offset, root = tree.size, tree.last_offset, tree.root().hex()
        try:  # on the broker before the worker proves against it (GET /subjects/{id}/history?proofs=1)
            await send(str(p).encode(), encode_digest({
                "topic": topics.EVENTS, "partition": p, "offset": offset, "root": log_root,
                "at": instant_text(datetime.now(timezone.utc)), "tree_size": size, "tree_root": root,
                "tree_offset": tree_offset}))
        except NotReady:  # stopping, as in fire_deadlines: the next start publishes the root
            return
        tree.set_published(size, root, tree_offset)
        digests.published[p] = (offset, size)


async def extend_tree(worker: Worker, tree: PartitionTree, until_offset: int) -> None:
    """The partition's Merkle tree extended from the log towards the applied offset (streams/proofs.py);
    a broker away or a tree that cannot grow is logged, and the next tick tries again."""
    def read_range(start: int, end: int):  # a broker away ends the read within seconds: a stop waits for it
        return worker.reader.read_range(topics.EVENTS, tree.partition, start, end,
                                        idle_polls_max=TREE_IDLE_POLLS_MAX)
    if tree.last_offset >= until_offset:
        return  # the fold grew it (streams/proofs.append_folded): nothing to read
    worker.trees_catching_up.add(tree.partition)  # the fold leaves it alone meanwhile
    try:
        await asyncio.get_running_loop().run_in_executor(None, catch_up, tree, read_range, until_offset)
    except (KafkaException, TimeoutError, TreeError, StoreError) as error:
        log.warning("partition %d: the Merkle tree stays at %d records (%s)", tree.partition, tree.size, error)
    finally:
        worker.trees_catching_up.discard(tree.partition)


def install_deadlines(app, worker: Worker) -> Timers:
    store = worker.store
    timers = Timers(store, worker.policies, worker.clock, worker.send_event,
                    partitions=lambda: worker.ledger_consumer.assigned())
    # The timeliness totals live in the store; the counters start from them, so they survive a restart.
    for counter, count in store.counters(TimelinessCounter).items():
        metrics.TIMELINESS[counter.outcome].labels(counter.authority_code).inc(count)

    @app.timer(TICK_S)
    async def fire_deadlines():
        await deadlines_tick(worker, timers)
    return timers


async def deadlines_tick(worker: Worker, timers: Timers) -> None:
    """The deadlines due published (once caught up: a deadline met by a record still unfolded would fire
    needlessly), then the gauges of the pending deadlines and of the subjects by grade."""
    if worker.readiness.ready:
        try:
            await timers.fire_due()
        except (DeliveryError, BufferError) as error:  # the broker away, or the producer's queue full
            # raised, it would stop the app; the deadlines stay in the store and fire again (REFIRE_AFTER_S)
            log.warning("the deadlines not yet on the broker fire again (%s)", error or "the queue is full")
            return
    timers.update_gauges()
    for counter, count in worker.store.counters(GradeCounter).items():
        metrics.GRADE_SUBJECTS.labels(counter.letter).set(count)


def install_stray_keys(app, worker: Worker) -> None:
    key_store = worker.key_store

    @app.timer(STRAYS_EVERY_S)
    async def tombstone_stray_keys():
        await tombstone_stray_keys_once(key_store)


async def tombstone_stray_keys_once(key_store) -> None:
    """The tombstone of a key another process made at the moment its subject was erased (streams/key_store.py)."""
    if key_store is not None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, key_store.tombstone_strays)
        except KeyStoreError as error:  # the broker away: the next round tries again
            log.warning("key store: %s", error.reason)


def install_regrade(app, worker: Worker) -> None:
    @app.timer(REGRADE_CHECK_S)
    async def regrade_on_new_policy():
        await regrade_on_new_policy_once(worker)


async def regrade_on_new_policy_once(worker: Worker) -> None:
    """A policy taking effect regrades every subject; progress in credit_regrade_progress_ratio."""
    store, processor = worker.store, worker.processor
    policy = worker.policy_now()
    if not worker.readiness.ready or store.meta("graded_with") == policy.version:
        return
    total, done = max(1, store.subject_count()), 0
    metrics.REGRADE_PROGRESS.set(0)
    try:
        chunks = processor.regrade_all(policy)
        while True:
            async with worker.writing:
                await drain(worker)  # the fold's batches in flight first: the sweep grades what they wrote
                chunk = next(chunks, None)
                if chunk is None:
                    break
                batch, count = chunk
                if batch.grade_changes:
                    await publish_outputs(worker, batch)
                processor.commit(batch)
            done += count
            metrics.REGRADED.inc(count)
            metrics.REGRADE_PROGRESS.set(min(1.0, done / total))
            await asyncio.sleep(0)  # let the fold and the web server in between chunks
        store.write({}, {}, meta={"graded_with": policy.version})
    except StoreError as error:  # says what and where; a traceback adds nothing
        forget_unwritten(worker)
        await stop_worker(worker, error)
        return
    except Exception as error:  # e.g. DeliveryError, a fold process's: as the fold stops, not a crashed timer
        forget_unwritten(worker)
        log.exception("the regrade sweep stopped")
        await stop_worker(worker, error)
        return
    metrics.REGRADE_PROGRESS.set(1)


def install_readiness(app, worker: Worker) -> None:
    @app.timer(READY_POLL_S)
    async def check_ready():
        await check_ready_when_due(worker, time.monotonic())


async def check_ready_when_due(worker: Worker, now_s: float) -> None:
    """Look at every poll until ready, then every READY_CHECK_S (`now_s`: monotonic seconds)."""
    readiness = worker.readiness
    if readiness.ready and now_s - readiness.checked_at_s < READY_CHECK_S:
        return
    readiness.checked_at_s = now_s
    await check_ready_once(worker)


async def check_ready_once(worker: Worker) -> None:
    # Ready once every partition is folded up to where the log stood when we looked first.
    store, readiness = worker.store, worker.readiness
    assigned = sorted(worker.ledger_consumer.assigned())
    if not assigned:
        return
    loop = asyncio.get_running_loop()
    try:
        marks = await loop.run_in_executor(None, worker.reader.watermarks, topics.EVENTS)
    except KafkaException as error:  # the broker is away (a restart): a timer that raised would stop the app
        log.warning("readiness check: cannot read the watermarks (%s); trying again", error)
        return
    lagging = readiness.shown_partitions  # the partitions whose gauges this worker shows
    changed = assigned != lagging  # partitions taken over: at start, or from a worker that left
    if readiness.targets is None or (changed and not readiness.ready):
        readiness.targets = {p: marks[p][1] for p in assigned}
    applied = store.applied_offsets()
    for p in assigned:
        metrics.CONSUMER_LAG.labels(str(p)).set(max(0, marks[p][1] - applied.get(p, -1) - 1))
        metrics.APPLIED_OFFSET.labels(str(p)).set(applied.get(p, -1))
    for p in set(lagging) - set(assigned):  # moved to another worker: its gauges are not ours to show
        metrics.CONSUMER_LAG.remove(str(p))
        metrics.APPLIED_OFFSET.remove(str(p))
    lagging[:] = assigned
    readiness.ready = readiness.ready or all(
        applied.get(p, -1) + 1 >= target for p, target in readiness.targets.items())
