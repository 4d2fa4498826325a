"""Change-notification use cases on an in-memory unit of work: the holder's signed answer and the
variation it drafts, refusals, and the overdue flag raised once."""

from datetime import timedelta

import pytest

from services.approvals import approvals, notifications
from services.approvals.domain import Impact
from shared.auth import Principal, Role
from shared.problems import Conflict, Forbidden, NotFound
from shared.signatures import state_sha256
from tests.unit.approvals.fakes import FakeUnitOfWork
from tests.unit.approvals.test_approvals import DEVELOPER, REGULATOR, SIGNED, acting, approved

OTHER_HOLDER = Principal(sub="dev-9", role=Role.DEVELOPER, org_id="ORG-9")
NEEDED = notifications.Acknowledgement(Impact.VARIATION_NEEDED, "Impact assessment", "Our dossier cites the part")


async def suspended_tree(ack_window: timedelta = timedelta(days=30)):
    uow = FakeUnitOfWork()
    parent_id = await approved(uow)
    child_id = await approved(uow, parent_id)
    await approvals.suspend(acting(uow, REGULATOR), REGULATOR, parent_id, SIGNED, ack_window=ack_window)
    await uow.commit()
    [row] = uow.notifications.rows.values()
    return uow, child_id, row


async def test_the_holder_answers_once_signed_and_a_variation_is_drafted_below_its_approval():
    uow, child_id, row = await suspended_tree()
    assert (row.approval_id, row.holder_org_id, row.change, row.impact) == (child_id, "ORG-1", "suspended", None)

    await notifications.acknowledge(acting(uow, DEVELOPER), DEVELOPER, row.id, NEEDED)
    await uow.commit()

    variation = uow.approvals.rows[row.variation_id]
    assert (variation.parent_id, variation.covers, variation.status) == (child_id, "variation", "draft")
    acknowledged = uow.published[-1]
    assert acknowledged.type == "gmphub.approvals.change_notification.acknowledged.v1"
    assert acknowledged.signature.state_sha256 == row.state_sha256 == state_sha256(acknowledged.notification)
    assert uow.published[-2].change_notification_id == row.id  # the draft names the notification
    with pytest.raises(Conflict, match="already acknowledged"):
        await notifications.acknowledge(uow, DEVELOPER, row.id, NEEDED)


async def test_only_the_holder_answers():
    uow, _, row = await suspended_tree()
    with pytest.raises(NotFound):
        await notifications.acknowledge(uow, OTHER_HOLDER, row.id, NEEDED)
    with pytest.raises(Forbidden, match="Only the notified holder answers"):
        await notifications.acknowledge(uow, REGULATOR, row.id, NEEDED)
    assert row.impact is None and len(uow.approvals.rows) == 2


async def test_an_unanswered_notification_past_due_is_flagged_overdue_once():
    uow, _, row = await suspended_tree(ack_window=timedelta(seconds=-1))
    assert await notifications.flag_overdue(uow, 100) == [row.id]
    assert row.overdue_at is not None and uow.events[-1].type == "gmphub.approvals.change_notification.overdue.v1"
    assert await notifications.flag_overdue(uow, 100) == []

    on_time, _, answered = await suspended_tree(ack_window=timedelta(seconds=-1))
    await notifications.acknowledge(on_time, DEVELOPER, answered.id, NEEDED)
    assert await notifications.flag_overdue(on_time, 100) == []  # answered: never overdue
