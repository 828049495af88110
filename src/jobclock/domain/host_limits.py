"""Per-target caps (issue 15, item 4): at most N attempts in flight and R requests a second
to one target host, across all jobs and all nodes (``JOBCLOCK_HOST_LIMITS``).

``api.example.com=5/10`` (5 at once, 10 a second), ``api.example.com=5`` (5 at once),
``api.example.com=/10`` (10 a second), ``*.internal=2`` (each host under ``internal``);
several rules are separated by commas, and the most specific rule wins (an exact host
before a ``*.`` suffix, a longer suffix before a shorter one).

The rate is a GCRA (a virtual schedule): each request moves the host's "theoretical
arrival time" one interval (1/R s) on; a request is allowed while that time is not ahead
of now by more than the burst (one interval per request of burst beyond the first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobclock.domain.errors import InvalidDefinition

_RULE = re.compile(
    r"^(?P<host>\*\.[a-z0-9.-]+|[a-z0-9.:\[\]-]+)=(?P<n>\d*)(?:/(?P<r>\d+(?:\.\d+)?))?$"
)
MAX_CONCURRENCY = 100_000


@dataclass(frozen=True, slots=True)
class HostLimit:
    """A cap: ``concurrency`` attempts at once (None: no cap), ``rate`` requests a second
    (None: no cap), ``burst`` requests at once within the rate."""

    pattern: str
    concurrency: int | None = None
    rate: float | None = None
    burst: int = 1

    @property
    def interval(self) -> timedelta | None:
        """The time one request takes of the rate."""
        return None if self.rate is None else timedelta(seconds=1 / self.rate)


def parse_host_limits(text: str, *, field: str = "JOBCLOCK_HOST_LIMITS") -> tuple[HostLimit, ...]:
    """Read the variable; raises InvalidDefinition naming the rule that is wrong."""
    rules = []
    for raw in (part.strip() for part in text.split(",")):
        if not raw:
            continue
        match = _RULE.match(raw.lower())
        if match is None or not (match["n"] or match["r"]):
            raise InvalidDefinition(
                f"{field}: {raw!r} is not host=N, host=N/R or host=/R (N attempts at once, "
                "R requests a second), e.g. 'api.example.com=5/10,*.internal=2'.",
                field=field,
            )
        concurrency = int(match["n"]) if match["n"] else None
        rate = float(match["r"]) if match["r"] else None
        if (concurrency is not None and not 1 <= concurrency <= MAX_CONCURRENCY) or (
            rate is not None and rate <= 0
        ):
            raise InvalidDefinition(
                f"{field}: {raw!r}: N must be 1 to {MAX_CONCURRENCY} and R above 0.",
                field=field,
            )
        rules.append(HostLimit(match["host"], concurrency, rate))
    return tuple(rules)


def limit_for(rules: tuple[HostLimit, ...], host: str) -> HostLimit | None:
    """The most specific rule for ``host`` (None: it is not capped)."""
    host = host.lower().rstrip(".")
    best: HostLimit | None = None
    for rule in rules:
        if rule.pattern == host:
            return rule
        suffix = rule.pattern.startswith("*.") and host.endswith(rule.pattern[1:])
        if suffix and (best is None or len(rule.pattern) > len(best.pattern)):
            best = rule
    return best


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a request may go now; if not, when to ask again. ``tat``: the host's new
    theoretical arrival time (written only when admitted)."""

    admitted: bool
    retry_at: datetime | None
    tat: datetime | None


def admit(limit: HostLimit, in_flight: int, tat: datetime | None, now: datetime) -> Admission:
    """May one more attempt go to a host with ``in_flight`` attempts running and the rate's
    theoretical arrival time ``tat`` (None: no request yet)? Pure: the store keeps both."""
    if limit.concurrency is not None and in_flight >= limit.concurrency:
        return Admission(False, now + _POLL, tat)
    interval = limit.interval
    if interval is None:
        return Admission(True, None, tat)
    arrival = now if tat is None or tat < now else tat
    allowed_ahead = interval * (limit.burst - 1)
    if arrival - now > allowed_ahead:
        return Admission(False, arrival - allowed_ahead, tat)
    return Admission(True, None, arrival + interval)


# How soon a request held back by the concurrency cap asks again.
_POLL = timedelta(milliseconds=50)
