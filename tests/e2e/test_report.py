"""`credit-ledger report`: the credit report (信用报告) written as one HTML page, from a file or the live worker."""
from __future__ import annotations

import http.server
import json
import re
import socket
import threading
import urllib.parse

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


class _FakeWorker(http.server.BaseHTTPRequestHandler):
    """GET /subjects/{id} and /subjects/{id}/history as the worker answers them, for one subject."""
    view: dict = {}

    def do_GET(self):
        path = urllib.parse.unquote(self.path)
        subject = self.view["file"]["subject"]["id"]
        if path == f"/subjects/{subject}":
            self._send(200, self.view["file"])
        elif path == f"/subjects/{subject}/history":
            self._send(200, {"subject_id": subject, "history": self.view["history"]})
        else:
            self._send(404, {"error": "no subject in the ledger"})

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_report_from_the_live_worker(demo, tmp_path):
    _, view = demo
    handler = type("Worker", (_FakeWorker,), {"view": view})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        out = tmp_path / "report.html"
        done = cli("report", SUBJECT, "--web-url", url, "--out", str(out))
        assert done.returncode == 0, done.stderr
        html = out.read_text(encoding="utf-8")
        assert view["file"]["subject"]["name"] in html and "末端哈希与档案一致" in html

        unknown = cli("report", "91000000MA00000000", "--web-url", url, "--out", str(tmp_path / "x.html"))
        assert unknown.returncode == 1 and "404" in unknown.stderr and not (tmp_path / "x.html").exists()
    finally:
        server.shutdown()
        server.server_close()

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    gone = cli("report", SUBJECT, "--web-url", closed, "--out", str(tmp_path / "y.html"))
    assert gone.returncode == 1 and "cannot read" in gone.stderr
