"""Registry HTTP API under /v1/public: the public directory, read without a token. It lists only
active facilities holding a certificate valid today, with only the fields the README names public
(`PublicFacility`): nothing about people, contacts, reasons or non-compliance."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from services.registry import models, queries
from services.registry.api_facilities import vocabulary_terms
from services.registry.schemas import (
    PublicCertificate,
    PublicFacility,
    PublicFacilityPage,
    PublicStatusChange,
    PublicSuite,
    Vocabularies,
)
from shared.service import Context

router = APIRouter(prefix="/v1/public", tags=["public"])


def public_facility(listed: queries.Listed) -> PublicFacility:
    """Field by field, so that a column added to the tables is never published by accident."""
    f = listed.facility
    return PublicFacility(
        facility_id=f.id, legal_name=f.legal_name, kind=f.kind, country=f.country, city=f.city,
        suites=[_suite(s) for s in listed.suites],
        certificates=[_certificate(c, listed.changes.get(c.id, [])) for c in listed.certificates],
    )  # fmt: skip


def _suite(s: models.Suite) -> PublicSuite:
    return PublicSuite(
        suite_id=s.id, name=s.name, cleanroom_grade=s.cleanroom_grade, atmp_types=s.atmp_types,
        processes=s.processes, qc_tests=s.qc_tests, qp_release=s.qp_release,
    )  # fmt: skip


def _certificate(c: models.Certificate, changes: list[tuple[str, object]]) -> PublicCertificate:
    return PublicCertificate(
        certificate_id=c.id, number=c.number, authority=c.authority, status=c.status, issued_on=c.issued_on,
        expires_on=c.expires_on, atmp_types=c.atmp_types, operations=c.operations,
        history=[PublicStatusChange.model_validate({"status": s, "changed_at": at}) for s, at in changes],
    )  # fmt: skip


@router.get("/vocabularies", response_model=Vocabularies,
            summary="The controlled vocabularies the directory's filters take, with their labels (no token)")  # fmt: skip
async def vocabularies() -> Vocabularies:
    return vocabulary_terms()


@router.get("/facilities", response_model=PublicFacilityPage,
            summary="The public directory: active facilities with a valid GMP certificate, by capability (no token)")  # fmt: skip
async def directory(
    context: Context,
    country: Annotated[str | None, Query(description="ISO 3166-1 alpha-2", examples=["DE"])] = None,
    atmp_type: Annotated[str | None, Query(description="A live suite can make this ATMP type")] = None,
    process: Annotated[str | None, Query(description="A live suite runs this process or platform")] = None,
    cleanroom_grade: Annotated[str | None, Query(description="A live suite has this grade")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PublicFacilityPage:
    search = queries.FacilitySearch(
        country=country, atmp_type=atmp_type, process=process, cleanroom_grade=cleanroom_grade,
        page=page, page_size=page_size,
    )  # fmt: skip
    async with context.db.sessions() as session:
        found, total = await queries.directory(session, search)
    return PublicFacilityPage(items=[public_facility(f) for f in found], total=total, page=page, page_size=page_size)


@router.get("/facilities/{facility_id}", response_model=PublicFacility,
            summary="A facility of the public directory: suites, every certificate and its status history (no token)")  # fmt: skip
async def directory_entry(facility_id: UUID, context: Context) -> PublicFacility:
    async with context.db.sessions() as session:
        return public_facility(await queries.directory_entry(session, facility_id))
