"""The gateway's parts on their own: traffic split, settings, model sources, public surface."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binom, kstest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import safeheal.serve as serve
from safeheal.errors import ConfigError, SafehealError
from safeheal.heal._routing import check_arms
from safeheal.serve import (
    Arm,
    GatewaySettings,
    InMemoryTrafficTable,
    ModelNotFoundError,
    RegistryModelSource,
    StaticModelSource,
    bucket,
    choose_arm,
)
from safeheal.serve._parse import rows_to_array

# -- traffic split ---------------------------------------------------------------------------------


def test_buckets_are_uniform() -> None:
    u = [bucket("m", f"id-{i}") for i in range(20_000)]
    assert all(0.0 <= x < 1.0 for x in u)
    assert kstest(u, "uniform").pvalue > 1e-4


def test_buckets_depend_on_the_model_too() -> None:
    """Two models split independently: the canary users of one are not the canary users of all."""
    a = [bucket("a", f"id-{i}") < 0.1 for i in range(5_000)]
    b = [bucket("b", f"id-{i}") < 0.1 for i in range(5_000)]
    both = sum(x and y for x, y in zip(a, b, strict=True))
    assert binom.ppf(1e-6, 5_000, 0.01) <= both <= binom.isf(1e-6, 5_000, 0.01)


@pytest.mark.parametrize("weight", [1.0, 10.0, 50.0])
def test_share_within_a_binomial_bound(weight: float) -> None:
    arms = check_arms([(2, weight), (1, 100 - weight)], model="m")
    n = 10_000
    hits = sum(choose_arm(arms, "m", f"r{i}").version == 2 for i in range(n))
    p = weight / 100
    assert binom.ppf(1e-6, n, p) <= hits <= binom.isf(1e-6, n, p)


def test_raising_the_canary_weight_only_moves_requests_onto_it() -> None:
    ids = [f"r{i}" for i in range(5_000)]
    before = check_arms([(2, 5), (1, 95)], model="m")
    after = check_arms([(2, 20), (1, 80)], model="m")
    on_canary_before = {i for i in ids if choose_arm(before, "m", i).version == 2}
    on_canary_after = {i for i in ids if choose_arm(after, "m", i).version == 2}
    assert on_canary_before < on_canary_after


def test_zero_weight_arms_get_nothing() -> None:
    arms = check_arms([(3, 0), (2, 100), (1, 0)], model="m")
    assert {choose_arm(arms, "m", f"r{i}").version for i in range(2_000)} == {2}


@pytest.mark.parametrize(
    ("arms", "ok"),
    [
        ([(1, 100)], True),
        ([(1, 99.9999999), (2, 0.0000001)], True),
        ([(1, 100.000001)], False),  # beyond the 1e-6 tolerance
        ([(1, 100.0000009)], False),  # a weight above 100
        ([(1, 99.99999)], False),
        ([(1, 60), (2, 40.0000005)], True),  # sum within 1e-6
        ([(1, 60), (2, 40.000002)], False),
        ([(1, 101), (2, -1)], False),
        ([(1, 50), (1, 50)], False),
        ([], False),
        ([(0, 100)], False),
        ([(True, 100)], False),
        ([(1, math.nan)], False),
        ([(1, "100")], False),
    ],
)
def test_arms_are_validated(arms: list[tuple[Any, Any]], ok: bool) -> None:
    if ok:
        assert check_arms(arms, model="m")
    else:
        with pytest.raises(ConfigError, match="'m'"):
            check_arms(arms, model="m")


def test_a_table_rejects_bad_arms_and_keeps_the_old_ones() -> None:
    table = InMemoryTrafficTable({"m": [(1, 100)]})
    with pytest.raises(ConfigError):
        table.set_arms("m", [(2, 50)])
    assert table.arms("m") == (Arm(1, 100.0),)
    with pytest.raises(ConfigError):
        table.set_arms("", [(1, 100)])
    assert table.models() == ("m",)


# -- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("max_rows", 1, 0),
        ("max_body_bytes", 1, 0),
        ("log_queue_size", 1, 0),
        ("log_batch_size", 1, 0),
        ("log_flush_interval_s", 1e-6, 0.0),
        ("log_enqueue_timeout_s", 0.0, -1e-9),
        ("log_drain_timeout_s", 0.0, -1.0),
        ("admin_token", "x" * 16, "x" * 15),
        ("predict_in_thread", True, 1),
    ],
)
def test_settings_limits_both_sides(field: str, good: Any, bad: Any) -> None:
    assert getattr(GatewaySettings(**{field: good}), field) == good
    with pytest.raises(ConfigError, match=f"`{field}`"):
        GatewaySettings(**{field: bad})


def test_the_admin_token_stays_out_of_reprs() -> None:
    assert "secret" not in repr(GatewaySettings(admin_token="secret-secret-secret"))


# -- model sources ---------------------------------------------------------------------------------


def test_a_model_fitted_on_a_dataframe_gets_its_columns_by_name() -> None:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.drop(columns="target")
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, data.target)
    names = list(reversed(frame.columns))  # the gateway's order differs from the fit's
    source = StaticModelSource()
    source.add("m", 1, model, names)
    X = frame[names].to_numpy()[:50]
    got = source.load("m", 1).predict(X)  # no feature-name warning (warnings are errors here)
    np.testing.assert_array_equal(got, model.predict(frame.iloc[:50]))


def test_a_dataframe_model_with_other_features_is_refused() -> None:
    frame = pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 0.0]})
    model = LogisticRegression().fit(frame, [0, 1])
    with pytest.raises(ConfigError, match="fitted on features"):
        StaticModelSource().add("m", 1, model, ["a", "c"])


@pytest.mark.parametrize("names", [[], ["a", "a"], ["a", ""]])
def test_feature_names_are_checked(names: list[str]) -> None:
    with pytest.raises(ConfigError, match="version 1 of model 'm'"):
        StaticModelSource().add("m", 1, LogisticRegression(), names)


def test_unknown_versions_are_model_not_found() -> None:
    with pytest.raises(ModelNotFoundError, match="version 3 of model 'm'") as info:
        StaticModelSource().load("m", 3)
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, SafehealError)


@dataclass(frozen=True)
class Version:
    version: int


class DictRegistry:
    """The registry Protocol over a dict, standing in until the MLflow adapter lands."""

    def __init__(self, models: dict[tuple[str, int], Any], roles: dict[tuple[str, str], int]):
        self.models = models
        self.roles = roles
        self.loads = 0

    def get_role(self, name: str, role: str) -> Version | None:
        version = self.roles.get((name, role))
        return None if version is None else Version(version)

    def load(self, name: str, version: int) -> Any:
        self.loads += 1
        return self.models[(name, version)]


def test_registry_source_and_app_from_registry() -> None:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.drop(columns="target")
    model = LogisticRegression(max_iter=5000).fit(frame.iloc[:, :3], data.target)
    registry = DictRegistry({("m", 4): model}, {("m", "champion"): 4})
    assert isinstance(registry, serve.RoleRegistry)
    source = RegistryModelSource(registry)
    assert tuple(source.feature_names("m", 4)) == tuple(frame.columns[:3])
    source.load("m", 4)
    assert registry.loads == 1  # loaded once, then cached
    with pytest.raises(ModelNotFoundError):
        source.load("m", 5)

    app = serve.app_from_registry(registry=registry, models=["m"], sink=serve.MemorySink())
    assert app.state.gateway.traffic.arms("m") == (Arm(4, 100.0),)
    with pytest.raises(ConfigError, match="no champion"):
        serve.app_from_registry(registry=registry, models=["other"], sink=serve.MemorySink())


def test_a_registry_model_without_feature_names_needs_them_given() -> None:
    data = load_breast_cancer()
    model = LogisticRegression(max_iter=5000).fit(data.data[:, :2], data.target)
    registry = DictRegistry({("m", 1): model}, {})
    with pytest.raises(ConfigError, match="feature names"):
        RegistryModelSource(registry).load("m", 1)
    named = RegistryModelSource(registry, feature_names={"m": ["x", "y"]})
    assert tuple(named.feature_names("m", 1)) == ("x", "y")


# -- public surface --------------------------------------------------------------------------------


def test_all_lists_exactly_the_public_names() -> None:
    public = {n for n in dir(serve) if not n.startswith("_")}
    assert set(serve.__all__) == public
    for protocol in (serve.ModelSource, serve.TrafficTable, serve.InferenceSink):
        assert isinstance(protocol, type)
    assert isinstance(InMemoryTrafficTable(), serve.TrafficTable)
    assert isinstance(serve.MemorySink(), serve.InferenceSink)
    assert isinstance(StaticModelSource(), serve.ModelSource)
    admin = serve.TrafficAdmin(InMemoryTrafficTable(), StaticModelSource())
    assert isinstance(admin, serve.AdminActions)


# -- the predict fast path -------------------------------------------------------------------------

_no_bools = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=4),
    st.lists(st.floats(), max_size=2),
)
_row_lists = st.lists(
    st.lists(st.floats(-1e3, 1e3) | st.integers(-5, 5) | _no_bools, min_size=2, max_size=4),
    min_size=1,
    max_size=4,
)
_row_objects = st.lists(
    st.dictionaries(st.sampled_from(["a", "b", "c", "z"]), st.floats(-1e3, 1e3) | _no_bools),
    min_size=1,
    max_size=4,
)


@given(rows=_row_lists | _row_objects)
def test_the_fast_path_agrees_with_the_value_by_value_check(rows: list[Any]) -> None:
    """Without booleans in the body, NumPy's inference decides what the type scan would."""
    from safeheal.serve._errors import ApiError
    from safeheal.serve._models import ModelCache

    source = StaticModelSource()
    source.add("m", 1, LogisticRegression(), ["a", "b", "c"])
    model = ModelCache(source).ensure("m", 1)
    outcomes = []
    for booleans_possible in (True, False):
        try:
            outcomes.append(rows_to_array(rows, model, 10, booleans_possible=booleans_possible))
        except ApiError as exc:
            outcomes.append((exc.status, exc.code, exc.field))
    slow, fast = outcomes
    if isinstance(slow, np.ndarray):
        assert isinstance(fast, np.ndarray)
        np.testing.assert_array_equal(slow, fast)
        assert fast.dtype == np.float64
    else:
        assert slow == fast
