"""The paper's numbers, in one place, as plain Python (no pydantic, no numpy).

Every default of the decision layer is here: the runtime objects (:class:`SafetyEnvelope`,
:class:`CostModel`, ...) and the configuration models of :mod:`safeheal.config` both read them, so
the paper's value of a key is written exactly once. Numbers the paper does not give (per-action cost
terms, the SLA guard's per-action effects, the business-impact assumptions) are marked "assumption".
"""

from __future__ import annotations

from typing import Final

#: The signals of a :class:`~safeheal.State` that rules and models may name, in display order.
SIGNALS: Final = ("drift", "accuracy_drop", "anomaly_rate", "latency_ratio", "error_rate")
#: What a rule's condition may name: the signals, and ``fallback_share`` (the share of the
#: window's rows the fallback served: what the signals were measured on, not a signal itself).
CONDITION_FIELDS: Final = (*SIGNALS, "fallback_share")

# --- Safety envelope (paper 3.2.2 and 3.5; design.md 3.2) -------------------------------------
#: Thresholds of π_det and risk_high. ``slo_*`` are beyond the paper (design.md 9.3).
ENVELOPE_THRESHOLDS: Final[dict[str, float]] = {
    # π_det: fallback if d > 0.20 or a > 0.15 or ρ > 0.05
    "fallback_drift": 0.20,
    "fallback_accuracy_drop": 0.15,
    "fallback_anomaly_rate": 0.05,
    # the critical zone also fires on an operational SLO breach
    "slo_latency_ratio": 1.0,
    "slo_error_rate": 0.05,
    # π_det: rollback if 0.10 < a ≤ 0.15 and d ≤ 0.20 (upper bounds: the fallback thresholds)
    "rollback_accuracy_drop": 0.10,
    # π_det: retrain if 0.15 < d ≤ 0.25 and a ≤ 0.10 (a's bound: rollback_accuracy_drop)
    "retrain_drift": 0.15,
    "retrain_drift_max": 0.25,
    # risk_high(x) = d > 0.15 or a > 0.10 or ρ > 0.03 (the "watch" zone, and paper mode)
    "risk_high_drift": 0.15,
    "risk_high_accuracy_drop": 0.10,
    "risk_high_anomaly_rate": 0.03,
}

# --- Costs (paper 3.1) --------------------------------------------------------------------------
#: C(a) = α·compute + β·risk + γ·downtime.
COST_WEIGHTS: Final[dict[str, float]] = {"compute": 0.5, "risk": 0.3, "downtime": 0.2}
#: Normalised cost terms per action (assumption: the paper gives none).
COST_TERMS: Final[dict[str, dict[str, float]]] = {
    "NO_OP": {"compute": 0.0, "risk": 0.0, "downtime": 0.0},
    "FALLBACK": {"compute": 0.1, "risk": 0.2, "downtime": 0.1},
    "ROLLBACK": {"compute": 0.1, "risk": 0.3, "downtime": 0.1},
    "RETRAIN": {"compute": 0.8, "risk": 0.4, "downtime": 0.2},
    "ESCALATE": {"compute": 0.0, "risk": 0.1, "downtime": 0.6},
}
#: How many measurements the configured default counts as, when measured costs are averaged in.
COST_PRIOR_WEIGHT: Final = 1.0

# --- SLA guard (paper 3.4.1) --------------------------------------------------------------------
SLA_WEIGHTS: Final[dict[str, float]] = {"availability": 0.4, "accuracy": 0.4, "latency": 0.2}
SLA_THRESHOLD: Final = 0.95
#: Predicted effect of each action (assumption). A number sets the component after the action;
#: "keep" keeps its current value. ``drift_sensitivity`` × drift is taken off the predicted
#: accuracy of the model that serves after the action; ``penalty`` is taken off the score (the
#: downtime and risk of carrying the action out).
SLA_EFFECTS: Final[dict[str, dict[str, float | str]]] = {
    "NO_OP": {
        "availability": "keep",
        "accuracy": "keep",
        "latency": "keep",
        "drift_sensitivity": 0.0,
        "penalty": 0.0,
    },
    "FALLBACK": {
        "availability": 0.999,
        "accuracy": 0.97,
        "latency": 1.0,
        "drift_sensitivity": 0.1,
        "penalty": 0.0,
    },
    "ROLLBACK": {
        "availability": 0.999,
        "accuracy": 0.98,
        "latency": 1.0,
        "drift_sensitivity": 0.2,
        "penalty": 0.002,
    },
    "RETRAIN": {
        "availability": "keep",
        "accuracy": 0.99,
        "latency": "keep",
        "drift_sensitivity": 0.0,
        "penalty": 0.01,
    },
    "ESCALATE": {
        "availability": 0.999,
        "accuracy": 0.97,
        "latency": 1.0,
        "drift_sensitivity": 0.1,
        "penalty": 0.0,
    },
}

# --- Bandit (paper 3.3; design.md 3.4) ----------------------------------------------------------
LAMBDA: Final = 10.0
PRIOR_ALPHA: Final = 1.0
PRIOR_BETA: Final = 1.0
#: Pseudo-counts added to the prior of the envelope's default action in a context (assumption;
#: the paper's "warm start: π_det provides initial safe actions").
WARM_START_SUCCESSES: Final = 2.0
WARM_START_FAILURES: Final = 0.0
#: Grid points per action for the numerical integration of the propensity.
PROPENSITY_GRID: Final = 128

# --- Context buckets (design.md 3.4) ------------------------------------------------------------
#: Severity is the largest ratio signal / scale; the scales are the critical thresholds.
SEVERITY_SCALES: Final[dict[str, float]] = {
    "drift": 0.20,
    "accuracy_drop": 0.15,
    "anomaly_rate": 0.05,
    "latency_ratio": 1.0,
    "error_rate": 0.05,
}
SEVERITY_CUTS: Final = (0.5, 0.85)
SEVERITY_LEVELS: Final = ("low", "medium", "high")

# --- Canary (paper 3.4.2): placeholders until heal/ lands -----------------------------------------
CANARY_TRAFFIC: Final = 0.01
CANARY_MAX_SLA_DROP: Final = 0.05
CANARY_VALIDATION_MINUTES: Final = 30.0

# --- Business impact (paper 3.4.3; assumptions from the case study, paper 6) ---------------------
#: $3.8 M monthly revenue (paper 6.1) over a 30-day month.
REVENUE_PER_MINUTE: Final = 3_800_000 / (30 * 24 * 60)
#: Dollars one unit of C(a) costs (assumption).
COST_PER_UNIT: Final = 100.0
#: Untreated incident duration: log-normal with the paper's pre-system MTTR of 4.3 h as median.
INCIDENT_MINUTES_MEDIAN: Final = 4.3 * 60
INCIDENT_MINUTES_SIGMA: Final = 1.0
#: Share of revenue lost per unit of each signal while the incident lasts (assumption).
LOSS_WEIGHTS: Final[dict[str, float]] = {
    "drift": 0.25,
    "accuracy_drop": 1.0,
    "anomaly_rate": 1.0,
    "latency_ratio": 0.5,  # applied to the excess over the SLO, latency_ratio − 1
    "error_rate": 1.0,
}
#: Time to repair per action: log-normal (median minutes, sigma). Case study (paper 6.3): fallback
#: 14:32 → 14:48, retrain 09:15 → 11:00; escalation waits for a human (45 min, design.md 8).
#: An action without an entry (NO_OP) repairs nothing.
REPAIR_MINUTES: Final[dict[str, tuple[float, float]]] = {
    "FALLBACK": (16.0, 0.5),
    "ROLLBACK": (15.0, 0.5),
    "RETRAIN": (105.0, 0.5),
    "ESCALATE": (45.0, 0.5),
}
IMPACT_SAMPLES: Final = 10_000
