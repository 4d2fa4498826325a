"""A regulator's webhook subscriptions (journey 5): subscribe a URL to their authority's approval
events, see the signing secret once, rotate it, end the subscription, and follow its deliveries
with every attempt. The secret is never kept by the portal: it is in the one answer to the call
that made it, and the address bar then moves to the subscription's page, which never shows it."""

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.hub import ServiceProblem
from services.portal.pages_regulator import Regulator
from services.portal.session import check_csrf
from services.portal.web import UserApi, attempt, render

router = APIRouter(dependencies=[Depends(check_csrf)])

# What a subscriber may follow (the approvals service refuses any other type); none ticked is all.
EVENT_TYPES = (
    ("gmphub.approvals.approval.submitted.v1", "Submitted"),
    ("gmphub.approvals.approval.review_started.v1", "Taken under review"),
    ("gmphub.approvals.approval.approved.v1", "Approved"),
    ("gmphub.approvals.approval.rejected.v1", "Rejected"),
    ("gmphub.approvals.approval.suspended.v1", "Suspended"),
    ("gmphub.approvals.approval.reinstated.v1", "Reinstated"),
    ("gmphub.approvals.approval.reconfirmation_required.v1", "Reconfirmation required"),
    ("gmphub.approvals.approval.reconfirmed.v1", "Re-confirmed"),
    ("gmphub.approvals.approval.withdrawn.v1", "Withdrawn"),
    ("gmphub.approvals.approval.expired.v1", "Expired"),
    ("gmphub.approvals.approval.drafted.v1", "Drafted"),
    ("gmphub.approvals.letter_of_access.granted.v1", "Letter of access granted"),
    ("gmphub.approvals.letter_of_access.revoked.v1", "Letter of access revoked"),
)
DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")
# A page showing a secret is kept by no cache, nor by the browser's back-forward cache.
NO_STORE = {"Cache-Control": "no-store"}


def event_label(event_type: str) -> str:
    return dict(EVENT_TYPES).get(event_type, event_type)


async def _list(request: Request, api: UserApi, **extra: Any) -> Response:
    found = await attempt(api.get("approvals", "/v1/subscriptions"))
    subscriptions = sorted(found.value or [], key=lambda s: (not s["active"], s["created_at"]))
    return render(
        request, "subscriptions.html", found=found, subscriptions=subscriptions, event_types=EVENT_TYPES,
        event_label=event_label, **{"form": {}, **extra},
    )  # fmt: skip


@router.get("/subscriptions")
async def subscriptions(request: Request, user: Regulator, api: UserApi) -> Response:
    # The approvals API lists a regulator only the subscriptions of their own authority.
    return await _list(request, api)


async def _subscription(
    request: Request, api: UserApi, subscription_id: str, secret: str | None = None, **extra: Any
) -> Response:
    sub, history = await asyncio.gather(
        api.get("approvals", f"/v1/subscriptions/{subscription_id}"),
        attempt(api.get("approvals", f"/v1/subscriptions/{subscription_id}/history")),
    )
    response = render(
        request, "subscription.html", s=sub, history=history, secret=secret, event_label=event_label, **extra
    )
    if secret:
        # The address becomes the subscription's own page: reloading it does not show the secret again.
        response.headers.update(NO_STORE | {"HX-Push-Url": f"/subscriptions/{sub['subscription_id']}"})
    return response


@router.post("/subscriptions")
async def subscribe(request: Request, user: Regulator, api: UserApi) -> Response:
    form = await request.form()
    body = {"url": str(form.get("url") or "").strip(), "event_types": [str(t) for t in form.getlist("event_types")]}
    try:
        created = await api.post("approvals", "/v1/subscriptions", body)
    except ServiceProblem as problem:
        return await _list(request, api, problem=problem, form=body)
    return await _subscription(request, api, created["subscription_id"], secret=created["secret"], fresh="created")


@router.get("/subscriptions/{subscription_id}")
async def subscription(request: Request, subscription_id: str, user: Regulator, api: UserApi) -> Response:
    return await _subscription(request, api, subscription_id)


@router.post("/subscriptions/{subscription_id}/rotate")
async def rotate(request: Request, subscription_id: str, user: Regulator, api: UserApi) -> Response:
    try:
        rotated = await api.post("approvals", f"/v1/subscriptions/{subscription_id}/rotate-secret")
    except ServiceProblem as problem:
        return await _subscription(request, api, subscription_id, problem=problem)
    return await _subscription(request, api, subscription_id, secret=rotated["secret"], fresh="rotated")


@router.post("/subscriptions/{subscription_id}/end")
async def end(request: Request, subscription_id: str, user: Regulator, api: UserApi) -> Response:
    try:
        await api.send("DELETE", "approvals", f"/v1/subscriptions/{subscription_id}", None, None)
    except ServiceProblem as problem:
        return await _subscription(request, api, subscription_id, problem=problem)
    return RedirectResponse(f"/subscriptions/{subscription_id}", status_code=303)


@router.get("/subscriptions/{subscription_id}/deliveries")
async def deliveries(
    request: Request, subscription_id: str, user: Regulator, api: UserApi, status: str = ""
) -> Response:
    """Newest first, each with its attempts; `status` narrows them to one state."""
    chosen = status if status in DELIVERY_STATUSES else ""
    sub, found = await asyncio.gather(
        api.get("approvals", f"/v1/subscriptions/{subscription_id}"),
        attempt(api.get("approvals", f"/v1/subscriptions/{subscription_id}/deliveries", status=chosen, limit=200)),
    )
    return render(
        request, "subscription_deliveries.html", s=sub, found=found, chosen=chosen, statuses=DELIVERY_STATUSES,
        event_label=event_label,
    )  # fmt: skip
