"""The store's tables (SQLAlchemy Core), shared by the code and the Alembic migrations.

The Alembic revisions under ``migrations/versions`` create exactly these tables; a test compares
the migrated database with this metadata on every backend, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

#: Alembic's bookkeeping table; not ``alembic_version``, so that the store can share a database
#: with another Alembic-managed application (MLflow's tracking store uses ``alembic_version``).
VERSION_TABLE = "safeheal_alembic_version"

#: Deterministic constraint names, so later migrations can alter them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive datetime is taken to be UTC already.

    >>> from datetime import timedelta, timezone
    >>> utc(datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))).isoformat()
    '2024-05-01T12:00:00+00:00'
    >>> utc(datetime(2024, 5, 1, 12, 0)).isoformat()
    '2024-05-01T12:00:00+00:00'
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and read back as an aware UTC datetime.

    PostgreSQL keeps ``timestamptz``; SQLite keeps ISO text without an offset (always UTC), which
    sorts chronologically.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - both drivers return datetimes
            value = datetime.fromisoformat(str(value))
        return utc(value)


#: JSON documents: ``jsonb`` on PostgreSQL (indexable, queryable), JSON text on SQLite.
Document = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData(naming_convention=NAMING)

models = Table(
    "models",
    metadata,
    Column("name", String, primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", String, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("model", String, ForeignKey("models.name"), nullable=True),
    Column("action", String, nullable=False),
    Column("zone", String, nullable=False),
    Column("mandatory", String, nullable=True),
    Column("permitted", Document, nullable=False),
    Column("safe_set", Document, nullable=False),
    Column("source", String, nullable=False),
    Column("propensity", Double, nullable=False),
    Column("context", String, nullable=False),
    Column("mode", String, nullable=False),
    Column("reasons", Document, nullable=False),
    # The whole decision as Decision.to_json() wrote it: the source of truth for reloading.
    Column("body", Text, nullable=False),
    Index("ix_decisions_model_at", "model", "at"),
    Index("ix_decisions_at", "at"),
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", String, ForeignKey("decisions.id"), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("cost", Double, nullable=True),
    Column("at", UTCDateTime, nullable=False),
    UniqueConstraint("decision_id"),
)

posteriors = Table(
    "posteriors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("context", String, nullable=False),
    Column("action", String, nullable=False),
    Column("alpha", Double, nullable=False),
    Column("beta", Double, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("context", "action"),
)

cost_estimates = Table(
    "cost_estimates",
    metadata,
    Column("action", String, primary_key=True),
    Column("compute", Double, nullable=False),
    Column("risk", Double, nullable=False),
    Column("downtime", Double, nullable=False),
    Column("n", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String, nullable=False),
    Column("model", String, nullable=True),
    Column("payload", Document, nullable=False),
    Index("ix_audit_events_model_at", "model", "at"),
    Index("ix_audit_events_at", "at"),
)


# -- the inference log (written by the serving gateway through SqlInferenceSink) ----------------

inferences = Table(
    "inferences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String, nullable=False),
    Column("model", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("latency_ms", Double, nullable=False),
    Column("error", Text, nullable=True),
    Column("n_rows", Integer, nullable=False),
    Column("feature_names", Document, nullable=False),
    # n_rows x len(feature_names) float64, little-endian, row-major (NumPy's tobytes); NULL when
    # the request failed before its rows were read.
    Column("features", LargeBinary, nullable=True),
    # One JSON value per row; NULL when the model failed.
    Column("predictions", Document, nullable=True),
    Index("ix_inferences_model_at", "model", "at"),
    Index("ix_inferences_request_id", "request_id"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String, nullable=False),
    Column("model", String, nullable=False),
    Column("row", Integer, nullable=False),
    Column("label", Document, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_feedback_model_at", "model", "at"),
    Index("ix_feedback_request_id_row", "request_id", "row"),
)
