"""Manufacturing request use cases: a developer sends a request to facilities, withdraws it; an
addressed facility declines it. Load, apply the rules of domain.ManufacturingRequest, save, emit
events; the caller commits.

Every change of a request or of one of its quotes locks the request first (then its quotes, then
their slots), so two acceptances, a withdrawal and a revision of one request never interleave."""

from uuid import UUID

from services.scheduling import events, models, waitlist
from services.scheduling.domain import (
    MAX_ADDRESSED_FACILITIES,
    ManufacturingRequest,
    Quote,
    QuoteStatus,
    RequestStatus,
    check_clinical_approval,
    check_request_window,
)
from services.scheduling.repository import SchedulingUnitOfWork
from services.scheduling.schemas import RequestIn
from shared.auth import Principal, Role
from shared.problems import Forbidden, NotFound, Unprocessable


async def send(uow: SchedulingUnitOfWork, principal: Principal, body: RequestIn) -> models.ManufacturingRequest:
    """A developer's request for its own organisation, to active facilities scheduling knows; a
    clinical one relies on an approved approval of the organisation covering each facility."""
    if principal.role is not Role.DEVELOPER or not principal.org_id:
        raise Forbidden("A manufacturing request is sent by a developer (a token with an org_id).")
    org_id = principal.org_id
    check_request_window(body.earliest_start, body.latest_end, models.now().date())
    facility_ids = await addressed(uow, body)
    approval = await uow.replicas.approval(body.approval_id)
    for facility_id in facility_ids:
        check_clinical_approval(body.run_kind, approval, body.approval_id, org_id, facility_id)
    actor = uow.actor or "unknown"
    row = models.ManufacturingRequest(
        status=RequestStatus.OPEN.value, org_id=org_id, product=body.product, atmp_type=body.atmp_type,
        process=body.process, batches=body.batches, batch_days=body.batch_days, earliest_start=body.earliest_start,
        latest_end=body.latest_end, run_kind=body.run_kind.value, approval_id=body.approval_id,
        material_needs=[n.model_dump(mode="json") for n in body.material_needs], needs=body.needs,
        attachments=[a.model_dump(mode="json") for a in body.attachments], facility_ids=facility_ids,
        declines=[], created_by=actor, updated_by=actor,
    )  # fmt: skip
    await uow.requests.save(row)
    state = request_state(row)
    uow.emit(events.RequestSent(request_id=row.id, request=state))
    for facility_id in facility_ids:  # each told of it as it may see it: not whom else it was sent to
        as_seen = state.model_copy(update={"facility_ids": [facility_id]})
        uow.emit(events.RequestReceived(request_id=row.id, request=as_seen, facility_id=facility_id))
    return row


async def addressed(uow: SchedulingUnitOfWork, body: RequestIn) -> list[UUID]:
    """The facilities named (each active and known to scheduling), or those the match finds (its
    query finds only those): at least one, at most 20."""
    if body.match is None:
        named = list(body.facility_ids or ())
        active = await uow.replicas.active_facilities(named)
        for facility_id in named:
            if facility_id not in active:
                raise Unprocessable(
                    f"Facility {facility_id} is not an active facility scheduling knows.", facility_id=str(facility_id)
                )
        return named
    found = await uow.replicas.facilities_fitting(
        body.match.filters(body.atmp_type, body.process), limit=MAX_ADDRESSED_FACILITIES + 1
    )
    if not found:
        raise Unprocessable("No active, certified facility has a suite that fits the match: widen it.")
    if len(found) > MAX_ADDRESSED_FACILITIES:
        raise Unprocessable(
            f"More than {MAX_ADDRESSED_FACILITIES} facilities fit the match: narrow it (country, cleanroom_grade)."
        )
    return found


async def withdraw(
    uow: SchedulingUnitOfWork, principal: Principal, request_id: UUID, reason: str, hold_ttl_seconds: int
) -> models.ManufacturingRequest:
    """The developer withdraws the request: its offered quotes are superseded, their slots released."""
    row = await visible(uow, principal, request_id)
    require_developer_of(principal, row)
    request = to_domain(row)
    request.withdraw(reason)
    row.status, row.withdrawn_reason = request.status.value, reason
    row.touch(uow.actor)
    await uow.requests.save(row)
    uow.emit(events.RequestWithdrawn(request_id=row.id, request=request_state(row), reason=reason))
    for quote in await uow.quotes.offered_for(row.id):
        await end_quote(uow, row, quote, QuoteStatus.SUPERSEDED, f"The request was withdrawn: {reason}",
                        hold_ttl_seconds)  # fmt: skip
    return row


async def decline(
    uow: SchedulingUnitOfWork,
    principal: Principal,
    request_id: UUID,
    facility_id: UUID | None,
    reason: str,
    hold_ttl_seconds: int,
) -> models.ManufacturingRequest:
    """An addressed facility declines the request; its own offered quote, if any, is declined with it."""
    row = await visible(uow, principal, request_id)
    facility_id = acting_facility(principal, row, facility_id)
    request = to_domain(row)
    request.decline(facility_id, reason)
    decline = events.RequestDecline(
        facility_id=facility_id, reason=reason, declined_by=uow.actor or "unknown", declined_at=models.now()
    )
    row.declines = [*row.declines, decline.model_dump(mode="json")]
    row.touch(uow.actor)
    await uow.requests.save(row)
    uow.emit(events.RequestDeclined(request_id=row.id, request=request_state(row), facility_id=facility_id,
                                    reason=reason))  # fmt: skip
    for quote in await uow.quotes.offered_for(row.id, facility_id):
        await end_quote(uow, row, quote, QuoteStatus.DECLINED, f"The facility declined the request: {reason}",
                        hold_ttl_seconds)  # fmt: skip
    return row


async def end_quote(
    uow: SchedulingUnitOfWork,
    request_row: models.ManufacturingRequest,
    row: models.Quote,
    status: QuoteStatus,
    reason: str,
    hold_ttl_seconds: int,
) -> None:
    """An offered quote ends (declined, superseded, expired): its slots open again, through the path
    every freed slot takes (the waitlist is offered them first)."""
    row.status, row.status_reason = status.value, reason
    row.touch(uow.actor)
    await uow.quotes.save(row)
    freed = await uow.slots.release_quoted(row.slot_ids, row.id)
    ended = {
        QuoteStatus.DECLINED: events.QuoteDeclined,
        QuoteStatus.SUPERSEDED: events.QuoteSuperseded,
        QuoteStatus.EXPIRED: events.QuoteExpired,
    }[status]
    uow.emit(ended(request_id=row.request_id, quote_id=row.id, quote=quote_state(row), reason=reason,
                   org_id=request_row.org_id))  # fmt: skip
    await waitlist.offer_opened_slots(uow, freed, hold_ttl_seconds)


# --- who sees and acts -----------------------------------------------------------------------------


def addressed_facilities(principal: Principal, row: models.ManufacturingRequest) -> set[UUID]:
    """The facilities of the caller's token the request is addressed to."""
    if principal.role is not Role.FACILITY:
        return set()
    return {f for f in row.facility_ids if str(f) in principal.facility_ids}


def may_read(principal: Principal, row: models.ManufacturingRequest) -> bool:
    """Its organisation's developers, the users of the facilities it is addressed to, the hub
    operator, and regulators (inspection, as for bookings and agreements)."""
    return (
        principal.is_admin
        or principal.role is Role.REGULATOR
        or (principal.role is Role.DEVELOPER and principal.org_id == row.org_id)
        or bool(addressed_facilities(principal, row))
    )


def shown_facilities(principal: Principal, row: models.ManufacturingRequest) -> set[UUID] | None:
    """A facility user learns of the request only as far as it concerns their facilities: not which
    other facilities were asked, nor what they answered. None: everything."""
    return addressed_facilities(principal, row) if principal.role is Role.FACILITY else None


def may_read_quote(principal: Principal, quote: models.Quote) -> bool:
    """A facility user sees its own facility's quotes only; whoever reads the request, the rest."""
    return principal.role is not Role.FACILITY or str(quote.facility_id) in principal.facility_ids


async def visible(uow: SchedulingUnitOfWork, principal: Principal, request_id: UUID) -> models.ManufacturingRequest:
    """The request, locked, if the principal may read it."""
    row = await uow.requests.get(request_id, lock=True)
    if row is None or not may_read(principal, row):
        raise NotFound(f"No request {request_id}.")  # do not reveal others' requests
    return row


def require_developer_of(principal: Principal, row: models.ManufacturingRequest) -> None:
    """The request is its organisation's to withdraw and to accept a quote on: a commitment the hub
    operator does not make for it."""
    if principal.role is not Role.DEVELOPER or principal.org_id != row.org_id:
        raise Forbidden(f"Only a developer of {row.org_id} withdraws its request or accepts a quote on it.")


def require_user_of(principal: Principal, facility_id: UUID) -> None:
    """A facility's answers (quotes, revisions, declines) are its own users', not the hub operator's."""
    if principal.role is not Role.FACILITY or str(facility_id) not in principal.facility_ids:
        raise Forbidden(f"Only a user of facility {facility_id} answers for it.")


def acting_facility(principal: Principal, row: models.ManufacturingRequest, given: UUID | None) -> UUID:
    """Which addressed facility the caller acts for: the one named, else its only one."""
    if given is not None:
        require_user_of(principal, given)
        if given not in row.facility_ids:
            raise Forbidden(f"Request {row.id} is not addressed to facility {given}.")
        return given
    mine = addressed_facilities(principal, row)
    if len(mine) != 1:
        if principal.role is not Role.FACILITY:
            raise Forbidden("A user of an addressed facility answers a request.")
        raise Unprocessable("The request is addressed to several of your facilities: name facility_id.")
    return mine.pop()


# --- the aggregate and its row -----------------------------------------------------------------------


def to_domain(row: models.ManufacturingRequest) -> ManufacturingRequest:
    declined = {UUID(str(d["facility_id"])) for d in row.declines}
    return ManufacturingRequest(row.id, RequestStatus(row.status), list(row.facility_ids), declined)


def quote_to_domain(row: models.Quote) -> Quote:
    return Quote(row.id, QuoteStatus(row.status), row.valid_until, row.revision)


def request_state(row: models.ManufacturingRequest) -> events.RequestState:
    return events.RequestState.model_validate(row, from_attributes=True)


def quote_state(row: models.Quote) -> events.QuoteState:
    return events.QuoteState.model_validate(row, from_attributes=True)
