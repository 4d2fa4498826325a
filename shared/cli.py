"""`gmp-hub`: operate the hub (serve a service, migrate, tail a topic, replay dead letters, and the
services' own commands). In a checkout it also runs the hub on the embedded defaults and mints
development tokens: `up`, `seed` and `token` live in `devtools/`, which the image leaves out."""

import argparse
import asyncio
import contextlib
import importlib
import json
import socket
import sys
from typing import Any

from shared.settings import SERVICES, Settings


def load_settings() -> Settings:
    """`GMPHUB_*` with the data dir made absolute, so that children started elsewhere agree on it."""
    settings = Settings()
    settings.data_dir = settings.data_dir.resolve()
    return settings


# How a service is served: no `server: uvicorn` banner; the client's address and scheme taken from
# the headers of a trusted proxy (uvicorn's FORWARDED_ALLOW_IPS), which the request guard reads.
SERVE_OPTIONS: dict[str, Any] = {"access_log": False, "proxy_headers": True, "server_header": False}


def cmd_serve(args: argparse.Namespace) -> int:
    """Run one service in the foreground (what a container runs); migrations are `gmp-hub migrate`.
    With `--reuse-port`, several processes of one service listen on its port and the kernel spreads
    the connections among them (SO_REUSEPORT): replicas on one machine, as `gmp-hub up` runs them."""
    import uvicorn

    settings = load_settings()
    config = uvicorn.Config(
        f"services.{args.service}.main:app",
        host=args.host or "0.0.0.0",  # noqa: S104 - a container listens on all its interfaces
        port=args.port or settings.service_port(args.service),
        log_level=args.log_level,
        **SERVE_OPTIONS,
    )
    sockets = [shared_port(config.host, config.port)] if args.reuse_port else None
    uvicorn.Server(config).run(sockets=sockets)
    return 0


def shared_port(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port` that other processes may bind as well."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def cmd_migrate(args: argparse.Namespace) -> int:
    from shared.migrations import upgrade

    settings = load_settings()
    if unknown := set(args.services) - set(SERVICES):
        print(f"gmp-hub migrate: unknown service(s) {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    for service in args.services or SERVICES:
        upgrade(service, settings.database_url(service))
        print(f"{service}: at head")
    return 0


def cmd_revision(args: argparse.Namespace) -> int:
    from shared.migrations import revision

    revision(args.service, load_settings().database_url(args.service), args.message)
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    """Print a topic's events as readable lines, or as JSON with --json."""
    from aiokafka import AIOKafkaConsumer

    from shared.kafka import client_options

    settings = load_settings()

    async def tail() -> None:
        consumer = AIOKafkaConsumer(
            args.topic,
            **client_options(settings),
            auto_offset_reset="earliest" if args.from_beginning else "latest",
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            async for record in consumer:
                headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
                if args.json:
                    print(json.dumps({"offset": record.offset, "headers": headers, "value": json.loads(record.value)}))
                    continue
                try:
                    event = json.loads(record.value)
                    line = f"{event['time']}  {event['type']}  subject={event['subject']}  actor={event.get('actor')}"
                except (ValueError, KeyError, TypeError):
                    line = f"(not an event) {record.value[:200]!r}"
                if "dlq_error" in headers:
                    line += f"\n    error: {headers['dlq_error']}  from {headers.get('dlq_source')}"
                print(f"[{record.partition}:{record.offset}] {line}", flush=True)
        finally:
            await consumer.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(tail())
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    """Publish the dead letters of `<topic>.dlq` back to `<topic>` (after the cause is fixed), each
    event once (shared/dlq.py). Its own consumer group remembers how far it got, so a second run
    replays only what died since."""
    from aiokafka import AIOKafkaProducer

    from shared.dlq import DeadLetterReader, send_back
    from shared.kafka import client_options, dlq_of

    settings = load_settings()

    async def replay() -> tuple[int, int]:
        producer = AIOKafkaProducer(**client_options(settings), acks="all")
        await producer.start()
        try:
            async with DeadLetterReader(settings, [args.topic], group=f"gmphub-dlq-replay-{args.topic}") as reader:
                letters = (await reader.read())[args.topic]
                await send_back(producer, letters)
                await reader.commit()
        finally:
            await producer.stop()
        return len(letters), reader.copies

    replayed, copies = asyncio.run(replay())
    print(
        f"replayed {replayed} message(s) from {dlq_of(args.topic)} to {args.topic}"
        + (f"; skipped {copies} older copies" if copies else "")
    )
    return 0


def _services(command: str, named: list[str]) -> list[str] | None:
    if unknown := set(named) - set(SERVICES):
        print(f"gmp-hub {command}: unknown service(s) {', '.join(sorted(unknown))}", file=sys.stderr)
        return None
    return named or list(SERVICES)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Recompute each service's event-history hash chain (shared/chain.py), checked against the
    anchors read back from the services' topics or kept in a file, if asked; 1 on any break."""
    from pathlib import Path

    from shared.audit import file_anchors, topic_anchors, verify
    from shared.chain import Anchor

    settings = load_settings()
    if (services := _services("audit verify", args.services)) is None:
        return 2
    anchors: list[Anchor] = []
    if args.anchors:
        anchors += file_anchors(Path(args.anchors))
    if args.anchors_from_topic:
        anchors += asyncio.run(topic_anchors(settings, services))

    async def run() -> list[str | None]:
        outcomes: list[str | None] = []
        for service in services:
            report = await verify(service, settings.database_url(service), anchors)
            print(report, flush=True)
            outcomes.append(str(report.broken) if report.broken else None)
        return outcomes

    return 1 if any(asyncio.run(run())) else 0


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    """Publish each service's chain head now, as its `audit.anchored` event (through its outbox)."""
    import getpass

    from shared.audit import anchor
    from shared.database import Database

    settings = load_settings()
    if (services := _services("audit anchor", args.services)) is None:
        return 2

    async def run(service: str) -> None:
        importlib.import_module(f"services.{service}.events")  # the service's anchor event
        db = Database(settings.database_url(service), pool_size=1)
        try:
            async with db.unit_of_work(f"cli:{getpass.getuser()}") as uow:
                event = await anchor(uow, service)
                await uow.commit()
        finally:
            await db.dispose()
        if event is None:
            print(f"{service}: nothing chained yet, no anchor")
        else:
            print(f"{service}: anchored chain_seq {event.chain_seq}, hash {event.chain_hash}")

    for service in services:
        asyncio.run(run(service))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gmp-hub", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    try:  # the development commands (up, seed, token): in a checkout, not in the image
        devtools_cli = importlib.import_module("devtools.cli")
    except ModuleNotFoundError as exc:
        if exc.name not in ("devtools", "devtools.cli"):
            raise
    else:
        devtools_cli.register(sub)

    serve = sub.add_parser("serve", help="run one service (for containers and process managers)")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port (default from GMPHUB_PORT_BASE)")
    serve.add_argument("--reuse-port", action="store_true", help="share the port with other replicas (SO_REUSEPORT)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("services", nargs="*", help=f"some of {', '.join(SERVICES)}; all if omitted")
    migrate.set_defaults(func=cmd_migrate)

    rev = sub.add_parser("revision", help="autogenerate a migration for one service")
    rev.add_argument("service", choices=SERVICES)
    rev.add_argument("-m", "--message", required=True)
    rev.set_defaults(func=cmd_revision)

    tail = sub.add_parser("tail", help="print a topic's events as they arrive")
    tail.add_argument("topic", help="e.g. gmphub.registry.v1 or gmphub.registry.v1.dlq")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--json", action="store_true")
    tail.set_defaults(func=cmd_tail)

    dlq = sub.add_parser("dlq-replay", help="republish a topic's dead letters to the topic")
    dlq.add_argument("topic", help="the original topic, e.g. gmphub.registry.v1")
    dlq.set_defaults(func=cmd_dlq_replay)

    audit = sub.add_parser("audit", help="the event histories' hash chains: verify them, anchor them")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="recompute the chains; exit 1 on a break")
    verify.add_argument("services", nargs="*", help=f"some of {', '.join(SERVICES)}; all if omitted")
    verify.add_argument("--anchors-from-topic", action="store_true", help="check the anchors on the services' topics")
    verify.add_argument("--anchors", metavar="FILE", help="check the anchors of a JSON-lines file")
    verify.set_defaults(func=cmd_audit_verify)
    anchor = audit_sub.add_parser("anchor", help="publish the chain heads now")
    anchor.add_argument("services", nargs="*", help=f"some of {', '.join(SERVICES)}; all if omitted")
    anchor.set_defaults(func=cmd_audit_anchor)

    from shared import dossier, webhook_receiver

    dossier.register(sub)
    webhook_receiver.register(sub)

    for service in SERVICES:  # a service may add its own subcommands in services/<name>/cli.py
        try:
            module = importlib.import_module(f"services.{service}.cli")
        except ModuleNotFoundError as exc:
            if exc.name != f"services.{service}.cli":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
