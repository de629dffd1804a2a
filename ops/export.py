"""`credit-ledger export`: the upward export (向上级平台报送) of what credit.events gained since a destination's
cursor, as a batch directory of the national 双公示 templates, withdrawals and a manifest.

The command reads credit.events as the auditor (its read recorded on credit.access-log first, as `release`
does) from the destination's cursor, which the worker reads back from the newest receipt on credit.exports,
to the partitions' ends (at most --max-events records). The rows are projections/exports.py's. It writes
DIR/<destination>-<sequence>/ (permits.csv, penalties.csv, withdrawals.csv, then manifest.json) and asks
the worker (POST /exports, an admin's token) to record the batch's receipt, which carries the new cursor.

Run again with nothing new, it writes nothing and says so. Killed before the receipt, it exports the same
batch again: the batch directory's manifest names where it ended, so the files come out byte for byte the
same even when the ledger has grown since. `--since CURSOR` starts elsewhere (the receipt records it).

Exit codes: 0 exported (or nothing new); 1 refused: another export of the destination was recorded
meanwhile, or the batch directory holds another batch; 2 nothing done (bad options, the worker or the
broker unreachable, the read or the receipt not recorded, the files not writable).
"""
from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path

from rich.console import Console

from ops.terminal_text import literal
from ops.worker_http import record_audit_read, worker_json, worker_why
from projections import exports as x
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_event
from streams.kafka_access import AUDITOR

EXPORTED, REFUSED, CANNOT = 0, 1, 2
BATCH_EVENTS_DEFAULT = 200_000
TYPE_NAMES = tuple(name.encode() for name in x.EXPORTED_TYPES)  # in the bytes of every such record


class Refused(Exception):
    pass


def subjects_in(read_range, start: dict[int, int], end: dict[int, int]) -> dict[int, set[bytes]]:
    """{partition: the keys (subjects) of the records between the cursors whose bytes name an exported type}."""
    keys: dict[int, set[bytes]] = {}
    for partition, stop in sorted(end.items()):
        for _, key, value, _ in read_range(partition, start.get(partition, 0), stop):
            if key is not None and value and any(name in value for name in TYPE_NAMES):
                keys.setdefault(partition, set()).add(key)
    return keys


def histories(read_range, keys: dict[int, set[bytes]], end: dict[int, int]):
    """(partition, offset, event) of those subjects, from each partition's first record to the batch's end;
    a record that is no event is no part of any file (it is on credit.rejected)."""
    for partition, wanted in sorted(keys.items()):
        for offset, key, value, _ in read_range(partition, 0, end[partition]):
            if key in wanted:
                try:
                    yield partition, offset, decode_event(value or b"")
                except CodecError:
                    continue


def compute(read_range, start: dict[int, int], end: dict[int, int], policies) -> x.Batch:
    """The batch between the cursors; `read_range(partition, start, end)` yields credit.events' (offset, key,
    value, timestamp) there."""
    return x.collect(histories(read_range, subjects_in(read_range, start, end), end), start, policies)


def pending_end(batch_dir: Path, start: dict[int, int]) -> dict[int, int] | None:
    """Where an earlier run of this batch (not recorded: it has this number still) ended, from its manifest;
    None when there is none. Refused when the directory holds a batch from another cursor."""
    try:
        written = json.loads((batch_dir / x.MANIFEST_FILE).read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise Refused(f"{batch_dir / x.MANIFEST_FILE} cannot be read ({error}): move the directory away") from None
    if written.get("from") != x.cursor_text(start):
        raise Refused(f"{batch_dir} holds a batch from {written.get('from')!r}, not from {x.cursor_text(start)!r}: "
                      "move it away (it was never recorded) and run again")
    return x.parse_cursor(written["to"])


def write_batch(batch_dir: Path, files: dict[str, bytes], manifest: bytes) -> None:
    """Each file whole or not at all (written aside, then renamed); the manifest last."""
    batch_dir.mkdir(parents=True, exist_ok=True)
    for name, data in [*files.items(), (x.MANIFEST_FILE, manifest)]:
        aside = batch_dir / f".{name}.part"
        aside.write_bytes(data)
        os.replace(aside, batch_dir / name)


def _options(destination: str, since: str | None, max_events: int) -> dict[int, int] | None:
    if not x.DESTINATION_RE.fullmatch(destination):
        raise ValueError(f"--destination {destination[:40]!r}: 1 to 40 of a-z, 0-9, - and _, starting with a "
                         "letter or digit")
    if not 1 <= max_events <= x.BATCH_EVENTS_MAX:
        raise ValueError(f"--max-events: 1..{x.BATCH_EVENTS_MAX:,}")
    try:
        return None if since is None else x.parse_cursor(since)
    except x.CursorError as error:
        raise ValueError(f"--since: {error}") from None


def run_export(*, out_dir: Path, destination: str = x.DESTINATION_DEFAULT, since: str | None = None,
               max_events: int = BATCH_EVENTS_DEFAULT, kafka: str | None = None, web_url: str | None = None,
               out: Console | None = None, err: Console | None = None) -> int:
    from confluent_kafka import KafkaException

    from ops.config import load_settings

    out, err = out or Console(), err or Console(stderr=True)

    def fail(code: int, message: str) -> int:
        err.print(f"error: {literal(message)}", soft_wrap=True)
        return code
    try:
        override = _options(destination, since, max_events)
    except ValueError as error:
        return fail(CANNOT, str(error))
    settings = load_settings(kafka=kafka)
    web, token = (web_url or settings.web_url).rstrip("/"), settings.operator_token
    try:
        status, known = worker_json(f"{web}/exports?destination={urllib.parse.quote(destination)}", token)
    except (OSError, ValueError) as error:
        return fail(CANNOT, f"cannot reach the worker at {web}: {error}")
    if status != 200:
        return fail(CANNOT, f"the worker at {web} answered {status}: {worker_why(known)}")
    start = override if override is not None else x.parse_cursor(known["cursor"])
    sequence = known["next_sequence"]
    batch_dir = out_dir / x.batch_name(destination, sequence)
    why = record_audit_read(web, token, "verify", None, f"credit-ledger export --destination {destination} "
                                                        f"--since {x.cursor_text(start)}")
    if why is not None:
        return fail(CANNOT, f"{why}; an export reads the ledger, recorded first: an admin's token "
                            "(CREDIT_LEDGER_TOKEN) and a running worker are needed")
    access = settings.kafka_access(AUDITOR)
    try:
        marks = ledger_reader.watermarks(access, topics.EVENTS)
        end = pending_end(batch_dir, start) or x.batch_end(start, marks, max_events)
        left = x.range_size(end, {partition: high for partition, (_, high) in marks.items()})
        if x.range_size(start, end) == 0:
            out.print(f"nothing new for {destination} since {x.cursor_text(start)}: no batch written",
                      soft_wrap=True, highlight=False)
            return EXPORTED
        batch = compute(lambda p, s, e: ledger_reader.read_range(access, topics.EVENTS, p, s, e), start, end,
                        settings.policies())
    except Refused as refused:
        return fail(REFUSED, str(refused))
    except (KafkaException, OSError, TimeoutError) as error:
        return fail(CANNOT, f"cannot read {topics.EVENTS} from {settings.kafka}: {error}")
    return _finish(batch_dir, destination, sequence, start, end, batch, web, token, out, fail, left)


def _finish(batch_dir, destination, sequence, start, end, batch, web, token, out, fail, left: int) -> int:
    """Write the batch, then have its receipt recorded; `left`: records of the ledger past its end."""
    files = x.batch_files(batch)
    manifest = x.manifest(destination, sequence, start, end, batch, files)
    try:
        write_batch(batch_dir, files, manifest)
    except OSError as error:
        return fail(CANNOT, f"cannot write the batch in {batch_dir}: {error}")
    receipt = {"destination": destination, "sequence": sequence, "batch": batch_dir.name,
               "from_cursor": x.cursor_text(start), "to_cursor": x.cursor_text(end),
               "manifest_sha256": x.sha256(manifest), "event_count": x.range_size(start, end),
               "permit_rows": len(batch.permits), "penalty_rows": len(batch.penalties),
               "withdrawal_rows": len(batch.withdrawals)}
    try:
        status, answer = worker_json(f"{web}/exports", token, receipt)
    except (OSError, ValueError) as error:
        return fail(CANNOT, f"cannot reach the worker at {web} to record the receipt: {error} (the batch is in "
                            f"{batch_dir}: run the command again to record it)")
    if status == 409:
        return fail(REFUSED, worker_why(answer))
    if status not in (200, 201):
        return fail(CANNOT, f"the worker did not record the receipt ({status}): {worker_why(answer)}")
    withheld = ", ".join(f"{n} {why}" for why, n in sorted(batch.withheld.items())) or "none"
    out.print(f"{batch_dir.name}: {len(batch.permits)} permits, {len(batch.penalties)} penalties, "
              f"{len(batch.withdrawals)} withdrawals from {receipt['event_count']} events "
              f"({receipt['from_cursor']} to {receipt['to_cursor']}; withheld: {withheld}); manifest "
              f"{receipt['manifest_sha256']}; {'recorded' if status == 201 else 'recorded before, identically'}"
              + (f"; {left} more records to export: run again" if left else ""), soft_wrap=True, highlight=False)
    return EXPORTED
