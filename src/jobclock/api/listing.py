"""``$top``, ``$skip``, ``$filter`` and server paging of the list operations (§2.5)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, TypeVar
from urllib.parse import quote, urlencode

from fastapi import Query, Request
from pydantic import WithJsonSchema

from jobclock.domain.errors import InvalidDefinition

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
    Query(alias="$skip", description="Skip this many items first."),
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


def next_link(request: Request, paging: Paging, returned: int, more: bool) -> str | None:
    """The absolute URL of the next server page, or None when this page is the last.

    Server paging applies only when the client gave no ``$top``. The link keeps every
    query parameter of the request (``api-version``, ``$filter``) and advances ``$skip``,
    because clients GET it verbatim (§2.5).
    """
    if paging.top is not None or not more or returned == 0:
        return None
    query = [(key, value) for key, value in request.query_params.multi_items() if key != "$skip"]
    query.append(("$skip", str(paging.skip + returned)))
    return str(request.url.replace(query=urlencode(query, quote_via=quote, safe="$'")))
