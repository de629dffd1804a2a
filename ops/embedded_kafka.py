"""A real single-node Apache Kafka (KRaft) as a child process, for `up` and the tests.

The broker jars are fetched once with Maven into a cache outside the repo
(`$CREDIT_LEDGER_KAFKA_HOME`, default ~/.cache/credit-ledger) and reused.

It is a trust boundary like a cluster's (DESIGN "The broker"): clients authenticate with
SASL/SCRAM-SHA-512 on its one client listener (SASL_PLAINTEXT, loopback only) and StandardAuthorizer
refuses what no ACL allows (ops/kafka_acls.py). The broker's own principal, `broker`, is the only
super user; it talks to itself as the inter-broker listener requires, over the same listener, and
to its controller over the controller listener with SASL/PLAIN (KRaft's controller listener takes
no SCRAM: the SCRAM credentials live in the metadata the controller serves). Its password is
created with the storage, in <data dir>/broker-credentials.json (0600). The SCRAM users of the
roles given (`credentials`, tokens.json's "kafka" section) are written into the storage when it is
formatted, so the broker accepts them from its first start, and set again at each later start.

    python -m ops.embedded_kafka fetch                 # what `make setup` runs (the operator tools too)
    python -m ops.embedded_kafka run [--port 9092] [--data-dir D]   # credentials in D/tokens.json
"""
from __future__ import annotations

import argparse
import base64
import collections
import ctypes
import functools
import json
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

from ops import kafka_settings
from ops.kafka_acls import BROKER_USER, acl_bindings, ensure_acls, ensure_users
from streams.kafka_access import ROLES, KafkaAccess, client_config
from streams.private_files import read_private_file, write_private_file
from streams.principals import TOKENS_FILE, create_dev_kafka_credentials
from streams.topics import ensure_topics  # noqa: F401  (lives in streams: the worker needs it too)

KAFKA_VERSION = "3.9.1"
HERE = Path(__file__).resolve().parent / "kafka"
MARKER = ".complete"  # written after a full copy, so an interrupted fetch is redone
BROKER_CREDENTIALS = "broker-credentials.json"  # the broker principal's password, beside its storage
SCRAM_USERS_MARKER = "scram-users"  # the storage has SCRAM users: formatted with them, or given them since
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
    return _fetched(kafka_libs_dir(), "pom.xml", "kafka_2.13-*.jar", "kafka")


def kafka_tools_dir() -> Path:
    """Where Kafka's operator tools' jar lies, beside the broker's (ops/kafka_tool.py)."""
    return kafka_libs_dir().with_name("tools")


def ensure_kafka_tools() -> Path:
    """The directory holding the kafka-tools jar (kafka-consumer-groups, kafka-topics ... as main classes),
    fetching it with Maven if needed. Only the jar: the rest of what the tools need is the broker's."""
    return _fetched(kafka_tools_dir(), "tools-pom.xml", "kafka-tools-*.jar", "kafka-tools", "-DexcludeTransitive=true")


def _fetched(target: Path, pom: str, expected_jar: str, what: str, *maven_options: str) -> Path:
    """`target`, holding the dependencies of ops/kafka/`pom`, copied there by Maven unless done before.
    They are copied into a private directory and renamed into place: a half-done copy is never used."""
    if (target / MARKER).exists():
        return target
    mvn = _require("mvn")
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [mvn, "-q", "-B", "-f", str(HERE / pom), "dependency:copy-dependencies", *maven_options,
           f"-DoutputDirectory={partial}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not any(partial.glob(expected_jar)):
        shutil.rmtree(partial, ignore_errors=True)
        raise MissingToolError(f"fetching the {what} jars failed: {' '.join(cmd)}\n"
                               f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    (partial / MARKER).write_text(f"{what} {KAFKA_VERSION}\n")
    if not (target / MARKER).exists():
        shutil.rmtree(target, ignore_errors=True)  # an interrupted fetch from before the marker
    try:
        partial.rename(target)
    except OSError:  # another process finished first: use theirs
        shutil.rmtree(partial, ignore_errors=True)
    return target


# A first start runs two JVMs one after the other (the storage's format, then the broker): room for both
# on a small machine busy with other work (`make test`'s three processes, a bench)
START_TIMEOUT_S = 120.0
LISTEN_PORTS_LOW = 20_000  # where free_port looks: below the kernel's ephemeral range (see _ephemeral_low)
FREE_PORT_TRIES_MAX = 1_000
HANDED_OUT_KEPT = 1_000  # the ports free_port handed out last, with their next ones, not handed out again
_PORT_PICKS = random.SystemRandom()  # not the global generator, which tests may seed alike in each process
_handed_out: collections.deque[int] = collections.deque(maxlen=2 * HANDED_OUT_KEPT)
_share: tuple[int, int] = (0, 1)  # (index, count): the slice of the range this process picks from


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def share_listen_ports(index: int, count: int) -> None:
    """From now on free_port picks from the index-th of `count` equal slices of its range. Processes that
    start servers side by side (the test processes) each take their own: a port is free when picked, and a
    broker's JVM binds it seconds later, so another process could pick it meanwhile."""
    if not 0 <= index < count <= 64:
        raise ValueError(f"slice {index} of {count}: 0 <= index < count <= 64")
    global _share
    _share = (index, count)


def listen_ports() -> tuple[int, int]:
    """The range [low, high) free_port picks from in this process (share_listen_ports)."""
    low, high = LISTEN_PORTS_LOW, max(LISTEN_PORTS_LOW + 1_000, _ephemeral_low())
    index, count = _share
    width = (high - low) // count
    assert width >= 10, "each process's slice holds a few ports"
    return low + index * width, low + (index + 1) * width


def free_port() -> int:
    """A port nothing listens on, for a server of ours, chosen below the ephemeral range.

    A port the kernel hands out for bind(0) lies in the ephemeral range, where every outgoing
    connection on the machine takes its local port too: a broker restarted on such a port can
    find it held by some client's connection ("Address already in use"), and a client that keeps
    reconnecting to it while it is down can even connect to itself. Nor is a port handed out
    again, or its next one, while it is among the last HANDED_OUT_KEPT: a server may bind it later."""
    low, high = listen_ports()
    for _ in range(FREE_PORT_TRIES_MAX):
        port = _PORT_PICKS.randrange(low, high - 1)  # port + 1 free too, usually: the controller's (EmbeddedKafka)
        if port not in _handed_out and port + 1 not in _handed_out and port_is_free(port):
            _handed_out.extend((port, port + 1))
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
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule required"
PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule required"


class EmbeddedKafka:
    """`credentials`: the SCRAM users to create and give ACLs to, as tokens.json's "kafka" section
    ({"mechanism": "SCRAM-SHA-512", "worker": {"username", "password"}, "auditor": {...}}); without
    them only the broker's own principal can do anything.

    Alone, it is a cluster of one (node 1, its own voter). As a node of a cluster (ops/kafka_cluster.py):
    `node_id`, the quorum's `voters` ("1@127.0.0.1:port,..."), the cluster's size `brokers` (its replication
    settings, ops/kafka_settings.py), its `cluster_id`, and the file of the brokers' one password
    (`broker_credentials`, shared by the nodes; by default beside the storage)."""

    def __init__(self, data_dir: Path, port: int = 9092, controller_port: int | None = None,
                 heap_mib: int = 512, log_file: Path | None = None, full_jit: bool = False,
                 credentials: dict | None = None, node_id: int = 1, voters: str | None = None, brokers: int = 1,
                 cluster_id: str | None = None, broker_credentials: Path | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.port, self.controller_port, self.heap_mib = port, controller_port, heap_mib
        self.node_id, self.voters, self.brokers, self.cluster_id = node_id, voters, brokers, cluster_id
        self.broker_credentials = Path(broker_credentials) if broker_credentials else self.data_dir / BROKER_CREDENTIALS
        self.jit_flags = () if full_jit else QUICK_JIT_FLAGS
        self.log_file = Path(log_file) if log_file else self.data_dir / "kafka.log"
        self.credentials = {role: dict(credentials[role]) for role in ROLES if role in (credentials or {})}
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def admin_access(self) -> KafkaAccess:
        """The broker's own principal, its only super user: for creating topics, users and ACLs."""
        return KafkaAccess(self.bootstrap, "SASL_PLAINTEXT", "SCRAM-SHA-512", BROKER_USER, self._broker_password())

    def access(self, role: str) -> KafkaAccess:
        """How a client in `role` (streams.kafka_access.ROLES) reaches this broker."""
        found = self.credentials[role]
        return KafkaAccess(self.bootstrap, "SASL_PLAINTEXT", "SCRAM-SHA-512", found["username"], found["password"])

    def _broker_password(self) -> str:
        path = self.broker_credentials
        try:
            return json.loads(read_private_file(path))["password"]
        except FileNotFoundError:
            password = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
            write_private_file(path, json.dumps({"username": BROKER_USER, "password": password}).encode())
            return password

    def _scram_users(self) -> dict[str, str]:
        """name -> password of every SCRAM user this broker must know: its own, then the roles'."""
        return {BROKER_USER: self._broker_password(),
                **{found["username"]: found["password"] for found in self.credentials.values()}}

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

    def _security_properties(self, plain_for_broker: bool = False) -> dict[str, str]:
        """The listeners, SASL and the authorizer. With `plain_for_broker` the client listener also
        takes SASL/PLAIN from the broker's principal (its static password), so that a storage formatted
        before it had SCRAM users can be given them (_add_scram_users)."""
        password = self._broker_password()
        scram_login = f'{SCRAM_LOGIN} username="{BROKER_USER}" password="{password}";'
        plain_login = f'{PLAIN_LOGIN} username="{BROKER_USER}" password="{password}" user_{BROKER_USER}="{password}";'
        # The mechanisms, the authorizer and the super user are the deployment's (kafka_settings.SECURITY);
        # here: where it listens, and the login modules with the broker's password.
        props = {
            "listeners": f"CLIENT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"CLIENT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "CLIENT",
            "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            # clients, and the brokers to each other: SCRAM-SHA-512 (the broker's SCRAM user is made with the storage)
            "listener.name.client.scram-sha-512.sasl.jaas.config": scram_login,
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            # the brokers to the controllers: PLAIN, the brokers' principal its only user
            "listener.name.controller.plain.sasl.jaas.config": plain_login,
        }
        if plain_for_broker:
            props.update({"listener.name.client.sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
                          "listener.name.client.plain.sasl.jaas.config": plain_login,
                          "sasl.mechanism.inter.broker.protocol": "PLAIN"})
        return props

    def properties(self, plain_for_broker: bool = False) -> dict[str, str]:
        """This node's server.properties: the ledger's settings for a cluster of its size (ops/kafka_settings.py),
        its listeners and security, its storage; retention is per topic (streams/topics.py), nothing global."""
        return {
            **kafka_settings.cluster(self.brokers), **kafka_settings.SMALL_MACHINE,
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters or f"{self.node_id}@127.0.0.1:{self.controller_port}",
            **self._security_properties(plain_for_broker),
            "log.dirs": str(self.data_dir / "kafka-logs"),
        }

    def _write_properties(self, plain_for_broker: bool = False) -> Path:
        props = self.properties(plain_for_broker)
        path = self.data_dir / "server.properties"
        write_private_file(path, "".join(f"{k}={v}\n" for k, v in props.items()).encode())  # holds the broker's password
        return path

    def start(self, timeout_s: float = START_TIMEOUT_S) -> EmbeddedKafka:
        """Start the broker and wait until it serves; its SCRAM users and ACLs made so."""
        if self.process and self.process.poll() is None:
            return self
        deadline = time.monotonic() + timeout_s
        formatted_now = self.launch(deadline)
        self.wait_ready(deadline)
        try:
            self.reconcile(formatted_now)
        except BaseException:
            self.stop()
            raise
        return self

    def reconcile(self, formatted_now: bool) -> None:
        """Its SCRAM users (given again on a storage formatted before: the roles' passwords may have changed
        since, a new tokens.json) and the roles' ACLs."""
        if not formatted_now:
            ensure_users(self.admin_access, self._scram_users())
        if self.credentials:
            usernames = {role: found["username"] for role, found in self.credentials.items()}
            ensure_acls(self.admin_access, acl_bindings(usernames))

    def launch(self, deadline: float) -> bool:
        """Format the storage if new (True then), and start the JVM without waiting for it to serve: the node
        of a cluster serves only once a quorum of voters runs."""
        self._check_ports()  # before anything slow, so a clash is reported at once
        libs = ensure_kafka_jars()
        java = _require("java")
        for d in (self.data_dir, self.log_file.parent):
            d.mkdir(parents=True, exist_ok=True)
        cp = [f"-Dlog4j.configuration=file:{HERE / 'log4j.properties'}", "-cp", f"{libs}/*"]
        # format once: meta.properties marks formatted storage, and data survives restarts
        formatted_now = not (self.data_dir / "kafka-logs" / "meta.properties").exists()
        if formatted_now:
            props = self._write_properties()
            scram = [arg for name, password in self._scram_users().items()
                     for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")]
            with open(self.log_file, "ab") as out:
                fmt = subprocess.run([java, *cp, "kafka.tools.StorageTool", "format", "--ignore-formatted",
                                      "-t", self.cluster_id or _cluster_id(), "-c", str(props), *scram],
                                     stdout=out, stderr=out)
            if fmt.returncode:
                raise KafkaStartError(f"formatting {self.data_dir} failed:\n{self._log_tail()}")
            (self.data_dir / SCRAM_USERS_MARKER).touch()
        elif not (self.data_dir / SCRAM_USERS_MARKER).exists():
            self._add_scram_users(java, cp, deadline)  # a storage from before SASL: once
        self._spawn(java, cp, self._write_properties())
        return formatted_now

    def _run(self, java: str, cp: list[str], props: Path, deadline: float,
             admin_access: KafkaAccess | None = None) -> None:
        self._spawn(java, cp, props)
        self.wait_ready(deadline, admin_access)

    def _spawn(self, java: str, cp: list[str], props: Path) -> None:
        with open(self.log_file, "ab") as out:
            self.process = subprocess.Popen(
                [java, f"-Xms{self.heap_mib}m", f"-Xmx{self.heap_mib}m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                 *self.jit_flags, "-Djava.awt.headless=true", *cp, "kafka.Kafka", str(props)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=functools.partial(prepare_child, os.getpid()))

    def wait_ready(self, deadline: float, admin_access: KafkaAccess | None = None) -> None:
        """Until the broker serves and its metadata lists this node (stopped if not, by `deadline`)."""
        try:
            self._wait_ready(deadline, admin_access or self.admin_access)
        except BaseException:
            self.stop()
            raise

    def _add_scram_users(self, java: str, cp: list[str], deadline: float) -> None:
        """Storage formatted before the broker had SASL holds no SCRAM user, not even the broker's own,
        and kafka-storage adds users only when formatting. So the broker runs once with SASL/PLAIN also
        open to its own principal, which creates the SCRAM users through the AdminClient, and stops."""
        log.warning("%s was formatted without SCRAM users: adding them (once)", self.data_dir)
        plain = KafkaAccess(self.bootstrap, "SASL_PLAINTEXT", "PLAIN", BROKER_USER, self._broker_password())
        self._run(java, cp, self._write_properties(plain_for_broker=True), deadline, plain)
        try:
            ensure_users(plain, self._scram_users())
        finally:
            self.stop()
        (self.data_dir / SCRAM_USERS_MARKER).touch()

    def _wait_ready(self, deadline: float, admin_access: KafkaAccess) -> None:
        admin = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise KafkaStartError(f"Kafka exited with {self.process.returncode}; "
                                      f"last lines of {self.log_file}:\n{self._log_tail()}")
            try:
                if admin is None:  # only once the port is open, to keep librdkafka quiet
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    admin = AdminClient(client_config(admin_access, logger=log))
                if self.node_id in admin.list_topics(timeout=2).brokers:
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

    def kill(self) -> None:
        """SIGKILL, as a machine that loses power: nothing flushed, no controlled shutdown."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()

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
        tools = ensure_kafka_tools() if args.action == "fetch" else None  # `credit-ledger kafka-tool`, offline
    except MissingToolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.action == "fetch":
        print(f"Kafka {KAFKA_VERSION} jars in {libs}, its operator tools in {tools}")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so the `with` below stops the JVM
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored (`cmd &`)
    credentials = create_dev_kafka_credentials(args.data_dir)  # kept across runs, like `up`'s
    with EmbeddedKafka(args.data_dir, port=args.port, credentials=credentials) as kafka:
        ensure_topics(kafka.admin_access)
        print(f"Kafka on {kafka.bootstrap} (SASL_PLAINTEXT, SCRAM-SHA-512), data in {kafka.data_dir}; "
              f"credentials in {kafka.data_dir / TOKENS_FILE}; Ctrl-C stops it", flush=True)
        try:
            kafka.process.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
