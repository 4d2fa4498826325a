"""Registry tables."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class Table(SQLModel, registry=registry()):
    pass


metadata = Table.metadata


def now() -> datetime:
    return datetime.now(UTC)


class Facility(Table, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = 1
    legal_name: str
    kind: str
    country: str = Field(max_length=2, index=True)
    city: str
    address: str
    contact_email: str
    authorisation_number: str
    authorisation_authority: str
    eudragmdp_ref: str | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=now)
    created_by: str
    updated_at: datetime = Field(default_factory=now)
    updated_by: str
