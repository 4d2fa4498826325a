"""An in-memory MaterialsUnitOfWork: the same repositories over dictionaries, the events the use
cases emit, and whether they committed. Rows are kept by reference, as a session keeps what it
loaded; the real SQL's locks have nothing to guard in one test's single task."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from services.materials import models
from services.materials.domain import Hold, ReservationStatus
from shared.problems import NotFound
from tests.unit.fakes import InMemoryUnitOfWork


def _found(rows: dict[UUID, Any], key: UUID, what: str) -> Any:
    if (row := rows.get(key)) is None:
        raise NotFound(f"No {what} {key}.")
    return row


class FakeSuppliers:
    def __init__(self) -> None:
        self.rows: dict[UUID, models.Supplier] = {}

    async def get(self, supplier_id: UUID, *, lock: bool = False) -> models.Supplier:
        return _found(self.rows, supplier_id, "supplier")

    async def named(self, name: str) -> UUID | None:
        return next((s.id for s in self.rows.values() if s.name.lower() == name.lower()), None)

    async def names(self) -> dict[UUID, str]:
        return {s.id: s.name for s in self.rows.values()}

    def add(self, supplier: models.Supplier) -> None:
        self.rows[supplier.id] = supplier


class FakeMaterials:
    def __init__(self) -> None:
        self.rows: dict[UUID, models.Material] = {}

    async def get(self, material_id: UUID, *, lock: bool = False) -> models.Material:
        return _found(self.rows, material_id, "material")

    async def find(self, material_id: UUID) -> models.Material | None:
        return self.rows.get(material_id)

    async def with_catalogue_number(
        self, supplier_id: UUID, catalogue_number: str, *, other_than: UUID | None = None
    ) -> UUID | None:
        return next(
            (
                m.id
                for m in self.rows.values()
                if (m.supplier_id, m.catalogue_number) == (supplier_id, catalogue_number) and m.id != other_than
            ),
            None,
        )

    async def catalogue_numbers(self) -> set[tuple[UUID | None, str]]:
        return {(m.supplier_id, m.catalogue_number) for m in self.rows.values() if m.catalogue_number is not None}

    def add(self, material: models.Material) -> None:
        self.rows[material.id] = material

    async def add_many(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.add(models.Material(**row))


class FakeAlternatives:
    def __init__(self) -> None:
        self.rows: dict[tuple[UUID, UUID], models.MaterialAlternative] = {}

    async def get(
        self, material_id: UUID, alternative_id: UUID, *, lock: bool = False
    ) -> models.MaterialAlternative | None:
        return self.rows.get((material_id, alternative_id))

    def add(self, link: models.MaterialAlternative) -> None:
        self.rows[(link.material_id, link.alternative_id)] = link


class FakeLots:
    def __init__(self) -> None:
        self.rows: dict[UUID, models.Lot] = {}

    async def get(self, lot_id: UUID, *, lock: bool = False) -> models.Lot:
        return _found(self.rows, lot_id, "lot")

    async def numbered(self, facility_id: UUID, material_id: UUID, lot_number: str) -> UUID | None:
        wanted = (facility_id, material_id, lot_number)
        return next(
            (lot.id for lot in self.rows.values() if (lot.facility_id, lot.material_id, lot.lot_number) == wanted), None
        )

    async def locked(self, lot_ids: list[UUID]) -> dict[UUID, models.Lot]:
        return {lot_id: self.rows[lot_id] for lot_id in sorted(set(lot_ids)) if lot_id in self.rows}

    async def locked_reservable(
        self, facility_id: UUID, material_ids: list[UUID], use_on: date
    ) -> dict[UUID, models.Lot]:
        return {
            lot.id: lot
            for lot in sorted(self.rows.values(), key=lambda lot: lot.id)
            if lot.facility_id == facility_id
            and lot.material_id in material_ids
            and lot.expires_on >= use_on
            and lot.quantity > lot.reserved
            and lot.quarantined_at is None
        }

    async def holding(self, material_ids: list[UUID]) -> list[models.Lot]:
        found = [
            lot for lot in self.rows.values()
            if lot.material_id in material_ids and lot.quantity > 0 and lot.expired_at is None
            and lot.quarantined_at is None
        ]  # fmt: skip
        return sorted(found, key=lambda lot: (lot.facility_id, lot.id))

    async def due_for_expiry(self, on: date, batch: int) -> list[models.Lot]:
        due = [lot for lot in self.rows.values() if lot.expired_at is None and lot.expires_on < on]
        return sorted(due, key=lambda lot: (lot.expires_on, lot.id))[:batch]

    def add(self, lot: models.Lot) -> None:
        self.rows[lot.id] = lot


class FakeReservations:
    def __init__(self) -> None:
        self.rows: dict[UUID, models.Reservation] = {}
        self.line_rows: dict[UUID, models.ReservationLine] = {}

    async def of_booking(self, booking_id: UUID) -> models.Reservation | None:
        return next((r for r in self.rows.values() if r.booking_id == booking_id), None)

    async def of_bookings(self, booking_ids: list[UUID]) -> dict[UUID, models.Reservation | None]:
        return {booking_id: await self.of_booking(booking_id) for booking_id in sorted(booking_ids)}

    async def lines(self, reservation_id: UUID) -> list[models.ReservationLine]:
        return sorted(
            (line for line in self.line_rows.values() if line.reservation_id == reservation_id),
            key=lambda line: line.id,
        )

    async def holds_on(self, lot_id: UUID) -> list[Hold]:
        held: dict[tuple[UUID, UUID, str], Decimal] = defaultdict(Decimal)
        for line in self.line_rows.values():
            reservation = self.rows[line.reservation_id]
            if line.lot_id == lot_id and reservation.status == ReservationStatus.CONFIRMED:
                held[(reservation.booking_id, reservation.id, line.unit)] += line.quantity
        return [
            Hold(booking_id, reservation_id, quantity, unit)
            for (booking_id, reservation_id, unit), quantity in sorted(held.items())
        ]

    async def holding(self, lot_ids: list[UUID]) -> list[tuple[UUID, UUID, UUID, UUID]]:
        held = {
            (r.booking_id, r.id, r.facility_id, line.lot_id)
            for line in self.line_rows.values()
            if line.lot_id in lot_ids and (r := self.rows[line.reservation_id]).status == ReservationStatus.CONFIRMED
        }
        return sorted(held, key=lambda h: (h[0], h[3]))

    async def add(self, reservation: models.Reservation, lines: list[models.ReservationLine] | None = None) -> None:
        self.rows[reservation.id] = reservation
        self.line_rows |= {line.id: line for line in lines or []}


class FakeShortages:
    def __init__(self) -> None:
        self.rows: dict[UUID, models.Shortage] = {}

    async def get(self, shortage_id: UUID, *, lock: bool = False) -> models.Shortage:
        return _found(self.rows, shortage_id, "shortage")

    def add(self, shortage: models.Shortage) -> None:
        self.rows[shortage.id] = shortage


class FakeSupplierChanges:
    def __init__(self) -> None:
        self.rows: dict[UUID, models.SupplierChange] = {}
        self.lot_rows: list[models.SupplierChangeLot] = []
        self.answers: dict[tuple[UUID, UUID], models.SupplierChangeFacility] = {}

    async def get(self, supplier_change_id: UUID) -> models.SupplierChange:
        return _found(self.rows, supplier_change_id, "supplier change")

    async def add(
        self,
        change: models.SupplierChange,
        lots: list[models.SupplierChangeLot],
        facilities: list[models.SupplierChangeFacility],
    ) -> None:
        self.rows[change.id] = change
        self.lot_rows += lots
        self.answers |= {(f.supplier_change_id, f.facility_id): f for f in facilities}

    async def answer_of(self, supplier_change_id: UUID, facility_id: UUID) -> models.SupplierChangeFacility | None:
        return self.answers.get((supplier_change_id, facility_id))

    async def facilities(self, supplier_change_id: UUID) -> list[models.SupplierChangeFacility]:
        found = [f for (change_id, _), f in self.answers.items() if change_id == supplier_change_id]
        return sorted(found, key=lambda f: f.facility_id)

    async def lots(self, supplier_change_id: UUID) -> list[models.SupplierChangeLot]:
        return sorted((x for x in self.lot_rows if x.supplier_change_id == supplier_change_id), key=lambda x: x.lot_id)


class FakeUnitOfWork(InMemoryUnitOfWork):
    """What a use case (or a job running one) sees of MaterialsUnitOfWork, in memory."""

    def __init__(self, actor: str | None = "admin:curator") -> None:
        super().__init__(actor)
        self.suppliers = FakeSuppliers()
        self.materials = FakeMaterials()
        self.alternatives = FakeAlternatives()
        self.lots = FakeLots()
        self.reservations = FakeReservations()
        self.shortages = FakeShortages()
        self.supplier_changes = FakeSupplierChanges()

    async def flush_events(self) -> None:
        """The real one writes the pending events' outbox rows in the open transaction, kept by
        the commit or dropped with it; here they wait in `pending` for the same fate."""
