"""The fleet: the traffic split shared by gateway and controllers, and controller leases.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "traffic_splits",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("arms", _JSON, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("model", name=op.f("pk_traffic_splits")),
    )
    op.create_table(
        "control_leases",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.Column("acquired_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("model", name=op.f("pk_control_leases")),
    )
    op.create_index("ix_control_leases_owner", "control_leases", ["owner"])
    op.create_table(
        "control_owners",
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.Column("started_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_control_owners")),
    )


def downgrade() -> None:
    op.drop_table("control_owners")
    op.drop_index("ix_control_leases_owner", table_name="control_leases")
    op.drop_table("control_leases")
    op.drop_table("traffic_splits")
