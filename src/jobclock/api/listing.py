"""``$top``, ``$skip``, ``$filter`` and server paging of the list operations (§2.5).

Server paging is keyset paging (issue 13): the server's ``nextLink`` carries an opaque
``$skiptoken``, the position of the page's last row (a job's name, an entry's place in
the history), so that reading the next page costs the same however far it is. A token is
only a position in the list of the request's path: it grants nothing, and one the server
did not give is a 400.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, TypeVar
from urllib.parse import quote, urlencode

from fastapi import Query, Request
from pydantic import WithJsonSchema

from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.records import HistoryKey

# The largest page: the spec's ``$top`` maximum, and the server page when none is given.
PAGE_SIZE = 100

E = TypeVar("E", bound=Enum)

# Strings to FastAPI, so that a bad value is Azure's 400 naming it (parse_paging); integers
# in the OpenAPI document.
Top = Annotated[
    str | None,
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": PAGE_SIZE}),
    Query(alias="$top", description=f"At most this many items (1..{PAGE_SIZE})."),
]
Skip = Annotated[
    str | None,
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": 999_999_999}),
    Query(alias="$skip", description="Skip this many items first (after $skiptoken's)."),
]
SKIP_TOKEN = "$skiptoken"  # noqa: S105 - a query parameter's name, not a secret
SkipToken = Annotated[
    str | None,
    Query(
        alias=SKIP_TOKEN,
        description="Where the previous page ended: opaque, as the server's nextLink has it.",
    ),
]


def filter_schema(field: str, kind: type[Enum]) -> dict[str, object]:
    """The document's ``$filter``: one ``<field> eq <value>`` clause (see parse_filter)."""
    values = "|".join(str(member.value) for member in kind)
    return {"type": "string", "pattern": f"^{field} eq (({values})|'({values})')$"}


_CLAUSE = re.compile(
    r"^\s*(?P<field>[A-Za-z]+)\s+eq\s+(?:'(?P<quoted>[^']*)'|(?P<bare>[^\s']+))\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Paging:
    """The client's ``$top`` (None when not given) and ``$skip``."""

    top: int | None
    skip: int

    @property
    def limit(self) -> int:
        """How many items to ask the service for."""
        return PAGE_SIZE if self.top is None else self.top


def parse_paging(top: str | None, skip: str | None) -> Paging:
    """400 ``BadRequest`` unless ``$top`` is 1..100 and ``$skip`` is 0 or more."""
    top_value = None if top is None else _integer("$top", top)
    if top_value is not None and not 1 <= top_value <= PAGE_SIZE:
        raise InvalidDefinition(
            f"'$top' must be between 1 and {PAGE_SIZE}; got {top_value}.", field="$top"
        )
    skip_value = 0 if skip is None else _integer("$skip", skip)
    if skip_value < 0:
        raise InvalidDefinition(f"'$skip' must be 0 or more; got {skip_value}.", field="$skip")
    return Paging(top=top_value, skip=skip_value)


def _integer(name: str, text: str) -> int:
    stripped = text.strip()
    if not re.fullmatch(r"[+-]?\d{1,9}", stripped):
        raise InvalidDefinition(f"'{name}' must be an integer; got {text!r}.", field=name)
    return int(stripped)


def parse_filter(text: str | None, field: str, kind: type[E]) -> E | None:
    """``<field> eq <value>``, value optionally single-quoted, all case-insensitive.

    Exactly one clause on ``field``; anything else is 400 ``BadRequest``.
    """
    if text is None:
        return None
    match = _CLAUSE.match(text)
    if match is not None and match["field"].lower() == field.lower():
        wanted = (match["quoted"] if match["quoted"] is not None else match["bare"]).lower()
        for member in kind:
            if str(member.value).lower() == wanted:
                return member
    allowed = ", ".join(str(member.value) for member in kind)
    raise InvalidDefinition(
        f'Invalid $filter {text!r}: use a single clause "{field} eq <value>" with one of '
        f"{allowed}.",
        field="$filter",
    )


def next_link(request: Request, paging: Paging, token: str | None, more: bool) -> str | None:
    """The absolute URL of the next server page, or None when this page is the last.

    Server paging applies only when the client gave no ``$top``. The link keeps every
    query parameter of the request (``api-version``, ``$filter``) but ``$skip``, which this
    page used up, and carries ``token``, the position of the page's last row, as
    ``$skiptoken``, because clients GET it verbatim (§2.5).
    """
    if paging.top is not None or not more or token is None:
        return None
    query = [
        (key, value)
        for key, value in request.query_params.multi_items()
        if key not in ("$skip", SKIP_TOKEN)
    ]
    query.append((SKIP_TOKEN, token))
    return str(request.url.replace(query=urlencode(query, quote_via=quote, safe="$'")))


# -- $skiptoken ------------------------------------------------------------------------------
# base64url (no padding) of "<kind>1:<position>": "j1:<lower-cased name>" for jobs,
# "h1:<start time in µs since the epoch>.<write order>" for history entries. Opaque to
# clients; the kind keeps one list's token out of the other.
_TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]{1,600}")
_HISTORY_POSITION = re.compile(r"(-?\d{1,18})\.(\d{1,19})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_MAX_WRITTEN = 2**63 - 1  # a 64-bit id
_MAX_NAME = 100


def job_token(name: str) -> str:
    """The ``$skiptoken`` of the position after job ``name``."""
    return _encode("j1", name.lower())


def history_token(key: HistoryKey) -> str:
    """The ``$skiptoken`` of the position after the entry at ``key``."""
    return _encode("h1", f"{(key.start_time - _EPOCH) // _US}.{key.written}")


def parse_job_token(text: str | None) -> str | None:
    """The name a jobs list's ``$skiptoken`` is after; 400 unless the server gave it."""
    if text is None:
        return None
    name = _decode(text, "j1")
    if not 1 <= len(name) <= _MAX_NAME or not name.isprintable():
        raise _bad_token()
    return name


def parse_history_token(text: str | None) -> HistoryKey | None:
    """The place a history list's ``$skiptoken`` is after; 400 unless the server gave it."""
    if text is None:
        return None
    match = _HISTORY_POSITION.fullmatch(_decode(text, "h1"))
    if match is None or int(match[2]) > _MAX_WRITTEN:
        raise _bad_token()
    try:
        start = _EPOCH + int(match[1]) * _US
    except OverflowError:
        raise _bad_token() from None
    return HistoryKey(start, int(match[2]))


def _encode(kind: str, position: str) -> str:
    raw = f"{kind}:{position}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode(text: str, kind: str) -> str:
    if not _TOKEN_TEXT.fullmatch(text):
        raise _bad_token()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _bad_token() from None
    found, colon, position = raw.partition(":")
    if found != kind or not colon:
        raise _bad_token()
    return position


def _bad_token() -> InvalidDefinition:
    return InvalidDefinition(
        f"'{SKIP_TOKEN}' is not one this server gave for this list; follow the nextLink "
        "of the previous page as given.",
        field=SKIP_TOKEN,
    )
