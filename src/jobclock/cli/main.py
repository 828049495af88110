"""The ``jobclock`` command line."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from jobclock.cli.access import audit_group, tokens_group
from jobclock.cli.calendars import calendars_group
from jobclock.cli.collections import collections_group
from jobclock.cli.history import history_group
from jobclock.cli.jobs import jobs_group
from jobclock.cli.nodes import nodes_command
from jobclock.cli.notifications import notifications_group
from jobclock.cli.preview import preview_command
from jobclock.cli.serve import serve_command
from jobclock.domain.errors import SchedulerError

# Exit codes mapped from the error tree; 2 is also click's usage error.
EXIT_CODES = {400: 2, 401: 4, 403: 5, 404: 3, 409: 6}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jobclock")
def cli() -> None:
    """jobclock: a self-hosted Azure Scheduler."""


cli.add_command(preview_command)
cli.add_command(serve_command)
cli.add_command(collections_group)
cli.add_command(calendars_group)
cli.add_command(notifications_group)
cli.add_command(jobs_group)
cli.add_command(history_group)
cli.add_command(nodes_command)
cli.add_command(tokens_group)
cli.add_command(audit_group)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; errors become one line on stderr and an exit code, never a traceback."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("jobclock: aborted", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"jobclock: {exc.format_message()}", err=True)
        return exc.exit_code
    except SchedulerError as exc:
        click.echo(f"jobclock: {exc.message}", err=True)
        return EXIT_CODES.get(exc.status, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
