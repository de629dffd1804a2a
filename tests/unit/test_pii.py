"""Natural persons' personal information: sealed per subject at the edge, carried in the Avro
envelope, unreadable everywhere once the subject's key is erased (crypto-shredding), while the
credit file still folds to the same bytes."""
from __future__ import annotations

import base64
import copy
import json
from dataclasses import replace

import pytest

from projections.canonical import canonical_bytes
from projections.fold import credit_file
from projections.replay import replay
from projections.validate import validate_event
from streams import codec
from streams.edge import accept_event
from streams.pii import (AVAILABLE, ERASED, NONE, UNREADABLE, MemoryKeyStore, PersonalInfoErased, UnsealError,
                         personal_info, seal, seal_personal_info, unseal, with_personal_info)
from tests.unit import events as ev

NAME = "张三"
ID_NUMBER = ev.person()["id_number"]
SUBJECT = "np-0123456789abcdef0123456789abcdef"


def plaintext_forms(text: str) -> list[bytes]:
    """Every way a name or number could sit in bytes: UTF-8, GB18030, UTF-16 both ways, JSON-escaped."""
    return [text.encode("utf-8"), text.encode("gb18030"), text.encode("utf-16-le"), text.encode("utf-16-be"),
            json.dumps(text).encode("ascii")[1:-1]]


def assert_no_plaintext(data: bytes) -> None:
    for secret in (NAME, ID_NUMBER, ID_NUMBER[:17]):
        for form in plaintext_forms(secret):
            assert form not in data, (secret, form)


@pytest.fixture
def store() -> MemoryKeyStore:
    """The deployment's store is credit.pii-keys (streams/key_store.py: tests/unit/test_key_store.py, and with
    a broker tests/integration/test_key_store.py); sealing is the same over any KeyStore."""
    return MemoryKeyStore()


def person_events() -> list[dict]:
    """A natural person's registration and penalty, as a publisher sends them."""
    return [ev.event("SubjectRegistered", {"region_code": "410105", "registered_on": "2001-01-01"},
                     subject=ev.person(ID_NUMBER), occurred_on="2025-05-06"),
            ev.event(subject=ev.person(ID_NUMBER)),
            ev.event("PenaltyFulfilled", {"record_id": "P-1"}, subject=ev.person(ID_NUMBER), occurred_on="2025-06-01")]


# --- sealing ------------------------------------------------------------------------------------
def test_seal_and_unseal(store):
    key_store = store
    sealed = seal(key_store, SUBJECT, {"name": NAME, "id_number": ID_NUMBER})
    assert set(sealed) == {"key_id", "nonce", "ciphertext"} and len(base64.b64decode(sealed["nonce"])) == 12
    assert_no_plaintext(json.dumps(sealed).encode())
    assert unseal(key_store, SUBJECT, sealed) == {"name": NAME, "id_number": ID_NUMBER}
    again = seal(key_store, SUBJECT, {"name": NAME, "id_number": ID_NUMBER})
    assert again["key_id"] == sealed["key_id"] and again["nonce"] != sealed["nonce"]  # one key, fresh nonces
    assert again["ciphertext"] != sealed["ciphertext"]


def test_a_sealed_blob_opens_only_for_its_subject_and_unaltered(store):
    sealed = seal(store, SUBJECT, {"id_number": ID_NUMBER})
    other = SUBJECT[:-1] + "0"
    seal(store, other, {"id_number": ID_NUMBER})
    with pytest.raises(UnsealError):  # the subject id is the associated data; the key differs too
        unseal(store, other, sealed)
    flipped = bytearray(base64.b64decode(sealed["ciphertext"]))
    flipped[0] ^= 1
    with pytest.raises(UnsealError, match="does not authenticate"):
        unseal(store, SUBJECT, {**sealed, "ciphertext": base64.b64encode(bytes(flipped)).decode()})
    with pytest.raises(UnsealError, match="no key"):
        unseal(store, SUBJECT, {**sealed, "key_id": "0" * 32})
    for broken in ({}, {**sealed, "nonce": "!!"}, {**sealed, "nonce": base64.b64encode(b"short").decode()},
                   {**sealed, "extra": 1}, "sealed"):
        with pytest.raises(UnsealError):
            unseal(store, SUBJECT, broken)


def test_seal_refuses_what_is_not_personal_information(store):
    for bad in ({}, {"address": "x"}, {"name": 5}, {"name": "x" * 5000}):
        with pytest.raises(ValueError):
            seal(store, SUBJECT, bad)


# --- in the event -------------------------------------------------------------------------------
def test_the_edge_seals_a_natural_persons_name_and_number(store):
    raw = ev.event(subject=ev.person(ID_NUMBER))
    event, problems = accept_event(raw, ev.CTX, key_store=store)
    assert problems == []
    subject = event["subject"]
    assert subject["id"].startswith("np-") and set(subject) == {"id", "kind", "pii"}
    assert unseal(store, subject["id"], subject["pii"]) == {"name": NAME, "id_number": ID_NUMBER}
    data = codec.encode_event(event)
    assert_no_plaintext(data)
    assert codec.decode_event(data) == event  # nonce and ciphertext: bytes in Avro, base64 in JSON
    # the event id does not depend on the random nonce: publishing the file again is idempotent
    raw.pop("event_id")
    first, _ = accept_event(raw, ev.CTX, key_store=store)
    second, _ = accept_event(raw, ev.CTX, key_store=store)
    assert first["event_id"] == second["event_id"] and first["subject"]["pii"] != second["subject"]["pii"]


def test_without_a_key_store_or_for_organisations_nothing_is_sealed(store):
    event, _ = accept_event(ev.event(subject=ev.person(ID_NUMBER)), ev.CTX)
    assert set(event["subject"]) == {"id", "kind"}
    company, _ = accept_event(ev.event(), ev.CTX, key_store=store)
    assert "pii" not in company["subject"] and company["subject"]["name"]


def test_a_publisher_cannot_send_sealed_pii_but_the_log_carries_it(store):
    sealed_event, _ = accept_event(ev.event(subject=ev.person(ID_NUMBER)), ev.CTX, key_store=store)
    forged = copy.deepcopy(sealed_event)
    _, problems = validate_event(forged, ev.CTX)  # at the edge
    assert ("subject.pii", "sealed_pii") in {(p.field, p.rule) for p in problems}
    with_number = copy.deepcopy(forged)
    with_number["subject"]["id_number"] = ID_NUMBER
    _, problems = validate_event(with_number, replace(ev.CTX, accept_sealed_pii=True, stamp_recorded_at=False))
    assert ("subject.pii", "sealed_pii") in {(p.field, p.rule) for p in problems}
    log_ctx = replace(ev.CTX, accept_sealed_pii=True, stamp_recorded_at=False)
    accepted, problems = validate_event(forged, log_ctx)
    assert problems == [] and accepted["subject"]["pii"] == sealed_event["subject"]["pii"]


def non_canonical_base64(data: bytes) -> str:
    """Base64 of `data` whose unused trailing bits are set: it decodes to `data`, but a round trip
    through bytes would change the text (and with it the chain hash)."""
    text = base64.b64encode(data).decode()
    last = len(text.rstrip("=")) - 1
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    text = text[:last] + alphabet[alphabet.index(text[last]) + 1] + text[last + 1:]
    assert base64.b64decode(text) == data
    return text


@pytest.mark.parametrize("change, field", [
    (lambda p: p.update(nonce=base64.b64encode(b"x" * 11).decode()), "subject.pii.nonce"),
    (lambda p: p.update(nonce="not base64!"), "subject.pii.nonce"),
    (lambda p: p.update(nonce=p["nonce"] + "\n"), "subject.pii.nonce"),
    (lambda p: p.update(ciphertext=non_canonical_base64(b"x" * 17)), "subject.pii.ciphertext"),
    (lambda p: p.update(ciphertext=base64.b64encode(b"x" * 5000).decode()), "subject.pii.ciphertext"),
    (lambda p: p.update(ciphertext=5), "subject.pii.ciphertext"),
    (lambda p: p.update(key_id="k" * 65), "subject.pii.key_id"),
    (lambda p: p.pop("key_id"), "subject.pii.key_id"),
    (lambda p: p.update(extra="x"), "subject.pii.extra"),
])
def test_malformed_sealed_pii_in_the_log_is_named(store, change, field):
    event, _ = accept_event(ev.event(subject=ev.person(ID_NUMBER)), ev.CTX, key_store=store)
    change(event["subject"]["pii"])
    _, problems = validate_event(event, replace(ev.CTX, accept_sealed_pii=True, stamp_recorded_at=False))
    assert field in {p.field for p in problems}


def test_sealed_pii_on_an_organisation_is_refused(store):
    sealed, _ = accept_event(ev.event(subject=ev.person(ID_NUMBER)), ev.CTX, key_store=store)
    company = ev.event()
    company["subject"]["pii"] = sealed["subject"]["pii"]
    _, problems = validate_event(company, replace(ev.CTX, accept_sealed_pii=True, stamp_recorded_at=False))
    assert ("subject.pii", "natural_person_only") in {(p.field, p.rule) for p in problems}


def test_the_codec_refuses_pii_that_is_not_base64():
    event = ev.event()
    event["recorded_at"] = "2025-06-30T10:00:00+08:00"
    event["classification"] = "PUBLIC"
    event["subject"] = {"id": SUBJECT, "kind": "NATURAL_PERSON", "pii": {"key_id": "k", "nonce": "%%",
                                                                        "ciphertext": "AAAA"}}
    with pytest.raises(codec.CodecError, match="base64"):
        codec.encode_event(event)
    event["subject"]["pii"] = {"key_id": "k", "nonce": "AAAA"}
    with pytest.raises(codec.CodecError, match="ciphertext"):
        codec.encode_event(event)


# --- crypto-shredding -----------------------------------------------------------------------------
def fold_log(log: list[bytes]):
    """What the worker, rebuild and the audit commands do: decode every record, validate it as read
    from the log, fold it."""
    result = replay([(offset, codec.decode_event(value)) for offset, value in enumerate(log)])
    assert result.rejected == []
    return result


def test_erasing_the_key_shreds_the_pii_everywhere_and_the_file_still_folds(store):
    log = []
    for raw in person_events():
        event, problems = accept_event(raw, ev.CTX, key_store=store)
        assert problems == []
        log.append(codec.encode_event(event))
    for value in log:
        assert_no_plaintext(value)
    before = fold_log(log)
    (subject_id,) = before.states
    file_before = credit_file(before.states[subject_id])
    assert file_before["records"]["penalties"][0]["fulfilled"] is True
    assert_no_plaintext(canonical_bytes(file_before))  # the file shows the pseudonym only
    assert personal_info(before.history[subject_id], store, subject_id) == {
        "status": AVAILABLE, "name": NAME, "id_number": ID_NUMBER,
        "event_id": before.history[subject_id][-1]["event"]["event_id"]}

    assert store.erase(subject_id, reason="本人申请") is True
    assert store.erase(subject_id) is False  # nothing left to erase

    after = fold_log(log)  # the same immutable bytes
    assert canonical_bytes(credit_file(after.states[subject_id])) == canonical_bytes(file_before)
    assert after.states[subject_id]["chain"] == before.states[subject_id]["chain"]
    for value in log:
        with pytest.raises(PersonalInfoErased, match="erased"):
            unseal(store, subject_id, codec.decode_event(value)["subject"]["pii"])
    shown = with_personal_info(file_before, after.history[subject_id], store)["subject"]["personal_info"]
    assert shown["status"] == ERASED and "erased" in shown["reason"]

    # later events of the erased person are accepted without collecting the PII again
    later, problems = accept_event(ev.event("PenaltyRevoked", {"record_id": "P-1", "reason": "复议撤销"},
                                            subject=ev.person(ID_NUMBER)), ev.CTX, key_store=store)
    assert problems == [] and "pii" not in later["subject"]
    assert fold_log(log + [codec.encode_event(later)]).states[subject_id]["records"]["penalties"][ev.key_of("P-1")][
        "status"] == "REVOKED"


def test_personal_info_of_a_file_without_sealed_pii(store):
    assert personal_info([], store, SUBJECT) == {"status": NONE}
    assert with_personal_info(credit_file(fold_log([codec.encode_event(
        accept_event(ev.event(), ev.CTX, key_store=store)[0])]).states[ev.COMPANY]), [], store)["subject"].get(
        "personal_info") is None  # organisations have none
    sealed_event, _ = accept_event(ev.event(subject=ev.person(ID_NUMBER)), ev.CTX, key_store=store)
    assert personal_info([sealed_event], MemoryKeyStore(), sealed_event["subject"]["id"])["status"] == UNREADABLE


def test_seal_personal_info_leaves_pseudonymised_subjects_alone(store):
    event = {"subject": {"id": SUBJECT, "kind": "NATURAL_PERSON"}}
    assert seal_personal_info({"subject": {"id": SUBJECT, "kind": "NATURAL_PERSON"}}, event, store) is event


def test_settings_key_store_is_the_shared_topic_or_off():
    from ops.config import Settings

    assert Settings(pii_key_store="off").key_store() is None
    with pytest.raises(SystemExit, match="credit.pii-keys"):  # a path, as a key file was once configured
        Settings(pii_key_store="data/pii-keys.json").key_store()
    with pytest.raises(SystemExit, match="no master key configured"):
        Settings().key_store()


def test_records_written_before_subject_pii_existed_still_read():
    """The previous CreditEvent version (published before Subject.pii) resolves into the current
    reader: pii is absent, everything else as written."""
    from io import BytesIO

    import fastavro
    from fastavro.schema import parse_schema

    previous = codec.PUBLISHED_DIR / "CreditEvent.bbf8e07ce224899f.avsc"
    writer = json.loads(previous.read_text("utf-8"))
    assert codec.fingerprint(writer) != codec.CREDIT_EVENT_FINGERPRINT
    event, _ = accept_event(ev.event(subject=ev.person(ID_NUMBER)), ev.CTX)  # pseudonymised, no pii
    current = codec.encode_event(event)
    datum = fastavro.schemaless_reader(BytesIO(current[codec.HEADER_BYTES:]),
                                       parse_schema(codec._without_logical_types(codec.CREDIT_EVENT_SCHEMA)),
                                       return_record_name=True, return_record_name_override=True)
    del datum["subject"]["pii"]  # what the old writer knew
    body = BytesIO()
    fastavro.schemaless_writer(body, parse_schema(codec._without_logical_types(writer)), datum)
    old = codec.MAGIC + codec.fingerprint(writer) + body.getvalue()
    assert old != current and codec.decode_event(old) == event
