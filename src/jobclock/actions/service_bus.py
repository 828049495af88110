"""The ``ServiceBusQueue`` and ``ServiceBusTopic`` actions (§3.4, §5.4) over azure-servicebus.

One attempt sends one message over AMQP 1.0, authenticated by SAS key, to the queue or topic
``entity`` of the namespace. The namespace becomes a host through a template,
``{namespace}.servicebus.windows.net`` unless ``JOBCLOCK_SERVICEBUS_ENDPOINT`` says otherwise:

- ``{namespace}.servicebus.windows.net`` or ``amqps://host[:port]``: AMQP over TLS, port 5671
  unless one is given.
- ``amqp://host[:port]``: AMQP without TLS, port 5672 unless given. This is how the Service Bus
  emulator is reached (the SDK's ``UseDevelopmentEmulator=true`` path).

Mapping of ``brokeredMessageProperties`` onto the SDK's message (§3.4):

- ``label`` becomes ``subject``; ``timeToLive`` is sent in whole seconds (the SDK truncates).
- ``viaPartitionKey`` has no setter in the SDK (it only mattered for transactions sent via
  another entity); it is written as the message annotation ``x-opt-via-partition-key``, the
  name the SDK declares for it. No broker here could confirm that Service Bus honours it.
- Without a ``messageId`` the SDK gives the message a random one, as .NET's BrokeredMessage did.
- ``forcePersistence`` has no AMQP counterpart: it only ever applied to express entities over
  the old .NET protocol, so it is accepted, kept and echoed, but not sent.
- ``transportType`` is ignored: ``NetMessaging`` (the retired SBMP protocol), ``AMQP`` and
  ``NotSpecified`` all send over AMQP.

Every message also carries the scheduler's facts as application properties, named like the
HTTP action's headers (§5.2); they win over custom properties of the same name.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit

from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusMessage as SdkMessage
from azure.servicebus import TransportType as SdkTransportType
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import ServiceBusAuthenticationError, ServiceBusConnectionError

from jobclock.actions.attempts import finish, scheduler_metadata
from jobclock.domain.actions import ActionType, BrokeredMessageProperties, ServiceBusMessage
from jobclock.domain.execution import AttemptContext, AttemptResult, Invocation

DEFAULT_ENDPOINT_TEMPLATE = "{namespace}.servicebus.windows.net"
ENDPOINT_VARIABLE = "JOBCLOCK_SERVICEBUS_ENDPOINT"
DEFAULT_TIMEOUT_SECONDS = 60.0
VIA_PARTITION_KEY_ANNOTATION = b"x-opt-via-partition-key"
# Closing only releases the connection; it must not hold up the attempt's result for long
# (60 s + 2 s stays inside the engine's 65 s shutdown grace).
_CLOSE_TIMEOUT_SECONDS = 2.0
_ENTITY_KINDS = {ActionType.SERVICE_BUS_QUEUE: "queue", ActionType.SERVICE_BUS_TOPIC: "topic"}
# Azure's rule is 6-50 characters; only the character set matters for a safe host name.
_NAMESPACE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_TLS_SCHEMES = {"amqps": True, "sb": True, "amqp": False}
_DEFAULT_PORTS = {True: 5671, False: 5672}
_MIN_REDACTED_LENGTH = 4

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a namespace's broker listens: ``host``, ``port`` and whether TLS is used."""

    host: str
    port: int | None
    tls: bool

    @property
    def address(self) -> str:
        return f"{self.bracketed_host}:{self.port or _DEFAULT_PORTS[self.tls]}"

    @property
    def bracketed_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``ServiceBusClient`` that make it connect here."""
        if not self.tls:
            # The SDK keeps the port and skips TLS only with its (private) emulator switch.
            return {"fully_qualified_namespace": self.address, "use_tls": False}
        if self.port is None:
            return {"fully_qualified_namespace": self.bracketed_host}
        # With TLS the SDK drops a port given in the namespace; a custom endpoint keeps it, and
        # an explicit transport type stops it from switching to AMQP over WebSocket.
        return {
            "fully_qualified_namespace": self.bracketed_host,
            "custom_endpoint_address": f"sb://{self.address}",
            "transport_type": SdkTransportType.Amqp,
        }


def endpoint_template_from_environment(env: Mapping[str, str]) -> str:
    """``JOBCLOCK_SERVICEBUS_ENDPOINT`` in ``env``, or Azure's template when it is unset or
    empty. Raises ``ValueError`` naming the variable for a template that renders to no host."""
    template = env.get(ENDPOINT_VARIABLE, "").strip() or DEFAULT_ENDPOINT_TEMPLATE
    try:
        checked_endpoint_template(template)
    except ValueError as error:
        raise ValueError(f"{ENDPOINT_VARIABLE}: {error}") from None
    return template


def checked_endpoint_template(template: str) -> str:
    """``template`` if it renders to a host name for a namespace, else ``ValueError``."""
    try:
        resolve_endpoint(template, "namespace")
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(
            f"endpoint template '{template}' must render to a host name, with "
            f"'{{namespace}}' where the namespace goes: {error!r}"
        ) from error
    return template


def resolve_endpoint(template: str, namespace: str) -> Endpoint:
    """The endpoint of ``namespace`` under ``template``; ``ValueError`` if there is none."""
    if not _NAMESPACE.fullmatch(namespace):
        raise ValueError(f"'{namespace}' is not a valid namespace name")
    rendered = template.format(namespace=namespace)
    if "://" not in rendered:
        rendered = "amqps://" + rendered
    parts = urlsplit(rendered)
    tls = _TLS_SCHEMES.get(parts.scheme.lower())
    if tls is None:
        raise ValueError(f"endpoint '{rendered}' must use amqps://, sb:// or amqp://")
    if not parts.hostname or parts.path.strip("/") or parts.query or parts.username:
        raise ValueError(f"endpoint '{rendered}' must be a host name with an optional port")
    return Endpoint(parts.hostname, parts.port, tls)


def entity_uri(endpoint: Endpoint, entity: str) -> str:
    """The resource a SAS token for ``entity`` is signed for, as the SDK names it."""
    host = endpoint.bracketed_host if endpoint.tls else endpoint.address
    return f"sb://{host}/{entity}"


def sas_token(resource: str, key_name: str, key: str, expiry: int) -> str:
    """A Service Bus shared access signature for ``resource``, valid until ``expiry``.

    ``expiry`` is in seconds since the Unix epoch. The signature is the base64 HMAC-SHA256,
    keyed with the key's UTF-8 text (not its base64 decoding), of the URL-encoded resource, a
    newline and the expiry. The SDK computes the same token itself from the
    ``AzureNamedKeyCredential`` that ``ServiceBusExecutor`` hands it.
    """
    encoded = quote_plus(resource)
    signed = f"{encoded}\n{expiry}".encode()
    digest = hmac.new(key.encode(), signed, hashlib.sha256).digest()
    signature = quote_plus(base64.b64encode(digest).decode("ascii"))
    name = quote_plus(key_name)
    return f"SharedAccessSignature sr={encoded}&sig={signature}&se={expiry}&skn={name}"


def scheduler_properties(context: AttemptContext) -> dict[str, str]:
    """The attempt's facts as application properties (§5.4)."""
    return scheduler_metadata(context)


def build_message(message: ServiceBusMessage, context: AttemptContext) -> SdkMessage:
    """The SDK message for one attempt: body, system properties and application properties.

    Raises ``ValueError`` for properties the SDK refuses (an id longer than 128 characters,
    a ``partitionKey`` that differs from the ``sessionId``).
    """
    properties = message.brokered_properties or BrokeredMessageProperties()
    application: dict[str | bytes, Any] = dict(message.custom_properties)
    application.update(scheduler_properties(context))
    ttl = properties.time_to_live
    built = SdkMessage(
        message.message or "",
        application_properties=application,
        session_id=properties.session_id,
        message_id=properties.message_id,
        scheduled_enqueue_time_utc=properties.scheduled_enqueue_time_utc,
        time_to_live=ttl.value if ttl is not None else None,
        content_type=properties.content_type,
        correlation_id=properties.correlation_id,
        subject=properties.label,
        partition_key=properties.partition_key,
        to=properties.to,
        reply_to=properties.reply_to,
        reply_to_session_id=properties.reply_to_session_id,
    )
    if properties.via_partition_key is not None:
        raw = built.raw_amqp_message
        raw.annotations = {
            **(raw.annotations or {}),
            VIA_PARTITION_KEY_ANNOTATION: properties.via_partition_key,
        }
    return built


class ServiceBusExecutor:
    """Runs ``ServiceBusQueue``/``ServiceBusTopic`` actions, one SDK client per attempt.

    Follows the ``ActionExecutor`` contract: every failure of the target (no SAS key, an
    unknown host, a refused connection, a rejected token, a missing entity, a timeout)
    becomes ``AttemptResult(succeeded=False)``. The SDK's own retries are switched off, since
    retries are the engine's. ``timeout`` bounds the whole attempt, 60 s as for HTTP.
    """

    def __init__(
        self,
        *,
        endpoint_template: str = DEFAULT_ENDPOINT_TEMPLATE,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self._template = checked_endpoint_template(endpoint_template)
        self._timeout = timeout

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> ServiceBusExecutor:
        """An executor whose template is ``JOBCLOCK_SERVICEBUS_ENDPOINT`` when it is set."""
        return cls(endpoint_template=endpoint_template_from_environment(env))

    async def execute(self, invocation: Invocation, context: AttemptContext) -> AttemptResult:
        payload = invocation.payload
        kind = _ENTITY_KINDS.get(invocation.type)
        if kind is None or not isinstance(payload, ServiceBusMessage):
            raise TypeError(f"ServiceBusExecutor cannot run a {invocation.type.value} action")
        prefix = f"{invocation.type.value} Action - "
        auth = payload.authentication
        if auth is None or not auth.sas_key_name or auth.sas_key is None:
            reason = "SharedAccessKey authentication with a sasKeyName and a sasKey is required"
            return self._failed(context, payload, prefix, reason, "no_credentials")
        key = auth.sas_key.reveal()
        try:
            endpoint = resolve_endpoint(self._template, payload.namespace)
            built = build_message(payload, context)
        except ValueError as error:
            return self._failed(context, payload, prefix, _scrub(str(error), key), "invalid")
        try:
            await self._send(
                endpoint, kind, payload.entity, built, (auth.sas_key_name, key),
                context.seconds(self._timeout),
            )  # fmt: skip
        except TimeoutError:
            reason = f"the send timed out after {context.seconds(self._timeout):g} seconds"
            return self._failed(context, payload, prefix, reason, "timeout")
        except ServiceBusConnectionError as error:
            reason = f"connection to '{endpoint.address}' failed: {_describe(error)}"
            return self._failed(context, payload, prefix, _scrub(reason, key), error)
        except (AzureError, OSError, ValueError) as error:
            return self._failed(context, payload, prefix, _scrub(_describe(error), key), error)
        message = (
            f"{prefix}The message was sent to {kind} '{payload.entity}' "
            f"in namespace '{payload.namespace}'"
        )
        return _finish(context, payload, True, message, None)

    async def aclose(self) -> None:
        """Nothing is pooled: each attempt opens and closes its own connection."""
        return None

    async def _send(
        self,
        endpoint: Endpoint,
        kind: str,
        entity: str,
        built: SdkMessage,
        credential: tuple[str, str],
        seconds: float,
    ) -> None:
        name, key = credential
        client = ServiceBusClient(
            credential=AzureNamedKeyCredential(name, key),
            retry_total=0,
            **endpoint.client_options(),
        )
        try:
            async with asyncio.timeout(seconds):
                if kind == "queue":
                    sender = client.get_queue_sender(queue_name=entity)
                else:
                    sender = client.get_topic_sender(topic_name=entity)
                await sender.send_messages(built)
        finally:
            # The outcome is known by now; a peer that never answers the close must not
            # change it or hold the attempt up.
            with suppress(Exception):
                await asyncio.wait_for(client.close(), _CLOSE_TIMEOUT_SECONDS)

    @staticmethod
    def _failed(
        context: AttemptContext,
        payload: ServiceBusMessage,
        prefix: str,
        reason: str,
        error: BaseException | str,
    ) -> AttemptResult:
        message = f"{prefix}Sending to namespace '{payload.namespace}' failed: {reason}"
        return _finish(context, payload, False, message, error)


def _finish(
    context: AttemptContext,
    payload: ServiceBusMessage,
    succeeded: bool,
    message: str,
    error: BaseException | str | None,
) -> AttemptResult:
    return finish(
        _log, "service_bus_action.attempt", context, succeeded, message, error,
        namespace=payload.namespace, entity=payload.entity,
    )  # fmt: skip


def _describe(error: BaseException) -> str:
    # The SDK's authentication error only says "Service Bus has encountered an error"; the
    # broker's answer (status code and description) is in the error it wraps.
    inner = getattr(error, "inner_exception", None)
    if isinstance(error, ServiceBusAuthenticationError) and isinstance(inner, Exception):
        error = inner
    return " ".join(str(error).split()) or type(error).__name__


def _scrub(text: str, key: str) -> str:
    return text.replace(key, "***") if len(key) >= _MIN_REDACTED_LENGTH else text
