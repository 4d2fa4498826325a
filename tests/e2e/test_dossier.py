"""`gmp-hub dossier` over the four services' APIs: a facility after the key flows (certified,
capacity booked and confirmed with materials, a suspension, a statement, a shortage) and an
approval tree (parent and child, each decided), each a folder (or zip) whose manifest's hashes
match its files and whose PDF reads; a refusal (unknown id, a token without the role) writes
nothing and says the service's detail."""

import hashlib
import json
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path

import pytest

from shared.cli import build_parser
from shared.dossier import produce
from tests.e2e import test_key_flows
from tests.e2e.test_key_flows import booking_status, ok, publish_capacity, stock
from tests.integration.approvals.helpers import Flow

pytestmark = pytest.mark.e2e
certified_facility = test_key_flows.certified_facility  # the key flows' fixture: onboarded, a suite, certified


def token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def dossier(hub_clients, *argv: str) -> int:
    """The command as `gmp-hub dossier ARGV` runs it, on the in-process services."""
    return await produce(build_parser().parse_args(["dossier", *argv]), hub_clients)


@pytest.fixture
def hub_clients(registry, materials, scheduling, approvals):
    return {s.name: s.client for s in (registry, materials, scheduling, approvals)}


def checked_manifest(folder: Path) -> dict:
    """The manifest, after recomputing every file's SHA-256 and size and finding no file unlisted."""
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(listed) == on_disk
    for path, f in listed.items():
        content = (folder / path).read_bytes()
        assert (hashlib.sha256(content).hexdigest(), len(content)) == (f["sha256"], f["bytes"]), path
    return manifest


def pdf_text(path: Path) -> str | None:
    """The PDF's text by pdftotext (poppler-utils), in drawing order with its whitespace collapsed
    (a table cell's wrapped lines join again), or None where pdftotext is not installed."""
    assert path.read_bytes().startswith(b"%PDF-")
    if shutil.which("pdftotext") is None:
        return None
    drawn = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(drawn.split())


async def test_a_facility_dossier_after_the_key_flows(
    certified_facility, registry, materials, scheduling, hub_clients, tokens, tmp_path, capsys
):
    facility_id, suite_id, certificate_id = certified_facility
    slot_ids = await publish_capacity(scheduling, tokens, facility_id, suite_id)
    material_id = await stock(materials, tokens, facility_id, "1000")
    need = [{"material_id": material_id, "quantity": "400", "unit": "mL"}]
    hold = {"slot_ids": slot_ids[:1], "product": "CAR-T CD19", "run_kind": "development", "material_needs": need}
    booking = await ok(await scheduling.client.post("/v1/bookings", json=hold, headers=tokens.developer()), 201)
    await ok(await scheduling.client.post(f"/v1/bookings/{booking['booking_id']}/confirm", headers=tokens.developer()))
    await booking_status(scheduling, tokens, booking["booking_id"], "confirmed")
    pei = tokens.regulator("DE-PEI")
    await ok(await registry.client.post(f"/v1/certificates/{certificate_id}/suspend",
                                        json={"reason": "Sterility failures in media fills"}, headers=pei))  # fmt: skip
    await ok(await registry.client.post(f"/v1/facilities/{facility_id}/noncompliance",
                                        json={"summary": "Media fill failures, grade B"}, headers=pei), 201)  # fmt: skip
    shortage = await ok(await materials.client.post("/v1/shortages", headers=pei, json={
        "material_id": material_id, "severity": "high", "regions": ["DE"], "reason": "Supplier recall"}), 201)  # fmt: skip

    folder = tmp_path / "charite"
    assert await dossier(hub_clients, "--facility", facility_id, "--token", token(pei), "-o", str(folder)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["charite"]  # renamed into place: no partial left
    progress = capsys.readouterr().err
    assert "scheduling: 1 booking(s) at the facility" in progress and "materials: 1 lot(s)" in progress

    manifest = checked_manifest(folder)
    assert (manifest["dossier"], manifest["id"]) == ("facility", facility_id)
    assert manifest["produced_by"] == {"subject": "inspector-1", "role": "regulator", "authority": "DE-PEI"}
    assert manifest["produced_at"].endswith("+00:00")
    assert set(manifest["chain_verification"]) == {"registry", "scheduling", "materials"}
    assert all(c["ok"] and c["broken"] is None for c in manifest["chain_verification"].values()), manifest
    assert set(manifest["hub_versions"]["services"]) == {"registry", "scheduling", "materials"}
    assert all(manifest["hub_versions"]["services"].values())

    certificate = json.loads((folder / f"registry/certificates/{certificate_id}.json").read_text())
    assert [s["action"] for s in certificate["signatures"]] == ["issued", "suspended"]
    assert [b["booking_id"] for b in json.loads((folder / "scheduling/bookings.json").read_text())] == [
        booking["booking_id"]
    ]
    history = json.loads((folder / f"scheduling/bookings/{booking['booking_id']}-history.json").read_text())
    assert "gmphub.scheduling.booking.confirmed.v1" in [e["type"] for e in history]
    [reservation] = json.loads((folder / "materials/reservations.json").read_text())
    assert reservation["booking_id"] == booking["booking_id"] and reservation["status"] == "confirmed"
    shortages = json.loads((folder / "materials/shortages.json").read_text())
    assert [s["shortage_id"] for s in shortages] == [shortage["shortage_id"]]

    text = pdf_text(folder / "report.pdf")
    if text is not None:
        for expected in ("Charité GMP Unit", "DE-PEI-GMP-2026-0117", "Sterility failures in media fills",
                         "Media fill failures, grade B", "L2026-0413", "Supplier recall", "Page 1 of"):  # fmt: skip
            assert expected in text, expected

    packed = tmp_path / "charite.zip"
    assert await dossier(hub_clients, "--facility", facility_id, "--token", token(pei), "--zip", "-o", str(packed)) == 0
    with zipfile.ZipFile(packed) as archive:
        archive.extractall(tmp_path / "unpacked")
    unpacked = checked_manifest(tmp_path / "unpacked" / "charite")
    assert {f["path"] for f in unpacked["files"]} == {f["path"] for f in manifest["files"]}


async def test_an_approval_tree_dossier_holds_every_decision_with_its_signature(
    approvals, hub_clients, tokens, tmp_path
):
    flow = Flow(approvals, tokens)
    parent = await flow.approved(title="CD19 CAR-T platform")
    child = await flow.approved(parent["approval_id"], title="CAR-T CD19 for r/r DLBCL")

    folder = tmp_path / "tree"
    regulator = token(tokens.regulator("DE-PEI"))
    assert await dossier(hub_clients, "--approval", parent["approval_id"], "--token", regulator, "-o", str(folder)) == 0
    manifest = checked_manifest(folder)
    assert set(manifest["chain_verification"]) == {"approvals", "scheduling"}
    tree = json.loads((folder / "approvals/tree.json").read_text())
    assert [d["approval_id"] for d in tree["descendants"]] == [child["approval_id"]]
    for approval in (parent, child):
        [decision] = json.loads((folder / f"approvals/{approval['approval_id']}/decisions.json").read_text())
        assert decision["action"] == "approved" and decision["signer_name"] and len(decision["state_sha256"]) == 64
    text = pdf_text(folder / "report.pdf")
    if text is not None:
        assert "CD19 CAR-T platform" in text and "CAR-T CD19 for r/r DLBCL" in text
        assert "Decision of the competent authority" in text and "Data acceptable." in text


async def test_a_refused_read_writes_nothing_and_says_the_service_s_detail(
    certified_facility, approvals, scheduling, hub_clients, tokens, tmp_path, capsys
):
    facility_id, _, _ = certified_facility
    admin = token(tokens.admin())
    unknown = str(uuid.uuid4())
    assert await dossier(hub_clients, "--facility", unknown, "--token", admin, "-o", str(tmp_path / "d")) == 1
    assert f"registry answered 404: No facility {unknown}" in capsys.readouterr().err

    developer = tokens.developer()
    refusal = await scheduling.client.get(f"/v1/facilities/{facility_id}/bookings", headers=developer)
    detail = refusal.json()["detail"]
    assert refusal.status_code == 403 and detail
    assert await dossier(hub_clients, "--facility", facility_id, "--token", token(developer), "-o", str(tmp_path / "d")) == 1  # fmt: skip
    assert f"scheduling answered 403: {detail}" in capsys.readouterr().err

    own = await Flow(approvals, tokens).approved()  # the developer's own approval: the tree is theirs to read
    assert await dossier(hub_clients, "--approval", own["approval_id"], "--token", token(developer), "--zip",
                         "-o", str(tmp_path / "d.zip")) == 1  # fmt: skip
    assert "scheduling answered 403: Bookings by approval are read by" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no folder, no zip, no partial

    assert await dossier(hub_clients, "--facility", "not-an-id", "--token", admin) == 2
    assert "not a facility id" in capsys.readouterr().err


async def test_a_facility_s_own_dossier_is_written_and_says_its_chains_were_not_checked(
    certified_facility, registry, hub_clients, tokens, tmp_path
):
    facility_id, _, _ = certified_facility
    own = tokens.facility(facility_id)
    refused = (await registry.client.get("/ops/audit", headers=own)).json()["detail"]
    folder = tmp_path / "own"
    assert await dossier(hub_clients, "--facility", facility_id, "--token", token(own), "-o", str(folder)) == 0
    chains = checked_manifest(folder)["chain_verification"]
    assert set(chains) == {"registry", "scheduling", "materials"}
    assert chains["registry"] == {"service": "registry", "ok": None, "summary": f"registry: not checked: {refused}"}


def test_the_command_line_takes_the_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("GMPHUB_TOKEN", "a.b.c")
    args = build_parser().parse_args(["dossier", "--approval", str(uuid.uuid4()), "--zip"])
    assert (args.token, args.zip, args.facility) == ("a.b.c", True, None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["dossier", "--facility", "x", "--approval", "y"])
