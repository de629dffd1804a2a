"""The shared key store's pure parts (streams/key_store.py): a data key wrapped under the master key, and the
topic read into memory, record by record in the topic's order. With a broker: tests/integration/test_key_store.py."""
from __future__ import annotations

import base64
import json
import secrets

import pytest

from streams import key_store as ks
from streams.pii import KeyStoreError, PersonalInfoErased

MASTER = secrets.token_bytes(32)
SUBJECT = "np-0123456789abcdef0123456789abcdef"
OTHER = "np-fedcba9876543210fedcba9876543210"
KEY_ID = "a" * 32


def key_forms(data_key: bytes) -> list[bytes]:
    return [data_key, base64.b64encode(data_key), base64.urlsafe_b64encode(data_key), data_key.hex().encode()]


def test_a_wrapped_key_opens_only_under_its_master_key_for_its_subject_and_key_id():
    data_key = secrets.token_bytes(32)
    value = ks.wrap(MASTER, SUBJECT, KEY_ID, data_key)
    assert all(form not in value for form in key_forms(data_key))  # never in clear on the topic
    assert len(value) <= ks.RECORD_VALUE_BYTES_MAX and set(json.loads(value)) == {"format", "master", "nonce", "wrapped"}
    assert ks.unwrap(MASTER, SUBJECT, KEY_ID, value) == data_key
    assert ks.wrap(MASTER, SUBJECT, KEY_ID, data_key) != value  # a fresh nonce each time
    with pytest.raises(KeyStoreError, match="not the configured one"):
        ks.unwrap(secrets.token_bytes(32), SUBJECT, KEY_ID, value)
    for subject_id, key_id in ((OTHER, KEY_ID), (SUBJECT, "b" * 32)):  # copied onto another record
        with pytest.raises(KeyStoreError, match="does not authenticate"):
            ks.unwrap(MASTER, subject_id, key_id, value)
    record = json.loads(value)
    flipped = bytearray(base64.b64decode(record["wrapped"]))
    flipped[3] ^= 1
    with pytest.raises(KeyStoreError, match="does not authenticate"):
        ks.unwrap(MASTER, SUBJECT, KEY_ID, json.dumps({**record, "wrapped": base64.b64encode(flipped).decode()}).encode())
    for broken in (b"", b"[]", b"{}", json.dumps({**record, "nonce": "!!"}).encode(),
                   json.dumps({**record, "format": 2}).encode()):
        with pytest.raises(KeyStoreError, match="malformed"):
            ks.unwrap(MASTER, SUBJECT, KEY_ID, broken)


def test_the_master_key_id_names_the_key_without_telling_it():
    assert ks.master_key_id(MASTER) == ks.master_key_id(bytes(MASTER)) != ks.master_key_id(secrets.token_bytes(32))
    assert len(ks.master_key_id(MASTER)) == 2 * ks.MASTER_ID_BYTES and MASTER.hex()[:16] != ks.master_key_id(MASTER)


def key_record(subject_id: str, key_id: str) -> tuple[bytes, bytes]:
    return ks.record_key(subject_id, key_id), ks.wrap(MASTER, subject_id, key_id, secrets.token_bytes(32))


def marker(at: str = "2026-01-05T10:00:00+08:00") -> tuple[bytes, bytes]:
    return ks.record_key(SUBJECT, ks.ERASED), ks.erasure_value(at, "本人申请删除", 1)


def test_the_view_keeps_each_subjects_keys_newest_last_and_drops_a_tombstoned_one():
    view = ks.KeyTopicView()
    assert view.current(SUBJECT) is None and not view.known(SUBJECT)
    first, second = key_record(SUBJECT, "1" * 32), key_record(SUBJECT, "2" * 32)  # two workers' first sealings
    view.apply(*first)
    view.apply(*second)
    view.apply(*key_record(OTHER, "3" * 32))
    assert view.current(SUBJECT) == ("2" * 32, second[1]) and view.wrapped(SUBJECT, "1" * 32) == first[1]
    view.apply(second[0], None)
    assert view.current(SUBJECT) == ("1" * 32, first[1]) and view.wrapped(SUBJECT, "2" * 32) is None
    view.apply(first[0], None)
    assert view.current(SUBJECT) is None and SUBJECT not in view.keys and view.current(OTHER)[0] == "3" * 32


@pytest.mark.parametrize("key_after_marker", [False, True])
def test_an_erasure_wins_over_every_key_of_its_subject_whatever_their_order(key_after_marker):
    """A key written at the moment of an erasure, before or after its marker, opens nothing; it waits for its
    tombstone among the strays. The marker stays whatever comes after it."""
    view = ks.KeyTopicView()
    before, after = key_record(SUBJECT, "1" * 32), key_record(SUBJECT, "2" * 32)
    view.apply(*before)
    view.apply(*marker())
    if key_after_marker:
        view.apply(*after)
    with pytest.raises(PersonalInfoErased, match="2026-01-05T10:00:00"):
        view.current(SUBJECT)
    with pytest.raises(PersonalInfoErased):
        view.wrapped(SUBJECT, "1" * 32)
    assert set(view.strays) == {(SUBJECT, "1" * 32)} | ({(SUBJECT, "2" * 32)} if key_after_marker else set())
    for key, _ in (before, after):
        view.apply(key, None)  # the tombstones
    assert view.strays == {} and SUBJECT not in view.keys
    view.apply(ks.record_key(SUBJECT, ks.ERASED), None)  # an erasure is never undone
    view.apply(*marker("2027-01-01T00:00:00+08:00"))  # nor moved: the first one stands
    assert view.erased[SUBJECT]["erased_at"] == "2026-01-05T10:00:00+08:00" and view.known(SUBJECT)


def test_records_that_are_not_the_stores_are_ignored():
    view = ks.KeyTopicView()
    for key, value in ((None, b"x"), (b"no-slash", b"x"), (b"np-a/not-a-key-id", b"x"), (b"\xff/" + b"a" * 32, b"x"),
                       (b"np-a/b/" + b"a" * 32, b"x"), (ks.record_key(SUBJECT, KEY_ID), b"x" * 5000),
                       (ks.record_key(SUBJECT, ks.ERASED), b"not json"), (b"np-" + b"a" * 300, b"x")):
        view.apply(key, value)
    assert view.ignored == 8 and view.keys == {} and view.erased == {}


def test_the_view_is_bounded(monkeypatch):
    view = ks.KeyTopicView()
    for n in range(ks.KEYS_PER_SUBJECT_MAX):
        view.apply(*key_record(SUBJECT, f"{n:032x}"))
    with pytest.raises(KeyStoreError, match="the limit"):
        view.apply(*key_record(SUBJECT, "f" * 32))
    monkeypatch.setattr(ks, "SUBJECTS_MAX", 2)
    view.apply(*key_record(OTHER, KEY_ID))
    with pytest.raises(KeyStoreError, match="2 subjects"):
        view.apply(*key_record("np-" + "c" * 32, KEY_ID))
    with pytest.raises(AssertionError):
        ks.erasure_value("2026-01-05T10:00:00+08:00", "x" * (ks.REASON_CHARS_MAX + 1), 1)
    with pytest.raises(ValueError, match="32 bytes"):
        ks.KafkaKeyStore("127.0.0.1:1", b"short")
