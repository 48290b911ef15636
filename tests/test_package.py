"""The public surface: exported names, a fast side-effect-free import, the command line."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import safeheal
from safeheal import errors

ROOT = Path(__file__).resolve().parents[1]


def test_all_lists_exactly_the_public_names() -> None:
    # Sub-packages and modules are reachable as attributes but are not re-exported names.
    public = {
        n
        for n in dir(safeheal)
        if not n.startswith("_") and not inspect.ismodule(getattr(safeheal, n))
    }
    assert set(safeheal.__all__) - {"__version__"} == public
    for name in safeheal.__all__:
        assert getattr(safeheal, name) is not None


def test_every_error_is_a_safeheal_error() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.SafehealError)
    assert issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.DataError, ValueError)


def test_import_is_light() -> None:
    code = (
        "import sys, json, safeheal; "
        "print(json.dumps(sorted(m for m in ('numba', 'scipy', 'sklearn', 'mlflow', 'sqlalchemy', "
        "'fastapi', 'pandas', 'matplotlib') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("safeheal")
    env = {**os.environ, "COLUMNS": "120", "NUMBA_NUM_THREADS": "2"}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=300)


def test_cli_version_and_unknown_command() -> None:
    out = _cli("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"safeheal {safeheal.__version__}"
    bad = _cli("frobnicate")
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr + bad.stdout
    assert "No such command" in bad.stderr


def test_the_gateway_errors_live_in_the_error_tree() -> None:
    from safeheal import serve

    for name, builtin in (
        ("ModelNotFoundError", LookupError),
        ("AdminConflictError", RuntimeError),
        ("NotSupportedError", NotImplementedError),
    ):
        error = getattr(errors, name)
        assert getattr(serve, name) is error
        assert issubclass(error, errors.SafehealError)
        assert issubclass(error, builtin)
        assert name in (errors.__doc__ or "")
    assert str(errors.ModelNotFoundError("no model 'm'")) == "no model 'm'"
