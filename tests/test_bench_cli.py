"""`safeheal bench` as a user runs it: a subprocess, a tiny scenario file, and bad options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import safeheal
from safeheal.bench import SYSTEMS, EpisodeResult
from safeheal.cli.bench import run_bench
from safeheal.errors import ConfigError


def bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    src = str(Path(safeheal.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src, "COLUMNS": "200", "MLFLOW_DISABLE_TELEMETRY": "true"}
    return subprocess.run(
        [sys.executable, "-c", "from safeheal.cli import main; main()", "bench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


SCENARIOS = """
[[scenario]]
name = "fair-latency"
kind = "latency_increase"
dataset = "fair"
model = "knn"
severity = 0.7

[[scenario]]
name = "anes-outage"
kind = "dependency_failure"
dataset = "anes96"
model = "forest"
duration_minutes = 45
"""


def test_a_tiny_run_writes_every_episode(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SCENARIOS, encoding="utf-8")
    out = bench(
        "--scenarios", "s.toml", "--seeds", "1", "--jobs", "1", "--out", "res", cwd=tmp_path
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = (tmp_path / "res" / "episodes.jsonl").read_text(encoding="utf-8").splitlines()
    records = [EpisodeResult.from_dict(json.loads(line)) for line in lines]
    assert sorted((r.system, r.scenario) for r in records) == sorted(
        (s, n) for s in SYSTEMS for n in ("fair-latency", "anes-outage")
    )
    sens = [
        json.loads(x) for x in (tmp_path / "res" / "sensitivity.jsonl").read_text().splitlines()
    ]
    assert {r["variant"] for r in sens} == {
        "alpha=0.01",
        "alpha=0.05",
        "alpha=0.10",
        "beta=0.1",
        "beta=0.3",
        "beta=0.5",
        "epsilon=0.05",
        "epsilon=0.10",
        "epsilon=0.20",
    }
    meta = json.loads((tmp_path / "res" / "meta.json").read_text())
    assert meta["seeds"] == [0]
    assert [s["name"] for s in meta["scenarios"]] == [
        "fair-latency",
        "anes-outage",
    ]
    doc = json.loads((tmp_path / "res" / "results.json").read_text(encoding="utf-8"))
    assert (doc["scenarios"], doc["seeds"], set(doc["systems"])) == (2, 1, set(SYSTEMS))
    assert (tmp_path / "res" / "report.md").is_file()
    assert "Traceback" not in out.stderr
    # the report again from the episodes alone: nothing runs, the same results come out
    (tmp_path / "res" / "report.md").unlink()
    (tmp_path / "res" / "results.json").unlink()
    again = bench("--report-only", "--out", "res", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads((tmp_path / "res" / "results.json").read_text(encoding="utf-8")) == doc
    assert (tmp_path / "res" / "report.md").is_file()


def test_report_only_without_episodes_is_one_line(tmp_path: Path) -> None:
    out = bench("--report-only", "--out", "nothing-here", cwd=tmp_path)
    assert out.returncode == 2
    assert "no nothing-here/episodes.jsonl; run `safeheal bench --out nothing-here`" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--seeds", "0"], "--seeds must be a whole number >= 1; got 0"),
        (["--out", "file.txt"], "is a file; name a directory"),
    ],
)
def test_a_bad_option_is_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    out = bench(*args, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ")
    assert words in lines[0]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"jobs": 0}, "--jobs must be a whole number >= 1; got 0"),
        ({"seeds": -3}, "--seeds must be a whole number >= 1; got -3"),
        ({"scenarios": Path("nope.toml")}, "scenario file nope.toml does not exist"),
    ],
)
def test_options_are_checked_before_anything_runs(
    tmp_path: Path, kwargs: dict[str, object], words: str
) -> None:
    args: dict[str, object] = {
        "quick": True,
        "seeds": 1,
        "jobs": 1,
        "out": tmp_path / "out",
        "scenarios": None,
    }
    with pytest.raises(ConfigError, match=words):
        run_bench(**{**args, **kwargs})  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


METRICS = {
    "catastrophic_rate",
    "safety_violation_rate",
    "risk_containment",
    "mttr_minutes",
    "cost_savings",
    "sla_compliance",
    "episodes_to_95",
    "final_regret",
    "regret_variance",
    "action_distribution",
    "engineer_minutes_per_incident",
    "detection_precision",
    "detection_recall",
    "false_positive_rate",
    "detection_delay_minutes",
}


def test_quick_reproduces_every_table_of_the_papers_section_5(tmp_path: Path) -> None:
    """The issue's `safeheal bench --quick`: all 43 scenarios, every system, the report with
    each of the paper's tables, results.json in the issue's schema, and the plots."""
    out = bench("--quick", "--jobs", "2", "--out", "res", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    res = tmp_path / "res"
    doc = json.loads((res / "results.json").read_text(encoding="utf-8"))
    assert set(doc) == {"systems", "scenarios", "seeds"}
    assert (doc["scenarios"], doc["seeds"]) == (43, 2)
    assert set(doc["systems"]) == set(SYSTEMS)
    for name, metrics in doc["systems"].items():
        assert set(metrics) == METRICS, name
    # the metrics respond to what they measure: a 45-minute human response repairs slower
    systems = doc["systems"]
    assert systems["human"]["mttr_minutes"] > systems["hybrid"]["mttr_minutes"]
    assert systems["human"]["engineer_minutes_per_incident"] > 30
    report = (res / "report.md").read_text(encoding="utf-8")
    for heading in (
        "### 5.2.1",
        "### 5.2.2",
        "### 5.2.3",
        "### 5.3.1",
        "### 5.3.2",
        "### 5.3.3",
        "### 5.4.1",
        "### 5.4.2",
        "### 5.4.3",
        "### 5.6.1",
        "### 5.6.2",
        "### 5.6.3",
        "## 6.2 Detection quality",
        "## The rules-only system's expert rules",
        "## Definitions",
    ):
        assert heading in report, heading
    for png in ("learning_curves.png", "mttr.png", "cost.png", "actions.png"):
        assert (res / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert "Traceback" not in out.stderr
