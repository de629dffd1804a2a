"""The Faust worker: one agent folds credit.events, the web server serves the files.

Thin plumbing: the work itself is LedgerProcessor (streams/ledger.py) over the
pure fold (projections/). State lives in rocksdict next to the applied offsets
(streams/store.py); the ledger topic is its changelog.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from pathlib import Path

import faust
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from projections.fold import credit_file
from projections.canonical import instant_text
from streams import ledger_reader, metrics, topics
from streams.topics import ensure_topics
from streams.codec import encode_rejection
from streams.ledger import Batch, LedgerProcessor
from streams.store import SubjectStore

log = logging.getLogger(__name__)

TAKE_MAX = 500  # events folded per store write
TAKE_WITHIN_S = 0.05  # ...or fewer, after this long
READY_CHECK_S = 1.0


def json_response(web, value, status: int = 200):
    # aiohttp refuses a charset inside content_type=, so the header is set whole.
    return web.bytes(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS), status=status,
                     headers={"Content-Type": "application/json; charset=utf-8"})


def create_app(settings) -> faust.App:
    data_dir = Path(settings.data_dir)
    app = faust.App(
        "credit-ledger",
        broker=";".join(f"kafka://{host}" for host in settings.kafka.split(",")),
        store="rocksdb://",
        datadir=str(data_dir / "faust"),
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_host=settings.web_host,
        topic_partitions=settings.partitions,
        topic_allow_declare=False,  # topics are created with their retention by ops
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
    )
    store = SubjectStore(data_dir / "subjects")
    gap_reader = lambda p, start, end: (  # noqa: E731
        (p, offset, key, value) for offset, key, value, _ in
        ledger_reader.read_range(settings.kafka, topics.EVENTS, p, start, end))
    processor = LedgerProcessor(store, gap_reader)
    events_topic = app.topic(topics.EVENTS, key_serializer="raw", value_serializer="raw")
    rejected_topic = app.topic(topics.REJECTED, key_serializer="raw", value_serializer="raw")
    readiness = {"ready": False, "targets": None}

    async def publish_rejections(batch: Batch) -> None:
        rejected_at = datetime.now(timezone.utc)
        futures = []
        for r in batch.rejections:
            value = encode_rejection({
                "event_id": r.event_id, "topic": topics.EVENTS, "partition": r.partition, "offset": r.offset,
                "reasons": [p.as_dict() for p in r.reasons], "raw": r.raw, "rejected_at": instant_text(rejected_at)})
            futures.append(await rejected_topic.send(key=(r.subject_id or "").encode(), value=value))
        for future in futures:
            await future  # delivered before the store moves past these offsets

    @app.agent(events_topic)
    async def fold_ledger(stream):
        async for events in stream.take_events(TAKE_MAX, within=TAKE_WITHIN_S):
            records = [(e.message.partition, e.message.offset, e.message.key, e.message.value) for e in events]
            batch = processor.process(records)
            if batch.rejections:
                await publish_rejections(batch)
            processor.commit(batch)
            for partition, offset in batch.offsets.items():
                metrics.APPLIED_OFFSET.labels(str(partition)).set(offset)

    @app.timer(READY_CHECK_S)
    async def check_ready():
        # Ready once every partition is folded up to where the log stood when we looked first.
        assigned = [tp.partition for tp in app.consumer.assignment() if tp.topic == topics.EVENTS]
        if not assigned:
            return
        loop = asyncio.get_running_loop()
        marks = await loop.run_in_executor(None, ledger_reader.watermarks, settings.kafka, topics.EVENTS)
        if readiness["targets"] is None:
            readiness["targets"] = {p: marks[p][1] for p in assigned}
        applied = store.applied_offsets()
        for p in assigned:
            metrics.CONSUMER_LAG.labels(str(p)).set(max(0, marks[p][1] - applied.get(p, -1) - 1))
        readiness["ready"] = readiness["ready"] or all(
            applied.get(p, -1) + 1 >= target for p, target in readiness["targets"].items())

    @app.page("/subjects/{subject_id}")
    async def subject_file(web, request, subject_id: str):
        state = store.get(subject_id)
        if state is None:
            return json_response(web, {"error": f"no subject {subject_id} in the ledger"}, status=404)
        return json_response(web, credit_file(state))

    @app.page("/healthz")
    async def healthz(web, request):
        return json_response(web, {"status": "ok"})

    @app.page("/readyz")
    async def readyz(web, request):
        body = {"ready": readiness["ready"], "applied_offsets": store.applied_offsets()}
        return json_response(web, body, status=200 if readiness["ready"] else 503)

    @app.page("/metrics")
    async def prometheus_metrics(web, request):
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    app.subject_store = store  # for tests and the CLI
    app.ledger_processor = processor
    return app


def run_worker(settings, loglevel: str = "warn") -> None:
    """Run the worker until SIGINT/SIGTERM (production: `credit-ledger worker`)."""
    from faust import Worker

    ensure_topics(settings.kafka, partitions=settings.partitions)
    app = create_app(settings)
    committed = ledger_reader.committed_offsets(settings.kafka, app.conf.id, topics.EVENTS)
    app.ledger_processor.catch_up(committed)  # before Faust resumes from the group's offsets
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
