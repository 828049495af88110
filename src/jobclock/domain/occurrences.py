"""The recurrence engine (§4): pure, stateless, exact.

``next_occurrence(recurrence, start, now, last, done)`` answers "when does this job run
next?" from the job's cursor (its last occurrence and how many occurrences ran), which lives
in the job's row, never in a trigger object. ``occurrences(...)`` iterates.

How instants are found
----------------------
Internally an instant is an integer count of microseconds since the Unix epoch, and a
calendar day is a proleptic Gregorian ordinal (``date.toordinal``), so the hot paths are
integer arithmetic and ``bisect``:

* Second, Minute and Hour without a schedule (and Day and Week without one, in UTC) are an
  elapsed grid ``start + k·step``: one division.
* Every other shape walks eligible *wall-clock* days in the recurrence's time zone (§4.3
  step 2), jumping straight to the next eligible day, week or month, and bisects the day's
  sorted times (step 3).

Time zones: a wall time in a spring gap is read with the offset in force before the gap and
a wall time in an autumn fold fires once, at its first instance (RFC 5545; ``fold=0``).
Because a gap maps wall times onto later instants, instants are not in wall order on the day
of a gap; such days are resolved by sorting their instants, and the next day is consulted.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from jobclock.domain.calendar import first_run as first_business_run
from jobclock.domain.cron import CronExpression
from jobclock.domain.instants import require_aware
from jobclock.domain.recurrence import (
    DEFAULT_DST,
    DstPolicy,
    Fold,
    Frequency,
    Gap,
    Recurrence,
    Schedule,
    zone_named,
)
from jobclock.domain.rrule import RRule, RRulePlan

_US = 1_000_000
_MINUTE_US = 60 * _US
_HOUR_US = 3600 * _US
_DAY_US = 86400 * _US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORD = date(1970, 1, 1).toordinal()
_MAX_ORD = date(9999, 12, 31).toordinal()
_MAX_US = (_MAX_ORD + 1 - _EPOCH_ORD) * 86400 * 1_000_000 - 1  # 9999-12-31T23:59:59.999999Z
_STEP_US = {
    Frequency.SECOND: _US,
    Frequency.MINUTE: _MINUTE_US,
    Frequency.HOUR: _HOUR_US,
    Frequency.DAY: _DAY_US,
    Frequency.WEEK: 7 * _DAY_US,
}
# The Gregorian calendar repeats every 400 years (4800 months); an aligned month walk that
# finds no eligible day in that many steps never will (e.g. the 30th of every February).
_MONTH_SEARCH_LIMIT = 4800
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ALL_HOURS = tuple(range(24))


def _to_us(value: datetime) -> int:
    """Microseconds since the Unix epoch of an aware instant: this module's arithmetic
    (the store's encoding of instants is its own, ``storage/encoding.py``)."""
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _US + delta.microseconds


def _from_us(micros: int) -> datetime:
    """The aware UTC instant ``micros`` microseconds after the Unix epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def next_occurrence(
    recurrence: Recurrence | None,
    start: datetime,
    now: datetime,
    last: datetime | None = None,
    done: int = 0,
) -> datetime | None:
    """The job's next occurrence, or None when its series has ended.

    ``start`` is the job's startTime (the anchor), ``now`` the current instant, ``last`` the
    scheduled time of the last occurrence that ran (or None) and ``done`` how many
    occurrences ran (for ``count``). The answer is the first slot that is at or after both
    ``start`` and ``now``, strictly after ``last``, not after ``endTime``, while fewer than
    ``count`` occurrences ran. Past slots are skipped, never replayed (§4.2). A job without a
    recurrence runs once, at ``max(start, now)``. All datetimes must be aware.
    """
    start = require_aware(start, "start")
    now = require_aware(now, "now")
    if recurrence is None:
        if last is not None or done > 0:
            return None
        return max(start, now)
    limit = recurrence.limit
    if limit is not None and done >= limit:
        return None
    lower = max(start, now)
    lower_us = _to_us(lower)
    if last is not None:
        lower_us = max(lower_us, _to_us(require_aware(last, "last")) + 1)
    found = _first_run(_compile(recurrence, start), lower_us, recurrence, _to_us(start))
    if found is None:
        return None
    end_us = _end_us(recurrence, start)
    if end_us is not None and found[0] > end_us:
        return None
    return _from_us(found[1])


def occurrences(
    recurrence: Recurrence | None,
    start: datetime,
    now: datetime,
    last: datetime | None = None,
    done: int = 0,
) -> Iterator[datetime]:
    """Successive occurrences from the cursor (``last``, ``done``), as ``next_occurrence``."""
    start = require_aware(start, "start")
    now = require_aware(now, "now")
    if recurrence is None:
        first = next_occurrence(None, start, now, last, done)
        if first is not None:
            yield first
        return
    plan = _compile(recurrence, start)
    start_us = _to_us(start)
    lower_us = _to_us(max(start, now))
    if last is not None:
        lower_us = max(lower_us, _to_us(require_aware(last, "last")) + 1)
    end_us = _end_us(recurrence, start)
    count = recurrence.limit
    while count is None or done < count:
        found = _first_run(plan, lower_us, recurrence, start_us)
        if found is None or (end_us is not None and found[0] > end_us):
            return
        yield _from_us(found[1])
        done += 1
        lower_us = found[1] + 1


def latest_at_or_before(
    recurrence: Recurrence,
    start: datetime,
    now: datetime,
    last: datetime | None = None,
    done: int = 0,
) -> datetime | None:
    """The series' last occurrence at or before ``now`` (and after ``last``), or None: a
    catch-up's "latest missed slot". Bisected over :func:`next_occurrence` (the first
    occurrence at or after an instant only grows with it), so it costs some 50 lookups
    however long ago the series started."""
    low = next_occurrence(recurrence, start, start, last, done)
    if low is None or low > now:
        return None
    low_us, high_us = _to_us(low), _to_us(now) + 1  # low: an occurrence; none at or after high
    while high_us - low_us > 1:
        middle = (low_us + high_us) // 2
        found = next_occurrence(recurrence, start, _from_us(middle), last, done)
        if found is not None and found <= now:
            low_us = _to_us(found)
        else:
            high_us = middle
    return _from_us(low_us)


def _first_run(
    plan: Plan | None, lower_us: int, recurrence: Recurrence, start_us: int
) -> tuple[int, int] | None:
    """The first occurrence that runs at or after ``lower_us``: its slot and when it runs.

    Without a jitter both are the slot. With one, slot ``s`` runs at ``s + f·w``, where
    ``f`` in [0, 1) comes from a hash of the job's seed and the slot, and ``w`` is the
    jitter or, when shorter, the time to the next slot: a slot never runs at or after the
    next one's slot, so runs keep the slots' order and each runs once. The first run at or
    after ``lower_us`` is then the last slot before it (if it runs late enough) or the
    first slot at or after it."""
    jitter = recurrence.jitter
    if jitter is None:
        found = _first_kept(plan, lower_us, recurrence)
        return None if found is None else (found, found)
    span = _to_span(jitter.value)
    following = _first_kept(plan, lower_us, recurrence)
    before = _last_kept_before(plan, lower_us, max(start_us, lower_us - span + 1), recurrence)
    if before is not None:
        runs = before + _jitter_us(recurrence.seed, before, span, following)
        if runs >= lower_us:
            return before, runs
    if following is None:
        return None
    after = _first_kept(plan, following + 1, recurrence)
    return following, following + _jitter_us(recurrence.seed, following, span, after)


def _to_span(value: timedelta) -> int:
    return (value.days * 86400 + value.seconds) * _US + value.microseconds


def _jitter_us(seed: str, slot_us: int, span_us: int, next_us: int | None) -> int:
    """How much later than ``slot_us`` it runs: a fraction of the jitter (or of the time to
    the next slot, when shorter) that depends only on the job and the slot: in whole
    seconds when the jitter is a minute or longer (a run keeps a slot's whole second, and
    a preview, which shows seconds, shows exactly when it runs), else in milliseconds."""
    window = span_us if next_us is None else min(span_us, next_us - slot_us)
    unit = _US if span_us >= _MINUTE_US else 1000
    digest = hashlib.blake2b(f"{seed}|{slot_us}".encode(), digest_size=8).digest()
    return ((int.from_bytes(digest, "big") * (window // unit)) >> 64) * unit


def _last_kept_before(
    plan: Plan | None, high_us: int, low_us: int, recurrence: Recurrence
) -> int | None:
    """The last slot in [``low_us``, ``high_us``), or None: plans only search forwards, so
    the slot is bisected for (one or two lookups when slots are further apart than the
    range, as with a jitter shorter than the period)."""
    first = _first_kept(plan, low_us, recurrence)
    if first is None or first >= high_us:
        return None
    after = _first_kept(plan, first + 1, recurrence)
    if after is None or after >= high_us:
        return first
    low, high = after, high_us  # the first slot at or after ``low`` is before high_us
    while high - low > 1:
        middle = (low + high) // 2
        found = _first_kept(plan, middle, recurrence)
        if found is not None and found < high_us:
            low = found
        else:
            high = middle
    return low  # a slot, and none lies in (low, high_us)


def _first_kept(plan: Plan | None, lower_us: int, recurrence: Recurrence) -> int | None:
    """The first slot at or after ``lower_us`` past the ``exdates``, then moved or left out
    by the recurrence's holiday calendar (:mod:`jobclock.domain.calendar`)."""
    ref, holidays = recurrence.calendar, recurrence.holidays
    if ref is None or holidays is None:
        return _first_listed(plan, lower_us, recurrence)
    return first_business_run(
        lambda at: _first_listed(plan, at, recurrence),
        lower_us,
        holidays,
        ref.on_holiday,
        zone_named(recurrence.holiday_zone),
    )


def _first_listed(plan: Plan | None, lower_us: int, recurrence: Recurrence) -> int | None:
    """:func:`_first`, past the recurrence's ``exdates``."""
    found = _first(plan, lower_us)
    if recurrence.exdates:
        left_out = {_to_us(moment) for moment in recurrence.exdates}
        while found is not None and found in left_out:
            found = _first(plan, found + 1)
    return found


def _end_us(recurrence: Recurrence, start: datetime) -> int | None:
    """The last instant the series may have: ``endTime``, or the rule's UNTIL (a UTC
    instant with ``Z``, else a wall time in the recurrence's zone)."""
    ends = [] if recurrence.end_time is None else [_to_us(recurrence.end_time)]
    rule = recurrence.rrule
    if rule is not None and rule.until is not None:
        if rule.until_utc or recurrence.is_utc:
            ends.append(_to_us(rule.until.replace(tzinfo=UTC)))
        else:
            ends.append(_to_us(rule.until.replace(tzinfo=recurrence.zone)))
    return min(ends) if ends else None


def _compile(recurrence: Recurrence, start: datetime) -> Plan | None:
    """The plan, or None when the anchor's wall time lies past year 9999."""
    try:
        return compile_plan(recurrence, start)
    except OverflowError:
        return None


def _first(plan: Plan | None, lower_us: int) -> int | None:
    """``plan.first_at_or_after``; a series that would run past year 9999 ends there."""
    if plan is None:
        return None
    try:
        found = plan.first_at_or_after(lower_us)
    except OverflowError:
        return None
    return None if found is None or found > _MAX_US else found


def preview(
    recurrence: Recurrence | None, start: datetime, now: datetime, limit: int
) -> list[datetime]:
    """The next ``limit`` occurrences of a job that has not run yet (``jobclock preview``)."""
    result: list[datetime] = []
    if limit <= 0:
        return result
    for value in occurrences(recurrence, start, now):
        result.append(value)
        if len(result) >= limit:
            break
    return result


class Plan:
    """A recurrence compiled against its anchor: answers ``first_at_or_after``.

    Plans are built on every cold call, so they are plain slotted classes (a frozen
    dataclass's ``__init__`` costs a ``object.__setattr__`` per field); treat them as
    immutable all the same.
    """

    __slots__ = ()

    def first_at_or_after(self, lower_us: int) -> int | None:
        """The first slot at or after ``lower_us`` (never before the anchor), or None."""
        raise NotImplementedError


@dataclass(slots=True)
class _ElapsedGrid(Plan):
    """``anchor + k·step`` in elapsed time (Second, Minute, Hour; Day and Week in UTC)."""

    anchor_us: int
    step_us: int

    def first_at_or_after(self, lower_us: int) -> int | None:
        behind = lower_us - self.anchor_us
        if behind <= 0:
            return self.anchor_us
        return self.anchor_us - (-behind // self.step_us) * self.step_us


def compile_plan(recurrence: Recurrence, start: datetime) -> Plan:
    """Resolve the defaults of §4.3 step 1 against ``start`` and pick the search strategy."""
    if recurrence.cron is not None:
        return _cron_plan(recurrence.cron, start, recurrence)
    if recurrence.rrule is not None:
        return _rrule_plan(recurrence.rrule, start, recurrence)
    frequency = recurrence.frequency
    schedule = recurrence.effective_schedule
    anchor_us = _to_us(start)
    interval = recurrence.interval
    if frequency in (Frequency.SECOND, Frequency.MINUTE) or (
        frequency is Frequency.HOUR and (schedule is None or not schedule.minutes)
    ):
        return _ElapsedGrid(anchor_us, _STEP_US[frequency] * interval)
    utc = recurrence.is_utc
    if schedule is None and utc and frequency in (Frequency.DAY, Frequency.WEEK):
        return _ElapsedGrid(anchor_us, _STEP_US[frequency] * interval)
    zone = None if utc else recurrence.zone
    wall = start.astimezone(zone) if zone is not None else start
    calendar = _Calendar.build(frequency, interval, schedule, wall)
    if frequency is Frequency.HOUR:
        minutes = schedule.minutes if schedule is not None and schedule.minutes else ()
        anchor_hour = wall.date().toordinal() * 24 + wall.hour
        if zone is None:
            return _UtcHourGrid(anchor_us, anchor_hour, interval, minutes)
        return _DayWalk(
            anchor_us,
            calendar,
            _HourTimes(anchor_hour, interval, minutes),
            zone,
            grid=False,
            dst=recurrence.dst or DEFAULT_DST,
        )
    if schedule is None:
        extra = wall.second * _US + wall.microsecond
        times = _DayTimes((wall.hour,), (wall.minute,), extra)
    else:
        minutes = schedule.minutes or (wall.minute,)
        hours = schedule.hours or (_ALL_HOURS if schedule.minutes else (wall.hour,))
        times = _DayTimes(hours, minutes, 0)
    if zone is None:
        return _UtcDayWalk(anchor_us, calendar, times)
    return _DayWalk(
        anchor_us, calendar, times, zone, grid=schedule is None, dst=recurrence.dst or DEFAULT_DST
    )


@dataclass(slots=True)
class _DayTimes:
    """A day's slots: ``hours × minutes`` (sorted) plus ``extra_us`` past each minute."""

    hours: tuple[int, ...]
    minutes: tuple[int, ...]
    extra_us: int

    @property
    def first(self) -> int:
        return self.hours[0] * _HOUR_US + self.minutes[0] * _MINUTE_US + self.extra_us

    def first_at_or_after(self, offset_us: int) -> int | None:
        """The first slot (µs after midnight) at or after ``offset_us``, or None."""
        wanted = offset_us - self.extra_us
        if wanted <= 0:
            return self.first
        hour, rest = divmod(wanted, _HOUR_US)
        hours = self.hours
        position = bisect_left(hours, hour)
        if position < len(hours) and hours[position] == hour:
            minute = bisect_left(self.minutes, -(-rest // _MINUTE_US))
            if minute < len(self.minutes):
                return hour * _HOUR_US + self.minutes[minute] * _MINUTE_US + self.extra_us
            position += 1
        if position < len(hours):
            return hours[position] * _HOUR_US + self.minutes[0] * _MINUTE_US + self.extra_us
        return None

    def all(self) -> Iterator[int]:
        for hour in self.hours:
            for minute in self.minutes:
                yield hour * _HOUR_US + minute * _MINUTE_US + self.extra_us

    def on(self, day: int) -> _DayTimes:
        return self


@dataclass(slots=True)
class _Calendar:
    """Which wall-clock days are eligible (§4.3 step 2), as day ordinals."""

    frequency: Frequency
    interval: int
    anchor_ord: int
    week_days: tuple[int, ...]  # Sunday-based indices (ordinal % 7), sorted
    month_days: tuple[int, ...]  # signed, as given
    monthly: tuple[tuple[int, int | None], ...]  # (Python weekday, occurrence)
    anchor_day: int | None  # the default month day, clamped to each month's length

    @classmethod
    def build(
        cls, frequency: Frequency, interval: int, schedule: Schedule | None, wall: datetime
    ) -> _Calendar:
        anchor_ord = wall.date().toordinal()
        week_days: tuple[int, ...] = ()
        month_days: tuple[int, ...] = ()
        monthly: tuple[tuple[int, int | None], ...] = ()
        anchor_day = None
        if frequency is Frequency.WEEK:
            given = schedule.week_days if schedule is not None else None
            indices = [(d.index + 1) % 7 for d in given] if given else [anchor_ord % 7]
            week_days = tuple(sorted(set(indices)))
        elif frequency is Frequency.MONTH:
            if schedule is not None:
                month_days = tuple(sorted(set(schedule.month_days or ())))
                monthly = tuple(
                    sorted(
                        {(o.day.index, o.occurrence) for o in schedule.monthly_occurrences or ()},
                        key=lambda item: (item[0], item[1] or 0),
                    )
                )
            if not month_days and not monthly:
                anchor_day = wall.day
        return cls(frequency, interval, anchor_ord, week_days, month_days, monthly, anchor_day)

    def next_day(self, day: int) -> int | None:
        """The first eligible day ordinal at or after ``day``, or None if there is none."""
        day = max(day, self.anchor_ord)
        if day > _MAX_ORD:
            return None
        if self.frequency is Frequency.WEEK:
            return self._next_week_day(day)
        if self.frequency is Frequency.MONTH:
            return self._next_month_day(day)
        if self.frequency is Frequency.DAY:
            day += (self.anchor_ord - day) % self.interval
        return day if day <= _MAX_ORD else None

    def _next_week_day(self, day: int) -> int | None:
        week, index = divmod(day, 7)
        behind = (week - self.anchor_ord // 7) % self.interval
        if behind:
            week += self.interval - behind
            index = 0
        position = bisect_left(self.week_days, index)
        if position == len(self.week_days):
            week += self.interval
            position = 0
        found = week * 7 + self.week_days[position]
        return found if found <= _MAX_ORD else None

    def _next_month_day(self, day: int) -> int | None:
        current = date.fromordinal(day)
        month_index = current.year * 12 + current.month - 1
        anchor = date.fromordinal(self.anchor_ord)
        behind = (month_index - (anchor.year * 12 + anchor.month - 1)) % self.interval
        day_of_month = current.day
        if behind:
            month_index += self.interval - behind
            day_of_month = 1
        for _ in range(_MONTH_SEARCH_LIMIT):
            year, month0 = divmod(month_index, 12)
            if year > 9999:
                return None
            days = self.days_of_month(year, month0 + 1)
            position = bisect_left(days, day_of_month)
            if position < len(days):
                return date(year, month0 + 1, days[position]).toordinal()
            month_index += self.interval
            day_of_month = 1
        return None

    def days_of_month(self, year: int, month: int) -> list[int]:
        """The eligible days of one month, sorted (§4.3 ``resolvedMonthDays``)."""
        length = days_in_month(year, month)
        if self.anchor_day is not None:
            return [min(self.anchor_day, length)]
        found = set()
        for value in self.month_days:
            resolved = value if value > 0 else length + 1 + value
            if 1 <= resolved <= length:
                found.add(resolved)
        if self.monthly:
            first_weekday = date(year, month, 1).weekday()
            for weekday, occurrence in self.monthly:
                matching = range(1 + (weekday - first_weekday) % 7, length + 1, 7)
                if occurrence is None:
                    found.update(matching)
                elif -len(matching) <= occurrence <= len(matching):
                    found.add(matching[occurrence - 1 if occurrence > 0 else occurrence])
        return sorted(found)


def days_in_month(year: int, month: int) -> int:
    """Length of a month in the proleptic Gregorian calendar."""
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month - 1]


@dataclass(slots=True)
class _UtcDayWalk(Plan):
    """Eligible UTC days × sorted times of day: integer arithmetic and two bisects."""

    anchor_us: int
    calendar: _Calendar | _CronCalendar
    times: _DayTimes | _CronTimes

    def first_at_or_after(self, lower_us: int) -> int | None:
        lower_us = max(lower_us, self.anchor_us)
        lower_day = lower_us // _DAY_US + _EPOCH_ORD
        day = self.calendar.next_day(lower_day)
        if day == lower_day:
            base = (day - _EPOCH_ORD) * _DAY_US
            found = self.times.first_at_or_after(lower_us - base)
            if found is not None:
                return base + found
            day = self.calendar.next_day(day + 1)
        if day is None:
            return None
        return (day - _EPOCH_ORD) * _DAY_US + self.times.first


@dataclass(slots=True)
class _UtcHourGrid(Plan):
    """Hour recurrence with ``minutes`` in UTC: every ``interval`` hours from the anchor's."""

    anchor_us: int
    anchor_hour: int  # hours since 0001-01-01 of the anchor's hour
    interval: int
    minutes: tuple[int, ...]

    def first_at_or_after(self, lower_us: int) -> int | None:
        lower_us = max(lower_us, self.anchor_us)
        epoch_hours = _EPOCH_ORD * 24
        hour = lower_us // _HOUR_US + epoch_hours
        aligned = hour + (self.anchor_hour - hour) % self.interval
        if aligned == hour:
            into = (lower_us - (hour - epoch_hours) * _HOUR_US + _MINUTE_US - 1) // _MINUTE_US
            position = bisect_left(self.minutes, into)
            if position < len(self.minutes):
                return (hour - epoch_hours) * _HOUR_US + self.minutes[position] * _MINUTE_US
            aligned += self.interval
        return (aligned - epoch_hours) * _HOUR_US + self.minutes[0] * _MINUTE_US


@dataclass(slots=True)
class _HourTimes:
    """Wall hours ``anchor_hour + k·interval`` × minutes: the hours depend on the day."""

    anchor_hour: int
    interval: int
    minutes: tuple[int, ...]

    def on(self, day: int) -> _DayTimes:
        first = (self.anchor_hour - day * 24) % self.interval
        return _DayTimes(tuple(range(first, 24, self.interval)), self.minutes, 0)


@dataclass(slots=True)
class _DayWalk(Plan):
    """Eligible wall-clock days in an IANA zone; exact around daylight-saving transitions."""

    anchor_us: int
    calendar: _Calendar | _CronCalendar
    times: _DayTimes | _HourTimes | _CronTimes
    zone: ZoneInfo
    grid: bool  # no schedule: the anchor itself is the first slot, even in a fold
    dst: DstPolicy = DEFAULT_DST

    def first_at_or_after(self, lower_us: int) -> int | None:
        if lower_us <= self.anchor_us:
            if self.grid:
                return self.anchor_us
            lower_us = self.anchor_us
        lower_wall = _from_us(lower_us).astimezone(self.zone)
        day = lower_wall.date().toordinal()
        # A slot of the day before can land at or after `lower` only when a gap lies between
        # that day's midnight and `lower`, which shows as a change of offset.
        offset = lower_wall.utcoffset()
        if offset != self.zone.utcoffset(_wall_midnight(day - 1)):
            day -= 1
        candidate = self.calendar.next_day(day)
        while candidate is not None:
            found, irregular = self._first_on(candidate, lower_us)
            if found is not None:
                following = self.calendar.next_day(candidate + 1)
                if irregular and following == candidate + 1:
                    later, _ = self._first_on(following, lower_us)
                    if later is not None and later < found:
                        found = later
                return found
            candidate = self.calendar.next_day(candidate + 1)
        return None

    def _first_on(self, day: int, lower_us: int) -> tuple[int | None, bool]:
        """The day's first instant at or after ``lower_us``; and whether the day is irregular."""
        times = self.times.on(day)
        if not times.hours or not times.minutes:
            return None, False
        wall_base = (day - _EPOCH_ORD) * _DAY_US
        midnight = _wall_midnight(day)
        opening = _offset_us(self.zone, midnight)
        closing = _offset_us(self.zone, midnight.replace(hour=23, minute=59, second=59, fold=1))
        if opening == closing:
            found = times.first_at_or_after(lower_us + opening - wall_base)
            return (None if found is None else wall_base + found - opening), False
        candidates: list[int] = []
        for time in times.all():
            wall = midnight + timedelta(microseconds=time)
            candidates.extend(_instants(self.zone, wall, wall_base + time, self.dst))
        eligible = [value for value in candidates if value >= lower_us]
        return (min(eligible) if eligible else None), True


def _instants(zone: ZoneInfo, wall: datetime, wall_us: int, dst: DstPolicy) -> list[int]:
    """The instants a naive wall time stands for under ``dst``: one, none (a gap, skipped)
    or two (a fold, both)."""
    first = _offset_us(zone, wall)
    second = _offset_us(zone, wall.replace(fold=1))
    if first == second:
        return [wall_us - first]
    if first < second:  # a gap: fold 0 reads it with the offset before, so it shifts
        if dst.gap is Gap.SHIFT:
            return [wall_us - first]
        if dst.gap is Gap.SKIP:
            return []
        return [_transition(zone, wall_us - second, wall_us - first)]
    if dst.fold is Fold.FIRST:
        return [wall_us - first]
    if dst.fold is Fold.SECOND:
        return [wall_us - second]
    return [wall_us - first, wall_us - second]


def _transition(zone: ZoneInfo, low_us: int, high_us: int) -> int:
    """The first instant in ``(low_us, high_us]`` with ``high_us``'s offset: where the
    offset changed (transitions fall on whole seconds)."""
    wanted = _from_us(high_us).astimezone(zone).utcoffset()
    low, high = low_us // _US, -(-high_us // _US)
    while high - low > 1:
        middle = (low + high) // 2
        if _from_us(middle * _US).astimezone(zone).utcoffset() == wanted:
            high = middle
        else:
            low = middle
    return high * _US


def _wall_midnight(day: int) -> datetime:
    """Midnight of a day ordinal as a naive wall time: ZoneInfo reads its fields and fold."""
    civil = date.fromordinal(day)
    return datetime(civil.year, civil.month, civil.day)  # noqa: DTZ001


def _offset_us(zone: ZoneInfo, wall: datetime) -> int:
    offset = zone.utcoffset(wall)
    assert offset is not None  # noqa: S101 - ZoneInfo always knows its offset
    return (offset.days * 86400 + offset.seconds) * _US + offset.microseconds


# -- cron expressions (jobclock's extension) ---------------------------------------------


def _cron_plan(cron: CronExpression, start: datetime, recurrence: Recurrence) -> Plan:
    """The expression's instants at or after ``start``, read in the recurrence's zone (a
    wall time in a gap shifts by the gap, one in a fold fires at its first instance, as
    every schedule here)."""
    anchor_us = _to_us(start)
    if recurrence.is_utc:
        return _UtcCronWalk(anchor_us, cron)
    zone = recurrence.zone
    wall = start.astimezone(zone)
    calendar = _CronCalendar(cron, wall.date().toordinal())
    times = _CronTimes(cron.hours, cron.minutes, cron.seconds)
    return _DayWalk(anchor_us, calendar, times, zone, grid=False, dst=recurrence.dst or DEFAULT_DST)


class _UtcCronWalk(Plan):
    """A cron expression in UTC: the matching days (``CronExpression.year_masks``) × the
    day's sorted times, in integer arithmetic."""

    __slots__ = ("anchor_us", "cron")

    def __init__(self, anchor_us: int, cron: CronExpression) -> None:
        self.anchor_us = anchor_us
        self.cron = cron

    def first_at_or_after(self, lower_us: int) -> int | None:
        lower_us = max(lower_us, self.anchor_us)
        cron = self.cron
        lower_day = lower_us // _DAY_US + _EPOCH_ORD  # never before the anchor's day
        every_day = cron.every_day
        if every_day:
            day: int | None = lower_day if lower_day <= _MAX_ORD else None
        else:
            day = _cron_next_day(cron.year_masks, lower_day)
        if day == lower_day:
            base = (day - _EPOCH_ORD) * _DAY_US
            found = _cron_time(cron.hours, cron.minutes, cron.seconds, lower_us - base)
            if found is not None:
                return base + found
            if every_day:
                day = lower_day + 1 if lower_day < _MAX_ORD else None
            else:
                day = _cron_next_day(cron.year_masks, lower_day + 1)
        if day is None:
            return None
        return (day - _EPOCH_ORD) * _DAY_US + cron.first_second * _US


def _cron_time(
    hours: tuple[int, ...], minutes: tuple[int, ...], seconds: tuple[int, ...], offset_us: int
) -> int | None:
    """The first of ``hours × minutes × seconds`` (µs after midnight) at or after
    ``offset_us``, or None."""
    if offset_us <= 0:
        return hours[0] * _HOUR_US + minutes[0] * _MINUTE_US + seconds[0] * _US
    second = -(-offset_us // _US)  # a slot is a whole second
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    h = bisect_left(hours, hour)
    if h < len(hours) and hours[h] == hour:
        m = bisect_left(minutes, minute)
        if m < len(minutes) and minutes[m] == minute:
            s = bisect_left(seconds, second)
            if s < len(seconds):
                return hour * _HOUR_US + minute * _MINUTE_US + seconds[s] * _US
            m += 1
        if m < len(minutes):
            return hour * _HOUR_US + minutes[m] * _MINUTE_US + seconds[0] * _US
        h += 1
    if h < len(hours):
        return hours[h] * _HOUR_US + minutes[0] * _MINUTE_US + seconds[0] * _US
    return None


@dataclass(slots=True)
class _CronTimes:
    """A day's slots of a cron expression: ``hours × minutes × seconds``, sorted."""

    hours: tuple[int, ...]
    minutes: tuple[int, ...]
    seconds: tuple[int, ...]

    @property
    def first(self) -> int:
        return self.hours[0] * _HOUR_US + self.minutes[0] * _MINUTE_US + self.seconds[0] * _US

    def first_at_or_after(self, offset_us: int) -> int | None:
        return _cron_time(self.hours, self.minutes, self.seconds, offset_us)

    def all(self) -> Iterator[int]:
        for hour in self.hours:
            for minute in self.minutes:
                for second in self.seconds:
                    yield hour * _HOUR_US + minute * _MINUTE_US + second * _US

    def on(self, day: int) -> _CronTimes:
        return self


@dataclass(slots=True)
class _CronCalendar:
    """The days a cron expression's day and month fields match, as day ordinals."""

    cron: CronExpression
    anchor_ord: int

    def next_day(self, day: int) -> int | None:
        return _cron_next_day(self.cron.year_masks, max(day, self.anchor_ord))


def _cron_next_day(masks: tuple[int, ...], day: int) -> int | None:
    """The first day at or after ``day`` whose bit is set in its kind of year's mask
    (``CronExpression.year_masks``), or None."""
    if day > _MAX_ORD:
        return None
    current = date.fromordinal(day)
    year = current.year
    jan1 = date(year, 1, 1).toordinal()
    # 400 years (4800 months from ``day``'s) repeat the calendar: a day never found in them
    # never comes.
    for years in range(401):
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        following = masks[7 * leap + jan1 % 7] >> (day - jan1)
        if following:
            found = day + (following & -following).bit_length() - 1
            if years == 400 and date.fromordinal(found).month >= current.month:
                return None
            return found
        if year >= 9999:
            return None
        jan1 += 366 if leap else 365
        day = jan1
        year += 1
    return None


# -- RFC 5545 rules (jobclock's extension) ------------------------------------------------

# Wall times of a rule this far either side of a lower bound are compared as instants: no
# zone's daylight-saving shift moves a wall time further than this.
_DST_REACH_US = 3 * _HOUR_US


def _rrule_plan(rule: RRule, start: datetime, recurrence: Recurrence) -> Plan:
    zone = None if recurrence.is_utc else recurrence.zone
    wall = _wall_fields(start.astimezone(zone) if zone is not None else start)
    return _RRuleWalk(
        _to_us(start), RRulePlan(rule, wall, None), zone, recurrence.dst or DEFAULT_DST
    )


def _wall_fields(moment: datetime) -> datetime:
    """``moment.replace(tzinfo=None)``, built directly (``replace`` costs more)."""
    if moment.fold:
        return moment.replace(tzinfo=None)
    return datetime(  # noqa: DTZ001 - a naive wall time
        moment.year, moment.month, moment.day,
        moment.hour, moment.minute, moment.second, moment.microsecond,
    )  # fmt: skip


class _RRuleWalk(Plan):
    """A rule's wall times (:class:`jobclock.domain.rrule.RRulePlan`) as instants."""

    __slots__ = ("anchor_us", "dst", "walls", "zone")

    def __init__(
        self, anchor_us: int, walls: RRulePlan, zone: ZoneInfo | None, dst: DstPolicy
    ) -> None:
        self.anchor_us = anchor_us
        self.walls = walls
        self.zone = zone
        self.dst = dst

    def first_at_or_after(self, lower_us: int) -> int | None:
        lower_us = max(lower_us, self.anchor_us)
        if self.zone is None:
            found = self.walls.first_at_or_after(_naive(lower_us))
            return None if found is None else _naive_us(found)
        zone = self.zone
        lower_wall = _wall_fields(_from_us(lower_us).astimezone(zone))
        # Away from a change of offset, wall order is instant order: start at the lower
        # bound's wall time and stop at the first instant; near one, look around it.
        if not _steady(zone, lower_us - _DST_REACH_US, lower_us + _DST_REACH_US):
            lower_wall -= timedelta(microseconds=_DST_REACH_US)
        wall = self.walls.first_at_or_after(lower_wall)
        best: int | None = None
        best_wall = 0
        while wall is not None:
            wall_us = _naive_us(wall)
            if best is not None and (
                wall_us > best_wall + _DST_REACH_US or _steady(zone, best, best + _DST_REACH_US)
            ):
                break
            for instant in _instants(zone, wall, wall_us, self.dst):
                if instant >= lower_us and (best is None or instant < best):
                    best, best_wall = instant, wall_us
            wall = self.walls.first_at_or_after(wall + timedelta(seconds=1))
        return best


def _steady(zone: ZoneInfo, first_us: int, last_us: int) -> bool:
    """Whether ``zone``'s offset is the same at both instants (no change between them: no
    zone changes its offset twice within hours)."""
    return (
        _from_us(first_us).astimezone(zone).utcoffset()
        == _from_us(last_us).astimezone(zone).utcoffset()
    )


_NAIVE_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - the epoch's UTC fields


def _naive(micros: int) -> datetime:
    """The naive wall time (UTC fields) of ``micros`` µs after the epoch."""
    return _NAIVE_EPOCH + timedelta(microseconds=micros)


def _naive_us(wall: datetime) -> int:
    """Microseconds since the epoch of a naive wall time read in UTC."""
    delta = wall - _NAIVE_EPOCH
    return (delta.days * 86400 + delta.seconds) * _US + delta.microseconds
