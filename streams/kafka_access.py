"""Where the brokers are and who this process is to them: one KafkaAccess, one way to configure clients.

Every Kafka client of the ledger is built from a KafkaAccess (made from the settings by
ops.config.Settings.kafka_access): librdkafka's producers, consumers and admin clients through
`client_config`, Faust (aiokafka) through `faust_credentials`, and the ledger reader's own sockets
through `connect`, which authenticates them with streams/kafka_sasl.py.

    PLAINTEXT       no authentication (a broker of one's own without a SASL listener)
    SASL_PLAINTEXT  SCRAM-SHA-512 on loopback: the embedded broker (ops/embedded_kafka.py)
    SASL_SSL        SCRAM-SHA-512 inside TLS, the broker's certificate checked against ca_file
                    (or the system's CAs): a cluster (ops/deploy/)

A plain bootstrap string is accepted wherever a KafkaAccess is: PLAINTEXT.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field

from streams import kafka_sasl

PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL")
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
DEFAULT_MECHANISM = "SCRAM-SHA-512"

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
            if self.mechanism not in kafka_sasl.MECHANISMS:
                raise KafkaAccessError(f"SASL mechanism {self.mechanism!r}; one of {', '.join(kafka_sasl.MECHANISMS)}")
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


def client_config(kafka: KafkaAccess | str, **settings) -> dict:
    """The configuration of a confluent-kafka client (Producer, Consumer, AdminClient) reaching
    `kafka` as its principal, with `settings` (librdkafka's names) added."""
    access = kafka_access(kafka)
    config = {"bootstrap.servers": access.bootstrap, "security.protocol": access.security_protocol}
    if access.sasl:
        config.update({"sasl.mechanism": access.mechanism, "sasl.username": access.username,
                       "sasl.password": access.password})
    if access.tls and access.ca_file:
        config["ssl.ca.location"] = access.ca_file
    return {**config, **settings}


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


def connect(kafka: KafkaAccess | str, address: tuple[str, int], timeout_s: float,
            client_id: bytes = b"credit-ledger") -> socket.socket:
    """A connection to the broker at `address`, ready for requests: TLS first for SASL_SSL, then
    authenticated (SaslHandshake + SaslAuthenticate) for SASL. Raises OSError when it cannot connect,
    kafka_sasl.SaslError when the broker refuses the credentials."""
    access = kafka_access(kafka)
    sock = socket.create_connection(address, timeout=timeout_s)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # requests go out at once, not after an ack
        if access.tls:
            sock = ssl_context(access).wrap_socket(sock, server_hostname=address[0])
        if access.sasl:
            kafka_sasl.authenticate(sock, access.username, access.password, access.mechanism, client_id)
    except BaseException:
        sock.close()
        raise
    return sock
