"""Each service is its own program: no module under services/<name>/ imports another service's
code. Services share only shared/ (mechanism) and the events on the wire; what a service reads
of another's events it models itself, in its `inbound.py` (see test_contracts.py). The portal
reaches the four only through their public HTTP APIs: none of their code, no database, no broker."""

import ast
from pathlib import Path

import pytest

from shared.settings import SERVICES

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, dotted name) of everything `module`'s source imports, relative imports made absolute,
    `from package import name` counted as `package.name` (it may be a module)."""
    package = module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in (
            "import_module",
            "__import__",
        ):
            found += [
                (node.lineno, a.value)
                for a in node.args[:1]
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
    return found


def foreign_imports(service: str, source: str, module: str) -> list[str]:
    others = [s for s in SERVICES if s != service]
    return [
        f"line {line} imports {name}"
        for line, name in imported_modules(source, module)
        if any(name == f"services.{o}" or name.startswith(f"services.{o}.") for o in others)
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_services_code(service):
    files = sorted((SERVICES_DIR / service).rglob("*.py"))
    assert files, f"no modules under services/{service}"
    problems = []
    for path in files:
        module = ".".join(path.relative_to(SERVICES_DIR.parent).with_suffix("").parts)
        problems += [
            f"{path.relative_to(SERVICES_DIR.parent)}: {p}" for p in foreign_imports(service, path.read_text(), module)
        ]
    assert problems == [], "\n".join(problems)


# What would let the portal reach past the services' public APIs: their databases or their broker.
STORAGE_AND_BROKER = ("sqlalchemy", "sqlmodel", "asyncpg", "alembic", "aiokafka", "shared.database", "shared.outbox",
                      "shared.consumer", "shared.kafka", "shared.service")  # fmt: skip


def test_the_portal_uses_no_services_code_no_database_and_no_broker():
    files = sorted((SERVICES_DIR / "portal").rglob("*.py"))
    assert files, "no modules under services/portal"
    problems = []
    for path in files:
        module = ".".join(path.relative_to(SERVICES_DIR.parent).with_suffix("").parts)
        source = path.read_text()
        problems += [f"{path.name}: {p}" for p in foreign_imports("portal", source, module)]
        problems += [
            f"{path.name}: line {line} imports {name}"
            for line, name in imported_modules(source, module)
            if any(name == banned or name.startswith(f"{banned}.") for banned in STORAGE_AND_BROKER)
        ]
    assert problems == [], "\n".join(problems)


def test_the_check_sees_every_way_of_importing():
    source = """\
from services.materials import events
import services.registry.events as registry
from services import approvals
from ..materials.events import Shortfall
from . import inbound
from services.scheduling import models
importlib.import_module('services.registry.events')
"""
    assert foreign_imports("scheduling", source, "services.scheduling.readmodels") == [
        "line 1 imports services.materials.events",
        "line 2 imports services.registry.events",
        "line 3 imports services.approvals",
        "line 4 imports services.materials.events.Shortfall",
        "line 7 imports services.registry.events",
    ]
