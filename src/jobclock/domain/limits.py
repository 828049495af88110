"""The rules and limits of §3 and §6.1 that need more than one field, or a plan, to check.

Each check raises a leaf of the error tree with Azure's code and a message that names the
field or the limit. Shape rules of a single value are checked where it is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from jobclock.domain.actions import (
    AmqpMessage,
    ErrorAction,
    HttpRequest,
    JobAction,
    Payload,
    ServiceBusMessage,
    StorageQueueMessage,
    uri_without_password,
    uses_authentication,
)
from jobclock.domain.collection import (
    MAX_COLLECTIONS_PER_SUBSCRIPTION,
    PLANS,
    JobCollection,
    MaxRecurrence,
    Quota,
    Sku,
)
from jobclock.domain.durations import Duration, timespan
from jobclock.domain.errors import InvalidDefinition, QuotaExceeded
from jobclock.domain.instants import check_instant_range
from jobclock.domain.job import JobDefinition
from jobclock.domain.occurrences import occurrences
from jobclock.domain.recurrence import Frequency, Recurrence
from jobclock.domain.retry_policy import RetryPolicy, RetryType
from jobclock.domain.templated import check_templates

MAX_JOB_JSON_BYTES = 16_384
MAX_URI_LENGTH = 2048
MAX_HEADERS = 50
MAX_HEADERS_LENGTH = 4096
MAX_BODY_LENGTH = 8192
MAX_RETRY_COUNT = 20
# 18 months, the longest "time to start", recurrence span and retry interval (§6.1).
EIGHTEEN_MONTHS = timedelta(days=548)
MIN_ATTEMPT_TIMEOUT = timedelta(seconds=1)
MAX_ATTEMPT_TIMEOUT = timedelta(minutes=30)
MIN_EXPECT_WINDOW = timedelta(minutes=1)
_SAMPLE_START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday in a leap year
_SAMPLE_SIZE = 5000
# The Gregorian calendar repeats every 400 years: no gap appears later that did not before.
_SAMPLE_END = _SAMPLE_START.replace(year=_SAMPLE_START.year + 400)


def check_job_size(size_in_bytes: int) -> None:
    """A serialized job may not exceed 16 K (§6.1)."""
    if size_in_bytes > MAX_JOB_JSON_BYTES:
        raise InvalidDefinition(
            f"The job definition is {size_in_bytes} bytes; the limit is {MAX_JOB_JSON_BYTES} "
            "bytes (16 K).",
            field="properties",
        )


def check_job(definition: JobDefinition, collection: JobCollection, now: datetime) -> None:
    """Every rule a job must obey in ``collection`` at ``now`` (§3, §6.1)."""
    start = definition.start_time
    if start is not None:
        check_instant_range(start, field="properties.startTime")
    if start is not None and start - now > EIGHTEEN_MONTHS:
        raise InvalidDefinition(
            "'startTime' may be at most 18 months in the future.", field="properties.startTime"
        )
    recurrence = definition.recurrence
    if recurrence is not None:
        end = recurrence.end_time
        if end is not None:
            check_instant_range(end, field="properties.recurrence.endTime")
        if start is not None and end is not None and end < start:
            raise InvalidDefinition(
                "'recurrence.endTime' is earlier than 'startTime'.",
                field="properties.recurrence.endTime",
            )
        check_recurrence_allowed(recurrence, collection)
    check_action(definition.action, collection, "properties.action")
    window = definition.expect_run_within
    if window is not None and not MIN_EXPECT_WINDOW <= window.value <= EIGHTEEN_MONTHS:
        raise InvalidDefinition(
            f"'properties.expectRunWithin' is {window.text}; it must be between 1 minute and "
            "18 months.",
            field="properties.expectRunWithin",
        )
    timeout = definition.attempt_timeout
    if timeout is not None and not MIN_ATTEMPT_TIMEOUT <= timeout.value <= MAX_ATTEMPT_TIMEOUT:
        raise InvalidDefinition(
            f"'properties.attemptTimeout' is {timeout.text}; it must be between 1 second and "
            "30 minutes.",
            field="properties.attemptTimeout",
        )


def check_recurrence_allowed(recurrence: Recurrence, collection: JobCollection) -> None:
    """409 when the recurrence fires more often than the collection's plan or quota allows."""
    floor = collection.max_recurrence
    seconds = (recurrence.cron is not None and recurrence.cron.has_seconds) or (
        recurrence.rrule is not None and recurrence.rrule.finest_seconds
    )
    if seconds and not second_frequency_allowed(collection):
        raise QuotaExceeded(
            f"A cron expression or rule that fires within a minute needs a plan that allows the "
            f"'Second' frequency ('Unlimited'); job collection '{collection.name}' is on "
            f"plan '{collection.sku.value}'.",
        )
    spacing = min_spacing(recurrence)
    if spacing < floor.period:
        raise QuotaExceeded(
            f"The recurrence fires as often as every {_describe(spacing)}, more often than job "
            f"collection '{collection.name}' allows ({floor.describe()}, plan "
            f"'{collection.sku.value}').",
        )


def _describe(spacing: timedelta) -> str:
    seconds = int(spacing.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def min_spacing(recurrence: Recurrence) -> timedelta:
    """The shortest time between two occurrences of the recurrence.

    Without a schedule it is ``interval × frequency`` (a month counts 30 days). With one, it
    is measured on the recurrence's own occurrences from a sample start, which covers every
    gap a schedule can make: inside a day, across midnight and across month ends.
    """
    if recurrence.cron is not None or recurrence.rrule is not None:
        # Measured as a schedule's, in UTC, from the sample start: a cron expression's or a
        # rule's gaps repeat within the span the sample covers.
        if recurrence.cron is not None:
            sample = Recurrence.from_cron(recurrence.cron)
        else:
            assert recurrence.rrule is not None  # noqa: S101 - the branch's condition
            sample = Recurrence.from_rrule(replace(recurrence.rrule, count=None, until=None))
        shortest = timedelta(days=366 * 400)
    elif recurrence.effective_schedule is None:
        return recurrence.nominal_period
    else:
        sample = Recurrence(
            frequency=recurrence.frequency,
            interval=recurrence.interval,
            schedule=recurrence.schedule,
        )
        shortest = recurrence.nominal_period
    previous: datetime | None = None
    for index, value in enumerate(occurrences(sample, _SAMPLE_START, _SAMPLE_START)):
        if previous is not None:
            shortest = min(shortest, value - previous)
        previous = value
        if index >= _SAMPLE_SIZE or value > _SAMPLE_END:
            break
    return shortest


def check_action(action: JobAction, collection: JobCollection, path: str) -> None:
    """Limits of the main action, its retry policy and its error action (§3.2–§3.5, §7)."""
    if uses_authentication(action) and not collection.plan.authentication:
        raise QuotaExceeded(
            f"Outbound authentication is not available on the '{collection.sku.value}' plan of "
            f"job collection '{collection.name}'.",
        )
    _check_payload(action, f"{path}")
    _check_retry_policy(action.retry_policy, collection, f"{path}.retryPolicy")
    if action.error_action is not None:
        _check_payload(action.error_action, f"{path}.errorAction")
        _check_retry_policy(
            action.error_action.retry_policy, collection, f"{path}.errorAction.retryPolicy"
        )


def _check_payload(action: JobAction | ErrorAction, path: str) -> None:
    # A templated payload is checked as rendered from sample values (its templates parse).
    payload = check_templates(action.payload, f"{path}.{_payload_key(action)}")
    if isinstance(payload, HttpRequest):
        check_http_request(payload, f"{path}.request")
    elif isinstance(payload, StorageQueueMessage):
        _check_body(payload.message, f"{path}.queueMessage.message")
    elif isinstance(payload, ServiceBusMessage):
        message_path = f"{path}.serviceBus{_sb_kind(action)}Message"
        _check_body(payload.message, f"{message_path}.message")
        brokered = payload.brokered_properties
        if brokered is not None and brokered.scheduled_enqueue_time_utc is not None:
            check_instant_range(
                brokered.scheduled_enqueue_time_utc,
                field=f"{message_path}.brokeredMessageProperties.scheduledEnqueueTimeUtc",
            )
    elif isinstance(payload, AmqpMessage):
        _check_body(payload.message, f"{path}.amqpMessage.message")
        _check_headers(payload.headers, f"{path}.amqpMessage.headers")


def _payload_key(action: JobAction | ErrorAction) -> str:
    payload = action.payload
    if isinstance(payload, HttpRequest):
        return "request"
    if isinstance(payload, StorageQueueMessage):
        return "queueMessage"
    if isinstance(payload, AmqpMessage):
        return "amqpMessage"
    return f"serviceBus{_sb_kind(action)}Message"


def check_rendered(payload: Payload, path: str) -> None:
    """The limits a payload rendered for one attempt must still obey (its URI, headers and
    body; a message's length). Raises InvalidDefinition naming the field."""
    if isinstance(payload, HttpRequest):
        check_http_request(payload, path)
    elif isinstance(payload, AmqpMessage):
        _check_body(payload.message, f"{path}.message")
        _check_headers(payload.headers, f"{path}.headers")
    else:
        _check_body(payload.message, f"{path}.message")


def _sb_kind(action: JobAction | ErrorAction) -> str:
    return "Topic" if action.type.value.endswith("Topic") else "Queue"


def check_http_request(request: HttpRequest, path: str) -> None:
    """URI, headers and body limits of an HTTP request (§3.3, §6.1)."""
    if len(request.uri) > MAX_URI_LENGTH:
        raise InvalidDefinition(
            f"'{path}.uri' is {len(request.uri)} characters long; the limit is {MAX_URI_LENGTH}.",
            field=f"{path}.uri",
        )
    try:
        parts = urlsplit(request.uri)
        usable = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0..65535
    except ValueError:  # an unbalanced '[' or ']', a port that is not a number
        usable = False
    if not usable:
        shown = uri_without_password(request.uri)  # its password is a secret
        raise InvalidDefinition(
            f"'{path}.uri' must be an absolute http or https URL, got {shown!r}.",
            field=f"{path}.uri",
        )
    _check_headers(request.headers, f"{path}.headers")
    _check_http_headers(request.headers, f"{path}.headers")
    _check_body(request.body, f"{path}.body")


def _check_http_headers(headers: Iterable[tuple[str, str]], path: str) -> None:
    """Names are HTTP tokens and values hold no control character but tab (RFC 9110 §5):
    a CR or LF would inject headers of its own, and no client sends such a header. The
    framing and hop-by-hop headers are the sender's to write: a job's own
    ``Transfer-Encoding`` beside the sender's ``Content-Length`` is a smuggling shape."""
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise InvalidDefinition(
                f"'{path}' has a header name that is not an HTTP token: {name!r}.", field=path
            )
        if name.lower() in _FRAMING_HEADERS:
            raise InvalidDefinition(
                f"'{path}' may not set the '{name}' header: jobclock frames the request "
                "itself (Content-Length, Host and the hop-by-hop headers are its own).",
                field=f"{path}.{name}",
            )
        if _CONTROL.search(value):
            raise InvalidDefinition(
                f"'{path}.{name}' holds a control character: {value!r}.", field=f"{path}.{name}"
            )


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# RFC 9110 §7.6.1 (hop-by-hop), §6.4.1 and §8.6 (framing), §7.2 (Host); plus the
# Proxy-Connection and Keep-Alive of HTTP/1.0.
_FRAMING_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "host",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def _check_headers(headers: Iterable[tuple[str, str]], path: str) -> None:
    pairs = list(headers)
    if len(pairs) > MAX_HEADERS:
        raise InvalidDefinition(
            f"'{path}' has {len(pairs)} headers; the limit is {MAX_HEADERS}.", field=path
        )
    size = sum(len(name) + len(value) for name, value in pairs)
    if size > MAX_HEADERS_LENGTH:
        raise InvalidDefinition(
            f"'{path}' add up to {size} characters; the limit is {MAX_HEADERS_LENGTH}.",
            field=path,
        )


def _check_body(body: str | None, path: str) -> None:
    if body is not None and len(body) > MAX_BODY_LENGTH:
        raise InvalidDefinition(
            f"'{path}' is {len(body)} characters long; the limit is {MAX_BODY_LENGTH}.",
            field=path,
        )


def _check_retry_policy(policy: RetryPolicy | None, collection: JobCollection, path: str) -> None:
    if policy is None:
        return
    if policy.retry_count is not None and not 0 <= policy.retry_count <= MAX_RETRY_COUNT:
        raise InvalidDefinition(
            f"'{path}.retryCount' must be between 0 and {MAX_RETRY_COUNT}, got "
            f"{policy.retry_count}.",
            field=f"{path}.retryCount",
        )
    if policy.retry_interval is not None:
        _check_wait(policy.retry_interval, collection, f"{path}.retryInterval")
    if policy.max_interval is not None:
        if policy.retry_type is not RetryType.EXPONENTIAL:
            raise InvalidDefinition(
                f"'{path}.maxInterval' applies to retryType 'Exponential' only, not "
                f"'{policy.retry_type.value}'.",
                field=f"{path}.maxInterval",
            )
        _check_wait(policy.max_interval, collection, f"{path}.maxInterval")
        if policy.max_interval.value < policy.interval:
            raise InvalidDefinition(
                f"'{path}.maxInterval' is {policy.max_interval.text}, shorter than the "
                f"retryInterval ({timespan(policy.interval)}).",
                field=f"{path}.maxInterval",
            )
    if policy.max_age is not None and not (
        timedelta(seconds=1) <= policy.max_age.value <= EIGHTEEN_MONTHS
    ):
        raise InvalidDefinition(
            f"'{path}.maxAge' is {policy.max_age.text}; it must be between 1 second and 18 months.",
            field=f"{path}.maxAge",
        )


def _check_wait(wait: Duration, collection: JobCollection, field: str) -> None:
    floor = collection.plan.min_retry_interval
    if wait.value < floor:
        raise InvalidDefinition(
            f"'{field}' is {wait.text}; the minimum on the '{collection.sku.value}' plan is "
            f"{timespan(floor)}.",
            field=field,
        )
    if wait.value > EIGHTEEN_MONTHS:
        raise InvalidDefinition(f"'{field}' is {wait.text}; the maximum is 18 months.", field=field)


def check_quota(sku: Sku, quota: Quota | None) -> None:
    """A quota may be stricter than its plan, never looser (400, §1.2, §2.7)."""
    if quota is None:
        return
    plan = PLANS[sku]
    if quota.max_job_count is not None:
        if quota.max_job_count < 1:
            raise InvalidDefinition(
                f"The maximum job count quota must be at least 1, got {quota.max_job_count}.",
                field="properties.quota.maxJobCount",
            )
        if plan.max_jobs is not None and quota.max_job_count > plan.max_jobs:
            raise InvalidDefinition(
                f"The maximum job count quota has a value that is too large: "
                f"{quota.max_job_count}. The '{sku.value}' plan allows at most {plan.max_jobs}.",
                field="properties.quota.maxJobCount",
            )
    if quota.max_recurrence is not None:
        _check_max_recurrence(sku, quota.max_recurrence)


def _check_max_recurrence(sku: Sku, wanted: MaxRecurrence) -> None:
    if not 1 <= wanted.interval <= wanted.frequency.max_interval:
        raise InvalidDefinition(
            f"'quota.maxRecurrence.interval' must be between 1 and "
            f"{wanted.frequency.max_interval} for frequency '{wanted.frequency.value}'.",
            field="properties.quota.maxRecurrence.interval",
        )
    floor = PLANS[sku].max_recurrence
    if wanted.period < floor.period:
        raise InvalidDefinition(
            f"The provided MaxRecurrence for job collection Quota '{timespan(wanted.period)}' "
            f"exceeds the permissible limit for {sku.value} collections "
            f"'{timespan(floor.period)}'.",
            field="properties.quota.maxRecurrence",
        )


def check_job_capacity(collection: JobCollection, jobs_now: int) -> None:
    """409 when one more job would exceed the collection's job cap."""
    cap = collection.max_jobs
    if cap is not None and jobs_now >= cap:
        raise QuotaExceeded(
            f"Job collection '{collection.name}' already holds {jobs_now} jobs; its "
            f"'{collection.sku.value}' plan and quota allow {cap}.",
        )


def check_collection_capacity(sku: Sku, same_plan: int, total: int) -> None:
    """409 when one more collection would exceed the subscription's limits (§6.1)."""
    cap = PLANS[sku].max_collections
    if cap is not None and same_plan >= cap:
        raise QuotaExceeded(
            f"The subscription already has {same_plan} '{sku.value}' job collections; the "
            f"plan allows {cap}.",
        )
    if total >= MAX_COLLECTIONS_PER_SUBSCRIPTION:
        raise QuotaExceeded(
            f"The subscription already has {total} job collections; the limit is "
            f"{MAX_COLLECTIONS_PER_SUBSCRIPTION}.",
        )


def check_plan_change(
    collection: JobCollection, jobs: Iterable[JobDefinition], other_free: int
) -> None:
    """Whether ``collection`` (with its new plan and quota) can hold its existing jobs.

    Downgrading to Free fails when the subscription has another Free collection, a job
    recurs more often than hourly, there are more than 5 jobs, or a job uses outbound
    authentication (§1.2).
    """
    definitions = list(jobs)
    if collection.sku is Sku.FREE and other_free > 0:
        raise QuotaExceeded("The subscription already has a 'Free' job collection.")
    cap = collection.max_jobs
    if cap is not None and len(definitions) > cap:
        raise QuotaExceeded(
            f"Job collection '{collection.name}' holds {len(definitions)} jobs; the "
            f"'{collection.sku.value}' plan and quota allow {cap}.",
        )
    for definition in definitions:
        if definition.recurrence is not None:
            check_recurrence_allowed(definition.recurrence, collection)
        if uses_authentication(definition.action) and not collection.plan.authentication:
            raise QuotaExceeded(
                f"A job of collection '{collection.name}' uses outbound authentication, which "
                f"the '{collection.sku.value}' plan does not allow.",
            )


def second_frequency_allowed(collection: JobCollection) -> bool:
    """Whether the collection's plan or quota permits ``"frequency": "Second"``."""
    return collection.max_recurrence.frequency is Frequency.SECOND
