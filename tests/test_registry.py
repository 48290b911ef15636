"""The model registry: one conformance suite for every ModelRegistry, then MLflow specifics.

Runs against a real MLflow registry (SQLite and an artifact folder in a temporary directory) with
real scikit-learn models trained on scikit-learn's breast-cancer data. MLflow is slow to start
(creating its database takes seconds), so one registry serves the whole module; each test works
on its own model name, so the tests do not depend on each other.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from safeheal.errors import ConfigError, RegistryError, UnknownModelError
from safeheal.heal import InMemoryRegistry, MlflowRegistry, ModelRegistry, RoleMove

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class TickingClock:
    """A clock one minute later at every reading: role moves get distinct, known times."""

    def __init__(self) -> None:
        self.ticks = 0

    def __call__(self) -> datetime:
        self.ticks += 1
        return T0 + timedelta(minutes=self.ticks)


class MoveRecorder:
    """A RoleMoveLog that keeps what it is told, as the SQL store will."""

    def __init__(self) -> None:
        self.moves: list[RoleMove] = []

    def on_role_move(self, move: RoleMove) -> None:
        self.moves.append(move)


Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def data() -> Data:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    return X_train, X_test, y_train, y_test


@pytest.fixture(scope="module")
def champion_model(data: Data) -> Any:
    X_train, _, y_train, _ = data
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_train, y_train)


@pytest.fixture(scope="module")
def fallback_model(data: Data) -> Any:
    X_train, _, y_train, _ = data
    return DecisionTreeClassifier(max_depth=3, random_state=0).fit(X_train, y_train)


# --- the implementations under test: each declares how to build one ---------------------------
def _mlflow(root: Path, clock: TickingClock, log: MoveRecorder) -> ModelRegistry:
    return MlflowRegistry.local(root, clock=clock, move_log=log)


def _memory(root: Path, clock: TickingClock, log: MoveRecorder) -> ModelRegistry:
    return InMemoryRegistry(clock=clock, move_log=log)


IMPLEMENTATIONS: dict[str, Callable[[Path, TickingClock, MoveRecorder], ModelRegistry]] = {
    "memory": _memory,
    "mlflow": _mlflow,
}


class Setup:
    def __init__(self, registry: ModelRegistry, clock: TickingClock, log: MoveRecorder) -> None:
        self.registry, self.clock, self.log = registry, clock, log


@pytest.fixture(scope="module", params=sorted(IMPLEMENTATIONS))
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    clock, log = TickingClock(), MoveRecorder()
    root = tmp_path_factory.mktemp(f"registry-{request.param}")
    return Setup(IMPLEMENTATIONS[request.param](root, clock, log), clock, log)


@pytest.fixture
def registry(setup: Setup) -> ModelRegistry:
    return setup.registry


# --- conformance suite --------------------------------------------------------------------------
def test_implements_the_protocol(registry: ModelRegistry) -> None:
    assert isinstance(registry, ModelRegistry)


def test_register_numbers_versions_and_keeps_tags(
    registry: ModelRegistry, champion_model: Any, fallback_model: Any
) -> None:
    v1 = registry.register(
        "reg-basic",
        champion_model,
        metrics={"accuracy": 0.95},
        tags={"dataset": "breast_cancer"},
        reason="first fit",
    )
    v2 = registry.register("reg-basic", fallback_model, reason="a simpler model")
    assert (v1.name, v1.version, v2.version) == ("reg-basic", 1, 2)
    assert v1.tags["dataset"] == "breast_cancer"
    assert v1.tags["safeheal.reason"] == "first fit"
    assert v1.tags["safeheal.estimator"] == "sklearn.pipeline.Pipeline"
    assert v1.created_at.tzinfo is not None
    assert v1.created_at <= v2.created_at
    assert [v.version for v in registry.versions("reg-basic")] == [1, 2]
    assert registry.get("reg-basic", 2) == v2
    assert registry.roles("reg-basic") == {}
    assert registry.get_role("reg-basic", "champion") is None


def test_load_predicts_like_the_original_and_is_cached(
    registry: ModelRegistry, champion_model: Any, data: Data
) -> None:
    _, X_test, _, _ = data
    v = registry.register("reg-load", champion_model)
    loaded = registry.load("reg-load", v.version)
    assert loaded is not champion_model
    np.testing.assert_array_equal(loaded.predict(X_test), champion_model.predict(X_test))
    np.testing.assert_allclose(loaded.predict_proba(X_test), champion_model.predict_proba(X_test))
    assert registry.load("reg-load", v.version) is loaded


def test_every_role_move_is_recorded_with_who_when_and_why(
    setup: Setup, champion_model: Any, fallback_model: Any
) -> None:
    registry, log = setup.registry, setup.log
    name = "reg-roles"
    seen_before = len(log.moves)
    v1 = registry.register(name, champion_model, role="champion", reason="initial deployment")
    fb = registry.register(name, fallback_model, role="fallback")
    v3 = registry.register(name, champion_model)
    assert registry.roles(name) == {"champion": 1, "fallback": 2}

    move = registry.set_role(name, "champion", v3.version, reason="retrained", actor="controller")
    assert move is not None
    assert (move.from_version, move.to_version) == (1, 3)
    assert (move.actor, move.reason, move.role, move.model) == (
        "controller",
        "retrained",
        "champion",
        name,
    )
    assert move.at > T0  # stamped by the injected clock
    # Idempotent: pointing a role where it already points moves nothing and records nothing.
    assert registry.set_role(name, "champion", v3.version, reason="again") is None
    back = registry.set_role(name, "champion", v1.version, reason="rollback: accuracy dropped")
    assert back is not None
    assert registry.get_role(name, "champion") == registry.get(name, v1.version)

    assert registry.clear_role(name, "challenger", reason="nothing to clear") is None
    registry.set_role(name, "challenger", v3.version, reason="canary")
    cleared = registry.clear_role(name, "challenger", reason="canary aborted")
    assert cleared is not None
    assert (cleared.from_version, cleared.to_version) == (3, None)
    assert registry.roles(name) == {"champion": 1, "fallback": fb.version}

    champion_moves = [
        (m.from_version, m.to_version, m.reason) for m in registry.role_history(name, "champion")
    ]
    assert champion_moves == [
        (None, 1, "initial deployment"),
        (1, 3, "retrained"),
        (3, 1, "rollback: accuracy dropped"),
    ]
    history = registry.role_history(name)
    assert [m.role for m in history] == [
        "champion",
        "fallback",
        "champion",
        "champion",
        "challenger",
        "challenger",
    ]
    assert [m.at for m in history] == sorted(m.at for m in history)
    assert history[1].reason == "registered as fallback"
    # The hook was told the same moves, in the same order.
    assert log.moves[seen_before:] == history


def test_last_known_good_skips_the_champion_and_anything_unhealthy(
    registry: ModelRegistry, fallback_model: Any
) -> None:
    name = "reg-health"
    for _ in range(3):
        registry.register(name, fallback_model)

    def good(exclude: tuple[int, ...] = ()) -> int | None:
        v = registry.last_known_good(name, exclude=exclude)
        return None if v is None else v.version

    assert good() is None  # nothing marked healthy yet
    registry.mark_healthy(name, 1, "served a week")
    registry.mark_healthy(name, 2, "passed its canary")
    registry.set_role(name, "champion", 2, reason="promoted")
    assert good() == 1  # 2 is the champion itself
    registry.mark_healthy(name, 3, "passed its canary")
    assert good() == 3
    registry.mark_unhealthy(name, 3, "accuracy dropped 12 points after promotion")
    v3 = registry.get(name, 3)
    assert v3.health == "unhealthy"
    assert v3.tags["safeheal.health.reason"] == "accuracy dropped 12 points after promotion"
    assert good() == 1
    assert good(exclude=(1,)) is None


def test_unknown_models_and_versions_are_refused_and_nothing_moves(
    registry: ModelRegistry, fallback_model: Any
) -> None:
    name = "reg-unknown"
    registry.register(name, fallback_model, role="champion")
    with pytest.raises(UnknownModelError, match="no-such-model"):
        registry.roles("no-such-model")
    for call in (
        lambda: registry.get("no-such-model", 1),
        lambda: registry.versions("no-such-model"),
        lambda: registry.get(name, 99),
        lambda: registry.load(name, 99),
        lambda: registry.set_role(name, "champion", 99, reason="typo"),
    ):
        with pytest.raises(UnknownModelError):
            call()
    assert registry.roles(name) == {"champion": 1}
    assert len(registry.role_history(name)) == 1
    assert issubclass(UnknownModelError, LookupError)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda r, m: r.register("a model", m), "model name"),
        (lambda r, m: r.register("ok", m, role="champ"), "role must be one of"),
        (lambda r, m: r.set_role("ok", "boss", 1, reason=""), "role must be one of"),
        (lambda r, m: r.get("ok", 0), "version must be a whole number >= 1"),
        (lambda r, m: r.load("ok", True), "version must be a whole number >= 1"),
    ],
)
def test_bad_names_roles_and_versions_are_config_errors(
    registry: ModelRegistry, fallback_model: Any, call: Any, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        call(registry, fallback_model)


# --- MLflow specifics ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mlflow_setup(setup: Setup) -> MlflowRegistry:
    if not isinstance(setup.registry, MlflowRegistry):
        pytest.skip("MLflow-specific")
    return setup.registry


def test_metrics_go_on_the_run(mlflow_setup: MlflowRegistry, fallback_model: Any) -> None:
    from mlflow import MlflowClient

    v = mlflow_setup.register("reg-metrics", fallback_model, metrics={"accuracy": 0.93, "f1": 0.9})
    assert v.run_id is not None
    run = MlflowClient(mlflow_setup.tracking_uri).get_run(v.run_id)
    assert run.data.metrics == {"accuracy": 0.93, "f1": 0.9}
    assert run.info.status == "FINISHED"


def test_roles_and_history_survive_reopening_the_store(
    mlflow_setup: MlflowRegistry, fallback_model: Any, data: Data
) -> None:
    name = "reg-reopen"
    mlflow_setup.register(name, fallback_model, role="champion", reason="first")
    mlflow_setup.register(name, fallback_model, role="champion", reason="second")
    again = MlflowRegistry(mlflow_setup.tracking_uri)
    assert again.roles(name) == {"champion": 2}
    assert [m.reason for m in again.role_history(name)] == ["first", "second"]
    _, X_test, _, _ = data
    np.testing.assert_array_equal(
        again.load(name, 2).predict(X_test), fallback_model.predict(X_test)
    )


def test_a_version_logged_by_plain_mlflow_is_served_too(
    mlflow_setup: MlflowRegistry, fallback_model: Any, data: Data
) -> None:
    import mlflow

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_setup.tracking_uri)
    try:
        experiment = mlflow.get_experiment_by_name("safeheal")  # the default one logs to ./mlruns
        assert experiment is not None
        with mlflow.start_run(experiment_id=experiment.experiment_id):
            mlflow.sklearn.log_model(
                fallback_model,
                name="model",
                registered_model_name="reg-plain",
                pip_requirements=["scikit-learn"],
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
    finally:
        mlflow.set_tracking_uri(before)
    v = mlflow_setup.set_role("reg-plain", "champion", 1, reason="adopted by safeheal")
    assert v is not None
    assert v.from_version is None
    _, X_test, _, _ = data
    loaded = mlflow_setup.load("reg-plain", 1)
    np.testing.assert_array_equal(loaded.predict(X_test), fallback_model.predict(X_test))


def test_an_estimator_skops_cannot_store_is_refused_with_a_hint(
    mlflow_setup: MlflowRegistry, data: Data
) -> None:
    X_train, _, y_train, _ = data
    odd = make_pipeline(
        FunctionTransformer(lambda x: x * 2.0), DecisionTreeClassifier(max_depth=2)
    ).fit(X_train, y_train)
    with pytest.raises(RegistryError, match="serialization_format='cloudpickle'"):
        mlflow_setup.register("reg-odd", odd)
    with pytest.raises(UnknownModelError):
        mlflow_setup.versions("reg-odd")


def test_importing_heal_does_not_import_mlflow_and_telemetry_is_off() -> None:
    code = (
        "import os, sys, json; os.environ.pop('MLFLOW_DISABLE_TELEMETRY', None)\n"
        "import safeheal.heal\n"
        "before = 'mlflow' in sys.modules\n"
        "from safeheal.heal._mlflow import _import_mlflow\n"
        "_import_mlflow()\n"
        "print(json.dumps([before, os.environ.get('MLFLOW_DISABLE_TELEMETRY')]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [False, "true"]


@pytest.mark.parametrize(
    ("estimator", "words"),
    [
        (None, "fitted estimator with a predict"),
        ("a model", "fitted estimator with a predict"),
        (DecisionTreeClassifier(), "DecisionTreeClassifier given for model 'unfit' is not fitted"),
    ],
)
def test_what_cannot_predict_is_never_registered(
    registry: ModelRegistry, estimator: Any, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        registry.register("unfit", estimator, role="fallback", reason="would serve nothing")
    with pytest.raises(UnknownModelError):  # nothing was created
        registry.get_role("unfit", "fallback")
