"""The portal's pages: sign-in, collections, jobs, history."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from jobclock.api.middleware import ANONYMOUS, OPERATION
from jobclock.codec.collection import collection_properties_to_json
from jobclock.codec.explain import explanation_to_json
from jobclock.codec.history import history_properties_to_json
from jobclock.codec.job import job_properties_to_json
from jobclock.domain.access import Operation, Permission
from jobclock.domain.errors import (
    InvalidDefinition,
    NotFound,
    SchedulerError,
    TooManyRequests,
    Unauthorized,
    UnreadableJob,
)
from jobclock.domain.history import HistoryStatus
from jobclock.domain.instants import format_instant, parse_instant
from jobclock.domain.job import JobState
from jobclock.domain.notification import EventType
from jobclock.domain.recurrence import WEEK_ORDER
from jobclock.refs import CollectionRef, JobRef
from jobclock.web.charts import attempts_chart
from jobclock.web.portal import (
    Portal,
    calendar_row,
    collection_ref,
    collection_url,
    endpoint_form_of,
    endpoint_row,
    form_of,
    host_limits_form_of,
    job_ref,
    job_url,
)
from jobclock.web.session import COOKIE

log = logging.getLogger("jobclock.portal")

PAGE_SIZE = 25
SIGN_IN = Operation("jobclock/portal/signIn/action", Permission.READ)
SIGN_OUT = Operation("jobclock/portal/signOut/action", Permission.READ)
JOB_STATES = ("Enabled", "Disabled", "Completed", "Faulted")
HISTORY_STATUSES = ("Completed", "Failed", "Postponed")
# The chart: the last 24 hours in 24 bars.
CHART_WIDTH = timedelta(hours=1)
CHART_BARS = 24
_PLANS = ("Free", "Standard", "P10Premium", "P20Premium", "Unlimited")
_FREQUENCIES = ("Second", "Minute", "Hour", "Day", "Week", "Month")


# -- sign-in -------------------------------------------------------------------------------
async def signin(portal: Portal, request: Request, secure: bool) -> Response:
    target = _local(request.query_params.get("next"))
    if request.method == "GET":
        if await portal.access.session(request.cookies.get(COOKIE)) is not None:
            return RedirectResponse(target, status_code=303)
        return portal.render(request, "signin.html", next=target)
    form = await portal.form(request)
    target = _local(form.get("next"))
    client = request.client.host if request.client else ""
    request.scope.setdefault("state", {})[OPERATION] = SIGN_IN
    try:
        cookie, identity = await portal.access.sign_in(form.get("token", ""), client)
    except (Unauthorized, TooManyRequests) as refused:
        Portal.audit(request, actor=ANONYMOUS)
        log.info("portal.signin_failed", extra={"event": "portal.signin_failed"})
        page = portal.render(
            request,
            "signin.html",
            status=refused.status,
            next=target,
            error_message=refused.message,
        )
        if isinstance(refused, TooManyRequests):
            page.headers["retry-after"] = str(refused.retry_after)
        return page
    Portal.audit(request, actor=identity.name)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(portal.access.session_lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    log.info("portal.signed_in", extra={"event": "portal.signed_in"})
    return response


async def signout(portal: Portal, request: Request) -> Response:
    """End the session everywhere (the row goes, so a copied cookie is refused on every
    node) and drop the cookie."""
    form = await portal.form(request)
    response = RedirectResponse("/signin", status_code=303)
    cookie = request.cookies.get(COOKIE)
    if cookie and portal.csrf_ok(request, form.get("csrf")):
        identity = await portal.access.session(cookie)
        if identity is not None:
            request.scope.setdefault("state", {})[OPERATION] = SIGN_OUT
            Portal.audit(request, actor=identity.name)
        await portal.access.sign_out(cookie)
        response.delete_cookie(COOKIE)
    return response


def _local(target: str | None) -> str:
    """Only a path on this server (``//host`` or ``http:`` would leave it)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# -- collections ---------------------------------------------------------------------------
async def dashboard(portal: Portal, request: Request) -> Response:
    return await _dashboard(portal, request, {}, {})


async def _dashboard(
    portal: Portal,
    request: Request,
    form: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    now = portal.clock.now()
    since = _chart_start(now)
    summaries = await portal.service.list_all_collections(now - timedelta(days=1))
    buckets = await portal.service.attempts_over_time(since, CHART_WIDTH, CHART_BARS)
    subscriptions = sorted({item.view.ref.subscription for item in summaries})
    groups = sorted({item.view.ref.resource_group for item in summaries})
    defaults = {
        "subscription": subscriptions[0] if subscriptions else "default",
        "resource_group": groups[0] if groups else "default",
        "location": "West US",
        "plan": "Standard",
    }
    return portal.render(
        request,
        "dashboard.html",
        status=status,
        collections=[
            {
                "ref": item.view.ref,
                "url": collection_url(item.view.ref),
                "properties": collection_properties_to_json(item.view.collection),
                "jobs": item.jobs,
                "completed": item.completed,
                "failed": item.failed,
                "rate": item.success_rate,
            }
            for item in summaries
        ],
        chart=attempts_chart(buckets, CHART_WIDTH, "Attempts in the last 24 hours, all jobs"),
        form=defaults | form,
        errors=errors,
        plans=_PLANS,
        frequencies=_FREQUENCIES,
    )


async def create_collection(portal: Portal, request: Request) -> Response:
    form = await portal.form(request)
    errors: dict[str, str] = {}
    names = {"subscription": "Subscription", "resource_group": "Resource group", "name": "Name"}
    for key, label in names.items():
        if not form.get(key, "").strip():
            errors[key] = f"{label} is required."
    if errors:
        return await _dashboard(portal, request, form, errors, 400)
    ref = CollectionRef(
        form["subscription"].strip(), form["resource_group"].strip(), form["name"].strip()
    )
    properties: dict[str, Any] = {"sku": {"name": form.get("plan") or "Standard"}}
    quota: dict[str, Any] = {}
    try:
        if form.get("max_jobs"):
            quota["maxJobCount"] = int(form["max_jobs"])
        if form.get("max_frequency"):
            quota["maxRecurrence"] = {
                "frequency": form["max_frequency"],
                "interval": int(form.get("max_interval") or 1),
            }
    except ValueError:
        errors["quota"] = "Quota numbers must be whole numbers."
        return await _dashboard(portal, request, form, errors, 400)
    if quota:
        properties["quota"] = quota
    body = {"location": form.get("location") or "West US", "properties": properties}
    try:
        existing = await _exists(portal, ref)
        if existing:
            errors["name"] = f"A collection named '{ref.name}' already exists here."
            return await _dashboard(portal, request, form, errors, 409)
        await portal.service.put_collection(ref, body)
    except SchedulerError as error:
        errors[_collection_field(error)] = error.message
        return await _dashboard(portal, request, form, errors, error.status)
    return _back(collection_url(ref), f"Collection {ref.name} created.")


async def _exists(portal: Portal, ref: CollectionRef) -> bool:
    try:
        await portal.service.get_collection(ref)
    except NotFound:
        return False
    return True


def _collection_field(error: SchedulerError) -> str:
    field = getattr(error, "field", None) or ""
    if "quota" in field.lower():
        return "quota"
    if "sku" in field.lower() or "plan" in error.message.lower():
        return "plan"
    return "name" if field in ("", "name") else "form"


async def collection(portal: Portal, request: Request) -> Response:
    return await collection_page(portal, request)


async def collection_page(
    portal: Portal,
    request: Request,
    *,
    calendar_form: dict[str, str] | None = None,
    calendar_error: str | None = None,
    endpoint_form: dict[str, str] | None = None,
    endpoint_error: str | None = None,
    host_limit_rows: list[dict[str, str]] | None = None,
    host_limits_error: str | None = None,
    status: int = 200,
) -> Response:
    """The collection's page; a calendar, notification endpoint or host limits form sent
    back with its error, when there is one."""
    ref = collection_ref(request)
    view = await portal.service.get_collection(ref)
    properties = collection_properties_to_json(view.collection)
    calendars = [calendar_row(view.ref, c) for c in await portal.service.calendars.list_all(ref)]
    if calendar_form is None:
        wanted = request.query_params.get("calendar", "").lower()
        chosen = [row for row in calendars if row["name"].lower() == wanted]
        calendar_form = form_of(chosen[0]) if chosen else {}
    endpoints = [
        endpoint_row(view.ref, e) for e in await portal.service.notifications.list_all(ref)
    ]
    if endpoint_form is None:
        wanted = request.query_params.get("notification", "").lower()
        picked = [row for row in endpoints if row["name"].lower() == wanted]
        # A new endpoint hears of every event unless told otherwise.
        endpoint_form = (
            endpoint_form_of(picked[0])
            if picked
            else {f"event_{event.value}": "on" for event in EventType}
        )
    editing = endpoint_form.get("name", "").strip().lower()
    endpoint_signed = any(row["signed"] and row["name"].lower() == editing for row in endpoints)
    state = _choice(request, "state", JOB_STATES)
    search = (request.query_params.get("q") or "").strip()
    page = _page(request)
    listing = await portal.service.list_jobs(
        ref,
        None if state is None else JobState(state),
        PAGE_SIZE,
        page * PAGE_SIZE,
        name_contains=search or None,
    )
    now = portal.clock.now()
    buckets = await portal.service.attempts_over_time(
        _chart_start(now), CHART_WIDTH, CHART_BARS, collection=ref
    )
    completed = sum(bucket.completed for bucket in buckets)
    failed = sum(bucket.failed for bucket in buckets)
    return portal.render(
        request,
        "collection.html",
        ref=view.ref,
        url=collection_url(view.ref),
        properties=properties,
        jobs=[
            {
                "name": item.ref.name,
                "url": job_url(item.ref),
                "properties": job_properties_to_json(item.job),
            }
            for item in listing.items
        ],
        unreadable=[
            {"name": item.ref.name, "url": job_url(item.ref), "reason": item.reason}
            for item in listing.unreadable
        ],
        page=page,
        more=listing.more,
        state=state,
        states=JOB_STATES,
        search=search,
        chart=attempts_chart(buckets, CHART_WIDTH, f"Attempts in the last 24 hours, {ref.name}"),
        success_rate=None if completed + failed == 0 else completed / (completed + failed),
        completed=completed,
        failed=failed,
        calendars=calendars,
        calendar_form=calendar_form,
        calendar_error=calendar_error,
        week_days=[day.value for day in WEEK_ORDER],
        endpoints=endpoints,
        endpoint_form=endpoint_form,
        endpoint_error=endpoint_error,
        endpoint_signed=endpoint_signed,
        event_types=[event.value for event in EventType],
        host_limit_rows=(
            host_limits_form_of(properties) if host_limit_rows is None else host_limit_rows
        ),
        host_limits_error=host_limits_error,
        status=status,
    )


async def collection_state(portal: Portal, request: Request) -> Response:
    ref = collection_ref(request)
    form = await portal.form(request)
    if form.get("state") == "Enabled":
        await portal.service.enable_collection(ref)
        return _back(collection_url(ref), f"Collection {ref.name} enabled.")
    await portal.service.disable_collection(ref)
    return _back(collection_url(ref), f"Collection {ref.name} disabled: no job runs.")


async def delete_collection(portal: Portal, request: Request) -> Response:
    ref = collection_ref(request)
    view = await portal.service.get_collection(ref)
    url = collection_url(view.ref)
    if request.method == "GET":
        return _confirm_delete(
            portal, request, f"collection {view.ref.name}", "Its jobs and their history", url
        )
    await portal.service.delete_collection(ref)
    return _back("/", f"Collection {view.ref.name} deleted.")


def _confirm_delete(portal: Portal, request: Request, what: str, also: str, url: str) -> Response:
    """The question a delete button leads to; the deletion is the form's POST."""
    return portal.render(
        request,
        "confirm.html",
        title=f"Delete {what}?",
        detail=f"{also} are deleted too. This cannot be undone.",
        action=url + "/delete",
        cancel=url,
        confirm_label=f"Delete {what.split()[0]}",
    )


# -- jobs ----------------------------------------------------------------------------------
# The next runs a job's page lists.
UPCOMING_RUNS = 10


async def job(portal: Portal, request: Request) -> Response:
    ref = job_ref(request)
    try:
        view = await portal.service.get_job(ref)
    except UnreadableJob as error:
        return await _unreadable(portal, request, ref, error)
    status = _choice(request, "status", HISTORY_STATUSES)
    page = _page(request)
    history = await portal.service.list_history(
        ref, None if status is None else HistoryStatus(status), PAGE_SIZE, page * PAGE_SIZE
    )
    buckets = await portal.service.attempts_over_time(
        _chart_start(portal.clock.now()), CHART_WIDTH, CHART_BARS, job=ref
    )
    properties = job_properties_to_json(view.job)
    # Not on the wire (Azure showed no startTime that was not given), shown here (issue 11).
    anchor = view.job.anchor
    upcoming = await portal.service.upcoming_runs(ref, UPCOMING_RUNS)
    asked = request.query_params.get("explain", "").strip()
    explained, explain_error = None, None
    if asked:
        try:
            at = parse_instant(asked, field="explain")
            explained = explanation_to_json(await portal.service.explain_job(ref, at))
        except InvalidDefinition as error:
            explain_error = error.message
    return portal.render(
        request,
        "job.html",
        upcoming=[format_instant(run) for run in upcoming],
        explain_at=asked,
        explained=explained,
        explain_error=explain_error,
        effective_start=None if anchor is None else format_instant(anchor),
        ref=view.ref,
        url=job_url(view.ref),
        collection_url=collection_url(view.ref.collection),
        properties=properties,
        history=[
            {
                "id": item.entry.history_id,
                "url": job_url(view.ref) + "/history/" + quote(item.entry.history_id, safe=""),
                "properties": history_properties_to_json(item.entry),
            }
            for item in history.items
        ],
        status_filter=status,
        statuses=HISTORY_STATUSES,
        page=page,
        more=history.more,
        chart=attempts_chart(buckets, CHART_WIDTH, f"Attempts in the last 24 hours, {ref.name}"),
    )


async def _unreadable(
    portal: Portal, request: Request, ref: JobRef, error: UnreadableJob
) -> Response:
    """The page of a job that cannot be read: why, and the way out (delete it)."""
    stored = await portal.service.stored_job_ref(ref)
    return portal.render(
        request,
        "error.html",
        status=error.status,
        title=f"Job {stored.name} cannot be read",
        detail=error.message,
        delete_url=job_url(stored) + "/delete",
        back_url=collection_url(stored.collection),
        back_label=f"collection {stored.collection.name}",
    )


async def run_job(portal: Portal, request: Request) -> Response:
    ref = job_ref(request)
    await portal.service.run_job(ref)
    return _back(job_url(ref), f"Job {ref.name} started; its history entry appears when it ends.")


async def job_state(portal: Portal, request: Request) -> Response:
    ref = job_ref(request)
    form = await portal.form(request)
    state = "Enabled" if form.get("state") == "Enabled" else "Disabled"
    await portal.service.patch_job(ref, {"properties": {"state": state}})
    return _back(job_url(ref), f"Job {ref.name} {state.lower()}.")


async def delete_job(portal: Portal, request: Request) -> Response:
    ref = job_ref(request)
    # The stored spelling only: a job that cannot be read can still be deleted.
    stored = await portal.service.stored_job_ref(ref)
    if request.method == "GET":
        return _confirm_delete(
            portal, request, f"job {stored.name}", "Its history entries", job_url(stored)
        )
    await portal.service.delete_job(ref)
    return _back(collection_url(stored.collection), f"Job {stored.name} deleted.")


async def history_entry(portal: Portal, request: Request) -> Response:
    ref = job_ref(request)
    view = await portal.service.get_history_entry(ref, request.path_params["history_id"])
    return portal.render(
        request,
        "history_entry.html",
        ref=view.ref,
        job_url=job_url(view.ref),
        collection_url=collection_url(view.ref.collection),
        id=view.entry.history_id,
        properties=history_properties_to_json(view.entry),
    )


async def unexpected(request: Request, error: Exception) -> Response:
    portal: Portal = request.app.state.portal
    if isinstance(error, SchedulerError):
        return portal.render(
            request, "error.html", status=error.status, title="Not possible", detail=error.message
        )
    log.exception("portal.error", extra={"event": "portal.error"})
    return portal.render(
        request,
        "error.html",
        status=500,
        title="Something went wrong",
        detail="The server could not show this page; the error is in its log.",
    )


# -- helpers -------------------------------------------------------------------------------
def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    """A filter from the query string: one of ``allowed``, else none."""
    value = request.query_params.get(name)
    return value if value in allowed else None


def _page(request: Request) -> int:
    text = request.query_params.get("page", "0")
    return int(text) if text.isdigit() and int(text) < 100_000 else 0


def _chart_start(now: Any) -> Any:
    hour = now.replace(minute=0, second=0, microsecond=0)
    return hour - (CHART_BARS - 1) * CHART_WIDTH


def back(url: str, message: str) -> Response:
    return _back(url, message)


def _back(url: str, message: str) -> Response:
    return RedirectResponse(f"{url}?done={quote(message)}", status_code=303)
