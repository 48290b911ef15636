"""Alembic environment of the safeheal store.

Alembic runs this file with its context set up, from :func:`safeheal.store._migrate.upgrade`,
which hands over an open connection already inside a transaction. Imported any other way (for
example by doctest collection) it does nothing.
"""

from alembic import context

from safeheal.store._migrate import run_migrations

if hasattr(context, "config"):  # only while Alembic is running this environment
    run_migrations(context.config)
