"""Scheduling HTTP API under /v1 for technical agreements (EU GMP Chapter 7): draft, sign, terminate;
one agreement, a side's list, the history."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from services.scheduling import agreements, queries
from services.scheduling.domain import AgreementStatus
from services.scheduling.schemas import AgreementIn, AgreementOut, AgreementSignatureIn, TerminationIn
from shared.auth import CurrentPrincipal, SigningPrincipal
from shared.service import Context

router = APIRouter(prefix="/v1", tags=["agreements"])
ByStatus = Annotated[AgreementStatus | None, Query(description="Only agreements in this state")]


@router.post("/agreements", status_code=status.HTTP_201_CREATED, response_model=AgreementOut,
             summary="Draft a technical agreement between an organisation and a facility (either side)")  # fmt: skip
async def draft_agreement(body: AgreementIn, principal: CurrentPrincipal, context: Context) -> AgreementOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        row = await agreements.draft(uow, principal, body)
        await uow.commit()
    return AgreementOut.of(row)


@router.post("/agreements/{agreement_id}/sign", response_model=AgreementOut,
             summary="Sign for one's own side, with an electronic signature (recent sign-in); "
                     "with both sides' signatures the agreement is active")  # fmt: skip
async def sign_agreement(
    agreement_id: UUID, body: AgreementSignatureIn, principal: SigningPrincipal, context: Context
) -> AgreementOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        row = await agreements.sign(uow, principal, agreement_id, body)
        await uow.commit()
    return AgreementOut.of(row)


@router.post("/agreements/{agreement_id}/terminate", response_model=AgreementOut,
             summary="End the agreement, with a reason (either side)")  # fmt: skip
async def terminate_agreement(
    agreement_id: UUID, body: TerminationIn, principal: CurrentPrincipal, context: Context
) -> AgreementOut:
    async with context.db.unit_of_work(principal.actor) as uow:
        row = await agreements.terminate(uow, principal, agreement_id, body.reason)
        await uow.commit()
    return AgreementOut.of(row)


@router.get("/agreements/{agreement_id}", response_model=AgreementOut, summary="Read an agreement")
async def read_agreement(agreement_id: UUID, principal: CurrentPrincipal, context: Context) -> AgreementOut:
    async with context.db.sessions() as session:
        return AgreementOut.of(await queries.agreement(session, principal, agreement_id))


@router.get("/agreements/{agreement_id}/history",
            summary="Every event of the agreement, oldest first: who did what, when, why (CloudEvents envelopes)")  # fmt: skip
async def agreement_history(agreement_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    async with context.db.sessions() as session:
        return await queries.agreement_history(session, principal, agreement_id)


@router.get("/orgs/{org_id}/agreements", response_model=list[AgreementOut],
            summary="A developer organisation's agreements, newest first")  # fmt: skip
async def org_agreements(
    org_id: str, principal: CurrentPrincipal, context: Context, status: ByStatus = None
) -> list[AgreementOut]:
    principal.require_org_reader(org_id)
    async with context.db.sessions() as session:
        rows = await queries.agreements_of(session, org_id=org_id, status=status)
    return [AgreementOut.of(r) for r in rows]


@router.get("/facilities/{facility_id}/agreements", response_model=list[AgreementOut],
            summary="A facility's agreements, newest first")  # fmt: skip
async def facility_agreements(
    facility_id: UUID, principal: CurrentPrincipal, context: Context, status: ByStatus = None
) -> list[AgreementOut]:
    principal.require_facility_reader(str(facility_id))
    async with context.db.sessions() as session:
        rows = await queries.agreements_of(session, facility_id=facility_id, status=status)
    return [AgreementOut.of(r) for r in rows]
