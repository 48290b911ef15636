"""What only the embedded SQLite store does: pragmas, locks, files that vanish, where it lives.
Also how store locations are parsed, and what the store may import."""

from __future__ import annotations

import ast
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from safeheal.core import Action, Decision, State, Verdict
from safeheal.errors import ConfigError, StoreError
from safeheal.store import STORE_URL_ENV, SqlStore, default_store_url, open_store

STORE_SOURCE = Path(__file__).resolve().parents[1] / "src" / "safeheal" / "store"


def decision(n: int = 0) -> Decision:
    verdict = Verdict(None, frozenset({Action.NO_OP}), "healthy", ("all signals below limits",))
    return Decision(
        action=Action.NO_OP,
        verdict=verdict,
        safe_set=verdict.permitted,
        source="bandit",
        propensity=1.0,
        scores={},
        reasons=(),
        state=State(drift=0.0, accuracy_drop=0.0, anomaly_rate=0.0),
        context="healthy/low",
        id=f"decision-{n}",
    )


def test_pragmas(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.db", busy_timeout=1.5) as store, store._engine.connect() as conn:
        pragma = conn.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA foreign_keys").scalar() == 1
        assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert pragma("PRAGMA busy_timeout").scalar() == 1500


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    with (
        open_store(tmp_path / "s.db") as store,
        pytest.raises(StoreError, match="FOREIGN KEY"),
        store._write("testing") as conn,
    ):
        conn.exec_driver_sql(
            "INSERT INTO outcomes (decision_id, success, at) VALUES ('ghost', 1, '2026-01-01')"
        )


def test_paths_and_urls_name_the_same_store(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with open_store(path) as store:
        store.record_decision(decision())
    for same in (str(path), f"sqlite:///{path}", f"sqlite+pysqlite:///{path}"):
        with open_store(same) as store:
            assert store.count_decisions() == 1
            assert store.url == f"sqlite:///{path}"


def test_relative_paths_are_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("rel.db") as store:
        assert store.url == f"sqlite:///{tmp_path / 'rel.db'}"
    assert (tmp_path / "rel.db").is_file()


def test_in_memory_store() -> None:
    with open_store(":memory:") as store:
        store.record_decision(decision())
        assert store.count_decisions() == 1
        assert store.url == "sqlite://"
    with open_store("sqlite://") as store:
        assert store.count_decisions() == 0


def test_default_location_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(STORE_URL_ENV, raising=False)
    assert default_store_url() == f"sqlite:///{tmp_path / 'safeheal-data' / 'safeheal.db'}"
    with open_store() as store:  # creates safeheal-data/ for the default location only
        store.record_decision(decision())
    assert (tmp_path / "safeheal-data" / "safeheal.db").is_file()
    monkeypatch.setenv(STORE_URL_ENV, str(tmp_path / "elsewhere.db"))
    with open_store() as store:
        assert store.url == f"sqlite:///{tmp_path / 'elsewhere.db'}"
        assert store.count_decisions() == 0


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "s.db"
    with pytest.raises(StoreError, match=r"the directory .*/no/such/dir does not exist"):
        open_store(missing)
    assert not (tmp_path / "no").exists()


def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="it is a directory"):
        open_store(tmp_path)


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the tables you are looking for\n" * 200)
    with pytest.raises(StoreError, match="not a readable SQLite database") as info:
        open_store(path)
    assert str(path) in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_a_deleted_store_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with open_store(path) as store:
        store.record_decision(decision())
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        with pytest.raises(StoreError, match=r"is gone .* deleted or moved"):
            store.load_posteriors()
        with pytest.raises(StoreError, match="is gone"):
            store.record_decision(decision(2))


def test_a_replaced_store_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with open_store(path) as store:
        store.record_decision(decision())
        path.rename(tmp_path / "old.db")
        with open_store(path):
            pass  # a new, empty store at the same path
        with pytest.raises(StoreError, match="was replaced"):
            store.get_decision("decision-0")


def test_a_store_from_a_newer_safeheal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    open_store(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE safeheal_alembic_version SET version_num = '9999'")
    raw.close()
    with pytest.raises(StoreError, match=r"revision '9999'.*upgrade safeheal"):
        open_store(path)


def test_busy_timeout_must_be_sensible(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"`busy_timeout` .* >= 0; got -1"):
        open_store(tmp_path / "s.db", busy_timeout=-1)


def test_unsupported_urls_are_refused() -> None:
    with pytest.raises(StoreError, match="unsupported store URL 'mysql://u:\\*\\*\\*@h/db'"):
        open_store("mysql://u:secret@h/db")


def test_an_unreachable_postgres_server_is_a_clear_error_with_the_password_masked() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://ops:hunter2@127.0.0.1:{port}/safeheal"
    with pytest.raises(StoreError, match="cannot reach the PostgreSQL store") as info:
        open_store(url, busy_timeout=1)
    message = str(info.value)
    assert f"postgresql+psycopg://ops:***@127.0.0.1:{port}/safeheal" in message
    assert "hunter2" not in message
    assert "server is running" in message
    assert info.value.__cause__ is None


def test_the_store_imports_only_the_core_value_types() -> None:
    """design.md 1: the store knows the schema, not the loop."""
    allowed = ("safeheal.core", "safeheal.errors", "safeheal.store")
    for source in STORE_SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("safeheal"):
                    assert name.startswith(allowed), f"{source.name} imports {name}"


def test_importing_safeheal_does_not_import_sqlalchemy() -> None:
    code = "import sys, safeheal; print('sqlalchemy' in sys.modules, 'alembic' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(STORE_SOURCE.parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["False", "False"]


def test_the_migrations_ship_inside_the_package() -> None:
    from importlib.resources import files

    root = files("safeheal.store") / "migrations"
    assert (root / "env.py").is_file()
    assert (root / "script.py.mako").is_file()
    assert (root / "versions" / "0001_initial.py").is_file()


def test_repr_and_backend(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.db") as store:
        assert isinstance(store, SqlStore)
        assert store.backend == "sqlite"
        assert repr(store) == f"SqlStore('sqlite:///{tmp_path / 's.db'}')"
