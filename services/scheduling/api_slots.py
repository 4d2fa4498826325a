"""Scheduling HTTP API under /v1 for finding slots: the available ones, filtered, a page at a time."""

from typing import Annotated
from uuid import UUID

import pydantic_core
from fastapi import APIRouter, Query, Response

from services.scheduling import models, queries
from services.scheduling.domain import SlotFilters
from services.scheduling.schemas import SlotPage
from shared.auth import CurrentPrincipal, Role
from shared.fields import IsoDateTime
from shared.service import Context

router = APIRouter(prefix="/v1")


@router.get("/slots", response_model=SlotPage, tags=["slots"],
            summary="Available slots (open, facility certified), filtered, sorted by start, a page at a time")  # fmt: skip
async def find_slots(
    principal: CurrentPrincipal,
    context: Context,
    starts_from: Annotated[IsoDateTime | None, Query(description="Slots starting at or after (default: now)")] = None,
    ends_before: Annotated[IsoDateTime | None, Query(description="Slots ending at or before")] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    atmp_type: Annotated[str | None, Query(examples=["gene_therapy"])] = None,
    process: Annotated[str | None, Query(description="A process or capability of the suite")] = None,
    cleanroom_grade: Annotated[str | None, Query(examples=["B"])] = None,
    facility_id: UUID | None = None,
    suite_id: UUID | None = None,
    after: Annotated[str | None, Query(description="The `next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    principal.require_role(Role.DEVELOPER, Role.FACILITY, Role.REGULATOR)
    filters = SlotFilters(
        starts_from=starts_from or models.now(),
        ends_before=ends_before,
        country=country,
        atmp_type=atmp_type,
        process=process,
        cleanroom_grade=cleanroom_grade,
        facility_id=facility_id,
        suite_id=suite_id,
    )
    rows, next_cursor = await queries.search_slots(context.db, filters, after=after, limit=limit)
    # The rows are typed by their columns already, as `SlotPage` declares them: written out as they
    # are, not validated into models first (the search's largest cost after the query).
    page = {"items": [dict(row) for row in rows], "next_cursor": next_cursor}
    return Response(pydantic_core.to_json(page), media_type="application/json")
