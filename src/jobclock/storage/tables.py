"""The one schema, for SQLite and PostgreSQL. Instants are UTC microseconds since the epoch
(BigInteger): exact, sortable, and the same on every backend."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()
# Rows written per attempt need 64-bit ids on PostgreSQL; SQLite's INTEGER PRIMARY KEY
# already is 64-bit (and only that spelling auto-increments).
BigId = BigInteger().with_variant(Integer, "sqlite")
NAME_KEY = String(100).with_variant(String(100, collation="C"), "postgresql")

collections = Table(
    "collections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscription", String(200), nullable=False),
    Column("resource_group", String(200), nullable=False),
    Column("name", String(100), nullable=False),
    # ARM names are case-insensitive: the keys are the lower-cased names.
    Column("key", String(520), nullable=False),
    Column("subscription_key", String(200), nullable=False),
    Column("location", String(200), nullable=False),
    Column("sku", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("quota", Text, nullable=True),
    Column("tags", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    # jobclock's per-target caps of the collection's jobs, as JSON (issue 15, item 4).
    Column("host_limits", Text, nullable=True),
    UniqueConstraint("key", name="uq_collections_key"),
)
Index("ix_collections_subscription", collections.c.subscription_key)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(100), nullable=False),
    # Code-point order on PostgreSQL too (SQLite compares text bytewise), so that the unique
    # index below serves the list's order and its keyset condition (migration 0006).
    Column("name_key", NAME_KEY, nullable=False),
    # The definition as Azure JSON with its secrets sealed by the SecretBox.
    Column("definition", Text, nullable=False),
    Column("state", String(20), nullable=False),
    # The recurrence anchor: startTime, or the creation (or last run, chained) time.
    Column("anchor", BigInteger, nullable=False),
    Column("execution_count", Integer, nullable=False, default=0),
    Column("failure_count", Integer, nullable=False, default=0),
    Column("faulted_count", Integer, nullable=False, default=0),
    Column("last_execution_time", BigInteger, nullable=True),
    Column("next_execution_time", BigInteger, nullable=True),
    # The cursor: the last scheduled occurrence claimed and how many were claimed.
    Column("last_occurrence", BigInteger, nullable=True),
    Column("occurrences_done", Integer, nullable=False, default=0),
    Column("history_seq", BigInteger, nullable=False, default=0),
    # An occurrence of this job is in progress (retries included): the next one waits.
    Column("busy", Boolean, nullable=False, default=False),
    # When that occurrence was started: a slot due before then is backlog, not an overlap.
    Column("busy_since", BigInteger, nullable=True),
    Column("postponed", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    # A job with expectRunWithin is overdue at this instant (issue 15): its last success, or
    # its save, or its last alert, plus the window. NULL without one.
    Column("expect_by", BigInteger, nullable=True),
    UniqueConstraint("collection_id", "name_key", name="uq_jobs_collection_name"),
)
Index("ix_jobs_due", jobs.c.next_execution_time)
Index("ix_jobs_expect_by", jobs.c.expect_by)

# A collection's holiday calendars (issue 14, item 4); the jobs that follow one keep a copy
# of its holidays in their definition, so the engine never reads this table.
calendars = Table(
    "calendars",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(100), nullable=False),
    Column("name_key", NAME_KEY, nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("collection_id", "name_key", name="uq_calendars_collection_name"),
)

# A collection's notification endpoints (issue 15, item 5): each a JSON body, its signing
# keys sealed by the SecretBox.
endpoints = Table(
    "endpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(100), nullable=False),
    Column("name_key", NAME_KEY, nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("collection_id", "name_key", name="uq_endpoints_collection_name"),
)

# Notices: one event for one endpoint, written with what caused it and delivered at least
# once; kept with its outcome as the endpoint's delivery history.
notices = Table(
    "notices",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("endpoint", String(100), nullable=False),  # the endpoint's name key
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("job", String(100), nullable=False),
    Column("event", Text, nullable=False),  # the CloudEvent, as sent
    Column("status", String(10), nullable=False),  # "pending", "delivered", "failed"
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_at", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_expiry", BigInteger, nullable=True),
)
Index("ix_notices_due", notices.c.status, notices.c.due_at)
Index("ix_notices_endpoint", notices.c.collection_id, notices.c.endpoint, notices.c.id)

# Per-target caps across nodes (issue 15, item 4): a row per capped host, holding its rate's
# theoretical arrival time (and locked while an attempt asks to go), and a permit per
# attempt in flight to it, until its attempt's deadline (a dead node's permits run out).
host_slots = Table(
    "host_slots",
    metadata,
    Column("host", String(300), primary_key=True),
    Column("tat", BigInteger, nullable=True),
)
host_permits = Table(
    "host_permits",
    metadata,
    Column("token", String(32), primary_key=True),
    Column("host", String(300), nullable=False),
    Column("node", String(200), nullable=False),
    Column("until", BigInteger, nullable=False),
)
Index("ix_host_permits_host", host_permits.c.host, host_permits.c.until)

occurrences = Table(
    "occurrences",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("scheduled_time", BigInteger, nullable=False),
    # "scheduled" or "run" (run now, §5.9): a run never collides with a scheduled slot.
    Column("kind", String(10), nullable=False),
    Column("repeat_count", Integer, nullable=False),
    Column("final", Boolean, nullable=False, default=False),
    Column("phase", String(10), nullable=False),  # "main" or "error"
    Column("attempt", Integer, nullable=False, default=0),
    Column("due_at", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),  # "pending", "running"
    Column("execution_tag", String(32), nullable=False),
    Column("main_failed", Boolean, nullable=False, default=False),
    # The node running the attempt, and until when; an expired lease is taken over.
    Column("lease_owner", String(200), nullable=True),
    Column("lease_expiry", BigInteger, nullable=True),
    UniqueConstraint("job_id", "scheduled_time", "kind", name="uq_occurrences_job_time"),
)
Index("ix_occurrences_due", occurrences.c.status, occurrences.c.due_at)

history = Table(
    "history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("history_id", String(41), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=False),
    Column("expected_execution_time", BigInteger, nullable=False),
    Column("action_name", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("message", Text, nullable=False),
    Column("retry_count", Integer, nullable=False),
    Column("repeat_count", Integer, nullable=False),
)
# The history list's order (start time, then write order) within a job, for keyset paging.
Index("ix_history_job_order", history.c.job_id, history.c.start_time, history.c.id)

nodes = Table(
    "nodes",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("started_at", BigInteger, nullable=False),
    Column("heartbeat_at", BigInteger, nullable=False),
)

# Access (issue 11): API tokens with roles, portal sessions, sign-in failures, the audit trail.
# A token's secret and a session's id are kept only as SHA-256 digests.
tokens = Table(
    "tokens",
    metadata,
    Column("name_key", String(100), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    # The token's public half (``jc_<token_id>_<secret>``): found by it, then compared.
    Column("token_id", String(32), nullable=False),
    Column("secret_digest", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(100), nullable=False),
    UniqueConstraint("token_id", name="uq_tokens_token_id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("identity", String(100), nullable=False),
    # Which token opened it: a revoked or replaced token ends its sessions.
    Column("token_fingerprint", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)
Index("ix_sessions_identity", sessions.c.identity)

signin_failures = Table(
    "signin_failures",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("client", String(100), nullable=False),
    Column("at", BigInteger, nullable=False),
)
Index("ix_signin_failures_client", signin_failures.c.client, signin_failures.c.at)

audit = Table(
    "audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("identity", String(100), nullable=False),
    Column("via", String(10), nullable=False),  # "api" or "portal"
    Column("operation", String(200), nullable=False),
    Column("resource", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("client", String(100), nullable=False),
)
Index("ix_audit_at", audit.c.at)
