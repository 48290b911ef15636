"""`safeheal run`: the controller on the real clock over the configured models.

Registry and store come from ``[serve]`` (the same helpers as ``safeheal serve``); the loop's
settings and each model's mode from ``[control]``. The models are those of
``[control.models]``, else ``serve.models``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from safeheal.cli._common import console, read_config, when
from safeheal.config import ControlMode, SafehealConfig
from safeheal.errors import ConfigError

if TYPE_CHECKING:
    from safeheal.control import Controller, WindowResult

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


def build_controller(config: SafehealConfig, *, source: str = "configuration") -> Controller:
    """A controller on the real clock over the models of ``config``; the caller closes it and
    its store (``controller.store``)."""
    from safeheal.cli.serve import open_registry
    from safeheal.control import Controller, RealClock
    from safeheal.heal import default_executors
    from safeheal.policy import HybridPolicy
    from safeheal.serve import traffic_from_registry
    from safeheal.store import open_store

    models = _models(config, source)
    executors = default_executors(config)  # a bad training function fails now
    store = open_store(config.serve.store)
    try:
        registry = open_registry(config.serve.registry, move_log=store)
        router = traffic_from_registry(registry, list(models), canaries=store)
        clock = RealClock()
        policy = HybridPolicy.from_config(config, store=store, clock=clock)
        return Controller(
            store,
            registry,
            router,
            policy,
            executors,
            clock,
            config,
            models=models,
        )
    except BaseException:
        store.close()
        raise


def results_table(results: Sequence[WindowResult], title: str) -> Table:
    """One row per model: what the controller saw and did in its window."""
    table = Table(title=title)
    for col in ("model", "mode", "status", "zone", "decided", "executed", "canary", "why"):
        table.add_column(col)
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
            f"{config.control.window_minutes:g} min; store {ctl.store.url}. Ctrl-C stops."
        )
        while True:
            began = time.monotonic()
            results = ctl.run_once()
            out.print(results_table(results, f"window ending {when(ctl.clock.now())} UTC"))
            time.sleep(max(0.0, period - (time.monotonic() - began)))
    except KeyboardInterrupt:
        out.print("safeheal run: stopped.")
    finally:
        ctl.close()
        ctl.store.close()
