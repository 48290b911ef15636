"""The healing layer's tables: canaries, escalations and the history of registry roles.

They join the store's one :data:`~safeheal.store._schema.metadata` (so the migration test compares
them too) and are created by the migration ``0003_heal``.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from safeheal.store._schema import Document, UTCDateTime, metadata

canaries = Table(
    "canaries",
    metadata,
    Column("id", String, primary_key=True),
    Column("model", String, nullable=False),
    # The action that started the canary (RETRAIN, FALLBACK): what promoting it means.
    Column("action", String, nullable=False),
    Column("candidate_version", Integer, nullable=False),
    Column("incumbent_version", Integer, nullable=True),
    Column("decision_id", String, nullable=True),
    Column("phase", String, nullable=False),
    # CanaryState.to_dict(): the source of truth for resuming.
    Column("state", Document, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_canaries_model_phase", "model", "phase"),
)

escalations = Table(
    "escalations",
    metadata,
    Column("id", String, primary_key=True),
    Column("model", String, nullable=False),
    Column("decision_id", String, nullable=True),
    Column("status", String, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("answered_at", UTCDateTime, nullable=True),
    Column("actor", String, nullable=True),
    Column("note", Text, nullable=True),
    Column("payload", Document, nullable=False),
    Column("notify_error", Text, nullable=True),
    Index("ix_escalations_status_created_at", "status", "created_at"),
)

role_moves = Table(
    "role_moves",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String, nullable=False),
    Column("role", String, nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("actor", String, nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_role_moves_model_role_at", "model", "role", "at"),
)
