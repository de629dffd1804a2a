"""Natural persons' personal information, sealed per subject (个人信息保护, crypto-shredding).

The edge pseudonymises a natural person (projections/pseudonym.py) and, when a key store is
configured, seals the name and ID number into `subject.pii`: AES-256-GCM under a 256-bit key
of that subject alone, a random 96-bit nonce per sealing, the subject id as associated data
(so a sealed blob copied onto another subject does not open). The log is immutable, so the
right to erasure is met by erasing the key: every copy of that person's name and number in
every topic, backup and export becomes unreadable at once, while the record skeleton (the
pseudonym, the penalties, the chain) stays and still folds to the same file.

    key_store = settings.key_store()  # the deployment's: streams/key_store.py (MemoryKeyStore in tests)
    sealed = seal(key_store, "np-…", {"name": "张三", "id_number": "410105198503140078"})
    unseal(key_store, "np-…", sealed)  # {"name": "张三", "id_number": "4101…"}
    key_store.erase("np-…", reason="…")  # `credit-ledger erase`, through the worker (streams/routes_audit.py)
    unseal(key_store, "np-…", sealed)  # raises PersonalInfoErased, in every process of the deployment

The fold never reads subject.pii; a reader entitled to it (projections.access: action
"personal_info") gets it through `personal_info(history, key_store, subject_id)`.

The key store is pluggable (`KeyStore`). A deployment's is one for all its processes: the compacted topic
credit.pii-keys, each data key wrapped under the master key (streams/key_store.py); no key is in clear at
rest. An erased key's wrapped bytes leave the brokers' disks once the topic is compacted; until then, and
in any copy of the topic, they are useless without the master key. A KMS or HSM holding the master key
would be the next step.
"""
from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from projections.canonical import canonical_bytes, instant_text
from projections.validate import (KEY_ID_CHARS_MAX, SEALED_CIPHERTEXT_BYTES_MAX, SEALED_NONCE_BYTES,
                                  SEALED_PII_KEYS)

KEY_BYTES = 32  # AES-256
NONCE_BYTES = SEALED_NONCE_BYTES  # 96 bits: GCM's native nonce size; random, so at most 2**32 sealings per key
KEY_ID_BYTES = 16
PII_FIELDS = ("name", "id_number")
PLAINTEXT_BYTES_MAX = SEALED_CIPHERTEXT_BYTES_MAX - 16  # minus the GCM tag

AVAILABLE, ERASED, NONE, UNREADABLE = "AVAILABLE", "ERASED", "NONE", "UNREADABLE"


class PiiError(Exception):
    """Base of this module's errors; `reason` says what happened, never the personal information."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PersonalInfoErased(PiiError):
    """The subject's key was erased (crypto-shredded): its personal information is gone for good."""


class UnsealError(PiiError):
    """The sealed blob is malformed, altered, sealed for another subject, or its key is unknown."""


class KeyStoreError(PiiError):
    """The key store cannot be read or written, or is full."""


class KeyStore(Protocol):
    """Per-subject data keys. Implementations: KafkaKeyStore (streams/key_store.py: every process of a
    deployment shares it), MemoryKeyStore (tests)."""

    def sealing_key(self, subject_id: str) -> tuple[str, bytes]:
        """(key_id, key) to seal with, created on first use; PersonalInfoErased after erase."""

    def unsealing_key(self, subject_id: str, key_id: str) -> bytes:
        """The key `key_id` of the subject; PersonalInfoErased after erase, UnsealError if unknown."""

    def erase(self, subject_id: str, reason: str = "erased") -> bool:
        """Destroy the subject's keys for good; True if there was one. `reason`: why (bounded text)."""


def _now_text() -> str:
    return instant_text(datetime.now(timezone.utc))


class MemoryKeyStore:
    """Keys in a dict: for tests, and as the smallest example of the protocol."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, bytes]] = {}
        self._erased: dict[str, str] = {}

    def sealing_key(self, subject_id: str) -> tuple[str, bytes]:
        if subject_id in self._erased:
            raise erased_error(subject_id, self._erased[subject_id])
        if subject_id not in self._keys:
            self._keys[subject_id] = (secrets.token_hex(KEY_ID_BYTES), secrets.token_bytes(KEY_BYTES))
        return self._keys[subject_id]

    def unsealing_key(self, subject_id: str, key_id: str) -> bytes:
        if subject_id in self._erased:
            raise erased_error(subject_id, self._erased[subject_id])
        known = self._keys.get(subject_id)
        if known is None or known[0] != key_id:
            raise UnsealError(f"no key {key_id[:KEY_ID_CHARS_MAX]} for subject {subject_id}")
        return known[1]

    def erase(self, subject_id: str, reason: str = "erased") -> bool:
        existed = self._keys.pop(subject_id, None) is not None
        self._erased.setdefault(subject_id, _now_text())
        return existed


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def erased_error(subject_id: str, erased_at: str | None) -> PersonalInfoErased:
    return PersonalInfoErased(f"the personal information of {subject_id} was erased (its key destroyed"
                              + (f" at {erased_at}" if erased_at else "") + "): it can no longer be read")


# --- sealing ----------------------------------------------------------------------------------
def seal(key_store: KeyStore, subject_id: str, personal_info: dict) -> dict:
    """{name?, id_number?} sealed for `subject_id`, in the event's JSON form:
    {key_id, nonce (base64), ciphertext (base64)}."""
    if not personal_info or not set(personal_info) <= set(PII_FIELDS) or not all(
            isinstance(v, str) for v in personal_info.values()):
        raise ValueError(f"personal information is a dict of {' and/or '.join(PII_FIELDS)} as text")
    plaintext = canonical_bytes(personal_info)
    if len(plaintext) > PLAINTEXT_BYTES_MAX:
        raise ValueError(f"personal information of {len(plaintext)} bytes; the limit is {PLAINTEXT_BYTES_MAX}")
    key_id, key = key_store.sealing_key(subject_id)
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, subject_id.encode("utf-8"))
    return {"key_id": key_id, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}


def unseal(key_store: KeyStore, subject_id: str, sealed: dict) -> dict:
    """The {name?, id_number?} that `seal` sealed for `subject_id`. Raises PersonalInfoErased
    after the key was erased, UnsealError when the blob is malformed, altered or not this subject's."""
    if not isinstance(sealed, dict) or set(sealed) != SEALED_PII_KEYS:
        raise UnsealError(f"sealed personal information has exactly {', '.join(sorted(SEALED_PII_KEYS))}")
    key_id = sealed["key_id"]
    if not isinstance(key_id, str) or not 0 < len(key_id) <= KEY_ID_CHARS_MAX:
        raise UnsealError("key_id must be short text")
    try:
        nonce = base64.b64decode(sealed["nonce"], validate=True)
        ciphertext = base64.b64decode(sealed["ciphertext"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise UnsealError("nonce and ciphertext must be base64") from None
    if len(nonce) != NONCE_BYTES or len(ciphertext) > SEALED_CIPHERTEXT_BYTES_MAX:
        raise UnsealError(f"a {NONCE_BYTES}-byte nonce and at most {SEALED_CIPHERTEXT_BYTES_MAX} bytes of ciphertext")
    key = key_store.unsealing_key(subject_id, key_id)
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, subject_id.encode("utf-8"))
    except InvalidTag:
        raise UnsealError(f"sealed personal information does not authenticate for {subject_id}: "
                          "altered, or sealed for another subject") from None
    return json.loads(plaintext)


# --- the edge -----------------------------------------------------------------------------------
def seal_personal_info(raw, event: dict, key_store: KeyStore | None) -> dict:
    """The validated `event` with the natural person's name and ID number from `raw` (the
    publisher's JSON form) sealed into subject.pii. Unchanged without a key store (they are
    dropped, as validation already did), for organisations, for a subject given by pseudonym,
    and for a subject whose key was erased: its personal information is not collected again."""
    subject = raw.get("subject") if isinstance(raw, dict) else None
    if key_store is None or event["subject"]["kind"] != "NATURAL_PERSON" or not isinstance(subject, dict):
        return event
    personal = {k: subject[k] for k in PII_FIELDS if isinstance(subject.get(k), str)}
    if "id_number" not in personal:
        return event
    try:
        sealed = seal(key_store, event["subject"]["id"], personal)
    except PersonalInfoErased:
        return event
    return {**event, "subject": {**event["subject"], "pii": sealed}}


# --- readers ------------------------------------------------------------------------------------
def personal_info(history: Iterable[dict], key_store: KeyStore, subject_id: str) -> dict:
    """A natural person's personal information from the newest event of `history` (the
    /subjects/{id}/history entries {offset, chain_hash, event}, or bare events) that carries it:
    {"status": AVAILABLE, "name"?, "id_number", "event_id"}; {"status": ERASED, "reason"} once
    the key is erased; {"status": NONE} when no event carries any; {"status": UNREADABLE, "reason"}."""
    newest = None
    for entry in history:
        event = entry.get("event", entry) if isinstance(entry, dict) else None
        subject = event.get("subject") if isinstance(event, dict) else None
        if isinstance(subject, dict) and subject.get("id") == subject_id and subject.get("pii") is not None:
            newest = event
    if newest is None:
        return {"status": NONE}
    try:
        found = unseal(key_store, subject_id, newest["subject"]["pii"])
    except PersonalInfoErased as error:
        return {"status": ERASED, "reason": error.reason}
    except (UnsealError, KeyStoreError) as error:
        return {"status": UNREADABLE, "reason": error.reason}
    return {"status": AVAILABLE, **found, "event_id": newest.get("event_id")}


def with_personal_info(file: dict, history: Iterable[dict], key_store: KeyStore) -> dict:
    """The credit file (a view_file view) with subject.personal_info (see `personal_info`), for a
    reader entitled to it: projections.access.can(principal, "personal_info") is None, and the
    read is logged (access.endpoint_decision(principal, "personal_info", subject_id))."""
    subject = file["subject"]
    if subject.get("kind") != "NATURAL_PERSON":
        return file
    info = personal_info(history, key_store, subject["id"])
    if info["status"] == NONE:  # nothing was ever collected (or it arrived before sealing): nothing to add
        return file
    return {**file, "subject": {**subject, "personal_info": info}}
