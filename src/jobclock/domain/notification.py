"""Outcome notifications (a collection's ``notifications``) and the dead-man's switch (a
job's ``expectRunWithin``), as pure policy.

A collection lists HTTP endpoints; each receives CloudEvents 1.0 (structured JSON) for the
events it subscribes to:

- ``job.failed``: an occurrence ended failed (its main action, after every retry);
- ``job.faulted``: the job faulted (its last occurrence failed);
- ``occurrence.late``: an occurrence's first attempt started later than the endpoint's
  ``lateAfter`` (60 s by default) after its scheduled time;
- ``occurrence.missed``: a slot that should have run did not (found too late: the service
  was down, or its node died and the slot was found past the misfire grace), or a job with
  ``expectRunWithin`` had no successful run in that window.

Each event becomes one notice per endpoint, written in the same transaction as what caused
it and delivered at least once (the same ``id`` each time, so receivers can drop repeats),
signed like a signed request, and retried with a growing delay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from jobclock.domain.actions import Signing
from jobclock.domain.instants import format_instant

DEFAULT_LATE_AFTER = timedelta(seconds=60)
MAX_ENDPOINTS = 10
# A notice is tried this many times, waiting 10 s, 20 s, 40 s... (at most 10 minutes).
DELIVERY_ATTEMPTS = 8
_FIRST_DELAY = timedelta(seconds=10)
_LONGEST_DELAY = timedelta(minutes=10)
SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


class EventType(Enum):
    JOB_FAILED = "job.failed"
    JOB_FAULTED = "job.faulted"
    OCCURRENCE_LATE = "occurrence.late"
    OCCURRENCE_MISSED = "occurrence.missed"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a collection's events go: ``uri`` (http or https), the events it wants (all
    four by default), its Standard Webhooks keys, and when an occurrence counts as late."""

    uri: str
    events: frozenset[EventType] = frozenset(EventType)
    signing: Signing | None = None
    late_after: timedelta = DEFAULT_LATE_AFTER


@dataclass(frozen=True, slots=True)
class Event:
    """Something a job's endpoints hear about. ``id`` is unique per event, the same for
    every endpoint and every delivery attempt. ``scheduled``: the occurrence's time."""

    id: str
    type: EventType
    time: datetime
    job: str
    collection: str
    source: str  # the job's ARM id
    repeat_count: int = 0
    scheduled: datetime | None = None
    message: str = ""
    lateness: timedelta | None = None
    details: dict[str, Any] = field(default_factory=dict)


def wanted(endpoints: tuple[Endpoint, ...], event: Event) -> list[Endpoint]:
    """The endpoints that subscribe to ``event`` (a late one only past its threshold)."""
    found = []
    for endpoint in endpoints:
        if event.type not in endpoint.events:
            continue
        if event.type is EventType.OCCURRENCE_LATE and (
            event.lateness is None or event.lateness <= endpoint.late_after
        ):
            continue
        found.append(endpoint)
    return found


def late_threshold(endpoints: tuple[Endpoint, ...]) -> timedelta | None:
    """The smallest lateness any endpoint hears of (None: none subscribes to it)."""
    limits = [e.late_after for e in endpoints if EventType.OCCURRENCE_LATE in e.events]
    return min(limits) if limits else None


def cloud_event(event: Event) -> str:
    """The event as a CloudEvents 1.0 structured-mode JSON document."""
    data: dict[str, Any] = {
        "collection": event.collection,
        "job": event.job,
        "repeatCount": event.repeat_count,
        "message": event.message,
    }
    if event.scheduled is not None:
        data["scheduledTime"] = format_instant(event.scheduled)
    if event.lateness is not None:
        data["latenessSeconds"] = round(event.lateness.total_seconds(), 3)
    data.update(event.details)
    document = {
        "specversion": SPEC_VERSION,
        "id": event.id,
        "source": event.source,
        "type": event.type.value,
        "subject": event.job,
        "time": format_instant(event.time),
        "datacontenttype": "application/json",
        "data": data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def next_delivery(attempts: int, now: datetime) -> datetime | None:
    """When a notice that failed ``attempts`` times is tried again (None: it has failed
    for good)."""
    if attempts >= DELIVERY_ATTEMPTS:
        return None
    delay = min(_FIRST_DELAY * (1 << min(max(attempts - 1, 0), 16)), _LONGEST_DELAY)
    return now + delay


def deadline(window: timedelta | None, since: datetime) -> datetime | None:
    """When a job with ``expectRunWithin`` = ``window`` is overdue, counted from ``since``
    (its save, its last successful run, or its last alert)."""
    return None if window is None else since + window
