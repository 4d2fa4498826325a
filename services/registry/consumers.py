"""Events the registry follows: none yet; it is the source of facility truth."""

from shared.consumer import Handler
from shared.events import InboundEvent
from shared.settings import Settings


def follows(settings: Settings) -> dict[type[InboundEvent], Handler]:
    """The handlers, given the settings they need (the service's one place of wiring)."""
    return {}
