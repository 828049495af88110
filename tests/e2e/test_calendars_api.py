"""Holiday calendars over the API (issue 14, item 4), against the real server process:
``.../jobCollections/{c}/calendars/{name}`` PUT, GET, list and DELETE in Azure's envelope and
error shape; a job that follows one previews (and so runs) around its holidays; a calendar's
PUT moves its jobs' next runs; and every refused write stores nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.harness import Api, RunningServer, http_action, unique


def _next_monday() -> date:
    today = datetime.now(UTC).date()
    return today + timedelta(days=7 - today.weekday() + 7)  # one to two weeks ahead


MONDAY = _next_monday()
WEEKEND = {"properties": {"weekDays": ["Saturday", "Sunday"]}}


@pytest.fixture
def api(server: RunningServer) -> Any:
    client = Api(server)
    yield client
    client.close()


def _calendar_path(api: Api, collection: str, name: str) -> str:
    return f"{api.collection_path(collection)}/calendars/{name}"


def _daily(on_holiday: str = "skip", name: str = "Off") -> dict[str, Any]:
    return {
        "action": http_action("http://127.0.0.1:9/"),
        "startTime": f"{MONDAY}T00:00:00Z",
        "recurrence": {
            "frequency": "Day",
            "interval": 1,
            "schedule": {"hours": [9], "minutes": [0]},
            "calendar": {"name": name, "onHoliday": on_holiday},
        },
    }


def _days(api: Api, collection: str, job: str, count: int = 6) -> list[int]:
    response = api.get(f"{api.job_path(collection, job)}/preview", params={"$top": str(count)})
    assert response.status_code == 200, response.text
    return [(datetime.fromisoformat(run).date() - MONDAY).days for run in response.json()["value"]]


def test_calendar_resource_and_a_job_that_follows_it(api: Api) -> None:
    collection = unique("cal")
    api.create_collection(collection)
    path = _calendar_path(api, collection, "Off")
    created = api.put(path, WEEKEND)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["type"] == "Microsoft.Scheduler/jobCollections/calendars"
    assert body["name"] == f"{collection}/Off"
    assert body["id"].endswith(f"/jobCollections/{collection}/calendars/Off")
    assert body["properties"] == {"dates": [], "weekDays": ["Sunday", "Saturday"], "jobs": []}
    job = unique("job")
    api.create_job(collection, job, _daily())
    assert _days(api, collection, job) == [0, 1, 2, 3, 4, 7]
    shown = api.job(collection, job)["properties"]["recurrence"]["calendar"]
    assert shown == {"name": "Off", "onHoliday": "skip"}
    # Names compare without case; the GET names the job that follows it.
    got = api.get(_calendar_path(api, collection, "OFF"))
    assert got.status_code == 200, got.text
    assert got.json()["properties"]["jobs"] == [job]
    # Wednesday becomes a holiday: the job's next runs move with it. A GET body PUT back
    # (with its read-only jobs) is accepted.
    changed = got.json()
    changed["properties"]["dates"] = [str(MONDAY + timedelta(days=2))]
    replaced = api.put(path, changed)
    assert replaced.status_code == 200, replaced.text
    assert _days(api, collection, job) == [0, 1, 3, 4, 7, 8]
    listed = api.get(f"{api.collection_path(collection)}/calendars")
    assert listed.status_code == 200, listed.text
    assert [item["name"] for item in listed.json()["value"]] == [f"{collection}/Off"]
    assert listed.json()["nextLink"] is None


def test_delete_in_use_is_a_409_then_works(api: Api) -> None:
    collection = unique("cal")
    api.create_collection(collection)
    path = _calendar_path(api, collection, "Off")
    assert api.put(path, WEEKEND).status_code == 201
    job = unique("job")
    api.create_job(collection, job, _daily("next"))
    refused = api.delete(path)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "Conflict"
    assert job in refused.json()["error"]["message"]
    assert api.get(path).status_code == 200
    assert api.delete(api.job_path(collection, job)).status_code == 200
    assert api.delete(path).status_code == 200
    missing = api.get(path)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ResourceNotFound"


@pytest.mark.parametrize(
    "body",
    [
        {"properties": {"dates": ["2026-13-01"]}},
        {"properties": {"weekDays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                     "Saturday", "Sunday"]}},
        {"properties": {"timeZone": "Nowhere/City"}},
        {"properties": {"dates": {"day": "2026-12-25"}}},
        {"properties": {"colour": "red"}},
        {"properties": {"dates": ["2026-12-25\u0000"]}},
        [],
    ],
    ids=["month-13", "whole-week", "zone", "not-a-list", "unknown-key", "nul", "array"],
)  # fmt: skip
def test_a_bad_calendar_is_a_400_and_changes_nothing(api: Api, body: Any) -> None:
    collection = unique("cal")
    api.create_collection(collection)
    path = _calendar_path(api, collection, "Off")
    assert api.put(path, WEEKEND).status_code == 201
    response = api.put(path, body)
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]) == {"code", "message"}
    assert api.get(path).json()["properties"]["weekDays"] == ["Sunday", "Saturday"]
    fresh = api.put(_calendar_path(api, collection, "Other"), body)
    assert fresh.status_code == 400
    assert api.get(_calendar_path(api, collection, "Other")).status_code == 404


def test_a_job_naming_a_missing_calendar_is_a_400_and_not_stored(api: Api) -> None:
    collection = unique("cal")
    api.create_collection(collection)
    job = unique("job")
    response = api.put(api.job_path(collection, job), {"properties": _daily(name="nope")})
    assert response.status_code == 400, response.text
    assert "no calendar 'nope'" in response.json()["error"]["message"]
    assert api.get(api.job_path(collection, job)).status_code == 404


def test_bad_names_and_no_api_version(api: Api) -> None:
    collection = unique("cal")
    api.create_collection(collection)
    bad = api.put(_calendar_path(api, collection, "9-starts-with-a-digit"), WEEKEND)
    assert bad.status_code == 400, bad.text
    unversioned = api.put(_calendar_path(api, collection, "Off"), WEEKEND, api_version=None)
    assert unversioned.status_code == 400
    nowhere = api.put(_calendar_path(api, unique("missing"), "Off"), WEEKEND)
    assert nowhere.status_code == 404
