"""jobclock's ``Amqp`` action: one publish to an AMQP 0-9-1 broker (RabbitMQ), over aio-pika.

A topic exchange is the counterpart of a Service Bus topic, the default exchange (``""``,
the routing key names the queue) that of a Service Bus or Storage queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import aio_pika
import pamqp.exceptions
from aio_pika.abc import AbstractChannel, AbstractConnection, HeadersType
from aio_pika.exceptions import (
    AMQPError,
    ChannelInvalidStateError,
    ConnectionClosed,
    DeliveryError,
    InvalidFrameError,
    ProbableAuthenticationError,
    PublishError,
)

from jobclock.actions.attempts import finish, scheduler_metadata
from jobclock.clock import SystemClock
from jobclock.domain.actions import ActionType, AmqpMessage
from jobclock.domain.execution import AttemptContext, AttemptResult, Invocation
from jobclock.ports import Clock

DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_IDLE_SECONDS = 300.0
_CLOSE_TIMEOUT_SECONDS = 5.0
# A password this short would turn ordinary words of a message into "***" (as for Http).
_MIN_REDACTED_LENGTH = 4
# What a failed attempt can raise short of a programming error: broker and channel errors,
# socket errors, a name or header pamqp cannot encode, a channel closed under our feet.
_TARGET_ERRORS = (
    AMQPError,
    OSError,
    ValueError,
    ChannelInvalidStateError,
    pamqp.exceptions.PAMQPException,
)

_log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Link:
    """One open connection (for one URL with its credentials) and its channels by exchange."""

    connection: AbstractConnection
    last_used: datetime
    channels: dict[str, AbstractChannel] = field(default_factory=dict)
    users: int = 0


class AmqpExecutor:
    """Runs ``Amqp`` actions: publishes one message with publisher confirms.

    Connections are kept, one per URL with its credentials, and reused by later attempts.
    A connection found closed (broker restart, network loss, heartbeat timeout) is replaced
    by a new one on the next attempt; the attempt that saw it drop fails and the engine's
    retry policy decides what follows. Plain connections are used rather than aio-pika's
    robust ones: a robust connection retries in the background forever, even for a broker
    no job uses any more, and makes a publish wait for the reconnection instead of failing.
    A connection unused for ``idle_seconds`` is closed at the next attempt (of any job), so
    edited or deleted jobs leave none behind.

    Each connection has one confirming channel per exchange. A channel-level error (a
    missing exchange, a refused permission, an oversized message) closes only the channel
    of that exchange, so it cannot fail concurrent publishes to other exchanges; the next
    attempt opens a new one.

    Messages are published ``mandatory``: a message no queue receives is returned by the
    broker and the attempt fails. A scheduled message silently dropped would look like a
    success in the job history while nobody got it.

    ``timeout`` bounds the whole attempt (connect, open the channel, publish, confirm), 60 s
    as for Http. One executor serves one event loop. Follows the ``ActionExecutor``
    contract: every failure of the broker becomes ``AttemptResult(succeeded=False)``, and
    the password never reaches a message or a log record.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        connection_name: str = "jobclock",
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if idle_seconds <= 0:
            raise ValueError(f"idle_seconds must be positive, got {idle_seconds}")
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._timeout = timeout
        self._idle = timedelta(seconds=idle_seconds)
        self._connection_name = connection_name
        self._links: dict[str, _Link] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def execute(self, invocation: Invocation, context: AttemptContext) -> AttemptResult:
        message = invocation.payload
        if invocation.type is not ActionType.AMQP or not isinstance(message, AmqpMessage):
            raise TypeError(f"AmqpExecutor cannot run a {invocation.type.value} action")
        self._close_idle()
        host = _host(message.url)
        try:
            async with asyncio.timeout(context.seconds(self._timeout)):
                await self._publish(message, context)
        except TimeoutError:
            reason = f"the broker did not confirm within {context.seconds(self._timeout):g} seconds"
            return finish(
                _log,
                "amqp_action.attempt",
                context,
                False,
                _failed(host, reason),
                "timeout",
                host=host,
            )
        except _TARGET_ERRORS as error:
            reason = _scrub(_describe(error, message), _secrets_of(message))
            return finish(
                _log, "amqp_action.attempt", context, False, _failed(host, reason), error, host=host
            )
        exchange = message.exchange or "(default)"
        text = (
            f"Amqp Action - The message was published to exchange '{exchange}' "
            f"with routing key '{message.routing_key}' on host '{host}'"
        )
        return finish(_log, "amqp_action.attempt", context, True, text, None, host=host)

    async def aclose(self) -> None:
        """Close every connection; a later ``execute`` opens new ones."""
        links = list(self._links.values())
        self._links.clear()
        self._locks.clear()
        await asyncio.gather(
            *(_close_quietly(link.connection) for link in links),
            *self._closing,
            return_exceptions=True,
        )

    async def _publish(self, message: AmqpMessage, context: AttemptContext) -> None:
        link, channel = await self._channel(_connection_url(message), message.exchange)
        try:
            if message.exchange:
                # ensure=False: no passive declare round trip; a missing exchange makes the
                # publish fail with NOT_FOUND, which closes this exchange's channel only.
                exchange = await channel.get_exchange(message.exchange, ensure=False)
            else:
                exchange = channel.default_exchange
            # on_return_raises: an unroutable message raises PublishError (mandatory=True).
            await exchange.publish(
                self._message(message, context), message.routing_key, mandatory=True
            )
        finally:
            link.users -= 1
            link.last_used = self._clock.now()

    async def _channel(self, key: str, exchange: str) -> tuple[_Link, AbstractChannel]:
        """The open connection for ``key`` and its channel for ``exchange``, (re)opened as
        needed; the link is counted as in use until the caller gives it back."""
        async with self._locks.setdefault(key, asyncio.Lock()):
            link = self._links.get(key)
            if link is None or link.connection.is_closed:
                connection = await aio_pika.connect(
                    key, client_properties={"connection_name": self._connection_name}
                )
                link = self._links[key] = _Link(connection, last_used=self._clock.now())
            channel = link.channels.get(exchange)
            if channel is None or channel.is_closed:
                channel = await link.connection.channel(
                    publisher_confirms=True, on_return_raises=True
                )
                link.channels[exchange] = channel
            link.users += 1
            return link, channel

    def _message(self, message: AmqpMessage, context: AttemptContext) -> aio_pika.Message:
        # The scheduler's metadata wins over a user header of the same name.
        headers: HeadersType = {**dict(message.headers), **scheduler_metadata(context)}
        persistent = aio_pika.DeliveryMode.PERSISTENT
        transient = aio_pika.DeliveryMode.NOT_PERSISTENT
        return aio_pika.Message(
            body=(message.message or "").encode(),
            content_type=message.content_type,
            delivery_mode=persistent if message.persistent else transient,
            headers=headers,
            # aiormq matches a returned message to its publish by message id: unique per attempt.
            message_id=context.request_id,
            correlation_id=context.execution_tag,
            timestamp=self._clock.now(),
            app_id="jobclock",
        )

    def _close_idle(self) -> None:
        """Close, in the background, connections no attempt has used for ``idle_seconds``."""
        limit = self._clock.now() - self._idle
        for key, link in list(self._links.items()):
            if link.users == 0 and link.last_used < limit:
                del self._links[key]
                lock = self._locks.get(key)
                if lock is not None and not lock.locked():
                    del self._locks[key]
                task = asyncio.create_task(_close_quietly(link.connection))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)


def _connection_url(message: AmqpMessage) -> str:
    """``message.url`` with the secret password put back, URL-quoted (it may hold ``@:/%``).

    The codec keeps the username as written in the URL (still percent-encoded), so it goes
    back unchanged; an empty username makes aio-pika log in as ``guest``.
    """
    if message.password is None:
        return message.url
    parts = urlsplit(message.url)
    user, _, address = parts.netloc.rpartition("@")
    user = user.partition(":")[0]
    netloc = f"{user}:{quote(message.password.reveal(), safe='')}@{address}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _secrets_of(message: AmqpMessage) -> list[str]:
    if message.password is None:
        return []
    password = message.password.reveal()
    secrets = {password, quote(password, safe="")}
    return sorted(
        (secret for secret in secrets if len(secret) >= _MIN_REDACTED_LENGTH), key=len, reverse=True
    )


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _describe(error: BaseException, message: AmqpMessage) -> str:
    exchange = f"'{message.exchange}'" if message.exchange else "(default)"
    route = f"exchange {exchange} with routing key '{message.routing_key}'"
    if isinstance(error, PublishError):
        return f"the message could not be routed to any queue (NO_ROUTE): {route}"
    if isinstance(error, DeliveryError):
        return f"the broker rejected the message ({error.frame.name}): {route}"
    if isinstance(error, ProbableAuthenticationError):
        return f"the broker refused the login: {_text(error)}"
    if isinstance(error, InvalidFrameError) and "Connection.Close" in _text(error):
        # RabbitMQ ends the handshake like this for an unknown virtual host or one the user
        # may not use; aiormq loses the broker's own words.
        vhost = unquote(urlsplit(message.url).path[1:]) or "/"
        return (
            "the broker closed the connection while opening it; check that the virtual host "
            f"'{vhost}' exists and that the user may use it"
        )
    if isinstance(error, ConnectionClosed):
        return f"the broker closed the connection: {_text(error)}"
    if isinstance(error, ChannelInvalidStateError):
        return f"the channel was closed: {_text(error)}"
    return _text(error)


def _text(error: BaseException) -> str:
    """The error's own words. aiormq keeps them in ``args`` (a ``(code, text)`` pair for a
    closed connection), where ``str`` would show a tuple or an ``[Errno 320]``."""
    if isinstance(error, ConnectionClosed) and len(error.args) == 2:
        code, text = error.args
        return f"{text} ({code})"
    if isinstance(error, AMQPError) and not isinstance(error, OSError) and error.args:
        return " ".join(str(arg) for arg in error.args)
    return str(error) or type(error).__name__


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


def _failed(host: str, reason: str) -> str:
    return f"Amqp Action - Publishing to host '{host}' failed: {reason}"


async def _close_quietly(connection: AbstractConnection) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_CLOSE_TIMEOUT_SECONDS):
            await connection.close()
