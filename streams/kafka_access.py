"""Where the brokers are and who this process is to them: one KafkaAccess, one way to configure clients.

Every Kafka client of the ledger is built from a KafkaAccess (made from the settings by
ops.config.Settings.kafka_access): librdkafka's producers, consumers and admin clients through
`client_config` (the ledger reader, streams/ledger_reader.py, included), Faust (aiokafka) through
`faust_credentials`.

    PLAINTEXT       no authentication (a broker of one's own without a SASL listener)
    SASL_PLAINTEXT  SCRAM-SHA-512 on loopback: the embedded broker (ops/embedded_kafka.py)
    SASL_SSL        SCRAM-SHA-512 inside TLS, the broker's certificate checked against ca_file
                    (or the system's CAs): a cluster (ops/deploy/)

A plain bootstrap string is accepted wherever a KafkaAccess is: PLAINTEXT.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL")
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
DEFAULT_MECHANISM = "SCRAM-SHA-512"
# what librdkafka and aiokafka both speak; PLAIN (the password itself, for TLS listeners only) is for the
# broker's own principal in a cluster, which has no SCRAM credential before the first start (ops/deploy/README.md)
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN")

# The roles a process acts in towards Kafka; the ACLs of each are in ops/kafka_acls.py.
WORKER = "worker"  # the worker and its edge: writes the ledger's topics
AUDITOR = "auditor"  # the audit commands: reads credit.events, credit.digests, credit.access-log
ROLES = (WORKER, AUDITOR)
# Their SCRAM user names on the embedded broker (`up`, the tests); a cluster may name them otherwise.
DEV_USERNAMES = {WORKER: "credit-ledger-worker", AUDITOR: "credit-ledger-auditor"}


class KafkaAccessError(ValueError):
    """The security settings do not make a usable configuration."""


@dataclass(frozen=True)
class KafkaAccess:
    bootstrap: str  # host:port[,host:port...]
    security_protocol: str = "PLAINTEXT"
    mechanism: str = DEFAULT_MECHANISM
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""  # PEM file of the CAs the brokers' certificates are checked against ("" = the system's)

    def __post_init__(self) -> None:
        if self.security_protocol not in PROTOCOLS:
            raise KafkaAccessError(f"Kafka security protocol {self.security_protocol!r}; one of {', '.join(PROTOCOLS)}")
        if self.sasl:
            if self.mechanism not in MECHANISMS:
                raise KafkaAccessError(f"SASL mechanism {self.mechanism!r}; one of {', '.join(MECHANISMS)}")
            if not self.username or not self.password:
                raise KafkaAccessError(f"{self.security_protocol} needs a SASL username and password")

    @property
    def sasl(self) -> bool:
        return self.security_protocol in SASL_PROTOCOLS

    @property
    def tls(self) -> bool:
        return self.security_protocol == "SASL_SSL"

    def __str__(self) -> str:  # in messages: where, and as whom; never the password
        return self.bootstrap + (f" (as {self.username}, {self.security_protocol})" if self.sasl else "")


def kafka_access(kafka: KafkaAccess | str) -> KafkaAccess:
    return kafka if isinstance(kafka, KafkaAccess) else KafkaAccess(kafka)


def bootstrap_of(kafka: KafkaAccess | str) -> str:
    return kafka_access(kafka).bootstrap


# librdkafka's own log lines. A client without a `logger` writes them raw to stderr, outside the log's format
# and levels ("%4|1796577830.319|GETPID|rdkafka#producer-2| ..."): every client gets one, this one unless
# it names its own, and whichever it is filters out the lines below.
CLIENT_LOG = logging.getLogger("librdkafka")
# (facility, text in the line): what librdkafka logs as a warning or an error although nothing is wrong.
LIBRDKAFKA_BENIGN = (
    # an idempotent producer's first request to a broker that is still loading its transaction state (a
    # broker just started): librdkafka says "retrying", and does
    ("GETPID", "Coordinator load in progress: retrying"),
    # the ledger reader's consumers (streams/ledger_reader.py) have a group id they never use; librdkafka looks
    # its coordinator up anyway, and closing the consumer while that connection authenticates says so
    ("FAIL", "GroupCoordinator: SASL"),
)


class _LibrdkafkaBenign(logging.Filter):
    """Makes LIBRDKAFKA_BENIGN's lines debug (confluent-kafka logs "%s [%s] %s": facility, client, text), matched
    with the client's whole text, so that the same words in another failure still show.
    The GroupCoordinator's is only the local teardown ("Local: Broker transport failure"): a broker that
    refuses the credentials says so in other words, on the bootstrap connection too."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) and len(record.args) == 3 else None
        if args is None or record.levelno < logging.WARNING:
            return True
        facility, text = str(args[0]), str(args[2])
        benign = any(facility == known and words in text for known, words in LIBRDKAFKA_BENIGN) and (
            facility != "FAIL" or "Local: Broker transport failure" in text)
        return _demoted(record) if benign else True


def _demoted(record: logging.LogRecord) -> bool:
    """The record made a debug line: a handler of warnings and errors leaves it out, a debug log keeps it.
    (Its logger may well log debug: Faust sets the root logger so, for its spinner.)"""
    record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
    return True


LIBRDKAFKA_NOISE = _LibrdkafkaBenign()


def client_config(kafka: KafkaAccess | str, **settings) -> dict:
    """The configuration of a confluent-kafka client (Producer, Consumer, AdminClient) reaching
    `kafka` as its principal, with `settings` (librdkafka's names) added; its log lines go to a Python
    logger (CLIENT_LOG, or settings' `logger`), never raw to stderr."""
    access = kafka_access(kafka)
    config = {"bootstrap.servers": access.bootstrap, "security.protocol": access.security_protocol}
    if access.sasl:
        config.update({"sasl.mechanism": access.mechanism, "sasl.username": access.username,
                       "sasl.password": access.password})
    if access.tls and access.ca_file:
        config["ssl.ca.location"] = access.ca_file
    config = {**config, "logger": CLIENT_LOG, **settings}
    if isinstance(config["logger"], logging.Logger):
        config["logger"].addFilter(LIBRDKAFKA_NOISE)  # once per logger: addFilter keeps one of each
    return config


# What the worker's Faust and aiokafka log as errors while a broker just started (`up`, a restart of both) is
# still electing its group coordinators, and before Faust has created its own leader topic: each is retried
# and over within seconds. In a worker's first STARTUP_GRACE_S these lines are debug; later, errors again.
STARTUP_GRACE_S = 60.0
STARTUP_BENIGN = {  # logger -> the message (its format string) and, when it matters, what its argument holds
    "aiokafka.consumer.group_coordinator": ("Group Coordinator Request failed: %s", None),  # retriable only
    "aiokafka.cluster": ("Topic %s not found in cluster metadata", "__assignor-__leader"),  # Faust's own
    "faust.assignor.partition_assignor": ("Ignoring missing topic: %r", "__assignor-__leader"),
}


class _StartupBenign(logging.Filter):
    def __init__(self, message: str, argument: str | None, until: float):
        super().__init__()
        self.message, self.argument, self.until = message, argument, until

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != self.message or time.monotonic() > self.until or not record.args:
            return True
        first = record.args[0] if isinstance(record.args, tuple) else record.args
        benign = (getattr(first, "retriable", False) if self.argument is None
                  else str(first).endswith(self.argument))
        return _demoted(record) if benign else True


def quiet_startup_noise(grace_s: float = STARTUP_GRACE_S) -> None:
    """Make STARTUP_BENIGN's lines debug for the next `grace_s` (the worker calls it as it starts)."""
    until = time.monotonic() + grace_s
    for name, (message, argument) in STARTUP_BENIGN.items():
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, _StartupBenign)]:
            logger.removeFilter(old)
        logger.addFilter(_StartupBenign(message, argument, until))


def ssl_context(kafka: KafkaAccess | str):
    """The TLS context a SASL_SSL connection is made with (the broker's certificate and name are checked)."""
    import ssl

    access = kafka_access(kafka)
    return ssl.create_default_context(cafile=access.ca_file or None)


def faust_credentials(kafka: KafkaAccess | str):
    """Faust's `broker_credentials` for `kafka` (None for PLAINTEXT)."""
    access = kafka_access(kafka)
    if not access.sasl:
        return None
    from faust.auth import SASLCredentials

    return SASLCredentials(username=access.username, password=access.password, mechanism=access.mechanism,
                           ssl_context=ssl_context(access) if access.tls else None)


def aiokafka_config(kafka: KafkaAccess | str) -> dict:
    """Keyword arguments of an aiokafka client for `kafka`."""
    access = kafka_access(kafka)
    config = {"bootstrap_servers": access.bootstrap, "security_protocol": access.security_protocol}
    if access.sasl:
        config.update({"sasl_mechanism": access.mechanism, "sasl_plain_username": access.username,
                       "sasl_plain_password": access.password})
    if access.tls:
        config["ssl_context"] = ssl_context(access)
    return config

