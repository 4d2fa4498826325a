"""Where webhooks may go. A subscriber names the URL, and the hub posts to it from inside the
operator's network: without a check, a subscription could reach internal services (SSRF). So a
target must resolve to public addresses only, checked when subscribing and again for every
connection the sender opens, which goes to the very address that was checked (no second look-up
that a rebinding name could answer otherwise), unless the operator allows private targets, as
the development hub does for a receiver on this machine."""

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are the IPv4 address
# Addresses whose IPv4 end cannot be told from the address: a local NAT64 prefix (RFC 8215) and
# Teredo (RFC 4380, the client's address obfuscated and reached through a relay).
OPAQUE = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("2001::/32"))


class TargetRefused(ValueError):
    pass


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one reaches: IPv4-mapped, 6to4 (2002::/16), NAT64 (64:ff9b::/96)
    or IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks)."""
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if address in NAT64 or (int(address) >> 32 == 0 and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why posting to `address` is refused, or None: judged by the IPv4 address it embeds, if any."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in OPAQUE):
            return f"{address} is a Teredo or local NAT64 address, whose IPv4 end cannot be checked"
        if (inner := embedded_ipv4(address)) is not None:
            return None if inner.is_global else f"{address} embeds {inner}, a private or reserved address"
    return None if address.is_global else f"{address} is a private or reserved address"


async def checked_addresses(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses `host` resolves to, once; TargetRefused unless every one may be posted to."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"the host {host!r} does not resolve ({exc.strerror or exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        for address in addresses:
            if reason := refusal(ipaddress.ip_address(address)):
                raise TargetRefused(
                    f"{host!r} resolves to {reason}; the operator may allow such targets with "
                    "GMPHUB_WEBHOOK_ALLOW_PRIVATE_TARGETS=true"
                )
    return addresses


async def check_target(url: str, allow_private: bool) -> None:
    """Raise TargetRefused unless every address `url`'s host resolves to may be posted to."""
    if allow_private:
        return
    parts = urlsplit(url)
    await checked_addresses(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), False)


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """Opens a connection only to an address just checked: the name is resolved here, once, and
    the socket goes to that address. TLS and the Host header still use the name (httpcore keeps
    the request's host for SNI and certificate checks), so HTTPS targets are verified as usual."""

    def __init__(self, allow_private: bool, backend: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.allow_private = allow_private
        self.backend = backend or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: httpcore.ConnectError | None = None
        for address in await checked_addresses(host, port, self.allow_private):  # each in turn, as a resolver's
            try:
                return await self.backend.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"{host} has no address")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("webhooks go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.backend.sleep(seconds)


def checked_transport(allow_private: bool, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's own transport, its connection pool on a CheckedBackend. httpx takes no network
    backend as a parameter, so the pool it made is replaced by one like it (httpx is pinned)."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=CheckedBackend(allow_private),
    )
    return transport
