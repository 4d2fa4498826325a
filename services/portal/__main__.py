"""`python -m services.portal`: the portal in the foreground (what its container runs), on
GMPHUB_PORT_BASE (8000) unless `--port` says otherwise."""

import argparse

import uvicorn

from services.portal.settings import PortalSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.portal", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    parser.add_argument("--port", type=int, help="port (default GMPHUB_PORT_BASE)")
    args = parser.parse_args()
    uvicorn.run(
        "services.portal.main:create_portal",
        factory=True,
        host=args.host,
        port=args.port or PortalSettings().portal_port,
        access_log=False,
        proxy_headers=True,
        server_header=False,  # no `server: uvicorn` banner
    )


if __name__ == "__main__":
    main()
