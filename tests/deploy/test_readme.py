"""deploy/README.md: every setting the code reads, numbered steps for both targets, the metrics
an operator watches."""

import re

import yaml

from shared import observability
from tests.deploy.deployment import DEPLOY, setting_names

README = (DEPLOY / "README.md").read_text()


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.MULTILINE | re.DOTALL)
    assert match, f"no section {title!r}"
    return match.group(1)


def test_every_setting_the_code_reads_is_documented():
    documented = set(re.findall(r"`(GMPHUB_[A-Z0-9_]+)`", section("Settings")))
    assert setting_names() - documented == set()
    assert documented - setting_names() == set(), "documents a setting nothing reads"


def test_numbered_steps_for_a_docker_host_and_for_kubernetes():
    for title, command in (
        ("On one Docker host (Compose)", "docker compose"),
        ("On Kubernetes (Kustomize)", "kubectl apply -k"),
    ):
        text = section(title)
        steps = [int(n) for n in re.findall(r"^(\d+)\. ", text, re.MULTILINE)]
        assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 5, title
        assert "docker build -f deploy/Dockerfile" in text and command in text


def test_the_metrics_to_watch_exist_and_every_alert_is_explained():
    exported = {m._name for m in vars(observability).values() if hasattr(m, "_name") and hasattr(m, "_type")}
    watched = set(re.findall(r"`(gmphub_[a-z_]+)", section("Scaling")))
    assert {n.removesuffix("_total") for n in watched} <= exported
    assert {"gmphub_consumer_lag", "gmphub_outbox_backlog", "gmphub_dlq_messages_total"} <= watched
    alerts = {
        r["alert"] for g in yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())["groups"] for r in g["rules"]
    }
    assert alerts <= set(re.findall(r"`(GmpHub\w+)`", README))


def test_the_kubernetes_steps_create_the_secrets_the_manifests_read():
    text = section("On Kubernetes (Kustomize)")
    assert "create secret generic gmphub-$service-db --from-literal=PGPASSWORD=" in text
    assert "for service in registry materials scheduling approvals" in text
