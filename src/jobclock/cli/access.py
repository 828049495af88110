"""``jobclock tokens`` (API tokens with roles) and ``jobclock audit`` (the audit trail).

Both need an admin token. A created token is printed once, when it is created; the server
keeps only its digest.
"""

from __future__ import annotations

from urllib.parse import quote

import click
from rich.text import Text

from jobclock.cli.client import Choice, Session, api_command, connection_options
from jobclock.domain.access import Role

_ROLES = [role.value for role in Role]


@click.group("tokens")
@connection_options(group=True)
def tokens_group() -> None:
    """Create, list and revoke API tokens (reader, operator, admin)."""


@tokens_group.command("create")
@click.argument("name")
@click.option(
    "--role",
    type=Choice(_ROLES),
    required=True,
    help="reader: every read; operator: also run, enable and disable; admin: everything.",
)
@api_command
def create(session: Session, /, name: str, role: str) -> None:
    """Create the token NAME with ROLE and print it (this is the only time it is shown)."""
    body = session.api.call("POST", "/jobclock/tokens", body={"name": name, "role": role})
    if session.out.is_json:
        session.out.json(body)
        return
    session.out.console.print(
        Text(f"Token '{body.get('name')}' ({body.get('role')}) created. It is shown only now:")
    )
    click.echo(str(body.get("token")))


@tokens_group.command("list")
@api_command
def list_(session: Session, /) -> None:
    """List the tokens: name, role, when and by whom created (never the token itself)."""
    session.out.tokens(session.api.get("/jobclock/tokens"))


@tokens_group.command("revoke")
@click.argument("name")
@api_command
def revoke(session: Session, /, name: str) -> None:
    """Revoke the token NAME: its requests and portal sessions are refused from now on."""
    body = session.api.delete(f"/jobclock/tokens/{quote(name, safe='')}")
    if session.out.is_json:
        session.out.json(body)
        return
    session.out.done(f"Token '{name}' revoked.")


@click.group("audit")
@connection_options(group=True)
def audit_group() -> None:
    """Read the audit trail: every write, who made it, and its outcome."""


@audit_group.command("list")
@click.option("--top", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--identity", help="Only the writes made with this token.")
@click.option("--all", "everything", is_flag=True, help="Follow every page, not only the first.")
@api_command
def audit_list(session: Session, /, top: int, identity: str | None, everything: bool) -> None:
    """List the newest writes first."""
    params = {"$top": str(top)}
    if identity:
        params["identity"] = identity
    if everything:
        page = session.api.list_all("/jobclock/audit", params)
    else:
        page = session.api.get("/jobclock/audit", params)
    session.out.audit(page, more_hint=not everything)
