"""Scheduling's replicas of registry, materials and approvals data, kept from their events, and what
they say about a booking. Each event carries the current state with a version; an event no newer
than what is held changes nothing. A change that can put bookings at risk (or clear them)
re-evaluates those bookings."""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from services.scheduling import events, inbound, models
from services.scheduling.domain import at_risk_reasons, supplier_change_risks
from services.scheduling.repository import SchedulingUnitOfWork, View


async def record_facility(uow: SchedulingUnitOfWork, event: inbound.FacilityChanged) -> None:
    state = event.facility  # nothing here hangs on whether it is newer: staged with the batch's others
    uow.replicas.stage(models.FacilityView, state.model_dump() | {"version": state.version, "updated_at": models.now()})


async def record_suite(uow: SchedulingUnitOfWork, event: inbound.SuiteChanged) -> None:
    state = event.suite
    retired = state.retired or event.type == inbound.SuiteRetired.type
    uow.replicas.stage(
        models.SuiteView,
        state.model_dump() | {"retired": retired, "version": event.version, "updated_at": models.now()},
    )


async def record_certificate(uow: SchedulingUnitOfWork, event: inbound.CertificateChanged) -> None:
    state = event.certificate
    if await _replicate(uow, models.CertificateView, event.version, state.model_dump()):
        now = models.now()
        await _refresh_risks(uow, await uow.bookings.future_open_at(state.facility_id, now), now)


async def record_shortage(uow: SchedulingUnitOfWork, event: inbound.ShortageChanged) -> None:
    state = event.shortage
    if await _replicate(uow, models.ShortageView, state.version, state.model_dump()):
        now = models.now()
        await _refresh_risks(uow, await uow.bookings.future_open_needing(state.material_id, now), now)


async def record_supplier_change(uow: SchedulingUnitOfWork, event: inbound.SupplierChangeRecorded) -> None:
    change = event.supplier_change.model_dump()
    await uow.replicas.add_supplier_change(
        [change | b.model_dump() | {"updated_at": models.now()} for b in event.bookings]
    )
    now = models.now()
    await _refresh_risks(uow, await uow.bookings.future_open_among([b.booking_id for b in event.bookings], now), now)


async def record_supplier_change_answer(uow: SchedulingUnitOfWork, event: inbound.SupplierChangeAnswered) -> None:
    answered = await uow.replicas.answer_supplier_change(event.supplier_change_id, event.facility_id, event.outcome)
    now = models.now()
    await _refresh_risks(uow, await uow.bookings.future_open_among(answered, now), now)


async def record_approval(uow: SchedulingUnitOfWork, event: inbound.ApprovalChanged) -> None:
    state = event.approval
    if await _replicate(uow, models.ApprovalView, state.version, state.model_dump()):
        now = models.now()
        await _refresh_risks(uow, await uow.bookings.future_open_relying_on(state.approval_id, now), now)


async def _replicate(uow: SchedulingUnitOfWork, view_class: type[View], version: int, state: dict[str, Any]) -> bool:
    """Hold the event's state (which names the replica's key) if it is newer than the replica's;
    say whether it was."""
    return await uow.replicas.record(view_class, state | {"version": version, "updated_at": models.now()})


async def _refresh_risks(uow: SchedulingUnitOfWork, bookings: Sequence[models.Booking], now: datetime) -> None:
    """Re-evaluate the at-risk reasons of these bookings; a new version and an event where they changed."""
    for booking in bookings:
        reasons = await risks_of(uow, booking, now.date())
        if reasons == list(booking.at_risk_reasons):
            continue
        booking.at_risk_reasons = reasons
        booking.touch(uow.actor)
        await uow.bookings.save(booking)
        state = events.BookingState.model_validate(booking, from_attributes=True)
        uow.emit(events.BookingFlaggedAtRisk(booking_id=booking.id, booking=state))


async def risks_of(uow: SchedulingUnitOfWork, booking: models.Booking, today: date) -> list[str]:
    """Why this booking may not run as planned: its facility's certificate, its materials, its
    approval, and supplier changes touching the lots reserved for it."""
    needed = needed_materials(booking)
    facts = await uow.replicas.risk_facts(booking.facility_id, needed, booking.approval_id)
    return at_risk_reasons(facts, needed, today) + supplier_change_risks(
        await uow.replicas.supplier_changes(booking.id)
    )


def needed_materials(booking: models.Booking) -> list[UUID]:
    return [UUID(str(n["material_id"])) for n in booking.material_needs]
