"""The approvals service's app: `uvicorn services.approvals.main:app`."""

from services.approvals import api_approvals, api_notifications, api_subscriptions, consumers, jobs
from services.approvals.repository import ApprovalsUnitOfWork
from services.approvals.settings import ApprovalsSettings
from shared.service import ServiceSpec, create_app

spec = ServiceSpec(
    name="approvals",
    title="GMP hub approvals",
    description=(
        "Parent–child regulatory approvals, signed decisions, and regulators' subscriptions. A parent approval "
        "covers a platform and is assessed once; children (product, site, indication, variation) rely on parts "
        "of its assessment and are assessed on the delta. Regulators follow approval events on the Kafka topic "
        "`gmphub.approvals.v1` (see /asyncapi.json), by signed webhooks (Standard Webhooks), or by server-sent events."
    ),
    routers=[api_approvals.router, api_notifications.router, api_subscriptions.router],
    consumes=consumers.follows,
    jobs=[jobs.expire_approvals, jobs.flag_overdue_notifications, jobs.fan_out_webhooks, jobs.send_webhooks],
    openapi_tags=[
        {"name": "approvals", "description": "Drafting, filing, signed decisions, suspension cascades, the tree."},
        {
            "name": "change notifications",
            "description": "A parent's change told to every holder below it; their signed answers.",
        },
        {"name": "subscriptions", "description": "Webhook subscriptions of regulators and their deliveries."},
        {"name": "events", "description": "The approval event stream (SSE)."},
    ],
    settings=ApprovalsSettings,
    unit_of_work=ApprovalsUnitOfWork,
)
app = create_app(spec)
