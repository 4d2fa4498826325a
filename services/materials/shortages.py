"""Shortage use cases: declared, updated and resolved by facilities, regulators or the hub operator.
The caller commits. A shortage shown with its material's alternatives and their stock is a read
(queries.py)."""

from collections.abc import Callable
from datetime import date
from uuid import UUID

from services.materials import events, models
from services.materials.domain import Severity, ShortageStatus, check_regions, check_shortage_open
from services.materials.repository import MaterialsUnitOfWork

# Raises Forbidden when the caller may not change this shortage (it depends on who reported it).
ShortageCheck = Callable[[models.Shortage], None]
ShortageEvent = type[events.ShortageDeclared | events.ShortageUpdated | events.ShortageResolved]


async def _emit(uow: MaterialsUnitOfWork, event: ShortageEvent, shortage: models.Shortage) -> None:
    """The event with the shortage's state, naming its material so consumers need not call back."""
    material = await uow.materials.get(shortage.material_id)
    state = shortage.model_dump() | {"shortage_id": shortage.id, "material_name": material.name}
    uow.emit(event(shortage_id=shortage.id, shortage=events.ShortageState.model_validate(state)))


async def declare(
    uow: MaterialsUnitOfWork,
    material_id: UUID,
    severity: Severity,
    expected_end: date | None,
    regions: list[str],
    reason: str | None,
    facility_id: UUID | None,
) -> models.Shortage:
    await uow.materials.get(material_id)
    shortage = models.Shortage(
        material_id=material_id, severity=severity.value, status=ShortageStatus.ACTIVE.value,
        expected_end=expected_end, regions=check_regions(regions), reason=reason,
        reported_by_facility_id=facility_id, created_by=uow.actor, updated_by=uow.actor,
    )  # fmt: skip
    uow.shortages.add(shortage)
    await _emit(uow, events.ShortageDeclared, shortage)
    return shortage


async def update(
    uow: MaterialsUnitOfWork, shortage_id: UUID, changes: dict, authorise: ShortageCheck
) -> models.Shortage:
    """Change severity, expected end, regions or reason of an active shortage, if `authorise` lets
    the caller; no change, no event."""
    shortage = await uow.shortages.get(shortage_id, lock=True)
    authorise(shortage)
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
    uow.shortages.add(shortage)
    await _emit(uow, events.ShortageUpdated, shortage)
    return shortage


async def resolve(
    uow: MaterialsUnitOfWork, shortage_id: UUID, note: str | None, authorise: ShortageCheck
) -> models.Shortage:
    """Declare an active shortage over, if `authorise` lets the caller."""
    shortage = await uow.shortages.get(shortage_id, lock=True)
    authorise(shortage)
    check_shortage_open(shortage.status)
    shortage.status = ShortageStatus.RESOLVED.value
    shortage.resolution_note = note
    shortage.resolved_at = models.now()
    shortage.version += 1
    shortage.updated_at, shortage.updated_by = shortage.resolved_at, uow.actor
    uow.shortages.add(shortage)
    await _emit(uow, events.ShortageResolved, shortage)
    return shortage
