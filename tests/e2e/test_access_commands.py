"""`publish` and `access-log` as a user runs them, where no broker and no worker are needed to answer."""
from __future__ import annotations

import time

from ops.embedded_kafka import free_port
from tests.helpers import cli


def test_publish_says_at_once_when_no_worker_answers(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text("{}\n")
    url = f"http://127.0.0.1:{free_port()}"
    began = time.monotonic()
    done = cli("publish", str(events), "--web-url", url,
               env={"CREDIT_LEDGER_DATA_DIR": str(tmp_path), "CREDIT_LEDGER_TOKEN": "A" * 43})
    assert done.returncode == 1 and f"cannot reach the worker at {url}" in done.stderr
    assert time.monotonic() - began < 30  # not after two minutes of retries


def test_access_log_refuses_a_bad_limit():
    done = cli("access-log", "--limit", "0", env={"CREDIT_LEDGER_KAFKA": "127.0.0.1:1"})
    assert done.returncode == 2 and "--limit" in done.stderr


def test_a_token_is_never_taken_from_the_command_line(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text("{}\n")
    done = cli("publish", str(events), "--token", "A" * 43, env={"CREDIT_LEDGER_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2 and "--token" in done.stderr and "A" * 43 not in done.stderr  # no such option
    for content, why in (("\n", "must hold one token"), ("a\nb\n", "must hold one token"),
                         ("\xff", "cannot read a token")):
        token_file = tmp_path / "t.token"
        token_file.write_bytes(content.encode("latin-1"))
        done = cli("publish", str(events), "--token-file", str(token_file), env={"CREDIT_LEDGER_DATA_DIR": str(tmp_path)})
        assert done.returncode == 2 and why in done.stderr, done.stderr
