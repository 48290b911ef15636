"""The FastAPI application: routes, error handling, lifespan. Built by :func:`create_app`."""

from __future__ import annotations

import hmac
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, ParamSpec, TypeVar, cast

import numpy as np
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from safeheal.errors import (
    EscalationClosedError,
    RegistryError,
    SafehealError,
    StoreError,
    UnknownEscalationError,
    UnknownModelError,
)
from safeheal.serve._admin import TrafficAdmin
from safeheal.serve._dashboard import Dashboard
from safeheal.serve._errors import (
    AdminConflictError,
    ApiError,
    ModelNotFoundError,
    NotSupportedError,
)
from safeheal.serve._logwriter import LogStats, LogWriter
from safeheal.serve._metrics import GatewayMetrics
from safeheal.serve._models import LoadedModel, ModelCache
from safeheal.serve._parse import (
    decode_json,
    expect_object,
    parse_feedback,
    request_id_of,
    rows_to_array,
)
from safeheal.serve._protocols import (
    AdminActions,
    EscalationStatus,
    InferenceSink,
    ModelSource,
    ModelStatus,
    TrafficTable,
)
from safeheal.serve._records import FeedbackRecord, InferenceRecord
from safeheal.serve._schemas import (
    ApproveRequest,
    ArmModel,
    CanaryModel,
    ErrorResponse,
    EscalationResponse,
    FeedbackRequest,
    FeedbackResponse,
    HealthResponse,
    ModelStatusModel,
    PredictRequest,
    PredictResponse,
    PromoteRequest,
    RollbackRequest,
    StatusResponse,
)
from safeheal.serve._settings import GatewaySettings
from safeheal.serve._traffic import choose_arm
from safeheal.serve._ui import add_dashboard_routes

_log = logging.getLogger("safeheal.serve")
_P = ParamSpec("_P")
_T = TypeVar("_T")
_M = TypeVar("_M", bound=BaseModel)
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_PREDICT_KEYS = frozenset({"rows", "request_id"})
_BEARER = HTTPBearer(auto_error=False, description="The admin token from the configuration.")
_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorResponse} for s in statuses}


def _predictions(raw: Any, n: int) -> list[Any]:
    """A model's output as one JSON value per row; ValueError if it is not that."""
    arr = np.asarray(raw)
    if arr.ndim == 0 or arr.shape[0] != n:
        raise ValueError(f"the model returned predictions of shape {arr.shape} for {n} rows")
    values: list[Any] = arr.tolist()
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        return _nulls(values)  # JSON has no NaN or infinity
    return values


def _nulls(values: list[Any]) -> list[Any]:
    return [
        _nulls(v)
        if isinstance(v, list)
        else (None if isinstance(v, float) and not math.isfinite(v) else v)
        for v in values
    ]


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) more than ``limit`` bytes before reading them where it can."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413,
            "body_too_large",
            f"the request body has {int(declared)} bytes; at most {limit} are accepted",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413, "body_too_large", f"the request body exceeds the limit of {limit} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _check_json_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None:
        return
    media = content_type.partition(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the request body must be JSON (Content-Type: application/json); got {media!r}",
        )


@dataclass(slots=True)
class Gateway:
    """Everything a request needs, built once per app and reached through ``app.state``."""

    traffic: TrafficTable
    models: ModelCache
    sink: InferenceSink
    admin: AdminActions
    settings: GatewaySettings
    #: Stamps every logged record; the controller's (possibly accelerated) clock in tests.
    clock: Callable[[], datetime] = field(default_factory=lambda: _utc_now)
    log: LogWriter = field(init=False)
    metrics: GatewayMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.log = self._new_writer()
        self.metrics = GatewayMetrics(lambda: self.log.stats())

    def _new_writer(self) -> LogWriter:
        s = self.settings
        return LogWriter(
            self.sink,
            capacity=s.log_queue_size,
            batch_size=s.log_batch_size,
            flush_interval_s=s.log_flush_interval_s,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the log writer (a fresh one if an earlier run closed it)."""
        if self.log.closed:
            self.log = self._new_writer()
        self.log.start()

    def preload(self) -> None:
        """Load every version the traffic table routes to, so first requests do not wait.
        A version that fails to load is logged; its requests get 503 until it loads."""
        for model in self.traffic.models():
            for arm in self.traffic.arms(model) or ():
                try:
                    self.models.ensure(model, arm.version)
                except Exception:
                    _log.exception("could not preload version %d of %r", arm.version, model)

    def stop(self) -> LogStats:
        """Drain the inference log into the sink and stop the writer."""
        stats = self.log.close(self.settings.log_drain_timeout_s)
        _log.info("inference log closed: %s", stats)
        return stats

    # -- requests --------------------------------------------------------------------------------

    def unknown_model(self, name: str) -> ApiError:
        served = ", ".join(self.traffic.models()) or "none"
        return ApiError(
            404, "unknown_model", f"no model named {name!r} is served; served: {served}", "name"
        )

    async def _load(self, name: str, version: int) -> LoadedModel:
        model = self.models.get(name, version)
        if model is not None:
            return model
        arms = self.traffic.arms(name) or ()
        self.models.retain(name, {a.version for a in arms} | {version})
        return await run_in_threadpool(self.models.ensure, name, version)

    async def predict(self, name: str, request: Request) -> Response:
        started = time.perf_counter()
        arms = self.traffic.arms(name)
        if arms is None:
            raise self.unknown_model(name)
        _check_json_content_type(request)
        raw = await read_body(request, self.settings.max_body_bytes)
        body = expect_object(decode_json(raw), _PREDICT_KEYS, ("rows",))
        request_id = request_id_of(body, generate=True)
        version = choose_arm(arms, name, request_id).version
        requests, rows, errors, latency = self.metrics.of(name, version)
        try:
            model = await self._load(name, version)
        except Exception as exc:
            requests.inc()
            errors.inc()
            message = f"version {version} of model {name!r} cannot be loaded: {exc}"
            _log.error("%s", message)
            await self._record(name, version, request_id, (), None, None, started, message)
            raise ApiError(503, "model_unavailable", message) from exc
        X = rows_to_array(
            body["rows"],
            model,
            self.settings.max_rows,
            booleans_possible=b"true" in raw or b"false" in raw,
        )
        n = X.shape[0]
        requests.inc()
        try:
            if self.settings.predict_in_thread:
                raw = await run_in_threadpool(model.predictor.predict, X)
            else:
                raw = model.predictor.predict(X)
            predictions = _predictions(raw, n)
            payload = _ENCODER.encode(
                {
                    "model": name,
                    "version": version,
                    "request_id": request_id,
                    "predictions": predictions,
                }
            )
        except Exception as exc:
            errors.inc()
            message = f"version {version} of model {name!r} failed to predict: {exc!r:.500}"
            _log.warning("%s", message)
            await self._record(
                name, version, request_id, model.feature_names, X, None, started, message
            )
            raise ApiError(503, "model_error", message) from exc
        latency.observe(time.perf_counter() - started)
        rows.inc(n)
        await self._record(
            name, version, request_id, model.feature_names, X, predictions, started, None
        )
        return Response(payload, media_type="application/json")

    async def _record(
        self,
        name: str,
        version: int,
        request_id: str,
        feature_names: tuple[str, ...],
        X: Any,
        predictions: list[Any] | None,
        started: float,
        error: str | None,
    ) -> None:
        record = InferenceRecord(
            request_id=request_id,
            model=name,
            version=version,
            feature_names=feature_names,
            features=X,
            predictions=predictions,
            latency_ms=(time.perf_counter() - started) * 1e3,
            error=error,
            at=self.clock(),
        )
        if not self.log.offer(record):
            await self.log.put(record, self.settings.log_enqueue_timeout_s)

    async def feedback(self, name: str, request: Request) -> Response:
        if self.traffic.arms(name) is None:
            raise self.unknown_model(name)
        _check_json_content_type(request)
        body = decode_json(await read_body(request, self.settings.max_body_bytes))
        labels = parse_feedback(body, self.settings.max_rows)
        now = self.clock()
        for request_id, row, label in labels:
            record = FeedbackRecord(request_id=request_id, model=name, row=row, label=label, at=now)
            if not self.log.offer(record):
                await self.log.put(record, self.settings.log_enqueue_timeout_s)
        self.metrics.feedback.labels(name).inc(len(labels))
        return Response(
            _ENCODER.encode({"accepted": len(labels)}),
            status_code=202,
            media_type="application/json",
        )


async def get_gateway(request: Request) -> Gateway:
    """FastAPI dependency: the gateway of the app serving this request. (``async`` so FastAPI
    calls it in the event loop: a plain ``def`` dependency costs a trip to the thread pool.)"""
    return cast(Gateway, request.app.state.gateway)


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def require_admin(
    gateway: GatewayDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Gateway:
    """FastAPI dependency: the gateway, if the request carries the admin token; else 401."""
    token = gateway.settings.admin_token
    if token is None:
        raise ApiError(
            401,
            "unauthorized",
            "the admin API is disabled: no admin token is configured",
            headers=_UNAUTHORIZED,
        )
    if credentials is None:
        raise ApiError(
            401,
            "unauthorized",
            "the admin API needs the header `Authorization: Bearer <admin token>`",
            headers=_UNAUTHORIZED,
        )
    if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
        raise ApiError(401, "unauthorized", "the bearer token is wrong", headers=_UNAUTHORIZED)
    return gateway


AdminDep = Annotated[Gateway, Depends(require_admin)]


async def _admin_body(request: Request, gateway: Gateway, model: type[_M]) -> _M:
    _check_json_content_type(request)
    raw = await read_body(request, gateway.settings.max_body_bytes)
    obj = decode_json(raw) if raw.strip() else {}
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or None
        raise ApiError(422, "invalid_field", f"{where or 'body'}: {first['msg']}", where) from None


def _escalation_model(e: EscalationStatus) -> EscalationResponse:
    return EscalationResponse(
        escalation_id=e.escalation_id,
        status=e.status,
        detail=e.detail,
        model=e.model,
        created_at=e.created_at,
    )


def _status_model(status: ModelStatus) -> ModelStatusModel:
    return ModelStatusModel(
        model=status.model,
        arms=[ArmModel(version=a.version, weight=a.weight) for a in status.arms],
        roles=dict(status.roles),
        rollback_available=status.rollback_available,
        canaries=[
            CanaryModel(
                canary_id=c.canary_id,
                action=c.action,
                candidate_version=c.candidate_version,
                incumbent_version=c.incumbent_version,
                phase=c.phase,
                weight=c.weight,
                started_at=c.started_at,
                updated_at=c.updated_at,
            )
            for c in status.canaries
        ],
        escalations=[_escalation_model(e) for e in status.escalations],
    )


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


async def _admin_call(func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run an admin action in a worker thread; its errors become the HTTP errors they mean."""
    try:
        return await run_in_threadpool(func, *args, **kwargs)
    except (ModelNotFoundError, UnknownModelError) as exc:
        raise ApiError(404, "unknown_model", str(exc)) from exc
    except UnknownEscalationError as exc:
        raise ApiError(404, "unknown_escalation", str(exc)) from exc
    except (AdminConflictError, EscalationClosedError) as exc:
        raise ApiError(409, "conflict", str(exc)) from exc
    except NotSupportedError as exc:
        raise ApiError(501, "not_supported", str(exc)) from exc
    except (RegistryError, StoreError) as exc:
        _log.error("admin action failed: %s", exc)
        raise ApiError(503, "unavailable", str(exc)) from exc
    except SafehealError as exc:
        raise ApiError(409, "conflict", str(exc)) from exc


_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


class _GatewayApp(FastAPI):
    """FastAPI with the request bodies that the hot endpoints parse by hand in its schema."""

    bodies: Sequence[tuple[str, type[BaseModel]]] = ()

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema:
            return self.openapi_schema
        schema = get_openapi(
            title=self.title,
            version=self.version,
            description=self.description,
            routes=self.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for path, model in self.bodies:
            js = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(js.pop("$defs", {}))
            components[model.__name__] = js
            schema["paths"][path]["post"]["requestBody"] = {
                "required": model is PredictRequest or model is FeedbackRequest,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}
                    }
                },
            }
        self.openapi_schema = schema
        return schema


def create_app(
    *,
    models: ModelSource,
    traffic: TrafficTable,
    sink: InferenceSink,
    admin: AdminActions | None = None,
    settings: GatewaySettings | None = None,
    clock: Callable[[], datetime] | None = None,
    dashboard: Dashboard | None = None,
) -> FastAPI:
    """The serving gateway as a FastAPI app, built from its parts (nothing global).

    ``models`` loads versions (cached here), ``traffic`` routes requests, ``sink`` receives the
    inference log in batches, and ``admin`` answers the admin API (by default a
    :class:`~safeheal.serve.TrafficAdmin` over ``traffic``). ``clock`` (timezone-aware, UTC now by
    default) stamps every logged record, so a controller on an accelerated clock reads the log on
    its own time. The log writer starts and drains with
    the app's lifespan, so run the app under uvicorn (:func:`~safeheal.serve.run_server`) or a
    ``TestClient`` used as a context manager. With a ``dashboard``
    (:class:`~safeheal.serve.Dashboard`), the read-only dashboard is served at ``/ui``.
    """
    settings = settings or GatewaySettings()
    cache = models if isinstance(models, ModelCache) else ModelCache(models)
    gateway = Gateway(
        traffic=traffic,
        models=cache,
        sink=sink,
        admin=admin if admin is not None else TrafficAdmin(traffic, cache),
        settings=settings,
        clock=clock if clock is not None else _utc_now,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway.start()
        await run_in_threadpool(gateway.preload)
        try:
            yield
        finally:
            await run_in_threadpool(gateway.stop)

    app = _GatewayApp(
        title="safeheal gateway",
        version="1",
        description="Serves model versions with a weighted, sticky traffic split, logs every "
        "inference off the request path, and takes delayed labels as feedback.",
        lifespan=lifespan,
    )
    app.bodies = (
        ("/v1/models/{name}/predict", PredictRequest),
        ("/v1/models/{name}/feedback", FeedbackRequest),
        ("/v1/admin/models/{name}/promote", PromoteRequest),
        ("/v1/admin/models/{name}/rollback", RollbackRequest),
        ("/v1/admin/escalations/{escalation_id}/approve", ApproveRequest),
    )
    app.state.gateway = gateway
    _add_error_handlers(app)
    _add_routes(app)
    add_dashboard_routes(app, dashboard)
    return app


def _endpoint(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def _error_response(request: Request, error: ApiError) -> Response:
    if 400 <= error.status < 500:
        gateway = getattr(request.app.state, "gateway", None)
        if isinstance(gateway, Gateway):
            gateway.metrics.rejected.labels(_endpoint(request), error.code).inc()
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _add_error_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> Response:
        return _error_response(request, cast(ApiError, exc))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        http = cast(StarletteHTTPException, exc)
        code = _CODES.get(http.status_code, "http_error")
        headers = dict(http.headers) if http.headers else None
        return _error_response(
            request, ApiError(http.status_code, code, str(http.detail), headers=headers)
        )

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        errors = cast(RequestValidationError, exc).errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ())) or None
        return _error_response(
            request, ApiError(422, "invalid_field", f"{where}: {first.get('msg')}", where)
        )

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        _log.exception("unexpected error on %s", request.url.path, exc_info=exc)
        return JSONResponse(
            ApiError(500, "internal_error", "the gateway failed unexpectedly").body(),
            status_code=500,
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)


_NAME_PARAMETER = {
    "parameters": [
        {
            "name": "name",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "title": "Name"},
            "description": "The served model's name.",
        }
    ]
}


def _add_routes(app: FastAPI) -> None:
    # The two hot endpoints take only the Request and find the gateway in app.state: FastAPI's
    # dependency solver and path-parameter validation cost ~25 µs of CPU a request (about 4 % of
    # a one-row prediction). The other endpoints use Depends. The `name` parameter is declared
    # for the OpenAPI schema by hand.
    @app.post(
        "/v1/models/{name}/predict",
        response_model=PredictResponse,
        responses=_errors(400, 404, 413, 415, 422, 503),
        tags=["inference"],
        summary="Predict rows with the version the traffic split picks",
        openapi_extra=_NAME_PARAMETER,
    )
    async def predict(request: Request) -> Response:
        """Rows in, one prediction per row out, with the version that answered and the request
        id (generated when absent). The same request id always goes to the same version while
        the split holds. Every request is logged, off the request path."""
        gateway: Gateway = request.app.state.gateway
        return await gateway.predict(request.path_params["name"], request)

    @app.post(
        "/v1/models/{name}/feedback",
        status_code=202,
        response_model=FeedbackResponse,
        responses=_errors(400, 404, 413, 415, 422),
        tags=["inference"],
        summary="Record true labels of earlier requests",
        openapi_extra=_NAME_PARAMETER,
    )
    async def feedback(request: Request) -> Response:
        """Labels arrive later than predictions; they are logged and joined to the predictions
        by request id and row."""
        gateway: Gateway = request.app.state.gateway
        return await gateway.feedback(request.path_params["name"], request)

    @app.get("/healthz", response_model=HealthResponse, responses=_errors(503), tags=["ops"])
    async def healthz(gateway: GatewayDep) -> Response:
        """`ok` while the log writer runs; `degraded` (503) if it does not."""
        ok = gateway.log.alive
        health = HealthResponse(
            status="ok" if ok else "degraded",
            models=list(gateway.traffic.models()),
            log_queue_depth=gateway.log.stats().depth,
        )
        return _json(health, 200 if ok else 503)

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def metrics(gateway: GatewayDep) -> Response:
        """Prometheus text format."""
        return Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    admin_errors = _errors(401, 404, 409, 422, 501, 503)

    @app.get(
        "/v1/admin/status", response_model=StatusResponse, responses=admin_errors, tags=["admin"]
    )
    async def admin_status(gateway: AdminDep) -> Response:
        """Every served model: its arms and, where known, its registry roles, running canaries
        and escalations waiting for a human."""
        statuses = await _admin_call(gateway.admin.status)
        return _json(StatusResponse(models=[_status_model(s) for s in statuses]))

    @app.get(
        "/v1/admin/models/{name}",
        response_model=ModelStatusModel,
        responses=admin_errors,
        tags=["admin"],
    )
    async def admin_model(name: str, gateway: AdminDep) -> Response:
        """One served model's arms, roles, running canaries and pending escalations."""
        statuses = await _admin_call(gateway.admin.status)
        for status in statuses:
            if status.model == name:
                return _json(_status_model(status))
        raise gateway.unknown_model(name)

    @app.post(
        "/v1/admin/models/{name}/promote",
        response_model=ModelStatusModel,
        responses=admin_errors,
        tags=["admin"],
    )
    async def admin_promote(name: str, request: Request, gateway: AdminDep) -> Response:
        """Make `version` serve all of the model's traffic, checked to load first. With a
        registry, it also becomes `champion` (the move recorded with actor `admin` and the
        reason), a running canary of the model ends (promoted if `version` is its candidate,
        else aborted), and a version marked unhealthy is refused (409)."""
        body = await _admin_body(request, gateway, PromoteRequest)
        status = await _admin_call(gateway.admin.promote, name, body.version, reason=body.reason)
        return _json(_status_model(status))

    @app.post(
        "/v1/admin/models/{name}/rollback",
        response_model=ModelStatusModel,
        responses=admin_errors,
        tags=["admin"],
    )
    async def admin_rollback(name: str, request: Request, gateway: AdminDep) -> Response:
        """Roll the model back. With a registry: a running canary is aborted (traffic back to
        the incumbent, the candidate marked unhealthy); otherwise `champion` moves to the last
        known-good version, never one marked unhealthy, which takes all traffic, and the
        current champion is marked unhealthy. Without a registry: the split before the last
        promote comes back. 409 when there is nowhere to go."""
        body = await _admin_body(request, gateway, RollbackRequest)
        status = await _admin_call(gateway.admin.rollback, name, reason=body.reason)
        return _json(_status_model(status))

    @app.post(
        "/v1/admin/escalations/{escalation_id}/approve",
        response_model=EscalationResponse,
        responses=admin_errors,
        tags=["admin"],
    )
    async def admin_approve(escalation_id: str, request: Request, gateway: AdminDep) -> Response:
        """Approve an escalation raised by ESCALATE: 404 for an unknown id, 409 if it was
        already rejected; approving twice changes nothing. 501 without a store of
        escalations."""
        body = await _admin_body(request, gateway, ApproveRequest)
        result = await _admin_call(gateway.admin.approve, escalation_id, note=body.note)
        return _json(_escalation_model(result))
