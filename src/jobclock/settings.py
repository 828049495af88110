"""Settings: command-line options over ``JOBCLOCK_*`` environment variables over defaults.

The only module that reads the process environment (:meth:`Settings.from_environment`);
everything else gets its values from :class:`Settings`, passed down by the composition
root (:mod:`jobclock.bootstrap`).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from jobclock.actions.registry import ActionSettings
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.host_limits import HostLimit, parse_host_limits
from jobclock.domain.outbound import ALLOW_VARIABLE, DENY_VARIABLE, Network, parse_networks
from jobclock.tracing import (
    EXPORTER_VARIABLE,
    HeaderTracing,
    OtelTracing,
    tracing_from_environment,
)

# The URL spellings SqlStore can open (it swaps in the async driver itself).
_DRIVERS = {"sqlite", "sqlite+aiosqlite", "postgresql", "postgres", "postgresql+asyncpg"}


_N = TypeVar("_N", int, float)


class SettingsError(ValueError):
    """A setting that cannot work; its message is one line for the command line."""


def _otel_exporter(env: Mapping[str, str]) -> str | None:
    kind = (env.get(EXPORTER_VARIABLE) or "").strip().lower() or None
    if kind not in (None, "otlp", "console"):
        raise SettingsError(f"{EXPORTER_VARIABLE} must be 'otlp' or 'console', got {kind!r}.")
    return kind


def _host_limits(env: Mapping[str, str]) -> tuple[HostLimit, ...]:
    try:
        return parse_host_limits(env.get("JOBCLOCK_HOST_LIMITS") or "")
    except InvalidDefinition as error:
        raise SettingsError(str(error)) from error


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``jobclock serve`` is configured with (README, "Running the service").

    ``data_directory``: ``JOBCLOCK_DATA_DIR`` (see :attr:`data_dir`). ``actions``: the
    executors' variables. ``outbound_deny``/``outbound_allow``: ``JOBCLOCK_OUTBOUND_DENY``
    and ``_ALLOW``, the ranges HTTP actions may not / may reach.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    db: str = "sqlite:///jobclock.db"
    token: str | None = None
    secret_key: str | None = None
    region: str = "Self-hosted"
    concurrency: int = 256
    node: str | None = None
    lease_seconds: float = 20.0
    # Dispatch processes (``--workers``); 1: the engine runs in the server process.
    workers: int = 1
    data_directory: str | None = None
    actions: ActionSettings = field(default_factory=ActionSettings)
    outbound_deny: tuple[Network, ...] = ()
    outbound_allow: tuple[Network, ...] = ()
    # JOBCLOCK_HOST_LIMITS: at most N attempts at once and R a second per target host.
    host_limits: tuple[HostLimit, ...] = ()
    # JOBCLOCK_OTEL_EXPORTER: "otlp" or "console" (OpenTelemetry spans per attempt).
    otel_exporter: str | None = None

    @classmethod
    def from_environment(cls, overrides: Mapping[str, object]) -> Settings:
        """:meth:`load` over this process's environment."""
        return cls.load(overrides, os.environ)

    @classmethod
    def load(cls, overrides: Mapping[str, object], env: Mapping[str, str]) -> Settings:
        """Options given on the command line win over ``JOBCLOCK_*`` variables."""

        def pick(name: str, default: object) -> object:
            value = overrides.get(name)
            if value is not None:
                return value
            return env.get(f"JOBCLOCK_{name.upper()}", default)

        defaults = cls()
        db = str(pick("db", defaults.db))
        _check_db(db)
        deny, allow = _outbound(env)
        return cls(
            host=str(pick("host", defaults.host)),
            port=_port(pick("port", defaults.port)),
            db=db,
            token=_optional(pick("token", None)),
            secret_key=_optional(pick("secret_key", None)),
            region=str(pick("region", defaults.region)),
            concurrency=_number(
                int, "JOBCLOCK_CONCURRENCY", pick("concurrency", defaults.concurrency), 1
            ),
            node=_optional(pick("node", None)),
            lease_seconds=_number(
                float, "JOBCLOCK_LEASE_SECONDS", pick("lease_seconds", defaults.lease_seconds), 1
            ),
            workers=_number(int, "JOBCLOCK_WORKERS", pick("workers", defaults.workers), 1),
            data_directory=_optional(env.get("JOBCLOCK_DATA_DIR")),
            actions=_actions(env),
            outbound_deny=deny,
            outbound_allow=allow,
            host_limits=_host_limits(env),
            otel_exporter=_otel_exporter(env),
        )

    @property
    def node_name(self) -> str:
        """This node's name (``JOBCLOCK_NODE``), by default ``host:port``: stable across
        restarts, so a restarted node takes its own unfinished attempts back at once."""
        return self.node or f"{socket.gethostname()}:{self.port}"

    def tracing(self) -> HeaderTracing | OtelTracing:
        """The engine's tracing (see :mod:`jobclock.tracing`); ``ValueError`` when the
        exporter's package is missing."""
        return tracing_from_environment(
            {EXPORTER_VARIABLE: self.otel_exporter or ""}, self.node_name
        )

    def worker_environment(self, name: str) -> dict[str, str]:
        """The environment of a worker process of ``jobclock serve --workers``
        (:mod:`jobclock.workers`): this one's, with these settings (the command line's
        options included) and the worker's node name ``name``."""
        return os.environ | {
            "JOBCLOCK_DB": self.db,
            "JOBCLOCK_HOST": self.host,
            "JOBCLOCK_PORT": str(self.port),
            "JOBCLOCK_NODE": name,
            "JOBCLOCK_CONCURRENCY": str(self.concurrency),
            "JOBCLOCK_LEASE_SECONDS": repr(self.lease_seconds),
            "JOBCLOCK_REGION": self.region,
            "JOBCLOCK_DATA_DIR": str(self.data_dir),
            "JOBCLOCK_WORKERS": "1",
        }

    @property
    def data_dir(self) -> Path:
        """Where the token and key files live: beside a SQLite database, else
        ``JOBCLOCK_DATA_DIR`` or the working directory."""
        url = make_url(self.db)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(str(url.database)).resolve().parent
        return Path(self.data_directory or ".").resolve()


def _number(kind: type[_N], name: str, value: object, least: _N) -> _N:
    try:
        number = kind(str(value))
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {str(value)!r}") from None
    if not number >= least:  # also refuses NaN
        raise SettingsError(f"{name} must be at least {least}, not {str(value)!r}")
    return number


def _outbound(env: Mapping[str, str]) -> tuple[tuple[Network, ...], tuple[Network, ...]]:
    """The deny and allow ranges; a malformed one is a one-line start-up error, not a
    traceback."""
    try:
        return (
            parse_networks(env.get(DENY_VARIABLE, ""), DENY_VARIABLE),
            parse_networks(env.get(ALLOW_VARIABLE, ""), ALLOW_VARIABLE),
        )
    except ValueError as error:
        raise SettingsError(str(error)) from None


def _actions(env: Mapping[str, str]) -> ActionSettings:
    """The executors' variables; a bad one is a one-line start-up error naming it."""
    try:
        return ActionSettings.from_variables(env)
    except ValueError as error:
        raise SettingsError(str(error)) from None


def _port(value: object) -> int:
    try:
        port = int(str(value))
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        text = str(value).strip()
        shown = text if text.lstrip("-").isdigit() else repr(text)
        raise SettingsError(f"port {shown} is not a valid port (1-65535)")
    return port


def _check_db(db: str) -> None:
    """Refuse a URL jobclock cannot open, or a SQLite file in a directory that does not
    exist, before anything (token, key, database) is written."""
    unsupported = SettingsError(
        f"unsupported database URL {db!r} (use sqlite:///path or postgresql://...)"
    )
    try:
        url = make_url(db)
    except ArgumentError:
        raise unsupported from None
    if url.drivername not in _DRIVERS:
        raise unsupported
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        directory = Path(str(url.database)).resolve().parent
        if not directory.is_dir():
            raise SettingsError(f"the database directory {directory} does not exist")


def _optional(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """The API token kept in ``path``; a new one (mode 0600) on first start. Returns it and
    whether it was just created (so it is printed once)."""
    if path.exists():
        return path.read_text().strip(), False
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token, True
