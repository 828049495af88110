"""What fuzzing found (tests/fuzz, issue 11), each as the minimal request, over the real
service: every one was accepted, stored something it should not, or answered a 5xx before
its fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_edge_errors import COLLECTION, JOB, Api, P, V, api, assert_error
from tests.storage.postgres import POSTGRES_URL
from tests.system import open_system

__all__ = ["api"]


@pytest.mark.parametrize("name", ["abc%0A", "abc%0D%0A", "a%0Ab"])
def test_a_collection_name_with_a_newline_is_refused_and_not_stored(api: Api, name: str) -> None:
    # The name rule's '$' let one trailing newline through: the collection was created.
    message = assert_error(
        api.request("PUT", f"{P}/{name}?{V}", json=COLLECTION), 400, "BadRequest"
    )
    assert "is invalid" in message
    listed = api.request("GET", f"{P}?{V}").json()["value"]
    assert [item["name"] for item in listed] == ["jc1"]


def test_a_job_name_with_a_newline_is_refused_and_not_stored(api: Api) -> None:
    message = assert_error(
        api.request("PUT", f"{P}/jc1/jobs/job%0A?{V}", json=JOB), 400, "BadRequest"
    )
    assert "is invalid" in message
    listed = api.request("GET", f"{P}/jc1/jobs?{V}").json()["value"]
    assert [item["name"] for item in listed] == ["jc1/job1"]


# -- what PostgreSQL cannot store: found by fuzzing against it ---------------------------------
#
# A NUL character, or a value longer than its column, made PostgreSQL refuse the statement:
# a 500 for the request, on SQLite a row no PostgreSQL node could hold. Each is a 400 now,
# on both backends, and stores nothing.

BACKENDS = ["sqlite", "postgresql"]
GROUPS = "/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Scheduler/jobCollections"


@pytest.fixture(params=BACKENDS)
def backend_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = POSTGRES_URL if request.param == "postgresql" else None
    with open_system(tmp_path, url) as system:
        api = Api(system)
        assert api.request("PUT", f"{P}/jc1?{V}", json=COLLECTION).status_code == 201
        yield api


def _collections(api: Api) -> list[str]:
    return [item["name"] for item in api.request("GET", f"{P}?{V}").json()["value"]]


@pytest.mark.parametrize(
    ("sub", "group", "parameter"),
    [
        ("s%00x", "g", "subscriptionId"),
        ("s", "g%00", "resourceGroupName"),
        ("s", "g%01", "resourceGroupName"),
        ("s" * 91, "g", "subscriptionId"),  # ARM's limit
        ("s" * 201, "g", "subscriptionId"),  # longer than the column
        ("s", "g" * 201, "resourceGroupName"),
        ("%C4%B0" * 101, "g", "subscriptionId"),  # "İ": its lower case is two characters
    ],
    ids=["nul-subscription", "nul-group", "control-group", "91-subscription",
         "long-subscription", "long-group", "long-lowered-subscription"],
)  # fmt: skip
@pytest.mark.parametrize("method", ["PUT", "GET"])
def test_a_subscription_or_group_the_store_cannot_hold_is_400(
    backend_api: Api, sub: str, group: str, parameter: str, method: str
) -> None:
    path = f"{GROUPS.format(sub=sub, group=group)}/jc2?{V}"
    answer = backend_api.request(method, path, json=COLLECTION)
    message = assert_error(answer, 400, "BadRequest")
    assert parameter in message
    listed = backend_api.request("GET", f"{GROUPS.format(sub=sub, group=group)}?{V}")
    assert_error(listed, 400, "BadRequest")
    assert _collections(backend_api) == ["jc1"]


@pytest.mark.parametrize(
    "location", ["West\u0000US", "West\nUS", "x" * 101], ids=["nul", "newline", "too-long"]
)
def test_a_location_the_store_cannot_hold_is_400(backend_api: Api, location: str) -> None:
    body = COLLECTION | {"location": location}
    message = assert_error(backend_api.request("PUT", f"{P}/jc2?{V}", json=body), 400, "BadRequest")
    assert "location" in message
    # Nor may a PATCH put it into an existing collection.
    patched = backend_api.request("PATCH", f"{P}/jc1?{V}", json={"location": location})
    assert_error(patched, 400, "BadRequest")
    assert _collections(backend_api) == ["jc1"]
    assert backend_api.request("GET", f"{P}/jc1?{V}").json()["location"] == "West US"
