"""Drift detector: error rates under no drift, power under a known shift, data quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from safeheal import (
    ConfigError,
    DataError,
    DriftDetector,
    InsufficientDataError,
    SchemaError,
)
from safeheal.signals import CORRECTIONS

TRIALS = 300


def _upper(trials: int, rate: float) -> int:
    """Largest count of successes consistent (at the 0.1 % level) with a true rate <= ``rate``."""
    return int(stats.binom.ppf(0.999, trials, rate))


@pytest.mark.parametrize("correction", ["holm", "bonferroni", "bh"])
def test_family_wise_false_alarms_at_most_alpha(correction: str) -> None:
    rng = np.random.default_rng(11)
    alarms = 0
    for _ in range(TRIALS):
        det = DriftDetector(rng.normal(size=(300, 20)), correction=correction)  # type: ignore[arg-type]
        alarms += bool(det.check(rng.normal(size=(300, 20))).drifted.any())
    assert alarms <= _upper(TRIALS, 0.05)


def test_uncorrected_tests_hold_alpha_per_feature_but_not_per_family() -> None:
    rng = np.random.default_rng(12)
    per_feature = 0
    families = 0
    for _ in range(TRIALS):
        det = DriftDetector(rng.normal(size=(300, 20)), correction="none")
        drifted = det.check(rng.normal(size=(300, 20))).drifted
        per_feature += int(drifted.sum())
        families += bool(drifted.any())
    assert per_feature <= _upper(TRIALS * 20, 0.05)
    # 1 - 0.95^20 = 64 % of families would alarm; the correction exists for a reason.
    assert families > TRIALS * 0.4


def test_benjamini_hochberg_controls_false_discovery_rate() -> None:
    rng = np.random.default_rng(13)
    fdp = []
    shift = np.zeros(20)
    shift[:5] = 0.4
    for _ in range(200):
        det = DriftDetector(rng.normal(size=(400, 20)), correction="bh")
        drifted = det.check(rng.normal(size=(400, 20)) + shift).drifted
        false = int(drifted[5:].sum())
        fdp.append(false / max(1, int(drifted.sum())))
        assert drifted[:5].sum() >= 3  # and it finds the real ones
    # Mean false-discovery proportion <= alpha (with room for sampling error).
    assert np.mean(fdp) <= 0.05 + 3 * np.std(fdp) / np.sqrt(len(fdp))


def test_power_for_small_shift_in_one_of_twenty_features() -> None:
    rng = np.random.default_rng(14)
    det = DriftDetector(rng.normal(size=(5000, 20)))
    shift = np.zeros(20)
    shift[7] = 0.2
    hits = 0
    trials = 100
    for _ in range(trials):
        report = det.check(rng.normal(size=(5000, 20)) + shift)
        hits += bool(report.drifted[7])
    assert hits >= 95


def test_drift_is_largest_statistic_among_drifted_features() -> None:
    rng = np.random.default_rng(15)
    det = DriftDetector(rng.normal(size=(2000, 4)), feature_names=["a", "b", "c", "d"])
    report = det.check(rng.normal(size=(2000, 4)) + np.array([0.0, 0.5, 1.0, 0.0]))
    assert report.drifted_features == ("c", "b")
    assert report.drift == pytest.approx(report.statistic[2])
    assert report.critical_value[2] < report.statistic[2]
    assert "c (D=" in report.summary()


def test_no_drift_gives_zero() -> None:
    rng = np.random.default_rng(16)
    report = DriftDetector(rng.normal(size=(1000, 3))).check(rng.normal(size=(1000, 3)))
    assert report.drift == 0.0
    assert report.drifted_features == ()
    assert report.summary().startswith("No feature drifted")


def test_critical_value_tracks_level() -> None:
    rng = np.random.default_rng(17)
    det = DriftDetector(rng.normal(size=(1000, 5)), correction="bonferroni")
    report = det.check(rng.normal(size=(1000, 5)))
    # Bonferroni: every feature at alpha/5; D_crit from the Kolmogorov distribution, en = 500.
    expected = stats.kstwo.isf(0.01, 500)
    np.testing.assert_allclose(report.critical_value, expected)
    np.testing.assert_allclose(report.level, 0.01)


def test_categorical_features() -> None:
    rng = np.random.default_rng(18)
    ref = pd.DataFrame(
        {"x": rng.normal(size=1000), "colour": rng.choice(["red", "green", "blue"], 1000)}
    )
    cur = pd.DataFrame(
        {
            "x": rng.normal(size=800),
            "colour": rng.choice(["red", "green", "blue", "pink"], 800, p=[0.2, 0.2, 0.2, 0.4]),
        }
    )
    det = DriftDetector(ref, categorical=["colour"])
    report = det.check(cur)
    assert report.categorical.tolist() == [False, True]
    assert report.drifted_features == ("colour",)
    counts_ref = ref["colour"].value_counts()
    counts_cur = cur["colour"].value_counts()
    cats = sorted(set(counts_ref.index) | set(counts_cur.index))
    table = np.array([[counts_ref.get(c, 0) for c in cats], [counts_cur.get(c, 0) for c in cats]])
    assert report.p_value[1] == pytest.approx(stats.chi2_contingency(table).pvalue)
    p_ref = table[0] / table[0].sum()
    p_cur = table[1] / table[1].sum()
    assert report.statistic[1] == pytest.approx(0.5 * np.abs(p_ref - p_cur).sum())
    assert report.quality.unseen_categories[1] == pytest.approx((cur["colour"] == "pink").mean())
    assert any("never seen" in p for p in report.quality.problems)


class TestBadInput:
    def test_alpha_out_of_range(self) -> None:
        expected = r"`alpha` parameter of DriftDetector must be in \(0, 1\); got 1.5"
        with pytest.raises(ConfigError, match=expected):
            DriftDetector(np.zeros((10, 2)), alpha=1.5)

    def test_unknown_correction(self) -> None:
        with pytest.raises(ConfigError, match="'holm', 'bonferroni', 'bh', 'none'; got 'fdr'"):
            DriftDetector(np.zeros((10, 2)), correction="fdr")  # type: ignore[arg-type]

    def test_one_dimensional_reference(self) -> None:
        with pytest.raises(DataError, match=r"2-D.*reshape\(-1, 1\)"):
            DriftDetector(np.zeros(10))

    def test_empty_window(self) -> None:
        det = DriftDetector(np.random.default_rng(0).normal(size=(50, 2)))
        with pytest.raises(InsufficientDataError, match="0 rows"):
            det.check(np.zeros((0, 2)))

    def test_wrong_number_of_columns(self) -> None:
        det = DriftDetector(np.random.default_rng(0).normal(size=(50, 3)))
        with pytest.raises(SchemaError, match="has 2 columns; expected 3"):
            det.check(np.zeros((10, 2)))

    def test_non_numeric_reference_column(self) -> None:
        ref = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
        with pytest.raises(SchemaError, match=r"column 'b'.*non-numeric.*categorical"):
            DriftDetector(ref)

    def test_all_nan_reference_column(self) -> None:
        ref = np.ones((20, 2))
        ref[:, 1] = np.nan
        with pytest.raises(InsufficientDataError, match=r"\['x1'\] hold no finite value"):
            DriftDetector(ref)

    def test_unknown_categorical_name(self) -> None:
        with pytest.raises(DataError, match="'colour', which is not among"):
            DriftDetector(pd.DataFrame({"a": [1.0, 2.0]}), categorical=["colour"])

    def test_schema_changes_are_reported_not_raised(self) -> None:
        rng = np.random.default_rng(1)
        ref = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
        cur = pd.DataFrame(
            {"a": rng.normal(size=100), "c": ["oops"] * 100, "d": rng.normal(size=100)}
        )
        report = DriftDetector(ref).check(cur)
        q = report.quality
        assert q.missing_columns == ("b",)
        assert q.extra_columns == ("d",)
        assert q.wrong_type_columns == ("c",)
        assert not q.ok
        assert np.isnan(report.statistic[1])
        assert np.isnan(report.statistic[2])
        assert not report.drifted[1:].any()
        assert "missing from the window: b" in report.summary()

    def test_nan_and_constant_features_are_marked(self) -> None:
        rng = np.random.default_rng(2)
        ref = rng.normal(size=(300, 3))
        ref[:, 2] = 5.0
        cur = rng.normal(size=(300, 3))
        cur[:, 2] = 5.0
        cur[:30, 0] = np.nan
        cur[:, 1] = np.nan
        report = DriftDetector(ref).check(cur)
        assert report.quality.constant_in_reference == ("x2",)
        assert report.quality.missing.tolist() == [30, 300, 0]
        assert np.isnan(report.statistic[1])
        assert not report.drifted[1]
        assert report.statistic[2] == 0.0
        assert any("x1: no finite value" in p for p in report.quality.problems)
        # A constant feature that moves is drift.
        cur[:, 2] = 6.0
        assert DriftDetector(ref).check(cur).drifted[2]

    def test_out_of_range_share(self) -> None:
        ref = np.linspace(0, 1, 101)[:, None]
        cur = np.concatenate([np.linspace(0, 1, 90), np.full(10, 2.0)])[:, None]
        report = DriftDetector(ref).check(cur)
        assert report.quality.out_of_range[0] == pytest.approx(0.1)


windows = arrays(
    np.float64,
    st.tuples(st.integers(1, 40), st.just(3)),
    elements=st.one_of(
        st.floats(-5, 5, allow_nan=False), st.just(np.nan), st.just(np.inf), st.just(0.5)
    ),
)


@given(current=windows, correction=st.sampled_from(CORRECTIONS))
def test_report_invariants(current: np.ndarray, correction: str) -> None:
    ref = np.random.default_rng(0).normal(size=(60, 3))
    report = DriftDetector(ref, correction=correction).check(current)  # type: ignore[arg-type]
    tested = ~np.isnan(report.p_value)
    assert np.all((report.statistic[tested] >= 0) & (report.statistic[tested] <= 1))
    assert np.all((report.p_value[tested] >= 0) & (report.p_value[tested] <= 1))
    assert not report.drifted[~tested].any()
    assert np.all(report.p_value[report.drifted] <= report.level[report.drifted])
    expected = report.statistic[report.drifted].max() if report.drifted.any() else 0.0
    assert report.drift == expected
    assert 0.0 <= report.drift <= 1.0
    finite = np.isfinite(current).sum(axis=0)
    assert report.n_tested.tolist() == finite.tolist()


def test_masked_entries_are_missing_values() -> None:
    rng = np.random.default_rng(19)
    det = DriftDetector(rng.normal(size=(500, 2)))
    window = rng.normal(size=(100, 2))
    mask = np.zeros_like(window, dtype=bool)
    mask[:30, 0] = True
    report = det.check(np.ma.masked_array(window, mask=mask))
    assert report.quality.missing.tolist() == [30, 0]
    assert report.n_tested.tolist() == [70, 100]


def test_none_reference_is_refused() -> None:
    with pytest.raises(DataError, match="`reference` is None"):
        DriftDetector(None)
