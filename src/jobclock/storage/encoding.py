"""How the store encodes instants: integer microseconds since the Unix epoch (UTC), so
that every backend orders and compares them exactly (no time zones, no text formats)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = 1_000_000


def to_us(value: datetime) -> int:
    """Microseconds since the Unix epoch of an aware instant."""
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _US + delta.microseconds


def from_us(
    micros: int, _epoch: datetime = _EPOCH, _delta: type[timedelta] = timedelta
) -> datetime:
    """The aware UTC instant ``micros`` microseconds after the Unix epoch (positional
    arguments and bound names: it runs several times per row the engine reads)."""
    return _epoch + _delta(0, 0, micros)


def opt_us(value: datetime | None) -> int | None:
    return None if value is None else to_us(value)


def opt_from_us(micros: int | None) -> datetime | None:
    return None if micros is None else from_us(micros)
