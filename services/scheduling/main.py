"""The scheduling service's app: `uvicorn services.scheduling.main:app`."""

from services.scheduling import api, consumers
from shared.service import ServiceSpec, create_app

spec = ServiceSpec(
    name="scheduling",
    title="GMP hub scheduling",
    description="Capacity slots, bookings (hold → confirm → complete/cancel) and waitlists.",
    routers=[api.router],
    consumes=consumers.HANDLERS,
)
app = create_app(spec)
