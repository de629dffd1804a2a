"""`credit-ledger up`: embedded Kafka + worker + web on one machine, stopped as one."""
from __future__ import annotations

import base64
import functools
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from rich.console import Console

from ops.config import Settings, data_dir_problem
from ops.demo import authority_codes
from projections.canonical import SHANGHAI
from projections.pseudonym import pseudonym
from ops.embedded_kafka import EmbeddedKafka, PortInUseError, port_is_free, prepare_child
from ops.kafka_cluster import EmbeddedKafkaCluster
from streams.principals import TOKENS_FILE, create_dev_kafka_credentials, create_dev_principals
from streams.private_files import write_private_file
from streams.sdk import Publisher
from streams.topics import ensure_topics

READY_TIMEOUT_S = 120.0
WORKER_STOP_TIMEOUT_S = 20.0
DEMO_DAYS = 600
LIVE_TICK_S = 0.5  # the live demo releases what has come due this often ...
LIVE_STORY_EVERY_S = 1.0  # ... and starts a new story this often
LIVE_EVENTS_PER_TICK_MAX = 50
LIVE_STOP_TIMEOUT_S = 10.0
console = Console(stderr=True, soft_wrap=True)  # URLs and paths must stay whole
# The development keys `up` makes when none is configured (setting -> file in <data dir>/keys/): random, 0600,
# made once and reused by every later `up` on the data dir, handed to its worker as <setting>_file.
DEV_KEYS_DIR = "keys"  # in the data dir
DEV_KEY_FILES = {"pseudonym_key": "pseudonym.key", "master_key": "master.key"}
DEV_KEY_BYTES = 32


class UpError(RuntimeError):
    pass


def check_port_free(port: int, what: str, flag: str) -> None:
    if not port_is_free(port):
        raise UpError(f"{what} port {port} is already in use; stop what holds it or pass {flag}")


def check_data_dir(data_dir: Path) -> None:
    problem = data_dir_problem(data_dir)
    if problem:
        raise UpError(problem)


def start_worker(settings: Settings, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, **settings.to_env()}
    log_file = log_path.open("ab")
    return subprocess.Popen([sys.executable, "-m", "ops.cli", "worker"], env=env, stdout=log_file,
                            stderr=subprocess.STDOUT, preexec_fn=functools.partial(prepare_child, os.getpid()))


def with_development_keys(settings: Settings, data_dir: Path) -> tuple[Settings, list[str]]:
    """`settings` with every key of DEV_KEY_FILES configured: the operator's own when set, else a development
    key in <data dir>/keys/ (made now, or the one an earlier `up` made); and a line to print for each of those."""
    notes = []
    for name, file_name in DEV_KEY_FILES.items():
        if getattr(settings, name) or getattr(settings, f"{name}_file"):
            continue
        path = data_dir / DEV_KEYS_DIR / file_name
        made = not path.exists()
        if made:
            write_private_file(path, base64.b64encode(secrets.token_bytes(DEV_KEY_BYTES)) + b"\n")
        settings = replace(settings, **{f"{name}_file": str(path)})
        notes.append(f"{name.replace('_', ' ')}: {'made a' if made else 'reusing the'} development key {path} "
                     f"(random, 0600); production configures its own (CREDIT_LEDGER_{name.upper()}_FILE)")
    return settings, notes


def wait_ready(settings: Settings, worker: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            raise UpError("the worker stopped at start-up:\n" + "\n".join(tail))
        try:
            with urllib.request.urlopen(settings.web_url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise UpError(f"the worker was not ready within {READY_TIMEOUT_S:.0f} s; see {log_path}")


def ledger_holds_events(settings: Settings) -> bool:
    """Whether the ready worker has folded any event (its /readyz: the last applied offset of each partition)."""
    with urllib.request.urlopen(settings.web_url + "/readyz", timeout=10) as response:
        return any(offset >= 0 for offset in json.loads(response.read())["applied_offsets"].values())


def demo_dataset(settings: Settings) -> list[dict]:
    """The demo's events: its stories over the DEMO_DAYS days before the ledger clock's today."""
    from ops.demo import demo_events

    today = settings.clock().now().astimezone(SHANGHAI).date()
    return demo_events(start=today - timedelta(days=DEMO_DAYS + 1), days=DEMO_DAYS)


def demo_subject_ids(events: list[dict], pseudonym_key: bytes) -> list[str]:
    """The demo's subjects, whose development subject tokens `up` writes: each organisation by its USCC,
    each natural person by its pseudonym under the deployment's key (the id its file has in the ledger)."""
    ids = set()
    for event in events:
        subject = event["subject"]
        ids.add(pseudonym(subject["id_number"], pseudonym_key) if subject["kind"] == "NATURAL_PERSON"
                else subject["id"])
    return sorted(ids)


def publish_demo(settings: Settings, token: str, events: list[dict]) -> str | None:
    """Publish the demo dataset through the worker's edge (POST /events:batch, with the admin's token)
    unless the ledger already holds events; returns a subject to open.

    The stories span the DEMO_DAYS days before the ledger clock's today. The edge stamps every event as
    recorded now (no publisher's clock reaches recorded_at): the demo is a backlog of departments' records
    loaded into a new ledger, so most of its 双公示 arrive late, and the deadlines its stories left open
    fire as soon as their events are folded. The live demo (run_live_demo) then tells stories on time."""
    first_company = next(e["subject"]["id"] for e in events if e["subject"]["kind"] == "LEGAL_PERSON")
    if ledger_holds_events(settings):
        console.print("demo: the ledger already holds events; not publishing them again")
        return first_company
    with Publisher(settings.web_url, token=token) as publisher:
        report = publisher.publish_many(events)
    console.print(f"demo: published {len(report.delivered)} events for "
                  f"{len({e['subject'].get('id') or e['subject'].get('id_number') for e in events})} subjects")
    if not report.ok:
        raise UpError(f"demo data was refused: {report.invalid or report.failed}")
    return first_company


def run_live_demo(settings: Settings, stop: threading.Event, token: str) -> None:
    """While `up --demo` runs: new demo stories (ops.demo.LiveDemo), each event published through the edge
    once the ledger's clock reaches its day (the edge stamps it with that clock), so the dashboard stays
    alive. A few events a second."""
    from ops.demo import LiveDemo

    clock = settings.clock()
    live = LiveDemo(seed=time.time_ns(), speed=settings.clock_speed)
    next_story_s, warned = 0.0, False
    with Publisher(settings.web_url, token=token) as publisher:
        while not stop.wait(LIVE_TICK_S):
            today = clock.now().astimezone(SHANGHAI).date()
            if time.monotonic() >= next_story_s:
                live.new_story(today)
                next_story_s = time.monotonic() + LIVE_STORY_EVERY_S
            events = live.due(today, LIVE_EVENTS_PER_TICK_MAX)
            if not events:
                continue
            try:
                report = publisher.publish_many(events)
            except Exception as error:  # e.g. the worker going away as `up` stops: the live demo ends
                console.print(f"live demo stopped: {error}")
                return
            if not report.ok and not warned:  # a bug in the demo, not the user's doing: say it once
                warned = True
                console.print(f"live demo: events refused: {report.invalid or report.failed}")


def install_stop_handlers(stopping: list) -> None:
    """SIGINT and SIGTERM stop `up` at whatever step it is in (as KeyboardInterrupt), the first one
    only: once `stopping` holds something, a signal is noted and the clean-up goes on unhurried.

    Installed explicitly for both: a process started in the background by a script (`cmd &`)
    inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler of its own."""
    def on_stop_signal(signum, frame) -> None:
        first = not stopping
        stopping.append(signal.Signals(signum).name)
        if first:
            raise KeyboardInterrupt
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_stop_signal)


def start_kafka(settings: Settings, data_dir: Path, brokers: int, credentials: dict):
    """The embedded broker, or with `brokers` > 1 a cluster of that many nodes on ports from --kafka-port up
    (each node's controller on the port after its own); started, with the ledger's topics."""
    started = time.monotonic()
    if brokers == 1:
        kafka = EmbeddedKafka(data_dir / "kafka", port=settings.kafka_port, log_file=data_dir / "kafka.log",
                              credentials=credentials)
        where = f"data in {data_dir / 'kafka'}, log {data_dir / 'kafka.log'}"
    else:
        kafka = EmbeddedKafkaCluster(data_dir / "kafka-cluster", nodes=brokers,
                                     ports=[settings.kafka_port + 2 * i for i in range(brokers)],
                                     credentials=credentials, log_dir=data_dir)
        where = (f"{brokers} nodes, 3 replicas of each topic and 2 in sync; data in {data_dir / 'kafka-cluster'}, "
                 f"logs {data_dir}/kafka-node-N.log")
    try:
        kafka.start()
        if brokers == 1:
            ensure_topics(kafka.admin_access, partitions=settings.partitions)
        else:
            kafka.ensure_topics(partitions=settings.partitions)  # and every node shows them
    except BaseException:
        kafka.stop()
        raise
    console.print(f"kafka: {kafka.bootstrap} (SASL/SCRAM, started in {time.monotonic() - started:.1f} s, {where})")
    return kafka


def run_up(settings: Settings, demo: bool, brokers: int = 1) -> int:
    """Start Kafka and the worker (and, with `demo`, publish the demo and keep it going) until Ctrl-C or
    SIGTERM; the exit code: 0 when stopped so, 1 when something would not start or the worker died."""
    data_dir = Path(settings.data_dir).resolve()
    # Kafka is the embedded broker, reached as the roles whose credentials are in <data dir>/tokens.json:
    # security settings meant for another broker do not apply (the worker inherits these through to_env)
    settings = replace(settings, data_dir=str(data_dir), kafka_security_protocol="", kafka_sasl_username="",
                       kafka_sasl_password="", kafka_sasl_password_file="", kafka_ssl_ca_file="")
    stopping: list[str] = []
    install_stop_handlers(stopping)
    kafka = worker = live = None
    live_stop = threading.Event()
    try:
        check_data_dir(data_dir)
        check_port_free(settings.web_port, "web", "--web-port")
        settings, notes = with_development_keys(settings, data_dir)  # handed to the worker (to_env)
        for note in notes:
            console.print(note, style="bold yellow", markup=False, highlight=False)
        # the Kafka users of the worker and the auditor (SCRAM-SHA-512), kept in <data dir>/tokens.json across
        # restarts; the broker is formatted with them, or given them again, with their ACLs (ops/kafka_acls.py)
        credentials = create_dev_kafka_credentials(data_dir)
        kafka = start_kafka(settings, data_dir, brokers, credentials)
        settings = replace(settings, kafka=kafka.bootstrap)
        # development principals, before the worker reads them: a publisher per demo authority and
        # a supervisor, an auditor and an admin, a subject per demo organisation and person (本人: its own file);
        # tokens in <data dir>/tokens.json (kept across restarts)
        # the demo's dataset is drawn once: its subjects depend on the clock's day, which a fast clock moves
        dataset = demo_dataset(settings)
        tokens = create_dev_principals(data_dir, authority_codes(), settings.principals_path,
                                       subject_ids=demo_subject_ids(dataset, settings.pseudonym_key_bytes))
        worker_log = data_dir / "worker.log"
        worker = start_worker(settings, worker_log)
        wait_ready(settings, worker, worker_log)
        subject = publish_demo(settings, tokens["admin"], dataset) if demo else None  # through the worker's edge
        _print_up_banner(settings, data_dir, brokers, subject)
        if demo:
            live = threading.Thread(target=run_live_demo, args=(settings, live_stop, tokens["admin"]),
                                    name="live-demo", daemon=True)
            live.start()
            console.print("  demo:     new stories keep coming, a few events a second")
        console.print("Ctrl-C stops everything.")
        sys.stdout.flush()
        while True:  # until SIGINT or SIGTERM (install_stop_handlers)
            if worker.poll() is not None:
                raise UpError(f"the worker exited with code {worker.returncode}; see {worker_log}")
            time.sleep(0.5)
    except (UpError, PortInUseError) as error:
        console.print(f"[bold red]error:[/] {error}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stopping.append("clean-up")  # a Ctrl-C or SIGTERM from now on must not cut the clean-up short
        _stop_all(live_stop, live, worker, kafka)


def _print_up_banner(settings: Settings, data_dir: Path, brokers: int, subject: str | None) -> None:
    """Where everything is: the web, the dashboard and its token, health, metrics, Kafka, the logs."""
    console.print(f"\n[bold]credit-ledger is up[/]\n  web:      {settings.web_url}\n"
                  f"  dashboard: {settings.web_url}/dashboard (log in with the \"supervisor\" token in "
                  f"{data_dir / TOKENS_FILE})\n"
                  f"  tokens:   {data_dir / TOKENS_FILE} (supervisor, auditor, admin, a publisher per authority, "
                  "a subject per organisation and person;\n"
                  f"            Kafka's SCRAM users under \"kafka\": worker, auditor)\n"
                  f"  health:   {settings.web_url}/readyz\n  metrics:  {settings.web_url}/metrics\n"
                  f"  kafka:    {settings.kafka}\n  logs:     {data_dir}/worker.log, {data_dir}/"
                  + ("kafka.log" if brokers == 1 else "kafka-node-N.log"))
    if subject:
        console.print(f"  a demo subject: {settings.web_url}/subjects/{subject}")
    if settings.clock_speed != 1:
        console.print(f"  clock:    {settings.clock_speed:,.10g}x real time; deadlines fire as it passes them")


def _stop_all(live_stop: threading.Event, live: threading.Thread | None, worker: subprocess.Popen | None,
              kafka) -> None:
    """Stop the live demo, then the worker (killed after WORKER_STOP_TIMEOUT_S), then Kafka."""
    live_stop.set()
    if live is not None:
        live.join(LIVE_STOP_TIMEOUT_S)  # before the worker goes: its last events are delivered
    if worker is not None and worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(WORKER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    if kafka is not None:
        kafka.stop()
    console.print("stopped.")
