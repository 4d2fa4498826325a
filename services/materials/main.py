"""The materials service's app: `uvicorn services.materials.main:app`."""

from services.materials import api_catalogue, api_inventory, api_shortages, api_supplier_changes, consumers, jobs
from services.materials.repository import MaterialsUnitOfWork
from shared.service import ServiceSpec, create_app

spec = ServiceSpec(
    name="materials",
    title="GMP hub materials",
    description=(
        "The EU-wide raw-material catalogue, facility inventory, reservations, shortages and supplier change "
        "notifications."
    ),
    routers=[api_catalogue.router, api_inventory.router, api_shortages.router, api_supplier_changes.router],
    consumes=consumers.follows,
    jobs=[jobs.expire_lots],
    openapi_tags=[
        {"name": "catalogue", "description": "Materials, their quality attributes, alternatives, search, import"},
        {"name": "suppliers", "description": "Suppliers and their qualification (curated by the operator)"},
        {"name": "inventory", "description": "Lots each facility holds"},
        {"name": "reservations", "description": "What bookings reserved (the saga with scheduling)"},
        {"name": "shortages", "description": "Declared shortages, alternatives and where stock is"},
        {"name": "supplier changes", "description": "Supplier change notifications and each facility's answer"},
    ],
    unit_of_work=MaterialsUnitOfWork,
    body_limits={"/v1/materials/import": api_catalogue.MAX_IMPORT_BYTES},  # counted as it streams in
)
app = create_app(spec)
