"""What every booking use case shares: the event-carried state, slot claiming and release, and
whether a facility is bookable. The use cases themselves live in handlers.py and waitlist.py."""

from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from services.scheduling import events, models
from services.scheduling.domain import (
    ApprovalFacts,
    BookingStatus,
    CertificateFacts,
    ShortageFacts,
    SlotStatus,
    certificate_risks,
    shortage_risks,
)
from shared.database import UnitOfWork
from shared.errors import Conflict


def booking_state(b: models.Booking) -> events.BookingState:
    return events.BookingState(
        booking_id=b.id,
        version=b.version,
        status=b.status,
        org_id=b.org_id,
        facility_id=b.facility_id,
        suite_id=b.suite_id,
        slot_ids=list(b.slot_ids),
        starts_at=b.starts_at,
        ends_at=b.ends_at,
        product=b.product,
        run_kind=b.run_kind,
        approval_id=b.approval_id,
        material_needs=[events.MaterialNeed.model_validate(n) for n in b.material_needs],
        at_risk_reasons=list(b.at_risk_reasons),
    )


def touch(b: models.Booking | models.WaitlistEntry, actor: str | None) -> None:
    """Every change of a booking is attributed and versioned."""
    if isinstance(b, models.Booking):
        b.version += 1
    b.updated_at = models.now()
    b.updated_by = actor or "unknown"


def needed_materials(b: models.Booking | models.WaitlistEntry) -> list[UUID]:
    return [UUID(str(n["material_id"])) for n in b.material_needs]


# --- facts from the read models -----------------------------------------------------------------


def valid_certificate_exists(facility_id: sa.ColumnElement) -> sa.ColumnElement[bool]:
    """SQL: the facility holds a certificate that is valid today."""
    c = models.CertificateView
    return sa.exists().where(
        col(c.facility_id) == facility_id, col(c.status) == "valid", col(c.expires_on) >= sa.func.current_date()
    )


async def certificates_of(uow: UnitOfWork, facility_id: UUID) -> list[CertificateFacts]:
    rows = await uow.session.exec(
        select(models.CertificateView).where(models.CertificateView.facility_id == facility_id)
    )
    return [CertificateFacts(r.number, r.status, r.expires_on, r.reason) for r in rows]


async def facility_is_bookable(uow: UnitOfWork, facility_id: UUID, today: date) -> bool:
    return any(c.valid_on(today) for c in await certificates_of(uow, facility_id))


async def approval_facts(uow: UnitOfWork, approval_id: UUID | None) -> ApprovalFacts | None:
    if approval_id is None:
        return None
    view = await uow.session.get(models.ApprovalView, approval_id)
    if view is None:
        return None
    return ApprovalFacts(view.approval_id, view.status, view.holder_org_id, list(view.facility_ids))


async def active_shortages(uow: UnitOfWork, material_ids: Sequence[UUID]) -> list[ShortageFacts]:
    if not material_ids:
        return []
    rows = await uow.session.exec(
        select(models.ShortageView).where(
            col(models.ShortageView.material_id).in_(material_ids), models.ShortageView.status == "active"
        )
    )
    return [ShortageFacts(r.material_id, r.severity, r.reason, r.material_name, tuple(r.regions)) for r in rows]


async def risks_of(uow: UnitOfWork, b: models.Booking, today: date) -> list[str]:
    """Why this booking may not run as planned: the facility's certificate, its materials, its approval."""
    reasons = certificate_risks(await certificates_of(uow, b.facility_id), today)
    facility = await uow.session.get(models.FacilityView, b.facility_id)
    shortages = await active_shortages(uow, needed_materials(b))
    reasons += shortage_risks(needed_materials(b), shortages, facility.country if facility else None)
    if b.approval_id is not None:
        approval = await approval_facts(uow, b.approval_id)
        if approval is not None and approval.status != "approved":
            reasons.append(f"Approval {b.approval_id} is {approval.status}.")
    return reasons


# --- slots --------------------------------------------------------------------------------------


LOCK_NOT_AVAILABLE = "55P03"


async def lock_slots(uow: UnitOfWork, slot_ids: Sequence[UUID], *, nowait: bool = False) -> list[models.Slot]:
    """Lock the slots in one fixed order (by id), so concurrent claims never deadlock. With `nowait`
    a slot another transaction is claiming right now is refused at once (409) instead of waited for."""
    query = select(models.Slot).where(col(models.Slot.id).in_(slot_ids)).order_by(models.Slot.id)
    try:
        return list(await uow.session.exec(query.with_for_update(nowait=nowait)))
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        raise Conflict("A requested slot is being booked by another request right now.") from None


async def set_slots(
    uow: UnitOfWork,
    slot_ids: Sequence[UUID],
    status: SlotStatus,
    booking_id: UUID | None,
    *,
    reason: str | None = None,
    only_from: Sequence[SlotStatus] | None = None,
) -> list[UUID]:
    """Move slots to `status` (only those currently in `only_from`, if given); return the ones moved."""
    query = (
        sa.update(models.Slot)
        .where(col(models.Slot.id).in_(slot_ids))
        .values(
            status=status.value,
            booking_id=booking_id,
            status_reason=reason,
            version=models.Slot.version + 1,
            updated_at=sa.func.now(),
            updated_by=uow.actor or "unknown",
        )
        .returning(models.Slot.id)
    )
    if only_from is not None:
        query = query.where(col(models.Slot.status).in_([s.value for s in only_from]))
    return list((await uow.session.execute(query)).scalars())


async def release_slots(uow: UnitOfWork, b: models.Booking) -> list[UUID]:
    """Give the booking's slots back to the open pool (those it still holds)."""
    freed = await set_slots(uow, b.slot_ids, SlotStatus.OPEN, None, only_from=(SlotStatus.HELD, SlotStatus.BOOKED))
    return freed


def new_booking(
    *,
    booking_id: UUID | None = None,
    slots: Sequence[models.Slot],
    org_id: str,
    product: str,
    run_kind: str,
    approval_id: UUID | None,
    material_needs: list[dict],
    hold_expires_at: datetime,
    actor: str | None,
    waitlist_entry_id: UUID | None = None,
) -> models.Booking:
    first, last = min(slots, key=lambda s: s.starts_at), max(slots, key=lambda s: s.ends_at)
    extra = {"id": booking_id} if booking_id else {}
    return models.Booking(
        **extra,
        status=BookingStatus.HELD.value,
        org_id=org_id,
        facility_id=first.facility_id,
        suite_id=first.suite_id,
        slot_ids=[s.id for s in sorted(slots, key=lambda s: s.starts_at)],
        starts_at=first.starts_at,
        ends_at=last.ends_at,
        product=product,
        run_kind=run_kind,
        approval_id=approval_id,
        material_needs=material_needs,
        hold_expires_at=hold_expires_at,
        waitlist_entry_id=waitlist_entry_id,
        created_by=actor or "unknown",
        updated_by=actor or "unknown",
    )
