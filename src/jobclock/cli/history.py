"""``jobclock history``: a job's execution history (Get-AzSchedulerJobHistory).

The API has no operation for a single entry (§2.2), so ``history get`` reads the list and
picks the entry; a unique prefix of its id is enough.
"""

from __future__ import annotations

from typing import Any

import click

from jobclock.cli.client import Choice, Session, api_command, connection_options
from jobclock.domain.errors import InvalidDefinition, NotFound
from jobclock.domain.history import HistoryStatus


@click.group("history")
@connection_options(group=True)
def history_group() -> None:
    """Read the execution history of a job, newest first."""


@history_group.command("list")
@click.argument("collection")
@click.argument("job")
@click.option(
    "--status",
    type=Choice([status.value for status in HistoryStatus]),
    help="Only entries with this status.",
)
@click.option("--top", type=click.IntRange(1, 100), help="At most N entries.")
@click.option("--skip", type=click.IntRange(min=0), help="Skip the N newest entries first.")
@api_command
def list_(
    session: Session,
    /,
    collection: str,
    job: str,
    status: str | None,
    top: int | None,
    skip: int | None,
) -> None:
    """List JOB's history: one entry per attempt (Get-AzSchedulerJobHistory)."""
    params = {}
    if status is not None:
        params["$filter"] = f"status eq {status}"
    if top is not None:
        params["$top"] = str(top)
    if skip is not None:
        params["$skip"] = str(skip)
    page = session.api.list_all(session.api.history_path(collection, job), params)
    session.out.history(page, f"{collection}/{job}")


@history_group.command("get")
@click.argument("collection")
@click.argument("job")
@click.argument("history_id")
@api_command
def get(session: Session, /, collection: str, job: str, history_id: str) -> None:
    """Show one history entry of JOB with its full message.

    HISTORY_ID is the id shown by 'history list' (a unique prefix will do).
    """
    page = session.api.list_all(session.api.history_path(collection, job))
    session.out.history_entry(find_entry(page["value"], history_id, f"{collection}/{job}"))


def find_entry(entries: list[Any], wanted: str, job: str) -> dict[str, Any]:
    """The entry whose id is ``wanted``, or the only one it is a prefix of."""
    wanted = wanted.strip()
    if not wanted:
        raise InvalidDefinition("HISTORY_ID must not be empty.")
    by_id = {_entry_id(entry): entry for entry in entries if isinstance(entry, dict)}
    if wanted in by_id:
        return by_id[wanted]
    matches = [entry_id for entry_id in by_id if entry_id.startswith(wanted)]
    if len(matches) == 1:
        return by_id[matches[0]]
    if matches:
        raise InvalidDefinition(
            f"History id prefix '{wanted}' matches {len(matches)} entries of job '{job}'; "
            "give more of it."
        )
    raise NotFound(f"Job '{job}' has no history entry '{wanted}'.")


def _entry_id(entry: dict[str, Any]) -> str:
    return str(entry.get("name", "")).rsplit("/", 1)[-1]
