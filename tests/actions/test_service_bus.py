"""ServiceBusExecutor (§3.4, §5.4) without a Service Bus: what can be proven locally.

- ``build_message``: every brokered property, the custom properties and the scheduler's
  metadata, read back from the SDK's message.
- ``sas_token``: a vector computed with ``openssl`` and again with ``hmac`` here, the SDK's
  own generator, and the token the SDK really put on the wire.
- The whole send, through the real SDK, to ``FakeServiceBus``: a small AMQP 1.0 peer on
  127.0.0.1 that speaks just enough of the protocol (SASL, open, begin, attach, flow, the CBS
  ``put-token`` exchange, transfer, disposition) to accept or refuse a message, and records
  what arrived. It reuses the SDK's own frame codec, so it proves what the SDK sends and how
  the executor reads the SDK's answers, not that Azure's broker would agree.
- Unreachable namespaces (refused port, unknown host, silent peer) fail fast with a clear
  message, and the engine then retries them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote_plus

import pytest
from azure.servicebus._pyamqp import performatives as amqp
from azure.servicebus._pyamqp._decode import decode_frame, decode_payload
from azure.servicebus._pyamqp._encode import encode_frame, encode_payload
from azure.servicebus._pyamqp.endpoints import Source, Target
from azure.servicebus._pyamqp.error import AMQPError
from azure.servicebus._pyamqp.message import Message, Properties
from azure.servicebus._pyamqp.outcomes import Accepted, Rejected
from azure.servicebus._pyamqp.utils import generate_sas_token
from cryptography.fernet import Fernet

from jobclock.actions.service_bus import (
    DEFAULT_ENDPOINT_TEMPLATE,
    ENDPOINT_VARIABLE,
    VIA_PARTITION_KEY_ANNOTATION,
    Endpoint,
    ServiceBusExecutor,
    build_message,
    entity_uri,
    resolve_endpoint,
    sas_token,
    scheduler_properties,
)
from jobclock.domain.actions import (
    ActionType,
    BrokeredMessageProperties,
    HttpMethod,
    HttpRequest,
    ServiceBusAuthentication,
    ServiceBusMessage,
    TransportType,
)
from jobclock.domain.durations import Duration, parse_duration
from jobclock.domain.execution import AttemptResult, Invocation
from jobclock.domain.history import HistoryStatus
from jobclock.domain.secret import Secret
from jobclock.engine.dispatcher import Engine, EngineSettings
from jobclock.secret_box import FernetSecretBox
from jobclock.services import SchedulerService
from jobclock.storage.sql_store import SqlStore
from jobclock.testing import FakeClock, RecordingExecutor
from tests.actions.attempt_context import attempt_context
from tests.system import T0, System

CONTEXT = attempt_context()
KEY_NAME = "RootManageSharedAccessKey"
KEY = "c2VjcmV0LWtleS1mb3ItdGVzdHM="  # a test key (base64 text, like Azure's)
METADATA = {
    "x-ms-execution-tag": "c3b168c6a2f1f8d4f9b4a3e2c1d0e9f8",
    "x-ms-client-request-id": "2fd3a5a7-31b5-4c2c-9b8e-3d1c6b6d3e7f",
    "x-ms-scheduler-expected-execution-time": "2015-09-10T00:00:00Z",
    "x-ms-scheduler-jobid": "job1",
    "x-ms-scheduler-jobcollectionid": "coll1",
    "x-ms-scheduler-execution-region": "West Europe",
}
EVERY_PROPERTY = BrokeredMessageProperties(
    content_type="application/json",
    correlation_id="corr-1",
    force_persistence=True,
    label="tick-label",
    message_id="m1",
    partition_key="session-1",
    reply_to="replies",
    reply_to_session_id="reply-session",
    scheduled_enqueue_time_utc=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
    session_id="session-1",
    time_to_live=parse_duration("PT1H", field="timeToLive"),
    to="somewhere",
    via_partition_key="via-1",
)
T = TypeVar("T")


def payload(
    entity: str = "orders",
    *,
    namespace: str = "ns1",
    properties: BrokeredMessageProperties | None = None,
    custom: tuple[tuple[str, str], ...] = (),
    message: str | None = "tick",
    authentication: ServiceBusAuthentication | None = None,
) -> ServiceBusMessage:
    return ServiceBusMessage(
        namespace=namespace,
        entity=entity,
        transport_type=TransportType.NET_MESSAGING,
        authentication=authentication or ServiceBusAuthentication(KEY_NAME, Secret(KEY)),
        message=message,
        brokered_properties=properties,
        custom_properties=custom,
    )


def run(awaitable: Awaitable[T]) -> T:
    async def main() -> T:
        return await awaitable

    return asyncio.run(main())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def execute(
    executor: ServiceBusExecutor,
    message: ServiceBusMessage,
    kind: ActionType = ActionType.SERVICE_BUS_QUEUE,
) -> AttemptResult:
    return run(executor.execute(Invocation(kind, message), CONTEXT))


# -- A fake Service Bus: an AMQP 1.0 peer built on the SDK's own frame codec ---------------

SASL_HEADER = b"AMQP\x03\x01\x00\x00"
AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
OPEN, BEGIN, ATTACH, FLOW, TRANSFER, DISPOSITION, DETACH, END, CLOSE = range(0x10, 0x19)


@dataclass
class FakeServiceBus:
    """Accepts messages for ``entities``; answers ``put-token`` with ``token_status``."""

    entities: set[str] = field(default_factory=lambda: {"orders", "events"})
    token_status: int = 200
    reject_messages: bool = False
    port: int = 0
    connections: int = 0
    tokens: list[dict[str, Any]] = field(default_factory=list)  # put-token requests
    targets: list[str] = field(default_factory=list)  # addresses of accepted sender links
    messages: list[Message] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await _Connection(self, reader, writer).run()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        except Exception as error:  # a fake that breaks must fail the test, not hang it
            self.errors.append(error)
        finally:
            writer.close()


def _new(cls: Any, **values: Any) -> Any:
    """A performative with every field not given left out."""
    return cls(**{name: values.get(name) for name in cls._fields})


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


class _Connection:
    def __init__(
        self, bus: FakeServiceBus, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.bus, self.reader, self.writer = bus, reader, writer
        self.links: dict[int, tuple[str, int]] = {}  # their handle -> (entity, our handle)
        self.cbs_reply_handle = 0
        self.replies = 0

    def send(self, frame: Any, channel: int = 0, *, sasl: bool = False) -> None:
        header, body = encode_frame(frame, frame_type=b"\x01" if sasl else b"\x00")
        self.writer.write(header + channel.to_bytes(2, "big") + (body or b""))

    async def read(self) -> tuple[int, int | None, list[Any]]:
        head = await self.reader.readexactly(8)
        body = await self.reader.readexactly(int.from_bytes(head[:4], "big") - 8)
        if not body:
            return 0, None, []  # a heartbeat
        code, fields = decode_frame(memoryview(body[head[4] * 4 - 8 :]))
        return int.from_bytes(head[6:8], "big"), code, fields

    async def run(self) -> None:
        assert await self.reader.readexactly(8) == SASL_HEADER
        self.writer.write(SASL_HEADER)
        mechanisms = [b"ANONYMOUS", b"MSSBCBS"]
        self.send(_new(amqp.SASLMechanism, sasl_server_mechanisms=mechanisms), sasl=True)
        await self.read()  # sasl-init: the SDK logs in anonymously, then puts a token
        self.send(_new(amqp.SASLOutcome, code=0), sasl=True)
        assert await self.reader.readexactly(8) == AMQP_HEADER
        self.writer.write(AMQP_HEADER)
        while True:
            channel, code, fields = await self.read()
            going_on = self.handle(channel, code, fields)
            await self.writer.drain()
            if not going_on:
                return

    def handle(self, channel: int, code: int | None, fields: list[Any]) -> bool:
        if code == OPEN:
            self.send(_new(amqp.OpenFrame, container_id="fake-service-bus", max_frame_size=65536))
        elif code == BEGIN:
            window = {"next_outgoing_id": 0, "incoming_window": 5000, "outgoing_window": 5000}
            self.send(_new(amqp.BeginFrame, remote_channel=channel, **window), channel)
        elif code == ATTACH:
            self.attach(channel, fields)
        elif code == TRANSFER:
            self.transfer(channel, fields)
        elif code == DETACH:
            ours = self.links.get(fields[0], ("", fields[0]))[1]
            self.send(_new(amqp.DetachFrame, handle=ours, closed=True), channel)
        elif code == END:
            self.send(_new(amqp.EndFrame), channel)
        elif code == CLOSE:
            self.send(_new(amqp.CloseFrame))
            return False
        return True

    def attach(self, channel: int, fields: list[Any]) -> None:
        name, handle, receiving = fields[0], fields[1], fields[2]
        source, target = fields[5], fields[6]
        address = _text((source if receiving else target)[0])
        entity = address.split("/", 3)[-1] if "://" in address else address
        ours = len(self.links)
        self.links[handle] = (entity, ours)
        reply = {
            "name": name,
            "handle": ours,
            "role": not receiving,
            "source": _new(Source, address=_text(source[0]) if source else None),
            "max_message_size": 1024 * 1024,
        }
        if entity != "$cbs" and entity not in self.bus.entities:
            self.send(_new(amqp.AttachFrame, **reply), channel)
            error = _new(
                AMQPError,
                condition=b"amqp:not-found",
                description=f"The messaging entity '{address}' could not be found.",
            )
            self.send(_new(amqp.DetachFrame, handle=ours, closed=True, error=error), channel)
            return
        target_terminus = _new(Target, address=_text(target[0]) if target else None)
        count = 0 if receiving else None
        attach = _new(
            amqp.AttachFrame, target=target_terminus, initial_delivery_count=count, **reply
        )
        self.send(attach, channel)
        if receiving:
            self.cbs_reply_handle = ours
            return
        if entity != "$cbs":
            self.bus.targets.append(address)
        flow = _new(
            amqp.FlowFrame,
            next_incoming_id=0,
            incoming_window=5000,
            next_outgoing_id=0,
            outgoing_window=5000,
            handle=ours,
            delivery_count=0,
            link_credit=100,
        )
        self.send(flow, channel)

    def transfer(self, channel: int, fields: list[Any]) -> None:
        handle, delivery_id, settled = fields[0], fields[1], fields[4]
        message = decode_payload(memoryview(fields[-1]))
        state: Any = _new(Accepted)
        if self.links[handle][0] == "$cbs":
            self.put_token(channel, message)
        else:
            self.bus.messages.append(message)
            if self.bus.reject_messages:
                error = _new(AMQPError, condition=b"amqp:not-allowed", description="refused here")
                state = _new(Rejected, error=error)
        if not settled:
            disposition = _new(
                amqp.DispositionFrame, role=True, first=delivery_id, settled=True, state=state
            )
            self.send(disposition, channel)

    def put_token(self, channel: int, request: Message) -> None:
        request_properties = {
            _text(k): _text(v) for k, v in (request.application_properties or {}).items()
        }
        self.bus.tokens.append({**request_properties, "token": _text(request.value)})
        status = {b"status-code": self.bus.token_status, b"status-description": b"fake"}
        response = _new(
            Message,
            properties=_new(
                Properties, correlation_id=(request.properties or _new(Properties)).message_id
            ),
            application_properties=status,
        )
        encoded = bytearray()
        encode_payload(encoded, response)
        transfer = _new(
            amqp.TransferFrame,
            handle=self.cbs_reply_handle,
            delivery_id=self.replies,
            delivery_tag=self.replies.to_bytes(4, "big"),
            message_format=0,
            settled=True,
            payload=bytes(encoded),
        )
        self.send(transfer, channel)
        self.replies += 1


@asynccontextmanager
async def serving(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()


def send_to_fake(
    bus: FakeServiceBus,
    message: ServiceBusMessage,
    kind: ActionType = ActionType.SERVICE_BUS_QUEUE,
) -> AttemptResult:
    async def main() -> AttemptResult:
        async with serving(bus.serve) as port:
            bus.port = port
            executor = ServiceBusExecutor(endpoint_template=f"amqp://127.0.0.1:{port}", timeout=5)
            return await executor.execute(Invocation(kind, message), CONTEXT)

    result = asyncio.run(main())
    assert not bus.errors, bus.errors
    return result


# -- build_message: the SDK message -----------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("content_type", "application/json"),
        ("correlation_id", "corr-1"),
        ("subject", "tick-label"),  # label
        ("message_id", "m1"),
        ("partition_key", "session-1"),
        ("reply_to", "replies"),
        ("reply_to_session_id", "reply-session"),
        ("scheduled_enqueue_time_utc", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("session_id", "session-1"),
        ("time_to_live", timedelta(hours=1)),
        ("to", "somewhere"),
    ],
)
def test_every_brokered_property_is_mapped(attribute: str, expected: object) -> None:
    built = build_message(payload(properties=EVERY_PROPERTY), CONTEXT)
    assert getattr(built, attribute) == expected


def test_via_partition_key_is_sent_as_its_annotation() -> None:
    built = build_message(payload(properties=EVERY_PROPERTY), CONTEXT)
    annotations = built.raw_amqp_message.annotations or {}
    assert annotations[VIA_PARTITION_KEY_ANNOTATION] == "via-1"


def test_force_persistence_changes_nothing_that_is_sent() -> None:
    def sections(force: bool | None) -> tuple[Any, ...]:
        properties = BrokeredMessageProperties(message_id="m1", force_persistence=force)
        raw = build_message(payload(properties=properties), CONTEXT).raw_amqp_message
        return (raw.header, raw.properties, raw.annotations, raw.application_properties)

    assert sections(True) == sections(False) == sections(None)


def test_time_to_live_is_sent_in_whole_seconds() -> None:
    properties = BrokeredMessageProperties(time_to_live=Duration.of(timedelta(seconds=90.7)))
    built = build_message(payload(properties=properties), CONTEXT)
    assert built.raw_amqp_message.header is not None
    assert built.raw_amqp_message.header.time_to_live == 90_000


def test_body_is_the_message_text_and_empty_without_one() -> None:
    assert b"".join(build_message(payload(message="tick"), CONTEXT).body) == b"tick"
    assert b"".join(build_message(payload(message=None), CONTEXT).body) == b""


def test_without_brokered_properties_only_a_message_id_is_invented() -> None:
    built = build_message(payload(), CONTEXT)
    for attribute in ("content_type", "correlation_id", "subject", "session_id", "to"):
        assert getattr(built, attribute) is None
    # The SDK gives every message a random id, as .NET's BrokeredMessage did.
    assert uuid.UUID(built.message_id).version == 4
    assert built.time_to_live is None
    assert built.scheduled_enqueue_time_utc is None
    assert VIA_PARTITION_KEY_ANNOTATION not in (built.raw_amqp_message.annotations or {})


def test_custom_properties_and_scheduler_metadata_are_application_properties() -> None:
    custom = (("source", "scheduler"), ("x-ms-scheduler-jobid", "spoofed"))
    built = build_message(payload(custom=custom), CONTEXT)
    assert built.application_properties == {"source": "scheduler", **METADATA}


def test_metadata_names_match_the_http_headers() -> None:
    assert scheduler_properties(CONTEXT) == METADATA


@pytest.mark.parametrize(
    ("properties", "complaint"),
    [
        (BrokeredMessageProperties(message_id="m" * 129), "message_id"),
        (BrokeredMessageProperties(session_id="a", partition_key="b"), "partition_key"),
    ],
    ids=["long-message-id", "partition-key-not-session-id"],
)
def test_properties_the_sdk_refuses_raise_value_error(
    properties: BrokeredMessageProperties, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        build_message(payload(properties=properties), CONTEXT)


# -- endpoints --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected", "options"),
    [
        (
            DEFAULT_ENDPOINT_TEMPLATE,
            Endpoint("ns1.servicebus.windows.net", None, tls=True),
            {"fully_qualified_namespace": "ns1.servicebus.windows.net"},
        ),
        (
            "amqps://{namespace}.example.org:5999",
            Endpoint("ns1.example.org", 5999, tls=True),
            {
                "fully_qualified_namespace": "ns1.example.org",
                "custom_endpoint_address": "sb://ns1.example.org:5999",
            },
        ),
        (
            "amqp://localhost",
            Endpoint("localhost", None, tls=False),
            {"fully_qualified_namespace": "localhost:5672", "use_tls": False},
        ),
    ],
    ids=["default", "tls-with-port", "emulator"],
)
def test_template_maps_a_namespace_to_an_endpoint(
    template: str, expected: Endpoint, options: dict[str, object]
) -> None:
    endpoint = resolve_endpoint(template, "ns1")
    assert endpoint == expected
    assert options.items() <= endpoint.client_options().items()


@pytest.mark.parametrize(
    "namespace", ["", "-ns", "ns-", "a/b", "evil.com@x", "ns1:99", "n s", "ns1\n"]
)
def test_namespaces_that_are_not_names_are_refused(namespace: str) -> None:
    with pytest.raises(ValueError, match="not a valid namespace name"):
        resolve_endpoint(DEFAULT_ENDPOINT_TEMPLATE, namespace)


@pytest.mark.parametrize(
    "template", ["http://{namespace}.example.org", "{nope}.example.org", "{namespace}.x/path", ""]
)
def test_a_bad_template_is_refused_at_construction(template: str) -> None:
    with pytest.raises(ValueError, match="endpoint template"):
        ServiceBusExecutor(endpoint_template=template)


def test_template_comes_from_the_environment() -> None:
    executor = ServiceBusExecutor.from_environment({ENDPOINT_VARIABLE: "amqp://{namespace}:5672"})
    assert executor._template == "amqp://{namespace}:5672"
    assert ServiceBusExecutor.from_environment({})._template == DEFAULT_ENDPOINT_TEMPLATE


# -- the SAS token ----------------------------------------------------------------------

RESOURCE = "sb://ns1.servicebus.windows.net/orders"
EXPIRY = 1_700_000_000
# printf 'sb%3A%2F%2Fns1.servicebus.windows.net%2Forders\n1700000000' \
#   | openssl dgst -sha256 -hmac 'c2VjcmV0LWtleS1mb3ItdGVzdHM=' -binary | base64
OPENSSL_SIGNATURE = "IQv967461HiVuALdzGhKt3LBmr/+Q++buwRYyRV2PG4="


def test_sas_token_matches_a_vector_computed_with_openssl() -> None:
    assert sas_token(RESOURCE, KEY_NAME, KEY, EXPIRY) == (
        "SharedAccessSignature sr=sb%3A%2F%2Fns1.servicebus.windows.net%2Forders"
        "&sig=IQv967461HiVuALdzGhKt3LBmr%2F%2BQ%2B%2BbuwRYyRV2PG4%3D"
        "&se=1700000000&skn=RootManageSharedAccessKey"
    )


def test_sas_token_matches_hmac_computed_here() -> None:
    signed = f"{quote_plus(RESOURCE)}\n{EXPIRY}".encode()
    digest = hmac.new(KEY.encode(), signed, hashlib.sha256).digest()
    fields = parse_qs(
        sas_token(RESOURCE, KEY_NAME, KEY, EXPIRY).removeprefix("SharedAccessSignature ")
    )
    assert fields == {
        "sr": [RESOURCE],
        "sig": [base64.b64encode(digest).decode()],
        "se": [str(EXPIRY)],
        "skn": [KEY_NAME],
    }
    assert fields["sig"] == [OPENSSL_SIGNATURE]


@pytest.mark.parametrize(
    ("resource", "key_name", "key"),
    [
        (RESOURCE, KEY_NAME, KEY),
        ("sb://ns-2.servicebus.windows.net/events", "send-only", "k+/=ÿ"),
        ("sb://127.0.0.1:5672/a queue", "SendPolicy", "x" * 44),
    ],
)
def test_sas_token_equals_the_sdks_own_generator(resource: str, key_name: str, key: str) -> None:
    sdk = generate_sas_token(resource, key_name, key, EXPIRY)  # type: ignore[no-untyped-call]
    assert sas_token(resource, key_name, key, EXPIRY) == sdk


# -- sending through the SDK to the fake Service Bus -------------------------------------


def test_queue_message_is_sent_and_reported() -> None:
    bus = FakeServiceBus()
    result = send_to_fake(bus, payload("orders"))
    assert result == AttemptResult(
        True, "ServiceBusQueue Action - The message was sent to queue 'orders' in namespace 'ns1'"
    )
    assert [target.rsplit("/", 1)[-1] for target in bus.targets] == ["orders"]
    assert len(bus.messages) == 1
    assert bus.connections == 1


def test_topic_message_is_sent_and_reported() -> None:
    bus = FakeServiceBus()
    result = send_to_fake(bus, payload("events"), ActionType.SERVICE_BUS_TOPIC)
    assert result == AttemptResult(
        True, "ServiceBusTopic Action - The message was sent to topic 'events' in namespace 'ns1'"
    )
    assert [target.rsplit("/", 1)[-1] for target in bus.targets] == ["events"]


def test_what_reaches_the_broker_carries_every_property() -> None:
    bus = FakeServiceBus()
    custom = (("source", "scheduler"),)
    assert send_to_fake(bus, payload(properties=EVERY_PROPERTY, custom=custom)).succeeded
    [message] = bus.messages
    assert message.data == [b"tick"]
    properties = message.properties
    assert properties is not None
    assert (properties.message_id, properties.correlation_id) == (b"m1", b"corr-1")
    assert (properties.subject, properties.to, properties.reply_to) == (
        b"tick-label",
        b"somewhere",
        b"replies",
    )
    assert (properties.group_id, properties.reply_to_group_id) == (b"session-1", b"reply-session")
    assert properties.content_type == b"application/json"
    assert message.header is not None
    assert message.header.ttl == 3_600_000
    annotations = {_text(k): v for k, v in (message.message_annotations or {}).items()}
    assert annotations["x-opt-partition-key"] == b"session-1"
    assert annotations["x-opt-via-partition-key"] == b"via-1"
    enqueue = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert annotations["x-opt-scheduled-enqueue-time"] == int(enqueue.timestamp() * 1000)
    application = {_text(k): _text(v) for k, v in (message.application_properties or {}).items()}
    assert application == {"source": "scheduler", **METADATA}


def test_the_sas_token_on_the_wire_is_the_one_sas_token_computes() -> None:
    bus = FakeServiceBus()
    assert send_to_fake(bus, payload("orders")).succeeded
    [request] = bus.tokens
    audience = entity_uri(resolve_endpoint(f"amqp://127.0.0.1:{bus.port}", "ns1"), "orders")
    assert request["operation"] == "put-token"
    assert request["name"] == audience
    expiry = int(parse_qs(request["token"])["se"][0])
    assert request["token"] == sas_token(audience, KEY_NAME, KEY, expiry)


def test_missing_entity_fails_with_the_brokers_reason() -> None:
    result = send_to_fake(FakeServiceBus(), payload("nope"))
    assert not result.succeeded
    assert result.message.startswith(
        "ServiceBusQueue Action - Sending to namespace 'ns1' failed: The messaging entity "
    )
    assert "/nope' could not be found" in result.message


def test_rejected_token_fails_without_showing_the_key() -> None:
    bus = FakeServiceBus(token_status=401)
    result = send_to_fake(bus, payload("orders"))
    assert not result.succeeded
    assert result.message == (
        "ServiceBusQueue Action - Sending to namespace 'ns1' failed: "
        "CBS Token authentication failed. Status code: 401 Description: fake"
    )
    assert KEY not in result.message
    assert bus.messages == []


def test_rejected_message_fails() -> None:
    result = send_to_fake(FakeServiceBus(reject_messages=True), payload("orders"))
    assert not result.succeeded
    assert "refused here" in result.message


# -- failures without a broker -----------------------------------------------------------


@pytest.mark.parametrize("scheme", ["", "amqp://"], ids=["tls", "plain"])
def test_refused_connection_fails_fast_with_a_clear_message(scheme: str) -> None:
    port = closed_port()
    executor = ServiceBusExecutor(endpoint_template=f"{scheme}127.0.0.1:{port}", timeout=3)
    started = time.monotonic()
    result = execute(executor, payload())
    assert time.monotonic() - started < 2  # the SDK's own retries would take 5.6 s
    assert not result.succeeded
    assert result.message.startswith(
        f"ServiceBusQueue Action - Sending to namespace 'ns1' failed: "
        f"connection to '127.0.0.1:{port}' failed: "
    )
    assert "Connect call failed" in result.message


def test_unresolvable_host_fails_fast_with_a_clear_message() -> None:
    executor = ServiceBusExecutor(endpoint_template="{namespace}.invalid", timeout=3)
    started = time.monotonic()
    result = execute(executor, payload())
    assert time.monotonic() - started < 3.5
    assert not result.succeeded
    assert result.message.startswith(
        "ServiceBusQueue Action - Sending to namespace 'ns1' failed: "
        "connection to 'ns1.invalid:5671' failed: "
    )


def test_sdk_makes_one_connection_per_attempt() -> None:
    seen: list[int] = []

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(1)
        writer.close()

    async def main() -> AttemptResult:
        async with serving(hang_up) as port:
            executor = ServiceBusExecutor(endpoint_template=f"amqp://127.0.0.1:{port}", timeout=3)
            return await executor.execute(
                Invocation(ActionType.SERVICE_BUS_QUEUE, payload()), CONTEXT
            )

    result = asyncio.run(main())
    assert not result.succeeded
    assert "connection to '127.0.0.1:" in result.message
    assert len(seen) == 1


@pytest.mark.parametrize(
    "scheme",
    [
        pytest.param("", id="tls"),
        # Without TLS the SDK abandons its socket when an open is cut short (with its own
        # try_timeout as well); CPython closes it as soon as the client is dropped, with a
        # ResourceWarning. Only the emulator's amqp:// endpoints take this path.
        pytest.param(
            "amqp://",
            id="plain",
            marks=[
                pytest.mark.filterwarnings("ignore::ResourceWarning"),
                pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
            ],
        ),
    ],
)
def test_silent_peer_times_out_after_the_configured_limit(scheme: str) -> None:
    hung_up = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; returns when the client closes its end
        hung_up.set()
        writer.close()

    async def main() -> AttemptResult:
        async with serving(silent) as port:
            template = f"{scheme}127.0.0.1:{port}"
            executor = ServiceBusExecutor(endpoint_template=template, timeout=0.5)
            result = await executor.execute(
                Invocation(ActionType.SERVICE_BUS_QUEUE, payload()), CONTEXT
            )
            # The abandoned attempt leaves no connection open behind it.
            await asyncio.wait_for(hung_up.wait(), 2)
            return result

    started = time.monotonic()
    result = asyncio.run(main())
    assert time.monotonic() - started < 3
    assert result == AttemptResult(
        False,
        "ServiceBusQueue Action - Sending to namespace 'ns1' failed: "
        "the send timed out after 0.5 seconds",
    )


@pytest.mark.parametrize(
    "authentication",
    [
        ServiceBusAuthentication(None, Secret(KEY)),
        ServiceBusAuthentication(KEY_NAME, None),
    ],
    ids=["no-key-name", "no-key"],
)
def test_missing_credentials_fail_without_connecting(
    authentication: ServiceBusAuthentication,
) -> None:
    bus = FakeServiceBus()
    result = send_to_fake(bus, payload(authentication=authentication))
    assert result == AttemptResult(
        False,
        "ServiceBusQueue Action - Sending to namespace 'ns1' failed: SharedAccessKey "
        "authentication with a sasKeyName and a sasKey is required",
    )
    assert bus.connections == 0


def test_no_authentication_at_all_fails() -> None:
    message = ServiceBusMessage(namespace="ns1", entity="orders", message="tick")
    result = execute(ServiceBusExecutor(), message)
    assert not result.succeeded
    assert "SharedAccessKey authentication" in result.message


def test_invalid_namespace_or_properties_fail_the_attempt() -> None:
    executor = ServiceBusExecutor(endpoint_template=f"127.0.0.1:{closed_port()}")
    bad_namespace = execute(executor, payload(namespace="x@evil"))
    assert bad_namespace == AttemptResult(
        False,
        "ServiceBusQueue Action - Sending to namespace 'x@evil' failed: "
        "'x@evil' is not a valid namespace name",
    )
    properties = BrokeredMessageProperties(session_id="a", partition_key="b")
    bad_properties = execute(executor, payload(properties=properties))
    assert not bad_properties.succeeded
    assert "partition_key:b cannot be set to a different value than session_id:a" in (
        bad_properties.message
    )


def test_a_non_service_bus_action_is_a_programming_error() -> None:
    request = HttpRequest(uri="http://127.0.0.1/", method=HttpMethod.GET)
    with pytest.raises(TypeError, match="cannot run a Http action"):
        run(ServiceBusExecutor().execute(Invocation(ActionType.HTTP, request), CONTEXT))


# -- secrets ------------------------------------------------------------------------------


def test_the_key_and_signature_never_reach_messages_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's included
    accepted, refused = FakeServiceBus(), FakeServiceBus(token_status=401)
    results = [
        send_to_fake(accepted, payload()),
        send_to_fake(refused, payload()),
        execute(ServiceBusExecutor(endpoint_template=f"127.0.0.1:{closed_port()}"), payload()),
    ]
    assert [result.succeeded for result in results] == [True, False, False]
    signatures = [parse_qs(bus.tokens[0]["token"])["sig"][0] for bus in (accepted, refused)]
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "service_bus_action.attempt" in logged
    for secret in (KEY, *signatures, *map(quote_plus, signatures)):
        assert secret not in logged
        assert all(secret not in result.message for result in results)


# -- retries: the engine tries a failing Service Bus action again ---------------------------


@pytest.fixture
def bus_system(tmp_path: Path) -> Iterator[tuple[System, int]]:
    loop = asyncio.new_event_loop()
    clock = FakeClock(T0)
    store = SqlStore(f"sqlite:///{tmp_path / 'jobclock.db'}")
    loop.run_until_complete(store.create_schema())
    service = SchedulerService(
        store, FernetSecretBox(Fernet.generate_key()), clock, wake=lambda: None
    )
    port = closed_port()
    executor = ServiceBusExecutor(endpoint_template=f"127.0.0.1:{port}", timeout=3)
    executors = {ActionType.SERVICE_BUS_QUEUE: executor, ActionType.SERVICE_BUS_TOPIC: executor}
    engine = Engine(store, service.codec, executors, clock, EngineSettings(region="Test Region"))
    yield System(clock, store, service, engine, RecordingExecutor(), loop), port
    loop.run_until_complete(store.close())
    loop.close()


def test_unreachable_namespace_fails_then_is_retried(bus_system: tuple[System, int]) -> None:
    system, port = bus_system
    system.collection()
    ref = system.job(
        "bus",
        {
            "startTime": "2024-01-01T00:00:00Z",
            "action": {
                "type": "ServiceBusQueue",
                "serviceBusQueueMessage": {
                    "namespace": "ns1",
                    "queueName": "orders",
                    "transportType": "AMQP",
                    "authentication": {
                        "type": "SharedAccessKey",
                        "sasKeyName": KEY_NAME,
                        "sasKey": KEY,
                    },
                    "message": "tick",
                },
                "retryPolicy": {"retryType": "Fixed", "retryInterval": "PT30S", "retryCount": 2},
            },
        },
    )
    for seconds in (0, 30, 60):
        system.at(T0 + timedelta(seconds=seconds))
    history = system.history(ref)
    assert [entry.status for entry in history] == [HistoryStatus.FAILED] * 3
    assert [entry.retry_count for entry in history] == [0, 1, 2]
    for entry in history:
        assert entry.message.startswith(
            f"ServiceBusQueue Action - Sending to namespace 'ns1' failed: "
            f"connection to '127.0.0.1:{port}' failed: "
        )
        assert KEY not in entry.message
    status = system.status(ref).status
    assert (status.execution_count, status.failure_count, status.faulted_count) == (3, 3, 1)
