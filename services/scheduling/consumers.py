"""The events scheduling follows, mapped to their handlers."""

from services.registry import events as registry
from services.scheduling import handlers
from shared.consumer import Handler
from shared.events import Event

HANDLERS: dict[type[Event], Handler] = {
    registry.FacilityRegistered: handlers.record_facility,
    registry.FacilityUpdated: handlers.record_facility,
    registry.FacilityDeactivated: handlers.record_facility,
}
