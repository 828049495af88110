"""A lean HTTP/1.1 client for the HTTP action's plain requests.

aiohttp costs about 90 µs of CPU per request; under load that was the largest share of a
node's time per fire (``bench/ha.py``). This module sends the *same bytes* aiohttp would
send (request line, headers in aiohttp's order with its ``Accept``, ``Accept-Encoding``
and ``User-Agent``, ``Content-Length`` and ``Content-Type`` rules) over pooled keep-alive
connections, and reads the response with the same framing (``Content-Length``, chunked,
to the end of the connection) and decoding (gzip, deflate).

It only takes requests it can send exactly as aiohttp would: :meth:`WireClient.plan`
returns ``None`` for anything else (``https``, whose failures aiohttp reports in detail; a
URL that aiohttp would requote or normalise, user information, IPv6 or international
hosts; headers that aiohttp treats specially or that it would refuse; a connection cap),
and :meth:`WireClient.send` returns ``None`` when it could
not connect. Both happen before a byte is sent, so the caller can hand the request to
aiohttp unchanged, which then reports its usual errors. Redirects are the caller's too.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.client_reqrep import ClientRequest
from aiohttp.http import SERVER_SOFTWARE

_DEFAULT_HEADERS: dict[str, str] = {
    str(name): value for name, value in ClientRequest.DEFAULT_HEADERS.items()
}
_DECODABLE = {"gzip", "deflate"}
# Only what aiohttp (yarl) sends unchanged: no spaces, no non-ASCII, no fragment, and
# percent signs only as escapes.
_URL = re.compile(
    r"http://(?P<host>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<target>/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*)?"
)
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|$|\?)")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Headers aiohttp computes or treats specially: a request that sets one goes to aiohttp.
_SPECIAL = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "content-encoding",
        "expect",
        "cookie",
        "accept",
        "accept-encoding",
        "user-agent",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
    }
)
_NO_BODY_STATUSES = frozenset({204, 304})
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Plan:
    """A request this client can send: its origin and its bytes."""

    host: str
    port: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """A response: status, reason, headers as received (names as sent, in order), and at
    most the reader's limit of the (decoded) body."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def charset(self) -> str | None:
        content_type = self.header("Content-Type") or ""
        for parameter in content_type.split(";")[1:]:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "charset":
                return value.strip().strip('"') or None
        return None


Resolve = Callable[[str, int], Awaitable[list[tuple[socket.AddressFamily, str]]]]
_UNSEEN: Any = object()
_FIXED_LINES = [f"{name}: {value}" for name, value in _DEFAULT_HEADERS.items()] + [
    f"User-Agent: {SERVER_SOFTWARE}"
]


@functools.lru_cache(maxsize=4096)
def _token(name: str) -> bool:
    return _TOKEN.fullmatch(name) is not None


def _origin(uri: str) -> tuple[str, int, str, str] | None:
    """(host, port, Host header line, request target) of a URL aiohttp sends unchanged."""
    match = _URL.fullmatch(uri)
    if match is None:
        return None
    target = match["target"] or "/"
    if _DOT_SEGMENT.search(target.split("?", 1)[0]) or target.endswith("?"):
        return None
    port_text = match["port"]
    port = 80 if port_text is None else int(port_text)
    if port_text is not None and (port == 80 or port_text.startswith("0")):
        return None
    if not 0 < port < 65536:
        return None
    host = match["host"]
    if host.replace(".", "").isdigit() and not _canonical_ipv4(host):
        return None  # aiohttp refuses legacy numeric forms (2130706433, 127.1): it says so
    host_header = f"Host: {host}" if port_text is None else f"Host: {host}:{port}"
    return host, port, host_header, target


def _canonical_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


class WireClient:
    """Keep-alive connections per origin; one request at a time on each, and no cap on how
    many are open.

    With ``enabled=False`` :meth:`plan` takes no request; nor does it when aiohttp's default
    ``Accept-Encoding`` names an encoding this client cannot decode (``br`` with Brotli).

    ``resolve`` (the outbound guard's) gives the addresses a new connection may use, or
    raises to refuse the host; its refusal reaches the caller of :meth:`send`.
    """

    def __init__(self, *, enabled: bool = True, resolve: Resolve | None = None) -> None:
        self._resolve = resolve
        self._origins: dict[str, tuple[str, int, str, str] | None] = {}
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self.enabled = enabled and (
            set(part.strip() for part in _DEFAULT_HEADERS.get("Accept-Encoding", "").split(","))
            <= _DECODABLE
        )

    def plan(
        self, method: str, uri: str, headers: Sequence[tuple[str, str]], body: str | None
    ) -> Plan | None:
        """The request as aiohttp would send it, or ``None`` when only aiohttp should."""
        if not self.enabled:
            return None
        origin = self._origins.get(uri, _UNSEEN)
        if origin is _UNSEEN:
            if len(self._origins) >= 10_000:
                self._origins.clear()
            origin = self._origins[uri] = _origin(uri)
        if origin is None:
            return None
        host, port, host_header, target = origin
        seen: set[str] = set()
        lines = [f"{method} {target} HTTP/1.1", host_header]
        for name, value in headers:
            lowered = name.lower()
            if lowered in _SPECIAL or lowered in seen or not _token(name):
                return None
            if "\r" in value or "\n" in value or "\x00" in value or value != value.strip():
                return None
            seen.add(lowered)
            lines.append(f"{name}: {value}")
        lines += _FIXED_LINES
        payload = b"" if body is None else body.encode("utf-8")
        if body is not None or method in ("POST", "PUT", "DELETE", "PATCH"):
            lines.append(f"Content-Length: {len(payload)}")
        if body is not None and "content-type" not in seen:
            lines.append("Content-Type: text/plain; charset=utf-8")
        try:
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        except UnicodeEncodeError:
            return None  # aiohttp would refuse or re-encode such a header
        return Plan(host, port, head + payload)

    async def send(self, plan: Plan, limit: int, *, idempotent: bool) -> Reply | None:
        """Send ``plan`` and read the reply (at most ``limit`` body bytes are kept), or
        ``None`` when no connection could be made (nothing was sent). Raises
        ``aiohttp.ServerDisconnectedError`` or ``aiohttp.ClientPayloadError`` when the
        target breaks off; the caller bounds the time.

        Like aiohttp, an ``idempotent`` request is sent once more, on a new connection,
        when a kept-alive connection turns out closed before any answer (the target
        closed it while it was idle)."""
        origin = (plan.host, plan.port)
        connection = self._take(origin)
        if connection is not None and idempotent:
            try:
                return await self._exchange(origin, connection, plan.data, limit)
            except aiohttp.ServerDisconnectedError:
                if connection.answered:
                    raise
        elif connection is not None:
            return await self._exchange(origin, connection, plan.data, limit)
        try:
            connection = await self._connect(plan)
        except OSError:
            return None
        return await self._exchange(origin, connection, plan.data, limit)

    async def _exchange(
        self, origin: tuple[str, int], connection: _Connection, data: bytes, limit: int
    ) -> Reply:
        try:
            reply, reusable = await connection.exchange(data, limit)
        except BaseException:
            connection.close()
            raise
        if reusable:
            self._idle.setdefault(origin, []).append(connection)
        else:
            connection.close()
        return reply

    def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    def _take(self, origin: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.usable:
                return connection
            connection.close()
        return None

    async def _connect(self, plan: Plan) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._resolve is None:
            _, protocol = await loop.create_connection(_Connection, plan.host, plan.port)
            return protocol
        # Connect to the addresses that were checked, not to a name resolved once more.
        error: OSError = OSError(f"{plan.host} has no address")
        for family, address in await self._resolve(plan.host, plan.port):
            try:
                _, protocol = await loop.create_connection(
                    _Connection, address, plan.port, family=family
                )
            except OSError as failure:
                error = failure
            else:
                return protocol
        raise error


class _Connection(asyncio.Protocol):
    """One connection: bytes in a buffer, a waiter woken when more arrive or at EOF."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._eof = False
        self.answered = False  # bytes of an answer arrived since the last request
        self._waiter: asyncio.Future[None] | None = None

    @property
    def usable(self) -> bool:
        transport = self._transport
        return transport is not None and not transport.is_closing() and not self._eof

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - a stream connection
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self.answered = True
        self._buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._wake()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _more(self) -> bool:
        """Wait for more bytes; False at the end of the connection."""
        if self._eof:
            return False
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        return True

    async def _line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                return line
            if len(self._buffer) > _CHUNK:
                raise aiohttp.ClientPayloadError("The target's response line is too long.")
            if not await self._more():
                raise aiohttp.ServerDisconnectedError()

    async def _exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            if not await self._more():
                raise aiohttp.ClientPayloadError("The target closed the connection mid-body.")
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    async def exchange(self, data: bytes, limit: int) -> tuple[Reply, bool]:
        """Write the request, read the whole reply; (reply, connection reusable)."""
        assert self._transport is not None  # noqa: S101 - set when connected
        self._buffer.clear()
        self.answered = False
        self._transport.write(data)
        while True:
            status_line = await self._line()
            version, _, rest = status_line.decode("latin-1").partition(" ")
            code, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/1.") or not code.isdigit() or len(code) != 3:
                raise aiohttp.ClientPayloadError(f"Invalid response status line {status_line!r}")
            headers = await self._headers()
            status = int(code)
            if status >= 200 or status == 101:
                break  # 1xx are interim answers, skipped
        reply_headers = tuple(headers)
        lookup = {name.lower(): value for name, value in reversed(reply_headers)}
        connection = lookup.get("connection", "").lower()
        reusable = version == "HTTP/1.1" and "close" not in connection
        body: bytes
        # At most `limit` bytes of the body are read (encoded or not); a longer body ends
        # the connection instead of being read to its end.
        if status in _NO_BODY_STATUSES or 100 <= status < 200:
            body = b""
        elif "chunked" in lookup.get("transfer-encoding", "").lower():
            body, complete = await self._chunked(limit)
            reusable = reusable and complete
        elif "content-length" in lookup and lookup["content-length"].strip().isdigit():
            length = int(lookup["content-length"].strip())
            body = await self._exactly(min(length, limit))
            reusable = reusable and length <= limit
        else:
            body = await self._to_end(limit)
            reusable = False
        if self._buffer:
            reusable = False  # bytes nobody asked for: the connection is out of step
        body = _decoded(body, lookup.get("content-encoding", ""), limit)
        return Reply(status, reason.strip(), reply_headers, body), reusable and self.usable

    async def _headers(self) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        while True:
            line = await self._line()
            if not line:
                return headers
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon or not name or name != name.strip():
                raise aiohttp.ClientPayloadError(f"Invalid response header {line!r}")
            headers.append((name, value.strip()))
            if len(headers) > 1000:
                raise aiohttp.ClientPayloadError("Too many response headers.")

    async def _chunked(self, limit: int) -> tuple[bytes, bool]:
        """The chunks' data up to ``limit`` bytes, and whether the body ended there."""
        body = bytearray()
        while len(body) < limit:
            size_text = (await self._line()).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise aiohttp.ClientPayloadError(f"Invalid chunk size {size_text!r}") from None
            if size == 0:
                while await self._line():  # trailers
                    pass
                return bytes(body), True
            if len(body) + size > limit:
                body += await self._exactly(limit - len(body))
                return bytes(body), False
            body += await self._exactly(size)
            if await self._line():
                raise aiohttp.ClientPayloadError("A chunk did not end with CRLF.")
        return bytes(body), False

    async def _to_end(self, limit: int) -> bytes:
        while len(self._buffer) < limit and await self._more():
            pass
        data = bytes(self._buffer[:limit])
        self._buffer.clear()
        return data


def _decoded(body: bytes, encoding: str, limit: int) -> bytes:
    """The body decoded as aiohttp decodes it (gzip, deflate with or without its zlib
    header), at most ``limit`` bytes."""
    kind = encoding.strip().lower()
    if kind not in _DECODABLE or not body:
        return body[:limit]
    wbits = 16 + zlib.MAX_WBITS if kind == "gzip" else zlib.MAX_WBITS
    try:
        return zlib.decompressobj(wbits).decompress(body, limit)
    except zlib.error:
        if kind != "deflate":
            raise aiohttp.ClientPayloadError("Can not decode content-encoding: gzip") from None
    try:
        return zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, limit)
    except zlib.error:
        raise aiohttp.ClientPayloadError("Can not decode content-encoding: deflate") from None
