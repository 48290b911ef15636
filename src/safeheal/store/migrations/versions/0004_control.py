"""The controller: monitoring profiles, intents, per-model controller state.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitor_profiles",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("feature_names", _JSON, nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("reference", sa.LargeBinary(), nullable=False),
        sa.Column("baseline_accuracy", sa.Double(), nullable=False),
        sa.Column("latency_slo_ms", sa.Double(), nullable=False),
        sa.Column("categorical", _JSON, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("model", "version", name=op.f("pk_monitor_profiles")),
    )
    op.create_table(
        "control_intents",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("window_end", _time(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("decision_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("result", _JSON, nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_control_intents")),
    )
    op.create_index("ix_control_intents_model_status", "control_intents", ["model", "status"])
    op.create_index(
        "ix_control_intents_model_window_end", "control_intents", ["model", "window_end"]
    )
    op.create_table(
        "control_models",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("state", _JSON, nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("model", name=op.f("pk_control_models")),
    )


def downgrade() -> None:
    op.drop_table("control_models")
    op.drop_table("control_intents")
    op.drop_table("monitor_profiles")
