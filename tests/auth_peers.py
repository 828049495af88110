"""Local peers for outbound authentication: a CA, an HTTPS target that requires a client
certificate, and an OAuth2 token endpoint with a plain target (used by the action tests and
the end-to-end tests)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.codec.test_certificates import Issued, issue

# -- the peers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca: Issued
    client: Issued  # signed by the CA
    stranger: Issued  # self-signed, unknown to the server

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"


@dataclass
class Peers:
    pki: Pki
    port: int = 0
    tls_port: int = 0
    # What the TLS server saw: (client certificate subject CN, client port) per request.
    tls_seen: list[tuple[str, int]] = field(default_factory=list)
    # Token requests: (tenant, form) in order.
    token_requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    # Authorization headers the plain target received, per path.
    authorizations: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def authority(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.authority}{path}"

    def tls_url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.tls_port}{path}"

    def token_requests_of(self, tenant: str) -> list[dict[str, str]]:
        return [form for name, form in self.token_requests if name == tenant]


class _MutualTlsServer(ThreadingHTTPServer):
    """An HTTPS server on the stdlib ``ssl`` module that requires a client certificate.

    Each connection is wrapped in its own thread with a blocking socket, so a refused
    handshake sends its TLS alert to the client as a real server (nginx, IIS) does; an
    asyncio server drops the connection without one.
    """

    daemon_threads = True

    def __init__(self, peers: Peers) -> None:
        self.peers = peers
        self.context = _server_context(peers.pki)
        super().__init__(("127.0.0.1", 0), _WhoAmI)

    def finish_request(self, request: Any, client_address: Any) -> None:
        connection = self.context.wrap_socket(
            request, server_side=True, do_handshake_on_connect=False
        )
        with connection:
            try:
                connection.settimeout(5)
                connection.do_handshake()
            except (ssl.SSLError, OSError):
                # The alert is sent. Close gently: closing with the client's request unread
                # would reset the connection, and the client could lose the alert.
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_WR)
                    while connection.recv(4096):
                        pass
                return
            super().finish_request(connection, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _WhoAmI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _MutualTlsServer

    def do_GET(self) -> None:
        peercert = self.connection.getpeercert() or {}
        names = [value for rdn in peercert.get("subject", ()) for _, value in rdn]
        common_name = names[-1] if names else ""
        self.server.peers.tls_seen.append((common_name, self.client_address[1]))
        body = f"hello {common_name}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _plain_app(peers: Peers) -> web.Application:
    async def token(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        form = {key: str(value) for key, value in (await request.post()).items()}
        peers.token_requests.append((tenant, form))
        count = len(peers.token_requests_of(tenant))
        issued = f"tok-{tenant}-{count}"
        kind = tenant.split("-", 1)[0]
        if kind == "denied":
            return web.json_response(
                {"error": "invalid_client", "error_description": "AADSTS7000215"}, status=401
            )
        if kind == "broken":
            return web.Response(status=500, text="oops")
        if kind == "leaky":  # an endpoint that puts the secret it was sent in its error code
            return web.json_response({"error": form.get("client_secret")}, status=400)
        if kind == "empty":
            return web.json_response({"token_type": "Bearer"})
        if kind == "on":  # only an absolute expiry, 1 hour after the test's wall clock
            return web.json_response({"access_token": issued, "expires_on": "1000003600"})
        if kind == "noexpiry":
            return web.json_response({"token_type": "Bearer", "access_token": issued})
        # Entra ID's v1 endpoint sends the numbers as strings.
        return web.json_response(
            {"token_type": "Bearer", "access_token": issued, "expires_in": "3600"}
        )

    async def target(request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization")
        peers.authorizations.append((request.path, authorization))
        if request.path == "/refuse":
            return web.Response(status=401, text="no")
        if request.path == "/mirror":
            return web.Response(text=f"you sent {authorization}", headers={"X-Auth": "same"})
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tenant}/oauth2/token", token)
    app.router.add_post("/realms/{tenant}/protocol/openid-connect/token", token)
    app.router.add_get("/target", target)
    app.router.add_get("/refuse", target)
    app.router.add_get("/mirror", target)
    return app


def _pki(directory: Path) -> Pki:
    ca = issue("jobclock test CA", ca=True)
    server = issue("127.0.0.1", issuer=ca, server=True)
    pki = Pki(directory, ca, issue("scheduler-client", issuer=ca), issue("stranger"))
    pki.ca_file.write_bytes(ca.certificate_pem())
    (directory / "server.pem").write_bytes(server.certificate_pem() + server.key_pem())
    return pki


def _server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.directory / "server.pem")
    context.load_verify_locations(cafile=pki.ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@contextlib.contextmanager
def running_peers(directory: Path) -> Iterator[Peers]:
    """A token endpoint and plain target (aiohttp) and a mutual-TLS target, on 127.0.0.1."""
    peers = Peers(_pki(directory))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(_plain_app(peers), shutdown_timeout=0.1)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        peers.port = int(runner.addresses[-1][1])

    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=5)
    tls = _MutualTlsServer(peers)
    peers.tls_port = int(tls.server_address[1])
    tls_thread = threading.Thread(target=tls.serve_forever, daemon=True)
    tls_thread.start()
    try:
        yield peers
    finally:
        _stop(tls, tls_thread, runner, loop, thread)


def _stop(tls: Any, tls_thread: Any, runner: Any, loop: Any, thread: Any) -> None:
    tls.shutdown()
    tls.server_close()
    tls_thread.join(timeout=5)
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()
