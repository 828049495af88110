"""Property tests of the recurrence engine (§4) against a brute-force oracle.

The oracle below is written from the spec's reference algorithm (§4.3), independently of
``jobclock.domain.occurrences``: it walks calendar days (or grid steps) one by one from the
anchor, emits every wall-clock slot and keeps the ones at or after ``max(start, now)``.
Wall-clock slots are turned into instants with ``fold=0`` (a wall time in a spring gap is
read with the offset in force before the gap, one in an autumn fold fires at its first
instance), which is trivial in UTC. Two rules for IANA zones follow the engine's documented
design rather than the spec (which is UTC only, §4.8): a grid without a schedule runs at
``S`` itself even when ``S`` is the second pass of a repeated wall time (§4.2: "run at S"),
and Hour with ``minutes`` counts wall-clock hours from the start's wall hour.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobclock.domain.occurrences import next_occurrence, occurrences, preview
from jobclock.domain.recurrence import (
    DayOfWeek,
    Frequency,
    MonthlyOccurrence,
    Recurrence,
    Schedule,
    check_recurrence_shape,
)

ZONES = (
    "UTC",
    "Europe/Amsterdam",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Apia",
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------
# The oracle (§4.3), written without looking at the engine's arithmetic.
# ---------------------------------------------------------------------------------------

_ELAPSED_UNIT = {
    Frequency.SECOND: timedelta(seconds=1),
    Frequency.MINUTE: timedelta(minutes=1),
    Frequency.HOUR: timedelta(hours=1),
    Frequency.DAY: timedelta(days=1),
    Frequency.WEEK: timedelta(weeks=1),
}
# Python's date.weekday(): Monday = 0 ... Sunday = 6.
_PY_WEEKDAY = {
    DayOfWeek.MONDAY: 0,
    DayOfWeek.TUESDAY: 1,
    DayOfWeek.WEDNESDAY: 2,
    DayOfWeek.THURSDAY: 3,
    DayOfWeek.FRIDAY: 4,
    DayOfWeek.SATURDAY: 5,
    DayOfWeek.SUNDAY: 6,
}
# Every UTC offset in use lies within ±14 h: a wall time w is the instant w - offset.
_MAX_OFFSET = timedelta(hours=14)


def _given_schedule(recurrence: Recurrence) -> Schedule | None:
    """The schedule if it sets anything; ``{}`` means no schedule (§3.7)."""
    schedule = recurrence.schedule
    if schedule is None:
        return None
    fields = (
        schedule.minutes,
        schedule.hours,
        schedule.week_days,
        schedule.month_days,
        schedule.monthly_occurrences,
    )
    return schedule if any(fields) else None


def _is_elapsed_grid(recurrence: Recurrence) -> bool:
    """Second, Minute and Hour-without-minutes run on ``S + k·N·unit`` in elapsed time."""
    schedule = _given_schedule(recurrence)
    if recurrence.frequency in (Frequency.SECOND, Frequency.MINUTE):
        return True
    return recurrence.frequency is Frequency.HOUR and not (schedule and schedule.minutes)


def _days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _add_months(value: datetime, months: int) -> datetime:
    """.NET ``DateTime.AddMonths``: same day, clamped to the target month's length."""
    year, month0 = divmod(value.year * 12 + value.month - 1 + months, 12)
    day = min(value.day, _days_in_month(year, month0 + 1))
    return value.replace(year=year, month=month0 + 1, day=day)


def _week_start(day: date) -> date:
    """The Sunday that opens ``day``'s Sunday-to-Saturday week."""
    return day - timedelta(days=(day.weekday() + 1) % 7)


def _resolved_month_days(schedule: Schedule | None, anchor_day: int, y: int, m: int) -> set[int]:
    """§4.3 ``resolvedMonthDays``; without monthDays/monthlyOccurrences the anchor's day."""
    length = _days_in_month(y, m)
    if schedule is None or not (schedule.month_days or schedule.monthly_occurrences):
        return {min(anchor_day, length)}
    days = set()
    for k in schedule.month_days or ():
        if 1 <= k <= length:
            days.add(k)
        elif -length <= k <= -1:
            days.add(length + 1 + k)
    for item in schedule.monthly_occurrences or ():
        same = [x for x in range(1, length + 1) if date(y, m, x).weekday() == _PY_WEEKDAY[item.day]]
        if item.occurrence is None:
            days.update(same)
        elif 1 <= item.occurrence <= len(same):
            days.add(same[item.occurrence - 1])
        elif -len(same) <= item.occurrence <= -1:
            days.add(same[item.occurrence])
    return days


def _day_is_eligible(recurrence: Recurrence, anchor: date, day: date) -> bool:
    """§4.3 step 2 (for Day, Week and Month; any day for Hour)."""
    schedule = _given_schedule(recurrence)
    n = recurrence.interval
    if day < anchor:
        return False
    if recurrence.frequency is Frequency.DAY:
        return (day - anchor).days % n == 0
    if recurrence.frequency is Frequency.WEEK:
        if schedule is not None and schedule.week_days:
            week_days = {_PY_WEEKDAY[d] for d in schedule.week_days}
        else:
            week_days = {anchor.weekday()}
        weeks = (_week_start(day) - _week_start(anchor)).days // 7
        return day.weekday() in week_days and weeks % n == 0
    if recurrence.frequency is Frequency.MONTH:
        months = 12 * (day.year - anchor.year) + day.month - anchor.month
        allowed = _resolved_month_days(schedule, anchor.day, day.year, day.month)
        return months % n == 0 and day.day in allowed
    return True


def _times_of_day(recurrence: Recurrence, anchor: datetime) -> list[time]:
    """§4.3 step 1 and 3: hours × minutes at second 0, or the anchor's own time of day."""
    schedule = _given_schedule(recurrence)
    if schedule is None:
        return [anchor.time()]
    minutes = schedule.minutes or (anchor.minute,)
    if schedule.hours:
        hours: tuple[int, ...] | range = schedule.hours
    elif schedule.minutes:
        hours = range(24)
    else:
        hours = (anchor.hour,)
    return sorted(time(h, m) for h in hours for m in minutes)


def _wall_slots(recurrence: Recurrence, anchor: datetime, skip_before: datetime) -> Iterator:
    """Naive wall-clock slots in ascending order from the anchor on.

    Yields ``(wall, slot)`` where ``slot`` may be None (a day without slots) so the caller
    can stop; slots on days ending well before ``skip_before`` are not materialised.
    """
    frequency = recurrence.frequency
    n = recurrence.interval
    schedule = _given_schedule(recurrence)
    if frequency is Frequency.HOUR:
        assert schedule is not None
        assert schedule.minutes
        first_hour = anchor.replace(minute=0, second=0, microsecond=0)
        for k in range(10**9):
            hour = first_hour + timedelta(hours=k * n)
            for minute in sorted(schedule.minutes):
                yield hour, hour.replace(minute=minute)
    elif schedule is None and frequency is Frequency.MONTH:
        for k in range(10**9):
            slot = _add_months(anchor, k * n)
            yield slot, slot
    elif schedule is None:
        for k in range(10**9):
            slot = anchor + k * n * _ELAPSED_UNIT[frequency]
            yield slot, slot
    else:
        times = _times_of_day(recurrence, anchor)
        day = anchor.date()
        while True:
            midnight = datetime.combine(day, time())
            yield midnight, None
            if midnight + timedelta(days=1) + _MAX_OFFSET >= skip_before and _day_is_eligible(
                recurrence, anchor.date(), day
            ):
                for slot_time in times:
                    slot = datetime.combine(day, slot_time)
                    yield slot, slot
            day += timedelta(days=1)


def _candidates(recurrence: Recurrence, start: datetime, lower: datetime) -> Iterator:
    """``(bound, instant)`` pairs; no later candidate is before ``bound``."""
    if _is_elapsed_grid(recurrence):
        step = recurrence.interval * _ELAPSED_UNIT[recurrence.frequency]
        for k in range(10**9):
            instant = start + k * step
            yield instant, instant
        return
    zone = ZoneInfo(recurrence.time_zone)
    # fold=0: the slots are plain wall times; the anchor's own pass is handled below.
    anchor = start.astimezone(zone).replace(tzinfo=None, fold=0)
    skip_before = lower.astimezone(UTC).replace(tzinfo=None)
    grid = _given_schedule(recurrence) is None
    for wall, slot in _wall_slots(recurrence, anchor, skip_before):
        bound = wall.replace(tzinfo=UTC) - _MAX_OFFSET
        if slot is None:
            yield bound, None
        elif grid and slot == anchor:
            # §4.2: a grid runs at S itself, even when S is the second pass of a fold.
            yield bound, start
        else:
            # fold=0: gap times use the pre-gap offset, fold times their first instance.
            yield bound, slot.replace(tzinfo=zone).astimezone(UTC)


def oracle(
    recurrence: Recurrence, start: datetime, now: datetime, limit: int, horizon: datetime
) -> list[datetime]:
    """The first ``limit`` occurrences (§4.3 step 4) that are not after ``horizon``."""
    lower = max(start, now)
    last_allowed = horizon if recurrence.end_time is None else min(horizon, recurrence.end_time)
    wanted = limit if recurrence.count is None else min(limit, recurrence.count)
    kept: set[datetime] = set()
    enough_at = None
    for bound, instant in _candidates(recurrence, start, lower):
        if bound > last_allowed or (enough_at is not None and bound > enough_at):
            break
        if instant is not None and lower <= instant <= last_allowed and instant not in kept:
            kept.add(instant)
            if len(kept) >= wanted:
                enough_at = sorted(kept)[wanted - 1]
    return sorted(kept)[:wanted]


def engine_until(
    recurrence: Recurrence, start: datetime, now: datetime, limit: int, horizon: datetime
) -> list[datetime]:
    result = []
    for value in occurrences(recurrence, start, now):
        if value > horizon or len(result) >= limit:
            break
        result.append(value)
    return result


def horizon_for(recurrence: Recurrence, lower: datetime, limit: int) -> datetime:
    span = max(timedelta(days=2), (limit + 2) * recurrence.nominal_period)
    if recurrence.frequency is Frequency.MONTH:
        span = max(span, timedelta(days=400))
    return lower + span


# ---------------------------------------------------------------------------------------
# Reading an instant back as the wall-clock slot it came from.
# ---------------------------------------------------------------------------------------


def walls_read_as(instant: datetime, zone: ZoneInfo) -> list[datetime]:
    """Naive wall times that ``fold=0`` turns into ``instant`` (gap times included)."""
    utc_naive = instant.astimezone(UTC).replace(tzinfo=None)
    offsets = set()
    for back in (timedelta(days=2), timedelta(days=1), timedelta(hours=1), timedelta(0)):
        offset = (instant - back).astimezone(zone).utcoffset()
        assert offset is not None
        offsets.add(offset)
    return sorted(
        wall
        for wall in {utc_naive + offset for offset in offsets}
        if wall.replace(tzinfo=zone).astimezone(UTC) == instant
    )


def is_schedule_slot(recurrence: Recurrence, start: datetime, instant: datetime) -> bool:
    """Whether ``instant`` is one of the recurrence's slots, read in its own zone."""
    if _is_elapsed_grid(recurrence):
        step = recurrence.interval * _ELAPSED_UNIT[recurrence.frequency]
        return (instant - start) % step == timedelta(0)
    if instant == start and _given_schedule(recurrence) is None:
        return True  # a grid's first slot is S itself (§4.2)
    zone = ZoneInfo(recurrence.time_zone)
    anchor = start.astimezone(zone).replace(tzinfo=None, fold=0)
    for wall in walls_read_as(instant, zone):
        if recurrence.frequency is Frequency.HOUR:
            schedule = _given_schedule(recurrence)
            assert schedule is not None
            assert schedule.minutes
            hours = (wall.date() - anchor.date()).days * 24 + wall.hour - anchor.hour
            on_hour = wall.minute in schedule.minutes and wall.second == wall.microsecond == 0
            if on_hour and hours >= 0 and hours % recurrence.interval == 0:
                return True
        elif wall.time() in _times_of_day(recurrence, anchor) and _day_is_eligible(
            recurrence, anchor.date(), wall.date()
        ):
            return True
    return False


# ---------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------

_INTERVALS = {
    Frequency.SECOND: st.integers(1, 90),
    Frequency.MINUTE: st.integers(1, 90),
    Frequency.HOUR: st.integers(1, 7),
    Frequency.DAY: st.integers(1, 4),
    Frequency.WEEK: st.integers(1, 3),
    Frequency.MONTH: st.integers(1, 3),
}


def _sorted_unique(elements: st.SearchStrategy[int], max_size: int) -> st.SearchStrategy:
    return st.lists(elements, min_size=1, max_size=max_size, unique=True).map(
        lambda values: tuple(sorted(values))
    )


_MINUTES = _sorted_unique(st.integers(0, 59), 4)
_HOURS = _sorted_unique(st.integers(0, 23), 3)
_MONTH_DAYS = _sorted_unique(st.integers(1, 31) | st.integers(-31, -1), 4)
_WEEK_DAYS = st.lists(st.sampled_from(DayOfWeek), min_size=1, max_size=7, unique=True).map(
    lambda days: tuple(day for day in DayOfWeek if day in days)
)
_MONTHLY = st.lists(
    st.builds(
        MonthlyOccurrence,
        st.sampled_from(DayOfWeek),
        st.none() | st.sampled_from([1, 2, 3, 4, 5, -1, -2, -3, -4, -5]),
    ),
    min_size=1,
    max_size=3,
    unique=True,
).map(lambda items: tuple(sorted(items, key=MonthlyOccurrence.sort_key)))


_UTC_ONLY = st.just("UTC")
_ANY_ZONE = st.sampled_from(ZONES)
_NON_UTC_ZONE = st.sampled_from(ZONES[1:])
_ANY_FREQUENCY = st.sampled_from(Frequency)


def _schedules(frequency: Frequency) -> st.SearchStrategy[Schedule | None]:
    """Schedules that respect the shape rules of §3.7 for ``frequency``."""
    nothing = st.none() | st.just(Schedule())
    if frequency in (Frequency.SECOND, Frequency.MINUTE):
        return nothing
    if frequency is Frequency.HOUR:
        return nothing | st.builds(Schedule, minutes=_MINUTES)
    optional = {"minutes": st.none() | _MINUTES, "hours": st.none() | _HOURS}
    if frequency is Frequency.WEEK:
        optional["week_days"] = st.none() | _WEEK_DAYS
    if frequency is Frequency.MONTH:
        optional["month_days"] = st.none() | _MONTH_DAYS
        optional["monthly_occurrences"] = st.none() | _MONTHLY
    return nothing | st.builds(Schedule, **optional)


@st.composite
def recurrences(
    draw: st.DrawFn,
    zones: st.SearchStrategy[str] = _UTC_ONLY,
    frequencies: st.SearchStrategy[Frequency] = _ANY_FREQUENCY,
) -> Recurrence:
    frequency = draw(frequencies)
    recurrence = Recurrence(
        frequency=frequency,
        interval=draw(_INTERVALS[frequency]),
        count=draw(st.none() | st.integers(1, 12)),
        schedule=draw(_schedules(frequency)),
        time_zone=draw(zones),
    )
    check_recurrence_shape(recurrence)
    return recurrence


@cache
def offset_changes(zone_name: str) -> tuple[datetime, ...]:
    """The zone's offset changes between 2010 and 2030, as UTC instants (to the second)."""
    zone = ZoneInfo(zone_name)

    def offset(moment: datetime) -> timedelta | None:
        return moment.astimezone(zone).utcoffset()

    moment = datetime(2010, 1, 1, tzinfo=UTC)
    found = []
    while moment.year < 2031:
        following = moment + timedelta(days=1)
        if offset(moment) != offset(following):
            low, high = moment, following  # offset(low) != offset(high)
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if offset(middle) == offset(low):
                    low = middle
                else:
                    high = middle
            found.append(high.replace(microsecond=0))
        moment = following
    return tuple(found) or (datetime(2024, 6, 1, tzinfo=UTC),)


@st.composite
def starts(draw: st.DrawFn, zone_name: str) -> datetime:
    """Aware UTC anchors, often within hours or days of one of the zone's offset changes."""
    where = draw(st.sampled_from(["anywhere", "hours", "days"]))
    if where == "anywhere":
        naive = draw(st.datetimes(datetime(2011, 1, 1), datetime(2029, 12, 31)))
        value = naive.replace(tzinfo=UTC)
    else:
        near = draw(st.sampled_from(offset_changes(zone_name)))
        reach = timedelta(hours=3) if where == "hours" else timedelta(days=3)
        value = near + draw(st.timedeltas(-reach, reach))
    precision = draw(st.sampled_from(["minute", "second", "microsecond"]))
    if precision == "minute":
        value = value.replace(second=0, microsecond=0)
    elif precision == "second":
        value = value.replace(microsecond=0)
    return value


@dataclass(frozen=True)
class Case:
    recurrence: Recurrence
    start: datetime
    now: datetime
    limit: int

    @property
    def lower(self) -> datetime:
        return max(self.start, self.now)

    @property
    def horizon(self) -> datetime:
        return horizon_for(self.recurrence, self.lower, self.limit)


@st.composite
def cases(
    draw: st.DrawFn,
    zones: st.SearchStrategy[str] = _UTC_ONLY,
    frequencies: st.SearchStrategy[Frequency] = _ANY_FREQUENCY,
    with_end_time: bool = True,
    max_periods_behind: float = 25.0,
) -> Case:
    """A recurrence, its anchor, a ``now`` within a few dozen periods and a preview size."""
    recurrence = draw(recurrences(zones, frequencies))
    start = draw(starts(recurrence.time_zone))
    period = recurrence.nominal_period
    now = start + period * draw(st.floats(-2.0, max_periods_behind))
    if draw(st.booleans()):
        now = now.replace(microsecond=0)
    limit = draw(st.integers(1, 10))
    if with_end_time and draw(st.booleans()):
        end = max(start, now) + period * draw(st.floats(-1.0, limit + 1.0))
        recurrence = Recurrence(
            recurrence.frequency,
            recurrence.interval,
            recurrence.count,
            end,
            recurrence.schedule,
            recurrence.time_zone,
        )
    return Case(recurrence, start, now, limit)


# ---------------------------------------------------------------------------------------
# The oracle against the spec's own worked examples (§4.5, §4.6), then the engine.
# ---------------------------------------------------------------------------------------

_DOC_START = datetime(2024, 1, 1, 8, 30, tzinfo=UTC)  # a Monday
_MON, _WED, _FRI = DayOfWeek.MONDAY, DayOfWeek.WEDNESDAY, DayOfWeek.FRIDAY
_DOC_ROWS = [
    (
        "row 1: hours only inherit the start's minute",
        Recurrence(Frequency.DAY, schedule=Schedule(hours=(5,))),
        ["01-02 05:30", "01-03 05:30", "01-04 05:30", "01-05 05:30", "01-06 05:30"],
    ),
    (
        "row 4: hours x minutes",
        Recurrence(Frequency.DAY, schedule=Schedule(minutes=(15, 45), hours=(5, 17))),
        ["01-01 17:15", "01-01 17:45", "01-02 05:15", "01-02 05:45", "01-02 17:15"],
    ),
    (
        "row 8: minutes only mean every hour",
        Recurrence(Frequency.DAY, schedule=Schedule(minutes=(15,))),
        ["01-01 09:15", "01-01 10:15", "01-01 11:15", "01-01 12:15", "01-01 13:15"],
    ),
    (
        "row 12: week days with two hours",
        Recurrence(Frequency.WEEK, schedule=Schedule(hours=(5, 17), week_days=(_MON, _WED, _FRI))),
        ["01-01 17:30", "01-03 05:30", "01-03 17:30", "01-05 05:30", "01-05 17:30"],
    ),
    (
        "row 16: Sundays at the start's time",
        Recurrence(Frequency.WEEK, schedule=Schedule(week_days=(DayOfWeek.SUNDAY,))),
        ["01-07 08:30", "01-14 08:30", "01-21 08:30", "01-28 08:30", "02-04 08:30"],
    ),
    (
        "row 20: first and last day of the month",
        Recurrence(
            Frequency.MONTH, schedule=Schedule(minutes=(0,), hours=(6,), month_days=(-1, 1))
        ),
        ["01-31 06:00", "02-01 06:00", "02-29 06:00", "03-01 06:00", "03-31 06:00"],
    ),
    (
        "row 26: third Friday from the end",
        Recurrence(
            Frequency.MONTH,
            schedule=Schedule(monthly_occurrences=(MonthlyOccurrence(_FRI, -3),)),
        ),
        ["01-12 08:30", "02-09 08:30", "03-15 08:30", "04-12 08:30", "05-17 08:30"],
    ),
    (
        "row 29: fifth Friday, months without one skipped",
        Recurrence(
            Frequency.MONTH, schedule=Schedule(monthly_occurrences=(MonthlyOccurrence(_FRI, 5),))
        ),
        ["03-29 08:30", "05-31 08:30", "08-30 08:30", "11-29 08:30", "2025-01-31 08:30"],
    ),
    (
        "row 30: every 15 minutes on the last Friday",
        Recurrence(
            Frequency.MONTH,
            schedule=Schedule(
                minutes=(0, 15, 30, 45), monthly_occurrences=(MonthlyOccurrence(_FRI, -1),)
            ),
        ),
        ["01-26 00:00", "01-26 00:15", "01-26 00:30", "01-26 00:45", "01-26 01:00"],
    ),
    (
        "§4.6 biweekly Monday and Friday",
        Recurrence(Frequency.WEEK, interval=2, schedule=Schedule(week_days=(_MON, _FRI))),
        ["01-01 08:30", "01-05 08:30", "01-15 08:30", "01-19 08:30", "01-29 08:30"],
    ),
]


def _doc_instant(text: str) -> datetime:
    if len(text) == len("01-02 05:30"):
        text = f"2024-{text}"
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("recurrence", "expected"),
    [pytest.param(r, e, id=name) for name, r, e in _DOC_ROWS],
)
def test_oracle_and_engine_reproduce_the_spec_schedule_examples(
    recurrence: Recurrence, expected: list[str]
) -> None:
    wanted = [_doc_instant(text) for text in expected]
    horizon = _DOC_START + timedelta(days=800)
    assert oracle(recurrence, _DOC_START, _DOC_START, 5, horizon) == wanted
    assert preview(recurrence, _DOC_START, _DOC_START, 5) == wanted


def test_oracle_and_engine_clamp_a_month_grid_from_the_anchor() -> None:
    start = datetime(2024, 1, 31, 9, 0, 12, 345, tzinfo=UTC)
    recurrence = Recurrence(Frequency.MONTH)
    wanted = [
        start,
        start.replace(month=2, day=29),
        start.replace(month=3, day=31),
        start.replace(month=4, day=30),
        start.replace(month=5, day=31),
    ]
    horizon = start + timedelta(days=400)
    assert oracle(recurrence, start, start, 5, horizon) == wanted
    assert preview(recurrence, start, start, 5) == wanted


def test_oracle_and_engine_skip_past_grid_points_on_the_two_day_doc_example() -> None:
    # §4.2: now 2015-04-08 13:00, start 2015-04-07 14:00, every 2 days → 04-09, 04-11, 04-13.
    now = datetime(2015, 4, 8, 13, 0, tzinfo=UTC)
    recurrence = Recurrence(Frequency.DAY, interval=2)
    wanted = [datetime(2015, 4, day, 14, 0, tzinfo=UTC) for day in (9, 11, 13)]
    for start_day in (7, 5, 1):
        start = datetime(2015, 4, start_day, 14, 0, tzinfo=UTC)
        assert oracle(recurrence, start, now, 3, now + timedelta(days=30)) == wanted
        assert preview(recurrence, start, now, 3) == wanted


# ---------------------------------------------------------------------------------------
# 1. The engine equals the brute-force oracle.
# ---------------------------------------------------------------------------------------


def _assert_engine_matches_oracle(case: Case) -> None:
    expected = oracle(case.recurrence, case.start, case.now, case.limit, case.horizon)
    actual = engine_until(case.recurrence, case.start, case.now, case.limit, case.horizon)
    assert actual == expected


@pytest.mark.parametrize("frequency", list(Frequency), ids=lambda f: f.value)
@settings(SETTINGS, max_examples=120)
@given(data=st.data())
def test_engine_matches_the_brute_force_oracle_in_utc(
    frequency: Frequency, data: st.DataObject
) -> None:
    _assert_engine_matches_oracle(data.draw(cases(frequencies=st.just(frequency))))


@pytest.mark.parametrize(
    "frequency",
    [Frequency.HOUR, Frequency.DAY, Frequency.WEEK, Frequency.MONTH],
    ids=lambda f: f.value,
)
@settings(SETTINGS, max_examples=100)
@given(data=st.data())
def test_engine_matches_the_oracle_read_in_wall_clock_time_in_iana_zones(
    frequency: Frequency, data: st.DataObject
) -> None:
    case = data.draw(
        cases(zones=_NON_UTC_ZONE, frequencies=st.just(frequency), max_periods_behind=8.0)
    )
    _assert_engine_matches_oracle(case)


# ---------------------------------------------------------------------------------------
# 2. Properties, in UTC and in IANA zones.
# ---------------------------------------------------------------------------------------


def _first(case: Case, limit: int | None = None) -> list[datetime]:
    size = case.limit if limit is None else limit
    return list(islice(occurrences(case.recurrence, case.start, case.now), size))


@SETTINGS
@given(case=cases(zones=_ANY_ZONE))
def test_occurrences_strictly_increase(case: Case) -> None:
    values = _first(case, 25)
    assert all(a < b for a, b in pairwise(values))


@SETTINGS
@given(case=cases(zones=_ANY_ZONE))
def test_occurrences_stay_within_start_now_end_time_and_count(case: Case) -> None:
    recurrence = case.recurrence
    values = _first(case, 25)
    assert all(value >= case.start and value >= case.now for value in values)
    if recurrence.end_time is not None:
        assert all(value <= recurrence.end_time for value in values)
    if recurrence.count is not None:
        assert len(values) <= recurrence.count
        assert len(list(occurrences(recurrence, case.start, case.now))) <= recurrence.count
    assert all(value.utcoffset() == timedelta(0) for value in values)


@SETTINGS
@given(case=cases(zones=_ANY_ZONE))
def test_every_occurrence_matches_the_schedule_in_wall_clock_time(case: Case) -> None:
    for value in _first(case, 25):
        assert is_schedule_slot(case.recurrence, case.start, value), value


@SETTINGS
@given(case=cases(zones=_ANY_ZONE), extra=st.integers(0, 6))
def test_a_longer_preview_starts_with_the_shorter_one(case: Case, extra: int) -> None:
    shorter = preview(case.recurrence, case.start, case.now, case.limit)
    longer = preview(case.recurrence, case.start, case.now, case.limit + extra)
    assert longer[: case.limit] == shorter
    assert len(shorter) <= case.limit
    assert shorter == _first(case)


@SETTINGS
@given(case=cases(zones=_ANY_ZONE))
def test_chained_next_occurrence_reproduces_the_iterator(case: Case) -> None:
    recurrence = case.recurrence
    expected = _first(case, 15)
    chained: list[datetime] = []
    last = None
    while len(chained) < 15:
        value = next_occurrence(recurrence, case.start, case.now, last=last, done=len(chained))
        if value is None:
            break
        chained.append(value)
        last = value
    assert chained == expected
    if len(expected) < 15:
        # The series ended: asking again after the last one still answers "no more".
        assert next_occurrence(recurrence, case.start, case.now, last, len(expected)) is None


@SETTINGS
@given(case=cases(zones=_ANY_ZONE, with_end_time=False), pick=st.integers(0, 9))
def test_now_on_an_occurrence_returns_it_and_just_after_returns_the_next(
    case: Case, pick: int
) -> None:
    recurrence = Recurrence(
        case.recurrence.frequency,
        case.recurrence.interval,
        None,
        None,
        case.recurrence.schedule,
        case.recurrence.time_zone,
    )
    values = list(islice(occurrences(recurrence, case.start, case.now), 12))
    if pick + 1 >= len(values):
        return
    assert next_occurrence(recurrence, case.start, values[pick]) == values[pick]
    just_after = values[pick] + timedelta(microseconds=1)
    assert next_occurrence(recurrence, case.start, just_after) == values[pick + 1]
    assert (
        list(islice(occurrences(recurrence, case.start, values[pick]), 3))
        == values[pick : pick + 3]
    )


@SETTINGS
@given(case=cases(zones=_ANY_ZONE), done=st.integers(0, 15))
def test_done_counts_against_count(case: Case, done: int) -> None:
    recurrence = case.recurrence
    values = list(islice(occurrences(recurrence, case.start, case.now, done=done), 20))
    fresh = occurrences(recurrence, case.start, case.now)
    left = 20 if recurrence.count is None else min(20, max(0, recurrence.count - done))
    assert values == list(islice(fresh, left))


@SETTINGS
@given(case=cases(zones=_ANY_ZONE), behind=st.floats(-3.0, 12.0))
def test_next_occurrence_is_the_oracle_slot_strictly_after_last(case: Case, behind: float) -> None:
    recurrence = case.recurrence
    last = case.lower + recurrence.nominal_period * behind
    after_last = max(case.now, last + timedelta(microseconds=1))
    horizon = horizon_for(recurrence, max(case.start, after_last), 1)
    expected = oracle(recurrence, case.start, after_last, 1, horizon)
    found = next_occurrence(recurrence, case.start, case.now, last=last)
    if expected:
        assert found == expected[0]
    else:
        assert found is None or found > horizon


@given(
    start=starts("UTC"),
    now=st.datetimes(datetime(2010, 1, 1), datetime(2031, 1, 1)).map(
        lambda naive: naive.replace(tzinfo=UTC)
    ),
)
def test_a_job_without_recurrence_runs_once_at_start_or_now(start: datetime, now: datetime) -> None:
    assert list(occurrences(None, start, now)) == [max(start, now)]
    assert next_occurrence(None, start, now) == max(start, now)
    assert next_occurrence(None, start, now, last=max(start, now), done=1) is None
    assert preview(None, start, now, 3) == [max(start, now)]


def _with_schedule(recurrence: Recurrence, schedule: Schedule) -> Recurrence:
    return Recurrence(
        recurrence.frequency,
        recurrence.interval,
        recurrence.count,
        recurrence.end_time,
        schedule,
        recurrence.time_zone,
    )


@SETTINGS
@given(
    case=cases(
        frequencies=st.sampled_from([Frequency.HOUR, Frequency.DAY, Frequency.WEEK]),
    )
)
def test_utc_grid_without_schedule_equals_the_same_recurrence_as_a_schedule(case: Case) -> None:
    start = case.start.replace(second=0, microsecond=0)
    plain = _with_schedule(case.recurrence, Schedule())
    if plain.frequency is Frequency.HOUR:
        spelled = Schedule(minutes=(start.minute,))
    elif plain.frequency is Frequency.DAY:
        spelled = Schedule(minutes=(start.minute,), hours=(start.hour,))
    else:
        weekday = next(day for day, index in _PY_WEEKDAY.items() if index == start.weekday())
        spelled = Schedule(minutes=(start.minute,), hours=(start.hour,), week_days=(weekday,))
    scheduled = _with_schedule(plain, spelled)
    assert preview(plain, start, case.now, 12) == preview(scheduled, start, case.now, 12)


@SETTINGS
@given(
    case=cases(
        zones=_ANY_ZONE,
        frequencies=st.sampled_from([Frequency.DAY, Frequency.WEEK, Frequency.MONTH]),
    )
)
def test_wall_clock_grid_without_schedule_equals_its_spelled_out_schedule(case: Case) -> None:
    start = case.start.replace(second=0, microsecond=0)
    wall = start.astimezone(ZoneInfo(case.recurrence.time_zone))
    given = case.recurrence
    plain = Recurrence(given.frequency, given.interval, time_zone=given.time_zone)
    times = {"minutes": (wall.minute,), "hours": (wall.hour,)}
    if plain.frequency is Frequency.DAY:
        spelled = Schedule(**times)
    elif plain.frequency is Frequency.WEEK:
        weekday = next(day for day, index in _PY_WEEKDAY.items() if index == wall.weekday())
        spelled = Schedule(**times, week_days=(weekday,))
    else:
        if wall.day > 28:  # a no-schedule month clamps, monthDays [31] skips short months
            return
        spelled = Schedule(**times, month_days=(wall.day,))
    scheduled = _with_schedule(plain, spelled)
    expected = preview(scheduled, start, case.now, 12)
    if wall.replace(fold=0).astimezone(UTC) != start:
        # S is the second pass of a repeated wall time: the grid runs at S itself (§4.2),
        # the spelled-out slot of that day fires at its first pass, before S.
        expected = [start, *expected][:12] if case.now <= start else expected
    assert preview(plain, start, case.now, 12) == expected


@SETTINGS
@given(case=cases(zones=_ANY_ZONE, with_end_time=False))
def test_a_grid_job_without_schedule_first_runs_at_a_future_start(case: Case) -> None:
    # §4.2: startTime now or in the future, recurrence without schedule → run at S.
    recurrence = _with_schedule(case.recurrence, Schedule())
    now = min(case.now, case.start)
    assert next_occurrence(recurrence, case.start, now) == case.start


@pytest.mark.parametrize("frequency", [Frequency.DAY, Frequency.WEEK, Frequency.MONTH])
def test_a_wall_clock_grid_anchored_in_the_repeated_hour_first_runs_at_start(
    frequency: Frequency,
) -> None:
    # 2024-10-27 01:30Z is 02:30 CET, the second 02:30 of that night in Amsterdam.
    start = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    recurrence = Recurrence(frequency, time_zone="Europe/Amsterdam")
    horizon = start + timedelta(days=400)
    assert preview(recurrence, start, start, 3) == oracle(recurrence, start, start, 3, horizon)
    assert next_occurrence(recurrence, start, start) == start


_END_OF_TIME = datetime(9999, 12, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "recurrence",
    [
        pytest.param(Recurrence(Frequency.HOUR), id="hour grid"),
        pytest.param(Recurrence(Frequency.DAY, schedule=Schedule(hours=(5,))), id="day hours"),
        pytest.param(
            Recurrence(Frequency.DAY, schedule=Schedule(hours=(5,)), time_zone="America/New_York"),
            id="day hours in New York",
        ),
        pytest.param(
            Recurrence(Frequency.MONTH, schedule=Schedule(month_days=(1,))), id="month days"
        ),
        pytest.param(Recurrence(Frequency.DAY), id="day grid"),
        pytest.param(Recurrence(Frequency.WEEK), id="week grid"),
        pytest.param(Recurrence(Frequency.MONTH), id="month grid"),
        pytest.param(
            Recurrence(Frequency.HOUR, interval=24, schedule=Schedule(minutes=(0,))),
            id="hour minutes",
        ),
    ],
)
def test_a_series_that_would_pass_year_9999_ends_quietly(recurrence: Recurrence) -> None:
    now = _END_OF_TIME + timedelta(minutes=1)
    assert next_occurrence(recurrence, _END_OF_TIME, now) in (
        None,
        _END_OF_TIME + timedelta(hours=1),
    )
