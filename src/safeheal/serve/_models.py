"""Model sources: a static set of fitted models, the registry, and the gateway's cache."""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from safeheal.errors import ConfigError
from safeheal.serve._errors import ModelNotFoundError
from safeheal.serve._protocols import ModelSource, Predictor, RoleRegistry


def check_feature_names(names: Sequence[str], *, model: str, version: int) -> tuple[str, ...]:
    """Feature names as a tuple: at least one, all non-empty distinct strings."""
    out = tuple(names)
    if not out or not all(isinstance(n, str) and n for n in out):
        raise ConfigError(
            f"version {version} of model {model!r} must have at least one feature, each named "
            f"by a non-empty string; got {list(out)!r}"
        )
    if len(set(out)) != len(out):
        dupes = sorted({n for n in out if out.count(n) > 1})
        raise ConfigError(f"version {version} of model {model!r} repeats features {dupes}")
    return out


class StaticModelSource:
    """A :class:`~safeheal.serve.ModelSource` over fitted models held in memory.

    >>> from sklearn.dummy import DummyClassifier
    >>> source = StaticModelSource()
    >>> m = DummyClassifier().fit([[0.0, 1.0]], [1])
    >>> source.add("churn", 1, m, ["age", "tenure"])
    >>> source.feature_names("churn", 1)
    ('age', 'tenure')
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[str, int], tuple[Predictor, tuple[str, ...]]] = {}

    def add(self, name: str, version: int, predictor: Any, feature_names: Sequence[str]) -> None:
        """Serve ``predictor`` as ``version`` of ``name``; its ``predict`` gets a float64 array
        with columns in the order of ``feature_names``."""
        names = check_feature_names(feature_names, model=name, version=version)
        wrapped = as_predictor(predictor, names)
        with self._lock:
            self._models[(name, version)] = (wrapped, names)

    def _get(self, name: str, version: int) -> tuple[Predictor, tuple[str, ...]]:
        try:
            return self._models[(name, version)]
        except KeyError:
            raise ModelNotFoundError(
                f"version {version} of model {name!r} is not in this StaticModelSource"
            ) from None

    def load(self, name: str, version: int) -> Predictor:
        return self._get(name, version)[0]

    def feature_names(self, name: str, version: int) -> Sequence[str]:
        return self._get(name, version)[1]


class _FramePredictor:
    """Hands a model fitted on a DataFrame the named columns, in the order it was fitted with."""

    def __init__(self, model: Any, names: tuple[str, ...], fitted: tuple[str, ...]) -> None:
        self._model = model
        self._columns = list(fitted)
        order = [names.index(f) for f in fitted]
        self._order: list[int] | None = None if order == list(range(len(names))) else order

    def predict(self, X: NDArray[np.float64], /) -> Any:
        import pandas as pd

        if self._order is not None:
            X = X[:, self._order]
        return self._model.predict(pd.DataFrame(X, columns=self._columns, copy=False))


def as_predictor(model: Any, feature_names: Sequence[str]) -> Predictor:
    """``model`` as a :class:`~safeheal.serve.Predictor` taking a float64 array.

    A scikit-learn model fitted on a DataFrame (it has ``feature_names_in_``) gets its columns
    by name, so it neither warns nor sees columns in the wrong order; others get the array.
    """
    if not callable(getattr(model, "predict", None)):
        raise ConfigError(f"a served model must have a predict method; got {type(model).__name__}")
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None:
        fitted_names = tuple(map(str, fitted))
        if sorted(fitted_names) != sorted(feature_names):
            raise ConfigError(
                f"the model was fitted on features {list(fitted_names)}, not on "
                f"{list(feature_names)}"
            )
        return _FramePredictor(model, tuple(feature_names), fitted_names)
    wrapped: Predictor = model
    return wrapped


class RegistryModelSource:
    """A :class:`~safeheal.serve.ModelSource` over a model registry (e.g. the MLflow adapter).

    Feature names come from ``feature_names`` when given for a model, else from the loaded
    model's ``feature_names_in_`` (scikit-learn models fitted on a DataFrame).
    """

    def __init__(
        self, registry: RoleRegistry, feature_names: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self._registry = registry
        self._names = {k: tuple(v) for k, v in (feature_names or {}).items()}
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, int], tuple[Predictor, tuple[str, ...]]] = {}

    def _get(self, name: str, version: int) -> tuple[Predictor, tuple[str, ...]]:
        key = (name, version)
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
        try:
            model = self._registry.load(name, version)
        except LookupError as exc:
            raise ModelNotFoundError(
                f"version {version} of model {name!r} is not in the registry: {exc}"
            ) from exc
        names = self._names.get(name)
        if names is None:
            fitted = getattr(model, "feature_names_in_", None)
            if fitted is None:
                raise ConfigError(
                    f"version {version} of model {name!r} does not record its feature names; "
                    "fit it on a DataFrame or give feature_names to RegistryModelSource"
                )
            names = tuple(map(str, fitted))
        names = check_feature_names(names, model=name, version=version)
        entry = (as_predictor(model, names), names)
        with self._lock:
            self._loaded[key] = entry
        return entry

    def load(self, name: str, version: int) -> Predictor:
        return self._get(name, version)[0]

    def feature_names(self, name: str, version: int) -> Sequence[str]:
        return self._get(name, version)[1]


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A version ready to answer: its predictor and what validating a row needs."""

    name: str
    version: int
    predictor: Predictor
    feature_names: tuple[str, ...]
    #: Row object -> tuple of values in feature order (KeyError if a feature is missing).
    pick: Callable[[Mapping[str, Any]], tuple[Any, ...]]


def _picker(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    if len(names) == 1:
        only = names[0]
        return lambda row: (row[only],)
    getter: Callable[[Mapping[str, Any]], tuple[Any, ...]] = operator.itemgetter(*names)
    return getter


class ModelCache:
    """A :class:`~safeheal.serve.ModelSource` that loads each version once (thread-safe) and keeps
    it until told to forget it."""

    def __init__(self, source: ModelSource) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, int], threading.Lock] = {}
        self._cache: dict[tuple[str, int], LoadedModel] = {}

    def get(self, name: str, version: int) -> LoadedModel | None:
        """The loaded version, or None if it has not been loaded (never blocks)."""
        return self._cache.get((name, version))

    def ensure(self, name: str, version: int) -> LoadedModel:
        """The loaded version, loading it now if needed (blocks; at most one load per key)."""
        key = (name, version)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
            predictor = self.source.load(name, version)
            names = check_feature_names(
                self.source.feature_names(name, version), model=name, version=version
            )
            loaded = LoadedModel(name, version, predictor, names, _picker(names))
            with self._lock:
                updated = dict(self._cache)
                updated[key] = loaded
                self._cache = updated
            return loaded

    def load(self, name: str, version: int) -> Predictor:
        """ModelSource: the cached predictor."""
        return self.ensure(name, version).predictor

    def feature_names(self, name: str, version: int) -> Sequence[str]:
        """ModelSource: the cached feature names."""
        return self.ensure(name, version).feature_names

    def retain(self, name: str, versions: set[int]) -> None:
        """Forget the versions of ``name`` not in ``versions``."""
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if k[0] != name or k[1] in versions}
            self._key_locks = {
                k: v for k, v in self._key_locks.items() if k[0] != name or k[1] in versions
            }
