"""Each service's domain is plain Python: importing it loads no web framework, database layer or
broker client, so its rules run (and are tested) in milliseconds without any of them."""

import subprocess
import sys

import pytest

from shared.settings import SERVICES

FRAMEWORKS = ("fastapi", "starlette", "sqlalchemy", "sqlmodel", "asyncpg", "aiokafka", "pydantic", "httpx")


@pytest.mark.parametrize("service", SERVICES)
def test_the_domain_imports_no_framework(service):
    probe = (
        f"import sys, services.{service}.domain; print(' '.join(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules)))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [], f"services.{service}.domain loads {', '.join(loaded)}"
