"""Actions as data: a closed, tagged union of every action type's payload (§3.2–§3.4, §7).

Nothing here names a Python class to import; ``ActionType`` is the closed registry key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from jobclock.domain.durations import Duration
from jobclock.domain.retry_policy import RetryPolicy
from jobclock.domain.secret import Secret


class ActionType(Enum):
    """Azure's five action types plus jobclock's ``Amqp`` (RabbitMQ and other brokers)."""

    HTTP = "Http"
    HTTPS = "Https"
    STORAGE_QUEUE = "StorageQueue"
    SERVICE_BUS_QUEUE = "ServiceBusQueue"
    SERVICE_BUS_TOPIC = "ServiceBusTopic"
    AMQP = "Amqp"


class HttpMethod(Enum):
    GET = "GET"
    PUT = "PUT"
    POST = "POST"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class BasicAuthentication:
    username: str
    password: Secret


@dataclass(frozen=True, slots=True)
class ClientCertificateAuthentication:
    """A PFX presented in the TLS handshake; the public facts are computed at PUT."""

    pfx: Secret
    password: Secret | None
    thumbprint: str | None = None
    subject_name: str | None = None
    expiration: datetime | None = None


@dataclass(frozen=True, slots=True)
class OAuthAuthentication:
    """``ActiveDirectoryOAuth``: the client-credentials grant against ``tenant``."""

    tenant: str
    audience: str
    client_id: str
    secret: Secret


HttpAuthentication = BasicAuthentication | ClientCertificateAuthentication | OAuthAuthentication


def uri_without_password(uri: str) -> str:
    """``uri`` with the password of its userinfo left out (``http://alice:pw@h/`` →
    ``http://alice@h/``): how a URI is shown, since its password is a secret (§7).

    The userinfo ends at the authority's last ``@`` and its password starts at its first
    ``:``, as ``urlsplit`` reads them; an empty password is no secret and stays.
    """
    scheme_end = uri.find("://")
    if scheme_end < 0:
        return uri
    start = scheme_end + 3
    end = next((i for i in range(start, len(uri)) if uri[i] in "/?#"), len(uri))
    at = uri.rfind("@", start, end)
    colon = uri.find(":", start, at) if at >= 0 else -1
    if colon < 0 or colon == at - 1:
        return uri
    return uri[:colon] + uri[at:]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    uri: str
    method: HttpMethod
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    authentication: HttpAuthentication | None = None
    signing: Signing | None = None  # jobclock's: Standard Webhooks signatures
    template: bool = False  # jobclock's: uri, headers and body are templates


@dataclass(frozen=True, slots=True)
class Signing:
    """Standard Webhooks 1.0 signing of every attempt: ``secret`` signs, and while a key
    rotates ``previous`` signs too (receivers accept either). Both are ``whsec_`` keys."""

    secret: Secret
    previous: Secret | None = None

    @property
    def secrets(self) -> tuple[Secret, ...]:
        return (self.secret,) if self.previous is None else (self.secret, self.previous)


@dataclass(frozen=True, slots=True)
class StorageQueueMessage:
    storage_account: str
    queue_name: str
    sas_token: Secret | None
    message: str | None
    template: bool = False  # jobclock's: the message is a template


class TransportType(Enum):
    NOT_SPECIFIED = "NotSpecified"
    NET_MESSAGING = "NetMessaging"
    AMQP = "AMQP"


@dataclass(frozen=True, slots=True)
class ServiceBusAuthentication:
    """``SharedAccessKey`` authentication; a ``NotSpecified`` one is stored as None."""

    sas_key_name: str | None
    sas_key: Secret | None


@dataclass(frozen=True, slots=True)
class BrokeredMessageProperties:
    content_type: str | None = None
    correlation_id: str | None = None
    force_persistence: bool | None = None
    label: str | None = None
    message_id: str | None = None
    partition_key: str | None = None
    reply_to: str | None = None
    reply_to_session_id: str | None = None
    scheduled_enqueue_time_utc: datetime | None = None
    session_id: str | None = None
    time_to_live: Duration | None = None
    to: str | None = None
    via_partition_key: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceBusMessage:
    """A Service Bus queue or topic message; ``entity`` is ``queueName`` or ``topicPath``."""

    namespace: str
    entity: str
    transport_type: TransportType | None = None
    authentication: ServiceBusAuthentication | None = None
    message: str | None = None
    brokered_properties: BrokeredMessageProperties | None = None
    custom_properties: tuple[tuple[str, str], ...] = ()
    template: bool = False  # jobclock's: the message is a template


@dataclass(frozen=True, slots=True)
class AmqpMessage:
    """jobclock's AMQP 0-9-1 action. ``url`` has no password; it is kept as a secret."""

    url: str
    password: Secret | None
    exchange: str = ""
    routing_key: str = ""
    message: str | None = None
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    persistent: bool = True
    template: bool = False  # the message is a template


Payload = HttpRequest | StorageQueueMessage | ServiceBusMessage | AmqpMessage

PAYLOAD_TYPES: dict[ActionType, type[Payload]] = {
    ActionType.HTTP: HttpRequest,
    ActionType.HTTPS: HttpRequest,
    ActionType.STORAGE_QUEUE: StorageQueueMessage,
    ActionType.SERVICE_BUS_QUEUE: ServiceBusMessage,
    ActionType.SERVICE_BUS_TOPIC: ServiceBusMessage,
    ActionType.AMQP: AmqpMessage,
}


@dataclass(frozen=True, slots=True)
class ErrorAction:
    """The alternate action run after the main action's last failed attempt (§5.6)."""

    type: ActionType
    payload: Payload
    retry_policy: RetryPolicy | None = None


@dataclass(frozen=True, slots=True)
class JobAction:
    """The job's main action, its retry policy (None: defaults, not echoed) and error action."""

    type: ActionType
    payload: Payload
    retry_policy: RetryPolicy | None = None
    error_action: ErrorAction | None = None


def uses_authentication(action: JobAction | ErrorAction) -> bool:
    """True when the action uses outbound HTTP authentication (not allowed on Free, §7)."""
    payload = action.payload
    if isinstance(payload, HttpRequest) and payload.authentication is not None:
        return True
    if isinstance(action, JobAction) and action.error_action is not None:
        return uses_authentication(action.error_action)
    return False
