"""UTC instants: parsing ISO 8601 text into aware datetimes and formatting them as Azure did.

Azure printed instants in UTC with a ``Z``, with the fraction only when it is not zero and
trimmed of trailing zeros (§2.1). Inputs may carry any offset and 0 to 7 fractional digits
(.NET ticks); a naive instant is rejected, because guessing its zone would silently move a
job.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from jobclock.domain.errors import InvalidDefinition

_ISO_INSTANT = re.compile(
    r"""^\s*(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})
        [Tt ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?
        (?P<tz>[Zz]|[+-]\d{2}:?\d{2})?\s*$""",
    re.VERBOSE,
)


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
        value = datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"]),
            int(match["mi"]),
            int(match["s"] or 0),
            int(fraction),
            tzinfo=_offset(match["tz"]),
        )
    except ValueError as exc:
        message = f"'{field}' is not a valid date-time: {text!r}."
        raise InvalidDefinition(message, field=field) from exc
    return value.astimezone(UTC)


def _offset(text: str) -> timezone:
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def format_instant(value: datetime) -> str:
    """Format an aware instant as Azure did: UTC, ``Z``, trimmed fraction."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are never formatted; all instants are UTC-aware")
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def format_instant_seconds(value: datetime) -> str:
    """Format an aware instant to whole seconds, ``YYYY-MM-DDTHH:MM:SSZ`` (``preview``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def require_aware(value: datetime, name: str) -> datetime:
    """Return ``value`` in UTC; raise ``ValueError`` for a naive datetime (a programming error)."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)
