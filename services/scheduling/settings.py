"""Scheduling's own settings (`GMPHUB_*`), beside the ones every service shares."""

from shared.settings import Settings


class SchedulingSettings(Settings):
    hold_ttl_seconds: int = 900  # an unconfirmed hold frees its slots after this
    saga_retry_seconds: float = 30.0  # a reservation request unanswered this long is sent again
    saga_max_attempts: int = 5  # unanswered requests before the booking is escalated
