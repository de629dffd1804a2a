"""`credit-ledger access-log`: who read which non-public records of a file, when and why.

Reads credit.access-log with the ledger reader (streams/ledger_reader.py); every record is
an AccessRecord written by the web API for a non-public read (projections/access.py).

Exit codes: 0 shown (possibly none), 2 the topic could not be read.
"""
from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from rich.console import Console

from ops.text_table import print_rows
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_access_record
from streams.kafka_access import KafkaAccess

OK, CANNOT_READ = 0, 2
LIMIT_DEFAULT, LIMIT_MAX = 1_000, 1_000_000
RECORD_IDS_SHOWN = 5  # in the table; --json shows them all

Reader = Callable[[str, str], Iterable[tuple[int, int, bytes | None, bytes | None, int]]]


def access_records(records: Iterable[tuple[int, int, bytes | None, bytes | None, int]], subject: str | None,
                   limit: int) -> tuple[list[dict], int]:
    """The newest `limit` access records (of `subject`, if given), oldest first, and how many
    records of the topic were no AccessRecord."""
    undecodable = [0]

    def decoded() -> Iterator[tuple[datetime, int, int, dict]]:
        for partition, offset, _, value, _ in records:
            try:
                record = decode_access_record(value or b"")
            except CodecError:
                undecodable[0] += 1
                continue
            if subject is None or record["subject_id"] == subject:
                yield datetime.fromisoformat(record["at"]), partition, offset, record

    newest = heapq.nlargest(limit, decoded(), key=lambda item: item[:3])  # bounded memory, whatever the topic holds
    return [record for *_, record in sorted(newest, key=lambda item: item[:3])], undecodable[0]


def run_access_log(*, bootstrap: KafkaAccess | str, subject: str | None, as_json: bool, limit: int, out: Console, err: Console,
                   read: Reader = ledger_reader.read_topic) -> int:
    from confluent_kafka import KafkaException

    if not 1 <= limit <= LIMIT_MAX:
        err.print(f"error: --limit must be 1..{LIMIT_MAX}, got {limit}", highlight=False)
        return CANNOT_READ
    try:
        shown, undecodable = access_records(read(bootstrap, topics.ACCESS_LOG), subject, limit)
    except (KafkaException, TimeoutError) as error:
        err.print(f"error: cannot read {topics.ACCESS_LOG} at {bootstrap}: {error}", markup=False, highlight=False,
                  soft_wrap=True)
        return CANNOT_READ
    if undecodable:
        err.print(f"warning: {undecodable} record(s) of {topics.ACCESS_LOG} are no AccessRecord; skipped",
                  highlight=False)
    if as_json:
        print(json.dumps(shown, ensure_ascii=False, indent=1))
        return OK
    whose = f"of {subject}" if subject else "of every file"
    def cells(r: dict) -> tuple[str, ...]:
        ids = r["record_ids"][:RECORD_IDS_SHOWN]
        more = r["record_count"] - len(ids)
        return (r["at"], r["principal"], r["role"], r["action"], r["subject_id"] or "",
                ", ".join(ids) + (f" (+{more})" if more > 0 else ""), r["reason"], r["endpoint"])
    print_rows(out, ("at", "principal", "role", "action", "subject", "records", "why allowed", "where"),
               (cells(r) for r in shown), title=f"{len(shown)} non-public read(s) {whose}")
    return OK
