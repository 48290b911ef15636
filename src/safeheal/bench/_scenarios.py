"""Failure scenarios as data: a validated spec per scenario, the paper's 43-scenario suite, files.

A :class:`ScenarioSpec` says which real data set and scikit-learn model a simulated production run
serves, which failure is injected, when (``onset_minute``), how hard (``severity`` in (0, 1]), for
how long (``duration_minutes``, None: to the end of the run) and how fast it builds up
(``ramp_minutes``). What each kind of failure does to the run is written in
:mod:`safeheal.bench._world`. Users add their own scenarios in a TOML or JSON file
(:func:`load_scenarios`)::

    [[scenario]]
    name = "fair-concept"
    kind = "concept_drift"
    dataset = "fair"
    model = "logreg"
    onset_minute = 30
    severity = 0.6
"""

from __future__ import annotations

import json
import math
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from safeheal.bench._records import FAMILIES
from safeheal.errors import ConfigError

__all__ = [
    "DATASETS",
    "EPISODE_MINUTES",
    "KINDS",
    "MODELS",
    "PAPER_MIX",
    "WINDOW_MINUTES",
    "ScenarioSpec",
    "default_suite",
    "load_scenarios",
]

#: Each kind of failure and its family (paper 5.1.1).
KINDS: dict[str, str] = {
    "covariate_shift": "data_drift",
    "concept_drift": "data_drift",
    "missing_values": "data_drift",
    "outliers": "data_drift",
    "schema_change": "data_drift",
    "accuracy_decay": "model_degradation",
    "latency_increase": "model_degradation",
    "memory_leak": "model_degradation",
    "resource_exhaustion": "infrastructure",
    "network_latency": "infrastructure",
    "dependency_failure": "infrastructure",
    "adversarial_inputs": "anomaly",
    "outlier_cluster": "anomaly",
    "temporal_anomaly": "anomaly",
}

#: The paper's mix (5.1.1): how many scenarios of each kind; feature corruption is the three
#: kinds missing_values, outliers and schema_change (5 in all).
PAPER_MIX: dict[str, int] = {
    "covariate_shift": 7,
    "concept_drift": 6,
    "missing_values": 2,
    "outliers": 2,
    "schema_change": 1,
    "accuracy_decay": 8,
    "latency_increase": 3,
    "memory_leak": 1,
    "resource_exhaustion": 4,
    "network_latency": 2,
    "dependency_failure": 2,
    "adversarial_inputs": 2,
    "outlier_cluster": 2,
    "temporal_anomaly": 1,
}

#: Real data sets that ship inside installed packages (see :mod:`safeheal.bench._world`).
DATASETS: tuple[str, ...] = ("digits", "fair", "randhie", "anes96")
#: The champion's model family: a scaled logistic regression, a random forest, k nearest
#: neighbours.
MODELS: tuple[str, ...] = ("logreg", "forest", "knn")

#: Length of one monitoring window and of a whole run, in simulated minutes.
WINDOW_MINUTES = 5.0
EPISODE_MINUTES = 150.0


def _text(value: object, name: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"`{name}` of {where} must be a non-empty string; got {value!r}")
    return value


def _choice(value: object, name: str, where: str, options: Sequence[str]) -> str:
    if value not in options:
        raise ConfigError(f"`{name}` of {where} must be one of {', '.join(options)}; got {value!r}")
    return str(value)


def _number(
    value: object, name: str, where: str, low: float, high: float, *, open_low: bool
) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = (v > low if open_low else v >= low) and v <= high
    if not ok:
        left = "(" if open_low else "["
        raise ConfigError(
            f"`{name}` of {where} must be a number in {left}{low:g}, {high:g}]; got {value!r}"
        )
    return float(value)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """One failure scenario, validated when built.

    >>> s = ScenarioSpec("fair-concept", "concept_drift", "fair", "logreg", severity=0.6)
    >>> s.family, s.end_minute
    ('data_drift', 150.0)
    >>> ScenarioSpec("x", "meteor_strike", "fair", "logreg")
    Traceback (most recent call last):
    ...
    safeheal.errors.ConfigError: `kind` of scenario 'x' must be one of covariate_shift, concept_drift, missing_values, outliers, schema_change, accuracy_decay, latency_increase, memory_leak, resource_exhaustion, network_latency, dependency_failure, adversarial_inputs, outlier_cluster, temporal_anomaly; got 'meteor_strike'
    """  # noqa: E501

    name: str
    kind: str
    dataset: str
    model: str
    #: When the failure starts, in minutes from the start of the run (at least one window in,
    #: so the run has a healthy window, and at least 30 minutes before the end).
    onset_minute: float = 30.0
    #: How hard the failure hits, in (0, 1]; what it means depends on the kind.
    severity: float = 0.5
    #: How long the failure lasts; None: to the end of the run.
    duration_minutes: float | None = None
    #: Minutes from the onset until the failure reaches full severity (0: at once).
    ramp_minutes: float = 0.0
    description: str = ""

    def __post_init__(self) -> None:
        where = f"scenario {self.name!r}"
        _text(self.name, "name", "a scenario")
        _choice(self.kind, "kind", where, tuple(KINDS))
        _choice(self.dataset, "dataset", where, DATASETS)
        _choice(self.model, "model", where, MODELS)
        onset = _number(
            self.onset_minute,
            "onset_minute",
            where,
            WINDOW_MINUTES,
            EPISODE_MINUTES - 30.0,
            open_low=False,
        )
        object.__setattr__(self, "onset_minute", onset)
        object.__setattr__(
            self, "severity", _number(self.severity, "severity", where, 0.0, 1.0, open_low=True)
        )
        if self.duration_minutes is not None:
            d = _number(
                self.duration_minutes,
                "duration_minutes",
                where,
                0.0,
                EPISODE_MINUTES,
                open_low=True,
            )
            object.__setattr__(self, "duration_minutes", d)
        object.__setattr__(
            self,
            "ramp_minutes",
            _number(self.ramp_minutes, "ramp_minutes", where, 0.0, EPISODE_MINUTES, open_low=False),
        )
        if not isinstance(self.description, str):
            raise ConfigError(
                f"`description` of {where} must be a string; got {self.description!r}"
            )

    @property
    def family(self) -> str:
        return KINDS[self.kind]

    @property
    def end_minute(self) -> float:
        """When the failure stops (the end of the run if it never does)."""
        if self.duration_minutes is None:
            return EPISODE_MINUTES
        return min(EPISODE_MINUTES, self.onset_minute + self.duration_minutes)

    @property
    def duration(self) -> float:
        """Minutes the failure is active within the run."""
        return self.end_minute - self.onset_minute

    def active(self, minute: float) -> bool:
        """True when the failure is active at ``minute``."""
        return self.onset_minute <= minute < self.end_minute

    def progress(self, minute: float) -> float:
        """How far the failure has built up at ``minute``, in [0, 1] (0 when inactive)."""
        if not self.active(minute):
            return 0.0
        if self.ramp_minutes <= 0.0:
            return 1.0
        return min(1.0, (minute - self.onset_minute + WINDOW_MINUTES) / self.ramp_minutes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "a scenario") -> ScenarioSpec:
        """A spec from a mapping; unknown or missing keys are a :class:`ConfigError`."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where} must be a table of keys; got {data!r}")
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError(
                f"{where} has unknown key(s) {', '.join(extra)}; expected some of "
                f"{', '.join(sorted(known))}"
            )
        missing = [k for k in ("name", "kind", "dataset", "model") if k not in data]
        if missing:
            raise ConfigError(f"{where} is missing the key(s) {', '.join(missing)}")
        return cls(**dict(data))


def load_scenarios(path: str | Path) -> tuple[ScenarioSpec, ...]:
    """Scenarios from a TOML file (``[[scenario]]`` tables) or a JSON file (a list of objects,
    or ``{"scenario": [...]}``); names must be unique."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"scenario file {p} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read scenario file {p}: {exc}") from None
    data: Any
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"scenario file {p} is not valid {p.suffix[1:] or 'TOML'}: {exc}"
        ) from None
    items = data.get("scenario") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise ConfigError(
            f"scenario file {p} must hold at least one scenario ([[scenario]] tables in TOML, "
            f"a list of objects in JSON)"
        )
    specs = tuple(
        ScenarioSpec.from_dict(item, where=f"scenario #{i + 1} of {p.name}")
        for i, item in enumerate(items)
    )
    dup = sorted(n for n, c in Counter(s.name for s in specs).items() if c > 1)
    if dup:
        raise ConfigError(f"scenario file {p} repeats the name(s) {', '.join(dup)}")
    return specs


# --- the default suite --------------------------------------------------------------------------
#: Per kind: (severities, onset, duration, ramp) of the default suite, cycled over its scenarios.
_SHAPES: dict[str, tuple[tuple[float, ...], float, float | None, float]] = {
    "covariate_shift": ((0.3, 0.5, 0.7, 0.9, 0.4, 0.6, 1.0), 30.0, None, 0.0),
    "concept_drift": ((0.4, 0.6, 0.8, 0.5, 0.7, 1.0), 35.0, None, 0.0),
    "missing_values": ((0.4, 0.8), 30.0, None, 0.0),
    "outliers": ((0.5, 0.9), 30.0, None, 0.0),
    "schema_change": ((1.0,), 40.0, None, 0.0),
    "accuracy_decay": ((0.3, 0.5, 0.7, 0.9, 0.4, 0.6, 0.8, 1.0), 25.0, None, 45.0),
    "latency_increase": ((0.4, 0.7, 1.0), 30.0, None, 0.0),
    "memory_leak": ((0.9,), 20.0, None, 60.0),
    "resource_exhaustion": ((0.5, 0.8, 0.6, 1.0), 35.0, 60.0, 0.0),
    "network_latency": ((0.5, 0.9), 40.0, 30.0, 0.0),
    "dependency_failure": ((0.6, 1.0), 30.0, 45.0, 0.0),
    "adversarial_inputs": ((0.5, 0.9), 30.0, 60.0, 0.0),
    "outlier_cluster": ((0.6, 0.9), 30.0, None, 0.0),
    "temporal_anomaly": ((0.8,), 40.0, 30.0, 0.0),
}


def default_suite() -> tuple[ScenarioSpec, ...]:
    """The paper's 43 scenarios (5.1.1): every data set and model family, several severities.

    >>> suite = default_suite()
    >>> len(suite), Counter(s.family for s in suite)["data_drift"]
    (43, 18)
    """
    out: list[ScenarioSpec] = []
    i = 0
    for kind, count in PAPER_MIX.items():
        severities, onset, duration, ramp = _SHAPES[kind]
        for j in range(count):
            dataset = DATASETS[i % len(DATASETS)]
            model = MODELS[(i // len(DATASETS) + i) % len(MODELS)]
            i += 1
            out.append(
                ScenarioSpec(
                    name=f"{kind.replace('_', '-')}-{j + 1}",
                    kind=kind,
                    dataset=dataset,
                    model=model,
                    onset_minute=onset + 5.0 * (j % 3),
                    severity=severities[j % len(severities)],
                    duration_minutes=duration,
                    ramp_minutes=ramp,
                )
            )
    return tuple(out)


def family_counts(specs: Sequence[ScenarioSpec]) -> dict[str, int]:
    """How many scenarios of each family, in the order of :data:`FAMILIES`."""
    c = Counter(s.family for s in specs)
    return {f: c.get(f, 0) for f in FAMILIES}
