"""`safeheal init`: a commented ``safeheal.toml`` with every key at its default.

The values are read from the pydantic defaults of :class:`~safeheal.config.SafehealConfig` (so
they are the paper's numbers and never drift from the code); the comments come from each
section's docstring, the ``#:`` comment above each field in :mod:`safeheal.config`, or, for
fields without one, from :data:`KEY_HELP`.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from safeheal.config import SafehealConfig
from safeheal.errors import ConfigError

__all__ = ["KEY_HELP", "render_config", "write_config"]

#: Comments for keys whose field has no ``#:`` comment; ``*`` stands for an action's name.
KEY_HELP: dict[str, str] = {
    "actions.custom": "names of actions beyond the paper's five, each with an executor of yours",
    "envelope.thresholds.fallback_drift": "critical (FALLBACK) if the drift score d exceeds this",
    "envelope.thresholds.fallback_accuracy_drop": "critical if the accuracy drop a exceeds this",
    "envelope.thresholds.fallback_anomaly_rate": "critical if the anomaly rate ρ exceeds this",
    "envelope.thresholds.slo_latency_ratio": "SLO breach if latency / SLO latency exceeds this",
    "envelope.thresholds.slo_error_rate": "SLO breach if the error rate exceeds this",
    "envelope.thresholds.rollback_accuracy_drop": "degraded (ROLLBACK) if a exceeds this",
    "envelope.thresholds.retrain_drift": "drifting (RETRAIN) if d exceeds this ...",
    "envelope.thresholds.retrain_drift_max": "... and does not exceed this",
    "envelope.thresholds.risk_high_drift": "paper mode: high risk if d exceeds this",
    "envelope.thresholds.risk_high_accuracy_drop": "paper mode: high risk if a exceeds this",
    "envelope.thresholds.risk_high_anomaly_rate": "paper mode: high risk if ρ exceeds this",
    "costs.weights.compute": "α: weight of the compute term in C(a)",
    "costs.weights.risk": "β: weight of the risk term in C(a)",
    "costs.weights.downtime": "γ: weight of the downtime term in C(a)",
    "costs.prior_weight": "how many measurements the default cost terms count as",
    "costs.actions.*.compute": "normalised compute cost of this action, in [0, 1]",
    "costs.actions.*.risk": "normalised risk of this action, in [0, 1]",
    "costs.actions.*.downtime": "normalised downtime of this action, in [0, 1]",
    "sla.threshold": "an action whose predicted SLA score is below this is removed",
    "sla.weights.availability": "w1: weight of availability in the SLA score",
    "sla.weights.accuracy": "w2: weight of accuracy in the SLA score",
    "sla.weights.latency": "w3: weight of latency compliance in the SLA score",
    "sla.effects.*.availability": 'predicted availability after the action, or "keep"',
    "sla.effects.*.accuracy": 'predicted accuracy after the action, or "keep"',
    "sla.effects.*.latency": 'predicted latency compliance after the action, or "keep"',
    "sla.effects.*.drift_sensitivity": "share of the drift the action leaves in the accuracy",
    "sla.effects.*.penalty": "SLA lost while the action is carried out",
    "bandit.lambda": "λ: value of a success against the cost, in λ·θ − C(a)",
    "bandit.prior_alpha": "α of the Beta prior of every action's success",
    "bandit.prior_beta": "β of the Beta prior of every action's success",
    "bandit.warm_start_successes": "successes credited to the zone's default action",
    "bandit.warm_start_failures": "failures credited to the zone's default action",
    "bandit.propensity_grid": "grid points used to compute a choice's propensity",
    "context.severity_scales.*": "severity = signal / scale (the largest over signals)",
    "context.severity_cuts": "severity cut points between the levels below",
    "context.severity_levels": "names of the severity levels, one more than the cuts",
    "canary.traffic_fraction": "share of traffic the candidate gets first (0.01 = 1 %)",
    "canary.max_sla_drop": "roll back if the candidate's SLA is lower by more than this",
    "canary.validation_minutes": "minutes the candidate is watched before promotion",
    "retrain.time_limit_seconds": "a training run longer than this is stopped",
    "retrain.holdout_fraction": "recent rows held out to compare candidate and champion",
    "retrain.min_improvement": "the candidate must beat the champion by more than this",
    "retrain.min_samples": "fewest labelled rows a retrain is attempted with",
    "retrain.seed": "seed of the train/holdout split",
    "retrain.refresh_fallback": "on the fallback, refit the fallback too on the same rows",
    "escalation.webhook_url": "where escalations are POSTed as JSON (none: only recorded)",
    "escalation.timeout_seconds": "how long the webhook may take to answer",
    "fallback.plan": '"immediate" (all traffic at once) or "canary" (as in the paper)',
    "impact.revenue_per_minute": "revenue the service earns per minute",
    "impact.cost_per_unit": "money per unit of the normalised action cost",
    "impact.incident_minutes_median": "median length of an incident left alone, in minutes",
    "impact.incident_minutes_sigma": "log-normal shape of that length",
    "impact.loss_weights.*": "share of revenue lost per unit of this signal",
    "impact.repair.*.minutes_median": "median minutes this action takes to repair",
    "impact.repair.*.sigma": "log-normal shape of that time",
    "impact.samples": "Monte Carlo samples of the impact estimate",
    "policy.mode": '"hybrid" (safety envelope + SLA guard + bandit) or "paper"',
    "policy.seed": "seed of every random choice (none: a fresh one each run)",
    "control.default_mode": 'mode of a model not listed below: "shadow", "canary", "autonomous"',
    "control.models": "the models the controller runs, and each one's mode",
    "serve.port": "port to listen on",
    "serve.log_level": "how much the gateway logs",
}

_EXAMPLES: dict[str, str] = {
    "envelope.rules": (
        "# A table of your own replaces the paper's zones (and the thresholds above), e.g.:\n"
        "# [[envelope.rules]]\n"
        '# zone = "critical"\n'
        '# any = ["drift > 0.20", "accuracy_drop > 0.15", "anomaly_rate > 0.05"]\n'
        '# mandatory = "FALLBACK"\n'
        '# permitted = ["FALLBACK"]'
    ),
    "control.models": (
        '# [control.models.churn]\n# mode = "canary"     # "shadow", "canary" or "autonomous"'
    ),
    "serve.feature_names": (
        "# Features of models fitted on arrays, in the order predict expects:\n"
        "# [serve.feature_names]\n"
        '# churn = ["age", "tenure"]'
    ),
}

_EXAMPLE_VALUES: dict[str, str] = {
    "retrain.training_function": '"mypkg.train:fit"',
    "escalation.webhook_url": '"https://ops.example.com/hooks/safeheal"',
    "policy.seed": "7",
    "serve.admin_token": '"…"',
    "serve.admin_token_env": '"SAFEHEAL_ADMIN_TOKEN"',
    "serve.store": '"safeheal-data/safeheal.db"',
    "serve.ui": "true",
}


@functools.cache
def _field_comments(cls: type) -> dict[str, str]:
    """The ``#:`` comments above each field of ``cls``, by field name."""
    out: dict[str, str] = {}
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):  # no source (a frozen build): KEY_HELP is the fallback
        return out
    pending: list[str] = []
    for line in lines:
        text = line.strip()
        if text.startswith("#:"):
            pending.append(text[2:].strip())
            continue
        m = re.match(r"^(\w+)\s*:", text)
        if m and pending:
            out[m.group(1)] = " ".join(pending).replace("``", "")
        pending = []
    return out


def _help(model: type[BaseModel], name: str, path: str) -> str | None:
    found = _field_comments(model).get(name)
    if found:
        return found
    generic = re.sub(r"\.([A-Z][A-Z0-9_]*)\.", ".*.", path)
    for key in (path, generic, path.rsplit(".", 1)[0] + ".*"):
        if key in KEY_HELP:
            return KEY_HELP[key]
    return None


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {v!r}")


def _doc(model: type[BaseModel]) -> str:
    doc = " ".join((inspect.getdoc(model) or "").split("\n\n")[0].split())
    doc = re.sub(r":\w+:`~?(?:[\w.]*\.)?(\w+)`", r"\1", doc)  # :class:`~safeheal.X` -> X
    return doc.replace("``", "")


def _table(model: BaseModel, path: str, out: list[str], missing: list[str]) -> None:
    """Append the keys of ``model`` (the table at ``path``), then its sub-tables."""
    cls = type(model)
    out.append("")
    out.append(f"[{path}]")
    doc = _doc(cls)
    out.extend(textwrap.wrap(doc, 98, initial_indent="# ", subsequent_indent="# "))
    later: list[tuple[str, Any]] = []
    for name, field in cls.model_fields.items():
        key = field.alias or name
        dotted = f"{path}.{key}"
        value = getattr(model, name)
        if isinstance(value, BaseModel) or (
            isinstance(value, Mapping) and (not value or _is_models(value))
        ):
            later.append((key, value))
            continue
        if value is None and dotted in _EXAMPLES:
            continue
        help_ = _help(cls, name, dotted)
        if help_ is None:
            missing.append(dotted)
        example = _EXAMPLE_VALUES.get(dotted, '"…"')
        line = f"# {key} = {example}" if value is None else f"{key} = {_value(value)}"
        if help_ and len(line) + len(help_) > 96:  # a long comment goes above its key
            out.extend(textwrap.wrap(help_, 98, initial_indent="# ", subsequent_indent="# "))
            out.append(line)
        else:
            out.append(f"{line}  # {help_}" if help_ else line)
    for key, value in later:
        dotted = f"{path}.{key}"
        if isinstance(value, BaseModel):
            _table(value, dotted, out, missing)
        elif value:
            for sub, item in value.items():
                _table(item, f"{dotted}.{sub}", out, missing)
        elif dotted in _EXAMPLES:
            out.append("")
            out.append(_EXAMPLES[dotted])
        else:
            missing.append(dotted)
    for dotted, example in _EXAMPLES.items():
        if dotted.rsplit(".", 1)[0] == path and getattr(model, dotted.rsplit(".", 1)[1]) is None:
            out.append("")
            out.append(example)


def _is_models(value: Mapping[Any, Any]) -> bool:
    return all(isinstance(v, BaseModel) for v in value.values())


def render_config(config: SafehealConfig | None = None) -> str:
    """The text of a commented ``safeheal.toml`` holding every key of ``config`` (default: the
    defaults). A key with no comment is a ConfigError, so a new field must be explained.

    >>> text = render_config()
    >>> "fallback_drift = 0.2" in text and "lambda = 10.0" in text
    True
    """
    cfg = config if config is not None else SafehealConfig()
    out = [
        "# safeheal.toml: the configuration of safeheal, every key at the paper's default.",
        "# Delete what you do not change; a key left out takes its default. Written by",
        "# `safeheal init`; checked by every command that reads it.",
    ]
    missing: list[str] = []
    for name in type(cfg).model_fields:
        _table(getattr(cfg, name), name, out, missing)
    if missing:
        raise ConfigError(
            f"these configuration keys have no comment for `safeheal init`: {missing}"
        )
    return "\n".join(out) + "\n"


def write_config(path: Path, *, force: bool = False) -> Path:
    """Write :func:`render_config` to ``path``; refuse to overwrite an existing file unless
    ``force``."""
    if path.exists() and not force:
        raise ConfigError(
            f"{path} already exists; pass --force to overwrite it, or --path to write elsewhere"
        )
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; give a file path with --path")
    text = render_config()
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
