"""History entries (§1.5, §5.8) and their Azure-shaped ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

# DateTime.MaxValue.Ticks and Int64.MaxValue, as in Azure's ids.
_MAX_TICKS = 3_155_378_975_999_999_999
_INT64_MAX = 9_223_372_036_854_775_807
_DOTNET_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


class HistoryStatus(Enum):
    COMPLETED = "Completed"
    FAILED = "Failed"
    POSTPONED = "Postponed"


class ActionName(Enum):
    MAIN_ACTION = "MainAction"
    ERROR_ACTION = "ErrorAction"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One attempt of one occurrence (or a postponement)."""

    history_id: str
    collection: str
    job: str
    start_time: datetime
    end_time: datetime
    expected_execution_time: datetime
    action_name: ActionName
    status: HistoryStatus
    message: str
    retry_count: int
    repeat_count: int


def dotnet_ticks(instant: datetime) -> int:
    """.NET ticks (100 ns since 0001-01-01) of an aware instant."""
    delta = instant.astimezone(UTC) - _DOTNET_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def history_id(start_time: datetime, sequence: int) -> str:
    """``{MaxTicks − ticks(start)}:{Int64.Max − sequence}``, zero-padded to 20 digits.

    Ascending ids list newest first, like Azure's (§1.5). ``sequence`` is a per-job counter.
    """
    first = _MAX_TICKS - dotnet_ticks(start_time)
    second = _INT64_MAX - sequence
    return f"{first:020d}:{second:020d}"
