"""Per-target caps across nodes (issue 15, item 4): capped hosts and their permits.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_slots",
        sa.Column("host", sa.String(300), primary_key=True),
        sa.Column("tat", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "host_permits",
        sa.Column("token", sa.String(32), primary_key=True),
        sa.Column("host", sa.String(300), nullable=False),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("until", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_host_permits_host", "host_permits", ["host", "until"])


def downgrade() -> None:
    op.drop_table("host_permits")
    op.drop_table("host_slots")
