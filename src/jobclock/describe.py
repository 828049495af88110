"""Jobs and collections described for people, the way the Azure PowerShell cmdlets did
(§9.1): ``Run once``, ``Every 1 Minutes``, ``Until 10 executions. Or on <date> whichever
occurs first.``. Shared by the CLI's tables and the portal; works on the API's JSON."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from jobclock.domain.durations import parse_duration
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.instants import format_instant_seconds, parse_instant
from jobclock.domain.notification import EventType
from jobclock.domain.retry_policy import DEFAULT_MAX_INTERVAL, DEFAULT_RETRY_INTERVAL

NONE = "—"
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}
# Hours × minutes up to this many are spelled out as HH:MM times.
_MAX_TIMES = 8


def obj(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def when(value: object) -> str:
    """An API instant for people, ``YYYY-MM-DD HH:MM:SSZ`` (UTC); ``—`` when absent."""
    if not isinstance(value, str) or not value:
        return NONE
    try:
        return format_instant_seconds(parse_instant(value, field="instant")).replace("T", " ")
    except InvalidDefinition:
        return value


# -- schedules -----------------------------------------------------------------------------


def describe_recurrence(recurrence: object, *, cmdlet: bool = True) -> str:
    """``Run once``, ``Every 1 Minutes``, ``Every 1 Weeks on Monday, Friday at 06:00``...

    ``cmdlet=False`` (the portal) says ``Every hour`` for an interval of 1, as a person
    would; ``Every 3 Hours`` stays."""
    rec = obj(recurrence)
    text = _describe_kind(rec, cmdlet)
    jitter = rec.get("jitter")
    if isinstance(jitter, str) and jitter and text != "Run once":
        text += f", up to {jitter} late (jitter)"
    calendar = obj(rec.get("calendar"))
    name, on_holiday = calendar.get("name"), calendar.get("onHoliday") or "skip"
    if isinstance(name, str) and name and text != "Run once":
        text += f", {_HOLIDAYS.get(str(on_holiday), 'holidays skipped')} (calendar {name})"
    return text


_HOLIDAYS = {
    "skip": "holidays skipped",
    "next": "holidays moved to the next business day",
    "previous": "holidays moved to the previous business day",
}


def _describe_kind(rec: Mapping[str, Any], cmdlet: bool) -> str:
    zone = rec.get("timeZone")
    zoned = isinstance(zone, str) and zone and zone.upper() != "UTC"
    if rec.get("cron"):
        return f"Cron {rec['cron']}" + (f" ({zone})" if zoned else "")
    if rec.get("rrule"):
        return f"Rule {rec['rrule']}" + (f" ({zone})" if zoned else "")
    if not rec.get("frequency"):
        return "Run once"
    interval = rec.get("interval", 1)
    if not cmdlet and interval == 1:
        text = f"Every {str(rec['frequency']).lower()}"
    else:
        # The cmdlets pluralised blindly ("Every 1 Minutes"); so does the CLI.
        text = f"Every {interval} {rec['frequency']}s"
    details = _schedule_phrases(obj(rec.get("schedule")))
    if details:
        text += " " + "; ".join(details)
    if zoned:
        text += f" ({zone})"
    return text


def describe_end(recurrence: object) -> str:
    """When a recurrence stops, in the cmdlets' words; ``—`` when it never does."""
    rec = obj(recurrence)
    if not (rec.get("frequency") or rec.get("cron") or rec.get("rrule")):
        return NONE
    count, end = rec.get("count"), rec.get("endTime")
    if count is not None and end is not None:
        return f"Until {count} executions. Or on {when(end)} whichever occurs first."
    if count is not None:
        return f"Until {count} executions."
    if end is not None:
        return f"Until {when(end)}."
    return NONE


def _schedule_phrases(schedule: Mapping[str, Any]) -> list[str]:
    phrases = []
    week_days = as_list(schedule.get("weekDays"))
    if week_days:
        phrases.append("on " + ", ".join(str(day) for day in week_days))
    # 1, 15, last: positive days first, then counted from the end.
    month_days = sorted(
        as_list(schedule.get("monthDays")),
        key=lambda day: (day < 0, -day if day < 0 else day) if isinstance(day, int) else (2, 0),
    )
    if month_days:
        days = ", ".join(_month_day(day) for day in month_days)
        phrases.append(f"on day{'s' if len(month_days) > 1 else ''} {days} of the month")
    monthly = as_list(schedule.get("monthlyOccurrences"))
    if monthly:
        phrases.append("on " + ", ".join(_monthly(obj(item)) for item in monthly))
    phrases.extend(_time_phrases(as_list(schedule.get("hours")), as_list(schedule.get("minutes"))))
    return phrases


def _time_phrases(hours: list[Any], minutes: list[Any]) -> list[str]:
    if hours and minutes and len(hours) * len(minutes) <= _MAX_TIMES:
        times = [f"{int(h):02d}:{int(m):02d}" for h in hours for m in minutes]
        return ["at " + ", ".join(times)]
    phrases = []
    if hours:
        phrases.append("at hours " + ", ".join(str(hour) for hour in hours))
    if minutes:
        phrases.append("at minutes " + ", ".join(str(minute) for minute in minutes))
    return phrases


def _month_day(day: object) -> str:
    if day == -1:
        return "last"
    if isinstance(day, int) and day < -1:
        return f"{-day - 1} before last"
    return str(day)


def _monthly(item: Mapping[str, Any]) -> str:
    day = item.get("day", "?")
    occurrence = item.get("Occurrence", item.get("occurrence"))
    if not isinstance(occurrence, int):
        return f"every {day}"
    if occurrence == -1:
        return f"the last {day}"
    if occurrence < -1:
        return f"the {_ORDINALS.get(-occurrence, str(-occurrence))}-to-last {day}"
    return f"the {_ORDINALS.get(occurrence, str(occurrence))} {day}"


# -- actions -------------------------------------------------------------------------------


def describe_action(action: object) -> str:
    """``Http GET http://…``, ``StorageQueue acct/queue``, ``ServiceBusTopic ns/topic``..."""
    act = obj(action)
    kind = str(act.get("type", "?"))
    if "request" in act:
        request = obj(act["request"])
        return f"{kind} {request.get('method', 'GET')} {request.get('uri', '?')}"
    if "queueMessage" in act:
        queue = obj(act["queueMessage"])
        return f"{kind} {queue.get('storageAccount', '?')}/{queue.get('queueName', '?')}"
    for key, entity in (
        ("serviceBusQueueMessage", "queueName"),
        ("serviceBusTopicMessage", "topicPath"),
    ):
        if key in act:
            message = obj(act[key])
            return f"{kind} {message.get('namespace', '?')}/{message.get(entity, '?')}"
    if "amqpMessage" in act:
        amqp = obj(act["amqpMessage"])
        route = f"{amqp.get('exchange', '')}/{amqp.get('routingKey', '')}"
        return f"{kind} {amqp.get('url', '?')} {route}"
    return kind


def describe_retry(action: object) -> str:
    """``Fixed, 4 retries every PT30S``; ``Exponential, up to 4 retries, from 10 seconds
    doubling to at most 5 minutes, with jitter``; either ending ``; giving up after 1 hour``
    when it has a ``maxAge``."""
    act = obj(action)
    if "retryPolicy" not in act:
        return "Fixed, 4 retries every PT30S (default)"
    policy = obj(act["retryPolicy"])
    kind = policy.get("retryType", "Fixed")
    if kind == "None":
        return "None"
    count = policy.get("retryCount", 4)
    if kind == "Exponential":
        interval = _duration(policy.get("retryInterval")) or DEFAULT_RETRY_INTERVAL
        # Without maxInterval the wait stops growing at an hour, or at retryInterval.
        ceiling = _duration(policy.get("maxInterval")) or max(DEFAULT_MAX_INTERVAL, interval)
        text = (
            f"{kind}, up to {count} retries, from {in_words(interval)} doubling to at most "
            f"{in_words(ceiling)}, with jitter"
        )
    else:
        text = f"{kind}, {count} retries every {policy.get('retryInterval', 'PT30S')}"
    max_age = _duration(policy.get("maxAge"))
    if max_age is not None:
        text += f"; giving up after {in_words(max_age)}"
    return text


_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))


def _duration(value: object) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value, field="duration").value
    except InvalidDefinition:
        return None


def in_words(value: timedelta) -> str:
    """``10 seconds``, ``1 hour``, ``1 day 2 hours``, ``1.5 seconds``."""
    rest = value.total_seconds()
    parts = []
    for unit, seconds in _UNITS:
        amount, rest = divmod(rest, seconds)
        if amount:
            parts.append(f"{int(amount)} {unit}{'' if amount == 1 else 's'}")
    if rest or not parts:
        number = f"{rest:.6f}".rstrip("0").rstrip(".")
        parts.append(f"{number} second{'' if rest == 1 else 's'}")
    return " ".join(parts)


def describe_attempt_timeout(properties: object) -> str:
    """How long one attempt may take: ``PT5M``, or ``PT60S (default)``, Azure's."""
    timeout = obj(properties).get("attemptTimeout")
    return str(timeout) if timeout else "PT60S (default)"


def describe_signing(action: object) -> str | None:
    """``signed (Standard Webhooks)`` when the request is signed; the keys are never shown
    (the API does not return them)."""
    request = obj(action).get("request")
    if isinstance(request, Mapping) and request.get("signing") is not None:
        return "signed (Standard Webhooks)"
    return None


_PAYLOADS = (
    "request",
    "queueMessage",
    "serviceBusQueueMessage",
    "serviceBusTopicMessage",
    "amqpMessage",
)


def describe_template(action: object) -> str | None:
    """``templated`` when the action's payload is rendered per run."""
    act = obj(action)
    templated = any(obj(act.get(key)).get("template") is True for key in _PAYLOADS)
    return "templated" if templated else None


def describe_authentication(action: Mapping[str, Any]) -> str | None:
    auth = obj(obj(action.get("request")).get("authentication"))
    if not auth:
        return None
    detail = auth.get("username") or auth.get("clientId") or auth.get("certificateSubjectName")
    return f"{auth.get('type', '?')} ({detail})" if detail else str(auth.get("type", "?"))


# -- notifications -------------------------------------------------------------------------


def describe_expect_run_within(properties: object) -> str | None:
    """``PT2H (2 hours)``: how long the job may go without a successful run before its
    collection's endpoints get an ``occurrence.missed`` event (the dead-man's switch); None
    when it has no ``expectRunWithin``."""
    window = obj(properties).get("expectRunWithin")
    if not isinstance(window, str) or not window:
        return None
    length = _duration(window)
    return window if length is None else f"{window} ({in_words(length)})"


# The events an endpoint hears of when its ``events`` are left out.
EVENT_TYPES = tuple(event.value for event in EventType)


def describe_events(events: object) -> str:
    """``all events``, or the event types an endpoint subscribes to."""
    names = [str(event) for event in as_list(events)]
    if not names or set(names) == set(EVENT_TYPES):
        return "all events"
    return ", ".join(names)


def describe_endpoint_signing(properties: object) -> str | None:
    """``signed (Standard Webhooks)`` when a notification endpoint's events are signed; its
    keys are never shown (the API does not return them)."""
    if obj(properties).get("signing") is not None:
        return "signed (Standard Webhooks)"
    return None
