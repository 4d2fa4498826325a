"""Registry HTTP API under /v1: GMP certificates and non-compliance statements. A regulator acts
for the authority in its token; only that authority (or an admin) may change its certificates, and
only an authority competent for the site acts at all (the domain's rule, the admin's acts too).
Issuing, suspending, reinstating and revoking are signatures: they need a recent sign-in."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from services.registry import certificates, queries
from services.registry.domain import CertificateTerms, check_known_authority
from services.registry.events import CertificateState
from services.registry.schemas import (
    CertificateIn,
    CertificateRecord,
    CertificateSignatureOut,
    NonComplianceIn,
    NonComplianceOut,
    ReinstatementIn,
    SignatureIn,
)  # fmt: skip
from shared.auth import CurrentPrincipal, Principal, Role, SigningPrincipal
from shared.problems import Forbidden, Unprocessable
from shared.service import Context, ServiceContext

router = APIRouter(prefix="/v1", tags=["certificates"])


def acting_authority(principal: Principal, named: str | None) -> str:
    """The authority a regulator acts for (its token's); an admin must name one."""
    principal.require_role(Role.REGULATOR)
    if principal.is_admin:
        if not named:
            raise Unprocessable("An admin acting for a regulator must name the authority.", field="authority")
        return check_known_authority(named).code
    if named and named != principal.authority:
        raise Forbidden(f"This token acts for {principal.authority}, not {named}.")
    return principal.authority or ""


async def _record(context: ServiceContext, certificate_id: UUID) -> CertificateRecord:
    async with context.db.sessions() as session:
        certificate = await queries.certificate(session, certificate_id)
        signed = await queries.signatures(session, certificate_id)
    return CertificateRecord(
        **certificates.certificate_state(certificate).model_dump(),
        signatures=[CertificateSignatureOut(signature_id=s.id, **s.model_dump(exclude={"id"})) for s in signed],
    )


@router.post("/facilities/{facility_id}/certificates", status_code=status.HTTP_201_CREATED,
             response_model=CertificateRecord, summary="Issue a GMP certificate to a facility, signed (regulator)")  # fmt: skip
async def issue_certificate(
    facility_id: UUID, body: CertificateIn, principal: SigningPrincipal, context: Context
) -> CertificateRecord:
    authority = acting_authority(principal, body.authority)
    terms = CertificateTerms(
        **body.model_dump(exclude={"authority", "meaning", "reason"}), authority=authority, today=certificates.today()
    )
    signed = certificates.SignatureRequest(body.meaning, body.reason)
    async with context.db.unit_of_work(principal.actor) as uow:
        certificate = await certificates.issue_certificate(uow, principal, facility_id, terms, signed)
        await uow.commit()
    return await _record(context, certificate.id)


@router.get("/certificates", response_model=list[CertificateState],
            summary="Find certificates by their EudraGMDP reference and/or issuing authority, newest first, a page "
                    "at a time (a `Link` header with `rel=\"next\"` names the next page while there is one)")  # fmt: skip
async def find_certificates(
    principal: CurrentPrincipal,
    context: Context,
    request: Request,
    response: Response,
    eudragmdp_ref: Annotated[str | None, Query(max_length=100, description="As EudraGMDP issued it")] = None,
    authority: Annotated[str | None, Query(max_length=40, examples=["DE-PEI"])] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 100,
) -> list[CertificateState]:
    async with context.db.sessions() as session:
        found = await queries.certificates(
            session,
            eudragmdp_ref=eudragmdp_ref,
            authority=authority,
            offset=(page - 1) * page_size,
            limit=page_size + 1,
        )
    if len(found) > page_size:  # the list stays a list: the next page is a link (RFC 8288)
        response.headers["Link"] = f'<{request.url.include_query_params(page=page + 1)}>; rel="next"'
    return [certificates.certificate_state(c) for c in found[:page_size]]


@router.get("/certificates/{certificate_id}", response_model=CertificateRecord,
            summary="Read a certificate with its signatures")  # fmt: skip
async def read_certificate(certificate_id: UUID, principal: CurrentPrincipal, context: Context) -> CertificateRecord:
    return await _record(context, certificate_id)


async def _change(
    context: ServiceContext,
    principal: Principal,
    certificate_id: UUID,
    action: str,
    body: SignatureIn | ReinstatementIn,
) -> CertificateRecord:
    principal.require_role(Role.REGULATOR)
    signed = certificates.SignatureRequest(body.meaning, body.reason)
    async with context.db.unit_of_work(principal.actor) as uow:
        await certificates.change_status(uow, principal, certificate_id, action, signed, on=certificates.today())
        await uow.commit()
    return await _record(context, certificate_id)


@router.post("/certificates/{certificate_id}/suspend", response_model=CertificateRecord,
             summary="Suspend a valid certificate, signed with a reason (its issuing authority or admin)")  # fmt: skip
async def suspend(
    certificate_id: UUID, body: SignatureIn, principal: SigningPrincipal, context: Context
) -> CertificateRecord:
    return await _change(context, principal, certificate_id, "suspend", body)


@router.post("/certificates/{certificate_id}/reinstate", response_model=CertificateRecord,
             summary="Reinstate a suspended certificate, signed (its issuing authority or admin)")  # fmt: skip
async def reinstate(
    certificate_id: UUID, body: ReinstatementIn, principal: SigningPrincipal, context: Context
) -> CertificateRecord:
    return await _change(context, principal, certificate_id, "reinstate", body)


@router.post("/certificates/{certificate_id}/revoke", response_model=CertificateRecord,
             summary="Revoke a certificate, signed with a reason; final (its issuing authority or admin)")  # fmt: skip
async def revoke(
    certificate_id: UUID, body: SignatureIn, principal: SigningPrincipal, context: Context
) -> CertificateRecord:
    return await _change(context, principal, certificate_id, "revoke", body)


@router.post("/facilities/{facility_id}/noncompliance", status_code=status.HTTP_201_CREATED,
             response_model=NonComplianceOut, summary="Record a GMP non-compliance statement (regulator)")  # fmt: skip
async def record_noncompliance(
    facility_id: UUID, body: NonComplianceIn, principal: CurrentPrincipal, context: Context
) -> NonComplianceOut:
    authority = acting_authority(principal, body.authority)
    async with context.db.unit_of_work(principal.actor) as uow:
        said = certificates.Statement(authority, body.summary, body.certificate_id, body.eudragmdp_ref)
        statement = await certificates.record_noncompliance(uow, facility_id, said)
        await uow.commit()
    return NonComplianceOut(statement_id=statement.id, **statement.model_dump(exclude={"id"}))
