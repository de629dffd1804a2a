"""Poison on the ledger itself (written past the edge): arbitrary bytes, truncated Avro, an unknown
schema fingerprint and a well-formed record with absurd values. Each lands on credit.rejected with
its partition, offset and reasons, the rejections are counted in /metrics, and the agent goes on
folding what comes after them, including batches compressed with each codec Kafka offers."""
from __future__ import annotations

import os
import random
import re
import urllib.request
from collections import Counter
from datetime import datetime, timedelta

from confluent_kafka import Producer

from ops.embedded_kafka import free_port
from projections.canonical import SHANGHAI
from projections.ids import make_uscc
from streams import ledger_reader, topics
from streams.codec import HEADER_BYTES, MAGIC, decode_rejection, encode_event
from projections.personal_data import rejection_digest
from streams.sdk import Publisher
from tests.helpers import Worker, deployment_pseudonym_key, wait_for

AUTHORITY = {"authority_code": make_uscc("320100", 61, "1", "1"), "authority_name": "南京市市场监督管理局"}


def test_poison_records_are_rejected_with_their_offsets_and_the_agent_goes_on(kafka, tmp_path):
    company = {"id": make_uscc("320102", random.randint(10_000, 900_000)), "kind": "LEGAL_PERSON",
               "name": "南京玄武毒性测试有限公司"}
    now = datetime.now(SHANGHAI)
    registered = {"event_id": "7d3f2a10-0000-4000-8000-000000000001", "type": "SubjectRegistered",
                  "subject": company, "source": AUTHORITY, "occurred_on": now.date().isoformat(),
                  "recorded_at": now.isoformat(), "classification": "PUBLIC",
                  "payload": {"region_code": "320102", "registered_on": "2012-03-04"}}
    valid = encode_event(registered)
    absurd = encode_event({**registered, "event_id": "7d3f2a10-0000-4000-8000-000000000002",
                           "occurred_on": (now + timedelta(days=365 * 500)).date().isoformat()})
    poison = {
        "arbitrary bytes": os.urandom(300),
        "truncated Avro": valid[: len(valid) // 2],
        "unknown fingerprint": MAGIC + b"\xde\xad\xbe\xef\xde\xad\xbe\xef" + valid[HEADER_BYTES:],
        "absurd values": absurd,  # an event occurring in 500 years: well-formed Avro, refused by the fold
    }
    worker = Worker(kafka.bootstrap, tmp_path / "worker", free_port()).start()
    try:
        rejected_before = rejected_by_rule(worker)  # what it counted of the log before the poison
        producer = Producer(kafka.config(partitioner="murmur2_random"))
        where: dict[str, tuple[int, int]] = {}
        for name, value in poison.items():
            producer.produce(topics.EVENTS, key=company["id"].encode(), value=value,
                             on_delivery=lambda err, msg, name=name: where.__setitem__(name, (msg.partition(),
                                                                                              msg.offset())))
        assert producer.flush(30) == 0 and len(where) == len(poison)
        with Publisher(worker.url, token=worker.tokens["admin"]) as publisher:  # after the poison, a good event
            publisher.publish({k: registered[k] for k in ("type", "subject", "source", "occurred_on", "payload")})
        wait_for(lambda: (worker.file(company["id"]) or {}).get("events_total") == 1, 60,
                 what="the event after the poison folded")
        # not poison: batches a bulk importer compressed must be read too (the worker once crashed on lz4)
        compressed = {}
        for n, compression in enumerate(("lz4", "zstd", "snappy", "gzip"), start=3):
            other = {**company, "id": make_uscc("320102", random.randint(10_000, 900_000))}
            compressed[compression] = other["id"]
            packer = Producer(kafka.config(**{"compression.type": compression, "partitioner": "murmur2_random"}))
            packer.produce(topics.EVENTS, key=other["id"].encode(), value=encode_event(
                {**registered, "subject": other, "event_id": f"7d3f2a10-0000-4000-8000-00000000000{n}"}))
            assert packer.flush(30) == 0
        wait_for(lambda: all((worker.file(s) or {}).get("events_total") == 1 for s in compressed.values()), 60,
                 what=f"events in {', '.join(compressed)} batches folded")

        def rejected():
            found = {}
            for *_, value, _ in ledger_reader.read_topic(kafka.access(), topics.REJECTED):
                r = decode_rejection(value)
                for name, position in where.items():
                    if (r["partition"], r["offset"]) == position:
                        found[name] = r
            return found if len(found) == len(poison) else None
        found = wait_for(rejected, 30, what="every poison record on credit.rejected")
        for name, rejection in found.items():
            assert rejection["topic"] == topics.EVENTS and rejection["reasons"], name
            assert all(reason["rule"] and reason["message"] for reason in rejection["reasons"]), name
            # what was refused, as its keyed digest (issue 28: never the bytes, they may be a person's)
            assert rejection["raw_digest"] == rejection_digest(deployment_pseudonym_key(), poison[name]), name
        assert found["absurd values"]["reasons"][0]["field"] == "occurred_on"
        assert found["absurd values"]["event_id"] == "7d3f2a10-0000-4000-8000-000000000002"
        for name in ("arbitrary bytes", "truncated Avro", "unknown fingerprint"):
            assert found[name]["reasons"][0]["rule"] == "avro" and found[name].get("event_id") is None, name
        assert "fingerprint" in found["unknown fingerprint"]["reasons"][0]["message"]

        # counted once per reason, by its rule: exactly the reasons of the poison's rejections were added
        # (read from credit.rejected), under their rules (counted only there: other tests' old rejections
        # were counted before, and a timer of an old subject may fire meanwhile)
        want = Counter(reason["rule"] for rejection in found.values() for reason in rejection["reasons"])
        def added() -> dict:
            counted = rejected_by_rule(worker) - rejected_before
            return {rule: counted[rule] for rule in want}
        wait_for(lambda: added() == dict(want) or None, 30, what=f"the rejections counted by rule: {dict(want)}")
        assert added() == dict(want)  # and no more (a count above it fails too)
    finally:
        worker.stop()


def rejected_by_rule(worker: Worker) -> Counter:
    """credit_events_rejected_total of the worker's /metrics (public, text), by its `reason` label."""
    with urllib.request.urlopen(worker.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    return Counter({rule: float(value) for rule, value in
                    re.findall(r'^credit_events_rejected_total\{reason="([^"]*)"\} (\S+)$', text, re.M)})
