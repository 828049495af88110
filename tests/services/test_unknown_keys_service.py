"""Issue 11 at the service layer: a typo or a framing header is a 400 that stores nothing,
on PUT and on PATCH, and a GET-modify-PUT of what GET answers still works."""

from __future__ import annotations

import pytest

from jobclock.codec.job import job_properties_to_json
from jobclock.domain.errors import InvalidDefinition, NotFound
from jobclock.services import CollectionRef, JobRef
from tests.system import System

HTTP = {"type": "Http", "request": {"uri": "http://127.0.0.1/", "method": "GET"}}


def test_a_put_with_a_typo_is_400_and_stores_nothing(system: System) -> None:
    system.collection()
    ref = JobRef(CollectionRef("sub", "rg", "jc"), "typo")
    body = {"properties": {"action": HTTP, "recurrence": {"frequency": "Hour", "intervall": 3}}}
    with pytest.raises(InvalidDefinition) as caught:
        system.run(system.service.put_job(ref, body))
    assert caught.value.status == 400
    assert caught.value.code == "BadRequest"
    assert caught.value.message == (
        "unknown field 'properties.recurrence.intervall' (did you mean 'interval'?)"
    )
    with pytest.raises(NotFound):
        system.run(system.service.get_job(ref))


def test_a_patch_with_a_typo_or_a_framing_header_is_400_and_changes_nothing(
    system: System,
) -> None:
    system.collection()
    ref = system.job("j", {"recurrence": {"frequency": "Hour", "interval": 2}})
    before = job_properties_to_json(system.status(ref))
    with pytest.raises(InvalidDefinition, match=r"unknown field 'properties\.recurrence\.cout'"):
        system.run(system.service.patch_job(ref, {"properties": {"recurrence": {"cout": 3}}}))
    headers = {"Transfer-Encoding": "chunked"}
    with pytest.raises(InvalidDefinition, match="Transfer-Encoding"):
        system.run(
            system.service.patch_job(
                ref, {"properties": {"action": {"request": {"headers": headers}}}}
            )
        )
    assert job_properties_to_json(system.status(ref)) == before


def test_get_modify_put_of_the_answer_still_works(system: System) -> None:
    system.collection()
    ref = system.job(
        "j",
        {
            "recurrence": {
                "frequency": "Month",
                "schedule": {"monthlyOccurrences": [{"day": "Friday", "occurrence": -1}]},
            }
        },
    )
    answer = {
        "id": "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Scheduler/"
        "jobCollections/jc/jobs/j",
        "type": "Microsoft.Scheduler/jobCollections/jobs",
        "name": "jc/j",
        "properties": job_properties_to_json(system.status(ref)),
    }
    answer["properties"]["state"] = "Disabled"
    view, created = system.run(system.service.put_job(ref, answer))
    assert not created
    assert view.job.definition.state.value == "Disabled"
