"""Natural persons' data keys, one store for every process of a deployment: the compacted topic credit.pii-keys.

streams/pii.py seals a person's name and ID number under a data key of that person alone; this module keeps
those keys where every worker and command finds them, so that an erasure made by one process holds in all of
them at once. The topic has one partition; its records (Kafka key -> value):

    <subject>/<key id>  ->  the data key wrapped under the master key: canonical JSON {"format": 1,
                            "master": the master key's id, "nonce": base64, "wrapped": base64}; AES-256-GCM with
                            a random 96-bit nonce and "<subject>/<key id>" as associated data, so a wrapped key
                            copied onto another subject or key id does not open
    <subject>/<key id>  ->  null (a tombstone): the key erased; compaction then drops the wrapped key itself
    <subject>/erased    ->  {"format": 1, "erased_at", "reason", "requested_by", "keys_erased"}: the erasure,
                            kept for good

No key is ever in clear at rest: not on the topic, not in RocksDB, not in a file. A process holds the wrapped
keys in memory (KeyTopicView) and unwraps one when it seals or unseals; the master key comes from its
configuration (ops/config.py: master_key, master_key_file), the same for every process of the deployment.

Consistency: before it answers an unseal, a process reads the topic up to its high watermark, so an erase
acknowledged anywhere is seen. An erasure wins for good over any key of its subject, whatever their order
(one partition orders them): the eraser writes its marker, reads up to after it and writes a tombstone for
every key written before it; a key another process made at that very moment, after the marker, opens
nothing anywhere (the marker wins), and its wrapped bytes get their tombstone from the next process that
runs `tombstone_strays` (the worker does every STRAYS_EVERY_S, streams/worker_loops.py).

Sealing (at the edge, for each natural person's event) reads the topic at most every SEAL_FRESH_S: an erasure
made elsewhere in that moment leaves at most a few events sealed under the erased key, unreadable by anyone.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from projections.canonical import canonical_bytes, instant_text
from streams import topics
from streams.pii import KEY_BYTES, KEY_ID_BYTES, KeyStoreError, UnsealError, erased_error

log = logging.getLogger(__name__)

FORMAT = 1
MASTER_KEY_BYTES = 32  # AES-256
WRAP_NONCE_BYTES = 12
MASTER_ID_BYTES = 8  # names the master key a key was wrapped under (HMAC of it: says nothing of the key)
ERASED = "erased"  # the key id part of an erasure marker's record key
SUBJECTS_MAX = 1_000_000  # subjects with keys or an erasure, held by every process (~300 bytes each)
KEYS_PER_SUBJECT_MAX = 16  # concurrent first sealings in several workers each make one; more is a bug
RECORD_KEY_BYTES_MAX = 200  # "<subject>/<key id>": a pseudonym is 35 characters, a key id 32
RECORD_VALUE_BYTES_MAX = 2048  # a wrapped key is ~150 bytes, a marker with the longest reason ~1,700
REASON_CHARS_MAX = 500  # the reason goes into PersonalInfoErased too (streams/erasure.py)
REQUESTED_BY_CHARS_MAX = 100  # a principal's name (projections.access.PRINCIPAL_NAME_CHARS_MAX)
STRAYS_MAX = 10_000  # keys seen for already erased subjects, waiting for their tombstones
_KEY_ID_RE = re.compile(r"[0-9a-f]{32}", re.ASCII)
_SUBJECT_RE = re.compile(r"[A-Za-z0-9-]{1,64}", re.ASCII)
SEAL_FRESH_S = 1.0
STRAYS_EVERY_S = 60.0
CATCH_UP_TIMEOUT_S = 10.0
DELIVERY_TIMEOUT_S = 30.0
POLL_BATCH = 500


def master_key_id(master_key: bytes) -> str:
    """A short public name of the master key (HMAC-SHA256 of a constant under it): which key wrapped a record."""
    return hmac.new(master_key, b"credit-ledger master key id", hashlib.sha256).digest()[:MASTER_ID_BYTES].hex()


def record_key(subject_id: str, key_id: str) -> bytes:
    assert _SUBJECT_RE.fullmatch(subject_id), subject_id
    assert key_id == ERASED or _KEY_ID_RE.fullmatch(key_id), key_id
    return f"{subject_id}/{key_id}".encode("ascii")


def wrap(master_key: bytes, subject_id: str, key_id: str, data_key: bytes) -> bytes:
    """The record value of `data_key` wrapped under `master_key` for `subject_id`'s key `key_id`."""
    assert len(master_key) == MASTER_KEY_BYTES and len(data_key) == KEY_BYTES
    nonce = secrets.token_bytes(WRAP_NONCE_BYTES)
    wrapped = AESGCM(master_key).encrypt(nonce, data_key, record_key(subject_id, key_id))
    value = canonical_bytes({"format": FORMAT, "master": master_key_id(master_key),
                             "nonce": base64.b64encode(nonce).decode(), "wrapped": base64.b64encode(wrapped).decode()})
    assert len(value) <= RECORD_VALUE_BYTES_MAX
    return value


def unwrap(master_key: bytes, subject_id: str, key_id: str, value: bytes) -> bytes:
    """The data key a `wrap` record value holds; KeyStoreError when it is malformed, wrapped under another
    master key, altered, or wrapped for another subject or key id."""
    try:
        record = json.loads(value)
        assert isinstance(record, dict) and record.get("format") == FORMAT
        nonce = base64.b64decode(record["nonce"], validate=True)
        wrapped = base64.b64decode(record["wrapped"], validate=True)
        assert len(nonce) == WRAP_NONCE_BYTES and len(wrapped) == KEY_BYTES + 16
    except (AssertionError, KeyError, TypeError, ValueError, binascii.Error):
        raise KeyStoreError(f"the key record {subject_id}/{key_id} on {topics.PII_KEYS} is malformed") from None
    if record.get("master") != master_key_id(master_key):
        raise KeyStoreError(f"the key {subject_id}/{key_id} is wrapped under master key {record.get('master')!s:.16}, "
                            f"not the configured one ({master_key_id(master_key)}): configure the deployment's "
                            "master key")
    try:
        return AESGCM(master_key).decrypt(nonce, wrapped, record_key(subject_id, key_id))
    except InvalidTag:
        raise KeyStoreError(f"the key record {subject_id}/{key_id} does not authenticate: altered, or copied "
                            "from another subject") from None


def erasure_value(erased_at: str, reason: str, keys_erased: int, requested_by: str = "operator") -> bytes:
    assert 0 < len(reason) <= REASON_CHARS_MAX and 0 <= keys_erased <= KEYS_PER_SUBJECT_MAX
    assert 0 < len(requested_by) <= REQUESTED_BY_CHARS_MAX
    value = canonical_bytes({"format": FORMAT, "erased_at": erased_at, "reason": reason, "keys_erased": keys_erased,
                             "requested_by": requested_by})
    assert len(value) <= RECORD_VALUE_BYTES_MAX
    return value


class KeyTopicView:
    """The topic read into memory: each subject's wrapped keys (newest last) and erasures. Pure: records go in
    through `apply` in the topic's order; nothing is unwrapped here."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, bytes]] = {}  # subject -> key id -> wrapped record value
        self.erased: dict[str, dict] = {}  # subject -> its erasure marker
        self.strays: dict[tuple[str, str], None] = {}  # keys of erased subjects not yet tombstoned
        self.ignored = 0  # records that are not the store's (a malformed key or value)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        parsed = _parse_key(key)
        if parsed is None or (value is not None and len(value) > RECORD_VALUE_BYTES_MAX):
            self.ignored += 1
            log.warning("%s: a record that is not a key store's was ignored", topics.PII_KEYS)
            return
        subject_id, key_id = parsed
        if key_id == ERASED:
            self._apply_erasure(subject_id, value)
        elif value is None:
            self.strays.pop((subject_id, key_id), None)
            found = self.keys.get(subject_id)
            if found is not None:
                found.pop(key_id, None)
                if not found:
                    del self.keys[subject_id]
        elif subject_id in self.erased:  # made concurrently with the erasure: erased too, its tombstone due
            if len(self.strays) >= STRAYS_MAX:
                raise KeyStoreError(f"{STRAYS_MAX} keys of erased subjects await their tombstones")
            self.strays[(subject_id, key_id)] = None
        else:
            found = self.keys.get(subject_id)
            if found is None:
                self._room_for_a_subject()
                found = self.keys[subject_id] = {}
            if key_id not in found and len(found) >= KEYS_PER_SUBJECT_MAX:
                raise KeyStoreError(f"{subject_id} has {KEYS_PER_SUBJECT_MAX} keys on {topics.PII_KEYS}, the limit")
            found[key_id] = value

    def _apply_erasure(self, subject_id: str, value: bytes | None) -> None:
        try:
            marker = json.loads(value) if value is not None else None
        except ValueError:
            marker = None
        if not (isinstance(marker, dict) and isinstance(marker.get("erased_at"), str)):
            self.ignored += 1  # an erasure is never undone: a tombstone or garbage on a marker changes nothing
            return
        if subject_id not in self.erased and subject_id not in self.keys:
            self._room_for_a_subject()
        self.erased.setdefault(subject_id, marker)
        for key_id in self.keys.pop(subject_id, {}):
            if len(self.strays) >= STRAYS_MAX:
                raise KeyStoreError(f"{STRAYS_MAX} keys of erased subjects await their tombstones")
            self.strays[(subject_id, key_id)] = None

    def _room_for_a_subject(self) -> None:
        if len(self.keys) + len(self.erased) >= SUBJECTS_MAX:
            raise KeyStoreError(f"{topics.PII_KEYS} holds the keys of {SUBJECTS_MAX:,} subjects, the limit of a "
                                "process's view")

    def current(self, subject_id: str) -> tuple[str, bytes] | None:
        """The subject's newest key (key id, wrapped value), None when it has none; raises when erased."""
        self.check_not_erased(subject_id)
        found = self.keys.get(subject_id)
        if not found:
            return None
        key_id = next(reversed(found))
        return key_id, found[key_id]

    def wrapped(self, subject_id: str, key_id: str) -> bytes | None:
        self.check_not_erased(subject_id)
        return self.keys.get(subject_id, {}).get(key_id)

    def check_not_erased(self, subject_id: str) -> None:
        marker = self.erased.get(subject_id)
        if marker is not None:
            raise erased_error(subject_id, marker["erased_at"])

    def known(self, subject_id: str) -> bool:
        return subject_id in self.keys or subject_id in self.erased


def _parse_key(key: bytes | None) -> tuple[str, str] | None:
    if key is None or len(key) > RECORD_KEY_BYTES_MAX:
        return None
    try:
        subject_id, key_id = key.decode("ascii").split("/")
    except (UnicodeDecodeError, ValueError):
        return None
    if not _SUBJECT_RE.fullmatch(subject_id) or not (key_id == ERASED or _KEY_ID_RE.fullmatch(key_id)):
        return None
    return subject_id, key_id


def _now_text() -> str:
    return instant_text(datetime.now(timezone.utc))


class KafkaKeyStore:
    """The KeyStore (streams/pii.py) of a deployment: credit.pii-keys, read and written as `kafka`'s principal
    (the worker's; the auditor's may not read it, ops/kafka_acls.py). Thread-safe; connects on first use."""

    def __init__(self, kafka, master_key: bytes, topic: str = topics.PII_KEYS, now: Callable[[], str] = _now_text,
                 timeout_s: float = CATCH_UP_TIMEOUT_S) -> None:
        if len(master_key) != MASTER_KEY_BYTES:
            raise ValueError(f"the master key is {MASTER_KEY_BYTES} bytes")
        self.kafka, self.topic, self._now, self.timeout_s = kafka, topic, now, timeout_s
        self._master = master_key
        self._lock = threading.RLock()
        self.view = KeyTopicView()
        self._consumer = self._producer = None
        self._caught_up_s = float("-inf")  # monotonic second of the last catch-up

    # -- the protocol ----------------------------------------------------------------------------
    def sealing_key(self, subject_id: str) -> tuple[str, bytes]:
        with self._lock:
            if time.monotonic() - self._caught_up_s > SEAL_FRESH_S:
                self.catch_up()
            found = self.view.current(subject_id)
            if found is None:
                self.catch_up()  # another process may have made it a moment ago
                found = self.view.current(subject_id)
            if found is not None:
                return found[0], unwrap(self._master, subject_id, found[0], found[1])
            return self._new_key(subject_id)

    def unsealing_key(self, subject_id: str, key_id: str) -> bytes:
        with self._lock:
            self.catch_up()
            wrapped = self.view.wrapped(subject_id, key_id) if _KEY_ID_RE.fullmatch(key_id) else None
            if wrapped is None:
                raise UnsealError(f"no key {key_id[:64]} for subject {subject_id} on {self.topic}")
            return unwrap(self._master, subject_id, key_id, wrapped)

    def erase(self, subject_id: str, reason: str = "erased", requested_by: str = "operator") -> bool:
        """Erase the subject's keys for good in every process: the marker first, then (having read up to after
        it) a tombstone for each key the topic holds. True if it had any key. A second erase changes nothing
        (the first marker, its reason and requester stand) but the tombstones of keys made since."""
        if not 0 < len(reason) <= REASON_CHARS_MAX:
            raise ValueError(f"the reason of an erasure is text of 1..{REASON_CHARS_MAX} characters")
        with self._lock:
            self.catch_up()
            existed = bool(self.view.keys.get(subject_id))
            if subject_id not in self.view.erased:
                keys = len(self.view.keys.get(subject_id, {}))
                self._write([(record_key(subject_id, ERASED), erasure_value(self._now(), reason, keys, requested_by))])
                self.catch_up()
            self.tombstone_strays()
            return existed

    # -- beside the protocol ------------------------------------------------------------------------
    def erasure(self, subject_id: str) -> dict | None:
        """The subject's erasure marker {erased_at, reason, requested_by, keys_erased}, None when not erased."""
        with self._lock:
            self.catch_up()
            return self.view.erased.get(subject_id)

    def known(self, subject_id: str) -> bool:
        """Whether the store ever held a key of the subject (or erased it)."""
        with self._lock:
            self.catch_up()
            return self.view.known(subject_id)

    def tombstone_strays(self) -> int:
        """Write the tombstone of every key of an erased subject the view still holds; returns how many."""
        with self._lock:
            strays = list(self.view.strays)
            if strays:
                self._write([(record_key(subject_id, key_id), None) for subject_id, key_id in strays])
                self.catch_up()
            return len(strays)

    def catch_up(self) -> None:
        """Read the topic up to its high watermark now."""
        from confluent_kafka import KafkaError, KafkaException, TopicPartition

        with self._lock:
            consumer = self._connected()[0]
            partition = TopicPartition(self.topic, 0)
            deadline = time.monotonic() + self.timeout_s
            try:
                high = self._high_watermark(consumer, partition, deadline)
                while self._position(consumer, partition) < high:
                    if time.monotonic() > deadline:
                        raise KeyStoreError(f"{self.topic} was not read up to offset {high} within {self.timeout_s} s")
                    for message in consumer.consume(POLL_BATCH, timeout=0.2):
                        if message.error() is None:
                            self.view.apply(message.key(), message.value())
                        elif message.error().code() != KafkaError._PARTITION_EOF:
                            raise KeyStoreError(f"cannot read {self.topic}: {message.error().str()}")
            except KafkaException as error:
                raise KeyStoreError(f"cannot read {self.topic} at {self.kafka}: {error.args[0].str()}") from None
            self._caught_up_s = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
            if self._producer is not None:
                self._producer.flush(DELIVERY_TIMEOUT_S)
            self._consumer = self._producer = None

    # -- inside --------------------------------------------------------------------------------------
    def _new_key(self, subject_id: str) -> tuple[str, bytes]:
        """A new key of the subject, on the broker before it is used. Taken into the view at once (as it
        will be again when read back: a key record applies the same in any order with an erasure)."""
        key_id, data_key = secrets.token_hex(KEY_ID_BYTES), secrets.token_bytes(KEY_BYTES)
        key, value = record_key(subject_id, key_id), wrap(self._master, subject_id, key_id, data_key)
        self._write([(key, value)])
        self.view.apply(key, value)
        return key_id, data_key

    def _write(self, records: list[tuple[bytes, bytes | None]]) -> None:
        """Produce the records and wait until the broker has every one (all in-sync replicas)."""
        producer = self._connected()[1]
        failures: list[str] = []
        for key, value in records:
            producer.produce(self.topic, value, key, partition=0,
                             on_delivery=lambda error, _: error is not None and failures.append(error.str()))
        if producer.flush(DELIVERY_TIMEOUT_S) > 0 or failures:
            raise KeyStoreError(f"{self.topic} at {self.kafka} did not take the key records: "
                                f"{failures[0] if failures else f'not acknowledged within {DELIVERY_TIMEOUT_S} s'}")

    @staticmethod
    def _high_watermark(consumer, partition, deadline: float) -> int:
        """The partition's end, asked of its leader; asked again while the broker says it is moving (a new
        client's first metadata, a leader election), until `deadline`."""
        from confluent_kafka import KafkaError, KafkaException

        transient = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                     KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._TRANSPORT, KafkaError._TIMED_OUT}
        while True:
            try:
                return consumer.get_watermark_offsets(partition, timeout=max(0.5, deadline - time.monotonic()),
                                                      cached=False)[1]
            except KafkaException as error:
                if error.args[0].code() not in transient or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    @staticmethod
    def _position(consumer, partition) -> int:
        offset = consumer.position([partition])[0].offset
        return offset if offset >= 0 else 0  # OFFSET_INVALID before the first fetch

    def _connected(self):
        if self._consumer is None:
            from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

            from streams.kafka_access import client_config

            config = client_config(self.kafka, logger=log)
            # a group id of the worker's prefix (its ACLs), never joined or committed: the partition is assigned
            self._consumer = Consumer({**config, "group.id": f"credit-ledger-pii-keys-{os.getpid()}",
                                       "enable.auto.commit": False, "enable.partition.eof": True,
                                       "fetch.max.bytes": 8 * 1024 * 1024})
            self._consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
            self._producer = Producer({**config, "acks": "all", "enable.idempotence": True, "linger.ms": 0})
        return self._consumer, self._producer
