"""Where the store lives (URL or path) and how to talk to it: engines, pragmas, error messages."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from safeheal.errors import StoreError

#: Environment variable naming the default store (a path or a database URL).
STORE_URL_ENV = "SAFEHEAL_STORE_URL"
#: Where the store lives when neither an argument nor ``SAFEHEAL_STORE_URL`` says otherwise.
DEFAULT_STORE_PATH = Path("safeheal-data") / "safeheal.db"

Backend = Literal["sqlite", "postgresql"]

_MEMORY = (":memory:", "")


def default_store_url() -> str:
    """The store used when none is named: ``$SAFEHEAL_STORE_URL``, else a SQLite file
    ``safeheal-data/safeheal.db`` under the current directory (created when first used).
    """
    configured = os.environ.get(STORE_URL_ENV, "").strip()
    if configured:
        return configured
    return "sqlite:///" + str(Path.cwd() / DEFAULT_STORE_PATH)


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved store location."""

    url: URL
    backend: Backend
    #: The SQLite file, or None for PostgreSQL and in-memory SQLite.
    path: Path | None

    @property
    def display(self) -> str:
        """The URL with any password masked, for messages."""
        return self.url.render_as_string(hide_password=True)


def resolve(target: str | os.PathLike[str] | None) -> Target:
    """Turn what the user gave into a :class:`Target`; refuse what the store cannot open.

    >>> resolve("postgresql://ops:s3cret@db.internal/safeheal").display
    'postgresql+psycopg://ops:***@db.internal/safeheal'
    >>> resolve("/tmp/store.db").url.render_as_string()
    'sqlite:////tmp/store.db'
    >>> resolve("/no/such/dir/store.db")
    Traceback (most recent call last):
    ...
    safeheal.errors.StoreError: cannot open the store /no/such/dir/store.db: the directory \
/no/such/dir does not exist; create it first, or give another path
    >>> resolve("mysql://db/x")
    Traceback (most recent call last):
    ...
    safeheal.errors.StoreError: unsupported store URL 'mysql://db/x': expected a file path, \
sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE
    """
    created_default = target is None
    if target is None:
        target = default_store_url()
    if isinstance(target, os.PathLike) or "://" not in str(target):
        raw = os.fspath(target)
        if raw in _MEMORY:
            return Target(make_url("sqlite://"), "sqlite", None)
        path = Path(raw).expanduser().absolute()
        return _sqlite_file(URL.create("sqlite", database=str(path)), path, created_default)
    text = str(target)
    try:
        url = make_url(text)
    except exc.ArgumentError:
        raise StoreError(f"cannot parse the store URL {_mask(text)!r}") from None
    driver = url.drivername
    if driver in ("postgresql", "postgres", "postgresql+psycopg"):
        return Target(url.set(drivername="postgresql+psycopg"), "postgresql", None)
    if driver in ("sqlite", "sqlite+pysqlite"):
        url = url.set(drivername="sqlite")
        if url.database in (None, *_MEMORY):
            return Target(make_url("sqlite://"), "sqlite", None)
        path = Path(url.database).expanduser().absolute()
        return _sqlite_file(url.set(database=str(path)), path, created_default)
    raise StoreError(
        f"unsupported store URL {_mask(text)!r}: expected a file path, sqlite:///PATH or "
        "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
    )


def _mask(text: str) -> str:
    try:
        return make_url(text).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<unparseable URL>"


def _sqlite_file(url: URL, path: Path, create_parent: bool) -> Target:
    parent = path.parent
    if create_parent:
        parent.mkdir(parents=True, exist_ok=True)
    if not parent.is_dir():
        raise StoreError(
            f"cannot open the store {path}: the directory {parent} does not exist; "
            "create it first, or give another path"
        )
    if path.is_dir():
        raise StoreError(f"cannot open the store {path}: it is a directory; give a file path")
    return Target(url, "sqlite", path)


def make_engine(target: Target, *, busy_timeout: float) -> Engine:
    """An engine for ``target``; on SQLite: WAL, foreign keys on, a busy timeout, and explicit
    ``BEGIN`` / ``BEGIN IMMEDIATE`` so that a write transaction takes the lock up front."""
    timeout_ms = max(0, round(busy_timeout * 1000))
    if target.backend == "postgresql":
        pg = create_engine(
            target.url,
            pool_pre_ping=True,  # a restarted server costs a reconnect, not an error
            connect_args={"connect_timeout": 10},
        )

        @event.listens_for(pg, "connect")
        def _on_pg_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            # Like SQLite's busy timeout: wait this long for another transaction's locks, then fail.
            # (0 would mean "wait forever" to PostgreSQL, so 0 becomes 1 ms.)
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET lock_timeout = {max(1, timeout_ms)}")
            dbapi_connection.commit()

        return pg
    if target.path is None:
        engine = create_engine(
            target.url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = create_engine(target.url, connect_args={"timeout": busy_timeout})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # sqlite3 would start transactions lazily (only before DML); SQLAlchemy's begin event
        # below does it instead. See SQLAlchemy's "Transactions with SQLite and the sqlite3 driver".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("safeheal_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@contextmanager
def translated(target: Target, doing: str, *, busy_timeout: float) -> Iterator[None]:
    """Turn database errors raised inside the block into a :class:`StoreError` that names the
    store (password masked), what was being done and what to do about it."""
    try:
        yield
    except exc.SQLAlchemyError as error:
        raise StoreError(describe(target, doing, error, busy_timeout=busy_timeout)) from None


def describe(target: Target, doing: str, error: BaseException, *, busy_timeout: float) -> str:
    """A one-paragraph explanation of ``error`` for a person."""
    original = getattr(error, "orig", None) or error
    detail = (str(original).strip().splitlines() or [type(original).__name__])[0]
    if target.url.password:
        detail = detail.replace(str(target.url.password), "***")
    where = target.display
    low = detail.lower()
    sqlstate = getattr(original, "sqlstate", None)  # PostgreSQL's error code (psycopg)
    if (target.backend == "sqlite" and ("locked" in low or "busy" in low)) or sqlstate == "55P03":
        return (
            f"the store {where} is locked: another connection held a lock it needs for more "
            f"than the busy timeout ({busy_timeout:g} s) while {doing}. Retry later or open the "
            "store with a longer busy_timeout; if no other safeheal process is running, look for "
            "one that hung holding the lock"
        )
    if target.backend == "sqlite":
        if "not a database" in low or "malformed" in low:
            return (
                f"the store {where} is not a readable SQLite database ({detail}) while {doing}. "
                "Restore it from a backup, or move it aside to start a new store"
            )
        if "unable to open" in low or "readonly" in low or "read-only" in low:
            return (
                f"cannot open or write the store {where} ({detail}) while {doing}. Check that "
                "the file and its directory exist and are readable and writable"
            )
        if "no such table" in low:
            return (
                f"the store {where} has no safeheal tables ({detail}) while {doing}: the file "
                "was replaced or deleted after it was opened. Reopen the store"
            )
    lost = getattr(error, "connection_invalidated", False)
    connection_problem = sqlstate is None or sqlstate.startswith(("08", "57P"))
    if (
        target.backend == "postgresql"
        and isinstance(error, exc.OperationalError | exc.InterfaceError)
        and (lost or connection_problem)
    ):
        return (
            f"cannot reach the PostgreSQL store {where} ({detail}) while {doing}. Check that the "
            "server is running and accepts connections, and that the URL, user and password are "
            "right"
        )
    return f"the store {where} failed while {doing}: {detail}"
