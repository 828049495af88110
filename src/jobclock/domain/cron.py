"""Cron expressions (``recurrence.cron``, jobclock's extension): parsing and day matching.

Five fields (minute hour day-of-month month day-of-week) or six (a leading seconds field),
each a list of ``*``, ``N``, ``A-B``, any of them with ``/STEP``; month and weekday names
(``JAN``, ``MON``; case-insensitive); ``7`` is Sunday as ``0`` is. Day of month also takes
``L`` (the last day), ``LW`` (the last weekday), ``15W`` (the weekday nearest the 15th,
within the month) and ``?``; day of week takes ``5L`` / ``FRIL`` (the last Friday), ``MON#2``
(the second Monday) and ``?``. Macros: ``@yearly`` (``@annually``), ``@monthly``,
``@weekly``, ``@daily`` (``@midnight``), ``@hourly``.

Day of month and day of week combine as Vixie cron does: when both are restricted (neither
starts with ``*`` or ``?``) a day matching either fires; otherwise both must match (an
unrestricted field matches every day). The expression is read in the job's time zone; the
instants are computed by :mod:`jobclock.domain.occurrences`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from jobclock.domain.errors import InvalidDefinition

FIELD = "recurrence.cron"

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {
    name: index
    for index, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
        start=1,
    )
}
_DAYS = {
    name: index for index, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])
}
_MAX_LENGTH = 256


@dataclass(frozen=True, slots=True)
class CronDays:
    """The day fields resolved: which days of a month match."""

    month_days: frozenset[int]  # 1..31
    last_day: bool  # L
    last_weekday: bool  # LW
    nearest_weekdays: frozenset[int]  # nW: the weekday nearest day n
    week_days: frozenset[int]  # 0..6, Sunday = 0
    nth_week_days: frozenset[tuple[int, int]]  # (weekday, n): MON#2
    last_week_days: frozenset[int]  # 5L: the last Friday
    dom_restricted: bool
    dow_restricted: bool
    # Derived (not compared, not shown): ``month_days`` as a bit mask, bit ``d - 1`` for ``d``.
    month_mask: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        mask = 0
        for day in self.month_days:
            mask |= 1 << (day - 1)
        object.__setattr__(self, "month_mask", mask)

    def days_of_month(self, year: int, month: int, length: int) -> list[int]:
        """The matching days of one month, sorted: those both fields match, or either
        when both are restricted (an unrestricted field holds every day)."""
        return self.matching(length, (date(year, month, 1).weekday() + 1) % 7)

    def matching(self, length: int, first_weekday: int) -> list[int]:
        """The matching days of a month of ``length`` days whose 1st falls on
        ``first_weekday`` (Sunday = 0), sorted: all a month's days depend on."""
        by_month = {day for day in self.month_days if day <= length}
        if self.last_day:
            by_month.add(length)
        if self.last_weekday:
            by_month.add(_nearest_weekday(length, length, first_weekday))
        for day in self.nearest_weekdays:
            if day <= length:
                by_month.add(_nearest_weekday(day, length, first_weekday))
        by_week: set[int] = set()
        for weekday in self.week_days:
            by_week.update(range(1 + (weekday - first_weekday) % 7, length + 1, 7))
        for weekday, n in self.nth_week_days:
            day = 1 + (weekday - first_weekday) % 7 + 7 * (n - 1)
            if day <= length:
                by_week.add(day)
        for weekday in self.last_week_days:
            first = 1 + (weekday - first_weekday) % 7
            by_week.add(first + (length - first) // 7 * 7)
        if self.dom_restricted and self.dow_restricted:
            return sorted(by_month | by_week)
        return sorted(by_month & by_week)


@dataclass(frozen=True, slots=True)
class CronExpression:
    """A parsed cron expression; ``text`` is what the user wrote (echoed as given)."""

    text: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    days: CronDays
    # Derived at parse time (not compared, not shown): for each kind of year, ``leap * 7 +``
    # the weekday of its 1 January (Sunday = 0, as a day ordinal % 7), its matching days as
    # a bit mask, bit ``n`` for the day ``n`` days after 1 January.
    year_masks: tuple[int, ...] = field(init=False, repr=False, compare=False, default=())
    # Whether every day matches; and the first slot of a matching day, in seconds after
    # midnight.
    every_day: bool = field(init=False, repr=False, compare=False, default=False)
    first_second: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        masks = _year_masks(self.days, self.months)
        object.__setattr__(self, "year_masks", masks)
        every = all(mask == (1 << (365 + kind // 7)) - 1 for kind, mask in enumerate(masks))
        object.__setattr__(self, "every_day", every)
        first = self.hours[0] * 3600 + self.minutes[0] * 60 + self.seconds[0]
        object.__setattr__(self, "first_second", first)

    @property
    def has_seconds(self) -> bool:
        """Six fields: a seconds field (the ``Unlimited`` plan only, like ``Second``)."""
        return len(_fields(self.text)) == 6


_MONTH_LENGTHS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Bits 0, 7, 14, 21 and 28: one weekday of a month, from its first one.
_WEEKLY = sum(1 << (7 * week) for week in range(5))
# For each kind of year (leap * 7 + the weekday of 1 January, Sunday = 0), each month's
# (month, length, weekday of its 1st, days from 1 January to its 1st).
_YEAR_KINDS = tuple(
    tuple(
        (
            month + 1,
            29 if leap and month == 1 else length,
            (weekday + sum(_MONTH_LENGTHS[:month]) + (leap and month > 1)) % 7,
            sum(_MONTH_LENGTHS[:month]) + (leap and month > 1),
        )
        for month, length in enumerate(_MONTH_LENGTHS)
    )
    for leap in (0, 1)
    for weekday in range(7)
)
# Each month and the lengths it has.
_YEAR_KINDS_BY_MONTH = tuple(
    (month, (28, 29) if month == 2 else (length,))
    for month, length in enumerate(_MONTH_LENGTHS, start=1)
)


def _month_mask(days: CronDays, length: int, first_weekday: int) -> int:
    """:meth:`CronDays.matching` as a bit mask: bit ``d - 1`` for day ``d``."""
    full = (1 << length) - 1
    by_month = days.month_mask & full
    if days.last_day:
        by_month |= 1 << (length - 1)
    if days.last_weekday:
        by_month |= 1 << (_nearest_weekday(length, length, first_weekday) - 1)
    for day in days.nearest_weekdays:
        if day <= length:
            by_month |= 1 << (_nearest_weekday(day, length, first_weekday) - 1)
    by_week = 0
    for weekday in days.week_days:
        by_week |= _WEEKLY << (weekday - first_weekday) % 7
    for weekday, n in days.nth_week_days:
        by_week |= 1 << ((weekday - first_weekday) % 7 + 7 * (n - 1))
    for weekday in days.last_week_days:
        first = (weekday - first_weekday) % 7
        by_week |= 1 << (first + (length - 1 - first) // 7 * 7)
    if days.dom_restricted and days.dow_restricted:
        return (by_month | by_week) & full
    return by_month & by_week & full


def _year_masks(days: CronDays, months: frozenset[int]) -> tuple[int, ...]:
    """The matching days of the 14 kinds of year (see ``CronExpression.year_masks``)."""
    kept = [kind for kind in _YEAR_KINDS_BY_MONTH if kind[0] in months]
    lengths = {length for _, lengths_of in kept for length in lengths_of}
    by_month = {
        (length, weekday): _month_mask(days, length, weekday)
        for length in lengths
        for weekday in range(7)
    }
    masks = []
    for kind in _YEAR_KINDS:
        mask = 0
        for month, length, first_weekday, into in kind:
            if month in months:
                mask |= by_month[length, first_weekday] << into
        masks.append(mask)
    return tuple(masks)


def _fields(text: str) -> list[str]:
    stripped = text.strip()
    expanded = _MACROS.get(stripped.lower(), stripped)
    return expanded.split()


def parse_cron(text: str) -> CronExpression:
    """The expression ``text``; :class:`InvalidDefinition` naming the field otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise _invalid("must be a cron expression of 5 or 6 fields")
    if len(text) > _MAX_LENGTH:
        raise _invalid(f"must be at most {_MAX_LENGTH} characters")
    if text.strip().startswith("@") and text.strip().lower() not in _MACROS:
        raise _invalid(
            f"{text.strip()!r} is not a macro (@yearly, @monthly, @weekly, @daily, @hourly)"
        )
    fields = _fields(text)
    if len(fields) not in (5, 6):
        raise _invalid(f"has {len(fields)} fields; it needs 5 (or 6 with seconds)")
    if len(fields) == 5:
        fields = ["0", *fields]
    second, minute, hour, dom, month, dow = fields
    seconds = _values(second, 0, 59, "seconds", {})
    minutes = _values(minute, 0, 59, "minute", {})
    hours = _values(hour, 0, 23, "hour", {})
    months = _values(month, 1, 12, "month", _MONTHS)
    days = _days(dom, dow)
    return CronExpression(
        text, tuple(sorted(seconds)), tuple(sorted(minutes)), tuple(sorted(hours)),
        frozenset(months), days,
    )  # fmt: skip


def _invalid(what: str) -> InvalidDefinition:
    return InvalidDefinition(f"'{FIELD}' {what}.", field=FIELD)


def _number(text: str, low: int, high: int, name: str, names: dict[str, int]) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit() or not text.isascii() or len(text) > 2:
        raise _invalid(f"has {text!r} in its {name} field, not a number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise _invalid(f"has {value} in its {name} field, outside {low}-{high}")
    return value


def _values(text: str, low: int, high: int, name: str, names: dict[str, int]) -> set[int]:
    """A field's list of ``*``, ``N``, ``A-B``, each with an optional ``/STEP``."""
    found: set[int] = set()
    for item in text.split(","):
        if not item:
            raise _invalid(f"has an empty item in its {name} field")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or not step_text.isascii() or len(step_text) > 2:
                raise _invalid(f"has a step {step_text!r} in its {name} field")
            step = int(step_text)
            if not 1 <= step <= high - low + 1:
                raise _invalid(f"has a step {step} in its {name} field, outside 1-{high}")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start, _, end = base.partition("-")
            first = _number(start, low, high, name, names)
            last = _number(end, low, high, name, names)
            if last < first:
                raise _invalid(f"has a range {base!r} in its {name} field that runs backwards")
        else:
            first = _number(base, low, high, name, names)
            last = high if slash else first
        found.update(range(first, last + 1, step))
    return found


def _days(dom: str, dow: str) -> CronDays:
    month_days: set[int] = set()
    last_day = last_weekday = False
    nearest: set[int] = set()
    dom_restricted = not dom.startswith(("*", "?"))
    if dom == "?":
        dom = "*"
    for item in dom.split(","):
        upper = item.upper()
        if upper == "L":
            last_day = True
        elif upper == "LW":
            last_weekday = True
        elif upper.endswith("W") and "/" not in upper and "-" not in upper:
            nearest.add(_number(upper[:-1], 1, 31, "day-of-month", {}))
        else:
            month_days |= _values(item, 1, 31, "day-of-month", {})
    week_days: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last_week: set[int] = set()
    dow_restricted = not dow.startswith(("*", "?"))
    if dow == "?":
        dow = "*"
    for item in dow.split(","):
        upper = item.upper()
        if "#" in upper:
            day_text, _, n_text = upper.partition("#")
            weekday = _number(day_text, 0, 7, "day-of-week", _DAYS) % 7
            if not n_text.isdigit() or not 1 <= int(n_text) <= 5:
                raise _invalid(f"has {item!r} in its day-of-week field; '#' takes 1-5")
            nth.add((weekday, int(n_text)))
        elif upper.endswith("L") and len(upper) > 1:
            last_week.add(_number(upper[:-1], 0, 7, "day-of-week", _DAYS) % 7)
        else:
            week_days |= {value % 7 for value in _values(item, 0, 7, "day-of-week", _DAYS)}
    return CronDays(
        frozenset(month_days), last_day, last_weekday, frozenset(nearest),
        frozenset(week_days), frozenset(nth), frozenset(last_week),
        dom_restricted, dow_restricted,
    )  # fmt: skip


def _nearest_weekday(day: int, length: int, first_weekday: int) -> int:
    """The weekday (Monday to Friday) nearest ``day`` without leaving the month."""
    weekday = (first_weekday + day - 1) % 7  # Sunday = 0
    if weekday == 6:  # Saturday: Friday, or Monday when the 1st is a Saturday
        return day - 1 if day > 1 else day + 2
    if weekday == 0:  # Sunday: Monday, or Friday when it is the month's last day
        return day + 1 if day < length else day - 2
    return day
