"""The deterministic safety envelope: an ordered rule table from State to Verdict (paper 3.2.2).

A rule names a zone, the conditions under which it matches, the action that must be taken there
(if any), the actions permitted there and the zone's default action (the paper's π_det(x), which
warm-starts the bandit). Rules are tried in order and the first that matches decides (design.md
9.2); the last rule has no conditions and catches every state the others leave.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, cast

from safeheal.core.action import Action
from safeheal.core.decision import Verdict
from safeheal.core.state import State
from safeheal.errors import ConfigError
from safeheal.policy._defaults import CONDITION_FIELDS, ENVELOPE_THRESHOLDS, SIGNALS

if TYPE_CHECKING:
    from safeheal.config import SafehealConfig

Op = Literal[">", ">=", "<", "<="]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_SHOWN = {">": ">", ">=": "≥", "<": "<", "<=": "≤"}
_ALIASES = {"≥": ">=", "≤": "<=", "=>": ">=", "=<": "<="}
_CONDITION = re.compile(
    r"^\s*(?P<signal>[a-z_]+)\s*(?P<op>>=|<=|=>|=<|>|<|≥|≤)\s*(?P<value>[-+0-9.eE]+)\s*$"
)


def format_threshold(x: float) -> str:
    """A threshold as the paper writes it: two decimals unless more are needed.

    >>> format_threshold(0.2), format_threshold(0.05), format_threshold(0.125)
    ('0.20', '0.05', '0.125')
    """
    text = f"{x:.2f}"
    return text if float(text) == x else repr(x)


@dataclass(frozen=True, slots=True)
class Condition:
    """One comparison of a State signal with a threshold, e.g. ``drift > 0.20``.

    >>> c = Condition.parse("drift > 0.20")
    >>> c.holds(State(drift=0.20, accuracy_drop=0.0, anomaly_rate=0.0))
    False
    >>> c.describe(State(drift=0.28, accuracy_drop=0.0, anomaly_rate=0.0))
    'drift 0.28 > 0.20'
    """

    signal: str
    op: Op
    threshold: float
    #: The threshold as written (kept for reasons: "0.20", not "0.2").
    text: str = ""
    _cmp: Callable[[float, float], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.signal not in CONDITION_FIELDS:
            raise ConfigError(
                f"a condition's signal must be one of {', '.join(CONDITION_FIELDS)}; "
                f"got {self.signal!r}"
            )
        if self.op not in _OPS:
            raise ConfigError(
                f"a condition's operator must be one of >, >=, <, <=; got {self.op!r}"
            )
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float):
            raise ConfigError(f"a condition's threshold must be a number; got {self.threshold!r}")
        if not math.isfinite(self.threshold):
            raise ConfigError(f"a condition's threshold must be finite; got {self.threshold!r}")
        object.__setattr__(self, "threshold", float(self.threshold))
        if not self.text:
            object.__setattr__(self, "text", format_threshold(self.threshold))
        object.__setattr__(self, "_cmp", _OPS[self.op])

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Read ``"<signal> <op> <number>"``; ``op`` is one of ``> >= < <=`` (or ``≥ ≤``)."""
        m = _CONDITION.match(text) if isinstance(text, str) else None
        if m is None:
            raise ConfigError(
                f"a condition must read '<signal> <op> <number>' with signal one of "
                f"{', '.join(CONDITION_FIELDS)} and op one of >, >=, <, <=; got {text!r}"
            )
        op = _ALIASES.get(m["op"], m["op"])
        try:
            value = float(m["value"])
        except ValueError:
            raise ConfigError(f"a condition's threshold must be a number; got {text!r}") from None
        return cls(m["signal"], cast(Op, op), value, m["value"])

    def holds(self, state: State) -> bool:
        """Whether the condition holds for ``state``."""
        return self._cmp(getattr(state, self.signal), self.threshold)

    def describe(self, state: State) -> str:
        """Plain words: the signal, its value, the comparison and the threshold."""
        return f"{self.signal} {getattr(state, self.signal):.4g} {_SHOWN[self.op]} {self.text}"

    def __str__(self) -> str:
        return f"{self.signal} {self.op} {self.text}"


def _condition(c: Condition | str) -> Condition:
    if isinstance(c, Condition):
        return c
    return Condition.parse(c)


def _actions(xs: Iterable[Action | str]) -> frozenset[Action]:
    if isinstance(xs, str | Action):
        xs = [xs]
    return frozenset(Action(x) for x in xs)


@dataclass(frozen=True, slots=True, init=False)
class Rule:
    """One zone of the envelope.

    The rule matches when every ``all`` condition holds and, if there are ``any`` conditions, at
    least one of them holds; a rule with neither matches every state. ``mandatory`` (if set) must
    be taken; ``permitted`` are the actions allowed in the zone; ``default`` is the zone's
    default action (π_det(x) in the paper; it is ``mandatory`` when that is set).

    >>> Rule("degraded", all=["accuracy_drop > 0.10", "drift <= 0.20"],
    ...      permitted=["ROLLBACK", "RETRAIN", "FALLBACK"], default="ROLLBACK").default
    Action.ROLLBACK
    """

    zone: str
    all: tuple[Condition, ...]
    any: tuple[Condition, ...]
    mandatory: Action | None
    permitted: frozenset[Action]
    default: Action | None

    def __init__(
        self,
        zone: str,
        *,
        all: Iterable[Condition | str] = (),  # the TOML key
        any: Iterable[Condition | str] = (),  # the TOML key
        mandatory: Action | str | None = None,
        permitted: Iterable[Action | str] = (),
        default: Action | str | None = None,
    ) -> None:
        if isinstance(all, str) or isinstance(any, str):
            raise ConfigError(f"rule {zone!r}: `all` and `any` are lists of conditions")
        must = Action(mandatory) if mandatory is not None else None
        dflt = Action(default) if default is not None else must
        object.__setattr__(self, "zone", str(zone))
        object.__setattr__(self, "all", tuple(_condition(c) for c in all))
        object.__setattr__(self, "any", tuple(_condition(c) for c in any))
        object.__setattr__(self, "mandatory", must)
        object.__setattr__(self, "permitted", _actions(permitted))
        object.__setattr__(self, "default", dflt)

    @property
    def catch_all(self) -> bool:
        """True when the rule has no conditions (it matches every state)."""
        return not self.all and not self.any

    def matches(self, state: State) -> bool:
        """Whether the rule matches ``state``."""
        for c in self.all:
            if not c._cmp(getattr(state, c.signal), c.threshold):
                return False
        if not self.any:
            return True
        return any(c._cmp(getattr(state, c.signal), c.threshold) for c in self.any)

    def reasons(self, state: State) -> tuple[str, ...]:
        """Plain-words reasons for a match: the conditions that held."""
        if self.catch_all:
            values = ", ".join(f"{s} {getattr(state, s):.4g}" for s in SIGNALS)
            return (f"{self.zone}: no earlier rule matched ({values})",)
        held = [c.describe(state) for c in self.all]
        held += [c.describe(state) for c in self.any if c.holds(state)]
        return (f"{self.zone}: " + " and ".join(held),)


def validate_rules(rules: Sequence[Rule]) -> None:
    """Check a rule table; raise :class:`~safeheal.errors.ConfigError` naming the rule.

    Every zone has a unique name without "/", at least one permitted action, its mandatory and
    default actions among the permitted ones; the last rule, and only it, has no conditions.
    """
    if not rules:
        raise ConfigError("the envelope needs at least one rule; got an empty rule table")
    seen: set[str] = set()
    last = len(rules) - 1
    for i, r in enumerate(rules):
        if not isinstance(r, Rule):
            raise ConfigError(f"rule {i} must be a Rule; got {type(r).__name__}")
        where = f"rule {i} ({r.zone!r})"
        if not r.zone or "/" in r.zone or r.zone != r.zone.strip():
            raise ConfigError(f"{where}: a zone name must be non-empty, without '/' or spaces")
        if r.zone in seen:
            raise ConfigError(f"{where}: zone names must be unique; {r.zone!r} appears twice")
        seen.add(r.zone)
        if not r.permitted:
            raise ConfigError(f"{where}: `permitted` must name at least one action; got none")
        if r.mandatory is not None and r.mandatory not in r.permitted:
            raise ConfigError(
                f"{where}: the mandatory action {r.mandatory.name} must be permitted; "
                f"permitted is {sorted(a.name for a in r.permitted)}"
            )
        if r.default is not None and r.default not in r.permitted:
            raise ConfigError(
                f"{where}: the default action {r.default.name} must be permitted; "
                f"permitted is {sorted(a.name for a in r.permitted)}"
            )
        if r.mandatory is not None and r.default is not r.mandatory:
            raise ConfigError(
                f"{where}: the default action must be the mandatory one "
                f"({r.mandatory.name}); got {r.default.name if r.default else None}"
            )
        if r.catch_all and i != last:
            raise ConfigError(
                f"{where}: a rule without conditions matches every state, so the rules after it "
                f"could never match; it must be the last rule"
            )
    if not rules[last].catch_all:
        r = rules[last]
        raise ConfigError(
            f"rule {last} ({r.zone!r}): the last rule must have no conditions (the 'otherwise' "
            f"zone), so that every state gets a verdict; got conditions "
            f"{[str(c) for c in (*r.all, *r.any)]}"
        )


def paper_rules(thresholds: Mapping[str, float] | None = None) -> tuple[Rule, ...]:
    """The paper's table (design.md 3.2), built from the envelope thresholds.

    ``thresholds`` overrides any of :data:`~safeheal.policy._defaults.ENVELOPE_THRESHOLDS`.
    """
    t = dict(ENVELOPE_THRESHOLDS)
    if thresholds:
        unknown = set(thresholds) - set(t)
        if unknown:
            raise ConfigError(
                f"unknown envelope threshold(s) {sorted(unknown)}; expected some of {sorted(t)}"
            )
        t.update(thresholds)

    def c(signal: str, op: Op, key: str) -> Condition:
        return Condition(signal, op, t[key])

    F, R, T, N = Action.FALLBACK, Action.ROLLBACK, Action.RETRAIN, Action.NO_OP
    return (
        # The fallback already serves all traffic and its own accuracy is below the SLA too (a
        # change in the labels, not in the model, which the fallback suffers as well): the
        # critical zone's safe action is in effect and cannot help, so the next safe step is the
        # paper's (6.3.1) "retrain triggered with fresh data", deployed by canary against the
        # fallback. Inputs that are anomalous or an SLO breach on the fallback stay critical:
        # those are not fixed by learning from the recent rows. The zone forces nothing (no
        # mandatory action: only the critical zone forces one, design.md 3.2/3.5); RETRAIN is
        # the only permitted action, and the controller escalates when it fails.
        Rule(
            "fallback-failing",
            all=[
                Condition("fallback_share", ">=", 1.0),
                c("accuracy_drop", ">", "rollback_accuracy_drop"),
                c("anomaly_rate", "<=", "fallback_anomaly_rate"),
                c("latency_ratio", "<=", "slo_latency_ratio"),
                c("error_rate", "<=", "slo_error_rate"),
            ],
            permitted=[T],
            default=T,
        ),
        Rule(
            "critical",
            any=[
                c("drift", ">", "fallback_drift"),
                c("accuracy_drop", ">", "fallback_accuracy_drop"),
                c("anomaly_rate", ">", "fallback_anomaly_rate"),
                c("latency_ratio", ">", "slo_latency_ratio"),
                c("error_rate", ">", "slo_error_rate"),
            ],
            mandatory=F,
            permitted=[F],
        ),
        Rule(
            "degraded",
            all=[
                c("accuracy_drop", ">", "rollback_accuracy_drop"),
                c("accuracy_drop", "<=", "fallback_accuracy_drop"),
                c("drift", "<=", "fallback_drift"),
            ],
            permitted=[R, T, F],
            default=R,
        ),
        Rule(
            "drifting",
            all=[
                c("drift", ">", "retrain_drift"),
                c("drift", "<=", "retrain_drift_max"),
                c("accuracy_drop", "<=", "rollback_accuracy_drop"),
            ],
            permitted=[T, F, N],
            default=T,
        ),
        Rule(
            "watch",
            any=[
                c("drift", ">", "risk_high_drift"),
                c("accuracy_drop", ">", "risk_high_accuracy_drop"),
                c("anomaly_rate", ">", "risk_high_anomaly_rate"),
            ],
            permitted=[N, F],
        ),
        Rule("healthy", permitted=[N]),
    )


class SafetyEnvelope:
    """Maps a State to a :class:`~safeheal.Verdict` by the first rule that matches.

    Without ``rules``, the paper's table (design.md 3.2) with the paper's thresholds.

    >>> env = SafetyEnvelope()
    >>> v = env.assess(State(drift=0.28, accuracy_drop=0.02, anomaly_rate=0.0))
    >>> v.zone, v.mandatory, v.reasons
    ('critical', Action.FALLBACK, ('critical: drift 0.28 > 0.20',))
    >>> v = env.assess(State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.0))
    >>> v.zone, v.mandatory, sorted(a.name for a in v.permitted)
    ('degraded', None, ['FALLBACK', 'RETRAIN', 'ROLLBACK'])

    The same accuracy drop measured while the fallback serves all traffic (the fallback suffers
    too): FALLBACK is in effect already, RETRAIN is the next safe step.

    >>> v = env.assess(State(drift=0.0, accuracy_drop=0.2, anomaly_rate=0.0, fallback_share=1.0))
    >>> v.zone, v.mandatory, sorted(a.name for a in v.permitted)
    ('fallback-failing', None, ['RETRAIN'])
    """

    __slots__ = ("_defaults", "rules")

    def __init__(self, rules: Sequence[Rule] | None = None) -> None:
        table = paper_rules() if rules is None else tuple(rules)
        validate_rules(table)
        self.rules: tuple[Rule, ...] = table
        self._defaults = {r.zone: r.default for r in table}

    @classmethod
    def paper(cls, **thresholds: float) -> SafetyEnvelope:
        """The paper's table with some thresholds changed, e.g. ``paper(fallback_drift=0.25)``."""
        return cls(paper_rules(thresholds))

    @classmethod
    def from_config(cls, cfg: SafehealConfig) -> SafetyEnvelope:
        """The envelope a :class:`~safeheal.SafehealConfig` describes."""
        return cls(cfg.envelope.to_rules())

    def assess(self, state: State) -> Verdict:
        """The verdict of the first rule that matches ``state``."""
        for rule in self.rules:
            if rule.matches(state):
                return Verdict(
                    mandatory=rule.mandatory,
                    permitted=rule.permitted,
                    zone=rule.zone,
                    reasons=rule.reasons(state),
                    default=rule.default,
                )
        raise AssertionError("unreachable: the last rule is a catch-all")  # pragma: no cover

    def actions(self) -> frozenset[Action]:
        """Every action some rule permits."""
        out: set[Action] = set()
        for r in self.rules:
            out |= r.permitted
        return frozenset(out)

    def default_for(self, zone: str) -> Action | None:
        """The default action of ``zone`` (None for a zone without one or an unknown zone)."""
        return self._defaults.get(zone)

    def __repr__(self) -> str:
        return f"SafetyEnvelope(zones={[r.zone for r in self.rules]})"


@dataclass(frozen=True, slots=True)
class RiskHigh:
    """The paper's risk_high(x) = d > 0.15 or a > 0.10 or ρ > 0.03 (used by ``paper`` mode).

    >>> RiskHigh()(State(drift=0.16, accuracy_drop=0.0, anomaly_rate=0.0))
    True
    """

    drift: float = ENVELOPE_THRESHOLDS["risk_high_drift"]
    accuracy_drop: float = ENVELOPE_THRESHOLDS["risk_high_accuracy_drop"]
    anomaly_rate: float = ENVELOPE_THRESHOLDS["risk_high_anomaly_rate"]

    def __call__(self, state: State) -> bool:
        return (
            state.drift > self.drift
            or state.accuracy_drop > self.accuracy_drop
            or state.anomaly_rate > self.anomaly_rate
        )

    @classmethod
    def from_config(cls, cfg: SafehealConfig) -> RiskHigh:
        t = cfg.envelope.thresholds
        return cls(t.risk_high_drift, t.risk_high_accuracy_drop, t.risk_high_anomaly_rate)
