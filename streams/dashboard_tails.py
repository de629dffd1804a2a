"""What the end of credit.grades and credit.events holds, read back when the worker starts so that
the dashboard's recent lists survive a restart (DashboardFeed.seed takes it). Blocking reads, through the
worker's reader (streams.ledger_reader.TopicReader; an in-memory log of its interface in the unit tests)."""
from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from projections.watch import WATCHED_TYPES
from streams import topics
from streams.codec import CodecError, decode_event, decode_grade_changed
from streams.dashboard_feed import AUTHORITY_NAMES_MAX
from streams.ledger_reader import TopicReader

SEED_TAIL_RECORDS = 2_000  # records per partition read back from credit.grades and credit.events at start
SEEDED_TYPES = WATCHED_TYPES  # the events the feed keeps (projections/watch.py)


@dataclass
class Tails:
    """What the end of the topics holds, read back at start to seed the dashboard."""

    grade_changes: list[dict]  # GradeChanged of credit.grades, oldest first
    events: list[tuple[int, int, dict]]  # (partition, offset, event) of credit.events of SEEDED_TYPES, oldest first
    partitions: int  # of credit.events
    authorities: dict[str, str]  # authority code -> name, from every event read


def read_tails(reader: TopicReader, records: int = SEED_TAIL_RECORDS) -> Tails:
    """The last `records` records of each partition of credit.grades and credit.events.
    Blocking: run it in an executor."""
    changes, events, authorities = [], [], {}
    for _, _, value in _tail(reader, topics.GRADES, reader.watermarks(topics.GRADES), records):
        with suppress(CodecError):  # a record no GradeChanged: nothing to show
            changes.append(decode_grade_changed(value))
    ledger = reader.watermarks(topics.EVENTS)
    for partition, offset, value in _tail(reader, topics.EVENTS, ledger, records):
        try:
            event = decode_event(value)
        except CodecError:
            continue  # a poison record: the ledger fold rejected it, the dashboard skips it
        if event["source"].get("authority_name"):
            authorities[event["source"]["authority_code"]] = event["source"]["authority_name"]
        if event["type"] in SEEDED_TYPES:
            events.append((partition, offset, event))
    changes.sort(key=lambda c: c["at"])
    events.sort(key=lambda item: item[2]["recorded_at"])
    return Tails(changes, events, len(ledger), dict(list(authorities.items())[-AUTHORITY_NAMES_MAX:]))


def _tail(reader: TopicReader, topic: str, marks: dict[int, tuple[int, int]], records: int):
    """(partition, offset, value) of the last `records` records of each partition (marks: low, high)."""
    for partition, (low, high) in marks.items():
        for offset, _, value, _ in reader.read_range(topic, partition, max(low, high - records), high):
            yield partition, offset, value or b""
