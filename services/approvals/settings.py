"""The approvals service's own settings (`GMPHUB_*`), beside the shared ones: its webhooks and
change notifications."""

from typing import cast

from shared.service import ServiceContext
from shared.settings import Settings


class ApprovalsSettings(Settings):
    webhook_timeout_seconds: float = 5.0
    webhook_max_attempts: int = 8
    webhook_secret_grace_seconds: int = 86400  # approvals: a rotated-out secret keeps signing this long
    webhook_allow_private_targets: bool = False  # `gmp-hub up` allows them: receivers on this machine
    change_ack_days: int = 30  # a change notification unanswered this long after sending is overdue
    # a regulator reconfirms a child only once its holder answered every change notification about it
    reconfirm_requires_acknowledgement: bool = False


def settings_of(context: ServiceContext) -> ApprovalsSettings:
    """The running service's settings: create_app built them from ApprovalsSettings (main.py)."""
    return cast(ApprovalsSettings, context.settings)
