"""`gmp-hub`: run the hub on the embedded defaults, mint development tokens, and operate it."""

import argparse
import asyncio
import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import httpx

from shared.auth import Role, ensure_dev_keys, issue_token
from shared.settings import SERVICES, Settings


def _settings() -> Settings:
    settings = Settings()
    settings.data_dir = settings.data_dir.resolve()
    return settings


def _command_name() -> str:
    """How the user can call this CLI again: `gmp-hub` if it is on PATH, else its relative path."""
    import shutil

    if shutil.which("gmp-hub") == str(Path(sys.argv[0]).resolve()):
        return "gmp-hub"
    return os.path.relpath(sys.argv[0])


def _embedded_postgres(settings: Settings) -> bool:
    return not all(getattr(settings, f"{s}_database_url") for s in SERVICES)


def cmd_up(args: argparse.Namespace) -> int:
    """The whole hub as supervised children: a service, the broker or PostgreSQL that exits is started
    again (with backoff) while the rest keeps running; Ctrl-C or SIGTERM stops them all."""
    from shared.devstack import Command, EmbeddedKafka, EmbeddedPostgres, Supervisor
    from shared.kafka import dlq_of, ensure_topics
    from shared.events import topic_of
    from shared.migrations import upgrade

    settings = _settings()
    started = time.monotonic()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor()
    topics = [t for s in SERVICES for t in (topic_of(s), dlq_of(topic_of(s)))]
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        if not settings.jwt_jwks_url:
            ensure_dev_keys(settings.keys_dir)
        if _embedded_postgres(settings):
            postgres = supervisor.add(
                "postgres", EmbeddedPostgres(settings.data_dir / "postgres", settings.embedded_postgres_port)
            )
            postgres.create_databases(list(SERVICES))
            print(f"PostgreSQL 18   127.0.0.1:{postgres.port}  (data in {postgres.data_dir})")
        if not settings.kafka_bootstrap_servers:
            kafka = supervisor.add(  # memory storage: a restarted broker has no topics until we create them
                "broker",
                EmbeddedKafka(settings.embedded_kafka_port, settings.data_dir / "tansu.log"),
                on_restart=lambda: asyncio.run(ensure_topics(settings, topics)),
            )
            print(f"Kafka (Tansu)   {kafka.bootstrap_servers}")
        asyncio.run(ensure_topics(settings, topics))
        for service in SERVICES:
            upgrade(service, settings.database_url(service))
        env = {"GMPHUB_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"} | os.environ | {  # one machine: local receivers
            "GMPHUB_DATA_DIR": str(settings.data_dir),
            "GMPHUB_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_servers,
        } | {f"GMPHUB_{s.upper()}_DATABASE_URL": settings.database_url(s) for s in SERVICES}
        services = {
            service: supervisor.add(service, Command(
                [sys.executable, "-m", "uvicorn", f"services.{service}.main:app", "--host", settings.host,
                 "--port", str(settings.service_port(service)), "--no-access-log", "--log-level", "warning"],
                env=env,
            ))  # fmt: skip
            for service in SERVICES
        }
        _wait_ready(settings, services, lambda: stopping)
        if stopping:
            return 0
        print(f"\nGMP hub ready in {time.monotonic() - started:.1f}s\n")
        for service in SERVICES:
            url = settings.service_url(service)
            print(f"  {service:<11} {url}   docs {url}/docs   events {url}/asyncapi.json")
        cli = _command_name()
        print(f"\nGet a token:   {cli} token --role admin")
        print(f"               {cli} token --role developer --org ORG-1")
        print(f"Demo data:     {cli} seed")
        print("Stop:          Ctrl-C\n", flush=True)
        while not stopping:
            supervisor.poll()
            time.sleep(0.2)
        return 0
    finally:
        print("stopping...", file=sys.stderr)
        supervisor.stop()
        print("stopped", file=sys.stderr)


def _wait_ready(settings: Settings, services: dict, stopping, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    pending = set(services)
    with httpx.Client(timeout=2.0) as client:
        while pending and not stopping():
            for service in sorted(pending):
                if (process := services[service].process).poll() is not None:
                    raise SystemExit(f"{service} exited while starting (code {process.returncode})")
                try:
                    if client.get(f"{settings.service_url(service)}/readyz").status_code == 200:
                        pending.discard(service)
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise SystemExit(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")
            time.sleep(0.1)


def cmd_seed(args: argparse.Namespace) -> int:
    """Demo data through the public APIs of the running hub."""
    from demo.seed import Seeder

    settings = _settings()
    created = Seeder(settings).run()
    slots = f"localhost:{settings.service_port('scheduling')}/v1/slots?country=DE"
    print("\nTry:  DEV=$(gmp-hub token --role developer --org ORG-1)")
    print(f"      curl -s '{slots}' -H \"Authorization: Bearer $DEV\"")
    print(f"      FAC=$(gmp-hub token --role facility --facility-id {created['facility']})")
    print(f"      clinical runs at the Berlin facility may rely on approval {created['approval']}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run one service in the foreground (what a container runs); migrations are `gmp-hub migrate`."""
    import uvicorn

    settings = _settings()
    uvicorn.run(
        f"services.{args.service}.main:app",
        host=args.host or "0.0.0.0",  # noqa: S104 - a container listens on all its interfaces
        port=args.port or settings.service_port(args.service),
        access_log=False,
        proxy_headers=True,
    )
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        token = issue_token(
            settings,
            role=Role(args.role),
            sub=args.sub,
            org_id=args.org,
            facility_ids=args.facility_id,
            authority=args.authority,
            ttl_seconds=args.ttl,
        )
    except ValueError as exc:
        print(f"gmp-hub token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from shared.migrations import upgrade

    settings = _settings()
    if unknown := set(args.services) - set(SERVICES):
        print(f"gmp-hub migrate: unknown service(s) {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    for service in args.services or SERVICES:
        upgrade(service, settings.database_url(service))
        print(f"{service}: at head")
    return 0


def cmd_revision(args: argparse.Namespace) -> int:
    from shared.migrations import revision

    revision(args.service, _settings().database_url(args.service), args.message)
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    """Print a topic's events as readable lines, or as JSON with --json."""
    from aiokafka import AIOKafkaConsumer

    from shared.kafka import client_options

    settings = _settings()

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

    try:
        asyncio.run(tail())
    except KeyboardInterrupt:
        pass
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    """Publish the dead letters of `<topic>.dlq` back to `<topic>` (after the cause is fixed), each
    event once: the latest of its records (a DLQ on a broker that does not compact keeps copies of
    an event that died again), with its own key and its attempt count. Its own consumer group
    remembers how far it got, so a second run replays only what died since."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from shared.kafka import client_options, dlq_of

    settings = _settings()
    dlq = dlq_of(args.topic)

    async def replay() -> tuple[int, int]:
        consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=f"gmphub-dlq-replay-{args.topic}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        )
        producer = AIOKafkaProducer(**client_options(settings), acks="all")
        await consumer.start()
        await producer.start()
        latest: dict[bytes, object] = {}  # DLQ key (consumer/event) -> its newest record
        read = 0
        try:
            # Assigned, not subscribed: no group join to wait for, and it stops at the end it saw.
            partitions = [TopicPartition(dlq, p) for p in sorted(consumer.partitions_for_topic(dlq) or ())]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        headers = dict(record.headers or ())
                        one_event = "dlq_attempts" in headers  # dead-lettered keyed by consumer/event
                        key = record.key if one_event else f"{record.partition}/{record.offset}".encode()
                        latest.pop(key, None)  # the newest copy counts, in the order the copies came
                        latest[key] = record
                        read += 1
            for record in latest.values():
                headers = dict(record.headers or ())
                kept = [(k, v) for k, v in record.headers or () if not k.startswith("dlq_") or k == "dlq_attempts"]
                await producer.send_and_wait(args.topic, record.value, key=headers.get("dlq_key", record.key), headers=kept)
            await consumer.commit({tp: ends[tp] for tp in partitions})
        finally:
            await producer.stop()
            await consumer.stop()
        return len(latest), read - len(latest)

    replayed, copies = asyncio.run(replay())
    print(f"replayed {replayed} message(s) from {dlq} to {args.topic}" + (f"; skipped {copies} older copies" if copies else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gmp-hub", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("up", help="start the whole hub on the embedded defaults").set_defaults(func=cmd_up)

    sub.add_parser("seed", help="demo data in the running hub (facilities, capacity, materials, an approval)").set_defaults(
        func=cmd_seed
    )

    serve = sub.add_parser("serve", help="run one service (for containers and process managers)")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port (default from GMPHUB_PORT_BASE)")
    serve.set_defaults(func=cmd_serve)

    token = sub.add_parser("token", help="print a development bearer token")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--org", help="developer's organisation (org_id claim)")
    token.add_argument("--facility-id", action="append", help="facility the user may act for (repeatable)")
    token.add_argument("--authority", help="regulator's competent authority, e.g. DE-PEI")
    token.add_argument("--sub", help="subject (user id); a random one if omitted")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(func=cmd_token)

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
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
