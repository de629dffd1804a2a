"""The publishers' routes: POST /events and POST /events:batch, the ledger's edge (streams/edge.py) with
its quotas per principal (streams/edge_quotas.py), written to Kafka before they answer."""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

import faust
import orjson

from projections.catalogue import EVENT_BYTES_MAX
from projections.fold import content_digest, id_conflict, seen_id
from projections.quotas import TOO_MANY
from projections.validate import EdgeContext, Problem, problems_as_dicts
from streams import topics
from streams.codec import encode_event
from streams.edge import LINE_BYTES_MAX, RETRY_LATER, judge
from streams.edge_quotas import EdgeQuotas
from streams.http_json import json_response, read_body
from streams.outputs import DeliveryError, EdgeProducer
from streams.worker import Worker

log = logging.getLogger(__name__)

POST_BODY_BYTES_MAX = LINE_BYTES_MAX  # one event's JSON (streams/edge.py)
# POST /events:batch: NDJSON, one event a line. 5,000 events of a usual 1-3 KiB fit well in 16 MiB; the
# SDK sends up to 5,000 lines and 8 MiB a request (streams/sdk.py).
BATCH_LINES_MAX = 5_000
BATCH_BODY_BYTES_MAX = 16 * 1024 * 1024
BATCHES_IN_FLIGHT_MAX = 8  # batches handled at once; more are answered 503 at once (memory: 8 x 16 MiB)
# Lines judged and produced between two turns of the event loop (~60 us each: ~0.1 s). The edge and the
# fold share the loop, and the fold takes a batch of up to TAKE_MAX records (~0.1 s) at each turn it gets
# (streams/worker_fold.py).
# Measured on 2026-12-06 (20,000 events through the SDK into a worker that had folded 30,000): with 250
# lines a turn and batches of 1,000 it accepted 1,800-3,000 events/s, with 2,000 lines a turn and batches
# of 5,000 3,900-7,000, against 4,300-7,600/s for its fold alone: the edge takes the events as fast as the
# worker folds them, and the fold catches up after a burst.
EDGE_CHUNK_LINES = 2_000
# Seen ids a request keeps while it judges its lines (the 409 check): reading a file from the store parses
# all of it, 31 ms for a subject with 2,000 penalties (2.75 MB), so lines about the same subject read it
# once. Bounded by ids, not subjects, since one file can hold 100,000 (the least recently used go first).
SEEN_IDS_CACHED_MAX = 200_000
NDJSON = "application/x-ndjson"


class PublishingEdge:
    """The edge of one worker: its producer (the only writer of credit.events beside the timers, as the
    worker's principal), its quotas per principal (in this worker's memory: projections/quotas.py) and
    the batches it is handling now."""

    def __init__(self, worker: Worker, producer: EdgeProducer):
        self.worker = worker
        self.producer = producer
        self.quotas = EdgeQuotas(worker.policy_now)
        self.batches_in_flight = 0

    async def accept_lines(self, principal, lines: list[tuple[int, bytes]]) -> list[dict]:
        """The edge (streams/edge.py) for each (line number, one event's JSON): a result per line, in order,
        once the broker has acknowledged every record written for them. Accepted events go to
        credit.events ({"line", "status": 202, "event_id", "subject_id", "partition", "offset"}), refused
        ones to credit.rejected ({"line", "status": 400/403/409/413/422, "errors"}; past the principal's
        rejections_recorded_per_minute answered, not written); 503 says "send it again" (the key store failed,
        or the broker did not acknowledge it in time); 429 a quota (never on credit.rejected): "retry_after_s".

        recorded_at is the ledger's clock when a chunk of lines is judged; a chunk is judged and handed to
        the producer without a turn of the event loop in between, so two requests' events for one subject
        reach the log in the order of their recorded_at."""
        worker, edge_quotas = self.worker, self.quotas
        results, deliveries, digests = [], [], {}

        seen_ids = OrderedDict()  # subject id -> {"seen_event_ids": ...} or None, the newest last
        cached_ids = [0]  # how many ids seen_ids holds (an unknown subject counts one)

        def reused_id(event: dict) -> Problem | None:
            """409 for an id this request or the ledger already holds with other content."""
            digest = content_digest(event)
            if digests.setdefault(seen_id(event), digest) != digest:
                return Problem("event_id", "event_id_conflict", f"{event['event_id']} is the id of another "
                               "event earlier in this request")
            subject_id = event["subject"]["id"]
            if subject_id not in seen_ids:
                state = worker.store.get(subject_id)
                seen_ids[subject_id] = None if state is None else {"seen_event_ids": state["seen_event_ids"]}
                cached_ids[0] += len(state["seen_event_ids"]) if state is not None else 1
                while cached_ids[0] > SEEN_IDS_CACHED_MAX and len(seen_ids) > 1:
                    _, dropped = seen_ids.popitem(last=False)
                    cached_ids[0] -= len(dropped["seen_event_ids"]) if dropped is not None else 1
            seen_ids.move_to_end(subject_id)
            return id_conflict(seen_ids[subject_id], event)

        for start in range(0, len(lines), EDGE_CHUNK_LINES):
            if start:
                await asyncio.sleep(0)  # let the fold, the timers and other requests in
            ctx, policy = EdgeContext(now=worker.clock.now(), pseudonym_key=worker.pseudonym_key), worker.policy_now()
            chunk = lines[start:start + EDGE_CHUNK_LINES]
            granted, over_quota = edge_quotas.lines(principal, len(chunk))  # every line counts, refused ones too
            for index, (number, text) in enumerate(chunk):
                if index >= granted:
                    results.append({"line": number, **over_quota})
                    continue
                verdict = judge(text, ctx, principal=principal, key_store=worker.key_store, reused_id=reused_id,
                                policy=policy)
                result = {"line": number, "status": verdict.status}
                over_subject = verdict.event and edge_quotas.subject(principal, verdict.event["subject"]["id"])
                if over_subject:
                    results.append({"line": number, **over_subject})
                    continue
                if verdict.event is not None:
                    subject_id = verdict.event["subject"]["id"]
                    result.update(event_id=verdict.event["event_id"], subject_id=subject_id)
                    deliveries.append((result, await self.produce(topics.EVENTS, subject_id.encode(),
                                                                  encode_event(verdict.event))))
                else:
                    result["errors"] = problems_as_dicts(verdict.problems)
                    if verdict.rejection is not None and edge_quotas.may_record_rejection(principal):
                        deliveries.append((None, await self.produce(topics.REJECTED, None, verdict.rejection)))
                results.append(result)
        await _settle_deliveries(deliveries)
        return results

    async def produce(self, topic: str, key: bytes | None, value: bytes) -> asyncio.Future:
        while True:
            try:
                return self.producer.produce(topic, key, value)
            except BufferError:  # the producer's queue is full: the broker is slow or away
                await asyncio.sleep(0.05)

    def unavailable(self, web):
        """503 while this worker is stopping (a full disk, ...), so that the publisher tries again later."""
        if self.worker.stop_error is None:
            return None
        return json_response(web, {"errors": [{"field": "$", "rule": "unavailable", "message":
                                               "the worker is stopping; send it again"}]}, status=503)

    def admit_publisher(self, web, request):
        """(principal, None) for a request that may publish now, or (None, the refusal to answer)."""
        principal, refusal = self.worker.gate.check(request, "publish")
        if refusal:
            return None, json_response(web, *refusal)
        return principal, self.unavailable(web)


async def _settle_deliveries(deliveries: list[tuple[dict | None, asyncio.Future]]) -> None:
    """Each line's result once the broker acknowledged its record: its partition and offset, or 503."""
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


def with_retry_after(response, results: list[dict]):
    """A quota's 429 says when to try again: Retry-After, the longest wait of the lines it refused."""
    waits = [r["retry_after_s"] for r in results if r.get("status") == TOO_MANY]
    if waits:
        response.headers["Retry-After"] = str(max(waits))
    return response


def install(app, worker: Worker, *, producer: EdgeProducer | None = None) -> PublishingEdge:
    """The two routes over one PublishingEdge; `producer`: the worker's producer of credit.events unless one of
    its interface is given (produce -> a future of (partition, offset); tests/unit/test_routes_publishing.py)."""
    edge = PublishingEdge(worker, producer or worker.events_producer)

    @app.page("/events")
    class Events(faust.web.View):
        """POST /events: the JSON form of one event (202 with its event id, partition and offset; 400, 403,
        413 or 422 with every problem; 503: send it again). The same edge as POST /events:batch."""

        async def post(self, request):
            principal, refusal = edge.admit_publisher(self.web, request)
            if refusal is not None:
                return refusal
            body = await read_body(request, POST_BODY_BYTES_MAX)
            if body is None:
                return json_response(self.web, {"errors": [{"field": "$", "rule": "size_limit", "message":
                                     f"the body is larger than {POST_BODY_BYTES_MAX} bytes, the limit (one event "
                                     f"is at most {EVENT_BYTES_MAX} bytes in its JSON form)"}]}, 413)
            (result,) = await edge.accept_lines(principal, [(1, body)])
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
            principal, refusal = edge.admit_publisher(self.web, request)
            if refusal is not None:
                return refusal
            if edge.batches_in_flight >= BATCHES_IN_FLIGHT_MAX:
                return json_response(self.web, {"errors": [{"field": "$", "rule": "busy", "message": (
                    f"{BATCHES_IN_FLIGHT_MAX} batches are being written; send it again in a moment")}]}, status=503)
            edge.batches_in_flight += 1
            try:
                return await self.accept_batch(request, principal)
            finally:
                edge.batches_in_flight -= 1

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
            results = await edge.accept_lines(principal, lines)
            # 429 when a quota refused every line, else 200 with each line's status (Retry-After: any 429's)
            every_line_over = bool(results) and all(r["status"] == TOO_MANY for r in results)
            return with_retry_after(self.web.bytes(b"".join(orjson.dumps(result) + b"\n" for result in results),
                                                   status=TOO_MANY if every_line_over else 200,
                                                   headers={"Content-Type": f"{NDJSON}; charset=utf-8"}), results)
    return edge
