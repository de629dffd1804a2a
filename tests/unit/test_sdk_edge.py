"""The SDK's edge (also `credit-ledger publish`'s): a publisher principal is bound to its authority,
refusals go to credit.rejected with their reasons, natural persons are sealed, never in plaintext.
The Kafka producer is replaced by a recorder: what would be sent is checked byte for byte."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from projections.access import ADMIN, AUDITOR, PUBLISHER, Principal
from projections.validate import InvalidEvent
from streams import codec, topics
from streams.pii import KeyStoreError, MemoryKeyStore, unseal
from streams.sdk import Publisher
from tests.unit import events as ev
from tests.unit.test_pii import ID_NUMBER, NAME, assert_no_plaintext


@dataclass
class Sent:
    topic: str
    key: bytes | None
    value: bytes


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def produce(self, topic, value=None, key=None, on_delivery=None):
        self.sent.append(Sent(topic, key, value))
        if on_delivery is not None:
            on_delivery(None, _Message(len(self.sent)))

    def poll(self, timeout):
        return 0

    def flush(self, timeout=None):
        return 0

    def on(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]


class _Message:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


@pytest.fixture(autouse=True)
def no_kafka(monkeypatch):
    monkeypatch.setattr("streams.sdk.Producer", lambda config: RecordingProducer())  # nothing leaves the process


def publisher(principal: Principal | None = None, key_store=None) -> tuple[Publisher, RecordingProducer]:
    kwargs = {} if principal is None else {"principal": principal}
    sdk = Publisher("127.0.0.1:1", pseudonym_key=ev.KEY, clock=lambda: ev.NOW, key_store=key_store, **kwargs)
    return sdk, sdk._producer


BOUND = Principal("amr-cases", PUBLISHER, ev.AUTHORITY)
FOREIGN = {"authority_code": ev.BANK, "authority_name": "某银行"}


def test_a_bound_publisher_publishes_as_its_authority_only():
    sdk, recorder = publisher(BOUND)
    report = sdk.publish_many([ev.event(), ev.event(source=FOREIGN), ev.event()])
    assert len(report.delivered) == 2 and set(report.invalid) == {2}
    (problem,) = report.invalid[2]
    assert (problem.field, problem.rule) == ("source.authority_code", "publisher_authority")
    (rejected,) = recorder.on(topics.REJECTED)
    reasons = codec.decode_rejection(rejected.value)["reasons"]
    assert reasons == [problem.as_dict()]
    assert len(recorder.on(topics.EVENTS)) == 2


def test_without_a_principal_the_operator_acts_as_admin():
    sdk, recorder = publisher()
    assert sdk.principal.role == ADMIN
    assert sdk.publish_many([ev.event(source=FOREIGN)]).ok


def test_roles_that_may_not_publish_are_refused_whatever_the_event():
    sdk, recorder = publisher(Principal("audit", AUDITOR))
    report = sdk.publish_many([ev.event(), "not json"])
    assert report.invalid[1][0].rule == "role_may_not_publish" and report.invalid[2][0].rule == "json"
    assert recorder.on(topics.EVENTS) == []


def test_natural_persons_are_sealed_and_never_sent_in_plaintext():
    key_store = MemoryKeyStore()
    sdk, recorder = publisher(BOUND, key_store)
    bad_number = ev.person(ID_NUMBER[:-1] + ("1" if ID_NUMBER[-1] != "1" else "2"))
    report = sdk.publish_many([ev.event(subject=ev.person(ID_NUMBER)),
                               ev.event(subject=ev.person(ID_NUMBER), source=FOREIGN),
                               ev.event(subject=bad_number)])
    assert len(report.delivered) == 1 and set(report.invalid) == {2, 3}
    with pytest.raises(AssertionError):
        assert_no_plaintext(b"..." + bad_number["id_number"].encode())  # the check sees a near-miss number too
    for sent in recorder.sent:
        assert_no_plaintext(sent.value + (sent.key or b""))
    (sent,) = recorder.on(topics.EVENTS)
    subject = codec.decode_event(sent.value)["subject"]
    assert sent.key == subject["id"].encode() and subject["id"].startswith("np-")
    assert unseal(key_store, subject["id"], subject["pii"]) == {"name": NAME, "id_number": ID_NUMBER}


def test_a_failing_key_store_fails_delivery_not_the_publisher():
    class Broken(MemoryKeyStore):
        def sealing_key(self, subject_id):
            raise KeyStoreError("disk full")

    sdk, recorder = publisher(BOUND, Broken())
    progress = []
    report = sdk.publish_many([ev.event(subject=ev.person(ID_NUMBER)), ev.event()], on_progress=progress.append)
    assert report.failed == {1: "key store: disk full"} and len(report.delivered) == 1 and not report.invalid
    assert progress == [1, 2] and recorder.on(topics.REJECTED) == []
    with pytest.raises(Exception, match="disk full"):
        sdk.publish(ev.event(subject=ev.person(ID_NUMBER)))


def deep(levels: int):
    value = 1
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("change, field, rule", [
    (lambda e: e["payload"].update(x=deep(1000)), "payload.x.a.a", "nesting"),
    (lambda e: e["subject"].update(name="\ud800"), "subject.name", "encoding"),
    (lambda e: e["payload"].update(fine_fen=10**5000), "payload.fine_fen", "number"),
    (lambda e: e["payload"].update(fine_fen=float("nan")), "payload.fine_fen", "number"),
    (lambda e: e["payload"].update(fine_fen=float("-inf")), "payload.fine_fen", "number"),
], ids=["1000-deep", "surrogate", "5000-digits", "nan", "-inf"])
def test_publish_refuses_what_json_cannot_carry_with_reasons_and_goes_on(change, field, rule):
    sdk, recorder = publisher(BOUND)
    bad = ev.event()
    change(bad)
    with pytest.raises(InvalidEvent) as raised:  # before: RecursionError, UnicodeEncodeError, ValueError
        sdk.publish(bad)
    ((problem_field, problem_rule),) = {(p.field, p.rule) for p in raised.value.problems}
    assert problem_field.startswith(field) and problem_rule == rule
    (rejected,) = recorder.on(topics.REJECTED)  # on credit.rejected with its reasons
    assert codec.decode_rejection(rejected.value)["reasons"] == [p.as_dict() for p in raised.value.problems]
    assert sdk.publish(ev.event()).offset == 2 and len(recorder.on(topics.EVENTS)) == 1


def test_publish_many_reads_each_text_line_on_its_own():
    sdk, recorder = publisher(BOUND)
    good = json.dumps(ev.event(), ensure_ascii=False).encode()
    lines = [good.replace("虚假宣传".encode(), b"\xff"), b"[" * 5000, good.replace(b"5000000", b"9" * 5000),
             good.replace(b"5000000", b"NaN"), good.replace(b"5000000", b"Infinity"), good.decode()]
    report = sdk.publish_many(lines)
    assert {n: [(p.field, p.rule) for p in ps] for n, ps in report.invalid.items()} == {
        1: [("payload.violation_type", "encoding")], 2: [("$", "nesting")], 3: [("payload.fine_fen", "number")],
        4: [("payload.fine_fen", "number")], 5: [("payload.fine_fen", "number")]}
    assert len(report.delivered) == 1 and len(recorder.on(topics.REJECTED)) == 5
