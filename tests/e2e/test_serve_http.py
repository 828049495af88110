"""The real ``jobclock serve`` process driven over HTTP, firing at a real HTTP target."""

from __future__ import annotations

import base64
import itertools
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.harness import (
    Api,
    Reply,
    RunningServer,
    Target,
    http_action,
    stop_server,
    unique,
    wait_for,
)

OK_MESSAGE = "Http Action - Response from host '127.0.0.1': 'OK'"
HISTORY_ID = re.compile(r"^\d{20}:\d{20}$")


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.close()


@pytest.fixture
def collection(api: Api) -> str:
    name = unique("jc")
    api.create_collection(name)
    return name


def _instant(text: str) -> datetime:
    assert text.endswith("Z"), text
    # Up to 7 fractional digits: keep microseconds.
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,7}))?Z", text)
    assert match is not None, text
    fraction = (match[2] or "").ljust(6, "0")[:6]
    return datetime.fromisoformat(f"{match[1]}.{fraction}+00:00")


def _in_the_future(days: int = 1) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- collections -------------------------------------------------------------------------


def test_collection_is_created_read_and_replaced(api: Api) -> None:
    name = unique("jc")
    path = api.collection_path(name)
    body = {
        "location": "West US",
        "properties": {
            "sku": {"name": "Standard"},
            "quota": {"maxJobCount": 10, "maxRecurrence": {"frequency": "Minute", "interval": 1}},
        },
    }

    created = api.put(path, body)
    assert created.status_code == 201, created.text
    resource = created.json()
    assert resource["id"] == path
    assert resource["name"] == name
    assert resource["type"] == "Microsoft.Scheduler/jobCollections"
    assert resource["location"] == "West US"
    assert resource["properties"]["sku"] == {"name": "Standard"}
    assert resource["properties"]["state"] == "Enabled"
    assert resource["properties"]["quota"]["maxJobCount"] == 10
    assert resource["properties"]["quota"]["maxRecurrence"] == {
        "frequency": "Minute",
        "interval": 1,
    }

    read = api.get(path)
    assert read.status_code == 200
    assert read.json() == resource

    replaced = api.put(path, body)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == resource

    listed = api.get(api.collections_path())
    assert listed.status_code == 200
    assert resource in listed.json()["value"]


# -- one HTTP job, end to end ------------------------------------------------------------


def test_http_job_runs_once_with_its_request_and_the_scheduler_headers(
    api: Api, target: Target, collection: str
) -> None:
    job = unique("job")
    before = datetime.now(UTC)
    created = api.create_job(
        collection,
        job,
        {
            "action": http_action(
                target.url("/hook?x=1"),
                "POST",
                headers={"Content-Type": "application/json", "X-E2e-Test": "yes"},
                body='{"hello": "world"}',
            )
        },
    )
    assert created["name"] == f"{collection}/{job}"
    assert created["properties"]["state"] == "Enabled"

    [hit] = target.wait_for(1, "/hook")
    assert hit.method == "POST"
    assert hit.path == "/hook?x=1"
    assert hit.body == b'{"hello": "world"}'
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["x-e2e-test"] == "yes"

    assert re.fullmatch(r"[0-9a-f]{32}", hit.headers["x-ms-execution-tag"])
    uuid.UUID(hit.headers["x-ms-client-request-id"])
    expected = _instant(hit.headers["x-ms-scheduler-expected-execution-time"])
    assert before - timedelta(seconds=1) <= expected <= hit.wall + timedelta(seconds=1)
    assert hit.headers["x-ms-scheduler-jobid"] == job
    assert hit.headers["x-ms-scheduler-jobcollectionid"] == collection
    assert hit.headers["x-ms-scheduler-execution-region"] == "Self-hosted"

    done = api.wait_for_state(collection, job, "Completed")
    status = done["properties"]["status"]
    assert status["executionCount"] == 1
    assert status["failureCount"] == 0
    assert status["faultedCount"] == 0
    assert "nextExecutionTime" not in status or status["nextExecutionTime"] is None
    last = _instant(status["lastExecutionTime"])
    assert before - timedelta(seconds=1) <= last <= datetime.now(UTC)

    [entry] = api.wait_for_history(collection, job, 1)
    history_id = entry["id"].rsplit("/", 1)[1]
    assert HISTORY_ID.fullmatch(history_id), entry["id"]
    assert entry["id"] == f"{api.job_path(collection, job)}/history/{history_id}"
    assert entry["name"] == f"{collection}/{job}/{history_id}"
    assert entry["type"] == "Microsoft.Scheduler/jobCollections/jobs/history"
    properties = entry["properties"]
    assert properties["status"] == "Completed"
    assert properties["actionName"] == "MainAction"
    assert properties["message"].startswith(OK_MESSAGE), properties["message"]
    # §5.2: '<host>': '<reason>' Response Headers: <Name>: <value>\r\n... Body: <body>
    assert re.fullmatch(
        r"Http Action - Response from host '127\.0\.0\.1': 'OK' Response Headers: "
        r"(?:[^\r\n:]+: [^\r\n]*\r\n)+ Body: Hello from the e2e target",
        properties["message"],
    ), properties["message"]
    assert "Content-Type: text/plain; charset=utf-8\r\n" in properties["message"]
    assert properties["retryCount"] == 0
    assert properties["repeatCount"] == 1
    assert _instant(properties["startTime"]) <= _instant(properties["endTime"])

    # Run now: the same job once more, outside its schedule.
    run = api.post(f"{api.job_path(collection, job)}/run")
    assert run.status_code == 200, run.text
    assert run.content == b""
    first, second = target.wait_for(2, "/hook")
    assert second.body == first.body
    assert second.headers["x-ms-execution-tag"] != first.headers["x-ms-execution-tag"]
    entries = api.wait_for_history(collection, job, 2)
    assert len(entries) == 2
    assert [e["properties"]["status"] for e in entries] == ["Completed", "Completed"]
    assert entries[1] == entry  # newest first
    assert _instant(entries[0]["properties"]["startTime"]) >= _instant(properties["startTime"])


def test_run_now_fires_a_job_that_is_not_due(api: Api, target: Target, collection: str) -> None:
    job = unique("later")
    start = _in_the_future(days=1)
    created = api.create_job(
        collection, job, {"startTime": start, "action": http_action(target.url("/later"))}
    )
    assert created["properties"]["status"]["nextExecutionTime"] == start
    time.sleep(0.5)
    assert target.received("/later") == []

    target.reply("/later", Reply(delay=1.0))
    began = time.monotonic()
    run = api.post(f"{api.job_path(collection, job)}/run")
    assert run.status_code == 200, run.text
    # §5.9: the answer comes before the outbound call completes.
    assert time.monotonic() - began < 1.0
    [hit] = target.wait_for(1, "/later")
    assert hit.method == "GET"
    assert hit.headers["x-ms-scheduler-jobid"] == job

    [entry] = api.wait_for_history(collection, job, 1)
    assert entry["properties"]["status"] == "Completed"
    after = api.job(collection, job)["properties"]
    assert after["state"] == "Enabled"
    assert after["status"]["nextExecutionTime"] == start


def test_run_of_a_missing_job_is_404(api: Api, collection: str) -> None:
    response = api.post(f"{api.job_path(collection, 'nope')}/run")
    assert response.status_code == 404
    assert response.json()["error"]["code"]


# -- recurrence --------------------------------------------------------------------------


def test_second_recurrence_with_count_fires_exactly_count_times(
    api: Api, target: Target, collection: str
) -> None:
    job = unique("tick")
    api.create_job(
        collection,
        job,
        {
            "action": http_action(target.url("/tick")),
            "recurrence": {"frequency": "Second", "interval": 1, "count": 3},
        },
    )
    hits = target.wait_for(3, "/tick")
    done = api.wait_for_state(collection, job, "Completed")
    time.sleep(1.5)  # a fourth occurrence would have come by now
    hits = target.received("/tick")
    assert len(hits) == 3
    gaps = [b.at - a.at for a, b in itertools.pairwise(hits)]
    assert all(gap >= 0.8 for gap in gaps), gaps
    assert len({hit.headers["x-ms-execution-tag"] for hit in hits}) == 3

    status = done["properties"]["status"]
    assert status["executionCount"] == 3
    assert status["failureCount"] == 0
    entries = api.wait_for_history(collection, job, 3)
    assert len(entries) == 3
    assert sorted(e["properties"]["repeatCount"] for e in entries) == [1, 2, 3]
    assert {e["properties"]["status"] for e in entries} == {"Completed"}
    assert done["properties"]["recurrence"] == {"frequency": "Second", "interval": 1, "count": 3}


def test_occurrences_of_one_job_never_overlap(api: Api, target: Target, collection: str) -> None:
    """A target slower than the recurrence: the next occurrence waits (history 'Postponed')
    and runs when the previous one has finished; no two requests are in flight at once."""
    answer = 1.2
    target.reply("/slow", Reply(delay=answer))
    job = unique("slow")
    api.create_job(
        collection,
        job,
        {
            "action": http_action(target.url("/slow")),
            "recurrence": {"frequency": "Second", "interval": 1, "count": 3},
        },
    )
    api.wait_for_state(collection, job, "Completed")
    hits = target.received("/slow")
    assert len(hits) == 3
    gaps = [b.at - a.at for a, b in itertools.pairwise(hits)]
    assert all(gap >= answer - 0.05 for gap in gaps), gaps

    entries = api.history(collection, job)
    statuses = sorted(e["properties"]["status"] for e in entries)
    assert statuses.count("Completed") == 3
    assert set(statuses) <= {"Completed", "Postponed"}
    assert "Postponed" in statuses
    completed = [e["properties"] for e in entries if e["properties"]["status"] == "Completed"]
    assert sorted(p["repeatCount"] for p in completed) == [1, 2, 3]


# -- failures ----------------------------------------------------------------------------


def test_failing_target_without_retries_faults_a_one_time_job(
    api: Api, target: Target, collection: str
) -> None:
    target.reply("/broken", Reply(status=500, body=b"it broke"))
    job = unique("broken")
    api.create_job(collection, job, {"action": http_action(target.url("/broken"), "PUT")})

    target.wait_for(1, "/broken")
    faulted = api.wait_for_state(collection, job, "Faulted")
    status = faulted["properties"]["status"]
    assert status["executionCount"] == 1
    assert status["failureCount"] == 1
    assert status["faultedCount"] == 1
    assert "nextExecutionTime" not in status or status["nextExecutionTime"] is None

    [entry] = api.wait_for_history(collection, job, 1)
    properties = entry["properties"]
    assert properties["status"] == "Failed"
    assert properties["actionName"] == "MainAction"
    assert properties["retryCount"] == 0
    assert properties["message"].startswith(
        "Http Action - Response from host '127.0.0.1': 'Internal Server Error'"
    ), properties["message"]
    assert "it broke" in properties["message"]

    failed = api.get(
        f"{api.job_path(collection, job)}/history", params={"$filter": "status eq Failed"}
    )
    assert [e["id"] for e in failed.json()["value"]] == [entry["id"]]
    completed = api.get(
        f"{api.job_path(collection, job)}/history", params={"$filter": "status eq 'Completed'"}
    )
    assert completed.json()["value"] == []
    time.sleep(1.0)
    assert len(target.received("/broken")) == 1  # retryType None: no second attempt


def test_error_action_runs_after_the_main_action_fails(
    api: Api, target: Target, collection: str
) -> None:
    target.reply("/main", Reply(status=503, body=b"down"))
    job = unique("with-fallback")
    api.create_job(
        collection,
        job,
        {
            "action": {
                **http_action(target.url("/main"), "POST", body="main"),
                "errorAction": http_action(target.url("/fallback"), "PUT", body="fallback"),
            }
        },
    )
    [fallback] = target.wait_for(1, "/fallback")
    assert fallback.method == "PUT"
    assert fallback.body == b"fallback"
    assert fallback.headers["x-ms-scheduler-jobid"] == job
    [main] = target.received("/main")
    assert fallback.at >= main.at

    entries = api.wait_for_history(collection, job, 2)
    by_action = {e["properties"]["actionName"]: e["properties"] for e in entries}
    assert by_action["MainAction"]["status"] == "Failed"
    assert "'Service Unavailable'" in by_action["MainAction"]["message"]
    assert by_action["ErrorAction"]["status"] == "Completed"
    assert by_action["ErrorAction"]["message"].startswith(OK_MESSAGE)
    assert entries[0]["properties"]["actionName"] == "ErrorAction"  # newest first

    status = api.wait_for_state(collection, job, "Faulted")["properties"]["status"]
    # Error-action attempts are not counted (§5.7).
    assert (status["executionCount"], status["failureCount"], status["faultedCount"]) == (1, 1, 1)


def test_api_answers_carry_the_arm_headers(api: Api, collection: str) -> None:
    response = api.get(api.collection_path(collection), headers={"x-ms-client-request-id": "e2e-1"})
    assert response.status_code == 200
    uuid.UUID(response.headers["x-ms-request-id"])
    assert response.headers["x-ms-client-request-id"] == "e2e-1"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-type"].startswith("application/json")
    missing = api.get(api.job_path(collection, "nope"))
    assert missing.status_code == 404
    uuid.UUID(missing.headers["x-ms-request-id"])


# -- collection enable/disable -----------------------------------------------------------


def test_disabled_collection_stops_its_jobs_and_enable_resumes_them(
    api: Api, target: Target, collection: str
) -> None:
    job = unique("every-second")
    api.create_job(
        collection,
        job,
        {
            "action": http_action(target.url("/beat")),
            "recurrence": {"frequency": "Second", "interval": 1},
        },
    )
    target.wait_for(1, "/beat")

    disabled = api.post(f"{api.collection_path(collection)}/disable")
    assert disabled.status_code == 200, disabled.text
    assert api.get(api.collection_path(collection)).json()["properties"]["state"] == "Disabled"
    assert api.job(collection, job)["properties"]["state"] == "Disabled"
    time.sleep(0.5)  # an attempt already in flight may still land
    seen = len(target.received("/beat"))
    time.sleep(2.0)
    assert len(target.received("/beat")) == seen, "a job of a disabled collection ran"

    enabled = api.post(f"{api.collection_path(collection)}/enable")
    assert enabled.status_code == 200, enabled.text
    assert api.get(api.collection_path(collection)).json()["properties"]["state"] == "Enabled"
    assert api.job(collection, job)["properties"]["state"] == "Enabled"
    target.wait_for(seen + 1, "/beat")

    assert api.delete(api.job_path(collection, job)).status_code == 200
    time.sleep(0.5)
    seen = len(target.received("/beat"))
    time.sleep(1.5)
    assert len(target.received("/beat")) == seen, "a deleted job still runs"


# -- PATCH, list, DELETE -----------------------------------------------------------------


def test_patch_merges_into_the_stored_job(api: Api, target: Target, collection: str) -> None:
    job = unique("patched")
    start = _in_the_future(days=2)
    created = api.create_job(
        collection,
        job,
        {
            "startTime": start,
            "action": http_action(target.url("/p"), "POST", headers={"X-Old": "1"}, body="b"),
            "recurrence": {"frequency": "Hour", "interval": 2, "count": 7},
        },
    )
    path = api.job_path(collection, job)

    patched = api.patch(
        path,
        {
            "properties": {
                "action": {"request": {"headers": {"X-New": "2"}}},
                "recurrence": {"interval": 3},
                "state": "Disabled",
            }
        },
    )
    assert patched.status_code == 200, patched.text
    properties = patched.json()["properties"]
    assert properties["state"] == "Disabled"
    request = properties["action"]["request"]
    assert request["uri"] == target.url("/p")
    assert request["method"] == "POST"
    assert request["body"] == "b"
    assert request["headers"] == {"X-Old": "1", "X-New": "2"}
    assert properties["recurrence"] == {"frequency": "Hour", "interval": 3, "count": 7}
    assert properties["startTime"] == start
    assert properties["action"]["retryPolicy"] == created["properties"]["action"]["retryPolicy"]
    assert api.job(collection, job) == patched.json()

    enabled = api.patch(path, {"properties": {"state": "Enabled"}})
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["properties"]["state"] == "Enabled"
    assert enabled.json()["properties"]["status"]["nextExecutionTime"] == start
    assert target.received("/p") == []

    missing = api.patch(api.job_path(collection, "nope"), {"properties": {"state": "Enabled"}})
    assert missing.status_code == 404


def test_patch_of_a_completed_job_revives_it(api: Api, target: Target, collection: str) -> None:
    """The stored 'Completed' is runtime state, not something the PATCH sets: the merge is
    accepted and, like a PUT (§1.3), revives the job, which runs again with the new body."""
    job = unique("done")
    api.create_job(collection, job, {"action": http_action(target.url("/done"), "POST")})
    api.wait_for_state(collection, job, "Completed")
    path = api.job_path(collection, job)
    patched = api.patch(path, {"properties": {"action": {"request": {"body": "new"}}}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["properties"]["action"]["request"]["body"] == "new"
    first, second = target.wait_for(2, "/done")
    assert (first.body, second.body) == (b"", b"new")
    status = api.wait_for_state(collection, job, "Completed")["properties"]["status"]
    assert status["executionCount"] == 2  # counters survive an update (§2.4)


def test_list_jobs_with_a_state_filter(api: Api, target: Target, collection: str) -> None:
    start = _in_the_future()
    names = sorted(unique("listed") for _ in range(3))
    for index, name in enumerate(names):
        state = "Disabled" if index == 1 else "Enabled"
        api.create_job(
            collection,
            name,
            {"startTime": start, "action": http_action(target.url("/l")), "state": state},
        )
    jobs_path = f"{api.collection_path(collection)}/jobs"
    everything = api.get(jobs_path).json()["value"]
    assert [job["name"] for job in everything] == [f"{collection}/{name}" for name in names]
    enabled = api.get(jobs_path, params={"$filter": "state eq Enabled"}).json()["value"]
    assert [job["name"].split("/")[1] for job in enabled] == [names[0], names[2]]
    disabled = api.get(jobs_path, params={"$filter": "state eq 'Disabled'"}).json()["value"]
    assert [job["name"].split("/")[1] for job in disabled] == [names[1]]


def test_delete_job_then_it_is_gone(api: Api, target: Target, collection: str) -> None:
    job = unique("doomed")
    api.create_job(collection, job, {"action": http_action(target.url("/d"))})
    api.wait_for_history(collection, job, 1)
    path = api.job_path(collection, job)

    deleted = api.delete(path)
    assert deleted.status_code == 200, deleted.text
    gone = api.get(path)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"]
    assert api.get(f"{path}/history").status_code == 404
    assert api.delete(path).status_code == 404
    listed = api.get(f"{api.collection_path(collection)}/jobs").json()["value"]
    assert all(item["name"] != f"{collection}/{job}" for item in listed)

    # The name can be used again: a new job with fresh counters and history.
    recreated = api.put(path, {"properties": {"action": http_action(target.url("/d2"))}})
    assert recreated.status_code == 201, recreated.text
    target.wait_for(1, "/d2")
    [entry] = api.wait_for_history(collection, job, 1)
    assert entry["properties"]["repeatCount"] == 1


def test_delete_collection_deletes_its_jobs(api: Api, target: Target) -> None:
    name = unique("jc")
    api.create_collection(name)
    job = unique("inside")
    api.create_job(
        name, job, {"startTime": _in_the_future(), "action": http_action(target.url("/x"))}
    )
    assert api.delete(api.collection_path(name)).status_code == 200
    missing = api.get(api.collection_path(name))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ResourceNotFound"
    assert api.get(api.job_path(name, job)).status_code == 404
    # Re-creating the collection does not bring the job back.
    api.create_collection(name)
    assert api.get(f"{api.collection_path(name)}/jobs").json()["value"] == []


# -- the engine's wake-ups ---------------------------------------------------------------


def test_fast_attempt_is_recorded_promptly(api: Api, target: Target, collection: str) -> None:
    """An attempt that ends within milliseconds wakes the engine even if it has not gone to
    sleep yet: its result is recorded at once, not at the next idle tick (30 s)."""
    job = unique("fast")
    api.create_job(collection, job, {"action": http_action(target.url("/fast"))})
    target.wait_for(1, "/fast")
    api.wait_for_state(collection, job, "Completed", timeout=5.0)
    assert len(api.history(collection, job)) == 1


def test_jobs_written_back_to_back_all_run_at_once(api: Api, target: Target) -> None:
    """Writes that land while the engine is busy with the previous one are not missed."""
    collection = unique("burst")
    api.create_collection(collection)
    jobs = [unique("burst-job") for _ in range(5)]
    for job in jobs:
        api.create_job(collection, job, {"action": http_action(target.url(f"/{job}"))})
    for job in jobs:
        target.wait_for(1, f"/{job}")
    for job in jobs:
        api.wait_for_state(collection, job, "Completed")


# -- secrets -----------------------------------------------------------------------------


def _assert_absent(what: str, haystack: bytes | str, *needles: str) -> None:
    data = haystack.encode() if isinstance(haystack, str) else haystack
    for needle in needles:
        for encoded in (needle.encode(), needle.encode("utf-16-le")):
            assert encoded not in data, f"a secret appears in {what}"


def _other_secret_jobs(api: Api, collection: str, target: Target) -> list[str]:
    """Jobs holding an OAuth client secret, a storage SAS token and a Service Bus SAS key;
    each answer echoes the non-secret fields and drops the secret. Returns the secrets."""
    oauth, sas_token, sas_key = (f"{kind}-{secrets.token_hex(12)}" for kind in "osk")
    start = _in_the_future()
    bodies = {
        "oauth": http_action(
            target.url("/oauth"),
            authentication={
                "type": "ActiveDirectoryOAuth",
                "tenant": "contoso.onmicrosoft.com",
                "audience": "https://management.core.windows.net/",
                "clientId": "client-1",
                "secret": oauth,
            },
        ),
        "queue": {
            "type": "StorageQueue",
            "queueMessage": {
                "storageAccount": "acct1",
                "queueName": "jobs",
                "sasToken": f"?sv=2015-04-05&sig={sas_token}&sp=a",
                "message": "hello",
            },
        },
        "bus": {
            "type": "ServiceBusQueue",
            "serviceBusQueueMessage": {
                "namespace": "ns1",
                "queueName": "orders",
                "transportType": "NetMessaging",
                "authentication": {
                    "type": "SharedAccessKey",
                    "sasKeyName": "RootManageSharedAccessKey",
                    "sasKey": sas_key,
                },
                "message": "tick",
            },
        },
    }
    for name, action in bodies.items():
        created = api.put(
            api.job_path(collection, name), {"properties": {"startTime": start, "action": action}}
        )
        assert created.status_code == 201, created.text
        _assert_absent(f"the PUT response of {name}", created.content, oauth, sas_token, sas_key)
    echoed = api.job(collection, "oauth")["properties"]["action"]["request"]["authentication"]
    assert echoed == {
        "type": "ActiveDirectoryOAuth",
        "tenant": "contoso.onmicrosoft.com",
        "audience": "https://management.core.windows.net/",
        "clientId": "client-1",
    }
    queue = api.job(collection, "queue")["properties"]["action"]["queueMessage"]
    assert queue == {"storageAccount": "acct1", "queueName": "jobs", "message": "hello"}
    bus = api.job(collection, "bus")["properties"]["action"]["serviceBusQueueMessage"]
    assert bus["authentication"] == {
        "type": "SharedAccessKey",
        "sasKeyName": "RootManageSharedAccessKey",
    }
    return [oauth, sas_token, sas_key]


def test_secrets_never_leave_the_server(fresh_server: RunningServer, target: Target) -> None:
    api = Api(fresh_server)
    password = f"pw-{secrets.token_hex(12)}"
    token = base64.b64encode(f"scheduler:{password}".encode()).decode()
    collection = unique("secret-jc")
    api.create_collection(collection)
    job = unique("secret-job")
    # The target echoes the request headers, Authorization included, into its answer.
    target.reply("/private", Reply(echo_headers=True))
    action = http_action(
        target.url("/private"),
        "POST",
        body="payload",
        headers={"Content-Type": "text/plain"},
        authentication={"type": "Basic", "username": "scheduler", "password": password},
    )
    # Hourly: it runs at once and stays Enabled, so it can be patched and run again.
    properties = {"action": action, "recurrence": {"frequency": "Hour", "interval": 1}}
    created = api.put(api.job_path(collection, job), {"properties": properties})
    assert created.status_code == 201, created.text
    _assert_absent("the PUT response", created.content, password, token)
    authentication = created.json()["properties"]["action"]["request"]["authentication"]
    assert authentication == {"type": "Basic", "username": "scheduler"}

    [hit] = target.wait_for(1, "/private")
    assert hit.headers["authorization"] == f"Basic {token}"
    [entry] = api.wait_for_history(collection, job, 1)
    assert entry["properties"]["message"].startswith(OK_MESSAGE)

    # The other secrets of §7, on jobs that are never due.
    others = _other_secret_jobs(api, collection, target)
    every = (password, token, *others)

    patched = api.patch(
        api.job_path(collection, job), {"properties": {"action": {"request": {"body": "v2"}}}}
    )
    assert patched.status_code == 200, patched.text
    responses: dict[str, bytes] = {
        "the PATCH response": patched.content,
        "the job GET": api.get(api.job_path(collection, job)).content,
        "the job list": api.get(f"{api.collection_path(collection)}/jobs").content,
        "the history": api.get(f"{api.job_path(collection, job)}/history").content,
        "the collection GET": api.get(api.collection_path(collection)).content,
    }
    for what, content in responses.items():
        _assert_absent(what, content, *every)
    # A PATCH keeps the stored secret: run it again and the target gets the same credentials.
    assert api.post(f"{api.job_path(collection, job)}/run").status_code == 200
    second = target.wait_for(2, "/private")[1]
    assert second.headers["authorization"] == f"Basic {token}"
    assert second.body == b"v2"
    api.wait_for_history(collection, job, 2)
    api.close()

    stop_server(fresh_server)
    _assert_absent("the server log", fresh_server.log(), *every)
    files = [
        path
        for path in fresh_server.db_path.parent.iterdir()
        if path.name.startswith(fresh_server.db_path.name)
    ]
    stored = b"".join(path.read_bytes() for path in files)
    assert collection.encode() in stored, f"the job is not in {[p.name for p in files]}"
    _assert_absent("the database files", stored, *every)


def test_wait_helpers_fail_with_a_message(target: Target) -> None:
    with pytest.raises(AssertionError, match="1 request"):
        target.wait_for(1, "/never", timeout=0.2)
    with pytest.raises(AssertionError, match="timed out"):
        wait_for(lambda: None, "nothing", timeout=0.1)
