"""The deployment's one key store, credit.pii-keys, on the session's broker: what one process makes every other
opens, what one erases no other opens any more, and no key is ever in clear on the topic."""
from __future__ import annotations

import base64
import secrets

import pytest

from streams import ledger_reader, topics
from streams import key_store as ks
from streams.pii import KeyStoreError, PersonalInfoErased, seal, unseal
from tests.helpers import test_key_store


def new_subject() -> str:
    return "np-" + secrets.token_hex(16)


def topic_records(kafka) -> list[tuple[bytes, bytes | None]]:
    return [(key, value) for *_, key, value, _ in ledger_reader.read_topic(kafka.access("worker"), topics.PII_KEYS)]


def test_two_processes_share_keys_and_an_erasure_in_one_holds_in_the_other(kafka):
    edge, reader = test_key_store(kafka.bootstrap), test_key_store(kafka.bootstrap)  # two processes' stores
    try:
        person, other = new_subject(), new_subject()
        sealed = seal(edge, person, {"name": "欧阳娜娜", "id_number": "110105199001011234"})
        assert unseal(reader, person, sealed) == {"name": "欧阳娜娜", "id_number": "110105199001011234"}
        key_id, data_key = edge.sealing_key(person)
        assert key_id == sealed["key_id"] and reader.unsealing_key(person, key_id) == data_key
        seal(reader, other, {"id_number": "110105199001011234"})
        raw = b"".join(key + (value or b"") for key, value in topic_records(kafka))
        for form in (data_key, base64.b64encode(data_key), data_key.hex().encode()):
            assert form not in raw  # wrapped under the master key: never in clear on the topic
        assert ks.record_key(person, key_id) in raw

        assert reader.erase(person, reason="本人申请删除（个人信息保护法第四十七条）") is True
        for store in (edge, test_key_store(kafka.bootstrap)):  # the other process, and one started afterwards
            with pytest.raises(PersonalInfoErased, match="erased"):
                unseal(store, person, sealed)
            with pytest.raises(PersonalInfoErased):
                store.sealing_key(person)  # nothing is collected again
            assert store.erasure(person)["reason"] == "本人申请删除（个人信息保护法第四十七条）"
        assert unseal(edge, other, seal(edge, other, {"id_number": "110105199001011234"}))  # the others stay
        assert reader.erase(person) is False  # already erased: nothing more to do
        records = [(k, v) for k, v in topic_records(kafka) if k.startswith(person.encode())]
        assert records[-2:] == [(ks.record_key(person, ks.ERASED), records[-2][1]), (ks.record_key(person, key_id), None)]
    finally:
        edge.close()
        reader.close()


def test_a_key_made_as_its_subject_is_erased_opens_nothing_and_gets_its_tombstone(kafka):
    """The race one partition settles: a process that had not yet seen the erasure makes a key after the marker."""
    eraser, late = test_key_store(kafka.bootstrap), test_key_store(kafka.bootstrap)
    try:
        person = new_subject()
        seal(eraser, person, {"id_number": "110105199001011234"})
        late.catch_up()
        eraser.erase(person, reason="本人申请删除")
        stray_id, _ = late._new_key(person)  # as sealing_key would, with a view from before the marker
        fresh = test_key_store(kafka.bootstrap)
        with pytest.raises(PersonalInfoErased):
            fresh.unsealing_key(person, stray_id)
        assert fresh.tombstone_strays() == 1
        assert (ks.record_key(person, stray_id), None) in topic_records(kafka)
        assert test_key_store(kafka.bootstrap).tombstone_strays() == 0
        fresh.close()
    finally:
        eraser.close()
        late.close()


def test_another_master_key_opens_no_key(kafka):
    store = test_key_store(kafka.bootstrap)
    stranger = ks.KafkaKeyStore(kafka.access("worker"), secrets.token_bytes(32))
    try:
        person = new_subject()
        key_id, _ = store.sealing_key(person)
        with pytest.raises(KeyStoreError, match="configure the deployment's master key"):
            stranger.unsealing_key(person, key_id)
    finally:
        store.close()
        stranger.close()
