"""What the commands share: reading the configuration, opening the store, printing tables."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from safeheal.config import SafehealConfig, load_config
from safeheal.errors import ConfigError, StoreError
from safeheal.store import SqlStore, open_store

#: The configuration file every command reads unless told otherwise.
DEFAULT_CONFIG = Path("safeheal.toml")


def read_config(path: Path) -> SafehealConfig:
    """Load ``path``; a missing file says how to make one."""
    if not path.exists():
        raise ConfigError(
            f"configuration file {path} does not exist; `safeheal init` writes one with every "
            f"key and its default, or name another with --config"
        )
    return load_config(path)


def open_existing_store(config: SafehealConfig) -> SqlStore:
    """The store of ``[serve] store``, for reading: a SQLite file that is not there yet is an
    error (opening it would create an empty store and show nothing)."""
    from safeheal.store._engine import resolve

    target = resolve(config.serve.store)
    if target.path is not None and not target.path.exists():
        raise StoreError(
            f"cannot open the store {target.path}: the file does not exist; `safeheal run` or "
            f"`safeheal serve` creates it, or set `serve.store` to the store you use"
        )
    return open_store(config.serve.store)


def console() -> Console:
    """A console for standard output (plain text when it is not a terminal)."""
    return Console(highlight=False, soft_wrap=False)


def when(t: datetime | None) -> str:
    """A time as a person reads it: UTC, to the second."""
    if t is None:
        return "-"
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def pct(x: float) -> str:
    return f"{x:.0%}" if x == round(x, 2) else f"{x:.1%}"
