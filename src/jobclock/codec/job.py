"""Job ``properties`` JSON ↔ :class:`JobDefinition` and :class:`Job` (§3.1, §2.6)."""

from __future__ import annotations

import json
from typing import Any

from jobclock.codec.action import Reveal, action_from_json, action_to_json
from jobclock.codec.fields import Fields, check_text
from jobclock.codec.keys import KNOWN_KEYS
from jobclock.codec.recurrence import recurrence_from_json, recurrence_to_json
from jobclock.domain.durations import parse_duration
from jobclock.domain.errors import InvalidDefinition, MalformedJob
from jobclock.domain.instants import format_instant
from jobclock.domain.job import (
    CatchUp,
    CatchUpPolicy,
    Job,
    JobDefinition,
    JobState,
    JobStatus,
    OverlapPolicy,
)
from jobclock.domain.limits import check_job_size


def parse_json_body(data: bytes | str) -> object:
    """Decode a request body; anything that is not JSON is ``Malformed Job Object``.

    ``NaN`` and ``Infinity``, which Python's reader takes but JSON has not, are not JSON;
    a string that is not Unicode text (a lone surrogate escape) is a 400 naming its field.
    """
    try:
        body = json.loads(data, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJob() from exc
    check_text(body)
    return body


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")


def job_definition_from_json(body: object, *, check_size: bool = True) -> JobDefinition:
    """Read a PUT body ``{"properties": {...}}`` into a definition (shape rules only).

    Read-only ``status`` is ignored, so a GET-modify-PUT works (§3.1); a key no object of
    the body defines is a 400 naming it (:mod:`jobclock.codec.keys`); plan and time rules
    are :func:`jobclock.domain.limits.check_job`'s.
    """
    check_text(body)
    if check_size:
        check_job_size(len(json.dumps(body, separators=(",", ":")).encode()))
    envelope = Fields(body, "", KNOWN_KEYS["envelope"])
    properties = envelope.obj("properties", KNOWN_KEYS["properties"])
    if properties is None:
        raise MalformedJob("'properties' is required.", field="properties")
    action = properties.raw("action")
    if action is None:
        raise InvalidDefinition("'properties.action' is required.", field="properties.action")
    recurrence = properties.raw("recurrence")
    state = properties.enum("state", JobState) or JobState.ENABLED
    if not state.settable:
        raise InvalidDefinition(
            f"'properties.state' may be set to 'Enabled' or 'Disabled' only, not '{state.value}'.",
            field="properties.state",
        )
    return JobDefinition(
        action=action_from_json(action, "properties.action"),
        start_time=properties.instant("startTime"),
        recurrence=None
        if recurrence is None
        else recurrence_from_json(recurrence, "properties.recurrence"),
        state=state,
        overlap=properties.enum("overlapPolicy", OverlapPolicy),
        catch_up=_catch_up(properties),
        attempt_timeout=properties.duration("attemptTimeout"),
        expect_run_within=properties.duration("expectRunWithin"),
    )


def _catch_up(properties: Fields) -> CatchUp | None:
    fields = properties.obj("catchUp", KNOWN_KEYS["catchUp"])
    if fields is None:
        return None
    window = None
    if fields.has("window"):
        window = parse_duration(fields.raw("window"), field=fields.name("window"))
        if not window.value:
            raise InvalidDefinition(
                f"'{fields.name('window')}' must be longer than 0.", field=fields.name("window")
            )
    return CatchUp(fields.enum("policy", CatchUpPolicy) or CatchUpPolicy.SKIP, window)


def job_properties_to_json(job: Job) -> dict[str, Any]:
    """The response ``properties`` in Azure's order with 7.0.0's spellings (§2.6)."""
    body = definition_to_json(job.definition)
    body["status"] = status_to_json(job.status)
    return body


def definition_to_json(definition: JobDefinition, reveal: Reveal | None = None) -> dict[str, Any]:
    """A definition as ``properties`` JSON; secrets only through ``reveal`` (see action)."""
    body: dict[str, Any] = {}
    if definition.start_time is not None:
        body["startTime"] = format_instant(definition.start_time)
    body["action"] = action_to_json(definition.action, reveal)
    if definition.recurrence is not None:
        body["recurrence"] = recurrence_to_json(definition.recurrence)
    body["state"] = definition.state.value
    if definition.overlap is not None:
        body["overlapPolicy"] = definition.overlap.value
    if definition.catch_up is not None:
        catch_up: dict[str, str] = {"policy": definition.catch_up.policy.value}
        if definition.catch_up.window is not None:
            catch_up["window"] = definition.catch_up.window.text
        body["catchUp"] = catch_up
    if definition.attempt_timeout is not None:
        body["attemptTimeout"] = definition.attempt_timeout.text
    if definition.expect_run_within is not None:
        body["expectRunWithin"] = definition.expect_run_within.text
    return body


def status_to_json(status: JobStatus) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if status.last_execution_time is not None:
        body["lastExecutionTime"] = format_instant(status.last_execution_time)
    if status.next_execution_time is not None:
        body["nextExecutionTime"] = format_instant(status.next_execution_time)
    body["executionCount"] = status.execution_count
    body["failureCount"] = status.failure_count
    body["faultedCount"] = status.faulted_count
    return body
