"""Roles, the operation each request performs, and the sign-in throttle: pure tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobclock.domain.access import Permission, Role, Throttle, api_operation, permits, readable

ARM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Scheduler/jobCollections"
P = "Microsoft.Scheduler/jobCollections"


@pytest.mark.parametrize(
    ("method", "path", "state_only", "name", "permission"),
    [
        ("GET", ARM, False, f"{P}/read", Permission.READ),
        ("GET", f"{ARM}/jc/jobs/j/history", False, f"{P}/jobs/history/read", Permission.READ),
        (
            "GET",
            "/subscriptions/s/providers/Microsoft.Scheduler/jobCollections",
            False,
            f"{P}/read",
            Permission.READ,
        ),
        ("PUT", f"{ARM}/jc", False, f"{P}/write", Permission.ADMINISTER),
        ("PATCH", f"{ARM}/jc", True, f"{P}/write", Permission.ADMINISTER),
        ("DELETE", f"{ARM}/jc", False, f"{P}/delete", Permission.ADMINISTER),
        ("POST", f"{ARM}/jc/enable", False, f"{P}/enable/action", Permission.OPERATE),
        ("POST", f"{ARM}/jc/disable", False, f"{P}/disable/action", Permission.OPERATE),
        ("PUT", f"{ARM}/jc/jobs/j", False, f"{P}/jobs/write", Permission.ADMINISTER),
        ("PATCH", f"{ARM}/jc/jobs/j", False, f"{P}/jobs/write", Permission.ADMINISTER),
        ("PATCH", f"{ARM}/jc/jobs/j", True, f"{P}/jobs/write", Permission.OPERATE),
        ("DELETE", f"{ARM}/jc/jobs/j", False, f"{P}/jobs/delete", Permission.ADMINISTER),
        ("POST", f"{ARM}/jc/jobs/j/run", False, f"{P}/jobs/run/action", Permission.OPERATE),
        # Case does not matter, as in ARM; a job named "run" is a job, not the action.
        ("POST", ARM.upper() + "/JC/JOBS/J/RUN", False, f"{P}/jobs/run/action", Permission.OPERATE),
        ("DELETE", f"{ARM}/jc/jobs/run", False, f"{P}/jobs/delete", Permission.ADMINISTER),
        (
            "POST",
            f"{ARM}/jc/jobs/j/history",
            False,
            f"{P}/jobs/history/post",
            Permission.ADMINISTER,
        ),
        # A preview writes nothing: a reader may ask for one, and the audit trail skips it.
        ("GET", f"{ARM}/jc/jobs/j/preview", False, f"{P}/jobs/preview/read", Permission.READ),
        ("POST", f"{ARM}/jc/preview", False, f"{P}/preview/read", Permission.READ),
        ("PUT", f"{ARM}/jc/jobs/preview", False, f"{P}/jobs/write", Permission.ADMINISTER),
        ("GET", "/jobclock/nodes", False, "jobclock/nodes/read", Permission.READ),
        ("GET", "/jobclock/tokens", False, "jobclock/tokens/read", Permission.ADMINISTER),
        ("POST", "/jobclock/tokens", False, "jobclock/tokens/write", Permission.ADMINISTER),
        ("DELETE", "/jobclock/tokens/x", False, "jobclock/tokens/delete", Permission.ADMINISTER),
        ("GET", "/jobclock/audit", False, "jobclock/audit/read", Permission.ADMINISTER),
        # Unknown: closed until classified.
        ("GET", "/somewhere/else", False, "GET /somewhere/else", Permission.ADMINISTER),
        (
            "POST",
            "/subscriptions/s/other",
            False,
            "POST /subscriptions/s/other",
            Permission.ADMINISTER,
        ),
    ],
)
def test_each_request_is_one_named_operation(
    method: str, path: str, state_only: bool, name: str, permission: Permission
) -> None:
    operation = api_operation(method, path, state_only_patch=state_only)
    assert (operation.name, operation.permission) == (name, permission)


def test_reads_are_not_audited_and_everything_else_is() -> None:
    assert not api_operation("GET", f"{ARM}/jc").audited
    assert api_operation("POST", f"{ARM}/jc/jobs/j/run").audited
    assert api_operation("DELETE", "/jobclock/tokens/x").audited


@pytest.mark.parametrize(
    ("role", "granted"),
    [
        (Role.READER, {Permission.READ}),
        (Role.OPERATOR, {Permission.READ, Permission.OPERATE}),
        (Role.ADMIN, set(Permission)),
    ],
)
def test_each_role_grants_its_level_and_those_below(role: Role, granted: set[Permission]) -> None:
    assert {p for p in Permission if permits(role, p)} == granted


def test_a_role_is_parsed_in_any_case_and_anything_else_is_refused() -> None:
    assert Role.parse(" Operator ") is Role.OPERATOR
    with pytest.raises(ValueError, match="reader, operator, admin"):
        Role.parse("root")


NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago_seconds", "wait"),
    [
        ([], None),
        ([10, 20, 30, 40], None),  # four failures: may try again
        ([10, 20, 30, 40, 50], timedelta(seconds=250)),  # the 5th: wait until the oldest leaves
        ([10, 20, 30, 40, 299], timedelta(seconds=1)),  # the oldest leaves in < 1 s: wait 1 s
        ([10, 20, 30, 40, 300], None),  # that one has left the window
        # Seven failures: the wait ends when the fifth newest leaves and four remain.
        ([10, 20, 30, 40, 50, 60, 70], timedelta(seconds=250)),
    ],
)
def test_the_throttle_waits_until_the_window_holds_fewer_failures(
    ago_seconds: list[int], wait: timedelta | None
) -> None:
    failures = [NOW - timedelta(seconds=s) for s in ago_seconds]
    assert Throttle(failures=5, window=timedelta(minutes=5)).retry_after(failures, NOW) == wait


def test_what_the_audit_keeps_of_a_path_has_no_control_character() -> None:
    assert readable("/s\x00x/\x1f\x7f\x9f/é İ") == "/s\ufffdx/\ufffd\ufffd\ufffd/é İ"
