"""What every page shares: the templates, the signed-in user's API, navigation by role, and
`attempt`, which turns a service's refusal or absence into a message beside the rest of the page."""

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.portal.hub import Api, ServiceProblem
from services.portal.session import CurrentUser, csrf_token, signed_in

T = TypeVar("T")
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

NAVIGATION = {
    "developer": [
        ("/capacity", "Find capacity"),
        ("/bookings", "My bookings"),
        ("/waitlist", "Waitlist"),
        ("/approvals", "Approvals"),
        ("/materials", "Materials"),
    ],
    "facility": [
        ("/facility/capacity", "Capacity"),
        ("/facility/bookings", "Bookings"),
        ("/facility/inventory", "Inventory"),
        ("/facility/profile", "Profile"),
        ("/materials", "Materials"),
    ],
    "regulator": [
        ("/review", "Work queue"),
        ("/certificates", "Facilities"),
        ("/subscriptions", "Subscriptions"),
        ("/live", "Live events"),
        ("/materials", "Materials"),
    ],
    "admin": [
        ("/operator/health", "Health"),
        ("/operator/facilities", "Facilities"),
        ("/operator/catalogue", "Catalogue"),
        ("/materials", "Materials"),
    ],
}


def when(value: str | datetime | None, style: str = "%a %d %b %Y %H:%M") -> str:
    """A timestamp as people read it (UTC, said so in the layout)."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime(style)


def words(term: str | None) -> str:
    """A vocabulary term or state as words: `materials_short` -> `materials short`."""
    return (term or "").replace("_", " ")


templates.env.filters["when"] = when
templates.env.filters["words"] = words
templates.env.globals["calendar_weeks"] = lambda items: calendar_weeks(items or [])


def calendar_weeks(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Slots or bookings laid out by ISO week, Monday to Sunday, each under the day it starts."""
    weeks: dict[date, list[list[dict[str, Any]]]] = {}
    for item in items:
        day = datetime.fromisoformat(item["starts_at"]).date()
        monday = day - timedelta(days=day.weekday())
        weeks.setdefault(monday, [[] for _ in range(7)])[day.weekday()].append(item)
    return [
        {"monday": monday, "days": [(monday + timedelta(days=i), cells[i]) for i in range(7)]}
        for monday, cells in sorted(weeks.items())
    ]


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    user = signed_in(request)
    links = NAVIGATION.get(user.role, []) if user else []
    nav = [{"href": href, "label": label, "current": request.url.path.startswith(href)} for href, label in links]
    return templates.TemplateResponse(
        request, template, {"user": user, "csrf": csrf_token(request), "nav": nav, **context}, status_code=status_code
    )


def api_for(request: Request, user: CurrentUser) -> Api:
    return Api(request.app.state.hub, user.token)


UserApi = Annotated[Api, Depends(api_for)]


@dataclass
class Outcome(Generic[T]):
    """A service's answer, or the problem that stood in its way."""

    value: T | None = None
    problem: ServiceProblem | None = None


async def attempt(call: Awaitable[T]) -> Outcome[T]:
    try:
        return Outcome(value=await call)
    except ServiceProblem as problem:
        return Outcome(problem=problem)


def public_url(request: Request) -> str:
    """The address people open: as configured, else the one this request came to."""
    configured: str | None = request.app.state.settings.portal_public_url
    return (configured or str(request.base_url)).rstrip("/")


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"
