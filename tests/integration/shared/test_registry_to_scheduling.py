"""A facility registered on registry reaches scheduling's read model through the real broker."""

from tests.integration.registry.helpers import FACILITY
from tests.support import eventually


async def test_registered_facility_reaches_scheduling(registry, scheduling, tokens):
    onboarded = FACILITY | {"oms_organisation_id": "ORG-100001699", "oms_location_id": "100000151"}
    created = await registry.client.post("/v1/facilities", json=onboarded, headers=tokens.admin())
    assert created.status_code == 201, created.text
    facility_id = created.json()["facility_id"]

    async def seen_by_scheduling():
        response = await scheduling.client.get(f"/v1/facilities/{facility_id}", headers=tokens.developer())
        assert response.status_code == 200, response.text
        return response.json()

    view = await eventually(seen_by_scheduling, timeout=1.0)
    assert view["legal_name"] == FACILITY["legal_name"]
    assert view["country"] == "DE"
    assert view["oms_location_id"] == "LOC-100000151"  # as registry stored it, prefixed
