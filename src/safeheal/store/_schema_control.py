"""The controller's tables: monitoring profiles, intents (write-ahead records of actions) and
per-model controller state.

They join the store's one :data:`~safeheal.store._schema.metadata` and are created by the
migration ``0004_control``.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Double,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from safeheal.store._schema import Document, UTCDateTime, metadata

#: What a model version was healthy on: the reference inputs and the baseline accuracy that the
#: controller's Monitor for (model, version) is built from.
monitor_profiles = Table(
    "monitor_profiles",
    metadata,
    Column("model", String, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("feature_names", Document, nullable=False),
    Column("n_rows", Integer, nullable=False),
    # n_rows x len(feature_names) float64, little-endian, row-major (NumPy's tobytes).
    Column("reference", LargeBinary, nullable=False),
    Column("baseline_accuracy", Double, nullable=False),
    Column("latency_slo_ms", Double, nullable=False),
    Column("categorical", Document, nullable=False),
    Column("source", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

#: One row per action the controller meant to take, written before the action runs; the
#: idempotency key ``model/window_end/ACTION`` is the primary key.
control_intents = Table(
    "control_intents",
    metadata,
    Column("key", String, primary_key=True),
    Column("model", String, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("action", String, nullable=False),
    Column("decision_id", String, nullable=True),
    # intent → applied → done, or intent → abandoned (a crash before the effect)
    Column("status", String, nullable=False),
    Column("payload", Document, nullable=False),
    Column("result", Document, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_control_intents_model_status", "model", "status"),
    Index("ix_control_intents_model_window_end", "model", "window_end"),
)

#: The controller's memory of each model between windows (JSON): where the last window ended,
#: the heal awaiting validation, consecutive failures, the escalation it waits on.
control_models = Table(
    "control_models",
    metadata,
    Column("model", String, primary_key=True),
    Column("state", Document, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
