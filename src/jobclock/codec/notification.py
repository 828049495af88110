"""Notification endpoint JSON ↔ :class:`Endpoint` (issue 15, item 5): the body of
``.../jobCollections/{c}/notifications/{name}``.

``{"properties": {"uri": "https://hooks.example/jobs", "events": ["job.failed", ...],
"lateAfter": "PT2M", "signing": {"secret": "whsec_..."}}}``; only ``uri`` is required.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from jobclock.codec.action import Reveal, signing_from_fields, signing_to_json
from jobclock.codec.fields import Fields, parse_enum
from jobclock.codec.keys import KNOWN_KEYS
from jobclock.domain.actions import HttpMethod, HttpRequest
from jobclock.domain.durations import iso8601
from jobclock.domain.errors import InvalidDefinition, MalformedJob
from jobclock.domain.limits import check_http_request
from jobclock.domain.notification import DEFAULT_LATE_AFTER, Endpoint, EventType

_KEYS = frozenset({"properties", "id", "name", "type"})
_PROPERTIES = frozenset({"uri", "events", "lateAfter", "signing"})
_LONGEST_LATE = timedelta(days=1)


def endpoint_from_json(body: object) -> Endpoint:
    """Read a PUT body; raises ``InvalidDefinition`` or ``MalformedJob`` naming the field."""
    envelope = Fields(body, "", _KEYS)
    properties = envelope.obj("properties", _PROPERTIES)
    if properties is None:
        raise InvalidDefinition("'properties' is required.", field="properties")
    uri = (properties.text("uri", required=True) or "").strip()
    check_http_request(HttpRequest(uri, HttpMethod.POST), "properties")
    if urlsplit(uri).password is not None:
        # An endpoint's URI is shown on every GET: it may not hold a secret.
        raise InvalidDefinition(
            "'properties.uri' may not hold a password; sign the events instead "
            "('properties.signing').",
            field="properties.uri",
        )
    late = properties.duration("lateAfter")
    if late is not None and not timedelta(seconds=1) <= late.value <= _LONGEST_LATE:
        raise InvalidDefinition(
            f"'properties.lateAfter' is {late.text}; it must be between 1 second and 1 day.",
            field="properties.lateAfter",
        )
    return Endpoint(
        uri=uri,
        events=_events(properties),
        signing=signing_from_fields(properties.obj("signing", KNOWN_KEYS["signing"])),
        late_after=DEFAULT_LATE_AFTER if late is None else late.value,
    )


def _events(fields: Fields) -> frozenset[EventType]:
    values = fields.array("events")
    if values is None:
        return frozenset(EventType)
    name = fields.name("events")
    found = set()
    for index, value in enumerate(values):
        if not isinstance(value, str):
            where = f"{name}[{index}]"
            raise MalformedJob(
                f"'{where}' must be an event type such as 'job.failed'.", field=where
            )
        found.add(parse_enum(value, EventType, name))
    if not found:
        raise InvalidDefinition(
            f"'{name}' lists no event; leave it out for all of "
            f"{', '.join(e.value for e in EventType)}.",
            field=name,
        )
    return frozenset(found)


def endpoint_to_json(endpoint: Endpoint, reveal: Reveal | None = None) -> dict[str, Any]:
    """The endpoint's ``properties``; keys only through ``reveal`` (responses show none)."""
    body: dict[str, Any] = {
        "uri": endpoint.uri,
        "events": [event.value for event in EventType if event in endpoint.events],
        "lateAfter": iso8601(endpoint.late_after),
    }
    if endpoint.signing is not None:
        body["signing"] = signing_to_json(endpoint.signing, reveal)
    return body
