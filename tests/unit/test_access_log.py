"""`credit-ledger access-log`: the newest reads of a file, oldest first, from credit.access-log."""
from __future__ import annotations

import io
import json

from rich.console import Console

from ops.access_log import CANNOT_READ, OK, access_records, run_access_log
from streams import codec, topics


def record(n: int, subject: str, at: str, **fields) -> dict:
    return {"principal": f"p{n}", "role": "supervisor", "authority_code": None, "subject_id": subject,
            "action": "read_file", "record_ids": [f"R-{n}"], "record_count": 1, "reason": "role supervisor",
            "endpoint": "GET /subjects/{id}", "at": at, **fields}


READS = [record(1, "A", "2025-06-30T10:00:02+08:00"), record(2, "B", "2025-06-30T10:00:01+08:00"),
         record(3, "A", "2025-06-30T10:00:00.500000+08:00"),
         record(4, "A", "2025-06-30T02:00:03+00:00", reason="[red]not markup[/red]")]


def topic(reads=READS):
    """(partition, offset, key, value, timestamp) as ledger_reader.read_topic yields them."""
    rows = [(n % 2, n, r["principal"].encode(), codec.encode_access_record(r), 0) for n, r in enumerate(reads)]
    return rows + [(0, 99, None, b"not an access record", 0)]


def test_filtered_by_subject_oldest_first_and_bounded():
    shown, undecodable = access_records(topic(), "A", limit=10)
    assert [r["principal"] for r in shown] == ["p3", "p1", "p4"] and undecodable == 1
    assert shown[-1]["at"] == "2025-06-30T10:00:03+08:00"  # instants come back in +08:00
    newest, _ = access_records(topic(), None, limit=2)
    assert [r["principal"] for r in newest] == ["p1", "p4"]


def run(**options) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    calls = []

    def read(bootstrap, name):
        calls.append((bootstrap, name))
        return topic()

    code = run_access_log(bootstrap="broker:9092", out=Console(file=out, width=250), err=Console(file=err, width=250),
                          read=read, **{"subject": None, "as_json": False, "limit": 10, **options})
    assert calls in ([], [("broker:9092", topics.ACCESS_LOG)])
    return code, out.getvalue(), err.getvalue()


def test_the_table_and_the_json(capsys):
    code, out, err = run(subject="A")
    assert code == OK and "3 non-public read(s) of A" in out and "[red]not markup[/red]" in out
    assert "1 record(s)" in err
    code, _, _ = run(as_json=True)
    assert code == OK
    assert [r["principal"] for r in json.loads(capsys.readouterr().out)] == ["p3", "p2", "p1", "p4"]


def test_a_bad_limit():
    code, _, err = run(limit=0)
    assert code == CANNOT_READ and "--limit" in err
