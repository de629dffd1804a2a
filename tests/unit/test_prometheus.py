"""Monitoring and deployment files: the alert rules pass promtool and their own unit tests,
and the rules, the Grafana dashboard and the compose file agree with the worker and each other."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from tests.helpers import REPO

PROMETHEUS = REPO / "ops" / "prometheus"
GRAFANA = REPO / "ops" / "grafana"
DEPLOY = REPO / "ops" / "deploy"
METRIC_NAME = re.compile(r"\bcredit_[A-Za-z0-9_]+")
CJK = re.compile(r"[\u4e00-\u9fff]")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: `make setup` installs it (Debian package prometheus)")
    return path


@pytest.mark.parametrize("args", [("check", "config", "prometheus.yml"),
                                  ("check", "rules", "alerts.yml"),
                                  ("test", "rules", "alerts_test.yml")], ids=" ".join)
def test_promtool(args, tmp_path):
    # as deployed: the supervisor's token Prometheus scrapes /metrics/authorities with lies next to the config
    shutil.copytree(PROMETHEUS, tmp_path, dirs_exist_ok=True)
    (tmp_path / "credit-ledger-supervisor.token").write_text("a-supervisor-token\n")
    done = subprocess.run([promtool(), *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def load_yaml(path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict]:
    return [rule for group in load_yaml(PROMETHEUS / "alerts.yml")["groups"] for rule in group["rules"]]


def dashboard() -> dict:
    return json.loads((GRAFANA / "credit-ledger.json").read_text(encoding="utf-8"))


def dashboard_panels() -> list[dict]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]  # rows only group panels


def exported_names() -> set[str]:
    """The sample names the worker exposes (/metrics and /metrics/authorities), as a query sees them."""
    from prometheus_client import REGISTRY

    from streams.metrics import BY_AUTHORITY  # registers the worker's metrics

    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
                "summary": ("", "_sum", "_count")}
    return {family.name + suffix for registry in (REGISTRY, BY_AUTHORITY) for family in registry.collect()
            if family.name.startswith("credit_") for suffix in suffixes[family.type]}


def test_alert_rules_and_dashboard_use_only_metrics_the_worker_exports():
    exported = exported_names()
    assert {"credit_events_total", "credit_timer_delay_seconds_bucket", "credit_grade_subjects"} <= exported
    sources = {f"alerts.yml {r['alert']}": r["expr"] for r in alert_rules()}
    sources |= {f"alerts_test.yml {s['series']}": s["series"]
                for test in load_yaml(PROMETHEUS / "alerts_test.yml")["tests"] for s in test["input_series"]}
    sources |= {f"dashboard {p['title']} {t['refId']}": t["expr"] for p in dashboard_panels() for t in p["targets"]}
    unknown = {where: sorted(set(METRIC_NAME.findall(text)) - exported) for where, text in sources.items()}
    assert not {where: names for where, names in unknown.items() if names}, f"worker exports: {sorted(exported)}"
    # the pattern does find names (up is Prometheus' own)
    assert all(METRIC_NAME.search(r["expr"]) or r["expr"].startswith("up{") for r in alert_rules())


def test_every_alert_is_described_in_both_languages_and_tested_firing():
    tests = load_yaml(PROMETHEUS / "alerts_test.yml")["tests"]
    shown_firing = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])
                    if case["exp_alerts"]}
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        for key in ("summary", "description"):
            text = rule["annotations"][key]
            assert CJK.search(text) and re.search(r"[A-Za-z]{4,}", text), f"{rule['alert']} {key}: not bilingual"
        assert rule["alert"] in shown_firing, f"{rule['alert']}: no test in alerts_test.yml expects it to fire"


def test_dashboard_panels_have_a_datasource_and_valid_queries(tmp_path):
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    panels = dashboard_panels()
    assert panels and len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] in ("${DS_PROMETHEUS}", "prometheus"), panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        assert CJK.search(panel["title"]), panel["title"]
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    provisioned = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert variables["DS_PROMETHEUS"]["current"]["value"] in {d["uid"] for d in provisioned}
    # promtool parses every query: as recording rules, with Grafana's interval filled in.
    rules = [{"record": f"dashboard:panel{p['id']}_{t['refId']}", "expr": t["expr"].replace("$__rate_interval", "1m")}
             for p in panels for t in p["targets"]]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, allow_unicode=True))
    done = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def compose() -> dict:
    return load_yaml(DEPLOY / "docker-compose.yml")


def bind_mounts(service: dict) -> dict[str, str]:
    """container path -> repository file of a service's bind mounts (named volumes left out)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = (DEPLOY / source).resolve()
    return mounts


def host_path(service: dict, container_path: str):
    for target, source in bind_mounts(service).items():
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return source / container_path[len(target):].lstrip("/")
    raise AssertionError(f"{container_path} is not mounted from the repository")


def test_compose_mounts_and_builds_files_that_exist():
    services = compose()["services"]
    for name, service in services.items():
        for target, source in bind_mounts(service).items():
            assert source.exists() and source.is_relative_to(REPO), f"{name}: {source} for {target}"
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert context == REPO and (context / service["build"]["dockerfile"]).is_file(), name
    prometheus = services["prometheus"]
    config = next(arg.split("=", 1)[1] for arg in prometheus["command"] if arg.startswith("--config.file="))
    assert host_path(prometheus, config) == PROMETHEUS / "prometheus.yml"
    grafana = services["grafana"]
    assert host_path(grafana, "/etc/grafana/provisioning") == GRAFANA / "provisioning"
    provider = load_yaml(GRAFANA / "provisioning" / "dashboards" / "credit-ledger.yml")["providers"][0]
    assert host_path(grafana, provider["options"]["path"] + "/credit-ledger.json") == GRAFANA / "credit-ledger.json"


def test_compose_runs_a_three_broker_kraft_cluster_and_the_workers_reach_it():
    services = compose()["services"]
    brokers = {name: s for name, s in services.items() if s.get("image", "").startswith("apache/kafka:")}
    assert len(brokers) == 3 and {s["image"] for s in brokers.values()} == {"apache/kafka:3.9.1"}
    envs = [s["environment"] for s in brokers.values()]
    voters = {f"{e['KAFKA_NODE_ID']}@{name}:9093" for name, e in zip(brokers, envs)}
    assert all(set(e["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters for e in envs)
    assert len({e["CLUSTER_ID"] for e in envs}) == 1
    workers = {name: s for name, s in services.items() if "build" in s}
    assert len(workers) >= 2
    for name, worker in workers.items():
        hosts = {server.split(":")[0] for server in worker["environment"]["CREDIT_LEDGER_KAFKA"].split(",")}
        assert hosts == set(brokers), name
    assert "FROM python:3.11-slim" in (DEPLOY / "Dockerfile").read_text().splitlines()


def test_prometheus_scrapes_every_worker_of_the_compose_file():
    workers = {name: s for name, s in compose()["services"].items() if "build" in s}
    expected = {f"{name}:{s['environment'].get('CREDIT_LEDGER_WEB_PORT', 6066)}" for name, s in workers.items()}
    [job] = [j for j in load_yaml(PROMETHEUS / "prometheus.yml")["scrape_configs"] if j["job_name"] == "credit-ledger"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert {t for config in job["static_configs"] for t in config["targets"]} == expected
