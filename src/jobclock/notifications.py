"""The notification use cases (issue 15, item 5), beside :class:`SchedulerService`'s: a
collection's endpoints (put, get, list, delete) and each one's delivery history.

An endpoint's signing keys are write-only: sealed when stored, never shown. A PUT that
leaves ``signing.secret`` out while the stored endpoint has one keeps it (the portal's
form, a GET-modify-PUT); a PUT without ``signing`` removes signing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from jobclock.codec.fields import check_text
from jobclock.codec.notification import endpoint_from_json, endpoint_to_json
from jobclock.codec.stored import StoredDefinitions
from jobclock.domain.collection import check_calendar_name
from jobclock.domain.errors import Conflict, NotFound, QuotaExceeded
from jobclock.domain.notification import MAX_ENDPOINTS
from jobclock.domain.records import Notice, StoredCollection
from jobclock.ports import JobReads, JobStore
from jobclock.refs import CollectionRef, EndpointView

HISTORY_LIMIT = 100


class NotificationService:
    """See the module docstring."""

    def __init__(
        self,
        store: JobStore,
        codec: StoredDefinitions,
        collection: Callable[[JobReads, CollectionRef], Awaitable[StoredCollection]],
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._codec = codec
        self._collection = collection
        self._wake = wake

    async def put(self, ref: CollectionRef, name: str, body: object) -> tuple[EndpointView, bool]:
        check_calendar_name(name, what="notification endpoint")
        check_text(body)
        async with self._store.transaction() as tx:
            record = await self._collection(tx, ref)
            existing = await tx.find_endpoint(record.id, name, lock=True)
            if existing is not None and isinstance(body, dict):
                body = _keeping_keys(body, self._codec.load_endpoint(existing.body))
            endpoint = endpoint_from_json(body)
            if existing is None and len(await tx.list_endpoints(record.id)) >= MAX_ENDPOINTS:
                raise QuotaExceeded(
                    f"The job collection '{ref.name}' has at most {MAX_ENDPOINTS} "
                    "notification endpoints."
                )
            try:
                created = await tx.put_endpoint(
                    record.id, name, self._codec.dump_endpoint(endpoint)
                )
            except Exception as exc:  # the store's integrity error: created meanwhile
                raise Conflict(
                    f"The notification endpoint '{name}' was created by another request "
                    "meanwhile; send the PUT again to replace it."
                ) from exc
            stored = await tx.find_endpoint(record.id, name)
            assert stored is not None  # noqa: S101 - written just above
            await tx.notify()
        self._wake()
        return EndpointView(ref, stored.name, endpoint), created

    async def get(self, ref: CollectionRef, name: str) -> EndpointView:
        async with self._store.reading() as tx:
            record = await self._collection(tx, ref)
            stored = await tx.find_endpoint(record.id, name)
        if stored is None:
            raise _missing(ref, name)
        return EndpointView(ref, stored.name, self._codec.load_endpoint(stored.body))

    async def list_all(self, ref: CollectionRef) -> list[EndpointView]:
        async with self._store.reading() as tx:
            record = await self._collection(tx, ref)
            stored = await tx.list_endpoints(record.id)
        return [EndpointView(ref, e.name, self._codec.load_endpoint(e.body)) for e in stored]

    async def delete(self, ref: CollectionRef, name: str) -> None:
        async with self._store.transaction() as tx:
            record = await self._collection(tx, ref)
            if not await tx.delete_endpoint(record.id, name):
                raise _missing(ref, name)
            await tx.notify()
        self._wake()

    async def history(self, ref: CollectionRef, name: str) -> list[Notice]:
        """The endpoint's newest notices and how their delivery went, newest first."""
        async with self._store.reading() as tx:
            record = await self._collection(tx, ref)
            if await tx.find_endpoint(record.id, name) is None:
                raise _missing(ref, name)
            return await tx.list_notices(record.id, name, HISTORY_LIMIT)


def _missing(ref: CollectionRef, name: str) -> NotFound:
    return NotFound(
        f"The Resource 'Microsoft.Scheduler/jobcollections/{ref.name}/notifications/{name}' "
        f"under resource group '{ref.resource_group}' was not found."
    )


def _keeping_keys(body: dict[str, Any], stored: Any) -> dict[str, Any]:
    """``body`` with the stored endpoint's signing keys where its ``signing`` object leaves
    them out or empty (they are write-only)."""
    if stored.signing is None:
        return body
    properties = next((v for k, v in body.items() if str(k).lower() == "properties"), None)
    if not isinstance(properties, dict):
        return body
    signing = next((v for k, v in properties.items() if str(k).lower() == "signing"), None)
    if not isinstance(signing, dict):
        return body
    plain = endpoint_to_json(stored, lambda secret: secret.reveal())["signing"]
    kept = dict(signing)
    for key, value in plain.items():
        if not any(str(k).lower() == key.lower() and v not in (None, "") for k, v in kept.items()):
            kept[key] = value
    inner = {k: (kept if str(k).lower() == "signing" else v) for k, v in properties.items()}
    return {k: (inner if str(k).lower() == "properties" else v) for k, v in body.items()}
