"""History entry → the ``properties`` of Azure's history resource (§1.5, §2.6).

History is read-only, so there is no reading direction. Enum values are emitted in the
exact spelling of the 7.0.0 client's enums (``Completed``, ``MainAction``), which keeps
them as raw strings and compares them case-sensitively.
"""

from __future__ import annotations

from typing import Any

from jobclock.domain.history import HistoryEntry
from jobclock.domain.instants import format_instant


def history_properties_to_json(entry: HistoryEntry) -> dict[str, Any]:
    """The response ``properties`` of one history entry, in the recorded wire order (§2.3)."""
    return {
        "startTime": format_instant(entry.start_time),
        "endTime": format_instant(entry.end_time),
        "expectedExecutionTime": format_instant(entry.expected_execution_time),
        "message": entry.message,
        "retryCount": entry.retry_count,
        "repeatCount": entry.repeat_count,
        "actionName": entry.action_name.value,
        "status": entry.status.value,
    }
