"""``jobclock serve``: the API and the engine in one process."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on [127.0.0.1; JOBCLOCK_HOST].")
@click.option("--port", type=int, default=None, help="Port [8080; JOBCLOCK_PORT].")
@click.option("--db", default=None, help="SQLAlchemy URL [sqlite:///jobclock.db; JOBCLOCK_DB].")
@click.option("--token", default=None, help="API token [JOBCLOCK_TOKEN; else generated].")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Dispatch processes, each a node with its share of the jobs; 1 runs the engine "
    "in the server process [1; JOBCLOCK_WORKERS].",
)
def serve_command(
    host: str | None, port: int | None, db: str | None, token: str | None, workers: int | None
) -> None:
    """Run the scheduler: the Azure REST API and the engine."""
    # Imported here: the server's dependencies would slow every other command's start.
    from jobclock.server import run
    from jobclock.settings import Settings, SettingsError

    try:
        settings = Settings.from_environment(
            {"host": host, "port": port, "db": db, "token": token, "workers": workers}
        )
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    run(settings)
