"""The server process: uvicorn serving the API and the engine, in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Generator

import click
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from jobclock import logs
from jobclock.bootstrap import build
from jobclock.settings import Settings, load_or_create_token
from jobclock.storage.sql_store import SqlStore


def run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT; then stop the engine cleanly."""
    logs.configure(logging.INFO)
    # Each fire allocates many short-lived objects (rows, requests); with the default
    # thresholds the cyclic collector took a quarter of the loop's time under load
    # (bench/dispatch.py, profiled with py-spy). Long-lived start-up objects are frozen out
    # of its scans, and young-generation passes run less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    # The engine has a thread of its own: let it take the interpreter from a busy API thread
    # within a millisecond (the default, 5 ms, would be the engine's lateness under load).
    sys.setswitchinterval(0.001)
    # Bound before anything is written (token, key, database), so a busy port leaves no trace.
    sockets = bind(settings.host, settings.port)
    try:
        asyncio.run(_serve(settings, sockets))
    finally:
        for sock in sockets:
            sock.close()


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address ``host`` names (as asyncio's ``create_server``
    binds them); a failure is one :class:`click.ClickException` naming the address."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    sockets: list[socket.socket] = []
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(2048)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            reason = "address already in use"
        else:
            reason = str(exc.strerror or exc).lower()
        raise click.ClickException(f"cannot listen on {shown}: {reason}") from None
    return sockets


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handling: SIGTERM stops the engine too, in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:  # serving: requests are answered from now on
            host, port = self.config.host, self.config.port
            click.echo(
                f"jobclock listening on http://{f'[{host}]' if ':' in host else host}:{port}"
                f" (the portal at /, the Azure API under /subscriptions)"
            )


async def open_database(url: str) -> None:
    """Connect and migrate once before anything is written (token, key): a database that
    cannot be opened is one :class:`click.ClickException` (the URL without its password)."""
    store = SqlStore(url)
    try:
        await store.migrate()
    except (OSError, SQLAlchemyError) as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        raise click.ClickException(f"cannot open the database {shown}: {_reason(exc)}") from None
    finally:
        await store.close()


def _reason(exc: BaseException) -> str:
    """One line: the driver's own words where there are some, without SQLAlchemy's notes."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, OSError) and cause.errno is not None:
        return os.strerror(cause.errno).lower()
    text = str(cause).strip().splitlines()
    line = text[0] if text else type(cause).__name__
    return line.split(": ", 1)[1] if line.startswith("<class") and ": " in line else line


async def _serve(settings: Settings, sockets: list[socket.socket]) -> None:
    await open_database(settings.db)
    token = settings.token
    if token is None:
        path = settings.data_dir / "jobclock.token"
        token, created = load_or_create_token(path)
        if created:
            click.echo(f"Generated an API token (kept in {path}): {token}")
    app = build(settings, token)
    await app.store.migrate()
    stop = asyncio.Event()
    config = uvicorn.Config(
        app.http, host=settings.host, port=settings.port, log_level="warning", lifespan="off"
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        stop.set()
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    app.engine.start()

    async def watch_engine() -> None:
        """The engine thread ended by itself (it logged why): stop serving, exit 1."""
        await asyncio.to_thread(app.engine.join)
        request_stop()

    watcher = asyncio.create_task(watch_engine())
    try:
        await server.serve(sockets)
    finally:
        stop.set()
        watcher.cancel()
        app.engine.stop()
        await asyncio.to_thread(app.engine.join)
        await app.close()
        click.echo("jobclock stopped")
    if app.engine.error is not None:
        raise SystemExit(1)
