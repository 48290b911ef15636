"""The model registry over MLflow's (local SQLite by default, any MLflow tracking server at scale).

MLflow is imported when a :class:`MlflowRegistry` is built, never when safeheal is imported
(``import mlflow`` takes about a second). Before importing it, safeheal sets
``MLFLOW_DISABLE_TELEMETRY=true`` unless the environment already says otherwise: MLflow sends
usage telemetry by default.

How safeheal's notions map onto MLflow:

- a model is a *registered model*; a version is a *model version*, logged from a run of the
  experiment ``safeheal`` with the estimator in the sklearn flavour (skops format by default),
  the metrics on the run and the tags on the version;
- a role is an *alias* (``champion``, ``challenger``, ``fallback``);
- health is a version tag (``safeheal.health`` = ``healthy`` / ``unhealthy``, with
  ``safeheal.health.reason`` and ``safeheal.health.at``);
- MLflow keeps no history of aliases, so every role move is also written as a tag of the
  registered model, ``safeheal.move.<ns>.<id>`` = the move as JSON, and handed to the optional
  :class:`~safeheal.heal.RoleMoveLog`. Moving the alias and writing its tag are two calls: a crash
  between them leaves a move without its record (never a record without its move).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from safeheal.errors import ConfigError, RegistryError, UnknownModelError
from safeheal.heal._registry import (
    HEALTH_AT_TAG,
    HEALTH_REASON_TAG,
    HEALTH_TAG,
    ROLES,
    Clock,
    ModelVersion,
    Role,
    RoleMove,
    RoleMoveLog,
    check_model_name,
    check_role,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion as MlflowModelVersion

__all__ = ["MlflowRegistry"]

MOVE_TAG_PREFIX = "safeheal.move."
SerializationFormat = Literal["skops", "cloudpickle", "pickle"]
#: Types skops refuses by default that scikit-learn's own tree models need (decision trees,
#: forests, gradient boosting): their node arrays are indexed without bounds checks, so a forged
#: file could crash ``predict``. safeheal trusts them by default because it loads only what its
#: own registry holds; pass ``trusted_types=()`` to a registry that others can write to.
SKLEARN_TREE_TYPES = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
_FORMAT_PACKAGES = {"skops": "skops", "cloudpickle": "cloudpickle", "pickle": None}


def _import_mlflow() -> ModuleType:
    """Import the parts of MLflow the adapter uses, with telemetry off unless asked for.

    MLflow's own modules raise warnings when imported (a SQLAlchemy 2.1 deprecation in its
    store, a type-hint notice in pyfunc) that no caller can act on; they are silenced here, at
    import only.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        import mlflow.artifacts
        import mlflow.pyfunc
        import mlflow.sklearn
        import mlflow.store.model_registry.sqlalchemy_store
        import mlflow.store.tracking.sqlalchemy_store
    # "Creating initial MLflow database tables" and the like: housekeeping a safeheal user did not
    # ask for. Quieted only when nobody configured MLflow's database logger.
    db_log = logging.getLogger("mlflow.store.db.utils")
    if db_log.level == logging.NOTSET:
        db_log.setLevel(logging.WARNING)
    return mlflow


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _pins(*dists: str | None) -> list[str]:
    out = []
    for d in dists:
        if d is None:
            continue
        try:
            out.append(f"{d}=={dist_version(d)}")
        except PackageNotFoundError:
            out.append(d)
    return out


class MlflowRegistry:
    """A :class:`~safeheal.heal.ModelRegistry` over MLflow's model registry.

    ``tracking_uri`` is any MLflow tracking URI (``sqlite:///…/mlflow.db``, ``http://mlflow:5000``);
    :meth:`local` builds the default: a SQLite registry and an artifact folder in one directory,
    which works with no network. ``clock`` stamps role moves and health marks (the controller
    passes its own, possibly accelerated, clock). Loaded models are cached by (name, version),
    ``cache_size`` of them at most.

    Models are stored with MLflow's sklearn flavour in ``serialization_format``: ``skops`` (the
    default), which stores only types it knows to be safe plus ``trusted_types`` (by default
    :data:`SKLEARN_TREE_TYPES`, needed by tree models), or ``cloudpickle`` / ``pickle`` for
    estimators skops cannot store (custom classes, lambdas). MLflow reads the trusted types back
    from the stored model, and pickle runs code from the artifact when loaded: a registry that
    people outside your team can write to is not safe to load from, whatever the format.
    """

    def __init__(
        self,
        tracking_uri: str,
        *,
        registry_uri: str | None = None,
        artifact_location: str | None = None,
        experiment: str = "safeheal",
        serialization_format: SerializationFormat = "skops",
        trusted_types: Sequence[str] = SKLEARN_TREE_TYPES,
        move_log: RoleMoveLog | None = None,
        clock: Clock | None = None,
        cache_size: int = 8,
    ) -> None:
        owner = "MlflowRegistry"
        if serialization_format not in _FORMAT_PACKAGES:
            raise ConfigError(
                f"the `serialization_format` parameter of {owner} must be one of "
                f"{', '.join(_FORMAT_PACKAGES)}; got {serialization_format!r}"
            )
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ConfigError(
                f"the `cache_size` parameter of {owner} must be a whole number >= 1; "
                f"got {cache_size!r}"
            )
        if move_log is not None and not isinstance(move_log, RoleMoveLog):
            raise ConfigError(
                f"the `move_log` parameter of {owner} must have an on_role_move(move) method; "
                f"got {move_log!r}"
            )
        self._mlflow = _import_mlflow()
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self._format: SerializationFormat = serialization_format
        self._trusted = list(trusted_types)
        self._requirements = _pins("scikit-learn", _FORMAT_PACKAGES[serialization_format])
        self._move_log = move_log
        self._clock: Clock = clock or _utc_now
        self._cache: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        with self._errors(f"opening the MLflow registry at {tracking_uri}"):
            self._client: MlflowClient = MlflowClient(
                tracking_uri=tracking_uri, registry_uri=self.registry_uri
            )
            self._experiment_id = self._experiment(experiment, artifact_location)

    @classmethod
    def local(cls, directory: str | os.PathLike[str], **kwargs: Any) -> MlflowRegistry:
        """A registry in ``directory`` (created if missing): ``mlflow.db`` and ``artifacts/``."""
        root = Path(directory).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return cls(
            f"sqlite:///{root / 'mlflow.db'}",
            artifact_location=(root / "artifacts").as_uri(),
            **kwargs,
        )

    @classmethod
    def open(cls, where: str | os.PathLike[str], **kwargs: Any) -> MlflowRegistry:
        """The registry ``where`` names (``[serve] registry``): an MLflow tracking URI (it has
        ``://``), else a directory holding a local registry (:meth:`local`, created if missing)."""
        text = os.fspath(where)
        if "://" in text:
            return cls(text, **kwargs)
        return cls.local(text, **kwargs)

    def __repr__(self) -> str:
        return f"MlflowRegistry({self.tracking_uri!r})"

    # --- plumbing -------------------------------------------------------------------------------
    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from mlflow.exceptions import MlflowException

        try:
            yield
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise UnknownModelError(f"{what}: {exc.message}") from exc
            raise RegistryError(f"{what} failed: {exc.message}") from exc
        except OSError as exc:
            raise RegistryError(f"{what} failed: {exc}") from exc

    def _experiment(self, name: str, artifact_location: str | None) -> str:
        from mlflow.exceptions import MlflowException

        exp = self._client.get_experiment_by_name(name)
        if exp is None:
            try:
                return self._client.create_experiment(name, artifact_location=artifact_location)
            except MlflowException:  # perhaps created meanwhile by another process
                exp = self._client.get_experiment_by_name(name)
                if exp is None:
                    raise
        if exp.lifecycle_stage != "active":
            raise RegistryError(
                f"the MLflow experiment {name!r} is deleted; restore it or pick another "
                f"`experiment` name"
            )
        return str(exp.experiment_id)

    @staticmethod
    def _version(mv: MlflowModelVersion) -> ModelVersion:
        return ModelVersion(
            name=str(mv.name),
            version=int(mv.version),
            run_id=mv.run_id or None,
            created_at=datetime.fromtimestamp((mv.creation_timestamp or 0) / 1000, UTC),
            tags=dict(mv.tags or {}),
        )

    @staticmethod
    def _check_version(version: object) -> int:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ConfigError(f"a model version must be a whole number >= 1; got {version!r}")
        return version

    # --- versions -------------------------------------------------------------------------------
    def register(
        self,
        name: str,
        estimator: Any,
        *,
        role: Role | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        reason: str = "",
        actor: str = "safeheal",
    ) -> ModelVersion:
        """Log ``estimator`` from a new run and register it as the next version of ``name``.

        ``metrics`` go on the run, ``tags`` (and who registered it, why, and the estimator's
        class) on the version. With ``role``, the role moves to the new version.
        """
        from mlflow.entities import Metric
        from mlflow.exceptions import MlflowException

        check_model_name(name)
        if role is not None:
            check_role(role)
        _check_fitted(estimator, name)
        what = f"registering a version of model {name!r}"
        cls = type(estimator)
        version_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        version_tags.update(
            {
                "safeheal.registered_by": actor,
                "safeheal.reason": reason,
                "safeheal.estimator": f"{cls.__module__}.{cls.__qualname__}",
            }
        )
        with self._errors(what):
            run = self._client.create_run(
                self._experiment_id, tags={"safeheal.model": name}, run_name=f"register-{name}"
            )
            run_id = run.info.run_id
            try:
                with tempfile.TemporaryDirectory(prefix="safeheal-") as tmp:
                    path = os.path.join(tmp, "model")
                    self._mlflow.sklearn.save_model(
                        estimator,
                        path,
                        serialization_format=self._format,
                        pip_requirements=self._requirements,
                        skops_trusted_types=self._trusted or None,
                    )
                    self._client.log_artifacts(run_id, path, "model")
                now_ms = int(time.time() * 1000)
                if metrics:
                    self._client.log_batch(
                        run_id,
                        metrics=[Metric(str(k), float(v), now_ms, 0) for k, v in metrics.items()],
                    )
            except MlflowException as exc:
                self._client.set_terminated(run_id, status="FAILED")
                raise RegistryError(
                    f"{what} failed: {exc.message} (safeheal: pass `trusted_types=[...]` or "
                    f"`serialization_format='cloudpickle'` to MlflowRegistry for estimators "
                    f"skops cannot store)"
                    if "skops" in exc.message
                    else f"{what} failed: {exc.message}"
                ) from exc
            except BaseException:
                self._client.set_terminated(run_id, status="FAILED")
                raise
            self._client.set_terminated(run_id)
            try:
                self._client.create_registered_model(name, tags={"safeheal.managed": "true"})
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            mv = self._client.create_model_version(
                name, f"{run.info.artifact_uri}/model", run_id=run_id, tags=version_tags
            )
        registered = self._version(mv)
        if role is not None:
            self.set_role(
                name,
                role,
                registered.version,
                reason=reason or f"registered as {role}",
                actor=actor,
            )
        return registered

    def get(self, name: str, version: int) -> ModelVersion:
        check_model_name(name)
        self._check_version(version)
        with self._errors(f"reading version {version} of model {name!r}"):
            return self._version(self._client.get_model_version(name, str(version)))

    def versions(self, name: str) -> list[ModelVersion]:
        check_model_name(name)
        out: list[ModelVersion] = []
        with self._errors(f"listing the versions of model {name!r}"):
            self._client.get_registered_model(name)  # UnknownModelError if there is none
            token: str | None = None
            while True:
                page = self._client.search_model_versions(f"name='{name}'", page_token=token)
                out += (self._version(mv) for mv in page)
                token = page.token
                if not token:
                    break
        return sorted(out, key=lambda v: v.version)

    def load(self, name: str, version: int) -> Any:
        check_model_name(name)
        self._check_version(version)
        key = (name, version)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        with (
            self._errors(f"loading version {version} of model {name!r}"),
            tempfile.TemporaryDirectory(prefix="safeheal-") as tmp,
        ):
            local = self._mlflow.artifacts.download_artifacts(
                artifact_uri=self._artifact_uri(name, version),
                dst_path=tmp,
                tracking_uri=self.tracking_uri,
                registry_uri=self.registry_uri,
            )
            estimator = self._mlflow.sklearn.load_model(local)
        with self._lock:
            self._cache[key] = estimator
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return estimator

    def _artifact_uri(self, name: str, version: int) -> str:
        # Resolved here with this registry's client: MLflow resolves ``models:/`` and ``runs:/``
        # URIs against the process-wide tracking URI, not the one it is given.
        uri = self._client.get_model_version_download_uri(name, str(version))
        if uri.startswith("runs:/"):
            run_id, _, path = uri.removeprefix("runs:/").partition("/")
            return f"{self._client.get_run(run_id).info.artifact_uri}/{path}".rstrip("/")
        if uri.startswith("models:/m-"):
            model_id, _, path = uri.removeprefix("models:/").partition("/")
            base = self._client.get_logged_model(model_id).artifact_location
            return f"{base}/{path}".rstrip("/")
        return uri

    # --- roles ----------------------------------------------------------------------------------
    def roles(self, name: str) -> dict[Role, int]:
        check_model_name(name)
        with self._errors(f"reading the roles of model {name!r}"):
            aliases = self._client.get_registered_model(name).aliases
        return {r: int(aliases[r]) for r in ROLES if r in aliases}

    def get_role(self, name: str, role: Role) -> ModelVersion | None:
        check_role(role)
        v = self.roles(name).get(role)
        return None if v is None else self.get(name, v)

    def set_role(
        self, name: str, role: Role, version: int, *, reason: str, actor: str = "safeheal"
    ) -> RoleMove | None:
        check_model_name(name)
        check_role(role)
        self._check_version(version)
        self.get(name, version)  # UnknownModelError before anything moves
        current = self.roles(name).get(role)
        if current == version:
            return None
        with self._errors(f"moving role {role!r} of model {name!r} to version {version}"):
            self._client.set_registered_model_alias(name, role, str(version))
        return self._record(RoleMove(name, role, current, version, actor, reason, self._clock()))

    def clear_role(
        self, name: str, role: Role, *, reason: str, actor: str = "safeheal"
    ) -> RoleMove | None:
        check_model_name(name)
        check_role(role)
        current = self.roles(name).get(role)
        if current is None:
            return None
        with self._errors(f"clearing role {role!r} of model {name!r}"):
            self._client.delete_registered_model_alias(name, role)
        return self._record(RoleMove(name, role, current, None, actor, reason, self._clock()))

    def _record(self, move: RoleMove) -> RoleMove:
        key = f"{MOVE_TAG_PREFIX}{time.time_ns():020d}.{uuid.uuid4().hex[:8]}"
        with self._errors(f"recording the move of role {move.role!r} of model {move.model!r}"):
            self._client.set_registered_model_tag(move.model, key, json.dumps(move.to_dict()))
        if self._move_log is not None:
            self._move_log.on_role_move(move)
        return move

    def role_history(self, name: str, role: Role | None = None) -> list[RoleMove]:
        check_model_name(name)
        if role is not None:
            check_role(role)
        with self._errors(f"reading the role history of model {name!r}"):
            tags = self._client.get_registered_model(name).tags
        moves = [
            RoleMove.from_dict(json.loads(tags[k]))
            for k in sorted(k for k in tags if k.startswith(MOVE_TAG_PREFIX))
        ]
        return [m for m in moves if role is None or m.role == role]

    # --- health ---------------------------------------------------------------------------------
    def _mark(self, name: str, version: int, health: str, reason: str) -> None:
        self.get(name, version)
        with self._errors(f"marking version {version} of model {name!r} {health}"):
            for key, value in (
                (HEALTH_TAG, health),
                (HEALTH_REASON_TAG, reason),
                (HEALTH_AT_TAG, self._clock().isoformat()),
            ):
                self._client.set_model_version_tag(name, str(version), key, value)

    def mark_healthy(self, name: str, version: int, reason: str) -> None:
        self._mark(name, version, "healthy", reason)

    def mark_unhealthy(self, name: str, version: int, reason: str) -> None:
        self._mark(name, version, "unhealthy", reason)

    def last_known_good(self, name: str, *, exclude: Iterable[int] = ()) -> ModelVersion | None:
        skip = set(exclude)
        champion = self.roles(name).get("champion")
        if champion is not None:
            skip.add(champion)
        good = [v for v in self.versions(name) if v.health == "healthy" and v.version not in skip]
        return max(good, key=lambda v: v.version, default=None)


def _check_fitted(estimator: object, name: str) -> None:
    """Refuse what cannot serve predictions: no ``predict``, or a scikit-learn model not fitted."""
    if not callable(getattr(estimator, "predict", None)):
        raise ConfigError(
            f"a version of model {name!r} must be a fitted estimator with a predict() method; "
            f"got {type(estimator).__name__}"
        )
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if isinstance(estimator, BaseEstimator):
        try:
            check_is_fitted(estimator)
        except NotFittedError:
            raise ConfigError(
                f"the {type(estimator).__name__} given for model {name!r} is not fitted; call "
                "fit() before registering it"
            ) from None
