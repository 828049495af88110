"""Durations that remember the form they were given in.

Azure read retry intervals and time-to-live values both as ISO 8601 (``PT30S``) and as .NET
TimeSpan text (``00:00:30``, ``1.00:00:00``). Microsoft's current Python client sends and
expects ISO 8601; older clients send and expect TimeSpan, so a duration is echoed in the form
it came in (§2.6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum

from jobclock.domain.errors import InvalidDefinition

_ISO = re.compile(
    r"""^P(?!$)(?:(?P<y>\d+(?:[.,]\d+)?)Y)?(?:(?P<mo>\d+(?:[.,]\d+)?)M)?
        (?:(?P<w>\d+(?:[.,]\d+)?)W)?(?:(?P<d>\d+(?:[.,]\d+)?)D)?
        (?:T(?=\d)(?:(?P<h>\d+(?:[.,]\d+)?)H)?(?:(?P<mi>\d+(?:[.,]\d+)?)M)?
        (?:(?P<s>\d+(?:[.,]\d+)?)S)?)?$""",
    re.VERBOSE,
)
_TIMESPAN = re.compile(
    r"^(?P<neg>-)?(?:(?P<d>\d+)\.)?(?P<h>\d{1,2}):(?P<mi>\d{1,2})(?::(?P<s>\d{1,2})(?:\.(?P<f>\d{1,7}))?)?$"
)
# Nominal lengths for the calendar units an ISO duration may carry (PnM, PnY).
_SECONDS = {
    "y": 365 * 86400,
    "mo": 30 * 86400,
    "w": 7 * 86400,
    "d": 86400,
    "h": 3600,
    "mi": 60,
    "s": 1,
}


class DurationForm(Enum):
    """The notation a duration was written in."""

    ISO8601 = "iso8601"
    TIMESPAN = "timespan"


@dataclass(frozen=True, slots=True)
class Duration:
    """A non-negative length of time and the text it is echoed as."""

    value: timedelta
    text: str
    form: DurationForm

    @classmethod
    def of(cls, value: timedelta) -> Duration:
        """A duration created by jobclock itself, written in ISO 8601."""
        return cls(value, iso8601(value), DurationForm.ISO8601)


def parse_duration(text: object, *, field: str) -> Duration:
    """Parse ISO 8601 (``PT30S``, ``P1DT12H``, ``PT1.5S``) or TimeSpan (``1.00:00:00``) text."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidDefinition(
            f"'{field}' must be a duration such as 'PT30S' or '00:00:30'.", field=field
        )
    raw = text.strip()
    iso = _ISO.match(raw.upper())
    if iso is not None:
        total = Decimal(0)
        for unit, seconds in _SECONDS.items():
            part = iso[unit]
            if part is not None:
                total += Decimal(part.replace(",", ".")) * seconds
        return Duration(_to_timedelta(total, field), raw.upper(), DurationForm.ISO8601)
    span = _TIMESPAN.match(raw)
    if span is not None:
        hours, minutes, seconds = int(span["h"]), int(span["mi"]), int(span["s"] or 0)
        if span["neg"] or hours > 23 or minutes > 59 or seconds > 59:
            raise InvalidDefinition(f"'{field}' is not a valid duration: {text!r}.", field=field)
        fraction = Decimal("0." + span["f"]) if span["f"] else Decimal(0)
        total = Decimal(int(span["d"] or 0) * 86400 + hours * 3600 + minutes * 60 + seconds)
        return Duration(_to_timedelta(total + fraction, field), raw, DurationForm.TIMESPAN)
    raise InvalidDefinition(
        f"'{field}' is not a duration: {text!r}. Use ISO 8601 ('PT30S') or a TimeSpan "
        "('00:00:30').",
        field=field,
    )


def _to_timedelta(seconds: Decimal, field: str) -> timedelta:
    try:
        micros = int((seconds * 1_000_000).to_integral_value())
        return timedelta(microseconds=micros)
    except (OverflowError, InvalidOperation) as exc:
        raise InvalidDefinition(f"'{field}' is too long a duration.", field=field) from exc


def iso8601(value: timedelta) -> str:
    """Write a timedelta as ISO 8601, the way isodate does (``PT30S``, ``P1DT12H``, ``P0D``)."""
    days = value.days
    rest = value.seconds
    micros = value.microseconds
    if not rest and not micros:
        return f"P{days}D"
    text = f"P{days}D" if days else "P"
    text += "T"
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if seconds or micros:
        text += f"{seconds}" + (f".{micros:06d}".rstrip("0") if micros else "") + "S"
    return text


def timespan(value: timedelta) -> str:
    """Write a timedelta as .NET TimeSpan text (``00:00:30``, ``1.00:00:00``)."""
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{value.days}." if value.days else ""
    text += f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if value.microseconds:
        text += f".{value.microseconds * 10:07d}"
    return text
