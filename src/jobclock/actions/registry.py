"""The closed registry of action executors, keyed by action type."""

from __future__ import annotations

from jobclock.actions.http import HttpExecutor
from jobclock.domain.actions import ActionType
from jobclock.ports import ActionExecutor


def build_executors(*, verify_tls: bool = True) -> dict[ActionType, ActionExecutor]:
    """One executor per supported action type; types missing here fail their attempts with a
    clear message instead of running."""
    http = HttpExecutor(verify_tls=verify_tls)
    return {ActionType.HTTP: http, ActionType.HTTPS: http}
