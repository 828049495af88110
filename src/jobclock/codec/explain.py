"""The answer of ``GET .../jobs/{j}/explain`` (:mod:`jobclock.domain.explain`) as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jobclock.domain.explain import Explanation
from jobclock.domain.instants import format_instant


def explanation_to_json(explanation: Explanation) -> dict[str, Any]:
    def instant(value: datetime | None) -> str | None:
        return None if value is None else format_instant(value)

    body: dict[str, Any] = {
        "at": instant(explanation.at),
        "occurrence": instant(explanation.occurrence),
        "scheduled": explanation.exact,
        "previous": instant(explanation.previous),
        "next": instant(explanation.next),
        "outcome": explanation.outcome,
        "reasons": explanation.reasons,
    }
    if explanation.entry is not None:
        body["historyId"] = explanation.entry.history_id
        body["status"] = explanation.entry.status.value
    return body
