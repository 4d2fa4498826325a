"""Which approval events go to which regulators' webhooks; delivering them (signing, retries,
the sender and its loops) is shared mechanism, shared/webhooks.py."""

import sqlalchemy as sa

from services.approvals import models

ACTOR = "service:approvals-webhooks"


def authority_of(envelope: dict) -> str | None:
    """The authority an approvals event concerns, for subscribers' filters."""
    data = envelope.get("data") or {}
    return (data.get("approval") or {}).get("authority") or data.get("authority")


def holder_of(envelope: dict) -> str | None:
    return ((envelope.get("data") or {}).get("approval") or {}).get("holder_org_id")


def follows(subscription: models.Subscription, row: sa.Row) -> bool:
    """A subscription follows the events of its authority (subscription events name none)."""
    return subscription.authority == authority_of(row.envelope)
