"""The ``Http`` and ``Https`` actions (§5.2, §7): one attempt of one request, over aiohttp."""

from __future__ import annotations

import asyncio
import base64
import codecs
import logging
import ssl
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from jobclock.actions.attempts import finish, scheduler_metadata
from jobclock.actions.auth import (
    DEFAULT_AUTHORITY,
    AuthenticationError,
    ClientCertificates,
    OAuthTokens,
    read_up_to,
)
from jobclock.actions.http_wire import Reply, WireClient
from jobclock.actions.outbound import (
    GuardedResolver,
    OutboundGuard,
    OutboundRefused,
    literal_middleware,
)
from jobclock.actions.signing import signature_headers
from jobclock.clock import SystemClock
from jobclock.domain.actions import (
    ActionType,
    BasicAuthentication,
    ClientCertificateAuthentication,
    HttpAuthentication,
    HttpMethod,
    HttpRequest,
    OAuthAuthentication,
)
from jobclock.domain.execution import AttemptContext, AttemptResult, Invocation
from jobclock.domain.outbound import OutboundPolicy
from jobclock.ports import Clock

HTTP_ACTION_TYPES = frozenset({ActionType.HTTP, ActionType.HTTPS})
DEFAULT_TIMEOUT_SECONDS = 60.0
# Azure stored 2048 bytes of UTF-16, i.e. 1024 characters of the body (§5.2).
BODY_CHARACTER_LIMIT = 1024
DEFAULT_MAX_BODY_BYTES = 64 * 1024
# A password this short would turn ordinary words of a message into "***".
_MIN_REDACTED_LENGTH = 4

_log = logging.getLogger(__name__)


class HttpExecutor:
    """Runs ``Http``/``Https`` actions through one shared, keep-alive ``aiohttp`` session.

    The session is created on first use inside the running event loop and released by
    ``aclose()``; one executor serves one event loop. Follows the ``ActionExecutor``
    contract: every failure of the target becomes ``AttemptResult(succeeded=False)``.

    ``timeout`` is the whole attempt (connect, send, redirects, read), 60 s as in Azure.
    ``connection_limit`` caps pooled connections (0: no cap, the engine bounds concurrency).
    Plain ``http://`` requests go through a lean client of the same wire behaviour
    (``http_wire``) unless ``lean_client=False`` or a ``connection_limit`` is set.
    At most ``max_body_bytes`` of a response body are read; the rest is discarded.

    Targets' certificates are checked against the system's CAs plus ``ca_file`` (PEM), or
    not at all with ``verify_tls=False``. ``ActiveDirectoryOAuth`` tokens come from
    ``oauth_authority`` (default: Entra ID; the server passes ``JOBCLOCK_OAUTH_AUTHORITY`` down
    from its settings);
    ``oauth_tokens`` replaces the token cache altogether (tests give one a fake clock).

    Every connection, on every redirect hop and after DNS, is checked against ``outbound``
    (by default the default :class:`OutboundPolicy`): a refused address fails the attempt
    before anything is sent.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        verify_tls: bool = True,
        send_scheduler_headers: bool = True,
        connection_limit: int = 0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        ca_file: str | Path | None = None,
        oauth_authority: str | None = None,
        oauth_tokens: OAuthTokens | None = None,
        lean_client: bool = True,
        outbound: OutboundPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if max_body_bytes < 4 * BODY_CHARACTER_LIMIT:
            raise ValueError(f"max_body_bytes must be at least {4 * BODY_CHARACTER_LIMIT}")
        self._timeout = timeout
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._verify_tls = verify_tls
        self._send_scheduler_headers = send_scheduler_headers
        self._connection_limit = connection_limit
        self._max_body_bytes = max_body_bytes
        self._session: aiohttp.ClientSession | None = None
        self._ca_file = None if ca_file is None else str(ca_file)
        # The connector's setting for requests without a client certificate.
        self._server_tls: ssl.SSLContext | bool = (
            verify_tls if self._ca_file is None else self._tls_context()
        )
        self._certificates = ClientCertificates(self._tls_context)
        # Plain requests skip aiohttp (it would cost most of a fire's CPU). A connection cap
        # is aiohttp's to keep: requests the lean client does not take (https, special
        # headers, redirects) use aiohttp's pool, so a cap of the lean client's own would
        # let both pools fill up to it.
        self._guard = OutboundGuard(outbound or OutboundPolicy())
        self._wire = WireClient(
            enabled=lean_client and connection_limit == 0, resolve=self._guard.resolve
        )
        self._tokens = oauth_tokens or OAuthTokens(
            DEFAULT_AUTHORITY if oauth_authority is None else oauth_authority,
            timeout=timeout,
        )

    async def execute(self, invocation: Invocation, context: AttemptContext) -> AttemptResult:
        request = invocation.payload
        if invocation.type not in HTTP_ACTION_TYPES or not isinstance(request, HttpRequest):
            raise TypeError(f"HttpExecutor cannot run a {invocation.type.value} action")
        host = _host(request.uri)
        headers = CIMultiDict(request.headers)
        if self._send_scheduler_headers:
            headers.update(scheduler_metadata(context))
        if context.traceparent is not None and "traceparent" not in headers:
            headers["traceparent"] = context.traceparent  # a job's own one wins
        if request.signing is not None:
            body = (request.body or "").encode("utf-8")  # as both clients send it
            sent_at = int(self._clock.now().timestamp())
            headers.update(signature_headers(request.signing, context.execution_tag, sent_at, body))
        secrets = _secrets_of(request)
        try:
            tls = await self._authorize(headers, request.authentication, secrets)
        except AuthenticationError as error:
            message = _request_failed(host, _scrub(str(error), secrets))
            return finish(
                _log, "http_action.attempt", context, False, message, "authentication", host=host
            )
        limit = context.seconds(self._timeout)
        try:
            async with asyncio.timeout(limit):
                result = await self._send(request, headers, host, tls, secrets)
        except OutboundRefused as refused:
            message = _request_failed(host, refused.reason)
            return finish(
                _log, "http_action.attempt", context, False, message, "outbound", host=host
            )
        except TimeoutError:
            seconds = f"{limit:g}"
            message = _request_failed(host, f"the request timed out after {seconds} seconds")
            return finish(
                _log, "http_action.attempt", context, False, message, "timeout", host=host
            )
        except (aiohttp.ClientError, OSError, ValueError) as error:
            # ValueError: a URI or header aiohttp refuses to send, e.g. one holding a newline.
            text = _scrub(_describe(error), secrets)
            return finish(
                _log,
                "http_action.attempt",
                context,
                False,
                _request_failed(host, text),
                error,
                host=host,
            )
        return finish(
            _log, "http_action.attempt", context, result.succeeded, result.message, None, host=host
        )

    async def _authorize(
        self,
        headers: CIMultiDict[str],
        authentication: HttpAuthentication | None,
        secrets: list[str],
    ) -> ssl.SSLContext | None:
        """Add the ``Authorization`` header, or return the TLS context presenting the
        client certificate; a bearer token joins ``secrets``. Raises AuthenticationError."""
        match authentication:
            case None:
                return None
            case BasicAuthentication(username=username, password=password):
                headers["Authorization"] = "Basic " + _basic_token(username, password.reveal())
                return None
            case ClientCertificateAuthentication():
                return await self._certificates.context(authentication)
            case OAuthAuthentication():
                token = await self._tokens.bearer(self._client(), authentication)
                headers["Authorization"] = f"Bearer {token}"
                secrets.extend(_redactable([token]))
                return None

    def _tls_context(self) -> ssl.SSLContext:
        """A client context that checks targets as this executor is configured to."""
        context = ssl.create_default_context()
        if self._ca_file is not None:
            context.load_verify_locations(cafile=self._ca_file)
        if not self._verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def aclose(self) -> None:
        """Close the pooled connections; a later ``execute`` opens a new session."""
        session, self._session = self._session, None
        self._wire.close()
        self._certificates.clear()
        self._tokens.clear()
        if session is not None:
            await session.close()

    async def _send(
        self,
        request: HttpRequest,
        headers: CIMultiDict[str],
        host: str,
        tls: ssl.SSLContext | None,
        secrets: list[str],
    ) -> AttemptResult:
        if tls is None:
            # The lean client sends plain requests byte for byte as aiohttp would; anything
            # else, or a target it cannot reach (nothing sent), goes to aiohttp below.
            plan = self._wire.plan(
                request.method.value, request.uri, list(headers.items()), request.body
            )
            if plan is not None:
                reply = await self._wire.send(
                    plan, self._max_body_bytes, idempotent=request.method in _IDEMPOTENT
                )
                if reply is not None and not _redirects(reply.status, reply.header):
                    return self._result(
                        request, reply.status, reply.reason, reply.headers,
                        reply.body, reply.charset, host, secrets,
                    )  # fmt: skip
                if reply is not None:
                    return await self._follow(request, headers, reply, host, secrets)
        return await self._send_with_aiohttp(
            request.method.value, request.uri, request, headers, request.body, host, tls, secrets
        )

    async def _follow(
        self,
        request: HttpRequest,
        headers: CIMultiDict[str],
        reply: Reply,
        host: str,
        secrets: list[str],
    ) -> AttemptResult:
        """Follow a redirect the lean client received, the way aiohttp follows them."""
        location = reply.header("Location") or ""
        url = URL(request.uri).join(URL(location))
        method, body = request.method.value, request.body
        follow = CIMultiDict(headers)
        if (reply.status == HTTPStatus.SEE_OTHER) or (
            reply.status in (HTTPStatus.MOVED_PERMANENTLY, HTTPStatus.FOUND) and method == "POST"
        ):
            method, body = "GET", None
            follow.popall("Content-Type", None)
        if url.origin() != URL(request.uri).origin():
            follow.popall("Authorization", None)
        return await self._send_with_aiohttp(
            method, str(url), request, follow, body, host, None, secrets
        )

    async def _send_with_aiohttp(
        self,
        method: str,
        uri: str,
        request: HttpRequest,
        headers: CIMultiDict[str],
        body: str | None,
        host: str,
        tls: ssl.SSLContext | None,
        secrets: list[str],
    ) -> AttemptResult:
        # Without a body, aiohttp would invent "Content-Type: application/octet-stream" for
        # PUT and POST; with one, it adds "text/plain; charset=utf-8" like .NET's StringContent.
        skip = ("Content-Type",) if body is None else ()
        async with self._client().request(
            method,
            uri,
            headers=headers,
            data=body,
            skip_auto_headers=skip,
            allow_redirects=True,
            # A client certificate has a context of its own, hence a connection pool too.
            ssl=True if tls is None else tls,
        ) as response:
            raw = await read_up_to(response.content, self._max_body_bytes)
            return self._result(
                request, response.status, response.reason, tuple(response.headers.items()),
                raw, response.charset, host, secrets,
            )  # fmt: skip

    def _result(
        self,
        request: HttpRequest,
        status: int,
        reason: str | None,
        headers: Iterable[tuple[str, str]],
        raw: bytes,
        charset: str | None,
        host: str,
        secrets: list[str],
    ) -> AttemptResult:
        if status == HTTPStatus.UNAUTHORIZED and isinstance(
            request.authentication, OAuthAuthentication
        ):
            self._tokens.forget(request.authentication)  # revoked? the retry gets a new one
        body = raw.decode(_codec(charset), errors="replace")
        message = _response_message(
            host,
            _reason(status, reason),
            _scrub(_header_lines(headers), secrets),
            _scrub(body, secrets),
        )
        return AttemptResult(succeeded=200 <= status < 300, message=message)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._connection_limit,
                limit_per_host=0,
                ssl=self._server_tls,
                resolver=GuardedResolver(self._guard),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                middlewares=(literal_middleware(self._guard),),
                # The attempt's own deadline (``execute``) bounds every request.
                timeout=aiohttp.ClientTimeout(total=None),
                # The session is shared by every job: cookies must not travel between them.
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session


def _basic_token(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _secrets_of(request: HttpRequest) -> list[str]:
    """Texts that must never reach a message, e.g. from a target that echoes its request."""
    secrets: list[str] = []
    authentication = request.authentication
    if isinstance(authentication, BasicAuthentication):
        password = authentication.password.reveal()
        secrets += [_basic_token(authentication.username, password), password]
    elif isinstance(authentication, OAuthAuthentication):
        secrets.append(authentication.secret.reveal())
    elif isinstance(authentication, ClientCertificateAuthentication):
        secrets.append(authentication.pfx.reveal())
        if authentication.password is not None:
            secrets.append(authentication.password.reveal())
    try:
        parts = urlsplit(request.uri)
        uri_user, uri_password = parts.username or "", parts.password
    except ValueError:
        uri_user, uri_password = "", None
    if uri_password:
        # The client sends userinfo as Basic authentication, decoded: a target may echo it.
        user, password = unquote(uri_user), unquote(uri_password)
        secrets += [_basic_token(user, password), uri_password, password]
    return _redactable(secrets)


def _redactable(secrets: Iterable[str]) -> list[str]:
    return [secret for secret in secrets if len(secret) >= _MIN_REDACTED_LENGTH]


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _codec(charset: str | None) -> str:
    if charset is None:
        return "utf-8"
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return "utf-8"


def _describe(error: Exception) -> str:
    if isinstance(error, aiohttp.InvalidURL):
        return f"invalid URI '{error.url}'"
    return str(error) or type(error).__name__


def _host(uri: str) -> str:
    try:
        return urlsplit(uri).hostname or uri
    except ValueError:
        return uri


def _reason(status: int, reason: str | None) -> str:
    if reason:
        return reason
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return str(status)


def _header_lines(headers: Iterable[tuple[str, str]]) -> str:
    """``Name: value\\r\\n`` per header name, repeated names joined with ``, `` in order."""
    joined: dict[str, tuple[str, list[str]]] = {}
    for name, value in headers:
        joined.setdefault(name.lower(), (name, []))[1].append(value)
    return "".join(f"{name}: {', '.join(values)}\r\n" for name, values in joined.values())


def _response_message(host: str, reason: str, header_lines: str, body: str) -> str:
    return (
        f"Http Action - Response from host '{host}': '{reason}' "
        f"Response Headers: {header_lines} Body: {body[:BODY_CHARACTER_LIMIT]}"
    )


def _request_failed(host: str, reason: str) -> str:
    return f"Http Action - Request to host '{host}' failed: {reason}"


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# What aiohttp sends again when a kept-alive connection was closed under it.
_IDEMPOTENT = frozenset({HttpMethod.GET, HttpMethod.PUT, HttpMethod.DELETE})


def _redirects(status: int, header: Callable[[str], str | None]) -> bool:
    return status in _REDIRECTS and bool(header("Location"))
