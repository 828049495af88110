"""Building job bodies from ``jobclock jobs`` options: the option types and the
JSON they become (split from ``jobs.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import IO, Any

import click

from jobclock.cli.client import FC, Choice
from jobclock.codec.action import PAYLOAD_KEYS
from jobclock.codec.fields import parse_enum
from jobclock.domain.actions import ActionType, HttpMethod, TransportType
from jobclock.domain.durations import parse_duration
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.instants import format_instant, parse_instant
from jobclock.domain.job import CatchUpPolicy, JobState, OverlapPolicy
from jobclock.domain.recurrence import DayOfWeek, Frequency
from jobclock.domain.retry_policy import RetryType

JOB_STATES = [state.value for state in JobState]
SETTABLE_STATES = [state.value for state in JobState if state.settable]


# -- option types ----------------------------------------------------------------------------


class _Checked(click.ParamType[Any]):
    """A value checked by a codec function that raises ``InvalidDefinition``."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        name = f"--{param.name.replace('_', '-')}" if param and param.name else "value"
        try:
            return self.parse(value, name)
        except InvalidDefinition as exc:
            # click already names the option: "Invalid value for '--start': <message>".
            self.fail(exc.message.removeprefix(f"'{name}' "), param, ctx)

    def parse(self, value: str, name: str) -> Any:
        raise NotImplementedError


class _Instant(_Checked):
    name = "ISO-8601"

    def parse(self, value: str, name: str) -> str:
        return format_instant(parse_instant(value, field=name))


class _Duration(_Checked):
    name = "DURATION"

    def parse(self, value: str, name: str) -> str:
        parse_duration(value, field=name)
        return value.strip()  # the server echoes the form given (§2.6)


class _Ints(_Checked):
    name = "N,N,..."

    def parse(self, value: str, name: str) -> list[int]:
        try:
            return [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise InvalidDefinition(
                f"{value!r} is not a comma-separated list of integers."
            ) from None


class _WeekDays(_Checked):
    name = "DAY,DAY,..."

    def parse(self, value: str, name: str) -> list[str]:
        return [parse_enum(day, DayOfWeek, name).value for day in value.split(",") if day.strip()]


class _MonthlyOccurrences(_Checked):
    name = "DAY[:N],..."

    def parse(self, value: str, name: str) -> list[dict[str, Any]]:
        found = []
        for part in (item.strip() for item in value.split(",")):
            if not part:
                continue
            day, _, ordinal = part.partition(":")
            item: dict[str, Any] = {"day": parse_enum(day, DayOfWeek, name).value}
            if ordinal.strip():
                try:
                    item["Occurrence"] = int(ordinal)
                except ValueError:
                    raise InvalidDefinition(
                        f"{part!r}: the occurrence after ':' must be an integer such as -1."
                    ) from None
            found.append(item)
        return found


class _Header(_Checked):
    name = "NAME=VALUE"

    def parse(self, value: str, name: str) -> tuple[str, str]:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise InvalidDefinition(f"{value!r} is not NAME=VALUE.")
        return key.strip(), text


@dataclass(frozen=True, slots=True)
class JsonArg:
    """A JSON object given as an option; ``value`` None is an explicit ``null``."""

    value: dict[str, Any] | None


class _JsonValue(_Checked):
    name = "JSON"

    def parse(self, value: str, name: str) -> JsonArg:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidDefinition(f"not valid JSON: {exc.msg}.") from None
        if parsed is not None and not isinstance(parsed, dict):
            raise InvalidDefinition("expected a JSON object (or null).")
        return JsonArg(parsed)


# -- options -----------------------------------------------------------------------------------


@dataclass(slots=True)
class JobOptions:
    """Every option that shapes a job body; None (or empty) when not given."""

    start: str | None = None
    frequency: str | None = None
    interval: int | None = None
    count: int | None = None
    end_time: str | None = None
    minutes: list[int] | None = None
    hours: list[int] | None = None
    week_days: list[str] | None = None
    month_days: list[int] | None = None
    monthly_occurrences: list[dict[str, Any]] | None = None
    time_zone: str | None = None
    cron: str | None = None
    rrule: str | None = None
    dst_gap: str | None = None
    dst_fold: str | None = None
    jitter: str | None = None
    calendar: str | None = None
    on_holiday: str | None = None
    overlap_policy: str | None = None
    catch_up: str | None = None
    catch_up_window: str | None = None
    state: str | None = None
    type: str | None = None
    uri: str | None = None
    method: str | None = None
    header: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    basic_username: str | None = None
    basic_password: str | None = None
    signing_secret: str | None = None
    previous_signing_secret: str | None = None
    template: bool | None = None
    storage_account: str | None = None
    queue_name: str | None = None
    sas_token: str | None = None
    namespace: str | None = None
    topic_path: str | None = None
    transport_type: str | None = None
    sas_key_name: str | None = None
    sas_key: str | None = None
    exchange: str | None = None
    routing_key: str | None = None
    retry_type: str | None = None
    retry_interval: str | None = None
    retry_count: int | None = None
    max_interval: str | None = None
    max_age: str | None = None
    attempt_timeout: str | None = None
    expect_run_within: str | None = None
    error_action_json: JsonArg | None = None
    no_recurrence: bool = False
    no_authentication: bool = False
    no_signing: bool = False

    def given(self, *names: str) -> list[str]:
        """The option names among ``names`` (all when none) that were given."""
        # Not given is the default: a flag's False, but --no-template's False is given.
        defaults = {f.name: f.default for f in fields(self)}
        wanted = names or tuple(defaults)
        return [name for name in wanted if getattr(self, name) != defaults[name]]


_OPTIONS = [
    click.option("--start", type=_Instant(), help="startTime, ISO 8601 with offset [now]."),
    click.option("--frequency", type=Choice([f.value for f in Frequency])),
    click.option("--interval", type=click.IntRange(min=1), help="Every N units [1]."),
    click.option("--count", type=click.IntRange(min=1), help="Stop after N occurrences."),
    click.option("--end-time", type=_Instant(), help="No occurrence after this instant."),
    click.option("--minutes", type=_Ints(), help="Schedule minutes, e.g. 0,15,30,45."),
    click.option("--hours", type=_Ints(), help="Schedule hours, e.g. 6,18."),
    click.option("--week-days", type=_WeekDays(), help="e.g. Monday,Friday (Week)."),
    click.option("--month-days", type=_Ints(), help="e.g. 1,15,-1; -1 = last day (Month)."),
    click.option(
        "--monthly-occurrences",
        type=_MonthlyOccurrences(),
        help="e.g. Friday:-1,Monday:1; a bare day = every such day (Month).",
    ),
    click.option("--time-zone", help="IANA zone the schedule is read in [UTC]."),
    click.option(
        "--cron", help="A cron expression instead of --frequency, e.g. '0 9 * * MON-FRI'."
    ),
    click.option("--rrule", help="An RFC 5545 rule instead of --frequency."),
    click.option("--dst-gap", type=Choice(["shift", "gapEnd", "skip"]), help="[shift]"),
    click.option("--dst-fold", type=Choice(["first", "second", "both"]), help="[first]"),
    click.option(
        "--jitter", help="Run each occurrence up to this much later (ISO 8601, e.g. PT5M)."
    ),
    click.option(
        "--calendar", help="A calendar of the collection whose holidays the job keeps off."
    ),
    click.option(
        "--on-holiday",
        type=Choice(["skip", "next", "previous"]),
        help="An occurrence on a holiday: skipped, or on the next or previous business day [skip].",
    ),
    click.option("--state", type=Choice(SETTABLE_STATES)),
    click.option(
        "--overlap-policy",
        type=Choice([policy.value for policy in OverlapPolicy]),
        help="A slot due while the last occurrence runs [Postpone].",
    ),
    click.option(
        "--catch-up",
        type=Choice([policy.value for policy in CatchUpPolicy]),
        help="Slots missed while the service was down [skip].",
    ),
    click.option("--catch-up-window", help="How far back they are caught up, e.g. PT1H."),
    click.option(
        "--type", type=Choice([t.value for t in ActionType]), help="Action type [from options]."
    ),
    click.option("--uri", help="Http/Https target URL, or the amqp:// URL of an Amqp action."),
    click.option("--method", type=Choice([m.value for m in HttpMethod]), help="[GET]"),
    click.option("--header", type=_Header(), multiple=True, help="NAME=VALUE, repeatable."),
    click.option("--body", "--message", "body", help="Request body or message text."),
    click.option("--basic-username", help="Basic authentication user name."),
    click.option("--basic-password", help="Basic authentication password."),
    click.option(
        "--signing-secret",
        help="Http/Https: sign each request (Standard Webhooks) with this whsec_ key.",
    ),
    click.option(
        "--previous-signing-secret",
        help="Http/Https: the key being rotated out; requests carry both signatures.",
    ),
    click.option(
        "--template/--no-template",
        default=None,
        help="Render the payload (uri, headers, body or message) as a template per run.",
    ),
    click.option("--storage-account", help="StorageQueue: the account name."),
    click.option("--queue-name", help="StorageQueue / ServiceBusQueue: the queue."),
    click.option("--sas-token", help="StorageQueue: the SAS token."),
    click.option("--namespace", help="ServiceBusQueue/Topic: the namespace."),
    click.option("--topic-path", help="ServiceBusTopic: the topic."),
    click.option("--transport-type", type=Choice([t.value for t in TransportType])),
    click.option("--sas-key-name", help="ServiceBus: the SAS policy name."),
    click.option("--sas-key", help="ServiceBus: the SAS key."),
    click.option("--exchange", help="Amqp: the exchange."),
    click.option("--routing-key", help="Amqp: the routing key."),
    click.option("--retry-type", type=Choice([t.value for t in RetryType])),
    click.option("--retry-interval", type=_Duration(), help="e.g. PT30S or 00:00:30."),
    click.option("--retry-count", type=click.IntRange(0, 20)),
    click.option(
        "--max-interval",
        type=_Duration(),
        help="Exponential: the longest wait between two retries [PT1H].",
    ),
    click.option(
        "--max-age", type=_Duration(), help="No retry later than this after the occurrence's time."
    ),
    click.option(
        "--attempt-timeout", type=_Duration(), help="Deadline of one attempt, PT1S..PT30M [PT60S]."
    ),
    click.option(
        "--expect-run-within",
        type=_Duration(),
        help="Alert the collection's notification endpoints (occurrence.missed) when no run "
        "succeeds within this, PT1M..P18M, e.g. PT26H.",
    ),
    click.option(
        "--error-action-json", type=_JsonValue(), help="The errorAction object (null removes it)."
    ),
]
_JSON_FILE = click.option(
    "--json",
    "json_file",
    type=click.File("r"),
    help='Send this {"properties": ...} body (a file, or - for stdin) instead of options.',
)


def job_options(*, update: bool) -> Callable[[FC], FC]:
    extra = [
        click.option("--no-recurrence", is_flag=True, help="Make the job run once."),
        click.option("--no-authentication", is_flag=True, help="Remove outbound authentication."),
        click.option("--no-signing", is_flag=True, help="Stop signing requests."),
    ]
    options = [*_OPTIONS, *(extra if update else []), _JSON_FILE]

    def apply(f: FC) -> FC:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


# -- building bodies -------------------------------------------------------------------------

_PAYLOAD_OPTIONS = {
    "request": (
        "uri", "method", "header", "body", "basic_username", "basic_password", "no_authentication",
        "signing_secret", "previous_signing_secret", "no_signing", "template",
    ),
    "queueMessage": ("storage_account", "queue_name", "sas_token", "body", "template"),
    "serviceBusQueueMessage": (
        "namespace", "queue_name", "transport_type", "sas_key_name", "sas_key", "body", "template",
    ),
    "serviceBusTopicMessage": (
        "namespace", "topic_path", "transport_type", "sas_key_name", "sas_key", "body", "template",
    ),
    "amqpMessage": ("uri", "exchange", "routing_key", "header", "body", "template"),
}  # fmt: skip
PAYLOAD_OPTIONS_ALL = tuple(dict.fromkeys(n for ns in _PAYLOAD_OPTIONS.values() for n in ns))
_RECURRENCE_OPTIONS = (
    "frequency", "interval", "count", "end_time", "minutes", "hours", "week_days",
    "month_days", "monthly_occurrences", "time_zone", "cron", "rrule", "dst_gap", "dst_fold",
    "jitter", "calendar", "on_holiday",
)  # fmt: skip


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def infer_type(o: JobOptions) -> ActionType:
    """The action type the payload options point at, when ``--type`` is not given."""
    if o.uri is not None:
        scheme = o.uri.split(":", 1)[0].strip().lower()
        by_scheme = {"https": ActionType.HTTPS, "amqp": ActionType.AMQP, "amqps": ActionType.AMQP}
        return by_scheme.get(scheme, ActionType.HTTP)
    if o.storage_account is not None:
        return ActionType.STORAGE_QUEUE
    if o.topic_path is not None:
        return ActionType.SERVICE_BUS_TOPIC
    if o.namespace is not None:
        return ActionType.SERVICE_BUS_QUEUE
    raise click.UsageError(
        "Give the action: --uri URL (Http/Https), --storage-account (StorageQueue), "
        "--namespace (ServiceBusQueue/Topic), or a full body with --json FILE."
    )


def _payload(o: JobOptions, kind: ActionType) -> dict[str, Any]:
    key = PAYLOAD_KEYS[kind]
    stray = [name for name in o.given(*PAYLOAD_OPTIONS_ALL) if name not in _PAYLOAD_OPTIONS[key]]
    if stray:
        raise click.UsageError(
            f"{_flag(stray[0])} does not apply to an action of type {kind.value}; "
            "--type changes the type."
        )
    if key == "request":
        request: dict[str, Any] = {
            "uri": o.uri,
            "method": o.method,
            "headers": dict(o.header) or None,
        }
        request["body"] = o.body
        if o.basic_username is not None or o.basic_password is not None:
            request["authentication"] = _drop_none(
                {"type": "Basic", "username": o.basic_username, "password": o.basic_password}
            )
        request["signing"] = _signing(o)
        request["template"] = o.template
        request = _drop_none(request)
        if o.no_authentication:
            request["authentication"] = None  # PATCH: null removes it (§7)
        if o.no_signing:
            if "signing" in request:
                raise click.UsageError(
                    "--no-signing cannot be combined with --signing-secret or "
                    "--previous-signing-secret."
                )
            request["signing"] = None
        return request
    if key == "queueMessage":
        return _drop_none(
            {
                "storageAccount": o.storage_account,
                "queueName": o.queue_name,
                "sasToken": o.sas_token,
                "message": o.body,
                "template": o.template,
            }
        )
    if key == "amqpMessage":
        return _drop_none(
            {
                "url": o.uri,
                "exchange": o.exchange,
                "routingKey": o.routing_key,
                "message": o.body,
                "headers": dict(o.header) or None,
                "template": o.template,
            }
        )
    entity = "topicPath" if key == "serviceBusTopicMessage" else "queueName"
    auth = None
    if o.sas_key_name is not None or o.sas_key is not None:
        auth = _drop_none(
            {"type": "SharedAccessKey", "sasKeyName": o.sas_key_name, "sasKey": o.sas_key}
        )
    return _drop_none(
        {
            "namespace": o.namespace,
            entity: o.topic_path if key == "serviceBusTopicMessage" else o.queue_name,
            "transportType": o.transport_type,
            "authentication": auth,
            "message": o.body,
            "template": o.template,
        }
    )


def _signing(o: JobOptions) -> dict[str, str] | None:
    """The write-only ``signing`` keys; on a PATCH the previous key alone merges into the
    stored ones, so a rotation can be finished without repeating the current key."""
    if o.signing_secret is None and o.previous_signing_secret is None:
        return None
    return _drop_none({"secret": o.signing_secret, "previousSecret": o.previous_signing_secret})


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def action_type(text: object) -> ActionType | None:
    """The action type spelled ``text`` in any case, or None."""
    wanted = str(text).lower()
    return next((kind for kind in ActionType if kind.value.lower() == wanted), None)


def _replacing(action: dict[str, Any], kind: ActionType) -> dict[str, Any]:
    """For a PATCH: null out the payloads of other types, so switching type replaces them."""
    keep = PAYLOAD_KEYS[kind]
    others = sorted(set(PAYLOAD_KEYS.values()) - {keep})
    return action | {key: None for key in others if key not in action}


def build_action(o: JobOptions, *, kind: ActionType | None, update: bool) -> dict[str, Any]:
    """The ``action`` object, or for a PATCH just its given parts; ``kind`` is the type the
    payload options belong to (None when none is given)."""
    action: dict[str, Any] = {}
    if kind is not None:
        key = PAYLOAD_KEYS[kind]
        payload = _payload(o, kind)
        action["type"] = kind.value
        if payload or not update:
            action[key] = payload
        if update and o.type is not None:
            action = _replacing(action, kind)
    retry = _retry_policy(o, update=update)
    if retry:
        action["retryPolicy"] = retry
    if o.error_action_json is not None:
        error_action = o.error_action_json.value
        if error_action is None:
            if update:
                action["errorAction"] = None
        else:
            error_kind = action_type(error_action.get("type"))
            if update and error_kind is not None:
                error_action = _replacing(error_action, error_kind)
            action["errorAction"] = error_action
    return action


def _retry_policy(o: JobOptions, *, update: bool) -> dict[str, Any]:
    exponential = o.retry_type is not None and o.retry_type.lower() == "exponential"
    if o.max_interval is not None and not exponential and not (update and o.retry_type is None):
        raise click.UsageError("--max-interval needs --retry-type Exponential.")
    retry = _drop_none(
        {
            "retryType": o.retry_type,
            "retryInterval": o.retry_interval,
            "retryCount": o.retry_count,
            "maxInterval": o.max_interval,
            "maxAge": o.max_age,
        }
    )
    if update and o.retry_type is not None and not exponential:
        retry["maxInterval"] = None  # PATCH: a stored Exponential's cap would be a 400
    return retry


def build_recurrence(o: JobOptions, *, update: bool) -> dict[str, Any] | None:
    schedule = _drop_none(
        {
            "minutes": o.minutes,
            "hours": o.hours,
            "weekDays": o.week_days,
            "monthDays": o.month_days,
            "monthlyOccurrences": o.monthly_occurrences,
        }
    )
    recurrence = _drop_none(
        {
            "frequency": o.frequency,
            "interval": o.interval,
            "count": o.count,
            "endTime": o.end_time,
            "timeZone": o.time_zone,
            "schedule": schedule or None,
            "cron": o.cron,
            "rrule": o.rrule,
            "dstPolicy": _drop_none({"gap": o.dst_gap, "fold": o.dst_fold}) or None,
            "jitter": o.jitter,
            "calendar": _calendar(o),
        }
    )
    if recurrence and not {"frequency", "cron", "rrule"} & set(recurrence) and not update:
        first = o.given(*_RECURRENCE_OPTIONS)[0]
        raise click.UsageError(f"{_flag(first)} needs --frequency, --cron or --rrule.")
    return recurrence or None


def _calendar(o: JobOptions) -> dict[str, str] | None:
    if o.calendar is None:
        if o.on_holiday is not None:
            raise click.UsageError("--on-holiday needs --calendar.")
        return None
    return _drop_none({"name": o.calendar, "onHoliday": o.on_holiday})


def _check_content_type(o: JobOptions, kind: ActionType) -> None:
    """The cmdlets' client-side rule: a POST/PUT body needs a Content-Type header (§9.1)."""
    if kind not in (ActionType.HTTP, ActionType.HTTPS) or o.body is None:
        return
    if o.method in ("POST", "PUT") and not any(k.lower() == "content-type" for k, _ in o.header):
        raise click.UsageError(
            f"A --body with --method {o.method} needs a Content-Type header, e.g. "
            "--header Content-Type=application/json."
        )


def create_body(o: JobOptions) -> dict[str, Any]:
    """The full PUT body ``{"properties": ...}`` (§3.1)."""
    kind = action_type(o.type) or infer_type(o)
    _check_content_type(o, kind)
    properties: dict[str, Any] = {}
    if o.start is not None:
        properties["startTime"] = o.start
    properties["action"] = build_action(o, kind=kind, update=False)
    if o.previous_signing_secret is not None and o.signing_secret is None:
        raise click.UsageError("--previous-signing-secret needs --signing-secret.")
    recurrence = build_recurrence(o, update=False)
    if recurrence is not None:
        properties["recurrence"] = recurrence
    if o.state is not None:
        properties["state"] = o.state
    if o.overlap_policy is not None:
        properties["overlapPolicy"] = o.overlap_policy
    catch_up = _drop_none({"policy": o.catch_up, "window": o.catch_up_window})
    if catch_up:
        properties["catchUp"] = catch_up
    if o.attempt_timeout is not None:
        properties["attemptTimeout"] = o.attempt_timeout
    if o.expect_run_within is not None:
        properties["expectRunWithin"] = o.expect_run_within
    return {"properties": properties}


def patch_body(o: JobOptions, kind: ActionType | None) -> dict[str, Any]:
    """The PATCH body with only the given fields (§2.4)."""
    properties: dict[str, Any] = {}
    if o.start is not None:
        properties["startTime"] = o.start
    action = build_action(o, kind=kind, update=True)
    if action:
        properties["action"] = action
    recurrence = build_recurrence(o, update=True)
    if o.no_recurrence:
        if recurrence is not None:
            raise click.UsageError("--no-recurrence cannot be combined with recurrence options.")
        properties["recurrence"] = None
    elif recurrence is not None:
        properties["recurrence"] = recurrence
    if o.state is not None:
        properties["state"] = o.state
    if o.overlap_policy is not None:
        properties["overlapPolicy"] = o.overlap_policy
    catch_up = _drop_none({"policy": o.catch_up, "window": o.catch_up_window})
    if catch_up:
        properties["catchUp"] = catch_up
    if o.attempt_timeout is not None:
        properties["attemptTimeout"] = o.attempt_timeout
    if o.expect_run_within is not None:
        properties["expectRunWithin"] = o.expect_run_within
    if not properties:
        raise click.UsageError("Nothing to update: give at least one option.")
    return {"properties": properties}


def parse_options(raw: dict[str, Any]) -> tuple[JobOptions, IO[str] | None]:
    json_file = raw.pop("json_file", None)
    options = JobOptions(**raw)
    if json_file is not None and options.given():
        flags = ", ".join(_flag(name) for name in options.given())
        raise click.UsageError(f"--json cannot be combined with {flags}.")
    return options, json_file


def read_json(stream: IO[str]) -> Any:
    try:
        return json.loads(stream.read())
    except json.JSONDecodeError as exc:
        raise click.BadParameter(
            f"{stream.name} is not valid JSON: {exc.msg} (line {exc.lineno}).", param_hint="--json"
        ) from None


# -- commands --------------------------------------------------------------------------------
