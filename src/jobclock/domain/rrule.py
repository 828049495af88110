"""RFC 5545 recurrence rules (``recurrence.rrule``, jobclock's extension): parsing and the
rule's wall times.

``FREQ`` (``SECONDLY`` … ``YEARLY``), ``INTERVAL``, ``COUNT``, ``UNTIL``, ``BYSECOND``,
``BYMINUTE``, ``BYHOUR``, ``BYDAY`` (with ordinals: ``-1FR``), ``BYMONTHDAY``,
``BYYEARDAY``, ``BYWEEKNO``, ``BYMONTH``, ``BYSETPOS`` and ``WKST``; an ``RRULE:`` prefix is
allowed. The job's ``startTime``, read in its time zone, is ``DTSTART``: the rule expands in
wall time from it, and :mod:`jobclock.domain.occurrences` turns wall times into instants
(the job's DST policy decides gaps and folds).

How it finds a wall time: periods (years, months, weeks from ``WKST``, days, hours, minutes,
seconds) are regular, so the search jumps straight to the period that holds the lower
bound, builds that period's set (the days every ``BY`` rule keeps, times its times, then
``BYSETPOS``) and walks forward period by period; a period of less than a day whose day no
rule keeps is passed a day at a time. The answers are those of ``dateutil.rrule`` (the
tests use it as an oracle), which counts ``DTSTART`` only when the rule matches it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from math import gcd

from jobclock.domain.errors import InvalidDefinition

FIELD = "recurrence.rrule"

FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # Python's weekday() order
_MAX_LENGTH = 1024
# The Gregorian calendar repeats every 400 years: a rule that keeps no day in 400 years'
# worth of periods never will.
_YEARS = 400


@dataclass(frozen=True, slots=True)
class RRule:
    """A parsed rule; ``text`` is what the user wrote (echoed as given)."""

    text: str
    freq: str
    interval: int = 1
    count: int | None = None
    until: datetime | None = None  # naive: UTC when written with Z, else wall time
    until_utc: bool = False
    by_second: tuple[int, ...] = ()
    by_minute: tuple[int, ...] = ()
    by_hour: tuple[int, ...] = ()
    by_day: tuple[tuple[int, int | None], ...] = ()  # (weekday, ordinal or None)
    by_month_day: tuple[int, ...] = ()
    by_year_day: tuple[int, ...] = ()
    by_week_no: tuple[int, ...] = ()
    by_month: tuple[int, ...] = ()
    by_set_pos: tuple[int, ...] = ()
    wkst: int = 0  # Monday
    # Derived (not compared, not shown): whether a BY rule picks days (BYWEEKNO, BYYEARDAY,
    # BYMONTHDAY or BYDAY); without one, DTSTART's day is the default.
    has_day_rule: bool = field(init=False, repr=False, compare=False, default=False)
    # BYDAY's weekdays (Monday = 0) when none of them is numbered, else None.
    plain_weekdays: frozenset[int] | None = field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        days = self.by_week_no or self.by_year_day or self.by_month_day or self.by_day
        object.__setattr__(self, "has_day_rule", bool(days))
        if self.by_day and all(number is None for _, number in self.by_day):
            plain = frozenset(weekday for weekday, _ in self.by_day)
            object.__setattr__(self, "plain_weekdays", plain)

    @property
    def finest_seconds(self) -> bool:
        return self.freq == "SECONDLY" or len(self.by_second) > 1


def _invalid(what: str) -> InvalidDefinition:
    return InvalidDefinition(f"'{FIELD}' {what}.", field=FIELD)


def _ints(name: str, text: str, low: int, high: int, *, signed: bool = False) -> tuple[int, ...]:
    values = []
    for item in text.split(","):
        body = item[1:] if signed and item[:1] in "+-" else item
        if not body.isdigit() or not body.isascii() or len(body) > 3:
            raise _invalid(f"has {item!r} in {name}")
        value = int(item)
        if not (low <= abs(value) <= high if signed else low <= value <= high) or (
            signed and value == 0
        ):
            raise _invalid(f"has {value} in {name}, outside its range")
        values.append(value)
    return tuple(sorted(set(values)))


def _until(text: str) -> tuple[datetime, bool]:
    utc = text.endswith("Z")
    body = text[:-1] if utc else text
    for form in ("%Y%m%dT%H%M%S", "%Y%m%d"):
        try:
            return datetime.strptime(body, form), utc  # noqa: DTZ007 (naive: wall or UTC)
        except ValueError:
            continue
    raise _invalid(f"has UNTIL={text!r}, not a date (20261231) or date-time (20261231T235959Z)")


def _parts(text: str) -> dict[str, str]:
    """``NAME=VALUE`` pairs, names and values upper-cased; an ``RRULE:`` prefix dropped."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    parts: dict[str, str] = {}
    for part in body.split(";"):
        if not part:
            continue
        name, equals, value = part.partition("=")
        name = name.strip().upper()
        if not equals or not value.strip():
            raise _invalid(f"has {part!r}, not NAME=VALUE")
        if name in parts:
            raise _invalid(f"gives {name} twice")
        parts[name] = value.strip().upper()
    return parts


def parse_rrule(text: str) -> RRule:
    """The rule ``text``; :class:`InvalidDefinition` naming what is wrong otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise _invalid("must be an RFC 5545 rule such as 'FREQ=WEEKLY;BYDAY=MO,WE'")
    if len(text) > _MAX_LENGTH:
        raise _invalid(f"must be at most {_MAX_LENGTH} characters")
    parts = _parts(text)
    freq = parts.pop("FREQ", None)
    if freq not in FREQUENCIES:
        raise _invalid(f"needs FREQ, one of {', '.join(FREQUENCIES)}")
    rule: dict[str, object] = {"text": text, "freq": freq}
    for name, value in parts.items():
        reader = _READERS.get(name)
        if reader is None:
            raise _invalid(f"has {name}, which RFC 5545 rules do not have")
        rule.update(reader(name, value))
    if "count" in rule and "until" in rule:
        raise _invalid("gives both COUNT and UNTIL (RFC 5545 allows one)")
    parsed = RRule(**rule)  # type: ignore[arg-type]
    _check_parts(parsed)
    return parsed


def _check_parts(parsed: RRule) -> None:
    """The BY rules RFC 5545 does not allow with the rule's FREQ."""
    freq = parsed.freq
    if parsed.by_week_no and freq != "YEARLY":
        raise _invalid("has BYWEEKNO, which only FREQ=YEARLY takes")
    if parsed.by_year_day and freq in ("DAILY", "WEEKLY", "MONTHLY"):
        raise _invalid(f"has BYYEARDAY, which FREQ={freq} does not take")
    if parsed.by_month_day and freq == "WEEKLY":
        raise _invalid("has BYMONTHDAY, which FREQ=WEEKLY does not take")
    if any(n is not None for _, n in parsed.by_day) and freq not in ("MONTHLY", "YEARLY"):
        raise _invalid(f"has a numbered BYDAY, which FREQ={freq} does not take")
    if any(n is not None for _, n in parsed.by_day) and freq == "YEARLY" and parsed.by_week_no:
        raise _invalid("has a numbered BYDAY with BYWEEKNO")


def _one(values: tuple[int, ...], name: str) -> int:
    if len(values) != 1:
        raise _invalid(f"has a list in {name}")
    return values[0]


def _count(name: str, value: str) -> dict[str, object]:
    if not value.isdigit() or not value.isascii() or not 1 <= int(value) <= 2**31 - 1:
        raise _invalid(f"has {name}={value!r}")
    return {"count": int(value)}


def _wkst(name: str, value: str) -> dict[str, object]:
    if value not in _DAYS:
        raise _invalid(f"has {name}={value!r}, not MO … SU")
    return {"wkst": _DAYS.index(value)}


def _numbers(key: str, low: int, high: int, *, signed: bool = False) -> _Reader:
    def read(name: str, value: str) -> dict[str, object]:
        return {key: _ints(name, value, low, high, signed=signed)}

    return read


_Reader = Callable[[str, str], dict[str, object]]
_READERS: dict[str, _Reader] = {
    "INTERVAL": lambda name, value: {"interval": _one(_ints(name, value, 1, 999), name)},
    "COUNT": _count,
    "UNTIL": lambda _, value: dict(zip(("until", "until_utc"), _until(value), strict=True)),
    "BYSECOND": _numbers("by_second", 0, 59),
    "BYMINUTE": _numbers("by_minute", 0, 59),
    "BYHOUR": _numbers("by_hour", 0, 23),
    "BYDAY": lambda _, value: {"by_day": _by_day(value)},
    "BYMONTHDAY": _numbers("by_month_day", 1, 31, signed=True),
    "BYYEARDAY": _numbers("by_year_day", 1, 366, signed=True),
    "BYWEEKNO": _numbers("by_week_no", 1, 53, signed=True),
    "BYMONTH": _numbers("by_month", 1, 12),
    "BYSETPOS": _numbers("by_set_pos", 1, 366, signed=True),
    "WKST": _wkst,
}


def _by_day(value: str) -> tuple[tuple[int, int | None], ...]:
    found = set()
    for item in value.split(","):
        day = item[-2:]
        if day not in _DAYS:
            raise _invalid(f"has {item!r} in BYDAY, not MO … SU with an optional number")
        number = item[:-2]
        ordinal: int | None = None
        if number:
            digits = number[1:] if number[0] in "+-" else number
            if not digits.isdigit() or not digits.isascii() or not 1 <= int(digits) <= 53:
                raise _invalid(f"has {item!r} in BYDAY")
            ordinal = int(number)
        found.add((_DAYS.index(day), ordinal))
    return tuple(sorted(found, key=lambda pair: (pair[0], pair[1] or 0)))


# -- the rule's wall times --------------------------------------------------------------

_SECOND = timedelta(seconds=1)
_DAY_FREQS = frozenset(("YEARLY", "MONTHLY", "WEEKLY", "DAILY"))
_SUB_MINUTE_FREQS = frozenset(("MINUTELY", "SECONDLY"))


class RRulePlan:
    """``rule`` from ``start`` (a naive wall time, DTSTART): :meth:`first_at_or_after`."""

    __slots__ = ("_days", "_never", "_rule", "_start", "_times", "_until")

    def __init__(self, rule: RRule, start: datetime, until: datetime | None) -> None:
        self._rule = rule
        self._start = start
        self._until = until
        freq = rule.freq
        # The defaults of RFC 5545 (as dateutil applies them) from DTSTART.
        self._times = (
            rule.by_hour or ((start.hour,) if freq in _DAY_FREQS else ()),
            rule.by_minute or ((start.minute,) if freq not in _SUB_MINUTE_FREQS else ()),
            rule.by_second or ((start.second,) if freq != "SECONDLY" else ()),
        )
        # At the FREQ's own level, an INTERVAL that shares a factor with the unit's cycle
        # never reaches some values (FREQ=HOURLY;INTERVAL=2 from an even hour has no odd
        # one): as dateutil, a rule left with none has no occurrence at all.
        self._never = False
        if freq not in _DAY_FREQS:
            if freq == "HOURLY":
                values, origin, cycle = rule.by_hour, start.hour, 24
            elif freq == "MINUTELY":
                values, origin, cycle = rule.by_minute, start.minute, 60
            else:
                values, origin, cycle = rule.by_second, start.second, 60
            if values:
                step = gcd(rule.interval, cycle)
                self._never = not any((value - origin) % step == 0 for value in values)
        if rule.has_day_rule:
            self._days = (rule.by_month, rule.by_month_day, rule.by_day)
        elif freq == "YEARLY":
            self._days = (rule.by_month or (start.month,), (start.day,), rule.by_day)
        elif freq == "MONTHLY":
            self._days = (rule.by_month, (start.day,), rule.by_day)
        elif freq == "WEEKLY":
            self._days = (rule.by_month, rule.by_month_day, ((start.weekday(), None),))
        else:
            self._days = (rule.by_month, rule.by_month_day, rule.by_day)

    def first_at_or_after(self, lower: datetime) -> datetime | None:
        """The first wall time of the rule at or after ``lower`` (and DTSTART), or None."""
        if self._never:
            return None
        lower = max(lower, self._start)
        if lower.microsecond:
            lower = lower.replace(microsecond=0) + _SECOND
        if self._rule.freq in _DAY_FREQS:
            return self._by_days(lower)
        return self._by_time(lower)

    # A period of a day or more: its days × the day's times.
    def _by_days(self, lower: datetime) -> datetime | None:
        rule = self._rule
        index = self._period(lower.date())
        until = self._until
        until_ord = None if until is None else until.toordinal()
        for _ in range(_PERIOD_LIMITS[rule.freq] // rule.interval + 2):
            bounds = self._bounds_ord(index)
            if bounds is None:
                return None
            first, last = bounds
            found = self._in_period(first, last, lower)
            if found is not None:
                return found if until is None or found <= until else None
            if until_ord is not None and first > until_ord:
                return None
            index += rule.interval
        return None

    def _in_period(self, first: int, last: int, lower: datetime) -> datetime | None:
        """The first wall time at or after ``lower`` of the period of days ``first`` to
        ``last`` (ordinals), or None."""
        if self._rule.freq == "WEEKLY":
            # As dateutil: DTSTART's week starts at DTSTART's day (BYSETPOS counts from it).
            first = max(first, self._start.toordinal())
        if not self._rule.by_set_pos:
            # Only BYSETPOS counts the period's days before ``lower``'s: skip them.
            first = max(first, lower.toordinal())
            if first > last:
                return None
        days = self._kept_days(first, last)
        if not days:
            return None
        hours, minutes, seconds = self._times
        times = [(h, m, s) for h in hours for m in minutes for s in seconds]
        # The period's instants are ``days × times`` in order (both are sorted): instant
        # ``i`` is day ``i // len(times)`` at time ``i % len(times)``.
        per_day = len(times)
        if self._rule.by_set_pos:
            total = len(days) * per_day
            picked = set()
            for position in self._rule.by_set_pos:
                at = position - 1 if position > 0 else total + position
                if 0 <= at < total:
                    picked.add(at)
            lower_key = (lower.toordinal(), lower.hour, lower.minute, lower.second)
            for at in sorted(picked):
                day = days[at // per_day]
                time = times[at % per_day]
                if (day, *time) >= lower_key:
                    return _wall(day, time)
            return None
        lower_day = lower.toordinal()
        position = bisect_left(days, lower_day)
        if position < len(days) and days[position] == lower_day:
            at = bisect_left(times, (lower.hour, lower.minute, lower.second))
            if at < per_day:
                return _wall(lower_day, times[at])
            position += 1
        return _wall(days[position], times[0]) if position < len(days) else None

    def _set_pos(self, instants: list[datetime]) -> list[datetime]:
        positions = self._rule.by_set_pos
        if not positions:
            return instants
        picked = set()
        for position in positions:
            at = position - 1 if position > 0 else len(instants) + position
            if 0 <= at < len(instants):
                picked.add(instants[at])
        return sorted(picked)

    def _period(self, day: date) -> int:
        """The index of the aligned period at or before the one holding ``day``."""
        rule, start = self._rule, self._start
        if rule.freq == "YEARLY":
            here, origin = day.year, start.year
        elif rule.freq == "MONTHLY":
            here, origin = day.year * 12 + day.month - 1, start.year * 12 + start.month - 1
        elif rule.freq == "WEEKLY":
            here, origin = _week_index(day, rule.wkst), _week_index(start.date(), rule.wkst)
        else:
            here, origin = day.toordinal(), start.toordinal()
        behind = (here - origin) % rule.interval
        return max(origin, here - behind)

    def _bounds_ord(self, index: int) -> tuple[int, int] | None:
        """The first and last day (ordinals) of period ``index``; None past year 9999."""
        freq = self._rule.freq
        if freq == "YEARLY":
            if index > 9999:
                return None
            first = date(index, 1, 1).toordinal()
            return first, first + (365 if _leap(index) else 364)
        if freq == "MONTHLY":
            year, month0 = divmod(index, 12)
            if year > 9999:
                return None
            first = date(year, month0 + 1, 1).toordinal()
            return first, first + _month_length(year, month0 + 1) - 1
        top = _MAX_ORDINAL
        if freq == "WEEKLY":
            first = index * 7 + 1 + self._rule.wkst
            return None if first > top else (first, min(first + 6, top))
        return None if index > top else (index, index)

    def _kept_days(self, first: int, last: int) -> list[int]:
        """The days (ordinals, sorted) from ``first`` to ``last`` that every BY rule keeps.

        The candidates come from the most selective rule the period has (its year days,
        weeks, month days or weekdays), each of which they meet exactly; only the other
        rules are checked day by day."""
        by_month, by_month_day, by_day = self._days
        rule = self._rule
        if first == last:
            day = date.fromordinal(first)
            return [first] if self._keeps(day, by_month, by_month_day, by_day, rule) else []
        if rule.by_year_day:
            candidates = _year_day_days(first, last, rule.by_year_day)
            return self._checked(candidates, by_month, rule.by_week_no, by_month_day, by_day)
        if rule.by_week_no:
            candidates = _week_days(first, last, rule.by_week_no, rule.wkst)
            return self._checked(candidates, by_month, (), by_month_day, by_day)
        if by_month_day:
            candidates = _month_days(first, last, by_month_day, by_month)
            return self._checked(candidates, (), (), (), by_day)
        if by_day:
            return self._weekday_days(first, last, by_day, by_month)
        return [
            day
            for low, high, _, _ in _month_spans(first, last, by_month)
            for day in range(low, high + 1)
        ]

    def _checked(
        self,
        candidates: list[int],
        by_month: tuple[int, ...],
        by_week_no: tuple[int, ...],
        by_month_day: tuple[int, ...],
        by_day: tuple[tuple[int, int | None], ...],
    ) -> list[int]:
        """The ``candidates`` (day ordinals) the given BY rules keep (as :meth:`_keeps`)."""
        rule = self._rule
        if by_day and (rule.freq not in ("MONTHLY", "YEARLY") or rule.plain_weekdays):
            # Plain weekdays (:func:`_weekday_matches`): the day ordinal tells them.
            weekdays = rule.plain_weekdays or {weekday for weekday, _ in by_day}
            candidates = [day for day in candidates if (day - 1) % 7 in weekdays]
            by_day = ()
        if not (by_month or by_week_no or by_month_day or by_day):
            return candidates
        kept = []
        for ordinal in candidates:
            day = date.fromordinal(ordinal)
            if by_month and day.month not in by_month:
                continue
            if by_week_no and not _in_weeks(day, by_week_no, rule.wkst):
                continue
            if by_month_day and not _signed_match(
                day.day, _month_length(day.year, day.month), by_month_day
            ):
                continue
            if by_day and not _weekday_matches(day, by_day, rule):
                continue
            kept.append(ordinal)
        return kept

    def _weekday_days(
        self,
        first: int,
        last: int,
        by_day: tuple[tuple[int, int | None], ...],
        months: tuple[int, ...],
    ) -> list[int]:
        """The days from ``first`` to ``last`` in ``months`` (when given) that ``by_day``
        keeps (:func:`_weekday_matches`)."""
        rule = self._rule
        numbered = rule.freq in ("MONTHLY", "YEARLY")
        in_month = rule.freq == "MONTHLY" or (rule.freq == "YEARLY" and bool(rule.by_month))
        spans = _month_spans(first, last, months) if months or in_month else None
        found: set[int] = set()
        for weekday, ordinal in by_day:
            if ordinal is None or not numbered:
                for low, high, _, _ in ((first, last, 0, 0),) if spans is None else spans:
                    found.update(range(low + (weekday - (low - 1)) % 7, high + 1, 7))
                continue
            if in_month:
                assert spans is not None  # noqa: S101 - in_month gives spans
                ranges = [(start, end) for _, _, start, end in spans]
            else:
                ranges = _year_spans(first, last)
            for start, end in ranges:
                if ordinal > 0:
                    day = start + (weekday - (start - 1)) % 7 + 7 * (ordinal - 1)
                else:
                    day = end - ((end - 1) - weekday) % 7 + 7 * (ordinal + 1)
                if (
                    start <= day <= end
                    and first <= day <= last
                    and (spans is None or any(low <= day <= high for low, high, _, _ in spans))
                ):
                    found.add(day)
        return sorted(found)

    def _keeps(
        self,
        day: date,
        by_month: tuple[int, ...],
        by_month_day: tuple[int, ...],
        by_day: tuple[tuple[int, int | None], ...],
        rule: RRule,
    ) -> bool:
        if by_month and day.month not in by_month:
            return False
        if rule.by_week_no and not _in_weeks(day, rule.by_week_no, rule.wkst):
            return False
        if rule.by_year_day:
            length = 366 if _leap(day.year) else 365
            if not _signed_match(day.timetuple().tm_yday, length, rule.by_year_day):
                return False
        if by_month_day and not _signed_match(
            day.day, _month_length(day.year, day.month), by_month_day
        ):
            return False
        return not by_day or _weekday_matches(day, by_day, rule)

    # A period of less than a day: hours, minutes or seconds from DTSTART.
    def _by_time(self, lower: datetime) -> datetime | None:
        rule, start = self._rule, self._start
        step = {"HOURLY": 3600, "MINUTELY": 60, "SECONDLY": 1}[rule.freq]
        origin = _seconds(start) // step
        here = _seconds(lower) // step
        index = max(origin, here - (here - origin) % rule.interval)
        hours, minutes, seconds = self._times
        by_month, by_month_day, by_day = self._days
        # 400 years repeat the calendar: no kept day in them, none ever.
        horizon = lower.toordinal() + 146_097
        for _ in range(2_000_000):
            first_second = index * step
            moment = _from_seconds(first_second)
            if moment == _END or moment.toordinal() > horizon:
                return None
            if self._until is not None and moment > self._until:
                return None
            day = moment.date()
            if not self._keeps(day, by_month, by_month_day, by_day, rule):
                # No time of this day: the first aligned period of the next day (of the
                # next month the rule keeps, when it keeps months).
                following = _next_day(day, by_month)
                if following is None:
                    return None
                next_day = (following - _EPOCH_ORDINAL) * 86400 // step
                index = next_day + (origin - next_day) % rule.interval
                continue
            skip_to = self._outside(moment, step)
            if skip_to is not None:
                # Not in BYHOUR (or BYMINUTE): the first aligned period of the next hour
                # (or minute).
                index = -(-skip_to // step)
                index += (origin - index) % rule.interval
                continue
            found = self._in_time_period(moment, step, hours, minutes, seconds, lower)
            if found is not None:
                return found if self._until is None or found <= self._until else None
            index += rule.interval
        return None

    def _outside(self, moment: datetime, step: int) -> int | None:
        """The second (since the epoch) to go on from when ``moment``'s hour (or, for a
        SECONDLY rule, its minute) is not in the rule; None when it is."""
        rule = self._rule
        if step < 3600 and rule.by_hour and moment.hour not in rule.by_hour:
            return (_seconds(moment) // 3600 + 1) * 3600
        if step == 1 and rule.by_minute and moment.minute not in rule.by_minute:
            return (_seconds(moment) // 60 + 1) * 60
        return None

    def _in_time_period(
        self,
        moment: datetime,
        step: int,
        hours: tuple[int, ...],
        minutes: tuple[int, ...],
        seconds: tuple[int, ...],
        lower: datetime,
    ) -> datetime | None:
        rule = self._rule
        if rule.by_hour and moment.hour not in rule.by_hour:
            return None
        if step <= 60 and rule.by_minute and moment.minute not in rule.by_minute:
            return None
        if step == 1 and rule.by_second and moment.second not in rule.by_second:
            return None
        base = moment.replace(second=0) if step == 60 else moment
        if step == 3600:
            base = moment.replace(minute=0, second=0)
            candidates = [base.replace(minute=m, second=s) for m in minutes for s in seconds]
        elif step == 60:
            candidates = [base.replace(second=s) for s in seconds]
        else:
            candidates = [moment]
        candidates = self._set_pos(sorted(candidates))
        position = bisect_left(candidates, lower)
        return candidates[position] if position < len(candidates) else None


_PERIOD_LIMITS = {
    "YEARLY": _YEARS,
    "MONTHLY": 12 * _YEARS,
    "WEEKLY": 53 * _YEARS,
    "DAILY": 366 * _YEARS,
}
_MAX_ORDINAL = date.max.toordinal()


def _wall(day: int, time: tuple[int, int, int]) -> datetime:
    civil = date.fromordinal(day)
    return datetime(civil.year, civil.month, civil.day, *time)  # noqa: DTZ001 (wall time)


def _month_spans(first: int, last: int, months: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """The months (among ``months``, when given) that days ``first`` to ``last`` touch:
    the days of each within the range, then the month's first and last day (ordinals)."""
    spans = []
    day = date.fromordinal(first)
    year, month = day.year, day.month
    start = first - day.day + 1
    while start <= last:
        end = start + _month_length(year, month) - 1
        if not months or month in months:
            spans.append((max(start, first), min(end, last), start, end))
        start = end + 1
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return spans


def _year_spans(first: int, last: int) -> list[tuple[int, int]]:
    """The first and last day (ordinals) of each year that days ``first`` to ``last`` touch."""
    spans = []
    year = date.fromordinal(first).year
    start = date(year, 1, 1).toordinal()
    while start <= last:
        end = start + (365 if _leap(year) else 364)
        spans.append((start, end))
        start, year = end + 1, year + 1
    return spans


def _year_day_days(first: int, last: int, wanted: tuple[int, ...]) -> list[int]:
    """The days from ``first`` to ``last`` whose day of the year is among ``wanted``
    (from the start, or from the end when negative)."""
    found = set()
    for start, end in _year_spans(first, last):
        length = end - start + 1
        for value in wanted:
            position = value if value > 0 else length + 1 + value
            day = start + position - 1
            if 1 <= position <= length and first <= day <= last:
                found.add(day)
    return sorted(found)


def _month_days(
    first: int, last: int, wanted: tuple[int, ...], months: tuple[int, ...]
) -> list[int]:
    """The days from ``first`` to ``last`` in ``months`` (when given) whose day of the
    month is among ``wanted`` (from the start, or from the end when negative)."""
    found = set()
    for low, high, start, end in _month_spans(first, last, months):
        length = end - start + 1
        for value in wanted:
            position = value if value > 0 else length + 1 + value
            day = start + position - 1
            if 1 <= position <= length and low <= day <= high:
                found.add(day)
    return sorted(found)


def _week_days(first: int, last: int, weeks: tuple[int, ...], wkst: int) -> list[int]:
    """The days from ``first`` to ``last`` in the weeks ``weeks`` of their year
    (:func:`_in_weeks`)."""
    found: list[int] = []
    year = date.fromordinal(first).year
    start = _week_one(year, wkst)
    if first < start and year > 1:  # ``first`` is in the last week of the year before
        year -= 1
        following: int | None = start
        start = _week_one(year, wkst)
    else:
        following = _week_one(year + 1, wkst) if year < 9999 else None
    while start <= last:
        if following is None:
            end, count = _MAX_ORDINAL, 52
        else:
            end, count = following - 1, (following - start) // 7
        if end >= first:
            top = end if end < last else last
            for value in weeks:
                number = value if value > 0 else count + 1 + value
                if number >= 1:
                    week = start + 7 * (number - 1)
                    high = week + 6 if week + 6 < top else top
                    found.extend(range(week if week > first else first, high + 1))
        if following is None:
            break
        year += 1
        start, following = following, _week_one(year + 1, wkst) if year < 9999 else None
    # One week number gives the days in order already; several may repeat or interleave.
    return found if len(weeks) == 1 else sorted(set(found))


def _week_one(year: int, wkst: int) -> int:
    """The ordinal of the first day of week 1 of ``year`` (:func:`_year_weeks`): the week
    (from ``wkst``) that holds 4 January. Plain arithmetic (no ``date``): it is asked for
    twice a year searched."""
    before = year - 1
    january_4 = before * 365 + before // 4 - before // 100 + before // 400 + 4
    return january_4 - ((january_4 + 6) % 7 - wkst) % 7


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_END = datetime(9999, 12, 31, 23, 59, 59)  # noqa: DTZ001 (wall time): past the last second


def _seconds(moment: datetime) -> int:
    days = moment.toordinal() - _EPOCH_ORDINAL
    return days * 86400 + moment.hour * 3600 + moment.minute * 60 + moment.second


def _from_seconds(seconds: int) -> datetime:
    days, rest = divmod(seconds, 86400)
    if days + _EPOCH_ORDINAL > date.max.toordinal():
        return _END
    day = date.fromordinal(days + _EPOCH_ORDINAL)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return datetime(day.year, day.month, day.day, hour, minute, second)  # noqa: DTZ001


def _next_day(day: date, months: tuple[int, ...]) -> int | None:
    """The ordinal of the day after ``day``, or of the 1st of the next month among
    ``months`` when that day's month is not one; None past year 9999."""
    following = day.toordinal() + 1
    if following > date.max.toordinal():
        return None
    if not months or date.fromordinal(following).month in months:
        return following
    year, month = day.year, day.month
    for _ in range(12):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if month in months:
            return None if year > 9999 else date(year, month, 1).toordinal()
    return None


def _signed_match(position: int, length: int, wanted: tuple[int, ...]) -> bool:
    """``position`` (1-based) of ``length`` is among ``wanted``, from the start or the end."""
    return position in wanted or position - length - 1 in wanted


def _weekday_matches(day: date, by_day: tuple[tuple[int, int | None], ...], rule: RRule) -> bool:
    """Numbered weekdays count within the month (MONTHLY, or YEARLY with BYMONTH), else
    within the year."""
    weekday = day.weekday()
    in_month = rule.freq == "MONTHLY" or (rule.freq == "YEARLY" and bool(rule.by_month))
    for wanted, ordinal in by_day:
        if wanted != weekday:
            continue
        if ordinal is None or rule.freq not in ("MONTHLY", "YEARLY"):
            return True
        if ordinal in _nth(day, in_month):
            return True
    return False


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _month_length(year: int, month: int) -> int:
    if month == 2:
        return 29 if _leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _week_index(day: date, wkst: int) -> int:
    """Weeks since 0001-01-01's week, weeks starting on ``wkst``."""
    return (day.toordinal() - 1 - wkst) // 7


def _nth(day: date, in_month: bool) -> tuple[int, int]:
    """Which of its weekday ``day`` is in its month (or year), from the start and the end."""
    if in_month:
        length = _month_length(day.year, day.month)
        position = day.day
    else:
        length = 366 if _leap(day.year) else 365
        position = day.timetuple().tm_yday
    return (position - 1) // 7 + 1, -((length - position) // 7 + 1)


@lru_cache(maxsize=4096)
def _year_weeks(year: int, wkst: int) -> tuple[int, int]:
    """The ordinal of the first day of week 1 of ``year`` (RFC 5545: the first week with at
    least four days of the year, weeks starting on ``wkst``) and the year's week count."""

    def week_one(of: int) -> int:
        january_4 = date(of, 1, 4).toordinal()
        return january_4 - (date(of, 1, 4).weekday() - wkst) % 7

    first = week_one(year)
    return first, (week_one(year + 1) - first) // 7 if year < 9999 else 52


def _in_weeks(day: date, weeks: tuple[int, ...], wkst: int) -> bool:
    ordinal = day.toordinal()
    year = day.year
    first, count = _year_weeks(year, wkst)
    if ordinal < first:
        year -= 1
        first, count = _year_weeks(year, wkst)
    elif year < 9999:
        following, _ = _year_weeks(year + 1, wkst)
        if ordinal >= following:
            year += 1
            first, count = following, _year_weeks(year, wkst)[1]
    number = (ordinal - first) // 7 + 1
    return number in weeks or number - count - 1 in weeks
