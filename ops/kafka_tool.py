"""`credit-ledger kafka-tool TOOL ARGS...`: Kafka's own operator tools, offline, with the ledger's credentials.

The broker's jars that `make setup` fetches hold no `kafka-consumer-groups` script; the tools are main
classes, most of them in the kafka-tools jar fetched beside the broker's (ops/embedded_kafka.py). This
runs one with the java and classpath the embedded broker uses, `--bootstrap-server` and a client
properties file (`--command-config`: SASL/SCRAM as the role's principal, TLS for SASL_SSL) written for
the run, 0600, and removed after. ARGS go to the tool as they are:

    credit-ledger kafka-tool consumer-groups --describe --group credit-ledger
    credit-ledger kafka-tool topics --describe --topic credit.events
    credit-ledger kafka-tool get-offsets --topic credit.events
    credit-ledger kafka-tool --as auditor consumer-groups --list

The role (`--as`): the worker's principal by default, which may describe the ledger's topics and its
consumer groups; the auditor's sees its three topics only; `broker`, the embedded broker's super user
(its credentials beside its storage, <data dir>/kafka/broker-credentials.json), may list ACLs.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from ops.embedded_kafka import BROKER_CREDENTIALS, HERE, MARKER, QUICK_JIT_FLAGS, kafka_libs_dir, kafka_tools_dir
from ops.kafka_acls import BROKER_USER
from streams.kafka_access import KafkaAccess
from streams.private_files import read_private_file, write_private_file

# the name of `kafka-<name>.sh` in Kafka's distribution -> its main class in 3.9.1
TOOLS = {
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "topics": "org.apache.kafka.tools.TopicCommand",
    "get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "configs": "kafka.admin.ConfigCommand",
    "acls": "kafka.admin.AclCommand",
}
ROLES = ("worker", "auditor", "broker")
SETUP_HINT = "run `make setup` (or `python -m ops.embedded_kafka fetch`) once, online"


class KafkaToolError(RuntimeError):
    pass


def broker_access(bootstrap: str, data_dir: Path) -> KafkaAccess:
    """The embedded broker's own principal, from the credentials `up` keeps beside its storage."""
    path = Path(data_dir) / "kafka" / BROKER_CREDENTIALS
    try:
        password = json.loads(read_private_file(path))["password"]
    except (OSError, ValueError, KeyError) as error:
        raise KafkaToolError(f"--as broker: no broker credentials in {path} (the embedded broker's only): "
                             f"{error}") from None
    return KafkaAccess(bootstrap, "SASL_PLAINTEXT", "SCRAM-SHA-512", BROKER_USER, password)


def _jaas_quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def client_properties(access: KafkaAccess) -> str:
    """The Java client's settings for `access` (streams/kafka_access.py's, in Java's names)."""
    if any(c in access.username + access.password for c in "\r\n"):
        raise KafkaToolError("a Kafka username or password with a line break cannot go into a properties file")
    lines = [f"security.protocol={access.security_protocol}"]
    if access.sasl:
        module = ("org.apache.kafka.common.security.scram.ScramLoginModule" if access.mechanism.startswith("SCRAM")
                  else "org.apache.kafka.common.security.plain.PlainLoginModule")
        jaas = f"{module} required username={_jaas_quoted(access.username)} password={_jaas_quoted(access.password)};"
        lines += [f"sasl.mechanism={access.mechanism}", "sasl.jaas.config=" + jaas.replace("\\", "\\\\")]
    if access.tls and access.ca_file:
        lines += ["ssl.truststore.type=PEM", "ssl.truststore.location=" + access.ca_file.replace("\\", "\\\\")]
    return "".join(line + "\n" for line in lines)


def command(tool: str, args: list[str], bootstrap: str, properties: Path) -> list[str]:
    """The java command line running `tool` with `args`."""
    tools, libs = kafka_tools_dir(), kafka_libs_dir()  # fetched by `make setup`; nothing is fetched here
    for where, what in ((tools, "Kafka's operator tools"), (libs, "Kafka's jars")):
        if not (where / MARKER).exists():
            raise KafkaToolError(f"{what} are not in {where}; {SETUP_HINT}")
    java = shutil.which("java")
    if java is None:
        raise KafkaToolError("`java` is not on PATH; install it with: apt-get install -y openjdk-17-jre-headless")
    return [java, "-Xmx256m", *QUICK_JIT_FLAGS, "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{HERE / 'tools-log4j.properties'}", "-cp", f"{tools}/*:{libs}/*",
            TOOLS[tool], "--bootstrap-server", bootstrap, "--command-config", str(properties), *args]


def run_tool(tool: str, args: list[str], access: KafkaAccess) -> int:
    """Run `tool` as `access`'s principal; its exit status. Its output goes to this process's stdout and stderr."""
    if tool not in TOOLS:
        raise KafkaToolError(f"TOOL {tool!r}: one of {', '.join(TOOLS)}")
    with tempfile.TemporaryDirectory(prefix="credit-ledger-kafka-tool-") as scratch:  # 0700: the password is in it
        properties = Path(scratch) / "client.properties"
        write_private_file(properties, client_properties(access).encode())
        try:
            return subprocess.run(command(tool, args, access.bootstrap, properties),
                                  stdin=subprocess.DEVNULL).returncode
        except OSError as error:
            raise KafkaToolError(f"cannot run {TOOLS[tool]}: {error}") from None
