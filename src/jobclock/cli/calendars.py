"""``jobclock calendars``: a collection's holiday calendars (issue 14, item 4) over the REST
API: ``put`` (create or replace, from options or ``--json``), ``get``, ``list``, ``delete``.
"""

from __future__ import annotations

from typing import IO, Any

import click

from jobclock.cli.client import Choice, Session, api_command, connection_options
from jobclock.cli.job_body import read_json
from jobclock.codec.calendar import calendar_from_json
from jobclock.domain.recurrence import WEEK_ORDER

_DAYS = [day.value for day in WEEK_ORDER]


@click.group("calendars")
@connection_options(group=True)
def calendars_group() -> None:
    """Holiday calendars of a job collection, which jobs follow with --calendar."""


def _path(session: Session, collection: str, name: str | None = None) -> str:
    base = f"{session.api.collection_path(collection)}/calendars"
    return base if name is None else f"{base}/{name}"


@calendars_group.command("put")
@click.argument("collection")
@click.argument("name")
@click.option("--date", "dates", multiple=True, help="A holiday, YYYY-MM-DD; repeatable.")
@click.option(
    "--weekday", "weekdays", multiple=True, type=Choice(_DAYS), help="A day off; repeatable."
)
@click.option("--time-zone", help="IANA zone the dates are read in [each job's own].")
@click.option(
    "--json",
    "json_file",
    type=click.File("r"),
    help="The whole body from a file ('-': standard input) instead of the options.",
)
@api_command
def put(
    session: Session,
    /,
    collection: str,
    name: str,
    dates: tuple[str, ...],
    weekdays: tuple[str, ...],
    time_zone: str | None,
    json_file: IO[str] | None,
) -> None:
    """Create or replace calendar NAME of COLLECTION. The jobs that follow it move their
    next runs to it at once.

    \b
    Example:
      jobclock calendars put jc holidays --date 2026-12-25 --date 2026-12-26 \\
          --weekday Saturday --weekday Sunday --time-zone Europe/Amsterdam
    """
    if json_file is not None:
        if dates or weekdays or time_zone:
            raise click.UsageError(
                "--json cannot be combined with --date, --weekday or --time-zone."
            )
        body: Any = read_json(json_file)
    else:
        properties: dict[str, Any] = {"dates": list(dates), "weekDays": list(weekdays)}
        if time_zone is not None:
            properties["timeZone"] = time_zone
        body = {"properties": properties}
    calendar_from_json(body)  # the server's checks, answered before any request
    session.out.calendar(session.api.put(_path(session, collection, name), body))


@calendars_group.command("get")
@click.argument("collection")
@click.argument("name")
@api_command
def get(session: Session, /, collection: str, name: str) -> None:
    """Show calendar NAME of COLLECTION and the jobs that follow it."""
    session.out.calendar(session.api.get(_path(session, collection, name)))


@calendars_group.command("list")
@click.argument("collection")
@api_command
def list_(session: Session, /, collection: str) -> None:
    """List the calendars of COLLECTION."""
    session.out.calendars(session.api.get(_path(session, collection)))


@calendars_group.command("delete")
@click.argument("collection")
@click.argument("name")
@api_command
def delete(session: Session, /, collection: str, name: str) -> None:
    """Delete calendar NAME of COLLECTION (refused while jobs follow it)."""
    session.api.delete(_path(session, collection, name))
    session.out.done(f"Deleted calendar '{name}' of job collection '{collection}'.")
