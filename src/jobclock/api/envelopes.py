"""ARM envelopes around the codec's ``properties`` (§1.2, §1.3, §1.5, §2.5).

Ids and names use the names as stored, whatever case the request used: ARM names are
case-insensitive, and the stored spelling is the one a client created.
"""

from __future__ import annotations

import json
from typing import Any

from jobclock.codec.calendar import calendar_properties_to_json
from jobclock.codec.collection import collection_properties_to_json
from jobclock.codec.history import history_properties_to_json
from jobclock.codec.job import job_properties_to_json
from jobclock.codec.notification import endpoint_to_json
from jobclock.domain.instants import format_instant
from jobclock.domain.records import Notice, NoticeStatus
from jobclock.refs import CalendarView, EndpointView
from jobclock.services import CollectionRef, CollectionView, HistoryView, JobView

COLLECTION_TYPE = "Microsoft.Scheduler/jobCollections"
JOB_TYPE = f"{COLLECTION_TYPE}/jobs"
HISTORY_TYPE = f"{JOB_TYPE}/history"
CALENDAR_TYPE = f"{COLLECTION_TYPE}/calendars"
ENDPOINT_TYPE = f"{COLLECTION_TYPE}/notifications"


def collection_id(ref: CollectionRef, name: str) -> str:
    return (
        f"/subscriptions/{ref.subscription}/resourceGroups/{ref.resource_group}"
        f"/providers/{COLLECTION_TYPE}/{name}"
    )


def collection_resource(view: CollectionView) -> dict[str, Any]:
    collection = view.collection
    body: dict[str, Any] = {
        "id": collection_id(view.ref, collection.name),
        "type": COLLECTION_TYPE,
        "name": collection.name,
        "location": collection.location,
    }
    if collection.tags:
        body["tags"] = dict(collection.tags)
    body["properties"] = collection_properties_to_json(collection)
    return body


def job_id(view: JobView) -> str:
    job = view.job
    return f"{collection_id(view.ref.collection, job.collection)}/jobs/{job.name}"


def job_resource(view: JobView) -> dict[str, Any]:
    job = view.job
    return {
        "id": job_id(view),
        "type": JOB_TYPE,
        "name": f"{job.collection}/{job.name}",
        "properties": job_properties_to_json(job),
    }


def history_resource(view: HistoryView) -> dict[str, Any]:
    entry = view.entry
    owner = f"{collection_id(view.ref.collection, entry.collection)}/jobs/{entry.job}"
    return {
        "id": f"{owner}/history/{entry.history_id}",
        "type": HISTORY_TYPE,
        "name": f"{entry.collection}/{entry.job}/{entry.history_id}",
        "properties": history_properties_to_json(entry),
    }


def calendar_resource(view: CalendarView, *, jobs: bool = True) -> dict[str, Any]:
    """A calendar; with ``jobs``, the names of the jobs that follow it (a list leaves them
    out: it would read every job of the collection)."""
    properties = calendar_properties_to_json(view.calendar)
    if jobs:
        properties["jobs"] = list(view.jobs)
    return {
        "id": f"{collection_id(view.collection, view.collection.name)}/calendars/{view.name}",
        "type": CALENDAR_TYPE,
        "name": f"{view.collection.name}/{view.name}",
        "properties": properties,
    }


def endpoint_resource(view: EndpointView) -> dict[str, Any]:
    """A notification endpoint; its signing keys never shown."""
    return {
        "id": f"{collection_id(view.collection, view.collection.name)}/notifications/{view.name}",
        "type": ENDPOINT_TYPE,
        "name": f"{view.collection.name}/{view.name}",
        "properties": endpoint_to_json(view.endpoint),
    }


def notice_resource(notice: Notice) -> dict[str, Any]:
    """One delivery of the endpoint's history."""
    pending = notice.status is NoticeStatus.PENDING
    return {
        "eventId": notice.event_id,
        "eventType": notice.event_type,
        "job": notice.job,
        "status": notice.status.value,
        "attempts": notice.attempts,
        "createdTime": format_instant(notice.created_at),
        "updatedTime": format_instant(notice.updated_at or notice.created_at),
        "nextAttemptTime": format_instant(notice.due_at) if pending else None,
        "message": notice.message,
        "event": json.loads(notice.event),
    }


def list_result(value: list[dict[str, Any]], next_link: str | None) -> dict[str, Any]:
    """``{"value": [...], "nextLink": ...}``; ``value`` is always there (§2.5)."""
    return {"value": value, "nextLink": next_link}
