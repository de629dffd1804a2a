"""`credit-ledger dump TOPIC`: the records of one of the ledger's topics, decoded, for people and tools.

Each record is printed with its partition, offset and key, and its value in the JSON form the codec
gives it (streams/codec.py: the topic's record type, by the writer schema's fingerprint): one JSON object
a line with --json, plain columns otherwise. A record that does not decode is printed as such (its
partition, offset, "undecodable", its size and why), and the dump goes on.

Who reads what (ops/kafka_acls.py): the auditor's principal the three topics it may read (credit.events,
credit.digests, credit.access-log); the worker's the others (credit.grades, credit.alerts,
credit.rejected, and credit.pii-keys, whose keys stay wrapped under the master key). Every dump is first
recorded on credit.access-log by the worker (POST /access-log, action "verify": a read of a whole topic),
as `verify` and `history` are; no record, no read.

Exit codes: 0 dumped (possibly nothing), 2 a bad option, the read not recorded, or the topic unreadable.
"""
from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Iterator

from rich.console import Console

from ops.kafka_acls import AUDITED_TOPICS
from ops.text_table import print_rows
from streams import codec, ledger_reader, topics
from streams.kafka_access import AUDITOR, WORKER, KafkaAccess

OK, CANNOT = 0, 2
LIMIT_DEFAULT, LIMIT_MAX = 100, 100_000
VALUE_CHARS_SHOWN = 160  # in the table; --json prints every value whole


def role_of(topic: str) -> str:
    """The principal a dump of `topic` reads as: the auditor's where its ACLs allow, else the worker's."""
    return AUDITOR if topic in AUDITED_TOPICS else WORKER


def _any_record(data: bytes) -> dict:
    """A record of whichever of the ledger's types its writer schema names (a topic nothing writes yet)."""
    problems = []
    for decode in (codec.decode_event, codec.decode_grade_changed, codec.decode_rejection, codec.decode_digest,
                   codec.decode_access_record):
        try:
            return decode(data)
        except codec.CodecError as error:
            problems.append(error.reason)
    raise codec.CodecError(problems[0] if len(set(problems)) == 1 else "no record type of the ledger")


def _key_store_record(data: bytes) -> dict:
    """credit.pii-keys: a wrapped key or an erasure marker, JSON (streams/key_store.py)."""
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise codec.CodecError(f"not JSON: {error}") from None
    if not isinstance(record, dict):
        raise codec.CodecError("not a JSON object")
    return record


DECODERS: dict[str, Callable[[bytes], dict]] = {
    topics.EVENTS: codec.decode_event,
    topics.GRADES: codec.decode_grade_changed,
    topics.ALERTS: _any_record,
    topics.REJECTED: codec.decode_rejection,
    topics.DIGESTS: codec.decode_digest,
    topics.ACCESS_LOG: codec.decode_access_record,
    topics.PII_KEYS: _key_store_record,
    topics.RELEASES: codec.decode_release_record,
    topics.EXPORTS: codec.decode_export_receipt,
}
assert set(DECODERS) == set(topics.ALL)


def _key_text(key: bytes | None) -> str | None:
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(key).decode("ascii")


def _jsonable(value):
    """The decoded record with its bytes (a rejection's raw_digest) as hex: JSON has no bytes."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def decoded(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> dict:
    """One record as dump prints it; never raises for what the value holds."""
    line = {"partition": partition, "offset": offset, "key": _key_text(key)}
    if value is None:
        return {**line, "value": None}  # a tombstone (credit.pii-keys: an erased key)
    try:
        return {**line, "value": _jsonable(DECODERS[topic](value))}
    except codec.CodecError as error:
        return {**line, "undecodable": True, "bytes": len(value), "reason": error.reason}
    except Exception as error:  # noqa: BLE001 - whatever a decoder raises on garbage, the dump goes on
        return {**line, "undecodable": True, "bytes": len(value), "reason": f"{type(error).__name__}: {error}"[:300]}


def problem_with(topic: str, start: int | None, partition: int | None, limit: int) -> str | None:
    """What is wrong with the options, naming the option; None when they are fine."""
    if topic not in topics.ALL:
        return f"TOPIC {topic!r} is not one of the ledger's topics: {', '.join(topics.ALL)}"
    if start is not None and start < 0:
        return f"--from must be an offset, 0 or more, got {start}"
    if partition is not None and partition < 0:
        return f"--partition must be 0 or more, got {partition}"
    if not 1 <= limit <= LIMIT_MAX:
        return f"--limit must be 1..{LIMIT_MAX:,}, got {limit}"
    return None


def records(kafka: KafkaAccess | str, topic: str, marks: dict[int, tuple[int, int]], start: int | None,
            limit: int) -> Iterator[dict]:
    """Up to `limit` decoded records of the partitions in `marks`, each from `start` (or its first offset),
    partition after partition, as they stand now (to the high watermarks of `marks`)."""
    left = limit
    for partition, (low, high) in sorted(marks.items()):
        first = max(low, start if start is not None else low)
        end = min(high, first + left)
        for offset, key, value, _ in ledger_reader.read_range(kafka, topic, partition, first, end):
            yield decoded(topic, partition, offset, key, value)
            left -= 1
        if left <= 0:
            return


def _summary(line: dict) -> str:
    if line.get("undecodable"):
        return f"undecodable ({line['bytes']} bytes): {line['reason']}"
    text = json.dumps(line["value"], ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= VALUE_CHARS_SHOWN else text[:VALUE_CHARS_SHOWN] + "…"


def run_dump(*, kafka: KafkaAccess, topic: str, start: int | None, partition: int | None, limit: int,
             as_json: bool, out: Console, err: Console) -> int:
    """Dump `topic` (its options checked and the read recorded by the caller) to `out`."""
    from confluent_kafka import KafkaException

    def cannot(message: str) -> int:
        err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
        return CANNOT

    try:
        marks = ledger_reader.watermarks(kafka, topic)
    except (KafkaException, TimeoutError, OSError) as error:
        return cannot(f"cannot read {topic} at {kafka} (as the {role_of(topic)}'s principal): {error}")
    if partition is not None:
        if partition not in marks:
            return cannot(f"--partition {partition}: {topic} has partitions 0..{max(marks)}")
        marks = {partition: marks[partition]}
    shown = 0
    try:
        if as_json:
            for line in records(kafka, topic, marks, start, limit):
                print(json.dumps(line, ensure_ascii=False))
                shown += 1
        else:
            lines = list(records(kafka, topic, marks, start, limit))
            shown = len(lines)
            print_rows(out, ("partition", "offset", "key", "value"),
                       ((str(l["partition"]), str(l["offset"]), l["key"] if l["key"] is not None else "",
                         _summary(l)) for l in lines),
                       title=f"{topic}: {shown} record(s)" + (f" from offset {start}" if start else "")
                       + (f", partition {partition}" if partition is not None else ""))
    except (KafkaException, TimeoutError, OSError) as error:
        return cannot(f"reading {topic} at {kafka} failed after {shown} record(s): {error}")
    sys.stdout.flush()  # what was printed comes before the note, on a terminal too
    left = sum(max(0, high - max(low, start or 0)) for low, high in marks.values()) - shown
    if left > 0:
        err.print(f"note: up to {left:,} more record(s) not shown (--limit {limit}); --partition and --from "
                  "choose where to read", highlight=False, soft_wrap=True)
    return OK
