"""The materials service's app: `uvicorn services.materials.main:app`."""

from services.materials import api, consumers
from shared.service import ServiceSpec, create_app

spec = ServiceSpec(
    name="materials",
    title="GMP hub materials",
    description="The EU-wide raw-material catalogue, facility inventory, reservations and shortages.",
    routers=[api.router],
    consumes=consumers.HANDLERS,
)
app = create_app(spec)
