"""Settings: flags, then CREDIT_LEDGER_* environment variables, then credit-ledger.toml."""
from __future__ import annotations

import base64
import binascii
import contextlib
import gc
import itertools
import os
import sys
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

CONFIG_FILE = "credit-ledger.toml"
# A secret given as a file (pseudonym_key_file, master_key_file, kafka_sasl_password_file) is one line of text.
SECRET_FILE_BYTES_MAX = 4096
MASTER_KEY_BYTES = 32  # AES-256: it wraps every natural person's data key (streams/key_store.py)
KEY_HINT = "e.g. `openssl rand -base64 32 > F`"  # how to make a key of either kind

# CPython's cyclic collector runs its youngest generation every 700 allocations by default; folding
# allocates a few hundred dicts an event, and the cycles it hunts are rare here (states are trees).
# Measured, 40,000 mixed events through the LedgerProcessor: 322-335 us an event by default, 268 with 50,000.
GC_GEN0_OBJECTS = 50_000


def tune_gc() -> None:
    """Collect less often, and never re-scan what start-up imported (gc.freeze): for every
    command, the worker, and the bench's baselines alike."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_OBJECTS, *gc.get_threshold()[1:])


@dataclass(frozen=True)
class Settings:
    kafka: str = "127.0.0.1:9092"  # bootstrap servers
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    kafka_port: int = 9092  # the embedded broker's port (`up` only)
    data_dir: str = "data"
    # Natural persons' keys. No default: a command that needs one and finds none exits naming these settings
    # (missing_key_message); only `up` makes development keys (in <data dir>/keys/, ops/up.py).
    pseudonym_key: str = ""  # HMAC key of natural persons' pseudonyms (projections/pseudonym.py), >= 16 bytes of text
    pseudonym_key_file: str = ""  # ... read from this file instead (a container's secret)
    master_key: str = ""  # base64 of 32 bytes: wraps the per-person keys on credit.pii-keys (streams/key_store.py)
    master_key_file: str = ""  # ... read from this file instead
    partitions: int = 4
    # processes that validate and fold the worker's batches (streams/fold_pool.py); 1: its own process alone
    fold_processes: int = 1
    calendar_overrides: str = ""  # a TOML file with newly published holiday schedules (see ops/calendar_overrides.example.toml)
    policy_dir: str = ""  # more policy files (YAML, as in projections/policies/), e.g. a province's newer one
    clock_speed: float = 1.0  # >1 runs the timers' clock fast (the demo); see streams/clock.py
    clock_started_s: float = 0.0  # Unix time the fast clock starts from, shared by `up` and its worker; 0: now
    principals_file: str = ""  # who may do what (streams/principals.py); "": <data dir>/principals.json
    # natural persons' sealing keys (streams/pii.py): "" the deployment's shared store, the compacted topic
    # credit.pii-keys (streams/key_store.py); "off": none, a natural person's name and ID number are dropped
    pii_key_store: str = ""
    token: str = ""  # the bearer token the CLI's reads of the worker carry; "": the embedded admin's, if any
    # Who this process is to Kafka (streams/kafka_access.py). Unset: the role's SCRAM user in
    # <data dir>/tokens.json ("kafka", written by `up`) over SASL_PLAINTEXT; without one, PLAINTEXT.
    kafka_security_protocol: str = ""  # PLAINTEXT, SASL_PLAINTEXT or SASL_SSL
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_sasl_password_file: str = ""  # the password read from this file instead (a container's secret)
    kafka_ssl_ca_file: str = ""  # SASL_SSL: the CAs (PEM) the brokers' certificates are checked against; "": the system's

    def secret(self, name: str) -> str:
        """The secret setting `name` ("pseudonym_key", "master_key"), given itself or by `<name>_file`
        (the file's text, stripped); "" when neither is set. Exits naming the file it cannot read."""
        from streams.private_files import read_private_file

        value, path = getattr(self, name), getattr(self, f"{name}_file")
        if not value and not path:  # on the embedded stack: the development key `up` made, as its tokens
            path = self.development_key_path(name) or ""
        if value or not path:
            return value.strip()
        try:
            data = read_private_file(Path(path), SECRET_FILE_BYTES_MAX, require_private=False)
        except OSError as error:  # PrivateFileError (too large) is one
            sys.exit(f"{name.replace('_', ' ')}: cannot read {path}: {error.strerror or error}")
        try:
            return data.decode("utf-8").strip()
        except UnicodeDecodeError:
            sys.exit(f"{name.replace('_', ' ')}: {path} is not text (UTF-8)")

    def development_key_path(self, name: str) -> str | None:
        """<data dir>/keys/<file> when `up` made a development key `name` there (ops/up.py), else None: a
        command run on the embedded stack (replay, sample ...) uses the key its worker uses."""
        from ops.up import DEV_KEY_FILES, DEV_KEYS_DIR

        path = Path(self.data_dir) / DEV_KEYS_DIR / DEV_KEY_FILES[name]
        return str(path) if path.is_file() else None

    @property
    def has_pseudonym_key(self) -> bool:
        return bool(self.pseudonym_key or self.pseudonym_key_file or self.development_key_path("pseudonym_key"))

    @property
    def pseudonym_key_bytes(self) -> bytes:
        """The pseudonym key; a process without one exits, saying what to configure."""
        from projections.pseudonym import MIN_PSEUDONYM_KEY_BYTES

        key = self.secret("pseudonym_key").encode("utf-8")
        if not key:
            sys.exit(missing_key_message("pseudonym_key"))
        if len(key) < MIN_PSEUDONYM_KEY_BYTES:
            sys.exit(f"pseudonym key: {len(key)} bytes; it needs at least {MIN_PSEUDONYM_KEY_BYTES} ({KEY_HINT})")
        return key

    @property
    def master_key_bytes(self) -> bytes:
        """The master key that wraps natural persons' data keys; a process without one exits, saying what to
        configure."""
        text = self.secret("master_key")
        if not text:
            sys.exit(missing_key_message("master_key"))
        try:
            key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != MASTER_KEY_BYTES:
            sys.exit(f"master key: must be the base64 of {MASTER_KEY_BYTES} random bytes ({KEY_HINT})")
        return key

    def require_worker_keys(self) -> None:
        """Exit, saying what to configure, unless the keys a worker needs are configured and well-formed:
        the pseudonym key, and the master key unless sealing is off (pii_key_store = "off")."""
        self.pseudonym_key_bytes
        if self.pii_key_store != "off":
            self.master_key_bytes

    @property
    def principals_path(self) -> Path:
        return Path(self.principals_file) if self.principals_file else Path(self.data_dir) / "principals.json"

    def key_store(self):
        """The key store the edge seals natural persons' personal information with, or None when sealing
        is off: the deployment's one store, credit.pii-keys, as the worker's principal."""
        if self.pii_key_store == "off":
            return None
        if self.pii_key_store:
            sys.exit(f"pii_key_store: {self.pii_key_store!r}; \"\" (the shared topic credit.pii-keys) or \"off\"")
        from streams.kafka_access import WORKER
        from streams.key_store import KafkaKeyStore

        return KafkaKeyStore(self.kafka_access(WORKER), self.master_key_bytes)

    def principals(self):
        """The configured principals (none when the file is missing: everyone is anonymous)."""
        from streams.principals import Principals, PrincipalsError

        try:
            return Principals.load(self.principals_path, missing_ok=True)
        except PrincipalsError as error:
            sys.exit(f"principals: {error}")

    @property
    def operator_token(self) -> str | None:
        """The token the CLI sends the worker: the configured one, else on the embedded stack the
        development admin's (<data dir>/tokens.json, written by `up`), else none (the public)."""
        if self.token:
            return self.token
        from streams.principals import TOKENS_FILE, read_tokens

        return read_tokens(Path(self.data_dir) / TOKENS_FILE).get("admin")

    def kafka_access(self, role: str = "worker"):
        """How this process reaches Kafka, acting as `role` ("worker" or "auditor") when its credentials
        come from <data dir>/tokens.json; SASL settings given explicitly are used whatever the role."""
        from streams.kafka_access import KafkaAccess, KafkaAccessError
        from streams.principals import TOKENS_FILE, PrincipalsError, read_tokens

        protocol = self.kafka_security_protocol.upper()
        username, password, mechanism = self.kafka_sasl_username, self.kafka_sasl_password, self.kafka_sasl_mechanism
        if self.kafka_sasl_password_file:
            try:
                password = Path(self.kafka_sasl_password_file).read_text(encoding="utf-8").strip()
            except OSError as error:
                sys.exit(f"kafka: cannot read the SASL password file {self.kafka_sasl_password_file}: "
                         f"{error.strerror or error}")
        if not username and protocol in ("", "SASL_PLAINTEXT", "SASL_SSL"):
            path = Path(self.data_dir) / TOKENS_FILE
            try:
                found = read_tokens(path).get("kafka")
            except PrincipalsError as error:
                sys.exit(f"kafka: {error}")
            if found is not None:
                if role not in found:
                    sys.exit(f"kafka: {path} has no Kafka credentials for the {role} role")
                username, password, mechanism = found[role]["username"], found[role]["password"], found["mechanism"]
                protocol = protocol or "SASL_PLAINTEXT"
        try:
            return KafkaAccess(self.kafka, protocol or "PLAINTEXT", mechanism, username, password,
                               self.kafka_ssl_ca_file)
        except KafkaAccessError as error:
            sys.exit(f"kafka: {error}")

    def with_kafka(self, access) -> Settings:
        """These settings reaching Kafka as `access` (a streams.kafka_access.KafkaAccess) does, whatever
        the role: for a child process (to_env), e.g. a worker against a broker of the bench or the tests."""
        return replace(self, kafka=access.bootstrap, kafka_security_protocol=access.security_protocol,
                       kafka_sasl_mechanism=access.mechanism, kafka_sasl_username=access.username,
                       kafka_sasl_password=access.password, kafka_sasl_password_file="",
                       kafka_ssl_ca_file=access.ca_file)

    @property
    def web_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"

    def working_calendar(self):
        """The official working-day calendar, with the operator's overrides if configured."""
        from projections.calendar import Overrides, WorkingCalendar, parse_overrides

        if not self.calendar_overrides:
            return WorkingCalendar(Overrides())
        path = Path(self.calendar_overrides)
        try:
            return WorkingCalendar(parse_overrides(path.read_text(encoding="utf-8")))
        except OSError as error:
            sys.exit(f"calendar overrides {path}: {error.strerror}")
        except ValueError as error:
            sys.exit(f"calendar overrides {path}: {error}")

    def policies(self):
        """Every packaged policy by effective date, on this installation's working-day calendar."""
        from projections.policy import DEFAULT_POLICIES, PolicyBook, parse_policy

        book = DEFAULT_POLICIES
        if self.policy_dir:
            try:
                extra = tuple(parse_policy(path.read_text(encoding="utf-8"), str(path))
                              for path in sorted(Path(self.policy_dir).glob("*.yaml")))
                book = PolicyBook(book.policies + extra)
            except (OSError, ValueError) as error:
                sys.exit(f"policies: {error}")
        return book.with_calendar(self.working_calendar())

    def policy(self):
        """The policy in force today (Asia/Shanghai)."""
        from datetime import datetime

        from projections.canonical import SHANGHAI

        return self.policies().in_force(datetime.now(SHANGHAI).date().isoformat())

    def clock(self):
        from streams.clock import Clock

        return Clock(self.clock_speed, started_s=self.clock_started_s or None)

    def to_env(self) -> dict[str, str]:
        return {f"CREDIT_LEDGER_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}


SECRET_SETTINGS = {
    "pseudonym_key": ("pseudonym key", "natural persons' ID numbers cannot be pseudonymised",
                      "at least 16 bytes of secret text"),
    "master_key": ("master key", "natural persons' names and ID numbers cannot be sealed or read",
                   f"the base64 of {MASTER_KEY_BYTES} random bytes"),
}


def missing_key_message(name: str) -> str:
    """What a command needing the key `name` says when none is configured: exactly what to set."""
    what, why, form = SECRET_SETTINGS[name]
    env = f"CREDIT_LEDGER_{name.upper()}"
    flag = f"--{name.replace('_', '-')}-file"
    return (f"no {what} configured: {why}. Set {env}_FILE (or `worker {flag}`) to a file holding it, or {env} to "
            f"the key itself, or {name}_file in {CONFIG_FILE}: {form}, the same for every worker and command of "
            f"the deployment and kept for its lifetime ({KEY_HINT}). Only `credit-ledger up` makes a development "
            "one, in its data dir.")


KAFKA_SETTINGS = ("kafka", "kafka_security_protocol", "kafka_sasl_mechanism", "kafka_sasl_username",
                  "kafka_sasl_password", "kafka_sasl_password_file", "kafka_ssl_ca_file")


def kafka_env(access) -> dict[str, str]:
    """The environment variables that make a child process reach Kafka as `access` does."""
    env = Settings().with_kafka(access).to_env()
    return {f"CREDIT_LEDGER_{name.upper()}": env[f"CREDIT_LEDGER_{name.upper()}"] for name in KAFKA_SETTINGS}


def data_dir_problem(data_dir: Path) -> str | None:
    """Why the worker cannot keep its state in `data_dir` (None when it can): said before anything
    is started or written, so a bad directory leaves no partial state behind."""
    missing = list(itertools.takewhile(lambda path: not path.exists(), (data_dir, *data_dir.parents)))
    probe = data_dir / ".write-probe"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as error:
        # On a full disk the probe is created but cannot be written: it goes, and so do the
        # directories made for it, deepest first.
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
        for path in missing:
            with contextlib.suppress(OSError):
                path.rmdir()
        return f"data dir {data_dir} is not writable: {error.strerror or error}"
    return None


def load_settings(**flags) -> Settings:
    """Flags (None means not given) win over the environment, which wins over the file."""
    settings = Settings()
    path = Path(os.environ.get("CREDIT_LEDGER_CONFIG", CONFIG_FILE))
    layers = [tomllib.loads(path.read_text()) if path.is_file() else {}]
    layers.append({f.name: os.environ[f"CREDIT_LEDGER_{f.name.upper()}"]
                   for f in fields(Settings) if f"CREDIT_LEDGER_{f.name.upper()}" in os.environ})
    layers.append({k: v for k, v in flags.items() if v is not None})
    for layer in layers:
        settings = replace(settings, **{k: _typed(k, v) for k, v in layer.items() if k in _FIELD_TYPES})
    return settings


_FIELD_TYPES = {f.name: f.type for f in fields(Settings)}


def _typed(name: str, value):
    if _FIELD_TYPES[name] == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            sys.exit(f"setting {name}: {value!r} is not a number")
    if _FIELD_TYPES[name] == "int":
        try:
            return int(value)
        except (TypeError, ValueError):
            sys.exit(f"setting {name}: {value!r} is not a whole number")
    return str(value)
