"""Calendar JSON ↔ :class:`Calendar` (issue 14, item 4): the body of
``.../jobCollections/{c}/calendars/{name}`` and the holidays kept in a stored job.

``{"properties": {"timeZone": "Europe/Amsterdam", "dates": ["2026-12-25", ...],
"weekDays": ["Saturday", "Sunday"]}}``; every property is optional.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from jobclock.codec.fields import Fields, parse_enum
from jobclock.domain.calendar import Calendar, check_calendar
from jobclock.domain.errors import InvalidDefinition, MalformedJob
from jobclock.domain.recurrence import WEEK_ORDER, DayOfWeek, zone_named

_KEYS = frozenset({"properties", "id", "name", "type"})
_PROPERTIES = frozenset({"timeZone", "dates", "weekDays"})
# What a GET shows beside them: read-only, so a GET body PUT back is accepted as it is.
_READ_ONLY = frozenset({"jobs"})
_DATE = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")


def calendar_from_json(body: object) -> Calendar:
    """Read a PUT body; raises ``InvalidDefinition`` or ``MalformedJob`` naming the field."""
    envelope = Fields(body, "", _KEYS)
    properties = envelope.obj("properties", _PROPERTIES | _READ_ONLY)
    if properties is None:
        raise InvalidDefinition("'properties' is required.", field="properties")
    return calendar_properties(properties)


def calendar_properties(fields: Fields) -> Calendar:
    time_zone = fields.text("timeZone")
    if time_zone is not None:
        time_zone = time_zone.strip()
        try:
            zone_named(time_zone)
        except InvalidDefinition as exc:
            raise InvalidDefinition(
                f"'{fields.name('timeZone')}' is not a known IANA time zone: {time_zone!r}.",
                field=fields.name("timeZone"),
            ) from exc
    calendar = Calendar(_dates(fields), _week_days(fields), time_zone)
    check_calendar(calendar)
    return calendar


def _dates(fields: Fields) -> tuple[date, ...]:
    values = fields.array("dates") or []
    name = fields.name("dates")
    found = []
    for index, value in enumerate(values):
        where = f"{name}[{index}]"
        if not isinstance(value, str):
            raise MalformedJob(f"'{where}' must be a date such as '2026-12-25'.", field=where)
        try:
            if not _DATE.match(value.strip()):
                raise ValueError(value)
            found.append(date.fromisoformat(value.strip()))
        except ValueError as exc:
            raise InvalidDefinition(
                f"'{where}' must be a date such as '2026-12-25', got {value[:40]!r}.",
                field=where,
            ) from exc
    return tuple(found)


def _week_days(fields: Fields) -> tuple[int, ...]:
    values = fields.array("weekDays") or []
    name = fields.name("weekDays")
    days = []
    for index, value in enumerate(values):
        if not isinstance(value, str):
            where = f"{name}[{index}]"
            raise MalformedJob(f"'{where}' must be a day name such as 'Saturday'.", field=where)
        days.append(parse_enum(value, DayOfWeek, name).index)
    return tuple(days)


def calendar_properties_to_json(calendar: Calendar) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if calendar.time_zone is not None:
        body["timeZone"] = calendar.time_zone
    body["dates"] = [day.isoformat() for day in calendar.dates]
    body["weekDays"] = [day.value for day in WEEK_ORDER if day.index in calendar.week_days]
    return body


def holidays_from_stored(raw: object) -> Calendar:
    """The holidays a stored job keeps (written by :func:`calendar_properties_to_json`)."""
    return calendar_properties(Fields(raw, "$holidays", _PROPERTIES))
