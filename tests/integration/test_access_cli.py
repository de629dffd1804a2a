"""Against the real broker and a worker: `credit-ledger publish --token-file` sends the file to the worker's edge,
which binds the publisher to its authority (the refused line goes to credit.rejected with its reason)
and refuses a token it does not know; a natural person's name and ID number reach Kafka only sealed, and
`credit-ledger access-log` reads credit.access-log back."""
from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta

from confluent_kafka import Producer

from projections.access import AccessDecision, access_record
from projections.canonical import SHANGHAI, instant_text
from projections.ids import make_resident_id, make_uscc
from projections.personal_data import rejection_digest
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_event, decode_rejection, encode_access_record
from streams.pii import unseal
from ops.embedded_kafka import free_port
from tests.helpers import Worker, cli, deployment_pseudonym_key, test_key_store

OWN = {"authority_code": make_uscc("330100", 31, "1", "1"), "authority_name": "杭州市市场监督管理局"}
FOREIGN = {"authority_code": make_uscc("330100", 32, "1", "1"), "authority_name": "杭州市生态环境局"}


def test_publish_as_a_bound_publisher_seals_people_and_access_log_reads_back(kafka, tmp_path):
    rng = random.Random()
    name = "欧阳" + "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(3))
    id_number = make_resident_id("330106", date(1970, 1, 1) + timedelta(days=rng.randint(0, 15000)),
                                 rng.randint(0, 999))
    company = {"id": make_uscc("330106", rng.randint(10_000, 900_000)), "kind": "LEGAL_PERSON",
               "name": "杭州测试有限公司"}
    today = datetime.now(SHANGHAI).date().isoformat()
    registered = {"region_code": "330106", "registered_on": "2001-01-01"}
    lines = [
        {"type": "SubjectRegistered", "subject": company, "source": OWN, "occurred_on": today, "payload": registered},
        {"type": "SubjectRegistered", "subject": company, "source": FOREIGN, "occurred_on": today,
         "payload": registered},
        {"type": "SubjectRegistered", "subject": {"kind": "NATURAL_PERSON", "name": name, "id_number": id_number},
         "source": OWN, "occurred_on": today, "payload": registered},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    worker = Worker(kafka.bootstrap, tmp_path, free_port(), authority_codes=[OWN["authority_code"]]).start()
    env = {"CREDIT_LEDGER_KAFKA": kafka.bootstrap, "CREDIT_LEDGER_DATA_DIR": str(tmp_path),
           "CREDIT_LEDGER_WEB_PORT": worker.url.rsplit(":", 1)[1]}
    try:
        token_file = tmp_path / "publisher.token"
        token_file.write_text(worker.tokens["publishers"][OWN["authority_code"]] + "\n")
        done = cli("publish", str(path), "--token-file", str(token_file), env=env)
        assert done.returncode == 1, done.stdout + done.stderr  # one line refused
        assert "2 published, 1 rejected" in done.stdout and "publisher_authority" in done.stdout
        for token, reason in (("A" * 43, "unknown token"), ("not a token", "malformed token")):
            refused = cli("publish", str(path), env={**env, "CREDIT_LEDGER_TOKEN": token})
            assert refused.returncode == 2 and f"error: the token: {reason}" in refused.stderr, refused.stderr
            assert "HTTP 401" in refused.stderr
    finally:
        worker.stop()

    key_store = test_key_store(kafka.bootstrap)  # the deployment's: the worker's own is gone with it
    sealed = []
    for topic in (topics.EVENTS, topics.REJECTED):
        for *_, key, value, _ in ledger_reader.read_topic(kafka.access(), topic):
            blob = (key or b"") + (value or b"")
            for secret in (name, id_number):
                assert secret.encode("utf-8") not in blob and secret.encode("gb18030") not in blob
            try:
                event = decode_event(value or b"")
            except CodecError:
                continue
            if event["subject"].get("pii") and event["source"] == OWN:
                sealed.append(event)
    mine = [e for e in sealed if unseal(key_store, e["subject"]["id"], e["subject"]["pii"]).get("name") == name]
    assert len(mine) == 1 and unseal(key_store, mine[0]["subject"]["id"], mine[0]["subject"]["pii"]) == {
        "name": name, "id_number": id_number}
    refused = [decode_rejection(v) for *_, v, _ in ledger_reader.read_topic(kafka.access(), topics.REJECTED)]
    refused_line = rejection_digest(deployment_pseudonym_key(), json.dumps(lines[1], ensure_ascii=False).encode())
    assert any(r["reasons"][0]["rule"] == "publisher_authority" and r.get("raw_digest") == refused_line
               for r in refused if r["reasons"])

    decision = AccessDecision("dev-supervisor", "supervisor", None, company["id"], "read_file", True,
                              "role supervisor", ("P-1",))
    producer = Producer(kafka.config())
    producer.produce(topics.ACCESS_LOG, key=b"dev-supervisor", value=encode_access_record(
        access_record(decision, "GET /subjects/{id}", instant_text(datetime.now(SHANGHAI)))))
    assert producer.flush(30) == 0
    done = cli("access-log", "--subject", company["id"], "--json", env=env)
    assert done.returncode == 0, done.stderr
    (read,) = json.loads(done.stdout)
    assert read["principal"] == "dev-supervisor" and read["record_ids"] == ["P-1"]
