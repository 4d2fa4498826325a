"""The development commands of `gmp-hub`: `up` (the whole hub on the embedded defaults, supervised),
`seed` (demo data through the public APIs) and `token` (a bearer token signed with the development
key). `shared.cli` registers them when this package is importable; the image has the operations only."""

import argparse
import asyncio
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import httpx

from shared.auth import Role, ensure_dev_keys, issue_token
from shared.cli import load_settings
from shared.settings import SERVICES, Settings


def _command_name() -> str:
    """How the user can call this CLI again: `gmp-hub` if it is on PATH, else its relative path."""
    if shutil.which("gmp-hub") == str(Path(sys.argv[0]).resolve()):
        return "gmp-hub"
    return os.path.relpath(sys.argv[0])


def _embedded_postgres(settings: Settings) -> bool:
    return not all(getattr(settings, f"{s}_database_url") for s in SERVICES)


def cmd_up(args: argparse.Namespace) -> int:
    """The whole hub as supervised children: a service, the broker or PostgreSQL that exits is started
    again (with backoff) while the rest keeps running; Ctrl-C or SIGTERM stops them all."""
    from devtools.stack import Command, EmbeddedKafka, EmbeddedPostgres, Supervisor
    from shared.events import topic_of
    from shared.kafka import dlq_of, ensure_topics
    from shared.migrations import upgrade

    settings = load_settings()
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
        env = (
            {"GMPHUB_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}
            | os.environ
            | {  # one machine: local receivers
                "GMPHUB_DATA_DIR": str(settings.data_dir),
                "GMPHUB_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_servers,
            }
            | {f"GMPHUB_{s.upper()}_DATABASE_URL": settings.database_url(s) for s in SERVICES}
        )
        replicas = _replicas(settings)
        metrics_dirs = _metrics_dirs(settings, replicas)
        services: dict[str, list] = {
            service: [
                supervisor.add(
                    service if replica == 1 else f"{service} #{replica}",
                    Command(
                        _service_command(settings, service, replicas[service]),
                        env=env | metrics_dirs.get(service, {}) | _shares(settings, replicas[service]),
                    ),
                )
                for replica in range(1, replicas[service] + 1)
            ]
            for service in SERVICES
        }
        portal_url = f"http://{settings.host}:{settings.port_base}"
        services["portal"] = [supervisor.add("portal", Command(_portal_command(settings), env=env))]
        _wait_ready(settings, services, lambda: stopping)
        if stopping:
            return 0
        print(f"\nGMP hub ready in {time.monotonic() - started:.1f}s\n")
        print(f"  open {portal_url}   the portal: sign in as a developer, a facility, a regulator\n")
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


def _service_command(settings: Settings, service: str, replicas: int) -> list[str]:
    """`gmp-hub serve`, as a container runs a service; replicas share the port."""
    return [sys.executable, "-m", "shared.cli", "serve", service, "--host", settings.host,
            "--port", str(settings.service_port(service)), "--log-level", "warning",
            *(["--reuse-port"] if replicas > 1 else [])]  # fmt: skip


# Scheduling carries the hold path, the hub's busiest writes: one process per core (up to four) by
# default. On two cores, two made 16–21% more holds than one for 4–8% more CPU per hold, and with
# the database's searches shared between them (`_shares`) slot searches kept their p99
# (benchmarks/README.md); the others run one unless GMPHUB_REPLICAS says more.
MOST_SCHEDULING_PROCESSES = 4


def _replicas(settings: Settings) -> dict[str, int]:
    if unknown := set(settings.replicas) - set(SERVICES):
        raise SystemExit(f"GMPHUB_REPLICAS names no such service: {', '.join(sorted(unknown))}")
    defaults = {"scheduling": max(1, min(os.cpu_count() or 1, MOST_SCHEDULING_PROCESSES))}
    replicas = {service: settings.replicas.get(service, defaults.get(service, 1)) for service in SERVICES}
    if any(count < 1 for count in replicas.values()) or replicas["approvals"] > 1:
        raise SystemExit("GMPHUB_REPLICAS: at least 1 of each service, and 1 of approvals (see shared/settings.py)")
    return replicas


def _shares(settings: Settings, replicas: int) -> dict[str, str]:
    """What replicas of one service on one database split between them: its searches at once."""
    return {"GMPHUB_SEARCH_CONNECTIONS": str(max(1, settings.search_connections // replicas))} if replicas > 1 else {}


def _metrics_dirs(settings: Settings, replicas: dict[str, int]) -> dict[str, dict[str, str]]:
    """Replicas of a service count their metrics in files of one directory, which each one's
    `/metrics` adds up (Prometheus' multiprocess mode); emptied at each start."""
    dirs = {}
    for service in (s for s, count in replicas.items() if count > 1):
        path = settings.data_dir / "metrics" / service
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        dirs[service] = {"PROMETHEUS_MULTIPROC_DIR": str(path)}
    return dirs


def _portal_command(settings: Settings) -> list[str]:
    """The portal (services/portal) on base+0: pages calling the four services' public APIs."""
    return [sys.executable, "-m", "uvicorn", "services.portal.main:create_portal", "--factory",
            "--host", settings.host, "--port", str(settings.port_base), "--no-access-log", "--no-server-header", "--log-level", "warning"]  # fmt: skip


def _listening(pid: int) -> bool:
    import psutil

    return any(c.status == psutil.CONN_LISTEN for c in psutil.Process(pid).net_connections("tcp"))


def _wait_ready(settings: Settings, services: dict[str, list], stopping, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    pending = set(services)
    with httpx.Client(timeout=2.0) as client:
        while pending and not stopping():
            for service in sorted(pending):
                for server in services[service]:
                    if (process := server.process).poll() is not None:
                        raise SystemExit(f"{service} exited while starting (code {process.returncode})")
                url = (
                    f"http://{settings.host}:{settings.port_base}"
                    if service == "portal"
                    else settings.service_url(service)
                )
                try:  # the port answers for one replica; each listens once it has started up
                    if client.get(f"{url}/readyz").status_code == 200 and all(
                        _listening(server.process.pid) for server in services[service]
                    ):
                        pending.discard(service)
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise SystemExit(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")
            time.sleep(0.1)


def cmd_seed(args: argparse.Namespace) -> int:
    """Demo data through the public APIs of the running hub."""
    from devtools.seed import Seeder

    settings = load_settings()
    created = Seeder(settings).run()
    slots = f"localhost:{settings.service_port('scheduling')}/v1/slots?country=DE"
    print("\nTry:  DEV=$(gmp-hub token --role developer --org ORG-1)")
    print(f"      curl -s '{slots}' -H \"Authorization: Bearer $DEV\"")
    print(f"      FAC=$(gmp-hub token --role facility --facility-id {created['facility']})")
    print(f"      clinical runs at the Berlin facility may rely on approval {created['approval']}")
    print(f"      and are confirmed under technical agreement {created['agreement']}")
    return 0


def authenticated_at(value: str) -> int:
    """`--auth-time`: seconds since the epoch, or an age before now such as -600."""
    try:
        moment = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither seconds since the epoch nor an age like -600") from None
    return int(time.time()) + moment if moment < 0 else moment


def cmd_token(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        token = issue_token(
            settings,
            role=Role(args.role),
            sub=args.sub,
            org_id=args.org,
            facility_ids=args.facility_id,
            authority=args.authority,
            name=args.name,
            auth_time="now" if args.auth_time is None else args.auth_time,
            ttl_seconds=args.ttl,
        )
    except ValueError as exc:
        print(f"gmp-hub token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("up", help="start the whole hub on the embedded defaults").set_defaults(func=cmd_up)

    sub.add_parser(
        "seed", help="demo data in the running hub (facilities, capacity, materials, an approval)"
    ).set_defaults(func=cmd_seed)

    token = sub.add_parser("token", help="print a development bearer token")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--org", help="developer's organisation (org_id claim)")
    token.add_argument("--facility-id", action="append", help="facility the user may act for (repeatable)")
    token.add_argument("--authority", help="regulator's competent authority, e.g. DE-PEI")
    token.add_argument("--sub", help="subject (user id); a random one if omitted")
    token.add_argument("--name", help="the user's name (name claim), as signatures record the signer")
    token.add_argument(
        "--auth-time", type=authenticated_at, metavar="WHEN",
        help="when the user signed in (auth_time claim): now by default; seconds since the epoch, or an age "
        "such as -600 (ten minutes ago) for a token too old to sign with",
    )  # fmt: skip
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(func=cmd_token)
