"""Templated payloads (``request.template``, a message's ``template``): which fields of each
action type are templates, their check when a job is written, and the payload one attempt
sends, rendered from :mod:`jobclock.domain.template`.

A payload is checked twice: each field parses (unknown variable, filter on the wrong type:
a 400 when the job is written), and the payload rendered from sample values obeys every
limit a plain one does (a URI that stops being a URI, a header that gains a control
character). At run time the rendered payload is checked again: a value rendered from the
real instant can still be too long.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from jobclock.domain.actions import HttpRequest, Payload
from jobclock.domain.template import TemplateValues, check_template, render_text

# Sample values for the check at write time, each as long as it renders: the longest
# names (100 characters), the longest day and month names (a Wednesday in September),
# two-digit parts, milliseconds, and the most retries.
SAMPLE = TemplateValues(
    scheduled_time=datetime(2026, 9, 30, 23, 59, 59, 999000, tzinfo=UTC),
    actual_time=datetime(2026, 9, 30, 23, 59, 59, 999000, tzinfo=UTC),
    execution_tag="0" * 32,
    job="j" * 100,
    collection="c" * 100,
    attempt=20,
)


def check_templates(payload: Payload, path: str) -> Payload:
    """Parse every template field of ``payload`` (``path``: where the payload sits, e.g.
    ``properties.action.request``); return it rendered from :data:`SAMPLE`, for the limits
    a plain payload is checked against. Raises InvalidDefinition naming the field."""
    if not payload.template:
        return payload
    if isinstance(payload, HttpRequest):
        check_template(payload.uri, field=f"{path}.uri")
        for name, value in payload.headers:
            check_template(value, field=f"{path}.headers.{name}")
        if payload.body is not None:
            check_template(payload.body, field=f"{path}.body")
    elif payload.message is not None:
        check_template(payload.message, field=f"{path}.message")
    return rendered(payload, SAMPLE, path)


def rendered(payload: Payload, values: TemplateValues, path: str = "request") -> Payload:
    """The payload one attempt sends: its templates rendered from ``values`` (itself when
    it has none). Raises InvalidDefinition (TemplateTooLong) naming the field."""
    if not payload.template:
        return payload
    if isinstance(payload, HttpRequest):
        return replace(
            payload,
            uri=render_text(payload.uri, values, field=f"{path}.uri").strip(),
            headers=tuple(
                (name, render_text(value, values, field=f"{path}.headers.{name}"))
                for name, value in payload.headers
            ),
            body=None
            if payload.body is None
            else render_text(payload.body, values, field=f"{path}.body"),
            template=False,
        )
    if payload.message is None:
        return replace(payload, template=False)
    message = render_text(payload.message, values, field=f"{path}.message")
    return replace(payload, message=message, template=False)
