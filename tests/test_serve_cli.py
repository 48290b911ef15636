"""`safeheal serve` from a safeheal.toml: the [serve] keys, and the real command as a subprocess.

The command runs on a free loopback port against an MLflow registry and a SQLite store in a
temporary directory; it is stopped with SIGTERM, and what it logged is read back from the store.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import safeheal
from safeheal.config import MIN_ADMIN_TOKEN, ServeConfig, load_config, parse_config
from safeheal.errors import ConfigError
from safeheal.heal import MlflowRegistry
from safeheal.serve import GatewaySettings
from safeheal.store import SqlInferenceSink, open_store

TOKEN = "cli-admin-token-0123456789"
DATA = load_breast_cancer()
NAMES = [str(n) for n in DATA.feature_names]


# -- the [serve] section -------------------------------------------------------------------------


def test_defaults_match_the_gateway_and_the_project_data_directory() -> None:
    s = ServeConfig()
    gateway = GatewaySettings()
    assert (s.host, s.port, s.models, s.store) == ("127.0.0.1", 8000, [], None)
    assert s.registry == "safeheal-data/mlflow"
    assert (s.max_body_bytes, s.max_rows) == (gateway.max_body_bytes, gateway.max_rows)
    assert s.latency_slo_ms == 100.0
    assert s.resolve_admin_token({}) is None  # no token: the admin API is off


def test_a_full_section_is_read(tmp_path: Path) -> None:
    path = tmp_path / "safeheal.toml"
    path.write_text(
        """
[serve]
host = "0.0.0.0"
port = 9000
admin_token_env = "MY_TOKEN"
models = ["churn", "fraud-v2"]
registry = "http://mlflow.internal:5000"
store = "postgresql+psycopg://ops@db/safeheal"
latency_slo_ms = 250
max_body_bytes = 65536
max_rows = 100
log_level = "warning"

[serve.feature_names]
churn = ["age", "tenure"]
""",
        encoding="utf-8",
    )
    s = load_config(path).serve
    assert (s.host, s.port, s.models) == ("0.0.0.0", 9000, ["churn", "fraud-v2"])
    assert (s.registry, s.store) == (
        "http://mlflow.internal:5000",
        "postgresql+psycopg://ops@db/safeheal",
    )
    assert (s.latency_slo_ms, s.max_body_bytes, s.max_rows, s.log_level) == (
        250.0,
        65536,
        100,
        "warning",
    )
    assert s.feature_names == {"churn": ["age", "tenure"]}
    assert s.resolve_admin_token({"MY_TOKEN": TOKEN}) == TOKEN


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"prot": 80}, "`serve.prot` is not a known key (expected one of: admin_token, "),
        ({"port": 0}, "`serve.port` must be greater than or equal to 1; got 0"),
        ({"port": 65536}, "`serve.port` must be less than or equal to 65535; got 65536"),
        ({"models": ["a model"]}, "`serve.models[0]` must be a model name"),
        ({"models": ["m", "m"]}, "`serve.models` names a model twice"),
        ({"latency_slo_ms": 0}, "`serve.latency_slo_ms` must be greater than 0; got 0"),
        ({"max_rows": 0}, "`serve.max_rows` must be greater than or equal to 1; got 0"),
        ({"host": " "}, "`serve.host` must not be empty"),
        ({"admin_token_env": "MY-TOKEN"}, "`serve.admin_token_env` must name an environment"),
        (
            {"admin_token": "x" * MIN_ADMIN_TOKEN, "admin_token_env": "T"},
            "`serve.admin_token` and `serve.admin_token_env` are both set",
        ),
        ({"feature_names": {"m": []}}, None),
    ],
)
def test_bad_keys_are_refused_naming_the_key(
    section: dict[str, object], message: str | None
) -> None:
    if message is None:  # an empty list of features is let through to the model's own check
        parse_config({"serve": section})
        return
    with pytest.raises(ConfigError) as info:
        parse_config({"serve": section})
    assert message in str(info.value)


def test_the_admin_token_has_16_characters_and_is_never_echoed() -> None:
    short, ok = "s3cret-" + "x" * (MIN_ADMIN_TOKEN - 8), "s3cret-" + "x" * (MIN_ADMIN_TOKEN - 7)
    assert (len(short), len(ok)) == (15, 16)
    with pytest.raises(ConfigError) as info:
        parse_config({"serve": {"admin_token": short}})
    assert "must be at least 16 characters long; got 15 characters" in str(info.value)
    assert short not in str(info.value)
    s = parse_config({"serve": {"admin_token": ok}}).serve
    assert s.resolve_admin_token({}) == ok
    assert ok not in repr(s)
    env = parse_config({"serve": {"admin_token_env": "T"}}).serve
    with pytest.raises(ConfigError, match="names the environment variable T, which is not set"):
        env.resolve_admin_token({})
    with pytest.raises(ConfigError, match="at least 16 characters long; got 15") as info:
        env.resolve_admin_token({"T": short})
    assert short not in str(info.value)
    assert env.resolve_admin_token({"T": ok}) == ok


# -- the command ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    root: Path
    mlflow: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    root = tmp_path_factory.mktemp("serve-cli")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(DATA.data, DATA.target)  # on an array: the features are named in the config
    registry = MlflowRegistry.local(root / "mlflow")
    registry.register("cancer", model, role="champion", reason="first fit")
    return Setup(root, root / "mlflow")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_config(path: Path, **serve: object) -> Path:
    lines = ["[serve]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in serve.items()]
    lines += ["", "[serve.feature_names]", f"cancer = {json.dumps(NAMES)}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def command(*args: str) -> list[str]:
    """The installed `safeheal` command, beside this interpreter."""
    return [str(Path(sys.executable).with_name("safeheal")), *args]


def environment(**extra: str) -> dict[str, str]:
    """This process's environment, with safeheal importable from where this test found it."""
    src = str(Path(safeheal.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "MLFLOW_DISABLE_TELEMETRY": "true", **extra}
    env.pop("SAFEHEAL_STORE_URL", None)
    return env


@pytest.fixture
def started(setup: Setup, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    config = write_config(
        tmp_path / "safeheal.toml",
        models=["cancer"],
        admin_token_env="SAFEHEAL_TEST_ADMIN_TOKEN",
        registry=str(setup.mlflow),
        store=str(tmp_path / "safeheal.db"),
        log_level="warning",
    )
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        command("serve", "--config", str(config), "--port", str(port)),  # --port beats the file
        cwd=tmp_path,
        env=environment(SAFEHEAL_TEST_ADMIN_TOKEN=TOKEN),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process, f"http://127.0.0.1:{port}", tmp_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        log.close()


def wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def test_safeheal_serve_serves_logs_and_stops_on_sigterm(
    started: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, url, root = started
    wait_healthy(process, url, root / "serve.log")
    answer = httpx.post(
        f"{url}/v1/models/cancer/predict",
        json={"rows": DATA.data[:3].tolist(), "request_id": "cli-1"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["version"], len(answer.json()["predictions"])) == (1, 3)
    status = httpx.get(
        f"{url}/v1/admin/status", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert status.json()["models"][0]["roles"] == {"champion": 1}
    assert httpx.get(f"{url}/v1/admin/status", timeout=30).status_code == 401
    # the dashboard: on by default on loopback, read-only, no token
    assert httpx.get(f"{url}/ui", timeout=30).status_code == 200
    [model] = httpx.get(f"{url}/ui/api/models", timeout=30).json()["models"]
    assert (model["name"], model["served"], model["split"]) == (
        "cancer",
        True,
        [{"version": 1, "weight": 100.0}],
    )
    assert httpx.get(f"{url}/ui/api/models/cancer", timeout=30).json()["roles"] == {"champion": 1}

    process.send_signal(signal.SIGTERM)
    # uvicorn stops gracefully, then re-raises the signal so that the parent sees it.
    assert process.wait(60) in (0, -signal.SIGTERM)
    output = (root / "serve.log").read_text()
    assert "Traceback" not in output
    assert "safeheal serve: cancer on http://127.0.0.1:" in output
    assert f"dashboard on {url}/ui" in output
    with open_store(root / "safeheal.db") as store:
        (logged,) = SqlInferenceSink(store).inferences("cancer")
    assert (logged.request_id, logged.version, logged.error) == ("cli-1", 1, None)
    assert logged.features is not None
    assert logged.features.shape == (3, 30)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no config file", "error: configuration file "),
        ("store cannot be opened", "error: cannot open the store "),
        ("unknown model", "error: model 'nope' is not in the model registry"),
        ("token variable unset", "names the environment variable SAFEHEAL_UNSET_TOKEN"),
        ("short token", "`serve.admin_token` must be at least 16 characters long"),
        ("unknown key", "`serve.prot` is not a known key"),
        ("no models", "`serve.models` is empty"),
    ],
)
def test_mistakes_are_one_clear_line(setup: Setup, tmp_path: Path, case: str, message: str) -> None:
    good: dict[str, object] = {
        "port": free_port(),
        "models": ["cancer"],
        "registry": str(setup.mlflow),
        "store": str(tmp_path / "safeheal.db"),
    }
    changes: dict[str, dict[str, object]] = {
        "store cannot be opened": {"store": str(tmp_path / "missing" / "safeheal.db")},
        "unknown model": {"models": ["nope"]},
        "token variable unset": {"admin_token_env": "SAFEHEAL_UNSET_TOKEN"},
        "short token": {"admin_token": "tiny-token"},
        "unknown key": {"prot": 80},
        "no models": {"models": []},
    }
    config = tmp_path / "safeheal.toml"
    if case != "no config file":
        write_config(config, **{**good, **changes[case]})
    out = subprocess.run(
        command("serve", "--config", str(config)),
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, out.stderr
    assert message in lines[0]
    assert "tiny-token" not in out.stdout + out.stderr
