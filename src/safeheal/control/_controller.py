"""The controller: for every model, every window, read → State → decide → act → follow → learn.

One window of one model (:meth:`Controller.step`):

1. **Recover** (first window of the model since the controller started): settle the intents a
   crashed controller left behind, finish canaries that ended without being finished, abort
   canaries that cannot be read back, and make sure the model is routed.
2. **Follow** the model's active canary one step (counters since its weight was set → advance →
   route → save); when it ends, carry out its end and judge the heal.
3. **Read** the window's traffic from the inference log and the labels that arrived, and compute
   the State with the model's :class:`~safeheal.signals.Monitor` (one per model and version, from
   its monitoring profile).
4. **Validate** the last heal: success when the canary passed (or the action was done) *and* the
   SLA recovered in the next window(s) (``control.validation_windows``); the outcome updates the
   bandit and the cost model (``policy.update(decision, success, cost=result.cost_terms())``).
5. **Decide** with the policy (the decision is recorded in the store).
6. **Act**, as far as the model's mode lets it: ``shadow`` never acts; ``canary`` acts only up to
   the canary's first weight (a human promotes); ``autonomous`` heals. A critical state in a
   context with no outcome yet, or ``control.max_consecutive_failures`` failed heals in a row,
   escalate instead (the service goes to its safest model until a human answers).
7. **Restore**: while the ``fallback`` serves all traffic (and no canary runs) and nothing was
   done in the window, the champion is evaluated in shadow on the window's inputs and labels
   (its own predictions, its own Monitor). After ``control.restore_windows`` windows in a row in
   the envelope's ``healthy`` zone, and once a timed probe of the champion shows its latency is
   back near what it was while healthy (shadow cannot see latency: it served nothing; see
   :mod:`safeheal.control._probe`), all traffic goes back to it (intent
   ``model/window_end/RESTORE``, event ``control.restored``); never in ``shadow`` mode, held for
   a human in ``canary`` mode, and not while an escalation is pending or a heal is being
   validated. What the probe is compared with costs nothing while the champion is healthy: the
   p95 latency of the requests it served in its last window in the ``healthy`` zone (kept with
   the model's controller state, beside the latency ratio when the service fell back).

The State the policy decides on carries ``fallback_share``, the share of the window's rows the
``fallback`` version served: the envelope answers an accuracy drop measured on the fallback
itself with RETRAIN (its ``fallback-failing`` zone), not with the FALLBACK already in effect.

Crash safety: an action is preceded by an *intent* row in the store, keyed by
``model/window_end/ACTION`` (the idempotency key), and followed by settling it. A controller that
is killed anywhere and started again on the same store finds the intent: if the effect is visible
(a canary of that decision, a new split, a moved champion, an escalation) it is taken as done and
followed; if not, the intent is abandoned and the routing put back as it was. A window that
already has an intent never acts again, so no action is ever taken twice. Canary state is saved
at every step, so a canary is resumed where it was (or aborted to its incumbent when unreadable).

Several controllers (``lease_owner``): each :meth:`Controller.run_once` first claims leases on
its models in the store (renewing its own, taking free or expired ones up to its share of the
fleet; :meth:`~safeheal.store.SqlStore.claim_leases`) and runs only the models it holds, so
controllers sharing one store (PostgreSQL) never both act on one model. A lease lasts
``control.lease_windows`` windows; a controller that dies has its models taken over after that,
and the new owner settles what it left behind exactly as a restarted controller would. Before
acting, the controller checks that it still holds the model's lease.

Many models: :meth:`Controller.run_once` runs every model's window on a thread pool and waits at
most ``control.model_timeout_seconds``; a model still running then is reported ``late`` (its
window finishes in the background) and skipped (``busy``) until it is done, so one slow model
never holds up the others.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np

from safeheal.config import ControlMode, SafehealConfig
from safeheal.control._canary import gate_canary
from safeheal.control._clock import Clock, RealClock
from safeheal.control._probe import LatencyProbe, TimedProbe
from safeheal.control._profile import MonitorCache, make_profile
from safeheal.control._window import WindowData, read_window
from safeheal.core.action import Action
from safeheal.core.decision import Decision, Outcome
from safeheal.core.records import CanaryRecord, Escalation
from safeheal.core.state import State
from safeheal.errors import ConfigError, DataError, DuplicateOutcomeError, SafehealError
from safeheal.heal import (
    HOLDOUT_TAG,
    ActionContext,
    CanaryPhase,
    CanaryRun,
    ExecutionResult,
    ExecutionStatus,
    ExecutorRegistry,
    MlflowRegistry,
    ModelRegistry,
    Notifier,
    SharedRouter,
    TrafficRouter,
    default_executors,
    finish_canary,
    step_canary,
)
from safeheal.heal._registry import check_model_name
from safeheal.policy import HybridPolicy
from safeheal.signals import Monitor
from safeheal.store import IntentRecord, SqlInferenceSink, SqlStore, open_store

__all__ = ["MODES", "Controller", "ModelMode", "WindowResult", "WindowStatus"]

ModelMode = ControlMode
MODES: tuple[ModelMode, ...] = ("shadow", "canary", "autonomous")
#: ``ok``: a State was computed and decided on; ``no-data``: too few rows (or no profile, or the
#: window has not begun); ``late``: still running when ``run_once`` stopped waiting; ``busy``:
#: skipped because the model's previous window was still running; ``error``: it failed.
WindowStatus = Literal["ok", "no-data", "late", "busy", "error"]

#: The intent name of routing all traffic back from the fallback to the champion (not a policy
#: action: the controller takes it on its own once the champion is healthy again in shadow).
_RESTORE = "RESTORE"
#: Actions that go through a canary and so can be held at its first weight (canary mode).
_CANARY_ACTIONS = frozenset({Action.RETRAIN, Action.FALLBACK})


@dataclass(frozen=True, slots=True)
class WindowResult:
    """What the controller did for one model in one window, and why."""

    model: str
    window_start: datetime
    window_end: datetime
    status: WindowStatus
    mode: ModelMode
    state: State | None = None
    decision: Decision | None = None
    #: The action carried out in this window (ESCALATE when it replaced the decision's), if any.
    executed: Action | None = None
    result: ExecutionResult | None = None
    #: The model's canary after this window's step, if one ran.
    canary: CanaryRun | None = None
    #: Outcomes recorded in this window (of earlier heals, or of this one when it failed).
    outcomes: tuple[Outcome, ...] = ()
    reasons: tuple[str, ...] = ()
    #: The champion's version when this window routed all traffic back to it from the fallback.
    restored: int | None = None
    #: Wall-clock seconds the window took.
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "model": self.model,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "status": self.status,
            "mode": self.mode,
            "zone": None if self.decision is None else self.decision.verdict.zone,
            "decision_id": None if self.decision is None else self.decision.id,
            "decided": None if self.decision is None else self.decision.action.name,
            "executed": None if self.executed is None else self.executed.name,
            "result": None if self.result is None else self.result.to_dict(),
            "canary": None
            if self.canary is None
            else {
                "id": self.canary.id,
                "phase": self.canary.state.phase.value,
                "weight": self.canary.state.weight,
            },
            "outcomes": [
                {"decision_id": o.decision_id, "success": o.success} for o in self.outcomes
            ],
            "reasons": list(self.reasons),
            "restored": self.restored,
            "seconds": self.seconds,
        }


@dataclass(slots=True)
class _Memory:
    """The controller's state of one model between windows (kept in the store as JSON)."""

    cursor: datetime | None = None
    failures: int = 0
    #: A heal awaiting validation: decision_id, action, windows_left, costs.
    pending: dict[str, Any] | None = None
    #: An escalation awaiting a human: id, decision_id.
    escalation: dict[str, Any] | None = None
    #: Why the next action must be an escalation (too many failures), if so.
    escalate_reason: str | None = None
    #: The last action carried out and the split it left: not carried out again while in effect.
    in_effect: dict[str, Any] | None = None
    #: Consecutive windows the champion, in shadow while the fallback serves, was healthy.
    restore_streak: int = 0
    #: The champion's p95 serving latency in its last healthy window: version, p95_ms, at.
    healthy_latency: dict[str, Any] | None = None
    #: When the service fell back: the champion left, the latency ratio then, at.
    fell_back: dict[str, Any] | None = None
    outcomes: list[Outcome] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "cursor": None if self.cursor is None else self.cursor.isoformat(),
            "failures": self.failures,
            "pending": self.pending,
            "escalation": self.escalation,
            "escalate_reason": self.escalate_reason,
            "in_effect": self.in_effect,
            "restore_streak": self.restore_streak,
            "healthy_latency": self.healthy_latency,
            "fell_back": self.fell_back,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> _Memory:
        if not d:
            return cls()
        cursor = d.get("cursor")
        return cls(
            cursor=None if cursor is None else datetime.fromisoformat(cursor),
            failures=int(d.get("failures", 0)),
            pending=d.get("pending"),
            escalation=d.get("escalation"),
            escalate_reason=d.get("escalate_reason"),
            in_effect=d.get("in_effect"),
            restore_streak=int(d.get("restore_streak", 0)),
            healthy_latency=d.get("healthy_latency"),
            fell_back=d.get("fell_back"),
        )


def _aware(t: datetime, what: str) -> datetime:
    if not isinstance(t, datetime) or t.utcoffset() is None:
        raise DataError(f"{what} must be a timezone-aware datetime; got {t!r}")
    return t


def _arms(arms: Iterable[Any] | None) -> list[list[float]] | None:
    return None if arms is None else [[int(a.version), float(a.weight)] for a in arms]


class Controller:
    """Drives the self-healing loop for a fleet of models (see the module docstring).

    Parameters
    ----------
    store:
        The SQL store: the inference log, decisions, outcomes, posteriors, canaries,
        escalations, monitoring profiles, intents and the controller's per-model state.
    registry, router:
        Where model versions and roles live, and the traffic split (the gateway's table).
    policy:
        The hybrid policy, built on ``store`` (so decisions and outcomes persist) and, ideally,
        on ``clock``. The controller serialises its use (a policy is not thread-safe).
    executors:
        The actions (default: :func:`~safeheal.heal.default_executors`).
    clock:
        The controller's time (default: :class:`RealClock`); every component gets it.
    config:
        ``[control]`` and everything the executors read (default: the defaults).
    models:
        The models to run: a mapping of name to mode, or names (mode ``control.default_mode``);
        default: the models of ``[control.models]``.
    notifier:
        Overrides ``[escalation] webhook_url`` for escalations.
    probe:
        Times a version where it serves, before the champion gets traffic back (default: a
        :class:`TimedProbe` of the registry's model in this process; pass one over the serving
        path to see a slow host, see :mod:`safeheal.control._probe`).
    lease_owner:
        This controller's name among several sharing ``store`` (unique per process, e.g.
        ``host:pid:random``): :meth:`run_once` then runs only the models it holds a lease on.
        None (the default): one controller, no leases.

    :meth:`from_config` builds one from ``safeheal.toml`` alone.
    """

    def __init__(
        self,
        store: SqlStore,
        registry: ModelRegistry,
        router: TrafficRouter,
        policy: HybridPolicy,
        executors: ExecutorRegistry | None = None,
        clock: Clock | None = None,
        config: SafehealConfig | None = None,
        *,
        models: Mapping[str, ModelMode] | Iterable[str] | None = None,
        notifier: Notifier | None = None,
        actor: str = "safeheal-controller",
        probe: LatencyProbe | None = None,
        lease_owner: str | None = None,
    ) -> None:
        if lease_owner is not None and (not isinstance(lease_owner, str) or not lease_owner):
            raise ConfigError(
                f"the `lease_owner` parameter of Controller must be a non-empty string or None; "
                f"got {lease_owner!r}"
            )
        self.lease_owner = lease_owner
        self._held: set[str] = set()
        self._owns_store = False
        self.store = store
        self.registry = registry
        self.router = router
        self.policy = policy
        self.config = config if config is not None else SafehealConfig()
        self.executors = executors if executors is not None else default_executors(self.config)
        self.clock: Clock = clock if clock is not None else RealClock()
        self.notifier = notifier
        self.actor = actor
        self.probe: LatencyProbe = probe if probe is not None else TimedProbe(registry.load)
        self._roles_seen: dict[str, dict[str, int]] = {}
        c = self.config.control
        self._canary_config = self.config.model_copy(
            update={"fallback": self.config.fallback.model_copy(update={"plan": "canary"})}
        )
        self._modes: dict[str, ModelMode] = {}
        if models is None:
            given: Mapping[str, ModelMode] = {n: m.mode for n, m in c.models.items()}
        elif isinstance(models, Mapping):
            given = models
        else:
            given = dict.fromkeys(models, c.default_mode)
        for name, mode in given.items():
            self.add_model(name, mode)
        self._sink = SqlInferenceSink(store)
        self._monitors = MonitorCache(store)
        self._policy_lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._recovered: set[str] = set()
        self._busy: dict[str, Future[WindowResult]] = {}
        self._pool = ThreadPoolExecutor(max_workers=c.max_workers, thread_name_prefix="safeheal")

    @classmethod
    def from_config(
        cls,
        config: SafehealConfig,
        *,
        store: SqlStore | None = None,
        registry: ModelRegistry | None = None,
        router: TrafficRouter | None = None,
        clock: Clock | None = None,
        policy: HybridPolicy | None = None,
        executors: ExecutorRegistry | None = None,
        models: Mapping[str, ModelMode] | Iterable[str] | None = None,
        seed: int | None = None,
        notifier: Notifier | None = None,
        lease_owner: str | None = None,
        probe: LatencyProbe | None = None,
    ) -> Controller:
        """A controller from ``config``, with any part given instead of built:

        - ``store``: opened from ``serve.store`` (and closed by :meth:`close`);
        - ``registry``: the MLflow registry of ``serve.registry``;
        - ``models``: ``[control.models]`` with their modes, else ``serve.models`` in
          ``control.default_mode``;
        - ``router``: a :class:`~safeheal.heal.SharedRouter` on the store, read fresh at every
          use, so a gateway on the same store serves what the controller sets; the models'
          splits the store lacks start as ``safeheal.serve.shared_traffic`` starts them (the
          champion, or a running canary's split);
        - ``clock``: :class:`RealClock`; ``policy``: ``HybridPolicy.from_config`` on the store
          and the clock (``seed`` overrides ``policy.seed``); ``executors``: the defaults of
          ``config`` (a training function that cannot be imported fails now); ``probe``: see
          the class.
        """
        run = executors if executors is not None else default_executors(config)
        if models is None:
            c = config.control
            models = (
                {n: m.mode for n, m in c.models.items()}
                if c.models
                else dict.fromkeys(config.serve.models, c.default_mode)
            )
        elif not isinstance(models, Mapping):
            models = list(models)  # read twice below
        names = list(models)
        owns = store is None
        db = store if store is not None else open_store(config.serve.store)
        try:
            if registry is None:
                registry = MlflowRegistry.open(config.serve.registry, move_log=db)
            if router is None:
                from safeheal.serve import shared_traffic

                if names:  # the splits the store lacks start on the champions
                    shared_traffic(registry, names, db, refresh_seconds=0)
                router = SharedRouter(db, refresh_seconds=0)
            time_of = clock if clock is not None else RealClock()
            if policy is None:
                policy = HybridPolicy.from_config(config, store=db, clock=time_of, seed=seed)
            ctl = cls(
                db,
                registry,
                router,
                policy,
                run,
                time_of,
                config,
                models=models,
                notifier=notifier,
                lease_owner=lease_owner,
                probe=probe,
            )
        except BaseException:
            if owns:
                db.close()
            raise
        ctl._owns_store = owns
        return ctl

    # --- the fleet ------------------------------------------------------------------------------
    def add_model(self, name: str, mode: ModelMode | None = None) -> None:
        """Run ``name`` from now on, in ``mode`` (default ``control.default_mode``)."""
        check_model_name(name)
        m = mode if mode is not None else self.config.control.default_mode
        if m not in MODES:
            raise ConfigError(
                f"the mode of model {name!r} must be one of {', '.join(MODES)}; got {m!r}"
            )
        self._modes[name] = m

    def set_mode(self, name: str, mode: ModelMode) -> None:
        """Change the mode of a model the controller runs."""
        self._mode(name)
        self.add_model(name, mode)

    @property
    def models(self) -> dict[str, ModelMode]:
        """The models the controller runs, and their modes."""
        return dict(self._modes)

    def _mode(self, name: str) -> ModelMode:
        try:
            return self._modes[name]
        except KeyError:
            raise ConfigError(
                f"the controller does not run model {name!r}; add it with add_model() or "
                f"[control.models.{name}]"
            ) from None

    @property
    def held(self) -> tuple[str, ...]:
        """With ``lease_owner``: the models this controller held a lease on at its last
        :meth:`run_once`, sorted."""
        return tuple(sorted(self._held))

    def close(self) -> None:
        """Stop the worker threads (waiting for windows still running), give up this
        controller's leases (the others take its models over at once) and close the store if
        :meth:`from_config` opened it."""
        self._pool.shutdown(wait=True)
        if self.lease_owner is not None:
            # A store that is gone: the leases expire on their own.
            with contextlib.suppress(SafehealError):
                self.store.release_leases(self.lease_owner)
            self._held = set()
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Controller:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Controller({len(self._modes)} models, store={self.store.url!r})"

    # --- running --------------------------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> list[WindowResult]:
        """One window of every model, on the thread pool, waiting at most
        ``control.model_timeout_seconds``; results in the order of :attr:`models`."""
        when = _aware(now, "`now`") if now is not None else self.clock.now()
        futures: dict[str, Future[WindowResult]] = {}
        out: dict[str, WindowResult] = {}
        held = self._claim(when)
        for name, mode in self._modes.items():
            if name not in held:
                continue
            running = self._busy.get(name)
            if running is not None and not running.done():
                out[name] = self._skipped(name, mode, when, "busy", "its last window still runs")
                continue
            fut = self._pool.submit(self.step, name, when)
            self._busy[name] = fut
            futures[name] = fut
        deadline = time.monotonic() + self.config.control.model_timeout_seconds
        for name, fut in futures.items():
            try:
                out[name] = fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                out[name] = self._skipped(
                    name,
                    self._modes[name],
                    when,
                    "late",
                    f"still running after {self.config.control.model_timeout_seconds:g} s; it "
                    f"finishes in the background and the next window waits for it",
                )
        return [out[n] for n in self._modes if n in out]

    def _claim(self, now: datetime) -> set[str]:
        """The models to run in this window: all, or (with a lease owner) those whose lease this
        controller holds after renewing and claiming. A model whose lease was lost is recovered
        again should it come back (another controller may have changed it meanwhile)."""
        if self.lease_owner is None:
            return set(self._modes)
        c = self.config.control
        ttl = timedelta(minutes=c.window_minutes * c.lease_windows)
        held = set(self.store.claim_leases(self.lease_owner, list(self._modes), now=now, ttl=ttl))
        self._recovered -= self._held - held
        self._held = held
        return held

    def _leased(self, model: str, now: datetime, notes: list[str]) -> bool:
        """Whether this controller may act on ``model`` now (always, without leases)."""
        if self.lease_owner is None or self.store.holds_lease(self.lease_owner, model, now=now):
            return True
        notes.append(
            f"the lease on model {model!r} expired or went to another controller; not acting"
        )
        return False

    def _skipped(
        self, name: str, mode: ModelMode, now: datetime, status: WindowStatus, why: str
    ) -> WindowResult:
        return WindowResult(name, now, now, status, mode, reasons=(why,))

    def _lock(self, name: str) -> threading.Lock:
        with self._locks_lock:
            lock = self._locks.get(name)
            if lock is None:
                lock = self._locks[name] = threading.Lock()
            return lock

    def step(self, model: str, now: datetime | None = None) -> WindowResult:
        """One window of ``model``, ending at ``now`` (default: the clock's time)."""
        mode = self._mode(model)
        when = _aware(now, "`now`") if now is not None else self.clock.now()
        t0 = time.perf_counter()
        with self._lock(model):
            mem = _Memory.from_dict(self.store.load_control_state(model))
            if model not in self._recovered:
                self._recover(model, mode, when, mem)
                self._recovered.add(model)
            try:
                result = self._window(model, mode, when, mem)
            except SafehealError as exc:
                start = mem.cursor or when
                why = f"{type(exc).__name__}: {exc}"
                self.store.record_event(
                    "control.error", {"error": why, "window_end": when.isoformat()}, model=model
                )
                result = WindowResult(model, start, when, "error", mode, reasons=(why,))
        return replace(result, seconds=time.perf_counter() - t0)

    # --- one window -----------------------------------------------------------------------------
    def _window(self, model: str, mode: ModelMode, now: datetime, mem: _Memory) -> WindowResult:
        c = self.config.control
        self._roles_seen.pop(model, None)
        start = mem.cursor if mem.cursor is not None else now - timedelta(minutes=c.window_minutes)
        if now <= start:
            return WindowResult(
                model,
                start,
                now,
                "no-data",
                mode,
                reasons=(
                    f"the window has not begun: the clock reads {now.isoformat()}, the last "
                    f"window ended at {start.isoformat()}",
                ),
            )
        notes: list[str] = []
        mem.outcomes = []
        canary = self._follow(model, mode, now, mem, notes) if mode != "shadow" else None
        label_since = start - timedelta(minutes=c.label_lookback_minutes)
        data = read_window(
            self.store,
            self._sink,
            model,
            start,
            now,
            max_requests=c.max_requests,
            label_since=label_since,
        )
        state = self._state(model, data, notes)
        if state is None:
            mem.cursor = now
            self._save(model, mem, now)
            return WindowResult(
                model,
                start,
                now,
                "no-data",
                mode,
                canary=canary,
                outcomes=tuple(mem.outcomes),
                reasons=tuple(notes),
            )
        if mem.pending is not None and mode != "shadow":
            self._validate(model, start, state, mem, notes)
        decision = self._decide(model, state)
        executed: Action | None = None
        result: ExecutionResult | None = None
        restored: int | None = None
        if mode == "shadow":
            notes.append(f"shadow mode: the policy chose {decision.action.name}; nothing was done")
            if decision.action is not Action.NO_OP:
                self.store.record_event(
                    "control.shadow",
                    {"decision_id": decision.id, "action": decision.action.name},
                    model=model,
                    at=now,
                )
        else:
            executed, result = self._act(model, mode, now, mem, decision, data, canary, notes)
            if executed is not None:
                self._roles_seen.pop(model, None)  # the action may have moved a role
            if result is not None and result.canary is not None:
                canary = result.canary
            if executed is None:
                restored = self._restore(model, mode, now, mem, decision, data, notes)
            self._note_latency(model, now, mem, state, decision, executed, restored, data, notes)
        mem.cursor = now
        self._save(model, mem, now)
        return WindowResult(
            model,
            start,
            now,
            "ok",
            mode,
            state=state,
            decision=decision,
            executed=executed,
            result=result,
            canary=canary,
            outcomes=tuple(mem.outcomes),
            reasons=(*decision.reasons, *notes),
            restored=restored,
        )

    def _roles(self, model: str) -> dict[str, int]:
        """The registry's roles of ``model``, read once per window while nothing moves them (an
        MLflow alias look-up costs several milliseconds; a window asks up to three times).
        :meth:`_window` forgets them when it starts and after it acts; a model's windows never
        run concurrently, so the entry is this window's."""
        roles = self._roles_seen.get(model)
        if roles is None:
            roles = {str(k): int(v) for k, v in self.registry.roles(model).items()}
            self._roles_seen[model] = roles
        return roles

    def _save(self, model: str, mem: _Memory, now: datetime) -> None:
        self.store.save_control_state(model, mem.to_dict(), at=now)

    # --- signals and decision -------------------------------------------------------------------
    def _serving(self, model: str, data: WindowData | None = None) -> int | None:
        arms = self.router.arms(model)
        if arms:  # on a tie (a 50% canary) the incumbent, listed last, serves
            return int(max(reversed(arms), key=lambda a: a.weight).version)
        if data is not None and data.versions.size:
            values, counts = np.unique(data.versions, return_counts=True)
            return int(values[int(np.argmax(counts))])
        champion = self.registry.roles(model).get("champion")
        return champion

    def _state(self, model: str, data: WindowData, notes: list[str]) -> State | None:
        c = self.config.control
        version = self._serving(model, data)
        hit = None if version is None else self._monitors.get(model, version)
        if hit is None:
            notes.append(
                f"model {model!r} has no monitoring profile; save one with "
                f"safeheal.control.register_profile()"
            )
            return None
        monitor, profile = hit
        if version is not None and data.versions.size and bool(np.any(data.versions != version)):
            # Traffic moved while or just after the window was served (a canary stepped or
            # ended): judge the version that serves now on the rows it answered, never on rows
            # other versions answered.
            mine = data.served_by(version)
            if mine.rows < c.min_rows:
                notes.append(
                    f"version {version}, which serves now, answered {mine.rows} of the window's "
                    f"{data.rows} rows; at least {c.min_rows} are needed to judge it "
                    f"(`control.min_rows`), so the next window will"
                )
                return None
            notes.append(
                f"the window's traffic was split between versions; its State is measured on "
                f"the {mine.rows} rows version {version}, which serves now, answered"
            )
            data = mine
        if data.rows < c.min_rows:
            if data.requests and data.errors == data.requests:
                notes.append(f"all {data.requests} requests of the window failed")
                return State(0.0, 0.0, 0.0, error_rate=1.0)
            notes.append(
                f"{data.rows} rows in the window; at least {c.min_rows} are needed "
                f"(`control.min_rows`)"
            )
            return None
        X: Any = data.X
        if data.feature_names != profile.feature_names:
            import pandas as pd

            X = pd.DataFrame(data.X, columns=list(data.feature_names))
        y_pred, y_true = _labels_arrays(data)
        try:
            state = monitor.observe(
                X,
                y_pred=y_pred,
                y_true=y_true,
                latency_ms=data.latency_ms,
                errors=min(data.errors, data.rows),
            )
        except DataError as exc:
            notes.append(f"the window could not be measured: {exc}")
            return None
        roles = self._roles(model)
        fallback = roles.get("fallback")
        if fallback is None or fallback == roles.get("champion") or not data.versions.size:
            return state
        return replace(state, fallback_share=float(np.mean(data.versions == int(fallback))))

    def _decide(self, model: str, state: State) -> Decision:
        with self._policy_lock:
            self.policy.model = model
            try:
                return self.policy.decide(state)
            finally:
                self.policy.model = None

    def _novel(self, context: str) -> bool:
        with self._policy_lock:
            return not any(p.context == context for p in self.policy.bandit.posteriors())

    def _sla_ok(self, state: State) -> tuple[bool, str]:
        """Whether the service meets its SLA in ``state`` (paper 3.4.1: accuracy, availability,
        latency): the accuracy drop, the error rate and the latency ratio within the envelope's
        limits. Drift and anomalous inputs are risks in the traffic, which no model served can
        remove, not breaches of the SLA."""
        t = self.config.envelope.thresholds
        broken = [
            f"{name} {value:.3g} > {limit:g}"
            for name, value, limit in (
                ("accuracy drop", state.accuracy_drop, t.rollback_accuracy_drop),
                ("latency ratio", state.latency_ratio, t.slo_latency_ratio),
                ("error rate", state.error_rate, t.slo_error_rate),
            )
            if value > limit
        ]
        if broken:
            return False, "the SLA has not recovered: " + ", ".join(broken)
        return True, "the SLA recovered (accuracy, latency and errors within limits)"

    # --- outcomes -------------------------------------------------------------------------------
    def _outcome(
        self,
        model: str,
        decision_id: str,
        success: bool,
        costs: Mapping[str, float] | None,
        mem: _Memory,
        why: str,
        now: datetime,
    ) -> None:
        decision = self.store.get_decision(decision_id)
        outcome: Outcome | None
        try:
            with self._policy_lock:
                outcome = self.policy.update(decision, success, cost=dict(costs) if costs else None)
        except DuplicateOutcomeError:  # recorded before a restart
            outcome = None
        mem.failures = 0 if success else mem.failures + 1
        limit = self.config.control.max_consecutive_failures
        if not success and mem.failures >= limit:
            mem.escalate_reason = f"{mem.failures} heals of model {model!r} failed in a row"
        if outcome is not None:
            mem.outcomes.append(outcome)
        self.store.record_event(
            "control.outcome",
            {
                "decision_id": decision_id,
                "action": decision.action.name,
                "success": success,
                "why": why,
                "consecutive_failures": mem.failures,
            },
            model=model,
            at=now,
        )

    def _validate(
        self, model: str, start: datetime, state: State, mem: _Memory, notes: list[str]
    ) -> None:
        """Judge the heal awaiting validation on a window that began after it finished."""
        p = mem.pending
        if p is None or start < datetime.fromisoformat(p["after"]):
            return
        ok, why = self._sla_ok(state)
        now = self.clock.now()
        if ok:
            mem.pending = None
            notes.append(f"the {p['action']} of decision {p['decision_id']} worked: {why}")
            self._outcome(model, p["decision_id"], True, p.get("costs"), mem, why, now)
            return
        p["windows_left"] = int(p["windows_left"]) - 1
        if p["windows_left"] <= 0:
            mem.pending = None
            if mem.in_effect is not None and mem.in_effect.get("action") == p["action"]:
                mem.in_effect["worked"] = False
            notes.append(f"the {p['action']} of decision {p['decision_id']} failed: {why}")
            self._outcome(model, p["decision_id"], False, p.get("costs"), mem, why, now)

    def _await_validation(
        self,
        mem: _Memory,
        decision_id: str,
        action: Action,
        costs: Mapping[str, float],
        after: datetime,
    ) -> None:
        mem.pending = {
            "after": after.isoformat(),
            "decision_id": decision_id,
            "action": action.name,
            "windows_left": self.config.control.validation_windows,
            "costs": dict(costs),
        }

    # --- acting ---------------------------------------------------------------------------------
    def _act(
        self,
        model: str,
        mode: ModelMode,
        now: datetime,
        mem: _Memory,
        decision: Decision,
        data: WindowData,
        canary: CanaryRun | None,
        notes: list[str],
    ) -> tuple[Action | None, ExecutionResult | None]:
        if self.store.intents(model, window_end=now):
            notes.append("this window already acted (before a restart); it does not act again")
            return None, None
        if mem.escalation is not None:
            esc = self.store.get_escalation(str(mem.escalation["id"]))
            if esc.is_open:
                notes.append(f"waiting for a human to answer escalation {esc.id}")
                return None, None
            self._answered(model, esc, mem, notes, now)
        if canary is not None and not canary.state.phase.is_final:
            notes.append(
                f"following canary {canary.id} ({canary.state.phase.value} at "
                f"{canary.state.weight:g}%); no new action until it ends"
            )
            return None, None
        action = decision.action
        escalate_why: str | None = mem.escalate_reason
        if (
            escalate_why is None
            and self.config.control.escalate_novel
            and decision.verdict.mandatory is not None
            and self._novel(decision.context)
        ):
            escalate_why = (
                f"a novel situation: the {decision.verdict.zone} zone (context "
                f"{decision.context}) with no outcome of any heal there yet"
            )
        if escalate_why is not None:
            if mode == "canary":
                return self._hold(model, now, decision, Action.ESCALATE, escalate_why, notes)
            mem.escalate_reason = None
            return self._execute(
                model, mode, now, mem, decision, Action.ESCALATE, data, notes, why=escalate_why
            )
        if action is Action.NO_OP:
            if len(decision.safe_set) > 1 and mem.pending is None:
                self._await_validation(mem, decision.id, action, {}, now)
            return None, None
        if (
            mem.pending is not None
            and mem.pending.get("action") != Action.NO_OP.name
            and decision.verdict.mandatory is None
        ):
            notes.append(
                f"validating the {mem.pending['action']} of decision "
                f"{mem.pending['decision_id']}; {action.name} waits"
            )
            return None, None
        effect = mem.in_effect
        if effect is not None and effect.get("arms") != _arms(self.router.arms(model)):
            effect = mem.in_effect = None  # traffic moved since (a human, a canary)
        if effect is not None and effect.get("action") == action.name:
            notes.append(f"{action.name} is already in effect; it is not carried out again")
            if not effect.get("worked", True) and mem.escalation is None:
                why = (
                    f"{action.name} is in effect and the SLA has not recovered, yet the policy "
                    f"still asks for it"
                )
                if mode == "canary":
                    return self._hold(model, now, decision, Action.ESCALATE, why, notes)
                return self._execute(
                    model, mode, now, mem, decision, Action.ESCALATE, data, notes, why=why
                )
            return None, None
        if mode == "canary" and action not in _CANARY_ACTIONS:
            why = f"{action.name} moves all traffic at once, beyond canary mode's limit"
            return self._hold(model, now, decision, action, why, notes)
        mem.pending = None  # a mandatory action overrides a heal still being validated
        return self._execute(model, mode, now, mem, decision, action, data, notes)

    def _hold(
        self,
        model: str,
        now: datetime,
        decision: Decision,
        action: Action,
        why: str,
        notes: list[str],
    ) -> tuple[Action | None, ExecutionResult | None]:
        notes.append(f"canary mode: {action.name} is held for a human ({why})")
        self.store.record_event(
            "control.held",
            {"decision_id": decision.id, "action": action.name, "why": why},
            model=model,
            at=now,
        )
        return None, None

    def _answered(
        self, model: str, esc: Escalation, mem: _Memory, notes: list[str], now: datetime
    ) -> None:
        decision_id = (mem.escalation or {}).get("decision_id")
        mem.escalation = None
        mem.failures = 0
        mem.escalate_reason = None
        notes.append(f"escalation {esc.id} was {esc.status} by {esc.actor}")
        if decision_id is None:
            return
        if esc.status == "approved":  # the safe state a human approved is validated as a heal
            decision = self.store.get_decision(str(decision_id))
            self._await_validation(mem, decision.id, decision.action, {}, now)
        else:
            self._outcome(
                model, str(decision_id), False, None, mem, f"escalation {esc.id} rejected", now
            )

    def _execute(
        self,
        model: str,
        mode: ModelMode,
        now: datetime,
        mem: _Memory,
        decision: Decision,
        action: Action,
        data: WindowData,
        notes: list[str],
        *,
        why: str | None = None,
    ) -> tuple[Action | None, ExecutionResult | None]:
        if not self._leased(model, now, notes):
            return None, None
        key = f"{model}/{now.isoformat()}/{action.name}"
        roles = self.registry.roles(model)
        payload = {
            "mode": mode,
            "why": why,
            "arms_before": _arms(self.router.arms(model)),
            "roles_before": {str(k): int(v) for k, v in roles.items()},
        }
        intent, created = self.store.claim_intent(
            key=key,
            model=model,
            window_end=now,
            action=action.name,
            decision_id=decision.id,
            payload=payload,
            at=now,
        )
        if not created:
            notes.append(f"intent {key} was already recorded; not acting again")
            return None, None
        labelled = data.labelled()
        X, y = labelled if labelled is not None else (None, None)
        acted = decision
        if action is not decision.action:
            acted = replace(decision, action=action, reasons=(*decision.reasons, why or ""))
        ctx = ActionContext(
            model=model,
            registry=self.registry,
            router=self.router,
            now=now,
            decision=acted,
            X=X,
            y=y,
            config=self._canary_config if mode == "canary" else self.config,
            clock=self.clock,
            notifier=self.notifier,
            escalations=self.store,
            canaries=self.store,
            actor=self.actor,
        )
        result = self.executors.execute(ctx)
        self._applied(model, mode, now, mem, decision, action, result, intent, X, y, notes)
        if (
            result.status in (ExecutionStatus.REFUSED, ExecutionStatus.FAILED)
            and action is not Action.ESCALATE
            and mode == "autonomous"
            and (result.escalate or mem.escalate_reason is not None)
        ):
            follow_why = mem.escalate_reason or "; ".join(result.reasons)
            mem.escalate_reason = None
            return self._execute(
                model, mode, now, mem, decision, Action.ESCALATE, data, notes, why=follow_why
            )
        return action, result

    def _applied(
        self,
        model: str,
        mode: ModelMode,
        now: datetime,
        mem: _Memory,
        decision: Decision,
        action: Action,
        result: ExecutionResult,
        intent: IntentRecord,
        X: Any,
        y: Any,
        notes: list[str],
    ) -> None:
        status = result.status
        notes.extend(result.reasons)
        started = status is ExecutionStatus.CANARY_STARTED and result.canary is not None
        if started and result.canary is not None:
            run = result.canary
            if mode == "canary":
                gated = gate_canary(run)
                if gated != run:
                    self.store.save_canary(gated.to_record(now))
                    result = replace(result, canary=gated)
            if action is Action.RETRAIN and X is not None:
                for fresh in (result.candidate_version, result.fallback_version):
                    if fresh is not None:
                        self._profile_candidate(model, fresh, X, y, now)
        # The intent's new status and the audit event of what was done, in one transaction.
        done = result.to_dict()
        self.store.settle_intent(
            intent.key,
            status="applied" if started else "done",
            at=now,
            result=done,
            event=("control.action", {"key": intent.key, "decision_id": decision.id, **done}),
        )
        if status is ExecutionStatus.PENDING_APPROVAL:
            mem.escalation = {"id": result.escalation_id, "decision_id": decision.id}
        elif status is ExecutionStatus.DONE:
            self._monitors.forget(model)
            self._await_validation(mem, decision.id, action, result.cost_terms(), now)
            mem.in_effect = {"action": action.name, "arms": _arms(self.router.arms(model))}
        elif not started and action is not Action.ESCALATE:
            # refused or failed: the heal did not work
            self._outcome(
                model,
                decision.id,
                False,
                result.cost_terms(),
                mem,
                "; ".join(result.reasons),
                now,
            )

    def _profile_candidate(self, model: str, version: int, X: Any, y: Any, now: datetime) -> None:
        """A retrained version is monitored against the recent rows it was trained on, with its
        held-out score (registry tag ``safeheal.holdout_score``) as the baseline accuracy, or its
        accuracy on the rows when untagged, when they are enough to build a Monitor; else with
        the newest profile of its model."""
        try:
            current = self._monitors.get(model, self._serving(model) or version)
            base = None if current is None else current[1]
            tagged = self.registry.get(model, version).tags.get(HOLDOUT_TAG)
            if tagged is not None:
                baseline = float(tagged)
            else:
                baseline = float(self.registry.load(model, version).score(X, y))
            profile = make_profile(
                model,
                version,
                X,
                baseline_accuracy=max(baseline, 1e-6),
                at=now,
                feature_names=None if base is None else base.feature_names,
                latency_slo_ms=100.0 if base is None else base.latency_slo_ms,
                source="retrained on the recent labelled rows",
            )
            Monitor(  # refuses a reference too small to calibrate the detectors
                profile.reference,
                baseline_accuracy=profile.baseline_accuracy,
                feature_names=list(profile.feature_names),
            )
            self.store.save_profile(profile)
            self._monitors.forget(model, version)
        except (SafehealError, ValueError) as exc:
            self.store.record_event(
                "control.profile_skipped",
                {
                    "version": version,
                    "why": str(exc),
                    "meanwhile": "monitored with the newest profile of the model",
                },
                model=model,
                at=now,
            )

    # --- restore --------------------------------------------------------------------------------
    def _on_fallback(self, model: str) -> tuple[int, int] | None:
        """(champion, fallback) when all traffic goes to the fallback role's version, it is not
        the champion, and no canary is running; else None."""
        roles = self._roles(model)
        champion, fallback = roles.get("champion"), roles.get("fallback")
        if champion is None or fallback is None or int(champion) == int(fallback):
            return None
        arms = self.router.arms(model) or ()
        if _arms(arms) != [[int(fallback), 100.0]] or self.store.active_canaries(model):
            return None
        return int(champion), int(fallback)

    def _shadow_state(
        self, model: str, champion: int, data: WindowData, notes: list[str]
    ) -> State | None:
        """The champion's State on the window's logged inputs and labels (its own predictions,
        its Monitor); None when it cannot be computed. Its latency and errors are not measured:
        it served no request."""
        hit = self._monitors.get(model, champion)
        if hit is None or data.rows < self.config.control.min_rows:
            return None
        monitor, profile = hit
        X: Any = data.X
        if data.feature_names != profile.feature_names:
            import pandas as pd

            X = pd.DataFrame(data.X, columns=list(data.feature_names))
        try:
            y_pred = self.registry.load(model, champion).predict(X)
            _, y_true = _labels_arrays(data)
            if y_true is not None and y_true.dtype != object:
                y_pred = np.asarray(y_pred, dtype=np.float64)
            return monitor.observe(X, y_pred=y_pred, y_true=y_true)
        except (SafehealError, ValueError, TypeError) as exc:
            notes.append(f"the champion v{champion} could not be evaluated in shadow: {exc}")
            return None

    def _restore(
        self,
        model: str,
        mode: ModelMode,
        now: datetime,
        mem: _Memory,
        decision: Decision,
        data: WindowData,
        notes: list[str],
    ) -> int | None:
        """While the fallback serves, evaluate the champion in shadow on the window; after
        ``control.restore_windows`` healthy windows in a row, route all traffic back to it.
        Returns the champion's version when this window did."""
        pair = self._on_fallback(model)
        if pair is None:
            mem.restore_streak = 0
            return None
        champion, fallback = pair
        state = self._shadow_state(model, champion, data, notes)
        if state is None:
            mem.restore_streak = 0
            return None
        with self._policy_lock:
            verdict = self.policy.envelope.assess(state)
        if verdict.zone != "healthy":
            mem.restore_streak = 0
            notes.append(
                f"the champion v{champion} in shadow is in the {verdict.zone} zone; the fallback "
                f"v{fallback} keeps serving"
            )
            return None
        mem.restore_streak += 1
        need = self.config.control.restore_windows
        shadow = (
            f"the champion v{champion}, evaluated in shadow on this window's traffic while the "
            f"fallback v{fallback} serves, is healthy (drift {state.drift:.3g}, accuracy drop "
            f"{state.accuracy_drop:.3g}, anomalous inputs {state.anomaly_rate:.3g}) for "
            f"{mem.restore_streak} window(s) in a row"
        )
        if mem.restore_streak < need:
            notes.append(f"{shadow}; {need} are needed to route traffic back to it")
            return None
        blocked = None
        if mem.escalation is not None or self.store.pending_escalations(model):
            blocked = "an escalation is waiting for a human"
        elif mem.pending is not None and mem.pending.get("action") != Action.NO_OP.name:
            p = mem.pending
            blocked = f"the {p['action']} of decision {p['decision_id']} is being validated"
        elif self.store.intents(model, window_end=now):
            blocked = "this window already acted"
        if blocked is None:
            fast, probed = self._probe_restore(model, champion, data, mem)
            shadow = f"{shadow}; {probed}"
            if not fast:
                blocked = "its latency has not recovered"
        if blocked is not None:
            notes.append(f"{shadow}; not routed back to it: {blocked}")
            return None
        if mode == "canary":
            why = f"{shadow}; routing all traffic back to it at once is beyond canary mode's limit"
            notes.append(f"canary mode: RESTORE is held for a human ({why})")
            self.store.record_event(
                "control.held",
                {"decision_id": decision.id, "action": _RESTORE, "why": why},
                model=model,
                at=now,
            )
            return None
        if not self._leased(model, now, notes):
            return None
        key = f"{model}/{now.isoformat()}/{_RESTORE}"
        payload = {
            "mode": mode,
            "why": shadow,
            "champion": champion,
            "arms_before": _arms(self.router.arms(model)),
            "roles_before": {str(k): int(v) for k, v in self.registry.roles(model).items()},
        }
        intent, created = self.store.claim_intent(
            key=key,
            model=model,
            window_end=now,
            action=_RESTORE,
            decision_id=decision.id,
            payload=payload,
            at=now,
        )
        if not created:
            notes.append(f"intent {key} was already recorded; not acting again")
            return None
        self.router.set_arms(model, [(champion, 100.0)])
        why = f"{shadow}; all traffic routed back to the champion v{champion}"
        self.store.settle_intent(
            intent.key, status="done", at=now, result={"champion": champion, "why": why}
        )
        self.store.record_event(
            "control.restored",
            {"key": key, "champion": champion, "fallback": fallback, "reasons": [why]},
            model=model,
            at=now,
        )
        self._monitors.forget(model)
        mem.restore_streak = 0
        mem.in_effect = None
        mem.fell_back = None
        notes.append(why)
        return champion

    # --- latency evidence for the restore -----------------------------------------------------
    def _probe_sample(self, model: str, version: int, data: WindowData) -> Any:
        X: Any = data.X[: self.config.control.probe_rows]
        hit = self._monitors.get(model, version)
        if hit is not None and data.feature_names != hit[1].feature_names:
            import pandas as pd

            X = pd.DataFrame(X, columns=list(data.feature_names))
        return X

    def _note_latency(
        self,
        model: str,
        now: datetime,
        mem: _Memory,
        state: State,
        decision: Decision,
        executed: Action | None,
        restored: int | None,
        data: WindowData,
        notes: list[str],
    ) -> None:
        """Remember what a restore will compare its probe with: the p95 latency of the requests
        the champion served in a window where it served everything in the healthy zone, and the
        latency ratio when the service fell back. Both are read from the window: no extra call."""
        champion = self._roles(model).get("champion")
        if champion is None:
            return
        if executed is Action.FALLBACK:
            mem.fell_back = {
                "champion": int(champion),
                "latency_ratio": state.latency_ratio,
                "at": now.isoformat(),
            }
            return
        if (
            executed is not None
            or restored is not None
            or decision.verdict.zone != "healthy"
            or _arms(self.router.arms(model)) != [[int(champion), 100.0]]
        ):
            return
        served = data.latency_ms[data.versions == int(champion)]
        if served.size:
            mem.healthy_latency = {
                "version": int(champion),
                "p95_ms": float(np.percentile(served, 95)),
                "at": now.isoformat(),
            }

    def _probe_restore(
        self, model: str, champion: int, data: WindowData, mem: _Memory
    ) -> tuple[bool, str]:
        """Whether a timed probe of ``champion`` on the window's inputs is back near the latency
        it served with while healthy: within ``control.restore_latency_tolerance`` times that
        p95, but never asked to be under half the latency SLO (a probe of a few milliseconds
        varies that much with the load of the machine, and what matters is the SLO) and never
        allowed above the SLO (the SLO alone when no healthy latency is on record); and the
        evidence in words.

        The probe times the model where it serves but not the network and queueing of a real
        request; a probe within half the SLO leaves the other half for them."""
        hit = self._monitors.get(model, champion)
        slo = hit[1].latency_slo_ms if hit is not None else 100.0
        X = self._probe_sample(model, champion, data)
        try:
            ms = float(self.probe(model, champion, X))
        except Exception as exc:  # no evidence that the cause is gone: do not restore
            return False, f"a latency probe of the champion v{champion} failed ({exc})"
        h = mem.healthy_latency
        healthy = h if h is not None and h.get("version") == champion else None
        tolerance = self.config.control.restore_latency_tolerance
        if healthy is None:
            limit = slo
            against = f"the latency SLO of {slo:g} ms (no healthy latency of it on record)"
        else:
            base = float(healthy["p95_ms"])
            limit = min(slo, max(tolerance * base, 0.5 * slo))
            against = (
                f"the limit of {limit:.1f} ms set by its p95 of {base:.1f} ms while healthy "
                f"(× {tolerance:g}, at least half the {slo:g} ms SLO, at most the SLO)"
            )
        left = ""
        if mem.fell_back is not None and mem.fell_back.get("champion") == champion:
            left = (
                f"; it was left at a latency ratio of {float(mem.fell_back['latency_ratio']):.2g}"
            )
        fast = ms <= limit
        word = "within" if fast else "above"
        return fast, (
            f"a timed probe of it on {len(X)} recent rows took {ms:.2f} ms, {word} {against}{left}"
        )

    def _settle_restore(
        self, model: str, intent: IntentRecord, now: datetime, notes: list[str]
    ) -> None:
        """A restore whose effect nobody confirmed: done when the champion serves all traffic,
        else abandoned with the routing put back (the next windows evaluate it again)."""
        champion = intent.payload.get("champion")
        before = intent.payload.get("arms_before")
        arms_now = _arms(self.router.arms(model))
        if champion is not None and arms_now == [[int(champion), 100.0]]:
            self.store.settle_intent(intent.key, status="done", at=now, result={"recovered": True})
            notes.append(f"{intent.key}: the champion serves all traffic; taken as done")
            return
        if before is not None and arms_now != before:
            self.router.set_arms(model, [(int(v), float(w)) for v, w in before])
        self.store.settle_intent(intent.key, status="abandoned", at=now, result={"recovered": True})
        notes.append(f"{intent.key}: abandoned after a crash before its effect; routing restored")

    # --- canaries -------------------------------------------------------------------------------
    def _follow(
        self, model: str, mode: ModelMode, now: datetime, mem: _Memory, notes: list[str]
    ) -> CanaryRun | None:
        last: CanaryRun | None = None
        for record in self.store.active_canaries(model):
            run = self._readable(record, now, notes)
            if run is None:
                continue
            if mode == "canary":
                gated = gate_canary(run)
                if gated != run:
                    self.store.save_canary(gated.to_record(now))
                    run = gated
            hit = self._monitors.get(model, run.incumbent_version)
            slo = hit[1].latency_slo_ms if hit is not None else 100.0
            run = step_canary(
                run,
                store=self.store,
                router=self.router,
                registry=self.registry,
                now=now,
                latency_slo_ms=slo,
                config=self.config,
            ).run
            said = run.state.reasons[-1] if run.state.reasons else ""
            notes.append(
                f"canary {run.id}: {run.state.phase.value} at {run.state.weight:g}% ({said})"
            )
            if run.state.phase.is_final:
                self._ended(model, run, now, mem, notes)
            last = run
        return last

    def _readable(self, record: CanaryRecord, now: datetime, notes: list[str]) -> CanaryRun | None:
        """The canary of ``record``, or None after aborting it to its incumbent when its stored
        state cannot be read back."""
        try:
            return CanaryRun.from_record(record)
        except (DataError, ConfigError) as exc:
            why = f"its stored state cannot be read ({exc}); aborted to a known-good state"
            if record.incumbent_version is not None:
                self.router.set_arms(record.model, [(record.incumbent_version, 100.0)])
            self.store.save_canary(
                replace(record, phase="aborted", state={"phase": "aborted"}, updated_at=now)
            )
            self.store.record_event(
                "control.canary_aborted", {"canary_id": record.id, "why": why}, model=record.model
            )
            notes.append(f"canary {record.id}: {why}")
            return None

    def _ended(
        self, model: str, run: CanaryRun, now: datetime, mem: _Memory, notes: list[str]
    ) -> None:
        """Carry out (again: it is idempotent) the end of a final canary and judge its heal."""
        result = finish_canary(
            run,
            registry=self.registry,
            router=self.router,
            now=now,
            config=self.config,
            canaries=self.store,
            actor=self.actor,
        )
        self._monitors.forget(model)
        for intent in self.store.intents(model, statuses=("applied",)):
            if intent.decision_id == run.decision_id:
                self.store.settle_intent(intent.key, status="done", at=now, result=result.to_dict())
        self.store.record_event(
            "control.canary_ended",
            {"canary_id": run.id, "phase": run.state.phase.value, **result.to_dict()},
            model=model,
            at=now,
        )
        if run.decision_id is None:
            return
        if run.state.phase is CanaryPhase.PROMOTED:
            self._await_validation(mem, run.decision_id, run.action, result.cost_terms(), now)
        else:
            why = "; ".join(result.reasons)
            self._outcome(model, run.decision_id, False, result.cost_terms(), mem, why, now)
            if result.escalate and mem.escalate_reason is None:
                mem.escalate_reason = why

    # --- recovery -------------------------------------------------------------------------------
    def _recover(self, model: str, mode: ModelMode, now: datetime, mem: _Memory) -> None:
        """Settle what a controller that stopped (or crashed) left behind for ``model``."""
        if mode == "shadow":
            return
        notes: list[str] = []
        for intent in self.store.intents(model, statuses=("intent",)):
            self._settle_crashed(model, intent, now, mem, notes)
        for intent in self.store.intents(model, statuses=("applied",)):
            canary_id = (intent.result or {}).get("canary_id")
            record = self.store.load_canary(str(canary_id)) if canary_id else None
            if record is None:
                self.store.settle_intent(intent.key, status="done", at=now)
            elif record.phase in ("promoted", "aborted"):
                run = self._readable(record, now, notes)
                if run is not None:
                    self._ended(model, run, now, mem, notes)
        for record in self.store.active_canaries(model):
            run = self._readable(record, now, notes)
            if run is not None and not self.router.arms(model):
                self.router.set_arms(model, run.arms())
        if not self.router.arms(model):
            champion = self.registry.roles(model).get("champion")
            if champion is not None:
                self.router.set_arms(model, [(champion, 100.0)])
                notes.append(f"routed 100% to the champion, version {champion}")
        if notes:
            self.store.record_event("control.recovered", {"notes": notes}, model=model, at=now)
        self._save(model, mem, now)

    def _settle_crashed(
        self, model: str, intent: IntentRecord, now: datetime, mem: _Memory, notes: list[str]
    ) -> None:
        """An intent whose effect nobody confirmed: done if the effect is visible, else
        abandoned with the routing put back. Never carried out again."""
        p = intent.payload
        if intent.action == _RESTORE:
            self._settle_restore(model, intent, now, notes)
            return
        action = Action(intent.action)
        before = p.get("arms_before")
        roles_before = {str(k): int(v) for k, v in (p.get("roles_before") or {}).items()}
        canary = next(
            (
                r
                for r in self.store.active_canaries(model)
                if r.decision_id is not None and r.decision_id == intent.decision_id
            ),
            None,
        )
        escalation = next(
            (
                e
                for e in self.store.pending_escalations(model)
                if e.decision_id is not None and e.decision_id == intent.decision_id
            ),
            None,
        )
        arms_now = _arms(self.router.arms(model))
        roles_now = {str(k): int(v) for k, v in self.registry.roles(model).items()}
        if canary is not None:
            self.store.settle_intent(
                intent.key, status="applied", at=now, result={"canary_id": canary.id}
            )
            notes.append(f"{intent.key}: canary {canary.id} had started; it is resumed")
            return
        if escalation is not None:
            self.store.settle_intent(
                intent.key, status="done", at=now, result={"escalation_id": escalation.id}
            )
            mem.escalation = {"id": escalation.id, "decision_id": intent.decision_id}
            notes.append(f"{intent.key}: escalation {escalation.id} had been raised")
            return
        moved = arms_now != before or roles_now.get("champion") != roles_before.get("champion")
        if moved and action is not Action.RETRAIN:
            self.store.settle_intent(intent.key, status="done", at=now, result={"recovered": True})
            notes.append(f"{intent.key}: its effect is visible (arms {arms_now}); taken as done")
            return
        # Not applied (or a retrain that registered a candidate but started no canary): put
        # the routing and the challenger back as they were.
        if before is not None and arms_now != before:
            self.router.set_arms(model, [(int(v), float(w)) for v, w in before])
        challenger = roles_now.get("challenger")
        if challenger is not None and challenger != roles_before.get("challenger"):
            reason = f"intent {intent.key} crashed before its canary started"
            self.registry.mark_unhealthy(model, challenger, reason)
            self.registry.clear_role(model, "challenger", reason=reason, actor=self.actor)
        self.store.settle_intent(intent.key, status="abandoned", at=now, result={"recovered": True})
        notes.append(f"{intent.key}: abandoned after a crash before its effect; routing restored")


def _labels_arrays(data: WindowData) -> tuple[Any, Any]:
    """Predictions and labels as float arrays (NaN: no label) when they are numbers, so the
    accuracy is computed vectorised; as object arrays otherwise; labels None when none came."""
    if all(v is None for v in data.y_true):
        return data.y_pred, None
    try:
        y_true = np.array([np.nan if v is None else v for v in data.y_true], dtype=np.float64)
        y_pred = np.asarray(data.y_pred, dtype=np.float64)
    except (TypeError, ValueError):
        return np.asarray(data.y_pred, dtype=object), np.asarray(data.y_true, dtype=object)
    return y_pred, y_true
