"""``GET .../jobs/{j}/explain?at=T`` (issue 14, item 8), as a pure function: did the job's
schedule have an occurrence at or near ``T``, what happened to it, or why there was none.

The answer names the occurrence at ``T`` (or the nearest ones before and after), its
*outcome* — ``ran`` (a history entry), ``overlapped`` (it came due while the previous
occurrence ran: a ``Postponed`` entry), ``missed`` (no entry: skipped while the service or
its node was down, the collection disabled, or past the misfire grace), ``upcoming``,
``due``, ``notRun`` (the job or collection is not enabled, or its series ended) — and the
*reasons* in words: which schedule field leaves ``T`` out, a daylight-saving change near
it, ``startTime``, ``endTime``, ``count``, ``exdates``, a holiday of its calendar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from jobclock.domain.calendar import holiday_of, rolled_day
from jobclock.domain.cron import CronExpression
from jobclock.domain.history import ActionName, HistoryEntry, HistoryStatus
from jobclock.domain.instants import format_instant
from jobclock.domain.job import JobState
from jobclock.domain.occurrences import days_in_month, latest_at_or_before, next_occurrence
from jobclock.domain.planning import Cursor
from jobclock.domain.recurrence import Recurrence, Schedule, zone_named

# An occurrence within this of T is "at" T (T is given to the second).
_AT = timedelta(seconds=1)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class Explanation:
    at: datetime
    occurrence: datetime | None  # the occurrence at T, else the nearest one (None: none)
    exact: bool  # the schedule has an occurrence at T
    previous: datetime | None  # the schedule's last occurrence at or before T
    next: datetime | None  # its first occurrence after T
    outcome: str
    reasons: list[str] = field(default_factory=list)
    entry: HistoryEntry | None = None  # the history entry of the occurrence, if any


@dataclass(frozen=True, slots=True)
class JobFacts:
    """What the explanation reads of a stored job."""

    recurrence: Recurrence | None
    anchor: datetime  # the effective start
    cursor: Cursor
    next_time: datetime | None
    state: JobState
    collection_enabled: bool
    history: Sequence[HistoryEntry]  # newest first, perhaps not all of it
    history_complete: bool  # ``history`` holds every entry the job has
    created_at: datetime  # when the job was created: it owes no slot before (§4.2)


def explain(job: JobFacts, at: datetime, now: datetime) -> Explanation:
    recurrence = job.recurrence
    if recurrence is None:
        previous = job.anchor if job.anchor <= at else None
        following = job.anchor if job.anchor > at else None
    else:
        schedule = replace(recurrence, count=None)  # the slots; count is judged on its own
        previous = latest_at_or_before(schedule, job.anchor, at)
        following = next_occurrence(schedule, job.anchor, at + timedelta(microseconds=1))
    exact_slot = _at(previous, at) or _at(following, at)
    reasons: list[str] = []
    if exact_slot is None:
        reasons = _why_not(job, at)
    elif recurrence is not None:
        reasons = _rolled_here(recurrence, job.anchor, at)
    nearest = exact_slot or _nearest(previous, following, at)
    if nearest is None:
        return Explanation(at, None, False, previous, following, "notScheduled", reasons)
    outcome, entry, told = _outcome(job, nearest, now)
    if exact_slot is None:
        outcome = "notScheduled"
        told = [f"The nearest occurrence is {format_instant(nearest)}: {told[0]}", *told[1:]]
    return Explanation(
        at, nearest, exact_slot is not None, previous, following, outcome, reasons + told, entry
    )


def _at(slot: datetime | None, at: datetime) -> datetime | None:
    return slot if slot is not None and abs(slot - at) < _AT else None


def _nearest(
    previous: datetime | None, following: datetime | None, at: datetime
) -> datetime | None:
    if previous is None or following is None:
        return previous or following
    return previous if at - previous <= following - at else following


Outcome = tuple[str, HistoryEntry | None, list[str]]


def _outcome(job: JobFacts, slot: datetime, now: datetime) -> Outcome:
    """What happened to (or will happen to) the occurrence at ``slot``."""
    return _from_history(job, slot) or _from_state(job, slot, now)


def _from_history(job: JobFacts, slot: datetime) -> Outcome | None:
    """The occurrence's history entries: it ran (and how it ended), or it overlapped."""
    main = [entry for entry in job.history if entry.action_name is ActionName.MAIN_ACTION]
    ran = [
        entry
        for entry in main
        if entry.status is not HistoryStatus.POSTPONED and entry.expected_execution_time == slot
    ]
    if ran:
        first, last = ran[-1], ran[0]  # newest first: the first attempt is the oldest
        retries = len(ran) - 1
        told = f"It ran at {format_instant(first.start_time)} and ended {last.status.value}"
        if retries:
            told += f" after {retries} retr{'y' if retries == 1 else 'ies'}"
        message = last.message.splitlines()[0] if last.message else ""
        return "ran", last, [f"{told}: {message}" if message else f"{told}."]
    for entry in main:
        if (
            entry.status is HistoryStatus.POSTPONED
            and entry.expected_execution_time <= slot <= entry.start_time
        ):
            told = "It came due while the job's previous occurrence was still running: "
            return "overlapped", entry, [told + entry.message]
    return None


def _from_state(job: JobFacts, slot: datetime, now: datetime) -> Outcome:
    """No history entry: what the job's cursor, state and count say."""
    limit = None if job.recurrence is None else job.recurrence.limit
    counted = limit is not None and job.cursor.done >= limit
    off = job.state is not JobState.ENABLED or not job.collection_enabled
    if slot > now:
        if counted:
            return "notRun", None, [f"It will not run: the job's count ({limit}) is reached."]
        if off:
            return "notRun", None, [_off(job, "It will not run")]
        if job.next_time == slot:
            return "upcoming", None, ["It is the job's next run."]
        return "upcoming", None, ["It is ahead; the job runs it when it comes due."]
    if slot < job.created_at:
        return (
            "notRun",
            None,
            [
                f"It is before the job was created ({format_instant(job.created_at)}): a job "
                "owes no slot from before it was saved."
            ],
        )
    last = job.cursor.last
    behind = (last is not None and slot <= last) or (
        job.next_time is not None and slot < job.next_time
    )
    if behind:
        oldest = job.history[-1].start_time if job.history else None
        if not job.history_complete and oldest is not None and slot < oldest:
            return (
                "missed",
                None,
                ["No history entry among the most recent ones read; it may be older than them."],
            )
        return (
            "missed",
            None,
            [
                "No history entry: it was skipped. The service (or the node that held the job) "
                "was down, or the collection disabled, and when the job was next claimed the slot "
                "was past the misfire grace (or the catchUp policy left it out)."
            ],
        )
    if counted:
        return "notRun", None, [f"It has not run: the job's count ({limit}) is reached."]
    if off:
        return "notRun", None, [_off(job, "It has not run")]
    return "due", None, ["It is due: the engine has not recorded it yet."]


def _off(job: JobFacts, lead: str) -> str:
    if job.state is not JobState.ENABLED:
        return f"{lead}: the job is {job.state.value}."
    return f"{lead}: the job's collection is disabled."


def _why_not(job: JobFacts, at: datetime) -> list[str]:
    """Why the schedule has no occurrence at ``at``."""
    recurrence = job.recurrence
    if at < job.anchor:
        return [f"It is before the job's start ({format_instant(job.anchor)})."]
    if recurrence is None:
        return [f"The job runs once, at {format_instant(job.anchor)}."]
    if recurrence.end_time is not None and at > recurrence.end_time:
        return [f"It is after the recurrence's endTime ({format_instant(recurrence.end_time)})."]
    if any(abs(moment - at) < _AT for moment in recurrence.exdates):
        return ["The recurrence's exdates leave it out."]
    holiday = _holiday(recurrence, job.anchor, at)
    if holiday:
        return [holiday]
    reasons = _fields_excluding(recurrence, at)
    dst = _dst_near(recurrence, at)
    if dst:
        reasons.append(dst)
    if not reasons:
        reasons.append("No occurrence falls at this instant: it lies between two occurrences.")
    return reasons


def _without_calendar(recurrence: Recurrence) -> Recurrence:
    return replace(recurrence, holidays=None, count=None)


def _plain_slot(recurrence: Recurrence, anchor: datetime, at: datetime) -> bool:
    """The series without its calendar has an occurrence at ``at``."""
    plain = _without_calendar(recurrence)
    return _at(latest_at_or_before(plain, anchor, at + _AT / 2), at) is not None


def _holiday(recurrence: Recurrence, anchor: datetime, at: datetime) -> str | None:
    """Why the calendar left the occurrence at ``at`` out, if it did."""
    ref, holidays = recurrence.calendar, recurrence.holidays
    if ref is None or holidays is None or not _plain_slot(recurrence, anchor, at):
        return None
    day = holiday_of(holidays, zone_named(recurrence.holiday_zone), at)
    if day is None:
        return None
    told = f"{day.isoformat()} is a holiday in the calendar '{ref.name}' ({holidays.why(day)})"
    moved_to = rolled_day(holidays, day, ref.on_holiday)
    if moved_to is None:
        return f"{told}: onHoliday '{ref.on_holiday.value}' leaves the occurrence out."
    return (
        f"{told}: onHoliday '{ref.on_holiday.value}' runs the occurrence on "
        f"{moved_to.isoformat()} at the same wall time instead."
    )


def _rolled_here(recurrence: Recurrence, anchor: datetime, at: datetime) -> list[str]:
    """An occurrence at ``at`` that only the calendar put there, said so."""
    ref, holidays = recurrence.calendar, recurrence.holidays
    if ref is None or holidays is None or _plain_slot(recurrence, anchor, at):
        return []
    return [
        f"It runs here because the calendar '{ref.name}' moves the occurrences of holidays "
        f"to the {ref.on_holiday.value} business day, at the same wall time."
    ]


def _fields_excluding(recurrence: Recurrence, at: datetime) -> list[str]:
    """The schedule fields that leave ``at``'s wall time (in the recurrence's zone) out."""
    wall = at.astimezone(recurrence.zone)
    shown = f"{wall:%Y-%m-%d %H:%M:%S} ({_WEEKDAYS[wall.weekday()]}) in {recurrence.time_zone}"
    if recurrence.cron is not None:
        found = _cron_fields(recurrence.cron, wall)
        return [f"{shown}: in '{recurrence.cron.text}', {'; '.join(found)}."] if found else []
    if recurrence.rrule is not None:
        return [f"{shown}: the rule '{recurrence.rrule.text}' has no occurrence then."]
    schedule = recurrence.effective_schedule
    if schedule is None:
        return [
            f"{shown}: it is not on the job's grid of every {recurrence.interval} "
            f"{recurrence.frequency.value.lower()}(s) from its start."
        ]
    found = _schedule_fields(schedule, wall)
    return [f"{shown}: {'; '.join(found)}."] if found else []


def _cron_fields(cron: CronExpression, wall: datetime) -> list[str]:
    found = []
    if cron.has_seconds and wall.second not in cron.seconds:
        found.append(f"the seconds field has no {wall.second}")
    elif not cron.has_seconds and wall.second:
        found.append("cron runs at second 0 of a minute")
    if wall.minute not in cron.minutes:
        found.append(f"the minute field has no {wall.minute}")
    if wall.hour not in cron.hours:
        found.append(f"the hour field has no {wall.hour}")
    if wall.month not in cron.months:
        found.append(f"the month field has no {wall.month}")
    length = days_in_month(wall.year, wall.month)
    if wall.day not in cron.days.days_of_month(wall.year, wall.month, length):
        found.append(f"the day fields leave out day {wall.day} ({_WEEKDAYS[wall.weekday()]})")
    return found


def _schedule_fields(schedule: Schedule, wall: datetime) -> list[str]:
    found = []
    weekday = _WEEKDAYS[wall.weekday()]
    if schedule.minutes and wall.minute not in schedule.minutes:
        found.append(f"'schedule.minutes' {list(schedule.minutes)} has no {wall.minute}")
    if schedule.hours and wall.hour not in schedule.hours:
        found.append(f"'schedule.hours' {list(schedule.hours)} has no {wall.hour}")
    days = [day.value for day in schedule.week_days or ()]
    if days and weekday not in days:
        found.append(f"'schedule.weekDays' {days} has no {weekday}")
    length = days_in_month(wall.year, wall.month)
    month_days = schedule.month_days or ()
    if month_days and not any(
        day == wall.day or (day < 0 and length + day + 1 == wall.day) for day in month_days
    ):
        found.append(f"'schedule.monthDays' {list(month_days)} has no day {wall.day}")
    nth, last = (wall.day - 1) // 7 + 1, -((length - wall.day) // 7 + 1)
    if schedule.monthly_occurrences and not any(
        item.day.value == weekday and item.occurrence in (None, nth, last)
        for item in schedule.monthly_occurrences
    ):
        found.append(
            f"'schedule.monthlyOccurrences' has no {weekday} number {nth} (or {last} from the "
            "end) of the month"
        )
    if not found and wall.second:
        found.append("a schedule runs at second 0 of its minutes")
    return found


def _dst_near(recurrence: Recurrence, at: datetime) -> str | None:
    """A daylight-saving change of the recurrence's zone within three hours of ``at``."""
    if recurrence.is_utc:
        return None
    zone = recurrence.zone
    before = (at - timedelta(hours=3)).astimezone(zone).utcoffset()
    after = (at + timedelta(hours=3)).astimezone(zone).utcoffset()
    if before == after:
        return None
    policy = recurrence.dst
    gap = "shift" if policy is None else policy.gap.value
    fold = "first" if policy is None else policy.fold.value
    return (
        f"The time zone {recurrence.time_zone} changes its offset near it ({_offset(before)} "
        f"to {_offset(after)}): a wall time in a spring gap runs as dstPolicy.gap '{gap}' says, "
        f"a wall time an autumn fold repeats as dstPolicy.fold '{fold}' says."
    )


def _offset(value: timedelta | None) -> str:
    minutes = int((value or timedelta(0)).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
