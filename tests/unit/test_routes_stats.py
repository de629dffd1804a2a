"""GET /stats/disclosure (streams/routes_stats.py) driven without a broker: the route served as the worker
serves it (tests/unit/served.py), credit.events and credit.rejected an in-memory log of the reader's
interface (tests/driver.MemoryTopics) holding the records a worker would find there. The figures expected
are the month worked out by hand in tests/unit/test_stats.py; the route must find them by reading the log
itself. The same against a real broker and worker, with the command: tests/integration/test_stats.py."""
from __future__ import annotations

import logging
import urllib.parse

import orjson
import pytest

from projections.stats import UNATTRIBUTED
from streams import routes_stats, topics
from streams.codec import encode_event, encode_rejection
from streams.routes_stats import read_stats_log
from tests.driver import MemoryTopics
from tests.unit import events as ev
from tests.unit.served import serve
from tests.unit.test_stats import counts, march, rejection, row_of

QUERY = {"from": "2025-03-01", "to": "2025-03-31", "by": "authority", "as_of": "2025-04-30"}
PERSON = ev.person()
# worked out by hand (tests/unit/test_stats.py): March 2025 of 郑州's tax bureau, its duplicate rejected once
MARCH_BY_HAND = {"reported": 18, "penalties_on_time": 1, "penalties_late": 2, "penalties_missing": 1,
                 "penalties_exempt": 1, "permits_on_time": 1, "objections_filed": 2, "objections_decided": 2,
                 "objections_decided_late": 1, "repairs_filed": 2, "repairs_decided": 1, "repairs_decided_late": 1,
                 "repairs_overdue_open": 1, "rejected": 1}


def person_penalty() -> dict:
    """A natural person's penalty by another authority, reported in March: one more event of that authority."""
    return ev.valid("PenaltyImposed", ev.penalty_payload(record_id="NP-1", decision_no=ev.decision_no("NP-1")),
                    "2025-03-05", subject=PERSON,
                    source={"authority_code": ev.OTHER_AUTHORITY, "authority_name": "郑州市交通运输局"})


def the_log() -> tuple[MemoryTopics, dict]:
    """credit.events with March, the duplicate the fold rejected, a record that does not decode and the person's
    penalty; credit.rejected with the fold's rejection of the duplicate and one of the edge's."""
    log = MemoryTopics()
    events = [*march(), ev.penalty_imposed("P-1", "2025-03-03", recorded_at="2025-03-14T08:00:00+08:00")]
    for event in events:
        partition, offset = log.append(topics.EVENTS, ev.COMPANY.encode(), encode_event(event))
    log.append(topics.EVENTS, ev.COMPANY.encode(), b"\x00not a CreditEvent")
    penalty = person_penalty()
    log.append(topics.EVENTS, penalty["subject"]["id"].encode(), encode_event(penalty))
    for record in (rejection(offset, "duplicate_id", partition=partition), rejection(-1, "date", partition=-1)):
        log.append(topics.REJECTED, ev.COMPANY.encode(), encode_rejection({**record, "raw_digest": b"\x01" * 32}))
    return log, penalty


@pytest.fixture
def served():
    log, _ = the_log()
    running = serve([routes_stats], log=log)
    yield running
    running.close()


def stats(served, who: str | None = "office", **query) -> tuple[int, dict]:
    status, _, body = served.send("GET", "/stats/disclosure?" + urllib.parse.urlencode({**QUERY, **query}), who)
    return status, orjson.loads(body)


def test_the_month_read_from_the_log_is_the_month_worked_out_by_hand(served):
    status, result = stats(served)
    assert status == 200, result
    assert counts(row_of(result)) == MARCH_BY_HAND and row_of(result)["rejected_by_rule"] == {"duplicate_id": 1}
    assert counts(row_of(result, ev.OTHER_AUTHORITY))["reported"] == 1  # the person's penalty
    assert (row_of(result, UNATTRIBUTED)["rejected"], row_of(result, UNATTRIBUTED)["rejected_by_rule"]) == (
        1, {"date": 1})
    assert result["totals"]["rejected"] == 2
    # every partition of both topics read whole, once
    read = {(topic, partition) for topic, partition, _, _ in served.log.ranges_read}
    assert read == {(topic, p) for topic in (topics.EVENTS, topics.REJECTED)
                    for p, (low, high) in served.log.watermarks(topic).items() if high > low}
    assert [(r["principal"], r["endpoint"]) for r in served.access_log()] == [("office", "GET /stats/disclosure")]


def test_a_scoped_supervisor_gets_its_region_only(served):
    status, zhengzhou = stats(served, "zhengzhou")
    assert status == 200 and counts(row_of(zhengzhou)) == MARCH_BY_HAND
    assert {row["authority_code"][2:6] for row in zhengzhou["rows"]} == {"4101"}
    status, shenzhen = stats(served, "shenzhen")
    assert status == 200 and shenzhen["rows"] == [] and shenzhen["totals"]["reported"] == 0


def test_each_refusal_names_its_parameter_and_reads_nothing(served):
    assert stats(served, None)[0] in (401, 403)
    status, body = stats(served, "market")  # a publisher: supervisors and up only
    assert status == 403 and body["errors"][0]["rule"] == "forbidden"
    for name, bad in (("to", "2025-13-01"), ("from", "2025-04-01"), ("by", "mood"), ("as_of", "2025-04-30T10:00")):
        status, body = stats(served, **{name: bad})
        fields = {error["field"] for error in body["errors"]}
        assert status == 400 and fields & {name, "from", "to"}, (name, body)
    assert served.log.ranges_read == [] and served.access_log() == []


def test_a_log_beyond_the_routes_bound_is_left_to_the_command_unread(served, monkeypatch):
    held = sum(high - low for low, high in served.log.watermarks(topics.EVENTS).values())
    monkeypatch.setattr(routes_stats, "ROUTE_EVENTS_MAX", held - 1)
    status, body = stats(served)
    assert status == 422 and body["errors"][0]["rule"] == "log_too_large"
    assert "credit-ledger stats" in body["errors"][0]["message"] and f"{held:,}" in body["errors"][0]["message"]
    assert served.log.ranges_read == []
    monkeypatch.setattr(routes_stats, "ROUTE_EVENTS_MAX", held)  # at the bound: read
    assert stats(served)[0] == 200


def test_a_log_that_cannot_be_read_is_a_503(served):
    served.log.refused = {topics.REJECTED}  # the worker's principal lost its read of credit.rejected
    status, body = stats(served)
    assert status == 503 and body["errors"][0]["rule"] == "unavailable" and topics.REJECTED in body["errors"][0][
        "message"]


def test_the_reads_helper_takes_the_rejections_from_a_reader_of_their_own():
    log, _ = the_log()
    nothing_rejected = MemoryTopics()
    events, rejections = read_stats_log(log, nothing_rejected)
    assert rejections == [] and len(events) == len(march()) + 2  # the undecodable record left out
    assert len(read_stats_log(log)[1]) == 2


def test_no_persons_data_in_the_answer_nor_the_logs(caplog):
    log, penalty = the_log()
    running = serve([routes_stats], log=log)
    try:
        with caplog.at_level(logging.DEBUG):
            answers = [running.send("GET", "/stats/disclosure?" + urllib.parse.urlencode({**QUERY, **extra}), "office")
                       for extra in ({}, {"by": "region"}, {"to": PERSON["id_number"]})]
    finally:
        running.close()
    assert [status for status, _, _ in answers] == [200, 200, 400]
    secrets = (PERSON["id_number"], PERSON["name"], penalty["subject"]["id"])  # the number, the name, the pseudonym
    assert not [s for s in secrets for _, _, body in answers if s in body.decode()]
    assert not [s for s in secrets for r in caplog.records if r.name != "aiohttp.access" and s in r.getMessage()]
