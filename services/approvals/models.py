"""Approvals tables."""

from sqlalchemy.orm import registry
from sqlmodel import SQLModel


class Table(SQLModel, registry=registry()):
    pass


metadata = Table.metadata
