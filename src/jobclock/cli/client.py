"""The REST client behind ``jobclock collections|jobs|history`` and the options they share.

:class:`ApiClient` speaks the ARM paths of §2.2 with httpx. Every way a call can fail ends
as a :class:`SchedulerError` (an :class:`ApiError` carrying the answer's HTTP status, or
:class:`Unreachable`), so :func:`jobclock.cli.main.main` prints one line and picks the exit
code from ``EXIT_CODES``; no httpx exception escapes.

The connection options (``--url``, ``--token``, ``--subscription``, ``--resource-group``,
``--output``) sit on each group, with ``JOBCLOCK_*`` variables and defaults, and again on
each subcommand, where they override the group's: both ``jobclock jobs --output json list
jc`` and ``jobclock jobs list jc --output json`` work.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import quote, urlsplit

import click
import httpx

from jobclock.cli.output import OUTPUT_MODES, Printer
from jobclock.domain.errors import SchedulerError

API_VERSION = "2016-03-01"
DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_SUBSCRIPTION = "default"
DEFAULT_RESOURCE_GROUP = "default"
PROVIDER = "providers/Microsoft.Scheduler/jobCollections"
TIMEOUT_SECONDS = 30.0
# A runaway chain of nextLinks stops here: 1000 pages of 100 is beyond any quota.
MAX_PAGES = 1000

JsonObject = dict[str, Any]
P = ParamSpec("P")
R = TypeVar("R")
FC = TypeVar("FC", bound=Callable[..., Any])


class ApiError(SchedulerError):
    """An error answer of the API: ``<message> (<code>)``, with the answer's HTTP status.

    ``status`` is the HTTP status itself, so ``EXIT_CODES`` maps 400→2, 401→4, 403→5,
    404→3, 409→6 and anything else to 1.
    """

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message if code is None else f"{message} ({code})", code=code)
        self.status = status


class BadAnswer(SchedulerError):
    """The server answered something that is not the API's shape (exit code 1)."""

    code = "InvalidResponse"
    status = 502


class Unreachable(SchedulerError):
    """No answer at all: refused, unknown host, TLS failure or timeout (exit code 1)."""

    code = "ServiceUnreachable"
    status = 503


@dataclass(frozen=True, slots=True)
class Connection:
    """Where and as whom to call, and how to print the answers."""

    url: str
    token: str | None
    subscription: str
    resource_group: str
    output: str = "table"


class ApiClient:
    """A synchronous client of the jobclock REST API (api-version 2016-03-01).

    Methods return the decoded JSON body (None for an empty one) or raise
    :class:`ApiError` / :class:`Unreachable`. Use it as a context manager.
    """

    def __init__(
        self, connection: Connection, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        parts = urlsplit(connection.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise click.UsageError(
                f"--url must be an http:// or https:// URL, got {connection.url!r}."
            )
        headers = {"Accept": "application/json", "User-Agent": f"jobclock-cli/{_version()}"}
        if connection.token:
            headers["Authorization"] = f"Bearer {connection.token}"
        self.connection = connection
        self._origin = (parts.scheme, parts.netloc.lower())
        self._http = httpx.Client(
            base_url=connection.url,
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            transport=transport,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- paths (§2.2) -------------------------------------------------------------------
    def collections_path(self, *, all_groups: bool = False) -> str:
        subscription = f"/subscriptions/{_segment(self.connection.subscription)}"
        if all_groups:
            return f"{subscription}/{PROVIDER}"
        return (
            f"{subscription}/resourceGroups/{_segment(self.connection.resource_group)}/{PROVIDER}"
        )

    def collection_path(self, collection: str) -> str:
        return f"{self.collections_path()}/{_segment(collection)}"

    def jobs_path(self, collection: str) -> str:
        return f"{self.collection_path(collection)}/jobs"

    def job_path(self, collection: str, job: str) -> str:
        return f"{self.jobs_path(collection)}/{_segment(job)}"

    def history_path(self, collection: str, job: str) -> str:
        return f"{self.job_path(collection, job)}/history"

    # -- calls --------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self.call("GET", path, params=params)

    def put(self, path: str, body: object) -> Any:
        return self.call("PUT", path, body=body)

    def patch(self, path: str, body: object) -> Any:
        return self.call("PATCH", path, body=body)

    def post(self, path: str, body: object = None) -> Any:
        return self.call("POST", path, body=body)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)

    def exists(self, path: str) -> bool:
        """Whether GET ``path`` finds the resource (404 → False; other errors raise)."""
        try:
            self.get(path)
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def list_all(self, path: str, params: dict[str, str] | None = None) -> JsonObject:
        """GET a list and follow ``nextLink`` to the end: ``{"value": [all], "nextLink": None}``.

        Links are followed verbatim (they carry ``api-version`` and ``$filter``, §2.5), and
        only on the origin of ``--url``, so the token never goes anywhere else.
        """
        page = self.get(path, params)
        items = _items(page)
        seen: set[str] = set()
        link = _next_link(page)
        while link:
            url = self._same_origin(link)
            if url in seen or len(seen) >= MAX_PAGES:
                raise BadAnswer(f"The server's nextLink chain does not end (at {url}).")
            seen.add(url)
            page = self.call("GET", url, versioned=False)
            items.extend(_items(page))
            link = _next_link(page)
        return {"value": items, "nextLink": None}

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: object = None,
        versioned: bool = True,
    ) -> Any:
        """One request; ``versioned`` adds ``api-version`` (a nextLink already has it)."""
        query = dict(params or {})
        if versioned:
            query["api-version"] = API_VERSION
        try:
            response = self._http.request(
                method, path, params=query or None, json=body if body is not None else None
            )
        except httpx.TimeoutException as exc:
            raise Unreachable(
                f"The jobclock API at {self.connection.url} did not answer {method} within "
                f"{TIMEOUT_SECONDS:.0f} s."
            ) from exc
        except httpx.HTTPError as exc:
            raise Unreachable(
                f"Cannot reach the jobclock API at {self.connection.url}: {_reason(exc)}. "
                "Is 'jobclock serve' running there? Set --url or JOBCLOCK_URL."
            ) from exc
        return self._answer(response)

    def _answer(self, response: httpx.Response) -> Any:
        if not response.is_success:
            raise self._error(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise BadAnswer(
                f"The server answered {response.status_code} with a body that is not JSON."
            ) from exc

    def _error(self, response: httpx.Response) -> ApiError:
        status = response.status_code
        code, message = _error_body(response)
        if message is None:
            message = f"The server answered HTTP {status} {response.reason_phrase}".rstrip() + "."
        if status == 401 and not self.connection.token:
            message += " No token was given: pass --token or set JOBCLOCK_TOKEN."
        return ApiError(status, _one_line(message), code)

    def _same_origin(self, link: str) -> str:
        parts = urlsplit(link)
        if (parts.scheme or parts.netloc) and (parts.scheme, parts.netloc.lower()) != self._origin:
            raise BadAnswer(
                f"The server's nextLink points to another origin ({parts.scheme}://"
                f"{parts.netloc}); not sending the token there."
            )
        return link


def _segment(name: str) -> str:
    return quote(name, safe="")


def _version() -> str:
    try:
        return version("jobclock")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def _items(page: object) -> list[Any]:
    if not isinstance(page, dict) or not isinstance(page.get("value"), list):
        raise BadAnswer("The server answered a list request without a 'value' array.")
    return list(page["value"])


def _next_link(page: JsonObject) -> str | None:
    link = page.get("nextLink")
    return link if isinstance(link, str) and link else None


def _error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """``(code, message)`` of ``{"error": {...}}`` or a bare ``{"code", "message"}``."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if not isinstance(body, dict):
        return None, None
    code, message = body.get("code"), body.get("message")
    return (
        code if isinstance(code, str) and code else None,
        message if isinstance(message, str) and message else None,
    )


def _reason(exc: httpx.HTTPError) -> str:
    text = _one_line(str(exc)) or type(exc).__name__
    # "[Errno 111] Connection refused" → "connection refused"
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)
    return text[:1].lower() + text[1:]


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- the connection options ----------------------------------------------------------------


class Choice(click.Choice[str]):
    """A case-insensitive choice whose error message spells the choices as documented."""

    def __init__(self, choices: Sequence[str]) -> None:
        super().__init__(list(choices), case_sensitive=False)

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return f"[{'|'.join(self.choices)}]"

    def get_invalid_choice_message(self, value: Any, ctx: click.Context | None) -> str:
        return f"{value!r} is not one of {', '.join(map(repr, self.choices))}."


@dataclass(slots=True)
class ConnectionSettings:
    """The options as parsed so far: the group's, then a subcommand's overrides."""

    url: str = DEFAULT_URL
    token: str | None = None
    subscription: str = DEFAULT_SUBSCRIPTION
    resource_group: str = DEFAULT_RESOURCE_GROUP
    output: str = "table"

    def connection(self) -> Connection:
        return Connection(
            url=self.url,
            token=self.token or None,
            subscription=self.subscription,
            resource_group=self.resource_group,
            output=self.output,
        )


def _record(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None and param.name is not None:
        setattr(ctx.ensure_object(ConnectionSettings), param.name, value)


def connection_options(*, group: bool) -> Callable[[FC], FC]:
    """The five connection options. On a group they read ``JOBCLOCK_*`` and have defaults;
    on a subcommand they default to None and override the group's when given."""

    def option(*names: str, envvar: str | None, default: object, help_text: str) -> Any:
        extra: dict[str, Any] = {}
        if group:
            extra = {"envvar": envvar, "default": default, "show_default": default is not None}
        return click.option(
            *names,
            expose_value=False,
            is_eager=False,
            callback=_record,
            help=help_text if group else f"{help_text} Overrides the group option.",
            **extra,
        )

    decorators = [
        option(
            "--url",
            envvar="JOBCLOCK_URL",
            default=DEFAULT_URL,
            help_text="Base URL of the jobclock API [env JOBCLOCK_URL].",
        ),
        option(
            "--token",
            envvar="JOBCLOCK_TOKEN",
            default=None,
            help_text="API bearer token; prefer the variable JOBCLOCK_TOKEN.",
        ),
        option(
            "--subscription",
            envvar="JOBCLOCK_SUBSCRIPTION",
            default=DEFAULT_SUBSCRIPTION,
            help_text="Subscription id [env JOBCLOCK_SUBSCRIPTION].",
        ),
        option(
            "--resource-group",
            envvar="JOBCLOCK_RESOURCE_GROUP",
            default=DEFAULT_RESOURCE_GROUP,
            help_text="Resource group [env JOBCLOCK_RESOURCE_GROUP].",
        ),
        click.option(
            "--output",
            "-o",
            type=Choice(OUTPUT_MODES),
            default="table" if group else None,
            show_default=group,
            expose_value=False,
            callback=_record,
            help="table: Rich tables for people; json: the API's JSON for scripts."
            + ("" if group else " Overrides the group option."),
        ),
    ]

    def apply(f: FC) -> FC:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


@dataclass(frozen=True, slots=True)
class Session:
    """What a subcommand works with: the client and the printer."""

    api: ApiClient
    out: Printer


def api_command(f: Callable[Concatenate[Session, P], R]) -> Callable[P, R]:
    """Give a subcommand the connection options and call it with a :class:`Session`."""

    @functools.wraps(f)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        settings = click.get_current_context().ensure_object(ConnectionSettings)
        connection = settings.connection()
        with ApiClient(connection) as api:
            return f(Session(api, Printer(connection.output)), *args, **kwargs)

    return connection_options(group=False)(run)
