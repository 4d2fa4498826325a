"""The approval state machine and tree rules, without a database."""

import uuid
from datetime import date, timedelta

import pytest

from services.approvals import domain
from services.approvals.domain import Approval, Change, Covers, LetterOfAccess, Level, Status, Tree
from shared.errors import Conflict, NotFound, Unprocessable

TODAY = date(2026, 6, 1)


def parent(**kw) -> Approval:
    return Approval(
        id=uuid.uuid4(), level=Level.PARENT, covers=Covers.PLATFORM, title="AAV9 platform",
        holder_org_id="ORG-1", authority="DE-PEI", **kw,
    )  # fmt: skip


def child(of: Approval, covers: Covers = Covers.PRODUCT, org: str = "ORG-1", **kw) -> Approval:
    node = Approval(
        id=uuid.uuid4(), level=Level.CHILD, covers=covers, title=f"{covers} on {of.title}",
        holder_org_id=org, authority="DE-PEI", parent_id=of.id, **kw,
    )  # fmt: skip
    node.root_id = of.root_id
    return node


def approved(a: Approval, assessment: dict[str, str] | None = None) -> Approval:
    a.status = Status.APPROVED
    a.assessment = assessment or {}
    return a


def test_happy_path_draft_to_approved():
    p = parent()
    assert domain.submit(Tree([p]), p, [])[0][1] is Change.SUBMITTED
    domain.start_review(p)
    changes = domain.approve(Tree([p]), p, {"quality": "acceptable"}, TODAY + timedelta(days=365), TODAY)
    assert [(a.status, c) for a, c in changes] == [(Status.APPROVED, Change.APPROVED)]
    assert p.version == 4 and p.assessment == {"quality": "acceptable"}


@pytest.mark.parametrize("action", [domain.start_review, domain.reject])
def test_a_draft_cannot_skip_submission(action):
    with pytest.raises(Conflict):
        action(parent())


def test_shape_rules():
    with pytest.raises(Unprocessable):
        Approval(id=uuid.uuid4(), level=Level.CHILD, covers=Covers.PRODUCT, title="t", holder_org_id="O", authority="A")
    with pytest.raises(Unprocessable):
        Approval(
            id=uuid.uuid4(), level=Level.PARENT, covers=Covers.PRODUCT, title="t", holder_org_id="O", authority="A"
        )


@pytest.mark.parametrize("status", [Status.APPROVED, Status.UNDER_REVIEW])
def test_child_submittable_under_approved_or_reviewed_parent(status):
    p = parent(status=status)
    c = child(p)
    domain.submit(Tree([p, c]), c, [])
    assert c.status is Status.SUBMITTED
    assert domain.waiting_on_parent(c, p) is (status is Status.UNDER_REVIEW)


@pytest.mark.parametrize(
    "status", [Status.DRAFT, Status.SUBMITTED, Status.REJECTED, Status.WITHDRAWN, Status.SUSPENDED,
               Status.SUSPENDED_BY_PARENT, Status.EXPIRED],
)  # fmt: skip
def test_child_not_submittable_under_other_parents(status):
    p = parent(status=status)
    c = child(p)
    with pytest.raises(Conflict):
        domain.submit(Tree([p, c]), c, [])


def test_child_waits_for_parent_approval_before_its_own():
    p = parent(status=Status.UNDER_REVIEW)
    c = child(p, status=Status.UNDER_REVIEW)
    with pytest.raises(Conflict, match="waits"):
        domain.approve(Tree([p, c]), c, {}, None, TODAY)
    approved(p)
    domain.approve(Tree([p, c]), c, {}, None, TODAY)
    assert c.status is Status.APPROVED


def test_child_relies_only_on_assessed_parts_and_inherits_them():
    p = approved(parent(), {"quality": "acceptable", "viral_safety": "acceptable"})
    c = child(p, relied_on_parts=["quality", "nonclinical"])
    with pytest.raises(Conflict, match="nonclinical"):
        domain.submit(Tree([p, c]), c, [])
    c.relied_on_parts = ["quality"]
    domain.submit(Tree([p, c]), c, [])
    assert domain.inherited_assessment(c, p) == {"quality": "acceptable"}
    p.status = Status.SUSPENDED
    assert domain.inherited_assessment(c, p) == {}


def test_one_tree_one_holder_unless_letter_of_access():
    p = parent()
    other = child(p, org="ORG-2")
    with pytest.raises(Conflict, match="letter of access"):
        domain.attach_child(Tree([p]), other, p, [])
    letter = domain.grant_letter_of_access(p, "ORG-2")
    domain.attach_child(Tree([p]), other, p, [letter])
    assert other.root_id == p.root_id
    with pytest.raises(Conflict):
        domain.attach_child(Tree([p]), child(p, org="ORG-3"), p, [letter, LetterOfAccess(uuid.uuid4(), "ORG-3")])


def test_a_revoked_letter_stops_new_children_through_it_and_leaves_filed_ones_alone():
    p = approved(parent())
    letter = domain.grant_letter_of_access(p, "ORG-2")
    filed = child(p, org="ORG-2", status=Status.UNDER_REVIEW)
    drafted = child(p, org="ORG-2")
    tree = Tree([p, filed, drafted])
    revoked = domain.revoke_letter_of_access(p, "ORG-2", [letter])
    assert revoked is letter and letter.revoked
    with pytest.raises(Conflict, match="letter of access"):
        domain.attach_child(tree, child(p, org="ORG-2"), p, [letter])
    with pytest.raises(Conflict, match="letter of access"):
        domain.submit(tree, drafted, [letter])
    assert drafted.status is Status.DRAFT and filed.status is Status.UNDER_REVIEW
    assert {a.id for a in domain.built_through(tree, p, "ORG-2")} == {drafted.id, filed.id}
    regranted = domain.grant_letter_of_access(p, "ORG-2")
    domain.submit(tree, drafted, [letter, regranted])
    assert drafted.status is Status.SUBMITTED


def test_a_revoked_letter_also_stops_building_below_the_grantees_own_children():
    p = approved(parent())
    letter = domain.grant_letter_of_access(p, "ORG-2")
    own = approved(child(p, org="ORG-2"))
    grandchild = child(own, covers=Covers.INDICATION, org="ORG-2")
    tree = Tree([p, own])
    assert domain.joins_at(tree, "ORG-2", own) is p
    domain.attach_child(tree, grandchild, own, [letter])
    domain.revoke_letter_of_access(p, "ORG-2", [letter])
    with pytest.raises(Conflict, match=str(p.id)):
        domain.attach_child(tree, child(own, covers=Covers.SITE, org="ORG-2"), own, [letter])
    assert domain.joins_at(tree, "ORG-1", p) is None  # the holder's own line needs no letter


def test_revoking_needs_a_live_letter():
    p = approved(parent())
    with pytest.raises(NotFound):
        domain.revoke_letter_of_access(p, "ORG-2", [])
    with pytest.raises(NotFound):
        domain.revoke_letter_of_access(p, "ORG-2", [LetterOfAccess(uuid.uuid4(), "ORG-2")])  # another approval's
    letter = domain.grant_letter_of_access(p, "ORG-2")
    domain.revoke_letter_of_access(p, "ORG-2", [letter])
    with pytest.raises(Conflict, match="already revoked"):
        domain.revoke_letter_of_access(p, "ORG-2", [letter])
    again = domain.grant_letter_of_access(p, "ORG-2")
    assert domain.revoke_letter_of_access(p, "ORG-2", [letter, again]) is again


def test_no_cycles():
    a = parent()
    b = child(a)
    a.parent_id = b.id  # corrupt data must be refused, not looped over
    with pytest.raises(Conflict):
        Tree([a, b]).ancestors(b)
    with pytest.raises(Conflict):
        domain.attach_child(Tree([a]), a, a, [])


def test_no_child_under_ended_parent():
    for status in domain.TERMINAL:
        with pytest.raises(Conflict):
            p = parent(status=status)
            domain.attach_child(Tree([p]), child(parent()), p, [])


def chain(depth: int) -> list[Approval]:
    nodes = [approved(parent())]
    for _ in range(depth - 1):
        nodes.append(approved(child(nodes[-1])))
    return nodes


def test_suspend_cascades_and_reinstate_restores_exactly_what_it_suspended():
    p = approved(parent())
    a, b = approved(child(p)), approved(child(p))
    a1 = approved(child(a))
    tree = Tree([p, a, b, a1])
    domain.suspend(tree, b)  # b suspended on its own first
    changes = domain.suspend(tree, p)
    assert {x.id: x.status for x, _ in changes} == {
        p.id: Status.SUSPENDED, a.id: Status.SUSPENDED_BY_PARENT, a1.id: Status.SUSPENDED_BY_PARENT,
    }  # fmt: skip
    assert b.status is Status.SUSPENDED
    domain.reinstate(tree, p)
    assert (p.status, a.status, a1.status, b.status) == (Status.APPROVED,) * 3 + (Status.SUSPENDED,)
    assert a.suspended_by is None


def test_suspending_a_child_already_suspended_by_parent_survives_the_parents_reinstatement():
    p, a, a1 = chain(3)
    tree = Tree([p, a, a1])
    domain.suspend(tree, p)
    domain.suspend(tree, a)  # the regulator finds a problem of its own
    assert a1.suspended_by == a.id
    domain.reinstate(tree, p)
    assert (a.status, a1.status) == (Status.SUSPENDED, Status.SUSPENDED_BY_PARENT)
    with pytest.raises(Conflict):
        domain.reinstate(tree, a1)
    domain.reinstate(tree, a)
    assert a1.status is Status.APPROVED


def test_cannot_reinstate_under_a_suspended_ancestor():
    p, a = chain(2)
    tree = Tree([p, a])
    domain.suspend(tree, a)
    domain.suspend(tree, p)
    with pytest.raises(Conflict, match="ancestor"):
        domain.reinstate(tree, a)


def test_each_change_carries_its_own_version():
    p, a = chain(2)
    tree = Tree([p, a])
    a.status = Status.SUSPENDED  # suspended on its own; ending p re-flags it
    changes = domain.withdraw(tree, p)
    assert [(x.id, c) for x, c in changes] == [(p.id, Change.WITHDRAWN), (a.id, Change.RECONFIRMATION_REQUIRED)]


def test_withdrawal_marks_standing_children_and_frees_those_it_suspended():
    p = approved(parent())
    a, pending = approved(child(p)), child(p, status=Status.SUBMITTED)
    a1 = approved(child(a))
    tree = Tree([p, a, pending, a1])
    domain.suspend(tree, p)
    changes = domain.withdraw(tree, p)
    assert p.status is Status.WITHDRAWN
    assert a.status is Status.SUSPENDED and a.needs_reconfirmation  # its own suspension now
    assert (a1.status, a1.suspended_by, a1.needs_reconfirmation) == (Status.SUSPENDED_BY_PARENT, a.id, False)
    assert not pending.needs_reconfirmation
    versions = [x.version for x, _ in changes if x.id == a.id]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    with pytest.raises(Conflict):
        domain.withdraw(tree, p)
    domain.reinstate(tree, a)  # a's own suspension, lifted, lifts what hung on it
    assert a1.status is Status.APPROVED


def test_expiry_by_date_marks_children():
    p, a = chain(2)
    p.valid_until = TODAY
    assert domain.expire(Tree([p, a]), p, TODAY) == []  # valid through its last day
    changes = domain.expire(Tree([p, a]), p, TODAY + timedelta(days=1))
    assert [c for _, c in changes] == [Change.EXPIRED, Change.RECONFIRMATION_REQUIRED]
    assert p.status is Status.EXPIRED and a.needs_reconfirmation


def test_approved_variation_marks_siblings_and_reconfirm_clears():
    p = approved(parent())
    product = approved(child(p))
    variation = child(p, covers=Covers.VARIATION, status=Status.UNDER_REVIEW)
    changes = domain.approve(Tree([p, product, variation]), variation, {}, None, TODAY)
    assert [c for _, c in changes] == [Change.APPROVED, Change.RECONFIRMATION_REQUIRED]
    assert product.needs_reconfirmation and not variation.needs_reconfirmation
    domain.reconfirm(product)
    assert not product.needs_reconfirmation
    with pytest.raises(Conflict):
        domain.reconfirm(product)


@pytest.mark.parametrize("known", ["DE-PEI", "DE-RegOB", "NO-NOMA", "EMA"])
def test_an_approval_is_filed_with_a_known_authority(known):
    assert domain.check_filed_with(known) == known


@pytest.mark.parametrize("unknown", ["DE-PIE", "de-pei", "FDA", ""])
def test_an_unknown_authority_is_named(unknown):
    with pytest.raises(Unprocessable) as refused:
        domain.check_filed_with(unknown)
    assert refused.value.extensions["term"] == unknown
