"""Random bodies over real HTTP: never a 5xx, always the JSON error shape on a 4xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer
from sklearn.tree import DecisionTreeClassifier

from safeheal.serve import (
    GatewaySettings,
    InMemoryTrafficTable,
    MemorySink,
    ServerThread,
    StaticModelSource,
    create_app,
)

DATA = load_breast_cancer()
NAMES = [str(n) for n in DATA.feature_names]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(),  # NaN and infinities become JSON's non-standard literals
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
numbers = st.floats(min_value=-1e4, max_value=1e4) | st.integers(-1000, 1000)
row_values = numbers | scalars
rows = st.lists(
    st.one_of(
        st.lists(row_values, min_size=29, max_size=31),
        st.lists(numbers, min_size=30, max_size=30),
        st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=6), row_values, min_size=28),
        st.fixed_dictionaries({name: numbers for name in NAMES}),
        json_values,
    ),
    max_size=3,
)
request_ids = st.text(max_size=140) | json_values
predict_bodies = st.one_of(
    st.fixed_dictionaries({"rows": rows}, optional={"request_id": request_ids}),
    st.fixed_dictionaries({"rows": json_values}, optional={"extra": json_values}),
    json_values,
)
labels = st.lists(scalars | json_values, max_size=4)
label_items = st.lists(
    st.fixed_dictionaries(
        {"request_id": request_ids, "label": scalars},
        optional={"row": st.integers(-3, 2**40) | scalars},
    ),
    max_size=3,
)
feedback_bodies = st.one_of(
    st.fixed_dictionaries({"labels": labels}, optional={"request_id": request_ids}),
    st.fixed_dictionaries({"labels": label_items}),
    json_values,
)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    source = StaticModelSource()
    source.add("m", 1, DecisionTreeClassifier(max_depth=3).fit(DATA.data, DATA.target), NAMES)
    app = create_app(
        models=source,
        traffic=InMemoryTrafficTable({"m": [(1, 100)]}),
        sink=MemorySink(),
        settings=GatewaySettings(admin_token="x" * 20),
    )
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str)
        assert isinstance(error["message"], str)
        assert error["message"]
        assert error["field"] is None or isinstance(error["field"], str)


@given(body=predict_bodies)
def test_random_predict_bodies_never_5xx(client: httpx.Client, body: Any) -> None:
    response = client.post("/v1/models/m/predict", content=json.dumps(body))
    check(response)
    if response.status_code == 200:
        assert len(response.json()["predictions"]) == len(body["rows"])


@given(body=feedback_bodies)
def test_random_feedback_bodies_never_5xx(client: httpx.Client, body: Any) -> None:
    response = client.post("/v1/models/m/feedback", content=json.dumps(body))
    check(response)
    if response.status_code == 202:
        assert response.json()["accepted"] == len(body["labels"])


@given(content=st.binary(max_size=300), path=st.sampled_from(["predict", "feedback"]))
def test_random_bytes_never_5xx(client: httpx.Client, content: bytes, path: str) -> None:
    check(client.post(f"/v1/models/m/{path}", content=content))


@given(body=json_values, path=st.sampled_from(["models/m/promote", "models/m/rollback"]))
def test_random_admin_bodies_never_5xx(client: httpx.Client, body: Any, path: str) -> None:
    headers = {"Authorization": "Bearer " + "x" * 20}
    check(client.post(f"/v1/admin/{path}", content=json.dumps(body), headers=headers))
