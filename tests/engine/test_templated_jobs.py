"""Templated payloads on a fake clock: what the executor is handed is rendered for each
attempt; bad templates are a 400 with nothing stored; without ``template`` nothing changes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from jobclock.domain.actions import (
    ActionType,
    AmqpMessage,
    HttpMethod,
    HttpRequest,
    JobAction,
    StorageQueueMessage,
)
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.records import Occurrence, OccurrenceKind
from jobclock.engine.dispatcher import _prepared
from tests.actions.attempt_context import attempt_context
from tests.system import T0, System

SECOND = timedelta(seconds=1)
START = "2024-01-01T00:00:00Z"


def _http(request: dict[str, Any], **action: Any) -> dict[str, Any]:
    return {
        "type": "Http",
        "request": {"method": "POST", "template": True, **request},
        "retryPolicy": {"retryType": "None"},
        **action,
    }


def test_uri_headers_and_body_render_for_each_attempt(system: System) -> None:
    system.collection()
    system.executor.outcomes = [False, True]
    request = {
        "uri": 'http://127.0.0.1/reports/{{ scheduledTime | add("-P1D") | format("%Y-%m-%d") }}'
        "?job={{ job | urlencode }}&q={{ 'a b/c' | urlencode }}",
        "headers": {"X-Attempt": "{{ attempt }}", "X-Tag": "{{ executionTag }}"},
        "body": '{"job": {{ job | json }}, "at": {{ scheduledTime | json }}, '
        '"ran": "{{ actualTime | iso }}", "collection": "{{ collection | upper }}"}',
    }
    retry = {"retryType": "Fixed", "retryInterval": "PT1S", "retryCount": 1}
    system.job("daily-report", {"startTime": START, "action": _http(request, retryPolicy=retry)})
    system.at(T0)
    system.at(T0 + SECOND)
    (first, context0), (second, context1) = system.executor.calls
    assert isinstance(first.payload, HttpRequest)
    assert isinstance(second.payload, HttpRequest)
    assert first.payload.uri == "http://127.0.0.1/reports/2023-12-31?job=daily-report&q=a%20b%2Fc"
    assert second.payload.uri == first.payload.uri  # the scheduled time, not the retry's
    assert dict(first.payload.headers) == {"X-Attempt": "0", "X-Tag": context0.execution_tag}
    assert dict(second.payload.headers) == {"X-Attempt": "1", "X-Tag": context1.execution_tag}
    body = json.loads(second.payload.body or "")
    assert body == {
        "job": "daily-report",
        "at": "2024-01-01T00:00:00Z",
        "ran": "2024-01-01T00:00:01Z",
        "collection": "JC",
    }
    assert not first.payload.template  # what is sent is plain text


def test_queue_and_amqp_messages_render(system: System) -> None:
    system.collection()
    queue = {
        "type": "StorageQueue",
        "queueMessage": {
            "storageAccount": "acct",
            "queueName": "q",
            "sasToken": "sv=1&sig=x",
            "message": "run {{ job }} for {{ scheduledTime | format('%d %B %Y') }}",
            "template": True,
        },
    }
    amqp = {
        "type": "Amqp",
        "amqpMessage": {
            "url": "amqp://guest@127.0.0.1:5672/",
            "password": "guest",
            "routingKey": "jobs",
            "message": "{{ scheduledTime | tz('Europe/Paris') | iso }}",
            "template": True,
        },
    }
    system.job("q", {"startTime": START, "action": queue})
    system.job("a", {"startTime": START, "action": amqp})
    system.at(T0)
    payloads = {type(i.payload): i.payload for i, _ in system.executor.calls}
    queued = payloads[StorageQueueMessage]
    published = payloads[AmqpMessage]
    assert isinstance(queued, StorageQueueMessage)
    assert isinstance(published, AmqpMessage)
    assert queued.message == "run q for 01 January 2024"
    assert published.message == "2024-01-01T01:00:00+01:00"


def test_without_template_braces_are_sent_as_they_are(system: System) -> None:
    system.collection()
    request = {"uri": "http://127.0.0.1/x", "body": "{{ job }}", "template": False}
    system.job("plain", {"startTime": START, "action": _http(request)})
    system.at(T0)
    [(invocation, _)] = system.executor.calls
    assert isinstance(invocation.payload, HttpRequest)
    assert invocation.payload.body == "{{ job }}"


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        pytest.param({"uri": "http://127.0.0.1/{{ nope }}"}, "request.uri", id="unknown-variable"),
        pytest.param(
            {"uri": "http://127.0.0.1/", "body": "{{ job | add('P1D') }}"},
            "request.body",
            id="filter-on-wrong-type",
        ),
        pytest.param(
            {"uri": "http://127.0.0.1/", "headers": {"X": "{{ job.__class__ }}"}},
            "request.headers.X",
            id="attribute-access",
        ),
        pytest.param({"uri": "{{ job }}"}, "request.uri", id="renders-to-no-uri"),
        pytest.param(
            {"uri": "http://127.0.0.1/", "body": "{{ job "}, "request.body", id="unclosed"
        ),
        pytest.param(
            {"uri": "http://127.0.0.1/", "body": "{{ job | tz('Mars/Olympus') }}"},
            "request.body",
            id="unknown-zone",
        ),
    ],
)
def test_a_bad_template_is_refused_and_nothing_is_stored(
    system: System, request_body: dict[str, Any], field: str
) -> None:
    collection = system.collection()
    with pytest.raises(InvalidDefinition) as raised:
        system.job("bad", {"action": _http(request_body)})
    assert field in str(raised.value)
    assert system.run(system.service.list_jobs(collection, None, None, 0)).items == []


def test_a_render_that_breaks_a_limit_fails_the_attempt_sending_nothing() -> None:
    """The engine's guard: a payload that renders past a limit at run time (here one that
    was never checked when written) becomes a failed attempt, not a request."""
    request = HttpRequest(
        "http://127.0.0.1/", HttpMethod.POST, body="x" * 8000 + "{{ job }}" * 50, template=True
    )
    context = replace(attempt_context(), job="j" * 10)
    occurrence = Occurrence.first(1, T0, OccurrenceKind.SCHEDULED, 1, False, "0" * 32)
    action = JobAction(ActionType.HTTP, request)
    invocation, refused = _prepared(action, occurrence, context, T0)
    assert refused is not None
    assert not refused.succeeded
    assert "the template could not be rendered" in refused.message
    assert "8192" in refused.message.replace(",", "")
    fine = replace(request, body="{{ job }}")
    invocation, refused = _prepared(replace(action, payload=fine), occurrence, context, T0)
    assert refused is None
    assert isinstance(invocation.payload, HttpRequest)
    assert invocation.payload.body == "j" * 10
