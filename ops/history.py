"""`credit-ledger history`: one subject reconstructed from credit.events itself, not the worker's tables.

The worker's per-subject index (its history: each accepted event's offset and chain hash) says
which records to read; the subject's partition comes from Kafka's partitioner. What is read is
checked against the index (event ids and the recomputed hash chain), so the index is never
trusted blindly; when the worker is unreachable or the check fails, the whole partition is
scanned instead, and the output says so.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from projections.replay import replay
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_event
from streams.partitioner import partition_of

INDEX_TIMEOUT_S = 10.0


def worker_index(web_url: str, subject_id: str) -> list[dict] | None:
    url = f"{web_url.rstrip('/')}/subjects/{urllib.parse.quote(subject_id)}/history"
    try:
        with urllib.request.urlopen(url, timeout=INDEX_TIMEOUT_S) as response:
            return json.loads(response.read())["history"]
    except (OSError, ValueError, KeyError):
        return None


def _runs(offsets: list[int]) -> list[tuple[int, int]]:
    """Contiguous [start, end) ranges covering the offsets, so each is one fetch."""
    runs: list[tuple[int, int]] = []
    for offset in sorted(offsets):
        if runs and runs[-1][1] == offset:
            runs[-1] = (runs[-1][0], offset + 1)
        else:
            runs.append((offset, offset + 1))
    return runs


def _decoded(records, subject_id: str):
    key = subject_id.encode()
    for offset, record_key, value, _ in records:
        if record_key != key:
            continue
        try:
            yield offset, decode_event(value)
        except CodecError:
            continue  # not an event: nothing of the subject's file (it is on credit.rejected)


def reconstruct(bootstrap: str, web_url: str, subject_id: str, policies, pseudonym_key: bytes) -> tuple[list, str]:
    """(history entries {offset, chain_hash, event}, "index" or "scan: <why>") read from the log."""
    marks = ledger_reader.watermarks(bootstrap, topics.EVENTS)
    partition = partition_of(subject_id, len(marks))
    index = worker_index(web_url, subject_id)
    why = "the worker's index is unreachable"
    if index is not None:
        entries = []
        for start, end in _runs([h["offset"] for h in index]):
            entries += _decoded(ledger_reader.read_range(bootstrap, topics.EVENTS, partition, start, end), subject_id)
        history = replay(entries, pseudonym_key, policy=policies).history.get(subject_id, [])
        if [(h["offset"], h["chain_hash"]) for h in history] == [(h["offset"], h["chain_hash"]) for h in index]:
            return history, "index"
        why = "the worker's index does not match the log"
    low, high = marks[partition]
    entries = list(_decoded(ledger_reader.read_range(bootstrap, topics.EVENTS, partition, low, high), subject_id))
    return replay(entries, pseudonym_key, policy=policies).history.get(subject_id, []), f"scan: {why}"
