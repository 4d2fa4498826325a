"""Journey 9, the operator's health page: every service ready, its outbox backlog, consumer lag
and dead letters from its metrics; a service that stops answering is shown as not answering. A
service's waiting dead letters are replayed after a confirmation step, and then applied once."""

import json
import re
import uuid
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from playwright.async_api import Page, expect

from services.materials.inbound import BookingCancelled
from services.portal.pages_operator import measures_of
from tests.portal.browser import check_accessibility, checked
from tests.portal.journeys import sign_in_as_admin
from tests.portal.seeding import Seeded
from tests.support import RunningService, Tokens, eventually


def down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


async def test_the_operator_sees_each_services_health_and_one_that_is_down(
    browser_page: Page, seeded: Seeded, portal_app: FastAPI
):
    page = browser_page
    await sign_in_as_admin(page)
    await expect(page.get_by_role("heading", name="Health of the hub")).to_be_visible()
    rows = page.locator("table.health tbody tr")
    await expect(rows).to_have_count(4)
    for service in ("registry", "materials", "scheduling", "approvals"):
        row = rows.filter(has=page.get_by_role("rowheader", name=service))
        await expect(row.locator("td").first).to_have_text("ready")
        await expect(row.locator("td").nth(1)).to_have_text(re.compile(r"^\d+$"))
        await expect(row.locator("td").nth(4)).to_have_text(re.compile(r"^\d+"))  # dead letters waiting
    await checked(page, "operator-health")

    clients = portal_app.state.hub.clients
    answering = clients["materials"]
    clients["materials"] = httpx.AsyncClient(base_url="http://materials", transport=httpx.MockTransport(down))
    try:
        await page.get_by_role("link", name="Look again").click()
        row = rows.filter(has=page.get_by_role("rowheader", name="materials"))
        await expect(row.locator("td").first).to_have_text("not answering")
        await expect(rows.filter(has=page.get_by_role("rowheader", name="registry")).locator("td").first).to_have_text(
            "ready"
        )
        await checked(page, "operator-health-down")
    finally:
        await clients["materials"].aclose()
        clients["materials"] = answering


def test_a_services_measures_are_its_own_samples_summed():
    exposition = """# TYPE gmphub_outbox_backlog gauge
gmphub_outbox_backlog{service="registry"} 3.0
gmphub_outbox_backlog{service="materials"} 9.0
# TYPE gmphub_consumer_lag gauge
gmphub_consumer_lag{service="registry",topic="gmphub.materials",partition="0"} 2.0
gmphub_consumer_lag{service="registry",topic="gmphub.scheduling",partition="1"} 5.0
# TYPE gmphub_dlq_messages_total counter
gmphub_dlq_messages_total{service="registry",topic="gmphub.materials"} 1.0
gmphub_dlq_messages_created{service="registry",topic="gmphub.materials"} 1.7e9
"""
    assert measures_of("registry", exposition) == {"outbox_backlog": 3, "consumer_lag": 7, "dead_lettered": 1}


class FailingUntilFixed:
    """Materials' handler of cancelled bookings, failing until "the cause is fixed"; records what it applied."""

    def __init__(self, materials: RunningService) -> None:
        self.consumer = materials.app.state.consumer
        self.model, self.handler = self.consumer.handlers[BookingCancelled.type]
        self.fixed = False
        self.applied: list[str] = []

    async def __call__(self, uow, event) -> None:
        if not self.fixed:
            raise ValueError("reservations cannot be released yet")
        await self.handler(uow, event)
        self.applied.append(str(event.booking_id))


async def publish_cancellation(settings, booking_id: str) -> str:
    """A cancellation on scheduling's topic as scheduling publishes it; its event id."""
    envelope = {
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "/gmphub/scheduling", "type": BookingCancelled.type,
        "subject": booking_id, "time": datetime.now(UTC).isoformat(), "datacontenttype": "application/json",
        "data": {"booking_id": booking_id},
    }  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(BookingCancelled.topic(), json.dumps(envelope).encode(), key=booking_id.encode())
    finally:
        await producer.stop()
    return envelope["id"]


async def test_the_operator_replays_dead_letters_after_confirming(
    browser_page: Page, clean_hub: dict[str, RunningService], tokens: Tokens, settings
):
    page = browser_page
    materials = clean_hub["materials"]
    handler = FailingUntilFixed(materials)
    delay = handler.consumer.retry_delay
    handler.consumer.handlers[BookingCancelled.type] = (handler.model, handler)
    handler.consumer.retry_delay = 0.01
    try:
        booking_id = str(uuid.uuid4())
        event_id = await publish_cancellation(settings, booking_id)

        async def dead_lettered() -> bool:
            return (await materials.client.get("/ops/dlq", headers=tokens.admin())).json()["count"] == 1

        await eventually(dead_lettered, timeout=15)
        handler.fixed = True  # the cause is fixed; nothing is replayed until the operator says so

        await sign_in_as_admin(page)
        row = page.locator("table.health tbody tr").filter(has=page.get_by_role("rowheader", name="materials"))
        await expect(row.locator("td").nth(4)).to_have_text(re.compile(r"^1(?!\d)"))
        await checked(page, "operator-health-dead-letters")

        await row.get_by_role("button", name="Replay dead letters of materials").click()
        await expect(page.get_by_role("heading", name="Dead letters of materials")).to_be_visible()
        await expect(page.get_by_text("1 dead letter that the materials consumer could not handle")).to_be_visible()
        await expect(page.locator("ul.waiting-topics li")).to_have_text(
            f"1 from gmphub.scheduling.v1.dlq to gmphub.scheduling.v1: {event_id}"
        )
        await checked(page, "operator-dead-letters-confirm")
        assert handler.applied == []  # asking is not replaying

        await page.get_by_role("button", name="Replay 1 dead letter").click()
        await expect(page.locator("p.replayed")).to_have_text("1 dead letter sent back by admin:portal-admin.")
        await expect(page.locator("ul.replayed-topics li")).to_have_text(f"1 to gmphub.scheduling.v1: {event_id}")
        await checked(page, "operator-dead-letters-replayed")

        async def applied_once() -> bool:
            assert handler.applied == [booking_id]
            return (await materials.client.get("/ops/dlq", headers=tokens.admin())).json()["count"] == 0

        await eventually(applied_once, timeout=15)
        assert await materials.sql(
            "SELECT event_id FROM processed_event WHERE consumer = 'materials' AND event_id = :e", e=event_id
        ) == [(event_id,)]

        await page.get_by_role("link", name="Back to health").click()
        await expect(row.locator("td").nth(4)).to_have_text("0")
        await expect(row.get_by_role("button")).to_have_count(0)  # nothing left to replay
    finally:
        handler.consumer.handlers[BookingCancelled.type] = (handler.model, handler.handler)
        handler.consumer.retry_delay = delay


def broker_away(request: httpx.Request) -> httpx.Response:
    """A service whose broker does not answer: ready to the portal, but no dead letters to read."""
    if request.url.path == "/ops/dlq":
        problem = {"title": "Service Unavailable", "status": 503, "detail": "The broker did not answer in time."}
        return httpx.Response(503, json=problem, headers={"content-type": "application/problem+json"})
    return httpx.Response(200, json={"status": "ready"}) if request.url.path == "/readyz" else httpx.Response(200)


async def test_dead_letters_a_service_cannot_read_are_said_so_and_offer_no_replay(
    browser_page: Page, clean_hub: dict[str, RunningService], portal_app: FastAPI
):
    page = browser_page
    clients = portal_app.state.hub.clients
    answering = clients["scheduling"]
    clients["scheduling"] = httpx.AsyncClient(base_url="http://scheduling", transport=httpx.MockTransport(broker_away))
    try:
        await sign_in_as_admin(page)
        row = page.locator("table.health tbody tr").filter(has=page.get_by_role("rowheader", name="scheduling"))
        await expect(row.locator("td").nth(4)).to_have_text("–")
        await expect(row.locator("td").nth(5)).to_have_text("Dead letters: The broker did not answer in time.")
        await expect(row.get_by_role("button")).to_have_count(0)

        await page.goto("/operator/health/scheduling/dead-letters")
        await expect(page.get_by_role("alert")).to_have_text("Scheduling refused: The broker did not answer in time.")
        await expect(page.get_by_role("button", name=re.compile("Replay"))).to_have_count(0)
        await check_accessibility(page, "operator-dead-letters-refused")
    finally:
        await clients["scheduling"].aclose()
        clients["scheduling"] = answering
