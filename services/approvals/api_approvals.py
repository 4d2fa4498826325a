"""Approvals HTTP API under /v1: drafting, filing, deciding, the tree, history and search. Deciding,
suspending, reinstating and re-confirming are signatures: they need a recent sign-in."""

from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from services.approvals import approvals, queries
from services.approvals.domain import Covers, Status
from services.approvals.schemas import (
    ApprovalOut,
    DecisionIn,
    DecisionOut,
    DraftIn,
    LetterIn,
    LetterOut,
    ReasonIn,
    SignatureIn,
    TreeNode,
    TreeOut,
)  # fmt: skip
from services.approvals.settings import settings_of
from shared.auth import CurrentPrincipal, Principal, SigningPrincipal
from shared.service import Context, ServiceContext

router = APIRouter(prefix="/v1", tags=["approvals"])


@asynccontextmanager
async def committing(context: ServiceContext, principal: Principal):
    """One unit of work that the route commits (the commit wakes webhooks and streams)."""
    async with context.db.unit_of_work(principal.actor) as uow:
        yield uow
        await uow.commit()


def ack_window(context: ServiceContext) -> timedelta:
    """How long the holders a change reaches have to answer (GMPHUB_CHANGE_ACK_DAYS)."""
    return timedelta(days=settings_of(context).change_ack_days)


async def _read(context: ServiceContext, principal: Principal, approval_id: UUID) -> ApprovalOut:
    async with context.db.sessions() as session:
        row = await queries.visible_row(session, principal, approval_id)
        return ApprovalOut.of(row, await queries.parent_of(session, row))


@router.post("/approvals", status_code=status.HTTP_201_CREATED, response_model=ApprovalOut,
             summary="Draft an approval: a parent (platform) or a child building on a parent (developer)")  # fmt: skip
async def draft_approval(body: DraftIn, principal: CurrentPrincipal, context: Context) -> ApprovalOut:
    request = approvals.DraftRequest(
        **body.model_dump(exclude={"relied_on_parts"}), relied_on_parts=tuple(body.relied_on_parts)
    )
    async with committing(context, principal) as uow:
        row = await approvals.draft(uow, principal, request)
    return await _read(context, principal, row.id)


@router.post("/approvals/{approval_id}/submit", response_model=ApprovalOut,
             summary="File a draft with its authority (holder); a child needs its parent approved or under review")  # fmt: skip
async def submit_approval(approval_id: UUID, principal: CurrentPrincipal, context: Context) -> ApprovalOut:
    async with committing(context, principal) as uow:
        await approvals.submit(uow, principal, approval_id)
    return await _read(context, principal, approval_id)


@router.post("/approvals/{approval_id}/withdraw", response_model=ApprovalOut,
             summary="Withdraw an approval (holder); its standing children must be re-confirmed")  # fmt: skip
async def withdraw_approval(
    approval_id: UUID, body: ReasonIn, principal: CurrentPrincipal, context: Context
) -> ApprovalOut:
    async with committing(context, principal) as uow:
        await approvals.withdraw(uow, principal, approval_id, body.reason, ack_window=ack_window(context))
    return await _read(context, principal, approval_id)


@router.post("/approvals/{approval_id}/letters-of-access", status_code=status.HTTP_201_CREATED,
             response_model=LetterOut, summary="Let another organisation build child approvals on this one (holder)")  # fmt: skip
async def grant_letter_of_access(
    approval_id: UUID, body: LetterIn, principal: CurrentPrincipal, context: Context
) -> LetterOut:
    async with committing(context, principal) as uow:
        letter = await approvals.grant_letter_of_access(uow, principal, approval_id, body.grantee_org_id)
    return LetterOut.model_validate(letter, from_attributes=True)


@router.post("/approvals/{approval_id}/letters-of-access/{grantee_org_id}/revoke", response_model=LetterOut,
             summary="Revoke a letter of access (holder): no new children through it; filed ones stay as they are")  # fmt: skip
async def revoke_letter_of_access(
    approval_id: UUID, grantee_org_id: str, body: ReasonIn, principal: CurrentPrincipal, context: Context
) -> LetterOut:
    async with committing(context, principal) as uow:
        letter = await approvals.revoke_letter_of_access(uow, principal, approval_id, grantee_org_id, body.reason)
    return LetterOut.model_validate(letter, from_attributes=True)


@router.get("/approvals/{approval_id}/letters-of-access", response_model=list[LetterOut],
            summary="Letters of access granted on an approval, revoked ones included")  # fmt: skip
async def list_letters_of_access(approval_id: UUID, principal: CurrentPrincipal, context: Context) -> list[LetterOut]:
    async with context.db.sessions() as session:
        await queries.visible_row(session, principal, approval_id)
        letters = await queries.letters(session, approval_id)
    return [LetterOut.model_validate(x, from_attributes=True) for x in letters]


@router.post("/approvals/{approval_id}/review", response_model=ApprovalOut,
             summary="Take a submitted approval under review (regulator of its authority)")  # fmt: skip
async def start_review(approval_id: UUID, principal: CurrentPrincipal, context: Context) -> ApprovalOut:
    async with committing(context, principal) as uow:
        await approvals.start_review(uow, principal, approval_id)
    return await _read(context, principal, approval_id)


@router.post("/approvals/{approval_id}/decision", response_model=ApprovalOut,
             summary="Approve or reject, with an electronic signature (regulator of its authority)")  # fmt: skip
async def decide(approval_id: UUID, body: DecisionIn, principal: SigningPrincipal, context: Context) -> ApprovalOut:
    signature = approvals.SignatureRequest(body.meaning, body.reason)
    async with committing(context, principal) as uow:
        await approvals.decide(
            uow, principal, approval_id, body.outcome, signature, body.assessment, body.valid_until,
            ack_window=ack_window(context),
        )  # fmt: skip
    return await _read(context, principal, approval_id)


@router.post("/approvals/{approval_id}/suspend", response_model=ApprovalOut,
             summary="Suspend, signed; every approved descendant becomes suspended_by_parent (regulator)")  # fmt: skip
async def suspend(approval_id: UUID, body: SignatureIn, principal: SigningPrincipal, context: Context) -> ApprovalOut:
    async with committing(context, principal) as uow:
        await approvals.suspend(
            uow, principal, approval_id, approvals.SignatureRequest(body.meaning, body.reason),
            ack_window=ack_window(context),
        )  # fmt: skip
    return await _read(context, principal, approval_id)


@router.post("/approvals/{approval_id}/reinstate", response_model=ApprovalOut,
             summary="Lift a suspension, signed; restores exactly the descendants it suspended (regulator)")  # fmt: skip
async def reinstate(approval_id: UUID, body: SignatureIn, principal: SigningPrincipal, context: Context) -> ApprovalOut:
    async with committing(context, principal) as uow:
        await approvals.reinstate(uow, principal, approval_id, approvals.SignatureRequest(body.meaning, body.reason))
    return await _read(context, principal, approval_id)


@router.post("/approvals/{approval_id}/reconfirm", response_model=ApprovalOut,
             summary="Re-confirm a child after its parent changed, signed (regulator); with "
                     "GMPHUB_RECONFIRM_REQUIRES_ACKNOWLEDGEMENT only once its holder answered every change notification")  # fmt: skip
async def reconfirm(approval_id: UUID, body: SignatureIn, principal: SigningPrincipal, context: Context) -> ApprovalOut:
    async with committing(context, principal) as uow:
        await approvals.reconfirm(
            uow, principal, approval_id, approvals.SignatureRequest(body.meaning, body.reason),
            requires_acknowledgement=settings_of(context).reconfirm_requires_acknowledgement,
        )  # fmt: skip
    return await _read(context, principal, approval_id)


@router.get("/approvals/{approval_id}", response_model=ApprovalOut,
            summary="Read an approval; a child shows what it inherits from its parent's assessment")  # fmt: skip
async def read_approval(approval_id: UUID, principal: CurrentPrincipal, context: Context) -> ApprovalOut:
    return await _read(context, principal, approval_id)


@router.get("/approvals/{approval_id}/tree", response_model=TreeOut,
            summary="Its ancestors and descendants with their statuses")  # fmt: skip
async def read_tree(approval_id: UUID, principal: CurrentPrincipal, context: Context) -> TreeOut:
    async with context.db.sessions() as session:
        row = await queries.visible_row(session, principal, approval_id)
        ancestors, descendants = await queries.tree_around(session, principal, row)
        ids = [row.id, *(a.id for a in ancestors), *(d.id for d, _ in descendants)]
        outstanding = await queries.outstanding_notifications(session, ids)
        return TreeOut(
            approval=TreeNode.of(row, 0, outstanding),
            ancestors=[TreeNode.of(a, i - len(ancestors), outstanding) for i, a in enumerate(ancestors)],
            descendants=[TreeNode.of(d, depth, outstanding) for d, depth in descendants],
        )


@router.get("/approvals/{approval_id}/history", summary="Every event of this approval, oldest first (the audit trail)")
async def read_history(approval_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    async with context.db.sessions() as session:
        return await queries.history(session, principal, approval_id)


@router.get("/approvals/{approval_id}/decisions", response_model=list[DecisionOut],
            summary="The signed decisions on this approval (insert-only records)")  # fmt: skip
async def read_decisions(approval_id: UUID, principal: CurrentPrincipal, context: Context) -> list[DecisionOut]:
    async with context.db.sessions() as session:
        await queries.visible_row(session, principal, approval_id)
        decisions = await queries.decisions(session, approval_id)
    return [DecisionOut.of(d) for d in decisions]


@router.get("/approvals", response_model=list[ApprovalOut],
            summary="Search the approvals the caller may see: holder, authority, status, facility, product")  # fmt: skip
async def search_approvals(
    principal: CurrentPrincipal,
    context: Context,
    holder_org_id: str | None = None,
    authority: str | None = None,
    status: Status | None = None,
    facility_id: UUID | None = None,
    covers: Covers | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Words of the product or title")] = None,
    parent_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ApprovalOut]:
    f = queries.SearchFilter(
        holder_org_id,
        authority,
        status.value if status else None,
        facility_id,
        covers.value if covers else None,
        q,
        parent_id,
        limit,
        offset,
    )
    async with context.db.sessions() as session:
        found = await queries.search(session, principal, f)
    return [ApprovalOut.of(row) for row in found]
