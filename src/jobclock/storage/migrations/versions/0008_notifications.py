"""Notifications and the dead-man's switch (issue 15, item 5): a collection's endpoints,
the notices delivered to them, and a job's ``expect_by``.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    name_key = sa.String(100, collation="C") if postgres else sa.String(100)
    big_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
    with op.batch_alter_table("jobs") as table:
        table.add_column(sa.Column("expect_by", sa.BigInteger, nullable=True))
    op.create_index("ix_jobs_expect_by", "jobs", ["expect_by"])
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "collection_id",
            sa.Integer,
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_key", name_key, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.UniqueConstraint("collection_id", "name_key", name="uq_endpoints_collection_name"),
    )
    op.create_table(
        "notices",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column(
            "collection_id",
            sa.Integer,
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("endpoint", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_expiry", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_notices_due", "notices", ["status", "due_at"])
    op.create_index("ix_notices_endpoint", "notices", ["collection_id", "endpoint", "id"])


def downgrade() -> None:
    op.drop_table("notices")
    op.drop_table("endpoints")
    op.drop_index("ix_jobs_expect_by", "jobs")
    with op.batch_alter_table("jobs") as table:
        table.drop_column("expect_by")
