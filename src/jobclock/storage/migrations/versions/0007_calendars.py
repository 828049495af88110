"""Holiday calendars (issue 14, item 4): a collection's named calendars, each a JSON body.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    name_key = sa.String(100)
    if op.get_bind().dialect.name == "postgresql":
        name_key = sa.String(100, collation="C")
    op.create_table(
        "calendars",
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
        sa.UniqueConstraint("collection_id", "name_key", name="uq_calendars_collection_name"),
    )


def downgrade() -> None:
    op.drop_table("calendars")
