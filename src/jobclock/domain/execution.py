"""What one attempt of an action knows and reports (§5.2–§5.8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jobclock.domain.actions import ActionType, Payload
from jobclock.domain.history import ActionName

# An attempt may take the job's attemptTimeout, Azure's 60 s without one; an executor that
# has not returned a few seconds after that is cut off (and a host permit runs out).
DEFAULT_ATTEMPT_SECONDS = 60.0
EXECUTOR_GRACE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class AttemptContext:
    """The facts an attempt sends along (the six ``x-ms-*`` headers, §5.2) and logs under."""

    collection: str
    job: str
    execution_tag: str  # 32 lowercase hex characters, unique per attempt
    request_id: str  # a GUID, unique per attempt
    expected_time: datetime  # the occurrence's scheduled time (the retry's due time)
    region: str
    action_name: ActionName
    retry_count: int
    repeat_count: int
    timeout: float | None = None  # seconds this attempt may take; None: the executor's own
    # W3C Trace Context of the attempt: its trace id is the execution tag.
    traceparent: str | None = None

    def seconds(self, default: float) -> float:
        """How long this attempt may take: the job's attemptTimeout, else ``default``."""
        return default if self.timeout is None else self.timeout


@dataclass(frozen=True, slots=True)
class Invocation:
    """The action to invoke: its type and payload (a main action or an error action)."""

    type: ActionType
    payload: Payload


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """How an attempt ended; ``message`` is the history entry's message (§5.2, §5.8)."""

    succeeded: bool
    message: str
