"""The connect-time side of the outbound policy (issue 11): every address a request is
about to connect to, on every redirect hop, after DNS, goes through
:func:`jobclock.domain.outbound.refusal`.

Names are resolved here with ``getaddrinfo`` (the OS resolver's rules, legacy forms such as
``0x7f000001`` included) and every address found is checked before any is used, so a name
that also resolves to a refused address gets no request at all. aiohttp connects to an IP
literal without asking its resolver, so a client middleware, run before each hop, checks
literals; its resolver checks names. The lean client asks :meth:`OutboundGuard.resolve`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from ipaddress import ip_address
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from jobclock.domain.outbound import (
    ALLOW_VARIABLE,
    DENY_VARIABLE,
    Address,
    Network,
    OutboundPolicy,
    literal_address,
    parse_networks,
    refusal,
)


class OutboundRefused(Exception):
    """A connection the outbound policy refuses; nothing was sent. Not an ``OSError``, so
    aiohttp lets it through unwrapped."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(reason)
        self.host = host
        self.reason = reason


class OutboundGuard:
    """Checks addresses against one :class:`OutboundPolicy`."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy

    def check(self, host: str, port: int, addresses: list[str]) -> None:
        """Raise ``OutboundRefused`` if any of ``addresses`` (what ``host`` resolved to) is
        refused on ``port``."""
        for text in addresses:
            address = _address(text)
            reason = refusal(address, port, self.policy)
            if reason is None:
                continue
            if host.strip("[]") != str(address):
                reason = f"'{host}' resolves to {address}: {reason}"
            raise OutboundRefused(host, reason)

    def check_literal(self, host: str, port: int) -> None:
        """Check ``host`` if it is an IP address in any spelling (aiohttp may connect to
        one without its resolver; older versions pass ``2130706433`` to the OS as is)."""
        address = literal_address(host)
        if address is not None:
            self.check(host, port, [str(address)])

    async def resolve(self, host: str, port: int) -> list[tuple[socket.AddressFamily, str]]:
        """(family, address) of every address ``host`` resolves to, once all are allowed.
        Raises ``OutboundRefused``, or ``OSError`` when the name does not resolve."""
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        found: list[tuple[socket.AddressFamily, str]] = []
        for family, _, _, _, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6) and (family, sockaddr[0]) not in found:
                found.append((family, str(sockaddr[0])))
        self.check(host, port, [address for _, address in found])
        return found


class GuardedResolver(AbstractResolver):
    """aiohttp's threaded (``getaddrinfo``) resolver, every answer checked by the guard."""

    def __init__(self, guard: OutboundGuard) -> None:
        self._guard = guard
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        self._guard.check(host, port, [result["host"] for result in results])
        return results

    async def close(self) -> None:
        await self._inner.close()


def literal_middleware(guard: OutboundGuard) -> Any:
    """An aiohttp client middleware checking each hop whose host is an IP literal."""

    async def middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        guard.check_literal(request.url.raw_host or "", request.port or 0)
        return await handler(request)

    return middleware


def policy_from_environment(
    env: Mapping[str, str], *, host: str | None = None, port: int | None = None
) -> OutboundPolicy:
    """The policy of ``JOBCLOCK_OUTBOUND_DENY``/``_ALLOW`` in ``env`` for a server listening
    on ``host:port`` (None: not a server). Raises ``ValueError`` for a malformed range."""
    return server_policy(
        parse_networks(env.get(DENY_VARIABLE, ""), DENY_VARIABLE),
        parse_networks(env.get(ALLOW_VARIABLE, ""), ALLOW_VARIABLE),
        host=host,
        port=port,
    )


def server_policy(
    deny: tuple[Network, ...],
    allow: tuple[Network, ...],
    *,
    host: str | None = None,
    port: int | None = None,
) -> OutboundPolicy:
    """The policy of the ranges ``deny`` and ``allow`` for a server listening on
    ``host:port`` (None: not a server): its own addresses and port are refused."""
    return OutboundPolicy(
        deny=deny,
        allow=allow,
        own_port=port,
        own_addresses=frozenset() if host is None else _own_addresses(host),
    )


def _own_addresses(host: str) -> frozenset[Address]:
    """The addresses ``host`` (a listening address) stands for; for ``0.0.0.0``/``::``,
    this machine's own name's addresses too (best effort: it listens on all of them)."""
    names = [host]
    literal = literal_address(host)
    if literal is not None and literal.is_unspecified:
        names.append(socket.gethostname())
    found: set[Address] = set() if literal is None else {literal}
    for name in names:
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except OSError:
            continue
        found.update(_address(str(info[4][0])) for info in infos)
    return frozenset(found)


def _address(text: str) -> Address:
    return ip_address(text.split("%", 1)[0])
