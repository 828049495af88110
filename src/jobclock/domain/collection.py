"""Job collections, their plans (SKUs) and quotas (§1.2)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum

from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.host_limits import HostLimit
from jobclock.domain.recurrence import Frequency


class Sku(Enum):
    """Azure's four plans plus jobclock's self-hosted ``Unlimited``."""

    FREE = "Free"
    STANDARD = "Standard"
    P10_PREMIUM = "P10Premium"
    P20_PREMIUM = "P20Premium"
    UNLIMITED = "Unlimited"


class CollectionState(Enum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    SUSPENDED = "Suspended"
    DELETED = "Deleted"


@dataclass(frozen=True, slots=True)
class MaxRecurrence:
    """ "No job may recur more often than every ``interval`` ``frequency``."""

    frequency: Frequency
    interval: int = 1

    @property
    def period(self) -> timedelta:
        return self.frequency.nominal * self.interval

    def describe(self) -> str:
        unit = self.frequency.value.lower()
        return f"once every {self.interval} {unit}{'s' if self.interval != 1 else ''}"


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """What a plan allows; None means no limit."""

    max_jobs: int | None
    max_recurrence: MaxRecurrence
    max_collections: int | None
    authentication: bool
    min_retry_interval: timedelta


_RETRY_FLOOR = timedelta(seconds=15)
PLANS: dict[Sku, PlanLimits] = {
    Sku.FREE: PlanLimits(5, MaxRecurrence(Frequency.HOUR), 1, False, timedelta(hours=1)),
    Sku.STANDARD: PlanLimits(50, MaxRecurrence(Frequency.MINUTE), 100, True, _RETRY_FLOOR),
    Sku.P10_PREMIUM: PlanLimits(50, MaxRecurrence(Frequency.MINUTE), 10_000, True, _RETRY_FLOOR),
    # 10,000 in the 2016 docs, 5,000 in 2018's: the later figure (§11 Q15).
    Sku.P20_PREMIUM: PlanLimits(1000, MaxRecurrence(Frequency.MINUTE), 5_000, True, _RETRY_FLOOR),
    # jobclock's own plan: retries as close as a second apart.
    Sku.UNLIMITED: PlanLimits(
        None, MaxRecurrence(Frequency.SECOND), None, True, timedelta(seconds=1)
    ),
}
MAX_COLLECTIONS_PER_SUBSCRIPTION = 200_000
# One rule for collection and job names (spec §1: 1-100 characters, a letter first), in the
# API, the CLI and the portal. The HTML form's pattern is the same rule, written so that a
# browser compiles it (Chromium compiles `pattern` with the `v` flag, where a bare `-` in a
# class is an error and the whole pattern is then ignored).
NAME_RULE = "use 1 to 100 letters, digits, '-' or '_', starting with a letter"
NAME_HTML_PATTERN = r"[A-Za-z][A-Za-z0-9_\-]{0,99}"
# ``\Z``, not ``$``: ``$`` also matches before a trailing newline, which let "abc\n" in.
NAME_PATTERN = re.compile(r"^[a-zA-Z][-_a-zA-Z0-9]{0,99}\Z")
JOB_NAME_PATTERN = NAME_PATTERN


@dataclass(frozen=True, slots=True)
class Quota:
    """A collection's quota; it may be stricter than its plan, never looser."""

    max_job_count: int | None = None
    max_job_occurrence: int | None = None
    max_recurrence: MaxRecurrence | None = None


@dataclass(frozen=True, slots=True)
class JobCollection:
    """A job collection: the ARM envelope plus plan, state and quota."""

    name: str
    location: str
    sku: Sku = Sku.STANDARD
    state: CollectionState = CollectionState.ENABLED
    quota: Quota | None = None
    tags: tuple[tuple[str, str], ...] = field(default=())
    # jobclock's per-target caps for this collection's jobs (issue 15, item 4).
    host_limits: tuple[HostLimit, ...] = field(default=())

    @property
    def plan(self) -> PlanLimits:
        return PLANS[self.sku]

    @property
    def max_jobs(self) -> int | None:
        """The effective job cap: the stricter of the plan and the quota."""
        limits = [v for v in (self.plan.max_jobs, self._quota_jobs) if v is not None]
        return min(limits) if limits else None

    @property
    def _quota_jobs(self) -> int | None:
        return None if self.quota is None else self.quota.max_job_count

    @property
    def max_recurrence(self) -> MaxRecurrence:
        """The effective recurrence floor: the stricter of the plan and the quota."""
        floor = self.plan.max_recurrence
        wanted = None if self.quota is None else self.quota.max_recurrence
        if wanted is not None and wanted.period > floor.period:
            return wanted
        return floor

    @property
    def runs_jobs(self) -> bool:
        """Only an Enabled collection lets its jobs run (Disabled and Suspended gate them)."""
        return self.state is CollectionState.ENABLED


def check_collection_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise InvalidDefinition(
            f"The job collection name '{name}' is invalid: {NAME_RULE}.",
            field="name",
        )


def check_job_name(name: str) -> None:
    if not JOB_NAME_PATTERN.match(name):
        raise InvalidDefinition(
            f"The job name '{name}' is invalid: {NAME_RULE}.",
            field="name",
        )


def check_calendar_name(name: str, field: str = "name", *, what: str = "calendar") -> None:
    """A holiday calendar's name (issue 14, item 4), or a notification endpoint's (issue
    15), follows the rule of job names."""
    if not JOB_NAME_PATTERN.match(name):
        raise InvalidDefinition(
            f"The {what} name {name[:110]!r} is invalid: {NAME_RULE}.", field=field
        )
