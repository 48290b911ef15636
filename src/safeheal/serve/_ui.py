"""The dashboard's routes: the page at ``/ui``, its script and style, and the JSON it polls.

Everything here reads; nothing changes what is served. The page is self-contained (no external
URL, CDN or font: it works offline) and draws its plots as inline SVG with a small script of its
own; every text it shows is set as text, never parsed as HTML, and a strict Content-Security-Policy
forbids inline and foreign scripts besides.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Annotated, Any, ParamSpec, TypeVar

from fastapi import FastAPI, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from safeheal.errors import ModelNotFoundError, SafehealError, StoreError, UnknownModelError
from safeheal.serve._dashboard import (
    MAX_DECISIONS,
    MAX_WINDOWS,
    Dashboard,
    EscalationList,
    ModelDetail,
    ModelList,
    PosteriorList,
)
from safeheal.serve._errors import ApiError
from safeheal.serve._schemas import ErrorResponse

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: Only this gateway's own script, style and JSON; no inline script, no frames, no forms.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


@cache
def _asset(name: str) -> bytes:
    return (resources.files("safeheal.serve") / "static" / name).read_bytes()


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorResponse} for s in statuses}


async def _read(func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run a read in a worker thread (the store is synchronous); errors become HTTP errors."""
    try:
        return await run_in_threadpool(func, *args, **kwargs)
    except (ModelNotFoundError, UnknownModelError) as exc:
        raise ApiError(404, "unknown_model", str(exc), "name") from exc
    except StoreError as exc:
        raise ApiError(503, "unavailable", str(exc)) from exc
    except SafehealError as exc:
        raise ApiError(503, "unavailable", f"the dashboard cannot read its data: {exc}") from exc


def _json(body: Any) -> Response:
    return Response(body.model_dump_json(), media_type="application/json", headers=_API_HEADERS)


def add_dashboard_routes(app: FastAPI, dashboard: Dashboard | None) -> None:
    """The dashboard's routes on ``app``; without a ``dashboard``, ``/ui`` answers 404
    ``ui_disabled`` saying how to turn it on."""
    if dashboard is None:

        async def disabled(path: str = "") -> Response:
            raise ApiError(
                404,
                "ui_disabled",
                "the dashboard is off on this gateway: set `serve.ui = true` in safeheal.toml "
                "(it is on by default only when the gateway listens on a loopback address)",
            )

        app.get("/ui", include_in_schema=False)(disabled)
        app.get("/ui/{path:path}", include_in_schema=False)(disabled)
        return

    @app.get("/ui", tags=["dashboard"], response_class=Response, summary="The dashboard")
    async def page() -> Response:
        """The dashboard, an HTML page: the models, each one's signals and SLA over time, the
        decisions with their reasons, canary progress, the bandit's posteriors and the pending
        escalations. It polls the JSON below every few seconds. Read-only."""
        return Response(
            _asset("index.html"), media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS
        )

    for name, media in _ASSETS.items():

        def asset(name: str = name, media: str = media) -> Callable[[], Any]:
            async def serve_asset() -> Response:
                return Response(_asset(name), media_type=media, headers=_PAGE_HEADERS)

            return serve_asset

        app.get(f"/ui/{name}", include_in_schema=False)(asset())

    @app.get(
        "/ui/api/models",
        response_model=ModelList,
        responses=_errors(503),
        tags=["dashboard"],
        summary="Every model: zone, mode, traffic split, canary, pending escalations",
    )
    async def ui_models() -> Response:
        """Every model this gateway serves, the store has decisions of, or the controller is
        configured for, by name."""
        return _json(await _read(dashboard.models))

    @app.get(
        "/ui/api/models/{name}",
        response_model=ModelDetail,
        responses=_errors(404, 422, 503),
        tags=["dashboard"],
        summary="One model: windows over time, recent decisions, canaries",
    )
    async def ui_model(
        name: str,
        windows: Annotated[
            int, Query(ge=1, le=MAX_WINDOWS, description="How many recent windows to return.")
        ] = 200,
        decisions: Annotated[
            int,
            Query(ge=1, le=MAX_DECISIONS, description="How many recent decisions to return."),
        ] = 20,
    ) -> Response:
        """The model's last windows (the State recorded with each decision: d, a, ρ, latency
        ratio, error rate, and the SLA score), its recent decisions with their reasons and
        outcomes (newest first), its registry roles and its recent canaries. 404 for a model
        that is not known."""
        return _json(await _read(dashboard.model, name, windows=windows, decisions=decisions))

    @app.get(
        "/ui/api/posteriors",
        response_model=PosteriorList,
        responses=_errors(503),
        tags=["dashboard"],
        summary="The bandit's posteriors: mean and 95 % interval per context and action",
    )
    async def ui_posteriors() -> Response:
        """Beta(α, β) of each action's success in each context bucket the bandit has learnt in."""
        return _json(await _read(dashboard.posteriors))

    @app.get(
        "/ui/api/escalations",
        response_model=EscalationList,
        responses=_errors(503),
        tags=["dashboard"],
        summary="Escalations waiting for a human",
    )
    async def ui_escalations() -> Response:
        """Pending escalations, oldest first, each with the command that approves it."""
        return _json(await _read(dashboard.escalations))
