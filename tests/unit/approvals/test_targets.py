"""Webhook targets: only public addresses, unless the operator allows private ones."""

import asyncio
import socket

import httpcore
import pytest

from shared.targets import CheckedBackend, TargetRefused, check_target


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9999/hook", "http://localhost/hook", "https://10.1.2.3/hook", "http://169.254.169.254/latest",
     "http://[::1]/hook", "https://192.168.0.10/hook"],
)  # fmt: skip
async def test_private_and_reserved_targets_are_refused(url):
    with pytest.raises(TargetRefused, match="private or reserved"):
        await check_target(url, allow_private=False)


async def test_a_public_address_is_accepted_and_private_ones_when_allowed():
    await check_target("https://93.184.216.34/hooks/gmphub", allow_private=False)
    await check_target("http://127.0.0.1:9999/hook", allow_private=True)


async def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(TargetRefused, match="does not resolve"):
        await check_target("https://no-such-host.invalid/hook", allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[2002:a9fe:a9fe::]/",  # 6to4 of 169.254.169.254
        "http://[2002:a00:1::]/hook",  # 6to4 of 10.0.0.1
        "http://[::ffff:169.254.169.254]/",  # IPv4-mapped
        "http://[::a9fe:a9fe]/",  # IPv4-compatible
        "http://[::ffff:127.0.0.1]:8080/",
    ],
)
async def test_addresses_embedding_a_private_ipv4_are_refused(url):
    with pytest.raises(TargetRefused, match="embeds .* private or reserved"):
        await check_target(url, allow_private=False)


@pytest.mark.parametrize("url", ["http://[64:ff9b:1::a9fe:a9fe]/", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/"])
async def test_teredo_and_local_nat64_are_refused_whatever_they_embed(url):
    with pytest.raises(TargetRefused, match="Teredo or local NAT64"):
        await check_target(url, allow_private=False)


@pytest.mark.parametrize(
    "url", ["http://[64:ff9b::5db8:d822]/", "http://[2002:5db8:d822::]/", "https://[2a00:1450::1]/"]
)
async def test_addresses_reaching_a_public_ipv4_or_ipv6_are_accepted(url):
    await check_target(url, allow_private=False)


class Recording(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.connected: list[tuple[str, int]] = []

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connected.append((host, port))
        return object()


async def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch):
    """A name that answers a public address to the check and a private one just after (DNS
    rebinding) is resolved once per connection, and the connection goes to what was checked."""
    answers = iter(["93.184.216.34", "127.0.0.1"])
    lookups = []

    async def rebinding(self, host, port, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(type(asyncio.get_running_loop()), "getaddrinfo", rebinding)
    inner = Recording()
    await CheckedBackend(allow_private=False, backend=inner).connect_tcp("hooks.example.org", 443)
    assert inner.connected == [("93.184.216.34", 443)] and lookups == ["hooks.example.org"]
    with pytest.raises(TargetRefused, match="127.0.0.1 is a private or reserved address"):
        await CheckedBackend(allow_private=False, backend=inner).connect_tcp("hooks.example.org", 443)
    assert inner.connected == [("93.184.216.34", 443)]  # never connected to the rebound address
