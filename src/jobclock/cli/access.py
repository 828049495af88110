"""``jobclock tokens`` (API tokens with roles) and ``jobclock audit`` (the audit trail).

Both need an admin token. A created token is printed once, when it is created; the server
keeps only its digest.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click
from rich.table import Table
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
    page = session.api.get("/jobclock/tokens")
    if session.out.is_json:
        session.out.json(page)
        return
    items = _items(page)
    if not items:
        session.out.console.print(Text("No tokens besides the server's own (admin)."))
        return
    table = _table("Name", "Role", "Created", "Created by")
    for item in items:
        table.add_row(*(_text(item.get(key)) for key in ("name", "role", "createdAt", "createdBy")))
    session.out.console.print(table)


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
    if session.out.is_json:
        session.out.json(page)
        return
    items = _items(page)
    if not items:
        session.out.console.print(Text("No writes recorded."))
        return
    table = _table("Time", "Who", "Via", "Operation", "Resource", "Outcome")
    for item in items:
        table.add_row(
            _text(item.get("time")),
            _text(item.get("identity")),
            _text(item.get("via")),
            _text(str(item.get("operation", "")).removeprefix("Microsoft.Scheduler/")),
            _text(item.get("resource")),
            _text(f"{item.get('outcome')} ({item.get('status')})"),
        )
    session.out.console.print(table)
    if not everything and page.get("nextLink"):
        session.out.console.print(Text("More entries: use --all."))


def _items(page: Any) -> list[dict[str, Any]]:
    values = page.get("value") if isinstance(page, dict) else None
    return [item for item in values or [] if isinstance(item, dict)]


def _table(*headers: str) -> Table:
    table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2, 0, 0))
    for header in headers:
        # Ids and operation names are long: they wrap rather than lose their ends.
        table.add_column(header, overflow="fold")
    return table


def _text(value: object) -> Text:
    return Text("—" if value is None or value == "" else str(value))
