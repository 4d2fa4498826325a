"""The approvals service's app: `uvicorn services.approvals.main:app`."""

from services.approvals import api, consumers
from shared.service import ServiceSpec, create_app

spec = ServiceSpec(
    name="approvals",
    title="GMP hub approvals",
    description="Parent–child regulatory approvals, signed decisions, and regulators' subscriptions.",
    routers=[api.router],
    consumes=consumers.HANDLERS,
)
app = create_app(spec)
