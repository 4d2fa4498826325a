"""Scheduling's read models of registry, materials and approvals, kept from their events. Each
event carries the current state with a version; an event no newer than what is held changes
nothing. A change that can put bookings at risk (or clear them) re-evaluates those bookings."""

from collections.abc import Sequence
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import col, select

from services.scheduling import events, inbound, models
from services.scheduling.bookings import booking_state, risks_of, touch
from services.scheduling.domain import OPEN_BOOKING_STATUSES
from shared.database import UnitOfWork
from shared.errors import NotFound


async def record_facility(uow: UnitOfWork, event: inbound.FacilityChanged) -> None:
    state = event.facility
    view = await uow.session.get(models.FacilityView, state.facility_id, with_for_update=True)
    if view is None:
        view = models.FacilityView(facility_id=state.facility_id, version=0, legal_name="", country="", active=True)
    if state.version <= view.version:
        return
    view.version = state.version
    view.legal_name = state.legal_name
    view.country = state.country
    view.active = state.active
    view.updated_at = models.now()
    uow.session.add(view)


async def get_facility(uow: UnitOfWork, facility_id: UUID) -> models.FacilityView:
    view = await uow.session.get(models.FacilityView, facility_id)
    if view is None:
        raise NotFound(f"Scheduling knows no facility {facility_id} (yet).")
    return view


async def record_suite(uow: UnitOfWork, event: inbound.SuiteChanged) -> None:
    state = event.suite
    view = await uow.session.get(models.SuiteView, state.suite_id, with_for_update=True)
    if view is not None and event.version <= view.version:
        return
    view = view or models.SuiteView(
        suite_id=state.suite_id, facility_id=state.facility_id, version=0, name="", cleanroom_grade=""
    )
    view.facility_id, view.version, view.name = state.facility_id, event.version, state.name
    view.cleanroom_grade, view.atmp_types, view.processes = state.cleanroom_grade, state.atmp_types, state.processes
    view.retired = state.retired or event.type == inbound.SuiteRetired.type
    view.updated_at = models.now()
    uow.session.add(view)


async def record_certificate(uow: UnitOfWork, event: inbound.CertificateChanged) -> None:
    state = event.certificate
    view = await uow.session.get(models.CertificateView, state.certificate_id, with_for_update=True)
    if view is not None and event.version <= view.version:
        return
    view = view or models.CertificateView(
        certificate_id=state.certificate_id, facility_id=state.facility_id, version=0, number="", authority="",
        status="", expires_on=state.expires_on,
    )  # fmt: skip
    view.facility_id, view.version, view.number, view.authority = (
        state.facility_id, event.version, state.number, state.authority,
    )  # fmt: skip
    view.status, view.expires_on, view.reason = state.status, state.expires_on, state.reason
    view.updated_at = models.now()
    uow.session.add(view)
    await uow.session.flush()
    await refresh_risks(uow, col(models.Booking.facility_id) == state.facility_id)


async def record_shortage(uow: UnitOfWork, event: inbound.ShortageChanged) -> None:
    state = event.shortage
    view = await uow.session.get(models.ShortageView, state.shortage_id, with_for_update=True)
    if view is not None and state.version <= view.version:
        return
    view = view or models.ShortageView(
        shortage_id=state.shortage_id, material_id=state.material_id, version=0, status="", severity=""
    )
    view.material_id, view.version, view.status = state.material_id, state.version, state.status
    view.severity, view.reason, view.updated_at = state.severity, state.reason, models.now()
    view.material_name, view.regions = state.material_name, list(state.regions)
    uow.session.add(view)
    await uow.session.flush()
    needs_material = col(models.Booking.material_needs).op("@>")(
        sa.func.jsonb_build_array(sa.func.jsonb_build_object("material_id", str(state.material_id)))
    )
    await refresh_risks(uow, needs_material)


async def record_approval(uow: UnitOfWork, event: inbound.ApprovalChanged) -> None:
    state = event.approval
    view = await uow.session.get(models.ApprovalView, state.approval_id, with_for_update=True)
    if view is not None and state.version <= view.version:
        return
    view = view or models.ApprovalView(approval_id=state.approval_id, version=0, title="", status="", holder_org_id="")
    view.version, view.title, view.status = state.version, state.title, state.status
    view.holder_org_id, view.facility_ids, view.updated_at = state.holder_org_id, list(state.facility_ids), models.now()
    uow.session.add(view)
    await uow.session.flush()
    await refresh_risks(uow, col(models.Booking.approval_id) == state.approval_id)


async def refresh_risks(uow: UnitOfWork, which: sa.ColumnElement[bool]) -> Sequence[models.Booking]:
    """Re-evaluate the at-risk reasons of the future open bookings `which` selects; emit where they changed."""
    now = models.now()
    bookings = await uow.session.exec(
        select(models.Booking)
        .where(
            which,
            col(models.Booking.status).in_([s.value for s in OPEN_BOOKING_STATUSES]),
            col(models.Booking.ends_at) > now,
        )
        .order_by(col(models.Booking.starts_at))
        .with_for_update()
    )
    changed = []
    for booking in bookings:
        reasons = await risks_of(uow, booking, now.date())
        if reasons == list(booking.at_risk_reasons):
            continue
        booking.at_risk_reasons = reasons
        touch(booking, uow.actor)
        uow.session.add(booking)
        uow.emit(events.BookingFlaggedAtRisk(booking_id=booking.id, booking=booking_state(booking)))
        changed.append(booking)
    return changed
