"""A developer's approvals (journey 6): draft a parent (a platform) or a child that builds on one,
submit it, follow its status (polled while a regulator has it), and see where it sits in its
parent–child tree, drawn as a tree."""

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.hub import ServiceProblem
from services.portal.session import Developer, check_csrf
from services.portal.signin import AUTHORITIES
from services.portal.web import UserApi, attempt, is_htmx, render

router = APIRouter(dependencies=[Depends(check_csrf)])
COVERS = ("platform", "product", "site", "indication", "variation")
IN_PROGRESS = ("submitted", "under_review")  # a regulator has it: the page keeps asking


def tree(view: dict[str, Any]) -> dict[str, Any]:
    """The approval's tree as nested nodes from its root: its ancestors, itself, its descendants."""
    nodes = [*view["ancestors"], view["approval"], *view["descendants"]]
    by_parent: dict[str | None, list[dict[str, Any]]] = {}
    for node in nodes:
        by_parent.setdefault(node["parent_id"], []).append(node)

    def grow(node: dict[str, Any]) -> dict[str, Any]:
        return {**node, "children": [grow(c) for c in by_parent.get(node["approval_id"], [])]}

    return grow(nodes[0])


async def _list(request: Request, user: Developer, api: UserApi, **extra: Any) -> Response:
    approvals, facilities = await asyncio.gather(
        attempt(api.get("approvals", "/v1/approvals", holder_org_id=user.org_id, limit=200)),
        attempt(api.get("registry", "/v1/facilities", page_size=100)),
    )
    return render(
        request, "approvals.html", approvals=approvals, facilities=facilities, covers=COVERS,
        authorities=AUTHORITIES, **extra,
    )  # fmt: skip


@router.get("/approvals")
async def approvals(request: Request, user: Developer, api: UserApi) -> Response:
    return await _list(request, user, api, form={})


@router.post("/approvals")
async def draft(request: Request, user: Developer, api: UserApi) -> Response:
    form = await request.form()
    body = {
        "level": form.get("level"),
        "covers": form.get("covers"),
        "title": str(form.get("title") or "").strip(),
        "authority": form.get("authority"),
        "facility_ids": [str(f) for f in form.getlist("facility_id")],
        "parent_id": (form.get("parent_id") or None) if form.get("level") == "child" else None,
    }
    try:
        created = await api.post("approvals", "/v1/approvals", body)
    except ServiceProblem as problem:
        return await _list(request, user, api, form=body, problem=problem)
    return RedirectResponse(f"/approvals/{created['approval_id']}", status_code=303)


async def _approval(request: Request, approval_id: str, api: UserApi, **extra: Any) -> Response:
    approval, tree_view, history = await asyncio.gather(
        attempt(api.get("approvals", f"/v1/approvals/{approval_id}")),
        attempt(api.get("approvals", f"/v1/approvals/{approval_id}/tree")),
        attempt(api.get("approvals", f"/v1/approvals/{approval_id}/history")),
    )
    if approval.problem and not is_htmx(request):
        raise approval.problem
    root = tree(tree_view.value) if tree_view.value else None
    live = bool(approval.value and approval.value["status"] in IN_PROGRESS)
    template = "approval_live.html" if is_htmx(request) else "approval.html"
    return render(
        request, template, approval=approval, root=root, tree_problem=tree_view.problem, history=history,
        live=live, **extra,
    )  # fmt: skip


@router.get("/approvals/{approval_id}")
async def approval(request: Request, approval_id: str, user: Developer, api: UserApi) -> Response:
    return await _approval(request, approval_id, api)


@router.post("/approvals/{approval_id}/submit")
async def submit(request: Request, approval_id: str, user: Developer, api: UserApi) -> Response:
    problem = None
    try:
        await api.post("approvals", f"/v1/approvals/{approval_id}/submit", {})
    except ServiceProblem as refused:
        problem = refused
    return await _approval(request, approval_id, api, problem=problem)
