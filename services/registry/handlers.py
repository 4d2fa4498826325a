"""Registry use cases: load, apply the domain's rules, save, emit events. The caller commits."""

from uuid import UUID

from services.registry import events, models
from services.registry.domain import FacilityProfile
from shared.database import UnitOfWork
from shared.errors import NotFound


def facility_state(facility: models.Facility) -> events.FacilityState:
    return events.FacilityState(
        facility_id=facility.id,
        version=facility.version,
        legal_name=facility.legal_name,
        kind=facility.kind,
        country=facility.country,
        city=facility.city,
        address=facility.address,
        contact_email=facility.contact_email,
        authorisation_number=facility.authorisation_number,
        authorisation_authority=facility.authorisation_authority,
        eudragmdp_ref=facility.eudragmdp_ref,
        active=facility.active,
    )


async def register_facility(uow: UnitOfWork, profile: FacilityProfile) -> models.Facility:
    facility = models.Facility(
        **{k: getattr(profile, k) for k in FacilityProfile.__dataclass_fields__},
        created_by=uow.actor,
        updated_by=uow.actor,
    )
    uow.session.add(facility)
    uow.emit(events.FacilityRegistered(facility_id=facility.id, version=1, facility=facility_state(facility)))
    return facility


async def get_facility(uow: UnitOfWork, facility_id: UUID) -> models.Facility:
    facility = await uow.session.get(models.Facility, facility_id)
    if facility is None:
        raise NotFound(f"No facility {facility_id}.")
    return facility
