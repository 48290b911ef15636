"""Canary counters from the inference log, on every store backend.

``SqlStore.arm_counters`` counts in SQL what a version served over a period; these tests hold it
to a plain Python reference over the same log (random logs from Hypothesis, and the edges by
hand). Runs over the backends of the store's conformance suite, with its fixtures.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeheal.core.records import ArmCounters
from safeheal.errors import ConfigError, DataError
from safeheal.heal import ArmCounters as HealArmCounters
from safeheal.heal import CanaryLedger, CounterSource
from safeheal.serve import FeedbackRecord, InferenceRecord
from safeheal.store import SqlInferenceSink, SqlStore
from tests.test_store_conformance import backend, location, store

__all__ = ["backend", "location", "store"]  # the conformance suite's fixtures, used here

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
_models = itertools.count()


def inference(
    request_id: str,
    *,
    model: str = "churn",
    version: int = 1,
    minute: float = 0.0,
    rows: int = 1,
    predictions: Sequence[Any] | None = None,
    latency_ms: float = 10.0,
    error: str | None = None,
    loaded: bool = True,
) -> InferenceRecord:
    """A logged request; ``loaded=False`` is a version that failed before reading its rows."""
    features = np.zeros((rows, 2)) if loaded else None
    if predictions is None and error is None:
        predictions = [0] * rows
    return InferenceRecord(
        request_id=request_id,
        model=model,
        version=version,
        feature_names=("a", "b"),
        features=features,
        predictions=None if error is not None else list(predictions or ()),
        latency_ms=latency_ms,
        error=error,
        at=T0 + timedelta(minutes=minute),
    )


def label(request_id: str, value: Any, *, row: int = 0, model: str = "churn") -> FeedbackRecord:
    return FeedbackRecord(request_id=request_id, model=model, row=row, label=value, at=T0)


def counters(
    store: SqlStore,
    *,
    model: str = "churn",
    version: int = 1,
    since: float = 0.0,
    until: float = 60.0,
    slo: float = 100.0,
) -> ArmCounters:
    return store.arm_counters(
        model,
        version,
        since=T0 + timedelta(minutes=since),
        until=T0 + timedelta(minutes=until),
        latency_slo_ms=slo,
    )


def reference(
    log: Sequence[InferenceRecord],
    labels: Sequence[FeedbackRecord],
    *,
    model: str,
    version: int,
    since: datetime,
    until: datetime,
    slo: float,
) -> ArmCounters:
    """What ``arm_counters`` must return, computed the plain way."""
    last: dict[tuple[str, str, int], Any] = {}
    for f in labels:  # in the order written: the last label of a row wins
        last[(f.model, f.request_id, f.row)] = f.label
    requests = errors = within = labelled = correct = 0
    for r in log:
        if r.model != model or r.version != version or not since <= r.at < until:
            continue
        units = r.rows if r.rows > 0 else 1
        requests += units
        if r.error is not None:
            errors += units
            continue
        if r.latency_ms <= slo:
            within += r.rows
        for row in range(r.rows):
            key = (r.model, r.request_id, row)
            if key in last:
                labelled += 1
                assert r.predictions is not None
                correct += int(r.predictions[row] == last[key])
    return ArmCounters(requests, errors, labelled, correct, within)


def test_the_counters_are_the_ones_the_canary_judges(store: SqlStore) -> None:
    assert HealArmCounters is ArmCounters
    assert isinstance(store, CounterSource)
    assert isinstance(store, CanaryLedger)  # what step_canary needs: canaries and counters


def test_an_empty_log_counts_nothing(store: SqlStore) -> None:
    assert counters(store) == ArmCounters(0, 0, 0, 0, 0)


def test_rows_errors_latency_and_labels(store: SqlStore) -> None:
    sink = SqlInferenceSink(store)
    sink.write(
        [
            inference("a", rows=3, predictions=[1, 0, 1], latency_ms=100.0),  # at the SLO: within
            inference("b", rows=2, predictions=[0, 0], latency_ms=100.001),  # just above
            inference("c", rows=4, error="model_error: boom"),  # failed with its rows read
            inference("d", error="cannot load", loaded=False),  # failed before: counts once
            inference("e", version=2, rows=5),  # another version
            inference("f", model="fraud", rows=5),  # another model
        ],
        [
            label("a", 1, row=0),  # right
            label("a", 1, row=1),  # wrong
            label("a", 1.0, row=2),  # right: numbers by value
            label("b", 0, row=1),  # right
            label("b", 0, row=2),  # no such row
            label("c", 0, row=0),  # the request failed: no prediction to judge
            label("e", 0),  # another version's
            label("f", 0, model="churn"),  # model fraud's request f, labelled under churn
        ],
    )
    got = counters(store)
    assert got == ArmCounters(requests=10, errors=5, labelled=4, correct=3, within_slo=3)
    assert got.problems() == []
    assert counters(store, version=2) == ArmCounters(5, 0, 1, 1, 5)
    assert counters(store, model="fraud") == ArmCounters(5, 0, 0, 0, 5)


def test_the_last_label_of_a_row_counts_once(store: SqlStore) -> None:
    sink = SqlInferenceSink(store)
    sink.write([inference("a", predictions=[1])], [label("a", 0)])
    assert counters(store).correct == 0
    sink.write([], [label("a", 1)])  # corrected later
    assert (counters(store).labelled, counters(store).correct) == (1, 1)


@pytest.mark.parametrize(
    ("prediction", "value", "equal"),
    [
        (1, 1, True),
        (1, 1.0, True),
        (0.25, 0.25, True),
        (1, 2, False),
        (True, 1, True),
        (False, 0, True),
        (True, True, True),
        (True, 0, False),
        ("yes", "yes", True),
        ("yes", "no", False),
        ("1", 1, False),
        ("true", True, False),
        (None, 0, False),
    ],
)
def test_a_prediction_equals_its_label_as_python_would_say(
    store: SqlStore, prediction: Any, value: Any, equal: bool
) -> None:
    assert (prediction == value) is equal  # the reference
    SqlInferenceSink(store).write([inference("a", predictions=[prediction])], [label("a", value)])
    assert counters(store) == ArmCounters(1, 0, 1, int(equal), 1)


def test_the_period_includes_its_start_and_excludes_its_end(store: SqlStore) -> None:
    SqlInferenceSink(store).write(
        [inference(f"r{m}", minute=m) for m in (9.999, 10, 15, 19.999, 20)], []
    )
    assert counters(store, since=10, until=20).requests == 3
    assert counters(store, since=10, until=10).requests == 0
    assert counters(store, since=0, until=10).requests == 1


def test_other_time_zones_mean_the_same_instant(store: SqlStore) -> None:
    SqlInferenceSink(store).write([inference("a", minute=30)], [])
    plus_two = timezone(timedelta(hours=2))
    start = (T0 + timedelta(minutes=30)).astimezone(plus_two)
    got = store.arm_counters(
        "churn", 1, since=start, until=start + timedelta(seconds=1), latency_slo_ms=100
    )
    assert got.requests == 1


def test_bad_arguments_are_refused(store: SqlStore) -> None:
    with pytest.raises(DataError, match="timezone-aware"):
        store.arm_counters("churn", 1, since=datetime(2026, 1, 1), until=T0, latency_slo_ms=100)
    with pytest.raises(DataError, match="must not end before it starts"):
        counters(store, since=10, until=5)
    with pytest.raises(ConfigError, match=r"`latency_slo_ms` parameter of SqlStore\.arm_counters"):
        counters(store, slo=0)
    with pytest.raises(ConfigError, match="latency_slo_ms"):
        counters(store, slo=float("nan"))


# -- random logs against the reference ----------------------------------------------------------

VALUES = st.sampled_from([0, 1, 2, 1.0, 0.5, True, False, "a", "b"])


@dataclass(frozen=True)
class Log:
    inferences: list[InferenceRecord]
    labels: list[FeedbackRecord]


@st.composite
def logs(draw: st.DrawFn, model: str) -> Log:
    records = []
    for i in range(draw(st.integers(0, 12))):
        rows = draw(st.integers(1, 4))
        kind = draw(st.sampled_from(["ok", "ok", "ok", "error", "unloaded"]))
        request_id = f"r{draw(st.integers(0, 8))}"  # ids repeat, as clients may reuse them
        common: dict[str, Any] = {
            "model": model,
            "version": draw(st.sampled_from([1, 2])),
            "minute": draw(st.integers(0, 9)),
            "rows": rows,
            "latency_ms": draw(st.sampled_from([1.0, 50.0, 100.0, 150.0])),
        }
        if kind == "ok":
            predictions = draw(st.lists(VALUES, min_size=rows, max_size=rows))
            records.append(inference(request_id, predictions=predictions, **common))
        else:
            records.append(
                inference(request_id, error=f"failed {i}", loaded=kind == "error", **common)
            )
    labels = [
        label(f"r{draw(st.integers(0, 8))}", draw(VALUES), row=draw(st.integers(0, 4)), model=m)
        for m in draw(st.lists(st.sampled_from([model, model, "other"]), max_size=16))
    ]
    return Log(records, labels)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # one store for all examples
)
@given(data=st.data())
def test_random_logs_count_as_the_reference_says(store: SqlStore, data: st.DataObject) -> None:
    model = f"m{next(_models)}"  # each example logs under a model of its own
    log = data.draw(logs(model))
    sink = SqlInferenceSink(store)
    half = len(log.labels) // 2  # labels come in several batches, some with the requests
    sink.write(log.inferences, log.labels[:half])
    sink.write([], log.labels[half:])
    since = data.draw(st.integers(0, 9))
    until = data.draw(st.integers(since, 10))
    slo = data.draw(st.sampled_from([50.0, 100.0, 1000.0]))
    for version in (1, 2):
        got = store.arm_counters(
            model,
            version,
            since=T0 + timedelta(minutes=since),
            until=T0 + timedelta(minutes=until),
            latency_slo_ms=slo,
        )
        want = reference(
            log.inferences,
            log.labels,
            model=model,
            version=version,
            since=T0 + timedelta(minutes=since),
            until=T0 + timedelta(minutes=until),
            slo=slo,
        )
        assert got == want
        assert got.problems() == []
