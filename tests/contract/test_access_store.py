"""The AccessStore contract (jobclock.ports), on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobclock.domain.access import AuditEntry, PortalSession, Role, StoredToken
from jobclock.ports import AccessStore
from jobclock.storage.access_store import SqlAccessStore
from jobclock.storage.sql_store import SqlStore
from jobclock.testing import MemoryAccessStore

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["memory", "sql"])
def access(request: pytest.FixtureRequest, store: SqlStore) -> AccessStore:
    # ``store`` is parametrised over SQLite and PostgreSQL; the memory store runs beside.
    return MemoryAccessStore() if request.param == "memory" else SqlAccessStore(store)


def token(name: str, token_id: str, role: Role = Role.READER) -> StoredToken:
    return StoredToken(name, role, token_id, "d" * 64, T0, "admin")


def session(identity: str, fingerprint: str, hours: float = 12) -> PortalSession:
    return PortalSession(identity, fingerprint, T0, T0 + timedelta(hours=hours))


async def test_a_token_name_is_taken_once_in_any_case(access: AccessStore) -> None:
    assert await access.add_token(token("Deploy", "a" * 16))
    assert not await access.add_token(token("deploy", "b" * 16, Role.ADMIN))
    assert [t.name for t in await access.list_tokens()] == ["Deploy"]
    found = await access.token_by_id("a" * 16)
    assert found == token("Deploy", "a" * 16)
    assert await access.token_by_id("b" * 16) is None


async def test_tokens_are_listed_by_name(access: AccessStore) -> None:
    for name, token_id in (("zeta", "1" * 16), ("Alpha", "2" * 16), ("mid", "3" * 16)):
        assert await access.add_token(token(name, token_id))
    assert [t.name for t in await access.list_tokens()] == ["Alpha", "mid", "zeta"]


async def test_removing_a_token_ends_its_sessions_and_only_its(access: AccessStore) -> None:
    await access.add_token(token("a", "a" * 16))
    await access.add_token(token("b", "b" * 16))
    await access.add_session("s-a", session("a", "a" * 16))
    await access.add_session("s-b", session("b", "b" * 16))
    removed = await access.remove_token("A")
    assert removed is not None
    assert removed.name == "a"
    assert await access.session("s-a") is None
    assert await access.session("s-b") == session("b", "b" * 16)
    assert await access.remove_token("a") is None
    assert await access.token_by_id("a" * 16) is None


async def test_a_session_is_found_by_digest_until_removed(access: AccessStore) -> None:
    await access.add_session("digest-1", session("admin", "bootstrap:x"))
    assert await access.session("digest-1") == session("admin", "bootstrap:x")
    assert await access.session("digest-2") is None
    await access.remove_session("digest-1")
    await access.remove_session("digest-1")  # again: nothing happens
    assert await access.session("digest-1") is None


async def test_adding_a_session_drops_the_expired_ones(access: AccessStore) -> None:
    await access.add_session("old", PortalSession("a", "f", T0 - timedelta(hours=13), T0))
    await access.add_session("live", session("a", "f"))
    assert await access.session("old") is None
    assert await access.session("live") is not None


async def test_failures_are_per_client_and_forgotten_when_old(access: AccessStore) -> None:
    for seconds in (0, 10, 20):
        await access.add_failure("10.0.0.1", T0 + timedelta(seconds=seconds), T0)
    await access.add_failure("10.0.0.2", T0 + timedelta(seconds=30), T0)
    assert await access.failures("10.0.0.1", T0 + timedelta(seconds=10)) == [
        T0 + timedelta(seconds=10),
        T0 + timedelta(seconds=20),
    ]
    # A failure much later forgets everything before its window.
    await access.add_failure("10.0.0.3", T0 + timedelta(hours=1), T0 + timedelta(seconds=15))
    assert await access.failures("10.0.0.1", T0) == [T0 + timedelta(seconds=20)]
    await access.clear_failures("10.0.0.1")
    assert await access.failures("10.0.0.1", T0) == []
    assert await access.failures("10.0.0.2", T0) == [T0 + timedelta(seconds=30)]


def entry(index: int, identity: str = "admin") -> AuditEntry:
    return AuditEntry(
        at=T0 + timedelta(seconds=index),
        identity=identity,
        via="api",
        operation="Microsoft.Scheduler/jobCollections/write",
        resource=f"/subscriptions/s/x{index}",
        status=201,
        request_id=f"r{index}",
        client="127.0.0.1",
    )


async def test_the_audit_pages_newest_first_by_key(access: AccessStore) -> None:
    for index in range(7):
        await access.append_audit(entry(index, "admin" if index % 2 else "ops"))
    first = await access.audit(before_id=None, top=3)
    assert [e.request_id for e in first] == ["r6", "r5", "r4"]
    assert all(e.id is not None for e in first)
    second = await access.audit(before_id=first[-1].id, top=3)
    assert [e.request_id for e in second] == ["r3", "r2", "r1"]
    last = await access.audit(before_id=second[-1].id, top=3)
    assert [e.request_id for e in last] == ["r0"]
    ops = await access.audit(before_id=None, top=10, identity="ops")
    assert [e.request_id for e in ops] == ["r6", "r4", "r2", "r0"]
    kept = first[0]
    assert (kept.at, kept.status, kept.resource, kept.outcome) == (
        T0 + timedelta(seconds=6),
        201,
        "/subscriptions/s/x6",
        "succeeded",
    )
