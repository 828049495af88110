"""The connect-time outbound guard (issue 11) against real servers on 127.0.0.1: a refused
address gets no request, whatever the spelling of its address, on every redirect hop, over
the lean client and over aiohttp alike."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import ip_address

import pytest
from aiohttp import web

from jobclock.actions.http import HttpExecutor
from jobclock.actions.registry import build_executors
from jobclock.domain.actions import ActionType, HttpMethod, HttpRequest
from jobclock.domain.execution import AttemptResult, Invocation
from jobclock.domain.outbound import OutboundPolicy, parse_networks
from jobclock.testing import FakeClock
from tests.actions.test_http import CONTEXT


@dataclass
class Peer:
    port: int = 0
    paths: list[str] = field(default_factory=list)
    redirect_to: str = ""


@dataclass
class Peers:
    front: Peer
    back: Peer


def _app(peer: Peer) -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        peer.paths.append(request.path)
        return web.Response(text="secret answer")

    async def hop(request: web.Request) -> web.Response:
        peer.paths.append(request.path)
        raise web.HTTPFound(peer.redirect_to)

    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/hop", hop)
    return app


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    """Two real aiohttp servers on 127.0.0.1 on one event loop in a thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    found = Peers(Peer(), Peer())
    runners = [
        web.AppRunner(_app(peer), shutdown_timeout=0.1) for peer in (found.front, found.back)
    ]

    async def start() -> None:
        for runner, peer in zip(runners, (found.front, found.back), strict=True):
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            peer.port = int(runner.addresses[-1][1])

    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=5)
    yield found

    async def stop() -> None:
        for runner in runners:
            await runner.cleanup()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


@pytest.fixture
def fresh(peers: Peers) -> Peers:
    peers.front.paths.clear()
    peers.back.paths.clear()
    return peers


def run(executor: HttpExecutor, uri: str) -> AttemptResult:
    async def go() -> AttemptResult:
        try:
            request = HttpRequest(uri=uri, method=HttpMethod.GET)
            return await executor.execute(Invocation(ActionType.HTTP, request), CONTEXT)
        finally:
            await executor.aclose()

    return asyncio.run(go())


def own(port: int) -> OutboundPolicy:
    return OutboundPolicy(own_port=port, own_addresses=frozenset({ip_address("127.0.0.1")}))


LEAN = pytest.mark.parametrize("lean", [True, False], ids=["lean", "aiohttp"])
SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "0x7f000001",
    "2130706433",
    "017700000001",
    "127.1",
    "[::ffff:127.0.0.1]",
]


@LEAN
@pytest.mark.parametrize("host", SPELLINGS)
def test_every_spelling_of_loopback_reaches_the_peer_when_allowed(
    fresh: Peers, lean: bool, host: str
) -> None:
    # The baseline: each spelling does reach 127.0.0.1, so refusing it below means something.
    uri = f"http://{host}:{fresh.front.port}/hello"
    result = run(HttpExecutor(lean_client=lean), uri)

    if not result.succeeded and "invalid URI" in result.message:
        # aiohttp refuses the legacy numeric forms (2130706433, 127.1) itself; the lean
        # client hands them to it rather than reaching the target.
        assert host.replace(".", "").isdigit()
        assert fresh.front.paths == []
        return
    if not result.succeeded and "[::ffff:" in host:
        pytest.skip(f"this host cannot reach IPv4-mapped IPv6 addresses: {result.message}")
    assert result.succeeded, result.message
    assert fresh.front.paths == ["/hello"]


@LEAN
@pytest.mark.parametrize("host", SPELLINGS)
def test_the_servers_own_port_is_refused_in_every_spelling(
    fresh: Peers, lean: bool, host: str
) -> None:
    uri = f"http://{host}:{fresh.front.port}/hello"
    result = run(HttpExecutor(lean_client=lean, outbound=own(fresh.front.port)), uri)

    assert not result.succeeded
    assert fresh.front.paths == []
    if "invalid URI" in result.message:
        return  # aiohttp refuses legacy numeric forms itself, before connecting
    assert "this scheduler's own API" in result.message, result.message
    assert "outbound requests to it are refused" in result.message


@LEAN
def test_a_redirect_to_a_refused_address_is_not_followed(fresh: Peers, lean: bool) -> None:
    fresh.front.redirect_to = f"http://localhost:{fresh.back.port}/hello"
    uri = f"http://127.0.0.1:{fresh.front.port}/hop"
    result = run(HttpExecutor(lean_client=lean, outbound=own(fresh.back.port)), uri)

    assert not result.succeeded
    assert "this scheduler's own API" in result.message, result.message
    assert fresh.front.paths == ["/hop"]
    assert fresh.back.paths == []


@LEAN
def test_a_redirect_to_cloud_metadata_is_refused_before_connecting(
    fresh: Peers, lean: bool
) -> None:
    fresh.front.redirect_to = "http://[::ffff:169.254.169.254]/latest/meta-data/"
    uri = f"http://127.0.0.1:{fresh.front.port}/hop"
    result = run(HttpExecutor(lean_client=lean, timeout=5), uri)

    assert not result.succeeded
    assert "link-local (cloud metadata)" in result.message, result.message
    assert "timed out" not in result.message


@LEAN
@pytest.mark.parametrize("host", ["0", "0.0.0.0", "169.254.169.254", "0xa9fea9fe"])  # noqa: S104
def test_default_refusals_need_no_configuration(fresh: Peers, lean: bool, host: str) -> None:
    result = run(HttpExecutor(lean_client=lean, timeout=5), f"http://{host}:{fresh.front.port}/")

    assert not result.succeeded
    assert fresh.front.paths == []
    if "invalid URI" in result.message:
        return  # aiohttp refuses legacy numeric forms itself, before connecting
    assert "outbound requests to it are refused" in result.message, result.message


@LEAN
def test_a_name_is_checked_after_resolution(fresh: Peers, lean: bool) -> None:
    # "localhost" is a name the resolver turns into 127.0.0.1 (and ::1).
    policy = OutboundPolicy(deny=parse_networks("127.0.0.0/8, ::1/128"))
    result = run(
        HttpExecutor(lean_client=lean, outbound=policy), f"http://localhost:{fresh.front.port}/"
    )

    assert not result.succeeded
    assert "'localhost' resolves to" in result.message, result.message
    assert "JOBCLOCK_OUTBOUND_DENY" in result.message
    assert fresh.front.paths == []


def test_build_executors_reads_the_deny_and_allow_variables(fresh: Peers) -> None:
    env = {"JOBCLOCK_OUTBOUND_DENY": "127.0.0.0/8", "JOBCLOCK_OUTBOUND_ALLOW": "127.0.0.2/32"}
    http = build_executors(env, FakeClock(datetime(2026, 1, 1, tzinfo=UTC)))[ActionType.HTTP]
    assert isinstance(http, HttpExecutor)

    result = run(http, f"http://127.0.0.1:{fresh.front.port}/hello")

    assert not result.succeeded
    assert "JOBCLOCK_OUTBOUND_DENY (127.0.0.0/8)" in result.message, result.message
    assert fresh.front.paths == []


def test_build_executors_refuses_a_malformed_range() -> None:
    with pytest.raises(ValueError, match="JOBCLOCK_OUTBOUND_ALLOW"):
        build_executors(
            {"JOBCLOCK_OUTBOUND_ALLOW": "10.0.0.0/33"}, FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
        )
