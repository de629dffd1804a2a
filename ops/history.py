"""`credit-ledger history`: one subject reconstructed from credit.events, proved, not taken on trust.

The worker serves the subject's accepted events with their chain hashes and, for each, an inclusion
proof in its partition's Merkle tree (RFC 6962, projections/merkle.py) against the tree it last
published on credit.digests (GET /subjects/{id}/history?proofs=1, streams/proofs.py). Here:

* the tree's size and root are looked up on credit.digests itself (the auditor's read of that topic):
  a root the worker never published proves nothing;
* each entry's record is rebuilt from its event (the subject's id as the key, the event's Avro
  encoding as the value, at its offset) and its proof climbed to that root; an entry whose rebuilt
  bytes differ (a record an older writer schema wrote) or that came after the published tree is read
  from the log itself, and then its record must prove (or be) the event served;
* the chain: every entry's chain hash must be chain_link of the one before and its event, from the
  genesis head, so no event in the middle was left out or changed.

Any mismatch raises HistoryMismatch naming the record (offset, event id) and what failed: the command
exits 1. The proofs show that each event served stands in the log at its offset; they cannot show that
the worker served every one (an omitted newest event leaves the chain whole): `--scan` reads the whole
partition with the library client and folds it, trusting no worker. When the worker is unreachable, or
has published no tree yet, the partition is scanned too, and the output says so; the scan checks
the partition's records against the newest Merkle root on credit.digests the same way (the root of its
first tree_size records), and folds the chain itself.
"""
from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import orjson

from ops.worker_http import open_worker
from projections import merkle
from projections.canonical import GENESIS_HEAD, chain_link
from projections.replay import log_context, replay
from projections.validate import validate_event
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_digest, decode_event, encode_event
from streams.kafka_access import KafkaAccess
from streams.partitioner import partition_of
from streams.proofs import PROOFS_MAX

INDEX_TIMEOUT_S = 30.0
DIGESTS_TAIL = 200  # the newest digests read first to find the worker's root; then DIGESTS_SEARCH_MAX
DIGESTS_SEARCH_MAX = 20_000
UNPROVED_MAX = 10_000  # entries read from the log instead (newer than the tree, older writer schemas)


class HistoryMismatch(Exception):
    """What the worker served does not hold: the message names the record and what failed."""


def proved_history(web_url: str, subject_id: str, token: str | None = None) -> dict | None:
    """The worker's proved history of the subject (an auditor's read), None when unreachable or refused."""
    url = f"{web_url.rstrip('/')}/subjects/{urllib.parse.quote(subject_id, safe='')}/history?proofs=1"
    try:
        with open_worker(url, token, timeout_s=INDEX_TIMEOUT_S) as response:
            answer = orjson.loads(response.read())  # ~1-2 MB for 1,000 entries: 3x faster than json
    except (OSError, ValueError):  # orjson.JSONDecodeError is a ValueError
        return None
    return answer if isinstance(answer, dict) else None


def _decoded(records, subject_id: str):
    key = subject_id.encode()
    for offset, record_key, value, _ in records:
        if record_key != key:
            continue
        try:
            yield offset, decode_event(value)
        except CodecError:
            continue  # not an event: nothing of the subject's file (it is on credit.rejected)


def newest_digests(reader: ledger_reader.Session, partition: int, count: int = DIGESTS_TAIL) -> list[dict]:
    """The digests of `partition` among the last `count` of its partition of credit.digests, newest first."""
    where = partition_of(str(partition), reader.partition_count(topics.DIGESTS))  # the worker keys them so
    found = []
    for *_, value, _ in reversed(reader.read_last(topics.DIGESTS, where, count)):
        try:
            digest = decode_digest(value or b"")
        except CodecError:
            continue
        if digest["topic"] == topics.EVENTS and digest["partition"] == partition:
            found.append(digest)
    return found


def published_tree(reader: ledger_reader.Session, partition: int, size: int, newest: list[dict] | None = None
                   ) -> dict | None:
    """The digest on credit.digests that publishes `partition`'s tree of `size` records: among `newest`
    (newest_digests, read beforehand), else among the last DIGESTS_SEARCH_MAX; None when none does."""
    candidates = newest if newest is not None else newest_digests(reader, partition)
    found = next((digest for digest in candidates if digest["tree_size"] == size), None)
    if found is None:  # an older root, or a tail crowded by other partitions' digests: look further back
        found = next((digest for digest in newest_digests(reader, partition, DIGESTS_SEARCH_MAX)
                      if digest["tree_size"] == size), None)
    return found


def partition_and_digests(reader: ledger_reader.Session, subject_id: str) -> tuple[int, list[dict]]:
    """The subject's partition and its newest digests: read while the worker answers (reconstruct)."""
    partition = partition_of(subject_id, reader.partition_count(topics.EVENTS))
    return partition, newest_digests(reader, partition)


def _named(entry: dict) -> str:
    event = entry.get("event") if isinstance(entry.get("event"), dict) else {}
    return f"the record at offset {entry.get('offset')} (event {event.get('event_id')})"


def _checked_shape(answer: dict, subject_id: str) -> tuple[list, dict, list]:
    history, tree, proofs = answer.get("history"), answer.get("tree"), answer.get("proofs")
    if not isinstance(history, list) or not isinstance(proofs, list) or len(history) != len(proofs):
        raise HistoryMismatch("the worker's answer has no history with one proof per entry")
    if len(history) > PROOFS_MAX:
        raise HistoryMismatch(f"the worker served more than {PROOFS_MAX} entries")
    if not isinstance(tree, dict) or not isinstance(tree.get("partition"), int) \
            or not isinstance(tree.get("size"), int) or not isinstance(tree.get("root"), str):
        raise HistoryMismatch(f"the worker's tree is not one of a partition: {str(tree)[:200]}")
    previous = -1
    for entry in history:
        event = entry.get("event") if isinstance(entry, dict) else None
        if not isinstance(event, dict) or not isinstance(entry.get("offset"), int) \
                or not isinstance(entry.get("chain_hash"), str) or not isinstance(event.get("subject"), dict):
            raise HistoryMismatch(f"an entry that is no {{offset, chain_hash, event}}: {str(entry)[:200]}")
        if event["subject"].get("id") != subject_id or entry["offset"] <= previous:
            raise HistoryMismatch(f"{_named(entry)} is not {subject_id}'s next event")
        previous = entry["offset"]
    return history, tree, proofs


def _check_chain(history: list[dict]) -> None:
    head = GENESIS_HEAD
    for entry in history:
        head = chain_link(head, entry["event"])
        if head != entry["chain_hash"]:
            raise HistoryMismatch(f"{_named(entry)}: its chain hash {entry['chain_hash'][:16]}… is not the link "
                                  f"of the events before it and its own ({head[:16]}…)")


def _proof_items(history: list[dict], proofs: list, subject_id: str, size: int) -> tuple[list, list[int]]:
    """([(leaf hash, leaf index, path (its hashes concatenated), position)], positions to read from the log)."""
    key, items, unproved = subject_id.encode(), [], []
    for position, (entry, proof) in enumerate(zip(history, proofs)):
        if proof is None:
            unproved.append(position)
            continue
        try:
            path = bytes.fromhex(proof["proof"])  # the hashes concatenated: climbed in place
            index = proof["leaf_index"]
            value = encode_event(entry["event"])
        except (TypeError, KeyError, ValueError, CodecError) as error:
            raise HistoryMismatch(f"{_named(entry)}: an unreadable proof or event ({error})") from None
        if not isinstance(index, int) or not 0 <= index < size:
            raise HistoryMismatch(f"{_named(entry)}: leaf {index!r} is not in a tree of {size} records")
        items.append((merkle.record_leaf_hash(entry["offset"], key, value), index, path, position))
    return items, unproved


def _failing_positions(items: list, size: int, root: bytes) -> list[int]:
    """The positions (in the history) of the items whose proofs do not reach `root`, in order."""
    failing, rest = [], items
    while rest:
        first = merkle.first_failing([(leaf, index, path) for leaf, index, path, _ in rest], size, root)
        if first is None:
            break
        failing.append(rest[first][3])
        rest = rest[first + 1:]
    return failing


def _check_from_log(bootstrap, subject_id: str, partition: int, history: list[dict], items: list,
                    positions: list[int], size: int, root: bytes) -> None:
    """The entries at `positions` checked against their records read from the log: the record's event is
    the one served, and, where a proof was served, the record's own bytes climb it to the root."""
    if len(positions) > UNPROVED_MAX:
        raise HistoryMismatch(f"{len(positions)} entries have no proof that holds: more than {UNPROVED_MAX}")
    by_position = {item[3]: item for item in items}
    wanted = {history[p]["offset"]: p for p in positions}
    read = {o: (k, v) for o, k, v, _ in ledger_reader.read_offsets(bootstrap, topics.EVENTS, partition, wanted)}
    for offset, position in wanted.items():
        entry = history[position]
        if offset not in read:
            raise HistoryMismatch(f"{_named(entry)}: the log has no record there")
        key, value = read[offset]
        if key != subject_id.encode():
            raise HistoryMismatch(f"{_named(entry)}: the log's record there is not {subject_id}'s")
        try:
            decoded = decode_event(value or b"")
        except CodecError:
            raise HistoryMismatch(f"{_named(entry)}: the log's record there is no event") from None
        event, problems = validate_event(decoded, log_context(decoded))
        if problems or event != entry["event"]:
            raise HistoryMismatch(f"{_named(entry)}: the event served is not the one the log holds there")
        item = by_position.get(position)
        if item is not None and merkle.first_failing(
                [(merkle.record_leaf_hash(offset, key, value), item[1], item[2])], size, root) is not None:
            raise HistoryMismatch(f"{_named(entry)}: its proof does not reach the published root "
                                  f"{root.hex()[:16]}… of {size} records")


Located = Callable[[], tuple[int, list[dict] | None]]  # () -> (the subject's partition, its newest digests)


def verify_proved(bootstrap: KafkaAccess | str, reader: ledger_reader.Session, subject_id: str, answer: dict,
                  located: Located) -> list[dict]:
    """The history entries of the worker's proved answer, once every check above holds; else HistoryMismatch.
    `reader`: a session on `bootstrap` (credit.digests is read with it); `located()`: the subject's partition
    and its newest digests (partition_and_digests, or None to read them here), asked for only once the
    answer's shape, chain and proofs are checked: what needs no root is done while they are read."""
    history, tree, proofs = _checked_shape(answer, subject_id)
    _check_chain(history)
    size = tree["size"]
    items, unproved = _proof_items(history, proofs, subject_id, size)
    climbed = merkle.common_root([(leaf, index, path) for leaf, index, path, _ in items], size)
    partition, newest = located()
    if tree["partition"] != partition:
        raise HistoryMismatch(f"the worker's tree is not one of partition {partition}: {str(tree)[:200]}")
    digest = published_tree(reader, partition, size, newest)
    if digest is None or digest["tree_root"] != tree["root"]:
        raise HistoryMismatch(f"the worker proves against a root of partition {partition} ({size} records, "
                              f"{tree['root'][:16]}…) that credit.digests does not hold")
    root = bytes.fromhex(digest["tree_root"])
    # every path reaches one root, the published one: each holds, as first_failing would find; else that names them
    failing = [] if not items or climbed == root else _failing_positions(items, size, root)
    if failing or unproved:
        _check_from_log(bootstrap, subject_id, partition, history, items, sorted(failing + unproved), size, root)
    return [{"offset": e["offset"], "chain_hash": e["chain_hash"], "event": e["event"]} for e in history]


def newest_tree(reader: ledger_reader.Session, partition: int) -> dict | None:
    """The newest digest on credit.digests with a Merkle root of `partition` (among the last DIGESTS_TAIL)."""
    return next((d for d in newest_digests(reader, partition) if d["tree_size"] > 0), None)


def scanned(bootstrap: KafkaAccess | str, reader: ledger_reader.Session, subject_id: str, partition: int,
            policies, pseudonym_key: bytes) -> tuple[list, str]:
    """(the subject's history folded from every record of its partition, read with the library client,
    what was checked): the records' Merkle root is checked against the newest one on credit.digests,
    as the proofs are (HistoryMismatch when it differs), and the fold makes the chain itself."""
    digest = newest_tree(reader, partition)
    size = digest["tree_size"] if digest is not None else 0
    builder = merkle.RootBuilder(at_sizes=(size,) if size else ())
    low, high = ledger_reader.watermarks(bootstrap, topics.EVENTS)[partition]

    def leaves_taken(records):
        for record in records:
            builder.add(merkle.record_leaf_hash(record[0], record[1], record[2]))
            yield record
    records = ledger_reader.read_range(bootstrap, topics.EVENTS, partition, low, high)
    entries = list(_decoded(leaves_taken(records), subject_id))
    checked = root_checked(builder, digest, partition, low)
    return replay(entries, pseudonym_key, policy=policies).history.get(subject_id, []), checked


def root_checked(builder: merkle.RootBuilder, digest: dict | None, partition: int, low: int) -> str:
    """What a scan's records (their roots in `builder`) show against the digest with the newest Merkle root
    of the partition: a sentence, or HistoryMismatch when they do not give that root."""
    if digest is None:
        return "no Merkle root on credit.digests to check the partition with"
    size = digest["tree_size"]
    if builder.size < size:
        raise HistoryMismatch(f"partition {partition} holds {builder.size} records from offset {low}; the Merkle root "
                              f"on credit.digests covers {size} (to offset {digest['tree_offset']})")
    if builder.roots.get(size) != bytes.fromhex(digest["tree_root"]):
        raise HistoryMismatch(f"the first {size} records of partition {partition} (to offset {digest['tree_offset']}) "
                              f"do not give the Merkle root on credit.digests ({digest['tree_root'][:16]}…): "
                              "a record there was altered, removed or reordered (`verify` names which)")
    return f"its first {size} records give the Merkle root on credit.digests"


def reconstruct(bootstrap: KafkaAccess | str, web_url: str | None, subject_id: str, policies, pseudonym_key: bytes,
                token: str | None = None) -> tuple[list, str]:
    """(history entries {offset, chain_hash, event}, "proofs" or "scan: <why>; <what was checked>") read
    from the log; `web_url` None: the partition is scanned without asking the worker. Raises
    HistoryMismatch when the worker's answer, or the scanned partition, does not hold."""
    with ledger_reader.Session(bootstrap) as reader:  # one client: the partitions, then the digests
        if web_url is None:
            partition, answer = partition_of(subject_id, reader.partition_count(topics.EVENTS)), None
        else:
            with ThreadPoolExecutor(1) as pool:  # the digests are read while the worker answers and is checked
                ahead = pool.submit(partition_and_digests, reader, subject_id)
                answer = proved_history(web_url, subject_id, token)
                if answer is not None and answer.get("tree") is not None:
                    return verify_proved(bootstrap, reader, subject_id, answer, ahead.result), "proofs"
                partition = ahead.result()[0]
        why = ("asked for (--scan)" if web_url is None
               else "the worker is unreachable, or refused without an auditor's token" if answer is None
               else "the worker has published no Merkle root of the partition yet")
        history, checked = scanned(bootstrap, reader, subject_id, partition, policies, pseudonym_key)
    return history, f"scan: {why}; {checked}"
