"""The hub operator's health page (journey 9): for each service its readiness (`/readyz`, with the
checks it names), from its Prometheus `/metrics` the outbox backlog, consumer lag and the events it
sent to its dead-letter topic, and from `/ops/dlq` the dead letters still waiting, which the
operator replays after a confirmation that says how many go back to which topic. A service that
does not answer is shown as such."""

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client.parser import text_string_to_metric_families

from services.portal.hub import Hub, ServiceDown, ServiceProblem
from services.portal.session import CurrentUser, User, WrongRole, check_csrf
from services.portal.web import UserApi, attempt, render
from shared.settings import SERVICES

router = APIRouter()
MEASURES = {  # metric -> what the page calls it; summed over the service's topics and partitions
    "gmphub_outbox_backlog": "outbox_backlog",
    "gmphub_consumer_lag": "consumer_lag",
    "gmphub_dlq_messages": "dead_lettered",  # a counter: the parser drops its `_total`
}


def admin_of(user: CurrentUser) -> User:
    if user.role != "admin":
        raise WrongRole("admin (hub operator)")
    return user


Admin = Annotated[User, Depends(admin_of)]


@dataclass
class Health:
    service: str
    answering: bool = True
    ready: bool = False
    detail: str = ""
    measures: dict[str, float] = field(default_factory=dict)
    waiting: int | None = None  # dead letters not applied since; None when the service did not say


def measures_of(service: str, exposition: str) -> dict[str, float]:
    """The service's own samples: in one process (as in the tests) every service's metrics are in
    each `/metrics`, told apart by their `service` label."""
    found = dict.fromkeys(MEASURES.values(), 0.0)
    for family in text_string_to_metric_families(exposition):
        name = MEASURES.get(family.name)
        if name is None:
            continue
        for sample in family.samples:
            if sample.labels.get("service") == service and not sample.name.endswith("_created"):
                found[name] += sample.value
    return found


async def health_of(hub: Hub, service: str, token: str | None) -> Health:
    health = Health(service)
    try:
        await hub.request(service, "GET", "/readyz", None)
        health.ready = True
    except ServiceDown:
        return Health(service, answering=False, detail="Not answering.")
    except ServiceProblem as problem:
        health.detail = problem.detail
    try:
        health.measures = measures_of(service, (await hub.request(service, "GET", "/metrics", None)).text)
    except ServiceProblem as problem:
        health.detail = f"{health.detail} Metrics: {problem.detail}".strip()
    try:  # the operator's own token: only an admin may read a service's dead letters
        health.waiting = (await hub.request(service, "GET", "/ops/dlq", token)).json()["count"]
    except ServiceProblem as problem:
        health.detail = f"{health.detail} Dead letters: {problem.detail}".strip()
    return health


@router.get("/operator/health")
async def health(request: Request, user: Admin) -> Response:
    services = await asyncio.gather(*(health_of(request.app.state.hub, s, user.token) for s in SERVICES))
    return render(request, "operator_health.html", services=services)


def _known(request: Request, service: str) -> Response | None:
    if service in SERVICES:
        return None
    return render(request, "problem.html", status_code=404, title="Not found", detail=f"No service {service}.")


@router.get("/operator/health/{service}/dead-letters")
async def dead_letters(request: Request, service: str, user: Admin, api: UserApi) -> Response:
    """The confirmation step: how many of the service's dead letters go back to which topic."""
    if unknown := _known(request, service):
        return unknown
    waiting = await attempt(api.get(service, "/ops/dlq"))
    return render(request, "operator_dead_letters.html", service=service, waiting=waiting)


@router.post("/operator/health/{service}/dead-letters", dependencies=[Depends(check_csrf)])
async def replay(request: Request, service: str, user: Admin, api: UserApi) -> Response:
    if unknown := _known(request, service):
        return unknown
    try:
        replayed = await api.post(service, "/ops/dlq/replay")
    except ServiceProblem as problem:
        waiting = await attempt(api.get(service, "/ops/dlq"))
        return render(request, "operator_dead_letters.html", service=service, waiting=waiting, problem=problem)
    return render(request, "operator_dead_letters.html", service=service, replayed=replayed)
