"""`publish --token` and `access-log` as a user runs them, where no broker is needed to answer."""
from __future__ import annotations

from streams.principals import create_dev_principals
from tests.helpers import cli
from tests.unit import events as ev


def test_publish_with_a_token_needs_a_principal_that_holds_it(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text("{}\n")
    env = {"CREDIT_LEDGER_DATA_DIR": str(tmp_path), "CREDIT_LEDGER_KAFKA": "127.0.0.1:1"}
    done = cli("publish", str(events), "--token", "A" * 43, env=env)
    assert done.returncode == 2 and "no principals file" in done.stderr
    create_dev_principals(tmp_path, [ev.AUTHORITY])
    done = cli("publish", str(events), "--token", "A" * 43, env=env)
    assert done.returncode == 2 and "unknown token" in done.stderr
    done = cli("publish", str(events), env={**env, "CREDIT_LEDGER_TOKEN": "not a token"})
    assert done.returncode == 2 and "malformed token" in done.stderr


def test_access_log_refuses_a_bad_limit():
    done = cli("access-log", "--limit", "0", env={"CREDIT_LEDGER_KAFKA": "127.0.0.1:1"})
    assert done.returncode == 2 and "--limit" in done.stderr
