"""``jobclock preview``: the next occurrences of a recurrence, one per line, in UTC."""

from __future__ import annotations

import json

import click

from jobclock.clock import SystemClock
from jobclock.codec.recurrence import recurrence_from_json
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.instants import format_instant_seconds, parse_instant
from jobclock.domain.occurrences import preview
from jobclock.domain.recurrence import Fold, Gap, jitter_seed


@click.command("preview")
@click.option(
    "--recurrence",
    "recurrence_text",
    metavar="JSON",
    help='A recurrence object, e.g. \'{"frequency":"Day","schedule":{"hours":[6]}}\'. '
    "Omit it for a one-time job.",
)
@click.option(
    "--cron",
    "cron",
    metavar="EXPR",
    help="A cron expression (5 fields, or 6 with seconds first), e.g. '0 9 * * MON-FRI'.",
)
@click.option(
    "--rrule", "rrule", metavar="RULE", help="An RFC 5545 rule, e.g. 'FREQ=MONTHLY;BYDAY=-1FR'."
)
@click.option(
    "--time-zone",
    "time_zone",
    metavar="ZONE",
    help="The IANA time zone the recurrence is read in (default: UTC, or the JSON's).",
)
@click.option(
    "--dst-gap",
    type=click.Choice([gap.value for gap in Gap]),
    help="A wall time in a spring-forward gap: shift (default), gapEnd or skip.",
)
@click.option(
    "--dst-fold",
    type=click.Choice([fold.value for fold in Fold]),
    help="A wall time an autumn fold repeats: first (default), second or both.",
)
@click.option(
    "--jitter",
    metavar="DURATION",
    help="Run each occurrence up to this much later (ISO 8601), as job --job would.",
)
@click.option(
    "--job",
    "job",
    metavar="COLLECTION/JOB",
    help="The job whose jitter to show (the jitter depends on the job).",
)
@click.option("--start", metavar="ISO", help="The job's startTime (default: --now).")
@click.option("--now", "now_text", metavar="ISO", help="The current time (default: now).")
@click.option(
    "--count",
    default=10,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many occurrences to print.",
)
def preview_command(
    recurrence_text: str | None,
    cron: str | None,
    rrule: str | None,
    time_zone: str | None,
    dst_gap: str | None,
    dst_fold: str | None,
    jitter: str | None,
    job: str | None,
    start: str | None,
    now_text: str | None,
    count: int,
) -> None:
    """Print the next COUNT occurrences as YYYY-MM-DDTHH:MM:SSZ, fewer when the series ends."""
    raw = _recurrence_json(recurrence_text, cron, rrule, time_zone, dst_gap, dst_fold, jitter)
    recurrence = None if raw is None else recurrence_from_json(raw)
    if recurrence is not None and job is not None:
        collection, _, name = job.partition("/")
        if not name:
            raise InvalidDefinition("--job is COLLECTION/JOB, e.g. jc/nightly.")
        recurrence = recurrence.seeded(jitter_seed(collection, name))
    now = SystemClock().now() if now_text is None else parse_instant(now_text, field="--now")
    anchor = now if start is None else parse_instant(start, field="--start")
    for instant in preview(recurrence, anchor, now, count):
        click.echo(format_instant_seconds(instant))


def _recurrence_json(
    recurrence_text: str | None,
    cron: str | None,
    rrule: str | None,
    time_zone: str | None,
    dst_gap: str | None,
    dst_fold: str | None,
    jitter: str | None,
) -> object:
    """The recurrence JSON the options give (None: a one-time job)."""
    raw: object = None
    if sum(given is not None for given in (cron, rrule, recurrence_text)) > 1:
        raise InvalidDefinition("--cron, --rrule and --recurrence exclude each other; give one.")
    if recurrence_text is not None:
        try:
            raw = json.loads(recurrence_text)
        except json.JSONDecodeError as exc:
            raise InvalidDefinition(f"--recurrence is not valid JSON: {exc.msg}.") from exc
    elif cron is not None:
        raw = {"cron": cron}
    elif rrule is not None:
        raw = {"rrule": rrule}
    extra: dict[str, object] = {}
    if time_zone is not None:
        extra["timeZone"] = time_zone
    if dst_gap is not None or dst_fold is not None:
        given = {"gap": dst_gap, "fold": dst_fold}
        extra["dstPolicy"] = {key: value for key, value in given.items() if value}
    if jitter is not None:
        extra["jitter"] = jitter
    if extra and not isinstance(raw, dict):
        shown = {"timeZone": "--time-zone", "dstPolicy": "--dst-gap and --dst-fold"}
        flag = shown.get(next(iter(extra)), "--jitter")
        raise InvalidDefinition(f"{flag} needs --cron, --rrule or --recurrence.")
    return {**raw, **extra} if isinstance(raw, dict) else raw
