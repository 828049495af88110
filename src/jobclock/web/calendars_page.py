"""The portal's holiday calendars (issue 14, item 4): a card on the collection's page lists
them and holds a form that creates or replaces one (its dates one per line); each calendar
can be loaded into the form to edit it, or deleted (a 409 while jobs follow it)."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from jobclock.domain.errors import SchedulerError
from jobclock.web import pages
from jobclock.web.portal import Portal, collection_ref, collection_url

_SEPARATORS = re.compile(r"[\s,;]+")


async def save_calendar(portal: Portal, request: Request) -> Response:
    """Create or replace the calendar the form names."""
    ref = collection_ref(request)
    form = await portal.form(request)
    name = form.get("name", "").strip()
    properties: dict[str, Any] = {
        "dates": [item for item in _SEPARATORS.split(form.get("dates", "")) if item],
        "weekDays": [key[4:] for key, value in form.items() if key.startswith("day_") and value],
    }
    if form.get("time_zone", "").strip():
        properties["timeZone"] = form["time_zone"].strip()
    try:
        view, created = await portal.service.calendars.put(ref, name, {"properties": properties})
    except SchedulerError as error:
        return await pages.collection_page(
            portal, request, calendar_form=form, calendar_error=error.message, status=error.status
        )
    moved = f"; {len(view.jobs)} job(s) follow it" if view.jobs else ""
    verb = "created" if created else "saved"
    return pages.back(collection_url(view.collection), f"Calendar {view.name} {verb}{moved}.")


async def delete_calendar(portal: Portal, request: Request) -> Response:
    ref = collection_ref(request)
    name = request.path_params["calendar"]
    view = await portal.service.calendars.get(ref, name)
    url = collection_url(view.collection)
    if request.method == "GET":
        return portal.render(
            request,
            "confirm.html",
            title=f"Delete calendar {view.name}?",
            detail=(
                f"Jobs that follow it ({', '.join(view.jobs)}) must be changed first."
                if view.jobs
                else "No job follows it. This cannot be undone."
            ),
            action=f"{url}/calendars/{view.name}/delete",
            cancel=url,
            confirm_label="Delete calendar",
        )
    try:
        await portal.service.calendars.delete(ref, name)
    except SchedulerError as error:
        return await pages.collection_page(
            portal, request, calendar_error=error.message, status=error.status
        )
    return pages.back(url, f"Calendar {view.name} deleted.")
