"""The materials service's app: `uvicorn services.materials.main:app`."""

from services.materials import api, api_shortages, api_stock, consumers, jobs
from shared.service import ServiceSpec, create_app

spec = ServiceSpec(
    name="materials",
    title="GMP hub materials",
    description="The EU-wide raw-material catalogue, facility inventory, reservations and shortages.",
    routers=[api.router, api_stock.router, api_shortages.router],
    consumes=consumers.follows,
    jobs=[jobs.expire_lots],
    openapi_tags=[
        {"name": "catalogue", "description": "Materials, their quality attributes, alternatives, search, import"},
        {"name": "suppliers", "description": "Suppliers and their qualification (curated by the operator)"},
        {"name": "inventory", "description": "Lots each facility holds"},
        {"name": "reservations", "description": "What bookings reserved (the saga with scheduling)"},
        {"name": "shortages", "description": "Declared shortages, alternatives and where stock is"},
    ],
)
app = create_app(spec)
