"""Journey 5 of the regulators: subscribe a webhook URL, see the signing secret once (and copy it),
follow a delivery and its attempts, rotate the secret, end the subscription; a URL the service
refuses creates nothing."""

import json
import re

from playwright.async_api import Page, expect
from standardwebhooks import Webhook

from tests.integration.receiver import Receiver
from tests.portal.browser import checked
from tests.portal.journeys import sign_in_as_regulator
from tests.portal.seeding import created
from tests.support import RunningService, Tokens, eventually

SUBMITTED = "gmphub.approvals.approval.submitted.v1"


async def submitted(approvals: RunningService, tokens: Tokens, title: str) -> str:
    """An approval of ORG-1 filed with DE-PEI: its `submitted` event is what the subscription follows."""
    body = {"level": "parent", "covers": "platform", "title": title, "authority": "DE-PEI"}
    approval_id = (await created(approvals, "/v1/approvals", body, tokens.developer()))["approval_id"]
    await created(approvals, f"/v1/approvals/{approval_id}/submit", {}, tokens.developer(), expect=200)
    return str(approval_id)


async def received(receiver: Receiver, count: int) -> list[tuple[float, dict[str, str], bytes]]:
    async def arrived() -> list[tuple[float, dict[str, str], bytes]]:
        assert len(receiver.requests) == count, f"{len(receiver.requests)} requests so far"
        return receiver.requests

    return await eventually(arrived, timeout=15)


async def test_a_regulator_subscribes_sees_the_secret_once_follows_deliveries_rotates_and_ends(
    browser_page: Page, clean_hub: dict[str, RunningService], tokens: Tokens
):
    approvals, regulator = clean_hub["approvals"], tokens.regulator("DE-PEI")
    page = browser_page
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await sign_in_as_regulator(page)
    await page.get_by_role("link", name="Subscriptions").click()
    await expect(page.get_by_role("heading", name="Subscriptions", exact=True)).to_be_visible()
    await expect(page.get_by_text("None yet.")).to_be_visible()

    # A URL the service refuses: its problem detail, and nothing subscribed.
    await page.get_by_label("Webhook URL").fill("ftp://pei.example.eu/hooks/gmphub")
    await page.get_by_role("button", name="Add the subscription").click()
    await expect(page.get_by_role("alert")).to_contain_text("Approvals refused:")
    await expect(page.get_by_role("alert")).to_contain_text("URL scheme should be 'http' or 'https'")
    await expect(page.get_by_label("Webhook URL")).to_have_value("ftp://pei.example.eu/hooks/gmphub")
    assert (await approvals.client.get("/v1/subscriptions", headers=regulator)).json() == []
    await checked(page, "subscriptions-refused", at="Add a subscription")

    async with Receiver(statuses=[503]) as receiver:  # the first attempt fails, the retry is taken
        await page.get_by_label("Webhook URL").fill(receiver.url)
        await page.get_by_label("Submitted").check()
        async with page.expect_response(lambda r: r.request.method == "POST") as answer:
            await page.get_by_role("button", name="Add the subscription").click()
        assert (await answer.value).headers["cache-control"] == "no-store"  # kept by no cache

        await expect(page.get_by_role("heading", name="Subscription added: its signing secret")).to_be_visible()
        await expect(page).to_have_url(re.compile(r"/subscriptions/[0-9a-f-]{36}$"))  # its own page's address
        secret = await page.get_by_role("textbox", name="Signing secret").input_value()
        assert secret.startswith("whsec_")
        await page.get_by_role("button", name="Copy the secret").click()
        await expect(page.get_by_text("Copied.")).to_be_visible()
        assert await page.evaluate("navigator.clipboard.readText()") == secret
        await checked(page, "subscription-secret")
        subscription_id = page.url.rsplit("/", 1)[1]
        (listed,) = (await approvals.client.get("/v1/subscriptions", headers=regulator)).json()
        assert listed["subscription_id"] == subscription_id and listed["url"] == receiver.url
        assert listed["event_types"] == [SUBMITTED] and listed["active"] and "secret" not in listed

        # Shown once: the page's own address, reloaded, does not show it again.
        await page.reload()
        await expect(page.get_by_role("heading", name="Webhook subscription")).to_be_visible()
        await expect(page.get_by_role("textbox", name="Signing secret")).to_have_count(0)
        assert secret not in await page.content()
        await expect(page.locator("#state")).to_contain_text("active")

        # An approval event of DE-PEI is delivered, signed with that secret, after one failed attempt.
        approval_id = await submitted(approvals, tokens, "AAV9 capsid platform")
        (_, first, _), (_, headers, body) = await received(receiver, 2)
        assert first["webhook-id"] == headers["webhook-id"]  # the same message, retried
        envelope = Webhook(secret).verify(body, headers)
        assert envelope["type"] == SUBMITTED and envelope["data"]["approval"]["approval_id"] == approval_id

        async def delivered() -> bool:
            (delivery,) = (
                await approvals.client.get(f"/v1/subscriptions/{subscription_id}/deliveries", headers=regulator)
            ).json()
            assert delivery["status"] == "delivered", delivery
            return True

        await eventually(delivered, timeout=5)
        await page.get_by_role("link", name="Deliveries and their attempts").click()
        await expect(page.get_by_role("heading", name="Deliveries")).to_be_visible()
        row = page.locator("table.deliveries tbody tr")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text("Submitted")
        await expect(row).to_contain_text(envelope["id"])
        await expect(row).to_contain_text("delivered")
        await expect(row.locator("ol.attempts li")).to_have_count(2)
        await expect(row.locator("ol.attempts li").first).to_contain_text("HTTP 503")
        await expect(row.locator("ol.attempts li").last).to_contain_text("HTTP 200")
        await checked(page, "subscription-deliveries")
        await page.get_by_label("Show").select_option("failed")
        await expect(page).to_have_url(re.compile(r"/deliveries\?status=failed$"))
        await expect(page.get_by_text("No failed deliveries.")).to_be_visible()

        # Rotating shows a new secret once; the next delivery is signed with it.
        await page.get_by_role("link", name="The subscription").click()
        await page.get_by_role("button", name="Rotate the secret").click()
        await expect(page.get_by_role("heading", name="The new signing secret")).to_be_visible()
        rotated = await page.get_by_role("textbox", name="Signing secret").input_value()
        assert rotated.startswith("whsec_") and rotated != secret
        await expect(page.get_by_text("signed with the old secret too until")).to_be_visible()
        await checked(page, "subscription-rotated")
        # Rotated again from that page: htmx's history cache keeps no copy of the page it left.
        await page.get_by_role("button", name="Rotate the secret").click()
        await expect(page.get_by_role("textbox", name="Signing secret")).not_to_have_value(rotated)
        stored = await page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
        assert "htmx" in stored and rotated not in stored
        rotated = await page.get_by_role("textbox", name="Signing secret").input_value()
        await page.reload()
        await expect(page.get_by_role("textbox", name="Signing secret")).to_have_count(0)
        assert rotated not in await page.content()
        replaced = page.locator("dl.facts dd").nth(2)  # the secret last replaced
        await expect(replaced).to_contain_text("by regulator:portal-regulator")
        await submitted(approvals, tokens, "Lentiviral vector platform")
        (_, headers, body) = (await received(receiver, 3))[2]
        assert json.loads(body)["data"]["approval"]["title"] == "Lentiviral vector platform"
        Webhook(rotated).verify(body, headers)

        # Ending: the page says so, the service holds it ended, and nothing is offered any more.
        await page.get_by_role("button", name="End the subscription").click()
        await expect(page.locator("#state")).to_contain_text("ended")
        await expect(page.get_by_role("button", name="Rotate the secret")).to_have_count(0)
        history = page.locator("ol.timeline li")
        await expect(history).to_have_count(4)  # created, rotated twice, ended
        await expect(history.last).to_contain_text("ended by regulator:portal-regulator")
        await checked(page, "subscription-ended")
        answer = await approvals.client.get(f"/v1/subscriptions/{subscription_id}", headers=regulator)
        assert answer.json()["active"] is False
        await page.get_by_role("link", name="All subscriptions").click()
        await expect(page.locator("tbody tr")).to_contain_text("ended")

    # Another authority's regulator sees none of it.
    await sign_in_as_regulator(page, "NL-IGJ")
    await page.goto("/subscriptions")
    await expect(page.get_by_text("None yet.")).to_be_visible()
    await page.goto(f"/subscriptions/{subscription_id}")
    await expect(page.get_by_role("alert")).to_contain_text(
        f"No subscription {subscription_id} that this token may see"
    )
