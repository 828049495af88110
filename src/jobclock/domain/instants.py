"""UTC instants: parsing ISO 8601 text into aware datetimes and formatting them as Azure did.

Azure printed instants in UTC with a ``Z``, with the fraction only when it is not zero and
trimmed of trailing zeros (§2.1). Inputs may carry any offset and 0 to 7 fractional digits
(.NET ticks); a naive instant is rejected, because guessing its zone would silently move a
job. Years are always written with four digits: what is formatted must parse back.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from jobclock.domain.errors import InvalidDefinition

_ISO_INSTANT = re.compile(
    r"""^\s*(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})
        [Tt ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?
        (?P<tz>[Zz]|[+-]\d{2}:?\d{2})?\s*$""",
    re.VERBOSE | re.ASCII,
)
# The instants a definition may hold (§2.1 [INF]): Azure Scheduler kept jobs in Azure
# Table storage, whose DateTime range is 1601-01-01 to 9999-12-31 UTC; the floor also keeps
# every instant, read as wall time in any zone, far from ``datetime.min``.
EARLIEST = datetime(1601, 1, 1, tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def parse_instant(text: object, *, field: str) -> datetime:
    """Parse an ISO 8601 instant with an offset into an aware UTC datetime.

    Raises :class:`InvalidDefinition` naming ``field`` when the text is not an instant or
    has no offset.
    """
    if not isinstance(text, str):
        raise InvalidDefinition(f"'{field}' must be an ISO 8601 date-time string.", field=field)
    match = _ISO_INSTANT.match(text)
    if match is None:
        raise InvalidDefinition(f"'{field}' is not an ISO 8601 date-time: {text!r}.", field=field)
    if match["tz"] is None:
        raise InvalidDefinition(
            f"'{field}' has no UTC offset: {text!r}. Add 'Z' or an offset such as '+01:00'.",
            field=field,
        )
    fraction = (match["f"] or "")[:6].ljust(6, "0")
    try:
        utc = datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"]),
            int(match["mi"]),
            int(match["s"] or 0),
            int(fraction),
            tzinfo=_offset(match["tz"]),
        ).astimezone(UTC)
    except ValueError as exc:
        message = f"'{field}' is not a valid date-time: {text!r}."
        raise InvalidDefinition(message, field=field) from exc
    except OverflowError as exc:  # the offset moves it before year 1 or after year 9999
        raise _out_of_range(text, field) from exc
    return utc


def check_instant_range(value: datetime, *, field: str) -> None:
    """Raise :class:`InvalidDefinition` naming ``field`` unless ``value`` lies between
    :data:`EARLIEST` and :data:`LATEST`."""
    if not EARLIEST <= value <= LATEST:
        raise _out_of_range(format_instant(value), field)


def _out_of_range(text: str, field: str) -> InvalidDefinition:
    return InvalidDefinition(
        f"'{field}' must be between {format_instant(EARLIEST)} and "
        f"{format_instant_seconds(LATEST)}; got {text!r}.",
        field=field,
    )


def _offset(text: str) -> timezone:
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if minutes >= 60:
        raise ValueError(f"offset minutes out of range: {text}")
    # timezone() itself refuses 24 hours or more with a ValueError.
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def format_instant(value: datetime) -> str:
    """Format an aware instant as Azure did: UTC, ``Z``, trimmed fraction."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are never formatted; all instants are UTC-aware")
    utc = value.astimezone(UTC)
    # Not strftime: its %Y does not pad years before 1000 to four digits.
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def format_instant_seconds(value: datetime) -> str:
    """Format an aware instant to whole seconds, ``YYYY-MM-DDTHH:MM:SSZ`` (``preview``)."""
    return format_instant(value.astimezone(UTC).replace(microsecond=0))


def require_aware(value: datetime, name: str) -> datetime:
    """Return ``value`` in UTC; raise ``ValueError`` for a naive datetime (a programming error)."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)
