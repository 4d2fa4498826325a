"""Scheduling HTTP API under /v1/public: what the public directory shows of a facility's capacity,
read without a token: how many slots are open to booking per suite and month, for this month and
the eleven after it. Nothing of bookings, holds or the developers who made them."""

from uuid import UUID

from fastapi import APIRouter

from services.scheduling import models, queries
from services.scheduling.schemas import OpenInMonth, PublicCapacity, SuiteCapacity
from shared.service import Context

router = APIRouter(prefix="/v1/public", tags=["public"])
MONTHS = 12


@router.get("/capacity", response_model=PublicCapacity,
            summary="Open slots per suite and month, this month and the next eleven, of a directory facility (no token)")  # fmt: skip
async def open_capacity(facility_id: UUID, context: Context) -> PublicCapacity:
    now = models.now()
    months = queries.months_from(now, MONTHS)
    async with context.db.sessions() as session:
        found = await queries.open_capacity(session, facility_id, now, months[-1])
    shown = months[:-1]
    return PublicCapacity(
        facility_id=facility_id,
        months=[m.strftime("%Y-%m") for m in shown],
        suites=[
            SuiteCapacity(
                suite_id=suite["suite_id"],
                suite_name=suite["name"],
                cleanroom_grade=suite["cleanroom_grade"],
                months=[
                    OpenInMonth(month=m.strftime("%Y-%m"), open_slots=found.counts.get((suite["suite_id"], m), 0))
                    for m in shown
                ],
            )
            for suite in found.suites
        ],
    )
