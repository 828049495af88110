"""``jobclock jobs``: the job cmdlets of §9.1 (New-/Set-/Get-/Remove-AzScheduler*Job).

``create`` builds the job JSON of §3 from options (or takes ``--json FILE``), checks it with
the same codec the server uses, and PUTs it; it refuses to replace an existing job unless
``--replace`` is given, because a PUT is a full replacement. ``update`` PATCHes only the
fields whose options are given (§2.4); ``enable``/``disable`` PATCH the state.
"""

from __future__ import annotations

from typing import Any

import click

from jobclock.cli.client import Choice, Session, api_command, connection_options
from jobclock.cli.job_body import (
    JOB_STATES,
    PAYLOAD_OPTIONS_ALL,
    action_type,
    create_body,
    job_options,
    parse_options,
    patch_body,
    read_json,
)
from jobclock.codec.job import job_definition_from_json
from jobclock.domain.errors import Conflict
from jobclock.domain.job import JobState


@click.group("jobs")
@connection_options(group=True)
def jobs_group() -> None:
    """Create, change, run and remove jobs (the *-AzScheduler*Job cmdlets)."""


@jobs_group.command("create")
@click.argument("collection")
@click.argument("job")
@job_options(update=False)
@click.option("--replace", is_flag=True, help="Replace the job if it exists (full PUT).")
@api_command
def create(session: Session, /, collection: str, job: str, replace: bool, **raw: Any) -> None:
    """Create JOB in COLLECTION from options or --json (New-AzScheduler*Job).

    \b
    Examples:
      jobclock jobs create jc ping --uri https://example.com/ --frequency Minute --interval 5
      jobclock jobs create jc report --uri https://example.com/r --method POST \\
          --header Content-Type=application/json --body '{}' \\
          --frequency Month --monthly-occurrences Friday:-1 --hours 17 --minutes 30
    """
    options, json_file = parse_options(raw)
    body = create_body(options) if json_file is None else read_json(json_file)
    # The server applies the same checks (and the plan's); these answer before any request.
    job_definition_from_json(body)
    path = session.api.job_path(collection, job)
    if not replace and session.api.exists(path):
        raise Conflict(
            f"Job '{job}' already exists in job collection '{collection}'; change it with "
            "'jobclock jobs update' or pass --replace."
        )
    session.out.job(session.api.put(path, body))


@jobs_group.command("update")
@click.argument("collection")
@click.argument("job")
@job_options(update=True)
@api_command
def update(session: Session, /, collection: str, job: str, **raw: Any) -> None:
    """Change only the given fields of JOB (Set-AzScheduler*Job; a PATCH).

    A list option replaces the whole list; --minutes '' clears it.
    """
    options, json_file = parse_options(raw)
    path = session.api.job_path(collection, job)
    if json_file is not None:
        session.out.job(session.api.patch(path, read_json(json_file)))
        return
    kind = None if options.type is None else action_type(options.type)
    if kind is None and options.given(*PAYLOAD_OPTIONS_ALL):
        # Which payload the options belong to depends on the stored action's type.
        current = session.api.get(path)
        kind = action_type(current.get("properties", {}).get("action", {}).get("type"))
        if kind is None:
            raise click.UsageError(f"Job '{job}' has no action type this CLI knows; pass --type.")
    session.out.job(session.api.patch(path, patch_body(options, kind)))


@jobs_group.command("get")
@click.argument("collection")
@click.argument("job")
@api_command
def get(session: Session, /, collection: str, job: str) -> None:
    """Show JOB with its schedule and counters (Get-AzSchedulerJob -JobName)."""
    session.out.job(session.api.get(session.api.job_path(collection, job)))


@jobs_group.command("list")
@click.argument("collection")
@click.option("--state", type=Choice(JOB_STATES), help="Only jobs in this state.")
@api_command
def list_(session: Session, /, collection: str, state: str | None) -> None:
    """List the jobs of COLLECTION (Get-AzSchedulerJob [-JobState])."""
    params = None if state is None else {"$filter": f"state eq {state}"}
    page = session.api.list_all(session.api.jobs_path(collection), params)
    session.out.jobs(page, collection)


@jobs_group.command("delete")
@click.argument("collection")
@click.argument("job")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@api_command
def delete(session: Session, /, collection: str, job: str, yes: bool) -> None:
    """Delete JOB and its history (Remove-AzSchedulerJob)."""
    if not yes:
        click.confirm(f"Delete job '{collection}/{job}' and its history?", abort=True, err=True)
    session.api.delete(session.api.job_path(collection, job))
    session.out.done(f"Deleted job '{collection}/{job}'.")


def _set_state(session: Session, /, collection: str, job: str, state: JobState) -> None:
    body = {"properties": {"state": state.value}}
    session.out.job(session.api.patch(session.api.job_path(collection, job), body))


@jobs_group.command("enable")
@click.argument("collection")
@click.argument("job")
@api_command
def enable(session: Session, /, collection: str, job: str) -> None:
    """Enable JOB; its next run is computed from now."""
    _set_state(session, collection, job, JobState.ENABLED)


@jobs_group.command("disable")
@click.argument("collection")
@click.argument("job")
@api_command
def disable(session: Session, /, collection: str, job: str) -> None:
    """Disable JOB: no further occurrences until it is enabled."""
    _set_state(session, collection, job, JobState.DISABLED)


@jobs_group.command("explain")
@click.argument("collection")
@click.argument("job")
@click.option("--at", "at", required=True, help="The instant to explain (ISO 8601).")
@api_command
def explain(session: Session, /, collection: str, job: str, at: str) -> None:
    """Say whether JOB's schedule had an occurrence at (or near) --at, what became of it,
    or why there was none."""
    answer = session.api.get(f"{session.api.job_path(collection, job)}/explain", {"at": at})
    if session.out.is_json:
        session.out.json(answer)
        return
    occurrence = answer.get("occurrence") or "none"
    kind = "at" if answer.get("scheduled") else "nearest"
    click.echo(f"{answer['outcome']}: occurrence {kind} {answer['at']}: {occurrence}")
    for reason in answer.get("reasons", []):
        click.echo(f"  - {reason}")


@jobs_group.command("backfill")
@click.argument("collection")
@click.argument("job")
@click.option("--from", "since", required=True, help="The range's first instant (ISO 8601).")
@click.option("--to", "until", required=True, help="Its last instant, not after now.")
@click.option("--pace", help="Time between two starts, ISO 8601 [PT1S].")
@api_command
def backfill(
    session: Session, /, collection: str, job: str, since: str, until: str, pace: str | None
) -> None:
    """Run each of JOB's slots from --from to --to once more; the runs show in its history."""
    body = {"from": since, "to": until} | ({} if pace is None else {"pace": pace})
    answer = session.api.post(f"{session.api.job_path(collection, job)}/backfill", body)
    if session.out.is_json:
        session.out.json(answer)
        return
    slots = answer["value"]
    for slot in slots:
        click.echo(slot)
    session.out.done(
        f"Backfilling {len(slots)} occurrence{'' if len(slots) == 1 else 's'} of job "
        f"'{collection}/{job}'; see 'jobclock history list {collection} {job}'."
    )


@jobs_group.command("run")
@click.argument("collection")
@click.argument("job")
@api_command
def run(session: Session, /, collection: str, job: str) -> None:
    """Run JOB's action now, outside its schedule; the result shows in its history."""
    session.api.post(f"{session.api.job_path(collection, job)}/run")
    session.out.done(
        f"Started job '{collection}/{job}'; see 'jobclock history list {collection} {job}'."
    )
