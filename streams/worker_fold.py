"""The fold loop: take records from the ledger's consumer group, fold them, publish the batch's outputs,
then commit it to the store; and the stop policy for when that cannot go on."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from projections.canonical import instant_text
from streams import metrics, topics
from streams.codec import encode_grade_changed
from streams.edge import rejection_record
from streams.ledger import Batch
from streams.proofs import TreeError, append_folded
from streams.store import StoreError
from streams.worker import Worker

log = logging.getLogger(__name__)

TAKE_MAX = 500  # events folded per store write
TAKE_WITHIN_S = 0.05  # how long a take with nothing queued waits for a first record
# A take holding fewer than TAKE_LINGER_UNTIL_RECORDS records waits up to TAKE_LINGER_MS for more: it runs while
# the batch before it folds, and each batch's store write and output flush serve more events (measured in
# one process: ~56 -> ~43 µs of the write an event from 5-event to 100-event batches; live at 400 events/s,
# batches of ~10-13 -> ~17-19 events). Bounded well under the 250 ms lag goal.
TAKE_LINGER_MS = 10
TAKE_LINGER_UNTIL_RECORDS = 100
SETTLE_ON_STOP_S = 5.0  # a stopping worker waits this long at most for the outputs of the batch in flight
STOP_EXIT_GRACE_S = 10.0  # a worker stopping on an error (stop_worker) exits after this at the latest


def produce_outputs(worker: Worker, batch: Batch) -> None:
    """Hand the batch's rejections and GradeChanged records to the producer; `settle` waits for them."""
    outputs, settings = worker.outputs, worker.settings
    rejected_at, at = datetime.now(timezone.utc), instant_text(worker.clock.now())
    for r in batch.rejections:  # the record's value only as its keyed digest (streams/edge.py)
        outputs.produce(topics.REJECTED, (r.subject_id or "").encode(), rejection_record(
            r.raw, r.reasons, settings.pseudonym_key_bytes, rejected_at, event_id=r.event_id,
            partition=r.partition, offset=r.offset))
    for change in batch.grade_changes:
        outputs.produce(topics.GRADES, change["subject_id"].encode(), encode_grade_changed({**change, "at": at}))


async def publish_outputs(worker: Worker, batch: Batch) -> None:
    """The batch's rejections and GradeChanged records, on the broker before the store moves past
    the batch's offsets and records the new grades."""
    produce_outputs(worker, batch)
    await worker.outputs.delivered()


async def settle(worker: Worker) -> None:
    """The batch the fold left with its outputs in flight (worker.unsettled): once the broker has them,
    written to the store. Whoever takes worker.writing settles it first, so that the store it reads
    and writes is the fold's."""
    batch = worker.unsettled
    if batch is None:
        return
    if batch.rejections or batch.grade_changes:
        await worker.outputs.delivered()
    worker.unsettled = None
    _commit(worker, batch)


async def drain(worker: Worker) -> None:
    """Write everything folded: the batches the fold processes hold (streams/fold_pool.py), merged, and the
    batch in flight. The caller holds worker.writing: the policy sweep, which grades from the store."""
    while worker.processor.folding:
        await _fold_batch(worker, [])
    await settle(worker)


def _commit(worker: Worker, batch: Batch) -> None:
    """Write a folded batch to the store, then grow the partitions' Merkle trees by its records."""
    worker.processor.commit(batch)
    for partition in batch.offsets:
        if partition not in worker.trees_catching_up:  # the digests timer reads the log for it now
            try:
                append_folded(worker.tree(partition), batch.records)
            except TreeError as error:  # never, but if so the timer's catch-up reads the log instead
                log.warning("partition %d: the fold did not grow the Merkle tree (%s)", partition, error)
    _observe(worker, batch)


def _observe(worker: Worker, batch: Batch) -> None:
    if worker.dashboard is not None:
        worker.dashboard.observe(batch)  # bounded buffers: recent grade changes, list entries, event rates
    metrics.FOLD_BATCHES.inc()
    for partition, offset in batch.offsets.items():
        metrics.APPLIED_OFFSET.labels(str(partition)).set(offset)


async def stop_worker(worker: Worker, error: Exception) -> None:
    """The store cannot be written (a full disk), or the fold cannot go on (the outputs of a batch
    undelivered for minutes): stop the worker, exit status 1 (run_worker). Going on would serve
    files that no longer follow the log while every later batch fails too."""
    if worker.stop_error is not None:
        return  # already stopping
    worker.stop_error = error
    worker.readiness.ready = False  # at once, before the web server stops
    log.critical("error: %s. Stopping the worker; nothing is lost: once the cause is fixed, a restart "
                 "folds the log from where the store stands", error)
    # The way SIGTERM stops it: app.crash() would mark the consumer's thread crashed too, and the
    # final offset commit of the shutdown would then wait for it forever.
    os.kill(os.getpid(), signal.SIGTERM)
    # Faust's shutdown can still wait without end for a batch left unacknowledged
    # (seen: "wait_empty: Waiting for tasks" every 11 s). Nothing is pending that a restart needs:
    # every store write is one atomic batch and every output was acknowledged before it. So after
    # a grace period the process ends anyway, with the same status.
    deadline = threading.Timer(STOP_EXIT_GRACE_S, os._exit, (1,))
    deadline.daemon = True  # a shutdown that ends in time exits at once, as before
    deadline.start()


def _take(ledger_consumer) -> Awaitable[list]:
    return ledger_consumer.take(TAKE_MAX, TAKE_WITHIN_S, linger_s=TAKE_LINGER_MS / 1000,
                                linger_until_records=TAKE_LINGER_UNTIL_RECORDS)


async def fold_ledger(worker: Worker, stop: Callable[[Worker, Exception], Awaitable[None]] = stop_worker) -> None:
    """Fold the ledger's records as they come, until the worker stops; any error stops the worker (`stop`:
    stop_worker; a test's driver, tests/driver.py, records the error instead of ending its process)."""
    ledger_consumer = worker.ledger_consumer
    taking: asyncio.Future | None = None  # the next batch's take, under way while this one folds
    try:
        while True:
            # the take also commits the store's offsets to the group now and then (for the lag tools)
            taking = taking or asyncio.ensure_future(_take(ledger_consumer))
            if worker.unsettled is not None and not taking.done():
                async with worker.writing:  # nothing queued yet: write the batch in flight meanwhile
                    await settle(worker)
            records = await taking
            taking = None
            if not records:
                if worker.processor.folding:  # the fold processes' last batch, to merge (streams/fold_pool.py)
                    async with worker.writing:
                        await _fold_batch(worker, records)
                continue
            # The next take runs in the consumer's thread while this batch folds (librdkafka hands over
            # its queue there): measured, one worker folding the bench's backlog, ~2,100 -> ~2,300 events/s.
            # A record it brings that this batch also folds is skipped by offset (REDELIVERED).
            taking = asyncio.ensure_future(_take(ledger_consumer))
            async with worker.writing:
                await _fold_batch(worker, records)
    except StoreError as error:  # says what and where; a traceback adds nothing
        forget_unwritten(worker)
        await stop(worker, error)
    except Exception as error:  # a task that died quietly would leave the files stale behind a live web server
        forget_unwritten(worker)
        log.exception("the ledger fold stopped")
        await stop(worker, error)
    finally:
        if taking is not None:
            taking.cancel()  # its records are not folded: the store, not the take, is the position
        await _settle_on_stop(worker)
        await ledger_consumer.close()  # leave the group: the others take over at once


async def _settle_on_stop(worker: Worker) -> None:
    """A worker stopping on request writes the batch in flight if its outputs arrive within
    SETTLE_ON_STOP_S: a restart then publishes them no second time. Otherwise it is folded again."""
    if worker.unsettled is None:
        return
    try:
        async with worker.writing:
            await asyncio.wait_for(settle(worker), SETTLE_ON_STOP_S)
    except BaseException as error:  # noqa: BLE001 - stopping anyway; the store stays a prefix of the log
        forget_unwritten(worker)
        log.warning("stopping with a folded batch unwritten (%s): it is folded again at the next start",
                    type(error).__name__)


async def _fold_batch(worker: Worker, records: list) -> None:
    """Fold a batch on top of the one still in flight, then settle that one (its outputs were acknowledged
    while this one folded) and send this one's: folding no longer waits for the broker's acknowledgements
    (measured: the worker's main thread was idle ~half the time, waiting for them, folding a backlog).
    A crash in between loses nothing: the store holds neither batch, and both are folded again."""
    batch = await worker.processor.fold(records, lambda: settle(worker))  # settle: meanwhile, or after
    if batch is None:  # the fold processes hold it: it comes back with the next batch (streams/fold_pool.py)
        return
    has_outputs = bool(batch.rejections or batch.grade_changes)
    if has_outputs:
        produce_outputs(worker, batch)
    # Left in flight, to be written by the next fold's `meanwhile` (or at once when the next take finds
    # nothing): a batch with outputs, so that they reach the broker meanwhile; with fold processes every
    # batch, so that they fold the next one while this process writes it (docs/performance.md).
    if has_outputs or worker.processor.writes_behind:
        worker.unsettled = batch
    else:
        _commit(worker, batch)


def forget_unwritten(worker: Worker) -> None:
    """After an error: what is not in the store was never folded (its outputs may have gone: at-least-once)."""
    worker.unsettled = None
    worker.processor.forget()


def install(app, worker: Worker) -> None:
    """The fold, one task of the Faust app."""

    @app.task
    async def fold_ledger_task():
        await fold_ledger(worker)
