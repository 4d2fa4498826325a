"""The public directory (journey 10), open to anyone without signing in: active facilities with a
valid GMP certificate, searched by country, ATMP type, process and cleanroom grade; a facility's
page with its capabilities, its certificates' status and history, and its open capacity by month.
It calls the services' public reads without a token, so it shows only what they publish as public
(registry's README says which fields): nothing about bookings, developers or approvals."""

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.portal.hub import Api
from services.portal.web import attempt, is_htmx, render, templates, words

router = APIRouter()
FILTERS = ("country", "atmp_type", "process", "cleanroom_grade")
PAGE_SIZE = 20


def anonymous_api(request: Request) -> Api:
    """The hub without a token: a signed-in visitor sees the directory as everyone does."""
    return Api(request.app.state.hub, None)


PublicApi = Annotated[Api, Depends(anonymous_api)]


def labels_of(vocabularies: dict[str, Any] | None) -> dict[str, str]:
    """Each vocabulary term's label (`somatic_cell_therapy` -> `Somatic cell therapy`)."""
    return {t["term"]: t["label"] for terms in (vocabularies or {}).values() for t in terms}


def term(value: str, labels: dict[str, str]) -> str:
    """A term by its label, or in words where the vocabularies did not answer."""
    return labels.get(value) or words(value)


def month(value: str) -> str:
    """`2027-03` -> `Mar 2027`."""
    return datetime.strptime(value, "%Y-%m").strftime("%b %Y")


templates.env.filters["term"] = term
templates.env.filters["month"] = month


@router.get("/directory")
async def directory(
    request: Request,
    api: PublicApi,
    country: str | None = None,
    atmp_type: str | None = None,
    process: str | None = None,
    cleanroom_grade: str | None = None,
    page: int = 1,
) -> Response:
    page = max(page, 1)
    chosen = {"country": country, "atmp_type": atmp_type, "process": process, "cleanroom_grade": cleanroom_grade}
    vocabularies, found = await asyncio.gather(
        attempt(api.get("registry", "/v1/public/vocabularies")),
        attempt(api.get("registry", "/v1/public/facilities", **chosen, page=page, page_size=PAGE_SIZE)),
    )
    context: dict[str, Any] = {
        "chosen": chosen, "found": found, "page": page, "page_size": PAGE_SIZE,
        "labels": labels_of(vocabularies.value),
        "query": {k: v for k, v in chosen.items() if v},
    }  # fmt: skip
    if is_htmx(request) and request.headers.get("hx-target") == "directory-results":
        return render(request, "directory_results.html", **context)
    return render(request, "directory.html", vocabularies=vocabularies, **context)


@router.get("/directory/{facility_id}")
async def facility(request: Request, facility_id: str, api: PublicApi) -> Response:
    found, capacity, vocabularies = await asyncio.gather(
        attempt(api.get("registry", f"/v1/public/facilities/{facility_id}")),
        attempt(api.get("scheduling", "/v1/public/capacity", facility_id=facility_id)),
        attempt(api.get("registry", "/v1/public/vocabularies")),
    )
    if found.problem:  # not in the directory (or registry is away): the page has nothing to show
        raise found.problem
    f: dict[str, Any] = found.value or {}
    certificates = sorted(f["certificates"], key=lambda c: c["issued_on"], reverse=True)
    return render(
        request, "directory_facility.html", f=f, certificates=certificates, capacity=capacity,
        labels=labels_of(vocabularies.value),
    )  # fmt: skip
