"""The inference log: one row per served request, one per feedback label.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inferences",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("latency_ms", sa.Double(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("feature_names", _JSON, nullable=False),
        sa.Column("features", sa.LargeBinary(), nullable=True),
        sa.Column("predictions", _JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inferences")),
    )
    op.create_index("ix_inferences_model_at", "inferences", ["model", "at"])
    op.create_index("ix_inferences_request_id", "inferences", ["request_id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("label", _JSON, nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    op.create_index("ix_feedback_model_at", "feedback", ["model", "at"])
    op.create_index("ix_feedback_request_id_row", "feedback", ["request_id", "row"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("inferences")
