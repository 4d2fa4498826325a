"""Each service's in-memory unit of work offers what its real one does: the same repositories,
each with the same methods taking the same parameters, so a use case that runs on the fake runs
on PostgreSQL."""

import importlib
import inspect

import pytest

REPOSITORIES = {
    "registry": {"facilities", "suites", "certificates", "signatures", "noncompliance"},
    "materials": {"suppliers", "materials", "alternatives", "lots", "reservations", "shortages", "supplier_changes"},
    "scheduling": {
        "slots",
        "bookings",
        "waitlist",
        "replicas",
        "idempotency_keys",
        "agreements",
        "requests",
        "quotes",
        "subscriptions",
        "deliveries",
        "campaigns",
    },
    "approvals": {"approvals", "letters", "decisions", "notifications", "subscriptions", "deliveries"},
}


def methods(repository: object) -> dict[str, list[inspect.Parameter]]:
    return {
        name: list(inspect.signature(method).parameters.values())
        for name, method in inspect.getmembers(repository, inspect.ismethod)
        if not name.startswith("_")
    }


@pytest.mark.parametrize("service", sorted(REPOSITORIES))
def test_the_fake_unit_of_work_has_the_real_repositories_and_their_methods(service):
    real = importlib.import_module(f"services.{service}.main").spec.unit_of_work(None, actor="someone:1")
    real.attach(None)
    fake = importlib.import_module(f"tests.unit.{service}.fakes").FakeUnitOfWork(actor="someone:1")
    repositories = {name for name in vars(real) if not name.startswith("_") and hasattr(vars(real)[name], "session")}
    assert repositories == REPOSITORIES[service]
    for name in repositories:
        assert methods(getattr(fake, name)) == methods(getattr(real, name)), name
    assert fake.actor == real.actor and callable(fake.emit) and inspect.iscoroutinefunction(fake.commit)
