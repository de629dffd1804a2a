"""`credit-ledger verify`: the log against its published digests or a saved digest file.

Reading Kafka and printing live here; every check is projections/verification.py's.

Exit codes: 0 everything verified holds; 1 a discrepancy (the first offending record
named: partition, offset, event id, what differs); 2 nothing could be verified (bad
options, an unreadable digest file, the broker or topic unreachable, no digest to
compare with, an unknown subject).
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ops.terminal_text import literal, visible
from projections.canonical import instant_text
from projections.verification import (RECORDS_PER_FILE_MAX, Verification, load_digest, verify,
                                      write_digest)
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_digest, decode_event
from streams.kafka_access import AUDITOR, KafkaAccess

OK, DISCREPANCY, CANNOT_VERIFY = 0, 1, 2


def _decode(value: bytes | None) -> dict | None:
    try:
        return decode_event(value or b"")
    except CodecError:
        return None


def _partitions(bootstrap: KafkaAccess | str, topic: str, marks: dict[int, tuple[int, int]]):
    """(partition, records) for every partition, each read lazily from its low watermark."""
    for partition, (low, high) in marks.items():
        yield partition, ((offset, key, value) for offset, key, value, _ in
                          ledger_reader.read_range(bootstrap, topic, partition, low, high))


def _published_digests(bootstrap: KafkaAccess | str, err: Console) -> list[dict]:
    digests, undecodable = [], 0
    for *_, value, _ in ledger_reader.read_topic(bootstrap, topics.DIGESTS):
        try:
            digests.append(decode_digest(value or b""))
        except CodecError:
            undecodable += 1
    if undecodable:
        err.print(f"warning: {undecodable} record(s) of {topics.DIGESTS} are no digest; skipped", highlight=False)
    return digests


def run_verify(*, kafka: str | None = None, topic: str | None = None, subject: str | None = None,
               digest: Path | None = None, export_digest: Path | None = None, web_url: str | None = None,
               out: Console | None = None, err: Console | None = None) -> int:
    from confluent_kafka import KafkaException

    from ops.config import load_settings
    from ops.worker_http import record_audit_read

    out = out or Console()
    err = err or Console(stderr=True)

    def cannot(message: str) -> int:
        err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
        return CANNOT_VERIFY

    if digest is not None and export_digest is not None:
        return cannot("give --digest (verify against a file) or --export-digest (write one), not both")
    if subject is not None and export_digest is not None:
        return cannot("--export-digest writes the whole topic's digest; it takes no --subject")
    if subject is not None and not subject.strip():
        return cannot("--subject needs a subject id")
    saved = None
    if digest is not None:
        try:
            saved = load_digest(json.loads(Path(digest).read_bytes()))
        except OSError as error:
            return cannot(f"--digest {digest}: cannot read it: {error.strerror or error}")
        except ValueError as error:  # JSONDecodeError and DigestFileError alike
            return cannot(f"--digest {digest}: not a digest file (format 1): {error}")
    topic = topic or (saved.topic if saved is not None else topics.EVENTS)
    settings = load_settings(kafka=kafka)
    command = " ".join(["credit-ledger verify", f"--topic {topic}"] + [f"{flag} {value}" for flag, value in (
        ("--subject", subject), ("--digest", digest and Path(digest).name),
        ("--export-digest", export_digest and Path(export_digest).name)) if value])
    why = record_audit_read(web_url or settings.web_url, settings.operator_token, "verify", subject, command[:300])
    if why is not None:  # the read is on credit.access-log before it is made
        return cannot(f"{why}; give --web-url of a running worker and an auditor's or admin's token "
                      "(CREDIT_LEDGER_TOKEN)")
    auditor = settings.kafka_access(AUDITOR)  # reads the ledger and its digests, nothing more
    try:
        # The published digests before the log's ends: a digest names an offset the worker had folded, so
        # ends read after it lie beyond that offset. Read the other way round, a digest published in between
        # could name a record past the ends read, and verify would call it gone.
        published = [] if saved is not None or export_digest is not None else _published_digests(auditor, err)
        marks = ledger_reader.watermarks(auditor, topic)
    except (KafkaException, TimeoutError) as error:
        return cannot(f"cannot read {topic} or {topics.DIGESTS} at {settings.kafka}: {error}")
    except KeyError:
        return cannot(f"no topic {topic} at {settings.kafka}")
    try:
        if export_digest is not None:
            return _export(settings, auditor, topic, marks, Path(export_digest), out, err)
        result = verify(_partitions(auditor, topic, marks), topic=topic, decode=_decode, saved=saved,
                        published=published, subject=subject, policy=settings.policies())
    except (KafkaException, TimeoutError) as error:
        return cannot(f"reading {topic} at {settings.kafka} failed: {error}")
    return _report(result, out, err, saved_subjects=saved is not None and saved.subjects is not None)


def _export(settings, auditor: KafkaAccess, topic: str, marks: dict[int, tuple[int, int]], path: Path, out: Console, err: Console) -> int:
    total = sum(high - low for low, high in marks.values())
    if total > RECORDS_PER_FILE_MAX:
        err.print(f"error: {topic} holds {total:,} records, more than a digest file takes "
                  f"({RECORDS_PER_FILE_MAX:,}); verify against the published digests instead", highlight=False)
        return CANNOT_VERIFY
    for partition, (low, _) in marks.items():
        if low > 0:
            err.print(f"warning: {topic}[{partition}] starts at offset {low}: its root cannot match the "
                      "worker's", highlight=False)
    temporary = path.with_name(path.name + ".partial")
    exported_at = instant_text(datetime.now(timezone.utc))
    try:
        with temporary.open("w", encoding="utf-8") as stream:
            summary = write_digest(stream, _partitions(auditor, topic, marks), topic=topic,
                                   exported_at=exported_at, decode=_decode, policy=settings.policies())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        err.print(f"error: --export-digest {path}: {error.strerror or error}", highlight=False)
        return CANNOT_VERIFY
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    table = Table("partition", "records", "last offset", "root", title=f"digest of {topic} at {exported_at}")
    for partition, p in sorted(summary["partitions"].items()):
        table.add_row(str(partition), f"{p['records']:,}", str(p["offset"]), p["root"])
    out.print(table)
    out.print(f"wrote {path}: {summary['records']:,} records, {summary['subjects']:,} subject chains",
              highlight=False, soft_wrap=True)
    return OK


def _report(result: Verification, out: Console, err: Console, saved_subjects: bool) -> int:
    out.print(f"verifying {result.topic} against {result.reference}", highlight=False, soft_wrap=True)
    if result.subject is not None:
        length, head = result.chain
        where = ", ".join(map(str, result.subject_partitions)) or "none"
        out.print(f"only the chain of subject {literal(result.subject)} is verified (partition(s) {where}): "
                  f"recomputed length {length}, head {head}", highlight=False, soft_wrap=True)
        if not result.subject_partitions and not (saved_subjects and result.discrepancies):
            for note in result.notes:
                out.print(f"note: {literal(note)}", highlight=False, soft_wrap=True)
            err.print(f"error: no subject {literal(result.subject)} in {result.topic}", highlight=False, soft_wrap=True)
            return CANNOT_VERIFY
    relevant = (result.partitions if result.subject is None
                else [r for r in result.partitions if r.partition in result.subject_partitions])
    table = Table("partition", "records", "last offset", "root", "digests held")
    table.add_column("result", no_wrap=True)
    for r in relevant:
        held = sum(ok for _, ok in r.checked)
        status = ("[red]" + r.discrepancy.kind + "[/]") if r.discrepancy else (
            "[green]holds[/]" if r.checked else "not checked")
        table.add_row(str(r.partition), f"{r.records:,}", str(r.last_offset), r.root[:12] + "…",
                      f"{held}/{len(r.checked)}", status)
    out.print(table)
    for note in result.notes:
        out.print(f"note: {literal(note)}", highlight=False, soft_wrap=True)
    if result.ok:
        checked = sum(len(r.checked) for r in relevant)
        if checked == 0 and not (saved_subjects and result.subject is not None):
            err.print("error: nothing verified: no digest covers these partitions "
                      "(give --digest F, or wait for the worker to publish to credit.digests)",
                      highlight=False, soft_wrap=True)
            return CANNOT_VERIFY
        out.print("[green]VERIFIED[/]: the log matches " + result.reference, highlight=False, soft_wrap=True)
        return OK
    first = result.first
    out.print(f"[red]DISCREPANCY[/]: {_naming(first)}", highlight=False, soft_wrap=True)
    out.print(f"  {visible(first.detail)}", highlight=False, soft_wrap=True, markup=False)
    others = result.discrepancies[1:]
    for d in others[:20]:
        out.print(f"also: {_naming(d)}: {literal(d.detail)}", highlight=False, soft_wrap=True)
    if len(others) > 20:
        out.print(f"... and {len(others) - 20} more", highlight=False)
    return DISCREPANCY


def _naming(d) -> str:
    parts = [d.kind.lower()]
    if d.subject_id is not None:
        parts.append(f"subject {d.subject_id}")
    if d.partition is not None:
        parts.append(f"partition {d.partition}")
    if d.offset is not None:
        parts.append(f"offset {d.offset}")
    elif d.between is not None:
        parts.append(f"offsets {d.between[0]}..{d.between[1]}")
    if d.event_id is not None:
        parts.append(f"event {d.event_id}")
    return literal(", ".join(parts))  # a subject id or event id read from the log: shown, never obeyed
