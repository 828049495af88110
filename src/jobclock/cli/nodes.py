"""``jobclock nodes``: the nodes sharing the server's database, with their heartbeats."""

from __future__ import annotations

import click

from jobclock.cli.client import ApiClient, ConnectionSettings, connection_options
from jobclock.cli.output import Printer


@click.command("nodes")
@connection_options(group=True)
@click.pass_context
def nodes_command(ctx: click.Context) -> None:
    """List the jobclock nodes of this deployment and whether each is alive."""
    connection = ctx.ensure_object(ConnectionSettings).connection()
    with ApiClient(connection) as api:
        Printer(connection.output).nodes(api.get("/jobclock/nodes"))
