"""The HTTP layer of the ARM API over an in-memory service: auth, api-version, envelopes,
status codes, the error shape, listing and paging, case-insensitive paths (§2).

The service here is a dict-backed fake that reuses the real codec, so these tests pin
what ``jobclock.api`` does with whatever the service answers; the same app runs against
the real service in the end-to-end tests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from jobclock.api import create_app
from jobclock.api.schemas import (
    ErrorResponse,
    JobCollectionDefinition,
    JobDefinition,
    JobHistoryListResult,
    JobListResult,
)
from jobclock.codec.collection import collection_from_json
from jobclock.codec.job import job_definition_from_json
from jobclock.domain.collection import CollectionState
from jobclock.domain.errors import CollectionNotFound, NotFound
from jobclock.domain.history import ActionName, HistoryEntry, HistoryStatus, history_id
from jobclock.domain.job import Job, JobState, JobStatus
from jobclock.domain.records import HistoryKey
from jobclock.services import (
    CollectionRef,
    CollectionView,
    HistoryFilter,
    HistoryView,
    JobFilter,
    JobRef,
    JobView,
    Page,
    SchedulerService,
)

pytestmark = pytest.mark.anyio

TOKEN = "test-token-1234"  # noqa: S105 - a test credential
SUB = "Sub-1"
RG = "Group-1"
P = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Scheduler/jobCollections"
V = "api-version=2016-03-01"
HTTP_JOB: dict[str, Any] = {
    "properties": {
        "startTime": "2030-01-01T00:00:00Z",
        "action": {"type": "http", "request": {"uri": "http://example.com/", "method": "GET"}},
    }
}
T0 = datetime(2016, 3, 30, 20, 39, 53, 802195, tzinfo=UTC)


def _key(*names: str) -> tuple[str, ...]:
    return tuple(name.lower() for name in names)


class FakeScheduler(SchedulerService):
    """Just enough of the service for the HTTP layer: dicts and the real codec."""

    def __init__(self) -> None:  # no store, box or clock: nothing here needs them
        self.collections: dict[tuple[str, ...], CollectionView] = {}
        self.jobs: dict[tuple[str, ...], JobView] = {}
        self.history: dict[tuple[str, ...], list[HistoryEntry]] = {}
        self.runs: list[JobRef] = []
        self.patches: list[object] = []
        self.azure_clients: list[bool] = []  # put_job's azure_client, call by call

    # -- collections
    async def put_collection(
        self, ref: CollectionRef, body: object, *, azure_client: bool = False
    ) -> tuple[CollectionView, bool]:
        old = self.collections.get(_key(ref.subscription, ref.resource_group, ref.name))
        stored = ref if old is None else old.ref
        view = CollectionView(stored, collection_from_json(stored.name, body))
        self.collections[_key(ref.subscription, ref.resource_group, ref.name)] = view
        return view, old is None

    async def patch_collection(self, ref: CollectionRef, body: object) -> CollectionView:
        view = await self.get_collection(ref)
        self.patches.append(body)
        return view

    async def get_collection(self, ref: CollectionRef) -> CollectionView:
        view = self.collections.get(_key(ref.subscription, ref.resource_group, ref.name))
        if view is None:
            raise CollectionNotFound(
                f"The Resource 'Microsoft.Scheduler/jobcollections/{ref.name}' under resource "
                f"group '{ref.resource_group}' was not found."
            )
        return view

    async def list_collections(
        self, subscription: str, resource_group: str | None
    ) -> list[CollectionView]:
        found = [
            view
            for (sub, group, _), view in self.collections.items()
            if sub == subscription.lower()
            and (resource_group is None or group == resource_group.lower())
        ]
        return sorted(found, key=lambda view: view.collection.name.lower())

    async def delete_collection(self, ref: CollectionRef) -> None:
        view = await self.get_collection(ref)
        del self.collections[_key(*_parts(view.ref))]

    async def enable_collection(self, ref: CollectionRef) -> None:
        await self._set_state(ref, CollectionState.ENABLED)

    async def disable_collection(self, ref: CollectionRef) -> None:
        await self._set_state(ref, CollectionState.DISABLED)

    async def _set_state(self, ref: CollectionRef, state: CollectionState) -> None:
        view = await self.get_collection(ref)
        changed = replace(view.collection, state=state)
        self.collections[_key(*_parts(view.ref))] = CollectionView(view.ref, changed)

    # -- jobs
    async def put_job(
        self, ref: JobRef, body: object, *, azure_client: bool = False
    ) -> tuple[JobView, bool]:
        self.azure_clients.append(azure_client)
        collection = await self.get_collection(ref.collection)
        definition = job_definition_from_json(body)
        old = self.jobs.get(_job_key(ref))
        name = ref.name if old is None else old.job.name
        status = JobStatus() if old is None else old.job.status
        job = Job(collection.collection.name, name, definition, status)
        view = JobView(JobRef(collection.ref, name), job)
        self.jobs[_job_key(ref)] = view
        return view, old is None

    async def patch_job(self, ref: JobRef, body: object) -> JobView:
        view = await self.get_job(ref)
        self.patches.append(body)
        return view

    async def get_job(self, ref: JobRef) -> JobView:
        await self.get_collection(ref.collection)
        view = self.jobs.get(_job_key(ref))
        if view is None:
            raise NotFound(f"The job '{ref.name}' does not exist in '{ref.collection.name}'.")
        return view

    async def list_jobs(
        self,
        ref: CollectionRef,
        state: JobFilter,
        top: int | None,
        skip: int,
        *,
        name_contains: str | None = None,
        after: str | None = None,
    ) -> Page[JobView, str]:
        await self.get_collection(ref)
        found = [
            view
            for key, view in sorted(self.jobs.items())
            if key[:3] == _key(*_parts(ref))
            and (state is None or view.job.state is state)
            and (after is None or key[3] > after.lower())
        ]
        page = _page(found, top, skip)
        return replace(page, last=page.items[-1].ref.name if page.items else None)

    async def delete_job(self, ref: JobRef) -> None:
        await self.get_job(ref)
        del self.jobs[_job_key(ref)]

    async def run_job(self, ref: JobRef) -> None:
        await self.get_job(ref)
        if ref.name == "boom":
            raise RuntimeError("connection to postgres://admin:hunter2@db failed")
        self.runs.append(ref)

    async def list_history(
        self,
        ref: JobRef,
        status: HistoryFilter,
        top: int | None,
        skip: int,
        *,
        after: HistoryKey | None = None,
    ) -> Page[HistoryView, HistoryKey]:
        """Newest first by id; an entry's write order is its place in the seeded list."""
        view = await self.get_job(ref)
        entries = self.history.get(_job_key(ref), [])
        keys = {e.history_id: HistoryKey(e.start_time, n) for n, e in enumerate(entries)}

        def older(key: HistoryKey) -> bool:
            return after is None or (key.start_time, key.written) < (
                after.start_time,
                after.written,
            )

        found = [
            HistoryView(view.ref, entry)
            for entry in sorted(entries, key=lambda e: e.history_id)
            if (status is None or entry.status is status) and older(keys[entry.history_id])
        ]
        page = _page(found, top, skip)
        last = page.items[-1].entry.history_id if page.items else None
        return replace(page, last=None if last is None else keys[last])

    # -- seeding, for the tests
    def seed_collection(self, name: str, group: str = RG) -> CollectionRef:
        ref = CollectionRef(SUB, group, name)
        view = CollectionView(ref, collection_from_json(name, {"location": "westus"}))
        self.collections[_key(*_parts(ref))] = view
        return ref

    def seed_job(self, collection: CollectionRef, name: str, state: JobState) -> JobRef:
        ref = JobRef(collection, name)
        definition = replace(job_definition_from_json(HTTP_JOB), state=state)
        self.jobs[_job_key(ref)] = JobView(ref, Job(collection.name, name, definition))
        return ref

    def seed_history(self, ref: JobRef, count: int) -> None:
        """``count`` entries; every third failed, the others completed."""
        self.history[_job_key(ref)] = [
            _entry(ref, index, HistoryStatus.FAILED if index % 3 == 0 else HistoryStatus.COMPLETED)
            for index in range(count)
        ]


def _parts(ref: CollectionRef) -> tuple[str, str, str]:
    return (ref.subscription, ref.resource_group, ref.name)


def _job_key(ref: JobRef) -> tuple[str, ...]:
    return _key(*_parts(ref.collection), ref.name)


def _page(found: list[Any], top: int | None, skip: int) -> Page[Any, Any]:
    end = len(found) if top is None else skip + top
    return Page(found[skip:end], end < len(found))


def _entry(ref: JobRef, index: int, status: HistoryStatus) -> HistoryEntry:
    start = T0 + timedelta(minutes=index)
    return HistoryEntry(
        history_id=history_id(start, index),
        collection=ref.collection.name,
        job=ref.name,
        start_time=start,
        end_time=start + timedelta(milliseconds=62),
        expected_execution_time=start - timedelta(seconds=1),
        action_name=ActionName.MAIN_ACTION,
        status=status,
        message=f"attempt {index}",
        retry_count=0,
        repeat_count=index + 1,
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> FakeScheduler:
    return FakeScheduler()


@pytest.fixture
async def client(fake: FakeScheduler) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(fake, TOKEN))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    """The response is Azure's error shape with ``status`` and ``code``; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    ErrorResponse.model_validate(body)
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    return message


# -- authentication, health, documents ------------------------------------------------------


async def test_healthz_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {TOKEN}x", "Bearer", f"Basic {TOKEN}", TOKEN, "Bearer " + TOKEN[:-1]],
    ids=["missing", "wrong", "empty", "basic", "no-scheme", "prefix"],
)
async def test_requests_without_the_token_get_401(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    client.headers.pop("Authorization")
    response = await client.get(f"{P}?{V}", headers=headers)
    assert_error(response, 401, "AuthenticationFailed")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["x-ms-request-id"]


async def test_the_token_also_guards_openapi_and_docs(client: httpx.AsyncClient) -> None:
    client.headers.pop("Authorization")
    for path in ("/openapi.json", "/docs"):
        assert_error(await client.get(path), 401, "AuthenticationFailed")


async def test_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{P}?{V}", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200


def test_an_empty_token_is_refused(fake: FakeScheduler) -> None:
    with pytest.raises(ValueError, match="token"):
        create_app(fake, "")


async def test_openapi_lists_the_15_operations_with_required_api_version(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    operations = [
        operation
        for path, item in document["paths"].items()
        if path.startswith("/subscriptions/")
        for operation in item.values()
    ]
    assert sorted(op["operationId"] for op in operations) == sorted(
        [
            "JobCollections_ListBySubscription",
            "JobCollections_ListByResourceGroup",
            "JobCollections_Get",
            "JobCollections_CreateOrUpdate",
            "JobCollections_Patch",
            "JobCollections_Delete",
            "JobCollections_Enable",
            "JobCollections_Disable",
            "Jobs_Get",
            "Jobs_CreateOrUpdate",
            "Jobs_Patch",
            "Jobs_Delete",
            "Jobs_Run",
            "Jobs_List",
            "Jobs_ListJobHistory",
            # jobclock's extensions under the same paths (issue 14): previews, explain and
            # backfill.
            "Jobs_Preview",
            "Jobs_PreviewDefinition",
            "Jobs_Explain",
            "Jobs_Backfill",
            # A collection's holiday calendars (issue 14, item 4).
            "Calendars_List",
            "Calendars_Get",
            "Calendars_CreateOrUpdate",
            "Calendars_Delete",
            # A collection's notification endpoints (issue 15, item 5).
            "Notifications_List",
            "Notifications_Get",
            "Notifications_History",
            "Notifications_CreateOrUpdate",
            "Notifications_Delete",
        ]
    )
    for operation in operations:
        (version,) = [p for p in operation["parameters"] if p["name"] == "api-version"]
        assert version["required"] is True


async def test_docs_page_loads_nothing_from_elsewhere(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text
    assert "http://" not in response.text
    assert "https://" not in response.text
    assert "<script src" not in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


# -- api-version and headers -----------------------------------------------------------------


async def test_missing_api_version_is_400(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(P), 400, "MissingApiVersionParameter")


@pytest.mark.parametrize(
    "version", ["2015-01-01", "2016-03-01x", "2014-04-01", "2016-01-01", "2014-08-01-preview"]
)
async def test_unknown_api_version_is_400(client: httpx.AsyncClient, version: str) -> None:
    message = assert_error(
        await client.get(P, params={"api-version": version}), 400, "InvalidApiVersionParameter"
    )
    assert version in message


async def test_the_supported_api_version(client: httpx.AsyncClient) -> None:
    response = await client.get(P, params={"api-version": "2016-03-01"})
    assert response.status_code == 200
    assert response.json() == {"value": [], "nextLink": None}


@pytest.mark.parametrize("path", [f"{P}?{V}", f"{P}/missing?{V}", "/nowhere"])
async def test_arm_headers_on_every_answer(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(
        path,
        headers={"x-ms-client-request-id": "client-1", "x-ms-correlation-request-id": "corr-1"},
    )
    uuid.UUID(response.headers["x-ms-request-id"])
    assert response.headers["x-ms-client-request-id"] == "client-1"
    assert response.headers["x-ms-correlation-request-id"] == "corr-1"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["expires"] == "-1"


async def test_request_ids_are_new_per_request(client: httpx.AsyncClient) -> None:
    first = await client.get(f"{P}?{V}")
    second = await client.get(f"{P}?{V}")
    assert first.headers["x-ms-request-id"] != second.headers["x-ms-request-id"]
    assert "x-ms-client-request-id" not in first.headers
    assert first.headers["x-ms-correlation-request-id"] == first.headers["x-ms-request-id"]


# -- collections -----------------------------------------------------------------------------


async def test_put_collection_creates_then_replaces(client: httpx.AsyncClient) -> None:
    body = {
        "location": "westus",
        "properties": {
            "sku": {"name": "standard"},
            "quota": {"maxJobCount": 50, "maxRecurrence": {"frequency": "minute", "interval": 1}},
        },
    }
    created = await client.put(f"{P}/jc1?{V}", json=body)
    assert created.status_code == 201
    assert created.json() == {
        "id": f"{P}/jc1",
        "type": "Microsoft.Scheduler/jobCollections",
        "name": "jc1",
        "location": "West US",
        "properties": {
            "sku": {"name": "Standard"},
            "state": "Enabled",
            "quota": {"maxJobCount": 50, "maxRecurrence": {"frequency": "Minute", "interval": 1}},
        },
    }
    replaced = await client.put(f"{P}/jc1?{V}", json=body)
    assert replaced.status_code == 200
    assert replaced.json() == created.json()
    JobCollectionDefinition.model_validate(replaced.json())


async def test_collection_tags_are_echoed_when_given(client: httpx.AsyncClient) -> None:
    body = {"location": "West US", "tags": {"team": "ops"}}
    response = await client.put(f"{P}/jc1?{V}", json=body)
    assert response.json()["tags"] == {"team": "ops"}


async def test_missing_collection_is_resource_not_found(client: httpx.AsyncClient) -> None:
    message = assert_error(await client.get(f"{P}/nope?{V}"), 404, "ResourceNotFound")
    assert message == (
        f"The Resource 'Microsoft.Scheduler/jobcollections/nope' under resource group '{RG}' "
        "was not found."
    )


async def test_ids_use_the_names_as_stored(client: httpx.AsyncClient) -> None:
    await client.put(f"{P}/MyJobs?{V}", json={"location": "westus"})
    other_case = P.replace(SUB, SUB.upper()).replace(RG, RG.lower())
    body = (await client.get(f"{other_case}/myjobs?{V}")).json()
    assert body["name"] == "MyJobs"
    assert body["id"] == f"{P}/MyJobs"
    await client.put(f"{other_case}/myjobs/jobs/Nightly?{V}", json=HTTP_JOB)
    job = (await client.get(f"{other_case}/MYJOBS/jobs/NIGHTLY?{V}")).json()
    assert job["name"] == "MyJobs/Nightly"
    assert job["id"] == f"{P}/MyJobs/jobs/Nightly"


async def test_collections_list_by_subscription_and_by_resource_group(
    client: httpx.AsyncClient, fake: FakeScheduler
) -> None:
    fake.seed_collection("b", group="g1")
    fake.seed_collection("a", group="g2")
    everything = await client.get(
        f"/subscriptions/{SUB}/providers/Microsoft.Scheduler/jobCollections?{V}"
    )
    assert [c["name"] for c in everything.json()["value"]] == ["a", "b"]
    assert everything.json()["nextLink"] is None
    group = P.replace(RG, "g1")
    one = (await client.get(f"{group}?{V}")).json()
    assert [c["id"] for c in one["value"]] == [f"{group}/b"]


async def test_collection_actions_answer_200_with_an_empty_body(
    client: httpx.AsyncClient, fake: FakeScheduler
) -> None:
    fake.seed_collection("jc1")
    disabled = await client.post(f"{P}/jc1/disable?{V}")
    assert (disabled.status_code, disabled.content) == (200, b"")
    assert (await client.get(f"{P}/jc1?{V}")).json()["properties"]["state"] == "Disabled"
    enabled = await client.post(f"{P}/jc1/enable?{V}")
    assert (enabled.status_code, enabled.content) == (200, b"")
    deleted = await client.delete(f"{P}/jc1?{V}")
    assert (deleted.status_code, deleted.content) == (200, b"")
    assert_error(await client.delete(f"{P}/jc1?{V}"), 404, "ResourceNotFound")


async def test_patch_hands_the_decoded_body_to_the_service(
    client: httpx.AsyncClient, fake: FakeScheduler
) -> None:
    collection = fake.seed_collection("jc1")
    fake.seed_job(collection, "job1", JobState.ENABLED)
    assert (await client.patch(f"{P}/jc1?{V}", json={"tags": {"a": "b"}})).status_code == 200
    patch = {"properties": {"recurrence": {"frequency": "Day"}}}
    response = await client.patch(f"{P}/jc1/jobs/job1?{V}", json=patch)
    assert response.status_code == 200
    assert response.json()["name"] == "jc1/job1"
    assert fake.patches == [{"tags": {"a": "b"}}, patch]


# -- jobs ------------------------------------------------------------------------------------


async def test_put_job_creates_then_replaces(
    client: httpx.AsyncClient, fake: FakeScheduler
) -> None:
    fake.seed_collection("jc1")
    created = await client.put(f"{P}/jc1/jobs/job1?{V}", json=HTTP_JOB)
    assert created.status_code == 201
    assert created.json() == {
        "id": f"{P}/jc1/jobs/job1",
        "type": "Microsoft.Scheduler/jobCollections/jobs",
        "name": "jc1/job1",
        "properties": {
            "startTime": "2030-01-01T00:00:00Z",
            "action": {
                "request": {"uri": "http://example.com/", "method": "GET"},
                "type": "Http",
            },
            "state": "Enabled",
            "status": {"executionCount": 0, "failureCount": 0, "faultedCount": 0},
        },
    }
    JobDefinition.model_validate(created.json())
    replaced = await client.put(f"{P}/jc1/jobs/job1?{V}", json=HTTP_JOB)
    assert replaced.status_code == 200
    assert (await client.get(f"{P}/jc1/jobs/job1?{V}")).json() == replaced.json()
    # A PUT from one of Microsoft's SDKs is told apart (it cannot carry the extensions).
    agent = {"User-Agent": "azsdk-python-mgmt-scheduler/7.0.0 Python/3.11.2 (Linux)"}
    await client.put(f"{P}/jc1/jobs/job1?{V}", json=HTTP_JOB, headers=agent)
    assert fake.azure_clients == [False, False, True]


async def test_put_job_under_a_missing_collection(client: httpx.AsyncClient) -> None:
    message = assert_error(
        await client.put(f"{P}/nope/jobs/job1?{V}", json=HTTP_JOB), 404, "ResourceNotFound"
    )
    assert "'Microsoft.Scheduler/jobcollections/nope'" in message


async def test_missing_job_is_resource_not_found(
    client: httpx.AsyncClient, fake: FakeScheduler
) -> None:
    fake.seed_collection("jc1")
    message = assert_error(await client.get(f"{P}/jc1/jobs/nope?{V}"), 404, "ResourceNotFound")
    assert "nope" in message


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b'{"properties": '], ids=repr)
async def test_malformed_json_is_malformed_job_object(
    client: httpx.AsyncClient, fake: FakeScheduler, body: bytes
) -> None:
    fake.seed_collection("jc1")
    response = await client.put(
        f"{P}/jc1/jobs/job1?{V}", content=body, headers={"content-type": "application/json"}
    )
    assert assert_error(response, 400, "BadRequest") == "Malformed Job Object"


async def test_a_json_body_that_is_not_an_object_is_malformed(
    client: httpx.AsyncClient, fake: FakeScheduler
) -> None:
    fake.seed_collection("jc1")
    response = await client.put(f"{P}/jc1/jobs/job1?{V}", json=[1, 2])
    assert assert_error(response, 400, "BadRequest").startswith("Malformed Job Object")


async def test_an_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.put(f"{P}/jc1?{V}", content=b" " * (2 << 20))
    assert "larger than" in assert_error(response, 400, "BadRequest")


async def test_job_actions_answer_200_with_an_empty_body(
    client: httpx.AsyncClient, fake: FakeScheduler
) -> None:
    collection = fake.seed_collection("jc1")
    fake.seed_job(collection, "job1", JobState.ENABLED)
    run = await client.post(f"{P}/jc1/jobs/job1/run?{V}")
    assert (run.status_code, run.content) == (200, b"")
    assert fake.runs == [JobRef(CollectionRef(SUB, RG, "jc1"), "job1")]
    deleted = await client.delete(f"{P}/jc1/jobs/job1?{V}")
    assert (deleted.status_code, deleted.content) == (200, b"")
    assert_error(await client.get(f"{P}/jc1/jobs/job1?{V}"), 404, "ResourceNotFound")


async def test_an_unexpected_error_is_a_500_without_internals(
    client: httpx.AsyncClient, fake: FakeScheduler
) -> None:
    fake.seed_job(fake.seed_collection("jc1"), "boom", JobState.ENABLED)
    response = await client.post(f"{P}/jc1/jobs/boom/run?{V}")
    message = assert_error(response, 500, "InternalError")
    assert "hunter2" not in response.text
    assert "postgres" not in message
    assert response.headers["x-ms-request-id"]


async def test_unknown_routes_and_methods_use_the_error_shape(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(f"/subscriptions/{SUB}/whatever?{V}"), 404, "NotFound")
    response = await client.post(f"{P}/jc1?{V}")
    assert_error(response, 405, "MethodNotAllowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "PUT", "PATCH", "DELETE"}


# -- listing, filters, paging ----------------------------------------------------------------


def _seed_jobs(fake: FakeScheduler, count: int) -> None:
    collection = fake.seed_collection("jc1")
    for index in range(count):
        state = JobState.DISABLED if index % 2 else JobState.ENABLED
        fake.seed_job(collection, f"job{index:03d}", state)


@pytest.mark.parametrize(
    "query",
    [
        "$top=0",
        "$top=101",
        "$top=abc",
        "$top=",
        "$top=1.5",
        "$skip=-1",
        "$skip=x",
        "$filter=state%20eq%20Bogus",
        "$filter=status%20eq%20Completed",
        "$filter=state%20ne%20Enabled",
        "$filter=state%20eq%20Enabled%20and%20state%20eq%20Disabled",
        "$filter=state%20eq%20'Enabled",
        "$filter=",
    ],
)
async def test_bad_list_parameters_are_400(
    client: httpx.AsyncClient, fake: FakeScheduler, query: str
) -> None:
    _seed_jobs(fake, 3)
    response = await client.get(f"{P}/jc1/jobs?{V}&{query}")
    message = assert_error(response, 400, "BadRequest")
    assert query.split("=")[0] in message


@pytest.mark.parametrize(
    "clause",
    ["state eq Disabled", "state eq 'Disabled'", "STATE EQ 'disabled'", "  state   eq  disabled "],
)
async def test_job_state_filter_forms(
    client: httpx.AsyncClient, fake: FakeScheduler, clause: str
) -> None:
    _seed_jobs(fake, 6)
    response = await client.get(
        f"{P}/jc1/jobs", params={"api-version": "2016-03-01", "$filter": clause}
    )
    assert [job["name"] for job in response.json()["value"]] == [
        "jc1/job001",
        "jc1/job003",
        "jc1/job005",
    ]
    assert {job["properties"]["state"] for job in response.json()["value"]} == {"Disabled"}


async def test_top_and_skip_give_one_window_without_next_link(
    client: httpx.AsyncClient, fake: FakeScheduler
) -> None:
    _seed_jobs(fake, 10)
    body = (await client.get(f"{P}/jc1/jobs?{V}&$top=3&$skip=2")).json()
    assert [job["name"] for job in body["value"]] == ["jc1/job002", "jc1/job003", "jc1/job004"]
    assert body["nextLink"] is None
    assert (await client.get(f"{P}/jc1/jobs?{V}&$skip=50")).json() == {
        "value": [],
        "nextLink": None,
    }


async def follow(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    """GET ``url`` and every ``nextLink`` verbatim, as the SDK pagers do; returns the pages."""
    pages = []
    next_url: str | None = url
    while next_url is not None:
        response = await client.get(next_url)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        next_url = pages[-1]["nextLink"]
        assert len(pages) < 10
    return pages


async def test_server_pages_jobs_by_100_with_next_links(
    client: httpx.AsyncClient, fake: FakeScheduler
) -> None:
    _seed_jobs(fake, 250)
    pages = await follow(client, f"{P}/jc1/jobs?{V}")
    assert [len(page["value"]) for page in pages] == [100, 100, 50]
    names = [job["name"] for page in pages for job in page["value"]]
    assert names == [f"jc1/job{index:03d}" for index in range(250)]
    first_link = pages[0]["nextLink"]
    assert first_link.startswith(f"http://testserver{P}/jc1/jobs?")
    assert "api-version=2016-03-01" in first_link
    assert "$skiptoken=" in first_link  # keyset paging (issue 13), not $skip=100
    assert "$skip=" not in first_link
    for page in pages:
        JobListResult.model_validate(page)


async def test_next_links_keep_the_filter(client: httpx.AsyncClient, fake: FakeScheduler) -> None:
    _seed_jobs(fake, 420)
    url = f"{P}/jc1/jobs?{V}&$filter=state%20eq%20'Enabled'"
    pages = await follow(client, url)
    assert [len(page["value"]) for page in pages] == [100, 100, 10]
    assert all("$filter=state%20eq%20'Enabled'" in page["nextLink"] for page in pages[:-1])
    names = [job["name"] for page in pages for job in page["value"]]
    assert names == [f"jc1/job{index:03d}" for index in range(0, 420, 2)]


async def test_history_envelope_and_newest_first(
    client: httpx.AsyncClient, fake: FakeScheduler
) -> None:
    job = fake.seed_job(fake.seed_collection("jc1"), "http_job", JobState.ENABLED)
    fake.seed_history(job, 2)
    body = (await client.get(f"{P}/jc1/jobs/http_job/history?{V}")).json()
    JobHistoryListResult.model_validate(body)
    newest = history_id(T0 + timedelta(minutes=1), 1)
    assert body["nextLink"] is None
    assert body["value"][0] == {
        "id": f"{P}/jc1/jobs/http_job/history/{newest}",
        "type": "Microsoft.Scheduler/jobCollections/jobs/history",
        "name": f"jc1/http_job/{newest}",
        "properties": {
            "startTime": "2016-03-30T20:40:53.802195Z",
            "endTime": "2016-03-30T20:40:53.864195Z",
            "expectedExecutionTime": "2016-03-30T20:40:52.802195Z",
            "message": "attempt 1",
            "retryCount": 0,
            "repeatCount": 2,
            "actionName": "MainAction",
            "status": "Completed",
        },
    }
    assert body["value"][1]["properties"]["status"] == "Failed"


async def test_history_filter_and_paging(client: httpx.AsyncClient, fake: FakeScheduler) -> None:
    job = fake.seed_job(fake.seed_collection("jc1"), "job1", JobState.ENABLED)
    fake.seed_history(job, 330)
    url = f"{P}/jc1/jobs/job1/history?$filter=status%20eq%20completed&{V}"
    pages = await follow(client, url)
    assert [len(page["value"]) for page in pages] == [100, 100, 20]
    statuses = {entry["properties"]["status"] for page in pages for entry in page["value"]}
    assert statuses == {"Completed"}
    assert all("api-version=2016-03-01" in page["nextLink"] for page in pages[:-1])
    repeat = [entry["properties"]["repeatCount"] for page in pages for entry in page["value"]]
    assert repeat == sorted(repeat, reverse=True)
    assert len(set(repeat)) == 220
    window = (await client.get(f"{P}/jc1/jobs/job1/history?{V}&$top=5&$skip=5")).json()
    assert [e["properties"]["repeatCount"] for e in window["value"]] == [325, 324, 323, 322, 321]
    assert window["nextLink"] is None


async def test_history_refuses_a_job_state_filter(
    client: httpx.AsyncClient, fake: FakeScheduler
) -> None:
    fake.seed_job(fake.seed_collection("jc1"), "job1", JobState.ENABLED)
    response = await client.get(f"{P}/jc1/jobs/job1/history?{V}&$filter=state%20eq%20Enabled")
    assert_error(response, 400, "BadRequest")


# -- case-insensitive paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix",
    [
        f"/subscriptions/{SUB}/resourcegroups/{RG}/providers/microsoft.scheduler/jobcollections",
        f"/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/{RG}/PROVIDERS/MICROSOFT.SCHEDULER/JOBCOLLECTIONS",
        f"/Subscriptions/{SUB}/ResourceGroups/{RG}/Providers/Microsoft.scheduler/JobCollections",
    ],
)
async def test_literal_path_segments_match_in_any_case(
    client: httpx.AsyncClient, fake: FakeScheduler, prefix: str
) -> None:
    job = fake.seed_job(fake.seed_collection("jc1"), "job1", JobState.ENABLED)
    fake.seed_history(job, 1)
    assert (await client.get(f"{prefix}?{V}")).status_code == 200
    assert (await client.get(f"{prefix}/jc1/JOBS/job1?{V}")).json()["id"] == f"{P}/jc1/jobs/job1"
    history = await client.get(f"{prefix}/jc1/Jobs/job1/HISTORY?{V}")
    assert len(history.json()["value"]) == 1
    assert (await client.post(f"{prefix}/jc1/jobs/job1/Run?{V}")).status_code == 200
    assert (await client.post(f"{prefix}/jc1/DISABLE?{V}")).status_code == 200
    by_subscription = prefix.replace(f"/{RG}", "").split("/")
    del by_subscription[3]
    response = await client.get("/".join(by_subscription) + f"?{V}")
    assert [c["name"] for c in response.json()["value"]] == ["jc1"]


async def test_names_that_look_like_literals_keep_their_case(
    client: httpx.AsyncClient, fake: FakeScheduler
) -> None:
    await client.put(f"{P}/Jobs?{V}", json={"location": "westus"})
    response = await client.put(f"{P}/JOBS/JOBS/History?{V}", json=HTTP_JOB)
    assert response.status_code == 201
    assert response.json()["name"] == "Jobs/History"
    listed = await client.get(f"{P}/jobs/jobs/history/history?{V}")
    assert listed.json() == {"value": [], "nextLink": None}
