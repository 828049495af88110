"""What schemathesis found (tests/fuzz, issue 11), each as the minimal request, over the
real service: every one answered a 5xx or broke the OpenAPI document before its fix."""

from __future__ import annotations

import pytest

from tests.api.test_edge_errors import COLLECTION, JOB, Api, P, V, api, assert_error

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
