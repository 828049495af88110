"""AmqpExecutor against the real RabbitMQ on 127.0.0.1:5672 (our ``Amqp`` action, §7).

Without a broker the broker tests skip, unless ``JOBCLOCK_REQUIRE_SERVICES=1`` makes that a
failure. The tests that need no broker (closed port, silent peer, URL building) always run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pamqp.common import FieldTable
from yarl import URL

from jobclock.actions.amqp import AmqpExecutor, _connection_url
from jobclock.domain.actions import ActionType, AmqpMessage, HttpMethod, HttpRequest
from jobclock.domain.execution import AttemptContext, AttemptResult, Invocation
from jobclock.domain.secret import Secret
from jobclock.testing import FakeClock
from tests.actions.attempt_context import attempt_context

BROKER = ("127.0.0.1", 5672)
BROKER_URL = "amqp://guest@127.0.0.1:5672/"
GUEST = Secret("guest")
NOW = datetime(2015, 9, 10, 0, 0, 7, tzinfo=UTC)
CONTEXT = attempt_context()
WRONG_PASSWORD = "n0t-the-Gu3st-password"  # noqa: S105 - a test credential
T = TypeVar("T")


def _reachable() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def broker() -> None:
    if _reachable():
        return
    reason = "RabbitMQ is not reachable on 127.0.0.1:5672"
    if os.environ.get("JOBCLOCK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} and JOBCLOCK_REQUIRE_SERVICES=1")
    pytest.skip(f"{reason} (set JOBCLOCK_REQUIRE_SERVICES=1 to fail instead)")


def amqp(**fields: object) -> AmqpMessage:
    defaults: dict[str, object] = {"url": BROKER_URL, "password": GUEST}
    return AmqpMessage(**(defaults | fields))  # type: ignore[arg-type]


def unique(prefix: str) -> str:
    return f"jobclock-test-{prefix}-{uuid.uuid4().hex[:10]}"


def context(number: int) -> AttemptContext:
    return replace(CONTEXT, execution_tag=f"{number:032x}", request_id=str(uuid.uuid4()))


async def publish(
    executor: AmqpExecutor, message: AmqpMessage, attempt: AttemptContext = CONTEXT
) -> AttemptResult:
    return await executor.execute(Invocation(ActionType.AMQP, message), attempt)


def with_broker(scenario: Callable[[AbstractChannel, AmqpExecutor], Awaitable[T]]) -> T:
    """Run ``scenario`` with a test-side channel (to declare and consume) and an executor."""

    async def run() -> T:
        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        executor = AmqpExecutor(clock=FakeClock(NOW))
        try:
            return await scenario(await connection.channel(), executor)
        finally:
            await executor.aclose()
            await connection.close()

    return asyncio.run(run())


async def received(queue: AbstractQueue) -> AbstractIncomingMessage:
    # A confirmed publish is already enqueued; the loop only absorbs scheduling jitter.
    for _ in range(50):
        message = await queue.get(no_ack=True, fail=False)
        if message is not None:
            return message
        await asyncio.sleep(0.02)
    raise AssertionError(f"nothing arrived in {queue.name}")


async def queue_for(channel: AbstractChannel, arguments: FieldTable | None = None) -> AbstractQueue:
    return await channel.declare_queue(unique("queue"), exclusive=True, arguments=arguments)


@pytest.mark.usefixtures("broker")
def test_message_arrives_with_body_properties_and_scheduler_headers() -> None:
    async def scenario(channel: AbstractChannel, executor: AmqpExecutor) -> None:
        queue = await queue_for(channel)
        message = amqp(
            routing_key=queue.name,
            message='{"name": "Zoë"}',
            content_type="application/json",
            headers=(("X-Custom-Header", "Value One"), ("x-ms-execution-tag", "forged")),
        )

        result = await publish(executor, message)

        assert result == AttemptResult(
            succeeded=True,
            message=(
                "Amqp Action - The message was published to exchange '(default)' with routing "
                f"key '{queue.name}' on host '127.0.0.1'"
            ),
        )
        got = await received(queue)
        assert got.body == '{"name": "Zoë"}'.encode()
        assert got.content_type == "application/json"
        assert got.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert got.message_id == CONTEXT.request_id
        assert got.correlation_id == CONTEXT.execution_tag
        assert got.timestamp == NOW  # from the executor's clock
        assert got.app_id == "jobclock"
        assert got.headers == {
            "X-Custom-Header": "Value One",
            "x-ms-execution-tag": "c3b168c6a2f1f8d4f9b4a3e2c1d0e9f8",
            "x-ms-client-request-id": "2fd3a5a7-31b5-4c2c-9b8e-3d1c6b6d3e7f",
            "x-ms-scheduler-expected-execution-time": "2015-09-10T00:00:00Z",
            "x-ms-scheduler-jobid": "job1",
            "x-ms-scheduler-jobcollectionid": "coll1",
            "x-ms-scheduler-execution-region": "West Europe",
        }

    with_broker(scenario)


@pytest.mark.usefixtures("broker")
def test_non_persistent_message_is_transient_and_may_be_empty() -> None:
    async def scenario(channel: AbstractChannel, executor: AmqpExecutor) -> None:
        queue = await queue_for(channel)

        result = await publish(executor, amqp(routing_key=queue.name, persistent=False))

        assert result.succeeded, result.message
        got = await received(queue)
        assert got.delivery_mode == aio_pika.DeliveryMode.NOT_PERSISTENT
        assert got.body == b""
        assert got.content_type is None

    with_broker(scenario)


@pytest.mark.usefixtures("broker")
def test_topic_exchange_delivers_by_binding_pattern() -> None:
    async def scenario(channel: AbstractChannel, executor: AmqpExecutor) -> None:
        topic = await channel.declare_exchange(unique("topic"), aio_pika.ExchangeType.TOPIC)
        queue = await queue_for(channel)
        await queue.bind(topic, routing_key="jobs.#")
        try:
            result = await publish(
                executor, amqp(exchange=topic.name, routing_key="jobs.daily", message="tick")
            )
        finally:
            await topic.delete()

        assert result.message == (
            f"Amqp Action - The message was published to exchange '{topic.name}' with "
            "routing key 'jobs.daily' on host '127.0.0.1'"
        )
        got = await received(queue)
        assert got.body == b"tick"
        assert got.routing_key == "jobs.daily"

    with_broker(scenario)


@pytest.mark.usefixtures("broker")
def test_wrong_password_fails_without_showing_it(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(channel: AbstractChannel, executor: AmqpExecutor) -> AttemptResult:
        return await publish(executor, amqp(password=Secret(WRONG_PASSWORD), routing_key="q"))

    with caplog.at_level(logging.DEBUG):
        result = with_broker(scenario)

    assert not result.succeeded
    assert result.message.startswith(
        "Amqp Action - Publishing to host '127.0.0.1' failed: the broker refused the login: "
        "ACCESS_REFUSED"
    )
    assert WRONG_PASSWORD not in result.message
    assert caplog.records, "the attempt is logged"
    assert not [r for r in caplog.records if WRONG_PASSWORD in r.getMessage() + repr(r.__dict__)]


def test_an_error_that_echoes_the_url_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "p@ss word/" + WRONG_PASSWORD

    async def echoing_connect(url: str, **_: object) -> None:
        raise OSError(f"cannot connect to {url} ({password})")

    monkeypatch.setattr(aio_pika, "connect", echoing_connect)
    message = amqp(password=Secret(password), routing_key="q")

    result = asyncio.run(AmqpExecutor().execute(Invocation(ActionType.AMQP, message), CONTEXT))

    assert result == AttemptResult(
        succeeded=False,
        message=(
            "Amqp Action - Publishing to host '127.0.0.1' failed: "
            "cannot connect to amqp://guest:***@127.0.0.1:5672/ (***)"
        ),
    )


@pytest.mark.usefixtures("broker")
def test_missing_exchange_fails_and_spoils_nothing_else() -> None:
    async def scenario(channel: AbstractChannel, executor: AmqpExecutor) -> None:
        queue = await queue_for(channel)
        missing = amqp(exchange=unique("missing"), routing_key="k")

        first = await publish(executor, missing)
        other = await publish(executor, amqp(routing_key=queue.name, message="still fine"))
        again = await publish(executor, missing)

        expected = (
            "Amqp Action - Publishing to host '127.0.0.1' failed: "
            f"NOT_FOUND - no exchange '{missing.exchange}' in vhost '/'"
        )
        assert first == AttemptResult(succeeded=False, message=expected)
        assert again == first
        assert other.succeeded, other.message
        assert (await received(queue)).body == b"still fine"

    with_broker(scenario)


@pytest.mark.usefixtures("broker")
def test_unroutable_message_fails_because_it_is_mandatory() -> None:
    async def scenario(channel: AbstractChannel, executor: AmqpExecutor) -> None:
        topic = await channel.declare_exchange(unique("lonely"), aio_pika.ExchangeType.TOPIC)
        try:
            to_topic = await publish(executor, amqp(exchange=topic.name, routing_key="jobs.daily"))
        finally:
            await topic.delete()
        to_queue = await publish(executor, amqp(routing_key=unique("no-such-queue")))

        assert not to_topic.succeeded
        assert to_topic.message == (
            "Amqp Action - Publishing to host '127.0.0.1' failed: the message could not be "
            f"routed to any queue (NO_ROUTE): exchange '{topic.name}' with routing key "
            "'jobs.daily'"
        )
        assert not to_queue.succeeded
        assert "(NO_ROUTE): exchange (default) with routing key 'jobclock-test-" in (
            to_queue.message
        )

    with_broker(scenario)


@pytest.mark.usefixtures("broker")
def test_message_the_broker_nacks_fails() -> None:
    async def scenario(channel: AbstractChannel, executor: AmqpExecutor) -> AttemptResult:
        # A full queue that rejects new publishes makes RabbitMQ answer Basic.Nack.
        queue = await queue_for(channel, {"x-max-length": 0, "x-overflow": "reject-publish"})
        return await publish(executor, amqp(routing_key=queue.name))

    result = with_broker(scenario)

    assert not result.succeeded
    assert result.message.startswith(
        "Amqp Action - Publishing to host '127.0.0.1' failed: the broker rejected the message "
        "(Basic.Nack): exchange (default) with routing key 'jobclock-test-queue-"
    )


@pytest.mark.usefixtures("broker")
def test_unknown_virtual_host_fails() -> None:
    async def scenario(channel: AbstractChannel, executor: AmqpExecutor) -> AttemptResult:
        url = "amqp://guest@127.0.0.1:5672/jobclock-no-such-vhost"
        return await publish(executor, amqp(url=url, routing_key="q"))

    result = with_broker(scenario)

    assert result == AttemptResult(
        succeeded=False,
        message=(
            "Amqp Action - Publishing to host '127.0.0.1' failed: the broker closed the "
            "connection while opening it; check that the virtual host 'jobclock-no-such-vhost' "
            "exists and that the user may use it"
        ),
    )


@pytest.mark.usefixtures("broker")
def test_one_connection_serves_concurrent_attempts() -> None:
    async def scenario(channel: AbstractChannel, executor: AmqpExecutor) -> None:
        queue = await queue_for(channel)
        message = amqp(routing_key=queue.name)

        results = await asyncio.gather(*(publish(executor, message, context(n)) for n in range(20)))

        assert all(result.succeeded for result in results)
        (link,) = executor._links.values()
        assert list(link.channels) == [""]
        tags = {(await received(queue)).correlation_id for _ in range(20)}
        assert tags == {f"{n:032x}" for n in range(20)}

    with_broker(scenario)


@pytest.mark.usefixtures("broker")
def test_a_dropped_connection_is_replaced_on_the_next_attempt() -> None:
    async def scenario(channel: AbstractChannel, executor: AmqpExecutor) -> None:
        queue = await queue_for(channel)
        message = amqp(routing_key=queue.name)
        assert (await publish(executor, message)).succeeded
        (link,) = executor._links.values()
        await link.connection.close()  # as a broker restart would

        result = await publish(executor, message)

        assert result.succeeded, result.message
        (new_link,) = executor._links.values()
        assert new_link is not link
        assert not new_link.connection.is_closed

    with_broker(scenario)


@pytest.mark.usefixtures("broker")
def test_idle_connections_are_closed_and_aclose_closes_the_rest() -> None:
    async def run() -> None:
        clock = FakeClock(NOW)
        executor = AmqpExecutor(clock=clock, idle_seconds=60)
        other_user = amqp(url="amqp://127.0.0.1:5672/", routing_key="nowhere")
        await publish(executor, amqp(routing_key="nowhere"))
        (idle,) = executor._links.values()
        clock.advance(timedelta(seconds=61))

        await publish(executor, other_user)
        await asyncio.sleep(0.2)  # the idle one closes in the background

        assert idle.connection.is_closed
        (active,) = executor._links.values()
        await executor.aclose()
        assert active.connection.is_closed
        assert executor._links == {}

    asyncio.run(run())


def test_closed_port_fails_quickly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    message = amqp(url=f"amqp://guest@127.0.0.1:{closed_port}/", routing_key="q")

    async def run() -> AttemptResult:
        executor = AmqpExecutor()
        try:
            return await publish(executor, message)
        finally:
            await executor.aclose()

    started = time.monotonic()
    result = asyncio.run(run())

    assert time.monotonic() - started < 5
    assert not result.succeeded
    assert result.message.startswith("Amqp Action - Publishing to host '127.0.0.1' failed: ")
    assert "Connect call failed" in result.message


def test_silent_peer_times_out_with_the_configured_limit() -> None:
    async def run() -> AttemptResult:
        async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()
            writer.close()

        server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        executor = AmqpExecutor(timeout=0.5)
        try:
            return await publish(executor, amqp(url=f"amqp://guest@127.0.0.1:{port}/"))
        finally:
            await executor.aclose()
            server.close()

    result = asyncio.run(run())

    assert result == AttemptResult(
        succeeded=False,
        message=(
            "Amqp Action - Publishing to host '127.0.0.1' failed: "
            "the broker did not confirm within 0.5 seconds"
        ),
    )


@pytest.mark.parametrize(
    ("url", "password", "expected"),
    [
        ("amqp://user@host:5672/vhost", "p@ss:w/rd%41 ?#", "amqp://user:p%40ss%3Aw%2Frd%2541%20%3F%23@host:5672/vhost"),
        ("amqps://host/", "secret", "amqps://:secret@host/"),
        ("amqp://us%40er@[::1]:5672/%2F?heartbeat=30", "pw", "amqp://us%40er:pw@[::1]:5672/%2F?heartbeat=30"),
        ("amqp://user@host/", None, "amqp://user@host/"),
    ],
    ids=["special-characters", "no-username", "ipv6-and-query", "no-password"],
)  # fmt: skip
def test_connection_url_puts_the_password_back_quoted(
    url: str, password: str | None, expected: str
) -> None:
    message = AmqpMessage(url=url, password=None if password is None else Secret(password))

    built = _connection_url(message)

    assert built == expected
    assert URL(built).password == password


def test_other_action_types_are_a_programming_error() -> None:
    invocation = Invocation(ActionType.HTTP, HttpRequest("http://x/", HttpMethod.GET))

    with pytest.raises(TypeError, match="AmqpExecutor cannot run a Http action"):
        asyncio.run(AmqpExecutor().execute(invocation, CONTEXT))
