"""The approvals service's own settings (`GMPHUB_*`), beside the shared ones: its webhooks and
change notifications."""

from typing import cast

from shared.service import ServiceContext
from shared.webhooks import WebhookSettings


class ApprovalsSettings(WebhookSettings):
    change_ack_days: int = 30  # a change notification unanswered this long after sending is overdue
    # a regulator reconfirms a child only once its holder answered every change notification about it
    reconfirm_requires_acknowledgement: bool = False


def settings_of(context: ServiceContext) -> ApprovalsSettings:
    """The running service's settings: create_app built them from ApprovalsSettings (main.py)."""
    return cast(ApprovalsSettings, context.settings)
