"""`safeheal serve`: the gateway, built from the ``[serve]`` section of ``safeheal.toml``.

Everything is checked before the port opens, and every mistake is one line naming it: the
configuration file, the admin token, the store, the registry, each model and its features. Then
uvicorn serves until SIGINT or SIGTERM, and a graceful stop drains the inference log into the
store before the process exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer
from fastapi import FastAPI

from safeheal.config import SafehealConfig, ServeConfig, load_config
from safeheal.errors import ConfigError, SafehealError
from safeheal.heal import MlflowRegistry, RoleMoveLog
from safeheal.store import SqlStore, open_store


def open_registry(where: str, *, move_log: RoleMoveLog | None = None) -> MlflowRegistry:
    """The registry ``[serve] registry`` names: an MLflow tracking URI (it has ``://``), else a
    directory holding a local MLflow registry (created if missing)."""
    return MlflowRegistry.open(where, move_log=move_log)


@dataclass
class Serving:
    """A gateway ready to run, and what it holds open."""

    app: FastAPI
    store: SqlStore
    registry: MlflowRegistry
    admin_enabled: bool
    ui_enabled: bool = False

    def close(self) -> None:
        self.store.close()


def build_gateway(
    config: SafehealConfig, *, source: str = "configuration", host: str | None = None
) -> Serving:
    """The gateway of ``config.serve``: each model on the split stored for it (shared with the
    controllers on the same store), else its champion (or its running canary's split); the admin
    API through the registry and the store; the inference log in the store; and the dashboard at
    /ui when ``serve.ui`` allows it on ``host`` (default ``serve.host``).
    Raises a :class:`~safeheal.errors.SafehealError` naming whatever is wrong."""
    from safeheal.serve import (
        Dashboard,
        GatewaySettings,
        HealingAdmin,
        RegistryModelSource,
        create_app,
        shared_traffic,
    )
    from safeheal.store import SqlInferenceSink

    s: ServeConfig = config.serve
    if not s.models:
        raise ConfigError(
            f"{source}: `serve.models` is empty; name at least one registered model to serve"
        )
    token = s.resolve_admin_token()
    settings = GatewaySettings(
        admin_token=token, max_body_bytes=s.max_body_bytes, max_rows=s.max_rows
    )
    store = open_store(s.store)
    try:
        registry = open_registry(s.registry, move_log=store)
        # The split lives in the store: `safeheal run` on the same store steers what is served.
        traffic = shared_traffic(
            registry, s.models, store, refresh_seconds=s.traffic_refresh_ms / 1000.0
        )
        models = RegistryModelSource(registry, feature_names=s.feature_names)
        for name in s.models:  # every routed version must load and name its features, now
            for arm in traffic.arms(name) or ():
                try:
                    models.feature_names(name, arm.version)
                except ConfigError:
                    if name in s.feature_names:
                        raise
                    raise ConfigError(
                        f"version {arm.version} of model {name!r} does not record its feature "
                        f"names (it was fitted on an array, not a DataFrame): list them, in the "
                        f"order it expects, as `serve.feature_names.{name}` in {source}"
                    ) from None
        admin = HealingAdmin(registry=registry, traffic=traffic, store=store, models=models)
        ui = s.ui_enabled(host)
        dashboard = (
            Dashboard(store=store, traffic=traffic, registry=registry, config=config)
            if ui
            else None
        )
        app = create_app(
            models=models,
            traffic=traffic,
            sink=SqlInferenceSink(store),
            admin=admin,
            settings=settings,
            dashboard=dashboard,
        )
    except BaseException:
        store.close()
        raise
    return Serving(app, store, registry, token is not None, ui)


def run_serve(config_path: Path, *, host: str | None = None, port: int | None = None) -> None:
    """Load ``config_path``, build the gateway, serve until interrupted."""
    from safeheal.serve import run_server

    if not config_path.exists():
        raise ConfigError(
            f"configuration file {config_path} does not exist; `safeheal init` writes one (then "
            f"list the models to serve under [serve]), or name another with --config"
        )
    config = load_config(config_path)
    s = config.serve
    gateway = build_gateway(config, source=str(config_path), host=host)
    try:
        where = f"http://{host or s.host}:{port or s.port}"
        admin = (
            "admin API on"
            if gateway.admin_enabled
            else "admin API off (no `serve.admin_token` or `serve.admin_token_env`)"
        )
        typer.echo(
            f"safeheal serve: {', '.join(s.models)} on {where}; store {gateway.store.url}; "
            f"registry {gateway.registry.tracking_uri}; {admin}; "
            + (
                f"dashboard on {where}/ui"
                if gateway.ui_enabled
                else "dashboard off (`serve.ui = true` turns it on)"
            ),
            err=True,
        )
        run_server(gateway.app, host=host or s.host, port=port or s.port, log_level=s.log_level)
    except OSError as exc:  # e.g. the address is taken before uvicorn reports it
        raise SafehealError(f"the gateway could not start on {host or s.host}: {exc}") from None
    finally:
        gateway.close()
