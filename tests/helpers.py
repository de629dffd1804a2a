"""Helpers for the integration and e2e tests: real processes, real HTTP, polling."""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


# -- Kafka as the tests reach it -----------------------------------------------------------------------
# Every broker of the tests runs as production's does, with SASL/SCRAM and ACLs (ops/embedded_kafka.py),
# and knows the same SCRAM users: the worker's and the auditor's, made once a test process, in the
# "kafka" section of a tokens.json as `up` writes it. A broker left running for a fast edit-test loop
# (CREDIT_LEDGER_TEST_KAFKA=host:port, `python -m ops.embedded_kafka run --data-dir D`) is reached with
# the users in CREDIT_LEDGER_TEST_KAFKA_TOKENS=D/tokens.json, as its super user with D's broker credentials.
_credentials_dir: list[Path] = []


def kafka_credentials_dir() -> Path:
    """The directory whose tokens.json holds the test brokers' Kafka users: the data dir of a command
    run against a test broker (`cli`) when the test names none, so that it acts in its own role."""
    if not _credentials_dir:
        from streams.principals import create_dev_kafka_credentials

        external = os.environ.get("CREDIT_LEDGER_TEST_KAFKA_TOKENS")
        if external:
            _credentials_dir.append(Path(external).parent)
        else:
            made = Path(tempfile.mkdtemp(prefix="credit-ledger-test-kafka-"))
            atexit.register(shutil.rmtree, made, True)
            create_dev_kafka_credentials(made)
            _credentials_dir.append(made)
    return _credentials_dir[0]


def kafka_credentials() -> dict:
    """The "kafka" section: {"mechanism": "SCRAM-SHA-512", "worker": {"username", "password"}, "auditor": {...}}."""
    from streams.principals import TOKENS_FILE, read_tokens

    return read_tokens(kafka_credentials_dir() / TOKENS_FILE)["kafka"]


def test_keys_env() -> dict[str, str]:
    """The keys of the tests' deployment, as a worker or a command is given them: the variables naming the files
    of its pseudonym key and master key (made once, next to the test brokers' Kafka users, as `up` makes its
    development keys). Every worker and command of the tests shares them, as a deployment's processes do."""
    import base64
    import secrets

    from streams.private_files import write_private_file

    env = {}
    for name in ("pseudonym_key", "master_key"):
        path = kafka_credentials_dir() / "keys" / f"{name.split('_')[0]}.key"
        if not path.exists():
            write_private_file(path, base64.b64encode(secrets.token_bytes(32)) + b"\n")
        env[f"CREDIT_LEDGER_{name.upper()}_FILE"] = str(path)
    return env


test_keys_env.__test__ = False


def test_key_store(bootstrap: str):
    """The tests' deployment's key store (credit.pii-keys under the tests' master key), as another process
    of it holds it: a KafkaKeyStore of its own, as the worker's principal."""
    import base64

    from streams.key_store import KafkaKeyStore

    master = (Path(test_keys_env()["CREDIT_LEDGER_MASTER_KEY_FILE"])).read_bytes()
    return KafkaKeyStore(kafka_access(bootstrap, "worker"), base64.b64decode(master.strip()))


test_key_store.__test__ = False


def kafka_access(bootstrap: str, role: str = "worker"):
    """How a client in `role` ("worker", "auditor") reaches the test broker at `bootstrap`; "none": with
    no credentials at all (PLAINTEXT)."""
    from streams.kafka_access import KafkaAccess

    if role == "none":
        return KafkaAccess(bootstrap)
    found = kafka_credentials()[role]
    return KafkaAccess(bootstrap, "SASL_PLAINTEXT", "SCRAM-SHA-512", found["username"], found["password"])


def kafka_config(bootstrap: str, role: str = "worker", **settings) -> dict:
    """The confluent-kafka configuration of a client of the test broker acting in `role` (see kafka_access),
    with `settings` (librdkafka's names, e.g. **{"group.id": ...}) added: every Producer, Consumer and
    AdminClient of the tests is made from it."""
    from streams.kafka_access import client_config

    return client_config(kafka_access(bootstrap, role), **settings)


def kafka_env(bootstrap: str, role: str = "worker") -> dict[str, str]:
    """The CREDIT_LEDGER_KAFKA* variables of a child process reaching the test broker in `role`."""
    from ops.config import kafka_env as env_of

    return env_of(kafka_access(bootstrap, role))


def test_broker(data_dir: Path, **options):
    """An EmbeddedKafka (not started) of the tests' own, with their SCRAM users and ACLs."""
    from ops.embedded_kafka import EmbeddedKafka

    return EmbeddedKafka(data_dir, credentials=kafka_credentials(), **options)


test_broker.__test__ = False  # a helper, not a test for pytest to collect


def wait_for(predicate, timeout_s: float = 60.0, interval_s: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")


def http_json(url: str, data: bytes | None = None, timeout_s: float = 5.0, token: str | None = None
              ) -> tuple[int, object]:
    """(status, JSON body); 0 when unreachable. With `token`, as that principal; without, the public."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body or b"null")
        except ValueError:
            return error.code, body.decode(errors="replace")
    except (OSError, ValueError):
        return 0, None


def cli(*args: str, env: dict | None = None, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
    """`credit-ledger ARGS`; unless `env` names a data dir, the one holding the test brokers' Kafka users; with the
    tests' keys (test_keys_env) unless `env` names others."""
    return subprocess.run([sys.executable, "-m", "ops.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "CREDIT_LEDGER_DATA_DIR": str(kafka_credentials_dir()), **test_keys_env(),
                               **(env or {})},
                          timeout=timeout_s)


class Worker:
    """`credit-ledger worker` as a child process against the test broker, with the development
    principals `up` creates (self.tokens: supervisor, auditor, admin, publishers by authority) and,
    as `up` writes them too, the Kafka users in its data dir's tokens.json: it reaches the broker as
    the worker's principal, and a command given its env (`cli(..., env=worker.env)`) in its own role."""

    def __init__(self, bootstrap: str, data_dir: Path, web_port: int, env: dict[str, str] | None = None,
                 authority_codes=(), subject_ids=()):
        self.env = {**os.environ, "CREDIT_LEDGER_KAFKA": bootstrap, "CREDIT_LEDGER_DATA_DIR": str(data_dir),
                    "CREDIT_LEDGER_WEB_PORT": str(web_port), **test_keys_env(), **(env or {})}
        self.url = f"http://127.0.0.1:{web_port}"
        self.data_dir = Path(data_dir)
        self.log_path = self.data_dir / "worker.log"
        self.process: subprocess.Popen | None = None
        self.authority_codes = tuple(authority_codes)
        self.subject_ids = tuple(subject_ids)  # a development subject principal each (self.tokens["subjects"])
        self.tokens: dict = {}

    def start(self) -> Worker:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        from ops.embedded_kafka import set_parent_death_signal
        from streams.principals import create_dev_principals, write_kafka_credentials

        write_kafka_credentials(self.data_dir, kafka_credentials())
        self.tokens = create_dev_principals(self.data_dir, self.authority_codes, subject_ids=self.subject_ids)

        self.process = subprocess.Popen([sys.executable, "-m", "ops.cli", "worker"], cwd=REPO, env=self.env,
                                        stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT,
                                        preexec_fn=set_parent_death_signal)  # no orphan if the test dies
        wait_for(lambda: self.alive() and http_json(self.url + "/readyz")[0] == 200, 90, what="worker ready")
        return self

    def alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"worker exited {self.process.returncode}:\n{self.log_path.read_text()[-3000:]}")
        return True

    def get(self, path: str, role: str = "admin") -> tuple[int, object]:
        """GET a path of the worker's API as `role` (a key of self.tokens), or as the public (None)."""
        return http_json(self.url + path, token=self.tokens.get(role) if role else None)

    def file(self, subject_id: str) -> dict | None:
        """The whole credit file, as an admin sees it."""
        status, body = self.get(f"/subjects/{subject_id}")
        return body if status == 200 else None

    def stacks(self) -> str:
        """The worker's tasks and threads, as `kill -USR1` has it write them to its log."""
        size = self.log_path.stat().st_size
        self.process.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        with self.log_path.open("rb") as log:
            log.seek(size)
            return log.read().decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait()
        return self.process.returncode if self.process else 0


def refold_log(bootstrap: str):
    """A clean re-fold of everything in credit.events now, in memory (read as the auditor)."""
    from streams import ledger_reader, topics
    from streams.ledger import LedgerProcessor
    from streams.store import MemoryStore

    store = MemoryStore()
    processor = LedgerProcessor(store)
    records = [(p, o, k, v) for p, o, k, v, _ in ledger_reader.read_topic(kafka_access(bootstrap, "auditor"),
                                                                        topics.EVENTS)]
    processor.commit(processor.process(records))
    return store


def folded_file(file: dict | None) -> dict | None:
    """A credit file the worker served, without what it adds from its key store for those entitled to it
    (a natural person's unsealed name and ID number, subject.personal_info): what the fold made of the log."""
    if file is None or "personal_info" not in file.get("subject", {}):
        return file
    return {**file, "subject": {k: v for k, v in file["subject"].items() if k != "personal_info"}}


def wait_until_equal_to_refold(worker: Worker, bootstrap: str, subject_ids, timeout_s: float = 120.0) -> None:
    """Wait until the worker's files equal a clean re-fold of the log. The re-fold is redone on each
    try: the worker's timers may still be adding system events to the log."""
    from projections.fold import credit_file

    differing: list = []

    def equal():
        expected = refold_log(bootstrap)
        differing[:] = [s for s in subject_ids if folded_file(worker.file(s)) != credit_file(expected.get(s))][:1]
        return not differing
    try:
        wait_for(equal, timeout_s, interval_s=1.0, what="the worker's files equal a clean re-fold of the log")
    except AssertionError:
        live, want = folded_file(worker.file(differing[0])), credit_file(refold_log(bootstrap).get(differing[0]))
        keys = sorted(k for k in set(live or {}) | set(want) if (live or {}).get(k) != want.get(k))
        stacks = worker.stacks() if worker.process.poll() is None else "(exited)"
        raise AssertionError(f"{differing[0]} differs from a clean re-fold in {keys}: live "
                             f"{ {k: (live or {}).get(k) for k in keys} } vs re-fold { {k: want.get(k) for k in keys} }"
                             f"\nthe worker's tasks and threads:\n{stacks[-20_000:]}") from None


def evict_group_members(bootstrap: str, group_id: str, timeout_s: float = 30.0) -> list[str]:
    """Remove every member of a consumer group now (a LeaveGroup on each one's behalf), as its coordinator
    does once their sessions expire. For members whose process was killed without leaving (SIGKILL):
    the next worker to join then takes the partitions at once instead of waiting the dead one's session
    out. Returns the member ids removed."""
    import asyncio

    from aiokafka.client import AIOKafkaClient, CoordinationType
    from aiokafka.errors import for_code
    from aiokafka.protocol.group import LeaveGroupRequest
    from confluent_kafka.admin import AdminClient

    from streams.kafka_access import aiokafka_config

    admin = AdminClient(kafka_config(bootstrap))  # the worker's principal: its groups
    group = admin.describe_consumer_groups([group_id], request_timeout=timeout_s)[group_id].result(timeout_s)
    member_ids = [member.member_id for member in group.members]

    async def leave() -> None:
        client = AIOKafkaClient(**aiokafka_config(kafka_access(bootstrap)))
        await client.bootstrap()
        try:
            coordinator = await client.coordinator_lookup(CoordinationType.GROUP, group_id)
            for member_id in member_ids:
                response = await client.send(coordinator, LeaveGroupRequest(group_id, member_id))
                if response.error_code not in (0, 25):  # 25: UNKNOWN_MEMBER_ID, its session expired meanwhile
                    raise for_code(response.error_code)(f"LeaveGroup {group_id}/{member_id}")
        finally:
            await client.close()
    asyncio.run(asyncio.wait_for(leave(), timeout_s))
    return member_ids


def deployment_pseudonym_key() -> bytes:
    """The pseudonym key every worker of the tests is given (test_keys_env), as the worker reads it: a
    rejection's raw_digest is projections.personal_data.rejection_digest(this, the bytes refused)."""
    return Path(test_keys_env()["CREDIT_LEDGER_PSEUDONYM_KEY_FILE"]).read_text("utf-8").strip().encode("utf-8")
