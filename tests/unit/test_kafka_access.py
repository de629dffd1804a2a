"""Who a process is to Kafka: the settings (flags, environment, the "kafka" section of tokens.json) make one
KafkaAccess, which configures every client; the ACLs give each principal what it needs and no more."""
from __future__ import annotations

import json
import logging
import stat

import pytest
from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType

from ops.config import Settings, kafka_env, load_settings
from ops.kafka_acls import AUDITED_TOPICS, acl_bindings
from streams import topics
from streams.kafka_access import (CLIENT_LOG, DEV_USERNAMES, KafkaAccess, KafkaAccessError, aiokafka_config,
                                  client_config, quiet_startup_noise)
from streams.principals import TOKENS_FILE, create_dev_kafka_credentials, create_dev_principals, read_tokens

AUTHORITY = "11440300MB2C92050G"


def test_client_configuration_for_each_protocol(tmp_path):
    assert client_config("h:1", **{"acks": "all"}) == {"bootstrap.servers": "h:1", "security.protocol": "PLAINTEXT",
                                                       "logger": CLIENT_LOG, "acks": "all"}
    sasl = KafkaAccess("h:1,h:2", "SASL_PLAINTEXT", "SCRAM-SHA-512", "u", "secret")
    assert client_config(sasl) == {"bootstrap.servers": "h:1,h:2", "security.protocol": "SASL_PLAINTEXT",
                                   "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "u", "sasl.password": "secret",
                                   "logger": CLIENT_LOG}
    ca = tmp_path / "ca.pem"
    tls = KafkaAccess("h:1", "SASL_SSL", "SCRAM-SHA-512", "u", "secret", str(ca))
    assert client_config(tls)["ssl.ca.location"] == str(ca) and client_config(tls)["security.protocol"] == "SASL_SSL"
    assert aiokafka_config(sasl)["sasl_plain_password"] == "secret"
    # the password shows in no message
    assert "secret" not in repr(sasl) and "secret" not in str(sasl) and str(sasl) == "h:1,h:2 (as u, SASL_PLAINTEXT)"


@pytest.mark.parametrize("protocol, mechanism, username, password, problem", [
    ("SSL", "SCRAM-SHA-512", "u", "p", "security protocol"),
    ("SASL_PLAINTEXT", "GSSAPI", "u", "p", "mechanism"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-512", "", "p", "username and password"),
    ("SASL_SSL", "SCRAM-SHA-512", "u", "", "username and password"),
])
def test_an_unusable_configuration_is_refused(protocol, mechanism, username, password, problem):
    with pytest.raises(KafkaAccessError, match=problem):
        KafkaAccess("h:1", protocol, mechanism, username, password)


def test_the_embedded_credentials_sit_beside_the_tokens_and_survive_them(tmp_path):
    kafka = create_dev_kafka_credentials(tmp_path)
    assert kafka["mechanism"] == "SCRAM-SHA-512"
    assert {role: kafka[role]["username"] for role in DEV_USERNAMES} == DEV_USERNAMES
    assert create_dev_kafka_credentials(tmp_path) == kafka  # kept across restarts
    tokens = create_dev_principals(tmp_path, [AUTHORITY])  # the development tokens, written after
    assert tokens["kafka"] == kafka and read_tokens(tmp_path / TOKENS_FILE)["kafka"] == kafka
    path = tmp_path / TOKENS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(json.loads(path.read_text())) == {"supervisor", "auditor", "admin", "publishers", "kafka"}


def test_a_command_acts_in_its_role_with_the_data_dirs_credentials(tmp_path):
    kafka = create_dev_kafka_credentials(tmp_path)
    settings = Settings(kafka="127.0.0.1:9", data_dir=str(tmp_path))
    for role in ("worker", "auditor"):
        access = settings.kafka_access(role)
        assert (access.security_protocol, access.username, access.password) == (
            "SASL_PLAINTEXT", kafka[role]["username"], kafka[role]["password"])
    assert Settings(data_dir=str(tmp_path / "elsewhere")).kafka_access().security_protocol == "PLAINTEXT"


def test_explicit_settings_win_whatever_the_role(tmp_path, monkeypatch):
    create_dev_kafka_credentials(tmp_path)
    (tmp_path / "password").write_text("from-a-file\n")
    for name, value in {"CREDIT_LEDGER_DATA_DIR": str(tmp_path), "CREDIT_LEDGER_KAFKA": "k1:9092,k2:9092",
                        "CREDIT_LEDGER_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
                        "CREDIT_LEDGER_KAFKA_SASL_USERNAME": "someone",
                        "CREDIT_LEDGER_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "password"),
                        "CREDIT_LEDGER_KAFKA_SSL_CA_FILE": "/etc/ca.pem",
                        "CREDIT_LEDGER_CONFIG": str(tmp_path / "none.toml")}.items():
        monkeypatch.setenv(name, value)
    access = load_settings().kafka_access("auditor")
    assert access == KafkaAccess("k1:9092,k2:9092", "SASL_SSL", "SCRAM-SHA-512", "someone", "from-a-file", "/etc/ca.pem")
    # and a child process given kafka_env reaches Kafka the same way
    assert kafka_env(access)["CREDIT_LEDGER_KAFKA_SASL_PASSWORD"] == "from-a-file"


def test_a_data_dir_without_the_roles_credentials_is_named(tmp_path):
    (tmp_path / TOKENS_FILE).write_text(json.dumps({"kafka": {"mechanism": "SCRAM-SHA-512", "worker": {
        "username": "credit-ledger-worker", "password": "x" * 43}}}))
    (tmp_path / TOKENS_FILE).chmod(0o600)
    with pytest.raises(SystemExit, match="no Kafka credentials for the auditor role"):
        Settings(data_dir=str(tmp_path)).kafka_access("auditor")


def test_only_the_worker_writes_and_the_auditor_reads_three_topics():
    bindings = acl_bindings(DEV_USERNAMES)
    by_principal: dict[str, set] = {}
    for b in bindings:
        by_principal.setdefault(b.principal, set()).add((b.restype, b.name, b.resource_pattern_type, b.operation))
    worker, auditor = (by_principal[f"User:{DEV_USERNAMES[r]}"] for r in ("worker", "auditor"))
    assert set(by_principal) == {f"User:{name}" for name in DEV_USERNAMES.values()}
    assert {(kind, name, pattern, op) for kind, name, pattern, op in auditor if kind == ResourceType.TOPIC} == {
        (ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, op)
        for topic in AUDITED_TOPICS for op in (AclOperation.READ, AclOperation.DESCRIBE)}
    assert set(AUDITED_TOPICS) == {topics.EVENTS, topics.DIGESTS, topics.ACCESS_LOG}
    assert {op for kind, *_, op in auditor if kind == ResourceType.GROUP} == {AclOperation.DESCRIBE}
    writes = {(b.principal, b.name) for b in bindings if b.operation in (AclOperation.WRITE, AclOperation.ALL)}
    assert {principal for principal, _ in writes} == {f"User:{DEV_USERNAMES['worker']}"}
    assert {(ResourceType.TOPIC, t, ResourcePatternType.LITERAL, AclOperation.WRITE) for t in topics.ALL} <= worker
    # no one may change a topic's retention, delete records or topics, or touch the cluster
    assert not {b for b in bindings if b.operation in (AclOperation.ALTER_CONFIGS, AclOperation.DELETE,
                                                        AclOperation.ALTER, AclOperation.ALL)
                or b.restype == ResourceType.BROKER}


class _Kept(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)  # as the worker's log and a command's stderr: warnings and errors
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_known_benign_client_lines_are_debug_and_the_others_are_kept():
    """librdkafka's lines reach a logger, not raw stderr; its known benign ones (a young broker's "retrying", a
    reader consumer's unused coordinator torn down at close) and a young broker's coordinator election and
    Faust's own topic in aiokafka's and Faust's logs become debug lines. The same words of a real failure stay."""
    kept = _Kept()
    loggers = [CLIENT_LOG, *(logging.getLogger(name) for name in (
        "aiokafka.consumer.group_coordinator", "aiokafka.cluster", "faust.assignor.partition_assignor"))]
    for logger in loggers:
        logger.addHandler(kept)
    try:
        client_config("h:1")  # every client's logger gets the filter
        quiet_startup_noise()
        rdkafka = lambda level, facility, text: CLIENT_LOG.log(level, "%s [%s] %s", facility, "rdkafka#c-1", text)
        rdkafka(30, "GETPID", "[thrd:main]: Failed to acquire idempotence PID from broker b/1: Broker: Coordinator "
                              "load in progress: retrying")
        rdkafka(40, "FAIL", "[thrd:GroupCoordinator]: GroupCoordinator: SASL authentication error: "
                            "SaslAuthenticateRequest failed: Local: Broker transport failure (after 0ms in state DOWN)")
        rdkafka(40, "FAIL", "[thrd:GroupCoordinator]: GroupCoordinator: SASL authentication error: Authentication "
                            "failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512")
        rdkafka(40, "FAIL", "[thrd:b/1]: b/1: Connect to ipv4#127.0.0.1:1 failed: Connection refused")

        class Retriable(Exception):
            retriable = True

        class Fatal(Exception):
            retriable = False
        coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
        coordinator.error("Group Coordinator Request failed: %s", Retriable("GroupCoordinatorNotAvailableError"))
        coordinator.error("Group Coordinator Request failed: %s", Fatal("GroupAuthorizationFailedError"))
        logging.getLogger("aiokafka.cluster").error("Topic %s not found in cluster metadata",
                                                    "credit-ledger-web-__assignor-__leader")
        logging.getLogger("aiokafka.cluster").error("Topic %s not found in cluster metadata", topics.EVENTS)
        logging.getLogger("faust.assignor.partition_assignor").warning("Ignoring missing topic: %r",
                                                                       "credit-ledger-web-__assignor-__leader")
    finally:
        for logger in loggers:
            logger.removeHandler(kept)
    assert kept.lines == [
        "FAIL [rdkafka#c-1] [thrd:GroupCoordinator]: GroupCoordinator: SASL authentication error: Authentication "
        "failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
        "FAIL [rdkafka#c-1] [thrd:b/1]: b/1: Connect to ipv4#127.0.0.1:1 failed: Connection refused",
        "Group Coordinator Request failed: GroupAuthorizationFailedError",
        f"Topic {topics.EVENTS} not found in cluster metadata"]
