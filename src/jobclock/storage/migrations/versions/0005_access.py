"""Tokens with roles, server-side portal sessions, sign-in failures and the audit trail.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# SQLite's INTEGER PRIMARY KEY is 64-bit and the only spelling that auto-increments.
_BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("name_key", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("secret_digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.UniqueConstraint("token_id", name="uq_tokens_token_id"),
    )
    op.create_table(
        "sessions",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("identity", sa.String(100), nullable=False),
        sa.Column("token_fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_sessions_identity", "sessions", ["identity"])
    op.create_table(
        "signin_failures",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("client", sa.String(100), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_signin_failures_client", "signin_failures", ["client", "at"])
    op.create_table(
        "audit",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("identity", sa.String(100), nullable=False),
        sa.Column("via", sa.String(10), nullable=False),
        sa.Column("operation", sa.String(200), nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("client", sa.String(100), nullable=False),
    )
    op.create_index("ix_audit_at", "audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_at", table_name="audit")
    op.drop_table("audit")
    op.drop_index("ix_signin_failures_client", table_name="signin_failures")
    op.drop_table("signin_failures")
    op.drop_index("ix_sessions_identity", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("tokens")
