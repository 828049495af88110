"""Retry policy (§3.5, §5.5): how often and how far apart an occurrence is tried again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from jobclock.domain.durations import Duration

DEFAULT_RETRY_COUNT = 4
DEFAULT_RETRY_INTERVAL = timedelta(seconds=30)


class RetryType(Enum):
    NONE = "None"
    FIXED = "Fixed"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A retry policy as given; unset fields take Azure's defaults (Fixed, 4, 30 s)."""

    retry_type: RetryType = RetryType.FIXED
    retry_interval: Duration | None = None
    retry_count: int | None = None

    @property
    def retries(self) -> int:
        """How many further attempts follow a failed first attempt."""
        if self.retry_type is RetryType.NONE:
            return 0
        return DEFAULT_RETRY_COUNT if self.retry_count is None else self.retry_count

    @property
    def interval(self) -> timedelta:
        """The wait between attempts."""
        if self.retry_interval is None:
            return DEFAULT_RETRY_INTERVAL
        return self.retry_interval.value


DEFAULT_RETRY_POLICY = RetryPolicy()


def effective_retry_policy(policy: RetryPolicy | None) -> RetryPolicy:
    """The policy that applies: the given one, or the default when none was given (§3.5)."""
    return DEFAULT_RETRY_POLICY if policy is None else policy
