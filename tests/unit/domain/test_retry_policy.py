"""Retry waits (§5.5 and jobclock's Exponential): tables and properties of the pure policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobclock.domain.durations import Duration
from jobclock.domain.retry_policy import RetryPolicy, RetryType

SECOND = timedelta(seconds=1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _exp(first: int, ceiling: int | None = None, age: int | None = None) -> RetryPolicy:
    return RetryPolicy(
        RetryType.EXPONENTIAL,
        Duration.of(first * SECOND),
        20,
        max_interval=None if ceiling is None else Duration.of(ceiling * SECOND),
        max_age=None if age is None else Duration.of(age * SECOND),
    )


@pytest.mark.parametrize(
    ("policy", "retry", "longest"),
    [
        pytest.param(_exp(10, 300), 1, 10, id="first-retry-waits-the-interval"),
        pytest.param(_exp(10, 300), 2, 20, id="second-doubles"),
        pytest.param(_exp(10, 300), 4, 80, id="fourth-is-eight-times"),
        pytest.param(_exp(10, 300), 6, 300, id="capped-by-max-interval"),
        pytest.param(_exp(10, 300), 20, 300, id="twentieth-stays-capped"),
        pytest.param(_exp(10), 20, 3600, id="default-ceiling-an-hour"),
        pytest.param(_exp(7200), 3, 7200, id="default-ceiling-never-below-interval"),
        pytest.param(RetryPolicy(RetryType.FIXED, Duration.of(40 * SECOND)), 5, 40, id="fixed"),
        pytest.param(RetryPolicy(), 3, 30, id="azure-default-30s"),
    ],
)
def test_longest_wait(policy: RetryPolicy, retry: int, longest: int) -> None:
    assert policy.longest_wait(retry) == longest * SECOND


@pytest.mark.parametrize(
    ("draw", "wait"),
    [
        pytest.param(0.0, 10, id="draw-0-is-the-interval"),
        pytest.param(0.5, 45, id="draw-half-is-midway"),
        pytest.param(0.999999, 80, id="draw-near-1-is-the-cap"),
    ],
)
def test_exponential_jitter_spans_interval_to_cap(draw: float, wait: int) -> None:
    assert _exp(10, 300).wait(4, draw).total_seconds() == pytest.approx(wait, abs=0.001)


def test_fixed_has_no_jitter() -> None:
    policy = RetryPolicy(RetryType.FIXED, Duration.of(20 * SECOND))
    assert {policy.wait(2, draw) for draw in (0.0, 0.3, 0.9)} == {20 * SECOND}


@pytest.mark.parametrize(
    ("age", "retry_after", "gives_up"),
    [
        pytest.param(None, 10**6, False, id="no-max-age-never"),
        pytest.param(60, 59, False, id="inside-max-age"),
        pytest.param(60, 60, False, id="at-max-age"),
        pytest.param(60, 61, True, id="past-max-age"),
    ],
)
def test_max_age(age: int | None, retry_after: int, gives_up: bool) -> None:
    policy = _exp(10, 300, age)
    assert policy.gives_up(T0, T0 + retry_after * SECOND) is gives_up


@given(
    first=st.integers(1, 10**6),
    ceiling_factor=st.integers(1, 10**4),
    retry=st.integers(1, 20),
    draw=st.floats(0.0, 1.0, exclude_max=True),
)
def test_every_wait_is_between_interval_and_ceiling(
    first: int, ceiling_factor: int, retry: int, draw: float
) -> None:
    policy = _exp(first, first * ceiling_factor)
    wait = policy.wait(retry, draw)
    assert first * SECOND <= wait <= policy.longest_wait(retry) <= first * ceiling_factor * SECOND
    # The cap never shrinks from one retry to the next.
    assert policy.longest_wait(retry) <= policy.longest_wait(retry + 1)
