"""safeheal.toml for the healing actions: [retrain], [escalation], [fallback], [costs.budgets]."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeheal import ConfigError, SafehealConfig, load_config
from safeheal.heal import canary_plan


def test_defaults() -> None:
    cfg = SafehealConfig()
    r = cfg.retrain
    assert r.training_function is None
    assert (r.time_limit_seconds, r.holdout_fraction, r.min_improvement) == (600.0, 0.3, 0.0)
    assert (r.min_samples, r.seed) == (50, 0)
    assert (cfg.escalation.webhook_url, cfg.escalation.timeout_seconds) == (None, 5.0)
    assert cfg.fallback.plan == "immediate"
    b = cfg.costs.budgets
    assert (b.cpu_seconds, b.exposed_percent, b.degraded_minutes) == (600.0, 100.0, 60.0)


def test_a_toml_file_reaches_the_executors(tmp_path: Path) -> None:
    path = tmp_path / "safeheal.toml"
    path.write_text(
        """
[retrain]
training_function = "mypkg.training:fit_pipeline"
time_limit_seconds = 120
holdout_fraction = 0.25
min_improvement = 0.01
min_samples = 200
seed = 7

[escalation]
webhook_url = "https://ops.example.com/hooks/safeheal"
timeout_seconds = 2.5

[fallback]
plan = "canary"

[canary]
traffic_fraction = 0.05
validation_minutes = 60

[costs.budgets]
cpu_seconds = 3600
exposed_percent = 50
degraded_minutes = 30
""",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.retrain.training_function == "mypkg.training:fit_pipeline"
    assert (cfg.retrain.time_limit_seconds, cfg.retrain.holdout_fraction) == (120.0, 0.25)
    assert (cfg.retrain.min_improvement, cfg.retrain.min_samples, cfg.retrain.seed) == (
        0.01,
        200,
        7,
    )
    assert cfg.escalation.webhook_url == "https://ops.example.com/hooks/safeheal"
    assert cfg.escalation.timeout_seconds == 2.5
    assert cfg.fallback.plan == "canary"
    assert (cfg.costs.budgets.cpu_seconds, cfg.costs.budgets.exposed_percent) == (3600.0, 50.0)
    plan = canary_plan(cfg)
    assert plan.validation_minutes == 60.0
    assert plan.steps[0].percent == 5.0  # type: ignore[union-attr]


BAD = [
    ('[retrain]\ntraining_function = "fit"', "`retrain.training_function`", 'must be "module:'),
    ('[retrain]\ntraining_function = "a b:c"', "`retrain.training_function`", "got 'a b:c'"),
    ("[retrain]\ntime_limit_seconds = 0", "`retrain.time_limit_seconds`", "got 0"),
    ("[retrain]\nholdout_fraction = 1.0", "`retrain.holdout_fraction` must be less than 1", ""),
    ("[retrain]\nholdout_fraction = 0", "`retrain.holdout_fraction` must be greater than 0", ""),
    ("[retrain]\nmin_improvement = -0.1", "`retrain.min_improvement`", "got -0.1"),
    ("[retrain]\nmin_samples = 3", "`retrain.min_samples`", "got 3"),
    ("[retrain]\ntime_limit = 5", "`retrain.time_limit` is not a known key", "time_limit_seconds"),
    ('[escalation]\nwebhook_url = "ops.example.com"', "`escalation.webhook_url`", "http://"),
    ("[escalation]\ntimeout_seconds = -1", "`escalation.timeout_seconds`", "got -1"),
    ('[fallback]\nplan = "slow"', "`fallback.plan` must be 'immediate' or 'canary'", "got 'slow'"),
    ("[costs.budgets]\ncpu_seconds = 0", "`costs.budgets.cpu_seconds`", "got 0"),
    ("[costs.budgets]\nexposed_percent = 101", "`costs.budgets.exposed_percent`", "got 101"),
]


@pytest.mark.parametrize(("snippet", "key", "detail"), BAD)
def test_bad_keys_and_values_name_the_key(
    tmp_path: Path, snippet: str, key: str, detail: str
) -> None:
    path = tmp_path / "safeheal.toml"
    path.write_text(snippet + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert key in message
    assert detail in message


@pytest.mark.parametrize(
    ("key", "ok", "bad"),
    [
        ("holdout_fraction", 0.99, 1.0),
        ("min_improvement", 1.0, 1.01),
        ("min_samples", 4, 3),
    ],
)
def test_limits_on_both_sides(tmp_path: Path, key: str, ok: float, bad: float) -> None:
    path = tmp_path / "safeheal.toml"
    path.write_text(f"[retrain]\n{key} = {ok}\n", encoding="utf-8")
    assert getattr(load_config(path).retrain, key) == ok
    path.write_text(f"[retrain]\n{key} = {bad}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"`retrain.{key}`"):
        load_config(path)
