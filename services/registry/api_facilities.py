"""Registry HTTP API under /v1: vocabularies, facilities (search, profile, history) and suites.
Certificates are in api_certificates.py."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response, status

from services.registry import facilities, queries
from services.registry.certificates import certificate_state
from services.registry.domain import VOCABULARIES, CertificateStatus, FacilityProfile, SuiteSpec
from services.registry.events import FacilityState, SuiteState
from services.registry.schemas import (
    FacilityDetail,
    FacilityIn,
    FacilityPage,
    FacilityPatch,
    NonComplianceOut,
    ReasonIn,
    SuiteIn,
    SuitePatch,
    Vocabularies,
)
from shared.auth import CurrentPrincipal, Principal, Role
from shared.problems import PreconditionFailed, PreconditionRequired
from shared.service import Context, ServiceContext

router = APIRouter(prefix="/v1")
IfMatch = Annotated[str | None, Header(description="The facility's ETag from your last read; a stale one gets 412.")]


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None, *, required: bool) -> int | None:
    """The facility version an If-Match header names (None for `*` or, where optional, none)."""
    if if_match is None:
        if required:
            raise PreconditionRequired(
                "Send If-Match with the facility's ETag (from GET /v1/facilities/{id}) so that concurrent "
                "edits cannot overwrite each other."
            )
        return None
    value = if_match.strip()
    if value == "*":
        return None
    try:
        return int(value.removeprefix("W/").strip('"'))
    except ValueError:
        raise PreconditionFailed(f"If-Match {if_match!r} is not an ETag this service issued.") from None


@router.get("/vocabularies", response_model=Vocabularies, tags=["vocabularies"],
            summary="The controlled vocabularies every term is checked against")  # fmt: skip
async def vocabularies(principal: CurrentPrincipal) -> Vocabularies:
    return vocabulary_terms()


def vocabulary_terms() -> Vocabularies:
    """Every vocabulary and its labels (the public directory offers them too)."""
    terms = {name: [{"term": t, "label": label} for t, label in vocab.items()] for name, vocab in VOCABULARIES.items()}
    terms["certificate_statuses"] = [{"term": s.value, "label": s.value} for s in CertificateStatus]
    return Vocabularies.model_validate(terms)


# --- facilities ----------------------------------------------------------------------------------


@router.post("/facilities", status_code=status.HTTP_201_CREATED, response_model=FacilityState,
             tags=["facilities"], summary="Onboard a facility (admin)")  # fmt: skip
async def register_facility(
    body: FacilityIn, principal: CurrentPrincipal, context: Context, response: Response
) -> FacilityState:
    principal.require_role(Role.ADMIN)
    profile = FacilityProfile(**body.model_dump())
    async with context.db.unit_of_work(principal.actor) as uow:
        facility = await facilities.register_facility(uow, profile)
        await uow.commit()
    response.headers["ETag"] = etag(facility.version)
    return facilities.facility_state(facility)


@router.get("/facilities", response_model=FacilityPage, tags=["facilities"],
            summary="Search facilities by country, capability, cleanroom grade and certification")  # fmt: skip
async def search_facilities(
    principal: CurrentPrincipal,
    context: Context,
    country: Annotated[str | None, Query(description="ISO 3166-1 alpha-2", examples=["DE"])] = None,
    atmp_type: Annotated[str | None, Query(description="A live suite can make this ATMP type")] = None,
    process: Annotated[str | None, Query(description="A live suite runs this process or platform")] = None,
    cleanroom_grade: Annotated[str | None, Query(description="A live suite has this grade")] = None,
    operation: Annotated[
        str | None, Query(description="A certificate (valid, unless certificate_status says otherwise) covers it")
    ] = None,
    certificate_status: Annotated[
        str | None, Query(description="The facility holds a certificate in this status")
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="Part of the legal name or city")] = None,
    oms_organisation_id: Annotated[
        str | None, Query(max_length=20, description="EMA OMS organisation id (ORG-100001699 or the digits)")
    ] = None,
    oms_location_id: Annotated[
        str | None, Query(max_length=20, description="EMA OMS location id (LOC-100000151 or the digits)")
    ] = None,
    eudragmdp_ref: Annotated[
        str | None,
        Query(max_length=100, description="A EudraGMDP reference of the facility, its certificates or statements"),
    ] = None,
    include_inactive: bool = False,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> FacilityPage:
    search = queries.FacilitySearch(
        country=country, atmp_type=atmp_type, process=process, cleanroom_grade=cleanroom_grade, operation=operation,
        certificate_status=certificate_status, q=q, oms_organisation_id=oms_organisation_id,
        oms_location_id=oms_location_id, eudragmdp_ref=eudragmdp_ref, include_inactive=include_inactive, page=page,
        page_size=page_size,
    )  # fmt: skip
    async with context.db.sessions() as session:
        found, total = await queries.search_facilities(session, search)
    items = [facilities.facility_state(f) for f in found]
    return FacilityPage(items=items, total=total, page=page, page_size=page_size)


@router.get("/facilities/{facility_id}", response_model=FacilityDetail, tags=["facilities"],
            summary="Read a facility with its suites, certificate history and non-compliance statements")  # fmt: skip
async def read_facility(
    facility_id: UUID, principal: CurrentPrincipal, context: Context, response: Response
) -> FacilityDetail:
    async with context.db.sessions() as session:
        record = await queries.facility_record(session, facility_id)
    response.headers["ETag"] = etag(record.facility.version)
    facility = record.facility
    return FacilityDetail(
        **facilities.facility_state(facility).model_dump(),
        updated_at=facility.updated_at,
        updated_by=facility.updated_by,
        deactivation_reason=facility.deactivation_reason,
        suites=[facilities.suite_state(s) for s in record.suites],
        certificates=[certificate_state(c) for c in record.certificates],
        noncompliance=[
            NonComplianceOut(statement_id=s.id, **s.model_dump(exclude={"id"})) for s in record.noncompliance
        ],
    )


@router.patch("/facilities/{facility_id}", response_model=FacilityState, tags=["facilities"],
              summary="Change a facility's profile (admin or its own facility users; If-Match required)")  # fmt: skip
async def update_facility(
    facility_id: UUID,
    body: FacilityPatch,
    principal: CurrentPrincipal,
    context: Context,
    response: Response,
    if_match: IfMatch = None,
) -> FacilityState:
    principal.require_facility(str(facility_id))
    expected = expected_version(if_match, required=True)  # None for If-Match: * ("whatever it is now")
    changes = body.changes()
    async with context.db.unit_of_work(principal.actor) as uow:
        facility = await facilities.update_profile(
            uow, facility_id, changes, expected_version=expected, by_admin=principal.is_admin
        )
        await uow.commit()
    response.headers["ETag"] = etag(facility.version)
    return facilities.facility_state(facility)


async def _set_active(
    active: bool,
    facility_id: UUID,
    body: ReasonIn,
    principal: Principal,
    context: ServiceContext,
    response: Response,
    if_match: str | None,
) -> FacilityState:
    principal.require_role(Role.ADMIN)
    expected = expected_version(if_match, required=False)
    async with context.db.unit_of_work(principal.actor) as uow:
        facility = await facilities.set_facility_active(
            uow, facility_id, active, body.reason, expected_version=expected
        )
        await uow.commit()
    response.headers["ETag"] = etag(facility.version)
    return facilities.facility_state(facility)


@router.post("/facilities/{facility_id}/deactivate", response_model=FacilityState, tags=["facilities"],
             summary="Deactivate a facility with a reason (admin); its history is kept")  # fmt: skip
async def deactivate_facility(
    facility_id: UUID,
    body: ReasonIn,
    principal: CurrentPrincipal,
    context: Context,
    response: Response,
    if_match: IfMatch = None,
) -> FacilityState:
    return await _set_active(False, facility_id, body, principal, context, response, if_match)


@router.post("/facilities/{facility_id}/reactivate", response_model=FacilityState, tags=["facilities"],
             summary="Reactivate a deactivated facility with a reason (admin)")  # fmt: skip
async def reactivate_facility(
    facility_id: UUID,
    body: ReasonIn,
    principal: CurrentPrincipal,
    context: Context,
    response: Response,
    if_match: IfMatch = None,
) -> FacilityState:
    return await _set_active(True, facility_id, body, principal, context, response, if_match)


@router.get("/facilities/{facility_id}/history", tags=["facilities"],
            summary="Every change to the facility, its suites and certificates: who, when, what")  # fmt: skip
async def facility_history(facility_id: UUID, principal: CurrentPrincipal, context: Context) -> list[dict]:
    async with context.db.sessions() as session:
        return await queries.facility_history(session, facility_id)


# --- suites --------------------------------------------------------------------------------------


@router.post("/facilities/{facility_id}/suites", status_code=status.HTTP_201_CREATED, response_model=SuiteState,
             tags=["suites"], summary="Add a suite with its capabilities (the facility's users or admin)")  # fmt: skip
async def add_suite(
    facility_id: UUID, body: SuiteIn, principal: CurrentPrincipal, context: Context, response: Response
) -> SuiteState:
    principal.require_facility(str(facility_id))
    spec = SuiteSpec(**body.model_dump())
    async with context.db.unit_of_work(principal.actor) as uow:
        facility, suite = await facilities.add_suite(uow, facility_id, spec)
        await uow.commit()
    response.headers["ETag"] = etag(facility.version)
    return facilities.suite_state(suite)


@router.patch("/facilities/{facility_id}/suites/{suite_id}", response_model=SuiteState, tags=["suites"],
              summary="Change a suite's capabilities (the facility's users or admin; If-Match honoured)")  # fmt: skip
async def update_suite(
    facility_id: UUID,
    suite_id: UUID,
    body: SuitePatch,
    principal: CurrentPrincipal,
    context: Context,
    response: Response,
    if_match: IfMatch = None,
) -> SuiteState:
    principal.require_facility(str(facility_id))
    expected = expected_version(if_match, required=False)
    changes = body.changes()
    async with context.db.unit_of_work(principal.actor) as uow:
        facility, suite = await facilities.update_suite(uow, facility_id, suite_id, changes, expected_version=expected)
        await uow.commit()
    response.headers["ETag"] = etag(facility.version)
    return facilities.suite_state(suite)


@router.post("/facilities/{facility_id}/suites/{suite_id}/retire", response_model=SuiteState, tags=["suites"],
             summary="Retire a suite with a reason (the facility's users or admin); it is kept")  # fmt: skip
async def retire_suite(
    facility_id: UUID, suite_id: UUID, body: ReasonIn, principal: CurrentPrincipal, context: Context, response: Response
) -> SuiteState:
    principal.require_facility(str(facility_id))
    async with context.db.unit_of_work(principal.actor) as uow:
        facility, suite = await facilities.retire_suite(uow, facility_id, suite_id, body.reason)
        await uow.commit()
    response.headers["ETag"] = etag(facility.version)
    return facilities.suite_state(suite)
