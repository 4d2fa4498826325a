"""Scheduling use cases and the handlers of the events it follows."""

from uuid import UUID

from services.registry import events as registry_events
from services.scheduling import models
from shared.database import UnitOfWork
from shared.errors import NotFound


async def record_facility(
    uow: UnitOfWork,
    event: registry_events.FacilityRegistered | registry_events.FacilityUpdated | registry_events.FacilityDeactivated,
) -> None:
    """Keep the facility read model; an event older than what is held changes nothing."""
    state = event.facility
    view = await uow.session.get(models.FacilityView, state.facility_id, with_for_update=True)
    if view is None:
        view = models.FacilityView(facility_id=state.facility_id, version=0, legal_name="", country="", active=True)
    if state.version <= view.version:
        return
    view.version = state.version
    view.legal_name = state.legal_name
    view.country = state.country
    view.active = state.active
    view.updated_at = models.now()
    uow.session.add(view)


async def get_facility(uow: UnitOfWork, facility_id: UUID) -> models.FacilityView:
    view = await uow.session.get(models.FacilityView, facility_id)
    if view is None:
        raise NotFound(f"Scheduling knows no facility {facility_id} (yet).")
    return view
