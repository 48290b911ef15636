"""`safeheal init`, `status`, `audit`, `explain`, `approve` and `run --once`, run as the real
command in a subprocess against a real SQLite store (decisions recorded by a real HybridPolicy)
and a real MLflow registry in a temporary directory; and every mistake as one line, exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import safeheal
from safeheal.cli.init import render_config
from safeheal.config import SafehealConfig, load_config, parse_config
from safeheal.core import State
from safeheal.core.records import Escalation
from safeheal.heal import MlflowRegistry
from safeheal.policy import HybridPolicy
from safeheal.store import open_store

DATA = load_breast_cancer()
NAMES = [str(n) for n in DATA.feature_names]


@dataclass(frozen=True)
class World:
    root: Path
    config: Path
    store: Path
    #: Decision ids by zone: healthy, critical (envelope), degraded (bandit, with an outcome).
    ids: dict[str, str]


def command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("safeheal")), *args]


def environment() -> dict[str, str]:
    src = str(Path(safeheal.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "MLFLOW_DISABLE_TELEMETRY": "true", "COLUMNS": "200"}
    env.pop("SAFEHEAL_STORE_URL", None)
    return env


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args), cwd=cwd, env=environment(), capture_output=True, text=True, timeout=120
    )


def one_error(out: subprocess.CompletedProcess[str]) -> str:
    """The single `error: …` line of a failed command (exit 2, no stack trace)."""
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: "), out.stderr
    return lines[0]


def write_config(path: Path, store: Path | str, registry: Path, models: list[str]) -> Path:
    path.write_text(
        "\n".join(
            [
                "[serve]",
                f"models = {json.dumps(models)}",
                f"registry = {json.dumps(str(registry))}",
                f"store = {json.dumps(str(store))}",
                "[serve.feature_names]",
                f"cancer = {json.dumps(NAMES)}",
                "[control.models.cancer]",
                'mode = "canary"',
                "",
            ]
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("cli")
    registry = MlflowRegistry.local(root / "mlflow")
    registry.register(
        "cancer",
        make_pipeline(StandardScaler(), LogisticRegression()).fit(DATA.data, DATA.target),
        role="champion",
    )
    db = root / "safeheal.db"
    ids: dict[str, str] = {}
    with open_store(db) as store:
        policy = HybridPolicy.from_config(SafehealConfig(), store=store, seed=1, model="cancer")
        for zone, state in [
            ("healthy", State(drift=0.01, accuracy_drop=0.0, anomaly_rate=0.0)),
            ("critical", State(drift=0.3, accuracy_drop=0.05, anomaly_rate=0.01)),
            ("degraded", State(drift=0.05, accuracy_drop=0.12, anomaly_rate=0.0)),
        ]:
            decision = policy.decide(state)
            assert decision.verdict.zone == zone
            ids[zone] = decision.id
        policy.update(decision, True, cost=0.2)  # the degraded decision's heal worked
        for eid in ("esc-pending", "esc-approve", "esc-reject"):
            store.record_escalation(
                Escalation(
                    id=eid,
                    model="cancer",
                    decision_id=ids["critical"],
                    status="pending",
                    created_at=datetime.now(UTC),
                    payload={"reason": "novel critical state"},
                )
            )
        store.record_event("fallback", {"to_version": 1}, model="cancer")
    config = write_config(root / "safeheal.toml", db, root / "mlflow", ["cancer", "spare"])
    return World(root, config, db, ids)


# -- init ----------------------------------------------------------------------------------------


def test_init_writes_every_key_at_its_default_and_the_file_loads(tmp_path: Path) -> None:
    out = cli("init", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "wrote safeheal.toml" in out.stdout
    text = (tmp_path / "safeheal.toml").read_text(encoding="utf-8")
    assert load_config(tmp_path / "safeheal.toml") == SafehealConfig()
    # every section, and the paper's numbers with their comments
    data = tomllib.loads(text)
    assert set(data) == set(SafehealConfig.model_fields)
    assert "fallback_drift = 0.2  # critical (FALLBACK) if the drift score d exceeds this" in text
    assert "lambda = 10.0" in text
    assert "traffic_fraction = 0.01" in text
    assert '# webhook_url = "https://ops.example.com/hooks/safeheal"' in text
    previous = ""
    for line in text.splitlines():  # every key line carries or follows a comment
        if "=" in line and not line.startswith("#"):
            assert "#" in line or previous.startswith("#"), line
        previous = line


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "mine.toml"
    target.write_text("[sla]\nthreshold = 0.9\n", encoding="utf-8")
    error = one_error(cli("init", "--path", str(target), cwd=tmp_path))
    assert "already exists; pass --force" in error
    assert target.read_text(encoding="utf-8") == "[sla]\nthreshold = 0.9\n"
    assert cli("init", "--path", str(target), "--force", cwd=tmp_path).returncode == 0
    assert load_config(target).sla.threshold == 0.95


def test_the_rendered_defaults_follow_the_code() -> None:
    changed = parse_config({"bandit": {"lambda": 4.0}, "control": {"window_minutes": 5.0}})
    assert parse_config(tomllib.loads(render_config(changed))) == changed


# -- reading the store ---------------------------------------------------------------------------


def test_status_shows_each_model_zone_mode_and_escalations(world: World) -> None:
    out = cli("status", "--config", str(world.config), cwd=world.root)
    assert out.returncode == 0, out.stderr
    rows = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if "│" in line}
    cancer, spare = rows["cancer"], rows["spare"]
    assert "degraded" in cancer
    assert "ROLLBACK" in cancer
    assert "canary" in cancer  # [control.models.cancer] mode
    assert "esc-pending" in cancer
    assert "no decision yet" in spare
    assert "shadow" in spare
    assert "none" in spare


def test_audit_is_a_timeline_newest_last(world: World) -> None:
    out = cli("audit", "cancer", "--config", str(world.config), cwd=world.root)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "newest last" in text
    for zone in ("healthy", "critical", "degraded"):
        assert world.ids[zone] in text
    assert text.index(world.ids["healthy"]) < text.index(world.ids["critical"])
    assert "critical: drift 0.3 > 0.20" in text  # the one-line reason
    assert "the heal succeeded, cost 0.20" in text  # the outcome
    assert "fallback" in text
    assert "to_version=1" in text
    assert "envelope" in text
    assert "bandit" in text
    limited = cli("audit", "cancer", "--limit", "2", "--config", str(world.config), cwd=world.root)
    assert "the last 2 of" in limited.stdout
    assert world.ids["healthy"] not in limited.stdout


def test_explain_a_forced_decision(world: World) -> None:
    out = cli("explain", world.ids["critical"], "--config", str(world.config), cwd=world.root)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Chosen action: FALLBACK, by the envelope." in text
    assert "critical above 0.2" in text  # drift against its threshold
    assert "Mandatory action: FALLBACK" in text
    assert "Because critical: drift 0.3 > 0.20" in text
    assert "No posterior draws" in text
    assert "Propensity: 1.0000" in text
    assert "Outcome: not known yet." in text


def test_explain_a_bandit_decision_with_draws_costs_and_outcome(world: World) -> None:
    out = cli("explain", world.ids["degraded"], "--config", str(world.config), cwd=world.root)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Verdict: zone degraded." in text
    assert "No mandatory action" in text
    assert "SLA guard (threshold 0.95)" in text
    assert "predicted SLA score" in text
    assert "Removed by the guard:" in text
    assert "Safe set:" in text
    assert "λ·θ − C(a)" in text
    assert "θ (posterior draw)" in text
    assert "Impact estimate:" in text
    assert "Outcome: the heal succeeded, measured cost 0.200" in text


def test_approve_and_reject_an_escalation(world: World) -> None:
    cfg = str(world.config)
    out = cli("approve", "esc-approve", "--actor", "ana", "--note", "go", "-c", cfg, cwd=world.root)
    assert out.returncode == 0, out.stderr
    assert "Escalation esc-approve of model cancer is approved by ana" in out.stdout
    out = cli("approve", "esc-reject", "--reject", "--actor", "bo", "-c", cfg, cwd=world.root)
    assert "is rejected by bo" in out.stdout
    with open_store(world.store) as store:
        assert store.get_escalation("esc-approve").status == "approved"
        assert store.get_escalation("esc-reject").note == ""
    again = one_error(cli("approve", "esc-approve", "--reject", "-c", cfg, cwd=world.root))
    assert "was already approved by ana" in again


def test_run_once_runs_one_window_of_every_model(world: World, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "safeheal.toml", tmp_path / "run.db", world.root / "mlflow", ["cancer"]
    )
    out = cli("run", "--once", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    row = next(line for line in out.stdout.splitlines() if "cancer" in line)
    assert "canary" in row
    assert "no-data" in row
    assert "one window" in out.stdout


# -- mistakes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("status", "--config", "{root}/nothing.toml"), "does not exist; `safeheal init` writes"),
        (("run", "--once", "--config", "{root}/nothing.toml"), "`safeheal init` writes one"),
        (("audit", "nope", "--config", "{config}"), "model 'nope' has nothing in the store"),
        (("explain", "feedc0de", "--config", "{config}"), "no decision with id 'feedc0de'"),
        (("approve", "esc-nope", "--config", "{config}"), "no escalation with id 'esc-nope'"),
    ],
)
def test_mistakes_are_one_line(world: World, args: tuple[str, ...], message: str) -> None:
    given = [a.format(root=world.root, config=world.config) for a in args]
    assert message in one_error(cli(*given, cwd=world.root))


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ("missing-dir/safeheal.db", "the directory"),
        ("absent.db", "the file does not exist; `safeheal run` or `safeheal serve` creates it"),
        ("junk.db", "is not a readable SQLite database"),
    ],
)
def test_a_store_that_cannot_be_opened_is_one_line(
    world: World, tmp_path: Path, store: str, message: str
) -> None:
    (tmp_path / "junk.db").write_text("not a database", encoding="utf-8")
    config = write_config(tmp_path / "c.toml", tmp_path / store, world.root / "mlflow", [])
    assert message in one_error(cli("status", "--config", str(config), cwd=tmp_path))


def test_run_names_an_unknown_model(world: World, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f"[serve]\nregistry = {json.dumps(str(world.root / 'mlflow'))}\n"
        f"store = {json.dumps(str(tmp_path / 'run.db'))}\n"
        '[control.models.ghost]\nmode = "shadow"\n',
        encoding="utf-8",
    )
    error = one_error(cli("run", "--once", "--config", str(config), cwd=tmp_path))
    assert "model 'ghost' is not in the model registry" in error
