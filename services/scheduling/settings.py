"""Scheduling's own settings (`GMPHUB_*`), beside the ones every service shares."""

from shared.settings import Settings
from shared.webhooks import WebhookSettings


class SchedulingSettings(WebhookSettings):
    hold_ttl_seconds: int = 900  # an unconfirmed hold frees its slots after this
    saga_retry_seconds: float = 30.0  # a reservation request unanswered this long is sent again
    saga_max_attempts: int = 5  # unanswered requests before the booking is escalated
    rate_limit_bookings: str = "60/minute"  # POST /v1/bookings per token subject: each hold locks slots
    hold_reminder_seconds: int = 300  # a hold's developer and facility are told this long before it expires


def route_limits(settings: Settings) -> dict[tuple[str, str], str]:
    """Each hold locks slots for everyone else: `POST /v1/bookings` has a stricter rate limit."""
    assert isinstance(settings, SchedulingSettings)  # the service's own (shared/service.py)
    return {("POST", "/v1/bookings"): settings.rate_limit_bookings}
