"""``jobclock notifications``: a collection's notification endpoints (issue 15, item 5)
over the REST API: ``put`` (create or replace, from options or ``--json``), ``get``,
``list``, ``delete`` and ``history`` (the deliveries, newest first).

The signing keys are write-only: the API never shows them, and neither does the CLI. A
``put`` without ``--signing-secret``, ``--previous-signing-secret`` or ``--no-signing``
keeps the keys the endpoint has (it sends an empty ``signing`` object, as the portal does);
``--no-signing`` removes them.
"""

from __future__ import annotations

import copy
import os
from base64 import b64encode
from typing import IO, Any

import click

from jobclock.cli.client import ApiError, Choice, Session, api_command, connection_options
from jobclock.cli.job_body import read_json
from jobclock.codec.notification import endpoint_from_json
from jobclock.domain.notification import EventType

_EVENTS = [event.value for event in EventType]


@click.group("notifications")
@connection_options(group=True)
def notifications_group() -> None:
    """Notification endpoints of a job collection: where its jobs' failures, faults, late
    starts and missed runs are POSTed as CloudEvents."""


def _path(session: Session, collection: str, name: str | None = None) -> str:
    base = f"{session.api.collection_path(collection)}/notifications"
    return base if name is None else f"{base}/{name}"


@notifications_group.command("put")
@click.argument("collection")
@click.argument("name")
@click.option("--uri", help="Where the events are POSTed (http:// or https://).")
@click.option(
    "--event",
    "events",
    multiple=True,
    type=Choice(_EVENTS),
    help="An event type the endpoint receives; repeatable [all four].",
)
@click.option(
    "--late-after",
    help="occurrence.late: a first attempt later than this after its time, PT1S..P1D [PT1M].",
)
@click.option("--signing-secret", help="Sign each event (Standard Webhooks) with this whsec_ key.")
@click.option(
    "--previous-signing-secret",
    help="The key being rotated out; events carry both signatures.",
)
@click.option("--no-signing", is_flag=True, help="Send the events unsigned; drops stored keys.")
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
    uri: str | None,
    events: tuple[str, ...],
    late_after: str | None,
    signing_secret: str | None,
    previous_signing_secret: str | None,
    no_signing: bool,
    json_file: IO[str] | None,
) -> None:
    """Create or replace notification endpoint NAME of COLLECTION (at most 10 per
    collection). Without a signing option, the keys the endpoint has are kept.

    \b
    Example:
      jobclock notifications put jc ops --uri https://hooks.example/jobclock \\
          --event job.failed --event occurrence.missed --signing-secret "$KEY"
    """
    keys = {"secret": signing_secret, "previousSecret": previous_signing_secret}
    typed = {key: value for key, value in keys.items() if value is not None}
    if json_file is not None:
        if uri or events or late_after or typed or no_signing:
            raise click.UsageError(
                "--json cannot be combined with --uri, --event, --late-after or the "
                "signing options."
            )
        body: Any = read_json(json_file)
    else:
        if uri is None:
            raise click.UsageError("--uri is required (or the whole body with --json FILE).")
        if no_signing and typed:
            raise click.UsageError(
                "--no-signing cannot be combined with --signing-secret or "
                "--previous-signing-secret."
            )
        properties: dict[str, Any] = {"uri": uri}
        if events:
            properties["events"] = list(dict.fromkeys(events))
        if late_after is not None:
            properties["lateAfter"] = late_after
        if typed:
            properties["signing"] = typed
        elif not no_signing and _signed(session, collection, name):
            properties["signing"] = {}  # keeps the stored keys
        body = {"properties": properties}
    _check(body)
    session.out.endpoint(session.api.put(_path(session, collection, name), body))


def _signed(session: Session, collection: str, name: str) -> bool:
    """Whether the endpoint is stored with signing keys (False when it is not stored)."""
    try:
        current = session.api.get(_path(session, collection, name))
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise
    properties = current.get("properties") if isinstance(current, dict) else None
    return isinstance(properties, dict) and properties.get("signing") is not None


def _check(body: Any) -> None:
    """The server's checks, answered before any request. A ``signing`` object without its
    ``secret`` keeps the stored one, which only the server knows: a stand-in is checked."""
    checked = copy.deepcopy(body)
    properties = _key_of(checked, "properties")
    signing = _key_of(properties, "signing")
    if isinstance(signing, dict) and not _key_of(signing, "secret"):
        signing["secret"] = "whsec_" + b64encode(os.urandom(24)).decode()
    endpoint_from_json(checked)


def _key_of(value: Any, wanted: str) -> Any:
    if not isinstance(value, dict):
        return None
    return next((v for k, v in value.items() if str(k).lower() == wanted.lower()), None)


@notifications_group.command("get")
@click.argument("collection")
@click.argument("name")
@api_command
def get(session: Session, /, collection: str, name: str) -> None:
    """Show notification endpoint NAME of COLLECTION (never its keys)."""
    session.out.endpoint(session.api.get(_path(session, collection, name)))


@notifications_group.command("list")
@click.argument("collection")
@api_command
def list_(session: Session, /, collection: str) -> None:
    """List the notification endpoints of COLLECTION."""
    session.out.endpoints(session.api.get(_path(session, collection)))


@notifications_group.command("delete")
@click.argument("collection")
@click.argument("name")
@api_command
def delete(session: Session, /, collection: str, name: str) -> None:
    """Delete notification endpoint NAME of COLLECTION and its delivery history."""
    session.api.delete(_path(session, collection, name))
    session.out.done(f"Deleted notification endpoint '{name}' of job collection '{collection}'.")


@notifications_group.command("history")
@click.argument("collection")
@click.argument("name")
@api_command
def history(session: Session, /, collection: str, name: str) -> None:
    """The newest 100 events sent to endpoint NAME and how their delivery went, newest
    first (--output json: each CloudEvent too)."""
    page = session.api.get(f"{_path(session, collection, name)}/history")
    session.out.notices(page, name)
