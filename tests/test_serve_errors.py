"""Bad requests over real HTTP: each gets the right 4xx and a JSON error naming the problem.

Every case also checks the common error shape ``{"error": {"code", "message", "field"}}`` and
that the server did not answer 5xx. Limits are tested on both sides of their boundary.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
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

MAX_ROWS = 50
MAX_BYTES = 40_000
DATA = load_breast_cancer()
NAMES = [str(n) for n in DATA.feature_names]
ROW = DATA.data[0].tolist()
NAMED = dict(zip(NAMES, ROW, strict=True))
PREDICT = "/v1/models/cancer/predict"
FEEDBACK = "/v1/models/cancer/feedback"


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    source = StaticModelSource()
    source.add("cancer", 1, DecisionTreeClassifier(max_depth=3).fit(DATA.data, DATA.target), NAMES)
    app = create_app(
        models=source,
        traffic=InMemoryTrafficTable({"cancer": [(1, 100)]}),
        sink=MemorySink(),
        settings=GatewaySettings(max_rows=MAX_ROWS, max_body_bytes=MAX_BYTES),
    )
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/healthz").status_code == 200
        yield c


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["message"]
    detail: dict[str, Any] = body["error"]
    return detail


def without(name: str) -> dict[str, float]:
    return {k: v for k, v in NAMED.items() if k != name}


def with_value(index: int, value: Any) -> list[Any]:
    row: list[Any] = list(ROW)
    row[index] = value
    return row


# (request body as JSON, status, code, field, a word the message must contain)
PREDICT_CASES: list[tuple[str, Any, int, str, str | None, str]] = [
    (
        "missing feature",
        {"rows": [NAMED, without("mean area")]},
        422,
        "wrong_columns",
        "rows[1].mean area",
        "lacks",
    ),
    (
        "unknown feature",
        {"rows": [{**NAMED, "colour": 1.0}]},
        422,
        "wrong_columns",
        "rows[0].colour",
        "unknown",
    ),
    ("short row", {"rows": [ROW, ROW[:-1]]}, 422, "wrong_row_length", "rows[1]", "29 values"),
    ("long row", {"rows": [[*ROW, 1.0]]}, 422, "wrong_row_length", "rows[0]", "31 values"),
    (
        "string value",
        {"rows": [with_value(3, "12.5")]},
        422,
        "wrong_type",
        "rows[0][3]",
        "mean area",
    ),
    (
        "string in named row",
        {"rows": [{**NAMED, "mean area": "big"}]},
        422,
        "wrong_type",
        "rows[0].mean area",
        "a string",
    ),
    ("boolean value", {"rows": [with_value(0, True)]}, 422, "wrong_type", "rows[0][0]", "boolean"),
    ("null value", {"rows": [with_value(5, None)]}, 422, "wrong_type", "rows[0][5]", "null"),
    ("nested value", {"rows": [with_value(5, [1.0])]}, 422, "wrong_type", "rows[0][5]", "array"),
    ("empty rows", {"rows": []}, 422, "empty_rows", "rows", "empty"),
    ("rows missing", {"request_id": "x"}, 422, "missing_field", "rows", "required"),
    ("rows not a list", {"rows": {"a": 1}}, 422, "invalid_rows", "rows", "array"),
    ("row not a container", {"rows": [ROW, 3]}, 422, "invalid_rows", "rows[1]", "number"),
    ("mixed row forms", {"rows": [ROW, NAMED]}, 422, "invalid_rows", "rows", "mixes"),
    (
        "unknown top-level field",
        {"rows": [ROW], "row": [ROW]},
        422,
        "unknown_field",
        "row",
        "unknown",
    ),
    ("body not an object", [ROW], 422, "invalid_body", None, "object"),
    (
        "request id with a space",
        {"rows": [ROW], "request_id": "a b"},
        422,
        "invalid_request_id",
        "request_id",
        "printable",
    ),
    (
        "request id too long",
        {"rows": [ROW], "request_id": "x" * 129},
        422,
        "invalid_request_id",
        "request_id",
        "128",
    ),
    (
        "request id a number",
        {"rows": [ROW], "request_id": 7},
        422,
        "invalid_request_id",
        "request_id",
        "number",
    ),
    (
        "too many rows",
        {"rows": [ROW] * (MAX_ROWS + 1)},
        413,
        "too_many_rows",
        "rows",
        f"at most {MAX_ROWS}",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "field", "word"),
    [case[1:] for case in PREDICT_CASES],
    ids=[case[0] for case in PREDICT_CASES],
)
def test_bad_predict_bodies(
    client: httpx.Client, body: Any, status: int, code: str, field: str | None, word: str
) -> None:
    error = error_of(client.post(PREDICT, json=body), status)
    assert (error["code"], error["field"]) == (code, field)
    assert word in error["message"]


RAW_CASES: list[tuple[str, bytes, str, int, str]] = [
    ("empty body", b"", "application/json", 400, "empty_body"),
    ("blank body", b"  \n", "application/json", 400, "empty_body"),
    ("malformed JSON", b'{"rows": [[1, 2]', "application/json", 400, "invalid_json"),
    ("NaN literal", b'{"rows": [[NaN]]}', "application/json", 400, "invalid_json"),
    ("not UTF-8", b'{"rows": "\xff"}', "application/json", 400, "invalid_json"),
    ("deep nesting", b"[" * 100_000, "application/json", 413, "body_too_large"),
    ("form body", b"rows=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [case[1:] for case in RAW_CASES],
    ids=[case[0] for case in RAW_CASES],
)
def test_bad_raw_bodies(
    client: httpx.Client, content: bytes, content_type: str, status: int, code: str
) -> None:
    response = client.post(PREDICT, content=content, headers={"content-type": content_type})
    assert error_of(response, status)["code"] == code


def test_deep_nesting_within_the_byte_limit(client: httpx.Client) -> None:
    response = client.post(PREDICT, content=b"[" * 30_000, headers={"content-type": "text/json"})
    assert error_of(response, 415)["code"] == "unsupported_media_type"
    response = client.post(PREDICT, content=b"[" * 30_000)
    assert error_of(response, 400)["code"] == "invalid_json"


def test_a_number_beyond_float64_is_named(client: httpx.Client) -> None:
    for literal in ("1e999", "1" + "0" * 400):
        row = ",".join([literal] + ["1"] * 29)
        body = f'{{"rows": [[{row}]]}}'.encode()
        error = error_of(client.post(PREDICT, content=body), 422)
        assert (error["code"], error["field"]) == ("wrong_type", "rows[0][0]")
        assert "64-bit float" in error["message"]


def test_row_limit_both_sides(client: httpx.Client) -> None:
    assert client.post(PREDICT, json={"rows": [ROW] * MAX_ROWS}).status_code == 200
    error = error_of(client.post(PREDICT, json={"rows": [ROW] * (MAX_ROWS + 1)}), 413)
    assert error["code"] == "too_many_rows"


def padded(size: int) -> bytes:
    body = json.dumps({"rows": [ROW]}).encode()
    return body + b" " * (size - len(body))


def test_byte_limit_both_sides(client: httpx.Client) -> None:
    assert client.post(PREDICT, content=padded(MAX_BYTES)).status_code == 200
    error = error_of(client.post(PREDICT, content=padded(MAX_BYTES + 1)), 413)
    assert error["code"] == "body_too_large"


def test_byte_limit_without_content_length(client: httpx.Client) -> None:
    """A chunked body declares no length: it is counted as it arrives."""

    def chunks(total: int) -> Iterator[bytes]:
        body = padded(total)
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    assert client.post(PREDICT, content=chunks(MAX_BYTES)).status_code == 200
    error = error_of(client.post(PREDICT, content=chunks(MAX_BYTES + 1)), 413)
    assert error["code"] == "body_too_large"


def test_unknown_model_route_and_method(client: httpx.Client) -> None:
    error = error_of(client.post("/v1/models/nope/predict", json={"rows": [ROW]}), 404)
    assert (error["code"], error["field"]) == ("unknown_model", "name")
    assert "'nope'" in error["message"]
    assert "cancer" in error["message"]
    assert error_of(client.post("/v1/models/nope/feedback", json={"labels": [1]}), 404)
    assert error_of(client.get("/v2/anything"), 404)["code"] == "not_found"
    assert error_of(client.get(PREDICT), 405)["code"] == "method_not_allowed"


FEEDBACK_CASES: list[tuple[str, Any, int, str, str | None]] = [
    ("labels missing", {"request_id": "r"}, 422, "missing_field", "labels"),
    ("labels empty", {"request_id": "r", "labels": []}, 422, "empty_labels", "labels"),
    ("labels not a list", {"request_id": "r", "labels": 1}, 422, "invalid_labels", "labels"),
    ("null label", {"request_id": "r", "labels": [1, None]}, 422, "wrong_type", "labels[1]"),
    ("object label", {"request_id": "r", "labels": [{"a": 1}]}, 422, "wrong_type", "labels[0]"),
    ("bare labels without request id", {"labels": [1, 0]}, 422, "invalid_labels", "labels[0]"),
    ("item without request id", {"labels": [{"label": 1}]}, 422, "invalid_labels", "labels[0]"),
    (
        "item with bad request id",
        {"labels": [{"request_id": "", "label": 1}]},
        422,
        "invalid_request_id",
        "labels[0].request_id",
    ),
    (
        "negative row",
        {"labels": [{"request_id": "r", "row": -1, "label": 1}]},
        422,
        "wrong_type",
        "labels[0].row",
    ),
    (
        "unknown field",
        {"request_id": "r", "labels": [1], "label": 1},
        422,
        "unknown_field",
        "label",
    ),
    (
        "too many labels",
        {"request_id": "r", "labels": [1] * (MAX_ROWS + 1)},
        413,
        "too_many_rows",
        "labels",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [case[1:] for case in FEEDBACK_CASES],
    ids=[case[0] for case in FEEDBACK_CASES],
)
def test_bad_feedback_bodies(
    client: httpx.Client, body: Any, status: int, code: str, field: str | None
) -> None:
    error = error_of(client.post(FEEDBACK, json=body), status)
    assert (error["code"], error["field"]) == (code, field)


def test_feedback_label_limit_both_sides(client: httpx.Client) -> None:
    ok = client.post(FEEDBACK, json={"request_id": "r", "labels": [1] * MAX_ROWS})
    assert ok.status_code == 202
    too_many = client.post(FEEDBACK, json={"request_id": "r", "labels": [1] * (MAX_ROWS + 1)})
    assert error_of(too_many, 413)["code"] == "too_many_rows"


def test_rejections_are_counted(client: httpx.Client) -> None:
    client.post(PREDICT, json={"rows": [with_value(0, "x")]})
    text = client.get("/metrics").text
    assert 'code="wrong_type",endpoint="/v1/models/{name}/predict"' in text
