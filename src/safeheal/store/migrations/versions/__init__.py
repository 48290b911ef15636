"""Alembic revisions of the safeheal store, oldest first (``0001_initial`` ...)."""
