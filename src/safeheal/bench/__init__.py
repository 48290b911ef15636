"""The benchmark that reproduces the paper's evaluation (section 5): `safeheal bench`.

- :class:`ScenarioSpec`, :func:`default_suite` (the paper's 43 scenarios) and
  :func:`load_scenarios` (a TOML or JSON file of your own);
- :func:`run_episode`: one simulated production run of a scenario under a system, in which every
  action really acts (real models, real retrains, the project's executors and canary);
- :func:`make_system` and the systems compared (hybrid, paper, rl-only, rules-only, human),
  :data:`EXPERT_RULES` (the rules-only baseline's twelve rules);
- :func:`oracle` (the cheapest action that restores the SLA) and :func:`run_suite` (every system
  over every scenario and seed, in parallel, with the sensitivity runs);
- :class:`EpisodeResult`: one record per (system, seed, scenario), what the report is computed from.
"""

from safeheal.bench._records import FAMILIES, SYSTEMS, EpisodeResult, WindowCounts
from safeheal.bench._runner import (
    SENSITIVITY,
    OracleAnswer,
    SuiteResult,
    Variant,
    oracle,
    run_suite,
    run_system,
)
from safeheal.bench._scenarios import (
    DATASETS,
    KINDS,
    MODELS,
    PAPER_MIX,
    ScenarioSpec,
    default_suite,
    load_scenarios,
)
from safeheal.bench._sim import DEFINITIONS, EpisodeRun, SimSettings, run_episode
from safeheal.bench._systems import (
    EXPERT_RULES,
    HEALING_ACTIONS,
    ExpertRule,
    HumanOperator,
    ScriptedSystem,
    System,
    make_system,
)

__all__ = [
    "DATASETS",
    "DEFINITIONS",
    "EXPERT_RULES",
    "FAMILIES",
    "HEALING_ACTIONS",
    "KINDS",
    "MODELS",
    "PAPER_MIX",
    "SENSITIVITY",
    "SYSTEMS",
    "EpisodeResult",
    "EpisodeRun",
    "ExpertRule",
    "HumanOperator",
    "OracleAnswer",
    "ScenarioSpec",
    "ScriptedSystem",
    "SimSettings",
    "SuiteResult",
    "System",
    "Variant",
    "WindowCounts",
    "default_suite",
    "load_scenarios",
    "make_system",
    "oracle",
    "run_episode",
    "run_suite",
    "run_system",
]
