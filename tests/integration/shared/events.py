"""Events the mechanism tests send: real registry events, so real schemas are exercised."""

import uuid

from services.registry.events import FacilityRegistered, FacilityState


def facility_registered(facility_id: uuid.UUID | None = None, version: int = 1) -> FacilityRegistered:
    facility_id = facility_id or uuid.uuid4()
    state = FacilityState(
        facility_id=facility_id,
        version=version,
        legal_name=f"Facility v{version}",
        kind="cdmo",
        country="NL",
        city="Leiden",
        address="Bioscience Park 1",
        contact_email="qa@cdmo.example",
        authorisation_number="NL-MIA-1",
        authorisation_authority="NL-IGJ",
    )
    return FacilityRegistered(facility_id=facility_id, version=version, facility=state)
