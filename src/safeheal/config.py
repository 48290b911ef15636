"""Configuration: one TOML file, ``safeheal.toml``, read through pydantic models.

Every threshold, weight and prior of the paper is a key, with the paper's value as its default
(the numbers live in :mod:`safeheal.policy._defaults`). Unknown keys are refused, and a bad key or
value fails when the file is loaded with a :class:`~safeheal.errors.ConfigError` that names the key
(dotted path), what it must be and what was given. A file may set any subset of keys::

    [envelope.thresholds]          # the paper's π_det and risk_high thresholds
    fallback_drift = 0.20          # fallback if d > 0.20 or a > 0.15 or ρ > 0.05
    rollback_accuracy_drop = 0.10  # rollback if 0.10 < a ≤ 0.15 and d ≤ 0.20

    [costs.weights]                # C(a) = 0.5·compute + 0.3·risk + 0.2·downtime
    compute = 0.5

    [costs.actions.RETRAIN]        # normalised terms of one action
    compute = 0.8

    [sla]
    threshold = 0.95

    [bandit]
    lambda = 10.0

    [policy]
    mode = "hybrid"                # or "paper"
    seed = 7

    [retrain]                      # the RETRAIN action
    training_function = "mypkg.train:fit"   # module:function(X, y) -> fitted estimator
    time_limit_seconds = 600
    holdout_fraction = 0.3         # recent rows held out to compare candidate and champion
    min_improvement = 0.0          # the candidate must beat the champion by more than this

    [escalation]                   # the ESCALATE action
    webhook_url = "https://ops.example.com/hooks/safeheal"
    timeout_seconds = 5

    [fallback]
    plan = "immediate"             # or "canary" (the paper deploys the fallback by canary)

    [costs.budgets]                # measured costs: term = min(1, measured / budget)
    cpu_seconds = 600
    degraded_minutes = 60

    [serve]                        # `safeheal serve`: the gateway
    models = ["churn"]             # registered models to serve (their champions)
    port = 8000
    admin_token_env = "SAFEHEAL_ADMIN_TOKEN"   # or admin_token = "…" (16+ characters)
    registry = "safeheal-data/mlflow"          # a directory, or any MLflow tracking URI
    store = "safeheal-data/safeheal.db"        # a path, or a postgresql+psycopg:// URL

``[[envelope.rules]]`` replaces the whole rule table (first match wins; the last rule has no
conditions)::

    [[envelope.rules]]
    zone = "critical"
    any = ["drift > 0.20", "accuracy_drop > 0.15", "anomaly_rate > 0.05"]
    mandatory = "FALLBACK"
    permitted = ["FALLBACK"]

    [[envelope.rules]]
    zone = "healthy"
    permitted = ["NO_OP"]

>>> cfg = parse_config({"bandit": {"lambda": 5.0}, "policy": {"seed": 3}})
>>> cfg.bandit.lam, cfg.sla.threshold, cfg.costs.weights.risk
(5.0, 0.95, 0.3)
>>> try:
...     parse_config({"bandit": {"lamda": 5.0}})
... except ConfigError as exc:
...     print(exc)  # doctest: +ELLIPSIS
configuration: `bandit.lamda` is not a known key (expected one of: lambda, ...); got 5.0
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from safeheal.core.action import Action
from safeheal.errors import ConfigError
from safeheal.heal import _defaults as H
from safeheal.policy import _defaults as D
from safeheal.policy._envelope import Condition, Rule, paper_rules, validate_rules

__all__ = [
    "ActionEffectConfig",
    "ActionsConfig",
    "BanditConfig",
    "CanaryConfig",
    "ContextConfig",
    "ControlConfig",
    "ControlMode",
    "ControlModelConfig",
    "CostBudgetsConfig",
    "CostTermsConfig",
    "CostWeightsConfig",
    "CostsConfig",
    "EnvelopeConfig",
    "EnvelopeThresholds",
    "EscalationConfig",
    "FallbackConfig",
    "ImpactConfig",
    "LossWeightsConfig",
    "PolicyConfig",
    "RepairConfig",
    "RetrainConfig",
    "RuleConfig",
    "SLAConfig",
    "SLAWeightsConfig",
    "SafehealConfig",
    "ServeConfig",
    "SeverityScalesConfig",
    "load_config",
    "parse_config",
]

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        validate_by_name=True,
        validate_by_alias=True,
    )


def _action_name(name: str) -> str:
    return Action(name).name  # ConfigError (a ValueError) names the registered actions


def _condition_text(text: str) -> str:
    Condition.parse(text)
    return text


ActionName = Annotated[str, AfterValidator(_action_name)]
ConditionText = Annotated[str, AfterValidator(_condition_text)]


def _merge(defaults: Mapping[str, Mapping[str, Any]], given: object) -> object:
    """Per-action tables: the given keys override the defaults field by field."""
    if not isinstance(given, Mapping):
        return given
    out: dict[str, Any] = {k: dict(v) for k, v in defaults.items()}
    for name, table in given.items():
        key = Action(name).name if isinstance(name, str) else name
        if isinstance(table, Mapping) and key in out:
            out[key] = {**out[key], **table}
        else:
            out[key] = table
    return out


def _sums_to_one(section: str, values: Mapping[str, float]) -> None:
    total = sum(values.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        terms = " + ".join(f"{section}.{k}" for k in values)
        raise ValueError(f"{terms} must sum to 1; got {total!r}")


# --- actions ------------------------------------------------------------------------------------
def _register(names: list[str]) -> list[str]:
    paper = {"NO_OP", "FALLBACK", "ROLLBACK", "RETRAIN", "ESCALATE"}
    upper = [str(n).upper() for n in names]
    clash = sorted({n for n in upper if n in paper})
    if clash:
        raise ValueError(f"{clash} are built-in actions; list only new ones")
    repeated = sorted({n for n in upper if upper.count(n) > 1})
    if repeated:
        raise ValueError(f"{repeated} listed more than once")
    return [Action.register(n).name for n in names]


class ActionsConfig(_Section):
    """Actions beyond the paper's five, registered when the configuration is loaded."""

    custom: Annotated[list[str], AfterValidator(_register)] = Field(default_factory=list)


# --- envelope -----------------------------------------------------------------------------------
_T = D.ENVELOPE_THRESHOLDS


class EnvelopeThresholds(_Section):
    """The paper's thresholds; ``slo_*`` are beyond the paper."""

    fallback_drift: Unit = _T["fallback_drift"]
    fallback_accuracy_drop: Unit = _T["fallback_accuracy_drop"]
    fallback_anomaly_rate: Unit = _T["fallback_anomaly_rate"]
    slo_latency_ratio: Positive = _T["slo_latency_ratio"]
    slo_error_rate: Unit = _T["slo_error_rate"]
    rollback_accuracy_drop: Unit = _T["rollback_accuracy_drop"]
    retrain_drift: Unit = _T["retrain_drift"]
    retrain_drift_max: Unit = _T["retrain_drift_max"]
    risk_high_drift: Unit = _T["risk_high_drift"]
    risk_high_accuracy_drop: Unit = _T["risk_high_accuracy_drop"]
    risk_high_anomaly_rate: Unit = _T["risk_high_anomaly_rate"]

    @model_validator(mode="after")
    def _retrain_band(self) -> EnvelopeThresholds:
        if not self.retrain_drift < self.retrain_drift_max:
            raise ValueError(
                f"retrain_drift ({self.retrain_drift}) must be below retrain_drift_max "
                f"({self.retrain_drift_max}), or the drifting zone can never match"
            )
        return self


class RuleConfig(_Section):
    """One zone of a custom rule table (see :class:`~safeheal.policy.Rule`)."""

    zone: str
    all: list[ConditionText] = Field(default_factory=list)
    any: list[ConditionText] = Field(default_factory=list)
    mandatory: ActionName | None = None
    permitted: list[ActionName]
    default: ActionName | None = None

    def to_rule(self) -> Rule:
        return Rule(
            self.zone,
            all=self.all,
            any=self.any,
            mandatory=self.mandatory,
            permitted=self.permitted,
            default=self.default,
        )


class EnvelopeConfig(_Section):
    """``thresholds`` build the paper's table; ``rules``, when given, replace the whole table.

    Paper mode's risk_high always reads the ``risk_high_*`` thresholds.
    """

    thresholds: EnvelopeThresholds = Field(default_factory=EnvelopeThresholds)
    rules: list[RuleConfig] | None = None

    @model_validator(mode="after")
    def _one_table(self) -> EnvelopeConfig:
        if self.rules is not None and "thresholds" in self.model_fields_set:
            raise ValueError(
                "give either [envelope.thresholds] (the paper's table with other numbers) or "
                "[[envelope.rules]] (a whole table of your own), not both: the rules would "
                "silently ignore the thresholds"
            )
        return self

    @field_validator("rules")
    @classmethod
    def _table(cls, rules: list[RuleConfig] | None) -> list[RuleConfig] | None:
        if rules is not None:
            validate_rules([r.to_rule() for r in rules])
        return rules

    def to_rules(self) -> tuple[Rule, ...]:
        if self.rules is not None:
            return tuple(r.to_rule() for r in self.rules)
        return paper_rules(self.thresholds.model_dump())


# --- costs --------------------------------------------------------------------------------------
class CostTermsConfig(_Section):
    """Normalised cost terms of one action, each in [0, 1]."""

    compute: Unit
    risk: Unit
    downtime: Unit


class CostWeightsConfig(_Section):
    """α, β, γ of C(a) = α·compute + β·risk + γ·downtime; they sum to 1."""

    compute: Unit = D.COST_WEIGHTS["compute"]
    risk: Unit = D.COST_WEIGHTS["risk"]
    downtime: Unit = D.COST_WEIGHTS["downtime"]

    @model_validator(mode="after")
    def _one(self) -> CostWeightsConfig:
        _sums_to_one("costs.weights", self.model_dump())
        return self


class CostBudgetsConfig(_Section):
    """What a measured cost is normalised by: a term is min(1, measured / budget)."""

    #: CPU seconds an action used (a retrain's training) that count as compute 1.0.
    cpu_seconds: Positive = H.BUDGET_CPU_SECONDS
    #: Percent of traffic sent to a not yet validated version that counts as risk 1.0.
    exposed_percent: Annotated[float, Field(gt=0.0, le=100.0)] = H.BUDGET_EXPOSED_PERCENT
    #: Minutes of degraded service that count as downtime 1.0.
    degraded_minutes: Positive = H.BUDGET_DEGRADED_MINUTES


class CostsConfig(_Section):
    """Cost weights, per-action default terms, how much the defaults weigh against data, and the
    budgets that normalise measured costs."""

    weights: CostWeightsConfig = Field(default_factory=CostWeightsConfig)
    budgets: CostBudgetsConfig = Field(default_factory=CostBudgetsConfig)
    prior_weight: NonNegative = D.COST_PRIOR_WEIGHT
    actions: dict[ActionName, CostTermsConfig] = Field(
        default_factory=lambda: {k: CostTermsConfig(**v) for k, v in D.COST_TERMS.items()}
    )

    @field_validator("actions", mode="before")
    @classmethod
    def _merge_actions(cls, value: object) -> object:
        return _merge(D.COST_TERMS, value)


# --- SLA ----------------------------------------------------------------------------------------
def _level(value: object) -> object:
    ok = value == "keep" or (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0.0 <= value <= 1.0
    )
    if not ok:
        raise ValueError(f'must be a number in [0, 1] or "keep"; got {value!r}')
    return float(value) if isinstance(value, int) else value


#: A predicted level in [0, 1], or "keep" (the component keeps its current value).
Level = Annotated[float | Literal["keep"], BeforeValidator(_level)]


class ActionEffectConfig(_Section):
    """Predicted effect of one action on the SLA components (see :class:`~safeheal.SLAGuard`)."""

    availability: Level = "keep"
    accuracy: Level = "keep"
    latency: Level = "keep"
    drift_sensitivity: Unit = 0.0
    penalty: Unit = 0.0


class SLAWeightsConfig(_Section):
    """w1, w2, w3 of SLA_score = w1·availability + w2·accuracy + w3·latency; they sum to 1."""

    availability: Unit = D.SLA_WEIGHTS["availability"]
    accuracy: Unit = D.SLA_WEIGHTS["accuracy"]
    latency: Unit = D.SLA_WEIGHTS["latency"]

    @model_validator(mode="after")
    def _one(self) -> SLAWeightsConfig:
        _sums_to_one("sla.weights", self.model_dump())
        return self


class SLAConfig(_Section):
    """The SLA guard: weights, threshold, and each action's predicted effect."""

    threshold: Unit = D.SLA_THRESHOLD
    weights: SLAWeightsConfig = Field(default_factory=SLAWeightsConfig)
    effects: dict[ActionName, ActionEffectConfig] = Field(
        default_factory=lambda: {
            k: ActionEffectConfig.model_validate(v) for k, v in D.SLA_EFFECTS.items()
        }
    )

    @field_validator("effects", mode="before")
    @classmethod
    def _merge_effects(cls, value: object) -> object:
        return _merge(D.SLA_EFFECTS, value)


# --- bandit and contexts ------------------------------------------------------------------------
class BanditConfig(_Section):
    """Thompson sampling: λ, the Beta prior, the warm start of the zone's default action."""

    lam: Positive = Field(D.LAMBDA, alias="lambda")
    prior_alpha: Positive = D.PRIOR_ALPHA
    prior_beta: Positive = D.PRIOR_BETA
    warm_start_successes: NonNegative = D.WARM_START_SUCCESSES
    warm_start_failures: NonNegative = D.WARM_START_FAILURES
    propensity_grid: Annotated[int, Field(ge=16, le=100_000)] = D.PROPENSITY_GRID


class SeverityScalesConfig(_Section):
    """Severity = max over signals of signal / scale."""

    drift: Positive = D.SEVERITY_SCALES["drift"]
    accuracy_drop: Positive = D.SEVERITY_SCALES["accuracy_drop"]
    anomaly_rate: Positive = D.SEVERITY_SCALES["anomaly_rate"]
    latency_ratio: Positive = D.SEVERITY_SCALES["latency_ratio"]
    error_rate: Positive = D.SEVERITY_SCALES["error_rate"]


class ContextConfig(_Section):
    """The bandit's context buckets: zone and severity level, e.g. "degraded/high"."""

    severity_scales: SeverityScalesConfig = Field(default_factory=SeverityScalesConfig)
    severity_cuts: list[Positive] = Field(default_factory=lambda: list(D.SEVERITY_CUTS))
    severity_levels: list[str] = Field(default_factory=lambda: list(D.SEVERITY_LEVELS))

    @model_validator(mode="after")
    def _levels(self) -> ContextConfig:
        cuts, levels = self.severity_cuts, self.severity_levels
        if len(levels) != len(cuts) + 1:
            raise ValueError(
                f"context.severity_levels needs one more name than context.severity_cuts has "
                f"cuts; got {len(levels)} names and {len(cuts)} cuts"
            )
        if any(b <= a for a, b in itertools.pairwise(cuts)):
            raise ValueError(f"context.severity_cuts must increase strictly; got {cuts}")
        if len(set(levels)) != len(levels) or any(not x or "/" in x for x in levels):
            raise ValueError(
                f"context.severity_levels must be unique, non-empty names without '/'; got {levels}"
            )
        return self


# --- canary (placeholders until heal/ lands) ----------------------------------------------------
class CanaryConfig(_Section):
    """The paper's canary protocol: 1 % of traffic, roll back if ΔSLA > 0.05, 30 min validation."""

    traffic_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = D.CANARY_TRAFFIC
    max_sla_drop: Unit = D.CANARY_MAX_SLA_DROP
    validation_minutes: Positive = D.CANARY_VALIDATION_MINUTES


# --- healing actions ----------------------------------------------------------------------------
_CALLABLE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _callable_spec(value: str) -> str:
    if not _CALLABLE.match(value):
        raise ValueError(
            f'must be "module:function" (a dotted module path, a colon, a function name); '
            f"got {value!r}"
        )
    return value


def _http_url(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host; got {value!r}")
    return value


class RetrainConfig(_Section):
    """The RETRAIN action: how a candidate is trained and what it must beat."""

    #: ``module:function`` taking (X, y) and returning a fitted estimator; None refits a clone
    #: of the champion's scikit-learn estimator or pipeline.
    training_function: Annotated[str, AfterValidator(_callable_spec)] | None = None
    time_limit_seconds: Positive = H.RETRAIN_TIME_LIMIT_SECONDS
    holdout_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = H.RETRAIN_HOLDOUT_FRACTION
    min_improvement: Unit = H.RETRAIN_MIN_IMPROVEMENT
    min_samples: Annotated[int, Field(ge=4)] = H.RETRAIN_MIN_SAMPLES
    seed: Annotated[int, Field(ge=0)] = H.RETRAIN_SEED
    #: When the retrain runs while the fallback serves (the fallback suffers from the same
    #: change), refit a clone of the fallback on the same rows too; it becomes the fallback if
    #: it beats the old one on the held-out rows (a fallback must be valid on today's data).
    refresh_fallback: bool = H.RETRAIN_REFRESH_FALLBACK


class EscalationConfig(_Section):
    """The ESCALATE action: where a human is told (a JSON POST), and how long to wait."""

    webhook_url: Annotated[str, AfterValidator(_http_url)] | None = None
    timeout_seconds: Positive = H.ESCALATION_TIMEOUT_SECONDS


class FallbackConfig(_Section):
    """The FALLBACK action: all traffic at once, or by the canary plan as in the paper."""

    plan: Literal["immediate", "canary"] = H.FALLBACK_PLAN


# --- the controller (safeheal.control) ----------------------------------------------------------
ControlMode = Literal["shadow", "canary", "autonomous"]


class ControlModelConfig(_Section):
    """One model under the controller: how far it may act (the paper's rollout, 6.2)."""

    #: ``shadow`` decides and records, never acts; ``canary`` acts up to the canary's first
    #: weight and waits for a human to promote; ``autonomous`` heals on its own.
    mode: ControlMode = "shadow"


class ControlConfig(_Section):
    """The controller's loop: windows, validation, escalation, concurrency.

    ``[control.models.NAME]`` names the models the controller runs and their mode; a model not
    listed gets ``default_mode``.
    """

    #: Length of one window of traffic, in minutes of the controller's clock.
    window_minutes: Positive = 1.0
    #: Windows after a heal in which the SLA must recover for the heal to count as a success.
    validation_windows: Annotated[int, Field(ge=1, le=1000)] = 1
    #: Consecutive windows in which the champion, evaluated in shadow on the window's traffic
    #: while its fallback serves, is in the envelope's ``healthy`` zone before the controller
    #: routes all traffic back to it.
    restore_windows: Annotated[int, Field(ge=1, le=1000)] = 2
    #: Before a restore, a timed probe of the champion on a sample of the window's inputs must
    #: be within this many times its p95 serving latency while healthy (shadow cannot see its
    #: latency): a champion whose host is still slow keeps waiting.
    restore_latency_tolerance: Annotated[float, Field(ge=1.0, le=1000.0)] = 2.0
    #: Rows of the window's inputs the champion's latency probe predicts on.
    probe_rows: Annotated[int, Field(ge=1, le=100_000)] = 50
    #: Consecutive failed heals of one model after which the controller escalates.
    max_consecutive_failures: Annotated[int, Field(ge=1, le=1000)] = 3
    #: Escalate a critical state in a context the bandit has no outcome in yet.
    escalate_novel: bool = True
    #: Threads that run model windows at once.
    max_workers: Annotated[int, Field(ge=1, le=256)] = 4
    #: Wall-clock seconds one model's window may take in ``run_once`` before it is marked late
    #: (it finishes in the background; the others are not held up).
    model_timeout_seconds: Positive = 10.0
    #: At most this many logged requests are read per window (the newest).
    max_requests: Annotated[int, Field(ge=1)] = 100_000
    #: Minimum rows in a window to compute a State; fewer and the window is skipped.
    min_rows: Annotated[int, Field(ge=1)] = 20
    #: Labels arriving in a window are joined to predictions made up to this many minutes
    #: before the window began (labels arrive after their predictions).
    label_lookback_minutes: NonNegative = 0.0
    #: A controller's lease on a model lasts this many windows and is renewed every window; a
    #: controller that dies has its models taken over by the others after it (``safeheal run``).
    lease_windows: Annotated[float, Field(ge=1.5, le=1000)] = 3.0
    default_mode: ControlMode = "shadow"
    models: dict[str, ControlModelConfig] = Field(default_factory=dict)


# --- serving ------------------------------------------------------------------------------------
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: Shortest admin token accepted (the gateway refuses shorter ones too).
MIN_ADMIN_TOKEN = 16


def _token(value: str) -> str:
    # Never echo a secret back: say how long it is, not what it is.
    if len(value) < MIN_ADMIN_TOKEN:
        raise ValueError(
            f"must be at least {MIN_ADMIN_TOKEN} characters long; got {len(value)} characters"
        )
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"must name an environment variable (letters, digits, _); got {value!r}")
    return value


def _model_name(value: str) -> str:
    if not _MODEL_NAME.match(value):
        raise ValueError(
            f"must be a model name (1-128 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit); got {value!r}"
        )
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError(f"must not be empty; got {value!r}")
    return value


ModelName = Annotated[str, AfterValidator(_model_name)]


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only: ``localhost`` or a loopback IP address.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost")
    (True, True, True)
    >>> is_loopback("0.0.0.0"), is_loopback("example.com")
    (False, False)
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


class ServeConfig(_Section):
    """``safeheal serve``: where the gateway listens, what it serves, and where it keeps things.

    Relative paths (``registry``, ``store``) are relative to the directory safeheal runs in.
    """

    #: Address to listen on; the loopback interface by default.
    host: Annotated[str, AfterValidator(_non_empty)] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    #: Bearer token of the admin API (16+ characters). Prefer ``admin_token_env``: a token in a
    #: file is a secret in a file. Neither: the admin API is off (every call answers 401).
    admin_token: Annotated[str, AfterValidator(_token)] | None = Field(default=None, repr=False)
    #: Name of the environment variable holding the admin token.
    admin_token_env: Annotated[str, AfterValidator(_env_name)] | None = None
    #: Registered models to serve: each starts on its champion, or on the split of its canary if
    #: one is running.
    models: list[ModelName] = Field(default_factory=list)
    #: The model registry: a directory (a local MLflow registry, created if missing) or any MLflow
    #: tracking URI (``sqlite:///…``, ``http://…``).
    registry: Annotated[str, AfterValidator(_non_empty)] = "safeheal-data/mlflow"
    #: The store (inference log, canaries, escalations): a path or a database URL; by default
    #: ``$SAFEHEAL_STORE_URL``, else ``safeheal-data/safeheal.db``.
    store: Annotated[str, AfterValidator(_non_empty)] | None = None
    #: Answers slower than this count against a canary's latency term, in milliseconds.
    latency_slo_ms: Positive = 100.0
    #: Largest request body accepted, in bytes (larger: 413).
    max_body_bytes: Annotated[int, Field(ge=1)] = 1 << 20
    #: Most rows (or labels) in one request (more: 413).
    max_rows: Annotated[int, Field(ge=1)] = 1_000
    #: Input features of models whose stored estimator does not record them (fitted on arrays,
    #: not DataFrames), in the order ``predict`` expects.
    feature_names: dict[ModelName, list[Annotated[str, AfterValidator(_non_empty)]]] = Field(
        default_factory=dict
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    #: The read-only dashboard at /ui (and its JSON under /ui/api), served without a token like
    #: /metrics: true or false; unset, it is on when ``host`` is a loopback address and off
    #: otherwise.
    ui: bool | None = None

    def ui_enabled(self, host: str | None = None) -> bool:
        """Whether the gateway serves the dashboard when it listens on ``host`` (default
        ``self.host``): ``ui`` when set, else whether that host is a loopback address.

        >>> ServeConfig().ui_enabled(), ServeConfig().ui_enabled("0.0.0.0")
        (True, False)
        >>> ServeConfig(ui=True).ui_enabled("0.0.0.0")
        True
        """
        if self.ui is not None:
            return self.ui
        return is_loopback(host or self.host)

    #: How often the gateway rereads the traffic split the controllers set in the store, in
    #: milliseconds (a split changes there by canary steps, at most once a window).
    traffic_refresh_ms: Annotated[int, Field(ge=1, le=60_000)] = 250

    @model_validator(mode="after")
    def _one_token(self) -> ServeConfig:
        if self.admin_token is not None and self.admin_token_env is not None:
            raise ValueError(
                "`serve.admin_token` and `serve.admin_token_env` are both set; give one of them"
            )
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"`serve.models` names a model twice; got {self.models}")
        return self

    def resolve_admin_token(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The admin token: ``admin_token``, or the value of the variable ``admin_token_env``
        names, or None (the admin API off). A ConfigError when that variable is unset or holds
        fewer than 16 characters."""
        if self.admin_token_env is None:
            return self.admin_token
        env = os.environ if environ is None else environ
        name = self.admin_token_env
        value = env.get(name)
        if not value:
            raise ConfigError(
                f"`serve.admin_token_env` names the environment variable {name}, which is not "
                f"set; set it to the admin token ({MIN_ADMIN_TOKEN}+ characters), or remove "
                f"the key to run without the admin API"
            )
        if len(value) < MIN_ADMIN_TOKEN:
            raise ConfigError(
                f"the admin token in {name} (named by `serve.admin_token_env`) must be at least "
                f"{MIN_ADMIN_TOKEN} characters long; got {len(value)} characters"
            )
        return value


# --- business impact ----------------------------------------------------------------------------
class LossWeightsConfig(_Section):
    """Share of revenue lost per unit of each signal (latency: per unit above the SLO)."""

    drift: NonNegative = D.LOSS_WEIGHTS["drift"]
    accuracy_drop: NonNegative = D.LOSS_WEIGHTS["accuracy_drop"]
    anomaly_rate: NonNegative = D.LOSS_WEIGHTS["anomaly_rate"]
    latency_ratio: NonNegative = D.LOSS_WEIGHTS["latency_ratio"]
    error_rate: NonNegative = D.LOSS_WEIGHTS["error_rate"]


class RepairConfig(_Section):
    """Log-normal time to repair of one action: median minutes and shape."""

    minutes_median: Positive
    sigma: NonNegative = 0.5


def _repair_defaults() -> dict[str, dict[str, float]]:
    return {k: {"minutes_median": m, "sigma": s} for k, (m, s) in D.REPAIR_MINUTES.items()}


class ImpactConfig(_Section):
    """Assumptions of the Monte Carlo business-impact estimate (see :mod:`safeheal.policy`)."""

    revenue_per_minute: NonNegative = D.REVENUE_PER_MINUTE
    cost_per_unit: NonNegative = D.COST_PER_UNIT
    incident_minutes_median: Positive = D.INCIDENT_MINUTES_MEDIAN
    incident_minutes_sigma: NonNegative = D.INCIDENT_MINUTES_SIGMA
    loss_weights: LossWeightsConfig = Field(default_factory=LossWeightsConfig)
    repair: dict[ActionName, RepairConfig] = Field(
        default_factory=lambda: {k: RepairConfig(**v) for k, v in _repair_defaults().items()}
    )
    samples: Annotated[int, Field(ge=1, le=10_000_000)] = D.IMPACT_SAMPLES

    @field_validator("repair", mode="before")
    @classmethod
    def _merge_repair(cls, value: object) -> object:
        return _merge(_repair_defaults(), value)


class PolicyConfig(_Section):
    """Which rule combines the layers, and the seed of every random choice."""

    mode: Literal["hybrid", "paper"] = "hybrid"
    seed: Annotated[int, Field(ge=0)] | None = None


class SafehealConfig(_Section):
    """The whole configuration; every section optional. See the module docstring."""

    actions: ActionsConfig = Field(default_factory=ActionsConfig)
    envelope: EnvelopeConfig = Field(default_factory=EnvelopeConfig)
    costs: CostsConfig = Field(default_factory=CostsConfig)
    sla: SLAConfig = Field(default_factory=SLAConfig)
    bandit: BanditConfig = Field(default_factory=BanditConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)
    canary: CanaryConfig = Field(default_factory=CanaryConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    fallback: FallbackConfig = Field(default_factory=FallbackConfig)
    impact: ImpactConfig = Field(default_factory=ImpactConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    control: ControlConfig = Field(default_factory=ControlConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

    @model_validator(mode="after")
    def _covered(self) -> SafehealConfig:
        needed = {Action.NO_OP.name, Action.ESCALATE.name}
        for r in self.envelope.to_rules():
            needed |= {a.name for a in r.permitted}
        for key, have in (("costs.actions", self.costs.actions), ("sla.effects", self.sla.effects)):
            missing = sorted(needed - set(have))
            if missing:
                raise ValueError(
                    f"the envelope can choose {', '.join(missing)}, so `{key}.{missing[0]}` must "
                    f"be configured; got no entry"
                )
        return self


# --- loading ------------------------------------------------------------------------------------
def load_config(path: str | os.PathLike[str]) -> SafehealConfig:
    """Read and validate a ``safeheal.toml``; raise :class:`ConfigError` naming any bad key."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"configuration file {p} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {p}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p} is not valid TOML: {exc}") from None
    return parse_config(data, source=str(p))


def parse_config(data: Mapping[str, Any], *, source: str = "configuration") -> SafehealConfig:
    """Validate an already-parsed configuration (e.g. a dict); errors as :func:`load_config`."""
    try:
        return SafehealConfig.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, source) from None
    except ConfigError as exc:  # raised outside pydantic's reach (e.g. an unknown action key)
        raise ConfigError(f"{source}: {exc}") from None


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(rest) != 1:
                return tp
            tp = rest[0]
        else:
            return tp


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the table at ``loc`` accepts, for "unknown key" messages."""
    tp: Any = SafehealConfig
    for part in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {(f.alias or name): f for name, f in tp.model_fields.items()}
            field = fields.get(str(part))
            if field is None:
                return []
            tp = field.annotation
        elif origin is list:
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return sorted((f.alias or name) for name, f in tp.model_fields.items())
    return []


def _config_error(exc: ValidationError, source: str) -> ConfigError:
    lines: list[str] = []
    for e in exc.errors(include_url=False):
        loc = tuple(e["loc"])
        path = _dotted(loc)
        kind = e["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
            lines.append(f"`{path}` is not a known key{hint}; got {e['input']!r}")
            continue
        if kind == "missing":
            lines.append(f"`{path}` is required; got nothing")
            continue
        msg = str(e["msg"]).removeprefix("Value error, ").replace("Input should be", "must be")
        if kind == "value_error":  # our own messages already say what was given
            sep = " " if msg.startswith("must ") else ": "
            lines.append(f"`{path}`{sep}{msg}" if path else msg)
        else:
            lines.append(f"`{path}` {msg}; got {e['input']!r}")
    if len(lines) == 1:
        return ConfigError(f"{source}: {lines[0]}")
    return ConfigError(f"{source}: {len(lines)} errors\n  " + "\n  ".join(lines))
