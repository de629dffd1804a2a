"""`credit-ledger report`: the credit report (信用报告) written as one HTML page, from a file or the ledger."""
from __future__ import annotations

import json
import re
import socket

import pytest

from ops.demo import demo_jsonl
from tests.helpers import cli

SUBJECT = "91630203MACDRTQL4K"  # the demo subject the README names: on a blacklist, grade D


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo file, and the subject's view {"file", "history"} as `replay --subject --json` folds it."""
    path = tmp_path_factory.mktemp("report") / "demo.jsonl"
    demo_jsonl(path)
    done = cli("replay", "--from-file", str(path), "--subject", SUBJECT, "--json")
    assert done.returncode == 0, done.stderr
    return path, json.loads(done.stdout)


def test_report_from_a_file(demo, tmp_path):
    path, view = demo
    out = tmp_path / "信用报告.html"
    done = cli("report", SUBJECT, "--from-file", str(path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    html = out.read_text(encoding="utf-8")
    name, letter = view["file"]["subject"]["name"], view["file"]["grade"]["letter"]
    assert name and name in html
    assert f'<div class="letter g-{letter}">{letter}</div>' in html and f"{letter} 级" in html
    assert view["file"]["chain"]["head"] in html and "信用等级" in html
    assert not re.search(r"https?://", html)

    missing = cli("report", "91000000MA00000000", "--from-file", str(path), "--out", str(tmp_path / "x.html"))
    assert missing.returncode == 1 and "no subject 91000000MA00000000" in missing.stderr
    assert not (tmp_path / "x.html").exists()


def test_report_from_a_ledger_that_cannot_be_read(tmp_path):
    """Without --from-file the report is built from credit.events (tests/integration/test_history.py
    reads a real one); its read is recorded by the worker first: a worker nobody runs is named, and no
    page is written."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    out = tmp_path / "y.html"
    gone = cli("report", SUBJECT, "--kafka", closed, "--web-url", f"http://{closed}", "--out", str(out))
    assert gone.returncode == 2 and f"the worker at http://{closed} cannot record the read" in gone.stderr
    assert "Traceback" not in gone.stderr and not out.exists()
