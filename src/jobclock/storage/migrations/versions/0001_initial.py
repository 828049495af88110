"""The initial schema: collections, jobs, occurrences, history.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscription", sa.String(200), nullable=False),
        sa.Column("resource_group", sa.String(200), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key", sa.String(520), nullable=False),
        sa.Column("subscription_key", sa.String(200), nullable=False),
        sa.Column("location", sa.String(200), nullable=False),
        sa.Column("sku", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("quota", sa.Text, nullable=True),
        sa.Column("tags", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("key", name="uq_collections_key"),
    )
    op.create_index("ix_collections_subscription", "collections", ["subscription_key"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "collection_id",
            sa.Integer,
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_key", sa.String(100), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("anchor", sa.BigInteger, nullable=False),
        sa.Column("execution_count", sa.Integer, nullable=False),
        sa.Column("failure_count", sa.Integer, nullable=False),
        sa.Column("faulted_count", sa.Integer, nullable=False),
        sa.Column("last_execution_time", sa.BigInteger, nullable=True),
        sa.Column("next_execution_time", sa.BigInteger, nullable=True),
        sa.Column("last_occurrence", sa.BigInteger, nullable=True),
        sa.Column("occurrences_done", sa.Integer, nullable=False),
        sa.Column("history_seq", sa.BigInteger, nullable=False),
        sa.Column("busy", sa.Boolean, nullable=False),
        sa.Column("postponed", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("collection_id", "name_key", name="uq_jobs_collection_name"),
    )
    op.create_index("ix_jobs_due", "jobs", ["next_execution_time"])
    op.create_table(
        "occurrences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("scheduled_time", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("repeat_count", sa.Integer, nullable=False),
        sa.Column("final", sa.Boolean, nullable=False),
        sa.Column("phase", sa.String(10), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("execution_tag", sa.String(32), nullable=False),
        sa.Column("main_failed", sa.Boolean, nullable=False),
        sa.UniqueConstraint("job_id", "scheduled_time", "kind", name="uq_occurrences_job_time"),
    )
    op.create_index("ix_occurrences_due", "occurrences", ["status", "due_at"])
    op.create_table(
        "history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("history_id", sa.String(41), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger, nullable=False),
        sa.Column("expected_execution_time", sa.BigInteger, nullable=False),
        sa.Column("action_name", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("retry_count", sa.Integer, nullable=False),
        sa.Column("repeat_count", sa.Integer, nullable=False),
    )
    op.create_index("ix_history_job_start", "history", ["job_id", "start_time"])


def downgrade() -> None:
    op.drop_table("history")
    op.drop_table("occurrences")
    op.drop_table("jobs")
    op.drop_table("collections")
