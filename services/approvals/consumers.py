"""The events approvals follows, mapped to their handlers."""

from shared.consumer import Handler
from shared.events import InboundEvent
from shared.settings import Settings


def follows(settings: Settings) -> dict[type[InboundEvent], Handler]:
    """The handlers, given the settings they need (the service's one place of wiring)."""
    return {}
