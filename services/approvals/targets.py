"""Where webhooks may go. A regulator names the URL, and the hub posts to it from inside the
operator's network: without a check, a subscription could reach internal services (SSRF). So a
target must resolve to public addresses only, checked when subscribing and again before every
send (a name may resolve elsewhere later), unless the operator allows private targets, as the
development hub does for a receiver on this machine."""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class TargetRefused(ValueError):
    pass


async def check_target(url: str, allow_private: bool) -> None:
    """Raise TargetRefused unless every address `url`'s host resolves to may be posted to."""
    if allow_private:
        return
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"the host {host!r} does not resolve ({exc.strerror or exc})") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise TargetRefused(
                f"{host!r} resolves to {address}, a private or reserved address; the operator may allow "
                "such targets with GMPHUB_WEBHOOK_ALLOW_PRIVATE_TARGETS=true"
            )
