"""Per-target caps (JOBCLOCK_HOST_LIMITS): the rules as read, which one applies, and the
admission policy (concurrency and a GCRA rate) as a pure function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.host_limits import HostLimit, admit, limit_for, parse_host_limits

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def test_rules_are_read() -> None:
    rules = parse_host_limits(" api.example.com=5/10, *.internal=2 ,slow.example.com=/0.5,")
    assert rules == (
        HostLimit("api.example.com", 5, 10.0),
        HostLimit("*.internal", 2, None),
        HostLimit("slow.example.com", None, 0.5),
    )


@pytest.mark.parametrize(
    "text",
    ["api.example.com", "api.example.com=", "=5", "api.example.com=0", "a=5/0", "a=x", "a=5/10/2"],
)
def test_a_bad_rule_names_itself(text: str) -> None:
    with pytest.raises(InvalidDefinition, match="JOBCLOCK_HOST_LIMITS"):
        parse_host_limits(text)


@pytest.mark.parametrize(
    ("host", "pattern"),
    [
        pytest.param("api.example.com", "api.example.com", id="exact-wins"),
        pytest.param("API.Example.com.", "api.example.com", id="case-and-dot"),
        pytest.param("db.eu.internal", "*.eu.internal", id="longer-suffix-wins"),
        pytest.param("db.us.internal", "*.internal", id="suffix"),
        pytest.param("internal", None, id="suffix-needs-a-label"),
        pytest.param("other.com", None, id="uncapped"),
    ],
)
def test_the_most_specific_rule_applies(host: str, pattern: str | None) -> None:
    rules = parse_host_limits("*.internal=2,*.eu.internal=1,api.example.com=5")
    found = limit_for(rules, host)
    assert (None if found is None else found.pattern) == pattern


def test_concurrency_holds_back_the_one_past_the_cap() -> None:
    limit = HostLimit("h", concurrency=2)
    assert admit(limit, 1, None, now=T0).admitted
    held = admit(limit, 2, None, now=T0)
    assert not held.admitted
    assert held.retry_at is not None
    assert held.retry_at > T0


def test_the_rate_spaces_requests_one_interval_apart() -> None:
    limit = HostLimit("h", rate=10.0)  # one per 100 ms
    first = admit(limit, 0, None, now=T0)
    assert first.admitted
    assert first.tat == T0 + 100 * MS
    second = admit(limit, 0, first.tat, now=T0 + 30 * MS)
    assert not second.admitted
    assert second.retry_at == T0 + 100 * MS
    third = admit(limit, 0, first.tat, now=T0 + 100 * MS)
    assert third.admitted
    assert third.tat == T0 + 200 * MS
    # An idle host does not bank requests: after a pause the next is one interval on.
    later = admit(limit, 0, third.tat, now=T0 + 10_000 * MS)
    assert later.admitted
    assert later.tat == T0 + 10_100 * MS


def test_n_requests_over_a_second_never_exceed_the_rate() -> None:
    limit = HostLimit("h", rate=5.0)
    tat, admitted, now = None, [], T0
    while now < T0 + timedelta(seconds=3):
        decision = admit(limit, 0, tat, now=now)
        if decision.admitted:
            admitted.append(now)
            tat = decision.tat
        now += 7 * MS
    for index in range(len(admitted) - 5):
        assert admitted[index + 5] - admitted[index] >= timedelta(seconds=1)
    assert 14 <= len(admitted) <= 16
