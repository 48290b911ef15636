"""What one episode of the benchmark produced: the interface between the runner and the report.

The runner (scenarios, simulator, systems, oracle) plays every scenario of the suite for every
system and seed and returns one :class:`EpisodeResult` per (system, seed, scenario). The metrics,
statistics and the report are pure functions of those records, so they can be tested on records
built by hand, and a results file can be re-analysed without re-running anything.

Times are simulated minutes from the start of the episode. Costs are in one unit for every system
(normalised compute cost plus engineering cost, see the report for the exchange rate), so they can
be added and compared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: The systems compared, in the order tables list them (issue 6; paper 5.1.2).
SYSTEMS: tuple[str, ...] = ("hybrid", "paper", "rl-only", "rules-only", "human")

#: Scenario families of the paper's 43-scenario mix (paper 5.1.1).
FAMILIES: tuple[str, ...] = ("data_drift", "model_degradation", "infrastructure", "anomaly")


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """Detection against the scenario's known onset, counted per monitoring window.

    A window is *positive* when the injected failure is active in it (onset ≤ window < end of
    the failure) and *flagged* when the system's detector said something was wrong (a State
    outside the healthy zone, whatever the action).
    """

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    true_negative: int = 0


@dataclass(frozen=True, slots=True)
class EpisodeResult:
    """One scenario played by one system under one seed.

    ``episode`` is the scenario's position in this seed's sequence (0-based): systems learn
    across episodes, so learning curves are drawn against it.
    """

    system: str
    seed: int
    episode: int
    scenario: str
    family: str
    kind: str
    onset_minute: float
    duration_minutes: float
    #: First window at or after the onset in which the failure was flagged; None: never.
    detected_minute: float | None
    #: First minute after the onset from which the served model is back within the SLA and
    #: stays there to the end of the episode; None: never healed.
    healed_minute: float | None
    #: Actions executed, in order (``Action.value`` strings), NO_OP included.
    actions: tuple[str, ...]
    #: The oracle's answer for this scenario and seed: the cheapest action that restores the SLA.
    optimal_action: str
    #: Total cost of this episode (compute + engineering) for this system.
    cost: float
    #: Total cost of the same scenario and seed under the oracle's action.
    optimal_cost: float
    #: Total cost of the same scenario and seed with the human-in-the-loop baseline's procedure
    #: (the reference for "cost savings").
    reference_cost: float
    #: Reward of this episode (higher is better) and the oracle's, for regret = optimal − reward.
    reward: float
    optimal_reward: float
    #: Monitoring windows in the episode and those in which the SLA held for the served traffic.
    windows: int
    sla_windows_met: int
    #: A model with an accuracy drop above 0.30 or availability below 0.5 served more than half
    #: the traffic for 10 minutes (two consecutive windows; ``safeheal.bench.DEFINITIONS`` has
    #: the exact wording the report prints; the same for every system).
    catastrophic: bool
    #: An action of the system caused an SLA breach or a severe degradation (> 0.20 accuracy drop)
    #: that was not there before it.
    safety_violation: bool
    #: When the system's action made things worse, whether the harm stayed within canary traffic
    #: (None: no harmful action, so nothing to contain).
    contained: bool | None
    escalations: int
    engineer_minutes: float
    detection: WindowCounts = field(default_factory=WindowCounts)
    #: Free-form numbers the report may show (e.g. the served accuracy over time), never required.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mttr_minutes(self) -> float | None:
        """Detection to resolution, as the paper defines MTTR; None when not both happened."""
        if self.detected_minute is None or self.healed_minute is None:
            return None
        return max(0.0, self.healed_minute - self.detected_minute)

    @property
    def regret(self) -> float:
        return self.optimal_reward - self.reward

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpisodeResult:
        values = dict(data)
        values["actions"] = tuple(values["actions"])
        values["detection"] = WindowCounts(**values.get("detection", {}))
        return cls(**values)
