"""Episode records for the bench report's tests, built by hand or by a seeded generator.

Nothing here runs the engine: the metrics, statistics and report are tested on records whose
properties the test chooses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from safeheal.bench._records import FAMILIES, EpisodeResult, WindowCounts


def episode(**changes: Any) -> EpisodeResult:
    """One healthy-looking record (detected at 12, healed at 15, onset 10, 20 windows, all met)."""
    base = EpisodeResult(
        system="hybrid",
        seed=0,
        episode=0,
        scenario="covariate-1",
        family="data_drift",
        kind="covariate_shift",
        onset_minute=10.0,
        duration_minutes=100.0,
        detected_minute=12.0,
        healed_minute=15.0,
        actions=("no_op", "fallback"),
        optimal_action="fallback",
        cost=1.0,
        optimal_cost=1.0,
        reference_cost=2.0,
        reward=1.0,
        optimal_reward=1.0,
        windows=20,
        sla_windows_met=20,
        catastrophic=False,
        safety_violation=False,
        contained=None,
        escalations=0,
        engineer_minutes=0.0,
        detection=WindowCounts(
            true_positive=8, false_positive=1, false_negative=1, true_negative=10
        ),
    )
    return replace(base, **changes)


@dataclass(frozen=True)
class Profile:
    """How a generated system behaves: probabilities per incident and its learning curve."""

    catastrophic: float = 0.0
    violation: float = 0.0
    contained: float = 1.0
    heal: float = 1.0
    repair_minutes: float = 2.0
    cost_factor: float = 0.6
    start_gap: float = 0.4
    tau: float = 5.0
    noise: float = 0.02
    engineer_minutes: float = 0.0
    escalate: float = 0.0
    actions: tuple[tuple[str, float], ...] = (
        ("fallback", 0.6),
        ("rollback", 0.2),
        ("retrain", 0.15),
        ("no_op", 0.05),
    )
    false_alarm: float = 0.05
    miss: float = 0.05


def generate(
    system: str, profile: Profile, *, seeds: int = 3, episodes: int = 20, seed: int = 0
) -> list[EpisodeResult]:
    """``seeds × episodes`` records of ``system`` drawn from ``profile`` with a seeded RNG."""
    rng = np.random.default_rng([seed, sum(system.encode())])
    names = [a for a, _ in profile.actions]
    probs = np.array([p for _, p in profile.actions])
    probs = probs / probs.sum()
    out = []
    for s in range(seeds):
        for e in range(episodes):
            onset = 10.0
            detected = onset + float(rng.exponential(1.0))
            heals = rng.random() < profile.heal
            healed = detected + float(rng.exponential(profile.repair_minutes)) if heals else None
            windows = 20
            bad_windows = 2 if heals else 15
            gap = profile.start_gap * np.exp(-e / profile.tau)
            reward = float(1.0 - gap + rng.normal(0.0, profile.noise))
            violation = bool(rng.random() < profile.violation)
            tp = int(rng.binomial(10, 1 - profile.miss))
            fp = int(rng.binomial(10, profile.false_alarm))
            response = str(rng.choice(names, p=probs))
            out.append(
                episode(
                    system=system,
                    seed=s,
                    episode=e,
                    scenario=f"scenario-{e}",
                    family=FAMILIES[e % len(FAMILIES)],
                    onset_minute=onset,
                    duration_minutes=60.0,
                    detected_minute=detected,
                    healed_minute=healed,
                    actions=("no_op", response),
                    optimal_action=names[e % len(names)],
                    cost=float(profile.cost_factor * 10 * rng.uniform(0.8, 1.2)),
                    optimal_cost=5.0,
                    reference_cost=10.0,
                    reward=reward,
                    optimal_reward=1.0,
                    windows=windows,
                    sla_windows_met=windows - bad_windows,
                    catastrophic=bool(rng.random() < profile.catastrophic),
                    safety_violation=violation,
                    contained=(bool(rng.random() < profile.contained) if violation else None),
                    escalations=int(rng.random() < profile.escalate),
                    engineer_minutes=float(profile.engineer_minutes * rng.uniform(0.5, 1.5)),
                    detection=WindowCounts(
                        true_positive=tp,
                        false_negative=10 - tp,
                        false_positive=fp,
                        true_negative=10 - fp,
                    ),
                )
            )
    return out


#: Profiles resembling the paper's systems (for the report's tests).
PROFILES: dict[str, Profile] = {
    "hybrid": Profile(),
    "rl-only": Profile(
        catastrophic=0.05,
        violation=0.12,
        contained=0.7,
        repair_minutes=1.8,
        cost_factor=0.55,
        start_gap=0.6,
        tau=12.0,
        noise=0.05,
        actions=(("fallback", 0.45), ("rollback", 0.25), ("retrain", 0.27), ("no_op", 0.03)),
    ),
    "rules-only": Profile(
        violation=0.01,
        repair_minutes=3.4,
        cost_factor=1.0,
        start_gap=0.1,
        tau=1e9,
        actions=(("fallback", 0.85), ("rollback", 0.10), ("retrain", 0.05)),
    ),
    "human": Profile(
        violation=0.02,
        contained=0.9,
        repair_minutes=45.0,
        cost_factor=1.0,
        start_gap=0.1,
        tau=1e9,
        engineer_minutes=60.0,
        escalate=1.0,
    ),
}


def suite(*, seeds: int = 3, episodes: int = 20, seed: int = 0) -> list[EpisodeResult]:
    """Records of every system of :data:`PROFILES`."""
    return [
        r
        for name, profile in PROFILES.items()
        for r in generate(name, profile, seeds=seeds, episodes=episodes, seed=seed)
    ]
