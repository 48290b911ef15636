"""Alembic, driven from code: no ``alembic.ini``; the scripts ship inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from safeheal.store._schema import VERSION_TABLE, metadata

#: Where the migration scripts live: ``safeheal/store/migrations`` in the installed package.
SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"

# Any constant will do: serialises concurrent first opens of one PostgreSQL database.
_PG_LOCK_KEY = 0x5AFE_4EA1


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic :class:`~alembic.config.Config` for the store, built in code.

    With ``connection``, migrations run on it (inside its transaction) instead of opening their own.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest schema revision this version of safeheal knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a first revision
        raise RuntimeError("the safeheal store ships no migration")
    return head


def known_revisions() -> frozenset[str]:
    """Every schema revision this version of safeheal ships."""
    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(s.revision for s in script.walk_revisions())


def current_revision(connection: Connection) -> str | None:
    """The schema revision the database is at, or None for an empty database."""
    ctx = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def upgrade(connection: Connection) -> None:
    """Bring the database behind ``connection`` to the newest revision (idempotent).

    The caller opens the transaction (a write transaction on SQLite); on PostgreSQL an advisory lock
    makes a second process that opens the same new database wait and then find it migrated.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    command.upgrade(alembic_config(connection), "head")


def run_migrations(config: Config) -> None:
    """Body of ``migrations/env.py``: migrate online, on the connection in ``config``."""
    connection = config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "the safeheal store migrates itself when opened (safeheal.store.open_store); "
            "running Alembic from the command line is not supported"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
