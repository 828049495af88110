"""Retry policy (§3.5, §5.5): how often and how far apart an occurrence is tried again.

Azure's policy is ``Fixed`` (the same wait each time) or ``None``. jobclock adds
``Exponential``: the wait doubles from ``retryInterval`` up to ``maxInterval``, with full
jitter (each wait is drawn at random between ``retryInterval`` and that cap, so a burst of
failures does not come back in lockstep, and no retry comes sooner than ``retryInterval``,
which is at least the plan's floor). ``maxAge`` gives up on an occurrence whose next retry
would start later than that after its scheduled time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from jobclock.domain.durations import Duration

DEFAULT_RETRY_COUNT = 4
DEFAULT_RETRY_INTERVAL = timedelta(seconds=30)
# Without maxInterval an exponential wait stops growing at an hour (Cloud Scheduler's
# maxBackoff), or at retryInterval when that is longer.
DEFAULT_MAX_INTERVAL = timedelta(hours=1)


class RetryType(Enum):
    NONE = "None"
    FIXED = "Fixed"
    EXPONENTIAL = "Exponential"  # jobclock's


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A retry policy as given; unset fields take Azure's defaults (Fixed, 4, 30 s)."""

    retry_type: RetryType = RetryType.FIXED
    retry_interval: Duration | None = None
    retry_count: int | None = None
    max_interval: Duration | None = None  # Exponential only
    max_age: Duration | None = None

    @property
    def retries(self) -> int:
        """How many further attempts follow a failed first attempt."""
        if self.retry_type is RetryType.NONE:
            return 0
        return DEFAULT_RETRY_COUNT if self.retry_count is None else self.retry_count

    @property
    def interval(self) -> timedelta:
        """The wait before the first retry (every retry's, when Fixed)."""
        if self.retry_interval is None:
            return DEFAULT_RETRY_INTERVAL
        return self.retry_interval.value

    @property
    def ceiling(self) -> timedelta:
        """The longest wait an exponential policy reaches."""
        if self.max_interval is not None:
            return self.max_interval.value
        return max(DEFAULT_MAX_INTERVAL, self.interval)

    def longest_wait(self, retry: int) -> timedelta:
        """The longest wait before retry number ``retry`` (1 = the first retry)."""
        if self.retry_type is not RetryType.EXPONENTIAL or retry <= 1:
            return self.interval
        ceiling = self.ceiling
        # Doubling past the ceiling is pointless (and 2**20 intervals overflow timedelta).
        wait = self.interval
        for _ in range(retry - 1):
            wait *= 2
            if wait >= ceiling:
                return ceiling
        return wait

    def wait(self, retry: int, draw: float) -> timedelta:
        """The wait before retry number ``retry``; ``draw`` is a random number in [0, 1)
        (the caller's: the domain draws none), used by Exponential's jitter only."""
        longest = self.longest_wait(retry)
        if self.retry_type is not RetryType.EXPONENTIAL:
            return longest
        shortest = min(self.interval, longest)
        return shortest + (longest - shortest) * min(max(draw, 0.0), 1.0)

    def gives_up(self, slot: datetime, retry_at: datetime) -> bool:
        """True when a retry at ``retry_at`` would be older than ``maxAge`` allows."""
        return self.max_age is not None and retry_at - slot > self.max_age.value


DEFAULT_RETRY_POLICY = RetryPolicy()


def effective_retry_policy(policy: RetryPolicy | None) -> RetryPolicy:
    """The policy that applies: the given one, or the default when none was given (§3.5)."""
    return DEFAULT_RETRY_POLICY if policy is None else policy
