"""Outbound authentication at execution time (§7): OAuth tokens and TLS client certificates.

``ActiveDirectoryOAuth`` jobs get a token with the OAuth2 client-credentials grant (v1 form:
``resource`` = the job's ``audience``) from ``{authority}/{tenant}/oauth2/token``; the
authority defaults to Entra ID and is set for self-hosting with ``JOBCLOCK_OAUTH_AUTHORITY``.
An authority holding ``{tenant}`` is taken as the whole token URL, e.g. Keycloak's
``https://sso.example/realms/{tenant}/protocol/openid-connect/token``.

``ClientCertificate`` jobs get an ``ssl.SSLContext`` holding their certificate and key,
presented in the TLS handshake.

Both are cached under a digest that includes the secret, so a job never borrows a token or
a key that another job's credentials obtained. Failures raise :class:`AuthenticationError`
whose message is fit for the history entry and holds no secret.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import ssl
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import quote, urlsplit

import aiohttp

from jobclock.codec.certificates import PfxError, open_pfx, secret_digest
from jobclock.domain.actions import ClientCertificateAuthentication, OAuthAuthentication

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
AUTHORITY_VARIABLE = "JOBCLOCK_OAUTH_AUTHORITY"
# A token is renewed this long before it expires (a tenth of its lifetime if that is less).
EXPIRY_MARGIN_SECONDS = 300.0
_MAX_TOKEN_ANSWER_BYTES = 64 * 1024
_CLIENT_CONTEXT_CACHE_SIZE = 128


class AuthenticationError(Exception):
    """The attempt cannot be authenticated; ``str()`` is the reason, without secrets."""


def authority_from_environment(env: Mapping[str, str]) -> str:
    """``JOBCLOCK_OAUTH_AUTHORITY`` in ``env`` (the variables :mod:`jobclock.settings` was
    given), or Entra ID's authority when it is unset or empty."""
    value = env.get(AUTHORITY_VARIABLE, "").strip()
    return value or DEFAULT_AUTHORITY


def token_endpoint(authority: str, tenant: str) -> str:
    """The token URL of ``tenant`` under ``authority`` (see the module docstring)."""
    quoted = quote(tenant.strip(), safe="")
    if "{tenant}" in authority:
        return authority.replace("{tenant}", quoted)
    return f"{authority.rstrip('/')}/{quoted}/oauth2/token"


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    renew_at: float  # on the monotonic clock


class OAuthTokens:
    """Client-credentials tokens, cached per (authority, tenant, client, audience, secret)
    until shortly before they expire; one request per key at a time.

    ``timeout`` bounds one token request. ``clock`` measures ``expires_in`` (monotonic
    seconds); ``wall_clock`` reads an absolute ``expires_on`` (seconds since the epoch) when
    the answer has no ``expires_in``.
    """

    def __init__(
        self,
        authority: str,
        *,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        margin: float = EXPIRY_MARGIN_SECONDS,
    ) -> None:
        self.authority = authority
        self._timeout = timeout
        self._clock = clock
        self._wall_clock = wall_clock
        self._margin = margin
        self._tokens: dict[bytes, _Token] = {}
        self._locks: dict[bytes, asyncio.Lock] = {}

    def _key(self, auth: OAuthAuthentication) -> bytes:
        return secret_digest(
            self.authority, auth.tenant, auth.client_id, auth.audience, auth.secret.reveal()
        )

    async def bearer(self, session: aiohttp.ClientSession, auth: OAuthAuthentication) -> str:
        """A valid access token for ``auth``, fetched with ``session`` when none is cached."""
        key = self._key(auth)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and self._clock() < cached.renew_at:
                return cached.value
            self._tokens.pop(key, None)
            token = await self._fetch(session, auth)
            self._tokens[key] = token
            return token.value

    def forget(self, auth: OAuthAuthentication) -> None:
        """Drop the cached token, e.g. after the target refused it."""
        self._tokens.pop(self._key(auth), None)

    def clear(self) -> None:
        self._tokens.clear()
        self._locks.clear()

    async def _fetch(self, session: aiohttp.ClientSession, auth: OAuthAuthentication) -> _Token:
        url = token_endpoint(self.authority, auth.tenant)
        host = _host(url)
        form = {
            "grant_type": "client_credentials",
            "client_id": auth.client_id,
            "client_secret": auth.secret.reveal(),
            "resource": auth.audience,
        }
        try:
            async with session.post(
                url,
                data=form,
                headers={"Accept": "application/json"},
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                raw = await read_up_to(response.content, _MAX_TOKEN_ANSWER_BYTES)
                status = _status(response.status, response.reason)
                ok = response.status == HTTPStatus.OK
        except TimeoutError as exc:
            raise _token_error(host, f"no answer within {self._timeout:g} seconds") from exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # ValueError: an authority or tenant that makes no valid URL.
            text, secret = str(exc) or type(exc).__name__, auth.secret.reveal()
            if len(secret) >= 4:  # shorter would turn ordinary words into "***"
                text = text.replace(secret, "***")
            raise _token_error(host, text) from exc
        answer = _json_object(raw)
        if not ok:
            error = answer.get("error")
            code = f" ({error})" if isinstance(error, str) and _is_code(error) else ""
            raise _token_error(host, f"{status}{code}")
        value = answer.get("access_token")
        if not isinstance(value, str) or not value.strip():
            raise _token_error(host, "the answer holds no access_token")
        return _Token(value.strip(), self._renew_at(answer))

    def _renew_at(self, answer: Mapping[str, object]) -> float:
        now = self._clock()
        lifetime = _number(answer.get("expires_in"))
        if lifetime is None:
            expires_on = _number(answer.get("expires_on"))
            lifetime = None if expires_on is None else expires_on - self._wall_clock()
        if lifetime is None or lifetime <= 0:
            return now  # no expiry given: used for this attempt only
        return now + lifetime - min(self._margin, lifetime / 10)


async def read_up_to(content: aiohttp.StreamReader, limit: int) -> bytes:
    """At most ``limit`` bytes of a response body (the rest is left unread)."""
    received = bytearray()
    while len(received) < limit:
        chunk = await content.read(limit - len(received))
        if not chunk:
            break
        received += chunk
    return bytes(received)


def _token_error(host: str, reason: str) -> AuthenticationError:
    return AuthenticationError(f"could not obtain an OAuth token from '{host}': {reason}")


def _json_object(raw: bytes) -> dict[str, object]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    """``expires_in``/``expires_on`` are numbers, or digit strings in the v1 endpoint."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _is_code(text: str) -> bool:
    return 0 < len(text) <= 64 and all(c.isascii() and (c.isalnum() or c in "_.-") for c in text)


def _status(status: int, reason: str | None) -> str:
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            return str(status)
    return f"{status} {reason}"


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


class ClientCertificates:
    """One ``ssl.SSLContext`` per client certificate, built from ``new_context()`` (which
    carries the server-verification settings) with the PFX's certificate and key loaded."""

    def __init__(
        self,
        new_context: Callable[[], ssl.SSLContext],
        *,
        size: int = _CLIENT_CONTEXT_CACHE_SIZE,
    ) -> None:
        self._new_context = new_context
        self._size = size
        self._contexts: OrderedDict[bytes, ssl.SSLContext] = OrderedDict()

    async def context(self, auth: ClientCertificateAuthentication) -> ssl.SSLContext:
        password = None if auth.password is None else auth.password.reveal()
        key = secret_digest(auth.pfx.reveal(), password)
        found = self._contexts.get(key)
        if found is not None:
            self._contexts.move_to_end(key)
            return found
        # Opening the PFX and sealing the key cost key derivations: off the event loop.
        context = await asyncio.to_thread(self._build, auth.pfx.reveal(), password)
        self._contexts[key] = context
        while len(self._contexts) > self._size:
            self._contexts.popitem(last=False)
        return context

    def clear(self) -> None:
        self._contexts.clear()

    def _build(self, pfx: str, password: str | None) -> ssl.SSLContext:
        try:
            opened = open_pfx(pfx, password)
        except PfxError as exc:
            raise AuthenticationError(f"the client certificate cannot be used: {exc}") from exc
        context = self._new_context()
        # load_cert_chain reads only files: the key goes there sealed with a one-time
        # passphrase, in a file only this user can read, removed at once.
        passphrase = secrets.token_urlsafe(32).encode()
        _load_cert_chain(context, opened.pem(passphrase), passphrase)
        return context


def _load_cert_chain(context: ssl.SSLContext, pem: bytes, passphrase: bytes) -> None:
    descriptor, path = tempfile.mkstemp(prefix="jobclock-client-", suffix=".pem")  # mode 0600
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        try:
            context.load_cert_chain(path, password=passphrase)
        except ssl.SSLError as exc:
            raise AuthenticationError(
                f"the client certificate cannot be used: {exc.reason or exc}"
            ) from exc
    finally:
        os.unlink(path)
