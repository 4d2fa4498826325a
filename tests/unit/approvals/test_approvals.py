"""Approval use cases on an in-memory unit of work: filing, signed decisions and cascades, with
the rows they save and the one event per changed approval they announce."""

from datetime import date, timedelta
from uuid import UUID

import pytest

from services.approvals import approvals, events
from services.approvals.domain import Covers, Level
from shared.auth import Principal, Role
from shared.problems import Conflict, Forbidden
from shared.signatures import state_sha256
from tests.unit.approvals.fakes import FakeUnitOfWork

DEVELOPER = Principal(sub="dev-1", role=Role.DEVELOPER, org_id="ORG-1")
REGULATOR = Principal(sub="inspector-1", role=Role.REGULATOR, authority="DE-PEI")
OTHER_REGULATOR = Principal(sub="inspector-2", role=Role.REGULATOR, authority="FR-ANSM")
SIGNED = approvals.SignatureRequest("Decision of DE-PEI", "Quality data acceptable")


def acting(uow: FakeUnitOfWork, principal: Principal) -> FakeUnitOfWork:
    """The unit of work as the route opens it for this caller."""
    uow.actor = principal.actor
    return uow


async def filed(uow: FakeUnitOfWork, parent_id: UUID | None = None) -> UUID:
    request = approvals.DraftRequest(
        level=Level.CHILD if parent_id else Level.PARENT, covers=Covers.PRODUCT if parent_id else Covers.PLATFORM,
        title="SMA gene therapy" if parent_id else "AAV9 platform", authority="DE-PEI", facility_ids=[],
        parent_id=parent_id,
    )  # fmt: skip
    row = await approvals.draft(acting(uow, DEVELOPER), DEVELOPER, request)
    await approvals.submit(uow, DEVELOPER, row.id)
    return row.id


async def approved(uow: FakeUnitOfWork, parent_id: UUID | None = None) -> UUID:
    approval_id = await filed(uow, parent_id)
    await approvals.start_review(acting(uow, REGULATOR), REGULATOR, approval_id)
    await approvals.decide(uow, REGULATOR, approval_id, "approved", SIGNED, {"quality": "acceptable"}, None)
    await uow.commit()
    return approval_id


def changes_of(uow: FakeUnitOfWork, approval_id: UUID) -> list[str]:
    return [e.type.split(".")[-2] for e in uow.published if getattr(e, "approval_id", None) == approval_id]


async def test_a_filed_approval_is_reviewed_and_approved_with_a_signature_kept_for_good():
    uow = FakeUnitOfWork()

    approval_id = await approved(uow)

    row = uow.approvals.rows[approval_id]
    assert (row.status, row.version, row.assessment) == ("approved", 4, {"quality": "acceptable"})
    assert row.status_reason == "Quality data acceptable" and row.updated_by == REGULATOR.actor
    assert changes_of(uow, approval_id) == ["drafted", "submitted", "review_started", "approved"]
    [decision] = uow.decisions.rows
    assert (decision.action, decision.signer, decision.approval_version) == ("approved", REGULATOR.actor, 4)
    approval_event = uow.published[-1]
    assert isinstance(approval_event, events.ApprovalApproved)
    assert approval_event.approval.status == "approved" and approval_event.signature.signer == REGULATOR.actor
    # bound to the state it signed: the state the event carries, and the row as it was saved
    assert decision.state_sha256 == approval_event.signature.state_sha256 == state_sha256(approval_event.approval)
    assert decision.state_sha256 == state_sha256(approvals.state_of(row))
    assert decision.signer_name == REGULATOR.sub  # no `name` claim: the subject


async def test_only_a_regulator_of_the_authority_it_was_filed_with_decides():
    uow = FakeUnitOfWork()
    approval_id = await filed(uow)

    for someone in (OTHER_REGULATOR, DEVELOPER):
        with pytest.raises(Forbidden, match="DE-PEI"):
            await approvals.start_review(uow, someone, approval_id)
    assert uow.approvals.rows[approval_id].status == "submitted"


async def test_a_child_is_filed_only_while_its_parent_stands():
    uow = FakeUnitOfWork()
    parent_id = await filed(uow)
    await approvals.start_review(acting(uow, REGULATOR), REGULATOR, parent_id)
    await approvals.decide(uow, REGULATOR, parent_id, "rejected", SIGNED, {}, None)

    with pytest.raises(Conflict, match="rejected"):
        await filed(uow, parent_id)


async def test_suspending_a_parent_suspends_its_approved_children_and_reinstating_restores_them():
    uow = FakeUnitOfWork()
    parent_id = await approved(uow)
    children = [await approved(uow, parent_id) for _ in range(2)]
    uow.published.clear()

    await approvals.suspend(acting(uow, REGULATOR), REGULATOR, parent_id, SIGNED)
    await uow.commit()

    statuses = {i: uow.approvals.rows[i].status for i in [parent_id, *children]}
    assert statuses == {parent_id: "suspended", children[0]: "suspended_by_parent", children[1]: "suspended_by_parent"}
    assert all(uow.approvals.rows[c].suspended_by == parent_id for c in children)
    suspended = [e for e in uow.published if e.type == "gmphub.approvals.approval.suspended.v1"]
    own, *cascaded = suspended  # one event per changed approval, the one suspended first
    notified = [e for e in uow.published if e.type == "gmphub.approvals.change_notification.sent.v1"]
    assert len(uow.published) == len(suspended) + len(notified)
    assert sorted(e.approval_id for e in notified) == sorted(children)  # each child's holder is told
    assert (own.approval_id, own.approval.status) == (parent_id, "suspended")
    assert sorted((e.approval_id, e.approval.status) for e in cascaded) == sorted(
        (c, "suspended_by_parent") for c in children
    )
    assert own.signature is not None and all(e.signature is None for e in cascaded)
    assert all(e.reason.startswith(f"ancestor {parent_id}") for e in cascaded)

    await approvals.reinstate(uow, REGULATOR, parent_id, SIGNED)
    assert {uow.approvals.rows[i].status for i in [parent_id, *children]} == {"approved"}
    assert [d.action for d in uow.decisions.rows][-2:] == ["suspended", "reinstated"]


async def test_an_approval_past_its_date_expires_and_its_children_must_be_reconfirmed():
    uow = FakeUnitOfWork()
    parent_id = await filed(uow)
    await approvals.start_review(acting(uow, REGULATOR), REGULATOR, parent_id)
    valid_until = date.today() + timedelta(days=30)
    await approvals.decide(uow, REGULATOR, parent_id, "approved", SIGNED, {}, valid_until)
    child_id = await approved(uow, parent_id)
    after_it = valid_until + timedelta(days=1)

    assert await approvals.due_for_expiry(uow, valid_until) == []
    assert await approvals.due_for_expiry(uow, after_it) == [parent_id]
    assert await approvals.expire(uow, parent_id, after_it) == 2

    assert uow.approvals.rows[parent_id].status == "expired"
    assert uow.approvals.rows[child_id].needs_reconfirmation
    assert await approvals.due_for_expiry(uow, after_it) == []
