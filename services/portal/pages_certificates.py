"""A regulator's facilities and their GMP certificates (journey 4): the facilities of their
jurisdiction; a facility's certificates and non-compliance statements; issuing, suspending,
reinstating and revoking certificates, each recorded by the registry with who, when and why;
recording non-compliance; and what a suspension does to the facility's bookings, as far as a
regulator may see it (scheduling shows bookings only to their developer and their facility)."""

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.hub import Api, ServiceProblem
from services.portal.pages_regulator import Regulator
from services.portal.session import User, check_csrf
from services.portal.web import UserApi, attempt, render
from shared.authorities import AUTHORITIES, competent_authorities

router = APIRouter(dependencies=[Depends(check_csrf)])
ACTIONS = ("suspend", "reinstate", "revoke")
SEARCH_PAGES = 20  # of 100 facilities each; the list says when the registry holds more


def in_jurisdiction(facility: dict[str, Any], authority: str) -> bool:
    """Whether the registry would let `authority` certify this site (rule `competent_authority`,
    shared/authorities.py): the pages only leave out what it would refuse."""
    return authority in competent_authorities(facility["country"])


def today() -> date:
    return datetime.now(UTC).date()


def in_force(certificate: dict[str, Any], on: date) -> bool:
    """Valid and not past its expiry day: what scheduling counts as certified."""
    return bool(certificate["status"] == "valid" and date.fromisoformat(certificate["expires_on"]) >= on)


async def _search(api: Api, **filters: str) -> dict[str, Any]:
    """Every facility the registry's search finds, deactivated ones too (their certificates can
    still be suspended or revoked). It has no filter by authority, so the pages are read whole."""
    items: list[dict[str, Any]] = []
    total, page = 1, 1
    while len(items) < total and page <= SEARCH_PAGES:
        answer = await api.get(
            "registry", "/v1/facilities", include_inactive="true", page=page, page_size=100, **filters
        )
        items, total, page = items + answer["items"], answer["total"], page + 1
        if not answer["items"]:  # fewer than it said: it changed while being read
            break
    return {"items": items, "total": total}


@router.get("/certificates")
async def facilities(request: Request, user: Regulator, api: UserApi) -> Response:
    found, certified = await asyncio.gather(attempt(_search(api)), attempt(_search(api, certificate_status="valid")))
    authority = str(user.authority)
    mine = [f for f in (found.value or {}).get("items", []) if in_jurisdiction(f, authority)]
    state = AUTHORITIES[authority].state if authority in AUTHORITIES else None
    return render(
        request, "certificates.html", found=found, state=state, certified=certified,
        valid={f["facility_id"] for f in (certified.value or {}).get("items", [])},
        home=[f for f in mine if f["country"] == state], abroad=[f for f in mine if f["country"] != state],
    )  # fmt: skip


def signed_records(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The certificate changes and statements in the facility's history, newest first: who acted,
    when, and the reason they gave (what the registry keeps of a signature)."""
    records = []
    for event in history:
        kind, action = event["type"].split(".")[2:4]
        data = event.get("data") or {}
        if kind == "certificate":
            certificate = data.get("certificate") or {}
            records.append({"what": f"certificate {action}", "number": certificate.get("number"),
                            "reason": certificate.get("reason") if action != "issued" else None,
                            "by": event.get("actor"), "at": event["time"]})  # fmt: skip
        elif kind == "noncompliance":
            records.append({"what": "non-compliance recorded", "number": None, "reason": data.get("summary"),
                            "by": event.get("actor"), "at": event["time"]})  # fmt: skip
    return records[::-1]


async def _facility(
    request: Request,
    facility_id: str,
    user: User,
    api: Api,
    *,
    problem: ServiceProblem | None = None,
    where: str | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    """The facility's page; after a refusal, the service's `problem` beside the form it came from
    (`where`), that form as it was filled in."""
    facility, history, vocabularies = await asyncio.gather(
        attempt(api.get("registry", f"/v1/facilities/{facility_id}")),
        attempt(api.get("registry", f"/v1/facilities/{facility_id}/history")),
        attempt(api.get("registry", "/v1/vocabularies")),
    )
    if facility.problem:
        raise facility.problem
    f: dict[str, Any] = facility.value or {}
    on = today()
    certificates = sorted(f["certificates"], key=lambda c: c["issued_on"], reverse=True)
    certified = [c for c in certificates if in_force(c, on)]
    others = {c["certificate_id"]: [o["number"] for o in certified if o is not c] for c in certificates}
    signable = [c for c in certificates if c["authority"] == user.authority and c["status"] in ("valid", "suspended")]
    # A refusal about a certificate no longer signable (revoked meanwhile) shows above the table.
    shown = {f"certificate-{c['certificate_id']}" for c in signable}
    stray = problem if where and where.startswith("certificate-") and where not in shown else None
    status_code = (problem.status or 502) if problem else 200  # 502: the registry did not answer
    return render(
        request, "facility_certificates.html", status_code=status_code, f=f, certificates=certificates,
        certified=certified, others_in_force=others, signable=signable, stray=stray,
        ours=in_jurisdiction(f, str(user.authority)),
        vocabularies=vocabularies, history=history,
        records=signed_records(history.value) if history.value is not None else None,
        today=on.isoformat(), problem=problem, where=where, form=form or {},
    )  # fmt: skip


@router.get("/certificates/facilities/{facility_id}")
async def facility(request: Request, facility_id: str, user: Regulator, api: UserApi) -> Response:
    return await _facility(request, facility_id, user, api)


async def _act(
    request: Request, facility_id: str, user: User, api: Api, path: str, body: dict[str, Any], where: str
) -> Response:
    """Do it and show the facility as it now stands, or the page again with the service's refusal."""
    try:
        await api.post("registry", path, body)
    except ServiceProblem as problem:
        return await _facility(request, facility_id, user, api, problem=problem, where=where, form=body)
    return RedirectResponse(f"/certificates/facilities/{facility_id}#{where}", status_code=303)


@router.post("/certificates/facilities/{facility_id}/issue")
async def issue(request: Request, facility_id: str, user: Regulator, api: UserApi) -> Response:
    form = await request.form()
    body: dict[str, Any] = {
        "number": str(form.get("number") or "").strip(),
        "issued_on": form.get("issued_on") or None,
        "expires_on": form.get("expires_on") or None,
        "atmp_types": form.getlist("atmp_types"),
        "operations": form.getlist("operations"),
    }
    return await _act(request, facility_id, user, api, f"/v1/facilities/{facility_id}/certificates", body, "issue")


@router.post("/certificates/facilities/{facility_id}/noncompliance")
async def noncompliance(request: Request, facility_id: str, user: Regulator, api: UserApi) -> Response:
    form = await request.form()
    body: dict[str, Any] = {
        "summary": str(form.get("summary") or "").strip(),
        "certificate_id": form.get("certificate_id") or None,
    }
    path = f"/v1/facilities/{facility_id}/noncompliance"
    return await _act(request, facility_id, user, api, path, body, "noncompliance")


@router.post("/certificates/facilities/{facility_id}/{certificate_id}/{action}")
async def change(
    request: Request, facility_id: str, certificate_id: str, action: str, user: Regulator, api: UserApi
) -> Response:
    """Suspend, reinstate or revoke: the registry records who, when and the reason."""
    if action not in ACTIONS:
        return render(request, "problem.html", status_code=404, title="Not found", detail="No such action.")
    form = await request.form()
    body: dict[str, Any] = {"reason": str(form.get("reason") or "").strip() or None}
    path = f"/v1/certificates/{certificate_id}/{action}"
    return await _act(request, facility_id, user, api, path, body, f"certificate-{certificate_id}")
