"""Healing: canaries, escalations, role moves.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "canaries",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("candidate_version", sa.Integer(), nullable=False),
        sa.Column("incumbent_version", sa.Integer(), nullable=True),
        sa.Column("decision_id", sa.String(), nullable=True),
        sa.Column("phase", sa.String(), nullable=False),
        sa.Column("state", _JSON, nullable=False),
        sa.Column("started_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canaries")),
    )
    op.create_index("ix_canaries_model_phase", "canaries", ["model", "phase"])
    op.create_table(
        "escalations",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("decision_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("answered_at", _time(), nullable=True),
        sa.Column("actor", sa.String(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("notify_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
    )
    op.create_index("ix_escalations_status_created_at", "escalations", ["status", "created_at"])
    op.create_table(
        "role_moves",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_moves")),
    )
    op.create_index("ix_role_moves_model_role_at", "role_moves", ["model", "role", "at"])


def downgrade() -> None:
    op.drop_table("role_moves")
    op.drop_table("escalations")
    op.drop_table("canaries")
