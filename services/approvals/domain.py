"""The approval state machine and the parent–child tree rules, free of frameworks and I/O.

A tree is every approval sharing one root. Operations that touch more than one approval
(cascades) take the whole tree, change it in memory and return what changed, so the caller can
save all of it in one transaction and emit one event per changed approval.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from uuid import UUID

from shared.authorities import AUTHORITIES
from shared.problems import Conflict, NotFound, Unprocessable


class Status(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    SUSPENDED_BY_PARENT = "suspended_by_parent"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class Level(StrEnum):
    PARENT = "parent"
    CHILD = "child"


class Covers(StrEnum):
    PLATFORM = "platform"
    PRODUCT = "product"
    SITE = "site"
    INDICATION = "indication"
    VARIATION = "variation"


class Change(StrEnum):
    """What happened to one approval; each maps to one published event."""

    SUBMITTED = "submitted"
    REVIEW_STARTED = "review_started"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    REINSTATED = "reinstated"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    RECONFIRMATION_REQUIRED = "reconfirmation_required"
    RECONFIRMED = "reconfirmed"


TERMINAL = frozenset({Status.REJECTED, Status.WITHDRAWN, Status.EXPIRED})
PENDING = frozenset({Status.SUBMITTED, Status.UNDER_REVIEW})
# Granted at some point and not ended: what a parent's variation, withdrawal or expiry affects.
STANDING = frozenset({Status.APPROVED, Status.SUSPENDED, Status.SUSPENDED_BY_PARENT})
SUSPENDED_ANY = frozenset({Status.SUSPENDED, Status.SUSPENDED_BY_PARENT})


@dataclass
class Approval:
    id: UUID
    level: Level
    covers: Covers
    title: str
    holder_org_id: str
    authority: str
    parent_id: UUID | None = None
    root_id: UUID | None = None
    facility_ids: list[UUID] = field(default_factory=list)
    relied_on_parts: list[str] = field(default_factory=list)
    assessment: dict[str, str] = field(default_factory=dict)  # part -> the regulator's conclusion
    status: Status = Status.DRAFT
    version: int = 1
    needs_reconfirmation: bool = False
    suspended_by: UUID | None = None  # the ancestor whose suspension suspended this one
    valid_until: date | None = None

    def __post_init__(self) -> None:
        self.root_id = self.root_id or self.id
        if (self.level is Level.PARENT) != (self.parent_id is None):
            raise Unprocessable("A parent approval has no parent_id; a child approval needs one.")
        if self.level is Level.PARENT and self.covers is not Covers.PLATFORM:
            raise Unprocessable(
                "A parent approval covers a platform; products, sites, indications and variations are children."
            )
        if self.level is Level.PARENT and self.relied_on_parts:
            raise Unprocessable("Only a child relies on parts of its parent's assessment.")

    def _move(self, to: Status, allowed_from: frozenset[Status] | set[Status], action: str) -> None:
        if self.status not in allowed_from:
            raise Conflict(f"Approval {self.id} is {self.status.value}; it cannot be {action}.")
        self.status = to
        self.version += 1


Changes = list[tuple["Approval", Change]]


@dataclass
class LetterOfAccess:
    approval_id: UUID
    grantee_org_id: str
    revoked: bool = False


class Tree:
    """All approvals of one root, indexed by parent."""

    def __init__(self, approvals: list[Approval]) -> None:
        self.nodes = {a.id: a for a in approvals}
        self.children: dict[UUID, list[Approval]] = {}
        for a in approvals:
            if a.parent_id is not None:
                self.children.setdefault(a.parent_id, []).append(a)

    def __getitem__(self, approval_id: UUID) -> Approval:
        return self.nodes[approval_id]

    def parent(self, approval: Approval) -> Approval | None:
        return self.nodes.get(approval.parent_id) if approval.parent_id else None

    def ancestors(self, approval: Approval) -> list[Approval]:
        """Nearest first."""
        seen: list[Approval] = []
        current = self.parent(approval)
        while current is not None:
            if current.id == approval.id or current in seen:
                raise Conflict(f"Approval {approval.id} would be its own ancestor.")
            seen.append(current)
            current = self.parent(current)
        return seen

    def descendants(self, approval: Approval) -> Iterator[Approval]:
        """Depth first, each once."""
        stack = list(self.children.get(approval.id, ()))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(self.children.get(node.id, ()))


# --- drafting and the tree's rules -----------------------------------------------------------


def check_filed_with(authority: str) -> str:
    """An approval is filed with an authority the hub knows (shared/authorities.py: the EU/EEA
    medicines authorities and EMA), so its regulators can ever see and decide it."""
    if authority not in AUTHORITIES:
        raise Unprocessable(
            f"Unknown authority {authority!r}: an approval is filed with a known medicines authority, "
            f"e.g. DE-PEI, FR-ANSM or EMA (the registry's GET /v1/vocabularies lists all {len(AUTHORITIES)}).",
            field="authority",
            term=authority,
            vocabulary="authorities",
        )
    return authority


def attach_child(tree: Tree, child: Approval, parent: Approval, letters: list[LetterOfAccess]) -> None:
    """A child joins its parent's tree: no cycle, one holder unless the other holder granted the
    child's holder a letter of access (see `require_access`)."""
    if child.id == parent.id or parent.root_id == child.id:
        raise Conflict("An approval cannot be its own ancestor.")
    if parent.status in TERMINAL:
        raise Conflict(f"The parent {parent.id} is {parent.status.value}; no child can be filed under it.")
    require_access(tree, child.holder_org_id, parent, letters)
    child.root_id = parent.root_id


def joins_at(tree: Tree, org_id: str, parent: Approval) -> Approval | None:
    """Where an organisation's line of approvals joins another holder's tree: the nearest
    approval, from `parent` up, that it does not hold (none: the whole line is its own)."""
    return next((a for a in [parent, *tree.ancestors(parent)] if a.holder_org_id != org_id), None)


def require_access(tree: Tree, org_id: str, parent: Approval, letters: list[LetterOfAccess]) -> None:
    """An organisation builds on another holder's approval only while it holds an unrevoked
    letter of access to the approval where its line joins that holder's tree. Checked at drafting
    and again at submission, so a revoked letter stops new children, even those drafted before."""
    joined = joins_at(tree, org_id, parent)
    if joined is None or any(
        x.approval_id == joined.id and x.grantee_org_id == org_id and not x.revoked for x in letters
    ):
        return
    raise Conflict(
        f"The approval {joined.id} is held by {joined.holder_org_id}; {org_id} needs a letter of access from that "
        "holder to build on it."
    )


def grant_letter_of_access(approval: Approval, grantee_org_id: str) -> LetterOfAccess:
    if grantee_org_id == approval.holder_org_id:
        raise Unprocessable("The holder needs no letter of access to its own approval.")
    if approval.status in TERMINAL:
        raise Conflict(f"Approval {approval.id} is {approval.status.value}; nothing can be built on it.")
    return LetterOfAccess(approval.id, grantee_org_id)


def revoke_letter_of_access(approval: Approval, grantee_org_id: str, letters: list[LetterOfAccess]) -> LetterOfAccess:
    """End the letter: the grantee may no longer draft or submit children on it, nor see it. What
    it already filed stays as it is: those approvals are the authority's to decide, not the
    holder's to undo."""
    granted = [x for x in letters if x.approval_id == approval.id and x.grantee_org_id == grantee_org_id]
    live = next((x for x in granted if not x.revoked), None)
    if live is None and granted:
        raise Conflict(f"The letter of access of {grantee_org_id} to {approval.id} is already revoked.")
    if live is None:
        raise NotFound(f"{grantee_org_id} holds no letter of access to {approval.id}.")
    live.revoked = True
    return live


def built_through(tree: Tree, approval: Approval, org_id: str) -> list[Approval]:
    """The approvals `org_id` holds below `approval`: what it built through a letter on it."""
    return [a for a in tree.descendants(approval) if a.holder_org_id == org_id]


def submit(tree: Tree, approval: Approval, letters: list[LetterOfAccess]) -> Changes:
    """A child goes in only while its parent is approved, or under review (then it waits), and
    while its holder still has access to the tree it builds on."""
    parent = tree.parent(approval)
    if parent is not None and parent.status not in (Status.APPROVED, Status.UNDER_REVIEW):
        raise Conflict(
            f"The parent {parent.id} is {parent.status.value}; a child can be submitted only while its parent "
            "is approved or under review."
        )
    if parent is not None:
        require_access(tree, approval.holder_org_id, parent, letters)
    if parent is not None and parent.status is Status.APPROVED:
        check_reliance(approval, parent)
    approval._move(Status.SUBMITTED, {Status.DRAFT}, "submitted")
    return [_changed(approval, Change.SUBMITTED)]


def check_reliance(child: Approval, parent: Approval) -> None:
    missing = sorted(set(child.relied_on_parts) - set(parent.assessment))
    if missing:
        raise Conflict(f"The child relies on {', '.join(missing)}, which the parent's assessment does not cover.")


def waiting_on_parent(approval: Approval, parent: Approval | None) -> bool:
    return parent is not None and approval.status in PENDING and parent.status is not Status.APPROVED


def inherited_assessment(child: Approval, parent: Approval | None) -> dict[str, str]:
    """What a child takes over from an approved parent, so the regulator assesses only the delta."""
    if parent is None or parent.status is not Status.APPROVED:
        return {}
    return {part: parent.assessment[part] for part in child.relied_on_parts if part in parent.assessment}


# --- review and decisions --------------------------------------------------------------------


def start_review(approval: Approval) -> Changes:
    approval._move(Status.UNDER_REVIEW, {Status.SUBMITTED}, "taken under review")
    return [_changed(approval, Change.REVIEW_STARTED)]


def approve(
    tree: Tree, approval: Approval, assessment: dict[str, str], valid_until: date | None, today: date
) -> Changes:
    """Approve; a child waits for an approved parent. An approved variation changes its parent,
    so the parent's other standing children must be re-confirmed."""
    if valid_until is not None and valid_until <= today:
        raise Unprocessable("valid_until must be a future date.")
    parent = tree.parent(approval)
    if parent is not None:
        if parent.status is not Status.APPROVED:
            raise Conflict(f"The parent {parent.id} is {parent.status.value}; the child waits for an approved parent.")
        check_reliance(approval, parent)
    approval._move(Status.APPROVED, {Status.UNDER_REVIEW}, "approved")
    approval.assessment = dict(assessment)
    approval.valid_until = valid_until
    changes = [_changed(approval, Change.APPROVED)]
    if approval.covers is Covers.VARIATION and parent is not None:
        siblings = [c for c in tree.children.get(parent.id, ()) if c.id != approval.id]
        changes += _mark_for_reconfirmation(siblings)
    return changes


def reject(approval: Approval) -> Changes:
    approval._move(Status.REJECTED, {Status.UNDER_REVIEW}, "rejected")
    return [_changed(approval, Change.REJECTED)]


def reconfirm(approval: Approval) -> Changes:
    if not approval.needs_reconfirmation:
        raise Conflict(f"Approval {approval.id} is not marked for re-confirmation.")
    if approval.status is not Status.APPROVED:
        raise Conflict(f"Approval {approval.id} is {approval.status.value}; only an approved one is re-confirmed.")
    approval.needs_reconfirmation = False
    approval.version += 1
    return [_changed(approval, Change.RECONFIRMED)]


# --- suspension cascades ---------------------------------------------------------------------


def suspend(tree: Tree, approval: Approval) -> Changes:
    """Suspend on its own; every approved descendant becomes `suspended_by_parent` (by this one).
    Descendants already suspended by an ancestor are re-attributed to this one, so reinstating
    that ancestor alone does not lift them while this one stays suspended."""
    if approval.status not in (Status.APPROVED, Status.SUSPENDED_BY_PARENT):
        raise Conflict(f"Approval {approval.id} is {approval.status.value}; only an approved one can be suspended.")
    above = {a.id for a in tree.ancestors(approval)}
    approval.status = Status.SUSPENDED
    approval.suspended_by = None
    approval.version += 1
    changes = [_changed(approval, Change.SUSPENDED)]
    for node in tree.descendants(approval):
        if node.status is Status.APPROVED:
            node.status = Status.SUSPENDED_BY_PARENT
            node.suspended_by = approval.id
            node.version += 1
            changes.append(_changed(node, Change.SUSPENDED))
        elif node.status is Status.SUSPENDED_BY_PARENT and node.suspended_by in above:
            node.suspended_by = approval.id
            node.version += 1  # same status, different cause: consumers must see it
            changes.append(_changed(node, Change.SUSPENDED))
    return changes


def reinstate(tree: Tree, approval: Approval) -> Changes:
    """Lift an own suspension; restore exactly the descendants this one suspended."""
    if approval.status is not Status.SUSPENDED:
        raise Conflict(
            f"Approval {approval.id} is {approval.status.value}; only an approval suspended on its own is reinstated"
            + (" (reinstate the suspended ancestor instead)." if approval.status is Status.SUSPENDED_BY_PARENT else ".")
        )
    if any(a.status in SUSPENDED_ANY for a in tree.ancestors(approval)):
        raise Conflict(f"An ancestor of {approval.id} is suspended; reinstate the ancestor first.")
    approval.status = Status.APPROVED
    approval.version += 1
    changes = [_changed(approval, Change.REINSTATED)]
    for node in tree.descendants(approval):
        if node.status is Status.SUSPENDED_BY_PARENT and node.suspended_by == approval.id:
            node.status = Status.APPROVED
            node.suspended_by = None
            node.version += 1
            changes.append(_changed(node, Change.REINSTATED))
    return changes


# --- ending: withdrawal and expiry -----------------------------------------------------------


def withdraw(tree: Tree, approval: Approval) -> Changes:
    if approval.status in TERMINAL:
        raise Conflict(f"Approval {approval.id} is {approval.status.value}; it cannot be withdrawn.")
    return _end(tree, approval, Status.WITHDRAWN, Change.WITHDRAWN)


def expire(tree: Tree, approval: Approval, today: date) -> Changes:
    if approval.status not in STANDING or approval.valid_until is None or approval.valid_until >= today:
        return []  # nothing due: the expiry job may race a decision or run twice
    return _end(tree, approval, Status.EXPIRED, Change.EXPIRED)


def _end(tree: Tree, approval: Approval, to: Status, change: Change) -> Changes:
    """The approval ends; the descendants it had suspended keep a suspension of their own (no one
    can reinstate an ended approval), and its standing children must be re-confirmed."""
    was_standing = approval.status in STANDING
    approval.status = to
    approval.suspended_by = None
    approval.version += 1
    changes = [(approval, change)]
    for node in tree.descendants(approval):  # parents come before their children
        if node.status is Status.SUSPENDED_BY_PARENT and node.suspended_by == approval.id:
            above = tree.parent(node)
            if above is not None and above.id != approval.id and above.status in SUSPENDED_ANY:
                node.suspended_by = above.id if above.status is Status.SUSPENDED else above.suspended_by
            else:
                node.status, node.suspended_by = Status.SUSPENDED, None
            node.version += 1
            changes.append(_changed(node, Change.SUSPENDED))
    if was_standing:
        changes += _mark_for_reconfirmation(tree.children.get(approval.id, []))
    return changes


def _changed(approval: Approval, change: Change) -> tuple[Approval, Change]:
    """A snapshot as of this change, so each event carries the state (and version) it made."""
    return replace(approval, assessment=dict(approval.assessment)), change


def _mark_for_reconfirmation(children: list[Approval]) -> Changes:
    changes = []
    for child in children:
        if child.status in STANDING and not child.needs_reconfirmation:
            child.needs_reconfirmation = True
            child.version += 1
            changes.append(_changed(child, Change.RECONFIRMATION_REQUIRED))
    return changes


# --- change notifications: every holder below a change is told, and answers ------------------


class ChangeKind(StrEnum):
    """What happened to an approval that others build on."""

    VARIATION_APPROVED = "variation_approved"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class Impact(StrEnum):
    """The holder's assessment of a change for its own approval."""

    NOT_AFFECTED = "not_affected"
    VARIATION_NEEDED = "variation_needed"


@dataclass(frozen=True)
class ChangeNotice:
    """What the holder of `approval` is told: `changed` changed (`kind`, through `cause`: the
    variation, or `changed` itself), in `changed_parts`; `affected_parts` are those of them
    `approval` relies on."""

    approval: Approval
    changed: Approval
    cause: Approval
    kind: ChangeKind
    changed_parts: list[str]
    affected_parts: list[str]


_NOTIFIED_BY = {
    Change.SUSPENDED: ChangeKind.SUSPENDED,
    Change.WITHDRAWN: ChangeKind.WITHDRAWN,
    Change.EXPIRED: ChangeKind.EXPIRED,
}


def change_notices(tree: Tree, target: Approval, changes: Changes) -> list[ChangeNotice]:
    """One notice per other approval a change of `target` reached (the parent's standing children
    after an approved variation, withdrawal or expiry; the standing descendants of a suspension),
    addressed to that approval's holder, whoever it is: the parent's own holder or an
    organisation building on it through a letter of access. A suspension, withdrawal or expiry
    takes away everything a child relies on; a variation only the parts it varied (its
    assessment's parts; all of the parent's when it names none)."""
    own = next((change for a, change in changes if a.id == target.id), None)
    if own is Change.APPROVED and target.covers is Covers.VARIATION and target.parent_id is not None:
        kind, changed = ChangeKind.VARIATION_APPROVED, tree[target.parent_id]
        changed_parts = sorted(target.assessment) or sorted(changed.assessment)
        standing = [c for c in tree.children.get(changed.id, ()) if c.id != target.id]
    elif own in _NOTIFIED_BY:
        kind, changed, changed_parts = _NOTIFIED_BY[own], target, sorted(target.assessment)
        below = tree.descendants(target) if own is Change.SUSPENDED else tree.children.get(target.id, ())
        standing = list(below)
    else:
        return []
    # Those the cascade changed, and those it left as they were (already marked for
    # reconfirmation, already suspended on their own): each holder hears of every change.
    reached = dict.fromkeys(
        [*(a.id for a, _ in changes if a.id != target.id), *(a.id for a in standing if a.status in STANDING)]
    )
    notices = []
    for approval_id in reached:
        node = tree[approval_id]
        relied = node.relied_on_parts if kind is not ChangeKind.VARIATION_APPROVED else changed_parts
        affected = sorted(set(node.relied_on_parts) & set(relied))
        notices.append(ChangeNotice(node, changed, target, kind, changed_parts, affected))
    return notices


@dataclass
class ChangeNotification:
    id: UUID
    approval_id: UUID
    holder_org_id: str
    impact: Impact | None = None  # set once, when the holder acknowledges

    @property
    def acknowledged(self) -> bool:
        return self.impact is not None


def acknowledge(notification: ChangeNotification, impact: Impact) -> None:
    """The holder answers once; a second answer would rewrite a signed assessment."""
    if notification.acknowledged:
        raise Conflict(
            f"Change notification {notification.id} is already acknowledged ({notification.impact}); "
            "a signed assessment is not answered twice."
        )
    notification.impact = impact


def require_acknowledged(approval: Approval, outstanding: list[UUID]) -> None:
    """Where the hub requires it, a regulator reconfirms a child only once its holder has
    answered every change notification about it."""
    if outstanding:
        raise Conflict(
            f"The holder of {approval.id} has not acknowledged change notification(s) "
            f"{', '.join(str(n) for n in outstanding)}; reconfirmation waits for its impact assessment."
        )
