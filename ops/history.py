"""`credit-ledger history`: one subject reconstructed from credit.events itself, not the worker's tables.

The worker's per-subject index (its history: each accepted event's offset and chain hash) says
which records to read; the subject's partition comes from Kafka's partitioner. What is read is
checked against the index (event ids and the recomputed hash chain), so the index is never
trusted blindly; when the worker is unreachable or the check fails, the whole partition is
scanned instead, and the output says so.
"""
from __future__ import annotations

import json
import urllib.parse

from ops.worker_http import open_worker
from projections.replay import replay
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_event
from streams.kafka_access import KafkaAccess
from streams.partitioner import partition_of

INDEX_TIMEOUT_S = 10.0


def worker_index(web_url: str, subject_id: str, token: str | None = None) -> list[dict] | None:
    """The worker's index of the subject's events (an auditor's read), or None when unreachable or refused."""
    url = f"{web_url.rstrip('/')}/subjects/{urllib.parse.quote(subject_id, safe='')}/history"
    try:
        with open_worker(url, token, timeout_s=INDEX_TIMEOUT_S) as response:
            return json.loads(response.read())["history"]
    except (OSError, ValueError, KeyError):
        return None


def _decoded(records, subject_id: str):
    key = subject_id.encode()
    for offset, record_key, value, _ in records:
        if record_key != key:
            continue
        try:
            yield offset, decode_event(value)
        except CodecError:
            continue  # not an event: nothing of the subject's file (it is on credit.rejected)


def from_index(bootstrap: KafkaAccess | str, subject_id: str, partition: int, index: list[dict], policies,
               pseudonym_key: bytes) -> list | None:
    """The history re-folded from the offsets the index names, or None when the log disagrees
    with the index (an offset missing, another event there, a different chain hash)."""
    # folded as they arrive, none held beyond it (overlapping the fold with the fetches gained little when
    # measured: the reader is busy with its own CPU, not waiting on the broker)
    records = ledger_reader.read_offsets(bootstrap, topics.EVENTS, partition, [h["offset"] for h in index])
    history = replay(_decoded(records, subject_id), pseudonym_key, policy=policies).history.get(subject_id, [])
    if [(h["offset"], h["chain_hash"]) for h in history] != [(h["offset"], h["chain_hash"]) for h in index]:
        return None
    return history


def reconstruct(bootstrap: KafkaAccess | str, web_url: str | None, subject_id: str, policies, pseudonym_key: bytes,
                token: str | None = None) -> tuple[list, str]:
    """(history entries {offset, chain_hash, event}, "index" or "scan: <why>") read from the log;
    `web_url` None: the partition is scanned without asking the worker's index."""
    partition = partition_of(subject_id, len(ledger_reader.leaders(bootstrap, topics.EVENTS)))
    index = None if web_url is None else worker_index(web_url, subject_id, token)
    if index is not None:
        history = from_index(bootstrap, subject_id, partition, index, policies, pseudonym_key)
        if history is not None:
            return history, "index"
    why = ("asked for (--scan)" if web_url is None
           else "the worker's index is unreachable, or refused without an auditor's token" if index is None
           else "the worker's index does not match the log")
    low, high = ledger_reader.watermarks(bootstrap, topics.EVENTS)[partition]
    entries = list(_decoded(ledger_reader.read_range(bootstrap, topics.EVENTS, partition, low, high), subject_id))
    return replay(entries, pseudonym_key, policy=policies).history.get(subject_id, []), f"scan: {why}"
