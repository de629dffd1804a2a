"""The compose deployment's Kafka settings as its containers see them, for the tests that check them."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "ops" / "deploy"
SECRETS_IN_CONTAINER = "/run/secrets/"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


def interpolated(value) -> str:
    """A value as compose hands it to the container: ${VAR:-default} is the default here, $$ is $."""
    text = re.sub(r"(?<!\$)\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))
    return text.replace("$$", "$")


def kafka_property(name: str) -> str:
    """The apache/kafka image's rule (its `utility render-properties`): KAFKA_ dropped, `___` is `-`,
    `__` is `_`, a single `_` is `.`, lower case."""
    single = re.sub(r"[^_]_[^_]", lambda m: m.group(0).replace("_", "."), name[len("KAFKA_"):])
    return single.replace("___", "-").replace("__", "_").lower()


# what the image leaves out of server.properties (its kafka-propertiesSpec.json), and values with a `=`,
# which its renderer drops
IMAGE_EXCLUDES = {"KAFKA_VERSION", "KAFKA_HEAP_OPT", "KAFKA_LOG4J_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS",
                  "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_LOG4J_ROOT_LOGLEVEL",
                  "KAFKA_LOG4J_LOGGERS", "KAFKA_TOOLS_LOG4J_LOGLEVEL"}


def broker_properties(environment: dict) -> dict[str, str]:
    """server.properties as the image renders it from a broker's environment."""
    return {kafka_property(name): interpolated(value) for name, value in environment.items()
            if name.startswith("KAFKA_") and name not in IMAGE_EXCLUDES and "=" not in interpolated(value)}


def secret_files() -> dict[str, str]:
    """secret name -> its file in ops/deploy/secrets/ (as make-secrets.sh names it)."""
    return {name: Path(spec["file"]).name for name, spec in compose()["secrets"].items()}


def make_secrets(directory: Path) -> Path:
    """ops/deploy/make-secrets.sh run into `directory` (needs openssl)."""
    if shutil.which("openssl") is None:
        import pytest

        pytest.skip("openssl is not installed")
    subprocess.run([str(DEPLOY / "make-secrets.sh"), str(directory)], check=True, capture_output=True, timeout=120)
    return directory


def on_host(value: str, secrets: Path) -> str:
    """`value` with each /run/secrets/<name> replaced by that secret's file in `secrets`."""
    files = secret_files()
    return re.sub(re.escape(SECRETS_IN_CONTAINER) + r"([a-z0-9-]+)", lambda m: str(secrets / files[m.group(1)]), value)
