"""`Idempotency-Key`: the first successful answer to a request is stored with the key (per developer
organisation) in the same transaction as what the request did; a retry with the key, from any
token of that organisation, gets that answer and changes nothing.

Two requests racing with one key serialise on the key's primary key: the second waits for the
first to commit, then finds its answer (or, if the first failed and rolled back, goes ahead).
Failed requests store nothing, so a retry after a 409 is tried afresh."""

import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from services.scheduling import models
from shared.database import UnitOfWork
from shared.errors import Unprocessable

Record = models.IdempotencyRecord


def fingerprint(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


async def claim(uow: UnitOfWork, scope: str, key: str, request_hash: str) -> dict[str, Any] | None:
    """Take the key for this request, or return the answer already given under it."""
    taken = await uow.session.scalar(
        insert(Record.__table__)
        .values(scope=scope, key=key, request_hash=request_hash, created_at=models.now())
        .on_conflict_do_nothing()
        .returning(Record.__table__.c.key)
    )
    if taken is not None:
        return None
    record = await uow.session.get(Record, (scope, key))
    assert record is not None and record.response is not None  # committed together with its answer
    if record.request_hash != request_hash:
        raise Unprocessable(f"Idempotency-Key {key!r} was already used with a different request body.")
    return record.response


async def remember(uow: UnitOfWork, scope: str, key: str, response: dict[str, Any], booking_id: Any) -> None:
    await uow.session.execute(
        sa.update(Record.__table__)
        .where(Record.__table__.c.scope == scope, Record.__table__.c.key == key)
        .values(response=response, booking_id=booking_id)
    )
