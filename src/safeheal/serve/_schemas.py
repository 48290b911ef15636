"""The JSON shapes of the API, as pydantic models: they document the OpenAPI schema.

The hot endpoints parse and answer by hand (see ``_parse.py``) for speed, with exactly these
shapes; the admin endpoints validate with these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

RequestId = Annotated[
    str,
    Field(
        pattern=r"^[\x21-\x7e]{1,128}$",
        description="1 to 128 printable ASCII characters, no spaces. Generated (UUID4 hex) "
        "when absent. The same id is always routed to the same version while the split holds.",
    ),
]
Label = int | float | str | bool
Prediction = int | float | str | bool | None | list[int | float | str | bool | None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PredictRequest(_Strict):
    """Rows to predict, all in one form: objects keyed by feature name, or arrays of numbers in
    the model's feature order."""

    rows: list[dict[str, float]] | list[list[float]] = Field(min_length=1)
    request_id: RequestId | None = None


class PredictResponse(_Strict):
    model: str
    version: int = Field(description="The model version that answered.")
    request_id: str
    predictions: list[Prediction] = Field(description="One prediction per row, in order.")


class LabelItem(_Strict):
    request_id: RequestId
    row: int = Field(default=0, ge=0, description="Row of that request (0-based).")
    label: Label


class FeedbackRequest(_Strict):
    """Either ``request_id`` with the labels of that request's rows in order, or ``labels`` as
    objects naming their request and row."""

    request_id: RequestId | None = None
    labels: list[Label] | list[LabelItem] = Field(min_length=1)


class FeedbackResponse(_Strict):
    accepted: int = Field(description="Labels recorded.")


class ErrorDetail(_Strict):
    code: str = Field(description="Stable machine-readable code, e.g. `wrong_columns`.")
    message: str = Field(description="What was wrong, what was expected and what was given.")
    field: str | None = Field(description="Where in the request, e.g. `rows[3].age`.")


class ErrorResponse(_Strict):
    error: ErrorDetail


class HealthResponse(_Strict):
    status: str = Field(description="`ok`, or `degraded` when the log writer is not running.")
    models: list[str]
    log_queue_depth: int


class ArmModel(_Strict):
    version: int
    weight: float = Field(description="Percent of requests.")


class CanaryModel(_Strict):
    canary_id: str
    action: str = Field(description="The action that started the canary, e.g. `RETRAIN`.")
    candidate_version: int
    incumbent_version: int | None
    phase: str = Field(description="`pending`, `progressing` or `paused`.")
    weight: float = Field(description="The candidate's share of the traffic, in percent.")
    started_at: datetime
    updated_at: datetime


class EscalationResponse(_Strict):
    escalation_id: str
    status: str = Field(description="`pending`, `approved` or `rejected`.")
    detail: str
    model: str | None = None
    created_at: datetime | None = None


class ModelStatusModel(_Strict):
    model: str
    arms: list[ArmModel]
    roles: dict[str, int] = Field(description="Versions holding champion, challenger, fallback.")
    rollback_available: bool
    canaries: list[CanaryModel] = Field(default_factory=list, description="Running canaries.")
    escalations: list[EscalationResponse] = Field(
        default_factory=list, description="Escalations waiting for a human."
    )


class StatusResponse(_Strict):
    models: list[ModelStatusModel]


class PromoteRequest(_Strict):
    version: int = Field(ge=1)
    reason: str = Field(default="promoted through the admin API", max_length=1000)


class RollbackRequest(_Strict):
    reason: str = Field(default="rolled back through the admin API", max_length=1000)


class ApproveRequest(_Strict):
    note: str = Field(default="", max_length=1000)
