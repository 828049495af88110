"""How ``collections``, ``jobs`` and ``history`` print answers: JSON for scripts, Rich tables
for people.

``--output json`` prints the API's JSON unchanged (a followed list as one
``{"value": [...], "nextLink": null}``). ``--output table`` describes schedules the way the
Azure PowerShell cmdlets did (§9.1): ``Run once``, ``Every 1 Minutes``, ``Until 10
executions. Or on <date> whichever occurs first.``. Text from the server is always printed
as plain text, never as Rich markup.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click
from rich import box
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from jobclock.domain.collection import PLANS, MaxRecurrence, Sku
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.instants import format_instant_seconds, parse_instant
from jobclock.domain.recurrence import Frequency

OUTPUT_MODES = ("table", "json")
NONE = "—"
_STATUS_STYLES = {"Completed": "green", "Failed": "red", "Postponed": "yellow"}
_STATE_STYLES = {"Enabled": "green", "Disabled": "yellow", "Faulted": "red", "Suspended": "red"}
# From this console width on, history ids and times fit on one line.
_WIDE = 150
_COUNTERS = ("executionCount", "failureCount", "faultedCount")
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}
# Hours × minutes up to this many are spelled out as HH:MM times.
_MAX_TIMES = 8


def _obj(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
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


def describe_recurrence(recurrence: object) -> str:
    """``Run once``, ``Every 1 Minutes``, ``Every 1 Weeks on Monday, Friday at 06:00``..."""
    rec = _obj(recurrence)
    if not rec.get("frequency"):
        return "Run once"
    # The cmdlets pluralised blindly ("Every 1 Minutes"); so do we.
    text = f"Every {rec.get('interval', 1)} {rec['frequency']}s"
    details = _schedule_phrases(_obj(rec.get("schedule")))
    if details:
        text += " " + "; ".join(details)
    zone = rec.get("timeZone")
    if isinstance(zone, str) and zone and zone.upper() != "UTC":
        text += f" ({zone})"
    return text


def describe_end(recurrence: object) -> str:
    """When a recurrence stops, in the cmdlets' words; ``—`` when it never does."""
    rec = _obj(recurrence)
    if not rec.get("frequency"):
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
    week_days = _list(schedule.get("weekDays"))
    if week_days:
        phrases.append("on " + ", ".join(str(day) for day in week_days))
    # 1, 15, last: positive days first, then counted from the end.
    month_days = sorted(
        _list(schedule.get("monthDays")),
        key=lambda day: (day < 0, -day if day < 0 else day) if isinstance(day, int) else (2, 0),
    )
    if month_days:
        days = ", ".join(_month_day(day) for day in month_days)
        phrases.append(f"on day{'s' if len(month_days) > 1 else ''} {days} of the month")
    monthly = _list(schedule.get("monthlyOccurrences"))
    if monthly:
        phrases.append("on " + ", ".join(_monthly(_obj(item)) for item in monthly))
    phrases.extend(_time_phrases(_list(schedule.get("hours")), _list(schedule.get("minutes"))))
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
    act = _obj(action)
    kind = str(act.get("type", "?"))
    if "request" in act:
        request = _obj(act["request"])
        return f"{kind} {request.get('method', 'GET')} {request.get('uri', '?')}"
    if "queueMessage" in act:
        queue = _obj(act["queueMessage"])
        return f"{kind} {queue.get('storageAccount', '?')}/{queue.get('queueName', '?')}"
    for key, entity in (
        ("serviceBusQueueMessage", "queueName"),
        ("serviceBusTopicMessage", "topicPath"),
    ):
        if key in act:
            message = _obj(act[key])
            return f"{kind} {message.get('namespace', '?')}/{message.get(entity, '?')}"
    if "amqpMessage" in act:
        amqp = _obj(act["amqpMessage"])
        route = f"{amqp.get('exchange', '')}/{amqp.get('routingKey', '')}"
        return f"{kind} {amqp.get('url', '?')} {route}"
    return kind


def describe_retry(action: object) -> str:
    act = _obj(action)
    if "retryPolicy" not in act:
        return "Fixed, 4 retries every PT30S (default)"
    policy = _obj(act["retryPolicy"])
    kind = policy.get("retryType", "Fixed")
    if kind == "None":
        return "None"
    count = policy.get("retryCount", 4)
    return f"{kind}, {count} retries every {policy.get('retryInterval', 'PT30S')}"


def _authentication(action: Mapping[str, Any]) -> str | None:
    auth = _obj(_obj(action.get("request")).get("authentication"))
    if not auth:
        return None
    detail = auth.get("username") or auth.get("clientId") or auth.get("certificateSubjectName")
    return f"{auth.get('type', '?')} ({detail})" if detail else str(auth.get("type", "?"))


# -- the printer ---------------------------------------------------------------------------


def _table() -> Table:
    # Columns are two characters apart: one of padding, one of (blank) divider.
    return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))


def _fixed(table: Table, header: str, width: int, justify: JustifyMethod = "left") -> int:
    """Add a column ``width`` characters wide that never wraps its header; returns the
    width it takes with its padding."""
    table.add_column(header, width=width, overflow="fold", justify=justify)
    return width + 2


def _cell(value: object, style: str = "") -> Text:
    return Text(NONE if value is None or value == "" else str(value), style=style)


def _short_name(resource: Mapping[str, Any]) -> str:
    return str(resource.get("name", "?")).rsplit("/", 1)[-1]


class Printer:
    """Prints answers as the API's JSON or as tables, per ``--output``."""

    def __init__(self, mode: str, console: Console | None = None) -> None:
        self.mode = mode.lower()
        self._console = console

    @property
    def is_json(self) -> bool:
        return self.mode == "json"

    @property
    def console(self) -> Console:
        if self._console is None:
            self._console = Console(highlight=False)
        return self._console

    def json(self, body: object) -> None:
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))

    def done(self, text: str) -> None:
        """Confirm an operation whose answer is empty; JSON output prints nothing then."""
        if not self.is_json:
            self.console.print(Text(text))

    # -- nodes
    def nodes(self, page: Mapping[str, Any]) -> None:
        if self.is_json:
            self.json(page)
            return
        table = _table()
        for header in ("Node", "Alive", "Started", "Last heartbeat"):
            table.add_column(header)
        for item in (_obj(node) for node in _list(page.get("value"))):
            alive = bool(item.get("alive"))
            table.add_row(
                _cell(item.get("name")),
                _cell("yes" if alive else "no", "green" if alive else "red"),
                _cell(item.get("startedAt")),
                _cell(item.get("heartbeatAt")),
            )
        self.console.print(table)

    # -- collections
    def collections(self, page: Mapping[str, Any], *, show_group: bool) -> None:
        if self.is_json:
            self.json(page)
            return
        items = [_obj(item) for item in _list(page.get("value"))]
        if not items:
            self.console.print(Text("No job collections."))
            return
        table = _table()
        for header in ("Name", "Resource group", "Location", "Plan", "State", "Max jobs"):
            if header != "Resource group" or show_group:
                table.add_column(header)
        table.add_column("Max recurrence")
        for item in items:
            props = _obj(item.get("properties"))
            row = [_cell(item.get("name"))]
            if show_group:
                row.append(_cell(_resource_group(item)))
            state = props.get("state")
            row += [
                _cell(item.get("location")),
                _cell(_obj(props.get("sku")).get("name")),
                _cell(state, _STATE_STYLES.get(str(state), "")),
                _cell(_max_jobs(props)),
                _cell(_max_recurrence(props)),
            ]
            table.add_row(*row)
        self.console.print(table)

    def collection(self, body: Mapping[str, Any]) -> None:
        if self.is_json:
            self.json(body)
            return
        props = _obj(body.get("properties"))
        tags = _obj(body.get("tags"))
        self._details(
            [
                ("Name", body.get("name")),
                ("Resource group", _resource_group(body)),
                ("Location", body.get("location")),
                ("Plan", _obj(props.get("sku")).get("name")),
                ("State", props.get("state")),
                ("Max jobs", _max_jobs(props)),
                ("Max recurrence", _max_recurrence(props)),
                ("Tags", ", ".join(f"{k}={v}" for k, v in tags.items()) or None),
                ("Id", body.get("id")),
            ]
        )

    # -- jobs
    def jobs(self, page: Mapping[str, Any], collection: str) -> None:
        if self.is_json:
            self.json(page)
            return
        items = [_obj(item) for item in _list(page.get("value"))]
        if not items:
            self.console.print(Text(f"No jobs in job collection '{collection}'."))
            return
        # Fixed widths for the short columns, so only Schedule wraps when space is short;
        # below 110 columns an instant takes two lines (date, then time).
        stamp = 20 if self.console.width >= 110 else 10
        table = _table()
        _fixed(table, "Name", min(24, max(len(_short_name(item)) for item in items)))
        _fixed(table, "State", 9)
        table.add_column("Schedule", min_width=12)
        _fixed(table, "Next run", stamp)
        _fixed(table, "Last run", stamp)
        for header in ("Exec", "Fail", "Fault"):
            _fixed(table, header, len(header), justify="right")
        for item in items:
            props = _obj(item.get("properties"))
            status = _obj(props.get("status"))
            state = props.get("state")
            table.add_row(
                _cell(_short_name(item)),
                _cell(state, _STATE_STYLES.get(str(state), "")),
                _cell(_schedule(props.get("recurrence"))),
                _cell(when(status.get("nextExecutionTime"))),
                _cell(when(status.get("lastExecutionTime"))),
                *(_cell(status.get(key, 0)) for key in _COUNTERS),
            )
        self.console.print(table)

    def job(self, body: Mapping[str, Any]) -> None:
        if self.is_json:
            self.json(body)
            return
        props = _obj(body.get("properties"))
        action = _obj(props.get("action"))
        request = _obj(action.get("request"))
        headers = _obj(request.get("headers"))
        status = _obj(props.get("status"))
        error_action = action.get("errorAction")
        self._details(
            [
                ("Name", body.get("name")),
                ("State", props.get("state")),
                ("Action", describe_action(action)),
                ("Headers", ", ".join(f"{k}: {v}" for k, v in headers.items()) or None),
                ("Body", request.get("body")),
                ("Authentication", _authentication(action)),
                ("Retry", describe_retry(action)),
                ("Error action", None if error_action is None else describe_action(error_action)),
                ("Start time", when(props.get("startTime"))),
                ("Recurrence", describe_recurrence(props.get("recurrence"))),
                ("Ends", describe_end(props.get("recurrence"))),
                ("Next run", when(status.get("nextExecutionTime"))),
                ("Last run", when(status.get("lastExecutionTime"))),
                ("Executions", status.get("executionCount", 0)),
                ("Failures", status.get("failureCount", 0)),
                ("Faults", status.get("faultedCount", 0)),
            ]
        )

    # -- history
    def history(self, page: Mapping[str, Any], job: str) -> None:
        if self.is_json:
            self.json(page)
            return
        items = [_obj(item) for item in _list(page.get("value"))]
        if not items:
            self.console.print(Text(f"No history for job '{job}'."))
            return
        # Wide: one line per entry. Narrow: the id and the time take two lines each, and
        # the status shares a column with the message.
        wide = self.console.width >= _WIDE
        table = _table()
        used = _fixed(table, "Id", 41 if wide else 21)
        used += _fixed(table, "Start time", 20 if wide else 10)
        if wide:
            used += _fixed(table, "Status", 9)
        used += _fixed(table, "Action", 11 if wide else 6)
        used += _fixed(table, "Retry", 5, justify="right")
        used += _fixed(table, "Repeat", 6, justify="right")
        rest = max(12, self.console.width - used)
        table.add_column(
            "Message" if wide else "Status, message", width=rest, no_wrap=True, overflow="ellipsis"
        )
        for item in items:
            props = _obj(item.get("properties"))
            status = str(props.get("status", ""))
            status_text = Text(status, style=_STATUS_STYLES.get(status, ""))
            message = Text(_shorten(first_line(props.get("message")), rest))
            action = str(props.get("actionName", ""))
            history_id = _short_name(item)
            row = [
                _cell(history_id if wide else history_id.replace(":", ":\n", 1)),
                _cell(when(props.get("startTime"))),
            ]
            if wide:
                row.append(status_text)
            row += [
                _cell(action if wide else action.removesuffix("Action")),
                _cell(props.get("retryCount")),
                _cell(props.get("repeatCount")),
                message if wide else Text.assemble(status_text, "\n", message),
            ]
            table.add_row(*row)
        self.console.print(table)

    def history_entry(self, body: Mapping[str, Any]) -> None:
        if self.is_json:
            self.json(body)
            return
        props = _obj(body.get("properties"))
        self._details(
            [
                ("Id", _short_name(body)),
                ("Status", props.get("status")),
                ("Action", props.get("actionName")),
                ("Expected", when(props.get("expectedExecutionTime"))),
                ("Started", when(props.get("startTime"))),
                ("Ended", when(props.get("endTime"))),
                ("Retry", props.get("retryCount")),
                ("Repeat", props.get("repeatCount")),
            ]
        )
        self.console.print(Text("Message:", style="bold"))
        # The full message, unwrapped and unstyled, so it can be copied as it is.
        click.echo(str(props.get("message", "")))

    def _details(self, rows: Sequence[tuple[str, object]]) -> None:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for label, value in rows:
            grid.add_row(Text(label), _cell(value, _STATE_STYLES.get(str(value), "")))
        self.console.print(grid)


def first_line(message: object) -> str:
    text = "" if message is None else str(message)
    return text.strip().splitlines()[0] if text.strip() else ""


def _schedule(recurrence: object) -> str:
    end = describe_end(recurrence)
    return describe_recurrence(recurrence) + ("" if end == NONE else f"\n{end}")


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _resource_group(resource: Mapping[str, Any]) -> str | None:
    parts = str(resource.get("id", "")).split("/")
    lowered = [part.lower() for part in parts]
    if "resourcegroups" in lowered:
        index = lowered.index("resourcegroups") + 1
        return parts[index] if index < len(parts) else None
    return None


def _sku(props: Mapping[str, Any]) -> Sku | None:
    name = str(_obj(props.get("sku")).get("name", "")).lower()
    return next((sku for sku in Sku if sku.value.lower() == name), None)


def _max_jobs(props: Mapping[str, Any]) -> str:
    """The effective job cap: the stricter of the plan and the quota."""
    sku = _sku(props)
    limits = [PLANS[sku].max_jobs] if sku is not None else []
    limits.append(_obj(props.get("quota")).get("maxJobCount"))
    known = [value for value in limits if isinstance(value, int)]
    return str(min(known)) if known else "unlimited"


def _max_recurrence(props: Mapping[str, Any]) -> str | None:
    """The effective recurrence floor, e.g. ``once every 1 minute``."""
    sku = _sku(props)
    floor = PLANS[sku].max_recurrence if sku is not None else None
    raw = _obj(_obj(props.get("quota")).get("maxRecurrence"))
    wanted = None
    frequency = str(raw.get("frequency", "")).lower()
    match = next((f for f in Frequency if f.value.lower() == frequency), None)
    if match is not None:
        interval = raw.get("interval", 1)
        wanted = MaxRecurrence(match, interval if isinstance(interval, int) else 1)
    if wanted is not None and (floor is None or wanted.period > floor.period):
        return wanted.describe()
    return None if floor is None else floor.describe()
