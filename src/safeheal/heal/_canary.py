"""Canary deployment as an explicit state machine (paper 3.4.2).

The paper's protocol: deploy to 1% of traffic, roll back if ΔSLA > 0.05, scale to 100% only after
30 minutes of validation. Here that protocol is data and two pure functions:

- a :class:`CanaryPlan` is a list of steps (:class:`SetWeight`, :class:`Wait`, :class:`Judge`,
  :class:`Pause`), validated when it is built;
- :func:`assess` judges the candidate against the incumbent from request counters:
  :attr:`Judgement.PASSED`, :attr:`Judgement.FAILED` or :attr:`Judgement.INCONCLUSIVE`;
- :func:`advance` moves a :class:`CanaryState` forward given the time and the counters.

Nothing here reads a clock, a database or the network: the controller passes ``now`` and the
counters in, persists the state (:meth:`CanaryState.to_dict`) and routes traffic by
:attr:`CanaryState.weight`.

>>> plan = CanaryPlan()                       # the paper's: 1% → 10% → 50% → 100% over 30 minutes
>>> [s.percent for s in plan.steps if isinstance(s, SetWeight)], plan.validation_minutes
([1.0, 10.0, 50.0, 100.0], 30.0)
>>> from datetime import UTC
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> state = advance(CanaryState.start(plan, t0), t0)
>>> state.phase, state.weight
(<CanaryPhase.PROGRESSING: 'progressing'>, 1.0)
>>> healthy = ArmCounters(requests=500, errors=0, labelled=200, correct=180, within_slo=500)
>>> state = advance(state, t0 + timedelta(minutes=10), Counters(healthy, healthy))
>>> state.phase, state.weight
(<CanaryPhase.PROGRESSING: 'progressing'>, 10.0)
>>> broken = ArmCounters(requests=500, errors=100, labelled=200, correct=120, within_slo=400)
>>> state = advance(state, t0 + timedelta(minutes=20), Counters(candidate=broken,
...                                                              incumbent=healthy))
>>> state.phase, state.weight
(<CanaryPhase.ABORTED: 'aborted'>, 0.0)
>>> print(state.reasons[-1])
judge failed at 10%: SLA drop 0.2 > 0.05 (candidate 0.76, incumbent 0.96)
"""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, TypeAlias

from safeheal.core.records import COUNTS as _COUNTS
from safeheal.core.records import ArmCounters
from safeheal.core.validate import number_in
from safeheal.errors import ConfigError, DataError

__all__ = [
    "ArmCounters",
    "ArmScore",
    "Assessment",
    "CanaryPhase",
    "CanaryPlan",
    "CanaryState",
    "Counters",
    "Judge",
    "Judgement",
    "Pause",
    "SetWeight",
    "Step",
    "Wait",
    "abort",
    "advance",
    "assess",
    "ladder",
    "pause",
    "promote",
    "resume",
]


# --- phases and judgements ----------------------------------------------------------------------
class CanaryPhase(enum.Enum):
    """Where a canary is. PROMOTED and ABORTED are final: nothing moves a canary out of them."""

    PENDING = "pending"  #: created, no traffic moved yet
    PROGRESSING = "progressing"  #: working through the plan's steps
    PAUSED = "paused"  #: holding its weight until a human resumes (or a failed check aborts it)
    PROMOTED = "promoted"  #: the candidate takes 100% of the traffic
    ABORTED = "aborted"  #: the candidate takes no traffic

    @property
    def is_final(self) -> bool:
        """True for PROMOTED and ABORTED.

        >>> CanaryPhase.PAUSED.is_final, CanaryPhase.ABORTED.is_final
        (False, True)
        """
        return self in (CanaryPhase.PROMOTED, CanaryPhase.ABORTED)


class Judgement(enum.Enum):
    """The outcome of one check of the candidate against the incumbent."""

    PASSED = "passed"
    FAILED = "failed"
    #: Too few samples to tell: the step is extended, the canary never promotes on it.
    INCONCLUSIVE = "inconclusive"


# --- plan steps ---------------------------------------------------------------------------------
def _whole(value: object, *, name: str, owner: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < low:
        raise ConfigError(
            f"the `{name}` parameter of {owner} must be a whole number >= {low}; got {value!r}"
        )
    return int(value)


@dataclass(frozen=True, slots=True)
class SetWeight:
    """Send ``percent`` of the traffic to the candidate, in (0, 100].

    >>> SetWeight(0)
    Traceback (most recent call last):
    ...
    safeheal.errors.ConfigError: the `percent` parameter of SetWeight must be in (0, 100]; got 0
    """

    percent: float

    def __post_init__(self) -> None:
        p = number_in(
            self.percent, name="percent", owner="SetWeight", low=0, high=100, low_open=True
        )
        object.__setattr__(self, "percent", p)


@dataclass(frozen=True, slots=True)
class Wait:
    """Hold the current weight for ``minutes`` (> 0) of the clock passed to :func:`advance`."""

    minutes: float

    def __post_init__(self) -> None:
        m = number_in(self.minutes, name="minutes", owner="Wait", low=0, low_open=True)
        object.__setattr__(self, "minutes", m)


#: The paper's SLA weights (3.4.1): availability, accuracy, latency.
SLA_WEIGHTS = (0.4, 0.4, 0.2)


@dataclass(frozen=True, slots=True)
class Judge:
    """Check the candidate against the incumbent over the traffic since the weight was set.

    The check fails when the incumbent's SLA score exceeds the candidate's by more than
    ``max_sla_drop`` (the paper's ΔSLA > 0.05). With fewer than ``min_samples`` requests or
    ``min_labelled`` labelled predictions on either arm it is inconclusive: the step is re-judged
    every ``extension_minutes``, at most ``max_extensions`` times, and then the canary aborts
    (fail closed). See :func:`assess` for the score.
    """

    min_samples: int = 100
    min_labelled: int = 30
    max_sla_drop: float = 0.05
    max_extensions: int = 3
    extension_minutes: float = 5.0
    #: Weights of availability, accuracy and latency in the SLA score; they add up to 1.
    weights: tuple[float, float, float] = SLA_WEIGHTS

    def __post_init__(self) -> None:
        owner = "Judge"
        object.__setattr__(
            self, "min_samples", _whole(self.min_samples, name="min_samples", owner=owner, low=1)
        )
        object.__setattr__(
            self, "min_labelled", _whole(self.min_labelled, name="min_labelled", owner=owner, low=1)
        )
        object.__setattr__(
            self,
            "max_sla_drop",
            number_in(self.max_sla_drop, name="max_sla_drop", owner=owner, low=0, high=1),
        )
        object.__setattr__(
            self,
            "max_extensions",
            _whole(self.max_extensions, name="max_extensions", owner=owner, low=0),
        )
        object.__setattr__(
            self,
            "extension_minutes",
            number_in(
                self.extension_minutes, name="extension_minutes", owner=owner, low=0, low_open=True
            ),
        )
        w = tuple(self.weights)
        if len(w) != 3:
            raise ConfigError(
                f"the `weights` parameter of Judge must be three numbers (availability, accuracy, "
                f"latency); got {self.weights!r}"
            )
        ws = tuple(number_in(x, name="weights", owner=owner, low=0, high=1) for x in w)
        if not math.isclose(sum(ws), 1.0, abs_tol=1e-9):
            raise ConfigError(f"the `weights` parameter of Judge must add up to 1; got {ws!r}")
        object.__setattr__(self, "weights", ws)


@dataclass(frozen=True, slots=True)
class Pause:
    """Hold the current weight until a human calls :func:`resume` (the ``canary`` mode's gate)."""

    reason: str = "waiting for a human to promote"


Step: TypeAlias = SetWeight | Wait | Judge | Pause
_KINDS: dict[str, type[Step]] = {
    "set_weight": SetWeight,
    "wait": Wait,
    "judge": Judge,
    "pause": Pause,
}
_KIND_OF: dict[type[Step], str] = {v: k for k, v in _KINDS.items()}


def ladder(
    weights: Sequence[float] = (1.0, 10.0, 50.0),
    *,
    validation_minutes: float = 30.0,
    judge: Judge | None = None,
) -> tuple[Step, ...]:
    """Steps that set each weight, wait an equal share of ``validation_minutes``, judge, and
    finally set 100%.

    >>> [type(s).__name__ for s in ladder((5.0,), validation_minutes=15)]
    ['SetWeight', 'Wait', 'Judge', 'SetWeight']
    """
    if not weights:
        raise ConfigError("the `weights` parameter of ladder must name at least one weight")
    minutes = number_in(
        validation_minutes, name="validation_minutes", owner="ladder", low=0, low_open=True
    )
    j = judge if judge is not None else Judge()
    wait = Wait(minutes / len(weights))
    steps: list[Step] = []
    for w in weights:
        steps += [SetWeight(w), wait, j]
    steps.append(SetWeight(100.0))
    return tuple(steps)


def _paper_steps() -> tuple[Step, ...]:
    return ladder()


@dataclass(frozen=True, slots=True)
class CanaryPlan:
    """A validated list of canary steps; the default is the paper's protocol.

    Rules, checked when the plan is built: at least one step; weights never decrease; the last
    step, and only the last, sets 100%; every weight below 100% is judged before the weight
    changes again, and no Judge comes before the first weight; the waits before full traffic add up to at least ``min_validation_minutes``
    (the paper's 30).

    >>> CanaryPlan([SetWeight(1), Wait(30), SetWeight(100)])
    Traceback (most recent call last):
    ...
    safeheal.errors.ConfigError: `steps[0]` of CanaryPlan sets 1% but no Judge follows before the weight changes; add a Judge step
    >>> CanaryPlan.immediate().steps
    (SetWeight(percent=100.0),)
    """  # noqa: E501

    steps: tuple[Step, ...] = field(default_factory=_paper_steps)
    #: Minimum total wait before the weight reaches 100%.
    min_validation_minutes: float = 30.0

    def __post_init__(self) -> None:
        owner = "CanaryPlan"
        steps = tuple(self.steps)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(
            self,
            "min_validation_minutes",
            number_in(
                self.min_validation_minutes, name="min_validation_minutes", owner=owner, low=0
            ),
        )
        if not steps:
            raise ConfigError(f"the `steps` parameter of {owner} must hold at least one step")
        previous = 0.0
        unjudged: int | None = None  # index of a SetWeight below 100% not yet followed by a Judge
        for i, step in enumerate(steps):
            if not isinstance(step, SetWeight | Wait | Judge | Pause):
                raise ConfigError(
                    f"`steps[{i}]` of {owner} must be SetWeight, Wait, Judge or Pause; got {step!r}"
                )
            if isinstance(step, Judge):
                if previous == 0.0:
                    raise ConfigError(
                        f"`steps[{i}]` of {owner} judges before any SetWeight step; with no "
                        f"traffic on the candidate it could never pass"
                    )
                unjudged = None
            if not isinstance(step, SetWeight):
                continue
            if unjudged is not None:
                pct = previous
                raise ConfigError(
                    f"`steps[{unjudged}]` of {owner} sets {pct:g}% but no Judge follows before "
                    f"the weight changes; add a Judge step"
                )
            if step.percent < previous:
                raise ConfigError(
                    f"`steps[{i}].percent` of {owner} must not be below the previous weight "
                    f"{previous:g}%; got {step.percent:g}"
                )
            if step.percent == 100.0 and i != len(steps) - 1:
                raise ConfigError(
                    f"`steps[{i}]` of {owner} sets 100% before the last step; only the last "
                    f"step may send all traffic to the candidate"
                )
            previous = step.percent
            unjudged = i if step.percent < 100.0 else None
        last = steps[-1]
        if not (isinstance(last, SetWeight) and last.percent == 100.0):
            raise ConfigError(
                f"the last step of {owner} must be SetWeight(100); got {last!r} at "
                f"`steps[{len(steps) - 1}]`"
            )
        if self.validation_minutes < self.min_validation_minutes:
            raise ConfigError(
                f"the waits of {owner} before full traffic add up to "
                f"{self.validation_minutes:g} minutes; `min_validation_minutes` is "
                f"{self.min_validation_minutes:g}"
            )

    @property
    def validation_minutes(self) -> float:
        """Total planned wait before full traffic (extensions can only add to it)."""
        return float(sum(s.minutes for s in self.steps if isinstance(s, Wait)))

    @classmethod
    def paper(
        cls,
        *,
        first_percent: float = 1.0,
        max_sla_drop: float = 0.05,
        validation_minutes: float = 30.0,
        min_samples: int = 100,
    ) -> CanaryPlan:
        """The paper's protocol with its numbers as parameters: ``first_percent``, then 10% and
        50% where they are above it, each held ``validation_minutes / steps`` and judged.

        >>> [s.percent for s in CanaryPlan.paper(first_percent=20).steps
        ...  if isinstance(s, SetWeight)]
        [20.0, 50.0, 100.0]
        """
        first = number_in(
            first_percent,
            name="first_percent",
            owner="CanaryPlan.paper",
            low=0,
            high=100,
            low_open=True,
            high_open=True,
        )
        weights = [first, *(w for w in (10.0, 50.0) if w > first)]
        judge = Judge(max_sla_drop=max_sla_drop, min_samples=min_samples)
        steps = ladder(weights, validation_minutes=validation_minutes, judge=judge)
        return cls(steps, min_validation_minutes=validation_minutes)

    @classmethod
    def immediate(cls) -> CanaryPlan:
        """All traffic at once, no validation: for a pre-validated fallback in an emergency."""
        return cls((SetWeight(100.0),), min_validation_minutes=0.0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary; :meth:`from_dict` reads it back."""
        out: list[dict[str, Any]] = []
        for s in self.steps:
            d: dict[str, Any] = {"kind": _KIND_OF[type(s)]}
            for f in fields(s):
                v = getattr(s, f.name)
                d[f.name] = list(v) if isinstance(v, tuple) else v
            out.append(d)
        return {"steps": out, "min_validation_minutes": self.min_validation_minutes}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CanaryPlan:
        """A plan from :meth:`to_dict`'s output (or configuration); validated like any plan."""
        steps: list[Step] = []
        for i, raw in enumerate(d.get("steps", ())):
            if not isinstance(raw, Mapping) or raw.get("kind") not in _KINDS:
                raise ConfigError(
                    f"`steps[{i}]` of CanaryPlan must be a mapping with `kind` one of "
                    f"{', '.join(_KINDS)}; got {raw!r}"
                )
            kind = _KINDS[raw["kind"]]
            kwargs = {k: v for k, v in raw.items() if k != "kind"}
            if "weights" in kwargs:
                kwargs["weights"] = tuple(kwargs["weights"])
            try:
                steps.append(kind(**kwargs))
            except TypeError as exc:
                raise ConfigError(f"`steps[{i}]` of CanaryPlan: {exc}") from None
        return cls(tuple(steps), min_validation_minutes=d.get("min_validation_minutes", 30.0))


# --- counters and the judgement -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Counters:
    """Both arms' counters over the same period (since :attr:`CanaryState.window_start`)."""

    candidate: ArmCounters
    incumbent: ArmCounters


@dataclass(frozen=True, slots=True)
class ArmScore:
    """One arm's SLA components, each in [0, 1], and its SLA score."""

    availability: float
    accuracy: float
    latency: float
    sla: float


@dataclass(frozen=True, slots=True)
class Assessment:
    """The outcome of :func:`assess`, with the reasons in plain words."""

    judgement: Judgement
    reasons: tuple[str, ...]
    candidate: ArmScore | None = None
    incumbent: ArmScore | None = None

    @property
    def sla_drop(self) -> float | None:
        """Incumbent's SLA score minus the candidate's (positive: the candidate is worse)."""
        if self.candidate is None or self.incumbent is None:
            return None
        return self.incumbent.sla - self.candidate.sla


def _exact(x: float) -> Fraction:
    # The decimal the user wrote: 0.05 is 1/20, so a drop of exactly 0.05 compares equal.
    return Fraction(repr(float(x)))


def _score(arm: ArmCounters, w: tuple[float, float, float]) -> tuple[Fraction, ArmScore]:
    r, e, n, c, s = (int(getattr(arm, k)) for k in _COUNTS)  # checked by problems()
    ok = r - e
    availability = Fraction(ok, r)
    accuracy = Fraction(c, n)
    latency = Fraction(s, ok) if ok else Fraction(0)
    sla = _exact(w[0]) * availability + _exact(w[1]) * accuracy + _exact(w[2]) * latency
    score = ArmScore(float(availability), float(accuracy), float(latency), float(sla))
    return sla, score


def assess(judge: Judge, counters: Counters | None) -> Assessment:
    """Judge the candidate against the incumbent: a pure function of the step and the counters.

    Each arm's SLA score (paper 3.4.1) is ``w₁·availability + w₂·accuracy + w₃·latency`` with
    ``judge.weights`` (0.4, 0.4, 0.2 by default), where

    - availability = (requests − errors) / requests,
    - accuracy = correct / labelled,
    - latency = within_slo / (requests − errors), the share of successful requests answered
      within the latency SLO (0 when no request succeeded),

    each in [0, 1], so the score is in [0, 1]. The order of the checks:

    1. missing counters (None, NaN), counts that are negative, fractional or inconsistent
       (more errors than requests …): FAILED — missing metrics fail closed;
    2. fewer than ``min_samples`` requests or ``min_labelled`` labels on either arm:
       INCONCLUSIVE;
    3. incumbent − candidate > ``max_sla_drop``: FAILED, else PASSED. The comparison is exact
       (rational arithmetic on the counts), so a drop of exactly ``max_sla_drop`` passes.

    >>> arm = ArmCounters(requests=100, errors=0, labelled=40, correct=36, within_slo=100)
    >>> a = assess(Judge(), Counters(candidate=arm, incumbent=arm))
    >>> a.judgement, a.candidate.sla
    (<Judgement.PASSED: 'passed'>, 0.96)
    >>> few = ArmCounters(requests=99, errors=0, labelled=40, correct=36, within_slo=99)
    >>> assess(Judge(), Counters(candidate=few, incumbent=arm)).reasons
    ('the candidate served 99 requests; at least 100 are needed',)
    >>> assess(Judge(), Counters(candidate=ArmCounters(errors=float("nan")), incumbent=arm)).judgement
    <Judgement.FAILED: 'failed'>
    """  # noqa: E501
    if counters is None:
        return Assessment(Judgement.FAILED, ("no counters were measured; failing closed",))
    broken = [
        f"the {side}'s {problem}; failing closed"
        for side, arm in (("candidate", counters.candidate), ("incumbent", counters.incumbent))
        for problem in arm.problems()
    ]
    if broken:
        return Assessment(Judgement.FAILED, tuple(broken))
    short: list[str] = []
    for side, arm in (("candidate", counters.candidate), ("incumbent", counters.incumbent)):
        requests, labelled = int(arm.requests or 0), int(arm.labelled or 0)
        if requests < judge.min_samples:
            short.append(
                f"the {side} served {requests} requests; at least {judge.min_samples} are needed"
            )
        if labelled < judge.min_labelled:
            short.append(
                f"the {side} has {labelled} labelled predictions; at least "
                f"{judge.min_labelled} are needed"
            )
    if short:
        return Assessment(Judgement.INCONCLUSIVE, tuple(short))
    cand, cand_score = _score(counters.candidate, judge.weights)
    inc, inc_score = _score(counters.incumbent, judge.weights)
    drop = inc - cand
    limit = _exact(judge.max_sla_drop)
    detail = f"(candidate {float(cand):.2f}, incumbent {float(inc):.2f})"
    if drop > limit:
        verdict, words = Judgement.FAILED, f"SLA drop {float(drop):.4g} > {judge.max_sla_drop:g}"
    else:
        verdict, words = Judgement.PASSED, f"SLA drop {float(drop):.4g} <= {judge.max_sla_drop:g}"
    return Assessment(verdict, (f"{words} {detail}",), cand_score, inc_score)


# --- the state machine --------------------------------------------------------------------------
def _aware(t: object, name: str) -> datetime:
    if not isinstance(t, datetime) or t.tzinfo is None or t.utcoffset() is None:
        raise DataError(f"`{name}` must be a timezone-aware datetime; got {t!r}")
    return t


@dataclass(frozen=True, slots=True)
class CanaryState:
    """Where one canary is: a plain value, persisted between calls of :func:`advance`.

    ``step_index`` is the next step to run. ``weight`` is the candidate's share of traffic in
    percent (0 before the first step and after an abort, 100 once promoted). ``window_start`` is
    when the current weight was set: the controller counts both arms' traffic from then on.
    ``extensions`` counts inconclusive checks of the current Judge step; ``checks`` and
    ``failed_checks`` count all judgements. ``reasons`` tells every transition in plain words.
    """

    plan: CanaryPlan
    phase: CanaryPhase
    step_index: int
    weight: float
    started_at: datetime
    step_started_at: datetime
    window_start: datetime | None = None
    extensions: int = 0
    checks: int = 0
    failed_checks: int = 0
    reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.plan, CanaryPlan):
            raise DataError(f"CanaryState.plan must be a CanaryPlan; got {self.plan!r}")
        if not isinstance(self.phase, CanaryPhase):
            raise DataError(f"CanaryState.phase must be a CanaryPhase; got {self.phase!r}")
        n = len(self.plan.steps)
        if isinstance(self.step_index, bool) or not (
            isinstance(self.step_index, int) and 0 <= self.step_index <= n
        ):
            raise DataError(f"CanaryState.step_index must be in [0, {n}]; got {self.step_index!r}")
        try:
            w = number_in(self.weight, name="weight", owner="CanaryState", low=0, high=100)
        except ConfigError as exc:
            raise DataError(str(exc)) from None
        object.__setattr__(self, "weight", w)
        _aware(self.started_at, "CanaryState.started_at")
        _aware(self.step_started_at, "CanaryState.step_started_at")
        if self.window_start is not None:
            _aware(self.window_start, "CanaryState.window_start")
        for name in ("extensions", "checks", "failed_checks"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise DataError(f"CanaryState.{name} must be a whole number >= 0; got {v!r}")
        object.__setattr__(self, "reasons", tuple(str(r) for r in self.reasons))

    @classmethod
    def start(cls, plan: CanaryPlan, now: datetime) -> CanaryState:
        """A PENDING canary: no traffic yet; the first :func:`advance` runs the first steps."""
        now = _aware(now, "now")
        return cls(plan, CanaryPhase.PENDING, 0, 0.0, now, now)

    @property
    def step(self) -> Step | None:
        """The next step to run, or None past the end."""
        steps = self.plan.steps
        return steps[self.step_index] if self.step_index < len(steps) else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (times in ISO 8601) for the store."""
        return {
            "version": 1,
            "plan": self.plan.to_dict(),
            "phase": self.phase.value,
            "step_index": self.step_index,
            "weight": self.weight,
            "started_at": self.started_at.isoformat(),
            "step_started_at": self.step_started_at.isoformat(),
            "window_start": None if self.window_start is None else self.window_start.isoformat(),
            "extensions": self.extensions,
            "checks": self.checks,
            "failed_checks": self.failed_checks,
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CanaryState:
        """Read back :meth:`to_dict`'s output. Anything malformed raises :class:`DataError` (or
        :class:`ConfigError` for the plan): a controller that cannot read a canary aborts it."""
        try:
            if d.get("version", 1) != 1:
                raise DataError(f"unknown canary state version {d.get('version')!r}")
            ws = d.get("window_start")
            return cls(
                plan=CanaryPlan.from_dict(d["plan"]),
                phase=CanaryPhase(d["phase"]),
                step_index=d["step_index"],
                weight=d["weight"],
                started_at=datetime.fromisoformat(d["started_at"]),
                step_started_at=datetime.fromisoformat(d["step_started_at"]),
                window_start=None if ws is None else datetime.fromisoformat(ws),
                extensions=d.get("extensions", 0),
                checks=d.get("checks", 0),
                failed_checks=d.get("failed_checks", 0),
                reasons=tuple(d.get("reasons", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, DataError | ConfigError):
                raise
            raise DataError(f"a stored canary state is malformed: {exc!r}") from None


def _note(state: CanaryState, *words: str) -> tuple[str, ...]:
    return (*state.reasons, *words)


def _aborted(state: CanaryState, why: str, *, failed: bool = False) -> CanaryState:
    return replace(
        state,
        phase=CanaryPhase.ABORTED,
        weight=0.0,
        failed_checks=state.failed_checks + int(failed),
        reasons=_note(state, why),
    )


def _last_judge(state: CanaryState) -> Judge | None:
    for s in reversed(state.plan.steps[: state.step_index]):
        if isinstance(s, Judge):
            return s
    return None


def advance(state: CanaryState, now: datetime, counters: Counters | None = None) -> CanaryState:
    """The next state of a canary at time ``now``, given both arms' counters since
    :attr:`CanaryState.window_start`. A pure function: call it as often as you like.

    - PENDING becomes PROGRESSING, then steps run in order as far as they can:
      SetWeight applies at once; Wait holds until its minutes have passed since the step began;
      Judge assesses ``counters`` (see :func:`assess`): passed → next step; inconclusive → judged
      again ``extension_minutes`` later, at most ``max_extensions`` times, then ABORTED (fail
      closed); failed → ABORTED with weight 0. Pause → PAUSED. After the last step: PROMOTED.
    - PAUSED holds its weight until :func:`resume`; counters given meanwhile are checked against
      the last Judge step and a failure aborts.
    - PROMOTED and ABORTED never change.

    ``counters`` matter only when a Judge is due; None then fails closed.
    """
    now = _aware(now, "now")
    if state.phase.is_final:
        return state
    if state.phase is CanaryPhase.PAUSED:
        judge = _last_judge(state)
        if judge is None or counters is None:
            return state
        a = assess(judge, counters)
        if a.judgement is Judgement.FAILED:
            s = replace(state, checks=state.checks + 1)
            return _aborted(s, f"check while paused failed: {'; '.join(a.reasons)}", failed=True)
        return state
    s = state
    if s.phase is CanaryPhase.PENDING:
        s = replace(s, phase=CanaryPhase.PROGRESSING, step_started_at=now)
    steps = s.plan.steps
    while True:
        if s.step_index >= len(steps):
            return replace(
                s, phase=CanaryPhase.PROMOTED, weight=100.0, reasons=_note(s, "promoted")
            )
        step = steps[s.step_index]
        nxt = replace(s, step_index=s.step_index + 1, step_started_at=now, extensions=0)
        if isinstance(step, SetWeight):
            s = replace(
                nxt,
                weight=step.percent,
                window_start=now,
                reasons=_note(s, f"weight set to {step.percent:g}%"),
            )
        elif isinstance(step, Wait):
            if now - s.step_started_at < timedelta(minutes=step.minutes):
                return s
            s = nxt
        elif isinstance(step, Pause):
            return replace(
                nxt, phase=CanaryPhase.PAUSED, reasons=_note(s, f"paused: {step.reason}")
            )
        else:
            due = s.step_started_at + timedelta(minutes=step.extension_minutes) * s.extensions
            if now < due:
                return s
            a = assess(step, counters)
            s = replace(s, checks=s.checks + 1)
            words = "; ".join(a.reasons)
            at = f"at {s.weight:g}%"
            if a.judgement is Judgement.FAILED:
                return _aborted(s, f"judge failed {at}: {words}", failed=True)
            if a.judgement is Judgement.PASSED:
                s = replace(nxt, checks=s.checks, reasons=_note(s, f"judge passed {at}: {words}"))
            elif s.extensions < step.max_extensions:
                return replace(
                    s,
                    extensions=s.extensions + 1,
                    reasons=_note(
                        s,
                        f"judge inconclusive {at}, extended by {step.extension_minutes:g} min "
                        f"({s.extensions + 1}/{step.max_extensions}): {words}",
                    ),
                )
            else:
                return _aborted(
                    s,
                    f"judge still inconclusive {at} after {step.max_extensions} extensions; "
                    f"failing closed: {words}",
                )


def pause(state: CanaryState, now: datetime, reason: str) -> CanaryState:
    """Hold the current weight (an operator's pause). Final or paused canaries are unchanged."""
    _aware(now, "now")
    if state.phase.is_final or state.phase is CanaryPhase.PAUSED:
        return state
    return replace(
        state,
        phase=CanaryPhase.PAUSED,
        reasons=_note(state, f"paused: {reason}" if reason else "paused"),
    )


def resume(state: CanaryState, now: datetime, reason: str = "resumed") -> CanaryState:
    """Continue a PAUSED canary from its next step; any other canary is unchanged."""
    now = _aware(now, "now")
    if state.phase is not CanaryPhase.PAUSED:
        return state
    return replace(
        state, phase=CanaryPhase.PROGRESSING, step_started_at=now, reasons=_note(state, reason)
    )


def abort(state: CanaryState, now: datetime, reason: str) -> CanaryState:
    """Stop the canary: weight 0, ABORTED. Idempotent; a promoted canary is unchanged."""
    _aware(now, "now")
    if state.phase.is_final:
        return state
    return _aborted(state, f"aborted: {reason}" if reason else "aborted")


def promote(state: CanaryState, now: datetime, reason: str) -> CanaryState:
    """A human's override: full traffic now, skipping the remaining steps. Final canaries are
    unchanged (an aborted canary is never promoted)."""
    _aware(now, "now")
    if state.phase.is_final:
        return state
    n = len(state.plan.steps)
    return replace(
        state,
        phase=CanaryPhase.PROMOTED,
        weight=100.0,
        step_index=n,
        reasons=_note(state, f"promoted by hand: {reason}" if reason else "promoted by hand"),
    )
