"""Benchmark: jobclock's recurrence engine against cronsim and dateutil.rrule.

What it measures
----------------
Every schedule shape of the spec's §4.5 table (31 rows: startTime 2024-01-01T08:30:00Z,
interval 1) plus a few extra shapes (Minute/5, Hour/2, Month without schedule from Jan 31,
Second/1, a weekday schedule in Europe/Amsterdam); then jobclock's two other kinds of
recurrence, from the same start in UTC: 12 ``{"cron": ...}`` rows (keys c1-c12, from
``* * * * *`` to ``L``, ``LW``, ``5L``, ``MON#2``, Vixie's day-of-month-or-day-of-week rule
and leap days), compared with cronsim on the same expression, and 8 ``{"rrule": ...}`` rows
(keys r1-r8, MINUTELY to YEARLY with BYSETPOS, BYWEEKNO and BYYEARDAY; the start is
DTSTART), compared with ``dateutil.rrule.rrulestr(rule, dtstart=start)``. For each row:

* **cold** - the latency of one "when does this job run next?" query, in µs per call.
  jobclock: ``next_occurrence(recurrence, start, now)``, which is stateless and compiles its
  plan on every call. cronsim: ``CronSim(expr, now - 1s)`` plus the first ``next()``.
  rrule: ``rrule(...)`` (``rrulestr(...)`` on RRULE rows) plus ``.after(now, inc=True)``.
  ``now`` runs through precomputed whole-second instants at random offsets within two years
  of the start, so no call repeats the previous one. Each call is timed on its own with
  ``time.perf_counter_ns`` (the timer's own cost, some tens of ns, is included, not
  subtracted); the table shows the median and, for jobclock, the 99th percentile.
* **occ/s** - throughput, occurrences per second when iterating from the start: jobclock's
  ``occurrences(...)`` iterator, ``next()`` on one ``CronSim``, iteration of one ``rrule``
  (up to 10,000 occurrences, or fewer when a time budget runs out first).
* **ratio** - comparator cold median / jobclock cold median (above 1 = jobclock faster).

A comparator is timed only for the shapes it can express, and only after it is checked to
produce the same schedule: its first five occurrences, its answers for some of the ``now``
values (cronsim: 20; rrule: 5, or, when its cold figure is an estimate, those of the 20 it
reaches within its time budget, in one pass), and its last occurrence of the throughput run
must equal jobclock's; otherwise the row says ``n/a (differs)``. ``-`` means not compared
(cron rows with rrule, RRULE rows with cron). ``n/a`` means the library cannot express the
shape (cron: no ``monthDays`` below -1, no ``occurrence`` below -1, no intervals that do not
divide the minute/hour/day cycle; rrule: no union of ``monthDays`` and
``monthlyOccurrences``, no clamped month day 29/30).

``rrule.after`` walks every occurrence from ``dtstart`` up to ``now``, so its cold latency
grows with the distance to ``now``; its cold calls run under a time budget, and when a
single call would take longer than the cap, the figure is an estimate (prefixed ``~``):
occurrences before the median ``now`` divided by rrule's measured iteration rate.

Timing never asserts. The summary of the Azure shapes reports the worst jobclock cold
latency, whether every shape is within 20 µs and the smallest cronsim/jobclock ratio; that
of the cron and RRULE rows reports their worst jobclock cold latency, the smallest
cronsim/jobclock ratio on cron rows (target: at least 2×) and the smallest dateutil/jobclock
ratio on RRULE rows (target: at least 5×), whether each target is met and which rows miss
it by how much.

Run: ``python bench/recurrence.py`` (under a minute on two cores) or ``--quick``.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from cronsim import CronSim
from dateutil import rrule as du

from jobclock.codec.recurrence import recurrence_from_json
from jobclock.domain.occurrences import next_occurrence, occurrences
from jobclock.domain.recurrence import Frequency, Recurrence

START = datetime(2024, 1, 1, 8, 30, tzinfo=UTC)
HORIZON_S = 2 * 365 * 86400
LIMIT_US = 20.0
# The cold-ratio targets of the cron and RRULE rows (comparator / jobclock).
CRON_TARGET = 2.0
RRULE_TARGET = 5.0
SECOND = timedelta(seconds=1)


# --------------------------------------------------------------------------- shapes


def _row(freq: str, schedule: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"frequency": freq, "interval": 1}
    if schedule is not None:
        body["schedule"] = schedule
    body.update(extra)
    return body


def _mo(*items: tuple[str, int]) -> dict[str, Any]:
    return {"monthlyOccurrences": [{"day": day, "occurrence": n} for day, n in items]}


MWF = ["monday", "wednesday", "friday"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
QUARTERS = [0, 15, 30, 45]

# §4.5, rows 1-31, in order.
DOC_SHAPES: list[dict[str, Any]] = [
    _row("Day", {"hours": [5]}),
    _row("Day", {"minutes": [15], "hours": [5]}),
    _row("Day", {"minutes": [15], "hours": [5, 17]}),
    _row("Day", {"minutes": [15, 45], "hours": [5, 17]}),
    _row("Day", {"minutes": QUARTERS}),
    _row("Day", {"hours": list(range(24))}),
    _row("Day", {"minutes": [0]}),
    _row("Day", {"minutes": [15]}),
    _row("Week", {"hours": [17], "weekDays": ["saturday"]}),
    _row("Week", {"hours": [17], "weekDays": MWF}),
    _row("Week", {"minutes": [15, 45], "hours": [17], "weekDays": MWF}),
    _row("Week", {"hours": [5, 17], "weekDays": MWF}),
    _row("Week", {"minutes": [15, 45], "hours": [5, 17], "weekDays": MWF}),
    _row("Week", {"minutes": QUARTERS, "weekDays": WEEKDAYS}),
    _row("Week", {"minutes": QUARTERS, "hours": list(range(9, 17)), "weekDays": WEEKDAYS}),
    _row("Week", {"weekDays": ["sunday"]}),
    _row("Week", {"weekDays": ["tuesday", "thursday"]}),
    _row("Month", {"minutes": [0], "hours": [6], "monthDays": [28]}),
    _row("Month", {"minutes": [0], "hours": [6], "monthDays": [-1]}),
    _row("Month", {"minutes": [0], "hours": [6], "monthDays": [1, -1]}),
    _row("Month", {"monthDays": [1, -1]}),
    _row("Month", {"monthDays": [1, 14]}),
    _row("Month", {"monthDays": [2]}),
    _row("Month", {"minutes": [0], "hours": [5], **_mo(("friday", 1))}),
    _row("Month", _mo(("friday", 1))),
    _row("Month", _mo(("friday", -3))),
    _row("Month", {"minutes": [15], "hours": [5], **_mo(("friday", 1), ("friday", -1))}),
    _row("Month", _mo(("friday", 1), ("friday", -1))),
    _row("Month", _mo(("friday", 5))),
    _row("Month", {"minutes": QUARTERS, **_mo(("friday", -1))}),
    _row("Month", {"minutes": [15, 45], "hours": [5, 17], **_mo(("wednesday", 3))}),
]

# jobclock's extensions, compared on the same text: cron rows (key c…) against cronsim,
# RRULE rows (key r…) against dateutil's rrulestr, both from START in UTC.
CRON_EXPRS = [
    "* * * * *",
    "*/5 * * * *",
    "0 */2 * * *",
    "30 2 * * *",
    "0 9 * * MON-FRI",
    "0 0 1 * *",
    "0 0 L * *",
    "0 8 LW * *",
    "0 12 * * 5L",
    "0 8 * * MON#2",
    "15 10 1-7 * MON",  # both day fields restricted: a day matching either (Vixie cron)
    "0 0 29 2 *",  # leap days only
]
RRULES = [
    "FREQ=MINUTELY;INTERVAL=15",
    "FREQ=HOURLY;INTERVAL=3",
    "FREQ=DAILY",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
    "FREQ=YEARLY;BYYEARDAY=100",
]

EXTRA_SHAPES: list[tuple[str, dict[str, Any], datetime]] = [
    ("x1", {"frequency": "Minute", "interval": 5}, START),
    ("x2", {"frequency": "Hour", "interval": 2}, START),
    ("x3", {"frequency": "Month", "interval": 1}, datetime(2024, 1, 31, 8, 30, tzinfo=UTC)),
    ("x4", {"frequency": "Second", "interval": 1}, START),
    (
        "x5",
        _row(
            "Week",
            {"minutes": [0], "hours": [9], "weekDays": WEEKDAYS},
            timeZone="Europe/Amsterdam",
        ),
        START,
    ),
]


@dataclass
class Shape:
    key: str
    raw: dict[str, Any]
    start: datetime
    recurrence: Recurrence = field(init=False)

    def __post_init__(self) -> None:
        self.recurrence = recurrence_from_json(self.raw)

    @property
    def label(self) -> str:
        rec = self.recurrence
        if rec.cron is not None:
            return f"{self.key:>3} cron {rec.cron.text}"
        if rec.rrule is not None:
            return f"{self.key:>3} {rec.rrule.text.removeprefix('FREQ=')}"
        text = f"{self.key:>2} {rec.frequency.value[:2]}"
        if rec.interval != 1:
            text += f"/{rec.interval}"
        for name, short in (
            ("minutes", "m"),
            ("hours", "h"),
            ("weekDays", "wd"),
            ("monthDays", "md"),
        ):
            values = (self.raw.get("schedule") or {}).get(name)
            if values:
                text += f" {short}[{_compact(values)}]"
        monthly = (self.raw.get("schedule") or {}).get("monthlyOccurrences")
        if monthly:
            text += " mo[" + ",".join(f"{m['day'][:2].title()}#{m['occurrence']}" for m in monthly)
            text += "]"
        if self.start != START:
            text += f" from {self.start:%m-%d}"
        if not rec.is_utc:
            text += f" {rec.time_zone.split('/')[-1]}"
        return text


def _compact(values: list[Any]) -> str:
    if all(isinstance(v, str) for v in values):
        names = [v[:2].title() for v in values]
        return "Mo-Fr" if names == ["Mo", "Tu", "We", "Th", "Fr"] else ",".join(names)
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return ",".join(str(v) for v in values)


def all_shapes() -> list[Shape]:
    shapes = [Shape(str(n), raw, START) for n, raw in enumerate(DOC_SHAPES, 1)]
    shapes += [Shape(key, raw, start) for key, raw, start in EXTRA_SHAPES]
    return shapes


def extension_shapes() -> list[Shape]:
    """The cron and RRULE rows."""
    shapes = [Shape(f"c{n}", {"cron": expr}, START) for n, expr in enumerate(CRON_EXPRS, 1)]
    shapes += [Shape(f"r{n}", {"rrule": rule}, START) for n, rule in enumerate(RRULES, 1)]
    return shapes


# --------------------------------------------------------------------------- translations


def _wall_start(shape: Shape) -> datetime:
    rec = shape.recurrence
    return shape.start if rec.is_utc else shape.start.astimezone(rec.zone)


def _times(shape: Shape) -> tuple[list[int], list[int]]:
    """The resolved (hours, minutes) of a Day/Week/Month shape (§4.3 step 1, Option B)."""
    wall = _wall_start(shape)
    schedule = shape.recurrence.effective_schedule
    minutes = list((schedule.minutes if schedule else None) or (wall.minute,))
    given_hours = schedule.hours if schedule else None
    given_minutes = schedule.minutes if schedule else None
    hours = list(given_hours or (range(24) if given_minutes else (wall.hour,)))
    return sorted(hours), sorted(minutes)


def _cron_list(values: Iterable[int], full: range) -> str:
    values = sorted(set(values))
    return "*" if values == list(full) else ",".join(str(v) for v in values)


def _cron_step(interval: int, cycle: int, phase: int) -> str | None:
    """``*`` or ``*/n`` when every ``interval`` units from ``phase`` is cron-expressible."""
    if interval == 1:
        return "*"
    if cycle % interval or phase % interval:
        return None
    return f"*/{interval}"


def cron_expr(shape: Shape) -> str | None:
    """An equivalent cron expression for cronsim, or None when cron cannot express it."""
    rec = shape.recurrence
    if rec.cron is not None:
        return rec.cron.text  # a cron row: the same expression (UTC, as the row is)
    wall = _wall_start(shape)
    freq = rec.frequency
    schedule = rec.effective_schedule
    if freq is Frequency.SECOND:
        step = _cron_step(rec.interval, 60, wall.second)
        return None if step is None else f"{step} * * * * *"
    if freq is Frequency.MINUTE:
        step = _cron_step(rec.interval, 60, wall.minute)
        return None if step is None else f"{wall.second} {step} * * * *"
    if freq is Frequency.HOUR:
        marks = schedule.minutes if schedule and schedule.minutes else (wall.minute,)
        step = _cron_step(rec.interval, 24, wall.hour)
        if step is None:
            return None
        return f"{wall.second} {_cron_list(marks, range(60))} {step} * * *"
    if rec.interval != 1:
        return None
    days = _cron_days(shape)
    if days is None:
        return None
    hours, minutes = _times(shape)
    head = f"{_cron_list(minutes, range(60))} {_cron_list(hours, range(24))}"
    expr = f"{head} {days[0]} * {days[1]}"
    return expr if wall.second == 0 else f"{wall.second} {expr}"


def _cron_days(shape: Shape) -> tuple[str, str] | None:
    """(day-of-month, day-of-week) fields; cron ORs them when neither starts with ``*``."""
    rec = shape.recurrence
    schedule = rec.effective_schedule
    wall = _wall_start(shape)
    if rec.frequency is Frequency.DAY:
        return "*", "*"
    if rec.frequency is Frequency.WEEK:
        given = schedule.week_days if schedule else None
        indices = [d.index for d in given] if given else [wall.weekday()]
        return "*", ",".join(str((i + 1) % 7) for i in sorted(indices))
    month_days = list(schedule.month_days or ()) if schedule else []
    monthly = list(schedule.monthly_occurrences or ()) if schedule else []
    if not month_days and not monthly:
        if wall.day <= 28:
            return str(wall.day), "*"
        return ("L", "*") if wall.day == 31 else None  # 31 clamped = the last day
    dom = []
    for value in month_days:
        if value < -1:
            return None
        dom.append("L" if value == -1 else str(value))
    dow = []
    for item in monthly:
        cron_day = (item.day.index + 1) % 7
        if item.occurrence is None:
            dow.append(str(cron_day))
        elif item.occurrence == -1:
            dow.append(f"{cron_day}L")
        elif item.occurrence > 0:
            dow.append(f"{cron_day}#{item.occurrence}")
        else:
            return None
    return ",".join(dom) or "*", ",".join(dow) or "*"


_RRULE_FREQ = {
    Frequency.SECOND: du.SECONDLY,
    Frequency.MINUTE: du.MINUTELY,
    Frequency.HOUR: du.HOURLY,
    Frequency.DAY: du.DAILY,
    Frequency.WEEK: du.WEEKLY,
    Frequency.MONTH: du.MONTHLY,
}
_RRULE_DAYS = (du.MO, du.TU, du.WE, du.TH, du.FR, du.SA, du.SU)


def rrule_factory(shape: Shape) -> Callable[[], du.rrule] | None:
    """A builder of an equivalent dateutil rrule, or None when rrule cannot express it."""
    rec = shape.recurrence
    wall = _wall_start(shape)
    if rec.rrule is not None:  # an RRULE row: the same rule, with the start as DTSTART
        text = rec.rrule.text
        return lambda: du.rrulestr(text, dtstart=wall)
    schedule = rec.effective_schedule
    kwargs: dict[str, Any] = {
        "freq": _RRULE_FREQ[rec.frequency],
        "interval": rec.interval,
        "dtstart": wall,
        "wkst": du.SU,  # jobclock's weeks (for Week interval > 1) start on Sunday
    }
    if rec.frequency is Frequency.HOUR and schedule is not None and schedule.minutes:
        kwargs.update(byminute=schedule.minutes, bysecond=wall.second)
    elif rec.frequency in (Frequency.DAY, Frequency.WEEK, Frequency.MONTH):
        hours, minutes = _times(shape)
        kwargs.update(byhour=hours, byminute=minutes, bysecond=wall.second)
    if rec.frequency is Frequency.WEEK and schedule is not None and schedule.week_days:
        kwargs["byweekday"] = [_RRULE_DAYS[d.index] for d in schedule.week_days]
    if rec.frequency is Frequency.MONTH:
        month_days = schedule.month_days if schedule else None
        monthly = schedule.monthly_occurrences if schedule else None
        if month_days and monthly:
            return None  # rrule intersects BYMONTHDAY and BYDAY; Azure unites them
        if month_days:
            kwargs["bymonthday"] = month_days
        elif monthly:
            kwargs["byweekday"] = [_RRULE_DAYS[m.day.index](m.occurrence) for m in monthly]
        elif wall.day > 28:
            if wall.day != 31:
                return None
            kwargs["bymonthday"] = -1  # day 31 clamped to each month = the last day
    return lambda: du.rrule(**kwargs)


# --------------------------------------------------------------------------- measurement


@dataclass
class Settings:
    cold_calls: int
    take: int
    throughput_budget_s: float
    rrule_budget_s: float
    rrule_call_cap_s: float
    verify_nows: int = 20


FULL = Settings(
    cold_calls=3000,
    take=10_000,
    throughput_budget_s=0.3,
    rrule_budget_s=0.3,
    rrule_call_cap_s=0.15,
)
QUICK = Settings(
    cold_calls=300,
    take=2_000,
    throughput_budget_s=0.05,
    rrule_budget_s=0.05,
    rrule_call_cap_s=0.03,
)


def time_calls(
    call: Callable[[datetime], object], args: list[datetime], budget_s: float | None = None
) -> list[int]:
    """Per-call latencies in ns of ``call(arg)``; stops early when over budget (>= 3 calls)."""
    clock = time.perf_counter_ns
    samples: list[int] = []
    deadline = None if budget_s is None else clock() + int(budget_s * 1e9)
    gc.collect()
    gc.disable()
    try:
        for arg in args:
            t0 = clock()
            call(arg)
            samples.append(clock() - t0)
            if deadline is not None and len(samples) >= 3 and t0 > deadline:
                break
    finally:
        gc.enable()
    return samples


def take_timed(
    iterator: Iterator[datetime], limit: int, budget_s: float
) -> tuple[list[datetime], int]:
    """Up to ``limit`` items of ``iterator`` (fewer if over budget) and the ns it took."""
    clock = time.perf_counter_ns
    items: list[datetime] = []
    deadline = clock() + int(budget_s * 1e9)
    gc.collect()
    gc.disable()
    try:
        t0 = clock()
        while len(items) < limit:
            try:
                chunk = list(islice(iterator, min(250, limit - len(items))))
            except OverflowError:  # cronsim past year 9999; that chunk's items are lost
                break
            items.extend(chunk)
            if len(chunk) < 250 or clock() > deadline:
                break
        elapsed = clock() - t0
    finally:
        gc.enable()
    return items, elapsed


def median(samples: list[int]) -> float:
    ordered = sorted(samples)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle] / 1000
    return (ordered[middle - 1] + ordered[middle]) / 2000


def percentile(samples: list[int], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] / 1000


def utc(values: Iterable[datetime | None]) -> list[datetime | None]:
    return [None if v is None else v.astimezone(UTC) for v in values]


@dataclass
class Figures:
    """One library's figures for one shape; ``note`` replaces them when not measured."""

    cold_us: float | None = None
    p99_us: float | None = None
    rate: float | None = None
    estimated: bool = False
    note: str = "n/a"


# A comparator's figures on a row of the other extension's kind.
NOT_COMPARED = Figures(note="-")


@dataclass
class Reference:
    """jobclock's answers, against which comparators are checked."""

    first: list[datetime | None]
    answers: list[datetime | None]
    stream: list[datetime]


def measure_jobclock(
    shape: Shape, nows: list[datetime], settings: Settings
) -> tuple[Figures, Reference]:
    rec, start = shape.recurrence, shape.start
    samples = time_calls(lambda now: next_occurrence(rec, start, now), nows)
    stream, elapsed = take_timed(
        occurrences(rec, start, start), settings.take, settings.throughput_budget_s
    )
    figures = Figures(median(samples), percentile(samples, 0.99), len(stream) * 1e9 / elapsed)
    reference = Reference(
        first=utc(islice(occurrences(rec, start, start), 5)),
        answers=utc(next_occurrence(rec, start, now) for now in nows[: settings.verify_nows]),
        stream=stream,
    )
    return figures, reference


def _stream_agrees(reference: Reference, stream: list[datetime]) -> bool:
    if not stream:
        return False
    index = min(len(stream), len(reference.stream)) - 1
    return utc([stream[index]]) == utc([reference.stream[index]])


def measure_cronsim(
    shape: Shape, nows: list[datetime], reference: Reference, settings: Settings
) -> Figures:
    expr = cron_expr(shape)
    if expr is None:
        return Figures()
    zone = None if shape.recurrence.is_utc else shape.recurrence.zone

    def local(value: datetime) -> datetime:
        return value if zone is None else value.astimezone(zone)

    def cold(before: datetime) -> datetime | None:
        return next(CronSim(expr, before), None)

    # CronSim yields strictly after its argument: "at or after now" is "after now - 1 s".
    befores = [local(now - SECOND) for now in nows]
    first = utc(islice(CronSim(expr, local(shape.start - SECOND)), 5))
    answers = utc(cold(before) for before in befores[: settings.verify_nows])
    if first != reference.first or answers != reference.answers:
        return Figures(note="n/a (differs)")
    stream, elapsed = take_timed(
        CronSim(expr, local(shape.start - SECOND)), settings.take, settings.throughput_budget_s
    )
    if not _stream_agrees(reference, stream):
        return Figures(note="n/a (differs)")
    samples = time_calls(cold, befores)
    return Figures(median(samples), percentile(samples, 0.99), len(stream) * 1e9 / elapsed)


def _walk_answers(series: Iterable[datetime], nows: list[datetime]) -> list[datetime | None]:
    """The first item at or after each of the sorted ``nows``, in one pass over ``series``."""
    items = iter(series)
    current = next(items, None)
    found: list[datetime | None] = []
    for now in nows:
        while current is not None and current < now:
            current = next(items, None)
        found.append(current)
    return found


def measure_rrule(
    shape: Shape, nows: list[datetime], reference: Reference, settings: Settings
) -> Figures:
    build = rrule_factory(shape)
    if build is None:
        return Figures()
    first = utc(islice(build(), 5))
    if first != reference.first:
        return Figures(note="n/a (differs)")
    stream, elapsed = take_timed(iter(build()), settings.take, settings.throughput_budget_s)
    if not _stream_agrees(reference, stream):
        return Figures(note="n/a (differs)")
    rate = len(stream) * 1e9 / elapsed
    # rrule.after walks from dtstart: estimate one call at the median `now` before timing.
    span = (reference.stream[-1] - shape.start).total_seconds()
    density = len(reference.stream) / span if span > 0 else 0.0

    def walk_s(now: datetime) -> float:
        return density * (now - shape.start).total_seconds() / rate

    middle = sorted(nows)[len(nows) // 2]
    estimate_s = walk_s(middle)
    if estimate_s > settings.rrule_call_cap_s:
        # Too slow to call per `now`: check the answers within the budget's reach in one pass.
        pairs = zip(nows[: settings.verify_nows], reference.answers, strict=True)
        reach = [pair for pair in pairs if walk_s(pair[0]) <= settings.rrule_budget_s]
        reach.sort(key=lambda pair: pair[0])
        found = _walk_answers(build(), [now for now, _ in reach])
        if utc(found) != [answer for _, answer in reach]:
            return Figures(note="n/a (differs)")
        return Figures(estimate_s * 1e6, None, rate, estimated=True)
    verify = nows[: min(settings.verify_nows, 5)]
    if utc(build().after(now, inc=True) for now in verify) != reference.answers[: len(verify)]:
        return Figures(note="n/a (differs)")
    samples = time_calls(lambda now: build().after(now, inc=True), nows, settings.rrule_budget_s)
    return Figures(median(samples), percentile(samples, 0.99), rate)


# --------------------------------------------------------------------------- output

COLUMNS = (
    ("shape", 54, "<"),
    ("jc µs", 7, ">"),
    ("jc p99", 7, ">"),
    ("jc occ/s", 9, ">"),
    ("cron µs", 13, ">"),
    ("cron occ/s", 10, ">"),
    ("cron/jc", 8, ">"),
    ("rrule µs", 13, ">"),
    ("rrule occ/s", 11, ">"),
    ("rrule/jc", 8, ">"),
)


def line(cells: Iterable[str]) -> str:
    return " ".join(f"{c:{align}{w}}" for c, (_, w, align) in zip(cells, COLUMNS, strict=True))


def fmt_us(value: float | None, estimated: bool = False) -> str:
    if value is None:
        return "-"
    text = f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    return "~" + text if estimated else text


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    return f"{value / 1e3:.1f}k"


def fmt_ratio(other: Figures, ours: Figures) -> str:
    if other.cold_us is None or ours.cold_us is None:
        return "-"
    ratio = other.cold_us / ours.cold_us
    text = f"{ratio:.1f}×" if ratio < 1000 else f"{ratio:.0f}×" if ratio < 1e5 else f"{ratio:.0e}×"
    return "~" + text if other.estimated else text


def comparator_cells(other: Figures, ours: Figures) -> list[str]:
    if other.cold_us is None:
        return [other.note, "", ""]
    return [fmt_us(other.cold_us, other.estimated), fmt_rate(other.rate), fmt_ratio(other, ours)]


@dataclass
class Result:
    shape: Shape
    jobclock: Figures
    cron: Figures
    rrule: Figures


def _cold(result: Result) -> float:
    return result.jobclock.cold_us or 0.0


def _ratio(other: Figures, result: Result) -> float:
    return (other.cold_us or 0.0) / _cold(result)


def _worst(results: list[Result]) -> None:
    worst = max(results, key=_cold)
    worst_p99 = max(results, key=lambda r: r.jobclock.p99_us or 0.0)
    print(f"  worst jobclock cold median: {_cold(worst):.1f} µs ({worst.shape.label.strip()})")
    print(
        f"  worst jobclock cold p99:    {worst_p99.jobclock.p99_us or 0.0:.1f} µs "
        f"({worst_p99.shape.label.strip()})"
    )


def summarize(results: list[Result]) -> None:
    over = [r.shape.key for r in results if _cold(r) > LIMIT_US]
    print()
    print("Summary (Azure shapes)")
    _worst(results)
    verdict = "yes" if not over else "NO, over on " + ", ".join(over)
    print(f"  every shape ≤ {LIMIT_US:.0f} µs (median): {verdict}")
    timed = [r for r in results if r.cron.cold_us is not None]
    if timed:
        lowest = min(timed, key=lambda r: _ratio(r.cron, r))
        print(
            f"  min cronsim/jobclock cold ratio: {_ratio(lowest.cron, lowest):.1f}× "
            f"({lowest.shape.label.strip()}); cronsim timed on {len(timed)} of {len(results)} "
            "shapes"
        )
        under = [r.shape.key for r in timed if _ratio(r.cron, r) < 2]
        print(f"  shapes under 2× cronsim: {', '.join(under) if under else 'none'}")
    rr = [r for r in results if r.rrule.cold_us is not None]
    if rr:
        lowest = min(rr, key=lambda r: _ratio(r.rrule, r))
        ratio = _ratio(lowest.rrule, lowest)
        print(f"  min rrule/jobclock cold ratio: {ratio:.1f}× ({lowest.shape.label.strip()})")


def _against_target(
    results: list[Result], pick: Callable[[Result], Figures], name: str, target: float
) -> None:
    """The smallest ``name``/jobclock cold ratio over ``results`` and whether it meets
    ``target``; the rows that miss it, and those not timed."""
    timed = [r for r in results if pick(r).cold_us is not None]
    untimed = [f"{r.shape.key} ({pick(r).note})" for r in results if pick(r).cold_us is None]
    if not timed:
        print(
            f"  min {name}/jobclock cold ratio: - (no row timed); target ≥ {target:.0f}×: unknown"
        )
    else:
        lowest = min(timed, key=lambda r: _ratio(pick(r), r))
        mark = "~" if pick(lowest).estimated else ""
        verdict = "met" if _ratio(pick(lowest), lowest) >= target else "NOT met"
        print(
            f"  min {name}/jobclock cold ratio: {mark}{_ratio(pick(lowest), lowest):.1f}× "
            f"({lowest.shape.label.strip()}); target ≥ {target:.0f}×: {verdict}; "
            f"{name} timed on {len(timed)} of {len(results)} rows"
        )
        misses = [
            f"{r.shape.key} {_ratio(pick(r), r):.2f}× (short by {target / _ratio(pick(r), r):.2f}×)"
            for r in timed
            if _ratio(pick(r), r) < target
        ]
        print(f"  rows under {target:.0f}× {name}: {', '.join(misses) if misses else 'none'}")
    if untimed:
        print(f"  rows without a {name} figure: {', '.join(untimed)}")


def summarize_extensions(results: list[Result]) -> None:
    print()
    print("Summary (cron and RRULE rows)")
    _worst(results)
    cron_rows = [r for r in results if r.shape.recurrence.cron is not None]
    rrule_rows = [r for r in results if r.shape.recurrence.rrule is not None]
    _against_target(cron_rows, lambda r: r.cron, "cronsim", CRON_TARGET)
    _against_target(rrule_rows, lambda r: r.rrule, "dateutil", RRULE_TARGET)


def measure_row(shape: Shape, offsets: list[int], settings: Settings) -> Result:
    """One table row: jobclock, and each comparator that speaks the shape's kind (a cron
    row is not compared with dateutil, nor an RRULE row with cronsim)."""
    nows = [shape.start + timedelta(seconds=s) for s in offsets]
    ours, reference = measure_jobclock(shape, nows, settings)
    rec = shape.recurrence
    cron = (
        NOT_COMPARED if rec.rrule is not None else measure_cronsim(shape, nows, reference, settings)
    )
    rule = NOT_COMPARED if rec.cron is not None else measure_rrule(shape, nows, reference, settings)
    result = Result(shape, ours, cron, rule)
    cells = [shape.label, fmt_us(ours.cold_us), fmt_us(ours.p99_us), fmt_rate(ours.rate)]
    print(line(cells + comparator_cells(cron, ours) + comparator_cells(rule, ours)), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke test)")
    parser.add_argument("--seed", type=int, default=20240101, help="seed for the `now` offsets")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    rng = random.Random(args.seed)
    offsets = [rng.randrange(HORIZON_S) for _ in range(settings.cold_calls)]

    began = time.perf_counter()
    print(
        f"Python {sys.version.split()[0]}; cold = median per call over {settings.cold_calls} "
        f"`now` values within 2 years of the start; occ/s over up to {settings.take:,} "
        "occurrences; ratio = other cold / jobclock cold"
    )
    print(line(name for name, _, _ in COLUMNS))
    print(line("-" * w for _, w, _ in COLUMNS))
    results = [measure_row(shape, offsets, settings) for shape in all_shapes()]
    print(line(["cron (c…) and RRULE (r…) rows, in UTC"] + [""] * (len(COLUMNS) - 1)))
    extensions = [measure_row(shape, offsets, settings) for shape in extension_shapes()]
    print()
    print(
        "n/a = the library cannot express the shape; n/a (differs) = it can, but its "
        "occurrences differ from jobclock's, so it is not timed; - = not compared;\n"
        "~ = estimated (rrule.after walks every occurrence from dtstart; one call would exceed "
        f"{settings.rrule_call_cap_s * 1000:.0f} ms)"
    )
    summarize(results)
    summarize_extensions(extensions)
    print(f"  total run time: {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
