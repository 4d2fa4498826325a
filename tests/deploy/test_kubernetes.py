"""The Kustomize base and its example overlay: probes on the right paths and ports, the image's
command, each service's own database, replicas and disruption budgets, non-root pods."""

from pathlib import Path

import pytest

from shared.settings import SERVICES
from tests.deploy.deployment import (
    DEPLOY,
    K8S_BASE,
    K8S_OVERLAY,
    base_resources,
    database_url_var,
    default_port,
    dsn_parts,
    find,
    image_command,
    image_user,
    kustomization,
    load_yaml_documents,
    setting_names,
)


def config_map(docs: list[dict], name: str) -> dict[str, str]:
    return find(docs, "ConfigMap", name)["data"]


def resolve_port(container: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)


def env_sources(container: dict) -> dict[str, dict]:
    return {e["name"]: e.get("valueFrom") or {"value": e.get("value")} for e in container.get("env", [])}


def check_service_manifests(docs: list[dict], service: str) -> None:
    """What every service's manifests must say, in the base and once rendered by an overlay."""
    deployment = find(docs, "Deployment", f"gmphub-{service}")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] >= 2
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    [container] = pod["containers"]
    [migrate] = pod["initContainers"]

    entrypoint, _ = image_command()
    assert "command" not in container and "command" not in migrate, f"the image's ENTRYPOINT {entrypoint} runs"
    assert container["args"] == ["serve", service]
    assert migrate["args"] == ["migrate", service], "the schema is migrated before the service starts"
    assert migrate["image"] == container["image"]

    port = default_port(service)
    assert [p["containerPort"] for p in container["ports"]] == [port]
    ready, alive = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert (ready["path"], resolve_port(container, ready["port"])) == ("/readyz", port)
    assert (alive["path"], resolve_port(container, alive["port"])) == ("/healthz", port)
    assert spec["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(port)

    for c in (container, migrate):
        assert {"requests", "limits"} <= c["resources"].keys()
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        sources = env_sources(c)
        assert [k for k in sources if k.endswith("_DATABASE_URL")] == [database_url_var(service)]
        reference = sources[database_url_var(service)]["configMapKeyRef"]
        user, _, database = dsn_parts(config_map(docs, reference["name"])[reference["key"]])
        assert (reference["key"], user, database) == (database_url_var(service), service, service)
        assert sources["PGPASSWORD"]["secretKeyRef"] == {"name": f"gmphub-{service}-db", "key": "PGPASSWORD"}
        assert [s["configMapRef"]["name"] for s in c["envFrom"]] == ["gmphub-settings"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == image_user()

    service_object = find(docs, "Service", f"gmphub-{service}")
    assert service_object["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert [(p["port"], resolve_port(container, p["targetPort"])) for p in service_object["spec"]["ports"]] == [
        (port, port)
    ]
    budget = find(docs, "PodDisruptionBudget", f"gmphub-{service}")
    assert budget["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
    assert 1 <= budget["spec"]["minAvailable"] < spec["replicas"]


def check_shared_settings(docs: list[dict]) -> None:
    settings = config_map(docs, "gmphub-settings")
    assert settings["GMPHUB_KAFKA_BOOTSTRAP_SERVERS"]
    assert settings["GMPHUB_JWT_JWKS_URL"].startswith("https://")
    assert settings["GMPHUB_JWT_ISSUER"] and settings["GMPHUB_JWT_AUDIENCE"]
    assert not any(k.endswith("_DATABASE_URL") for k in settings), "each service gets only its own URL"
    for name in ("gmphub-settings", "gmphub-databases"):
        for key, value in config_map(docs, name).items():
            assert key in setting_names() or key.startswith("PG"), f"{name}: {key} is read by nothing"
            assert "@" not in value or ":" not in value.split("@")[0].split("//")[-1], "a password in a ConfigMap"
    topics = config_map(docs, "gmphub-topics")
    assert topics["BOOTSTRAP_SERVERS"] == settings["GMPHUB_KAFKA_BOOTSTRAP_SERVERS"]
    assert topics["EVENT_PARTITIONS"] == settings["GMPHUB_KAFKA_TOPIC_PARTITIONS"]
    assert int(topics["MIN_INSYNC_REPLICAS"]) < int(topics["REPLICATION_FACTOR"])


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_in_the_base(service):
    check_service_manifests(base_resources(), service)


def test_the_base_settings_point_at_existing_servers_without_secrets():
    check_shared_settings(base_resources())


def test_the_base_lists_every_manifest_in_its_folder():
    listed = set(kustomization(K8S_BASE)["resources"])
    assert listed == {p.name for p in K8S_BASE.glob("*.yaml")} - {"kustomization.yaml"}


def test_the_topics_job_runs_the_script_compose_runs():
    docs = base_resources()
    job = find(docs, "Job", "gmphub-topics")
    [container] = job["spec"]["template"]["spec"]["containers"]
    volume = job["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
    generator = next(g for g in kustomization(K8S_BASE)["configMapGenerator"] if g["name"] == volume)
    assert generator["files"] == ["create-topics.sh"]
    assert container["command"] == ["/bin/bash", "/scripts/create-topics.sh"]
    assert any(v.startswith("./k8s/base/create-topics.sh:") for v in _compose_topics_volumes())
    labels = {
        job["metadata"]["labels"]["app.kubernetes.io/component"],
        generator["options"]["labels"]["app.kubernetes.io/component"],
    }
    labels.add(find(docs, "ConfigMap", "gmphub-topics")["metadata"]["labels"]["app.kubernetes.io/component"])
    assert labels == {"topics"}, "README step applies them alone with -l app.kubernetes.io/component=topics"


def _compose_topics_volumes() -> list[str]:
    from tests.deploy.deployment import compose

    return compose()["services"]["topics"]["volumes"]


def overlay_patches() -> list[dict]:
    docs = []
    for patch in kustomization(K8S_OVERLAY)["patches"]:
        if "path" in patch:
            docs.extend(load_yaml_documents(K8S_OVERLAY / patch["path"]))
    return docs


def test_the_overlay_only_sets_keys_the_base_has():
    base = base_resources()
    for patch in overlay_patches():
        original = find(base, patch["kind"], patch["metadata"]["name"])
        assert patch["data"].keys() <= original["data"].keys(), f"a typo in {patch['metadata']['name']}?"


def rendered_overlay() -> list[dict]:
    """The overlay as Kustomize would render it, for ConfigMap patches and the image only."""
    docs = [dict(d) for d in base_resources()]
    for patch in overlay_patches():
        target = find(docs, patch["kind"], patch["metadata"]["name"])
        target["data"] = {**target["data"], **patch["data"]}
    return docs


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_in_the_overlay(service):
    check_service_manifests(rendered_overlay(), service)


def test_the_overlay_settings_agree():
    check_shared_settings(rendered_overlay())
    [image] = kustomization(K8S_OVERLAY)["images"]
    assert image["name"] == "gmp-hub"
    images = {
        c["image"]
        for d in base_resources()
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"] + d["spec"]["template"]["spec"].get("initContainers", [])
    }
    assert {i.split(":")[0] for i in images} == {"gmp-hub"}


def test_deploy_folder_has_no_stray_manifests():
    for path in (DEPLOY / "k8s").rglob("*.yaml"):
        assert path.parent in (K8S_BASE, K8S_OVERLAY), f"{path} is in no kustomization"
    assert {Path(p["path"]).name for p in kustomization(K8S_OVERLAY)["patches"] if "path" in p} == {
        p.name for p in K8S_OVERLAY.glob("*.yaml")
    } - {"kustomization.yaml"}


def check_portal_manifests(docs: list[dict]) -> None:
    """The portal: its own command, port 8000 with both probes, the services' in-cluster addresses,
    its session secret from a Secret, and nothing of a database."""
    deployment = find(docs, "Deployment", "gmphub-portal")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    assert spec["replicas"] >= 2 and "initContainers" not in pod, "no database to migrate"
    assert container["command"] == ["python", "-m", "services.portal"] and "args" not in container
    port = default_port("portal")
    assert [p["containerPort"] for p in container["ports"]] == [port]
    ready, alive = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert (ready["path"], resolve_port(container, ready["port"])) == ("/readyz", port)
    assert (alive["path"], resolve_port(container, alive["port"])) == ("/healthz", port)
    assert [s["configMapRef"]["name"] for s in container["envFrom"]] == ["gmphub-settings", "gmphub-portal"]
    sources = env_sources(container)
    assert sources["GMPHUB_PORTAL_SESSION_SECRET"]["secretKeyRef"]["name"] == "gmphub-portal"
    assert not any(k.endswith("_DATABASE_URL") or k == "PGPASSWORD" for k in sources)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert str(pod["securityContext"]["runAsUser"]) == image_user()
    portal = config_map(docs, "gmphub-portal")
    assert set(portal) <= setting_names() and not any("SECRET" in k for k in portal)
    for service in SERVICES:
        assert portal[f"GMPHUB_PORTAL_{service.upper()}_URL"] == f"http://gmphub-{service}:{default_port(service)}"
        find(docs, "Service", f"gmphub-{service}")
    assert portal["GMPHUB_PORTAL_PUBLIC_URL"].startswith("https://"), "a Secure session cookie"
    assert portal["GMPHUB_PORTAL_OIDC_ISSUER"].startswith("https://")
    service_object = find(docs, "Service", "gmphub-portal")
    assert service_object["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert [(p["port"], resolve_port(container, p["targetPort"])) for p in service_object["spec"]["ports"]] == [
        (port, port)
    ]
    budget = find(docs, "PodDisruptionBudget", "gmphub-portal")
    assert 1 <= budget["spec"]["minAvailable"] < spec["replicas"]


def test_the_portal_in_the_base():
    check_portal_manifests(base_resources())


def test_the_portal_in_the_overlay():
    check_portal_manifests(rendered_overlay())
