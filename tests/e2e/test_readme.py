"""The README's tours, run as a reader runs them: every ```sh and ```python block, line by line, in one
shell, against `credit-ledger up --demo` started here (as `make run` starts it), from a directory holding
what the README says a user has: `.venv` and `data/` (the stack's data dir).

Lines that start the stack themselves (`make run`, `make test`, `credit-ledger up`) are not run: this test
is that stack. The README's ports are the defaults; the stack here runs on free ones, put in their place.
Each line must exit as EXPECTED_EXIT says (0 unless listed), and the files the tours write must appear."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from ops.embedded_kafka import free_port
from tests.e2e.test_up import start_up, tokens_of
from tests.helpers import REPO, http_json, wait_for

README = REPO / "README.md"
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.S | re.M)
STACK_LINES = re.compile(r"^(make |\.venv/bin/credit-ledger up\b)")
DEMO_SUBJECT = "91630203MACDRTQL4K"
# (a part of the line, the exit the README promises for it)
EXPECTED_EXIT = (
    ("check-id 91440300192203821X", 1),  # "exit 1, names character 18 and the rule"
    ('CREDIT_LEDGER_TOKEN="$TOKEN" .venv/bin/credit-ledger publish demo.jsonl', 1),  # other authorities' lines: 403
)
# What a reader brings to the tours beside the stack: a roster of inspectors for `sample --inspectors`.
ROSTER = "inspector_id,name,authority_code\n" + "".join(
    f"ZF42020{n:03d},执法人员{n},11420200MB0000{n:03d}X\n" for n in range(1, 7))


def blocks(text: str) -> list[tuple[str, str]]:
    return [(language, body) for language, body in BLOCK.findall(text)]


def expected_exit(line: str) -> int:
    return next((code for part, code in EXPECTED_EXIT if part in line), 0)


def shell_script(text: str, web_port: int) -> tuple[str, list[str]]:
    """One bash script of every sh line (a marker with its exit after each), and the lines it runs."""
    lines, script = [], []
    for language, body in blocks(text):
        if language != "sh":
            continue
        for line in body.splitlines():
            if not line.strip() or STACK_LINES.match(line):
                continue
            lines.append(line)
            script += [on_port(line, web_port), f'echo "@@exit $? @@line {len(lines) - 1}" >&2']
    return "\n".join(script) + "\n", lines


def on_port(text: str, web_port: int) -> str:
    return re.sub(r"(localhost|127\.0\.0\.1):6066", f"127.0.0.1:{web_port}", text)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`up --demo` in a directory laid out as a reader's clone: .venv, data/ (its data dir)."""
    home = tmp_path_factory.mktemp("reader")
    data_dir, web_port, kafka_port = home / "data", free_port(), free_port()
    up = start_up(data_dir, web_port, kafka_port, "--demo")
    url = f"http://127.0.0.1:{web_port}"
    try:
        def demo_served() -> bool:
            assert up.poll() is None, f"`up` exited with {up.returncode}"
            admin = tokens_of(data_dir).get("admin") if (data_dir / "tokens.json").exists() else None
            return admin is not None and http_json(f"{url}/subjects/{DEMO_SUBJECT}", token=admin)[0] == 200
        wait_for(demo_served, 240, what="the demo subject served")
        (home / ".venv").symlink_to(REPO / ".venv")
        (home / "执法人员.csv").write_text(ROSTER, encoding="utf-8")
        env = {**os.environ, "CREDIT_LEDGER_WEB_PORT": str(web_port), "CREDIT_LEDGER_KAFKA": f"127.0.0.1:{kafka_port}",
               "CREDIT_LEDGER_DATA_DIR": "data", "PYTHONPATH": str(REPO)}
        env.pop("CREDIT_LEDGER_TOKEN", None)
        yield home, web_port, env
    finally:
        up.send_signal(2)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()


def test_every_shell_line_of_the_readme_runs_as_it_says(stack):
    home, web_port, env = stack
    script, lines = shell_script(README.read_text(encoding="utf-8"), web_port)
    assert len(lines) >= 25, lines  # the tours are there to run
    done = subprocess.run(["bash", "-c", script], cwd=home, env=env, capture_output=True, text=True, timeout=600)
    exits = {int(n): int(code) for code, n in re.findall(r"@@exit (\d+) @@line (\d+)", done.stderr)}
    assert sorted(exits) == list(range(len(lines))), done.stderr[-3000:]
    wrong = {lines[n]: code for n, code in exits.items() if code != expected_exit(lines[n])}
    assert not wrong, f"{wrong}\n{done.stderr[-4000:]}"
    for made in ("demo.jsonl", "抽查名单.csv", "digest-2026-11.json", "信用报告.html"):
        assert (home / made).stat().st_size > 0, made
    assert list((home / "发布").glob("*.html")) and list((home / "发布").glob("*.csv")), "the release"
    assert list((home / "报送").glob("province-*/manifest.json")), "the export's batch"


def test_the_python_block_publishes_with_the_sdk(stack):
    home, web_port, env = stack
    (block,) = [body for language, body in blocks(README.read_text(encoding="utf-8")) if language == "python"]
    done = subprocess.run([sys.executable, "-c", on_port(block, web_port)], cwd=home, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    event_id, partition, offset = done.stdout.split()
    assert len(event_id) == 36 and int(partition) >= 0 and int(offset) >= 0
