"""No command pseudonymises or reads natural persons' personal information without the deployment's keys:
it exits naming what to configure. Only `up` makes development keys (tests/e2e/test_up.py)."""
from __future__ import annotations

import json
from datetime import date

from projections.ids import make_resident_id, make_uscc
from tests.helpers import cli, test_keys_env

NO_KEYS = {"CREDIT_LEDGER_PSEUDONYM_KEY": "", "CREDIT_LEDGER_PSEUDONYM_KEY_FILE": "",
           "CREDIT_LEDGER_MASTER_KEY": "", "CREDIT_LEDGER_MASTER_KEY_FILE": "",
           "CREDIT_LEDGER_KAFKA": "127.0.0.1:1"}  # nothing is reached: the keys are checked first
SOURCE = {"authority_code": make_uscc("440700", 3, "1", "1"), "authority_name": "江门市市场监督管理局"}


def registration(subject: dict) -> dict:
    return {"type": "SubjectRegistered", "subject": subject, "source": SOURCE, "occurred_on": "2020-01-01",
            "payload": {"region_code": "440703", "registered_on": "2020-01-01"}}


def test_a_worker_without_a_pseudonym_key_exits_saying_what_to_configure(tmp_path):
    done = cli("worker", env={**NO_KEYS, "CREDIT_LEDGER_DATA_DIR": str(tmp_path / "data")}, timeout_s=60)
    assert done.returncode == 1, done.stderr
    assert "no pseudonym key configured" in done.stderr
    for setting in ("CREDIT_LEDGER_PSEUDONYM_KEY_FILE", "CREDIT_LEDGER_PSEUDONYM_KEY", "--pseudonym-key-file",
                    "pseudonym_key_file in credit-ledger.toml", "credit-ledger up"):
        assert setting in done.stderr, setting
    assert "Traceback" not in done.stderr and not (tmp_path / "data").exists()  # nothing started or written


def test_a_key_too_short_or_in_an_unreadable_file_is_named(tmp_path):
    short = cli("worker", env={**NO_KEYS, "CREDIT_LEDGER_PSEUDONYM_KEY": "short"}, timeout_s=60)
    assert short.returncode == 1 and "pseudonym key: 5 bytes; it needs at least 16" in short.stderr
    missing = tmp_path / "nowhere.key"
    gone = cli("worker", "--pseudonym-key-file", str(missing), env=NO_KEYS, timeout_s=60)
    assert gone.returncode == 1 and f"pseudonym key: cannot read {missing}" in gone.stderr


def test_a_worker_with_fold_processes_out_of_bounds_exits_naming_the_setting(tmp_path):
    for value in ("0", "17"):
        done = cli("worker", env={**NO_KEYS, **test_keys_env(), "CREDIT_LEDGER_FOLD_PROCESSES": value,
                                  "CREDIT_LEDGER_DATA_DIR": str(tmp_path / "data")}, timeout_s=60)
        assert done.returncode == 1 and f"error: setting fold_processes: {value} is not 1..16" in done.stderr
        assert "Traceback" not in done.stderr and not (tmp_path / "data").exists()


def test_replaying_a_file_that_names_a_person_needs_the_pseudonym_key(tmp_path):
    person = {"kind": "NATURAL_PERSON", "name": "李秀英", "id_number": make_resident_id("440703", date(1979, 8, 21), 5)}
    company = {"id": make_uscc("440703", 42), "kind": "LEGAL_PERSON", "name": "江门蓬江精工五金有限公司"}
    with_person, without = tmp_path / "person.jsonl", tmp_path / "company.jsonl"
    with_person.write_text(json.dumps(registration(person), ensure_ascii=False) + "\n", encoding="utf-8")
    without.write_text(json.dumps(registration(company), ensure_ascii=False) + "\n", encoding="utf-8")
    refused = cli("replay", "--from-file", str(with_person), env={**NO_KEYS, "CREDIT_LEDGER_DATA_DIR": str(tmp_path)})
    assert refused.returncode == 1 and "no pseudonym key configured" in refused.stderr  # nor one `up` made there
    assert cli("replay", "--from-file", str(without), env=NO_KEYS).returncode == 0  # nothing to pseudonymise
    done = cli("replay", "--from-file", str(with_person), "--json")  # the tests' deployment key
    assert done.returncode == 0 and next(iter(json.loads(done.stdout)["files"])).startswith("np-")
