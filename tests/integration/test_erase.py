"""`credit-ledger erase` end to end: two workers with their own data dirs share the ledger and the key store;
the erase goes through one, the other (which folds the person) can no longer read the name or number, nor can
any process started afterwards. Only the admin may; the act is on credit.access-log and credit.events; the
credit file still folds, its grade unchanged."""
from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from ops.embedded_kafka import free_port
from projections.canonical import SHANGHAI
from projections.ids import make_resident_id, make_uscc
from projections.pseudonym import pseudonym
from streams import ledger_reader, topics
from streams.codec import decode_access_record
from streams.pii import PersonalInfoErased, unseal
from streams.sdk import Publisher
from tests.helpers import Worker, cli, http_json, test_key_store, test_keys_env, wait_for

SOURCE = {"authority_code": make_uscc("330100", 43, "1", "1"), "authority_name": "杭州市市场监督管理局"}
REASON = "本人申请删除（个人信息保护法第四十七条），杭信删〔2026〕3号"


def person_story(name: str, id_number: str) -> list[dict]:
    today = datetime.now(SHANGHAI).date()
    person = {"kind": "NATURAL_PERSON", "name": name, "id_number": id_number}
    return [{"type": "SubjectRegistered", "subject": person, "source": SOURCE, "occurred_on": "2020-01-01",
             "payload": {"region_code": "330106", "registered_on": "2020-01-01"}},
            {"type": "PenaltyImposed", "subject": person, "source": SOURCE,
             "occurred_on": (today - timedelta(days=2)).isoformat(),
             "payload": {"record_id": "E-P-1", "decision_no": "杭市监罚〔2026〕31号", "violation_type": "无照经营",
                         "facts": "未取得营业执照从事经营", "basis": "《无证无照经营查处办法》第十三条",
                         "penalty_kinds": ["FINE"], "fine_fen": 200_000, "severity": "GENERAL"}}]


def erase_as(worker: Worker, person: str, token: str | None) -> int:
    return http_json(f"{worker.url}/subjects/{person}/personal-info/erase", data=json.dumps({"reason": REASON}).encode(),
                     token=token)[0]


def test_an_erase_through_one_worker_holds_in_the_other_and_everywhere(kafka, tmp_path):
    rng = random.Random()
    name = "诸葛" + "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(2))
    id_number = make_resident_id("330106", date(1975, 1, 1) + timedelta(days=rng.randint(0, 9000)), rng.randint(0, 999))
    key = Path(test_keys_env()["CREDIT_LEDGER_PSEUDONYM_KEY_FILE"]).read_text().strip().encode()
    person = pseudonym(id_number, key)
    first = Worker(kafka.bootstrap, tmp_path / "first", free_port(), authority_codes=[SOURCE["authority_code"]]).start()
    second = Worker(kafka.bootstrap, tmp_path / "second", free_port()).start()  # its own data dir and tokens
    try:
        with Publisher(first.url, token=first.tokens["admin"]) as publisher:  # first's edge seals the person
            assert publisher.publish_many(person_story(name, id_number)).ok

        def holder() -> Worker | None:  # the worker folding the person's partition, once it has both events
            return next((w for w in (first, second) if (w.file(person) or {}).get("events_total") == 2), None)
        folding = wait_for(holder, 90, what="the person folded")
        other = second if folding is first else first
        status, seen = folding.get(f"/subjects/{person}", role="supervisor")
        assert seen["subject"]["personal_info"]["status"] == "AVAILABLE" and seen["subject"]["personal_info"]["name"] == name
        grade_before = folding.get(f"/subjects/{person}/grade", role="supervisor")[1]

        # only the admin may: every other role gets 403, the public too, and nothing is erased
        tokens = other.tokens
        for token in (tokens["supervisor"], tokens["auditor"], None,
                      *([tokens["publishers"][SOURCE["authority_code"]]] if other is first else [])):
            assert erase_as(other, person, token) == 403
        assert folding.get(f"/subjects/{person}", role="supervisor")[1]["subject"]["personal_info"]["status"] == "AVAILABLE"

        # the erase goes through the worker that does not fold the person, as its development admin
        done = cli("erase", person, "--reason", REASON, "--web-url", other.url,
                   env={"CREDIT_LEDGER_DATA_DIR": str(other.data_dir), "CREDIT_LEDGER_KAFKA": kafka.bootstrap})
        assert done.returncode == 0, done.stderr
        assert f"{person}: personal information erased at" in done.stdout and "1 key(s) destroyed" in done.stdout

        # the worker folding the person reads neither name nor number any more; the file folds on, same grade
        file = wait_for(lambda: (lambda f: f if f and f["events_by_type"].get("PersonalInfoErased") else None)(
            folding.get(f"/subjects/{person}", role="supervisor")[1]), 60, what="PersonalInfoErased folded")
        assert file["subject"]["personal_info"]["status"] == "ERASED" and name not in json.dumps(file, ensure_ascii=False)
        assert file["records"] == seen["records"] and file["subject"]["personal_info_erased_on"]
        assert folding.get(f"/subjects/{person}/grade", role="supervisor")[1] == grade_before

        # nor does any process of the deployment started afterwards, from what the log holds
        history = folding.get(f"/subjects/{person}/history", role="auditor")[1]["history"]
        sealed = [h["event"]["subject"]["pii"] for h in history if h["event"]["subject"].get("pii")]
        assert len(sealed) == 2
        later = test_key_store(kafka.bootstrap)
        for blob in sealed:
            with pytest.raises(PersonalInfoErased):
                unseal(later, person, blob)
        assert later.erasure(person)["reason"] == REASON and later.erasure(person)["requested_by"] == "dev-admin"
        later.close()
        erasure = next(h["event"] for h in history if h["event"]["type"] == "PersonalInfoErased")
        assert erasure["payload"] == {"reason": REASON, "requested_by": "dev-admin", "keys_erased": 1}

        # the act is on the access log, with its reason; nowhere is the name or number in clear
        records = [decode_access_record(v) for *_, v, _ in ledger_reader.read_topic(kafka.access(), topics.ACCESS_LOG)]
        assert any(r["action"] == "erase_personal_info" and r["subject_id"] == person and REASON in r["reason"]
                   for r in records)
        everything = b"".join((k or b"") + (v or b"") for topic in topics.ALL
                              for *_, k, v, _ in ledger_reader.read_topic(kafka.access(), topic))
        for secret in (name, id_number):
            assert secret.encode() not in everything and secret.encode("gb18030") not in everything

        # asked again: nothing more to erase, and the same event, which the fold takes as a duplicate
        again = cli("erase", person, "--reason", "再次申请", "--web-url", folding.url,
                    env={"CREDIT_LEDGER_DATA_DIR": str(folding.data_dir), "CREDIT_LEDGER_KAFKA": kafka.bootstrap})
        assert again.returncode == 0 and "it was erased before" in again.stdout, again.stderr
        wait_for(lambda: folding.get(f"/subjects/{person}", role="auditor")[1]["chain"]["length"] == 3, 30,
                 what="the erasure folded once")
        unknown = cli("erase", "np-" + "0" * 32, "--reason", REASON, "--web-url", folding.url,
                      env={"CREDIT_LEDGER_DATA_DIR": str(folding.data_dir), "CREDIT_LEDGER_KAFKA": kafka.bootstrap})
        assert unknown.returncode == 1 and "nothing to erase" in unknown.stderr
    finally:
        second.stop()
        first.stop()
