"""Alembic migrations of the safeheal store, applied by :func:`safeheal.store.open_store`."""
