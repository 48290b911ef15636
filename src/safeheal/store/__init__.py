"""The store: decisions, outcomes, posteriors, cost estimates and the audit trail, kept in SQL.

An embedded SQLite file (WAL mode) by default; PostgreSQL when given a ``postgresql+psycopg://``
URL, so that several controller processes can share one fleet. The schema is managed by Alembic
migrations that ship inside the package and run when a store is opened.

>>> from safeheal.store import open_store
>>> with open_store(":memory:") as store:
...     store.load_posteriors()
[]

This package imports SQLAlchemy and Alembic; ``import safeheal`` does not import it.
"""

from safeheal.store._control import IntentRecord, IntentStatus, ProfileRecord
from safeheal.store._engine import DEFAULT_STORE_PATH, STORE_URL_ENV, default_store_url
from safeheal.store._fleet import LeaseRecord, SplitRecord
from safeheal.store._inference import LoggedFeedback, LoggedInference, SqlInferenceSink
from safeheal.store._sql import DEFAULT_BUSY_TIMEOUT, AuditEvent, SqlStore, open_store

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "DEFAULT_STORE_PATH",
    "STORE_URL_ENV",
    "AuditEvent",
    "IntentRecord",
    "IntentStatus",
    "LeaseRecord",
    "LoggedFeedback",
    "LoggedInference",
    "ProfileRecord",
    "SplitRecord",
    "SqlInferenceSink",
    "SqlStore",
    "default_store_url",
    "open_store",
]
