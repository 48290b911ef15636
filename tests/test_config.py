"""safeheal.toml: the paper's numbers as defaults, keys validated at load, errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeheal import (
    Action,
    ConfigError,
    CostModel,
    HybridPolicy,
    SafehealConfig,
    SafetyEnvelope,
    SLAGuard,
    State,
    ThompsonBandit,
    load_config,
)
from safeheal.config import parse_config


def test_defaults_are_the_papers_numbers() -> None:
    cfg = SafehealConfig()
    t = cfg.envelope.thresholds
    fallback = (t.fallback_drift, t.fallback_accuracy_drop, t.fallback_anomaly_rate)
    assert fallback == (0.20, 0.15, 0.05)
    assert (t.rollback_accuracy_drop, t.retrain_drift, t.retrain_drift_max) == (0.10, 0.15, 0.25)
    risk_high = (t.risk_high_drift, t.risk_high_accuracy_drop, t.risk_high_anomaly_rate)
    assert risk_high == (0.15, 0.10, 0.03)
    w = cfg.costs.weights
    assert (w.compute, w.risk, w.downtime) == (0.5, 0.3, 0.2)
    s = cfg.sla
    sla = (s.weights.availability, s.weights.accuracy, s.weights.latency, s.threshold)
    assert sla == (0.4, 0.4, 0.2, 0.95)
    b = cfg.bandit
    assert (b.lam, b.prior_alpha, b.prior_beta) == (10.0, 1.0, 1.0)
    c = cfg.canary
    assert (c.traffic_fraction, c.max_sla_drop, c.validation_minutes) == (0.01, 0.05, 30.0)
    assert cfg.impact.incident_minutes_median == pytest.approx(4.3 * 60)
    assert cfg.policy.mode == "hybrid"


def test_a_toml_file_reaches_every_object(tmp_path: Path) -> None:
    path = tmp_path / "safeheal.toml"
    path.write_text(
        """
[envelope.thresholds]
fallback_drift = 0.25

[costs.weights]
compute = 0.6
risk = 0.2
downtime = 0.2

[costs.actions.RETRAIN]
compute = 0.5

[sla]
threshold = 0.9

[sla.effects.RETRAIN]
availability = "keep"
penalty = 0.02

[bandit]
lambda = 5.0
warm_start_successes = 4

[policy]
mode = "paper"
seed = 7
""",
        encoding="utf-8",
    )
    cfg = load_config(path)
    env = SafetyEnvelope.from_config(cfg)
    assert env.assess(State(drift=0.22, accuracy_drop=0.0, anomaly_rate=0.0)).zone == "drifting"
    costs = CostModel.from_config(cfg)
    retrain = costs.terms(Action.RETRAIN)
    assert (retrain.compute, retrain.risk) == (0.5, 0.4)  # one key changed, the rest default
    assert costs.cost(Action.RETRAIN) == pytest.approx(0.6 * 0.5 + 0.2 * 0.4 + 0.2 * 0.2)
    guard = SLAGuard.from_config(cfg)
    assert guard.threshold == 0.9
    assert guard.effects[Action.RETRAIN].penalty == 0.02
    assert guard.effects[Action.RETRAIN].accuracy == 0.99
    bandit = ThompsonBandit.from_config(cfg)
    assert bandit.lam == 5.0
    assert bandit.warm_start == (4.0, 0.0)
    policy = HybridPolicy.from_config(cfg)
    assert policy.mode == "paper"
    same = HybridPolicy.from_config(cfg)
    state = State(drift=0.0, accuracy_drop=0.0, anomaly_rate=0.0, latency_ratio=2.0)
    assert [policy.decide(state).action for _ in range(20)] == [
        same.decide(state).action for _ in range(20)
    ]


def test_a_custom_rule_table_and_action_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "safeheal.toml"
    path.write_text(
        """
[actions]
custom = ["RESTART_REPLICA"]

[[envelope.rules]]
zone = "leaking"
all = ["latency_ratio > 1.5"]
permitted = ["RESTART_REPLICA", "FALLBACK"]
default = "RESTART_REPLICA"

[[envelope.rules]]
zone = "fine"
permitted = ["NO_OP"]

[costs.actions.RESTART_REPLICA]
compute = 0.05
risk = 0.1
downtime = 0.1

[sla.effects.RESTART_REPLICA]
latency = 1.0
penalty = 0.001
""",
        encoding="utf-8",
    )
    policy = HybridPolicy.from_config(load_config(path), seed=1)
    restart = Action("RESTART_REPLICA")
    state = State(drift=0.0, accuracy_drop=0.0, anomaly_rate=0.0, latency_ratio=2.0)
    chosen = {policy.decide(state).action for _ in range(40)}
    assert chosen <= {restart, Action.FALLBACK}
    assert restart in chosen


# (snippet, the key the message must name, and what it must say about form and value)
BAD = [
    ("[bandit]\nlamda = 5.0", "`bandit.lamda` is not a known key", "expected one of: lambda"),
    ("[bandit]\nlambda = -1", "`bandit.lambda` must be greater than 0", "got -1"),
    ('[bandit]\nlambda = "ten"', "`bandit.lambda` must be a valid number", "got 'ten'"),
    ("[sla]\nthreshold = 1.5", "`sla.threshold` must be less than or equal to 1", "got 1.5"),
    ("[costs.weights]\ncompute = 0.6", "costs.weights.compute + costs.weights.risk", "got 1.09"),
    (
        "[costs.actions.RETRAIN]\ncpu = 0.5",
        "`costs.actions.RETRAIN.cpu` is not a known key",
        "expected one of: compute, downtime, risk",
    ),
    ("[costs.actions.REBOOT]\ncompute = 0.5", "`costs.actions`", "unknown action 'REBOOT'"),
    (
        '[sla.effects.FALLBACK]\naccuracy = "high"',
        "`sla.effects.FALLBACK.accuracy`",
        "must be a number in [0, 1] or \"keep\"; got 'high'",
    ),
    ('[policy]\nmode = "rl"', "`policy.mode` must be 'hybrid' or 'paper'", "got 'rl'"),
    (
        "[envelope.thresholds]\nfallback_drift = true",
        "`envelope.thresholds.fallback_drift`",
        "got True",
    ),
    (
        '[[envelope.rules]]\nzone = "a"\nany = ["drift >> 0.2"]\npermitted = ["NO_OP"]',
        "`envelope.rules[0].any[0]`",
        "got 'drift >> 0.2'",
    ),
    (
        '[[envelope.rules]]\nzone = "a"\npermitted = ["NO_OP"]\n'
        '[[envelope.rules]]\nzone = "b"\npermitted = ["NO_OP"]',
        "`envelope.rules`",
        "rule 0 ('a'): a rule without conditions",
    ),
    (
        '[[envelope.rules]]\nzone = "a"\nmandatory = "FALLBACK"\npermitted = ["NO_OP"]',
        "`envelope.rules`",
        "the mandatory action FALLBACK must be permitted",
    ),
    ('[[envelope.rules]]\nzone = "a"', "`envelope.rules[0].permitted` is required", ""),
    ("[context]\nseverity_cuts = [0.5]", "`context`", "one more name"),
    ("[impact]\nsamples = 0", "`impact.samples` must be greater than or equal to 1", "got 0"),
    ("unknown_section = 1", "`unknown_section` is not a known key", "expected one of: actions"),
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
    assert message.startswith(str(path))
    assert key in message
    assert detail in message
    assert isinstance(info.value, ValueError)


def test_several_errors_are_reported_together() -> None:
    with pytest.raises(ConfigError, match="2 errors") as info:
        parse_config({"bandit": {"lambda": 0}, "sla": {"threshold": 2}})
    assert "`bandit.lambda`" in str(info.value)
    assert "`sla.threshold`" in str(info.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[bandit\nlambda = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(bad)


def test_an_empty_file_is_the_papers_configuration(tmp_path: Path) -> None:
    path = tmp_path / "safeheal.toml"
    path.write_text("", encoding="utf-8")
    assert load_config(path) == SafehealConfig()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            {"envelope": {"thresholds": {"retrain_drift": 0.3, "retrain_drift_max": 0.2}}},
            r"`envelope.thresholds`: retrain_drift \(0.3\) must be below retrain_drift_max",
        ),
        (
            {
                "envelope": {
                    "thresholds": {"fallback_drift": 0.3},
                    "rules": [{"zone": "healthy", "permitted": ["NO_OP"]}],
                }
            },
            "not both",
        ),
        ({"actions": {"custom": ["RETRAIN"]}}, "built-in actions"),
        ({"actions": {"custom": ["X_ACTION", "x_action"]}}, "listed more than once"),
    ],
)
def test_contradictions_fail_at_load(data: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_config(data)
