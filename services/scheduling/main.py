"""The scheduling service's app: `uvicorn services.scheduling.main:app`."""

from services.scheduling import (
    api_agreements,
    api_bookings,
    api_campaigns,
    api_capacity,
    api_public,
    api_quotes,
    api_requests,
    api_slots,
    api_subscriptions,
    api_waitlist,
    consumers,
    jobs,
)
from services.scheduling.repository import SchedulingUnitOfWork
from services.scheduling.settings import SchedulingSettings, route_limits
from shared.service import ServiceSpec, create_app

spec = ServiceSpec(
    name="scheduling",
    title="GMP hub scheduling",
    description="Capacity slots, bookings (hold → confirm → complete/cancel), waitlists and technical agreements.",
    routers=[
        api_capacity.router,
        api_slots.router,
        api_bookings.router,
        api_waitlist.router,
        api_public.router,
        api_agreements.router,
        api_requests.router,
        api_quotes.router,
        api_subscriptions.router,
        api_campaigns.router,
    ],
    consumes=consumers.follows,
    jobs=[
        jobs.expire_holds,
        jobs.ask_materials_again,
        jobs.expire_agreements,
        jobs.expire_quotes,
        jobs.remind_expiring_holds,
        jobs.fan_out_webhooks,
        jobs.send_webhooks,
    ],
    openapi_tags=[
        {"name": "capacity", "description": "Facilities publish, block, withdraw and reopen slots on their suites."},
        {"name": "slots", "description": "Developers find available slots."},
        {"name": "bookings", "description": "Hold → confirm (materials saga) → complete, or cancel; at-risk flags."},
        {"name": "waitlist", "description": "Wait for a matching slot; the first in line is given a hold."},
        {
            "name": "agreements",
            "description": "Technical agreements (EU GMP Chapter 7) between an organisation and a "
            "facility: drafted, signed by both sides, needed to confirm clinical runs.",
        },
        {"name": "requests", "description": "Manufacturing requests a developer sends to facilities."},
        {
            "name": "quotes",
            "description": "Facilities' quotes on requests (their slots held meanwhile); the developer accepts one.",
        },
        {
            "name": "campaigns",
            "description": "An accepted quote's batches (each a booking), confirmed and reserved as a whole, "
            "then cancelled, moved or completed batch by batch.",
        },
        {"name": "calendar", "description": "iCalendar (RFC 5545) feeds of bookings."},
        {"name": "facilities", "description": "Scheduling's read model of registry facilities."},
        {"name": "public", "description": "The public directory's open capacity by month, read without a token."},
        {
            "name": "subscriptions",
            "description": "Webhook subscriptions of developers and facilities to the events of their own bookings, "
            "campaigns, agreements, requests and quotes, with their deliveries.",
        },
        {
            "name": "events",
            "description": "Server-sent events of the caller's own bookings, campaigns, agreements, "
            "requests and quotes.",
        },
    ],
    settings=SchedulingSettings,
    route_limits=route_limits,
    unit_of_work=SchedulingUnitOfWork,
)
app = create_app(spec)
