"""Indexes for keyset paging (issue 13): the jobs list reads after a name and the history
list after an entry's place, so that the last page costs what the first does.

* ``jobs.name_key`` is compared in code-point order on every backend (``COLLATE "C"`` in
  the queries on PostgreSQL, whose default collation is linguistic); the column itself
  gets that collation on PostgreSQL, so the unique (collection, name) index serves the
  order and the ``name > after`` condition. SQLite already compares text bytewise.
* History is listed by start time then write order (``id``): the index on (job, start
  time) becomes one on (job, start time, id), so ``(start_time, id) < (t, i)`` is a range
  of it on PostgreSQL as on SQLite (where every index already ends with the row id).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "jobs",
            "name_key",
            type_=sa.String(100, collation="C"),
            existing_type=sa.String(100),
            existing_nullable=False,
        )
    op.drop_index("ix_history_job_start", table_name="history")
    op.create_index("ix_history_job_order", "history", ["job_id", "start_time", "id"])


def downgrade() -> None:
    op.drop_index("ix_history_job_order", table_name="history")
    op.create_index("ix_history_job_start", "history", ["job_id", "start_time"])
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "jobs",
            "name_key",
            type_=sa.String(100),
            existing_type=sa.String(100, collation="C"),
            existing_nullable=False,
        )
