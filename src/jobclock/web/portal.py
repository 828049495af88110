"""What every portal handler needs (:class:`Portal`) and the small helpers they share.

The handler modules (``pages``, ``editor``, ``audit_page``) import this module only;
:mod:`jobclock.web.routes` imports them to build the route table, so nothing imports back.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from jobclock import describe
from jobclock.access import AccessService
from jobclock.api.middleware import AUDIT_ACTOR, AUDIT_RESOURCE, AUDIT_VIA, IDENTITY
from jobclock.codec.calendar import calendar_properties_to_json
from jobclock.codec.notification import endpoint_to_json
from jobclock.domain.access import Identity, Permission, permits
from jobclock.domain.collection import NAME_HTML_PATTERN, NAME_RULE
from jobclock.ports import Clock
from jobclock.refs import CalendarView, CollectionRef, EndpointView, JobRef
from jobclock.services import SchedulerService
from jobclock.web import delivery
from jobclock.web.session import COOKIE


class Portal:
    """What every page handler needs: the service, access, the clock and templates."""

    def __init__(self, service: SchedulerService, access: AccessService, clock: Clock) -> None:
        self.service = service
        self.access = access
        self.clock = clock
        self.templates = Environment(
            loader=PackageLoader("jobclock.web", "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(
            describe_recurrence=partial(describe.describe_recurrence, cmdlet=False),
            describe_end=describe.describe_end,
            describe_action=describe.describe_action,
            describe_retry=describe.describe_retry,
            describe_events=describe.describe_events,
            describe_expect_run_within=describe.describe_expect_run_within,
            max_interval=delivery.max_interval,
            max_age=delivery.max_age,
            attempt_timeout=delivery.attempt_timeout,
            delivery_notes=delivery.delivery_notes,
            when=describe.when,
            quote=lambda text: quote(str(text), safe=""),
            name_pattern=NAME_HTML_PATTERN,
            name_rule=NAME_RULE,
            number_text=number_text,
        )

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        cookie = request.cookies.get(COOKIE, "")
        identity = self.identity(request)
        context.setdefault("message", request.query_params.get("done"))
        context.setdefault("error_message", None)
        html = self.templates.get_template(template).render(
            request=request,
            csrf=self.access.csrf(cookie) if cookie and identity else "",
            signed_in=identity is not None,
            identity=identity,
            can_operate=identity is not None and permits(identity.role, Permission.OPERATE),
            can_administer=identity is not None and permits(identity.role, Permission.ADMINISTER),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=_PAGE_HEADERS)

    @staticmethod
    def identity(request: Request) -> Identity | None:
        """Who the request's session stands for (set by the guard of every page)."""
        identity = request.scope.get("state", {}).get(IDENTITY)
        return identity if isinstance(identity, Identity) else None

    async def form(self, request: Request) -> dict[str, str]:
        """The url-encoded form of a POST, last value of each field."""
        body = (await request.body()).decode("utf-8", errors="replace")
        return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}

    def csrf_ok(self, request: Request, candidate: str | None) -> bool:
        cookie = request.cookies.get(COOKIE, "")
        return self.access.csrf_matches(cookie, candidate)

    @staticmethod
    def audit(request: Request, *, resource: str | None = None, actor: str | None = None) -> None:
        """Name what the audit trail records for this request (see AuditMiddleware)."""
        state = request.scope.setdefault("state", {})
        state[AUDIT_VIA] = "portal"
        if resource is not None:
            state[AUDIT_RESOURCE] = resource
        if actor is not None:
            state[AUDIT_ACTOR] = actor


def arm_id(params: Mapping[str, str]) -> str:
    """The ARM id of the collection or job a portal path names."""
    path = (
        f"/subscriptions/{params['sub']}/resourceGroups/{params['rg']}"
        f"/providers/Microsoft.Scheduler/jobCollections/{params['collection']}"
    )
    return path + (f"/jobs/{params['job']}" if "job" in params else "")


def collection_ref(request: Request) -> CollectionRef:
    params = request.path_params
    return CollectionRef(params["sub"], params["rg"], params["collection"])


def job_ref(request: Request) -> JobRef:
    return JobRef(collection_ref(request), request.path_params["job"])


def collection_url(ref: CollectionRef) -> str:
    parts = (ref.subscription, ref.resource_group, ref.name)
    return "/c/" + "/".join(quote(part, safe="") for part in parts)


def job_url(ref: JobRef) -> str:
    return collection_url(ref.collection) + "/jobs/" + quote(ref.name, safe="")


# No caching of pages, no framing by other sites, no sniffing; scripts and styles only
# from this server (the page's JSON data is not a script).
_PAGE_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "content-security-policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
}


def calendar_row(ref: CollectionRef, view: CalendarView) -> dict[str, Any]:
    properties = calendar_properties_to_json(view.calendar)
    return {
        "name": view.name,
        "url": f"{collection_url(ref)}/calendars/{view.name}",
        "time_zone": properties.get("timeZone"),
        "week_days": properties["weekDays"],
        "dates": properties["dates"],
    }


def form_of(row: dict[str, Any]) -> dict[str, str]:
    """A listed calendar as the form's fields (to edit it)."""
    form = {
        "name": row["name"],
        "time_zone": row["time_zone"] or "",
        "dates": "\n".join(row["dates"]),
    }
    form |= {f"day_{day}": "on" for day in row["week_days"]}
    return form


def endpoint_row(ref: CollectionRef, view: EndpointView) -> dict[str, Any]:
    """A notification endpoint as the portal lists it; its keys are never part of it."""
    properties = endpoint_to_json(view.endpoint)
    return {
        "name": view.name,
        "url": f"{collection_url(ref)}/notifications/{quote(view.name, safe='')}",
        "uri": properties["uri"],
        "events": properties["events"],
        "late_after": properties["lateAfter"],
        "signed": describe.describe_endpoint_signing(properties) is not None,
    }


def endpoint_form_of(row: dict[str, Any]) -> dict[str, str]:
    """A listed endpoint as the form's fields (to edit it); the key fields stay empty."""
    form = {"name": row["name"], "uri": row["uri"], "late_after": row["late_after"]}
    form |= {f"event_{event}": "on" for event in row["events"]}
    return form


# Empty rows the host limits form has below the stored rules: without scripts, the way to
# add rules (a script adds rows on demand).
BLANK_HOST_LIMIT_ROWS = 2
MAX_HOST_LIMIT_ROWS = 50


def number_text(value: object) -> str:
    """A number as a form field holds it: ``2.5``, ``10`` (not ``10.0``), every digit kept."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def host_limits_form_of(properties: Mapping[str, Any]) -> list[dict[str, str]]:
    """A collection's ``hostLimits`` as the form's rows (to edit them), and empty rows to
    add rules in."""
    rows = [
        {
            "host": str(rule.get("host", "")),
            "concurrency": number_text(rule.get("concurrency")),
            "rate": number_text(rule.get("ratePerSecond")),
        }
        for rule in properties.get("hostLimits") or ()
    ]
    blank = max(0, min(BLANK_HOST_LIMIT_ROWS, MAX_HOST_LIMIT_ROWS - len(rows)))
    return rows + [{"host": "", "concurrency": "", "rate": ""} for _ in range(blank)]
