"""`gmp-hub dossier`: everything about one facility or one approval tree for an inspector, read
from the services' public APIs with the caller's token (an operator's or a regulator's), in one
folder or zip they can read and check: `report.pdf`, the raw records and histories as JSON, and
`manifest.json` with each file's SHA-256 and size, who produced it and when, the services'
versions and the chain verification of every service involved. It is written to a temporary
folder beside the destination and renamed into place at the end, so a refusal leaves nothing."""

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import jwt

from shared.errors import problem_detail

FACILITY_SERVICES = ("registry", "scheduling", "materials")
APPROVAL_SERVICES = ("approvals", "scheduling")
PAGE = 1000  # bookings per request (scheduling's largest page)
RELYING_BATCH = 200  # approval ids per request (scheduling's limit)
SHORTAGES_PAGE = 500  # materials' largest page of shortages (its first page alone holds 100)


class Unread(Exception):
    """A read the dossier needs failed: nothing is written."""


class Refused(Unread):
    """A service answered a read with a problem (RFC 9457): its status and `detail`."""

    def __init__(self, service: str, status: int, detail: str) -> None:
        super().__init__(f"{service} answered {status}: {detail}")
        self.status, self.detail = status, detail


@dataclass
class Dossier:
    """What was read, as files (path in the dossier -> JSON value), in the order read."""

    kind: str  # facility | approval
    subject_id: str
    services: tuple[str, ...]
    files: dict[str, Any] = field(default_factory=dict)

    def add(self, path: str, value: Any) -> Any:
        if Path(path).is_absolute() or ".." in Path(path).parts:  # names carry ids the services answered
            raise Unread(f"an answer named a file outside the dossier: {path}")
        self.files[path] = value
        return value


@dataclass(frozen=True)
class Facts:
    """Who produced the dossier, when, from which hub, and what its chains' verification says."""

    produced_by: dict[str, Any]
    produced_at: str  # ISO 8601, UTC with its offset
    versions: dict[str, Any]
    chains: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    bytes: int


class Reader:
    """GETs on the services' public APIs with the caller's token; a problem answer is `Refused`."""

    def __init__(self, clients: Mapping[str, httpx.AsyncClient], token: str, say: Callable[[str], None]) -> None:
        self.clients, self.say = clients, say
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, service: str, path: str, **params: Any) -> Any:
        client = self.clients[service]
        try:
            response = await client.get(path, params=params or None, headers=self.headers)
        except httpx.HTTPError as exc:
            raise Unread(f"{service} at {client.base_url} did not answer: {exc}") from exc
        if not response.is_success:
            raise Refused(service, response.status_code, problem_detail(response))
        return response.json()

    async def all_pages(self, service: str, path: str, page_size: int = PAGE) -> list[Any]:
        items: list[Any] = []
        while True:
            page = await self.get(service, path, limit=page_size, offset=len(items))
            items.extend(page)
            if len(page) < page_size:
                return items


async def facility_dossier(read: Reader, facility_id: str) -> Dossier:
    """The facility's profile, suites, certificates with their signatures, non-compliance
    statements and history (registry); its bookings and their histories (scheduling); its lots,
    reservations, the shortages of the materials it stocks or was asked for, and their histories."""
    d = Dossier("facility", facility_id, FACILITY_SERVICES)
    read.say("registry: the facility, its suites, certificates and non-compliance statements")
    facility = d.add("registry/facility.json", await read.get("registry", f"/v1/facilities/{facility_id}"))
    d.add("registry/facility-history.json", await read.get("registry", f"/v1/facilities/{facility_id}/history"))
    for c in facility["certificates"]:
        path = f"/v1/certificates/{c['certificate_id']}"
        d.add(f"registry/certificates/{c['certificate_id']}.json", await read.get("registry", path))
    read.say(f"registry: {len(facility['certificates'])} certificate(s) with their signatures")

    bookings = await read.all_pages("scheduling", f"/v1/facilities/{facility_id}/bookings")
    d.add("scheduling/bookings.json", bookings)
    read.say(f"scheduling: {len(bookings)} booking(s) at the facility; their histories")
    for b in bookings:
        history = await read.get("scheduling", f"/v1/bookings/{b['booking_id']}/history")
        d.add(f"scheduling/bookings/{b['booking_id']}-history.json", history)

    lots = await read.get("materials", f"/v1/facilities/{facility_id}/lots", include_expired="true")
    d.add("materials/lots.json", lots)
    read.say(f"materials: {len(lots)} lot(s); their histories")
    for lot in lots:
        d.add(f"materials/lots/{lot['lot_id']}-history.json", await read.get("materials", f"/v1/lots/{lot['lot_id']}/history"))  # fmt: skip
    reservations = await read.get("materials", f"/v1/facilities/{facility_id}/reservations")
    d.add("materials/reservations.json", reservations)
    read.say(f"materials: {len(reservations)} reservation(s); their histories")
    for r in reservations:
        history = await read.get("materials", f"/v1/reservations/{r['booking_id']}/history")
        d.add(f"materials/reservations/{r['booking_id']}-history.json", history)

    touched = {lot["material_id"] for lot in lots}
    touched |= {line["material_id"] for r in reservations for line in r["lines"]}
    touched |= {need["material_id"] for b in bookings for need in b["material_needs"]}
    shortages = [
        s for s in await read.all_pages("materials", "/v1/shortages", SHORTAGES_PAGE)
        if s["material_id"] in touched or s["reported_by_facility_id"] == facility_id
    ]  # fmt: skip
    d.add("materials/shortages.json", shortages)
    read.say(f"materials: {len(shortages)} shortage(s) touching its materials; their histories")
    for s in shortages:
        path = f"/v1/shortages/{s['shortage_id']}/history"
        d.add(f"materials/shortages/{s['shortage_id']}-history.json", await read.get("materials", path))
    named = sorted(touched | {s["material_id"] for s in shortages})
    d.add("materials/materials.json", [await read.get("materials", f"/v1/materials/{m}") for m in named])
    read.say(f"materials: {len(named)} material(s) named")
    return d


async def approval_dossier(read: Reader, approval_id: str) -> Dossier:
    """The approval's tree (ancestors and descendants the caller may see), each approval with its
    signed decisions and history, and the live bookings relying on any of them (scheduling)."""
    d = Dossier("approval", approval_id, APPROVAL_SERVICES)
    read.say("approvals: the approval's tree")
    tree = d.add("approvals/tree.json", await read.get("approvals", f"/v1/approvals/{approval_id}/tree"))
    ids = [n["approval_id"] for n in [*tree["ancestors"], tree["approval"], *tree["descendants"]]]
    relying: list[Any] = []
    for start in range(0, len(ids), RELYING_BATCH):
        batch = ids[start : start + RELYING_BATCH]
        relying.extend(await read.get("scheduling", "/v1/bookings/relying", approval_id=batch))
    d.add("scheduling/relying-bookings.json", relying)
    read.say(f"scheduling: {len(relying)} live booking(s) relying on the tree's {len(ids)} approval(s)")
    for i, a in enumerate(ids, 1):
        d.add(f"approvals/{a}/approval.json", await read.get("approvals", f"/v1/approvals/{a}"))
        d.add(f"approvals/{a}/decisions.json", await read.get("approvals", f"/v1/approvals/{a}/decisions"))
        d.add(f"approvals/{a}/history.json", await read.get("approvals", f"/v1/approvals/{a}/history"))
        read.say(f"approvals: {i}/{len(ids)} approval(s) with their decisions and histories")
    return d


async def hub_versions(clients: Mapping[str, httpx.AsyncClient], services: Iterable[str]) -> dict[str, Any]:
    """This command's package version and each service's API version (from `/healthz`: the OpenAPI
    document may be kept to the internal network), where they answer it; `null` where not."""
    try:
        cli: str | None = metadata.version("gmp-hub")
    except metadata.PackageNotFoundError:
        cli = None
    answered: dict[str, str | None] = {}
    for service in services:
        try:
            response = await clients[service].get("/healthz")
            answered[service] = response.json()["version"] if response.is_success else None
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            answered[service] = None
    return {"gmp-hub": cli, "services": answered}


def token_subject(token: str) -> dict[str, Any]:
    """Who the token says it is (the services checked its signature on every read)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {"subject": None}
    wanted = ("role", "name", "authority", "org_id", "facility_ids")
    return {"subject": claims.get("sub")} | {k: claims[k] for k in wanted if claims.get(k) is not None}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def entry(folder: Path, path: str) -> FileEntry:
    return FileEntry(path, _sha256(folder / path), (folder / path).stat().st_size)


def write(dossier: Dossier, facts: Facts, destination: Path, *, as_zip: bool) -> Path:
    """Write the files, the report and the manifest into a temporary folder beside `destination`,
    then rename (or zip) it into place: a failure part way leaves no dossier behind."""
    from shared.dossier_report import render

    destination.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent))
    try:
        for path, value in dossier.files.items():
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        records = [entry(work, path) for path in dossier.files]
        (work / "report.pdf").write_bytes(render(dossier, facts, records))
        manifest = {
            "dossier": dossier.kind,
            "id": dossier.subject_id,
            "produced_by": facts.produced_by,
            "produced_at": facts.produced_at,
            "hub_versions": facts.versions,
            "chain_verification": facts.chains,
            "files": [vars(e) for e in [entry(work, "report.pdf"), *records]],
        }
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
        if not as_zip:
            work.rename(destination)
            return destination
        packed = work.with_suffix(".zip")
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(p for p in work.rglob("*") if p.is_file()):
                archive.write(file, Path(destination.stem) / file.relative_to(work))
        packed.rename(destination)
        return destination
    finally:
        shutil.rmtree(work, ignore_errors=True)
        work.with_suffix(".zip").unlink(missing_ok=True)


async def chain_checked(read: "Reader", service: str) -> dict[str, Any]:
    """`gmp-hub audit verify` for one service, over its `/ops/audit`. Only the operator and the
    regulators may ask; for anyone else (a facility's own dossier) the manifest says it was not
    checked and why, and the dossier is written all the same."""
    try:
        checked: dict[str, Any] = await read.get(service, "/ops/audit")
    except Refused as refused:
        if refused.status != 403:
            raise
        return {"service": service, "ok": None, "summary": f"{service}: not checked: {refused.detail}"}
    return checked


async def produce(args: argparse.Namespace, clients: Mapping[str, httpx.AsyncClient]) -> int:
    """The command with its clients given (the CLI's on the configured URLs, the tests' in-process)."""

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    kind, subject = ("facility", args.facility) if args.facility else ("approval", args.approval)
    try:
        subject = str(UUID(subject))
    except ValueError:
        say(f"gmp-hub dossier: {subject!r} is not a {kind} id (a UUID)")
        return 2
    destination = Path(args.output or f"dossier-{kind}-{subject}{'.zip' if args.zip else ''}").resolve()
    if destination.exists():
        say(f"gmp-hub dossier: {destination} exists already; nothing written")
        return 2
    if not args.token:
        say("gmp-hub dossier: a token is needed: --token or GMPHUB_TOKEN")
        return 2
    read = Reader(clients, args.token, say)
    try:
        dossier = await (facility_dossier if kind == "facility" else approval_dossier)(read, subject)
        versions = await hub_versions(clients, dossier.services)
    except Unread as failed:
        say(f"gmp-hub dossier: {failed}; nothing written")
        return 1
    say("checking the services' chains")
    try:
        chains = {s: await chain_checked(read, s) for s in dossier.services}
    except Unread as failed:
        say(f"gmp-hub dossier: {failed}; nothing written")
        return 1
    produced_at = datetime.now(UTC).isoformat(timespec="seconds")
    facts = Facts(token_subject(args.token), produced_at, versions, chains)
    say(f"writing {len(dossier.files)} JSON file(s), the report and the manifest")
    written = write(dossier, facts, destination, as_zip=args.zip)
    print(written)
    return 0


def cmd_dossier(args: argparse.Namespace) -> int:
    from shared.cli import load_settings

    settings = load_settings()

    async def run() -> int:
        services = FACILITY_SERVICES if args.facility else APPROVAL_SERVICES
        clients = {s: httpx.AsyncClient(base_url=settings.service_url(s), timeout=args.timeout) for s in services}
        try:
            return await produce(args, clients)
        finally:
            for client in clients.values():
                await client.aclose()

    return asyncio.run(run())


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "dossier",
        help="an inspection dossier of a facility or an approval tree (PDF, JSON, manifest)",
        description="Reads every service involved over its public API with the token (an operator's or a "
        "regulator's) and writes a folder (or a zip): report.pdf, the records and histories as JSON, and "
        "manifest.json with each file's SHA-256. Exit code 1 when a service refuses a read (nothing is written).",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--facility", metavar="ID", help="a facility's id")
    which.add_argument("--approval", metavar="ID", help="an approval's id: its tree")
    parser.add_argument("--token", default=os.environ.get("GMPHUB_TOKEN"), help="bearer token (or GMPHUB_TOKEN)")
    parser.add_argument("--zip", action="store_true", help="write one zip file instead of a folder")
    parser.add_argument("--output", "-o", help="where (default dossier-<kind>-<id>[.zip] here); must not exist")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer")
    parser.set_defaults(func=cmd_dossier)
