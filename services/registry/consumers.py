"""Events the registry follows: none yet; it is the source of facility truth."""

from shared.consumer import Handler
from shared.events import InboundEvent

HANDLERS: dict[type[InboundEvent], Handler] = {}
