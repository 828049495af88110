"""What every action module does the same way: the scheduler's metadata and the attempt log."""

from __future__ import annotations

import logging

from jobclock.domain.execution import AttemptContext, AttemptResult
from jobclock.domain.instants import format_instant


def scheduler_metadata(context: AttemptContext) -> dict[str, str]:
    """The attempt's six facts, under the HTTP action's ``x-ms-*`` header names (§5.2); the
    queue and broker actions send them as message properties or headers."""
    return {
        "x-ms-execution-tag": context.execution_tag,
        "x-ms-client-request-id": context.request_id,
        "x-ms-scheduler-expected-execution-time": format_instant(context.expected_time),
        "x-ms-scheduler-jobid": context.job,
        "x-ms-scheduler-jobcollectionid": context.collection,
        "x-ms-scheduler-execution-region": context.region,
    }


def finish(
    logger: logging.Logger,
    event: str,
    context: AttemptContext,
    succeeded: bool,
    message: str,
    error: BaseException | str | None,
    **fields: object,
) -> AttemptResult:
    """Log the attempt under ``event`` (names and outcome only, never a message or a secret)
    and return its result. Failures log at INFO, successes at DEBUG."""
    kind = type(error).__name__ if isinstance(error, BaseException) else error
    logger.log(
        logging.DEBUG if succeeded else logging.INFO,
        event,
        extra={
            "event": event,
            "collection": context.collection,
            "job": context.job,
            "execution_tag": context.execution_tag,
            "action_name": context.action_name.value,
            **fields,
            "succeeded": succeeded,
            "error_kind": kind,
        },
    )
    return AttemptResult(succeeded=succeeded, message=message)
