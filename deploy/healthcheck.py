"""The image's HEALTHCHECK: GET /healthz of the `gmp-hub serve <service>` (or the portal,
`python -m services.portal`) running in this container, on the port it listens on (`--port`,
else GMPHUB_PORT_BASE + n; the portal GMPHUB_PORT_BASE).

One image serves four services and the portal, so the check finds out which one from the running
command line rather than from a per-service setting. A container running anything else (a
one-shot `gmp-hub migrate`) has nothing to serve and counts as healthy.
"""

import sys
import urllib.request
from pathlib import Path

from shared.settings import SERVICES, Settings

PORTAL = "portal"


def _after(argv: list[str], word: str) -> str | None:
    at = argv.index(word) if word in argv else -1
    return argv[at + 1] if 0 <= at < len(argv) - 1 else None


def served(argv: list[str]) -> tuple[str, int | None] | None:
    """(service, explicit port or None) if `argv` is a `gmp-hub serve <service> ...` command, or
    ("portal", port) if it is `python -m services.portal ...`."""
    if _after(argv, "-m") == "services.portal":
        name = PORTAL
    elif (service := _after(argv, "serve")) in SERVICES:
        name = str(service)
    else:
        return None
    port = None
    for i, arg in enumerate(argv):
        if arg == "--port" and i + 1 < len(argv):
            port = int(argv[i + 1])
        elif arg.startswith("--port="):
            port = int(arg.split("=", 1)[1])
    return name, port


def running_commands(proc: Path = Path("/proc")) -> list[list[str]]:
    commands = []
    for cmdline in proc.glob("[0-9]*/cmdline"):
        try:
            raw = cmdline.read_bytes()
        except OSError:
            continue  # the process ended while we looked
        commands.append([part.decode(errors="replace") for part in raw.split(b"\0") if part])
    return commands


def probe_url(commands: list[list[str]], settings: Settings) -> str | None:
    for argv in commands:
        if found := served(argv):
            service, port = found
            default = settings.port_base if service == PORTAL else settings.service_port(service)
            return f"http://127.0.0.1:{port or default}/healthz"
    return None


def main() -> int:
    url = probe_url(running_commands(), Settings())
    if url is None:
        return 0
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - a loopback http URL we built
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
