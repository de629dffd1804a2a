"""Natural persons' personal information, sealed per subject (个人信息保护, crypto-shredding).

The edge pseudonymises a natural person (projections/pseudonym.py) and, when a key store is
configured, seals the name and ID number into `subject.pii`: AES-256-GCM under a 256-bit key
of that subject alone, a random 96-bit nonce per sealing, the subject id as associated data
(so a sealed blob copied onto another subject does not open). The log is immutable, so the
right to erasure is met by erasing the key: every copy of that person's name and number in
every topic, backup and export becomes unreadable at once, while the record skeleton (the
pseudonym, the penalties, the chain) stays and still folds to the same file.

    key_store = FileKeyStore(Path("data/pii-keys.json"))
    sealed = seal(key_store, "np-…", {"name": "张三", "id_number": "410105198503140078"})
    unseal(key_store, "np-…", sealed)  # {"name": "张三", "id_number": "4101…"}
    key_store.erase("np-…")
    unseal(key_store, "np-…", sealed)  # raises PersonalInfoErased

The fold never reads subject.pii; a reader entitled to it (projections.access: action
"personal_info") gets it through `personal_info(history, key_store, subject_id)`.

The key store is pluggable (`KeyStore`); the embedded default is one JSON file in the data
dir. In production, put the keys in a KMS or HSM: a file on an SSD may keep old blocks after
the key is erased from it, and a backup of the file keeps the keys it held.
"""
from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from projections.canonical import canonical_bytes, instant_text
from projections.validate import (MAX_KEY_ID_CHARS, MAX_SEALED_CIPHERTEXT_BYTES, SEALED_NONCE_BYTES,
                                  SEALED_PII_KEYS)
from streams.private_files import PrivateFileError, read_private_file, write_private_file

KEY_BYTES = 32  # AES-256
NONCE_BYTES = SEALED_NONCE_BYTES  # 96 bits: GCM's native nonce size; random, so at most 2**32 sealings per key
KEY_ID_BYTES = 16
PII_FIELDS = ("name", "id_number")
MAX_PLAINTEXT_BYTES = MAX_SEALED_CIPHERTEXT_BYTES - 16  # minus the GCM tag
MAX_KEYS_PER_FILE = 100_000  # the file is rewritten whole when a key is added: beyond this, use a KMS
STORE_FORMAT = 1

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
    """Per-subject data keys. Implementations: FileKeyStore (embedded), MemoryKeyStore (tests);
    a production one would wrap a KMS."""

    def sealing_key(self, subject_id: str) -> tuple[str, bytes]:
        """(key_id, key) to seal with, created on first use; PersonalInfoErased after erase."""

    def unsealing_key(self, subject_id: str, key_id: str) -> bytes:
        """The key `key_id` of the subject; PersonalInfoErased after erase, UnsealError if unknown."""

    def erase(self, subject_id: str) -> bool:
        """Destroy the subject's key for good; True if there was one."""


def _now_text() -> str:
    return instant_text(datetime.now(timezone.utc))


class MemoryKeyStore:
    """Keys in a dict: for tests, and as the smallest example of the protocol."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, bytes]] = {}
        self._erased: dict[str, str] = {}

    def sealing_key(self, subject_id: str) -> tuple[str, bytes]:
        if subject_id in self._erased:
            raise _erased(subject_id, self._erased[subject_id])
        if subject_id not in self._keys:
            self._keys[subject_id] = (secrets.token_hex(KEY_ID_BYTES), secrets.token_bytes(KEY_BYTES))
        return self._keys[subject_id]

    def unsealing_key(self, subject_id: str, key_id: str) -> bytes:
        if subject_id in self._erased:
            raise _erased(subject_id, self._erased[subject_id])
        known = self._keys.get(subject_id)
        if known is None or known[0] != key_id:
            raise UnsealError(f"no key {key_id[:MAX_KEY_ID_CHARS]} for subject {subject_id}")
        return known[1]

    def erase(self, subject_id: str) -> bool:
        existed = self._keys.pop(subject_id, None) is not None
        self._erased.setdefault(subject_id, _now_text())
        return existed


class FileKeyStore:
    """The embedded key store: one JSON file (0600), rewritten atomically under an exclusive lock,
    so the worker's HTTP edge and `credit-ledger publish` can share it. Each read checks whether
    another process replaced the file since (an erase there must take effect here at once)."""

    def __init__(self, path: Path | str, now: Callable[[], str] = _now_text) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._now = now
        self._mutex = threading.Lock()
        self._stamp: tuple | None = None
        self._data: dict = _empty()

    # -- the protocol --
    def sealing_key(self, subject_id: str) -> tuple[str, bytes]:
        with self._mutex:
            self._refresh()
            found = self._current(subject_id)
            if found is not None:
                return found
            with self._exclusive():
                self._refresh()  # another process may have created it meanwhile
                found = self._current(subject_id)
                if found is not None:
                    return found
                if len(self._data["subjects"]) >= MAX_KEYS_PER_FILE:
                    raise KeyStoreError(f"{self.path} holds {MAX_KEYS_PER_FILE} keys, its limit; "
                                        "configure a KMS-backed key store")
                key_id, key = secrets.token_hex(KEY_ID_BYTES), secrets.token_bytes(KEY_BYTES)
                self._data["subjects"][subject_id] = {"key_id": key_id, "key": _b64(key), "created_at": self._now()}
                self._save()
                return key_id, key

    def unsealing_key(self, subject_id: str, key_id: str) -> bytes:
        with self._mutex:
            self._refresh()
            found = self._current(subject_id)
            if found is None or found[0] != key_id:
                raise UnsealError(f"no key {key_id[:MAX_KEY_ID_CHARS]} for subject {subject_id} in {self.path}")
            return found[1]

    def erase(self, subject_id: str) -> bool:
        with self._mutex, self._exclusive():
            self._refresh()
            entry = self._data["subjects"].pop(subject_id, None)
            self._data["erased"].setdefault(subject_id, {"key_id": entry["key_id"] if entry else None,
                                                         "erased_at": self._now()})
            self._save()
            return entry is not None

    def erased_at(self, subject_id: str) -> str | None:
        with self._mutex:
            self._refresh()
            tombstone = self._data["erased"].get(subject_id)
            return tombstone["erased_at"] if tombstone else None

    # -- the file --
    def _current(self, subject_id: str) -> tuple[str, bytes] | None:
        tombstone = self._data["erased"].get(subject_id)
        if tombstone is not None:
            raise _erased(subject_id, tombstone["erased_at"])
        entry = self._data["subjects"].get(subject_id)
        return None if entry is None else (entry["key_id"], base64.b64decode(entry["key"]))

    def _exclusive(self):
        return _FileLock(self._lock_path)

    def _refresh(self) -> None:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._data = None, _empty()
            return
        stamp = (info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size)
        if stamp == self._stamp:
            return
        try:
            data = json.loads(read_private_file(self.path))
        except PrivateFileError as error:
            raise KeyStoreError(str(error)) from None
        except OSError as error:
            raise KeyStoreError(f"cannot read the key store {self.path}: {error.strerror or error}") from None
        except ValueError as error:
            raise KeyStoreError(f"the key store {self.path} is not JSON: {error}") from None
        if not (isinstance(data, dict) and data.get("format") == STORE_FORMAT
                and isinstance(data.get("subjects"), dict) and isinstance(data.get("erased"), dict)):
            raise KeyStoreError(f"the key store {self.path} is not a key store of format {STORE_FORMAT}")
        self._stamp, self._data = stamp, data

    def _save(self) -> None:
        try:
            write_private_file(self.path, json.dumps(self._data, ensure_ascii=False, sort_keys=True).encode())
        except OSError as error:
            self._stamp = None  # what is in memory was not saved: read the file again next time
            raise KeyStoreError(f"cannot write the key store {self.path}: {error.strerror or error}") from None
        info = os.stat(self.path)
        self._stamp = (info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size)


class _FileLock:
    """An exclusive flock on a sibling file, held for one read-modify-write of the store."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise KeyStoreError(f"cannot lock {self.path}: {error.strerror or error}") from None
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _empty() -> dict:
    return {"format": STORE_FORMAT, "subjects": {}, "erased": {}}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _erased(subject_id: str, erased_at: str | None) -> PersonalInfoErased:
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
    if len(plaintext) > MAX_PLAINTEXT_BYTES:
        raise ValueError(f"personal information of {len(plaintext)} bytes; the limit is {MAX_PLAINTEXT_BYTES}")
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
    if not isinstance(key_id, str) or not 0 < len(key_id) <= MAX_KEY_ID_CHARS:
        raise UnsealError("key_id must be short text")
    try:
        nonce = base64.b64decode(sealed["nonce"], validate=True)
        ciphertext = base64.b64decode(sealed["ciphertext"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise UnsealError("nonce and ciphertext must be base64") from None
    if len(nonce) != NONCE_BYTES or len(ciphertext) > MAX_SEALED_CIPHERTEXT_BYTES:
        raise UnsealError(f"a {NONCE_BYTES}-byte nonce and at most {MAX_SEALED_CIPHERTEXT_BYTES} bytes of ciphertext")
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
