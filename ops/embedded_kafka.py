"""A real single-node Apache Kafka (KRaft) as a child process, for `up` and the tests.

The broker jars are fetched once with Maven into a cache outside the repo
(`$CREDIT_LEDGER_KAFKA_HOME`, default ~/.cache/credit-ledger) and reused.

    python -m ops.embedded_kafka fetch                 # what `make setup` runs
    python -m ops.embedded_kafka run [--port 9092] [--data-dir D]
"""
from __future__ import annotations

import argparse
import base64
import ctypes
import functools
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streams import topics
from streams.topics import ensure_topics  # noqa: F401  (lives in streams: the worker needs it too)

KAFKA_VERSION = "3.9.1"
HERE = Path(__file__).resolve().parent / "kafka"
MARKER = ".complete"  # written after a full copy, so an interrupted fetch is redone
INSTALL_HINT = "install it with: apt-get install -y openjdk-17-jre-headless maven"
log = logging.getLogger(__name__)


class KafkaStartError(RuntimeError):
    pass


class PortInUseError(KafkaStartError):
    pass


class MissingToolError(RuntimeError):
    pass


def kafka_libs_dir() -> Path:
    home = os.environ.get("CREDIT_LEDGER_KAFKA_HOME") or Path.home() / ".cache" / "credit-ledger"
    return Path(home) / f"kafka-{KAFKA_VERSION}" / "libs"


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise MissingToolError(f"`{tool}` is not on PATH; {INSTALL_HINT}")
    return path


def ensure_kafka_jars() -> Path:
    """The directory holding the broker's jars, fetching them with Maven if needed."""
    libs = kafka_libs_dir()
    if (libs / MARKER).exists():
        return libs
    mvn = _require("mvn")
    # Copy into a private directory and rename it into place: a half-done copy is never used.
    partial = libs.with_name(f"libs.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [mvn, "-q", "-B", "-f", str(HERE / "pom.xml"), "dependency:copy-dependencies",
           f"-DoutputDirectory={partial}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not any(partial.glob("kafka_2.13-*.jar")):
        shutil.rmtree(partial, ignore_errors=True)
        raise MissingToolError(f"fetching the Kafka jars failed: {' '.join(cmd)}\n"
                               f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    (partial / MARKER).write_text(f"kafka {KAFKA_VERSION}\n")
    if not (libs / MARKER).exists():
        shutil.rmtree(libs, ignore_errors=True)  # an interrupted fetch from before the marker
    try:
        partial.rename(libs)
    except OSError:  # another process finished first: use theirs
        shutil.rmtree(partial, ignore_errors=True)
    return libs


LISTEN_PORTS_LOW = 20_000  # where free_port looks: below the kernel's ephemeral range (see _ephemeral_low)
FREE_PORT_TRIES_MAX = 1_000
_PORT_PICKS = random.SystemRandom()  # not the global generator, which tests may seed alike in each process


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def free_port() -> int:
    """A port nothing listens on, for a server of ours, chosen below the ephemeral range.

    A port the kernel hands out for bind(0) lies in the ephemeral range, where every outgoing
    connection on the machine takes its local port too: a broker restarted on such a port can
    find it held by some client's connection ("Address already in use"), and a client that keeps
    reconnecting to it while it is down can even connect to itself."""
    low, high = LISTEN_PORTS_LOW, max(LISTEN_PORTS_LOW + 1_000, _ephemeral_low())
    for _ in range(FREE_PORT_TRIES_MAX):
        port = _PORT_PICKS.randrange(low, high - 1)  # port + 1 free too, usually: the controller's (EmbeddedKafka)
        if port_is_free(port):
            return port
    raise OSError(f"no free port between {low} and {high} after {FREE_PORT_TRIES_MAX} tries")


def port_is_free(port: int) -> bool:
    # SO_REUSEADDR like the JVM: a port in TIME_WAIT after a restart counts as free,
    # a listening one does not.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def set_parent_death_signal(parent_pid: int | None = None) -> None:
    """preexec_fn: the child gets SIGKILL when its parent dies, even by SIGKILL (Linux).

    So no JVM or worker is orphaned. Caveat of PR_SET_PDEATHSIG: it fires when the
    *thread* that forked exits, so spawn from a thread that lives as long as the child."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        if parent_pid is not None and os.getppid() != parent_pid:
            os._exit(1)  # the parent died before prctl took effect


def prepare_child(parent_pid: int | None = None) -> None:
    """preexec_fn of every child we start: SIGINT and SIGTERM at their defaults, then
    set_parent_death_signal.

    A process started in the background by a script (`cmd &`) inherits SIGINT ignored, and an
    ignored signal stays ignored across exec: the JVM, seeing it so, installs no handler for it."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    set_parent_death_signal(parent_pid)


def _cluster_id() -> str:
    while True:  # Kafka's own Uuid avoids a leading "-" (it reads like a CLI flag)
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


# By default the JVM compiles the broker's code with its first, quick compiler only. The embedded
# broker shares a small machine with the worker and its publishers, and lives for a demo, a test run
# or a bench: the optimising compiler's work on a young broker took a core for minutes (measured on
# 2 cores: 2,000 events/s produced for 8 s cost the broker 5.8, 4.4, 2.0 s of CPU in three offers
# after a start, and 2.3, 2.2, 2.4 without it; a lag run at 2,000/s on an 8,000-company ledger, lag
# p99 3.3 s against 0.46 s without it). Its code is slower once compiled, which shows where a broker
# answers many small requests: 1,000 single-batch fetches took ~250 ms of its CPU against ~110 on a
# warmed broker with both compilers (`full_jit`). Production brokers run with their own settings.
QUICK_JIT_FLAGS = ("-XX:TieredStopAtLevel=1",)


class EmbeddedKafka:
    def __init__(self, data_dir: Path, port: int = 9092, controller_port: int | None = None,
                 heap_mib: int = 512, log_file: Path | None = None, full_jit: bool = False):
        self.data_dir = Path(data_dir).resolve()
        self.port, self.controller_port, self.heap_mib = port, controller_port, heap_mib
        self.jit_flags = () if full_jit else QUICK_JIT_FLAGS
        self.log_file = Path(log_file) if log_file else self.data_dir / "kafka.log"
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _check_ports(self) -> None:
        if not port_is_free(self.port):
            raise PortInUseError(f"port {self.port} is already in use (by another Kafka?); "
                                 "pass --kafka-port or stop it")
        if self.controller_port is None:
            self.controller_port = self.port + 1 if port_is_free(self.port + 1) else free_port()
        elif not port_is_free(self.controller_port):
            raise PortInUseError(f"controller port {self.controller_port} is already in use; "
                                 "pass another one or stop what holds it")

    def _write_properties(self) -> Path:
        props = {
            "process.roles": "broker,controller", "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER", "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "kafka-logs"),
            "num.partitions": str(topics.PARTITIONS_DEFAULT), "auto.create.topics.enable": "true",
            "default.replication.factor": "1", "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",  # default 50: slow first consumer group
            "transaction.state.log.replication.factor": "1", "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.dedupe.buffer.size": str(32 << 20),  # default 128 MiB; small heap
            # retention is per topic (streams/topics.py): nothing global here
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def start(self, timeout_s: float = 60) -> EmbeddedKafka:
        if self.process and self.process.poll() is None:
            return self
        self._check_ports()  # before anything slow, so a clash is reported at once
        libs = ensure_kafka_jars()
        java = _require("java")
        for d in (self.data_dir, self.log_file.parent):
            d.mkdir(parents=True, exist_ok=True)
        props = self._write_properties()
        cp = [f"-Dlog4j.configuration=file:{HERE / 'log4j.properties'}", "-cp", f"{libs}/*"]
        with open(self.log_file, "ab") as out:
            # format once: meta.properties marks formatted storage, and data survives restarts
            if not (self.data_dir / "kafka-logs" / "meta.properties").exists():
                fmt = subprocess.run([java, *cp, "kafka.tools.StorageTool", "format", "--ignore-formatted",
                                      "-t", _cluster_id(), "-c", str(props)], stdout=out, stderr=out)
                if fmt.returncode:
                    raise KafkaStartError(f"formatting {self.data_dir} failed:\n{self._log_tail()}")
            self.process = subprocess.Popen(
                [java, f"-Xms{self.heap_mib}m", f"-Xmx{self.heap_mib}m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                 *self.jit_flags, "-Djava.awt.headless=true", *cp, "kafka.Kafka", str(props)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=functools.partial(prepare_child, os.getpid()))
        try:
            self._wait_ready(time.monotonic() + timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, deadline: float) -> None:
        admin = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise KafkaStartError(f"Kafka exited with {self.process.returncode}; "
                                      f"last lines of {self.log_file}:\n{self._log_tail()}")
            try:
                if admin is None:  # only once the port is open, to keep librdkafka quiet
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    admin = AdminClient({"bootstrap.servers": self.bootstrap, "logger": log})
                if admin.list_topics(timeout=2).brokers:
                    return
            except (OSError, KafkaException):
                pass
            time.sleep(0.1)
        raise KafkaStartError(f"Kafka did not answer on {self.bootstrap} in time; "
                              f"see {self.log_file}:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 20) -> None:
        """SIGTERM (Kafka shuts down cleanly), SIGKILL after timeout_s; waits for the JVM."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)  # the JVM leads its own process group
            except ProcessLookupError:
                pass
            try:
                proc.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                log.warning("Kafka (pid %s) ignored %s", proc.pid, sig.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.embedded_kafka")
    parser.add_argument("action", choices=["fetch", "run"])
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    try:
        _require("java")  # needed to run the broker even when the jars are cached
        libs = ensure_kafka_jars()
    except MissingToolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.action == "fetch":
        print(f"Kafka {KAFKA_VERSION} jars in {libs}")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so the `with` below stops the JVM
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored (`cmd &`)
    with EmbeddedKafka(args.data_dir, port=args.port) as kafka:
        ensure_topics(kafka.bootstrap)
        print(f"Kafka on {kafka.bootstrap}, data in {kafka.data_dir}; Ctrl-C stops it", flush=True)
        try:
            kafka.process.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
