"""The compose deployment's Kafka is SASL_SSL with ACLs (ops/deploy/README.md, "Kafka's security"): its
settings, read as the apache/kafka image renders them, agree with each other, with the secrets
make-secrets.sh makes and with the clients' settings (ops/config.py). A broker run with them:
tests/integration/test_deploy_kafka.py."""
from __future__ import annotations

import re

import pytest

from ops.kafka_acls import BROKER_USER
from streams.kafka_access import DEV_USERNAMES
from tests.deploy import (SECRETS_IN_CONTAINER, broker_properties, compose, kafka_property, make_secrets, on_host,
                          secret_files)


@pytest.fixture(scope="module")
def secrets(tmp_path_factory):
    return make_secrets(tmp_path_factory.mktemp("deploy") / "secrets")


def brokers() -> dict[str, dict]:
    return {name: s for name, s in compose()["services"].items() if s.get("image", "").startswith("apache/kafka:")}


def secrets_named(text: str) -> set[str]:
    return set(re.findall(re.escape(SECRETS_IN_CONTAINER) + r"([a-z0-9-]+)", text))


def test_the_images_renaming_of_environment_variables():
    assert kafka_property("KAFKA_LISTENER_NAME_CLIENT_SASL_ENABLED_MECHANISMS") == \
        "listener.name.client.sasl.enabled.mechanisms"
    assert kafka_property("KAFKA_CONFIG_PROVIDERS_FILE_CLASS") == "config.providers.file.class"
    assert kafka_property("KAFKA_LISTENER_NAME_CLIENT_SCRAM___SHA___512_SASL_JAAS__CONFIG") == \
        "listener.name.client.scram-sha-512.sasl.jaas_config"


def test_every_broker_listener_is_sasl_ssl_and_an_authorizer_refuses_what_no_acl_allows():
    for name, broker in brokers().items():
        props = broker_properties(broker["environment"])
        listeners = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
        assert listeners == {"CLIENT": "SASL_SSL", "CONTROLLER": "SASL_SSL", "INTERNAL": "SASL_SSL"}, name
        assert {entry.split("://")[0] for entry in props["listeners"].split(",")} == set(listeners)
        assert props["advertised.listeners"] == f"CLIENT://{name}:9092,INTERNAL://{name}:9094"
        assert props["inter.broker.listener.name"] == "INTERNAL" and props["controller.listener.names"] == "CONTROLLER"
        assert props["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
        for listener in ("internal", "controller"):  # the brokers' own principal only: PLAIN from the JAAS file
            assert props[f"listener.name.{listener}.sasl.enabled.mechanisms"] == "PLAIN"
        assert props["sasl.mechanism.inter.broker.protocol"] == props["sasl.mechanism.controller.protocol"] == "PLAIN"
        assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        assert props["super.users"] == f"User:{BROKER_USER}"
        assert props["allow.everyone.if.no.acl.found"] == "false"
        # TLS: its own keystore, the password through the FileConfigProvider, the CA as a PEM truststore
        assert props["ssl.keystore.location"] == f"{SECRETS_IN_CONTAINER}{name}-keystore"
        assert props["ssl.keystore.password"].startswith("${file:" + SECRETS_IN_CONTAINER)
        assert props["config.providers"] == "file"
        assert props["ssl.truststore.type"] == "PEM" and props["ssl.truststore.location"] == f"{SECRETS_IN_CONTAINER}kafka-ca"
        assert broker["environment"]["KAFKA_OPTS"] == f"-Djava.security.auth.login.config={SECRETS_IN_CONTAINER}kafka-jaas"
        # every secret file a broker's settings or healthcheck name is handed to it, its own keystore only
        named = secrets_named(" ".join(map(str, broker["environment"].values())) + " ".join(broker["healthcheck"]["test"]))
        assert named <= set(broker["secrets"]), name
        assert {s for s in broker["secrets"] if s.endswith("-keystore")} == {f"{name}-keystore"}


def test_the_workers_and_the_setup_reach_kafka_with_the_right_principal_and_nothing_more():
    services = compose()["services"]
    workers = {name: s for name, s in services.items() if "build" in s}
    for name, worker in workers.items():
        env = worker["environment"]
        assert env["CREDIT_LEDGER_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["CREDIT_LEDGER_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["CREDIT_LEDGER_KAFKA_SASL_USERNAME"] == DEV_USERNAMES["worker"]
        assert {server.rsplit(":", 1)[1] for server in env["CREDIT_LEDGER_KAFKA"].split(",")} == {"9092"}  # CLIENT
        assert set(worker["secrets"]) == {"kafka-ca", "kafka-worker-password"}  # not the brokers' nor the auditor's
        assert secrets_named(" ".join(map(str, env.values()))) <= set(worker["secrets"])
        assert worker["depends_on"] == {"kafka-setup": {"condition": "service_completed_successfully"}}
    setup = services["kafka-setup"]
    env = setup["environment"]
    assert setup["command"] == ["python", "-m", "ops.kafka_acls"] and setup["image"] == workers["worker-1"]["image"]
    assert (env["CREDIT_LEDGER_KAFKA_SECURITY_PROTOCOL"], env["CREDIT_LEDGER_KAFKA_SASL_MECHANISM"],
            env["CREDIT_LEDGER_KAFKA_SASL_USERNAME"]) == ("SASL_SSL", "PLAIN", BROKER_USER)
    assert {server.rsplit(":", 1)[1] for server in env["CREDIT_LEDGER_KAFKA"].split(",")} == {"9094"}  # INTERNAL
    assert secrets_named(" ".join(map(str, env.values()))) == set(setup["secrets"])
    assert all(setup["depends_on"][b] == {"condition": "service_healthy"} for b in brokers())


def test_the_secrets_are_what_make_secrets_makes(secrets):
    kept = {"ca.key", "store-password"}  # for making more certificates; mounted nowhere
    assert {path.name for path in secrets.iterdir()} - kept == set(secret_files().values())
    assert oct(secrets.stat().st_mode & 0o777) == "0o700" and oct((secrets / "ca.key").stat().st_mode & 0o777) == "0o600"
    # the JAAS file has a section for each SASL listener, with the login module of its mechanism
    jaas = (secrets / "kafka_server_jaas.conf").read_text()
    sections = dict(re.findall(r"(\w+)\.KafkaServer \{\s*(.*?)\};", jaas, re.S))
    assert set(sections) == {"client", "internal", "controller"}
    assert sections["client"].split()[0] == "org.apache.kafka.common.security.scram.ScramLoginModule"
    password = (secrets / "broker-password").read_text().strip()
    for listener in ("internal", "controller"):
        assert sections[listener].split()[0] == "org.apache.kafka.common.security.plain.PlainLoginModule"
        assert f'username="{BROKER_USER}" password="{password}" user_{BROKER_USER}="{password}"' in sections[listener]
    assert (secrets / "kafka-secrets.properties").read_text() == \
        f"keystore.password={(secrets / 'store-password').read_text().strip()}\n"
    client = (secrets / "client.properties").read_text()
    assert "security.protocol=SASL_SSL" in client and "sasl.mechanism=PLAIN" in client
    assert secrets_named(client) == {"kafka-ca"}


@pytest.mark.parametrize("role, service", [("worker", "worker-1"), ("setup", "kafka-setup")])
def test_the_services_settings_load_into_a_kafka_access(secrets, tmp_path, monkeypatch, role, service):
    from ops.config import load_settings

    for name, value in compose()["services"][service]["environment"].items():
        monkeypatch.setenv(name, on_host(str(value), secrets))
    monkeypatch.setenv("CREDIT_LEDGER_CONFIG", str(tmp_path / "none.toml"))
    access = load_settings().kafka_access()
    password_file = "kafka-worker-password" if role == "worker" else "broker-password"
    assert access.password == (secrets / password_file).read_text().strip()
    assert access.tls and access.ca_file == str(secrets / "ca.pem")
