"""The events approvals follows, mapped to their handlers."""

from shared.consumer import Handler
from shared.events import InboundEvent

HANDLERS: dict[type[InboundEvent], Handler] = {}
