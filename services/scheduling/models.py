"""Scheduling tables, including its read models of other services' data."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class Table(SQLModel, registry=registry()):
    pass


metadata = Table.metadata


def now() -> datetime:
    return datetime.now(UTC)


class FacilityView(Table, table=True):
    """Scheduling's read model of a registry facility, fed by `gmphub.registry.v1`."""

    __tablename__ = "facility_view"
    facility_id: uuid.UUID = Field(primary_key=True)
    version: int
    legal_name: str
    country: str = Field(index=True)
    active: bool
    updated_at: datetime = Field(default_factory=now)
