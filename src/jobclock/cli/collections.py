"""``jobclock collections``: the job collection cmdlets of §9.1 over the REST API.

``create`` refuses to overwrite an existing collection (PUT would replace it) unless
``--replace`` is given; ``update`` is a PATCH of the given fields only.

``--host-limit HOST=N/R`` (repeatable) sets ``properties.hostLimits``, jobclock's caps on
the collection's own jobs per target host, in the syntax of ``JOBCLOCK_HOST_LIMITS``:
``api.example.com=5/2.5`` (5 attempts at once, 2.5 a second), ``api.example.com=5``,
``api.example.com=/2.5``, ``*.internal=2`` (each host under ``internal``); one value may
hold several rules separated by commas. The option checks the form only; the host and
the numbers meet the server's rules (``create`` checks them before its PUT, as the server
does; ``update`` gets the server's 400), whose message names ``properties.hostLimits[i]``.
``update --host-limit`` replaces all the rules (a PATCH replaces arrays), and
``update --no-host-limits`` removes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import click

from jobclock.cli.client import FC, Choice, Session, api_command, connection_options
from jobclock.codec.collection import collection_from_json
from jobclock.domain.collection import CollectionState, Sku
from jobclock.domain.errors import Conflict
from jobclock.domain.recurrence import Frequency

PLAN_NAMES = [sku.value for sku in Sku]
STATE_NAMES = [state.value for state in CollectionState if state is not CollectionState.DELETED]
FREQUENCY_NAMES = [frequency.value for frequency in Frequency]

# HOST=N, HOST=N/R or HOST=/R, as JOBCLOCK_HOST_LIMITS spells a rule; the server checks the
# host and the numbers.
_HOST_RULE = re.compile(r"^(?P<host>[^=\s]+)=(?P<n>\d*)(?:/(?P<r>\d+(?:\.\d+)?))?$")


class HostLimitRules(click.ParamType[list[dict[str, Any]]]):
    """One ``--host-limit`` value: one rule or several separated by commas, each as a
    ``properties.hostLimits`` item."""

    name = "HOST=N/R"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[dict[str, Any]]:
        if not isinstance(value, str):
            return list(value)
        rules = []
        for raw in (part.strip() for part in value.split(",")):
            if not raw:
                continue
            match = _HOST_RULE.match(raw)
            if match is None or not (match["n"] or match["r"]):
                self.fail(
                    f"{raw!r} is not HOST=N, HOST=N/R or HOST=/R (N attempts at once, R "
                    "requests a second), e.g. 'api.example.com=5/2.5' or '*.internal=2'.",
                    param,
                    ctx,
                )
            rule: dict[str, Any] = {"host": match["host"]}
            if match["n"]:
                rule["concurrency"] = int(match["n"])
            if match["r"]:
                rate = match["r"]
                rule["ratePerSecond"] = float(rate) if "." in rate else int(rate)
            rules.append(rule)
        if not rules:
            self.fail("give a rule: HOST=N, HOST=N/R or HOST=/R.", param, ctx)
        return rules


@click.group("collections")
@connection_options(group=True)
def collections_group() -> None:
    """Create, change and remove job collections (the *-AzSchedulerJobCollection cmdlets)."""


def _definition_options(*, create: bool) -> Callable[[FC], FC]:
    options = [
        click.option(
            "--location",
            required=create,
            help="Region label, e.g. 'West US'" + (" (required)." if create else "."),
        ),
        click.option(
            "--plan",
            type=Choice(PLAN_NAMES),
            default="Standard" if create else None,
            show_default=create,
            help="The plan (SKU): its job and recurrence limits.",
        ),
        click.option(
            "--max-job-count",
            type=click.IntRange(min=1),
            help="Quota: at most this many jobs (may be stricter than the plan).",
        ),
        click.option(
            "--max-recurrence-frequency",
            type=Choice(FREQUENCY_NAMES),
            help="Quota: no job may recur more often than every INTERVAL of this unit.",
        ),
        click.option(
            "--max-recurrence-interval",
            type=click.IntRange(min=1),
            help="Quota: the INTERVAL of --max-recurrence-frequency [1].",
        ),
        click.option("--state", type=Choice(STATE_NAMES)),
        click.option(
            "--host-limit",
            "host_limits",
            multiple=True,
            type=HostLimitRules(),
            help="Cap the collection's jobs per target host, across all nodes: HOST=N/R "
            "(N attempts at once, R requests a second), HOST=N or HOST=/R; *.suffix for each "
            "host under it. Repeatable"
            + (
                "."
                if create
                else "; replaces the collection's rules (--no-host-limits removes them)."
            ),
        ),
    ]
    if not create:
        options.append(
            click.option(
                "--no-host-limits",
                is_flag=True,
                help="Remove the collection's host limits.",
            )
        )

    def apply(f: FC) -> FC:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


def collection_body(
    *,
    location: str | None,
    plan: str | None,
    max_job_count: int | None,
    max_recurrence_frequency: str | None,
    max_recurrence_interval: int | None,
    state: str | None,
    host_limits: Sequence[Sequence[dict[str, Any]]] = (),
    no_host_limits: bool = False,
) -> dict[str, Any]:
    """The PUT body, or the PATCH body when only some options are given."""
    properties: dict[str, Any] = {}
    if plan is not None:
        properties["sku"] = {"name": plan}
    if state is not None:
        properties["state"] = state
    if host_limits and no_host_limits:
        raise click.UsageError("--host-limit and --no-host-limits exclude each other.")
    if host_limits or no_host_limits:
        # Arrays replace in a PATCH: the rules given are all the collection has after it.
        properties["hostLimits"] = [rule for rules in host_limits for rule in rules]
    quota: dict[str, Any] = {}
    if max_job_count is not None:
        quota["maxJobCount"] = max_job_count
    max_recurrence: dict[str, Any] = {}
    if max_recurrence_frequency is not None:
        max_recurrence["frequency"] = max_recurrence_frequency
    if max_recurrence_interval is not None:
        max_recurrence["interval"] = max_recurrence_interval
    if max_recurrence:
        quota["maxRecurrence"] = max_recurrence
    if quota:
        properties["quota"] = quota
    body: dict[str, Any] = {}
    if location is not None:
        body["location"] = location
    if properties:
        body["properties"] = properties
    return body


@collections_group.command("create")
@click.argument("name")
@_definition_options(create=True)
@click.option("--replace", is_flag=True, help="Replace the collection if it exists (PUT).")
@api_command
def create(session: Session, /, name: str, replace: bool, **options: Any) -> None:
    """Create job collection NAME (New-AzSchedulerJobCollection)."""
    if options["max_recurrence_interval"] is not None and not options["max_recurrence_frequency"]:
        raise click.UsageError("--max-recurrence-interval needs --max-recurrence-frequency.")
    body = collection_body(**options)
    # The server checks the same rules; checking here too answers without a round trip.
    collection_from_json(name, body)
    path = session.api.collection_path(name)
    if not replace and session.api.exists(path):
        raise Conflict(
            f"Job collection '{name}' already exists; change it with 'jobclock collections "
            "update' or pass --replace."
        )
    session.out.collection(session.api.put(path, body))


@collections_group.command("update")
@click.argument("name")
@_definition_options(create=False)
@api_command
def update(session: Session, /, name: str, **options: Any) -> None:
    """Change the given fields of job collection NAME (Set-AzSchedulerJobCollection)."""
    body = collection_body(**options)
    if not body:
        raise click.UsageError("Nothing to update: give at least one option.")
    session.out.collection(session.api.patch(session.api.collection_path(name), body))


@collections_group.command("get")
@click.argument("name")
@api_command
def get(session: Session, /, name: str) -> None:
    """Show job collection NAME (Get-AzSchedulerJobCollection -JobCollectionName)."""
    session.out.collection(session.api.get(session.api.collection_path(name)))


@collections_group.command("list")
@click.option(
    "--all-resource-groups",
    "all_groups",
    is_flag=True,
    help="List the whole subscription, not just --resource-group.",
)
@api_command
def list_(session: Session, /, all_groups: bool) -> None:
    """List job collections (Get-AzSchedulerJobCollection)."""
    page = session.api.list_all(session.api.collections_path(all_groups=all_groups))
    session.out.collections(page, show_group=all_groups)


@collections_group.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@api_command
def delete(session: Session, /, name: str, yes: bool) -> None:
    """Delete job collection NAME with its jobs and their history."""
    if not yes:
        click.confirm(
            f"Delete job collection '{name}' with all its jobs and their history?",
            abort=True,
            err=True,
        )
    session.api.delete(session.api.collection_path(name))
    session.out.done(f"Deleted job collection '{name}'.")


@collections_group.command("enable")
@click.argument("name")
@api_command
def enable(session: Session, /, name: str) -> None:
    """Enable job collection NAME and its disabled jobs."""
    session.api.post(f"{session.api.collection_path(name)}/enable")
    session.out.done(f"Enabled job collection '{name}'.")


@collections_group.command("disable")
@click.argument("name")
@api_command
def disable(session: Session, /, name: str) -> None:
    """Disable job collection NAME and its enabled jobs."""
    session.api.post(f"{session.api.collection_path(name)}/disable")
    session.out.done(f"Disabled job collection '{name}'.")
