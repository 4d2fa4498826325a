"""Registry HTTP API under /v1: GMP certificates and non-compliance statements. A regulator acts
for the authority in its token; only that authority (or an admin) may change its certificates."""

from uuid import UUID

from fastapi import APIRouter, status

from services.registry import certificates, queries
from services.registry.domain import CertificateTerms
from services.registry.events import CertificateState
from services.registry.schemas import CertificateIn, NonComplianceIn, NonComplianceOut, OptionalReasonIn, ReasonIn
from shared.auth import CurrentPrincipal, Principal, Role
from shared.problems import Forbidden, Unprocessable
from shared.service import Context

router = APIRouter(prefix="/v1", tags=["certificates"])


def acting_authority(principal: Principal, named: str | None) -> str:
    """The authority a regulator acts for (its token's); an admin must name one."""
    principal.require_role(Role.REGULATOR)
    if principal.is_admin:
        if not named:
            raise Unprocessable("An admin acting for a regulator must name the authority.", field="authority")
        return named
    if named and named != principal.authority:
        raise Forbidden(f"This token acts for {principal.authority}, not {named}.")
    return principal.authority or ""


@router.post("/facilities/{facility_id}/certificates", status_code=status.HTTP_201_CREATED,
             response_model=CertificateState, summary="Issue a GMP certificate to a facility (regulator)")  # fmt: skip
async def issue_certificate(
    facility_id: UUID, body: CertificateIn, principal: CurrentPrincipal, context: Context
) -> CertificateState:
    authority = acting_authority(principal, body.authority)
    terms = CertificateTerms(**body.model_dump(exclude={"authority"}), authority=authority, today=certificates.today())
    async with context.db.unit_of_work(principal.actor) as uow:
        certificate = await certificates.issue_certificate(uow, facility_id, terms)
        await uow.commit()
    return certificates.certificate_state(certificate)


@router.get("/certificates/{certificate_id}", response_model=CertificateState, summary="Read a certificate")
async def read_certificate(certificate_id: UUID, principal: CurrentPrincipal, context: Context) -> CertificateState:
    async with context.db.sessions() as session:
        return certificates.certificate_state(await queries.certificate(session, certificate_id))


async def _change(
    context: Context, principal: Principal, certificate_id: UUID, action: str, reason: str | None
) -> CertificateState:
    principal.require_role(Role.REGULATOR)
    async with context.db.unit_of_work(principal.actor) as uow:
        certificate = await certificates.change_status(
            uow, principal, certificate_id, action, reason, on=certificates.today()
        )
        await uow.commit()
    return certificates.certificate_state(certificate)


@router.post("/certificates/{certificate_id}/suspend", response_model=CertificateState,
             summary="Suspend a valid certificate with a reason (its issuing authority or admin)")  # fmt: skip
async def suspend(
    certificate_id: UUID, body: ReasonIn, principal: CurrentPrincipal, context: Context
) -> CertificateState:
    return await _change(context, principal, certificate_id, "suspend", body.reason)


@router.post("/certificates/{certificate_id}/reinstate", response_model=CertificateState,
             summary="Reinstate a suspended certificate (its issuing authority or admin)")  # fmt: skip
async def reinstate(
    certificate_id: UUID, body: OptionalReasonIn, principal: CurrentPrincipal, context: Context
) -> CertificateState:
    return await _change(context, principal, certificate_id, "reinstate", body.reason)


@router.post("/certificates/{certificate_id}/revoke", response_model=CertificateState,
             summary="Revoke a certificate with a reason; final (its issuing authority or admin)")  # fmt: skip
async def revoke(
    certificate_id: UUID, body: ReasonIn, principal: CurrentPrincipal, context: Context
) -> CertificateState:
    return await _change(context, principal, certificate_id, "revoke", body.reason)


@router.post("/facilities/{facility_id}/noncompliance", status_code=status.HTTP_201_CREATED,
             response_model=NonComplianceOut, summary="Record a GMP non-compliance statement (regulator)")  # fmt: skip
async def record_noncompliance(
    facility_id: UUID, body: NonComplianceIn, principal: CurrentPrincipal, context: Context
) -> NonComplianceOut:
    authority = acting_authority(principal, body.authority)
    async with context.db.unit_of_work(principal.actor) as uow:
        statement = await certificates.record_noncompliance(
            uow, facility_id, authority, body.summary, body.certificate_id
        )
        await uow.commit()
    return NonComplianceOut(statement_id=statement.id, **statement.model_dump(exclude={"id"}))
