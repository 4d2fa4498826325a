"""The events approvals follows, mapped to their handlers."""

from shared.consumer import Handler
from shared.events import Event

HANDLERS: dict[type[Event], Handler] = {}
