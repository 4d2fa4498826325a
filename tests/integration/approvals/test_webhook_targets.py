"""An operator who keeps private targets refused gets no webhook into its own network."""

import asyncio

import httpx
import pytest

from shared.targets import TargetRefused, checked_transport
from tests.integration.receiver import Receiver


async def test_a_subscription_to_a_private_address_is_refused_and_not_kept(approvals, tokens, monkeypatch):
    strict = approvals.context.settings.model_copy(update={"webhook_allow_private_targets": False})
    monkeypatch.setattr(approvals.context, "settings", strict)

    response = await approvals.client.post(
        "/v1/subscriptions", json={"url": "http://169.254.169.254/latest/meta-data"}, headers=tokens.regulator()
    )

    assert response.status_code == 422
    assert "private or reserved address" in response.json()["detail"]
    listed = await approvals.client.get("/v1/subscriptions", headers=tokens.regulator())
    assert listed.json() == []


async def test_the_sender_connects_to_the_checked_address_and_keeps_the_name(monkeypatch):
    """The sender's transport resolves the target's name itself and connects to that address (a
    real receiver on 127.0.0.1 under a made-up name): the Host header keeps the name; with private
    targets refused, the same name gets no request at all."""
    real = asyncio.get_running_loop().getaddrinfo

    async def resolve(self, host, port, **kwargs):
        return await real("127.0.0.1" if host == "hooks.example.org" else host, port, **kwargs)

    monkeypatch.setattr(type(asyncio.get_running_loop()), "getaddrinfo", resolve)
    limits = httpx.Limits(max_connections=4)
    async with Receiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "hooks.example.org")
        async with httpx.AsyncClient(transport=checked_transport(True, limits)) as allowed:
            assert (await allowed.post(url, content=b"{}")).status_code == 200
        [(_, headers, body)] = receiver.requests
        assert headers["host"] == url.split("/")[2] and body == b"{}"

        async with httpx.AsyncClient(transport=checked_transport(False, limits)) as strict:
            with pytest.raises(TargetRefused, match="127.0.0.1 is a private or reserved address"):
                await strict.post(url, content=b"{}")
        assert len(receiver.requests) == 1
