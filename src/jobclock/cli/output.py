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

from jobclock.describe import (
    NONE,
    as_list,
    describe_action,
    describe_attempt_timeout,
    describe_authentication,
    describe_end,
    describe_endpoint_signing,
    describe_events,
    describe_expect_run_within,
    describe_recurrence,
    describe_retry,
    describe_signing,
    describe_template,
    obj,
    when,
)
from jobclock.domain.collection import PLANS, MaxRecurrence, Sku
from jobclock.domain.recurrence import Frequency

OUTPUT_MODES = ("table", "json")
_STATUS_STYLES = {"Completed": "green", "Failed": "red", "Postponed": "yellow"}
_NOTICE_STYLES = {"delivered": "green", "failed": "red", "pending": "yellow"}
_STATE_STYLES = {"Enabled": "green", "Disabled": "yellow", "Faulted": "red", "Suspended": "red"}
# From this console width on, history ids and times fit on one line.
_WIDE = 150
_COUNTERS = ("executionCount", "failureCount", "faultedCount")


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
        for item in (obj(node) for node in as_list(page.get("value"))):
            alive = bool(item.get("alive"))
            table.add_row(
                _cell(item.get("name")),
                _cell("yes" if alive else "no", "green" if alive else "red"),
                _cell(item.get("startedAt")),
                _cell(item.get("heartbeatAt")),
            )
        self.console.print(table)

    # -- calendars
    def calendar(self, body: Mapping[str, Any]) -> None:
        if self.is_json:
            self.json(body)
            return
        props = obj(body.get("properties"))
        table = _table()
        table.add_column("Field")
        table.add_column("Value", overflow="fold")
        table.add_row(_cell("Name"), _cell(_short_name(body)))
        table.add_row(_cell("Time zone"), _cell(props.get("timeZone") or "each job's own"))
        table.add_row(
            _cell("Week days"), _cell(", ".join(map(str, as_list(props.get("weekDays")))))
        )
        table.add_row(_cell("Dates"), _cell(", ".join(map(str, as_list(props.get("dates"))))))
        jobs = as_list(props.get("jobs"))
        table.add_row(_cell("Followed by"), _cell(", ".join(map(str, jobs)) or "no job"))
        self.console.print(table)

    def calendars(self, page: Mapping[str, Any]) -> None:
        if self.is_json:
            self.json(page)
            return
        items = [obj(item) for item in as_list(page.get("value"))]
        if not items:
            self.console.print(Text("No calendars."))
            return
        table = _table()
        for header in ("Name", "Time zone", "Week days", "Dates"):
            table.add_column(header)
        for item in items:
            props = obj(item.get("properties"))
            table.add_row(
                _cell(_short_name(item)),
                _cell(props.get("timeZone") or "-"),
                _cell(", ".join(map(str, as_list(props.get("weekDays"))))),
                _cell(str(len(as_list(props.get("dates"))))),
            )
        self.console.print(table)

    # -- notification endpoints
    def endpoint(self, body: Mapping[str, Any]) -> None:
        if self.is_json:
            self.json(body)
            return
        props = obj(body.get("properties"))
        self._details(
            [
                ("Name", _short_name(body)),
                ("URI", props.get("uri")),
                ("Events", describe_events(props.get("events"))),
                ("Late after", props.get("lateAfter")),
                ("Signing", describe_endpoint_signing(props) or "unsigned"),
                ("Id", body.get("id")),
            ]
        )

    def endpoints(self, page: Mapping[str, Any]) -> None:
        if self.is_json:
            self.json(page)
            return
        items = [obj(item) for item in as_list(page.get("value"))]
        if not items:
            self.console.print(Text("No notification endpoints."))
            return
        table = _table()
        for header in ("Name", "URI", "Events", "Late after", "Signing"):
            table.add_column(header, overflow="fold")
        for item in items:
            props = obj(item.get("properties"))
            table.add_row(
                _cell(_short_name(item)),
                _cell(props.get("uri")),
                _cell(describe_events(props.get("events"))),
                _cell(props.get("lateAfter")),
                _cell("signed" if describe_endpoint_signing(props) else "unsigned"),
            )
        self.console.print(table)

    def notices(self, page: Mapping[str, Any], endpoint: str) -> None:
        """An endpoint's delivery history; ``--output json`` has each CloudEvent too."""
        if self.is_json:
            self.json(page)
            return
        items = [obj(item) for item in as_list(page.get("value"))]
        if not items:
            self.console.print(Text(f"No events sent to notification endpoint '{endpoint}'."))
            return
        # Fixed widths, the message takes the rest; below 110 columns an instant takes two
        # lines. "Next attempt" only while a delivery is still being tried.
        wide = self.console.width >= 110
        stamp = 20 if wide else 10
        pending = any(item.get("nextAttemptTime") for item in items)
        table = _table()
        used = _fixed(table, "Created", stamp)
        used += _fixed(table, "Event", max(len(str(item.get("eventType"))) for item in items))
        longest_job = max(len(str(item.get("job"))) for item in items)
        used += _fixed(table, "Job", min(24 if wide else 12, longest_job))
        used += _fixed(table, "Status", 18 if wide else 9)
        if pending:
            used += _fixed(table, "Next attempt", stamp)
        rest = max(12, self.console.width - used)
        table.add_column("Message", width=rest, no_wrap=True, overflow="ellipsis")
        for item in items:
            status = str(item.get("status", ""))
            attempts = item.get("attempts", 0)
            tries = f"{attempts} {'try' if attempts == 1 else 'tries'}"
            row = [
                _cell(when(item.get("createdTime"))),
                _cell(item.get("eventType")),
                _cell(item.get("job")),
                Text.assemble(
                    (status, _NOTICE_STYLES.get(status, "")), f", {tries}" if wide else f"\n{tries}"
                ),
            ]
            if pending:
                row.append(_cell(when(item.get("nextAttemptTime"))))
            row.append(Text(_shorten(first_line(item.get("message")), rest)))
            table.add_row(*row)
        self.console.print(table)

    # -- tokens and the audit trail
    def tokens(self, page: Mapping[str, Any]) -> None:
        if self.is_json:
            self.json(page)
            return
        items = [obj(item) for item in as_list(page.get("value"))]
        if not items:
            self.console.print(Text("No tokens besides the server's own (admin)."))
            return
        table = _table()
        for header in ("Name", "Role", "Created", "Created by"):
            table.add_column(header)
        for item in items:
            table.add_row(*(_cell(item.get(k)) for k in ("name", "role", "createdAt", "createdBy")))
        self.console.print(table)

    def audit(self, page: Mapping[str, Any], *, more_hint: bool) -> None:
        if self.is_json:
            self.json(page)
            return
        items = [obj(item) for item in as_list(page.get("value"))]
        if not items:
            self.console.print(Text("No writes recorded."))
            return
        table = _table()
        for header in ("Time", "Who", "Via", "Operation", "Resource", "Outcome"):
            # Ids and operation names are long: they wrap rather than lose their ends.
            table.add_column(header, overflow="fold")
        for item in items:
            table.add_row(
                _cell(item.get("time")),
                _cell(item.get("identity")),
                _cell(item.get("via")),
                _cell(str(item.get("operation", "")).removeprefix("Microsoft.Scheduler/")),
                _cell(item.get("resource")),
                _cell(f"{item.get('outcome')} ({item.get('status')})"),
            )
        self.console.print(table)
        if more_hint and page.get("nextLink"):
            self.console.print(Text("More entries: use --all."))

    # -- collections
    def collections(self, page: Mapping[str, Any], *, show_group: bool) -> None:
        if self.is_json:
            self.json(page)
            return
        items = [obj(item) for item in as_list(page.get("value"))]
        if not items:
            self.console.print(Text("No job collections."))
            return
        table = _table()
        for header in ("Name", "Resource group", "Location", "Plan", "State", "Max jobs"):
            if header != "Resource group" or show_group:
                table.add_column(header)
        table.add_column("Max recurrence")
        for item in items:
            props = obj(item.get("properties"))
            row = [_cell(item.get("name"))]
            if show_group:
                row.append(_cell(_resource_group(item)))
            state = props.get("state")
            row += [
                _cell(item.get("location")),
                _cell(obj(props.get("sku")).get("name")),
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
        props = obj(body.get("properties"))
        tags = obj(body.get("tags"))
        self._details(
            [
                ("Name", body.get("name")),
                ("Resource group", _resource_group(body)),
                ("Location", body.get("location")),
                ("Plan", obj(props.get("sku")).get("name")),
                ("State", props.get("state")),
                ("Max jobs", _max_jobs(props)),
                ("Max recurrence", _max_recurrence(props)),
                ("Host limits", describe_host_limits(props.get("hostLimits"))),
                ("Tags", ", ".join(f"{k}={v}" for k, v in tags.items()) or None),
                ("Id", body.get("id")),
            ]
        )

    # -- jobs
    def jobs(self, page: Mapping[str, Any], collection: str) -> None:
        if self.is_json:
            self.json(page)
            return
        items = [obj(item) for item in as_list(page.get("value"))]
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
            props = obj(item.get("properties"))
            status = obj(props.get("status"))
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
        props = obj(body.get("properties"))
        action = obj(props.get("action"))
        request = obj(action.get("request"))
        headers = obj(request.get("headers"))
        status = obj(props.get("status"))
        error_action = action.get("errorAction")
        self._details(
            [
                ("Name", body.get("name")),
                ("State", props.get("state")),
                ("Action", describe_action(action)),
                ("Headers", ", ".join(f"{k}: {v}" for k, v in headers.items()) or None),
                ("Body", request.get("body")),
                ("Authentication", describe_authentication(action)),
                ("Signing", describe_signing(action)),
                ("Template", describe_template(action)),
                ("Retry", describe_retry(action)),
                ("Attempt timeout", describe_attempt_timeout(props)),
                ("Expect run within", describe_expect_run_within(props)),
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
        items = [obj(item) for item in as_list(page.get("value"))]
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
            props = obj(item.get("properties"))
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
        props = obj(body.get("properties"))
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


def describe_host_limits(rules: object) -> str | None:
    """A collection's ``hostLimits``, a rule a line: ``api.example.com: 5 at once, 2.5 a
    second``; None when it has none."""
    lines = []
    for rule in (obj(item) for item in as_list(rules)):
        caps = []
        if rule.get("concurrency") is not None:
            caps.append(f"{rule['concurrency']} at once")
        rate = rule.get("ratePerSecond")
        if rate is not None:
            # 2.5, and 10 rather than 10.0; every digit stored (no rounding as :g does).
            whole = isinstance(rate, float) and rate.is_integer()
            caps.append(f"{int(rate) if whole else rate} a second")
        lines.append(f"{rule.get('host')}: {', '.join(caps) or 'no cap'}")
    return "\n".join(lines) or None


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
    name = str(obj(props.get("sku")).get("name", "")).lower()
    return next((sku for sku in Sku if sku.value.lower() == name), None)


def _max_jobs(props: Mapping[str, Any]) -> str:
    """The effective job cap: the stricter of the plan and the quota."""
    sku = _sku(props)
    limits = [PLANS[sku].max_jobs] if sku is not None else []
    limits.append(obj(props.get("quota")).get("maxJobCount"))
    known = [value for value in limits if isinstance(value, int)]
    return str(min(known)) if known else "unlimited"


def _max_recurrence(props: Mapping[str, Any]) -> str | None:
    """The effective recurrence floor, e.g. ``once every 1 minute``."""
    sku = _sku(props)
    floor = PLANS[sku].max_recurrence if sku is not None else None
    raw = obj(obj(props.get("quota")).get("maxRecurrence"))
    wanted = None
    frequency = str(raw.get("frequency", "")).lower()
    match = next((f for f in Frequency if f.value.lower() == frequency), None)
    if match is not None:
        interval = raw.get("interval", 1)
        wanted = MaxRecurrence(match, interval if isinstance(interval, int) else 1)
    if wanted is not None and (floor is None or wanted.period > floor.period):
        return wanted.describe()
    return None if floor is None else floor.describe()
