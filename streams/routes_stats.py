"""Statistics for supervisors: GET /stats/disclosure?from=&to=&by=&as_of= (projections/stats.py), and the
read of the log both it and `credit-ledger stats` compute them from, so that the two cannot disagree.

The figures come from credit.events and credit.rejected themselves, read whole (not from this worker's
store): a rebuild of the store changes nothing in them. A request reads and folds the whole log (~0.26 ms an
event, docs/stats.md) in a thread, so the fold goes on meanwhile, one request at a time.
"""
from __future__ import annotations

import asyncio

from confluent_kafka import KafkaException

from projections import access
from projections.stats import disclosure_stats, stats_request
from streams import topics
from streams.codec import CodecError, decode_event, decode_rejection
from streams.http_json import json_response
from streams.ledger_reader import TopicReader
from streams.worker import Worker

ENDPOINT = "GET /stats/disclosure"
# The route folds the log inside the worker (its GIL, its memory): at ~0.26 ms an event, 200,000 events are
# under a minute. A larger log is the command's (`credit-ledger stats`), which runs in a process of its own.
ROUTE_EVENTS_MAX = 200_000


class LogTooLarge(Exception):
    def __init__(self, records: int, most: int):
        super().__init__(f"credit.events holds {records:,} records, more than this route folds ({most:,}): "
                         "run `credit-ledger stats`, which folds them in a process of its own")


def read_stats_log(reader: TopicReader, rejections_reader: TopicReader | None = None,
                   events_max: int | None = None) -> tuple[list[tuple[int, int, dict]], list[dict]]:
    """Every event of credit.events as (partition, offset, event) and every record of credit.rejected, decoded;
    a record that does not decode is left out (the worker rejected an undecodable event: its rejection counts).
    `reader`: a streams.ledger_reader.TopicReader (or an in-memory log of its interface). `rejections_reader`:
    who reads credit.rejected, when not `reader` (an auditor may not: the worker's principal).
    `events_max`: LogTooLarge, before anything is read, when credit.events holds more records."""
    rejections_reader = reader if rejections_reader is None else rejections_reader
    marks = reader.watermarks(topics.EVENTS)
    records = sum(high - low for low, high in marks.values())
    if events_max is not None and records > events_max:
        raise LogTooLarge(records, events_max)
    events: list[tuple[int, int, dict]] = []
    for partition, (low, high) in marks.items():
        for offset, _, value, _ in reader.read_range(topics.EVENTS, partition, low, high):
            try:
                events.append((partition, offset, decode_event(value or b"")))
            except CodecError:
                continue
    rejections: list[dict] = []
    for partition, (low, high) in rejections_reader.watermarks(topics.REJECTED).items():
        for _, _, value, _ in rejections_reader.read_range(topics.REJECTED, partition, low, high):
            try:
                rejections.append(decode_rejection(value or b""))
            except CodecError:
                continue
    return events, rejections


def install(app, worker: Worker) -> None:
    gate = worker.gate

    @app.page("/stats/disclosure")
    async def disclosure(web, request):
        """Assessment figures (projections/stats.py) of the period from..to (dates, both included) as known at
        as_of (default: now), by authority, region or industry: 400 naming a bad parameter, 422 a log larger
        than ROUTE_EVENTS_MAX (the command's), 503 the log unread."""
        principal, refusal = gate.check(request, "stats")
        if refusal:
            return json_response(web, *refusal)
        query = request.query
        try:
            the_period, by, as_of = stats_request(query.get("from"), query.get("to"), query.get("by"),
                                                  query.get("as_of"), worker.clock.now())
        except ValueError as error:  # StatsError, BadInstant
            return json_response(web, {"errors": [error.as_dict()]}, 400)
        await gate.log(access.endpoint_decision(principal, "stats", None), ENDPOINT)  # before anything is read
        loop = asyncio.get_running_loop()
        async with worker.stats_reading:
            try:
                events, rejections = await loop.run_in_executor(None, read_stats_log, worker.reader, None,
                                                                ROUTE_EVENTS_MAX)
            except LogTooLarge as error:
                return json_response(web, {"errors": [{"field": "$", "rule": "log_too_large",
                                                       "message": str(error)}]}, 422)
            except (KafkaException, OSError) as error:  # OSError: TimeoutError, a refused or reset connection
                return json_response(web, {"errors": [{"field": "$", "rule": "unavailable",
                                                       "message": f"the log cannot be read: {error}"}]}, 503)
            result = await loop.run_in_executor(None, lambda: disclosure_stats(
                events, rejections, the_period, as_of, worker.policies, by, topics.EVENTS, principal.scope))
        return json_response(web, result)
