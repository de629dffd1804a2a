"""The worker: one task folds credit.events, Faust serves the files and runs the timers.

Thin plumbing: the work itself is LedgerProcessor (streams/ledger.py) over the
pure fold (projections/). The records come from the ledger's consumer group
(streams/ledger_consumer.py), positioned by the store. State lives in rocksdict
next to the applied offsets (streams/store.py); the ledger topic is its changelog.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import faust
import orjson
from faust.exceptions import NotReady
from confluent_kafka import KafkaException
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from projections import access
from projections.fold import content_digest, credit_file, id_conflict, seen_id, shown_grade
from projections.catalogue import LIST_KINDS, MAX_EVENT_BYTES
from projections.lists import listed_on, public_entry
from projections.replay import bitemporal_view, state_as_of
from projections.canonical import BadInstant, instant_text, read_instant
from streams import ledger_reader, metrics, topics, web_guard
from streams.topics import ensure_topics
from projections.access import AUDIT_READ_BYTES_MAX, audit_read
from projections.validate import EdgeContext, Problem, problems_as_dicts, validate_event
from streams.codec import encode_digest, encode_event, encode_grade_changed
from projections.quotas import TOO_MANY
from streams.edge import LINE_BYTES_MAX, RETRY_LATER, judge, rejection_record
from streams.kafka_access import WORKER, faust_credentials
from streams.edge_quotas import EdgeQuotas
from streams.gate import Gate
from streams.principals import PrincipalsFile
from streams.erasure import ERASE_BODY_BYTES_MAX, erase_problems, erasure_event
from streams.key_store import STRAYS_EVERY_S
from streams.pii import KeyStoreError, with_personal_info
from streams.dashboard import HTML_PAGE_HEADERS, not_found_page, prefers_html
from streams.dashboard import install as install_dashboard
from streams.ledger import Batch, LedgerProcessor
from streams.ledger_consumer import LedgerConsumer
from streams.outputs import BatchProducer, DeliveryError, EdgeProducer
from streams.report import render_report
from streams.store import StoreError, SubjectStore
from streams.timers import TICK_S, Timers

log = logging.getLogger(__name__)

TAKE_MAX = 500  # events folded per store write
TAKE_WITHIN_S = 0.05  # how long a take with nothing queued waits for a first record
READY_CHECK_S = 1.0
DIGEST_INTERVAL_S = 5.0
SESSION_TIMEOUT_S = 10.0
POST_BODY_BYTES_MAX = LINE_BYTES_MAX  # one event's JSON (streams/edge.py)
POST_BODY_CHUNK_BYTES = 16 * 1024
# POST /events:batch: NDJSON, one event a line. 5,000 events of a usual 1-3 KiB fit well in 16 MiB; the
# SDK sends up to 5,000 lines and 8 MiB a request (streams/sdk.py).
BATCH_LINES_MAX = 5_000
BATCH_BODY_BYTES_MAX = 16 * 1024 * 1024
BATCHES_IN_FLIGHT_MAX = 8  # batches handled at once; more are answered 503 at once (memory: 8 x 16 MiB)
# Lines judged and produced between two turns of the event loop (~60 us each: ~0.1 s). The edge and the
# fold share the loop, and the fold takes a batch of up to TAKE_MAX records (~0.1 s) at each turn it gets.
# Measured on 2026-12-06 (20,000 events through the SDK into a worker that had folded 30,000): with 250
# lines a turn and batches of 1,000 it accepted 1,800-3,000 events/s, with 2,000 lines a turn and batches
# of 5,000 3,900-7,000, against 4,300-7,600/s for its fold alone: the edge takes the events as fast as the
# worker folds them, and the fold catches up after a burst.
EDGE_CHUNK_LINES = 2_000
NDJSON = "application/x-ndjson"
LIVE_REPORT_SOURCE = "本账本工作进程的实时档案（由 credit.events 折叠而成）"  # what a report served here is built from
HEARTBEAT_INTERVAL_S = 1.0
LIST_PAGE_DEFAULT, LIST_PAGE_MAX = 100, 1000
REGRADE_CHECK_S = 1.0  # how soon a policy taking effect starts the regrade sweep
STOP_EXIT_GRACE_S = 10.0  # a worker stopping on an error (stop_worker) exits after this at the latest


def json_response(web, value, status: int = 200):
    # aiohttp refuses a charset inside content_type=, so the header is set whole.
    return web.bytes(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS), status=status,
                     headers={"Content-Type": "application/json; charset=utf-8"})


async def read_body(request, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is known to be larger than `limit` bytes: by its
    Content-Length before a byte is read, else (chunked) once `limit` + 1 bytes have come. A body of
    50 MB is refused after at most `limit` + a chunk, never read whole."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    async for chunk in request.content.iter_chunked(POST_BODY_CHUNK_BYTES):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def create_app(settings) -> faust.App:
    data_dir = Path(settings.data_dir)
    kafka = settings.kafka_access(WORKER)  # every client of the worker, Faust's too, is its principal
    app = faust.App(
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
    store = SubjectStore(data_dir / "subjects")
    gap_reader = lambda p, start, end: (  # noqa: E731
        (p, offset, key, value) for offset, key, value, _ in
        ledger_reader.read_range(kafka, topics.EVENTS, p, start, end))
    policies, clock = settings.policies(), settings.clock()

    def policy_now():
        return policies.in_force(instant_text(clock.now())[:10])
    # each event folds under the policy of the day it was recorded; grades use the policy in force now
    processor = LedgerProcessor(store, gap_reader, policies, grading_policy=policy_now)
    if not store.applied_offsets() and store.meta("graded_with") is None:
        # A store folded from nothing grades every subject under the policy in force as it folds, so
        # it needs no regrade once caught up unless that policy changes (measured: a fresh worker of
        # the bench's 100,000 subjects spent its first 5 s ready regrading them, for no change).
        store.write({}, {}, meta={"graded_with": policy_now().version})
    events_topic = app.topic(topics.EVENTS, key_serializer="raw", value_serializer="raw")
    readiness = {"ready": False, "targets": None}
    access_log_topic = app.topic(topics.ACCESS_LOG, key_serializer="raw", value_serializer="raw")

    async def send_access_record(key: bytes, value: bytes) -> None:
        await (await access_log_topic.send(key=key, value=value))  # on record before the data leaves
    # the principals file is re-read when it changes (a removed principal is refused within a second);
    # who read what is stamped with the wall clock, even when the ledger's clock runs fast (the demo)
    gate = Gate(PrincipalsFile(settings.principals_path, settings.principals()), send_access_record,
                lambda: datetime.now(timezone.utc))
    key_store = settings.key_store()
    pseudonym_key = settings.pseudonym_key_bytes  # read once (it may be a file): the worker has none otherwise

    def today() -> str:
        return instant_text(clock.now())[:10]  # the Asia/Shanghai date on the ledger's clock
    dashboard = install_dashboard(app, store, clock, gate, bootstrap=kafka, ready=lambda: readiness["ready"])

    outputs = BatchProducer(kafka)

    async def publish_outputs(batch: Batch) -> None:
        """The batch's rejections and GradeChanged records, on the broker before the store moves past
        the batch's offsets and records the new grades."""
        rejected_at, at = datetime.now(timezone.utc), instant_text(clock.now())
        for r in batch.rejections:  # the record's value only as its keyed digest (streams/edge.py)
            outputs.produce(topics.REJECTED, (r.subject_id or "").encode(), rejection_record(
                r.raw, r.reasons, settings.pseudonym_key_bytes, rejected_at, event_id=r.event_id,
                partition=r.partition, offset=r.offset))
        for change in batch.grade_changes:
            outputs.produce(topics.GRADES, change["subject_id"].encode(), encode_grade_changed({**change, "at": at}))
        await outputs.delivered()

    # The fold and the policy sweep both write grades: one at a time, publish then commit.
    writing = asyncio.Lock()

    async def stop_worker(error: Exception) -> None:
        """The store cannot be written (a full disk), or the fold cannot go on (the outputs of a batch
        undelivered for minutes): stop the worker, exit status 1 (run_worker). Going on would serve
        files that no longer follow the log while every later batch fails too."""
        if app.stop_error is not None:
            return  # already stopping
        app.stop_error = error
        readiness["ready"] = False  # at once, before the web server stops
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

    ledger_consumer = LedgerConsumer(kafka, store, session_timeout_ms=int(SESSION_TIMEOUT_S * 1000),
                                     heartbeat_interval_ms=int(HEARTBEAT_INTERVAL_S * 1000))

    @app.task
    async def fold_ledger():
        taking: asyncio.Future | None = None  # the next batch's take, under way while this one folds
        try:
            while True:
                # the take also commits the store's offsets to the group now and then (for the lag tools)
                records = await (taking or ledger_consumer.take(TAKE_MAX, TAKE_WITHIN_S))
                taking = None
                if not records:
                    continue
                # The next take runs in the consumer's thread while this batch folds (librdkafka hands over
                # its queue there): measured, one worker folding the bench's backlog, ~2,100 -> ~2,300 events/s.
                # A record it brings that this batch also stores is skipped by offset (REDELIVERED).
                taking = asyncio.ensure_future(ledger_consumer.take(TAKE_MAX, TAKE_WITHIN_S))
                async with writing:
                    batch = processor.process(records)
                    if batch.rejections or batch.grade_changes:
                        await publish_outputs(batch)
                    processor.commit(batch)
                dashboard.observe(batch)  # bounded buffers: recent grade changes, list entries, event rates
                for partition, offset in batch.offsets.items():
                    metrics.APPLIED_OFFSET.labels(str(partition)).set(offset)
        except StoreError as error:  # says what and where; a traceback adds nothing
            await stop_worker(error)
        except Exception as error:  # a task that died quietly would leave the files stale behind a live web server
            log.exception("the ledger fold stopped")
            await stop_worker(error)
        finally:
            if taking is not None:
                taking.cancel()  # its records are not folded: the store, not the take, is the position
            await ledger_consumer.close()  # leave the group: the others take over at once

    @app.task
    async def dump_stacks_on_sigusr1():
        """`kill -USR1 <worker pid>` writes the stack of every task and thread to the log: where a
        worker that stopped folding is waiting (a broker-restart test saw one, 1 run in ~10)."""
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_stacks)

    digests_topic = app.topic(topics.DIGESTS, key_serializer="raw", value_serializer="raw")
    digests_published: dict[int, int] = {}  # partition -> last offset published

    @app.timer(DIGEST_INTERVAL_S)
    async def publish_digests():
        # The newest root of each partition this worker folds, when it moved since the last one.
        for p, offset in store.applied_offsets().items():
            if digests_published.get(p) == offset:
                continue
            try:
                await digests_topic.send(key=str(p).encode(), value=encode_digest({
                    "topic": topics.EVENTS, "partition": p, "offset": offset, "root": store.log_root(p),
                    "at": instant_text(datetime.now(timezone.utc))}))
            except NotReady:  # stopping, as in fire_deadlines: the next start publishes the root
                return
            digests_published[p] = offset

    async def send_event(subject_id: str, value: bytes):
        return await events_topic.send(key=subject_id.encode(), value=value)

    timers = Timers(store, policies, clock, send_event, owns=lambda partition: partition in ledger_consumer.assigned())

    @app.page("/subjects/{subject_id}/personal-info/erase")
    class ErasePersonalInfo(faust.web.View):
        """POST {"reason": "..."}: erase a natural person's personal information for good (streams/erasure.py).
        200 {subject_id, erased_at, keys_erased, newly_erased, event_id, partition, offset}; 400 a bad request,
        401/403 not the admin, 404 no key of it ever, 503 no key store (sealing off) or the broker away."""

        async def post(self, request, subject_id: str):
            principal, refusal = gate.check(request, "erase_personal_info")
            if refusal:
                return json_response(self.web, *refusal)
            reason, problems = erase_problems(subject_id, await read_body(request, ERASE_BODY_BYTES_MAX))
            if problems:
                return json_response(self.web, {"errors": problems_as_dicts(problems)}, 400)
            if key_store is None:
                return json_response(self.web, {"errors": [{"field": "$", "rule": "unavailable", "message": (
                    "this worker seals no personal information (pii_key_store = off): there is none to erase")}]}, 503)
            loop = asyncio.get_running_loop()
            try:
                if not await loop.run_in_executor(None, key_store.known, subject_id):
                    return json_response(self.web, {"error": f"no personal information of {subject_id} in the key "
                                                             "store: nothing to erase"}, 404)
                decision = access.endpoint_decision(principal, "erase_personal_info", subject_id)
                await gate.log(replace(decision, reason=f"{decision.reason}: {reason}"),
                               "POST /subjects/{id}/personal-info/erase")
                erased = await loop.run_in_executor(None, key_store.erase, subject_id, reason, principal.name)
                marker = await loop.run_in_executor(None, key_store.erasure, subject_id)
            except KeyStoreError as error:
                return json_response(self.web, {"errors": [{"field": "$", "rule": "key_store",
                                                            "message": error.reason}]}, 503)
            event, problems = validate_event(erasure_event(subject_id, marker, clock.now(), policy_now()), EdgeContext(
                now=clock.now(), pseudonym_key=b"", stamp_recorded_at=False, allow_system=True))
            assert not problems, problems  # built from bounded parts: a bug otherwise
            written = await (await send_event(subject_id, encode_event(event)))  # on the broker before the answer
            return json_response(self.web, {"subject_id": subject_id, "erased_at": marker["erased_at"],
                                            "keys_erased": marker["keys_erased"], "newly_erased": erased,
                                            "event_id": event["event_id"], "partition": written.partition,
                                            "offset": written.offset})
    # The timeliness totals live in the store; the counters start from them, so they survive a restart.
    for name, count in store.counters("timeliness/").items():
        _, authority, outcome = name.split("/")
        metrics.TIMELINESS[outcome].labels(authority).inc(count)

    @app.timer(TICK_S)
    async def fire_deadlines():
        # Only once caught up: a deadline met by a record still unfolded would fire needlessly.
        if readiness["ready"]:
            try:
                await timers.fire_due()
            except NotReady:  # a stop (SIGTERM) closed the producer mid-tick; raised, it made the stop a crash
                log.info("stopping: the deadlines not yet published fire after the restart")
                return
        timers.update_gauges()
        for name, count in store.counters("grades/").items():
            metrics.GRADE_SUBJECTS.labels(name.split("/", 1)[1]).set(count)

    @app.timer(STRAYS_EVERY_S)
    async def tombstone_stray_keys():
        """The tombstone of a key another process made at the moment its subject was erased (streams/key_store.py)."""
        if key_store is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, key_store.tombstone_strays)
            except KeyStoreError as error:  # the broker away: the next round tries again
                log.warning("key store: %s", error.reason)

    @app.timer(REGRADE_CHECK_S)
    async def regrade_on_new_policy():
        """A policy taking effect regrades every subject; progress in credit_regrade_progress_ratio."""
        policy = policy_now()
        if not readiness["ready"] or store.meta("graded_with") == policy.version:
            return
        total, done = max(1, store.subject_count()), 0
        metrics.REGRADE_PROGRESS.set(0)
        try:
            for batch, count in processor.regrade_all(policy):
                async with writing:
                    if batch.grade_changes:
                        await publish_outputs(batch)
                    processor.commit(batch)
                done += count
                metrics.REGRADED.inc(count)
                metrics.REGRADE_PROGRESS.set(min(1.0, done / total))
                await asyncio.sleep(0)  # let the fold and the web server in between chunks
            store.write({}, {}, meta={"graded_with": policy.version})
        except StoreError as error:
            await stop_worker(error)
            return
        metrics.REGRADE_PROGRESS.set(1)

    lagging: list[int] = []  # the partitions whose gauges this worker shows

    @app.timer(READY_CHECK_S)
    async def check_ready():
        # Ready once every partition is folded up to where the log stood when we looked first.
        assigned = sorted(ledger_consumer.assigned())
        if not assigned:
            return
        loop = asyncio.get_running_loop()
        try:
            marks = await loop.run_in_executor(None, ledger_reader.watermarks, kafka, topics.EVENTS)
        except KafkaException as error:  # the broker is away (a restart): a timer that raised would stop the app
            log.warning("readiness check: cannot read the watermarks (%s); trying again", error)
            return
        changed = assigned != lagging  # partitions taken over: at start, or from a worker that left
        if readiness["targets"] is None or (changed and not readiness["ready"]):
            readiness["targets"] = {p: marks[p][1] for p in assigned}
        applied = store.applied_offsets()
        for p in assigned:
            metrics.CONSUMER_LAG.labels(str(p)).set(max(0, marks[p][1] - applied.get(p, -1) - 1))
            metrics.APPLIED_OFFSET.labels(str(p)).set(applied.get(p, -1))
        for p in set(lagging) - set(assigned):  # moved to another worker: its gauges are not ours to show
            metrics.CONSUMER_LAG.remove(str(p))
            metrics.APPLIED_OFFSET.remove(str(p))
        lagging[:] = assigned
        readiness["ready"] = readiness["ready"] or all(
            applied.get(p, -1) + 1 >= target for p, target in readiness["targets"].items())

    async def file_view(principal, state: dict, endpoint: str) -> dict:
        """The credit file as `principal` may see it (projections/access.py), its reading logged;
        a natural person's name and ID number only for the roles allowed them."""
        view, decision = access.view_file(credit_file(state, policy_now()), state, principal, today(),
                                          policy=policy_now())
        await gate.log(decision, endpoint)
        if key_store is not None and access.can(principal, "personal_info") is None \
                and view["subject"].get("kind") == "NATURAL_PERSON":
            # the key store reads credit.pii-keys up to its end first (an erasure anywhere holds here): off the loop
            view = await asyncio.get_running_loop().run_in_executor(
                None, with_personal_info, view, store.history(view["subject"]["id"]), key_store)
            await gate.log(access.endpoint_decision(principal, "personal_info", view["subject"]["id"]), endpoint)
        return view

    def report_page(web, principal, view: dict):
        # the report lists the events only to those who may read the history
        history = store.history(view["subject"]["id"]) if access.can(principal, "history") is None else []
        page = render_report(view, history, instant_text(clock.now()), source=LIVE_REPORT_SOURCE)
        return web.bytes(page.encode(), headers=HTML_PAGE_HEADERS)

    @app.page("/subjects/{subject_id}")
    async def subject_file(web, request, subject_id: str):
        """The credit file: JSON, or the credit report page for a browser (Accept prefers text/html)."""
        principal, refusal = gate.check(request, "read_file")
        if refusal:
            return json_response(web, *refusal)
        # below the supervisors a subject with no PUBLIC event is not found, as one the ledger never heard of
        state, html = access.known_state(store.get(subject_id), principal, today()), prefers_html(request)
        if state is None:
            if html:
                return web.bytes(not_found_page(subject_id).encode(), status=404, headers=HTML_PAGE_HEADERS)
            return json_response(web, {"error": f"no subject {subject_id} in the ledger"}, status=404)
        view = await file_view(principal, state, "GET /subjects/{id}")
        return report_page(web, principal, view) if html else json_response(web, view)

    @app.page("/subjects/{subject_id}/grade")
    async def subject_grade(web, request, subject_id: str):
        """The grade now, or `?at=T` (an instant, or a date meaning 00:00 Asia/Shanghai): as the ledger
        knew the file at T, under the policy in force at T."""
        _, refusal = await gate.admit(request, "grade", "GET /subjects/{id}/grade", subject_id)
        if refusal:
            return json_response(web, *refusal)
        state = store.get(subject_id)
        if state is None:
            return json_response(web, {"error": f"no subject {subject_id} in the ledger"}, status=404)
        at = request.query.get("at")
        if at is None:
            return json_response(web, {"subject_id": subject_id, **shown_grade(state, policy_now())})
        try:
            moment = read_instant(at, "at")
        except BadInstant as error:
            return json_response(web, {"errors": [error.as_dict()]}, status=400)
        then = state_as_of(store.history(subject_id), moment, policies)
        day = instant_text(moment)[:10]
        body = {"subject_id": subject_id, "at": instant_text(moment),
                **(shown_grade(then, policies.in_force(day)) if then is not None else {"letter": None, "reasons": []})}
        return json_response(web, body)

    @app.page("/subjects/{subject_id}/report")
    async def subject_report(web, request, subject_id: str):
        """The printable credit report (信用报告), in Simplified Chinese, self-contained (works offline),
        of what the reader may see."""
        principal, refusal = gate.check(request, "report")
        if refusal:
            return json_response(web, *refusal)
        state = access.known_state(store.get(subject_id), principal, today())
        if state is None:
            return json_response(web, {"error": f"no subject {subject_id} in the ledger"}, status=404)
        return report_page(web, principal, await file_view(principal, state, "GET /subjects/{id}/report"))

    @app.page("/subjects/{subject_id}/history")
    async def subject_history(web, request, subject_id: str):
        """The accepted events with their chain hashes; with `as_of=T` (transaction time) and/or
        `valid_at=D` (valid time) also the credit file as the ledger knew it at T / as true on D."""
        _, refusal = await gate.admit(request, "history", "GET /subjects/{id}/history", subject_id)
        if refusal:
            return json_response(web, *refusal)
        if store.get(subject_id) is None:
            return json_response(web, {"error": f"no subject {subject_id} in the ledger"}, status=404)
        history = store.history(subject_id)
        as_of, valid_at = request.query.get("as_of"), request.query.get("valid_at")
        if as_of is None and valid_at is None:
            return json_response(web, {"subject_id": subject_id, "history": history})
        try:
            view = bitemporal_view(history, as_of, valid_at, policies, today=today())
        except BadInstant as error:
            return json_response(web, {"errors": [error.as_dict()]}, 400)
        return json_response(web, {"subject_id": subject_id, **view})

    @app.page("/access-log")
    class AuditReads(faust.web.View):
        """POST /access-log: a command about to read the ledger from Kafka itself (`history`, `report`,
        `verify`) has its read recorded first, as the principal its token names: {"action": "history" or
        "verify", "subject_id": the subject or null for the whole log, "command": what it reads}. 201 once
        the record is on credit.access-log; the command reads nothing without it (the auditor's Kafka
        user may read the ledger but write nothing, so the record comes from here)."""

        async def post(self, request):
            body = await read_body(request, AUDIT_READ_BYTES_MAX)
            read, problems = audit_read(body)
            if problems:
                return json_response(self.web, {"errors": problems_as_dicts(problems)}, 400)
            principal, refusal = await gate.admit(request, read["action"], read["command"], read["subject_id"])
            if refusal:
                return json_response(self.web, *refusal)
            return json_response(self.web, {"recorded": True, "principal": principal.name}, 201)

    edge = EdgeProducer(kafka)  # the only writer of credit.events beside the timers (as the worker's principal)
    edge_quotas = EdgeQuotas(policy_now)  # per principal, in this worker's memory (projections/quotas.py)
    batches_in_flight = [0]

    async def accept_lines(principal, lines: list[tuple[int, bytes]]) -> list[dict]:
        """The edge (streams/edge.py) for each (line number, one event's JSON): a result per line, in order,
        once the broker has acknowledged every record written for them. Accepted events go to
        credit.events ({"line", "status": 202, "event_id", "subject_id", "partition", "offset"}), refused
        ones to credit.rejected ({"line", "status": 400/403/409/413/422, "errors"}; past the principal's
        rejections_recorded_per_minute answered, not written); 503 says "send it again" (the key store failed,
        or the broker did not acknowledge it in time); 429 a quota (never on credit.rejected): "retry_after_s".

        recorded_at is the ledger's clock when a chunk of lines is judged; a chunk is judged and handed to
        the producer without a turn of the event loop in between, so two requests' events for one subject
        reach the log in the order of their recorded_at."""
        results, deliveries, digests = [], [], {}

        def reused_id(event: dict) -> Problem | None:
            """409 for an id this request or the ledger already holds with other content."""
            digest = content_digest(event)
            if digests.setdefault(seen_id(event), digest) != digest:
                return Problem("event_id", "event_id_conflict", f"{event['event_id']} is the id of another "
                               "event earlier in this request")
            return id_conflict(store.get(event["subject"]["id"]), event)

        for start in range(0, len(lines), EDGE_CHUNK_LINES):
            if start:
                await asyncio.sleep(0)  # let the fold, the timers and other requests in
            ctx = EdgeContext(now=clock.now(), pseudonym_key=pseudonym_key)
            chunk = lines[start:start + EDGE_CHUNK_LINES]
            granted, over_quota = edge_quotas.lines(principal, len(chunk))  # every line counts, refused ones too
            for index, (number, text) in enumerate(chunk):
                if index >= granted:
                    results.append({"line": number, **over_quota})
                    continue
                verdict = judge(text, ctx, principal=principal, key_store=key_store, reused_id=reused_id)
                result = {"line": number, "status": verdict.status}
                over_subject = verdict.event and edge_quotas.subject(principal, verdict.event["subject"]["id"])
                if over_subject:
                    results.append({"line": number, **over_subject})
                    continue
                if verdict.event is not None:
                    subject_id = verdict.event["subject"]["id"]
                    result.update(event_id=verdict.event["event_id"], subject_id=subject_id)
                    deliveries.append((result, await produce(topics.EVENTS, subject_id.encode(),
                                                             encode_event(verdict.event))))
                else:
                    result["errors"] = problems_as_dicts(verdict.problems)
                    if verdict.rejection is not None and edge_quotas.may_record_rejection(principal):
                        deliveries.append((None, await produce(topics.REJECTED, None, verdict.rejection)))
                results.append(result)
        for result, delivery in deliveries:
            try:
                partition, offset = await delivery
            except DeliveryError as error:
                if result is None:  # the line's answer stands; only its rejection record is missing
                    log.warning("edge: a rejection record was not delivered: %s", error)
                    continue
                result.update(status=RETRY_LATER, errors=[Problem("$", "delivery", (
                    f"the broker did not acknowledge it: {error}; send it again (same event id: "
                    f"the ledger keeps it once)")).as_dict()])
                continue
            if result is not None:
                result.update(partition=partition, offset=offset)
        return results

    async def produce(topic: str, key: bytes | None, value: bytes) -> asyncio.Future:
        while True:
            try:
                return edge.produce(topic, key, value)
            except BufferError:  # the producer's queue is full: the broker is slow or away
                await asyncio.sleep(0.05)

    def with_retry_after(response, results: list[dict]):
        """A quota's 429 says when to try again: Retry-After, the longest wait of the lines it refused."""
        waits = [r["retry_after_s"] for r in results if r.get("status") == TOO_MANY]
        if waits:
            response.headers["Retry-After"] = str(max(waits))
        return response

    def edge_unavailable(web):
        """503 while this worker is stopping (a full disk, ...), so that the publisher tries again later."""
        if app.stop_error is None:
            return None
        return json_response(web, {"errors": [{"field": "$", "rule": "unavailable", "message":
                                               "the worker is stopping; send it again"}]}, status=503)

    def admit_publisher(web, request):
        """(principal, None) for a request that may publish now, or (None, the refusal to answer)."""
        principal, refusal = gate.check(request, "publish")
        if refusal:
            return None, json_response(web, *refusal)
        return principal, edge_unavailable(web)

    @app.page("/events")
    class Events(faust.web.View):
        """POST /events: the JSON form of one event (202 with its event id, partition and offset; 400, 403,
        413 or 422 with every problem; 503: send it again). The same edge as POST /events:batch."""

        async def post(self, request):
            principal, refusal = admit_publisher(self.web, request)
            if refusal is not None:
                return refusal
            body = await read_body(request, POST_BODY_BYTES_MAX)
            if body is None:
                return json_response(self.web, {"errors": [{"field": "$", "rule": "size_limit", "message":
                                     f"the body is larger than {POST_BODY_BYTES_MAX} bytes, the limit (one event "
                                     f"is at most {MAX_EVENT_BYTES} bytes in its JSON form)"}]}, 413)
            (result,) = await accept_lines(principal, [(1, body)])
            status = result.pop("status")
            del result["line"]
            return with_retry_after(json_response(self.web, result, status=status), [{**result, "status": status}])

    @app.page("/events:batch")
    class EventsBatch(faust.web.View):
        """POST /events:batch: NDJSON, one event's JSON a line (blank lines are skipped), at most
        BATCH_LINES_MAX lines and BATCH_BODY_BYTES_MAX bytes (413 naming both). 200 with NDJSON, one
        result a non-blank line in the same order, each with its line number and its own status, as
        POST /events would answer it: {"line", "status": 202, "event_id", "subject_id", "partition",
        "offset"} or {"line", "status": 400/403/409/413/422/503, "errors": [...]}. Answered once the broker
        has acknowledged every record of the batch."""

        async def post(self, request):
            principal, refusal = admit_publisher(self.web, request)
            if refusal is not None:
                return refusal
            if batches_in_flight[0] >= BATCHES_IN_FLIGHT_MAX:
                return json_response(self.web, {"errors": [{"field": "$", "rule": "busy", "message": (
                    f"{BATCHES_IN_FLIGHT_MAX} batches are being written; send it again in a moment")}]}, status=503)
            batches_in_flight[0] += 1
            try:
                return await self.accept_batch(request, principal)
            finally:
                batches_in_flight[0] -= 1

        async def accept_batch(self, request, principal):
            limits = (f"a batch is at most {BATCH_LINES_MAX:,} lines and {BATCH_BODY_BYTES_MAX // (1024 * 1024)} MiB "
                      f"({BATCH_BODY_BYTES_MAX:,} bytes): split it")
            body = await read_body(request, BATCH_BODY_BYTES_MAX)
            if body is None:
                return json_response(self.web, {"errors": [{"field": "$", "rule": "size_limit", "message":
                                                            f"the body is too large; {limits}"}]}, 413)
            parts = body.split(b"\n", BATCH_LINES_MAX)  # at most one part more than the limit: the rest
            if len(parts) > BATCH_LINES_MAX and parts[-1].strip():
                return json_response(self.web, {"errors": [{"field": "$", "rule": "line_limit", "message":
                                                            f"more than {BATCH_LINES_MAX:,} lines; {limits}"}]}, 413)
            lines = [(n, part) for n, part in enumerate(parts[:BATCH_LINES_MAX], start=1) if part.strip()]
            results = await accept_lines(principal, lines)
            # 429 when a quota refused every line, else 200 with each line's status (Retry-After: any 429's)
            every_line_over = bool(results) and all(r["status"] == TOO_MANY for r in results)
            return with_retry_after(self.web.bytes(b"".join(orjson.dumps(result) + b"\n" for result in results),
                                                   status=TOO_MANY if every_line_over else 200,
                                                   headers={"Content-Type": f"{NDJSON}; charset=utf-8"}), results)

    @app.page("/lists/{list_kind}")
    async def public_list(web, request, list_kind: str):
        """The public view of a red or black list: active PUBLIC entries with their measures, paged by
        `?after=<subject id>/<entry id>&limit=N`; `?sector=WORK_SAFETY` keeps the entries of that sector or
        sub-kind (a page may then hold fewer than `limit`: follow next_after)."""
        _, refusal = gate.check(request, "read_list")
        if refusal:
            return json_response(web, *refusal)
        if list_kind not in LIST_KINDS:
            return json_response(web, {"error": f"no list {list_kind!r}; lists: {', '.join(LIST_KINDS)}"}, status=404)
        try:
            limit = int(request.query.get("limit", LIST_PAGE_DEFAULT))
        except ValueError:
            limit = -1
        if not 1 <= limit <= LIST_PAGE_MAX:
            return json_response(web, {"errors": [{"field": "limit", "rule": "range",
                                                   "message": f"a whole number in 1..{LIST_PAGE_MAX}"}]}, status=400)
        members = store.list_members(list_kind, request.query.get("after", ""), limit)
        states = ((store.get(subject_id), entry_id) for subject_id, entry_id in members)
        entries = [public_entry(state, entry_id) for state, entry_id in states if listed_on(state, entry_id, today())]
        sector = request.query.get("sector")
        if sector is not None:  # issue 29: a list entry carries its sector
            entries = [entry for entry in entries if entry.get("sector") == sector]
        next_after = f"{members[-1][0]}/{members[-1][1]}" if len(members) == limit else None
        return json_response(web, {"list_kind": list_kind, "entries": entries, "next_after": next_after})

    @app.page("/timeliness")
    async def timeliness(web, request):
        """双公示 timeliness per authority: on time, late (迟报), overdue (漏报)."""
        _, refusal = await gate.admit(request, "timeliness", "GET /timeliness")
        if refusal:
            return json_response(web, *refusal)
        authorities: dict[str, dict] = {}
        for name, count in store.counters("timeliness/").items():
            _, authority, outcome = name.split("/")
            authorities.setdefault(authority, {"on_time": 0, "late": 0, "overdue": 0, "exempt": 0,
                                               "historical": 0})[outcome] = count
        for counts in authorities.values():
            # each decision once (R6); exempt records (R8) and historical imports (R10) counted apart
            due = counts["on_time"] + counts["late"] + counts["overdue"]
            counts["timely_ratio"] = round(counts["on_time"] / due, 4) if due else None
        return json_response(web, {"authorities": authorities, "clock": instant_text(clock.now())})

    @app.page("/state/digest")
    async def state_digest(web, request):
        # Computed between two batches (the fold runs on this loop): a consistent snapshot.
        _, refusal = await gate.admit(request, "verify", "GET /state/digest")
        if refusal:
            return json_response(web, *refusal)
        return json_response(web, store.state_digest())

    @app.page("/healthz")
    async def healthz(web, request):
        return json_response(web, {"status": "ok"})

    @app.page("/readyz")
    async def readyz(web, request):
        body = {"ready": readiness["ready"], "applied_offsets": store.applied_offsets()}
        return json_response(web, body, status=200 if readiness["ready"] else 503)

    @app.page("/metrics")
    async def prometheus_metrics(web, request):
        """Counts of the whole ledger, labelled by nothing an authority or a subject could be told apart by."""
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/metrics/authorities")
    async def prometheus_metrics_by_authority(web, request):
        """双公示 timeliness per authority, for Prometheus with a supervisor's token (as /timeliness tells it)."""
        _, refusal = gate.check(request, "metrics_by_authority")
        if refusal:
            return json_response(web, *refusal)
        return web.bytes(generate_latest(metrics.BY_AUTHORITY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    # every page is declared: only these are served (Faust's own web apps are not), all with security headers
    web_guard.install(app.web.web_app, web_guard.our_routes(app.web.web_app))
    app.subject_store = store  # for tests and the CLI
    app.stop_error = None  # the error that stopped the worker, if one did
    app.ledger_processor = processor
    app.deadline_timers = timers
    app.dashboard = dashboard
    return app


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
    from faust import Worker

    ensure_topics(settings.kafka_access(WORKER), partitions=settings.partitions)
    try:
        app = create_app(settings)
    except StoreError as error:  # e.g. a disk that filled up since the data dir was checked
        sys.exit(f"error: {error}")
    try:
        Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    finally:  # it always ends in SystemExit; a store that failed makes it a failure
        if app.stop_error is not None:
            sys.exit(f"error: {app.stop_error}")
