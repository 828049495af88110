"""Recurrence value types (§3.6, §3.7) and their shape rules.

These are plain frozen values; :mod:`jobclock.domain.occurrences` computes instants from
them. Two extensions beyond Azure live here: the ``Second`` frequency and the IANA
``timeZone`` in which Day, Week and Month recurrences and every schedule field are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobclock.domain.calendar import Calendar, CalendarRef
from jobclock.domain.cron import CronExpression
from jobclock.domain.durations import Duration
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.rrule import RRule


class Frequency(Enum):
    """Recurrence unit. ``Second`` is jobclock's extension; Azure stopped at ``Minute``."""

    SECOND = "Second"
    MINUTE = "Minute"
    HOUR = "Hour"
    DAY = "Day"
    WEEK = "Week"
    MONTH = "Month"

    @property
    def nominal(self) -> timedelta:
        """Length of one unit for comparing how often recurrences fire (a month is 30 days)."""
        return _NOMINAL[self]

    @property
    def max_interval(self) -> int:
        """The largest interval Azure's tooling accepted for this unit (§3.6)."""
        return _MAX_INTERVAL[self]


_NOMINAL = {
    Frequency.SECOND: timedelta(seconds=1),
    Frequency.MINUTE: timedelta(minutes=1),
    Frequency.HOUR: timedelta(hours=1),
    Frequency.DAY: timedelta(days=1),
    Frequency.WEEK: timedelta(weeks=1),
    Frequency.MONTH: timedelta(days=30),
}
# Minute and Hour: 1000 (§11 Q14); Day/Week/Month: the 18-month recurrence span. Second is
# ours: a day's worth of seconds keeps it below the Minute cap's span.
_MAX_INTERVAL = {
    Frequency.SECOND: 86_400,
    Frequency.MINUTE: 1000,
    Frequency.HOUR: 1000,
    Frequency.DAY: 548,
    Frequency.WEEK: 78,
    Frequency.MONTH: 18,
}


class DayOfWeek(Enum):
    """Azure's ``DayOfWeek``; ``index`` is Python's ``date.weekday()`` (Monday = 0)."""

    SUNDAY = "Sunday"
    MONDAY = "Monday"
    TUESDAY = "Tuesday"
    WEDNESDAY = "Wednesday"
    THURSDAY = "Thursday"
    FRIDAY = "Friday"
    SATURDAY = "Saturday"

    @property
    def index(self) -> int:
        return _WEEKDAY_INDEX[self]

    @classmethod
    def from_index(cls, index: int) -> DayOfWeek:
        return _BY_INDEX[index]


_WEEKDAY_INDEX = {
    DayOfWeek.MONDAY: 0,
    DayOfWeek.TUESDAY: 1,
    DayOfWeek.WEDNESDAY: 2,
    DayOfWeek.THURSDAY: 3,
    DayOfWeek.FRIDAY: 4,
    DayOfWeek.SATURDAY: 5,
    DayOfWeek.SUNDAY: 6,
}
_BY_INDEX = {index: day for day, index in _WEEKDAY_INDEX.items()}
# Azure's enum order (Sunday first), used to sort week days for output.
WEEK_ORDER = tuple(DayOfWeek)


@dataclass(frozen=True, slots=True)
class MonthlyOccurrence:
    """The ``occurrence``-th ``day`` of a month; negative counts from the end, None = every."""

    day: DayOfWeek
    occurrence: int | None = None

    def sort_key(self) -> tuple[int, int]:
        return (WEEK_ORDER.index(self.day), 0 if self.occurrence is None else self.occurrence)


class Gap(Enum):
    """What a wall time inside a spring-forward gap (it does not exist that day) does."""

    SHIFT = "shift"  # later by the gap's length: 02:30 in a one-hour gap runs at 03:30 (RFC 5545)
    GAP_END = "gapEnd"  # at the first instant after the gap (03:00)
    SKIP = "skip"  # not at all that day


class Fold(Enum):
    """Which instance of a wall time that an autumn fold repeats fires."""

    FIRST = "first"
    SECOND = "second"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class DstPolicy:
    """``recurrence.dstPolicy`` (jobclock's extension); the default is today's rule."""

    gap: Gap = Gap.SHIFT
    fold: Fold = Fold.FIRST


DEFAULT_DST = DstPolicy()


@dataclass(frozen=True, slots=True)
class Schedule:
    """The advanced schedule. ``None`` means the field was not given (defaults apply, §4.3).

    Lists are de-duplicated and sorted (order is irrelevant, §3.7).
    """

    minutes: tuple[int, ...] | None = None
    hours: tuple[int, ...] | None = None
    week_days: tuple[DayOfWeek, ...] | None = None
    month_days: tuple[int, ...] | None = None
    monthly_occurrences: tuple[MonthlyOccurrence, ...] | None = None

    def __post_init__(self) -> None:
        # Normalise once, here, so the engine can bisect the lists as they are. An empty
        # list is None: neither the wire nor the engine tells them apart, so equal
        # schedules are equal values (a stored job reads back equal to the one sent).
        for name in ("minutes", "hours", "month_days"):
            values = getattr(self, name)
            if values is not None:
                object.__setattr__(self, name, tuple(sorted(set(values))) or None)
        if self.week_days is not None:
            wanted = set(self.week_days)
            ordered_days = tuple(d for d in WEEK_ORDER if d in wanted)
            object.__setattr__(self, "week_days", ordered_days or None)
        if self.monthly_occurrences is not None:
            unique = set(self.monthly_occurrences)
            ordered = tuple(sorted(unique, key=MonthlyOccurrence.sort_key))
            object.__setattr__(self, "monthly_occurrences", ordered or None)

    @property
    def is_empty(self) -> bool:
        """``{}`` and a schedule of empty lists both mean "no schedule" (§3.7)."""
        return not (
            self.minutes
            or self.hours
            or self.week_days
            or self.month_days
            or self.monthly_occurrences
        )


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A job's recurrence: every ``interval`` ``frequency`` units, filtered by ``schedule``;
    or, with ``cron`` (jobclock's extension, :mod:`jobclock.domain.cron`), the instants of
    a cron expression read in ``time_zone``; then ``frequency`` is only the expression's
    finest unit (``Second`` with a seconds field, else ``Minute``), ``interval`` 1 and
    ``schedule`` None, and none of them is shown."""

    frequency: Frequency
    interval: int = 1
    count: int | None = None
    end_time: datetime | None = None
    schedule: Schedule | None = None
    time_zone: str = "UTC"
    cron: CronExpression | None = None
    dst: DstPolicy | None = None  # None: DEFAULT_DST, and not shown
    # An RFC 5545 rule instead (jobclock's extension, :mod:`jobclock.domain.rrule`): the
    # job's startTime is its DTSTART; ``frequency`` is the rule's FREQ as near as it goes.
    rrule: RRule | None = None
    # Instants left out (with any kind of recurrence); sorted, without repeats.
    exdates: tuple[datetime, ...] = ()
    # ``recurrence.jitter`` (jobclock's extension): each occurrence runs later than its slot
    # by a deterministic part of this, derived from ``seed`` (the job) and the slot.
    jitter: Duration | None = None
    # ``recurrence.calendar`` (jobclock's extension): the collection's calendar it follows,
    # and that calendar's holidays as they were when the job (or calendar) was last saved:
    # attached with :meth:`on_calendar` (the wire names the calendar only).
    calendar: CalendarRef | None = None
    holidays: Calendar | None = None
    # Which job the recurrence belongs to (``collection/job``): set with :meth:`seeded`
    # where the job is known; not part of the definition, so not compared.
    seed: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # An empty schedule is no schedule (§3.7); one value for both keeps equality exact.
        if self.schedule is not None and self.schedule.is_empty:
            object.__setattr__(self, "schedule", None)
        if self.exdates:
            object.__setattr__(self, "exdates", tuple(sorted(set(self.exdates))))

    @classmethod
    def from_cron(
        cls,
        cron: CronExpression,
        count: int | None = None,
        end_time: datetime | None = None,
        time_zone: str = "UTC",
        dst: DstPolicy | None = None,
        exdates: tuple[datetime, ...] = (),
        jitter: Duration | None = None,
        calendar: CalendarRef | None = None,
    ) -> Recurrence:
        unit = Frequency.SECOND if cron.has_seconds else Frequency.MINUTE
        return cls(
            unit, 1, count, end_time, None, time_zone, cron, dst, None, exdates, jitter, calendar
        )

    @classmethod
    def from_rrule(
        cls,
        rule: RRule,
        count: int | None = None,
        end_time: datetime | None = None,
        time_zone: str = "UTC",
        dst: DstPolicy | None = None,
        exdates: tuple[datetime, ...] = (),
        jitter: Duration | None = None,
        calendar: CalendarRef | None = None,
    ) -> Recurrence:
        unit = _RRULE_UNITS[rule.freq]
        if rule.finest_seconds:
            unit = Frequency.SECOND
        return cls(
            unit, 1, count, end_time, None, time_zone, None, dst, rule, exdates, jitter, calendar
        )

    def on_calendar(self, holidays: Calendar | None) -> Recurrence:
        """This recurrence with its calendar's holidays (None: the calendar has none)."""
        if self.calendar is None or self.holidays == holidays:
            return self
        return replace(self, holidays=holidays)

    @property
    def holiday_zone(self) -> str:
        """The zone in which its calendar's dates are read: the calendar's, else its own."""
        if self.holidays is not None and self.holidays.time_zone is not None:
            return self.holidays.time_zone
        return self.time_zone

    def seeded(self, seed: str) -> Recurrence:
        """This recurrence as job ``seed``'s (its jitter is that job's); unchanged without
        a jitter."""
        if self.jitter is None or self.seed == seed:
            return self
        return replace(self, seed=seed)

    @property
    def limit(self) -> int | None:
        """How many occurrences the series has at most: ``count``, or the rule's COUNT."""
        counts = [c for c in (self.count, None if self.rrule is None else self.rrule.count) if c]
        return min(counts) if counts else None

    @property
    def effective_schedule(self) -> Schedule | None:
        """The schedule, or None when it is absent or empty."""
        if self.schedule is None or self.schedule.is_empty:
            return None
        return self.schedule

    @property
    def zone(self) -> ZoneInfo:
        return zone_named(self.time_zone)

    @property
    def is_utc(self) -> bool:
        return self.time_zone == "UTC"

    @property
    def nominal_period(self) -> timedelta:
        """``interval × frequency`` as a length (months count 30 days)."""
        return self.frequency.nominal * self.interval


_RRULE_UNITS = {
    "YEARLY": Frequency.MONTH,
    "MONTHLY": Frequency.MONTH,
    "WEEKLY": Frequency.WEEK,
    "DAILY": Frequency.DAY,
    "HOURLY": Frequency.HOUR,
    "MINUTELY": Frequency.MINUTE,
    "SECONDLY": Frequency.SECOND,
}


@lru_cache(maxsize=512)
def zone_named(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; :class:`InvalidDefinition` when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidDefinition(
            f"'recurrence.timeZone' is not a known IANA time zone: {name!r}.",
            field="recurrence.timeZone",
        ) from exc


# Azure's ``count`` was a 32-bit integer (``int?`` in its .NET client), as the counters that
# reach it are in the store.
MAX_COUNT = 2**31 - 1

# The frequencies each schedule field may be combined with (§3.7).
_FIELD_FREQUENCIES = {
    "minutes": (Frequency.HOUR, Frequency.DAY, Frequency.WEEK, Frequency.MONTH),
    "hours": (Frequency.DAY, Frequency.WEEK, Frequency.MONTH),
    "weekDays": (Frequency.WEEK,),
    "monthDays": (Frequency.MONTH,),
    "monthlyOccurrences": (Frequency.MONTH,),
}
# Azure's own wording for a mismatch (classic API): "Cannot set days of month with
# recurrence unit 'Week'."
_FIELD_NOUN = {
    "minutes": "minutes",
    "hours": "hours",
    "weekDays": "days of week",
    "monthDays": "days of month",
    "monthlyOccurrences": "monthly occurrences",
}


# The longest jitter: a month's worth (a job is never moved past its next slot anyway).
MAX_JITTER = timedelta(days=31)


def jitter_seed(collection: str, job: str) -> str:
    """The seed of a job's jitter: its collection and name, which Azure compares without
    case."""
    return f"{collection}/{job}".lower()


def check_recurrence_shape(recurrence: Recurrence) -> None:
    """Raise :class:`InvalidDefinition` unless the recurrence obeys §3.6 and §3.7.

    Plan and quota limits are checked elsewhere (:mod:`jobclock.domain.limits`).
    """
    interval = recurrence.interval
    frequency = recurrence.frequency
    if interval < 1 or interval > frequency.max_interval:
        raise InvalidDefinition(
            f"'recurrence.interval' must be between 1 and {frequency.max_interval} for "
            f"frequency '{frequency.value}', got {interval}.",
            field="recurrence.interval",
        )
    if recurrence.count is not None and not 1 <= recurrence.count <= MAX_COUNT:
        raise InvalidDefinition(
            f"'recurrence.count' must be between 1 and {MAX_COUNT}, got {recurrence.count}.",
            field="recurrence.count",
        )
    zone_named(recurrence.time_zone)
    jitter = recurrence.jitter
    if jitter is not None and not timedelta(0) < jitter.value <= MAX_JITTER:
        raise InvalidDefinition(
            f"'recurrence.jitter' must be longer than 0 and at most {MAX_JITTER.days} days, "
            f"got '{jitter.text}'.",
            field="recurrence.jitter",
        )
    schedule = recurrence.effective_schedule
    if schedule is not None:
        _check_schedule(schedule, frequency)


def _check_schedule(schedule: Schedule, frequency: Frequency) -> None:
    given = {
        "minutes": schedule.minutes,
        "hours": schedule.hours,
        "weekDays": schedule.week_days,
        "monthDays": schedule.month_days,
        "monthlyOccurrences": schedule.monthly_occurrences,
    }
    for name, values in given.items():
        if values and frequency not in _FIELD_FREQUENCIES[name]:
            raise InvalidDefinition(
                f"Cannot set {_FIELD_NOUN[name]} with recurrence unit '{frequency.value}'.",
                field=f"recurrence.schedule.{name}",
            )
    _check_range(schedule.minutes, 0, 59, "minutes")
    _check_range(schedule.hours, 0, 23, "hours")
    for day in schedule.month_days or ():
        if day == 0 or not -31 <= day <= 31:
            raise InvalidDefinition(
                "'recurrence.schedule.monthDays' values must be between 1 and 31 or between "
                f"-31 and -1 (-1 is the last day of the month), got {day}.",
                field="recurrence.schedule.monthDays",
            )
    for item in schedule.monthly_occurrences or ():
        occurrence = item.occurrence
        if occurrence is not None and (occurrence == 0 or not -5 <= occurrence <= 5):
            raise InvalidDefinition(
                "'recurrence.schedule.monthlyOccurrences[].occurrence' must be between 1 and 5 "
                f"or between -5 and -1 (-1 is the last), got {occurrence}.",
                field="recurrence.schedule.monthlyOccurrences",
            )


def _check_range(values: tuple[int, ...] | None, low: int, high: int, name: str) -> None:
    for value in values or ():
        if not low <= value <= high:
            raise InvalidDefinition(
                f"'recurrence.schedule.{name}' values must be between {low} and {high}, "
                f"got {value}.",
                field=f"recurrence.schedule.{name}",
            )
