"""A regulator's approvals (journeys 1–3): the work queue of what was filed with their authority,
an approval with its tree and what a child inherits, taking it under review, deciding it (signed:
meaning and reason), and suspending or reinstating a parent after seeing which descendants it
reaches and which bookings rely on them."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.hub import ServiceProblem
from services.portal.pages_approvals import tree
from services.portal.session import CurrentUser, User, WrongRole, check_csrf
from services.portal.web import UserApi, attempt, render

router = APIRouter(dependencies=[Depends(check_csrf)])
QUEUES = (
    ("submitted", "Submitted", "Filed and waiting for someone to take it under review."),
    ("under_review", "Under review", "Being assessed: approve or reject it."),
    ("reconfirmation", "Awaiting reconfirmation", "Its parent changed: confirm it still stands."),
)
SIGNED_ACTIONS = ("suspend", "reinstate", "reconfirm")


def regulator_of(user: CurrentUser) -> User:
    if user.role != "regulator" or not user.authority:
        raise WrongRole("regulator")
    return user


Regulator = Annotated[User, Depends(regulator_of)]


def queues(approvals: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The approvals waiting on the authority, by what they wait for, the longest waiting first
    (`updated_at`: when it was filed, taken under review, or its parent changed)."""
    waiting: dict[str, list[dict[str, Any]]] = {key: [] for key, _, _ in QUEUES}
    for approval in sorted(approvals, key=lambda a: a["updated_at"]):
        if approval["needs_reconfirmation"]:
            waiting["reconfirmation"].append(approval)
        elif approval["status"] in waiting:
            waiting[approval["status"]].append(approval)
    return waiting


@router.get("/review")
async def work_queue(request: Request, user: Regulator, api: UserApi) -> Response:
    # The approvals API shows a regulator only what was filed with their authority.
    found = await attempt(api.get("approvals", "/v1/approvals", limit=200))
    waiting = queues(found.value) if found.value is not None else None
    return render(request, "review_queue.html", found=found, waiting=waiting, queues=QUEUES)


async def _approval(request: Request, approval_id: str, api: UserApi, **extra: Any) -> Response:
    approval, tree_view, decisions, history = await asyncio.gather(
        attempt(api.get("approvals", f"/v1/approvals/{approval_id}")),
        attempt(api.get("approvals", f"/v1/approvals/{approval_id}/tree")),
        attempt(api.get("approvals", f"/v1/approvals/{approval_id}/decisions")),
        attempt(api.get("approvals", f"/v1/approvals/{approval_id}/history")),
    )
    if approval.problem:
        raise approval.problem
    shown: dict[str, Any] = approval.value or {}  # never empty: it was found
    if shown["status"] == "suspended" and tree_view.value:
        extra |= await _reinstatement(api, shown, tree_view.value["descendants"])
    return render(
        request, "review.html", a=shown, root=tree(tree_view.value) if tree_view.value else None,
        tree_view=tree_view, decisions=decisions, history=history, **extra,
    )  # fmt: skip


async def _reinstatement(api: UserApi, approval: dict[str, Any], descendants: list[dict[str, Any]]) -> dict[str, Any]:
    """Before reinstating: the descendants its suspension suspended (exactly those come back; the
    tree does not say whose suspension a `suspended_by_parent` follows, each approval does), and the
    live bookings relying on it or on them."""
    followers = [d for d in descendants if d["status"] == "suspended_by_parent"]
    states = await asyncio.gather(
        *(attempt(api.get("approvals", f"/v1/approvals/{d['approval_id']}")) for d in followers)
    )
    restored = [s.value for s in states if s.value and s.value["suspended_by"] == approval["approval_id"]]
    titles = {approval["approval_id"]: approval["title"]} | {d["approval_id"]: d["title"] for d in restored}
    return {"restored": restored, "titles": titles, "relying": await attempt(_relying(api, list(titles)))}


@router.get("/review/{approval_id}")
async def review(request: Request, approval_id: str, user: Regulator, api: UserApi) -> Response:
    return await _approval(request, approval_id, api)


async def _act(request: Request, approval_id: str, api: UserApi, action: str, body: dict[str, Any]) -> Response:
    """Do it and show the approval as it now stands, or the page again with the service's refusal."""
    try:
        await api.post("approvals", f"/v1/approvals/{approval_id}/{action}", body)
    except ServiceProblem as problem:
        return await _approval(request, approval_id, api, problem=problem, form=body)
    return RedirectResponse(f"/review/{approval_id}", status_code=303)


@router.post("/review/{approval_id}/start")
async def start_review(request: Request, approval_id: str, user: Regulator, api: UserApi) -> Response:
    return await _act(request, approval_id, api, "review", {})


def assessment_of(text: str) -> dict[str, str]:
    """`part: conclusion`, one a line (what a child building on this approval may rely on)."""
    lines = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {part.strip(): conclusion.strip() for part, conclusion in lines if part.strip() and conclusion.strip()}


@router.post("/review/{approval_id}/decision")
async def decide(request: Request, approval_id: str, user: Regulator, api: UserApi) -> Response:
    form = await request.form()
    body: dict[str, Any] = {
        "outcome": form.get("outcome"),
        "meaning": str(form.get("meaning") or "").strip(),
        "reason": str(form.get("reason") or "").strip(),
    }
    if body["outcome"] == "approved":
        body["assessment"] = assessment_of(str(form.get("assessment") or ""))
        body["valid_until"] = form.get("valid_until") or None
    return await _act(request, approval_id, api, "decision", body)


async def _descendants(api: UserApi, approval_id: str) -> list[dict[str, Any]]:
    descendants: list[dict[str, Any]] = (await api.get("approvals", f"/v1/approvals/{approval_id}/tree"))["descendants"]
    return descendants


async def _relying(api: UserApi, approval_ids: list[str]) -> list[dict[str, Any]]:
    """The live bookings relying on these approvals (scheduling shows a regulator those of approvals
    filed with their authority), each with its facility's name where the registry gives it."""
    bookings: list[dict[str, Any]] = await api.get("scheduling", "/v1/bookings/relying", approval_id=approval_ids)
    facility_ids = sorted({b["facility_id"] for b in bookings})
    found = await asyncio.gather(*(attempt(api.get("registry", f"/v1/facilities/{f}")) for f in facility_ids))
    names = {f: o.value["legal_name"] for f, o in zip(facility_ids, found, strict=True) if o.value}
    return [b | {"facility_name": names.get(b["facility_id"], b["facility_id"])} for b in bookings]


@router.get("/review/{approval_id}/suspend")
async def suspension_preview(request: Request, approval_id: str, user: Regulator, api: UserApi) -> Response:
    """Before signing: the approved descendants that the suspension turns `suspended_by_parent`, and
    the live bookings relying on this approval or on them (none of which may then run)."""
    approval, descendants = await asyncio.gather(
        api.get("approvals", f"/v1/approvals/{approval_id}"), attempt(_descendants(api, approval_id))
    )
    reached = [d for d in descendants.value or [] if d["status"] == "approved"]
    titles = {approval_id: approval["title"]} | {d["approval_id"]: d["title"] for d in reached}
    relying = await attempt(_relying(api, list(titles))) if descendants.value is not None else None
    return render(
        request, "review_suspend.html", a=approval, reached=reached, descendants=descendants, relying=relying,
        titles=titles, form={},
    )  # fmt: skip


@router.post("/review/{approval_id}/{action}")
async def signed_action(request: Request, approval_id: str, action: str, user: Regulator, api: UserApi) -> Response:
    """Suspend, reinstate or re-confirm: each an electronic signature (meaning and reason)."""
    if action not in SIGNED_ACTIONS:
        return render(request, "problem.html", status_code=404, title="Not found", detail="No such action.")
    form = await request.form()
    body = {"meaning": str(form.get("meaning") or "").strip(), "reason": str(form.get("reason") or "").strip()}
    return await _act(request, approval_id, api, action, body)
