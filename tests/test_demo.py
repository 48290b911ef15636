"""The signals-only demo (`safeheal demo --signals`) shows healthy windows clean and each
injected problem caught."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from safeheal.cli.demo import run_demo


def test_demo_detects_each_phase() -> None:
    console = Console(file=io.StringIO(), width=120)
    windows = run_demo(seed=7, console=console)
    by_phase: dict[str, list] = {}
    for w in windows:
        by_phase.setdefault(w.phase, []).append(w)
    assert all(w.drift == 0.0 and w.findings == () for w in by_phase["healthy"])
    assert all(w.drift > 0.2 and "yrs_married" in w.drifted for w in by_phase["covariate shift"])
    for w in by_phase["concept drift"]:
        assert w.accuracy_drop > 0.1
        assert w.drift == 0.0  # the inputs look healthy; only the labels changed
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Signals per window" in text
    assert "Accuracy fell" in text


def test_signals_demo_command_runs_end_to_end() -> None:
    exe = Path(sys.executable).with_name("safeheal")
    env = {**os.environ, "COLUMNS": "120"}
    out = subprocess.run(
        [str(exe), "demo", "--signals"], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "covariate shift" in out.stdout
    assert "drifted" in out.stdout
