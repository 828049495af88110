"""A collection's own per-target caps (issue 15, item 4).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collections") as table:
        table.add_column(sa.Column("host_limits", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("collections") as table:
        table.drop_column("host_limits")
