"""Bad input through the command line (issue 26, part 3): `publish` and `replay --from-file` reject a
line that is not UTF-8, nests 1,000 deep or holds a number JSON cannot carry, name it, and go on with
the others; dates beyond the calendar are a clean exit 2 naming the option and the range; event text
with rich markup or ANSI escapes is printed literally. Run in-process (typer's runner): `publish` sends
its lines to a real worker's edge over HTTP (POST /events:batch) on the test broker; the others need
no broker at all.
"""
from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from ops.cli import app
from ops.embedded_kafka import free_port
from projections.ids import make_uscc
from projections.personal_data import rejection_digest
from streams import ledger_reader, topics
from streams.codec import CodecError, decode_event, decode_rejection
from tests.helpers import Worker, deployment_pseudonym_key, wait_for
from tests.unit import events as ev
from tests.unit.test_templates import PERMITS, rows_of, to_csv

HOSTILE = "[/] [bold red]x[/bold red] [link=https://example.com]y[/link] \x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b[2J"
COMPANY = make_uscc("410105", 4242)


@pytest.fixture(scope="module")
def worker(kafka, tmp_path_factory):
    """The worker whose edge `publish` sends to (started only for the tests that publish)."""
    running = Worker(kafka.bootstrap, tmp_path_factory.mktemp("bad-input"), free_port()).start()
    yield running
    running.stop()


@pytest.fixture()
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("CREDIT_LEDGER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CREDIT_LEDGER_KAFKA", "127.0.0.1:1")

    def invoke(*args: str):
        result = CliRunner().invoke(app, list(args))
        assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
            result.stdout + result.stderr  # a clean exit, never a traceback
        assert "Traceback" not in result.stdout + result.stderr
        return result
    return invoke


def events_file(tmp_path, marker: str = "P-1"):
    """Lines: 1 good, 2 not UTF-8, 3 nested 1,000 deep, 4 a 5,000-digit integer, 5 NaN, 6 hostile text that
    is valid (published), 7 hostile text that is not (rejected, its message quoting it). `marker`: the good
    and hostile events' record ids."""
    good = json.dumps(ev.event(payload=ev.penalty_payload(record_id=marker)), ensure_ascii=False).encode()
    hostile = ev.event(payload=ev.penalty_payload(record_id=f"{marker}-X", decision_no="D-" + HOSTILE[:60],
                                                  facts=HOSTILE),
                       subject={"id": COMPANY, "kind": "LEGAL_PERSON", "name": HOSTILE[:100]})
    invalid = ev.event(payload=ev.penalty_payload(record_id="P-Y", severity=HOSTILE), subject=hostile["subject"])
    lines = [good, good.replace("虚假宣传".encode(), b"\xff\xfe"), b'{"type": ' + b"[" * 1000 + b"]" * 1000 + b"}",
             good.replace(b"5000000", b"9" * 5000), good.replace(b"5000000", b"NaN"),
             json.dumps(hostile, ensure_ascii=False).encode(), json.dumps(invalid, ensure_ascii=False).encode()]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    return path


def to_the_edge(worker: Worker) -> tuple[str, ...]:
    token_file = worker.data_dir / "admin.token"  # a token is never on the command line (`ps` shows it)
    token_file.write_text(worker.tokens["admin"] + "\n")
    return "--web-url", worker.url, "--token-file", str(token_file)


def test_publish_rejects_the_bad_lines_by_line_field_and_rule_and_publishes_the_rest(run, tmp_path, worker, kafka):
    marker = f"P-{uuid.uuid4().hex[:12]}"
    path = events_file(tmp_path, marker)
    done = run("publish", str(path), *to_the_edge(worker))
    assert done.exit_code == 1
    assert "2 published, 5 rejected, 0 not delivered" in done.stdout
    table = {tuple(line.split()[:3]) for line in done.stdout.splitlines()}
    assert {("2", "payload.violation_type", "encoding"), ("3", "$", "nesting"), ("4", "payload.fine_fen", "number"),
            ("5", "payload.fine_fen", "number"), ("7", "payload.severity", "enum")} <= table
    assert "\x1b" not in done.stdout and "'[/] [bold red]x[/bold red]" in done.stdout
    # in the ledger: the two good lines on credit.events, the five bad ones on credit.rejected, each once
    published = []
    for *_, value, _ in ledger_reader.read_topic(kafka.access(), topics.EVENTS):
        try:
            event = decode_event(value)
        except CodecError:  # other tests' poison
            continue
        if event["payload"].get("record_id", "").startswith(marker):
            published.append(event["payload"]["record_id"])
    assert sorted(published) == [marker, f"{marker}-X"]
    lines = path.read_bytes()[3:].split(b"\n")
    key = deployment_pseudonym_key()  # the worker's: a rejection keeps the keyed digest of a line, not the line

    def rejected():
        digests = [decode_rejection(v).get("raw_digest")
                   for *_, v, _ in ledger_reader.read_topic(kafka.access(), topics.REJECTED)]
        found = [n for n in (2, 3, 4, 5, 7) if rejection_digest(key, lines[n - 1]) in digests]
        return found if len(found) == 5 else None
    wait_for(rejected, 30, what="the five rejected lines on credit.rejected")


def test_publish_csv_rejects_the_row_with_unreadable_bytes_and_imports_the_others(run, tmp_path, worker):
    rows = rows_of(PERMITS)
    rows[1]["许可内容"] = "MARK" + rows[1]["许可内容"]
    path = tmp_path / "permits.csv"
    path.write_bytes(to_csv(rows).decode().encode("gb18030").replace(b"MARK", b"\xff"))  # GB18030, one bad byte
    done = run("publish", str(path), "--format", "permit-csv", *to_the_edge(worker))
    assert done.exit_code == 1 and f"{len(rows) - 1} published, 1 rejected" in done.stdout
    (line,) = [line for line in done.stdout.splitlines() if "encoding" in line]
    assert line.split()[:3] == ["3", "许可内容", "encoding"] and "0xff" in line and "GB18030" in line


def test_replay_reports_each_bad_line_and_folds_the_others_printing_event_text_literally(run, tmp_path):
    done = run("replay", "--from-file", str(events_file(tmp_path)))
    assert done.exit_code == 0
    for expected in ("line 2: payload.violation_type: byte 0xff", "[encoding]", "line 3: $: nested deeper",
                     "line 4: payload.fine_fen: an integer of 5000 digits", "line 5: payload.fine_fen: NaN"):
        assert expected in done.stderr.replace("\n", " ")
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "\\x1b[31mred\\x1b[0m" in done.stdout  # the subject's name in the table
    assert "'[/] [bold red]x[/bold red]" in done.stdout.replace("\n", " ")  # the rejection's message (rich had raised)
    grade = run("grade", COMPANY, "--from-file", str(events_file(tmp_path)))
    assert grade.exit_code == 0 and "\x1b" not in grade.stdout and "D-[/] [bold" in grade.stdout


@pytest.mark.parametrize("args, option", [
    (("replay", "--from-file", "{file}", "--clock", "9999-12-31T23:59:59-12:00"), "--clock"),
    (("replay", "--from-file", "{file}", "--clock", "0001-01-01T00:00:00+14:00"), "--clock"),
    (("grade", COMPANY, "--from-file", "{file}", "--at", "0001-01-01"), "--at"),
    (("history", COMPANY, "--as-of", "9999-12-31T23:59:59+14:00"), "--as-of"),  # refused before Kafka is asked
    (("history", COMPANY, "--as-of", "10000-01-01"), "--as-of"),
    (("history", COMPANY, "--valid-at", "-1"), "--valid-at"),
    (("history", COMPANY, "--valid-at", "9" * 10_000), "--valid-at"),
    (("deadline", "9999-12-30"), "DATE"),
])
def test_dates_beyond_the_calendar_are_an_exit_2_naming_the_option_and_the_range(run, tmp_path, args, option):
    path = events_file(tmp_path)
    done = run(*(a.replace("{file}", str(path)) for a in args))
    assert done.exit_code == 2 and done.stderr.startswith(f"error: {option}: ")
    assert "1949-10-01..2099-12-31" in done.stderr.replace("\n", "") and len(done.stderr) < 400


@pytest.mark.parametrize("args, option, words", [
    (("--destination", "省平台"), "--destination", "1 to 40 of a-z, 0-9, - and _"),
    (("--destination", "p" * 41), "--destination", "1 to 40 of a-z, 0-9, - and _"),
    (("--since", "0=12"), "--since", "is not partition:offset"),
    (("--since", "0:1,0:2"), "--since", "partition 0 is named twice"),
    (("--since", "1000:0"), "--since", "partitions 0..999"),
    (("--max-events", "0"), "--max-events", "1..1,000,000"),
])
def test_bad_export_options_are_an_exit_2_naming_the_option_and_the_rule(run, tmp_path, args, option, words):
    done = run("export", "--to", str(tmp_path / "out"), *args)  # refused before the worker or Kafka is asked
    assert done.exit_code == 2 and done.stderr.startswith(f"error: {option}")
    assert words in done.stderr.replace("\n", "") and not (tmp_path / "out").exists()


def test_export_without_a_worker_is_an_exit_2_that_writes_nothing(run, tmp_path):
    done = run("export", "--to", str(tmp_path / "out"), "--web-url", f"http://127.0.0.1:{free_port()}")
    assert done.exit_code == 2 and done.stderr.startswith("error: cannot reach the worker at http://127.0.0.1:")
    assert not (tmp_path / "out").exists()
