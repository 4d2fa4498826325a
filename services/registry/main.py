"""The registry service's app: `uvicorn services.registry.main:app`."""

from services.registry import api, consumers
from shared.service import ServiceSpec, create_app

spec = ServiceSpec(
    name="registry",
    title="GMP hub registry",
    description="GMP facilities, suites and capabilities, manufacturing authorisations and GMP certificates.",
    routers=[api.router],
    consumes=consumers.HANDLERS,
)
app = create_app(spec)
