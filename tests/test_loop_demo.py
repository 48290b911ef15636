"""`safeheal demo`: the closed loop end to end (real MLflow, SQLite, gateway over HTTP, controller
on a simulated clock), run as a user runs it, its summary read as JSON and its report opened."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import safeheal

KINDS = ["covariate shift", "concept drift", "latency", "anomalous inputs"]
FIELDS = {"kind", "started_at", "detected_at", "action", "healed_at", "mttr_minutes", "healed"}
PNG = b"\x89PNG\r\n\x1a\n"


def _safeheal(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("safeheal")
    # the code under test, whatever the working directory the command runs in
    src = str(Path(safeheal.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "COLUMNS": "120", "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": path}
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd
    )


def test_demo_json_heals_every_incident_and_writes_the_report(tmp_path: Path) -> None:
    out = _safeheal("demo", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)  # stdout holds the JSON and nothing else
    assert set(summary) == {"incidents", "sla_compliance", "catastrophic_failures", "decisions"}
    assert [i["kind"] for i in summary["incidents"]] == KINDS
    for incident in summary["incidents"]:
        assert set(incident) == FIELDS
        assert incident["healed"] is True, incident
        assert incident["started_at"] < incident["detected_at"] <= incident["healed_at"]
        assert incident["mttr_minutes"] == incident["healed_at"] - incident["started_at"]
        assert incident["action"]
    by_kind = {i["kind"]: i for i in summary["incidents"]}
    # the paper's case study: fallback first, then a retrain on fresh data through a canary
    assert "RETRAIN" in by_kind["concept drift"]["action"]
    assert by_kind["latency"]["action"] == "FALLBACK"
    assert summary["catastrophic_failures"] == 0
    assert 0.75 <= summary["sla_compliance"] <= 1.0
    assert isinstance(summary["decisions"], int)
    assert summary["decisions"] > 0
    # the report: the default path under the current directory, one self-contained file
    report = tmp_path / "safeheal-demo" / "report.html"
    assert report.is_file()
    assert str(report) in out.stderr
    text = report.read_text(encoding="utf-8")
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    assert len(images) == 3
    assert all(base64.b64decode(b).startswith(PNG) for b in images)
    assert not re.search(r"(?:src|href)=['\"](?!data:)", text)  # nothing fetched from elsewhere
    assert "http://" not in text
    assert "https://" not in text
    for kind in KINDS:
        assert kind in text
    assert "fallback-failing" in text  # the retrain's zone, with its reasons
    assert "a timed probe of it" in text  # the restore's evidence
    # window by window: (traffic, done) from the decisions table
    rows = re.findall(
        r"<tr><td class='num'>w\d\d</td><td class='num'>[^<]*</td><td>([^<]*)</td>"
        r"<td class='num'>[^<]*</td><td class='\w+'>[^<]*</td><td>[^<]*</td><td>([^<(]*)",
        text,
    )
    assert len(rows) == 28
    done = [d.strip() for _, d in rows]
    # one FALLBACK per incident that needs one, no flapping back and forth
    assert done.count("FALLBACK") == 4
    assert done.count("RETRAIN") == 1
    # after the latency incident the champion comes back only once its host is fast again
    back = [t for t, d in rows if d.startswith("RESTORE")]
    assert "latency" not in back
    assert "after latency" in back


def test_demo_help_shows_the_closed_loop_and_hides_heal(tmp_path: Path) -> None:
    out = _safeheal("demo", "--help", cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--signals" in out.stdout
    assert "--out" in out.stdout
    assert "--json" in out.stdout
    assert "--heal" not in out.stdout


def test_signals_demo_is_reachable_and_heal_is_still_accepted(tmp_path: Path) -> None:
    out = _safeheal("demo", "--signals", "--heal", "--window", "100", cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Signals per window" in out.stdout
    assert not (tmp_path / "safeheal-demo").exists()


def test_json_is_for_the_closed_loop(tmp_path: Path) -> None:
    out = _safeheal("demo", "--signals", "--json", cwd=tmp_path, timeout=60)
    assert out.returncode != 0
    assert "--signals" in out.stderr


def test_a_report_directory_that_cannot_be_written_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = _safeheal("demo", "--json", "--out", str(blocker / "sub"), cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith("error: cannot write the demo report to ")
    assert "Traceback" not in out.stderr
