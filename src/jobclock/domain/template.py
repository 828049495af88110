"""A small, safe template language for the text a job sends: HTTP uri, headers and body, and
queue message bodies. Literal text holds ``{{ expression }}`` placeholders; an expression is
a variable, a quoted string or an integer piped through filters, as in
``{{ scheduledTime | add("-P1D") | format("%Y-%m-%d") }}``. ``{{`` has no escape: a literal
one is written ``{{ "{{" }}``.

Variables: ``scheduledTime``, ``actualTime`` (UTC date-times), ``executionTag``, ``job``,
``collection`` (strings), ``attempt`` (an integer, 0 for the first attempt). Filters: on a
date-time ``add("P1M")`` (years and months on the calendar, clamped to the month's end; weeks
to seconds exact), ``format("%Y-%m-%d")``, ``tz("Europe/Paris")``, ``iso``, ``unix``; on a
string ``upper``, ``lower``, ``urlencode``, ``default("x")``; on anything ``json``. Unfiltered,
a date-time renders as ``iso``.

Small on purpose: no attribute access, indexing, calls, loops or conditionals, so user text
never reaches Python. Types are static, so a template that would fail on a type is refused
when the job is written, not when it runs; and output stops at ``limit`` characters.
"""

from __future__ import annotations

import dataclasses
import json
import re
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import lru_cache
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.instants import format_instant, require_aware

# The longest template text, the longest rendered text by default, and how many
# placeholders and filters a template may hold: enough for any real body, and a bound on
# the work one job definition can ask of the dispatcher.
MAX_TEXT = 65_536
MAX_OUTPUT = 65_536
MAX_PLACEHOLDERS = 100
MAX_FILTERS = 20
# Integer literals stay well inside Python's int-to-text limit (4,300 digits).
_MAX_DIGITS = 18

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_TOKEN = re.compile(
    r"""(?P<close>\}\})|(?P<pipe>\|)|(?P<open>\()|(?P<shut>\))
      |(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>[0-9]+)
      |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""",
    re.VERBOSE | re.ASCII | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_DURATION = re.compile(
    r"""(?P<sign>-)?P(?!$)(?:(?P<y>\d{1,9})Y)?(?:(?P<mo>\d{1,9})M)?(?:(?P<w>\d{1,9})W)?
        (?:(?P<d>\d{1,9})D)?(?:T(?=\d)(?:(?P<h>\d{1,9})H)?(?:(?P<mi>\d{1,9})M)?
        (?:(?P<s>\d{1,9})(?:[.,](?P<f>\d{1,6}))?S)?)?""",
    re.VERBOSE | re.ASCII,
)
_EXACT_UNITS = {"w": "weeks", "d": "days", "h": "hours", "mi": "minutes", "s": "seconds"}
_PRIMARY = "a placeholder starts with a variable, a quoted string or an integer"
_SYNTAX = f"{_PRIMARY}, then '| filter's; there is no attribute access, indexing or call"
# Zone names as IANA spells them; no dots, so a name can never climb out of the zone files.
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]{1,64}(?:/[A-Za-z0-9_+\-]{1,64}){0,3}", re.ASCII)

_Value = datetime | str | int
# A filter's function takes Any: the parser has checked its input's type against
# _Filter.accepts, a check the static types of Python cannot spell here.
_Apply = Callable[[Any], _Value]
_Build = Callable[[str, str, int], _Apply]  # (argument, field, position) -> function


class TemplateTooLong(InvalidDefinition):
    """A template renders to more characters than its limit allows."""


@dataclass(frozen=True, slots=True)
class TemplateValues:
    """What the variables of a template stand for in one attempt of one execution."""

    scheduled_time: datetime
    actual_time: datetime
    execution_tag: str
    job: str
    collection: str
    attempt: int

    def __post_init__(self) -> None:
        for name in ("scheduled_time", "actual_time"):
            object.__setattr__(self, name, require_aware(getattr(self, name), name))


class _Kind(Enum):
    """The static type of a value; the enum value is how a message names it."""

    TIME = "a date-time"
    TEXT = "a string"
    NUMBER = "an integer"


_VARIABLES: dict[str, tuple[_Kind, Callable[[TemplateValues], _Value]]] = {
    "scheduledTime": (_Kind.TIME, lambda values: values.scheduled_time),
    "actualTime": (_Kind.TIME, lambda values: values.actual_time),
    "executionTag": (_Kind.TEXT, lambda values: values.execution_tag),
    "job": (_Kind.TEXT, lambda values: values.job),
    "collection": (_Kind.TEXT, lambda values: values.collection),
    "attempt": (_Kind.NUMBER, lambda values: values.attempt),
}


def _invalid(field: str, what: str, position: int, hint: str = "") -> InvalidDefinition:
    """Every message has one shape: "'field': what at character N; hint."."""
    detail = f"{what} at character {position}" + (f"; {hint}" if hint else "")
    return InvalidDefinition(f"'{field}': {detail}.", field=field)


def _iso(value: datetime) -> str:
    # Azure's own form in UTC ('Z', the fraction only when not zero); the offset elsewhere.
    return format_instant(value) if not value.utcoffset() else value.isoformat()


def _unix(value: datetime) -> int:
    # Integer arithmetic, not timestamp(): a float loses microseconds far from 1970.
    return (value - _EPOCH) // timedelta(seconds=1)


def _json(value: _Value) -> str:
    return json.dumps(_iso(value) if isinstance(value, datetime) else value, ensure_ascii=False)


# strftime re-done for the allowed directives: the platform's follows the process locale and
# pads years before 1000 differently from one libc to the next; these never change.
_DIRECTIVES: dict[str, Callable[[datetime], str]] = {
    "Y": lambda d: f"{d.year:04d}", "m": lambda d: f"{d.month:02d}",
    "d": lambda d: f"{d.day:02d}", "H": lambda d: f"{d.hour:02d}",
    "M": lambda d: f"{d.minute:02d}", "S": lambda d: f"{d.second:02d}",
    "y": lambda d: f"{d.year % 100:02d}", "j": lambda d: f"{d.timetuple().tm_yday:03d}",
    "a": lambda d: _DAYS[d.weekday()][:3], "A": lambda d: _DAYS[d.weekday()],
    "b": lambda d: _MONTHS[d.month - 1][:3], "B": lambda d: _MONTHS[d.month - 1],
    "p": lambda d: "AM" if d.hour < 12 else "PM", "f": lambda d: f"{d.microsecond:06d}",
    "z": lambda d: d.strftime("%z"), "Z": lambda d: d.tzname() or "",
    "G": lambda d: f"{d.isocalendar().year:04d}", "V": lambda d: f"{d.isocalendar().week:02d}",
    "u": lambda d: str(d.isoweekday()), "w": lambda d: str(d.isoweekday() % 7),
    # Weeks of the year from its first Sunday (%U) or Monday (%W), as C's strftime counts.
    "U": lambda d: f"{(d.timetuple().tm_yday + 6 - d.isoweekday() % 7) // 7:02d}",
    "W": lambda d: f"{(d.timetuple().tm_yday + 6 - d.weekday()) // 7:02d}", "%": lambda d: "%",
}  # fmt: skip


def _shift(value: datetime, months: int, exact: timedelta) -> datetime:
    """Calendar months on the wall date, clamped to the month's end (31 January + P1M is
    the last of February), then exact time on the UTC line, read back in the value's zone."""
    if months:
        year, month = divmod(value.year * 12 + value.month - 1 + months, 12)
        if not 1 <= year <= 9999:
            raise OverflowError("year out of range")
        day = min(value.day, monthrange(year, month + 1)[1])
        value = value.replace(year=year, month=month + 1, day=day)
    return (value.astimezone(UTC) + exact).astimezone(value.tzinfo)


def _build_add(argument: str, field: str, position: int) -> _Apply:
    match = _DURATION.fullmatch(argument.upper())
    if match is None:
        hint = f"{argument!r} is not an ISO 8601 duration such as 'P1D', '-PT30M' or 'P1M'"
        raise _invalid(field, "filter 'add'", position, hint)
    sign = -1 if match["sign"] else 1
    months = sign * (int(match["y"] or 0) * 12 + int(match["mo"] or 0))
    units = {name: int(match[key] or 0) for key, name in _EXACT_UNITS.items()}
    try:
        exact = sign * timedelta(microseconds=int((match["f"] or "").ljust(6, "0")), **units)
    except OverflowError as exc:  # more than 999,999,999 days
        raise _invalid(field, "filter 'add'", position, f"{argument!r} is too long") from exc
    return lambda value: _shift(value, months, exact)


def _build_format(argument: str, field: str, position: int) -> _Apply:
    pieces: list[str | Callable[[datetime], str]] = []
    for match in re.finditer(r"[^%]+|%.?", argument, re.DOTALL):
        piece = match[0]
        if piece[0] != "%":
            pieces.append(piece)
        elif piece[1:] not in _DIRECTIVES:
            allowed = " ".join(f"%{name}" for name in _DIRECTIVES)
            used = "a lone '%' at its end" if piece == "%" else repr(piece)
            hint = f"the pattern uses {used}; the directives allowed are {allowed}"
            raise _invalid(field, "filter 'format'", position, hint)
        else:
            pieces.append(_DIRECTIVES[piece[1:]])
    return lambda value: "".join(p if isinstance(p, str) else p(value) for p in pieces)


def _build_tz(argument: str, field: str, position: int) -> _Apply:
    try:
        zone = ZoneInfo(argument) if _ZONE_NAME.fullmatch(argument) else None
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, as 'Europe'
        zone = None
    if zone is None:
        hint = f"{argument!r} is not a known IANA time zone such as 'Europe/Paris'"
        raise _invalid(field, "filter 'tz'", position, hint)
    return lambda value: value.astimezone(zone)


def _build_default(argument: str, field: str, position: int) -> _Apply:
    return lambda value: value or argument


def _urlencode(value: str) -> str:
    # errors="replace": a lone surrogate (JSON lets one through) must not fail a run.
    return quote(value, safe="", errors="replace")


@dataclass(frozen=True, slots=True)
class _Filter:
    """What a filter works on and gives, and how its argument becomes a function;
    ``example`` is None for a filter that takes no argument."""

    accepts: tuple[_Kind, ...]
    returns: _Kind
    build: _Build
    example: str | None = None


_TIME, _TEXT = (_Kind.TIME,), (_Kind.TEXT,)
_FILTERS: dict[str, _Filter] = {
    "add": _Filter(_TIME, _Kind.TIME, _build_add, 'add("P1D")'),
    "format": _Filter(_TIME, _Kind.TEXT, _build_format, 'format("%Y-%m-%d")'),
    "tz": _Filter(_TIME, _Kind.TIME, _build_tz, 'tz("Europe/Paris")'),
    "iso": _Filter(_TIME, _Kind.TEXT, lambda *_: _iso),
    "unix": _Filter(_TIME, _Kind.NUMBER, lambda *_: _unix),
    "upper": _Filter(_TEXT, _Kind.TEXT, lambda *_: str.upper),
    "lower": _Filter(_TEXT, _Kind.TEXT, lambda *_: str.lower),
    "urlencode": _Filter(_TEXT, _Kind.TEXT, lambda *_: _urlencode),
    "json": _Filter(tuple(_Kind), _Kind.TEXT, lambda *_: _json),
    "default": _Filter(_TEXT, _Kind.TEXT, _build_default, 'default("none")'),
}


@dataclass(frozen=True, slots=True)
class _Step:
    """One filter of a placeholder, ready to run; name and position are for messages."""

    name: str
    position: int
    apply: _Apply


@dataclass(frozen=True, slots=True)
class _Placeholder:
    source: Callable[[TemplateValues], _Value]
    steps: tuple[_Step, ...]


class _Parser:
    """Reads one template text left to right, checking types as it goes. A token is the
    match of _TOKEN: ``lastgroup`` names its kind; messages count characters from 1."""

    def __init__(self, text: str, field: str) -> None:
        self.text, self.field, self.pos = text, field, 0

    def parts(self) -> tuple[str | _Placeholder, ...]:
        parts: list[str | _Placeholder] = []
        count = 0
        while (start := self.text.find("{{", self.pos)) != -1:
            if start > self.pos:
                parts.append(self.text[self.pos : start])
            count += 1
            if count > MAX_PLACEHOLDERS:
                hint = f"a template holds at most {MAX_PLACEHOLDERS}"
                raise _invalid(self.field, "one placeholder too many", start + 1, hint)
            self.pos = start + 2
            parts.append(self._placeholder(start))
        if self.pos < len(self.text):
            parts.append(self.text[self.pos :])
        return tuple(parts)

    def _placeholder(self, start: int) -> _Placeholder:
        kind, source = self._primary(self._next(start))
        steps: list[_Step] = []
        while (token := self._next(start)).lastgroup != "close":
            if token.lastgroup != "pipe":
                raise self._fail(f"expected '|' or '}}}}' but found {token[0]!r}", token)
            if len(steps) == MAX_FILTERS:
                hint = f"a placeholder holds at most {MAX_FILTERS}"
                raise self._fail("one filter too many", token, hint)
            kind, step = self._filter(kind, start)
            steps.append(step)
        return _Placeholder(source, tuple(steps))

    def _primary(self, token: re.Match[str]) -> tuple[_Kind, Callable[[TemplateValues], _Value]]:
        constant: _Value
        if token.lastgroup == "name" and token[0] in _VARIABLES:
            return _VARIABLES[token[0]]
        if token.lastgroup == "name":
            hint = f"the variables are {', '.join(_VARIABLES)}"
            raise self._fail(f"unknown variable {token[0]!r}", token, hint)
        if token.lastgroup == "string":
            kind, constant = _Kind.TEXT, self._string(token)
        elif token.lastgroup == "number" and len(token[0]) <= _MAX_DIGITS:
            kind, constant = _Kind.NUMBER, int(token[0])
        elif token.lastgroup == "number":
            raise self._fail("integer too long", token, f"at most {_MAX_DIGITS} digits")
        elif token.lastgroup == "close":
            raise self._fail("empty placeholder", token, _PRIMARY)
        else:
            raise self._fail(f"unexpected {token[0]!r}", token, _PRIMARY)
        return kind, lambda values: constant

    def _filter(self, kind: _Kind, start: int) -> tuple[_Kind, _Step]:
        name = self._next(start)
        if name.lastgroup != "name":
            raise self._fail(f"expected a filter name but found {name[0]!r}", name)
        spec = _FILTERS.get(name[0])
        if spec is None:
            hint = f"the filters are {', '.join(_FILTERS)}"
            raise self._fail(f"unknown filter {name[0]!r}", name, hint)
        argument = self._argument(start)
        what = f"filter {name[0]!r}"
        if kind not in spec.accepts:
            wanted = " or ".join(accepted.value for accepted in spec.accepts)
            raise self._fail(what, name, f"it works on {wanted} but is given {kind.value}")
        if spec.example is not None and argument is None:
            raise self._fail(what, name, f"it needs an argument, as in {spec.example}")
        if spec.example is None and argument is not None:
            raise self._fail(what, name, "it takes no argument")
        apply = spec.build(argument or "", self.field, name.start() + 1)
        return spec.returns, _Step(name[0], name.start() + 1, apply)

    def _argument(self, start: int) -> str | None:
        """The string in ``(...)`` after a filter name; None without one, or for ``()``."""
        before = self.pos
        if self._next(start).lastgroup != "open":
            self.pos = before
            return None
        token = self._next(start)
        if token.lastgroup == "shut":
            return None
        if token.lastgroup != "string":
            raise self._fail(f"expected a quoted string or ')' but found {token[0]!r}", token)
        if (shut := self._next(start)).lastgroup != "shut":
            raise self._fail(f"expected ')' but found {shut[0]!r}", shut)
        return self._string(token)

    def _string(self, token: re.Match[str]) -> str:
        mark, body = token[0][0], token[0][1:-1]
        for match in _ESCAPE.finditer(body):
            if match[1] not in (mark, "\\"):
                at = token.start() + 2 + match.start()  # past the opening quote
                hint = f"a backslash may only come before {mark} or another backslash"
                shown = match[0] if match[1].isprintable() else repr(match[0])
                raise _invalid(self.field, f"unknown escape '{shown}'", at, hint)
        return _ESCAPE.sub(r"\1", body)

    def _next(self, start: int) -> re.Match[str]:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1
        if self.pos == len(self.text):
            hint = "close it with '}}', or write a literal '{{' as {{ \"{{\" }}"
            raise _invalid(self.field, "unclosed '{{'", start + 1, hint)
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            char, at = self.text[self.pos], self.pos + 1
            if char in "\"'":
                raise _invalid(self.field, "unclosed string", at)
            raise _invalid(self.field, f"unexpected {char!r}", at, _SYNTAX)
        self.pos = match.end()
        return match

    def _fail(self, what: str, token: re.Match[str], hint: str = "") -> InvalidDefinition:
        return _invalid(self.field, what, token.start() + 1, hint)


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template; ``field`` is the definition field it came from, for messages."""

    text: str
    field: str
    # Closures do not compare equal across parses; the text and field say it all.
    parts: tuple[str | _Placeholder, ...] = dataclasses.field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, *, field: str) -> Template:
        """Parse and type-check ``text``; :class:`InvalidDefinition` naming ``field``."""
        if len(text) > MAX_TEXT:
            hint = f"a template holds at most {MAX_TEXT:,} characters, this one {len(text):,}"
            raise _invalid(field, "the template is too long", MAX_TEXT + 1, hint)
        return cls(text, field, _Parser(text, field).parts())

    @property
    def static(self) -> bool:
        """Whether the template has no placeholders, so renders to its own text."""
        return all(isinstance(part, str) for part in self.parts)

    def render(self, values: TemplateValues, *, limit: int = MAX_OUTPUT) -> str:
        """The text for ``values``; :class:`TemplateTooLong` past ``limit`` characters."""
        pieces: list[str] = []
        used = 0
        for part in self.parts:
            piece = part if isinstance(part, str) else self._value(part, values, used, limit)
            used += len(piece)
            if used > limit:
                raise self._too_long(limit)
            pieces.append(piece)
        return "".join(pieces)

    def _value(self, part: _Placeholder, values: TemplateValues, used: int, limit: int) -> str:
        value = part.source(values)
        for step in part.steps:
            try:
                value = step.apply(value)
            except (OverflowError, ValueError) as exc:  # date math past year 1 or 9999
                hint = "it takes the date-time outside the years 1 to 9999"
                raise _invalid(self.field, f"filter {step.name!r}", step.position, hint) from exc
            # No filter shortens a string, so a value past the room left can only end too
            # long; stopping here keeps a chain of 'urlencode's from growing without end.
            if isinstance(value, str) and used + len(value) > limit:
                raise self._too_long(limit)
        return _iso(value) if isinstance(value, datetime) else str(value)

    def _too_long(self, limit: int) -> TemplateTooLong:
        message = f"'{self.field}' renders to more than {max(limit, 0):,} characters; "
        message += "shorten its text or the values it takes in."
        return TemplateTooLong(message, field=self.field)


@lru_cache(maxsize=128)
def _parsed(text: str, field: str) -> Template:
    return Template.parse(text, field=field)


def check_template(text: str, *, field: str) -> None:
    """Raise :class:`InvalidDefinition` naming ``field`` unless ``text`` is a valid template."""
    _parsed(text, field)


def render_text(text: str, values: TemplateValues, *, field: str, limit: int = MAX_OUTPUT) -> str:
    """Parse (cached) and render ``text``; see :meth:`Template.parse` and :meth:`render`."""
    return _parsed(text, field).render(values, limit=limit)
