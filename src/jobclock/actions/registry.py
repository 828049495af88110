"""The closed registry of action executors, keyed by action type (one module per type)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jobclock.actions.amqp import AmqpExecutor
from jobclock.actions.auth import DEFAULT_AUTHORITY, authority_from_environment
from jobclock.actions.http import HttpExecutor
from jobclock.actions.outbound import policy_from_environment
from jobclock.actions.service_bus import (
    DEFAULT_ENDPOINT_TEMPLATE as SERVICE_BUS_ENDPOINT_TEMPLATE,
)
from jobclock.actions.service_bus import ServiceBusExecutor, endpoint_template_from_environment
from jobclock.actions.storage_queue import (
    DEFAULT_ENCODING,
    QueueEncoding,
    StorageQueueExecutor,
    queue_settings_from_environment,
)
from jobclock.domain.actions import ActionType
from jobclock.domain.outbound import OutboundPolicy
from jobclock.ports import ActionExecutor, Clock

LEAN_CLIENT_VARIABLE = "JOBCLOCK_HTTP_LEAN_CLIENT"
CA_FILE_VARIABLE = "JOBCLOCK_TLS_CA_FILE"


@dataclass(frozen=True, slots=True)
class ActionSettings:
    """What the executors are configured with: the ``JOBCLOCK_*`` action variables, read
    by :class:`jobclock.settings.Settings` and handed down by the composition root.

    ``tls_ca_file``: PEM CAs trusted for HTTPS targets beside the system's
    (``JOBCLOCK_TLS_CA_FILE``). ``oauth_authority``: where OAuth tokens come from
    (``JOBCLOCK_OAUTH_AUTHORITY``). ``http_lean_client``: plain ``http://`` requests take
    the lean client (``JOBCLOCK_HTTP_LEAN_CLIENT``). ``storage_queue_endpoint`` (None:
    Azure's) and ``storage_queue_encoding``: ``JOBCLOCK_STORAGE_QUEUE_ENDPOINT`` and
    ``_ENCODING``. ``servicebus_endpoint``: ``JOBCLOCK_SERVICEBUS_ENDPOINT``.
    """

    tls_ca_file: str | None = None
    oauth_authority: str = DEFAULT_AUTHORITY
    http_lean_client: bool = True
    storage_queue_endpoint: str | None = None
    storage_queue_encoding: QueueEncoding = DEFAULT_ENCODING
    servicebus_endpoint: str = SERVICE_BUS_ENDPOINT_TEMPLATE

    @classmethod
    def from_variables(cls, env: Mapping[str, str]) -> ActionSettings:
        """The settings ``env`` (a mapping of ``JOBCLOCK_*`` variables) names; unset or empty
        means the default. A bad one (e.g. a malformed ``JOBCLOCK_STORAGE_QUEUE_ENDPOINT``)
        raises ``ValueError`` naming its variable."""
        lean_client = _switch(env, LEAN_CLIENT_VARIABLE, default=True)
        queue_endpoint, queue_encoding = queue_settings_from_environment(env)
        return cls(
            tls_ca_file=env.get(CA_FILE_VARIABLE) or None,
            oauth_authority=authority_from_environment(env),
            http_lean_client=lean_client,
            storage_queue_endpoint=queue_endpoint,
            storage_queue_encoding=queue_encoding,
            servicebus_endpoint=endpoint_template_from_environment(env),
        )


def executors_for(
    settings: ActionSettings, clock: Clock, *, outbound: OutboundPolicy
) -> dict[ActionType, ActionExecutor]:
    """One executor per action type. ``outbound``: what HTTP actions may reach."""
    http = HttpExecutor(
        ca_file=settings.tls_ca_file,
        oauth_authority=settings.oauth_authority,
        lean_client=settings.http_lean_client,
        outbound=outbound,
        clock=clock,
    )
    service_bus = ServiceBusExecutor(endpoint_template=settings.servicebus_endpoint)
    return {
        ActionType.HTTP: http,
        ActionType.HTTPS: http,
        ActionType.STORAGE_QUEUE: StorageQueueExecutor(
            settings.storage_queue_endpoint, settings.storage_queue_encoding
        ),
        ActionType.SERVICE_BUS_QUEUE: service_bus,
        ActionType.SERVICE_BUS_TOPIC: service_bus,
        ActionType.AMQP: AmqpExecutor(clock=clock),
    }


def build_executors(
    env: Mapping[str, str], clock: Clock, *, outbound: OutboundPolicy | None = None
) -> dict[ActionType, ActionExecutor]:
    """One executor per action type, configured from the ``JOBCLOCK_*`` variables in ``env``
    (a mapping; the server's come from its settings, see :func:`executors_for`).

    ``outbound``: what HTTP actions may reach; by default ``JOBCLOCK_OUTBOUND_DENY`` and
    ``JOBCLOCK_OUTBOUND_ALLOW`` over the default policy, with no server address of its own.

    A bad setting (e.g. a malformed ``JOBCLOCK_STORAGE_QUEUE_ENDPOINT``) raises ``ValueError``
    here, at start-up, not at the first attempt.
    """
    settings = ActionSettings.from_variables(env)
    policy = policy_from_environment(env) if outbound is None else outbound
    return executors_for(settings, clock, outbound=policy)


def _switch(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    """``1`` is on, ``0`` off, unset or empty the default; anything else is a ``ValueError``."""
    value = env.get(name, "").strip()
    if not value:
        return default
    if value not in ("0", "1"):
        raise ValueError(f"{name} must be '0' or '1', got {value!r}")
    return value == "1"
