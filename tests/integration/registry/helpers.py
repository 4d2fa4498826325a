"""Requests the registry tests share."""

from datetime import date, timedelta
from typing import Any

FACILITY = {
    "legal_name": "Charité GMP Unit for Cell Therapy",
    "kind": "hospital",
    "country": "DE",
    "city": "Berlin",
    "address": "Augustenburger Platz 1, 13353 Berlin",
    "contact_email": "qa@gmp.example.org",
    "authorisation_number": "DE_BE_01_MIA_2024_0042",
    "authorisation_authority": "DE-LAGeSo",
}

SUITE = {
    "name": "Suite 2 (CAR-T)",
    "cleanroom_grade": "B",
    "atmp_types": ["gene_therapy", "somatic_cell_therapy"],
    "processes": ["car_t", "clinimacs_prodigy"],
    "qc_tests": ["sterility", "mycoplasma"],
    "qp_release": True,
}


def certificate(number: str = "DE-PEI-GMP-2026-0117", **overrides: Any) -> dict[str, Any]:
    today = date.today()
    return {
        "number": number,
        "issued_on": str(today - timedelta(days=30)),
        "expires_on": str(today + timedelta(days=3 * 365)),
        "atmp_types": ["gene_therapy"],
        "operations": ["aseptic_manufacture", "batch_certification"],
    } | overrides


async def create_facility(registry, tokens, **overrides: Any) -> dict[str, Any]:
    response = await registry.client.post("/v1/facilities", json=FACILITY | overrides, headers=tokens.admin())
    assert response.status_code == 201, response.text
    return response.json()


async def add_suite(registry, tokens, facility_id: str, **overrides: Any) -> dict[str, Any]:
    response = await registry.client.post(
        f"/v1/facilities/{facility_id}/suites", json=SUITE | overrides, headers=tokens.facility(facility_id)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def issue_certificate(registry, tokens, facility_id: str, authority: str = "DE-PEI", **overrides: Any) -> dict:
    response = await registry.client.post(
        f"/v1/facilities/{facility_id}/certificates", json=certificate(**overrides), headers=tokens.regulator(authority)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def counts(registry) -> tuple[int, int, int, int]:
    """(facility, suite, certificate, outbox) rows: proof that a refused request changed nothing."""
    rows = await registry.sql(
        "SELECT (SELECT count(*) FROM facility), (SELECT count(*) FROM suite), "
        "(SELECT count(*) FROM certificate), (SELECT count(*) FROM outbox)"
    )
    return tuple(rows[0])


async def version_of(registry, facility_id: str) -> int:
    return (await registry.sql("SELECT version FROM facility WHERE id = :id", id=facility_id))[0][0]
