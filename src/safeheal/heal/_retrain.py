"""RETRAIN: train a candidate on recent labelled data, make it beat the champion on held-out
recent data, then deploy it by canary.

The training function is named in configuration (``[retrain] training_function =
"module:function"``, called as ``function(X, y)`` and returning a fitted estimator); by default
a clone of the champion's scikit-learn estimator or pipeline is refitted.

Training runs in a worker thread with a time limit. Python cannot kill a thread: one that runs
past its limit is abandoned (a daemon thread, so it never keeps the process alive), its result is
discarded when it ends, and the retrain fails at once. A training function that may run away for
long should bound itself (``max_iter``, ``n_estimators``) or run its work in a subprocess.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from safeheal.errors import ActionRefused, ConfigError
from safeheal.heal._deploy import canary_plan, start_canary
from safeheal.heal._execution import (
    ActionContext,
    ExecutionResult,
    ExecutionStatus,
    Measurement,
    Meter,
    MeteredExecutor,
    make_result,
)

__all__ = ["HOLDOUT_TAG", "RetrainExecutor", "TrainingFunction", "resolve_training_function"]

#: The registry tag holding a retrained version's score on the held-out recent rows.
HOLDOUT_TAG = "safeheal.holdout_score"

#: ``function(X, y)`` returning a fitted estimator.
TrainingFunction = Callable[[Any, Any], Any]


def resolve_training_function(spec: str) -> TrainingFunction:
    """The function a ``"module:function"`` spec names (imported with importlib).

    >>> resolve_training_function("sklearn.base:clone").__name__
    'clone'
    >>> resolve_training_function("no_such_module:fit")
    Traceback (most recent call last):
    ...
    safeheal.errors.ConfigError: `retrain.training_function` names module 'no_such_module', which cannot be imported: No module named 'no_such_module'
    """  # noqa: E501
    key = "`retrain.training_function`"
    module_name, sep, attr = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if not (sep and module_name and attr):
        raise ConfigError(f'{key} must be "module:function"; got {spec!r}')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{key} names module {module_name!r}, which cannot be imported: {exc}"
        ) from None
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(
                f"{key} names {attr!r} in module {module_name!r}, which has no such attribute"
            ) from None
    if not callable(target):
        raise ConfigError(f"{key} names {spec!r}, which is not callable; got {target!r}")
    return target  # type: ignore[no-any-return]


@dataclass(slots=True)
class _Outcome:
    estimator: Any = None
    error: BaseException | None = None
    timed_out: bool = False
    cpu_seconds: float = 0.0
    seconds: float = 0.0


def _train_with_limit(fn: TrainingFunction, X: Any, y: Any, limit: float) -> _Outcome:
    box = _Outcome()
    done = threading.Event()

    def work() -> None:
        try:
            box.estimator = fn(X, y)
        except BaseException as exc:  # reported, never raised in the worker
            box.error = exc
        finally:
            done.set()

    cpu0, t0 = time.process_time(), time.monotonic()
    worker = threading.Thread(target=work, name="safeheal-retrain", daemon=True)
    worker.start()
    finished = done.wait(limit)
    out = _Outcome(cpu_seconds=max(0.0, time.process_time() - cpu0), seconds=time.monotonic() - t0)
    if not finished:
        out.timed_out = True
        return out
    out.estimator, out.error = box.estimator, box.error
    return out


def _split(X: Any, y: Any, fraction: float, seed: int) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    try:
        parts = train_test_split(X, y, test_size=fraction, random_state=seed, stratify=y)
    except ValueError:  # a class too rare to stratify, or a continuous target
        parts = train_test_split(X, y, test_size=fraction, random_state=seed)
    X_train, X_hold, y_train, y_hold = parts
    return X_train, X_hold, y_train, y_hold


def _rows(y: Any) -> int:
    try:
        return len(y)
    except TypeError:
        raise ActionRefused(f"the recent labels have no length; got {type(y).__name__}") from None


class RetrainExecutor(MeteredExecutor):
    """RETRAIN (see the module docstring). Steps, each of which can end it:

    1. refused (nothing changes) without recent labelled data, with fewer rows than
       ``retrain.min_samples``, without a champion, or while a canary of the model is running;
    2. split the rows (seeded) into train and held-out (``retrain.holdout_fraction``);
    3. train within ``retrain.time_limit_seconds``: an error or the limit → FAILED;
    4. score candidate and champion on the held-out rows (``estimator.score``: accuracy for a
       classifier, R² for a regressor); unless the candidate's score exceeds the champion's by
       more than ``retrain.min_improvement`` → FAILED, the candidate is not registered and no
       traffic moves. A failure while the fallback serves (and fails too: the retrain was the
       last safe step) sets ``escalate``: a human must decide;
    5. when the fallback serves all traffic (the paper's case study, 6.3.1: fallback first,
       then a retrain on fresh data) and ``retrain.refresh_fallback`` is on, the fallback is
       refitted too (a clone of it on the same training rows, within the same time limit): a
       change in the labels that the champion failed on, the fallback fails on as well, and a
       fallback must be valid on today's data to be worth falling back to. The refit becomes
       the ``fallback`` role only if it beats the old fallback on the held-out rows; traffic
       does not move for it (the old fallback keeps serving until the canary ends);
    6. register the candidate as ``challenger`` and start a canary (``[canary]``) against what
       serves now → CANARY_STARTED. :func:`~safeheal.heal.finish_canary` ends it.

    Each registered version is tagged with its held-out score (``safeheal.holdout_score``), an
    honest baseline for monitoring it (its score on its own training rows would flatter it).
    """

    def __repr__(self) -> str:
        return "RetrainExecutor()"

    def _run(self, ctx: ActionContext, meter: Meter) -> ExecutionResult:
        cfg = ctx.settings.retrain
        spec = cfg.training_function
        train = resolve_training_function(spec) if spec else None
        name = ctx.model
        if ctx.X is None or ctx.y is None:
            raise ActionRefused(f"no recent labelled data for model {name!r}; a retrain needs X, y")
        n = _rows(ctx.y)
        if n < cfg.min_samples:
            raise ActionRefused(
                f"{n} recent labelled rows for model {name!r}; a retrain needs at least "
                f"{cfg.min_samples} (`retrain.min_samples`)"
            )
        champion = ctx.registry.get_role(name, "champion")
        if champion is None:
            raise ActionRefused(f"model {name!r} has no champion to retrain or to compare with")
        if ctx.canaries is not None and ctx.canaries.active_canaries(name):
            raise ActionRefused(f"a canary of model {name!r} is still running; finish it first")
        incumbent = ctx.serving_version() or champion.version
        X_train, X_hold, y_train, y_hold = _split(ctx.X, ctx.y, cfg.holdout_fraction, cfg.seed)
        champion_model = ctx.registry.load(name, champion.version)
        if train is None:
            from sklearn.base import clone

            def refit(X: Any, y: Any) -> Any:
                return clone(champion_model).fit(X, y)

            train, how = refit, f"a clone of champion version {champion.version}"
        else:
            how = spec or ""
        outcome = _train_with_limit(train, X_train, y_train, cfg.time_limit_seconds)

        fallback = ctx.registry.get_role(name, "fallback")
        on_fallback = fallback is not None and fallback.version == incumbent != champion.version

        def failed(why: str) -> ExecutionResult:
            m = Measurement(outcome.cpu_seconds, 0.0, meter.minutes())
            if on_fallback:  # the last safe step failed: nothing automatic is left to try
                why += (
                    f"; the fallback version {incumbent} serves and fails too, so a human "
                    f"must decide"
                )
            return make_result(
                ctx, ExecutionStatus.FAILED, (why,), measured=m, escalate=on_fallback
            )

        if outcome.timed_out:
            return failed(
                f"training {how} ran past its limit of {cfg.time_limit_seconds:g} s "
                f"(`retrain.time_limit_seconds`); it was abandoned and its result will be "
                f"discarded; no traffic moved"
            )
        if outcome.error is not None:
            err = outcome.error
            return failed(f"training {how} raised {type(err).__name__}: {err}; no traffic moved")
        candidate = outcome.estimator
        try:
            cand_score = float(candidate.score(X_hold, y_hold))
        except Exception as exc:
            return failed(
                f"the candidate trained by {how} could not be scored on held-out data: "
                f"{type(exc).__name__}: {exc}; no traffic moved"
            )
        champ_score = float(champion_model.score(X_hold, y_hold))
        margin = cfg.min_improvement
        scores = (
            f"held-out score {cand_score:.4f} vs champion version {champion.version}'s "
            f"{champ_score:.4f} on {len(y_hold)} rows"
        )
        if not cand_score > champ_score + margin:
            need = f"more than {margin:g} above it" if margin else "above it"
            return failed(
                f"the candidate does not beat the champion: {scores} (it must be {need}); "
                f"it was not registered and no traffic moved"
            )
        refreshed, refresh_note = None, None
        if cfg.refresh_fallback and on_fallback:
            refreshed, refresh_note = _refresh_fallback(
                ctx, incumbent, (X_train, y_train, X_hold, y_hold), cfg.time_limit_seconds
            )
        version = ctx.registry.register(
            name,
            candidate,
            role="challenger",
            metrics={
                "holdout_score": cand_score,
                "champion_holdout_score": champ_score,
                "train_rows": float(len(y_train)),
                "holdout_rows": float(len(y_hold)),
            },
            tags={
                "safeheal.parent_version": str(champion.version),
                "safeheal.decision_id": ctx.decision_id or "",
                HOLDOUT_TAG: repr(cand_score),
            },
            reason=f"retrained ({how}): {scores}",
            actor=ctx.actor,
        ).version
        run = start_canary(ctx, version, incumbent, canary_plan(ctx.settings))
        measured = Measurement(outcome.cpu_seconds, run.state.weight, meter.minutes())
        return make_result(
            ctx,
            ExecutionStatus.CANARY_STARTED,
            (
                f"trained version {version} ({how}): {scores}",
                *((refresh_note,) if refresh_note else ()),
                f"version {version} is the challenger; canary {run.id} sends it "
                f"{run.state.weight:g}% of the traffic against version {incumbent}",
            ),
            measured=measured,
            arms=run.arms(),
            candidate_version=version,
            fallback_version=refreshed,
            canary=run,
        )


def _refresh_fallback(
    ctx: ActionContext,
    fallback: int,
    split: tuple[Any, Any, Any, Any],
    limit: float,
) -> tuple[int | None, str]:
    """Refit a clone of the fallback ``fallback`` on the training rows; register it as the
    ``fallback`` role if it beats the old fallback on the held-out rows. Returns the new
    version (None when it was not registered) and a sentence saying what happened."""
    from sklearn.base import clone

    X_train, y_train, X_hold, y_hold = split
    old = ctx.registry.load(ctx.model, fallback)
    try:
        unfitted = clone(old)
    except Exception as exc:  # not a scikit-learn estimator: nothing to refit
        return None, f"the fallback version {fallback} was kept: it cannot be cloned ({exc})"
    outcome = _train_with_limit(lambda X, y: unfitted.fit(X, y), X_train, y_train, limit)
    if outcome.timed_out or outcome.error is not None:
        why = "ran past its time limit" if outcome.timed_out else repr(outcome.error)
        return None, f"the fallback version {fallback} was kept: refitting it {why}"
    new_score = float(outcome.estimator.score(X_hold, y_hold))
    old_score = float(old.score(X_hold, y_hold))
    scores = f"held-out score {new_score:.4f} vs {old_score:.4f} on {len(y_hold)} rows"
    if not new_score > old_score:
        return (
            None,
            f"the fallback version {fallback} was kept: its refit does not beat it ({scores})",
        )
    version = ctx.registry.register(
        ctx.model,
        outcome.estimator,
        role="fallback",
        metrics={"holdout_score": new_score, "old_fallback_holdout_score": old_score},
        tags={
            "safeheal.parent_version": str(fallback),
            "safeheal.decision_id": ctx.decision_id or "",
            HOLDOUT_TAG: repr(new_score),
        },
        reason=f"fallback version {fallback} suffered too; refitted on the recent rows: {scores}",
        actor=ctx.actor,
    ).version
    return version, (
        f"the fallback suffered too: refitted it on the same rows as version {version}, now the "
        f"fallback ({scores} of version {fallback})"
    )
