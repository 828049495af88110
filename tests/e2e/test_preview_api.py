"""Preview over the API (issue 14, item 8), against the real server:
``GET .../jobs/{j}/preview?$top=N&from=T`` (a stored job's next runs) and
``POST .../jobCollections/{c}/preview`` (a body not stored), with cron and a DST policy,
errors in Azure's shape, and nothing stored by a preview."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.harness import Api, RunningServer, http_action, unique


def _next_spring_forward() -> date:
    """The next last Sunday of March (Amsterdam's clocks go forward) at least 3 days on."""
    today = datetime.now(UTC).date()
    for year in (today.year, today.year + 1):
        last = date(year, 3, 31)
        sunday = last - timedelta(days=(last.weekday() + 1) % 7)
        if sunday - today >= timedelta(days=3):
            return sunday
    raise AssertionError("unreachable")


GAP_DAY = _next_spring_forward()
# A start ahead (within the 18 months a startTime may be ahead): the Friday before.
START = f"{GAP_DAY - timedelta(days=2)}T00:00:00Z"


def _at(day: date, offset_days: int, time: str) -> str:
    return f"{day + timedelta(days=offset_days)}T{time}Z"


WEEKDAYS = {
    "startTime": START,
    "recurrence": {
        "cron": "30 2 * * *",
        "timeZone": "Europe/Amsterdam",
        "dstPolicy": {"gap": "skip"},
    },
}


@pytest.fixture
def api(server: RunningServer) -> Any:
    client = Api(server)
    yield client
    client.close()


def _job(api: Api, properties: dict[str, Any]) -> tuple[str, str]:
    collection = unique("preview")
    api.create_collection(collection, "Standard")
    name = unique("job")
    api.create_job(collection, name, {"action": http_action("http://127.0.0.1:9/"), **properties})
    return collection, name


def test_a_stored_jobs_next_runs_and_from(api: Api) -> None:
    collection, name = _job(api, WEEKDAYS)
    path = f"{api.job_path(collection, name)}/preview"
    response = api.get(path, params={"$top": "4"})
    assert response.status_code == 200, response.text
    # 02:30 CET on Friday and Saturday; none on Sunday (02:30 does not exist that day:
    # skipped); 02:30 CEST from Monday.
    assert response.json() == {
        "value": [
            _at(GAP_DAY, -2, "01:30:00"),
            _at(GAP_DAY, -1, "01:30:00"),
            _at(GAP_DAY, 1, "00:30:00"),
            _at(GAP_DAY, 2, "00:30:00"),
        ]
    }
    later = api.get(path, params={"$top": "2", "from": _at(GAP_DAY, 7, "00:00:00")})
    assert later.json() == {"value": [_at(GAP_DAY, 7, "00:30:00"), _at(GAP_DAY, 8, "00:30:00")]}
    assert len(api.get(path).json()["value"]) == 10


def test_a_counted_job_previews_what_is_left_and_a_disabled_one_nothing(api: Api) -> None:
    collection, name = _job(
        api, {"startTime": START, "recurrence": {"frequency": "Day", "count": 3}}
    )
    path = f"{api.job_path(collection, name)}/preview"
    assert len(api.get(path, params={"$top": "10"}).json()["value"]) == 3
    assert api.get(path, params={"from": _at(GAP_DAY, -1, "12:00:00")}).json() == {
        "value": [_at(GAP_DAY, 0, "00:00:00")]
    }
    response = api.post(f"{api.collection_path(collection)}/disable")
    assert response.status_code == 200, response.text
    assert api.get(path).json() == {"value": []}


def test_a_body_is_previewed_as_a_put_checks_it_and_nothing_is_stored(api: Api) -> None:
    collection = unique("preview")
    api.create_collection(collection, "Free")  # at most hourly
    path = f"{api.collection_path(collection)}/preview"
    body = {"properties": {"action": http_action("http://127.0.0.1:9/"), **WEEKDAYS}}
    response = api.post(path, params={"$top": "2"}, json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "value": [_at(GAP_DAY, -2, "01:30:00"), _at(GAP_DAY, -1, "01:30:00")]
    }
    often = {
        "properties": {
            "action": http_action("http://127.0.0.1:9/"),
            "recurrence": {"cron": "*/5 * * * *"},
        }
    }
    refused = api.post(path, json=often)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"]
    jobs = api.get(f"{api.collection_path(collection)}/jobs")
    assert jobs.json()["value"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [({"$top": "0"}, "$top"), ({"$top": "x"}, "$top"), ({"from": "tomorrow"}, "from")],
    ids=["top-0", "top-text", "from-text"],
)
def test_bad_preview_queries_are_400s(api: Api, params: dict[str, str], field: str) -> None:
    collection, name = _job(api, WEEKDAYS)
    response = api.get(f"{api.job_path(collection, name)}/preview", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["message"]


def test_a_missing_job_is_a_404(api: Api) -> None:
    collection = unique("preview")
    api.create_collection(collection, "Standard")
    response = api.get(f"{api.job_path(collection, 'nothing')}/preview")
    assert response.status_code == 404


def test_a_jittered_body_previewed_as_its_job_is_what_the_stored_job_shows(api: Api) -> None:
    collection = unique("preview")
    api.create_collection(collection, "Standard")
    properties = {
        "action": http_action("http://127.0.0.1:9/"),
        "startTime": START,
        "recurrence": {"frequency": "Hour", "interval": 1, "jitter": "PT45M"},
    }
    path = f"{api.collection_path(collection)}/preview"
    named = api.post(path, params={"$top": "8", "job": "spread"}, json={"properties": properties})
    assert named.status_code == 200, named.text
    other = api.post(path, params={"$top": "8", "job": "other"}, json={"properties": properties})
    assert named.json() != other.json()  # the jitter is the job's
    created = api.create_job(collection, "spread", properties)
    assert created["properties"]["recurrence"]["jitter"] == "PT45M"
    stored = api.get(f"{api.job_path(collection, 'spread')}/preview", params={"$top": "8"})
    assert stored.json() == named.json()
    runs = [datetime.fromisoformat(value) for value in stored.json()["value"]]
    slots = [datetime.fromisoformat(START) + timedelta(hours=hour) for hour in range(8)]
    assert all(
        slot <= run < slot + timedelta(minutes=45) for slot, run in zip(slots, runs, strict=True)
    )
    assert created["properties"]["status"]["nextExecutionTime"] == stored.json()["value"][0]
    bad = api.post(path, params={"job": "x" * 200}, json={"properties": properties})
    assert bad.status_code == 400, bad.text


def test_explain_over_the_api_and_its_errors(api: Api) -> None:
    collection, name = _job(api, WEEKDAYS)
    path = f"{api.job_path(collection, name)}/explain"
    # 02:30 does not exist in Amsterdam on GAP_DAY; with "skip" that day has no run.
    response = api.get(path, params={"at": _at(GAP_DAY, 0, "01:30:00")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scheduled"] is False
    assert body["outcome"] == "notScheduled"
    assert body["previous"] == _at(GAP_DAY, -1, "01:30:00")
    assert body["next"] == _at(GAP_DAY, 1, "00:30:00")
    assert any("dstPolicy.gap 'skip'" in reason for reason in body["reasons"])
    ahead = api.get(path, params={"at": _at(GAP_DAY, 1, "00:30:00")}).json()
    assert (ahead["scheduled"], ahead["outcome"]) == (True, "upcoming")
    for params in ({}, {"at": "tomorrow"}):
        bad = api.get(path, params=params)
        assert bad.status_code == 400, bad.text
        assert bad.json()["error"]["code"] == "BadRequest"
    missing = api.get(f"{api.job_path(collection, 'nope')}/explain", params={"at": START})
    assert missing.status_code == 404
