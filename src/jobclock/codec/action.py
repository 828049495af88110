"""``JobAction`` JSON ↔ :class:`JobAction` (§3.2–§3.5, §7, Appendix A).

Input is read case-insensitively; output uses the canonical spellings the 7.0.0 client needs
and never contains a secret (§2.6, §7).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from jobclock.codec.certificates import PfxError, certificate_facts
from jobclock.codec.fields import Fields, parse_enum
from jobclock.codec.keys import KNOWN_KEYS
from jobclock.domain.actions import (
    ActionType,
    AmqpMessage,
    BasicAuthentication,
    BrokeredMessageProperties,
    ClientCertificateAuthentication,
    ErrorAction,
    HttpAuthentication,
    HttpMethod,
    HttpRequest,
    JobAction,
    OAuthAuthentication,
    Payload,
    ServiceBusAuthentication,
    ServiceBusMessage,
    Signing,
    StorageQueueMessage,
    TransportType,
    uri_without_password,
)
from jobclock.domain.durations import Duration
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.instants import format_instant
from jobclock.domain.retry_policy import RetryPolicy, RetryType
from jobclock.domain.secret import Secret

PAYLOAD_KEYS = {
    ActionType.HTTP: "request",
    ActionType.HTTPS: "request",
    ActionType.STORAGE_QUEUE: "queueMessage",
    ActionType.SERVICE_BUS_QUEUE: "serviceBusQueueMessage",
    ActionType.SERVICE_BUS_TOPIC: "serviceBusTopicMessage",
    ActionType.AMQP: "amqpMessage",
}
BASIC_REQUIRED = "'Username' and 'Password' are required for 'Basic' type of Authentication."


def action_from_json(raw: object, path: str = "properties.action") -> JobAction:
    fields = Fields(raw, path, KNOWN_KEYS["action"])
    kind, payload, policy = _common(fields)
    error_raw = fields.raw("errorAction")
    error_action = None
    if error_raw is not None:
        error_fields = Fields(error_raw, fields.name("errorAction"), KNOWN_KEYS["errorAction"])
        if error_fields.raw("errorAction") is not None:
            raise InvalidDefinition(
                "An error action cannot have an error action of its own.",
                field=error_fields.name("errorAction"),
            )
        error_kind, error_payload, error_policy = _common(error_fields)
        error_action = ErrorAction(error_kind, error_payload, error_policy)
    return JobAction(kind, payload, policy, error_action)


def _common(fields: Fields) -> tuple[ActionType, Payload, RetryPolicy | None]:
    kind = fields.enum("type", ActionType, required=True)
    assert kind is not None  # noqa: S101 - required=True
    wanted = PAYLOAD_KEYS[kind]
    for other in set(PAYLOAD_KEYS.values()) - {wanted}:
        if fields.raw(other) is not None:
            raise InvalidDefinition(
                f"'{fields.name(other)}' does not belong to an action of type '{kind.value}'; "
                f"give '{wanted}' only.",
                field=fields.name(other),
            )
    body = fields.obj(wanted, KNOWN_KEYS[wanted])
    if body is None:
        raise InvalidDefinition(
            f"'{fields.name(wanted)}' is required for an action of type '{kind.value}'.",
            field=fields.name(wanted),
        )
    return (
        kind,
        _payload(kind, body),
        _retry_policy(fields.obj("retryPolicy", KNOWN_KEYS["retryPolicy"])),
    )


def _payload(kind: ActionType, body: Fields) -> Payload:
    if kind in (ActionType.HTTP, ActionType.HTTPS):
        return _http_request(body)
    if kind is ActionType.STORAGE_QUEUE:
        return StorageQueueMessage(
            storage_account=_required_text(body, "storageAccount"),
            queue_name=_required_text(body, "queueName"),
            sas_token=_secret(body, "sasToken"),
            message=body.text("message"),
            template=body.boolean("template") or False,
        )
    if kind is ActionType.AMQP:
        return _amqp(body)
    entity = "queueName" if kind is ActionType.SERVICE_BUS_QUEUE else "topicPath"
    return ServiceBusMessage(
        namespace=_required_text(body, "namespace"),
        entity=_required_text(body, entity),
        transport_type=body.enum("transportType", TransportType),
        authentication=_service_bus_authentication(
            body.obj("authentication", KNOWN_KEYS["serviceBusAuthentication"])
        ),
        message=body.text("message"),
        brokered_properties=_brokered(
            body.obj("brokeredMessageProperties", KNOWN_KEYS["brokeredMessageProperties"])
        ),
        custom_properties=tuple((body.string_map("customMessageProperties") or {}).items()),
        template=body.boolean("template") or False,
    )


def _required_text(fields: Fields, key: str) -> str:
    value = fields.text(key, required=True)
    assert value is not None  # noqa: S101 - required=True
    if not value.strip():
        raise InvalidDefinition(f"'{fields.name(key)}' must not be empty.", field=fields.name(key))
    return value


def _secret(fields: Fields, key: str) -> Secret | None:
    value = fields.text(key)
    return None if value is None else Secret(value)


def _http_request(body: Fields) -> HttpRequest:
    method_text = body.text("method") or "GET"
    try:
        method = parse_enum(method_text, HttpMethod, body.name("method"))
    except InvalidDefinition as exc:
        raise InvalidDefinition(
            f"'{body.name('method')}' must be GET, PUT, POST or DELETE; got {method_text!r}.",
            field=body.name("method"),
        ) from exc
    return HttpRequest(
        uri=_required_text(body, "uri").strip(),
        method=method,
        headers=tuple((body.string_map("headers") or {}).items()),
        body=body.text("body"),
        authentication=_http_authentication(body.obj("authentication")),
        signing=signing_from_fields(body.obj("signing", KNOWN_KEYS["signing"])),
        template=body.boolean("template") or False,
    )


# A Standard Webhooks key: "whsec_" and the base64 of 24 to 64 random bytes.
_SIGNING_KEY = re.compile(r"whsec_([A-Za-z0-9+/]{32,88}={0,2})")


def signing_from_fields(fields: Fields | None) -> Signing | None:
    """``signing``: Standard Webhooks keys (a request's, a notification endpoint's)."""
    if fields is None:
        return None
    secret = _signing_key(fields, "secret", required=True)
    assert secret is not None  # noqa: S101 - required
    return Signing(secret, _signing_key(fields, "previousSecret"))


def _signing_key(fields: Fields, key: str, *, required: bool = False) -> Secret | None:
    text = fields.text(key, required=required)
    if text is None:
        return None
    match = _SIGNING_KEY.fullmatch(text)
    try:
        valid = match is not None and 24 <= len(base64.b64decode(match[1], validate=True)) <= 64
    except binascii.Error:
        valid = False
    if not valid:  # the key itself is a secret: never part of the message
        raise InvalidDefinition(
            f"'{fields.name(key)}' must be a Standard Webhooks key: 'whsec_' followed by the "
            "base64 of 24 to 64 random bytes.",
            field=fields.name(key),
        )
    return Secret(text)


class _AuthType:
    BASIC = "basic"
    CERTIFICATE = "clientcertificate"
    OAUTH = "activedirectoryoauth"
    NONE = "notspecified"


# Each authentication type has its own keys: a key of another type is unknown.
_AUTH_KEYS = {
    _AuthType.BASIC: "basicAuthentication",
    _AuthType.CERTIFICATE: "clientCertificateAuthentication",
    _AuthType.OAUTH: "oauthAuthentication",
    _AuthType.NONE: "noAuthentication",
}


def _http_authentication(fields: Fields | None) -> HttpAuthentication | None:
    if fields is None:
        return None
    kind = (fields.text("type", required=True) or "").strip().lower()
    place = _AUTH_KEYS.get(kind)
    if place is not None:
        fields.reject_unknown(KNOWN_KEYS[place])
    if kind == _AuthType.NONE:
        return None
    if kind == _AuthType.BASIC:
        username, password = fields.text("username"), fields.text("password")
        if not username or not password:
            raise InvalidDefinition(BASIC_REQUIRED, field=fields.name("password"))
        return BasicAuthentication(username, Secret(password))
    if kind == _AuthType.CERTIFICATE:
        pfx = fields.text("pfx")
        if not pfx:
            raise InvalidDefinition(
                "'Pfx' and 'Password' are required for 'ClientCertificate' type of Authentication.",
                field=fields.name("pfx"),
            )
        return _client_certificate(fields, pfx)
    if kind == _AuthType.OAUTH:
        values = {key: fields.text(key) for key in ("tenant", "audience", "clientId", "secret")}
        missing = [key for key, value in values.items() if not value]
        if missing:
            raise InvalidDefinition(
                "'Tenant', 'Audience', 'ClientId' and 'Secret' are required for "
                "'ActiveDirectoryOAuth' type of Authentication.",
                field=fields.name(missing[0]),
            )
        return OAuthAuthentication(
            tenant=values["tenant"] or "",
            audience=values["audience"] or "",
            client_id=values["clientId"] or "",
            secret=Secret(values["secret"] or ""),
        )
    raise InvalidDefinition(
        f"'{fields.name('type')}' must be 'Basic', 'ClientCertificate' or "
        f"'ActiveDirectoryOAuth'; got {fields.text('type')!r}.",
        field=fields.name("type"),
    )


def _client_certificate(fields: Fields, pfx: str) -> ClientCertificateAuthentication:
    """Open the PFX now (400 when it cannot be used) and compute what responses show.

    ``certificateThumbprint``, ``certificateSubjectName`` and ``certificateExpiration(Date)``
    sent back by a client are ignored: they are always recomputed from the PFX (§7).
    """
    password = fields.text("password")
    try:
        facts = certificate_facts(pfx, password)
    except PfxError as exc:
        raise InvalidDefinition(
            f"The PFX in '{fields.name('pfx')}' cannot be used for 'ClientCertificate' "
            f"authentication: {exc}.",
            field=fields.name("pfx"),
        ) from exc
    return ClientCertificateAuthentication(
        pfx=Secret(pfx),
        password=None if password is None else Secret(password),
        thumbprint=facts.thumbprint,
        subject_name=facts.subject_name,
        expiration=facts.expiration,
    )


def _service_bus_authentication(fields: Fields | None) -> ServiceBusAuthentication | None:
    if fields is None:
        return None
    kind = (fields.text("type") or "NotSpecified").strip().lower()
    if kind == "notspecified":
        return None
    if kind != "sharedaccesskey":
        raise InvalidDefinition(
            f"'{fields.name('type')}' must be 'SharedAccessKey' or 'NotSpecified'.",
            field=fields.name("type"),
        )
    return ServiceBusAuthentication(fields.text("sasKeyName"), _secret(fields, "sasKey"))


def _brokered(fields: Fields | None) -> BrokeredMessageProperties | None:
    if fields is None:
        return None
    return BrokeredMessageProperties(
        content_type=fields.text("contentType"),
        correlation_id=fields.text("correlationId"),
        force_persistence=fields.boolean("forcePersistence"),
        label=fields.text("label"),
        message_id=fields.text("messageId"),
        partition_key=fields.text("partitionKey"),
        reply_to=fields.text("replyTo"),
        reply_to_session_id=fields.text("replyToSessionId"),
        scheduled_enqueue_time_utc=fields.instant("scheduledEnqueueTimeUtc"),
        session_id=fields.text("sessionId"),
        time_to_live=fields.duration("timeToLive"),
        to=fields.text("to"),
        via_partition_key=fields.text("viaPartitionKey"),
    )


_AMQP_QUERY_KEYS = frozenset({"heartbeat", "name", "connection_timeout"})


def _amqp(body: Fields) -> AmqpMessage:
    url = _required_text(body, "url").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
        usable = parts.scheme.lower() in ("amqp", "amqps") and bool(parts.hostname)
    except ValueError:  # an unbalanced '[' or ']', a port that is not 0..65535
        usable = False
    if not usable or parts.hostname is None:
        raise InvalidDefinition(
            f"'{body.name('url')}' must be an amqp:// or amqps:// URL.", field=body.name("url")
        )
    unsafe = sorted({key for key, _ in parse_qsl(parts.query)} - _AMQP_QUERY_KEYS)
    if unsafe:
        # TLS file paths and verification switches would let a job read the server's files
        # or turn certificate checks off.
        raise InvalidDefinition(
            f"'{body.name('url')}' may not set {', '.join(unsafe)}; allowed query parameters: "
            f"{', '.join(sorted(_AMQP_QUERY_KEYS))}.",
            field=body.name("url"),
        )
    password = body.text("password") or (
        None if parts.password is None else unquote(parts.password)
    )
    # An IPv6 address keeps its brackets, or the stored URL would not parse again.
    netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username is not None:
        netloc = f"{parts.username}@{netloc}"
    public = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    persistent = body.boolean("persistent")
    return AmqpMessage(
        url=public,
        password=None if password is None else Secret(password),
        exchange=body.text("exchange") or "",
        routing_key=body.text("routingKey") or "",
        message=body.text("message"),
        content_type=body.text("contentType"),
        headers=tuple((body.string_map("headers") or {}).items()),
        persistent=True if persistent is None else persistent,
        template=body.boolean("template") or False,
    )


def _retry_policy(fields: Fields | None) -> RetryPolicy | None:
    if fields is None:
        return None
    retry_type = fields.enum("retryType", RetryType) or RetryType.FIXED
    return RetryPolicy(
        retry_type,
        fields.duration("retryInterval"),
        fields.integer("retryCount"),
        max_interval=fields.duration("maxInterval"),
        max_age=fields.duration("maxAge"),
    )


# ----------------------------------------------------------------------------- output


Reveal = Callable[[Secret], Any]


def action_to_json(action: JobAction, reveal: Reveal | None = None) -> dict[str, Any]:
    """The action as JSON. Secrets are left out, unless ``reveal`` says how to write them
    (the store passes one that seals them; responses never do)."""
    body = _common_to_json(action.type, action.payload, action.retry_policy, reveal)
    if action.error_action is not None:
        error = action.error_action
        body["errorAction"] = _common_to_json(error.type, error.payload, error.retry_policy, reveal)
    return body


def _common_to_json(
    kind: ActionType, payload: Payload, policy: RetryPolicy | None, reveal: Reveal | None
) -> dict[str, Any]:
    payload_json = (
        service_bus_to_json(payload, kind, reveal)
        if isinstance(payload, ServiceBusMessage)
        else payload_to_json(payload, reveal)
    )
    body: dict[str, Any] = {PAYLOAD_KEYS[kind]: payload_json, "type": kind.value}
    if policy is not None:
        body["retryPolicy"] = retry_policy_to_json(policy)
    return body


def retry_policy_to_json(policy: RetryPolicy) -> dict[str, Any]:
    body: dict[str, Any] = {"retryType": policy.retry_type.value}
    if policy.retry_interval is not None:
        body["retryInterval"] = policy.retry_interval.text
    if policy.retry_count is not None:
        body["retryCount"] = policy.retry_count
    if policy.max_interval is not None:
        body["maxInterval"] = policy.max_interval.text
    if policy.max_age is not None:
        body["maxAge"] = policy.max_age.text
    return body


def payload_to_json(payload: Payload, reveal: Reveal | None = None) -> dict[str, Any]:
    if isinstance(payload, HttpRequest):
        return _http_to_json(payload, reveal)
    if isinstance(payload, StorageQueueMessage):
        return _drop_none(
            {
                "storageAccount": payload.storage_account,
                "queueName": payload.queue_name,
                "sasToken": _reveal(payload.sas_token, reveal),
                "message": payload.message,
                "template": payload.template or None,
            }
        )
    if isinstance(payload, ServiceBusMessage):
        return _service_bus_to_json(payload, reveal)
    return _drop_none(
        {
            "url": payload.url,
            "password": _reveal(payload.password, reveal),
            "exchange": payload.exchange,
            "routingKey": payload.routing_key,
            "message": payload.message,
            "contentType": payload.content_type,
            "headers": dict(payload.headers) or None,
            "persistent": payload.persistent,
            "template": payload.template or None,
        }
    )


def _reveal(secret: Secret | None, reveal: Reveal | None) -> Any:
    return None if secret is None or reveal is None else reveal(secret)


def _uri(uri: str, reveal: Reveal | None) -> Any:
    """A URI with a password is a secret as a whole (sealed whole at rest); shown, it is
    the URI without its password."""
    shown = uri_without_password(uri)
    if shown == uri:
        return uri
    return shown if reveal is None else reveal(Secret(uri))


def _http_to_json(request: HttpRequest, reveal: Reveal | None) -> dict[str, Any]:
    body: dict[str, Any] = {"uri": _uri(request.uri, reveal), "method": request.method.value}
    if request.headers:
        body["headers"] = dict(request.headers)
    if request.body is not None:
        body["body"] = request.body
    auth = request.authentication
    if isinstance(auth, BasicAuthentication):
        body["authentication"] = _drop_none(
            {"type": "Basic", "username": auth.username, "password": _reveal(auth.password, reveal)}
        )
    elif isinstance(auth, OAuthAuthentication):
        body["authentication"] = {
            "type": "ActiveDirectoryOAuth",
            "tenant": auth.tenant,
            "audience": auth.audience,
            "clientId": auth.client_id,
        } | _drop_none({"secret": _reveal(auth.secret, reveal)})
    elif isinstance(auth, ClientCertificateAuthentication):
        expiration = None if auth.expiration is None else format_instant(auth.expiration)
        body["authentication"] = _drop_none(
            {
                "type": "ClientCertificate",
                "certificateThumbprint": auth.thumbprint,
                "certificateExpiration": expiration,
                "certificateExpirationDate": expiration,
                "certificateSubjectName": auth.subject_name,
                "pfx": _reveal(auth.pfx, reveal),
                "password": _reveal(auth.password, reveal),
            }
        )
    if request.signing is not None:
        body["signing"] = signing_to_json(request.signing, reveal)
    if request.template:
        body["template"] = True
    return body


def signing_to_json(signing: Signing, reveal: Reveal | None) -> dict[str, Any]:
    """Signing keys, only through ``reveal`` (a response shows ``{}``)."""
    return _drop_none(
        {
            "secret": _reveal(signing.secret, reveal),
            "previousSecret": _reveal(signing.previous, reveal),
        }
    )


def _service_bus_to_json(message: ServiceBusMessage, reveal: Reveal | None) -> dict[str, Any]:
    entity_key = "queueName"
    body: dict[str, Any] = {"namespace": message.namespace, entity_key: message.entity}
    if message.transport_type is not None:
        body["transportType"] = message.transport_type.value
    if message.authentication is not None:
        body["authentication"] = _drop_none(
            {
                "type": "SharedAccessKey",
                "sasKeyName": message.authentication.sas_key_name,
                "sasKey": _reveal(message.authentication.sas_key, reveal),
            }
        )
    if message.message is not None:
        body["message"] = message.message
    if message.brokered_properties is not None:
        body["brokeredMessageProperties"] = _brokered_to_json(message.brokered_properties)
    if message.custom_properties:
        body["customMessageProperties"] = dict(message.custom_properties)
    if message.template:
        body["template"] = True
    return body


def service_bus_to_json(
    message: ServiceBusMessage, kind: ActionType, reveal: Reveal | None = None
) -> dict[str, Any]:
    """The Service Bus payload with the entity under the key its action type uses."""
    body = _service_bus_to_json(message, reveal)
    if kind is ActionType.SERVICE_BUS_TOPIC:
        body["topicPath"] = body.pop("queueName")
    return body


def _brokered_to_json(props: BrokeredMessageProperties) -> dict[str, Any]:
    ttl: Duration | None = props.time_to_live
    scheduled = props.scheduled_enqueue_time_utc
    return _drop_none(
        {
            "contentType": props.content_type,
            "correlationId": props.correlation_id,
            "forcePersistence": props.force_persistence,
            "label": props.label,
            "messageId": props.message_id,
            "partitionKey": props.partition_key,
            "replyTo": props.reply_to,
            "replyToSessionId": props.reply_to_session_id,
            "scheduledEnqueueTimeUtc": None if scheduled is None else format_instant(scheduled),
            "sessionId": props.session_id,
            "timeToLive": None if ttl is None else ttl.text,
            "to": props.to,
            "viaPartitionKey": props.via_partition_key,
        }
    )


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
