"""The publisher SDK for upstream systems: a client of the ledger's HTTP edge. It needs the worker's
URL and the publisher's token, nothing else: no Kafka, no credentials of the broker, no pseudonym key.

    from streams.sdk import Publisher
    with Publisher("http://127.0.0.1:6066", token="...") as publisher:
        receipt = publisher.publish(event)          # validated, stamped, delivered; or InvalidEvent
        print(receipt.event_id, receipt.partition, receipt.offset)
        report = publisher.publish_many(events)     # report.delivered, report.invalid, report.failed, report.ok

Events go to POST /events:batch as NDJSON, up to `batch_lines` (and BATCH_BYTES_MAX) a request; the edge
answers a line each. A receipt means the worker's edge accepted the event (access, validation,
recorded_at stamped by the ledger's clock, a natural person pseudonymised and sealed) and the broker
acknowledged it on every in-sync replica (acks=all, idempotent producer) before the edge answered.
An event the edge refuses (400 not JSON, 403 not the publisher's authority, 409 its id already taken,
413 too large, 422 invalid) raises InvalidEvent from `publish`, or is in `report.invalid` with its problems (and its
status in `report.statuses`); the edge has put it on credit.rejected with its reasons. Nothing here
stamps recorded_at: the SDK sends no clock.

Retries, bounded: a connection that fails or breaks, an answer 5xx (a worker restarting, a broker away),
and a line answered 503 (the key store failed, the broker did not acknowledge it) are sent again after
RETRY_BACKOFF_S, doubling up to RETRY_BACKOFF_MAX_S, the last time once `retry_within_s` has passed since
the batch was first sent; what is still not delivered then is in `report.failed` (`publish` raises
DeliveryError).
401 (the token) and 403 for the whole batch (a role that may not publish) are not retried: PublishError.
A line refused by a quota (429, docs/publishing.md) is sent again after its `retry_after_s` when that
falls within the budget (events per minute); one that would wait longer (events per subject per day) is
in `report.invalid` with status 429.

Idempotence, by event id: an event without `event_id` gets one from the edge, derived from its content
(recorded_at left out), so the same event gets the same id however often it is sent. Sending an event
again (a retry after an answer that never came, a whole file published twice, across a worker restart)
writes it to the log again, and the edge answers 202 again with that write's partition and offset: the
same kind of receipt every time. The ledger's fold applies an event id once and skips the later copies
as duplicates, so the credit file shows it once. The same id with other content is a conflict: the edge
answers 409 (RefusedEvent) when its worker has already applied the earlier event or it came earlier in the
same request; one still on its way to the log is refused by the fold (event_id_conflict on credit.rejected).
"""
from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import orjson

from projections.json_input import load_json, value_problems
from projections.validate import InvalidEvent, Problem

# Below the edge's limits (streams/routes_publishing.py: 5,000 lines, 16 MiB a batch).
BATCH_LINES_MAX = 5_000
# Few, large requests: the worker's edge judges a batch's lines in a few turns of its event loop, and each
# turn it waits lets the fold in (~0.1 s): 5,000 lines a request accepted 2-3x the events of 1,000.
BATCH_LINES_DEFAULT = 5_000
BATCH_BYTES_MAX = 8 * 1024 * 1024
# A worker restarting after a kill took 5-20 s to answer again on this 2-core machine, a broker
# restarting 25-35 s: a publisher would rather wait than resend by hand.
RETRY_WITHIN_S = 120.0
RETRY_BACKOFF_S = 0.25
RETRY_BACKOFF_MAX_S = 5.0
# The edge answers once the broker has acknowledged every record (it gives up after 60 s:
# streams/outputs.py EDGE_DELIVERY_TIMEOUT_MS); a batch of 5,000 lines takes it about a second.
RESPONSE_TIMEOUT_S = 90.0
RETRIED_STATUSES = frozenset((500, 502, 503, 504))
TOO_MANY = 429  # a quota of the edge (projections/quotas.py): again after the line's retry_after_s
ERROR_BODY_CHARS_MAX = 500


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
    invalid: dict[int, list[Problem]] = field(default_factory=dict)  # refused: not sent again
    statuses: dict[int, int] = field(default_factory=dict)  # the edge's status of each invalid item (0: not sent)
    failed: dict[int, str] = field(default_factory=dict)  # valid as far as known, not delivered in time

    @property
    def ok(self) -> bool:
        return not self.invalid and not self.failed

    @property
    def rejected(self) -> list[int]:
        """The positions of the refused items, in order."""
        return sorted(self.invalid)


class PublishError(RuntimeError):
    """The edge refused the whole request (401 a bad token, 403 a role that may not publish, 4xx
    otherwise): sending it again would change nothing. `status` and `errors` are the edge's."""

    def __init__(self, status: int, errors: list[dict], url: str):
        self.status, self.errors = status, errors
        reasons = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
        super().__init__(f"{url}: {status}: {reasons}")


class DeliveryError(RuntimeError):
    """Not delivered within the retry budget (`publish` only; `publish_many` reports it)."""


class RefusedEvent(InvalidEvent):
    """InvalidEvent with the edge's status: 400 not JSON, 403 not allowed, 413 too large, 422 invalid
    (0: refused before it was sent, a value JSON cannot carry)."""

    def __init__(self, problems: list[Problem], status: int):
        super().__init__(problems)
        self.status = status


class _Transient(Exception):
    """A failure that sending the same request again may cure."""


class Publisher:
    def __init__(self, url: str, token: str | None = None, *, batch_lines: int = BATCH_LINES_DEFAULT,
                 retry_within_s: float = RETRY_WITHIN_S, response_timeout_s: float = RESPONSE_TIMEOUT_S):
        """`url`: the worker's web address (http://host:port; https too). `token`: the publisher's bearer
        token (a publisher may publish only as its own authority; an admin as any)."""
        address = urllib.parse.urlsplit(url.rstrip("/"))
        if address.scheme not in ("http", "https") or not address.hostname:
            raise ValueError(f"the worker's URL must be http://host:port or https://host:port, not {url!r}")
        if not 1 <= batch_lines <= BATCH_LINES_MAX:
            raise ValueError(f"batch_lines must be 1..{BATCH_LINES_MAX}")
        self.url = url.rstrip("/")
        self.batch_lines = batch_lines
        self.retry_within_s = retry_within_s
        self._address = address
        self._path = (address.path or "") + "/events:batch"
        self._headers = {"Content-Type": "application/x-ndjson", "Accept": "application/x-ndjson",
                         **({"Authorization": f"Bearer {token}"} if token else {})}
        self._timeout_s = response_timeout_s
        self._connection: http.client.HTTPConnection | None = None

    def publish(self, raw) -> Receipt:
        """One event (a dict, or its JSON text): its receipt, or InvalidEvent (RefusedEvent, with the
        problems and the edge's status), or DeliveryError once the retries are spent."""
        report = self.publish_many([raw])
        if report.invalid:
            raise RefusedEvent(report.invalid[1], report.statuses[1])
        if report.failed:
            raise DeliveryError(report.failed[1])
        return report.delivered[0]

    def publish_many(self, items: Iterable, on_progress: Callable[[int], None] | None = None) -> Report:
        """Publish each item (a dict, or one event's JSON text as str or bytes) in batches; every item
        gets an outcome in the report, by its 1-based position, and `on_progress(position)` is called as
        each is settled, in order. Raises PublishError when the edge refuses a whole request."""
        report = Report()
        for batch in self._batches(items, report):
            self._send([(position, line) for position, line in batch if line is not None], report)
            for position, _ in batch:
                if on_progress:
                    on_progress(position)
        return report

    def _batches(self, items: Iterable, report: Report) -> Iterator[list[tuple[int, bytes | None]]]:
        """Batches of (position, line); None for an item refused here (it cannot be one line of JSON)."""
        batch: list[tuple[int, bytes | None]] = []
        lines = size = 0
        for position, item in enumerate(items, start=1):
            line, problems = ndjson_line(item)
            if problems:
                report.invalid[position], report.statuses[position] = problems, 0
                batch.append((position, None))
                continue
            if lines and (lines >= self.batch_lines or size + len(line) + 1 > BATCH_BYTES_MAX):
                yield batch
                batch, lines, size = [], 0, 0
            batch.append((position, line))
            lines, size = lines + 1, size + len(line) + 1
        if batch:
            yield batch

    def _send(self, batch: list[tuple[int, bytes]], report: Report) -> None:
        """One batch until every line is settled or the retry budget is spent."""
        if not batch:
            return
        deadline = time.monotonic() + self.retry_within_s
        pending, backoff_s = batch, RETRY_BACKOFF_S
        while True:
            retry: list[tuple[int, bytes]] = []
            why, wait_s = "", 0.0
            try:
                results = self._post(b"\n".join(line for _, line in pending) + b"\n", len(pending))
            except _Transient as error:
                retry, why = pending, str(error)
            else:
                for (position, line), result in zip(pending, results):
                    status = result.get("status")
                    if status == 202:
                        report.delivered.append(Receipt(result["event_id"], result["subject_id"],
                                                        result["partition"], result["offset"]))
                    elif status in RETRIED_STATUSES:
                        retry.append((position, line))
                        why = f"{status}: {_reasons(result.get('errors'))}"
                    elif status == TOO_MANY and _retry_after_s(result) <= deadline - time.monotonic():
                        retry.append((position, line))  # a quota: again once it allows it
                        why, wait_s = f"{status}: {_reasons(result.get('errors'))}", max(wait_s, _retry_after_s(result))
                    else:
                        report.invalid[position] = [Problem(e.get("field", "$"), e.get("rule", ""), e.get("message", ""))
                                                    for e in result.get("errors") or []]
                        report.statuses[position] = status
            if not retry:
                return
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                for position, _ in retry:
                    report.failed[position] = f"not delivered within {self.retry_within_s:g} s: {why}"
                return
            time.sleep(min(max(backoff_s, wait_s), left_s))
            pending, backoff_s = retry, min(backoff_s * 2, RETRY_BACKOFF_MAX_S)

    def _post(self, body: bytes, lines: int) -> list[dict]:
        """The edge's results for `lines` lines; _Transient for what a retry may cure."""
        for attempt in (1, 2):
            reused = self._connection is not None
            try:
                connection = self._connect()
                connection.request("POST", self._path, body=body, headers=self._headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out, a broken answer
                self.close()
                # a kept-alive connection the worker closed meanwhile: once more at once, on a new one
                if not (reused and attempt == 1 and isinstance(error, (ConnectionError, http.client.RemoteDisconnected))):
                    raise _Transient(f"{self.url}: {error.__class__.__name__}: {error}") from None
        if response.status in RETRIED_STATUSES:
            raise _Transient(f"{self.url}: {response.status}: {_error_text(data)}")
        if response.status not in (200, TOO_MANY):  # 429: every line over a quota, each says until when
            raise PublishError(response.status, _errors(data), self.url)
        try:
            results = [orjson.loads(line) for line in data.splitlines() if line.strip()]
        except orjson.JSONDecodeError:
            raise _Transient(f"{self.url}: an answer that is not NDJSON: {_error_text(data)}") from None
        if [r.get("line") if isinstance(r, dict) else None for r in results] != list(range(1, lines + 1)):
            raise PublishError(response.status, [{"message": f"{len(results)} results for {lines} lines"}], self.url)
        return results

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._address.scheme == "https" else http.client.HTTPConnection
            self._connection = kind(self._address.hostname, self._address.port, timeout=self._timeout_s)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def ndjson_line(item) -> tuple[bytes, list[Problem]]:
    """One item as a line of NDJSON (UTF-8 JSON without a line break), or why it cannot be one: a dict
    with a value JSON cannot carry (projections.json_input.value_problems names it, as the edge would),
    or text with a line break inside that is not one JSON value. Text is otherwise sent as it is, its
    bytes unread: the edge reads and judges it (a line that is not UTF-8 or not JSON gets its 400)."""
    if isinstance(item, (str, bytes, bytearray)):
        line = item.encode("utf-8", "surrogatepass") if isinstance(item, str) else bytes(item)
        if b"\n" not in line:
            return line, []
        value, problems = load_json(line)  # pretty-printed JSON: one line once re-written
        if problems:
            return b"", problems
        item = value
    problems = value_problems(item)  # the edge's own check: what orjson would write as null (NaN) included
    if problems:
        return b"", problems
    return orjson.dumps(item), []


def _retry_after_s(result: dict) -> float:
    wait_s = result.get("retry_after_s")
    return float(wait_s) if isinstance(wait_s, (int, float)) and 0 <= wait_s <= 86_400 else 1.0


def _reasons(errors) -> str:
    if not isinstance(errors, list):
        return ""
    return "; ".join(str(e.get("message", "")) if isinstance(e, dict) else str(e) for e in errors)[:ERROR_BODY_CHARS_MAX]


def _errors(data: bytes) -> list[dict]:
    try:
        body = json.loads(data)
    except ValueError:
        return [{"message": _error_text(data)}]
    errors = body.get("errors") if isinstance(body, dict) else None
    return errors if isinstance(errors, list) else [{"message": _error_text(data)}]


def _error_text(data: bytes) -> str:
    return data[:ERROR_BODY_CHARS_MAX].decode("utf-8", "replace")
