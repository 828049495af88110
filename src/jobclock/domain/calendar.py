"""Holiday calendars (issue 14, item 4): a collection's named lists of dates and week days
on which its jobs do not run, and what a job does with an occurrence that falls on one.

A *calendar* (``.../jobCollections/{c}/calendars/{name}``) lists ``dates`` and
``weekDays``; a day is a holiday when it is listed either way, read in the calendar's
``timeZone`` (or, without one, in each job's own ``timeZone``). A job's
``recurrence.calendar: {"name", "onHoliday"}`` names one:

* ``skip`` (the default): an occurrence on a holiday does not run;
* ``next``: it runs on the next business day, at the same wall time;
* ``previous``: on the previous business day, at the same wall time.

Runs that land on the same instant run once (a daily job's Saturday and Sunday rolled to
Monday run with Monday's own as one). The searches below work on the series' slots through
a ``first(lower_us)`` callable (the first slot at or after an instant, exdates already left
out), so they know nothing of how a plan finds its slots; they answer the first *run* at or
after an instant, which is all the rest of the recurrence engine asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from jobclock.domain.errors import InvalidDefinition

_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_ORD = date(1, 1, 1).toordinal()
_MAX_ORD = date(9999, 12, 31).toordinal()
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# A calendar lists at most this many dates (some thirty years of a country's holidays).
MAX_CALENDAR_DATES = 2000
# A collection holds at most this many calendars.
MAX_CALENDARS = 100
# ``skip`` gives up after this many holidays in a row that hold slots: every occurrence
# falls on a holiday (a Saturday job with a weekend calendar), so the series has no run.
_MAX_HOLIDAY_JUMPS = 2000


class OnHoliday(Enum):
    """What an occurrence that falls on a holiday does."""

    SKIP = "skip"
    NEXT = "next"
    PREVIOUS = "previous"


@dataclass(frozen=True, slots=True)
class CalendarRef:
    """``recurrence.calendar``: which calendar of the job's collection, and what to do."""

    name: str
    on_holiday: OnHoliday = OnHoliday.SKIP

    @property
    def key(self) -> str:
        """Calendar names compare without case, as Azure's resource names do."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Calendar:
    """A calendar's holidays. ``dates`` sorted without repeats; ``week_days`` are
    ``date.weekday()`` numbers (Monday = 0), sorted; ``time_zone`` None: each job reads the
    dates in its own zone."""

    dates: tuple[date, ...] = ()
    week_days: tuple[int, ...] = ()
    time_zone: str | None = None
    # The dates as a set, for the lookup made on every slot (derived, so not compared).
    _listed: frozenset[date] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dates", tuple(sorted(set(self.dates))))
        object.__setattr__(self, "week_days", tuple(sorted(set(self.week_days))))
        object.__setattr__(self, "_listed", frozenset(self.dates))

    def is_holiday(self, day: date) -> bool:
        return day.weekday() in self.week_days or day in self._listed

    def why(self, day: date) -> str:
        """Why ``day`` is a holiday, in words (for explain)."""
        if day in self._listed:
            return f"{day.isoformat()} is listed in its dates"
        return f"{_WEEKDAYS[day.weekday()]} is one of its weekDays"


def check_calendar(calendar: Calendar) -> None:
    """Raise :class:`InvalidDefinition` unless the calendar leaves business days."""
    if len(calendar.dates) > MAX_CALENDAR_DATES:
        raise InvalidDefinition(
            f"'properties.dates' holds at most {MAX_CALENDAR_DATES} dates, got "
            f"{len(calendar.dates)}.",
            field="properties.dates",
        )
    if len(calendar.week_days) == 7:
        raise InvalidDefinition(
            "'properties.weekDays' lists all seven days: the calendar would leave no business day.",
            field="properties.weekDays",
        )


def first_run(
    first: Callable[[int], int | None],
    lower_us: int,
    calendar: Calendar,
    on_holiday: OnHoliday,
    zone: ZoneInfo,
) -> int | None:
    """The first run at or after ``lower_us`` of a series whose slots ``first`` finds, on
    ``calendar`` (read in ``zone``) with ``on_holiday``; None when there is none."""
    days = _Days(calendar, zone)
    if on_holiday is OnHoliday.SKIP:
        return _first_skipping(first, lower_us, days)
    return _first_rolled(first, lower_us, days, forward=on_holiday is OnHoliday.NEXT)


def holiday_of(calendar: Calendar, zone: ZoneInfo, instant: datetime) -> date | None:
    """The day of ``instant`` (in ``zone``) when it is a holiday of ``calendar``."""
    day = instant.astimezone(zone).date()
    return day if calendar.is_holiday(day) else None


def rolled_day(calendar: Calendar, day: date, on_holiday: OnHoliday) -> date | None:
    """The business day a holiday's occurrences run on (None: ``skip``, or none found)."""
    if on_holiday is OnHoliday.SKIP:
        return None
    step = 1 if on_holiday is OnHoliday.NEXT else -1
    found = _Days(calendar, ZoneInfo("UTC")).business(day.toordinal() + step, step)
    return None if found is None else date.fromordinal(found)


def _micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _US + delta.microseconds


class _Days:
    """Days as ordinals in the calendar's zone, instants as microseconds since the epoch."""

    __slots__ = ("calendar", "limit", "zone")

    def __init__(self, calendar: Calendar, zone: ZoneInfo) -> None:
        self.calendar = calendar
        self.zone = zone
        # The longest run of holidays in a row: listed dates with week days between them.
        self.limit = 7 * (len(calendar.dates) + 2)

    def day(self, micros: int) -> int:
        return self.local(micros).toordinal()

    def local(self, micros: int) -> datetime:
        return (_EPOCH + timedelta(microseconds=micros)).astimezone(self.zone)

    def holiday(self, day: int) -> bool:
        return self.calendar.is_holiday(date.fromordinal(day))

    def midnight(self, day: int) -> int:
        return self.at(day, time.min)

    def at(self, day: int, wall: time) -> int:
        """The instant of wall time ``wall`` on ``day``: a wall time in a gap is read with
        the offset before it (later by the gap), one in a fold is its first."""
        return _micros(datetime.combine(date.fromordinal(day), wall, tzinfo=self.zone))

    def no_later_than(self, day: int, wall: time) -> int:
        """An instant on ``day`` at or before every instant whose wall time is ``wall`` or
        later (inside a gap, :meth:`at` is later than the gap's end)."""
        moment = datetime.combine(date.fromordinal(day), wall, tzinfo=self.zone)
        return min(_micros(moment), _micros(moment.replace(fold=1)))

    def moved(self, micros: int, day: int) -> int:
        """Instant ``micros`` at the same wall time on ``day``."""
        return self.at(day, self.wall(micros))

    def wall(self, micros: int) -> time:
        """The wall time of instant ``micros``."""
        return self.local(micros).timetz().replace(tzinfo=None)

    def business(self, day: int, step: int) -> int | None:
        """The first business day from ``day`` on (``step`` 1) or back (``step`` -1)."""
        for _ in range(self.limit):
            if not _MIN_ORD <= day <= _MAX_ORD:
                return None
            if not self.holiday(day):
                return day
            day += step
        return None


def _first_skipping(first: Callable[[int], int | None], lower_us: int, days: _Days) -> int | None:
    found = first(lower_us)
    for _ in range(_MAX_HOLIDAY_JUMPS):
        if found is None:
            return None
        day = days.day(found)
        if not days.holiday(day):
            return found
        following = days.business(day + 1, 1)
        if following is None:
            return None
        found = first(days.midnight(following))
    return None


def _first_rolled(
    first: Callable[[int], int | None], lower_us: int, days: _Days, *, forward: bool
) -> int | None:
    """``next`` (``forward``) or ``previous``: every run is on a business day, and the runs
    on business day T are T's own slots and those of the holidays that roll to T (the ones
    just before it, or just after it). Groups are taken in day order; the first with a run
    at or after ``lower_us`` holds the answer."""
    lower_day = days.day(lower_us)
    target = days.business(lower_day, 1)
    for _ in range(64):  # each round moves to a later business day that holds a slot
        if target is None:
            return None
        found = _first_in_group(first, lower_us, lower_day, target, days, forward=forward)
        if found is not None:
            return found
        after = first(days.midnight(target + 1)) if target < _MAX_ORD else None
        if after is None:
            return None
        day = days.day(after)
        if forward:
            target = days.business(day, 1)
        else:
            back = days.business(day, -1)
            target = back if back is not None and back > target else days.business(day, 1)
    return None


def _first_in_group(
    first: Callable[[int], int | None],
    lower_us: int,
    lower_day: int,
    target: int,
    days: _Days,
    *,
    forward: bool,
) -> int | None:
    """The first run at or after ``lower_us`` on business day ``target``, or None."""
    best: int | None = None
    for source in _sources(target, days, forward=forward):
        if source == target:
            slot = first(max(lower_us, days.midnight(source)))
            runs = slot if slot is not None and days.day(slot) == source else None
        else:
            # A holiday's slots keep their wall times: only those at or after lower's wall
            # time (when lower is on the target day) can run at or after it.
            if lower_day == target:
                floor = days.no_later_than(source, days.wall(lower_us))
            else:
                floor = days.midnight(source)
            slot = first(floor)
            while slot is not None and days.day(slot) == source:
                moved = days.moved(slot, target)
                if moved >= lower_us:
                    break
                slot = first(slot + 1)  # only past a DST change of wall order
            runs = None
            if slot is not None and days.day(slot) == source:
                runs = days.moved(slot, target)
        if runs is not None and runs >= lower_us and (best is None or runs < best):
            best = runs
    return best


def _sources(target: int, days: _Days, *, forward: bool) -> list[int]:
    """Business day ``target`` and the holidays that roll to it."""
    step = -1 if forward else 1
    found = [target]
    day = target + step
    for _ in range(days.limit):
        if not _MIN_ORD <= day <= _MAX_ORD or not days.holiday(day):
            break
        found.append(day)
        day += step
    return found
