"""Issue 11: a job's HTTP request headers cannot reframe the request or inject headers
(refused at PUT, naming the header), and ``recurrence.count`` is bounded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from jobclock.codec.job import job_definition_from_json
from jobclock.domain.collection import JobCollection, Sku
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.limits import check_job

NOW = datetime(2024, 1, 1, tzinfo=UTC)
STANDARD = JobCollection("jc", "West US", Sku.STANDARD)


def job(headers: dict[str, str], *, on_error_action: bool = False) -> dict[str, Any]:
    request = {"uri": "http://127.0.0.1/", "method": "POST", "headers": headers}
    plain = {"uri": "http://127.0.0.1/", "method": "GET"}
    action: dict[str, Any] = {"type": "Http", "request": plain if on_error_action else request}
    if on_error_action:
        action["errorAction"] = {"type": "Http", "request": request}
    return {"properties": {"startTime": "2024-01-01T00:00:00Z", "action": action}}


def validate(body: dict[str, Any]) -> None:
    check_job(job_definition_from_json(body), STANDARD, NOW)


FRAMING = [
    "Transfer-Encoding",
    "Content-Length",
    "Host",
    "Connection",
    "Upgrade",
    "TE",
    "Trailer",
    "Keep-Alive",
    "Proxy-Connection",
]


@pytest.mark.parametrize("on_error_action", [False, True], ids=["action", "error-action"])
@pytest.mark.parametrize("name", [*FRAMING, "transfer-encoding", "HOST"])
def test_framing_and_hop_by_hop_headers_are_refused(name: str, on_error_action: bool) -> None:
    with pytest.raises(InvalidDefinition, match=f"'{name}'") as caught:
        validate(job({"Content-Type": "text/plain", name: "x"}, on_error_action=on_error_action))
    assert caught.value.status == 400
    where = "action.errorAction.request" if on_error_action else "action.request"
    assert f"properties.{where}.headers" in (caught.value.field or "")


@pytest.mark.parametrize(
    "name", ["X-C: evil", "X C", "", "X\r\nY", "Ünicode", "(x)", "a/b"], ids=repr
)
def test_a_header_name_that_is_not_a_token_is_refused(name: str) -> None:
    with pytest.raises(InvalidDefinition, match="not an HTTP token"):
        validate(job({name: "v"}))


@pytest.mark.parametrize(
    "value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b", "a\x1bb", "a\x7fb"], ids=repr
)
@pytest.mark.parametrize("on_error_action", [False, True], ids=["action", "error-action"])
def test_control_characters_in_a_value_are_refused(value: str, on_error_action: bool) -> None:
    with pytest.raises(InvalidDefinition, match="control character") as caught:
        validate(job({"X-Note": value}, on_error_action=on_error_action))
    assert "X-Note" in (caught.value.field or "")


def test_ordinary_headers_and_tabs_pass() -> None:
    validate(
        job(
            {
                "Content-Type": "application/json; charset=utf-8",
                "Authorization": "Bearer abc",
                "X-Tabbed": "a\tb",
                "x-ms-custom": "!#$%&'*+-.^_`|~ é",
            }
        )
    )


@pytest.mark.parametrize("count", [10**30, 2**31, -1, 0, 1e30])
def test_recurrence_count_is_bounded(count: float) -> None:
    body = job({})
    body["properties"]["recurrence"] = {"frequency": "Hour", "count": count}
    with pytest.raises(InvalidDefinition, match="between 1 and 2147483647"):
        validate(body)


def test_recurrence_count_at_the_bound_passes() -> None:
    body = job({})
    body["properties"]["recurrence"] = {"frequency": "Hour", "count": 2**31 - 1}
    validate(body)
