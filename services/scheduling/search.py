"""Finding available slots: one query shape for `GET /v1/slots` and for waitlist matching.

Available means open, on an active facility's non-retired suite, with a certificate valid today.
Keyset pagination on (starts_at, id) keeps every page as cheap as the first (the partial index
`ix_slot_open_starts_at` serves the order)."""

import base64
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import col, select

from services.scheduling import models
from services.scheduling.bookings import valid_certificate_exists
from shared.errors import BadRequest


@dataclass(frozen=True)
class SlotFilters:
    starts_from: datetime | None = None
    ends_before: datetime | None = None
    country: str | None = None
    atmp_type: str | None = None
    process: str | None = None
    cleanroom_grade: str | None = None
    facility_id: UUID | None = None
    suite_id: UUID | None = None


Slot, Suite, Facility = models.Slot, models.SuiteView, models.FacilityView


def available_slots(filters: SlotFilters) -> sa.Select:
    query = (
        select(Slot, Suite, Facility)
        .join(Suite, col(Suite.suite_id) == col(Slot.suite_id))
        .join(Facility, col(Facility.facility_id) == col(Slot.facility_id))
        .where(
            col(Slot.status) == "open",
            col(Suite.retired).is_(False),
            col(Facility.active).is_(True),
            valid_certificate_exists(col(Slot.facility_id)),
        )
    )
    conditions = [
        (filters.starts_from, lambda v: col(Slot.starts_at) >= v),
        (filters.ends_before, lambda v: col(Slot.ends_at) <= v),
        (filters.country, lambda v: col(Facility.country) == v),
        (filters.atmp_type, lambda v: col(Suite.atmp_types).any(v)),
        (filters.process, lambda v: col(Suite.processes).any(v)),
        (filters.cleanroom_grade, lambda v: col(Suite.cleanroom_grade) == v),
        (filters.facility_id, lambda v: col(Slot.facility_id) == v),
        (filters.suite_id, lambda v: col(Slot.suite_id) == v),
    ]
    for value, condition in conditions:
        if value is not None:
            query = query.where(condition(value))
    return query


def page(query: sa.Select, after: str | None, limit: int) -> sa.Select:
    if after:
        starts_at, slot_id = decode_cursor(after)
        query = query.where(sa.tuple_(col(Slot.starts_at), col(Slot.id)) > sa.tuple_(starts_at, slot_id))
    return query.order_by(col(Slot.starts_at), col(Slot.id)).limit(limit)


def encode_cursor(slot: models.Slot) -> str:
    return base64.urlsafe_b64encode(f"{slot.starts_at.isoformat()}|{slot.id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        starts_at, slot_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(starts_at), UUID(slot_id)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The `after` cursor is not one this service gave out.") from None
