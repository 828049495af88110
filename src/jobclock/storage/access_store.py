"""The SQL side of :class:`jobclock.ports.AccessStore`, on the tables of :class:`SqlStore`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from jobclock.domain.access import AuditEntry, PortalSession, Role, StoredToken
from jobclock.storage.encoding import from_us, to_us
from jobclock.storage.sql_store import SqlStore
from jobclock.storage.tables import audit, sessions, signin_failures, tokens


class SqlAccessStore:
    """Implements :class:`jobclock.ports.AccessStore` (see its contract) over ``store``."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    # -- tokens
    async def add_token(self, token: StoredToken) -> bool:
        try:
            async with self._store.writing_connection() as conn:
                await conn.execute(
                    insert(tokens).values(
                        name_key=token.name.lower(),
                        name=token.name,
                        role=token.role.value,
                        token_id=token.token_id,
                        secret_digest=token.secret_digest,
                        created_at=to_us(token.created_at),
                        created_by=token.created_by,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def token_by_id(self, token_id: str) -> StoredToken | None:
        async with self._store.reading_connection() as conn:
            row = (await conn.execute(select(tokens).where(tokens.c.token_id == token_id))).first()
        return None if row is None else _token(row)

    async def list_tokens(self) -> list[StoredToken]:
        async with self._store.reading_connection() as conn:
            rows = await conn.execute(select(tokens).order_by(tokens.c.name_key))
            return [_token(row) for row in rows]

    async def remove_token(self, name: str) -> StoredToken | None:
        async with self._store.writing_connection() as conn:
            row = (
                await conn.execute(select(tokens).where(tokens.c.name_key == name.lower()))
            ).first()
            if row is None:
                return None
            await conn.execute(delete(tokens).where(tokens.c.name_key == name.lower()))
            await conn.execute(delete(sessions).where(sessions.c.token_fingerprint == row.token_id))
        return _token(row)

    # -- sessions
    async def add_session(self, digest: str, session: PortalSession) -> None:
        async with self._store.writing_connection() as conn:
            await conn.execute(
                delete(sessions).where(sessions.c.expires_at <= to_us(session.created_at))
            )
            await conn.execute(
                insert(sessions).values(
                    digest=digest,
                    identity=session.identity,
                    token_fingerprint=session.token_fingerprint,
                    created_at=to_us(session.created_at),
                    expires_at=to_us(session.expires_at),
                )
            )

    async def session(self, digest: str) -> PortalSession | None:
        async with self._store.reading_connection() as conn:
            row = (await conn.execute(select(sessions).where(sessions.c.digest == digest))).first()
        if row is None:
            return None
        return PortalSession(
            identity=row.identity,
            token_fingerprint=row.token_fingerprint,
            created_at=from_us(row.created_at),
            expires_at=from_us(row.expires_at),
        )

    async def remove_session(self, digest: str) -> None:
        async with self._store.writing_connection() as conn:
            await conn.execute(delete(sessions).where(sessions.c.digest == digest))

    # -- failed sign-ins
    async def add_failure(self, client: str, at: datetime, forget_before: datetime) -> None:
        async with self._store.writing_connection() as conn:
            await conn.execute(
                delete(signin_failures).where(signin_failures.c.at < to_us(forget_before))
            )
            await conn.execute(insert(signin_failures).values(client=client, at=to_us(at)))

    async def failures(self, client: str, since: datetime) -> list[datetime]:
        async with self._store.reading_connection() as conn:
            rows = await conn.execute(
                select(signin_failures.c.at)
                .where(signin_failures.c.client == client, signin_failures.c.at >= to_us(since))
                .order_by(signin_failures.c.at)
            )
            return [from_us(at) for (at,) in rows]

    async def clear_failures(self, client: str) -> None:
        async with self._store.writing_connection() as conn:
            await conn.execute(delete(signin_failures).where(signin_failures.c.client == client))

    # -- the audit trail
    async def append_audit(self, entry: AuditEntry) -> None:
        async with self._store.writing_connection() as conn:
            await conn.execute(
                insert(audit).values(
                    at=to_us(entry.at),
                    identity=entry.identity,
                    via=entry.via,
                    operation=entry.operation,
                    resource=entry.resource,
                    status=entry.status,
                    request_id=entry.request_id,
                    client=entry.client,
                )
            )

    async def audit(
        self, *, before_id: int | None, top: int, identity: str | None = None
    ) -> list[AuditEntry]:
        query = select(audit).order_by(audit.c.id.desc()).limit(top)
        if before_id is not None:
            query = query.where(audit.c.id < before_id)
        if identity is not None:
            query = query.where(audit.c.identity == identity)
        async with self._store.reading_connection() as conn:
            rows = await conn.execute(query)
            return [_audit(row) for row in rows]


def _token(row: Row[tuple[object, ...]]) -> StoredToken:
    return StoredToken(
        name=row.name,
        role=Role(row.role),
        token_id=row.token_id,
        secret_digest=row.secret_digest,
        created_at=from_us(row.created_at),
        created_by=row.created_by,
    )


def _audit(row: Row[tuple[object, ...]]) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=from_us(row.at),
        identity=row.identity,
        via=row.via,
        operation=row.operation,
        resource=row.resource,
        status=row.status,
        request_id=row.request_id,
        client=row.client,
    )
