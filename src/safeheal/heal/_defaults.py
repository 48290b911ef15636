"""Defaults of the healing actions, in one place, as plain Python (no pydantic, no numpy).

The paper gives none of these numbers; each is an assumption, chosen so that a default
installation heals a small scikit-learn model within seconds and never waits on a webhook for long.
"""

from __future__ import annotations

from typing import Final

# --- RETRAIN ------------------------------------------------------------------------------------
#: Wall-clock seconds a training run may take before the retrain fails.
RETRAIN_TIME_LIMIT_SECONDS: Final = 600.0
#: Share of the recent labelled rows held out to compare the candidate with the champion.
RETRAIN_HOLDOUT_FRACTION: Final = 0.3
#: The candidate's held-out score must exceed the champion's by more than this.
RETRAIN_MIN_IMPROVEMENT: Final = 0.0
#: Fewer recent labelled rows than this and the retrain is refused.
RETRAIN_MIN_SAMPLES: Final = 50
#: Seed of the train / held-out split.
RETRAIN_SEED: Final = 0
#: A retrain run while the fallback serves also refits the fallback on the same rows.
RETRAIN_REFRESH_FALLBACK: Final = True

# --- ESCALATE -----------------------------------------------------------------------------------
#: Seconds the webhook may take to answer before the notification counts as failed.
ESCALATION_TIMEOUT_SECONDS: Final = 5.0

# --- FALLBACK -----------------------------------------------------------------------------------
#: "immediate": all traffic to the fallback at once; "canary": by the canary plan (the paper).
FALLBACK_PLAN: Final = "immediate"

# --- measured costs -----------------------------------------------------------------------------
#: CPU seconds that count as compute 1.0 (a measured cost term is min(1, measured / budget)).
BUDGET_CPU_SECONDS: Final = 600.0
#: Percent of traffic on an unvalidated version that counts as risk 1.0.
BUDGET_EXPOSED_PERCENT: Final = 100.0
#: Minutes of degraded service that count as downtime 1.0.
BUDGET_DEGRADED_MINUTES: Final = 60.0
