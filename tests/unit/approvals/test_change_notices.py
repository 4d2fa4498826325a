"""Who a change is told to, and what it names: the domain's change notices, without a database."""

import uuid
from datetime import timedelta

import pytest

from services.approvals import domain
from services.approvals.domain import ChangeKind, Covers, Impact, Status, Tree
from shared.errors import Conflict
from tests.unit.approvals.test_domain import TODAY, approved, child, parent


def platform_with_children():
    """ORG-1's platform; ORG-1's product relying on viral safety; ORG-2's (through a letter) on quality."""
    p = approved(parent(), {"quality": "acceptable", "viral_safety": "acceptable"})
    own = approved(child(p, relied_on_parts=["viral_safety"]))
    licensed = approved(child(p, org="ORG-2", relied_on_parts=["quality"]))
    return p, own, licensed


def test_an_approved_variation_tells_every_sibling_holder_which_of_its_parts_changed():
    p, own, licensed = platform_with_children()
    variation = child(p, Covers.VARIATION, relied_on_parts=["quality"])
    variation.status = Status.UNDER_REVIEW
    tree = Tree([p, own, licensed, variation])

    changes = domain.approve(tree, variation, {"quality": "acceptable with new supplier"}, None, TODAY)
    notices = {n.approval.id: n for n in domain.change_notices(tree, variation, changes)}

    assert set(notices) == {own.id, licensed.id}  # both holders: ORG-1 and ORG-2 through its letter
    assert {n.approval.holder_org_id for n in notices.values()} == {"ORG-1", "ORG-2"}
    assert all((n.kind, n.changed.id, n.cause.id) == (ChangeKind.VARIATION_APPROVED, p.id, variation.id)
               for n in notices.values())  # fmt: skip
    assert notices[licensed.id].changed_parts == ["quality"] and notices[licensed.id].affected_parts == ["quality"]
    assert notices[own.id].affected_parts == []  # told, though the variation left its part alone


def test_a_suspension_tells_every_descendant_it_reached_and_takes_all_it_relies_on():
    p, own, licensed = platform_with_children()
    grandchild = approved(child(licensed, Covers.INDICATION, org="ORG-2", relied_on_parts=["efficacy"]))
    ended = child(p, relied_on_parts=["quality"])
    ended.status = Status.WITHDRAWN
    tree = Tree([p, own, licensed, grandchild, ended])

    notices = domain.change_notices(tree, p, domain.suspend(tree, p))

    assert {n.approval.id for n in notices} == {own.id, licensed.id, grandchild.id}
    assert all(n.kind is ChangeKind.SUSPENDED and n.changed is p for n in notices)
    assert {n.approval.id: n.affected_parts for n in notices}[grandchild.id] == ["efficacy"]
    assert notices[0].changed_parts == ["quality", "viral_safety"]


@pytest.mark.parametrize("end", ["withdraw", "expire"])
def test_withdrawal_and_expiry_tell_the_standing_children(end):
    p, own, licensed = platform_with_children()
    p.valid_until = TODAY - timedelta(days=1)
    tree = Tree([p, own, licensed])
    changes = domain.withdraw(tree, p) if end == "withdraw" else domain.expire(tree, p, TODAY)

    notices = domain.change_notices(tree, p, changes)

    assert {n.approval.id for n in notices} == {own.id, licensed.id}
    assert {n.kind for n in notices} == {ChangeKind.WITHDRAWN if end == "withdraw" else ChangeKind.EXPIRED}


def test_changes_that_reach_no_one_else_tell_no_one():
    p, own, licensed = platform_with_children()
    tree = Tree([p, own, licensed])
    assert domain.change_notices(tree, own, domain.suspend(tree, own)) == []  # no children below it
    domain.suspend(tree, p)
    assert domain.change_notices(tree, p, domain.reinstate(tree, p)) == []  # reinstating is no change to answer


def test_a_notification_is_answered_once_and_reconfirmation_may_wait_for_it():
    n = domain.ChangeNotification(uuid.uuid4(), uuid.uuid4(), "ORG-1")
    domain.acknowledge(n, Impact.NOT_AFFECTED)
    with pytest.raises(Conflict, match="already acknowledged"):
        domain.acknowledge(n, Impact.VARIATION_NEEDED)
    assert n.impact is Impact.NOT_AFFECTED

    p, own, _ = platform_with_children()
    with pytest.raises(Conflict, match=str(n.id)):
        domain.require_acknowledged(own, [n.id])
    domain.require_acknowledged(own, [])


def test_a_holder_hears_of_every_change_even_when_its_approval_is_marked_already():
    p, own, licensed = platform_with_children()
    variation = child(p, Covers.VARIATION)
    variation.status = Status.UNDER_REVIEW
    alone = approved(child(own, Covers.INDICATION))
    tree = Tree([p, own, licensed, variation, alone])
    domain.approve(tree, variation, {"quality": "new supplier"}, None, TODAY)
    domain.suspend(tree, alone)  # suspended on its own: a suspension above changes nothing of it
    assert own.needs_reconfirmation and licensed.needs_reconfirmation

    suspended = domain.change_notices(tree, p, domain.suspend(tree, p))
    assert {n.approval.id for n in suspended} == {own.id, licensed.id, variation.id, alone.id}
    domain.reinstate(tree, p)
    withdrawn = domain.change_notices(tree, p, domain.withdraw(tree, p))
    assert {n.approval.id for n in withdrawn} == {own.id, licensed.id, variation.id}  # the children, marked already
