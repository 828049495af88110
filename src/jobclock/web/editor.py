"""The job editor: the form page, its live preview and saving (JSON endpoints under
``/portal/`` that the page's script calls)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from jobclock.codec.collection import collection_properties_to_json
from jobclock.codec.job import definition_to_json, parse_json_body
from jobclock.codec.recurrence import recurrence_from_json
from jobclock.domain.errors import Conflict, InvalidDefinition, NotFound, SchedulerError
from jobclock.domain.instants import format_instant_seconds, parse_instant
from jobclock.domain.job import JobState
from jobclock.domain.limits import check_recurrence_allowed
from jobclock.domain.recurrence import Recurrence, jitter_seed
from jobclock.domain.revision import Scheduled, Timing, keeps_schedule, runs_after_save
from jobclock.refs import CollectionRef, JobRef
from jobclock.services import secret_paths
from jobclock.web.portal import Portal, collection_ref, collection_url, job_ref, job_url

PREVIEW_COUNT = 10


def _starter() -> dict[str, Any]:
    """What a new job's form starts with: an HTTP GET every hour. No start time: empty
    means "when saved" (a page-load time would already be past, and its slot skipped)."""
    return {
        "state": "Enabled",
        "action": {
            "type": "Http",
            "request": {"method": "GET", "uri": "https://example.com/"},
        },
        "recurrence": {"frequency": "Hour", "interval": 1},
    }


async def new_job(portal: Portal, request: Request) -> Response:
    ref = collection_ref(request)
    view = await portal.service.get_collection(ref)
    return await _editor(portal, request, view, None, _starter(), set())


async def edit_job(portal: Portal, request: Request) -> Response:
    ref = job_ref(request)
    view = await portal.service.get_job(ref)
    scheduled = await portal.service.job_schedule(ref)
    collection = await portal.service.get_collection(ref.collection)
    # The form edits the definition as the user set it (its state, not the Completed the
    # engine or the Disabled its collection gave it), so saved unchanged it keeps the job's
    # schedule (issue 11).
    definition = replace(view.job.definition, state=scheduled.timing.state)
    properties = definition_to_json(definition)
    plain = portal.service.codec.plain_json(definition)
    secrets = secret_paths(plain, properties)
    effective = None
    if definition.start_time is None and view.job.anchor is not None:
        effective = format_instant_seconds(view.job.anchor).replace("T", " ")
    return await _editor(
        portal,
        request,
        collection,
        view.ref,
        _without_nulls(properties),
        secrets,
        effective_start=effective,
        chained=scheduled.timing.chained,
    )


async def _editor(
    portal: Portal,
    request: Request,
    collection: Any,
    ref: JobRef | None,
    properties: dict[str, Any],
    secrets: set[str],
    *,
    effective_start: str | None = None,
    chained: bool = False,
) -> Response:
    return portal.render(
        request,
        "job_form.html",
        collection_ref=collection.ref,
        collection_url=collection_url(collection.ref),
        collection_properties=collection_properties_to_json(collection.collection),
        calendar_names=[v.name for v in await portal.service.calendars.list_all(collection.ref)],
        ref=ref,
        job_url=None if ref is None else job_url(ref),
        save_url="/portal/jobs/"
        + "/".join(
            part.replace("/", "%2F")
            for part in (
                collection.ref.subscription,
                collection.ref.resource_group,
                collection.ref.name,
            )
        ),
        initial={"properties": properties},
        stored_secrets=sorted(secrets),
        effective_start=effective_start,
        chained=chained,
    )


def _without_nulls(value: Any) -> Any:
    """The JSON without its nulls: where a secret is (write-only), or nothing is."""
    if not isinstance(value, dict):
        return value
    return {key: _without_nulls(item) for key, item in value.items() if item is not None}


async def preview(portal: Portal, request: Request) -> Response:
    """``{"startTime"?, "recurrence"?, "state"?, "collection"?, "job"?}`` → the next
    occurrences, as ``jobclock preview`` computes them (the same engine), in UTC and in the
    recurrence's time zone. With ``collection`` (``{"subscription", "resourceGroup",
    "name"}``), a recurrence its plan refuses is the PUT's error, not a list of runs that
    never happen. With ``job`` too (its name), the runs are those the job has once the
    editor saves this schedule: its own next runs while the schedule is its own
    (``"kept": true``), else those of a schedule that starts when saved."""
    try:
        body = parse_json_body(await request.body())
        if not isinstance(body, dict):
            raise InvalidDefinition("The preview needs a JSON object.")
        now = portal.clock.now()
        start_text = body.get("startTime")
        start = (
            None
            if start_text in (None, "")
            else parse_instant(str(start_text), field="properties.startTime")
        )
        raw = body.get("recurrence")
        recurrence = None if raw in (None, {}) else recurrence_from_json(raw)
        collection = _collection_named(body.get("collection"))
        if recurrence is not None and collection is not None:
            await _check_plan(portal, collection, recurrence)
            recurrence = await portal.service.calendars.attach(collection, recurrence)
        state = JobState.DISABLED if body.get("state") == "Disabled" else JobState.ENABLED
        job = body.get("job")
        if recurrence is not None and collection is not None and isinstance(job, str):
            recurrence = recurrence.seeded(jitter_seed(collection.name, job))  # its jitter
        edited = Timing(start, recurrence, state)
        stored = await _stored(portal, collection, body.get("job"))
        instants = runs_after_save(stored, edited, now, PREVIEW_COUNT)
    except SchedulerError as error:
        return _error(error)
    zone_name = None
    if recurrence is not None and not recurrence.is_utc:
        zone_name = recurrence.time_zone
    zone = None if zone_name is None else ZoneInfo(zone_name)
    return JSONResponse(
        {
            "occurrences": [
                {
                    "utc": format_instant_seconds(instant),
                    "local": None
                    if zone is None
                    else instant.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
                }
                for instant in instants
            ],
            "timeZone": None if zone_name is None else str(zone_name),
            "now": format_instant_seconds(now),
            "complete": len(instants) < PREVIEW_COUNT,
            "kept": stored is not None and keeps_schedule(stored.timing, edited),
            "scheduled": stored is None or stored.next_time is not None,
        }
    )


def _collection_named(named: object) -> CollectionRef | None:
    if not isinstance(named, dict):
        return None
    parts = [named.get(key) for key in ("subscription", "resourceGroup", "name")]
    if not all(isinstance(part, str) and part for part in parts):
        raise InvalidDefinition("The preview's 'collection' needs its three names.")
    sub, group, name = (str(part) for part in parts)
    return CollectionRef(sub, group, name)


async def _check_plan(portal: Portal, collection: CollectionRef, recurrence: Recurrence) -> None:
    """The collection's plan refuses what the PUT would refuse (409 ``QuotaExceeded``)."""
    view = await portal.service.get_collection(collection)
    check_recurrence_allowed(recurrence, view.collection)


async def _stored(
    portal: Portal, collection: CollectionRef | None, job: object
) -> Scheduled | None:
    """Where the edited job stands; None for a new job (or one deleted meanwhile)."""
    if collection is None or not isinstance(job, str) or not job:
        return None
    try:
        return await portal.service.job_schedule(JobRef(collection, job))
    except NotFound:
        return None


async def save_job(portal: Portal, request: Request) -> Response:
    """PUT the job; ``?new=1`` refuses to replace an existing one. Secrets left empty keep
    their stored values. Errors come back in Azure's shape plus the field they concern."""
    params = request.path_params
    ref = JobRef(collection_ref(request), params["job"].strip())
    try:
        body = parse_json_body(await request.body())
        if request.query_params.get("new") == "1" and await _job_exists(portal, ref):
            raise Conflict(f"A job named '{ref.name}' already exists in this collection.")
        view, created = await portal.service.put_job_keeping_secrets(ref, body)
    except SchedulerError as error:
        return _error(error)
    return JSONResponse({"url": job_url(view.ref), "created": created})


async def _job_exists(portal: Portal, ref: JobRef) -> bool:
    try:
        await portal.service.get_job(ref)
    except NotFound:
        return False
    return True


def _error(error: SchedulerError) -> Response:
    field = getattr(error, "field", None)
    if isinstance(error, Conflict) and "already exists" in error.message:
        field = "name"
    body = {"error": {"code": error.code, "message": error.message, "field": field}}
    return JSONResponse(body, status_code=error.status)
