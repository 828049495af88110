"""``JobRecurrence`` JSON ↔ :class:`Recurrence` (§3.6, §3.7, §2.6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jobclock.codec.fields import Fields, as_int, parse_enum
from jobclock.codec.keys import KNOWN_KEYS
from jobclock.domain.calendar import CalendarRef, OnHoliday
from jobclock.domain.collection import check_calendar_name
from jobclock.domain.cron import parse_cron
from jobclock.domain.durations import Duration, parse_duration
from jobclock.domain.errors import InvalidDefinition, MalformedJob
from jobclock.domain.instants import format_instant, parse_instant
from jobclock.domain.occurrences import next_occurrence
from jobclock.domain.recurrence import (
    WEEK_ORDER,
    DayOfWeek,
    DstPolicy,
    Fold,
    Frequency,
    Gap,
    MonthlyOccurrence,
    Recurrence,
    Schedule,
    check_recurrence_shape,
)
from jobclock.domain.rrule import parse_rrule


def recurrence_from_json(raw: object, path: str = "recurrence") -> Recurrence:
    """Read and shape-check a recurrence object; raises ``InvalidDefinition``."""
    fields = Fields(raw, path, KNOWN_KEYS["recurrence"])
    if fields.has("cron") and fields.has("rrule"):
        raise InvalidDefinition(
            f"'{fields.name('cron')}' and '{fields.name('rrule')}' exclude each other.",
            field=fields.name("rrule"),
        )
    if fields.has("cron"):
        return _cron_recurrence(fields)
    if fields.has("rrule"):
        return _rrule_recurrence(fields)
    frequency = fields.enum("frequency", Frequency, required=True)
    assert frequency is not None  # noqa: S101 - required=True
    interval = fields.integer("interval")
    schedule_fields = fields.obj("schedule", KNOWN_KEYS["schedule"])
    time_zone = fields.text("timeZone")
    recurrence = Recurrence(
        frequency=frequency,
        interval=1 if interval is None else interval,
        count=fields.integer("count"),
        end_time=fields.instant("endTime"),
        schedule=None if schedule_fields is None else _schedule(schedule_fields),
        time_zone="UTC" if time_zone is None else time_zone.strip(),
        dst=_dst_policy(fields),
        exdates=_exdates(fields),
        jitter=_jitter(fields),
        calendar=_calendar(fields),
    )
    check_recurrence_shape(recurrence)
    return recurrence


def _calendar(fields: Fields) -> CalendarRef | None:
    ref = fields.obj("calendar", KNOWN_KEYS["calendarRef"])
    if ref is None:
        return None
    name = ref.text("name", required=True)
    assert name is not None  # noqa: S101 - required=True
    check_calendar_name(name.strip(), ref.name("name"))
    return CalendarRef(name.strip(), ref.enum("onHoliday", OnHoliday) or OnHoliday.SKIP)


def _jitter(fields: Fields) -> Duration | None:
    if not fields.has("jitter"):
        return None
    return parse_duration(fields.raw("jitter"), field=fields.name("jitter"))


def _only(fields: Fields, kind: str) -> None:
    mixed = [key for key in ("frequency", "interval", "schedule") if fields.has(key)]
    if mixed:
        shown = ", ".join(f"'{fields.name(key)}'" for key in mixed)
        raise InvalidDefinition(
            f"'{fields.name(kind)}' replaces 'frequency', 'interval' and 'schedule'; "
            f"leave out {shown}.",
            field=fields.name(kind),
        )


def _exdates(fields: Fields) -> tuple[datetime, ...]:
    values = fields.array("exdates")
    if values is None:
        return ()
    name = fields.name("exdates")
    if len(values) > MAX_EXDATES:
        raise InvalidDefinition(f"'{name}' holds at most {MAX_EXDATES} instants.", field=name)
    found = []
    for index, value in enumerate(values):
        found.append(parse_instant(value, field=f"{name}[{index}]"))
    return tuple(found)


# Instants one recurrence may leave out.
MAX_EXDATES = 1000


def _shared(fields: Fields) -> dict[str, Any]:
    """The fields a cron expression and an RRULE take beside themselves."""
    time_zone = fields.text("timeZone")
    return {
        "count": fields.integer("count"),
        "end_time": fields.instant("endTime"),
        "time_zone": "UTC" if time_zone is None else time_zone.strip(),
        "dst": _dst_policy(fields),
        "exdates": _exdates(fields),
        "jitter": _jitter(fields),
        "calendar": _calendar(fields),
    }


def _rrule_recurrence(fields: Fields) -> Recurrence:
    _only(fields, "rrule")
    text = fields.text("rrule", required=True)
    assert text is not None  # noqa: S101 - required=True
    rule = parse_rrule(text)
    if rule.count is not None and fields.has("count"):
        raise InvalidDefinition(
            f"'{fields.name('rrule')}' has a COUNT; leave out '{fields.name('count')}'.",
            field=fields.name("count"),
        )
    recurrence = Recurrence.from_rrule(rule, **_shared(fields))
    check_recurrence_shape(recurrence)
    if next_occurrence(Recurrence.from_rrule(rule), _EVER, _EVER) is None and rule.until is None:
        raise InvalidDefinition(
            f"'{fields.name('rrule')}' never matches: {text.strip()!r}.",
            field=fields.name("rrule"),
        )
    return recurrence


def _cron_recurrence(fields: Fields) -> Recurrence:
    _only(fields, "cron")
    text = fields.text("cron", required=True)
    assert text is not None  # noqa: S101 - required=True
    cron = parse_cron(text)
    recurrence = Recurrence.from_cron(cron, **_shared(fields))
    check_recurrence_shape(recurrence)
    if next_occurrence(Recurrence.from_cron(cron), _EVER, _EVER) is None:
        raise InvalidDefinition(
            f"'{fields.name('cron')}' never matches a day: {text.strip()!r}.",
            field=fields.name("cron"),
        )
    return recurrence


# Every calendar of 400 years repeats from here: an expression with no day after it has none.
_EVER = datetime(2000, 1, 1, tzinfo=UTC)


def _dst_policy(fields: Fields) -> DstPolicy | None:
    policy = fields.obj("dstPolicy", KNOWN_KEYS["dstPolicy"])
    if policy is None:
        return None
    return DstPolicy(
        gap=policy.enum("gap", Gap) or Gap.SHIFT, fold=policy.enum("fold", Fold) or Fold.FIRST
    )


def dst_policy_to_json(policy: DstPolicy) -> dict[str, str]:
    return {"gap": policy.gap.value, "fold": policy.fold.value}


def _schedule(fields: Fields) -> Schedule:
    return Schedule(
        minutes=_ints(fields, "minutes"),
        hours=_ints(fields, "hours"),
        week_days=_week_days(fields),
        month_days=_ints(fields, "monthDays"),
        monthly_occurrences=_monthly(fields),
    )


def _ints(fields: Fields, key: str) -> tuple[int, ...] | None:
    values = fields.array(key)
    if values is None:
        return None
    return tuple(sorted({as_int(value, fields.name(key)) for value in values}))


def _week_days(fields: Fields) -> tuple[DayOfWeek, ...] | None:
    values = fields.array("weekDays")
    if values is None:
        return None
    name = fields.name("weekDays")
    days = set()
    for value in values:
        if not isinstance(value, str):
            raise MalformedJob(f"'{name}' must hold day names such as 'Monday'.", field=name)
        days.add(parse_enum(value, DayOfWeek, name))
    return tuple(day for day in WEEK_ORDER if day in days)


def _monthly(fields: Fields) -> tuple[MonthlyOccurrence, ...] | None:
    values = fields.array("monthlyOccurrences")
    if values is None:
        return None
    found: set[MonthlyOccurrence] = set()
    for index, value in enumerate(values):
        item = Fields(
            value, f"{fields.name('monthlyOccurrences')}[{index}]", KNOWN_KEYS["monthlyOccurrence"]
        )
        day = item.enum("day", DayOfWeek, required=True)
        assert day is not None  # noqa: S101 - required=True
        # "Occurrence" is the spec's key, "occurrence" the 2016 wire's: the reader is
        # case-insensitive, so both arrive here.
        found.add(MonthlyOccurrence(day, item.integer("occurrence")))
    return tuple(sorted(found, key=MonthlyOccurrence.sort_key))


def recurrence_to_json(recurrence: Recurrence) -> dict[str, Any]:
    """The response form: canonical enum spellings, arrays always, ``Occurrence`` key.
    A cron expression or an RRULE is echoed as given, without Azure's fields."""
    body: dict[str, Any]
    if recurrence.cron is not None:
        body = {"cron": recurrence.cron.text}
    elif recurrence.rrule is not None:
        body = {"rrule": recurrence.rrule.text}
    else:
        body = {"frequency": recurrence.frequency.value}
    if recurrence.count is not None:
        body["count"] = recurrence.count
    if recurrence.end_time is not None:
        body["endTime"] = format_instant(recurrence.end_time)
    if "frequency" in body:
        body["interval"] = recurrence.interval
        schedule = recurrence.effective_schedule
        if schedule is not None:
            body["schedule"] = schedule_to_json(schedule)
    return body | _extensions(recurrence)


def _extensions(recurrence: Recurrence) -> dict[str, Any]:
    """jobclock's fields of any kind of recurrence."""
    body: dict[str, Any] = {}
    if not recurrence.is_utc:
        body["timeZone"] = recurrence.time_zone
    if recurrence.dst is not None:
        body["dstPolicy"] = dst_policy_to_json(recurrence.dst)
    if recurrence.exdates:
        body["exdates"] = [format_instant(moment) for moment in recurrence.exdates]
    if recurrence.jitter is not None:
        body["jitter"] = recurrence.jitter.text
    if recurrence.calendar is not None:
        body["calendar"] = {
            "name": recurrence.calendar.name,
            "onHoliday": recurrence.calendar.on_holiday.value,
        }
    return body


def schedule_to_json(schedule: Schedule) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if schedule.minutes:
        body["minutes"] = list(schedule.minutes)
    if schedule.hours:
        body["hours"] = list(schedule.hours)
    if schedule.week_days:
        body["weekDays"] = [day.value for day in schedule.week_days]
    if schedule.month_days:
        body["monthDays"] = list(schedule.month_days)
    if schedule.monthly_occurrences:
        body["monthlyOccurrences"] = [
            {"day": item.day.value}
            | ({} if item.occurrence is None else {"Occurrence": item.occurrence})
            for item in schedule.monthly_occurrences
        ]
    return body
