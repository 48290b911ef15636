"""The simulated production world: real data, real models, and what each failure does.

Data sets (all ship inside installed packages; nothing is downloaded):

- ``digits``: scikit-learn's handwritten digits (1,797 rows, 10 classes; the 16 pixels with the
  largest variance);
- ``fair``: Fair's affairs survey from statsmodels (:func:`safeheal.datasets.load_fair`);
- ``randhie``: the RAND health insurance experiment from statsmodels (20,190 rows, 6,000 used;
  target: any doctor visit);
- ``anes96``: the 1996 American National Election Study from statsmodels (944 rows; target:
  the vote).

Each data set is shuffled once (seed 0) and split into a *training* part (the champion's training
data, which is also the detectors' reference) and a *pool* that traffic is drawn from. Every run
starts with three versions of the model in its registry: the **fallback** (version 1: median
imputation, inputs clipped to the training range, a regularised logistic regression), the
**previous champion** (version 2: the champion's family fit on the older half of the training
data) and the **champion** (version 3: fit on all of it). All three are marked healthy.

Serving: the fallback runs on its own small host; every other version runs on the main host. A
request's latency is log-normal (median 40 ms on the main host, 15 ms on the fallback's; the SLO
is 100 ms at p95); a model that cannot take a missing value fails the request.

What each kind of failure does, at severity ``s`` (times the ramp's progress for gradual ones):

- covariate_shift: a quarter of the features (at least one) are offset by (0.5 + 1.5·s)·std
  (a unit or calibration change upstream); labels keep their meaning;
- concept_drift: in a region of the input space (one feature above its (1 − 0.3·s) quantile,
  so up to 30% of the traffic) every label moves to the next class: a new rule, learnable;
- missing_values: in a quarter of the features, each value is missing with probability 0.6·s;
- outliers: a share 0.5·s of rows get a value 6–10 std out in one to three features;
- schema_change: two features of different scale swap places in a share s of rows (a producer
  reordered its columns);
- accuracy_decay: the champion version (the one serving at the onset) answers a wrong class for
  a share 0.6·s of requests (a stale artefact; other versions are unaffected);
- latency_increase: that version's latency is multiplied by 1 + 2.5·s;
- memory_leak: that version's latency grows by a factor 1 + 3·s·progress and, past half the ramp,
  a share 0.8·(s·progress − 0.5) of its requests fail (out of memory);
- resource_exhaustion: the main host's latency is multiplied by 1 + 3·s and 10·s % of its
  requests fail;
- network_latency: the main host's calls to the feature store add 60·s ms and a share 0.3·s time
  out;
- dependency_failure: a share 0.15 + 0.35·s of the main host's requests fail (a database outage);
- adversarial_inputs: a share 0.5·s of requests are malformed: 30% of their features multiplied
  by −20;
- outlier_cluster: a share 0.3·s of requests come from one unusual cluster (copies of one row,
  shifted 4 std in two features);
- temporal_anomaly: a cyclic burst (30-minute period) sends up to 0.5·s of requests shifted 3 std
  in one feature.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from safeheal.bench._scenarios import ScenarioSpec

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

__all__ = ["Data", "Served", "Traffic", "World", "build_world", "load_data"]

#: Latency objective (p95) of every model, in milliseconds.
LATENCY_SLO_MS = 100.0
_MAIN_MEDIAN_MS = 40.0
_FALLBACK_MEDIAN_MS = 15.0
_LATENCY_SIGMA = 0.35
_BASE_ERROR_RATE = 0.002

#: Registry versions every run starts with.
FALLBACK_VERSION, PREVIOUS_VERSION, CHAMPION_VERSION = 1, 2, 3


@dataclass(frozen=True, slots=True)
class Data:
    """A shuffled data set split into training rows (also the reference) and a traffic pool."""

    name: str
    X_train: FloatArray
    y_train: IntArray
    X_pool: FloatArray
    y_pool: IntArray
    n_classes: int


def _digits() -> tuple[FloatArray, IntArray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    keep = np.argsort(-X.std(axis=0), kind="stable")[:16]
    return np.asarray(X[:, np.sort(keep)], dtype=np.float64), np.asarray(y, dtype=np.int64)


def _fair() -> tuple[FloatArray, IntArray]:
    from safeheal.datasets import load_fair

    d = load_fair()
    return d.X.to_numpy(dtype=np.float64), np.asarray(d.y, dtype=np.int64)


def _randhie() -> tuple[FloatArray, IntArray]:
    from statsmodels.datasets import randhie

    frame = randhie.load_pandas().data
    y = (frame["mdvis"].to_numpy() > 0).astype(np.int64)
    X = frame.drop(columns=["mdvis"]).to_numpy(dtype=np.float64)
    return X, y


def _anes96() -> tuple[FloatArray, IntArray]:
    from statsmodels.datasets import anes96

    frame = anes96.load_pandas().data
    y = frame["vote"].to_numpy().astype(np.int64)
    X = frame.drop(columns=["vote", "logpopul"]).to_numpy(dtype=np.float64)
    return X, y


_LOADERS = {"digits": _digits, "fair": _fair, "randhie": _randhie, "anes96": _anes96}
_LIMITS = {
    "digits": (900, 1797),
    "fair": (1500, 4000),
    "randhie": (1500, 6000),
    "anes96": (550, 944),
}


@functools.cache
def load_data(name: str) -> Data:
    """The data set ``name``, shuffled with seed 0 and split (cached per process)."""
    X, y = _LOADERS[name]()
    n_train, n_total = _LIMITS[name]
    order = np.random.default_rng(0).permutation(len(y))[:n_total]
    X, y = X[order], y[order]
    return Data(
        name,
        X[:n_train].copy(),
        y[:n_train].copy(),
        X[n_train:].copy(),
        y[n_train:].copy(),
        int(np.unique(y).size),
    )


def make_model(kind: str) -> Any:
    """An unfitted estimator of the family ``kind``."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if kind == "forest":
        return RandomForestClassifier(n_estimators=30, max_depth=8, random_state=0, n_jobs=1)
    return make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=15))


def make_fallback() -> Any:
    """The fallback: median imputation, inputs clipped to the training range, and a strongly
    regularised logistic regression (simple, robust to missing and extreme values, fast)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        MinMaxScaler(clip=True),
        LogisticRegression(C=0.5, max_iter=2000),
    )


def _fit(model: Any, X: FloatArray, y: IntArray) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y)


@dataclass(frozen=True, slots=True)
class World:
    """The fitted models of one (data set, model family), shared by every run that uses them."""

    data: Data
    fallback: Any
    previous: Any
    champion: Any
    #: The champion's accuracy on the healthy pool: the baseline of the accuracy drop.
    baseline_accuracy: float
    #: Whether each version can answer a request with a missing value, by version number.
    takes_nan: dict[int, bool] = field(default_factory=dict)


def takes_missing(model: Any, n_features: int) -> bool:
    """True when ``model`` answers a row holding a missing value."""
    row = np.zeros((1, n_features))
    row[0, 0] = np.nan
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.predict(row)
    except ValueError:
        return False
    return True


@functools.cache
def build_world(dataset: str, model: str) -> World:
    """Fit the three starting versions on ``dataset`` (cached per process)."""
    d = load_data(dataset)
    half = len(d.y_train) // 2
    fallback = _fit(make_fallback(), d.X_train, d.y_train)
    previous = _fit(make_model(model), d.X_train[:half], d.y_train[:half])
    champion = _fit(make_model(model), d.X_train, d.y_train)
    baseline = float(np.mean(champion.predict(d.X_pool) == d.y_pool))
    p = d.X_train.shape[1]
    takes = {
        FALLBACK_VERSION: takes_missing(fallback, p),
        PREVIOUS_VERSION: takes_missing(previous, p),
        CHAMPION_VERSION: takes_missing(champion, p),
    }
    return World(d, fallback, previous, champion, baseline, takes)


# --- traffic ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Traffic:
    """One window of requests: inputs, true labels, and the random numbers serving uses."""

    k: int
    minute: float
    X: FloatArray
    y: IntArray
    #: Per request, a uniform draw that places it on an arm, and one that decides failures.
    route_u: FloatArray
    fail_u: FloatArray
    #: Per request, a standard normal that sets its latency.
    latency_z: FloatArray
    #: Per request, a uniform draw for version-level corruption (accuracy decay).
    corrupt_u: FloatArray
    #: Which requests carry a label (labels arrive for a share of them).
    labelled: BoolArray
    active: bool
    progress: float


class Injector:
    """Draws the windows of one run of a scenario: the healthy traffic and the failure on it.

    Everything random about the failure (which features, which cluster) is drawn once from
    ``seed`` when the injector is built; each window then has its own generator, so window ``k``
    is the same whatever happened before it.
    """

    def __init__(
        self, spec: ScenarioSpec, world: World, seed: int, *, rows: int, label_share: float
    ) -> None:
        self.spec = spec
        self.world = world
        self.rows = rows
        self.label_share = label_share
        self._seed = seed
        d = world.data
        rng = np.random.default_rng([seed, 7919])
        p = d.X_train.shape[1]
        self.std = np.where(d.X_train.std(axis=0) > 0, d.X_train.std(axis=0), 1.0)
        self.median = np.median(d.X_train, axis=0)
        k = max(1, p // 4)
        self.features = np.sort(rng.choice(p, size=k, replace=False))
        self.feature = int(rng.integers(p))
        self.sorted_feature = np.sort(d.X_train[:, self.feature])
        self.extreme = np.sort(rng.choice(p, size=min(p, int(rng.integers(1, 4))), replace=False))
        by_scale = np.argsort(self.std)
        self.swap = (int(by_scale[0]), int(by_scale[-1]))
        self.signs = rng.choice([-1.0, 1.0], size=p)
        cluster = int(rng.integers(len(d.y_pool)))
        self.cluster_row = d.X_pool[cluster].copy()
        self.cluster_label = int(d.y_pool[cluster])
        self.cluster_features = np.sort(rng.choice(p, size=min(2, p), replace=False))
        self.malformed: BoolArray = np.asarray(rng.random(p) < 0.3, dtype=bool)
        if not self.malformed.any():
            self.malformed[int(rng.integers(p))] = True

    def window(self, k: int, minute: float) -> Traffic:
        """Window ``k`` (starting at ``minute``)."""
        d, spec, n = self.world.data, self.spec, self.rows
        rng = np.random.default_rng([self._seed, 104729, k])
        idx = rng.integers(0, len(d.y_pool), size=n)
        X = d.X_pool[idx].copy()
        y = d.y_pool[idx].copy()
        route_u, fail_u, corrupt_u = rng.random(n), rng.random(n), rng.random(n)
        latency_z = rng.standard_normal(n)
        labelled = rng.random(n) < self.label_share
        active = spec.active(minute)
        prog = spec.progress(minute)
        if active:
            self._inject(X, y, rng, spec.severity * prog, minute)
        return Traffic(
            k, minute, X, y, route_u, fail_u, latency_z, corrupt_u, labelled, active, prog
        )

    def _inject(
        self, X: FloatArray, y: IntArray, rng: np.random.Generator, s: float, minute: float
    ) -> None:
        kind, n = self.spec.kind, len(y)
        std = self.std
        if kind == "covariate_shift":
            f = self.features
            X[:, f] += (0.5 + 1.5 * s) * std[f] * self.signs[f]
        elif kind == "concept_drift":
            col = self.sorted_feature
            cut = col[min(len(col) - 1, int((1.0 - 0.3 * s) * (len(col) - 1)))]
            move = X[:, self.feature] > cut
            y[move] = (y[move] + 1) % self.world.data.n_classes
        elif kind == "missing_values":
            f = self.features
            mask = rng.random((n, len(f))) < 0.6 * s
            block = X[:, f]
            block[mask] = np.nan
            X[:, f] = block
        elif kind == "outliers":
            sel = rng.random(n) < 0.5 * s
            for j in self.extreme:
                X[sel, j] += self.signs[j] * rng.uniform(6.0, 10.0, size=int(sel.sum())) * std[j]
        elif kind == "schema_change":
            sel = rng.random(n) < s
            a, b = self.swap
            col_a = X[sel, a].copy()
            X[sel, a] = X[sel, b]
            X[sel, b] = col_a
        elif kind == "adversarial_inputs":
            rows = np.flatnonzero(rng.random(n) < 0.5 * s)
            cols = np.flatnonzero(self.malformed)
            X[np.ix_(rows, cols)] *= -20.0
        elif kind == "outlier_cluster":
            rows = np.flatnonzero(rng.random(n) < 0.3 * s)
            base = self.cluster_row + rng.normal(0.0, 0.05, size=(len(rows), X.shape[1])) * std
            f = self.cluster_features
            base[:, f] += 4.0 * std[f] * self.signs[f]
            X[rows] = base
            y[rows] = self.cluster_label
        elif kind == "temporal_anomaly":
            share = (
                0.5
                * s
                * 0.5
                * (1.0 + math.sin(2.0 * math.pi * (minute - self.spec.onset_minute) / 30.0))
            )
            sel = rng.random(n) < share
            j = self.feature
            X[sel, j] += 3.0 * std[j] * self.signs[j]
        # model-level and infrastructure kinds leave the traffic alone (see Served)


# --- serving ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Served:
    """What one version answered to every request of a window (as if it had served them all)."""

    version: int
    pred: IntArray
    error: BoolArray
    latency_ms: FloatArray
    correct: BoolArray

    @property
    def accuracy(self) -> float:
        ok = ~self.error
        return float(self.correct[ok].mean()) if ok.any() else 0.0

    @property
    def error_rate(self) -> float:
        return float(self.error.mean())

    @property
    def within_slo(self) -> float:
        """Share of requests answered without error within the latency SLO."""
        return float(np.mean(~self.error & (self.latency_ms <= LATENCY_SLO_MS)))


def serve(
    spec: ScenarioSpec,
    world: World,
    traffic: Traffic,
    version: int,
    model: Any,
    *,
    faulty_version: int,
    fallback_version: int = FALLBACK_VERSION,
    takes_nan: bool,
) -> Served:
    """Answer every request of ``traffic`` with ``model`` (``version`` of the run's model)."""
    X, n = traffic.X, len(traffic.y)
    s = spec.severity * traffic.progress if traffic.active else 0.0
    kind = spec.kind
    main_host = version != fallback_version
    missing: BoolArray = np.asarray(np.isnan(X).any(axis=1), dtype=bool)
    error_p = np.full(n, _BASE_ERROR_RATE)
    median = _MAIN_MEDIAN_MS if main_host else _FALLBACK_MEDIAN_MS
    latency = median * np.exp(_LATENCY_SIGMA * traffic.latency_z)
    if not takes_nan:
        error_p = np.where(missing, 1.0, error_p)
    Xc = np.where(missing[:, None], 0.0, X) if (not takes_nan and missing.any()) else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = np.asarray(model.predict(Xc), dtype=np.int64)
    if s > 0.0 and version == faulty_version:
        if kind == "accuracy_decay":
            wrong = traffic.corrupt_u < 0.6 * s
            pred = np.where(wrong, (pred + 1) % world.data.n_classes, pred)
        elif kind == "latency_increase":
            latency = latency * (1.0 + 2.5 * s)
        elif kind == "memory_leak":
            latency = latency * (1.0 + 3.0 * s)
            error_p = np.maximum(error_p, 0.8 * max(0.0, s - 0.5))
    if s > 0.0 and main_host:
        if kind == "resource_exhaustion":
            latency = latency * (1.0 + 3.0 * s)
            error_p = np.maximum(error_p, 0.10 * s)
        elif kind == "network_latency":
            latency = latency + 60.0 * s
            timeout = traffic.corrupt_u < 0.3 * s
            latency = np.where(timeout, np.inf, latency)
        elif kind == "dependency_failure":
            error_p = np.maximum(error_p, 0.15 + 0.35 * s)
    error = (traffic.fail_u < error_p) | np.isinf(latency)
    return Served(version, pred, error, latency, pred == traffic.y)
