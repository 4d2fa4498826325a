"""Property-based tests of suspension cascades on random trees and random sequences of actions."""

import contextlib
import copy
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from services.approvals import domain
from services.approvals.domain import Approval, Covers, Level, Status, Tree
from shared.errors import Conflict


@st.composite
def trees(draw) -> Tree:
    size = draw(st.integers(min_value=1, max_value=12))
    nodes: list[Approval] = []
    for i in range(size):
        parent = nodes[draw(st.integers(0, i - 1))] if i else None
        nodes.append(
            Approval(
                id=uuid.uuid4(), level=Level.CHILD if parent else Level.PARENT,
                covers=Covers.PRODUCT if parent else Covers.PLATFORM, title=f"n{i}", holder_org_id="ORG-1",
                authority="DE-PEI", parent_id=parent.id if parent else None,
                root_id=parent.root_id if parent else None, status=Status.APPROVED,
            )
        )  # fmt: skip
    return Tree(nodes)


actions = st.lists(st.tuples(st.sampled_from(["suspend", "reinstate", "withdraw"]), st.integers(0, 11)), max_size=25)


def statuses(tree: Tree) -> dict:
    return {i: (a.status, a.suspended_by) for i, a in tree.nodes.items()}


def check_invariants(tree: Tree) -> None:
    for node in tree.nodes.values():
        ancestors = tree.ancestors(node)
        if node.status is Status.APPROVED:
            assert not any(a.status in domain.SUSPENDED_ANY for a in ancestors), "approved under a suspension"
        if node.status is Status.SUSPENDED_BY_PARENT:
            cause = tree.nodes[node.suspended_by]
            assert cause in ancestors and cause.status is Status.SUSPENDED, "suspended by no suspended ancestor"
        else:
            assert node.suspended_by is None


def apply(tree: Tree, action: str, node: Approval):
    if action == "suspend":
        return domain.suspend(tree, node)
    if action == "reinstate":
        return domain.reinstate(tree, node)
    return domain.withdraw(tree, node)


@settings(max_examples=300, deadline=None)
@given(trees(), actions)
def test_random_actions_keep_the_tree_consistent(tree: Tree, steps):
    ids = list(tree.nodes)
    for action, index in steps:
        node = tree.nodes[ids[index % len(ids)]]
        before = copy.deepcopy(tree.nodes)
        try:
            changes = apply(tree, action, node)
        except Conflict:
            assert tree.nodes == before, "a refused action changed something"
            continue
        check_invariants(tree)
        changed = {a.id for a, _ in changes}
        for i, old in before.items():
            new = tree.nodes[i]
            if i in changed:
                assert new.version > old.version
            else:
                assert new == old, "an approval changed without an event"
            if action != "withdraw" and i != node.id and old.status is Status.SUSPENDED:
                assert new.status is Status.SUSPENDED, "an own suspension was lifted by someone else"


@settings(max_examples=300, deadline=None)
@given(trees(), actions, st.integers(0, 11))
def test_suspend_then_reinstate_restores_exactly_the_prior_statuses(tree: Tree, steps, target):
    ids = list(tree.nodes)
    for action, index in steps:  # reach a random reachable state first
        with contextlib.suppress(Conflict):
            apply(tree, action, tree.nodes[ids[index % len(ids)]])
    node = tree.nodes[ids[target % len(ids)]]
    if node.status is not Status.APPROVED:
        return
    before = statuses(tree)
    suspended = domain.suspend(tree, node)
    assert all(a.status in domain.SUSPENDED_ANY for a, _ in suspended)
    assert all(d.status is not Status.APPROVED for d in tree.descendants(node))
    domain.reinstate(tree, node)
    assert statuses(tree) == before
