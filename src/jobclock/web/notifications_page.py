"""The portal's notification endpoints (issue 15, item 5): a card on the collection's page
lists them and holds a form that creates or replaces one; each endpoint can be loaded into
the form to edit it, deleted, or opened on its delivery history (each event's CloudEvent
JSON with it).

The signing keys are write-only: their inputs are never filled in (not even after an
error), and left empty on an endpoint that has keys they keep the stored ones (the PUT's
``signing`` object without them); "Remove signing" drops them."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from jobclock.api.envelopes import notice_resource
from jobclock.domain.errors import InvalidDefinition, NotFound, SchedulerError
from jobclock.domain.notification import EventType
from jobclock.refs import CollectionRef
from jobclock.web import pages
from jobclock.web.portal import Portal, collection_ref, collection_url, endpoint_row

# The form's fields that hold keys: never sent back to the page.
SECRET_FIELDS = ("secret", "previous_secret")


async def save_endpoint(portal: Portal, request: Request) -> Response:
    """Create or replace the endpoint the form names."""
    ref = collection_ref(request)
    form = await portal.form(request)
    name = form.get("name", "").strip()
    try:
        body = await _body(portal, ref, name, form)
        view, created = await portal.service.notifications.put(ref, name, body)
    except SchedulerError as error:
        return await pages.collection_page(
            portal,
            request,
            endpoint_form=_without_keys(form),
            endpoint_error=error.message,
            status=error.status,
        )
    verb = "created" if created else "saved"
    return pages.back(collection_url(view.collection), f"Notification endpoint {view.name} {verb}.")


def _without_keys(form: dict[str, str]) -> dict[str, str]:
    """The form to show again: what was typed, but no key (a page never holds one); with
    ``keys_typed`` when keys were typed, so the page asks for them again."""
    kept = {key: value for key, value in form.items() if key not in SECRET_FIELDS}
    if any(form.get(field, "").strip() for field in SECRET_FIELDS):
        kept["keys_typed"] = "on"
    return kept


async def _body(portal: Portal, ref: CollectionRef, name: str, form: dict[str, str]) -> Any:
    """The PUT body of the form: the checked events, the keys typed (empty: the stored ones
    are kept, unless "Remove signing" is checked)."""
    events = [event.value for event in EventType if form.get(f"event_{event.value}")]
    if not events:
        raise InvalidDefinition("Choose at least one event for the endpoint to receive.")
    properties: dict[str, Any] = {"uri": form.get("uri", "").strip(), "events": events}
    if form.get("late_after", "").strip():
        properties["lateAfter"] = form["late_after"].strip()
    typed = {
        key: form[field].strip()
        for key, field in (("secret", "secret"), ("previousSecret", "previous_secret"))
        if form.get(field, "").strip()
    }
    if form.get("remove_signing"):
        if typed:
            raise InvalidDefinition(
                "Remove signing, or type new signing keys: not both. To replace the keys, "
                "leave Remove signing unchecked."
            )
    elif typed:
        properties["signing"] = typed
    elif await _signed(portal, ref, name):
        properties["signing"] = {}  # keeps the stored keys
    return {"properties": properties}


async def _signed(portal: Portal, ref: CollectionRef, name: str) -> bool:
    """Whether endpoint ``name`` is stored with signing keys (False when it is not stored)."""
    if not name:
        return False
    try:
        view = await portal.service.notifications.get(ref, name)
    except NotFound:
        return False
    return view.endpoint.signing is not None


async def delete_endpoint(portal: Portal, request: Request) -> Response:
    ref = collection_ref(request)
    name = request.path_params["endpoint"]
    view = await portal.service.notifications.get(ref, name)
    url = collection_url(view.collection)
    if request.method == "GET":
        return portal.render(
            request,
            "confirm.html",
            title=f"Delete notification endpoint {view.name}?",
            detail=f"Its delivery history is deleted too; {view.endpoint.uri} hears of no "
            "further event. This cannot be undone.",
            action=f"{url}/notifications/{view.name}/delete",
            cancel=url + "#notifications",
            confirm_label="Delete endpoint",
        )
    try:
        await portal.service.notifications.delete(ref, name)
    except SchedulerError as error:
        return await pages.collection_page(
            portal, request, endpoint_error=error.message, status=error.status
        )
    return pages.back(url, f"Notification endpoint {view.name} deleted.")


async def history(portal: Portal, request: Request) -> Response:
    """The endpoint's newest events and how their delivery went, newest first."""
    ref = collection_ref(request)
    view = await portal.service.notifications.get(ref, request.path_params["endpoint"])
    notices = await portal.service.notifications.history(ref, view.name)
    deliveries = []
    for notice in notices:
        item = notice_resource(notice)
        item["eventJson"] = json.dumps(item["event"], indent=2, ensure_ascii=False)
        deliveries.append(item)
    return portal.render(
        request,
        "notification_history.html",
        ref=ref,
        collection_url=collection_url(ref),
        endpoint=endpoint_row(ref, view),
        deliveries=deliveries,
    )
