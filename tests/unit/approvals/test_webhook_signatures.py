"""Signing through a secret rotation: both secrets verify during the grace, then only the new one."""

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.approvals import models
from shared import webhooks

BODY = '{"type":"gmphub.approvals.approval.approved.v1"}'


def headers(signature: str, at: datetime) -> dict[str, str]:
    return {"webhook-id": "msg-1", "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}


def test_rotation_keeps_the_old_secret_signing_for_the_grace_only():
    sub = models.Subscription(
        url="https://x.example/h", authority="DE-PEI", secret=webhooks.new_secret(), created_by="r"
    )
    old = sub.secret
    new = webhooks.rotate_secret(sub, "regulator:inspector-1", timedelta(hours=24))
    assert new.startswith("whsec_") and new != old and sub.secret == new and sub.previous_secret == old
    assert sub.secret_rotated_by == "regulator:inspector-1"

    during = datetime.now(UTC)
    signature = webhooks.signature_header(
        sub.secret, sub.previous_secret, sub.previous_secret_expires_at, "msg-1", during, BODY
    )
    assert len(signature.split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers(signature, during))

    after = sub.previous_secret_expires_at + timedelta(seconds=1)
    signature = webhooks.signature_header(
        sub.secret, sub.previous_secret, sub.previous_secret_expires_at, "msg-1", after, BODY
    )
    assert len(signature.split(" ")) == 1
    assert signature == Webhook(new).sign("msg-1", after, BODY)
    assert signature != Webhook(old).sign("msg-1", after, BODY)


def test_a_second_rotation_drops_the_first_secret_at_once():
    sub = models.Subscription(
        url="https://x.example/h", authority="DE-PEI", secret=webhooks.new_secret(), created_by="r"
    )
    first = sub.secret
    second = webhooks.rotate_secret(sub, "admin:hub-operator", timedelta(hours=24))
    third = webhooks.rotate_secret(sub, "admin:hub-operator", timedelta(hours=24))
    now = datetime.now(UTC)
    signature = webhooks.signature_header(
        sub.secret, sub.previous_secret, sub.previous_secret_expires_at, "msg-1", now, BODY
    )
    for secret in (second, third):
        Webhook(secret).verify(BODY, headers(signature, now))
    with pytest.raises(WebhookVerificationError):
        Webhook(first).verify(BODY, headers(signature, now))
