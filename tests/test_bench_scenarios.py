"""The scenario specs: the default suite is the paper's mix, and bad specs fail clearly."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from safeheal.bench import (
    DATASETS,
    FAMILIES,
    KINDS,
    MODELS,
    ScenarioSpec,
    default_suite,
    load_scenarios,
)
from safeheal.errors import ConfigError


def test_the_default_suite_is_exactly_the_papers_mix() -> None:
    suite = default_suite()
    assert len(suite) == 43
    assert len({s.name for s in suite}) == 43
    families = Counter(s.family for s in suite)
    assert families == {
        "data_drift": 18,
        "model_degradation": 12,
        "infrastructure": 8,
        "anomaly": 5,
    }
    kinds = Counter(s.kind for s in suite)
    assert (kinds["covariate_shift"], kinds["concept_drift"]) == (7, 6)
    corruption = ("missing_values", "outliers", "schema_change")
    assert sum(kinds[k] for k in corruption) == 5
    assert all(kinds[k] >= 1 for k in corruption)
    assert (kinds["accuracy_decay"], kinds["latency_increase"], kinds["memory_leak"]) == (8, 3, 1)
    assert (
        kinds["resource_exhaustion"],
        kinds["network_latency"],
        kinds["dependency_failure"],
    ) == (4, 2, 2)
    assert (
        kinds["adversarial_inputs"],
        kinds["outlier_cluster"],
        kinds["temporal_anomaly"],
    ) == (2, 2, 1)
    assert set(KINDS.values()) == set(FAMILIES)
    # varied: every data set and model family, several severities
    assert {s.dataset for s in suite} == set(DATASETS)
    assert {s.model for s in suite} == set(MODELS)
    assert len({s.severity for s in suite}) >= 5


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"kind": "meteor"}, "`kind` of scenario 'x' must be one of"),
        ({"dataset": "iris"}, "`dataset` of scenario 'x' must be one of digits"),
        ({"model": "svm"}, "`model` of scenario 'x' must be one of logreg"),
        ({"severity": 0.0}, r"`severity` of scenario 'x' must be a number in \(0, 1\]; got 0.0"),
        ({"severity": 1.5}, "`severity`"),
        ({"severity": True}, "`severity`"),
        ({"onset_minute": 130.0}, r"`onset_minute` of scenario 'x' must be a number in \[5, 120\]"),
        ({"onset_minute": 0.0}, "`onset_minute`"),
        ({"duration_minutes": -5.0}, "`duration_minutes`"),
        ({"name": ""}, "`name` of a scenario must be a non-empty string"),
    ],
)
def test_a_bad_spec_names_the_field_and_what_it_must_be(changes: dict, words: str) -> None:
    base = {"name": "x", "kind": "concept_drift", "dataset": "fair", "model": "logreg"}
    with pytest.raises(ConfigError, match=words):
        ScenarioSpec(**{**base, **changes})


def test_boundaries_of_the_onset_hold_on_both_sides() -> None:
    ok = ScenarioSpec("x", "outliers", "fair", "logreg", onset_minute=120.0)
    assert ok.onset_minute == 120.0
    with pytest.raises(ConfigError):
        ScenarioSpec("x", "outliers", "fair", "logreg", onset_minute=120.5)


def test_progress_ramps_and_stops_with_the_failure() -> None:
    s = ScenarioSpec(
        "x",
        "accuracy_decay",
        "fair",
        "logreg",
        onset_minute=30,
        duration_minutes=60,
        ramp_minutes=20,
    )
    assert s.progress(25) == 0.0
    assert s.progress(30) == pytest.approx(0.25)
    assert s.progress(45) == 1.0
    assert s.active(89.9)
    assert not s.active(90.0)
    assert s.end_minute == 90.0
    assert s.duration == 60.0


def test_scenarios_load_from_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text(
        '[[scenario]]\nname = "a"\nkind = "outliers"\ndataset = "fair"\nmodel = "knn"\n'
        'severity = 0.7\n\n[[scenario]]\nname = "b"\nkind = "memory_leak"\ndataset = "anes96"\n'
        'model = "forest"\nramp_minutes = 30\n',
        encoding="utf-8",
    )
    specs = load_scenarios(toml)
    assert [s.name for s in specs] == ["a", "b"]
    assert specs[0].severity == 0.7
    assert specs[1].family == "model_degradation"
    js = tmp_path / "s.json"
    js.write_text(json.dumps([s.to_dict() for s in specs]), encoding="utf-8")
    assert load_scenarios(js) == specs


@pytest.mark.parametrize(
    ("text", "suffix", "words"),
    [
        ('[[scenario]]\nname = "a"\nkind = "outliers"\n', ".toml", "missing the key"),
        (
            '[[scenario]]\nname = "a"\nkind = "outliers"\ndataset = "fair"\nmodel = "knn"\n'
            "speed = 3\n",
            ".toml",
            r"unknown key\(s\) speed",
        ),
        ("[[scenario]\n", ".toml", "not valid toml"),
        ("[]", ".json", "at least one scenario"),
        (
            json.dumps([{"name": "a", "kind": "outliers", "dataset": "fair", "model": "knn"}] * 2),
            ".json",
            "repeats the name",
        ),
    ],
)
def test_a_bad_scenario_file_is_one_clear_error(
    tmp_path: Path, text: str, suffix: str, words: str
) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=words):
        load_scenarios(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_scenarios(tmp_path / "missing.toml")
