"""Journey 9, the operator's health page: every service ready, its outbox backlog, consumer lag
and dead letters from its metrics; a service that stops answering is shown as not answering."""

import re

import httpx
from fastapi import FastAPI
from playwright.async_api import Page, expect

from services.portal.pages_operator import measures_of
from tests.portal.browser import checked
from tests.portal.journeys import sign_in_as_admin
from tests.portal.seeding import Seeded


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
