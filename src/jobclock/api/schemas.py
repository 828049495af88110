"""Wire models of the ARM surface, named after the 2016-03-01 swagger definitions.

They document the OpenAPI responses and let tests check what :mod:`jobclock.api.envelopes`
builds. ``properties`` is the codec's JSON (§3); its JSON Schema in the document comes from
:mod:`jobclock.api.body_schemas`, which builds it from the codec's known keys.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, WithJsonSchema

from jobclock.api.body_schemas import (
    collection_properties_response_schema,
    history_properties_response_schema,
    job_properties_response_schema,
)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Wire):
    code: str
    message: str


class ErrorResponse(_Wire):
    """Every error answer: ``{"error": {"code", "message"}}`` (§2.7)."""

    error: ErrorDetail


class JobCollectionDefinition(_Wire):
    """A job collection in its ARM envelope (§1.2); ``tags`` is left out when empty."""

    id: str
    type: Literal["Microsoft.Scheduler/jobCollections"]
    name: str
    location: str
    tags: Annotated[
        dict[str, str] | None,
        WithJsonSchema({"type": "object", "additionalProperties": {"type": "string"}}),
    ] = None
    properties: Annotated[dict[str, Any], WithJsonSchema(collection_properties_response_schema())]


class JobDefinition(_Wire):
    """A job in its ARM envelope (§1.3); ``name`` is ``{collection}/{job}``."""

    id: str
    type: Literal["Microsoft.Scheduler/jobCollections/jobs"]
    name: str
    properties: Annotated[dict[str, Any], WithJsonSchema(job_properties_response_schema())]


class JobHistoryDefinition(_Wire):
    """One history entry (§1.5); ``name`` is ``{collection}/{job}/{historyId}``."""

    id: str
    type: Literal["Microsoft.Scheduler/jobCollections/jobs/history"]
    name: str
    properties: Annotated[dict[str, Any], WithJsonSchema(history_properties_response_schema())]


class JobCollectionListResult(_Wire):
    value: list[JobCollectionDefinition]
    nextLink: Annotated[
        str | None, WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}]})
    ] = None


class CalendarProperties(_Wire):
    """jobclock's extension: a holiday calendar. ``jobs``: the jobs that follow it."""

    timeZone: str | None = None
    dates: list[str]
    weekDays: list[str]
    jobs: list[str] | None = None


class CalendarDefinition(_Wire):
    """A collection's holiday calendar; ``name`` is ``{collection}/{calendar}``."""

    id: str
    type: Literal["Microsoft.Scheduler/jobCollections/calendars"]
    name: str
    properties: CalendarProperties


class CalendarListResult(_Wire):
    value: list[CalendarDefinition]
    nextLink: Annotated[
        str | None, WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}]})
    ] = None


class EndpointProperties(_Wire):
    """jobclock's extension: where a collection's events go. Signing keys are write-only:
    ``signing`` shows ``{}`` when set."""

    uri: str
    events: list[str]
    lateAfter: str
    signing: dict[str, Any] | None = None


class EndpointDefinition(_Wire):
    """A collection's notification endpoint; ``name`` is ``{collection}/{endpoint}``."""

    id: str
    type: Literal["Microsoft.Scheduler/jobCollections/notifications"]
    name: str
    properties: EndpointProperties


class EndpointListResult(_Wire):
    value: list[EndpointDefinition]
    nextLink: Annotated[
        str | None, WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}]})
    ] = None


class NoticeProperties(_Wire):
    """One event for the endpoint and how its delivery went."""

    eventId: str
    eventType: str
    job: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    createdTime: str
    updatedTime: str
    nextAttemptTime: str | None = None
    message: str
    event: dict[str, Any]


class NoticeListResult(_Wire):
    value: list[NoticeProperties]


class PreviewResult(_Wire):
    """jobclock's extension: the next runs of a job, in UTC (``...Z``), oldest first."""

    value: list[str]


class ExplainResult(_Wire):
    """jobclock's extension: what became of the job's occurrence at (or near) an instant."""

    at: str
    occurrence: str | None
    scheduled: bool
    previous: str | None
    next: str | None
    outcome: str
    reasons: list[str]
    historyId: str | None = None
    status: str | None = None


class JobListResult(_Wire):
    value: list[JobDefinition]
    nextLink: Annotated[
        str | None, WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}]})
    ] = None


class JobHistoryListResult(_Wire):
    value: list[JobHistoryDefinition]
    nextLink: Annotated[
        str | None, WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}]})
    ] = None


class Health(_Wire):
    status: Literal["ok"]


class Node(_Wire):
    name: str
    startedAt: str
    heartbeatAt: str
    alive: bool


class NodeListResult(_Wire):
    value: list[Node]
