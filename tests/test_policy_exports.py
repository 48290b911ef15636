"""The public surface of the decision layer, and a fast, side-effect-free ``import safeheal``."""

from __future__ import annotations

import subprocess
import sys

import safeheal
import safeheal.policy

POLICY_NAMES = {
    "Action",
    "ActionEffect",
    "CostEstimate",
    "CostModel",
    "CostTerms",
    "Decision",
    "DuplicateOutcomeError",
    "HybridPolicy",
    "ImpactModel",
    "Outcome",
    "Posterior",
    "PosteriorStore",
    "PosteriorUpdate",
    "Rule",
    "SLAGuard",
    "SafehealConfig",
    "SafetyEnvelope",
    "StoreError",
    "ThompsonBandit",
    "UnknownDecisionError",
    "Verdict",
    "load_config",
}


def test_the_decision_layer_is_exported_from_safeheal() -> None:
    assert set(safeheal.__all__) >= POLICY_NAMES
    for name in safeheal.__all__:
        assert getattr(safeheal, name) is not None, name
    assert set(safeheal.__all__) <= set(dir(safeheal))


def test_policy_all_is_accurate() -> None:
    for name in safeheal.policy.__all__:
        assert hasattr(safeheal.policy, name), name
    public = {n for n in vars(safeheal.policy) if not n.startswith("_")}
    modules = {"protocols"}
    assert public - modules == set(safeheal.policy.__all__)


def test_import_safeheal_does_not_import_pydantic_or_scipy() -> None:
    code = (
        "import sys, safeheal\n"
        "p = safeheal.HybridPolicy(seed=0)\n"
        "p.decide(safeheal.State(drift=0.3, accuracy_drop=0.0, anomaly_rate=0.0))\n"
        "print(sorted(m for m in ('pydantic', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
