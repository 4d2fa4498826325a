"""Technical agreement use cases (EU GMP Chapter 7): draft, sign by each side, terminate, expire.
Load, apply the rules of domain.Agreement, save, emit events; the caller commits.

Scheduling owns agreements because it is where they are relied on: confirming a clinical booking
asks for an active one between the booking's organisation and facility, in the same transaction."""

from datetime import UTC, date, datetime
from uuid import UUID

from services.scheduling import events, models
from services.scheduling.domain import (
    Agreement,
    AgreementChange,
    AgreementStatus,
    Period,
    RunKind,
    Side,
    check_agreement_terms,
    check_technical_agreement,
)
from services.scheduling.repository import SchedulingUnitOfWork
from services.scheduling.schemas import AgreementIn, AgreementSignatureIn
from shared.auth import Principal, Role
from shared.problems import Forbidden, NotFound, Unprocessable
from shared.signatures import state_sha256


def sides_of(principal: Principal, org_id: str, facility_id: UUID) -> set[Side]:
    """The sides of this agreement the principal belongs to: a developer of the organisation is
    its contract giver, a user of the facility its contract acceptor."""
    sides = set()
    if principal.role is Role.DEVELOPER and principal.org_id == org_id:
        sides.add(Side.CONTRACT_GIVER)
    if principal.role is Role.FACILITY and str(facility_id) in principal.facility_ids:
        sides.add(Side.CONTRACT_ACCEPTOR)
    return sides


def may_read(principal: Principal, row: models.TechnicalAgreement) -> bool:
    """Its two sides, the hub operator, and regulators (inspection, as for bookings)."""
    return (
        principal.is_admin or principal.role is Role.REGULATOR or bool(sides_of(principal, row.org_id, row.facility_id))
    )


async def draft(uow: SchedulingUnitOfWork, principal: Principal, request: AgreementIn) -> models.TechnicalAgreement:
    """Either side drafts the terms; nobody has signed yet."""
    if principal.role is Role.DEVELOPER:
        org_id = request.org_id or principal.org_id or ""
        principal.require_org(org_id)
    elif principal.role is Role.FACILITY:
        principal.require_facility(str(request.facility_id))
        if request.org_id is None:
            raise Unprocessable("A facility drafting an agreement names the organisation: org_id.")
        org_id = request.org_id
    else:
        raise Forbidden(
            "An agreement is drafted by one of its sides: a developer of the organisation or a facility user."
        )
    run_kinds = [k.value for k in request.run_kinds]
    check_agreement_terms(request.valid_from, request.valid_until, run_kinds, _today())
    if await uow.replicas.get(models.FacilityView, request.facility_id) is None:
        raise Unprocessable(f"Facility {request.facility_id} is not known to scheduling.")
    row = models.TechnicalAgreement(
        status=AgreementStatus.DRAFT.value, org_id=org_id, facility_id=request.facility_id, title=request.title,
        run_kinds=run_kinds, processes=list(request.processes),
        document_url=str(request.document_url) if request.document_url else None,
        document_sha256=request.document_sha256, valid_from=request.valid_from, valid_until=request.valid_until,
        signatures=[], created_by=uow.actor or "unknown", updated_by=uow.actor or "unknown",
    )  # fmt: skip
    await uow.agreements.save(row)
    uow.emit(events.AgreementDrafted(agreement_id=row.id, agreement=state_of(row), reason=request.reason))
    return row


async def sign(
    uow: SchedulingUnitOfWork, principal: Principal, agreement_id: UUID, request: AgreementSignatureIn
) -> models.TechnicalAgreement:
    """One side signs the terms as they stand (with a recent sign-in: the route's SigningPrincipal)."""
    row = await _visible(uow, principal, agreement_id)
    if request.side not in sides_of(principal, row.org_id, row.facility_id):
        raise Forbidden(_not_your_side(request.side, row))
    agreement = to_domain(row)
    change = agreement.sign(request.side, _today())
    signature = events.AgreementSignature(
        side=request.side.value, signer=principal.actor, signer_name=principal.display_name,
        meaning=request.meaning, reason=request.reason, signed_at=datetime.now(UTC),
        state_sha256=state_sha256(events.AgreementTerms.model_validate(row.terms)),
    )  # fmt: skip
    row.signatures = [*row.signatures, signature.model_dump(mode="json")]
    await _save(uow, row, agreement, change, signature=signature)
    return row


async def terminate(
    uow: SchedulingUnitOfWork, principal: Principal, agreement_id: UUID, reason: str
) -> models.TechnicalAgreement:
    """Either side ends the agreement, with a reason."""
    row = await _visible(uow, principal, agreement_id)
    if not sides_of(principal, row.org_id, row.facility_id):
        raise Forbidden("Only a side of the agreement (a developer of the organisation, a facility user) ends it.")
    agreement = to_domain(row)
    change = agreement.terminate(reason)
    row.terminated_reason = reason
    await _save(uow, row, agreement, change, reason=reason)
    return row


async def expire_run_out(uow: SchedulingUnitOfWork, batch: int = 100) -> list[UUID]:
    """Expire the agreements past their last valid day (the job; replicas share the work)."""
    today, expired = _today(), []
    for row in await uow.agreements.run_out(today, batch):
        agreement = to_domain(row)
        for change in agreement.expire(today):
            await _save(uow, row, agreement, change, reason=f"Its last valid day, {row.valid_until}, has passed.")
            expired.append(row.id)
    return expired


async def _visible(uow: SchedulingUnitOfWork, principal: Principal, agreement_id: UUID) -> models.TechnicalAgreement:
    row = await uow.agreements.get(agreement_id, lock=True)
    if row is None or not may_read(principal, row):
        raise NotFound(f"No agreement {agreement_id}.")  # do not reveal others' agreements
    return row


def _not_your_side(side: Side, row: models.TechnicalAgreement) -> str:
    if side is Side.CONTRACT_GIVER:
        return f"The contract giver's signature belongs to a developer of {row.org_id}."
    return f"The contract acceptor's signature belongs to a user of facility {row.facility_id}."


def to_domain(row: models.TechnicalAgreement) -> Agreement:
    signed = {Side(s["side"]) for s in row.signatures}
    return Agreement(id=row.id, status=AgreementStatus(row.status), valid_until=row.valid_until, signed=signed)


async def _save(
    uow: SchedulingUnitOfWork,
    row: models.TechnicalAgreement,
    agreement: Agreement,
    change: AgreementChange,
    *,
    reason: str | None = None,
    signature: events.AgreementSignature | None = None,
) -> None:
    row.status = agreement.status.value
    row.touch(uow.actor)
    await uow.agreements.save(row)
    state = state_of(row)
    match change:
        case AgreementChange.SIGNED:
            assert signature is not None
            uow.emit(events.AgreementSigned(agreement_id=row.id, agreement=state, signature=signature))
        case AgreementChange.TERMINATED:
            uow.emit(events.AgreementTerminated(agreement_id=row.id, agreement=state, reason=reason or ""))
        case AgreementChange.EXPIRED:
            uow.emit(events.AgreementExpired(agreement_id=row.id, agreement=state, reason=reason or ""))


def state_of(row: models.TechnicalAgreement) -> events.AgreementState:
    return events.AgreementState.model_validate(row, from_attributes=True)


def _today() -> date:
    return models.now().date()


async def require_agreement(
    uow: SchedulingUnitOfWork, run_kind: RunKind, org_id: str, facility_id: UUID, run: Period, today: date
) -> None:
    """EU GMP Chapter 7: a clinical run needs an active technical agreement between the organisation
    and the facility covering it (409 naming the rule); other runs need none, and nothing is read."""
    if run_kind is RunKind.CLINICAL:
        between = await uow.agreements.between(org_id, facility_id)
        check_technical_agreement(run_kind, between, org_id, facility_id, run, today)
