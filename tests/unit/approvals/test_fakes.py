"""The in-memory unit of work offers what the real one does: the same repositories, each with the
same methods taking the same parameters, so a use case that runs on the fake runs on PostgreSQL."""

import inspect

from services.approvals.repository import ApprovalsUnitOfWork
from tests.unit.approvals.fakes import FakeUnitOfWork


def methods(repository: object) -> dict[str, list[inspect.Parameter]]:
    return {
        name: list(inspect.signature(method).parameters.values())
        for name, method in inspect.getmembers(repository, inspect.ismethod)
        if not name.startswith("_")
    }


def test_the_fake_unit_of_work_has_the_real_repositories_and_their_methods():
    real = ApprovalsUnitOfWork(None, actor="developer:dev-1")  # type: ignore[arg-type]
    real.attach(None)  # type: ignore[arg-type]
    fake = FakeUnitOfWork()
    repositories = {name for name in vars(real) if not name.startswith("_") and hasattr(vars(real)[name], "session")}
    assert repositories == {"approvals", "letters", "decisions", "subscriptions", "deliveries"}
    for name in repositories:
        assert methods(getattr(fake, name)) == methods(getattr(real, name)), name
    assert fake.actor == real.actor and callable(fake.emit) and inspect.iscoroutinefunction(fake.commit)
