"""The closed registry of action executors, keyed by action type (one module per type)."""

from __future__ import annotations

from collections.abc import Mapping

from jobclock.actions.amqp import AmqpExecutor
from jobclock.actions.http import HttpExecutor
from jobclock.actions.outbound import policy_from_environment
from jobclock.actions.service_bus import ServiceBusExecutor
from jobclock.actions.storage_queue import StorageQueueExecutor
from jobclock.domain.actions import ActionType
from jobclock.domain.outbound import OutboundPolicy
from jobclock.ports import ActionExecutor, Clock

LEAN_CLIENT_VARIABLE = "JOBCLOCK_HTTP_LEAN_CLIENT"


def build_executors(
    env: Mapping[str, str], clock: Clock, *, outbound: OutboundPolicy | None = None
) -> dict[ActionType, ActionExecutor]:
    """One executor per action type, configured from ``JOBCLOCK_*`` variables.

    ``outbound``: what HTTP actions may reach; by default ``JOBCLOCK_OUTBOUND_DENY`` and
    ``JOBCLOCK_OUTBOUND_ALLOW`` over the default policy, with no server address of its own.

    A bad setting (e.g. a malformed ``JOBCLOCK_STORAGE_QUEUE_ENDPOINT``) raises ``ValueError``
    here, at start-up, not at the first attempt.
    """
    http = HttpExecutor(
        ca_file=env.get("JOBCLOCK_TLS_CA_FILE") or None,
        oauth_authority=env.get("JOBCLOCK_OAUTH_AUTHORITY") or None,
        lean_client=_switch(env, LEAN_CLIENT_VARIABLE, default=True),
        outbound=policy_from_environment(env) if outbound is None else outbound,
    )
    service_bus = ServiceBusExecutor.from_environment(env)
    return {
        ActionType.HTTP: http,
        ActionType.HTTPS: http,
        ActionType.STORAGE_QUEUE: StorageQueueExecutor.from_environment(env),
        ActionType.SERVICE_BUS_QUEUE: service_bus,
        ActionType.SERVICE_BUS_TOPIC: service_bus,
        ActionType.AMQP: AmqpExecutor(clock=clock),
    }


def _switch(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    """``1`` is on, ``0`` off, unset or empty the default; anything else is a ``ValueError``."""
    value = env.get(name, "").strip()
    if not value:
        return default
    if value not in ("0", "1"):
        raise ValueError(f"{name} must be '0' or '1', got {value!r}")
    return value == "1"
