"""Readers for the files in deploy/: what the tests compare with the code they deploy."""

import importlib
import json
import re
import shlex
from functools import cache
from pathlib import Path

import yaml

from shared.settings import SERVICES, Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
REPO = DEPLOY.parent
K8S_BASE = DEPLOY / "k8s" / "base"
K8S_OVERLAY = DEPLOY / "k8s" / "overlays" / "example"


def setting_names() -> set[str]:
    """Every environment variable the code reads: GMPHUB_ + each field of the settings of every
    service (the shared ones and its own) and of the portal."""
    from services.portal.settings import PortalSettings

    classes = [importlib.import_module(f"services.{s}.main").spec.settings for s in SERVICES] + [PortalSettings]
    return {f"GMPHUB_{name.upper()}" for cls in classes for name in cls.model_fields}


def default_port(service: str) -> int:
    """The port a service (or the portal, base+0) listens on when GMPHUB_PORT_BASE is left at its default."""
    base = Settings.model_fields["port_base"].default
    return base if service == "portal" else base + SERVICES.index(service) + 1


def database_url_var(service: str) -> str:
    return f"GMPHUB_{service.upper()}_DATABASE_URL"


def dsn_parts(url: str) -> tuple[str, str, str]:
    """(user, host, database) of a `postgresql+asyncpg://user[:pw]@host:port/db` URL."""
    match = re.fullmatch(r"postgresql\+asyncpg://([^:@/]+)(?::[^@]*)?@([^:/]+)(?::\d+)?/([^?]+)(?:\?.*)?", url)
    assert match, f"not an asyncpg DSN: {url}"
    return match.group(1), match.group(2), match.group(3)


@cache
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def load_yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@cache
def kustomization(folder: Path) -> dict:
    return yaml.safe_load((folder / "kustomization.yaml").read_text())


def base_resources() -> list[dict]:
    docs: list[dict] = []
    for name in kustomization(K8S_BASE)["resources"]:
        docs.extend(load_yaml_documents(K8S_BASE / name))
    return docs


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


@cache
def realm() -> dict:
    return json.loads((DEPLOY / "keycloak" / "gmphub-realm.json").read_text())


# --- the Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, rest = whole.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def exec_form(arguments: str) -> list[str]:
    """The JSON array of an exec-form ENTRYPOINT/CMD (the shell form is not used here)."""
    value = json.loads(arguments)
    assert isinstance(value, list), f"not an exec-form array: {arguments}"
    return value


def image_command() -> tuple[list[str], list[str]]:
    """(ENTRYPOINT, CMD) of the final image."""
    stage = final_stage()
    entrypoint = [exec_form(a) for k, a in stage if k == "ENTRYPOINT"][-1]
    cmd = [exec_form(a) for k, a in stage if k == "CMD"][-1]
    return entrypoint, cmd


def image_user() -> str:
    return [a for k, a in final_stage() if k == "USER"][-1].split(":")[0]


def shell_words(arguments: str) -> list[str]:
    return shlex.split(arguments)
