"""Verifying the ledger against digests: partition roots, per-record fingerprints, subjects' chains.

Pure: plain records (offset, key bytes, value bytes) of each partition in, plain results
out; reading Kafka and decoding Avro are the caller's (ops/verify.py), passed in as
iterables and a `decode` function.

What is checked
---------------
* The root of a partition is `log_link` over every record from offset 0, exactly as the
  worker's LedgerProcessor computes `batch.roots` and publishes it to credit.digests
  ({topic, partition, offset, root, at}) every few seconds. A digest holds when the root
  recomputed at its offset equals its root. A root alone says only *that* something
  before its offset differs; with several published digests of a partition the first
  difference is narrowed to the offsets between the last digest that holds and the
  first that does not.
* An exported digest file also carries a fingerprint of every record, so the FIRST
  offending record is found and named with what happened to it (see the kinds below).
* A subject's chain is `chain_link` over the canonical JSON of its APPLIED events in log
  order, replayed with projections.replay.step (validation and fold) as the worker does.

The digest file (format 1)
--------------------------
JSON, UTF-8::

    {"format": 1,
     "topic": "credit.events",
     "exported_at": "2026-01-05T10:00:00+08:00",
     "partitions": {"0": {"offset": 41,            # last offset covered, -1: the partition was empty
                          "root": "<64 hex>",     # the partition's root at that offset
                          "records": [[0, "<64 hex>", "<event id>"],   # [offset, fingerprint, event id or null]
                                      ...]},
                    "1": {...}},
     "subjects": {"<subject id>": {"length": 3, "head": "<64 hex>"}, ...}}

A record's fingerprint is SHA-256 over its key and value as stored, each preceded by its
length as 4 bytes big-endian (an absent key or value counts as empty): the framing of
`log_link` without the offset, so a record moved to another offset keeps its fingerprint.
The event id is the decoded record's, null when the record is no decodable event.
"subjects" lists every subject with at least one applied event up to the partitions'
offsets; it is optional (without it only records and roots are verified). A file holds
at most RECORDS_PER_FILE_MAX records, all partitions together: at the limit it is about
1.2 GB and takes some 3 GB of memory to verify.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from projections.canonical import GENESIS_HEAD, chain_link, log_link
from projections.fold import APPLIED
from projections.policy import DEFAULT_POLICY, Policy, PolicyBook
from projections.replay import step

FORMAT = 1
RECORDS_PER_FILE_MAX = 10_000_000  # records per digest file, all partitions together

# What happened to the first offending record
ALTERED = "ALTERED"  # same offset, different bytes
REMOVED = "REMOVED"  # a saved record is missing: the records after it moved up, or the log is shorter
REORDERED = "REORDERED"  # a saved record's bytes stand at another offset
INSERTED = "INSERTED"  # a record that was never saved stands where a saved one was; the saved ones follow
ROOT_DIFFERS = "ROOT_DIFFERS"  # only a root to go by: something at or before its offset differs
CHAIN_DIFFERS = "CHAIN_DIFFERS"  # a subject's chain (length, head) differs from the saved one

Decode = Callable[[bytes | None], "dict | None"]  # a record's value -> the event's JSON form, None if undecodable
PartitionRecords = Iterable[tuple[int, bytes | None, bytes | None]]  # (offset, key, value), offsets ascending

_HEX64 = re.compile(r"[0-9a-f]{64}")


class DigestFileError(ValueError):
    """A digest file that is not format 1; the message says where."""


def record_fingerprint(key: bytes | None, value: bytes | None) -> str:
    digest = hashlib.sha256()
    for part in (key or b"", value or b""):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return digest.hexdigest()


def partition_roots(records: Iterable[tuple[int, int, bytes | None, bytes | None]]) -> dict[int, tuple[int, str]]:
    """{partition: (last offset, root)} of (partition, offset, key, value) records, each partition
    from its first record on, in the order given (offsets ascending within a partition)."""
    roots: dict[int, tuple[int, str]] = {}
    for partition, offset, key, value in records:
        _, previous = roots.get(partition, (-1, GENESIS_HEAD))
        roots[partition] = (offset, log_link(previous, offset, key, value))
    return roots


def event_id_of(decoded: Any) -> str | None:
    event_id = decoded.get("event_id") if isinstance(decoded, dict) else None
    return event_id if isinstance(event_id, str) else None


def _subject_id_of(decoded: Any) -> str | None:
    subject = decoded.get("subject") if isinstance(decoded, dict) else None
    subject_id = subject.get("id") if isinstance(subject, dict) else None
    return subject_id if isinstance(subject_id, str) else None


# -- the digest file ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SavedPartition:
    offset: int  # the last offset covered, -1 for an empty partition
    root: str
    records: list | None = None  # [[offset, fingerprint, event id or None], ...], None: a root only


@dataclass(frozen=True)
class SavedDigest:
    topic: str
    exported_at: str | None
    partitions: dict[int, SavedPartition]
    subjects: dict[str, tuple[int, str]] | None  # id -> (length, head); None: the file has none


def load_digest(document: Any) -> SavedDigest:
    """Check a parsed digest file (format 1) and return it; DigestFileError says what is wrong."""
    def fail(where: str, what: str):
        raise DigestFileError(f"{where}: {what}")

    if not isinstance(document, dict):
        fail("$", "not a JSON object")
    if document.get("format") != FORMAT:
        fail("format", f"must be {FORMAT}, got {document.get('format')!r}")
    topic = document.get("topic")
    if not isinstance(topic, str) or not topic:
        fail("topic", "must be a topic name")
    partitions = document.get("partitions")
    if not isinstance(partitions, dict):
        fail("partitions", "must be an object {partition: {offset, root, records}}")
    saved: dict[int, SavedPartition] = {}
    total = 0
    for name, body in partitions.items():
        where = f"partitions.{name}"
        if not re.fullmatch(r"0|[1-9][0-9]{0,8}", name):
            fail(where, "a partition is a whole number")
        if not isinstance(body, dict):
            fail(where, "must be an object {offset, root, records}")
        offset, root, records = body.get("offset"), body.get("root"), body.get("records")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < -1:
            fail(f"{where}.offset", "must be a whole number >= -1")
        if not isinstance(root, str) or not _HEX64.fullmatch(root):
            fail(f"{where}.root", "must be 64 lower-case hex digits")
        if offset == -1 and root != GENESIS_HEAD:
            fail(f"{where}.root", "an empty partition (offset -1) has the genesis root")
        if records is not None:
            if not isinstance(records, list):
                fail(f"{where}.records", "must be a list of [offset, fingerprint, event id or null]")
            total += len(records)
            if total > RECORDS_PER_FILE_MAX:
                fail("partitions", f"more than {RECORDS_PER_FILE_MAX:,} records")
            previous = -1
            for i, record in enumerate(records):
                if not (isinstance(record, list) and len(record) == 3 and isinstance(record[0], int)
                        and not isinstance(record[0], bool) and isinstance(record[1], str)
                        and _HEX64.fullmatch(record[1]) and (record[2] is None or isinstance(record[2], str))):
                    fail(f"{where}.records[{i}]", "must be [offset, 64 hex digits, event id or null]")
                if record[0] <= previous:
                    fail(f"{where}.records[{i}]", f"offset {record[0]} does not follow {previous}")
                previous = record[0]
            if previous != offset:
                fail(f"{where}.records", f"the last record's offset ({previous}) is not the partition's ({offset})")
        saved[int(name)] = SavedPartition(offset, root, records)
    subjects = document.get("subjects")
    chains: dict[str, tuple[int, str]] | None = None
    if subjects is not None:
        if not isinstance(subjects, dict):
            fail("subjects", "must be an object {subject id: {length, head}}")
        chains = {}
        for subject_id, chain in subjects.items():
            length = chain.get("length") if isinstance(chain, dict) else None
            head = chain.get("head") if isinstance(chain, dict) else None
            if (not isinstance(length, int) or isinstance(length, bool) or length < 1
                    or not isinstance(head, str) or not _HEX64.fullmatch(head)):
                fail(f"subjects.{subject_id}", "must be {length: a whole number >= 1, head: 64 hex digits}")
            chains[subject_id] = (length, head)
    exported_at = document.get("exported_at")
    return SavedDigest(topic, exported_at if isinstance(exported_at, str) else None, saved, chains)


# -- results -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Discrepancy:
    kind: str  # ALTERED, REMOVED, REORDERED, INSERTED, ROOT_DIFFERS or CHAIN_DIFFERS
    partition: int | None
    offset: int | None  # the first offending record's offset (as saved); None when unknown
    event_id: str | None  # its event id (as saved, else as found); None when unknown
    detail: str  # what differs, in a sentence
    subject_id: str | None = None
    found_at: int | None = None  # REORDERED / INSERTED: where the saved record stands now
    between: tuple[int, int] | None = None  # ROOT_DIFFERS: the first difference lies in these offsets


@dataclass
class PartitionResult:
    partition: int
    records: int  # records read
    first_offset: int | None
    last_offset: int  # -1: none
    root: str  # at last_offset
    checked: list[tuple[int, bool]]  # (digest offset, holds) in offset order
    discrepancy: Discrepancy | None = None


class PartitionScan:
    """One pass over one partition: its root, the roots at digest offsets, and the first record
    that differs from the saved fingerprints."""

    def __init__(self, partition: int, saved: SavedPartition | None = None,
                 published: Iterable[tuple[int, str]] = ()):
        self.partition = partition
        self.root = GENESIS_HEAD
        self.count = 0
        self.first_offset: int | None = None
        self.last_offset = -1
        self._expected: dict[int, set[str]] = {}  # digest offset -> the roots digests claim there
        for offset, root in published:
            self._expected.setdefault(offset, set()).add(root)
        if saved is not None and saved.offset >= 0:
            self._expected.setdefault(saved.offset, set()).add(saved.root)
        self._roots_at: dict[int, str] = {}
        self._records = saved.records if saved is not None else None
        self._position = 0  # the saved record the next one read is compared with
        self._mismatch: tuple[int, int, str, str | None] | None = None  # (saved index, offset, fingerprint, event id)
        self._found_at: int | None = None  # where the mismatching saved record's bytes stand now

    def add(self, offset: int, key: bytes | None, value: bytes | None, event_id: str | None = None) -> str:
        """Take the next record; returns its fingerprint."""
        if self.first_offset is None:
            self.first_offset = offset
        self.root = log_link(self.root, offset, key, value)
        self.last_offset = offset
        self.count += 1
        if offset in self._expected:
            self._roots_at[offset] = self.root
        fingerprint = record_fingerprint(key, value)
        records = self._records
        if records is not None:
            if self._mismatch is None:
                if self._position < len(records):
                    saved_offset, saved_fingerprint, _ = records[self._position]
                    if saved_offset != offset or saved_fingerprint != fingerprint:
                        self._mismatch = (self._position, offset, fingerprint, event_id)
                        if saved_fingerprint == fingerprint:
                            self._found_at = offset
                    self._position += 1
            elif self._found_at is None and fingerprint == records[self._mismatch[0]][1]:
                self._found_at = offset
        return fingerprint

    def finish(self) -> PartitionResult:
        checked, root_discrepancy = self._check_roots()
        discrepancy = self._first_record_discrepancy() or root_discrepancy
        return PartitionResult(self.partition, self.count, self.first_offset, self.last_offset, self.root,
                               checked, discrepancy)

    def _first_record_discrepancy(self) -> Discrepancy | None:
        records, p = self._records, self.partition
        if records is None:
            return None
        if self._mismatch is None:
            if self._position >= len(records):
                return None
            offset, _, event_id = records[self._position]
            end = f"the log ends at offset {self.last_offset}" if self.count else "the partition is empty"
            return Discrepancy(REMOVED, p, offset, event_id,
                               f"the saved record at offset {offset} (event {event_id}) is gone: {end}")
        index, now_offset, now_fingerprint, now_event = self._mismatch
        offset, fingerprint, event_id = records[index]
        saved_elsewhere = next((r[0] for i, r in enumerate(records) if r[1] == now_fingerprint and i != index), None)
        here = f"offset {now_offset}" if now_offset == offset else f"the same position (offset {now_offset})"
        if self._found_at is not None:
            if saved_elsewhere is None and now_fingerprint != fingerprint:
                return Discrepancy(INSERTED, p, offset, event_id,
                                   f"a record that was never saved (event {now_event}) stands at {here}; the saved "
                                   f"record of offset {offset} (event {event_id}) follows at offset {self._found_at}",
                                   found_at=self._found_at)
            return Discrepancy(REORDERED, p, offset, event_id,
                               f"the saved record of offset {offset} (event {event_id}) is now at offset "
                               f"{self._found_at}; {here} holds event {now_event}"
                               + (f", saved at offset {saved_elsewhere}" if saved_elsewhere is not None else ""),
                               found_at=self._found_at)
        if saved_elsewhere is not None:
            return Discrepancy(REMOVED, p, offset, event_id,
                               f"the saved record of offset {offset} (event {event_id}) is gone; the records "
                               f"after it moved up ({here} holds event {now_event}, saved at offset "
                               f"{saved_elsewhere})")
        if now_event == event_id and event_id is not None:
            what = ": same event id, altered content"
        elif now_event is None:
            what = ": it is no decodable event any more"
        else:
            what = f": it now reads as event {now_event}"
        return Discrepancy(ALTERED, p, offset, event_id,
                           f"the record at offset {offset} (event {event_id}) differs from the saved bytes{what}")

    def _check_roots(self) -> tuple[list[tuple[int, bool]], Discrepancy | None]:
        checked: list[tuple[int, bool]] = []
        first: Discrepancy | None = None
        last_good = -1
        p = self.partition
        for offset in sorted(self._expected):
            claimed = self._expected[offset]
            actual = GENESIS_HEAD if offset < 0 else self._roots_at.get(offset)  # -1: before any record
            holds = actual is not None and claimed == {actual}
            checked.append((offset, holds))
            if holds:
                if first is None:
                    last_good = offset
                continue
            if first is not None:
                continue
            if self.first_offset not in (None, 0):
                first = Discrepancy(REMOVED, p, 0, None,
                                    f"the log starts at offset {self.first_offset}: records "
                                    f"0..{self.first_offset - 1} are gone (deleted or expired)")
            elif offset > self.last_offset:
                end = f"the log ends at offset {self.last_offset}" if self.count else "the partition is empty"
                first = Discrepancy(REMOVED, p, self.last_offset + 1, None,
                                    f"a digest covers offsets up to {offset}, but {end}: records "
                                    f"{self.last_offset + 1}..{offset} are gone")
            else:
                start = last_good + 1
                where = (f"at offset {offset}" if start == offset
                         else f"somewhere in offsets {start}..{offset}")
                found = actual if actual is not None else f"no record at offset {offset}"
                first = Discrepancy(ROOT_DIFFERS, p, None, None,
                                    f"the root at offset {offset} differs (digest {'/'.join(sorted(claimed))}, "
                                    f"log {found}): the first difference lies {where}",
                                    between=(start, offset))
        return checked, first


class SubjectChains:
    """Every subject's chain (or one's), replayed with projections.replay.step as the worker folds."""

    def __init__(self, policy: Policy | PolicyBook = DEFAULT_POLICY, only: str | None = None,
                 until: Mapping[int, int] | None = None):
        self.policy = policy
        self.only = only
        self.until = until  # {partition: last offset to fold}; None: everything
        self.states: dict[str, dict] = {}
        self.chains: dict[str, tuple[int, str]] = {}  # id -> (length, head)
        self.partitions: dict[str, set[int]] = {}  # id -> partitions its records were found in
        self.applied: list[tuple[int, int, str]] = []  # `only`'s applied events: (partition, offset, event id)

    def add(self, partition: int, offset: int, decoded: dict | None) -> None:
        if decoded is None:
            return
        if self.until is not None and offset > self.until.get(partition, -1):
            return
        subject_id = _subject_id_of(decoded)
        if self.only is not None and subject_id != self.only:
            return
        if subject_id is not None:
            self.partitions.setdefault(subject_id, set()).add(partition)
        done = step(self.states.get, decoded, offset, policy=self.policy)
        if done.state is not None:
            self.states[done.subject_id] = done.state
        if done.outcome == APPLIED:
            length, head = self.chains.get(done.subject_id, (0, GENESIS_HEAD))
            self.chains[done.subject_id] = (length + 1, chain_link(head, done.event))
            if self.only is not None:
                self.applied.append((partition, offset, done.event["event_id"]))

    def as_dict(self) -> dict[str, dict]:
        return {s: {"length": length, "head": head} for s, (length, head) in sorted(self.chains.items())}


def compare_chains(saved: Mapping[str, tuple[int, str]], chains: SubjectChains,
                   only: str | None = None) -> list[Discrepancy]:
    """A CHAIN_DIFFERS per subject whose recomputed (length, head) is not the saved one."""
    found = []
    for subject_id in [only] if only is not None else sorted(saved.keys() | chains.chains.keys()):
        before = saved.get(subject_id, (0, GENESIS_HEAD))
        now = chains.chains.get(subject_id, (0, GENESIS_HEAD))
        if before != now:
            partitions = sorted(chains.partitions.get(subject_id, ()))
            found.append(Discrepancy(
                CHAIN_DIFFERS, partitions[0] if partitions else None, None, None,
                f"subject {subject_id}: saved chain length {before[0]} head {before[1][:16]}…, "
                f"recomputed length {now[0]} head {now[1][:16]}…", subject_id=subject_id))
    return found


# -- whole runs --------------------------------------------------------------------------------

@dataclass
class Verification:
    topic: str
    reference: str  # what the log was compared with
    partitions: list[PartitionResult]
    discrepancies: list[Discrepancy]  # the first per offending partition, then the chains
    subject: str | None = None
    chain: tuple[int, str] | None = None  # with `subject`: its recomputed (length, head)
    subject_partitions: list[int] = field(default_factory=list)  # with `subject`: where its records are
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    @property
    def first(self) -> Discrepancy | None:
        return self.discrepancies[0] if self.discrepancies else None


def verify(partitions: Iterable[tuple[int, PartitionRecords]], *, topic: str, decode: Decode,
           saved: SavedDigest | None = None, published: Iterable[Mapping] = (), subject: str | None = None,
           policy: Policy | PolicyBook = DEFAULT_POLICY) -> Verification:
    """Compare the log (every partition's records from offset 0) with a saved digest file or, without
    one, with the published digests ({topic, partition, offset, root}) of `topic`.

    With `subject`, only that subject's chain is verified: against the file's chain when the file has
    subjects, else by the partitions holding its records (its chain is a function of them)."""
    notes: list[str] = []
    published_roots, reference = _reference(topic, saved, published, notes)
    compare_subjects = saved is not None and saved.subjects is not None
    chains = (SubjectChains(policy, only=subject, until={p: s.offset for p, s in saved.partitions.items()}
                            if saved is not None else None)
              if compare_subjects or subject is not None else None)
    results = _scan_partitions(partitions, saved, published_roots, decode, chains)
    _add_partitions_one_side_lacks(results, topic, saved, published_roots, notes)
    ordered = [results[p] for p in sorted(results)]
    verification = Verification(topic, reference, ordered, [], subject, notes=notes)
    if subject is None:
        verification.discrepancies = [r.discrepancy for r in ordered if r.discrepancy is not None]
        if compare_subjects:
            verification.discrepancies += compare_chains(saved.subjects, chains)
        return verification
    # one subject's chain
    _verify_one_subject(verification, subject, chains, saved.subjects if compare_subjects else None)
    return verification


def _reference(topic: str, saved: SavedDigest | None, published: Iterable[Mapping],
               notes: list[str]) -> tuple[dict[int, list[tuple[int, str]]], str]:
    """The published roots by partition, [(offset, root)] (none with a digest file), and what the log is
    compared with, in words."""
    published_roots: dict[int, list[tuple[int, str]]] = {}
    if saved is None:
        for digest in published:
            if digest.get("topic") != topic:
                continue
            published_roots.setdefault(int(digest["partition"]), []).append((int(digest["offset"]), digest["root"]))
        reference = f"{sum(map(len, published_roots.values()))} published digest(s) of {topic}"
    else:
        reference = f"the digest file of {saved.topic} exported {saved.exported_at or '(no date)'}"
        if saved.topic != topic:
            notes.append(f"the digest file was exported from {saved.topic}; comparing it with {topic}")
    return published_roots, reference


def _scan_partitions(partitions: Iterable[tuple[int, PartitionRecords]], saved: SavedDigest | None,
                     published_roots: dict[int, list[tuple[int, str]]], decode: Decode,
                     chains: SubjectChains | None) -> dict[int, PartitionResult]:
    """Every partition's result against its saved and published digests; its events replayed into `chains`."""
    results: dict[int, PartitionResult] = {}
    for partition, records in partitions:
        scan = PartitionScan(partition, saved.partitions.get(partition) if saved else None,
                             published_roots.get(partition, ()))
        for offset, key, value in records:
            decoded = decode(value) if (saved is not None or chains is not None) else None
            scan.add(offset, key, value, event_id_of(decoded))
            if chains is not None:
                chains.add(partition, offset, decoded)
        results[partition] = scan.finish()
    return results


def _add_partitions_one_side_lacks(results: dict[int, PartitionResult], topic: str, saved: SavedDigest | None,
                                   published_roots: dict[int, list[tuple[int, str]]], notes: list[str]) -> None:
    """Adds the results of digested partitions the topic lacks, and notes on what was not compared."""
    missing = set(saved.partitions if saved else published_roots) - results.keys()
    for partition in sorted(missing):  # digests of partitions the topic no longer has
        results[partition] = PartitionScan(partition, saved.partitions.get(partition) if saved else None,
                                           published_roots.get(partition, ())).finish()
        notes.append(f"partition {partition} is not in {topic}")
    if saved is not None:
        unknown = sorted(p for p, r in results.items() if p not in saved.partitions and r.records)
        if unknown:
            notes.append(f"partition(s) {', '.join(map(str, unknown))} are not in the digest file: not verified")
    elif not published_roots:
        notes.append(f"no published digest of {topic}: nothing to compare the log with")


def _verify_one_subject(verification: Verification, subject: str, chains: SubjectChains,
                        saved_chains: Mapping[str, tuple[int, str]] | None) -> None:
    """Sets `subject`'s recomputed chain, the partitions holding it and the discrepancies that concern it."""
    verification.chain = chains.chains.get(subject, (0, GENESIS_HEAD))
    holding = chains.partitions.get(subject, set())
    verification.subject_partitions = sorted(holding)
    in_partitions = [r.discrepancy for r in verification.partitions if r.discrepancy is not None
                     and (r.partition in holding or not holding)]
    if saved_chains is not None:
        verification.reference += f" (its chain of {subject})"
        verification.discrepancies = _subject_chain_discrepancies(saved_chains, chains, subject, in_partitions,
                                                                  verification.notes)
    else:
        verification.reference += f" (the partitions holding {subject})"
        verification.notes.append("no saved chain to compare with: the subject's chain is verified through the "
                                  "partitions holding its records")
        verification.discrepancies = in_partitions


def _subject_chain_discrepancies(saved_chains: Mapping[str, tuple[int, str]], chains: SubjectChains, subject: str,
                                 in_partitions: list[Discrepancy], notes: list[str]) -> list[Discrepancy]:
    """`subject`'s CHAIN_DIFFERS, if any, placed at the first offending record of its partitions."""
    differs = compare_chains(saved_chains, chains, only=subject)
    if differs and in_partitions:
        return [_located_chain_difference(differs[0], in_partitions[0], chains, subject)]
    if not differs and in_partitions:
        notes.append(f"partition(s) {', '.join(str(d.partition) for d in in_partitions)} differ elsewhere; "
                     f"{subject}'s chain is intact (run verify without --subject for the whole log)")
    return differs


def _located_chain_difference(chain_difference: Discrepancy, first_offending: Discrepancy, chains: SubjectChains,
                              subject: str) -> Discrepancy:
    """A chain's difference told at its partition's first offending record, and the subject's first event from there."""
    next_applied = next(((o, e) for p, o, e in chains.applied if p == first_offending.partition
                         and first_offending.offset is not None and o >= first_offending.offset), None)
    where = (f"at offset {first_offending.offset} (event {first_offending.event_id})"
             if first_offending.offset is not None
             else f"somewhere in offsets {first_offending.between[0]}..{first_offending.between[1]}")  # a root only
    detail = chain_difference.detail + f"; the first offending record of its partition: {first_offending.kind} {where}"
    if next_applied is not None:
        detail += f"; its first event from there: offset {next_applied[0]} (event {next_applied[1]})"
    return Discrepancy(CHAIN_DIFFERS, first_offending.partition, first_offending.offset, first_offending.event_id,
                       detail, subject_id=subject, found_at=first_offending.found_at)


def write_digest(out: IO[str], partitions: Iterable[tuple[int, PartitionRecords]], *, topic: str,
                 exported_at: str, decode: Decode, policy: Policy | PolicyBook = DEFAULT_POLICY) -> dict:
    """Write the digest file (format 1) of the records given, one record per line; returns a summary
    {records, partitions: {p: {offset, root}}, subjects}. Raises ValueError past RECORDS_PER_FILE_MAX."""
    chains = SubjectChains(policy)
    total = 0
    summary: dict[int, dict] = {}
    out.write('{"format": %d, "topic": %s, "exported_at": %s,\n"partitions": {'
              % (FORMAT, json.dumps(topic, ensure_ascii=False), json.dumps(exported_at)))
    for n, (partition, records) in enumerate(partitions):
        scan = PartitionScan(partition)
        out.write(('' if n == 0 else ',') + '\n"%d": {"records": [' % partition)
        for offset, key, value in records:
            total += 1
            if total > RECORDS_PER_FILE_MAX:
                raise ValueError(f"more than {RECORDS_PER_FILE_MAX:,} records: too many for one digest file")
            decoded = decode(value)
            event_id = event_id_of(decoded)
            fingerprint = scan.add(offset, key, value, event_id)
            chains.add(partition, offset, decoded)
            out.write(('\n' if scan.count == 1 else ',\n') + json.dumps([offset, fingerprint, event_id]))
        out.write('],\n "offset": %d, "root": "%s"}' % (scan.last_offset, scan.root))
        summary[partition] = {"offset": scan.last_offset, "root": scan.root, "records": scan.count}
    subjects = chains.as_dict()
    out.write('},\n"subjects": {')
    out.write(",".join(f"\n{json.dumps(s, ensure_ascii=False)}: {json.dumps(c)}" for s, c in subjects.items()))
    out.write("}}\n")
    return {"records": total, "partitions": summary, "subjects": len(subjects)}
