"""A job without startTime (issue 11): its effective start is the anchor the service stored
(when it was saved, or for a chained job its last actual start). The portal shows it, the
service previews the stored job's real next runs from it, and a portal save that leaves the
schedule as it is keeps it; the REST PUT still re-anchors at update time (§4.2)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jobclock.codec.job import job_properties_to_json
from jobclock.domain.job import JobDefinition, JobState
from jobclock.services import JobRef
from tests.system import T0, System

ACTION = {"type": "Http", "request": {"uri": "http://127.0.0.1/", "method": "GET"}}
EVERY_3_HOURS = {"frequency": "Hour", "interval": 3}
EVERY_MINUTE = {"frequency": "Minute", "interval": 1}
MONDAY_THURSDAY = {"frequency": "Week", "schedule": {"weekDays": ["Monday", "Thursday"]}}


def _body(**properties: Any) -> dict[str, Any]:
    return {"properties": {"action": ACTION, **properties}}


def _portal_save(system: System, ref: JobRef, body: dict[str, Any]) -> Any:
    return system.run(system.service.put_job_keeping_secrets(ref, body))


def _wire(system: System, ref: JobRef) -> dict[str, Any]:
    return job_properties_to_json(system.status(ref))


def _created(system: System, name: str, at: timedelta, recurrence: dict[str, Any]) -> JobRef:
    system.collection()
    system.at(T0 + at)
    ref = system.job(name, {"recurrence": recurrence})
    system.at(T0 + at)  # the first run: immediately, or at the first slot from now
    return ref


def test_the_stored_job_carries_its_effective_start(system: System) -> None:
    ref = _created(system, "weekly", timedelta(hours=8, minutes=30), MONDAY_THURSDAY)
    job = system.status(ref)
    assert job.definition.start_time is None
    assert job.anchor == T0 + timedelta(hours=8, minutes=30)
    # The wire is Azure's: no startTime was given, none is shown.
    assert "startTime" not in _wire(system, ref)


def test_an_unchanged_portal_save_of_a_chained_job_changes_nothing(system: System) -> None:
    ref = _created(system, "every3h", timedelta(hours=10, minutes=17), EVERY_3_HOURS)
    system.at(T0 + timedelta(hours=11, minutes=40))
    before = _wire(system, ref)
    assert before["status"]["nextExecutionTime"] == "2024-01-01T13:17:00Z"
    anchor = system.status(ref).anchor

    _portal_save(system, ref, _body(recurrence=EVERY_3_HOURS))

    assert _wire(system, ref) == before
    assert system.status(ref).anchor == anchor
    # Still chained: a run 5 s late moves the next one 5 s (§4.2).
    system.at(T0 + timedelta(hours=13, minutes=17, seconds=5))
    assert _wire(system, ref)["status"]["nextExecutionTime"] == "2024-01-01T16:17:05Z"


def test_an_unchanged_portal_save_of_a_week_schedule_keeps_its_anchor(system: System) -> None:
    ref = _created(system, "weekly", timedelta(hours=8, minutes=30), MONDAY_THURSDAY)
    system.at(T0 + timedelta(days=1, hours=10))  # Tuesday 10:00
    before = _wire(system, ref)
    assert before["status"]["nextExecutionTime"] == "2024-01-04T08:30:00Z"  # Thursday

    _portal_save(system, ref, _body(recurrence=MONDAY_THURSDAY))

    assert _wire(system, ref) == before
    assert system.status(ref).anchor == T0 + timedelta(hours=8, minutes=30)


def test_an_unchanged_portal_save_of_an_every_minute_job_changes_nothing(
    system: System,
) -> None:
    ref = _created(system, "minutely", timedelta(seconds=20), EVERY_MINUTE)
    system.at(T0 + timedelta(seconds=50))
    before = _wire(system, ref)
    assert before["status"]["nextExecutionTime"] == "2024-01-01T00:01:20Z"

    _portal_save(system, ref, _body(recurrence=EVERY_MINUTE))

    assert _wire(system, ref) == before
    system.at(T0 + timedelta(minutes=1, seconds=21))
    assert _wire(system, ref)["status"]["nextExecutionTime"] == "2024-01-01T00:02:21Z"


def test_a_portal_save_that_changes_only_the_action_keeps_the_schedule(
    system: System,
) -> None:
    ref = _created(system, "every3h", timedelta(hours=10, minutes=17), EVERY_3_HOURS)
    system.at(T0 + timedelta(hours=11, minutes=40))
    before = _wire(system, ref)
    other = {"type": "Http", "request": {"uri": "http://127.0.0.1/other", "method": "POST"}}

    _portal_save(system, ref, {"properties": {"action": other, "recurrence": EVERY_3_HOURS}})

    after = _wire(system, ref)
    assert after["action"]["request"]["uri"] == "http://127.0.0.1/other"
    assert after["status"] == before["status"]


def test_a_portal_save_that_changes_the_schedule_re_anchors_as_the_api_does(
    system: System,
) -> None:
    ref = _created(system, "every3h", timedelta(hours=10, minutes=17), EVERY_3_HOURS)
    now = T0 + timedelta(hours=11, minutes=40)
    system.at(now)

    _portal_save(system, ref, _body(recurrence={"frequency": "Hour", "interval": 2}))

    assert system.status(ref).anchor == now
    assert _wire(system, ref)["status"]["nextExecutionTime"] == "2024-01-01T11:40:00Z"


def test_a_rest_put_without_start_time_still_anchors_at_the_update(system: System) -> None:
    """§4.2 and §2.4: the API's PUT is a full replacement whose absent startTime is now."""
    ref = _created(system, "every3h", timedelta(hours=10, minutes=17), EVERY_3_HOURS)
    now = T0 + timedelta(hours=11, minutes=40)
    system.at(now)

    system.run(system.service.put_job(ref, _body(recurrence=EVERY_3_HOURS)))

    assert system.status(ref).anchor == now
    assert _wire(system, ref)["status"]["nextExecutionTime"] == "2024-01-01T11:40:00Z"


def test_the_service_previews_the_stored_jobs_real_next_runs(system: System) -> None:
    """What the editor shows for an unchanged schedule is what then runs, on time."""
    system.collection()
    for name, at, recurrence in (
        ("every3h", timedelta(hours=10, minutes=17), EVERY_3_HOURS),
        ("weekly", timedelta(days=2, hours=8, minutes=30), MONDAY_THURSDAY),
        ("minutely", timedelta(days=30, seconds=20), EVERY_MINUTE),
    ):
        system.at(T0 + at)
        ref = system.job(name, {"recurrence": recurrence})
        system.at(T0 + at)
        system.at(T0 + at + timedelta(seconds=30))
        shown = system.run(system.service.upcoming_runs(ref, 5))
        assert len(shown) == 5, name
        assert shown[0] == system.status(ref).status.next_execution_time, name
        ran = []
        for slot in shown:
            system.at(slot)
            ran.append(system.history(ref)[-1].expected_execution_time)
        assert ran == shown, name
        system.run(system.service.delete_job(ref))


def test_the_chained_rule_is_the_engines() -> None:
    from jobclock.domain import planning
    from jobclock.domain.revision import chained

    for definition in _definitions():
        expected = planning.chained(definition.start_time, definition.recurrence)
        assert chained(definition) == expected


def _definitions() -> list[JobDefinition]:
    from jobclock.codec.job import job_definition_from_json

    bodies = [
        _body(),
        _body(recurrence=EVERY_3_HOURS),
        _body(recurrence=MONDAY_THURSDAY),
        _body(recurrence={"frequency": "Week", "schedule": {}}),
        _body(startTime="2024-01-01T00:00:00Z", recurrence=EVERY_MINUTE),
        _body(recurrence=EVERY_MINUTE, state="Disabled"),
    ]
    found = [job_definition_from_json(body) for body in bodies]
    assert any(item.state is JobState.DISABLED for item in found)
    return found


def test_an_unchanged_portal_save_of_a_completed_job_leaves_it_completed(
    system: System,
) -> None:
    """A one-time job without startTime ran once and completed: saving its form unchanged
    neither revives nor re-runs it (a changed schedule would, as a PUT does, §1.3)."""
    system.collection()
    system.at(T0 + timedelta(minutes=5))
    ref = system.job("once", {})
    system.at(T0 + timedelta(minutes=5))
    system.at(T0 + timedelta(hours=1))
    before = _wire(system, ref)
    assert before["state"] == "Completed"

    _portal_save(system, ref, _body())
    system.at(T0 + timedelta(hours=1, seconds=1))

    assert _wire(system, ref) == before
    assert len(system.history(ref)) == 1


def test_the_editor_edits_the_state_the_user_set(system: System) -> None:
    """A job its collection disabled is Disabled on the wire, but its timing is the
    user's (Enabled): the editor shows that, so saving it unchanged keeps the schedule."""
    ref = _created(system, "every3h", timedelta(hours=10, minutes=17), EVERY_3_HOURS)
    system.run(system.service.disable_collection(ref.collection))
    assert system.status(ref).state is JobState.DISABLED
    assert system.run(system.service.job_schedule(ref)).timing.state is JobState.ENABLED
    anchor = system.status(ref).anchor

    _portal_save(system, ref, _body(recurrence=EVERY_3_HOURS, state="Enabled"))

    assert system.status(ref).state is JobState.DISABLED
    assert system.status(ref).anchor == anchor
