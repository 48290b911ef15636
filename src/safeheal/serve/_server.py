"""Running the gateway: in the foreground (``safeheal serve``) or in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Literal

import uvicorn
from fastapi import FastAPI

from safeheal.errors import ConfigError, SafehealError
from safeheal.serve._app import create_app
from safeheal.serve._models import RegistryModelSource
from safeheal.serve._protocols import InferenceSink, Role, RoleRegistry
from safeheal.serve._settings import GatewaySettings
from safeheal.serve._traffic import InMemoryTrafficTable

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


def _config(app: FastAPI, host: str, port: int, log_level: LogLevel) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,  # every request is in the inference log already
        lifespan="on",
        timeout_graceful_shutdown=30,
    )


def run_server(
    app: FastAPI, *, host: str = "127.0.0.1", port: int = 8000, log_level: LogLevel = "info"
) -> None:
    """Serve ``app`` with uvicorn until SIGINT or SIGTERM, then stop gracefully: in-flight
    requests finish and the inference log drains into the sink before this returns."""
    server = uvicorn.Server(_config(app, host, port, log_level))
    server.run()
    if not server.started:
        raise SafehealError(f"the gateway could not start on {host}:{port}; see the log above")


class ServerThread:
    """Serves an app with uvicorn in a background thread, on a port it binds itself (a free one
    by default), until :meth:`stop`; a context manager.

    For tests, notebooks and benchmarks: the app runs exactly as under ``safeheal serve``,
    lifespan included.
    """

    def __init__(
        self,
        app: FastAPI,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: LogLevel = "warning",
    ) -> None:
        # proto=IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on connections of
        # sockets that say so, and with Nagle on every answer waits ~40 ms for a delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self._server = uvicorn.Server(_config(app, self.host, self.port, log_level))
        self._thread = threading.Thread(
            target=self._server.run, args=([self._socket],), name="safeheal-gateway", daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> ServerThread:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                raise SafehealError(f"the gateway did not start on {self.url}; see the log")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop gracefully (requests finish, the log drains), waiting up to ``timeout_s``."""
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._socket.close()
        if self._thread.is_alive():
            raise SafehealError(f"the gateway on {self.url} did not stop in {timeout_s} s")

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def app_from_registry(
    *,
    registry: RoleRegistry,
    models: Sequence[str],
    sink: InferenceSink,
    settings: GatewaySettings | None = None,
    feature_names: Mapping[str, Sequence[str]] | None = None,
    role: Role = "champion",
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """A gateway serving, for each name in ``models``, the version holding ``role`` in the
    registry, with all its traffic; a ConfigError if a model has no such version.

    ``feature_names`` names each model's input columns, in order; a model missing from it must
    have been fitted on a DataFrame (scikit-learn then records them in ``feature_names_in_``).
    ``clock`` stamps the inference log (see :func:`~safeheal.serve.create_app`)."""
    if not models:
        raise ConfigError("the gateway needs at least one model to serve; got none")
    table = InMemoryTrafficTable()
    for name in models:
        holder = registry.get_role(name, role)
        if holder is None:
            raise ConfigError(f"model {name!r} has no {role} version in the registry to serve")
        table.set_arms(name, [(int(holder.version), 100.0)])
    source = RegistryModelSource(registry, feature_names=feature_names)
    return create_app(models=source, traffic=table, sink=sink, settings=settings, clock=clock)


def serve(
    *,
    registry: RoleRegistry,
    models: Sequence[str],
    sink: InferenceSink,
    settings: GatewaySettings | None = None,
    feature_names: Mapping[str, Sequence[str]] | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: LogLevel = "info",
) -> None:
    """``safeheal serve``: the champions of ``models`` behind the gateway, until interrupted
    (SIGINT/SIGTERM), then a graceful stop that drains the inference log into ``sink``."""
    app = app_from_registry(
        registry=registry,
        models=models,
        sink=sink,
        settings=settings,
        feature_names=feature_names,
    )
    run_server(app, host=host, port=port, log_level=log_level)
