"""`safeheal demo --heal --json`: the closed loop end to end (real MLflow, SQLite, gateway over
HTTP, controller on a simulated clock), its summary read as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

KINDS = {"healthy", "covariate shift", "concept drift", "latency", "anomalous inputs"}
FIELDS = {"kind", "started_at", "detected_at", "action", "healed_at", "mttr_minutes", "healed"}


def test_demo_heal_json_reports_every_incident() -> None:
    exe = Path(sys.executable).with_name("safeheal")
    env = {**os.environ, "COLUMNS": "120", "MLFLOW_DISABLE_TELEMETRY": "true"}
    out = subprocess.run(
        [str(exe), "demo", "--heal", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert set(summary) == {"incidents", "sla_compliance", "catastrophic_failures", "decisions"}
    assert 0.0 <= summary["sla_compliance"] <= 1.0
    assert isinstance(summary["catastrophic_failures"], int)
    assert summary["catastrophic_failures"] >= 0
    assert isinstance(summary["decisions"], int)
    assert summary["decisions"] > 0
    incidents = {i["kind"]: i for i in summary["incidents"]}
    assert set(incidents) == KINDS
    for incident in summary["incidents"]:
        assert set(incident) == FIELDS
        assert isinstance(incident["healed"], bool)
        assert incident["healed"] == (incident["healed_at"] is not None)
    healthy = incidents["healthy"]
    assert healthy["action"] is None
    assert healthy["healed"] is False
    assert incidents["covariate shift"]["detected_at"] is not None
    assert incidents["concept drift"]["detected_at"] is not None


def test_json_needs_heal() -> None:
    exe = Path(sys.executable).with_name("safeheal")
    out = subprocess.run([str(exe), "demo", "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "--heal" in out.stderr
