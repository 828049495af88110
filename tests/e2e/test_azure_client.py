"""Microsoft's ``azure-mgmt-scheduler`` 7.0.0 client against the real ``jobclock serve``."""

from __future__ import annotations

import base64
import calendar
import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.scheduler import SchedulerManagementClient
from azure.mgmt.scheduler.models import (
    DayOfWeek,
    HttpRequest,
    JobAction,
    JobActionType,
    JobCollectionDefinition,
    JobCollectionProperties,
    JobCollectionQuota,
    JobCollectionState,
    JobDefinition,
    JobExecutionStatus,
    JobHistoryActionName,
    JobMaxRecurrence,
    JobProperties,
    JobRecurrence,
    JobRecurrenceSchedule,
    JobRecurrenceScheduleMonthlyOccurrence,
    JobScheduleDay,
    JobState,
    RecurrenceFrequency,
    RetryPolicy,
    RetryType,
    Sku,
    SkuDefinition,
)

from tests.e2e.harness import Api, RunningServer, Target, http_action, unique, wait_for

SUBSCRIPTION = "sdk-sub"
GROUP = "sdk-rg"
FAR_FUTURE = 4_102_444_800  # 2100-01-01


class StaticCredential:
    """A ``TokenCredential``: the server's fixed token, valid for ever."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, FAR_FUTURE)


class BearerOverHttp(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """``BearerTokenCredentialPolicy`` refuses plain http; this sets the header anyway."""

    def __init__(self, credential: StaticCredential) -> None:
        super().__init__()
        self._credential = credential

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        token = self._credential.get_token("https://management.azure.com/.default").token
        request.http_request.headers["Authorization"] = f"Bearer {token}"


def _client(server: RunningServer, token: str | None = None) -> SchedulerManagementClient:
    credential = StaticCredential(token or server.token)
    return SchedulerManagementClient(
        credential,
        SUBSCRIPTION,
        base_url=server.base_url,
        authentication_policy=BearerOverHttp(credential),
        retry_total=0,
    )


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[SchedulerManagementClient]:
    with _client(server) as sdk:
        yield sdk


def _standard_collection(**quota: Any) -> JobCollectionDefinition:
    return JobCollectionDefinition(
        location="West US",
        properties=JobCollectionProperties(
            sku=Sku(name=SkuDefinition.STANDARD),
            quota=JobCollectionQuota(
                max_job_count=quota.get("max_job_count", 20),
                max_recurrence=JobMaxRecurrence(frequency=RecurrenceFrequency.MINUTE, interval=1),
            ),
        ),
    )


@pytest.fixture
def collection(client: SchedulerManagementClient) -> Iterator[str]:
    name = unique("sdk-jc")
    client.job_collections.create_or_update(GROUP, name, _standard_collection())
    yield name
    with contextlib.suppress(ResourceNotFoundError):
        client.job_collections.begin_delete(GROUP, name).result()


def _http_job(uri: str, **properties: Any) -> JobDefinition:
    return JobDefinition(
        properties=JobProperties(
            action=JobAction(
                type=JobActionType.HTTP,
                request=HttpRequest(
                    uri=uri, method="POST", headers={"X-Sdk": "yes"}, body="from the sdk"
                ),
                retry_policy=RetryPolicy(
                    retry_type=RetryType.FIXED, retry_interval=timedelta(seconds=30), retry_count=2
                ),
            ),
            **properties,
        )
    )


def _last_friday_at_1730(moment: datetime) -> bool:
    days_in_month = calendar.monthrange(moment.year, moment.month)[1]
    return (
        moment.weekday() == calendar.FRIDAY
        and moment.day + 7 > days_in_month
        and (moment.hour, moment.minute, moment.second) == (17, 30, 0)
    )


# -- collections -------------------------------------------------------------------------


def test_collection_create_get_and_list(client: SchedulerManagementClient) -> None:
    name = unique("sdk-jc")
    created = client.job_collections.create_or_update(GROUP, name, _standard_collection())
    assert created.name == name
    assert created.id == (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}"
        f"/providers/Microsoft.Scheduler/jobCollections/{name}"
    )
    assert created.location == "West US"
    assert created.properties.sku.name == SkuDefinition.STANDARD
    assert created.properties.state == JobCollectionState.ENABLED
    assert created.properties.quota.max_job_count == 20
    assert created.properties.quota.max_recurrence.frequency == RecurrenceFrequency.MINUTE
    assert created.properties.quota.max_recurrence.interval == 1

    got = client.job_collections.get(GROUP, name)
    assert got.as_dict() == created.as_dict()

    in_group = [c.name for c in client.job_collections.list_by_resource_group(GROUP)]
    assert name in in_group
    in_subscription = {c.id: c for c in client.job_collections.list_by_subscription()}
    assert in_subscription[created.id].as_dict() == created.as_dict()

    client.job_collections.begin_delete(GROUP, name).result()
    with pytest.raises(ResourceNotFoundError):
        client.job_collections.get(GROUP, name)
    assert name not in [c.name for c in client.job_collections.list_by_resource_group(GROUP)]


def test_the_clients_get_modify_put_of_a_collection_keeps_its_host_limits(
    client: SchedulerManagementClient, server: RunningServer
) -> None:
    """jobclock's ``hostLimits`` (per-target caps): the client's model cannot carry them,
    so its GET-modify-PUT keeps them; a bad rule is a 400 with nothing changed."""
    api = Api(server, subscription=SUBSCRIPTION, resource_group=GROUP)
    try:
        name = unique("sdk-caps")
        limits = [{"host": "api.example.com", "concurrency": 5, "ratePerSecond": 2.5}]
        api.create_collection(name, hostLimits=limits)
        fetched = client.job_collections.get(GROUP, name)
        fetched.tags = {"team": "ops"}
        client.job_collections.create_or_update(GROUP, name, fetched)
        stored = api.get(api.collection_path(name)).json()
        assert stored["tags"] == {"team": "ops"}
        assert stored["properties"]["hostLimits"] == limits
        bad = {"location": "West US", "properties": {"sku": {"name": "Unlimited"}}}
        bad["properties"]["hostLimits"] = [{"host": "api.example.com", "concurrency": 0}]
        response = api.put(api.collection_path(name), bad)
        assert response.status_code == 400, response.text
        assert "hostLimits[0]" in response.json()["error"]["message"]
        assert api.get(api.collection_path(name)).json()["properties"]["hostLimits"] == limits
    finally:
        api.close()


# -- an HTTP job, run and history --------------------------------------------------------


def test_http_job_reads_back_runs_and_has_history(
    client: SchedulerManagementClient, collection: str, target: Target
) -> None:
    job = unique("sdk-job")
    definition = _http_job(
        target.url("/sdk"),
        recurrence=JobRecurrence(
            frequency=RecurrenceFrequency.MINUTE, interval=1, count=5, schedule=None
        ),
    )
    created = client.jobs.create_or_update(GROUP, collection, job, definition)
    assert created.name == f"{collection}/{job}"
    properties = created.properties
    assert properties.state == JobState.ENABLED
    assert properties.action.type == JobActionType.HTTP
    assert properties.action.request.uri == target.url("/sdk")
    assert properties.action.request.method == "POST"
    assert properties.action.request.headers == {"X-Sdk": "yes"}
    assert properties.action.request.body == "from the sdk"
    assert properties.action.retry_policy.retry_type == RetryType.FIXED
    assert properties.action.retry_policy.retry_interval == timedelta(seconds=30)
    assert properties.action.retry_policy.retry_count == 2
    assert properties.recurrence.frequency == RecurrenceFrequency.MINUTE
    assert properties.recurrence.interval == 1
    assert properties.recurrence.count == 5
    assert properties.recurrence.schedule is None
    assert properties.status.execution_count == 0

    got = client.jobs.get(GROUP, collection, job)
    assert got.properties.action.as_dict() == properties.action.as_dict()
    assert got.properties.recurrence.as_dict() == properties.recurrence.as_dict()

    # No start time: the first occurrence runs at once.
    [first] = target.wait_for(1, "/sdk")
    assert first.method == "POST"
    assert first.body == b"from the sdk"
    assert first.headers["x-sdk"] == "yes"
    assert first.headers["x-ms-scheduler-jobid"] == job

    assert client.jobs.run(GROUP, collection, job) is None
    target.wait_for(2, "/sdk")

    def two_entries() -> list[Any] | None:
        entries = list(client.jobs.list_job_history(GROUP, collection, job))
        return entries if len(entries) >= 2 else None

    entries = wait_for(two_entries, "two history entries")
    assert len(entries) == 2
    for entry in entries:
        assert entry.properties.status == JobExecutionStatus.COMPLETED
        assert entry.properties.action_name == JobHistoryActionName.MAIN_ACTION
        assert entry.properties.message.startswith(
            "Http Action - Response from host '127.0.0.1': 'OK'"
        )
        assert entry.properties.retry_count == 0
        assert entry.properties.start_time <= entry.properties.end_time
    assert entries[0].properties.start_time >= entries[1].properties.start_time
    completed = list(
        client.jobs.list_job_history(GROUP, collection, job, filter="status eq Completed")
    )
    assert len(completed) == 2
    [newest] = client.jobs.list_job_history(GROUP, collection, job, top=1)
    assert newest.id == entries[0].id
    failed = client.jobs.list_job_history(GROUP, collection, job, filter="status eq Failed")
    assert list(failed) == []

    status = client.jobs.get(GROUP, collection, job).properties.status
    assert status.execution_count == 2
    assert status.failure_count == 0
    assert status.last_execution_time is not None
    assert status.next_execution_time > datetime.now(UTC)

    client.jobs.delete(GROUP, collection, job)
    with pytest.raises(ResourceNotFoundError):
        client.jobs.get(GROUP, collection, job)


def test_advanced_schedule_last_friday_reads_back(
    client: SchedulerManagementClient, collection: str, target: Target
) -> None:
    job = unique("sdk-monthly")
    definition = _http_job(
        target.url("/monthly"),
        recurrence=JobRecurrence(
            frequency=RecurrenceFrequency.MONTH,
            interval=1,
            schedule=JobRecurrenceSchedule(
                hours=[17],
                minutes=[30],
                monthly_occurrences=[
                    JobRecurrenceScheduleMonthlyOccurrence(day=JobScheduleDay.FRIDAY, occurrence=-1)
                ],
            ),
        ),
    )
    created = client.jobs.create_or_update(GROUP, collection, job, definition)
    schedule = created.properties.recurrence.schedule
    assert created.properties.recurrence.frequency == RecurrenceFrequency.MONTH
    assert schedule.hours == [17]
    assert schedule.minutes == [30]
    assert len(schedule.monthly_occurrences) == 1
    assert schedule.monthly_occurrences[0].day == JobScheduleDay.FRIDAY
    assert schedule.monthly_occurrences[0].occurrence == -1
    assert schedule.week_days is None
    assert schedule.month_days is None
    upcoming = created.properties.status.next_execution_time
    assert _last_friday_at_1730(upcoming), upcoming
    assert upcoming > datetime.now(UTC)

    got = client.jobs.get(GROUP, collection, job)
    assert got.properties.recurrence.as_dict() == created.properties.recurrence.as_dict()


def test_get_modify_put_keeps_every_value(
    client: SchedulerManagementClient, collection: str, target: Target
) -> None:
    job = unique("sdk-roundtrip")
    start = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    definition = _http_job(
        target.url("/roundtrip"),
        start_time=start,
        recurrence=JobRecurrence(
            frequency=RecurrenceFrequency.WEEK,
            interval=2,
            count=10,
            end_time=start + timedelta(days=200),
            schedule=JobRecurrenceSchedule(
                week_days=[DayOfWeek.MONDAY, DayOfWeek.THURSDAY], hours=[8], minutes=[15, 45]
            ),
        ),
    )
    created = client.jobs.create_or_update(GROUP, collection, job, definition)

    fetched = client.jobs.get(GROUP, collection, job)
    unchanged = client.jobs.create_or_update(GROUP, collection, job, fetched)
    assert unchanged.as_dict() == created.as_dict()

    fetched.properties.action.request.headers["X-Changed"] = "1"
    fetched.properties.recurrence.count = 11
    changed = client.jobs.create_or_update(GROUP, collection, job, fetched)
    assert changed.properties.action.request.headers == {"X-Sdk": "yes", "X-Changed": "1"}
    assert changed.properties.recurrence.count == 11
    expected = created.as_dict()
    expected["properties"]["action"]["request"]["headers"]["X-Changed"] = "1"
    expected["properties"]["recurrence"]["count"] = 11
    assert changed.as_dict() == expected
    assert changed.properties.start_time == start
    assert changed.properties.recurrence.schedule.week_days == [
        DayOfWeek.MONDAY,
        DayOfWeek.THURSDAY,
    ]
    assert changed.properties.action.retry_policy.retry_interval == timedelta(seconds=30)
    assert target.received("/roundtrip") == []

    # The same round trip for the last-Friday schedule: the ordinal must survive.
    monthly = unique("sdk-roundtrip-month")
    client.jobs.create_or_update(
        GROUP,
        collection,
        monthly,
        _http_job(
            target.url("/roundtrip"),
            start_time=start,
            recurrence=JobRecurrence(
                frequency=RecurrenceFrequency.MONTH,
                schedule=JobRecurrenceSchedule(
                    monthly_occurrences=[
                        JobRecurrenceScheduleMonthlyOccurrence(
                            day=JobScheduleDay.FRIDAY, occurrence=-1
                        )
                    ]
                ),
            ),
        ),
    )
    again = client.jobs.create_or_update(
        GROUP, collection, monthly, client.jobs.get(GROUP, collection, monthly)
    )
    [occurrence] = again.properties.recurrence.schedule.monthly_occurrences
    assert (occurrence.day, occurrence.occurrence) == (JobScheduleDay.FRIDAY, -1)


# -- enable/disable, filters, deletes ----------------------------------------------------


def test_disable_enable_and_state_filter(
    client: SchedulerManagementClient, collection: str, target: Target
) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    names = sorted(unique("sdk-filtered") for _ in range(2))
    for name in names:
        client.jobs.create_or_update(
            GROUP, collection, name, _http_job(target.url("/f"), start_time=start)
        )

    def enabled() -> list[str]:
        return [
            job.name.split("/")[1]
            for job in client.jobs.list(GROUP, collection, filter="state eq Enabled")
        ]

    assert enabled() == names

    assert client.job_collections.begin_disable(GROUP, collection).result() is None
    assert client.job_collections.get(GROUP, collection).properties.state == (
        JobCollectionState.DISABLED
    )
    assert enabled() == []
    disabled = list(client.jobs.list(GROUP, collection, filter="state eq 'Disabled'"))
    assert [job.properties.state for job in disabled] == [JobState.DISABLED, JobState.DISABLED]

    client.job_collections.begin_enable(GROUP, collection).result()
    assert client.job_collections.get(GROUP, collection).properties.state == (
        JobCollectionState.ENABLED
    )
    assert enabled() == names
    assert [job.name for job in client.jobs.list(GROUP, collection, top=1)] == [
        f"{collection}/{names[0]}"
    ]

    client.jobs.delete(GROUP, collection, names[0])
    assert enabled() == names[1:]
    with pytest.raises(ResourceNotFoundError):
        client.jobs.delete(GROUP, collection, names[0])

    client.job_collections.begin_delete(GROUP, collection).result()
    with pytest.raises(ResourceNotFoundError):
        client.job_collections.get(GROUP, collection)
    with pytest.raises(ResourceNotFoundError):
        client.jobs.get(GROUP, collection, names[1])
    assert target.received("/f") == []


def test_errors_map_to_azure_core_exceptions(
    client: SchedulerManagementClient, server: RunningServer, target: Target
) -> None:
    name = unique("sdk-capped")
    client.job_collections.create_or_update(GROUP, name, _standard_collection(max_job_count=1))
    start = datetime.now(UTC) + timedelta(days=1)
    client.jobs.create_or_update(GROUP, name, "one", _http_job(target.url("/e"), start_time=start))
    with pytest.raises(ResourceExistsError):
        client.jobs.create_or_update(
            GROUP, name, "two", _http_job(target.url("/e"), start_time=start)
        )
    with pytest.raises(ResourceNotFoundError):
        client.jobs.get(GROUP, name, "two")
    with pytest.raises(ResourceNotFoundError) as missing:
        client.job_collections.get(GROUP, unique("sdk-missing"))
    assert missing.value.error is not None
    assert missing.value.error.code == "ResourceNotFound"
    with (
        _client(server, token="not-the-token") as intruder,  # noqa: S106
        pytest.raises(ClientAuthenticationError),
    ):
        intruder.job_collections.get(GROUP, name)
    client.job_collections.begin_delete(GROUP, name).result()


def test_list_follows_next_link_past_one_page(
    client: SchedulerManagementClient, server: RunningServer
) -> None:
    """More than 100 jobs: the server pages, and the client follows ``nextLink`` as given."""
    api = Api(server, subscription=SUBSCRIPTION, resource_group=GROUP)
    name = unique("sdk-big")
    api.create_collection(name)
    start = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    names = [f"job{index:03d}" for index in range(105)]
    for job in names:
        body = {"properties": {"startTime": start, "action": http_action("http://127.0.0.1:9/")}}
        assert api.put(api.job_path(name, job), body).status_code == 201
    api.close()

    assert [job.name for job in client.jobs.list(GROUP, name)] == [f"{name}/{j}" for j in names]
    filtered = client.jobs.list(GROUP, name, filter="state eq Enabled")
    assert len(list(filtered)) == 105
    assert [job.name for job in client.jobs.list(GROUP, name, top=2, skip=103)] == [
        f"{name}/job103",
        f"{name}/job104",
    ]
    client.job_collections.begin_delete(GROUP, name).result()


class RecordingBearer(BearerOverHttp):
    """Also keeps every URL the client GETs (the pager's nextLinks among them)."""

    def __init__(self, credential: StaticCredential) -> None:
        super().__init__(credential)
        self.urls: list[str] = []

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        super().on_request(request)
        self.urls.append(request.http_request.url)


def _history_rows(db_path: Path, job: str, count: int) -> list[str]:
    """``count`` entries of ``job`` written straight into the server's database, three to a
    start time (the engine would take minutes to write them); their names, newest first."""
    with sqlite3.connect(db_path) as db:
        [(job_id,)] = db.execute("SELECT id FROM jobs WHERE name_key = ?", (job.lower(),))
        start = 1_700_000_000_000_000
        rows = []
        for index in range(count):
            at = start + (index // 3) * 60_000_000
            rows.append((job_id, f"{index:020d}:{index:020d}", at, at, at, index))
        db.executemany(
            "INSERT INTO history (job_id, history_id, start_time, end_time,"
            " expected_execution_time, action_name, status, message, retry_count,"
            " repeat_count) VALUES (?, ?, ?, ?, ?, 'MainAction', 'Completed', 'ok', 0, ?)",
            rows,
        )
    return [row[1] for row in reversed(rows)]  # later start, then later write: first


def test_the_client_follows_skiptoken_next_links_of_jobs_and_history(
    server: RunningServer,
) -> None:
    """Keyset server paging (issue 13): the 7.0.0 pagers GET the ``$skiptoken`` nextLinks
    verbatim, over more than one page of jobs and of one job's history."""
    api = Api(server, subscription=SUBSCRIPTION, resource_group=GROUP)
    name = unique("sdk-keyset")
    api.create_collection(name)
    start = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    names = sorted([f"Job-{index:03d}" for index in range(120)] + ["job_x", "jobA"], key=str.lower)
    for job in names:
        body = {"properties": {"startTime": start, "action": http_action("http://127.0.0.1:9/")}}
        assert api.put(api.job_path(name, job), body).status_code == 201
    api.close()
    expected = _history_rows(server.db_path, "Job-007", 230)

    credential = StaticCredential(server.token)
    recorder = RecordingBearer(credential)
    with SchedulerManagementClient(
        credential,
        SUBSCRIPTION,
        base_url=server.base_url,
        authentication_policy=recorder,
        retry_total=0,
    ) as sdk:
        assert [job.name for job in sdk.jobs.list(GROUP, name)] == [f"{name}/{j}" for j in names]
        enabled = sdk.jobs.list(GROUP, name, filter="state eq Enabled")
        assert len(list(enabled)) == 122
        history = list(sdk.jobs.list_job_history(GROUP, name, "Job-007"))
        assert [entry.name for entry in history] == [f"{name}/Job-007/{h}" for h in expected]
        assert all(entry.properties.status == JobExecutionStatus.COMPLETED for entry in history)
    followed = [url for url in recorder.urls if "$skiptoken=" in url]
    assert len(followed) == 1 + 1 + 2  # jobs, filtered jobs, history
    assert all("api-version=2016-03-01" in url and "$skip=" not in url for url in followed)
    assert sum("$filter=" in url for url in followed) == 1
    with _client(server) as sdk:
        sdk.job_collections.begin_delete(GROUP, name).result()


def test_the_clients_get_modify_put_keeps_a_cron_jobs_expression(
    client: SchedulerManagementClient, server: RunningServer, collection: str, target: Target
) -> None:
    """A job made with cron (issue 14) and edited with Microsoft's client, which cannot see
    ``cron``: its GET-modify-PUT keeps the expression, zone and DST policy."""
    api = Api(server, subscription=SUBSCRIPTION, resource_group=GROUP)
    try:
        job = unique("sdk-cron")
        recurrence = {
            "cron": "0 9 * * MON-FRI",
            "timeZone": "Europe/Amsterdam",
            "dstPolicy": {"gap": "skip", "fold": "first"},
            "count": 30,
        }
        api.create_job(
            collection, job, {"action": http_action(target.url("/cron")), "recurrence": recurrence}
        )
        fetched = client.jobs.get(GROUP, collection, job)
        assert fetched.properties.recurrence.frequency is None
        assert fetched.properties.recurrence.count == 30
        fetched.properties.action.request.headers = {"X-Edited": "yes"}
        client.jobs.create_or_update(GROUP, collection, job, fetched)
        stored = api.job(collection, job)["properties"]
        assert stored["recurrence"] == recurrence
        assert stored["action"]["request"]["headers"] == {"X-Edited": "yes"}
    finally:
        api.close()


def test_the_clients_get_modify_put_keeps_jobclocks_extensions_of_any_job(
    client: SchedulerManagementClient, server: RunningServer, collection: str, target: Target
) -> None:
    """Microsoft's client cannot carry jobclock's extensions (a recurrence's ``timeZone``,
    ``dstPolicy``, ``exdates``, ``jitter``, ``calendar``; a job's ``overlapPolicy``,
    ``catchUp`` and ``attemptTimeout``; a retry policy's ``maxInterval`` and ``maxAge``; a
    request's ``template`` and ``signing``): its
    GET-modify-PUT of an Azure-style job keeps them, while a plain PUT that leaves them out
    still replaces the job (the REST semantics of a PUT)."""
    api = Api(server, subscription=SUBSCRIPTION, resource_group=GROUP)
    try:
        job = unique("sdk-ext")
        recurrence = {
            "frequency": "Day",
            "interval": 1,
            "schedule": {"hours": [9], "minutes": [0]},
            "timeZone": "Europe/Amsterdam",
            "dstPolicy": {"gap": "skip", "fold": "both"},
            "exdates": ["2030-01-01T08:00:00Z"],
            "jitter": "PT5M",
        }
        calendar = f"{api.collection_path(collection)}/calendars/{job}"
        assert api.put(calendar, {"properties": {"weekDays": ["Sunday"]}}).status_code == 201
        recurrence["calendar"] = {"name": job, "onHoliday": "next"}
        extras = {
            "overlapPolicy": "Skip",
            "catchUp": {"policy": "once", "window": "PT1H"},
            "attemptTimeout": "PT5M",
        }
        retry = {
            "retryType": "Exponential",
            "retryInterval": "PT20S",
            "retryCount": 6,
            "maxInterval": "PT10M",
            "maxAge": "PT2H",
        }
        action = {**http_action(target.url("/ext")), "retryPolicy": retry}
        signing = {"secret": "whsec_" + base64.b64encode(b"s" * 32).decode()}
        action["request"] = {**action["request"], "template": True, "signing": signing}
        api.create_job(collection, job, {"action": action, "recurrence": recurrence, **extras})
        fetched = client.jobs.get(GROUP, collection, job)
        fetched.properties.recurrence.interval = 2
        client.jobs.create_or_update(GROUP, collection, job, fetched)
        stored = api.job(collection, job)["properties"]
        assert stored["recurrence"] == {**recurrence, "interval": 2}
        assert {key: stored.get(key) for key in extras} == extras
        assert stored["action"]["retryPolicy"] == retry
        assert stored["action"]["request"]["template"] is True
        assert stored["action"]["request"]["signing"] == {}  # kept, and never shown
        keys = api.get(api.job_path(collection, job)).text
        assert signing["secret"] not in keys
        # A PUT from anyone else is a full replacement: what it leaves out is gone.
        plain = {"action": http_action(target.url("/ext")), "recurrence": {"frequency": "Day"}}
        response = api.put(api.job_path(collection, job), {"properties": plain})
        assert response.status_code == 200, response.text
        replaced = api.job(collection, job)["properties"]
        assert "overlapPolicy" not in replaced
        assert "timeZone" not in replaced["recurrence"]
    finally:
        api.close()
