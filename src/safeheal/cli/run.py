"""`safeheal run`: the controller on the real clock over the configured models.

Registry and store come from ``[serve]`` (the same helpers as ``safeheal serve``); the loop's
settings and each model's mode from ``[control]``. The models are those of
``[control.models]``, else ``serve.models``.
"""

from __future__ import annotations

import gc
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from safeheal.cli._common import console, read_config, when
from safeheal.config import ControlMode, SafehealConfig
from safeheal.errors import ConfigError

if TYPE_CHECKING:
    from safeheal.control import Clock, Controller, WindowResult

__all__ = ["build_controller", "results_table", "run_controller"]


def _models(config: SafehealConfig, source: str) -> dict[str, ControlMode]:
    c = config.control
    if c.models:
        return {name: m.mode for name, m in c.models.items()}
    if config.serve.models:
        return dict.fromkeys(config.serve.models, c.default_mode)
    raise ConfigError(
        f"{source}: no models to run; name them in [control.models.NAME] (with their mode) or "
        f"in `serve.models`"
    )


def default_owner() -> str:
    """This process's name among the controllers on a store: ``host:pid:random``."""
    import os
    import secrets
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def build_controller(
    config: SafehealConfig, *, source: str = "configuration", clock: Clock | None = None
) -> Controller:
    """A controller on the real clock (or ``clock``) over the models of ``config``, sharing the
    traffic split with the gateway on the same store and holding leases on its models (several
    ``safeheal run`` on one store share the fleet); the caller closes it."""
    from safeheal.control import Controller

    return Controller.from_config(
        config, models=_models(config, source), clock=clock, lease_owner=default_owner()
    )


def results_table(results: Sequence[WindowResult], title: str) -> Table:
    """One row per model: what the controller saw and did in its window."""
    table = Table(title=title)
    for col in ("model", "mode", "status", "zone", "decided", "executed", "canary"):
        table.add_column(col)
    # wrapped, never cut: the why may name what to do (e.g. the function that saves a profile)
    table.add_column("why", overflow="fold")
    for r in sorted(results, key=lambda r: r.model):
        d = r.decision
        canary = (
            "-" if r.canary is None else f"{r.canary.state.phase.value}, {r.canary.state.weight:g}%"
        )
        why = r.reasons[0] if r.reasons else (d.reasons[0] if d and d.reasons else "")
        table.add_row(
            r.model,
            r.mode,
            r.status,
            d.verdict.zone if d else "-",
            d.action.name if d else "-",
            r.executed.name if r.executed else "-",
            canary,
            why,
        )
    return table


def run_controller(config_path: Path, *, once: bool) -> None:
    """Run one window of every model (``once``), or every ``control.window_minutes`` until
    Ctrl-C."""
    config = read_config(config_path)
    ctl = build_controller(config, source=str(config_path))
    # Everything imported and built so far lives as long as the process: move it out of the
    # collector's sight, so that a full collection during a window scans only the window's own
    # objects (with MLflow, SQLAlchemy and NumPy loaded it is otherwise ~0.2 s each time).
    gc.collect()
    gc.freeze()
    out = console()
    period = config.control.window_minutes * 60.0
    try:
        if once:
            results = ctl.run_once()
            out.print(
                results_table(results, f"safeheal run: one window, {when(ctl.clock.now())} UTC")
            )
            return
        out.print(
            f"safeheal run: {', '.join(sorted(ctl.models))}; a window every "
            f"{config.control.window_minutes:g} min; store {ctl.store.url}; controller "
            f"{ctl.lease_owner} (runs the models it holds a lease on). Ctrl-C stops."
        )
        signal.signal(signal.SIGTERM, _stop)
        while True:
            began = time.monotonic()
            results = ctl.run_once()
            title = (
                f"window ending {when(ctl.clock.now())} UTC: {len(ctl.held)} of "
                f"{len(ctl.models)} models leased to {ctl.lease_owner}"
            )
            out.print(results_table(results, title))
            time.sleep(max(0.0, period - (time.monotonic() - began)))
    except KeyboardInterrupt:
        out.print("safeheal run: stopped; its leases are released.")
    finally:
        ctl.close()
        ctl.store.close()


def _stop(signum: int, frame: object) -> None:
    """SIGTERM stops like Ctrl-C: the leases are given up, so the others take over at once."""
    raise KeyboardInterrupt
