"""Initial schema: models, decisions, outcomes, posteriors, cost estimates, audit events.

Revision ID: 0001
Revises:
Create Date: 2026-11-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_models")),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("zone", sa.String(), nullable=False),
        sa.Column("mandatory", sa.String(), nullable=True),
        sa.Column("permitted", _JSON, nullable=False),
        sa.Column("safe_set", _JSON, nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("propensity", sa.Double(), nullable=False),
        sa.Column("context", sa.String(), nullable=False),
        sa.Column("mode", sa.String(), nullable=False),
        sa.Column("reasons", _JSON, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["model"], ["models.name"], name=op.f("fk_decisions_model_models")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    op.create_index("ix_decisions_model_at", "decisions", ["model", "at"])
    op.create_index("ix_decisions_at", "decisions", ["at"])
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("decision_id", sa.String(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("cost", sa.Double(), nullable=True),
        sa.Column("at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_outcomes_decision_id_decisions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_outcomes_decision_id")),
    )
    op.create_table(
        "posteriors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("context", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("alpha", sa.Double(), nullable=False),
        sa.Column("beta", sa.Double(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posteriors")),
        sa.UniqueConstraint("context", "action", name=op.f("uq_posteriors_context_action")),
    )
    op.create_table(
        "cost_estimates",
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("compute", sa.Double(), nullable=False),
        sa.Column("risk", sa.Double(), nullable=False),
        sa.Column("downtime", sa.Double(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("action", name=op.f("pk_cost_estimates")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("payload", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_model_at", "audit_events", ["model", "at"])
    op.create_index("ix_audit_events_at", "audit_events", ["at"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("cost_estimates")
    op.drop_table("posteriors")
    op.drop_table("outcomes")
    op.drop_table("decisions")
    op.drop_table("models")
