"""Quote use cases: a facility quotes a request with one of its open slots per batch (held for the
quote while it is offered), revises or declines its quote; the developer accepts one, superseding
the others; the `expire_quotes` job expires quotes past their validity. Load, apply the rules of
domain.Quote, save, emit events; the caller commits.

Slots are claimed exactly as a booking's hold claims them (`Slots.claim`: locked in id order without
waiting, then checked), so of a hold and a quote racing for a slot one wins and the other gets 409.
A quote holds its slots in their own state, `quoted` (with the slot's `quote_id`), not `held`: no
booking path (confirming, cancelling, expiring a hold) moves them, and the search, which shows
`open` slots only, leaves them out unchanged."""

import uuid
from collections.abc import Collection, Sequence
from uuid import UUID

from services.scheduling import bookings, campaigns, events, models, waitlist
from services.scheduling.domain import (
    Period,
    QuoteStatus,
    RunKind,
    SlotFacts,
    SlotStatus,
    certified,
    check_currency,
    check_quoted_slots,
    check_validity,
    money,
)
from services.scheduling.repository import SchedulingUnitOfWork
from services.scheduling.requests import (
    acting_facility,
    end_quote,
    may_read_quote,
    quote_state,
    quote_to_domain,
    request_state,
    require_developer_of,
    require_user_of,
    to_domain,
    visible,
)
from services.scheduling.schemas import QuoteIn, QuoteTermsIn
from shared.auth import Principal
from shared.problems import Conflict, Forbidden, NotFound, Unprocessable


async def send(uow: SchedulingUnitOfWork, principal: Principal, request_id: UUID, body: QuoteIn) -> models.Quote:
    """A facility's quote on a request addressed to it, one at a time per facility (revise it)."""
    request_row = await visible(uow, principal, request_id)
    facility_id = acting_facility(principal, request_row, body.facility_id)
    request = to_domain(request_row)
    request.require_quotable_by(facility_id)
    if await uow.quotes.offered_for(request_row.id, facility_id):
        raise Conflict(f"Facility {facility_id} has an offered quote on request {request_id}: revise it instead.")
    terms = await _terms(uow, request_row, body, facility_id, held=())
    actor = uow.actor or "unknown"
    row = models.Quote(
        id=uuid.uuid4(), status=QuoteStatus.OFFERED.value, request_id=request_row.id, facility_id=facility_id,
        created_by=actor, updated_by=actor, **terms,
    )  # fmt: skip
    await _hold(uow, row, row.slot_ids)
    await uow.quotes.save(row)
    if request.quoted():
        request_row.status = request.status.value
        request_row.touch(uow.actor)
        await uow.requests.save(request_row)
    uow.emit(events.QuoteSent(request_id=request_row.id, quote_id=row.id, quote=quote_state(row),
                              request=request_state(request_row), org_id=request_row.org_id))  # fmt: skip
    return row


async def revise(
    uow: SchedulingUnitOfWork,
    principal: Principal,
    request_id: UUID,
    quote_id: UUID,
    body: QuoteTermsIn,
    hold_ttl_seconds: int,
) -> models.Quote:
    """New terms for an offered quote, by its facility: slots it proposes no longer are released, new
    ones held; those it keeps stay held throughout."""
    request_row = await visible(uow, principal, request_id)
    row = await _visible_quote(uow, principal, request_row, quote_id)
    require_user_of(principal, row.facility_id)
    quote = quote_to_domain(row)
    quote.revise(models.now())
    before = row.slot_ids
    terms = await _terms(uow, request_row, body, row.facility_id, held=before)
    for name, value in terms.items():
        setattr(row, name, value)
    row.revision = quote.revision
    released = [s for s in before if s not in row.slot_ids]
    freed = await uow.slots.release_quoted(released, row.id)
    await _hold(uow, row, [s for s in row.slot_ids if s not in before])
    row.touch(uow.actor)
    await uow.quotes.save(row)
    uow.emit(events.QuoteRevised(request_id=request_row.id, quote_id=row.id, quote=quote_state(row),
                                 released_slot_ids=released, org_id=request_row.org_id))  # fmt: skip
    await waitlist.offer_opened_slots(uow, freed, hold_ttl_seconds)
    return row


async def decline(
    uow: SchedulingUnitOfWork,
    principal: Principal,
    request_id: UUID,
    quote_id: UUID,
    reason: str,
    hold_ttl_seconds: int,
) -> models.Quote:
    """The facility withdraws its offered quote, with a reason; its slots are released."""
    request_row = await visible(uow, principal, request_id)
    row = await _visible_quote(uow, principal, request_row, quote_id)
    require_user_of(principal, row.facility_id)
    quote_to_domain(row).decline(reason, models.now())
    await end_quote(uow, request_row, row, QuoteStatus.DECLINED, reason, hold_ttl_seconds)
    return row


async def accept(
    uow: SchedulingUnitOfWork, principal: Principal, request_id: UUID, quote_id: UUID, hold_ttl_seconds: int
) -> tuple[models.Quote, models.Campaign]:
    """The developer accepts an offered, unexpired quote: the request is `accepted`, every other
    offered quote superseded (its slots released), and the accepted quote becomes a campaign whose
    batches hold its slots (`QuoteAccepted` names them per batch; `campaigns.open_from_quote`). A
    clinical run needs its approval and an active technical agreement between the organisation and
    the facility over the batches' days."""
    request_row = await visible(uow, principal, request_id)
    require_developer_of(principal, request_row)
    row = await _visible_quote(uow, principal, request_row, quote_id)
    now, request, quote = models.now(), to_domain(request_row), quote_to_domain(row)
    quote.accept(now)
    request.accept()
    await bookings.check_run_allowed(
        uow, org_id=request_row.org_id, facility_id=row.facility_id, run_kind=RunKind(request_row.run_kind),
        approval_id=request_row.approval_id, run=Period(row.starts_at, row.ends_at), now=now, refused="the quote cannot be accepted",
    )  # fmt: skip
    for other in await uow.quotes.offered_for(request_row.id):
        if other.id != row.id:
            reason = f"Quote {row.id} was accepted."
            await end_quote(uow, request_row, other, QuoteStatus.SUPERSEDED, reason, hold_ttl_seconds)
    row.status = quote.status.value
    row.touch(uow.actor)
    await uow.quotes.save(row)
    request_row.status, request_row.accepted_quote_id = request.status.value, row.id
    request_row.touch(uow.actor)
    await uow.requests.save(request_row)
    uow.emit(events.QuoteAccepted(request_id=request_row.id, quote_id=row.id, quote=quote_state(row),
                                  request=request_state(request_row), org_id=request_row.org_id))  # fmt: skip
    return row, await campaigns.open_from_quote(uow, request_row, row, hold_ttl_seconds)


async def expire_run_out(uow: SchedulingUnitOfWork, hold_ttl_seconds: int, batch: int = 100) -> list[UUID]:
    """Expire the offered quotes past their validity and release their slots (the job; replicas
    share the work)."""
    now, expired = models.now(), []
    for row in await uow.quotes.run_out(now, batch):
        if quote_to_domain(row).expire(now):
            # Unlocked: the job changes nothing of the request, and its organisation never changes.
            request_row = await uow.requests.get(row.request_id)
            assert request_row is not None  # no path deletes a request
            reason = f"Valid until {row.valid_until.isoformat()}; not accepted by then."
            await end_quote(uow, request_row, row, QuoteStatus.EXPIRED, reason, hold_ttl_seconds)
            expired.append(row.id)
    return expired


async def _visible_quote(
    uow: SchedulingUnitOfWork, principal: Principal, request_row: models.ManufacturingRequest, quote_id: UUID
) -> models.Quote:
    row = await uow.quotes.get(quote_id, lock=True)
    if row is None or row.request_id != request_row.id or not may_read_quote(principal, row):
        raise NotFound(f"No quote {quote_id} on request {request_row.id}.")
    return row


async def _terms(
    uow: SchedulingUnitOfWork,
    request_row: models.ManufacturingRequest,
    body: QuoteTermsIn,
    facility_id: UUID,
    *,
    held: Collection[UUID],
) -> dict:
    """The quote's columns from its terms, checked: money, validity, and the proposed slots, claimed
    (locked) and each open (or `held` by this quote already) on a live suite of the facility's own
    that can run the request's ATMP type and process, one per batch, within the request's time frame."""
    now = models.now()
    check_currency(body.currency)
    price = money(body.price_per_batch, "price_per_batch")
    extras = [{"label": e.label, "amount": str(money(e.amount, f"The extra {e.label!r}"))} for e in body.extras]
    check_validity(body.valid_until, now)
    if len(set(body.slot_ids)) != len(body.slot_ids):
        raise Unprocessable("The same slot is listed twice.")
    slots = await _claim(uow, body.slot_ids, facility_id, held)
    for suite_id in sorted({s.suite_id for s in slots}):
        await campaigns.check_suite_runs(uow, suite_id, request_row.atmp_type, request_row.process)
    if not certified(slots[0].certificates, now.date()):
        raise Conflict(f"Facility {facility_id} holds no valid GMP certificate; it cannot quote.")
    slots = sorted(slots, key=lambda s: s.starts_at)
    periods = [Period(s.starts_at, s.ends_at) for s in slots]
    check_quoted_slots(request_row.batches, periods, request_row.earliest_start, request_row.latest_end)
    return {
        "batches": [
            events.QuotedBatch(batch=n, slot_id=s.id, suite_id=s.suite_id, starts_at=s.starts_at, ends_at=s.ends_at)
            .model_dump(mode="json") for n, s in enumerate(slots, start=1)
        ],  # fmt: skip
        "starts_at": slots[0].starts_at, "ends_at": slots[-1].ends_at, "currency": body.currency,
        "price_per_batch": price, "extras": extras,
        "conditions": body.conditions, "valid_until": body.valid_until,
    }  # fmt: skip


async def _claim(
    uow: SchedulingUnitOfWork, slot_ids: Sequence[UUID], facility_id: UUID, held: Collection[UUID]
) -> list[SlotFacts]:
    slots = await uow.slots.claim(slot_ids)
    missing = set(slot_ids) - {s.id for s in slots}
    if missing:
        raise NotFound(f"No slots {', '.join(sorted(str(m) for m in missing))}.")
    for slot in slots:
        if slot.facility_id != facility_id:
            raise Forbidden(
                f"Slot {slot.id} is on a suite of facility {slot.facility_id}: "
                f"facility {facility_id} quotes its own suites' slots only.", slot_id=str(slot.id),
            )  # fmt: skip
        if slot.status != SlotStatus.OPEN and not (slot.status == SlotStatus.QUOTED and slot.id in held):
            raise Conflict(f"Slot {slot.id} is {slot.status}, not open.", slot_id=str(slot.id))
    return slots


async def _hold(uow: SchedulingUnitOfWork, row: models.Quote, slot_ids: Sequence[UUID]) -> None:
    reason = f"Held for quote {row.id} of request {row.request_id}"  # no date: a revision may change it
    held = await uow.slots.hold_for_quote(slot_ids, row.id, reason)
    if len(held) != len(slot_ids):  # cannot happen under the claim's lock; the guard keeps it so
        raise Conflict("A slot was taken concurrently.")
