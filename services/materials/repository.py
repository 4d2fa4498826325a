"""The materials unit of work and its repositories: the SQL that loads and saves what the use cases
change. Unit tests swap in an in-memory fake (tests/unit/materials/fakes.py).

Locks are taken here, in the SQL, where a use case asks for them. Reserving locks the facility's
candidate lots with SELECT ... FOR UPDATE in lot-id order (one order for everyone, so no
deadlocks); the expiry job never waits for a lock (SKIP LOCKED) and takes a locked lot on a later
round."""

from collections.abc import Iterable
from datetime import date
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.materials import models
from services.materials.domain import Hold, ReservationStatus
from shared.database import CopyRows, UnitOfWork, get_or_404

# From this many events on, a commit writes their outbox rows by COPY.
# What a new material's row gives: every column but the generated search vector.
MATERIAL_COLUMNS = [column.name for column in models.Material.__table__.columns if column.computed is None]  # type: ignore[attr-defined]


class Suppliers:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, supplier_id: UUID, *, lock: bool = False) -> models.Supplier:
        return await get_or_404(self.session, models.Supplier, supplier_id, "supplier", lock=lock)

    async def named(self, name: str) -> UUID | None:
        """The supplier of this name, whatever its case."""
        same_name = sa.func.lower(models.Supplier.name) == name.lower()
        return await self.session.scalar(sa.select(models.Supplier.id).where(same_name))

    async def names(self) -> dict[UUID, str]:
        """Every supplier's name, by id."""
        rows = await self.session.execute(sa.select(models.Supplier.id, models.Supplier.name))
        return {supplier_id: name for supplier_id, name in rows.all()}

    def add(self, supplier: models.Supplier) -> None:
        self.session.add(supplier)


class Materials:
    def __init__(self, session: AsyncSession, copy_rows: CopyRows) -> None:
        self.session, self._copy_rows = session, copy_rows

    async def get(self, material_id: UUID, *, lock: bool = False) -> models.Material:
        return await get_or_404(self.session, models.Material, material_id, "material", lock=lock)

    async def find(self, material_id: UUID) -> models.Material | None:
        return await self.session.get(models.Material, material_id)

    async def with_catalogue_number(
        self, supplier_id: UUID, catalogue_number: str, *, other_than: UUID | None = None
    ) -> UUID | None:
        """The material this supplier's catalogue number names, if any (other than `other_than`)."""
        query = sa.select(models.Material.id).where(
            models.Material.supplier_id == supplier_id, models.Material.catalogue_number == catalogue_number
        )
        if other_than:
            query = query.where(models.Material.id != other_than)
        return await self.session.scalar(query)

    async def catalogue_numbers(self) -> set[tuple[UUID | None, str]]:
        """Every (supplier, catalogue number) the catalogue holds."""
        number = col(models.Material.catalogue_number)
        rows = await self.session.execute(sa.select(models.Material.supplier_id, number).where(number.is_not(None)))
        return {(supplier_id, catalogue_number) for supplier_id, catalogue_number in rows.all()}

    def add(self, material: models.Material) -> None:
        self.session.add(material)

    async def add_many(self, rows: Iterable[dict]) -> None:
        """Write whole material rows (every column but the generated search vector) in bulk, taking
        them from `rows` as the database takes the ones before."""
        records = (tuple(row[column] for column in MATERIAL_COLUMNS) for row in rows)
        await self._copy_rows(models.Material.__tablename__, MATERIAL_COLUMNS, records)


class Alternatives:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(
        self, material_id: UUID, alternative_id: UUID, *, lock: bool = False
    ) -> models.MaterialAlternative | None:
        """The link naming `alternative_id` as an equivalent of `material_id`, withdrawn or not."""
        key = (material_id, alternative_id)
        return await self.session.get(models.MaterialAlternative, key, with_for_update=lock)

    def add(self, link: models.MaterialAlternative) -> None:
        self.session.add(link)


class Lots:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, lot_id: UUID, *, lock: bool = False) -> models.Lot:
        return await get_or_404(self.session, models.Lot, lot_id, "lot", lock=lock)

    async def numbered(self, facility_id: UUID, material_id: UUID, lot_number: str) -> UUID | None:
        """The facility's lot of this material with this number, if recorded."""
        return await self.session.scalar(
            sa.select(models.Lot.id).where(
                models.Lot.facility_id == facility_id,
                models.Lot.material_id == material_id,
                models.Lot.lot_number == lot_number,
            )
        )

    async def locked(self, lot_ids: list[UUID]) -> dict[UUID, models.Lot]:
        """These lots, locked in id order."""
        return await self._locked(col(models.Lot.id).in_(lot_ids))

    async def locked_reservable(
        self, facility_id: UUID, material_ids: list[UUID], use_on: date
    ) -> dict[UUID, models.Lot]:
        """The facility's lots of these materials with stock to spare, usable on `use_on`, locked in
        id order; their stock is read under the lock, so two bookings never take the same millilitre
        (the lot's CHECK reserved <= quantity is the last line behind that)."""
        return await self._locked(
            models.Lot.facility_id == facility_id,
            col(models.Lot.material_id).in_(material_ids),
            models.Lot.expires_on >= use_on,
            models.Lot.quantity > models.Lot.reserved,
            col(models.Lot.quarantined_at).is_(None),
        )

    async def holding(self, material_ids: list[UUID]) -> list[models.Lot]:
        """Lots of these materials with stock, neither expired nor quarantined: what a supplier change touches."""
        query = (
            select(models.Lot)
            .where(col(models.Lot.material_id).in_(material_ids), models.Lot.quantity > 0)
            .where(col(models.Lot.expired_at).is_(None), col(models.Lot.quarantined_at).is_(None))
            .order_by(col(models.Lot.facility_id), col(models.Lot.id))
        )
        return list((await self.session.exec(query)).all())

    async def _locked(self, *where: sa.ColumnElement[bool]) -> dict[UUID, models.Lot]:
        query = select(models.Lot).where(*where).order_by(col(models.Lot.id)).with_for_update()
        return {lot.id: lot for lot in (await self.session.exec(query)).all()}

    async def due_for_expiry(self, on: date, batch: int) -> list[models.Lot]:
        """Up to `batch` unmarked lots past their date on `on`, locked; a lot someone else has
        locked is skipped, and one marked meanwhile no longer matches once locked."""
        due = await self.session.exec(
            select(models.Lot)
            .where(col(models.Lot.expired_at).is_(None), col(models.Lot.expires_on) < on)
            .order_by(col(models.Lot.expires_on), col(models.Lot.id))
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        return list(due.all())

    def add(self, lot: models.Lot) -> None:
        self.session.add(lot)


class Reservations:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_booking(self, booking_id: UUID) -> models.Reservation | None:
        """The booking's reservation, locked: one booking's saga events are handled one at a time."""
        query = select(models.Reservation).where(models.Reservation.booking_id == booking_id).with_for_update()
        return (await self.session.exec(query)).first()

    async def of_bookings(self, booking_ids: list[UUID]) -> dict[UUID, models.Reservation | None]:
        """Each booking's reservation (None for one without), locked in booking order: a campaign's
        batches in one statement."""
        query = (
            select(models.Reservation)
            .where(col(models.Reservation.booking_id).in_(booking_ids))
            .order_by(col(models.Reservation.booking_id))
            .with_for_update()
        )
        found = {r.booking_id: r for r in await self.session.exec(query)}
        return {booking_id: found.get(booking_id) for booking_id in sorted(booking_ids)}

    async def lines(self, reservation_id: UUID) -> list[models.ReservationLine]:
        query = select(models.ReservationLine).where(models.ReservationLine.reservation_id == reservation_id)
        return list((await self.session.exec(query.order_by(col(models.ReservationLine.id)))).all())

    async def holds_on(self, lot_id: UUID) -> list[Hold]:
        """What confirmed reservations hold of a lot, by booking (under the lot's lock this adds up
        to the lot's `reserved`)."""
        reservation, line = models.Reservation, models.ReservationLine
        query = (
            sa.select(reservation.booking_id, reservation.id, sa.func.sum(line.quantity), line.unit)
            .join(reservation, col(reservation.id) == col(line.reservation_id))
            .where(line.lot_id == lot_id, reservation.status == ReservationStatus.CONFIRMED)
            .group_by(reservation.booking_id, reservation.id, line.unit)
            .order_by(reservation.booking_id)
        )
        return [Hold(*row) for row in (await self.session.execute(query)).all()]

    async def holding(self, lot_ids: list[UUID]) -> list[tuple[UUID, UUID, UUID, UUID]]:
        """(booking, reservation, facility, lot) for each of these lots a confirmed reservation holds."""
        reservation, line = models.Reservation, models.ReservationLine
        query = (
            sa.select(reservation.booking_id, reservation.id, reservation.facility_id, line.lot_id)
            .join(reservation, col(reservation.id) == col(line.reservation_id))
            .where(col(line.lot_id).in_(lot_ids), reservation.status == ReservationStatus.CONFIRMED)
            .distinct()
            .order_by(reservation.booking_id, line.lot_id)
        )
        return [(b, r, f, lot) for b, r, f, lot in (await self.session.execute(query)).all()]

    async def add(self, reservation: models.Reservation, lines: list[models.ReservationLine] | None = None) -> None:
        """Save the reservation and, when it takes stock, its new lines."""
        self.session.add(reservation)
        if lines:
            await self.session.flush()  # the reservation row exists before its lines refer to it
            self.session.add_all(lines)


class Shortages:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, shortage_id: UUID, *, lock: bool = False) -> models.Shortage:
        return await get_or_404(self.session, models.Shortage, shortage_id, "shortage", lock=lock)

    def add(self, shortage: models.Shortage) -> None:
        self.session.add(shortage)


class SupplierChanges:
    """Supplier change notifications, the lots they touched and each facility's answer."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, supplier_change_id: UUID) -> models.SupplierChange:
        return await get_or_404(self.session, models.SupplierChange, supplier_change_id, "supplier change")

    async def add(
        self,
        change: models.SupplierChange,
        lots: list[models.SupplierChangeLot],
        facilities: list[models.SupplierChangeFacility],
    ) -> None:
        self.session.add(change)
        await self.session.flush()  # the change exists before its lots and facilities refer to it
        self.session.add_all([*lots, *facilities])

    async def answer_of(self, supplier_change_id: UUID, facility_id: UUID) -> models.SupplierChangeFacility | None:
        """The facility's answer row, locked: a facility answers once, however many ask at once."""
        key = (supplier_change_id, facility_id)
        return await self.session.get(models.SupplierChangeFacility, key, with_for_update=True)

    async def facilities(self, supplier_change_id: UUID) -> list[models.SupplierChangeFacility]:
        answers = models.SupplierChangeFacility
        query = select(answers).where(answers.supplier_change_id == supplier_change_id)
        return list((await self.session.exec(query.order_by(col(answers.facility_id)))).all())

    async def lots(self, supplier_change_id: UUID) -> list[models.SupplierChangeLot]:
        touched = models.SupplierChangeLot
        query = select(touched).where(touched.supplier_change_id == supplier_change_id)
        return list((await self.session.exec(query.order_by(col(touched.lot_id)))).all())


class MaterialsUnitOfWork(UnitOfWork):
    """One transaction of the materials service, with its repositories bound to it."""

    def attach(self, session: AsyncSession) -> None:
        self.suppliers = Suppliers(session)
        self.materials = Materials(session, self.copy_rows)
        self.alternatives = Alternatives(session)
        self.lots = Lots(session)
        self.reservations = Reservations(session)
        self.shortages = Shortages(session)
        self.supplier_changes = SupplierChanges(session)
