"""Shortages: declared, updated and resolved by facilities, regulators or the hub operator; shown
with the material's qualified alternatives and where stock of them exists. The caller commits."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import select

from services.materials import events, handlers, models
from services.materials.domain import Severity, ShortageStatus, check_regions, check_shortage_open
from services.materials.inventory import today
from shared.database import UnitOfWork, get_or_404


def shortage_state(s: models.Shortage, material_name: str | None) -> events.ShortageState:
    return events.ShortageState(
        shortage_id=s.id,
        material_id=s.material_id,
        material_name=material_name,
        version=s.version,
        severity=s.severity,
        status=s.status,
        expected_end=s.expected_end,
        regions=list(s.regions),
        reason=s.reason,
    )


ShortageEvent = type[events.ShortageDeclared | events.ShortageUpdated | events.ShortageResolved]


async def _emit(uow: UnitOfWork, event: ShortageEvent, shortage: models.Shortage) -> None:
    material = await handlers.get_material(uow, shortage.material_id)
    uow.emit(event(shortage_id=shortage.id, shortage=shortage_state(shortage, material.name)))


async def declare(
    uow: UnitOfWork,
    material_id: UUID,
    severity: Severity,
    expected_end: date | None,
    regions: list[str],
    reason: str | None,
    facility_id: UUID | None,
) -> models.Shortage:
    await handlers.get_material(uow, material_id)
    shortage = models.Shortage(
        material_id=material_id, severity=severity.value, status=ShortageStatus.ACTIVE.value,
        expected_end=expected_end, regions=check_regions(regions), reason=reason,
        reported_by_facility_id=facility_id, created_by=uow.actor, updated_by=uow.actor,
    )  # fmt: skip
    uow.session.add(shortage)
    await _emit(uow, events.ShortageDeclared, shortage)
    return shortage


async def get(uow: UnitOfWork, shortage_id: UUID, *, for_update: bool = False) -> models.Shortage:
    return await get_or_404(uow.session, models.Shortage, shortage_id, "shortage", lock=for_update)


async def update(uow: UnitOfWork, shortage: models.Shortage, changes: dict) -> models.Shortage:
    """Change severity, expected end, regions or reason of an active shortage locked by the caller."""
    check_shortage_open(shortage.status)
    if "regions" in changes:
        changes["regions"] = check_regions(changes["regions"])
    if "severity" in changes:
        changes["severity"] = Severity(changes["severity"]).value
    changed = {k: v for k, v in changes.items() if getattr(shortage, k) != v}
    if not changed:
        return shortage
    for key, value in changed.items():
        setattr(shortage, key, value)
    shortage.version += 1
    shortage.updated_at, shortage.updated_by = models.now(), uow.actor
    uow.session.add(shortage)
    await _emit(uow, events.ShortageUpdated, shortage)
    return shortage


async def resolve(uow: UnitOfWork, shortage: models.Shortage, note: str | None) -> models.Shortage:
    check_shortage_open(shortage.status)
    shortage.status = ShortageStatus.RESOLVED.value
    shortage.resolution_note = note
    shortage.resolved_at = models.now()
    shortage.version += 1
    shortage.updated_at, shortage.updated_by = shortage.resolved_at, uow.actor
    uow.session.add(shortage)
    await _emit(uow, events.ShortageResolved, shortage)
    return shortage


async def list_shortages(
    uow: UnitOfWork, material_id: UUID | None, status: str | None, region: str | None
) -> list[models.Shortage]:
    query = select(models.Shortage)
    if material_id:
        query = query.where(models.Shortage.material_id == material_id)
    if status:
        query = query.where(models.Shortage.status == status)
    if region:
        query = query.where(models.Shortage.regions.any(region.upper()))  # type: ignore[attr-defined]
    newest_first = models.Shortage.created_at.desc()  # type: ignore[attr-defined]
    return list((await uow.session.exec(query.order_by(newest_first))).all())


@dataclass(frozen=True)
class StockAt:
    material_id: UUID
    facility_id: UUID
    unit: str
    available: Decimal
    lots: int
    earliest_expiry: date


async def stock_of(uow: UnitOfWork, material_ids: list[UUID]) -> list[StockAt]:
    """Where unexpired, unreserved stock of these materials is, per facility and unit."""
    if not material_ids:
        return []
    lot = models.Lot
    query = (
        sa.select(
            lot.material_id, lot.facility_id, lot.unit,
            sa.func.sum(lot.quantity - lot.reserved), sa.func.count(), sa.func.min(lot.expires_on),
        )
        .where(lot.material_id.in_(material_ids))  # type: ignore[attr-defined]
        .where(lot.expires_on >= today(), lot.quantity > lot.reserved)
        .group_by(lot.material_id, lot.facility_id, lot.unit)
        .order_by(lot.material_id, sa.func.sum(lot.quantity - lot.reserved).desc())
    )  # fmt: skip
    return [StockAt(*row) for row in (await uow.session.execute(query)).all()]
