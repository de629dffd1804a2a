"""`credit-ledger release`: a dated, numbered release of a red or black list (红黑榜发布), as HTML and CSV.

The list as of a day is computed here from credit.events itself (read as the auditor, the read recorded on
credit.access-log first, as `verify` does): the events recorded by the end of that day are folded, and the
PUBLIC entries in force that day are the rows (projections/releases.py). The worker records the release on
credit.releases and gives its number (this command's Kafka user may write nothing); the files are written
once it has. The same list and day again give the same release: the same bytes, digest and number.

Exit codes: 0 released (or released before, identically); 1 refused: the day is not over on the ledger's
clock, or the list and day were released with another digest; 2 nothing done (bad options, the worker or
the broker unreachable, the read or the release not recorded).
"""
from __future__ import annotations

import urllib.parse
from pathlib import Path

from rich.console import Console

from ops.terminal_text import literal
from ops.worker_http import record_audit_read, worker_json, worker_why
from projections.canonical import BadInstant, read_instant
from projections.catalogue import LIST_KINDS
from projections.releases import digest_of, known_on, release_csv, release_html, release_rows
from projections.replay import NO_KEY, replay
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_event
from streams.kafka_access import AUDITOR

RELEASED, REFUSED, CANNOT = 0, 1, 2
WORKER_TIMEOUT_S = 60.0


LIST_ENTERED = b"ListEntered"  # the type's name is in every such record's bytes (CreditEvent.type, a string)


def listed_keys(records, list_kind: str) -> set[bytes]:
    """The keys (subject ids) of every subject with a ListEntered of `list_kind` among (offset, key, value)
    records: only the records whose bytes hold the type's name are decoded."""
    keys = set()
    for _, key, value in records:
        if key is None or not value or LIST_ENTERED not in value:
            continue
        try:
            event = decode_event(value)
        except CodecError:
            continue
        if event["type"] == "ListEntered" and event["payload"]["list_kind"] == list_kind:
            keys.add(key)
    return keys


def events_of(records, keys: set[bytes]):
    """(offset, event) of the records of these subjects; a record that is no event is no part of any file
    (it is on credit.rejected)."""
    for offset, key, value in records:
        if key in keys:
            try:
                yield offset, decode_event(value or b"")
            except CodecError:
                continue


def rows_from(read_records, list_kind: str, day: str, policies) -> list[dict]:
    """The release's rows from the log (`read_records()`: its (offset, key, value) records, partition after
    partition, a subject's in order): the subjects that ever entered the list, their events recorded by the
    end of `day` folded, their entries in force that day. The fold is per subject, so folding only those
    subjects gives their states exactly as folding everything would, at a fraction of the cost (the fold is
    ~3,000 events/s, reading and looking at the bytes far faster)."""
    keys = listed_keys(read_records(), list_kind)
    entries = known_on(events_of(read_records(), keys), day)
    folded = replay(entries, NO_KEY, policy=policies, deadlines=False)  # the log holds pseudonyms already
    return release_rows(folded.states, list_kind, day)


def compute(kafka, list_kind: str, day: str, policies) -> list[dict]:
    """rows_from credit.events, read twice (the subjects, then their events) as `kafka` (the auditor)."""
    def read_records():
        for _, offset, key, value, _ in ledger_reader.read_topic(kafka, topics.EVENTS):
            yield offset, key, value
    return rows_from(read_records, list_kind, day, policies)


def run_release(*, list_kind: str, as_of: str, out_dir: Path, kafka: str | None = None, web_url: str | None = None,
                out: Console | None = None, err: Console | None = None) -> int:
    from confluent_kafka import KafkaException

    from ops.config import load_settings

    out, err = out or Console(), err or Console(stderr=True)

    def fail(code: int, message: str) -> int:
        err.print(f"error: {literal(message)}", soft_wrap=True)
        return code
    if list_kind not in LIST_KINDS:
        return fail(CANNOT, f"--list must be one of {', '.join(LIST_KINDS)}, got {list_kind!r}")
    try:
        read_instant(as_of, "--as-of", date_only=True)
    except BadInstant as error:
        return fail(CANNOT, str(error))
    settings = load_settings(kafka=kafka)
    web, token = (web_url or settings.web_url).rstrip("/"), settings.operator_token
    try:
        status, known = worker_json(f"{web}/releases?list_kind={urllib.parse.quote(list_kind)}", token,
                                    timeout_s=WORKER_TIMEOUT_S)
    except (OSError, ValueError) as error:
        return fail(CANNOT, f"cannot reach the worker at {web}: {error}")
    if status != 200:
        return fail(CANNOT, f"the worker at {web} answered {status}: {worker_why(known)}")
    if as_of >= known["today"]:
        return fail(REFUSED, f"{as_of} is not over on the ledger's clock (today is {known['today']}): a release "
                             "shows a day as known at its end, so it can be made from the next day on")
    command = f"credit-ledger release --list {list_kind} --as-of {as_of}"
    why = record_audit_read(web, token, "verify", None, command)
    if why is not None:
        return fail(CANNOT, f"{why}; a release reads the whole ledger, recorded first: an admin's token "
                            "(CREDIT_LEDGER_TOKEN) and a running worker are needed")
    try:
        rows = compute(settings.kafka_access(AUDITOR), list_kind, as_of, settings.policies())
    except (KafkaException, OSError) as error:
        return fail(CANNOT, f"cannot read {topics.EVENTS} from {settings.kafka}: {error}")
    canonical = release_csv(rows, list_kind, as_of)
    digest = digest_of(canonical)
    try:
        status, answer = worker_json(f"{web}/releases", token, {"list_kind": list_kind, "as_of": as_of,
                                                                 "digest": digest, "entry_count": len(rows)},
                                     timeout_s=WORKER_TIMEOUT_S)
    except (OSError, ValueError) as error:
        return fail(CANNOT, f"cannot reach the worker at {web} to record the release: {error}")
    if status == 409:
        return fail(REFUSED, worker_why(answer))
    if status not in (200, 201):
        return fail(CANNOT, f"the worker did not record the release ({status}): {worker_why(answer)}")
    release = answer["release"]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{release['number']}.csv").write_bytes(canonical)
        (out_dir / f"{release['number']}.html").write_text(release_html(release, rows), encoding="utf-8")
    except OSError as error:
        return fail(CANNOT, f"cannot write the release's files in {out_dir}: {error} (it is recorded as "
                            f"{release['number']}: run the command again to write them)")
    said = "released" if status == 201 else "released before, identically"
    out.print(f"{literal(release['number'])} {digest} ({len(rows)} entries; {said})", soft_wrap=True, highlight=False)
    return RELEASED
