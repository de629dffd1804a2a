"""The worker: one task folds credit.events, Faust serves the files and runs the timers.

Thin plumbing: the work itself is LedgerProcessor (streams/ledger.py) over the
pure fold (projections/). The records come from the ledger's consumer group
(streams/ledger_consumer.py), positioned by the store. State lives in rocksdict
next to the applied offsets (streams/store.py); the ledger topic is its changelog.

This file wires the worker's parts together (streams/worker.py lists them): each gets the
shared Worker and installs its tasks, timers or routes on the Faust app.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path

import faust

from projections.exports import receipt_table
from streams import ledger_reader, routes_audit, routes_files, routes_public, routes_publishing, routes_releases
from streams import routes_exports, routes_self, routes_stats, topics, web_guard
from streams import worker_fold, worker_loops
from streams.codec import decode_export_receipt
from streams.dashboard import install as install_dashboard
from streams.gate import Gate
from streams.kafka_access import WORKER, faust_credentials
from streams.ledger import LedgerProcessor
from streams.ledger_consumer import LedgerConsumer
from streams.outputs import BatchProducer
from streams.principals import PrincipalsFile
from streams.release_log import ReleaseLog
from streams.store import StoreError, SubjectStore
from streams.topics import ensure_topics
from streams.worker import Worker, policy_in_force

log = logging.getLogger(__name__)

SESSION_TIMEOUT_S = 10.0
HEARTBEAT_INTERVAL_S = 1.0


def create_app(settings) -> faust.App:
    """The worker's Faust app with every part installed (tests read its router without running it)."""
    return create_worker(settings)[0]


def create_worker(settings) -> tuple[faust.App, Worker]:
    """The Faust app and the Worker its parts share, each part installed in the order it was declared
    before the split (the fold, its timers, the routes); the web guard last, over every page."""
    kafka = settings.kafka_access(WORKER)  # every client of the worker, Faust's too, is its principal
    app = faust_app(settings, kafka)
    worker = worker_context(app, settings, kafka)
    worker.dashboard = install_dashboard(app, worker.store, worker.clock, worker.gate, bootstrap=kafka,
                                         ready=lambda: worker.readiness.ready)
    worker_fold.install(app, worker)
    app.task(dump_stacks_on_sigusr1)
    worker_loops.install(app, worker)
    routes_audit.install(app, worker)
    routes_files.install(app, worker)
    routes_publishing.install(app, worker)
    routes_public.install(app, worker)
    routes_stats.install(app, worker)
    routes_self.install(app, worker)
    routes_releases.install(app, worker)
    routes_exports.install(app, worker)
    # every page is declared: only these are served (Faust's own web apps are not), all with security headers
    web_guard.install(app.web.web_app, web_guard.our_routes(app.web.web_app))
    return app, worker


def faust_app(settings, kafka) -> faust.App:
    data_dir = Path(settings.data_dir)
    return faust.App(
        # Faust runs the web server, the timers and the sends; the ledger's own consumer group
        # (streams/ledger_consumer.py) takes the name "credit-ledger"
        "credit-ledger-web",
        broker=";".join(f"kafka://{host}" for host in kafka.bootstrap.split(",")),
        broker_credentials=faust_credentials(kafka),
        store="rocksdb://",
        datadir=str(data_dir / "faust"),
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_host=settings.web_host,
        topic_partitions=settings.partitions,
        topic_allow_declare=False,  # topics are created with their retention by ops
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        # A worker killed without leaving the group holds its partitions until the
        # session times out; Faust's 60 s default would stall a restart that long.
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=HEARTBEAT_INTERVAL_S,
        **web_guard.FAUST_WEB_APPS_OFF,
    )


def worker_context(app: faust.App, settings, kafka) -> Worker:
    """What the parts share: the store and its fold, the gate, the keys, the producers and the consumer."""
    store = SubjectStore(Path(settings.data_dir) / "subjects")
    gap_reader = lambda p, start, end: (  # noqa: E731
        (p, offset, key, value) for offset, key, value, _ in
        ledger_reader.read_range(kafka, topics.EVENTS, p, start, end))
    policies, clock = settings.policies(), settings.clock()

    def policy_now():
        return policy_in_force(policies, clock)
    # each event folds under the policy of the day it was recorded; grades use the policy in force now
    processor = LedgerProcessor(store, gap_reader, policies, grading_policy=policy_now)
    if not store.applied_offsets() and store.meta("graded_with") is None:
        # A store folded from nothing grades every subject under the policy in force as it folds, so
        # it needs no regrade once caught up unless that policy changes (measured: a fresh worker of
        # the bench's 100,000 subjects spent its first 5 s ready regrading them, for no change).
        store.write({}, {}, meta={"graded_with": policy_now().version})
    events_topic = app.topic(topics.EVENTS, key_serializer="raw", value_serializer="raw")
    access_log_topic = app.topic(topics.ACCESS_LOG, key_serializer="raw", value_serializer="raw")
    releases_topic = app.topic(topics.RELEASES, key_serializer="raw", value_serializer="raw")

    exports_topic = app.topic(topics.EXPORTS, key_serializer="raw", value_serializer="raw")

    async def send_release(key: bytes, value: bytes):
        return await (await releases_topic.send(key=key, value=value))  # on the broker before the answer

    async def send_receipt(key: bytes, value: bytes):
        return await (await exports_topic.send(key=key, value=value))

    async def send_access_record(key: bytes, value: bytes) -> None:
        await (await access_log_topic.send(key=key, value=value))  # on record before the data leaves
    # the principals file is re-read when it changes (a removed principal is refused within a second);
    # who read what is stamped with the wall clock, even when the ledger's clock runs fast (the demo)
    gate = Gate(PrincipalsFile(settings.principals_path, settings.principals()), send_access_record,
                lambda: datetime.now(timezone.utc))
    return Worker(settings=settings, kafka=kafka, store=store, clock=clock, policies=policies, processor=processor,
                  gate=gate, key_store=settings.key_store(), pseudonym_key=settings.pseudonym_key_bytes,
                  events_topic=events_topic, outputs=BatchProducer(kafka), releases=ReleaseLog(kafka, send_release),
                  exports=ReleaseLog(kafka, send_receipt, topics.EXPORTS, decode_export_receipt, receipt_table),
                  ledger_consumer=LedgerConsumer(kafka, store, session_timeout_ms=int(SESSION_TIMEOUT_S * 1000),
                                                 heartbeat_interval_ms=int(HEARTBEAT_INTERVAL_S * 1000)))


async def dump_stacks_on_sigusr1():
    """`kill -USR1 <worker pid>` writes the stack of every task and thread to the log: where a
    worker that stopped folding is waiting (a broker-restart test saw one, 1 run in ~10)."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_stacks)


AWAIT_CHAIN_MAX = 50  # frames shown of one task


def dump_stacks() -> None:
    """Where every asyncio task waits, then every thread's stack (faulthandler), to the log."""
    import faulthandler

    for task in asyncio.all_tasks():
        # down the chain of awaits to the innermost (asyncio's own stack of a task stops at its outer frame)
        frames, awaited = [], task.get_coro()
        while awaited is not None and len(frames) < AWAIT_CHAIN_MAX:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is not None:
                frames.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        log.warning("task %s waits at:\n%s", task.get_name(), "\n".join(frames))
    faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)  # mode swaps sys.stderr for a logger


def run_worker(settings, loglevel: str = "warn") -> None:
    """Run the worker until SIGINT/SIGTERM (production: `credit-ledger worker`)."""
    from faust import Worker as FaustWorker

    ensure_topics(settings.kafka_access(WORKER), partitions=settings.partitions)
    try:
        app, worker = create_worker(settings)
    except StoreError as error:  # e.g. a disk that filled up since the data dir was checked
        sys.exit(f"error: {error}")
    try:
        faust_worker = FaustWorker(app, loglevel=loglevel, quiet=True)
        faust_worker.spinner = None  # its progress spinner's terminal codes would land in the worker's log
        faust_worker.execute_from_commandline()
    finally:  # it always ends in SystemExit; a store that failed makes it a failure
        if worker.stop_error is not None:
            sys.exit(f"error: {worker.stop_error}")
