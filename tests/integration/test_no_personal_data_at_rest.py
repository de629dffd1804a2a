"""Issue 28, end to end: after a scenario with a natural person, valid, invalid, duplicated, rule-broken and
cross-authority events, the number in a free-text field, a lower-case kind, the number as subject.id and
JSON-escaped keys, published through the CLI to a real worker on a real broker of its own, no byte of the
person's ID number, name or birth date (YYYYMMDD) is anywhere: not in any segment of any topic in the broker's
log dir, read with Kafka's own DumpLogSegments (which decompresses every batch), not in what the consumers
read and decode, not in the worker's log or the CLI's output, not in /metrics (nor /metrics/authorities).

The scan can fail: markers planted in non-personal fields (a record id, a CJK violation type, a type the
edge refuses, an authority code in /metrics/authorities) must be found by the same scan in the same places."""
from __future__ import annotations

import json
import random
import re
import subprocess
import urllib.request
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from ops.embedded_kafka import ensure_kafka_jars, ensure_topics, free_port
from projections.canonical import SHANGHAI
from projections.ids import make_resident_id, make_uscc
from projections.pseudonym import pseudonym
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_event, decode_rejection
from tests.helpers import Worker, cli, deployment_pseudonym_key, test_broker, wait_for

DUMP_TIMEOUT_S = 120
NUMBERED = re.compile(r"[A-Za-z]+: -?[0-9]+")  # baseOffset: 0, CreateTime: 1796576232138, crc: 123 ...
CJK = [chr(c) for c in range(0x4E00, 0x9FA5)]


def person(rng: random.Random) -> tuple[str, str]:
    """A distinctive name (a rare surname and three random characters) and an ID number born on a random day."""
    name = "司徒" + "".join(rng.choice(CJK) for _ in range(3))
    born = date(1931, 1, 1) + timedelta(days=rng.randrange(25_000))
    return name, make_resident_id(rng.choice(["110105", "440305", "650102"]), born, rng.randrange(1000))


def wrong_check(number: str) -> str:
    return number[:17] + ("1" if number[17] == "0" else "0")


def scenario(name: str, number: str, a: dict, b: dict, marks: dict) -> tuple[list[str], list[str]]:
    """(lines an admin publishes, lines publisher A publishes): every case of the issue, as JSON text."""
    today = datetime.now(SHANGHAI).date().isoformat()
    natural = {"kind": "NATURAL_PERSON", "name": name, "id_number": number}

    def penalty(**payload):
        number_of_decision = f"京市监罚〔2025〕{payload.get('record_id', marks['record_id'])}号"
        return {"record_id": marks["record_id"], "decision_no": number_of_decision, "violation_type": marks["cjk"],
                "facts": "在经营场所发布虚假广告", "basis": "《中华人民共和国广告法》第五十五条",
                "penalty_kinds": ["FINE"], "fine_fen": 500_000, "severity": "GENERAL", **payload}

    def line(subject=natural, type_="PenaltyImposed", source=a, **payload) -> str:
        return json.dumps({"event_id": str(uuid.uuid4()), "type": type_, "subject": subject, "source": source,
                           "occurred_on": today, "payload": payload or penalty()}, ensure_ascii=False)
    valid = line()
    escaped = json.dumps({"event_id": str(uuid.uuid4()), "type": "PenaltyImposed", "subject": natural, "source": a,
                          "occurred_on": today, "payload": penalty(record_id=marks["record_id"] + "-E")})
    escaped = escaped.replace('"id_number"', '"id\\u005fnumber"').replace('"name"', '"n\\u0061me"', 1)
    admin = [
        valid,
        valid,  # the same event again: a duplicate, applied once
        escaped,  # JSON-escaped keys and name (ensure_ascii): a valid event, sealed
        escaped.replace("NATURAL_PERSON", "natural\\u005fperson"),  # the same with a lower-case kind: refused
        line({**natural, "id_number": wrong_check(number)}),  # a bad check character
        line({**natural, "kind": "natural_person"}),  # a lower-case kind
        line({"kind": "NATURAL_PERSON", "id": number, "name": name}),  # the number as subject.id
        line({"kind": "LEGAL_PERSON", "id": number, "name": name}),  # the number as an organisation's code
        line(**penalty(record_id=marks["record_id"] + "-F", facts=f"当事人身份证号{number}，发布虚假广告")),
        line(**penalty(record_id=marks["record_id"] + "-N", facts=f"当事人{name}发布虚假广告")),
        line(type_="PenaltyFulfilled", record_id="NO-SUCH-RECORD"),  # accepted, then refused by the fold
        line(type_="PenaltyRevoked", source=b, record_id=marks["record_id"], reason="复议撤销"),  # another authority's
        line(type_=marks["type"]),  # a type the edge refuses, quoted in the reason: a planted marker
    ]
    return admin, [line(source=b)]  # a publisher of A writing as B: refused (403)


def dump_segments(log_dir: Path) -> str:
    """The key and payload of every record of every segment under `log_dir`, as Kafka's DumpLogSegments prints
    them (batches decompressed), UTF-8."""
    segments = sorted(str(p) for p in log_dir.glob("*/*.log"))
    assert any("credit.events-" in s for s in segments) and any("credit.rejected-" in s for s in segments), segments
    java = subprocess.run(["java", "-Dfile.encoding=UTF-8", "-Dsun.stdout.encoding=UTF-8", "-cp",
                           f"{ensure_kafka_jars()}/*", "kafka.tools.DumpLogSegments", "--print-data-log",
                           "--files", ",".join(segments)], capture_output=True, timeout=DUMP_TIMEOUT_S)
    assert java.returncode == 0, java.stderr.decode(errors="replace")[-2000:]
    out = java.stdout.decode("utf-8", errors="replace")
    # the records' own bytes (which may hold newlines) with the tool's numbers taken out: offsets, CRCs,
    # sizes and timestamps could hold any 8 digits; the paths of the segments too
    return NUMBERED.sub("", "\n".join(line for line in out.split("\n") if not line.startswith("Dumping ")))


def decoded_topics(kafka_admin) -> str:
    """Every record of every ledger topic as the consumers read it, and the events and rejections decoded."""
    texts = []
    for topic in topics.ALL:
        for *_, key, value, _ in ledger_reader.read_topic(kafka_admin, topic):
            texts.append((key or b"").decode("utf-8", "replace") + (value or b"").decode("utf-8", "replace"))
            for decode in (decode_event, decode_rejection):
                try:
                    texts.append(json.dumps(decode(value or b""), ensure_ascii=False, default=str))
                except CodecError:
                    continue
    return "\n".join(texts)


def forbidden(name: str, number: str) -> list[str]:
    born = number[6:14]
    return [number[:17], wrong_check(number)[:17], born, f"{born[:4]}-{born[4:6]}-{born[6:]}", name,
            json.dumps(name)[1:-1], name.encode("utf-8").hex()]


@pytest.mark.kafka
def test_no_id_number_name_or_birth_date_anywhere_at_rest(tmp_path):
    rng = random.Random()
    name, number = person(rng)
    tag = "".join(rng.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(8))  # letters: a quoted value keeps them
    marks = {"record_id": f"PLANT-{tag}", "cjk": "植入标记" + "".join(rng.choice(CJK) for _ in range(3)),
             "type": f"PlantedType{tag}"}
    a = {"authority_code": make_uscc("110105", rng.randrange(10**6), "1", "1"), "authority_name": "北京市朝阳区市场监督管理局"}
    b = {"authority_code": make_uscc("110105", 10**6 + rng.randrange(10**6), "1", "1"),
         "authority_name": "北京市朝阳区生态环境局"}
    broker = test_broker(tmp_path / "kafka", port=free_port()).start()
    worker = None
    try:
        ensure_topics(broker.admin_access)
        worker = Worker(broker.bootstrap, tmp_path / "worker", free_port(),
                        authority_codes=[a["authority_code"], b["authority_code"]]).start()
        env = worker.env
        admin_lines, publisher_lines = scenario(name, number, a, b, marks)
        outputs = []
        for lines, token, published in ((admin_lines, worker.tokens["admin"], 5),
                                        (publisher_lines, worker.tokens["publishers"][a["authority_code"]], 0)):
            path = tmp_path / f"events-{len(outputs)}.jsonl"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            done = cli("publish", str(path), env={**env, "CREDIT_LEDGER_TOKEN": token})
            outputs.append(done.stdout + done.stderr)
            assert done.returncode == 1 and f"{published} published, {len(lines) - published} rejected" in done.stdout, \
                outputs[-1][-3000:]
        subject_id = pseudonym(number, deployment_pseudonym_key())
        file = wait_for(lambda: (lambda f: f if f and f.get("rejected_total", 0) >= 2 else None)(
            worker.file(subject_id)), 60, what="the fold's two rejections (an unknown record, another authority's record)")
        assert file["events_total"] == 2 and file["rejected_total"] == 2, {k: file.get(k) for k in (
            "events_total", "rejected_total", "rejected")}  # the valid one (its copy a duplicate) and the escaped one
        metrics = ""
        for path, headers in (("/metrics", {}), ("/metrics/authorities",  # the per-authority counts, a supervisor's
                                                 {"Authorization": f"Bearer {worker.tokens['supervisor']}"})):
            with urllib.request.urlopen(urllib.request.Request(worker.url + path, headers=headers),
                                        timeout=10) as response:
                metrics += response.read().decode()
    finally:
        if worker is not None:
            worker.stop()
        dumped = dump_segments(broker.data_dir / "kafka-logs")
        decoded = decoded_topics(broker.admin_access)
        broker.stop()
    places = {"segments": dumped, "decoded records": decoded, "worker log": worker.log_path.read_text(errors="replace"),
              "CLI output": "\n".join(outputs), "metrics": metrics}
    # the scan sees what it scans: the planted markers are where they were put
    for mark in (marks["record_id"], marks["cjk"], marks["type"]):
        assert mark in places["segments"] and mark in places["decoded records"], mark
    assert marks["type"] in places["CLI output"] and a["authority_code"] in places["metrics"]
    assert "personal_identifier" in places["CLI output"] and "credit_events_rejected_total" in places["metrics"]
    for where, text in places.items():
        found = [secret for secret in forbidden(name, number) if secret in text]
        assert not found, f"{where} holds {len(found)} personal value(s) of the scenario's natural person"
