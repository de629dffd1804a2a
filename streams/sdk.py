"""The publisher SDK for upstream systems.

    from streams.sdk import Publisher
    with Publisher("127.0.0.1:9092", pseudonym_key=b"...") as publisher:
        receipt = publisher.publish(event)          # validated, stamped, delivered
        print(receipt.event_id, receipt.partition, receipt.offset)

`publish` returns only once the broker has acknowledged the event on every
in-sync replica (acks=all, idempotent producer); an invalid event raises
InvalidEvent listing every problem, and its bytes go to credit.rejected.

Every event takes the one edge path (streams/edge.py): with `principal=` a publisher
principal, events of another authority are refused like invalid ones (to credit.rejected,
with the reason); without it the caller is the trusted operator (admin). With
`key_store=`, a natural person's name and ID number are sealed into subject.pii
(streams/pii.py); without one they are dropped.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from confluent_kafka import KafkaError, Producer

from projections.access import OPERATOR, Principal
from projections.json_input import load_json
from projections.validate import EdgeContext, InvalidEvent, Problem
from projections.canonical import instant_text
from streams import topics
from streams.codec import encode_event, encode_rejection
from streams.edge import accept_event
from streams.kafka_access import KafkaAccess, client_config
from streams.outputs import IDEMPOTENT_PRODUCER
from streams.pii import KeyStore, KeyStoreError

# How long librdkafka retries an event before the report says it failed. A broker restarting on a
# loaded host was away 25-35 s (two of them on two cores, in the broker-restart test): a publisher
# would rather wait than resend by hand.
DELIVERY_TIMEOUT_MS = 120_000
FLUSH_TIMEOUT_S = 150.0  # longer than a delivery's timeout: every event is settled by then
IN_FLIGHT_MAX = 10_000  # events produced before waiting for deliveries
REJECTED_RAW_BYTES_MAX = 64 * 1024


@dataclass(frozen=True)
class Receipt:
    event_id: str
    subject_id: str
    partition: int
    offset: int


@dataclass
class Report:
    """What happened to each item of a `publish_many` call (by its 1-based position)."""

    delivered: list[Receipt] = field(default_factory=list)
    invalid: dict[int, list[Problem]] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)  # validation passed, delivery did not

    @property
    def ok(self) -> bool:
        return not self.invalid and not self.failed


class DeliveryError(RuntimeError):
    pass


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Publisher:
    def __init__(self, bootstrap: KafkaAccess | str, *, pseudonym_key: bytes, clock: Callable[[], datetime] = _utc_now,
                 topic: str = topics.EVENTS, delivery_timeout_ms: int = DELIVERY_TIMEOUT_MS,
                 principal: Principal = OPERATOR, key_store: KeyStore | None = None):
        self.pseudonym_key = pseudonym_key
        self.clock = clock
        self.topic = topic
        self.principal = principal
        self.key_store = key_store
        # as the worker's principal, until the SDK becomes a client of the HTTP edge (issue 27)
        self._producer = Producer(client_config(bootstrap, **IDEMPOTENT_PRODUCER, **{
            "delivery.timeout.ms": delivery_timeout_ms, "linger.ms": 5}))

    def validate(self, raw) -> tuple[dict | None, list[Problem]]:
        """The event as it would be written (access checked, validated, personal information
        sealed), or every problem. Raises KeyStoreError when the key store fails."""
        return accept_event(raw, EdgeContext(now=self.clock(), pseudonym_key=self.pseudonym_key),
                            principal=self.principal, key_store=self.key_store)

    def publish(self, raw: dict) -> Receipt:
        report = self.publish_many([raw])
        if report.invalid:
            raise InvalidEvent(report.invalid[1])
        if report.failed:
            raise DeliveryError(report.failed[1])
        return report.delivered[0]

    def publish_many(self, items: Iterable, on_progress: Callable[[int], None] | None = None) -> Report:
        """Validate and publish each item (a dict, or a JSON text line as str or bytes); nothing invalid
        is sent. Text is read by the bounded loader (projections/json_input.py): a line that is not
        UTF-8, nests too deep or holds a number JSON cannot carry is refused with its field and rule."""
        report = Report()
        in_flight = 0
        for position, item in enumerate(items, start=1):
            raw, problems = _parse(item)
            event = None
            if not problems:
                try:
                    event, problems = self.validate(raw)
                except KeyStoreError as error:  # valid, but it cannot be sealed now: not the publisher's fault
                    report.failed[position] = f"key store: {error.reason}"
            if problems:
                report.invalid[position] = problems
                self.reject(item, problems)
            elif event is not None:
                self._produce(event, position, report)
                in_flight += 1
            if in_flight >= IN_FLIGHT_MAX:
                self._producer.flush(FLUSH_TIMEOUT_S)
                in_flight = 0
            self._producer.poll(0)
            if on_progress:
                on_progress(position)
        remaining = self._producer.flush(FLUSH_TIMEOUT_S)
        if remaining:
            raise DeliveryError(f"{remaining} events not confirmed by the broker within {FLUSH_TIMEOUT_S} s")
        return report

    def _produce(self, event: dict, position: int, report: Report) -> None:
        def on_delivery(error: KafkaError | None, message) -> None:
            if error is not None:
                report.failed[position] = f"{error.name()}: {error.str()}"
            else:
                report.delivered.append(Receipt(event["event_id"], event["subject"]["id"],
                                                message.partition(), message.offset()))

        self._producer.produce(self.topic, key=event["subject"]["id"].encode(), value=encode_event(event),
                               on_delivery=on_delivery)

    def reject(self, item, problems: list[Problem]) -> None:
        """Put something refused before it became an event on credit.rejected, with its reasons."""
        self._producer.produce(topics.REJECTED, value=edge_rejection(item, problems, self.topic, self.clock()))

    def close(self) -> None:
        self._producer.flush(FLUSH_TIMEOUT_S)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def edge_rejection(item, problems: list[Problem], topic: str, now: datetime) -> bytes:
    """The credit.rejected record of an event refused at the edge (it never reached the log)."""
    raw = _raw_bytes(item)
    if b"id_number" in raw or b"NATURAL_PERSON" in raw:
        raw = b""  # it may carry a natural person's ID number and name: those never reach Kafka
    return encode_rejection({"event_id": None, "topic": topic, "partition": -1, "offset": -1,
                             "reasons": [p.as_dict() for p in problems], "raw": raw[:REJECTED_RAW_BYTES_MAX],
                             "rejected_at": instant_text(now)})


def _raw_bytes(item) -> bytes:
    """What a refused item was, as bytes for credit.rejected: lone surrogates kept as escapes; nothing for
    a value json cannot write (a 5,000-digit integer, nesting 1,000 deep): its reasons say what it was."""
    if isinstance(item, bytes):
        return item
    if not isinstance(item, str):
        try:
            item = json.dumps(item, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):  # a key json cannot write, too many digits, too deep
            return b""
    return item.encode("utf-8", "backslashreplace")


def _parse(item) -> tuple[object, list[Problem]]:
    if not isinstance(item, (str, bytes)):
        return item, []
    return load_json(item)
