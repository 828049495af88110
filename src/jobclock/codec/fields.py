"""Reading Azure-shaped JSON: keys case-insensitive, enums case-insensitive (§2.1).

Every failure raises :class:`InvalidDefinition` (or :class:`MalformedJob` for a wrong JSON
type) naming the dotted path of the offending field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from difflib import get_close_matches
from enum import Enum
from typing import TypeVar

from jobclock.domain.durations import Duration, parse_duration
from jobclock.domain.errors import InvalidDefinition, MalformedJob
from jobclock.domain.instants import parse_instant

E = TypeVar("E", bound=Enum)


class Fields:
    """A JSON object read with case-insensitive keys; ``path`` names it in messages.

    Given ``known`` (at once, or later through :meth:`reject_unknown` when the keys depend
    on a value such as a ``type``), a key outside it is an :class:`InvalidDefinition`
    naming its path and the nearest known key, and reading an undeclared key is a bug
    (``LookupError``), so the declared keys and the reads cannot drift apart.
    """

    __slots__ = ("_items", "_known", "_spelled", "path")

    def __init__(self, raw: object, path: str, known: Iterable[str] | None = None) -> None:
        if not isinstance(raw, Mapping):
            raise MalformedJob(f"'{path}' must be a JSON object.", field=path)
        self.path = path
        self._items: dict[str, object] = {}
        self._spelled: dict[str, str] = {}
        self._known: frozenset[str] | None = None
        for key, value in raw.items():
            if not isinstance(key, str):
                raise MalformedJob(f"'{path}' has a non-string key.", field=path)
            self._items[key.lower()] = value
            self._spelled[key.lower()] = key
        if known is not None:
            self.reject_unknown(known)

    def reject_unknown(self, known: Iterable[str]) -> None:
        """Raise :class:`InvalidDefinition` for the first key not in ``known`` (any case):
        ``unknown field 'a.b' (did you mean 'c'?)``, the suggestion only when one is close."""
        spellings = {key.lower(): key for key in known}
        self._known = frozenset(spellings)
        for lowered, key in self._spelled.items():
            if lowered not in spellings:
                close = get_close_matches(lowered, spellings, n=1)
                hint = f" (did you mean '{spellings[close[0]]}'?)" if close else ""
                raise InvalidDefinition(
                    f"unknown field '{self.name(key)}'{hint}", field=self.name(key)
                )

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _key(self, key: str) -> str:
        lowered = key.lower()
        if self._known is not None and lowered not in self._known:
            raise LookupError(f"{self.name(key)!r} is read but not declared as a known key")
        return lowered

    def has(self, key: str) -> bool:
        """True when the key is present, even with a null value."""
        return self._key(key) in self._items

    def raw(self, key: str) -> object:
        """The value, or None when absent or null."""
        return self._items.get(self._key(key))

    def require(self, key: str) -> object:
        value = self.raw(key)
        if value is None:
            raise InvalidDefinition(f"'{self.name(key)}' is required.", field=self.name(key))
        return value

    def obj(self, key: str, known: Iterable[str] | None = None) -> Fields | None:
        """The object under ``key`` (see the class for ``known``), or None."""
        value = self.raw(key)
        return None if value is None else Fields(value, self.name(key), known)

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.require(key) if required else self.raw(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise MalformedJob(f"'{self.name(key)}' must be a string.", field=self.name(key))
        return value

    def integer(self, key: str, *, required: bool = False) -> int | None:
        value = self.require(key) if required else self.raw(key)
        if value is None:
            return None
        return as_int(value, self.name(key))

    def boolean(self, key: str) -> bool | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise MalformedJob(f"'{self.name(key)}' must be true or false.", field=self.name(key))
        return value

    def instant(self, key: str) -> datetime | None:
        value = self.raw(key)
        return None if value is None else parse_instant(value, field=self.name(key))

    def duration(self, key: str) -> Duration | None:
        value = self.raw(key)
        return None if value is None else parse_duration(value, field=self.name(key))

    def enum(self, key: str, kind: type[E], *, required: bool = False) -> E | None:
        value = self.text(key, required=required)
        return None if value is None else parse_enum(value, kind, self.name(key))

    def array(self, key: str) -> list[object] | None:
        """A JSON array; a bare scalar is read as a one-element array (§3.7)."""
        value = self.raw(key)
        if value is None:
            return None
        return list(value) if isinstance(value, list) else [value]

    def string_map(self, key: str) -> dict[str, str] | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise MalformedJob(
                f"'{self.name(key)}' must be an object of string values.", field=self.name(key)
            )
        return dict(value)


def check_text(value: object, path: str = "") -> None:
    """Raise :class:`InvalidDefinition` naming the dotted path of the first string (value
    or key) in a decoded JSON value that is not Unicode text: JSON's ``\\ud800`` escapes
    can spell lone surrogates, which no UTF-8 answer, log or HTTP request can carry."""
    if isinstance(value, str):
        if _LONE_SURROGATE.search(value):
            where = path or "the body"
            raise InvalidDefinition(
                f"'{where}' is not valid Unicode text: it holds a lone surrogate "
                f"({_escaped(value)}); send characters, or surrogate pairs, only.",
                field=path or None,
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and _LONE_SURROGATE.search(key):
                where = path or "the body"
                raise InvalidDefinition(
                    f"'{where}' has a key that is not valid Unicode text: it holds a lone "
                    f"surrogate ({_escaped(key)}).",
                    field=path or None,
                )
            check_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_text(item, f"{path}[{index}]")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _escaped(text: str) -> str:
    """The first lone surrogate of ``text`` as ``\\udXXX``, printable anywhere."""
    found = _LONE_SURROGATE.search(text)
    return "" if found is None else f"\\u{ord(found.group()):04x}"


def as_int(value: object, name: str) -> int:
    """An integer JSON value (``5`` or ``5.0``, not ``true`` or ``"5"``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedJob(f"'{name}' must be an integer.", field=name)
    if isinstance(value, float):
        if not value.is_integer():
            raise MalformedJob(f"'{name}' must be an integer.", field=name)
        return int(value)
    return value


def parse_enum(value: str, kind: type[E], name: str) -> E:
    """The member of ``kind`` whose value matches ``value`` case-insensitively."""
    wanted = value.strip().lower()
    for member in kind:
        if str(member.value).lower() == wanted:
            return member
    allowed = ", ".join(f"'{member.value}'" for member in kind)
    raise InvalidDefinition(f"'{name}' must be one of {allowed}; got {value!r}.", field=name)
