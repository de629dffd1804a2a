"""End to end, as a user does it: `credit-ledger up`, `credit-ledger publish FILE.jsonl`, HTTP."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from confluent_kafka import KafkaException

from ops.embedded_kafka import free_port
from ops.up import DEV_KEY_FILES
from projections.ids import make_resident_id, make_uscc
from streams import ledger_reader, topics
from streams.kafka_access import KafkaAccess
from tests.helpers import REPO, cli, http_json, wait_for

COMPANY = make_uscc("440703", 42)
AUTHORITY = make_uscc("440700", 3, "1", "1")
ID_NUMBER = make_resident_id("440703", date(1979, 8, 21), 5)
PERSON_NAME = "李秀英"


STOP_WITHIN_S = 90.0  # `up` gives its live demo, worker and broker 10, 20 and 20 s (+ a kill) to stop, in turn
# `up` makes its development keys when none is configured (whatever the environment running the tests has)
NO_KEYS = {f"CREDIT_LEDGER_{name}": "" for name in ("PSEUDONYM_KEY", "PSEUDONYM_KEY_FILE", "MASTER_KEY",
                                                    "MASTER_KEY_FILE")}


def start_up(data_dir, web_port, kafka_port, *extra, preexec_fn=None):
    log = (data_dir.parent / f"up-{web_port}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "up", "--data-dir", str(data_dir), "--web-port", str(web_port),
         "--kafka-port", str(kafka_port), *extra],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **NO_KEYS},
        preexec_fn=preexec_fn)


def tokens_of(data_dir) -> dict:
    """The development principals' tokens `up` wrote (supervisor, auditor, admin, publishers), and its
    Kafka users ("kafka": the worker's and the auditor's)."""
    path = data_dir / "tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return json.loads(path.read_text())


def up_kafka(data_dir, kafka_port: int, role: str) -> KafkaAccess:
    """`up`'s broker as `role` reaches it, with the credentials `up` wrote next to the tokens."""
    found = tokens_of(data_dir)["kafka"]
    assert found["mechanism"] == "SCRAM-SHA-512"
    return KafkaAccess(f"127.0.0.1:{kafka_port}", "SASL_PLAINTEXT", found["mechanism"], found[role]["username"],
                       found[role]["password"])


def check_csv_import(tmp_path, data_dir, url, admin):
    """A department's GB18030 penalty export (the 双公示 template), one row with an impossible date."""
    rows = list(csv.reader(io.StringIO((REPO / "tests/data/penalties.csv").read_text(encoding="utf-8-sig"))))
    header = [name.strip() for name in rows[0]]
    rows[1][header.index("处罚决定日期")] = "2025-02-30"
    code_column = next(i for i, name in enumerate(header) if name.startswith("行政相对人代码_1"))
    company = next(row[code_column] for row in rows[2:] if row[code_column])
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path = tmp_path / "penalties-gb18030.csv"
    path.write_bytes(buffer.getvalue().encode("gb18030"))
    done = cli("publish", str(path), "--format", "penalty-csv", "--web-url", url,
               env={"CREDIT_LEDGER_DATA_DIR": str(data_dir)})  # as the dev admin of tokens.json
    assert done.returncode == 1, done.stdout + done.stderr
    assert "5 published, 1 rejected" in done.stdout and "处罚决定日期" in done.stdout
    wait_for(lambda: (lambda status, file: status == 200 and file["events_by_type"].get("PenaltyImposed"))(
        *http_json(f"{url}/subjects/{company}", token=admin)), 60, what="the CSV's penalty folded")


def http_text(url: str) -> str:
    import urllib.request
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def wait_up_ready(up, url):
    def ready():
        assert up.poll() is None, f"`up` exited with {up.returncode}"
        return http_json(url + "/readyz")[0] == 200
    wait_for(ready, 180, what="up ready")


def java_processes_of(data_dir) -> list[str]:
    found = subprocess.run(["pgrep", "-af", "java"], capture_output=True, text=True).stdout.splitlines()
    return [line for line in found if str(data_dir) in line]


def jsonl(tmp_path):
    source = {"authority_code": AUTHORITY, "authority_name": "江门市市场监督管理局"}
    lines = [
        {"type": "SubjectRegistered", "subject": {"id": COMPANY, "kind": "LEGAL_PERSON", "name": "江门蓬江精工五金有限公司"},
         "source": source, "occurred_on": "2019-03-01", "payload": {"region_code": "440703", "registered_on": "2019-03-01"}},
        {"type": "PenaltyImposed", "subject": {"id": COMPANY, "kind": "LEGAL_PERSON"}, "source": source,
         "occurred_on": "2024-04-08", "payload": {"record_id": "JM-P-1", "decision_no": "江市监罚〔2024〕8号",
         "violation_type": "未按规定公示年报", "facts": "逾期未公示年度报告", "basis": "《企业信息公示暂行条例》",
         "penalty_kinds": ["WARNING", "FINE"], "fine_fen": 1_000_000, "severity": "GENERAL"}},
        {"type": "PenaltyImposed", "subject": {"id": COMPANY, "kind": "LEGAL_PERSON"}, "source": source,
         "occurred_on": "2024-02-30", "payload": {}},  # line 3: bad date, missing fields
        {"type": "SubjectRegistered", "subject": {"kind": "NATURAL_PERSON", "name": PERSON_NAME, "id_number": ID_NUMBER},
         "source": source, "occurred_on": "2020-01-01", "payload": {"region_code": "440703", "registered_on": "2020-01-01"}},
    ]
    path = tmp_path / "events.jsonl"
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n{not json\n"  # line 5
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
def test_up_publish_read_back_stop_and_restart(tmp_path):
    data_dir, web_port, kafka_port = tmp_path / "data", free_port(), free_port()
    url = f"http://127.0.0.1:{web_port}"
    up = start_up(data_dir, web_port, kafka_port)
    try:
        wait_up_ready(up, url)
        log_text = (data_dir.parent / f"up-{web_port}.log").read_text()
        keys = {path.name: path.read_bytes() for path in (data_dir / "keys").iterdir()}  # up's development keys
        assert sorted(keys) == sorted(DEV_KEY_FILES.values()) and all(len(key) >= 32 for key in keys.values())
        assert all(stat.S_IMODE((data_dir / "keys" / name).stat().st_mode) == 0o600 for name in keys)
        assert all(f"made a development key {data_dir / 'keys' / name}" in log_text for name in keys)
        # the data dir, the store, the broker's logs: nothing the machine's other users may read
        readable = [str(p) for p in [data_dir, *data_dir.rglob("*")] if stat.S_IMODE(p.lstat().st_mode) & 0o077]
        assert not readable and any((data_dir / "subjects").iterdir()), readable[:5]
        bootstrap = f"127.0.0.1:{kafka_port}"
        admin = tokens_of(data_dir)["admin"]
        # through the worker's edge, as the development admin (<data dir>/tokens.json)
        published = cli("publish", str(jsonl(tmp_path)), "--web-url", url, env={"CREDIT_LEDGER_DATA_DIR": str(data_dir)})
        assert published.returncode == 1, published.stdout + published.stderr  # two lines were rejected
        report = published.stdout
        assert "3 published, 2 rejected" in report
        assert "occurred_on" in report and "payload.record_id" in report and "json" in report
        file = wait_for(lambda: (lambda s, b: b if s == 200 and b["events_total"] == 2 else None)(
            *http_json(f"{url}/subjects/{COMPANY}", token=admin)), 60, what="company folded")
        assert file["events_by_type"] == {"PenaltyImposed": 1, "SubjectRegistered": 1}
        assert file["subject"]["name"] == "江门蓬江精工五金有限公司" and file["as_of"]["offset"] >= 1
        assert http_json(f"{url}/subjects/{make_uscc('440703', 43)}")[0] == 404
        # no plaintext ID number or name of the natural person anywhere: every byte of every topic
        worker = up_kafka(data_dir, kafka_port, "worker")
        raw = b"".join((k or b"") + (v or b"") for topic in topics.ALL
                       for *_, k, v, _ in ledger_reader.read_topic(worker, topic))
        assert ID_NUMBER.encode() not in raw and PERSON_NAME.encode() not in raw
        assert b"np-" in raw
        # invalid lines are on credit.rejected too, with their reasons
        rejected = list(ledger_reader.read_topic(worker, topics.REJECTED))
        assert len(rejected) >= 2
        # the broker is SASL/SCRAM with ACLs: the auditor reads the ledger, nobody without credentials does
        auditor = up_kafka(data_dir, kafka_port, "auditor")
        assert sum(high for _, high in ledger_reader.watermarks(auditor, topics.EVENTS).values()) >= 3
        with pytest.raises(KafkaException):
            ledger_reader.watermarks(KafkaAccess(bootstrap), topics.EVENTS, timeout_s=3)
        check_csv_import(tmp_path, data_dir, url, admin)
        # a fresh start says nothing alarming that is not: no error, no raw librdkafka line (%3|, %4|...)
        for text in ((data_dir.parent / f"up-{web_port}.log").read_text(), (data_dir / "worker.log").read_text()):
            assert "[ERROR]" not in text and not re.search(r"%[0-7]\|", text), text[-3000:]
    finally:
        assert stop_up(up, signal.SIGTERM) == 0
    assert java_processes_of(data_dir) == []  # no orphaned JVM

    # Kafka's data and the worker's state survive a restart in the same data dir
    up = start_up(data_dir, web_port, kafka_port)
    try:
        wait_up_ready(up, url)
        status, file = http_json(f"{url}/subjects/{COMPANY}", token=tokens_of(data_dir)["admin"])
        assert status == 200 and file["events_total"] == 2
        # ... and so do its keys: the same person keeps the same pseudonym, the same data keys open
        assert {path.name: path.read_bytes() for path in (data_dir / "keys").iterdir()} == keys
        assert "reusing the development key" in (data_dir.parent / f"up-{web_port}.log").read_text()
    finally:
        assert stop_up(up, signal.SIGINT) == 0
    assert java_processes_of(data_dir) == []


def ignore_sigint() -> None:
    """What a non-interactive shell does to a command it starts in the background (`cmd &`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def children_of(pid: int) -> list[int]:
    return [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]


def ignored_stop_signals(pid: int) -> list[str]:
    """Which of SIGINT and SIGTERM process `pid` ignores (SigIgn in /proc, a mask of signal numbers - 1)."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    mask = int(next(line for line in status if line.startswith("SigIgn:")).split()[1], 16)
    return [sig.name for sig in (signal.SIGINT, signal.SIGTERM) if mask >> (sig - 1) & 1]


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def stop_up(up: subprocess.Popen, sig: int) -> int | None:
    """`up`'s exit status once `sig` stopped it; None, and `up` killed, if it did not stop in time."""
    up.send_signal(sig)
    try:
        return up.wait(STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        up.kill()  # its broker and worker get SIGKILL too (PR_SET_PDEATHSIG)
        up.wait()
        return None


@pytest.mark.slow
def test_up_started_in_the_background_stops_on_sigint_and_on_sigterm(tmp_path):
    """Started by a script as `cmd &`, `up` inherits SIGINT ignored: either signal still stops it,
    broker and worker with it, and neither child inherits an ignored SIGINT or SIGTERM."""
    data_dir, web_port, kafka_port = tmp_path / "data", free_port(), free_port()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        up = start_up(data_dir, web_port, kafka_port, preexec_fn=ignore_sigint)
        try:
            wait_up_ready(up, f"http://127.0.0.1:{web_port}")
            children = children_of(up.pid)
            ignored = {pid: ignored_stop_signals(pid) for pid in children}
        finally:
            status = stop_up(up, stop_signal)
        assert status == 0, f"`up` did not stop on {stop_signal.name} within {STOP_WITHIN_S:.0f} s"
        assert len(children) == 2, children  # the broker and the worker
        assert ignored == {pid: [] for pid in children}
        assert [pid for pid in children if is_running(pid)] == []
        assert java_processes_of(data_dir) == []


def test_up_names_an_occupied_port(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = cli("up", "--data-dir", str(tmp_path), "--web-port", str(port), "--kafka-port", str(free_port()),
                   timeout_s=60)
    assert done.returncode == 1
    assert f"web port {port} is already in use" in done.stderr


def test_up_with_three_brokers_names_an_occupied_port_of_its_second_node(tmp_path):
    """`up --brokers 3`: its nodes listen from --kafka-port up in steps of 2; one of them taken is named, and
    nothing is left running. Two brokers are refused (both would have to be in sync: they survive nothing)."""
    first = free_port()
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", first + 2))
        holder.listen()
        done = cli("up", "--brokers", "3", "--data-dir", str(tmp_path / "data"), "--web-port", str(free_port()),
                   "--kafka-port", str(first), timeout_s=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"port {first + 2} is already in use" in done.stderr
    assert [] == [line for line in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
                  .splitlines() if "kafka.Kafka" in line and str(tmp_path) in line]
    two = cli("up", "--brokers", "2", "--data-dir", str(tmp_path / "data2"), timeout_s=60)
    assert two.returncode == 2 and "--brokers: 1 or 3" in two.stderr, two.stderr
    assert not (tmp_path / "data2").exists()


def test_an_unwritable_data_dir_is_named_before_anything_starts(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    data_dir = blocker / "data"
    for command in (["up", "--data-dir", str(data_dir), "--web-port", str(free_port()), "--kafka-port",
                     str(free_port())], ["worker"]):
        done = cli(*command, env={"CREDIT_LEDGER_DATA_DIR": str(data_dir), "CREDIT_LEDGER_KAFKA": "127.0.0.1:1"},
                   timeout_s=60)
        assert done.returncode == 1, command
        assert f"data dir {data_dir} is not writable" in done.stderr, (command, done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # no partial state anywhere


def test_check_id_names_the_character_and_the_rule():
    assert cli("check-id", COMPANY).returncode == 0
    bad = COMPANY[:-1] + ("0" if COMPANY[-1] != "0" else "1")
    done = cli("check-id", bad)
    assert done.returncode == 1 and "character 18" in done.stdout
    assert cli("check-id", ID_NUMBER).returncode == 0
    done = cli("check-id", ID_NUMBER[:10] + "0230" + ID_NUMBER[14:])
    assert done.returncode == 1 and "resident ID" in done.stdout


def test_deadline_counts_working_days_across_national_day_and_marks_provisional_years():
    done = cli("deadline", "2024-09-27")  # 9/29 (Sun) and 10/12 (Sat) are 调休 working days
    assert done.returncode == 0 and "due 2024-10-12" in done.stdout and "provisional" not in done.stdout
    done = cli("deadline", "2026-12-30", "--working-days", "3")
    assert done.returncode == 0 and "2027-01-05" in done.stdout and "provisional" in done.stdout
    done = cli("deadline", "2026-12-30", "-n", "3", "--calendar-overrides", "ops/calendar_overrides.example.toml")
    assert done.returncode == 0 and "provisional" not in done.stdout
    done = cli("deadline", "2024-02-30")
    assert done.returncode == 2 and "2024-02-30" in done.stderr


@pytest.mark.slow
def test_up_demo_prints_a_subject_whose_file_is_served(tmp_path):
    """What `make run` does: the demo dataset is published and a subject to open is printed; with
    --speed the clock runs fast, so penalties reach the end of their 3 years' publicity within seconds."""
    data_dir, web_port = tmp_path / "data", free_port()
    up = start_up(data_dir, web_port, free_port(), "--demo", "--speed", "10000000")
    log_path = data_dir.parent / f"up-{web_port}.log"
    try:
        line = wait_for(lambda: up.poll() is None and next(
            (l for l in log_path.read_text().splitlines() if "a demo subject:" in l), None), 180, what="demo subject")
        url = line.split("a demo subject:")[1].strip()
        tokens = tokens_of(data_dir)
        # printed once the demo is on the broker; the worker may still be folding it (a loaded machine)
        file = wait_for(lambda: (lambda status, body: body if status == 200 and body["events_total"] >= 3 else None)(
            *http_json(url, token=tokens["admin"])), 60, what="the demo subject's events folded")
        assert file["subject"]["name"]
        assert "demo: published" in log_path.read_text() and "10,000,000x real time" in log_path.read_text()
        base = url.split("/subjects/")[0]
        wait_for(lambda: 'credit_timers_fired_total{kind="PUBLICITY"}' in http_text(base + "/metrics"), 60,
                 what="PublicityEnded fired on the fast clock")
        _, timeliness = http_json(base + "/timeliness", token=tokens["supervisor"])
        assert sum(a["late"] for a in timeliness["authorities"].values()) > 0  # the demo's late 双公示
        # the live demo keeps telling new stories while `up` runs: the dashboard's numbers move
        # how to log in is printed, never a token: not in up's console, not in the worker's log
        assert f"{base}/dashboard (log in with the \"supervisor\" token in" in log_path.read_text()
        # a development subject per demo organisation (本人): its own file, and no other
        subject_id = url.split("/subjects/")[1]
        assert len(tokens["subjects"]) == 43 and subject_id in tokens["subjects"]  # 40 organisations, 3 people
        people = [s for s in tokens["subjects"] if s.startswith("np-")]
        assert len(people) == 3  # each by the pseudonym its file has in the ledger: it reads its own file
        wait_for(lambda: all(http_json(f"{base}/subjects/{p}", token=tokens["subjects"][p])[0] == 200 for p in people),
                 60, what="each person's own file, read with its own token")
        status, own = http_json(url, token=tokens["subjects"][subject_id])
        assert status == 200 and own["grade"]["letter"]
        other = next(s for s in sorted(tokens["subjects"]) if s != subject_id)
        assert http_json(f"{base}/subjects/{other}", token=tokens["subjects"][subject_id])[0] == 404
        assert http_json(f"{base}/subjects/{other}", token=tokens["subjects"][other])[0] == 200
        secrets = [tokens["supervisor"], tokens["auditor"], tokens["admin"], *tokens["publishers"].values(),
                   *tokens["subjects"].values()]
        for text in (log_path.read_text(), (data_dir / "worker.log").read_text()):
            assert not [token for token in secrets if token in text]
        _, first = http_json(base + "/dashboard/snapshot", token=tokens["supervisor"])
        wait_for(lambda: (lambda status, snap: status == 200 and snap["rates"]["per_s"] > 0
                          and snap["ledger"]["records"] > first["ledger"]["records"])(
            *http_json(base + "/dashboard/snapshot", token=tokens["supervisor"])), 60,
            what="the live demo's events on the dashboard")
    finally:
        assert stop_up(up, signal.SIGINT) == 0
